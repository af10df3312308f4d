/* Unit tests: hostname normalisation and authority splitting (table-driven). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hostname.h"
#include "netaddr.h"

static const struct {
	const char *in;
	enum host_kind kind;
	const char *out;
} norm_cases[] = {
	{"Example.COM", HOST_NAME, "example.com"},
	{"example.com.", HOST_NAME, "example.com"},
	{"example.com:8080", HOST_NAME, "example.com"},
	{"www.facebook.com.:443", HOST_NAME, "www.facebook.com"},
	{"[::1]:3128", HOST_IPV6, "::1"},
	{"[2001:DB8::1]", HOST_IPV6, "2001:db8::1"},
	{"2001:db8::1", HOST_IPV6, "2001:db8::1"},
	{"127.0.0.1", HOST_IPV4, "127.0.0.1"},
	{"127.0.0.1:80", HOST_IPV4, "127.0.0.1"},
	{"127.1", HOST_INVALID, ""},
	{"2130706433", HOST_INVALID, ""},
	{"a..b", HOST_INVALID, ""},
	{".example.com", HOST_INVALID, ""},
	{"-bad.com", HOST_INVALID, ""},
	{"bad-.com", HOST_INVALID, ""},
	{"exa mple.com", HOST_INVALID, ""},
	{"exa\tmple.com", HOST_INVALID, ""},
	{"example.com:", HOST_INVALID, ""},
	{"example.com:0", HOST_INVALID, ""},
	{"example.com:65536", HOST_INVALID, ""},
	{"example.com:80:80", HOST_INVALID, ""},
	{"[::1", HOST_INVALID, ""},
	{"[zz::1]", HOST_INVALID, ""},
	{"_dmarc.example.com", HOST_NAME, "_dmarc.example.com"},
	{"xn--bcher-kva.example", HOST_NAME, "xn--bcher-kva.example"},
	{"caf\xc3\xa9.example", HOST_INVALID, ""},
	{"", HOST_INVALID, ""},
	{".", HOST_INVALID, ""},
	{"a..", HOST_INVALID, ""},
	{"example.com..", HOST_INVALID, ""},
	{"localhost", HOST_NAME, "localhost"},
};

START_TEST(test_normalise)
{
	char out[HOSTNAME_MAX + 1];
	const char *in = norm_cases[_i].in;
	enum host_kind k = hostname_normalise(in, strlen(in), out);
	ck_assert_msg(k == norm_cases[_i].kind, "%s: kind %d, want %d", in, k, norm_cases[_i].kind);
	ck_assert_str_eq(out, norm_cases[_i].out);
}
END_TEST

START_TEST(test_label_limits)
{
	char in[400], out[HOSTNAME_MAX + 1];
	memset(in, 'a', 63);
	strcpy(in + 63, ".com");
	ck_assert_int_eq(hostname_normalise(in, strlen(in), out), HOST_NAME);
	memset(in, 'a', 64);
	strcpy(in + 64, ".com");
	ck_assert_int_eq(hostname_normalise(in, strlen(in), out), HOST_INVALID);
	/* 254 bytes total is one too many */
	size_t n = 0;
	while (n < 250) {
		memcpy(in + n, "abcdefghi.", 10);
		n += 10;
	}
	memcpy(in + n, "abcd", 4);
	n += 4;
	in[n] = '\0';
	ck_assert_int_eq(hostname_normalise(in, n, out), HOST_INVALID);
	ck_assert_int_eq(hostname_normalise(in, n - 1, out), HOST_NAME);
}
END_TEST

START_TEST(test_authority)
{
	const char *h;
	size_t hl;
	uint16_t port;
	ck_assert_int_eq(hostname_split_authority("a.b:443", 7, &h, &hl, 80, &port), 0);
	ck_assert_uint_eq(hl, 3);
	ck_assert_uint_eq(port, 443);
	ck_assert_int_eq(hostname_split_authority("a.b", 3, &h, &hl, 80, &port), 0);
	ck_assert_uint_eq(port, 80);
	ck_assert_int_eq(hostname_split_authority("[::1]:8443", 10, &h, &hl, 80, &port), 0);
	ck_assert_uint_eq(hl, 3);
	ck_assert_uint_eq(port, 8443);
	ck_assert_int_eq(hostname_split_authority(":443", 4, &h, &hl, 80, &port), -1);
	ck_assert_int_eq(hostname_split_authority("a:+1", 4, &h, &hl, 80, &port), -1);
	ck_assert_int_eq(hostname_split_authority("[::1]x", 6, &h, &hl, 80, &port), -1);
}
END_TEST

START_TEST(test_cidr)
{
	struct cidr c;
	struct sockaddr_any sa;
	ck_assert_int_eq(cidr_parse("10.0.0.0/8", &c), 0);
	ck_assert_int_eq(sockaddr_parse("10.1.2.3:1", &sa), 0);
	ck_assert(cidr_match(&c, &sa.u.sa));
	ck_assert_int_eq(sockaddr_parse("11.1.2.3:1", &sa), 0);
	ck_assert(!cidr_match(&c, &sa.u.sa));
	ck_assert_int_eq(cidr_parse("172.16.0.0/12", &c), 0);
	ck_assert_int_eq(sockaddr_parse("172.31.255.255:1", &sa), 0);
	ck_assert(cidr_match(&c, &sa.u.sa));
	ck_assert_int_eq(sockaddr_parse("172.32.0.1:1", &sa), 0);
	ck_assert(!cidr_match(&c, &sa.u.sa));
	ck_assert_int_eq(sockaddr_parse("[::ffff:172.20.0.1]:1", &sa), 0);
	ck_assert(cidr_match(&c, &sa.u.sa));
	ck_assert_int_eq(cidr_parse("::1", &c), 0);
	ck_assert_int_eq(sockaddr_parse("[::1]:1", &sa), 0);
	ck_assert(cidr_match(&c, &sa.u.sa));
	ck_assert_int_eq(cidr_parse("10.0.0.0/33", &c), -1);
	ck_assert_int_eq(cidr_parse("10.0.0/8", &c), -1);
	ck_assert_int_eq(cidr_parse("/8", &c), -1);
	ck_assert(sockaddr_is_local_scope(&sa.u.sa));
	ck_assert_int_eq(sockaddr_parse("169.254.1.1:80", &sa), 0);
	ck_assert(sockaddr_is_local_scope(&sa.u.sa));
	ck_assert_int_eq(sockaddr_parse("192.0.2.1:80", &sa), 0);
	ck_assert(!sockaddr_is_local_scope(&sa.u.sa));
	ck_assert_int_eq(sockaddr_parse("127.0.0.1", &sa), -1);
	ck_assert_int_eq(sockaddr_parse("[::1]:99999", &sa), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostname");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_normalise, 0, (int)(sizeof(norm_cases) / sizeof(norm_cases[0])));
	tcase_add_test(tc, test_label_limits);
	tcase_add_test(tc, test_authority);
	tcase_add_test(tc, test_cidr);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
