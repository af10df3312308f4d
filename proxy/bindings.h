/*
 * bindings.h: client addresses and devices bound to a person (bindings.c).
 * Any thread unless it says otherwise.
 */
#ifndef BREAKTIME_BINDINGS_H
#define BREAKTIME_BINDINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct store;
struct store_binding_row;

/* Where bindings are recorded (main thread, before the workers start; NULL: nowhere). */
void bindings_open(struct store *s);
/* A row in force read back from the store at start (main thread, before the
 * workers start): bound again, not recorded again. false when it is not one
 * (an address or MAC address that does not parse). */
bool bindings_restore(const struct store_binding_row *row);
/* At stop, after neigh_stop(): sign-ins still waiting for their MAC address
 * are recorded without it. */
void bindings_close(void);

/* A sign-in from sa at now, in force until `until` (unix times). Recorded
 * with the device's MAC address once the neighbour table has answered. */
void bindings_sign_in(const struct sockaddr *sa, const char *user, int64_t now, int64_t until);
/* An authenticated explicit-proxy request from sa now: vouches for it a while. */
void bindings_note_explicit(const struct sockaddr *sa, const char *user, int64_t now);
/*
 * The person behind an intercepted flow from sa at now (user: 64 bytes):
 * the address's binding, unless the neighbour table shows another device at
 * the address than the one that signed in (the binding ends, recorded);
 * else, when the table knows the device's MAC address and a binding in
 * force has it, the same person (the address is bound to them, recorded).
 * signed_in (may be NULL): by a sign-in rather than an explicit session.
 * False when nobody. Never blocks: the neighbour table through its cache.
 */
bool bindings_identify(const struct sockaddr *sa, int64_t now, char user[64], bool *signed_in);
/*
 * Would bindings_identify() for sa use the neighbour table's answer, which
 * is not there yet (asked now, if it was not)? Then an intercepted flow
 * waits for it (intercept.c) before it is identified.
 */
bool bindings_wants_mac(const struct sockaddr *sa, int64_t now);
/* The neighbour thread's answer for sa (mac NULL: none): a sign-in waiting
 * for it is recorded. On the neighbour thread (neigh_hooks.answer). */
void bindings_on_neigh(const struct sockaddr *sa, const uint8_t *mac);

#endif
