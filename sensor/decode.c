/*
 * decode: link, network and transport headers of one captured frame.
 *
 * Every read is checked against the captured length first; lengths from the
 * headers only ever shorten what is used, never lengthen it. A frame whose
 * IP header announces less than was captured (Ethernet padding) is cut to
 * the announced length; one announcing more (snaplen) keeps what was
 * captured and says how much the wire carried in wire_len.
 */
#include "decode.h"

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum decode_result decode_transport(uint8_t proto, const uint8_t *p, size_t caplen,
					   size_t wire, struct packet *pkt)
{
	pkt->proto = proto;
	if (proto == IPPROTO_UDP) {
		if (caplen < 8)
			return DECODE_TRUNCATED;
		pkt->sport = rd16(p);
		pkt->dport = rd16(p + 2);
		size_t ulen = rd16(p + 4);
		/* the UDP length may only shorten */
		if (ulen < 8 || ulen > wire)
			return DECODE_MALFORMED;
		if (ulen < wire)
			wire = ulen;
		if (caplen > wire)
			caplen = wire;
		pkt->payload = p + 8;
		pkt->payload_len = caplen - 8;
		pkt->wire_len = wire - 8;
		return DECODE_OK;
	}
	if (proto == IPPROTO_TCP) {
		if (caplen < 20)
			return DECODE_TRUNCATED;
		pkt->sport = rd16(p);
		pkt->dport = rd16(p + 2);
		pkt->seq = rd32(p + 4);
		pkt->tcp_flags = p[13];
		size_t off = (size_t)(p[12] >> 4) * 4;
		if (off < 20 || off > wire)
			return DECODE_MALFORMED;
		if (caplen < off)
			return DECODE_TRUNCATED;
		if (caplen > wire)
			caplen = wire;
		pkt->payload = p + off;
		pkt->payload_len = caplen - off;
		pkt->wire_len = wire - off;
		return DECODE_OK;
	}
	return DECODE_UNSUPPORTED;
}

static enum decode_result decode_ipv4(const uint8_t *p, size_t caplen, struct packet *pkt)
{
	if (caplen < 20)
		return DECODE_TRUNCATED;
	if (p[0] >> 4 != 4)
		return DECODE_MALFORMED;
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;
	size_t total = rd16(p + 2);
	/* captured on the sending host before segmentation offload (TSO/GSO):
	 * the length is not filled in yet; what was captured is the packet */
	if (total == 0 && caplen >= ihl)
		total = caplen > 65535 ? 65535 : caplen;
	if (ihl < 20 || total < ihl)
		return DECODE_MALFORMED;
	if (caplen < ihl)
		return DECODE_TRUNCATED;
	pkt->family = AF_INET;
	memcpy(pkt->src, p + 12, 4);
	memcpy(pkt->dst, p + 16, 4);
	pkt->ip_len = total;
	uint16_t frag = rd16(p + 6);
	if (caplen > total)
		caplen = total;
	if (frag & 0x3fff) {
		/* a fragment: reassembled by ipfrag.c */
		pkt->proto = p[9];
		pkt->frag_id = rd16(p + 4);
		pkt->frag_off = (uint32_t)(frag & 0x1fff) * 8;
		pkt->frag_more = (frag & 0x2000) != 0;
		pkt->payload = p + ihl;
		pkt->payload_len = caplen - ihl;
		pkt->wire_len = total - ihl;
		return DECODE_FRAGMENT;
	}
	return decode_transport(p[9], p + ihl, caplen - ihl, total - ihl, pkt);
}

static enum decode_result ipv6_chain(uint8_t next, const uint8_t *p, size_t caplen, size_t wire,
				     bool reassembled, struct packet *pkt);

