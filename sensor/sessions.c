/*
 * sessions: the proxy's recent authenticated sessions. See sessions.h.
 */
#include "sessions.h"

#include <arpa/inet.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fnv.h"
#include "log.h"
#include "strutil.h"

#define BUCKETS 8192

struct entry {
	struct entry *next;
	uint8_t family;
	uint8_t addr[16];
	char user[64];
	int64_t first_ms, last_ms;
};

struct sessions {
	char *path;
	int64_t window_ms;
	sqlite3 *db;
	sqlite3_stmt *rows;
	bool open_failed;        /* logged once */
	int64_t last_refresh_us;
	bool refreshed;
	unsigned n;
	bool full_logged;
	struct entry *bucket[BUCKETS];
};

static unsigned hash_addr(uint8_t family, const uint8_t *a)
{
	return fnv32_bytes(FNV32_OFFSET, a, family == AF_INET ? 4 : 16) & (BUCKETS - 1);
}

static struct entry **find(struct sessions *ss, uint8_t family, const uint8_t *a)
{
	size_t len = family == AF_INET ? 4 : 16;
	struct entry **p = &ss->bucket[hash_addr(family, a)];
	while (*p && !((*p)->family == family && memcmp((*p)->addr, a, len) == 0))
		p = &(*p)->next;
	return p;
}

struct sessions *sessions_create(const char *db_path, unsigned window_s)
{
	if (!db_path || !window_s)
		return NULL;
	struct sessions *ss = calloc(1, sizeof(*ss));
	if (!ss || !(ss->path = strdup(db_path))) {
		free(ss);
		return NULL;
	}
	ss->window_ms = (int64_t)window_s * 1000;
	return ss;
}

static void clear(struct sessions *ss)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		struct entry *e = ss->bucket[i];
		while (e) {
			struct entry *next = e->next;
			free(e);
			e = next;
		}
		ss->bucket[i] = NULL;
	}
	ss->n = 0;
}

static void close_db(struct sessions *ss)
{
	sqlite3_finalize(ss->rows);
	sqlite3_close(ss->db);
	ss->rows = NULL;
	ss->db = NULL;
}

void sessions_destroy(struct sessions *ss)
{
	if (!ss)
		return;
	clear(ss);
	close_db(ss);
	free(ss->path);
	free(ss);
}

static int open_db(struct sessions *ss)
{
	if (ss->db)
		return 0;
	int rc = sqlite3_open_v2(ss->path, &ss->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(ss->db, 200);
		rc = sqlite3_prepare_v2(ss->db,
					"SELECT client, user, first_ms, last_ms FROM sessions"
					" WHERE last_ms >= ?1 AND first_ms <= ?2 ORDER BY last_ms LIMIT ?3",
					-1, &ss->rows, NULL);
	}
	if (rc != SQLITE_OK) {
		if (!ss->open_failed)
			log_warn("%s: cannot read the proxy's sessions (attribution by address only "
				 "until it can): %s", ss->path, ss->db ? sqlite3_errmsg(ss->db) : "?");
		ss->open_failed = true;
		close_db(ss);
		return -1;
	}
	if (ss->open_failed)
		log_info("%s: reading the proxy's sessions", ss->path);
	ss->open_failed = false;
	return 0;
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
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(addr, v4mapped, 12) == 0) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	} else {
		*family = AF_INET6;
	}
	return true;
}

static void add_row(struct sessions *ss, const char *client, const char *user, int64_t first,
		    int64_t last)
{
	uint8_t family, addr[16];
	/* an unidentified client's user is its own address: not a session */
	if (!client || !user || !*user || strcmp(client, user) == 0 || strlen(user) >= 64 ||
	    !parse_client(client, &family, addr))
		return;
	struct entry **p = find(ss, family, addr);
	struct entry *e = *p;
	if (e) {
		if (strcmp(e->user, user) == 0 && first <= e->last_ms + ss->window_ms &&
		    last >= e->first_ms - ss->window_ms) {
			/* the same person's session goes on */
			if (first < e->first_ms)
				e->first_ms = first;
			if (last > e->last_ms)
				e->last_ms = last;
			return;
		}
		if (last < e->last_ms)
			return;   /* an older session than the one we have */
	} else {
		if (ss->n >= SESSIONS_MAX) {
			if (!ss->full_logged)
				log_warn("sessions: more than %d clients in the window; the rest go by address",
					 SESSIONS_MAX);
			ss->full_logged = true;
			return;
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		e->family = family;
		memcpy(e->addr, addr, 16);
		*p = e;
		ss->n++;
	}
	str_copy(e->user, sizeof(e->user), user);
	e->first_ms = first;
	e->last_ms = last;
}

void sessions_refresh(struct sessions *ss, int64_t now_us)
{
	if (!ss)
		return;
	int64_t now_ms = now_us / 1000;
	ss->last_refresh_us = now_us;
	ss->refreshed = true;
	if (open_db(ss) < 0)
		return;
	/* the sessions around now, the latest last: a client's most recent
	 * person wins. Rebuilt whole: a few rows per client in the window. */
	clear(ss);
	sqlite3_reset(ss->rows);
	sqlite3_bind_int64(ss->rows, 1, now_ms - ss->window_ms);
	sqlite3_bind_int64(ss->rows, 2, now_ms + ss->window_ms);
	sqlite3_bind_int(ss->rows, 3, SESSIONS_ROWS_PER_REFRESH);
	int rc;
	while ((rc = sqlite3_step(ss->rows)) == SQLITE_ROW)
		add_row(ss, (const char *)sqlite3_column_text(ss->rows, 0),
			(const char *)sqlite3_column_text(ss->rows, 1),
			sqlite3_column_int64(ss->rows, 2), sqlite3_column_int64(ss->rows, 3));
	sqlite3_reset(ss->rows);
	if (rc != SQLITE_DONE) {
		log_warn("%s: reading the proxy's sessions: %s", ss->path, sqlite3_errmsg(ss->db));
		close_db(ss);
	}
}

void sessions_tick(struct sessions *ss, int64_t now_us)
{
	if (!ss)
		return;
	if (ss->refreshed && now_us >= ss->last_refresh_us &&
	    now_us - ss->last_refresh_us < (int64_t)SESSIONS_REFRESH_S * 1000000)
		return;
	sessions_refresh(ss, now_us);
}

const char *sessions_user(const struct sessions *ss, int family, const uint8_t *addr,
			  int64_t ts_us)
{
	if (!ss || ss->n == 0)
		return NULL;
	struct entry *const *p = find((struct sessions *)ss, (uint8_t)family, addr);
	const struct entry *e = *p;
	int64_t t = ts_us / 1000;
	if (!e || t < e->first_ms - ss->window_ms || t > e->last_ms + ss->window_ms)
		return NULL;
	return e->user;
}

unsigned sessions_count(const struct sessions *ss)
{
	return ss ? ss->n : 0;
}
