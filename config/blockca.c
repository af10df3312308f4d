/*
 * blockca: the organisation's block-page CA (the contract is in blockca.h).
 *
 * DESIGN
 * The CA is an ECDSA P-256 certificate whose critical nameConstraints
 * permit the catalog's domains as DNS subtrees and exclude every IPv4 and
 * IPv6 address (a DNS-only permitted list leaves IP addresses
 * unconstrained otherwise), with extendedKeyUsage serverAuth: a relying
 * party refuses whatever it signs outside those names, for TLS servers
 * only. Every certificate field is built through the ASN.1 objects, never
 * by parsing configuration strings.
 *
 * Minting is on the path of a denied connection's handshake (the proxy
 * runs it off its event loop, and caches the result), so it does only
 * what it must: one leaf key made at load time serves every leaf, the
 * extensions that never change (basicConstraints, keyUsage, EKU, the
 * authority key identifier) are encoded once at load time, and a leaf
 * costs a random serial, two names, two times and one ECDSA signature.
 *
 * The leaf key exists twice, as one key pair: a provider key (what
 * blockca_leaf_key() hands out, for TLS) and a legacy EC_KEY copy whose
 * only use is X509_set_pubkey(). With OpenSSL 3.0, setting a provider key
 * into a certificate encodes it through OSSL_ENCODER and decodes it back
 * through OSSL_DECODER on every call, about 180 us (75% of a leaf); a
 * legacy key is encoded directly, in about 4 us. That copy is made with
 * the deprecated EC_KEY functions, in one function (legacy_copy) only.
 *
 * blockca_permits() reads the certificate's own constraints (held as two
 * sorted arrays, permitted and excluded) with OpenSSL's matching rule: a
 * base "example.com" covers example.com and every name below it; a base
 * ".example.com" only the names below it. A lookup is one binary search
 * per label of the host, with and without its leading dot.
 *
 * THREADS
 * A loaded struct blockca is never written after blockca_load() returns.
 * blockca_mint() only reads it (OpenSSL keys and certificates are safe to
 * share for signing and copying), so any number of threads may mint.
 */
#include "blockca.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "blockca_internal.h"
#include "hostname.h"

#define CN_MAX 64         /* ub-common-name: a longer host gets no CN */
#define SERIAL_BYTES 16

struct blockca {
	X509 *cert;
	EVP_PKEY *key;               /* the CA's */
	EVP_PKEY *leaf_key;          /* shared by every leaf: the provider key */
	EVP_PKEY *leaf_pub;          /* the same key pair, legacy: for X509_set_pubkey */
	const X509_NAME *subject;    /* the CA's subject: the leaves' issuer */
	time_t not_after;            /* leaves end no later than the CA */
	X509_EXTENSION *ext_bc, *ext_ku, *ext_eku, *ext_akid; /* ext_akid may be NULL */
	char **permitted, **excluded; /* sorted DNS bases, lower case */
	size_t n_permitted, n_excluded;
};

/* ---- small helpers ---- */

void blockca_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The newest OpenSSL error as text (and the queue emptied), for messages. */
const char *blockca_ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

int blockca_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool blockca_in_sorted(char *const *v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(*v), blockca_cmp_str) != NULL;
}

void blockca_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* A normalised DNS name (not an IP literal) equal to host, into out. */
static bool host_name(const char *host, char out[HOSTNAME_MAX + 1])
{
	size_t len = host ? strnlen(host, HOSTNAME_MAX + 1) : 0;
	return len && len <= HOSTNAME_MAX && hostname_normalise(host, len, out) == HOST_NAME &&
	       strcmp(out, host) == 0;
}

/* A new P-256 key pair (provider-native with OpenSSL 3). */
EVP_PKEY *blockca_p256_key(void)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	if (!pc || EVP_PKEY_keygen_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pc, NID_X9_62_prime256v1) <= 0 ||
	    EVP_PKEY_keygen(pc, &k) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(pc);
	return k;
}

/*
 * A legacy (EC_KEY) copy of key's public half, for X509_set_pubkey()'s
 * fast path (see DESIGN). The deprecated functions stay in here.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static EVP_PKEY *legacy_copy(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	const unsigned char *p = der;
	EC_KEY *ec = len > 0 ? d2i_EC_PUBKEY(NULL, &p, len) : NULL;
	EVP_PKEY *k = ec ? EVP_PKEY_new() : NULL;

	OPENSSL_free(der);
	if (!k || !EVP_PKEY_assign_EC_KEY(k, ec)) {
		EVP_PKEY_free(k);
		EC_KEY_free(ec);
		return NULL;
	}
	return k;
}
#pragma GCC diagnostic pop

/* ---- certificate pieces shared by create and load ---- */

