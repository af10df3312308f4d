/*
 * request: reading and deciding a request head. The head is found in the
 * client's input (incrementally, within max_header_bytes), parsed strictly
 * (http_head.c), the person identified (identity.c), the request decided
 * (enforce.c), and then routed: the proxy's own pages, a refusal (block,
 * warn, 407, 4xx) answered with conn_answer(), a tunnel (CONNECT) or a
 * forwarded exchange (relay.c). Owns the request fields of struct conn
 * (method, host, port, uri, decision, user).
 */
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "acks.h"
#include "bindings.h"
#include "bump.h"
#include "enforce.h"
#include "identity.h"
#include "intercept.h"
#include "policy.h"
#include "relay.h"
#include "signin.h"
#include "strutil.h"

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
	return c->decision.verdict == VERDICT_BLOCK;
}

void request_blocked_reply(struct conn *c, bool keep_alive, const char *reason)
{
	char until[64], left[32];
	struct evbuffer *out = bufferevent_get_output(c->client);
	enum reason r = c->decision.reason;
	struct block_info bi = {
		.host = c->host,
		.platform = c->decision.platform,
		.reason = verdict_reason_name(r),
		.reason_text = verdict_reason_is_policy(r) ? policy_reason_text(r) : NULL,
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
	conn_answer(c, before, RECORD_BLOCKED, reason, keep_alive);
}

/* Own pages: origin-form requests are never relayed. */
static void serve_own_page(struct conn *c, const struct http_request *req, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct evbuffer *out = bufferevent_get_output(c->client);

	/* req points into the head in the input: drain it only once the page is written */
	c->bytes_up = head_len;
	const char *q0 = memchr(req->path, '?', req->path_len);
	size_t p0 = q0 ? (size_t)(q0 - req->path) : req->path_len;
	if (p0 == 7 && memcmp(req->path, "/signin", 7) == 0) {
		/* the one own page that takes a body (its form) */
		signin_page(c, req, head_len, q0 ? q0 + 1 : NULL, q0 ? req->path_len - p0 - 1 : 0);
		return;
	}
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
	conn_answer(c, before, RECORD_REQUEST, "own-page", c->client_keep);
}

static void start_connect(struct conn *c, size_t head_len)
{
	evbuffer_drain(bufferevent_get_input(c->client), head_len);
	c->bytes_up = head_len;
	if (!port_allowed(c->conf, c->port)) {
		c->decision.verdict = VERDICT_BLOCK;
		c->decision.reason = REASON_PORT;
		conn_reply_error(c, 403, "CONNECT is only allowed to the configured ports.",
				 "connect-port");
		return;
	}
	relay_open(c, false);
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

	if (c->intercept) {
		/* a device that has no proxy settings cannot answer a 407 */
		intercept_identify(c);
		return 0;
	}
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
		if (!c->bound) {
			/* the same address's intercepted flows are this person's for a while */
			c->bound = 1;
			bindings_note_explicit(&c->peer.u.sa, c->user, time(NULL));
		}
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
		c->bytes_up = head_len;
		c->decision.verdict = VERDICT_BLOCK;
		c->decision.reason = h ? REASON_AUTH_FAILED : REASON_AUTH_REQUIRED;
		conn_answer(c, before, RECORD_BLOCKED, "auth", c->client_keep);
		return -1;
	}
	case IDENTITY_LIMITED:
		evbuffer_drain(bufferevent_get_input(c->client), head_len);
		c->decision.verdict = VERDICT_BLOCK;
		c->decision.reason = REASON_AUTH_RATE_LIMITED;
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

/*
 * An intercepted request (a device without proxy settings, intercept.c):
 * decided by its Host (origin-form) or target (absolute-form), sent to the
 * address the device connected to whatever the name says. 0 to go on, -1
 * when it was answered.
 */
static int intercepted_head(struct conn *c, const struct http_request *req, size_t head_len)
{
	if (req->is_connect || req->form == HTTP_FORM_ASTERISK ||
	    (req->version_minor == 1 && !http_find_header(req->headers, req->n_headers, "host"))) {
		evbuffer_drain(bufferevent_get_input(c->client), head_len);
		conn_reply_error(c, 400, "This request is not meaningful on an intercepted connection.",
				 "bad-request");
		return -1;
	}
	if (req->host_kind == HOST_INVALID) {
		/* HTTP/1.0 without Host: the address is all there is */
		snprintf(c->host, sizeof(c->host), "%s", c->dst);
		c->host_kind = c->dst_kind;
	} else {
		memcpy(c->host, req->host, sizeof(c->host));
		c->host_kind = req->host_kind;
	}
	c->port = c->dst_port;
	return 0;
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
	c->start_us = conn_wall_us();
	c->bytes_up = head_len;
	if (c->refused) {
		evbuffer_drain(in, head_len);
		c->decision.verdict = VERDICT_BLOCK;
		c->decision.reason = REASON_CLIENT_NOT_ALLOWED;
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

	if (c->bump) {
		/* TLS the proxy terminated to show a denied flow its page */
		bump_request(c, &req, head_len);
		return;
	}
	if (c->intercept) {
		if (intercepted_head(c, &req, head_len) < 0)
			return;
	} else if (req.form == HTTP_FORM_ORIGIN || req.form == HTTP_FORM_ASTERISK) {
		if (req.form == HTTP_FORM_ASTERISK) {
			evbuffer_drain(in, head_len);
			conn_reply_error(c, 400, "OPTIONS * is not meaningful for a proxy.", "bad-request");
			return;
		}
		serve_own_page(c, &req, head_len);
		return;
	} else if (req.version_minor == 1 && !http_find_header(req.headers, req.n_headers, "host")) {
		/* RFC 9112 3.2: every HTTP/1.1 request carries Host */
		evbuffer_drain(in, head_len);
		conn_reply_error(c, 400, "An HTTP/1.1 request must have a Host header.", "bad-request");
		return;
	} else {
		memcpy(c->host, req.host, sizeof(c->host));
		c->host_kind = req.host_kind;
		c->port = req.port;
	}
	if (!c->intercept && !req.is_connect &&
	    strcasecmp(c->host, c->conf->proxy.visible_hostname) == 0) {
		/* http://<visible_hostname>/...: the proxy's own pages, with the
		 * person's identity (browsers send their proxy credentials here) */
		if (identify(c, &req, head_len) < 0)
			return;
		serve_own_page(c, &req, head_len);
		return;
	}
	conn_record_uri(c, &req);
	if (identify(c, &req, head_len) < 0)
		return;
	/* an unknown device without proxy settings: to the sign-in page (captive portal) */
	if (c->intercept && signin_redirect(c, &req, head_len))
		return;
	enforce_decide(c, c->host, NULL, &c->decision);
	if (req.is_connect && port_allowed(c->conf, c->port) && bump_wanted(c, c->host)) {
		/* denied or warned, with a block CA: the page over TLS */
		bump_connect(c, head_len);
		return;
	}
	if (c->decision.verdict == VERDICT_WARN &&
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
		conn_answer(c, before, RECORD_BLOCKED, "warned", keep);
		return;
	}
	if (is_blocked(c)) {
		evbuffer_drain(in, head_len);
		/* keep the connection when nothing of a body has to be skipped */
		request_blocked_reply(c, !req.is_connect && req.keep_alive && req.body == HTTP_BODY_NONE &&
				      !worker_stopping(c->w), "blocked");
		return;
	}
	if (req.is_connect)
		start_connect(c, head_len);
	else
		relay_forward(c, &req, head_len);
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

void request_read_heads(struct conn *c)
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
			conn_timer_start(c, p->header_timeout_ms);
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
			c->start_us = conn_wall_us();
			conn_reply_error(c, 400, "Lines of a request head end in CRLF, not in a bare LF.",
					 "bad-request");
		} else if (line_too_long(buf, n, line_max)) {
			c->start_us = conn_wall_us();
			conn_reply_error(c, 414, "The request target is too long.", "uri-too-long");
		} else if (len > p->max_header_bytes) {
			c->start_us = conn_wall_us();
			conn_reply_error(c, 431, "The request header block is too large.", "header-too-large");
		}
		return;
	}
	memset(&c->head_scan, 0, sizeof(c->head_scan));
	if (head_len > p->max_header_bytes) {
		c->start_us = conn_wall_us();
		if (line_too_long(buf, n, line_max))
			conn_reply_error(c, 414, "The request target is too long.", "uri-too-long");
		else
			conn_reply_error(c, 431, "The request header block is too large.", "header-too-large");
		return;
	}
	handle_head(c, head_len);
}

void conn_identity_done(struct conn *c)
{
	if (c->state != CS_AUTH)
		return;
	c->state = CS_HEAD;
	request_read_heads(c);
}
