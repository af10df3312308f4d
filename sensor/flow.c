/*
 * flow: a chained hash table plus two idle lists (TCP and UDP, because their
 * timeouts differ), each ordered by last packet, so expiry only looks at the
 * heads and eviction of the least recently seen flow is O(1).
 */
#include "flow.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

struct flow_table {
	struct flow **buckets;
	size_t mask;
	size_t n, max;
	size_t streams;              /* flows holding a reassembly buffer */
	uint64_t evicted;
	struct lru lists[2];         /* 0: TCP, 1: UDP; by last packet */
	uint64_t seed;               /* of key_hash */
	flow_close_fn *on_close;
	void *ctx;
};

static struct lru *list_of(struct flow_table *t, const struct flow *f)
{
	return &t->lists[f->key.proto == IPPROTO_UDP];
}

/* The least recently seen flow of list i, or NULL. */
static struct flow *list_oldest(const struct flow_table *t, int i)
{
	return LRU_ENTRY(lru_oldest(&t->lists[i]), struct flow, lru);
}

/* The key as five 64-bit words (the last two overlap): 38 bytes, no padding. */
_Static_assert(sizeof(struct flow_key) == 38, "struct flow_key has padding or grew");

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* A word at a time (a byte-wise FNV-1a was the sensor's most expensive
 * function per packet), keyed with a per-table random seed so that
 * addresses and ports chosen to collide cannot be computed offline;
 * MurmurHash3's fmix64 spreads every bit of the key to the bucket index. */
static size_t key_hash(const struct flow_table *t, const struct flow_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = t->seed;
	for (size_t i = 0; i < 32; i += 8) {
		h ^= load64(p + i);
		h *= 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	h ^= load64(p + sizeof(*k) - 8);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (size_t)h;
}

static bool key_equal(const struct flow_key *a, const struct flow_key *b)
{
	const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
	return ((load64(x) ^ load64(y)) | (load64(x + 8) ^ load64(y + 8)) |
		(load64(x + 16) ^ load64(y + 16)) | (load64(x + 24) ^ load64(y + 24)) |
		(load64(x + sizeof(*a) - 8) ^ load64(y + sizeof(*b) - 8))) == 0;
}

struct flow_table *flow_table_create(size_t max, flow_close_fn *on_close, void *ctx)
{
	struct flow_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	size_t nb = 64;
	while (nb < max)
		nb <<= 1;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->mask = nb - 1;
	if (getentropy(&t->seed, sizeof(t->seed)) < 0)
		t->seed = (uint64_t)(uintptr_t)t ^ (uint64_t)time(NULL);
	t->max = max ? max : 1;
	t->on_close = on_close;
	t->ctx = ctx;
	return t;
}

void flow_close_all(struct flow_table *t, const char *why)
{
	struct flow *f;
	for (int i = 0; i < 2; i++)
		while ((f = list_oldest(t, i)))
			flow_close(t, f, why);
}

void flow_table_destroy(struct flow_table *t)
{
	if (!t)
		return;
	flow_close_all(t, "exit");
	free(t->buckets);
	free(t);
}

struct flow *flow_find(struct flow_table *t, const struct flow_key *key)
{
	for (struct flow *f = t->buckets[key_hash(t, key) & t->mask]; f; f = f->hnext)
		if (key_equal(&f->key, key))
			return f;
	return NULL;
}

static struct flow *oldest(struct flow_table *t)
{
	struct flow *a = list_oldest(t, 0), *b = list_oldest(t, 1);
	if (!a)
		return b;
	if (!b)
		return a;
	return a->last_us <= b->last_us ? a : b;
}

struct flow *flow_create(struct flow_table *t, const struct flow_key *key, int64_t now_us)
{
	if (t->n >= t->max) {
		struct flow *old = oldest(t);
		if (old) {
			t->evicted++;
			flow_close(t, old, "evicted");
		}
	}
	struct flow *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->key = *key;
	f->first_us = f->last_us = f->prog_start_us = now_us;
	reasm_init(&f->stream, FLOW_STREAM_MAX);
	size_t b = key_hash(t, key) & t->mask;
	f->hnext = t->buckets[b];
	t->buckets[b] = f;
	lru_append(list_of(t, f), &f->lru);
	t->n++;
	return f;
}

void flow_touch(struct flow_table *t, struct flow *f, int64_t now_us)
{
	if (now_us > f->last_us)
		f->last_us = now_us;
	lru_touch(list_of(t, f), &f->lru);
}

void flow_close(struct flow_table *t, struct flow *f, const char *why)
{
	if (t->on_close)
		t->on_close(t->ctx, f, why);
	struct flow **pp = &t->buckets[key_hash(t, &f->key) & t->mask];
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_remove(list_of(t, f), &f->lru);
	flow_stream_end(t, f);
	free(f);
	t->n--;
}

void flow_expire(struct flow_table *t, int64_t now_us, int64_t tcp_idle_us, int64_t udp_idle_us,
		 int64_t fin_idle_us)
{
	for (int i = 0; i < 2; i++) {
		int64_t idle = i ? udp_idle_us : tcp_idle_us;
		struct flow *f;
		while ((f = list_oldest(t, i)) && f->last_us + idle <= now_us)
			flow_close(t, f, "idle");
	}
	/* closed TCP connections linger briefly for their last segments; they
	 * are few and scanned only here */
	for (struct flow *f = list_oldest(t, 0), *next; f; f = next) {
		next = LRU_ENTRY(lru_newer(&f->lru), struct flow, lru);
		if (f->fin && f->last_us + fin_idle_us <= now_us)
			flow_close(t, f, "fin");
	}
}

int flow_stream_add(struct flow_table *t, struct flow *f, uint64_t offset, const uint8_t *data,
		    size_t len)
{
	if (!f->stream.buf) {
		if (t->streams >= FLOW_MAX_STREAMS)
			return -1;
		if (reasm_add(&f->stream, offset, data, len) < 0)
			return -1;
		if (f->stream.buf)
			t->streams++;
		return 0;
	}
	return reasm_add(&f->stream, offset, data, len);
}

void flow_stream_end(struct flow_table *t, struct flow *f)
{
	if (f->stream.buf)
		t->streams--;
	reasm_finish(&f->stream);
}

size_t flow_streams(const struct flow_table *t)
{
	return t->streams;
}

size_t flow_count(const struct flow_table *t)
{
	return t->n;
}

uint64_t flow_evicted(const struct flow_table *t)
{
	return t->evicted;
}
