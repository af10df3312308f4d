/*
 * policy_bench: policy_decide() calls per second on one core.
 *
 *   build-dir/bench/policy_bench [PLATFORMS_LIST] [SECONDS_PER_CASE]
 *
 * Loads a realistic site (Europe/London, a school timetable with breaks,
 * closed dates, six groups with allowances) over the shipped platform
 * list, then times decide() on precomputed inputs:
 *   mixed      random users, hosts and moments over a year, random presence
 *              and usage: what the proxy sees
 *   in-window  staff during a break (the verdict changes at the break's end)
 *   weekend    staff on Friday evening (`until` is Monday's first break)
 *   holiday    staff at the start of a two-week closure (the longest walk)
 *   not-social a host that is not a platform (the fast path)
 * Goal (issue 3): >= 5 million decisions a second on one core.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "policy.h"
#include "tz.h"

static const char site[] =
	"[site]\n"
	"timezone = Europe/London\n"
	"closed = 2026-04-03..2026-04-17, 2026-05-04, 2026-05-25..2026-05-29, "
	"2026-07-22..2026-09-02, 2026-10-26..2026-10-30, 2026-12-21..2027-01-04\n"
	"[schedule]\n"
	"students = mon-fri 09:00-10:30, 10:45-12:30, 13:15-15:30, sat 10:00-12:00\n"
	"breaks = mon-fri 10:30-10:45, 12:30-13:15\n"
	"non_directed = mon-fri 15:30-17:30, mon 08:00-08:45\n"
	"[catalog]\n"
	"platforms = %s\n"
	"[group staff]\n"
	"members = s0, s1, s2, s3, s4, s5, s6, s7\n"
	"allowance = 45m\n"
	"[group volunteers]\n"
	"members = v0, v1\n"
	"allowance = 30m\n"
	"break_allowance = 10m\n"
	"over_allowance = warn\n"
	"[group comms]\n"
	"members = c0\n"
	"platforms = facebook, instagram, x, linkedin\n"
	"[group students]\n"
	"members = p0, p1, p2, p3\n"
	"sanctioned = youtube\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct input {
	struct identity id;
	const struct catalog_entry *ent;
	time_t t;
	struct presence_state ps;
	struct usage u;
};

#define N_INPUTS 4096

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static time_t local_time(const struct tz *tz, int y, unsigned m, unsigned d, unsigned hh, unsigned mm)
{
	int64_t out[2];
	int64_t local = tz_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
	tz_local_to_utc(tz, local, out);
	return (time_t)out[0];
}

static void run(const char *name, const struct policy *p, const struct input *in, double secs)
{
	uint64_t calls = 0, sink = 0;
	double start = now_s(), elapsed;
	do {
		for (int i = 0; i < N_INPUTS; i++) {
			const struct input *x = &in[i];
			struct decision d = policy_decide(p, &x->id, x->ent, x->t, &x->ps, &x->u);
			sink += (uint64_t)d.verdict + (uint64_t)d.until;
		}
		calls += N_INPUTS;
		elapsed = now_s() - start;
	} while (elapsed < secs);
	printf("%-11s %12.0f decisions/s  (%.1f ns each; %llu calls; check %llu)\n", name,
	       (double)calls / elapsed, elapsed * 1e9 / (double)calls, (unsigned long long)calls,
	       (unsigned long long)(sink & 0xffff));
}

int main(int argc, char **argv)
{
	const char *platforms = argc > 1 ? argv[1] : "config/platforms.list";
	double secs = argc > 2 ? atof(argv[2]) : 2.0;
	char text[sizeof(site) + 512];
	struct conf_errors e = {0};

	snprintf(text, sizeof(text), site, platforms);
	struct conf *c = conf_load_string(text, "bench.conf", &e);
	if (!c) {
		conf_errors_print(&e, stderr);
		return 1;
	}
	const struct policy *p = c->policy;
	const struct tz *tz = policy_tz(p);
	const struct catalog *cat = policy_catalog(p);
	static const char *const users[] = {"s0", "s3", "s7", "v0", "v1", "c0", "p0", "p2", "guest", NULL};
	static const char *const hosts[] = {"www.facebook.com", "scontent.xx.fbcdn.net", "www.youtube.com",
					    "i.ytimg.com", "www.instagram.com", "x.com", "www.tiktok.com",
					    "web.whatsapp.com", "www.linkedin.com", "www.reddit.com"};
	static struct input mixed[N_INPUTS], in_window[N_INPUTS], weekend[N_INPUTS], holiday[N_INPUTS],
		plain[N_INPUTS];

	time_t year0 = local_time(tz, 2026, 1, 1, 0, 0);
	for (int i = 0; i < N_INPUTS; i++) {
		struct input *x = &mixed[i];
		const char *u = users[next_rand() % 9];
		x->id.user = u;
		x->id.group = policy_group_of(p, u);
		x->ent = catalog_lookup(cat, hosts[next_rand() % 10]);
		/* daytime-weighted moments over the year */
		x->t = year0 + (time_t)(next_rand() % 365) * 86400 + 7 * 3600 + (time_t)(next_rand() % (12 * 3600));
		switch (next_rand() % 8) {
		case 0:
			x->ps.override = PRESENCE_ON;
			x->ps.override_until = x->t + 1800;
			break;
		case 1:
			x->ps.last_detected = x->t - 120;
			break;
		default:
			break;
		}
		x->u.day_minutes = (unsigned)(next_rand() % 60);
		x->u.period_minutes = x->u.day_minutes / 3;

		struct input *w = &in_window[i];
		w->id.user = "s1";
		w->id.group = policy_group_of(p, "s1");
		w->ent = catalog_lookup(cat, "www.facebook.com");
		w->t = local_time(tz, 2026, 3, 30, 10, 30) + (time_t)(next_rand() % 900);
		weekend[i] = *w;
		weekend[i].t = local_time(tz, 2026, 3, 27, 17, 30) + (time_t)(next_rand() % 3600);
		holiday[i] = *w;
		holiday[i].t = local_time(tz, 2026, 12, 18, 17, 30) + (time_t)(next_rand() % 3600);
		plain[i] = *w;
		plain[i].ent = NULL;
	}

	printf("policy_decide() on one core, %s, %zu catalog domains\n", tz_name(tz), catalog_size(cat));
	run("mixed", p, mixed, secs);
	run("in-window", p, in_window, secs);
	run("weekend", p, weekend, secs);
	run("holiday", p, holiday, secs);
	run("not-social", p, plain, secs);
	conf_unref(c);
	conf_errors_free(&e);
	return 0;
}
