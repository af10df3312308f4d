/*
 * pages: the responses breaktimed writes itself — errors (400, 403, 408,
 * 414, 431, 502, 504, ...), the block page, the sign-in challenge and its
 * small status page. Plain HTML with no external assets; every page says
 * what happened in words a member of staff understands. Nothing from the
 * request is echoed unescaped: every page (these and pages_enforce.c's
 * status, warn and continue pages) escapes with pages_escape_html() and
 * leaves through pages_send_html(), one response head for all of them.
 * (The PAC script is pac.c's, /metrics metrics.c's.)
 *
 * Runs on the loop thread; appends to an evbuffer; never blocks.
 */
#include "proxy.h"

#include "htmlesc.h"

#include <stdio.h>
#include <string.h>

const char *pages_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
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

void pages_escape_html(struct evbuffer *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		size_t len;
		const char *rep = html_escape_byte((unsigned char)*s, &len);
		if (!rep)
			continue;
		evbuffer_add(b, run, (size_t)(s - run));
		evbuffer_add(b, rep, len);
		run = s + 1;
	}
	evbuffer_add(b, run, (size_t)(s - run));
}

void pages_send_html(struct evbuffer *out, int status, struct evbuffer *body, const char *extra,
		     bool keep_alive, bool head_only)
{
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\n"
			    "%s"
			    "Content-Type: text/html; charset=utf-8\r\n"
			    "Content-Length: %zu\r\n"
			    "Cache-Control: no-store\r\n"
			    "X-Content-Type-Options: nosniff\r\n"
			    "Connection: %s\r\n\r\n",
			    status, pages_reason(status), extra ? extra : "", evbuffer_get_length(body),
			    keep_alive ? "keep-alive" : "close");
	if (!head_only)
		evbuffer_add_buffer(out, body);
	else
		evbuffer_drain(body, evbuffer_get_length(body));
}

static const char style[] =
	"<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;"
	"padding:0 1em;color:#222}h1{font-size:1.4em}small{color:#666}</style>";

void pages_error(struct evbuffer *out, const struct conf *conf, int status,
		 const char *title, const char *detail, bool keep_alive)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%d ", status);
	pages_escape_html(b, title);
	evbuffer_add_printf(b, "</title>%s</head><body><h1>%d ", style, status);
	pages_escape_html(b, title);
	evbuffer_add_printf(b, "</h1><p>");
	pages_escape_html(b, detail ? detail : "");
	evbuffer_add_printf(b, "</p><hr><small>");
	pages_escape_html(b, conf->proxy.visible_hostname);
	evbuffer_add_printf(b, " (breaktime)</small></body></html>\n");
	pages_send_html(out, status, b, NULL, keep_alive, false);
	evbuffer_free(b);
}

static const char default_block[] =
	"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width\">"
	"<title>Not available now: {{platform}}</title>"
	"<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;"
	"color:#222}h1{font-size:1.5em}.why{font-size:1.1em}dl{display:grid;grid-template-columns:"
	"max-content 1fr;gap:.3em 1em}dt{color:#555}small{color:#666}</style></head><body>"
	"<h1>{{platform}} is not available right now</h1>"
	"<p class=\"why\">{{reason_text}}.</p>"
	"<dl><dt>Site</dt><dd>{{host}}</dd>"
	"<dt>Available again</dt><dd>{{until}}</dd>"
	"<dt>Allowance left today</dt><dd>{{allowance}}</dd></dl>"
	"<p>See your own usage and the rules in force on <a href=\"{{status_url}}\">your status "
	"page</a>.</p><hr><small>The organisation's social media policy ({{reason}}) - breaktime"
	"</small></body></html>\n";

static void escape_into(struct evbuffer *b, const char *v)
{
	pages_escape_html(b, v ? v : "");
}

