/*
 * http_head.h: strict parsing of HTTP/1.x request and response heads
 * (RFC 9110, RFC 9112) for a forward proxy (http_head.c), the rules for
 * single fields such as hop-by-hop (http_field.c), and the chunked-body
 * framing decoder (http_chunked.c). This is the first code that touches
 * untrusted bytes from clients and origins: it must reject every ambiguity
 * that could desynchronise us from the peer (request smuggling), never read
 * past `len`, and never allocate.
 *
 * Pure functions: no I/O, no allocation, no globals; safe on any thread.
 * Parsed strings point into the caller's buffer, which must outlive the
 * struct (the caller keeps the head linear while it uses them).
 */
#ifndef BREAKTIME_HTTP_HEAD_H
#define BREAKTIME_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostname.h"

#define HTTP_MAX_HEADERS 128

struct http_header {
	const char *name;
	size_t name_len;
	const char *value;     /* leading and trailing OWS removed */
	size_t value_len;
};

enum http_body {
	HTTP_BODY_NONE,        /* no body */
	HTTP_BODY_LENGTH,      /* content_length bytes */
	HTTP_BODY_CHUNKED,     /* chunked framing, decode with struct chunk_decoder */
	HTTP_BODY_CLOSE,       /* responses only: until the origin closes */
};

enum http_target_form {
	HTTP_FORM_ORIGIN,      /* "/path?q" : the proxy's own pages */
	HTTP_FORM_ABSOLUTE,    /* "http://host[:port]/path" : forward */
	HTTP_FORM_AUTHORITY,   /* "host:port" : CONNECT only */
	HTTP_FORM_ASTERISK,    /* "*" : OPTIONS only */
};

struct http_request {
	const char *method;
	size_t method_len;
	bool is_connect, is_head;
	const char *target;    /* as received */
	size_t target_len;
	enum http_target_form form;
	int version_minor;     /* HTTP/1.0 or HTTP/1.1 */
	/* absolute-form (scheme http only) and authority-form: from the target;
	 * origin-form and asterisk-form: from Host when there is one (else
	 * host is "" and host_kind HOST_INVALID), default port 80 */
	char host[HOSTNAME_MAX + 1];  /* normalised (hostname_normalise) */
	enum host_kind host_kind;
	uint16_t port;
	const char *path;      /* absolute-form: origin-form part, "/" when empty; origin-form: target */
	size_t path_len;
	bool options_asterisk; /* absolute-form OPTIONS with an empty path: the origin gets
				* "OPTIONS *" (RFC 9112 3.2.4), path stays "/" for records */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	enum http_body body;   /* NONE, LENGTH or CHUNKED: never CLOSE */
	uint64_t content_length; /* when body is LENGTH (may be 0); else 0 */
	bool keep_alive;       /* from the version and Connection */
	bool expect_continue;  /* Expect: 100-continue */
	bool upgrade_websocket;/* Connection: upgrade + Upgrade: websocket (GET, HTTP/1.1) */
};

struct http_response {
	int version_minor;
	int status;            /* 100..999 */
	const char *reason;
	size_t reason_len;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	enum http_body body;
	uint64_t content_length; /* when body is LENGTH; else 0 */
	bool keep_alive;       /* may the origin connection be reused after this response */
	bool upgrade;          /* 101 Switching Protocols */
};

/* ---- heads (http_head.c) ---- */

/*
 * Find the end of a head: returns the length of the head including the final
 * CRLFCRLF, or 0 when it is not complete in buf[0..len). Does not validate.
 * Empty lines (CRLF) before a request line are part of the head (RFC 9112
 * 2.2 says to ignore them; http_parse_request does). A head written with
 * bare LF line endings has no CRLFCRLF: the caller's header size limit or
 * timeout ends it.
 */
size_t http_head_length(const char *buf, size_t len);

/*
 * The same search, incremental: for a head that arrives over many reads
 * (a slow or malicious client may trickle 64 KiB one byte at a time), each
 * call looks only at the bytes added since the last one, so finding the end
 * costs O(total) instead of O(total^2). A zeroed struct starts a scan.
 * Between calls buf may move (a pulled-up evbuffer) but its first len bytes
 * must be unchanged and len must not shrink; whenever the caller drains or
 * replaces the buffer it zeroes the struct (that is always safe: the next
 * call scans from the start). A shorter len than last time restarts the scan.
 * Returns exactly what http_head_length(buf, len) returns.
 */
struct http_head_scan {
	size_t start;          /* after the empty lines before the head */
	size_t scanned;        /* buf[start..scanned) holds no end of head */
	bool bare_lf;          /* a LF without its CR was seen before any end of
				* head: the head can only be refused, so the caller
				* need not wait for the rest (or for a timeout) */
};
size_t http_head_scan(struct http_head_scan *s, const char *buf, size_t len);

