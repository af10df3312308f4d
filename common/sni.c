/*
 * sni: find the server name in a TLS ClientHello (RFC 8446 4.1.2 and 5.1,
 * RFC 6066 section 3), from the raw client byte stream of a CONNECT tunnel
 * or the sensor's TCP stream, or from a bare handshake message (QUIC CRYPTO).
 *
 * Must never: allocate, read buf at or past len, keep state between calls,
 * or report SNI_FOUND before the whole ClientHello has been seen and checked.
 * Pure and thread-safe; the only sizeable stack use is the 8 KiB bitmap of
 * extension types seen (cleared only for hellos of more than 32 extensions).
 *
 * DESIGN. The ClientHello is one handshake message that a client may split
 * over several TLS records. Rather than copy the fragments together (which
 * would need a buffer), a cursor reads the handshake message sequentially and
 * steps over each record header when the current fragment is used up, so the
 * parser sees one contiguous message whatever the record boundaries. Offsets
 * in the message (cursor.off) bound every vector: each length is checked
 * against its container (message body, extension block, extension, name list)
 * as soon as its length bytes are readable, so a corrupted length gives
 * SNI_INVALID without waiting for data that will never fit. Running out of
 * input anywhere gives SNI_NEED_MORE; the caller calls again with a longer
 * prefix and the parse restarts from the first byte (hellos are small; a
 * restart costs less than carrying state).
 *
 * Decisions, stricter or more lenient than a TLS stack, and why:
 *   - the first record must be content type 22 with version 0x0301..0x0304;
 *     anything else (HTTP, SSLv2-compatible hello, SSL 3.0) is SNI_NOT_TLS as
 *     soon as the first bytes show it. Later records of the same hello must
 *     also be handshake records, else SNI_INVALID (an alert or a CCS cannot
 *     interrupt a ClientHello).
 *   - records are 1..2^14 bytes (RFC 8446 5.1: no empty handshake fragments);
 *     the ClientHello must end exactly at a record boundary (5.1: it precedes
 *     a key change), so trailing bytes in its last record are SNI_INVALID.
 *     Records after the hello (0-RTT data) are not looked at; hello_len says
 *     where the hello ended.
 *   - SNI_MAX_HELLO bounds the stream bytes, record headers included: a
 *     record that would end past it, or a handshake message longer than it,
 *     is SNI_INVALID at once, so a caller never buffers more than that.
 *   - duplicate extension types are SNI_INVALID (RFC 8446 4.2), which also
 *     stops a client from hiding a second server_name behind the first.
 *   - server_name: the list must fill the extension exactly and not be
 *     empty; entries are (type, 16-bit length, bytes); entries of unknown
 *     name types are skipped; a second host_name entry is SNI_INVALID.
 *   - the host_name must be LDH characters (plus '_', as CDNs use) and
 *     normalise with hostname_normalise(); a trailing dot is accepted and
 *     dropped. Anything else (a port, spaces, NUL, UTF-8, a 254+ byte name)
 *     is SNI_INVALID: a client sending it is broken or evasive and the
 *     proxy's policy decides what to do with it.
 *   - an IP literal (RFC 6066 forbids it, a few clients send it anyway) is
 *     reported as SNI_ABSENT with info->ip_literal set: it names no site, so
 *     it must not be matched against the catalog, yet the hello is usable.
 *   - encrypted_client_hello (0xfe0d) sets info->ech: the name found is then
 *     the outer (public) name, not the site the client is visiting. Chromium
 *     sends a GREASE ECH extension with no real ECH config as well, so ech
 *     means "the name may not be the real one", not "it is not".
 *   - legacy_version must have major 3; the compression and cipher lists
 *     must be non-empty; cipher suites come in pairs; the session id is at
 *     most 32 bytes; a hello without an extension block is SNI_ABSENT.
 */
#include "sni.h"

#include <string.h>

