/*
 * tz: TZif (RFC 8536) reader, POSIX TZ rule expansion, and UTC <-> local
 * conversion over the resulting table.
 *
 * DESIGN: a zone is reduced to `off0` (the offset before the first
 * transition) and n transitions (at[i], off[i]): from at[i] on, the offset
 * is off[i]. The TZif file's own transitions are used as they are; after the
 * last one, the footer rule (e.g. "GMT0BST,M3.5.0/1,M10.5.0") is expanded
 * year by year up to TZ_LAST_YEAR, so "slim" zone files work as well as
 * "fat" ones. Transitions that do not change the offset are dropped, so each
 * span between two entries really has one offset.
 *
 * Runs at configuration load only (reads a file, allocates); the lookups
 * afterwards are pure.
 */
#include "tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_LAST_YEAR 2200
#define TZ_MAX_FILE (1 << 20)
/* lookups index buckets of 2^21 s (about 24 days) from 1970 to TZ_LAST_YEAR */
#define TZ_BUCKET_SHIFT 21
#define TZ_INDEX_END ((int64_t)(TZ_LAST_YEAR - 1970 + 1) * 31556952)

struct tz {
	char *name;
	int32_t off0;
	size_t n;
	int64_t *at;
	int32_t *off;
	/* idx[b] = 1 + the last transition at or before bucket b's start (0: none) */
	uint32_t *idx;
	size_t n_idx;
};

/* ---- civil calendar (H. Hinnant's algorithms) ---- */

int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

/* ---- POSIX TZ rules ---- */

enum rule_kind { RULE_JULIAN1, RULE_JULIAN0, RULE_MWD };

struct rule {
	enum rule_kind kind;
	unsigned day, week, month;  /* Jn / n: day; Mm.w.d: month, week, day */
	int32_t time;               /* seconds after local midnight, may be < 0 or > 24h */
};

struct posix_tz {
	int32_t std_off, dst_off;   /* seconds east */
	bool has_dst;
	struct rule start, end;
};

static const char *parse_name(const char *s)
{
	if (*s == '<') {
		const char *e = strchr(s, '>');
		return e && e - s >= 4 ? e + 1 : NULL;
	}
	const char *p = s;
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]]; hours up to max_h */
static const char *parse_hms(const char *s, int32_t *out, int max_h)
{
	int sign = 1;
	long h = 0, m = 0, sec = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (*s < '0' || *s > '9')
		return NULL;
	while (*s >= '0' && *s <= '9') {
		h = h * 10 + (*s++ - '0');
		if (h > max_h)
			return NULL;
	}
	if (*s == ':') {
		s++;
		if (s[0] < '0' || s[0] > '5' || s[1] < '0' || s[1] > '9')
			return NULL;
		m = (s[0] - '0') * 10 + (s[1] - '0');
		s += 2;
		if (*s == ':') {
			s++;
			if (s[0] < '0' || s[0] > '5' || s[1] < '0' || s[1] > '9')
				return NULL;
			sec = (s[0] - '0') * 10 + (s[1] - '0');
			s += 2;
		}
	}
	*out = (int32_t)(sign * (h * 3600 + m * 60 + sec));
	return s;
}

static const char *parse_num(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned v = 0;
	if (*s < '0' || *s > '9')
		return NULL;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (v > hi)
			return NULL;
	}
	if (v < lo)
		return NULL;
	*out = v;
	return s;
}

static const char *parse_rule(const char *s, struct rule *r)
{
	if (*s == 'J') {
		r->kind = RULE_JULIAN1;
		s = parse_num(s + 1, 1, 365, &r->day);
	} else if (*s == 'M') {
		r->kind = RULE_MWD;
		s = parse_num(s + 1, 1, 12, &r->month);
		if (!s || *s++ != '.')
			return NULL;
		s = parse_num(s, 1, 5, &r->week);
		if (!s || *s++ != '.')
			return NULL;
		s = parse_num(s, 0, 6, &r->day);
	} else {
		r->kind = RULE_JULIAN0;
		s = parse_num(s, 0, 365, &r->day);
	}
	if (!s)
		return NULL;
	r->time = 2 * 3600;
	if (*s == '/')
		s = parse_hms(s + 1, &r->time, 167);
	return s;
}

