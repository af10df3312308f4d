/*
 * hosts: the names breaktimed answers without asking a DNS server — the
 * system hosts file (when the resolver is the system's) and hosts_file —
 * read and parsed once per configuration generation by the main thread, then
 * only looked up by the workers.
 *
 * Why not libevent's own hosts table: evdns_base_load_hosts() can only read
 * a file, into one evdns_base, on the thread that owns that base, so every
 * reload made each worker's event loop stop to read the file. Here the file
 * is read once, off the loops, and the workers share the parsed table.
 *
 * The grammar is the one glibc and libevent read: one entry a line, an IPv4
 * or IPv6 address (no port, no brackets) then one or more names, separated
 * by blanks; `#` starts a comment. A line with an address that does not
 * parse is skipped. Names are kept in the normal form of hostname.h (lower
 * case, no trailing dot), so a lookup compares like with like. A name with
 * several lines answers all their addresses in file order, the system file
 * first (as libevent did).
 *
 * Lifetime and threads: hosts_create() and hosts_add_*() build a table
 * (main thread; hosts_add_file does file I/O); after hosts_finish() it is
 * immutable and any thread may call hosts_lookup() without locks until
 * hosts_destroy(). The generation (proxy.h) owns it.
 */
#ifndef BREAKTIME_HOSTS_H
#define BREAKTIME_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct hosts;

struct hosts *hosts_create(void);
/* Add a file's entries. -1 when it cannot be read (errno set; nothing added). */
int hosts_add_file(struct hosts *h, const char *path);
/* Add entries from text (len bytes, need not end in a newline). -1: out of memory. */
int hosts_add_text(struct hosts *h, const char *text, size_t len);
/* Done adding: sort for lookups. */
void hosts_finish(struct hosts *h);
void hosts_destroy(struct hosts *h);

/* Entries (name, address pairs) in the table. */
size_t hosts_count(const struct hosts *h);
/*
 * The addresses of name (normal form), in file order, each with port set,
 * into out[0..max). Returns how many the table has for the name (more than
 * max when out was too small; 0: not in the table, ask DNS). h may be NULL.
 */
size_t hosts_lookup(const struct hosts *h, const char *name, uint16_t port,
		    struct sockaddr_any *out, size_t max);

#endif
