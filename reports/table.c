/*
 * table: struct rtable, the one shape every report takes, so that every
 * renderer serves every report. Cells are owned by the table.
 */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		fprintf(stderr, "breaktime: out of memory\n");
		exit(1);
	}
	return q;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xrealloc(NULL, n), s, n);
}

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0) {
		fprintf(stderr, "breaktime: out of memory\n");
		exit(1);
	}
	return s;
}

void rtable_init(struct rtable *t, const char *kind, const char *title)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->title = title;
}

void rtable_finish(struct rtable *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	for (size_t i = 0; i < t->nnotes; i++)
		free(t->notes[i]);
	free(t->notes);
	free(t->method);
	for (size_t i = 0; i < t->nseries; i++) {
		free(t->series[i].user);
		free(t->series[i].label);
		free(t->series[i].values);
	}
	memset(t, 0, sizeof(*t));
}

void rtable_col(struct rtable *t, const char *name, enum rcol_type type)
{
	if (t->ncols == RTABLE_MAX_COLS)
		abort();
	t->cols[t->ncols].name = name;
	t->cols[t->ncols].type = type;
	t->ncols++;
}

void rtable_add(struct rtable *t, const char *v)
{
	if (t->ncells == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->ncells++] = v ? xstrdup(v) : NULL;
}

void rtable_addf(struct rtable *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vformat(fmt, ap);
	va_end(ap);
	rtable_add(t, s);
	free(s);
}

void rtable_note(struct rtable *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vformat(fmt, ap);
	va_end(ap);
	t->notes = xrealloc(t->notes, (t->nnotes + 1) * sizeof(*t->notes));
	t->notes[t->nnotes++] = s;
}
