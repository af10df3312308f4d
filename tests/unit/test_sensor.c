/*
 * Unit tests: breaktime-sensor's parsers and tables (sensor/): the frame
 * decoder over every link type and its bounds, DNS messages and the
 * address map, the bounded reassembly buffer, the flow table's limit and
 * timeouts, and QUIC Initial decryption against RFC 9001 Appendix A.
 *
 * Every parse of untrusted bytes runs on an exact-size heap copy, so that
 * under AddressSanitizer a read past the end is a crash, not a pass.
 * Must never touch the network.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "decode.h"
#include "dns.h"
#include "dnstcp.h"
#include "flags.h"
#include "flow.h"
#include "ipfrag.h"
#include "quic.h"
#include "reasm.h"
#include "sni.h"

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	while (hex[0] && hex[1] && n < max) {
		if (hex[0] == '\n' || hex[0] == ' ') {
			hex++;
			continue;
		}
		unsigned v;
		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

static uint8_t *copy(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	memcpy(c, p, n);
	return c;
}

/* ---- decode ---- */

/* IPv4 UDP 10.0.0.1:1234 -> 10.0.0.2:53, payload "abcd" */
static const char ip4_udp[] = "4500002000010000401100000a0000010a00000204d20035000c000061626364";

static size_t frame_with(int linktype, const char *ip_hex, uint8_t *out)
{
	uint8_t ip[256];
	size_t n = unhex(ip_hex, ip, sizeof(ip)), h = 0;
	bool v6 = ip[0] >> 4 == 6;
	switch (linktype) {
	case DECODE_DLT_EN10MB:
		h = unhex("020000000002020000000001", out, 12);
		out[h++] = v6 ? 0x86 : 0x08;
		out[h++] = v6 ? 0xdd : 0x00;
		break;
	case DECODE_DLT_LINUX_SLL:
		memset(out, 0, 14);
		h = 14;
		out[h++] = v6 ? 0x86 : 0x08;
		out[h++] = v6 ? 0xdd : 0x00;
		break;
	case DECODE_DLT_LINUX_SLL2:
		memset(out, 0, 20);
		out[0] = v6 ? 0x86 : 0x08;
		out[1] = v6 ? 0xdd : 0x00;
		h = 20;
		break;
	case DECODE_DLT_NULL:
		memset(out, 0, 4);
		out[0] = v6 ? 30 : 2;   /* little-endian capture host */
		h = 4;
		break;
	case DECODE_DLT_LOOP:
		memset(out, 0, 4);
		out[3] = v6 ? 24 : 2;
		h = 4;
		break;
	}
	memcpy(out + h, ip, n);
	return h + n;
}

static const int linktypes[] = {
	DECODE_DLT_EN10MB, DECODE_DLT_LINUX_SLL, DECODE_DLT_LINUX_SLL2, DECODE_DLT_NULL,
	DECODE_DLT_LOOP, DECODE_DLT_RAW, DECODE_DLT_RAW_FILE,
};

START_TEST(decode_every_linktype)
{
	uint8_t f[512];
	int lt = linktypes[_i];
	size_t n = frame_with(lt, ip4_udp, f);
	uint8_t *c = copy(f, n);
	struct packet p;
	ck_assert_int_eq(decode_frame(lt, c, n, &p), DECODE_OK);
	ck_assert_int_eq(p.family, AF_INET);
	ck_assert_int_eq(p.proto, IPPROTO_UDP);
	ck_assert_int_eq(p.sport, 1234);
	ck_assert_int_eq(p.dport, 53);
	ck_assert_uint_eq(p.payload_len, 4);
	ck_assert(memcmp(p.payload, "abcd", 4) == 0);
	ck_assert_uint_eq(p.ip_len, 32);
	/* every shorter capture: never OK with a payload past the capture */
	for (size_t k = 0; k < n; k++) {
		uint8_t *t = copy(f, k);
		enum decode_result r = decode_frame(lt, t, k, &p);
		if (r == DECODE_OK)
			ck_assert(p.payload + p.payload_len <= t + k);
		free(t);
	}
	free(c);
}
END_TEST

/* The sender's MAC address: Ethernet (tagged too), a cooked capture of a
 * frame that came in from an Ethernet sender; never one this host sent
 * (cooked, outgoing), nor a link without one. */
