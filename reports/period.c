/*
 * period: report periods as whole site-local days (days since 1970-01-01),
 * inclusive at both ends. Pure arithmetic; no time zone is involved because
 * the store already keys everything by the site's local date.
 */
#include "report.h"

#include <stdio.h>

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
