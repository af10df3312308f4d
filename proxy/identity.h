/*
 * identity: who is behind a request — a proxy-authenticated user (Basic,
 * checked against an htpasswd file with bcrypt or SHA-crypt hashes, or
 * through an external helper speaking Squid's basic-auth helper protocol),
 * a device map entry (address or subnet -> user) for shared and fixed
 * devices, or nobody (the [auth] default_group, recorded by address).
 *
 * Password hashing is slow by design, so it never runs on a loop thread:
 * verifications go to a small pool of verifier threads that all workers
 * share (each verifier asks its own helper child process, started on first
 * use) and the answer comes back to the worker through its wake-up pipe.
 * Each worker caches answers under a SHA-256 of the credentials (never the
 * credentials themselves): a right password for CACHE_TTL_OK (5 minutes),
 * a wrong one for CACHE_TTL_FAIL (30 s), both fixed in identity.c; a reload
 * with a new user database starts a new cache.
 * Failed attempts are rate-limited per client address in one table all
 * workers share (common/failwindow.h: 10 a minute), guesses in flight
 * included; an address has at most two verifications pending, and the
 * verifier threads serve addresses in turn (identity.c says how).
 * User names are case-insensitive; the recorded user is lower case
 * (common/username.h).
 * Credentials are never logged, stored or put in a record.
 */
#ifndef BREAKTIME_IDENTITY_H
#define BREAKTIME_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct identity_db;     /* htpasswd users and the device map, from one configuration */
struct identity_cache;  /* per worker */
struct worker;
struct conn;

/* Build from the configuration's [auth] (main thread). NULL with errors logged. */
struct identity_db *identity_db_load(const struct conf *c, bool *ok);
struct identity_db *identity_db_ref(struct identity_db *db);
void identity_db_unref(struct identity_db *db);

/* The device map's user for a client address, or NULL. Any thread. */
const char *identity_device_user(const struct identity_db *db, const struct sockaddr *sa);
bool identity_required(const struct identity_db *db);
/* Does [auth] check passwords at all (an htpasswd file or a helper)? */
bool identity_verifies(const struct identity_db *db);

enum identity_result {
	IDENTITY_OK,          /* user set */
	IDENTITY_NONE,        /* no credentials and not required: unidentified */
	IDENTITY_CHALLENGE,   /* answer 407 */
	IDENTITY_PENDING,     /* verification running; identity_on_done re-runs the request */
	IDENTITY_LIMITED,     /* too many failures, or verifications pending, from this address: 429 */
	IDENTITY_ERROR,       /* malformed credentials: 400 */
};

/*
 * Check a Proxy-Authorization value (NULL when absent). On IDENTITY_OK the
 * user name, lower case, is copied to user (64 bytes). IDENTITY_PENDING means the conn
 * will get conn_identity_done() later on its worker's thread.
 */
enum identity_result identity_check(struct worker *w, struct conn *c,
				    const struct identity_db *db,
				    const struct sockaddr *peer, const char *auth,
				    size_t auth_len, char user[64]);

/* The connection closes: forget its pending verification (worker thread). */
void identity_detach(struct conn *c, void *pending);

/* Worker lifecycle. */
struct identity_cache *identity_cache_create(struct worker *w);
void identity_cache_destroy(struct identity_cache *ic);
/* Start the verifier threads (main thread, once). */
int identity_start(void);
void identity_stop(void);

/* conn.c: a verification this conn waited for has finished. */
void conn_identity_done(struct conn *c);

#endif
