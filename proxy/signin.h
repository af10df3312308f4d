/*
 * signin.h: the sign-in page of intercept mode (signin.c).
 */
#ifndef BREAKTIME_SIGNIN_H
#define BREAKTIME_SIGNIN_H

#include "conn.h"

/* How long a sign-in form stays good after it is given. */
#define SIGNIN_TOKEN_TTL (60 * 60)
#define SIGNIN_TOKEN_MAX 96

/* The sign-in form's token for a client address, made at now (seconds
 * since the epoch); false (out unusable) without a key. */
bool signin_token(const struct sockaddr *peer, int64_t now, char out[SIGNIN_TOKEN_MAX]);
/* Did this process make token for peer, at most SIGNIN_TOKEN_TTL before now? */
bool signin_token_ok(const struct sockaddr *peer, const char *token, int64_t now);

/* Can a device sign in here (an HTTPS listener, and [auth] checks passwords)? */
bool signin_available(const struct conn *c);
/* An intercepted plain-HTTP request from an unknown device: answer 302 to the
 * sign-in page and return true; false (nothing done) when the device is known
 * or signing in is not available. */
bool signin_redirect(struct conn *c, const struct http_request *req, size_t head_len);
/* GET or POST /signin (any listener; passwords are taken over TLS only). */
void signin_page(struct conn *c, const struct http_request *req, size_t head_len, const char *query,
		 size_t qlen);

#endif
