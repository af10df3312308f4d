/*
 * Unit tests: the proxy's sessions — the store writer's `sessions` table
 * (logger/) and breaktime-sensor's in-memory view of it (sensor/sessions.c)
 * — and intercept mode's bindings the same way (the writer's `bindings`
 * table, sensor/signins.c: by address and by MAC address, from since to
 * until, an address's binding ended by a newer one)
 * — with the real writer thread: records the proxy submits (store_submit)
 * are what the sensor reads back: identified users by client address,
 * within the window, whatever log_other keeps of the events, never rows
 * from the future of the sensor's clock, never unidentified clients or the
 * sensor's own rows; a person's requests minutes apart are one row.
 */
/* the store tests' helpers; not every one is used here */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_store_util.h"

#include "sessions.h"
#include "signins.h"

#define T0 1767225600000000LL   /* 2026-01-01T00:00:00Z */
#define MIN 60000000LL

static struct record from(const char *client, const char *user, int64_t at_us,
			  enum record_source source)
{
	struct record r = rec(RECORD_REQUEST, at_us, user, "www.facebook.com", "facebook", 4000, 200);
	r.source = source;
	if (strchr(client, ':')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r.client.u.sa;
		memset(&r.client, 0, sizeof(r.client));
		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, client, &sin6->sin6_addr);
		r.client.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&r.client.u.sa;
		inet_pton(AF_INET, client, &sin->sin_addr);
	}
	return r;
}

static const char *who(const struct sessions *ss, const char *client, int64_t at_us)
{
	uint8_t a[16] = {0};
	int family = strchr(client, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(family, client, a), 1);
	return sessions_user(ss, family, a, at_us);
}

static void submit(struct store *s, struct record r)
{
	store_submit(s, &r);
}

START_TEST(sessions_from_the_store)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.no_purge_timer = true};
	struct store *s = store_open_opts(&t.conf, &o);
	ck_assert_ptr_nonnull(s);
	/* a day ago: many rows the first refresh seeks past */
	for (int i = 0; i < 3000; i++) {
		char c[32];
		snprintf(c, sizeof(c), "10.1.%d.%d", i / 250, i % 250);
		submit(s, from(c, "old", T0 - 1440 * MIN + i * 1000, RECORD_SOURCE_PROXY));
	}
	submit(s, from("10.0.0.5", "alice", T0 - 2 * MIN, RECORD_SOURCE_PROXY));
	submit(s, from("10.0.0.7", NULL, T0 - 2 * MIN, RECORD_SOURCE_PROXY));       /* unidentified */
	submit(s, from("10.0.0.9", "mallory", T0 - 2 * MIN, RECORD_SOURCE_SENSOR)); /* not the proxy's */
	submit(s, from("2001:db8::5", "bob", T0 - 1 * MIN, RECORD_SOURCE_PROXY));
	submit(s, from("::ffff:10.0.0.6", "carol", T0 - 1 * MIN, RECORD_SOURCE_PROXY));
	submit(s, from("10.0.0.8", "dave", T0 + 180 * MIN, RECORD_SOURCE_PROXY));   /* later than now */
	/* non-social browsing: no event under log_other = counts, but a session */
	struct record r = rec(RECORD_REQUEST, T0 - 3 * MIN, "gina", "www.example.org", NULL, 900, 50);
	inet_pton(AF_INET, "10.0.0.12", &((struct sockaddr_in *)&r.client.u.sa)->sin_addr);
	submit(s, r);
	r.start_us = T0 - 1 * MIN;
	submit(s, r);
	ck_assert_int_eq(store_flush(s, 20000), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events WHERE user = '10.0.0.7'"), 1);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM events WHERE user = 'gina'"), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM sessions WHERE user = 'gina'"), 1);
	ck_assert_int_eq(count(&t, "SELECT last_ms - first_ms FROM sessions WHERE user = 'gina'"),
			 2 * 60000 + 50);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM sessions WHERE user IN ('mallory', '10.0.0.7')"), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM sessions WHERE user = 'old'"), 3000);

	struct sessions *ss = sessions_create(t.db, 600);
	ck_assert_ptr_nonnull(ss);
	ck_assert_ptr_null(sessions_create(t.db, 0));
	sessions_tick(ss, T0);
	ck_assert_uint_eq(sessions_count(ss), 4);
	ck_assert_str_eq(who(ss, "10.0.0.12", T0), "gina");
	ck_assert_str_eq(who(ss, "10.0.0.5", T0), "alice");
	ck_assert_str_eq(who(ss, "10.0.0.5", T0 + 7 * MIN), "alice");
	ck_assert_ptr_null(who(ss, "10.0.0.5", T0 + 13 * MIN));   /* past the window */
	ck_assert_ptr_null(who(ss, "10.0.0.5", T0 - 13 * MIN));
	ck_assert_ptr_null(who(ss, "10.0.0.7", T0));
	ck_assert_ptr_null(who(ss, "10.0.0.9", T0));
	ck_assert_ptr_null(who(ss, "10.0.0.8", T0));
	ck_assert_ptr_null(who(ss, "10.1.0.1", T0));
	ck_assert_str_eq(who(ss, "2001:db8::5", T0), "bob");
	ck_assert_str_eq(who(ss, "10.0.0.6", T0), "carol");

	/* rows written later are read at the next refresh, not before; a new
	 * person at the address is the one that counts */
	submit(s, from("10.0.0.5", "erin", T0 + 1 * MIN, RECORD_SOURCE_PROXY));
	ck_assert_int_eq(store_flush(s, 20000), 0);
	sessions_tick(ss, T0 + 10 * 1000000LL);
	ck_assert_str_eq(who(ss, "10.0.0.5", T0), "alice");
	sessions_tick(ss, T0 + 2 * MIN);
	ck_assert_str_eq(who(ss, "10.0.0.5", T0 + 2 * MIN), "erin");
	/* and the future comes when its time does; the past is forgotten */
	sessions_tick(ss, T0 + 180 * MIN);
	ck_assert_str_eq(who(ss, "10.0.0.8", T0 + 180 * MIN), "dave");
	ck_assert_uint_eq(sessions_count(ss), 1);
	sessions_destroy(ss);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(log_other_none)
{
	/* the strictest data protection: no session from other traffic */
	struct tstore t;
	tstore_init(&t, LOG_OTHER_NONE);
	struct store_options o = {.no_purge_timer = true};
	struct store *s = store_open_opts(&t.conf, &o);
	ck_assert_ptr_nonnull(s);
	struct record r = rec(RECORD_REQUEST, T0, "gina", "www.example.org", NULL, 900, 50);
	submit(s, r);
	submit(s, from("10.0.0.6", "alice", T0, RECORD_SOURCE_PROXY));   /* facebook */
	ck_assert_int_eq(store_flush(s, 20000), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM sessions WHERE user = 'gina'"), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM sessions WHERE user = 'alice'"), 1);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(no_database_yet)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct sessions *ss = sessions_create(t.db, 600);
	sessions_tick(ss, T0);   /* logged, not fatal */
	ck_assert_uint_eq(sessions_count(ss), 0);
	ck_assert_ptr_null(who(ss, "10.0.0.5", T0));
	/* the store appears: the next refresh reads it */
	struct store_options o = {.no_purge_timer = true};
	struct store *s = store_open_opts(&t.conf, &o);
	ck_assert_ptr_nonnull(s);
	submit(s, from("10.0.0.5", "alice", T0, RECORD_SOURCE_PROXY));
	ck_assert_int_eq(store_flush(s, 20000), 0);
	sessions_tick(ss, T0 + 1 * MIN);
	ck_assert_str_eq(who(ss, "10.0.0.5", T0 + 1 * MIN), "alice");
	sessions_destroy(ss);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

