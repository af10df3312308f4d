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

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

static void tunnel_on_read(struct bufferevent *bev, void *arg);
static void to_splice(struct conn *c);

/* A tunnel that has moved this much is a bulk transfer: splice it. */
#define SPLICE_AFTER (1024 * 1024)
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
	struct timeval tv = clock_timeval(ms);
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

	if (src == c->up || !c->tls) {
		/* plain socket: more than libevent's 4 KiB per wake-up, up to the mark */
		size_t held = evbuffer_get_length(out) + evbuffer_get_length(in);
		size_t high = conn_high_watermark(c);
		conn_read_more(src, held < high ? high - held : 0);
	}
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
	/* bulk transfers: few large reads and writes instead of libevent's 16 KiB steps */
	size_t big = conn_high_watermark(c);
	bufferevent_set_max_single_read(c->client, big);
	bufferevent_set_max_single_read(c->up, big);
	bufferevent_set_max_single_write(c->client, big);
	bufferevent_set_max_single_write(c->up, big);
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
		if (c->decision.verdict == VERDICT_BLOCK) {
			conn_close(c, "blocked-sni");
			return;
		}
	}
	tunnel_splice(c);
}

bool tunnel_read_hello(struct evbuffer *in, struct sni_info *info, enum sni_result *r)
{
	size_t len = evbuffer_get_length(in);

	if (len == 0)
		return false;
	size_t n = len < SNI_MAX_HELLO ? len : SNI_MAX_HELLO;
	*r = sni_parse(evbuffer_pullup(in, (ev_ssize_t)n), n, info);
	if (*r == SNI_NEED_MORE && len < SNI_MAX_HELLO)
		return false;
	if (*r == SNI_NEED_MORE)
		*r = SNI_INVALID; /* a ClientHello past SNI_MAX_HELLO is not one we read */
	return true;
}

static void peek_on_client_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct sni_info info;
	enum sni_result r;

	if (!tunnel_read_hello(bufferevent_get_input(bev), &info, &r))
		return;
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
	struct timeval tv = clock_timeval(c->conf->proxy.sni_timeout_ms);

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
	struct conn *c = arg;

	move(c, bev);
	/* last: to_splice may free the bufferevents, or the conn */
	if (c->state == CS_TUNNEL && !c->tls && !c->no_splice && !c->client_eof && !c->up_eof &&
	    c->bytes_up + c->bytes_down >= SPLICE_AFTER)
		to_splice(c);
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

/*
 * Splice mode. A bulk tunnel stops using bufferevents: each direction gets a
 * pipe, and bytes go socket -> pipe -> socket with splice(2), never copied
 * into this process. Back-pressure is the pipe: while it holds bytes the
 * destination did not take, the source is not read. Bytes the bufferevents
 * still held are written into the pipes first, so order is kept. Only for
 * plain-TCP clients (a TLS client's bytes must be decrypted here).
 */
struct splice_dir {
	struct splice_state *sp;
	int src, dst;                   /* sockets */
	int pipe[2];
	size_t in_pipe;                 /* bytes in the pipe not yet written to dst */
	size_t pipe_size;               /* its capacity (F_GETPIPE_SZ) */
	struct event *rev, *wev;
	bool eof, shut;
	bool up;                        /* client -> origin */
};

struct splice_state {
	struct conn *c;
	struct splice_dir d[2];         /* [0] client -> origin, [1] origin -> client */
	struct event *idle;             /* tunnel_idle_timeout */
};

#define PIPE_BYTES (1024 * 1024)
/* smaller pipes than this (the pipe budget is spent): do not splice */
#define PIPE_MIN (256 * 1024)

static void splice_account(struct conn *c, const struct splice_dir *d, size_t n)
{
	if (d->up)
		c->bytes_up += n;
	else
		c->bytes_down += n;
	c->last_activity_ms = conn_now_ms();
}

static bool splice_finished(struct splice_state *sp)
{
	return sp->d[0].shut && sp->d[1].shut;
}

