/*
 * web: `breaktime -c FILE web` — the HTTPS server of the administrator's
 * web UI: TLS, routing, security headers, login, sessions, CSRF, the login
 * limit. The pages themselves are in web_pages.c.
 *
 * DESIGN. evhttp serves HTTP/1.1 on one listener; evhttp_set_bevcb() wraps
 * every accepted socket in a bufferevent_openssl, so there is no plain
 * HTTP at all. A login is a POST of user, password and a login CSRF token
 * (double submit: the same random value in a short-lived cookie and in
 * the form). It is refused with 429 once an address has failed
 * [web] login_attempts times in the current minute, before any hashing.
 * The password is checked against the [auth] htpasswd file with
 * common/htpasswd.c, or, for a name that file does not hold, by the
 * [auth] helper (common/authhelper.c: one child, one question at a time;
 * the login's request stays open in a small FIFO while the loop serves
 * others, and a helper silent for WEB_HELPER_TIMEOUT is killed and the
 * login answered 503); the user must be in the policy's `admin` group.
 * A session is 256 random bits (RAND_bytes) in a cookie that is HttpOnly,
 * Secure, SameSite=Strict, Path=/, held in a fixed table here with an
 * absolute expiry ([web] session_timeout), and carries its own CSRF token,
 * which every POST form repeats and which is compared with CRYPTO_memcmp.
 * Every response says: no scripts, no framing, styles only from here and
 * the report's own inline stylesheet (by its SHA-256).
 *
 * Connections: each accepted one hangs a struct web_conn on its SSL
 * (ex_data, freed with it), so they are counted; at [web] max_connections
 * the listener is disabled until one closes. evhttp's own timeout only
 * measures silence, so a request trickling in a byte at a time would live
 * forever: a per-connection deadline ([web] idle_timeout from the accept,
 * and again from each response; paused while a request is being answered)
 * shuts the socket when no whole request has arrived by then.
 * [web] max_connections_per_client bounds what one address (an IPv6 /64,
 * as for the login limit) may hold of them: the one over it is shut as
 * soon as its address is known (the loop turn after the accept), so idle
 * sockets from one place cannot fill max_connections for everyone.
 *
 * Reading is bounded too. While a response is being written evhttp takes
 * its read callback away but leaves reading on (to see a close), so a
 * client that pipelines requests and never reads the answers would have
 * everything it sends piled into the input buffer. A read high watermark
 * (WEB_READ_HIGH) stops reading a connection while that much waits
 * unparsed; evhttp drains the input as it parses, so a request of any
 * allowed size still passes, and the kernel's buffers push back on the
 * sender. Answers are written one at a time (the next request is parsed
 * only when the previous answer left), so the output is bounded by one
 * page. One wrinkle of bufferevent_openssl (libevent 2.1) on a socket:
 * a read cut short by the watermark leaves the rest of the TLS record
 * inside OpenSSL (SSL_pending), and reading on again only waits for the
 * socket, which may never speak again: the connection's last request
 * would hang. So when evhttp drains the input and OpenSSL holds bytes,
 * the loop is told the socket is readable (on_input_drained, on_kick).
 *
 * SIGHUP: the configuration, the htpasswd file and a new SSL_CTX, all
 * checked before any is used; on any error the old ones stay. Sessions
 * stay (those of users no longer admins end); open connections keep
 * the SSL_CTX they hold a reference to.
 *
 * Runs on one thread; nothing here is shared. Never logs a password.
 */
#include "web.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authhelper.h"
#include "clock.h"
#include "conf.h"
#include "failwindow.h"
#include "fnv.h"
#include "htpasswd.h"
#include "log.h"
#include "netaddr.h"
#include "policy.h"
#include "report.h"
#include "strutil.h"
#include "username.h"

#define WEB_MAX_SESSIONS 256
#define WEB_FAIL_SLOTS 256      /* login limit slots, direct-mapped: see fail_slot() */
#define WEB_FAIL_WINDOW 60      /* seconds: the login limit's window, and its Retry-After */
#define WEB_LOGIN_COOKIE_AGE 3600
#define WEB_MAX_BODY 16384
#define WEB_HELPER_QUEUE 8      /* logins waiting for the [auth] helper */
#define WEB_HELPER_TIMEOUT 5    /* seconds it may take to answer one */
/* Unparsed input a connection may hold before it is no longer read: more
 * than a request line or header block may be (16384, else evhttp could
 * not see one too long and answer 431/414), small enough that
 * max_connections of them are a few MB. */
#define WEB_READ_HIGH (64 * 1024)
#define WEB_REFUSED_LOG_EVERY 60 /* seconds between lines about refused connections */

/* A login waiting for the [auth] helper's answer: the request stays open. */
struct web_login {
	struct evhttp_request *req;
	char addr[64], key[64], user[64];
	char pass[1025];
};

/* One accepted connection, hung on its SSL (ex_data): counted for
 * [web] max_connections, and closed when no whole request has arrived
 * [web] idle_timeout after it opened or after its last response. */
struct web_conn {
	struct event *deadline;
	struct event *admit;            /* once, when its address is known */
	struct event *kick;             /* read what OpenSSL holds: see DESIGN */
	struct bufferevent *bev;
	struct evbuffer_cb_entry *drained;
	struct web_conn *prev, *next;   /* web.conns */
	char key[64];                   /* limit_key() of its peer; "" until admitted */
};

struct web_fail {
	char addr[64];                  /* limit_key() */
	struct failwindow fails;        /* common/failwindow.h */
};

