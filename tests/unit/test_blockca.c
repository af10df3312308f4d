/*
 * Unit tests: the block-page CA (config/blockca.c) — the constraint set
 * derived from a catalog, creating a CA (file modes, no overwrite),
 * loading (refusals), minting for permitted names and refusing the
 * others, and the real `openssl verify` (the openssl program) of a minted
 * leaf, and of leaves forged with the CA's own key outside its
 * constraints, which must fail.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "blockca.h"
#include "catalog.h"
#include "check_run.h"

static char dir[64];
static char cert_path[128], key_path[128];

/* A fresh temporary directory per test (Check forks one process each). */
static void setup(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	ck_assert_int_lt(snprintf(dir, sizeof(dir), "%s/bt-blockca-XXXXXX", tmp), (int)sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cert_path, sizeof(cert_path), "%s/%s", dir, BLOCKCA_CERT_FILE);
	snprintf(key_path, sizeof(key_path), "%s/%s", dir, BLOCKCA_KEY_FILE);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *const NAMES[] = {"facebook.com", "fbcdn.net", "proxy.school.lan", "x.com"};
#define N_NAMES (sizeof(NAMES) / sizeof(NAMES[0]))

static void make_ca(const char *in, char fp[96])
{
	char err[512] = "";
	ck_assert_msg(blockca_create(in, NAMES, N_NAMES, 30, fp, err, sizeof(err)) == 0, "%s", err);
}

static struct blockca *load_ok(void)
{
	char err[512] = "";
	struct blockca *ca = blockca_load(cert_path, key_path, time(NULL), err, sizeof(err));
	ck_assert_msg(ca != NULL, "%s", err);
	return ca;
}

/* blockca_load must refuse, with a message containing want. */
static void load_refused(const char *cert, const char *key, time_t now, const char *want)
{
	char err[512] = "";
	struct blockca *ca = blockca_load(cert, key, now, err, sizeof(err));
	ck_assert_msg(ca == NULL, "loaded, want a refusal with `%s`", want);
	ck_assert_msg(strstr(err, want) != NULL, "error `%s`, want `%s` in it", err, want);
}

static void write_pem_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, x), 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* Run `openssl verify ARGS -CAfile cert_path PEM`; its output goes to out. */
static int openssl_verify(const char *pem, const char *args, char *out, size_t outlen)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "openssl verify %s -CAfile '%s' '%s' 2>&1", args, cert_path, pem);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 127, "cannot run openssl (package openssl)");
	return WEXITSTATUS(st);
}

/* ---- the constraint set ---- */

static struct catalog *small_catalog(void)
{
	struct catalog *cat = catalog_create();
	ck_assert_ptr_nonnull(cat);
	ck_assert_int_eq(catalog_add(cat, "facebook.com", "facebook", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "www.facebook.com", "facebook", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "edge-mqtt.facebook.com", "messenger", "messaging"), 0);
	ck_assert_int_eq(catalog_add(cat, "static.xx.fbcdn.net", "facebook", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "fbcdn.net", "facebook", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "x.com", "x", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "notfacebook.com", "other", "forum"), 0);
	ck_assert_int_eq(catalog_add(cat, "*.Twitter.COM", "x", "social"), 0);
	return cat;
}

static void assert_names(char **got, long n, const char *const *want, size_t nwant)
{
	ck_assert_int_eq(n, (long)nwant);
	for (size_t i = 0; i < nwant; i++)
		ck_assert_str_eq(got[i], want[i]);
}

