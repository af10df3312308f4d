/*
 * pages_enforce: the pages that show a person where they stand with the
 * policy — their own status page (/status), the warn interstitial shown
 * over the allowance, and the Continue link it offers (/continue), with the
 * token that keeps that link from being forged. The decisions are
 * enforce.c's, the acknowledgements acks.c's; every page is escaped with
 * pages_escape_html() and leaves through pages_send_html() (pages.c).
 *
 * Runs on the loop thread; appends to an evbuffer; never blocks. Must never
 * show one person another's usage, redirect anywhere but the target the
 * token was made for, or record a Continue that fails any check.
 */
#include "enforce.h"

#include "acks.h"
#include "bump.h"
#include "conn.h"
#include "log.h"
#include "strutil.h"
#include "urlenc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "policy.h"

/*
 * The Continue link. Following it changes state (an acknowledgement for
 * the day, a warn-continued record), and it is a plain GET that any page
 * could make a browser fetch (<img src>), so it carries a token only the
 * interstitial knows:
 *
 *     t = hex(HMAC-SHA256(key, person NUL platform NUL local-day NUL target-authority))
 *
 * person is whom usage counts for (the user, else the client address), the
 * day is the site's local day, the target authority is the host[:port] of
 * the `to` URL, lower case. The key is random, made once per process: a
 * restart invalidates the links, and the interstitial is simply shown again.
 * The redirect goes only to `to`, and only when `to` is a plain http(s) URL
 * of visible ASCII whose authority is the one the token was made for.
 */
#define CONTINUE_KEY_LEN 32
#define CONTINUE_TOKEN_HEX (2 * 32)
#define CONTINUE_TO_MAX 800            /* the longest `to` accepted (c->uri encoded fits) */

static unsigned char continue_key[CONTINUE_KEY_LEN];
static bool continue_key_ok;
static pthread_once_t continue_key_once = PTHREAD_ONCE_INIT;

static void continue_key_init(void)
{
	continue_key_ok = RAND_bytes(continue_key, sizeof(continue_key)) == 1;
	if (!continue_key_ok)
		log_err("no random bytes for the Continue links' key: Continue is refused");
}

