/*
 * dnstcp: DNS over TCP streams. See dnstcp.h.
 */
#include "dnstcp.h"

#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "fnv.h"
#include "lru.h"

#define BUCKETS 2048

struct stream {
	struct flow_key key;
	bool from_client;
	bool used;
	struct stream *hnext;
	struct lru_node lru;            /* on dnstcp's lru while used */
	bool synced;
	uint32_t next;                  /* sequence number of the next byte expected */
	uint8_t hdr[2];
	uint8_t nhdr;                   /* length bytes seen of the current message */
	size_t msglen;                  /* the current message's length, once nhdr == 2 */
	size_t skip;                    /* bytes of an oversized message still to pass */
	uint8_t *buf;                   /* the current message's bytes so far (msglen) */
	size_t have;
};

struct dnstcp {
	dnstcp_msg_fn *on_msg;
	void *ctx;
	struct stream pool[DNSTCP_STREAMS];
	struct stream *free_list;       /* through hnext */
	struct stream *bucket[BUCKETS];
	struct lru lru;                 /* the streams in use, least recently used first */
	size_t n, bytes;
};

static unsigned hash_key(const struct flow_key *k, bool from_client)
{
	return fnv32_bytes(FNV32_OFFSET ^ from_client, k, sizeof(*k)) & (BUCKETS - 1);
}

struct dnstcp *dnstcp_create(dnstcp_msg_fn *on_msg, void *ctx)
{
	struct dnstcp *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->on_msg = on_msg;
	d->ctx = ctx;
	for (size_t i = DNSTCP_STREAMS; i-- > 0;) {
		d->pool[i].hnext = d->free_list;
		d->free_list = &d->pool[i];
	}
	return d;
}

static void reset(struct dnstcp *d, struct stream *st)
{
	if (st->buf) {
		d->bytes -= st->msglen;
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): find() recycles a dropped stream (buf already NULL) and zeroes it; the analyzer misses the memset */
		free(st->buf);
		st->buf = NULL;
	}
	st->nhdr = 0;
	st->msglen = st->skip = st->have = 0;
}

static struct stream *oldest(const struct dnstcp *d)
{
	return LRU_ENTRY(lru_oldest(&d->lru), struct stream, lru);
}

static void drop(struct dnstcp *d, struct stream *st)
{
	struct stream **p = &d->bucket[hash_key(&st->key, st->from_client)];
	while (*p != st)
		p = &(*p)->hnext;
	*p = st->hnext;
	lru_remove(&d->lru, &st->lru);
	reset(d, st);
	st->used = false;
	st->hnext = d->free_list;
	d->free_list = st;
	d->n--;
}

void dnstcp_destroy(struct dnstcp *d)
{
	if (!d)
		return;
	struct stream *st;
	while ((st = oldest(d)))
		drop(d, st);
	free(d);
}

static struct stream *find(struct dnstcp *d, const struct flow_key *k, bool from_client,
			   bool create)
{
	unsigned h = hash_key(k, from_client);
	for (struct stream *st = d->bucket[h]; st; st = st->hnext)
		if (st->from_client == from_client && memcmp(&st->key, k, sizeof(*k)) == 0)
			return st;
	if (!create)
		return NULL;
	if (!d->free_list)
		drop(d, oldest(d));
	struct stream *st = d->free_list;
	d->free_list = st->hnext;
	memset(st, 0, sizeof(*st));
	st->key = *k;
	st->from_client = from_client;
	st->used = true;
	st->hnext = d->bucket[h];
	d->bucket[h] = st;
	lru_append(&d->lru, &st->lru);
	d->n++;
	return st;
}

static void feed(struct dnstcp *d, struct stream *st, const uint8_t *data, size_t len)
{
	while (len) {
		if (st->skip) {
			size_t n = len < st->skip ? len : st->skip;
			st->skip -= n;
			data += n;
			len -= n;
			continue;
		}
		if (st->nhdr < 2) {
			st->hdr[st->nhdr++] = *data++;
			len--;
			if (st->nhdr < 2)
				continue;
			st->msglen = (size_t)st->hdr[0] << 8 | st->hdr[1];
			if (st->msglen > DNSTCP_MSG_MAX) {
				st->skip = st->msglen;
				st->nhdr = 0;
				st->msglen = 0;
			} else if (st->msglen == 0) {
				st->nhdr = 0;
			}
			continue;
		}
		size_t want = st->msglen - st->have;
		if (!st->buf && len >= want) {
			/* the whole message is in this segment: no copy */
			d->on_msg(d->ctx, &st->key, st->from_client, data, st->msglen);
			data += want;
			len -= want;
			st->nhdr = 0;
			st->msglen = 0;
			continue;
		}
		if (!st->buf) {
			st->buf = malloc(st->msglen);
			if (!st->buf) {
				/* out of memory: pass over this message */
				st->skip = want;
				st->nhdr = 0;
				st->msglen = 0;
				continue;
			}
			d->bytes += st->msglen;
		}
		size_t n = len < want ? len : want;
		memcpy(st->buf + st->have, data, n);
		st->have += n;
		data += n;
		len -= n;
		if (st->have == st->msglen) {
			d->on_msg(d->ctx, &st->key, st->from_client, st->buf, st->msglen);
			reset(d, st);
		}
	}
}

void dnstcp_segment(struct dnstcp *d, const struct flow_key *k, bool from_client, uint8_t flags,
		    uint32_t seq, const uint8_t *data, size_t len)
{
	struct stream *st = find(d, k, from_client, len > 0 || (flags & TCP_SYN));
	if (!st)
		return;
	if (flags & TCP_RST) {
		drop(d, st);
		return;
	}
	lru_touch(&d->lru, &st->lru);
	if (flags & TCP_SYN) {
		reset(d, st);
		st->synced = true;
		st->next = seq + 1;
		seq++;
	}
	if (len) {
		if (!st->synced) {
			/* joined mid-connection: guess that a message starts here */
			st->synced = true;
			st->next = seq;
		}
		int32_t off = (int32_t)(seq - st->next);
		if (off > 0) {
			/* a gap: what is in it is lost; start again here */
			reset(d, st);
			st->next = seq;
			off = 0;
		}
		size_t old = off < 0 ? (size_t)-(int64_t)off : 0;
		if (old < len) {
			feed(d, st, data + old, len - old);
			st->next = seq + (uint32_t)len;
		}
	}
	if (flags & TCP_FIN)
		drop(d, st);
}

size_t dnstcp_streams(const struct dnstcp *d)
{
	return d->n;
}

size_t dnstcp_bytes(const struct dnstcp *d)
{
	return d->bytes;
}
