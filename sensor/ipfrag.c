/*
 * ipfrag: see ipfrag.h. A fixed array of entries searched linearly:
 * fragments are rare in the traffic the sensor watches, and the scan also
 * expires old entries, so the table never needs a timer.
 */
#include "ipfrag.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct piece {
	uint32_t off, len;
};

struct entry {
	bool used;
	uint8_t family, proto;       /* proto: IPv4's, or IPv6's offset-0 next header */
	bool proto_set;
	uint32_t id;
	uint8_t src[16], dst[16];
	int64_t first_us;
	uint8_t *buf;
	size_t cap;
	size_t total;                /* the datagram's length: 0 until the last fragment */
	size_t have;                 /* bytes received (pieces never overlap) */
	size_t ip_len;               /* the fragments' IP bytes on the wire */
	unsigned n;
	struct piece pieces[IPFRAG_MAX_PIECES];
};

struct ipfrag {
	struct entry e[IPFRAG_MAX_ENTRIES];
	size_t n_used;
	size_t bytes;                /* sum of the entries' cap */
	uint8_t *done;               /* the last datagram completed */
	struct ipfrag_stats st;
};

struct ipfrag *ipfrag_create(void)
{
	return calloc(1, sizeof(struct ipfrag));
}

static void entry_free(struct ipfrag *t, struct entry *e)
{
	t->bytes -= e->cap;
	free(e->buf);
	memset(e, 0, sizeof(*e));
	t->n_used--;
}

void ipfrag_destroy(struct ipfrag *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < IPFRAG_MAX_ENTRIES; i++)
		if (t->e[i].used)
			entry_free(t, &t->e[i]);
	free(t->done);
	free(t);
}

static bool same_key(const struct entry *e, const struct packet *p, size_t alen)
{
	return e->family == p->family && e->id == p->frag_id &&
	       (p->family != AF_INET || e->proto == p->proto) && memcmp(e->src, p->src, alen) == 0 &&
	       memcmp(e->dst, p->dst, alen) == 0;
}

static struct entry *oldest(struct ipfrag *t, const struct entry *except)
{
	struct entry *o = NULL;
	for (size_t i = 0; i < IPFRAG_MAX_ENTRIES; i++) {
		struct entry *e = &t->e[i];
		/* cppcheck-suppress nullPointerRedundantCheck ; e points into t->e[], never NULL */
		if (e->used && e != except && (!o || e->first_us < o->first_us))
			o = e;
	}
	return o;
}

/* Drop e's datagram: -1 for ipfrag_add. */
static int drop(struct ipfrag *t, struct entry *e)
{
	t->st.dropped++;
	if (e)
		entry_free(t, e);
	return -1;
}

int ipfrag_add(struct ipfrag *t, struct packet *p, int64_t ts_us, const uint8_t **out,
	       size_t *out_len)
{
	free(t->done);
	t->done = NULL;
	size_t alen = p->family == AF_INET ? 4 : 16;
	size_t off = p->frag_off, len = p->payload_len, end = off + len;

	/* the datagram in progress, expiring old ones on the way */
	struct entry *e = NULL, *free_slot = NULL;
	for (size_t i = 0; i < IPFRAG_MAX_ENTRIES && (t->n_used || !free_slot); i++) {
		struct entry *x = &t->e[i];
		if (!x->used) {
			if (!free_slot)
				free_slot = x;
			continue;
		}
		if (ts_us - x->first_us > IPFRAG_TIMEOUT_US || ts_us < x->first_us - IPFRAG_TIMEOUT_US) {
			t->st.expired++;
			entry_free(t, x);
			if (!free_slot)
				free_slot = x;
			continue;
		}
		if (!e && same_key(x, p, alen))
			e = x;
	}

	/* cut short by the snapshot length, past 64 KiB, or a piece of a
	 * fragmented datagram that is not a multiple of 8 bytes (only the last
	 * may be): not usable, and the datagram cannot be trusted either */
	if (p->payload_len < p->wire_len || end > IPFRAG_MAX_DATAGRAM ||
	    (p->frag_more && (len == 0 || len % 8 != 0)))
		return drop(t, e);

	if (!e) {
		if (!free_slot) {
			free_slot = oldest(t, NULL);
			t->st.evicted++;
			entry_free(t, free_slot);
		}
		e = free_slot;
		e->used = true;
		e->family = (uint8_t)p->family;
		e->proto = p->proto;
		e->proto_set = p->family == AF_INET;
		e->id = p->frag_id;
		memcpy(e->src, p->src, alen);
		memcpy(e->dst, p->dst, alen);
		e->first_us = ts_us;
		t->n_used++;
	}

	for (unsigned i = 0; i < e->n; i++) {
		const struct piece *pc = &e->pieces[i];
		if (off < (size_t)pc->off + pc->len && pc->off < end) {
			if (pc->off == off && pc->len == len && memcmp(e->buf + off, p->payload, len) == 0)
				return 0;   /* a repeat */
			return drop(t, e);
		}
	}
	if (!p->frag_more) {
		if (e->total && e->total != end)
			return drop(t, e);
		for (unsigned i = 0; i < e->n; i++)
			if ((size_t)e->pieces[i].off + e->pieces[i].len > end)
				return drop(t, e);
		e->total = end;
	} else if (e->total && end > e->total) {
		return drop(t, e);
	}
	if (e->n == IPFRAG_MAX_PIECES)
		return drop(t, e);

	if (end > e->cap) {
		/* room for the whole datagram once its end is known */
		size_t cap = e->total ? e->total : end;
		while (t->bytes + (cap - e->cap) > IPFRAG_MAX_BYTES) {
			struct entry *o = oldest(t, e);
			if (!o)
				return drop(t, e);
			t->st.evicted++;
			entry_free(t, o);
		}
		uint8_t *b = realloc(e->buf, cap);
		if (!b)
			return drop(t, e);
		e->buf = b;
		t->bytes += cap - e->cap;
		e->cap = cap;
	}
	memcpy(e->buf + off, p->payload, len);
	e->pieces[e->n].off = (uint32_t)off;
	e->pieces[e->n].len = (uint32_t)len;
	e->n++;
	e->have += len;
	e->ip_len += p->ip_len;
	if (off == 0 && !e->proto_set) {
		e->proto = p->proto;
		e->proto_set = true;
	}
	if (!e->total || e->have != e->total)
		return 0;

	/* complete: the pieces do not overlap and lie within total */
	t->st.reassembled++;
	t->done = e->buf;
	*out = e->buf;
	*out_len = e->total;
	p->proto = e->proto;
	p->ip_len = e->ip_len;
	e->buf = NULL;
	entry_free(t, e);
	return 1;
}

void ipfrag_get_stats(const struct ipfrag *t, struct ipfrag_stats *out)
{
	*out = t->st;
}

size_t ipfrag_count(const struct ipfrag *t)
{
	return t->n_used;
}

size_t ipfrag_bytes(const struct ipfrag *t)
{
	return t->bytes;
}
