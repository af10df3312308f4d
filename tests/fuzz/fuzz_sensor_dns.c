/*
 * fuzz_sensor_dns: libFuzzer target for breaktime-sensor's DNS parser
 * (sensor/dns.c), and the address map it feeds.
 *
 * The input is a DNS message (a UDP payload). dns_parse() runs on an
 * exact-size copy; the contract is checked: a question name, when there is
 * one, is non-empty and already in normal form; at most DNS_MAX_ADDRS
 * addresses, each AF_INET or AF_INET6. Every answer goes into a small map
 * that lives across inputs, and is found there right after. Never touches
 * the network. Seeds: tests/data/fuzz/fuzz_sensor_dns/.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_map *map;
	if (!map && !(map = dns_map_create(64)))
		abort();
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
	return 0;
}
