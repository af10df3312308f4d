/*
 * Unit tests: the store — schema and migrations, the queue (full, drain,
 * shutdown), batching, log_other, a locked and a full database, retention,
 * presence, intercept mode's bindings, refusals without identity counted
 * per client and minute, and the Squid access log. Real SQLite files in temporary
 * directories; a second connection plays the other process.
 */
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "safetext.h"
#include "store_internal.h"
#include "storeq.h"
#include "test_store_util.h"

static struct store *open_opts(struct tstore *t, struct store_options *o)
{
	struct store *s = store_open_opts(&t->conf, o);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void submit_social(struct store *s, unsigned n, int64_t t0)
{
	for (unsigned i = 0; i < n; i++) {
		struct record r = rec(RECORD_REQUEST, t0 + i, "alice", "www.facebook.com", "facebook",
				      1000, 20);
		store_submit(s, &r);
	}
}

/* ---- schema ---- */

START_TEST(test_schema_from_empty)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_opts(&t, NULL);
	store_close(s);

	sqlite3 *db = peek_open(&t);
	ck_assert_int_eq(q1(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	const char *tables[] = {"meta", "events", "usage_minutes", "presence", "other_daily",
				"active_minutes", "sessions", "bindings"};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE name = '%s'",
			 tables[i]);
		ck_assert_msg(q1(db, sql) == 1, "%s missing", tables[i]);
	}
	const char *indexes[] = {"events_day_user", "events_platform_day",
				 "usage_minutes_platform", "presence_day", "bindings_client",
				 "bindings_until", "bindings_day"};
	for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '%s'",
			 indexes[i]);
		ck_assert_msg(q1(db, sql) == 1, "%s missing", indexes[i]);
	}
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM meta WHERE key = 'usage_method'"), 1);
	ck_assert_int_eq(q1(db, "SELECT value FROM meta WHERE key = 'active_bytes'"), 2048);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	/* the report queries use the indexes: by day, by user in a period, by platform */
	static const struct {
		const char *sql, *uses;
	} plans[] = {
		{"SELECT count(*) FROM events WHERE day = 'b'", "events_day_user"},
		{"SELECT count(*) FROM events WHERE user = 'a' AND day BETWEEN 'b' AND 'c'", "events_day_user"},
		{"SELECT count(*) FROM events WHERE platform = 'x' AND day >= 'b'", "events_platform_day"},
		{"SELECT count(*) FROM usage_minutes WHERE day = 'b' AND user = 'a'", "PRIMARY KEY"},
		{"SELECT count(*) FROM usage_minutes WHERE platform = 'x' AND day >= 'b'", "usage_minutes_platform"},
		{"SELECT count(*) FROM other_daily WHERE day >= 'b'", "PRIMARY KEY"},
		/* the writer ends an address's bindings; readers take those in force */
		{"UPDATE bindings SET until_ms = 5 WHERE client = 'a' AND until_ms > 5 AND since_ms <= 5",
		 "bindings_client"},
		{"SELECT count(*) FROM bindings WHERE until_ms > 5 AND since_ms <= 6", "bindings_until"},
	};
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		char plan[1024] = "";
		char sql[512];
		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", plans[i].sql);
		ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			strncat(plan, (const char *)sqlite3_column_text(st, 3), sizeof(plan) - strlen(plan) - 2);
			strcat(plan, ";");
		}
		sqlite3_finalize(st);
		ck_assert_msg(strstr(plan, plans[i].uses), "%s: %s", plans[i].sql, plan);
	}
	sqlite3_close(db);

	/* opening again is a no-op migration */
	s = open_opts(&t, NULL);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_schema_from_v1)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(t.db, &db), SQLITE_OK);
	ck_assert_int_eq(store_schema_migrate(db, 1), 0);
	ck_assert_int_eq(q1(db, "PRAGMA user_version"), 1);
	ck_assert_int_eq(sqlite3_exec(db,
		"INSERT INTO events (ts_ms, day, kind, source, user, host, platform)"
		"  VALUES (1, '2025-01-02', 'request', 'proxy', 'bob', 'x.com', 'x');"
		"INSERT INTO usage_minutes (day, minute, user, platform, purpose, source, active, requests, bytes)"
		"  VALUES ('2025-01-02', 600, 'bob', 'x', 'personal', 'proxy', 1, 1, 10);",
		NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM sqlite_master WHERE name = 'other_daily'"), 0);
	sqlite3_close(db);

	struct store *s = open_opts(&t, NULL);
	store_close(s);
	db = peek_open(&t);
	ck_assert_int_eq(q1(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM events WHERE user = 'bob'"), 1);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM other_daily"), 0);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM active_minutes WHERE user = 'bob' AND personal"), 1);
	sqlite3_close(db);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_schema_newer_refused)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(t.db, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_ptr_null(store_open_opts(&t.conf, NULL));
	/* and a path that cannot be a database */
	t.conf.store.database = t.dir;
	ck_assert_ptr_null(store_open_opts(&t.conf, NULL));
	tstore_finish(&t);
}
END_TEST

/* ---- the queue and batching ---- */

START_TEST(test_drain_on_close)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	/* a batch window far longer than the test: only close can write them */
	struct store_options o = {.batch_records = 1000000, .batch_ms = 60000, .queue_len = 4096};
	struct store *s = open_opts(&t, &o);
	submit_social(s, 3000, now_us());
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 3000);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_batch_by_count)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.batch_records = 100, .batch_ms = 60000};
	struct store *s = open_opts(&t, &o);
	submit_social(s, 250, now_us());
	WAIT_FOR(s, st_.written >= 200, 5000);
	sleep_ms(200);
	struct store_stats st;
	store_stats(s, &st);
	/* two full batches; the last 50 wait for the clock (a minute) */
	ck_assert_uint_eq(st.written, 200);
	ck_assert_uint_eq(st.held, 50);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 200);
	ck_assert_int_eq(store_flush(s, 5000), 0);
	store_stats(s, &st);
	ck_assert_uint_eq(st.written, 250);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 250);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_batch_by_time)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.batch_records = 100000, .batch_ms = 300};
	struct store *s = open_opts(&t, &o);
	submit_social(s, 10, now_us());
	sleep_ms(100);
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_eq(st.written, 0);
	WAIT_FOR(s, st_.written == 10, 5000);
	store_stats(s, &st);
	ck_assert_uint_eq(st.written, 10);
	ck_assert_uint_eq(st.transactions, 1);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 10);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

