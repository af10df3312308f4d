/*
 * retention: rows older than [store] retention are purged once a day.
 *
 * Data protection says records are kept no longer than the configured
 * period; the database must not stall the writer to say so. Each step
 * deletes at most RETENTION_BATCH rows of one table in its own short
 * transaction, and the writer interleaves steps with its normal batches, so
 * neither the proxy's records nor a report ever waits long behind a purge.
 *
 * A row's age is its local day (events, presence, usage minutes, daily
 * totals, sessions and bindings all carry one): rows of days before (today - retention) go.
 *
 * Writer thread only (and retention_init() in store_open()).
 */
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define RETENTION_BATCH 1000
#define DAY_MS (86400 * (int64_t)1000)

static const char *const steps[] = {
	"DELETE FROM events WHERE id IN"
	" (SELECT id FROM events WHERE day < ?1 LIMIT 1000)",
	"DELETE FROM usage_minutes WHERE (day, user, platform, minute, purpose, source) IN"
	" (SELECT day, user, platform, minute, purpose, source FROM usage_minutes"
	"  WHERE day < ?1 LIMIT 1000)",
	"DELETE FROM other_daily WHERE (day, user, source) IN"
	" (SELECT day, user, source FROM other_daily WHERE day < ?1 LIMIT 1000)",
	"DELETE FROM presence WHERE id IN"
	" (SELECT id FROM presence WHERE day < ?1 LIMIT 1000)",
	"DELETE FROM sessions WHERE id IN"
	" (SELECT id FROM sessions WHERE day < ?1 LIMIT 1000)",
	"DELETE FROM bindings WHERE id IN"
	" (SELECT id FROM bindings WHERE day < ?1 LIMIT 1000)",
};
#define N_STEPS (int)(sizeof(steps) / sizeof(steps[0]))

void retention_init(struct retention *r, sqlite3 *db, bool timer)
{
	sqlite3_stmt *st;
	int64_t last = 0;

	memset(r, 0, sizeof(*r));
	r->phase = -1;
	r->next_mono_ms = INT64_MAX;
	if (!timer)
		return;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'last_purge_ms'", -1, &st,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			last = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	/* not in the first minute after a start, when the proxy is busiest */
	int64_t wait = last + DAY_MS - store_wall_ms();
	if (wait < 60000)
		wait = 60000;
	if (wait > DAY_MS)
		wait = DAY_MS;
	r->next_mono_ms = store_mono_ms() + wait;
}

bool retention_running(const struct retention *r)
{
	return r->phase >= 0;
}

void retention_start(struct retention *r, const struct store *s, int64_t now_ms)
{
	int64_t day;
	int minute;

	r->next_mono_ms = s->opt.no_purge_timer ? INT64_MAX : store_mono_ms() + DAY_MS;
	if (s->retention_days == 0)
		return;
	r->cutoff_ms = now_ms - (int64_t)s->retention_days * DAY_MS;
	store_local(s, store_sec(r->cutoff_ms), &day, &minute);
	tz_day_text(day, r->cutoff_day, sizeof(r->cutoff_day));
	r->phase = 0;
	r->run_rows = 0;
}

static void finish(struct retention *r, sqlite3 *db)
{
	char text[32];
	sqlite3_stmt *st;

	snprintf(text, sizeof(text), "%" PRId64, store_wall_ms());
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_purge_ms', ?1)",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (r->run_rows)
		log_notice("store: retention: purged %" PRIu64 " rows of days before %s",
			   r->run_rows, r->cutoff_day);
	r->phase = -1;
}

int retention_step(struct retention *r, struct store *s, sqlite3 *db, uint64_t *purged)
{
	sqlite3_stmt *st;
	int rc;

	(void)s;
	*purged = 0;
	if (r->phase < 0)
		return SQLITE_OK;
	if (r->phase >= N_STEPS) {
		finish(r, db);
		return SQLITE_OK;
	}
	rc = sqlite3_prepare_v2(db, steps[r->phase], -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, r->cutoff_day, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc;
	int n = sqlite3_changes(db);
	*purged = (uint64_t)n;
	r->run_rows += (uint64_t)n;
	if (n < RETENTION_BATCH)
		r->phase++;
	if (r->phase >= N_STEPS)
		finish(r, db);
	return SQLITE_OK;
}
