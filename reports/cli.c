/*
 * cli: the `breaktime` command, for IT and the administrator.
 *
 *   breaktime [-c FILE] check
 *   breaktime [-c FILE] classify HOST...
 *   breaktime [-c FILE] explain USER HOST [--at TIME] [--students yes|no]
 *                                [--used MINUTES] [--used-break MINUTES] [--json]
 *   breaktime [-c FILE] ca create [--days N] -o DIR | ca check [PATH]   (ca.c)
 *
 * It loads the configuration exactly as breaktimed does (conf_load) and,
 * for explain, asks the same policy_decide() the proxy asks, so what it
 * says is what the proxy does.
 *
 * Exit status: 0 success; 1 the configuration has errors (all listed) or
 * a host is not valid; 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build_config.h"
#include "catalog.h"
#include "conf.h"
#include "hostname.h"
#include "policy.h"
#include "safetext.h"
#include "schedule.h"
#include "tz.h"
#include "cli.h"
#include "web.h"

#define DEFAULT_CONF SYSCONFDIR "/breaktime/breaktime.conf"

static const char *prog = "breaktime";

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: %s [-c FILE] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  check                      check the configuration; list every error\n"
		"  classify HOST...           print HOST<TAB>PLATFORM<TAB>CATEGORY, or HOST<TAB>-\n"
		"  explain USER HOST [--at 'YYYY-MM-DD HH:MM'] [--students yes|no]\n"
		"          [--used MINUTES] [--used-break MINUTES] [--json]\n"
		"                             what the proxy decides for USER (- for nobody) on HOST,\n"
		"                             and why; the time is the site's (or give +HH:MM / Z);\n"
		"                             --students: as if set by hand, without expiry (default:\n"
		"                             the timetable); --used: minutes used today (default 0)\n"
		"  presence [on | off | auto] [--until HH:MM] [--by NAME]\n"
		"                             set \"students present\" by hand (recorded; breaktimed\n"
		"                             applies it within seconds); without arguments: show it\n"
		"  report KIND [--from DATE] [--to DATE] [--group G] [--user U] [--by user|group]\n"
		"          [--format text|csv|json|html] [-o FILE] [--pseudonymise | --names]\n"
		"                             KIND: excessive, usage, breaches, platforms, user,\n"
		"                             presence; from the store, read-only (see breaktime(1))\n"
		"  web                        serve the reports and the presence toggle to admins\n"
		"                             over HTTPS ([web] listen, certificate, private_key)\n"
		"  ca create [--days N] -o DIR\n"
		"                             make the block-page CA ([proxy] block_ca), limited to\n"
		"                             the catalog's domains (default 825 days); print its\n"
		"                             fingerprint and how to deploy it to the clients\n"
		"  ca check [PATH]            does the CA (default: block_ca) still cover the\n"
		"                             catalog? exit status 1 when not\n"
		"\n"
		"options:\n"
		"  -c, --config FILE          configuration (default %s)\n"
		"  -h, --help                 this help\n"
		"  -V, --version              the version\n",
		prog, DEFAULT_CONF);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see %s --help)\n", prog);
	return 2;
}

static struct conf *load(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = conf_load(path, &errs);
	if (!c) {
		conf_errors_print(&errs, stderr);
		fprintf(stderr, "%s: %s: %zu error%s\n", prog, path, errs.n, errs.n == 1 ? "" : "s");
	}
	conf_errors_free(&errs);
	return c;
}

struct conf *cli_load(const char *path)
{
	return load(path);
}

/* ---- check ---- */

static int cmd_check(const char *path)
{
	struct conf *c = load(path);
	if (!c)
		return 1;
	for (size_t i = 0; i < c->warnings.n; i++)
		fprintf(stderr, "warning: %s\n", c->warnings.msgs[i]);
	if (ca_check_configured(c) < 0) {
		fprintf(stderr, "%s: %s: the block-page CA cannot be used\n", prog, path);
		conf_unref(c);
		return 1;
	}
	const struct policy *p = c->policy;
	const struct schedule *s = policy_schedule(p);
	size_t members = 0;
	for (size_t i = 0; i < policy_n_groups(p); i++)
		members += policy_group_n_members(policy_group_at(p, i));
	printf("%s: ok (time zone %s; %zu windows, %zu closed periods; %zu groups, %zu members; "
	       "%zu catalog domains)\n",
	       path, tz_name(policy_tz(p)), s->n_windows, s->n_closed, policy_n_groups(p), members,
	       catalog_size(policy_catalog(p)));
	conf_unref(c);
	return 0;
}

