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
 * Details of catalog_add and the loaders:
 * - platform and category names are 1-32 of a-z, 0-9, '_' and '-';
 * - a domain may be written with a leading "." or "*." (it means the same:
 *   a suffix always covers its subdomains);
 * - refused: invalid names, IP literals, single-label names ("com") and
 *   ICANN public suffixes ("co.uk"), which would match whole swathes of
 *   unrelated sites;
 * - adding a domain that is listed already moves it to the new platform
 *   (later wins), except in catalog_load_platforms, where listing one
 *   domain for two platforms is an error.
 */

/*
 * The shipped platform list format (config/platforms.list): see that file's
 * header. Errors are added as "file:line: ..." to errs; returns 0 or -1.
 */
int catalog_load_platforms(struct catalog *cat, const char *path, struct conf_errors *errs);

/*
 * A domain list in the UT1/Shalla one-domain-per-line format or in hosts-file
 * format ("0.0.0.0 name [name...]"), all added to platform/category.
 * '#' starts a comment; blank lines are ignored. Bare IP addresses (UT1
 * lists carry some) are skipped, as are the names a hosts file gives the
 * machine itself: single-label names (localhost, broadcasthost,
 * ip6-loopback, ...) and names starting with "localhost"
 * (localhost.localdomain). Any other line that is not a valid domain is an
 * error; the first 20 errors of a file are listed with file:line.
 */
int catalog_load_list(struct catalog *cat, const char *path, const char *platform,
		      const char *category, struct conf_errors *errs);

/* host must be normalised (hostname_normalise); NULL when not listed. IP literals never match. */
const struct catalog_entry *catalog_lookup(const struct catalog *cat, const char *host);

/* The registrable domain (eTLD+1, via libpsl) of a normalised host, for
 * reporting unclassified traffic. Returns out, or NULL when there is none
 * (IP literals, public suffixes themselves, single labels) or it does not
 * fit in outlen. Thread-safe; allocates nothing per call. */
const char *catalog_registrable(const char *host, char *out, size_t outlen);

/* How many domains are listed. */
size_t catalog_size(const struct catalog *cat);

/*
 * Call fn once for every listed domain (e->domain normalised, without a
 * leading dot), in no particular order, until fn returns non-zero; returns
 * that value, or 0 when every domain was visited. fn must not change the
 * catalog. Safe on any thread once the catalog is built.
 */
int catalog_foreach_domain(const struct catalog *cat,
			   int (*fn)(const struct catalog_entry *e, void *ctx), void *ctx);

/*
 * The interned platform (category) name equal to name, or NULL when the
 * catalog has none: for validating configuration that names platforms, and
 * for comparing against catalog_entry fields by pointer.
 */
const char *catalog_platform(const struct catalog *cat, const char *name);
const char *catalog_category(const struct catalog *cat, const char *name);

/* The platform (category) names in the order they were first seen: fills
 * at most max of names, returns how many there are. */
size_t catalog_platforms(const struct catalog *cat, const char **names, size_t max);
size_t catalog_categories(const struct catalog *cat, const char **names, size_t max);

#endif
