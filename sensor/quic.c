/*
 * quic: Initial packet protection (RFC 9001 section 5), undone.
 *
 *   initial_secret = HKDF-Extract(initial_salt, client DCID)
 *   client_secret  = HKDF-Expand-Label(initial_secret, "client in", "", 32)
 *   key/iv/hp      = HKDF-Expand-Label(client_secret, "quic key"/"quic iv"/"quic hp")
 *                    (v2: "quicv2 key"/"quicv2 iv"/"quicv2 hp", another salt)
 * Header protection: AES-128-ECB of the 16-byte sample taken 4 bytes after
 * the packet number's start gives the mask for the first byte's low 4 bits
 * and the packet number. Payload: AES-128-GCM, nonce = iv XOR packet number,
 * the header (unprotected, up to the packet number) as associated data.
 *
 * Everything is bounded by the packet's own Length field and by len; a
 * packet that fails authentication yields nothing (QUIC_BAD), so forged or
 * corrupted bytes never reach the ClientHello parser.
 */
#include "quic.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static const uint8_t salt_v1[20] = {
	0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
};
static const uint8_t salt_v2[20] = {
	0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
	0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
};

/* SHA-256 and AES, fetched once: HMAC() and EVP_aes_128_*() look the
 * algorithms up by name on every call (HMAC(): about 20,000 instructions
 * each, five per QUIC flow). */
static EVP_MD *sha256;
static EVP_CIPHER *aes_128_ecb, *aes_128_gcm;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	aes_128_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	aes_128_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
}

/* HMAC-SHA256 (RFC 2104) with a key of at most one block (64 bytes). */
static int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
		       uint8_t out[32])
{
	pthread_once(&fetch_once, fetch_algorithms);
	if (!sha256 || key_len > 64)
		return -1;
	uint8_t ipad[64], opad[64], inner[32];
	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (size_t i = 0; i < key_len; i++) {
		ipad[i] ^= key[i];
		opad[i] ^= key[i];
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n1 = 0, n2 = 0;
	int ok = ctx && EVP_DigestInit_ex2(ctx, sha256, NULL) == 1 &&
		 EVP_DigestUpdate(ctx, ipad, sizeof(ipad)) == 1 &&
		 EVP_DigestUpdate(ctx, msg, len) == 1 &&
		 EVP_DigestFinal_ex(ctx, inner, &n1) == 1 && n1 == 32 &&
		 EVP_DigestInit_ex2(ctx, sha256, NULL) == 1 &&
		 EVP_DigestUpdate(ctx, opad, sizeof(opad)) == 1 &&
		 EVP_DigestUpdate(ctx, inner, sizeof(inner)) == 1 &&
		 EVP_DigestFinal_ex(ctx, out, &n2) == 1 && n2 == 32;
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	return ok ? 0 : -1;
}

/* HKDF-Expand-Label (RFC 8446 7.1) with an empty context, for out_len <= 32. */
static int expand_label(const uint8_t *secret, const char *label, uint8_t *out, size_t out_len)
{
	uint8_t info[2 + 1 + 6 + 32 + 1 + 1];
	size_t llen = strlen(label), n = 0;
	if (llen > 32 || out_len > 32)
		return -1;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + llen);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, llen);
	n += llen;
	info[n++] = 0;      /* context length */
	info[n++] = 0x01;   /* HKDF-Expand counter: T(1) suffices for <= 32 bytes */
	uint8_t t[32];
	if (hmac_sha256(secret, 32, info, n, t) < 0)
		return -1;
	memcpy(out, t, out_len);
	return 0;
}

/* The last connection ID's keys, per thread: an Initial that fails with a
 * flow's keys is tried again under its own DCID, which is most often the
 * same one (a flood of undecryptable Initials would derive everything twice). */
static _Thread_local struct {
	bool valid;
	uint32_t version;
	uint8_t dcid[QUIC_MAX_CID];
	size_t dcid_len;
	struct quic_keys keys;
} last_keys;

