/*
 * schedule: the site's clock — its time zone, the named weekly windows of
 * [schedule] (students, breaks, non_directed, ...) and the closed dates of
 * [site] — and what that clock says at a given moment.
 *
 * Windows are wall-clock times in the site's zone, minute-grained, per
 * weekday; a range whose end is before its start crosses midnight
 * ("fri 22:00-02:00" covers Friday 22:00-24:00 and Saturday 00:00-02:00).
 * Closed dates suppress every window on that calendar date (also the part of
 * an overnight window that falls on it).
 *
 * Daylight saving: a moment is in a window when the wall clock then reads a
 * time in the window. So on the spring-forward day a window can start late
 * or be skipped (its local times never happen), and on the fall-back day the
 * repeated hour is in a window both times the clock shows it.
 *
 * Built while the configuration loads, immutable afterwards: the query
 * functions are pure and safe on any thread.
 */
#ifndef BREAKTIME_SCHEDULE_H
#define BREAKTIME_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz.h"

#define SCHEDULE_MAX_WINDOWS 60
#define SCHEDULE_MINUTES 1440

struct schedule_interval {
	uint16_t start, end;          /* minutes of one weekday, start < end <= 1440 */
};

struct schedule_window {
	char *name;
	unsigned line;                /* where it was defined */
	struct schedule_interval *iv[7]; /* per weekday (0 = Monday): sorted, merged */
	size_t n_iv[7];
	unsigned last_days;           /* while parsing: the days an item without days reuses */
};

struct schedule_closed {
	int64_t first, last;          /* days since 1970-01-01, inclusive */
};

struct schedule {
	struct tz *tz;                /* owned */
	struct schedule_window windows[SCHEDULE_MAX_WINDOWS];
	size_t n_windows;
	struct schedule_closed *closed; /* sorted, merged after schedule_finish() */
	size_t n_closed;
	/* the same as a bitmap of days from closed_base, for schedule_is_closed() */
	uint64_t *closed_map;
	int64_t closed_base;
	uint64_t closed_days;
};

/* A moment on the site's clock. */
struct schedule_time {
	int64_t day;                  /* local date as days since 1970-01-01 */
	unsigned weekday;             /* 0 = Monday */
	unsigned minute;              /* of the local day, 0..1439 */
	unsigned second;              /* of the local day, 0..86399 */
	int32_t offset;               /* UTC offset then, seconds east */
};

/* What the schedule says at a moment. */
struct schedule_state {
	struct schedule_time time;
	bool closed;                  /* the local date is a closed date */
	uint64_t windows;             /* bit i: inside windows[i] (always 0 when closed) */
};

/* ---- building (configuration load only) ---- */

void schedule_init(struct schedule *s);
void schedule_finish(struct schedule *s);   /* after every window and closed date */
void schedule_destroy_contents(struct schedule *s);

/* Returns the window's index, adding an empty one if new; -1 when full. */
int schedule_window_add(struct schedule *s, const char *name, unsigned line);
int schedule_window_find(const struct schedule *s, const char *name);

/*
 * Parse "mon-fri 09:00-15:30, sat 10:00-12:00" (also "10:30-10:45 12:30-13:15",
 * an item without days reusing the previous item's days; days may be mon..sun,
 * full names, ranges like fri-mon, daily, weekdays, weekends) and add it to
 * window w. 0, or -1 with a message in err.
 */
int schedule_window_parse(struct schedule *s, int w, const char *spec, char *err, size_t errlen);

/* "2026-12-21..2027-01-04, 2026-05-04": add closed dates. 0, or -1 with err. */
int schedule_closed_parse(struct schedule *s, const char *spec, char *err, size_t errlen);

/* "YYYY-MM-DD" -> days since 1970-01-01; 0 or -1. */
int schedule_parse_date(const char *s, size_t len, int64_t *day);

/* ---- queries (pure) ---- */

void schedule_time_at(const struct schedule *s, int64_t t, struct schedule_time *out);
void schedule_state_at(const struct schedule *s, int64_t t, struct schedule_state *out);
bool schedule_closed_search(const struct schedule *s, int64_t day);
static inline bool schedule_is_closed(const struct schedule *s, int64_t day)
{
	if (s->closed_map) {
		uint64_t i = (uint64_t)(day - s->closed_base);
		return i < s->closed_days && ((s->closed_map[i >> 6] >> (i & 63)) & 1);
	}
	return s->n_closed && schedule_closed_search(s, day);
}
/* The last closed date, or INT64_MIN when there is none. */
static inline int64_t schedule_last_closed(const struct schedule *s)
{
	return s->n_closed ? s->closed[s->n_closed - 1].last : INT64_MIN;
}
/* The last day of the closed period that contains day (day - 1 when day is open). */
int64_t schedule_closed_until(const struct schedule *s, int64_t day);
/* The windows open at a weekday and minute, ignoring closed dates. */
uint64_t schedule_mask(const struct schedule *s, unsigned weekday, unsigned minute);
/*
 * Every minute of a weekday at which some window opens or closes, sorted,
 * always starting with 0. out must hold 2 * (total intervals) + 1 entries;
 * returns the count.
 */
size_t schedule_edges(const struct schedule *s, unsigned weekday, uint16_t *out, size_t max);

/* "mon".."sun" */
const char *schedule_day_name(unsigned weekday);

#endif
