/*
 * store: opening the SQLite store — pragmas, the schema and its forward
 * migrations, today's usage restored into memory — and the public entry
 * points that hand work to the writer thread (writer.c).
 *
 * store_open() runs before the event loops start and may wait (a locked
 * database, up to open_timeout_ms); once it returns, the sqlite3 handle
 * belongs to the writer thread alone. store_submit() and the other entry
 * points run on any thread and never touch SQLite or do I/O, except the -v
 * line, which is the debug output integration tests parse.
 *
 * The schema is documented for people in doc/schema.md; keep the two in
 * step. A migration is appended, never edited: a database at version N runs
 * steps N+1.. in one transaction each. A database newer than this program
 * is refused rather than guessed at.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* ---- the schema ---- */

static const char *const migrations[STORE_SCHEMA_VERSION] = {
	/* 1: the base tables */
	"CREATE TABLE meta ("
	"  key   TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE events ("
	"  id          INTEGER PRIMARY KEY,"
	"  ts_ms       INTEGER NOT NULL,"
	"  day         TEXT NOT NULL,"
	"  kind        TEXT NOT NULL,"
	"  source      TEXT NOT NULL,"
	"  user        TEXT,"
	"  grp         TEXT,"
	"  client      TEXT,"
	"  method      TEXT,"
	"  host        TEXT,"
	"  port        INTEGER,"
	"  sni         TEXT,"
	"  platform    TEXT,"
	"  category    TEXT,"
	"  verdict     TEXT,"
	"  reason      TEXT,"
	"  status      INTEGER,"
	"  bytes_up    INTEGER NOT NULL DEFAULT 0,"
	"  bytes_down  INTEGER NOT NULL DEFAULT 0,"
	"  duration_ms INTEGER NOT NULL DEFAULT 0,"
	"  close       TEXT);"
	/* by day, and by user within a period: (day, user) serves both; by
	 * platform. Each index costs the writer (see bench/store.sh). */
	"CREATE INDEX events_day_user ON events (day, user);"
	"CREATE INDEX events_platform_day ON events (platform, day);"
	"CREATE TABLE usage_minutes ("
	"  day      TEXT NOT NULL,"
	"  minute   INTEGER NOT NULL,"
	"  user     TEXT NOT NULL,"
	"  platform TEXT NOT NULL,"
	"  purpose  TEXT NOT NULL,"
	"  source   TEXT NOT NULL,"
	"  grp      TEXT,"
	"  active   INTEGER NOT NULL DEFAULT 0,"
	"  requests INTEGER NOT NULL DEFAULT 0,"
	"  bytes    INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (day, user, platform, minute, purpose, source)) WITHOUT ROWID;"
	/* by day and user: the primary key; by platform: */
	"CREATE INDEX usage_minutes_platform ON usage_minutes (platform, day);"
	"CREATE TABLE presence ("
	"  id         INTEGER PRIMARY KEY,"
	"  ts_ms      INTEGER NOT NULL,"
	"  day        TEXT NOT NULL,"
	"  state      TEXT NOT NULL,"
	"  expires_ms INTEGER,"
	"  cause      TEXT,"
	"  source     TEXT NOT NULL);"
	"CREATE INDEX presence_day ON presence (day);",

	/* 2: per-user daily totals of non-social traffic (log_other = counts),
	 * and the view reports count active minutes with */
	"CREATE TABLE other_daily ("
	"  day        TEXT NOT NULL,"
	"  user       TEXT NOT NULL,"
	"  source     TEXT NOT NULL,"
	"  grp        TEXT,"
	"  requests   INTEGER NOT NULL DEFAULT 0,"
	"  tunnels    INTEGER NOT NULL DEFAULT 0,"
	"  bytes_up   INTEGER NOT NULL DEFAULT 0,"
	"  bytes_down INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (day, user, source)) WITHOUT ROWID;"
	"CREATE VIEW active_minutes AS"
	"  SELECT day, user, platform, minute,"
	"         MAX(purpose = 'personal') AS personal,"
	"         SUM(requests) AS requests, SUM(bytes) AS bytes"
	"  FROM usage_minutes"
	"  GROUP BY day, user, platform, minute"
	"  HAVING MAX(active) = 1;",

	/* 3: who the proxy authenticated from each client address, and when:
	 * breaktime-sensor attributes a device's direct traffic by it */
	"CREATE TABLE sessions ("
	"  id       INTEGER PRIMARY KEY,"
	"  day      TEXT NOT NULL,"
	"  client   TEXT NOT NULL,"
	"  user     TEXT NOT NULL,"
	"  first_ms INTEGER NOT NULL,"
	"  last_ms  INTEGER NOT NULL);"
	"CREATE INDEX sessions_client ON sessions (client, last_ms);"
	"CREATE INDEX sessions_last ON sessions (last_ms);",

	/* 4: how many refusals a row stands for: refusals that carry no
	 * identity (407, 429, allow_clients) are counted per client, reason
	 * and minute into one row (logger/refusals.c); every other row is 1 */
	"ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;",

	/* 5: how the flow reached breaktimed: 'proxy' (its listen addresses),
	 * 'https-proxy' (tls_listen), 'intercept' (intercept_listen: redirected
	 * by the gateway's firewall); NULL for the sensor's rows and older rows */
	"ALTER TABLE events ADD COLUMN arrival TEXT;",

	/* 6: intercept mode's bindings: the span [since_ms, until_ms) in which
	 * a client address (and the device's MAC address, from the gateway's
	 * neighbour table) stood for a person. The writer ends an address's
	 * rows still in force when a newer one begins, so rows of one address
	 * never overlap: breaktimed restores the rows in force at start, and
	 * breaktime-sensor attributes by address and by MAC from them */
	"CREATE TABLE bindings ("
	"  id       INTEGER PRIMARY KEY,"
	"  day      TEXT NOT NULL,"
	"  client   TEXT NOT NULL,"
	"  mac      TEXT,"
	"  user     TEXT NOT NULL,"
	"  since_ms INTEGER NOT NULL,"
	"  until_ms INTEGER NOT NULL,"
	"  how      TEXT NOT NULL);"
	"CREATE INDEX bindings_client ON bindings (client, until_ms);"
	"CREATE INDEX bindings_until ON bindings (until_ms);"
	"CREATE INDEX bindings_day ON bindings (day);",
};

