/*
 * query: the reports, as SQL over the store (opened read-only by report.c)
 * and a little arithmetic, each filling one struct rtable.
 *
 * Active minutes are counted as the `active_minutes` view defines them
 * (doc/schema.md): a (day, user, platform, minute) is active when any of
 * its usage_minutes rows is, and personal when any row's purpose is. The
 * queries repeat the view's grouping inline, restricted to the period
 * first, so that SQLite uses the primary key (day, ...) instead of
 * grouping the whole table.
 */
#include "report.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "conf.h"
#include "policy.h"
#include "tz.h"

/* the view, restricted to ?1..?2 (dates), with the minute's group */
#define MINUTES_SQL                                                                     \
	"SELECT day, user, platform, minute, MAX(grp) AS grp, "                         \
	"       MAX(purpose = 'personal') AS personal, MAX(active) AS active, "        \
	"       SUM(requests) AS requests, SUM(bytes) AS bytes "                        \
	"FROM usage_minutes WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR user = ?3) " \
	"GROUP BY day, user, platform, minute"

static const char *METHOD_DEFAULT =
	"a minute counts for a person and platform when a request to the platform started "
	"in it, or traffic to it moved at least [store] active_bytes bytes in it; each "
	"minute counts once";

static void set_common(struct rtable *t, const struct report_opts *o, sqlite3 *db)
{
	period_format(o->from, t->from, sizeof(t->from));
	period_format(o->to, t->to, sizeof(t->to));
	t->group = o->group;
	t->user = o->user;
	t->pseudonymised = o->pseudonymise;
	/* the method and threshold in force, as the store recorded them */
	sqlite3_stmt *st;
	char *method = NULL, *bytes = NULL;
	if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta "
				   "WHERE key IN ('usage_method', 'active_bytes')", -1, &st,
			       NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(st, 0);
			const char *v = (const char *)sqlite3_column_text(st, 1);
			if (!k || !v)
				continue;
			if (strcmp(k, "usage_method") == 0 && !method)
				method = strdup(v);
			else if (strcmp(k, "active_bytes") == 0 && !bytes)
				bytes = strdup(v);
		}
		sqlite3_finalize(st);
	}
	size_t n = strlen(method ? method : METHOD_DEFAULT) + 64;
	t->method = malloc(n);
	if (t->method) {
		if (bytes && !method)
			snprintf(t->method, n, "%s (active_bytes = %s)", METHOD_DEFAULT, bytes);
		else
			snprintf(t->method, n, "%s", method ? method : METHOD_DEFAULT);
	}
	free(method);
	free(bytes);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const struct report_opts *o,
		   int64_t from, int64_t to)
{
	char f[11], tt[11];
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		fprintf(stderr, "breaktime: report: the store: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	period_format(from, f, sizeof(f));
	period_format(to, tt, sizeof(tt));
	sqlite3_bind_text(*st, 1, f, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(*st, 2, tt, -1, SQLITE_TRANSIENT);
	if (sqlite3_bind_parameter_count(*st) >= 3)
		sqlite3_bind_text(*st, 3, o->user, -1, SQLITE_STATIC);
	return 0;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st, int rc)
{
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "breaktime: report: the store: %s\n", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

/* The name to show: the person's, or their pseudonym. */
static const char *shown(const struct report_opts *o, const char *user, char buf[PSEUDONYM_LEN])
{
	if (!o->pseudonymise || !user || !*user)
		return user;
	pseudonym_of(o->secret, sizeof(o->secret), user, buf);
	return buf;
}

static bool group_ok(const struct report_opts *o, const char *grp)
{
	return !o->group || (grp && strcmp(o->group, grp) == 0);
}

static const struct group *group_for(const struct policy *p, const char *grp, const char *user)
{
	const struct group *g = grp && *grp ? policy_group_find(p, grp) : NULL;
	return g ? g : policy_group_of(p, user);
}

/* UTC seconds of a site-local day and minute (the first, when repeated). */
static time_t local_to_utc(const struct policy *p, const char *day, int minute)
{
	int64_t d;
	if (period_parse(day, &d) != 0)
		return 0;
	int64_t local = d * TZ_DAY_SECONDS + (int64_t)minute * 60, out[2];
	const struct tz *tz = policy_tz(p);
	if (!tz)
		return (time_t)local;
	if (tz_local_to_utc(tz, local, out) >= 1)
		return (time_t)out[0];
	return (time_t)(local - tz_offset(tz, local, NULL, NULL)); /* in a gap */
}

/* "HH:MM" (or "YYYY-MM-DD HH:MM") on the site's clock of a ts_ms column. */
static void local_hhmm(const struct policy *p, int64_t ms, char *buf, size_t len, bool date)
{
	tz_local_text(policy_tz(p), tz_floordiv(ms, 1000), date, buf, len);
}

/* ---- the minute scanner ---- */

/*
 * Personal active minutes of one person on one day: the view's semantics
 * (a (platform, minute) is active when any of its rows is, personal when
 * any row's purpose is), each minute once over all platforms.
 */
struct dayblock {
	char day[11];
	char user[256];
	char grp[64];
	unsigned char on[1440];    /* 1: an active personal minute */
	unsigned n;                /* how many */
	char platforms[256];       /* comma-separated, those with active personal minutes */
};

typedef void scan_fn(const struct dayblock *b, void *ctx);

/*
 * Stream usage_minutes over [from, to] in primary-key order (no sort, no
 * temporary table: a 90-day report over 500 people reads ~1 M rows) and
 * call fn once per (day, user) with at least one active personal minute.
 */
static int scan_minutes(sqlite3 *db, const struct report_opts *o, int64_t from, int64_t to,
			scan_fn *fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc;
	struct dayblock *b = calloc(1, sizeof(*b));
	char platform[128] = "", last_added[128] = "";
	int minute = -1;
	bool act = false, pers = false, have = false;

	if (!b || prepare(db, "SELECT day, user, platform, minute, grp, purpose = 'personal', active "
			      "FROM usage_minutes WHERE day BETWEEN ?1 AND ?2 "
			      "AND (?3 IS NULL OR user = ?3) "
			      "ORDER BY day, user, platform, minute",
			  &st, o, from, to) != 0) {
		free(b);
		return -1;
	}
	for (;;) {
		rc = sqlite3_step(st);
		bool row = rc == SQLITE_ROW;
		const char *day = row ? col_text(st, 0) : "", *user = row ? col_text(st, 1) : "";
		const char *plat = row ? col_text(st, 2) : "";
		int m = row ? sqlite3_column_int(st, 3) : -1;
		bool same_block = row && have && strcmp(day, b->day) == 0 && strcmp(user, b->user) == 0;
		bool same_key = same_block && m == minute && strcmp(plat, platform) == 0;
		if (have && !same_key && act && pers && minute >= 0 && minute < 1440) {
			/* flush the (platform, minute) */
			if (!b->on[minute]) {
				b->on[minute] = 1;
				b->n++;
			}
			if (strcmp(last_added, platform) != 0 &&
			    strlen(b->platforms) + strlen(platform) + 2 < sizeof(b->platforms)) {
				if (b->platforms[0])
					strcat(b->platforms, ",");
				strcat(b->platforms, platform);
				snprintf(last_added, sizeof(last_added), "%s", platform);
			}
		}
		if (have && !same_block) {
			if (b->n && group_ok(o, b->grp[0] ? b->grp : NULL))
				fn(b, ctx);
			memset(b, 0, sizeof(*b));
			last_added[0] = '\0';
			have = false;
		}
		if (!row)
			break;
		if (!have) {
			snprintf(b->day, sizeof(b->day), "%s", day);
			snprintf(b->user, sizeof(b->user), "%s", user);
			have = true;
		}
		if (!same_key) {
			snprintf(platform, sizeof(platform), "%s", plat);
			minute = m;
			act = pers = false;
		}
		if (!b->grp[0] && sqlite3_column_type(st, 4) != SQLITE_NULL)
			snprintf(b->grp, sizeof(b->grp), "%s", col_text(st, 4));
		act |= sqlite3_column_int(st, 6) != 0;
		pers |= sqlite3_column_int(st, 5) != 0;
	}
	free(b);
	return step_done(db, st, rc);
}

/* ---- excessive ---- */

struct person {
	char *user, *grp;
	unsigned allowance;        /* of the group last seen in the period */
	long total, outside, minutes_over, days_over, days_active, blocked, prev;
	unsigned break_allowance;  /* minutes a period (break, non-directed time) */
	long breaks_over, break_minutes_over;
	char platforms[256];
};

struct people {
	struct person *v;
	size_t n, cap;
};

static struct person *person_get(struct people *ps, const char *user)
{
	for (size_t i = ps->n; i-- > 0;) /* rows come grouped by user: the last is likely */
		if (strcmp(ps->v[i].user, user) == 0)
			return &ps->v[i];
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 32;
		struct person *v = realloc(ps->v, ps->cap * sizeof(*v));
		if (!v) {
			fprintf(stderr, "breaktime: out of memory\n");
			exit(1);
		}
		ps->v = v;
	}
	struct person *p = &ps->v[ps->n++];
	memset(p, 0, sizeof(*p));
	p->user = strdup(user);
	p->allowance = POLICY_UNLIMITED;
	p->break_allowance = POLICY_UNLIMITED;
	return p;
}

static void add_platforms(struct person *p, const char *list)
{
	/* list: comma-separated; keep each once, in order of first use */
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(s);
		bool seen = false;
		for (const char *q = p->platforms; (q = strstr(q, s)); q += n)
			if ((q == p->platforms || q[-1] == ' ') && (q[n] == '\0' || q[n] == ' '))
				seen = true;
		if (!seen && strlen(p->platforms) + n + 2 < sizeof(p->platforms)) {
			if (p->platforms[0])
				strcat(p->platforms, " ");
			strcat(p->platforms, s);
		}
	}
}

static int cmp_severity(const void *a, const void *b)
{
	const struct person *x = a, *y = b;
	long sx = (x->minutes_over > x->break_minutes_over ? x->minutes_over : x->break_minutes_over) +
		  x->outside;
	long sy = (y->minutes_over > y->break_minutes_over ? y->minutes_over : y->break_minutes_over) +
		  y->outside;
	if (sx != sy)
		return sx > sy ? -1 : 1;
	if (x->days_over != y->days_over)
		return x->days_over > y->days_over ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->user, y->user);
}

