/*
 * http_head: strict parsing of HTTP/1.x request and response heads
 * (RFC 9110, RFC 9112) for the forward proxy: finding the end of a head,
 * the request and status lines, the field section and the framing verdict.
 * The rules for single fields (tokens, lookup, hop-by-hop) are
 * http_field.c's, the chunked body decoder is http_chunked.c's; all three
 * share http_syntax.h and are declared in http_head.h.
 *
 * DESIGN. A head is parsed in one pass with no per-byte function calls.
 * Each element is scanned until the first byte that may not be in it, and
 * that byte must be the expected delimiter: a field name runs to ':', a
 * value or reason phrase to CRLF, a request-target to SP. So finding the end
 * and validating the characters are the same loop, and any stray CR, LF or
 * control fails where it stands. Values and targets (the long parts) are
 * scanned a 64-bit word at a time; names through a class table, eight bytes
 * per branch. Field names that matter for framing or connection handling
 * are recognised on the way; the verdict (which status, which framing) is
 * then decided from the gathered facts, in one place per message kind.
 * (http_head_scan() is the memchr() loop: it runs on every read while a
 * head is incomplete, over the new bytes only.)
 *
 * Where RFC 9112 lets a recipient be lenient we are strict, because a proxy
 * that reads a message differently from the origin behind it is a request
 * smuggling vector: only CRLF line endings, no obs-fold, one Content-Length
 * of digits only, never Content-Length with Transfer-Encoding, and
 * Transfer-Encoding only as a single, final "chunked" in requests.
 *
 * Must never: allocate, read outside [buf, buf + len), keep state outside
 * the caller's structs, or accept a head whose framing another conforming
 * implementation could read differently.
 */
#include "http_head.h"

#include "http_syntax.h"

#include <string.h>

/*
 * Word-at-a-time tests (eight bytes per step): each sets the high bit of
 * the byte lanes of x that may have the property. They never miss one;
 * skip_class() says why a false alarm cannot mislead it.
 */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load8(const char *p)
{
	uint64_t x;
	memcpy(&x, p, sizeof(x));
	return x;
}

static inline uint64_t any_below(uint64_t x, uint8_t n) /* n <= 128 */
{
	return (x - ONES * n) & ~x & HIGHS;
}

static inline uint64_t any_equal(uint64_t x, uint8_t c)
{
	uint64_t y = x ^ (ONES * c);
	return (y - ONES) & ~y & HIGHS;
}

/* Words that may hold a byte outside C_FIELD (any control, DEL). */
static inline uint64_t field_suspect(uint64_t x)
{
	return any_below(x, 0x20) | any_equal(x, 0x7f);
}

/* Words that may hold a byte outside C_TARGET. */
static inline uint64_t target_suspect(uint64_t x)
{
	return any_below(x, 0x21) | any_equal(x, 0x7f) | (x & HIGHS) | any_equal(x, '#');
}

/*
 * The first byte at or after p that is not of class k (end when none).
 * Whole words are skipped while `suspect` clears them. In a flagged word
 * the lowest flagged byte is always a real one (a false alarm only ever
 * sits above a real one, where the borrow went), so on little-endian
 * machines it is found with one count of trailing zeros; a real suspect
 * that is still of class k (HTAB in a value) is stepped over.
 */
static inline const char *skip_class(const char *p, const char *end, uint8_t k,
				     uint64_t (*suspect)(uint64_t))
{
	while (end - p >= 8) {
		uint64_t m = suspect(load8(p));
		if (!m) {
			p += 8;
			continue;
		}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		p += __builtin_ctzll(m) >> 3;
		if (!IS(*p, k))
			return p;
		p++;
#else
		for (const char *w = p + 8; p < w; p++)
			if (!IS(*p, k))
				return p;
#endif
	}
	while (p < end && IS(*p, k))
		p++;
	return p;
}

/* The first byte at or after p that is not a token character. Names are
 * short: eight table lookups per branch rather than a word test. */
static inline const char *skip_tchars(const char *p, const char *end)
{
	while (end - p >= 8 &&
	       (cls[(uint8_t)p[0]] & cls[(uint8_t)p[1]] & cls[(uint8_t)p[2]] &
		cls[(uint8_t)p[3]] & cls[(uint8_t)p[4]] & cls[(uint8_t)p[5]] &
		cls[(uint8_t)p[6]] & cls[(uint8_t)p[7]] & C_TCHAR))
		p += 8;
	while (p < end && IS(*p, C_TCHAR))
		p++;
	return p;
}

