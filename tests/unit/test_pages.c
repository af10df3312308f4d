/*
 * Unit tests: the proxy's own pages (proxy/pages.c, pac.c, metrics.c) —
 * the one HTML escaper every page uses, the one response head every HTML
 * page leaves with, the PAC script and /metrics.
 *
 * These files are linked alone; the shared server state they read for /status
 * and /metrics is a zeroed struct server defined here (no workers, no store).
 * Must never touch the network.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

struct server server;

#define STARTS(s, lit) (strncmp((s), (lit), sizeof(lit) - 1) == 0)

/* The evbuffer's bytes as a NUL-terminated heap string; empties it. */
static char *take(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static const struct {
	const char *in, *out;
} escape_cases[] = {
	{"", ""},
	{"plain text, 42.", "plain text, 42."},
	{"&", "&amp;"},
	{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
	{"a\"b", "a&quot;b"},
	{"it's", "it&#39;s"},
	{"&amp;", "&amp;amp;"},                  /* already escaped text is text */
	{"x=\"1\" onmouseover='y'", "x=&quot;1&quot; onmouseover=&#39;y&#39;"},
	{"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"}, /* UTF-8 */
	{"\xff\xfe", "\xff\xfe"},                /* other high bytes pass (charset=utf-8 decides) */
	{"tab\tline\nret\r", "tab\tline\nret\r"},
	{"a\x01" "b\x1b[0m\x7f" "c", "a\xef\xbf\xbd" "b\xef\xbf\xbd[0m\xef\xbf\xbd" "c"},
	{"<\x02>", "&lt;\xef\xbf\xbd&gt;"},
};

START_TEST(test_escape_table)
{
	struct evbuffer *b = evbuffer_new();
	pages_escape_html(b, escape_cases[_i].in);
	char *got = take(b);
	ck_assert_msg(strcmp(got, escape_cases[_i].out) == 0, "case %d: %s -> %s, want %s", _i,
		      escape_cases[_i].in, got, escape_cases[_i].out);
	free(got);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_escape_long)
{
	/* no fixed buffer: 100 000 escaped bytes come out whole */
	char *in = malloc(100001);
	ck_assert_ptr_nonnull(in);
	memset(in, '<', 100000);
	in[100000] = '\0';
	struct evbuffer *b = evbuffer_new();
	pages_escape_html(b, in);
	ck_assert_uint_eq(evbuffer_get_length(b), 400000);
	evbuffer_free(b);
	free(in);
}
END_TEST

/* Split a response into head and body; checks Content-Length against the body. */
static void split(char *resp, char **head, char **body)
{
	char *sep = strstr(resp, "\r\n\r\n");
	ck_assert_ptr_nonnull(sep);
	sep[2] = '\0';
	*head = resp;
	*body = sep + 4;
	const char *cl = strstr(resp, "\r\nContent-Length: ");
	ck_assert_ptr_nonnull(cl);
	ck_assert_uint_eq(strtoul(cl + 18, NULL, 10), strlen(*body));
}

START_TEST(test_send_html)
{
	struct evbuffer *out = evbuffer_new(), *body = evbuffer_new();
	char *resp, *head, *text;

	evbuffer_add_printf(body, "<p>hi</p>");
	pages_send_html(out, 302, body, "Location: http://x.test/\r\n", true, false);
	ck_assert_uint_eq(evbuffer_get_length(body), 0);
	resp = take(out);
	split(resp, &head, &text);
	ck_assert_str_eq(text, "<p>hi</p>");
	ck_assert_msg(STARTS(head, "HTTP/1.1 302 Found\r\n"), "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nLocation: http://x.test/\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nCache-Control: no-store\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nX-Content-Type-Options: nosniff\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nConnection: keep-alive\r\n"));
	free(resp);

	/* HEAD: the length of the page, no page */
	evbuffer_add_printf(body, "12345");
	pages_send_html(out, 200, body, NULL, false, true);
	ck_assert_uint_eq(evbuffer_get_length(body), 0);
	resp = take(out);
	ck_assert_msg(STARTS(resp, "HTTP/1.1 200 OK\r\n"), "%s", resp);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nContent-Length: 5\r\n"));
	ck_assert_ptr_nonnull(strstr(resp, "\r\nConnection: close\r\n"));
	ck_assert(strlen(strstr(resp, "\r\n\r\n")) == 4);
	free(resp);
	evbuffer_free(body);
	evbuffer_free(out);
}
END_TEST

START_TEST(test_error_page_escapes)
{
	struct conf conf;
	struct evbuffer *out = evbuffer_new();
	char *resp, *head, *body;

	memset(&conf, 0, sizeof(conf));
	conf.proxy.visible_hostname = "proxy<1>";
	pages_error(out, &conf, 502, "Bad Gateway", "origin said \"<b>no</b>\" & 'left'\x01", false);
	resp = take(out);
	split(resp, &head, &body);
	ck_assert_msg(STARTS(head, "HTTP/1.1 502 Bad Gateway\r\n"), "%s", head);
	ck_assert_ptr_nonnull(strstr(body, "<p>origin said &quot;&lt;b&gt;no&lt;/b&gt;&quot; &amp; "
				     "&#39;left&#39;\xef\xbf\xbd</p>"));
	ck_assert_ptr_nonnull(strstr(body, "proxy&lt;1&gt; (breaktime)"));
	ck_assert_ptr_null(strstr(body, "<b>"));
	free(resp);
	evbuffer_free(out);
}
END_TEST

START_TEST(test_block_page_escapes)
{
	struct conf conf;
	struct evbuffer *out = evbuffer_new();
	char *resp, *head, *body;
	struct block_info bi = {.host = "x.test", .platform = "Tik'Tok<", .reason = "r&d",
				.reason_text = "students are \"present\"", .until = "today at 12:30",
				.allowance = "5 minutes", .user = "o'brien"};

	memset(&conf, 0, sizeof(conf));
	conf.proxy.visible_hostname = "bt";
	conf.proxy.block_page = "<a title='{{user}}' href='{{status_url}}'>{{platform}}</a> {{reason}} "
				"{{reason_text}} {{other}}";
	pages_block(out, &conf, &bi, true);
	resp = take(out);
	split(resp, &head, &body);
	ck_assert_msg(STARTS(head, "HTTP/1.1 403 Forbidden\r\n"), "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nX-Content-Type-Options: nosniff\r\n"));
	ck_assert_str_eq(body, "<a title='o&#39;brien' href='http://bt/status'>Tik&#39;Tok&lt;</a> "
			 "r&amp;d Students are &quot;present&quot; {{other}}");
	free(resp);
	evbuffer_free(out);
}
END_TEST

