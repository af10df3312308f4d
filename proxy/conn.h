/*
 * conn.h: struct conn, the one client connection, shared by the rooms of
 * the proxy that handle it (conn.c, request.c, relay.c, rewrite.c,
 * conn_record.c, tunnel.c, upstream.c) and, for the fields marked so, by
 * worker.c, identity.c and enforce.c. Each group of fields below names the
 * file that writes it; the others only read it.
 *
 * A conn owns both of its ends (client and upstream bufferevents), its
 * timer and its generation reference; conn_close() frees them all and
 * submits the final record. A callback returns right after calling it.
 *
 * Memory matters: an idle tunnel is a conn plus two bufferevents, so the
 * per-request parse state lives on the stack, not here.
 */
#ifndef BREAKTIME_CONN_H
#define BREAKTIME_CONN_H

#include "http_head.h"
#include "proxy.h"
#include "sni.h"

enum conn_state {
	CS_HEAD,        /* waiting for (the rest of) a request head */
	CS_UPSTREAM,    /* resolving or connecting to the origin */
	CS_FORWARD,     /* request forwarded; relaying bodies and the response */
	CS_PEEK,        /* CONNECT: 200 sent, waiting for the ClientHello */
	CS_TUNNEL,      /* splicing bytes both ways (CONNECT or websocket) */
	CS_CLOSING,     /* flushing the last bytes to the client, then close */
	CS_AUTH,        /* the request head waits in the input for a password check */
	CS_BUMP,        /* bump.c: a denied flow's ClientHello, leaf and TLS handshake */
	CS_NEIGH,       /* intercepted: reads nothing until the neighbour table has answered
			 * about its client (intercept.c), at most INTERCEPT_NEIGH_WAIT_MS */
};

struct conn {
	/* conn.c: set at accept, freed by conn_close() */
	struct worker *w;
	struct generation *gen;         /* reference held from accept to close */
	struct conf *conf;              /* gen->conf, not a reference of its own */
	struct identity_db *idb;        /* gen->idb (users and devices), likewise */
	struct bufferevent *client;
	struct bufferevent *up;         /* relay.c and tunnel.c set it */
	struct upstream_req *pending;   /* relay.c: resolve/connect in progress */
	struct event *timer;            /* header, idle or ClientHello timeout */
	struct splice_state *sp;        /* tunnel.c: bulk tunnel moved by splice(2); client and up are NULL then */
	struct bump *bump;              /* bump.c: a denied flow whose TLS the proxy terminates (its pages) */
	struct sockaddr_any peer;
	enum conn_state state;
	unsigned requests;              /* request.c: requests begun on this connection */

	/* identity.c: its job while CS_AUTH */
	void *auth_pending;
	/* worker.c: its lists and its per-client slot */
	struct conn *next, *prev;       /* the worker's list */
	struct conn *snext, *sprev;     /* the worker's list of open social tunnels */
	struct conn *nnext, *nprev;     /* the worker's list of CS_NEIGH conns */

	/* the current exchange (request + response, or tunnel): request.c
	 * writes the request's fields and the decision (enforce.c also sets
	 * `group` when it decides), relay.c the response's, tunnel.c the
	 * tunnel's; reset by conn.c between requests */
	int64_t start_us;
	uint64_t bytes_up, bytes_down;
	int status;
	char method[24];
	char host[HOSTNAME_MAX + 1];
	enum host_kind host_kind;
	uint16_t port;
	char sni[HOSTNAME_MAX + 1];
	char uri[256];
	char dst[46];                   /* intercept.c: the original destination's address (text) */
	enum host_kind dst_kind;
	uint16_t dst_port;
	struct decision_hook decision;
	char user[64];                  /* identified person, "" when unidentified */
	char group[32];
	struct evbuffer *replay;        /* upstream request head, until the response starts */

	enum http_body req_body;
	uint64_t req_remaining;
	struct chunk_decoder req_chunk;
	enum http_body resp_body;
	uint64_t resp_remaining;
	struct chunk_decoder resp_chunk;
	struct http_head_scan head_scan; /* client input searched so far for the end of a head */
	struct http_head_scan resp_scan; /* the same for the origin's input */

