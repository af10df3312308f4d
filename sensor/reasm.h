/*
 * reasm: a bounded reassembly buffer for one byte stream (a TCP direction,
 * or a QUIC connection's Initial CRYPTO stream): pieces arrive by offset,
 * in any order, possibly overlapping; the contiguous prefix from offset 0
 * is what a parser may look at.
 *
 * Memory: at most cap bytes plus cap/8 bytes of bitmap, allocated on the
 * first piece and freed by reasm_finish(). Bytes past cap are dropped (the
 * parsers give up on a ClientHello longer than that). Not thread-safe.
 */
#ifndef BREAKTIME_SENSOR_REASM_H
#define BREAKTIME_SENSOR_REASM_H

#include <stddef.h>
#include <stdint.h>

struct reasm {
	uint8_t *buf;
	uint8_t *have;        /* one bit per byte of buf */
	size_t cap;
	size_t contiguous;    /* bytes [0, contiguous) are all present */
	size_t end;           /* no byte at or past end is present */
};

void reasm_init(struct reasm *r, size_t cap);
void reasm_finish(struct reasm *r);
/* Add len bytes at offset. 0, or -1 when out of memory (nothing added). */
int reasm_add(struct reasm *r, uint64_t offset, const uint8_t *data, size_t len);

#endif
