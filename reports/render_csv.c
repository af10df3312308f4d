/*
 * render_csv: RFC 4180 — one header row (the column names, as in JSON),
 * CRLF line ends, fields quoted when they hold a comma, a quote, CR or LF
 * (quotes doubled). Only the table: the period and the definitions are in
 * the other formats and in the file name the caller chose.
 *
 * Spreadsheet formulas: a cell that starts with = + - @ TAB or CR is a
 * formula to Excel, LibreOffice and Google Sheets ("CSV injection"), and
 * some cells hold names that came from outside (device maps, helper user
 * names, unclassified host names). Such a cell gets a leading apostrophe,
 * which spreadsheets show as text and hide, and is quoted (OWASP's advice).
 * Numbers are left alone: "-12" (a change from the previous period) is a
 * number, not a formula, and scripts must read it back as one; so is a
 * lone "-" (no value).
 */
#include "report.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A plain decimal number: optional sign, digits, optional fraction. */
static bool is_number(const char *v)
{
	const char *p = v;
	if (*p == '-' || *p == '+')
		p++;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

bool render_csv_is_formula(const char *v)
{
	/* a lone "-" (no value) is text to every spreadsheet */
	return v && v[0] && v[1] && strchr("=+-@\t\r", v[0]) && !is_number(v);
}

void render_csv_field(const char *v, FILE *out)
{
	if (!v)
		return;
	bool formula = render_csv_is_formula(v);
	if (!formula && !strpbrk(v, ",\"\r\n")) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
	if (formula)
		fputc('\'', out);
	for (const char *p = v; *p; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

int render_csv(const struct rtable *t, FILE *out)
{
	size_t nrows = rtable_nrows(t);
	for (size_t r = 0; r <= nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', out);
			render_csv_field(r == 0 ? t->cols[c].name : rtable_cell(t, r - 1, c), out);
		}
		fputs("\r\n", out);
	}
	return ferror(out) ? -1 : 0;
}
