/*
 * Unit tests: the policy model — policy_decide() over groups, presence,
 * window edges, closed dates, the Europe/London daylight-saving days,
 * allowances, organisational and sanctioned platforms, with `until` checked
 * in every row; the loader's errors, each with its line; defaults.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "policy.h"
#include "tz.h"

static char platforms_path[64];
static char members_path[64];

static void write_file(char *path, const char *tmpl, const char *text)
{
	strcpy(path, tmpl);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void setup_files(void)
{
	write_file(platforms_path, "/tmp/bt-platforms-XXXXXX",
		   "facebook social facebook.com fbcdn.net\n"
		   "x social x.com twitter.com\n"
		   "youtube video youtube.com ytimg.com\n"
		   "whatsapp messaging whatsapp.com whatsapp.net\n");
	write_file(members_path, "/tmp/bt-members-XXXXXX",
		   "# volunteers this term\n"
		   "vic\n"
		   "  Val  \n"
		   "\n");
}

static void teardown_files(void)
{
	unlink(platforms_path);
	unlink(members_path);
}

/* ---- the site used by the decide() table ---- */

static const char site_conf[] =
	"[site]\n"
	"timezone = Europe/London\n"
	"closed = 2026-12-21..2027-01-04, 2026-05-04, 2027-03-26..2027-03-30\n"
	"[schedule]\n"
	"# students in sessions; the breaks between are staff time\n"
	"students = mon-fri 09:00-10:30, 10:45-12:30, 13:15-15:30, sat 10:00-12:00\n"
	"breaks = mon-fri 10:30-10:45, 12:30-13:15, sat 11:00-11:15\n"
	"non_directed = mon-fri 15:30-17:30\n"
	"late = sun 00:30-03:00\n"
	"gap = sun 01:15-01:45\n"
	"gap2 = sun 01:30-02:30\n"
	"early = sun 00:00-01:30\n"
	"[catalog]\n"
	"platforms = %s\n"
	"[group staff]\n"
	"members = alice, Bob\n"
	"[group comms]\n"
	"members = carol\n"
	"platforms = facebook, x\n"
	"[group volunteers]\n"
	"members = file:%s\n"
	"allowance = 30m\n"
	"over_allowance = warn\n"
	"[group admin]\n"
	"members = ada\n"
	"allowance = 30m\n"
	"break_allowance = 10m\n"
	"[group students]\n"
	"members = sam\n"
	"sanctioned = youtube\n"
	"[group teachers]\n"
	"members = tina\n"
	"social = !students & (breaks | non_directed)\n"
	"sanctioned = youtube\n"
	"[group night]\n"
	"members = nina\n"
	"social = late\n"
	"[group gappy]\n"
	"members = gus\n"
	"social = gap\n"
	"[group gappy2]\n"
	"members = gil\n"
	"social = gap2\n"
	"[group early]\n"
	"members = eve\n"
	"social = early\n"
	"[group capped]\n"
	"members = cap\n"
	"social = always\n"
	"allowance = 20m\n"
	"[group logged]\n"
	"members = lou\n"
	"social = always\n"
	"allowance = 20m\n"
	"over_allowance = log\n"
	"[presence]\n"
	"detect_idle = 10m\n";

static struct conf *site;
static const struct tz *london;

static void setup_site(void)
{
	char text[sizeof(site_conf) + 256];
	struct conf_errors e = {0};

	setup_files();
	snprintf(text, sizeof(text), site_conf, platforms_path, members_path);
	site = conf_load_string(text, "site.conf", &e);
	if (!site)
		conf_errors_print(&e, stderr);
	ck_assert_ptr_nonnull(site);
	ck_assert_ptr_nonnull(site->policy);
	conf_errors_free(&e);
	london = policy_tz(site->policy);
}

static void teardown_site(void)
{
	conf_unref(site);
	site = NULL;
	teardown_files();
}

/*
 * "2026-03-30 10:30" (local, must be unambiguous), "2026-10-25 01:30+01"
 * (local with its offset), "-" (0: never).
 */
static time_t at(const char *s)
{
	int y, mo, d, h, mi, sec = 0;
	char rest[16] = "";
	if (strcmp(s, "-") == 0)
		return 0;
	int n = sscanf(s, "%d-%d-%d %d:%d%15s", &y, &mo, &d, &h, &mi, rest);
	ck_assert_msg(n >= 5, "bad time %s", s);
	const char *r = rest;
	if (r[0] == ':') {
		sec = atoi(r + 1);
		r += 3;
	}
	int64_t local = tz_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
	if (*r == '+' || *r == '-')
		return (time_t)(local - (int64_t)atoi(r) * 3600);
	int64_t out[2];
	int k = tz_local_to_utc(london, local, out);
	ck_assert_msg(k == 1, "%s is %s in London", s, k ? "ambiguous" : "skipped");
	return (time_t)out[0];
}

static void fmt(time_t t, char *buf, size_t len)
{
	if (!t) {
		snprintf(buf, len, "-");
		return;
	}
	int32_t off = tz_offset(london, t, NULL, NULL);
	int64_t local = t + off, day = tz_floordiv(local, 86400), y;
	unsigned m, d, s = (unsigned)(local - day * 86400);
	tz_civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02u-%02u %02u:%02u:%02u%+03d", (long long)y, m, d, s / 3600,
		 s / 60 % 60, s % 60, off / 3600);
}

enum pres { P_NONE, P_ON, P_OFF, P_ON_5, P_OFF_5, P_DET_2, P_DET_8 };

struct row {
	const char *user;
	const char *host;
	const char *when;
	enum pres pres;
	unsigned day_used, period_used;
	enum verdict verdict;
	enum reason reason;
	const char *until;
};

#define ALLOW VERDICT_ALLOW
#define WARN VERDICT_WARN
#define BLOCK VERDICT_BLOCK
#define R(x) REASON_##x
#define FB "www.facebook.com"
#define YT "m.youtube.com"

/*
 * 2026-03-30 is a Monday in BST; 2026-03-27 a Friday in GMT. Staff rule:
 * !students & (breaks | non_directed); students 09:00-10:30, 10:45-12:30,
 * 13:15-15:30; breaks 10:30-10:45, 12:30-13:15; non_directed 15:30-17:30.
 */