static void day_close(struct person *p, long day_minutes)
{
	if (day_minutes <= 0)
		return;
	p->days_active++;
	if (p->allowance != POLICY_UNLIMITED && day_minutes > (long)p->allowance) {
		p->days_over++;
		p->minutes_over += day_minutes - (long)p->allowance;
	}
}

/*
 * The allowed period (break, non-directed time) minute m of the day is in
 * for g: its start, 0 when outside allowed time. Cached per (group, day):
 * rows come by day.
 */
struct allowed_cache {
	const struct group *g;
	char day[11];
	int64_t v[1440];           /* -1 unknown */
};

struct excessive_scan {
	const struct policy *pol;
	struct people *ps;
	struct allowed_cache cache[8];
	size_t next;
};

static int64_t period_at(struct excessive_scan *xs, const struct group *g, const char *day, int m)
{
	struct allowed_cache *ac = NULL;
	for (size_t i = 0; i < 8; i++)
		if (xs->cache[i].g == g && strcmp(xs->cache[i].day, day) == 0)
			ac = &xs->cache[i];
	if (!ac) {
		ac = &xs->cache[xs->next++ % 8];
		ac->g = g;
		snprintf(ac->day, sizeof(ac->day), "%s", day);
		memset(ac->v, -1, sizeof(ac->v));
	}
	if (ac->v[m] < 0)
		ac->v[m] = (int64_t)policy_period_start(xs->pol, g, local_to_utc(xs->pol, day, m));
	return ac->v[m];
}

