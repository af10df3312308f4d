/*
 * intercept: connections the gateway's firewall redirected to an
 * intercept_listen address (TPROXY, or NAT REDIRECT), from devices that
 * have no proxy settings. Nothing is decrypted.
 *
 * The original destination (the address the device connected to) comes
 * from the accepted socket: with TPROXY it is the socket's own address,
 * with REDIRECT the kernel's connection tracking keeps it (SO_ORIGINAL_DST,
 * IP6T_SO_ORIGINAL_DST). The flow is always sent there, never to a name the
 * device wrote:
 *   - port 443: the ClientHello is read (the same parser as for CONNECT), the
 *     flow decided by its server name, then spliced to the original
 *     destination untouched. Without a server name the flow is decided by
 *     the address alone and recorded with the reason "no-sni";
 *     [proxy] intercept_no_sni = block refuses such flows instead. With an
 *     encrypted ClientHello (ECH) the outer name is decided as any other:
 *     it is the site's own when the extension is GREASE, as browsers send
 *     in every ClientHello; when allowed it is recorded with "ech".
 *   - any other port: HTTP; request.c reads the head and decides by its Host
 *     (origin-form requests), relay.c connects to the original destination.
 * A refusal is never HTTP text to a client that sent a ClientHello: an
 * intercepted TLS flow that is refused (allow_clients, a failed connection
 * to the origin, ...) is recorded with its reason and closed (conn.c's
 * conn_reply_error, worker.c's refusals at accept).
 * A device cannot answer a 407 here: its identity comes from the device map,
 * else from a binding (bindings.c: a sign-in on the sign-in page from its
 * address, or from another address of the same device by its MAC address,
 * or a recent authenticated explicit-proxy session from the same address),
 * else [auth] default_group.
 *
 * The MAC address is the gateway's neighbour table's (neigh.c), asked by
 * its own thread. When a binding depends on it and the cache has no answer
 * yet, the new connection reads nothing (CS_NEIGH) until the answer is
 * there ('N' from the neighbour thread) or INTERCEPT_NEIGH_WAIT_MS passed,
 * so that its first request is not decided as a stranger's; the loop never
 * waits on the kernel.
 */
#include "intercept.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bindings.h"
#include "bump.h"
#include "identity.h"
#include "log.h"
#include "relay.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* linux/netfilter_ipv4.h */
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif

int intercept_original_dst(evutil_socket_t fd, struct sockaddr_any *out)
{
	struct sockaddr_any nat;

	/* TPROXY: the accepted socket has the address the device connected to */
	out->len = sizeof(out->u.ss);
	if (getsockname(fd, &out->u.sa, &out->len) < 0)
		return -1;
	/* NAT REDIRECT: the socket has our address; conntrack has the original */
	nat.len = sizeof(nat.u.ss);
	bool v6 = out->u.sa.sa_family == AF_INET6;
	if (getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST,
		       &nat.u.sa, &nat.len) == 0 &&
	    nat.u.sa.sa_family == out->u.sa.sa_family)
		*out = nat;
	return 0;
}

bool intercept_port_is_tls(uint16_t port)
{
	return port == 443;
}

bool intercept_is_tls(const struct conn *c)
{
	return intercept_port_is_tls(c->dst_port);
}

void intercept_identify(struct conn *c)
{
	const char *dev = identity_device_user(c->idb, &c->peer.u.sa);

	if (dev)
		snprintf(c->user, sizeof(c->user), "%s", dev);
	else if (!bindings_identify(&c->peer.u.sa, time(NULL), c->user, NULL))
		c->user[0] = '\0';
}

/* TLS: wait for the ClientHello (conn.c's read callback comes to
 * intercept_peek_read() in CS_PEEK), at most sni_timeout. */
static void peek_begin(struct conn *c)
{
	c->state = CS_PEEK;
	bufferevent_setwatermark(c->client, EV_READ, 0, SNI_MAX_HELLO);
	bufferevent_enable(c->client, EV_READ);
	conn_timer_start(c, c->conf->proxy.sni_timeout_ms);
}

void conn_intercept(struct conn *c, const struct sockaddr_any *dst)
{
	c->intercept = 1;
	sockaddr_ntop(&dst->u.sa, c->dst, sizeof(c->dst));
	c->dst_kind = dst->u.sa.sa_family == AF_INET6 ? HOST_IPV6 : HOST_IPV4;
	c->dst_port = sockaddr_port(&dst->u.sa);
	c->port = c->dst_port;
	if (!identity_device_user(c->idb, &c->peer.u.sa) &&
	    bindings_wants_mac(&c->peer.u.sa, time(NULL))) {
		/* who it is depends on its MAC address, being asked: nothing is
		 * read (so nothing decided) until the answer */
		c->state = CS_NEIGH;
		bufferevent_disable(c->client, EV_READ);
		conn_timer_start(c, INTERCEPT_NEIGH_WAIT_MS);
		worker_neigh_add(c->w, c);
		return;
	}
	if (intercept_is_tls(c))
		peek_begin(c);
	/* HTTP: request.c reads the head (conn_create() began to wait for it) */
}

