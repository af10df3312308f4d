/*
 * reasm: see reasm.h. A first copy of a byte wins; a retransmission with
 * different bytes does not change what was already there.
 */
#include "reasm.h"

#include <stdlib.h>
#include <string.h>

void reasm_init(struct reasm *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
}

void reasm_finish(struct reasm *r)
{
	free(r->buf);
	free(r->have);
	r->buf = r->have = NULL;
	r->contiguous = r->end = 0;
}

int reasm_add(struct reasm *r, uint64_t offset, const uint8_t *data, size_t len)
{
	if (offset >= r->cap || len == 0)
		return 0;
	if (!r->buf) {
		r->buf = malloc(r->cap);
		r->have = calloc((r->cap + 7) / 8, 1);
		if (!r->buf || !r->have) {
			reasm_finish(r);
			return -1;
		}
	}
	size_t off = (size_t)offset;
	if (len > r->cap - off)
		len = r->cap - off;
	if (off == r->contiguous && off >= r->end) {
		/* the common case, in order past everything seen: copy, mark in bulk */
		memcpy(r->buf + off, data, len);
		size_t k = off, e = off + len;
		for (; k < e && k % 8; k++)
			r->have[k / 8] |= (uint8_t)(1u << (k % 8));
		if (e - k >= 8) {
			memset(r->have + k / 8, 0xff, (e - k) / 8);
			k += (e - k) / 8 * 8;
		}
		for (; k < e; k++)
			r->have[k / 8] |= (uint8_t)(1u << (k % 8));
		r->contiguous = r->end = e;
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		size_t k = off + i;
		if (!(r->have[k / 8] & (1u << (k % 8)))) {
			r->buf[k] = data[i];
			r->have[k / 8] |= (uint8_t)(1u << (k % 8));
		}
	}
	if (off + len > r->end)
		r->end = off + len;
	while (r->contiguous < r->cap && (r->have[r->contiguous / 8] & (1u << (r->contiguous % 8))))
		r->contiguous++;
	return 0;
}
