/*
 * netaddr: socket addresses and CIDR prefixes, parsed from configuration
 * and compared against peers. Pure functions, thread-safe.
 */
#ifndef BREAKTIME_NETADDR_H
#define BREAKTIME_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;            /* AF_INET or AF_INET6 */
	uint8_t addr[16];      /* network byte order, host bits zero */
	unsigned bits;
};

struct sockaddr_any {
	union {
		struct sockaddr sa;
		struct sockaddr_storage ss;
	} u;
	socklen_t len;
};

/* "10.0.0.0/8", "::1", "fe80::/10", "192.168.1.7". Returns 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);
/* Does the address (IPv4-mapped IPv6 is treated as IPv4) fall in c? */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

/* "127.0.0.1:3128", "[::1]:3128", "*:3128" (all IPv4), "[::]:3128". */
int sockaddr_parse(const char *s, struct sockaddr_any *out);
/* "1.2.3.4" or "::1" (no port) into out; buf at least 46 bytes. */
const char *sockaddr_ntop(const struct sockaddr *sa, char *buf, size_t len);
/* "1.2.3.4:80" or "[::1]:80"; buf at least 56 bytes. */
const char *sockaddr_ntop_port(const struct sockaddr *sa, char *buf, size_t len);
uint16_t sockaddr_port(const struct sockaddr *sa);
bool sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b); /* address and port */
bool sockaddr_same_host(const struct sockaddr *a, const struct sockaddr *b);
/* The address of sa as a key: AF_INET with its 4 bytes (an IPv4-mapped IPv6
 * address too) or AF_INET6 with 16, zero-padded to 16 in out; 0 for another
 * family. */
int sockaddr_host_key(const struct sockaddr *sa, uint8_t out[16]);
/* A MAC address as "02:00:5e:10:00:01" (six pairs of hex digits, either
 * case, separated by colons, nothing after): true with out filled. */
bool mac_parse(const char *s, uint8_t out[6]);
/* ... and back, in lower case (out: 18 bytes with the NUL). */
void mac_format(const uint8_t mac[6], char out[18]);
/* Loopback, link-local, unspecified or multicast: never an upstream by default. */
bool sockaddr_is_local_scope(const struct sockaddr *sa);
bool sockaddr_is_unspecified(const struct sockaddr *sa);

#endif
