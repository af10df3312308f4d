/*
 * fuzz_chunked: libFuzzer target for the chunked-body decoder
 * (proxy/http_chunked.c). The input is a body as it arrives from a peer; it is
 * fed whole, one byte at a time, and in pieces whose sizes come from a
 * generator seeded by the input, and the result (verdict, bytes consumed,
 * payload bytes) must be the same every way: a decoder that depends on
 * where reads happen to split is a smuggling bug. Also checked: consumed
 * never exceeds what was fed, MORE consumes everything, DONE ends on CRLF,
 * and a finished decoder stays finished.
 * Seeds: tests/data/fuzz/fuzz_chunked/. Must never keep state between inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	enum chunk_result res;
	size_t consumed;
	uint64_t payload;
};

/* next_piece(state) -> size of the next piece (>= 1) */
typedef size_t (*piece_fn)(uint64_t *state);

static size_t piece_all(uint64_t *state)
{
	(void)state;
	return SIZE_MAX;
}

static size_t piece_one(uint64_t *state)
{
	(void)state;
	return 1;
}

static size_t piece_random(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	uint64_t r = *state >> 33;
	/* mostly small pieces, sometimes large ones */
	return (r & 3) ? (size_t)(r % 7) + 1 : (size_t)(r % 300) + 1;
}

static struct outcome feed(const char *buf, size_t size, piece_fn next, uint64_t seed)
{
	struct chunk_decoder d;
	struct outcome o = {CHUNK_MORE, 0, 0};
	size_t off = 0;

	chunk_decoder_init(&d);
	do {
		size_t n = next(&seed);
		if (n > size - off)
			n = size - off;
		size_t used = SIZE_MAX;
		o.res = chunk_decoder_feed(&d, buf + off, n, &used);
		if (used > n)
			abort();
		if (o.res == CHUNK_MORE && used != n)
			abort();
		o.consumed = off + used;
		if (o.res != CHUNK_MORE) {
			/* stays finished, consumes nothing more */
			size_t again = SIZE_MAX;
			if (chunk_decoder_feed(&d, buf, size, &again) != o.res || again != 0)
				abort();
			break;
		}
		off += n;
	} while (off < size);
	o.payload = d.data_bytes;
	if (o.payload > o.consumed)
		abort();
	return o;
}

static void same(struct outcome a, struct outcome b)
{
	if (a.res != b.res || a.consumed != b.consumed || a.payload != b.payload)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 0x100000001b3ULL;

	struct outcome whole = feed(buf, size, piece_all, 0);
	if (whole.res == CHUNK_DONE &&
	    (whole.consumed < 5 || memcmp(buf + whole.consumed - 2, "\r\n", 2) != 0))
		abort();
	same(whole, feed(buf, size, piece_one, 0));
	same(whole, feed(buf, size, piece_random, seed));
	same(whole, feed(buf, size, piece_random, seed ^ size));
	return 0;
}