static int parse_posix(const char *s, struct posix_tz *p)
{
	int32_t v;

	memset(p, 0, sizeof(*p));
	if (!(s = parse_name(s)) || !(s = parse_hms(s, &v, 24)))
		return -1;
	p->std_off = -v; /* POSIX counts west as positive */
	if (!*s)
		return 0;
	if (!(s = parse_name(s)))
		return -1;
	p->has_dst = true;
	p->dst_off = p->std_off + 3600;
	if (*s && *s != ',') {
		if (!(s = parse_hms(s, &v, 24)))
			return -1;
		p->dst_off = -v;
	}
	if (!*s) {
		/* no rule: the US rule, as glibc does */
		p->start = (struct rule){RULE_MWD, 0, 2, 3, 7200};
		p->end = (struct rule){RULE_MWD, 0, 1, 11, 7200};
		return 0;
	}
	if (*s++ != ',' || !(s = parse_rule(s, &p->start)) || *s++ != ',' ||
	    !(s = parse_rule(s, &p->end)) || *s)
		return -1;
	return 0;
}

/* UTC of a rule's moment in year y, when local time runs at offset off. */
static int64_t rule_time(const struct rule *r, int64_t y, int32_t off)
{
	int64_t day;

	switch (r->kind) {
	case RULE_JULIAN1: /* 1..365, February 29 never counted */
		day = tz_days_from_civil(y, 1, 1) + r->day - 1;
		if (is_leap(y) && r->day >= 60)
			day++;
		break;
	case RULE_JULIAN0:
		day = tz_days_from_civil(y, 1, 1) + r->day;
		break;
	default: {
		int64_t first = tz_days_from_civil(y, r->month, 1);
		/* tz_weekday is Monday-based; POSIX d is Sunday-based */
		unsigned wd = (tz_weekday(first) + 1) % 7;
		unsigned dom = 1 + (r->day + 7 - wd) % 7 + 7 * (r->week - 1);
		while (dom > month_days(y, r->month))
			dom -= 7;
		day = first + dom - 1;
	}
	}
	return day * TZ_DAY_SECONDS + r->time - off;
}

/* ---- building the table ---- */

struct builder {
	int64_t *at;
	int32_t *off;
	size_t n, cap;
};

static int push(struct builder *b, int64_t at, int32_t off)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		int64_t *a = realloc(b->at, cap * sizeof(*a));
		if (!a)
			return -1;
		b->at = a;
		int32_t *o = realloc(b->off, cap * sizeof(*o));
		if (!o)
			return -1;
		b->off = o;
		b->cap = cap;
	}
	b->at[b->n] = at;
	b->off[b->n] = off;
	b->n++;
	return 0;
}

/* Append the footer rule's transitions after `after`, through TZ_LAST_YEAR. */
static int expand_rule(struct builder *b, const struct posix_tz *p, int64_t after)
{
	if (!p->has_dst) /* after the table, its last offset simply holds */
		return after == INT64_MIN ? push(b, INT64_MIN, p->std_off) : 0;
	int64_t y0 = 1900;
	if (after != INT64_MIN) {
		int64_t yy;
		unsigned mm, dd;
		tz_civil_from_days(tz_floordiv(after, TZ_DAY_SECONDS), &yy, &mm, &dd);
		y0 = yy - 1;
	}
	for (int64_t y = y0; y <= TZ_LAST_YEAR; y++) {
		int64_t s = rule_time(&p->start, y, p->std_off);
		int64_t e = rule_time(&p->end, y, p->dst_off);
		int64_t t1 = s < e ? s : e, t2 = s < e ? e : s;
		int32_t o1 = s < e ? p->dst_off : p->std_off, o2 = s < e ? p->std_off : p->dst_off;
		if (t1 > after && push(b, t1, o1) < 0)
			return -1;
		if (t2 > after && push(b, t2, o2) < 0)
			return -1;
	}
	return 0;
}

static struct tz *finish(const char *name, int32_t off0, struct builder *b)
{
	struct tz *tz = calloc(1, sizeof(*tz));
	if (!tz)
		goto fail;
	tz->name = strdup(name);
	if (!tz->name)
		goto fail;
	tz->off0 = off0;
	/* drop transitions that change nothing, and any out of order */
	int32_t cur = off0;
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->at[i] == INT64_MIN) {
			tz->off0 = cur = b->off[i];
			continue;
		}
		if (b->off[i] == cur || (k && b->at[i] <= b->at[k - 1]))
			continue;
		b->at[k] = b->at[i];
		b->off[k] = b->off[i];
		cur = b->off[i];
		k++;
	}
	tz->n = k;
	tz->at = b->at;
	tz->off = b->off;
	tz->n_idx = (size_t)(TZ_INDEX_END >> TZ_BUCKET_SHIFT) + 1;
	tz->idx = malloc(tz->n_idx * sizeof(*tz->idx));
	if (!tz->idx) {
		b->at = NULL;
		b->off = NULL;
		tz_destroy(tz);
		return NULL;
	}
	size_t j = 0;
	for (size_t bk = 0; bk < tz->n_idx; bk++) {
		int64_t start = (int64_t)bk << TZ_BUCKET_SHIFT;
		while (j < k && tz->at[j] <= start)
			j++;
		tz->idx[bk] = (uint32_t)j;
	}
	return tz;
