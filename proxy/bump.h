/*
 * bump.h: block pages over HTTPS (bump.c).
 *
 * A CONNECT (or an intercepted ClientHello) that the policy denies, or
 * warns about, is answered "200 Connection established" and its TLS is
 * terminated with a leaf certificate minted for its server name by the
 * organisation's block CA ([proxy] block_ca, name-constrained to the
 * catalog), so the person sees the block page or the warn interstitial
 * instead of a broken connection. Allowed traffic is never terminated: the
 * decision comes first, and only a deny or warn leads here.
 *
 * A generation holds one struct bumper (the CA, the TLS context of the
 * pages and the leaf cache); leaves are minted on one mint thread, never on
 * a loop, and never written anywhere.
 */
#ifndef BREAKTIME_BUMP_H
#define BREAKTIME_BUMP_H

#include <stdbool.h>
#include <stddef.h>

#include "http_head.h"

/* The Continue link's path on a terminated connection (same origin as the page). */
#define BUMP_CONTINUE_PATH "/.well-known/breaktime/continue"

struct conf;
struct conn;
struct bumper;

/* ---- the generation's (main thread) ---- */

/* Load block_ca and block_ca_key: NULL when they are not set (ok stays
 * true) or on error (logged, ok false). */
struct bumper *bumper_load(const struct conf *c, bool *ok);
/* Any thread: the last generation reference drops it. */
void bumper_free(struct bumper *b);
/* Stop the mint thread (main thread, after the workers have stopped and
 * before they are freed): jobs that never reached their loop are freed. */
void bump_shutdown(void);
/* worker_destroy(): the worker's wake-up for minted leaves (before its base goes). */
struct bump_wake;
void bump_wake_free(struct bump_wake *wk);

/* ---- a connection's (its loop thread) ---- */

/*
 * Should this denied or warned flow be shown its page over TLS? True when
 * the generation has a block CA that permits name (a host name, never an
 * address) and c->decision is a block or an unacknowledged warn.
 */
bool bump_wanted(struct conn *c, const char *name);
/* Explicit proxy: answer the CONNECT head (head_len bytes at the front of
 * the input) with 200, read the ClientHello, then bump_hello(). */
void bump_connect(struct conn *c, size_t head_len);
/* The ClientHello is at the front of the client's input: mint (or take from
 * the cache) a leaf for name, complete the handshake, serve the pages. */
void bump_hello(struct conn *c, const char *name);
/* conn.c's read callback and timer in CS_BUMP. */
void bump_on_read(struct conn *c);
void bump_on_timer(struct conn *c);
/* request.c: one request head on a terminated connection. */
void bump_request(struct conn *c, const struct http_request *req, size_t head_len);
/* conn.c, closing: nothing of the conn's waits below its TLS any more (the
 * records of the last answer are out of the socket's own buffer). True
 * for a conn that is not terminated. */
bool bump_flushed(const struct conn *c);
/* conn_close(): detach a pending mint and free the conn's bump state. */
void bump_conn_free(struct conn *c);

#endif
