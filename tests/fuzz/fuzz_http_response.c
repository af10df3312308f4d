/*
 * fuzz_http_response: libFuzzer target for the response head parser
 * (proxy/http_head.c, and http_field.c's rules on what it parses). Each
 * input is parsed as the answer to a GET and to a HEAD, and the contract is
 * checked:
 *   - parsed strings point only into the input;
 *   - the status is 100..999, the framing follows RFC 9112 6.3 (no body
 *     after HEAD, 1xx, 204, 304; Content-Length only with LENGTH);
 *   - a connection is never reusable after a read-to-close body or a 101;
 *   - whatever is valid after a GET is valid after a HEAD.
 * Seeds: tests/data/fuzz/fuzz_http_response/. Must never keep state between
 * inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void within(const char *buf, size_t size, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (p < buf || p + n > buf + size)
		abort();
}

static void check_response(const char *buf, size_t size, bool head, const struct http_response *r)
{
	if (r->status < 100 || r->status > 999)
		abort();
	if (r->version_minor != 0 && r->version_minor != 1)
		abort();
	within(buf, size, r->reason, r->reason_len);
	if (r->n_headers > HTTP_MAX_HEADERS)
		abort();
	bool hop[HTTP_MAX_HEADERS];
	http_hop_mask(r->headers, r->n_headers, hop);
	for (size_t i = 0; i < r->n_headers; i++) {
		within(buf, size, r->headers[i].name, r->headers[i].name_len);
		within(buf, size, r->headers[i].value, r->headers[i].value_len);
		if (r->headers[i].name_len == 0)
			abort();
		/* the proxy's mask is the tested rule; Content-Length is never hop-by-hop */
		if (hop[i] != http_is_hop_by_hop(&r->headers[i], r->headers, r->n_headers))
			abort();
		if (hop[i] && r->headers[i].name_len == 14 &&
		    strncasecmp(r->headers[i].name, "content-length", 14) == 0)
			abort();
	}
	bool no_body = head || r->status < 200 || r->status == 204 || r->status == 304;
	if (no_body != (r->body == HTTP_BODY_NONE))
		abort();
	if (r->body != HTTP_BODY_LENGTH && r->content_length != 0)
		abort();
	if ((r->body == HTTP_BODY_CLOSE || r->status == 101) && r->keep_alive)
		abort();
	if (r->upgrade != (r->status == 101))
		abort();
	if (r->body == HTTP_BODY_CHUNKED &&
	    http_find_header(r->headers, r->n_headers, "content-length"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_response get, head;
	const char *buf = (const char *)data;

	int rc = http_parse_response(buf, size, false, &get);
	if (rc != 0 && rc != -1)
		abort();
	if (rc == 0)
		check_response(buf, size, false, &get);
	int rc_head = http_parse_response(buf, size, true, &head);
	if (rc_head != 0 && rc_head != -1)
		abort();
	if (rc_head == 0)
		check_response(buf, size, true, &head);
	if (rc == 0 && rc_head != 0)
		abort();
	if (rc == 0 && (get.status != head.status || get.n_headers != head.n_headers))
		abort();

	size_t hl = http_head_length(buf, size);
	if (hl > size)
		abort();
	if (hl && hl < size && http_parse_response(buf, hl, false, &get) == 0)
		check_response(buf, hl, false, &get);
	return 0;
}
