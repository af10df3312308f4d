/*
 * enforce.h: enforcement as a connection sees it — what enforce.c works out
 * for a struct conn besides the decision itself (enforce_decide() and live
 * presence are in proxy.h, for every part of the proxy), and the pages of
 * pages_enforce.c that show a person where they stand. The warn
 * acknowledgements are acks.h's. Loop thread of the connection.
 */
#ifndef BREAKTIME_ENFORCE_H
#define BREAKTIME_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>

#include "policy.h"

struct conn;

/* ---- enforce.c ---- */

/* "today at 12:30" in the site's time zone; "" when never. */
void enforce_format_until(const struct conn *c, int64_t until, char *buf, size_t len);
/* Whom usage counts for: the store's key (the user, else the client address) into buf. */
void enforce_person_key(const struct conn *c, char *buf, size_t len);
/* The site's local day of now (days since 1970; UTC without a policy). */
int64_t enforce_local_day(const struct conn *c, time_t now);

/* Where c's person stands with social media in general at now. */
struct enforce_standing {
	const struct group *group;      /* their group; NULL: none */
	struct decision decision;       /* for social media in general, now */
	struct usage usage;             /* today's, from the store's memory */
};
/* Only with a policy (c->conf->policy not NULL). */
void enforce_standing(const struct conn *c, time_t now, struct enforce_standing *st);

/* ---- pages_enforce.c ---- */

/* The person's own status page: who they are, the rule now, today's use. */
void enforce_status_page(struct conn *c, struct evbuffer *out, bool keep_alive, bool head_only);
/* The warn interstitial (403) with its Continue link (when one can be made). */
void enforce_warn_page(struct conn *c, struct evbuffer *out, bool is_connect, bool keep_alive);
/* /continue?query (len bytes, NULL: none): check the link, acknowledge, send
 * the person back. Returns the status sent (302 to the page, or 400). */
int enforce_continue(struct conn *c, struct evbuffer *out, const char *query, size_t len,
		     bool keep_alive);

#endif
