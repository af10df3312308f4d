/*
 * policy: policy_decide() and the read-only accessors of the model.
 *
 * DESIGN: the loader has already reduced each group's `social` rule and the
 * schedule to, per weekday, a handful of stretches with three bits each
 * (the rule's value without students, with students, and whether the
 * presence timetable is open: SEG_* in policy_internal.h). Deciding is then
 * a time zone lookup, a civil-date division, a closed-date search and a
 * table lookup. `until` walks forward over the same stretches — converting
 * each local edge back to UTC within the current UTC-offset span, and
 * stopping at span ends (daylight-saving changes), at local midnights and
 * at the presence override's and detection's expiry — re-judging at each
 * step with usage reset where the clock resets it, until the verdict
 * differs. After the last closed date the week repeats, so a walk that finds
 * no change within fifteen days after both that date and the presence
 * events never will (two weeks, because a window lying in the hour the
 * clocks skip does not happen that week).
 *
 * Pure: no allocation, no locks, no global state; any thread, any number at
 * once.
 */
#include "policy_internal.h"

#include "fnv.h"
#include "username.h"

#include <string.h>
#include <strings.h>

/* ---- names ---- */

static const char *const reason_texts[REASON_COUNT] = {
	[REASON_NOT_SOCIAL] = "this site is not a social media platform covered by the policy",
	[REASON_ORGANISATIONAL] = "use on behalf of the organisation is allowed at any time",
	[REASON_SANCTIONED] = "this platform is sanctioned for work with students",
	[REASON_ALLOWED] = "social media is allowed at this time",
	[REASON_ALLOWANCE_EXHAUSTED] = "the time allowance for social media is used up",
	[REASON_STUDENTS_PRESENT] = "students are present",
	[REASON_OUTSIDE_ALLOWED_TIME] = "social media is not allowed at this time",
	[REASON_CLOSED] = "the site is closed today",
	[REASON_GROUP_NEVER] = "social media is not allowed for this group",
};

const char *policy_verdict_name(enum verdict v)
{
	const char *s = verdict_name(v);
	return s ? s : "?";
}

const char *policy_reason_name(enum reason r)
{
	const char *s = verdict_reason_name(r);
	return s ? s : "?";
}

const char *policy_reason_text(enum reason r)
{
	return verdict_reason_is_policy(r) ? reason_texts[r] : "?";
}

const char *policy_over_allowance_name(enum over_allowance o)
{
	switch (o) {
	case OVER_ALLOWANCE_WARN:
		return "warn";
	case OVER_ALLOWANCE_LOG:
		return "log";
	default:
		return "block";
	}
}

/* ---- helpers ---- */

static bool same_name(const char *interned, const char *s)
{
	return interned == s || strcmp(interned, s) == 0;
}

static bool in_list(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (same_name(list[i], name))
			return true;
	return false;
}

bool policy_is_social(const struct policy *p, const struct catalog_entry *platform)
{
	if (!platform)
		return false;
	return p->n_categories == 0 || in_list(p->categories, p->n_categories, platform->category);
}

/* The stretch of a weekday that contains minute; *next = minute the next one starts (1440: none). */
static inline uint8_t stretch_at(const struct group_day *gd, unsigned minute, unsigned *next)
{
	size_t i = 1;
	while (i < gd->n && gd->start[i] <= minute)
		i++;
	*next = i < gd->n ? gd->start[i] : SCHEDULE_MINUTES;
	return gd->bits[i - 1];
}

struct judge_ctx {
	const struct group *g;
	bool sanctioned;
	const struct presence_state *ps;
	unsigned idle;
};

static inline struct decision judge(const struct judge_ctx *c, uint8_t bits, bool closed, int64_t t,
				    unsigned day_used, unsigned period_used)
{
	const struct group *g = c->g;
	bool students = presence_at(c->ps, (time_t)t, bits & SEG_TIMETABLE, c->idle, NULL);
	struct decision d = {VERDICT_BLOCK, REASON_OUTSIDE_ALLOWED_TIME, 0};

	if (c->sanctioned && students) {
		d.verdict = VERDICT_ALLOW;
		d.reason = REASON_SANCTIONED;
		return d;
	}
	if (!(bits & (students ? SEG_RULE_STUDENTS : SEG_RULE_NO_STUDENTS))) {
		if (g->never)
			d.reason = REASON_GROUP_NEVER;
		else if (students && (bits & SEG_RULE_NO_STUDENTS))
			d.reason = REASON_STUDENTS_PRESENT;
		else if (closed)
			d.reason = REASON_CLOSED;
		return d;
	}
	if ((g->allowance != POLICY_UNLIMITED && day_used >= g->allowance) ||
	    (g->break_allowance != POLICY_UNLIMITED && period_used >= g->break_allowance)) {
		d.reason = REASON_ALLOWANCE_EXHAUSTED;
		d.verdict = g->over == OVER_ALLOWANCE_BLOCK ? VERDICT_BLOCK
			  : g->over == OVER_ALLOWANCE_WARN ? VERDICT_WARN : VERDICT_ALLOW;
		return d;
	}
	d.verdict = VERDICT_ALLOW;
	d.reason = REASON_ALLOWED;
	return d;
}

