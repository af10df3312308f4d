/*
 * expr: the small boolean language of `social =` in [group NAME]:
 *
 *     expr   := or
 *     or     := and ( '|' and )*
 *     and    := unary ( '&' unary )*
 *     unary  := '!' unary | '(' expr ')' | NAME
 *
 * NAME is `always`, `never`, `students` (students are present: the
 * effective presence, never the raw timetable window) or the name of a
 * [schedule] window (true while the window is open). `!` binds tightest,
 * then `&`, then `|`.
 *
 * An expression compiles to a short postfix program over a 64-bit mask of
 * open windows plus the students flag. Compiled at configuration load,
 * immutable afterwards; expr_eval() is pure and allocates nothing.
 */
#ifndef BREAKTIME_EXPR_H
#define BREAKTIME_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPR_MAX_OPS 256

/* the variable that means "students are present" */
#define EXPR_VAR_STUDENTS 63

struct expr {
	uint16_t n;
	uint8_t op[EXPR_MAX_OPS];      /* EXPR_OP_* below, or a variable index */
	uint64_t uses;                 /* bit i: variable i appears */
};

/*
 * Resolve a window name to its variable index 0..62, or -1 when unknown.
 * ctx is passed through.
 */
typedef int (*expr_resolve_fn)(void *ctx, const char *name);

/*
 * Compile text. On error returns -1 and writes a message into err, and the
 * unknown name (if that was the problem) into bad_name (at least 64 bytes),
 * so the caller can suggest a correction.
 */
int expr_compile(struct expr *e, const char *text, expr_resolve_fn resolve, void *ctx,
		 char *err, size_t errlen, char *bad_name);

bool expr_eval(const struct expr *e, uint64_t windows, bool students);

/* True when the value never depends on its variables; *value then holds it. */
bool expr_constant(const struct expr *e, bool *value);

#endif
