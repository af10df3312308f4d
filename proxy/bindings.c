/*
 * bindings: which person a client address stands for when it cannot say so
 * itself (an intercepted device answers no 407). Kinds of entry, in one
 * table of addresses shared by all workers:
 *   - a sign-in (signin.c): the person signed in on the sign-in page from
 *     this address; it holds until its expiry ([auth] sign_in_expiry,
 *     default the end of the site-local day);
 *   - a device's new address: the gateway's neighbour table (neigh.c) gives
 *     the address the MAC address of a device bound by a sign-in (a DHCP
 *     renewal, an IPv6 privacy address): the same person, until the same
 *     expiry;
 *   - a recent authenticated explicit-proxy session from this address: the
 *     same person's phone or laptop also used the proxy with credentials;
 *     it holds for BINDING_EXPLICIT_S after the last such request.
 * A sign-in wins over an explicit session; the newest sign-in of an
 * address wins. A signed-in binding whose address the neighbour table now
 * gives another device's MAC address ends there (the device left, and
 * DHCP gave the address to another).
 *
 * Sign-ins, new addresses and ends are recorded in the store's bindings
 * table (store_submit_binding), which breaktime-sensor attributes by and
 * from which main.c restores the bindings in force at start: a restart
 * signs nobody out. A sign-in is recorded once the neighbour table has
 * answered for its address (bindings_on_neigh, on the neighbour thread),
 * with the device's MAC address when the address has one (a routed client
 * or this host itself has none).
 *
 * DESIGN. Two tables with open addressing and no allocation: addresses
 * (BINDING_SLOTS, the most a site has bound at once) and MAC addresses
 * (MAC_SLOTS), each probed BINDING_PROBE slots from the key's hash; when
 * those are taken, the entry nearest its expiry is replaced. An ended
 * address keeps its slot (until 0), so probing never stops early. A MAC
 * entry is the newest binding in force with that MAC address; when an
 * address binding carrying it ends or is replaced, it is looked for again
 * among the addresses (a scan, on those rare events only). One mutex
 * guards both: taken once per intercepted flow and per authenticated
 * connection, never per byte, and never around I/O (the neighbour table is
 * asked through its cache; records are submitted after it is released).
 */
#include "bindings.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "fnv.h"
#include "log.h"
#include "neigh.h"
#include "netaddr.h"
#include "store.h"
#include "storeq.h"

#define BINDING_SLOTS 4096
#define MAC_SLOTS 4096
#define BINDING_PROBE 32
#define BINDING_EXPLICIT_S 600   /* an explicit session vouches for its address this long */

struct binding {
	uint8_t family;             /* 0: free */
	uint8_t addr[16];           /* sockaddr_host_key() */
	char user[64];
	int64_t since_ms, until_ms; /* wall clock; until 0: ended */
	uint8_t mac[6];
	bool has_mac;
	bool signed_in;             /* a sign-in or a device's new address, not an explicit session */
	bool mac_pending;           /* a sign-in not recorded yet: the neighbour table is asked */
};

struct mac_binding {
	bool used;
	uint8_t mac[6];
	char user[64];
	int64_t since_ms, until_ms;
};

static struct binding table[BINDING_SLOTS];
static struct mac_binding macs[MAC_SLOTS];
static int64_t mac_until_max;   /* no MAC binding is in force after this */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct store *store;

/* ---- the tables (under the lock) ---- */

/* The entry of (family, addr), or where it goes (a free slot, else the one expiring first). */
static struct binding *addr_find(int family, const uint8_t addr[16], bool *found)
{
	size_t s = fnv32_bytes(FNV32_OFFSET, addr, 16) % BINDING_SLOTS;
	struct binding *victim = NULL;

	for (size_t i = 0; i < BINDING_PROBE; i++) {
		struct binding *b = &table[(s + i) % BINDING_SLOTS];
		if (b->family == 0) {
			*found = false;
			return b;
		}
		if (b->family == family && memcmp(b->addr, addr, 16) == 0) {
			*found = true;
			return b;
		}
		if (!victim || b->until_ms < victim->until_ms)
			victim = b;
	}
	*found = false;
	return victim;
}

static struct mac_binding *mac_find(const uint8_t mac[6], bool *found)
{
	size_t s = fnv32_bytes(FNV32_OFFSET, mac, 6) % MAC_SLOTS;
	struct mac_binding *victim = NULL;

	for (size_t i = 0; i < BINDING_PROBE; i++) {
		struct mac_binding *m = &macs[(s + i) % MAC_SLOTS];
		if (!m->used) {
			*found = false;
			return m;
		}
		if (memcmp(m->mac, mac, 6) == 0) {
			*found = true;
			return m;
		}
		if (!victim || m->until_ms < victim->until_ms)
			victim = m;
	}
	*found = false;
	return victim;
}

