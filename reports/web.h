/*
 * web.h: `breaktime web` — the administrator's web UI over HTTPS — the
 * module map and what its two files share.
 *
 *   web_form.c   form and query decoding (the parser the fuzzer exercises)
 *   web.c        the server: TLS (evhttp + bufferevent_openssl), routing,
 *                security headers, login against the [auth] htpasswd file
 *                or helper for members of the `admin` group, sessions,
 *                CSRF tokens, the per-address login limit, the connection
 *                limit and request deadline, SIGHUP reload
 *   web_pages.c  the pages: today at a glance, the excessive-use report
 *                (query.c + render_html.c, the same report as the CLI) with
 *                its CSV/HTML downloads, a person's timeline, the presence
 *                toggle (a row in `presence`, like `breaktime presence`)
 *
 * One process, one thread, one event loop. Reports open the store
 * read-only per request; only the presence toggle writes. Password checks
 * (bcrypt) run on the loop thread: this is a handful of administrators,
 * and the login limit bounds what a stranger can make it spend. The
 * [auth] helper is asked without blocking (the login's request waits,
 * others are served) and is stopped when it takes over 5 s.
 * Passwords are never logged, kept or echoed.
 */
#ifndef BREAKTIME_WEB_H
#define BREAKTIME_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct conf;
struct evhttp_request;

#define WEB_TOKEN_HEX 65   /* 256 bits as hex + NUL */

struct web_session {
	char id[WEB_TOKEN_HEX];     /* the cookie; "" when the slot is free */
	char csrf[WEB_TOKEN_HEX];   /* the hidden field of every POST form */
	char user[64];
	time_t expires;
};

/* ---- web_form.c ---- */

/* A decoded application/x-www-form-urlencoded string (query or body). */
#define WEB_FORM_MAX 16
struct web_form {
	char *buf;                  /* owns every key and value */
	const char *key[WEB_FORM_MAX], *value[WEB_FORM_MAX];
	size_t n;
};

/* Split at '&', then '=' ('+' a space, %XX a byte). -1 on a bad escape, a
 * NUL (encoded or not) or more than WEB_FORM_MAX fields; web_form_free()
 * either way. */
int web_form_parse(struct web_form *f, const char *s, size_t len);
void web_form_free(struct web_form *f);
/* The value of key (the first), or NULL. */
const char *web_form_get(const struct web_form *f, const char *key);
/* v percent-encoded for a URL's query (unreserved bytes stay): also safe in HTML. */
void web_url_value(FILE *out, const char *v);

/* ---- web.c, for the pages ---- */

/* Send body (len bytes) with the security headers; no_store: a report page. */
void web_send(struct evhttp_request *req, int code, const char *reason, const char *type,
	      const char *body, size_t len, bool no_store);
/* A small HTML error page. */
void web_error(struct evhttp_request *req, int code, const char *reason, const char *text);
void web_redirect(struct evhttp_request *req, const char *to);
/* The page around the content: head, the navigation and the logout form. */
void web_page_begin(FILE *out, const char *title, const struct web_session *s);
void web_page_end(FILE *out);
/* HTML-escaped text. */
void web_html(FILE *out, const char *v);
/* A name for the log: printable ASCII only, so no one forges a log line
 * (NULL: "an unknown user"). */
void web_log_name(const char *user, char *out, size_t len);
/* <input type=hidden name=csrf ...> */
void web_csrf_field(FILE *out, const struct web_session *s);

/* ---- web_pages.c ---- */

/* GET handlers (s: the logged-in session) and the presence POST (form checked for CSRF). */
void web_page_today(struct evhttp_request *req, const struct conf *c, const struct web_session *s);
void web_page_excessive(struct evhttp_request *req, const struct conf *c,
			const struct web_session *s, const struct web_form *q, const char *format);
void web_page_user(struct evhttp_request *req, const struct conf *c, const struct web_session *s,
		   const struct web_form *q);
void web_page_presence(struct evhttp_request *req, const struct conf *c,
		       const struct web_session *s, const char *message);
void web_post_presence(struct evhttp_request *req, const struct conf *c,
		       const struct web_session *s, const struct web_form *f);

/* cli.c: `breaktime web` */
int cmd_web(const char *path, int argc, char **argv);

#endif