/* The writer cannot keep up (the database is locked and it may hold
 * nothing): submit still returns at once, the overflow is counted. */
START_TEST(test_queue_full)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.queue_len = 64, .hold_bytes = 1, .batch_records = 10};
	struct store *s = open_opts(&t, &o);
	sqlite3 *other = peek_open(&t);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

	int64_t worst = 0;
	for (unsigned i = 0; i < 5000; i++) {
		struct record r = rec(RECORD_REQUEST, now_us(), "alice", "www.facebook.com",
				      "facebook", 1000, 20);
		int64_t a = now_us();
		store_submit(s, &r);
		int64_t d = now_us() - a;
		worst = d > worst ? d : worst;
	}
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_eq(st.submitted, 5000);
	ck_assert_uint_gt(st.dropped, 4000);
	ck_assert_uint_le(st.queued, 64);
	ck_assert_msg(worst < 50000, "a submit took %lld us", (long long)worst);

	ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	store_close(s);
	int64_t rows = count(&t, "SELECT count(*) FROM events");
	ck_assert_int_eq(rows, (int64_t)(st.submitted - st.dropped));
	tstore_finish(&t);
}
END_TEST

/* A batch larger than the queue: the writer wakes at half a queue and
 * keeps taking records; nothing is dropped waiting for the batch. */
START_TEST(test_batch_larger_than_queue)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.queue_len = 64, .batch_records = 100000, .batch_ms = 60000};
	struct store *s = open_opts(&t, &o);
	for (int i = 0; i < 50; i++) {
		submit_social(s, 20, now_us());
		sleep_ms(20);
	}
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_eq(st.held + st.queued, 1000);
	ck_assert_int_eq(store_flush(s, 5000), 0);
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 1000);
	tstore_finish(&t);
}
END_TEST

struct producer {
	struct store *s;
	unsigned n;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	submit_social(p->s, p->n, now_us());
	return NULL;
}

/* Many threads, a small queue, close right after: every record is either a
 * row or counted as dropped. */
START_TEST(test_shutdown_producers)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.queue_len = 256, .batch_records = 500};
	struct store *s = open_opts(&t, &o);
	pthread_t th[4];
	struct producer p = {s, 20000};
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, produce, &p);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct store_stats st;
	store_stats(s, &st);
	store_close(s);
	int64_t rows = count(&t, "SELECT count(*) FROM events");
	ck_assert_uint_eq(st.submitted, 80000);
	ck_assert_int_eq(rows + (int64_t)st.dropped, 80000);
	tstore_finish(&t);
}
END_TEST

/* ---- log_other ---- */

static void submit_mix(struct store *s)
{
	int64_t t0 = now_us();
	struct record r;
	r = rec(RECORD_REQUEST, t0, "alice", "www.bbc.co.uk", NULL, 4000, 10);
	store_submit(s, &r);
	store_submit(s, &r);
	r = rec(RECORD_TUNNEL, t0, "alice", "www.wikipedia.org", NULL, 8000, 1000);
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, t0, "bob", "example.com", "", 100, 10);
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, t0, "alice", "www.facebook.com", "facebook", 3000, 10);
	store_submit(s, &r);
	r = rec(RECORD_BLOCKED, t0, "bob", "www.tiktok.com", "tiktok", 0, 0);
	store_submit(s, &r);
}

START_TEST(test_log_other)
{
	static const enum log_other modes[] = {LOG_OTHER_NONE, LOG_OTHER_COUNTS, LOG_OTHER_HOSTS};
	enum log_other mode = modes[_i];
	struct tstore t;
	tstore_init(&t, mode);
	t.conf.store.access_log = t.log;
	struct store *s = open_opts(&t, NULL);
	submit_mix(s);
	store_close(s);

	sqlite3 *db = peek_open(&t);
	/* social and blocked are always kept */
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM events WHERE platform = 'facebook'"), 1);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM events WHERE kind = 'blocked'"), 1);
	int64_t other_events = q1(db, "SELECT count(*) FROM events WHERE platform IS NULL");
	int64_t other_rows = q1(db, "SELECT count(*) FROM other_daily");
	int64_t no_hosts = q1(db, "SELECT count(*) FROM events WHERE host = 'www.bbc.co.uk'");
	switch (mode) {
	case LOG_OTHER_NONE:
		ck_assert_int_eq(other_events, 0);
		ck_assert_int_eq(other_rows, 0);
		break;
	case LOG_OTHER_COUNTS:
		ck_assert_int_eq(other_events, 0);
		ck_assert_int_eq(no_hosts, 0);
		ck_assert_int_eq(other_rows, 2);
		ck_assert_int_eq(q1(db, "SELECT requests FROM other_daily WHERE user = 'alice'"), 2);
		ck_assert_int_eq(q1(db, "SELECT tunnels FROM other_daily WHERE user = 'alice'"), 1);
		ck_assert_int_eq(q1(db, "SELECT bytes_up + bytes_down FROM other_daily WHERE user = 'alice'"),
				 16000);
		ck_assert_int_eq(q1(db, "SELECT requests FROM other_daily WHERE user = 'bob'"), 1);
		/* no host name anywhere for non-social traffic */
		ck_assert_int_eq(q1(db, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%host%'"
					" AND name = 'other_daily'"), 0);
		break;
	case LOG_OTHER_HOSTS:
		ck_assert_int_eq(other_events, 4);
		ck_assert_int_eq(other_rows, 2);
		break;
	}
	/* social usage is counted in every mode, non-social never */
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM usage_minutes WHERE platform = 'facebook' AND active"), 1);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM usage_minutes WHERE platform <> 'facebook'"), 0);
	sqlite3_close(db);

	/* the access log follows the same rule */
	FILE *f = fopen(t.log, "r");
	ck_assert_ptr_nonnull(f);
	char line[1024];
	int lines = 0, bbc = 0;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		bbc += strstr(line, "bbc") != NULL;
	}
	fclose(f);
	ck_assert_int_eq(lines, mode == LOG_OTHER_HOSTS ? 6 : 2);
	ck_assert_int_eq(bbc, mode == LOG_OTHER_HOSTS ? 2 : 0);
	tstore_finish(&t);
}
END_TEST

/* ---- a locked database, a full database ---- */

