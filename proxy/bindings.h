/*
 * bindings.h: client addresses bound to a person (bindings.c). Any thread.
 */
#ifndef BREAKTIME_BINDINGS_H
#define BREAKTIME_BINDINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* A sign-in from sa, in force until the unix time `until`. */
void bindings_sign_in(const struct sockaddr *sa, const char *user, int64_t until);
/* An authenticated explicit-proxy request from sa now: vouches for it a while. */
void bindings_note_explicit(const struct sockaddr *sa, const char *user, int64_t now);
/* The person bound to sa at now (user: 64 bytes); signed_in (may be NULL):
 * by a sign-in rather than an explicit session. False when none. */
bool bindings_user(const struct sockaddr *sa, int64_t now, char user[64], bool *signed_in);
/* Forget a sign-in from sa. */
void bindings_sign_out(const struct sockaddr *sa);

#endif
