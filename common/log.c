/*
 * log: stderr lines with syslog priority prefixes, for journald.
 * Runs on any thread; one write(2) per line; never blocks on a lock.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_max_priority = LOG_INFO;

void log_set_level(int max_priority)
{
	log_max_priority = max_priority;
}

void log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[2048];
	int saved = errno;

	if (prio > log_max_priority)
		return;
	int n = snprintf(line, sizeof(line), "<%d>", prio & 7);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* A control character in a message (from a hostile host name, say)
	 * must not forge a second log line. */
	for (size_t i = (size_t)n; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 || ch == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
	errno = saved;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

bool log_limit_pass(struct log_limit *l, uint64_t *suppressed)
{
	int64_t now = (int64_t)time(NULL);
	int64_t next = __atomic_load_n(&l->next, __ATOMIC_RELAXED);

	if (now < next ||
	    !__atomic_compare_exchange_n(&l->next, &next, now + l->interval, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&l->suppressed, 1, __ATOMIC_RELAXED);
		return false;
	}
	*suppressed = __atomic_exchange_n(&l->suppressed, 0, __ATOMIC_RELAXED);
	return true;
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
