/*
 * flags: the DoH resolver and VPN port tables. See flags.h.
 *
 * Sources (as published by each operator; checked 2026-11):
 *   Google Public DNS   https://developers.google.com/speed/public-dns/docs/doh
 *                       https://developers.google.com/speed/public-dns/docs/using
 *   Cloudflare 1.1.1.1  https://developers.cloudflare.com/1.1.1.1/encryption/dns-over-https/
 *                       https://developers.cloudflare.com/1.1.1.1/ip-addresses/
 *                       (1.1.1.2/3: "1.1.1.1 for Families"; mozilla.cloudflare-dns.com:
 *                       Firefox's default TRR)
 *   Quad9               https://www.quad9.net/service/service-addresses-and-features/
 *   OpenDNS / Umbrella  https://support.opendns.com/hc/en-us/articles/360038086532
 *   AdGuard DNS         https://adguard-dns.io/kb/general/dns-providers/
 *   NextDNS, Mullvad, CleanBrowsing, DNS.SB, Control D and others: the curl
 *                       project's list of public DoH servers,
 *                       https://github.com/curl/curl/wiki/DNS-over-HTTPS
 *   VPN ports           the IANA service name registry and the protocols'
 *                       RFCs: OpenVPN 1194 (IANA "openvpn"), IKE 500 (RFC 7296),
 *                       IPsec NAT traversal 4500 (RFC 3948), L2TP 1701 (RFC 2661),
 *                       PPTP 1723 (RFC 2637); WireGuard 51820 (wg-quick's and the
 *                       WireGuard quick start's default), Tailscale 41641
 *                       (https://tailscale.com/kb/1082/firewall-ports)
 *
 * Not here: DoH on a resolver's own name elsewhere (a school cannot list every
 * one; a name not listed goes unflagged), VPNs on port 443 (OpenVPN over TCP,
 * SSTP, AnyConnect): they look like HTTPS.
 */
#include "flags.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

/* A name matches itself and its subdomains. */
static const char *const doh_names[] = {
	"dns.google",                    /* and dns64.dns.google */
	"cloudflare-dns.com",            /* mozilla., chrome., security., family., 1dot1dot1dot1. */
	"one.one.one.one",
	"dns.quad9.net", "dns9.quad9.net", "dns10.quad9.net", "dns11.quad9.net",
	"dns12.quad9.net",
	"doh.opendns.com", "doh.familyshield.opendns.com", "doh.umbrella.com",
	"dns.adguard.com", "dns.adguard-dns.com",   /* unfiltered., family. */
	"dns.nextdns.io",
	"doh.cleanbrowsing.org",
	"doh.mullvad.net", "dns.mullvad.net",
	"doh.dns.sb",
	"freedns.controld.com",
	"dns0.eu",
	"dns.alidns.com",
	"doh.pub",
	"ordns.he.net",
	"doh.libredns.gr",
	"dns.switch.ch",
};

static const char *const doh_addrs[] = {
	/* Google */
	"8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844",
	/* Cloudflare, and 1.1.1.1 for Families */
	"1.1.1.1", "1.0.0.1", "1.1.1.2", "1.0.0.2", "1.1.1.3", "1.0.0.3",
	"2606:4700:4700::1111", "2606:4700:4700::1001", "2606:4700:4700::1112",
	"2606:4700:4700::1002", "2606:4700:4700::1113", "2606:4700:4700::1003",
	/* Quad9 */
	"9.9.9.9", "149.112.112.112", "9.9.9.10", "149.112.112.10", "9.9.9.11",
	"149.112.112.11", "2620:fe::fe", "2620:fe::9", "2620:fe::10", "2620:fe::fe:10",
	"2620:fe::11", "2620:fe::fe:11",
	/* OpenDNS (and FamilyShield) */
	"208.67.222.222", "208.67.220.220", "208.67.222.123", "208.67.220.123",
	"2620:119:35::35", "2620:119:53::53",
	/* AdGuard DNS */
	"94.140.14.14", "94.140.15.15", "94.140.14.140", "94.140.14.141",
	"2a10:50c0::ad1:ff", "2a10:50c0::ad2:ff",
};

struct vpn_port {
	uint8_t proto;
	uint16_t port;
	const char *name;
};

static const struct vpn_port vpn_ports[] = {
	{IPPROTO_UDP, 1194, "openvpn"},
	{IPPROTO_TCP, 1194, "openvpn"},
	{IPPROTO_UDP, 51820, "wireguard"},
	{IPPROTO_UDP, 500, "ike"},
	{IPPROTO_UDP, 4500, "ipsec-nat-t"},
	{IPPROTO_UDP, 1701, "l2tp"},
	{IPPROTO_TCP, 1723, "pptp"},
	{IPPROTO_UDP, 41641, "tailscale"},
};

bool flags_doh_name(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(doh_names) / sizeof(doh_names[0]); i++) {
		size_t m = strlen(doh_names[i]);
		if (n == m ? memcmp(name, doh_names[i], n) == 0
			   : n > m && name[n - m - 1] == '.' && memcmp(name + n - m, doh_names[i], m) == 0)
			return true;
	}
	return false;
}

#define N_DOH_ADDRS (sizeof(doh_addrs) / sizeof(doh_addrs[0]))
static struct {
	int family;
	uint8_t a[16];
} doh_bin[N_DOH_ADDRS];
static pthread_once_t doh_once = PTHREAD_ONCE_INIT;

static void doh_parse(void)
{
	for (size_t i = 0; i < N_DOH_ADDRS; i++) {
		doh_bin[i].family = strchr(doh_addrs[i], ':') ? AF_INET6 : AF_INET;
		if (inet_pton(doh_bin[i].family, doh_addrs[i], doh_bin[i].a) != 1)
			doh_bin[i].family = -1;
	}
}

bool flags_doh_addr(int family, const uint8_t *addr)
{
	size_t len = family == AF_INET ? 4 : 16;
	pthread_once(&doh_once, doh_parse);
	for (size_t i = 0; i < N_DOH_ADDRS; i++)
		if (doh_bin[i].family == family && memcmp(doh_bin[i].a, addr, len) == 0)
			return true;
	return false;
}

const char *flags_vpn_port(uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < sizeof(vpn_ports) / sizeof(vpn_ports[0]); i++)
		if (vpn_ports[i].port == port && vpn_ports[i].proto == proto)
			return vpn_ports[i].name;
	return NULL;
}
