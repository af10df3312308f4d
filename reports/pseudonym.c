/*
 * pseudonym: stable pseudonyms for people in reports.
 *
 * pseudonym = "p-" + the first 10 hex digits of HMAC-SHA256(secret, name).
 * The same name gives the same pseudonym in every report of the same site,
 * so trends stay comparable, while nobody without the secret can test a
 * guessed name against it. The secret is 32 random bytes kept in the
 * store's `meta` table (key `pseudonym_secret`), created on first use: so
 * it shares the store's permissions, and is gone when the store is.
 */
#include "report.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void pseudonym_of(const unsigned char *secret, size_t secret_len, const char *name,
		  char out[PSEUDONYM_LEN])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)name, strlen(name), mac,
	     &len);
	snprintf(out, PSEUDONYM_LEN, "p-%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4]);
}

static int from_hex(const char *s, unsigned char out[32])
{
	if (!s || strlen(s) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) /* NOLINT(cert-err34-c): two hex digits */
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int read_secret(sqlite3 *db, unsigned char out[32])
{
	sqlite3_stmt *st;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'pseudonym_secret'", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = from_hex((const char *)sqlite3_column_text(st, 0), out);
	sqlite3_finalize(st);
	return rc;
}

int pseudonym_secret(const char *database, unsigned char out[32])
{
	sqlite3 *db = NULL;
	int rc = -1;

	if (sqlite3_open_v2(database, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "breaktime: %s: cannot open the store to read or create the "
				"pseudonym secret: %s\n", database, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	if (read_secret(db, out) == 0) {
		rc = 0;
		goto out;
	}
	unsigned char raw[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
		fprintf(stderr, "breaktime: cannot read /dev/urandom for the pseudonym secret\n");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	sqlite3_stmt *st;
	/* OR IGNORE: when two reports race, the first secret stays; both read it back */
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO meta (key, value) "
				   "VALUES ('pseudonym_secret', ?)", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "breaktime: %s: %s\n", database, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		fprintf(stderr, "breaktime: %s: cannot create the pseudonym secret: %s\n", database,
			sqlite3_errmsg(db));
		goto out;
	}
	if (read_secret(db, out) == 0)
		rc = 0;
	else
		fprintf(stderr, "breaktime: %s: the pseudonym secret in meta is not valid\n",
			database);
out:
	sqlite3_close(db);
	return rc;
}
