/*
 * blockca: the organisation's block-page CA (blockca.c).
 *
 * breaktime terminates TLS only for flows it has already decided to deny
 * or warn, to show the block page or the warn interstitial over HTTPS. The
 * CA that signs those leaves carries a critical Name Constraints extension
 * whose permitted DNS subtrees are the platform catalog's domains (plus the
 * proxy's own page host name), so even a stolen key cannot impersonate a
 * site outside the catalog.
 *
 * Used by `breaktime ca create|check` and by breaktimed (block_ca,
 * block_ca_key). Pure functions over OpenSSL objects: no event loop, no
 * globals beyond OpenSSL's own. A loaded struct blockca is immutable and
 * may be used by any number of threads at once.
 */
#ifndef BREAKTIME_BLOCKCA_H
#define BREAKTIME_BLOCKCA_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "catalog.h"

/* The file names `breaktime ca create -o DIR` writes. */
#define BLOCKCA_CERT_FILE "breaktime-ca.pem"
#define BLOCKCA_KEY_FILE "breaktime-ca.key"

/* The most DNS subtrees one CA may permit: its certificate grows by about
 * 40 bytes a name (10,000 names: some 360 KB), and every client must install
 * it and walk the list for every leaf it checks. */
#define BLOCKCA_MAX_NAMES 10000

/* Minted leaves are valid from an hour before `now` for this long. */
#define BLOCKCA_LEAF_VALID_S (3 * 24 * 3600)

/*
 * The DNS subtrees a new CA may permit: every domain of the catalog (all
 * categories) and `extra` (the proxy's page host; NULL or "" for none),
 * normalised, sorted, and without a domain that a shorter listed one
 * already covers (www.facebook.com under facebook.com). Returns how many;
 * *out is an array of strings freed with blockca_names_free(). -1 when out
 * of memory.
 */
long blockca_permitted_names(const struct catalog *cat, const char *extra, char ***out);
void blockca_names_free(char **names, size_t n);

/*
 * Create a CA in dir (made, mode 0755, when missing; its parent must
 * exist): an ECDSA P-256 key (BLOCKCA_KEY_FILE, mode 0600) and a
 * self-signed certificate (BLOCKCA_CERT_FILE, 0644) valid for `days`
 * (1-36500), with basicConstraints CA:TRUE (critical, pathlen 0), keyUsage
 * keyCertSign+cRLSign (critical), extendedKeyUsage serverAuth, subject and
 * authority key identifiers, and nameConstraints (critical) permitting
 * exactly the DNS subtrees `names` and excluding every IPv4 and IPv6
 * address (0.0.0.0/0, ::/0: otherwise IP addresses would be unconstrained).
 * Refuses more than BLOCKCA_MAX_NAMES names, and to overwrite existing
 * files; leaves nothing behind on failure.
 * The SHA-256 fingerprint of the certificate ("AA:BB:...", 95 characters +
 * NUL) goes to fp when fp is not NULL. 0, or -1 with a reason in err.
 */
int blockca_create(const char *dir, const char *const *names, size_t n, unsigned days,
		   char fp[96], char *err, size_t errlen);

struct blockca;

/*
 * Load a CA certificate and its key (PEM). Refused, with a reason in err,
 * when: a file cannot be read; the key file is not a regular file, or is
 * readable or writable by group or others (its owner: see
 * blockca_key_owner_ok); the key does not match the certificate; the
 * certificate is not a CA, has no critical nameConstraints with permitted
 * DNS subtrees (or with an empty one, which would permit every name), or is
 * outside its validity at `now`. The CA also makes one P-256 key that every
 * minted leaf shares (never written anywhere). key_path NULL: the
 * certificate alone, for checks (blockca_permits, blockca_uncovered);
 * blockca_mint then returns NULL and blockca_leaf_key NULL.
 */
struct blockca *blockca_load(const char *cert_path, const char *key_path, time_t now, char *err,
			     size_t errlen);
void blockca_free(struct blockca *ca);

/*
 * Is the key file owned by root or by user (the service user, [proxy]
 * user; NULL or "": the effective user)? Whoever owns it can read it, so a
 * key owned by anyone else is refused: 0, or -1 with a reason in err.
 * Apart from blockca_load because the process that loads the key (root
 * before it drops privileges, the service user on reload) need not be the
 * one that must own it.
 */
int blockca_key_owner_ok(const char *key_path, const char *user, char *err, size_t errlen);

/* Does the CA's own certificate permit host (normalised: lower case, no
 * trailing dot, not an IP literal)? Read from the certificate's
 * nameConstraints, not from any catalog. */
bool blockca_permits(const struct blockca *ca, const char *host);

/*
 * A leaf certificate for host: SAN dNSName host and subject CN host (a host
 * longer than the 64 characters a CN may hold has no CN, and its SAN is
 * critical), valid from now-1h for BLOCKCA_LEAF_VALID_S but never beyond
 * the CA, basicConstraints CA:FALSE and keyUsage digitalSignature
 * (critical), extendedKeyUsage serverAuth, the CA's key identifier, a
 * random 16-byte serial, the shared leaf key, signed with ECDSA-SHA256 by
 * the CA's key. NULL when host is not permitted (blockca_permits: it must
 * be normalised already, "WWW.X.COM" is refused), without a key, or on
 * error. Thread-safe. About 50 us of CPU (bench/blockca_bench).
 */
X509 *blockca_mint(const struct blockca *ca, const char *host, time_t now);

/* The shared leaf key and the CA certificate (not references of their own). */
EVP_PKEY *blockca_leaf_key(const struct blockca *ca);
X509 *blockca_cert(const struct blockca *ca);

/* The SHA-256 fingerprint of the CA certificate, as blockca_create gives it. */
void blockca_fingerprint(const struct blockca *ca, char fp[96]);

/* The end of the CA's validity (leaves never outlast it), and how many DNS
 * subtrees it permits. */
time_t blockca_not_after(const struct blockca *ca);
size_t blockca_n_permitted(const struct blockca *ca);

/*
 * How many of names[0..n) the CA does not permit; the first such name goes
 * to *first (may be NULL). For `breaktime ca check`: a catalog update may
 * need a new CA.
 */
size_t blockca_uncovered(const struct blockca *ca, const char *const *names, size_t n,
			 const char **first);

#endif