START_TEST(test_locked_database)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.batch_records = 200, .batch_ms = 100};
	struct store *s = open_opts(&t, &o);
	sqlite3 *other = peek_open(&t);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(other,
		"INSERT INTO meta (key, value) VALUES ('other', 'process')", NULL, NULL, NULL), SQLITE_OK);

	/* three seconds of traffic while another process holds the write lock */
	for (int i = 0; i < 30; i++) {
		submit_social(s, 100, now_us());
		sleep_ms(100);
	}
	struct store_stats st;
	store_stats(s, &st);
	ck_assert(st.failing);
	ck_assert_uint_gt(st.busy_errors, 0);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.held + st.queued, 3000);

	ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	ck_assert_int_eq(store_flush(s, 20000), 0);
	store_stats(s, &st);
	ck_assert(!st.failing);
	ck_assert_uint_eq(st.written, 3000);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.lost, 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 3000);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM meta WHERE key = 'other'"), 1);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_full_database)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_HOSTS);
	struct store *s = open_opts(&t, NULL);
	store_close(s);
	int64_t pages = count(&t, "PRAGMA page_count");

	/* a few pages more than the empty schema: full after a few hundred rows */
	struct store_options o = {.batch_records = 100, .batch_ms = 50, .max_pages = pages + 8};
	s = open_opts(&t, &o);
	for (int i = 0; i < 20; i++) {
		submit_social(s, 100, now_us());
		sleep_ms(20);
	}
	WAIT_FOR(s, st_.full_errors > 0, 5000);
	sleep_ms(300);
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_gt(st.full_errors, 0);
	ck_assert(st.failing);
	ck_assert_uint_lt(st.written, 2000);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.written + st.held + st.queued, 2000);

	/* space again (an administrator freed the disk): everything held goes in */
	store_set_max_pages(s, 1000000000);
	ck_assert_int_eq(store_flush(s, 20000), 0);
	store_stats(s, &st);
	ck_assert(!st.failing);
	ck_assert_uint_eq(st.written, 2000);
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 2000);
	tstore_finish(&t);
}
END_TEST

/* The [store] tuning keys reach the writer when the caller sets nothing:
 * queue (its capacity), and max_size (as pages of this database). */
START_TEST(test_conf_tuning)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_HOSTS);
	struct store *s = open_opts(&t, NULL);
	store_close(s);
	int64_t pages = count(&t, "PRAGMA page_count");
	int64_t page = count(&t, "PRAGMA page_size");

	/* not the default (4096), and roomy enough that a slow writer on a
	 * loaded machine drops nothing of the bursts below */
	t.conf.store.queue = 512;
	t.conf.store.batch = 100;
	t.conf.store.batch_interval_ms = 50;
	t.conf.store.max_size = (uint64_t)((pages + 8) * page);
	s = open_opts(&t, NULL);
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_eq(st.queue_capacity, 512);
	for (int i = 0; i < 40; i++) {
		submit_social(s, 50, now_us());
		sleep_ms(10);
	}
	WAIT_FOR(s, st_.full_errors > 0, 20000);
	store_stats(s, &st);
	ck_assert_uint_gt(st.full_errors, 0);
	ck_assert_uint_lt(st.written, 2000);
	store_set_max_pages(s, 1000000000);
	ck_assert_int_eq(store_flush(s, 20000), 0);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

/* The database never comes back: close gives up after close_timeout and
 * says how many records are lost. */
START_TEST(test_close_gives_up)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.close_timeout_ms = 700, .batch_ms = 50};
	struct store *s = open_opts(&t, &o);
	sqlite3 *other = peek_open(&t);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	submit_social(s, 500, now_us());
	sleep_ms(200);
	struct store_stats st;
	ck_assert_int_eq(store_flush(s, 300), -1);
	store_stats(s, &st);
	ck_assert(st.failing);
	ck_assert_uint_eq(st.submitted, 500);

	/* store_close() frees the store: its last word is on stderr */
	char errpath[160];
	snprintf(errpath, sizeof(errpath), "%s/stderr", t.dir);
	int fd = open(errpath, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	int saved = dup(2);
	dup2(fd, 2);
	int64_t a = now_us();
	store_close(s);
	int64_t took = now_us() - a;
	dup2(saved, 2);
	close(saved);
	close(fd);
	ck_assert_msg(took < 5000000, "close took %lld us", (long long)took);
	FILE *f = fopen(errpath, "r");
	char text[4096];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(text, "500 records are lost"), "%s", text);
	ck_assert_msg(strstr(text, "0 written, 0 dropped (queue full), 500 lost"), "%s", text);
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 0);
	tstore_finish(&t);
}
END_TEST

/* ---- retention ---- */

START_TEST(test_retention)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	t.conf.store.retention_days = 30;
	struct store_options o = {.no_purge_timer = true};
	struct store *s = open_opts(&t, &o);
	int64_t now = now_us(), day = 86400LL * 1000000;
	int64_t old = (now - 40 * day) / 60000000 * 60000000; /* on a minute */
	/* 2500 old rows: several purge batches */
	for (int i = 0; i < 2500; i++) {
		struct record r = rec(RECORD_REQUEST, old + i * 1000000LL, "alice",
				      "www.facebook.com", "facebook", 100, 1);
		store_submit(s, &r);
	}
	struct record r = rec(RECORD_REQUEST, now - 40 * day, "alice", "old.example", NULL, 100, 1);
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, now - 10 * day, "alice", "www.facebook.com", "facebook", 100, 1);
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, now, "alice", "www.facebook.com", "facebook", 100, 1);
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, now, "alice", "new.example", NULL, 100, 1);
	store_submit(s, &r);
	store_submit_presence(s, now - 40 * day, "on", 0, "admin", RECORD_SOURCE_PROXY);
	store_submit_presence(s, now, "off", now + 3600000000LL, "admin", RECORD_SOURCE_PROXY);
	struct store_binding b;
	memset(&b, 0, sizeof(b));
	b.client.u.sa.sa_family = AF_INET;
	snprintf(b.user, sizeof(b.user), "alice");
	b.since_ms = (now - 40 * day) / 1000;
	b.until_ms = b.since_ms + 3600000;
	store_submit_binding(s, &b);
	b.since_ms = now / 1000;
	b.until_ms = b.since_ms + 3600000;
	store_submit_binding(s, &b);
	ck_assert_int_eq(store_flush(s, 10000), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM bindings"), 2);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 2502);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM presence"), 2);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM other_daily"), 2);

	store_purge_now(s);
	WAIT_FOR(s, st_.purged >= 2500 + 42 + 1 + 1 + 1, 10000);
	sleep_ms(200);
	struct store_stats st;
	store_stats(s, &st);
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 2);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM presence"), 1);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM other_daily"), 1);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM usage_minutes WHERE day < date('now', '-30 days')"), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM usage_minutes"), 2);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM meta WHERE key = 'last_purge_ms'"), 1);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM bindings"), 1);
	/* 2500 events + their minutes (2500 seconds: 42 minutes) + 1 total + 1 presence + 1 binding */
	ck_assert_uint_eq(st.purged, 2500 + 42 + 1 + 1 + 1);
	tstore_finish(&t);
}
END_TEST


