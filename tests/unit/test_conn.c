/*
 * Unit tests: one client connection of breaktimed (proxy/conn.c and its
 * rooms request.c, relay.c, rewrite.c, conn_record.c) driven without the
 * daemon: a worker is created with no listeners, its event loop is run on
 * the test's thread, and the client is one end of a socketpair handed to
 * conn_create() as an accepted socket would be. Forwarded requests go to an
 * origin the test serves on 127.0.0.1 from the same loop. Records land in a
 * real SQLite store in a temporary directory.
 *
 * What this reaches that the integration tests reach only through a whole
 * daemon: the conn's own buffers (the output bound while a client does not
 * read), the exact head the origin receives, and each path's record.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>
#include <sqlite3.h>

#include "conn.h"

struct kit {
	char dir[64];
	char db[128];
	struct conf *conf;
	struct worker *w;
	int client;            /* the test's end of the client socketpair */
	struct conn *c;
	/* the origin */
	struct evconnlistener *origin;
	uint16_t origin_port;
	struct evbuffer *origin_got;  /* what the origin received */
	const char *origin_reply;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void kit_start(struct kit *k, const char *extra)
{
	struct conf_errors errs = {0};
	char text[1024];

	memset(k, 0, sizeof(*k));
	snprintf(k->dir, sizeof(k->dir), "/tmp/bt-test-conn-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(k->dir));
	snprintf(k->db, sizeof(k->db), "%s/store.db", k->dir);
	snprintf(text, sizeof(text),
		 "[proxy]\nlisten = 127.0.0.1:0\nworkers = 1\nallow_loopback_upstream = yes\n"
		 "dns_servers = 127.0.0.1:9\n%s\n[store]\ndatabase = %s\nlog_other = hosts\n", extra ? extra : "", k->db);
	k->conf = conf_load_string(text, "test.conf", &errs);
	ck_assert_msg(k->conf != NULL, "config refused: %s", errs.n ? errs.msgs[0] : "?");
	conf_errors_free(&errs);
	struct generation *gen = server_gen_load(conf_ref(k->conf), NULL);
	ck_assert_ptr_nonnull(gen);
	server_gen_set(gen);
	server.store = store_open(k->conf, false);
	ck_assert_ptr_nonnull(server.store);
	k->w = worker_create(0, NULL, 0, NULL, 0, NULL, 0);
	ck_assert_ptr_nonnull(k->w);

	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	k->client = sv[0];
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
	inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
	k->c = conn_create(k->w, server.gen, sv[1], (struct sockaddr *)&peer, sizeof(peer), NULL);
	ck_assert_ptr_nonnull(k->c);
}

static void kit_loop(struct kit *k)
{
	event_base_loop(worker_base(k->w), EVLOOP_NONBLOCK);
}

/* Run the loop until the client has `want` bytes to read (or EOF), at most ms. */
static bool client_readable(struct kit *k, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		kit_loop(k);
		struct pollfd p = {.fd = k->client, .events = POLLIN};
		if (poll(&p, 1, 5) > 0)
			return true;
	}
	return false;
}

static void send_all(struct kit *k, const char *s)
{
	size_t n = strlen(s);
	ck_assert_int_eq(write(k->client, s, n), (ssize_t)n);
}

/* Read one response head (and a Content-Length body) or what arrives before EOF. */
static char *read_response(struct kit *k, unsigned ms)
{
	size_t cap = 65536, len = 0;
	char *buf = calloc(1, cap + 1);
	uint64_t end = now_ms() + ms;

	ck_assert_ptr_nonnull(buf);
	while (now_ms() < end && len < cap) {
		if (!client_readable(k, 20))
			continue;
		ssize_t n = recv(k->client, buf + len, 1, 0); /* byte by byte: never past this response */
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *eoh = strstr(buf, "\r\n\r\n");
		if (eoh) {
			const char *cl = strcasestr(buf, "\r\ncontent-length:");
			size_t body = cl && cl < eoh ? strtoul(cl + 17, NULL, 10) : 0;
			if (len >= (size_t)(eoh + 4 - buf) + body)
				break;
		}
	}
	return buf;
}

/* Does the proxy close the client connection within ms? */
static bool client_sees_eof(struct kit *k, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	char b[4096];
	while (now_ms() < end) {
		if (!client_readable(k, 20))
			continue;
		ssize_t n = recv(k->client, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0)
			return true;
		if (n < 0 && errno != EAGAIN)
			return true;
	}
	return false;
}

