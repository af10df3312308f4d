/*
 * fuzz_web_form: libFuzzer target for the form and query decoder of
 * `breaktime web` (reports/web_form.c), which reads bytes from anyone who
 * can reach the web UI's port, before any login.
 *
 * Checks the contract, not only the absence of crashes:
 *   - a parsed form has at most WEB_FORM_MAX fields;
 *   - web_form_get() of each key is the value of its first occurrence;
 *   - encoding every field again with web_url_value() and parsing that
 *     gives the same fields (the encoder and decoder agree), and the
 *     encoding has only characters that are safe in HTML and URLs.
 * Seeds: tests/data/fuzz/fuzz_web_form/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_form f, g;

	if (size > 65536)
		return 0;
	if (web_form_parse(&f, (const char *)data, size) != 0) {
		web_form_free(&f);
		return 0;
	}
	if (f.n > WEB_FORM_MAX)
		abort();
	for (size_t i = 0; i < f.n; i++) {
		const char *v = web_form_get(&f, f.key[i]);
		size_t first = 0;
		while (strcmp(f.key[first], f.key[i]) != 0)
			first++;
		if (v != f.value[first])
			abort();
	}
	/* the round trip: key=value&... encoded, then parsed again */
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	if (!out)
		abort();
	for (size_t i = 0; i < f.n; i++) {
		if (i)
			fputc('&', out);
		web_url_value(out, f.key[i]);
		fputc('=', out);
		web_url_value(out, f.value[i]);
	}
	fclose(out);
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-._~%&=", c)))
			abort();
	}
	if (web_form_parse(&g, buf, len) != 0)
		abort();
	if (g.n != f.n)
		abort();
	for (size_t i = 0; i < f.n; i++)
		if (strcmp(f.key[i], g.key[i]) != 0 || strcmp(f.value[i], g.value[i]) != 0)
			abort();
	web_form_free(&g);
	web_form_free(&f);
	free(buf);
	return 0;
}
