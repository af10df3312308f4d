/*
 * acks: who chose "Continue" on the warn interstitial. A person over the
 * allowance with over_allowance = warn is asked once per platform and local
 * day; after that the warn verdict lets them through (conn.c asks
 * enforce_warn_acked() right after the decision). The Continue page
 * (pages_enforce.c) adds an acknowledgement, and at start main.c restores
 * today's from the store's warn-continued records.
 *
 * DESIGN. A fixed table of ACK_SLOTS slots, each holding one key "person
 * NUL platform" (zero-filled, compared whole) and its day, indexed by the
 * key's FNV-1a hash. A newer acknowledgement whose key lands on a taken slot
 * replaces the older one: the person who lost theirs is asked again, which
 * costs a page, never a wrong answer. Nothing is allocated; the table lives
 * as long as the process and survives reloads.
 *
 * Threads: any worker; one mutex, held for a compare or a copy. Must never
 * say yes for another person, platform or day.
 */
#include "acks.h"

#include "conn.h"
#include "enforce.h"

#include <pthread.h>
#include <string.h>

#define ACK_SLOTS 4096

struct ack {
	char key[160];          /* user NUL platform */
	int64_t day;
};

static pthread_mutex_t ack_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ack acks[ACK_SLOTS];

static struct ack *ack_slot(const char *person, const char *platform, char key[160])
{
	memset(key, 0, 160);
	size_t a = strlen(person), b = strlen(platform);
	if (a > 100)
		a = 100;
	if (b > 50)
		b = 50;
	/* NOLINTBEGIN(bugprone-not-null-terminated-result): a zero-filled binary key */
	memcpy(key, person, a);
	memcpy(key + a + 1, platform, b);
	/* NOLINTEND(bugprone-not-null-terminated-result) */
	unsigned h = 2166136261u;
	for (size_t i = 0; i < a + 1 + b; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return &acks[h % ACK_SLOTS];
}

bool enforce_warn_acked(struct conn *c, const char *platform)
{
	char person[64], key[160];
	enforce_person_key(c, person, sizeof(person));
	int64_t day = enforce_local_day(c, time(NULL));
	pthread_mutex_lock(&ack_lock);
	struct ack *a = ack_slot(person, platform, key);
	bool ok = a->day == day && memcmp(a->key, key, sizeof(key)) == 0;
	pthread_mutex_unlock(&ack_lock);
	return ok;
}

void enforce_warn_ack(struct conn *c, const char *platform)
{
	char person[64], key[160];
	enforce_person_key(c, person, sizeof(person));
	int64_t day = enforce_local_day(c, time(NULL));
	pthread_mutex_lock(&ack_lock);
	struct ack *a = ack_slot(person, platform, key);
	memcpy(a->key, key, sizeof(key));
	a->day = day;
	pthread_mutex_unlock(&ack_lock);
}

void enforce_warn_restore(const char *person, const char *platform, int64_t day)
{
	char key[160];
	pthread_mutex_lock(&ack_lock);
	struct ack *a = ack_slot(person, platform, key);
	memcpy(a->key, key, sizeof(key));
	a->day = day;
	pthread_mutex_unlock(&ack_lock);
}
