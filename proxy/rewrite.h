/*
 * rewrite.h: the heads written for a forwarded exchange (rewrite.c).
 */
#ifndef BREAKTIME_REWRITE_H
#define BREAKTIME_REWRITE_H

#include "conn.h"

/* The head for the origin: origin-form, our Host, hop-by-hop fields removed,
 * framing from the parser, Via added. A new evbuffer the caller frees. */
struct evbuffer *rewrite_upstream_head(struct conn *c, const struct http_request *req);
/* The response head for the client, appended to out; final: not an interim
 * (1xx) response, so framing and Connection are written. */
void rewrite_client_head(struct conn *c, const struct http_response *resp, struct evbuffer *out,
			 bool final);

#endif