int blockca_random_serial(X509 *x)
{
	unsigned char b[SERIAL_BYTES];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40); /* positive, and always 16 bytes */
	return ASN1_STRING_set(X509_get_serialNumber(x), b, sizeof(b)) == 1 ? 0 : -1;
}

X509_EXTENSION *blockca_ext_basic_constraints(bool ca)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	X509_EXTENSION *e = NULL;
	if (!bc)
		return NULL;
	bc->ca = ca ? 0xff : 0;
	if (ca && ((bc->pathlen = ASN1_INTEGER_new()) == NULL || !ASN1_INTEGER_set(bc->pathlen, 0)))
		goto out;
	e = X509V3_EXT_i2d(NID_basic_constraints, 1, bc);
out:
	BASIC_CONSTRAINTS_free(bc);
	return e;
}

X509_EXTENSION *blockca_ext_key_usage(const int *bits, size_t n)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	X509_EXTENSION *e = NULL;
	if (!ku)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!ASN1_BIT_STRING_set_bit(ku, bits[i], 1))
			goto out;
	e = X509V3_EXT_i2d(NID_key_usage, 1, ku);
out:
	ASN1_BIT_STRING_free(ku);
	return e;
}

X509_EXTENSION *blockca_ext_server_auth(void)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	X509_EXTENSION *e = NULL;
	if (eku && sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)))
		e = X509V3_EXT_i2d(NID_ext_key_usage, 0, eku);
	sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj's objects are static */
	return e;
}

int blockca_add_ext(X509 *x, X509_EXTENSION *e)
{
	int rc = e && X509_add_ext(x, e, -1) ? 0 : -1;
	X509_EXTENSION_free(e);
	return rc;
}

void blockca_format_fp(const X509 *x, char fp[96])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	fp[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &len))
		return;
	for (unsigned i = 0; i < len && i < 32; i++)
		snprintf(fp + 3 * i, 4, i + 1 < len ? "%02X:" : "%02X", md[i]);
}

/* ---- load ---- */

static X509 *read_cert(const char *path, char *err, size_t errlen)
{
	char why[256];
	FILE *f = fopen(path, "re");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (!f)
		blockca_set_err(err, errlen, "%s: %s", path, strerror(errno));
	else if (!x)
		blockca_set_err(err, errlen, "%s: not a PEM certificate (%s)", path, blockca_ssl_reason(why, sizeof(why)));
	if (f)
		fclose(f);
	return x;
}