/* The device with this MAC address is the person's from since to until (the newest wins). */
static void mac_put(const uint8_t mac[6], const char *user, int64_t since_ms, int64_t until_ms)
{
	bool found;
	struct mac_binding *m = mac_find(mac, &found);

	if (found && m->since_ms > since_ms && m->until_ms > since_ms)
		return; /* a newer one */
	m->used = true;
	memcpy(m->mac, mac, 6);
	snprintf(m->user, sizeof(m->user), "%s", user);
	m->since_ms = since_ms;
	m->until_ms = until_ms;
	if (until_ms > mac_until_max)
		mac_until_max = until_ms;
}

/* An address binding with this MAC address ended or was replaced: the
 * device's entry is the newest one still in force, if any. */
static void mac_recompute(const uint8_t mac[6], int64_t now_ms)
{
	bool found;
	struct mac_binding *m = mac_find(mac, &found);
	const struct binding *best = NULL;

	if (!found)
		return;
	for (size_t i = 0; i < BINDING_SLOTS; i++) {
		const struct binding *b = &table[i];
		if (b->family && b->signed_in && b->has_mac && b->until_ms > now_ms &&
		    memcmp(b->mac, mac, 6) == 0 && (!best || b->since_ms > best->since_ms))
			best = b;
	}
	if (!best) {
		m->until_ms = 0;
		return;
	}
	snprintf(m->user, sizeof(m->user), "%s", best->user);
	m->since_ms = best->since_ms;
	m->until_ms = best->until_ms;
}

/* Bind an address; the binding it replaces, if any, in *old (its MAC
 * address, for mac_recompute). */
static struct binding *addr_put(int family, const uint8_t key[16], const char *user, int64_t since_ms,
				int64_t until_ms, bool signed_in, struct binding *old)
{
	bool found;
	struct binding *b = addr_find(family, key, &found);

	memset(old, 0, sizeof(*old));
	if (b->family)
		*old = *b;
	memset(b, 0, sizeof(*b));
	b->family = (uint8_t)family;
	memcpy(b->addr, key, 16);
	snprintf(b->user, sizeof(b->user), "%s", user);
	b->since_ms = since_ms;
	b->until_ms = until_ms;
	b->signed_in = signed_in;
	return b;
}

static void key_sockaddr(int family, const uint8_t key[16], struct sockaddr_any *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->u.sa;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, key, 4);
		out->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->u.sa;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, key, 16);
		out->len = sizeof(*sin6);
	}
}

/* The store row of a binding (or of its end at now). */
static void row_of(const struct binding *b, enum store_binding_how how, int64_t now_ms,
		   struct store_binding *row)
{
	memset(row, 0, sizeof(*row));
	key_sockaddr(b->family, b->addr, &row->client);
	memcpy(row->mac, b->mac, 6);
	row->has_mac = b->has_mac;
	snprintf(row->user, sizeof(row->user), "%s", b->user);
	row->since_ms = how == STORE_BINDING_END ? now_ms : b->since_ms;
	row->until_ms = b->until_ms;
	row->how = how;
}

/* ---- the entry points ---- */

void bindings_open(struct store *s)
{
	store = s;
}

bool bindings_restore(const struct store_binding_row *row)
{
	uint8_t key[16] = {0}, mac[6];
	int family = AF_INET;
	struct binding old;

	if (inet_pton(AF_INET, row->client, key) != 1) {
		family = AF_INET6;
		if (inet_pton(AF_INET6, row->client, key) != 1)
			return false;
	}
	bool has_mac = row->mac != NULL;
	if (has_mac && !mac_parse(row->mac, mac))
		return false;
	pthread_mutex_lock(&lock);
	struct binding *b = addr_put(family, key, row->user, row->since_ms, row->until_ms, true, &old);
	if (has_mac) {
		memcpy(b->mac, mac, 6);
		b->has_mac = true;
		mac_put(mac, row->user, row->since_ms, row->until_ms);
	}
	pthread_mutex_unlock(&lock);
	return true;
}

void bindings_close(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < BINDING_SLOTS; i++) {
		struct binding *b = &table[i];
		if (b->family && b->mac_pending) {
			struct store_binding row;
			b->mac_pending = false;
			row_of(b, STORE_BINDING_SIGN_IN, 0, &row);
			store_submit_binding(store, &row);
		}
	}
	pthread_mutex_unlock(&lock);
}

void bindings_sign_in(const struct sockaddr *sa, const char *user, int64_t now, int64_t until)
{
	uint8_t key[16], mac[6];
	int family = sockaddr_host_key(sa, key);
	struct binding old;

	if (!family)
		return;
	/* bound at once; recorded once the neighbour table has answered. The
	 * binding waits for the answer before the question is asked: the
	 * neighbour thread may answer before this thread runs again. */
	pthread_mutex_lock(&lock);
	struct binding *b = addr_put(family, key, user, now * 1000, until * 1000, true, &old);
	b->mac_pending = true;
	if (old.family && old.has_mac)
		mac_recompute(old.mac, now * 1000);
	pthread_mutex_unlock(&lock);
	enum neigh_answer ans = neigh_get(sa, mac);
	if (ans != NEIGH_WAIT)
		bindings_on_neigh(sa, ans == NEIGH_MAC ? mac : NULL); /* cached, or none to be had */
}