	unsigned head_started : 1;      /* first byte of a head seen: header_timeout runs */
	unsigned is_connect : 1;
	unsigned is_head : 1;
	unsigned client_v10 : 1;
	unsigned req_keep_alive : 1;
	unsigned ws_upgrade : 1;
	unsigned req_done : 1;
	unsigned resp_head_done : 1;
	unsigned resp_done : 1;
	unsigned up_keep_alive : 1;     /* the origin allows reuse after this response */
	unsigned client_keep : 1;       /* keep the client connection after this response */
	unsigned up_reused : 1;
	unsigned retried : 1;
	unsigned client_eof : 1;
	unsigned up_eof : 1;
	unsigned client_shut : 1;       /* we shut down our write side to the client */
	unsigned up_shut : 1;
	unsigned counted : 1;           /* worker.c: holds a per-client slot */
	unsigned recorded : 1;          /* the exchange's record was submitted */
	unsigned refused : 1;           /* not in allow_clients: answer 403 to its request */
	unsigned tls : 1;               /* the client came through tls_listen (HTTPS proxy) */
	unsigned in_social : 1;         /* worker.c: on the social tunnel list */
	unsigned in_neigh : 1;          /* worker.c: on the list of CS_NEIGH conns */
	unsigned enforced : 1;          /* closed by live enforcement */
	unsigned no_splice : 1;         /* tunnels: pipes too small, keep the bufferevents */
	unsigned dechunk : 1;           /* HTTP/1.0 client, chunked response: send the payload only */
	unsigned intercept : 1;         /* intercept.c: redirected by the firewall, to dst:port */
	unsigned bound : 1;             /* request.c: its person was noted in bindings.c */
	const char *closing_reason;     /* CS_CLOSING: why, for the close log line */
	uint64_t last_activity_ms;      /* tunnels: for tunnel_idle_timeout */
	uint64_t prog_up, prog_down;    /* tunnels: bytes already in progress records */
	int64_t prog_start_us;          /* tunnels: start of the current progress interval */
};

/* ---- conn.c ---- */

/* For worker.c: the client is not in allow_clients: read its request head within
 * REFUSED_WAIT_MS, answer 403 and close (silence: close without an answer). */
void conn_refuse(struct conn *c);
/* Monotonic milliseconds (timeouts); wall-clock microseconds (records). */
uint64_t conn_now_ms(void);
int64_t conn_wall_us(void);
void conn_timer_start(struct conn *c, unsigned ms);
/* Between requests: reset the exchange and read the next head, once the
 * client has read what is queued for it (the output watermark). */
void conn_wait_for_head(struct conn *c);
/* bump.c: c->client is now the terminated TLS over the client: conn.c's
 * callbacks and timeouts on it, and read the first request head. */
void conn_client_attach(struct conn *c);
/* Unread client input is bounded by one head's worth beyond max_header_bytes
 * (a head too large is still seen as too large; a pipelined request waits). */
void conn_head_watermark(struct conn *c);
/* Flush what is queued for the client, then close (bounded wait). */
void conn_close_after_flush(struct conn *c, const char *reason);
/*
 * The proxy answered the request itself: what was appended to the client's
 * output since `before` (its length then) is the answer. Count it, record
 * the exchange as kind with reason, then read the next request (keep) or
 * flush and close. The caller set c->status and drained the request head.
 */
void conn_answer(struct conn *c, size_t before, enum record_kind kind, const char *reason,
		 bool keep);
/* An error page (status, detail for people), recorded with reason; then close. */
void conn_reply_error(struct conn *c, int status, const char *detail, const char *reason);

/* ---- conn_record.c ---- */

/* Submit the exchange's record (once; nothing before its head was read). */
void conn_record(struct conn *c, enum record_kind kind, const char *close_reason);
/* Tunnels: submit a progress record for the bytes moved since the last one. */
void conn_tunnel_progress(struct conn *c);
/* c->uri for the record of a forwarded request or CONNECT. */
void conn_record_uri(struct conn *c, const struct http_request *req);

/* ---- used by conn.c, owned elsewhere ---- */

/* worker.c: open tunnels to social platforms, re-decided every minute */
void worker_social_add(struct worker *w, struct conn *c);
void worker_social_remove(struct worker *w, struct conn *c);
/* worker.c: intercepted conns waiting for the neighbour table (CS_NEIGH);
 * the neighbour thread's 'N' command looks at them again */
void worker_neigh_add(struct worker *w, struct conn *c);
void worker_neigh_remove(struct worker *w, struct conn *c);
/* conn.c: decide again for an open tunnel; closes it when no longer allowed. */
void conn_enforce_tick(struct conn *c);
/* tunnel.c: free a tunnel's splice state (closes both sockets and the pipes). */
void tunnel_splice_free(struct conn *c);
/* tunnel.c: is a whole ClientHello (or what cannot become one) at the front
 * of in? Then true, with the parser's result in *r (SNI_MAX_HELLO bounds it;
 * the bytes stay in in). The one reading of a ClientHello, CONNECT's and
 * intercepted TLS's. */
bool tunnel_read_hello(struct evbuffer *in, struct sni_info *info, enum sni_result *r);
/* tunnel.c: the ClientHello did not come within sni_timeout */
void tunnel_peek_timeout(struct conn *c);
size_t conn_high_watermark(const struct conn *c);
/* From a read callback of a plain-socket bufferevent: read what else the
 * socket holds (up to room bytes) into its input. Returns bytes read. */
size_t conn_read_more(struct bufferevent *bev, size_t room);

#endif
