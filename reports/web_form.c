/*
 * web_form: application/x-www-form-urlencoded, as browsers send forms and
 * queries — the one parser in `breaktime web` of bytes from the network
 * besides evhttp's own (fuzzed by tests/fuzz/fuzz_web_form.c).
 * Pure: no I/O, no globals; the form owns one copy of the input.
 */
#include "web.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* In place: '+' is a space, %XX a byte; -1 on a bad escape or a NUL. */
static int form_decode(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p == '+') {
			*o++ = ' ';
		} else if (*p == '%') {
			int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			*o++ = (char)(h * 16 + l);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return 0;
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
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~')
			fputc(*p, out);
		else
			fprintf(out, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}