struct web {
	struct conf *conf;
	struct htpasswd *users;
	const struct group *admin;
	SSL_CTX *ssl;
	struct event_base *base;
	struct evhttp *http;
	struct web_session sessions[WEB_MAX_SESSIONS];
	struct web_fail fails[WEB_FAIL_SLOTS];
	const char *path;               /* the configuration file, for SIGHUP */
	/* the [auth] helper: one child, one question at a time, a FIFO of logins */
	struct authhelper *helper;
	struct event *helper_ev, *helper_timer;
	struct web_login logins[WEB_HELPER_QUEUE];
	size_t login_head, login_n;
	bool helper_busy;
	/* connections */
	struct evconnlistener *listener;
	struct web_conn *conns;         /* every open one, for the per-client count */
	unsigned n_conns;
	bool listener_off, stopping;
	time_t full_logged;
	time_t refused_logged;          /* max_connections_per_client: the last line */
	unsigned long refused;          /* closed for it since that line */
};

static struct web web;          /* one per process: the signal callback finds it */
static char csp[512];           /* the Content-Security-Policy value */

static const char STYLE_CSS[] =
	"body{font:11pt/1.4 system-ui,sans-serif;color:#111;margin:0}"
	/* wins over the embedded report's body{max-width:182mm} (made for A4) */
	"html>body{max-width:72em;margin:0 auto}"
	"nav{background:#234;padding:.4em 1em;display:flex;gap:1.2em;align-items:center}"
	"nav a{color:#fff;text-decoration:none}nav a:hover{text-decoration:underline}"
	"nav form{margin-left:auto}nav button{font:inherit}"
	"main{margin:1em auto;padding:0 1em}"
	"h1{font-size:15pt}h2{font-size:12pt}"
	"form.filters{display:flex;flex-wrap:wrap;gap:.6em 1em;align-items:end;margin:.6em 0;"
	"padding:.6em;background:#f3f5f7;border:1px solid #dde}"
	"form.filters label{display:flex;flex-direction:column;font-size:9pt}"
	"table{border-collapse:collapse;width:100%}"
	"th,td{border-bottom:1px solid #ccc;padding:3px 6px;text-align:left}"
	"th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}"
	".msg{padding:.5em;background:#fff4ce;border:1px solid #e0c060}"
	".err{padding:.5em;background:#fde;border:1px solid #c66}"
	".downloads a{margin-right:1em}"
	"form.login{max-width:20em;display:flex;flex-direction:column;gap:.5em}";

/* ---- small helpers ---- */

void web_html(FILE *out, const char *v)
{
	render_html_text(v, out);
}

/* 256 random bits as hex; -1 when there is no randomness (then no session). */
static int random_token(char out[WEB_TOKEN_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[32];
	out[0] = '\0';
	if (RAND_bytes(b, sizeof(b)) != 1) {
		log_err("web: RAND_bytes failed: no new sessions");
		return -1;
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

static bool token_equal(const char *a, const char *b)
{
	return a && b && strlen(a) == 64 && strlen(b) == 64 && CRYPTO_memcmp(a, b, 64) == 0;
}

/* The value of cookie name in the request's Cookie headers, copied to out. */
static bool cookie_get(struct evhttp_request *req, const char *name, char *out, size_t outlen)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	size_t nlen = strlen(name);
	for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
		if (strcasecmp(kv->key, "Cookie") != 0)
			continue;
		for (const char *p = kv->value; *p;) {
			while (*p == ' ' || *p == ';')
				p++;
			const char *end = strchr(p, ';');
			size_t n = end ? (size_t)(end - p) : strlen(p);
			if (n > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=' &&
			    n - nlen - 1 < outlen) {
				memcpy(out, p + nlen + 1, n - nlen - 1);
				out[n - nlen - 1] = '\0';
				return true;
			}
			p += n;
		}
	}
	return false;
}

static const char *peer_address(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;
	if (conn)
		evhttp_connection_get_peer(conn, &addr, &port);
	str_copy(buf, len, addr ? addr : "?");
	return buf;
}

/* ---- responses ---- */

static void security_headers(struct evhttp_request *req, bool no_store)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cache-Control", no_store ? "no-store" : "max-age=3600");
}

void web_send(struct evhttp_request *req, int code, const char *reason, const char *type,
	      const char *body, size_t len, bool no_store)
{
	struct evbuffer *b = evbuffer_new();
	security_headers(req, no_store);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	if (b && body)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	if (b)
		evbuffer_free(b);
}

/* Close out (a memstream over *buf, *len) and send what it holds. */
static void send_file(struct evhttp_request *req, int code, const char *reason, FILE *out,
		      char **bufp, size_t *lenp)
{
	int rc = fclose(out);
	char *buf = *bufp;
	size_t len = *lenp;
	if (rc != 0 || !buf) {
		free(buf);
		web_send(req, 500, "Internal Server Error", "text/plain; charset=utf-8",
			 "out of memory\n", 14, true);
		return;
	}
	web_send(req, code, reason, "text/html; charset=utf-8", buf, len, true);
	free(buf);
}

void web_page_begin(FILE *out, const char *title, const struct web_session *s)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>", out);
	web_html(out, title);
	fputs(" - breaktime</title>\n<link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n", out);
	if (s) {
		fputs("<nav><a href=\"/\">Today</a><a href=\"/excessive\">Excessive use</a>"
		      "<a href=\"/user\">Timeline</a><a href=\"/presence\">Students present</a>"
		      "<form method=\"post\" action=\"/logout\">", out);
		web_csrf_field(out, s);
		fputs("<button type=\"submit\">Log out ", out);
		web_html(out, s->user);
		fputs("</button></form></nav>\n", out);
	}
	fputs("<main>\n", out);
}

