/*
 * decode: one captured frame -> the IP addresses, the transport ports and
 * the transport payload that the sensor looks at.
 *
 * Link layers: Ethernet (with 802.1Q / 802.1ad / QinQ tags), Linux cooked
 * v1 and v2 (the "any" device), raw IP, BSD loopback (DLT_NULL, DLT_LOOP).
 * Network: IPv4 and IPv6 (extension headers skipped). Transport: TCP, UDP.
 * The sender's MAC address comes along where the link layer has one.
 *
 * Pure: no allocation, safe on any thread, never reads past caplen (the
 * captured length, which a small snaplen makes shorter than the frame).
 * An IP fragment (IPv4 with an offset or "more fragments"; IPv6 with a
 * fragment header that is not atomic) is DECODE_FRAGMENT with the
 * addresses, the frag_* fields and its data as the payload: ipfrag.c puts
 * the datagram together and decode_reassembled() decodes it.
 */
#ifndef BREAKTIME_SENSOR_DECODE_H
#define BREAKTIME_SENSOR_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Link types as libpcap's pcap_datalink() reports them (DLT_*). */
#define DECODE_DLT_NULL 0
#define DECODE_DLT_EN10MB 1
#define DECODE_DLT_RAW 12          /* Linux value; 14 on OpenBSD, 101 in files */
#define DECODE_DLT_RAW_BSD 14
#define DECODE_DLT_RAW_FILE 101
#define DECODE_DLT_LOOP 108
#define DECODE_DLT_LINUX_SLL 113
#define DECODE_DLT_IPV4 228
#define DECODE_DLT_IPV6 229
#define DECODE_DLT_LINUX_SLL2 276

enum decode_result {
	DECODE_OK,          /* pkt is filled */
	DECODE_TRUNCATED,   /* the headers did not fit in the captured bytes */
	DECODE_UNSUPPORTED, /* another link type, ethertype or transport */
	DECODE_FRAGMENT,    /* an IP fragment: frag_*, payload is its data */
	DECODE_MALFORMED,   /* a length or version field that cannot be right */
};

struct packet {
	uint8_t src_mac[6];         /* the sender's link-layer address, when has_src_mac */
	bool has_src_mac;           /* Ethernet, or a cooked capture of a frame received
				     * from an Ethernet sender (not one this host sent) */
	int family;                 /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];   /* network byte order; IPv4 in the first 4 bytes */
	uint8_t proto;              /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t sport, dport;
	uint32_t seq;               /* TCP */
	uint8_t tcp_flags;          /* TCP: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 */
	bool fragment;              /* unused: fragments are DECODE_FRAGMENT (always false) */
	uint32_t frag_id;           /* DECODE_FRAGMENT: the identification */
	uint32_t frag_off;          /* ... the data's offset in the datagram, in bytes */
	bool frag_more;             /* ... more fragments follow */
	const uint8_t *payload;     /* the captured part of the transport payload */
	size_t payload_len;
	size_t wire_len;            /* the payload length the IP header announces */
	size_t ip_len;              /* the IP packet's length on the wire (for byte counts) */
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

enum decode_result decode_frame(int linktype, const uint8_t *frame, size_t caplen,
				struct packet *pkt);

/* A datagram ipfrag_add() completed: pkt as the fragment filled it (family,
 * addresses, proto: the next header after the IP or fragment header), data
 * the reassembled payload. Fills the transport fields like decode_frame(). */
enum decode_result decode_reassembled(const uint8_t *data, size_t len, struct packet *pkt);

const char *decode_result_name(enum decode_result r);
bool decode_linktype_supported(int linktype);

#endif
