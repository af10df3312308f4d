/*
 * enforce: the one place where a request or tunnel is decided. Everything
 * policy_decide() needs about a connection is gathered here:
 *
 *   what     the host (and, for tunnels, the ClientHello's server name) in
 *            the configuration's catalog; for a tunnel classified both ways
 *            the more restrictive answer wins, and an IP-literal CONNECT
 *            relies on the SNI alone
 *   who      the identified user's group, else the [auth] default_group;
 *            usage is counted under the store's key for the person (the
 *            user, else the client address: enforce_person_key)
 *   when     now, in the site's time zone (enforce_local_day,
 *            enforce_format_until)
 *   present  live presence: the manual override and the newest detection,
 *            both set from the store by main.c; a request from a student
 *            subnet or group is itself a detection, submitted to the store
 *            at most once per detect_idle
 *   used     today's active minutes, from the store's memory, asked only
 *            when the destination is social
 *
 * The verdict goes into the connection's struct decision_hook (reason,
 * platform, until, allowance left); the status page asks for the same
 * ingredients through enforce_standing(). The pages that show a decision
 * are pages_enforce.c's, the warn acknowledgements acks.c's.
 *
 * Runs on the loop thread, except the presence setters (any thread:
 * atomics). Reads the immutable configuration; the store calls take a
 * mutex for a copy and never wait on SQLite. Must never block, allocate,
 * or decide from anything but these inputs: a warn acknowledgement is not
 * one (conn.c asks acks.c after a warn verdict).
 */
#include "enforce.h"

#include "conn.h"
#include "strutil.h"

#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "policy.h"
#include "tz.h"

static int severity(enum verdict v)
{
	return v == VERDICT_BLOCK ? 2 : v == VERDICT_WARN ? 1 : 0;
}

/*
 * Live presence: the manual override (set by `breaktime presence`, picked up
 * from the store) and the last time student traffic was seen. Shared by all
 * workers as atomics; a decision takes a snapshot.
 */
static int live_override;            /* enum presence_override */
static int64_t live_override_until;
static int64_t live_last_detected;

void enforce_presence_override(int override, int64_t until)
{
	__atomic_store_n(&live_override_until, until, __ATOMIC_RELAXED);
	__atomic_store_n(&live_override, override, __ATOMIC_RELEASE);
}