fail:
	if (tz)
		free(tz->name);
	free(tz);
	free(b->at);
	free(b->off);
	return NULL;
}

struct tz *tz_from_posix(const char *name, const char *rule)
{
	struct posix_tz p;
	struct builder b = {0};

	if (parse_posix(rule, &p) < 0)
		return NULL;
	if (expand_rule(&b, &p, INT64_MIN) < 0) {
		free(b.at);
		free(b.off);
		return NULL;
	}
	return finish(name, p.std_off, &b);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static int read_counts(const unsigned char *h, size_t len, struct tzif_counts *c)
{
	if (len < 44 || memcmp(h, "TZif", 4) != 0)
		return -1;
	c->isut = be32(h + 20);
	c->isstd = be32(h + 24);
	c->leap = be32(h + 28);
	c->time = be32(h + 32);
	c->type = be32(h + 36);
	c->chars = be32(h + 40);
	if (c->type == 0 || c->type > 256 || c->time > 100000 || c->chars > 65536 ||
	    c->leap > 10000 || (c->isut && c->isut != c->type) || (c->isstd && c->isstd != c->type))
		return -1;
	return 0;
}

static size_t block_size(const struct tzif_counts *c, unsigned tsize)
{
	return (size_t)c->time * tsize + c->time + (size_t)c->type * 6 + c->chars +
	       (size_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

static struct tz *parse_tzif(const char *name, const unsigned char *buf, size_t len,
			     char *err, size_t errlen)
{
	struct tzif_counts c;
	struct builder b = {0};
	unsigned tsize = 4;
	const unsigned char *p = buf;

	if (read_counts(p, len, &c) < 0)
		goto bad;
	if (buf[4] >= '2') {
		/* skip the 32-bit block: the 64-bit one follows */
		size_t skip = 44 + block_size(&c, 4);
		if (skip > len || read_counts(buf + skip, len - skip, &c) < 0)
			goto bad;
		p = buf + skip;
		tsize = 8;
	}
	size_t need = 44 + block_size(&c, tsize);
	if ((size_t)(p - buf) + need > len)
		goto bad;
	if (c.leap) {
		snprintf(err, errlen, "leap-second (\"right/\") zones are not supported");
		return NULL;
	}
	const unsigned char *times = p + 44;
	const unsigned char *idx = times + (size_t)c.time * tsize;
	const unsigned char *types = idx + c.time;
	int32_t type_off[256];
	for (uint32_t i = 0; i < c.type; i++) {
		type_off[i] = (int32_t)be32(types + 6 * i);
		if (type_off[i] < -25 * 3600 || type_off[i] > 26 * 3600)
			goto bad;
	}
	int64_t last = INT64_MIN;
	for (uint32_t i = 0; i < c.time; i++) {
		int64_t t = tsize == 8 ? be64(times + 8 * i) : (int64_t)(int32_t)be32(times + 4 * i);
		if (idx[i] >= c.type || t <= last)
			goto bad;
		if (push(&b, t, type_off[idx[i]]) < 0)
			goto nomem;
		last = t;
	}
	/* the footer, v2+: "\n<rule>\n" */
	const unsigned char *f = p + need;
	if (tsize == 8 && f < buf + len && *f == '\n') {
		const unsigned char *e = memchr(f + 1, '\n', (size_t)(buf + len - f - 1));
		if (e && e > f + 1) {
			char rule[128];
			size_t rl = (size_t)(e - f - 1);
			struct posix_tz pt;
			if (rl >= sizeof(rule))
				goto bad;
			memcpy(rule, f + 1, rl);
			rule[rl] = '\0';
			if (parse_posix(rule, &pt) < 0)
				goto bad;
			if (expand_rule(&b, &pt, last) < 0)
				goto nomem;
		}
	}
	struct tz *tz = finish(name, type_off[0], &b);
	if (!tz)
		snprintf(err, errlen, "out of memory");
	return tz;
bad:
	snprintf(err, errlen, "not a valid TZif time zone file");
	free(b.at);
	free(b.off);
	return NULL;
nomem:
	snprintf(err, errlen, "out of memory");
	free(b.at);
	free(b.off);
	return NULL;
}

static bool valid_name(const char *name)
{
	if (!*name || name[0] == '/' || strlen(name) > 200)
		return false;
	for (const char *s = name; *s; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '+' || *s == '/'))
			return false;
		if (s[0] == '/' && s[1] == '/')
			return false;
	}
	return strstr(name, "..") == NULL;
}

struct tz *tz_load(const char *name, char *err, size_t errlen)
{
	char path[512];
	const char *dir = getenv("TZDIR");
	bool system = strcmp(name, "localtime") == 0;

