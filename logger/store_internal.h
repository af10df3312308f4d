/*
 * store_internal: what the files of logger/ share — the struct store, the
 * queue item, and each module's functions. Not for other components: they
 * use store.h.
 *
 * Thread contract, once store_open() has returned:
 *   - any thread: writer_submit(), usage_today_query(), the atomics in
 *     struct store_counters, the flags behind store_reopen() and friends;
 *   - the writer thread only: struct writer_db (the sqlite3 handle and its
 *     statements), struct batch, the access log, retention state.
 */
#ifndef BREAKTIME_STORE_INTERNAL_H
#define BREAKTIME_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "store.h"
#include "tz.h"

/* ---- local time (store.c) ---- */

/* Local day (days since 1970-01-01 in the site's zone) and minute of day (0..1439). */
void store_local(const struct store *s, int64_t t_sec, int64_t *day, int *minute);
int64_t store_wall_ms(void);
/* Seconds of a time in milliseconds, rounded down (also before 1970). */
static inline int64_t store_sec(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}
int64_t store_mono_ms(void);

/* Copy a string into a fixed field, truncated and NUL-terminated (the hot
 * path's snprintf("%s") without its cost). */
static inline void store_copy(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* ---- the queue item ---- */

enum item_type { ITEM_RECORD, ITEM_PRESENCE, ITEM_BINDING };

struct presence_item {
	int64_t at_us;
	int64_t expires_us;
	char state[16];
	char cause[128];
	enum record_source source;
};

struct item {
	enum item_type type;
	union {
		struct record rec;
		struct presence_item pres;
		struct store_binding bind;
	} u;
};

/* ---- usage (usage.c) ---- */

enum usage_purpose { PURPOSE_PERSONAL, PURPOSE_ORGANISATIONAL, PURPOSE_SANCTIONED };
const char *usage_purpose_name(enum usage_purpose p);
int usage_purpose_parse(const char *s);

#define USAGE_MINUTES 1440
#define USAGE_WORDS ((USAGE_MINUTES + 63) / 64)

/* Today's active minutes per (user, platform), shared with enforcement. */
struct usage_today;
struct usage_today *usage_today_create(uint64_t active_bytes);
void usage_today_destroy(struct usage_today *t);
/* Writer (and store_open): the day the table holds; a different day empties it. */
void usage_today_set_day(struct usage_today *t, int64_t day);
int64_t usage_today_day(struct usage_today *t);
/*
 * Add bytes/requests to (user, platform, minute) of the table's day and say
 * whether the minute is now active. Writer (and the restore in store_open).
 */
bool usage_today_add(struct usage_today *t, const char *user, const char *platform,
		     enum usage_purpose purpose, int minute, uint64_t bytes, unsigned requests,
		     bool active);
/* Any thread. minute_from: count since_minutes from this minute of the day (-1: none). */
int usage_today_query(struct usage_today *t, const char *user, const char *platform, int64_t day,
		      int minute_from, struct store_usage *out);

/* A day and an hour: longer intervals fold their rest into the last piece. */
#define USAGE_MAX_PIECES 1500

/* One (day, minute) share of a record's usage. */
struct usage_piece {
	int64_t day;
	int minute;
	uint64_t bytes;
	unsigned requests;
};
/*
 * Split a record into per-minute pieces: a request counts once in the
 * minute it started; bytes of an interval up to 61 s go to the minute of
 * its middle, longer intervals are spread evenly over the minutes they
 * cover. Returns the number of pieces (at most max; a longer interval is
 * folded into the last piece).
 */
size_t usage_split(const struct store *s, const struct record *r, struct usage_piece *out,
		   size_t max);

struct batch;
/* Writer: account one record's usage (today's table and the batch's rows). */
void usage_account(struct store *s, struct batch *b, const struct record *r, const char *user,
		   enum usage_purpose purpose);

/* ---- a batch: what one transaction writes (batch.c) ---- */

struct usage_row_key {
	int64_t day;
	int32_t minute;
	uint8_t purpose;
	uint8_t source;
	char user[64];
	char platform[32];
};

struct usage_row {
	struct usage_row_key k;
	char grp[32];
	uint64_t bytes;
	uint32_t requests;
	bool active;
};

struct other_row_key {
	int64_t day;
	uint8_t source;
	char user[64];
};

struct other_row {
	struct other_row_key k;
	char grp[32];
	uint64_t requests;
	uint64_t tunnels;
	uint64_t bytes_up;
	uint64_t bytes_down;
};

/* Who the proxy authenticated from a client address, and when (the
 * sessions table, which breaktime-sensor reads for attribution). */
struct session_row_key {
	char client[64];
	char user[64];
};

struct session_row {
	struct session_row_key k;
	int64_t first_ms, last_ms;
	int64_t day;                  /* local day of last_ms (retention) */
};

struct batch *batch_create(void);
void batch_destroy(struct batch *b);
/* Writer: one more record taken from the queue (for `held` and `written`). */
void batch_count_record(struct batch *b);
/* ... or `count` records that make one row (counted refusals) */
void batch_count_records(struct batch *b, uint64_t count);
void batch_add_event(struct batch *b, const struct store *s, const struct record *r,
		     const char *user, const char *client);
/* One row standing for `count` refusals (refusals.c); user and client NULL
 * for "other clients". */
void batch_add_refusals(struct batch *b, const struct store *s, const struct record *r,
			const char *user, const char *client, uint64_t count);
struct usage_row *batch_usage_row(struct batch *b, const struct usage_row_key *k);
struct other_row *batch_other_row(struct batch *b, const struct other_row_key *k);
struct session_row *batch_session_row(struct batch *b, const struct session_row_key *k);
void batch_add_presence(struct batch *b, const struct presence_item *p, int64_t day);
void batch_add_binding(struct batch *b, const struct store_binding *x, int64_t day);
uint64_t batch_records(const struct batch *b);   /* records held */
uint64_t batch_event_rows(const struct batch *b);
size_t batch_bytes(const struct batch *b);        /* memory held */
bool batch_empty(const struct batch *b);

/* The writer's connection and its statements. */
struct writer_db {
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *ins_event, *up_usage, *up_other, *ins_presence;
	sqlite3_stmt *up_session, *ins_session;
	sqlite3_stmt *end_binding, *ins_binding;
	uint64_t active_bytes;
	int sys_errno;          /* errno of the last failed transaction's I/O */
};
int writer_db_prepare(struct writer_db *w);
void writer_db_finish(struct writer_db *w);

/*
 * One transaction: at most max_rows event rows (whole blocks, at least one)
 * and all the usage, totals and presence rows. SQLITE_OK and *committed set
 * to the records now written; else an SQLite error code with everything
 * still held (the transaction was rolled back).
 */
int batch_commit(struct batch *b, struct writer_db *w, uint64_t max_rows, uint64_t *committed);
/* Rows of counted refusals (batch_add_refusals) the last batch_commit() wrote. */
uint64_t batch_committed_aggregates(const struct batch *b);

/* ---- retention (retention.c) ---- */

struct retention {
	int phase;                 /* table being purged; -1: idle */
	char cutoff_day[TZ_DAY_TEXT];
	int64_t cutoff_ms;
	int64_t next_mono_ms;      /* when the next daily run starts */
	uint64_t run_rows;
};
/* Schedule from meta.last_purge at start (store_open). */
void retention_init(struct retention *r, sqlite3 *db, bool timer);
void retention_start(struct retention *r, const struct store *s, int64_t now_ms);
bool retention_running(const struct retention *r);
/* Purge one small batch; SQLITE_OK (progress or done) or an SQLite error to retry later. */
int retention_step(struct retention *r, struct store *s, sqlite3 *db, uint64_t *purged);

/* ---- the Squid access.log (accesslog.c) ---- */

struct accesslog;
struct accesslog *accesslog_open(const char *path);
void accesslog_write(struct accesslog *a, const struct record *r, const char *client);
void accesslog_flush(struct accesslog *a);
bool accesslog_pending(const struct accesslog *a); /* unflushed lines */
void accesslog_reopen(struct accesslog *a);
void accesslog_close(struct accesslog *a);
/* One Squid native line (with "\n") into buf; its length. */
size_t accesslog_format(const struct record *r, const char *client, char *buf, size_t len);

/* ---- refusals without identity, counted per client and minute (refusals.c) ---- */

#define REFUSALS_DEFAULT_MAX 4096

/* What one events row of counted refusals says. */
struct refusal_row {
	struct record sample;         /* the key's first refusal */
	uint64_t count;               /* refusals the row stands for (>= 1) */
	int64_t first_us, last_us;    /* start of the first, end of the last */
	uint64_t bytes_up, bytes_down;
	bool other;                   /* "other clients": the table was full (no address) */
};

struct refusal_rows {                 /* the writer's copy of what it took */
	struct refusal_row *v;
	size_t n, cap;
};

struct refusals;
struct refusals *refusals_create(unsigned max_keys);
void refusals_destroy(struct refusals *a);
/* An identity-less refusal (407, 429, allow_clients' 403 with no user)? */
bool refusals_match(const struct record *r);
/* Any thread: count r in. 1: a new key (wake the writer), 0: counted, -1:
 * the table is full even for "other clients" (the caller counts a drop). */
int refusals_add(struct refusals *a, const struct record *r);
/* Writer: the rows due at wall_ms (new keys, minutes that are over; all:
 * everything counted) into out, replacing what out held. */
void refusals_take(struct refusals *a, int64_t wall_ms, bool all, struct refusal_rows *out);
bool refusals_due(struct refusals *a, int64_t wall_ms, bool all);
/* Wall ms when refusals_take() has something (0: now, INT64_MAX: nothing). */
int64_t refusals_next_ms(struct refusals *a);
uint64_t refusals_added(struct refusals *a);   /* refusals counted in, ever */
uint64_t refusals_pending(struct refusals *a); /* ... not taken yet */

/* ---- the writer (writer.c) ---- */

struct writer;
struct writer *writer_create(struct store *s, unsigned queue_len);
/* Hand the connection over and start the thread. */
int writer_start(struct writer *w, sqlite3 *db);
/* Any thread; never blocks on I/O; copies len bytes of data into a slot.
 * 0, or -1 when the queue is full (counted). */
int writer_submit(struct writer *w, enum item_type type, const void *data, size_t len);
/* Drain, commit (retrying up to close_timeout_ms), stop the thread, close the db. */
void writer_stop(struct writer *w);
void writer_destroy(struct writer *w);
void writer_wake(struct writer *w);
int writer_flush(struct writer *w, unsigned timeout_ms);
uint64_t writer_queued(struct writer *w);

/* ---- the schema (store.c) ---- */

#define STORE_SCHEMA_VERSION 6
/* Bring db forward to schema `target` (tests: an older schema). 0 or -1 (logged). */
int store_schema_migrate(sqlite3 *db, int target);
int store_schema_version(sqlite3 *db);

/* ---- the store ---- */

struct store_counters {          /* all atomic */
	uint64_t submitted, dropped, written, lost, held, transactions;
	uint64_t retries, busy_errors, full_errors, purged, access_log_lines, writer_cpu_ms;
	uint64_t aggregate_rows;     /* events rows of counted refusals, committed */
	int failing;
};

struct store {
	/* immutable after store_open() */
	struct store_options opt;
	uint64_t zone_id;              /* for store_local()'s per-thread cache */
	char *path;
	char *access_log;
	enum log_other log_other;
	uint64_t active_bytes;
	unsigned retention_days;

	struct writer *writer;
	struct refusals *refusals;     /* identity-less refusals, counted (refusals.c) */
	struct usage_today *today;
	struct store_counters n;

	/* requests to the writer (atomic flags) */
	int reopen_requested;
	int purge_requested;
	int64_t max_pages_requested; /* -1: none */

	/* writer thread only */
	struct writer_db wdb;
	struct usage_piece *pieces;    /* USAGE_MAX_PIECES, for usage_account() */
	struct retention ret;
	struct accesslog *alog;
};

#endif