struct decision policy_decide(const struct policy *p, const struct identity *id,
			      const struct catalog_entry *platform, time_t now,
			      const struct presence_state *ps, const struct usage *usage)
{
	const struct group *g = id && id->group ? id->group : p->default_group;
	struct decision d0 = {VERDICT_ALLOW, REASON_NOT_SOCIAL, 0};

	if (!policy_is_social(p, platform))
		return d0;
	if (g->organisational &&
	    (g->n_org_platforms == 0 || in_list(g->org_platforms, g->n_org_platforms, platform->platform))) {
		d0.reason = REASON_ORGANISATIONAL;
		return d0;
	}

	struct judge_ctx c = {
		.g = g,
		.sanctioned = in_list(g->sanctioned, g->n_sanctioned, platform->platform),
		.ps = ps,
		.idle = p->detect_idle,
	};
	unsigned day_used = usage ? usage->day_minutes : 0;
	unsigned period_used = usage ? usage->period_minutes : 0;
	const struct tz *tz = p->schedule.tz;

	/* the present */
	int64_t t = now, span_end;
	int32_t off = tz_offset(tz, t, NULL, &span_end);
	int64_t local = t + off;
	int64_t day0 = tz_floordiv(local, 86400), day = day0;
	bool closed = schedule_is_closed(&p->schedule, day);
	unsigned next = SCHEDULE_MINUTES;
	uint8_t bits = closed ? g->closed_bits
		: stretch_at(&g->week[tz_weekday(day)], (unsigned)(local - day * 86400) / 60, &next);
	bool same_period = bits & SEG_RULE_NO_STUDENTS;

	d0 = judge(&c, bits, closed, t, day_used, period_used);
	if (g->never && !c.sanctioned)
		return d0;

	/* the clock's future: presence events, and how far to look */
	int64_t ev[2];
	int n_ev = 0;
	if (ps && ps->override != PRESENCE_AUTO && ps->override_until > now)
		ev[n_ev++] = ps->override_until;
	if (ps && ps->last_detected && ps->last_detected + (time_t)p->detect_idle > now)
		ev[n_ev++] = ps->last_detected + (time_t)p->detect_idle;
	int64_t horizon = day0;
	int64_t last_closed = schedule_last_closed(&p->schedule);
	if (last_closed > horizon)
		horizon = last_closed;
	for (int i = 0; i < n_ev; i++) {
		int64_t d = tz_floordiv(ev[i] + off, 86400);
		if (d > horizon)
			horizon = d;
	}
	/* a week and a day repeats every weekly change; two weeks also find a
	 * window that the spring-forward hour swallows this week */
	horizon += 15;

	unsigned wd = tz_weekday(day);
	for (;;) {
		int64_t cand;
		if (closed && day != day0) {
			/* a closed period after today's midnight: every day in it is the
			 * same (usage has reset), so go straight to its end */
			cand = (schedule_closed_until(&p->schedule, day) + 1) * 86400 - off;
		} else {
			cand = day * 86400 + (int64_t)next * 60 - off;
		}
		if (cand > span_end)
			cand = span_end;
		for (int i = 0; i < n_ev; i++)
			if (ev[i] > t && ev[i] < cand)
				cand = ev[i];
		t = cand;
		if (t >= span_end)
			off = tz_offset(tz, t, NULL, &span_end);
		local = t + off;
		int64_t nd = tz_floordiv(local, 86400);
		if (nd != day) {
			wd = nd == day + 1 ? (wd == 6 ? 0 : wd + 1) : tz_weekday(nd);
			day = nd;
			closed = schedule_is_closed(&p->schedule, day);
		}
		next = SCHEDULE_MINUTES;
		bits = closed ? g->closed_bits
			: stretch_at(&g->scan[wd], (unsigned)(local - day * 86400) / 60, &next);
		if (day != day0 || !(bits & SEG_RULE_NO_STUDENTS))
			same_period = false;
		struct decision d = judge(&c, bits, closed, t, day == day0 ? day_used : 0,
					  same_period ? period_used : 0);
		if (d.verdict != d0.verdict) {
			d0.until = (time_t)t;
			return d0;
		}
		if (day > horizon)
			return d0;
	}
}

bool policy_counts_usage(const struct decision *d)
{
	if (d->verdict == VERDICT_BLOCK)
		return false;
	return d->reason == REASON_ALLOWED || d->reason == REASON_ALLOWANCE_EXHAUSTED;
}

