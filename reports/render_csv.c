/*
 * render_csv: RFC 4180 — one header row (the column names, as in JSON),
 * CRLF line ends, fields quoted when they hold a comma, a quote, CR or LF
 * (quotes doubled). Only the table: the period and the definitions are in
 * the other formats and in the file name the caller chose.
 */
#include "report.h"

#include <string.h>

void render_csv_field(const char *v, FILE *out)
{
	if (!v)
		return;
	if (!strpbrk(v, ",\"\r\n")) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
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
