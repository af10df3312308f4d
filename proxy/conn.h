/*
 * conn.h: struct conn, shared by conn.c, tunnel.c and upstream.c only.
 * A conn owns both of its ends (client and upstream bufferevents), its
 * timer and its configuration reference; conn_close() frees them all and
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
};

struct conn {
	struct worker *w;
	struct conf *conf;              /* reference held from accept to close */
	struct identity_db *idb;        /* users and devices, same lifetime as conf */
	void *auth_pending;             /* identity.c job while CS_AUTH */
	struct bufferevent *client;
	struct bufferevent *up;
	struct upstream_req *pending;   /* resolve/connect in progress */
	struct event *timer;            /* header, idle or ClientHello timeout */
	struct splice_state *sp;        /* bulk tunnel moved by splice(2); client and up are NULL then */
	struct conn *next, *prev;       /* the worker's list */
	struct conn *snext, *sprev;     /* the worker's list of open social tunnels */
	struct sockaddr_any peer;
	enum conn_state state;
	unsigned requests;              /* requests begun on this connection */

	/* the current exchange (request + response, or tunnel) */
	int64_t start_us;
	uint64_t bytes_up, bytes_down;
	int status;
	char method[24];
	char host[HOSTNAME_MAX + 1];
	enum host_kind host_kind;
	uint16_t port;
	char sni[HOSTNAME_MAX + 1];
	char uri[256];
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
	unsigned counted : 1;           /* holds a per-client slot */
	unsigned recorded : 1;          /* the exchange's record was submitted */
	unsigned refused : 1;
	unsigned tls : 1;
	unsigned in_social : 1;         /* on the social tunnel list */
	unsigned enforced : 1;          /* closed by live enforcement */
	unsigned no_splice : 1;         /* tunnels: pipes too small, keep the bufferevents */
	unsigned dechunk : 1;           /* HTTP/1.0 client, chunked response: send the payload only */
	const char *closing_reason;     /* CS_CLOSING: why, for the close log line */               /* the client came through tls_listen (HTTPS proxy) */           /* not in allow_clients: answer 403 to its request */
	uint64_t last_activity_ms;      /* tunnels: for tunnel_idle_timeout */
	uint64_t prog_up, prog_down;    /* tunnels: bytes already in progress records */
	int64_t prog_start_us;          /* tunnels: start of the current progress interval */
};

/* worker.c: the client is not in allow_clients: read its request head within
 * REFUSED_WAIT_MS, answer 403 and close (silence: close without an answer). */
void conn_refuse(struct conn *c);
/* conn.c helpers used by tunnel.c */
void conn_record(struct conn *c, enum record_kind kind, const char *close_reason);
/* Tunnels: submit a progress record for the bytes moved since the last one. */
void conn_tunnel_progress(struct conn *c);
void conn_reply_error(struct conn *c, int status, const char *detail, const char *reason);
uint64_t conn_now_ms(void);
/* enforce.c: the person's own status page; the warn interstitial and its continue link. */
void enforce_status_page(struct conn *c, struct evbuffer *out, bool keep_alive, bool head_only);
bool enforce_warn_acked(struct conn *c, const char *platform);
void enforce_warn_page(struct conn *c, struct evbuffer *out, bool is_connect, bool keep_alive);
/* Returns the status sent (302 to the page, or 400). */
int enforce_continue(struct conn *c, struct evbuffer *out, const char *query, size_t len,
		     bool keep_alive);
/* enforce.c: "today at 12:30" in the site's time zone; "" when never. */
void enforce_format_until(const struct conn *c, int64_t until, char *buf, size_t len);
/* worker.c: open tunnels to social platforms, re-decided every minute */
void worker_social_add(struct worker *w, struct conn *c);
void worker_social_remove(struct worker *w, struct conn *c);
/* conn.c: decide again for an open tunnel; closes it when no longer allowed. */
void conn_enforce_tick(struct conn *c);
/* tunnel.c: free a tunnel's splice state (closes both sockets and the pipes). */
void tunnel_splice_free(struct conn *c);
/* tunnel.c: the ClientHello did not come within sni_timeout */
void tunnel_peek_timeout(struct conn *c);
size_t conn_high_watermark(const struct conn *c);
/* From a read callback of a plain-socket bufferevent: read what else the
 * socket holds (up to room bytes) into its input. Returns bytes read. */
size_t conn_read_more(struct bufferevent *bev, size_t room);

#endif
