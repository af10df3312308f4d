/*
 * store: where records go. The proxy's workers call store_submit() from
 * their event loops; it copies the record and returns at once, never
 * blocking. (The SQLite writer thread, its bounded queue and the optional
 * Squid access.log are built behind this interface; until then records are
 * printed at debug level when breaktimed runs with -v.)
 */
#ifndef BREAKTIME_STORE_H
#define BREAKTIME_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

struct conf;
struct store;

struct store_stats {
	uint64_t submitted;
	uint64_t dropped;      /* queue full: counted, logged, never silent */
	uint64_t written;
};

/* Before the loops start. NULL on error (logged). */
struct store *store_open(const struct conf *c, bool verbose);
/* Any thread; never blocks; copies *r. */
void store_submit(struct store *s, const struct record *r);
void store_stats(struct store *s, struct store_stats *out);
/* Reopen log files (SIGHUP/SIGUSR1 for logrotate). Any thread. */
void store_reopen(struct store *s);
/* Drain what is queued and close. After every worker has stopped. */
void store_close(struct store *s);

/* One human-readable line for a record (for -v and tests). */
int record_format(const struct record *r, char *buf, unsigned len);

#endif