static void excessive_on_day(const struct dayblock *b, void *ctx)
{
	struct excessive_scan *xs = ctx;
	struct person *p = person_get(xs->ps, b->user);
	const char *grp = b->grp[0] ? b->grp : NULL;
	/* the day's group decides the day's allowance */
	const struct group *g = group_for(xs->pol, grp, b->user);
	p->allowance = g ? policy_group_allowance(g) : POLICY_UNLIMITED;
	p->break_allowance = g ? policy_group_break_allowance(g) : POLICY_UNLIMITED;
	if (grp && (!p->grp || strcmp(p->grp, grp) != 0)) {
		free(p->grp);
		p->grp = strdup(grp);
	}
	p->total += b->n;
	day_close(p, b->n);
	add_platforms(p, b->platforms);
	if (!g)
		return;
	/* outside minutes, and minutes per allowed period against the break allowance */
	int64_t period = 0;
	long in_period = 0;
	for (int m = 0; m <= 1440; m++) {
		int64_t ps = m < 1440 && b->on[m] ? period_at(xs, g, b->day, m) : -1;
		if (ps == 0)
			p->outside++;
		if (ps > 0 && ps == period) {
			in_period++;
			continue;
		}
		if (ps == -1 && m < 1440)
			continue; /* not an active minute: the period goes on */
		if (period > 0 && p->break_allowance != POLICY_UNLIMITED &&
		    in_period > (long)p->break_allowance) {
			p->breaks_over++;
			p->break_minutes_over += in_period - (long)p->break_allowance;
		}
		period = ps > 0 ? ps : 0;
		in_period = ps > 0 ? 1 : 0;
	}
}

static void excessive_on_previous_day(const struct dayblock *b, void *ctx)
{
	struct people *ps = ctx;
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].user, b->user) == 0)
			ps->v[i].prev += b->n;
}

int query_excessive(sqlite3 *db, const struct conf *c, const struct report_opts *o,
		    struct rtable *t)
{
	const struct policy *pol = c->policy;
	struct people ps = {0};
	sqlite3_stmt *st;
	int rc, ret = -1;

	set_common(t, o, db);
	/* personal active minutes per person and day */
	struct excessive_scan xs = {.pol = pol, .ps = &ps};
	if (scan_minutes(db, o, o->from, o->to, excessive_on_day, &xs) != 0)
		goto out;

