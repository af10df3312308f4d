/*
 * catalog: host name -> platform (facebook, youtube, ...) and category
 * (social, video, messaging, ...), by domain suffix on label boundaries.
 *
 * Built once while the configuration loads (the shipped platforms.list plus
 * the [catalog] lists), then immutable: catalog_lookup() is safe on any
 * thread without locks, O(number of labels) and allocates nothing.
 */
#ifndef BREAKTIME_CATALOG_H
#define BREAKTIME_CATALOG_H

#include <stddef.h>

#include "conf.h"

struct catalog;

struct catalog_entry {
	const char *platform;   /* e.g. "facebook" */
	const char *category;   /* e.g. "social" */
	const char *domain;     /* the suffix that matched, e.g. "fbcdn.net" */
};

struct catalog *catalog_create(void);
void catalog_destroy(struct catalog *cat);

/* Add one suffix (already normalised or not: it is normalised here). 0 or -1. */
int catalog_add(struct catalog *cat, const char *domain, const char *platform,
		const char *category);

/*
 * The shipped platform list format (config/platforms.list): see that file's
 * header. Errors are added as "file:line: ..." to errs; returns 0 or -1.
 */
int catalog_load_platforms(struct catalog *cat, const char *path, struct conf_errors *errs);

/*
 * A domain list in the UT1/Shalla one-domain-per-line format or in hosts-file
 * format ("0.0.0.0 name [name...]"), all added to platform/category.
 */
int catalog_load_list(struct catalog *cat, const char *path, const char *platform,
		      const char *category, struct conf_errors *errs);

/* host must be normalised (hostname_normalise); NULL when not listed. IP literals never match. */
const struct catalog_entry *catalog_lookup(const struct catalog *cat, const char *host);

/* The registrable domain (eTLD+1, via libpsl) of a normalised host, for
 * reporting unclassified traffic. Returns out, or NULL when there is none. */
const char *catalog_registrable(const char *host, char *out, size_t outlen);

size_t catalog_size(const struct catalog *cat);

#endif