void bindings_on_neigh(const struct sockaddr *sa, const uint8_t *mac)
{
	uint8_t key[16];
	int family = sockaddr_host_key(sa, key);
	struct store_binding row;
	bool found, record = false;

	if (!family)
		return;
	pthread_mutex_lock(&lock);
	struct binding *b = addr_find(family, key, &found);
	if (found && b->mac_pending) {
		/* the first answer settles it (a cached one, or the thread's) */
		b->mac_pending = false;
		if (mac) {
			memcpy(b->mac, mac, 6);
			b->has_mac = true;
			mac_put(mac, b->user, b->since_ms, b->until_ms);
		}
		row_of(b, STORE_BINDING_SIGN_IN, 0, &row);
		record = true;
	}
	pthread_mutex_unlock(&lock);
	if (record)
		store_submit_binding(store, &row);
}

void bindings_note_explicit(const struct sockaddr *sa, const char *user, int64_t now)
{
	uint8_t key[16];
	int family = sockaddr_host_key(sa, key);
	bool found;
	struct binding old;

	if (!family)
		return;
	pthread_mutex_lock(&lock);
	struct binding *b = addr_find(family, key, &found);
	/* an explicit session does not replace a sign-in still in force */
	if (!(found && b->signed_in && b->until_ms > now * 1000)) {
		addr_put(family, key, user, now * 1000, (now + BINDING_EXPLICIT_S) * 1000, false, &old);
		if (old.family && old.has_mac)
			mac_recompute(old.mac, now * 1000);
	}
	pthread_mutex_unlock(&lock);
}

bool bindings_wants_mac(const struct sockaddr *sa, int64_t now)
{
	uint8_t key[16], mac[6];
	int family = sockaddr_host_key(sa, key);
	bool found, need;

	if (!family)
		return false;
	pthread_mutex_lock(&lock);
	const struct binding *b = addr_find(family, key, &found);
	if (found && b->signed_in && b->until_ms > now * 1000)
		need = b->has_mac;                   /* is it still that device? */
	else
		need = mac_until_max > now * 1000;   /* is it a bound device's new address? */
	pthread_mutex_unlock(&lock);
	return need && neigh_get(sa, mac) == NEIGH_WAIT;
}

bool bindings_identify(const struct sockaddr *sa, int64_t now, char user[64], bool *signed_in)
{
	uint8_t key[16], mac[6];
	int family = sockaddr_host_key(sa, key);
	int64_t now_ms = now * 1000;
	struct store_binding rows[2];
	int n_rows = 0;
	bool found, ok = false;

	if (!family)
		return false;
	enum neigh_answer ans = neigh_get(sa, mac);
	pthread_mutex_lock(&lock);
	struct binding *b = addr_find(family, key, &found);
	bool live = found && b->until_ms > now_ms;
	if (live && b->signed_in && b->has_mac && ans == NEIGH_MAC && memcmp(b->mac, mac, 6) != 0) {
		/* another device has the address now: the binding ends here */
		row_of(b, STORE_BINDING_END, now_ms, &rows[n_rows++]);
		uint8_t old_mac[6];
		memcpy(old_mac, b->mac, 6);
		b->until_ms = 0;
		b->has_mac = false;
		mac_recompute(old_mac, now_ms);
		live = false;
	}
	if (live && b->signed_in) {
		ok = true;
	} else if (ans == NEIGH_MAC) {
		/* a device bound by a sign-in, at a new address */
		bool mfound;
		const struct mac_binding *m = mac_find(mac, &mfound);
		if (mfound && m->until_ms > now_ms) {
			struct binding old;
			char who[64];
			snprintf(who, sizeof(who), "%s", m->user);
			b = addr_put(family, key, who, now_ms, m->until_ms, true, &old);
			memcpy(b->mac, mac, 6);
			b->has_mac = true;
			if (old.family && old.has_mac && memcmp(old.mac, mac, 6) != 0)
				mac_recompute(old.mac, now_ms);
			row_of(b, STORE_BINDING_MAC, now_ms, &rows[n_rows++]);
			ok = true;
		}
	}
	if (!ok && live)
		ok = true; /* an explicit session */
	if (ok) {
		memcpy(user, b->user, 64);
		if (signed_in)
			*signed_in = b->signed_in;
	}
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < n_rows; i++) {
		char text[64], mtext[18];
		sockaddr_ntop(sa, text, sizeof(text));
		mac_format(mac, mtext);
		if (rows[i].how == STORE_BINDING_END)
			log_info("binding of %s to %s ended: the address is another device's now (%s)", text,
				 rows[i].user, mtext);
		else
			log_info("bound %s to %s: the same device (%s) as a sign-in", text, rows[i].user, mtext);
		store_submit_binding(store, &rows[i]);
	}
	return ok;
}