START_TEST(decode_sender_mac)
{
	static const uint8_t sender[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
	static const uint8_t phone[6] = {0x02, 0x00, 0x00, 0x23, 0x10, 0xaa};
	uint8_t f[512];
	struct packet p;

	size_t n = frame_with(DECODE_DLT_EN10MB, ip4_udp, f);
	ck_assert_int_eq(decode_frame(DECODE_DLT_EN10MB, f, n, &p), DECODE_OK);
	ck_assert(p.has_src_mac);
	ck_assert_mem_eq(p.src_mac, sender, 6);
	/* tagged */
	n = unhex("020000000002" "0200002310aa" "81000014" "0800", f, sizeof(f));
	n += unhex(ip4_udp, f + n, sizeof(f) - n);
	ck_assert_int_eq(decode_frame(DECODE_DLT_EN10MB, f, n, &p), DECODE_OK);
	ck_assert(p.has_src_mac);
	ck_assert_mem_eq(p.src_mac, phone, 6);
	/* cooked v1: packet type, ARPHRD type, address length, address */
	static const struct {
		const char *head;
		bool mac;
	} sll[] = {
		{"0000" "0001" "0006" "0200002310aa0000" "0800", true},   /* to us, from the phone */
		{"0003" "0001" "0006" "0200002310aa0000" "0800", true},   /* to another host */
		{"0004" "0001" "0006" "0200002310aa0000" "0800", false},  /* sent by this host */
		{"0000" "0304" "0006" "0200002310aa0000" "0800", false},  /* loopback */
		{"0000" "0001" "0000" "0000000000000000" "0800", false},  /* no address */
	};
	for (size_t i = 0; i < sizeof(sll) / sizeof(sll[0]); i++) {
		n = unhex(sll[i].head, f, sizeof(f));
		n += unhex(ip4_udp, f + n, sizeof(f) - n);
		ck_assert_int_eq(decode_frame(DECODE_DLT_LINUX_SLL, f, n, &p), DECODE_OK);
		ck_assert_msg(p.has_src_mac == sll[i].mac, "SLL %s", sll[i].head);
		if (sll[i].mac)
			ck_assert_mem_eq(p.src_mac, phone, 6);
	}
	/* cooked v2: protocol, reserved, ifindex, ARPHRD type, packet type, length, address */
	n = unhex("0800" "0000" "00000002" "0001" "00" "06" "0200002310aa0000", f, sizeof(f));
	n += unhex(ip4_udp, f + n, sizeof(f) - n);
	ck_assert_int_eq(decode_frame(DECODE_DLT_LINUX_SLL2, f, n, &p), DECODE_OK);
	ck_assert(p.has_src_mac);
	ck_assert_mem_eq(p.src_mac, phone, 6);
	n = unhex("0800" "0000" "00000002" "0001" "04" "06" "0200002310aa0000", f, sizeof(f));
	n += unhex(ip4_udp, f + n, sizeof(f) - n);
	ck_assert_int_eq(decode_frame(DECODE_DLT_LINUX_SLL2, f, n, &p), DECODE_OK);
	ck_assert(!p.has_src_mac);
	/* raw IP: none */
	n = frame_with(DECODE_DLT_RAW, ip4_udp, f);
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_OK);
	ck_assert(!p.has_src_mac);
}
END_TEST

START_TEST(decode_vlan_and_ipv6_ext)
{
	/* QinQ, then IPv6 with hop-by-hop + destination options, TCP to 443 */
	uint8_t f[512];
	size_t n = unhex("020000000002020000000001" "88a80064" "81000014" "86dd"
		  "6000000000260040" "20010db8000000000000000000000001"
		  "20010db8000000000000000000000002"
		  "3c00010400000000" "0600010400000000"
		  "a41001bb00000001000000005018ffff00000000" "6869", f, sizeof(f));
	uint8_t *c = copy(f, n);
	struct packet p;
	ck_assert_int_eq(decode_frame(DECODE_DLT_EN10MB, c, n, &p), DECODE_OK);
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert_int_eq(p.proto, IPPROTO_TCP);
	ck_assert_int_eq(p.dport, 443);
	ck_assert_uint_eq(p.seq, 1);
	ck_assert_uint_eq(p.payload_len, 2);
	ck_assert(memcmp(p.payload, "hi", 2) == 0);
	free(c);
}
END_TEST

START_TEST(decode_fragments_and_lengths)
{
	uint8_t f[256];
	struct packet p;
	/* a non-first IPv4 fragment */
	size_t n = unhex("4500002000010001401100000a0000010a00000204d20035000c000061626364", f, sizeof(f));
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_FRAGMENT);
	/* IPv4 total length below the header */
	n = unhex("4500000c00010000401100000a0000010a00000204d20035000c000061626364", f, sizeof(f));
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_MALFORMED);
	/* UDP length beyond the IP packet */
	n = unhex("4500002000010000401100000a0000010a00000204d2003500ff000061626364", f, sizeof(f));
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_MALFORMED);
	/* Ethernet padding past the IP length is not payload */
	n = unhex("4500002000010000401100000a0000010a00000204d20035000c000061626364000000000000", f, sizeof(f));
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_OK);
	ck_assert_uint_eq(p.payload_len, 4);
	/* total length 0: captured before segmentation offload, the capture is the packet */
	n = unhex("4500000000010000401100000a0000010a00000204d20035000c000061626364", f, sizeof(f));
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_OK);
	ck_assert_uint_eq(p.payload_len, 4);
	/* a first IPv4 fragment (more follow): a fragment too, its data the payload */
	n = unhex("4500002000152000401100000a0000010a00000204d20035000c000061626364", f, sizeof(f));
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_FRAGMENT);
	ck_assert_uint_eq(p.frag_id, 0x15);
	ck_assert_uint_eq(p.frag_off, 0);
	ck_assert(p.frag_more);
	ck_assert_uint_eq(p.proto, IPPROTO_UDP);
	ck_assert_uint_eq(p.payload_len, 12);
	ck_assert_uint_eq(p.wire_len, 12);
	/* ... and, as if complete, decoded as UDP from its first byte */
	ck_assert_int_eq(decode_reassembled(p.payload, 12, &p), DECODE_OK);
	ck_assert_uint_eq(p.sport, 1234);
	ck_assert_uint_eq(p.dport, 53);
	ck_assert_uint_eq(p.payload_len, 4);
	/* an IPv6 non-first fragment */
	n = unhex("6000000000102c40" "20010db8000000000000000000000001"
		  "20010db8000000000000000000000002" "1100000800000007" "04d2003500100000", f, sizeof(f));
	ck_assert_int_eq(decode_frame(DECODE_DLT_RAW, f, n, &p), DECODE_FRAGMENT);
	ck_assert_uint_eq(p.frag_id, 7);
	ck_assert_uint_eq(p.frag_off, 8);
	ck_assert(!p.frag_more);
	ck_assert_uint_eq(p.payload_len, 8);
	/* unknown link type */
	ck_assert_int_eq(decode_frame(9999, f, n, &p), DECODE_UNSUPPORTED);
}
END_TEST

