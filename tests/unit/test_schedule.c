/*
 * Unit tests: time zones (config/tz.c) and the schedule (config/schedule.c):
 * TZif and POSIX rules, the Europe/London daylight-saving days, window and
 * closed-date parsing, and the schedule's state at a moment.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schedule.h"
#include "tz.h"

static int64_t utc(int y, unsigned m, unsigned d, unsigned hh, unsigned mm)
{
	return tz_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
}

START_TEST(test_civil)
{
	ck_assert_int_eq(tz_days_from_civil(1970, 1, 1), 0);
	ck_assert_int_eq(tz_days_from_civil(2000, 3, 1), 11017);
	ck_assert_uint_eq(tz_weekday(0), 3);                              /* Thursday */
	ck_assert_uint_eq(tz_weekday(tz_days_from_civil(2026, 3, 29)), 6); /* Sunday */
	ck_assert_uint_eq(tz_weekday(tz_days_from_civil(2026, 10, 26)), 0); /* Monday */
	for (int64_t d = -800000; d < 800000; d += 97) {
		int64_t y;
		unsigned m, dd;
		tz_civil_from_days(d, &y, &m, &dd);
		ck_assert_int_eq(tz_days_from_civil(y, m, dd), d);
	}
	ck_assert_int_eq(tz_floordiv(-1, 86400), -1);
	ck_assert_int_eq(tz_floordiv(86399, 86400), 0);
}
END_TEST

static void check_london(const struct tz *tz)
{
	int64_t s, e, out[2];

	/* winter, summer */
	ck_assert_int_eq(tz_offset(tz, utc(2026, 1, 15, 12, 0), NULL, NULL), 0);
	ck_assert_int_eq(tz_offset(tz, utc(2026, 7, 15, 12, 0), NULL, NULL), 3600);
	/* 2026-03-29 01:00 UTC: 01:00 GMT becomes 02:00 BST */
	ck_assert_int_eq(tz_offset(tz, utc(2026, 3, 29, 0, 59) + 59, &s, &e), 0);
	ck_assert_int_eq(e, utc(2026, 3, 29, 1, 0));
	ck_assert_int_eq(tz_offset(tz, utc(2026, 3, 29, 1, 0), &s, &e), 3600);
	ck_assert_int_eq(s, utc(2026, 3, 29, 1, 0));
	ck_assert_int_eq(e, utc(2026, 10, 25, 1, 0));
	/* 2026-10-25 01:00 UTC: 02:00 BST becomes 01:00 GMT */
	ck_assert_int_eq(tz_offset(tz, utc(2026, 10, 25, 0, 59), NULL, NULL), 3600);
	ck_assert_int_eq(tz_offset(tz, utc(2026, 10, 25, 1, 0), NULL, NULL), 0);

	/* local -> UTC: the gap has no solution, the overlap two */
	ck_assert_int_eq(tz_local_to_utc(tz, utc(2026, 3, 29, 0, 59), out), 1);
	ck_assert_int_eq(out[0], utc(2026, 3, 29, 0, 59));
	ck_assert_int_eq(tz_local_to_utc(tz, utc(2026, 3, 29, 1, 0), out), 0);
	ck_assert_int_eq(tz_local_to_utc(tz, utc(2026, 3, 29, 1, 59), out), 0);
	ck_assert_int_eq(tz_local_to_utc(tz, utc(2026, 3, 29, 2, 0), out), 1);
	ck_assert_int_eq(out[0], utc(2026, 3, 29, 1, 0));
	ck_assert_int_eq(tz_local_to_utc(tz, utc(2026, 10, 25, 0, 59), out), 1);
	ck_assert_int_eq(out[0], utc(2026, 10, 24, 23, 59));
	ck_assert_int_eq(tz_local_to_utc(tz, utc(2026, 10, 25, 1, 30), out), 2);
	ck_assert_int_eq(out[0], utc(2026, 10, 25, 0, 30));
	ck_assert_int_eq(out[1], utc(2026, 10, 25, 1, 30));
	ck_assert_int_eq(tz_local_to_utc(tz, utc(2026, 10, 25, 2, 0), out), 1);
	ck_assert_int_eq(out[0], utc(2026, 10, 25, 2, 0));
	/* far future comes from the footer rule: last Sunday of March 2150 */
	int64_t d = tz_days_from_civil(2150, 3, 31);
	while (tz_weekday(d) != 6)
		d--;
	ck_assert_int_eq(tz_offset(tz, d * 86400 + 3600 - 1, NULL, NULL), 0);
	ck_assert_int_eq(tz_offset(tz, d * 86400 + 3600, NULL, NULL), 3600);
}

