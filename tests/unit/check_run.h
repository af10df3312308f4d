/*
 * check_run: the end of a unit test's main() — run the suite with Check's
 * default output and turn the failures into the exit status meson reads.
 * The older test files spell these lines out; new ones use this.
 */
#ifndef BREAKTIME_CHECK_RUN_H
#define BREAKTIME_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
