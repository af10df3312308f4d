/*
 * relay.h: a forwarded exchange (relay.c). conn_upstream_ready(), the
 * callback of upstream_open(), is declared in proxy.h for upstream.c.
 */
#ifndef BREAKTIME_RELAY_H
#define BREAKTIME_RELAY_H

#include "conn.h"

/* Forward the decided request whose head (head_len bytes) is at the front of
 * the client's input: rewrite the head, drain it, open the origin. */
void relay_forward(struct conn *c, const struct http_request *req, size_t head_len);
/* Resolve and connect to c->host:c->port (or take a pooled connection when
 * may_reuse); conn_upstream_ready() goes on. Answers 503 when it cannot start. */
void relay_open(struct conn *c, bool may_reuse);
/* Client callbacks while CS_FORWARD: more body arrived; the output drained. */
void relay_client_read(struct conn *c);
void relay_client_drained(struct conn *c);

#endif
