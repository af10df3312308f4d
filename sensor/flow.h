/*
 * flow: the sensor's table of TCP connections and QUIC (UDP) flows, keyed
 * by (client, server) addresses and ports, with idle timeouts and a hard
 * limit on how many it holds.
 *
 * Memory is bounded whatever the input: at most max flows, each with at most
 * one reassembly buffer of FLOW_STREAM_MAX bytes (freed as soon as the name
 * is known or the flow gives up). When the table is full the least recently
 * seen flow is closed to make room. Every flow leaves through the close
 * callback, once, with the reason. Single-threaded.
 */
#ifndef BREAKTIME_SENSOR_FLOW_H
#define BREAKTIME_SENSOR_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "policy.h"
#include "hostname.h"
#include "lru.h"
#include "quic.h"
#include "reasm.h"

/* A ClientHello (with post-quantum key shares about 1.9 KB) or a request head. */
#define FLOW_STREAM_MAX 16384
/* At most this many flows hold a reassembly buffer at once (about 74 MB):
 * a flood of half-sent hellos cannot make the sensor use more. A flow that
 * finds none free goes without a name of its own (DNS may still name it). */
#define FLOW_MAX_STREAMS 4096

struct flow_key {
	uint8_t family;            /* AF_INET, AF_INET6 */
	uint8_t proto;             /* IPPROTO_TCP, IPPROTO_UDP */
	uint16_t cport, sport;
	uint8_t client[16], server[16];
};

struct flow {
	struct flow_key key;
	struct flow *hnext;                /* hash chain */
	struct lru_node lru;               /* its table's TCP or UDP list, by last packet */
	int64_t first_us, last_us;
	uint64_t bytes_up, bytes_down;     /* IP bytes client -> server, server -> client */
	uint32_t packets;
	bool saw_syn, fin;
	bool done;                         /* no more parsing: named or gave up */
	const char *protocol;              /* "tls", "http", "quic", or "dns" (named from DNS) */
	char name[HOSTNAME_MAX + 1];
	bool ech;
	const struct catalog_entry *entry; /* the name's platform, or NULL */
	enum reason flag;                  /* FLAG_DOH, FLAG_VPN (flags.h), or REASON_NONE */
	char user[64];                     /* from the device map, a binding or a session;
					    * empty: the address */
	uint8_t mac[6];                    /* the client's MAC address (its frames' source) */
	bool has_mac;
	const struct group *group;         /* the user's group, or the default group */
	bool detects;                      /* presence: its client marks students present
					    * (at creation, again at each minute boundary) */
	bool tcp_base_set;
	uint32_t tcp_base;                 /* sequence number of the first stream byte */
	struct reasm stream;               /* client -> server bytes until a name is found */
	bool quic_keys_set;
	struct quic_keys quic_keys;
	/* usage: bytes since the last progress record */
	int64_t prog_start_us;
	uint64_t prog_up, prog_down;
};

struct flow_table;
typedef void flow_close_fn(void *ctx, struct flow *f, const char *why);

struct flow_table *flow_table_create(size_t max, flow_close_fn *on_close, void *ctx);
/* Closes every flow (reason "exit") and frees the table. */
void flow_table_destroy(struct flow_table *t);
/* Close every flow now, with this reason. */
void flow_close_all(struct flow_table *t, const char *why);
/* The flow for key, or NULL. */
struct flow *flow_find(struct flow_table *t, const struct flow_key *key);
/* A new flow (the caller checked flow_find first); closes the oldest when full.
 * NULL when out of memory. */
struct flow *flow_create(struct flow_table *t, const struct flow_key *key, int64_t now_us);
/* The flow was seen at now_us (moves it to the end of the idle list). */
void flow_touch(struct flow_table *t, struct flow *f, int64_t now_us);
/* Close and free one flow now. */
void flow_close(struct flow_table *t, struct flow *f, const char *why);
/* Close the flows idle longer than their protocol's timeout. */
void flow_expire(struct flow_table *t, int64_t now_us, int64_t tcp_idle_us, int64_t udp_idle_us,
		 int64_t fin_idle_us);
/* Add client bytes at offset to f's reassembly buffer: 0, or -1 when no
 * buffer can be had (the FLOW_MAX_STREAMS budget, or memory). */
int flow_stream_add(struct flow_table *t, struct flow *f, uint64_t offset, const uint8_t *data,
		    size_t len);
/* Free f's reassembly buffer (the name is known, or will not be). */
void flow_stream_end(struct flow_table *t, struct flow *f);
size_t flow_count(const struct flow_table *t);
size_t flow_streams(const struct flow_table *t);
uint64_t flow_evicted(const struct flow_table *t);

#endif
