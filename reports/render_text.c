/*
 * render_text: a report for a terminal — what it covers, aligned columns
 * (numbers right-aligned, empty cells as "-"), then its definitions.
 * Every value from the store or the command line goes out through
 * safetext_fputs(): a control byte (an ESC in a user name) is shown as
 * \xNN, never sent to the terminal.
 */
#include "report.h"

#include <string.h>

#include "safetext.h"

/* v padded with spaces to width (shown bytes), on the left when right. */
static void put_cell(FILE *out, const char *v, size_t width, bool right)
{
	size_t n = safetext_shown_len(v);
	if (right)
		for (; n < width; n++)
			fputc(' ', out);
	safetext_fputs(v, out);
	if (!right)
		for (; n < width; n++)
			fputc(' ', out);
}

static void header(const struct rtable *t, FILE *out)
{
	fprintf(out, "breaktime report %s: ", t->kind);
	safetext_fputs(t->title, out);
	fputc('\n', out);
	fprintf(out, "period:         %s .. %s (site-local dates, inclusive)\n", t->from, t->to);
	if (t->group || t->user) {
		fprintf(out, "filters:       ");
		if (t->group) {
			fputs(" group=", out);
			safetext_fputs(t->group, out);
		}
		if (t->user) {
			fputs(" user=", out);
			safetext_fputs(t->user, out);
		}
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
			size_t n = v ? safetext_shown_len(v) : 1;
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
			put_cell(out, v, last && t->cols[c].type == RCOL_TEXT ? 0 : w[c],
				 t->cols[c].type != RCOL_TEXT);
			fputs(last ? "\n" : "  ", out);
		}
	}
	if (nrows == 0)
		fprintf(out, "(no rows)\n");
	if (t->nnotes)
		fputc('\n', out);
	for (size_t i = 0; i < t->nnotes; i++) {
		safetext_fputs(t->notes[i], out);
		fputc('\n', out);
	}
	return ferror(out) ? -1 : 0;
}