START_TEST(names_from_catalog)
{
	struct catalog *cat = small_catalog();
	char **v;
	/* www. and edge-mqtt. under facebook.com, static.xx. under fbcdn.net
	 * are dropped; notfacebook.com is not under facebook.com; sorted */
	static const char *const want[] = {"facebook.com", "fbcdn.net", "notfacebook.com",
					   "proxy.school.lan", "twitter.com", "x.com"};
	long n = blockca_permitted_names(cat, "Proxy.School.LAN.", &v);
	assert_names(v, n, want, 6);
	blockca_names_free(v, (size_t)n);

	/* an extra host already covered adds nothing; none at all */
	static const char *const want2[] = {"facebook.com", "fbcdn.net", "notfacebook.com",
					    "twitter.com", "x.com"};
	n = blockca_permitted_names(cat, "www.facebook.com", &v);
	assert_names(v, n, want2, 5);
	blockca_names_free(v, (size_t)n);
	n = blockca_permitted_names(cat, NULL, &v);
	assert_names(v, n, want2, 5);
	blockca_names_free(v, (size_t)n);
	/* an IP literal cannot be a DNS subtree; a single label can */
	n = blockca_permitted_names(cat, "192.168.1.1", &v);
	assert_names(v, n, want2, 5);
	blockca_names_free(v, (size_t)n);
	static const char *const want3[] = {"breaktime", "facebook.com", "fbcdn.net",
					    "notfacebook.com", "twitter.com", "x.com"};
	n = blockca_permitted_names(cat, "breaktime", &v);
	assert_names(v, n, want3, 6);
	blockca_names_free(v, (size_t)n);
	catalog_destroy(cat);

	/* an empty catalog: only the page host */
	cat = catalog_create();
	n = blockca_permitted_names(cat, "proxy.school.lan", &v);
	assert_names(v, n, NAMES + 2, 1);
	blockca_names_free(v, (size_t)n);
	catalog_destroy(cat);
}
END_TEST

/* ---- create ---- */