START_TEST(test_london_file)
{
	char err[256];
	struct tz *tz = tz_load("Europe/London", err, sizeof(err));
	ck_assert_msg(tz != NULL, "%s", err);
	ck_assert_str_eq(tz_name(tz), "Europe/London");
	check_london(tz);
	/* before 1970 the table also holds: 1940s double summer time */
	ck_assert_int_eq(tz_offset(tz, utc(1944, 6, 1, 12, 0), NULL, NULL), 7200);
	tz_destroy(tz);
}
END_TEST

START_TEST(test_london_rule)
{
	struct tz *tz = tz_from_posix("London", "GMT0BST,M3.5.0/1,M10.5.0");
	ck_assert_ptr_nonnull(tz);
	check_london(tz);
	tz_destroy(tz);
}
END_TEST

/* A "slim" TZif v2 file: no transitions at all, only the footer rule. */
START_TEST(test_slim_file)
{
	char dir[] = "/tmp/bt-tz-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/Slim", dir);
	FILE *fp = fopen(path, "wb");
	unsigned char hdr[44] = {'T', 'Z', 'i', 'f', '2'};
	/* counts: isut isstd leap time type char = 0 0 0 0 1 4 */
	hdr[39] = 1;
	hdr[43] = 4;
	unsigned char v1[] = {0, 0, 0, 0, 0, 0, 'G', 'M', 'T', 0};
	fwrite(hdr, 1, 44, fp);
	fwrite(v1, 1, sizeof(v1), fp);
	fwrite(hdr, 1, 44, fp);
	fwrite(v1, 1, sizeof(v1), fp);
	fputs("\nGMT0BST,M3.5.0/1,M10.5.0\n", fp);
	fclose(fp);
	setenv("TZDIR", dir, 1);
	char err[256];
	struct tz *tz = tz_load("Slim", err, sizeof(err));
	unsetenv("TZDIR");
	ck_assert_msg(tz != NULL, "%s", err);
	check_london(tz);
	tz_destroy(tz);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_other_zones)
{
	char err[256];
	struct tz *tz;

	/* southern hemisphere: summer time across the new year */
	tz = tz_load("Australia/Sydney", err, sizeof(err));
	ck_assert_msg(tz != NULL, "%s", err);
	ck_assert_int_eq(tz_offset(tz, utc(2026, 1, 15, 0, 0), NULL, NULL), 11 * 3600);
	ck_assert_int_eq(tz_offset(tz, utc(2026, 7, 15, 0, 0), NULL, NULL), 10 * 3600);
	tz_destroy(tz);
	tz = tz_from_posix("Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3");
	ck_assert_int_eq(tz_offset(tz, utc(2126, 1, 15, 0, 0), NULL, NULL), 11 * 3600);
	ck_assert_int_eq(tz_offset(tz, utc(2126, 7, 15, 0, 0), NULL, NULL), 10 * 3600);
	tz_destroy(tz);

	tz = tz_load("America/New_York", err, sizeof(err));
	ck_assert_msg(tz != NULL, "%s", err);
	/* 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC) */
	ck_assert_int_eq(tz_offset(tz, utc(2026, 3, 8, 6, 59), NULL, NULL), -5 * 3600);
	ck_assert_int_eq(tz_offset(tz, utc(2026, 3, 8, 7, 0), NULL, NULL), -4 * 3600);
	tz_destroy(tz);

	tz = tz_load("UTC", err, sizeof(err));
	ck_assert_ptr_nonnull(tz);
	ck_assert_int_eq(tz_offset(tz, utc(2026, 7, 1, 0, 0), NULL, NULL), 0);
	tz_destroy(tz);

	/* quoted names and explicit offsets */
	tz = tz_from_posix("X", "<+0530>-5:30");
	ck_assert_ptr_nonnull(tz);
	ck_assert_int_eq(tz_offset(tz, 0, NULL, NULL), 5 * 3600 + 1800);
	tz_destroy(tz);

	ck_assert_ptr_null(tz_load("Europe/Londn", err, sizeof(err)));
	ck_assert(strstr(err, "unknown time zone `Europe/Londn`") != NULL);
	ck_assert_ptr_null(tz_load("../etc/passwd", err, sizeof(err)));
	ck_assert_ptr_null(tz_load("/etc/passwd", err, sizeof(err)));
	ck_assert_ptr_null(tz_from_posix("bad", "GMT0BST,M13.5.0"));
	ck_assert_ptr_null(tz_from_posix("bad", "G0"));
	ck_assert_ptr_null(tz_from_posix("bad", "GMT0BST,M3.5.0"));
}
END_TEST

