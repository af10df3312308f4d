/*
 * failwindow: the failed-login rule that the proxy's sign-in
 * (proxy/identity.c) and the web UI's login (reports/web.c) share.
 *
 * Failures are counted in fixed windows: a window starts at the first
 * failure after the previous window ended and lasts `window` seconds; while
 * it lasts, a client with `max` failures in it is refused. The window does
 * not slide, so a client refused at the limit is served again at most
 * `window` seconds after its first failure, never later.
 *
 * Only the rule lives here. Each caller keeps one struct failwindow per
 * client in its own table, keyed and bounded in its own way, and locks it
 * as that table needs (see the two callers for why the tables differ).
 * Pure, header only.
 */
#ifndef BREAKTIME_FAILWINDOW_H
#define BREAKTIME_FAILWINDOW_H

#include <stdbool.h>
#include <time.h>

struct failwindow {
	time_t start;       /* of the current window; 0: none yet */
	unsigned count;     /* failures (and, for the proxy, guesses in flight) in it */
};

/* Has the window ended (or never started)? Its failures no longer count. */
static inline bool failwindow_over(const struct failwindow *f, time_t now, time_t window)
{
	return now - f->start >= window;
}

/* Nothing counts against the client now: no failures, or a window that ended. */
static inline bool failwindow_quiet(const struct failwindow *f, time_t now, time_t window)
{
	return f->count == 0 || failwindow_over(f, now, window);
}

/* Is the client at the limit: max failures in a window that still lasts? */
static inline bool failwindow_limited(const struct failwindow *f, time_t now, time_t window,
				      unsigned max)
{
	return !failwindow_over(f, now, window) && f->count >= max;
}

/* Start a new window, with nothing in it, when the current one has ended. */
static inline void failwindow_roll(struct failwindow *f, time_t now, time_t window)
{
	if (failwindow_over(f, now, window)) {
		f->start = now;
		f->count = 0;
	}
}

/* Count a failure now. */
static inline void failwindow_count(struct failwindow *f, time_t now, time_t window)
{
	failwindow_roll(f, now, window);
	f->count++;
}

/* Give back a failure counted in the window that started at `start` (a
 * guess charged in advance that turned out right); nothing when that
 * window is gone. */
static inline void failwindow_refund(struct failwindow *f, time_t start)
{
	if (f->start == start && f->count > 0)
		f->count--;
}

#endif