/*
 * Parse a complete request head buf[0..len) (len from http_head_length).
 * Returns 0, or the HTTP status the proxy must answer with:
 *   400 malformed: bad request line, invalid token or target, bare CR or
 *       bare LF, obs-fold, whitespace before a colon, Content-Length together
 *       with Transfer-Encoding, repeated or differing or invalid
 *       Content-Length, Transfer-Encoding other than a final "chunked",
 *       missing Host in HTTP/1.1 origin-form, a CONNECT target that is not
 *       host:port, non-http scheme in absolute-form, a host that does not
 *       normalise
 *   414 request target longer than max_uri
 *   431 more than HTTP_MAX_HEADERS fields
 *   501 Transfer-Encoding other than chunked (a coding we do not know)
 *   505 a version other than HTTP/1.0 or HTTP/1.1
 * Also 400: a Connection field naming Content-Length or Transfer-Encoding
 * (the sender declares its framing hop-by-hop: smuggling), bytes after the
 * empty line ending the head, a request-target
 * with a fragment ('#'), a control, SP or non-ASCII byte, userinfo in the
 * authority, "http://host?query" without a path (the origin-form "/?query"
 * is not in the buffer; clients send the slash), CONNECT with content,
 * "*" with a method other than OPTIONS.
 * max_uri 0 means no limit. Field values may hold obs-text (bytes >= 0x80).
 * A Content-Length or chunk size must be below 2^62.
 */
int http_parse_request(const char *buf, size_t len, size_t max_uri, struct http_request *req);

/*
 * Parse a complete response head. request_was_head decides the framing
 * with the status (RFC 9112 section 6.3); responses to CONNECT are never
 * parsed (the proxy opens tunnels itself). Returns 0 or -1 (the proxy
 * answers 502 and closes the origin connection). -1 also for both
 * Content-Length and Transfer-Encoding when they would decide the framing,
 * a repeated "chunked", an invalid Content-Length even on a response
 * without a body, and a Connection field naming Content-Length or
 * Transfer-Encoding. An empty reason phrase may omit its SP ("HTTP/1.1 200").
 * Transfer-Encoding in an HTTP/1.0 response means HTTP_BODY_CLOSE.
 */
int http_parse_response(const char *buf, size_t len, bool request_was_head,
			struct http_response *resp);

/* ---- single fields (http_field.c) ---- */

/* Case-insensitive header lookup; NULL when absent. */
const struct http_header *http_find_header(const struct http_header *h, size_t n,
					   const char *name);
/* Is s[0..len) a token (RFC 9110 5.6.2: one or more tchar)? */
bool http_is_token(const char *s, size_t len);
/* Does a comma-separated header value contain token (case-insensitive)? */
bool http_value_has_token(const char *value, size_t len, const char *token);

/*
 * Hop-by-hop: Connection, Proxy-Connection, Keep-Alive, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authorization, Proxy-Authenticate, and
 * every header named in a Connection header of the same message, except
 * Content-Length and Host, which are never removed by a Connection option
 * (http_parse_request/response refuse a message whose Connection names a
 * framing field). Transfer-Encoding is hop-by-hop for a proxy that
 * re-frames; we forward bodies byte for byte so the caller re-adds it when
 * it relays chunked.
 */
bool http_is_hop_by_hop(const struct http_header *h, const struct http_header *all, size_t n);
/* The same rule for every field at once (the proxy's path: one pass to find
 * the Connection fields): hop[i] = http_is_hop_by_hop(&all[i], all, n). */
void http_hop_mask(const struct http_header *all, size_t n, bool *hop);

/* ---- chunked transfer coding (RFC 9112 section 7.1; http_chunked.c) ---- */

enum chunk_result {
	CHUNK_MORE,            /* all of the input was consumed; feed more */
	CHUNK_DONE,            /* the body ended; *consumed bytes belong to it */
	CHUNK_ERROR,           /* invalid: answer 400 (request) or 502 (response) */
};

struct chunk_decoder {
	int state;
	uint64_t remaining;    /* bytes left in the current chunk's data */
	size_t line_len;       /* bytes in the current size or trailer line */
	unsigned trailers;     /* trailer fields seen */
	uint64_t data_bytes;   /* payload bytes seen so far */
};

void chunk_decoder_init(struct chunk_decoder *d);
/*
 * Validate the next n bytes of a chunked body. *consumed is set to how many
 * bytes belong to the body (all n unless CHUNK_DONE, when the rest belongs
 * to the next message). The proxy forwards the consumed bytes verbatim.
 * Rejects: sizes that are not hex or overflow 2^62, a size or extension line
 * over 4096 bytes, bare CR or LF, data not followed by CRLF, more than 64
 * trailer fields or a trailer line over 4096 bytes.
 * Whitespace (BWS) between the size and a ';' is accepted, as RFC 9112
 * 7.1.1's grammar says; whitespace anywhere else in the size is not
 * (" 5", "5 ", "5 6"). Extensions are checked for characters only (no
 * controls but HTAB), not interpreted. Trailer lines are checked as field
 * lines (token name, no whitespace before ':', no obs-fold).
 * The result does not depend on how the body is split into calls. After
 * CHUNK_DONE or CHUNK_ERROR, further calls return the same with *consumed 0.
 */
enum chunk_result chunk_decoder_feed(struct chunk_decoder *d, const char *p, size_t n,
				     size_t *consumed);

/* Bytes of chunk data that come next in the stream (0 while framing is next):
 * feeding up to that many bytes consumes them all as payload. For removing
 * the chunked framing (an HTTP/1.0 client cannot read it). */
uint64_t chunk_decoder_data_next(const struct chunk_decoder *d);

#endif
