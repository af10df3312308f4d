/*
 * Unit tests: percent-encoding of URL queries (common/urlenc.h), the rule
 * the proxy's Continue link and the web UI's links and forms share
 * (table-driven).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "urlenc.h"

static const struct {
	const char *in;
	size_t len;             /* the output buffer */
	const char *out;
} encode_cases[] = {
	{"", 16, ""},
	{"azAZ09-._~", 16, "azAZ09-._~"},                       /* unreserved: as they are */
	{"a b&c=d/e?f#g+h%", 64, "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25"},
	{"caf\xc3\xa9", 16, "caf%C3%A9"},                       /* upper-case hex, byte by byte */
	{"<\"'>", 16, "%3C%22%27%3E"},                           /* safe in HTML too */
	{"\x01\x7f\xff", 16, "%01%7F%FF"},
	{"https://x.test/?q=1", 64, "https%3A%2F%2Fx.test%2F%3Fq%3D1"},
	/* cut short, never inside an escape: a byte only while 3 + NUL fit */
	{"abc def", 8, "abc%20"},
	{"abc def", 7, "abc"},
	{"abcdef", 5, "a"},
	{"abcdef", 1, ""},
};

START_TEST(test_encode)
{
	char out[64];

	memset(out, 'x', sizeof(out));
	url_encode(encode_cases[_i].in, out, encode_cases[_i].len);
	ck_assert_msg(strcmp(out, encode_cases[_i].out) == 0, "case %d: got \"%s\", want \"%s\"", _i,
		      out, encode_cases[_i].out);
	ck_assert_uint_lt(strlen(out), encode_cases[_i].len);
}
END_TEST

static const struct {
	const char *in;
	size_t outlen;
	const char *out;        /* NULL: refused */
} decode_cases[] = {
	{"", 1, ""},
	{"plain", 16, "plain"},
	{"a+b%20c", 16, "a b c"},
	{"%41%6a%6A", 16, "Ajj"},                               /* either case */
	{"%2B+", 16, "+ "},                                     /* an encoded '+' is a '+' */
	{"%0A%ff", 16, "\n\xff"},
	{"100%", 16, NULL},                                      /* '%' at the end */
	{"%4", 16, NULL},                                        /* one digit */
	{"%4g", 16, NULL},
	{"%g4", 16, NULL},
	{"% 41", 16, NULL},
	{"%00", 16, NULL},                                       /* a NUL would cut the value short */
	{"a%00b", 16, NULL},
	{"%%41", 16, NULL},
	{"12345", 6, "12345"},                                   /* fits exactly */
	{"123456", 6, NULL},                                     /* never silently shortened */
	{"%41%42", 3, "AB"},
	{"%41%42%43", 3, NULL},
};

START_TEST(test_decode)
{
	char out[64];
	const char *in = decode_cases[_i].in;

	bool ok = url_decode(in, strlen(in), out, decode_cases[_i].outlen);
	if (!decode_cases[_i].out) {
		ck_assert_msg(!ok, "case %d: \"%s\" accepted as \"%s\"", _i, in, out);
		return;
	}
	ck_assert_msg(ok, "case %d: \"%s\" refused", _i, in);
	ck_assert_msg(strcmp(out, decode_cases[_i].out) == 0, "case %d: got \"%s\"", _i, out);
}
END_TEST

/* Only len bytes are read: a value that goes on in memory ends at len. */
START_TEST(test_decode_bounded)
{
	char out[16];

	ck_assert(url_decode("ab%41", 2, out, sizeof(out)));
	ck_assert_str_eq(out, "ab");
	ck_assert(!url_decode("ab%41", 4, out, sizeof(out)));   /* "%4" within len */
	ck_assert(url_decode("a\0b", 3, out, sizeof(out)));     /* a raw byte is copied as it is */
	ck_assert(memcmp(out, "a\0b", 4) == 0);
}
END_TEST

/* In place (web_form.c) and every byte but NUL through encode and back. */
START_TEST(test_round_trip)
{
	char raw[256], enc[3 * 256 + 1];

	for (int i = 1; i < 256; i++)
		raw[i - 1] = (char)i;
	raw[255] = '\0';
	url_encode(raw, enc, sizeof(enc));
	ck_assert_uint_eq(strlen(enc), 66 + 3 * (255 - 66));    /* 66 unreserved bytes */
	size_t n = strlen(enc);
	ck_assert(url_decode(enc, n, enc, n + 1));
	ck_assert_str_eq(enc, raw);
}
END_TEST

static const struct {
	const char *query, *name;
	const char *value;      /* NULL: absent or refused */
} query_cases[] = {
	{"p=Facebook&t=ab12&to=https%3A%2F%2Fx.test%2F", "to", "https://x.test/"},
	{"p=Facebook&t=ab12&to=x", "p", "Facebook"},
	{"p=Facebook&t=ab12&to=x", "t", "ab12"},
	{"p=1&p=2", "p", "1"},                                   /* the first */
	{"pp=1&p=2", "p", "2"},                                  /* a longer name is another name */
	{"to=1&t=2", "t", "2"},
	{"t&t=3", "t", "3"},                                     /* no '=': not a value */
	{"p=", "p", ""},
	{"p=a+b", "p", "a b"},
	{"&&p=x&&", "p", "x"},
	{"q=1", "p", NULL},
	{"", "p", NULL},
	{"p=%zz&p=ok", "p", NULL},                               /* the first is refused: no second look */
	{"p=%00", "p", NULL},
	{"p=0123456789abcdef", "p", NULL},                       /* does not fit in 16 */
};

START_TEST(test_query_get)
{
	char out[16];
	const char *q = query_cases[_i].query;

	bool ok = url_query_get(q, strlen(q), query_cases[_i].name, out, sizeof(out));
	if (!query_cases[_i].value) {
		ck_assert_msg(!ok, "case %d: %s in \"%s\" gave \"%s\"", _i, query_cases[_i].name, q, out);
		return;
	}
	ck_assert_msg(ok, "case %d: %s not found in \"%s\"", _i, query_cases[_i].name, q);
	ck_assert_msg(strcmp(out, query_cases[_i].value) == 0, "case %d: got \"%s\"", _i, out);
}
END_TEST

/* The query ends at len even when the buffer goes on (the request target). */
START_TEST(test_query_bounded)
{
	static const char target[] = "p=abc&t=1 HTTP/1.1";
	char out[16];

	ck_assert(url_query_get(target, 4, "p", out, sizeof(out)));
	ck_assert_str_eq(out, "ab");
	ck_assert(!url_query_get(target, 5, "t", out, sizeof(out)));
	ck_assert(url_query_get(target, 9, "t", out, sizeof(out)));
	ck_assert_str_eq(out, "1");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("urlenc");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_encode, 0, (int)(sizeof(encode_cases) / sizeof(encode_cases[0])));
	tcase_add_loop_test(tc, test_decode, 0, (int)(sizeof(decode_cases) / sizeof(decode_cases[0])));
	tcase_add_test(tc, test_decode_bounded);
	tcase_add_test(tc, test_round_trip);
	tcase_add_loop_test(tc, test_query_get, 0, (int)(sizeof(query_cases) / sizeof(query_cases[0])));
	tcase_add_test(tc, test_query_bounded);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