/* Pipe -> destination. Returns -1 on a write error. */
static int splice_flush(struct splice_dir *d)
{
	while (d->in_pipe > 0) {
		ssize_t n = splice(d->pipe[0], NULL, d->dst, NULL, d->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->in_pipe -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
	return 0;
}

/* After a flush: stop or resume reading the source, pass on an EOF. */
static void splice_adjust(struct splice_state *sp, struct splice_dir *d)
{
	if (d->in_pipe > 0) {
		event_del(d->rev);
		event_add(d->wev, NULL);
		return;
	}
	event_del(d->wev);
	if (d->eof) {
		if (!d->shut) {
			shutdown(d->dst, SHUT_WR);
			d->shut = true;
		}
		event_del(d->rev);
	} else {
		event_add(d->rev, NULL);
	}
	(void)sp;
}

/*
 * Source -> pipe -> destination until the source has nothing more, the pipe
 * is full or the destination takes no more. Returns -1 when the tunnel was
 * closed (sp is gone).
 */
static int splice_pump(struct splice_dir *d)
{
	struct conn *c = d->sp->c;

	while (!d->eof && d->in_pipe < d->pipe_size) {
		ssize_t n = splice(d->src, NULL, d->pipe[1], NULL, d->pipe_size - d->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->in_pipe += (size_t)n;
			splice_account(c, d, (size_t)n);
			if (splice_flush(d) < 0) {
				conn_close(c, d->up ? "upstream-error" : "client-error");
				return -1;
			}
			continue;
		}
		if (n == 0) {
			d->eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		conn_close(c, d->up ? "client-error" : "upstream-error");
		return -1;
	}
	return 0;
}

static void splice_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct splice_dir *d = arg;
	struct splice_state *sp = d->sp;
	(void)fd;
	(void)what;

	if (splice_pump(d) < 0)
		return;
	splice_adjust(sp, d);
	if (splice_finished(sp))
		conn_close(sp->c, "done");
}

static void splice_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct splice_dir *d = arg;
	struct splice_state *sp = d->sp;
	struct conn *c = sp->c;
	(void)fd;
	(void)what;

	if (splice_flush(d) < 0) {
		conn_close(c, d->up ? "upstream-error" : "client-error");
		return;
	}
	/* the destination took everything: the source has most likely kept
	 * sending meanwhile, so read it now instead of going back to epoll
	 * to switch from waiting for "writable" to waiting for "readable"
	 * (two epoll_ctl calls and a wake-up per pipe-full) */
	if (d->in_pipe == 0 && splice_pump(d) < 0)
		return;
	splice_adjust(sp, d);
	if (splice_finished(sp))
		conn_close(c, "done");
}

static void splice_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct splice_state *sp = arg;
	struct conn *c = sp->c;
	unsigned ms = c->conf->proxy.tunnel_idle_timeout_ms;
	(void)fd;
	(void)what;

	if (conn_now_ms() - c->last_activity_ms >= ms) {
		conn_close(c, "tunnel-idle-timeout");
		return;
	}
	struct timeval tv = {ms / 1000 ? ms / 1000 : 1, 0};
	evtimer_add(sp->idle, &tv);
}

void tunnel_splice_free(struct conn *c)
{
	struct splice_state *sp = c->sp;

	for (int i = 0; i < 2; i++) {
		struct splice_dir *d = &sp->d[i];
		if (d->rev)
			event_free(d->rev);
		if (d->wev)
			event_free(d->wev);
		if (d->pipe[0] >= 0)
			close(d->pipe[0]);
		if (d->pipe[1] >= 0)
			close(d->pipe[1]);
	}
	if (sp->idle)
		event_free(sp->idle);
	close(sp->d[0].src);
	close(sp->d[1].src);
	free(sp);
	c->sp = NULL;
}

/* Write what a bufferevent still held into the pipe; false if it does not fit. */
static bool pipe_preload(struct splice_dir *d, struct evbuffer *b)
{
	char buf[16384];

	while (evbuffer_get_length(b) > 0) {
		ev_ssize_t got = evbuffer_copyout(b, buf, sizeof(buf));
		if (got <= 0)
			return false;
		ssize_t n = write(d->pipe[1], buf, (size_t)got);
		if (n <= 0)
			return false;
		if (evbuffer_drain(b, (size_t)n) < 0) {
			log_debug("pipe_preload: cannot drain (frozen buffer), %zu left", evbuffer_get_length(b));
			return false;
		}
		d->in_pipe += (size_t)n;
	}
	return true;
}

