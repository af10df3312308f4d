/*
 * htpasswd: an Apache htpasswd file (user:hash, one a line) and checking a
 * password against its hash — shared by the proxy's authentication
 * (proxy/identity.c) and the web UI's login (reports/web.c).
 *
 * Accepted hashes: bcrypt ($2y$ from `htpasswd -B`, $2b$, $2a$), SHA-crypt
 * ($5$, $6$) and yescrypt ($y$); anything weaker (MD5-crypt, DES, plain)
 * is refused when the file is read, never silently accepted.
 *
 * A struct htpasswd is immutable once loaded: any thread may read it.
 * htpasswd_verify() is slow by design (bcrypt): the proxy calls it on its
 * verifier threads, never on a loop thread. Passwords are never logged.
 */
#ifndef BREAKTIME_HTPASSWD_H
#define BREAKTIME_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>

struct htpasswd;

/* Read path; NULL with every problem logged as "path:line: ..." when the
 * file cannot be read, any line is not user:hash with an accepted hash, or
 * two lines name one user. User names follow common/username.h: compared
 * ignoring ASCII case, kept in lower case. */
struct htpasswd *htpasswd_load(const char *path);
void htpasswd_free(struct htpasswd *h);

size_t htpasswd_count(const struct htpasswd *h);
/* user's hash (user in any case), or NULL when the file has no such user. */
const char *htpasswd_hash(const struct htpasswd *h, const char *user);

/* Does pass hash to hash? Compared in constant time; false on any error. */
bool htpasswd_verify(const char *hash, const char *pass);

/* user is in the file and pass is theirs. An unknown user costs a hash too,
 * so timing does not tell which names exist. */
bool htpasswd_check(const struct htpasswd *h, const char *user, const char *pass);

#endif