/* ---- intercept mode's bindings ---- */

static struct store_binding bind_row(const char *client, const char *mac, const char *user,
				     int64_t since_us, int64_t until_us, enum store_binding_how how)
{
	struct store_binding b;
	struct record r = from(client, NULL, 0, RECORD_SOURCE_PROXY); /* the address, parsed */
	memset(&b, 0, sizeof(b));
	b.client = r.client;
	if (mac) {
		unsigned m[6];
		ck_assert_int_eq(sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]), 6);
		for (int i = 0; i < 6; i++)
			b.mac[i] = (uint8_t)m[i];
		b.has_mac = true;
	}
	snprintf(b.user, sizeof(b.user), "%s", user);
	b.since_ms = since_us / 1000;
	b.until_ms = until_us / 1000;
	b.how = how;
	return b;
}

static const char *bound(const struct signins *si, const char *client, const char *mac, int64_t at_us)
{
	uint8_t a[16] = {0}, m[6];
	int family = strchr(client, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(family, client, a), 1);
	if (mac) {
		unsigned v[6];
		ck_assert_int_eq(sscanf(mac, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]), 6);
		for (int i = 0; i < 6; i++)
			m[i] = (uint8_t)v[i];
	}
	return signins_user(si, family, a, mac ? m : NULL, at_us);
}

#define PHONE "02:00:00:23:10:aa"
#define LAPTOP "02:00:00:23:10:bb"
#define OTHER "02:00:00:23:10:cc"