void web_page_end(FILE *out)
{
	fputs("</main>\n</body>\n</html>\n", out);
}

void web_csrf_field(FILE *out, const struct web_session *s)
{
	fprintf(out, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", s->csrf);
}

void web_error(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	if (!out) {
		web_send(req, 500, "Internal Server Error", "text/plain; charset=utf-8", "error\n", 6, true);
		return;
	}
	web_page_begin(out, reason, NULL);
	fprintf(out, "<h1>%d ", code);
	web_html(out, reason);
	fputs("</h1>\n<p class=\"err\">", out);
	web_html(out, text);
	fputs("</p>\n<p><a href=\"/\">breaktime</a></p>\n", out);
	web_page_end(out);
	send_file(req, code, reason, out, &buf, &len);
}

void web_redirect(struct evhttp_request *req, const char *to)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", to);
	web_send(req, 303, "See Other", "text/plain; charset=utf-8", "", 0, true);
}

/* ---- sessions ---- */

static struct web_session *session_find(struct evhttp_request *req)
{
	char id[WEB_TOKEN_HEX + 1];
	time_t now = time(NULL);
	struct web_session *found = NULL;

	if (!cookie_get(req, "bt_session", id, sizeof(id)) || strlen(id) != 64)
		return NULL;
	for (size_t i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct web_session *s = &web.sessions[i];
		if (!s->id[0])
			continue;
		if (s->expires <= now) {
			OPENSSL_cleanse(s, sizeof(*s));
			continue;
		}
		if (CRYPTO_memcmp(s->id, id, 64) == 0)
			found = s;
	}
	return found;
}

static struct web_session *session_create(const char *user)
{
	time_t now = time(NULL);
	struct web_session *slot = NULL;
	for (size_t i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct web_session *s = &web.sessions[i];
		if (!s->id[0] || s->expires <= now) {
			slot = s;
			break;
		}
		if (!slot || s->expires < slot->expires)
			slot = s; /* full: the one that ends first makes room */
	}
	OPENSSL_cleanse(slot, sizeof(*slot));
	if (random_token(slot->id) < 0 || random_token(slot->csrf) < 0) {
		OPENSSL_cleanse(slot, sizeof(*slot));
		return NULL;
	}
	str_copy(slot->user, sizeof(slot->user), user);
	slot->expires = now + (time_t)(web.conf->web.session_timeout_ms / 1000);
	return slot;
}

static void set_cookie(struct evhttp_request *req, const char *name, const char *value, long max_age)
{
	char h[256];
	snprintf(h, sizeof(h), "%s=%s; Path=/; Max-Age=%ld; HttpOnly; Secure; SameSite=Strict",
		 name, value, max_age);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", h);
}

/* ---- the login limit ----
 *
 * The rule is the proxy sign-in's (common/failwindow.h: fixed windows of
 * WEB_FAIL_WINDOW, [web] login_attempts in one); the table is not. Here one
 * thread counts after each check, an IPv6 /64 is one client (limit_key())
 * and two clients in one slot share its count. proxy/identity.c's table
 * also holds the verifications in flight, charged in advance, under the
 * mutex of its job queue, with a random seed and probing that answers 429
 * when full.
 */

static struct web_fail *fail_slot(const char *addr)
{
	struct web_fail *f = &web.fails[fnv32_str(FNV32_OFFSET, addr) % WEB_FAIL_SLOTS];
	if (strcmp(f->addr, addr) != 0 && failwindow_over(&f->fails, time(NULL), WEB_FAIL_WINDOW)) {
		/* the slot's last address has had a quiet minute: it is this one's now.
		 * While it has not, both share its count: a collision can only make
		 * the limit stricter, never reset it. */
		memset(f, 0, sizeof(*f));
		str_copy(f->addr, sizeof(f->addr), addr);
	}
	return f;
}

/* Whom the login limit counts: an IPv4 address, or an IPv6 /64 (one
 * host may hold a whole /64, and would otherwise get a limit per address). */
static const char *limit_key(const char *addr, char *out, size_t len)
{
	struct in6_addr a6;
	if (inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
		char net[INET6_ADDRSTRLEN];
		memset(a6.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a6, net, sizeof(net))) {
			snprintf(out, len, "%s/64", net);
			return out;
		}
	}
	str_copy(out, len, addr);
	return out;
}

static bool fail_limited(const char *addr)
{
	return failwindow_limited(&fail_slot(addr)->fails, time(NULL), WEB_FAIL_WINDOW,
				  web.conf->web.login_attempts);
}

static void fail_count(const char *addr)
{
	failwindow_count(&fail_slot(addr)->fails, time(NULL), WEB_FAIL_WINDOW);
}

/* ---- login and logout ---- */

