/*
 * accesslog: the optional access.log in Squid's native format, line for
 * line, so the log analysers administrators already run (SARG, Calamaris,
 * GoAccess's squid format, lightsquid) read breaktime's traffic unchanged:
 *
 *   time.ms elapsed client code/status bytes method URL user hierarchy/peer type
 *   1732540000.123     45 10.0.0.5 TCP_MISS/200 1234 GET http://example.com/ - HIER_DIRECT/example.com text/html
 *
 * as Squid's `logformat squid %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru
 * %[un %Sh/%<a %mt`. time is when the exchange ended; bytes are those sent
 * to the client; a CONNECT is TCP_TUNNEL with URL host:port; a policy
 * refusal is TCP_DENIED/403 with HIER_NONE/-; a client that left before any
 * response is TCP_MISS_ABORTED/000. The peer is the origin's host name, as
 * Squid logs it with `log_ip_on_direct off` (the record holds no address).
 *
 * Writer thread only: written through a stdio buffer flushed after each
 * batch of records; reopened (for logrotate) when store_reopen() asks. A
 * write error is logged once per reopen and never stops the store.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "safetext.h"

struct accesslog {
	char *path;
	FILE *f;
	bool pending;          /* lines in the stdio buffer */
	bool failed;           /* a write failed: logged once until reopened */
};

static FILE *open_file(const char *path)
{
	FILE *f = fopen(path, "ae");
	if (!f) {
		log_err("store: cannot open access log %s: %s", path, strerror(errno));
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, 64 * 1024);
	return f;
}

struct accesslog *accesslog_open(const char *path)
{
	struct accesslog *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->path = strdup(path);
	a->f = a->path ? open_file(path) : NULL;
	if (!a->f) {
		free(a->path);
		free(a);
		return NULL;
	}
	return a;
}

/* Squid escapes user names; a space or control character must not split a field. */
static void put_user(char *out, size_t len, const char *user)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!user || !*user) {
		snprintf(out, len, "-");
		return;
	}
	for (const unsigned char *p = (const unsigned char *)user; *p && o + 4 < len; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '%') {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

/* a field from a record: never empty, never with a space, a control or a byte above 0x7e */
static void put_field(char *out, size_t len, const char *s)
{
	size_t o = 0;
	if (!s || !*s) {
		snprintf(out, len, "-");
		return;
	}
	for (; *s && o + 1 < len; s++)
		out[o++] = (unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ? '_' : *s;
	out[o] = '\0';
}

size_t accesslog_format(const struct record *r, const char *client, char *buf, size_t len)
{
	char url[300], user[200], type[80], method[32], host[HOSTNAME_MAX + 1], h[HOSTNAME_MAX + 1];
	const char *code = "TCP_MISS";
	const char *hier = "HIER_DIRECT";
	bool tunnel = r->kind == RECORD_TUNNEL || (strcmp(r->method, "CONNECT") == 0);
	bool own = r->close_reason && strcmp(r->close_reason, "own-page") == 0;

	int64_t end_ms = r->start_us / 1000 + r->duration_ms;
	if (end_ms < 0)
		end_ms = 0;
	if (r->kind == RECORD_BLOCKED) {
		code = "TCP_DENIED";
		hier = "HIER_NONE";
	} else if (tunnel) {
		code = "TCP_TUNNEL";
	} else if (!r->method[0]) {
		code = "NONE";
		hier = "HIER_NONE";
	} else if (own) {
		code = "TCP_MEM_HIT";
		hier = "HIER_NONE";
	}
	if (r->kind == RECORD_TUNNEL && r->status == 0)
		code = "TCP_TUNNEL_ABORTED";
	else if (r->status == 0 && r->kind != RECORD_BLOCKED && strcmp(code, "TCP_MISS") == 0)
		code = "TCP_MISS_ABORTED";

	/* each field by its grammar (safetext.h): a method is a token, a host
	 * host characters, a URL percent-encodes what is not visible ASCII */
	safetext_host(r->host, h, sizeof(h));
	if (r->uri[0] && !tunnel)
		safetext_uri(r->uri, url, sizeof(url));
	else if (h[0] && tunnel)
		snprintf(url, sizeof(url), "%s:%u", h, r->port ? (unsigned)r->port : 443u);
	else if (h[0])
		snprintf(url, sizeof(url), "http://%s/", h);
	else
		snprintf(url, sizeof(url), "error:invalid-request");
	put_user(user, sizeof(user), r->user);
	put_field(type, sizeof(type), r->content_type);
	safetext_token(r->method, method, sizeof(method));
	if (!method[0])
		snprintf(method, sizeof(method), "NONE");
	put_field(host, sizeof(host), strcmp(hier, "HIER_NONE") == 0 ? NULL : h);
	int n = snprintf(buf, len, "%" PRId64 ".%03d %6u %s %s/%03d %" PRIu64 " %s %s %s %s/%s %s\n",
			 end_ms / 1000, (int)(end_ms % 1000), r->duration_ms,
			 client && *client ? client : "-", code, r->status, r->bytes_down, method,
			 url, user, hier, host, type);
	if (n < 0)
		return 0;
	if ((size_t)n >= len) { /* truncated: keep it one line */
		if (len >= 2) {
			buf[len - 2] = '\n';
			buf[len - 1] = '\0';
		}
		return len ? len - 1 : 0;
	}
	return (size_t)n;
}

void accesslog_write(struct accesslog *a, const struct record *r, const char *client)
{
	char line[1024];

	if (!a || !a->f)
		return;
	size_t n = accesslog_format(r, client, line, sizeof(line));
	a->pending = true;
	if (fwrite(line, 1, n, a->f) != n && !a->failed) {
		log_err("store: cannot write access log %s: %s", a->path, strerror(errno));
		a->failed = true;
	}
}

bool accesslog_pending(const struct accesslog *a)
{
	return a && a->pending;
}

void accesslog_flush(struct accesslog *a)
{
	if (!a)
		return;
	a->pending = false;
	if (!a->f)
		return;
	if (fflush(a->f) != 0 && !a->failed) {
		log_err("store: cannot write access log %s: %s", a->path, strerror(errno));
		a->failed = true;
	}
}

void accesslog_reopen(struct accesslog *a)
{
	if (!a)
		return;
	if (a->f) {
		fflush(a->f);
		fclose(a->f);
	}
	a->f = open_file(a->path); /* NULL: logged; no lines until a reopen succeeds */
	a->pending = false;
	a->failed = false;
}

void accesslog_close(struct accesslog *a)
{
	if (!a)
		return;
	if (a->f)
		fclose(a->f);
	free(a->path);
	free(a);
}