/* ---- IP fragments ---- */

static struct packet frag(int family, uint32_t id, uint8_t proto, uint32_t off, bool more,
			  const uint8_t *data, size_t len)
{
	struct packet p;
	memset(&p, 0, sizeof(p));
	p.family = family;
	p.src[0] = 10;
	p.dst[0] = 11;
	p.proto = proto;
	p.frag_id = id;
	p.frag_off = off;
	p.frag_more = more;
	p.payload = data;
	p.payload_len = p.wire_len = len;
	p.ip_len = len + 20;
	return p;
}

START_TEST(ipfrag_reassembly)
{
	struct ipfrag *t = ipfrag_create();
	uint8_t d[64];
	for (size_t i = 0; i < sizeof(d); i++)
		d[i] = (uint8_t)i;
	const uint8_t *out;
	size_t len;
	/* three pieces out of order, a repeat of one */
	struct packet p = frag(AF_INET, 1, IPPROTO_UDP, 48, false, d + 48, 16);
	ck_assert_int_eq(ipfrag_add(t, &p, 1000, &out, &len), 0);
	p = frag(AF_INET, 1, IPPROTO_UDP, 0, true, d, 16);
	ck_assert_int_eq(ipfrag_add(t, &p, 2000, &out, &len), 0);
	ck_assert_int_eq(ipfrag_add(t, &p, 2500, &out, &len), 0);
	ck_assert_uint_eq(ipfrag_count(t), 1);
	p = frag(AF_INET, 1, IPPROTO_UDP, 16, true, d + 16, 32);
	ck_assert_int_eq(ipfrag_add(t, &p, 3000, &out, &len), 1);
	ck_assert_uint_eq(len, 64);
	ck_assert(memcmp(out, d, 64) == 0);
	ck_assert_uint_eq(p.ip_len, 16 + 20 + 16 + 20 + 32 + 20);
	ck_assert_uint_eq(ipfrag_count(t), 0);
	ck_assert_uint_eq(ipfrag_bytes(t), 0);

	/* an overlap with other bytes drops the datagram */
	uint8_t x[16];
	memset(x, 0xee, sizeof(x));
	p = frag(AF_INET, 2, IPPROTO_UDP, 0, true, d, 16);
	ck_assert_int_eq(ipfrag_add(t, &p, 4000, &out, &len), 0);
	p = frag(AF_INET, 2, IPPROTO_UDP, 8, true, x, 16);
	ck_assert_int_eq(ipfrag_add(t, &p, 4001, &out, &len), -1);
	ck_assert_uint_eq(ipfrag_count(t), 0);
	/* ... and the rest then completes nothing */
	p = frag(AF_INET, 2, IPPROTO_UDP, 16, false, d + 16, 48);
	ck_assert_int_eq(ipfrag_add(t, &p, 4002, &out, &len), 0);
	/* a last fragment that ends before a piece already held */
	p = frag(AF_INET, 2, IPPROTO_UDP, 0, false, d, 8);
	ck_assert_int_eq(ipfrag_add(t, &p, 4003, &out, &len), -1);
	/* the same id and addresses with another protocol (IPv4) is another datagram */
	p = frag(AF_INET, 3, IPPROTO_UDP, 0, true, d, 8);
	ck_assert_int_eq(ipfrag_add(t, &p, 4004, &out, &len), 0);
	p = frag(AF_INET, 3, IPPROTO_TCP, 8, false, d + 8, 8);
	ck_assert_int_eq(ipfrag_add(t, &p, 4005, &out, &len), 0);
	ck_assert_uint_eq(ipfrag_count(t), 2);

	/* not usable: not a multiple of 8 with more to come, cut by the
	 * snaplen, past 64 KiB */
	p = frag(AF_INET, 4, IPPROTO_UDP, 0, true, d, 12);
	ck_assert_int_eq(ipfrag_add(t, &p, 5000, &out, &len), -1);
	p = frag(AF_INET, 4, IPPROTO_UDP, 0, true, d, 16);
	p.wire_len = 1480;
	ck_assert_int_eq(ipfrag_add(t, &p, 5001, &out, &len), -1);
	p = frag(AF_INET, 4, IPPROTO_UDP, 65528, false, d, 16);
	ck_assert_int_eq(ipfrag_add(t, &p, 5002, &out, &len), -1);

	/* IPv6: the protocol is the offset-0 fragment's next header */
	p = frag(AF_INET6, 9, IPPROTO_DSTOPTS, 8, false, d + 8, 8);
	ck_assert_int_eq(ipfrag_add(t, &p, 6000, &out, &len), 0);
	p = frag(AF_INET6, 9, IPPROTO_UDP, 0, true, d, 8);
	ck_assert_int_eq(ipfrag_add(t, &p, 6001, &out, &len), 1);
	ck_assert_uint_eq(p.proto, IPPROTO_UDP);
	ck_assert_uint_eq(len, 16);

	/* the timeout: 30 s after its first fragment a datagram is gone */
	struct ipfrag_stats st;
	ipfrag_get_stats(t, &st);
	uint64_t expired = st.expired;
	p = frag(AF_INET, 5, IPPROTO_UDP, 0, true, d, 8);
	ck_assert_int_eq(ipfrag_add(t, &p, 4000 + IPFRAG_TIMEOUT_US + 10, &out, &len), 0);
	ipfrag_get_stats(t, &st);
	ck_assert_uint_eq(st.expired, expired + 2);
	ck_assert_uint_eq(ipfrag_count(t), 1);
	ck_assert_uint_eq(st.reassembled, 2);
	ipfrag_destroy(t);
}
END_TEST

