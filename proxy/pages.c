/*
 * pages: the responses breaktimed writes itself — errors (400, 403, 408,
 * 414, 431, 502, 504, ...) and its small status page. Plain HTML with no
 * external assets; every page says what happened in words a member of
 * staff understands. Nothing from the request is echoed unescaped.
 *
 * Runs on the loop thread; appends to an evbuffer; never blocks.
 */
#include "proxy.h"

#include <stdio.h>
#include <string.h>

const char *pages_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 508: return "Loop Detected";
	default: return "Error";
	}
}

static void html_escape(char *out, size_t outlen, const char *in)
{
	size_t o = 0;
	for (; *in && o + 7 < outlen; in++) {
		switch (*in) {
		case '<': memcpy(out + o, "&lt;", 4); o += 4; break;
		case '>': memcpy(out + o, "&gt;", 4); o += 4; break;
		case '&': memcpy(out + o, "&amp;", 5); o += 5; break;
		case '"': memcpy(out + o, "&quot;", 6); o += 6; break;
		default: out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static const char style[] =
	"<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;"
	"padding:0 1em;color:#222}h1{font-size:1.4em}small{color:#666}</style>";

void pages_error(struct evbuffer *out, const struct conf *conf, int status,
		 const char *title, const char *detail, bool keep_alive)
{
	char body[2048], esc[1024];

	html_escape(esc, sizeof(esc), detail ? detail : "");
	int n = snprintf(body, sizeof(body),
			 "<!doctype html><html><head><meta charset=\"utf-8\"><title>%d %s</title>%s"
			 "</head><body><h1>%d %s</h1><p>%s</p><hr><small>%s (breaktime)</small>"
			 "</body></html>\n",
			 status, title, style, status, title, esc, conf->proxy.visible_hostname);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(body);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\n"
			    "Content-Type: text/html; charset=utf-8\r\n"
			    "Content-Length: %d\r\n"
			    "Cache-Control: no-store\r\n"
			    "X-Content-Type-Options: nosniff\r\n"
			    "Connection: %s\r\n\r\n",
			    status, pages_reason(status), n, keep_alive ? "keep-alive" : "close");
	evbuffer_add(out, body, (size_t)n);
}

void pages_status(struct evbuffer *out, const struct conf *conf, bool keep_alive, bool head_only)
{
	char body[2048];
	unsigned conns = __atomic_load_n(&server.connections, __ATOMIC_RELAXED);
	unsigned long long reqs = __atomic_load_n(&server.requests, __ATOMIC_RELAXED);

	int n = snprintf(body, sizeof(body),
			 "<!doctype html><html><head><meta charset=\"utf-8\"><title>breaktime</title>%s"
			 "</head><body><h1>breaktime proxy</h1>"
			 "<p>This is the organisation's web proxy (%s). Set it as your browser's "
			 "HTTP and HTTPS proxy to use it.</p>"
			 "<p><small>%u open connections, %llu requests since start.</small></p>"
			 "</body></html>\n",
			 style, conf->proxy.visible_hostname, conns, reqs);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(body);
	evbuffer_add_printf(out,
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/html; charset=utf-8\r\n"
			    "Content-Length: %d\r\n"
			    "Cache-Control: no-store\r\n"
			    "Connection: %s\r\n\r\n",
			    n, keep_alive ? "keep-alive" : "close");
	if (!head_only)
		evbuffer_add(out, body, (size_t)n);
}
