/*
 * render_json: one object with stable field names (documented in
 * doc/breaktime.1):
 *
 *   { "report": KIND, "title": ..., "period": {"from": DATE, "to": DATE},
 *     "filters": {"group": G|null, "user": U|null}, "pseudonymised": BOOL,
 *     "active_minutes_method": TEXT|null, "columns": [NAME...],
 *     "rows": [{NAME: VALUE...}...], "notes": [TEXT...] }
 *
 * Numbers are JSON numbers, empty cells null.
 */
#include "report.h"

void render_json_string(const char *v, FILE *out)
{
	if (!v) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

int render_json(const struct rtable *t, FILE *out)
{
	size_t nrows = rtable_nrows(t);
	fputs("{\n  \"report\": ", out);
	render_json_string(t->kind, out);
	fputs(",\n  \"title\": ", out);
	render_json_string(t->title, out);
	fprintf(out, ",\n  \"period\": {\"from\": \"%s\", \"to\": \"%s\"},\n", t->from, t->to);
	fputs("  \"filters\": {\"group\": ", out);
	render_json_string(t->group, out);
	fputs(", \"user\": ", out);
	render_json_string(t->user, out);
	fprintf(out, "},\n  \"pseudonymised\": %s,\n  \"active_minutes_method\": ",
		t->pseudonymised ? "true" : "false");
	render_json_string(t->method, out);
	fputs(",\n  \"columns\": [", out);
	for (size_t c = 0; c < t->ncols; c++) {
		if (c)
			fputs(", ", out);
		render_json_string(t->cols[c].name, out);
	}
	fputs("],\n  \"rows\": [", out);
	for (size_t r = 0; r < nrows; r++) {
		fputs(r ? ",\n    {" : "\n    {", out);
		for (size_t c = 0; c < t->ncols; c++) {
			const char *v = rtable_cell(t, r, c);
			if (c)
				fputs(", ", out);
			render_json_string(t->cols[c].name, out);
			fputs(": ", out);
			if (!v || !*v)
				fputs("null", out);
			else if (t->cols[c].type != RCOL_TEXT)
				fputs(v, out); /* written by query.c with %lld / %.1f */
			else
				render_json_string(v, out);
		}
		fputc('}', out);
	}
	fputs(nrows ? "\n  ],\n  \"notes\": [" : "],\n  \"notes\": [", out);
	for (size_t i = 0; i < t->nnotes; i++) {
		fputs(i ? ",\n    " : "\n    ", out);
		render_json_string(t->notes[i], out);
	}
	fputs(t->nnotes ? "\n  ]\n}\n" : "]\n}\n", out);
	return ferror(out) ? -1 : 0;
}