	/* blocked attempts while students were present */
	if (prepare(db, "SELECT user, SUM(count) FROM events WHERE day BETWEEN ?1 AND ?2 "
			"AND (?3 IS NULL OR user = ?3) AND kind = 'blocked' "
			"AND reason = 'students-present' GROUP BY user",
		    &st, o, o->from, o->to) != 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		for (size_t i = 0; i < ps.n; i++)
			if (strcmp(ps.v[i].user, col_text(st, 0)) == 0)
				ps.v[i].blocked = sqlite3_column_int64(st, 1);
	if (step_done(db, st, rc) != 0)
		goto out;

	/* the previous period of the same length */
	int64_t pf, pt;
	period_previous(o->from, o->to, &pf, &pt);
	if (scan_minutes(db, o, pf, pt, excessive_on_previous_day, &ps) != 0)
		goto out;

	if (ps.n)
		qsort(ps.v, ps.n, sizeof(*ps.v), cmp_severity);
	rtable_col(t, "user", RCOL_TEXT);
	rtable_col(t, "group", RCOL_TEXT);
	rtable_col(t, "allowance", RCOL_INT);
	rtable_col(t, "days_over", RCOL_INT);
	rtable_col(t, "minutes_over", RCOL_INT);
	rtable_col(t, "break_allowance", RCOL_INT);
	rtable_col(t, "breaks_over", RCOL_INT);
	rtable_col(t, "break_minutes_over", RCOL_INT);
	rtable_col(t, "outside_minutes", RCOL_INT);
	rtable_col(t, "active_minutes", RCOL_INT);
	rtable_col(t, "allowed_time_pct", RCOL_INT);
	rtable_col(t, "blocked_students_present", RCOL_INT);
	rtable_col(t, "previous_minutes", RCOL_INT);
	rtable_col(t, "change", RCOL_INT);
	rtable_col(t, "platforms", RCOL_TEXT);
	for (size_t i = 0; i < ps.n; i++) {
		const struct person *p = &ps.v[i];
		char pn[PSEUDONYM_LEN];
		if (p->minutes_over == 0 && p->outside == 0 && p->break_minutes_over == 0)
			continue;
		rtable_add(t, shown(o, p->user, pn));
		if (t->nseries < RTABLE_MAX_SERIES) {
			struct rseries *sr = &t->series[t->nseries++];
			sr->user = strdup(p->user);
			sr->label = strdup(shown(o, p->user, pn));
			sr->allowance = p->allowance == POLICY_UNLIMITED ? 0 : p->allowance;
		}
		rtable_add(t, p->grp);
		if (p->allowance == POLICY_UNLIMITED)
			rtable_add(t, NULL);
		else
			rtable_addf(t, "%u", p->allowance);
		rtable_addf(t, "%ld", p->days_over);
		rtable_addf(t, "%ld", p->minutes_over);
		if (p->break_allowance == POLICY_UNLIMITED)
			rtable_add(t, NULL);
		else
			rtable_addf(t, "%u", p->break_allowance);
		rtable_addf(t, "%ld", p->breaks_over);
		rtable_addf(t, "%ld", p->break_minutes_over);
		rtable_addf(t, "%ld", p->outside);
		rtable_addf(t, "%ld", p->total);
		rtable_addf(t, "%ld", p->total ? (p->total - p->outside) * 100 / p->total : 0);
		rtable_addf(t, "%ld", p->blocked);
		rtable_addf(t, "%ld", p->prev);
		rtable_addf(t, "%ld", p->total - p->prev);
		rtable_add(t, p->platforms);
	}
	char f[11], tt[11];
	period_format(pf, f, sizeof(f));
	period_format(pt, tt, sizeof(tt));
	rtable_note(t, "Listed: people with personal active minutes over their group's daily "
		       "allowance on at least one day, over its break allowance in at least one "
		       "allowed period, or outside the times their group's rule allows.");
	rtable_note(t, "active_minutes: personal active minutes in the period, all platforms "
		       "together, each minute once (organisational and sanctioned use excluded).");
	rtable_note(t, "days_over, minutes_over: days whose active minutes exceeded the daily "
		       "allowance of the group the person was in that day, and the sum of the excess.");
	rtable_note(t, "breaks_over, break_minutes_over: allowed periods (a break, a stretch of "
		       "non-directed time) whose active minutes exceeded the group's break_allowance, "
		       "and the sum of the excess.");
	rtable_note(t, "outside_minutes: active minutes in no break or non-directed time of the "
		       "group's rule, or while the timetable had students present (use recorded "
		       "under over_allowance = log, or by the sensor).");
	rtable_note(t, "allowed_time_pct: the share of active minutes inside allowed times.");
	rtable_note(t, "blocked_students_present: attempts refused because students were present.");
	rtable_note(t, "previous_minutes, change: active minutes in %s .. %s, the previous "
		       "period of the same length, and the difference.", f, tt);
	rtable_note(t, "Order: the larger of minutes_over and break_minutes_over, plus "
		       "outside_minutes; then days_over; then active_minutes.");
	if (o->kept_from && pf < o->kept_from) {
		period_format(o->kept_from, f, sizeof(f));
		rtable_note(t, "The previous period starts before %s, the oldest day the store keeps: "
			       "previous_minutes covers only the days since.", f);
	}
	ret = 0;
out:
	for (size_t i = 0; i < ps.n; i++) {
		free(ps.v[i].user);
		free(ps.v[i].grp);
	}
	free(ps.v);
	return ret;
}

/* ---- usage ---- */

/*
 * One person's use of one platform on one day: the view's active and
 * personal minutes, and requests and bytes over all rows (active or not).
 */
struct ublock {
	char day[11];
	char user[256];
	char platform[128];
	char grp[64];
	long active, personal;
	long long requests, bytes;
};

typedef void ublock_fn(const struct ublock *b, void *ctx);

/* Stream usage_minutes over [from, to] in primary-key order: fn per (day, user, platform). */
static int scan_usage(sqlite3 *db, const struct report_opts *o, ublock_fn *fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc, minute = -1;
	bool have = false, act = false, pers = false;
	struct ublock b;

	if (prepare(db, "SELECT day, user, platform, minute, grp, purpose = 'personal', active, "
			"requests, bytes FROM usage_minutes WHERE day BETWEEN ?1 AND ?2 "
			"AND (?3 IS NULL OR user = ?3) ORDER BY day, user, platform, minute",
		    &st, o, o->from, o->to) != 0)
		return -1;
	memset(&b, 0, sizeof(b));
	for (;;) {
		rc = sqlite3_step(st);
		bool row = rc == SQLITE_ROW;
		const char *day = row ? col_text(st, 0) : "", *user = row ? col_text(st, 1) : "";
		const char *plat = row ? col_text(st, 2) : "";
		int m = row ? sqlite3_column_int(st, 3) : -1;
		bool same = row && have && strcmp(plat, b.platform) == 0 &&
			    strcmp(user, b.user) == 0 && strcmp(day, b.day) == 0;
		if (have && (!same || m != minute)) {
			b.active += act;
			b.personal += act && pers;
			act = pers = false;
		}
		if (have && !same) {
			if (group_ok(o, b.grp[0] ? b.grp : NULL))
				fn(&b, ctx);
			memset(&b, 0, sizeof(b));
			have = false;
		}
		if (!row)
			break;
		if (!have) {
			snprintf(b.day, sizeof(b.day), "%s", day);
			snprintf(b.user, sizeof(b.user), "%s", user);
			snprintf(b.platform, sizeof(b.platform), "%s", plat);
			have = true;
		}
		minute = m;
		if (!b.grp[0] && sqlite3_column_type(st, 4) != SQLITE_NULL)
			snprintf(b.grp, sizeof(b.grp), "%s", col_text(st, 4));
		pers |= sqlite3_column_int(st, 5) != 0;
		act |= sqlite3_column_int(st, 6) != 0;
		b.requests += sqlite3_column_int64(st, 7);
		b.bytes += sqlite3_column_int64(st, 8);
	}
	return step_done(db, st, rc);
}

/*
 * One day's totals by (group, platform) or by platform: blocks arrive by
 * day, so a day is complete when the next begins; then sorted and added.
 */
struct dayagg {
	struct aggrow {
		char grp[64], platform[128];
		long people, active, personal;
		long long requests, bytes;
	} *v;
	size_t n, cap;
	char day[11];
	bool by_group;             /* false: by platform (the platforms report) */
	struct rtable *t;
};

static int cmp_aggrow(const void *a, const void *b)
{
	const struct aggrow *x = a, *y = b;
	int c = strcmp(x->grp, y->grp);
	return c ? c : strcmp(x->platform, y->platform);
}

static void dayagg_flush(struct dayagg *g)
{
	if (g->n)
		qsort(g->v, g->n, sizeof(*g->v), cmp_aggrow);
	for (size_t i = 0; i < g->n; i++) {
		const struct aggrow *r = &g->v[i];
		rtable_add(g->t, g->day);
		if (g->by_group) {
			rtable_addf(g->t, "%ld", r->people);
			rtable_add(g->t, r->grp[0] ? r->grp : NULL);
			rtable_add(g->t, r->platform);
			rtable_addf(g->t, "%ld", r->active);
			rtable_addf(g->t, "%ld", r->personal);
		} else {
			rtable_add(g->t, r->platform);
			rtable_addf(g->t, "%ld", r->active);
			rtable_addf(g->t, "%ld", r->personal);
			rtable_addf(g->t, "%ld", r->people);
		}
		rtable_addf(g->t, "%lld", r->requests);
		rtable_addf(g->t, "%lld", r->bytes);
	}
	g->n = 0;
}

static void dayagg_on_block(const struct ublock *b, void *ctx)
{
	struct dayagg *g = ctx;
	if (strcmp(g->day, b->day) != 0) {
		dayagg_flush(g);
		snprintf(g->day, sizeof(g->day), "%s", b->day);
	}
	const char *grp = g->by_group ? b->grp : "";
	struct aggrow *r = NULL;
	for (size_t i = 0; i < g->n && !r; i++)
		if (strcmp(g->v[i].platform, b->platform) == 0 && strcmp(g->v[i].grp, grp) == 0)
			r = &g->v[i];
	if (!r) {
		if (g->n == g->cap) {
			g->cap = g->cap ? 2 * g->cap : 64;
			struct aggrow *nv = realloc(g->v, g->cap * sizeof(*nv));
			if (!nv) {
				fprintf(stderr, "breaktime: out of memory\n");
				exit(1);
			}
			g->v = nv;
		}
		r = &g->v[g->n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->grp, sizeof(r->grp), "%s", grp);
		snprintf(r->platform, sizeof(r->platform), "%s", b->platform);
	}
	/* per group: everyone seen; per platform: everyone with an active minute */
	if (g->by_group || b->active)
		r->people++;
	r->active += b->active;
	r->personal += b->personal;
	r->requests += b->requests;
	r->bytes += b->bytes;
}

struct usage_rows {
	const struct report_opts *o;
	struct rtable *t;
};

static void usage_on_block(const struct ublock *b, void *ctx)
{
	struct usage_rows *u = ctx;
	char pn[PSEUDONYM_LEN];
	rtable_add(u->t, b->day);
	rtable_add(u->t, shown(u->o, b->user, pn));
	rtable_add(u->t, b->grp[0] ? b->grp : NULL);
	rtable_add(u->t, b->platform);
	rtable_addf(u->t, "%ld", b->active);
	rtable_addf(u->t, "%ld", b->personal);
	rtable_addf(u->t, "%lld", b->requests);
	rtable_addf(u->t, "%lld", b->bytes);
}

int query_usage(sqlite3 *db, const struct conf *c, const struct report_opts *o,
		struct rtable *t)
{
	int rc;
	(void)c;

