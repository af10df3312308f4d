/*
 * conn_record: the one record of an exchange (request, tunnel or refusal)
 * and the progress records of a long tunnel, built from the conn and handed
 * to the store; the /metrics counters move with them. Runs on the conn's
 * worker thread; store_submit() never blocks.
 */
#include "conn.h"

#include <stdio.h>
#include <string.h>

#include "strutil.h"

/* What every record of this conn says: who, where, what was decided. */
static inline void record_fill(const struct conn *c, struct record *r, enum record_kind kind,
			int64_t start_us, int64_t now_us)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->source = RECORD_SOURCE_PROXY;
	r->arrival = c->intercept ? RECORD_ARRIVAL_INTERCEPT :
		     c->tls ? RECORD_ARRIVAL_HTTPS_PROXY : RECORD_ARRIVAL_PROXY;
	r->start_us = start_us;
	int64_t d = (now_us - start_us) / 1000;
	r->duration_ms = d < 0 ? 0 : (uint32_t)d;
	r->client = c->peer;
	memcpy(r->method, c->method, sizeof(r->method));
	memcpy(r->host, c->host, sizeof(r->host));
	r->port = c->port;
	memcpy(r->sni, c->sni, sizeof(r->sni));
	r->status = c->status;
	r->verdict = c->decision.verdict;
	r->reason = c->decision.reason;
	memcpy(r->platform, c->decision.platform, sizeof(r->platform));
	memcpy(r->category, c->decision.category, sizeof(r->category));
	memcpy(r->user, c->user, sizeof(r->user));
	memcpy(r->group, c->group, sizeof(r->group));
}

void conn_record(struct conn *c, enum record_kind kind, const char *close_reason)
{
	struct record r;

	if (c->recorded || c->start_us == 0)
		return;
	c->recorded = 1;
	record_fill(c, &r, kind, c->start_us, conn_wall_us());
	memcpy(r.uri, c->uri, sizeof(r.uri));
	r.bytes_up = c->bytes_up;
	r.bytes_down = c->bytes_down;
	r.close_reason = close_reason;
	store_submit(server.store, &r);
	metrics_count_decision(r.verdict, r.reason);
	__atomic_add_fetch(kind == RECORD_BLOCKED ? &server.records_blocked :
			   kind == RECORD_TUNNEL ? &server.records_tunnel : &server.records_request,
			   1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&server.bytes_up, c->bytes_up - c->prog_up, __ATOMIC_RELAXED);
	__atomic_add_fetch(&server.bytes_down, c->bytes_down - c->prog_down, __ATOMIC_RELAXED);
	int cls = c->status >= 100 && c->status < 600 ? c->status / 100 : 0;
	__atomic_add_fetch(&server.status_class[cls], 1, __ATOMIC_RELAXED);
}

void conn_tunnel_progress(struct conn *c)
{
	struct record r;
	int64_t now = conn_wall_us();

	if (c->state != CS_TUNNEL && c->state != CS_PEEK)
		return;
	if (c->bytes_up == c->prog_up && c->bytes_down == c->prog_down) {
		c->prog_start_us = now;
		return;
	}
	record_fill(c, &r, RECORD_TUNNEL_PROGRESS, c->prog_start_us ? c->prog_start_us : c->start_us, now);
	r.bytes_up = c->bytes_up - c->prog_up;
	r.bytes_down = c->bytes_down - c->prog_down;
	__atomic_add_fetch(&server.bytes_up, r.bytes_up, __ATOMIC_RELAXED);
	__atomic_add_fetch(&server.bytes_down, r.bytes_down, __ATOMIC_RELAXED);
	c->prog_up = c->bytes_up;
	c->prog_down = c->bytes_down;
	c->prog_start_us = now;
	store_submit(server.store, &r);
}

/* The absolute URI of a forwarded request (authority-form for CONNECT) for the record. */
void conn_record_uri(struct conn *c, const struct http_request *req)
{
	size_t n = 0;

	if (req->is_connect) {
		snprintf(c->uri, sizeof(c->uri), "%.240s:%u", c->host, c->port);
		return;
	}
	c->uri[0] = '\0';
	str_append(c->uri, sizeof(c->uri), &n, "http://", 7);
	if (c->host_kind == HOST_IPV6)
		str_append(c->uri, sizeof(c->uri), &n, "[", 1);
	str_append(c->uri, sizeof(c->uri), &n, c->host, strlen(c->host));
	if (c->host_kind == HOST_IPV6)
		str_append(c->uri, sizeof(c->uri), &n, "]", 1);
	if (c->port != 80) {
		char port[8];
		int i = (int)sizeof(port);
		unsigned v = c->port;
		do {
			port[--i] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		port[--i] = ':';
		str_append(c->uri, sizeof(c->uri), &n, port + i, sizeof(port) - (size_t)i);
	}
	str_append(c->uri, sizeof(c->uri), &n, req->path, req->path_len);
}
