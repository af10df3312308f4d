/*
 * Unit tests: the strict HTTP/1.x head parser, the field rules and the chunked
 * decoder (proxy/http_head.c, http_field.c, http_chunked.c), table-driven.
 * The tables carry the request smuggling classics: every ambiguous framing
 * must be refused with the status the proxy answers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

#define R(s) .raw = s, .len = sizeof(s) - 1

enum {
	F_KA = 1,        /* keep_alive */
	F_EXPECT = 2,    /* expect_continue */
	F_WS = 4,        /* upgrade_websocket */
	F_HEAD = 8,      /* is_head */
	F_CONNECT = 16,  /* is_connect */
};

/* ---- requests ---- */

struct req_case {
	const char *raw;
	size_t len;
	int status;
	size_t max_uri;                 /* 0: 8192 */
	/* checked when status is 0: */
	enum http_target_form form;
	enum http_body body;
	uint64_t cl;
	unsigned flags;
	const char *host;               /* NULL: not checked */
	uint16_t port;
	const char *path;               /* NULL: not checked */
};

#define ABS HTTP_FORM_ABSOLUTE
#define ORIGIN HTTP_FORM_ORIGIN
#define AUTH HTTP_FORM_AUTHORITY
#define STAR HTTP_FORM_ASTERISK

