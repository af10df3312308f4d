/*
 * proxy.h: the module map of breaktimed.
 *
 *   main.c      process: options, configuration, binding, privileges,
 *               signals, reload, graceful stop, readiness
 *   server.c    what all workers share: the current generation (the
 *               configuration with everything loaded from it, swapped in
 *               one step on reload), the connection counters, the
 *               per-client limits, the store
 *   worker.c    one thread and one event_base per worker: listeners,
 *               accept and its limits, resolver, upstream pool, commands
 *   conn.c      one client connection: accept, timers, client callbacks,
 *               conn_answer() (every local answer), conn_close() (the
 *               only exit); struct conn in conn.h, fields by owner
 *   request.c   read a request head, identify, decide, route it (own
 *               pages, refusals, CONNECT, or relay.c)
 *   relay.c     a forwarded exchange: open the origin, relay the request
 *               body and the response, finish (pool, next request, close)
 *   http_head.c the HTTP/1.x heads: the end of a head, request and status
 *               lines, the field section, the framing verdict
 *   http_field.c  single fields: tokens, lookup, hop-by-hop
 *   http_chunked.c  the chunked body decoder (the three http_ files: one
 *               header, http_head.h; no I/O, fuzzed)
 *   rewrite.c   the heads written to the origin and to the client
 *   conn_record.c  the one record of an exchange, tunnel progress records
 *   intercept.c connections the gateway's firewall redirected (intercept_listen):
 *               original destination, TLS decided by its ClientHello, HTTP
 *               by its Host, always sent to where the device connected
 *   upstream.c  resolve (the generation's hosts table, then evdns), check
 *               and connect to origins; the idle pool
 *   hosts.c     hosts files parsed once per generation, off the loops
 *   tunnel.c    CONNECT and websocket: ClientHello peek, byte splice with
 *               back-pressure, half-close, idle timeout
 *   pages.c     responses the proxy writes itself (errors, block page,
 *               sign-in challenge, status page) and the one HTML escaper
 *   pac.c       the proxy auto-configuration script (/proxy.pac, /wpad.dat)
 *   metrics.c   /metrics for Prometheus; counts decisions by verdict and reason
 *   enforce.c   the hook where every request and tunnel is classified and
 *               decided: catalog, identity, live presence, usage (the policy
 *               model plugs in here; also enforce.h)
 *   pages_enforce.c  the person's status page, the warn interstitial and
 *               its signed Continue link (enforce.h)
 *   acks.c      the warn acknowledgements: one per person, platform and
 *               day (acks.h)
 *   identity.c  who is behind a request: proxy sign-in (verifier threads,
 *               the answer cache, failure limits) and the device map
 *   signin.c    intercept mode's sign-in page (GET/POST /signin)
 *   bindings.c  client addresses and devices bound to people (sign-ins,
 *               a signed-in device's new addresses by its MAC address,
 *               recent explicit-proxy sessions) for intercepted devices;
 *               recorded in the store, restored from it at start
 *   neigh.c     a client's MAC address from the kernel's neighbour table
 *               (rtnetlink), asked by its own thread behind a cache
 *   bump.c      block pages over HTTPS: a denied or warned flow's TLS
 *               terminated with a leaf from the block CA (bump.h)
 *
 * Threads: every function here runs on the loop thread that owns the object
 * unless it says otherwise. Workers share only server.c's state (atomics,
 * mutex-protected tables and the refcounted generation), identity.c's
 * address table and job queue, bindings.c's address bindings, neigh.c's
 * cache and acks.c's warn acknowledgements (each behind its own mutex), and
 * the store. Besides the workers and the main thread: identity.c's
 * verifiers, bump.c's mint thread, neigh.c's thread (which talks to the
 * workers through worker_post) and the store's writer.
 * struct server has one writer, the main thread: it fills it before the
 * workers start, swaps the generation on reload (server_gen_set) and sets
 * `stopping`; workers only read it (the generation through
 * server_gen_get(), the counters as atomics).
 */
#ifndef BREAKTIME_PROXY_H
#define BREAKTIME_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "hostname.h"
#include "netaddr.h"
#include "record.h"
#include "store.h"
#include "verdict.h"

struct worker;
struct conn;

/* ---- server.c: shared by all workers ---- */

struct hosts;
struct identity_db;
struct bumper;

/*
 * One generation: a configuration and everything loaded from it, built by
 * the main thread at start and on every reload and swapped in as one, so
 * nothing pairs one reload's configuration with another's users, devices,
 * certificate or hosts. Immutable once published; refcounted (server.gen
 * holds one reference, every connection one from accept to close, every
 * worker one for its resolver); the last gen_unref() frees it all, on
 * whichever thread that is.
 */
struct generation {
	int refs;                       /* atomic */
	uint64_t number;                /* 1 at start, one more for every reload applied */
	struct conf *conf;
	struct identity_db *idb;        /* users and devices ([auth]) */
	SSL_CTX *ssl_ctx;               /* for tls_listen; NULL without it */
	struct hosts *hosts;            /* the hosts file(s), parsed */
	struct bumper *bumper;          /* block_ca: block pages over HTTPS (bump.h); NULL without */
};

