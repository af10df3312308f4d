/*
 * schedule: parsing [schedule] windows and [site] closed dates, and reading
 * the site's clock. See schedule.h for the semantics (overnight windows,
 * closed dates, daylight saving).
 *
 * The parsers run at configuration load; the queries are pure and allocate
 * nothing.
 */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const day_short[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const day_long[7] = {"monday", "tuesday", "wednesday", "thursday",
					"friday", "saturday", "sunday"};

const char *schedule_day_name(unsigned weekday)
{
	return weekday < 7 ? day_short[weekday] : "?";
}

void schedule_init(struct schedule *s)
{
	memset(s, 0, sizeof(*s));
}

void schedule_destroy_contents(struct schedule *s)
{
	for (size_t i = 0; i < s->n_windows; i++) {
		free(s->windows[i].name);
		for (int d = 0; d < 7; d++)
			free(s->windows[i].iv[d]);
	}
	free(s->closed);
	free(s->closed_map);
	tz_destroy(s->tz);
	memset(s, 0, sizeof(*s));
}

int schedule_window_find(const struct schedule *s, const char *name)
{
	for (size_t i = 0; i < s->n_windows; i++)
		if (strcmp(s->windows[i].name, name) == 0)
			return (int)i;
	return -1;
}

int schedule_window_add(struct schedule *s, const char *name, unsigned line)
{
	int i = schedule_window_find(s, name);
	if (i >= 0)
		return i;
	if (s->n_windows >= SCHEDULE_MAX_WINDOWS)
		return -1;
	struct schedule_window *w = &s->windows[s->n_windows];
	memset(w, 0, sizeof(*w));
	w->name = strdup(name);
	if (!w->name)
		return -1;
	w->line = line;
	return (int)s->n_windows++;
}

/* ---- window specs ---- */

static int add_interval(struct schedule_window *w, unsigned day, unsigned start, unsigned end)
{
	struct schedule_interval *iv = realloc(w->iv[day], (w->n_iv[day] + 1) * sizeof(*iv));
	if (!iv)
		return -1;
	iv[w->n_iv[day]].start = (uint16_t)start;
	iv[w->n_iv[day]].end = (uint16_t)end;
	w->iv[day] = iv;
	w->n_iv[day]++;
	return 0;
}

static int cmp_interval(const void *a, const void *b)
{
	const struct schedule_interval *x = a, *y = b;
	return x->start != y->start ? (x->start < y->start ? -1 : 1) : (x->end < y->end ? -1 : x->end > y->end);
}

static void merge_intervals(struct schedule_window *w)
{
	for (int d = 0; d < 7; d++) {
		size_t n = w->n_iv[d], k = 0;
		if (!n)
			continue;
		qsort(w->iv[d], n, sizeof(w->iv[d][0]), cmp_interval);
		for (size_t i = 1; i < n; i++) {
			if (w->iv[d][i].start <= w->iv[d][k].end) {
				if (w->iv[d][i].end > w->iv[d][k].end)
					w->iv[d][k].end = w->iv[d][i].end;
			} else {
				w->iv[d][++k] = w->iv[d][i];
			}
		}
		w->n_iv[d] = k + 1;
	}
}

static int parse_day(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++) {
		if ((len == 3 && strncasecmp(s, day_short[i], 3) == 0) ||
		    (len == strlen(day_long[i]) && strncasecmp(s, day_long[i], len) == 0))
			return i;
	}
	return -1;
}

/* "mon", "mon-fri", "fri-mon", "daily", "weekdays", "weekends" -> day bits; 0 if not days */
static unsigned parse_days(const char *tok)
{
	if (strcasecmp(tok, "daily") == 0 || strcasecmp(tok, "everyday") == 0)
		return 0x7f;
	if (strcasecmp(tok, "weekdays") == 0)
		return 0x1f;
	if (strcasecmp(tok, "weekends") == 0)
		return 0x60;
	const char *dash = strchr(tok, '-');
	if (!dash) {
		int d = parse_day(tok, strlen(tok));
		return d < 0 ? 0 : 1u << d;
	}
	int a = parse_day(tok, (size_t)(dash - tok));
	int b = parse_day(dash + 1, strlen(dash + 1));
	if (a < 0 || b < 0)
		return 0;
	unsigned bits = 0;
	for (int d = a;; d = (d + 1) % 7) {
		bits |= 1u << d;
		if (d == b)
			break;
	}
	return bits;
}