void web_log_name(const char *user, char *out, size_t len)
{
	size_t n = 0;
	if (!user) {
		str_copy(out, len, "an unknown user");
		return;
	}
	for (const char *p = user; *p && n + 1 < len; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[n] = '\0';
}

static void page_login(struct evhttp_request *req, int code, const char *reason, const char *message)
{
	char token[WEB_TOKEN_HEX];
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	if (!out) {
		web_send(req, 500, "Internal Server Error", "text/plain; charset=utf-8", "error\n", 6, true);
		return;
	}
	if (random_token(token) < 0) {
		fclose(out);
		free(buf);
		web_send(req, 503, "Service Unavailable", "text/plain; charset=utf-8", "no randomness\n",
			 14, true);
		return;
	}
	set_cookie(req, "bt_login", token, WEB_LOGIN_COOKIE_AGE);
	web_page_begin(out, "Log in", NULL);
	fputs("<h1>breaktime</h1>\n<p>For administrators (members of the <code>admin</code> group).</p>\n", out);
	if (message) {
		fputs("<p class=\"err\">", out);
		web_html(out, message);
		fputs("</p>\n", out);
	}
	fprintf(out, "<form class=\"login\" method=\"post\" action=\"/login\">\n"
		     "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
		     "<label>User name <input name=\"user\" autocomplete=\"username\" required></label>\n"
		     "<label>Password <input type=\"password\" name=\"password\" "
		     "autocomplete=\"current-password\" required></label>\n"
		     "<button type=\"submit\">Log in</button>\n</form>\n", token);
	web_page_end(out);
	send_file(req, code, reason, out, &buf, &len);
}

static int read_body(struct evhttp_request *req, struct web_form *f)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	size_t len = evbuffer_get_length(in);
	memset(f, 0, sizeof(*f));
	if (!type || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0 ||
	    len > WEB_MAX_BODY)
		return -1;
	unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)len);
	int rc = web_form_parse(f, (const char *)p, len);
	if (p)
		OPENSSL_cleanse(p, len);
	return rc;
}

/* The end of a login whose password was checked: answer is AUTHHELPER_OK,
 * _REFUSED, or _ERROR (the [auth] helper gave no answer: nothing counted). */
static void login_finish(struct evhttp_request *req, const char *addr, const char *key,
			 const char *user, int answer)
{
	bool ok = answer == AUTHHELPER_OK;
	if (answer == AUTHHELPER_ERROR) {
		log_err("web: %s: login of %s not checked: the [auth] helper gave no answer",
			addr, policy_group_of(web.conf->policy, user) == web.admin ? user : "a user");
		web_error(req, 503, "Service Unavailable",
			  "The password could not be checked (the login service did not answer). "
			  "Try again in a moment.");
		return;
	}
	const struct group *g = ok ? policy_group_of(web.conf->policy, user) : NULL;
	if (!ok || g != web.admin) {
		/* a name that is no user may be a password typed in the wrong box:
		 * only known names are logged, and only printable bytes of them */
		char shown[64];
		bool known = ok || htpasswd_hash(web.users, user) ||
			     policy_group_of(web.conf->policy, user) == web.admin;
		web_log_name(known ? user : NULL, shown, sizeof(shown));
		fail_count(key);
		log_notice("web: %s: login refused for %s (%s)", addr, shown,
			   ok ? "not in the admin group" : "wrong user name or password");
		if (ok)
			page_login(req, 403, "Forbidden", "This account is not an administrator "
							  "(not in the admin group).");
		else
			page_login(req, 401, "Unauthorized", "Wrong user name or password.");
		return;
	}
	struct web_session *s = session_create(user);
	if (!s) {
		web_error(req, 503, "Service Unavailable", "No session could be made: see the log.");
		return;
	}
	log_info("web: %s: %s logged in", addr, user);
	set_cookie(req, "bt_session", s->id, web.conf->web.session_timeout_ms / 1000);
	set_cookie(req, "bt_login", "", 0);
	web_redirect(req, "/");
}

/* ---- the [auth] helper ---- */

static void helper_stop(void)
{
	if (web.helper_ev)
		event_free(web.helper_ev);
	web.helper_ev = NULL;
	authhelper_stop(web.helper);
	web.helper = NULL;
}

/* Answer the login at the head of the queue and drop it. */
static void helper_answer(int answer)
{
	struct web_login *l = &web.logins[web.login_head];
	if (web.helper_timer)
		evtimer_del(web.helper_timer);
	web.helper_busy = false;
	OPENSSL_cleanse(l->pass, sizeof(l->pass));
	login_finish(l->req, l->addr, l->key, l->user, answer);
	memset(l, 0, sizeof(*l));
	web.login_head = (web.login_head + 1) % WEB_HELPER_QUEUE;
	web.login_n--;
}

static void on_helper_read(evutil_socket_t fd, short what, void *arg);

/* Ask the helper about the login at the head of the queue, if it is free. */
static void helper_next(void)
{
	while (!web.helper_busy && web.login_n > 0) {
		struct web_login *l = &web.logins[web.login_head];
		const char *cmd = policy_auth(web.conf->policy)->helper;
		if (web.helper && (!cmd || strcmp(authhelper_cmd(web.helper), cmd) != 0))
			helper_stop(); /* SIGHUP named another */
		if (!web.helper && cmd && (web.helper = authhelper_start(cmd))) {
			web.helper_ev = event_new(web.base, authhelper_fd(web.helper), EV_READ | EV_PERSIST,
						  on_helper_read, NULL);
			if (!web.helper_ev || event_add(web.helper_ev, NULL) < 0)
				helper_stop();
		}
		if (!web.helper || authhelper_send(web.helper, l->user, l->pass) < 0) {
			log_err("web: the [auth] helper %s cannot be asked", cmd ? cmd : "(none)");
			helper_stop();
			helper_answer(AUTHHELPER_ERROR);
			continue;
		}
		OPENSSL_cleanse(l->pass, sizeof(l->pass));
		web.helper_busy = true;
		struct timeval tv = {WEB_HELPER_TIMEOUT, 0};
		evtimer_add(web.helper_timer, &tv);
	}
}

