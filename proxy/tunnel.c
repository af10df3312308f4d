/*
 * tunnel: CONNECT tunnels and upgraded (websocket) connections.
 *
 * After "200 Connection established" the client's first flight is peeked
 * for a TLS ClientHello (bounded by sni_timeout and SNI_MAX_HELLO) so the
 * tunnel can be classified by its server name too, not only by the CONNECT
 * host; bytes from the origin flow to the client meanwhile (server-first
 * protocols). Then bytes are spliced both ways with back-pressure: a side
 * stops reading while the other side's output holds tunnel_buffer bytes,
 * and resumes when it drains to half. An EOF from one side becomes a
 * shutdown(SHUT_WR) towards the other once its output is flushed
 * (half-close); the tunnel ends when both directions are done.
 *
 * Runs on the worker's loop thread only; never blocks; never buffers more
 * than tunnel_buffer bytes per direction (plus one read).
 */
#include "conn.h"

#include <string.h>
#include <sys/socket.h>

#include "log.h"

static void tunnel_on_read(struct bufferevent *bev, void *arg);
static void tunnel_on_write(struct bufferevent *bev, void *arg);
static void tunnel_on_event(struct bufferevent *bev, short what, void *arg);
static void peek_on_client_read(struct bufferevent *bev, void *arg);

static struct bufferevent *other(struct conn *c, struct bufferevent *bev)
{
	return bev == c->client ? c->up : c->client;
}

static void set_idle_timeouts(struct conn *c)
{
	unsigned ms = c->conf->proxy.tunnel_idle_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	bufferevent_set_timeouts(c->client, ms ? &tv : NULL, ms ? &tv : NULL);
	bufferevent_set_timeouts(c->up, ms ? &tv : NULL, ms ? &tv : NULL);
}

/* Is everything done in both directions? Then close. Returns true if closed. */
static bool maybe_finish(struct conn *c)
{
	if (c->client_shut && c->up_shut) {
		conn_close(c, "done");
		return true;
	}
	return false;
}

/* src reached EOF: pass it on as a half-close once dst's output is flushed. */
static bool propagate_eof(struct conn *c, struct bufferevent *dst)
{
	if (evbuffer_get_length(bufferevent_get_output(dst)) > 0) {
		bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
		return false;
	}
	if (dst == c->client && c->tls) {
		/* TLS to the client has no half-close we can rely on: the origin is
		 * done and everything it sent is flushed, so the tunnel ends */
		conn_close(c, "done");
		return true;
	}
	shutdown(bufferevent_getfd(dst), SHUT_WR);
	if (dst == c->client)
		c->client_shut = 1;
	else
		c->up_shut = 1;
	return maybe_finish(c);
}

static void move(struct conn *c, struct bufferevent *src)
{
	struct bufferevent *dst = other(c, src);
	struct evbuffer *in = bufferevent_get_input(src);
	struct evbuffer *out = bufferevent_get_output(dst);
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return;
	evbuffer_add_buffer(out, in);
	if (src == c->client)
		c->bytes_up += n;
	else
		c->bytes_down += n;
	c->last_activity_ms = conn_now_ms();
	if (evbuffer_get_length(out) >= conn_high_watermark(c)) {
		bufferevent_disable(src, EV_READ);
		bufferevent_setwatermark(dst, EV_WRITE, conn_high_watermark(c) / 2, 0);
	}
}

void tunnel_splice(struct conn *c)
{
	c->state = CS_TUNNEL;
	evtimer_del(c->timer);
	c->last_activity_ms = conn_now_ms();
	if (c->decision.platform[0])
		worker_social_add(c->w, c);
	bufferevent_setcb(c->client, tunnel_on_read, tunnel_on_write, tunnel_on_event, c);
	bufferevent_setcb(c->up, tunnel_on_read, tunnel_on_write, tunnel_on_event, c);
	bufferevent_setwatermark(c->client, EV_READ | EV_WRITE, 0, 0);
	bufferevent_setwatermark(c->up, EV_READ | EV_WRITE, 0, 0);
	set_idle_timeouts(c);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	bufferevent_enable(c->up, EV_READ | EV_WRITE);
	move(c, c->client);
	move(c, c->up);
	if (c->client_eof && propagate_eof(c, c->up))
		return;
	if (c->up_eof)
		propagate_eof(c, c->client);
}

