/* Unit tests: the intrusive LRU list (common/lru.h) the sensor's tables use. */
#include <check.h>

#include "check_run.h"
#include "lru.h"

struct item {
	int id;
	struct lru_node lru;   /* not first: LRU_ENTRY must subtract the offset */
};

/* The ids from oldest to newest, and the same list walked backwards. */
static void expect(const struct lru *l, const int *ids, int n)
{
	int i = 0;
	for (struct lru_node *x = lru_oldest(l); x; x = lru_newer(x), i++) {
		ck_assert_int_lt(i, n);
		ck_assert_int_eq(LRU_ENTRY(x, struct item, lru)->id, ids[i]);
	}
	ck_assert_int_eq(i, n);
	for (struct lru_node *x = l->tail; x; x = x->prev)
		ck_assert_int_eq(LRU_ENTRY(x, struct item, lru)->id, ids[--i]);
	ck_assert_int_eq(i, 0);
	ck_assert(n ? l->head && l->tail : !l->head && !l->tail);
}

START_TEST(test_order)
{
	struct lru l = {0};
	struct item it[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};

	expect(&l, NULL, 0);
	ck_assert_ptr_null(LRU_ENTRY(lru_oldest(&l), struct item, lru));
	for (int i = 0; i < 4; i++)
		lru_append(&l, &it[i].lru);
	expect(&l, (const int[]){0, 1, 2, 3}, 4);
	ck_assert_ptr_eq(LRU_ENTRY(lru_oldest(&l), struct item, lru), &it[0]);

	lru_touch(&l, &it[0].lru);          /* the head becomes the newest */
	expect(&l, (const int[]){1, 2, 3, 0}, 4);
	lru_touch(&l, &it[2].lru);          /* from the middle */
	expect(&l, (const int[]){1, 3, 0, 2}, 4);
	lru_touch(&l, &it[2].lru);          /* already the newest: no change */
	expect(&l, (const int[]){1, 3, 0, 2}, 4);
}
END_TEST

START_TEST(test_remove)
{
	struct lru l = {0};
	struct item it[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
	for (int i = 0; i < 3; i++)
		lru_append(&l, &it[i].lru);

	lru_remove(&l, &it[1].lru);         /* middle */
	expect(&l, (const int[]){0, 2}, 2);
	ck_assert_ptr_null(it[1].lru.prev);
	ck_assert_ptr_null(it[1].lru.next);
	lru_remove(&l, &it[2].lru);         /* tail */
	expect(&l, (const int[]){0}, 1);
	lru_remove(&l, &it[0].lru);         /* the last one */
	expect(&l, NULL, 0);

	/* taken off, a node can go back on */
	lru_append(&l, &it[1].lru);
	lru_append(&l, &it[0].lru);
	expect(&l, (const int[]){1, 0}, 2);
}
END_TEST

/* Eviction as the sensor does it: drop the oldest until the list is empty. */
START_TEST(test_drain)
{
	struct lru l = {0};
	struct item it[5];
	for (int i = 0; i < 5; i++) {
		it[i].id = i;
		lru_append(&l, &it[i].lru);
	}
	lru_touch(&l, &it[1].lru);
	const int order[] = {0, 2, 3, 4, 1};
	int n = 0;
	struct item *x;
	while ((x = LRU_ENTRY(lru_oldest(&l), struct item, lru))) {
		ck_assert_int_eq(x->id, order[n++]);
		lru_remove(&l, &x->lru);
	}
	ck_assert_int_eq(n, 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lru");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_drain);
	suite_add_tcase(s, tc);
	return check_run(s);
}
