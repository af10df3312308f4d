/*
 * Unit tests: the failed-login rule of the proxy's sign-in and the web
 * UI's login (common/failwindow.h): fixed windows from the first failure,
 * the limit inside one, the refund of a guess that verified.
 */
#include <check.h>

#include "check_run.h"
#include "failwindow.h"

#define W 60
#define MAX 3

START_TEST(test_fresh)
{
	struct failwindow f = {0};
	ck_assert(failwindow_over(&f, 1000, W));
	ck_assert(failwindow_quiet(&f, 1000, W));
	ck_assert(!failwindow_limited(&f, 1000, W, MAX));
	ck_assert(!failwindow_limited(&f, 1000, W, 0));   /* an ended window never limits */
}
END_TEST

START_TEST(test_limit_in_window)
{
	struct failwindow f = {0};
	failwindow_count(&f, 1000, W);                      /* the window starts here */
	ck_assert_int_eq(f.start, 1000);
	ck_assert(!failwindow_quiet(&f, 1000, W));
	failwindow_count(&f, 1010, W);
	ck_assert(!failwindow_limited(&f, 1020, W, MAX));
	failwindow_count(&f, 1020, W);
	ck_assert_int_eq(f.start, 1000);                    /* fixed, not sliding */
	ck_assert_uint_eq(f.count, 3);
	ck_assert(failwindow_limited(&f, 1020, W, MAX));
	ck_assert(failwindow_limited(&f, 1000 + W - 1, W, MAX));
	/* served again W seconds after the first failure, whatever came later */
	ck_assert(!failwindow_limited(&f, 1000 + W, W, MAX));
	ck_assert(failwindow_quiet(&f, 1000 + W, W));
}
END_TEST

START_TEST(test_new_window)
{
	struct failwindow f = {0};
	for (int i = 0; i < MAX; i++)
		failwindow_count(&f, 1000, W);
	failwindow_count(&f, 1000 + W, W);                  /* the old window ended */
	ck_assert_int_eq(f.start, 1000 + W);
	ck_assert_uint_eq(f.count, 1);
	ck_assert(!failwindow_limited(&f, 1000 + W, W, MAX));

	/* roll alone empties an ended window and keeps a current one */
	failwindow_roll(&f, 1000 + W + 1, W);
	ck_assert_uint_eq(f.count, 1);
	failwindow_roll(&f, 1000 + 2 * W, W);
	ck_assert_int_eq(f.start, 1000 + 2 * W);
	ck_assert_uint_eq(f.count, 0);
	ck_assert(failwindow_quiet(&f, 1000 + 2 * W, W));
}
END_TEST

/* A guess is charged when queued and given back when it verifies, but only
 * to the window it was charged to. */
START_TEST(test_refund)
{
	struct failwindow f = {0};
	failwindow_count(&f, 1000, W);
	failwindow_count(&f, 1001, W);
	time_t charged = f.start;
	failwindow_refund(&f, charged);
	ck_assert_uint_eq(f.count, 1);
	failwindow_refund(&f, charged);
	failwindow_refund(&f, charged);                     /* never below zero */
	ck_assert_uint_eq(f.count, 0);

	failwindow_count(&f, 1000 + W, W);                  /* a new window */
	failwindow_refund(&f, charged);                     /* the old one's guess: no effect */
	ck_assert_uint_eq(f.count, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("failwindow");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_fresh);
	tcase_add_test(tc, test_limit_in_window);
	tcase_add_test(tc, test_new_window);
	tcase_add_test(tc, test_refund);
	suite_add_tcase(s, tc);
	return check_run(s);
}
