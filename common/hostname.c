/*
 * hostname: normalisation of host names and authorities.
 * Pure functions; no allocation; thread-safe.
 */
#include "hostname.h"

#include <arpa/inet.h>
#include <string.h>

int hostname_split_authority(const char *in, size_t len, const char **host,
			     size_t *host_len, uint16_t default_port, uint16_t *port)
{
	const char *colon = NULL;

	if (len == 0)
		return -1;
	if (in[0] == '[') {
		const char *close = memchr(in, ']', len);
		if (!close)
			return -1;
		*host = in + 1;
		*host_len = (size_t)(close - in - 1);
		size_t rest = len - (size_t)(close - in) - 1;
		if (rest > 0) {
			if (close[1] != ':')
				return -1;
			colon = close + 1;
		}
	} else {
		colon = memchr(in, ':', len);
		if (colon && memchr(colon + 1, ':', len - (size_t)(colon - in) - 1))
			return -1; /* bare IPv6 or garbage: brackets are required */
		*host = in;
		*host_len = colon ? (size_t)(colon - in) : len;
	}
	if (*host_len == 0)
		return -1;
	if (!colon) {
		*port = default_port;
		return 0;
	}
	size_t plen = len - (size_t)(colon - in) - 1;
	if (plen == 0 || plen > 5)
		return -1;
	unsigned long v = 0;
	for (size_t i = 0; i < plen; i++) {
		char ch = colon[1 + i];
		if (ch < '0' || ch > '9')
			return -1;
		v = v * 10 + (unsigned long)(ch - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static enum host_kind classify_ip(char *out)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, out, buf) == 1)
		return HOST_IPV4;
	if (strchr(out, ':') && inet_pton(AF_INET6, out, buf) == 1)
		return HOST_IPV6;
	return HOST_INVALID;
}

enum host_kind hostname_normalise(const char *in, size_t len, char *out)
{
	const char *h;
	size_t hl;
	uint16_t port;

	out[0] = '\0';
	if (len == 0 || len > HOSTNAME_MAX + 16)
		return HOST_INVALID;
	/* An IPv6 literal without brackets (SNI never has one, DNS neither,
	 * but configuration may): accept it whole. */
	if (in[0] != '[' && memchr(in, ':', len) && len <= 45) {
		const char *c1 = memchr(in, ':', len);
		if (memchr(c1 + 1, ':', len - (size_t)(c1 - in) - 1)) {
			memcpy(out, in, len);
			out[len] = '\0';
			for (size_t i = 0; i < len; i++)
				if (out[i] >= 'A' && out[i] <= 'Z')
					out[i] = (char)(out[i] + 32);
			if (classify_ip(out) == HOST_IPV6)
				return HOST_IPV6;
			out[0] = '\0';
			return HOST_INVALID;
		}
	}
	if (hostname_split_authority(in, len, &h, &hl, 1, &port) < 0)
		return HOST_INVALID;
	if (in[0] == '[') {
		if (hl > 45)
			return HOST_INVALID;
		memcpy(out, h, hl);
		out[hl] = '\0';
		for (size_t i = 0; i < hl; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] + 32);
		if (classify_ip(out) == HOST_IPV6)
			return HOST_IPV6;
		out[0] = '\0';
		return HOST_INVALID;
	}
	if (hl > 0 && h[hl - 1] == '.')
		hl--;
	if (hl == 0 || hl > HOSTNAME_MAX)
		return HOST_INVALID;

	size_t label = 0;
	int all_numeric = 1;
	for (size_t i = 0; i < hl; i++) {
		unsigned char ch = (unsigned char)h[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch + 32);
		if (ch == '.') {
			if (label == 0 || out[i - 1] == '-')
				goto bad;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || ch == '_' ||
			   (ch >= '0' && ch <= '9') || ch == '-') {
			if (ch == '-' && label == 0)
				goto bad;
			if (++label > 63)
				goto bad;
			if (!(ch >= '0' && ch <= '9'))
				all_numeric = 0;
		} else {
			goto bad;
		}
		out[i] = (char)ch;
	}
	if (out[hl - 1] == '-' || out[hl - 1] == '.')
		goto bad; /* "a..": only one trailing dot is a root label */
	out[hl] = '\0';
	if (all_numeric) {
		/* Digits and dots only: an IPv4 literal or nothing (we refuse the
		 * inet_aton shorthands like "127.1" and "2130706433"). */
		if (classify_ip(out) == HOST_IPV4)
			return HOST_IPV4;
		goto bad;
	}
	return HOST_NAME;
bad:
	out[0] = '\0';
	return HOST_INVALID;
}
