/*
 * hosts: hosts files parsed off the event loops. See hosts.h.
 *
 * Entries live in one array sorted by (name, order added) once building is
 * done, the names in one string arena; a lookup is a binary search, so a
 * hosts file of a hundred thousand lines costs a worker nothing per request.
 * Must never: be changed after hosts_finish(), or be read before it.
 */
#include "hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostname.h"

struct hosts_entry {
	size_t name;            /* offset in names */
	size_t seq;             /* order added: file order among equal names */
	int family;             /* AF_INET or AF_INET6 */
	uint8_t addr[16];       /* network byte order */
};

struct hosts {
	struct hosts_entry *e;
	size_t n, cap;
	char *names;            /* NUL-terminated names, one after another */
	size_t names_len, names_cap;
};

struct hosts *hosts_create(void)
{
	return calloc(1, sizeof(struct hosts));
}

void hosts_destroy(struct hosts *h)
{
	if (!h)
		return;
	free(h->e);
	free(h->names);
	free(h);
}

size_t hosts_count(const struct hosts *h)
{
	return h ? h->n : 0;
}

static int add_entry(struct hosts *h, const char *name, size_t len, int family, const uint8_t *addr)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct hosts_entry *e = realloc(h->e, cap * sizeof(*e));
		if (!e)
			return -1;
		h->e = e;
		h->cap = cap;
	}
	if (h->names_len + len + 1 > h->names_cap) {
		size_t cap = h->names_cap ? h->names_cap * 2 : 1024;
		while (cap < h->names_len + len + 1)
			cap *= 2;
		char *names = realloc(h->names, cap);
		if (!names)
			return -1;
		h->names = names;
		h->names_cap = cap;
	}
	struct hosts_entry *e = &h->e[h->n];
	e->name = h->names_len;
	e->seq = h->n;
	e->family = family;
	memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
	memcpy(h->names + h->names_len, name, len);
	h->names[h->names_len + len] = '\0';
	h->names_len += len + 1;
	h->n++;
	return 0;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* One line (len bytes, no newline). 0, or -1 when out of memory. */
static int add_line(struct hosts *h, const char *s, size_t len)
{
	const char *end = memchr(s, '#', len);
	if (!end)
		end = s + len;
	while (s < end && is_blank(*s))
		s++;
	const char *tok = s;
	while (s < end && !is_blank(*s))
		s++;
	size_t toklen = (size_t)(s - tok);
	char text[INET6_ADDRSTRLEN];
	uint8_t addr[16];
	int family;

	if (toklen == 0 || toklen >= sizeof(text))
		return 0;       /* empty, a comment, or no address fits */
	memcpy(text, tok, toklen);
	text[toklen] = '\0';
	if (inet_pton(AF_INET, text, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, text, addr) == 1)
		family = AF_INET6;
	else
		return 0;
	for (;;) {
		while (s < end && is_blank(*s))
			s++;
		if (s == end)
			return 0;
		tok = s;
		while (s < end && !is_blank(*s))
			s++;
		char name[HOSTNAME_MAX + 1];
		if (hostname_normalise(tok, (size_t)(s - tok), name) != HOST_NAME)
			continue;       /* not a name a request could ask for */
		if (add_entry(h, name, strlen(name), family, addr) < 0)
			return -1;
	}
}

int hosts_add_text(struct hosts *h, const char *text, size_t len)
{
	while (len) {
		const char *nl = memchr(text, '\n', len);
		size_t ll = nl ? (size_t)(nl - text) : len;
		if (add_line(h, text, ll) < 0)
			return -1;
		if (!nl)
			break;
		text += ll + 1;
		len -= ll + 1;
	}
	return 0;
}

int hosts_add_file(struct hosts *h, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n0 = h->n, names0 = h->names_len;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	errno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		if (len && line[len - 1] == '\n')
			len--;
		if (add_line(h, line, (size_t)len) < 0) {
			rc = -1;
			break;
		}
	}
	if (ferror(f))
		rc = -1;
	int saved = errno;
	free(line);
	fclose(f);
	if (rc < 0) {
		/* all or nothing: no half a file */
		h->n = n0;
		h->names_len = names0;
		errno = saved ? saved : ENOMEM;
	}
	return rc;
}

static int entry_cmp(const void *a, const void *b, void *arg)
{
	const struct hosts_entry *x = a, *y = b;
	const char *names = arg;
	int c = strcmp(names + x->name, names + y->name);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void hosts_finish(struct hosts *h)
{
	if (h && h->n > 1)
		qsort_r(h->e, h->n, sizeof(*h->e), entry_cmp, h->names);
}

size_t hosts_lookup(const struct hosts *h, const char *name, uint16_t port,
		    struct sockaddr_any *out, size_t max)
{
	if (!h || h->n == 0)
		return 0;
	/* the first entry whose name is not below name */
	size_t lo = 0, hi = h->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(h->names + h->e[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t found = 0;
	for (size_t i = lo; i < h->n && strcmp(h->names + h->e[i].name, name) == 0; i++, found++) {
		if (found >= max)
			continue;
		struct sockaddr_any *sa = &out[found];
		memset(sa, 0, sizeof(*sa));
		if (h->e[i].family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&sa->u.ss;
			in->sin_family = AF_INET;
			in->sin_port = htons(port);
			memcpy(&in->sin_addr, h->e[i].addr, 4);
			sa->len = sizeof(*in);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa->u.ss;
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(port);
			memcpy(&in6->sin6_addr, h->e[i].addr, 16);
			sa->len = sizeof(*in6);
		}
	}
	return found;
}
