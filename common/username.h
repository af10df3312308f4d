/*
 * username: the one rule for user names, wherever a name is read (the
 * htpasswd file, the device map, [group] members, a proxy sign-in, a web
 * login, the [auth] helper's question) or written (records, sessions).
 *
 * Names are ASCII case-insensitive: `Alice`, `ALICE` and `alice` are one
 * person, with one group, one usage total and one password line. The
 * canonical form, the one that is recorded and passed on, is ASCII lower
 * case. Bytes outside A-Z are left as they are (no locale is consulted, so
 * the rule is the same in every program and every environment).
 *
 * Pure, thread-safe, header only.
 */
#ifndef BREAKTIME_USERNAME_H
#define BREAKTIME_USERNAME_H

#include <stdbool.h>
#include <stddef.h>

static inline unsigned char username_fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* strcmp() of the canonical forms of a and b (a total order: sort and search with it). */
static inline int username_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	while (*x && username_fold(*x) == username_fold(*y)) {
		x++;
		y++;
	}
	return (int)username_fold(*x) - (int)username_fold(*y);
}

static inline bool username_equal(const char *a, const char *b)
{
	return username_cmp(a, b) == 0;
}

/* Lower-case s in place: its canonical form. */
static inline char *username_canon(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)username_fold((unsigned char)*p);
	return s;
}

/* The canonical form of src in dst[size] (size > 0), truncated, always
 * NUL-terminated. Returns the length. */
static inline size_t username_copy(char *dst, size_t size, const char *src)
{
	size_t n = 0;
	while (src[n] && n + 1 < size) {
		dst[n] = (char)username_fold((unsigned char)src[n]);
		n++;
	}
	dst[n] = '\0';
	return n;
}

#endif