/* Close everything; returns the store's events as "status reason close_reason" lines. */
static char *kit_stop(struct kit *k)
{
	if (k->client >= 0)
		close(k->client);
	for (int i = 0; i < 20; i++)
		kit_loop(k);
	worker_destroy(k->w);
	if (k->origin)
		evconnlistener_free(k->origin);
	if (k->origin_got)
		evbuffer_free(k->origin_got);
	store_close(server.store);
	server.store = NULL;
	server_gen_set(NULL);
	conf_unref(k->conf);

	sqlite3 *db;
	sqlite3_stmt *st;
	size_t cap = 4096, len = 0;
	char *out = calloc(1, cap);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(sqlite3_open_v2(k->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT status, COALESCE(reason, '-'), COALESCE(close, '-') "
			       "FROM events ORDER BY id", -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW && len + 128 < cap)
			len += (size_t)snprintf(out + len, cap - len, "%d %s %s\n", sqlite3_column_int(st, 0),
						(const char *)sqlite3_column_text(st, 1),
						(const char *)sqlite3_column_text(st, 2));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
	ck_assert_int_eq(system(cmd), 0);
	return out;
}

/* ---- the origin, served from the worker's loop ---- */

static void origin_read(struct bufferevent *bev, void *arg)
{
	struct kit *k = arg;
	evbuffer_add_buffer(k->origin_got, bufferevent_get_input(bev));
	if (evbuffer_search(k->origin_got, "\r\n\r\n", 4, NULL).pos >= 0)
		bufferevent_write(bev, k->origin_reply, strlen(k->origin_reply));
}

static void origin_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void origin_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
			  void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	struct kit *k = arg;
	struct bufferevent *bev = bufferevent_socket_new(worker_base(k->w), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, origin_read, NULL, origin_event, k);
	bufferevent_enable(bev, EV_READ);
}

static void origin_start(struct kit *k, const char *reply)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	k->origin = evconnlistener_new_bind(worker_base(k->w), origin_accept, k,
					    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					    (struct sockaddr *)&sa, sizeof(sa));
	ck_assert_ptr_nonnull(k->origin);
	getsockname(evconnlistener_get_fd(k->origin), (struct sockaddr *)&sa, &sl);
	k->origin_port = ntohs(sa.sin_port);
	k->origin_got = evbuffer_new();
	k->origin_reply = reply;
}

/* ---- tests ---- */

START_TEST(test_own_page_keeps_alive)
{
	struct kit k;
	kit_start(&k, NULL);
	send_all(&k, "GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n");
	char *r1 = read_response(&k, 2000);
	send_all(&k, "GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n");
	char *r2 = read_response(&k, 2000);
	ck_assert_msg(strncmp(r1, "HTTP/1.1 200", 12) == 0 && strstr(r1, "\r\n\r\nok\n"), "first: %s", r1);
	ck_assert_msg(strncmp(r2, "HTTP/1.1 200", 12) == 0, "second on the same connection: %s", r2);
	ck_assert_int_eq(k.c->state, CS_HEAD);
	free(r1);
	free(r2);
	char *rows = kit_stop(&k);
	ck_assert_msg(strcmp(rows, "200 - own-page\n200 - own-page\n") == 0, "records:\n%s", rows);
	free(rows);
}
END_TEST

START_TEST(test_bare_lf_is_400_at_once)
{
	struct kit k;
	kit_start(&k, NULL);
	send_all(&k, "GET http://example.test/ HTTP/1.1\nHost: example.test\n");
	uint64_t t0 = now_ms();
	char *r = read_response(&k, 3000);
	ck_assert_msg(strncmp(r, "HTTP/1.1 400", 12) == 0, "bare LF: %s", r);
	ck_assert_msg(now_ms() - t0 < 1000, "answered after %llu ms", (unsigned long long)(now_ms() - t0));
	ck_assert(client_sees_eof(&k, 2000));
	free(r);
	char *rows = kit_stop(&k);
	ck_assert_msg(strcmp(rows, "400 - bad-request\n") == 0, "records:\n%s", rows);
	free(rows);
}
END_TEST