/* "H:MM" or "HH:MM" -> minutes; 24:00 only when allow24 */
static int parse_hhmm(const char *s, size_t len, bool allow24, unsigned *out)
{
	unsigned h, m;
	if (len == 4 && s[1] == ':') {
		if (s[0] < '0' || s[0] > '9')
			return -1;
		h = (unsigned)(s[0] - '0');
		s += 2;
	} else if (len == 5 && s[2] == ':') {
		if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
			return -1;
		h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
		s += 3;
	} else {
		return -1;
	}
	if (s[0] < '0' || s[0] > '5' || s[1] < '0' || s[1] > '9')
		return -1;
	m = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	if (h > 24 || (h == 24 && (m != 0 || !allow24)))
		return -1;
	*out = h * 60 + m;
	return 0;
}

/* "09:00-15:30" -> start, end (end may be <= start: crosses midnight); 1 ok, 0 not a range, -1 bad */
static int parse_range(const char *tok, unsigned *start, unsigned *end)
{
	const char *dash = strchr(tok, '-');
	if (!dash || !strchr(tok, ':'))
		return 0;
	if (parse_hhmm(tok, (size_t)(dash - tok), false, start) < 0 ||
	    parse_hhmm(dash + 1, strlen(dash + 1), true, end) < 0)
		return -1;
	return 1;
}

int schedule_window_parse(struct schedule *s, int wi, const char *spec, char *err, size_t errlen)
{
	struct schedule_window *w = &s->windows[wi];
	char *copy = strdup(spec);
	char *save_item = NULL;
	unsigned days = w->last_days; /* an indented continuation line goes on with them */
	int rc = -1;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *item = strtok_r(copy, ",", &save_item); item; item = strtok_r(NULL, ",", &save_item)) {
		char *save_tok = NULL;
		unsigned item_days = 0;
		bool any_range = false, any_tok = false;
		for (char *tok = strtok_r(item, " \t\r\n", &save_tok); tok;
		     tok = strtok_r(NULL, " \t\r\n", &save_tok)) {
			unsigned start, end;
			any_tok = true;
			int r = parse_range(tok, &start, &end);
			if (r < 0) {
				snprintf(err, errlen, "`%s` is not a time range like 09:00-15:30", tok);
				goto out;
			}
			if (r == 0) {
				unsigned d = parse_days(tok);
				if (!d) {
					snprintf(err, errlen, "`%s` is neither days (mon-fri, sat, daily) nor a time range (09:00-15:30)", tok);
					goto out;
				}
				if (any_range) {
					snprintf(err, errlen, "days `%s` after the times: write the days first, like mon-fri 09:00-15:30", tok);
					goto out;
				}
				item_days |= d;
				continue;
			}
			if (!item_days)
				item_days = days;
			if (!item_days) {
				snprintf(err, errlen, "`%s` has no days: write them first, like mon-fri %s", tok, tok);
				goto out;
			}
			if (start == end) {
				snprintf(err, errlen, "`%s` is empty; a whole day is 00:00-24:00", tok);
				goto out;
			}
			any_range = true;
			for (unsigned d = 0; d < 7; d++) {
				if (!(item_days & (1u << d)))
					continue;
				int e;
				if (end > start)
					e = add_interval(w, d, start, end);
				else {
					e = add_interval(w, d, start, SCHEDULE_MINUTES);
					if (!e && end > 0)
						e = add_interval(w, (d + 1) % 7, 0, end);
				}
				if (e) {
					snprintf(err, errlen, "out of memory");
					goto out;
				}
			}
		}
		if (!any_tok) {
			snprintf(err, errlen, "an empty item between commas");
			goto out;
		}
		if (!any_range) {
			snprintf(err, errlen, "days without times: add a range like 09:00-15:30");
			goto out;
		}
		days = w->last_days = item_days;
	}
	rc = 0;
out:
	free(copy);
	merge_intervals(w);
	return rc;
}

/* ---- closed dates ---- */

int schedule_parse_date(const char *s, size_t len, int64_t *day)
{
	unsigned y = 0, m, d;
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	for (int i = 0; i < 4; i++)
		y = y * 10 + (unsigned)(s[i] - '0');
	m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
	d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
	if (y < 1970 || m < 1 || m > 12 || d < 1)
		return -1;
	static const unsigned md[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > md[m - 1] || (m == 2 && d == 29 && !leap))
		return -1;
	*day = tz_days_from_civil(y, m, d);
	return 0;
}

