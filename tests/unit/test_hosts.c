/*
 * Unit tests: proxy/hosts.c, the hosts files parsed off the event loops.
 * A table of lines and what a lookup answers for them (the grammar glibc and
 * libevent read: address then names, `#` comments, blanks of any kind, lines
 * with a bad address skipped), then order across files, names in normal
 * form, the port, a full answer array, a file that cannot be read and a
 * large table.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts.h"

static struct hosts *from_text(const char *text)
{
	struct hosts *h = hosts_create();
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(hosts_add_text(h, text, strlen(text)), 0);
	hosts_finish(h);
	return h;
}

/* The answer for name as "addr,addr" (no port), "" when not in the table. */
static const char *answer(const struct hosts *h, const char *name, char *buf, size_t len)
{
	struct sockaddr_any out[8];
	size_t n = hosts_lookup(h, name, 80, out, 8);

	buf[0] = '\0';
	for (size_t i = 0; i < n && i < 8; i++) {
		char a[INET6_ADDRSTRLEN];
		sockaddr_ntop(&out[i].u.sa, a, sizeof(a));
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? "," : "", a);
	}
	return buf;
}

static const struct {
	const char *text, *name, *want;
} cases[] = {
	{"127.0.0.2 moved.test\n", "moved.test", "127.0.0.2"},
	{"127.0.0.2 moved.test", "moved.test", "127.0.0.2"},                   /* no final newline */
	{"127.0.0.2\tmoved.test\talias.test\n", "alias.test", "127.0.0.2"},    /* tabs, aliases */
	{"  127.0.0.2   moved.test  \r\n", "moved.test", "127.0.0.2"},         /* blanks, CRLF */
	{"::1 six.test\n", "six.test", "::1"},
	{"2001:db8::7 six.test\n", "six.test", "2001:db8::7"},
	{"127.0.0.2 Moved.TEST.\n", "moved.test", "127.0.0.2"},                /* normal form */
	{"# 127.0.0.2 moved.test\n", "moved.test", ""},                       /* a comment */
	{"127.0.0.2 moved.test # old: 127.0.0.3\n", "moved.test", "127.0.0.2"},
	{"127.0.0.2 moved.test#gone.test\n", "gone.test", ""},                /* # ends the line */
	{"127.0.0.2 #moved.test\n", "moved.test", ""},
	{"127.0.0.2:80 moved.test\n", "moved.test", ""},                      /* no port */
	{"[::1] moved.test\n", "moved.test", ""},                             /* no brackets */
	{"nowhere moved.test\n", "moved.test", ""},                           /* no address */
	{"127.0.0.2\n", "127.0.0.2", ""},                                     /* no name */
	{"127.0.0.2 bad_name!.test moved.test\n", "moved.test", "127.0.0.2"}, /* a bad name is skipped */
	{"127.0.0.2 10.0.0.1\n", "10.0.0.1", ""},                             /* an address is no name */
	{"127.0.0.2 a.test\n127.0.0.3 b.test\n", "b.test", "127.0.0.3"},
	{"127.0.0.2 a.test\n::2 a.test\n127.0.0.3 a.test\n", "a.test", "127.0.0.2,::2,127.0.0.3"},
	{"127.0.0.2 a.test\n", "b.test", ""},
	{"127.0.0.2 a.test\n", "a.tes", ""},                                  /* whole names only */
	{"127.0.0.2 a.test\n", "sub.a.test", ""},
	{"", "a.test", ""},
};

START_TEST(table)
{
	char buf[256];
	struct hosts *h = from_text(cases[_i].text);
	ck_assert_msg(strcmp(answer(h, cases[_i].name, buf, sizeof(buf)), cases[_i].want) == 0,
		      "case %d: %s in \"%s\": got \"%s\", want \"%s\"", _i, cases[_i].name,
		      cases[_i].text, buf, cases[_i].want);
	hosts_destroy(h);
}
END_TEST

