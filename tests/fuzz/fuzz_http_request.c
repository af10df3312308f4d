/*
 * fuzz_http_request: libFuzzer target for the request head parser
 * (proxy/http_head.c, and http_field.c's rules on what it parses):
 * http_head_length() and http_parse_request() on arbitrary bytes, checking
 * the contract, not only the absence of crashes:
 *   - http_head_length() never points past the input and, when it finds a
 *     head, the head ends in CRLFCRLF;
 *   - the status is one the header documents;
 *   - a parsed request points only into the input, has a host for the
 *     forwarding forms, never claims two framings, never HTTP_BODY_CLOSE;
 *   - a head the parser accepts is exactly what http_head_length() finds,
 *     and parsing is deterministic;
 *   - http_head_scan(), fed the same bytes in steps (sizes taken from the
 *     input itself), finds exactly what http_head_length() finds at every
 *     step, as conn.c relies on.
 * Seeds: tests/data/fuzz/fuzz_http_request/. Must never touch the network
 * or keep state between inputs.
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

static void check_request(const char *buf, size_t size, const struct http_request *req)
{
	if (req->method_len == 0 || req->target_len == 0)
		abort();
	within(buf, size, req->method, req->method_len);
	within(buf, size, req->target, req->target_len);
	if (req->n_headers > HTTP_MAX_HEADERS)
		abort();
	bool hop[HTTP_MAX_HEADERS];
	http_hop_mask(req->headers, req->n_headers, hop);
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (h->name_len == 0)
			abort();
		within(buf, size, h->name, h->name_len);
		within(buf, size, h->value, h->value_len);
		/* one rule: the mask the proxy uses is the tested predicate, and a
		 * framing field is never hop-by-hop but for Transfer-Encoding,
		 * which the proxy writes itself */
		if (hop[i] != http_is_hop_by_hop(h, req->headers, req->n_headers))
			abort();
		if (hop[i] && h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0)
			abort();
	}
	if (req->version_minor != 0 && req->version_minor != 1)
		abort();
	if (req->body == HTTP_BODY_CLOSE)
		abort();
	if (req->body != HTTP_BODY_LENGTH && req->content_length != 0)
		abort();
	bool has_cl = http_find_header(req->headers, req->n_headers, "content-length") != NULL;
	bool has_te = http_find_header(req->headers, req->n_headers, "transfer-encoding") != NULL;
	if (has_cl && has_te)
		abort();
	if ((req->body == HTTP_BODY_CHUNKED) != has_te || (req->body == HTTP_BODY_LENGTH) != has_cl)
		abort();
	if (req->form == HTTP_FORM_ABSOLUTE || req->form == HTTP_FORM_AUTHORITY) {
		if (req->host_kind == HOST_INVALID || req->host[0] == '\0' || req->port == 0)
			abort();
	}
	if (req->form == HTTP_FORM_AUTHORITY && !req->is_connect)
		abort();
	if (req->is_connect && req->form != HTTP_FORM_AUTHORITY)
		abort();
	if (req->form == HTTP_FORM_ABSOLUTE || req->form == HTTP_FORM_ORIGIN) {
		if (req->path_len == 0 || req->path[0] != '/')
			abort();
	}
	if (strlen(req->host) > HOSTNAME_MAX)
		abort();
	if (req->upgrade_websocket && req->version_minor != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req, again;
	const char *buf = (const char *)data;
	size_t hl = http_head_length(buf, size);

	if (hl > size || (hl && (hl < 4 || memcmp(buf + hl - 4, "\r\n\r\n", 4) != 0)))
		abort();

	/* the incremental scan, in steps of 1..16 bytes chosen by the data */
	struct http_head_scan sc = {0, 0};
	size_t got = 0;
	for (size_t have = 0; have < size && !got;) {
		have += 1 + (size_t)(data[have] & 15);
		if (have > size)
			have = size;
		got = http_head_scan(&sc, buf, have);
		if (got != http_head_length(buf, have))
			abort();
	}
	if (got != hl)
		abort();

	size_t max_uri = (size & 1) ? 64 : 0;
	int rc = http_parse_request(buf, size, max_uri, &req);
	switch (rc) {
	case 0:
		if (hl != size)
			abort();
		check_request(buf, size, &req);
		break;
	case 400: case 414: case 431: case 501: case 505:
		break;
	default:
		abort();
	}
	if (http_parse_request(buf, size, max_uri, &again) != rc)
		abort();
	/* the way the proxy calls it: only the head that was found */
	if (hl && hl < size) {
		rc = http_parse_request(buf, hl, 0, &req);
		if (rc == 0)
			check_request(buf, hl, &req);
	}
	return 0;
}
