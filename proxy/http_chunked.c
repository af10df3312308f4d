/*
 * http_chunked: the chunked transfer coding (RFC 9112 section 7.1), checked
 * as a body is relayed. The proxy forwards the bytes as they are; this
 * decoder only says where the body ends and refuses what another reader
 * could frame differently.
 *
 * DESIGN. A byte-at-a-time state machine whose whole state is in struct
 * chunk_decoder, so it gives the same answer however the body is split
 * across reads; chunk data is skipped in bulk.
 *
 * Must never: allocate, read outside [buf, buf + n), or keep state outside
 * the caller's struct chunk_decoder.
 */
#include "http_head.h"

#include "http_syntax.h"

#include <string.h>

#define CHUNK_LINE_MAX 4096          /* a size (with extensions) or trailer line */
#define CHUNK_TRAILERS_MAX 64

enum {
	CS_SIZE_FIRST = 0,   /* first hex digit of a chunk size */
	CS_SIZE,             /* more hex digits, BWS, ';' or CR */
	CS_SIZE_BWS,         /* whitespace after the size: more of it or ';' */
	CS_EXT,              /* chunk extensions, up to CR */
	CS_SIZE_LF,          /* LF ending the size line */
	CS_DATA,             /* `remaining` bytes of chunk data */
	CS_DATA_CR,          /* CRLF after the data */
	CS_DATA_LF,
	CS_TRAILER_START,    /* a trailer field line or the final CRLF */
	CS_TRAILER_NAME,
	CS_TRAILER_VALUE,
	CS_TRAILER_LF,
	CS_END_LF,           /* LF of the final CRLF */
	CS_DONE,
	CS_ERROR,
};

void chunk_decoder_init(struct chunk_decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->state = CS_SIZE_FIRST;
}

static inline unsigned hex_value(uint8_t c)
{
	if ((unsigned)(c - '0') < 10)
		return (unsigned)(c - '0');
	if ((unsigned)((c | 0x20) - 'a') < 6)
		return (unsigned)((c | 0x20) - 'a' + 10);
	return 16;
}

/*
 * Chunk size line: chunk-size [ chunk-ext ] CRLF. The size is hex digits
 * only: no sign, no "0x", no leading whitespace. RFC 9112 7.1.1 writes
 * chunk-ext as *( BWS ";" ... ), so whitespace between the size and a ';'
 * is accepted; whitespace that is not followed by ';' ("5 \r\n", "5 6") is
 * not, as it leaves the size open to two readings. Extensions are not
 * interpreted: any field-value character up to the CR is accepted, which
 * excludes NUL, CR, LF and the other controls except HTAB.
 */
enum chunk_result chunk_decoder_feed(struct chunk_decoder *d, const char *buf, size_t n,
				     size_t *consumed)
{
	int st = d->state;

	*consumed = 0;
	if (st == CS_DONE)
		return CHUNK_DONE;
	if (st == CS_ERROR)
		return CHUNK_ERROR;
	if (n == 0)
		return CHUNK_MORE;
	const char *p = buf, *end = buf + n;

	while (p < end) {
		if (st == CS_DATA) {
			size_t avail = (size_t)(end - p);
			size_t take = d->remaining < avail ? (size_t)d->remaining : avail;
			p += take;
			d->remaining -= take;
			d->data_bytes += take;
			if (d->remaining == 0)
				st = CS_DATA_CR;
			continue;
		}
		uint8_t c = (uint8_t)*p++;
		switch (st) {
		case CS_SIZE_FIRST:
		case CS_SIZE: {
			unsigned v = hex_value(c);
			if (v < 16) {
				if (d->remaining > (HTTP_SIZE_LIMIT - 1 - v) / 16)
					goto error;
				d->remaining = d->remaining * 16 + v;
				st = CS_SIZE;
			} else if (st == CS_SIZE_FIRST) {
				goto error;
			} else if (c == '\r') {
				st = CS_SIZE_LF;
				break;
			} else if (c == ';') {
				st = CS_EXT;
			} else if (c == ' ' || c == '\t') {
				st = CS_SIZE_BWS;
			} else {
				goto error;
			}
			if (++d->line_len > CHUNK_LINE_MAX)
				goto error;
			break;
		}
		case CS_SIZE_BWS:
			if (c == ';')
				st = CS_EXT;
			else if (c != ' ' && c != '\t')
				goto error;
			if (++d->line_len > CHUNK_LINE_MAX)
				goto error;
			break;
		case CS_EXT:
			if (c == '\r') {
				st = CS_SIZE_LF;
				break;
			}
			if (!IS(c, C_FIELD) || ++d->line_len > CHUNK_LINE_MAX)
				goto error;
			break;
		case CS_SIZE_LF:
			if (c != '\n')
				goto error;
			d->line_len = 0;
			st = d->remaining ? CS_DATA : CS_TRAILER_START;
			break;
		case CS_DATA_CR:
			if (c != '\r')
				goto error;
			st = CS_DATA_LF;
			break;
		case CS_DATA_LF:
			if (c != '\n')
				goto error;
			st = CS_SIZE_FIRST;
			break;
		case CS_TRAILER_START:
			if (c == '\r') {
				st = CS_END_LF;
			} else if (IS(c, C_TCHAR)) {
				/* SP/HTAB here would be obs-fold; ':' an empty name */
				if (++d->trailers > CHUNK_TRAILERS_MAX)
					goto error;
				d->line_len = 1;
				st = CS_TRAILER_NAME;
			} else {
				goto error;
			}
			break;
		case CS_TRAILER_NAME:
			if (c == ':')
				st = CS_TRAILER_VALUE;
			else if (!IS(c, C_TCHAR))
				goto error;
			if (++d->line_len > CHUNK_LINE_MAX)
				goto error;
			break;
		case CS_TRAILER_VALUE:
			if (c == '\r') {
				st = CS_TRAILER_LF;
				break;
			}
			if (!IS(c, C_FIELD) || ++d->line_len > CHUNK_LINE_MAX)
				goto error;
			break;
		case CS_TRAILER_LF:
			if (c != '\n')
				goto error;
			d->line_len = 0;
			st = CS_TRAILER_START;
			break;
		case CS_END_LF:
			if (c != '\n')
				goto error;
			d->state = CS_DONE;
			*consumed = (size_t)(p - buf);
			return CHUNK_DONE;
		default:
			goto error;
		}
	}
	d->state = st;
	*consumed = n;
	return CHUNK_MORE;
error:
	d->state = CS_ERROR;
	*consumed = (size_t)(p - buf) - 1;
	return CHUNK_ERROR;
}

uint64_t chunk_decoder_data_next(const struct chunk_decoder *d)
{
	return d->state == CS_DATA ? d->remaining : 0;
}
