/*
 * presence_store: the times of a change of "students present" by hand, for
 * `breaktime presence` (presence.c) and the web UI's toggle (web_pages.c):
 * --until HH:MM in the site's zone. The change itself is written by the
 * store's owner, logger/ (store_presence_add() in storeq.h): the same row
 * from both, so breaktimed applies them alike and
 * the presence report shows who did it and from where (`cli` or `web`).
 */
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "tz.h"

int64_t presence_parse_until(const struct policy *p, const char *s, time_t now)
{
	unsigned hh, mm;
	char extra;
	/* two digits each: a wider %u wraps (4294967296:00 was 00:00) */
	if (!s || sscanf(s, "%2u:%2u%c", &hh, &mm, &extra) != 2 || hh > 23 || mm > 59) /* NOLINT(cert-err34-c): fixed width */
		return 0;
	const struct tz *tz = policy_tz(p);
	int64_t day = tz_local_day(tz, now, NULL);
	for (int add = 0; add < 2; add++) {
		int64_t local = (day + add) * TZ_DAY_SECONDS + hh * 3600 + mm * 60;
		int64_t out[2];
		int n = tz ? tz_local_to_utc(tz, local, out) : (out[0] = local, 1);
		if (n < 1)
			continue; /* skipped by a clock change: try tomorrow */
		if (out[0] > (int64_t)now)
			return out[0];
	}
	return 0;
}
