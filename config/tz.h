/*
 * tz: one IANA time zone as a table of UTC offset changes, and the civil
 * calendar arithmetic the schedule needs.
 *
 * Why not localtime_r()/mktime(): they read the process-wide TZ, so
 * switching zones per call is neither thread-safe nor pure. Instead the
 * zone's TZif file (RFC 8536, from $TZDIR or /usr/share/zoneinfo) is read
 * once at configuration load and its transitions, extended with the file's
 * POSIX TZ footer rule up to the year 2200, become one sorted table. After
 * tz_load() returns, a struct tz is immutable: every function here is pure,
 * allocates nothing and is safe on any thread.
 *
 * Times are seconds since the epoch (int64_t, UTC, no leap seconds). A
 * "local" time is the wall-clock reading expressed the same way, i.e.
 * utc + offset.
 */
#ifndef BREAKTIME_TZ_H
#define BREAKTIME_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/*
 * Load a zone by IANA name ("Europe/London"), "UTC", or "localtime" (the
 * system's /etc/localtime). NULL on failure with a reason in err.
 */
struct tz *tz_load(const char *name, char *err, size_t errlen);
/* A zone from a POSIX TZ rule alone ("GMT0BST,M3.5.0/1,M10.5.0"); NULL if invalid. */
struct tz *tz_from_posix(const char *name, const char *rule);
void tz_destroy(struct tz *tz);

const char *tz_name(const struct tz *tz);

/*
 * The UTC offset (seconds east of Greenwich) in force at t. When span_start
 * / span_end are not NULL they receive the interval [start, end) around t
 * during which that offset holds (INT64_MIN / INT64_MAX at the ends).
 */
int32_t tz_offset(const struct tz *tz, int64_t t, int64_t *span_start, int64_t *span_end);

/*
 * Wall-clock local -> UTC. Fills out[] with every UTC time that reads as
 * `local` (ascending) and returns how many: 1 normally, 0 inside a
 * spring-forward gap, 2 inside a fall-back overlap.
 */
int tz_local_to_utc(const struct tz *tz, int64_t local, int64_t out[2]);

/* ---- civil calendar (proleptic Gregorian), pure arithmetic ---- */

/* Days since 1970-01-01 of a date; month 1..12, day 1..31. */
int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d);
void tz_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday) */
static inline unsigned tz_weekday(int64_t days)
{
	int64_t w = (days + 3) % 7;
	return (unsigned)(w < 0 ? w + 7 : w);
}
/* floor(a / b) for b > 0 */
static inline int64_t tz_floordiv(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* "YYYY-MM-DD" of days since 1970-01-01 (buf of TZ_DAY_TEXT bytes or more;
 * a year outside 0000..9999 is clamped to it, so the text always fits). */
#define TZ_DAY_TEXT 11
void tz_day_text(int64_t day, char *buf, size_t len);

/* ---- wall-clock readings: the site's day and time ----
 *
 * These take the zone the policy carries (policy_tz()); a NULL zone reads
 * UTC. Every place that turns a UTC time into the site's day or clock time
 * goes through here, so the proxy, the store, the reports and the web UI
 * agree on where a day starts.
 */

#define TZ_DAY_SECONDS 86400     /* no leap seconds in UTC or local times here */

/* A moment as the zone's wall clock shows it. */
struct tz_local {
	int64_t day;              /* days since 1970-01-01, local */
	int64_t year;
	unsigned month, mday;     /* 1..12, 1..31 */
	unsigned weekday;         /* 0 = Monday ... 6 = Sunday */
	unsigned hour, min, sec;
	int32_t offset;           /* the UTC offset in force at that moment */
};

void tz_local_at(const struct tz *tz, int64_t t, struct tz_local *out);
/* The local day at t; *second (if not NULL): seconds since its midnight. */
int64_t tz_local_day(const struct tz *tz, int64_t t, unsigned *second);
/* "YYYY-MM-DD HH:MM" at t, or "HH:MM" without the date. */
void tz_local_text(const struct tz *tz, int64_t t, bool date, char *buf, size_t len);

/* tz_offset() in the shape of the store's zone callback
 * (logger/store.h: store_utc_offset_fn); ctx is a const struct tz *. */
int32_t tz_offset_cb(void *ctx, int64_t t);

#endif