/* The token as 64 lower-case hex digits into hex[65]; false without a key. */
static bool continue_token(const char *person, const char *platform, int64_t day,
			   const char *authority, char hex[CONTINUE_TOKEN_HEX + 1])
{
	unsigned char msg[64 + 1 + 64 + 1 + 24 + 1 + HOSTNAME_MAX + 8], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	pthread_once(&continue_key_once, continue_key_init);
	if (!continue_key_ok)
		return false;
	int n = snprintf((char *)msg, sizeof(msg), "%s%c%s%c%lld%c%s", person, 0, platform, 0,
			 (long long)day, 0, authority);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return false;
	if (!HMAC(EVP_sha256(), continue_key, sizeof(continue_key), msg, (size_t)n, mac, &maclen) ||
	    maclen * 2 != CONTINUE_TOKEN_HEX)
		return false;
	for (unsigned i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return true;
}

/*
 * Is to a URL the Continue page may redirect to: "http://" or "https://",
 * an authority of host characters only (no userinfo: no '@'), then visible
 * ASCII (no controls, no space, no DEL, no bytes above 0x7e), at most
 * CONTINUE_TO_MAX bytes? The authority, lower case, goes into authority.
 */
static bool continue_target(const char *to, char *authority, size_t alen)
{
	size_t skip;

	if (strncmp(to, "http://", 7) == 0)
		skip = 7;
	else if (strncmp(to, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	if (strlen(to) > CONTINUE_TO_MAX)
		return false;
	const char *a = to + skip;
	size_t n = strcspn(a, "/?#");
	if (n == 0 || n >= alen)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = a[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
			  ch == ':' || ch == '[' || ch == ']' || (ch >= 'A' && ch <= 'Z');
		if (!ok)
			return false;
		authority[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	authority[n] = '\0';
	for (const char *p = a + n; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return false;
	return true;
}

/* The host of an authority as catalog_lookup wants it: no port, no brackets. */
static void authority_host(const char *authority, char *host, size_t len)
{
	const char *end;

	if (authority[0] == '[') {
		end = strchr(authority, ']');
		authority++;
	} else {
		end = strrchr(authority, ':');
	}
	size_t n = end ? (size_t)(end - authority) : strlen(authority);
	snprintf(host, len, "%.*s", (int)n, authority);
}

/* Where Continue leads back to: the blocked URL, or https://host[:port]/ for a CONNECT. */
static void continue_to(const struct conn *c, bool is_connect, char *to, size_t len)
{
	if (!is_connect) {
		snprintf(to, len, "%s", c->uri);
		return;
	}
	bool v6 = c->host_kind == HOST_IPV6;
	char port[8] = "";
	if (c->port != 443)
		snprintf(port, sizeof(port), ":%u", c->port);
	snprintf(to, len, "https://%s%s%s%s/", v6 ? "[" : "", c->host, v6 ? "]" : "", port);
}

static const char page_style[] =
	"<style>body{font-family:system-ui,sans-serif;max-width:38em;margin:3em auto;padding:0 1em;"
	"color:#222}h1{font-size:1.4em}table{border-collapse:collapse}td,th{padding:.2em .8em;"
	"text-align:left;border-bottom:1px solid #ddd}a.button{display:inline-block;padding:.5em 1em;"
	"background:#2a5db0;color:#fff;text-decoration:none;border-radius:4px}small{color:#666}</style>";

void enforce_warn_page(struct conn *c, struct evbuffer *out, bool is_connect, bool keep_alive)
{
	struct evbuffer *b = evbuffer_new();
	char to[300] = "", enc_to[CONTINUE_TO_MAX + 1], enc_p[100], link[1200];
	char person[64], authority[HOSTNAME_MAX + 8], token[CONTINUE_TOKEN_HEX + 1];
	const char *vh = c->conf->proxy.visible_hostname;

	continue_to(c, is_connect, to, sizeof(to));
	enforce_person_key(c, person, sizeof(person));
	/* no token, no link: what cannot be continued is not offered */
	bool can = continue_target(to, authority, sizeof(authority)) &&
		   continue_token(person, c->decision.platform, enforce_local_day(c, time(NULL)), authority, token);
	url_encode(to, enc_to, sizeof(enc_to));
	url_encode(c->decision.platform, enc_p, sizeof(enc_p));
	/* on TLS terminated for this page (bump.c) the link is the page's own
	 * origin, answered on that connection; else the proxy's own host */
	if (c->bump)
		snprintf(link, sizeof(link), "%s?p=%s&t=%s&to=%s", BUMP_CONTINUE_PATH, enc_p,
			 can ? token : "", enc_to);
	else
		snprintf(link, sizeof(link), "http://%s/continue?p=%s&t=%s&to=%s", vh, enc_p,
			 can ? token : "", enc_to);
	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>"
			    "Allowance used</title>%s</head><body><h1>You have used today's allowance for "
			    "social media</h1><p>", page_style);
	pages_escape_html(b, c->decision.platform[0] ? c->decision.platform : "This site");
	evbuffer_add_printf(b, " counts towards your daily allowance, which is used up.");
	if (can) {
		evbuffer_add_printf(b, " You may continue: this once a day, and it is recorded.</p>"
				    "<p><a class=\"button\" href=\"");
		pages_escape_html(b, link);
		evbuffer_add_printf(b, "\">Continue</a>");
	}
	evbuffer_add_printf(b, "</p><p><a href=\"http://%s/status\">Your usage "
			    "today</a></p><hr><small>breaktime</small></body></html>\n", vh);
	pages_send_html(out, 403, b, NULL, keep_alive, false);
	evbuffer_free(b);
}

int enforce_continue(struct conn *c, struct evbuffer *out, const char *query, size_t len,
		     bool keep_alive)
{
	char platform[64] = "", to[CONTINUE_TO_MAX + 2] = "", token[CONTINUE_TOKEN_HEX + 2] = "";
	char want[CONTINUE_TOKEN_HEX + 1], person[64], authority[HOSTNAME_MAX + 8], host[HOSTNAME_MAX + 8];
	const struct policy *p = c->conf->policy;
	const struct catalog *cat = p ? policy_catalog(p) : NULL;
	const char *interned;

	enforce_person_key(c, person, sizeof(person));
	/* nothing is recorded or acknowledged unless every check passes */
	if (!query || !cat || !url_query_get(query, len, "p", platform, sizeof(platform)) ||
	    !(interned = catalog_platform(cat, platform)) ||
	    !url_query_get(query, len, "t", token, sizeof(token)) || strlen(token) != CONTINUE_TOKEN_HEX ||
	    !url_query_get(query, len, "to", to, sizeof(to)) ||
	    !continue_target(to, authority, sizeof(authority)) ||
	    !continue_token(person, interned, enforce_local_day(c, time(NULL)), authority, want) ||
	    CRYPTO_memcmp(token, want, CONTINUE_TOKEN_HEX) != 0) {
		pages_error(out, c->conf, 400, "Bad Request", "This link is not valid (it may be from "
			    "another day: open the page again).", keep_alive);
		return 400;
	}
	/*
	 * Decide again for the target: only a person who is over the allowance
	 * with over_allowance = warn has something to acknowledge. Anything
	 * else (organisational or sanctioned use, an allowance that is back, a
	 * block) is just sent back to the page, and nothing is recorded: a
	 * warn-continued record counts as personal use.
	 */
	struct decision_hook d;
	authority_host(authority, host, sizeof(host));
	enforce_decide(c, host, NULL, &d);
	if (d.verdict == VERDICT_WARN && strcmp(d.platform, interned) == 0) {
		enforce_warn_ack(c, interned);
		c->decision.verdict = VERDICT_WARN;
		c->decision.reason = REASON_WARN_CONTINUED;
		snprintf(c->decision.platform, sizeof(c->decision.platform), "%.31s", interned);
		str_copy(c->decision.category, sizeof(c->decision.category), d.category);
		log_info("%s chose to continue to %s over the allowance",
			 c->user[0] ? c->user : "an unidentified client", interned);
	}
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Continue"
			    "</title>%s</head><body><h1>You may continue</h1><p>Use of ", page_style);
	pages_escape_html(b, interned);
	evbuffer_add_printf(b, " over your allowance is allowed for the rest of today and recorded.</p>"
			    "<p><a href=\"");
	pages_escape_html(b, to);
	evbuffer_add_printf(b, "\">Back to the page</a></p></body></html>\n");
	char loc[CONTINUE_TO_MAX + 16];
	/* to is visible ASCII only (continue_target): nothing can end the header early */
	snprintf(loc, sizeof(loc), "Location: %s\r\n", to);
	pages_send_html(out, 302, b, loc, keep_alive, false);
	evbuffer_free(b);
	return 302;
}

/* ---- the person's own status page ---- */

void enforce_status_page(struct conn *c, struct evbuffer *out, bool keep_alive, bool head_only)
{
	const struct policy *p = c->conf->policy;
	struct evbuffer *b = evbuffer_new();
	char person[64];
	time_t now = time(NULL);

	enforce_person_key(c, person, sizeof(person));
	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Your use "
			    "of social media today</title>%s</head><body><h1>Your use of social media "
			    "today</h1>", page_style);
	if (!p) {
		evbuffer_add_printf(b, "<p>No policy is configured.</p></body></html>\n");
		pages_send_html(out, 200, b, NULL, keep_alive, head_only);
		evbuffer_free(b);
		return;
	}
	struct enforce_standing st;
	enforce_standing(c, now, &st);
	const struct decision *d = &st.decision;
	const struct usage *u = &st.usage;
	evbuffer_add_printf(b, "<p>You are <b>");
	pages_escape_html(b, c->user[0] ? c->user : "not signed in");
	if (!c->user[0]) {
		evbuffer_add_printf(b, "</b> (this device, ");
		pages_escape_html(b, person);
		evbuffer_add_printf(b, ")");
	} else {
		evbuffer_add_printf(b, "</b>");
	}
	if (st.group) {
		evbuffer_add_printf(b, ", in the group <b>");
		pages_escape_html(b, policy_group_name(st.group));
		evbuffer_add_printf(b, "</b>. Your rule: <code>");
		pages_escape_html(b, policy_group_social(st.group));
		evbuffer_add_printf(b, "</code>");
	}
	evbuffer_add_printf(b, ".</p>");

	/* the rule now, for social media in general (enforce_standing) */
	char until[64];
	enforce_format_until(c, (int64_t)d->until, until, sizeof(until));
	evbuffer_add_printf(b, "<p>Right now social media is <b>%s</b> for you: ",
			    d->verdict == VERDICT_BLOCK ? "not allowed" :
			    d->verdict == VERDICT_WARN ? "over your allowance" : "allowed");
	pages_escape_html(b, policy_reason_text(d->reason));
	evbuffer_add_printf(b, ".%s%s%s</p>", until[0] ? " This changes " : "", until,
			    until[0] ? "." : "");

	if (st.group && policy_group_allowance(st.group) != POLICY_UNLIMITED) {
		unsigned a = policy_group_allowance(st.group);
		evbuffer_add_printf(b, "<p>Allowance: %u of %u minutes used today, <b>%u left</b>.</p>",
				    u->day_minutes, a, u->day_minutes >= a ? 0 : a - u->day_minutes);
	} else {
		evbuffer_add_printf(b, "<p>%u active minutes today; your group has no daily limit.</p>",
				    u->day_minutes);
	}

	/* active minutes per platform: only this person's, never anyone else's */
	const char *names[128];
	size_t n = catalog_platforms(policy_catalog(p), names, 128);
	bool any_row = false;
	for (size_t i = 0; i < n && i < 128; i++) {
		struct store_usage su;
		if (store_usage_today(server.store, person, names[i], now, 0, &su) != 0 ||
		    (su.day_minutes == 0 && su.day_requests == 0))
			continue;
		if (!any_row) {
			evbuffer_add_printf(b, "<table><tr><th>Platform</th><th>Active minutes</th>"
					    "<th>Requests</th></tr>");
			any_row = true;
		}
		evbuffer_add_printf(b, "<tr><td>");
		pages_escape_html(b, names[i]);
		evbuffer_add_printf(b, "</td><td>%u</td><td>%u</td></tr>", su.day_minutes, su.day_requests);
	}
	if (any_row)
		evbuffer_add_printf(b, "</table>");
	else
		evbuffer_add_printf(b, "<p>No social media use recorded today.</p>");
	evbuffer_add_printf(b, "<p><small>An active minute is a minute in which you started a "
			    "request to the platform, or a connection to it moved more than a "
			    "small amount of data. Network traffic cannot see a screen: this is an "
			    "estimate, the same one your administrator's reports use.</small></p>"
			    "</body></html>\n");
	pages_send_html(out, 200, b, NULL, keep_alive, head_only);
	evbuffer_free(b);
}