time_t policy_period_start(const struct policy *p, const struct group *g, time_t now)
{
	const struct tz *tz = p->schedule.tz;
	int64_t t = now, day0 = 0;

	if (!g)
		g = p->default_group;
	for (int guard = 0; guard < 8; guard++) {
		int64_t span_start;
		int32_t off = tz_offset(tz, t, &span_start, NULL);
		int64_t local = t + off;
		int64_t day = tz_floordiv(local, 86400);
		unsigned minute = (unsigned)(local - day * 86400) / 60, start_min, next;
		if (guard == 0)
			day0 = day;
		else if (day != day0)
			return (time_t)(t + 1); /* the period began at midnight */
		if (schedule_is_closed(&p->schedule, day)) {
			if (!(g->closed_bits & SEG_RULE_NO_STUDENTS))
				return guard == 0 ? 0 : (time_t)(t + 1);
			start_min = 0;
		} else {
			const struct group_day *gd = &g->week[tz_weekday(day)];
			uint8_t bits = stretch_at(gd, minute, &next);
			if (!(bits & SEG_RULE_NO_STUDENTS))
				return guard == 0 ? 0 : (time_t)(t + 1);
			size_t i = 1;
			while (i < gd->n && gd->start[i] <= minute)
				i++;
			i--;
			while (i > 0 && (gd->bits[i - 1] & SEG_RULE_NO_STUDENTS))
				i--;
			start_min = gd->start[i];
		}
		int64_t cand = day * 86400 + (int64_t)start_min * 60 - off;
		if (cand >= span_start)
			return (time_t)cand;
		/* the offset changed during the period: carry on in the span before */
		t = span_start - 1;
	}
	return (time_t)(t + 1);
}

/* ---- groups ---- */

uint64_t policy_name_hash(const char *s)
{
	uint64_t h = FNV64_OFFSET;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		h = fnv64_byte(h, c);
	}
	return h ^ (h >> 29);
}

const struct group *policy_group_of(const struct policy *p, const char *user)
{
	if (!user || !*user || !p->members)
		return p->default_group;
	size_t i = (size_t)policy_name_hash(user) & p->members_mask;
	for (;;) {
		const struct member *m = &p->members[i];
		if (!m->name)
			return p->default_group;
		if (username_equal(m->name, user))
			return m->group;
		i = (i + 1) & p->members_mask;
	}
}

const struct group *policy_group_find(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_groups; i++)
		if (strcmp(p->groups[i].name, name) == 0)
			return &p->groups[i];
	return NULL;
}

const struct group *policy_default_group(const struct policy *p)
{
	return p->default_group;
}

size_t policy_n_groups(const struct policy *p)
{
	return p->n_groups;
}

const struct group *policy_group_at(const struct policy *p, size_t i)
{
	return i < p->n_groups ? &p->groups[i] : NULL;
}

const char *policy_group_name(const struct group *g)
{
	return g->name;
}

const char *policy_group_social(const struct group *g)
{
	return g->social_text;
}

unsigned policy_group_allowance(const struct group *g)
{
	return g->allowance;
}

unsigned policy_group_break_allowance(const struct group *g)
{
	return g->break_allowance;
}

enum over_allowance policy_group_over_allowance(const struct group *g)
{
	return g->over;
}

bool policy_group_organisational(const struct group *g)
{
	return g->organisational;
}

size_t policy_group_n_members(const struct group *g)
{
	return g->n_members;
}

/* ---- clock and presence ---- */

void policy_schedule_state(const struct policy *p, time_t t, struct schedule_state *out)
{
	schedule_state_at(&p->schedule, (int64_t)t, out);
}

const struct schedule *policy_schedule(const struct policy *p)
{
	return &p->schedule;
}

const struct tz *policy_tz(const struct policy *p)
{
	return p ? p->schedule.tz : NULL;
}

bool policy_timetable_open(const struct policy *p, time_t t)
{
	struct schedule_state st;
	if (p->timetable < 0)
		return false;
	schedule_state_at(&p->schedule, (int64_t)t, &st);
	return (st.windows >> p->timetable) & 1;
}

bool policy_students_present(const struct policy *p, const struct presence_state *ps, time_t t,
			     enum presence_source *source)
{
	return presence_at(ps, t, policy_timetable_open(p, t), p->detect_idle, source);
}

unsigned policy_detect_idle(const struct policy *p)
{
	return p->detect_idle;
}

const char *policy_timetable_name(const struct policy *p)
{
	return p->timetable < 0 ? NULL : p->schedule.windows[p->timetable].name;
}

const struct catalog *policy_catalog(const struct policy *p)
{
	return p->catalog;
}

const struct policy_auth *policy_auth(const struct policy *p)
{
	return &p->auth;
}
