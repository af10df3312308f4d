/*
 * signins: intercept mode's bindings as breaktimed records them in the
 * store's bindings table: from a sign-in until its expiry (the end of the
 * site-local day by default), a client address, and a device's MAC address
 * from the gateway's neighbour table, stand for the person who signed in.
 * The sensor attributes a device's direct traffic (QUIC, other ports, what
 * never passes the proxy) by them: by the flow's client address, else by
 * the source MAC address of the client's frames (the same phone at an IPv6
 * privacy address the proxy never saw).
 *
 * DESIGN. As sessions.c: an in-memory copy, rebuilt at most every
 * SIGNINS_REFRESH_S of capture time from the rows that overlap
 * [now - SIGNINS_BACK_S, now + SIGNINS_REFRESH_S]; lookups never touch
 * SQLite. A row counts for a packet at t when since <= t < until. Rows of
 * one address never overlap (breaktimed's writer ends the older one when a
 * newer begins, and when another device takes the address over); of the
 * rows with one MAC address, the one begun last wins. Memory: at most
 * SIGNINS_MAX rows.
 *
 * The MAC address only says something on the link the gateway shares with
 * the devices: a sensor that captures behind a router sees the router's
 * source address, which is nobody's binding, and attributes by address.
 *
 * Single-threaded (the sensor's loop). Its own read-only connection to the
 * store (WAL: never blocks the writer).
 */
#ifndef BREAKTIME_SENSOR_SIGNINS_H
#define BREAKTIME_SENSOR_SIGNINS_H

#include <stdint.h>

#define SIGNINS_REFRESH_S 30
#define SIGNINS_BACK_S 600       /* a flow is identified again as late as its close */
#define SIGNINS_MAX 65536

struct signins;

/* db_path: the store's database (opened at the first refresh; it may not
 * exist yet: an error is logged once and retried). NULL when out of memory. */
struct signins *signins_create(const char *db_path);
void signins_destroy(struct signins *si);
/* Refresh when due (every SIGNINS_REFRESH_S, or when time went backwards). si may be NULL. */
void signins_tick(struct signins *si, int64_t now_us);
/* Refresh now (tests). */
void signins_refresh(struct signins *si, int64_t now_us);
/* The person bound at ts to the client address addr (4 or 16 bytes by
 * family), else to the device with MAC address mac (NULL: unknown); NULL
 * when nobody. si may be NULL. */
const char *signins_user(const struct signins *si, int family, const uint8_t *addr, const uint8_t *mac,
			 int64_t ts_us);
/* Rows held now. */
unsigned signins_count(const struct signins *si);

#endif
