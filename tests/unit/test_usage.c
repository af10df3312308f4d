/*
 * Unit tests: active minutes — how records are split into (local day,
 * minute) pieces across minute and midnight boundaries and daylight-saving
 * changes, the active_bytes threshold over long tunnels reported minute by
 * minute, purposes, and today's in-memory table (queries, restore at start,
 * a new day).
 */
#include "store_internal.h"
#include "test_store_util.h"

static int32_t zone_utc(void *ctx, int64_t t)
{
	(void)ctx;
	(void)t;
	return 0;
}

/* Europe/London around the end of summer time 2025: BST (+1) until
 * 2025-10-26 01:00 UTC, GMT after. */
static int32_t zone_london_autumn(void *ctx, int64_t t)
{
	(void)ctx;
	return t < 1761440400 ? 3600 : 0;
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			.tm_hour = h, .tm_min = mi, .tm_sec = s};
	return (int64_t)timegm(&tm);
}

static int64_t day_of(int y, int mo, int d)
{
	return utc(y, mo, d, 0, 0, 0) / 86400;
}

static struct store *open_zone(struct tstore *t, store_utc_offset_fn *fn)
{
	struct store_options o = {.utc_offset = fn, .no_purge_timer = true};
	struct store *s = store_open_opts(&t->conf, &o);
	ck_assert_ptr_nonnull(s);
	return s;
}

static struct record progress(int64_t start_us, uint32_t ms, uint64_t bytes, const char *platform)
{
	struct record r = rec(RECORD_TUNNEL_PROGRESS, start_us, "alice", "www.instagram.com",
			      platform, bytes, ms);
	return r;
}

/* ---- splitting records into minutes ---- */

