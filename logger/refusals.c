/*
 * refusals: refusals that carry no identity — a 407 challenge (no or wrong
 * credentials), a 429 after too many failed sign-ins, a 403 for an address
 * outside allow_clients — counted per client instead of queued one by one,
 * so that no flood of them can fill the writer's queue and push out the
 * records of people the proxy did identify.
 *
 * DESIGN. store_submit() hands such a record here instead of to the ring
 * (writer.c). The table is keyed by (wall-clock minute of the refusal's
 * end, client address, reason, method, host, port) and holds, per key, the
 * first record as a sample, the number of refusals not yet written and the
 * times of the first and last of them. It is bounded: REFUSALS_MAX keys;
 * a new key beyond that is folded into the minute's "other clients" entry
 * of its reason (no address, no host), which has REFUSALS_RESERVE slots of
 * its own; only when those are full too (the writer has been stuck for
 * many minutes) is a refusal dropped, and counted as dropped like a full
 * queue. Memory is the table (allocated once, touched as it fills) and
 * the writer's copy of what it takes.
 *
 * The writer (refusals_take) turns entries into events rows with a count:
 * a new key at once (so whoever looks for why a client got a 407 sees the
 * row within a batch), and the rest of that key's minute as a second row
 * once the minute is over (REFUSALS_GRACE_MS later, for late records); an
 * entry whose minute is over is removed. A key is thus at most two rows a
 * minute however many refusals it counts — more only when store_flush() or
 * store_close() asks for everything now, or when a refusal of a minute
 * arrives after that minute was written (it starts a new row). Counts
 * sum exactly: every refusal added is in exactly one row (or counted as
 * dropped).
 *
 * Threads: refusals_add() on any thread, refusals_take() on the writer
 * thread; both under the table's mutex, which is held for a hash lookup or
 * a copy and never while waiting for anything or taking another lock.
 * refusals_due(), refusals_next_ms() and the counters read atomics only, so
 * the writer asks them under the queue's lock without nesting the two.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "fnv.h"

#define REFUSALS_RESERVE 64
#define REFUSALS_GRACE_MS 2000
#define NONE UINT32_MAX

struct refusal_key {
	int64_t minute;               /* wall clock minutes since the epoch */
	uint16_t port;
	uint8_t family;               /* AF_INET, AF_INET6, 0: other clients */
	uint8_t addr[16];
	enum reason reason;           /* one of identity_less[]; REASON_NONE: a free slot */
	char method[24];
	char host[HOSTNAME_MAX + 1];
};

struct refusal {
	struct refusal_key k;
	uint32_t next;                /* hash chain, or free list */
	uint32_t fresh_next;          /* fresh list: keys not written yet */
	struct refusal_row row;       /* sample, pending count, first/last */
};

struct refusals {
	pthread_mutex_t lock;
	struct refusal *e;
	uint32_t cap;                 /* max + REFUSALS_RESERVE */
	uint32_t max;                 /* keys with an address */
	uint32_t *bucket;
	uint32_t nbucket;             /* a power of two */
	uint32_t free_head;
	uint32_t used;                /* entries in use */
	uint32_t hwm;                 /* entries [hwm, cap) were never used */
	uint32_t fresh_head, fresh_tail;
	/* read without the lock (atomics) */
	uint64_t added;               /* refusals folded in */
	uint64_t pending;             /* ... not yet taken */
	uint32_t n_fresh;
	int64_t sweep_ms;             /* wall: the earliest end of a minute held (+ grace) */
};

static const enum reason identity_less[] = {REASON_AUTH_REQUIRED, REASON_AUTH_FAILED,
					     REASON_AUTH_RATE_LIMITED, REASON_CLIENT_NOT_ALLOWED,
					     REASON_SIGN_IN_REQUIRED};

bool refusals_match(const struct record *r)
{
	if (r->kind != RECORD_BLOCKED || r->source != RECORD_SOURCE_PROXY || r->user[0])
		return false;
	for (size_t i = 0; i < sizeof(identity_less) / sizeof(identity_less[0]); i++)
		if (r->reason == identity_less[i])
			return true;
	return false;
}

