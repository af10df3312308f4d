/*
 * Helpers shared by the store's unit tests (test_store.c, test_usage.c):
 * a temporary directory per test, records, a second SQLite connection to
 * look at what the writer wrote.
 */
#ifndef BREAKTIME_TEST_STORE_UTIL_H
#define BREAKTIME_TEST_STORE_UTIL_H

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "store.h"

struct tstore {
	char dir[64];
	char db[128];
	char log[128];
	struct conf conf;
};

static void tstore_init(struct tstore *t, enum log_other mode)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/bt-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/bt.db", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/access.log", t->dir);
	t->conf.store.database = t->db;
	t->conf.store.retention_days = 180;
	t->conf.store.log_other = mode;
	t->conf.store.active_bytes = 2048;
}

static void tstore_finish(struct tstore *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *e;
	char path[512];
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(t->dir);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* A record from 10.0.0.5; platform NULL or "" for non-social traffic. */
static struct record rec(enum record_kind kind, int64_t start_us, const char *user,
			 const char *host, const char *platform, uint64_t bytes, uint32_t ms)
{
	struct record r;
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.source = RECORD_SOURCE_PROXY;
	r.start_us = start_us;
	r.duration_ms = ms;
	struct sockaddr_in *sin = (struct sockaddr_in *)&r.client.u.sa;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.0.5", &sin->sin_addr);
	r.client.len = sizeof(*sin);
	snprintf(r.method, sizeof(r.method), "%s", kind == RECORD_REQUEST ? "GET" : "CONNECT");
	snprintf(r.host, sizeof(r.host), "%s", host);
	r.port = kind == RECORD_REQUEST ? 80 : 443;
	if (kind == RECORD_REQUEST)
		snprintf(r.uri, sizeof(r.uri), "http://%s/", host);
	r.status = kind == RECORD_BLOCKED ? 403 : 200;
	r.bytes_up = bytes / 4;
	r.bytes_down = bytes - bytes / 4;
	r.close_reason = "done";
	if (user)
		snprintf(r.user, sizeof(r.user), "%s", user);
	snprintf(r.group, sizeof(r.group), "staff");
	r.verdict = kind == RECORD_BLOCKED ? VERDICT_BLOCK : VERDICT_ALLOW;
	if (platform && *platform) {
		snprintf(r.platform, sizeof(r.platform), "%s", platform);
		snprintf(r.category, sizeof(r.category), "social");
		r.reason = kind == RECORD_BLOCKED ? REASON_OUTSIDE_ALLOWED_TIME : REASON_ALLOWED;
	} else {
		r.reason = REASON_NOT_SOCIAL;
	}
	return r;
}

static sqlite3 *peek_open(const struct tstore *t)
{
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The first column of the first row of sql as an integer (-1: no row). */
static int64_t q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		ck_abort_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t count(const struct tstore *t, const char *sql)
{
	sqlite3 *db = peek_open(t);
	int64_t v = q1(db, sql);
	sqlite3_close(db);
	return v;
}

/* Poll a stats condition for up to ms. */
#define WAIT_FOR(s, cond, ms)                                                         \
	do {                                                                          \
		struct store_stats st_;                                               \
		for (unsigned w_ = 0; w_ < (ms) / 10; w_++) {                         \
			store_stats((s), &st_);                                       \
			if (cond)                                                     \
				break;                                                \
			sleep_ms(10);                                                 \
		}                                                                     \
	} while (0)

#endif
