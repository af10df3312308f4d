/*
 * web_pages: the pages of `breaktime web` — today at a glance, the
 * excessive-use report with its filters and downloads, a person's
 * timeline, and "students present" with its toggle.
 *
 * The reports are the CLI's: the same query.c functions fill a struct
 * rtable and render_html.c draws it (its body goes into the page, its
 * inline stylesheet is allowed by hash in web.c's CSP), render_csv.c
 * writes the CSV download. The store is opened read-only for every page;
 * the presence toggle opens it read-write for one row written through the
 * store's API (logger/storeq.h), the same row `breaktime presence` writes
 * (reports/presence.c), with the logged-in administrator as the one who
 * changed it.
 *
 * Runs on web.c's one loop thread. Everything shown is HTML-escaped.
 */
#include "web.h"

#include <event2/http.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "log.h"
#include "policy.h"
#include "report.h"
#include "storeq.h"
#include "tz.h"

#define NOW_MINUTES 5 /* "using it now": active in the last five minutes */

static sqlite3 *store_open(const struct conf *c, bool write)
{
	sqlite3 *db = NULL;
	struct stat sb;
	if (stat(c->store.database, &sb) != 0) {
		log_err("web: %s: the store does not exist (has breaktimed run?)", c->store.database);
		return NULL;
	}
	int flags = (write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(c->store.database, &db, flags, NULL) != SQLITE_OK) {
		log_err("web: %s: %s", c->store.database, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* memstream for a page */
struct page {
	char *buf;
	size_t len;
	FILE *out;
};

static int page_open(struct page *pg, struct evhttp_request *req)
{
	pg->buf = NULL;
	pg->len = 0;
	pg->out = open_memstream(&pg->buf, &pg->len);
	if (!pg->out) {
		web_error(req, 500, "Internal Server Error", "out of memory");
		return -1;
	}
	return 0;
}

static void page_send(struct page *pg, struct evhttp_request *req, const char *type)
{
	if (fclose(pg->out) != 0 || !pg->buf) {
		free(pg->buf);
		web_error(req, 500, "Internal Server Error", "out of memory");
		return;
	}
	web_send(req, 200, "OK", type ? type : "text/html; charset=utf-8", pg->buf, pg->len, true);
	free(pg->buf);
}

static void page_drop(struct page *pg)
{
	fclose(pg->out);
	free(pg->buf);
}

/* ---- presence, as breaktime presence shows it ---- */

struct presence_now {
	bool present;
	enum presence_source source;
	char last_state[8];          /* "" when never set by hand */
	char last_when[32];
	char last_cause[160];
	char until[32];              /* the override's end, "" when none */
};

static void presence_now(sqlite3 *db, const struct conf *c, struct presence_now *pn)
{
	struct store_presence sp;
	time_t now = time(NULL);
	const struct tz *tz = policy_tz(c->policy);

	memset(pn, 0, sizeof(*pn));
	store_presence_latest(db, now, &sp);   /* on an error: no change, nothing detected */
	struct presence_state ps = sp.ps;
	if (sp.state[0]) {
		snprintf(pn->last_state, sizeof(pn->last_state), "%.7s", sp.state);
		tz_local_text(tz, sp.changed_ms / 1000, true, pn->last_when, sizeof(pn->last_when));
		snprintf(pn->last_cause, sizeof(pn->last_cause), "%.159s", sp.cause);
	}
	pn->present = policy_students_present(c->policy, &ps, now, &pn->source);
	if (ps.override != PRESENCE_AUTO && ps.override_until > now)
		tz_local_text(tz, ps.override_until, true, pn->until, sizeof(pn->until));
}

static void presence_block(FILE *out, const struct presence_now *pn)
{
	static const char *const why[] = {
		[PRESENCE_FROM_NONE] = "no timetable window is open and no student traffic was seen",
		[PRESENCE_FROM_OVERRIDE] = "set by hand",
		[PRESENCE_FROM_TIMETABLE] = "the timetable",
		[PRESENCE_FROM_DETECTION] = "student traffic seen recently",
	};
	const char *cause = (size_t)pn->source < sizeof(why) / sizeof(why[0]) && why[pn->source] ?
			    why[pn->source] : presence_source_name(pn->source);
	fprintf(out, "<p class=\"msg\" id=\"presence\">Students present now: <strong>%s</strong> (",
		pn->present ? "yes" : "no");
	web_html(out, cause);
	fputs(")", out);
	if (pn->until[0]) {
		fputs(", until ", out);
		web_html(out, pn->until);
	}
	fputs(".", out);
	if (pn->last_state[0]) {
		fputs(" Last set by hand: <strong>", out);
		web_html(out, pn->last_state);
		fputs("</strong> at ", out);
		web_html(out, pn->last_when);
		fputs(" by ", out);
		web_html(out, pn->last_cause);
		fputs(".", out);
	}
	fputs("</p>\n", out);
}

/* ---- today ---- */

void web_page_today(struct evhttp_request *req, const struct conf *c, const struct web_session *s)
{
	unsigned nowsec;
	int64_t today = tz_local_day(policy_tz(c->policy), time(NULL), &nowsec);
	unsigned nowmin = nowsec / 60;
	char day[11];
	struct page pg;
	sqlite3 *db = store_open(c, false);
	sqlite3_stmt *st = NULL;

	if (!db) {
		web_error(req, 503, "Service Unavailable", "The store cannot be read: see the log.");
		return;
	}
	if (page_open(&pg, req) < 0) {
		sqlite3_close(db);
		return;
	}
	period_format(today, day, sizeof(day));
	FILE *out = pg.out;
	web_page_begin(out, "Today", s);
	fprintf(out, "<h1>Today at a glance, %s</h1>\n", day);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	struct presence_now pn;
	presence_now(db, c, &pn);
	presence_block(out, &pn);

	fprintf(out, "<h2>Using social media now (active in the last %d minutes)</h2>\n"
		     "<table id=\"now\">\n<thead><tr><th>Person</th><th>Group</th><th>Platform</th>"
		     "<th>Last active</th></tr></thead>\n<tbody>\n", NOW_MINUTES);
	size_t n = 0;
	if (sqlite3_prepare_v2(db, "SELECT user, MAX(grp), platform, MAX(minute) FROM usage_minutes "
				   "WHERE day = ?1 AND active = 1 AND minute BETWEEN ?2 AND ?3 "
				   "GROUP BY user, platform ORDER BY user, platform", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)nowmin - (NOW_MINUTES - 1));
		sqlite3_bind_int(st, 3, (int)nowmin);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int m = sqlite3_column_int(st, 3);
			fputs("<tr><td>", out);
			web_html(out, (const char *)sqlite3_column_text(st, 0));
			fputs("</td><td>", out);
			web_html(out, (const char *)sqlite3_column_text(st, 1));
			fputs("</td><td>", out);
			web_html(out, (const char *)sqlite3_column_text(st, 2));
			fprintf(out, "</td><td>%02d:%02d</td></tr>\n", m / 60, m % 60);
			n++;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!n)
		fputs("<tr><td colspan=\"4\">no one</td></tr>\n", out);
	fputs("</tbody></table>\n", out);

	fputs("<h2>Today's active minutes</h2>\n<table id=\"today\">\n<thead><tr><th>Person</th>"
	      "<th>Group</th><th>Personal minutes</th><th>Allowance</th><th>All minutes</th>"
	      "<th>Platforms</th></tr></thead>\n<tbody>\n", out);
	n = 0;
	if (sqlite3_prepare_v2(db, "SELECT user, MAX(grp), "
				   "COUNT(DISTINCT CASE WHEN active = 1 AND purpose = 'personal' THEN minute END), "
				   "COUNT(DISTINCT CASE WHEN active = 1 THEN minute END), "
				   "group_concat(DISTINCT CASE WHEN active = 1 THEN platform END) "
				   "FROM usage_minutes WHERE day = ?1 GROUP BY user "
				   "HAVING COUNT(DISTINCT CASE WHEN active = 1 THEN minute END) > 0 "
				   "ORDER BY 3 DESC, 4 DESC, user", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *user = (const char *)sqlite3_column_text(st, 0);
			const struct group *g = policy_group_of(c->policy, user);
			unsigned al = g ? policy_group_allowance(g) : POLICY_UNLIMITED;
			fputs("<tr><td><a href=\"/user?name=", out);
			web_url_value(out, user);
			fputs("\">", out);
			web_html(out, user);
			fputs("</a></td><td>", out);
			web_html(out, (const char *)sqlite3_column_text(st, 1));
			fprintf(out, "</td><td class=\"n\">%d</td><td class=\"n\">", sqlite3_column_int(st, 2));
			if (al == POLICY_UNLIMITED)
				fputs("-", out);
			else
				fprintf(out, "%u", al);
			fprintf(out, "</td><td class=\"n\">%d</td><td>", sqlite3_column_int(st, 3));
			web_html(out, (const char *)sqlite3_column_text(st, 4));
			fputs("</td></tr>\n", out);
			n++;
		}
	}
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	if (!n)
		fputs("<tr><td colspan=\"6\">no social media use recorded today</td></tr>\n", out);
	fputs("</tbody></table>\n<p>Personal minutes count against the allowance; organisational "
	      "use (comms) and teaching use do not. A minute counts when a request started in it or "
	      "traffic moved at least [store] active_bytes in it.</p>\n", out);
	web_page_end(out);
	page_send(&pg, req, NULL);
}

/* ---- reports ---- */

/* The period from the query (from, to), with the CLI's defaults and its
 * retention clamp (period_resolve). NULL, or what is wrong (in err). */
static const char *period_of(const struct conf *c, const struct web_form *q, bool one_day,
			     struct report_opts *o, bool *clamped, char *err, size_t errlen)
{
	int64_t today = tz_local_day(policy_tz(c->policy), time(NULL), NULL);
	if (period_resolve(c, today, web_form_get(q, "from"), web_form_get(q, "to"), one_day, 367,
			   o, clamped, "", err, errlen) != 0)
		return err;
	return NULL;
}

/* Fill t with query (and the charts when charts); 0, or -1 answered with an error. */
static int run_report(struct evhttp_request *req, const struct conf *c, struct report_opts *o,
		      int (*query)(sqlite3 *, const struct conf *, const struct report_opts *,
				   struct rtable *),
		      bool charts, bool clamped, struct rtable *t)
{
	if (o->pseudonymise && pseudonym_secret(c->store.database, o->secret) != 0) {
		web_error(req, 503, "Service Unavailable", "The site secret for pseudonyms cannot be read.");
		return -1;
	}
	sqlite3 *db = store_open(c, false);
	if (!db) {
		web_error(req, 503, "Service Unavailable", "The store cannot be read: see the log.");
		return -1;
	}
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	int rc = query(db, c, o, t);
	if (rc == 0 && charts)
		rc = query_charts(db, c, o, t);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	if (rc != 0) {
		web_error(req, 500, "Internal Server Error", "The report failed: see the log.");
		return -1;
	}
	if (clamped)
		rtable_note(t, "The period starts at %s: the store keeps %u days ([store] retention) "
			       "and nothing older is shown.", t->from, c->store.retention_days);
	return 0;
}

/* render_html's page, inside ours: its stylesheet (allowed by hash) and its body. */
static void embed_report(FILE *out, const struct rtable *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	render_html(t, m);
	fclose(m);
	const char *st = buf ? strstr(buf, "<style>") : NULL;
	const char *ste = st ? strstr(st, "</style>") : NULL;
	const char *b = buf ? strstr(buf, "<body>\n") : NULL;
	const char *be = b ? strstr(b, "</body>") : NULL;
	if (st && ste)
		fwrite(st, 1, (size_t)(ste + 8 - st), out);
	if (b && be) {
		b += 7;
		fputs("\n<div class=\"report\">\n", out);
		fwrite(b, 1, (size_t)(be - b), out);
		fputs("</div>\n", out);
	}
	free(buf);
}

static void date_input(FILE *out, const char *label, const char *name, const char *value)
{
	fprintf(out, "<label>%s <input type=\"date\" name=\"%s\" value=\"", label, name);
	web_html(out, value);
	fputs("\"></label>\n", out);
}

void web_page_excessive(struct evhttp_request *req, const struct conf *c,
			const struct web_session *s, const struct web_form *q, const char *format)
{
	struct report_opts o = {0};
	bool clamped;
	const char *group = web_form_get(q, "group");
	const char *names = web_form_get(q, "names");

	if (group && !*group)
		group = NULL;
	char perr[160];
	const char *err = period_of(c, q, false, &o, &clamped, perr, sizeof(perr));
	if (err) {
		web_error(req, 400, "Bad Request", err);
		return;
	}
	if (group && !policy_group_find(c->policy, group)) {
		web_error(req, 400, "Bad Request", "There is no such group.");
		return;
	}
	o.group = group;
	/* as the CLI: a group-level report shows pseudonyms unless names are asked for */
	o.pseudonymise = group && !(names && strcmp(names, "1") == 0);

	struct rtable t;
	rtable_init(&t, "excessive", "people over their allowance or using social media outside "
				     "allowed times");
	bool csv = format && strcmp(format, "csv") == 0;
	if (run_report(req, c, &o, query_excessive, !csv, clamped, &t) < 0) {
		rtable_finish(&t);
		return;
	}
	log_info("web: %s: excessive report %s .. %s%s%s%s%s", s->user, t.from, t.to,
		 group ? " group " : "", group ? group : "", format ? " as " : "", format ? format : "");
	struct page pg;
	if (page_open(&pg, req) < 0) {
		rtable_finish(&t);
		return;
	}
	if (format) {
		char disp[96];
		if ((csv ? render_csv(&t, pg.out) : render_html(&t, pg.out)) != 0) {
			page_drop(&pg);
			rtable_finish(&t);
			web_error(req, 500, "Internal Server Error", "The report could not be written.");
			return;
		}
		snprintf(disp, sizeof(disp), "attachment; filename=\"breaktime-excessive-%.10s-%.10s.%s\"",
			 t.from, t.to, csv ? "csv" : "html");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Disposition", disp);
		rtable_finish(&t);
		page_send(&pg, req, csv ? "text/csv; charset=utf-8" : "text/html; charset=utf-8");
		return;
	}

	FILE *out = pg.out;
	web_page_begin(out, "Excessive use", s);
	fputs("<h1>Excessive use</h1>\n<form class=\"filters\" method=\"get\" action=\"/excessive\">\n", out);
	date_input(out, "From", "from", t.from);
	date_input(out, "To", "to", t.to);
	fputs("<label>Group <select name=\"group\"><option value=\"\">all groups</option>", out);
	for (size_t i = 0; i < policy_n_groups(c->policy); i++) {
		const char *gn = policy_group_name(policy_group_at(c->policy, i));
		fputs("<option value=\"", out);
		web_html(out, gn);
		fputs(group && strcmp(group, gn) == 0 ? "\" selected>" : "\">", out);
		web_html(out, gn);
		fputs("</option>", out);
	}
	fprintf(out, "</select></label>\n<label>Names <span><input type=\"checkbox\" name=\"names\" "
		     "value=\"1\"%s> real names in a group report</span></label>\n"
		     "<button type=\"submit\">Show</button>\n</form>\n<p class=\"downloads\">Download: ",
		names && strcmp(names, "1") == 0 ? " checked" : "");
	for (int k = 0; k < 2; k++) {
		fprintf(out, "<a href=\"/excessive.%s?from=%s&amp;to=%s", k ? "html" : "csv", t.from, t.to);
		if (group) {
			fputs("&amp;group=", out);
			web_url_value(out, group);
		}
		if (names && strcmp(names, "1") == 0)
			fputs("&amp;names=1", out);
		fprintf(out, "\" download>%s</a>", k ? "HTML (A4)" : "CSV");
	}
	fputs("</p>\n", out);
	embed_report(out, &t);
	rtable_finish(&t);
	web_page_end(out);
	page_send(&pg, req, NULL);
}

void web_page_user(struct evhttp_request *req, const struct conf *c, const struct web_session *s,
		   const struct web_form *q)
{
	struct report_opts o = {0};
	bool clamped;
	const char *name = web_form_get(q, "name");

	if (name && !*name)
		name = NULL;
	char perr[160];
	const char *err = period_of(c, q, true, &o, &clamped, perr, sizeof(perr));
	if (err) {
		web_error(req, 400, "Bad Request", err);
		return;
	}
	if (name && strlen(name) >= 64) {
		web_error(req, 400, "Bad Request", "That name is too long.");
		return;
	}
	struct rtable t;
	rtable_init(&t, "user", "one person's sessions of activity per platform");
	if (name) {
		o.user = name;
		if (run_report(req, c, &o, query_user, true, clamped, &t) < 0) {
			rtable_finish(&t);
			return;
		}
		char shown[64];
		web_log_name(name, shown, sizeof(shown));
		log_info("web: %s: timeline of %s %s .. %s", s->user, shown, t.from, t.to);
	} else {
		period_format(o.from, t.from, sizeof(t.from));
		period_format(o.to, t.to, sizeof(t.to));
	}
	struct page pg;
	if (page_open(&pg, req) < 0) {
		rtable_finish(&t);
		return;
	}
	FILE *out = pg.out;
	web_page_begin(out, "Timeline", s);
	fputs("<h1>A person's timeline</h1>\n<form class=\"filters\" method=\"get\" action=\"/user\">\n"
	      "<label>Person <input name=\"name\" required value=\"", out);
	web_html(out, name);
	fputs("\"></label>\n", out);
	date_input(out, "From", "from", t.from);
	date_input(out, "To", "to", t.to);
	fputs("<button type=\"submit\">Show</button>\n</form>\n", out);
	if (name)
		embed_report(out, &t);
	else
		fputs("<p>Give a person's user name (as in the reports) and a day or a week.</p>\n", out);
	rtable_finish(&t);
	web_page_end(out);
	page_send(&pg, req, NULL);
}

/* ---- students present ---- */

void web_page_presence(struct evhttp_request *req, const struct conf *c,
		       const struct web_session *s, const char *message)
{
	sqlite3 *db = store_open(c, false);
	struct page pg;
	if (!db) {
		web_error(req, 503, "Service Unavailable", "The store cannot be read: see the log.");
		return;
	}
	if (page_open(&pg, req) < 0) {
		sqlite3_close(db);
		return;
	}
	FILE *out = pg.out;
	struct presence_now pn;
	web_page_begin(out, "Students present", s);
	fputs("<h1>Students present</h1>\n", out);
	if (message) {
		fputs("<p class=\"msg\">", out);
		web_html(out, message);
		fputs("</p>\n", out);
	}
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	presence_now(db, c, &pn);
	presence_block(out, &pn);
	fputs("<form class=\"filters\" method=\"post\" action=\"/presence\">\n", out);
	web_csrf_field(out, s);
	fputs("\n<label>Set <select name=\"state\"><option value=\"on\">on: students are present</option>"
	      "<option value=\"off\">off: no students present</option>"
	      "<option value=\"auto\">automatic: the timetable and detection decide</option>"
	      "</select></label>\n<label>Until (HH:MM, optional) <input name=\"until\" "
	      "pattern=\"[0-2][0-9]:[0-5][0-9]\" placeholder=\"12:30\"></label>\n"
	      "<button type=\"submit\">Set</button>\n</form>\n<p>breaktimed applies a change within a "
	      "few seconds; each change is recorded with who made it.</p>\n"
	      "<h2>Recent changes</h2>\n<table id=\"changes\">\n<thead><tr><th>When</th><th>State</th>"
	      "<th>Until</th><th>Cause</th><th>Source</th></tr></thead>\n<tbody>\n", out);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT ts_ms, state, COALESCE(expires_ms, 0), COALESCE(cause, ''), "
				   "source FROM presence ORDER BY ts_ms DESC, id DESC LIMIT 20", -1, &st,
			       NULL) == SQLITE_OK) {
		const struct tz *tz = policy_tz(c->policy);
		while (sqlite3_step(st) == SQLITE_ROW) {
			char when[32], until[32] = "-";
			tz_local_text(tz, sqlite3_column_int64(st, 0) / 1000, true, when, sizeof(when));
			if (sqlite3_column_int64(st, 2))
				tz_local_text(tz, sqlite3_column_int64(st, 2) / 1000, true, until, sizeof(until));
			fprintf(out, "<tr><td>%s</td><td>", when);
			web_html(out, (const char *)sqlite3_column_text(st, 1));
			fprintf(out, "</td><td>%s</td><td>", until);
			web_html(out, (const char *)sqlite3_column_text(st, 3));
			fputs("</td><td>", out);
			web_html(out, (const char *)sqlite3_column_text(st, 4));
			fputs("</td></tr>\n", out);
		}
	}
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	fputs("</tbody></table>\n", out);
	web_page_end(out);
	page_send(&pg, req, NULL);
}

