/*
 * sessions: who the proxy most recently authenticated from each client
 * address, read from the store's `sessions` table, so the sensor can
 * attribute a device's direct traffic to the person signed in to the proxy
 * on it ("attribution through the proxy's recent authenticated sessions").
 *
 * DESIGN. breaktimed's store writer keeps one `sessions` row per person and
 * address for each stretch of use (a request, tunnel minute or blocked
 * attempt of an identified person extends the stretch; a gap of over ten
 * minutes starts a new row; doc/schema.md), whatever [store] log_other
 * says. The sensor keeps an in-memory table client -> (user, first, last)
 * and rebuilds it at most every SESSIONS_REFRESH_S of capture time from the
 * rows that overlap [now - window, now + window] (an index range on
 * last_ms: a few rows per active client). Lookups never touch SQLite:
 * never a query per packet.
 *
 * Time is the sensor's (the capture's, for a file, so a capture is
 * attributed with the sessions of its own time): a row counts for a packet
 * at t when its span [first, last], widened by the window on both sides,
 * contains t; of several, the one that ended last. Memory: at most
 * SESSIONS_MAX clients.
 *
 * Single-threaded (the sensor's loop). The store connection is its own,
 * read-only: in WAL mode it never blocks the writer.
 */
#ifndef BREAKTIME_SENSOR_SESSIONS_H
#define BREAKTIME_SENSOR_SESSIONS_H

#include <stdint.h>

#define SESSIONS_REFRESH_S 30
#define SESSIONS_MAX 65536
/* Rows read per refresh at most (bounded work and memory). */
#define SESSIONS_ROWS_PER_REFRESH (256 * 1024)

struct sessions;

/* db_path: the store's database; window_s 0: attribution by sessions off
 * (returns NULL). The database is opened at the first refresh (it may not
 * exist yet); an error there is logged once and retried. */
struct sessions *sessions_create(const char *db_path, unsigned window_s);
void sessions_destroy(struct sessions *ss);
/* Refresh from the store when due (every SESSIONS_REFRESH_S, or when time
 * went backwards). ss may be NULL. */
void sessions_tick(struct sessions *ss, int64_t now_us);
/* Refresh now (tests). */
void sessions_refresh(struct sessions *ss, int64_t now_us);
/* The user the proxy authenticated from addr (4 or 16 bytes by family)
 * around ts, or NULL. ss may be NULL. */
const char *sessions_user(const struct sessions *ss, int family, const uint8_t *addr,
			  int64_t ts_us);
/* Clients in the table now. */
unsigned sessions_count(const struct sessions *ss);

#endif
