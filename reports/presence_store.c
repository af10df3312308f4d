/*
 * presence_store: recording a change of "students present" by hand, for
 * `breaktime presence` (presence.c) and the web UI's toggle (web_pages.c):
 * the same row in the same table, so breaktimed applies both alike and the
 * presence report shows who did it and from where (source `cli` or `web`).
 */
#include "report.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "tz.h"

static int64_t offset_at(const struct policy *p, time_t t)
{
	const struct tz *tz = p ? policy_tz(p) : NULL;
	return tz ? tz_offset(tz, t, NULL, NULL) : 0;
}

int64_t report_local_day(const struct policy *p, time_t t, unsigned *minute)
{
	int64_t l = (int64_t)t + offset_at(p, t);
	int64_t day = tz_floordiv(l, 86400);
	if (minute)
		*minute = (unsigned)((l - day * 86400) / 60);
	return day;
}

int64_t presence_parse_until(const struct policy *p, const char *s, time_t now)
{
	unsigned hh, mm;
	char extra;
	/* two digits each: a wider %u wraps (4294967296:00 was 00:00) */
	if (!s || sscanf(s, "%2u:%2u%c", &hh, &mm, &extra) != 2 || hh > 23 || mm > 59) /* NOLINT(cert-err34-c): fixed width */
		return 0;
	int64_t day = report_local_day(p, now, NULL);
	const struct tz *tz = p ? policy_tz(p) : NULL;
	for (int add = 0; add < 2; add++) {
		int64_t local = (day + add) * 86400 + hh * 3600 + mm * 60;
		int64_t out[2];
		int n = tz ? tz_local_to_utc(tz, local, out) : (out[0] = local, 1);
		if (n < 1)
			continue; /* skipped by a clock change: try tomorrow */
		if (out[0] > (int64_t)now)
			return out[0];
	}
	return 0;
}

int presence_record(sqlite3 *db, const struct policy *p, const char *state, int64_t until,
		    const char *cause, const char *source)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char day[11];
	period_format(report_local_day(p, ts.tv_sec, NULL), day, sizeof(day));
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO presence (ts_ms, day, state, expires_ms, cause, "
				    "source) VALUES (?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		sqlite3_bind_text(st, 2, day, -1, SQLITE_TRANSIENT);
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
