/*
 * log: stderr lines with syslog priority prefixes, for journald.
 * Runs on any thread; one write(2) per line; never blocks on a lock.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
