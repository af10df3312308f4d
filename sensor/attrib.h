/*
 * attrib: who a client address is — the [auth] devices map (ADDRESS[/BITS]
 * USER per line, '#' comments; the longest matching prefix wins), read the
 * way breaktimed reads it, so a shared device is the same person to both.
 *
 * Loaded once at start, then immutable. Lookups are a linear scan: device
 * maps are short (shared machines), and the sensor looks up once per flow.
 * TODO: share the reader with proxy/identity.c through common/.
 */
#ifndef BREAKTIME_SENSOR_ATTRIB_H
#define BREAKTIME_SENSOR_ATTRIB_H

#include <sys/socket.h>

struct attrib;

/* path NULL: an empty map. NULL on error (each bad line logged as file:line). */
struct attrib *attrib_load(const char *path);
void attrib_destroy(struct attrib *a);
/* The user for this address, or NULL. */
const char *attrib_user(const struct attrib *a, const struct sockaddr *sa);

#endif
