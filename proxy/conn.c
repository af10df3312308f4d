/*
 * conn: one client connection of breaktimed, from accept to close.
 *
 * DESIGN. A connection reads one request head at a time (CS_HEAD), parses
 * it strictly, asks enforce.c for a decision, then either answers itself
 * (errors, blocks, its own pages), opens a tunnel (CONNECT, tunnel.c), or
 * forwards: resolve and connect (upstream.c, possibly a pooled connection),
 * send a rewritten head, relay the request body by its framing while the
 * response head and body come back (CS_FORWARD). Bodies are moved between
 * evbuffers without copying, validated by their framing (Content-Length or
 * chunked, never guessed), with back-pressure: one side stops reading while
 * the other side's output is above the high watermark.
 *
 * Pipelining: once a request's body has been read, the client side stops
 * reading; the next request waits in the input buffer (or the kernel) until
 * the current response is complete, so responses leave in request order.
 *
 * Runs on its worker's loop thread only: no blocking calls here.
 * Every path out goes through conn_close(), which frees both ends and
 * submits the record of an unfinished exchange.
 */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>

#include "identity.h"
#include "log.h"
#include "strutil.h"

static void conn_on_client_read(struct bufferevent *bev, void *arg);
static void conn_on_client_write(struct bufferevent *bev, void *arg);
static void conn_on_client_event(struct bufferevent *bev, short what, void *arg);
static void conn_on_upstream_read(struct bufferevent *bev, void *arg);
static void conn_on_upstream_write(struct bufferevent *bev, void *arg);
static void conn_on_upstream_event(struct bufferevent *bev, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);
static void conn_finish_exchange(struct conn *c);
static void read_heads(struct conn *c);

uint64_t conn_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t conn_high_watermark(const struct conn *c)
{
	return c->conf->proxy.tunnel_buffer_bytes;
}

/*
 * libevent 2.1 reads at most 4 KiB per read event, whatever
 * bufferevent_set_max_single_read says (EVBUFFER_MAX_READ in buffer.c;
 * evbuffer_set_max_read() only came with 2.2): a bulk relay paid an
 * epoll_wait, an ioctl and a readv per 4 KiB. Called from a read callback,
 * this takes what else the socket already holds, up to room bytes, into the
 * bufferevent's input with one readv. It reads no more than FIONREAD says is
 * there, so an EOF or error behind the data stays for libevent to report.
 * Plain sockets only: never a TLS bufferevent (its socket holds records).
 */
size_t conn_read_more(struct bufferevent *bev, size_t room)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	int avail = 0;

	struct evbuffer *in = bufferevent_get_input(bev);
	size_t wm_low, wm_high, len = evbuffer_get_length(in);

	/* never past the read watermark libevent itself would respect */
	if (bufferevent_getwatermark(bev, EV_READ, &wm_low, &wm_high) == 0 && wm_high > 0)
		room = len >= wm_high ? 0 : room < wm_high - len ? room : wm_high - len;
	if (room == 0 || fd < 0 || ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0)
		return 0;
	size_t want = (size_t)avail < room ? (size_t)avail : room;
	struct evbuffer_iovec v[4];
	struct iovec iov[4];
	/* libevent freezes the end of a bufferevent's input outside its own
	 * reads: we are one of them for the moment */
	evbuffer_unfreeze(in, 0);
	int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 4);
	if (nv <= 0) {
		evbuffer_freeze(in, 0);
		return 0;
	}
	size_t left = want;
	int used = 0;
	for (; used < nv && left > 0; used++) {
		if (v[used].iov_len > left)
			v[used].iov_len = left;
		left -= v[used].iov_len;
		iov[used].iov_base = v[used].iov_base;
		iov[used].iov_len = v[used].iov_len;
	}
	ssize_t n;
	do
		n = readv(fd, iov, used);
	while (n < 0 && errno == EINTR);
	size_t got = n > 0 ? (size_t)n : 0;
	int keep = 0;
	for (size_t rest = got; keep < used && rest > 0; keep++) {
		if (v[keep].iov_len > rest)
			v[keep].iov_len = rest;
		rest -= v[keep].iov_len;
	}
	evbuffer_commit_space(in, v, keep);
	evbuffer_freeze(in, 0);
	return got;
}

struct worker *conn_worker(struct conn *c)
{
	return c->w;
}

struct conf *conn_conf(struct conn *c)
{
	return c->conf;
}