/*
 * A field value (or reason phrase) from p to its CRLF: returns the CR, or
 * NULL when a control other than HTAB, DEL, a bare CR or LF comes first or
 * the line does not end. One pass finds the end and validates.
 */
static inline const char *field_line_end(const char *p, const char *end)
{
	const char *q = skip_class(p, end, C_FIELD, field_suspect);

	if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
		return NULL;
	return q;
}

/* ---- field section ---- */

/* What one pass over the field lines learns about framing and connection. */
struct head_facts {
	unsigned n_host, n_cl, n_te;
	const struct http_header *host;
	uint64_t cl;
	bool cl_bad;            /* a Content-Length that is not 1*DIGIT below the limit */
	unsigned te_chunked;    /* "chunked" codings over all Transfer-Encoding fields */
	bool te_last_chunked;   /* the final coding is chunked */
	bool te_unknown;        /* a coding other than chunked */
	bool te_bad;            /* list syntax error, or chunked with parameters */
	bool conn_close, conn_keep_alive, conn_upgrade;
	bool conn_framing;      /* a Connection option names Content-Length or Transfer-Encoding */
	bool expect_continue;
	bool upgrade_websocket;
};

static void facts_content_length(struct head_facts *f, const char *v, size_t n)
{
	uint64_t cl = 0;

	f->n_cl++;
	if (n == 0) {
		f->cl_bad = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(uint8_t)v[i] - '0';
		if (d > 9 || cl > (HTTP_SIZE_LIMIT - 1 - d) / 10) {
			f->cl_bad = true;
			return;
		}
		cl = cl * 10 + d;
	}
	f->cl = cl;
}

/*
 * transfer-coding = token *( OWS ";" OWS transfer-parameter ). Codings from
 * every Transfer-Encoding field line accumulate in order. Empty list
 * elements are an error here (RFC 9110 5.6.1 tolerates them, but nothing
 * legitimate sends them and they are a classic parser-disagreement probe).
 */
static void facts_transfer_encoding(struct head_facts *f, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *e;
	size_t el;

	f->n_te++;
	if (n == 0) {
		f->te_bad = true;
		return;
	}
	while (list_next(&p, end, &e, &el)) {
		size_t tl = 0;
		while (tl < el && IS(e[tl], C_TCHAR))
			tl++;
		if (tl == 0) {
			f->te_bad = true;
			return;
		}
		bool chunked = tl == 7 && ieq(e, "chunked", 7);
		if (tl < el) {
			/* parameters: only after OWS ";" and never on chunked */
			size_t i = tl;
			while (i < el && is_ows(e[i]))
				i++;
			if (chunked || i == el || e[i] != ';') {
				f->te_bad = true;
				return;
			}
		}
		if (chunked)
			f->te_chunked++;
		else
			f->te_unknown = true;
		f->te_last_chunked = chunked;
	}
}

static void facts_connection(struct head_facts *f, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *e;
	size_t el;

	if (n == 0)
		return;
	while (list_next(&p, end, &e, &el)) {
		if (NAME_IS(e, el, "close"))
			f->conn_close = true;
		else if (NAME_IS(e, el, "keep-alive"))
			f->conn_keep_alive = true;
		else if (NAME_IS(e, el, "upgrade"))
			f->conn_upgrade = true;
		else if (NAME_IS(e, el, "content-length") || NAME_IS(e, el, "transfer-encoding"))
			f->conn_framing = true;
	}
}

/* Note what a field means for framing; dispatch on the name's length first. */
static void facts_field(struct head_facts *f, const struct http_header *h)
{
	const char *name = h->name;

	switch (h->name_len) {
	case 4:
		if (NAME_IS(name, 4, "host")) {
			f->n_host++;
			f->host = h;
		}
		break;
	case 6:
		if (NAME_IS(name, 6, "expect") && list_has(h->value, h->value_len, "100-continue", 12))
			f->expect_continue = true;
		break;
	case 7:
		if (NAME_IS(name, 7, "upgrade") && list_has(h->value, h->value_len, "websocket", 9))
			f->upgrade_websocket = true;
		break;
	case 10:
		if (NAME_IS(name, 10, "connection"))
			facts_connection(f, h->value, h->value_len);
		break;
	case 14:
		if (NAME_IS(name, 14, "content-length"))
			facts_content_length(f, h->value, h->value_len);
		break;
	case 17:
		if (NAME_IS(name, 17, "transfer-encoding"))
			facts_transfer_encoding(f, h->value, h->value_len);
		break;
	}
}

