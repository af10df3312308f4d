/*
 * ipfrag: bounded reassembly of IPv4 and IPv6 fragments (a fragmented QUIC
 * Initial, a DNS answer too large for one packet).
 *
 * A small table keyed by (family, source, destination, identification and,
 * for IPv4, protocol), with hard limits: IPFRAG_MAX_ENTRIES datagrams in
 * progress, IPFRAG_MAX_BYTES of buffers in all (the oldest datagram is
 * dropped to make room), IPFRAG_MAX_PIECES fragments per datagram, 65,535
 * bytes per datagram, and IPFRAG_TIMEOUT_US of capture time from a
 * datagram's first fragment. Overlapping fragments drop the datagram
 * (RFC 5722: an overlap is an attack or a fault, never resolved by picking
 * one side); an exact repeat (a retransmission: the same offset, length and
 * bytes) is ignored. A fragment that was not captured whole (snaplen) is
 * not used: its datagram never completes and times out.
 *
 * Single-threaded; the reassembled payload lives until the next call.
 */
#ifndef BREAKTIME_SENSOR_IPFRAG_H
#define BREAKTIME_SENSOR_IPFRAG_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"

#define IPFRAG_MAX_ENTRIES 256
#define IPFRAG_MAX_BYTES (1 << 20)
#define IPFRAG_MAX_PIECES 64
#define IPFRAG_MAX_DATAGRAM 65535
#define IPFRAG_TIMEOUT_US (30 * 1000000LL)

struct ipfrag_stats {
	uint64_t reassembled;   /* datagrams completed */
	uint64_t dropped;       /* fragments refused or datagrams dropped: overlaps, limits */
	uint64_t expired;       /* datagrams that timed out incomplete */
	uint64_t evicted;       /* datagrams dropped to make room */
};

struct ipfrag;

struct ipfrag *ipfrag_create(void);
void ipfrag_destroy(struct ipfrag *t);
/*
 * One fragment as decode_frame() reported it (DECODE_FRAGMENT: p->frag_*,
 * the payload is the fragment's data). 1: the datagram is complete, *out
 * and *out_len are its payload (the transport header onwards; IPv6: from
 * the header the offset-0 fragment's next header names) and p->proto and
 * p->ip_len (the fragments' IP bytes on the wire) are set; *out lives until
 * the next call. 0: kept (or an exact repeat). -1: not used (truncated,
 * malformed, an overlap or a limit).
 */
int ipfrag_add(struct ipfrag *t, struct packet *p, int64_t ts_us, const uint8_t **out,
	       size_t *out_len);
void ipfrag_get_stats(const struct ipfrag *t, struct ipfrag_stats *out);
/* Datagrams in progress, and the bytes of their buffers. */
size_t ipfrag_count(const struct ipfrag *t);
size_t ipfrag_bytes(const struct ipfrag *t);

#endif