static void on_helper_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	int r = authhelper_read(web.helper);
	if (r == AUTHHELPER_AGAIN)
		return;
	if (!web.helper_busy || r == AUTHHELPER_ERROR) {
		/* it died, or said something unasked or unreadable: a new one next time */
		log_warn("web: the [auth] helper %s %s: stopped", authhelper_cmd(web.helper),
			 web.helper_busy ? "gave no usable answer" : "spoke unasked or exited");
		helper_stop();
	}
	if (web.helper_busy)
		helper_answer(r);
	helper_next();
}

static void on_helper_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_err("web: the [auth] helper %s did not answer in %d s: stopped (a new one starts "
		"for the next login)", web.helper ? authhelper_cmd(web.helper) : "?",
		WEB_HELPER_TIMEOUT);
	helper_stop();
	if (web.helper_busy)
		helper_answer(AUTHHELPER_ERROR);
	helper_next();
}

/* Queue a login for the helper; the page is the answer's (or 503 when full). */
static void helper_queue(struct evhttp_request *req, const char *addr, const char *key,
			 const char *user, const char *pass)
{
	if (web.login_n == WEB_HELPER_QUEUE) {
		log_warn("web: %s: %d logins already wait for the [auth] helper: refused", addr,
			 WEB_HELPER_QUEUE);
		web_error(req, 503, "Service Unavailable", "Too many logins at once: try again.");
		return;
	}
	struct web_login *l = &web.logins[(web.login_head + web.login_n) % WEB_HELPER_QUEUE];
	l->req = req;
	str_copy(l->addr, sizeof(l->addr), addr);
	str_copy(l->key, sizeof(l->key), key);
	str_copy(l->user, sizeof(l->user), user);
	str_copy(l->pass, sizeof(l->pass), pass);
	web.login_n++;
	helper_next();
}

static void post_login(struct evhttp_request *req)
{
	char addr[64], key[64], token[WEB_TOKEN_HEX + 1];
	struct web_form f;

	peer_address(req, addr, sizeof(addr));
	limit_key(addr, key, sizeof(key));
	if (fail_limited(key)) {
		log_warn("web: %s: too many failed logins, refused for a minute", addr);
		char retry[16];
		snprintf(retry, sizeof(retry), "%d", WEB_FAIL_WINDOW);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", retry);
		web_error(req, 429, "Too Many Requests",
			  "Too many failed logins from this address. Try again in a minute.");
		return;
	}
	if (read_body(req, &f) < 0) {
		web_form_free(&f);
		web_error(req, 400, "Bad Request", "The form could not be read.");
		return;
	}
	const char *user = web_form_get(&f, "user"), *pass = web_form_get(&f, "password");
	if (!cookie_get(req, "bt_login", token, sizeof(token)) ||
	    !token_equal(token, web_form_get(&f, "csrf"))) {
		web_form_free(&f);
		web_error(req, 403, "Forbidden",
			  "The login form has expired or did not come from this site: reload it.");
		return;
	}
	if (!user || !pass || !*user || strlen(user) >= 64 || strlen(pass) > 1024) {
		web_form_free(&f);
		page_login(req, 400, "Bad Request", "Give a user name and a password.");
		return;
	}
	/* one person whatever case the name is typed in (common/username.h):
	 * checked, logged and given a session as the lower-case name */
	char name[64];
	username_copy(name, sizeof(name), user);
	user = name;
	if (!htpasswd_hash(web.users, user) && policy_auth(web.conf->policy)->helper) {
		/* not in the htpasswd file: the helper answers, off this call */
		helper_queue(req, addr, key, user, pass);
		web_form_free(&f);
		return;
	}
	bool ok = htpasswd_check(web.users, user, pass);
	login_finish(req, addr, key, user, ok ? AUTHHELPER_OK : AUTHHELPER_REFUSED);
	web_form_free(&f);
}

/* The form of a POST from a logged-in session, its CSRF token checked: 0, or -1 answered. */
static int post_form(struct evhttp_request *req, const struct web_session *s, struct web_form *f)
{
	if (read_body(req, f) < 0) {
		web_form_free(f);
		web_error(req, 400, "Bad Request", "The form could not be read.");
		return -1;
	}
	if (!token_equal(s->csrf, web_form_get(f, "csrf"))) {
		char addr[64];
		log_warn("web: %s: a form for %s without its CSRF token: refused",
			 peer_address(req, addr, sizeof(addr)), s->user);
		web_form_free(f);
		web_error(req, 403, "Forbidden",
			  "This form did not come from this site (its token is missing or wrong): "
			  "reload the page and try again.");
		return -1;
	}
	return 0;
}

/* ---- connections: the limit and the request deadline ---- */

static int conn_index = -1;     /* SSL ex_data index of a struct web_conn */

static struct web_conn *conn_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = req ? evhttp_request_get_connection(req) : NULL;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	return ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
}

/* Stop accepting at [web] max_connections (the kernel's backlog holds the
 * rest), start again below it. */
static void listener_update(void)
{
	if (!web.listener || web.stopping)
		return;
	bool full = web.n_conns >= web.conf->web.max_connections;
	if (full && !web.listener_off) {
		evconnlistener_disable(web.listener);
		web.listener_off = true;
		time_t now = time(NULL);
		if (now - web.full_logged >= 60) {
			web.full_logged = now;
			log_warn("web: %u connections open ([web] max_connections): new ones wait",
				 web.n_conns);
		}
	} else if (!full && web.listener_off) {
		evconnlistener_enable(web.listener);
		web.listener_off = false;
	}
}