START_TEST(ipfrag_bounded)
{
	struct ipfrag *t = ipfrag_create();
	uint8_t d[16] = {0};
	const uint8_t *out;
	size_t len;
	/* more datagrams than entries: the oldest go */
	for (uint32_t i = 0; i < IPFRAG_MAX_ENTRIES + 44; i++) {
		struct packet p = frag(AF_INET, i, IPPROTO_UDP, 0, true, d, 16);
		ck_assert_int_eq(ipfrag_add(t, &p, 1000 + i, &out, &len), 0);
		ck_assert_uint_le(ipfrag_count(t), IPFRAG_MAX_ENTRIES);
	}
	struct ipfrag_stats st;
	ipfrag_get_stats(t, &st);
	ck_assert_uint_eq(st.evicted, 44);
	ck_assert_uint_eq(ipfrag_count(t), IPFRAG_MAX_ENTRIES);
	/* pieces near the end of 64 KiB datagrams: the byte budget holds */
	for (uint32_t i = 0; i < 200; i++) {
		struct packet p = frag(AF_INET6, 100000 + i, IPPROTO_UDP, 65000, true, d, 16);
		ck_assert_int_eq(ipfrag_add(t, &p, 2000 + i, &out, &len), 0);
		ck_assert_uint_le(ipfrag_bytes(t), IPFRAG_MAX_BYTES);
	}
	ck_assert_uint_ge(ipfrag_bytes(t), (IPFRAG_MAX_BYTES / 65016 - 1) * 65016);
	/* too many pieces in one datagram */
	int rc = 0;
	for (uint32_t i = 0; i <= IPFRAG_MAX_PIECES && rc == 0; i++) {
		struct packet p = frag(AF_INET, 7777, IPPROTO_UDP, i * 16, true, d, 8);
		rc = ipfrag_add(t, &p, 3000, &out, &len);
	}
	ck_assert_int_eq(rc, -1);
	ipfrag_destroy(t);
}
END_TEST

/* ---- DNS ---- */

START_TEST(dns_query_and_answer)
{
	uint8_t m[512];
	/* query www.facebook.com A */
	size_t n = unhex("123401000001000000000000" "03777777" "0846616365626f6f6b" "03636f6d00" "00010001",
			 m, sizeof(m));
	struct dns_message d;
	uint8_t *c = copy(m, n);
	ck_assert_int_eq(dns_parse(c, n, &d), 0);
	ck_assert(!d.response);
	ck_assert_str_eq(d.qname, "www.facebook.com");
	free(c);
	/* the answer: CNAME then A, with compression pointers */
	n = unhex("123481800001000200000000" "03777777" "0866616365626f6f6b" "03636f6d00" "00010001"
		  "c00c000500010000012c0007" "0473746172c010"
		  "c02e000100010000012c0004" "9df00123", m, sizeof(m));
	c = copy(m, n);
	ck_assert_int_eq(dns_parse(c, n, &d), 0);
	ck_assert(d.response);
	ck_assert_uint_eq(d.n_addrs, 1);
	ck_assert_int_eq(d.family[0], AF_INET);
	ck_assert(memcmp(d.addr[0], "\x9d\xf0\x01\x23", 4) == 0);
	/* every prefix: no crash, never an address past the message */
	for (size_t k = 0; k < n; k++) {
		uint8_t *t = copy(m, k);
		dns_parse(t, k, &d);
		free(t);
	}
	free(c);
	/* a pointer to itself */
	n = unhex("abcd01000001000000000000c00c00010001", m, sizeof(m));
	ck_assert_int_eq(dns_parse(m, n, &d), -1);
}
END_TEST