#define TLS_CONTENT_HANDSHAKE 22
#define TLS_HANDSHAKE_CLIENT_HELLO 1
#define TLS_RECORD_HEADER 5
#define TLS_MAX_FRAGMENT (1u << 14)
#define TLS_EXT_SERVER_NAME 0x0000
#define TLS_EXT_ECH 0xfe0d
#define SNI_HOST_NAME 0

/* Reads the handshake message as one sequence, over record boundaries. */
struct sni_cursor {
	const uint8_t *buf;
	size_t len;          /* bytes of buf available */
	size_t pos;          /* next byte of buf to read */
	bool records;        /* buf is a record stream (else a bare message) */
	size_t frag_left;    /* record mode: unread bytes of the current record */
	size_t off;          /* offset in the handshake message of the next byte */
	enum sni_result err; /* why a read failed (valid after one returned -1) */
};

static int sni_cursor_fail(struct sni_cursor *c, enum sni_result why)
{
	c->err = why;
	return -1;
}

/* Step over the next record header at c->pos, checking what is there of it. */
static int sni_cursor_record(struct sni_cursor *c)
{
	const uint8_t *h = c->buf + c->pos;
	size_t avail = c->len - c->pos;
	enum sni_result bad = c->pos == 0 ? SNI_NOT_TLS : SNI_INVALID;
	size_t rlen;

	if (avail >= 1 && h[0] != TLS_CONTENT_HANDSHAKE)
		return sni_cursor_fail(c, bad);
	if (avail >= 2 && h[1] != 3)
		return sni_cursor_fail(c, bad);
	if (avail >= 3 && (h[2] < 1 || h[2] > 4))
		return sni_cursor_fail(c, bad);
	/* Even a 1-byte record here would end past the bound: say so now, so
	 * that a caller holding SNI_MAX_HELLO bytes never hears NEED_MORE. */
	if (c->pos + TLS_RECORD_HEADER + 1 > SNI_MAX_HELLO)
		return sni_cursor_fail(c, SNI_INVALID);
	if (avail < TLS_RECORD_HEADER)
		return sni_cursor_fail(c, SNI_NEED_MORE);
	rlen = (size_t)h[3] << 8 | h[4];
	if (rlen == 0 || rlen > TLS_MAX_FRAGMENT)
		return sni_cursor_fail(c, SNI_INVALID);
	if (c->pos + TLS_RECORD_HEADER + rlen > SNI_MAX_HELLO)
		return sni_cursor_fail(c, SNI_INVALID);
	c->pos += TLS_RECORD_HEADER;
	c->frag_left = rlen;
	return 0;
}

/* Read n bytes of the message into dst, or skip them when dst is NULL. */
static int sni_cursor_read(struct sni_cursor *c, uint8_t *dst, size_t n)
{
	while (n > 0) {
		if (c->records && c->frag_left == 0 && sni_cursor_record(c) < 0)
			return -1;
		size_t k = n;
		if (c->records && k > c->frag_left)
			k = c->frag_left;
		if (k > c->len - c->pos)
			k = c->len - c->pos;
		if (k == 0)
			return sni_cursor_fail(c, SNI_NEED_MORE);
		if (dst) {
			memcpy(dst, c->buf + c->pos, k);
			dst += k;
		}
		c->pos += k;
		c->off += k;
		n -= k;
		if (c->records)
			c->frag_left -= k;
	}
	return 0;
}

/* A big-endian integer of width bytes (1..3) that must end by `end`. */
static int sni_cursor_uint(struct sni_cursor *c, size_t width, size_t end, size_t *v)
{
	uint8_t b[3];

	if (c->off + width > end)
		return sni_cursor_fail(c, SNI_INVALID);
	if (sni_cursor_read(c, b, width) < 0)
		return -1;
	*v = 0;
	for (size_t i = 0; i < width; i++)
		*v = *v << 8 | b[i];
	return 0;
}

/* The length prefix of a vector: the vector itself must also end by `end`. */
static int sni_cursor_vector(struct sni_cursor *c, size_t width, size_t end, size_t *vlen)
{
	if (sni_cursor_uint(c, width, end, vlen) < 0)
		return -1;
	if (*vlen > end - c->off)
		return sni_cursor_fail(c, SNI_INVALID);
	return 0;
}