START_TEST(order_across_files_and_port)
{
	char buf[256];
	struct hosts *h = hosts_create();
	const char *sys = "127.0.0.1 localhost\n::1 localhost\n127.0.0.5 both.test\n";
	const char *mine = "127.0.0.9 both.test\n127.0.0.8 mine.test\n";

	ck_assert_int_eq(hosts_add_text(h, sys, strlen(sys)), 0);
	ck_assert_int_eq(hosts_add_text(h, mine, strlen(mine)), 0);
	hosts_finish(h);
	ck_assert_uint_eq(hosts_count(h), 5);
	/* the first file's entries first, as libevent answered */
	ck_assert_str_eq(answer(h, "both.test", buf, sizeof(buf)), "127.0.0.5,127.0.0.9");
	ck_assert_str_eq(answer(h, "localhost", buf, sizeof(buf)), "127.0.0.1,::1");

	struct sockaddr_any out[2];
	ck_assert_uint_eq(hosts_lookup(h, "localhost", 3128, out, 2), 2);
	ck_assert_uint_eq(sockaddr_port(&out[0].u.sa), 3128);
	ck_assert_int_eq(out[0].u.sa.sa_family, AF_INET);
	ck_assert_uint_eq(out[0].len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(out[1].u.sa.sa_family, AF_INET6);
	ck_assert_uint_eq(out[1].len, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(sockaddr_port(&out[1].u.sa), 3128);
	/* out too small: the count says how many there are, only max are written */
	ck_assert_uint_eq(hosts_lookup(h, "both.test", 80, out, 1), 2);
	ck_assert_uint_eq(hosts_lookup(h, "nothere.test", 80, out, 2), 0);
	ck_assert_uint_eq(hosts_lookup(NULL, "both.test", 80, out, 2), 0);
	hosts_destroy(h);
}
END_TEST

START_TEST(files)
{
	char dir[] = "/tmp/test_hosts.XXXXXX", path[64], buf[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hosts", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("# test\n127.0.0.2 file.test\n", f);
	fclose(f);

	struct hosts *h = hosts_create();
	ck_assert_int_eq(hosts_add_file(h, path), 0);
	errno = 0;
	char missing[80];
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	ck_assert_int_eq(hosts_add_file(h, missing), -1);
	ck_assert_int_eq(errno, ENOENT);
	hosts_finish(h);
	ck_assert_uint_eq(hosts_count(h), 1);
	ck_assert_str_eq(answer(h, "file.test", buf, sizeof(buf)), "127.0.0.2");
	hosts_destroy(h);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(large_table)
{
	/* a blocklist-sized file: every name found, none confused with another */
	enum { N = 50000 };
	size_t cap = (size_t)N * 40, len = 0;
	char *text = malloc(cap), buf[256], name[64], want[32];
	ck_assert_ptr_nonnull(text);
	for (int i = N - 1; i >= 0; i--)
		len += (size_t)snprintf(text + len, cap - len, "10.%d.%d.%d n%d.bulk.test\n",
					(i >> 16) & 255, (i >> 8) & 255, i & 255, i);
	struct hosts *h = hosts_create();
	ck_assert_int_eq(hosts_add_text(h, text, len), 0);
	hosts_finish(h);
	ck_assert_uint_eq(hosts_count(h), N);
	for (int i = 0; i < N; i += 997) {
		snprintf(name, sizeof(name), "n%d.bulk.test", i);
		snprintf(want, sizeof(want), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		ck_assert_str_eq(answer(h, name, buf, sizeof(buf)), want);
	}
	ck_assert_str_eq(answer(h, "n50000.bulk.test", buf, sizeof(buf)), "");
	hosts_destroy(h);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hosts");
	TCase *tc = tcase_create("hosts");
	tcase_add_loop_test(tc, table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, order_across_files_and_port);
	tcase_add_test(tc, files);
	tcase_add_test(tc, large_table);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
