/*
 * record: what breaktimed (and later breaktime-sensor) hand to the store —
 * one completed request, tunnel or blocked attempt, by value.
 *
 * A record is plain data with fixed-size fields, so submitting it copies it
 * into the writer's queue with no allocation and no pointer into a
 * connection that may be freed. Strings are NUL-terminated and truncated to
 * fit. Credentials never appear in a record.
 */
#ifndef BREAKTIME_RECORD_H
#define BREAKTIME_RECORD_H

#include <stdint.h>

#include "hostname.h"
#include "netaddr.h"
#include "verdict.h"

enum record_kind {
	RECORD_REQUEST,        /* an HTTP request relayed (or answered by the proxy) */
	RECORD_TUNNEL,         /* a CONNECT tunnel, at close */
	RECORD_TUNNEL_PROGRESS,/* bytes an open tunnel moved since its previous progress
	                        * record (bytes_up/bytes_down are deltas; start_us is when
	                        * the interval began). Emitted on every wall-clock minute
	                        * while a tunnel to a listed platform moves bytes, and once
	                        * more for the remainder at close (any tunnel), so
	                        * the progress records of a tunnel sum to its totals. The
	                        * closing RECORD_TUNNEL carries the totals: count usage from
	                        * progress records, events from RECORD_TUNNEL. */
	RECORD_BLOCKED,        /* a request or CONNECT refused by policy */
};

enum record_source { RECORD_SOURCE_PROXY, RECORD_SOURCE_SENSOR };

/* How a flow reached breaktimed (events.arrival): its explicit listener, its
 * HTTPS-proxy listener, or redirected by the gateway's firewall. NONE: not
 * the proxy's (the sensor's records). */
enum record_arrival { RECORD_ARRIVAL_NONE, RECORD_ARRIVAL_PROXY, RECORD_ARRIVAL_HTTPS_PROXY,
		      RECORD_ARRIVAL_INTERCEPT };

struct record {
	enum record_kind kind;
	enum record_source source;
	enum record_arrival arrival;
	int64_t start_us;              /* wall clock, microseconds since the epoch */
	uint32_t duration_ms;
	struct sockaddr_any client;
	char method[24];
	char host[HOSTNAME_MAX + 1];   /* normalised request host or CONNECT host */
	uint16_t port;
	char sni[HOSTNAME_MAX + 1];    /* CONNECT: the ClientHello's server name, if any */
	char uri[256];                 /* for the optional access.log: scheme://host[:port]/path, truncated */
	char content_type[64];
	int status;                    /* HTTP status sent to the client (200 for a tunnel) */
	uint64_t bytes_up;             /* client -> origin, including heads */
	uint64_t bytes_down;           /* origin -> client, including heads */
	const char *close_reason;      /* static string: "done", "client-eof", "upstream-timeout", ... */
	/* identity and policy (filled by enforcement; empty until it runs) */
	char user[64];
	char group[32];
	char platform[32];
	char category[16];
	enum verdict verdict;          /* VERDICT_NONE: no decision */
	enum reason reason;            /* policy, proxy or sensor reason; REASON_NONE: none */
};

#endif