static bool sni_name_chars_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		      ch == '_' || ch == ':'))
			return false;
	}
	return true;
}

/*
 * The server_name extension body, ending at message offset `end`. On success
 * *kind is HOST_INVALID when there was no host_name entry, else the kind of
 * the normalised name written to out (HOST_NAME, HOST_IPV4 or HOST_IPV6).
 */
static int sni_server_name(struct sni_cursor *c, size_t end, char *out, enum host_kind *kind)
{
	uint8_t raw[HOSTNAME_MAX + 2];
	size_t list_len, type, nlen;

	*kind = HOST_INVALID;
	if (sni_cursor_vector(c, 2, end, &list_len) < 0)
		return -1;
	if (list_len == 0 || c->off + list_len != end)
		return sni_cursor_fail(c, SNI_INVALID);
	while (c->off < end) {
		if (sni_cursor_uint(c, 1, end, &type) < 0 || sni_cursor_vector(c, 2, end, &nlen) < 0)
			return -1;
		if (type != SNI_HOST_NAME) {
			if (sni_cursor_read(c, NULL, nlen) < 0)
				return -1;
			continue;
		}
		if (*kind != HOST_INVALID)
			return sni_cursor_fail(c, SNI_INVALID); /* a second host_name */
		/* HOSTNAME_MAX and one trailing dot */
		if (nlen == 0 || nlen > HOSTNAME_MAX + 1)
			return sni_cursor_fail(c, SNI_INVALID);
		if (sni_cursor_read(c, raw, nlen) < 0)
			return -1;
		if (!sni_name_chars_ok(raw, nlen))
			return sni_cursor_fail(c, SNI_INVALID);
		*kind = hostname_normalise((const char *)raw, nlen, out);
		/* hostname_normalise() takes "host:port": a colon is only
		 * acceptable as part of an IPv6 literal. It also drops only one
		 * of two trailing dots ("a.." -> "a."): refuse what is left. */
		if (*kind == HOST_INVALID ||
		    (*kind != HOST_IPV6 && memchr(raw, ':', nlen) != NULL) ||
		    out[strlen(out) - 1] == '.')
			return sni_cursor_fail(c, SNI_INVALID);
	}
	return 0;
}

/*
 * The extension types seen so far. A short list covers every real client
 * (Chromium sends about 18); past it a full bitmap takes over, so a hostile
 * hello of thousands of tiny extensions costs O(n), not O(n^2), and the
 * common case does not pay for clearing 8 KiB.
 */
#define SNI_SEEN_LIST 32

struct sni_seen {
	uint16_t list[SNI_SEEN_LIST];
	size_t n;
	bool big;
	uint64_t bits[65536 / 64]; /* only when big */
};

/* Add type; returns -1 if it was already there. */
static int sni_seen_add(struct sni_seen *s, uint16_t type)
{
	if (!s->big) {
		for (size_t i = 0; i < s->n; i++)
			if (s->list[i] == type)
				return -1;
		if (s->n < SNI_SEEN_LIST) {
			s->list[s->n++] = type;
			return 0;
		}
		memset(s->bits, 0, sizeof(s->bits));
		for (size_t i = 0; i < s->n; i++)
			s->bits[s->list[i] / 64] |= UINT64_C(1) << (s->list[i] % 64);
		s->big = true;
	}
	if (s->bits[type / 64] & (UINT64_C(1) << (type % 64)))
		return -1;
	s->bits[type / 64] |= UINT64_C(1) << (type % 64);
	return 0;
}

