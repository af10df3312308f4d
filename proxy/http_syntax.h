/*
 * http_syntax.h: the lexical rules of RFC 9110 that the HTTP/1.x code shares
 * (http_head.c, http_field.c, http_chunked.c): character classes, the size
 * limit, case-insensitive names and comma-separated lists. Private to those
 * files: the API is http_head.h.
 *
 * Header only so each parser keeps its hot loops inlined; pure, no state.
 */
#ifndef BREAKTIME_HTTP_SYNTAX_H
#define BREAKTIME_HTTP_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Largest Content-Length or chunk size we accept (exclusive). */
#define HTTP_SIZE_LIMIT ((uint64_t)1 << 62)

/* ---- character classes ---- */

enum {
	C_TCHAR = 1,   /* token character (RFC 9110 5.6.2) */
	C_FIELD = 2,   /* field-vchar, SP or HTAB: may appear in a field value */
	C_TARGET = 4,  /* may appear in a request-target: VCHAR except '#' */
};

static const uint8_t cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 7, 6, 3, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

#define IS(c, k) (cls[(uint8_t)(c)] & (k))

/* ---- names and lists ---- */

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Case-insensitive compare of s[0..n) with the lower-case literal lc. */
static inline bool name_is(const char *s, size_t n, const char *lc, size_t lc_len)
{
	if (n != lc_len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != lc[i])
			return false;
	return true;
}

#define NAME_IS(s, n, lit) name_is((s), (n), lit, sizeof(lit) - 1)

static inline bool ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Next element of a comma-separated list starting at *pp (NULL once the
 * list is exhausted) and ending at end, OWS trimmed. Empty elements are
 * returned as empty; callers decide whether that is an error.
 */
static inline bool list_next(const char **pp, const char *end, const char **elem, size_t *elen)
{
	const char *p = *pp;

	if (!p)
		return false;
	const char *comma = memchr(p, ',', (size_t)(end - p));
	const char *e = comma ? comma : end;
	while (p < e && is_ows(*p))
		p++;
	const char *q = e;
	while (q > p && is_ows(q[-1]))
		q--;
	*elem = p;
	*elen = (size_t)(q - p);
	*pp = comma ? comma + 1 : NULL;
	return true;
}

static inline bool list_has(const char *v, size_t len, const char *tok, size_t tok_len)
{
	const char *p = v, *end = v + len, *e;
	size_t el;

	if (len == 0)
		return false;
	while (list_next(&p, end, &e, &el))
		if (el == tok_len && ieq(e, tok, el))
			return true;
	return false;
}

#endif
