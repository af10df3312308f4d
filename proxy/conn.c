/*
 * conn: one client connection of breaktimed, from accept to close: its
 * lifecycle, timers and client callbacks, and the few steps every room
 * shares (wait for the next head, answer locally, flush and close).
 *
 * The rooms of a connection (see the map in proxy.h):
 *   conn.c         accept, timers, client callbacks, conn_answer(), conn_close()
 *   request.c      read, identify, decide and route one request head
 *   relay.c        a forwarded exchange: origin, bodies, response, finish
 *   rewrite.c      the heads written to the origin and to the client
 *   conn_record.c  the one record of an exchange
 *   tunnel.c       CONNECT and websocket splicing
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

#include "bump.h"
#include "clock.h"
#include "identity.h"
#include "log.h"
#include "intercept.h"
#include "relay.h"
#include "request.h"

static void conn_on_client_read(struct bufferevent *bev, void *arg);
static void conn_on_client_write(struct bufferevent *bev, void *arg);
static void conn_on_client_event(struct bufferevent *bev, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);

uint64_t conn_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t conn_wall_us(void)
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

void conn_timer_start(struct conn *c, unsigned ms)
{
	struct timeval tv = clock_timeval(ms);
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
void conn_head_watermark(struct conn *c)
{
	size_t low, high, want = c->conf->proxy.max_header_bytes + 1;

	/* setting it costs an event_add each time: only when it changes */
	if (bufferevent_getwatermark(c->client, EV_READ, &low, &high) != 0 || high != want)
		bufferevent_setwatermark(c->client, EV_READ, 0, want);
}