static void peek_done(struct conn *c, const struct sni_info *info, enum sni_result r)
{
	evtimer_del(c->timer);
	if (r == SNI_FOUND)
		memcpy(c->sni, info->name, sizeof(c->sni));
	if (c->sni[0]) {
		/* classify by the CONNECT host and the SNI: the more restrictive wins */
		enforce_decide(c, c->host, c->sni, &c->decision);
		if (c->decision.verdict && strcmp(c->decision.verdict, "block") == 0) {
			conn_close(c, "blocked-sni");
			return;
		}
	}
	tunnel_splice(c);
}

static void peek_on_client_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	struct sni_info info;

	if (len == 0)
		return;
	size_t n = len < SNI_MAX_HELLO ? len : SNI_MAX_HELLO;
	const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)n);
	enum sni_result r = sni_parse(data, n, &info);
	if (r == SNI_NEED_MORE && len < SNI_MAX_HELLO)
		return;
	if (r == SNI_NEED_MORE)
		r = SNI_INVALID;
	log_debug("tunnel %s:%u client hello: %s%s%s", c->host, c->port, sni_result_name(r),
		  r == SNI_FOUND ? " " : "", r == SNI_FOUND ? info.name : "");
	peek_done(c, &info, r);
}

void tunnel_peek_timeout(struct conn *c)
{
	struct sni_info info;
	memset(&info, 0, sizeof(info));
	log_debug("tunnel %s:%u: no ClientHello within sni_timeout", c->host, c->port);
	peek_done(c, &info, SNI_NEED_MORE);
}

void tunnel_peek(struct conn *c)
{
	struct timeval tv = {c->conf->proxy.sni_timeout_ms / 1000,
			     (c->conf->proxy.sni_timeout_ms % 1000) * 1000};

	c->state = CS_PEEK;
	bufferevent_setcb(c->up, tunnel_on_read, tunnel_on_write, tunnel_on_event, c);
	bufferevent_setcb(c->client, peek_on_client_read, tunnel_on_write, tunnel_on_event, c);
	bufferevent_set_timeouts(c->up, NULL, NULL);
	bufferevent_set_timeouts(c->client, NULL, NULL);
	bufferevent_setwatermark(c->up, EV_READ | EV_WRITE, 0, 0);
	bufferevent_enable(c->up, EV_READ | EV_WRITE);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	evtimer_add(c->timer, &tv);
	if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
		peek_on_client_read(c->client, c);
}

static void tunnel_on_read(struct bufferevent *bev, void *arg)
{
	move(arg, bev);
}

static void tunnel_on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct bufferevent *src = other(c, bev);
	bool src_eof = src == c->client ? c->client_eof : c->up_eof;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && src_eof) {
		bool shut = bev == c->client ? c->client_shut : c->up_shut;
		if (!shut)
			propagate_eof(c, bev);
		return;
	}
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (!src_eof && (c->state == CS_TUNNEL || src == c->up))
		bufferevent_enable(src, EV_READ);
}

static void tunnel_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	bool is_client = bev == c->client;

	if (what & BEV_EVENT_EOF) {
		if (is_client)
			c->client_eof = 1;
		else
			c->up_eof = 1;
		if (c->state == CS_PEEK) {
			if (is_client) {
				/* the client gave up before sending anything we could peek */
				conn_close(c, "client-eof");
				return;
			}
			move(c, bev);
			propagate_eof(c, c->client);
			return;
		}
		move(c, bev);
		propagate_eof(c, other(c, bev));
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		conn_close(c, is_client ? "client-error" : "upstream-error");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		unsigned ms = c->conf->proxy.tunnel_idle_timeout_ms;
		if (what & BEV_EVENT_WRITING) {
			/* the peer has not taken a byte for tunnel_idle_timeout */
			conn_close(c, is_client ? "client-write-timeout" : "upstream-write-timeout");
			return;
		}
		if (conn_now_ms() - c->last_activity_ms < ms) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		conn_close(c, "tunnel-idle-timeout");
	}
}
