/*
 * render_text: a report for a terminal — what it covers, aligned columns
 * (numbers right-aligned, empty cells as "-"), then its definitions.
 */
#include "report.h"

#include <string.h>

static void header(const struct rtable *t, FILE *out)
{
	fprintf(out, "breaktime report %s: %s\n", t->kind, t->title);
	fprintf(out, "period:         %s .. %s (site-local dates, inclusive)\n", t->from, t->to);
	if (t->group || t->user) {
		fprintf(out, "filters:       ");
		if (t->group)
			fprintf(out, " group=%s", t->group);
		if (t->user)
			fprintf(out, " user=%s", t->user);
		fputc('\n', out);
	} else {
		fprintf(out, "filters:        none\n");
	}
	fprintf(out, "names:          %s\n",
		t->pseudonymised ? "pseudonyms (HMAC-SHA256 keyed by the site secret)" : "as recorded");
	if (t->method)
		fprintf(out, "active minutes: %s\n", t->method);
	fputc('\n', out);
}

int render_text(const struct rtable *t, FILE *out)
{
	size_t w[RTABLE_MAX_COLS];
	size_t nrows = rtable_nrows(t);

	header(t, out);
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->cols[c].name);
		for (size_t r = 0; r < nrows; r++) {
			const char *v = rtable_cell(t, r, c);
			size_t n = v ? strlen(v) : 1;
			if (n > w[c])
				w[c] = n;
		}
	}
	for (size_t r = 0; r <= nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *v = r == 0 ? t->cols[c].name : rtable_cell(t, r - 1, c);
			if (!v || !*v)
				v = "-";
			bool last = c + 1 == t->ncols;
			if (t->cols[c].type != RCOL_TEXT)
				fprintf(out, "%*s", (int)w[c], v);
			else if (last)
				fputs(v, out);
			else
				fprintf(out, "%-*s", (int)w[c], v);
			fputs(last ? "\n" : "  ", out);
		}
	}
	if (nrows == 0)
		fprintf(out, "(no rows)\n");
	if (t->nnotes)
		fputc('\n', out);
	for (size_t i = 0; i < t->nnotes; i++)
		fprintf(out, "%s\n", t->notes[i]);
	return ferror(out) ? -1 : 0;
}
