/*
 * store: where records go — the SQLite store of breaktimed (and later
 * breaktime-sensor), written by one writer thread off the event loops.
 *
 * The module map (logger/):
 *   store.c      open, schema and forward migrations, close, stats
 *   writer.c     the bounded multi-producer queue and the writer thread:
 *                batches, transactions, retry with back-off
 *   batch.c      what one transaction holds (event rows, totals, presence)
 *                and the SQL that writes it
 *   usage.c      active minutes: attribution of records to (user, platform,
 *                local day, minute) and today's table for allowance checks
 *   retention.c  the daily purge, in small transactions
 *   accesslog.c  the optional Squid native access.log
 *   refusals.c   refusals without identity (407, 429, allow_clients), counted
 *                per client, reason and minute instead of queued one by one
 *   storeq.c     the presence, warn-acknowledgement and bindings SQL of the
 *                other processes (breaktimed's main thread, breaktime-sensor,
 *                `breaktime presence`, the web UI), on their own
 *                connections: storeq.h
 *
 * Threads: store_submit(), store_submit_presence(), store_submit_binding(), store_stats(),
 * store_reopen() and store_usage_today() may be called from any thread and
 * never wait on SQLite or on I/O (they take a mutex held for a copy). The
 * writer thread alone uses the sqlite3 handle once store_open() returned.
 *
 * Nothing is lost silently: a record is either written, deliberately not
 * kept because log_other says so (still counted as written), dropped because
 * the queue was full (counted in `dropped`, logged), or — only when the
 * database refused writes until store_close() gave up — counted in `lost`
 * and logged. Refusals that carry no identity (407, 429, allow_clients'
 * 403) take no queue slot: they are counted per client, reason and minute
 * into rows with a count (refusals.c), and written as those rows.
 */
#ifndef BREAKTIME_STORE_H
#define BREAKTIME_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "record.h"

struct sockaddr;

struct conf;
struct store;

struct store_stats {
	uint64_t submitted;
	uint64_t dropped;      /* queue full: counted, logged, never silent */
	uint64_t written;      /* committed (or, by log_other, deliberately not kept) */
	uint64_t lost;         /* the database refused writes until store_close() gave up */
	uint64_t queued;       /* records in the queue now */
	uint64_t queue_capacity;
	uint64_t held;         /* records taken by the writer, not yet committed */
	uint64_t transactions; /* committed batches */
	uint64_t retries;      /* failed transactions (locked, full, I/O error), retried */
	uint64_t busy_errors;  /* ... of which: the database was locked by another process */
	uint64_t full_errors;  /* ... of which: the database or the disk was full */
	uint64_t purged;       /* rows removed by retention */
	uint64_t access_log_lines;
	uint64_t writer_cpu_ms;  /* CPU time of the writer thread, at its last commit */
	uint64_t aggregated;     /* identity-less refusals counted into rows (not queued) */
	uint64_t aggregate_rows; /* ... the events rows that count them, committed */
	uint64_t aggregating;    /* ... counted, not yet taken by the writer */
	bool failing;          /* the last transaction failed; the writer is retrying */
};

/*
 * Tunables. store_open() uses the defaults (STORE_DEFAULT_*); tests and
 * benchmarks pass their own. Zero means the default everywhere.
 */
typedef int32_t store_utc_offset_fn(void *ctx, int64_t t);

struct store_options {
	bool verbose;              /* print each submitted record (-v) */
	/*
	 * The site's time zone, for local days and minutes: a pure, thread-safe
	 * function returning the UTC offset in seconds east at t (tz_offset_cb()
	 * with the policy's zone as ctx); ctx must outlive the store. NULL: the process's
	 * zone (TZ, else /etc/localtime) through localtime_r().
	 */
	store_utc_offset_fn *utc_offset;
	void *zone_ctx;
	unsigned queue_len;        /* records the queue holds */
	unsigned batch_records;    /* commit after this many records ... */
	unsigned batch_ms;         /* ... or this long after the first, whichever first */
	size_t hold_bytes;         /* what the writer holds while the database refuses writes */
	unsigned busy_timeout_ms;  /* SQLite busy handler, per attempt */
	unsigned open_timeout_ms;  /* store_open() waits this long for a locked database */
	unsigned close_timeout_ms; /* store_close() retries a refusing database this long */
	int64_t max_pages;         /* PRAGMA max_page_count (0: SQLite's default) */
	bool no_purge_timer;       /* no automatic daily purge (tests: store_purge_now) */
	unsigned refusal_keys;     /* identity-less refusals: (client, minute, ...) keys held */
};

