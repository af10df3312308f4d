/*
 * blockca_create: making a block-page CA — the DNS subtrees it permits,
 * derived from the catalog, and its key and certificate (the contract is
 * in blockca.h; the design in blockca.c). Run by `breaktime ca create`,
 * never by the proxy.
 */
#include "blockca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "blockca_internal.h"
#include "hostname.h"

#define KEYID_BYTES 20

/* ---- the permitted names of a new CA ---- */

struct name_set {
	char **v;
	size_t n, cap;
	bool oom;
};

static int name_set_add(struct name_set *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			s->oom = true;
			return 1;
		}
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(name))) {
		s->oom = true;
		return 1;
	}
	s->n++;
	return 0;
}

static int add_catalog_domain(const struct catalog_entry *e, void *ctx)
{
	return name_set_add(ctx, e->domain);
}

/* name is covered by a proper suffix of it (on a label boundary) in v. */
static bool subsumed(char *const *v, size_t n, const char *name)
{
	for (const char *p = strchr(name, '.'); p; p = strchr(p + 1, '.'))
		if (blockca_in_sorted(v, n, p + 1))
			return true;
	return false;
}

long blockca_permitted_names(const struct catalog *cat, const char *extra, char ***out)
{
	struct name_set s = {0};
	char norm[HOSTNAME_MAX + 1];

	*out = NULL;
	catalog_foreach_domain(cat, add_catalog_domain, &s);
	if (!s.oom && extra && *extra &&
	    hostname_normalise(extra, strlen(extra), norm) == HOST_NAME)
		name_set_add(&s, norm);
	if (s.oom) {
		blockca_names_free(s.v, s.n);
		return -1;
	}
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), blockca_cmp_str);
	/* drop duplicates and names under a listed one (decided on the whole
	 * sorted set first, then compacted, keeping the order) */
	bool *drop = calloc(s.n ? s.n : 1, sizeof(*drop));
	if (!drop) {
		blockca_names_free(s.v, s.n);
		return -1;
	}
	for (size_t i = 0; i < s.n; i++)
		drop[i] = (i && strcmp(s.v[i - 1], s.v[i]) == 0) || subsumed(s.v, s.n, s.v[i]);
	size_t k = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (drop[i])
			free(s.v[i]);
		else
			s.v[k++] = s.v[i];
	}
	free(drop);
	*out = s.v;
	return (long)k;
}

/* The key identifier of x's own key (subject, or authority: self-signed),
 * by RFC 7093 method 1: the leftmost 160 bits of SHA-256 of the key. */
static X509_EXTENSION *ext_key_id(X509 *x, bool authority)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e = NULL;

	if (!id || !X509_pubkey_digest(x, EVP_sha256(), md, &len) || len < KEYID_BYTES ||
	    !ASN1_OCTET_STRING_set(id, md, KEYID_BYTES))
		goto out;
	if (!authority) {
		e = X509V3_EXT_i2d(NID_subject_key_identifier, 0, id);
	} else {
		AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
		if (ak) {
			ak->keyid = id;
			id = NULL;
			e = X509V3_EXT_i2d(NID_authority_key_identifier, 0, ak);
			AUTHORITY_KEYID_free(ak);
		}
	}
out:
	ASN1_OCTET_STRING_free(id);
	return e;
}

/* ---- create ---- */

static GENERAL_SUBTREE *subtree(int type, const void *data, int len)
{
	GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
	ASN1_STRING *s = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
	if (!st || !s || !ASN1_STRING_set(s, data, len))
		goto fail;
	GENERAL_NAME_set0_value(st->base, type, s);
	return st;
fail:
	ASN1_STRING_free(s);
	GENERAL_SUBTREE_free(st);
	return NULL;
}

static X509_EXTENSION *ext_name_constraints(const char *const *names, size_t n)
{
	static const unsigned char any_ip[32]; /* 0.0.0.0/0 and ::/0: address then mask */
	NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
	X509_EXTENSION *e = NULL;

	if (!nc || !(nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null()) ||
	    !(nc->excludedSubtrees = sk_GENERAL_SUBTREE_new_null()))
		goto out;
	for (size_t i = 0; i < n; i++) {
		GENERAL_SUBTREE *st = subtree(GEN_DNS, names[i], (int)strlen(names[i]));
		if (!st || !sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st)) {
			GENERAL_SUBTREE_free(st);
			goto out;
		}
	}
	for (int len = 8; len <= 32; len += 24) {
		GENERAL_SUBTREE *st = subtree(GEN_IPADD, any_ip, len);
		if (!st || !sk_GENERAL_SUBTREE_push(nc->excludedSubtrees, st)) {
			GENERAL_SUBTREE_free(st);
			goto out;
		}
	}
	e = X509V3_EXT_i2d(NID_name_constraints, 1, nc);
