/*
 * Unit tests: the site's wall clock (config/tz.h): local days across
 * midnight in zones east and west of Greenwich, the broken-down reading,
 * the texts every report and page prints, and UTC for a missing zone.
 */
#include <check.h>

#include "check_run.h"
#include "policy.h"
#include "tz.h"

#define T_LONDON_SUMMER 1782862215   /* 2026-06-30 23:30:15 UTC = 2026-07-01 00:30:15 BST */
#define T_NEW_YEAR_UTC 1767236400    /* 2026-01-01 03:00:00 UTC = 2025-12-31 22:00:00 EST */
#define DAY_2026_07_01 20635
#define DAY_2025_12_31 20453

static struct tz *london, *new_york;

static void setup(void)
{
	london = tz_from_posix("Europe/London", "GMT0BST,M3.5.0/1,M10.5.0");
	new_york = tz_from_posix("America/New_York", "EST5EDT,M3.2.0,M11.1.0");
	ck_assert_ptr_nonnull(london);
	ck_assert_ptr_nonnull(new_york);
}

static void teardown(void)
{
	tz_destroy(london);
	tz_destroy(new_york);
}

static const struct {
	int64_t day;
	const char *text;
} day_cases[] = {
	{0, "1970-01-01"},
	{-1, "1969-12-31"},
	{DAY_2026_07_01, "2026-07-01"},
	{59, "1970-03-01"},
	{2932896, "9999-12-31"},
	{2932897, "9999-01-01"},          /* year 10000: clamped, still 10 characters */
	{-719528, "0000-01-01"},
	{-719529, "0000-12-31"},          /* year -1: clamped */
};

START_TEST(test_day_text)
{
	char buf[TZ_DAY_TEXT];
	tz_day_text(day_cases[_i].day, buf, sizeof(buf));
	ck_assert_str_eq(buf, day_cases[_i].text);
}
END_TEST

/* No zone reads UTC, and days start at midnight also before 1970. */
START_TEST(test_local_day_utc)
{
	unsigned s = 12345;
	ck_assert_int_eq(tz_local_day(NULL, 0, &s), 0);
	ck_assert_uint_eq(s, 0);
	ck_assert_int_eq(tz_local_day(NULL, -1, &s), -1);
	ck_assert_uint_eq(s, TZ_DAY_SECONDS - 1);
	ck_assert_int_eq(tz_local_day(NULL, TZ_DAY_SECONDS - 1, NULL), 0);
	ck_assert_int_eq(tz_local_day(NULL, T_LONDON_SUMMER, &s), DAY_2026_07_01 - 1);
	ck_assert_uint_eq(s, 23 * 3600 + 30 * 60 + 15);
	ck_assert_ptr_null(policy_tz(NULL));
}
END_TEST

/* East of Greenwich in summer the site's day has begun before UTC's. */
START_TEST(test_local_day_east)
{
	unsigned s;
	ck_assert_int_eq(tz_local_day(london, T_LONDON_SUMMER, &s), DAY_2026_07_01);
	ck_assert_uint_eq(s, 30 * 60 + 15);
	/* and in winter London is UTC */
	ck_assert_int_eq(tz_local_day(london, T_NEW_YEAR_UTC, &s), DAY_2025_12_31 + 1);
	ck_assert_uint_eq(s, 3 * 3600);
}
END_TEST

/* West of it, the site is still on the day before. */
START_TEST(test_local_day_west)
{
	unsigned s;
	ck_assert_int_eq(tz_local_day(new_york, T_NEW_YEAR_UTC, &s), DAY_2025_12_31);
	ck_assert_uint_eq(s, 22 * 3600);
}
END_TEST

START_TEST(test_local_at)
{
	struct tz_local l;
	tz_local_at(london, T_LONDON_SUMMER, &l);
	ck_assert_int_eq(l.day, DAY_2026_07_01);
	ck_assert_int_eq(l.year, 2026);
	ck_assert_uint_eq(l.month, 7);
	ck_assert_uint_eq(l.mday, 1);
	ck_assert_uint_eq(l.weekday, 2);          /* a Wednesday */
	ck_assert_uint_eq(l.hour, 0);
	ck_assert_uint_eq(l.min, 30);
	ck_assert_uint_eq(l.sec, 15);
	ck_assert_int_eq(l.offset, 3600);

	tz_local_at(new_york, T_NEW_YEAR_UTC, &l);
	ck_assert_int_eq(l.year, 2025);
	ck_assert_uint_eq(l.month, 12);
	ck_assert_uint_eq(l.mday, 31);
	ck_assert_uint_eq(l.weekday, 2);
	ck_assert_uint_eq(l.hour, 22);
	ck_assert_int_eq(l.offset, -5 * 3600);

	tz_local_at(NULL, -1, &l);
	ck_assert_int_eq(l.year, 1969);
	ck_assert_uint_eq(l.mday, 31);
	ck_assert_uint_eq(l.weekday, 2);          /* 1969-12-31 was a Wednesday */
	ck_assert_uint_eq(l.hour, 23);
	ck_assert_uint_eq(l.sec, 59);
	ck_assert_int_eq(l.offset, 0);
}
END_TEST

START_TEST(test_local_text)
{
	char buf[32];
	tz_local_text(london, T_LONDON_SUMMER, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-07-01 00:30");
	tz_local_text(london, T_LONDON_SUMMER, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "00:30");
	tz_local_text(new_york, T_NEW_YEAR_UTC, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2025-12-31 22:00");
	tz_local_text(NULL, T_NEW_YEAR_UTC, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-01-01 03:00");
	/* a short buffer is cut, never overrun */
	char small[6];
	tz_local_text(london, T_LONDON_SUMMER, true, small, sizeof(small));
	ck_assert_str_eq(small, "2026-");
}
END_TEST

/* The store's zone callback answers what tz_offset() does. */
START_TEST(test_offset_cb)
{
	ck_assert_int_eq(tz_offset_cb(london, T_LONDON_SUMMER), 3600);
	ck_assert_int_eq(tz_offset_cb(london, T_NEW_YEAR_UTC), 0);
	ck_assert_int_eq(tz_offset_cb(new_york, T_NEW_YEAR_UTC),
			 tz_offset(new_york, T_NEW_YEAR_UTC, NULL, NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tz");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_day_text, 0, (int)(sizeof(day_cases) / sizeof(day_cases[0])));
	tcase_add_test(tc, test_local_day_utc);
	tcase_add_test(tc, test_local_day_east);
	tcase_add_test(tc, test_local_day_west);
	tcase_add_test(tc, test_local_at);
	tcase_add_test(tc, test_local_text);
	tcase_add_test(tc, test_offset_cb);
	suite_add_tcase(s, tc);
	return check_run(s);
}