/*
 * Parse field lines from p up to and including the empty line, which must
 * end exactly at end. Returns 0, 400 or 431.
 */
static int parse_fields(const char *p, const char *end, struct http_header *hdr,
			size_t *n_hdr, struct head_facts *f)
{
	size_t n = 0;

	for (;;) {
		if (p >= end)
			return 400;
		if (*p == '\r') {
			/* the empty line; nothing may follow it */
			if (end - p != 2 || p[1] != '\n')
				return 400;
			break;
		}
		/* field-name ":" — a line starting with SP or HTAB (obs-fold, or
		 * whitespace after the start line), whitespace before the colon,
		 * a bare CR or LF in the name: all fail here */
		const char *name = p;
		p = skip_tchars(p, end);
		if (p == name || p == end || *p != ':')
			return 400;
		size_t name_len = (size_t)(p - name);
		const char *v = p + 1;
		const char *cr = field_line_end(v, end);
		if (!cr)
			return 400;
		const char *ve = cr;
		while (v < ve && is_ows(*v))
			v++;
		while (ve > v && is_ows(ve[-1]))
			ve--;
		if (n == HTTP_MAX_HEADERS)
			return 431;
		hdr[n].name = name;
		hdr[n].name_len = name_len;
		hdr[n].value = v;
		hdr[n].value_len = (size_t)(ve - v);
		facts_field(f, &hdr[n]);
		n++;
		p = cr + 2;
	}
	*n_hdr = n;
	return 0;
}

/* "HTTP/" DIGIT "." DIGIT at v (8 bytes): 0, 400 (not a version) or 505. */
static int parse_version(const char *v, int *minor)
{
	if (memcmp(v, "HTTP/", 5) != 0 || (unsigned)(v[5] - '0') > 9 || v[6] != '.' ||
	    (unsigned)(v[7] - '0') > 9)
		return 400;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return 505;
	*minor = v[7] - '0';
	return 0;
}

size_t http_head_scan(struct http_head_scan *s, const char *buf, size_t len)
{
	if (len < s->scanned || len < s->start) {
		s->start = s->scanned = 0;
		s->bare_lf = false;
	}
	/*
	 * RFC 9112 2.2: empty lines before a request line are ignored. The skip
	 * resumes where it stopped: once a byte after them is not part of a CRLF
	 * pair, start no longer moves, so an LF already looked at was judged
	 * against the final start.
	 */
	size_t start = s->start;
	while (len - start >= 2 && buf[start] == '\r' && buf[start + 1] == '\n')
		start += 2;
	s->start = start;
	/*
	 * The end of a head is found at its final LF by looking back three
	 * bytes, so a CRLFCRLF split across reads needs no rescan: the search
	 * resumes at the first byte not yet looked at.
	 */
	const char *p = buf + (s->scanned > start ? s->scanned : start), *end = buf + len;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf)
			break;
		if (lf - (buf + start) >= 3 && lf[-1] == '\r' && lf[-2] == '\n' && lf[-3] == '\r')
			return (size_t)(lf - buf) + 1;
		if (lf == buf || lf[-1] != '\r')
			s->bare_lf = true;
		p = lf + 1;
	}
	s->scanned = len;
	return 0;
}

size_t http_head_length(const char *buf, size_t len)
{
	struct http_head_scan s = { 0 };

	return http_head_scan(&s, buf, len);
}

/* ---- requests ---- */

static void request_reset(struct http_request *req)
{
	req->method = NULL;
	req->method_len = 0;
	req->is_connect = req->is_head = false;
	req->target = NULL;
	req->target_len = 0;
	req->form = HTTP_FORM_ORIGIN;
	req->version_minor = 0;
	req->host[0] = '\0';
	req->host_kind = HOST_INVALID;
	req->port = 0;
	req->path = NULL;
	req->path_len = 0;
	req->options_asterisk = false;
	req->n_headers = 0;
	req->body = HTTP_BODY_NONE;
	req->content_length = 0;
	req->keep_alive = false;
	req->expect_continue = false;
	req->upgrade_websocket = false;
}

