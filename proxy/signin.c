/*
 * signin: the sign-in page of intercept mode. A device without proxy
 * settings cannot answer a 407, so its person signs in on a page instead:
 *
 *   1. an unknown device's plain-HTTP request (the operating systems'
 *      captive-portal probes among them) is answered 302 to
 *      https://<visible_hostname>:<tls_listen port>/signin?to=<its URL>,
 *      which makes phones open their captive-portal sheet;
 *   2. GET /signin (over the HTTPS listener, with its certificate) is a form;
 *   3. POST /signin refuses a form this page did not give this device (login
 *      CSRF: another site's page posting the form would sign the device in
 *      as the attacker, or charge the attacker's use to whoever it signs
 *      in): the form's token must be one made for the client address within
 *      SIGNIN_TOKEN_TTL, and a browser's Origin, when it sends one, must be
 *      this page's (https and the request's Host). Then it checks the user
 *      name and password the way a
 *      Proxy-Authorization is checked (identity.c: the same verifiers, cache
 *      and failed-attempt limit) and binds the client address to the person
 *      until [auth] sign_in_expiry (bindings.c), then sends the device on to
 *      where it was going. The exchange is recorded with the person, so the
 *      store's sessions (and the sensor's attribution) know the device.
 * Passwords are accepted over TLS only, never logged, stored or echoed.
 */
#include "signin.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bindings.h"
#include "http_head.h"
#include "identity.h"
#include "log.h"
#include "policy.h"
#include "tz.h"
#include "urlenc.h"

#define SIGNIN_BODY_MAX 4096       /* user, password and a return URL */
#define SIGNIN_TO_MAX 1024

/*
 * The form's token:
 *
 *     token = decimal(made) "." hex(HMAC-SHA256(key, "signin" NUL address NUL decimal(made)))
 *
 * made is when the form was given (seconds since the epoch), the address
 * the client's, as text without its port. The key is random, made once per
 * process: a restart invalidates the forms in browsers, which are then
 * given again with a note.
 */
#define SIGNIN_KEY_LEN 32
#define SIGNIN_MAC_HEX (2 * 32)
#define SIGNIN_TOKEN_SKEW 300      /* a clock stepped back: forms made "later" than now */

static unsigned char signin_key[SIGNIN_KEY_LEN];
static bool signin_key_ok;
static pthread_once_t signin_key_once = PTHREAD_ONCE_INIT;

static void signin_key_init(void)
{
	signin_key_ok = RAND_bytes(signin_key, sizeof(signin_key)) == 1;
	if (!signin_key_ok)
		log_err("no random bytes for the sign-in form's key: every sign-in is refused");
}