START_TEST(test_bad_tzif)
{
	char dir[] = "/tmp/bt-tz-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/Bad", dir);
	static const char *const contents[] = {"", "TZif", "not a zone file at all, just some text here......."};
	for (size_t i = 0; i < 3; i++) {
		FILE *fp = fopen(path, "wb");
		fputs(contents[i], fp);
		fclose(fp);
		setenv("TZDIR", dir, 1);
		char err[256];
		ck_assert_ptr_null(tz_load("Bad", err, sizeof(err)));
		ck_assert_str_eq(err, "not a valid TZif time zone file");
	}
	unsetenv("TZDIR");
	unlink(path);
	rmdir(dir);
}
END_TEST

/* ---- windows ---- */

static struct schedule sched;

static int add(const char *name, const char *spec, char *err)
{
	int w = schedule_window_add(&sched, name, 1);
	return schedule_window_parse(&sched, w, spec, err, 256);
}

START_TEST(test_windows)
{
	char err[256];
	schedule_init(&sched);
	ck_assert_int_eq(add("students", "mon-fri 09:00-15:30, sat 10:00-12:00", err), 0);
	ck_assert_int_eq(add("breaks", "mon-fri 10:30-10:45, 12:30-13:15", err), 0);
	ck_assert_int_eq(add("late", "fri 22:00-02:00", err), 0);
	ck_assert_int_eq(add("wrap", "fri-mon 7:00-8:00", err), 0);
	ck_assert_int_eq(add("all", "daily 00:00-24:00", err), 0);
	ck_assert_int_eq(add("we", "weekends 12:00-13:00 14:00-15:00", err), 0);
	ck_assert_int_eq(add("multi", "Monday wed 18:00-19:00", err), 0);
	schedule_finish(&sched);

	/* Monday 09:00 */
	ck_assert_uint_eq(schedule_mask(&sched, 0, 8 * 60 + 59), 1u << 4);
	ck_assert_uint_eq(schedule_mask(&sched, 0, 9 * 60), 1u | 1u << 4);
	ck_assert_uint_eq(schedule_mask(&sched, 0, 10 * 60 + 30), 1u | 2u | 1u << 4);
	ck_assert_uint_eq(schedule_mask(&sched, 0, 10 * 60 + 45), 1u | 1u << 4);
	ck_assert_uint_eq(schedule_mask(&sched, 0, 15 * 60 + 29), 1u | 1u << 4);
	ck_assert_uint_eq(schedule_mask(&sched, 0, 15 * 60 + 30), 1u << 4);
	ck_assert_uint_eq(schedule_mask(&sched, 5, 10 * 60), 1u | 1u << 4);
	ck_assert_uint_eq(schedule_mask(&sched, 5, 12 * 60), 1u << 4 | 1u << 5);
	ck_assert_uint_eq(schedule_mask(&sched, 6, 14 * 60 + 30), 1u << 4 | 1u << 5);
	ck_assert_uint_eq(schedule_mask(&sched, 6, 10 * 60), 1u << 4);
	/* overnight: Friday 22:00 to Saturday 02:00 */
	ck_assert_uint_eq(schedule_mask(&sched, 4, 21 * 60 + 59) & 4, 0);
	ck_assert_uint_eq(schedule_mask(&sched, 4, 22 * 60) & 4, 4);
	ck_assert_uint_eq(schedule_mask(&sched, 4, 23 * 60 + 59) & 4, 4);
	ck_assert_uint_eq(schedule_mask(&sched, 5, 0) & 4, 4);
	ck_assert_uint_eq(schedule_mask(&sched, 5, 1 * 60 + 59) & 4, 4);
	ck_assert_uint_eq(schedule_mask(&sched, 5, 2 * 60) & 4, 0);
	/* fri-mon wraps over the weekend */
	ck_assert_uint_eq(schedule_mask(&sched, 0, 7 * 60) & 8, 8);
	ck_assert_uint_eq(schedule_mask(&sched, 1, 7 * 60) & 8, 0);
	ck_assert_uint_eq(schedule_mask(&sched, 6, 7 * 60) & 8, 8);
	ck_assert_uint_eq(schedule_mask(&sched, 0, 18 * 60) & 64, 64);
	ck_assert_uint_eq(schedule_mask(&sched, 1, 18 * 60) & 64, 0);
	ck_assert_uint_eq(schedule_mask(&sched, 2, 18 * 60) & 64, 64);

	uint16_t edges[64];
	size_t n = schedule_edges(&sched, 5, edges, 64);
	/* Saturday: 0, late ends 2:00, wrap 7-8, students 10-12, we 12-13 14-15 */
	static const uint16_t want[] = {0, 120, 420, 480, 600, 720, 780, 840, 900};
	ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(edges[i], want[i]);
	schedule_destroy_contents(&sched);
}
END_TEST