void pages_block(struct evbuffer *out, const struct conf *conf, const struct block_info *bi,
		 bool keep_alive)
{
	const char *t = conf->proxy.block_page ? conf->proxy.block_page : default_block;
	struct evbuffer *b = evbuffer_new();
	char status_url[300];

	snprintf(status_url, sizeof(status_url), "http://%s/status", conf->proxy.visible_hostname);
	while (*t) {
		const char *open = strstr(t, "{{");
		const char *close = open ? strstr(open, "}}") : NULL;
		if (!open || !close) {
			evbuffer_add(b, t, strlen(t));
			break;
		}
		evbuffer_add(b, t, (size_t)(open - t));
		size_t n = (size_t)(close - open - 2);
		const char *k = open + 2;
#define KEY(lit) (n == sizeof(lit) - 1 && memcmp(k, lit, n) == 0)
		if (KEY("host"))
			escape_into(b, bi->host);
		else if (KEY("platform"))
			escape_into(b, bi->platform && bi->platform[0] ? bi->platform : "This site");
		else if (KEY("reason"))
			escape_into(b, bi->reason);
		else if (KEY("reason_text")) {
			char sentence[256];
			snprintf(sentence, sizeof(sentence), "%s",
				 bi->reason_text ? bi->reason_text : "the policy does not allow it now");
			if (sentence[0] >= 'a' && sentence[0] <= 'z')
				sentence[0] = (char)(sentence[0] - 32);
			escape_into(b, sentence);
		}
		else if (KEY("until"))
			escape_into(b, bi->until && bi->until[0] ? bi->until : "not on the current timetable");
		else if (KEY("allowance"))
			escape_into(b, bi->allowance && bi->allowance[0] ? bi->allowance : "-");
		else if (KEY("user"))
			escape_into(b, bi->user);
		else if (KEY("status_url"))
			escape_into(b, status_url);
		else
			evbuffer_add(b, open, (size_t)(close - open) + 2); /* not ours: leave it */
#undef KEY
		t = close + 2;
	}
	pages_send_html(out, 403, b, NULL, keep_alive, false);
	evbuffer_free(b);
}

void pages_challenge(struct evbuffer *out, const struct conf *conf, bool keep_alive)
{
	static const char body[] =
		"<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in</title></head>"
		"<body><h1>Sign in to use the web</h1><p>This proxy needs your organisation user "
		"name and password.</p></body></html>\n";
	struct evbuffer *b = evbuffer_new();
	(void)conf;

	evbuffer_add(b, body, sizeof(body) - 1);
	pages_send_html(out, 407, b, "Proxy-Authenticate: Basic realm=\"breaktime\", charset=\"UTF-8\"\r\n",
			keep_alive, false);
	evbuffer_free(b);
}

void pages_status(struct evbuffer *out, const struct conf *conf, bool keep_alive, bool head_only)
{
	struct evbuffer *b = evbuffer_new();
	unsigned conns = __atomic_load_n(&server.connections, __ATOMIC_RELAXED);
	unsigned long long reqs = __atomic_load_n(&server.requests, __ATOMIC_RELAXED);

	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>breaktime</title>%s"
			    "</head><body><h1>breaktime proxy</h1>"
			    "<p>This is the organisation's web proxy (", style);
	pages_escape_html(b, conf->proxy.visible_hostname);
	evbuffer_add_printf(b, "). Set it as your browser's HTTP and HTTPS proxy to use it.</p>"
			    "<p><small>%u open connections, %llu requests since start.</small></p>"
			    "</body></html>\n", conns, reqs);
	pages_send_html(out, 200, b, NULL, keep_alive, head_only);
	evbuffer_free(b);
}

void pages_text(struct evbuffer *out, int status, const char *text, bool keep_alive, bool head_only)
{
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n"
			    "Content-Length: %zu\r\n"
			    "Cache-Control: no-store\r\n"
			    "Connection: %s\r\n\r\n",
			    status, pages_reason(status), strlen(text), keep_alive ? "keep-alive" : "close");
	if (!head_only)
		evbuffer_add(out, text, strlen(text));
}