static EVP_PKEY *read_key(const char *path, char *err, size_t errlen)
{
	char why[256];
	struct stat st;
	EVP_PKEY *k = NULL;
	FILE *f = fopen(path, "re");

	if (!f) {
		blockca_set_err(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		blockca_set_err(err, errlen, "%s: not a regular file", path);
	else if (st.st_mode & 077)
		blockca_set_err(err, errlen, "%s: the CA key is accessible to group or others (mode %04o): "
			"chmod 600 it, owned by the service user or root", path, (unsigned)(st.st_mode & 07777));
	else if (!(k = PEM_read_PrivateKey(f, NULL, NULL, NULL)))
		blockca_set_err(err, errlen, "%s: not a PEM private key without a passphrase (%s)", path,
			blockca_ssl_reason(why, sizeof(why)));
	fclose(f);
	return k;
}

/* The DNS bases of one side of the constraints, lower case, sorted. */
static int dns_bases(const STACK_OF(GENERAL_SUBTREE) *sts, char ***out, size_t *n, bool *empty)
{
	int total = sk_GENERAL_SUBTREE_num(sts);
	*n = 0;
	*out = calloc(total > 0 ? (size_t)total : 1, sizeof(char *));
	if (!*out)
		return -1;
	for (int i = 0; i < total; i++) {
		const GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(sts, i)->base;
		if (g->type != GEN_DNS)
			continue;
		const ASN1_IA5STRING *s = g->d.dNSName;
		int len = ASN1_STRING_length(s);
		const unsigned char *d = ASN1_STRING_get0_data(s);
		if (len == 0 || memchr(d, '\0', (size_t)len)) {
			*empty = true; /* "" permits every name: refused by the caller */
			continue;
		}
		char *b = malloc((size_t)len + 1);
		if (!b)
			return -1;
		for (int j = 0; j < len; j++)
			b[j] = (char)(d[j] >= 'A' && d[j] <= 'Z' ? d[j] + 32 : d[j]);
		b[len] = '\0';
		(*out)[(*n)++] = b;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), blockca_cmp_str);
	return 0;
}

static int check_cert(struct blockca *ca, time_t now, const char *path, char *err, size_t errlen)
{
	int crit = -1;
	bool empty = false, excluded_empty = false;
	NAME_CONSTRAINTS *nc;

	if (!(X509_get_extension_flags(ca->cert) & EXFLAG_CA) || X509_check_ca(ca->cert) < 1) {
		blockca_set_err(err, errlen, "%s: not a CA certificate (basicConstraints CA:TRUE)", path);
		return -1;
	}
	nc = X509_get_ext_d2i(ca->cert, NID_name_constraints, &crit, NULL);
	if (!nc || crit != 1) {
		blockca_set_err(err, errlen, "%s: no critical nameConstraints: breaktime uses only a CA limited "
			"to the catalog's domains (make one with `breaktime ca create`)", path);
		NAME_CONSTRAINTS_free(nc);
		return -1;
	}
	int rc = dns_bases(nc->permittedSubtrees, &ca->permitted, &ca->n_permitted, &empty);
	if (rc == 0)
		rc = dns_bases(nc->excludedSubtrees, &ca->excluded, &ca->n_excluded, &excluded_empty);
	NAME_CONSTRAINTS_free(nc);
	if (rc < 0) {
		blockca_set_err(err, errlen, "out of memory");
		return -1;
	}
	if (empty || excluded_empty || ca->n_permitted == 0) {
		blockca_set_err(err, errlen, "%s: the nameConstraints %s", path,
				empty ? "permit every DNS name (an empty or malformed base)"
				: excluded_empty ? "exclude every DNS name (an empty or malformed base)"
				: "permit no DNS subtree");
		return -1;
	}
	if (ASN1_TIME_cmp_time_t(X509_get0_notBefore(ca->cert), now) > 0) {
		blockca_set_err(err, errlen, "%s: the CA is not valid yet (check the clock)", path);
		return -1;
	}
	if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(ca->cert), now) < 0) {
		blockca_set_err(err, errlen, "%s: the CA has expired: make a new one (`breaktime ca create`)", path);
		return -1;
	}
	struct tm tm;
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(ca->cert), &tm)) {
		blockca_set_err(err, errlen, "%s: unreadable validity", path);
		return -1;
	}
	ca->not_after = timegm(&tm);
	return 0;
}

struct blockca *blockca_load(const char *cert_path, const char *key_path, time_t now, char *err,
			     size_t errlen)
{
	static const int leaf_ku[] = {0}; /* digitalSignature: ECDHE with an ECDSA key */
	char why[256];
	struct blockca *ca = calloc(1, sizeof(*ca));

	if (!ca) {
		blockca_set_err(err, errlen, "out of memory");
		return NULL;
	}
	if (!(ca->cert = read_cert(cert_path, err, errlen)) || check_cert(ca, now, cert_path, err, errlen) < 0)
		goto fail;
	if (!key_path) {
		ERR_clear_error();
		return ca; /* the certificate alone: for checks */
	}
	if (!(ca->key = read_key(key_path, err, errlen)))
		goto fail;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		blockca_set_err(err, errlen, "%s does not belong to %s (the key does not match)", key_path, cert_path);
		goto fail;
	}
	ca->subject = X509_get_subject_name(ca->cert);
	ca->ext_bc = blockca_ext_basic_constraints(false);
	ca->ext_ku = blockca_ext_key_usage(leaf_ku, 1);
	ca->ext_eku = blockca_ext_server_auth();
	if (X509_get0_subject_key_id(ca->cert)) {
		AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
		if (ak && (ak->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(ca->cert))))
			ca->ext_akid = X509V3_EXT_i2d(NID_authority_key_identifier, 0, ak);
		AUTHORITY_KEYID_free(ak);
		if (!ca->ext_akid)
			goto oom;
	}
	if (!ca->ext_bc || !ca->ext_ku || !ca->ext_eku || !(ca->leaf_key = blockca_p256_key()) ||
	    !(ca->leaf_pub = legacy_copy(ca->leaf_key)))
		goto oom;
	ERR_clear_error();
	return ca;
oom:
	blockca_set_err(err, errlen, "cannot prepare the CA: %s", blockca_ssl_reason(why, sizeof(why)));
fail:
	blockca_free(ca);
	ERR_clear_error();
	return NULL;
}

void blockca_free(struct blockca *ca)
{
	if (!ca)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	EVP_PKEY_free(ca->leaf_key);
	EVP_PKEY_free(ca->leaf_pub);
	X509_EXTENSION_free(ca->ext_bc);
	X509_EXTENSION_free(ca->ext_ku);
	X509_EXTENSION_free(ca->ext_eku);
	X509_EXTENSION_free(ca->ext_akid);
	blockca_names_free(ca->permitted, ca->n_permitted);
	blockca_names_free(ca->excluded, ca->n_excluded);
	free(ca);
}