START_TEST(test_split)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_zone(&t, zone_utc);
	struct usage_piece p[16];
	int64_t d = day_of(2025, 3, 10);
	int64_t t0 = utc(2025, 3, 10, 10, 0, 30) * 1000000;

	/* a request: its minute, once */
	struct record r = rec(RECORD_REQUEST, t0, "alice", "x.com", "x", 5000, 10);
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 1);
	ck_assert_int_eq(p[0].day, d);
	ck_assert_int_eq(p[0].minute, 600);
	ck_assert_uint_eq(p[0].requests, 1);
	ck_assert_uint_eq(p[0].bytes, 5000);

	/* started at :59.9, answered in the next minute: counted where it started */
	r = rec(RECORD_REQUEST, t0 + 29900000, "alice", "x.com", "x", 5000, 400);
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 2);
	ck_assert_int_eq(p[0].minute, 600);
	ck_assert_uint_eq(p[0].requests, 1);
	ck_assert_uint_eq(p[0].bytes, 0);
	ck_assert_int_eq(p[1].minute, 601);
	ck_assert_uint_eq(p[1].requests, 0);
	ck_assert_uint_eq(p[1].bytes, 5000);

	/* a progress interval from one minute tick to the next (timer a bit late) */
	r = progress(utc(2025, 3, 10, 10, 0, 0) * 1000000 + 1000, 60001, 7000, "instagram");
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 1);
	ck_assert_int_eq(p[0].minute, 600);
	ck_assert_uint_eq(p[0].bytes, 7000);
	ck_assert_uint_eq(p[0].requests, 0);

	/* a long interval is spread evenly: 10:00:30 to 10:03:30 */
	r = progress(t0, 180000, 1800, "instagram");
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 4);
	ck_assert_int_eq(p[0].minute, 600);
	ck_assert_uint_eq(p[0].bytes, 300);
	ck_assert_int_eq(p[1].minute, 601);
	ck_assert_uint_eq(p[1].bytes, 600);
	ck_assert_int_eq(p[2].minute, 602);
	ck_assert_uint_eq(p[2].bytes, 600);
	ck_assert_int_eq(p[3].minute, 603);
	ck_assert_uint_eq(p[3].bytes, 300);

	/* longer than the pieces we have room for: the rest folds into the last */
	r = progress(t0, 3600000, 3600, "instagram");
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 16);
	uint64_t sum = 0;
	for (int i = 0; i < 16; i++)
		sum += p[i].bytes;
	ck_assert_uint_eq(sum, 3600);

	/* nothing moved, nothing to count (a tunnel has no request) */
	r = progress(t0, 1000, 0, "instagram");
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 0);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_split_midnight)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_zone(&t, zone_utc);
	struct usage_piece p[16];
	int64_t d = day_of(2025, 3, 10);

	/* 23:59:50 for 20 s: the request on the old day, its bytes on the new */
	struct record r = rec(RECORD_REQUEST, utc(2025, 3, 10, 23, 59, 50) * 1000000, "alice",
			      "x.com", "x", 100, 20000);
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 2);
	ck_assert_int_eq(p[0].day, d);
	ck_assert_int_eq(p[0].minute, 1439);
	ck_assert_uint_eq(p[0].requests, 1);
	ck_assert_int_eq(p[1].day, d + 1);
	ck_assert_int_eq(p[1].minute, 0);
	ck_assert_uint_eq(p[1].bytes, 100);

	/* a tunnel reporting late across midnight: 23:58 to 00:02 */
	r = progress(utc(2025, 3, 10, 23, 58, 0) * 1000000, 240000, 4000, "instagram");
	ck_assert_uint_eq(usage_split(s, &r, p, 16), 4);
	ck_assert_int_eq(p[0].day, d);
	ck_assert_int_eq(p[0].minute, 1438);
	ck_assert_int_eq(p[1].day, d);
	ck_assert_int_eq(p[1].minute, 1439);
	ck_assert_int_eq(p[2].day, d + 1);
	ck_assert_int_eq(p[2].minute, 0);
	ck_assert_int_eq(p[3].day, d + 1);
	ck_assert_int_eq(p[3].minute, 1);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(p[i].bytes, 1000);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_split_dst)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_zone(&t, zone_london_autumn);
	struct usage_piece p[4];
	int64_t d = day_of(2025, 10, 26);

	/* 23:30 UTC on the 25th is 00:30 BST on the 26th: the local day */
	struct record r = rec(RECORD_REQUEST, utc(2025, 10, 25, 23, 30, 0) * 1000000, "alice",
			      "x.com", "x", 0, 1);
	ck_assert_uint_eq(usage_split(s, &r, p, 4), 1);
	ck_assert_int_eq(p[0].day, d);
	ck_assert_int_eq(p[0].minute, 30);
	/* 01:30 BST and 01:30 GMT an hour later read the same on the wall */
	r.start_us = utc(2025, 10, 26, 0, 30, 0) * 1000000;
	usage_split(s, &r, p, 4);
	ck_assert_int_eq(p[0].day, d);
	ck_assert_int_eq(p[0].minute, 90);
	r.start_us = utc(2025, 10, 26, 1, 30, 0) * 1000000;
	usage_split(s, &r, p, 4);
	ck_assert_int_eq(p[0].day, d);
	ck_assert_int_eq(p[0].minute, 90);
	/* and the last minute of that 25-hour day */
	r.start_us = utc(2025, 10, 26, 23, 59, 0) * 1000000;
	usage_split(s, &r, p, 4);
	ck_assert_int_eq(p[0].day, d);
	ck_assert_int_eq(p[0].minute, 1439);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

/* ---- minutes in the store ---- */

