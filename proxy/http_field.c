/*
 * http_field: the rules for single header fields the proxy applies to a
 * parsed head (http_head.c): tokens, lookup by name, membership in a
 * comma-separated value, and which fields are hop-by-hop (RFC 9110 7.6.1)
 * and so are not forwarded.
 *
 * Pure functions: no I/O, no allocation, no globals; safe on any thread.
 * Must never let a Connection option remove a field that frames the
 * message (hop_never).
 */
#include "http_head.h"

#include "http_syntax.h"

#include <string.h>

bool http_is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!IS(s[i], C_TCHAR))
			return false;
	return true;
}

bool http_value_has_token(const char *value, size_t len, const char *token)
{
	return list_has(value, len, token, strlen(token));
}

const struct http_header *http_find_header(const struct http_header *h, size_t n,
					   const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (h[i].name_len == len && ieq(h[i].name, name, len))
			return &h[i];
	return NULL;
}

/*
 * The fixed hop-by-hop fields (RFC 9110 7.6.1, and the proxy's own):
 * dispatched on the name's length first, as the field section is.
 */
static bool hop_fixed(const struct http_header *h)
{
	const char *s = h->name;

	switch (h->name_len) {
	case 2: return NAME_IS(s, 2, "te");
	case 7: return NAME_IS(s, 7, "trailer") || NAME_IS(s, 7, "upgrade");
	case 10: return NAME_IS(s, 10, "connection") || NAME_IS(s, 10, "keep-alive");
	case 16: return NAME_IS(s, 16, "proxy-connection");
	case 17: return NAME_IS(s, 17, "transfer-encoding");
	case 18: return NAME_IS(s, 18, "proxy-authenticate");
	case 19: return NAME_IS(s, 19, "proxy-authorization");
	}
	return false;
}

/*
 * A field that frames the message (or names its host) is never removed
 * because a Connection option names it: dropping Content-Length while the
 * body still follows is how a body becomes a second request (smuggling).
 * The parsers refuse such a message anyway; this keeps the rule true for
 * any caller.
 */
static bool hop_never(const struct http_header *h)
{
	return NAME_IS(h->name, h->name_len, "content-length") ||
	       NAME_IS(h->name, h->name_len, "host");
}

static bool is_connection(const struct http_header *h)
{
	return NAME_IS(h->name, h->name_len, "connection");
}

bool http_is_hop_by_hop(const struct http_header *h, const struct http_header *all, size_t n)
{
	if (hop_fixed(h))
		return true;
	if (hop_never(h))
		return false;
	for (size_t i = 0; i < n; i++)
		if (is_connection(&all[i]) &&
		    list_has(all[i].value, all[i].value_len, h->name, h->name_len))
			return true;
	return false;
}

void http_hop_mask(const struct http_header *all, size_t n, bool *hop)
{
	size_t conn[HTTP_MAX_HEADERS];
	size_t nc = 0;

	/* one pass to find the Connection fields (a parsed head has at most
	 * HTTP_MAX_HEADERS fields; past that, the slow path of the same rule) */
	for (size_t i = 0; i < n; i++) {
		if (is_connection(&all[i])) {
			if (nc == HTTP_MAX_HEADERS) {
				for (size_t k = 0; k < n; k++)
					hop[k] = http_is_hop_by_hop(&all[k], all, n);
				return;
			}
			conn[nc++] = i;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct http_header *h = &all[i];
		bool x = hop_fixed(h);
		for (size_t k = 0; !x && k < nc; k++)
			if (list_has(all[conn[k]].value, all[conn[k]].value_len, h->name, h->name_len)) {
				x = !hop_never(h);
				break;
			}
		hop[i] = x;
	}
}