	set_common(t, o, db);
	rtable_col(t, "day", RCOL_TEXT);
	rtable_col(t, o->by_group ? "people" : "user", o->by_group ? RCOL_INT : RCOL_TEXT);
	rtable_col(t, "group", RCOL_TEXT);
	rtable_col(t, "platform", RCOL_TEXT);
	rtable_col(t, "active_minutes", RCOL_INT);
	rtable_col(t, "personal_minutes", RCOL_INT);
	rtable_col(t, "requests", RCOL_INT);
	rtable_col(t, "bytes", RCOL_INT);
	if (o->by_group) {
		struct dayagg g = {.by_group = true, .t = t};
		rc = scan_usage(db, o, dayagg_on_block, &g);
		dayagg_flush(&g);
		free(g.v);
	} else {
		struct usage_rows u = {o, t};
		rc = scan_usage(db, o, usage_on_block, &u);
	}
	rtable_note(t, "active_minutes: minutes of the day in which the platform was active "
		       "for the person (per group: summed over its people); personal_minutes: "
		       "those counting against an allowance.");
	rtable_note(t, "requests: HTTP requests started; bytes: both directions, tunnels "
		       "included, in every minute with traffic (active or not).");
	return rc;
}

/* ---- breaches ---- */

int query_breaches(sqlite3 *db, const struct conf *c, const struct report_opts *o,
		   struct rtable *t)
{
	sqlite3_stmt *st;
	int rc;

