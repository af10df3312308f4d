/*
 * lru: an intrusive least-recently-used list. An object embeds a struct
 * lru_node and is on at most one list through it; the list is ordered from
 * the least recently used (lru_oldest()) to the most recently used, so
 * eviction and idle expiry look at the head only and every operation is
 * O(1).
 *
 * The list owns nothing: it neither allocates nor frees, and an object must
 * be taken off (lru_remove()) before it is freed or put on another list.
 * No locks: a list has one owner thread. Header only.
 *
 *	struct flow { ...; struct lru_node lru; };
 *	lru_append(&t->idle, &f->lru);           // new: the most recent
 *	lru_touch(&t->idle, &f->lru);            // seen again
 *	struct flow *old = LRU_ENTRY(lru_oldest(&t->idle), struct flow, lru);
 */
#ifndef BREAKTIME_LRU_H
#define BREAKTIME_LRU_H

#include <stddef.h>

struct lru_node {
	struct lru_node *prev, *next;   /* next: more recently used */
};

struct lru {
	struct lru_node *head, *tail;   /* least and most recently used; NULL when empty */
};

/* The object n is embedded in, as `member` of a `type`; NULL for a NULL n. */
#define LRU_ENTRY(n, type, member) ((type *)lru_container_of((n), offsetof(type, member)))

static inline void *lru_container_of(struct lru_node *n, size_t offset)
{
	return n ? (void *)((char *)n - offset) : NULL;
}

static inline struct lru_node *lru_oldest(const struct lru *l)
{
	return l->head;
}

/* The next more recently used node, or NULL after the newest. */
static inline struct lru_node *lru_newer(const struct lru_node *n)
{
	return n->next;
}

/* n (on no list) becomes the most recently used of l. */
static inline void lru_append(struct lru *l, struct lru_node *n)
{
	n->prev = l->tail;
	n->next = NULL;
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
}

/* Take n off l (it must be on l). */
static inline void lru_remove(struct lru *l, struct lru_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

/* n (on l) was used just now: it becomes the most recent. */
static inline void lru_touch(struct lru *l, struct lru_node *n)
{
	if (l->tail != n) {
		lru_remove(l, n);
		lru_append(l, n);
	}
}

#endif
