/*
 * period: report periods as whole site-local days (days since 1970-01-01),
 * inclusive at both ends. Pure arithmetic; no time zone is involved because
 * the store already keys everything by the site's local date.
 */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "tz.h"

int period_parse(const char *s, int64_t *days)
{
	int y, n = 0;
	unsigned m, d;
	if (!s || sscanf(s, "%4d-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10 || s[n] != '\0')
		return -1;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	int64_t v = tz_days_from_civil(y, m, d);
	int64_t yy;
	unsigned mm, dd;
	tz_civil_from_days(v, &yy, &mm, &dd); /* 2026-02-30 comes back as March */
	if (yy != y || mm != m || dd != d)
		return -1;
	*days = v;
	return 0;
}

int period_parse_relative(const char *s, int64_t today, int64_t *days)
{
	if (!s)
		return -1;
	if (strcmp(s, "today") == 0) {
		*days = today;
		return 0;
	}
	if (strcmp(s, "yesterday") == 0) {
		*days = today - 1;
		return 0;
	}
	if (strncmp(s, "today-", 6) == 0) {
		const char *p = s + 6;
		unsigned n = 0;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (unsigned)(*p - '0');
			if (n > 3660)
				return -1;
		}
		if (*p != '\0')
			return -1;
		*days = today - (int64_t)n;
		return 0;
	}
	return period_parse(s, days);
}

void period_format(int64_t days, char *buf, size_t len)
{
	int64_t y;
	unsigned m, d;
	tz_civil_from_days(days, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02u-%02u", (long long)y, m, d);
}

void period_previous(int64_t from, int64_t to, int64_t *pfrom, int64_t *pto)
{
	int64_t n = to - from + 1;
	*pto = from - 1;
	*pfrom = from - n;
}
