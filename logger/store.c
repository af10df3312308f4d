/*
 * store: the record sink of breaktimed. For now records are counted and,
 * with -v, printed one line each on stderr; the SQLite writer replaces the
 * body of store_submit() without changing its contract (copy, never block).
 */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"

struct store {
	bool verbose;
	uint64_t submitted; /* atomic */
	uint64_t dropped;   /* atomic */
};

struct store *store_open(const struct conf *c, bool verbose)
{
	(void)c;
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->verbose = verbose;
	return s;
}

int record_format(const struct record *r, char *buf, unsigned len)
{
	static const char *const kinds[] = {"request", "tunnel", "tunnel-progress", "blocked"};
	char client[64];

	sockaddr_ntop(&r->client.u.sa, client, sizeof(client));
	return snprintf(buf, len,
			"record kind=%s client=%s method=%s host=%s port=%u sni=%s status=%d "
			"up=%" PRIu64 " down=%" PRIu64 " ms=%u close=%s verdict=%s reason=%s platform=%s",
			kinds[r->kind], client, r->method[0] ? r->method : "-",
			r->host[0] ? r->host : "-", r->port, r->sni[0] ? r->sni : "-", r->status,
			r->bytes_up, r->bytes_down, r->duration_ms,
			r->close_reason ? r->close_reason : "-", r->verdict ? r->verdict : "-",
			r->reason ? r->reason : "-", r->platform[0] ? r->platform : "-");
}

void store_submit(struct store *s, const struct record *r)
{
	if (!s)
		return;
	__atomic_add_fetch(&s->submitted, 1, __ATOMIC_RELAXED);
	if (s->verbose) {
		char line[1024];
		record_format(r, line, sizeof(line));
		log_msg(LOG_INFO, "%s", line);
	}
}

void store_stats(struct store *s, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	out->submitted = __atomic_load_n(&s->submitted, __ATOMIC_RELAXED);
	out->dropped = __atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
	out->written = out->submitted;
}

void store_reopen(struct store *s)
{
	(void)s;
}

void store_close(struct store *s)
{
	free(s);
}
