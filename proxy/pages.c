/*
 * pages: the responses breaktimed writes itself — errors (400, 403, 408,
 * 414, 431, 502, 504, ...) and its small status page. Plain HTML with no
 * external assets; every page says what happened in words a member of
 * staff understands. Nothing from the request is echoed unescaped: every
 * page (these and enforce.c's status, warn and continue pages) escapes with
 * pages_escape_html() and leaves through pages_send_html(), one response
 * head for all of them.
 *
 * Runs on the loop thread; appends to an evbuffer; never blocks.
 */
#include "proxy.h"

#include "htmlesc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

/*
 * The proxy a PAC script names: the first listener's own address when it
 * binds one, else visible_hostname (a wildcard listener has no address a
 * client could use), with the listener's port. Never the request's Host
 * header: that is the client's word (and whatever a page made it send),
 * and it went into a script the browser runs for every URL.
 */
static void pac_proxy(const struct conf *conf, char *proxy, size_t len)
{
	const struct sockaddr *sa = server.n_listen ? &server.listen[0].u.sa : NULL;
	bool wildcard = !sa ||
		(sa->sa_family == AF_INET &&
		 ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
		(sa->sa_family == AF_INET6 &&
		 IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr));

	if (!wildcard)
		sockaddr_ntop_port(sa, proxy, len);
	else
		snprintf(proxy, len, "%s:%u", conf->proxy.visible_hostname, sa ? sockaddr_port(sa) : 3128u);
}

void pages_pac(struct evbuffer *out, const struct conf *conf, const char *authority, size_t len,
	       bool keep_alive, bool head_only)
{
	char proxy[300], body[2048];

	(void)authority; /* kept for the caller's signature: never echoed (pac_proxy) */
	(void)len;
	pac_proxy(conf, proxy, sizeof(proxy));
	int n = snprintf(body, sizeof(body),
			 "// breaktime: proxy auto-configuration\n"
			 "function FindProxyForURL(url, host) {\n"
			 "  if (isPlainHostName(host) || dnsDomainIs(host, \".local\") ||\n"
			 "      host == \"localhost\" || shExpMatch(host, \"127.*\") || host == \"[::1]\" ||\n"
			 "      isInNet(host, \"10.0.0.0\", \"255.0.0.0\") ||\n"
			 "      isInNet(host, \"172.16.0.0\", \"255.240.0.0\") ||\n"
			 "      isInNet(host, \"192.168.0.0\", \"255.255.0.0\") ||\n"
			 "      isInNet(host, \"169.254.0.0\", \"255.255.0.0\"))\n"
			 "    return \"DIRECT\";\n"
			 "  return \"PROXY %s\";\n"
			 "}\n", proxy);
	evbuffer_add_printf(out,
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: application/x-ns-proxy-autoconfig\r\n"
			    "Content-Length: %d\r\n"
			    "Cache-Control: max-age=300\r\n"
			    "Connection: %s\r\n\r\n",
			    n, keep_alive ? "keep-alive" : "close");
	if (!head_only)
		evbuffer_add(out, body, (size_t)n);
}

/* Decisions by verdict and reason: one counter per pair, named when /metrics is written. */
static uint64_t decisions[VERDICT_COUNT][REASON_COUNT];

void metrics_count_decision(enum verdict verdict, enum reason reason)
{
	if (verdict == VERDICT_NONE || (unsigned)verdict >= VERDICT_COUNT || (unsigned)reason >= REASON_COUNT)
		return;
	__atomic_add_fetch(&decisions[verdict][reason], 1, __ATOMIC_RELAXED);
}