START_TEST(test_connection_naming_content_length_is_refused)
{
	/* the smuggling shape: without Content-Length the body would be a second request */
	struct kit k;
	kit_start(&k, NULL);
	origin_start(&k, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	char req[512];
	snprintf(req, sizeof(req),
		 "POST http://127.0.0.1:%u/allowed HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
		 "Connection: Content-Length\r\nContent-Length: 35\r\n\r\n"
		 "GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n", k.origin_port, k.origin_port);
	send_all(&k, req);
	char *r = read_response(&k, 2000);
	ck_assert_msg(strncmp(r, "HTTP/1.1 400", 12) == 0, "answer: %s", r);
	ck_assert(client_sees_eof(&k, 2000));
	ck_assert_uint_eq(evbuffer_get_length(k.origin_got), 0);
	free(r);
	char *rows = kit_stop(&k);
	ck_assert_msg(strcmp(rows, "400 - bad-request\n") == 0, "records:\n%s", rows);
	free(rows);
}
END_TEST

START_TEST(test_forward_rewrites_heads)
{
	struct kit k;
	kit_start(&k, NULL);
	origin_start(&k, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Hop\r\n"
			 "X-Hop: secret\r\nX-End: kept\r\n\r\nhello");
	char req[512];
	snprintf(req, sizeof(req),
		 "GET http://127.0.0.1:%u/path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
		 "Proxy-Connection: keep-alive\r\nConnection: X-Private\r\nX-Private: 1\r\nX-Kept: 2\r\n\r\n",
		 k.origin_port, k.origin_port);
	send_all(&k, req);
	char *r = read_response(&k, 3000);
	ck_assert_msg(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0 && strstr(r, "\r\n\r\nhello"), "answer: %s", r);
	ck_assert_msg(!strcasestr(r, "x-hop") && strstr(r, "X-End: kept\r\n") && strstr(r, "\r\nVia: 1.1 "),
		      "the client's head: %s", r);
	size_t n = evbuffer_get_length(k.origin_got);
	char *got = calloc(1, n + 1);
	evbuffer_copyout(k.origin_got, got, n);
	char line[128];
	snprintf(line, sizeof(line), "GET /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n", k.origin_port);
	ck_assert_msg(strncmp(got, line, strlen(line)) == 0, "origin-form with our Host: %s", got);
	ck_assert_msg(!strcasestr(got, "proxy-connection") && !strcasestr(got, "x-private") &&
		      strstr(got, "X-Kept: 2\r\n") && strstr(got, "\r\nVia: 1.1 "), "the origin's head: %s", got);
	free(got);
	free(r);
	char *rows = kit_stop(&k);
	ck_assert_msg(strcmp(rows, "200 not-social done\n") == 0, "records:\n%s", rows);
	free(rows);
}
END_TEST

START_TEST(test_unread_answers_stay_bounded)
{
	/* a client that pipelines requests the proxy answers itself and never
	 * reads: the conn stops reading at the output watermark */
	struct kit k;
	kit_start(&k, "tunnel_buffer = 16k\n");
	static const char one[] = "GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n";
	char *many = malloc(sizeof(one) * 4000);
	size_t len = 0;
	for (int i = 0; i < 4000; i++, len += sizeof(one) - 1)
		memcpy(many + len, one, sizeof(one) - 1);
	fcntl(k.client, F_SETFL, O_NONBLOCK);
	size_t sent = 0;
	size_t peak = 0;
	for (int round = 0; round < 400; round++) {
		ssize_t n = send(k.client, many + sent, len - sent, MSG_DONTWAIT);
		if (n > 0)
			sent += (size_t)n;
		kit_loop(&k);
		size_t out = evbuffer_get_length(bufferevent_get_output(k.c->client));
		if (out > peak)
			peak = out;
	}
	ck_assert_msg(peak < 16 * 1024 + 4096, "the unread output grew to %zu bytes", peak);
	ck_assert_msg(k.c->requests < 4000, "all %u requests were answered into a client that reads nothing",
		      k.c->requests);
	free(many);
	char *rows = kit_stop(&k);
	free(rows);
}
END_TEST

START_TEST(test_refused_client_gets_403)
{
	struct kit k;
	kit_start(&k, "allow_clients = 10.0.0.0/8\n");
	conn_refuse(k.c);
	send_all(&k, "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n");
	char *r = read_response(&k, 2000);
	ck_assert_msg(strncmp(r, "HTTP/1.1 403", 12) == 0, "answer: %s", r);
	ck_assert(client_sees_eof(&k, 2000));
	free(r);
	char *rows = kit_stop(&k);
	ck_assert_msg(strncmp(rows, "403 client-not-allowed ", 23) == 0, "records:\n%s", rows);
	free(rows);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("conn");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_own_page_keeps_alive);
	tcase_add_test(tc, test_bare_lf_is_400_at_once);
	tcase_add_test(tc, test_connection_naming_content_length_is_refused);
	tcase_add_test(tc, test_forward_rewrites_heads);
	tcase_add_test(tc, test_unread_answers_stay_bounded);
	tcase_add_test(tc, test_refused_client_gets_403);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as breaktimed does: a closed client is an EPIPE, not a death */
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
