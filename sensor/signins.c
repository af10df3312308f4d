/*
 * signins: intercept mode's bindings, read from the store. See signins.h.
 */
#include "signins.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fnv.h"
#include "log.h"
#include "netaddr.h"
#include "storeq.h"
#include "strutil.h"

#define BUCKETS 8192

struct row {
	uint8_t family;
	uint8_t addr[16];
	bool has_mac;
	uint8_t mac[6];
	char user[64];
	int64_t since_ms, until_ms;
	int32_t next_addr, next_mac;   /* the chains of the buckets, newest first; -1 ends */
};

struct signins {
	char *path;
	struct sqlite3 *db;
	bool open_failed;        /* logged once */
	int64_t last_refresh_us;
	bool refreshed;
	struct row *rows;
	unsigned n, cap;
	bool full_logged;
	int32_t addr_bucket[BUCKETS], mac_bucket[BUCKETS];
};

static unsigned hash_addr(uint8_t family, const uint8_t *a)
{
	return fnv32_bytes(FNV32_OFFSET, a, family == AF_INET ? 4 : 16) & (BUCKETS - 1);
}

static unsigned hash_mac(const uint8_t *mac)
{
	return fnv32_bytes(FNV32_OFFSET, mac, 6) & (BUCKETS - 1);
}

static void clear(struct signins *si)
{
	si->n = 0;
	for (size_t i = 0; i < BUCKETS; i++)
		si->addr_bucket[i] = si->mac_bucket[i] = -1;
}

struct signins *signins_create(const char *db_path)
{
	if (!db_path)
		return NULL;
	struct signins *si = calloc(1, sizeof(*si));
	if (!si || !(si->path = strdup(db_path))) {
		free(si);
		return NULL;
	}
	clear(si);
	return si;
}

void signins_destroy(struct signins *si)
{
	if (!si)
		return;
	store_db_close(si->db);
	free(si->rows);
	free(si->path);
	free(si);
}

static bool parse_client(const char *text, uint8_t *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, text, addr) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, addr) != 1)
		return false;
	*family = AF_INET6;
	return true;
}

/* One row of the store, in the order they began: chained in front. */
static void add_row(void *ctx, const struct store_binding_row *r)
{
	struct signins *si = ctx;
	struct row x;

	memset(&x, 0, sizeof(x));
	if (!parse_client(r->client, &x.family, x.addr) || strlen(r->user) >= sizeof(x.user))
		return;
	x.has_mac = r->mac && mac_parse(r->mac, x.mac);
	str_copy(x.user, sizeof(x.user), r->user);
	x.since_ms = r->since_ms;
	x.until_ms = r->until_ms;
	if (si->n == si->cap) {
		unsigned cap = si->cap ? si->cap * 2 : 256;
		struct row *rows = realloc(si->rows, cap * sizeof(*rows));
		if (!rows)
			return;
		si->rows = rows;
		si->cap = cap;
	}
	int32_t i = (int32_t)si->n++;
	unsigned h = hash_addr(x.family, x.addr);
	x.next_addr = si->addr_bucket[h];
	si->addr_bucket[h] = i;
	x.next_mac = -1;
	if (x.has_mac) {
		unsigned m = hash_mac(x.mac);
		x.next_mac = si->mac_bucket[m];
		si->mac_bucket[m] = i;
	}
	si->rows[i] = x;
}

void signins_refresh(struct signins *si, int64_t now_us)
{
	if (!si)
		return;
	int64_t now_ms = now_us / 1000;
	si->last_refresh_us = now_us;
	si->refreshed = true;
	if (!si->db && !(si->db = store_db_open(si->path, false, 200))) {
		if (!si->open_failed)
			log_warn("%s: cannot open the store for the bindings of intercepted devices "
				 "(attribution without them until it can)", si->path);
		si->open_failed = true;
		return;
	}
	clear(si);
	int n = store_bindings_read(si->db, now_ms - (int64_t)SIGNINS_BACK_S * 1000,
				    now_ms + (int64_t)SIGNINS_REFRESH_S * 1000, SIGNINS_MAX, add_row, si);
	if (n < 0) {
		if (!si->open_failed)
			log_warn("%s: cannot read the bindings of intercepted devices (attribution without "
				 "them until it can)", si->path);
		si->open_failed = true;
		store_db_close(si->db);
		si->db = NULL;
		clear(si);
		return;
	}
	if (si->open_failed)
		log_info("%s: reading the bindings of intercepted devices", si->path);
	si->open_failed = false;
	if (n >= SIGNINS_MAX && !si->full_logged) {
		log_warn("signins: more than %d bindings around %lld: the rest are not attributed by",
			 SIGNINS_MAX, (long long)(now_ms / 1000));
		si->full_logged = true;
	}
}

void signins_tick(struct signins *si, int64_t now_us)
{
	if (!si)
		return;
	if (si->refreshed && now_us >= si->last_refresh_us &&
	    now_us - si->last_refresh_us < (int64_t)SIGNINS_REFRESH_S * 1000000)
		return;
	signins_refresh(si, now_us);
}

const char *signins_user(const struct signins *si, int family, const uint8_t *addr, const uint8_t *mac,
			 int64_t ts_us)
{
	if (!si || si->n == 0)
		return NULL;
	int64_t t = ts_us / 1000;
	size_t alen = family == AF_INET ? 4 : 16;
	for (int32_t i = si->addr_bucket[hash_addr((uint8_t)family, addr)]; i >= 0; i = si->rows[i].next_addr) {
		const struct row *r = &si->rows[i];
		if (r->family == family && memcmp(r->addr, addr, alen) == 0 && r->since_ms <= t && t < r->until_ms)
			return r->user;
	}
	if (!mac)
		return NULL;
	for (int32_t i = si->mac_bucket[hash_mac(mac)]; i >= 0; i = si->rows[i].next_mac) {
		const struct row *r = &si->rows[i];
		if (memcmp(r->mac, mac, 6) == 0 && r->since_ms <= t && t < r->until_ms)
			return r->user;
	}
	return NULL;
}

unsigned signins_count(const struct signins *si)
{
	return si ? si->n : 0;
}