/* ---- bindings (intercept mode) ---- */

static struct store_binding binding(const char *client, const char *mac, const char *user,
				    int64_t since_ms, int64_t until_ms, enum store_binding_how how)
{
	struct store_binding b;
	memset(&b, 0, sizeof(b));
	if (strchr(client, ':')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&b.client.u.sa;
		sin6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, client, &sin6->sin6_addr), 1);
		b.client.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&b.client.u.sa;
		sin->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, client, &sin->sin_addr), 1);
		b.client.len = sizeof(*sin);
	}
	if (mac) {
		unsigned m[6];
		ck_assert_int_eq(sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]), 6);
		for (int i = 0; i < 6; i++)
			b.mac[i] = (uint8_t)m[i];
		b.has_mac = true;
	}
	snprintf(b.user, sizeof(b.user), "%s", user);
	b.since_ms = since_ms;
	b.until_ms = until_ms;
	b.how = how;
	return b;
}

static void binding_seen(void *ctx, const struct store_binding_row *r)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 512 - n, "%s/%s/%s/%s;", r->client, r->mac ? r->mac : "-", r->user, r->how);
}

/* Which rows are in force at t (ms), as the readers see them. */
static const char *bindings_at(sqlite3 *db, int64_t t, char out[512])
{
	out[0] = '\0';
	ck_assert_int_ge(store_bindings_read(db, t, t, 1000, binding_seen, out), 0);
	return out;
}

START_TEST(test_bindings)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_opts(&t, NULL);
	const int64_t T = 1767261600000LL, H = 3600000; /* 2026-01-01 10:00 UTC */
	struct store_binding b;

	/* alice signs in from 10.0.0.5; her phone's IPv6 address (and an
	 * IPv4-mapped one of a dual-stack listener) follow by its MAC */
	b = binding("10.0.0.5", "02:00:00:00:aa:01", "alice", T, T + 8 * H, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	b = binding("2001:db8::a1", "02:00:00:00:aa:01", "alice", T + H / 2, T + 8 * H, STORE_BINDING_MAC);
	store_submit_binding(s, &b);
	b = binding("::ffff:10.0.0.6", "02:00:00:00:aa:01", "alice", T + H / 2, T + 8 * H, STORE_BINDING_MAC);
	store_submit_binding(s, &b);
	/* a routed client: no neighbour entry, no MAC */
	b = binding("10.9.0.7", NULL, "carol", T, T + 8 * H, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	/* bob signs in from 10.0.0.5 an hour later: alice's row there ends */
	b = binding("10.0.0.5", "02:00:00:00:bb:02", "bob", T + H, T + 8 * H, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	/* another device shows up at 10.0.0.6: alice's binding there ends */
	b = binding("10.0.0.6", "02:00:00:00:aa:01", "alice", T + 2 * H, T + 8 * H, STORE_BINDING_END);
	store_submit_binding(s, &b);
	store_close(s);

	sqlite3 *db = peek_open(&t);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM bindings"), 6);
	ck_assert_int_eq(q1(db, "SELECT until_ms FROM bindings WHERE user = 'alice' AND client = '10.0.0.5'"),
			 T + H);
	ck_assert_int_eq(q1(db, "SELECT until_ms FROM bindings WHERE user = 'bob'"), T + 8 * H);
	ck_assert_int_eq(q1(db, "SELECT until_ms FROM bindings WHERE client = '10.0.0.6' AND how = 'mac'"),
			 T + 2 * H);
	ck_assert_int_eq(q1(db, "SELECT until_ms - since_ms FROM bindings WHERE how = 'end'"), 0);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM bindings WHERE client = '10.9.0.7' AND mac IS NULL"
				" AND how = 'sign-in'"), 1);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM bindings WHERE mac = '02:00:00:00:aa:01'"), 4);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM bindings WHERE day = '2026-01-01'"), 6);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM bindings WHERE client = '2001:db8::a1'"), 1);

	char out[512];
	ck_assert_str_eq(bindings_at(db, T + H / 2, out),
			 "10.0.0.5/02:00:00:00:aa:01/alice/sign-in;10.9.0.7/-/carol/sign-in;"
			 "2001:db8::a1/02:00:00:00:aa:01/alice/mac;10.0.0.6/02:00:00:00:aa:01/alice/mac;");
	ck_assert_str_eq(bindings_at(db, T + 3 * H, out),
			 "10.9.0.7/-/carol/sign-in;2001:db8::a1/02:00:00:00:aa:01/alice/mac;"
			 "10.0.0.5/02:00:00:00:bb:02/bob/sign-in;");
	ck_assert_str_eq(bindings_at(db, T + 8 * H, out), "");
	ck_assert_str_eq(bindings_at(db, T - 1, out), "");
	/* a window: everything that overlaps it */
	out[0] = '\0';
	ck_assert_int_eq(store_bindings_read(db, T - H, T + 9 * H, 1000, binding_seen, out), 5);
	/* bounded */
	out[0] = '\0';
	ck_assert_int_eq(store_bindings_read(db, T - H, T + 9 * H, 2, binding_seen, out), 2);
	/* the MAC address text both ways (common/netaddr.c) */
	static const struct {
		const char *text;
		bool ok;
	} macs[] = {
		{"02:00:00:00:aa:01", true}, {"02:00:00:00:AA:01", true}, {"02:00:00:00:aa:0", false},
		{"02:00:00:00:aa:01:", false}, {"02-00-00-00-aa-01", false}, {"02:00:00:00:aa:0g", false},
		{"", false}, {"02:00:00:00:aa:01 ", false},
	};
	for (size_t i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
		uint8_t m[6];
		char back[18];
		ck_assert_msg(mac_parse(macs[i].text, m) == macs[i].ok, "%s", macs[i].text);
		if (macs[i].ok) {
			mac_format(m, back);
			ck_assert_str_eq(back, "02:00:00:00:aa:01");
		}
	}
	sqlite3_close(db);
	tstore_finish(&t);
}
END_TEST