struct refusals *refusals_create(unsigned max)
{
	struct refusals *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->max = max ? max : REFUSALS_DEFAULT_MAX;
	a->cap = a->max + REFUSALS_RESERVE;
	a->nbucket = 64;
	while (a->nbucket < a->cap)
		a->nbucket *= 2;
	/* calloc: entries become resident only as keys arrive */
	a->e = calloc(a->cap, sizeof(*a->e));
	a->bucket = malloc(a->nbucket * sizeof(*a->bucket));
	if (!a->e || !a->bucket) {
		free(a->e);
		free(a->bucket);
		free(a);
		return NULL;
	}
	for (uint32_t i = 0; i < a->nbucket; i++)
		a->bucket[i] = NONE;
	for (uint32_t i = 0; i < a->cap; i++)
		a->e[i].next = i + 1 < a->cap ? i + 1 : NONE;
	a->free_head = 0;
	a->fresh_head = a->fresh_tail = NONE;
	a->sweep_ms = INT64_MAX;
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

void refusals_destroy(struct refusals *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->e);
	free(a->bucket);
	free(a);
}

static uint64_t key_hash(const struct refusal_key *k)
{
	/* FNV-1a over the fixed part (the reason too) and the strings up to their ends */
	uint64_t h = fnv64_bytes(FNV64_OFFSET, k, offsetof(struct refusal_key, method));
	h = fnv64_str(h, k->method);
	return fnv64_str(h, k->host);
}

static void key_of(struct refusal_key *k, const struct record *r, int64_t minute)
{
	memset(k, 0, sizeof(*k));
	k->minute = minute;
	k->port = r->port;
	if (r->client.u.sa.sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&r->client.u.sa;
		k->family = AF_INET;
		memcpy(k->addr, &sin->sin_addr, 4);
	} else if (r->client.u.sa.sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&r->client.u.sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			k->family = AF_INET;
			memcpy(k->addr, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			k->family = AF_INET6;
			memcpy(k->addr, &sin6->sin6_addr, 16);
		}
	} else {
		k->family = 255; /* an unknown address: one key of its own */
	}
	k->reason = r->reason;
	store_copy(k->method, sizeof(k->method), r->method);
	store_copy(k->host, sizeof(k->host), r->host);
}

/* The "other clients" key of a reason and minute. */
static void other_key(struct refusal_key *k, const struct record *r, int64_t minute)
{
	memset(k, 0, sizeof(*k));
	k->minute = minute;
	k->reason = r->reason;
}

static uint32_t find(struct refusals *a, const struct refusal_key *k, uint32_t b)
{
	for (uint32_t i = a->bucket[b]; i != NONE; i = a->e[i].next)
		/* every key is memset whole, padding too, before it is filled */
		/* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c) */
		if (memcmp(&a->e[i].k, k, sizeof(*k)) == 0)
			return i;
	return NONE;
}

static uint32_t insert(struct refusals *a, const struct refusal_key *k, uint32_t b,
		       const struct record *r)
{
	uint32_t i = a->free_head;
	struct refusal *e = &a->e[i];
	a->free_head = e->next;
	memset(e, 0, sizeof(*e));
	e->k = *k;
	e->row.sample = *r;
	if (k->family == 0) {
		/* other clients: no address, no request */
		memset(&e->row.sample.client, 0, sizeof(e->row.sample.client));
		e->row.sample.method[0] = '\0';
		e->row.sample.host[0] = '\0';
		e->row.sample.uri[0] = '\0';
		e->row.sample.port = 0;
		e->row.other = true;
	}
	e->next = a->bucket[b];
	a->bucket[b] = i;
	e->fresh_next = NONE;
	if (a->fresh_tail == NONE)
		a->fresh_head = i;
	else
		a->e[a->fresh_tail].fresh_next = i;
	a->fresh_tail = i;
	__atomic_add_fetch(&a->n_fresh, 1, __ATOMIC_RELAXED);
	a->used++;
	if (i >= a->hwm)
		a->hwm = i + 1;
	int64_t due = (k->minute + 1) * 60000 + REFUSALS_GRACE_MS;
	if (due < a->sweep_ms)
		__atomic_store_n(&a->sweep_ms, due, __ATOMIC_RELAXED);
	return i;
}

static void count_in(struct refusals *a, struct refusal *e, const struct record *r, int64_t end_us)
{
	if (e->row.count == 0) {
		e->row.first_us = r->start_us;
		e->row.last_us = end_us;
		e->row.bytes_up = 0;
		e->row.bytes_down = 0;
	}
	if (r->start_us < e->row.first_us)
		e->row.first_us = r->start_us;
	if (end_us > e->row.last_us)
		e->row.last_us = end_us;
	e->row.count++;
	e->row.bytes_up += r->bytes_up;
	e->row.bytes_down += r->bytes_down;
	__atomic_add_fetch(&a->added, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&a->pending, 1, __ATOMIC_RELAXED);
}