static bool token_mac(const struct sockaddr *peer, int64_t made, char hex[SIGNIN_MAC_HEX + 1])
{
	char addr[64];
	unsigned char msg[8 + sizeof(addr) + 24], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	pthread_once(&signin_key_once, signin_key_init);
	if (!signin_key_ok || !sockaddr_ntop(peer, addr, sizeof(addr)))
		return false;
	int n = snprintf((char *)msg, sizeof(msg), "signin%c%s%c%" PRId64, 0, addr, 0, made);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return false;
	if (!HMAC(EVP_sha256(), signin_key, sizeof(signin_key), msg, (size_t)n, mac, &maclen) ||
	    maclen * 2 != SIGNIN_MAC_HEX)
		return false;
	for (unsigned i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return true;
}

bool signin_token(const struct sockaddr *peer, int64_t now, char out[SIGNIN_TOKEN_MAX])
{
	char hex[SIGNIN_MAC_HEX + 1];

	if (!token_mac(peer, now, hex))
		return false;
	int n = snprintf(out, SIGNIN_TOKEN_MAX, "%" PRId64 ".%s", now, hex);
	return n > 0 && n < SIGNIN_TOKEN_MAX;
}

bool signin_token_ok(const struct sockaddr *peer, const char *token, int64_t now)
{
	char want[SIGNIN_MAC_HEX + 1], *end;

	if (token[0] < '0' || token[0] > '9')
		return false;
	errno = 0;
	long long made = strtoll(token, &end, 10);
	if (errno || *end != '.' || strlen(end + 1) != SIGNIN_MAC_HEX)
		return false;
	if (made > now + SIGNIN_TOKEN_SKEW || now - made > SIGNIN_TOKEN_TTL)
		return false;
	return token_mac(peer, made, want) && CRYPTO_memcmp(end + 1, want, SIGNIN_MAC_HEX) == 0;
}

/* No Origin (a client that sends none), or this page's own: https:// and the Host it was asked by. */
static bool origin_ok(const struct http_request *req)
{
	const struct http_header *o = http_find_header(req->headers, req->n_headers, "origin");
	if (!o)
		return true;
	const struct http_header *h = http_find_header(req->headers, req->n_headers, "host");
	static const char https[] = "https://";
	size_t pre = sizeof(https) - 1;
	return h && h->value_len > 0 && o->value_len == pre + h->value_len &&
	       strncasecmp(o->value, https, pre) == 0 && strncasecmp(o->value + pre, h->value, h->value_len) == 0;
}

bool signin_available(const struct conn *c)
{
	return server.n_tls_listen > 0 && identity_verifies(c->idb);
}

/* The end of a sign-in made now: sign_in_expiry, or the end of the site-local day. */
static int64_t expiry(const struct conn *c, int64_t now)
{
	const struct policy *p = c->conf->policy;
	const struct policy_auth *a = p ? policy_auth(p) : NULL;

	if (a && a->sign_in_expiry_s)
		return now + a->sign_in_expiry_s;
	unsigned since_midnight;
	tz_local_day(policy_tz(p), now, &since_midnight);
	return now + (TZ_DAY_SECONDS - since_midnight);
}

/* A return URL we send a browser on to: http(s), printable, no quotes. */
static bool to_ok(const char *to)
{
	if (strncmp(to, "http://", 7) != 0 && strncmp(to, "https://", 8) != 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)to; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
			return false;
	return true;
}

static void form(struct conn *c, struct evbuffer *out, int status, const char *to, const char *note,
		 bool keep, bool head_only)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width\">"
			    "<title>Sign in</title></head><body><h1>Sign in to use the network</h1>"
			    "<p>Staff: sign in with your proxy user name and password, so that your use "
			    "is counted as yours. Without signing in, this device gets the guests' rules.</p>");
	if (note) {
		evbuffer_add_printf(b, "<p><strong>");
		pages_escape_html(b, note);
		evbuffer_add_printf(b, "</strong></p>");
	}
	/* no key: an empty token, refused on POST (the log says why) */
	char token[SIGNIN_TOKEN_MAX];
	if (!signin_token(&c->peer.u.sa, time(NULL), token))
		token[0] = '\0';
	evbuffer_add_printf(b, "<form method=\"post\" action=\"/signin\">"
			    "<input type=\"hidden\" name=\"token\" value=\"%s\">"
			    "<input type=\"hidden\" name=\"to\" value=\"", token);
	/* the URL itself (the browser encodes the form): to_ok() let no quote in */
	pages_escape_html(b, to);
	evbuffer_add_printf(b, "\"><p><label>User name <input name=\"user\" autocomplete=\"username\" required></label></p>"
			    "<p><label>Password <input name=\"password\" type=\"password\" "
			    "autocomplete=\"current-password\" required></label></p>"
			    "<p><button type=\"submit\">Sign in</button></p></form></body></html>");
	pages_send_html(out, status, b, "Cache-Control: no-store\r\n", keep, head_only);
	evbuffer_free(b);
}

