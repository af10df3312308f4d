/*
 * hostname: one normal form for host names, whatever they came from
 * (absolute-form request target, Host header, CONNECT authority, TLS SNI,
 * DNS, configuration lists), so that the catalog compares like with like.
 *
 * Pure functions, no allocation, safe on any thread.
 */
#ifndef BREAKTIME_HOSTNAME_H
#define BREAKTIME_HOSTNAME_H

#include <stddef.h>
#include <stdint.h>

#define HOSTNAME_MAX 253

enum host_kind {
	HOST_INVALID = 0,
	HOST_NAME,   /* a DNS name: LDH labels, lower case, no trailing dot */
	HOST_IPV4,   /* dotted quad */
	HOST_IPV6,   /* without brackets, lower case */
};

/*
 * Normalise the host part of `in` (len bytes, not NUL-terminated): lower
 * case, trailing dot removed, port and IPv6 brackets removed. Writes a
 * NUL-terminated result of at most HOSTNAME_MAX bytes into out (which must
 * hold HOSTNAME_MAX + 1 bytes). Returns what kind of host it is, or
 * HOST_INVALID (out is then the empty string).
 * Underscores are accepted in labels (they occur in real CDN names).
 */
enum host_kind hostname_normalise(const char *in, size_t len, char *out);

/*
 * Split an authority "host[:port]" or "[v6]:port" into the host part and a
 * port. *port is set to default_port when there is none. Returns 0, or -1 for
 * an invalid port or brackets (host_len 0 is also an error).
 */
int hostname_split_authority(const char *in, size_t len, const char **host,
			     size_t *host_len, uint16_t default_port, uint16_t *port);

#endif
