/*
 * Unit tests: common/devmap, the [auth] devices map that breaktimed and
 * breaktime-sensor share — the longest prefix wins, IPv4 and IPv6 (and an
 * IPv4-mapped client), comments and blank lines, every bad line reported
 * and the whole map refused. Files only in a temporary directory.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devmap.h"

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const struct sockaddr *v4(const char *a)
{
	static struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, a, &sin.sin_addr), 1);
	return (const struct sockaddr *)&sin;
}

static const struct sockaddr *v6(const char *a)
{
	static struct sockaddr_in6 sin6;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, a, &sin6.sin6_addr), 1);
	return (const struct sockaddr *)&sin6;
}

START_TEST(longest_prefix_wins)
{
	const char *p = write_file("devices",
		"# shared machines\n"
		"\n"
		"10.50.0.0/24   staffroom   # the whole room\n"
		"10.50.0.9      alice\r\n"
		"\t10.50.0.8/29\tbob\n"
		"2001:db8::/64 carol\n"
		"2001:db8::42/128 dave\n");
	struct devmap *m = devmap_load(p);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(devmap_count(m), 5);
	ck_assert_str_eq(devmap_user(m, v4("10.50.0.9")), "alice");
	ck_assert_str_eq(devmap_user(m, v4("10.50.0.10")), "bob");
	ck_assert_str_eq(devmap_user(m, v4("10.50.0.200")), "staffroom");
	ck_assert_ptr_null(devmap_user(m, v4("10.50.1.9")));
	ck_assert_str_eq(devmap_user(m, v6("2001:db8::42")), "dave");
	ck_assert_str_eq(devmap_user(m, v6("2001:db8::43")), "carol");
	ck_assert_ptr_null(devmap_user(m, v6("2001:db8:1::42")));
	/* an IPv4 client on a dual-stack socket */
	ck_assert_str_eq(devmap_user(m, v6("::ffff:10.50.0.9")), "alice");
	devmap_free(m);
}
END_TEST

START_TEST(empty_and_missing)
{
	struct devmap *m = devmap_load(NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(devmap_count(m), 0);
	ck_assert_ptr_null(devmap_user(m, v4("10.0.0.1")));
	devmap_free(m);
	ck_assert_ptr_null(devmap_user(NULL, v4("10.0.0.1")));
	m = devmap_load(write_file("empty", "# nothing\n\n"));
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(devmap_count(m), 0);
	devmap_free(m);
	char missing[128];
	snprintf(missing, sizeof(missing), "%s/no-such-file", dir);
	ck_assert_ptr_null(devmap_load(missing));
}
END_TEST

/* user names are one rule everywhere (common/username.h): the map gives the
 * lower-case name, the one the proxy records and the policy's members match */
START_TEST(user_names_are_lower_case)
{
	const char *p = write_file("devices-case",
		"10.60.0.1 Kiosk\n"
		"10.60.0.2 ALICE.Smith\n"
		"10.60.0.3 bob\n");
	struct devmap *m = devmap_load(p);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(devmap_user(m, v4("10.60.0.1")), "kiosk");
	ck_assert_str_eq(devmap_user(m, v4("10.60.0.2")), "alice.smith");
	ck_assert_str_eq(devmap_user(m, v4("10.60.0.3")), "bob");
	devmap_free(m);
}
END_TEST

static const char *const bad[] = {
	"10.0.0.1\n",                       /* no user */
	"10.0.0.1   # alice\n",             /* the user is a comment */
	"10.0.0.300 alice\n",               /* not an address */
	"10.0.0.0/33 alice\n",              /* prefix too long */
	"alice 10.0.0.1\n",                 /* the wrong way round */
	"10.0.0.1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", /* 64 chars */
};

START_TEST(bad_line_refuses_the_map)
{
	char text[256];
	snprintf(text, sizeof(text), "10.0.0.2 bob\n%s10.0.0.3 carol\n", bad[_i]);
	ck_assert_ptr_null(devmap_load(write_file("bad", text)));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("devmap");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, longest_prefix_wins);
	tcase_add_test(tc, empty_and_missing);
	tcase_add_test(tc, user_names_are_lower_case);
	tcase_add_loop_test(tc, bad_line_refuses_the_map, 0, sizeof(bad) / sizeof(bad[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bt-devmap-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return failed ? 1 : 0;
}