/* ---- presence ---- */

START_TEST(test_presence)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_opts(&t, NULL);
	int64_t now = now_us();
	store_submit_presence(s, now, "on", now + 3600000000LL, "admin alice", RECORD_SOURCE_PROXY);
	store_submit_presence(s, now + 1000, "detected", 0, "10.0.0.9 (students)", RECORD_SOURCE_SENSOR);
	store_close(s);
	sqlite3 *db = peek_open(&t);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM presence"), 2);
	ck_assert_int_eq(q1(db, "SELECT expires_ms - ts_ms FROM presence WHERE state = 'on'"), 3600000);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM presence WHERE state = 'detected' AND"
				" source = 'sensor' AND expires_ms IS NULL AND cause LIKE '10.0.0.9%'"), 1);
	sqlite3_close(db);
	tstore_finish(&t);
}
END_TEST

/* storeq.c: the store's tables as breaktimed's main thread and the CLI use them */
static void ack_seen(void *ctx, const char *person, const char *platform)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s/%s;", person, platform);
}

START_TEST(test_storeq_presence_and_acks)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_opts(&t, NULL);
	time_t now = time(NULL);
	struct store_presence sp;

	sqlite3 *db = store_db_open(t.db, true, 5000);
	ck_assert_ptr_nonnull(db);
	/* nothing recorded: automatic, no detection */
	ck_assert_int_eq(store_presence_latest(db, now, &sp), 0);
	ck_assert_int_eq(sp.ps.override, PRESENCE_AUTO);
	ck_assert_int_eq(sp.ps.last_detected, 0);
	ck_assert_str_eq(sp.state, "");
	/* a change by hand, as `breaktime presence on --for 1h` records it */
	ck_assert_int_eq(store_presence_add(db, NULL, "on", now + 3600, "Ms Smith (breaktime presence)", "cli"),
			 SQLITE_OK);
	ck_assert_int_eq(store_presence_add(db, NULL, "maybe", 0, "x", "cli"), SQLITE_MISUSE);
	ck_assert_int_eq(store_presence_latest(db, now, &sp), 0);
	ck_assert_int_eq(sp.ps.override, PRESENCE_ON);
	ck_assert_int_eq(sp.ps.override_until, now + 3600);
	ck_assert_str_eq(sp.state, "on");
	ck_assert_str_eq(sp.cause, "Ms Smith (breaktime presence)");
	/* a detection by the sensor, through the writer */
	store_submit_presence(s, (int64_t)now * 1000000, "detected", 0, "10.0.0.9 (students, sensor)",
			      RECORD_SOURCE_SENSOR);
	/* and a continued warning today, through the writer */
	struct record r = rec(RECORD_REQUEST, now_us(), "alice", "www.facebook.com", "facebook", 100, 5);
	r.reason = REASON_WARN_CONTINUED;
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, now_us(), "bob", "www.facebook.com", "facebook", 100, 5);
	store_submit(s, &r); /* allowed, not a continued warning */
	store_close(s);
	ck_assert_int_eq(store_presence_latest(db, now, &sp), 0);
	ck_assert_int_eq(sp.ps.override, PRESENCE_ON);
	ck_assert_int_eq(sp.ps.last_detected, now);
	ck_assert_str_eq(sp.detected_cause, "10.0.0.9 (students, sensor)");
	/* back to automatic: the detection stays */
	ck_assert_int_eq(store_presence_add(db, NULL, "auto", 0, "Ms Smith (web)", "web"), SQLITE_OK);
	ck_assert_int_eq(store_presence_latest(db, now, &sp), 0);
	ck_assert_int_eq(sp.ps.override, PRESENCE_AUTO);
	ck_assert_int_eq(sp.ps.last_detected, now);
	struct tm lt;
	localtime_r(&now, &lt); /* the store's days are the process's zone's without a policy */
	int64_t day = ((int64_t)now + lt.tm_gmtoff) / 86400;
	char seen[256] = "";
	ck_assert_int_eq(store_warn_acks_today(db, day, ack_seen, seen), 1);
	ck_assert_str_eq(seen, "alice/facebook;");
	seen[0] = '\0';
	ck_assert_int_eq(store_warn_acks_today(db, day - 1, ack_seen, seen), 0);
	store_db_close(db);
	/* read-only: no changes by hand */
	db = store_db_open(t.db, false, 1000);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_ne(store_presence_add(db, NULL, "off", 0, "x", "cli"), SQLITE_OK);
	store_db_close(db);
	tstore_finish(&t);
}
END_TEST

/* ---- the Squid access log ---- */

START_TEST(test_accesslog_format)
{
	char line[1024];
	struct record r = rec(RECORD_REQUEST, 1732540000123000LL - 45000, "", "example.com", NULL,
			      1234, 45);
	r.bytes_down = 1234;
	snprintf(r.content_type, sizeof(r.content_type), "text/html");
	accesslog_format(&r, "10.0.0.5", line, sizeof(line));
	ck_assert_str_eq(line, "1732540000.123     45 10.0.0.5 TCP_MISS/200 1234 GET "
			       "http://example.com/ - HIER_DIRECT/example.com text/html\n");

	r = rec(RECORD_TUNNEL, 1732540000000000LL, "alice smith", "www.facebook.com", "facebook",
		0, 60000);
	r.bytes_down = 52000;
	accesslog_format(&r, "10.0.0.5", line, sizeof(line));
	ck_assert_str_eq(line, "1732540060.000  60000 10.0.0.5 TCP_TUNNEL/200 52000 CONNECT "
			       "www.facebook.com:443 alice%20smith HIER_DIRECT/www.facebook.com -\n");

	r = rec(RECORD_BLOCKED, 1732540000000000LL, "bob", "www.tiktok.com", "tiktok", 0, 2);
	r.bytes_down = 1500;
	accesslog_format(&r, "10.0.0.6", line, sizeof(line));
	ck_assert_str_eq(line, "1732540000.002      2 10.0.0.6 TCP_DENIED/403 1500 CONNECT "
			       "www.tiktok.com:443 bob HIER_NONE/- -\n");

	r = rec(RECORD_REQUEST, 1732540000000000LL, "", "example.com", NULL, 0, 3);
	r.status = 0;
	accesslog_format(&r, "10.0.0.5", line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, " TCP_MISS_ABORTED/000 0 GET "));
}
END_TEST