void pages_metrics(struct evbuffer *out, bool keep_alive, bool head_only)
{
	struct evbuffer *b = evbuffer_new();
	struct store_stats st;

#define LOAD(x) ((unsigned long long)__atomic_load_n(&(x), __ATOMIC_RELAXED))
	evbuffer_add_printf(b, "# HELP breaktime_connections Open client connections.\n"
			    "# TYPE breaktime_connections gauge\nbreaktime_connections %llu\n",
			    LOAD(server.connections));
	evbuffer_add_printf(b, "# HELP breaktime_accepted_total Client connections accepted.\n"
			    "# TYPE breaktime_accepted_total counter\nbreaktime_accepted_total %llu\n",
			    LOAD(server.accepted));
	evbuffer_add_printf(b, "# HELP breaktime_requests_total Request heads received.\n"
			    "# TYPE breaktime_requests_total counter\nbreaktime_requests_total %llu\n",
			    LOAD(server.requests));
	evbuffer_add_printf(b, "# HELP breaktime_records_total Completed exchanges by kind.\n"
			    "# TYPE breaktime_records_total counter\n"
			    "breaktime_records_total{kind=\"request\"} %llu\n"
			    "breaktime_records_total{kind=\"tunnel\"} %llu\n"
			    "breaktime_records_total{kind=\"blocked\"} %llu\n",
			    LOAD(server.records_request), LOAD(server.records_tunnel),
			    LOAD(server.records_blocked));
	evbuffer_add_printf(b, "# HELP breaktime_responses_total Responses to clients by status class.\n"
			    "# TYPE breaktime_responses_total counter\n");
	for (int i = 1; i <= 5; i++)
		evbuffer_add_printf(b, "breaktime_responses_total{class=\"%dxx\"} %llu\n", i,
				    LOAD(server.status_class[i]));
	evbuffer_add_printf(b, "# HELP breaktime_bytes_total Bytes relayed.\n"
			    "# TYPE breaktime_bytes_total counter\n"
			    "breaktime_bytes_total{direction=\"up\"} %llu\n"
			    "breaktime_bytes_total{direction=\"down\"} %llu\n",
			    LOAD(server.bytes_up), LOAD(server.bytes_down));
	store_stats(server.store, &st);
	evbuffer_add_printf(b, "# HELP breaktime_store_records_total Records handed to the store.\n"
			    "# TYPE breaktime_store_records_total counter\n"
			    "breaktime_store_records_total{state=\"submitted\"} %llu\n"
			    "breaktime_store_records_total{state=\"written\"} %llu\n"
			    "breaktime_store_records_total{state=\"dropped\"} %llu\n"
			    "breaktime_store_records_total{state=\"lost\"} %llu\n",
			    (unsigned long long)st.submitted, (unsigned long long)st.written,
			    (unsigned long long)st.dropped, (unsigned long long)st.lost);
	evbuffer_add_printf(b, "# HELP breaktime_store_records_aggregated_total Refusals without identity "
			    "(407, 429, allow_clients) counted into one row per client, reason and minute.\n"
			    "# TYPE breaktime_store_records_aggregated_total counter\n"
			    "breaktime_store_records_aggregated_total %llu\n"
			    "# HELP breaktime_store_aggregate_rows_total Store rows written for them.\n"
			    "# TYPE breaktime_store_aggregate_rows_total counter\n"
			    "breaktime_store_aggregate_rows_total %llu\n",
			    (unsigned long long)st.aggregated, (unsigned long long)st.aggregate_rows);
	evbuffer_add_printf(b, "# HELP breaktime_decisions_total Requests and tunnels by verdict and reason.\n"
			    "# TYPE breaktime_decisions_total counter\n");
	/* only pairs that happened; a decision without a reason is "-" */
	for (unsigned v = VERDICT_NONE + 1; v < VERDICT_COUNT; v++)
		for (unsigned r = 0; r < REASON_COUNT; r++) {
			unsigned long long n = LOAD(decisions[v][r]);
			const char *rn = verdict_reason_name((enum reason)r);
			if (n)
				evbuffer_add_printf(b, "breaktime_decisions_total{verdict=\"%s\",reason=\"%s\"} %llu\n",
						    verdict_name((enum verdict)v), rn ? rn : "-", n);
		}
	evbuffer_add_printf(b, "# HELP breaktime_store_queue_depth Records waiting for the store's writer.\n"
			    "# TYPE breaktime_store_queue_depth gauge\nbreaktime_store_queue_depth %llu\n"
			    "# HELP breaktime_store_queue_capacity Records the queue holds.\n"
			    "# TYPE breaktime_store_queue_capacity gauge\nbreaktime_store_queue_capacity %llu\n"
			    "# HELP breaktime_store_retries_total Store transactions retried (locked, full, I/O).\n"
			    "# TYPE breaktime_store_retries_total counter\nbreaktime_store_retries_total %llu\n",
			    (unsigned long long)st.queued, (unsigned long long)st.queue_capacity,
			    (unsigned long long)st.retries);
	evbuffer_add_printf(b, "# HELP breaktime_store_held Records the writer has taken and not yet committed.\n"
			    "# TYPE breaktime_store_held gauge\nbreaktime_store_held %llu\n"
			    "# HELP breaktime_store_transactions_total Store batches committed.\n"
			    "# TYPE breaktime_store_transactions_total counter\n"
			    "breaktime_store_transactions_total %llu\n"
			    "# HELP breaktime_store_errors_total Failed store transactions by cause (of the retries).\n"
			    "# TYPE breaktime_store_errors_total counter\n"
			    "breaktime_store_errors_total{cause=\"locked\"} %llu\n"
			    "breaktime_store_errors_total{cause=\"full\"} %llu\n"
			    "# HELP breaktime_store_failing 1 while the last store transaction failed and is retried.\n"
			    "# TYPE breaktime_store_failing gauge\nbreaktime_store_failing %d\n"
			    "# HELP breaktime_store_purged_total Rows removed by retention.\n"
			    "# TYPE breaktime_store_purged_total counter\nbreaktime_store_purged_total %llu\n"
			    "# HELP breaktime_store_access_log_lines_total Lines written to access.log.\n"
			    "# TYPE breaktime_store_access_log_lines_total counter\n"
			    "breaktime_store_access_log_lines_total %llu\n"
			    "# HELP breaktime_store_writer_cpu_seconds_total CPU time of the store's writer thread.\n"
			    "# TYPE breaktime_store_writer_cpu_seconds_total counter\n"
			    "breaktime_store_writer_cpu_seconds_total %llu.%03llu\n",
			    (unsigned long long)st.held, (unsigned long long)st.transactions,
			    (unsigned long long)st.busy_errors, (unsigned long long)st.full_errors,
			    st.failing ? 1 : 0, (unsigned long long)st.purged,
			    (unsigned long long)st.access_log_lines,
			    (unsigned long long)(st.writer_cpu_ms / 1000),
			    (unsigned long long)(st.writer_cpu_ms % 1000));
	evbuffer_add_printf(b, "# HELP breaktime_auth_failures_total Failed proxy sign-ins.\n"
			    "# TYPE breaktime_auth_failures_total counter\nbreaktime_auth_failures_total %llu\n",
			    LOAD(server.auth_failures));
	evbuffer_add_printf(b, "# HELP breaktime_reloads_total Configuration reloads.\n"
			    "# TYPE breaktime_reloads_total counter\n"
			    "breaktime_reloads_total{result=\"ok\"} %llu\n"
			    "breaktime_reloads_total{result=\"refused\"} %llu\n",
			    LOAD(server.reloads), LOAD(server.reload_failures));
#undef LOAD
	evbuffer_add_printf(out,
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			    "Content-Length: %zu\r\n"
			    "Cache-Control: no-store\r\n"
			    "Connection: %s\r\n\r\n",
			    evbuffer_get_length(b), keep_alive ? "keep-alive" : "close");
	if (!head_only)
		evbuffer_add_buffer(out, b);
	evbuffer_free(b);
}