static void timer_start(struct conn *c, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

static void reset_exchange(struct conn *c)
{
	c->start_us = 0;
	c->bytes_up = c->bytes_down = 0;
	c->prog_up = c->prog_down = 0;
	c->prog_start_us = 0;
	c->status = 0;
	c->method[0] = c->host[0] = c->sni[0] = c->uri[0] = '\0';
	c->port = 0;
	memset(&c->decision, 0, sizeof(c->decision));
	if (c->replay) {
		evbuffer_free(c->replay);
		c->replay = NULL;
	}
	c->req_body = c->resp_body = HTTP_BODY_NONE;
	c->req_remaining = c->resp_remaining = 0;
	c->head_started = c->is_connect = c->is_head = c->ws_upgrade = 0;
	c->req_done = c->resp_head_done = c->resp_done = 0;
	c->up_keep_alive = c->up_reused = c->retried = c->recorded = 0;
	c->dechunk = 0;
	memset(&c->head_scan, 0, sizeof(c->head_scan));
	memset(&c->resp_scan, 0, sizeof(c->resp_scan));
}

/*
 * Waiting for the next request: idle timeout until its first byte. Every
 * path that finished or answered a request comes here or closes, so this
 * is where the client's pace is respected: while more than the high
 * watermark waits in its output, the next request is not read (a client
 * that pipelines requests the proxy answers itself and never reads would
 * otherwise grow the output without bound); the write callback comes back
 * here once the client has drained half of it. Unread input is bounded by
 * the read watermark: at most one head's worth beyond the limit, so a head
 * too large is still seen as too large.
 */
static void wait_for_head(struct conn *c)
{
	c->state = CS_HEAD;
	reset_exchange(c);
	timer_start(c, c->conf->proxy.idle_timeout_ms);
	if (evbuffer_get_length(bufferevent_get_output(c->client)) >= conn_high_watermark(c)) {
		bufferevent_disable(c->client, EV_READ);
		bufferevent_setwatermark(c->client, EV_WRITE, conn_high_watermark(c) / 2, 0);
		return;
	}
	bufferevent_setwatermark(c->client, EV_READ, 0, c->conf->proxy.max_header_bytes + 1);
	bufferevent_enable(c->client, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
		bufferevent_trigger(c->client, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

struct conn *conn_create(struct worker *w, evutil_socket_t fd, const struct sockaddr *peer,
			 socklen_t peerlen, SSL *ssl)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		if (ssl)
			SSL_free(ssl);
		evutil_closesocket(fd);
		return NULL;
	}
	c->w = w;
	c->conf = server_conf_get();
	c->idb = server_identity_get();
	memcpy(&c->peer.u.ss, peer, peerlen);
	c->peer.len = peerlen;
	if (ssl) {
		c->tls = 1;
		c->client = bufferevent_openssl_socket_new(worker_base(w), fd, ssl,
							   BUFFEREVENT_SSL_ACCEPTING,
							   BEV_OPT_CLOSE_ON_FREE);
		if (c->client)
			bufferevent_openssl_set_allow_dirty_shutdown(c->client, 1);
		else
			SSL_free(ssl);
	} else {
		c->client = bufferevent_socket_new(worker_base(w), fd, BEV_OPT_CLOSE_ON_FREE);
	}
	c->timer = evtimer_new(worker_base(w), conn_on_timer, c);
	if (!c->client || !c->timer) {
		if (c->client)
			bufferevent_free(c->client);
		else
			evutil_closesocket(fd);
		if (c->timer)
			event_free(c->timer);
		identity_db_unref(c->idb);
		conf_unref(c->conf);
		free(c);
		return NULL;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_setcb(c->client, conn_on_client_read, conn_on_client_write,
			  conn_on_client_event, c);
	/* a client that stops reading its response must not hold us forever */
	struct timeval wt = {c->conf->proxy.idle_timeout_ms / 1000,
			     (c->conf->proxy.idle_timeout_ms % 1000) * 1000};
	bufferevent_set_timeouts(c->client, NULL, &wt);
	worker_conn_opened(w, c);
	wait_for_head(c);
	return c;
}

/*
 * A refused client (not in allow_clients) gets the 403 for its request, and
 * the request head has this long to arrive, whatever header_timeout and
 * idle_timeout say: a flood of refused connections must not hold
 * max_connections. Long enough for any client that sends its request at once.
 */
#define REFUSED_WAIT_MS 2000

void conn_refuse(struct conn *c)
{
	unsigned ms = c->conf->proxy.header_timeout_ms;

	c->refused = 1;
	timer_start(c, ms < REFUSED_WAIT_MS ? ms : REFUSED_WAIT_MS);
}

void conn_record(struct conn *c, enum record_kind kind, const char *close_reason)
{
	struct record r;

	if (c->recorded || c->start_us == 0)
		return;
	c->recorded = 1;
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.source = RECORD_SOURCE_PROXY;
	r.start_us = c->start_us;
	int64_t d = (wall_us() - c->start_us) / 1000;
	r.duration_ms = d < 0 ? 0 : (uint32_t)d;
	r.client = c->peer;
	memcpy(r.method, c->method, sizeof(r.method));
	memcpy(r.host, c->host, sizeof(r.host));
	r.port = c->port;
	memcpy(r.sni, c->sni, sizeof(r.sni));
	memcpy(r.uri, c->uri, sizeof(r.uri));
	r.status = c->status;
	r.bytes_up = c->bytes_up;
	r.bytes_down = c->bytes_down;
	r.close_reason = close_reason;
	r.verdict = c->decision.verdict;
	r.reason = c->decision.reason;
	memcpy(r.platform, c->decision.platform, sizeof(r.platform));
	memcpy(r.category, c->decision.category, sizeof(r.category));
	memcpy(r.user, c->user, sizeof(r.user));
	memcpy(r.group, c->group, sizeof(r.group));
	store_submit(server.store, &r);
	metrics_count_decision(r.verdict, r.reason);
	__atomic_add_fetch(kind == RECORD_BLOCKED ? &server.records_blocked :
			   kind == RECORD_TUNNEL ? &server.records_tunnel : &server.records_request,
			   1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&server.bytes_up, c->bytes_up - c->prog_up, __ATOMIC_RELAXED);
	__atomic_add_fetch(&server.bytes_down, c->bytes_down - c->prog_down, __ATOMIC_RELAXED);
	int cls = c->status >= 100 && c->status < 600 ? c->status / 100 : 0;
	__atomic_add_fetch(&server.status_class[cls], 1, __ATOMIC_RELAXED);
}

void conn_tunnel_progress(struct conn *c)
{
	struct record r;
	int64_t now = wall_us();

	if (c->state != CS_TUNNEL && c->state != CS_PEEK)
		return;
	if (c->bytes_up == c->prog_up && c->bytes_down == c->prog_down) {
		c->prog_start_us = now;
		return;
	}
	memset(&r, 0, sizeof(r));
	r.kind = RECORD_TUNNEL_PROGRESS;
	r.source = RECORD_SOURCE_PROXY;
	r.start_us = c->prog_start_us ? c->prog_start_us : c->start_us;
	r.duration_ms = (uint32_t)((now - r.start_us) / 1000);
	r.client = c->peer;
	memcpy(r.method, c->method, sizeof(r.method));
	memcpy(r.host, c->host, sizeof(r.host));
	r.port = c->port;
	memcpy(r.sni, c->sni, sizeof(r.sni));
	r.status = c->status;
	r.bytes_up = c->bytes_up - c->prog_up;
	r.bytes_down = c->bytes_down - c->prog_down;
	r.verdict = c->decision.verdict;
	r.reason = c->decision.reason;
	memcpy(r.platform, c->decision.platform, sizeof(r.platform));
	memcpy(r.category, c->decision.category, sizeof(r.category));
	memcpy(r.user, c->user, sizeof(r.user));
	memcpy(r.group, c->group, sizeof(r.group));
	__atomic_add_fetch(&server.bytes_up, r.bytes_up, __ATOMIC_RELAXED);
	__atomic_add_fetch(&server.bytes_down, r.bytes_down, __ATOMIC_RELAXED);
	c->prog_up = c->bytes_up;
	c->prog_down = c->bytes_down;
	c->prog_start_us = now;
	store_submit(server.store, &r);
}

void conn_close(struct conn *c, const char *reason)
{
	char peer[64];

	conn_tunnel_progress(c);
	if (!c->recorded && c->start_us) {
		enum record_kind k = c->is_connect || c->ws_upgrade ? RECORD_TUNNEL : RECORD_REQUEST;
		if (c->decision.verdict && strcmp(c->decision.verdict, "block") == 0 && !c->enforced)
			k = RECORD_BLOCKED;
		conn_record(c, k, reason);
	}
	log_debug("close %s requests=%u reason=%s",
		  sockaddr_ntop_port(&c->peer.u.sa, peer, sizeof(peer)), c->requests, reason);
	if (c->pending)
		upstream_cancel(c->pending);
	if (c->auth_pending)
		identity_detach(c, c->auth_pending);
	if (c->sp)
		tunnel_splice_free(c);
	if (c->up)
		bufferevent_free(c->up);
	if (c->client)
		bufferevent_free(c->client);
	event_free(c->timer);
	if (c->replay)
		evbuffer_free(c->replay);
	worker_conn_closed(c->w, c);
	identity_db_unref(c->idb);
	conf_unref(c->conf);
	free(c);
}

void conn_enforce_tick(struct conn *c)
{
	struct decision_hook d;

	if (c->state != CS_TUNNEL)
		return;
	enforce_decide(c, c->host, c->sni[0] ? c->sni : NULL, &d);
	if (!d.verdict || strcmp(d.verdict, "block") != 0) {
		/* still allowed, perhaps for another reason (a break ended and the
		 * platform is sanctioned while students are present): from now on
		 * its minutes are counted under the new reason */
		c->decision.verdict = d.verdict;
		c->decision.reason = d.reason;
		c->decision.reason_text = d.reason_text;
		c->decision.until = d.until;
		return;
	}
	log_info("closing tunnel %s:%u of %s: %s", c->host, c->port,
		 c->user[0] ? c->user : "an unidentified client", d.reason ? d.reason : "policy");
	/* the tunnel was allowed when it opened; its record says why it ended */
	c->decision.verdict = "block";
	c->decision.reason = d.reason;
	c->enforced = 1;
	conn_close(c, "enforced");
}

void conn_close_if_idle(struct conn *c)
{
	if (c->state == CS_HEAD && c->client && !c->head_started &&
	    evbuffer_get_length(bufferevent_get_input(c->client)) == 0)
		conn_close(c, "shutdown");
}

/* Flush what is queued for the client, then close. */
static void close_after_flush(struct conn *c, const char *reason)
{
	c->state = CS_CLOSING;
	c->closing_reason = reason;
	evtimer_del(c->timer);
	if (c->pending) {
		upstream_cancel(c->pending);
		c->pending = NULL;
	}
	if (c->up) {
		bufferevent_free(c->up);
		c->up = NULL;
	}
	bufferevent_disable(c->client, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0) {
		conn_close(c, reason);
		return;
	}
	/* the write callback closes once the output is empty; bound the wait */
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	bufferevent_enable(c->client, EV_WRITE);
	timer_start(c, 10000);
}

void conn_reply_error(struct conn *c, int status, const char *detail, const char *reason)
{
	c->status = status;
	size_t before = evbuffer_get_length(bufferevent_get_output(c->client));
	pages_error(bufferevent_get_output(c->client), c->conf, status, pages_reason(status),
		    detail, false);
	c->bytes_down += evbuffer_get_length(bufferevent_get_output(c->client)) - before;
	if (c->start_us) {
		enum record_kind k = RECORD_REQUEST;
		if (c->decision.verdict && strcmp(c->decision.verdict, "block") == 0)
			k = RECORD_BLOCKED;
		else if (c->is_connect)
			k = RECORD_TUNNEL;
		conn_record(c, k, reason);
	}
	close_after_flush(c, reason);
}

/* ---- building heads ---- */

/*
 * Heads are assembled in a buffer on the stack and handed to the evbuffer in
 * one piece: every evbuffer_add on a bufferevent's output runs its
 * callbacks, and a head has a dozen fields.
 */
struct headbuf {
	struct evbuffer *dst;
	size_t len;
	char buf[8192];
};

static void hb_add(struct headbuf *b, const void *d, size_t n)
{
	if (b->len + n > sizeof(b->buf)) {
		evbuffer_add(b->dst, b->buf, b->len);
		b->len = 0;
		if (n > sizeof(b->buf)) {
			evbuffer_add(b->dst, d, n);
			return;
		}
	}
	memcpy(b->buf + b->len, d, n);
	b->len += n;
}

#define HB_LIT(b, lit) hb_add((b), (lit), sizeof(lit) - 1)

static void hb_str(struct headbuf *b, const char *s)
{
	hb_add(b, s, strlen(s));
}

static void hb_uint(struct headbuf *b, unsigned v)
{
	char tmp[12];
	int i = (int)sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	hb_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

static void hb_flush(struct headbuf *b)
{
	if (b->len)
		evbuffer_add(b->dst, b->buf, b->len);
	b->len = 0;
}

static void hb_field(struct headbuf *b, const struct http_header *h)
{
	hb_add(b, h->name, h->name_len);
	HB_LIT(b, ": ");
	hb_add(b, h->value, h->value_len);
	HB_LIT(b, "\r\n");
}

static bool name_eq(const struct http_header *h, const char *lit, size_t len)
{
	return h->name_len == len && strncasecmp(h->name, lit, len) == 0;
}

static void hb_authority(struct headbuf *b, const struct conn *c, uint16_t default_port)
{
	if (c->host_kind == HOST_IPV6) {
		HB_LIT(b, "[");
		hb_str(b, c->host);
		HB_LIT(b, "]");
	} else {
		hb_str(b, c->host);
	}
	if (c->port != default_port) {
		HB_LIT(b, ":");
		hb_uint(b, c->port);
	}
}

/* The head we send to the origin: origin-form, our Host, hop-by-hop removed, Via added. */
static struct evbuffer *build_upstream_head(struct conn *c, const struct http_request *req)
{
	struct headbuf b;
	bool hop[HTTP_MAX_HEADERS];
	int minor = req->version_minor; /* an HTTP/1.0 client gets an HTTP/1.0 exchange: no chunked */

	b.dst = evbuffer_new();
	b.len = 0;
	http_hop_mask(req->headers, req->n_headers, hop);
	hb_add(&b, req->method, req->method_len);
	HB_LIT(&b, " ");
	if (req->options_asterisk)
		HB_LIT(&b, "*");
	else
		hb_add(&b, req->path, req->path_len);
	if (minor == 0)
		HB_LIT(&b, " HTTP/1.0\r\nHost: ");
	else
		HB_LIT(&b, " HTTP/1.1\r\nHost: ");
	hb_authority(&b, c, 80);
	HB_LIT(&b, "\r\n");
	for (size_t i = 0; i < req->n_headers; i++) {
		if (hop[i] || name_eq(&req->headers[i], "host", 4))
			continue;
		hb_field(&b, &req->headers[i]);
	}
	if (req->body == HTTP_BODY_CHUNKED)
		HB_LIT(&b, "Transfer-Encoding: chunked\r\n");
	if (req->upgrade_websocket) {
		const struct http_header *u = http_find_header(req->headers, req->n_headers, "upgrade");
		HB_LIT(&b, "Connection: Upgrade\r\nUpgrade: ");
		hb_add(&b, u->value, u->value_len);
		HB_LIT(&b, "\r\n");
	} else if (minor == 0) {
		HB_LIT(&b, "Connection: close\r\n");
	}
	HB_LIT(&b, "Via: 1.");
	hb_uint(&b, (unsigned)req->version_minor);
	HB_LIT(&b, " ");
	hb_str(&b, c->conf->proxy.visible_hostname);
	HB_LIT(&b, "\r\n\r\n");
	hb_flush(&b);
	return b.dst;
}

static void build_client_head(struct conn *c, const struct http_response *resp,
			      struct evbuffer *out, bool final)
{
	struct headbuf b;
	bool hop[HTTP_MAX_HEADERS];

	b.dst = out;
	b.len = 0;
	http_hop_mask(resp->headers, resp->n_headers, hop);
	HB_LIT(&b, "HTTP/1.1 ");
	hb_uint(&b, (unsigned)resp->status);
	HB_LIT(&b, " ");
	hb_add(&b, resp->reason, resp->reason_len);
	HB_LIT(&b, "\r\n");
	for (size_t i = 0; i < resp->n_headers; i++)
		if (!hop[i])
			hb_field(&b, &resp->headers[i]);
	if (resp->upgrade) {
		const struct http_header *u = http_find_header(resp->headers, resp->n_headers, "upgrade");
		HB_LIT(&b, "Connection: Upgrade\r\nUpgrade: ");
		if (u)
			hb_add(&b, u->value, u->value_len);
		else
			HB_LIT(&b, "websocket");
		HB_LIT(&b, "\r\n");
	} else if (final) {
		if (resp->body == HTTP_BODY_CHUNKED && !c->dechunk)
			HB_LIT(&b, "Transfer-Encoding: chunked\r\n");
		if (!c->client_keep)
			HB_LIT(&b, "Connection: close\r\n");
		else if (c->client_v10)
			HB_LIT(&b, "Connection: keep-alive\r\n");
	}
	HB_LIT(&b, "Via: 1.");
	hb_uint(&b, (unsigned)resp->version_minor);
	HB_LIT(&b, " ");
	hb_str(&b, c->conf->proxy.visible_hostname);
	HB_LIT(&b, "\r\n\r\n");
	hb_flush(&b);
}

/* ---- request heads ---- */

static bool port_allowed(const struct conf *conf, uint16_t port)
{
	for (size_t i = 0; i < conf->proxy.n_connect_ports; i++)
		if (conf->proxy.connect_ports[i] == port)
			return true;
	return false;
}

static void copy_trunc(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	if (srclen >= dstlen)
		srclen = dstlen - 1;
	memcpy(dst, src, srclen);
	dst[srclen] = '\0';
}

static bool is_blocked(const struct conn *c)
{
	return c->decision.verdict && strcmp(c->decision.verdict, "block") == 0;
}

static void blocked_reply(struct conn *c, bool keep_alive)
{
	char until[64], left[32];
	struct evbuffer *out = bufferevent_get_output(c->client);
	struct block_info bi = {
		.host = c->host,
		.platform = c->decision.platform,
		.reason = c->decision.reason,
		.reason_text = c->decision.reason_text,
		.until = until,
		.allowance = left,
		.user = c->user,
	};

	enforce_format_until(c, c->decision.until, until, sizeof(until));
	if (c->decision.allowance_left < 0)
		snprintf(left, sizeof(left), "no daily limit");
	else
		snprintf(left, sizeof(left), "%d minutes", c->decision.allowance_left);
	c->status = 403;
	size_t before = evbuffer_get_length(out);
	pages_block(out, c->conf, &bi, keep_alive);
	c->bytes_down += evbuffer_get_length(out) - before;
	conn_record(c, RECORD_BLOCKED, "blocked");
	c->client_keep = keep_alive;
	if (keep_alive)
		wait_for_head(c);
	else
		close_after_flush(c, "blocked");
}

/* Own pages: origin-form requests are never relayed. */
static void serve_own_page(struct conn *c, const struct http_request *req, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct evbuffer *out = bufferevent_get_output(c->client);

	/* req points into the head in the input: drain it only once the page is written */
	c->bytes_up = head_len;
	if (req->body != HTTP_BODY_NONE) {
		evbuffer_drain(in, head_len);
		conn_reply_error(c, 405, "The proxy's own pages take no request body.", "own-page");
		return;
	}
	c->client_keep = req->keep_alive && !worker_stopping(c->w);
	size_t before = evbuffer_get_length(out);
	bool get = (req->method_len == 3 && memcmp(req->method, "GET", 3) == 0) || req->is_head;
	/* the path without its query */
	const char *q = memchr(req->path, '?', req->path_len);
	size_t plen = q ? (size_t)(q - req->path) : req->path_len;
#define IS(lit) (plen == sizeof(lit) - 1 && memcmp(req->path, lit, plen) == 0)
	snprintf(c->uri, sizeof(c->uri), "%.*s", (int)(plen < 200 ? plen : 200), req->path);
	if (!get) {
		c->status = 405;
		pages_error(out, c->conf, 405, "Method Not Allowed",
			    "The proxy's own pages answer GET and HEAD only.", c->client_keep);
	} else if (IS("/")) {
		c->status = 200;
		pages_status(out, c->conf, c->client_keep, req->is_head);
	} else if (IS("/proxy.pac") || IS("/wpad.dat")) {
		const struct http_header *h = http_find_header(req->headers, req->n_headers, "host");
		c->status = 200;
		pages_pac(out, c->conf, h ? h->value : NULL, h ? h->value_len : 0, c->client_keep,
			  req->is_head);
	} else if (IS("/status")) {
		c->status = 200;
		enforce_status_page(c, out, c->client_keep, req->is_head);
	} else if (IS("/continue")) {
		c->status = enforce_continue(c, out, q ? q + 1 : NULL,
					     q ? req->path_len - plen - 1 : 0, c->client_keep);
	} else if (IS("/healthz")) {
		c->status = 200;
		pages_text(out, 200, "ok\n", c->client_keep, req->is_head);
	} else if (IS("/metrics")) {
		bool allowed = false;
		for (size_t i = 0; i < c->conf->proxy.n_metrics_allow; i++)
			if (cidr_match(&c->conf->proxy.metrics_allow[i], &c->peer.u.sa))
				allowed = true;
		c->status = allowed ? 200 : 403;
		if (allowed)
			pages_metrics(out, c->client_keep, req->is_head);
		else
			pages_error(out, c->conf, 403, "Forbidden",
				    "Metrics are only for the addresses in metrics_allow.", c->client_keep);
	} else {
		c->status = 404;
		pages_error(out, c->conf, 404, "Not Found",
			    "This is a proxy: configure it as your browser's HTTP proxy "
			    "instead of visiting it.", c->client_keep);
	}
#undef IS
	evbuffer_drain(in, head_len);
	c->bytes_down = evbuffer_get_length(out) - before;
	conn_record(c, RECORD_REQUEST, "own-page");
	if (c->client_keep)
		wait_for_head(c);
	else
		close_after_flush(c, "own-page");
}

/* Resolve and connect (or take a pooled connection); conn_upstream_ready goes on. */
static void open_upstream(struct conn *c, bool may_reuse)
{
	c->state = CS_UPSTREAM;
	bufferevent_disable(c->client, EV_READ);
	c->pending = upstream_open(c, c->host, c->host_kind, c->port, may_reuse);
	if (!c->pending)
		conn_reply_error(c, 503, "The proxy is short of memory: try again.",
				 "upstream-open-failed");
}

static void start_forward(struct conn *c, const struct http_request *req, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->client);

	c->replay = build_upstream_head(c, req);
	evbuffer_drain(in, head_len);
	c->bytes_up = head_len;
	c->req_body = req->body;
	c->req_remaining = req->content_length;
	chunk_decoder_init(&c->req_chunk);
	if (req->body == HTTP_BODY_NONE)
		c->req_done = 1;
	open_upstream(c, !c->ws_upgrade);
}

static void start_connect(struct conn *c, size_t head_len)
{
	evbuffer_drain(bufferevent_get_input(c->client), head_len);
	c->bytes_up = head_len;
	if (!port_allowed(c->conf, c->port)) {
		c->decision.verdict = "block";
		c->decision.reason = "port";
		conn_reply_error(c, 403, "CONNECT is only allowed to the configured ports.",
				 "connect-port");
		return;
	}
	open_upstream(c, false);
}

/*
 * Who sent this request. Returns 0 to go on, -1 when the request was
 * answered (407, 429, 400) or waits for a password check (CS_AUTH: the head
 * stays in the input and is parsed again when the answer is cached).
 */
static int identify(struct conn *c, const struct http_request *req, size_t head_len)
{
	const struct http_header *h = http_find_header(req->headers, req->n_headers,
						       "proxy-authorization");
	const char *dev = identity_device_user(c->idb, &c->peer.u.sa);
	char user[64];
	enum identity_result r;

	/* no [auth] that checks passwords: credentials are not for us, and
	 * Proxy-Authorization is hop-by-hop, so it goes no further either */
	if (h && !identity_verifies(c->idb))
		h = NULL;

	if (!h && dev) {
		snprintf(c->user, sizeof(c->user), "%s", dev);
		return 0;
	}
	r = identity_check(c->w, c, c->idb, &c->peer.u.sa, h ? h->value : NULL,
			   h ? h->value_len : 0, user);
	switch (r) {
	case IDENTITY_OK:
		memcpy(c->user, user, sizeof(c->user));
		return 0;
	case IDENTITY_NONE:
		c->user[0] = '\0';
		return 0;
	case IDENTITY_PENDING:
		c->state = CS_AUTH;
		c->requests--;
		c->start_us = 0;
		bufferevent_disable(c->client, EV_READ);
		return -1;
	case IDENTITY_CHALLENGE: {
		struct evbuffer *in = bufferevent_get_input(c->client);
		struct evbuffer *out = bufferevent_get_output(c->client);
		evbuffer_drain(in, head_len);
		c->status = 407;
		c->client_keep = req->keep_alive && req->body == HTTP_BODY_NONE && !worker_stopping(c->w);
		size_t before = evbuffer_get_length(out);
		pages_challenge(out, c->conf, c->client_keep);
		c->bytes_down = evbuffer_get_length(out) - before;
		c->bytes_up = head_len;
		c->decision.verdict = "block";
		c->decision.reason = h ? "auth-failed" : "auth-required";
		conn_record(c, RECORD_BLOCKED, "auth");
		if (c->client_keep)
			wait_for_head(c);
		else
			close_after_flush(c, "auth");
		return -1;
	}
	case IDENTITY_LIMITED:
		evbuffer_drain(bufferevent_get_input(c->client), head_len);
		c->decision.verdict = "block";
		c->decision.reason = "auth-rate-limited";
		conn_reply_error(c, 429, "Too many failed sign-ins from your address: wait a minute.",
				 "auth-limited");
		return -1;
	case IDENTITY_ERROR:
		evbuffer_drain(bufferevent_get_input(c->client), head_len);
		conn_reply_error(c, 400, "The Proxy-Authorization header is malformed.", "bad-auth");
		return -1;
	}
	return 0;
}

void conn_identity_done(struct conn *c)
{
	if (c->state != CS_AUTH)
		return;
	c->state = CS_HEAD;
	read_heads(c);
}

/* Parse and dispatch one complete head of head_len bytes at the front of the input. */
static void handle_head(struct conn *c, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct http_request req;
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)head_len);

	evtimer_del(c->timer);
	c->requests++;
	__atomic_add_fetch(&server.requests, 1, __ATOMIC_RELAXED);
	c->start_us = wall_us();
	c->bytes_up = head_len;
	if (c->refused) {
		evbuffer_drain(in, head_len);
		c->decision.verdict = "block";
		c->decision.reason = "client-not-allowed";
		conn_reply_error(c, 403, "This proxy does not serve your address.", "client-not-allowed");
		return;
	}
	int rc = http_parse_request(data, head_len, c->conf->proxy.max_uri_bytes, &req);
	if (rc != 0) {
		/* the method for the record, if what precedes the first SP is one
		 * (a token): never raw bytes of a malformed line */
		const char *sp = memchr(data, ' ', head_len < 24 ? head_len : 24);
		if (sp && sp > data && http_is_token(data, (size_t)(sp - data)))
			copy_trunc(c->method, sizeof(c->method), data, (size_t)(sp - data));
		evbuffer_drain(in, head_len);
		conn_reply_error(c, rc, "The request is malformed or ambiguous and was refused.",
				 "bad-request");
		return;
	}
	copy_trunc(c->method, sizeof(c->method), req.method, req.method_len);
	c->client_v10 = req.version_minor == 0;
	c->req_keep_alive = req.keep_alive;
	c->is_head = req.is_head;
	c->is_connect = req.is_connect;
	c->ws_upgrade = req.upgrade_websocket;

	if (req.form == HTTP_FORM_ORIGIN || req.form == HTTP_FORM_ASTERISK) {
		if (req.form == HTTP_FORM_ASTERISK) {
			evbuffer_drain(in, head_len);
			conn_reply_error(c, 400, "OPTIONS * is not meaningful for a proxy.", "bad-request");
			return;
		}
		serve_own_page(c, &req, head_len);
		return;
	}
	if (req.version_minor == 1 && !http_find_header(req.headers, req.n_headers, "host")) {
		/* RFC 9112 3.2: every HTTP/1.1 request carries Host */
		evbuffer_drain(in, head_len);
		conn_reply_error(c, 400, "An HTTP/1.1 request must have a Host header.", "bad-request");
		return;
	}
	memcpy(c->host, req.host, sizeof(c->host));
	c->host_kind = req.host_kind;
	c->port = req.port;
	if (!req.is_connect && strcasecmp(c->host, c->conf->proxy.visible_hostname) == 0) {
		/* http://<visible_hostname>/...: the proxy's own pages, with the
		 * person's identity (browsers send their proxy credentials here) */
		if (identify(c, &req, head_len) < 0)
			return;
		serve_own_page(c, &req, head_len);
		return;
	}
	if (req.is_connect) {
		snprintf(c->uri, sizeof(c->uri), "%.240s:%u", c->host, c->port);
	} else {
		size_t n = 0;
		c->uri[0] = '\0';
		str_append(c->uri, sizeof(c->uri), &n, "http://", 7);
		if (c->host_kind == HOST_IPV6)
			str_append(c->uri, sizeof(c->uri), &n, "[", 1);
		str_append(c->uri, sizeof(c->uri), &n, c->host, strlen(c->host));
		if (c->host_kind == HOST_IPV6)
			str_append(c->uri, sizeof(c->uri), &n, "]", 1);
		if (c->port != 80) {
			char port[8];
			int i = (int)sizeof(port);
			unsigned v = c->port;
			do {
				port[--i] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			port[--i] = ':';
			str_append(c->uri, sizeof(c->uri), &n, port + i, sizeof(port) - (size_t)i);
		}
		str_append(c->uri, sizeof(c->uri), &n, req.path, req.path_len);
	}

	if (identify(c, &req, head_len) < 0)
		return;
	enforce_decide(c, c->host, NULL, &c->decision);
	if (c->decision.verdict && strcmp(c->decision.verdict, "warn") == 0 &&
	    !enforce_warn_acked(c, c->decision.platform)) {
		/* over the allowance with over_allowance = warn: an interstitial once
		 * per person, platform and day; its link continues and is recorded */
		evbuffer_drain(in, head_len);
		struct evbuffer *out = bufferevent_get_output(c->client);
		bool keep = !req.is_connect && req.keep_alive && req.body == HTTP_BODY_NONE &&
			    !worker_stopping(c->w);
		size_t before = evbuffer_get_length(out);
		c->status = 403;
		enforce_warn_page(c, out, req.is_connect, keep);
		c->bytes_down += evbuffer_get_length(out) - before;
		conn_record(c, RECORD_BLOCKED, "warned");
		c->client_keep = keep;
		if (keep)
			wait_for_head(c);
		else
			close_after_flush(c, "warned");
		return;
	}
	if (is_blocked(c)) {
		evbuffer_drain(in, head_len);
		/* keep the connection when nothing of a body has to be skipped */
		blocked_reply(c, !req.is_connect && req.keep_alive && req.body == HTTP_BODY_NONE &&
			      !worker_stopping(c->w));
		return;
	}
	if (req.is_connect)
		start_connect(c, head_len);
	else
		start_forward(c, &req, head_len);
}

/*
 * Does the request line run past line_max bytes? The same answer as looking
 * for the first CRLF in the whole input, from the first line_max + 2 bytes
 * (buf holds at least that many when len is larger).
 */
static bool line_too_long(const char *buf, size_t len, size_t line_max)
{
	if (len <= line_max)
		return false;
	return memmem(buf, len < line_max + 2 ? len : line_max + 2, "\r\n", 2) == NULL;
}

static void read_heads(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	const struct conf_proxy *p = &c->conf->proxy;

	/* RFC 9112 2.2: ignore empty lines before a request line */
	for (;;) {
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			return;
		unsigned char two[2];
		evbuffer_copyout(in, two, len >= 2 ? 2 : 1);
		if (two[0] == '\n' || (two[0] == '\r' && len >= 2 && two[1] == '\n')) {
			evbuffer_drain(in, two[0] == '\n' ? 1 : 2);
			memset(&c->head_scan, 0, sizeof(c->head_scan));
		} else if (two[0] == '\r' && len < 2)
			return;
		else
			break;
	}
	if (!c->head_started) {
		c->head_started = 1;
		if (!c->refused) /* (a refused client keeps its shorter deadline) */
			timer_start(c, p->header_timeout_ms);
	}
	/*
	 * Only the bytes that arrived since the last read are searched (a head
	 * trickled byte by byte would otherwise cost O(n^2)). A CRLFCRLF ending
	 * past the limit gives the same answer as one not found in it, so no
	 * more than the limit is made linear.
	 */
	size_t len = evbuffer_get_length(in);
	size_t line_max = p->max_uri_bytes + 64;
	size_t lim = p->max_header_bytes > line_max + 2 ? p->max_header_bytes : line_max + 2;
	size_t n = len < lim ? len : lim;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	size_t head_len = http_head_scan(&c->head_scan, buf, n);
	if (head_len == 0) {
		if (c->head_scan.bare_lf) {
			/* the parser would refuse it: say so now, not at header_timeout */
			c->start_us = wall_us();
			conn_reply_error(c, 400, "Lines of a request head end in CRLF, not in a bare LF.",
					 "bad-request");
		} else if (line_too_long(buf, n, line_max)) {
			c->start_us = wall_us();
			conn_reply_error(c, 414, "The request target is too long.", "uri-too-long");
		} else if (len > p->max_header_bytes) {
			c->start_us = wall_us();
			conn_reply_error(c, 431, "The request header block is too large.", "header-too-large");
		}
		return;
	}
	memset(&c->head_scan, 0, sizeof(c->head_scan));
	if (head_len > p->max_header_bytes) {
		c->start_us = wall_us();
		if (line_too_long(buf, n, line_max))
			conn_reply_error(c, 414, "The request target is too long.", "uri-too-long");
		else
			conn_reply_error(c, 431, "The request header block is too large.", "header-too-large");
		return;
	}
	handle_head(c, head_len);
}

/* ---- bodies ---- */

/*
 * Move the body bytes that belong to the current message from src to dst
 * according to its framing. Returns 1 when the body is complete, 0 when more
 * is needed, -1 on a framing error. *moved is how many bytes moved.
 */
static int relay_body(struct evbuffer *src, struct evbuffer *dst, enum http_body kind,
		      uint64_t *remaining, struct chunk_decoder *dec, size_t *moved)
{
	size_t avail = evbuffer_get_length(src);

	*moved = 0;
	switch (kind) {
	case HTTP_BODY_NONE:
		return 1;
	case HTTP_BODY_LENGTH: {
		size_t n = avail < *remaining ? avail : (size_t)*remaining;
		if (n)
			evbuffer_remove_buffer(src, dst, n);
		*remaining -= n;
		*moved = n;
		return *remaining == 0;
	}
	case HTTP_BODY_CLOSE:
		if (avail)
			evbuffer_add_buffer(dst, src);
		*moved = avail;
		return 0;
	case HTTP_BODY_CHUNKED: {
		struct evbuffer_iovec vec[16];
		size_t total = 0;
		enum chunk_result r = CHUNK_MORE;
		while (total < avail) {
			struct evbuffer_ptr pos;
			evbuffer_ptr_set(src, &pos, total, EVBUFFER_PTR_SET);
			int nv = evbuffer_peek(src, -1, &pos, vec, 16);
			if (nv <= 0)
				break;
			if (nv > 16)
				nv = 16;
			for (int i = 0; i < nv; i++) {
				size_t used = 0;
				r = chunk_decoder_feed(dec, vec[i].iov_base, vec[i].iov_len, &used);
				total += used;
				if (r != CHUNK_MORE)
					break;
			}
			if (r != CHUNK_MORE)
				break;
		}
		if (r == CHUNK_ERROR)
			return -1;
		if (total)
			evbuffer_remove_buffer(src, dst, total);
		*moved = total;
		return r == CHUNK_DONE;
	}
	}
	return -1;
}

/* Chunked in, payload out (for HTTP/1.0 clients). Same results as relay_body. */
static int relay_dechunk(struct evbuffer *src, struct evbuffer *dst, struct chunk_decoder *dec,
			 size_t *moved)
{
	*moved = 0;
	for (;;) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(src, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return 0;
		uint64_t data = chunk_decoder_data_next(dec);
		size_t used = 0;
		enum chunk_result r;
		if (data > 0) {
			size_t n = v.iov_len < data ? v.iov_len : (size_t)data;
			r = chunk_decoder_feed(dec, v.iov_base, n, &used);
			evbuffer_remove_buffer(src, dst, used);
			*moved += used;
		} else {
			/* framing: one byte at a time until the next data or the end */
			r = chunk_decoder_feed(dec, v.iov_base, 1, &used);
			evbuffer_drain(src, used);
		}
		if (r == CHUNK_ERROR)
			return -1;
		if (r == CHUNK_DONE)
			return 1;
	}
}

/*
 * The request is complete: keep reading the client only to notice that it
 * went away (a pipelined next request waits in the input, bounded by the
 * watermark), and start waiting for the origin's answer (upstream_timeout
 * runs from here, not while a slow upload is still arriving).
 */
static void request_complete(struct conn *c)
{
	unsigned ims = c->conf->proxy.idle_timeout_ms;
	struct timeval itv = {ims / 1000, (ims % 1000) * 1000};

	c->req_done = 1;
	bufferevent_set_timeouts(c->client, NULL, &itv);
	bufferevent_setwatermark(c->client, EV_READ, 0, c->conf->proxy.max_header_bytes);
	if (!c->client_eof)
		bufferevent_enable(c->client, EV_READ);
	if (c->up && !c->resp_head_done) {
		unsigned ms = c->conf->proxy.upstream_timeout_ms;
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		bufferevent_set_timeouts(c->up, &tv, &tv);
	}
}

/* Client -> origin: the request body. */
static void pump_request_body(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct evbuffer *out = bufferevent_get_output(c->up);
	size_t moved;

	if (c->req_done)
		return;
	int r = relay_body(in, out, c->req_body, &c->req_remaining, &c->req_chunk, &moved);
	c->bytes_up += moved;
	if (r < 0) {
		conn_reply_error(c, 400, "The request body's chunked framing is invalid.", "bad-chunked");
		return;
	}
	if (r == 1) {
		request_complete(c);
		if (c->resp_done)
			conn_finish_exchange(c);
		return;
	}
	if (evbuffer_get_length(out) >= conn_high_watermark(c)) {
		bufferevent_disable(c->client, EV_READ);
		bufferevent_setwatermark(c->up, EV_WRITE, conn_high_watermark(c) / 2, 0);
	} else if (!c->client_eof) {
		bufferevent_enable(c->client, EV_READ);
	}
}

/* Origin -> client: response heads and body. */
static void pump_response(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->up);
	struct evbuffer *out = bufferevent_get_output(c->client);

	while (!c->resp_head_done) {
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			return;
		if (c->replay) {
			/* the origin answered: no retry from here on */
			evbuffer_free(c->replay);
			c->replay = NULL;
		}
		/* incremental, as for request heads; the head ends within
		 * max_header_bytes or the answer is 502 */
		size_t max = c->conf->proxy.max_header_bytes;
		size_t n = len < max ? len : max;
		size_t head_len = http_head_scan(&c->resp_scan,
						 (const char *)evbuffer_pullup(in, (ev_ssize_t)n), n);
		if (head_len == 0) {
			if (c->resp_scan.bare_lf)
				conn_reply_error(c, 502, "The origin's response head has bare LF line ends.",
						 "bad-response");
			else if (len > max)
				conn_reply_error(c, 502, "The origin's response head is too large.", "bad-response");
			return;
		}
		memset(&c->resp_scan, 0, sizeof(c->resp_scan));
		if (head_len > max) {
			conn_reply_error(c, 502, "The origin's response head is too large.", "bad-response");
			return;
		}
		struct http_response resp;
		const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)head_len);
		if (http_parse_response(data, head_len, c->is_head, &resp) < 0) {
			conn_reply_error(c, 502, "The origin sent an invalid response.", "bad-response");
			return;
		}
		size_t before = evbuffer_get_length(out);
		if (resp.status < 200 && resp.status != 101) {
			/* interim (100 Continue, 103 Early Hints): HTTP/1.0 clients never see them */
			if (!c->client_v10)
				build_client_head(c, &resp, out, false);
			evbuffer_drain(in, head_len);
			c->bytes_down += evbuffer_get_length(out) - before;
			if (evbuffer_get_length(out) >= conn_high_watermark(c)) {
				/* an origin that sends interim responses without end to a
				 * client that does not read: wait for the client, as for a body */
				bufferevent_disable(c->up, EV_READ);
				bufferevent_setwatermark(c->client, EV_WRITE, conn_high_watermark(c) / 2, 0);
				return;
			}
			continue;
		}
		if (resp.status == 101) {
			if (!c->ws_upgrade) {
				conn_reply_error(c, 502, "The origin switched protocols unasked.", "bad-response");
				return;
			}
			c->status = 101;
			build_client_head(c, &resp, out, true);
			evbuffer_drain(in, head_len);
			c->bytes_down += evbuffer_get_length(out) - before;
			c->resp_head_done = 1;
			tunnel_splice(c);
			return;
		}
		if (c->ws_upgrade) {
			/* the origin declined the upgrade: an ordinary response, then close */
			c->ws_upgrade = 0;
			c->req_keep_alive = 0;
		}
		c->status = resp.status;
		if (resp.body == HTTP_BODY_CHUNKED && c->client_v10) {
			/* an origin that chunks for an HTTP/1.0 request (RFC 9112 6.1 forbids
			 * it): the client gets the payload, delimited by our close */
			c->dechunk = 1;
			c->req_keep_alive = 0;
		}
		c->resp_body = resp.body;
		c->resp_remaining = resp.content_length;
		chunk_decoder_init(&c->resp_chunk);
		c->up_keep_alive = resp.keep_alive;
		c->client_keep = c->req_keep_alive && resp.body != HTTP_BODY_CLOSE &&
				 !worker_stopping(c->w) && !c->client_eof;
		const struct http_header *ct = http_find_header(resp.headers, resp.n_headers, "content-type");
		(void)ct;
		build_client_head(c, &resp, out, true);
		evbuffer_drain(in, head_len);
		c->bytes_down += evbuffer_get_length(out) - before;
		c->resp_head_done = 1;
		if (resp.body == HTTP_BODY_NONE)
			c->resp_done = 1;
	}
	if (!c->resp_done) {
		size_t moved;
		int r = c->dechunk ? relay_dechunk(in, out, &c->resp_chunk, &moved) :
			relay_body(in, out, c->resp_body, &c->resp_remaining, &c->resp_chunk, &moved);
		c->bytes_down += moved;
		if (r < 0) {
			/* the head is already out: all we can do is cut the connection */
			conn_close(c, "bad-response-chunked");
			return;
		}
		if (r == 1)
			c->resp_done = 1;
	}
	if (c->resp_done) {
		conn_finish_exchange(c);
		return;
	}
	if (evbuffer_get_length(out) >= conn_high_watermark(c)) {
		bufferevent_disable(c->up, EV_READ);
		bufferevent_setwatermark(c->client, EV_WRITE, conn_high_watermark(c) / 2, 0);
	}
}