/* ---- permits, mint ---- */

/* Does a base of v (sorted) cover host, by OpenSSL's rule (nc_dns)? */
static bool covered(char *const *v, size_t n, const char *host)
{
	if (blockca_in_sorted(v, n, host))
		return true;
	for (const char *p = strchr(host, '.'); p; p = strchr(p + 1, '.'))
		if (blockca_in_sorted(v, n, p) || blockca_in_sorted(v, n, p + 1)) /* ".example.com", "example.com" */
			return true;
	return false;
}

bool blockca_permits(const struct blockca *ca, const char *host)
{
	char norm[HOSTNAME_MAX + 1];
	return ca && host_name(host, norm) && covered(ca->permitted, ca->n_permitted, host) &&
	       !covered(ca->excluded, ca->n_excluded, host);
}

static X509_EXTENSION *ext_san(const char *host, bool critical)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	X509_EXTENSION *e = NULL;

	if (gens && g && s && ASN1_STRING_set(s, host, (int)strlen(host))) {
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		s = NULL;
		if (sk_GENERAL_NAME_push(gens, g)) {
			g = NULL;
			e = X509V3_EXT_i2d(NID_subject_alt_name, critical, gens);
		}
	}
	ASN1_IA5STRING_free(s);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return e;
}

X509 *blockca_mint(const struct blockca *ca, const char *host, time_t now)
{
	if (!blockca_permits(ca, host) || !ca->key)
		return NULL;
	size_t len = strlen(host);
	time_t not_after = now - 3600 + BLOCKCA_LEAF_VALID_S;
	X509 *x = X509_new();

	if (not_after > ca->not_after)
		not_after = ca->not_after;
	/* a host longer than a CN may be has only its SAN, then critical (RFC 5280 4.2.1.6) */
	if (!x || !X509_set_version(x, X509_VERSION_3) || blockca_random_serial(x) < 0 ||
	    !X509_set_issuer_name(x, ca->subject) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), now - 3600) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), not_after) ||
	    (len <= CN_MAX && !X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
							   MBSTRING_ASC, (const unsigned char *)host,
							   (int)len, -1, 0)) ||
	    !X509_set_pubkey(x, ca->leaf_pub) ||
	    !X509_add_ext(x, ca->ext_bc, -1) || !X509_add_ext(x, ca->ext_ku, -1) ||
	    !X509_add_ext(x, ca->ext_eku, -1) ||
	    blockca_add_ext(x, ext_san(host, len > CN_MAX)) < 0 ||
	    (ca->ext_akid && !X509_add_ext(x, ca->ext_akid, -1)) ||
	    !X509_sign(x, ca->key, EVP_sha256())) {
		X509_free(x);
		ERR_clear_error();
		return NULL;
	}
	return x;
}

EVP_PKEY *blockca_leaf_key(const struct blockca *ca)
{
	return ca ? ca->leaf_key : NULL;
}

X509 *blockca_cert(const struct blockca *ca)
{
	return ca ? ca->cert : NULL;
}

void blockca_fingerprint(const struct blockca *ca, char fp[96])
{
	blockca_format_fp(ca->cert, fp);
}

time_t blockca_not_after(const struct blockca *ca)
{
	return ca->not_after;
}

size_t blockca_n_permitted(const struct blockca *ca)
{
	return ca->n_permitted;
}

size_t blockca_uncovered(const struct blockca *ca, const char *const *names, size_t n,
			 const char **first)
{
	size_t k = 0;
	if (first)
		*first = NULL;
	for (size_t i = 0; i < n; i++)
		if (!blockca_permits(ca, names[i]) && k++ == 0 && first)
			*first = names[i];
	return k;
}

int blockca_key_owner_ok(const char *key_path, const char *user, char *err, size_t errlen)
{
	struct stat st;
	uid_t uid = geteuid();
	const char *who = "this user";

	if (user && *user) {
		char buf[4096];
		struct passwd pw, *res = NULL;
		if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res) {
			blockca_set_err(err, errlen, "%s: no such user `%s` (the service user)", key_path, user);
			return -1;
		}
		uid = res->pw_uid;
		who = user;
	}
	if (stat(key_path, &st) < 0) {
		blockca_set_err(err, errlen, "%s: %s", key_path, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != uid) {
		blockca_set_err(err, errlen, "%s: the CA key belongs to uid %u, neither root nor %s (uid %u): "
			"whoever owns it can read it", key_path, (unsigned)st.st_uid, who, (unsigned)uid);
		return -1;
	}
	return 0;
}

