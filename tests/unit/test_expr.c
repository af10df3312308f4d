/* Unit tests: the `social =` expression language (config/expr.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

/* windows: breaks = 0, non_directed = 1, lessons = 2 */
static int resolve(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "breaks") == 0)
		return 0;
	if (strcmp(name, "non_directed") == 0)
		return 1;
	if (strcmp(name, "lessons") == 0)
		return 2;
	return -1;
}

#define B 1ULL
#define N 2ULL
#define L 4ULL

static const struct {
	const char *text;
	uint64_t windows;
	int students;
	int want;
} evals[] = {
	{"always", 0, 0, 1},
	{"never", B | N | L, 1, 0},
	{"students", 0, 1, 1},
	{"students", B, 0, 0},
	{"breaks", B, 0, 1},
	{"breaks", N, 0, 0},
	{"!breaks", N, 0, 1},
	{"!!breaks", B, 0, 1},
	{"!students & (breaks | non_directed)", B, 0, 1},
	{"!students & (breaks | non_directed)", N, 0, 1},
	{"!students & (breaks | non_directed)", B | N, 1, 0},
	{"!students & (breaks | non_directed)", L, 0, 0},
	{"!students & (breaks | non_directed)", 0, 0, 0},
	/* & binds tighter than | */
	{"breaks | non_directed & students", B, 0, 1},
	{"breaks | non_directed & students", N, 0, 0},
	{"breaks | non_directed & students", N, 1, 1},
	{"(breaks | non_directed) & students", B, 0, 0},
	/* ! binds tighter than & */
	{"!breaks & non_directed", N, 0, 1},
	{"!(breaks & non_directed)", B | N, 0, 0},
	{"!(breaks & non_directed)", B, 0, 1},
	/* && and || are accepted; white space anywhere */
	{"breaks&&non_directed", B | N, 0, 1},
	{"  breaks ||lessons ", L, 0, 1},
	{"((((lessons))))", L, 0, 1},
	{"always & !students", 0, 0, 1},
	{"never | lessons", L, 0, 1},
	{"a_window_that_is_not & breaks", 0, 0, -1},
};

START_TEST(test_eval)
{
	struct expr e;
	char err[256], bad[64];
	int rc = expr_compile(&e, evals[_i].text, resolve, NULL, err, sizeof(err), bad);
	if (evals[_i].want < 0) {
		ck_assert_int_eq(rc, -1);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", evals[_i].text, err);
	ck_assert_msg(expr_eval(&e, evals[_i].windows, evals[_i].students) == (evals[_i].want == 1),
		      "%s with windows %llx students %d", evals[_i].text,
		      (unsigned long long)evals[_i].windows, evals[_i].students);
}
END_TEST

static const struct {
	const char *text;
	const char *error;
	const char *bad_name;
} errors[] = {
	{"", "empty: write a rule like `!students & (breaks | non_directed)`, or `always` / `never`", ""},
	{"   ", "empty: write a rule like `!students & (breaks | non_directed)`, or `always` / `never`", ""},
	{"brakes", "`brakes` is not a [schedule] window, `students`, `always` or `never` (at column 1)", "brakes"},
	{"!students & (breaks | non_drected)",
	 "`non_drected` is not a [schedule] window, `students`, `always` or `never` (at column 23)", "non_drected"},
	{"(breaks", "expected `)` at column 8", ""},
	{"breaks)", "unexpected `)` at column 7 (join terms with `&` or `|`)", ""},
	{"breaks non_directed", "unexpected `n` at column 8 (join terms with `&` or `|`)", ""},
	{"breaks &", "expected a window name, `students`, `always`, `never`, `!` or `(` at column 9", ""},
	{"& breaks", "unexpected `&` at column 1", ""},
	{"breaks + lessons", "unexpected `+` at column 8 (join terms with `&` or `|`)", ""},
	{"!", "expected a window name, `students`, `always`, `never`, `!` or `(` at column 2", ""},
	{"((((((((((((((((((((((breaks))))))))))))))))))))))", "nested too deeply (at column 21)", ""},
};

START_TEST(test_errors)
{
	struct expr e;
	char err[256], bad[64];
	ck_assert_int_eq(expr_compile(&e, errors[_i].text, resolve, NULL, err, sizeof(err), bad), -1);
	ck_assert_str_eq(err, errors[_i].error);
	ck_assert_str_eq(bad, errors[_i].bad_name);
}
END_TEST

START_TEST(test_constant)
{
	static const struct {
		const char *text;
		int constant; /* -1: varies, else the value */
	} cases[] = {
		{"always", 1},
		{"never", 0},
		{"breaks & !breaks", 0},
		{"breaks | !breaks", 1},
		{"students & never", 0},
		{"students", -1},
		{"!students & (breaks | non_directed)", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr e;
		char err[256];
		bool v;
		ck_assert_int_eq(expr_compile(&e, cases[i].text, resolve, NULL, err, sizeof(err), NULL), 0);
		bool c = expr_constant(&e, &v);
		if (cases[i].constant < 0)
			ck_assert_msg(!c, "%s", cases[i].text);
		else
			ck_assert_msg(c && v == (cases[i].constant == 1), "%s", cases[i].text);
	}
}
END_TEST

START_TEST(test_too_long)
{
	/* 300 terms: more than EXPR_MAX_OPS */
	char text[4096] = "breaks";
	for (int i = 0; i < 150; i++)
		strcat(text, " | lessons");
	struct expr e;
	char err[256];
	ck_assert_int_eq(expr_compile(&e, text, resolve, NULL, err, sizeof(err), NULL), -1);
	ck_assert(strncmp(err, "too long", 8) == 0);
	/* a long but acceptable one evaluates right */
	strcpy(text, "breaks");
	for (int i = 0; i < 60; i++)
		strcat(text, " & !lessons");
	ck_assert_int_eq(expr_compile(&e, text, resolve, NULL, err, sizeof(err), NULL), 0);
	ck_assert(expr_eval(&e, B, false));
	ck_assert(!expr_eval(&e, B | L, false));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("expr");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_eval, 0, (int)(sizeof(evals) / sizeof(evals[0])));
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(errors) / sizeof(errors[0])));
	tcase_add_test(tc, test_constant);
	tcase_add_test(tc, test_too_long);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
