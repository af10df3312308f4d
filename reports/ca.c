/*
 * ca: `breaktime ca create [--days N] -o DIR` and `breaktime ca check [PATH]`,
 * the block-page CA (config/blockca.h) that breaktimed signs the block
 * page's certificates with when [proxy] block_ca is set. Also the CA part
 * of `breaktime check` (ca_check_configured).
 *
 * The CA permits exactly the catalog's domains and the proxy's
 * visible_hostname, as this configuration loads them, so it is made and
 * checked against the same catalog breaktimed uses.
 *
 * Exit status: 0 done / covered; 1 a problem (the configuration, the CA,
 * or a catalog name the CA does not cover); 2 bad usage.
 */
#include "cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockca.h"
#include "catalog.h"
#include "conf.h"
#include "hostname.h"
#include "policy.h"

#define DEFAULT_DAYS 825u   /* about 27 months: a stolen key stops working in time */
#define LIST_UNCOVERED 20   /* names listed before "and N more" */

static const char ca_usage[] =
	"usage: breaktime ca create [--days N] -o DIR\n"
	"       breaktime ca check [PATH]\n";

static int ca_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "breaktime: ca: %s%s%s%s\n%s", what, arg ? " `" : "", arg ? arg : "",
		arg ? "`" : "", ca_usage);
	return 2;
}

/* The names a CA for this configuration must permit; -1 after a message. */
static long wanted_names(const struct conf *c, char ***names)
{
	long n = blockca_permitted_names(policy_catalog(c->policy), c->proxy.visible_hostname, names);
	if (n < 0)
		fprintf(stderr, "breaktime: out of memory\n");
	return n;
}

static void print_date(const char *label, time_t t)
{
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
	printf("%s%s\n", label, buf);
}

static void print_deploy(const char *cert)
{
	printf("\nClients must trust %s before they see the block page over HTTPS.\n"
	       "Compare the fingerprint a device shows with the one above.\n"
	       "\n"
	       "Debian, Ubuntu (the system store; curl, wget, most programs):\n"
	       "  cp %s /usr/local/share/ca-certificates/breaktime-ca.crt\n"
	       "  update-ca-certificates\n"
	       "Chromium and Firefox keep their own store (NSS), per user:\n"
	       "  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n 'breaktime block-page CA' -i %s\n"
	       "  (package libnss3-tools; Firefox: its profile directory instead of ~/.pki/nssdb,\n"
	       "  or the policy \"Certificates\": {\"ImportEnterpriseRoots\": true} or \"Install\")\n"
	       "\n"
	       "Windows (Group Policy, for every domain computer):\n"
	       "  Group Policy Management > the policy > Computer Configuration > Policies >\n"
	       "  Windows Settings > Security Settings > Public Key Policies >\n"
	       "  Trusted Root Certification Authorities > Import: %s\n"
	       "  (one machine: certutil -addstore -f Root breaktime-ca.pem)\n"
	       "\n"
	       "macOS, iOS, iPadOS (a configuration profile):\n"
	       "  a Certificate payload holding %s, sent by the device\n"
	       "  management (MDM) or made with Apple Configurator; a profile installed by\n"
	       "  hand on iOS also needs Settings > General > About > Certificate Trust\n"
	       "  Settings > full trust. One Mac by hand:\n"
	       "  security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain %s\n"
	       "\n"
	       "Android, ChromeOS (managed devices):\n"
	       "  Google Admin console > Devices > Networks > Certificates: add %s\n"
	       "  and tick \"Chromebook\" and \"Android\" as a certificate authority (or the\n"
	       "  device management's CA certificate policy). Android apps other than the\n"
	       "  browser trust only CAs installed by device policy.\n",
	       cert, cert, cert, cert, cert, cert, cert);
}

static int ca_create(const char *path, int argc, char **argv)
{
	const char *dir = NULL;
	unsigned long days = DEFAULT_DAYS;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--days") == 0) &&
		    i + 1 >= argc)
			return ca_usage_error("create: a value is missing after", a);
		if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
			dir = argv[++i];
		} else if (strcmp(a, "--days") == 0) {
			char *end;
			const char *v = argv[++i];
			days = strtoul(v, &end, 10);
			if (!*v || *end || *v == '-' || days < 1 || days > 36500)
				return ca_usage_error("create: --days is a number of days from 1 to 36500, not", v);
		} else {
			return ca_usage_error("create: unexpected", a);
		}
	}
	if (!dir || !*dir)
		return ca_usage_error("create: give the directory to write to: -o DIR", NULL);

	struct conf *c = cli_load(path);
	if (!c)
		return 1;
	char **names, fp[96], err[1024];
	long n = wanted_names(c, &names);
	int rc = 1;
	if (n < 0)
		goto out;
	if (blockca_create(dir, (const char *const *)names, (size_t)n, (unsigned)days, fp, err,
			   sizeof(err)) < 0) {
		fprintf(stderr, "breaktime: ca create: %s\n", err);
		goto out;
	}
	const char *vh = c->proxy.visible_hostname;
	char norm[HOSTNAME_MAX + 1];
	bool vh_name = hostname_normalise(vh, strlen(vh), norm) == HOST_NAME;
	printf("made the block-page CA, permitting %ld names (the catalog's domains and %s%s):\n"
	       "  certificate: %s/%s (give it to the clients)\n"
	       "  key:         %s/%s (mode 0600: it stays on the gateway)\n"
	       "  fingerprint: SHA-256 %s\n",
	       n, vh_name ? "" : "not visible_hostname ", vh, dir, BLOCKCA_CERT_FILE, dir,
	       BLOCKCA_KEY_FILE, fp);
	if (!vh_name)
		printf("  (%s is an address: a CA names DNS names only)\n", vh);
	print_date("  valid until: ", time(NULL) + (time_t)days * 86400);
	printf("\nIn %s, [proxy]:\n  block_ca = %s/%s\n  block_ca_key = %s/%s\n", path, dir,
	       BLOCKCA_CERT_FILE, dir, BLOCKCA_KEY_FILE);
	if (c->proxy.user)
		printf("and give the key to the service user: chown %s %s/%s\n", c->proxy.user, dir,
		       BLOCKCA_KEY_FILE);
	char cert[4200];
	snprintf(cert, sizeof(cert), "%s/%s", dir, BLOCKCA_CERT_FILE);
	print_deploy(cert);
	rc = 0;