static void on_conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct web_conn *wc = ptr;
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (!wc)
		return;
	if (wc->prev)
		wc->prev->next = wc->next;
	else
		web.conns = wc->next;
	if (wc->next)
		wc->next->prev = wc->prev;
	/* the bufferevent frees its input after its SSL: the callback goes first */
	evbuffer_remove_cb_entry(bufferevent_get_input(wc->bev), wc->drained);
	event_free(wc->deadline);
	event_free(wc->admit);
	event_free(wc->kick);
	free(wc);
	web.n_conns--;
	listener_update();
}

static void deadline_arm(struct web_conn *wc)
{
	struct timeval tv = clock_timeval(web.conf->web.idle_timeout_ms);
	evtimer_add(wc->deadline, &tv);
}

/* No whole request in time (slowloris, a stalled handshake): shut the
 * socket, evhttp sees the end and frees the connection. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct web_conn *wc = arg;
	(void)fd;
	(void)what;
	evutil_socket_t s = bufferevent_getfd(wc->bev);
	if (s >= 0)
		shutdown(s, SHUT_RDWR);
}

/* The loop turn after the accept (evhttp has given the bufferevent its
 * socket by then): count the peer's connections, and shut this one at
 * once when the address already holds [web] max_connections_per_client.
 * Logged at most once every WEB_REFUSED_LOG_EVERY seconds, with a count:
 * a flood of connections must not become a flood of log lines. */
static void on_admit(evutil_socket_t fd, short what, void *arg)
{
	struct web_conn *wc = arg;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char addr[64], key[64];
	unsigned n = 0;
	(void)fd;
	(void)what;

	evutil_socket_t s = bufferevent_getfd(wc->bev);
	if (s < 0 || getpeername(s, (struct sockaddr *)&ss, &sslen) < 0)
		return; /* gone already: evhttp frees it */
	limit_key(sockaddr_ntop((struct sockaddr *)&ss, addr, sizeof(addr)), key, sizeof(key));
	for (const struct web_conn *o = web.conns; o; o = o->next)
		if (o != wc && strcmp(o->key, key) == 0)
			n++;
	unsigned cap = web.conf->web.max_connections_per_client;
	if (n < cap) {
		str_copy(wc->key, sizeof(wc->key), key);
		return;
	}
	shutdown(s, SHUT_RDWR); /* evhttp sees the end and frees it */
	web.refused++;
	time_t now = time(NULL);
	if (now - web.refused_logged >= WEB_REFUSED_LOG_EVERY) {
		log_warn("web: %s: already %u connections open ([web] max_connections_per_client): "
			 "new ones closed (%lu since the last such line)", key, n, web.refused);
		web.refused_logged = now;
		web.refused = 0;
	}
}

/* evhttp took bytes out of the input: if OpenSSL holds the rest of a
 * record (a read cut at WEB_READ_HIGH), have it read once evhttp is done. */
static void on_input_drained(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct web_conn *wc = arg;
	(void)in;
	if (info->n_deleted > 0 && SSL_pending(bufferevent_openssl_get_ssl(wc->bev)) > 0)
		event_active(wc->kick, EV_TIMEOUT, 1);
}

/* The loop turn after a drain: the bufferevent reads on (if it is reading
 * at all, and below its watermark) as if the socket had spoken. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct web_conn *wc = arg;
	(void)fd;
	(void)what;
	evutil_socket_t s = bufferevent_getfd(wc->bev);
	if (s >= 0 && SSL_pending(bufferevent_openssl_get_ssl(wc->bev)) > 0 &&
	    evbuffer_get_length(bufferevent_get_input(wc->bev)) < WEB_READ_HIGH)
		event_base_active_by_fd(web.base, s, EV_READ);
}

static void on_request_complete(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct web_conn *wc = conn_of(req);
	if (wc)
		deadline_arm(wc); /* the next request must arrive in time too */
}

static void conn_request_started(struct evhttp_request *req)
{
	struct web_conn *wc = conn_of(req);
	if (wc)
		evtimer_del(wc->deadline);
	evhttp_request_set_on_complete_cb(req, on_request_complete, NULL);
}

/* ---- routing ---- */

static void on_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	bool post = method == EVHTTP_REQ_POST;
	(void)arg;

	conn_request_started(req);
	if (!path || !*path)
		path = "/";
	if (strcmp(path, "/style.css") == 0 && !post) {
		web_send(req, 200, "OK", "text/css; charset=utf-8", STYLE_CSS, sizeof(STYLE_CSS) - 1,
			 false);
		return;
	}
	if (strcmp(path, "/login") == 0) {
		if (post)
			post_login(req);
		else if (session_find(req))
			web_redirect(req, "/");
		else
			page_login(req, 200, "OK", NULL);
		return;
	}
	struct web_session *s = session_find(req);
	if (!s) {
		if (post)
			web_error(req, 403, "Forbidden", "Log in first.");
		else
			web_redirect(req, "/login");
		return;
	}
	struct web_form f;
	if (post) {
		if (post_form(req, s, &f) < 0)
			return;
		if (strcmp(path, "/logout") == 0) {
			log_info("web: %s logged out", s->user);
			OPENSSL_cleanse(s, sizeof(*s));
			set_cookie(req, "bt_session", "", 0);
			web_redirect(req, "/login");
		} else if (strcmp(path, "/presence") == 0) {
			web_post_presence(req, web.conf, s, &f);
		} else {
			web_error(req, 404, "Not Found", "There is no such form.");
		}
		web_form_free(&f);
		return;
	}
	if (web_form_parse(&f, query, query ? strlen(query) : 0) < 0) {
		web_form_free(&f);
		web_error(req, 400, "Bad Request", "The address has a malformed query.");
		return;
	}
	if (strcmp(path, "/") == 0)
		web_page_today(req, web.conf, s);
	else if (strcmp(path, "/excessive") == 0)
		web_page_excessive(req, web.conf, s, &f, NULL);
	else if (strcmp(path, "/excessive.csv") == 0)
		web_page_excessive(req, web.conf, s, &f, "csv");
	else if (strcmp(path, "/excessive.html") == 0)
		web_page_excessive(req, web.conf, s, &f, "html");
	else if (strcmp(path, "/user") == 0)
		web_page_user(req, web.conf, s, &f);
	else if (strcmp(path, "/presence") == 0)
		web_page_presence(req, web.conf, s, NULL);
	else
		web_error(req, 404, "Not Found", "There is no such page.");
	web_form_free(&f);
}

