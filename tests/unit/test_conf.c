/* Unit tests: the configuration loader's [proxy] and [store] sections and its errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static struct conf *load(const char *text, struct conf_errors *e)
{
	memset(e, 0, sizeof(*e));
	return conf_load_string(text, "t.conf", e);
}

START_TEST(test_defaults)
{
	struct conf_errors e;
	struct conf *c = load("", &e);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->proxy.n_listen, 1);
	ck_assert_uint_eq(c->proxy.n_connect_ports, 1);
	ck_assert_uint_eq(c->proxy.connect_ports[0], 443);
	ck_assert(!c->proxy.allow_loopback_upstream);
	ck_assert_ptr_null(c->proxy.block_ca);
	ck_assert_ptr_null(c->proxy.block_ca_key);
	ck_assert_uint_eq(c->store.log_other, LOG_OTHER_COUNTS);
	ck_assert_uint_eq(c->store.retention_days, 180);
	conf_unref(c);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_values)
{
	struct conf_errors e;
	struct conf *c = load("[proxy]\n"
			      "listen = 127.0.0.1:3128, [::1]:3128\n"
			      "workers = 2\n"
			      "connect_ports = 443 8443\n"
			      "header_timeout = 250ms\n"
			      "idle_timeout = 2m\n"
			      "max_header_size = 32k\n"
			      "allow_loopback_upstream = yes\n"
			      "block_ca = /etc/breaktime/ca/breaktime-ca.pem\n"
			      "block_ca_key = /etc/breaktime/ca/breaktime-ca.key\n"
			      "[store]\n"
			      "retention = 400d\n"
			      "log_other = none\n"
			      "queue = 8192\n"
			      "batch = 1000\n"
			      "batch_interval = 100ms\n"
			      "hold = 16M\n"
			      "max_size = 2G\n"
			      "[web]\n"
			      "listen = [::1]:9443\n"
			      "certificate = /etc/ssl/web.pem\n"
			      "private_key = /etc/ssl/web.key\n"
			      "session_timeout = 2h\n"
			      "login_attempts = 3\n"
			      "max_connections = 16\n"
			      "idle_timeout = 45s\n", &e);
	ck_assert_msg(c != NULL, "%s", e.n ? e.msgs[0] : "");
	ck_assert_uint_eq(c->proxy.n_listen, 2);
	ck_assert_uint_eq(c->proxy.workers, 2);
	ck_assert_uint_eq(c->proxy.n_connect_ports, 2);
	ck_assert_uint_eq(c->proxy.connect_ports[1], 8443);
	ck_assert_uint_eq(c->proxy.header_timeout_ms, 250);
	ck_assert_uint_eq(c->proxy.idle_timeout_ms, 120000);
	ck_assert_uint_eq(c->proxy.max_header_bytes, 32768);
	ck_assert(c->proxy.allow_loopback_upstream);
	ck_assert_str_eq(c->proxy.block_ca, "/etc/breaktime/ca/breaktime-ca.pem");
	ck_assert_str_eq(c->proxy.block_ca_key, "/etc/breaktime/ca/breaktime-ca.key");
	ck_assert_uint_eq(c->store.retention_days, 400);
	ck_assert_uint_eq(c->store.log_other, LOG_OTHER_NONE);
	ck_assert_uint_eq(c->store.queue, 8192);
	ck_assert_uint_eq(c->store.batch, 1000);
	ck_assert_uint_eq(c->store.batch_interval_ms, 100);
	ck_assert_uint_eq(c->store.hold, 16u << 20);
	ck_assert(c->store.max_size == (uint64_t)2 << 30);
	ck_assert_uint_eq(c->web.listen.u.sa.sa_family, AF_INET6);
	ck_assert_str_eq(c->web.certificate, "/etc/ssl/web.pem");
	ck_assert_str_eq(c->web.private_key, "/etc/ssl/web.key");
	ck_assert_uint_eq(c->web.session_timeout_ms, 2u * 3600 * 1000);
	ck_assert_uint_eq(c->web.login_attempts, 3);
	ck_assert_uint_eq(c->web.max_connections, 16);
	ck_assert_uint_eq(c->web.idle_timeout_ms, 45000);
	conf_unref(c);
	conf_errors_free(&e);
}
END_TEST

/* Each bad file: the exact first error message, with its line. */
static const struct {
	const char *text;
	const char *error;
} bad[] = {
	{"[proxy]\nlisten = 127.0.0.1\n", "t.conf:2: listen: `127.0.0.1` is not ADDRESS:PORT (IPv6 in brackets: [::1]:3128)"},
	{"[proxy]\n\n\nworkrs = 2\n", "t.conf:4: unknown key `workrs` in [proxy]: did you mean `workers`?"},
	{"[proxy]\nheader_timeout = soon\n", "t.conf:2: header_timeout: `soon` is not a duration (like 250ms, 30s, 10m, 1h)"},
	{"[proxy]\nconnect_ports = 443, 0\n", "t.conf:2: connect_ports: `0` is not a port number"},
	{"[proxy]\nallow_clients = 10.0.0.0/33\n", "t.conf:2: allow_clients: `10.0.0.0/33` is not an address or ADDRESS/BITS"},
	{"[prxy]\nworkers = 1\n", "t.conf:2: unknown section [prxy]: did you mean [proxy]?"},
	{"workers = 1\n", "t.conf:1: `workers` is outside any [section]"},
	{"[proxy]\nthis is not ini\n", "t.conf:2: syntax error (expected `key = value` or `[section]`)"},
	{"[store]\nlog_other = some\n", "t.conf:2: log_other: `some` is not none, counts or hosts"},
	{"[store]\nretention = 36h\n", "t.conf:2: retention: `36h` is not a number of days (like 180d)"},
	{"[store]\nqueue = 8\n", "t.conf:2: queue: `8` is not a number of records from 16 to 4194304"},
	{"[store]\nbatch = lots\n", "t.conf:2: batch: `lots` is not a number of records from 16 to 4194304"},
	{"[store]\nbatch_interval = 2m\n", "t.conf:2: batch_interval: `2m` is not a time from 10ms to 60s"},
	{"[store]\nhold = 1k\n", "t.conf:2: hold: `1k` is not a size from 64k to 4G"},
	{"[store]\nmax_size = 10k\n", "t.conf:2: max_size: `10k` is not a size of 1M or more (or none)"},
	{"[web]\nlisten = 8443\n", "t.conf:2: listen: `8443` is not ADDRESS:PORT (IPv6 in brackets: [::1]:8443)"},
	{"[web]\nsession_timeout = 8d\n", "t.conf:2: session_timeout: `8d` is not a duration from 1s to 7d (like 8h)"},
	{"[web]\nlogin_attempts = 0\n", "t.conf:2: login_attempts: `0` is not a number from 1 to 1000"},
	{"[web]\n\ncertificate = /x.pem\n", "t.conf:3: [web] needs both certificate and private_key"},
	{"[web]\nport = 1\n", "t.conf:2: unknown key `port` in [web]"},
	{"[web]\nmax_connections = 0\n", "t.conf:2: max_connections: `0` is not a number from 1 to 10000"},
	{"[web]\nidle_timeout = 2h\n", "t.conf:2: idle_timeout: `2h` is not a duration from 1s to 1h (like 30s)"},
	{"[proxy]\nallow_loopback_upstream = maybe\n", "t.conf:2: allow_loopback_upstream: `maybe` is not yes or no"},
	{"[proxy]\nworkers = 1\nblock_ca = /etc/breaktime/ca/breaktime-ca.pem\n",
	 "t.conf:3: block_ca without block_ca_key: give both (the block-page CA and its key), or neither"},
	{"[proxy]\n\nblock_ca_key = /k\n",
	 "t.conf:3: block_ca_key without block_ca: give both (the block-page CA and its key), or neither"},
	{"[proxy]\nblock_ca = /c.pem\nblock_ca_key = /k\nblock_ca =\n",
	 "t.conf:3: block_ca_key without block_ca: give both (the block-page CA and its key), or neither"},
};

