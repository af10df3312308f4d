/*
 * acks.h: the warn acknowledgements (acks.c): whether a person chose
 * "Continue" for a platform today. The functions keep the enforce_warn_
 * names the connection code and main.c call them by. Any thread.
 */
#ifndef BREAKTIME_ACKS_H
#define BREAKTIME_ACKS_H

#include <stdbool.h>
#include <stdint.h>

struct conn;

/* Has c's person (enforce_person_key) acknowledged platform's warning in
 * the site's local day of now? */
bool enforce_warn_acked(struct conn *c, const char *platform);
/* Record that c's person did, for the local day of now (the Continue page). */
void enforce_warn_ack(struct conn *c, const char *platform);
/* At start: a "continue" chosen earlier today (from the store). day: local days since 1970. */
void enforce_warn_restore(const char *person, const char *platform, int64_t day);

#endif