/* ---- start ---- */

static struct bufferevent *on_accept_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(web.ssl);
	struct web_conn *wc = calloc(1, sizeof(*wc));
	(void)arg;
	if (ssl && wc) {
		wc->deadline = evtimer_new(base, on_deadline, wc);
		wc->admit = evtimer_new(base, on_admit, wc);
		wc->kick = evtimer_new(base, on_kick, wc);
	}
	if (!ssl || !wc || !wc->deadline || !wc->admit || !wc->kick) {
		/* NULL would make evhttp serve plain HTTP on this socket: fail
		 * closed (systemd restarts the unit) */
		log_err("web: out of memory for a connection: stopping rather than serve it "
			"without TLS");
		abort();
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
								  BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		log_err("web: out of memory for a connection: stopping rather than serve it "
			"without TLS");
		abort();
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setwatermark(bev, EV_READ, 0, WEB_READ_HIGH);
	wc->bev = bev;
	wc->drained = evbuffer_add_cb(bufferevent_get_input(bev), on_input_drained, wc);
	if (!wc->drained) {
		log_err("web: out of memory for a connection: stopping");
		abort();
	}
	SSL_set_ex_data(ssl, conn_index, wc); /* on_conn_free() when the SSL goes */
	wc->next = web.conns;
	if (web.conns)
		web.conns->prev = wc;
	web.conns = wc;
	web.n_conns++;
	deadline_arm(wc);
	/* the socket is not ours yet (evhttp sets it after this returns) */
	event_active(wc->admit, EV_TIMEOUT, 1);
	listener_update();
	return bev;
}

static void ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_err("web: %s: %s", what, buf);
	}
}

static SSL_CTX *tls_create(const struct conf_web *w)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, w->certificate) != 1) {
		log_err("web: [web] certificate %s: cannot use it", w->certificate);
		ssl_errors("certificate");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, w->private_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_err("web: [web] private_key %s: cannot use it with the certificate", w->private_key);
		ssl_errors("private_key");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The report's own inline stylesheet (render_html.c), by its SHA-256, for the CSP. */
static void csp_build(void)
{
	char *buf = NULL;
	size_t len = 0;
	char b64[64] = "";
	FILE *out = open_memstream(&buf, &len);
	struct rtable t;

	rtable_init(&t, "excessive", "");
	if (out) {
		render_html(&t, out);
		fclose(out);
	}
	rtable_finish(&t);
	const char *a = buf ? strstr(buf, "<style>") : NULL;
	const char *b = a ? strstr(a, "</style>") : NULL;
	if (a && b) {
		unsigned char md[32];
		unsigned mdlen = 0;
		a += 7;
		EVP_Digest(a, (size_t)(b - a), md, &mdlen, EVP_sha256(), NULL);
		EVP_EncodeBlock((unsigned char *)b64, md, 32);
	}
	free(buf);
	snprintf(csp, sizeof(csp),
		 "default-src 'none'; style-src 'self'%s%s%s; form-action 'self'; "
		 "frame-ancestors 'none'; base-uri 'none'",
		 b64[0] ? " 'sha256-" : "", b64, b64[0] ? "'" : "");
}

static int web_usage(void)
{
	fprintf(stderr, "usage: breaktime [-c FILE] web\n(see breaktime --help)\n");
	return 2;
}

/* What a configuration needs for the web UI, made from it: the htpasswd
 * users (NULL: none, the [auth] helper only), the admin group, the TLS
 * context. -1, logged, when it cannot serve. */
static int web_prepare(const struct conf *c, const char *path, struct htpasswd **users,
		       const struct group **admin, SSL_CTX **ssl)
{
	const struct conf_web *w = &c->web;
	const struct policy_auth *auth = policy_auth(c->policy);
	*users = NULL;
	*ssl = NULL;
	if (!w->certificate || !w->private_key) {
		log_err("web: %s: [web] certificate and private_key are needed: the web UI serves "
			"HTTPS only", path);
		return -1;
	}
	if (!auth || (!auth->htpasswd && !auth->helper)) {
		log_err("web: %s: [auth] htpasswd or helper is needed: administrators log in with it",
			path);
		return -1;
	}
	*admin = policy_group_find(c->policy, "admin");
	if (!*admin || policy_group_n_members(*admin) == 0) {
		log_err("web: %s: no one is in the admin group ([group admin] members): no one "
			"could log in", path);
		return -1;
	}
	if (auth->htpasswd && !(*users = htpasswd_load(auth->htpasswd)))
		return -1;
	if (!(*ssl = tls_create(w))) {
		htpasswd_free(*users);
		*users = NULL;
		return -1;
	}
	return 0;
}

/* SIGHUP: the configuration, the htpasswd file and the certificate again,
 * all or nothing. Sessions stay, but those of users no longer in the admin
 * group end; open connections keep their TLS session, new ones get the new
 * certificate. The listener stays (a new address needs a restart). */
static void reload(void)
{
	struct conf_errors errs = {0};
	struct htpasswd *users;
	const struct group *admin;
	SSL_CTX *ssl;

	log_notice("web: reloading %s", web.path);
	struct conf *c = conf_load(web.path, &errs);
	for (size_t i = 0; i < errs.n; i++)
		log_err("%s", errs.msgs[i]);
	conf_errors_free(&errs);
	if (!c) {
		log_err("web: reload refused: the configuration above has errors; the running one "
			"stays");
		return;
	}
	if (web_prepare(c, web.path, &users, &admin, &ssl) < 0) {
		log_err("web: reload refused: see above; the running configuration stays");
		conf_unref(c);
		return;
	}
	if (!sockaddr_equal(&c->web.listen.u.sa, &web.conf->web.listen.u.sa))
		log_warn("web: [web] listen changes take effect at the next restart");
	size_t ended = 0;
	for (size_t i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct web_session *s = &web.sessions[i];
		if (s->id[0] && policy_group_of(c->policy, s->user) != admin) {
			OPENSSL_cleanse(s, sizeof(*s));
			ended++;
		}
	}
	htpasswd_free(web.users);
	SSL_CTX_free(web.ssl); /* open connections hold their own reference */
	conf_unref(web.conf);
	web.conf = c;
	web.users = users;
	web.admin = admin;
	web.ssl = ssl;
	evhttp_set_timeout(web.http, (int)((c->web.idle_timeout_ms + 999) / 1000));
	listener_update();
	log_notice("web: configuration reloaded (%zu users in the htpasswd file, admin group: "
		   "%zu members; %zu sessions ended)", htpasswd_count(users),
		   policy_group_n_members(admin), ended);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGHUP) {
		reload();
		return;
	}
	log_info("web: signal %d: stopping", (int)sig);
	event_base_loopexit(web.base, NULL);
}

