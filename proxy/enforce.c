/*
 * enforce: the one place where a request or tunnel is classified and
 * decided. The host (and, for tunnels, the ClientHello's server name) is
 * looked up in the configuration's catalog and policy_decide() gives the
 * verdict; for a tunnel classified both ways the more restrictive answer
 * wins, and an IP-literal CONNECT relies on the SNI alone.
 *
 * Identity, live presence and today's usage come with the enforcement
 * issue; until then every client is the [auth] default_group, presence is
 * the timetable, and usage is zero.
 *
 * Runs on the loop thread; pure lookups on the immutable configuration;
 * no allocation, no blocking.
 */
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
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "policy.h"
#include "tz.h"

static int severity(enum verdict v)
{
	return v == VERDICT_BLOCK ? 2 : v == VERDICT_WARN ? 1 : 0;
}

/*
 * Live presence: the manual override (set by `breaktime presence`, picked up
 * from the store) and the last time student traffic was seen. Shared by all
 * workers as atomics; a decision takes a snapshot.
 */
static int live_override;            /* enum presence_override */
static int64_t live_override_until;
static int64_t live_last_detected;

void enforce_presence_override(int override, int64_t until)
{
	__atomic_store_n(&live_override_until, until, __ATOMIC_RELAXED);
	__atomic_store_n(&live_override, override, __ATOMIC_RELEASE);
}