static const struct {
	const char *spec;
	const char *error;
} bad_windows[] = {
	{"09:00-15:30", "`09:00-15:30` has no days: write them first, like mon-fri 09:00-15:30"},
	{"mon-fri", "days without times: add a range like 09:00-15:30"},
	{"mon-fry 09:00-10:00", "`mon-fry` is neither days (mon-fri, sat, daily) nor a time range (09:00-15:30)"},
	{"mon 9-10", "`9-10` is neither days (mon-fri, sat, daily) nor a time range (09:00-15:30)"},
	{"mon 09:00-25:00", "`09:00-25:00` is not a time range like 09:00-15:30"},
	{"mon 24:00-01:00", "`24:00-01:00` is not a time range like 09:00-15:30"},
	{"mon 09:60-10:00", "`09:60-10:00` is not a time range like 09:00-15:30"},
	{"mon 09:00-09:00", "`09:00-09:00` is empty; a whole day is 00:00-24:00"},
	{"mon 09:00-10:00 tue", "days `tue` after the times: write the days first, like mon-fri 09:00-15:30"},
	{"mon 09:00-10:00, , tue 10:00-11:00", "an empty item between commas"},
};

START_TEST(test_bad_windows)
{
	char err[256];
	schedule_init(&sched);
	ck_assert_int_eq(add("w", bad_windows[_i].spec, err), -1);
	ck_assert_str_eq(err, bad_windows[_i].error);
	schedule_destroy_contents(&sched);
}
END_TEST