START_TEST(create_modes_and_no_overwrite)
{
	char fp[96], fp2[96], err[512] = "";
	struct stat st;

	umask(0077); /* the certificate is 0644 whatever the umask */
	make_ca(dir, fp);
	ck_assert_int_eq(stat(key_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(cert_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	ck_assert_uint_eq(strlen(fp), 95);
	ck_assert_int_eq(fp[2], ':');

	/* a second create refuses and leaves both files as they were */
	FILE *f = fopen(cert_path, "r");
	X509 *before = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_int_eq(blockca_create(dir, NAMES, N_NAMES, 30, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "exists") != NULL, "%s", err);
	struct blockca *ca = load_ok();
	ck_assert_int_eq(X509_cmp(before, blockca_cert(ca)), 0);
	blockca_fingerprint(ca, fp2);
	ck_assert_str_eq(fp, fp2);
	blockca_free(ca);
	X509_free(before);

	/* only the key there: refused too, and the key is not replaced */
	ck_assert_int_eq(unlink(cert_path), 0);
	ck_assert_int_eq(blockca_create(dir, NAMES, N_NAMES, 30, NULL, err, sizeof(err)), -1);
	ck_assert_int_ne(access(cert_path, F_OK), 0);

	/* a missing directory is made; its parent must exist */
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/new", dir);
	make_ca(sub, fp);
	snprintf(sub, sizeof(sub), "%s/no/such", dir);
	ck_assert_int_eq(blockca_create(sub, NAMES, N_NAMES, 30, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot create the directory") != NULL, "%s", err);
	/* no names, or no days */
	ck_assert_int_eq(blockca_create(dir, NAMES, 0, 30, NULL, err, sizeof(err)), -1);
	ck_assert_int_eq(blockca_create(dir, NAMES, N_NAMES, 0, NULL, err, sizeof(err)), -1);
}
END_TEST

START_TEST(created_ca_fields)
{
	make_ca(dir, NULL);
	struct blockca *ca = load_ok();
	X509 *x = blockca_cert(ca);
	int crit = -1;

	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	ck_assert_ptr_nonnull(bc);
	ck_assert_int_eq(crit, 1);
	ck_assert(bc->ca);
	ck_assert_int_eq(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	ck_assert_int_eq(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	ck_assert_int_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER);

	NAME_CONSTRAINTS *nc = X509_get_ext_d2i(x, NID_name_constraints, &crit, NULL);
	ck_assert_ptr_nonnull(nc);
	ck_assert_int_eq(crit, 1);
	ck_assert_int_eq(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), (int)N_NAMES);
	for (int i = 0; i < (int)N_NAMES; i++) {
		GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
		ck_assert_int_eq(g->type, GEN_DNS);
		ck_assert_str_eq((const char *)ASN1_STRING_get0_data(g->d.dNSName), NAMES[i]);
	}
	/* every IPv4 and IPv6 address excluded */
	ck_assert_int_eq(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees), 2);
	for (int i = 0; i < 2; i++) {
		GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i)->base;
		ck_assert_int_eq(g->type, GEN_IPADD);
		ck_assert_int_eq(ASN1_STRING_length(g->d.iPAddress), i ? 32 : 8);
	}
	NAME_CONSTRAINTS_free(nc);

	/* ECDSA P-256, valid from about now for 30 days, self-signed */
	EVP_PKEY *pk = X509_get0_pubkey(x);
	ck_assert(EVP_PKEY_is_a(pk, "EC"));
	ck_assert_int_eq(EVP_PKEY_get_bits(pk), 256);
	int days, secs;
	ck_assert(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
	ck_assert_int_eq(days, 30);
	ck_assert_int_eq(X509_verify(x, pk), 1);
	ck_assert_ptr_nonnull(X509_get0_subject_key_id(x));
	blockca_free(ca);
}
END_TEST

/* ---- load ---- */

/* A subtree DNS:name (name may be "", which the config syntax refuses). */
static void push_dns(STACK_OF(GENERAL_SUBTREE) **sk, const char *name)
{
	GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	ck_assert(st && s && ASN1_STRING_set(s, name, (int)strlen(name)));
	GENERAL_NAME_set0_value(st->base, GEN_DNS, s);
	if (!*sk)
		*sk = sk_GENERAL_SUBTREE_new_null();
	ck_assert_int_gt(sk_GENERAL_SUBTREE_push(*sk, st), 0);
}

/* Critical nameConstraints permitting facebook.com, and an empty base on one side. */
static X509_EXTENSION *nc_with_empty_base(bool excluded)
{
	NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
	push_dns(&nc->permittedSubtrees, "facebook.com");
	push_dns(excluded ? &nc->excludedSubtrees : &nc->permittedSubtrees, "");
	X509_EXTENSION *e = X509V3_EXT_i2d(NID_name_constraints, 1, nc);
	NAME_CONSTRAINTS_free(nc);
	ck_assert_ptr_nonnull(e);
	return e;
}

/* A self-signed certificate of key with the given extensions (config
 * strings: test only), and extra (freed) when not NULL. */
static X509 *self_signed(EVP_PKEY *key, const char *bc, const char *nc, X509_EXTENSION *extra)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	time_t now = time(NULL);

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ASN1_TIME_set(X509_getm_notBefore(x), now - 60);
	ASN1_TIME_set(X509_getm_notAfter(x), now + 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	const char *v[2] = {bc, nc};
	int nid[2] = {NID_basic_constraints, NID_name_constraints};
	for (int i = 0; i < 2; i++) {
		if (!v[i])
			continue;
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid[i], v[i]);
		ck_assert_ptr_nonnull(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (extra) {
		X509_add_ext(x, extra, -1);
		X509_EXTENSION_free(extra);
	}
	ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(k);
	return k;
}

START_TEST(load_refusals)
{
	char other[128], other_cert[192], other_key[192], path[192];
	time_t now = time(NULL);

	make_ca(dir, NULL);
	snprintf(other, sizeof(other), "%s/other", dir);
	make_ca(other, NULL);
	snprintf(other_cert, sizeof(other_cert), "%s/%s", other, BLOCKCA_CERT_FILE);
	snprintf(other_key, sizeof(other_key), "%s/%s", other, BLOCKCA_KEY_FILE);

	/* missing files */
	load_refused("/nonexistent/ca.pem", key_path, now, "No such file");
	load_refused(cert_path, "/nonexistent/ca.key", now, "No such file");
	/* a key readable by the group, or by others, or writable by the group */
	static const mode_t loose[] = {0640, 0604, 0620, 0644};
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		ck_assert_int_eq(chmod(key_path, loose[i]), 0);
		load_refused(cert_path, key_path, now, "accessible to group or others");
	}
	ck_assert_int_eq(chmod(key_path, 0400), 0);
	blockca_free(load_ok());
	ck_assert_int_eq(chmod(key_path, 0600), 0);
	/* the key of another CA */
	load_refused(cert_path, other_key, now, "does not match");
	load_refused(other_cert, key_path, now, "does not match");
	/* outside the CA's validity */
	load_refused(cert_path, key_path, now + 31 * 86400, "expired");
	load_refused(cert_path, key_path, now - 2 * 86400, "not valid yet");
	/* the key file given as the certificate, and the other way round */
	load_refused(key_path, key_path, now, "not a PEM certificate");
	ck_assert_int_eq(chmod(cert_path, 0600), 0);
	load_refused(cert_path, cert_path, now, "not a PEM private key");

	/* certificates of the right key that are not a constrained CA */
	EVP_PKEY *key = read_key(key_path);
	static const struct {
		const char *bc, *nc, *want;
	} bad[] = {
		{NULL, "critical,permitted;DNS:facebook.com", "not a CA"},
		{"critical,CA:FALSE", "critical,permitted;DNS:facebook.com", "not a CA"},
		{"critical,CA:TRUE", NULL, "no critical nameConstraints"},
		{"critical,CA:TRUE", "permitted;DNS:facebook.com", "no critical nameConstraints"},
		{"critical,CA:TRUE", "critical,excluded;DNS:bank.test", "no DNS subtree"},
		{"critical,CA:TRUE", "critical,permitted;IP:10.0.0.0/255.0.0.0", "no DNS subtree"},
	};
	snprintf(path, sizeof(path), "%s/bad.pem", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		X509 *x = self_signed(key, bad[i].bc, bad[i].nc, NULL);
		unlink(path);
		write_pem_cert(path, x);
		X509_free(x);
		load_refused(path, key_path, now, bad[i].want);
	}
	/* an empty base would permit (or exclude) every name */
	for (int excl = 0; excl < 2; excl++) {
		X509 *x = self_signed(key, "critical,CA:TRUE", NULL, nc_with_empty_base(excl));
		unlink(path);
		write_pem_cert(path, x);
		X509_free(x);
		load_refused(path, key_path, now, excl ? "exclude every DNS name" : "permit every DNS name");
	}
	/* ... and one that is: loaded */
	X509 *x = self_signed(key, "critical,CA:TRUE", "critical,permitted;DNS:facebook.com", NULL);
	unlink(path);
	write_pem_cert(path, x);
	X509_free(x);
	char err[512] = "";
	struct blockca *ca = blockca_load(path, key_path, now, err, sizeof(err));
	ck_assert_msg(ca != NULL, "%s", err);
	ck_assert(blockca_permits(ca, "www.facebook.com"));
	ck_assert(!blockca_permits(ca, "x.com"));
	blockca_free(ca);
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(key_owner)
{
	char err[512] = "";
	make_ca(dir, NULL);
	if (geteuid() == 0) {
		/* root: a key of root is fine for any service user; one of
		 * another user only when that is the service user */
		ck_assert_int_eq(blockca_key_owner_ok(key_path, NULL, err, sizeof(err)), 0);
		ck_assert_int_eq(blockca_key_owner_ok(key_path, "nobody", err, sizeof(err)), 0);
		ck_assert_int_eq(chown(key_path, 65534, 65534), 0);
		ck_assert_int_eq(blockca_key_owner_ok(key_path, NULL, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "belongs to uid 65534") != NULL, "%s", err);
		ck_assert_int_eq(blockca_key_owner_ok(key_path, "nobody", err, sizeof(err)), 0);
		ck_assert_int_eq(blockca_key_owner_ok(key_path, "root", err, sizeof(err)), -1);
	} else {
		ck_assert_int_eq(blockca_key_owner_ok(key_path, NULL, err, sizeof(err)), 0);
		ck_assert_int_eq(blockca_key_owner_ok(key_path, "root", err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "neither root nor root") != NULL, "%s", err);
	}
	ck_assert_int_eq(blockca_key_owner_ok(key_path, "no-such-user-bt", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no such user") != NULL, "%s", err);
}
END_TEST

/* ---- permits and mint ---- */

START_TEST(permits)
{
	make_ca(dir, NULL);
	struct blockca *ca = load_ok();
	static const char *const yes[] = {
		"facebook.com", "www.facebook.com", "a.b.c.facebook.com", "fbcdn.net",
		"scontent-lhr8-1.xx.fbcdn.net", "proxy.school.lan", "x.com", "api.x.com",
	};
	static const char *const no[] = {
		"notfacebook.com", "facebook.com.evil.test", "www.examplebank.test", "com",
		"school.lan", "xx.com", "192.0.2.1", "::1", "2001:db8::1", "WWW.FACEBOOK.COM",
		"www.facebook.com.", "", "face book.com", "*.facebook.com",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(blockca_permits(ca, yes[i]), "%s not permitted", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!blockca_permits(ca, no[i]), "%s permitted", no[i]);
	ck_assert(!blockca_permits(ca, NULL));

	const char *first = NULL;
	const char *names[] = {"facebook.com", "tiktok.com", "x.com", "bsky.app"};
	ck_assert_uint_eq(blockca_uncovered(ca, names, 4, &first), 2);
	ck_assert_str_eq(first, "tiktok.com");
	ck_assert_uint_eq(blockca_uncovered(ca, names, 1, &first), 0);
	ck_assert_ptr_null(first);
	ck_assert_uint_eq(blockca_n_permitted(ca), N_NAMES);
	ck_assert(blockca_not_after(ca) > time(NULL) + 29 * 86400);
	blockca_free(ca);

	/* the certificate alone (no key): checks work, minting does not */
	char err[512] = "";
	ck_assert_int_eq(chmod(key_path, 0644), 0); /* not even looked at */
	ca = blockca_load(cert_path, NULL, time(NULL), err, sizeof(err));
	ck_assert_msg(ca != NULL, "%s", err);
	ck_assert(blockca_permits(ca, "www.facebook.com"));
	ck_assert_uint_eq(blockca_uncovered(ca, names, 4, &first), 2);
	ck_assert_ptr_null(blockca_mint(ca, "www.facebook.com", time(NULL)));
	ck_assert_ptr_null(blockca_leaf_key(ca));
	blockca_free(ca);
}
END_TEST

static bool san_is(X509 *x, const char *host, int *crit)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, crit, NULL);
	bool ok = gens && sk_GENERAL_NAME_num(gens) == 1 &&
		  sk_GENERAL_NAME_value(gens, 0)->type == GEN_DNS &&
		  strcmp((const char *)ASN1_STRING_get0_data(sk_GENERAL_NAME_value(gens, 0)->d.dNSName),
			 host) == 0;
	GENERAL_NAMES_free(gens);
	return ok;
}

START_TEST(mint_permitted)
{
	make_ca(dir, NULL);
	struct blockca *ca = load_ok();
	time_t now = time(NULL);
	const char *host = "www.facebook.com";
	X509 *x = blockca_mint(ca, host, now);
	int crit = -1;
	char cn[128];

	ck_assert_ptr_nonnull(x);
	ck_assert(san_is(x, host, &crit));
	ck_assert_int_eq(crit, 0);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
						   sizeof(cn)), 0);
	ck_assert_str_eq(cn, host);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(blockca_cert(ca))), 0);
	ck_assert_int_eq(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), now - 3600), 0);
	ck_assert_int_eq(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), now - 3600 + BLOCKCA_LEAF_VALID_S), 0);
	ck_assert_int_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	ck_assert_int_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	ck_assert_int_eq(X509_check_ca(x), 0);
	ck_assert_int_eq(X509_check_host(x, host, 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_host(x, "facebook.com", 0, 0, NULL), 0);
	ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(blockca_cert(ca))), 1);
	ck_assert_int_eq(X509_check_issued(blockca_cert(ca), x), X509_V_OK);
	/* the shared leaf key is the pair of the certificate's public key, as TLS uses them */
	ck_assert_int_eq(X509_check_private_key(x, blockca_leaf_key(ca)), 1);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, x), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, blockca_leaf_key(ca)), 1);
	ck_assert_int_eq(SSL_CTX_check_private_key(ctx), 1);
	SSL_CTX_free(ctx);

	/* a fresh serial per leaf, one key for all */
	X509 *y = blockca_mint(ca, host, now);
	ck_assert_ptr_nonnull(y);
	ck_assert_int_ne(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)), 0);
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(y)), 1);
	X509_free(y);
	X509_free(x);

	/* a host too long for a CN: the SAN alone, critical */
	const char *longhost = "a-very-long-label-that-goes-on-and-on.and-another-long-one.fbcdn.net";
	ck_assert_uint_gt(strlen(longhost), 64);
	x = blockca_mint(ca, longhost, now);
	ck_assert_ptr_nonnull(x);
	ck_assert(san_is(x, longhost, &crit));
	ck_assert_int_eq(crit, 1);
	ck_assert_int_eq(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	ck_assert_int_eq(X509_check_host(x, longhost, 0, 0, NULL), 1);
	X509_free(x);

	/* leaves end no later than the CA (30 days here) */
	x = blockca_mint(ca, host, now + 29 * 86400);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_le(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(blockca_cert(ca))), 0);
	X509_free(x);
	blockca_free(ca);
}
END_TEST