	set_common(t, o, db);
	if (prepare(db, "SELECT day, user, MAX(grp), platform, reason, SUM(count), MIN(ts_ms), "
			"MAX(ts_ms), group_concat(DISTINCT host) FROM events "
			"WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR user = ?3) "
			"AND ((kind = 'blocked' AND reason IN ('students-present', 'outside-allowed-time')) "
			"OR (source = 'sensor' AND reason IN ('doh', 'vpn'))) "
			"GROUP BY day, user, platform, reason ORDER BY day, MIN(ts_ms), user",
		    &st, o, o->from, o->to) != 0)
		return -1;
	rtable_col(t, "day", RCOL_TEXT);
	rtable_col(t, "user", RCOL_TEXT);
	rtable_col(t, "group", RCOL_TEXT);
	rtable_col(t, "platform", RCOL_TEXT);
	rtable_col(t, "reason", RCOL_TEXT);
	rtable_col(t, "attempts", RCOL_INT);
	rtable_col(t, "first", RCOL_TEXT);
	rtable_col(t, "last", RCOL_TEXT);
	rtable_col(t, "hosts", RCOL_TEXT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *grp = (const char *)sqlite3_column_text(st, 2);
		if (!group_ok(o, grp))
			continue;
		char pn[PSEUDONYM_LEN], a[8], b[8];
		rtable_add(t, col_text(st, 0));
		rtable_add(t, shown(o, col_text(st, 1), pn));
		rtable_add(t, grp);
		rtable_add(t, col_text(st, 3));
		rtable_add(t, col_text(st, 4));
		rtable_add(t, col_text(st, 5));
		local_hhmm(c->policy, sqlite3_column_int64(st, 6), a, sizeof(a), false);
		local_hhmm(c->policy, sqlite3_column_int64(st, 7), b, sizeof(b), false);
		rtable_add(t, a);
		rtable_add(t, b);
		rtable_add(t, col_text(st, 8));
	}
	rtable_note(t, "Attempts the proxy refused because students were present or outside the "
		       "times the person's group may use social media; first and last are site-local "
		       "times. Evidence for a conversation, not a verdict: one page can make several "
		       "attempts.");
	rtable_note(t, "Reason doh or vpn: connections breaktime-sensor saw to a DNS-over-HTTPS "
		       "resolver or a VPN port (hosts: the resolvers or VPN servers), ways around the "
		       "proxy and its filtering; counted whenever they happen, never as social minutes.");
	return step_done(db, st, rc);
}

/* ---- platforms ---- */

struct domain_count {
	char name[256];
	long n;
	long long bytes;
};

static int cmp_domain_name(const void *a, const void *b)
{
	return strcmp(((const struct domain_count *)a)->name, ((const struct domain_count *)b)->name);
}

static int cmp_domain_n(const void *a, const void *b)
{
	const struct domain_count *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

#define TOP_UNCLASSIFIED 20

/*
 * The registrable domains (eTLD+1) most often requested that are not in
 * the catalog, to grow it: from events of hosts with no platform, which
 * exist only under [store] log_other = hosts. No people: counts only.
 */
static int unclassified(sqlite3 *db, const struct report_opts *o, struct rtable *t)
{
	sqlite3_stmt *st;
	int rc;
	struct domain_count *v = NULL;
	size_t n = 0, cap = 0;

	if (prepare(db, "SELECT host, SUM(count), SUM(bytes_up + bytes_down) FROM events "
			"WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR user = ?3) "
			"AND platform IS NULL AND host IS NOT NULL AND (?4 IS NULL OR grp = ?4) "
			"GROUP BY host",
		    &st, o, o->from, o->to) != 0)
		return -1;
	sqlite3_bind_text(st, 4, o->group, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char reg[256];
		const char *d = catalog_registrable(col_text(st, 0), reg, sizeof(reg));
		if (!d || !*d)
			d = col_text(st, 0);
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			struct domain_count *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				sqlite3_finalize(st);
				fprintf(stderr, "breaktime: out of memory\n");
				return -1;
			}
			v = nv;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", d);
		v[n].n = sqlite3_column_int64(st, 1);
		v[n].bytes = sqlite3_column_int64(st, 2);
		n++;
	}
	if (step_done(db, st, rc) != 0) {
		free(v);
		return -1;
	}
	/* merge the hosts of one registrable domain */
	size_t m = 0;
	if (n) {
		qsort(v, n, sizeof(*v), cmp_domain_name);
		for (size_t i = 1; i < n; i++) {
			if (strcmp(v[i].name, v[m].name) == 0) {
				v[m].n += v[i].n;
				v[m].bytes += v[i].bytes;
			} else {
				v[++m] = v[i];
			}
		}
		m++;
		qsort(v, m, sizeof(*v), cmp_domain_n);
	}
	if (m == 0)
		rtable_note(t, "Unclassified registrable domains: none recorded (host names of "
			       "traffic outside the catalog are kept only with [store] log_other = hosts).");
	else
		rtable_note(t, "Top unclassified registrable domains (requests and tunnels, bytes), "
			       "candidates for the catalog:");
	for (size_t i = 0; i < m && i < TOP_UNCLASSIFIED; i++)
		rtable_note(t, "  unclassified %s %ld %lld", v[i].name, v[i].n, v[i].bytes);
	free(v);
	return 0;
}


int query_platforms(sqlite3 *db, const struct conf *c, const struct report_opts *o,
		    struct rtable *t)
{
	(void)c;

