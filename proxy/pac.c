/*
 * pac: the proxy auto-configuration script breaktimed serves at /proxy.pac
 * (and /wpad.dat): private and local destinations go DIRECT, everything
 * else through this proxy.
 *
 * Must never put anything from the request into the script (pac_proxy says
 * why). Runs on the loop thread; reads the listeners fixed at start;
 * appends to an evbuffer; never blocks.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

/*
 * The proxy a PAC script names: the first listener's own address when it
 * binds one, else visible_hostname (a wildcard listener has no address a
 * client could use), with the listener's port. Never the request's Host
 * header: that is the client's word (and whatever a page made it send),
 * and it went into a script the browser runs for every URL.
 */
static void pac_proxy(const struct conf *conf, char *proxy, size_t len)
{
	const struct sockaddr *sa = server.n_listen ? &server.listen[0].u.sa : NULL;
	bool wildcard = !sa ||
		(sa->sa_family == AF_INET &&
		 ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
		(sa->sa_family == AF_INET6 &&
		 IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr));

	if (!wildcard)
		sockaddr_ntop_port(sa, proxy, len);
	else
		snprintf(proxy, len, "%s:%u", conf->proxy.visible_hostname, sa ? sockaddr_port(sa) : 3128u);
}

void pages_pac(struct evbuffer *out, const struct conf *conf, const char *authority, size_t len,
	       bool keep_alive, bool head_only)
{
	char proxy[300], body[2048];

	(void)authority; /* kept for the caller's signature: never echoed (pac_proxy) */
	(void)len;
	pac_proxy(conf, proxy, sizeof(proxy));
	int n = snprintf(body, sizeof(body),
			 "// breaktime: proxy auto-configuration\n"
			 "function FindProxyForURL(url, host) {\n"
			 "  if (isPlainHostName(host) || dnsDomainIs(host, \".local\") ||\n"
			 "      host == \"localhost\" || shExpMatch(host, \"127.*\") || host == \"[::1]\" ||\n"
			 "      isInNet(host, \"10.0.0.0\", \"255.0.0.0\") ||\n"
			 "      isInNet(host, \"172.16.0.0\", \"255.240.0.0\") ||\n"
			 "      isInNet(host, \"192.168.0.0\", \"255.255.0.0\") ||\n"
			 "      isInNet(host, \"169.254.0.0\", \"255.255.0.0\"))\n"
			 "    return \"DIRECT\";\n"
			 "  return \"PROXY %s\";\n"
			 "}\n", proxy);
	evbuffer_add_printf(out,
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: application/x-ns-proxy-autoconfig\r\n"
			    "Content-Length: %d\r\n"
			    "Cache-Control: max-age=300\r\n"
			    "Connection: %s\r\n\r\n",
			    n, keep_alive ? "keep-alive" : "close");
	if (!head_only)
		evbuffer_add(out, body, (size_t)n);
}
