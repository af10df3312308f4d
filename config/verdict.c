/*
 * verdict: the names of verdicts and reasons (verdict.h) — the only place
 * they are spelt. Pure and constant: any thread.
 */
#include "verdict.h"

#include <stddef.h>

static const char *const verdict_names[VERDICT_COUNT] = {
	[VERDICT_ALLOW] = "allow",
	[VERDICT_WARN] = "warn",
	[VERDICT_BLOCK] = "block",
};

static const char *const reason_names[REASON_COUNT] = {
	[REASON_NOT_SOCIAL] = "not-social",
	[REASON_ORGANISATIONAL] = "organisational",
	[REASON_SANCTIONED] = "sanctioned",
	[REASON_ALLOWED] = "allowed",
	[REASON_ALLOWANCE_EXHAUSTED] = "allowance-exhausted",
	[REASON_STUDENTS_PRESENT] = "students-present",
	[REASON_OUTSIDE_ALLOWED_TIME] = "outside-allowed-time",
	[REASON_CLOSED] = "closed",
	[REASON_GROUP_NEVER] = "group-never",
	[REASON_PORT] = "port",
	[REASON_AUTH_FAILED] = "auth-failed",
	[REASON_AUTH_REQUIRED] = "auth-required",
	[REASON_AUTH_RATE_LIMITED] = "auth-rate-limited",
	[REASON_CLIENT_NOT_ALLOWED] = "client-not-allowed",
	[REASON_WARN_CONTINUED] = "warn-continued",
	[REASON_NO_SNI] = "no-sni",
	[REASON_ECH] = "ech",
	[REASON_SIGN_IN_REQUIRED] = "sign-in-required",
	[REASON_SIGNED_IN] = "signed-in",
	[REASON_BYPASS] = "bypass",
	[REASON_DOH] = "doh",
	[REASON_VPN] = "vpn",
};

const char *verdict_name(enum verdict v)
{
	return (unsigned)v < VERDICT_COUNT ? verdict_names[v] : NULL;
}

const char *verdict_reason_name(enum reason r)
{
	return (unsigned)r < REASON_COUNT ? reason_names[r] : NULL;
}

bool verdict_reason_is_policy(enum reason r)
{
	return r >= REASON_NOT_SOCIAL && r <= REASON_GROUP_NEVER;
}