static void to_splice(struct conn *c)
{
	/*
	 * What the bufferevents hold goes into the pipes first. With reads of
	 * up to tunnel_buffer (conn_read_more) a direction often holds more
	 * than a default 64 KiB pipe, so the pipes are enlarged first and the
	 * switch waits only while a direction holds more than they do. (It
	 * used to wait until at most 32 KiB was buffered each way, which a
	 * client slower than its origin may not see for hundreds of MB.)
	 */
	size_t up_held = evbuffer_get_length(bufferevent_get_output(c->up)) +
			 evbuffer_get_length(bufferevent_get_input(c->client));
	size_t down_held = evbuffer_get_length(bufferevent_get_output(c->client)) +
			   evbuffer_get_length(bufferevent_get_input(c->up));
	if (up_held > PIPE_BYTES || down_held > PIPE_BYTES)
		return;
	struct splice_state *sp = calloc(1, sizeof(*sp));
	struct event_base *base = worker_base(c->w);

	if (!sp)
		return;
	sp->c = c;
	for (int i = 0; i < 2; i++) {
		sp->d[i].sp = sp;
		sp->d[i].pipe[0] = sp->d[i].pipe[1] = -1;
		if (pipe2(sp->d[i].pipe, O_NONBLOCK | O_CLOEXEC) < 0)
			goto fail;
		fcntl(sp->d[i].pipe[1], F_SETPIPE_SZ, PIPE_BYTES);
		int size = fcntl(sp->d[i].pipe[1], F_GETPIPE_SZ);
		if (size < PIPE_MIN) {
			/* the user's pipe budget is spent (fs.pipe-user-pages-soft:
			 * unprivileged users get 8 KiB pipes beyond it): splicing a
			 * few KiB per call costs more than copying with large reads,
			 * so this tunnel stays with its bufferevents */
			log_debug("tunnel %s:%u: pipe of %d bytes only, no splice", c->host, c->port, size);
			c->no_splice = 1;
			goto fail;
		}
		sp->d[i].pipe_size = (size_t)size;
	}
	if (up_held > sp->d[0].pipe_size || down_held > sp->d[1].pipe_size)
		goto fail;      /* try again after a read */
	/* what is still buffered: client input and origin output go up, the rest down.
	 * libevent keeps the start of a bufferevent's output frozen (only its
	 * writer drains it); the bufferevents are about to go, so we take over. */
	evbuffer_unfreeze(bufferevent_get_output(c->up), 1);
	evbuffer_unfreeze(bufferevent_get_output(c->client), 1);
	struct splice_dir *up = &sp->d[0], *down = &sp->d[1];
	up->up = true;
	if (!pipe_preload(up, bufferevent_get_output(c->up)) ||
	    !pipe_preload(up, bufferevent_get_input(c->client)) ||
	    !pipe_preload(down, bufferevent_get_output(c->client)) ||
	    !pipe_preload(down, bufferevent_get_input(c->up)))
		goto fail_late;
	up->src = down->dst = bufferevent_getfd(c->client);
	up->dst = down->src = bufferevent_getfd(c->up);
	up->eof = c->client_eof;
	down->eof = c->up_eof;
	up->shut = c->up_shut;
	down->shut = c->client_shut;
	/* the sockets change owner: the bufferevents must not close them */
	bufferevent_setfd(c->client, -1);
	bufferevent_setfd(c->up, -1);
	bufferevent_free(c->client);
	bufferevent_free(c->up);
	c->client = c->up = NULL;
	for (int i = 0; i < 2; i++) {
		struct splice_dir *d = &sp->d[i];
		d->rev = event_new(base, d->src, EV_READ | EV_PERSIST, splice_on_read, d);
		d->wev = event_new(base, d->dst, EV_WRITE | EV_PERSIST, splice_on_write, d);
	}
	sp->idle = evtimer_new(base, splice_on_idle, sp);
	c->sp = sp;
	log_debug("tunnel %s:%u: bulk transfer, moving to splice after %llu bytes", c->host, c->port,
		  (unsigned long long)(c->bytes_up + c->bytes_down));
	for (int i = 0; i < 2; i++) {
		struct splice_dir *d = &sp->d[i];
		if (splice_flush(d) < 0) {
			log_debug("tunnel %s:%u: splice: %s", c->host, c->port, strerror(errno));
			conn_close(c, "splice-error");
			return;
		}
		splice_adjust(sp, d);
	}
	if (splice_finished(sp)) {
		conn_close(c, "done");
		return;
	}
	struct timeval tv = {1, 0};
	evtimer_add(sp->idle, &tv);
	return;
fail_late:
	/* the preload partly drained the buffers: nothing to do but end the tunnel */
	log_debug("tunnel %s:%u: preloading the pipes: %s", c->host, c->port, strerror(errno));
	for (int i = 0; i < 2; i++) {
		close(sp->d[i].pipe[0]);
		close(sp->d[i].pipe[1]);
	}
	free(sp);
	conn_close(c, "splice-error");
	return;
fail:
	for (int i = 0; i < 2; i++) {
		if (sp->d[i].pipe[0] >= 0)
			close(sp->d[i].pipe[0]);
		if (sp->d[i].pipe[1] >= 0)
			close(sp->d[i].pipe[1]);
	}
	free(sp);
}