/* A label with a NUL byte (or a dot) in it is not a host name: never the
 * shorter (or differently split) name its text would read as. */
START_TEST(dns_label_nul_not_truncated)
{
	static const char *const queries[] = {
		/* www . facebook . "com\0" . evil . example: not www.facebook.com */
		"123401000001000000000000" "03777777" "0866616365626f6f6b" "04636f6d00" "046576696c"
		"076578616d706c6500" "00010001",
		/* www . "facebook\0x" . com */
		"123401000001000000000000" "03777777" "0a66616365626f6f6b0078" "03636f6d00" "00010001",
		/* a single label "www.facebook.com" */
		"123401000001000000000000" "10" "7777772e66616365626f6f6b2e636f6d00" "00010001",
		/* a label that is one NUL byte */
		"123401000001000000000000" "0100" "03636f6d00" "00010001",
	};
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		uint8_t m[512];
		struct dns_message d;
		size_t n = unhex(queries[i], m, sizeof(m));
		uint8_t *c = copy(m, n);
		ck_assert_int_eq(dns_parse(c, n, &d), 0);
		ck_assert_msg(d.qname[0] == '\0', "query %zu read as \"%s\"", i, d.qname);
		ck_assert_uint_eq(d.qtype, 1);
		free(c);
	}
	/* the answer's addresses are still read (only the name is refused) */
	uint8_t m[512];
	struct dns_message d;
	size_t n = unhex("123481800001000100000000" "03777777" "0866616365626f6f6b" "04636f6d0000"
			 "00010001" "c00c000100010000012c0004" "9df00123", m, sizeof(m));
	uint8_t *c = copy(m, n);
	ck_assert_int_eq(dns_parse(c, n, &d), 0);
	ck_assert_str_eq(d.qname, "");
	ck_assert_uint_eq(d.n_addrs, 1);
	free(c);
}
END_TEST

START_TEST(dns_map_bounded)
{
	struct dns_map *mp = dns_map_create(64);
	uint8_t a[16] = {10, 0, 0, 1};
	dns_map_add(mp, AF_INET, a, "www.facebook.com", 60, 1000);
	ck_assert_str_eq(dns_map_lookup(mp, AF_INET, a, 1000), "www.facebook.com");
	ck_assert_ptr_null(dns_map_lookup(mp, AF_INET6, a, 1000));
	ck_assert_ptr_null(dns_map_lookup(mp, AF_INET, a, 1000 + 3601));   /* expired */
	/* many more addresses than entries: the table stays, recent ones are found */
	for (unsigned i = 0; i < 10000; i++) {
		uint8_t b[16] = {10, 1, (uint8_t)(i >> 8), (uint8_t)i};
		dns_map_add(mp, AF_INET, b, "x.example", 60, 2000 + i);
	}
	uint8_t last[16] = {10, 1, (uint8_t)(9999 >> 8), (uint8_t)9999};
	ck_assert_str_eq(dns_map_lookup(mp, AF_INET, last, 12000), "x.example");
	dns_map_destroy(mp);
}
END_TEST

/* ---- reassembly ---- */

START_TEST(reasm_out_of_order)
{
	struct reasm r;
	reasm_init(&r, 16);
	reasm_add(&r, 4, (const uint8_t *)"efgh", 4);
	ck_assert_uint_eq(r.contiguous, 0);
	reasm_add(&r, 0, (const uint8_t *)"abcd", 4);
	ck_assert_uint_eq(r.contiguous, 8);
	reasm_add(&r, 6, (const uint8_t *)"XXijklmnopqrstuvwxyz", 20);   /* overlap, past cap */
	ck_assert_uint_eq(r.contiguous, 16);
	ck_assert(memcmp(r.buf, "abcdefghijklmnop", 16) == 0);
	reasm_add(&r, 1000, (const uint8_t *)"z", 1);
	reasm_finish(&r);
}
END_TEST

/* ---- DNS over TCP ---- */

static char got_msgs[8][64];
static size_t n_got;

static void on_dns_msg(void *ctx, const struct flow_key *k, bool from_client, const uint8_t *msg,
		       size_t len)
{
	/* an exact-size copy: under ASan a read past the message is a crash */
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, msg, len);
	if (n_got < 8)
		snprintf(got_msgs[n_got], sizeof(got_msgs[0]), "%c%.*s", from_client ? '>' : '<',
			 (int)(len < 60 ? len : 60), (const char *)copy);
	n_got++;
	free(copy);
}

