/*
 * strutil: small string helpers for hot paths, where snprintf("%s") costs
 * a thousand instructions for a copy. Pure, thread-safe, header only.
 */
#ifndef BREAKTIME_STRUTIL_H
#define BREAKTIME_STRUTIL_H

#include <stddef.h>
#include <string.h>

/* Copy src into dst[size] (size > 0), truncating; always NUL-terminated. Returns the length. */
static inline size_t str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

/* Append src[len] at dst + *pos within dst[size]; always NUL-terminated. */
static inline void str_append(char *dst, size_t size, size_t *pos, const char *src, size_t len)
{
	if (*pos >= size)
		return;
	if (len > size - 1 - *pos)
		len = size - 1 - *pos;
	memcpy(dst + *pos, src, len);
	*pos += len;
	dst[*pos] = '\0';
}

#endif
