/*
 * urlenc: percent-encoding of a URL's query (RFC 3986 2.1, and the
 * application/x-www-form-urlencoded reading of '+' as a space), the one rule
 * for the links breaktime writes and the queries and forms it reads: the
 * proxy's Continue link (proxy/pages_enforce.c) and sign-in page
 * (proxy/signin.c), and the web UI's links and forms (reports/web_form.c).
 *
 * Encoding keeps the unreserved bytes (letters, digits, - . _ ~) and writes
 * every other byte as %XX, upper-case hex, so an encoded value is also safe
 * in HTML text and in a quoted attribute. Decoding refuses what another
 * reader could take differently: a '%' without two hex digits after it, and
 * %00 (a NUL would cut the value short in C). Raw bytes other than '+' are
 * copied as they are.
 *
 * Pure functions, header only (the fuzz targets compile it into the parser
 * they exercise); no allocation, any thread.
 */
#ifndef BREAKTIME_URLENC_H
#define BREAKTIME_URLENC_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static inline bool url_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* The value of a hex digit, either case; -1 for any other byte. */
static inline int url_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The two upper-case hex digits of c into hex[0..1]. */
static inline void url_hex_byte(unsigned char c, char hex[2])
{
	static const char digits[] = "0123456789ABCDEF";

	hex[0] = digits[c >> 4];
	hex[1] = digits[c & 15];
}

/*
 * in, encoded, into out (len >= 1 bytes, always NUL-terminated). A value
 * that does not fit is cut short, never inside an escape: a byte is taken
 * only while room for an escape and the NUL is left.
 */
static inline void url_encode(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 4 < len; in++) {
		unsigned char c = (unsigned char)*in;
		if (url_unreserved(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			url_hex_byte(c, out + o);
			o += 2;
		}
	}
	out[o] = '\0';
}

/*
 * in[0..n) decoded into out (outlen >= 1 bytes, NUL-terminated): '+' is a
 * space, %XX a byte. False on a malformed escape, on %00, and when the
 * result does not fit (never a silently shortened value); out then holds a
 * part of it. out may be in itself (decoding never lengthens).
 */
static inline bool url_decode(const char *in, size_t n, char *out, size_t outlen)
{
	const char *end = in + n;
	size_t o = 0;

	for (const char *p = in; p < end; p++) {
		if (o + 1 >= outlen)
			return false;
		if (*p == '%') {
			int hi = end - p > 2 ? url_hex_value((unsigned char)p[1]) : -1;
			int lo = end - p > 2 ? url_hex_value((unsigned char)p[2]) : -1;
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return false;
			out[o++] = (char)(hi * 16 + lo);
			p += 2;
		} else {
			out[o++] = *p == '+' ? ' ' : *p;
		}
	}
	out[o] = '\0';
	return true;
}

/*
 * The value of the first name=value in the query q[0..len) (the part after
 * '?', fields split at '&'), decoded into out as url_decode does. False
 * when the name is absent or its value does not decode or fit.
 */
static inline bool url_query_get(const char *q, size_t len, const char *name, char *out,
				 size_t outlen)
{
	size_t nlen = strlen(name);
	const char *end = q + len;

	while (q && q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - q) > nlen && memcmp(q, name, nlen) == 0 && q[nlen] == '=')
			return url_decode(q + nlen + 1, (size_t)(stop - q - nlen - 1), out, outlen);
		q = amp ? amp + 1 : NULL;
	}
	return false;
}

#endif
