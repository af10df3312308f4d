/*
 * sensor: what breaktime-sensor does with each captured frame — decode it,
 * find the names in it (DNS, HTTP Host, TLS SNI, QUIC Initial SNI), keep the
 * flow table, classify names with the configuration's catalog, and report:
 * JSON lines for troubleshooting, or records (source = sensor, reason
 * "bypass") and presence detections to the store.
 *
 * The module map (sensor/):
 *   main.c     options, capture (pcap files and live), privileges, signals
 *   sensor.c   this: per-frame logic and output
 *   decode.c   link/IP/transport headers        dns.c   DNS and the address map
 *   flow.c     the flow table                    reasm.c bounded stream reassembly
 *   quic.c     QUIC Initial decryption           bypass.c records and presence
 *   ipfrag.c   IPv4/IPv6 fragment reassembly     dnstcp.c DNS over TCP streams
 *   flags.c    DoH resolvers and VPN ports       sessions.c the proxy's recent sign-ins
 *   signins.c  intercept mode's bindings (address and MAC address -> person)
 *   pcapfile.c the records of a pcap file (-r), read from its own buffer
 *
 * Single-threaded: one sensor per capture loop. Time is the capture's
 * (packet timestamps), so a file gives the same output on every run.
 */
#ifndef BREAKTIME_SENSOR_SENSOR_H
#define BREAKTIME_SENSOR_SENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct conf;
struct store;

struct sensor_options {
	size_t max_flows;            /* 0: SENSOR_DEFAULT_MAX_FLOWS */
	size_t dns_entries;          /* 0: DNS_MAP_DEFAULT */
	unsigned tcp_idle_s;         /* 0: 300 */
	unsigned udp_idle_s;         /* 0: 60 */
	FILE *json;                  /* print names here (and write nothing to the store);
				      * never flushed here: the caller flushes */
	struct store *store;         /* NULL: no records */
};

#define SENSOR_DEFAULT_MAX_FLOWS 65536

struct sensor_stats {
	uint64_t frames, decoded, truncated, unsupported, fragments, malformed;
	uint64_t reassembled;        /* datagrams put together from fragments */
	uint64_t skipped_proxy;      /* traffic to or from the proxy's own addresses */
	uint64_t names, dns_queries, dns_answers;
	uint64_t quic_initials, quic_failed;
	uint64_t flows, evicted, records, presence;
};

struct sensor;

/* conf: a reference is taken. NULL when out of memory. */
struct sensor *sensor_create(struct conf *conf, const struct sensor_options *o);
/* The end of the capture: closes every open flow, submitting its records.
 * Unlike the capture loop it waits for the store's writer whenever the
 * queue is half full, so a burst of open flows (more than the queue holds)
 * is not dropped. */
void sensor_finish(struct sensor *s);
/* Closes every flow still open (sensor_finish) and frees. */
void sensor_destroy(struct sensor *s);
/* One captured frame: linktype as pcap_datalink(), ts in microseconds. */
void sensor_frame(struct sensor *s, int linktype, int64_t ts_us, const uint8_t *frame,
		  size_t caplen);
/* Time passes without packets (live capture): expire idle flows. */
void sensor_tick(struct sensor *s, int64_t now_us);
void sensor_get_stats(const struct sensor *s, struct sensor_stats *out);

#endif