int store_schema_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int store_schema_migrate(sqlite3 *db, int target)
{
	char *err = NULL;
	int first = -1;

	if (target > STORE_SCHEMA_VERSION)
		target = STORE_SCHEMA_VERSION;
	for (;;) {
		/* BEGIN IMMEDIATE first, then read the version: a second process
		 * migrating at the same time waits here and then finds it done. */
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK) {
			log_err("store: cannot start a migration: %s", err ? err : sqlite3_errmsg(db));
			sqlite3_free(err);
			return -1;
		}
		int v = store_schema_version(db);
		if (v < 0) {
			log_err("store: cannot read the schema version: %s", sqlite3_errmsg(db));
			goto fail;
		}
		if (v > STORE_SCHEMA_VERSION) {
			log_err("store: the database has schema %d, newer than this breaktime "
				"understands (%d); refusing to write to it", v, STORE_SCHEMA_VERSION);
			goto fail;
		}
		if (first < 0)
			first = v;
		if (v >= target) {
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
			if (first > 0 && v > first)
				log_notice("store: migrated the database from schema %d to %d", first, v);
			return 0;
		}
		if (sqlite3_exec(db, migrations[v], NULL, NULL, &err) != SQLITE_OK) {
			log_err("store: migration to schema %d failed: %s", v + 1,
				err ? err : sqlite3_errmsg(db));
			sqlite3_free(err);
			goto fail;
		}
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			log_err("store: migration to schema %d failed: %s", v + 1, sqlite3_errmsg(db));
			goto fail;
		}
	}
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* ---- local time ---- */

