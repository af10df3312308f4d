/*
 * web_form: application/x-www-form-urlencoded, as browsers send forms and
 * queries — the one parser in `breaktime web` of bytes from the network
 * besides evhttp's own (fuzzed by tests/fuzz/fuzz_web_form.c). The
 * percent-encoding both ways is common/urlenc.h's, shared with the proxy.
 * Pure: no I/O, no globals; the form owns one copy of the input.
 */
#include "web.h"

#include "urlenc.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In place: '+' is a space, %XX a byte; -1 on a bad escape or a NUL. */
static int form_decode(char *s)
{
	size_t n = strlen(s);

	return url_decode(s, n, s, n + 1) ? 0 : -1;
}

int web_form_parse(struct web_form *f, const char *s, size_t len)
{
	memset(f, 0, sizeof(*f));
	f->buf = malloc(len + 1);
	if (!f->buf)
		return -1;
	memcpy(f->buf, s ? s : "", len);
	f->buf[len] = '\0';
	if (strlen(f->buf) != len)
		return -1;
	char *save = NULL;
	for (char *pair = strtok_r(f->buf, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
		if (f->n == WEB_FORM_MAX)
			return -1;
		char *eq = strchr(pair, '=');
		char *val = eq ? eq + 1 : pair + strlen(pair);
		if (eq)
			*eq = '\0';
		if (form_decode(pair) < 0 || form_decode(val) < 0)
			return -1;
		f->key[f->n] = pair;
		f->value[f->n] = val;
		f->n++;
	}
	return 0;
}

void web_form_free(struct web_form *f)
{
	if (f->buf)
		OPENSSL_cleanse(f->buf, strlen(f->buf)); /* it may have held a password */
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

const char *web_form_get(const struct web_form *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->key[i], key) == 0)
			return f->value[i];
	return NULL;
}

void web_url_value(FILE *out, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
		if (url_unreserved(*p)) {
			fputc(*p, out);
		} else {
			char hex[2];
			url_hex_byte(*p, hex);
			fprintf(out, "%%%c%c", hex[0], hex[1]);
		}
	}
}
