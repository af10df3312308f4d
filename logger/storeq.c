/*
 * storeq: the presence, warn-acknowledgement and bindings SQL of the processes beside
 * the writer (see storeq.h). Short statements on the caller's connection;
 * never the writer's handle, never on a worker's event loop.
 *
 * The bindings table is written by the writer only (store_submit_binding);
 * here it is read, by breaktimed's main thread at start and by the sensor.
 *
 * The presence table holds both kinds of row: changes by hand (state on,
 * off, auto; from `breaktime presence` and the web UI) and detections
 * (state detected; from breaktimed's own requests and breaktime-sensor's
 * captures). Whoever decides needs the newest of each.
 */
#include "storeq.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "tz.h"

static void copy_text(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

struct sqlite3 *store_db_open(const char *path, bool write, unsigned busy_ms)
{
	sqlite3 *db = NULL;
	int flags = (write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
	if (!path || sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, (int)busy_ms);
	return db;
}

void store_db_close(struct sqlite3 *db)
{
	sqlite3_close(db);
}

int store_presence_latest(struct sqlite3 *db, time_t now, struct store_presence *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	/* an override holds until changed, however old: the newest change ever */
	rc = sqlite3_prepare_v2(db, "SELECT state, COALESCE(expires_ms, 0), ts_ms, cause FROM presence "
				"WHERE state IN ('on', 'off', 'auto') ORDER BY ts_ms DESC, id DESC LIMIT 1",
				-1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		copy_text(out->state, sizeof(out->state), sqlite3_column_text(st, 0));
		out->ps.override = strcmp(out->state, "on") == 0 ? PRESENCE_ON :
				   strcmp(out->state, "off") == 0 ? PRESENCE_OFF : PRESENCE_AUTO;
		out->ps.override_until = (time_t)(sqlite3_column_int64(st, 1) / 1000);
		out->changed_ms = sqlite3_column_int64(st, 2);
		copy_text(out->cause, sizeof(out->cause), sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	/*
	 * Detections: a row per detect_idle (the proxy) or per half of it (the
	 * sensor), so many; the day index bounds the search. The UTC day two
	 * days back is never after the site-local day of one day back.
	 */
	char since[16];
	tz_day_text(tz_floordiv((int64_t)now, TZ_DAY_SECONDS) - 2, since, sizeof(since));
	rc = sqlite3_prepare_v2(db, "SELECT ts_ms, cause FROM presence WHERE day >= ? AND state = 'detected' "
				"ORDER BY ts_ms DESC, id DESC LIMIT 1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			out->ps.last_detected = (time_t)(sqlite3_column_int64(st, 0) / 1000);
			copy_text(out->detected_cause, sizeof(out->detected_cause),
				  sqlite3_column_text(st, 1));
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

int store_presence_add(struct sqlite3 *db, const struct policy *p, const char *state, int64_t until,
		       const char *cause, const char *source)
{
	if (!state || (strcmp(state, "on") != 0 && strcmp(state, "off") != 0 && strcmp(state, "auto") != 0))
		return SQLITE_MISUSE;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char day[16];
	tz_day_text(tz_local_day(policy_tz(p), ts.tv_sec, NULL), day, sizeof(day));

	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO presence (ts_ms, day, state, expires_ms, cause, "
				    "source) VALUES (?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
		if (until)
			sqlite3_bind_int64(st, 4, until * 1000);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, cause, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
	}
	sqlite3_finalize(st);
	return rc;
}

int store_warn_acks_today(struct sqlite3 *db, int64_t day, store_warn_ack_fn *fn, void *ctx)
{
	sqlite3_stmt *st = NULL;
	char text[16];
	int n = 0, rc;

	tz_day_text(day, text, sizeof(text));
	if (sqlite3_prepare_v2(db, "SELECT DISTINCT COALESCE(user, client), platform FROM events "
			       "WHERE day = ? AND reason = 'warn-continued' AND platform IS NOT NULL",
			       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *who = (const char *)sqlite3_column_text(st, 0);
		const char *platform = (const char *)sqlite3_column_text(st, 1);
		if (who && platform) {
			fn(ctx, who, platform);
			n++;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}

int store_bindings_read(struct sqlite3 *db, int64_t from_ms, int64_t to_ms, unsigned max,
			store_binding_fn *fn, void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	/* bindings_until: the rows still in force at from_ms, a few per device */
	rc = sqlite3_prepare_v2(db, "SELECT client, mac, user, since_ms, until_ms, how FROM bindings"
				" WHERE until_ms > ?1 AND since_ms <= ?2 AND until_ms > since_ms"
				" ORDER BY since_ms, id LIMIT ?3", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	sqlite3_bind_int64(st, 3, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_binding_row r = {
			.client = (const char *)sqlite3_column_text(st, 0),
			.mac = (const char *)sqlite3_column_text(st, 1),
			.user = (const char *)sqlite3_column_text(st, 2),
			.since_ms = sqlite3_column_int64(st, 3),
			.until_ms = sqlite3_column_int64(st, 4),
			.how = (const char *)sqlite3_column_text(st, 5),
		};
		if (!r.client || !r.user || !r.how)
			continue;
		fn(ctx, &r);
		n++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}