/* The newest detection in the store (breaktime-sensor's, or this proxy's own): never moves back. */
void enforce_presence_detected(int64_t at)
{
	int64_t old = __atomic_load_n(&live_last_detected, __ATOMIC_RELAXED);
	while (at > old && !__atomic_compare_exchange_n(&live_last_detected, &old, at, true,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void presence_snapshot(struct presence_state *ps)
{
	ps->override = (enum presence_override)__atomic_load_n(&live_override, __ATOMIC_ACQUIRE);
	ps->override_until = (time_t)__atomic_load_n(&live_override_until, __ATOMIC_RELAXED);
	ps->last_detected = (time_t)__atomic_load_n(&live_last_detected, __ATOMIC_RELAXED);
}

/* A request from a student subnet or group: students are present for detect_idle. */
static void detect(struct conn *c, const struct policy *p, const struct group *g, time_t now)
{
	if (!presence_detects(p, g, &c->peer.u.sa))
		return;
	int64_t old = __atomic_exchange_n(&live_last_detected, (int64_t)now, __ATOMIC_RELAXED);
	if (now - old >= (time_t)policy_detect_idle(p)) {
		char cause[128], addr[64];
		snprintf(cause, sizeof(cause), "%s%s%s%s", sockaddr_ntop(&c->peer.u.sa, addr, sizeof(addr)),
			 g ? " (" : "", g ? policy_group_name(g) : "", g ? ")" : "");
		store_submit_presence(server.store, (int64_t)now * 1000000, "detected", 0, cause,
				      RECORD_SOURCE_PROXY);
	}
}

/* Today's usage for this person (or address), from the store's memory. */
static void usage_of(const struct conn *c, const struct policy *p, const struct group *g,
		     time_t now, struct usage *u)
{
	struct store_usage su;
	char key[64];

	memset(u, 0, sizeof(*u));
	const char *who = store_user_key(c->user[0] ? c->user : NULL, &c->peer.u.sa, key, sizeof(key));
	time_t since = g ? policy_period_start(p, g, now) : 0;
	if (store_usage_today(server.store, who, NULL, now, since, &su) == 0) {
		u->day_minutes = su.day_minutes;
		u->period_minutes = su.since_minutes;
	}
}

static void decide_one(const struct policy *p, const struct identity *id,
		       const struct catalog_entry *e, time_t now, const struct presence_state *ps,
		       const struct usage *u, struct decision *d)
{
	*d = policy_decide(p, id, e, now, ps, u);
}

void enforce_decide(struct conn *c, const char *host, const char *sni, struct decision_hook *out)
{
	const struct policy *p = c->conf->policy;

	memset(out, 0, sizeof(*out));
	out->verdict = VERDICT_ALLOW;
	if (!p)
		return;
	const struct catalog *cat = policy_catalog(p);
	time_t now = time(NULL);
	const struct catalog_entry *eh = cat && host && host[0] ? catalog_lookup(cat, host) : NULL;
	const struct catalog_entry *es = cat && sni && sni[0] ? catalog_lookup(cat, sni) : NULL;
	struct decision dh, ds;
	const struct catalog_entry *chosen = eh;

	struct identity id = {.user = c->user[0] ? c->user : NULL};
	id.group = c->user[0] ? policy_group_of(p, c->user) : policy_default_group(p);
	if (id.group)
		str_copy(c->group, sizeof(c->group), policy_group_name(id.group));
	detect(c, p, id.group, now);
	struct presence_state ps;
	struct usage u;
	presence_snapshot(&ps);
	memset(&u, 0, sizeof(u));
	if ((eh && policy_is_social(p, eh)) || (es && policy_is_social(p, es)))
		usage_of(c, p, id.group, now, &u);
	decide_one(p, &id, eh, now, &ps, &u, &dh);
	if (sni && sni[0]) {
		decide_one(p, &id, es, now, &ps, &u, &ds);
		/* the more restrictive answer wins; a classified name beats an unclassified one */
		if (severity(ds.verdict) > severity(dh.verdict) || (!eh && es)) {
			dh = ds;
			chosen = es;
		}
	}
	out->verdict = dh.verdict;
	out->reason = dh.reason;
	out->until = (int64_t)dh.until;
	out->allowance_left = -1;
	if (id.group && policy_group_allowance(id.group) != POLICY_UNLIMITED) {
		unsigned a = policy_group_allowance(id.group);
		out->allowance_left = u.day_minutes >= a ? 0 : (int)(a - u.day_minutes);
	}
	if (chosen) {
		str_copy(out->platform, sizeof(out->platform), chosen->platform);
		str_copy(out->category, sizeof(out->category), chosen->category);
	}
}

void enforce_format_until(const struct conn *c, int64_t until, char *buf, size_t len)
{
	const struct policy *p = c->conf->policy;
	const struct tz *tz = p ? policy_tz(p) : NULL;
	time_t now = time(NULL);

	buf[0] = '\0';
	if (!until || !tz)
		return;
	int64_t lu = until + tz_offset(tz, until, NULL, NULL);
	int64_t ln = (int64_t)now + tz_offset(tz, now, NULL, NULL);
	int64_t du = tz_floordiv(lu, 86400), dn = tz_floordiv(ln, 86400);
	unsigned hh = (unsigned)((lu - du * 86400) / 3600), mm = (unsigned)((lu - du * 86400) % 3600 / 60);
	if (du == dn) {
		snprintf(buf, len, "today at %02u:%02u", hh, mm);
	} else if (du == dn + 1) {
		snprintf(buf, len, "tomorrow at %02u:%02u", hh, mm);
	} else {
		int64_t y;
		unsigned m, d;
		tz_civil_from_days(du, &y, &m, &d);
		snprintf(buf, len, "%s %04lld-%02u-%02u at %02u:%02u", schedule_day_name(tz_weekday(du)),
			 (long long)y, m, d, hh, mm);
	}
}

/* ---- warn: acknowledged once per person, platform and local day ---- */

#define ACK_SLOTS 4096

struct ack {
	char key[160];          /* user NUL platform */
	int64_t day;
};

static pthread_mutex_t ack_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ack acks[ACK_SLOTS];

static int64_t local_day(const struct conn *c, time_t now)
{
	const struct policy *p = c->conf->policy;
	const struct tz *tz = p ? policy_tz(p) : NULL;
	int64_t off = tz ? tz_offset(tz, now, NULL, NULL) : 0;
	return tz_floordiv((int64_t)now + off, 86400);
}

/* Whom usage counts for: the same key the store uses (user, else address). */
static void person_key(const struct conn *c, char *buf, size_t len)
{
	const char *who = store_user_key(c->user[0] ? c->user : NULL, &c->peer.u.sa, buf, len);
	if (who != buf)
		str_copy(buf, len, who);
}

static struct ack *ack_slot(const char *person, const char *platform, char key[160])
{
	memset(key, 0, 160);
	size_t a = strlen(person), b = strlen(platform);
	if (a > 100)
		a = 100;
	if (b > 50)
		b = 50;
	/* NOLINTBEGIN(bugprone-not-null-terminated-result): a zero-filled binary key */
	memcpy(key, person, a);
	memcpy(key + a + 1, platform, b);
	/* NOLINTEND(bugprone-not-null-terminated-result) */
	unsigned h = 2166136261u;
	for (size_t i = 0; i < a + 1 + b; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return &acks[h % ACK_SLOTS];
}

bool enforce_warn_acked(struct conn *c, const char *platform)
{
	char person[64], key[160];
	person_key(c, person, sizeof(person));
	int64_t day = local_day(c, time(NULL));
	pthread_mutex_lock(&ack_lock);
	struct ack *a = ack_slot(person, platform, key);
	bool ok = a->day == day && memcmp(a->key, key, sizeof(key)) == 0;
	pthread_mutex_unlock(&ack_lock);
	return ok;
}

static void warn_ack(struct conn *c, const char *platform)
{
	char person[64], key[160];
	person_key(c, person, sizeof(person));
	int64_t day = local_day(c, time(NULL));
	pthread_mutex_lock(&ack_lock);
	struct ack *a = ack_slot(person, platform, key);
	memcpy(a->key, key, sizeof(key));
	a->day = day;
	pthread_mutex_unlock(&ack_lock);
}

void enforce_warn_restore(const char *person, const char *platform, int64_t day)
{
	char key[160];
	pthread_mutex_lock(&ack_lock);
	struct ack *a = ack_slot(person, platform, key);
	memcpy(a->key, key, sizeof(key));
	a->day = day;
	pthread_mutex_unlock(&ack_lock);
}

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
	person_key(c, person, sizeof(person));
	/* no token, no link: what cannot be continued is not offered */
	bool can = continue_target(to, authority, sizeof(authority)) &&
		   continue_token(person, c->decision.platform, local_day(c, time(NULL)), authority, token);
	url_encode(to, enc_to, sizeof(enc_to));
	url_encode(c->decision.platform, enc_p, sizeof(enc_p));
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

	person_key(c, person, sizeof(person));
	/* nothing is recorded or acknowledged unless every check passes */
	if (!query || !cat || !url_query_get(query, len, "p", platform, sizeof(platform)) ||
	    !(interned = catalog_platform(cat, platform)) ||
	    !url_query_get(query, len, "t", token, sizeof(token)) || strlen(token) != CONTINUE_TOKEN_HEX ||
	    !url_query_get(query, len, "to", to, sizeof(to)) ||
	    !continue_target(to, authority, sizeof(authority)) ||
	    !continue_token(person, interned, local_day(c, time(NULL)), authority, want) ||
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
		warn_ack(c, interned);
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

	person_key(c, person, sizeof(person));
	evbuffer_add_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Your use "
			    "of social media today</title>%s</head><body><h1>Your use of social media "
			    "today</h1>", page_style);
	if (!p) {
		evbuffer_add_printf(b, "<p>No policy is configured.</p></body></html>\n");
		pages_send_html(out, 200, b, NULL, keep_alive, head_only);
		evbuffer_free(b);
		return;
	}
	struct identity id = {.user = c->user[0] ? c->user : NULL};
	id.group = c->user[0] ? policy_group_of(p, c->user) : policy_default_group(p);
	evbuffer_add_printf(b, "<p>You are <b>");
	pages_escape_html(b, c->user[0] ? c->user : "not signed in");
	if (!c->user[0]) {
		evbuffer_add_printf(b, "</b> (this device, ");
		pages_escape_html(b, person);
		evbuffer_add_printf(b, ")");
	} else {
		evbuffer_add_printf(b, "</b>");
	}
	if (id.group) {
		evbuffer_add_printf(b, ", in the group <b>");
		pages_escape_html(b, policy_group_name(id.group));
		evbuffer_add_printf(b, "</b>. Your rule: <code>");
		pages_escape_html(b, policy_group_social(id.group));
		evbuffer_add_printf(b, "</code>");
	}
	evbuffer_add_printf(b, ".</p>");

	/* the rule now, for social media in general */
	struct catalog_entry any = {.platform = "social media", .category = "social", .domain = ""};
	struct presence_state ps;
	struct usage u;
	presence_snapshot(&ps);
	usage_of(c, p, id.group, now, &u);
	struct decision d = policy_decide(p, &id, &any, now, &ps, &u);
	char until[64];
	enforce_format_until(c, (int64_t)d.until, until, sizeof(until));
	evbuffer_add_printf(b, "<p>Right now social media is <b>%s</b> for you: ",
			    d.verdict == VERDICT_BLOCK ? "not allowed" :
			    d.verdict == VERDICT_WARN ? "over your allowance" : "allowed");
	pages_escape_html(b, policy_reason_text(d.reason));
	evbuffer_add_printf(b, ".%s%s%s</p>", until[0] ? " This changes " : "", until,
			    until[0] ? "." : "");

	if (id.group && policy_group_allowance(id.group) != POLICY_UNLIMITED) {
		unsigned a = policy_group_allowance(id.group);
		evbuffer_add_printf(b, "<p>Allowance: %u of %u minutes used today, <b>%u left</b>.</p>",
				    u.day_minutes, a, u.day_minutes >= a ? 0 : a - u.day_minutes);
	} else {
		evbuffer_add_printf(b, "<p>%u active minutes today; your group has no daily limit.</p>",
				    u.day_minutes);
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