static enum decode_result decode_ipv6(const uint8_t *p, size_t caplen, struct packet *pkt)
{
	if (caplen < 40)
		return DECODE_TRUNCATED;
	if (p[0] >> 4 != 6)
		return DECODE_MALFORMED;
	size_t wire = rd16(p + 4);   /* payload length; 0 (jumbogram) is refused below */
	pkt->family = AF_INET6;
	memcpy(pkt->src, p + 8, 16);
	memcpy(pkt->dst, p + 24, 16);
	pkt->ip_len = wire + 40;
	caplen -= 40;
	if (caplen > wire)
		caplen = wire;
	return ipv6_chain(p[6], p + 40, caplen, wire, false, pkt);
}

/* The headers after IPv6's fixed header (or, reassembled, after its
 * fragment header): extension headers, then the transport. */
static enum decode_result ipv6_chain(uint8_t next, const uint8_t *p, size_t caplen, size_t wire,
				     bool reassembled, struct packet *pkt)
{
	/* at most 8 extension headers: more is an attack, not a packet */
	for (int i = 0; i < 8; i++) {
		size_t len;
		switch (next) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
			return decode_transport(next, p, caplen, wire, pkt);
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case 135: /* mobility */
			if (caplen < 2)
				return DECODE_TRUNCATED;
			len = ((size_t)p[1] + 1) * 8;
			break;
		case IPPROTO_AH:
			if (caplen < 2)
				return DECODE_TRUNCATED;
			len = ((size_t)p[1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if (reassembled)
				return DECODE_MALFORMED;   /* a fragment inside a fragment */
			if (caplen < 8)
				return DECODE_TRUNCATED;
			if (8 > wire)
				return DECODE_MALFORMED;
			if ((rd16(p + 2) & 0xfff9) == 0) {
				len = 8;   /* atomic (offset 0, no more): a whole datagram */
				break;
			}
			pkt->proto = p[0];
			pkt->frag_id = rd32(p + 4);
			pkt->frag_off = rd16(p + 2) & 0xfff8;
			pkt->frag_more = (p[3] & 1) != 0;
			pkt->payload = p + 8;
			pkt->payload_len = caplen - 8;
			pkt->wire_len = wire - 8;
			return DECODE_FRAGMENT;
		default:
			return DECODE_UNSUPPORTED;
		}
		if (len > wire)
			return DECODE_MALFORMED;
		if (len > caplen)
			return DECODE_TRUNCATED;
		next = p[0];
		p += len;
		caplen -= len;
		wire -= len;
	}
	return DECODE_UNSUPPORTED;
}

static enum decode_result decode_ip(const uint8_t *p, size_t caplen, struct packet *pkt)
{
	if (caplen < 1)
		return DECODE_TRUNCATED;
	switch (p[0] >> 4) {
	case 4:
		return decode_ipv4(p, caplen, pkt);
	case 6:
		return decode_ipv6(p, caplen, pkt);
	}
	return DECODE_UNSUPPORTED;
}

static enum decode_result decode_ethertype(uint16_t type, const uint8_t *p, size_t caplen,
					   struct packet *pkt)
{
	if (type == 0x0800)
		return decode_ipv4(p, caplen, pkt);
	if (type == 0x86dd)
		return decode_ipv6(p, caplen, pkt);
	return DECODE_UNSUPPORTED;
}

/* A cooked capture's sender: its address is the sending device's when the
 * link is Ethernet (ARPHRD_ETHER, 6 bytes) and the frame came in; an
 * outgoing one (type 4) carries this host's own. */
static void sll_sender(unsigned pkttype, unsigned hatype, unsigned halen, const uint8_t *addr,
		       struct packet *pkt)
{
	if (pkttype != 4 && hatype == 1 && halen == 6) {
		memcpy(pkt->src_mac, addr, 6);
		pkt->has_src_mac = true;
	}
}

enum decode_result decode_frame(int linktype, const uint8_t *f, size_t caplen, struct packet *pkt)
{
	memset(pkt, 0, sizeof(*pkt));
	switch (linktype) {
	case DECODE_DLT_EN10MB: {
		if (caplen < 14)
			return DECODE_TRUNCATED;
		memcpy(pkt->src_mac, f + 6, 6);
		pkt->has_src_mac = true;
		uint16_t type = rd16(f + 12);
		size_t off = 14;
		/* 802.1Q, 802.1ad and the old QinQ ethertypes; at most 4 tags */
		for (int tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100; tags++) {
			if (tags == 4)
				return DECODE_UNSUPPORTED;
			if (caplen < off + 4)
				return DECODE_TRUNCATED;
			type = rd16(f + off + 2);
			off += 4;
		}
		return decode_ethertype(type, f + off, caplen - off, pkt);
	}
	case DECODE_DLT_LINUX_SLL:
		/* packet type, ARPHRD type, address length, address (8), protocol */
		if (caplen < 16)
			return DECODE_TRUNCATED;
		sll_sender(rd16(f), rd16(f + 2), rd16(f + 4), f + 6, pkt);
		return decode_ethertype(rd16(f + 14), f + 16, caplen - 16, pkt);
	case DECODE_DLT_LINUX_SLL2:
		/* protocol, reserved, ifindex, ARPHRD type, packet type, address length, address (8) */
		if (caplen < 20)
			return DECODE_TRUNCATED;
		sll_sender(f[10], rd16(f + 8), f[11], f + 12, pkt);
		return decode_ethertype(rd16(f), f + 20, caplen - 20, pkt);
	case DECODE_DLT_RAW:
	case DECODE_DLT_RAW_BSD:
	case DECODE_DLT_RAW_FILE:
		return decode_ip(f, caplen, pkt);
	case DECODE_DLT_IPV4:
		return decode_ipv4(f, caplen, pkt);
	case DECODE_DLT_IPV6:
		return decode_ipv6(f, caplen, pkt);
	case DECODE_DLT_NULL:
	case DECODE_DLT_LOOP: {
		if (caplen < 4)
			return DECODE_TRUNCATED;
		/* the address family in the capturing host's byte order (DLT_LOOP:
		 * network order); BSDs number AF_INET6 24, 28 or 30 */
		uint32_t fam = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 |
			       (uint32_t)f[3] << 24;
		if (fam > 0xffff)
			fam = rd32(f);
		if (fam == 2)
			return decode_ipv4(f + 4, caplen - 4, pkt);
		if (fam == 24 || fam == 28 || fam == 30 || fam == 10)
			return decode_ipv6(f + 4, caplen - 4, pkt);
		return DECODE_UNSUPPORTED;
	}
	}
	return DECODE_UNSUPPORTED;
}

enum decode_result decode_reassembled(const uint8_t *data, size_t len, struct packet *pkt)
{
	uint8_t next = pkt->proto;
	pkt->fragment = false;
	pkt->frag_id = pkt->frag_off = 0;
	pkt->frag_more = false;
	pkt->payload = NULL;
	pkt->payload_len = pkt->wire_len = 0;
	if (pkt->family == AF_INET6)
		return ipv6_chain(next, data, len, len, true, pkt);
	return decode_transport(next, data, len, len, pkt);
}

const char *decode_result_name(enum decode_result r)
{
	switch (r) {
	case DECODE_OK: return "ok";
	case DECODE_TRUNCATED: return "truncated";
	case DECODE_UNSUPPORTED: return "unsupported";
	case DECODE_FRAGMENT: return "fragment";
	case DECODE_MALFORMED: return "malformed";
	}
	return "?";
}

bool decode_linktype_supported(int linktype)
{
	switch (linktype) {
	case DECODE_DLT_NULL:
	case DECODE_DLT_EN10MB:
	case DECODE_DLT_RAW:
	case DECODE_DLT_RAW_BSD:
	case DECODE_DLT_RAW_FILE:
	case DECODE_DLT_LOOP:
	case DECODE_DLT_LINUX_SLL:
	case DECODE_DLT_IPV4:
	case DECODE_DLT_IPV6:
	case DECODE_DLT_LINUX_SLL2:
		return true;
	}
	return false;
}
