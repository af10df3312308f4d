/*
 * verdict: the one vocabulary of decisions — what was done (enum verdict)
 * and why (enum reason) — from the moment a decision is made to the row in
 * the store. The policy's reasons (policy_decide), the proxy's own refusals
 * and the sensor's findings share one enum, so every component compares
 * numbers and the text exists in one table only (verdict.c).
 *
 * Text is made only where text is written: the store's rows, log lines,
 * the pages and /metrics. The names are part of the store's format and of
 * what reports and administrators match on: never rename one.
 *
 * The zero values mean "no decision" (VERDICT_NONE, REASON_NONE), so a
 * zeroed record or connection has none; their names are NULL (no text: a
 * NULL column, "-" in a log line).
 *
 * Pure and constant: any thread.
 */
#ifndef BREAKTIME_VERDICT_H
#define BREAKTIME_VERDICT_H

#include <stdbool.h>

enum verdict {
	VERDICT_NONE = 0,          /* no decision was made (refused before deciding, own pages) */
	VERDICT_ALLOW,
	VERDICT_WARN,              /* show an interstitial once, then allow and record */
	VERDICT_BLOCK,
	VERDICT_COUNT
};

enum reason {
	REASON_NONE = 0,           /* no decision, or no policy to decide with */
	/* policy_decide() (config/policy.h) */
	REASON_NOT_SOCIAL,         /* not a listed platform (or not a category the rules cover) */
	REASON_ORGANISATIONAL,     /* organisational use by an organisational group (comms) */
	REASON_SANCTIONED,         /* a platform sanctioned for teaching, students present */
	REASON_ALLOWED,            /* the group's rule allows it now */
	REASON_ALLOWANCE_EXHAUSTED,/* allowed by the rule, but the allowance is used up */
	REASON_STUDENTS_PRESENT,   /* the rule would allow it but students are present */
	REASON_OUTSIDE_ALLOWED_TIME, /* not in a window the rule allows */
	REASON_CLOSED,             /* a closed date: every window is shut */
	REASON_GROUP_NEVER,        /* the group's rule is `never` */
	/* the proxy's own refusals and choices (proxy/) */
	REASON_PORT,               /* CONNECT to a port not in connect_ports */
	REASON_AUTH_FAILED,        /* 407: wrong credentials */
	REASON_AUTH_REQUIRED,      /* 407: no credentials */
	REASON_AUTH_RATE_LIMITED,  /* 429: too many failed sign-ins */
	REASON_CLIENT_NOT_ALLOWED, /* 403: an address outside allow_clients */
	REASON_WARN_CONTINUED,     /* over the allowance, the person chose to continue */
	REASON_NO_SNI,             /* intercepted TLS without a server name: decided by address */
	REASON_ECH,                /* intercepted TLS with an encrypted ClientHello: its outer name allowed */
	REASON_SIGN_IN_REQUIRED,   /* intercepted HTTP of an unknown device: sent to /signin */
	REASON_SIGNED_IN,          /* the intercept-mode sign-in page accepted a person */
	/* the sensor's findings (sensor/) */
	REASON_BYPASS,             /* social traffic that did not go through the proxy */
	REASON_DOH,                /* DNS over HTTPS to a well-known resolver (sensor/flags.h) */
	REASON_VPN,                /* a VPN protocol's well-known port (sensor/flags.h) */
	REASON_COUNT
};

/* "allow", "warn", "block"; NULL for VERDICT_NONE and anything out of range. */
const char *verdict_name(enum verdict v);
/* "not-social", "auth-required", "doh", ...; NULL for REASON_NONE and anything out of range. */
const char *verdict_reason_name(enum reason r);
/* Is r one policy_decide() returns? */
bool verdict_reason_is_policy(enum reason r);

#endif