void intercept_neigh_check(struct conn *c)
{
	if (c->state == CS_NEIGH && !bindings_wants_mac(&c->peer.u.sa, time(NULL)))
		intercept_neigh_done(c);
}

void intercept_neigh_done(struct conn *c)
{
	if (c->state != CS_NEIGH)
		return;
	worker_neigh_remove(c->w, c);
	evtimer_del(c->timer);
	if (intercept_is_tls(c))
		peek_begin(c);
	else
		conn_wait_for_head(c);
}

/* The ClientHello was read (r) or did not come: decide, then connect or refuse. */
static void peek_done(struct conn *c, const struct sni_info *info, enum sni_result r)
{
	enum reason why = REASON_NONE;

	evtimer_del(c->timer);
	c->requests++;
	__atomic_add_fetch(&server.requests, 1, __ATOMIC_RELAXED);
	c->start_us = conn_wall_us();
	c->is_connect = 1;
	c->port = c->dst_port;
	snprintf(c->method, sizeof(c->method), "CONNECT");
	snprintf(c->host, sizeof(c->host), "%s", c->dst);
	c->host_kind = c->dst_kind;
	snprintf(c->uri, sizeof(c->uri), "%s%s%s:%u", c->dst_kind == HOST_IPV6 ? "[" : "", c->dst,
		 c->dst_kind == HOST_IPV6 ? "]" : "", c->port);
	if (r == SNI_FOUND) {
		/* with an encrypted ClientHello the outer name is the ECH
		 * provider's when the ECH is real, and the site's when it is
		 * GREASE (Chromium and Firefox send that in every ClientHello):
		 * either way it is decided, and "ech" said when that allows it */
		memcpy(c->sni, info->name, sizeof(c->sni));
		if (info->ech)
			why = REASON_ECH;
	} else {
		why = REASON_NO_SNI;
	}
	if (c->refused) {
		/* not in allow_clients: as an explicit client's request gets its
		 * 403, this flow is recorded with its name, and closed */
		c->decision.verdict = VERDICT_BLOCK;
		c->decision.reason = REASON_CLIENT_NOT_ALLOWED;
		c->status = 403;
		conn_close(c, "client-not-allowed");
		return;
	}
	intercept_identify(c);
	/* by the server name and the address: the more restrictive wins */
	enforce_decide(c, c->host, c->sni[0] ? c->sni : NULL, &c->decision);
	if (why != REASON_NONE) {
		if (why == REASON_NO_SNI && c->conf->proxy.intercept_no_sni_block) {
			c->decision.verdict = VERDICT_BLOCK;
			c->decision.reason = why;
		} else if (c->decision.reason == REASON_NOT_SOCIAL) {
			c->decision.reason = why;
		}
	}
	if (c->sni[0] && bump_wanted(c, c->sni)) {
		/* denied or warned, with a block CA: the page over TLS (the
		 * ClientHello waits in the input for the handshake) */
		bump_hello(c, c->sni);
		return;
	}
	if (c->decision.verdict == VERDICT_BLOCK) {
		/* refused at the handshake: nothing reaches the origin */
		log_debug("intercepted TLS to %s:%u (%s) refused: %s", c->dst, c->port,
			  c->sni[0] ? c->sni : "no name",
			  c->decision.reason != REASON_NONE ? verdict_reason_name(c->decision.reason) : "policy");
		conn_close(c, "blocked-sni");
		return;
	}
	relay_open(c, false);
}

void intercept_peek_read(struct conn *c)
{
	struct sni_info info;
	enum sni_result r;

	if (!tunnel_read_hello(bufferevent_get_input(c->client), &info, &r))
		return;
	/* the rest waits in the input until the origin is connected */
	bufferevent_disable(c->client, EV_READ);
	peek_done(c, &info, r);
}

void intercept_peek_timeout(struct conn *c)
{
	if (c->refused) {
		conn_close(c, "refused-idle"); /* as an explicit refused client's: no record */
		return;
	}
	/* nothing to decide by, and a TLS client always speaks first: let it go
	 * (unlike CONNECT, whose host was decided before the peek) */
	c->start_us = conn_wall_us();
	snprintf(c->method, sizeof(c->method), "CONNECT");
	snprintf(c->host, sizeof(c->host), "%s", c->dst);
	c->host_kind = c->dst_kind;
	c->port = c->dst_port;
	c->is_connect = 1;
	conn_close(c, "no-client-hello");
}
