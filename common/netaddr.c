/*
 * netaddr: socket address and CIDR helpers. Pure, thread-safe.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *s, struct cidr *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned maxbits;

	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else {
		return -1;
	}
	out->bits = maxbits;
	if (slash) {
		const char *p = slash + 1;
		if (*p == '\0' || strlen(p) > 3)
			return -1;
		unsigned v = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (unsigned)(*p - '0');
		}
		if (v > maxbits)
			return -1;
		out->bits = v;
	}
	/* zero the host bits so that comparisons are byte-wise */
	for (unsigned i = 0; i < maxbits / 8; i++) {
		unsigned lo = i * 8;
		if (lo >= out->bits)
			out->addr[i] = 0;
		else if (lo + 8 > out->bits)
			out->addr[i] &= (uint8_t)(0xff << (8 - (out->bits - lo)));
	}
	return 0;
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const uint8_t *a;

	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return false;
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (c->family == AF_INET) {
			if (memcmp(a, v4mapped, 12) != 0)
				return false;
			a += 12;
		}
	} else {
		return false;
	}
	unsigned full = c->bits / 8, rem = c->bits % 8;
	if (memcmp(a, c->addr, full) != 0)
		return false;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));
		if ((a[full] & mask) != c->addr[full])
			return false;
	}
	return true;
}

int sockaddr_parse(const char *s, struct sockaddr_any *out)
{
	char host[64];
	const char *portstr;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		portstr = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(host) || memchr(s, ':', hlen))
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		portstr = colon + 1;
	}
	if (*portstr == '\0' || strlen(portstr) > 5)
		return -1;
	unsigned long port = 0;
	for (const char *p = portstr; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535)
		return -1;
	if (s[0] != '[' && (strcmp(host, "*") == 0 || hlen == 0))
		strcpy(host, "0.0.0.0");
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->u.ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->u.ss;
	if (s[0] != '[' && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->len = sizeof(*sin);
		return 0;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

const char *sockaddr_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!a || !inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

uint16_t sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

const char *sockaddr_ntop_port(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	sockaddr_ntop(sa, a, sizeof(a));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, sockaddr_port(sa));
	else
		snprintf(buf, len, "%s:%u", a, sockaddr_port(sa));
	return buf;
}

static const uint8_t *addr_bytes(const struct sockaddr *sa, size_t *n)
{
	if (sa->sa_family == AF_INET) {
		*n = 4;
		return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a, v4mapped, 12) == 0) {
			*n = 4;
			return a + 12;
		}
		*n = 16;
		return a;
	}
	*n = 0;
	return NULL;
}

bool sockaddr_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	size_t na, nb;
	const uint8_t *pa = addr_bytes(a, &na), *pb = addr_bytes(b, &nb);
	return pa && pb && na == nb && memcmp(pa, pb, na) == 0;
}

int sockaddr_host_key(const struct sockaddr *sa, uint8_t out[16])
{
	size_t n;
	const uint8_t *p = addr_bytes(sa, &n);

	memset(out, 0, 16);
	if (!p)
		return 0;
	memcpy(out, p, n);
	return n == 4 ? AF_INET : AF_INET6;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool mac_parse(const char *s, uint8_t out[6])
{
	if (!s)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);
		if (lo < 0 || s[2] != (i < 5 ? ':' : '\0'))
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
		s += 3;
	}
	return true;
}

void mac_format(const uint8_t mac[6], char out[18])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 6; i++) {
		out[i * 3] = hex[mac[i] >> 4];
		out[i * 3 + 1] = hex[mac[i] & 15];
		out[i * 3 + 2] = i < 5 ? ':' : '\0';
	}
}

bool sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	return sockaddr_same_host(a, b) && sockaddr_port(a) == sockaddr_port(b);
}

bool sockaddr_is_unspecified(const struct sockaddr *sa)
{
	size_t n;
	const uint8_t *p = addr_bytes(sa, &n);
	if (!p)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

bool sockaddr_is_local_scope(const struct sockaddr *sa)
{
	size_t n;
	const uint8_t *p = addr_bytes(sa, &n);

	if (!p)
		return true;
	if (sockaddr_is_unspecified(sa))
		return true;
	if (n == 4) {
		return p[0] == 127 || p[0] == 0 ||           /* loopback, "this network" */
		       (p[0] == 169 && p[1] == 254) ||         /* link-local */
		       p[0] >= 224;                            /* multicast, reserved, broadcast */
	}
	static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	return memcmp(p, loop6, 16) == 0 ||
	       (p[0] == 0xfe && (p[1] & 0xc0) == 0x80) ||      /* fe80::/10 */
	       p[0] == 0xff;                                    /* multicast */
}