START_TEST(test_accesslog_reopen)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_HOSTS);
	t.conf.store.access_log = t.log;
	struct store *s = open_opts(&t, NULL);
	submit_social(s, 3, now_us());
	ck_assert_int_eq(store_flush(s, 5000), 0);
	char rotated[160];
	snprintf(rotated, sizeof(rotated), "%s.1", t.log);
	ck_assert_int_eq(rename(t.log, rotated), 0);
	store_reopen(s);
	sleep_ms(100);
	submit_social(s, 2, now_us());
	store_close(s);
	struct stat sb;
	ck_assert_int_eq(stat(t.log, &sb), 0);
	FILE *f = fopen(t.log, "r");
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	ck_assert_int_eq(n, 2);
	f = fopen(rotated, "r");
	n = 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	ck_assert_int_eq(n, 3);
	tstore_finish(&t);
}
END_TEST

/* ---- refusals without identity: counted per client, reason and minute ---- */

/* A refusal without identity (a 407, 429 or allow_clients' 403) from
 * 10.0.0.<host> at t_us. */
static struct record refusal(int host, enum reason reason, int64_t t_us)
{
	struct record r = rec(RECORD_BLOCKED, t_us, NULL, "origin.test", NULL, 400, 0);
	struct sockaddr_in *sin = (struct sockaddr_in *)&r.client.u.sa;
	sin->sin_addr.s_addr = htonl(0x0a000000u | (unsigned)host);
	snprintf(r.method, sizeof(r.method), "GET");
	r.port = 80;
	r.status = reason == REASON_AUTH_RATE_LIMITED ? 429 :
		   reason == REASON_CLIENT_NOT_ALLOWED ? 403 : 407;
	r.group[0] = '\0';
	r.reason = reason;
	return r;
}

/* The start of a whole minute some minutes ahead: its refusals stay in the
 * table until close (a minute that is over is written and forgotten as
 * soon as the writer sees it, and a refusal of it arriving later starts a
 * new row — right, but it would make the row counts below depend on the
 * writer's timing). */
static int64_t minute_ahead_us(int minutes)
{
	return (now_us() / 60000000 + minutes) * 60000000;
}

/* Refusals from 3 addresses, 2 reasons, 2 minutes: one or two rows
 * per key whose counts are exactly what was submitted; refusals that carry
 * an identity, and other blocked records, stay rows of their own. */
START_TEST(test_refusals_keyed)
{
	static const enum reason reasons[] = {REASON_AUTH_REQUIRED, REASON_AUTH_FAILED};
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	t.conf.store.access_log = t.log;
	struct store_options o = {.batch_ms = 20};
	struct store *s = open_opts(&t, &o);
	int64_t m0 = minute_ahead_us(5);
	unsigned total = 0;

	for (int m = 0; m < 2; m++)
		for (int host = 1; host <= 3; host++)
			for (int k = 0; k < 2; k++) {
				unsigned n = (unsigned)(100 * host + 10 * k + m + 1);
				for (unsigned i = 0; i < n; i++) {
					struct record r = refusal(host, reasons[k],
								  m0 + m * 60000000LL + i * 1000);
					store_submit(s, &r);
				}
				total += n;
			}
	/* an identified person's 407 is not counted in, nor a policy block */
	struct record who = refusal(1, REASON_AUTH_FAILED, m0 + 5000);
	snprintf(who.user, sizeof(who.user), "alice");
	store_submit(s, &who);
	struct record pol = rec(RECORD_BLOCKED, m0, NULL, "www.tiktok.com", "tiktok", 0, 2);
	store_submit(s, &pol);
	store_close(s);

	sqlite3 *db = peek_open(&t);
	ck_assert_int_eq(q1(db, "SELECT sum(count) FROM events WHERE user IS NOT 'alice' AND "
				"reason IN ('auth-required', 'auth-failed')"), total);
	for (int m = 0; m < 2; m++)
		for (int host = 1; host <= 3; host++)
			for (int k = 0; k < 2; k++) {
				char sql[512];
				snprintf(sql, sizeof(sql),
					 "SELECT sum(count), count(*), max(client = user), min(status),"
					 " max(duration_ms) FROM events WHERE client = '10.0.0.%d' AND"
					 " reason = '%s' AND ts_ms / 60000 = %lld AND user IS NOT 'alice'",
					 host, verdict_reason_name(reasons[k]), (long long)(m0 / 60000000) + m);
				sqlite3_stmt *st;
				ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
				ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
				ck_assert_int_eq(sqlite3_column_int(st, 0), 100 * host + 10 * k + m + 1);
				ck_assert_int_ge(sqlite3_column_int(st, 1), 1);
				ck_assert_int_le(sqlite3_column_int(st, 1), 2);
				ck_assert_int_eq(sqlite3_column_int(st, 2), 1);  /* user: the address */
				ck_assert_int_eq(sqlite3_column_int(st, 3), 407);
				ck_assert_int_lt(sqlite3_column_int(st, 4), 1000); /* first to last */
				sqlite3_finalize(st);
			}
	int64_t rows = q1(db, "SELECT count(*) FROM events WHERE user IS NOT 'alice' AND "
			      "reason IN ('auth-required', 'auth-failed')");
	ck_assert_int_le(rows, 24);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM events WHERE user = 'alice'"), 1);
	ck_assert_int_eq(q1(db, "SELECT count FROM events WHERE user = 'alice'"), 1);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM events WHERE reason = 'outside-allowed-time'"), 1);
	sqlite3_close(db);

	/* one access.log line per row */
	FILE *f = fopen(t.log, "r");
	ck_assert_ptr_nonnull(f);
	char line[1024];
	int64_t lines = 0;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	ck_assert_int_eq(lines, rows + 2);
	tstore_finish(&t);
}
END_TEST

/* The stats: what was counted in, the rows that count it, and nothing
 * dropped or lost; a new key is a row at once, the rest of its minute
 * waits for the minute's end (or a flush). */
