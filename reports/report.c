/*
 * report: `breaktime report KIND [--from DATE] [--to DATE] [--group G]
 * [--user U] [--by user|group] [--format text|csv|json|html] [-o FILE]
 * [--pseudonymise | --names]`.
 *
 * Reads the store read-only (WAL: never blocks breaktimed), builds one
 * struct rtable with query.c and writes it with one renderer. Reports
 * about people are for admins: a file it creates is mode 0600, and an
 * existing one is made so before anything is written.
 *
 * Exit status: 0 done, 1 the store or the output failed, 2 bad usage.
 */
#include "cli.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "policy.h"
#include "tz.h"

static const struct {
	const char *name;
	const char *title;
	int (*query)(sqlite3 *, const struct conf *, const struct report_opts *, struct rtable *);
} kinds[] = {
	{"excessive", "people over their allowance or using social media outside allowed times",
	 query_excessive},
	{"usage", "active minutes, requests and bytes per day and platform", query_usage},
	{"breaches", "blocked attempts while students were present or outside allowed times; "
		     "DNS-over-HTTPS and VPN connections the sensor saw",
	 query_breaches},
	{"platforms", "minutes per platform per day", query_platforms},
	{"user", "one person's sessions of activity per platform", query_user},
	{"presence", "the history of \"students present\" with its causes", query_presence},
};

static const struct {
	const char *name;
	int (*render)(const struct rtable *, FILE *);
} formats[] = {
	{"text", render_text},
	{"csv", render_csv},
	{"json", render_json},
	{"html", render_html},
};

static int report_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int report_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "breaktime: report: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see breaktime --help)\n");
	return 2;
}

