/* Unit tests: millisecond durations as struct timeval (common/clock.h). */
#include <check.h>

#include "check_run.h"
#include "clock.h"

static const struct {
	uint64_t ms;
	time_t sec;
	suseconds_t usec;
} cases[] = {
	{0, 0, 0},
	{1, 0, 1000},
	{999, 0, 999000},
	{1000, 1, 0},
	{1001, 1, 1000},
	{30000, 30, 0},
	{86400000, 86400, 0},                  /* the longest timeout the configuration takes */
	{4294967295u, 4294967, 295000},        /* UINT_MAX ms, the widest conf value */
};

START_TEST(test_timeval)
{
	struct timeval tv = clock_timeval(cases[_i].ms);
	ck_assert_int_eq(tv.tv_sec, cases[_i].sec);
	ck_assert_int_eq(tv.tv_usec, cases[_i].usec);
	ck_assert_int_lt(tv.tv_usec, 1000000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_timeval, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	suite_add_tcase(s, tc);
	return check_run(s);
}