bool signin_redirect(struct conn *c, const struct http_request *req, size_t head_len)
{
	struct evbuffer *out = bufferevent_get_output(c->client);
	char to[SIGNIN_TO_MAX], enc[SIGNIN_TO_MAX * 3 + 1], loc[SIGNIN_TO_MAX * 3 + 320];

	if (c->user[0] || !signin_available(c))
		return false;
	snprintf(to, sizeof(to), "%s", c->uri);
	url_encode(to, enc, sizeof(enc));
	uint16_t port = sockaddr_port(&server.tls_listen[0].u.sa);
	snprintf(loc, sizeof(loc), "Location: https://%s:%u/signin?to=%s\r\n",
		 c->conf->proxy.visible_hostname, port, enc);
	evbuffer_drain(bufferevent_get_input(c->client), head_len);
	bool keep = req->keep_alive && req->body == HTTP_BODY_NONE && !worker_stopping(c->w);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in</title>"
			    "</head><body><p><a href=\"https://%s:%u/signin\">Sign in</a> to use the "
			    "network.</p></body></html>", c->conf->proxy.visible_hostname, port);
	size_t before = evbuffer_get_length(out);
	c->status = 302;
	c->decision.verdict = VERDICT_BLOCK;
	c->decision.reason = REASON_SIGN_IN_REQUIRED;
	pages_send_html(out, 302, b, loc, keep, req->is_head);
	evbuffer_free(b);
	conn_answer(c, before, RECORD_BLOCKED, "sign-in", keep);
	return true;
}