/* The response is complete: record, recycle the origin, and go on or close. */
static void conn_finish_exchange(struct conn *c)
{
	if (!c->req_done) {
		/* the origin answered before the whole body arrived (an early
		 * 413, a 417, or no 100 Continue): the rest of the body cannot be
		 * told from the next request, so neither side can be reused */
		c->client_keep = 0;
		c->up_keep_alive = 0;
	}
	conn_record(c, RECORD_REQUEST, "done");
	if (c->up) {
		if (c->up_keep_alive && evbuffer_get_length(bufferevent_get_input(c->up)) == 0 &&
		    !worker_stopping(c->w)) {
			struct bufferevent *up = c->up;
			c->up = NULL;
			upstream_release(c->w, c->host, c->port, up);
		} else {
			bufferevent_free(c->up);
			c->up = NULL;
		}
	}
	if (c->client_keep && !worker_stopping(c->w)) {
		wait_for_head(c);
	} else {
		close_after_flush(c, "done");
	}
}

/* ---- upstream ready (from upstream.c) ---- */

void conn_upstream_ready(struct conn *c, struct bufferevent *bev, bool reused, int status,
			 const char *why)
{
	c->pending = NULL;
	if (!bev) {
		conn_reply_error(c, status, why, status == 504 ? "connect-timeout" :
				 status == 403 ? "destination-refused" : "upstream-failed");
		return;
	}
	c->up = bev;
	c->up_reused = reused;
	memset(&c->resp_scan, 0, sizeof(c->resp_scan));
	bufferevent_setcb(bev, conn_on_upstream_read, conn_on_upstream_write,
			  conn_on_upstream_event, c);
	if (c->is_connect) {
		struct evbuffer *out = bufferevent_get_output(c->client);
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		evbuffer_add(out, ok, sizeof(ok) - 1);
		c->bytes_down += sizeof(ok) - 1;
		c->status = 200;
		tunnel_peek(c);
		return;
	}
	struct timeval tv = {c->conf->proxy.upstream_timeout_ms / 1000,
			     (c->conf->proxy.upstream_timeout_ms % 1000) * 1000};
	/* while the body is still coming, only a stalled write to the origin times out */
	bufferevent_set_timeouts(bev, c->req_done ? &tv : NULL, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	/* large bodies in few system calls (libevent's default step is 16 KiB) */
	bufferevent_set_max_single_read(bev, 128 * 1024);
	bufferevent_set_max_single_write(c->client, 128 * 1024);
	struct evbuffer *out = bufferevent_get_output(bev);
	if (reused) {
		/* keep the head until the origin answers, to retry on a stale pooled connection */
		size_t n = evbuffer_get_length(c->replay);
		evbuffer_add(out, evbuffer_pullup(c->replay, -1), n);
	} else {
		evbuffer_add_buffer(out, c->replay);
		evbuffer_free(c->replay);
		c->replay = NULL;
	}
	c->state = CS_FORWARD;
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (!c->req_done) {
		/* a client that stops sending its body is cut off after idle_timeout */
		unsigned ims = c->conf->proxy.idle_timeout_ms;
		struct timeval itv = {ims / 1000, (ims % 1000) * 1000};
		bufferevent_set_timeouts(c->client, &itv, &itv);
		/* the body is bounded by the origin's output watermark instead */
		bufferevent_setwatermark(c->client, EV_READ, 0, 0);
		bufferevent_enable(c->client, EV_READ);
		pump_request_body(c);
	} else {
		request_complete(c);
	}
}

/* ---- callbacks ---- */

static void conn_on_client_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	switch (c->state) {
	case CS_HEAD: {
		/* a head over libevent's 4 KiB per read (long cookies): the rest
		 * in one readv, never past max_header_size */
		size_t len = evbuffer_get_length(bufferevent_get_input(bev));
		size_t max = c->conf->proxy.max_header_bytes;
		if (!c->tls && len >= 4096 && len < max)
			conn_read_more(bev, max - len);
		read_heads(c);
		break;
	}
	case CS_FORWARD:
		if (!c->tls && !c->req_done && c->up) {
			/* an upload: more than libevent's 4 KiB, within the watermark */
			size_t held = evbuffer_get_length(bufferevent_get_output(c->up)) +
				      evbuffer_get_length(bufferevent_get_input(bev));
			size_t high = conn_high_watermark(c);
			conn_read_more(bev, held < high ? high - held : 0);
		}
		pump_request_body(c);
		break;
	case CS_PEEK:
	case CS_TUNNEL:
		/* tunnel.c installs its own callbacks */
		break;
	case CS_UPSTREAM:
	case CS_CLOSING:
	case CS_AUTH:
		bufferevent_disable(bev, EV_READ);
		break;
	}
}