/* Create (or truncate) FILE as 0600 for the report. NULL with a message. */
static FILE *open_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "breaktime: report: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	/* an existing file keeps its mode through O_TRUNC: make it private too */
	if (fchmod(fd, 0600) != 0) {
		fprintf(stderr, "breaktime: report: %s: chmod 0600: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	FILE *fp = fdopen(fd, "w");
	if (!fp)
		close(fd);
	return fp;
}

static sqlite3 *open_store(const char *path)
{
	sqlite3 *db = NULL;
	struct stat sb;
	if (stat(path, &sb) != 0) {
		fprintf(stderr, "breaktime: report: %s: %s (has breaktimed run with this "
				"configuration?)\n", path, strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "breaktime: report: %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (v < 2) {
		fprintf(stderr, "breaktime: report: %s: not a breaktime store of schema version 2 "
				"or later (version %d)\n", path, v);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

int cmd_report(const char *path, int argc, char **argv)
{
	const char *kind = NULL, *format = "text", *output = NULL, *from = NULL, *to = NULL;
	struct report_opts o = {0};
	int pseudo = -1; /* -1: the default */
	size_t k, f;

	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		const char **val = NULL;
		if (s[0] != '-') {
			if (kind)
				return report_usage("unexpected `%s`", s);
			kind = s;
			continue;
		}
		if (strcmp(s, "--pseudonymise") == 0 || strcmp(s, "--pseudonymize") == 0) {
			pseudo = 1;
			continue;
		}
		if (strcmp(s, "--names") == 0) {
			pseudo = 0;
			continue;
		}
		const char *by = NULL;
		if (strcmp(s, "--from") == 0)
			val = &from;
		else if (strcmp(s, "--to") == 0)
			val = &to;
		else if (strcmp(s, "--group") == 0)
			val = &o.group;
		else if (strcmp(s, "--user") == 0)
			val = &o.user;
		else if (strcmp(s, "--format") == 0)
			val = &format;
		else if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0)
			val = &output;
		else if (strcmp(s, "--by") == 0)
			val = &by;
		else
			return report_usage("unknown option `%s`", s);
		if (i + 1 >= argc)
			return report_usage("%s needs a value", s);
		*val = argv[++i];
		if (by) {
			if (strcmp(by, "group") == 0)
				o.by_group = true;
			else if (strcmp(by, "user") != 0)
				return report_usage("--by is user or group, not `%s`", by);
		}
	}
	if (!kind)
		return report_usage("%s", "give a report: excessive, usage, breaches, platforms, "
					  "user or presence");
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(kinds[k].name, kind) == 0)
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return report_usage("unknown report `%s` (excessive, usage, breaches, platforms, "
				    "user, presence)", kind);
	for (f = 0; f < sizeof(formats) / sizeof(formats[0]); f++)
		if (strcmp(formats[f].name, format) == 0)
			break;
	if (f == sizeof(formats) / sizeof(formats[0]))
		return report_usage("unknown format `%s` (text, csv, json, html)", format);
	/* checked here, computed against the site's today below */
	if (from && period_parse_relative(from, 0, &o.from) != 0)
		return report_usage("--from: `%s` is not a date (YYYY-MM-DD, today, yesterday, "
				    "today-N)", from);
	if (to && period_parse_relative(to, 0, &o.to) != 0)
		return report_usage("--to: `%s` is not a date (YYYY-MM-DD, today, yesterday, "
				    "today-N)", to);
	if (strcmp(kind, "user") == 0 && !o.user)
		return report_usage("%s", "user: give --user NAME");
	if (o.by_group && o.user)
		return report_usage("%s", "--by group and --user exclude each other");

	struct conf *c = cli_load(path);
	if (!c)
		return 1;
	/* the period: by default the last 7 days up to today (user: today);
	 * nothing older than retention is shown (the store purges it) */
	int64_t today = tz_local_day(policy_tz(c->policy), time(NULL), NULL);
	bool clamped = false;
	char perr[160];
	int prc = period_resolve(c, today, from, to, strcmp(kind, "user") == 0, 0, &o, &clamped,
				 "--", perr, sizeof(perr));
	if (prc != 0) {
		conf_unref(c);
		if (prc == -1)
			return report_usage("%s", perr);
		fprintf(stderr, "breaktime: report: %s\n", perr);
		return 1;
	}
	/* group-level reports (a group, nobody named) show pseudonyms unless --names */
	o.pseudonymise = pseudo == 1 || (pseudo == -1 && o.group && !o.user);

	int ret = 1;
	sqlite3 *db = NULL;
	FILE *out = NULL;
	struct rtable t;
	rtable_init(&t, kinds[k].name, kinds[k].title);
	if (o.pseudonymise && pseudonym_secret(c->store.database, o.secret) != 0)
		goto out;
	db = open_store(c->store.database);
	if (!db)
		goto out;
	/* in one read transaction: every query sees the same store */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	int qrc = kinds[k].query(db, c, &o, &t);
	if (qrc == 0 && formats[f].render == render_html)
		qrc = query_charts(db, c, &o, &t);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (qrc != 0)
		goto out;
	/* the filter names the person too */
	char pn[PSEUDONYM_LEN];
	if (o.pseudonymise && o.user) {
		pseudonym_of(o.secret, sizeof(o.secret), o.user, pn);
		t.user = pn;
	}
	if (clamped)
		rtable_note(&t, "The period starts at %s: the store keeps %u days ([store] retention) "
				"and nothing older is shown.", t.from, c->store.retention_days);
	out = output ? open_output(output) : stdout;
	if (!out)
		goto out;
	if (formats[f].render(&t, out) != 0 || fflush(out) != 0) {
		fprintf(stderr, "breaktime: report: %s: write error\n", output ? output : "stdout");
		goto out;
	}
	ret = 0;
out:
	if (out && out != stdout && fclose(out) != 0 && ret == 0) {
		fprintf(stderr, "breaktime: report: %s: write error\n", output);
		ret = 1;
	}
	rtable_finish(&t);
	sqlite3_close(db);
	conf_unref(c);
	return ret;
}