out:
	if (n >= 0)
		blockca_names_free(names, (size_t)n);
	conf_unref(c);
	return rc;
}

/*
 * Which of this configuration's names ca does not permit: printed with
 * `prefix` ("warning: " for check); returns how many.
 */
static size_t report_uncovered(const struct blockca *ca, char **names, size_t n, const char *what,
			       const char *prefix)
{
	const char *first;
	size_t k = blockca_uncovered(ca, (const char *const *)names, n, &first);
	if (!k)
		return 0;
	fprintf(stderr, "%s%s does not cover %zu of the catalog's %zu names: a catalog update may "
		"need a new CA (breaktime ca create, then deploy it):\n", prefix, what, k, n);
	size_t shown = 0;
	for (size_t i = 0; i < n && shown < LIST_UNCOVERED; i++)
		if (!blockca_permits(ca, names[i])) {
			fprintf(stderr, "  %s\n", names[i]);
			shown++;
		}
	if (k > shown)
		fprintf(stderr, "  ... and %zu more\n", k - shown);
	return k;
}

/* Load [proxy] block_ca with its key as breaktimed does; NULL after a message. */
static struct blockca *load_configured(const struct conf *c, const char *prefix)
{
	char err[1024];
	struct blockca *ca = blockca_load(c->proxy.block_ca, c->proxy.block_ca_key, time(NULL), err,
					  sizeof(err));
	if (ca && blockca_key_owner_ok(c->proxy.block_ca_key, c->proxy.user, err, sizeof(err)) < 0) {
		blockca_free(ca);
		ca = NULL;
	}
	if (!ca)
		fprintf(stderr, "%s%s: [proxy] block_ca: %s\n", prefix, c->path, err);
	return ca;
}

int ca_check_configured(const struct conf *c)
{
	if (!c->proxy.block_ca)
		return 0;
	struct blockca *ca = load_configured(c, "");
	if (!ca)
		return -1;
	char **names;
	long n = wanted_names(c, &names);
	if (n > 0) {
		report_uncovered(ca, names, (size_t)n, c->proxy.block_ca, "warning: ");
		blockca_names_free(names, (size_t)n);
	}
	blockca_free(ca);
	return n < 0 ? -1 : 0;
}

static int ca_check(const char *path, int argc, char **argv)
{
	if (argc > 1)
		return ca_usage_error("check: at most one PATH, not", argv[1]);
	if (argc == 1 && argv[0][0] == '-')
		return ca_usage_error("check: unexpected", argv[0]);
	struct conf *c = cli_load(path);
	if (!c)
		return 1;
	char err[1024], fp[96], **names = NULL;
	struct blockca *ca;
	const char *cert = argc ? argv[0] : c->proxy.block_ca;
	int rc = 1;
	long n = -1;

	if (!cert) {
		fprintf(stderr, "breaktime: ca check: %s sets no [proxy] block_ca: give the CA's PATH\n",
			path);
		goto out;
	}
	/* the configured CA with its key, as breaktimed loads it; another alone */
	if (argc == 0)
		ca = load_configured(c, "breaktime: ca check: ");
	else if (!(ca = blockca_load(cert, NULL, time(NULL), err, sizeof(err))))
		fprintf(stderr, "breaktime: ca check: %s\n", err);
	if (!ca)
		goto out;
	if ((n = wanted_names(c, &names)) < 0)
		goto out_ca;
	blockca_fingerprint(ca, fp);
	if (report_uncovered(ca, names, (size_t)n, cert, "breaktime: ca check: ") == 0) {
		printf("%s: covers the catalog (%ld names; the CA permits %zu)\n  fingerprint: SHA-256 %s\n",
		       cert, n, blockca_n_permitted(ca), fp);
		print_date("  valid until: ", blockca_not_after(ca));
		rc = 0;
	}
	blockca_names_free(names, (size_t)n);
out_ca:
	blockca_free(ca);
out:
	conf_unref(c);
	return rc;
}

int cmd_ca(const char *path, int argc, char **argv)
{
	if (argc < 1)
		return ca_usage_error("give create or check", NULL);
	if (strcmp(argv[0], "create") == 0)
		return ca_create(path, argc - 1, argv + 1);
	if (strcmp(argv[0], "check") == 0)
		return ca_check(path, argc - 1, argv + 1);
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		fputs(ca_usage, stdout);
		return 0;
	}
	return ca_usage_error("unknown subcommand", argv[0]);
}