START_TEST(test_minutes_long_tunnel)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_zone(&t, zone_utc);
	int64_t m0 = utc(2025, 3, 10, 10, 0, 0) * 1000000 + 1000; /* minute ticks, 1 ms late */
	int64_t min = 60000000;
	struct record r;

	/* one tunnel, reported minute by minute (and its close) */
	r = progress(m0 - 20 * 1000000, 20000, 5000, "instagram"); /* opened 09:59:40 */
	store_submit(s, &r);
	r = progress(m0, 60000, 100, "instagram");                  /* 10:00 heartbeat only */
	store_submit(s, &r);
	r = progress(m0 + min, 60000, 1500, "instagram");           /* 10:01 ... */
	store_submit(s, &r);
	r = progress(m0 + 2 * min, 60000, 2048, "instagram");       /* 10:02 exactly the threshold */
	store_submit(s, &r);
	/* 10:03 nothing moved: no record */
	r = progress(m0 + 4 * min, 60000, 2047, "instagram");       /* 10:04 one byte short */
	store_submit(s, &r);
	r = progress(m0 + 5 * min, 10000, 900, "instagram");        /* the rest, at close */
	store_submit(s, &r);
	r = rec(RECORD_TUNNEL, m0 - 20 * 1000000, "alice", "www.instagram.com", "instagram",
		5000 + 100 + 1500 + 2048 + 2047 + 900, 330000);
	store_submit(s, &r);
	/* a second connection in 10:01: together above the threshold */
	r = progress(m0 + min + 5000000, 30000, 1500, "instagram");
	store_submit(s, &r);
	/* a request to another platform at 10:10, a blocked one at 10:20 */
	r = rec(RECORD_REQUEST, m0 + 10 * min, "alice", "www.facebook.com", "facebook", 300, 5);
	store_submit(s, &r);
	r = rec(RECORD_BLOCKED, m0 + 20 * min, "alice", "www.tiktok.com", "tiktok", 0, 5);
	store_submit(s, &r);
	/* organisational use at 10:30 */
	r = rec(RECORD_REQUEST, m0 + 30 * min, "alice", "www.facebook.com", "facebook", 300, 5);
	r.reason = REASON_ORGANISATIONAL;
	store_submit(s, &r);
	store_close(s);

	sqlite3 *db = peek_open(&t);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM events"), 4);
	/* the minutes that count: 09:59, 10:01, 10:02, 10:10 (personal), 10:30 (not) */
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT group_concat(minute, ',') FROM (SELECT minute FROM active_minutes"
			       " WHERE user = 'alice' AND day = '2025-03-10' AND personal ORDER BY minute)",
			   -1, &st, NULL);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "599,601,602,610");
	sqlite3_finalize(st);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM active_minutes WHERE minute = 630 AND NOT personal"), 1);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM usage_minutes WHERE minute = 630"
				" AND purpose = 'organisational'"), 1);
	/* the quiet minutes are kept with their bytes, not active */
	ck_assert_int_eq(q1(db, "SELECT bytes FROM usage_minutes WHERE minute = 600 AND NOT active"), 100);
	ck_assert_int_eq(q1(db, "SELECT bytes FROM usage_minutes WHERE minute = 604 AND NOT active"), 2047);
	ck_assert_int_eq(q1(db, "SELECT bytes FROM usage_minutes WHERE minute = 601"), 3000);
	/* the tunnel's bytes counted once (progress), not again at close */
	ck_assert_int_eq(q1(db, "SELECT sum(bytes) FROM usage_minutes WHERE platform = 'instagram'"),
			 5000 + 100 + 3000 + 2048 + 2047 + 900);
	ck_assert_int_eq(q1(db, "SELECT count(*) FROM usage_minutes WHERE platform = 'tiktok'"), 0);
	ck_assert_int_eq(q1(db, "SELECT requests FROM usage_minutes WHERE minute = 610"), 1);
	sqlite3_close(db);
	tstore_finish(&t);
}
END_TEST

/* Bytes of one minute arriving in different batches still add up to active. */
START_TEST(test_minutes_across_batches)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_zone(&t, zone_utc);
	int64_t m0 = utc(2025, 3, 10, 10, 0, 0) * 1000000 + 1000;
	struct record r = progress(m0, 30000, 1500, "instagram");
	store_submit(s, &r);
	ck_assert_int_eq(store_flush(s, 5000), 0);
	ck_assert_int_eq(count(&t, "SELECT active FROM usage_minutes WHERE minute = 600"), 0);
	r = progress(m0 + 30000000, 30000, 1000, "instagram");
	store_submit(s, &r);
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT active FROM usage_minutes WHERE minute = 600"), 1);
	ck_assert_int_eq(count(&t, "SELECT bytes FROM usage_minutes WHERE minute = 600"), 2500);
	tstore_finish(&t);
}
END_TEST

