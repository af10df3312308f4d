/*
 * devmap: the [auth] devices map — who a client address is, for shared or
 * fixed machines. One line per device, "ADDRESS[/BITS] USER", '#' starts a
 * comment; the longest matching prefix wins. breaktimed (proxy/identity.c)
 * and breaktime-sensor read it with this one reader, so a device is the
 * same person to both.
 *
 * Loaded once, then immutable (any thread may look up). Lookups are a
 * linear scan: device maps are short (shared machines), and the callers
 * look up once per connection or flow.
 */
#ifndef BREAKTIME_DEVMAP_H
#define BREAKTIME_DEVMAP_H

#include <stddef.h>
#include <sys/socket.h>

#define DEVMAP_USER_MAX 64     /* user names are shorter than this */

struct devmap;

/* path NULL: an empty map. NULL on error: every bad line is logged as
 * "file:line: ...", and a file that cannot be opened as "file: ...". */
struct devmap *devmap_load(const char *path);
void devmap_free(struct devmap *m);
/* The user of the longest prefix that contains sa, or NULL (m may be NULL);
 * in its canonical form (lower case: common/username.h), as recorded. */
const char *devmap_user(const struct devmap *m, const struct sockaddr *sa);
size_t devmap_count(const struct devmap *m);

#endif