START_TEST(mint_refused)
{
	make_ca(dir, NULL);
	struct blockca *ca = load_ok();
	static const char *const no[] = {
		"www.examplebank.test", "notfacebook.com", "facebook.com.evil.test", "192.0.2.1",
		"10.0.0.1", "::1", "WWW.FACEBOOK.COM", "", "*.facebook.com",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(blockca_mint(ca, no[i], time(NULL)) == NULL, "minted %s", no[i]);
	ck_assert_ptr_null(blockca_mint(ca, NULL, time(NULL)));
	ck_assert_ptr_null(blockca_mint(NULL, "facebook.com", time(NULL)));
	blockca_free(ca);
}
END_TEST

/* ---- openssl verify ---- */

START_TEST(openssl_verifies_minted_leaf)
{
	char out[2048], pem[192];
	make_ca(dir, NULL);
	struct blockca *ca = load_ok();
	static const char *const hosts[] = {"www.facebook.com", "facebook.com", "proxy.school.lan",
					    "scontent-lhr8-1.xx.fbcdn.net"};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		X509 *x = blockca_mint(ca, hosts[i], time(NULL));
		ck_assert_ptr_nonnull(x);
		snprintf(pem, sizeof(pem), "%s/leaf%zu.pem", dir, i);
		write_pem_cert(pem, x);
		X509_free(x);
		char args[320];
		snprintf(args, sizeof(args), "-x509_strict -purpose sslserver -verify_hostname %s", hosts[i]);
		int rc = openssl_verify(pem, args, out, sizeof(out));
		ck_assert_msg(rc == 0 && strstr(out, ": OK") != NULL, "openssl verify (%d): %s", rc, out);
	}
	blockca_free(ca);
}
END_TEST

