/*
 * policy: the acceptable-use policy as a model — groups and their rules,
 * the site's schedule, presence, the platform catalog — and the one pure
 * function that turns it into a decision:
 *
 *     policy_decide(policy, identity, platform, now, presence, usage)
 *         -> { verdict, reason, until }
 *
 * Everything that enforces (breaktimed, breaktime-sensor) and `breaktime
 * explain` call the same function, so what explain says is what happens.
 *
 * A struct policy belongs to a struct conf (conf->policy) and lives exactly
 * as long as it: hold a conf reference while using the policy or anything
 * it returned (groups, catalog entries). It is immutable; every function
 * here is pure, allocates nothing and is safe on any thread without locks.
 *
 * How a decision is made, for a user in group G and a host:
 *  1. the host is not a listed platform, or its category is not one the
 *     rules apply to ([catalog] categories)        -> allow, not-social
 *  2. G is organisational and lists the platform    -> allow, organisational
 *     (at any time; never counts against an allowance)
 *  3. the platform is sanctioned for G and students are present
 *                                                    -> allow, sanctioned
 *     (teaching use; does not count against an allowance)
 *  4. G's `social` expression is false:
 *        G's rule is `never`                         -> block, group-never
 *        it would be true were no students present   -> block, students-present
 *        the date is closed                          -> block, closed
 *        otherwise                                   -> block, outside-allowed-time
 *  5. the day's or this period's allowance is used up -> by over_allowance:
 *        block / warn / allow (log), reason allowance-exhausted
 *  6. otherwise                                      -> allow, allowed
 *
 * `until` is the next moment the verdict would change if nothing but the
 * clock moved: window edges, local midnight (daily allowances reset, closed
 * dates begin and end), a new allowed period (break allowances reset), the
 * override expiring, detection going stale, daylight-saving changes. 0 when
 * it never changes by the clock alone.
 */
#ifndef BREAKTIME_POLICY_H
#define BREAKTIME_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "catalog.h"
#include "presence.h"
#include "schedule.h"
#include "verdict.h"       /* enum verdict, enum reason */

struct policy;
struct group;

enum over_allowance {
	OVER_ALLOWANCE_BLOCK = 0,
	OVER_ALLOWANCE_WARN,
	OVER_ALLOWANCE_LOG,
};

#define POLICY_UNLIMITED 0xffffffffu

struct decision {
	enum verdict verdict;
	enum reason reason;
	time_t until;              /* 0: never changes by the clock alone */
};

struct identity {
	const char *user;          /* user name; NULL or "" when unidentified */
	const struct group *group; /* from policy_group_of(); NULL: [auth] default_group */
};

struct usage {
	/* Active personal minutes on social platforms (all platforms together,
	 * each minute once) in the site's local day so far ... */
	unsigned day_minutes;
	/* ... and since policy_period_start() (for break_allowance). */
	unsigned period_minutes;
};

/* ---- deciding ---- */

/* ps and usage may be NULL (no override, nothing detected; nothing used). */
struct decision policy_decide(const struct policy *p, const struct identity *id,
			      const struct catalog_entry *platform, time_t now,
			      const struct presence_state *ps, const struct usage *usage);

/* Does use under this decision count against the user's allowance? */
bool policy_counts_usage(const struct decision *d);

/*
 * Start of the allowed period G is in at `now` (the run of minutes, within
 * the local day, in which G's rule holds when no students are present: one
 * break, one stretch of non-directed time), or 0 when it is not in one.
 * break_allowance is counted from here.
 */
time_t policy_period_start(const struct policy *p, const struct group *g, time_t now);

/* Is this platform one the social rules apply to ([catalog] categories)? */
bool policy_is_social(const struct policy *p, const struct catalog_entry *platform);

/* ---- groups and identity ---- */

/* The group a user belongs to ([group NAME] members), else [auth] default_group. */
const struct group *policy_group_of(const struct policy *p, const char *user);
const struct group *policy_group_find(const struct policy *p, const char *name);
const struct group *policy_default_group(const struct policy *p);
size_t policy_n_groups(const struct policy *p);
const struct group *policy_group_at(const struct policy *p, size_t i);

const char *policy_group_name(const struct group *g);
const char *policy_group_social(const struct group *g);          /* the rule's text */
unsigned policy_group_allowance(const struct group *g);          /* minutes a day or POLICY_UNLIMITED */
unsigned policy_group_break_allowance(const struct group *g);    /* minutes a period or POLICY_UNLIMITED */
enum over_allowance policy_group_over_allowance(const struct group *g);
bool policy_group_organisational(const struct group *g);
size_t policy_group_n_members(const struct group *g);

/* ---- the clock and presence ---- */

/* The schedule state (local time, closed, open windows) at t. */
void policy_schedule_state(const struct policy *p, time_t t, struct schedule_state *out);
const struct schedule *policy_schedule(const struct policy *p);
/* The site's zone ([policy] timezone, else the system's); NULL for a NULL
 * policy, which tz.h's wall-clock readings take as UTC. */
const struct tz *policy_tz(const struct policy *p);
/* Is the [presence] timetable window open at t (false on closed dates)? */
bool policy_timetable_open(const struct policy *p, time_t t);
/* Effective presence at t (see presence.h). */
bool policy_students_present(const struct policy *p, const struct presence_state *ps, time_t t,
			     enum presence_source *source);
unsigned policy_detect_idle(const struct policy *p);             /* seconds */
const char *policy_timetable_name(const struct policy *p);      /* NULL when none */

/* ---- what other components read ---- */

const struct catalog *policy_catalog(const struct policy *p);

/* [auth]: read by the identity code (proxy/). Paths as written; NULL when not set. */
struct policy_auth {
	const char *default_group;
	bool required;
	const char *htpasswd;
	const char *helper;
	const char *devices;
	unsigned sign_in_expiry_s;   /* a sign-in holds this long; 0: to the end of the site-local day */
};
const struct policy_auth *policy_auth(const struct policy *p);

/* ---- names ---- */

/* verdict_name() and verdict_reason_name(), with "?" instead of NULL (VERDICT_NONE,
 * REASON_NONE), for printing what policy_decide() returned. */
const char *policy_verdict_name(enum verdict v);   /* "allow", "warn", "block" */
const char *policy_reason_name(enum reason r);     /* "not-social", "students-present", ... */
/* A sentence for people: "students are present", ...; "?" for a reason
 * policy_decide() never returns (verdict_reason_is_policy()). */
const char *policy_reason_text(enum reason r);
const char *policy_over_allowance_name(enum over_allowance o);

#endif
