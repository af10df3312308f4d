/*
 * fuzz_sensor_dns: libFuzzer target for breaktime-sensor's DNS parser
 * (sensor/dns.c), and the address map it feeds.
 *
 * The input is a DNS message (a UDP payload). dns_parse() runs on an
 * exact-size copy; the contract is checked: a question name, when there is
 * one, is non-empty and already in normal form; at most DNS_MAX_ADDRS
 * addresses, each AF_INET or AF_INET6. Every answer goes into a small map
 * that lives across inputs, and is found there right after.
 *
 * The same input is then a DNS-over-TCP byte stream (length-prefixed
 * messages, sensor/dnstcp.c), cut into segments whose size the last byte
 * picks, one of them sent twice (a retransmission); every message it yields
 * is parsed as above, and the stream holds no more than one message.
 * Never touches the network. Seeds: tests/data/fuzz/fuzz_sensor_dns/.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "decode.h"
#include "dns.h"
#include "dnstcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_map *map;

static void check(const uint8_t *data, size_t size)
{
	uint8_t *in = malloc(size ? size : 1);
	memcpy(in, data, size);
	struct dns_message m;
	if (dns_parse(in, size, &m) == 0) {
		if (m.qname[0]) {
			char norm[HOSTNAME_MAX + 1];
			if (hostname_normalise(m.qname, strlen(m.qname), norm) != HOST_NAME ||
			    strcmp(norm, m.qname) != 0)
				abort();
		}
		if (m.n_addrs > DNS_MAX_ADDRS)
			abort();
		for (size_t i = 0; i < m.n_addrs; i++) {
			if (m.family[i] != AF_INET && m.family[i] != AF_INET6)
				abort();
			if (!m.qname[0])
				continue;
			dns_map_add(map, m.family[i], m.addr[i], m.qname, m.ttl[i], 1000);
			const char *got = dns_map_lookup(map, m.family[i], m.addr[i], 1000);
			if (!got || strcmp(got, m.qname) != 0)
				abort();
		}
	}
	free(in);
}

static void on_msg(void *ctx, const struct flow_key *k, bool from_client, const uint8_t *msg,
		   size_t len)
{
	if (len > DNSTCP_MSG_MAX)
		abort();
	check(msg, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnstcp *tcp;
	if (!map && !(map = dns_map_create(64)))
		abort();
	if (!tcp && !(tcp = dnstcp_create(on_msg, NULL)))
		abort();
	check(data, size);

	struct flow_key k = {.family = AF_INET, .proto = IPPROTO_TCP, .cport = 40000, .sport = 53};
	size_t cut = size ? 1 + data[size - 1] % 97 : 1;
	uint32_t seq = 1000;
	dnstcp_segment(tcp, &k, true, TCP_SYN, seq - 1, NULL, 0);
	for (size_t off = 0; off < size; off += cut) {
		size_t n = size - off < cut ? size - off : cut;
		uint8_t *seg = malloc(n);
		memcpy(seg, data + off, n);
		dnstcp_segment(tcp, &k, true, 0, seq + (uint32_t)off, seg, n);
		if (off == cut)
			dnstcp_segment(tcp, &k, true, 0, seq + (uint32_t)off, seg, n);
		free(seg);
		if (dnstcp_bytes(tcp) > DNSTCP_MSG_MAX)
			abort();
	}
	dnstcp_segment(tcp, &k, true, TCP_FIN, seq + (uint32_t)size, NULL, 0);
	if (dnstcp_streams(tcp) != 0 || dnstcp_bytes(tcp) != 0)
		abort();
	return 0;
}