START_TEST(dnstcp_stream)
{
	struct dnstcp *d = dnstcp_create(on_dns_msg, NULL);
	struct flow_key k = {.family = AF_INET, .proto = IPPROTO_TCP, .cport = 40000, .sport = 53};
	n_got = 0;
	/* "\0\5hello" split inside the length and the body, after a SYN at 99 */
	dnstcp_segment(d, &k, true, TCP_SYN, 99, NULL, 0);
	dnstcp_segment(d, &k, true, 0, 100, (const uint8_t *)"\0", 1);
	dnstcp_segment(d, &k, true, 0, 101, (const uint8_t *)"\5he", 3);
	ck_assert_uint_eq(n_got, 0);
	ck_assert_uint_eq(dnstcp_bytes(d), 5);
	dnstcp_segment(d, &k, true, 0, 101, (const uint8_t *)"\5he", 3);   /* retransmitted */
	dnstcp_segment(d, &k, true, 0, 104, (const uint8_t *)"llo", 3);
	ck_assert_uint_eq(n_got, 1);
	ck_assert_str_eq(got_msgs[0], ">hello");
	ck_assert_uint_eq(dnstcp_bytes(d), 0);
	/* two in one segment, and the start of a third; the other direction apart */
	dnstcp_segment(d, &k, true, 0, 107, (const uint8_t *)"\0\2ab\0\3cde\0\4fg", 13);
	dnstcp_segment(d, &k, false, 0, 7000, (const uint8_t *)"\0\3xyz", 5);
	ck_assert_uint_eq(n_got, 4);
	ck_assert_str_eq(got_msgs[1], ">ab");
	ck_assert_str_eq(got_msgs[2], ">cde");
	ck_assert_str_eq(got_msgs[3], "<xyz");
	/* an overlapping retransmission carries the rest */
	dnstcp_segment(d, &k, true, 0, 117, (const uint8_t *)"\4fghi", 6);
	ck_assert_uint_eq(n_got, 5);
	ck_assert_str_eq(got_msgs[4], ">fghi");
	/* a gap: the half message is dropped, the stream starts again after it */
	dnstcp_segment(d, &k, true, 0, 123, (const uint8_t *)"\0\6lo", 4);
	dnstcp_segment(d, &k, true, 0, 200, (const uint8_t *)"\0\2ok", 4);
	ck_assert_uint_eq(n_got, 6);
	ck_assert_str_eq(got_msgs[5], ">ok");
	/* longer than DNSTCP_MSG_MAX: passed over by its length, in step after it */
	size_t big = DNSTCP_MSG_MAX + 100;
	uint8_t *b = calloc(1, big + 2 + 4);
	b[0] = (uint8_t)(big >> 8);
	b[1] = (uint8_t)big;
	memcpy(b + 2 + big, "\0\2ya", 4);
	dnstcp_segment(d, &k, true, 0, 204, b, 1000);
	dnstcp_segment(d, &k, true, 0, 1204, b + 1000, big + 6 - 1000);
	ck_assert_uint_eq(n_got, 7);
	ck_assert_str_eq(got_msgs[6], ">ya");
	ck_assert_uint_eq(dnstcp_bytes(d), 0);
	free(b);
	/* FIN and RST end their streams */
	ck_assert_uint_eq(dnstcp_streams(d), 2);
	dnstcp_segment(d, &k, true, TCP_FIN, 0, NULL, 0);
	dnstcp_segment(d, &k, false, TCP_RST, 0, NULL, 0);
	ck_assert_uint_eq(dnstcp_streams(d), 0);
	dnstcp_destroy(d);
}
END_TEST

START_TEST(dnstcp_bounded)
{
	struct dnstcp *d = dnstcp_create(on_dns_msg, NULL);
	n_got = 0;
	/* many connections, each with half a large message held */
	uint8_t half[2 + 8000] = {(uint8_t)(16000 >> 8), (uint8_t)(16000 & 0xff)};
	for (unsigned i = 0; i < DNSTCP_STREAMS + 500; i++) {
		struct flow_key k = {.family = AF_INET, .proto = IPPROTO_TCP, .cport = (uint16_t)i,
				     .sport = 53};
		k.client[0] = (uint8_t)(i >> 8);
		dnstcp_segment(d, &k, true, 0, 1, half, sizeof(half));
		ck_assert_uint_le(dnstcp_streams(d), DNSTCP_STREAMS);
	}
	ck_assert_uint_eq(dnstcp_streams(d), DNSTCP_STREAMS);
	ck_assert_uint_eq(dnstcp_bytes(d), (size_t)DNSTCP_STREAMS * 16000);
	ck_assert_uint_eq(n_got, 0);
	dnstcp_destroy(d);
}
END_TEST

/* ---- flags ---- */

