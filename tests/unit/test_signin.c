/*
 * Unit tests: the sign-in form's token (proxy/signin.c), which keeps
 * another site's page from signing a device in (login CSRF). A token is
 * good for the address it was made for, for SIGNIN_TOKEN_TTL, and only as
 * this process made it; the clock is passed in, so expiry is tested
 * without waiting an hour.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "signin.h"

static struct sockaddr_in6 v6(const char *text, uint16_t port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	ck_assert_int_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
	return a;
}

static struct sockaddr_in v4(const char *text, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	ck_assert_int_eq(inet_pton(AF_INET, text, &a.sin_addr), 1);
	return a;
}

#define NOW 1796680000

START_TEST(test_good_for_its_address_and_time)
{
	struct sockaddr_in a = v4("10.1.2.3", 40000), same = v4("10.1.2.3", 50000), other = v4("10.1.2.4", 40000);
	char t[SIGNIN_TOKEN_MAX];

	ck_assert(signin_token((struct sockaddr *)&a, NOW, t));
	ck_assert(signin_token_ok((struct sockaddr *)&a, t, NOW));
	/* another connection from the same device: another port */
	ck_assert(signin_token_ok((struct sockaddr *)&same, t, NOW + 10));
	ck_assert(signin_token_ok((struct sockaddr *)&a, t, NOW + SIGNIN_TOKEN_TTL));
	ck_assert(!signin_token_ok((struct sockaddr *)&a, t, NOW + SIGNIN_TOKEN_TTL + 1));
	/* a clock stepped back a little is forgiven, a token from the future is not */
	ck_assert(signin_token_ok((struct sockaddr *)&a, t, NOW - 60));
	ck_assert(!signin_token_ok((struct sockaddr *)&a, t, NOW - 3600));
	ck_assert(!signin_token_ok((struct sockaddr *)&other, t, NOW));
}
END_TEST

START_TEST(test_ipv6_and_families)
{
	struct sockaddr_in6 a = v6("fd00:231:1::2", 1), b = v6("fd00:231:1::3", 1);
	struct sockaddr_in four = v4("10.1.2.3", 1);
	char t[SIGNIN_TOKEN_MAX], t4[SIGNIN_TOKEN_MAX];

	ck_assert(signin_token((struct sockaddr *)&a, NOW, t));
	ck_assert(signin_token_ok((struct sockaddr *)&a, t, NOW));
	ck_assert(!signin_token_ok((struct sockaddr *)&b, t, NOW));
	ck_assert(signin_token((struct sockaddr *)&four, NOW, t4));
	ck_assert(!signin_token_ok((struct sockaddr *)&a, t4, NOW));
}
END_TEST

START_TEST(test_forged)
{
	struct sockaddr_in a = v4("10.1.2.3", 40000);
	char t[SIGNIN_TOKEN_MAX], f[SIGNIN_TOKEN_MAX + 8];

	ck_assert(signin_token((struct sockaddr *)&a, NOW, t));
	const char *dot = strchr(t, '.');
	ck_assert_ptr_nonnull(dot);
	ck_assert_uint_eq(strlen(dot + 1), 64);
	/* one hex digit changed */
	strcpy(f, t);
	f[strlen(f) - 1] = f[strlen(f) - 1] == '0' ? '1' : '0';
	ck_assert(!signin_token_ok((struct sockaddr *)&a, f, NOW));
	/* the time moved on, the MAC kept: the MAC covers the time */
	snprintf(f, sizeof(f), "%d%s", NOW + 1, dot);
	ck_assert(!signin_token_ok((struct sockaddr *)&a, f, NOW + 1));
	/* shapes that are not a token */
	static const char *bad[] = {"", ".", "1796680000", "1796680000.", "-1.00", " 1796680000.00",
				    "+1796680000.00", "99999999999999999999999."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!signin_token_ok((struct sockaddr *)&a, bad[i], NOW), "%s", bad[i]);
	/* the right MAC with extra bytes after it */
	snprintf(f, sizeof(f), "%s0", t);
	ck_assert(!signin_token_ok((struct sockaddr *)&a, f, NOW));
	/* upper-case hex is another string */
	strcpy(f, t);
	for (char *p = strchr(f, '.') + 1; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	if (strcmp(f, t) != 0)
		ck_assert(!signin_token_ok((struct sockaddr *)&a, f, NOW));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signin");
	TCase *tc = tcase_create("token");
	tcase_add_test(tc, test_good_for_its_address_and_time);
	tcase_add_test(tc, test_ipv6_and_families);
	tcase_add_test(tc, test_forged);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
