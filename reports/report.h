/*
 * report.h: the module map of the breaktime command (reports/), and what
 * `breaktime report` shares.
 *
 *   cli.c          main() and the subcommands; check, classify and explain
 *                  themselves (cli.h: what the command's files share)
 *   presence.c     `breaktime presence`;  presence_store.c  its --until,
 *                  also read by the web UI's toggle
 *   web*.c         `breaktime web`: its own map is in web.h
 *   report.c       `breaktime report`: options, the period, opening the store
 *                  read-only, choosing the report and the renderer, writing
 *                  the output (a file it creates is mode 0600)
 *   period.c       dates as days since 1970-01-01: parse, format, the
 *                  previous period of the same length
 *   pseudonym.c    stable pseudonyms: HMAC-SHA256 keyed by the site secret
 *   table.c        struct rtable: what every report produces and every
 *                  renderer reads (columns, rows, period, filters, notes)
 *   query.c        the reports: SQL over the store -> struct rtable
 *   render_text.c  aligned columns;  render_csv.c  RFC 4180;
 *   render_json.c  stable field names (doc/breaktime.1)
 *   render_html.c  one self-contained page for a browser or A4 paper,
 *   svg.c          with inline SVG charts
 *
 * A report never writes to the store, with one exception: the site secret
 * for pseudonyms is created in `meta` on first use (pseudonym.c). A change
 * of "students present" by hand (`breaktime presence`, the web UI) is no
 * report: it is written, and the state in force read, through the store's
 * own API (logger/storeq.h).
 * Nothing here is used by breaktimed; single-threaded.
 */
#ifndef BREAKTIME_REPORT_H
#define BREAKTIME_REPORT_H

#include <stdbool.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct conf;
struct policy;
struct report_opts;
struct sqlite3;

/* ---- period.c ---- */

/* "YYYY-MM-DD" -> days since 1970-01-01; -1 if not a valid date. */
int period_parse(const char *s, int64_t *days);
/* The same, or "today", "yesterday", "today-N" (N days before today, N up
 * to 3660), relative to today (days since 1970-01-01): for timers. */
int period_parse_relative(const char *s, int64_t today, int64_t *days);
/* days -> "YYYY-MM-DD" (buf of 11 or more bytes) */
void period_format(int64_t days, char *buf, size_t len);
/* The period of the same length just before [from, to]. */
void period_previous(int64_t from, int64_t to, int64_t *pfrom, int64_t *pto);

/*
 * The period of a report from --from/--to (or the web UI's from/to: NULL or
 * "" when not given; YYYY-MM-DD, today, yesterday, today-N), the defaults
 * (the seven days up to today; one_day: just the day) and the retention
 * clamp: o->from, o->to and o->kept_from are set, *clamped when the start
 * moved. 0; -1 (err: a usage error); -2 (err: the period ends before what
 * the store keeps). max_days: a longer period is refused (0: no limit).
 * opt: how the messages name the fields ("--" for the CLI's options).
 */
int period_resolve(const struct conf *c, int64_t today, const char *from, const char *to,
		   bool one_day, unsigned max_days, struct report_opts *o, bool *clamped,
		   const char *opt, char *err, size_t errlen);

/* ---- presence_store.c ---- */

/* HH:MM today in the site's zone, or tomorrow when that has passed: the
 * Unix time; 0 when it is not a time HH:MM. */
int64_t presence_parse_until(const struct policy *p, const char *s, time_t now);

/* ---- pseudonym.c ---- */

#define PSEUDONYM_LEN 13 /* "p-" + 10 hex digits + NUL */
/* HMAC-SHA256(secret, name), first 40 bits in hex, as "p-0123456789". */
void pseudonym_of(const unsigned char *secret, size_t secret_len, const char *name,
		  char out[PSEUDONYM_LEN]);
/*
 * The site secret: meta key `pseudonym_secret` (64 hex digits) in the store
 * at `database`, created there from /dev/urandom when missing. Writes
 * 32 bytes to out. -1 with a message on stderr when it can be neither read
 * nor created.
 */
int pseudonym_secret(const char *database, unsigned char out[32]);

/* ---- table.c ---- */

enum rcol_type { RCOL_TEXT, RCOL_INT, RCOL_REAL };

#define RTABLE_MAX_COLS 16
#define RTABLE_MAX_SERIES 12 /* people charted in an HTML report, by severity */