START_TEST(flags_doh_and_vpn)
{
	ck_assert(flags_doh_name("dns.google"));
	ck_assert(flags_doh_name("dns64.dns.google"));
	ck_assert(flags_doh_name("mozilla.cloudflare-dns.com"));
	ck_assert(flags_doh_name("cloudflare-dns.com"));
	ck_assert(flags_doh_name("doh.opendns.com"));
	ck_assert(!flags_doh_name("notcloudflare-dns.com"));
	ck_assert(!flags_doh_name("google"));
	ck_assert(!flags_doh_name("dns.google.example.com"));
	ck_assert(!flags_doh_name("www.facebook.com"));
	uint8_t a[16] = {0};
	inet_pton(AF_INET, "1.1.1.1", a);
	ck_assert(flags_doh_addr(AF_INET, a));
	inet_pton(AF_INET, "9.9.9.9", a);
	ck_assert(flags_doh_addr(AF_INET, a));
	inet_pton(AF_INET, "1.1.1.4", a);
	ck_assert(!flags_doh_addr(AF_INET, a));
	inet_pton(AF_INET6, "2001:4860:4860::8888", a);
	ck_assert(flags_doh_addr(AF_INET6, a));
	ck_assert(!flags_doh_addr(AF_INET, a));   /* the same bytes, the other family */
	inet_pton(AF_INET6, "2001:4860:4860::8889", a);
	ck_assert(!flags_doh_addr(AF_INET6, a));
	ck_assert_str_eq(flags_vpn_port(IPPROTO_UDP, 51820), "wireguard");
	ck_assert_str_eq(flags_vpn_port(IPPROTO_TCP, 1194), "openvpn");
	ck_assert_str_eq(flags_vpn_port(IPPROTO_TCP, 1723), "pptp");
	ck_assert_ptr_null(flags_vpn_port(IPPROTO_TCP, 51820));
	ck_assert_ptr_null(flags_vpn_port(IPPROTO_UDP, 1723));
	ck_assert_ptr_null(flags_vpn_port(IPPROTO_UDP, 443));
}
END_TEST

/* ---- flow table ---- */

static int closed;
static void on_close(void *ctx, struct flow *f, const char *why)
{
	closed++;
}

START_TEST(flow_limit_and_idle)
{
	closed = 0;
	struct flow_table *t = flow_table_create(8, on_close, NULL);
	struct flow_key k;
	memset(&k, 0, sizeof(k));
	k.family = AF_INET;
	k.proto = IPPROTO_TCP;
	k.sport = 443;
	for (unsigned i = 0; i < 20; i++) {
		k.cport = (uint16_t)(1000 + i);
		ck_assert_ptr_null(flow_find(t, &k));
		ck_assert_ptr_nonnull(flow_create(t, &k, (int64_t)i * 1000000));
		ck_assert_uint_le(flow_count(t), 8);
	}
	ck_assert_int_eq(closed, 12);
	ck_assert_uint_eq(flow_evicted(t), 12);
	k.cport = 1019;
	struct flow *f = flow_find(t, &k);
	ck_assert_ptr_nonnull(f);
	flow_touch(t, f, 100 * 1000000LL);
	flow_expire(t, 50 * 1000000LL, 10 * 1000000LL, 10 * 1000000LL, 1000000);
	ck_assert_uint_eq(flow_count(t), 1);
	flow_table_destroy(t);
	ck_assert_int_eq(closed, 20);
}
END_TEST

START_TEST(flow_stream_budget)
{
	struct flow_table *t = flow_table_create(FLOW_MAX_STREAMS + 10, NULL, NULL);
	struct flow_key k;
	memset(&k, 0, sizeof(k));
	k.family = AF_INET;
	k.proto = IPPROTO_TCP;
	struct flow *first = NULL;
	for (unsigned i = 0; i < FLOW_MAX_STREAMS + 5; i++) {
		k.cport = (uint16_t)i;
		struct flow *f = flow_create(t, &k, 0);
		ck_assert_int_eq(flow_stream_add(t, f, 0, (const uint8_t *)"\x16", 1),
				 i < FLOW_MAX_STREAMS ? 0 : -1);
		if (!first)
			first = f;
	}
	ck_assert_uint_eq(flow_streams(t), FLOW_MAX_STREAMS);
	flow_stream_end(t, first);   /* one freed: one more may have one */
	k.cport = 1;
	ck_assert_int_eq(flow_stream_add(t, flow_find(t, &k), 1, (const uint8_t *)"x", 1), 0);
	k.cport = FLOW_MAX_STREAMS + 1;
	ck_assert_int_eq(flow_stream_add(t, flow_find(t, &k), 0, (const uint8_t *)"x", 1), 0);
	ck_assert_uint_eq(flow_streams(t), FLOW_MAX_STREAMS);
	flow_table_destroy(t);
}
END_TEST

/* ---- QUIC: RFC 9001 Appendix A ---- */

static size_t read_rfc_initial(uint8_t *out, size_t max)
{
	char path[1024], *text = calloc(1, 8192);
	snprintf(path, sizeof(path), "%s/pcap/rfc9001-a2-client-initial.hex", getenv("BT_TEST_DATA"));
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, 8191, f);
	fclose(f);
	text[n] = '\0';
	size_t len = unhex(text, out, max);
	free(text);
	return len;
}

