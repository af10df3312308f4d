/*
 * clock: conversions between the millisecond durations of the
 * configuration and what the event loop takes. Pure, thread-safe, header
 * only.
 */
#ifndef BREAKTIME_CLOCK_H
#define BREAKTIME_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

/* ms milliseconds as a struct timeval (libevent's timers and timeouts). */
static inline struct timeval clock_timeval(uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
	return tv;
}

#endif