/* host[:port] into req->host/host_kind/port; userinfo is refused. */
static int request_authority(struct http_request *req, const char *a, size_t n,
			     uint16_t default_port)
{
	const char *h;
	size_t hl;

	if (memchr(a, '@', n))
		return -1;
	if (hostname_split_authority(a, n, &h, &hl, default_port, &req->port) < 0 ||
	    req->port == 0)
		return -1;
	req->host_kind = hostname_normalise(a, n, req->host);
	return req->host_kind == HOST_INVALID ? -1 : 0;
}

/* "http://authority[/path][?query]", scheme case-insensitive. */
static int request_absolute(struct http_request *req, const char *t, size_t n)
{
	static const char slash[] = "/";

	if (n < 7 || !ieq(t, "http://", 7))
		return -1;
	const char *a = t + 7, *end = t + n, *q = a;
	while (q < end && *q != '/' && *q != '?')
		q++;
	if (q == a || request_authority(req, a, (size_t)(q - a), 80) < 0)
		return -1;
	if (q == end) {
		req->path = slash;
		req->path_len = 1;
		/* "OPTIONS http://h" asks about the server, not a resource: the
		 * last proxy sends "OPTIONS *" (RFC 9112 3.2.4) */
		req->options_asterisk = req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0;
	} else if (*q == '?') {
		/* "http://h?q" would need "/?q", which is not in the buffer;
		 * clients (curl, browsers) always send the slash */
		return -1;
	} else {
		req->path = q;
		req->path_len = (size_t)(end - q);
	}
	return 0;
}

int http_parse_request(const char *buf, size_t len, size_t max_uri, struct http_request *req)
{
	struct head_facts f = {0};
	int rc;

	request_reset(req);
	if (len == 0)
		return 400;
	const char *p = buf, *end = buf + len;
	while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
		p += 2;

	/* method SP request-target SP HTTP-version CRLF: single SPs only; the
	 * target stops at the first byte that may not be in it, which must be
	 * the SP (so a CR, LF, control or '#' in it fails here) */
	const char *m = p;
	p = skip_tchars(p, end);
	if (p == m || p == end || *p != ' ')
		return 400;
	req->method = m;
	req->method_len = (size_t)(p - m);
	req->is_connect = req->method_len == 7 && memcmp(m, "CONNECT", 7) == 0;
	req->is_head = req->method_len == 4 && memcmp(m, "HEAD", 4) == 0;
	const char *t = ++p;
	p = skip_class(t, end, C_TARGET, target_suspect);
	if (p == t || p == end || *p != ' ')
		return 400;
	size_t tlen = (size_t)(p - t);
	p++;
	if (end - p < 10 || p[8] != '\r' || p[9] != '\n')
		return 400;
	if ((rc = parse_version(p, &req->version_minor)) != 0)
		return rc;
	if (max_uri && tlen > max_uri)
		return 414;
	req->target = t;
	req->target_len = tlen;

	if (req->is_connect) {
		req->form = HTTP_FORM_AUTHORITY;
		if (request_authority(req, t, tlen, 0) < 0)
			return 400;
	} else if (t[0] == '/') {
		req->form = HTTP_FORM_ORIGIN;
		req->path = t;
		req->path_len = tlen;
	} else if (tlen == 1 && t[0] == '*') {
		req->form = HTTP_FORM_ASTERISK;
		if (req->method_len != 7 || memcmp(m, "OPTIONS", 7) != 0)
			return 400;
	} else {
		req->form = HTTP_FORM_ABSOLUTE;
		if (request_absolute(req, t, tlen) < 0)
			return 400;
	}

	if ((rc = parse_fields(p + 10, end, req->headers, &req->n_headers, &f)) != 0)
		return rc;

	if (f.n_host > 1)
		return 400;
	if (req->form == HTTP_FORM_ORIGIN || req->form == HTTP_FORM_ASTERISK) {
		/* the request is for the proxy itself: Host names it */
		if (f.n_host == 0) {
			if (req->version_minor == 1)
				return 400;
		} else if (request_authority(req, f.host->value, f.host->value_len, 80) < 0) {
			return 400;
		}
	}
	/* (absolute-form and CONNECT: the target names the host and a Host
	 * field is ignored, RFC 9112 3.2.2) */

	if (f.n_cl > 1 || f.cl_bad)
		return 400;
	/* the sender calls its framing field hop-by-hop: a hop that obeys would
	 * strip it while the body still follows, so the body would be read as
	 * the next request. Nothing legitimate sends this. */
	if (f.conn_framing)
		return 400;
	if (f.n_te) {
		if (f.n_cl || req->version_minor == 0 || f.te_bad || f.te_chunked > 1)
			return 400;
		if (f.te_unknown)
			return 501;
		req->body = HTTP_BODY_CHUNKED;   /* exactly one coding: chunked */
	} else if (f.n_cl) {
		req->body = HTTP_BODY_LENGTH;
		req->content_length = f.cl;
	}
	/* CONNECT has no content (RFC 9110 9.3.6): any claim of one is a probe */
	if (req->is_connect && (req->body == HTTP_BODY_CHUNKED || req->content_length))
		return 400;

	if (req->version_minor == 1)
		req->keep_alive = !f.conn_close;
	else
		req->keep_alive = f.conn_keep_alive && !f.conn_close;
	req->expect_continue = f.expect_continue;
	req->upgrade_websocket = f.conn_upgrade && f.upgrade_websocket &&
		req->version_minor == 1 && req->method_len == 3 && memcmp(m, "GET", 3) == 0;
	return 0;
}

