/*
 * Unit tests: the names of verdicts and reasons (config/verdict.c). The
 * names are what the store, the logs, the pages and /metrics say, and what
 * reports and administrators match on: each is pinned here, so a rename
 * fails a test instead of silently splitting the store's history.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "verdict.h"

static const struct {
	enum reason reason;
	const char *name;
	bool policy;
} reasons[] = {
	{REASON_NOT_SOCIAL, "not-social", true},
	{REASON_ORGANISATIONAL, "organisational", true},
	{REASON_SANCTIONED, "sanctioned", true},
	{REASON_ALLOWED, "allowed", true},
	{REASON_ALLOWANCE_EXHAUSTED, "allowance-exhausted", true},
	{REASON_STUDENTS_PRESENT, "students-present", true},
	{REASON_OUTSIDE_ALLOWED_TIME, "outside-allowed-time", true},
	{REASON_CLOSED, "closed", true},
	{REASON_GROUP_NEVER, "group-never", true},
	{REASON_PORT, "port", false},
	{REASON_AUTH_FAILED, "auth-failed", false},
	{REASON_AUTH_REQUIRED, "auth-required", false},
	{REASON_AUTH_RATE_LIMITED, "auth-rate-limited", false},
	{REASON_CLIENT_NOT_ALLOWED, "client-not-allowed", false},
	{REASON_WARN_CONTINUED, "warn-continued", false},
	{REASON_NO_SNI, "no-sni", false},
	{REASON_ECH, "ech", false},
	{REASON_SIGN_IN_REQUIRED, "sign-in-required", false},
	{REASON_SIGNED_IN, "signed-in", false},
	{REASON_BYPASS, "bypass", false},
	{REASON_DOH, "doh", false},
	{REASON_VPN, "vpn", false},
};

START_TEST(test_reason_name)
{
	ck_assert_str_eq(verdict_reason_name(reasons[_i].reason), reasons[_i].name);
	ck_assert_int_eq(verdict_reason_is_policy(reasons[_i].reason), reasons[_i].policy);
}
END_TEST

/* The table above is the whole enum: every value but REASON_NONE has a
 * name, once, and no two share one. */
START_TEST(test_reasons_complete)
{
	size_t n = sizeof(reasons) / sizeof(reasons[0]);
	ck_assert_int_eq(n, REASON_COUNT - 1);
	for (int r = REASON_NONE + 1; r < REASON_COUNT; r++) {
		const char *name = verdict_reason_name((enum reason)r);
		ck_assert_ptr_nonnull(name);
		for (int q = r + 1; q < REASON_COUNT; q++)
			ck_assert_str_ne(name, verdict_reason_name((enum reason)q));
	}
}
END_TEST

/* No decision is no text: a NULL column, "-" in a log line. */
START_TEST(test_none_and_out_of_range)
{
	ck_assert_int_eq(REASON_NONE, 0);
	ck_assert_int_eq(VERDICT_NONE, 0);
	ck_assert_ptr_null(verdict_reason_name(REASON_NONE));
	ck_assert_ptr_null(verdict_reason_name(REASON_COUNT));
	ck_assert_ptr_null(verdict_reason_name((enum reason)-1));
	ck_assert(!verdict_reason_is_policy(REASON_NONE));
	ck_assert_ptr_null(verdict_name(VERDICT_NONE));
	ck_assert_ptr_null(verdict_name(VERDICT_COUNT));
	ck_assert_ptr_null(verdict_name((enum verdict)-1));
}
END_TEST

START_TEST(test_verdict_name)
{
	ck_assert_str_eq(verdict_name(VERDICT_ALLOW), "allow");
	ck_assert_str_eq(verdict_name(VERDICT_WARN), "warn");
	ck_assert_str_eq(verdict_name(VERDICT_BLOCK), "block");
	ck_assert_int_eq(VERDICT_COUNT, 4);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("verdict");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_reason_name, 0, (int)(sizeof(reasons) / sizeof(reasons[0])));
	tcase_add_test(tc, test_reasons_complete);
	tcase_add_test(tc, test_none_and_out_of_range);
	tcase_add_test(tc, test_verdict_name);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