/* A leaf signed with the CA's key directly, bypassing blockca_mint. */
static X509 *forge(struct blockca *ca, EVP_PKEY *ca_key, const char *cn, const char *san)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	time_t now = time(NULL);

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 99);
	X509_set_issuer_name(x, X509_get_subject_name(blockca_cert(ca)));
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	ASN1_TIME_set(X509_getm_notBefore(x), now - 60);
	ASN1_TIME_set(X509_getm_notAfter(x), now + 86400);
	X509_set_pubkey(x, blockca_leaf_key(ca));
	X509V3_set_ctx(&ctx, blockca_cert(ca), x, NULL, NULL, 0);
	if (san) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		ck_assert_ptr_nonnull(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	ck_assert_int_gt(X509_sign(x, ca_key, EVP_sha256()), 0);
	return x;
}

START_TEST(openssl_refuses_forged_leaf)
{
	char out[2048], pem[192];
	make_ca(dir, NULL);
	struct blockca *ca = load_ok();
	EVP_PKEY *ca_key = read_key(key_path);
	static const struct {
		const char *cn, *san, *want;
	} forged[] = {
		{"www.examplebank.test", "DNS:www.examplebank.test", "permitted subtree violation"},
		{"notfacebook.com", "DNS:notfacebook.com", "permitted subtree violation"},
		/* no SAN: OpenSSL holds the CN, when it looks like a host name, to
		 * the constraints (with a DNS SAN it reads the SAN alone) */
		{"www.examplebank.test", NULL, "permitted subtree violation"},
		/* IP addresses: excluded outright */
		{"bank", "IP:192.0.2.1", "excluded subtree violation"},
		{"bank", "IP:2001:db8::1", "excluded subtree violation"},
	};
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		X509 *x = forge(ca, ca_key, forged[i].cn, forged[i].san);
		/* the signature itself is good: only the constraints stop it */
		ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(blockca_cert(ca))), 1);
		snprintf(pem, sizeof(pem), "%s/forged%zu.pem", dir, i);
		write_pem_cert(pem, x);
		X509_free(x);
		int rc = openssl_verify(pem, "", out, sizeof(out));
		ck_assert_msg(rc != 0 && strstr(out, forged[i].want) != NULL,
			      "%s: openssl verify (%d), want `%s`: %s", forged[i].cn, rc, forged[i].want, out);
	}
	/* the same forgery inside the constraints passes: the test can tell */
	X509 *x = forge(ca, ca_key, "m.facebook.com", "DNS:m.facebook.com");
	snprintf(pem, sizeof(pem), "%s/inside.pem", dir);
	write_pem_cert(pem, x);
	X509_free(x);
	int rc = openssl_verify(pem, "", out, sizeof(out));
	ck_assert_msg(rc == 0, "openssl verify (%d): %s", rc, out);
	EVP_PKEY_free(ca_key);
	blockca_free(ca);
}
END_TEST