	set_common(t, o, db);
	rtable_col(t, "day", RCOL_TEXT);
	rtable_col(t, "platform", RCOL_TEXT);
	rtable_col(t, "active_minutes", RCOL_INT);
	rtable_col(t, "personal_minutes", RCOL_INT);
	rtable_col(t, "people", RCOL_INT);
	rtable_col(t, "requests", RCOL_INT);
	rtable_col(t, "bytes", RCOL_INT);
	struct dayagg g = {.by_group = false, .t = t};
	int rc = scan_usage(db, o, dayagg_on_block, &g);
	dayagg_flush(&g);
	free(g.v);
	rtable_note(t, "active_minutes: summed over people (two people in one minute: 2); "
		       "people: those with an active minute on the platform that day.");
	if (rc != 0)
		return -1;
	return unclassified(db, o, t);
}

/* ---- user: one person's sessions ---- */

#define SESSION_GAP 5 /* minutes without activity that end a session */

int query_user(sqlite3 *db, const struct conf *c, const struct report_opts *o,
	       struct rtable *t)
{
	sqlite3_stmt *st;
	int rc;
	(void)c;

	set_common(t, o, db);
	if (!o->user) {
		fprintf(stderr, "breaktime: report user: give --user NAME\n");
		return -1;
	}
	if (prepare(db, "SELECT day, platform, minute, personal, requests, bytes FROM ("
			MINUTES_SQL ") WHERE active ORDER BY day, platform, minute",
		    &st, o, o->from, o->to) != 0)
		return -1;
	rtable_col(t, "day", RCOL_TEXT);
	rtable_col(t, "platform", RCOL_TEXT);
	rtable_col(t, "start", RCOL_TEXT);
	rtable_col(t, "end", RCOL_TEXT);
	rtable_col(t, "active_minutes", RCOL_INT);
	rtable_col(t, "personal_minutes", RCOL_INT);
	rtable_col(t, "requests", RCOL_INT);
	rtable_col(t, "bytes", RCOL_INT);
	char day[11] = "", platform[128] = "";
	int first = -1, last = -1;
	long act = 0, pers = 0, req = 0, bytes = 0;
	for (;;) {
		rc = sqlite3_step(st);
		bool row = rc == SQLITE_ROW;
		int m = row ? sqlite3_column_int(st, 2) : 0;
		bool same = row && first >= 0 && strcmp(day, col_text(st, 0)) == 0 &&
			    strcmp(platform, col_text(st, 1)) == 0 && m - last <= SESSION_GAP;
		if (!same && first >= 0) {
			rtable_add(t, day);
			rtable_add(t, platform);
			rtable_addf(t, "%02d:%02d", first / 60, first % 60);
			rtable_addf(t, "%02d:%02d", (last + 1) / 60, (last + 1) % 60);
			rtable_addf(t, "%ld", act);
			rtable_addf(t, "%ld", pers);
			rtable_addf(t, "%ld", req);
			rtable_addf(t, "%ld", bytes);
			first = -1;
		}
		if (!row)
			break;
		if (first < 0) {
			snprintf(day, sizeof(day), "%s", col_text(st, 0));
			snprintf(platform, sizeof(platform), "%s", col_text(st, 1));
			first = m;
			act = pers = req = bytes = 0;
		}
		last = m;
		act++;
		pers += sqlite3_column_int(st, 3);
		req += sqlite3_column_int64(st, 4);
		bytes += sqlite3_column_int64(st, 5);
	}
	rtable_note(t, "A session: active minutes on one platform with gaps of at most %d "
		       "minutes; start and end are site-local (end: after the last active minute).",
		    SESSION_GAP);
	return step_done(db, st, rc);
}

/* ---- presence ---- */

int query_presence(sqlite3 *db, const struct conf *c, const struct report_opts *o,
		   struct rtable *t)
{
	sqlite3_stmt *st;
	int rc;

