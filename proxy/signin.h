/*
 * signin.h: the sign-in page of intercept mode (signin.c).
 */
#ifndef BREAKTIME_SIGNIN_H
#define BREAKTIME_SIGNIN_H

#include "conn.h"

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