/* Walk the extension block [c->off, end). */
static int sni_extensions(struct sni_cursor *c, size_t end, struct sni_info *info,
			  char *name, enum host_kind *kind)
{
	struct sni_seen seen;
	size_t type, elen;

	seen.n = 0;
	seen.big = false;
	*kind = HOST_INVALID;
	while (c->off < end) {
		if (sni_cursor_uint(c, 2, end, &type) < 0 || sni_cursor_vector(c, 2, end, &elen) < 0)
			return -1;
		if (sni_seen_add(&seen, (uint16_t)type) < 0)
			return sni_cursor_fail(c, SNI_INVALID);
		size_t ext_end = c->off + elen;
		switch (type) {
		case TLS_EXT_SERVER_NAME:
			if (sni_server_name(c, ext_end, name, kind) < 0)
				return -1;
			break;
		case TLS_EXT_ECH:
			info->ech = true;
			/* fall through */
		default:
			if (sni_cursor_read(c, NULL, elen) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

/* The ClientHello handshake message at the cursor. */
static enum sni_result sni_hello(struct sni_cursor *c, struct sni_info *info)
{
	char name[HOSTNAME_MAX + 1];
	enum host_kind kind = HOST_INVALID;
	size_t v, body_len, end, n;

	memset(info, 0, sizeof(*info));
	/* Handshake header: type, then a 24-bit length. */
	if (sni_cursor_uint(c, 1, SIZE_MAX, &v) < 0)
		return c->err;
	if (v != TLS_HANDSHAKE_CLIENT_HELLO)
		return SNI_INVALID;
	if (sni_cursor_uint(c, 3, SIZE_MAX, &body_len) < 0)
		return c->err;
	if (body_len > SNI_MAX_HELLO - 4)
		return SNI_INVALID;
	end = 4 + body_len;

	if (sni_cursor_uint(c, 2, end, &v) < 0)
		return c->err;
	if (v >> 8 != 3)
		return SNI_INVALID;
	info->legacy_version = (uint16_t)v;
	if (c->off + 32 > end)
		return SNI_INVALID;
	if (sni_cursor_read(c, NULL, 32) < 0) /* random */
		return c->err;
	if (sni_cursor_vector(c, 1, end, &n) < 0) /* legacy_session_id */
		return c->err;
	if (n > 32)
		return SNI_INVALID;
	if (sni_cursor_read(c, NULL, n) < 0)
		return c->err;
	if (sni_cursor_vector(c, 2, end, &n) < 0) /* cipher_suites */
		return c->err;
	if (n < 2 || n % 2 != 0)
		return SNI_INVALID;
	if (sni_cursor_read(c, NULL, n) < 0)
		return c->err;
	if (sni_cursor_vector(c, 1, end, &n) < 0) /* legacy_compression_methods */
		return c->err;
	if (n < 1)
		return SNI_INVALID;
	if (sni_cursor_read(c, NULL, n) < 0)
		return c->err;
	if (c->off < end) {
		if (sni_cursor_vector(c, 2, end, &n) < 0)
			return c->err;
		if (c->off + n != end)
			return SNI_INVALID;
		if (sni_extensions(c, end, info, name, &kind) < 0)
			return c->err;
	}
	/* The hello must end with its record (RFC 8446 5.1). */
	if (c->records && c->frag_left != 0)
		return SNI_INVALID;

	info->hello_len = c->pos;
	if (kind == HOST_NAME) {
		memcpy(info->name, name, strlen(name) + 1);
		return SNI_FOUND;
	}
	info->ip_literal = kind == HOST_IPV4 || kind == HOST_IPV6;
	return SNI_ABSENT;
}

enum sni_result sni_parse_handshake(const uint8_t *msg, size_t len, struct sni_info *info)
{
	struct sni_cursor c = {.buf = msg, .len = len, .records = false};
	enum sni_result r = sni_hello(&c, info);

	if (r != SNI_FOUND && r != SNI_ABSENT)
		info->hello_len = 0;
	return r;
}

enum sni_result sni_parse(const uint8_t *buf, size_t len, struct sni_info *info)
{
	struct sni_cursor c = {.buf = buf, .len = len, .records = true};
	enum sni_result r = sni_hello(&c, info);

	if (r != SNI_FOUND && r != SNI_ABSENT)
		info->hello_len = 0;
	return r;
}

const char *sni_result_name(enum sni_result r)
{
	static const char *const names[] = {"found", "absent", "need-more", "not-tls", "invalid"};
	return (unsigned)r < 5 ? names[r] : "?";
}