START_TEST(test_challenge_and_status)
{
	struct conf conf;
	struct evbuffer *out = evbuffer_new();
	char *resp, *head, *body;

	memset(&conf, 0, sizeof(conf));
	conf.proxy.visible_hostname = "a&b";
	pages_challenge(out, &conf, true);
	resp = take(out);
	split(resp, &head, &body);
	ck_assert_msg(STARTS(head, "HTTP/1.1 407 Proxy Authentication Required\r\n"), "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nProxy-Authenticate: Basic realm=\"breaktime\", charset=\"UTF-8\"\r\n"));
	ck_assert_ptr_nonnull(strstr(body, "Sign in to use the web"));
	free(resp);

	pages_status(out, &conf, false, false);
	resp = take(out);
	split(resp, &head, &body);
	ck_assert_msg(STARTS(head, "HTTP/1.1 200 OK\r\n"), "%s", head);
	ck_assert_ptr_nonnull(strstr(body, "web proxy (a&amp;b)"));
	ck_assert_ptr_nonnull(strstr(body, "0 open connections, 0 requests since start"));
	free(resp);
	evbuffer_free(out);
}
END_TEST

/* /metrics counts decisions by verdict and reason and names them only
 * there: one series per pair that happened, "-" for a decision without a
 * reason, nothing for a record without a decision. */
START_TEST(test_metrics_decisions)
{
	struct evbuffer *out = evbuffer_new();

	metrics_count_decision(VERDICT_BLOCK, REASON_GROUP_NEVER);
	metrics_count_decision(VERDICT_BLOCK, REASON_GROUP_NEVER);
	metrics_count_decision(VERDICT_BLOCK, REASON_AUTH_REQUIRED);
	metrics_count_decision(VERDICT_WARN, REASON_WARN_CONTINUED);
	metrics_count_decision(VERDICT_ALLOW, REASON_NONE);     /* no policy configured */
	metrics_count_decision(VERDICT_NONE, REASON_NONE);      /* an own page: not a decision */
	metrics_count_decision(VERDICT_NONE, REASON_ALLOWED);
	pages_metrics(out, false, false);
	char *resp = take(out), *head, *body;
	split(resp, &head, &body);
	static const char *const want[] = {
		"breaktime_decisions_total{verdict=\"allow\",reason=\"-\"} 1\n",
		"breaktime_decisions_total{verdict=\"warn\",reason=\"warn-continued\"} 1\n",
		"breaktime_decisions_total{verdict=\"block\",reason=\"group-never\"} 2\n",
		"breaktime_decisions_total{verdict=\"block\",reason=\"auth-required\"} 1\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *at = strstr(body, want[i]);
		ck_assert_msg(at != NULL, "missing %s in:\n%s", want[i], body);
		ck_assert_msg(strstr(at + 1, want[i]) == NULL, "twice: %s", want[i]);
	}
	/* nothing else: the four series above are all */
	int series = 0;
	for (const char *p = body; (p = strstr(p, "\nbreaktime_decisions_total{")); p++)
		series++;
	ck_assert_int_eq(series, 4);
	free(resp);
	evbuffer_free(out);
}
END_TEST