void web_post_presence(struct evhttp_request *req, const struct conf *c,
		       const struct web_session *s, const struct web_form *f)
{
	const char *state = web_form_get(f, "state"), *until_s = web_form_get(f, "until");
	time_t now = time(NULL);
	int64_t until = 0;

	if (until_s && !*until_s)
		until_s = NULL;
	if (!state || (strcmp(state, "on") && strcmp(state, "off") && strcmp(state, "auto"))) {
		web_error(req, 400, "Bad Request", "The state is on, off or auto.");
		return;
	}
	if (until_s && strcmp(state, "auto") == 0) {
		web_error(req, 400, "Bad Request", "`Until` goes with on or off.");
		return;
	}
	if (until_s && !(until = presence_parse_until(c->policy, until_s, now))) {
		web_error(req, 400, "Bad Request", "`Until` is not a time HH:MM.");
		return;
	}
	sqlite3 *db = store_open(c, true);
	if (!db) {
		web_error(req, 503, "Service Unavailable", "The store cannot be written: see the log.");
		return;
	}
	char cause[160];
	snprintf(cause, sizeof(cause), "%.63s (breaktime web)", s->user);
	int rc = store_presence_add(db, c->policy, state, until, cause, "web");
	if (rc != SQLITE_OK) {
		log_err("web: %s: cannot record the presence change: %s", c->store.database,
			sqlite3_errmsg(db));
		sqlite3_close(db);
		web_error(req, 503, "Service Unavailable", "The change could not be recorded: see the log.");
		return;
	}
	sqlite3_close(db);
	log_notice("web: %s set students present to %s%s%s", s->user, state, until ? " until " : "",
		   until ? until_s : "");
	web_redirect(req, "/presence");
}