int cmd_web(const char *path, int argc, char **argv)
{
	int ret = 1;
	struct evconnlistener *lev = NULL;
	struct event *sigs[3] = {NULL, NULL, NULL};

	(void)argv;
	if (argc > 0)
		return web_usage();
	memset(&web, 0, sizeof(web));
	web.path = path;
	struct conf_errors errs = {0};
	web.conf = conf_load(path, &errs);
	if (!web.conf) {
		conf_errors_print(&errs, stderr);
		fprintf(stderr, "breaktime: %s: %zu error%s\n", path, errs.n, errs.n == 1 ? "" : "s");
		conf_errors_free(&errs);
		return 1;
	}
	conf_errors_free(&errs);
	const struct conf_web *w = &web.conf->web;
	if (web_prepare(web.conf, path, &web.users, &web.admin, &web.ssl) < 0)
		goto out;
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, on_conn_free);
	if (conn_index < 0) {
		log_err("web: SSL_get_ex_new_index failed");
		goto out;
	}
	csp_build();
	signal(SIGPIPE, SIG_IGN);
	web.base = event_base_new();
	web.http = web.base ? evhttp_new(web.base) : NULL;
	web.helper_timer = web.base ? evtimer_new(web.base, on_helper_timeout, NULL) : NULL;
	if (!web.http || !web.helper_timer) {
		log_err("web: cannot create the event loop");
		goto out;
	}
	evhttp_set_bevcb(web.http, on_accept_bev, NULL);
	evhttp_set_gencb(web.http, on_request, NULL);
	evhttp_set_allowed_methods(web.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(web.http, 16384);
	evhttp_set_max_body_size(web.http, WEB_MAX_BODY);
	evhttp_set_timeout(web.http, (int)((w->idle_timeout_ms + 999) / 1000));
	lev = evconnlistener_new_bind(web.base, NULL, NULL,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
				      128, &w->listen.u.sa, (int)w->listen.len);
	char where[80];
	sockaddr_ntop_port(&w->listen.u.sa, where, sizeof(where));
	if (!lev) {
		log_err("web: cannot listen on %s: %s", where, strerror(errno));
		goto out;
	}
	if (!evhttp_bind_listener(web.http, lev)) {
		log_err("web: cannot serve on %s", where);
		evconnlistener_free(lev);
		goto out;
	}
	web.listener = lev; /* evhttp owns it now */
	lev = NULL;
	int signums[3] = {SIGTERM, SIGINT, SIGHUP};
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(web.base, signums[i], on_signal, NULL);
		if (sigs[i])
			event_add(sigs[i], NULL);
	}
	log_info("web: serving https://%s/ (%zu users in the htpasswd file%s, admin group: %zu "
		 "members)", where, htpasswd_count(web.users),
		 policy_auth(web.conf->policy)->helper ? ", then the [auth] helper" : "",
		 policy_group_n_members(web.admin));
	event_base_dispatch(web.base);
	ret = 0;
out:
	/* logins still waiting for the helper get their answer before the end */
	while (web.login_n > 0)
		helper_answer(AUTHHELPER_ERROR);
	helper_stop();
	web.stopping = true;
	for (int i = 0; i < 3; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (web.helper_timer)
		event_free(web.helper_timer);
	if (web.http)
		evhttp_free(web.http);
	if (web.base)
		event_base_free(web.base);
	SSL_CTX_free(web.ssl);
	htpasswd_free(web.users);
	OPENSSL_cleanse(web.sessions, sizeof(web.sessions));
	conf_unref(web.conf);
	memset(&web, 0, sizeof(web));
	return ret;
}
