/*
 * fuzz_conf: libFuzzer target for the configuration loader
 * (config/conf.c and its section handlers): conf_load_string() on a
 * NUL-terminated copy of the input. A file either loads or reports errors,
 * never both, and nothing leaks (LeakSanitizer checks the frees).
 * Seeds: tests/data/fuzz/fuzz_conf/. Must never read files or keep state
 * between inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs = {0};
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct conf *c = conf_load_string(text, "fuzz.conf", &errs);
	if (c && errs.n)
		abort();
	if (!c && errs.n == 0)
		abort();
	if (c && (c->refs != 1 || c->proxy.n_listen == 0 || !c->proxy.visible_hostname))
		abort();
	conf_unref(c);
	conf_errors_free(&errs);
	free(text);
	return 0;
}
