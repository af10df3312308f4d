/*
 * svg: the two charts of an HTML report as inline SVG — no scripts, no
 * fonts or images from elsewhere, readable in grey on paper (the
 * allowance line is dashed, over-allowance bars are hatched as well as red).
 * Sizes are in the viewBox; the page scales it to its width.
 */
#include "report.h"

#include "tz.h"

#define DAYS_W 720
#define DAYS_H 180
#define PAD_L 36
#define PAD_B 22
#define PAD_T 8

void svg_days(FILE *out, const long *values, size_t ndays, int64_t first_day,
	      unsigned allowance)
{
	long max = allowance;
	for (size_t i = 0; i < ndays; i++)
		if (values[i] > max)
			max = values[i];
	if (max < 10)
		max = 10;
	max = (max + 9) / 10 * 10;
	double pw = DAYS_W - PAD_L - 4, ph = DAYS_H - PAD_B - PAD_T;
	double bw = pw / (double)(ndays ? ndays : 1);

	fprintf(out, "<svg class=\"days\" viewBox=\"0 0 %d %d\" role=\"img\" "
		     "xmlns=\"http://www.w3.org/2000/svg\">\n", DAYS_W, DAYS_H);
	fprintf(out, "<defs><pattern id=\"over\" width=\"4\" height=\"4\" "
		     "patternUnits=\"userSpaceOnUse\"><rect width=\"4\" height=\"4\" fill=\"#c0392b\"/>"
		     "<path d=\"M0 4L4 0\" stroke=\"#fff\" stroke-width=\"1\"/></pattern></defs>\n");
	/* axis and gridlines: 0, max/2, max */
	for (int k = 0; k <= 2; k++) {
		double y = PAD_T + ph - ph * k / 2.0;
		fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ccc\"/>"
			     "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%ld</text>\n",
			PAD_L, y, DAYS_W - 4, y, PAD_L - 4, y + 3, max * k / 2);
	}
	for (size_t i = 0; i < ndays; i++) {
		char d[11];
		period_format(first_day + (int64_t)i, d, sizeof(d));
		double h = ph * (double)values[i] / (double)max;
		double x = PAD_L + bw * (double)i;
		bool over = allowance && values[i] > (long)allowance;
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			     "<title>%s: %ld min</title></rect>\n",
			x + bw * 0.1, PAD_T + ph - h, bw * 0.8, h, over ? "url(#over)" : "#2c7fb8",
			d, values[i]);
		/* a date label every so often: at most ~12 */
		size_t every = ndays / 12 + 1;
		if (i % every == 0)
			fprintf(out, "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" text-anchor=\"middle\">"
				     "%.5s</text>\n", x + bw / 2, DAYS_H - 8, d + 5);
	}
	if (allowance) {
		double y = PAD_T + ph - ph * allowance / (double)max;
		fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#000\" "
			     "stroke-dasharray=\"6 3\"/><text x=\"%d\" y=\"%.1f\" font-size=\"10\" "
			     "text-anchor=\"end\">allowance %u</text>\n",
			PAD_L, y, DAYS_W - 4, y, DAYS_W - 6, y - 3, allowance);
	}
	fputs("</svg>\n", out);
}

void svg_heatmap(FILE *out, const long heat[7][24])
{
	static const char *const wd[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	const int cw = 28, chh = 20, left = 36, top = 16;
	long max = 0;
	for (int d = 0; d < 7; d++)
		for (int h = 0; h < 24; h++)
			if (heat[d][h] > max)
				max = heat[d][h];
	fprintf(out, "<svg class=\"heat\" viewBox=\"0 0 %d %d\" role=\"img\" "
		     "xmlns=\"http://www.w3.org/2000/svg\">\n", left + 24 * cw + 4, top + 7 * chh + 4);
	for (int h = 0; h < 24; h += 2)
		fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%02d</text>\n",
			left + h * cw + cw / 2, top - 4, h);
	for (int d = 0; d < 7; d++) {
		fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%s</text>\n",
			left - 4, top + d * chh + chh / 2 + 3, wd[d]);
		for (int h = 0; h < 24; h++) {
			double a = max ? (double)heat[d][h] / (double)max : 0;
			fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
				     "fill=\"#2c7fb8\" fill-opacity=\"%.2f\" stroke=\"#eee\">"
				     "<title>%s %02d:00-%02d:59: %ld min</title></rect>\n",
				left + h * cw, top + d * chh, cw, chh, heat[d][h] ? 0.1 + 0.9 * a : 0.0,
				wd[d], h, h, heat[d][h]);
		}
	}
	fputs("</svg>\n", out);
}