/* ---- classify ---- */

static int cmd_classify(const char *path, int argc, char **argv)
{
	if (argc < 1)
		return usage_error("classify: give one or more host names");
	struct conf *c = load(path);
	if (!c)
		return 1;
	const struct catalog *cat = policy_catalog(c->policy);
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		char host[HOSTNAME_MAX + 1];
		enum host_kind k = hostname_normalise(argv[i], strlen(argv[i]), host);
		const struct catalog_entry *e = k == HOST_INVALID ? NULL : catalog_lookup(cat, host);
		if (k == HOST_INVALID) {
			fprintf(stderr, "%s: `%s` is not a valid host name\n", prog, argv[i]);
			rc = 1;
		}
		if (e)
			printf("%s\t%s\t%s\n", argv[i], e->platform, e->category);
		else
			printf("%s\t-\n", argv[i]);
	}
	conf_unref(c);
	return rc;
}

/* ---- explain ---- */

static void fmt_offset(int32_t off, char *buf, size_t len)
{
	unsigned a = (unsigned)(off < 0 ? -off : off);
	snprintf(buf, len, "%c%02u:%02u", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

/* ISO 8601 with the offset: 2026-03-30T10:45:00+01:00 */
static void fmt_iso(const struct tz *tz, time_t t, char *buf, size_t len)
{
	struct tz_local l;
	char off[16];
	tz_local_at(tz, (int64_t)t, &l);
	fmt_offset(l.offset, off, sizeof(off));
	snprintf(buf, len, "%04lld-%02u-%02uT%02u:%02u:%02u%s", (long long)l.year, l.month, l.mday, l.hour,
		 l.min, l.sec, off);
}

/* For people: Mon 2026-03-30 10:45 (+01:00) */
static void fmt_human(const struct tz *tz, time_t t, char *buf, size_t len)
{
	static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	struct tz_local l;
	char off[16];
	tz_local_at(tz, (int64_t)t, &l);
	fmt_offset(l.offset, off, sizeof(off));
	if (l.sec)
		snprintf(buf, len, "%s %04lld-%02u-%02u %02u:%02u:%02u (%s)", days[l.weekday], (long long)l.year,
			 l.month, l.mday, l.hour, l.min, l.sec, off);
	else
		snprintf(buf, len, "%s %04lld-%02u-%02u %02u:%02u (%s)", days[l.weekday], (long long)l.year,
			 l.month, l.mday, l.hour, l.min, off);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * "YYYY-MM-DD HH:MM[:SS]" (or with a T) in the site's time zone, optionally
 * followed by Z or +HH:MM; "now". A local time that happens twice (the
 * fall-back hour) is the first; one that never happens is an error.
 */
static int parse_at(const struct tz *tz, const char *s, time_t *out, char *note, size_t notelen)
{
	int h, mi, sec = 0;
	int64_t day;
	note[0] = '\0';
	if (strcmp(s, "now") == 0) {
		*out = time(NULL);
		return 0;
	}
	if (strlen(s) < 16 || schedule_parse_date(s, 10, &day) < 0 || (s[10] != ' ' && s[10] != 'T') ||
	    digits(s + 11, 2, &h) < 0 || s[13] != ':' || digits(s + 14, 2, &mi) < 0 || h > 23 || mi > 59)
		return -1;
	const char *r = s + 16;
	if (*r == ':') {
		if (digits(r + 1, 2, &sec) < 0 || sec > 59)
			return -1;
		r += 3;
	}
	int64_t local = day * TZ_DAY_SECONDS + h * 3600 + mi * 60 + sec;
	if (*r == 'Z' && !r[1]) {
		*out = (time_t)local;
		return 0;
	}
	if ((*r == '+' || *r == '-') && strlen(r) == 6 && r[3] == ':') {
		int oh, om;
		if (digits(r + 1, 2, &oh) < 0 || digits(r + 4, 2, &om) < 0 || oh > 23 || om > 59)
			return -1;
		int off = (oh * 3600 + om * 60) * (*r == '-' ? -1 : 1);
		*out = (time_t)(local - off);
		return 0;
	}
	if (*r)
		return -1;
	int64_t cand[2];
	int n = tz_local_to_utc(tz, local, cand);
	if (n == 0) {
		snprintf(note, notelen, "%.16s does not exist in %s (the clocks go forward then)", s, tz_name(tz));
		return -2;
	}
	if (n == 2) {
		char a[16], b[16];
		fmt_offset(tz_offset(tz, cand[0], NULL, NULL), a, sizeof(a));
		fmt_offset(tz_offset(tz, cand[1], NULL, NULL), b, sizeof(b));
		snprintf(note, notelen, "%.16s happens twice in %s; this is the first (%s), not the second (%s)",
			 s, tz_name(tz), a, b);
	}
	*out = (time_t)cand[0];
	return 0;
}

static void json_str(FILE *fp, const char *s)
{
	if (!s) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", fp);
		else if (c == '\t')
			fputs("\\t", fp);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

static void json_minutes(FILE *fp, unsigned v)
{
	if (v == POLICY_UNLIMITED)
		fputs("null", fp);
	else
		fprintf(fp, "%u", v);
}

struct explain_args {
	const char *user, *host, *at, *students;
	long used, used_break;
	int json;
};

static int parse_minutes_arg(const char *opt, const char *v, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < 0 || n > 100000) {
		fprintf(stderr, "%s: %s: `%s` is not a number of minutes\n", prog, opt, v);
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_explain_args(int argc, char **argv, struct explain_args *a)
{
	int pos = 0;
	memset(a, 0, sizeof(*a));
	a->used = a->used_break = -1;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		const char *val = NULL;
		if (strncmp(s, "--", 2) != 0 || strcmp(s, "--") == 0) {
			if (strcmp(s, "--") == 0 && i + 1 < argc)
				s = argv[++i];
			if (pos == 0)
				a->user = s;
			else if (pos == 1)
				a->host = s;
			else
				return usage_error("explain: unexpected `%s` (give USER HOST once)", s);
			pos++;
			continue;
		}
		const char *eq = strchr(s, '=');
		char name[32];
		size_t n = eq ? (size_t)(eq - s) : strlen(s);
		snprintf(name, sizeof(name), "%.*s", (int)(n < 31 ? n : 31), s);
		if (strcmp(name, "--json") == 0) {
			if (eq)
				return usage_error("explain: --json takes no value");
			a->json = 1;
			continue;
		}
		if (strcmp(name, "--at") && strcmp(name, "--students") && strcmp(name, "--used") &&
		    strcmp(name, "--used-break"))
			return usage_error("explain: unknown option `%s`", s);
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return usage_error("explain: %s needs a value", name);
		if (strcmp(name, "--at") == 0)
			a->at = val;
		else if (strcmp(name, "--students") == 0) {
			if (strcmp(val, "yes") && strcmp(val, "no"))
				return usage_error("explain: --students is yes or no, not `%s`", val);
			a->students = val;
		} else if (strcmp(name, "--used") == 0) {
			if (parse_minutes_arg(name, val, &a->used) < 0)
				return 2;
		} else if (parse_minutes_arg(name, val, &a->used_break) < 0) {
			return 2;
		}
	}
	if (pos < 2)
		return usage_error("explain: give USER and HOST (USER `-` for an unidentified user)");
	return 0;
}

static const char *presence_words(enum presence_source src, bool present, const char *timetable)
{
	static char buf[160];
	switch (src) {
	case PRESENCE_FROM_OVERRIDE:
		snprintf(buf, sizeof(buf), "%s (set by hand)", present ? "present" : "not present");
		break;
	case PRESENCE_FROM_TIMETABLE:
		snprintf(buf, sizeof(buf), "present (timetable window `%s` is open)", timetable ? timetable : "?");
		break;
	case PRESENCE_FROM_DETECTION:
		snprintf(buf, sizeof(buf), "present (student traffic seen recently)");
		break;
	default:
		if (timetable)
			snprintf(buf, sizeof(buf), "not present (timetable window `%s` is shut)", timetable);
		else
			snprintf(buf, sizeof(buf), "not present (no timetable)");
	}
	return buf;
}

static int cmd_explain(const char *path, int argc, char **argv)
{
	struct explain_args a;
	int rc = parse_explain_args(argc, argv, &a);
	if (rc)
		return rc;

	char host[HOSTNAME_MAX + 1];
	/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): parse_explain_args sets host or fails */
	if (hostname_normalise(a.host, strlen(a.host), host) == HOST_INVALID) {
		fprintf(stderr, "%s: explain: `%s` is not a valid host name\n", prog, a.host);
		return 2;
	}
	struct conf *c = load(path);
	if (!c)
		return 1;
	const struct policy *p = c->policy;
	const struct tz *tz = policy_tz(p);

	time_t now = time(NULL);
	char note[256] = "";
	if (a.at) {
		int r = parse_at(tz, a.at, &now, note, sizeof(note));
		if (r < 0) {
			if (r == -2)
				fprintf(stderr, "%s: explain: --at: %s\n", prog, note);
			else
				fprintf(stderr, "%s: explain: --at: `%s` is not a time like 'YYYY-MM-DD HH:MM'\n",
					prog, a.at);
			conf_unref(c);
			return 2;
		}
	}

	const char *user = strcmp(a.user, "-") == 0 || !*a.user ? NULL : a.user;
	struct identity id = {user, policy_group_of(p, user)};
	const struct catalog_entry *ent = catalog_lookup(policy_catalog(p), host);
	struct presence_state ps = {0};
	if (a.students)
		ps.override = strcmp(a.students, "yes") == 0 ? PRESENCE_ON : PRESENCE_OFF;

	/* usage: the day's minutes, and this period's (no more than the period has lasted) */
	time_t period = policy_period_start(p, id.group, now);
	struct usage u = {0, 0};
	if (a.used > 0)
		u.day_minutes = (unsigned)a.used;
	if (a.used_break >= 0)
		u.period_minutes = (unsigned)a.used_break;
	else if (period) {
		long since = (long)(now - period) / 60;
		u.period_minutes = (unsigned)(a.used > since ? since : (a.used > 0 ? a.used : 0));
	}

	struct decision d = policy_decide(p, &id, ent, now, &ps, &u);
	struct decision next = {0};
	if (d.until) {
		/* what it becomes then: by the clock alone, usage as it would be */
		struct usage un = u;
		struct schedule_state s0, s1;
		policy_schedule_state(p, now, &s0);
		policy_schedule_state(p, d.until, &s1);
		if (s1.time.day != s0.time.day)
			un.day_minutes = un.period_minutes = 0;
		if (policy_period_start(p, id.group, d.until) != period)
			un.period_minutes = 0;
		next = policy_decide(p, &id, ent, d.until, &ps, &un);
	}

	struct schedule_state st;
	enum presence_source src;
	policy_schedule_state(p, now, &st);
	bool present = policy_students_present(p, &ps, now, &src);
	const struct group *g = id.group;
	const struct schedule *s = policy_schedule(p);
	bool social = policy_is_social(p, ent);

	char at_iso[40], until_iso[40], at_h[64], until_h[64];
	fmt_iso(tz, now, at_iso, sizeof(at_iso));
	fmt_human(tz, now, at_h, sizeof(at_h));
	if (d.until) {
		fmt_iso(tz, d.until, until_iso, sizeof(until_iso));
		fmt_human(tz, d.until, until_h, sizeof(until_h));
	}

	if (a.json) {
		FILE *o = stdout;
		fputs("{\"user\":", o);
		json_str(o, user);
		fputs(",\"group\":", o);
		json_str(o, policy_group_name(g));
		fputs(",\"host\":", o);
		json_str(o, host);
		fputs(",\"platform\":", o);
		json_str(o, ent ? ent->platform : NULL);
		fputs(",\"category\":", o);
		json_str(o, ent ? ent->category : NULL);
		fprintf(o, ",\"social\":%s", social ? "true" : "false");
		fputs(",\"at\":", o);
		json_str(o, at_iso);
		fputs(",\"timezone\":", o);
		json_str(o, tz_name(tz));
		fprintf(o, ",\"verdict\":\"%s\",\"reason\":\"%s\"", policy_verdict_name(d.verdict),
			policy_reason_name(d.reason));
		fputs(",\"explanation\":", o);
		json_str(o, policy_reason_text(d.reason));
		fputs(",\"until\":", o);
		json_str(o, d.until ? until_iso : NULL);
		fputs(",\"then\":", o);
		if (d.until)
			fprintf(o, "{\"verdict\":\"%s\",\"reason\":\"%s\"}", policy_verdict_name(next.verdict),
				policy_reason_name(next.reason));
		else
			fputs("null", o);
		fputs(",\"rule\":", o);
		json_str(o, policy_group_social(g));
		fprintf(o, ",\"students_present\":%s,\"presence_source\":\"%s\"", present ? "true" : "false",
			presence_source_name(src));
		fprintf(o, ",\"closed\":%s,\"windows\":[", st.closed ? "true" : "false");
		int first = 1;
		for (size_t i = 0; i < s->n_windows; i++)
			if ((st.windows >> i) & 1) {
				if (!first)
					fputc(',', o);
				json_str(o, s->windows[i].name);
				first = 0;
			}
		fputs("],\"allowance\":", o);
		json_minutes(o, policy_group_allowance(g));
		fputs(",\"break_allowance\":", o);
		json_minutes(o, policy_group_break_allowance(g));
		fprintf(o, ",\"over_allowance\":\"%s\",\"used\":%u,\"used_break\":%u",
			policy_over_allowance_name(policy_group_over_allowance(g)), u.day_minutes, u.period_minutes);
		fputs(",\"note\":", o);
		json_str(o, note[0] ? note : NULL);
		fputs("}\n", o);
		conf_unref(c);
		return 0;
	}

	static const char *const verdict_words[VERDICT_COUNT] = {
		[VERDICT_ALLOW] = "ALLOWED", [VERDICT_WARN] = "ALLOWED AFTER A WARNING", [VERDICT_BLOCK] = "BLOCKED"};
	/* the user is as typed: shown, never obeyed (safetext.h) */
	printf("%s for ", verdict_words[d.verdict]);
	safetext_fputs(user ? user : "an unidentified user", stdout);
	printf(" (group %s) on %s, %s\n", policy_group_name(g), host, at_h);
	printf("  why:       %s (%s)\n", policy_reason_text(d.reason), policy_reason_name(d.reason));
	if (ent)
		printf("  host:      platform %s, category %s%s\n", ent->platform, ent->category,
		       social ? "" : " (a category the rules do not cover)");
	else
		printf("  host:      not a listed platform\n");
	if (social && d.reason != REASON_ORGANISATIONAL) {
		printf("  rule:      social = %s\n", policy_group_social(g));
		printf("  students:  %s\n", presence_words(src, present, policy_timetable_name(p)));
		printf("  schedule:  ");
		if (st.closed)
			printf("closed today");
		else {
			int any = 0;
			for (size_t i = 0; i < s->n_windows; i++)
				if ((st.windows >> i) & 1)
					printf("%s%s", any++ ? ", " : "open: ", s->windows[i].name);
			if (!any)
				printf("no window open");
		}
		printf("\n");
		unsigned al = policy_group_allowance(g), bl = policy_group_break_allowance(g);
		if (al != POLICY_UNLIMITED || bl != POLICY_UNLIMITED) {
			printf("  allowance:");
			if (al != POLICY_UNLIMITED)
				printf(" %u of %u minutes today used", u.day_minutes, al);
			if (bl != POLICY_UNLIMITED)
				printf("%s %u of %u minutes this break used", al != POLICY_UNLIMITED ? ";" : "",
				       u.period_minutes, bl);
			printf(" (over it: %s)\n", policy_over_allowance_name(policy_group_over_allowance(g)));
		}
	}
	if (d.until)
		printf("  until:     %s, then %s (%s)\n", until_h,
		       next.verdict == VERDICT_BLOCK ? "blocked" : next.verdict == VERDICT_WARN ? "allowed after a warning"
											      : "allowed",
		       policy_reason_name(next.reason));
	else
		printf("  until:     no change by the clock alone\n");
	if (note[0])
		printf("  note:      %s\n", note);
	conf_unref(c);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONF;
	int opt;

	/* "+": options before the command only; the command parses its own */
	while ((opt = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("breaktime %s\n", BREAKTIME_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	int n = argc - optind - 1;
	char **rest = argv + optind + 1;
	if (strcmp(cmd, "check") == 0) {
		if (n)
			return usage_error("check takes no arguments, not `%s`", rest[0]);
		return cmd_check(path);
	}
	if (strcmp(cmd, "classify") == 0)
		return cmd_classify(path, n, rest);
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(path, n, rest);
	if (strcmp(cmd, "presence") == 0)
		return cmd_presence(path, n, rest);
	if (strcmp(cmd, "report") == 0)
		return cmd_report(path, n, rest);
	if (strcmp(cmd, "web") == 0)
		return cmd_web(path, n, rest);
	if (strcmp(cmd, "ca") == 0)
		return cmd_ca(path, n, rest);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	return usage_error("unknown command `%s`", cmd);
}
