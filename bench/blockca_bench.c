/*
 * blockca_bench: leaf certificates minted per CPU-second (goal >= 5,000).
 *
 *   blockca_bench [N]     (default 20000)
 *
 * Makes a CA in a temporary directory (removed again) for a one-domain
 * catalog, loads it as breaktimed does, then mints N leaves for N distinct
 * names under that domain on one thread, each freed at once (as the
 * proxy's cache would evict them). Prints the CPU time of the minting
 * alone (getrusage: user + system) and the rate. The first leaf of each
 * run is checked against the CA (X509_verify) so a broken build cannot
 * report a number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "blockca.h"
#include "catalog.h"

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
	char dir[] = "/tmp/blockca-bench-XXXXXX", err[512], host[64], path[2][128];
	const char *names[] = {"bench.test"};

	if (n == 0 || !mkdtemp(dir)) {
		fprintf(stderr, "usage: blockca_bench [N > 0]\n");
		return 2;
	}
	snprintf(path[0], sizeof(path[0]), "%s/%s", dir, BLOCKCA_CERT_FILE);
	snprintf(path[1], sizeof(path[1]), "%s/%s", dir, BLOCKCA_KEY_FILE);
	int rc = 1;
	struct blockca *ca = NULL;
	if (blockca_create(dir, names, 1, 30, NULL, err, sizeof(err)) < 0 ||
	    !(ca = blockca_load(path[0], path[1], time(NULL), err, sizeof(err)))) {
		fprintf(stderr, "blockca_bench: %s\n", err);
		goto out;
	}
	time_t now = time(NULL);
	double t0 = cpu_seconds();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "h%lu.bench.test", i);
		X509 *x = blockca_mint(ca, host, now);
		if (!x || (i == 0 && X509_verify(x, X509_get0_pubkey(blockca_cert(ca))) != 1)) {
			fprintf(stderr, "blockca_bench: minting %s failed\n", host);
			X509_free(x);
			goto out;
		}
		X509_free(x);
	}
	double cpu = cpu_seconds() - t0;
	printf("minted %lu leaves in %.3f CPU-s: %.0f leaves per CPU-second (%.1f us each)\n", n, cpu,
	       cpu > 0 ? (double)n / cpu : 0.0, cpu * 1e6 / (double)n);
	rc = 0;
out:
	blockca_free(ca);
	unlink(path[0]);
	unlink(path[1]);
	rmdir(dir);
	return rc;
}
