/*
 * htpasswd: reading an htpasswd file into a sorted table, and crypt(3)
 * (libxcrypt) with a constant-time comparison for checking a password.
 * Never logs or keeps a password: the caller's buffer is the only copy.
 */
#include "htpasswd.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "username.h"

struct htuser {
	char *name;             /* canonical (lower case): common/username.h */
	char *hash;
	unsigned line;
};

struct htpasswd {
	struct htuser *users;    /* sorted by name */
	size_t n;
};

static int htuser_cmp(const void *a, const void *b)
{
	const struct htuser *x = a, *y = b;
	int r = username_cmp(x->name, y->name);
	return r ? r : (x->line > y->line) - (x->line < y->line);
}

/* The lookup: by name alone, in any case. */
static int htuser_find(const void *key, const void *elem)
{
	return username_cmp(key, ((const struct htuser *)elem)->name);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static bool hash_accepted(const char *hash)
{
	return strncmp(hash, "$2y$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0 ||
	       strncmp(hash, "$2a$", 4) == 0 || strncmp(hash, "$5$", 3) == 0 ||
	       strncmp(hash, "$6$", 3) == 0 || strncmp(hash, "$y$", 3) == 0;
}

struct htpasswd *htpasswd_load(const char *path)
{
	struct htpasswd *h = calloc(1, sizeof(*h));
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned lineno = 0;
	int rc = 0;

	if (!f) {
		log_err("%s: cannot open the htpasswd file: %s", path, strerror(errno));
		free(h);
		return NULL;
	}
	if (!h) {
		fclose(f);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *colon = strchr(s, ':');
		if (!colon || colon == s || colon[1] == '\0') {
			log_err("%s:%u: expected user:hash", path, lineno);
			rc = -1;
			continue;
		}
		*colon = '\0';
		const char *hash = colon + 1;
		if (!hash_accepted(hash)) {
			log_err("%s:%u: user %s: only bcrypt ($2y$, htpasswd -B) and SHA-crypt ($5$, $6$) "
				"hashes are accepted", path, lineno, s);
			rc = -1;
			continue;
		}
		struct htuser *u = realloc(h->users, (h->n + 1) * sizeof(*u));
		if (!u) {
			rc = -1;
			break;
		}
		h->users = u;
		u[h->n].name = strdup(s);
		u[h->n].hash = strdup(hash);
		u[h->n].line = lineno;
		if (!u[h->n].name || !u[h->n].hash) {
			free(u[h->n].name);
			free(u[h->n].hash);
			rc = -1;
			break;
		}
		username_canon(u[h->n].name);
		h->n++;
	}
	fclose(f);
	if (h->n)
		qsort(h->users, h->n, sizeof(*h->users), htuser_cmp);
	/* one person, one line: `Alice` and `alice` would be two passwords for
	 * one user (and the second could be an administrator's) */
	for (size_t i = 1; i < h->n; i++) {
		if (strcmp(h->users[i - 1].name, h->users[i].name) == 0) {
			log_err("%s:%u: user %s is already on line %u (user names are compared "
				"ignoring case)", path, h->users[i].line, h->users[i].name,
				h->users[i - 1].line);
			rc = -1;
		}
	}
	if (rc < 0) {
		htpasswd_free(h);
		return NULL;
	}
	return h;
}

void htpasswd_free(struct htpasswd *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->users[i].name);
		free(h->users[i].hash);
	}
	free(h->users);
	free(h);
}

size_t htpasswd_count(const struct htpasswd *h)
{
	return h ? h->n : 0;
}

const char *htpasswd_hash(const struct htpasswd *h, const char *user)
{
	if (!h || !h->n || !user)
		return NULL;
	const struct htuser *u = bsearch(user, h->users, h->n, sizeof(*h->users), htuser_find);
	return u ? u->hash : NULL;
}

bool htpasswd_verify(const char *hash, const char *pass)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	bool ok = false;

	if (!cd || !hash || !pass)
		goto out;
	/* crypt_rn: libxcrypt's variant that fails with NULL (and that
	 * sanitizers do not intercept, unlike crypt_r) */
	const char *r = crypt_rn(pass, hash, cd, (int)sizeof(*cd));
	size_t n = strlen(hash);
	ok = r && r[0] != '*' && strlen(r) == n && CRYPTO_memcmp(r, hash, n) == 0;
out:
	if (cd)
		OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool htpasswd_check(const struct htpasswd *h, const char *user, const char *pass)
{
	/* a bcrypt hash of nothing anyone knows, cost 5 like htpasswd -B */
	static const char dummy[] = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.Xn7FSvv79c6bu/kgV/.kBlx/ChE9.FW";
	const char *hash = htpasswd_hash(h, user);
	bool ok = htpasswd_verify(hash ? hash : dummy, pass);
	return hash && ok;
}