struct server {
	struct generation *gen;         /* current; swapped under a mutex by server_gen_set() */
	struct store *store;
	unsigned n_workers;
	struct worker **workers;
	/* the proxy's own listening addresses (after port 0 was resolved) */
	struct sockaddr_any *listen;
	size_t n_listen;
	struct sockaddr_any *tls_listen;
	size_t n_tls_listen;
	struct sockaddr_any *intercept_listen;
	size_t n_intercept_listen;
	/* the resolvers use the system's servers (no dns_servers at start):
	 * the generations' hosts tables then include /etc/hosts */
	bool system_resolver;
	/* addresses of this host's interfaces, for wildcard listeners */
	struct sockaddr_any *local_addrs;
	size_t n_local_addrs;
	unsigned connections;           /* atomic: open client connections, all workers */
	uint64_t accepted;              /* atomic */
	uint64_t requests;              /* atomic */
	bool stopping;                  /* atomic */
	bool verbose;
	/* counters for /metrics (atomic) */
	uint64_t records_request, records_tunnel, records_blocked;
	uint64_t bytes_up, bytes_down;
	uint64_t status_class[6];       /* 1xx..5xx sent to clients; [0] other */
	uint64_t reloads, reload_failures;
	uint64_t auth_failures;
	/* block pages over HTTPS (bump.c) */
	uint64_t bump_pages[VERDICT_COUNT]; /* pages shown on terminated TLS, by verdict */
	uint64_t bump_continues;        /* Continue links followed there */
	uint64_t bump_handshakes;       /* terminated handshakes completed */
	uint64_t bump_failed;           /* terminations that failed (handshake, mint, timeout) */
	uint64_t bump_minted;           /* leaf certificates minted */
};

extern struct server server;

/* The current generation, with a reference the caller drops with gen_unref(). Any thread. */
struct generation *server_gen_get(void);
struct generation *gen_ref(struct generation *g);
void gen_unref(struct generation *g);
/*
 * Build a generation from a loaded configuration (main thread): the identity
 * database, the TLS context and the hosts table. Takes the caller's conf
 * reference. NULL when a file cannot be used (logged), the conf dropped.
 * prev: the running generation (NULL at start); its TLS context is kept
 * when tls_listen went from the file but its listeners still run.
 */
struct generation *server_gen_load(struct conf *c, const struct generation *prev);
/* Publish g as the current generation in one step, numbering it (main
 * thread). Takes the caller's reference; NULL at exit. */
void server_gen_set(struct generation *g);
/* The current generation's configuration or identity database, with a
 * reference (conf_unref / identity_db_unref). Any thread. A connection
 * takes the generation instead, so that the two always belong together. */
struct conf *server_conf_get(void);
struct identity_db *server_identity_get(void);
/* Build the TLS context for a configuration: NULL when it has no tls_listen
 * (ok stays true) or on error (logged, ok false). */
SSL_CTX *server_ssl_load(const struct conf *c, bool *ok);
/* Is this destination one of the proxy's own listeners? Any thread. */
bool server_is_self(const struct sockaddr *sa);
/* Is this address one of this host's own (any port; loopback, unspecified)? Any thread. */
bool server_is_local_host(const struct sockaddr *sa);
/* Per-client connection counts (max_connections_per_client). Any thread. */
bool server_client_acquire(const struct sockaddr *sa, unsigned max);
void server_client_release(const struct sockaddr *sa);
void server_collect_local_addrs(void);

/* ---- worker.c ---- */

struct worker *worker_create(unsigned id, const int *fds, size_t n_fds,
			     const int *tls_fds, size_t n_tls_fds,
			     const int *icpt_fds, size_t n_icpt_fds);
int worker_start(struct worker *w);
/* From the main thread: stop accepting and finish (grace in ms). */
void worker_post_stop(struct worker *w, unsigned grace_ms);
/* Any thread: 'P' pause accepting (max_connections reached); 'H' take the current
 * generation for the worker's resolver (its parsed hosts table, dns_timeout);
 * 'N' the neighbour table answered (conns waiting for it go on). */
void worker_post(struct worker *w, char cmd);
void worker_join(struct worker *w);
void worker_destroy(struct worker *w);

struct event_base *worker_base(struct worker *w);
/* bump.c's per-worker slot (bump.h). */
struct bump_wake;
struct bump_wake **worker_bump_wake(struct worker *w);
struct evdns_base *worker_dns(struct worker *w);
struct upstream_pool *worker_pool(struct worker *w);
struct identity_cache *worker_identity(struct worker *w);
/* The hosts table the worker's lookups answer from (its resolver's generation). */
const struct hosts *worker_hosts(struct worker *w);
/* Connection bookkeeping; worker_conn_closed may resume a paused accept. */
void worker_conn_opened(struct worker *w, struct conn *c);
void worker_conn_closed(struct worker *w, struct conn *c);
bool worker_stopping(struct worker *w);

/* ---- upstream.c: origins ---- */

