/*
 * relay: a forwarded exchange once its head was decided. Open the origin
 * (upstream.c, perhaps a pooled connection), send the rewritten head,
 * relay the request body by its framing while the response head and body
 * come back (CS_FORWARD), then finish: record, give the origin back to the
 * pool, and wait for the next request or close.
 *
 * Bodies move between evbuffers without copying, validated by their
 * framing (Content-Length or chunked, never guessed), with back-pressure:
 * one side stops reading while the other side's output is above the high
 * watermark. Owns the origin side of a conn (c->up and its callbacks) and
 * the body and response fields of struct conn.
 */
#include "relay.h"

#include <string.h>

#include "clock.h"
#include "log.h"
#include "rewrite.h"

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
	struct timeval itv = clock_timeval(ims);

	c->req_done = 1;
	bufferevent_set_timeouts(c->client, NULL, &itv);
	conn_head_watermark(c);
	if (!c->client_eof)
		bufferevent_enable(c->client, EV_READ);
	if (c->up && !c->resp_head_done) {
		unsigned ms = c->conf->proxy.upstream_timeout_ms;
		struct timeval tv = clock_timeval(ms);
		bufferevent_set_timeouts(c->up, &tv, &tv);
	}
}

/* The response is complete: record, recycle the origin, and go on or close. */
static void finish_exchange(struct conn *c)
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
			upstream_release(c->w, c->intercept ? c->dst : c->host, c->port, up);
		} else {
			bufferevent_free(c->up);
			c->up = NULL;
		}
	}
	if (c->client_keep && !worker_stopping(c->w)) {
		conn_wait_for_head(c);
	} else {
		conn_close_after_flush(c, "done");
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
			finish_exchange(c);
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
				rewrite_client_head(c, &resp, out, false);
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
			rewrite_client_head(c, &resp, out, true);
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
		rewrite_client_head(c, &resp, out, true);
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
		finish_exchange(c);
		return;
	}
	if (evbuffer_get_length(out) >= conn_high_watermark(c)) {
		bufferevent_disable(c->up, EV_READ);
		bufferevent_setwatermark(c->client, EV_WRITE, conn_high_watermark(c) / 2, 0);
	}
}

/* Resolve and connect (or take a pooled connection); conn_upstream_ready goes on. */
void relay_open(struct conn *c, bool may_reuse)
{
	c->state = CS_UPSTREAM;
	bufferevent_disable(c->client, EV_READ);
	/* an intercepted flow goes where the device sent it, whatever its Host says */
	if (c->intercept)
		c->pending = upstream_open(c, c->dst, c->dst_kind, c->port, may_reuse);
	else
		c->pending = upstream_open(c, c->host, c->host_kind, c->port, may_reuse);
	if (!c->pending)
		conn_reply_error(c, 503, "The proxy is short of memory: try again.",
				 "upstream-open-failed");
}

static void on_upstream_read(struct bufferevent *bev, void *arg)
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

static void on_upstream_write(struct bufferevent *bev, void *arg)
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
	relay_open(c, false);
}

static void on_upstream_event(struct bufferevent *bev, short what, void *arg)
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
			finish_exchange(c);
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
	bufferevent_setcb(bev, on_upstream_read, on_upstream_write,
			  on_upstream_event, c);
	if (c->is_connect && c->intercept) {
		/* intercepted TLS, decided by its ClientHello: splice it on as it came */
		c->status = 200;
		tunnel_splice(c);
		return;
	}
	if (c->is_connect) {
		struct evbuffer *out = bufferevent_get_output(c->client);
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		evbuffer_add(out, ok, sizeof(ok) - 1);
		c->bytes_down += sizeof(ok) - 1;
		c->status = 200;
		tunnel_peek(c);
		return;
	}
	struct timeval tv = clock_timeval(c->conf->proxy.upstream_timeout_ms);
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
		struct timeval itv = clock_timeval(ims);
		bufferevent_set_timeouts(c->client, &itv, &itv);
		/* the body is bounded by the origin's output watermark instead */
		bufferevent_setwatermark(c->client, EV_READ, 0, 0);
		bufferevent_enable(c->client, EV_READ);
		pump_request_body(c);
	} else {
		request_complete(c);
	}
}

void relay_forward(struct conn *c, const struct http_request *req, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->client);

	c->replay = rewrite_upstream_head(c, req);
	evbuffer_drain(in, head_len);
	c->bytes_up = head_len;
	c->req_body = req->body;
	c->req_remaining = req->content_length;
	chunk_decoder_init(&c->req_chunk);
	if (req->body == HTTP_BODY_NONE)
		c->req_done = 1;
	relay_open(c, !c->ws_upgrade);
}

/* CS_FORWARD: more of the request body from the client. */
void relay_client_read(struct conn *c)
{
	if (!c->tls && !c->req_done && c->up) {
		/* an upload: more than libevent's 4 KiB, within the watermark */
		size_t held = evbuffer_get_length(bufferevent_get_output(c->up)) +
			      evbuffer_get_length(bufferevent_get_input(c->client));
		size_t high = conn_high_watermark(c);
		conn_read_more(c->client, held < high ? high - held : 0);
	}
	pump_request_body(c);
}

/* CS_FORWARD: the client drained its output below the low watermark. */
void relay_client_drained(struct conn *c)
{
	if (!c->up || c->resp_done)
		return;
	bufferevent_enable(c->up, EV_READ);
	/* what the origin sent meanwhile is already read: no event will come for it */
	if (evbuffer_get_length(bufferevent_get_input(c->up)) > 0)
		bufferevent_trigger(c->up, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

