/*
 * fnv: FNV-1a, the one string and byte hash of the in-memory tables
 * (http://www.isthe.com/chongo/tech/comp/fnv/). Pure, thread-safe,
 * header only.
 *
 * Each function continues from h, so a caller starts from FNV32_OFFSET or
 * FNV64_OFFSET (xored with a seed or a small discriminator where it wants
 * one) and may feed several pieces one after another: hashing "ab" in one
 * call or in two gives the same value.
 *
 * FNV's low bits are weak: a table indexed by `h & mask` with many similar
 * keys mixes the value first (catalog.c and dns.c do). FNV is not keyed:
 * where an outsider chooses the keys and collisions cost something, start
 * from a random seed (proxy/identity.c). Nothing hashed here is written to
 * disk, so these values may change between versions.
 */
#ifndef BREAKTIME_FNV_H
#define BREAKTIME_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV32_OFFSET 2166136261u            /* 0x811c9dc5, the offset basis */
#define FNV32_PRIME 16777619u               /* 2^24 + 2^8 + 0x93 */
#define FNV64_OFFSET 0xcbf29ce484222325ULL  /* 14695981039346656037 */
#define FNV64_PRIME 0x100000001b3ULL        /* 2^40 + 2^8 + 0xb3 */

static inline uint32_t fnv32_byte(uint32_t h, unsigned char c)
{
	return (h ^ c) * FNV32_PRIME;
}

static inline uint32_t fnv32_bytes(uint32_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = fnv32_byte(h, c[i]);
	return h;
}

/* The bytes of s up to its NUL. */
static inline uint32_t fnv32_str(uint32_t h, const char *s)
{
	for (; *s; s++)
		h = fnv32_byte(h, (unsigned char)*s);
	return h;
}

static inline uint64_t fnv64_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * FNV64_PRIME;
}

static inline uint64_t fnv64_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = fnv64_byte(h, c[i]);
	return h;
}

/* The bytes of s up to its NUL. */
static inline uint64_t fnv64_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = fnv64_byte(h, (unsigned char)*s);
	return h;
}

#endif