/* ---- threads ---- */

struct mint_job {
	struct blockca *ca;
	int id, ok;
};

static void *mint_many(void *arg)
{
	struct mint_job *j = arg;
	char host[64];
	for (int i = 0; i < 200; i++) {
		snprintf(host, sizeof(host), "t%d-%d.fbcdn.net", j->id, i);
		X509 *x = blockca_mint(j->ca, host, time(NULL));
		if (x && X509_verify(x, X509_get0_pubkey(blockca_cert(j->ca))) == 1 &&
		    X509_check_host(x, host, 0, 0, NULL) == 1)
			j->ok++;
		X509_free(x);
	}
	return NULL;
}

START_TEST(mint_from_threads)
{
	make_ca(dir, NULL);
	struct blockca *ca = load_ok();
	pthread_t t[4];
	struct mint_job jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct mint_job){ca, i, 0};
		ck_assert_int_eq(pthread_create(&t[i], NULL, mint_many, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(jobs[i].ok, 200);
	}
	blockca_free(ca);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("blockca");
	TCase *tc = tcase_create("blockca");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, names_from_catalog);
	tcase_add_test(tc, create_modes_and_no_overwrite);
	tcase_add_test(tc, created_ca_fields);
	tcase_add_test(tc, load_refusals);
	tcase_add_test(tc, key_owner);
	tcase_add_test(tc, permits);
	tcase_add_test(tc, mint_permitted);
	tcase_add_test(tc, mint_refused);
	tcase_add_test(tc, openssl_verifies_minted_leaf);
	tcase_add_test(tc, openssl_refuses_forged_leaf);
	tcase_add_test(tc, mint_from_threads);
	suite_add_tcase(s, tc);
	return check_run(s);
}
