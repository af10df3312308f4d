/*
 * devmap: the device map. See devmap.h.
 */
#include "devmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "username.h"

struct device {
	struct cidr net;
	char *user;
};

struct devmap {
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

struct devmap *devmap_load(const char *path)
{
	struct devmap *m = calloc(1, sizeof(*m));
	if (!m || !path)
		return m;
	FILE *f = fopen(path, "r");
	if (!f) {
		log_err("%s: cannot open the device map: %s", path, strerror(errno));
		free(m);
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
		if (!user || !*user || strlen(user) >= DEVMAP_USER_MAX ||
		    cidr_parse(s, &net) < 0) {
			log_err("%s:%u: expected ADDRESS[/BITS] USER", path, lineno);
			rc = -1;
			continue;
		}
		struct device *d = realloc(m->d, (m->n + 1) * sizeof(*d));
		if (!d || !(user = strdup(user))) {
			if (d)
				m->d = d;
			log_err("%s: out of memory", path);
			rc = -1;
			break;
		}
		m->d = d;
		m->d[m->n].net = net;
		m->d[m->n].user = username_canon(user); /* one rule for names: username.h */
		m->n++;
	}
	fclose(f);
	if (rc < 0) {
		devmap_free(m);
		return NULL;
	}
	return m;
}

void devmap_free(struct devmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->d[i].user);
	free(m->d);
	free(m);
}

const char *devmap_user(const struct devmap *m, const struct sockaddr *sa)
{
	const struct device *best = NULL;
	for (size_t i = 0; m && i < m->n; i++)
		if (cidr_match(&m->d[i].net, sa) && (!best || m->d[i].net.bits > best->net.bits))
			best = &m->d[i];
	return best ? best->user : NULL;
}

size_t devmap_count(const struct devmap *m)
{
	return m ? m->n : 0;
}