struct rtable {
	const char *kind;          /* "excessive", ... (static) */
	const char *title;         /* static */
	char from[11], to[11];     /* the period, inclusive, site-local dates */
	const char *group, *user;  /* the filters (borrowed), NULL: none */
	char *method;              /* how active minutes are estimated */
	bool pseudonymised;
	struct {
		const char *name;  /* static: the CSV header and the JSON field */
		enum rcol_type type;
	} cols[RTABLE_MAX_COLS];
	size_t ncols;
	char **cells;              /* nrows * ncols, row-major; NULL: empty */
	size_t ncells, cap;
	char **notes;              /* lines printed under the table (definitions) */
	size_t nnotes;
	/* charts (HTML only; filled by query_charts()): */
	struct rseries {
		char *user;        /* whose minutes (not shown: may be a real name) */
		char *label;       /* shown: the name or its pseudonym, or "everyone" */
		unsigned allowance;/* minutes a day, 0: none */
		long *values;      /* personal active minutes per day, ndays */
	} series[RTABLE_MAX_SERIES];
	size_t nseries;
	int64_t first_day;         /* days since 1970 of values[0] */
	size_t ndays;
	long heat[7][24];          /* personal active minutes by weekday (Mon = 0) and hour */
	bool has_charts;
};

void rtable_init(struct rtable *t, const char *kind, const char *title);
void rtable_finish(struct rtable *t);
void rtable_col(struct rtable *t, const char *name, enum rcol_type type);
/* Append one cell; rows fill left to right. NULL: an empty cell. */
void rtable_add(struct rtable *t, const char *v);
void rtable_addf(struct rtable *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rtable_note(struct rtable *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline size_t rtable_nrows(const struct rtable *t)
{
	return t->ncols ? t->ncells / t->ncols : 0;
}
static inline const char *rtable_cell(const struct rtable *t, size_t row, size_t col)
{
	return t->cells[row * t->ncols + col];
}

/* ---- renderers: 0, or -1 on a write error ---- */

int render_text(const struct rtable *t, FILE *out);
int render_csv(const struct rtable *t, FILE *out);
int render_json(const struct rtable *t, FILE *out);
/* One self-contained HTML page (render_html.c), charts by svg.c. */
int render_html(const struct rtable *t, FILE *out);
/* HTML text with &<>"' escaped. */
void render_html_text(const char *v, FILE *out);

/* ---- svg.c: inline SVG charts (no scripts, no external assets) ---- */

/* Bars of minutes per day from first_day, with the allowance as a line (0: none). */
void svg_days(FILE *out, const long *values, size_t ndays, int64_t first_day,
	      unsigned allowance);
/* Hour-by-weekday heatmap of minutes. */
void svg_heatmap(FILE *out, const long heat[7][24]);
/* One CSV field, quoted when it must be (RFC 4180). */
void render_csv_field(const char *v, FILE *out);
/* Would a spreadsheet read this cell as a formula? (render_csv.c) */
bool render_csv_is_formula(const char *v);
/* One JSON string, with quotes. */
void render_json_string(const char *v, FILE *out);

/* ---- query.c ---- */

struct report_opts {
	int64_t from, to;          /* days, inclusive */
	int64_t kept_from;         /* the first day retention keeps (0: all) */
	const char *group;         /* NULL: all */
	const char *user;          /* NULL: all */
	bool by_group;             /* usage: per group instead of per person */
	bool pseudonymise;
	unsigned char secret[32];  /* when pseudonymise */
};

/* Each fills t (already rtable_init()ed); 0, or -1 with a message on stderr. */
int query_excessive(struct sqlite3 *db, const struct conf *c, const struct report_opts *o,
		    struct rtable *t);
int query_usage(struct sqlite3 *db, const struct conf *c, const struct report_opts *o,
		struct rtable *t);
int query_breaches(struct sqlite3 *db, const struct conf *c, const struct report_opts *o,
		   struct rtable *t);
int query_platforms(struct sqlite3 *db, const struct conf *c, const struct report_opts *o,
		    struct rtable *t);
int query_user(struct sqlite3 *db, const struct conf *c, const struct report_opts *o,
	       struct rtable *t);
int query_presence(struct sqlite3 *db, const struct conf *c, const struct report_opts *o,
		   struct rtable *t);
/*
 * The charts of an HTML report: personal active minutes per day for each
 * person already in t->series (query_excessive() puts the most severe
 * there), or for everyone in the filters when it is empty; and the
 * hour-by-weekday heatmap. 0, or -1 with a message.
 */
int query_charts(struct sqlite3 *db, const struct conf *c, const struct report_opts *o,
		 struct rtable *t);

#endif
