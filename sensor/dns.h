/*
 * dns: the names in DNS messages, and the address -> name map that lets a
 * later flow to an address be named after what its client looked up.
 *
 * dns_parse() is pure (no allocation, never reads past len, any thread).
 * The map is a fixed-size table allocated once: memory does not grow with
 * the traffic, an old entry is overwritten instead.
 */
#ifndef BREAKTIME_SENSOR_DNS_H
#define BREAKTIME_SENSOR_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hostname.h"

#define DNS_MAX_ADDRS 16

struct dns_message {
	bool response;
	char qname[HOSTNAME_MAX + 1];   /* normalised first question; empty if none or invalid */
	uint16_t qtype;
	/* A and AAAA answers (whatever owner name: CNAME chains lead to them) */
	size_t n_addrs;
	int family[DNS_MAX_ADDRS];
	uint8_t addr[DNS_MAX_ADDRS][16];
	uint32_t ttl[DNS_MAX_ADDRS];
};

/* 0, or -1 for a message that is not DNS or is malformed. */
int dns_parse(const uint8_t *msg, size_t len, struct dns_message *out);

struct dns_map;

/* entries: rounded up to a power of two; 0 means DNS_MAP_DEFAULT. */
#define DNS_MAP_DEFAULT 65536
struct dns_map *dns_map_create(size_t entries);
void dns_map_destroy(struct dns_map *m);
/* Remember that addr was given as an answer for name at time now. */
void dns_map_add(struct dns_map *m, int family, const uint8_t *addr, const char *name,
		 uint32_t ttl, time_t now);
/* The name last seen for addr, or NULL (expired entries are not returned). */
const char *dns_map_lookup(const struct dns_map *m, int family, const uint8_t *addr, time_t now);

#endif
