/*
 * authhelper: a client of a Squid basic-auth helper (basic_ncsa_auth,
 * basic_ldap_auth, basic_pam_auth...): a long-running child process that
 * reads "USER PASS\n" (both RFC 1738-escaped) on its stdin and answers one
 * line, "OK", "ERR" or "BH" (broken helper), on its stdout.
 *
 * Two ways to use it: authhelper_ask() blocks for at most timeout_ms (a
 * thread of its own); authhelper_send() + authhelper_read() on the
 * non-blocking authhelper_fd() fit an event loop. Either way, after a
 * timeout or a broken answer stop the helper and start a new one: a line
 * it may still write would answer the wrong question.
 *
 * One helper serves one question at a time; not thread-safe (one per thread).
 */
#ifndef BREAKTIME_AUTHHELPER_H
#define BREAKTIME_AUTHHELPER_H

struct authhelper;

enum {
	AUTHHELPER_ERROR = -1,      /* no usable answer: timeout, EOF, BH, garbage */
	AUTHHELPER_REFUSED = 0,     /* ERR */
	AUTHHELPER_OK = 1,          /* OK */
	AUTHHELPER_AGAIN = 2,       /* authhelper_read(): no whole line yet */
};

/* Start cmd (an absolute path, then arguments split at blanks; no shell).
 * NULL, logged, when it cannot be started. */
struct authhelper *authhelper_start(const char *cmd);
/* Close its pipes, SIGTERM it (SIGKILL after 200 ms) and reap it. NULL: nothing. */
void authhelper_stop(struct authhelper *h);
/* The command line it was started with. */
const char *authhelper_cmd(const struct authhelper *h);
/* The non-blocking read end of its stdout, for an event loop. */
int authhelper_fd(const struct authhelper *h);
/* Write the question, user in its canonical form (lower case, as
 * common/username.h says); 0, or -1 (the pipe is full or closed). */
int authhelper_send(struct authhelper *h, const char *user, const char *pass);
/* Read what has arrived: AUTHHELPER_OK, _REFUSED, _ERROR or _AGAIN. */
int authhelper_read(struct authhelper *h);
/* send, then wait for the answer at most timeout_ms. */
int authhelper_ask(struct authhelper *h, const char *user, const char *pass, int timeout_ms);

#endif