void signin_page(struct conn *c, const struct http_request *req, size_t head_len, const char *query,
		 size_t qlen)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct evbuffer *out = bufferevent_get_output(c->client);
	bool post = req->method_len == 4 && memcmp(req->method, "POST", 4) == 0;
	char to[SIGNIN_TO_MAX] = "";

	snprintf(c->uri, sizeof(c->uri), "/signin");
	if (!post) {
		if (!(req->method_len == 3 && memcmp(req->method, "GET", 3) == 0) && !req->is_head) {
			evbuffer_drain(in, head_len);
			conn_reply_error(c, 405, "The sign-in page answers GET and POST.", "own-page");
			return;
		}
		if (req->body != HTTP_BODY_NONE) {
			evbuffer_drain(in, head_len);
			conn_reply_error(c, 405, "A GET takes no request body.", "own-page");
			return;
		}
		if (query && (!url_query_get(query, qlen, "to", to, sizeof(to)) || !to_ok(to)))
			to[0] = '\0';
		bool keep = req->keep_alive && !worker_stopping(c->w);
		size_t before = evbuffer_get_length(out);
		c->status = 200;
		form(c, out, 200, to, NULL, keep, req->is_head);
		evbuffer_drain(in, head_len);
		conn_answer(c, before, RECORD_REQUEST, "own-page", keep);
		return;
	}
	if (!c->tls) {
		evbuffer_drain(in, head_len);
		conn_reply_error(c, 403, "Sign in over HTTPS: passwords never cross the network in clear.",
				 "sign-in-not-tls");
		return;
	}
	if (req->body != HTTP_BODY_LENGTH || req->content_length > SIGNIN_BODY_MAX) {
		evbuffer_drain(in, head_len);
		conn_reply_error(c, 413, "The sign-in form is a short urlencoded body.", "bad-request");
		return;
	}
	size_t body_len = (size_t)req->content_length;
	if (evbuffer_get_length(in) < head_len + body_len) {
		/* the body is still coming: the head stays, and is read again with it
		 * (header_timeout bounds the wait) */
		c->requests--;
		c->start_us = 0;
		conn_timer_start(c, c->conf->proxy.header_timeout_ms);
		return;
	}
	const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)(head_len + body_len)) + head_len;
	char user[64], password[256];
	bool have = url_query_get(body, body_len, "user", user, sizeof(user)) &&
		    url_query_get(body, body_len, "password", password, sizeof(password));
	if (!url_query_get(body, body_len, "to", to, sizeof(to)) || !to_ok(to))
		to[0] = '\0';
	/* a form this page gave this device, sent from this page: else nothing
	 * is checked or bound, and the device gets a fresh form */
	char token[SIGNIN_TOKEN_MAX];
	bool cross = !origin_ok(req);
	if (cross || !url_query_get(body, body_len, "token", token, sizeof(token)) ||
	    !signin_token_ok(&c->peer.u.sa, token, time(NULL))) {
		OPENSSL_cleanse(password, sizeof(password));
		size_t before = evbuffer_get_length(out);
		c->status = 403;
		form(c, out, 403, to, cross ? "This form was sent from another site: sign in on this page."
				       : "This form has expired: sign in again.", false, false);
		evbuffer_drain(in, head_len + body_len);
		conn_answer(c, before, RECORD_REQUEST, cross ? "sign-in-cross-site" : "sign-in-token", false);
		return;
	}
	if (!have || !user[0] || strchr(user, ':')) {
		size_t before = evbuffer_get_length(out);
		c->status = 400;
		form(c, out, 400, to, "Give a user name and a password.", false, false);
		evbuffer_drain(in, head_len + body_len);
		conn_answer(c, before, RECORD_REQUEST, "bad-request", false);
		return;
	}
	/* the same check as a Proxy-Authorization: Basic user:password */
	char plain[sizeof(user) + sizeof(password) + 2], auth[6 + 4 * sizeof(plain) / 3 + 8];
	int n = snprintf(plain, sizeof(plain), "%s:%s", user, password);
	static const char basic[] = "Basic ";
	size_t pre = sizeof(basic) - 1;
	memcpy(auth, basic, sizeof(basic)); /* with its NUL: EncodeBlock writes after it */
	int m = EVP_EncodeBlock((unsigned char *)auth + pre, (const unsigned char *)plain, n);
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(password, sizeof(password));
	size_t auth_len = pre + (m > 0 ? (size_t)m : 0);
	char who[64];
	enum identity_result r = identity_check(c->w, c, c->idb, &c->peer.u.sa, auth, auth_len, who);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (r == IDENTITY_PENDING) {
		/* as for a 407 answered: the request is read again when the check is done */
		c->state = CS_AUTH;
		c->requests--;
		c->start_us = 0;
		bufferevent_disable(c->client, EV_READ);
		return;
	}
	evbuffer_drain(in, head_len + body_len);
	size_t before = evbuffer_get_length(out);
	if (r == IDENTITY_LIMITED) {
		c->decision.verdict = VERDICT_BLOCK;
		c->decision.reason = REASON_AUTH_RATE_LIMITED;
		conn_reply_error(c, 429, "Too many failed sign-ins from your address: wait a minute.",
				 "auth-limited");
		return;
	}
	if (r != IDENTITY_OK) {
		c->status = 403;
		c->decision.verdict = VERDICT_BLOCK;
		c->decision.reason = REASON_AUTH_FAILED;
		form(c, out, 403, to, "Wrong user name or password.", false, false);
		conn_answer(c, before, RECORD_BLOCKED, "sign-in-failed", false);
		return;
	}
	int64_t now = time(NULL);
	memcpy(c->user, who, sizeof(c->user));
	bindings_sign_in(&c->peer.u.sa, c->user, now, expiry(c, now));
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed in</title>"
			    "</head><body><p>Signed in as ");
	pages_escape_html(b, c->user);
	evbuffer_add_printf(b, ".</p>%s%s%s</body></html>", to[0] ? "<p><a href=\"" : "", to[0] ? to : "",
			    to[0] ? "\">Go on</a></p>" : "");
	char loc[SIGNIN_TO_MAX + 16];
	snprintf(loc, sizeof(loc), "Location: %s\r\n", to);
	c->status = to[0] ? 303 : 200;
	pages_send_html(out, c->status, b, to[0] ? loc : NULL, false, false);
	evbuffer_free(b);
	c->decision.verdict = VERDICT_ALLOW;
	c->decision.reason = REASON_SIGNED_IN;
	conn_answer(c, before, RECORD_REQUEST, "signed-in", false);
}