#define STORE_DEFAULT_QUEUE_LEN 4096
#define STORE_DEFAULT_BATCH_RECORDS 8192
#define STORE_DEFAULT_BATCH_MS 250
#define STORE_DEFAULT_HOLD_BYTES (64u << 20)
#define STORE_DEFAULT_BUSY_TIMEOUT_MS 200
#define STORE_DEFAULT_OPEN_TIMEOUT_MS 10000
#define STORE_DEFAULT_CLOSE_TIMEOUT_MS 30000

/* Before the loops start. NULL on error (logged). */
struct store *store_open(const struct conf *c, bool verbose);
struct store *store_open_opts(const struct conf *c, const struct store_options *o);
/* Any thread; never blocks; copies *r. */
void store_submit(struct store *s, const struct record *r);
void store_stats(struct store *s, struct store_stats *out);
/* Reopen log files (SIGHUP/SIGUSR1 for logrotate). Any thread. */
void store_reopen(struct store *s);
/* Drain what is queued and close. After every worker has stopped. */
void store_close(struct store *s);

/* One human-readable line for a record (for -v and tests). */
int record_format(const struct record *r, char *buf, unsigned len);

/*
 * A change of "students present": state is "on", "off" or "auto" (override
 * cleared), or "detected" / "timetable" for changes nobody made by hand;
 * expires_us is when an override ends (0: until changed); cause says who or
 * what ("admin alice", "10.0.0.9 (students)"). Any thread; never blocks;
 * strings are copied and truncated.
 */
void store_submit_presence(struct store *s, int64_t at_us, const char *state,
			   int64_t expires_us, const char *cause, enum record_source source);

/* ---- bindings: who an intercepted device is (intercept mode) ---- */

/* How a bindings row came to be (bindings.how). */
enum store_binding_how {
	STORE_BINDING_SIGN_IN,  /* "sign-in": the person signed in on the sign-in page from the address */
	STORE_BINDING_MAC,      /* "mac": a new address of a device already bound (the same MAC) */
	STORE_BINDING_END,      /* "end": the address's binding ended early (another device has it) */
};

struct store_binding {
	struct sockaddr_any client;
	uint8_t mac[6];
	bool has_mac;                  /* the neighbour table had the client's link-layer address */
	char user[64];
	int64_t since_ms, until_ms;    /* wall clock, ms since 1970: [since, until) */
	enum store_binding_how how;
};

/*
 * Record a binding. The writer first ends (until_ms = this since_ms) the
 * rows of the same client address still in force at since_ms, then adds
 * this one: rows of one address never overlap, and the newest binding of
 * an address wins. An END row only ends them; it is kept as a row of no
 * length (until = since) that says when, and whose binding it was. Any
 * thread; never blocks; copied.
 */
void store_submit_binding(struct store *s, const struct store_binding *b);
const char *store_binding_how_name(enum store_binding_how how);
/* The enum value of a bindings.how text, or -1. */
int store_binding_how_parse(const char *s);

/* ---- usage, for enforcement (allowances) ---- */

/*
 * Active minutes of today, from memory (restored from the store at start,
 * kept up to date by the writer; a record is counted within about
 * batch_ms of its submission). Never touches SQLite.
 */
struct store_usage {
	unsigned day_minutes;      /* active personal minutes in the local day of `now` */
	unsigned since_minutes;    /* ... of those, the ones at or after `since` */
	uint64_t day_bytes;        /* bytes in those days' minutes (personal or not) */
	unsigned day_requests;     /* requests started that day */
};

/*
 * user: the record's user, or for an unidentified client its address as
 * text ("10.0.0.5"), as stored in usage_minutes.user. platform: one
 * platform, or NULL for all platforms together (each minute counted once).
 * "Personal" minutes are those used under a verdict that counts against an
 * allowance: organisational and sanctioned use never count. since: e.g.
 * the start of the current break (0: since_minutes is 0). Any thread;
 * takes a short read lock. Returns 0, or -1 when `now` is not the day the
 * table holds (a new day has just begun: everything is 0).
 */
int store_usage_today(struct store *s, const char *user, const char *platform, time_t now,
		      time_t since, struct store_usage *out);

/*
 * The key the store counts a person under: user when not empty, else the
 * client's address as text ("10.0.0.5"; an IPv4-mapped IPv6 address as
 * IPv4; "-" when unknown). Returns buf (at least 64 bytes) or user.
 */
const char *store_user_key(const char *user, const struct sockaddr *client, char *buf, size_t len);

/* ---- administration and tests ---- */

/* Run the retention purge now (in the writer, in small transactions). */
void store_purge_now(struct store *s);
/* Change PRAGMA max_page_count at the writer's next attempt (tests: a full database). */
void store_set_max_pages(struct store *s, int64_t pages);
/*
 * Wait until everything submitted before the call is committed (or timeout_ms
 * passed). Returns 0 when flushed, -1 on timeout. For tests and benchmarks,
 * never on an event loop.
 */
int store_flush(struct store *s, unsigned timeout_ms);

#endif