START_TEST(test_refusals_first_row_at_once)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.batch_ms = 20};
	struct store *s = open_opts(&t, &o);
	/* not within 5 s of a minute's end: the minute must last the test */
	while (now_us() % 60000000 > 54000000)
		sleep_ms(200);

	struct record r = refusal(7, REASON_AUTH_REQUIRED, now_us());
	store_submit(s, &r);
	WAIT_FOR(s, st_.aggregate_rows >= 1, 5000);
	ck_assert_int_eq(count(&t, "SELECT sum(count) FROM events WHERE client = '10.0.0.7'"), 1);
	for (int i = 0; i < 9; i++) {
		r = refusal(7, REASON_AUTH_REQUIRED, now_us());
		store_submit(s, &r);
	}
	sleep_ms(300);
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_eq(st.aggregated, 10);
	ck_assert_uint_eq(st.aggregating, 9);
	ck_assert_uint_eq(st.aggregate_rows, 1);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 1);

	ck_assert_int_eq(store_flush(s, 5000), 0);
	store_stats(s, &st);
	ck_assert_uint_eq(st.aggregating, 0);
	ck_assert_uint_eq(st.aggregate_rows, 2);
	ck_assert_uint_eq(st.written, 10);
	ck_assert_int_eq(count(&t, "SELECT sum(count) FROM events WHERE client = '10.0.0.7'"), 10);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 2);

	/* and on close, whatever the minute holds */
	for (int i = 0; i < 5; i++) {
		r = refusal(8, REASON_CLIENT_NOT_ALLOWED, now_us());
		store_submit(s, &r);
	}
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT sum(count) FROM events WHERE client = '10.0.0.8' AND "
				   "status = 403"), 5);
	ck_assert_int_eq(count(&t, "SELECT sum(count) FROM events"), 15);
	tstore_finish(&t);
}
END_TEST

/* The table is bounded: past refusal_keys keys, the minute's refusals of
 * further clients go into one "other clients" row per reason (no address),
 * so nothing is lost and memory stays fixed. */
START_TEST(test_refusals_bounded)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.batch_ms = 20, .refusal_keys = 16};
	struct store *s = open_opts(&t, &o);
	int64_t m0 = minute_ahead_us(5);
	for (int host = 1; host <= 200; host++)
		for (int i = 0; i < 3; i++) {
			struct record r = refusal(host, i == 2 ? REASON_AUTH_RATE_LIMITED : REASON_AUTH_REQUIRED,
						  m0 + host * 1000 + i);
			store_submit(s, &r);
		}
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_eq(st.aggregated, 600);
	ck_assert_uint_eq(st.dropped, 0);
	store_close(s);

	ck_assert_int_eq(count(&t, "SELECT sum(count) FROM events"), 600);
	ck_assert_int_le(count(&t, "SELECT count(DISTINCT client) FROM events WHERE client IS NOT NULL"), 16);
	ck_assert_int_gt(count(&t, "SELECT sum(count) FROM events WHERE client IS NULL"), 500);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events WHERE client IS NULL AND "
				   "(user IS NOT NULL OR host IS NOT NULL)"), 0);
	ck_assert_int_eq(count(&t, "SELECT count(DISTINCT reason) FROM events WHERE client IS NULL"), 2);
	ck_assert_int_le(count(&t, "SELECT count(*) FROM events"), 2 * (16 + 2));
	tstore_finish(&t);
}
END_TEST

/* The point of it all: a flood of refusals while the writer cannot write
 * takes no queue slot, so the records of identified people still fit. */
START_TEST(test_refusals_take_no_slot)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.queue_len = 64, .hold_bytes = 1, .batch_records = 10};
	struct store *s = open_opts(&t, &o);
	sqlite3 *other = peek_open(&t);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

	for (int i = 0; i < 20000; i++) {
		struct record r = refusal(1 + i % 50, REASON_AUTH_REQUIRED, now_us());
		store_submit(s, &r);
	}
	submit_social(s, 60, now_us());
	struct store_stats st;
	store_stats(s, &st);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.aggregated, 20000);

	ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events WHERE user = 'alice'"), 60);
	ck_assert_int_eq(count(&t, "SELECT sum(count) FROM events WHERE reason = 'auth-required'"), 20000);
	ck_assert_int_le(count(&t, "SELECT count(*) FROM events WHERE reason = 'auth-required'"), 4 * 50);
	tstore_finish(&t);
}
END_TEST

/* ---- stored text keeps only what each field's grammar allows (safetext.h) ---- */

START_TEST(test_safetext_fields)
{
	static const struct {
		char *(*fn)(const char *, char *, size_t);
		const char *in, *want;
	} cases[] = {
		{safetext_token, "GET", "GET"},
		{safetext_token, "M-SEARCH", "M-SEARCH"},
		{safetext_token, "=1+1\r\n\x1b[31mX", ""},
		{safetext_token, "GE T", ""},
		{safetext_token, "G\x7f", ""},
		{safetext_token, "", ""},
		{safetext_host, "www.facebook.com", "www.facebook.com"},
		{safetext_host, "2001:db8::1", "2001:db8::1"},
		{safetext_host, "[::1]", "[::1]"},
		{safetext_host, "my_host.lan", "my_host.lan"},
		{safetext_host, "www.\x1b[2Jfacebook.com", ""},
		{safetext_host, "a b", ""},
		{safetext_host, "\xc3\xa9t\xc3\xa9.fr", ""},
		{safetext_name, "alice", "alice"},
		{safetext_name, "SCHOOL\\alice", "SCHOOL\\alice"},
		{safetext_name, "Zo\xc3\xab \xe6\x97\xa5", "Zo\xc3\xab \xe6\x97\xa5"},
		{safetext_name, "\x1b[31mX", "?[31mX"},
		{safetext_name, "a\tb\nc\rd\x7f", "a?b?c?d?"},
		{safetext_name, "c1 \xc2\x9b" "1m", "c1 ?1m"},      /* U+009B CSI */
		{safetext_name, "lone \x9b" "1m", "lone ?1m"},      /* 8-bit CSI */
		{safetext_name, "bad \xc3(", "bad ?("},
		{safetext_name, "overlong \xc0\xaf", "overlong ??"},
		{safetext_name, "surrogate \xed\xa0\x80", "surrogate ???"},
		{safetext_uri, "http://x/a b", "http://x/a%20b"},
		{safetext_uri, "http://x/\x1b[1m\t\x7f\xff", "http://x/%1B[1m%09%7F%FF"},
		{safetext_uri, "http://x/%41?q=1", "http://x/%41?q=1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];
		memset(out, 'Z', sizeof(out));
		ck_assert_ptr_eq(cases[i].fn(cases[i].in, out, sizeof(out)), out);
		ck_assert_msg(strcmp(out, cases[i].want) == 0, "case %zu: \"%s\" -> \"%s\", want \"%s\"",
			      i, cases[i].in, out, cases[i].want);
	}
	/* cut short, never overflowed, never inside a UTF-8 sequence or an escape */
	char small[6];
	ck_assert_str_eq(safetext_name("ab\xe6\x97\xa5\xe6\x97\xa5", small, sizeof(small)), "ab\xe6\x97\xa5");
	ck_assert_str_eq(safetext_name("abcd\xe6\x97\xa5", small, sizeof(small)), "abcd");
	ck_assert_str_eq(safetext_uri("abc\x01" "d", small, sizeof(small)), "abc");
	ck_assert_str_eq(safetext_uri("a\x01" "bcd", small, sizeof(small)), "a%01b");
	ck_assert_str_eq(safetext_token("GETGETGET", small, sizeof(small)), ""); /* a token is whole or not at all */
	ck_assert_str_eq(safetext_name(NULL, small, sizeof(small)), "");
}
END_TEST

START_TEST(test_terminal_escape)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"alice", "alice"},
		{"\x1b[31mX", "\\x1b[31mX"},
		{"a\tb\nc", "a\\x09b\\x0ac"},
		{"del\x7f", "del\\x7f"},
		{"c1 \xc2\x9b", "c1 \\xc2\\x9b"},
		{"lone \x9b", "lone \\x9b"},
		{"Zo\xc3\xab \xe6\x97\xa5", "Zo\xc3\xab \xe6\x97\xa5"},
		{"SCHOOL\\alice", "SCHOOL\\alice"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		ck_assert_ptr_nonnull(f);
		safetext_fputs(cases[i].in, f);
		fclose(f);
		ck_assert_msg(strcmp(buf, cases[i].want) == 0, "case %zu: -> \"%s\", want \"%s\"", i, buf,
			      cases[i].want);
		ck_assert_uint_eq(safetext_shown_len(cases[i].in), strlen(buf));
		free(buf);
	}
}
END_TEST

