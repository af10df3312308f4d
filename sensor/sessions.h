/*
 * sessions: who the proxy most recently authenticated from each client
 * address, read from the store's `events` table, so the sensor can
 * attribute a device's direct traffic to the person signed in to the proxy
 * on it ("attribution through the proxy's recent authenticated sessions").
 *
 * DESIGN. The proxy writes one `events` row per request, tunnel or blocked
 * attempt with its user and client (doc/schema.md); a row whose user is a
 * name rather than the client's address is an authenticated (or
 * device-mapped) session. The sensor keeps an in-memory table client ->
 * (user, the time span the rows cover), and refreshes it at most every
 * SESSIONS_REFRESH_S of capture time by reading the rows added since the
 * last refresh *by row id* (`id > last`: a range of the table's b-tree, no
 * index needed, nothing scanned twice). The first refresh seeks the first
 * row within the window with a binary search on id. Lookups never touch
 * SQLite: never a query per packet.
 *
 * Time is the sensor's (the capture's, for a file): a row counts for a
 * packet at t when the session's span [first, last] (a row covers
 * ts_ms .. ts_ms + duration_ms), widened by the window on both sides,
 * contains t. A refresh reads rows only up to t + window, so a capture file
 * replayed against a store that has newer sessions sees the sessions of
 * its own time. Memory: at most SESSIONS_MAX clients; spans that ended more
 * than a window ago are dropped at each refresh.
 *
 * Single-threaded (the sensor's loop). The store connection is its own,
 * read-only: in WAL mode it never blocks the writer.
 */
#ifndef BREAKTIME_SENSOR_SESSIONS_H
#define BREAKTIME_SENSOR_SESSIONS_H

#include <stdint.h>

#define SESSIONS_REFRESH_S 30
#define SESSIONS_MAX 65536
/* Rows read per refresh at most (bounded work; the rest at the next one). */
#define SESSIONS_ROWS_PER_REFRESH (64 * 1024)

struct sessions;

/* db_path: the store's database; window_s 0: attribution by sessions off
 * (returns NULL). The database is opened at the first refresh (it may not
 * exist yet); an error there is logged once and retried. */
struct sessions *sessions_create(const char *db_path, unsigned window_s);
void sessions_destroy(struct sessions *ss);
/* Refresh from the store when due (every SESSIONS_REFRESH_S, or when time
 * went backwards by more than the window). ss may be NULL. */
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