out:
	NAME_CONSTRAINTS_free(nc);
	return e;
}

static X509 *make_ca_cert(EVP_PKEY *key, const char *const *names, size_t n, unsigned days)
{
	static const int ku_bits[] = {5, 6}; /* keyCertSign, cRLSign */
	time_t now = time(NULL);
	char cn[96];
	struct tm tm;
	X509 *x = X509_new();
	X509_NAME *subj = x ? X509_get_subject_name(x) : NULL;

	gmtime_r(&now, &tm);
	snprintf(cn, sizeof(cn), "breaktime block-page CA %04d-%02d-%02d %02d:%02d:%02d",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (!subj || !X509_set_version(x, X509_VERSION_3) || blockca_random_serial(x) < 0 ||
	    !X509_NAME_add_entry_by_NID(subj, NID_organizationName, MBSTRING_ASC,
					(const unsigned char *)"breaktime", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, subj) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), now - 3600) ||
	    !ASN1_TIME_adj(X509_getm_notAfter(x), now, (int)days, 0) ||
	    !X509_set_pubkey(x, key) ||
	    blockca_add_ext(x, blockca_ext_basic_constraints(true)) < 0 ||
	    blockca_add_ext(x, blockca_ext_key_usage(ku_bits, 2)) < 0 ||
	    blockca_add_ext(x, blockca_ext_server_auth()) < 0 ||
	    blockca_add_ext(x, ext_name_constraints(names, n)) < 0 ||
	    blockca_add_ext(x, ext_key_id(x, false)) < 0 ||
	    blockca_add_ext(x, ext_key_id(x, true)) < 0 ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Open dir/name for writing, new only, with mode. -1 with errno. */
static FILE *create_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return NULL;
	if (fchmod(fd, mode) < 0) { /* whatever the umask */
		close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

int blockca_create(const char *dir, const char *const *names, size_t n, unsigned days,
		   char fp[96], char *err, size_t errlen)
{
	char cert_path[4096], key_path[4096], why[256];
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *f = NULL;
	int rc = -1;
	bool key_written = false;

	if (n == 0 || days == 0 || days > 36500) {
		blockca_set_err(err, errlen, n ? "the validity must be 1 to 36500 days"
				       : "no names to permit (the catalog is empty)");
		return -1;
	}
	if (n > BLOCKCA_MAX_NAMES) {
		blockca_set_err(err, errlen, "%zu names: one CA may permit at most %d (each client must "
				"install it and check every leaf against the list)", n, BLOCKCA_MAX_NAMES);
		return -1;
	}
	if ((size_t)snprintf(cert_path, sizeof(cert_path), "%s/%s", dir, BLOCKCA_CERT_FILE) >= sizeof(cert_path) ||
	    (size_t)snprintf(key_path, sizeof(key_path), "%s/%s", dir, BLOCKCA_KEY_FILE) >= sizeof(key_path)) {
		blockca_set_err(err, errlen, "%s: the path is too long", dir);
		return -1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		blockca_set_err(err, errlen, "%s: cannot create the directory: %s", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		const char *p = i ? key_path : cert_path;
		if (access(p, F_OK) == 0) {
			blockca_set_err(err, errlen, "%s exists: remove it first, or write to another directory", p);
			return -1;
		}
	}
	if (!(key = blockca_p256_key()) || !(x = make_ca_cert(key, names, n, days))) {
		blockca_set_err(err, errlen, "cannot make the CA: %s", blockca_ssl_reason(why, sizeof(why)));
		goto out;
	}
	if (!(f = create_file(key_path, 0600))) {
		blockca_set_err(err, errlen, "%s: %s", key_path, strerror(errno));
		goto out;
	}
	key_written = true;
	if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) || fflush(f) || fsync(fileno(f))) {
		blockca_set_err(err, errlen, "%s: cannot write the key", key_path);
		goto out;
	}
	fclose(f);
	if (!(f = create_file(cert_path, 0644))) {
		blockca_set_err(err, errlen, "%s: %s", cert_path, strerror(errno));
		goto out;
	}
	if (!PEM_write_X509(f, x) || fflush(f) || fsync(fileno(f))) {
		blockca_set_err(err, errlen, "%s: cannot write the certificate", cert_path);
		unlink(cert_path);
		goto out;
	}
	if (fp)
		blockca_format_fp(x, fp);
	rc = 0;
out:
	if (f && fclose(f) != 0 && rc == 0) {
		blockca_set_err(err, errlen, "%s: %s", cert_path, strerror(errno));
		unlink(cert_path);
		rc = -1;
	}
	if (rc < 0 && key_written)
		unlink(key_path); /* nothing half made is left behind */
	X509_free(x);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}
