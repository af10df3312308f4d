/*
 * htmlesc: the one rule for text put into HTML, used by the proxy's own
 * pages (proxy/pages.c, into an evbuffer) and by the reports and the web UI
 * (reports/render_html.c, into a FILE): & < > " ' become entities (safe in
 * element text and in quoted attribute values); C0 controls other than
 * tab, LF and CR, and DEL, are not text and become U+FFFD; every other
 * byte, UTF-8 included, stands for itself.
 */
#ifndef BREAKTIME_HTMLESC_H
#define BREAKTIME_HTMLESC_H

#include <stddef.h>

/* NULL when ch stands for itself; else its replacement, *len bytes. */
static inline const char *html_escape_byte(unsigned char ch, size_t *len)
{
	switch (ch) {
	case '&': *len = 5; return "&amp;";
	case '<': *len = 4; return "&lt;";
	case '>': *len = 4; return "&gt;";
	case '"': *len = 6; return "&quot;";
	case '\'': *len = 5; return "&#39;";
	default:
		if ((ch >= 0x20 && ch != 0x7f) || ch == '\t' || ch == '\n' || ch == '\r')
			return NULL;
		*len = 3;
		return "\xef\xbf\xbd"; /* U+FFFD */
	}
}

#endif
