/*
 * safetext: what text that came from the network (or from a command line)
 * may become where breaktime keeps it or shows it. Bytes that a terminal
 * acts on (ESC starts a control sequence) or that split a log line must
 * never reach a terminal or a file raw.
 *
 * Storing (logger/batch.c for the store's rows, logger/accesslog.c): each
 * field keeps only what its grammar allows --
 *   safetext_token  an HTTP method: tchar only (RFC 9110 5.6.2), else ""
 *   safetext_host   a host name or address: letters, digits and . - _ : [ ]
 *                   (an IPv6 literal, with or without brackets), else ""
 *   safetext_name   a user, group or free text: C0 controls, DEL, the C1
 *                   controls (UTF-8 U+0080..U+009F) and bytes that are not
 *                   valid UTF-8 become '?'; the rest stands for itself
 *   safetext_uri    a URI: bytes <= 0x20 and >= 0x7f are percent-encoded
 * "" means the field is not stored (NULL in the store, "-" in access.log).
 *
 * Showing on a terminal (the text reports, `breaktime presence`):
 *   safetext_fputs  C0 controls (tab and newline too: one value, one cell),
 *                   DEL, C1 controls and bytes that are not valid UTF-8 are
 *                   written as \xNN, one escape per byte; every other byte
 *                   stands for itself. For reading, not a reversible
 *                   encoding: a backslash is left alone ("SCHOOL\alice").
 *
 * Pure functions; out always ends with a NUL (len >= 1) and is cut short
 * rather than overflowed, never inside a UTF-8 sequence or a %XX escape.
 */
#ifndef BREAKTIME_SAFETEXT_H
#define BREAKTIME_SAFETEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at p (1-4; 1 for ASCII), 0 when
 * p does not start one (stray continuation, overlong, surrogate, > U+10FFFF).
 * p is NUL-terminated: a NUL ends a sequence early and makes it invalid. */
static inline size_t safetext_utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/* Does a terminal show the n-byte sequence at p as text (not a control)? */
static inline bool safetext_printable(const unsigned char *p, size_t n)
{
	if (n == 0)
		return false;
	if (n == 1)
		return p[0] >= 0x20 && p[0] != 0x7f;
	return !(n == 2 && p[0] == 0xc2 && p[1] < 0xa0); /* C1: U+0080..U+009F */
}

static inline bool safetext_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static inline bool safetext_hostchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
}

/* in whole when every byte passes ok and it fits, else "". */
static inline char *safetext_whole(const char *in, char *out, size_t len,
				   bool (*ok)(unsigned char))
{
	size_t n = in ? strlen(in) : 0;

	out[0] = '\0';
	if (n == 0 || n >= len)
		return out;
	for (size_t i = 0; i < n; i++)
		if (!ok((unsigned char)in[i]))
			return out;
	memcpy(out, in, n + 1);
	return out;
}

static inline char *safetext_token(const char *in, char *out, size_t len)
{
	return safetext_whole(in, out, len, safetext_tchar);
}

static inline char *safetext_host(const char *in, char *out, size_t len)
{
	return safetext_whole(in, out, len, safetext_hostchar);
}

static inline char *safetext_name(const char *in, char *out, size_t len)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	while (*p) {
		size_t n = safetext_utf8_len(p);
		bool show = safetext_printable(p, n);
		size_t w = show ? n : 1;
		if (o + w >= len)
			break;
		if (show)
			memcpy(out + o, p, n);
		else
			out[o] = '?';
		o += w;
		p += n ? n : 1;
	}
	out[o] = '\0';
	return out;
}

static inline char *safetext_uri(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	for (; *p; p++) {
		bool raw = *p > 0x20 && *p < 0x7f;
		if (o + (raw ? 1 : 3) >= len)
			break;
		if (raw) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* The bytes safetext_fputs writes for s. */
static inline size_t safetext_shown_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0;

	while (*p) {
		size_t n = safetext_utf8_len(p);
		bool show = safetext_printable(p, n);
		len += show ? n : 4;
		p += show ? n : 1;
	}
	return len;
}

static inline void safetext_fputs(const char *s, FILE *f)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p;

	while (*p) {
		size_t n = safetext_utf8_len(p);
		if (safetext_printable(p, n)) {
			p += n;
			continue;
		}
		fwrite(run, 1, (size_t)(p - run), f);
		fprintf(f, "\\x%02x", *p);
		p++;
		run = p;
	}
	fwrite(run, 1, (size_t)(p - run), f);
}

#endif
