/*
 * intercept.h: connections redirected by the gateway's firewall (intercept.c).
 */
#ifndef BREAKTIME_INTERCEPT_H
#define BREAKTIME_INTERCEPT_H

#include "conn.h"

/* For worker.c: the address the device connected to (TPROXY: the socket's
 * own; NAT REDIRECT: conntrack's). 0, or -1 when the socket has none. */
int intercept_original_dst(evutil_socket_t fd, struct sockaddr_any *out);
/* For worker.c, right after conn_create(): this conn was intercepted on its
 * way to dst. Port 443 waits for the ClientHello; others read an HTTP head. */
void conn_intercept(struct conn *c, const struct sockaddr_any *dst);
/* CS_PEEK before the origin is connected: the ClientHello may be complete. */
void intercept_peek_read(struct conn *c);
/* No ClientHello within sni_timeout. */
void intercept_peek_timeout(struct conn *c);
/* The person on an intercepted flow: the device map, else a binding
 * (bindings.c), else none (never a 407). */
void intercept_identify(struct conn *c);
/* How long an intercepted connection waits for the neighbour table's answer
 * about its client before it goes on without (the answer takes well under
 * a millisecond unless the kernel is busy with its routing lock). */
#define INTERCEPT_NEIGH_WAIT_MS 100
/* CS_NEIGH: go on if the neighbour table has answered (worker.c, on 'N'). */
void intercept_neigh_check(struct conn *c);
/* CS_NEIGH: the wait is over (answered, or INTERCEPT_NEIGH_WAIT_MS passed). */
void intercept_neigh_done(struct conn *c);
bool intercept_is_tls(const struct conn *c);
/* Is an intercepted flow to this port TLS (the client speaks first, a ClientHello)? */
bool intercept_port_is_tls(uint16_t port);

#endif
