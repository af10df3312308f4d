/*
 * log: one line per message on stderr, prefixed with the syslog priority in
 * angle brackets ("<3>") so journald files it at the right level.
 *
 * Thread-safe: each line is formatted into a local buffer and written with
 * one write(2), so lines from different workers never interleave.
 * Never logs credentials: callers pass only what may be seen by admins.
 */
#ifndef BREAKTIME_LOG_H
#define BREAKTIME_LOG_H

#include <syslog.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Messages with a priority numerically above this are dropped (LOG_INFO by default). */
extern int log_max_priority;

void log_set_level(int max_priority);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)    log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   do { if (log_max_priority >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * A rate limit for a message that a flood could repeat (one line per refused
 * connection, say): at most one line per `interval` seconds; the line that
 * passes next says how many were left out. Any thread (atomics). Define it
 * static with the interval set: static struct log_limit l = {10, 0, 0};
 */
struct log_limit {
	int interval;          /* seconds */
	int64_t next;          /* atomic: no line before this time() */
	uint64_t suppressed;   /* atomic: lines left out since the last one */
};
/* true: log the line now; *suppressed is how many were left out before it. */
bool log_limit_pass(struct log_limit *l, uint64_t *suppressed);

/* Only before the event loops start: log and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