int refusals_add(struct refusals *a, const struct record *r)
{
	struct refusal_key k;
	int64_t end_us = r->start_us + (int64_t)r->duration_ms * 1000;
	int64_t minute = end_us >= 0 ? end_us / 60000000 : -((-end_us + 59999999) / 60000000);
	int ret = 0;

	key_of(&k, r, minute);
	uint32_t b = (uint32_t)key_hash(&k) & (a->nbucket - 1);
	pthread_mutex_lock(&a->lock);
	uint32_t i = find(a, &k, b);
	if (i == NONE) {
		if (a->used < a->max) {
			i = insert(a, &k, b, r);
			ret = 1;
		} else {
			other_key(&k, r, minute);
			b = (uint32_t)key_hash(&k) & (a->nbucket - 1);
			i = find(a, &k, b);
			if (i == NONE && a->free_head != NONE) {
				i = insert(a, &k, b, r);
				ret = 1;
			}
		}
	}
	if (i == NONE) {
		pthread_mutex_unlock(&a->lock);
		return -1;
	}
	count_in(a, &a->e[i], r, end_us);
	pthread_mutex_unlock(&a->lock);
	return ret;
}

uint64_t refusals_added(struct refusals *a)
{
	return __atomic_load_n(&a->added, __ATOMIC_RELAXED);
}

uint64_t refusals_pending(struct refusals *a)
{
	return __atomic_load_n(&a->pending, __ATOMIC_RELAXED);
}

int64_t refusals_next_ms(struct refusals *a)
{
	if (__atomic_load_n(&a->n_fresh, __ATOMIC_RELAXED))
		return 0;
	return __atomic_load_n(&a->sweep_ms, __ATOMIC_RELAXED);
}

bool refusals_due(struct refusals *a, int64_t wall_ms, bool all)
{
	if (all)
		return refusals_pending(a) > 0 || __atomic_load_n(&a->n_fresh, __ATOMIC_RELAXED) > 0;
	return refusals_next_ms(a) <= wall_ms;
}

/* Under the lock: the entry's pending refusals into out (when any). */
static void take_row(struct refusals *a, struct refusal *e, struct refusal_rows *out)
{
	if (e->row.count == 0)
		return;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		struct refusal_row *v = realloc(out->v, cap * sizeof(*v));
		if (!v)
			return; /* out of memory: stays pending, taken next time */
		out->v = v;
		out->cap = cap;
	}
	out->v[out->n++] = e->row;
	__atomic_sub_fetch(&a->pending, e->row.count, __ATOMIC_RELAXED);
	e->row.count = 0;
}

static void unlink_entry(struct refusals *a, uint32_t i)
{
	uint32_t b = (uint32_t)key_hash(&a->e[i].k) & (a->nbucket - 1);
	uint32_t *p = &a->bucket[b];
	while (*p != i)
		p = &a->e[*p].next;
	*p = a->e[i].next;
	a->e[i].next = a->free_head;
	a->free_head = i;
	a->used--;
}

void refusals_take(struct refusals *a, int64_t wall_ms, bool all, struct refusal_rows *out)
{
	out->n = 0;
	pthread_mutex_lock(&a->lock);
	/* new keys: their first row now */
	for (uint32_t i = a->fresh_head; i != NONE; i = a->e[i].fresh_next)
		take_row(a, &a->e[i], out);
	a->fresh_head = a->fresh_tail = NONE;
	__atomic_store_n(&a->n_fresh, 0, __ATOMIC_RELAXED);
	if (all || a->sweep_ms <= wall_ms) {
		/* minutes that are over: their rest, and the entries go */
		int64_t next = INT64_MAX;
		/* freed slots go back to the head of the free list, so entries
		 * in use are all below hwm: the sweep leaves the never-used
		 * rest of the table untouched (not resident) */
		for (uint32_t i = 0; i < a->hwm; i++) {
			struct refusal *e = &a->e[i];
			if (e->k.reason == REASON_NONE)
				continue; /* free: every reason held is one of identity_less[] */
			int64_t due = (e->k.minute + 1) * 60000 + REFUSALS_GRACE_MS;
			if (all || due <= wall_ms)
				take_row(a, e, out);
			if (due <= wall_ms && e->row.count == 0) {
				unlink_entry(a, i);
				e->k.reason = REASON_NONE; /* marks the slot free for this loop */
			} else if (due < next) {
				next = due;
			}
		}
		__atomic_store_n(&a->sweep_ms, next, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&a->lock);
}