	if (!system && !valid_name(name)) {
		snprintf(err, errlen, "`%s` is not a time zone name (like Europe/London)", name);
		return NULL;
	}
	if (system)
		snprintf(path, sizeof(path), "/etc/localtime");
	else
		snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);

	FILE *fp = fopen(path, "rb");
	if (!fp) {
		int e = errno;
		if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || system)
			return tz_from_posix(system ? "UTC" : name, "UTC0");
		if (e == ENOENT)
			snprintf(err, errlen, "unknown time zone `%s` (no %s)", name, path);
		else
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return NULL;
	}
	unsigned char *buf = malloc(TZ_MAX_FILE);
	if (!buf) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	size_t len = fread(buf, 1, TZ_MAX_FILE, fp);
	fclose(fp);
	struct tz *tz = parse_tzif(name, buf, len, err, errlen);
	free(buf);
	return tz;
}

void tz_destroy(struct tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->at);
	free(tz->off);
	free(tz->idx);
	free(tz);
}

const char *tz_name(const struct tz *tz)
{
	return tz->name;
}

/* Index of the last transition at or before t, or -1. */
static ptrdiff_t find(const struct tz *tz, int64_t t)
{
	if (t >= 0 && t < TZ_INDEX_END) {
		/* the bucket's entry, then the few transitions inside the bucket */
		size_t i = tz->idx[t >> TZ_BUCKET_SHIFT];
		while (i < tz->n && tz->at[i] <= t)
			i++;
		return (ptrdiff_t)i - 1;
	}
	size_t lo = 0, hi = tz->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tz->at[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

int32_t tz_offset(const struct tz *tz, int64_t t, int64_t *span_start, int64_t *span_end)
{
	ptrdiff_t i = find(tz, t);
	if (span_start)
		*span_start = i < 0 ? INT64_MIN : tz->at[i];
	if (span_end)
		*span_end = (size_t)(i + 1) < tz->n ? tz->at[i + 1] : INT64_MAX;
	return i < 0 ? tz->off0 : tz->off[i];
}

int32_t tz_offset_cb(void *ctx, int64_t t)
{
	return tz_offset(ctx, t, NULL, NULL);
}

/* ---- wall-clock readings ---- */

void tz_day_text(int64_t day, char *buf, size_t len)
{
	int64_t y;
	unsigned m, d;
	tz_civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	snprintf(buf, len, "%04d-%02u-%02u", (int)y, m, d);
}

int64_t tz_local_day(const struct tz *tz, int64_t t, unsigned *second)
{
	int64_t local = t + (tz ? tz_offset(tz, t, NULL, NULL) : 0);
	int64_t day = tz_floordiv(local, TZ_DAY_SECONDS);
	if (second)
		*second = (unsigned)(local - day * TZ_DAY_SECONDS);
	return day;
}

void tz_local_at(const struct tz *tz, int64_t t, struct tz_local *out)
{
	out->offset = tz ? tz_offset(tz, t, NULL, NULL) : 0;
	int64_t local = t + out->offset;
	out->day = tz_floordiv(local, TZ_DAY_SECONDS);
	unsigned s = (unsigned)(local - out->day * TZ_DAY_SECONDS);
	tz_civil_from_days(out->day, &out->year, &out->month, &out->mday);
	out->weekday = tz_weekday(out->day);
	out->hour = s / 3600;
	out->min = s / 60 % 60;
	out->sec = s % 60;
}

void tz_local_text(const struct tz *tz, int64_t t, bool date, char *buf, size_t len)
{
	unsigned s;
	int64_t day = tz_local_day(tz, t, &s);
	if (date) {
		char d[TZ_DAY_TEXT];
		tz_day_text(day, d, sizeof(d));
		snprintf(buf, len, "%s %02u:%02u", d, s / 3600, s / 60 % 60);
	} else {
		snprintf(buf, len, "%02u:%02u", s / 3600, s / 60 % 60);
	}
}

int tz_local_to_utc(const struct tz *tz, int64_t local, int64_t out[2])
{
	/* Offsets never exceed a day, so only the spans around local - 1 day ..
	 * local + 1 day can contain a solution: try each one's offset. */
	int n = 0;
	int64_t t = local - 2 * TZ_DAY_SECONDS;
	for (int guard = 0; guard < 16 && t <= local + 2 * TZ_DAY_SECONDS; guard++) {
		int64_t start, end;
		int32_t off = tz_offset(tz, t, &start, &end);
		int64_t cand = local - off;
		if (cand >= start && cand < end && n < 2 && (n == 0 || out[n - 1] != cand))
			out[n++] = cand;
		if (end == INT64_MAX)
			break;
		t = end;
	}
	return n;
}
