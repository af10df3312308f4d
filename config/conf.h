/*
 * conf: the loaded configuration — one validated, immutable, refcounted
 * model of breaktime.conf that breaktimed, breaktime-sensor and the
 * breaktime command all load the same way.
 *
 * Lifetime: conf_load() returns a conf with one reference. Every holder
 * (a worker, a connection) takes its own with conf_ref() and drops it with
 * conf_unref(); the last unref frees it. Nothing in a struct conf changes
 * after conf_load() returns, so any thread may read it without locks.
 *
 * Errors: every problem is reported as "file:line: what is wrong" in a
 * struct conf_errors; a file with any error yields no conf at all (nothing
 * is half-applied).
 *
 * The module map (config/):
 *   conf.c         loading with inih, key dispatch, errors, refcounts
 *   conf_proxy.c   [proxy] and [store];   conf_web.c  [web]
 *   policy_load.c  [site], [schedule], [presence], [group NAME], [auth],
 *                  [catalog] -> one immutable struct policy (policy.h)
 *   policy.c       policy_decide() and the policy's accessors
 *   expr.c         the `social =` rule language (expr.h)
 *   catalog.c      host name -> platform and category (catalog.h)
 *   schedule.c     [schedule] windows, closed dates (schedule.h)
 *   presence.c     "students present" from override, timetable, detection
 *   tz.c           time zones, and the site's wall clock every component
 *                  reads its local day and time from (tz.h)
 */
#ifndef BREAKTIME_CONF_H
#define BREAKTIME_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct conf_errors {
	char **msgs;
	size_t n, cap;
};