static const struct req_case req_cases[] = {
	/* ---- valid ---- */
	{R("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\n"
	   "Accept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n"),
	 .form = ABS, .flags = F_KA, .host = "example.com", .port = 80, .path = "/"},
	{R("GET http://Example.COM:8080/a/b?c=d&e=%20 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
	 .form = ABS, .flags = F_KA, .host = "example.com", .port = 8080, .path = "/a/b?c=d&e=%20"},
	{R("GET http://example.com HTTP/1.1\r\n\r\n"),
	 .form = ABS, .flags = F_KA, .host = "example.com", .port = 80, .path = "/"},
	{R("GET HTTP://www.example.com./x HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
	 .form = ABS, .flags = F_KA, .host = "www.example.com", .port = 80, .path = "/x"},
	{R("GET http://192.0.2.1:81/index.html HTTP/1.0\r\n\r\n"),
	 .form = ABS, .host = "192.0.2.1", .port = 81, .path = "/index.html"},
	{R("GET http://[2001:DB8::1]/ HTTP/1.1\r\n\r\n"),
	 .form = ABS, .flags = F_KA, .host = "2001:db8::1", .port = 80, .path = "/"},
	/* absolute-form: Host is ignored, even when it disagrees (RFC 9112 3.2.2) */
	{R("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n"),
	 .form = ABS, .flags = F_KA, .host = "a.example", .port = 80, .path = "/"},
	{R("CONNECT www.facebook.com:443 HTTP/1.1\r\nHost: www.facebook.com:443\r\n"
	   "User-Agent: curl/8.5.0\r\nProxy-Connection: Keep-Alive\r\n\r\n"),
	 .form = AUTH, .flags = F_KA | F_CONNECT, .host = "www.facebook.com", .port = 443},
	{R("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"),
	 .form = AUTH, .flags = F_KA | F_CONNECT, .host = "::1", .port = 8443},
	{R("CONNECT 198.51.100.7:443 HTTP/1.0\r\n\r\n"),
	 .form = AUTH, .flags = F_CONNECT, .host = "198.51.100.7", .port = 443},
	{R("CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
	 .form = AUTH, .body = HTTP_BODY_LENGTH, .flags = F_KA | F_CONNECT, .port = 443},
	{R("GET /proxy.pac HTTP/1.1\r\nHost: Proxy.Example.org.:3128\r\n\r\n"),
	 .form = ORIGIN, .flags = F_KA, .host = "proxy.example.org", .port = 3128, .path = "/proxy.pac"},
	{R("GET / HTTP/1.0\r\n\r\n"), .form = ORIGIN, .host = "", .port = 0, .path = "/"},
	{R("OPTIONS * HTTP/1.1\r\nHost: proxy.example.org\r\n\r\n"),
	 .form = STAR, .flags = F_KA, .host = "proxy.example.org", .port = 80},
	{R("GET http://a.example/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), .form = ABS, .flags = F_KA},
	{R("GET http://a.example/ HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), .form = ABS},
	{R("GET http://a.example/ HTTP/1.1\r\nConnection: close\r\n\r\n"), .form = ABS},
	{R("GET http://a.example/ HTTP/1.1\r\nConnection: foo\r\nConnection: CLOSE\r\n\r\n"), .form = ABS},
	{R("HEAD http://a.example/ HTTP/1.1\r\n\r\n"), .form = ABS, .flags = F_KA | F_HEAD},
	{R("PURGE http://a.example/x HTTP/1.1\r\n\r\n"), .form = ABS, .flags = F_KA},
	{R("POST http://a.example/form HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n"
	   "Content-Type: application/x-www-form-urlencoded\r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_LENGTH, .cl = 5, .flags = F_KA},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_LENGTH, .cl = 0, .flags = F_KA},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 007\r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_LENGTH, .cl = 7, .flags = F_KA},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length:  4611686018427387903 \r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_LENGTH, .cl = 4611686018427387903ULL, .flags = F_KA},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_CHUNKED, .flags = F_KA},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_CHUNKED, .flags = F_KA},
	/* OWS after the colon may be HTAB, and trailing OWS is trimmed */
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding:\tchunked \t\r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_CHUNKED, .flags = F_KA},
	{R("PUT http://a.example/up HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-Continue\r\n\r\n"),
	 .form = ABS, .body = HTTP_BODY_LENGTH, .cl = 10, .flags = F_KA | F_EXPECT},
	{R("GET http://a.example/chat HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, Upgrade\r\n"
	   "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	   "Sec-WebSocket-Version: 13\r\n\r\n"),
	 .form = ABS, .flags = F_KA | F_WS},
	{R("POST http://a.example/chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
	 .form = ABS, .flags = F_KA},
	{R("GET http://a.example/chat HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
	 .form = ABS},
	{R("GET http://a.example/chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), .form = ABS, .flags = F_KA},
	{R("GET http://a.example/chat HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"),
	 .form = ABS, .flags = F_KA},
	/* RFC 9112 2.2: empty lines before the request line are ignored */
	{R("\r\n\r\nGET http://a.example/ HTTP/1.1\r\n\r\n"), .form = ABS, .flags = F_KA},
	{R("GET http://a.example/ HTTP/1.1\r\nX-Empty:\r\nX-Tab: a\tb\r\nX-Text: caf\xc3\xa9\r\n\r\n"),
	 .form = ABS, .flags = F_KA},
	/* browsers send some unsafe-but-printable characters unescaped */
	{R("GET http://a.example/s?q={a|b}^`\"<> HTTP/1.1\r\n\r\n"), .form = ABS, .flags = F_KA},
	{R("GET http://a.example/0123456789 HTTP/1.1\r\n\r\n"), .max_uri = 27,
	 .form = ABS, .flags = F_KA, .path = "/0123456789"},
	{R("GET http://www.youtube.com/watch?v=dQw4w9WgXcQ HTTP/1.1\r\n"
	   "Host: www.youtube.com\r\n"
	   "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
	   "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
	   "Accept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n"
	   "Connection: keep-alive\r\nCookie: PREF=f6=40000000&tz=Europe.London\r\n"
	   "Upgrade-Insecure-Requests: 1\r\nPriority: u=0, i\r\n\r\n"),
	 .form = ABS, .flags = F_KA, .host = "www.youtube.com", .port = 80, .path = "/watch?v=dQw4w9WgXcQ"},

	/* ---- framing: the smuggling classics ---- */
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
	/* a Connection option naming a framing field: forwarded as a hop would
	 * strip it, the body would become a second request (smuggling) */
	{R("POST http://a.example/allowed HTTP/1.1\r\nConnection: Content-Length\r\n"
	   "Content-Length: 51\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nConnection: close, content-length\r\n"
	   "Content-Length: 5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	   "Connection: Transfer-Encoding\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nConnection: keep-alive\r\nConnection: CONTENT-LENGTH\r\n\r\n"),
	 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 5.0\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 4611686018427387904\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nContent-Length : 5\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\n Transfer-Encoding: chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nX: y\r\n\tTransfer-Encoding: chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\x0b\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"), 501},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"), 501},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"), 501},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 501},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501},
	{R("POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: gzip;level=9, chunked\r\n\r\n"), 501},
	{R("CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 400},
	{R("CONNECT a.example:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},

	/* ---- line endings and characters ---- */
	{R("GET http://a.example/ HTTP/1.1\nHost: a.example\n\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nHost: a.example\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX:\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX\r: a\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\r\n\r\n"), 400},
	{R("GET http://a.example/\r HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX: a\0b\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX: a\x7f\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX: a\x01\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX-Long-Value: 0123456789abcdef\x1b" "0123456789\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX Y: z\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX@Y: z\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\n: z\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nNoColon\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX: y\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nX: y\r\n"), 400},
	{R(""), 400},
	{R("\r\n"), 400},

	/* ---- request line ---- */
	{R("GET  http://a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/  HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1 \r\n\r\n"), 400},
	{R(" GET http://a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET\thttp://a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/\tHTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/a b HTTP/1.1\r\n\r\n"), 400},
	{R("G(T http://a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/\x80 HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/\x01 HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/x\x7f HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.x\r\n\r\n"), 400},
	{R("GET http://a.example/ http/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/11\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1.1\r\n\r\n"), 400},
	{R("GET http://a.example/\r\n\r\n"), 400},
	{R("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/2.0\r\n\r\n"), 505},
	{R("GET http://a.example/ HTTP/1.2\r\n\r\n"), 505},
	{R("GET http://a.example/ HTTP/0.9\r\n\r\n"), 505},
	{R("GET http://a.example/ HTTP/3.0\r\n\r\n"), 505},
	{R("GET http://a.example/0123456789x HTTP/1.1\r\n\r\n"), 414, .max_uri = 27},

	/* ---- targets ---- */
	{R("GET https://a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET ftp://a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http:/a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET a.example:80 HTTP/1.1\r\n\r\n"), 400},
	{R("GET a.example/x HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://user:pw@a.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example@evil.example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example/#frag HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example?x=1 HTTP/1.1\r\n\r\n"), 400},
	{R("GET http:///path HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example:/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example:0/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a.example:99999/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a..example/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://a%2eexample/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET http://::1/ HTTP/1.1\r\n\r\n"), 400},
	{R("GET * HTTP/1.1\r\nHost: a.example\r\n\r\n"), 400},
	{R("CONNECT a.example HTTP/1.1\r\n\r\n"), 400},
	{R("CONNECT a.example:443/ HTTP/1.1\r\n\r\n"), 400},
	{R("CONNECT http://a.example:443/ HTTP/1.1\r\n\r\n"), 400},
	{R("CONNECT / HTTP/1.1\r\nHost: a.example\r\n\r\n"), 400},
	{R("CONNECT user@a.example:443 HTTP/1.1\r\n\r\n"), 400},
	{R("CONNECT [::1 HTTP/1.1\r\n\r\n"), 400},
	{R("connect a.example:443 HTTP/1.1\r\n\r\n"), 400},

	/* ---- Host ---- */
	{R("GET / HTTP/1.1\r\n\r\n"), 400},
	{R("GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n"), 400},
	{R("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n"), 400},
	{R("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400},
	{R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400},
	{R("GET / HTTP/1.1\r\nHost: user@a.example\r\n\r\n"), 400},
	{R("OPTIONS * HTTP/1.1\r\n\r\n"), 400},
};

static void check_request(const struct req_case *c)
{
	static struct http_request req;
	size_t max_uri = c->max_uri ? c->max_uri : 8192;
	int rc = http_parse_request(c->raw, c->len, max_uri, &req);

	ck_assert_msg(rc == c->status, "%.*s\n=> %d, want %d", (int)c->len, c->raw, rc, c->status);
	if (rc != 0)
		return;
	/* a valid head is exactly what http_head_length finds */
	ck_assert_uint_eq(http_head_length(c->raw, c->len), c->len);
	ck_assert_msg(req.form == c->form, "%s: form %d", c->raw, req.form);
	ck_assert_msg(req.body == c->body, "%s: body %d", c->raw, req.body);
	ck_assert_uint_eq(req.content_length, c->cl);
	ck_assert_msg(req.keep_alive == !!(c->flags & F_KA), "%s: keep_alive", c->raw);
	ck_assert_msg(req.expect_continue == !!(c->flags & F_EXPECT), "%s: expect", c->raw);
	ck_assert_msg(req.upgrade_websocket == !!(c->flags & F_WS), "%s: websocket", c->raw);
	ck_assert_msg(req.is_head == !!(c->flags & F_HEAD), "%s: is_head", c->raw);
	ck_assert_msg(req.is_connect == !!(c->flags & F_CONNECT), "%s: is_connect", c->raw);
	if (c->host)
		ck_assert_str_eq(req.host, c->host);
	if (c->port)
		ck_assert_uint_eq(req.port, c->port);
	if (c->path) {
		ck_assert_uint_eq(req.path_len, strlen(c->path));
		ck_assert(memcmp(req.path, c->path, req.path_len) == 0);
	}
	if (req.form == HTTP_FORM_AUTHORITY || req.form == HTTP_FORM_ABSOLUTE)
		ck_assert_int_ne(req.host_kind, HOST_INVALID);
}

START_TEST(test_request_table)
{
	check_request(&req_cases[_i]);
}
END_TEST

/* RFC 9112 3.2.4: "OPTIONS http://h" (no path) reaches the origin as "OPTIONS *" */
START_TEST(test_request_options_asterisk)
{
	static const struct {
		const char *raw;
		bool asterisk;
	} cases[] = {
		{"OPTIONS http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
		{"OPTIONS http://a.example:8080 HTTP/1.1\r\nHost: a.example\r\n\r\n", true},
		{"OPTIONS http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"OPTIONS http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
		{"OPTIONSX http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", false},
	};
	static struct http_request req;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(http_parse_request(cases[i].raw, strlen(cases[i].raw), 0, &req), 0);
		ck_assert_msg(req.options_asterisk == cases[i].asterisk, "case %zu", i);
		ck_assert_uint_ge(req.path_len, 1);
		ck_assert_int_eq(req.path[0], '/');
	}
}
END_TEST

START_TEST(test_request_fields)
{
	static struct http_request req;
	const char raw[] = "POST http://a.example/p HTTP/1.1\r\nHost:  a.example \r\n"
			   "X-Tab:\t v \t\r\nContent-Length: 3\r\nx-empty:\r\n\r\n";

	ck_assert_int_eq(http_parse_request(raw, sizeof(raw) - 1, 0, &req), 0);
	ck_assert_uint_eq(req.n_headers, 4);
	ck_assert_uint_eq(req.method_len, 4);
	ck_assert(memcmp(req.method, "POST", 4) == 0);
	ck_assert_uint_eq(req.target_len, strlen("http://a.example/p"));
	ck_assert_int_eq(req.version_minor, 1);
	ck_assert_uint_eq(req.headers[0].value_len, 9);
	ck_assert(memcmp(req.headers[0].value, "a.example", 9) == 0);
	ck_assert_uint_eq(req.headers[1].value_len, 1);
	ck_assert_int_eq(req.headers[1].value[0], 'v');
	ck_assert_uint_eq(req.headers[3].value_len, 0);
	const struct http_header *h = http_find_header(req.headers, req.n_headers, "CONTENT-length");
	ck_assert_ptr_nonnull(h);
	ck_assert(memcmp(h->value, "3", 1) == 0);
	ck_assert_ptr_null(http_find_header(req.headers, req.n_headers, "Content"));
	ck_assert_ptr_nonnull(http_find_header(req.headers, req.n_headers, "X-EMPTY"));
}
END_TEST

/* Build a request with n "X-Hn: v" fields. */
static size_t many_fields(char *buf, size_t cap, unsigned n)
{
	size_t len = (size_t)snprintf(buf, cap, "GET http://a.example/ HTTP/1.1\r\n");
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "X-H%u: v\r\n", i);
	len += (size_t)snprintf(buf + len, cap - len, "\r\n");
	return len;
}

START_TEST(test_request_field_limit)
{
	static char buf[8192];
	static struct http_request req;
	size_t len = many_fields(buf, sizeof(buf), HTTP_MAX_HEADERS);

	ck_assert_int_eq(http_parse_request(buf, len, 0, &req), 0);
	ck_assert_uint_eq(req.n_headers, HTTP_MAX_HEADERS);
	len = many_fields(buf, sizeof(buf), HTTP_MAX_HEADERS + 1);
	ck_assert_int_eq(http_parse_request(buf, len, 0, &req), 431);
}
END_TEST

START_TEST(test_request_long_target)
{
	static char buf[20000];
	static struct http_request req;
	size_t len = (size_t)snprintf(buf, sizeof(buf), "GET http://a.example/");
	memset(buf + len, 'a', 9000);
	len += 9000;
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(http_parse_request(buf, len, 8192, &req), 414);
	ck_assert_int_eq(http_parse_request(buf, len, 0, &req), 0);
	ck_assert_uint_eq(req.path_len, 9001);
}
END_TEST

START_TEST(test_head_length)
{
	ck_assert_uint_eq(http_head_length("", 0), 0);
	ck_assert_uint_eq(http_head_length("GET / HTTP/1.0\r\n", 16), 0);
	ck_assert_uint_eq(http_head_length("GET / HTTP/1.0\r\n\r\n", 18), 18);
	ck_assert_uint_eq(http_head_length("GET / HTTP/1.0\r\n\r\nbody", 22), 18);
	ck_assert_uint_eq(http_head_length("GET / HTTP/1.0\r\n\r", 17), 0);
	ck_assert_uint_eq(http_head_length("GET / HTTP/1.0\n\n", 16), 0);
	ck_assert_uint_eq(http_head_length("\r\n\r\n", 4), 0);
	ck_assert_uint_eq(http_head_length("\r\n\r\nGET / HTTP/1.0\r\n\r\n", 22), 22);
	ck_assert_uint_eq(http_head_length("\r\nGET / HTTP/1.0\r\nA: b\r\n\r\nX", 27), 26);
}
END_TEST

/* Incremental scan: the same answer as http_head_length on every prefix,
 * however the bytes arrive. */
static void check_scan_steps(const char *raw, size_t len)
{
	static const size_t steps[] = {1, 2, 3, 5, 7, 64};

	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct http_head_scan s = {0, 0};
		size_t got = 0;
		for (size_t n = 0; n <= len; n = n == len ? len + 1 : (n + steps[k] > len ? len : n + steps[k])) {
			size_t want = http_head_length(raw, n);
			got = http_head_scan(&s, raw, n);
			ck_assert_msg(got == want, "%.*s: prefix %zu step %zu => %zu, want %zu",
				      (int)len, raw, n, steps[k], got, want);
			if (got)
				break;
		}
	}
}

/* Random heads over a CR/LF-heavy alphabet, fed in random steps. */
START_TEST(test_head_scan_random)
{
	static const char alphabet[] = "\r\n\r\nA: ";
	uint32_t seed = 12345;
	char buf[96];

	for (int round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		size_t len = (seed >> 16) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		struct http_head_scan s = {0, 0};
		size_t n = 0;
		for (;;) {
			size_t want = http_head_length(buf, n);
			size_t got = http_head_scan(&s, buf, n);
			ck_assert_msg(got == want, "round %d prefix %zu: %zu, want %zu", round, n, got, want);
			if (got || n == len)
				break;
			seed = seed * 1103515245u + 12345u;
			n += 1 + (seed >> 16) % 5;
			if (n > len)
				n = len;
		}
	}
}
END_TEST

START_TEST(test_head_scan_table)
{
	check_scan_steps(req_cases[_i].raw, req_cases[_i].len);
}
END_TEST

START_TEST(test_head_scan)
{
	static const char *const extra[] = {
		"", "\r", "\r\n", "\r\n\r", "\r\n\r\n", "\r\n\r\n\r\n\r", "\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"\r\nGET / HTTP/1.0\r\nA: b\r\n\r\nX", "GET / HTTP/1.0\n\n\r\n\r\n", "\rX\r\n\r\n",
		"\r\r\n\r\n", "\n\r\n\r\n", "GET / HTTP/1.0\r\n\r\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\nbody",
	};
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		check_scan_steps(extra[i], strlen(extra[i]));

	/* it really is incremental: bytes already looked at are not read again
	 * (an end of head planted there afterwards is not found), only the new
	 * ones and the three before them */
	static char buf[32768];
	size_t len = 0;
	len += (size_t)snprintf(buf, sizeof(buf), "GET http://a.example/ HTTP/1.1\r\n");
	while (len + 8 < 30000)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "A: b\r\n");
	struct http_head_scan s = {0, 0};
	ck_assert_uint_eq(http_head_scan(&s, buf, len), 0);
	ck_assert_uint_eq(s.scanned, len);
	memcpy(buf + 100, "\r\n\r\n", 4);
	ck_assert_uint_eq(http_head_length(buf, len), 104);
	ck_assert_uint_eq(http_head_scan(&s, buf, len), 0);
	/* a CRLFCRLF split across two reads: "\r\n" (already looked at) + "\r\n" */
	memcpy(buf + len, "\r\n", 2);
	ck_assert_uint_eq(http_head_scan(&s, buf, len + 2), len + 2);
	/* a shorter buffer than last time restarts the scan */
	ck_assert_uint_eq(http_head_scan(&s, buf, 50), 0);
	ck_assert_uint_eq(http_head_scan(&s, buf, 200), 104);
}
END_TEST

/* ---- responses ---- */

struct resp_case {
	const char *raw;
	size_t len;
	int rc;
	bool head;                      /* request_was_head */
	int status;
	enum http_body body;
	uint64_t cl;
	bool keep_alive, upgrade;
};

static const struct resp_case resp_cases[] = {
	{R("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n"),
	 .status = 200, .body = HTTP_BODY_LENGTH, .cl = 12, .keep_alive = true},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	 .status = 200, .body = HTTP_BODY_CHUNKED, .keep_alive = true},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
	 .status = 200, .body = HTTP_BODY_CHUNKED, .keep_alive = true},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n"),
	 .status = 200, .body = HTTP_BODY_CHUNKED, .keep_alive = true},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
	 .status = 200, .body = HTTP_BODY_CLOSE},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), .status = 200, .body = HTTP_BODY_CLOSE},
	{R("HTTP/1.1 200 OK\r\n\r\n"), .status = 200, .body = HTTP_BODY_CLOSE},
	{R("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"), .head = true,
	 .status = 200, .body = HTTP_BODY_NONE, .keep_alive = true},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .head = true,
	 .status = 200, .body = HTTP_BODY_NONE, .keep_alive = true},
	{R("HTTP/1.1 204 No Content\r\n\r\n"), .status = 204, .keep_alive = true},
	{R("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: \"x\"\r\n\r\n"),
	 .status = 304, .keep_alive = true},
	{R("HTTP/1.1 100 Continue\r\n\r\n"), .status = 100, .keep_alive = true},
	{R("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"),
	 .status = 103, .keep_alive = true},
	{R("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
	 .status = 101, .upgrade = true},
	{R("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
	 .status = 404, .body = HTTP_BODY_LENGTH},
	{R("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n"), .status = 200, .body = HTTP_BODY_LENGTH, .cl = 3},
	{R("HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"),
	 .status = 200, .body = HTTP_BODY_LENGTH, .cl = 3, .keep_alive = true},
	{R("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"),
	 .status = 200, .body = HTTP_BODY_CLOSE},
	{R("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n"), .status = 200, .body = HTTP_BODY_LENGTH, .cl = 1,
	 .keep_alive = true},
	{R("HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n"), .status = 200, .body = HTTP_BODY_LENGTH, .cl = 1,
	 .keep_alive = true},
	{R("HTTP/1.1 999 Whatever \xe2\x9c\x93\tok\r\nContent-Length: 1\r\n\r\n"),
	 .status = 999, .body = HTTP_BODY_LENGTH, .cl = 1, .keep_alive = true},
	{R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"), -1},
	{R("HTTP/1.1 304 Not Modified\r\nConnection: content-length\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"), -1},
	{R("HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), -1},
	{R("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), -1},
	{R("HTTP/1.1 200 O\x01K\r\n\r\n"), -1},
	{R("HTTP/1.1 20 OK\r\n\r\n"), -1},
	{R("HTTP/1.1 2000 OK\r\n\r\n"), -1},
	{R("HTTP/1.1 099 OK\r\n\r\n"), -1},
	{R("HTTP/1.1 abc OK\r\n\r\n"), -1},
	{R("HTTP/1.1200 OK\r\n\r\n"), -1},
	{R("HTTP/1.1  200 OK\r\n\r\n"), -1},
	{R("HTTP/1.2 200 OK\r\n\r\n"), -1},
	{R("HTTP/2 200 OK\r\n\r\n"), -1},
	{R("ICY 200 OK\r\n\r\n"), -1},
	{R("HTTP/1.1 200 OK\r\n"), -1},
	{R(""), -1},
};

START_TEST(test_response_table)
{
	static struct http_response resp;
	const struct resp_case *c = &resp_cases[_i];
	int rc = http_parse_response(c->raw, c->len, c->head, &resp);

	ck_assert_msg(rc == c->rc, "%.*s\n=> %d, want %d", (int)c->len, c->raw, rc, c->rc);
	if (rc != 0)
		return;
	ck_assert_int_eq(resp.status, c->status);
	ck_assert_msg(resp.body == c->body, "%s: body %d, want %d", c->raw, resp.body, c->body);
	ck_assert_uint_eq(resp.content_length, c->cl);
	ck_assert_msg(resp.keep_alive == c->keep_alive, "%s: keep_alive", c->raw);
	ck_assert_msg(resp.upgrade == c->upgrade, "%s: upgrade", c->raw);
}
END_TEST

START_TEST(test_response_fields)
{
	static struct http_response resp;
	const char raw[] = "HTTP/1.1 301 Moved Permanently\r\nLocation: http://b.example/\r\n"
			   "Content-Length: 0\r\n\r\n";

	ck_assert_int_eq(http_parse_response(raw, sizeof(raw) - 1, false, &resp), 0);
	ck_assert_int_eq(resp.version_minor, 1);
	ck_assert_uint_eq(resp.reason_len, strlen("Moved Permanently"));
	ck_assert(memcmp(resp.reason, "Moved Permanently", resp.reason_len) == 0);
	ck_assert_uint_eq(resp.n_headers, 2);
	ck_assert(http_find_header(resp.headers, resp.n_headers, "location") == &resp.headers[0]);
}
END_TEST

/* ---- tokens and hop-by-hop ---- */

static struct http_header hdr(const char *name, const char *value)
{
	struct http_header h = {name, strlen(name), value, strlen(value)};
	return h;
}

START_TEST(test_tokens)
{
	ck_assert(http_value_has_token("close", 5, "close"));
	ck_assert(http_value_has_token("Keep-Alive, Upgrade", 19, "upgrade"));
	ck_assert(http_value_has_token("a ,\tb\t, c", 9, "b"));
	ck_assert(!http_value_has_token("closed", 6, "close"));
	ck_assert(!http_value_has_token("x-close", 7, "close"));
	ck_assert(!http_value_has_token("", 0, "close"));
	ck_assert(!http_value_has_token("a,,b", 4, "c"));
	/* only the first len bytes count */
	ck_assert(!http_value_has_token("closeXYZ", 4, "close"));
}
END_TEST

START_TEST(test_hop_by_hop)
{
	struct http_header all[] = {
		hdr("Connection", "keep-alive, X-Secret"),
		hdr("X-Secret", "1"),
		hdr("Keep-Alive", "timeout=5"),
		hdr("Proxy-Authorization", "Basic dTpw"),
		hdr("TE", "trailers"),
		hdr("Transfer-Encoding", "chunked"),
		hdr("Upgrade", "websocket"),
		hdr("Proxy-Connection", "keep-alive"),
		hdr("Trailer", "Expires"),
		hdr("Proxy-Authenticate", "Basic"),
		hdr("Host", "a.example"),
		hdr("Cookie", "a=b"),
		hdr("Connection", "x-other"),
		hdr("X-Other", "2"),
		hdr("X-Secret-Not", "3"),
	};
	size_t n = sizeof(all) / sizeof(all[0]);
	for (size_t i = 0; i < n; i++) {
		bool want = i < 10 || i == 12 || i == 13;
		ck_assert_msg(http_is_hop_by_hop(&all[i], all, n) == want, "%s", all[i].name);
	}
	/* without the Connection fields, X-Secret is end-to-end */
	ck_assert(!http_is_hop_by_hop(&all[1], all + 1, n - 1 - 3));
	/* the mask the proxy uses is the same rule */
	bool hop[sizeof(all) / sizeof(all[0])];
	http_hop_mask(all, n, hop);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(hop[i] == http_is_hop_by_hop(&all[i], all, n), "%s", all[i].name);
}
END_TEST

/* Framing fields are never removed by a Connection option, whatever the
 * parser let through; options in any Connection field count, long names too. */
START_TEST(test_hop_by_hop_framing)
{
	static const char long_name[] = "X-A-Field-Name-Longer-Than-Sixty-Four-Bytes-Which-Some-Code-Skipped";
	struct http_header all[] = {
		hdr("Connection", "Content-Length, Host"),
		hdr("Content-Length", "51"),
		hdr("Host", "a.example"),
		hdr("Connection", "a"), hdr("Connection", "b"), hdr("Connection", "c"),
		hdr("Connection", "d"), hdr("Connection", "e"), hdr("Connection", "f"),
		hdr("Connection", "g"),
		hdr("Connection", long_name),
		hdr(long_name, "1"),
		hdr("G", "1"),
		hdr("Transfer-Encoding", "chunked"),
	};
	size_t n = sizeof(all) / sizeof(all[0]);
	bool hop[sizeof(all) / sizeof(all[0])];
	http_hop_mask(all, n, hop);
	for (size_t i = 0; i < n; i++) {
		bool want = !(i == 1 || i == 2);
		ck_assert_msg(http_is_hop_by_hop(&all[i], all, n) == want, "%zu %s", i, all[i].name);
		ck_assert_msg(hop[i] == want, "mask %zu %s", i, all[i].name);
	}
}
END_TEST

/* A bare LF is flagged as soon as it is seen, so the proxy answers 400 at
 * once instead of waiting for a CRLFCRLF that never comes. */
START_TEST(test_head_scan_bare_lf)
{
	static const char lf[] = "GET http://a.example/ HTTP/1.1\nHost: a.example\n\n";
	static const char crlf[] = "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n";
	struct http_head_scan s = {0};

	ck_assert_uint_eq(http_head_scan(&s, lf, sizeof(lf) - 1), 0);
	ck_assert(s.bare_lf);
	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(http_head_scan(&s, crlf, sizeof(crlf) - 1), 0);
	ck_assert(!s.bare_lf);
	/* fed in steps: the flag comes with the byte */
	memset(&s, 0, sizeof(s));
	for (size_t i = 1; i <= sizeof(lf) - 1; i++) {
		http_head_scan(&s, lf, i);
		ck_assert(s.bare_lf == (i > 30));
	}
}
END_TEST

/* ---- chunked ---- */

struct chunk_case {
	const char *raw;
	size_t len;
	enum chunk_result res;
	size_t consumed;                /* DONE: bytes of the body; (size_t)-1: all */
	uint64_t data;
};

#define ALL ((size_t)-1)

static const struct chunk_case chunk_cases[] = {
	{R("5\r\nhello\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 5},
	{R("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), CHUNK_DONE, 15, 5},
	{R("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 5},
	{R("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 20},
	{R("0005\r\nhello\r\n000\r\n\r\n"), CHUNK_DONE, ALL, 5},
	{R("0\r\n\r\n"), CHUNK_DONE, ALL, 0},
	{R("5;name=value\r\nhello\r\n0;last\r\n\r\n"), CHUNK_DONE, ALL, 5},
	{R("5;a=\"q;x\\\"y\";b\r\nhello\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 5},
	/* BWS before ';' is in RFC 9112's grammar: accepted */
	{R("5 ;ext\r\nhello\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 5},
	{R("5\t \t;ext\r\nhello\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 5},
	{R("5\r\nhello\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum:\tabc \r\n\r\n"),
	 CHUNK_DONE, ALL, 5},
	{R("5\r\nhel"), CHUNK_MORE, ALL, 3},
	{R("5\r\nhello\r\n0\r\n\r"), CHUNK_MORE, ALL, 5},
	{R("5\r\nhello\r\n0\r\nX: y\r\n"), CHUNK_MORE, ALL, 5},
	{R("3fffffffffffffff\r\nabc"), CHUNK_MORE, ALL, 3},
	{R("5\r\nhe\r\no\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 5},  /* CRLF inside data is data */
	/* sizes */
	{R("0x5\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 1},
	{R("-1\r\n"), CHUNK_ERROR, 0},
	{R("+5\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 0},
	{R(" 5\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 0},
	{R("\t5\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 0},
	{R("5 \r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 2},
	{R("5 6\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 2},
	{R("\r\nhello\r\n"), CHUNK_ERROR, 0},
	{R("g\r\n"), CHUNK_ERROR, 0},
	{R("5g\r\n"), CHUNK_ERROR, 1},
	{R("4000000000000000\r\n"), CHUNK_ERROR, 15},
	{R("ffffffffffffffffff\r\n"), CHUNK_ERROR, 15},
	{R("00000000000000000000000000000005\r\nhello\r\n0\r\n\r\n"), CHUNK_DONE, ALL, 5},
	/* line endings and data */
	{R("5\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 1},
	{R("5\r\rhello\r\n"), CHUNK_ERROR, 2},
	{R("5\r\nhelloX\r\n0\r\n\r\n"), CHUNK_ERROR, 8},
	{R("5\r\nhello\n0\r\n\r\n"), CHUNK_ERROR, 8},
	{R("5\r\nhello\r0\r\n\r\n"), CHUNK_ERROR, 9},
	{R("5\r\nhello\r\n0\r\n\n"), CHUNK_ERROR, 13},
	{R("5\r\nhello\r\n0\r\n\rX"), CHUNK_ERROR, 14},
	{R("5\r\nhello\r\n0\n\r\n"), CHUNK_ERROR, 11},
	{R("3\r\nabc\r\n2\r\nde\r\n0\r\n"), CHUNK_MORE, ALL, 5},
	/* extensions */
	{R("5;a\0b\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 3},
	{R("5;a\nb\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 3},
	{R("5;a\rb\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 4},
	{R("5;a\x7f\r\nhello\r\n0\r\n\r\n"), CHUNK_ERROR, 3},
	/* trailers */
	{R("0\r\nA: b\r\n c\r\n\r\n"), CHUNK_ERROR, 9},
	{R("0\r\n\tA: b\r\n\r\n"), CHUNK_ERROR, 3},
	{R("0\r\nA : b\r\n\r\n"), CHUNK_ERROR, 4},
	{R("0\r\nAbc\r\n\r\n"), CHUNK_ERROR, 6},
	{R("0\r\n: b\r\n\r\n"), CHUNK_ERROR, 3},
	{R("0\r\nA: b\n\r\n"), CHUNK_ERROR, 7},
	{R("0\r\nA: b\0\r\n\r\n"), CHUNK_ERROR, 7},
	{R("0\r\nA: b\rc\r\n\r\n"), CHUNK_ERROR, 8},
};

struct chunk_outcome {
	enum chunk_result res;
	size_t consumed;
	uint64_t data;
};

/* Feed raw[0..len) in pieces ending at each cut, as a reader would. */
static struct chunk_outcome feed_cuts(const char *raw, size_t len, const size_t *cuts, size_t n_cuts)
{
	struct chunk_decoder d;
	struct chunk_outcome o = {CHUNK_MORE, 0, 0};
	size_t off = 0;

	chunk_decoder_init(&d);
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t to = i < n_cuts ? cuts[i] : len; /* cppcheck-suppress nullPointer ; cuts is NULL only when n_cuts is 0 */
		size_t used = 0;
		o.res = chunk_decoder_feed(&d, raw + off, to - off, &used);
		ck_assert_uint_le(used, to - off);
		if (o.res != CHUNK_MORE) {
			o.consumed = off + used;
			break;
		}
		ck_assert_uint_eq(used, to - off);
		off = to;
		o.consumed = off;
	}
	o.data = d.data_bytes;
	return o;
}

static void check_split_invariance(const char *raw, size_t len)
{
	struct chunk_outcome whole = feed_cuts(raw, len, NULL, 0);

	/* one cut at every position */
	for (size_t cut = 0; cut <= len; cut++) {
		struct chunk_outcome o = feed_cuts(raw, len, &cut, 1);
		ck_assert_msg(o.res == whole.res && o.consumed == whole.consumed && o.data == whole.data,
			      "cut at %zu: %d/%zu/%llu vs %d/%zu/%llu", cut, o.res, o.consumed,
			      (unsigned long long)o.data, whole.res, whole.consumed,
			      (unsigned long long)whole.data);
	}
	/* one byte at a time */
	static size_t cuts[8192];
	ck_assert_uint_le(len, 8192);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	struct chunk_outcome o = feed_cuts(raw, len, cuts, len ? len - 1 : 0);
	ck_assert(o.res == whole.res && o.consumed == whole.consumed && o.data == whole.data);
}

START_TEST(test_chunk_table)
{
	const struct chunk_case *c = &chunk_cases[_i];
	struct chunk_outcome o = feed_cuts(c->raw, c->len, NULL, 0);
	size_t want = c->consumed == ALL ? c->len : c->consumed;

	ck_assert_msg(o.res == c->res, "%s: result %d, want %d", c->raw, o.res, c->res);
	ck_assert_msg(o.consumed == want, "%s: consumed %zu, want %zu", c->raw, o.consumed, want);
	if (c->res != CHUNK_ERROR)
		ck_assert_uint_eq(o.data, c->data);
	check_split_invariance(c->raw, c->len);
}
END_TEST

START_TEST(test_chunk_after_end)
{
	struct chunk_decoder d;
	size_t used = 99;

	chunk_decoder_init(&d);
	ck_assert_int_eq(chunk_decoder_feed(&d, "0\r\n\r\nX", 6, &used), CHUNK_DONE);
	ck_assert_uint_eq(used, 5);
	ck_assert_int_eq(chunk_decoder_feed(&d, "X", 1, &used), CHUNK_DONE);
	ck_assert_uint_eq(used, 0);
	chunk_decoder_init(&d);
	ck_assert_int_eq(chunk_decoder_feed(&d, "z", 1, &used), CHUNK_ERROR);
	ck_assert_int_eq(chunk_decoder_feed(&d, "0\r\n\r\n", 5, &used), CHUNK_ERROR);
	ck_assert_uint_eq(used, 0);
	/* an empty feed changes nothing */
	chunk_decoder_init(&d);
	ck_assert_int_eq(chunk_decoder_feed(&d, "", 0, &used), CHUNK_MORE);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_chunk_limits)
{
	static char buf[8192];
	size_t len;

	/* a size line of 4096 bytes is fine, 4097 is not */
	buf[0] = '1';
	buf[1] = ';';
	memset(buf + 2, 'e', 4094);
	memcpy(buf + 4096, "\r\nx\r\n0\r\n\r\n", 10);
	len = 4106;
	struct chunk_outcome o = feed_cuts(buf, len, NULL, 0);
	ck_assert_int_eq(o.res, CHUNK_DONE);
	memset(buf + 2, 'e', 4095);
	memcpy(buf + 4097, "\r\nx\r\n0\r\n\r\n", 10);
	o = feed_cuts(buf, len + 1, NULL, 0);
	ck_assert_int_eq(o.res, CHUNK_ERROR);

	/* 64 trailer fields are fine, 65 are not */
	for (unsigned n = 64; n <= 65; n++) {
		len = (size_t)snprintf(buf, sizeof(buf), "0\r\n");
		for (unsigned i = 0; i < n; i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "T%u: v\r\n", i);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
		o = feed_cuts(buf, len, NULL, 0);
		ck_assert_int_eq(o.res, n == 64 ? CHUNK_DONE : CHUNK_ERROR);
	}

	/* a trailer line over 4096 bytes */
	len = (size_t)snprintf(buf, sizeof(buf), "0\r\nX: ");
	memset(buf + len, 'v', 4200);
	len += 4200;
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n\r\n");
	ck_assert_int_eq(feed_cuts(buf, len, NULL, 0).res, CHUNK_ERROR);
}
END_TEST

/* A realistic body: many chunks of varied sizes, extensions, trailers. */
START_TEST(test_chunk_every_split)
{
	static char buf[4096];
	size_t len = 0;
	uint64_t data = 0;
	unsigned seed = 12345;

	for (int i = 0; i < 12; i++) {
		seed = seed * 1103515245 + 12345;
		unsigned sz = (seed >> 16) % 40 + 1;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, i % 3 ? "%x\r\n" : "%X;i=%d\r\n", sz, i);
		for (unsigned k = 0; k < sz; k++)
			buf[len++] = (char)("\r\n0123456789abcdef"[(k + i) % 18]);
		buf[len++] = '\r';
		buf[len++] = '\n';
		data += sz;
	}
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "0\r\nX-Checksum: 42\r\n\r\nNEXT");
	struct chunk_outcome whole = feed_cuts(buf, len, NULL, 0);
	ck_assert_int_eq(whole.res, CHUNK_DONE);
	ck_assert_uint_eq(whole.consumed, len - 4);
	ck_assert_uint_eq(whole.data, data);
	check_split_invariance(buf, len);

	/* every pair of cuts, too */
	for (size_t a = 0; a <= len; a += 3)
		for (size_t b = a; b <= len; b += 5) {
			size_t cuts[2] = {a, b};
			struct chunk_outcome o = feed_cuts(buf, len, cuts, 2);
			ck_assert(o.res == whole.res && o.consumed == whole.consumed && o.data == whole.data);
		}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_head");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_request_table, 0, (int)(sizeof(req_cases) / sizeof(req_cases[0])));
	tcase_add_test(tc, test_request_fields);
	tcase_add_test(tc, test_request_options_asterisk);
	tcase_add_test(tc, test_request_field_limit);
	tcase_add_test(tc, test_request_long_target);
	tcase_add_test(tc, test_head_length);
	tcase_add_loop_test(tc, test_head_scan_table, 0, (int)(sizeof(req_cases) / sizeof(req_cases[0])));
	tcase_add_test(tc, test_head_scan);
	tcase_add_test(tc, test_head_scan_random);
	tcase_add_loop_test(tc, test_response_table, 0, (int)(sizeof(resp_cases) / sizeof(resp_cases[0])));
	tcase_add_test(tc, test_response_fields);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_hop_by_hop);
	tcase_add_test(tc, test_hop_by_hop_framing);
	tcase_add_test(tc, test_head_scan_bare_lf);
	tcase_add_loop_test(tc, test_chunk_table, 0, (int)(sizeof(chunk_cases) / sizeof(chunk_cases[0])));
	tcase_add_test(tc, test_chunk_after_end);
	tcase_add_test(tc, test_chunk_limits);
	tcase_add_test(tc, test_chunk_every_split);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