static void conn_on_client_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CS_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_close(c, c->closing_reason ? c->closing_reason : "done");
		return;
	}
	/* the client drained below the low watermark: resume the origin */
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (c->state == CS_FORWARD && c->up && !c->resp_done) {
		bufferevent_enable(c->up, EV_READ);
		/* what the origin sent meanwhile is already read: no event will come for it */
		if (evbuffer_get_length(bufferevent_get_input(c->up)) > 0)
			bufferevent_trigger(c->up, EV_READ, BEV_OPT_DEFER_CALLBACKS);
	} else if (c->state == CS_HEAD && !(bufferevent_get_enabled(bev) & EV_READ))
		wait_for_head(c);
}

static void conn_on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_EOF) {
		c->client_eof = 1;
		if (c->state == CS_FORWARD && c->req_done && c->resp_head_done) {
			/* the response is under way: finish it, then close */
			c->client_keep = 0;
			return;
		}
		if (c->state == CS_FORWARD && c->req_done) {
			/* gone while the origin thinks (like squid's half_closed_clients
			 * off): do not hold the origin until upstream_timeout */
			conn_close(c, "client-gone");
			return;
		}
		if (c->state == CS_HEAD && evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
			conn_close(c, "client-eof-mid-head");
			return;
		}
		conn_close(c, c->state == CS_HEAD ? "client-closed" : "client-eof");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		conn_close(c, "client-error");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_close(c, (what & BEV_EVENT_READING) ? "client-body-timeout" : "client-write-timeout");
}

