/*
 * enforce: the one place where a request or tunnel is classified and
 * decided. The policy model (config/policy.h: catalog_lookup and
 * policy_decide) plugs in here; until the configuration carries a policy,
 * everything is allowed and recorded as not classified.
 *
 * Runs on the loop thread; pure lookups on the immutable configuration;
 * no allocation, no blocking.
 */
#include "proxy.h"

#include <string.h>

void enforce_decide(struct conn *c, const char *host, const char *sni, struct decision_hook *out)
{
	(void)c;
	(void)host;
	(void)sni;
	memset(out, 0, sizeof(*out));
	out->verdict = "allow";
	out->reason = NULL;
}
