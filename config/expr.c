/*
 * expr: recursive-descent compiler from `social =` text to a postfix
 * program, and its evaluator. See expr.h for the grammar.
 *
 * Compilation runs at configuration load; evaluation is pure.
 */
#include "expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
	OP_VAR_MAX = 63,   /* 0..63: push variable */
	OP_TRUE = 200,
	OP_FALSE,
	OP_NOT,
	OP_AND,
	OP_OR,
};

#define MAX_DEPTH 20 /* keeps the evaluator's bit stack under 64 */

struct parser {
	const char *s, *start;
	struct expr *e;
	expr_resolve_fn resolve;
	void *ctx;
	char *err;
	size_t errlen;
	char *bad_name;
	int depth;
	int failed;
};

static void fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

static int col(const struct parser *p)
{
	return (int)(p->s - p->start) + 1;
}

static void skip_ws(struct parser *p)
{
	while (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n')
		p->s++;
}

static void emit(struct parser *p, unsigned op)
{
	if (p->e->n >= EXPR_MAX_OPS) {
		fail(p, "too long (at column %d)", col(p));
		return;
	}
	p->e->op[p->e->n++] = (uint8_t)op;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

static void parse_or(struct parser *p);

static void parse_unary(struct parser *p)
{
	skip_ws(p);
	if (p->failed)
		return;
	if (++p->depth > MAX_DEPTH) {
		fail(p, "nested too deeply (at column %d)", col(p));
		return;
	}
	if (*p->s == '!') {
		p->s++;
		parse_unary(p);
		emit(p, OP_NOT);
	} else if (*p->s == '(') {
		p->s++;
		parse_or(p);
		skip_ws(p);
		if (*p->s != ')')
			fail(p, "expected `)` at column %d", col(p));
		else
			p->s++;
	} else if (name_char(*p->s)) {
		char name[64];
		size_t n = 0;
		while (name_char(*p->s)) {
			if (n < sizeof(name) - 1)
				name[n++] = *p->s;
			p->s++;
		}
		name[n] = '\0';
		if (strcmp(name, "always") == 0)
			emit(p, OP_TRUE);
		else if (strcmp(name, "never") == 0)
			emit(p, OP_FALSE);
		else if (strcmp(name, "students") == 0) {
			emit(p, EXPR_VAR_STUDENTS);
			p->e->uses |= 1ULL << EXPR_VAR_STUDENTS;
		} else {
			int v = p->resolve ? p->resolve(p->ctx, name) : -1;
			if (v < 0 || v >= EXPR_VAR_STUDENTS) {
				if (p->bad_name)
					snprintf(p->bad_name, 64, "%s", name);
				p->s -= strlen(name);
				fail(p, "`%s` is not a [schedule] window, `students`, `always` or `never` (at column %d)", name, col(p));
				return;
			}
			emit(p, (unsigned)v);
			p->e->uses |= 1ULL << v;
		}
	} else if (*p->s == '\0') {
		fail(p, "expected a window name, `students`, `always`, `never`, `!` or `(` at column %d", col(p));
	} else {
		fail(p, "unexpected `%c` at column %d", *p->s, col(p));
	}
	p->depth--;
}

static void parse_and(struct parser *p)
{
	parse_unary(p);
	for (;;) {
		skip_ws(p);
		if (p->failed || *p->s != '&')
			return;
		p->s++;
		if (*p->s == '&')
			p->s++; /* accept && */
		parse_unary(p);
		emit(p, OP_AND);
	}
}

static void parse_or(struct parser *p)
{
	parse_and(p);
	for (;;) {
		skip_ws(p);
		if (p->failed || *p->s != '|')
			return;
		p->s++;
		if (*p->s == '|')
			p->s++; /* accept || */
		parse_and(p);
		emit(p, OP_OR);
	}
}

int expr_compile(struct expr *e, const char *text, expr_resolve_fn resolve, void *ctx,
		 char *err, size_t errlen, char *bad_name)
{
	struct parser p = {.s = text, .start = text, .e = e, .resolve = resolve, .ctx = ctx,
			   .err = err, .errlen = errlen, .bad_name = bad_name};

	memset(e, 0, sizeof(*e));
	if (bad_name)
		bad_name[0] = '\0';
	skip_ws(&p);
	if (!*p.s) {
		snprintf(err, errlen, "empty: write a rule like `!students & (breaks | non_directed)`, or `always` / `never`");
		return -1;
	}
	parse_or(&p);
	skip_ws(&p);
	if (!p.failed && *p.s) {
		fail(&p, "unexpected `%c` at column %d (join terms with `&` or `|`)", *p.s, col(&p));
	}
	return p.failed ? -1 : 0;
}

bool expr_eval(const struct expr *e, uint64_t windows, bool students)
{
	uint64_t stack = 0; /* a bit stack: expressions are at most EXPR_MAX_OPS deep, depth <= 64 */
	unsigned sp = 0;
	uint64_t vars = windows | (students ? 1ULL << EXPR_VAR_STUDENTS : 0);

	for (unsigned i = 0; i < e->n; i++) {
		unsigned op = e->op[i];
		if (op <= OP_VAR_MAX) {
			stack = stack << 1 | ((vars >> op) & 1);
			sp++;
		} else if (op == OP_TRUE) {
			stack = stack << 1 | 1;
			sp++;
		} else if (op == OP_FALSE) {
			stack <<= 1;
			sp++;
		} else if (op == OP_NOT) {
			stack ^= 1;
		} else {
			uint64_t a = stack & 1, b = (stack >> 1) & 1;
			stack >>= 2;
			stack = stack << 1 | (op == OP_AND ? (a & b) : (a | b));
			sp--;
		}
	}
	(void)sp;
	return stack & 1;
}

bool expr_constant(const struct expr *e, bool *value)
{
	unsigned idx[64], n = 0;
	for (unsigned i = 0; i < 64; i++)
		if (e->uses & (1ULL << i))
			idx[n++] = i;
	if (n > 16)
		return false; /* too many to enumerate: assume it varies */
	bool first = false;
	for (uint32_t a = 0; a < (1u << n); a++) {
		uint64_t w = 0;
		bool st = false;
		for (unsigned j = 0; j < n; j++) {
			if (!(a & (1u << j)))
				continue;
			if (idx[j] == EXPR_VAR_STUDENTS)
				st = true;
			else
				w |= 1ULL << idx[j];
		}
		bool v = expr_eval(e, w, st);
		if (a == 0)
			first = v;
		else if (v != first)
			return false;
	}
	*value = first;
	return true;
}
