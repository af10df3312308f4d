/*
 * blockca_internal: what blockca.c and blockca_create.c share (only they
 * include this). Helpers over OpenSSL objects; none keeps state.
 */
#ifndef BREAKTIME_BLOCKCA_INTERNAL_H
#define BREAKTIME_BLOCKCA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* snprintf into err (when err is not NULL). */
void blockca_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The newest OpenSSL error as text in buf (and the queue emptied). */
const char *blockca_ssl_reason(char *buf, size_t len);
/* strcmp for qsort/bsearch over char *; s in the sorted v[0..n)? */
int blockca_cmp_str(const void *a, const void *b);
bool blockca_in_sorted(char *const *v, size_t n, const char *s);

/* A new P-256 key pair (provider-native with OpenSSL 3). */
EVP_PKEY *blockca_p256_key(void);
/* A random positive 16-byte serial number into x. 0 or -1. */
int blockca_random_serial(X509 *x);
/* Extensions, encoded: basicConstraints (critical; CA: pathlen 0),
 * keyUsage (critical) with the given bit numbers, extendedKeyUsage
 * serverAuth. NULL when out of memory. */
X509_EXTENSION *blockca_ext_basic_constraints(bool ca);
X509_EXTENSION *blockca_ext_key_usage(const int *bits, size_t n);
X509_EXTENSION *blockca_ext_server_auth(void);
/* Add e to x and free e (NULL e: -1). 0 or -1. */
int blockca_add_ext(X509 *x, X509_EXTENSION *e);
/* "AA:BB:..." SHA-256 of x. */
void blockca_format_fp(const X509 *x, char fp[96]);

#endif
