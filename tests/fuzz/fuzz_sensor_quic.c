/*
 * fuzz_sensor_quic: libFuzzer target for breaktime-sensor's QUIC Initial
 * decoder (sensor/quic.c).
 *
 * The input is a UDP payload. Every coalesced packet in it goes through
 * quic_initial_open() with keys from its own DCID and with the fixed keys of
 * RFC 9001 Appendix A (so mutations of the RFC packet keep reaching the
 * frame parser), and the contract is checked: packet_len within the input,
 * decrypted frames shorter than the packet; then quic_frames() runs on the
 * decrypted frames and on the raw input, and every CRYPTO range it reports
 * lies inside its buffer. Never touches the network.
 * Seeds: tests/data/fuzz/fuzz_sensor_quic/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *buf_start;
static size_t buf_len;

static void on_crypto(void *ctx, uint64_t off, const uint8_t *d, size_t n)
{
	if (d < buf_start || d + n > buf_start + buf_len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t rfc_dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
	struct quic_keys rfc;
	if (quic_initial_keys(QUIC_V1, rfc_dcid, sizeof(rfc_dcid), &rfc) < 0)
		abort();
	uint8_t *in = malloc(size ? size : 1), *plain = malloc(size ? size : 1);
	memcpy(in, data, size);
	size_t pos = 0;
	for (int round = 0; round < 8 && pos < size; round++) {
		struct quic_initial qi;
		size_t used = 0;
		for (int k = 0; k < 2; k++) {
			enum quic_result r = quic_initial_open(in + pos, size - pos, k ? &rfc : NULL, &qi, plain);
			if (qi.packet_len > size - pos)
				abort();
			if (r == QUIC_OK) {
				if (qi.payload_len >= qi.packet_len)
					abort();
				buf_start = plain;
				buf_len = qi.payload_len;
				quic_frames(plain, qi.payload_len, on_crypto, NULL);
			}
			used = qi.packet_len;
		}
		if (used == 0)
			break;
		pos += used;
	}
	buf_start = in;
	buf_len = size;
	quic_frames(in, size, on_crypto, NULL);
	free(in);
	free(plain);
	return 0;
}