/* The PAC script names the configured proxy, never the request's Host. */
START_TEST(test_pac_never_echoes_host)
{
	struct conf conf;
	struct sockaddr_any l[1];
	struct evbuffer *out = evbuffer_new();
	char *resp, *head, *body;
	static const char *const hosts[] = {"evil.example:8080", "wpad.school.lan", "evil\");alert(1);//",
					    "", NULL};

	memset(&conf, 0, sizeof(conf));
	memset(l, 0, sizeof(l));
	conf.proxy.visible_hostname = "proxy.school.lan";
	server.listen = l;
	server.n_listen = 1;
	for (int bound = 0; bound < 2; bound++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l[0].u.sa;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(3128);
		sin->sin_addr.s_addr = bound ? htonl(0x0a000001) : htonl(INADDR_ANY);
		l[0].len = sizeof(*sin);
		const char *want = bound ? "return \"PROXY 10.0.0.1:3128\";" :
				   "return \"PROXY proxy.school.lan:3128\";";
		for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
			const char *h = hosts[i];
			pages_pac(out, &conf, h, h ? strlen(h) : 0, true, false);
			resp = take(out);
			split(resp, &head, &body);
			ck_assert_msg(STARTS(head, "HTTP/1.1 200 OK\r\n"), "%s", head);
			ck_assert_msg(strstr(body, want), "Host %s, listener %d: %s", h ? h : "(none)", bound, body);
			ck_assert_msg(!h || !*h || !strstr(body, h), "Host %s echoed: %s", h, body);
			free(resp);
		}
	}
	server.listen = NULL;
	server.n_listen = 0;
	evbuffer_free(out);
}
END_TEST

/* The exposition carries the server's counters and the store's; HEAD gets its length only. */
START_TEST(test_metrics_exposition)
{
	struct evbuffer *out = evbuffer_new();
	char *resp, *head, *body;

	server.requests = 7;
	server.status_class[4] = 2;
	server.auth_failures = 3;
	pages_metrics(out, true, false);
	resp = take(out);
	split(resp, &head, &body);
	ck_assert_msg(STARTS(head, "HTTP/1.1 200 OK\r\n"), "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nConnection: keep-alive\r\n"));
	ck_assert_msg(strstr(body, "\nbreaktime_requests_total 7\n"), "%s", body);
	ck_assert_ptr_nonnull(strstr(body, "\nbreaktime_responses_total{class=\"4xx\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(body, "\nbreaktime_responses_total{class=\"5xx\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(body, "\nbreaktime_auth_failures_total 3\n"));
	/* no store: its counters are there, at zero */
	ck_assert_ptr_nonnull(strstr(body, "\nbreaktime_store_records_total{state=\"submitted\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(body, "\nbreaktime_store_failing 0\n"));
	free(resp);

	/* HEAD: the length of the exposition, no exposition */
	pages_metrics(out, false, true);
	resp = take(out);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nConnection: close\r\n"));
	ck_assert(strlen(strstr(resp, "\r\n\r\n")) == 4);
	free(resp);
	server.requests = 0;
	server.status_class[4] = 0;
	server.auth_failures = 0;
	evbuffer_free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pages");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_escape_table, 0, (int)(sizeof(escape_cases) / sizeof(escape_cases[0])));
	tcase_add_test(tc, test_escape_long);
	tcase_add_test(tc, test_send_html);
	tcase_add_test(tc, test_error_page_escapes);
	tcase_add_test(tc, test_block_page_escapes);
	tcase_add_test(tc, test_challenge_and_status);
	tcase_add_test(tc, test_pac_never_echoes_host);
	tcase_add_test(tc, test_metrics_decisions);
	tcase_add_test(tc, test_metrics_exposition);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
