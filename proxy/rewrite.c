/*
 * rewrite: the heads breaktimed writes for a forwarded exchange, the
 * request head for the origin and the response head for the client.
 * Hop-by-hop fields (http_hop_mask(), the one rule in http_head.c) are
 * removed, framing is written from what the parser decided (never copied),
 * Via is added. Reads struct conn, writes none of its fields.
 */
#include "rewrite.h"

#include <string.h>
#include <strings.h>

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

/* Via (RFC 9110 7.6.3) with the version we received, the empty line, and out. */
static void hb_end(struct headbuf *b, const struct conn *c, int version_minor)
{
	HB_LIT(b, "Via: 1.");
	hb_uint(b, (unsigned)version_minor);
	HB_LIT(b, " ");
	hb_str(b, c->conf->proxy.visible_hostname);
	HB_LIT(b, "\r\n\r\n");
	hb_flush(b);
}

struct evbuffer *rewrite_upstream_head(struct conn *c, const struct http_request *req)
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
	hb_end(&b, c, req->version_minor);
	return b.dst;
}

void rewrite_client_head(struct conn *c, const struct http_response *resp, struct evbuffer *out,
			 bool final)
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
	hb_end(&b, c, resp->version_minor);
}