START_TEST(quic_rfc9001_keys)
{
	/* A.1: client keys from DCID 0x8394c8f03e515708 */
	uint8_t dcid[8], want[16];
	unhex("8394c8f03e515708", dcid, 8);
	struct quic_keys k;
	ck_assert_int_eq(quic_initial_keys(QUIC_V1, dcid, 8, &k), 0);
	unhex("1f369613dd76d5467730efcbe3b1a22d", want, 16);
	ck_assert(memcmp(k.key, want, 16) == 0);
	unhex("fa044b2f42a3fd3b46fb255c", want, 12);
	ck_assert(memcmp(k.iv, want, 12) == 0);
	unhex("9f50449e04a0e810283a1e9933adedd2", want, 16);
	ck_assert(memcmp(k.hp, want, 16) == 0);
	ck_assert_int_eq(quic_initial_keys(0x12345678, dcid, 8, &k), -1);
}
END_TEST

static uint8_t crypto_buf[4096];
static size_t crypto_len;
static void on_crypto(void *ctx, uint64_t off, const uint8_t *d, size_t n)
{
	ck_assert_uint_le(off + n, sizeof(crypto_buf));
	memcpy(crypto_buf + off, d, n);
	if (off + n > crypto_len)
		crypto_len = off + n;
}

START_TEST(quic_rfc9001_client_initial)
{
	uint8_t raw[1300], plain[1300];
	size_t n = read_rfc_initial(raw, sizeof(raw));
	ck_assert_uint_eq(n, 1200);
	uint8_t *pkt = copy(raw, n);
	struct quic_initial qi;
	ck_assert_int_eq(quic_initial_open(pkt, n, NULL, &qi, plain), QUIC_OK);
	ck_assert_uint_eq(qi.version, QUIC_V1);
	ck_assert_uint_eq(qi.pn, 2);
	ck_assert_uint_eq(qi.packet_len, 1200);
	ck_assert_uint_eq(qi.payload_len, 1162);
	/* A.2: the frames begin with this CRYPTO frame and end in PADDING */
	uint8_t head[8];
	unhex("060040f1010000ed", head, 8);
	ck_assert(memcmp(plain, head, 8) == 0);
	ck_assert_int_eq(plain[1161], 0);
	crypto_len = 0;
	ck_assert_int_eq(quic_frames(plain, qi.payload_len, on_crypto, NULL), 0);
	ck_assert_uint_eq(crypto_len, 241);
	struct sni_info info;
	ck_assert_int_eq(sni_parse_handshake(crypto_buf, crypto_len, &info), SNI_FOUND);
	ck_assert_str_eq(info.name, "example.com");
	ck_assert(!info.ech);

	/* one flipped bit anywhere: authentication fails, nothing comes out */
	for (size_t i = 0; i < n; i += 7) {
		pkt[i] ^= 0x10;
		enum quic_result r = quic_initial_open(pkt, n, NULL, &qi, plain);
		ck_assert_int_ne(r, QUIC_OK);
		pkt[i] ^= 0x10;
	}
	/* every truncation: never OK, never a read past the end */
	for (size_t k = 0; k < n; k += 13) {
		uint8_t *t = copy(raw, k);
		ck_assert_int_ne(quic_initial_open(t, k, NULL, &qi, plain), QUIC_OK);
		free(t);
	}
	free(pkt);
}
END_TEST

START_TEST(quic_frames_malformed)
{
	uint8_t f[64];
	size_t n = unhex("0600ff", f, sizeof(f));   /* CRYPTO length past the end */
	ck_assert_int_eq(quic_frames(f, n, NULL, NULL), -1);
	n = unhex("02000001", f, sizeof(f));   /* ACK cut short */
	ck_assert_int_eq(quic_frames(f, n, NULL, NULL), -1);
	n = unhex("0300000000010203", f, sizeof(f));   /* ACK with ECN counts */
	ck_assert_int_eq(quic_frames(f, n, NULL, NULL), 0);
	n = unhex("08", f, sizeof(f));   /* STREAM: never in an Initial */
	ck_assert_int_eq(quic_frames(f, n, NULL, NULL), -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sensor");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, decode_every_linktype, 0, sizeof(linktypes) / sizeof(linktypes[0]));
	tcase_add_test(tc, decode_sender_mac);
	tcase_add_test(tc, decode_vlan_and_ipv6_ext);
	tcase_add_test(tc, decode_fragments_and_lengths);
	tcase_add_test(tc, dns_query_and_answer);
	tcase_add_test(tc, dns_label_nul_not_truncated);
	tcase_add_test(tc, dns_map_bounded);
	tcase_add_test(tc, reasm_out_of_order);
	tcase_add_test(tc, dnstcp_stream);
	tcase_add_test(tc, dnstcp_bounded);
	tcase_add_test(tc, flags_doh_and_vpn);
	tcase_add_test(tc, ipfrag_reassembly);
	tcase_add_test(tc, ipfrag_bounded);
	tcase_add_test(tc, flow_limit_and_idle);
	tcase_add_test(tc, flow_stream_budget);
	tcase_add_test(tc, quic_rfc9001_keys);
	tcase_add_test(tc, quic_rfc9001_client_initial);
	tcase_add_test(tc, quic_frames_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