static void conn_on_upstream_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->resp_head_done && !c->resp_done) {
		/* a body: take more than libevent's 4 KiB, within the watermark */
		size_t held = evbuffer_get_length(bufferevent_get_output(c->client)) +
			      evbuffer_get_length(bufferevent_get_input(bev));
		size_t high = conn_high_watermark(c);
		conn_read_more(bev, held < high ? high - held : 0);
	}
	pump_response(c);
}

static void conn_on_upstream_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	/* below the low watermark: resume reading the request body */
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (c->state == CS_FORWARD && !c->req_done && !c->client_eof)
		bufferevent_enable(c->client, EV_READ);
}

static void retry_fresh(struct conn *c)
{
	bufferevent_free(c->up);
	c->up = NULL;
	c->retried = 1;
	c->bytes_up = 0;
	log_debug("retrying %s on a fresh connection after a stale pooled one", c->host);
	open_upstream(c, false);
}

static void conn_on_upstream_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		c->up_eof = 1;
		if (c->resp_head_done && c->resp_body == HTTP_BODY_CLOSE) {
			/* close-delimited body: the origin's close is the end */
			pump_response(c);
			c->resp_done = 1;
			c->up_keep_alive = 0;
			c->client_keep = 0;
			conn_finish_exchange(c);
			return;
		}
		if (!c->resp_head_done) {
			/* a pooled connection the origin closed meanwhile: retry once
			 * if nothing of the response came and the request is replayable */
			if (c->up_reused && c->replay && !c->retried && c->req_body == HTTP_BODY_NONE &&
			    evbuffer_get_length(bufferevent_get_input(bev)) == 0) {
				retry_fresh(c);
				return;
			}
			conn_reply_error(c, 502, (what & BEV_EVENT_ERROR) ?
					 "The origin reset the connection." :
					 "The origin closed the connection without a response.",
					 "upstream-closed");
			return;
		}
		conn_close(c, "upstream-eof-mid-body");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (!c->resp_head_done)
			conn_reply_error(c, 504, "The origin did not answer in time.", "upstream-timeout");
		else
			conn_close(c, "upstream-timeout");
	}
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;

	switch (c->state) {
	case CS_HEAD:
		if (c->refused) {
			/* no whole request within REFUSED_WAIT_MS: a 403 if it began one */
			if (c->head_started) {
				c->start_us = wall_us();
				c->decision.verdict = "block";
				c->decision.reason = "client-not-allowed";
				conn_reply_error(c, 403, "This proxy does not serve your address.",
						 "client-not-allowed");
			} else {
				conn_close(c, "refused-idle");
			}
		} else if (!c->head_started) {
			conn_close(c, "idle-timeout");
		} else {
			c->start_us = wall_us();
			conn_reply_error(c, 408, "The request head did not arrive in time.", "header-timeout");
		}
		break;
	case CS_CLOSING:
		conn_close(c, "flush-timeout");
		break;
	case CS_PEEK:
		tunnel_peek_timeout(c);
		break;
	default:
		break;
	}
}