void conn_wait_for_head(struct conn *c)
{
	c->state = CS_HEAD;
	reset_exchange(c);
	conn_timer_start(c, c->conf->proxy.idle_timeout_ms);
	if (evbuffer_get_length(bufferevent_get_output(c->client)) >= conn_high_watermark(c)) {
		bufferevent_disable(c->client, EV_READ);
		bufferevent_setwatermark(c->client, EV_WRITE, conn_high_watermark(c) / 2, 0);
		return;
	}
	conn_head_watermark(c);
	bufferevent_enable(c->client, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
		bufferevent_trigger(c->client, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

struct conn *conn_create(struct worker *w, struct generation *gen, evutil_socket_t fd,
			 const struct sockaddr *peer, socklen_t peerlen, SSL *ssl)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		if (ssl)
			SSL_free(ssl);
		evutil_closesocket(fd);
		return NULL;
	}
	c->w = w;
	c->gen = gen_ref(gen);
	c->conf = gen->conf;
	c->idb = gen->idb;
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
		gen_unref(c->gen);
		free(c);
		return NULL;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	worker_conn_opened(w, c);
	conn_client_attach(c);
	return c;
}

void conn_client_attach(struct conn *c)
{
	bufferevent_setcb(c->client, conn_on_client_read, conn_on_client_write,
			  conn_on_client_event, c);
	/* a client that stops reading its response must not hold us forever */
	struct timeval wt = clock_timeval(c->conf->proxy.idle_timeout_ms);
	bufferevent_set_timeouts(c->client, NULL, &wt);
	conn_wait_for_head(c);
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
	conn_timer_start(c, ms < REFUSED_WAIT_MS ? ms : REFUSED_WAIT_MS);
}

void conn_close(struct conn *c, const char *reason)
{
	char peer[64];

	conn_tunnel_progress(c);
	if (!c->recorded && c->start_us) {
		enum record_kind k = c->is_connect || c->ws_upgrade ? RECORD_TUNNEL : RECORD_REQUEST;
		if (c->decision.verdict == VERDICT_BLOCK && !c->enforced)
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
	bump_conn_free(c);
	if (c->up)
		bufferevent_free(c->up);
	if (c->client)
		bufferevent_free(c->client);
	event_free(c->timer);
	if (c->replay)
		evbuffer_free(c->replay);
	worker_conn_closed(c->w, c);
	gen_unref(c->gen);
	free(c);
}

void conn_enforce_tick(struct conn *c)
{
	struct decision_hook d;

	if (c->state != CS_TUNNEL)
		return;
	enforce_decide(c, c->host, c->sni[0] ? c->sni : NULL, &d);
	if (d.verdict != VERDICT_BLOCK) {
		/* still allowed, perhaps for another reason (a break ended and the
		 * platform is sanctioned while students are present): from now on
		 * its minutes are counted under the new reason */
		c->decision.verdict = d.verdict;
		c->decision.reason = d.reason;
		c->decision.until = d.until;
		return;
	}
	log_info("closing tunnel %s:%u of %s: %s", c->host, c->port,
		 c->user[0] ? c->user : "an unidentified client",
		 d.reason != REASON_NONE ? verdict_reason_name(d.reason) : "policy");
	/* the tunnel was allowed when it opened; its record says why it ended */
	c->decision.verdict = VERDICT_BLOCK;
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
void conn_close_after_flush(struct conn *c, const char *reason)
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
	if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0 && bump_flushed(c)) {
		conn_close(c, reason);
		return;
	}
	/* the write callback closes once the output is empty; bound the wait */
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	bufferevent_enable(c->client, EV_WRITE);
	conn_timer_start(c, 10000);
}

void conn_answer(struct conn *c, size_t before, enum record_kind kind, const char *reason, bool keep)
{
	size_t after = evbuffer_get_length(bufferevent_get_output(c->client));
	/* (a terminated TLS connection counts its pages as they are written, bump.c) */
	if (!c->bump && after > before)
		c->bytes_down += after - before;
	conn_record(c, kind, reason);
	c->client_keep = keep;
	if (keep)
		conn_wait_for_head(c);
	else
		conn_close_after_flush(c, reason);
}

void conn_reply_error(struct conn *c, int status, const char *detail, const char *reason)
{
	struct evbuffer *out = bufferevent_get_output(c->client);
	enum record_kind k = RECORD_REQUEST;

	if (c->decision.verdict == VERDICT_BLOCK)
		k = RECORD_BLOCKED;
	else if (c->is_connect)
		k = RECORD_TUNNEL;
	c->status = status;
	if (c->intercept && c->is_connect) {
		/* intercepted TLS: the client sent a ClientHello and would take
		 * HTTP text for a broken handshake; it is closed, and the record
		 * keeps the status an explicit client would have had */
		conn_close(c, reason);
		return;
	}
	size_t before = evbuffer_get_length(out);
	pages_error(out, c->conf, status, pages_reason(status), detail, false);
	conn_answer(c, before, k, reason, false);
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
		if (!c->tls && !c->bump && len >= 4096 && len < max)
			conn_read_more(bev, max - len);
		request_read_heads(c);
		break;
	}
	case CS_FORWARD:
		relay_client_read(c);
		break;
	case CS_PEEK:
		if (c->intercept && !c->up) {
			intercept_peek_read(c); /* before the origin is connected */
			break;
		}
		/* fall through: tunnel.c installs its own callbacks */
	case CS_TUNNEL:
		break;
	case CS_BUMP:
		bump_on_read(c);
		break;
	case CS_UPSTREAM:
	case CS_CLOSING:
	case CS_AUTH:
	case CS_NEIGH:
		bufferevent_disable(bev, EV_READ);
		break;
	}
}

static void conn_on_client_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CS_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && bump_flushed(c))
			conn_close(c, c->closing_reason ? c->closing_reason : "done");
		return;
	}
	/* the client drained below the low watermark: resume the origin */
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (c->state == CS_FORWARD)
		relay_client_drained(c);
	else if (c->state == CS_HEAD && !(bufferevent_get_enabled(bev) & EV_READ))
		conn_wait_for_head(c);
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
				c->start_us = conn_wall_us();
				c->decision.verdict = VERDICT_BLOCK;
				c->decision.reason = REASON_CLIENT_NOT_ALLOWED;
				conn_reply_error(c, 403, "This proxy does not serve your address.",
						 "client-not-allowed");
			} else {
				conn_close(c, "refused-idle");
			}
		} else if (!c->head_started) {
			conn_close(c, "idle-timeout");
		} else {
			c->start_us = conn_wall_us();
			conn_reply_error(c, 408, "The request head did not arrive in time.", "header-timeout");
		}
		break;
	case CS_CLOSING:
		conn_close(c, "flush-timeout");
		break;
	case CS_PEEK:
		if (c->intercept && !c->up)
			intercept_peek_timeout(c);
		else
			tunnel_peek_timeout(c);
		break;
	case CS_BUMP:
		bump_on_timer(c);
		break;
	case CS_NEIGH:
		log_debug("no answer from the neighbour table within %d ms: going on without",
			  INTERCEPT_NEIGH_WAIT_MS);
		intercept_neigh_done(c);
		break;
	default:
		break;
	}
}