START_TEST(test_closed)
{
	char err[256];
	schedule_init(&sched);
	ck_assert_int_eq(schedule_closed_parse(&sched, "2026-12-21..2027-01-04, 2026-05-04", err, sizeof(err)), 0);
	ck_assert_int_eq(schedule_closed_parse(&sched, "2027-01-05 2026-12-25 2024-02-29", err, sizeof(err)), 0);
	schedule_finish(&sched);
	ck_assert_uint_eq(sched.n_closed, 3); /* 2027-01-05 and 12-25 merge into the range */
	ck_assert(!schedule_is_closed(&sched, tz_days_from_civil(2026, 12, 20)));
	ck_assert(schedule_is_closed(&sched, tz_days_from_civil(2026, 12, 21)));
	ck_assert(schedule_is_closed(&sched, tz_days_from_civil(2027, 1, 5)));
	ck_assert(!schedule_is_closed(&sched, tz_days_from_civil(2027, 1, 6)));
	ck_assert(schedule_is_closed(&sched, tz_days_from_civil(2026, 5, 4)));
	ck_assert(!schedule_is_closed(&sched, tz_days_from_civil(2026, 5, 5)));
	ck_assert(schedule_is_closed(&sched, tz_days_from_civil(2024, 2, 29)));
	ck_assert_int_eq(schedule_last_closed(&sched), tz_days_from_civil(2027, 1, 5));

	ck_assert_int_eq(schedule_closed_parse(&sched, "2026-02-29", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "`2026-02-29` is not a date like 2026-12-25 (or a range like 2026-12-21..2027-01-04)");
	ck_assert_int_eq(schedule_closed_parse(&sched, "2027-01-04..2026-12-21", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "`2027-01-04..2026-12-21` ends before it starts");
	ck_assert_int_eq(schedule_closed_parse(&sched, "2026-12-21..", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "`2026-12-21..` is not a date range like 2026-12-21..2027-01-04");
	ck_assert_int_eq(schedule_closed_parse(&sched, "25/12/2026", err, sizeof(err)), -1);
	schedule_destroy_contents(&sched);
}
END_TEST

START_TEST(test_state)
{
	char err[256];
	schedule_init(&sched);
	sched.tz = tz_load("Europe/London", err, sizeof(err));
	ck_assert_ptr_nonnull(sched.tz);
	ck_assert_int_eq(add("students", "mon-fri 09:00-15:30", err), 0);
	ck_assert_int_eq(add("night", "sun 00:30-03:00", err), 0);
	ck_assert_int_eq(schedule_closed_parse(&sched, "2026-05-04", err, sizeof(err)), 0);
	schedule_finish(&sched);

	struct schedule_state st;
	/* Monday 2026-03-30 09:00 BST = 08:00 UTC */
	schedule_state_at(&sched, utc(2026, 3, 30, 7, 59), &st);
	ck_assert_uint_eq(st.windows, 0);
	ck_assert_uint_eq(st.time.minute, 8 * 60 + 59);
	ck_assert_int_eq(st.time.offset, 3600);
	schedule_state_at(&sched, utc(2026, 3, 30, 8, 0), &st);
	ck_assert_uint_eq(st.windows, 1);
	ck_assert_uint_eq(st.time.weekday, 0);
	/* closed Monday */
	schedule_state_at(&sched, utc(2026, 5, 4, 9, 0), &st);
	ck_assert(st.closed);
	ck_assert_uint_eq(st.windows, 0);
	/* spring forward: 00:59 GMT is in `night`, then the clock reads 02:00 BST */
	schedule_state_at(&sched, utc(2026, 3, 29, 0, 59), &st);
	ck_assert_uint_eq(st.windows, 2);
	schedule_state_at(&sched, utc(2026, 3, 29, 1, 0), &st);
	ck_assert_uint_eq(st.time.minute, 120);
	ck_assert_uint_eq(st.windows, 2);
	schedule_state_at(&sched, utc(2026, 3, 29, 2, 0), &st); /* 03:00 BST */
	ck_assert_uint_eq(st.windows, 0);
	/* fall back: 02:30 GMT is in the window, 03:00 GMT is not */
	schedule_state_at(&sched, utc(2026, 10, 25, 2, 30), &st);
	ck_assert_uint_eq(st.windows, 2);
	ck_assert_int_eq(st.time.offset, 0);
	schedule_state_at(&sched, utc(2026, 10, 25, 3, 0), &st);
	ck_assert_uint_eq(st.windows, 0);
	schedule_destroy_contents(&sched);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_civil);
	tcase_add_test(tc, test_london_file);
	tcase_add_test(tc, test_london_rule);
	tcase_add_test(tc, test_slim_file);
	tcase_add_test(tc, test_other_zones);
	tcase_add_test(tc, test_bad_tzif);
	tcase_add_test(tc, test_windows);
	tcase_add_loop_test(tc, test_bad_windows, 0, (int)(sizeof(bad_windows) / sizeof(bad_windows[0])));
	tcase_add_test(tc, test_closed);
	tcase_add_test(tc, test_state);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