START_TEST(test_errors)
{
	struct conf_errors e;
	struct conf *c = load(bad[_i].text, &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_ge(e.n, 1);
	ck_assert_str_eq(e.msgs[0], bad[_i].error);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_all_errors_listed)
{
	struct conf_errors e;
	struct conf *c = load("[proxy]\nworkers = x\nlisten = nope\n[store]\nlog_other = y\n", &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.n, 3);
	ck_assert(strncmp(e.msgs[0], "t.conf:2:", 9) == 0);
	ck_assert(strncmp(e.msgs[1], "t.conf:3:", 9) == 0);
	ck_assert(strncmp(e.msgs[2], "t.conf:5:", 9) == 0);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_long_line)
{
	/* longer than inih's default 200-byte line buffer */
	char text[8192];
	strcpy(text, "[proxy]\nallow_clients = ");
	for (int i = 0; i < 200; i++)
		sprintf(text + strlen(text), "10.%d.0.0/16, ", i);
	strcat(text, "\nworkers = 3\n");
	struct conf_errors e;
	struct conf *c = load(text, &e);
	ck_assert_msg(c != NULL, "%s", e.n ? e.msgs[0] : "");
	ck_assert_uint_eq(c->proxy.n_allow_clients, 200);
	ck_assert_uint_eq(c->proxy.workers, 3);
	conf_unref(c);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_parsers)
{
	unsigned ms;
	size_t sz;
	ck_assert_int_eq(conf_parse_duration_ms("10m", &ms), 0);
	ck_assert_uint_eq(ms, 600000);
	ck_assert_int_eq(conf_parse_duration_ms("1d", &ms), 0);
	ck_assert_uint_eq(ms, 86400000);
	ck_assert_int_eq(conf_parse_duration_ms("-1s", &ms), -1);
	ck_assert_int_eq(conf_parse_duration_ms("5y", &ms), -1);
	ck_assert_int_eq(conf_parse_duration_ms("99999999d", &ms), -1);
	ck_assert_int_eq(conf_parse_size("2KiB", &sz), 0);
	ck_assert_uint_eq(sz, 2048);
	ck_assert_int_eq(conf_parse_size("1M", &sz), 0);
	ck_assert_uint_eq(sz, 1048576);
	ck_assert_int_eq(conf_parse_size("k", &sz), -1);
	ck_assert_str_eq(conf_suggest("alowance", (const char *const[]){"allowance", "members", NULL}), "allowance");
	ck_assert_ptr_null(conf_suggest("zzzzzz", (const char *const[]){"allowance", NULL}));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_values);
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_all_errors_listed);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_parsers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
