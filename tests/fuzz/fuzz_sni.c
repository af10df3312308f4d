/*
 * fuzz_sni: libFuzzer target for the TLS ClientHello parser (common/sni.c).
 *
 * Feeds the input as a client byte stream (whole, and every prefix up to 300
 * bytes, as a proxy reading a tunnel would) and as a bare handshake message
 * (as the sensor does with QUIC CRYPTO data), and checks the contract, not
 * only the absence of crashes:
 *   - a final answer, once given for a prefix, never changes with more bytes;
 *   - FOUND/ABSENT say how long the hello was, and that prefix alone gives
 *     the same answer while one byte less gives NEED_MORE (never early);
 *   - a name found is non-empty and already in normal form;
 *   - with SNI_MAX_HELLO bytes or more, the answer is never NEED_MORE.
 * Seeds: tests/data/fuzz/fuzz_sni/ (the real captures and crafted ones).
 * Must never allocate outside the parser's contract or touch the network.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX_MAX 300

static void check_final(const uint8_t *data, size_t size, enum sni_result r,
			const struct sni_info *info, int handshake)
{
	struct sni_info again;
	char norm[HOSTNAME_MAX + 1];

	if (r == SNI_NEED_MORE && size >= SNI_MAX_HELLO)
		abort();
	if (r != SNI_FOUND && r != SNI_ABSENT) {
		if (info->name[0] != '\0' || info->hello_len != 0)
			abort();
		return;
	}
	if (info->hello_len == 0 || info->hello_len > size)
		abort();
	if (r == SNI_FOUND) {
		size_t n = strlen(info->name);
		if (n == 0 || n > HOSTNAME_MAX)
			abort();
		if (hostname_normalise(info->name, n, norm) != HOST_NAME || strcmp(norm, info->name) != 0)
			abort();
	} else if (info->name[0] != '\0') {
		abort();
	}
	/* The hello alone gives the same answer; one byte less is not enough. */
	enum sni_result r2 = handshake ? sni_parse_handshake(data, info->hello_len, &again)
				       : sni_parse(data, info->hello_len, &again);
	if (r2 != r || strcmp(again.name, info->name) != 0 || again.ech != info->ech ||
	    again.hello_len != info->hello_len)
		abort();
	r2 = handshake ? sni_parse_handshake(data, info->hello_len - 1, &again)
		       : sni_parse(data, info->hello_len - 1, &again);
	if (r2 != SNI_NEED_MORE)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sni_info info;
	enum sni_result r, first_final = SNI_NEED_MORE;
	size_t limit = size < PREFIX_MAX ? size : PREFIX_MAX;

	for (size_t n = 0; n <= limit; n++) {
		r = sni_parse(data, n, &info);
		if (first_final != SNI_NEED_MORE && r != first_final)
			abort();
		if (r != SNI_NEED_MORE)
			first_final = r;
		check_final(data, n, r, &info, 0);
	}
	r = sni_parse(data, size, &info);
	if (first_final != SNI_NEED_MORE && r != first_final)
		abort();
	check_final(data, size, r, &info, 0);
	if (size > 0 && data[0] != 22 && r != SNI_NOT_TLS)
		abort();

	r = sni_parse_handshake(data, size, &info);
	if (r == SNI_NOT_TLS)
		abort();
	check_final(data, size, r, &info, 1);
	return 0;
}