void conf_errors_add(struct conf_errors *e, const char *file, unsigned line,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void conf_errors_print(const struct conf_errors *e, void *stream /* FILE * */);
void conf_errors_free(struct conf_errors *e);

/* [proxy]: read by proxy/; defaults in conf_proxy.c and doc/breaktime.conf.5 */
struct conf_proxy {
	struct sockaddr_any *listen;
	size_t n_listen;
	unsigned workers;
	struct cidr *allow_clients;
	size_t n_allow_clients;
	uint16_t *connect_ports;
	size_t n_connect_ports;
	unsigned header_timeout_ms;
	unsigned idle_timeout_ms;
	unsigned upstream_timeout_ms;
	unsigned connect_timeout_ms;
	unsigned tunnel_idle_timeout_ms;
	unsigned sni_timeout_ms;
	unsigned pool_idle_timeout_ms;
	unsigned shutdown_grace_ms;
	unsigned dns_timeout_ms;
	unsigned max_connections;
	unsigned max_connections_per_client;
	unsigned pool_per_origin;
	size_t max_header_bytes;
	size_t max_uri_bytes;
	size_t tunnel_buffer_bytes;   /* per direction, back-pressure watermark */
	bool allow_loopback_upstream;
	char **dns_servers;           /* "ADDR" or "ADDR:PORT" / "[ADDR]:PORT" */
	size_t n_dns_servers;
	char *hosts_file;             /* NULL: none beyond /etc/hosts */
	char *visible_hostname;       /* in Via and on the proxy's own pages */
	char *user;                   /* drop privileges to this user after bind; NULL: stay */
	struct sockaddr_any *tls_listen;  /* HTTPS proxy listeners (credentials never in clear) */
	size_t n_tls_listen;
	char *tls_certificate;        /* PEM chain for tls_listen */
	char *tls_key;                /* PEM private key for tls_listen */
	/* the block-page CA (config/blockca.h): denied or warned TLS flows are
	 * terminated with a leaf it signs, to show the page; both or neither */
	char *block_ca;               /* PEM certificate; NULL: none (refuse as before) */
	char *block_ca_key;           /* its PEM key, mode 0600/0400 */
	/* transparent listeners: connections redirected by the gateway's
	 * firewall (TPROXY, or NAT REDIRECT), decided by Host or SNI and sent
	 * to their original destination */
	struct sockaddr_any *intercept_listen;
	size_t n_intercept_listen;
	bool intercept_no_sni_block;  /* intercepted TLS without a server name: block (else allow) */
	struct cidr *metrics_allow;   /* who may read /metrics (default loopback) */
	size_t n_metrics_allow;
	char *block_page;             /* HTML template for blocked requests (file contents), NULL: built in */
};

enum log_other { LOG_OTHER_NONE, LOG_OTHER_COUNTS, LOG_OTHER_HOSTS };

/* [store]: read by logger/ */
struct conf_store {
	char *database;
	unsigned retention_days;
	char *access_log;             /* NULL: none */
	enum log_other log_other;
	size_t active_bytes;
	/* the writer's tuning (0: the store's defaults, logger/store.h) */
	unsigned queue;               /* records the queue holds */
	unsigned batch;               /* commit after this many records ... */
	unsigned batch_interval_ms;   /* ... or this long after the first */
	size_t hold;                  /* held in memory while the database refuses writes */
	uint64_t max_size;            /* the database file's limit in bytes (0: none) */
};

/* [web]: read by `breaktime web` (reports/web.c) */
struct conf_web {
	struct sockaddr_any listen;   /* one HTTPS listener, default 127.0.0.1:8443 */
	char *certificate;            /* PEM chain; NULL: not set (the web UI refuses to start) */
	char *private_key;            /* PEM key; NULL: not set */
	unsigned session_timeout_ms;  /* a session's life from login, default 8h */
	unsigned login_attempts;      /* failed logins a minute per address before 429 */
	unsigned max_connections;     /* open connections at once, default 64 */
	unsigned max_connections_per_client; /* of those, from one address (IPv6: /64), default 16 */
	unsigned idle_timeout_ms;     /* a connection's silence, and a request's arrival, default 30s */
};

/* [sensor]: read by breaktime-sensor */
struct conf_sensor {
	unsigned session_window_s;    /* attribute by the proxy's sessions this recent (0: off), default 10m */
};

struct policy; /* config/policy.h: the policy model (issue: policy model) */

struct conf {
	int refs;                     /* atomic */
	char *path;
	struct conf_proxy proxy;
	struct conf_store store;
	struct conf_web web;
	struct conf_sensor sensor;
	struct policy *policy;        /* config/policy.h; always set in a loaded conf */
	/* Problems that do not stop the file loading ("file:line: ..."): the
	 * proxy logs them, `breaktime check` prints them. */
	struct conf_errors warnings;
};

/* Load and validate; NULL with errors filled on any problem. */
struct conf *conf_load(const char *path, struct conf_errors *errs);
/* The same from memory (tests, fuzzing); name is used in messages. */
struct conf *conf_load_string(const char *text, const char *name, struct conf_errors *errs);

/*
 * CONF_NO_FILES: read nothing but the text itself (for fuzzing): the time
 * zone is UTC, the platform list, [catalog] lists and `members = file:`
 * are not read (so the catalog is empty), everything else is checked.
 */
#define CONF_NO_FILES 1u
struct conf *conf_load_string_flags(const char *text, const char *name, unsigned flags,
				    struct conf_errors *errs);

struct conf *conf_ref(struct conf *c);
void conf_unref(struct conf *c);

/* Value parsers shared by the section handlers (0 or -1). */
int conf_parse_duration_ms(const char *s, unsigned *ms);   /* "30s", "10m", "250ms", "2h", "1d" */
int conf_parse_size(const char *s, size_t *bytes);         /* "64k", "2KiB", "1M", "4096" */
int conf_parse_bool(const char *s, bool *b);               /* yes/no true/false on/off 1/0 */
int conf_parse_uint(const char *s, unsigned long max, unsigned long *v);

/* Split a comma/space separated list in place; returns the count, fills at most max. */
size_t conf_split_list(char *s, char **items, size_t max);

/* For "did you mean": the closest of candidates within a small edit distance, or NULL. */
const char *conf_suggest(const char *word, const char *const *candidates);

#endif