static const struct row rows[] = {
	/* -- not social, unknown users -- */
	{"alice", "www.example.org", "2026-03-30 09:30", P_NONE, 0, 0, ALLOW, R(NOT_SOCIAL), "-"},
	{"alice", NULL, "2026-03-30 10:35", P_ON, 0, 0, ALLOW, R(NOT_SOCIAL), "-"},
	{"zed", FB, "2026-03-30 10:35", P_NONE, 0, 0, BLOCK, R(GROUP_NEVER), "-"},
	{NULL, FB, "2026-03-30 10:35", P_OFF, 0, 0, BLOCK, R(GROUP_NEVER), "-"},

	/* -- staff, window edges: the minute before, at, after -- */
	{"alice", FB, "2026-03-30 08:59", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"alice", FB, "2026-03-30 09:00", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"alice", FB, "2026-03-30 10:29", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"alice", FB, "2026-03-30 10:29:59", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"alice", FB, "2026-03-30 10:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"alice", FB, "2026-03-30 10:31", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"alice", FB, "2026-03-30 10:44", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"alice", FB, "2026-03-30 10:45", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 12:30"},
	{"alice", FB, "2026-03-30 10:46", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 12:30"},
	{"bob", FB, "2026-03-30 12:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 13:15"},
	{"BOB", FB, "2026-03-30 13:14", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 13:15"},
	{"alice", FB, "2026-03-30 13:15", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 15:30"},
	{"alice", FB, "2026-03-30 15:29", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 15:30"},
	{"alice", FB, "2026-03-30 15:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 17:30"},
	{"alice", FB, "2026-03-30 17:29", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 17:30"},
	{"alice", FB, "2026-03-30 17:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-31 10:30"},
	{"alice", FB, "2026-03-30 17:31", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-31 10:30"},
	{"alice", FB, "2026-03-30 23:59", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-31 10:30"},
	/* a weekend across the spring daylight-saving change */
	{"alice", FB, "2026-03-27 17:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	/* and across the autumn one */
	{"alice", FB, "2026-10-23 17:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-10-26 10:30"},
	{"alice", FB, "2026-10-26 10:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-26 10:45"},
	/* Saturday: the break is inside the students' session */
	{"alice", FB, "2026-04-04 11:00", P_NONE, 0, 0, BLOCK, R(STUDENTS_PRESENT), "2026-04-06 10:30"},
	{"alice", FB, "2026-04-04 10:59", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-04-06 10:30"},
	{"alice", FB, "2026-04-04 11:00", P_OFF, 0, 0, ALLOW, R(ALLOWED), "2026-04-04 11:15"},

	/* -- staff and presence -- */
	{"alice", FB, "2026-03-30 10:35", P_ON, 0, 0, BLOCK, R(STUDENTS_PRESENT), "-"},
	{"alice", FB, "2026-03-30 10:35", P_ON_5, 0, 0, BLOCK, R(STUDENTS_PRESENT), "2026-03-30 10:40"},
	{"alice", FB, "2026-03-30 10:42", P_ON_5, 0, 0, BLOCK, R(STUDENTS_PRESENT), "2026-03-30 12:30"},
	{"alice", FB, "2026-03-30 09:30", P_ON_5, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"alice", FB, "2026-03-30 09:30", P_OFF, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"alice", FB, "2026-03-30 10:35", P_OFF, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"alice", FB, "2026-03-30 10:35", P_OFF_5, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"alice", FB, "2026-03-30 10:35", P_DET_2, 0, 0, BLOCK, R(STUDENTS_PRESENT), "2026-03-30 10:43"},
	{"alice", FB, "2026-03-30 10:42", P_DET_8, 0, 0, BLOCK, R(STUDENTS_PRESENT), "2026-03-30 10:44"},
	{"alice", FB, "2026-03-30 10:44", P_DET_8, 0, 0, BLOCK, R(STUDENTS_PRESENT), "2026-03-30 12:30"},
	{"alice", FB, "2026-03-30 10:35", P_OFF_5, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"alice", FB, "2026-03-30 16:00", P_DET_2, 0, 0, BLOCK, R(STUDENTS_PRESENT), "2026-03-30 16:08"},

	/* -- closed dates -- */
	{"alice", FB, "2026-05-04 10:35", P_NONE, 0, 0, BLOCK, R(CLOSED), "2026-05-05 10:30"},
	{"alice", FB, "2026-05-04 10:35", P_ON, 0, 0, BLOCK, R(CLOSED), "-"},
	{"alice", FB, "2026-05-03 17:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-05-05 10:30"},
	{"alice", FB, "2026-05-01 17:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-05-05 10:30"},
	{"alice", FB, "2026-12-18 15:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-12-18 17:30"},
	{"alice", FB, "2026-12-18 17:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2027-01-05 10:30"},
	{"alice", FB, "2026-12-21 00:00", P_NONE, 0, 0, BLOCK, R(CLOSED), "2027-01-05 10:30"},
	{"alice", FB, "2027-01-04 23:59", P_NONE, 0, 0, BLOCK, R(CLOSED), "2027-01-05 10:30"},
	{"cap", FB, "2026-05-04 10:00", P_NONE, 0, 0, ALLOW, R(ALLOWED), "-"},
	{"tina", YT, "2026-12-22 10:00", P_ON_5, 0, 0, ALLOW, R(SANCTIONED), "2026-12-22 10:05"},
	{"tina", YT, "2026-12-22 10:05", P_NONE, 0, 0, BLOCK, R(CLOSED), "2027-01-05 09:00"},
	/* a closure across the spring change of 2027 (2027-03-28) */
	{"alice", FB, "2027-03-25 17:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2027-03-31 10:30"},
	{"alice", FB, "2027-03-28 12:00", P_NONE, 0, 0, BLOCK, R(CLOSED), "2027-03-31 10:30"},
	{"cap", FB, "2027-03-27 12:00", P_NONE, 20, 20, BLOCK, R(ALLOWANCE_EXHAUSTED), "2027-03-28 00:00"},

	/* -- a window across the spring-forward hour (late = sun 00:30-03:00) -- */
	{"nina", FB, "2026-03-29 00:29", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-29 00:30"},
	{"nina", FB, "2026-03-29 00:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-29 03:00"},
	{"nina", FB, "2026-03-29 00:59", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-29 03:00"},
	{"nina", FB, "2026-03-29 02:00", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-29 03:00"},
	{"nina", FB, "2026-03-29 02:59", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-29 03:00"},
	{"nina", FB, "2026-03-29 03:00", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-04-05 00:30"},
	/* a window that lies in the skipped hour does not happen that day */
	{"gus", FB, "2026-03-29 00:00", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-04-05 01:15"},
	{"gus", FB, "2026-03-22 01:15", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-22 01:45"},
	{"gus", FB, "2026-03-22 01:45", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-04-05 01:15"},
	/* one that starts in it opens when the clock jumps to 02:00 */
	{"gil", FB, "2026-03-29 00:45", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-29 02:00"},
	{"gil", FB, "2026-03-29 02:00", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-29 02:30"},

	/* -- the fall-back day: 01:00-02:00 happens twice -- */
	{"nina", FB, "2026-10-25 00:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 03:00"},
	{"nina", FB, "2026-10-25 01:30+01", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 03:00"},
	{"nina", FB, "2026-10-25 01:30+00", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 03:00"},
	{"nina", FB, "2026-10-25 02:59", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 03:00"},
	{"nina", FB, "2026-10-25 03:00", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-11-01 00:30"},
	{"gus", FB, "2026-10-25 01:14+01", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-10-25 01:15+01"},
	{"gus", FB, "2026-10-25 01:15+01", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 01:45+01"},
	{"gus", FB, "2026-10-25 01:45+01", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-10-25 01:15+00"},
	{"gus", FB, "2026-10-25 01:15+00", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 01:45+00"},
	{"gus", FB, "2026-10-25 01:45+00", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-11-01 01:15"},
	/* early = sun 00:00-01:30: shut at 01:30 BST, open again when 02:00 BST becomes 01:00 GMT */
	{"eve", FB, "2026-10-25 01:29+01", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 01:30+01"},
	{"eve", FB, "2026-10-25 01:30+01", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-10-25 01:00+00"},
	{"eve", FB, "2026-10-25 01:00+00", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-10-25 01:30+00"},

	/* -- allowances -- */
	/* volunteers: 30m a day, warn */
	{"vic", FB, "2026-03-30 10:35", P_NONE, 29, 5, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"val", FB, "2026-03-30 10:35", P_NONE, 30, 5, WARN, R(ALLOWANCE_EXHAUSTED), "2026-03-30 10:45"},
	{"vic", FB, "2026-03-30 10:35", P_NONE, 31, 5, WARN, R(ALLOWANCE_EXHAUSTED), "2026-03-30 10:45"},
	{"vic", FB, "2026-03-30 17:00", P_NONE, 30, 0, WARN, R(ALLOWANCE_EXHAUSTED), "2026-03-30 17:30"},
	{"vic", FB, "2026-03-30 09:30", P_NONE, 30, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"vic", FB, "2026-03-30 17:30", P_NONE, 30, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-31 10:30"},
	/* admin: 30m a day and 10m a break, block */
	{"ada", FB, "2026-03-30 10:35", P_NONE, 9, 9, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"ada", FB, "2026-03-30 10:35", P_NONE, 10, 10, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-03-30 12:30"},
	{"ada", FB, "2026-03-30 10:35", P_NONE, 11, 11, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-03-30 12:30"},
	{"ada", FB, "2026-03-30 10:35", P_NONE, 29, 5, ALLOW, R(ALLOWED), "2026-03-30 10:45"},
	{"ada", FB, "2026-03-30 10:35", P_NONE, 30, 5, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-03-31 10:30"},
	{"ada", FB, "2026-03-30 12:30", P_NONE, 25, 0, ALLOW, R(ALLOWED), "2026-03-30 13:15"},
	{"ada", FB, "2026-03-30 15:30", P_NONE, 31, 0, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-03-31 10:30"},
	/* always, 20m a day, block: the allowance comes back at local midnight */
	{"cap", FB, "2026-03-30 14:00", P_NONE, 19, 19, ALLOW, R(ALLOWED), "-"},
	{"cap", FB, "2026-03-30 14:00", P_NONE, 20, 20, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-03-31 00:00"},
	{"cap", FB, "2026-03-30 14:00", P_NONE, 21, 21, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-03-31 00:00"},
	{"cap", FB, "2026-03-28 14:00", P_NONE, 20, 20, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-03-29 00:00"},
	{"cap", FB, "2026-10-24 20:00", P_NONE, 20, 20, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-10-25 00:00"},
	{"cap", FB, "2026-10-25 20:00", P_NONE, 20, 20, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-10-26 00:00"},
	{"cap", FB, "2026-12-25 12:00", P_NONE, 20, 20, BLOCK, R(ALLOWANCE_EXHAUSTED), "2026-12-26 00:00"},
	/* log: allowed, flagged */
	{"lou", FB, "2026-03-30 14:00", P_NONE, 20, 20, ALLOW, R(ALLOWANCE_EXHAUSTED), "-"},
	{"lou", FB, "2026-03-30 14:00", P_NONE, 19, 19, ALLOW, R(ALLOWED), "-"},

	/* -- comms: organisational platforms at any time; others by the staff rule -- */
	{"carol", FB, "2026-03-30 09:30", P_ON, 0, 0, ALLOW, R(ORGANISATIONAL), "-"},
	{"carol", "mobile.twitter.com", "2026-05-04 03:00", P_NONE, 500, 500, ALLOW, R(ORGANISATIONAL), "-"},
	{"carol", YT, "2026-03-30 09:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"carol", YT, "2026-03-30 10:35", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 10:45"},

	/* -- sanctioned: teachers may use youtube while students are present -- */
	{"tina", YT, "2026-03-30 09:30", P_NONE, 0, 0, ALLOW, R(SANCTIONED), "2026-03-30 17:30"},
	{"tina", YT, "2026-03-30 08:59", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 09:00"},
	{"tina", YT, "2026-03-30 09:00", P_NONE, 0, 0, ALLOW, R(SANCTIONED), "2026-03-30 17:30"},
	{"tina", YT, "2026-03-30 10:30", P_NONE, 0, 0, ALLOW, R(ALLOWED), "2026-03-30 17:30"},
	{"tina", FB, "2026-03-30 09:30", P_NONE, 0, 0, BLOCK, R(OUTSIDE_ALLOWED_TIME), "2026-03-30 10:30"},
	{"tina", YT, "2026-04-04 14:00", P_ON, 0, 0, ALLOW, R(SANCTIONED), "-"},
	{"tina", YT, "2026-04-04 14:00", P_ON_5, 0, 0, ALLOW, R(SANCTIONED), "2026-04-04 14:05"},
	{"tina", YT, "2026-05-04 09:30", P_NONE, 0, 0, BLOCK, R(CLOSED), "2026-05-05 09:00"},
	{"tina", YT, "2026-03-30 16:00", P_DET_2, 0, 0, ALLOW, R(SANCTIONED), "2026-03-30 17:30"},
	/* students: never, but youtube is sanctioned for teaching */
	{"sam", FB, "2026-03-30 09:30", P_NONE, 0, 0, BLOCK, R(GROUP_NEVER), "-"},
	{"sam", YT, "2026-03-30 09:30", P_NONE, 0, 0, ALLOW, R(SANCTIONED), "2026-03-30 10:30"},
	{"sam", YT, "2026-03-30 10:35", P_NONE, 0, 0, BLOCK, R(GROUP_NEVER), "2026-03-30 10:45"},
	{"sam", YT, "2026-03-30 18:00", P_NONE, 0, 0, BLOCK, R(GROUP_NEVER), "2026-03-31 09:00"},
	{"sam", YT, "2026-03-30 10:35", P_DET_2, 0, 0, ALLOW, R(SANCTIONED), "2026-03-30 10:43"},
	{"sam", YT, "2026-03-30 09:30", P_OFF, 0, 0, BLOCK, R(GROUP_NEVER), "-"},
};

static void presence_for(enum pres p, time_t now, struct presence_state *ps)
{
	memset(ps, 0, sizeof(*ps));
	switch (p) {
	case P_ON:
		ps->override = PRESENCE_ON;
		break;
	case P_OFF:
		ps->override = PRESENCE_OFF;
		break;
	case P_ON_5:
		ps->override = PRESENCE_ON;
		ps->override_until = now + 300;
		break;
	case P_OFF_5:
		ps->override = PRESENCE_OFF;
		ps->override_until = now + 300;
		break;
	case P_DET_2:
		ps->last_detected = now - 120;
		break;
	case P_DET_8:
		ps->last_detected = now - 480;
		break;
	default:
		break;
	}
}

START_TEST(test_decide)
{
	const struct row *r = &rows[_i];
	const struct policy *p = site->policy;
	struct identity id = {r->user, policy_group_of(p, r->user)};
	const struct catalog_entry *ent = r->host ? catalog_lookup(policy_catalog(p), r->host) : NULL;
	time_t now = at(r->when);
	struct presence_state ps;
	struct usage u = {r->day_used, r->period_used};
	char got[64], want[64];

	presence_for(r->pres, now, &ps);
	struct decision d = policy_decide(p, &id, ent, now, r->pres == P_NONE ? NULL : &ps, &u);
	fmt(d.until, got, sizeof(got));
	fmt(at(r->until), want, sizeof(want));
	ck_assert_msg(d.verdict == r->verdict && d.reason == r->reason && d.until == at(r->until),
		      "row %d (%s %s at %s): got %s/%s until %s, want %s/%s until %s", _i,
		      r->user ? r->user : "(none)", r->host ? r->host : "(none)", r->when,
		      policy_verdict_name(d.verdict), policy_reason_name(d.reason), got,
		      policy_verdict_name(r->verdict), policy_reason_name(r->reason), want);
}
END_TEST

/*
 * `until` against brute force: from random moments (weighted to the
 * daylight-saving days and closed dates), step minute by minute, with usage
 * reset as the clock resets it, and check that the verdict holds until
 * `until` and changes exactly then.
 */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

START_TEST(test_until_brute_force)
{
	static const char *const users[] = {"alice", "carol", "vic", "ada", "sam", "tina", "nina",
					    "gus", "gil", "eve", "cap", "lou", "zed"};
	static const char *const hosts[] = {FB, YT, "x.com"};
	static const char *const starts[] = {"2026-03-27 12:00", "2026-10-23 12:00", "2026-05-01 12:00",
					     "2026-12-17 12:00", "2027-03-24 12:00", "2026-06-01 00:00"};
	const struct policy *p = site->policy;
#ifdef __SANITIZE_ADDRESS__
	const int samples = 60; /* ten times slower there */
#else
	const int samples = 200;
#endif

	for (int n = 0; n < samples; n++) {
		const char *user = users[rnd() % 13];
		struct identity id = {user, policy_group_of(p, user)};
		const struct catalog_entry *ent = catalog_lookup(policy_catalog(p), hosts[rnd() % 3]);
		time_t now = at(starts[rnd() % 6]) + (time_t)(rnd() % (5 * 86400));
		if (rnd() % 2)
			now -= now % 60; /* on a minute edge half the time */
		struct presence_state ps;
		presence_for((enum pres)(rnd() % 7), now, &ps);
		struct usage u = {(unsigned)(rnd() % 40), 0};
		time_t period = policy_period_start(p, id.group, now);
		if (period)
			u.period_minutes = (unsigned)(rnd() % 15);
		struct decision d0 = policy_decide(p, &id, ent, now, &ps, &u);
		struct schedule_state s0;
		policy_schedule_state(p, now, &s0);

		time_t limit = d0.until ? d0.until : now + 16 * 86400;
		time_t events[2] = {ps.override_until, ps.last_detected ? ps.last_detected + 600 : 0};
		time_t prev = now, minute = now - now % 60 + 60;
		int checked = 0;
		for (;;) {
			time_t t = minute;
			for (int i = 0; i < 2; i++)
				if (events[i] > prev && events[i] < t)
					t = events[i];
			if (t > limit)
				break;
			struct schedule_state st;
			policy_schedule_state(p, t, &st);
			struct usage un = {0, 0};
			if (st.time.day == s0.time.day) {
				un.day_minutes = u.day_minutes;
				if (period && policy_period_start(p, id.group, t) == period)
					un.period_minutes = u.period_minutes;
			}
			struct decision d = policy_decide(p, &id, ent, t, &ps, &un);
			if (t < limit || !d0.until)
				ck_assert_msg(d.verdict == d0.verdict,
					      "sample %d: %s on %s from %lld: %s at %lld, before until %lld", n, user,
					      ent->platform, (long long)now, policy_verdict_name(d.verdict), (long long)t,
					      (long long)d0.until);
			else
				ck_assert_msg(d.verdict != d0.verdict, "sample %d: %s from %lld: no change at until %lld",
					      n, user, (long long)now, (long long)d0.until);
			checked++;
			prev = t;
			if (t == minute)
				/* a verdict said never to change: every minute for two days, then
				 * every quarter of an hour (all windows are on quarters) */
				minute += !d0.until && t > now + 2 * 86400 ? 900 - (t % 900 ? t % 900 : 0) : 60;
		}
		ck_assert_int_gt(checked, 0);
	}
}
END_TEST

/* The same decisions through an identity with no group set: the default group. */
START_TEST(test_identity_default)
{
	const struct policy *p = site->policy;
	struct identity id = {"alice", NULL};
	const struct catalog_entry *ent = catalog_lookup(policy_catalog(p), FB);
	struct decision d = policy_decide(p, &id, ent, at("2026-03-30 10:35"), NULL, NULL);
	ck_assert_int_eq(d.reason, REASON_GROUP_NEVER); /* guests */
	d = policy_decide(p, NULL, ent, at("2026-03-30 10:35"), NULL, NULL);
	ck_assert_int_eq(d.reason, REASON_GROUP_NEVER);
	ck_assert_int_eq(d.verdict, VERDICT_BLOCK);
}
END_TEST

START_TEST(test_groups)
{
	const struct policy *p = site->policy;
	ck_assert_str_eq(policy_group_name(policy_group_of(p, "alice")), "staff");
	ck_assert_str_eq(policy_group_name(policy_group_of(p, "ALICE")), "staff");
	ck_assert_str_eq(policy_group_name(policy_group_of(p, "bob")), "staff");
	ck_assert_str_eq(policy_group_name(policy_group_of(p, "vic")), "volunteers");
	ck_assert_str_eq(policy_group_name(policy_group_of(p, "val")), "volunteers");
	ck_assert_str_eq(policy_group_name(policy_group_of(p, "nobody")), "guests");
	ck_assert_str_eq(policy_group_name(policy_group_of(p, "")), "guests");
	ck_assert_str_eq(policy_group_name(policy_group_of(p, NULL)), "guests");
	ck_assert_uint_eq(policy_group_n_members(policy_group_find(p, "staff")), 2);
	ck_assert_uint_eq(policy_group_n_members(policy_group_find(p, "volunteers")), 2);
	ck_assert(policy_group_organisational(policy_group_find(p, "comms")));
	ck_assert_uint_eq(policy_group_allowance(policy_group_find(p, "admin")), 30);
	ck_assert_uint_eq(policy_group_break_allowance(policy_group_find(p, "admin")), 10);
	ck_assert_uint_eq(policy_group_allowance(policy_group_find(p, "staff")), POLICY_UNLIMITED);
	ck_assert_int_eq(policy_group_over_allowance(policy_group_find(p, "volunteers")), OVER_ALLOWANCE_WARN);
	ck_assert_str_eq(policy_group_social(policy_group_find(p, "staff")), "!students & (breaks | non_directed)");
	ck_assert_str_eq(policy_group_social(policy_group_find(p, "students")), "never");
	ck_assert_ptr_null(policy_group_find(p, "nobody"));
	ck_assert_str_eq(policy_timetable_name(p), "students");
	ck_assert_uint_eq(policy_detect_idle(p), 600);
	ck_assert_str_eq(policy_auth(p)->default_group, "guests");
}
END_TEST

START_TEST(test_period_start)
{
	const struct policy *p = site->policy;
	const struct group *staff = policy_group_find(p, "staff");
	const struct group *cap = policy_group_find(p, "capped");
	const struct group *nina = policy_group_find(p, "night");
	const struct group *eve = policy_group_find(p, "early");

	ck_assert_int_eq(policy_period_start(p, staff, at("2026-03-30 10:40")), at("2026-03-30 10:30"));
	ck_assert_int_eq(policy_period_start(p, staff, at("2026-03-30 10:30")), at("2026-03-30 10:30"));
	ck_assert_int_eq(policy_period_start(p, staff, at("2026-03-30 10:45")), 0);
	ck_assert_int_eq(policy_period_start(p, staff, at("2026-03-30 16:00")), at("2026-03-30 15:30"));
	/* students on Saturday do not matter: the break is the break */
	ck_assert_int_eq(policy_period_start(p, staff, at("2026-04-04 11:10")), at("2026-04-04 11:00"));
	ck_assert_int_eq(policy_period_start(p, staff, at("2026-05-04 10:40")), 0); /* closed */
	ck_assert_int_eq(policy_period_start(p, cap, at("2026-03-30 14:00")), at("2026-03-30 00:00"));
	ck_assert_int_eq(policy_period_start(p, cap, at("2026-05-04 14:00")), at("2026-05-04 00:00"));
	/* across the daylight-saving changes */
	ck_assert_int_eq(policy_period_start(p, nina, at("2026-03-29 02:30")), at("2026-03-29 00:30"));
	ck_assert_int_eq(policy_period_start(p, nina, at("2026-10-25 02:30")), at("2026-10-25 00:30"));
	ck_assert_int_eq(policy_period_start(p, eve, at("2026-10-25 01:10+00")), at("2026-10-25 01:00+00"));
	ck_assert_int_eq(policy_period_start(p, eve, at("2026-10-25 01:10+01")), at("2026-10-25 00:00"));
}
END_TEST

START_TEST(test_presence)
{
	const struct policy *p = site->policy;
	struct presence_state ps = {0};
	enum presence_source src;
	time_t t = at("2026-03-30 09:30");

	ck_assert(policy_students_present(p, NULL, t, &src));
	ck_assert_int_eq(src, PRESENCE_FROM_TIMETABLE);
	ck_assert(!policy_students_present(p, NULL, at("2026-03-30 10:35"), &src));
	ck_assert_int_eq(src, PRESENCE_FROM_NONE);
	ps.override = PRESENCE_OFF;
	ck_assert(!policy_students_present(p, &ps, t, &src));
	ck_assert_int_eq(src, PRESENCE_FROM_OVERRIDE);
	ps.override_until = t;
	ck_assert(policy_students_present(p, &ps, t, &src)); /* expired at t */
	ps.override = PRESENCE_AUTO;
	ps.last_detected = at("2026-03-30 10:31");
	ck_assert(policy_students_present(p, &ps, at("2026-03-30 10:40"), &src));
	ck_assert_int_eq(src, PRESENCE_FROM_DETECTION);
	ck_assert(!policy_students_present(p, &ps, at("2026-03-30 10:41"), &src));
	/* closed dates close the timetable too */
	ck_assert(!policy_students_present(p, NULL, at("2026-05-04 09:30"), &src));

	ck_assert(presence_detects(p, policy_group_find(p, "students"), NULL));
	ck_assert(!presence_detects(p, policy_group_find(p, "staff"), NULL));
	ck_assert(!presence_detects(p, NULL, NULL));
}
END_TEST

START_TEST(test_counts_usage)
{
	struct decision d = {VERDICT_ALLOW, REASON_ALLOWED, 0};
	ck_assert(policy_counts_usage(&d));
	d.reason = REASON_ORGANISATIONAL;
	ck_assert(!policy_counts_usage(&d));
	d.reason = REASON_SANCTIONED;
	ck_assert(!policy_counts_usage(&d));
	d.reason = REASON_NOT_SOCIAL;
	ck_assert(!policy_counts_usage(&d));
	d.reason = REASON_ALLOWANCE_EXHAUSTED;
	ck_assert(policy_counts_usage(&d));
	d.verdict = VERDICT_WARN;
	ck_assert(policy_counts_usage(&d));
	d.verdict = VERDICT_BLOCK;
	ck_assert(!policy_counts_usage(&d));
	/* every reason policy_decide() returns has a name and a sentence; the
	 * proxy's and the sensor's have a name only */
	for (int r = REASON_NONE + 1; r < REASON_COUNT; r++) {
		ck_assert_str_ne(policy_reason_name((enum reason)r), "?");
		if (verdict_reason_is_policy((enum reason)r))
			ck_assert_str_ne(policy_reason_text((enum reason)r), "?");
		else
			ck_assert_str_eq(policy_reason_text((enum reason)r), "?");
	}
	ck_assert_str_eq(policy_reason_name(REASON_NONE), "?");
	ck_assert_str_eq(policy_verdict_name(VERDICT_NONE), "?");
	ck_assert_str_eq(policy_reason_name(REASON_STUDENTS_PRESENT), "students-present");
	ck_assert_str_eq(policy_reason_name(REASON_OUTSIDE_ALLOWED_TIME), "outside-allowed-time");
	ck_assert_str_eq(policy_verdict_name(VERDICT_WARN), "warn");
}
END_TEST

/* ---- loading: defaults and errors ---- */

/* Load text with every "%s" replaced by the test platform list's path. */
static struct conf *load(const char *text, struct conf_errors *e)
{
	char buf[4096];
	size_t n = 0;
	memset(e, 0, sizeof(*e));
	for (const char *s = text; *s && n < sizeof(buf) - 80; s++) {
		if (s[0] == '%' && s[1] == 's') {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", platforms_path);
			s++;
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return conf_load_string(buf, "t.conf", e);
}

START_TEST(test_defaults)
{
	struct conf_errors e;
	struct conf *c = load("[proxy]\nlisten = 127.0.0.1:3128\n[catalog]\nplatforms = %s\n", &e);
	ck_assert_ptr_nonnull(c);
	const struct policy *p = c->policy;
	static const char *const names[] = {"staff", "volunteers", "comms", "admin", "students", "guests"};
	ck_assert_uint_eq(policy_n_groups(p), 6);
	for (size_t i = 0; i < 6; i++)
		ck_assert_str_eq(policy_group_name(policy_group_at(p, i)), names[i]);
	ck_assert_str_eq(policy_group_name(policy_default_group(p)), "guests");
	ck_assert_ptr_null(policy_timetable_name(p));
	/* no schedule: staff are never in a break, so always blocked */
	const struct catalog_entry *fb = catalog_lookup(policy_catalog(p), "facebook.com");
	struct identity id = {"x", policy_group_find(p, "staff")};
	struct decision d = policy_decide(p, &id, fb, 1780000000, NULL, NULL);
	ck_assert_int_eq(d.verdict, VERDICT_BLOCK);
	ck_assert_int_eq(d.reason, REASON_OUTSIDE_ALLOWED_TIME);
	ck_assert_int_eq(d.until, 0);
	id.group = policy_group_find(p, "comms");
	d = policy_decide(p, &id, fb, 1780000000, NULL, NULL);
	ck_assert_int_eq(d.reason, REASON_ORGANISATIONAL);
	ck_assert_uint_eq(c->warnings.n, 0);
	conf_unref(c);
	conf_errors_free(&e);

	/* empty: loads, and says the platform list is missing unless installed */
	c = load("", &e);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(c->policy);
	conf_unref(c);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_keyless_group)
{
	struct conf_errors e;
	struct conf *c = load("[group interns]\n\n[auth]\ndefault_group = interns\n", &e);
	ck_assert_msg(c != NULL, "%s", e.n ? e.msgs[0] : "");
	ck_assert_str_eq(policy_group_name(policy_default_group(c->policy)), "interns");
	ck_assert_str_eq(policy_group_social(policy_default_group(c->policy)), "never");
	conf_unref(c);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_categories)
{
	struct conf_errors e;
	struct conf *c = load("[catalog]\nplatforms = %s\ncategories = social, messaging\n"
			      "[group staff]\nmembers = a\nsocial = never\n", &e);
	ck_assert_msg(c != NULL, "%s", e.n ? e.msgs[0] : "");
	const struct policy *p = c->policy;
	struct identity id = {"a", policy_group_of(p, "a")};
	const struct catalog_entry *yt = catalog_lookup(policy_catalog(p), "youtube.com");
	const struct catalog_entry *fb = catalog_lookup(policy_catalog(p), "facebook.com");
	ck_assert(!policy_is_social(p, yt));
	ck_assert(policy_is_social(p, fb));
	ck_assert_int_eq(policy_decide(p, &id, yt, 1780000000, NULL, NULL).reason, REASON_NOT_SOCIAL);
	ck_assert_int_eq(policy_decide(p, &id, fb, 1780000000, NULL, NULL).reason, REASON_GROUP_NEVER);
	conf_unref(c);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_warnings)
{
	struct conf_errors e;
	struct conf *c = load("[catalog]\nplatforms = %s\n[schedule]\nbreak = mon 10:00-10:15\n"
			      "[group staff]\nmembers = a\n", &e);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_ge(c->warnings.n, 1);
	ck_assert_str_eq(c->warnings.msgs[0],
			 "t.conf:5: [group staff] has the default rule `!students & (breaks | non_directed)`, "
			 "but [schedule] does not define all of its windows: the missing ones are never open");
	conf_unref(c);
	conf_errors_free(&e);
}
END_TEST

/* Each bad file: its first error, exactly, with the line it is about. */
static const struct {
	const char *text;
	const char *error;
} bad[] = {
	/* sections and keys */
	{"[sit]\ntimezone = UTC\n", "t.conf:2: unknown section [sit]: did you mean [site]?"},
	{"[grop staff]\nsocial = always\n", "t.conf:2: unknown section [grop staff]: did you mean [group staff]?"},
	{"[proxy]\nworkers = 1\n\n[nonsense]\n", "t.conf:4: unknown section [nonsense]"},
	{"[group]\nsocial = always\n", "t.conf:2: [group] needs a name: [group NAME], like [group staff]"},
	{"[group a b]\nsocial = always\n", "t.conf:2: [group a b]: a group name is letters, digits, _, - and ."},
	{"[site]\ntimezon = UTC\n", "t.conf:2: unknown key `timezon` in [site]: did you mean `timezone`?"},
	{"[group staff]\nmembers = a\nalowance = 30m\n",
	 "t.conf:3: unknown key `alowance` in [group staff]: did you mean `allowance`?"},
	{"[presence]\ndetect_idel = 5m\n", "t.conf:2: unknown key `detect_idel` in [presence]: did you mean `detect_idle`?"},
	{"[auth]\ndefault_grup = staff\n", "t.conf:2: unknown key `default_grup` in [auth]: did you mean `default_group`?"},
	{"[catalog]\nplatform_list = x\n", "t.conf:2: unknown key `platform_list` in [catalog]"},
	{"[site]\ntimezone = UTC\ntimezone = Europe/London\n",
	 "t.conf:3: `timezone` is given more than once (first on line 2): it takes one value"},
	/* [site] */
	{"[site]\n\ntimezone = Europe/Londn\n",
	 "t.conf:3: timezone: unknown time zone `Europe/Londn` (no /usr/share/zoneinfo/Europe/Londn)"},
	{"[site]\ntimezone = ../../etc/passwd\n", "t.conf:2: timezone: `../../etc/passwd` is not a time zone name (like Europe/London)"},
	{"[site]\nclosed = 2026-12-21..2027-01-04\nclosed = 2026-13-01\n",
	 "t.conf:3: closed: `2026-13-01` is not a date like 2026-12-25 (or a range like 2026-12-21..2027-01-04)"},
	{"[site]\nclosed = 2027-01-04..2026-12-21\n", "t.conf:2: closed: `2027-01-04..2026-12-21` ends before it starts"},
	/* [schedule] */
	{"[schedule]\nbreaks = mon-fri 10:30-10:45\nlunch = mon-fry 12:00-13:00\n",
	 "t.conf:3: lunch: `mon-fry` is neither days (mon-fri, sat, daily) nor a time range (09:00-15:30)"},
	{"[schedule]\nbreaks = mon-fri 10:30-10:45,\n  12:30-13:15, 25:00-26:00\n",
	 "t.conf:3: breaks: `25:00-26:00` is not a time range like 09:00-15:30"},
	{"[schedule]\nalways = mon 10:00-11:00\n", "t.conf:2: `always` cannot be a window name: it means true in `social` rules"},
	{"[schedule]\n9am = mon 10:00-11:00\n", "t.conf:2: `9am` is not a window name: use letters, digits and _ (like non_directed)"},
	/* [presence] */
	{"[presence]\ntimetable = lessons\n", "t.conf:2: timetable: no [schedule] window `lessons`"},
	{"[schedule]\nsessions = mon 09:00-12:00\n[presence]\ntimetable = session\n",
	 "t.conf:4: timetable: no [schedule] window `session`: did you mean `sessions`?"},
	{"[presence]\ndetect_idle = soon\n", "t.conf:2: detect_idle: `soon` is not a duration up to a day (like 10m)"},
	{"[presence]\ndetect_subnets = 10.1.0.0/16, 10.2.0.0/33\n",
	 "t.conf:2: detect_subnets: `10.2.0.0/33` is not an address or ADDRESS/BITS"},
	{"[presence]\ndetect_groups = students, studnets\n",
	 "t.conf:2: detect_groups: no group `studnets`: did you mean `students`?"},
	/* [group NAME] */
	{"[schedule]\nbreaks = mon 10:00-10:15\n[group staff]\nmembers = a\nsocial = !students & brakes\n",
	 "t.conf:5: social: `brakes` is not a [schedule] window, `students`, `always` or `never` (at column 13): did you mean `breaks`?"},
	{"[group staff]\n\nsocial = !students & (breaks | non_directed)\n",
	 "t.conf:3: social: `breaks` is not a [schedule] window, `students`, `always` or `never` (at column 14)"},
	{"[group staff]\nsocial = (always\n", "t.conf:2: social: expected `)` at column 8"},
	{"[group staff]\nsocial =\n", "t.conf:2: social: empty: write a rule like `!students & (breaks | non_directed)`, or `always` / `never`"},
	{"[group staff]\nallowance = 30\n",
	 "t.conf:2: allowance: `30` is not a whole number of minutes with its unit (like 30m or 1h), or none"},
	{"[group staff]\nbreak_allowance = 90s\n",
	 "t.conf:2: break_allowance: `90s` is not a whole number of minutes with its unit (like 30m or 1h), or none"},
	{"[group staff]\nover_allowance = deny\n", "t.conf:2: over_allowance: `deny` is not block, warn or log"},
	{"[group staff]\norganisational = perhaps\n", "t.conf:2: organisational: `perhaps` is not yes or no"},
	{"[catalog]\nplatforms = %s\n[group staff]\nsanctioned = youtube,\n  youtub\n",
	 "t.conf:5: sanctioned: unknown platform `youtub`: did you mean `youtube`?"},
	{"[catalog]\nplatforms = %s\n[group staff]\nsanctioned = myspace\n",
	 "t.conf:4: sanctioned: `myspace` is not a platform in the catalog"},
	{"[catalog]\nplatforms = %s\n[group comms]\nplatforms = facebok\n",
	 "t.conf:4: platforms: unknown platform `facebok`: did you mean `facebook`?"},
	{"[catalog]\nplatforms = %s\n[group staff]\nplatforms = facebook\n",
	 "t.conf:4: platforms: only an organisational group lists platforms (add `organisational = yes`)"},
	{"[group staff]\nmembers = alice\n[group comms]\nmembers = bob, Alice\n",
	 "t.conf:4: members: `Alice` is already a member of [group staff]: a user is in one group"},
	{"[group staff]\nmembers = file:/nonexistent/staff.txt\n",
	 "t.conf:2: members: cannot read `file:/nonexistent/staff.txt`: No such file or directory"},
	{"[group staff]\nmembers = file:\n", "t.conf:2: members: `file:` needs a path, like file:/etc/breaktime/staff.txt"},
	/* [auth] */
	{"[auth]\ndefault_group = staf\n", "t.conf:2: default_group: no group `staf`: did you mean `staff`?"},
	{"[auth]\ndefault_group = visitors\n", "t.conf:2: default_group: no group `visitors` (define it with [group visitors])"},
	{"[auth]\nrequired = yes\n", "t.conf:2: required: authentication needs `htpasswd` or `helper` in [auth]"},
	{"[auth]\nrequired = sometimes\n", "t.conf:2: required: `sometimes` is not yes or no"},
	/* [catalog] */
	{"[catalog]\nplatforms = /nonexistent/platforms.list\n",
	 "t.conf:2: platforms: cannot read `/nonexistent/platforms.list`: No such file or directory"},
	{"[catalog]\nplatforms = %s\ncategories = social, vidoe\n",
	 "t.conf:3: categories: unknown category `vidoe`: did you mean `video`?"},
	{"[catalog]\nplatforms = %s\nlists = /nonexistent/*.txt\n", "t.conf:3: lists: `/nonexistent/*.txt` matches no file"},
	{"[catalog]\nplatform = Face Book\n", "t.conf:2: platform: `Face Book` is not a name of 1-32 a-z, 0-9, _ and -"},
	/* errors of proxy and policy sections together, in file order */
	{"[proxy]\nworkers = x\n[group staff]\nallowance = x\n", "t.conf:2: workers: `x` is not a number from 0 to 256"},
};

START_TEST(test_errors)
{
	struct conf_errors e;
	struct conf *c = load(bad[_i].text, &e);
	ck_assert_msg(c == NULL, "row %d loaded", _i);
	ck_assert_uint_ge(e.n, 1);
	ck_assert_msg(strcmp(e.msgs[0], bad[_i].error) == 0, "row %d:\n got  %s\n want %s", _i, e.msgs[0],
		      bad[_i].error);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_every_error_listed)
{
	struct conf_errors e;
	struct conf *c = load("[site]\n"
			      "timezone = Mars/Olympus\n"        /* 2 */
			      "[schedule]\n"
			      "breaks = mon 10:00-99:00\n"       /* 4 */
			      "[group staff]\n"
			      "allowance = lots\n"               /* 6 */
			      "social = brakes\n"                /* 7 */
			      "[auth]\n"
			      "default_group = nobody\n",        /* 9 */
			      &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.n, 5);
	/* key errors as the file is read, then the references, each at its line */
	ck_assert(strncmp(e.msgs[0], "t.conf:4:", 9) == 0);
	ck_assert(strncmp(e.msgs[1], "t.conf:6:", 9) == 0);
	ck_assert(strncmp(e.msgs[2], "t.conf:2:", 9) == 0);
	ck_assert(strncmp(e.msgs[3], "t.conf:7:", 9) == 0);
	ck_assert(strncmp(e.msgs[4], "t.conf:9:", 9) == 0);
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_no_files)
{
	/* nothing outside the text is read: no zone file, no lists, no member files */
	struct conf_errors e = {0};
	struct conf *c = conf_load_string_flags("[site]\ntimezone = Europe/London\n"
						"[catalog]\nplatforms = /nonexistent\nlists = /nonexistent/*\n"
						"[group staff]\nmembers = file:/dev/zero, alice\n",
						"t.conf", CONF_NO_FILES, &e);
	ck_assert_msg(c != NULL, "%s", e.n ? e.msgs[0] : "");
	ck_assert_str_eq(tz_name(policy_tz(c->policy)), "UTC");
	ck_assert_uint_eq(catalog_size(policy_catalog(c->policy)), 0);
	ck_assert_str_eq(policy_group_name(policy_group_of(c->policy, "alice")), "staff");
	conf_unref(c);
	conf_errors_free(&e);
	/* without the flag, a device is refused rather than read for ever */
	c = load("[group staff]\nmembers = file:/dev/zero\n", &e);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(e.msgs[0], "t.conf:2: members: `file:/dev/zero` is not a regular file");
	conf_errors_free(&e);
}
END_TEST

START_TEST(test_lists)
{
	/* a UT1-style folder and a hosts file, added to the catalog by [catalog] lists */
	char dir[] = "/tmp/bt-lists-XXXXXX";
	char path[256], conf_text[1024];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/social_networks", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/social_networks/domains", dir);
	FILE *fp = fopen(path, "w");
	fputs("myspace.com\nfriendster.com\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/gaming.hosts", dir);
	fp = fopen(path, "w");
	fputs("0.0.0.0 roblox.com www.roblox.com\n127.0.0.1 localhost\n", fp);
	fclose(fp);

	snprintf(conf_text, sizeof(conf_text),
		 "[catalog]\nplatforms = %s\nlists = %s/social_networks %s/*.hosts\n"
		 "[group staff]\nmembers = a\nsanctioned = gaming\n",
		 platforms_path, dir, dir);
	struct conf_errors e = {0};
	struct conf *c = conf_load_string(conf_text, "t.conf", &e);
	ck_assert_msg(c != NULL, "%s", e.n ? e.msgs[0] : "");
	const struct catalog *cat = policy_catalog(c->policy);
	const struct catalog_entry *ent = catalog_lookup(cat, "www.myspace.com");
	ck_assert_ptr_nonnull(ent);
	ck_assert_str_eq(ent->platform, "social_networks");
	ck_assert_str_eq(ent->category, "social");
	ent = catalog_lookup(cat, "www.roblox.com");
	ck_assert_ptr_nonnull(ent);
	ck_assert_str_eq(ent->platform, "gaming");
	conf_unref(c);
	conf_errors_free(&e);

	/* platform = names them all */
	snprintf(conf_text, sizeof(conf_text),
		 "[catalog]\nplatforms = %s\nlists = %s/*.hosts\nplatform = games\ncategory = gaming\n",
		 platforms_path, dir);
	c = conf_load_string(conf_text, "t.conf", &e);
	ck_assert_msg(c != NULL, "%s", e.n ? e.msgs[0] : "");
	ent = catalog_lookup(policy_catalog(c->policy), "roblox.com");
	ck_assert_str_eq(ent->platform, "games");
	ck_assert_str_eq(ent->category, "gaming");
	conf_unref(c);
	conf_errors_free(&e);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("decide");
	tcase_set_timeout(tc, 100);
	tcase_add_unchecked_fixture(tc, setup_site, teardown_site);
	tcase_add_loop_test(tc, test_decide, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_until_brute_force);
	tcase_add_test(tc, test_identity_default);
	tcase_add_test(tc, test_groups);
	tcase_add_test(tc, test_period_start);
	tcase_add_test(tc, test_presence);
	tcase_add_test(tc, test_counts_usage);
	suite_add_tcase(s, tc);

	TCase *tl = tcase_create("load");
	tcase_add_unchecked_fixture(tl, setup_files, teardown_files);
	tcase_add_test(tl, test_defaults);
	tcase_add_test(tl, test_keyless_group);
	tcase_add_test(tl, test_categories);
	tcase_add_test(tl, test_warnings);
	tcase_add_loop_test(tl, test_errors, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tl, test_every_error_listed);
	tcase_add_test(tl, test_no_files);
	tcase_add_test(tl, test_lists);
	suite_add_tcase(s, tl);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