struct upstream_req;
typedef void (*upstream_cb)(struct conn *c, struct bufferevent *bev, bool reused,
			    int status, const char *why);

/*
 * Find an idle pooled connection to host:port or resolve and connect. The
 * callback runs later (never from inside this call) with a connected
 * bufferevent, or with bev NULL, an HTTP status (403 destination refused,
 * 502 unresolvable or refused, 504 connect timeout) and a reason.
 * Returns a handle that upstream_cancel() detaches when the conn closes.
 */
struct upstream_req *upstream_open(struct conn *c, const char *host, enum host_kind kind,
				   uint16_t port, bool may_reuse);
void upstream_cancel(struct upstream_req *r);
/* Give an idle upstream connection back to the pool (or close it). */
void upstream_release(struct worker *w, const char *host, uint16_t port,
		      struct bufferevent *bev);
struct upstream_pool;
struct upstream_pool *upstream_pool_create(struct worker *w);
/* Close every idle connection (graceful stop) and free the pool. */
void upstream_pool_destroy(struct upstream_pool *p);
size_t upstream_pool_size(const struct upstream_pool *p);

/* ---- conn.c ---- */

/* gen: the generation the connection was accepted in (the conn takes its own
 * reference); ssl: NULL for plain HTTP, else the accepted HTTPS-proxy
 * connection's SSL, made from gen's TLS context (owned from here). */
struct conn *conn_create(struct worker *w, struct generation *gen, evutil_socket_t fd,
			 const struct sockaddr *peer, socklen_t peerlen, SSL *ssl);
void conn_close(struct conn *c, const char *reason);
/* Close if it is idle between requests (graceful stop). */
void conn_close_if_idle(struct conn *c);
void conn_upstream_ready(struct conn *c, struct bufferevent *bev, bool reused, int status,
			 const char *why);
struct worker *conn_worker(struct conn *c);
struct conf *conn_conf(struct conn *c);

/* ---- tunnel.c ---- */

/* Start splicing client <-> upstream (CONNECT after the peek, or a websocket). */
void tunnel_splice(struct conn *c);
/* After "200 Connection established": wait for the ClientHello, then decide and splice. */
void tunnel_peek(struct conn *c);

/* ---- pages.c ---- */

/* Append s as HTML text or attribute value: & < > " ' as references, UTF-8
 * unchanged, C0 controls (but tab, LF, CR) and DEL as U+FFFD. */
void pages_escape_html(struct evbuffer *b, const char *s);
/* The one way an HTML page leaves: status line, extra header lines (each
 * ending in CRLF, or NULL), the common headers, then body (emptied). */
void pages_send_html(struct evbuffer *out, int status, struct evbuffer *body, const char *extra,
		     bool keep_alive, bool head_only);

/* Write a complete response the proxy made itself to the client's output. */
void pages_error(struct evbuffer *out, const struct conf *conf, int status,
		 const char *title, const char *detail, bool keep_alive);
void pages_status(struct evbuffer *out, const struct conf *conf, bool keep_alive, bool head_only);
/* The block page (the [proxy] block_page template, or the built-in one). */
struct block_info {
	const char *host, *platform, *reason, *reason_text, *until, *allowance, *user;
};
void pages_block(struct evbuffer *out, const struct conf *conf, const struct block_info *bi,
		 bool keep_alive);
/* 407 with a Basic challenge. */
void pages_challenge(struct evbuffer *out, const struct conf *conf, bool keep_alive);
void pages_text(struct evbuffer *out, int status, const char *text, bool keep_alive, bool head_only);
const char *pages_reason(int status);

/* ---- pac.c ---- */

/* The PAC script. authority (the Host header, len bytes, or NULL) is never
 * used: the script names our first listener (or visible_hostname). */
void pages_pac(struct evbuffer *out, const struct conf *conf, const char *authority, size_t len,
	       bool keep_alive, bool head_only);

/* ---- metrics.c ---- */

/* The Prometheus text exposition of the counters, the store and the decisions. */
void pages_metrics(struct evbuffer *out, bool keep_alive, bool head_only);
/* Count a decision for /metrics (VERDICT_NONE: not counted). Any thread. */
void metrics_count_decision(enum verdict verdict, enum reason reason);

/* ---- enforce.c (what a connection asks besides the decision, and the
 * enforcement pages: enforce.h; the warn acknowledgements: acks.h) ---- */

struct decision_hook {
	enum verdict verdict;           /* VERDICT_NONE until a decision is made */
	enum reason reason;             /* policy or proxy reason; REASON_NONE: none */
	char platform[32];
	char category[16];
	int64_t until;                  /* unix time the verdict changes, 0 = never */
	int allowance_left;             /* minutes of today's allowance left, -1 unlimited */
};

/* The manual presence override (enum presence_override, until unix time; 0 none). Any thread. */
void enforce_presence_override(int override, int64_t until);
/* The newest detection of students in the store (unix time; 0 none). Any thread. */
void enforce_presence_detected(int64_t at);

/* Classify host (and sni when not NULL) and decide for this client now. */
void enforce_decide(struct conn *c, const char *host, const char *sni,
		    struct decision_hook *out);

#endif