int schedule_closed_parse(struct schedule *s, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec);
	char *save = NULL;
	int rc = -1;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *tok = strtok_r(copy, ", \t\r\n", &save); tok; tok = strtok_r(NULL, ", \t\r\n", &save)) {
		int64_t a, b;
		char *dots = strstr(tok, "..");
		if (dots) {
			if (schedule_parse_date(tok, (size_t)(dots - tok), &a) < 0 ||
			    schedule_parse_date(dots + 2, strlen(dots + 2), &b) < 0) {
				snprintf(err, errlen, "`%s` is not a date range like 2026-12-21..2027-01-04", tok);
				goto out;
			}
			if (b < a) {
				snprintf(err, errlen, "`%s` ends before it starts", tok);
				goto out;
			}
		} else if (schedule_parse_date(tok, strlen(tok), &a) < 0) {
			snprintf(err, errlen, "`%s` is not a date like 2026-12-25 (or a range like 2026-12-21..2027-01-04)", tok);
			goto out;
		} else {
			b = a;
		}
		struct schedule_closed *c = realloc(s->closed, (s->n_closed + 1) * sizeof(*c));
		if (!c) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		c[s->n_closed].first = a;
		c[s->n_closed].last = b;
		s->closed = c;
		s->n_closed++;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static int cmp_closed(const void *a, const void *b)
{
	const struct schedule_closed *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

void schedule_finish(struct schedule *s)
{
	if (s->n_closed) {
		size_t k = 0;
		qsort(s->closed, s->n_closed, sizeof(*s->closed), cmp_closed);
		for (size_t i = 1; i < s->n_closed; i++) {
			if (s->closed[i].first <= s->closed[k].last + 1) {
				if (s->closed[i].last > s->closed[k].last)
					s->closed[k].last = s->closed[i].last;
			} else {
				s->closed[++k] = s->closed[i];
			}
		}
		s->n_closed = k + 1;
		/* a bitmap when the dates span at most about 2800 years (360 KiB) */
		uint64_t span = (uint64_t)(s->closed[s->n_closed - 1].last - s->closed[0].first + 1);
		free(s->closed_map);
		s->closed_map = NULL;
		if (span <= (1u << 20))
			s->closed_map = calloc((span + 63) / 64, sizeof(uint64_t));
		if (s->closed_map) {
			s->closed_base = s->closed[0].first;
			s->closed_days = span;
			for (size_t i = 0; i < s->n_closed; i++)
				for (int64_t d = s->closed[i].first; d <= s->closed[i].last; d++) {
					uint64_t b = (uint64_t)(d - s->closed_base);
					s->closed_map[b >> 6] |= 1ULL << (b & 63);
				}
		}
	}
	for (size_t i = 0; i < s->n_windows; i++)
		merge_intervals(&s->windows[i]);
}

/* ---- queries ---- */

/* The closed period containing day, or NULL. */
static const struct schedule_closed *closed_find(const struct schedule *s, int64_t day)
{
	size_t lo = 0, hi = s->n_closed;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->closed[mid].last < day)
			lo = mid + 1;
		else if (s->closed[mid].first > day)
			hi = mid;
		else
			return &s->closed[mid];
	}
	return NULL;
}

bool schedule_closed_search(const struct schedule *s, int64_t day)
{
	return closed_find(s, day) != NULL;
}

int64_t schedule_closed_until(const struct schedule *s, int64_t day)
{
	const struct schedule_closed *c = closed_find(s, day);
	return c ? c->last : day - 1;
}

void schedule_time_at(const struct schedule *s, int64_t t, struct schedule_time *out)
{
	int32_t off = s->tz ? tz_offset(s->tz, t, NULL, NULL) : 0;
	int64_t local = t + off;
	out->day = tz_floordiv(local, 86400);
	out->second = (unsigned)(local - out->day * 86400);
	out->minute = out->second / 60;
	out->weekday = tz_weekday(out->day);
	out->offset = off;
}

uint64_t schedule_mask(const struct schedule *s, unsigned weekday, unsigned minute)
{
	uint64_t m = 0;
	for (size_t i = 0; i < s->n_windows; i++) {
		const struct schedule_window *w = &s->windows[i];
		for (size_t j = 0; j < w->n_iv[weekday]; j++)
			if (minute >= w->iv[weekday][j].start && minute < w->iv[weekday][j].end) {
				m |= 1ULL << i;
				break;
			}
	}
	return m;
}

void schedule_state_at(const struct schedule *s, int64_t t, struct schedule_state *out)
{
	schedule_time_at(s, t, &out->time);
	out->closed = schedule_is_closed(s, out->time.day);
	out->windows = out->closed ? 0 : schedule_mask(s, out->time.weekday, out->time.minute);
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return x < y ? -1 : x > y;
}

size_t schedule_edges(const struct schedule *s, unsigned weekday, uint16_t *out, size_t max)
{
	size_t n = 0;
	if (max == 0)
		return 0;
	out[n++] = 0;
	for (size_t i = 0; i < s->n_windows; i++) {
		const struct schedule_window *w = &s->windows[i];
		for (size_t j = 0; j < w->n_iv[weekday]; j++) {
			if (n < max)
				out[n++] = w->iv[weekday][j].start;
			if (n < max && w->iv[weekday][j].end < SCHEDULE_MINUTES)
				out[n++] = w->iv[weekday][j].end;
		}
	}
	qsort(out, n, sizeof(*out), cmp_u16);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (out[i] != out[k - 1])
			out[k++] = out[i];
	return k;
}
