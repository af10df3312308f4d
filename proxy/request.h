/*
 * request.h: reading and deciding a request head (request.c).
 */
#ifndef BREAKTIME_REQUEST_H
#define BREAKTIME_REQUEST_H

#include "conn.h"

/* CS_HEAD: look for a whole head in the client's input; when one is there,
 * parse, identify, decide and route it (answered here, or handed to relay.c
 * or tunnel.c). Needs nothing else from the caller. */
void request_read_heads(struct conn *c);
/* The block page for c's decision (403), recorded as blocked with reason
 * (the record's close text); then the next request (keep_alive) or close. */
void request_blocked_reply(struct conn *c, bool keep_alive, const char *reason);

#endif