START_TEST(signins_from_the_store)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct store_options o = {.no_purge_timer = true};
	struct store *s = store_open_opts(&t.conf, &o);
	ck_assert_ptr_nonnull(s);
	struct signins *si = signins_create(t.db);
	ck_assert_ptr_nonnull(si);
	const int64_t H = 60 * MIN, end = T0 + 14 * H;
	struct store_binding b;
	/* alice signs in on her phone at 09:00 from 10.0.0.5 until the end of the day */
	b = bind_row("10.0.0.5", PHONE, "alice", T0 + 9 * H, end, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	/* the proxy saw the phone at an IPv6 address at 09:30 */
	b = bind_row("2001:db8::a1", PHONE, "alice", T0 + 9 * H + 30 * MIN, end, STORE_BINDING_MAC);
	store_submit_binding(s, &b);
	/* bob signs in from a routed network (no MAC address) for two hours */
	b = bind_row("10.9.0.7", NULL, "bob", T0 + 9 * H, T0 + 11 * H, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	/* at 12:00 another device has 10.0.0.5: alice's binding there ends */
	b = bind_row("10.0.0.5", PHONE, "alice", T0 + 12 * H, end, STORE_BINDING_END);
	store_submit_binding(s, &b);
	/* carol's laptop: signed in at 10:00 from 10.0.0.8 */
	b = bind_row("10.0.0.8", LAPTOP, "carol", T0 + 10 * H, end, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	/* the same laptop, signed in by dave at 13:00 from 10.0.0.9: the MAC address is dave's from then */
	b = bind_row("10.0.0.9", LAPTOP, "dave", T0 + 13 * H, end, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	ck_assert_int_eq(store_flush(s, 20000), 0);
	ck_assert_int_eq(count(&t, "SELECT count(*) FROM bindings"), 6);

	signins_tick(si, T0 + 10 * H);
	ck_assert_uint_eq(signins_count(si), 4);
	/* by address */
	ck_assert_str_eq(bound(si, "10.0.0.5", NULL, T0 + 10 * H), "alice");
	ck_assert_str_eq(bound(si, "10.0.0.5", OTHER, T0 + 10 * H), "alice"); /* the address first */
	ck_assert_str_eq(bound(si, "2001:db8::a1", NULL, T0 + 10 * H), "alice");
	ck_assert_str_eq(bound(si, "10.9.0.7", NULL, T0 + 10 * H), "bob");
	ck_assert_ptr_null(bound(si, "10.0.0.6", NULL, T0 + 10 * H));
	ck_assert_ptr_null(bound(si, "10.0.0.5", NULL, T0 + 9 * H - 1000)); /* before the sign-in */
	/* by MAC address: the phone at an address the proxy never saw */
	ck_assert_str_eq(bound(si, "2001:db8::77", PHONE, T0 + 10 * H), "alice");
	ck_assert_str_eq(bound(si, "10.0.0.66", PHONE, T0 + 10 * H), "alice");
	ck_assert_ptr_null(bound(si, "10.0.0.66", OTHER, T0 + 10 * H));
	ck_assert_ptr_null(bound(si, "2001:db8::77", PHONE, T0 + 8 * H));

	/* at 12:30: 10.0.0.5 is nobody's, the phone is still alice's; bob's expired */
	signins_tick(si, T0 + 12 * H + 30 * MIN);
	ck_assert_ptr_null(bound(si, "10.0.0.5", OTHER, T0 + 12 * H + 30 * MIN));
	ck_assert_ptr_null(bound(si, "10.0.0.5", NULL, T0 + 12 * H + 30 * MIN));
	ck_assert_str_eq(bound(si, "10.0.0.5", PHONE, T0 + 12 * H + 30 * MIN), "alice");
	ck_assert_ptr_null(bound(si, "10.9.0.7", NULL, T0 + 12 * H + 30 * MIN));
	ck_assert_str_eq(bound(si, "10.0.0.33", LAPTOP, T0 + 12 * H + 30 * MIN), "carol");
	/* at 13:30 the laptop is dave's (the newest sign-in with it) */
	signins_tick(si, T0 + 13 * H + 30 * MIN);
	ck_assert_str_eq(bound(si, "10.0.0.33", LAPTOP, T0 + 13 * H + 30 * MIN), "dave");
	/* until the end of the day, not after */
	signins_tick(si, end - MIN);
	ck_assert_str_eq(bound(si, "2001:db8::a1", NULL, end - MIN), "alice");
	signins_tick(si, end + 20 * MIN);
	ck_assert_ptr_null(bound(si, "2001:db8::a1", PHONE, end + 20 * MIN));
	ck_assert_uint_eq(signins_count(si), 0);
	signins_destroy(si);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

START_TEST(signins_no_database_yet)
{
	struct tstore t;
	tstore_init(&t, LOG_OTHER_COUNTS);
	struct signins *si = signins_create(t.db);
	signins_tick(si, T0);   /* logged, not fatal */
	ck_assert_uint_eq(signins_count(si), 0);
	ck_assert_ptr_null(bound(si, "10.0.0.5", PHONE, T0));
	struct store_options o = {.no_purge_timer = true};
	struct store *s = store_open_opts(&t.conf, &o);
	ck_assert_ptr_nonnull(s);
	struct store_binding b = bind_row("10.0.0.5", PHONE, "alice", T0, T0 + 60 * MIN, STORE_BINDING_SIGN_IN);
	store_submit_binding(s, &b);
	ck_assert_int_eq(store_flush(s, 20000), 0);
	signins_tick(si, T0 + 1 * MIN);
	ck_assert_str_eq(bound(si, "10.0.0.5", NULL, T0 + 1 * MIN), "alice");
	signins_destroy(si);
	store_close(s);
	tstore_finish(&t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sensor_sessions");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sessions_from_the_store);
	tcase_add_test(tc, no_database_yet);
	tcase_add_test(tc, log_other_none);
	tcase_add_test(tc, signins_from_the_store);
	tcase_add_test(tc, signins_no_database_yet);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
