/*
 * Unit tests: the pure helpers of `breaktime report` — period arithmetic
 * (parsing, leap years, the previous period), pseudonyms (HMAC-SHA256,
 * RFC 4231 vector, stable and distinct), CSV fields (RFC 4180 quoting),
 * JSON strings, and the text / CSV / JSON renderers on a small table.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "report.h"

/* what a renderer writes, as a string (caller frees) */
static char *render(int (*fn)(const struct rtable *, FILE *), const struct rtable *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fn(t, fp), 0);
	fclose(fp);
	return buf;
}

static char *csv_field(const char *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	render_csv_field(v, fp);
	fclose(fp);
	return buf;
}

START_TEST(test_period_relative)
{
	int64_t today, d = -1;
	ck_assert_int_eq(period_parse("2026-11-25", &today), 0);
	ck_assert_int_eq(period_parse_relative("today", today, &d), 0);
	ck_assert(d == today);
	ck_assert_int_eq(period_parse_relative("yesterday", today, &d), 0);
	ck_assert(d == today - 1);
	ck_assert_int_eq(period_parse_relative("today-7", today, &d), 0);
	ck_assert(d == today - 7);
	ck_assert_int_eq(period_parse_relative("today-0", today, &d), 0);
	ck_assert(d == today);
	ck_assert_int_eq(period_parse_relative("2026-11-02", today, &d), 0);
	char buf[11];
	period_format(d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-02");
	d = -1;
	ck_assert_int_eq(period_parse_relative("today-", today, &d), -1);
	ck_assert_int_eq(period_parse_relative("today-x", today, &d), -1);
	ck_assert_int_eq(period_parse_relative("today-7x", today, &d), -1);
	ck_assert_int_eq(period_parse_relative("today-3661", today, &d), -1);
	ck_assert_int_eq(period_parse_relative("today+1", today, &d), -1);
	ck_assert_int_eq(period_parse_relative("Today", today, &d), -1);
	ck_assert_int_eq(period_parse_relative(NULL, today, &d), -1);
	ck_assert(d == -1);
}
END_TEST

START_TEST(test_period_resolve)
{
	struct conf c;
	memset(&c, 0, sizeof(c));
	int64_t today;
	ck_assert_int_eq(period_parse("2026-11-25", &today), 0);
	struct report_opts o;
	bool clamped = true;
	char err[160];

	/* defaults: the seven days up to today; one_day: today */
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(period_resolve(&c, today, NULL, "", false, 0, &o, &clamped, "--", err,
					sizeof(err)), 0);
	ck_assert(o.from == today - 6 && o.to == today && !clamped && o.kept_from == 0);
	ck_assert_int_eq(period_resolve(&c, today, "2026-11-02", NULL, true, 0, &o, &clamped, "--",
					err, sizeof(err)), 0);
	ck_assert(o.from == o.to && o.from == today - 23);
	ck_assert_int_eq(period_resolve(&c, today, "today-7", "yesterday", false, 0, &o, &clamped,
					"--", err, sizeof(err)), 0);
	ck_assert(o.from == today - 7 && o.to == today - 1);

	/* usage errors name the option as the caller does */
	ck_assert_int_eq(period_resolve(&c, today, "2026-11-09", "2026-11-02", false, 0, &o,
					&clamped, "--", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "--from is after --to");
	ck_assert_int_eq(period_resolve(&c, today, "soon", NULL, false, 0, &o, &clamped, "", err,
					sizeof(err)), -1);
	ck_assert(strncmp(err, "from: `soon` is not a date", 26) == 0);
	ck_assert_int_eq(period_resolve(&c, today, "2025-01-01", "2026-11-25", false, 367, &o,
					&clamped, "", err, sizeof(err)), -1);

	/* retention: the start moves to the first day kept; a period before it is refused */
	c.store.retention_days = 30;
	ck_assert_int_eq(period_resolve(&c, today, "2026-10-01", NULL, false, 0, &o, &clamped, "--",
					err, sizeof(err)), 0);
	ck_assert(clamped && o.from == today - 30 && o.kept_from == today - 30 && o.to == today);
	ck_assert_int_eq(period_resolve(&c, today, "2026-09-01", "2026-09-30", false, 0, &o,
					&clamped, "--", err, sizeof(err)), -2);
	ck_assert_str_eq(err, "the period ends before 2026-10-26: the store keeps 30 days "
			      "([store] retention)");
}
END_TEST

START_TEST(test_period_parse)
{
	static const struct {
		const char *s;
		int rc;
		const char *back;
	} cases[] = {
		{"1970-01-01", 0, "1970-01-01"},
		{"2026-11-02", 0, "2026-11-02"},
		{"2024-02-29", 0, "2024-02-29"}, /* leap year */
		{"2026-02-29", -1, NULL},        /* not one */
		{"2100-02-29", -1, NULL},        /* centuries are not */
		{"2000-02-29", 0, "2000-02-29"}, /* unless by 400 */
		{"2026-13-01", -1, NULL},
		{"2026-04-31", -1, NULL},
		{"2026-4-1", -1, NULL},
		{"2026-11-02x", -1, NULL},
		{"", -1, NULL},
		{"1969-12-31", -1, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t d = -7;
		int rc = period_parse(cases[i].s, &d);
		ck_assert_msg(rc == cases[i].rc, "%s: %d", cases[i].s, rc);
		if (rc == 0) {
			char buf[11];
			period_format(d, buf, sizeof(buf));
			ck_assert_str_eq(buf, cases[i].back);
		}
	}
	int64_t d;
	ck_assert_int_eq(period_parse("1970-01-02", &d), 0);
	ck_assert_int_eq(d, 1);
	ck_assert_int_eq(period_parse(NULL, &d), -1);
}
END_TEST

/* presence --until HH:MM: the next such minute (UTC without a policy) */
START_TEST(test_presence_parse_until)
{
	const time_t now = 1774864800; /* 2026-03-30 10:00:00 UTC */
	static const struct {
		const char *s;
		int64_t until;
	} cases[] = {
		{"10:30", 1774866600},
		{"9:00", 1774947600},          /* tomorrow */
		{"09:00", 1774947600},
		{"10:00", 1774951200},         /* now is not after now: tomorrow */
		{"24:00", 0},
		{"10:60", 0},
		{"10:30x", 0},
		{"", 0},
		{"4294967296:00", 0},          /* %u wrapped this to 00:00 */
		{"10:4294967326", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(presence_parse_until(NULL, cases[i].s, now) == cases[i].until,
			      "%s", cases[i].s);
}
END_TEST

START_TEST(test_period_previous)
{
	int64_t f, t, pf, pt;
	char a[11], b[11];
	/* a week: the week before */
	period_parse("2026-11-02", &f);
	period_parse("2026-11-08", &t);
	period_previous(f, t, &pf, &pt);
	period_format(pf, a, sizeof(a));
	period_format(pt, b, sizeof(b));
	ck_assert_str_eq(a, "2026-10-26");
	ck_assert_str_eq(b, "2026-11-01");
	/* one day: the day before, across a month and a leap day */
	period_parse("2024-03-01", &f);
	period_previous(f, f, &pf, &pt);
	period_format(pf, a, sizeof(a));
	ck_assert_str_eq(a, "2024-02-29");
	ck_assert_int_eq(pf, pt);
	/* March (31 days) -> the 31 days before: Jan 30 .. Feb 29 2024 */
	period_parse("2024-03-01", &f);
	period_parse("2024-03-31", &t);
	period_previous(f, t, &pf, &pt);
	period_format(pf, a, sizeof(a));
	period_format(pt, b, sizeof(b));
	ck_assert_str_eq(a, "2024-01-30");
	ck_assert_str_eq(b, "2024-02-29");
	/* across the new year */
	period_parse("2027-01-01", &f);
	period_parse("2027-01-14", &t);
	period_previous(f, t, &pf, &pt);
	period_format(pf, a, sizeof(a));
	ck_assert_str_eq(a, "2026-12-18");
}
END_TEST

START_TEST(test_pseudonym)
{
	char p[PSEUDONYM_LEN], q[PSEUDONYM_LEN];
	/* RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?") = 5bdcc146bf... */
	pseudonym_of((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", p);
	ck_assert_str_eq(p, "p-5bdcc146bf");
	unsigned char k1[32] = {1}, k2[32] = {2};
	pseudonym_of(k1, sizeof(k1), "alice", p);
	pseudonym_of(k1, sizeof(k1), "alice", q);
	ck_assert_str_eq(p, q); /* stable */
	ck_assert_int_eq(strlen(p), PSEUDONYM_LEN - 1);
	pseudonym_of(k1, sizeof(k1), "bob", q);
	ck_assert_str_ne(p, q); /* distinct people */
	pseudonym_of(k2, sizeof(k2), "alice", q);
	ck_assert_str_ne(p, q); /* another site, another pseudonym */
	ck_assert(strstr(p, "alice") == NULL);
}
END_TEST

START_TEST(test_csv_field)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"plain", "plain"},
		{"", ""},
		{"a,b", "\"a,b\""},
		{"say \"hi\"", "\"say \"\"hi\"\"\""},
		{"two\nlines", "\"two\nlines\""},
		{"cr\r", "\"cr\r\""},
		{"\"", "\"\"\"\""},
		{"semi;colon tab\t", "semi;colon tab\t"},
		/* formulas are defused, numbers are not */
		{"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
		{"=1+1", "\"'=1+1\""},
		{"+cmd", "\"'+cmd\""},
		{"-2+3", "\"'-2+3\""},
		{"@SUM(A1)", "\"'@SUM(A1)\""},
		{"\tx", "\"'\tx\""},
		{"\rx", "\"'\rx\""},
		{"-12", "-12"},
		{"+3", "+3"},
		{"-0.5", "-0.5"},
		{"-", "-"},
		{"--", "\"'--\""},
		{"a=b", "a=b"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = csv_field(cases[i].in);
		ck_assert_str_eq(s, cases[i].out);
		free(s);
	}
	char *s = csv_field(NULL);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

static void small_table(struct rtable *t)
{
	rtable_init(t, "usage", "a test");
	snprintf(t->from, sizeof(t->from), "2026-11-02");
	snprintf(t->to, sizeof(t->to), "2026-11-08");
	t->group = "staff";
	rtable_col(t, "user", RCOL_TEXT);
	rtable_col(t, "minutes", RCOL_INT);
	rtable_col(t, "note", RCOL_TEXT);
	rtable_add(t, "alice");
	rtable_addf(t, "%d", 40);
	rtable_add(t, "a \"quoted\", comma");
	rtable_add(t, "bob");
	rtable_addf(t, "%d", 5);
	rtable_add(t, NULL);
	rtable_note(t, "defined as %s", "x");
}

START_TEST(test_render_csv)
{
	struct rtable t;
	small_table(&t);
	ck_assert_int_eq(rtable_nrows(&t), 2);
	char *s = render(render_csv, &t);
	ck_assert_str_eq(s, "user,minutes,note\r\n"
			    "alice,40,\"a \"\"quoted\"\", comma\"\r\n"
			    "bob,5,\r\n");
	free(s);
	rtable_finish(&t);
}
END_TEST

START_TEST(test_render_json)
{
	struct rtable t;
	small_table(&t);
	char *s = render(render_json, &t);
	ck_assert_ptr_nonnull(strstr(s, "\"period\": {\"from\": \"2026-11-02\", \"to\": \"2026-11-08\"}"));
	ck_assert_ptr_nonnull(strstr(s, "\"filters\": {\"group\": \"staff\", \"user\": null}"));
	ck_assert_ptr_nonnull(strstr(s, "{\"user\": \"alice\", \"minutes\": 40, "
					"\"note\": \"a \\\"quoted\\\", comma\"}"));
	ck_assert_ptr_nonnull(strstr(s, "{\"user\": \"bob\", \"minutes\": 5, \"note\": null}"));
	ck_assert_ptr_nonnull(strstr(s, "\"notes\": [\n    \"defined as x\"\n  ]"));
	free(s);
	rtable_finish(&t);
}
END_TEST

START_TEST(test_render_text)
{
	struct rtable t;
	small_table(&t);
	char *s = render(render_text, &t);
	ck_assert_ptr_nonnull(strstr(s, "period:         2026-11-02 .. 2026-11-08"));
	ck_assert_ptr_nonnull(strstr(s, "filters:        group=staff\n"));
	/* numbers right-aligned under their header, empty cells as - */
	ck_assert_ptr_nonnull(strstr(s, "user   minutes  note\n"
					"alice       40  a \"quoted\", comma\n"
					"bob          5  -\n"));
	ck_assert_ptr_nonnull(strstr(s, "\ndefined as x\n"));
	free(s);
	rtable_finish(&t);
}
END_TEST

START_TEST(test_json_string)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	render_json_string("a\"b\\c\nd\x01\xc3\xa9", fp);
	fclose(fp);
	ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"");
	free(buf);
}
END_TEST

START_TEST(test_html)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	render_html_text("<b>&\"x'</b>", fp);
	fclose(fp);
	ck_assert_str_eq(buf, "&lt;b&gt;&amp;&quot;x&#39;&lt;/b&gt;");
	free(buf);
	/* the proxy's rule (common/htmlesc.h): controls are not text, UTF-8 is */
	fp = open_memstream(&buf, &len);
	render_html_text("a\x01" "b\x7f\tc\r\n caf\xc3\xa9", fp);
	render_html_text(NULL, fp);
	fclose(fp);
	ck_assert_str_eq(buf, "a\xef\xbf\xbd" "b\xef\xbf\xbd\tc\r\n caf\xc3\xa9");
	free(buf);

	struct rtable t;
	small_table(&t);
	t.user = "<script>";
	char *s = render(render_html, &t);
	ck_assert_ptr_null(strstr(s, "<script"));
	ck_assert_ptr_nonnull(strstr(s, "user = &lt;script&gt;"));
	ck_assert_ptr_nonnull(strstr(s, "<td>a &quot;quoted&quot;, comma</td>"));
	ck_assert_ptr_nonnull(strstr(s, "<td class=\"n\">40</td>"));
	ck_assert_ptr_null(strstr(s, "<svg")); /* no charts asked for */
	free(s);
	rtable_finish(&t);
}
END_TEST

START_TEST(test_svg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	long v[3] = {10, 40, 0};
	int64_t d;
	period_parse("2026-11-02", &d);
	svg_days(fp, v, 3, d, 30);
	long heat[7][24] = {{0}};
	heat[1][14] = 20;
	svg_heatmap(fp, heat);
	fclose(fp);
	ck_assert_ptr_nonnull(strstr(buf, "<title>2026-11-03: 40 min</title>"));
	ck_assert_ptr_nonnull(strstr(buf, "allowance 30</text>"));
	ck_assert_ptr_nonnull(strstr(buf, "fill=\"url(#over)\"><title>2026-11-03"));
	ck_assert_ptr_nonnull(strstr(buf, "fill-opacity=\"1.00\" stroke=\"#eee\"><title>Tue 14:00-14:59: 20 min"));
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_period_parse);
	tcase_add_test(tc, test_period_previous);
	tcase_add_test(tc, test_presence_parse_until);
	tcase_add_test(tc, test_pseudonym);
	tcase_add_test(tc, test_period_relative);
	tcase_add_test(tc, test_period_resolve);
	tcase_add_test(tc, test_csv_field);
	tcase_add_test(tc, test_render_csv);
	tcase_add_test(tc, test_render_json);
	tcase_add_test(tc, test_render_text);
	tcase_add_test(tc, test_json_string);
	tcase_add_test(tc, test_html);
	tcase_add_test(tc, test_svg);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
