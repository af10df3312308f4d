/*
 * bindings: which person a client address stands for when it cannot say so
 * itself (an intercepted device answers no 407). Two kinds of entry, one
 * table shared by all workers:
 *   - a sign-in (signin.c): the person signed in on the sign-in page from
 *     this address; it holds until its expiry ([auth] sign_in_expiry,
 *     default the end of the site-local day);
 *   - a recent authenticated explicit-proxy session from this address: the
 *     same person's phone or laptop also used the proxy with credentials;
 *     it holds for BINDING_EXPLICIT_S after the last such request.
 * A sign-in wins over an explicit session; the newest sign-in wins.
 *
 * Open addressing over a fixed table (BINDING_SLOTS, the most addresses a
 * site signs in at once); when it is full the entry nearest its expiry is
 * replaced. A mutex guards it: lookups happen once per intercepted flow and
 * notes once per authenticated connection, never per byte.
 */
#include "bindings.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "fnv.h"
#include "netaddr.h"

#define BINDING_SLOTS 4096
#define BINDING_EXPLICIT_S 600   /* an explicit session vouches for its address this long */

struct binding {
	struct sockaddr_any addr;   /* family 0: free */
	char user[64];
	int64_t until;              /* unix time */
	bool signed_in;
};

static struct binding table[BINDING_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const struct sockaddr *sa)
{
	const void *p;
	size_t n;

	if (sa->sa_family == AF_INET6) {
		p = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		n = 16;
	} else {
		p = &((const struct sockaddr_in *)sa)->sin_addr;
		n = 4;
	}
	return fnv32_bytes(FNV32_OFFSET, p, n) % BINDING_SLOTS;
}

/* The entry for sa, or where it goes (a free slot, else the one expiring first). */
static struct binding *find(const struct sockaddr *sa, bool *found)
{
	size_t s = slot_of(sa);
	struct binding *victim = NULL;

	for (size_t i = 0; i < 32; i++) {
		struct binding *b = &table[(s + i) % BINDING_SLOTS];
		if (b->addr.u.sa.sa_family == 0) {
			*found = false;
			return b;
		}
		if (sockaddr_same_host(&b->addr.u.sa, sa)) {
			*found = true;
			return b;
		}
		if (!victim || b->until < victim->until)
			victim = b;
	}
	*found = false;
	return victim;
}

static void put(const struct sockaddr *sa, const char *user, int64_t until, bool signed_in)
{
	bool found;

	pthread_mutex_lock(&lock);
	struct binding *b = find(sa, &found);
	/* an explicit session does not replace a sign-in still in force */
	if (!(found && b->signed_in && !signed_in && b->until > until - BINDING_EXPLICIT_S)) {
		memset(b, 0, sizeof(*b));
		b->addr.len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		memcpy(&b->addr.u.sa, sa, b->addr.len);
		snprintf(b->user, sizeof(b->user), "%s", user);
		b->until = until;
		b->signed_in = signed_in;
	}
	pthread_mutex_unlock(&lock);
}

void bindings_sign_in(const struct sockaddr *sa, const char *user, int64_t until)
{
	put(sa, user, until, true);
}

void bindings_note_explicit(const struct sockaddr *sa, const char *user, int64_t now)
{
	put(sa, user, now + BINDING_EXPLICIT_S, false);
}

bool bindings_user(const struct sockaddr *sa, int64_t now, char user[64], bool *signed_in)
{
	bool found, ok = false;

	pthread_mutex_lock(&lock);
	struct binding *b = find(sa, &found);
	if (found && b->until > now) {
		memcpy(user, b->user, 64);
		if (signed_in)
			*signed_in = b->signed_in;
		ok = true;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

void bindings_sign_out(const struct sockaddr *sa)
{
	bool found;

	pthread_mutex_lock(&lock);
	struct binding *b = find(sa, &found);
	if (found)
		b->until = 0;
	pthread_mutex_unlock(&lock);
}
