/*
 * render_html: one self-contained HTML page — an inline stylesheet, inline
 * SVG charts (svg.c), no scripts and nothing fetched from anywhere, so it
 * can be mailed, archived and printed on A4 as it is.
 */
#include "report.h"

#include "htmlesc.h"

static const char STYLE[] =
	"@page{size:A4;margin:14mm}"
	"body{font:10pt/1.35 system-ui,sans-serif;color:#111;max-width:182mm;margin:1em auto}"
	"h1{font-size:15pt;margin:0 0 .2em}h2{font-size:12pt;margin:1.2em 0 .3em}"
	"dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.5em 0}"
	"dt{font-weight:600}dd{margin:0}"
	"table{border-collapse:collapse;width:100%;font-size:8.5pt}"
	"th,td{border-bottom:1px solid #ccc;padding:2px 4px;text-align:left;vertical-align:top}"
	"th{background:#eee}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
	"thead{display:table-header-group}tr,figure{break-inside:avoid}"
	"figure{margin:.4em 0}figcaption{font-size:9pt;font-weight:600}"
	"svg{width:100%;height:auto}.notes{font-size:9pt;color:#333}"
	"@media print{body{margin:0}}";

void render_html_text(const char *v, FILE *out)
{
	const char *p = v ? v : "", *run = p;

	for (; *p; p++) {
		size_t len;
		const char *rep = html_escape_byte((unsigned char)*p, &len);
		if (!rep)
			continue;
		fwrite(run, 1, (size_t)(p - run), out);
		fwrite(rep, 1, len, out);
		run = p + 1;
	}
	fwrite(run, 1, (size_t)(p - run), out);
}

int render_html(const struct rtable *t, FILE *out)
{
	size_t nrows = rtable_nrows(t);

	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		     "<title>breaktime report %s %s .. %s</title>\n<style>%s</style>\n</head>\n<body>\n",
		t->kind, t->from, t->to, STYLE);
	fprintf(out, "<h1>breaktime report: %s</h1>\n<p>", t->kind);
	render_html_text(t->title, out);
	fprintf(out, "</p>\n<dl>\n<dt>Period</dt><dd>%s .. %s (site-local dates, inclusive)</dd>\n"
		     "<dt>Filters</dt><dd>", t->from, t->to);
	if (!t->group && !t->user)
		fputs("none", out);
	if (t->group) {
		fputs("group = ", out);
		render_html_text(t->group, out);
		fputc(' ', out);
	}
	if (t->user) {
		fputs("user = ", out);
		render_html_text(t->user, out);
	}
	fprintf(out, "</dd>\n<dt>Names</dt><dd>%s</dd>\n",
		t->pseudonymised ? "pseudonyms (HMAC-SHA256 keyed by the site secret)" : "as recorded");
	if (t->method) {
		fputs("<dt>Active minutes</dt><dd>", out);
		render_html_text(t->method, out);
		fputs("</dd>\n", out);
	}
	fputs("</dl>\n", out);

	if (t->has_charts) {
		fputs("<h2>Personal active minutes per day</h2>\n", out);
		for (size_t i = 0; i < t->nseries; i++) {
			fputs("<figure><figcaption>", out);
			render_html_text(t->series[i].label, out);
			if (t->series[i].allowance)
				fprintf(out, " (allowance %u min a day)", t->series[i].allowance);
			fputs("</figcaption>\n", out);
			svg_days(out, t->series[i].values, t->ndays, t->first_day,
				 t->series[i].allowance);
			fputs("</figure>\n", out);
		}
		fputs("<h2>When: personal active minutes by weekday and hour</h2>\n<figure>\n", out);
		svg_heatmap(out, t->heat);
		fputs("<figcaption>everyone in the filters, site-local time</figcaption></figure>\n",
		      out);
	}

	fputs("<h2>Table</h2>\n<table>\n<thead><tr>", out);
	for (size_t c = 0; c < t->ncols; c++) {
		/* long names break at their underscores so the table fits A4 */
		fprintf(out, "<th%s>", t->cols[c].type != RCOL_TEXT ? " class=\"n\"" : "");
		for (const char *p = t->cols[c].name; *p; p++)
			fputs(*p == '_' ? "_<wbr>" : (char[2]){*p, 0}, out);
		fputs("</th>", out);
	}
	fputs("</tr></thead>\n<tbody>\n", out);
	for (size_t r = 0; r < nrows; r++) {
		fputs("<tr>", out);
		for (size_t c = 0; c < t->ncols; c++) {
			fputs(t->cols[c].type != RCOL_TEXT ? "<td class=\"n\">" : "<td>", out);
			const char *v = rtable_cell(t, r, c);
			render_html_text(v && *v ? v : "-", out);
			fputs("</td>", out);
		}
		fputs("</tr>\n", out);
	}
	if (!nrows)
		fprintf(out, "<tr><td colspan=\"%zu\">no rows</td></tr>\n", t->ncols);
	fputs("</tbody>\n</table>\n<div class=\"notes\">\n", out);
	for (size_t i = 0; i < t->nnotes; i++) {
		fputs("<p>", out);
		render_html_text(t->notes[i], out);
		fputs("</p>\n", out);
	}
	fputs("</div>\n</body>\n</html>\n", out);
	return ferror(out) ? -1 : 0;
}