/* ---- responses ---- */

int http_parse_response(const char *buf, size_t len, bool request_was_head,
			struct http_response *resp)
{
	struct head_facts f = {0};

	memset(resp, 0, offsetof(struct http_response, headers));
	resp->n_headers = 0;
	resp->body = HTTP_BODY_NONE;
	resp->content_length = 0;
	resp->keep_alive = false;
	resp->upgrade = false;
	if (len == 0)
		return -1;
	const char *end = buf + len;

	/* HTTP-version SP 3DIGIT SP [reason]: the SP before an empty reason is
	 * often missing in the wild and is harmless, so we accept its absence */
	if (len < 14 || parse_version(buf, &resp->version_minor) != 0 || buf[8] != ' ')
		return -1;
	unsigned d0 = (unsigned)(buf[9] - '0'), d1 = (unsigned)(buf[10] - '0'),
		 d2 = (unsigned)(buf[11] - '0');
	if (d0 < 1 || d0 > 9 || d1 > 9 || d2 > 9)
		return -1;
	resp->status = (int)(d0 * 100 + d1 * 10 + d2);
	const char *cr;
	if (buf[12] == ' ') {
		resp->reason = buf + 13;
		if (!(cr = field_line_end(resp->reason, end)))
			return -1;
		resp->reason_len = (size_t)(cr - resp->reason);
	} else if (buf[12] == '\r' && buf[13] == '\n') {
		resp->reason = cr = buf + 12;
	} else {
		return -1;
	}

	if (parse_fields(cr + 2, end, resp->headers, &resp->n_headers, &f) != 0)
		return -1;

	/* RFC 9112 6.3, in its order */
	if (f.n_cl > 1 || f.cl_bad)
		return -1;
	/* a framing field declared hop-by-hop: see http_parse_request */
	if (f.conn_framing)
		return -1;
	int status = resp->status;
	if (request_was_head || status < 200 || status == 204 || status == 304) {
		resp->body = HTTP_BODY_NONE;
	} else if (f.n_te) {
		/* both framings at once: nginx and RFC 9112 6.3 treat it as an
		 * error, and forwarding it could split the response downstream */
		if (f.n_cl || f.te_bad || f.te_chunked > 1)
			return -1;
		/* HTTP/1.0 with Transfer-Encoding: faulty framing, read to close */
		if (f.te_last_chunked && resp->version_minor == 1)
			resp->body = HTTP_BODY_CHUNKED;
		else
			resp->body = HTTP_BODY_CLOSE;
	} else if (f.n_cl) {
		resp->body = HTTP_BODY_LENGTH;
		resp->content_length = f.cl;
	} else {
		resp->body = HTTP_BODY_CLOSE;
	}

	if (resp->version_minor == 1)
		resp->keep_alive = !f.conn_close;
	else
		resp->keep_alive = f.conn_keep_alive && !f.conn_close;
	if (resp->body == HTTP_BODY_CLOSE || status == 101)
		resp->keep_alive = false;
	resp->upgrade = status == 101;
	return 0;
}