/* The newest detection in the store (breaktime-sensor's, or this proxy's own): never moves back. */
void enforce_presence_detected(int64_t at)
{
	int64_t old = __atomic_load_n(&live_last_detected, __ATOMIC_RELAXED);
	while (at > old && !__atomic_compare_exchange_n(&live_last_detected, &old, at, true,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void presence_snapshot(struct presence_state *ps)
{
	ps->override = (enum presence_override)__atomic_load_n(&live_override, __ATOMIC_ACQUIRE);
	ps->override_until = (time_t)__atomic_load_n(&live_override_until, __ATOMIC_RELAXED);
	ps->last_detected = (time_t)__atomic_load_n(&live_last_detected, __ATOMIC_RELAXED);
}

/* A request from a student subnet or group: students are present for detect_idle. */
static void detect(struct conn *c, const struct policy *p, const struct group *g, time_t now)
{
	if (!presence_detects(p, g, &c->peer.u.sa))
		return;
	int64_t old = __atomic_exchange_n(&live_last_detected, (int64_t)now, __ATOMIC_RELAXED);
	if (now - old >= (time_t)policy_detect_idle(p)) {
		char cause[128], addr[64];
		snprintf(cause, sizeof(cause), "%s%s%s%s", sockaddr_ntop(&c->peer.u.sa, addr, sizeof(addr)),
			 g ? " (" : "", g ? policy_group_name(g) : "", g ? ")" : "");
		store_submit_presence(server.store, (int64_t)now * 1000000, "detected", 0, cause,
				      RECORD_SOURCE_PROXY);
	}
}

/* Today's usage for this person (or address), from the store's memory. */
static void usage_of(const struct conn *c, const struct policy *p, const struct group *g,
		     time_t now, struct usage *u)
{
	struct store_usage su;
	char key[64];

	memset(u, 0, sizeof(*u));
	const char *who = store_user_key(c->user[0] ? c->user : NULL, &c->peer.u.sa, key, sizeof(key));
	time_t since = g ? policy_period_start(p, g, now) : 0;
	if (store_usage_today(server.store, who, NULL, now, since, &su) == 0) {
		u->day_minutes = su.day_minutes;
		u->period_minutes = su.since_minutes;
	}
}

static void decide_one(const struct policy *p, const struct identity *id,
		       const struct catalog_entry *e, time_t now, const struct presence_state *ps,
		       const struct usage *u, struct decision *d)
{
	*d = policy_decide(p, id, e, now, ps, u);
}

/* Who the connection is to the policy: the user's group, else the default group. */
static struct identity identity_of(const struct conn *c, const struct policy *p)
{
	struct identity id = {.user = c->user[0] ? c->user : NULL};
	id.group = c->user[0] ? policy_group_of(p, c->user) : policy_default_group(p);
	return id;
}

void enforce_decide(struct conn *c, const char *host, const char *sni, struct decision_hook *out)
{
	const struct policy *p = c->conf->policy;

	memset(out, 0, sizeof(*out));
	out->verdict = VERDICT_ALLOW;
	if (!p)
		return;
	const struct catalog *cat = policy_catalog(p);
	time_t now = time(NULL);
	const struct catalog_entry *eh = cat && host && host[0] ? catalog_lookup(cat, host) : NULL;
	const struct catalog_entry *es = cat && sni && sni[0] ? catalog_lookup(cat, sni) : NULL;
	struct decision dh, ds;
	const struct catalog_entry *chosen = eh;

	struct identity id = identity_of(c, p);
	if (id.group)
		str_copy(c->group, sizeof(c->group), policy_group_name(id.group));
	detect(c, p, id.group, now);
	struct presence_state ps;
	struct usage u;
	presence_snapshot(&ps);
	memset(&u, 0, sizeof(u));
	if ((eh && policy_is_social(p, eh)) || (es && policy_is_social(p, es)))
		usage_of(c, p, id.group, now, &u);
	decide_one(p, &id, eh, now, &ps, &u, &dh);
	if (sni && sni[0]) {
		decide_one(p, &id, es, now, &ps, &u, &ds);
		/* the more restrictive answer wins; a classified name beats an unclassified one */
		if (severity(ds.verdict) > severity(dh.verdict) || (!eh && es)) {
			dh = ds;
			chosen = es;
		}
	}
	out->verdict = dh.verdict;
	out->reason = dh.reason;
	out->until = (int64_t)dh.until;
	out->allowance_left = -1;
	if (id.group && policy_group_allowance(id.group) != POLICY_UNLIMITED) {
		unsigned a = policy_group_allowance(id.group);
		out->allowance_left = u.day_minutes >= a ? 0 : (int)(a - u.day_minutes);
	}
	if (chosen) {
		str_copy(out->platform, sizeof(out->platform), chosen->platform);
		str_copy(out->category, sizeof(out->category), chosen->category);
	}
}

void enforce_standing(const struct conn *c, time_t now, struct enforce_standing *st)
{
	const struct policy *p = c->conf->policy;
	/* the rule now, for social media in general */
	struct catalog_entry any = {.platform = "social media", .category = "social", .domain = ""};
	struct identity id = identity_of(c, p);
	struct presence_state ps;

	st->group = id.group;
	presence_snapshot(&ps);
	usage_of(c, p, id.group, now, &st->usage);
	st->decision = policy_decide(p, &id, &any, now, &ps, &st->usage);
}

void enforce_format_until(const struct conn *c, int64_t until, char *buf, size_t len)
{
	const struct policy *p = c->conf->policy;
	const struct tz *tz = p ? policy_tz(p) : NULL;
	time_t now = time(NULL);

	buf[0] = '\0';
	if (!until || !tz)
		return;
	int64_t lu = until + tz_offset(tz, until, NULL, NULL);
	int64_t ln = (int64_t)now + tz_offset(tz, now, NULL, NULL);
	int64_t du = tz_floordiv(lu, 86400), dn = tz_floordiv(ln, 86400);
	unsigned hh = (unsigned)((lu - du * 86400) / 3600), mm = (unsigned)((lu - du * 86400) % 3600 / 60);
	if (du == dn) {
		snprintf(buf, len, "today at %02u:%02u", hh, mm);
	} else if (du == dn + 1) {
		snprintf(buf, len, "tomorrow at %02u:%02u", hh, mm);
	} else {
		int64_t y;
		unsigned m, d;
		tz_civil_from_days(du, &y, &m, &d);
		snprintf(buf, len, "%s %04lld-%02u-%02u at %02u:%02u", schedule_day_name(tz_weekday(du)),
			 (long long)y, m, d, hh, mm);
	}
}

int64_t enforce_local_day(const struct conn *c, time_t now)
{
	const struct policy *p = c->conf->policy;
	const struct tz *tz = p ? policy_tz(p) : NULL;
	int64_t off = tz ? tz_offset(tz, now, NULL, NULL) : 0;
	return tz_floordiv((int64_t)now + off, 86400);
}

/* Whom usage counts for: the same key the store uses (user, else address). */
void enforce_person_key(const struct conn *c, char *buf, size_t len)
{
	const char *who = store_user_key(c->user[0] ? c->user : NULL, &c->peer.u.sa, buf, len);
	if (who != buf)
		str_copy(buf, len, who);
}