static int derive_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
		       struct quic_keys *out)
{
	bool v2 = version == QUIC_V2;
	if (version != QUIC_V1 && !v2)
		return -1;
	uint8_t initial[32], client[32];
	/* HKDF-Extract(salt, IKM) = HMAC(salt, IKM) */
	if (hmac_sha256(v2 ? salt_v2 : salt_v1, 20, dcid, dcid_len, initial) < 0)
		return -1;
	if (expand_label(initial, "client in", client, 32) < 0 ||
	    expand_label(client, v2 ? "quicv2 key" : "quic key", out->key, 16) < 0 ||
	    expand_label(client, v2 ? "quicv2 iv" : "quic iv", out->iv, 12) < 0 ||
	    expand_label(client, v2 ? "quicv2 hp" : "quic hp", out->hp, 16) < 0)
		return -1;
	return 0;
}

int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
		      struct quic_keys *out)
{
	if (last_keys.valid && last_keys.version == version && last_keys.dcid_len == dcid_len &&
	    (dcid_len == 0 || memcmp(last_keys.dcid, dcid, dcid_len) == 0)) {
		*out = last_keys.keys;
		return 0;
	}
	if (derive_keys(version, dcid, dcid_len, out) < 0)
		return -1;
	if (dcid_len <= QUIC_MAX_CID) {
		last_keys.valid = true;
		last_keys.version = version;
		if (dcid_len)
			memcpy(last_keys.dcid, dcid, dcid_len);
		last_keys.dcid_len = dcid_len;
		last_keys.keys = *out;
	}
	return 0;
}

/* A variable-length integer (RFC 9000 16) at *pos; 0 or -1. */
static int varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	if (*pos >= len)
		return -1;
	size_t n = (size_t)1 << (p[*pos] >> 6);
	if (len - *pos < n)
		return -1;
	uint64_t x = p[*pos] & 0x3f;
	for (size_t i = 1; i < n; i++)
		x = x << 8 | p[*pos + i];
	*pos += n;
	*v = x;
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool quic_looks_initial(const uint8_t *pkt, size_t len)
{
	if (len < 7 || (pkt[0] & 0xc0) != 0xc0)
		return false;
	uint32_t v = rd32(pkt + 1);
	unsigned type = (pkt[0] >> 4) & 3;
	return (v == QUIC_V1 && type == 0) || (v == QUIC_V2 && type == 1);
}

