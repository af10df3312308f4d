/*
 * quic: the client's Initial packets of a QUIC v1 (RFC 9000/9001) or v2
 * (RFC 9369) connection, opened the way any on-path observer can — the
 * Initial keys derive from the client's Destination Connection ID — to
 * reach the CRYPTO frames that carry the TLS ClientHello.
 *
 * Never reads past len; allocates nothing; the OpenSSL contexts are
 * created per call, so any thread may call these.
 */
#ifndef BREAKTIME_SENSOR_QUIC_H
#define BREAKTIME_SENSOR_QUIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUIC_V1 0x00000001u
#define QUIC_V2 0x6b3343cfu
#define QUIC_MAX_CID 20

enum quic_result {
	QUIC_OK,           /* a client Initial, decrypted */
	QUIC_NOT_INITIAL,  /* a QUIC packet of another type or version, or not QUIC */
	QUIC_BAD,          /* an Initial that does not parse or does not decrypt */
};

struct quic_keys {
	uint8_t key[16], iv[12], hp[16];
};

/* The client's Initial keys for version from the connection ID (0 or -1). */
int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
		      struct quic_keys *out);

struct quic_initial {
	uint32_t version;
	uint8_t dcid[QUIC_MAX_CID];
	size_t dcid_len;
	size_t packet_len;     /* bytes of the datagram this packet used (coalescing) */
	uint64_t pn;
	size_t payload_len;    /* the decrypted frames, in the caller's buffer */
};

/*
 * Parse the long-header packet at pkt (a datagram may coalesce several: the
 * next starts at pkt + out->packet_len, set whenever the header parsed) and,
 * if it is a client Initial, decrypt its frames into plain (which must hold
 * len bytes). keys: the connection's keys if known (a later Initial of the
 * same connection may carry another DCID), else NULL to derive them from this
 * packet's DCID.
 */
enum quic_result quic_initial_open(const uint8_t *pkt, size_t len, const struct quic_keys *keys,
				   struct quic_initial *out, uint8_t *plain);

/* Every CRYPTO frame in the decrypted frames of an Initial packet. */
typedef void quic_crypto_fn(void *ctx, uint64_t offset, const uint8_t *data, size_t len);
/* 0, or -1 for a frame that cannot be in an Initial or does not parse. */
int quic_frames(const uint8_t *frames, size_t len, quic_crypto_fn *fn, void *ctx);

/* Does the datagram start like a QUIC long-header packet of a known version? */
bool quic_looks_initial(const uint8_t *pkt, size_t len);

#endif