/* A record whose text fields carry raw bytes (a malformed request line, a
 * hostile user name): the events and usage rows hold only clean text. */
START_TEST(test_stored_text_clean)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_HOSTS);
	struct store *s = open_opts(&t, NULL);
	struct record r = rec(RECORD_REQUEST, now_us(), "al\x1b[31mice", "www.facebook.com", "facebook",
			      1000, 5);
	snprintf(r.method, sizeof(r.method), "=1+1\r\n\x1b[31mX");
	snprintf(r.group, sizeof(r.group), "st\x07" "aff");
	store_submit(s, &r);
	r = rec(RECORD_BLOCKED, now_us(), "bob", "x\x1b.example", NULL, 0, 1);
	snprintf(r.sni, sizeof(r.sni), "evil\r\n.example");
	store_submit(s, &r);
	ck_assert_int_eq(store_flush(s, 10000), 0);
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events"), 2);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events WHERE user = 'al?[31mice' AND "
			 "grp = 'st?aff' AND method IS NULL AND host = 'www.facebook.com'"), 1);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events WHERE user = 'bob' AND host IS NULL "
			 "AND sni IS NULL AND method = 'CONNECT'"), 1);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM usage_minutes WHERE user = 'al?[31mice'"), 1);
	/* nothing anywhere holds a control byte */
	static const char *const sql[] = {
		"SELECT count(*) FROM events WHERE user GLOB '*[\x01-\x1f\x7f]*' OR grp GLOB "
		"'*[\x01-\x1f\x7f]*' OR method GLOB '*[\x01-\x1f\x7f]*' OR host GLOB '*[\x01-\x1f\x7f]*' "
		"OR sni GLOB '*[\x01-\x1f\x7f]*'",
		"SELECT count(*) FROM usage_minutes WHERE user GLOB '*[\x01-\x1f\x7f]*' OR grp GLOB "
		"'*[\x01-\x1f\x7f]*'",
	};
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(count(&t, sql[i]), 0);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_accesslog_clean)
{
	char line[1024];
	struct record r = rec(RECORD_REQUEST, 1732540000000000LL, "al\x1bice", "www.\x1b.example", NULL, 10, 1);
	snprintf(r.method, sizeof(r.method), "=1+1\r\n\x1b[31mX");
	snprintf(r.uri, sizeof(r.uri), "http://x.example/a\tb\x1b[2J\xc2\x9b");
	snprintf(r.content_type, sizeof(r.content_type), "text/html\x1b\xc2\x9b");
	size_t n = accesslog_format(&r, "10.0.0.5", line, sizeof(line));
	ck_assert_uint_eq(n, strlen(line));
	for (size_t i = 0; i + 1 < n; i++)
		ck_assert_msg((unsigned char)line[i] >= 0x20 && (unsigned char)line[i] < 0x7f,
			      "byte 0x%02x at %zu of %s", (unsigned char)line[i], i, line);
	ck_assert_ptr_nonnull(strstr(line, " NONE http://x.example/a%09b%1B[2J%C2%9B al%1Bice HIER_DIRECT/- "));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("schema");
	tcase_add_test(tc, test_schema_from_empty);
	tcase_add_test(tc, test_schema_from_v1);
	tcase_add_test(tc, test_schema_newer_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("queue");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_drain_on_close);
	tcase_add_test(tc, test_batch_by_count);
	tcase_add_test(tc, test_batch_by_time);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_batch_larger_than_queue);
	tcase_add_test(tc, test_shutdown_producers);
	suite_add_tcase(s, tc);

	tc = tcase_create("log_other");
	tcase_add_loop_test(tc, test_log_other, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_locked_database);
	tcase_add_test(tc, test_full_database);
	tcase_add_test(tc, test_conf_tuning);
	tcase_add_test(tc, test_close_gives_up);
	suite_add_tcase(s, tc);

	tc = tcase_create("retention");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_retention);
	tcase_add_test(tc, test_presence);
	tcase_add_test(tc, test_bindings);
	tcase_add_test(tc, test_storeq_presence_and_acks);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_refusals_keyed);
	tcase_add_test(tc, test_refusals_first_row_at_once);
	tcase_add_test(tc, test_refusals_bounded);
	tcase_add_test(tc, test_refusals_take_no_slot);
	suite_add_tcase(s, tc);

	tc = tcase_create("accesslog");
	tcase_add_test(tc, test_accesslog_format);
	tcase_add_test(tc, test_accesslog_reopen);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_test(tc, test_safetext_fields);
	tcase_add_test(tc, test_terminal_escape);
	tcase_add_test(tc, test_stored_text_clean);
	tcase_add_test(tc, test_accesslog_clean);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
