/*
 * dnstcp: DNS over TCP (RFC 7766) as a byte stream — each message has a
 * two-byte length first, a message may be split over several segments and
 * one segment may carry several messages (pipelined queries, or answers
 * sent back to back). One stream per direction of a connection to port 53.
 *
 * Bounded: at most DNSTCP_STREAMS streams (the least recently used one is
 * dropped to make room), each holding at most one message of at most
 * DNSTCP_MSG_MAX bytes; a longer message is skipped by its length (its
 * names are not read), and the stream stays in step after it. Segments are
 * taken in order: a retransmitted segment's old bytes are ignored; after a
 * gap (a lost or reordered segment) the stream starts again at the next
 * segment, as though a message began there (a wrong guess fails to parse).
 * Single-threaded.
 */
#ifndef BREAKTIME_SENSOR_DNSTCP_H
#define BREAKTIME_SENSOR_DNSTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"

#define DNSTCP_STREAMS 1024
#define DNSTCP_MSG_MAX 16384

struct dnstcp;
/* A whole message (without its length), from the client or to it. */
typedef void dnstcp_msg_fn(void *ctx, const struct flow_key *k, bool from_client,
			   const uint8_t *msg, size_t len);

struct dnstcp *dnstcp_create(dnstcp_msg_fn *on_msg, void *ctx);
void dnstcp_destroy(struct dnstcp *d);
/* One TCP segment of the connection k (k's client and server as the flow
 * table's), in the direction from_client; flags as struct packet's. */
void dnstcp_segment(struct dnstcp *d, const struct flow_key *k, bool from_client, uint8_t flags,
		    uint32_t seq, const uint8_t *data, size_t len);
/* Streams held now, and bytes they hold (tests). */
size_t dnstcp_streams(const struct dnstcp *d);
size_t dnstcp_bytes(const struct dnstcp *d);

#endif