static int aes_ecb(const uint8_t *key, const uint8_t *in, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ok = 0, n = 0, m = 0;
	pthread_once(&fetch_once, fetch_algorithms);
	if (ctx && EVP_EncryptInit_ex(ctx, aes_128_ecb ? aes_128_ecb : EVP_aes_128_ecb(), NULL, key,
				      NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, out, &n, in, 16) == 1 &&
	    EVP_EncryptFinal_ex(ctx, out + n, &m) == 1 && n + m == 16)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int aes_gcm_open(const struct quic_keys *k, const uint8_t *nonce, const uint8_t *aad,
			size_t aad_len, const uint8_t *ct, size_t ct_len, const uint8_t *tag,
			uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ok = 0, n = 0, m = 0;
	pthread_once(&fetch_once, fetch_algorithms);
	if (ctx && EVP_DecryptInit_ex(ctx, aes_128_gcm ? aes_128_gcm : EVP_aes_128_gcm(), NULL, NULL,
				      NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
	    EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, nonce) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &n, ct, (int)ct_len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + n, &m) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

enum quic_result quic_initial_open(const uint8_t *pkt, size_t len, const struct quic_keys *keys,
				   struct quic_initial *out, uint8_t *plain)
{
	memset(out, 0, sizeof(*out));
	if (len < 7 || !(pkt[0] & 0x80))
		return QUIC_NOT_INITIAL;
	uint32_t version = rd32(pkt + 1);
	size_t pos = 5;
	if (pkt[pos] > QUIC_MAX_CID || len - pos - 1 < pkt[pos])
		return QUIC_BAD;
	out->version = version;
	out->dcid_len = pkt[pos];
	memcpy(out->dcid, pkt + pos + 1, out->dcid_len);
	pos += 1 + out->dcid_len;
	if (pos >= len || pkt[pos] > QUIC_MAX_CID || len - pos - 1 < pkt[pos])
		return QUIC_BAD;
	pos += 1 + (size_t)pkt[pos];
	uint64_t token_len, length;
	unsigned type = (pkt[0] >> 4) & 3;
	bool initial = (version == QUIC_V1 && type == 0) || (version == QUIC_V2 && type == 1);
	if (version != QUIC_V1 && version != QUIC_V2)
		return QUIC_NOT_INITIAL;   /* another version: its layout is unknown past the CIDs */
	if (type == 3) {
		/* Retry: no Length field; it ends the datagram */
		out->packet_len = len;
		return QUIC_NOT_INITIAL;
	}
	if (initial) {
		if (varint(pkt, len, &pos, &token_len) < 0 || token_len > len - pos)
			return QUIC_BAD;
		pos += (size_t)token_len;
	}
	if (varint(pkt, len, &pos, &length) < 0 || length > len - pos)
		return QUIC_BAD;
	out->packet_len = pos + (size_t)length;
	if (!initial)
		return QUIC_NOT_INITIAL;
	size_t pn_off = pos;
	/* the sample starts 4 bytes into the packet number field; a tag follows */
	if (length < 4 + 16)
		return QUIC_BAD;

	struct quic_keys derived;
	if (!keys) {
		if (quic_initial_keys(version, out->dcid, out->dcid_len, &derived) < 0)
			return QUIC_BAD;
		keys = &derived;
	}
	uint8_t mask[16];
	if (aes_ecb(keys->hp, pkt + pn_off + 4, mask) < 0)
		return QUIC_BAD;
	/* the unprotected header, which is also the associated data */
	memcpy(plain, pkt, pn_off + 4);
	plain[0] ^= mask[0] & 0x0f;
	size_t pn_len = (size_t)(plain[0] & 3) + 1;
	uint64_t pn = 0;
	for (size_t i = 0; i < pn_len; i++) {
		plain[pn_off + i] ^= mask[1 + i];
		pn = pn << 8 | plain[pn_off + i];
	}
	size_t hdr_len = pn_off + pn_len;
	size_t ct_len = out->packet_len - hdr_len;
	if (ct_len < 16)
		return QUIC_BAD;
	ct_len -= 16;
	uint8_t nonce[12];
	memcpy(nonce, keys->iv, 12);
	for (size_t i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
	/* decrypt after the header copy: plain holds len bytes, header + ct < len */
	if (aes_gcm_open(keys, nonce, plain, hdr_len, pkt + hdr_len, ct_len, pkt + hdr_len + ct_len,
			 plain + hdr_len) < 0)
		return QUIC_BAD;
	memmove(plain, plain + hdr_len, ct_len);
	out->pn = pn;
	out->payload_len = ct_len;
	return QUIC_OK;
}

int quic_frames(const uint8_t *f, size_t len, quic_crypto_fn *fn, void *ctx)
{
	size_t pos = 0;
	while (pos < len) {
		uint64_t type, a, b, c, n;
		if (varint(f, len, &pos, &type) < 0)
			return -1;
		switch (type) {
		case 0x00: /* PADDING */
		case 0x01: /* PING */
			break;
		case 0x02: /* ACK */
		case 0x03: /* ACK with ECN counts */
			if (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &b) < 0 ||
			    varint(f, len, &pos, &n) < 0 || varint(f, len, &pos, &c) < 0)
				return -1;
			for (uint64_t i = 0; i < n; i++)
				if (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &b) < 0)
					return -1;
			if (type == 0x03)
				for (int i = 0; i < 3; i++)
					if (varint(f, len, &pos, &a) < 0)
						return -1;
			break;
		case 0x06: /* CRYPTO */
			if (varint(f, len, &pos, &a) < 0 || varint(f, len, &pos, &b) < 0 ||
			    b > len - pos)
				return -1;
			if (fn)
				fn(ctx, a, f + pos, (size_t)b);
			pos += (size_t)b;
			break;
		case 0x1c: /* CONNECTION_CLOSE: nothing after it matters */
			return 0;
		default:
			return -1;
		}
	}
	return 0;
}
