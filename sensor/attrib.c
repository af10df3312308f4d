/*
 * attrib: the device map. See attrib.h.
 */
#include "attrib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"

struct device {
	struct cidr net;
	char *user;
};

struct attrib {
	struct device *d;
	size_t n;
};

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

struct attrib *attrib_load(const char *path)
{
	struct attrib *a = calloc(1, sizeof(*a));
	if (!a || !path)
		return a;
	FILE *f = fopen(path, "r");
	if (!f) {
		log_err("%s: cannot open the device map: %s", path, strerror(errno));
		free(a);
		return NULL;
	}
	char line[1024];
	unsigned lineno = 0;
	int rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (*s == '\0')
			continue;
		char *sp = s;
		while (*sp && *sp != ' ' && *sp != '\t')
			sp++;
		struct cidr net;
		char *user = NULL;
		if (*sp) {
			*sp++ = '\0';
			user = trim(sp);
		}
		if (!user || !*user || strlen(user) >= 64 || cidr_parse(s, &net) < 0) {
			log_err("%s:%u: expected ADDRESS[/BITS] USER", path, lineno);
			rc = -1;
			continue;
		}
		struct device *d = realloc(a->d, (a->n + 1) * sizeof(*d));
		if (!d || !(user = strdup(user))) {
			if (d)
				a->d = d;
			rc = -1;
			break;
		}
		a->d = d;
		a->d[a->n].net = net;
		a->d[a->n].user = user;
		a->n++;
	}
	fclose(f);
	if (rc < 0) {
		attrib_destroy(a);
		return NULL;
	}
	return a;
}

void attrib_destroy(struct attrib *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->d[i].user);
	free(a->d);
	free(a);
}

const char *attrib_user(const struct attrib *a, const struct sockaddr *sa)
{
	const struct device *best = NULL;
	for (size_t i = 0; a && i < a->n; i++)
		if (cidr_match(&a->d[i].net, sa) && (!best || a->d[i].net.bits > best->net.bits))
			best = &a->d[i];
	return best ? best->user : NULL;
}
