/*
 * neigh.h: the link-layer (MAC) addresses of clients, from the kernel's
 * neighbour table (neigh.c), for intercept mode's bindings (bindings.c).
 */
#ifndef BREAKTIME_NEIGH_H
#define BREAKTIME_NEIGH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* How long one netlink answer is awaited. */
#define NEIGH_ANSWER_MS 1000
/* How long a cached answer is given before it is asked again (meanwhile it
 * is still given: a device's MAC address does not change by the second). */
#define NEIGH_TTL_MS 10000

/* ---- the question itself: blocking, for the neighbour thread and tests ---- */

/* A NETLINK_ROUTE socket for neigh_query() (close-on-exec, answers awaited
 * at most NEIGH_ANSWER_MS). -1 on error, with errno. */
int neigh_socket(void);
/*
 * The link-layer address the kernel's neighbour table has for the host of
 * sa (IPv4, IPv6 or IPv4-mapped IPv6; the port is ignored; an IPv6
 * link-local address by its scope id): 1 with mac filled; 0 when it has
 * none: the host is not on a directly connected network (a routed client,
 * this host itself), or its entry is missing, incomplete or failed; -1 on
 * an error (errno; ETIMEDOUT when the kernel did not answer in time). Two
 * netlink round trips (the route to the host, then its neighbour entry):
 * the kernel may hold them behind its routing lock, so never on an event
 * loop.
 */
int neigh_query(int fd, const struct sockaddr *sa, uint8_t mac[6]);

/* ---- the cache and its thread: neigh_get() from any thread ---- */

enum neigh_answer {
	NEIGH_MAC,       /* mac filled */
	NEIGH_NONE,      /* the host has no link-layer address in the table */
	NEIGH_WAIT,      /* asked, not answered yet: the hooks say when */
	NEIGH_UNKNOWN,   /* no answer to be had: not started, or too many questions waiting */
};

struct neigh_hooks {
	/* On the neighbour thread after each answer (mac NULL: none, or the
	 * question failed). Must not block; may be NULL. */
	void (*answer)(const struct sockaddr *sa, const uint8_t *mac);
	/* On the neighbour thread once everything asked so far is answered. */
	void (*drained)(void);
};

/* Start the thread (main thread, once; ttl_ms 0: NEIGH_TTL_MS). 0 or -1. */
int neigh_start(const struct neigh_hooks *hooks, unsigned ttl_ms);
/* Stop it and forget every answer (main thread, after the workers). */
void neigh_stop(void);
/*
 * What the table says about sa, from the cache: never blocks, never does
 * I/O. An answer older than the TTL is still given, and asked again in the
 * background. Without an answer yet the question is queued (once) and
 * NEIGH_WAIT returned.
 */
enum neigh_answer neigh_get(const struct sockaddr *sa, uint8_t mac[6]);

#endif
