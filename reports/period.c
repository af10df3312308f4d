/*
 * period: report periods as whole site-local days (days since 1970-01-01),
 * inclusive at both ends. Pure arithmetic; no time zone is involved because
 * the store already keys everything by the site's local date.
 */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "tz.h"

int period_parse(const char *s, int64_t *days)
{
	int y, n = 0;
	unsigned m, d;
	if (!s || sscanf(s, "%4d-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10 || s[n] != '\0') /* NOLINT(cert-err34-c): fixed width */
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
	tz_day_text(days, buf, len);
}

void period_previous(int64_t from, int64_t to, int64_t *pfrom, int64_t *pto)
{
	int64_t n = to - from + 1;
	*pto = from - 1;
	*pfrom = from - n;
}

int period_resolve(const struct conf *c, int64_t today, const char *from, const char *to,
		   bool one_day, unsigned max_days, struct report_opts *o, bool *clamped,
		   const char *opt, char *err, size_t errlen)
{
	if (from && !*from)
		from = NULL;
	if (to && !*to)
		to = NULL;
	*clamped = false;
	if (from && period_parse_relative(from, today, &o->from) != 0) {
		snprintf(err, errlen, "%sfrom: `%.40s` is not a date (YYYY-MM-DD, today, yesterday, "
			 "today-N)", opt, from);
		return -1;
	}
	if (to && period_parse_relative(to, today, &o->to) != 0) {
		snprintf(err, errlen, "%sto: `%.40s` is not a date (YYYY-MM-DD, today, yesterday, "
			 "today-N)", opt, to);
		return -1;
	}
	if (!to)
		o->to = from && one_day ? o->from : today;
	if (!from)
		o->from = one_day ? o->to : o->to - 6;
	if (o->from > o->to) {
		snprintf(err, errlen, "%sfrom is after %sto", opt, opt);
		return -1;
	}
	if (max_days && o->to - o->from >= (int64_t)max_days) {
		snprintf(err, errlen, "the period is longer than %u days", max_days);
		return -1;
	}
	o->kept_from = 0;
	if (c->store.retention_days) {
		o->kept_from = today - (int64_t)c->store.retention_days;
		if (o->to < o->kept_from) {
			char d[11];
			period_format(o->kept_from, d, sizeof(d));
			snprintf(err, errlen, "the period ends before %s: the store keeps %u days "
				 "([store] retention)", d, c->store.retention_days);
			return -2;
		}
		if (o->from < o->kept_from) {
			o->from = o->kept_from;
			*clamped = true;
		}
	}
	return 0;
}
