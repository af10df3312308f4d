/*
 * enforce: the one place where a request or tunnel is classified and
 * decided. The host (and, for tunnels, the ClientHello's server name) is
 * looked up in the configuration's catalog and policy_decide() gives the
 * verdict; for a tunnel classified both ways the more restrictive answer
 * wins, and an IP-literal CONNECT relies on the SNI alone.
 *
 * Identity, live presence and today's usage come with the enforcement
 * issue; until then every client is the [auth] default_group, presence is
 * the timetable, and usage is zero.
 *
 * Runs on the loop thread; pure lookups on the immutable configuration;
 * no allocation, no blocking.
 */
#include "conn.h"

#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "policy.h"
#include "tz.h"

static int severity(enum verdict v)
{
	return v == VERDICT_BLOCK ? 2 : v == VERDICT_WARN ? 1 : 0;
}

static void decide_one(const struct policy *p, const struct identity *id,
		       const struct catalog_entry *e, time_t now, struct decision *d)
{
	*d = policy_decide(p, id, e, now, NULL, NULL);
}

void enforce_decide(struct conn *c, const char *host, const char *sni, struct decision_hook *out)
{
	const struct policy *p = c->conf->policy;

	memset(out, 0, sizeof(*out));
	out->verdict = "allow";
	if (!p)
		return;
	const struct catalog *cat = policy_catalog(p);
	time_t now = time(NULL);
	const struct catalog_entry *eh = cat && host && host[0] ? catalog_lookup(cat, host) : NULL;
	const struct catalog_entry *es = cat && sni && sni[0] ? catalog_lookup(cat, sni) : NULL;
	struct decision dh, ds;
	const struct catalog_entry *chosen = eh;

	struct identity id = {.user = c->user[0] ? c->user : NULL};
	id.group = c->user[0] ? policy_group_of(p, c->user) : policy_default_group(p);
	if (id.group)
		snprintf(c->group, sizeof(c->group), "%s", policy_group_name(id.group));
	decide_one(p, &id, eh, now, &dh);
	if (sni && sni[0]) {
		decide_one(p, &id, es, now, &ds);
		/* the more restrictive answer wins; a classified name beats an unclassified one */
		if (severity(ds.verdict) > severity(dh.verdict) || (!eh && es)) {
			dh = ds;
			chosen = es;
		}
	}
	out->verdict = policy_verdict_name(dh.verdict);
	out->reason = policy_reason_name(dh.reason);
	out->reason_text = policy_reason_text(dh.reason);
	out->until = (int64_t)dh.until;
	if (chosen) {
		snprintf(out->platform, sizeof(out->platform), "%s", chosen->platform);
		snprintf(out->category, sizeof(out->category), "%s", chosen->category);
	}
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