/* ---- today's table ---- */

START_TEST(test_today)
{
	/* the test spans a few minutes of today (UTC): not across midnight */
	while (now_us() / 1000000 % 86400 > 86400 - 300)
		sleep_ms(1000);
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store *s = open_zone(&t, zone_utc);
	int64_t now = now_us();
	int64_t minute_start = now / 60000000 * 60000000;
	time_t now_s = (time_t)(now / 1000000);
	struct record r;
	struct store_usage u;

	ck_assert_int_eq(store_usage_today(s, "alice", NULL, now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 0);

	/* facebook and instagram in the same minute, organisational twitter in
	 * the one before, an unidentified client */
	r = rec(RECORD_REQUEST, minute_start, "alice", "www.facebook.com", "facebook", 500, 5);
	store_submit(s, &r);
	r = progress(minute_start, 1000, 10000, "instagram");
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, minute_start - 60000000, "alice", "twitter.com", "twitter", 500, 5);
	r.reason = REASON_ORGANISATIONAL;
	store_submit(s, &r);
	r = rec(RECORD_REQUEST, minute_start, "", "www.facebook.com", "facebook", 500, 5);
	store_submit(s, &r);
	ck_assert_int_eq(store_flush(s, 5000), 0);

	ck_assert_int_eq(store_usage_today(s, "alice", NULL, now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 1); /* each minute once */
	ck_assert_uint_eq(u.day_requests, 2);
	ck_assert_uint_eq(u.day_bytes, 11000);
	ck_assert_int_eq(store_usage_today(s, "alice", "facebook", now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 1);
	ck_assert_int_eq(store_usage_today(s, "alice", "instagram", now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 1);
	ck_assert_int_eq(store_usage_today(s, "alice", "twitter", now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 0); /* organisational: not against an allowance */
	ck_assert_uint_eq(u.day_requests, 1);
	ck_assert_int_eq(store_usage_today(s, "10.0.0.5", NULL, now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 1);
	ck_assert_int_eq(store_usage_today(s, "nobody", NULL, now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 0);
	/* since: the start of a break */
	ck_assert_int_eq(store_usage_today(s, "alice", NULL, now_s, (time_t)(minute_start / 1000000),
					   &u), 0);
	ck_assert_uint_eq(u.since_minutes, 1);
	ck_assert_int_eq(store_usage_today(s, "alice", NULL, now_s, now_s + 120, &u), 0);
	ck_assert_uint_eq(u.since_minutes, 0);
	ck_assert_int_eq(store_usage_today(s, "alice", NULL, now_s, now_s - 3 * 86400, &u), 0);
	ck_assert_uint_eq(u.since_minutes, 1);
	/* another day is not in the table */
	ck_assert_int_eq(store_usage_today(s, "alice", NULL, now_s + 86400, 0, &u), -1);
	ck_assert_uint_eq(u.day_minutes, 0);
	store_close(s);

	/* a restart: today comes back from the store */
	s = open_zone(&t, zone_utc);
	ck_assert_int_eq(store_usage_today(s, "alice", NULL, now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 1);
	ck_assert_uint_eq(u.day_bytes, 11000);
	ck_assert_int_eq(store_usage_today(s, "alice", "twitter", now_s, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 0);
	/* and keeps counting: a heartbeat, then enough bytes in the same minute */
	r = progress(minute_start + 120000000, 1000, 1000, "instagram");
	store_submit(s, &r);
	ck_assert_int_eq(store_flush(s, 5000), 0);
	ck_assert_int_eq(store_usage_today(s, "alice", "instagram", now_s + 180, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 1);
	store_submit(s, &r);
	store_submit(s, &r);
	ck_assert_int_eq(store_flush(s, 5000), 0);
	ck_assert_int_eq(store_usage_today(s, "alice", "instagram", now_s + 180, 0, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 2);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(test_today_new_day)
{
	struct usage_today *t = usage_today_create(2048);
	struct store_usage u;
	usage_today_set_day(t, 20000);
	ck_assert(usage_today_add(t, "alice", "facebook", PURPOSE_PERSONAL, 1439, 0, 1, false));
	ck_assert(!usage_today_add(t, "alice", "instagram", PURPOSE_PERSONAL, 0, 2000, 0, false));
	ck_assert(usage_today_add(t, "alice", "instagram", PURPOSE_PERSONAL, 0, 48, 0, false));
	ck_assert(!usage_today_add(t, "alice", "instagram", PURPOSE_PERSONAL, 5, 10, 0, false));
	ck_assert(usage_today_add(t, "alice", "instagram", PURPOSE_SANCTIONED, 7, 0, 1, false));
	ck_assert_int_eq(usage_today_query(t, "alice", NULL, 20000, 1000, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 2);
	ck_assert_uint_eq(u.since_minutes, 1);
	ck_assert_uint_eq(u.day_bytes, 2058);
	/* midnight: yesterday's minutes no longer count */
	usage_today_set_day(t, 20001);
	ck_assert_int_eq(usage_today_query(t, "alice", NULL, 20000, -1, &u), -1);
	ck_assert_int_eq(usage_today_query(t, "alice", NULL, 20001, -1, &u), 0);
	ck_assert_uint_eq(u.day_minutes, 0);
	ck_assert_uint_eq(u.day_bytes, 0);
	/* many users (the table grows) */
	char name[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		usage_today_add(t, name, "facebook", PURPOSE_PERSONAL, i % 1440, 0, 1, false);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		ck_assert_int_eq(usage_today_query(t, name, "facebook", 20001, -1, &u), 0);
		ck_assert_uint_eq(u.day_minutes, 1);
	}
	usage_today_destroy(t);
}
END_TEST

/* Whom a record counts for: the user, else the address as enforcement
 * would look it up. */
START_TEST(test_user_key)
{
	struct sockaddr_storage ss;
	char buf[64];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	ck_assert_str_eq(store_user_key("alice", (struct sockaddr *)&ss, buf, sizeof(buf)), "alice");
	ck_assert_str_eq(store_user_key("", (struct sockaddr *)&ss, buf, sizeof(buf)), "-");
	s6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:10.0.0.7", &s6->sin6_addr);
	ck_assert_str_eq(store_user_key(NULL, (struct sockaddr *)&ss, buf, sizeof(buf)), "10.0.0.7");
	inet_pton(AF_INET6, "2001:db8::7", &s6->sin6_addr);
	ck_assert_str_eq(store_user_key(NULL, (struct sockaddr *)&ss, buf, sizeof(buf)), "2001:db8::7");
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.0.5", &s4->sin_addr);
	ck_assert_str_eq(store_user_key("", (struct sockaddr *)&ss, buf, sizeof(buf)), "10.0.0.5");
}
END_TEST

/* active_bytes = 0: any traffic makes a minute active */
START_TEST(test_threshold_zero)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	t.conf.store.active_bytes = 0;
	struct store *s = open_zone(&t, zone_utc);
	struct record r = progress(utc(2025, 3, 10, 10, 0, 0) * 1000000, 1000, 1, "instagram");
	store_submit(s, &r);
	store_close(s);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM active_minutes"), 1);
	tstore_finish(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("usage");
	TCase *tc = tcase_create("split");
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_split_midnight);
	tcase_add_test(tc, test_split_dst);
	suite_add_tcase(s, tc);

	tc = tcase_create("minutes");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_minutes_long_tunnel);
	tcase_add_test(tc, test_minutes_across_batches);
	tcase_add_test(tc, test_threshold_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("today");
	tcase_set_timeout(tc, 400);
	tcase_add_test(tc, test_today);
	tcase_add_test(tc, test_today_new_day);
	tcase_add_test(tc, test_user_key);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