	set_common(t, o, db);
	if (prepare(db, "SELECT ts_ms, state, expires_ms, cause, source FROM presence "
			"WHERE day BETWEEN ?1 AND ?2 ORDER BY ts_ms, id",
		    &st, o, o->from, o->to) != 0)
		return -1;
	rtable_col(t, "time", RCOL_TEXT);
	rtable_col(t, "state", RCOL_TEXT);
	rtable_col(t, "until", RCOL_TEXT);
	rtable_col(t, "cause", RCOL_TEXT);
	rtable_col(t, "source", RCOL_TEXT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char a[24], b[24] = "";
		local_hhmm(c->policy, sqlite3_column_int64(st, 0), a, sizeof(a), true);
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			local_hhmm(c->policy, sqlite3_column_int64(st, 2), b, sizeof(b), true);
		rtable_add(t, a);
		rtable_add(t, col_text(st, 1));
		rtable_add(t, b[0] ? b : NULL);
		rtable_add(t, col_text(st, 3));
		rtable_add(t, col_text(st, 4));
	}
	rtable_note(t, "state: on / off (set by hand), auto (override cleared), detected or "
		       "timetable (changes nobody made by hand). Times are site-local.");
	rtable_note(t, "The timetable's own windows are in the configuration ([presence]); "
		       "`breaktime explain` shows the state at any moment.");
	return step_done(db, st, rc);
}

/* ---- charts ---- */

struct charts_scan {
	struct rtable *t;
	int64_t from, to;
	bool everyone;
};

static void charts_on_day(const struct dayblock *b, void *ctx)
{
	struct charts_scan *cs = ctx;
	int64_t day;
	if (period_parse(b->day, &day) != 0 || day < cs->from || day > cs->to)
		return;
	for (int m = 0; m < 1440; m++)
		cs->t->heat[tz_weekday(day)][m / 60] += b->on[m];
	for (size_t i = 0; i < cs->t->nseries; i++)
		if (cs->everyone || strcmp(cs->t->series[i].user, b->user) == 0)
			cs->t->series[i].values[day - cs->from] += b->n;
}

int query_charts(sqlite3 *db, const struct conf *c, const struct report_opts *o,
		 struct rtable *t)
{

	t->first_day = o->from;
	t->ndays = (size_t)(o->to - o->from + 1);
	if (t->ndays > 732)
		return 0; /* two years of bars say nothing: no charts */
	if (t->nseries == 0) {
		/* everyone in the filters, as one series */
		struct rseries *sr = &t->series[t->nseries++];
		sr->user = o->user ? strdup(o->user) : NULL;
		char pn[PSEUDONYM_LEN];
		sr->label = strdup(o->user ? shown(o, o->user, pn)
					   : o->group ? o->group : "everyone (sum over people)");
		if (o->user) {
			const struct group *g = policy_group_of(c->policy, o->user);
			unsigned a = g ? policy_group_allowance(g) : POLICY_UNLIMITED;
			sr->allowance = a == POLICY_UNLIMITED ? 0 : a;
		}
	}
	for (size_t i = 0; i < t->nseries; i++) {
		t->series[i].values = calloc(t->ndays, sizeof(long));
		if (!t->series[i].values) {
			fprintf(stderr, "breaktime: out of memory\n");
			return -1;
		}
	}
	struct charts_scan cs = {.t = t, .from = o->from, .to = o->to,
				 .everyone = t->nseries == 1 && !t->series[0].user};
	if (scan_minutes(db, o, o->from, o->to, charts_on_day, &cs) != 0)
		return -1;
	t->has_charts = true;
	return 0;
}