static int32_t offset_localtime(void *ctx, int64_t t)
{
	(void)ctx;
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

/*
 * Time zone offsets change on whole minutes (every transition in the tz
 * database since 1970 is on one), so one lookup per UTC minute and thread
 * is enough: the writer converts several times per record, and
 * localtime_r() takes a process-wide lock.
 */
static uint64_t zone_ids;                 /* atomic: one per store_open() */
static __thread uint64_t zone_id;
static __thread int64_t zone_minute = INT64_MIN;
static __thread int32_t zone_offset;

void store_local(const struct store *s, int64_t t_sec, int64_t *day, int *minute)
{
	int64_t m = tz_floordiv(t_sec, 60);
	if (m != zone_minute || s->zone_id != zone_id) {
		zone_offset = s->opt.utc_offset(s->opt.zone_ctx, m * 60);
		zone_minute = m;
		zone_id = s->zone_id;
	}
	int64_t local = t_sec + zone_offset;
	int64_t d = tz_floordiv(local, TZ_DAY_SECONDS);
	*day = d;
	*minute = (int)((local - d * TZ_DAY_SECONDS) / 60);
}

int64_t store_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t store_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- opening ---- */

static int exec_log(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		log_err("store: %s: %s", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
	}
	return rc;
}

static void meta_set(sqlite3 *db, const char *key, const char *value, bool replace)
{
	sqlite3_stmt *st;
	const char *sql = replace ? "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)"
				  : "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("store: cannot write meta %s: %s", key, sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

static const char *const log_other_names[] = {"none", "counts", "hosts"};

static int write_meta(struct store *s, sqlite3 *db)
{
	char text[512];

	if (exec_log(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return -1;
	snprintf(text, sizeof(text), "%" PRId64, store_wall_ms());
	meta_set(db, "created_ms", text, false);
	meta_set(db, "application", "breaktime", false);
	snprintf(text, sizeof(text),
		 "active minutes: a minute counts for (user, platform) when a request to the "
		 "platform started in it, or traffic to it (tunnels reported minute by minute, "
		 "long requests spread over their duration) moved at least %" PRIu64 " bytes "
		 "in it; each minute counts once",
		 s->active_bytes);
	meta_set(db, "usage_method", text, true);
	snprintf(text, sizeof(text), "%" PRIu64, s->active_bytes);
	meta_set(db, "active_bytes", text, true);
	meta_set(db, "log_other", log_other_names[s->log_other], true);
	snprintf(text, sizeof(text), "%u", s->retention_days);
	meta_set(db, "retention_days", text, true);
	return exec_log(db, "COMMIT") == SQLITE_OK ? 0 : -1;
}

/* Today's usage rows back into memory, so allowances survive a restart. */
static int restore_today(struct store *s, sqlite3 *db)
{
	int64_t day;
	int minute;
	char text[TZ_DAY_TEXT];
	sqlite3_stmt *st;
	unsigned rows = 0;

	store_local(s, store_wall_ms() / 1000, &day, &minute);
	usage_today_set_day(s->today, day);
	tz_day_text(day, text, sizeof(text));
	if (sqlite3_prepare_v2(db,
			       "SELECT user, platform, minute, purpose, active, bytes, requests "
			       "FROM usage_minutes WHERE day = ?1",
			       -1, &st, NULL) != SQLITE_OK) {
		log_err("store: cannot read today's usage: %s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *user = (const char *)sqlite3_column_text(st, 0);
		const char *platform = (const char *)sqlite3_column_text(st, 1);
		int m = sqlite3_column_int(st, 2);
		int purpose = usage_purpose_parse((const char *)sqlite3_column_text(st, 3));
		if (!user || !platform || m < 0 || m >= USAGE_MINUTES || purpose < 0)
			continue;
		int64_t bytes = sqlite3_column_int64(st, 5);
		int requests = sqlite3_column_int(st, 6);
		usage_today_add(s->today, user, platform, (enum usage_purpose)purpose, m,
				bytes > 0 ? (uint64_t)bytes : 0, requests > 0 ? (unsigned)requests : 0,
				sqlite3_column_int(st, 4) != 0);
		rows++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_err("store: cannot read today's usage: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (rows)
		log_info("store: restored %u usage rows of %s", rows, text);
	return 0;
}

static void apply_defaults(struct store_options *o)
{
	if (!o->utc_offset)
		o->utc_offset = offset_localtime;
	if (!o->queue_len)
		o->queue_len = STORE_DEFAULT_QUEUE_LEN;
	if (!o->batch_records)
		o->batch_records = STORE_DEFAULT_BATCH_RECORDS;
	if (!o->batch_ms)
		o->batch_ms = STORE_DEFAULT_BATCH_MS;
	if (!o->hold_bytes)
		o->hold_bytes = STORE_DEFAULT_HOLD_BYTES;
	if (!o->busy_timeout_ms)
		o->busy_timeout_ms = STORE_DEFAULT_BUSY_TIMEOUT_MS;
	if (!o->open_timeout_ms)
		o->open_timeout_ms = STORE_DEFAULT_OPEN_TIMEOUT_MS;
	if (!o->close_timeout_ms)
		o->close_timeout_ms = STORE_DEFAULT_CLOSE_TIMEOUT_MS;
}

static void store_free(struct store *s)
{
	if (!s)
		return;
	writer_destroy(s->writer);
	refusals_destroy(s->refusals);
	usage_today_destroy(s->today);
	accesslog_close(s->alog);
	free(s->pieces);
	free(s->path);
	free(s->access_log);
	free(s);
}

struct store *store_open_opts(const struct conf *c, const struct store_options *o)
{
	struct store *s = calloc(1, sizeof(*s));
	sqlite3 *db = NULL;

	if (!s)
		return NULL;
	if (o)
		s->opt = *o;
	/* [store] tuning keys, where the caller did not choose */
	if (!s->opt.queue_len)
		s->opt.queue_len = c->store.queue;
	if (!s->opt.batch_records)
		s->opt.batch_records = c->store.batch;
	if (!s->opt.batch_ms)
		s->opt.batch_ms = c->store.batch_interval_ms;
	if (!s->opt.hold_bytes)
		s->opt.hold_bytes = c->store.hold;
	apply_defaults(&s->opt);
	s->zone_id = __atomic_add_fetch(&zone_ids, 1, __ATOMIC_RELAXED);
	s->path = strdup(c->store.database ? c->store.database : "breaktime.db");
	s->access_log = c->store.access_log ? strdup(c->store.access_log) : NULL;
	s->log_other = c->store.log_other;
	s->active_bytes = c->store.active_bytes;
	s->retention_days = c->store.retention_days;
	s->max_pages_requested = -1;
	s->today = usage_today_create(s->active_bytes);
	s->writer = writer_create(s, s->opt.queue_len);
	s->refusals = refusals_create(s->opt.refusal_keys);
	s->pieces = calloc(USAGE_MAX_PIECES, sizeof(*s->pieces));
	if (!s->path || !s->today || !s->writer || !s->refusals || !s->pieces ||
	    (c->store.access_log && !s->access_log)) {
		log_err("store: out of memory");
		goto fail;
	}

	int rc = sqlite3_open_v2(s->path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		log_err("store: cannot open %s: %s", s->path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, (int)s->opt.open_timeout_ms);

	/* WAL: reports read while the writer writes. synchronous=NORMAL: a
	 * commit survives a crash of the process (kill -9), not necessarily a
	 * power cut; the checkpoint syncs. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		log_err("store: %s: cannot use it: %s", s->path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		goto fail;
	}
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0)
		log_warn("store: %s: journal mode is %s, not wal (readers will wait for the writer)",
			 s->path, mode ? mode : "?");
	sqlite3_finalize(st);
	if (exec_log(db, "PRAGMA synchronous = NORMAL") != SQLITE_OK)
		goto fail;
	if (store_schema_migrate(db, STORE_SCHEMA_VERSION) < 0 || write_meta(s, db) < 0 ||
	    restore_today(s, db) < 0)
		goto fail;
	retention_init(&s->ret, db, !s->opt.no_purge_timer && s->retention_days > 0);
	if (s->opt.max_pages == 0 && c->store.max_size > 0) {
		/* [store] max_size: in pages of this database */
		sqlite3_stmt *ps = NULL;
		int64_t page = 4096;
		if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK &&
		    sqlite3_step(ps) == SQLITE_ROW && sqlite3_column_int64(ps, 0) > 0)
			page = sqlite3_column_int64(ps, 0);
		sqlite3_finalize(ps);
		s->opt.max_pages = (int64_t)(c->store.max_size / (uint64_t)page);
	}
	if (s->opt.max_pages > 0) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64, s->opt.max_pages);
		exec_log(db, sql);
	}
	sqlite3_busy_timeout(db, (int)s->opt.busy_timeout_ms);
	if (s->access_log) {
		s->alog = accesslog_open(s->access_log);
		if (!s->alog)
			goto fail; /* logged */
	}
	s->wdb.db = db;
	s->wdb.active_bytes = s->active_bytes;
	if (writer_db_prepare(&s->wdb) < 0)
		goto fail;
	if (writer_start(s->writer, db) < 0) {
		log_err("store: cannot start the writer thread");
		writer_db_finish(&s->wdb);
		goto fail;
	}
	log_info("store: %s (schema %d, log_other %s, retention %u days%s%s)", s->path,
		 STORE_SCHEMA_VERSION, log_other_names[s->log_other], s->retention_days,
		 s->access_log ? ", access log " : "", s->access_log ? s->access_log : "");
	return s;

fail:
	s->wdb.db = NULL;
	if (db)
		sqlite3_close_v2(db);
	store_free(s);
	return NULL;
}

struct store *store_open(const struct conf *c, bool verbose)
{
	struct store_options o = {.verbose = verbose};
	return store_open_opts(c, &o);
}

int record_format(const struct record *r, char *buf, unsigned len)
{
	static const char *const kinds[] = {"request", "tunnel", "tunnel-progress", "blocked"};
	char client[64];
	const char *verdict = verdict_name(r->verdict), *reason = verdict_reason_name(r->reason);

	sockaddr_ntop(&r->client.u.sa, client, sizeof(client));
	return snprintf(buf, len,
			"record kind=%s client=%s method=%s host=%s port=%u sni=%s status=%d "
			"up=%" PRIu64 " down=%" PRIu64 " ms=%u close=%s verdict=%s reason=%s platform=%s",
			(unsigned)r->kind < 4 ? kinds[r->kind] : "?", client,
			r->method[0] ? r->method : "-",
			r->host[0] ? r->host : "-", r->port, r->sni[0] ? r->sni : "-", r->status,
			r->bytes_up, r->bytes_down, r->duration_ms,
			r->close_reason ? r->close_reason : "-", verdict ? verdict : "-",
			reason ? reason : "-", r->platform[0] ? r->platform : "-");
}

void store_submit(struct store *s, const struct record *r)
{
	if (!s)
		return;
	__atomic_add_fetch(&s->n.submitted, 1, __ATOMIC_RELAXED);
	if (s->opt.verbose) {
		char line[1024];
		record_format(r, line, sizeof(line));
		log_msg(LOG_INFO, "%s", line);
	}
	if (refusals_match(r)) {
		/* counted per client and minute, never a queue slot: a flood of
		 * them cannot push out the records of identified people */
		int rc = refusals_add(s->refusals, r);
		if (rc > 0)
			writer_wake(s->writer);
		else if (rc < 0)
			__atomic_add_fetch(&s->n.dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	writer_submit(s->writer, ITEM_RECORD, r, sizeof(*r));
}

void store_submit_presence(struct store *s, int64_t at_us, const char *state,
			   int64_t expires_us, const char *cause, enum record_source source)
{
	struct presence_item p;

	if (!s)
		return;
	memset(&p, 0, sizeof(p));
	p.at_us = at_us;
	p.expires_us = expires_us;
	store_copy(p.state, sizeof(p.state), state);
	store_copy(p.cause, sizeof(p.cause), cause);
	p.source = source;
	__atomic_add_fetch(&s->n.submitted, 1, __ATOMIC_RELAXED);
	writer_submit(s->writer, ITEM_PRESENCE, &p, sizeof(p));
}

void store_submit_binding(struct store *s, const struct store_binding *b)
{
	if (!s)
		return;
	__atomic_add_fetch(&s->n.submitted, 1, __ATOMIC_RELAXED);
	writer_submit(s->writer, ITEM_BINDING, b, sizeof(*b));
}

const char *store_binding_how_name(enum store_binding_how how)
{
	switch (how) {
	case STORE_BINDING_SIGN_IN: return "sign-in";
	case STORE_BINDING_MAC: return "mac";
	case STORE_BINDING_END: return "end";
	}
	return "?";
}

int store_binding_how_parse(const char *s)
{
	for (int h = STORE_BINDING_SIGN_IN; h <= STORE_BINDING_END; h++)
		if (s && strcmp(s, store_binding_how_name((enum store_binding_how)h)) == 0)
			return h;
	return -1;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void store_stats(struct store *s, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	out->submitted = LOAD(s->n.submitted);
	out->dropped = LOAD(s->n.dropped);
	out->written = LOAD(s->n.written);
	out->lost = LOAD(s->n.lost);
	out->queued = writer_queued(s->writer);
	out->queue_capacity = s->opt.queue_len;
	out->held = LOAD(s->n.held);
	out->transactions = LOAD(s->n.transactions);
	out->retries = LOAD(s->n.retries);
	out->busy_errors = LOAD(s->n.busy_errors);
	out->full_errors = LOAD(s->n.full_errors);
	out->purged = LOAD(s->n.purged);
	out->access_log_lines = LOAD(s->n.access_log_lines);
	out->writer_cpu_ms = LOAD(s->n.writer_cpu_ms);
	out->aggregated = refusals_added(s->refusals);
	out->aggregate_rows = LOAD(s->n.aggregate_rows);
	out->aggregating = refusals_pending(s->refusals);
	out->failing = LOAD(s->n.failing) != 0;
}

void store_reopen(struct store *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->reopen_requested, 1, __ATOMIC_RELEASE);
	writer_wake(s->writer);
}

void store_purge_now(struct store *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->purge_requested, 1, __ATOMIC_RELEASE);
	writer_wake(s->writer);
}

void store_set_max_pages(struct store *s, int64_t pages)
{
	if (!s)
		return;
	__atomic_store_n(&s->max_pages_requested, pages, __ATOMIC_RELEASE);
	writer_wake(s->writer);
}

int store_flush(struct store *s, unsigned timeout_ms)
{
	return s ? writer_flush(s->writer, timeout_ms) : 0;
}

int store_usage_today(struct store *s, const char *user, const char *platform, time_t now,
		      time_t since, struct store_usage *out)
{
	int64_t day, since_day;
	int minute, since_minute = -1;

	memset(out, 0, sizeof(*out));
	if (!s || !user)
		return -1;
	store_local(s, (int64_t)now, &day, &minute);
	if (since > 0) {
		store_local(s, (int64_t)since, &since_day, &since_minute);
		if (since_day < day)
			since_minute = 0;
		else if (since_day > day)
			since_minute = USAGE_MINUTES; /* nothing yet */
	}
	return usage_today_query(s->today, user, platform, day, since_minute, out);
}

const char *store_user_key(const char *user, const struct sockaddr *client, char *buf, size_t len)
{
	if (user && *user)
		return user;
	sockaddr_ntop(client, buf, len);
	if (strncmp(buf, "::ffff:", 7) == 0 && strchr(buf, '.'))
		memmove(buf, buf + 7, strlen(buf + 7) + 1);
	if (strcmp(buf, "?") == 0)
		snprintf(buf, len, "-");
	return buf;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	writer_stop(s->writer);
	struct store_stats st;
	store_stats(s, &st);
	log_info("store: closed: %" PRIu64 " records submitted, %" PRIu64 " written, %" PRIu64
		 " dropped (queue full), %" PRIu64 " lost",
		 st.submitted, st.written, st.dropped, st.lost);
	store_free(s);
}
