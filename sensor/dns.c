/*
 * dns: DNS message parsing (RFC 1035) for names and addresses only.
 *
 * Compression pointers are followed at most 16 times and only backwards, so
 * a loop or a pointer past the end is refused rather than followed. The map
 * is a direct-mapped, 4-way table: a lookup or an insert touches at most 4
 * slots, and an insert into a full set replaces the oldest entry.
 */
#include "dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fnv.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Read the name at *off; text (dotted) into out (at least 256 bytes) when
 * not NULL; *off moves past the name in the message. 0 or -1.
 * A label holding a NUL byte or a dot has no dotted text that means the
 * same name (the text would end at the NUL, "www.facebook.com\0.evil"
 * reading as www.facebook.com, or split at the dot): out is "" for it,
 * and hostname_normalise refuses that. */
static int dns_name(const uint8_t *msg, size_t len, size_t *off, char *out)
{
	size_t pos = *off, n = 0;
	int hops = 0;
	bool jumped = false, textless = false;

	for (;;) {
		if (pos >= len)
			return -1;
		uint8_t l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++hops > 16)
				return -1;
			size_t ptr = (size_t)(l & 0x3f) << 8 | msg[pos + 1];
			if (ptr >= pos)
				return -1;
			if (!jumped)
				*off = pos + 2;
			jumped = true;
			pos = ptr;
			continue;
		}
		if (l & 0xc0)
			return -1;
		if (l == 0) {
			if (!jumped)
				*off = pos + 1;
			if (out)
				out[textless ? 0 : n] = '\0';
			return 0;
		}
		if (pos + 1 + l > len || n + l + 1 > 255)
			return -1;
		if (memchr(msg + pos + 1, '\0', l) || memchr(msg + pos + 1, '.', l))
			textless = true;
		if (out) {
			if (n)
				out[n++] = '.';
			memcpy(out + n, msg + pos + 1, l);
			n += l;
		} else {
			n += l + 1;
		}
		pos += 1 + (size_t)l;
	}
}

int dns_parse(const uint8_t *msg, size_t len, struct dns_message *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 12)
		return -1;
	uint16_t flags = rd16(msg + 2);
	unsigned qd = rd16(msg + 4), an = rd16(msg + 6);
	if (flags & 0x7800)   /* opcode other than QUERY */
		return -1;
	out->response = (flags & 0x8000) != 0;
	size_t off = 12;
	char name[256];
	for (unsigned i = 0; i < qd; i++) {
		if (dns_name(msg, len, &off, i == 0 ? name : NULL) < 0 || off + 4 > len)
			return -1;
		if (i == 0) {
			out->qtype = rd16(msg + off);
			if (hostname_normalise(name, strlen(name), out->qname) != HOST_NAME)
				out->qname[0] = '\0';
		}
		off += 4;
	}
	if (!out->response)
		return 0;
	for (unsigned i = 0; i < an; i++) {
		if (dns_name(msg, len, &off, NULL) < 0 || off + 10 > len)
			return -1;
		uint16_t type = rd16(msg + off), cls = rd16(msg + off + 2);
		uint32_t ttl = (uint32_t)rd16(msg + off + 4) << 16 | rd16(msg + off + 6);
		size_t rdlen = rd16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -1;
		if (cls == 1 && out->n_addrs < DNS_MAX_ADDRS &&
		    ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16))) {
			size_t k = out->n_addrs++;
			out->family[k] = type == 1 ? AF_INET : AF_INET6;
			memset(out->addr[k], 0, 16);
			memcpy(out->addr[k], msg + off, rdlen);
			out->ttl[k] = ttl;
		}
		off += rdlen;
	}
	return 0;
}

/* ---- the address -> name map ---- */

#define DNS_MAP_WAYS 4

struct dns_entry {
	uint8_t addr[16];
	int family;            /* 0: free */
	time_t seen, expires;
	char name[HOSTNAME_MAX + 1];
};

struct dns_map {
	size_t mask;           /* sets - 1 */
	struct dns_entry *e;
};

/* An entry is kept at least this long whatever its TTL (clients cache longer). */
#define DNS_MAP_MIN_TTL 3600

struct dns_map *dns_map_create(size_t entries)
{
	if (entries == 0)
		entries = DNS_MAP_DEFAULT;
	size_t sets = 1;
	while (sets * DNS_MAP_WAYS < entries)
		sets <<= 1;
	struct dns_map *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->mask = sets - 1;
	m->e = calloc(sets * DNS_MAP_WAYS, sizeof(*m->e));
	if (!m->e) {
		free(m);
		return NULL;
	}
	return m;
}

void dns_map_destroy(struct dns_map *m)
{
	if (!m)
		return;
	free(m->e);
	free(m);
}

static size_t dns_map_set(const struct dns_map *m, int family, const uint8_t *addr)
{
	/* FNV-1a over the address bytes; its weak low bits mixed by the first
	 * half of MurmurHash3's fmix64 */
	uint64_t h = fnv64_bytes(FNV64_OFFSET, addr, family == AF_INET ? 4 : 16);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & m->mask;
}

static bool dns_entry_is(const struct dns_entry *e, int family, const uint8_t *addr)
{
	return e->family == family && memcmp(e->addr, addr, family == AF_INET ? 4 : 16) == 0;
}

void dns_map_add(struct dns_map *m, int family, const uint8_t *addr, const char *name,
		 uint32_t ttl, time_t now)
{
	struct dns_entry *set = m->e + dns_map_set(m, family, addr) * DNS_MAP_WAYS, *slot = NULL;
	for (int i = 0; i < DNS_MAP_WAYS && !slot; i++)
		if (dns_entry_is(&set[i], family, addr))
			slot = &set[i];
	for (int i = 0; i < DNS_MAP_WAYS && !slot; i++)
		if (set[i].family == 0)
			slot = &set[i];
	if (!slot) {
		slot = &set[0];
		for (int i = 1; i < DNS_MAP_WAYS; i++)
			if (set[i].seen < slot->seen)
				slot = &set[i];
	}
	memset(slot->addr, 0, sizeof(slot->addr));
	memcpy(slot->addr, addr, family == AF_INET ? 4 : 16);
	slot->family = family;
	slot->seen = now;
	slot->expires = now + (ttl > DNS_MAP_MIN_TTL ? (time_t)ttl : DNS_MAP_MIN_TTL);
	snprintf(slot->name, sizeof(slot->name), "%s", name);
}

const char *dns_map_lookup(const struct dns_map *m, int family, const uint8_t *addr, time_t now)
{
	const struct dns_entry *set = m->e + dns_map_set(m, family, addr) * DNS_MAP_WAYS;
	for (int i = 0; i < DNS_MAP_WAYS; i++)
		if (dns_entry_is(&set[i], family, addr))
			return now <= set[i].expires ? set[i].name : NULL;
	return NULL;
}
