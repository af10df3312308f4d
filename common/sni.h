/*
 * sni: find the server name in a TLS ClientHello, from the first bytes a
 * client sends on a CONNECT tunnel (and, later, from the sensor's
 * reassembled TCP streams).
 *
 * Input is the raw byte stream from the client: one or more TLS records.
 * The ClientHello may be split across several TLS records and across reads;
 * the caller calls again with a longer prefix of the stream until the result
 * is no longer SNI_NEED_MORE. Pure: no allocation, never reads past len,
 * safe on any thread. What is accepted and what is refused, and why, is
 * written at the top of sni.c.
 */
#ifndef BREAKTIME_SNI_H
#define BREAKTIME_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostname.h"

/* We never wait for more than this many bytes of ClientHello (stream bytes,
 * record headers included): given len >= SNI_MAX_HELLO, neither function
 * returns SNI_NEED_MORE. */
#define SNI_MAX_HELLO (64 * 1024)

enum sni_result {
	SNI_FOUND,       /* name[] holds the normalised server name */
	SNI_ABSENT,      /* a complete, valid ClientHello without server_name */
	SNI_NEED_MORE,   /* a valid prefix: call again with more bytes */
	SNI_NOT_TLS,     /* the stream does not start with a TLS handshake record */
	SNI_INVALID,     /* TLS, but malformed (or the hello exceeds SNI_MAX_HELLO) */
};

/* Filled by every call; fields other than name and hello_len are only
 * meaningful when the result is SNI_FOUND or SNI_ABSENT. */
struct sni_info {
	char name[HOSTNAME_MAX + 1];  /* normalised; empty unless SNI_FOUND */
	bool ech;                     /* encrypted_client_hello extension present (outer SNI) */
	uint16_t legacy_version;      /* client_version field of the ClientHello */
	size_t hello_len;             /* bytes of stream used, when FOUND or ABSENT; else 0 */
	bool ip_literal;              /* server_name held an IP literal: reported as SNI_ABSENT */
};

enum sni_result sni_parse(const uint8_t *buf, size_t len, struct sni_info *info);

/* The same for a ClientHello handshake message without the record layer
 * (QUIC CRYPTO frames carry it that way): starts at the handshake type byte.
 * Never returns SNI_NOT_TLS (a first byte other than 1 is SNI_INVALID); bytes
 * after the message are ignored and hello_len is the message length. */
enum sni_result sni_parse_handshake(const uint8_t *msg, size_t len, struct sni_info *info);

const char *sni_result_name(enum sni_result r);

#endif
