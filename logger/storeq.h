/*
 * storeq: the store's tables as the processes beside the writer use them —
 * breaktimed's main thread polling "students present" and restoring today's
 * warn acknowledgements and intercept mode's bindings, breaktime-sensor
 * reading the bindings, `breaktime presence` and the web UI's toggle
 * recording a change by hand, and both showing the state in force. Their
 * SQL lives here, next to the schema (store.c) and the writer's own
 * statements (batch.c), so the tables change in logger/ alone. The reports'
 * read-only queries for reporting stay in reports/query.c.
 *
 * A separate header from store.h: these calls take an SQLite connection of
 * their caller's (store_db_open() makes one), never the writer's, and need
 * nothing of struct store. They block on SQLite for at most the
 * connection's busy timeout: not for an event loop's hot path (breaktimed
 * calls them from its main thread, which only handles signals and timers).
 * One connection per thread, as SQLite wants.
 */
#ifndef BREAKTIME_STOREQ_H
#define BREAKTIME_STOREQ_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "presence.h"

struct sqlite3;
struct policy;

/*
 * Open the store at path, read-only (write: read-write, for
 * store_presence_add()), with a busy timeout in ms. The store must exist:
 * breaktimed creates it. NULL when it cannot be opened.
 */
struct sqlite3 *store_db_open(const char *path, bool write, unsigned busy_ms);
void store_db_close(struct sqlite3 *db);

/* "Students present" as recorded in the store. */
struct store_presence {
	/*
	 * override, override_until: the newest change by hand (PRESENCE_AUTO
	 * when none); last_detected: the newest detection, by the proxy or the
	 * sensor (0: none in the last day). Ready for presence_at() and
	 * policy_students_present().
	 */
	struct presence_state ps;
	char state[8];               /* the newest change by hand: on, off, auto; "" when none */
	int64_t changed_ms;          /* ... when (ms since 1970) */
	char cause[160];             /* ... by whom ("Ms Smith (breaktime presence)") */
	char detected_cause[128];    /* the newest detection's cause ("10.0.0.9 (students, sensor)") */
};

/*
 * The newest change by hand and the newest detection as of now. Detections
 * are looked for in the last two days only (detect_idle is at most one: an
 * older one cannot count). 0, or -1 on an SQLite error (*out then holds no
 * change and no detection).
 */
int store_presence_latest(struct sqlite3 *db, time_t now, struct store_presence *out);

/*
 * Record a change of "students present" by hand, now: state "on", "off" or
 * "auto"; until: when an on/off ends (Unix time; 0: until changed); cause:
 * who, as the presence report shows it; source: "cli" or "web". The row's
 * day is the site-local day in the policy's zone (UTC without one). An
 * SQLite result code (SQLITE_MISUSE for a state that is none of the three).
 * The connection must be read-write; breaktimed applies the change at its
 * next poll.
 */
int store_presence_add(struct sqlite3 *db, const struct policy *p, const char *state, int64_t until,
		       const char *cause, const char *source);

/*
 * Today's warn acknowledgements: fn(ctx, person, platform) once for every
 * (person or client address, platform) whose warn interstitial was
 * continued on the site-local day `day` (days since 1970). The number of
 * pairs, or -1 on an SQLite error.
 */
typedef void store_warn_ack_fn(void *ctx, const char *person, const char *platform);
int store_warn_acks_today(struct sqlite3 *db, int64_t day, store_warn_ack_fn *fn, void *ctx);

/*
 * Intercept mode's bindings (the bindings table): fn(ctx, row) once for every
 * row of a span (since <= t < until) that overlaps [from_ms, to_ms], in the
 * order they began, at most max of them (the oldest first). breaktimed
 * restores the ones in force at start (from = to = now); breaktime-sensor
 * reads those around its present. Rows of no length (how = end) are not
 * spans and never given. mac is NULL when the row has none. The number of
 * rows given, or -1 on an SQLite error.
 */
struct store_binding_row {
	const char *client;          /* "10.0.0.5", "2001:db8::5" */
	const char *mac;             /* "02:00:00:00:00:01", or NULL */
	const char *user;
	int64_t since_ms, until_ms;
	const char *how;             /* "sign-in", "mac" */
};
typedef void store_binding_fn(void *ctx, const struct store_binding_row *row);
int store_bindings_read(struct sqlite3 *db, int64_t from_ms, int64_t to_ms, unsigned max,
			store_binding_fn *fn, void *ctx);

#endif
