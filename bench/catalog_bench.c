/*
 * catalog_bench: how fast the platform catalog (config/catalog.c) loads a
 * large domain list and classifies host names, on one thread.
 *
 *   catalog_bench PLATFORMS_LIST DOMAIN_LIST [LOOKUPS]
 *
 * Loads the shipped platforms.list, then DOMAIN_LIST (one domain per line,
 * as bench/catalog.sh generates it) three times into a fresh catalog and
 * reports the best time (the machine may be shared). Then it looks up
 * LOOKUPS names (default 50 million) in two seeded mixes:
 *
 *   gateway   what a proxy sees: a population of 50,000 distinct host names
 *             (35% hosts of the shipped platforms as clients send them: CDN
 *             shards, API hosts, short links; 10% names under domains of
 *             DOMAIN_LIST; 25% popular unlisted sites; 30% random unlisted
 *             names), asked for with Zipf-distributed popularity (s = 1):
 *             a few names very often, most rarely.
 *   uniform   the worst case: a million names, each asked for equally often
 *             (30% platforms, 20% DOMAIN_LIST, 50% unlisted), so nearly
 *             every lookup of a listed or random name goes to main memory.
 *
 * Names are normalised beforehand: the proxy normalises once per request,
 * the catalog is what is measured. Rates are per CPU-second of this thread
 * (CLOCK_THREAD_CPUTIME_ID), with the wall-clock rate beside them: on a
 * shared machine the first says what one core does when it is ours.
 * bench/catalog.sh pins this to one core with taskset.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "hostname.h"

#define QUERIES (1u << 20)

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	/* xorshift64*: fixed seed, so every run asks the same questions */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock time, and this thread's CPU time: on a shared machine the
 * second says what one core can do when it is not taken away from us. */
static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static double cpu(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void fatal_errors(const char *what, struct conf_errors *e)
{
	fprintf(stderr, "catalog_bench: loading %s failed:\n", what);
	conf_errors_print(e, stderr);
	exit(1);
}

/* Shipped-platform hosts; %u is replaced by a random number. */
static const char *const platform_hosts[] = {
	"www.facebook.com", "m.facebook.com", "scontent-lhr%u-1.xx.fbcdn.net",
	"static.xx.fbcdn.net", "video-lhr%u-1.xx.fbcdn.net", "graph.facebook.com",
	"edge-mqtt.facebook.com", "connect.facebook.net",
	"www.instagram.com", "i.instagram.com", "scontent-lhr%u-2.cdninstagram.com",
	"web.whatsapp.com", "mmg.whatsapp.net", "media-lhr%u-1.cdn.whatsapp.net",
	"www.tiktok.com", "v16-webapp.tiktok.com", "p16-sign-va.tiktokcdn.com",
	"v%u-webapp-prime.tiktok.com", "api16-normal-c-useast%ua.tiktokv.com",
	"x.com", "api.x.com", "pbs.twimg.com", "video.twimg.com", "abs.twimg.com", "t.co",
	"www.youtube.com", "i.ytimg.com", "i%u.ytimg.com", "rr%u---sn-aigl6nze.googlevideo.com",
	"youtubei.googleapis.com", "yt3.ggpht.com", "youtu.be",
	"www.reddit.com", "i.redd.it", "v.redd.it", "www.redditstatic.com",
	"www.linkedin.com", "media.licdn.com", "static.licdn.com",
	"www.snapchat.com", "cf-st.sc-cdn.net", "i.pinimg.com", "www.pinterest.co.uk",
	"discord.com", "cdn.discordapp.com", "gateway.discord.gg", "media.discordapp.net",
	"web.telegram.org", "t.me", "bsky.app", "cdn.bsky.app", "mastodon.social",
	"www.twitch.tv", "video-weaver.lhr%u.hls.ttvnw.net", "static-cdn.jtvnw.net",
	"%u.media.tumblr.com", "i.imgur.com", "sun9-%u.userapi.com", "wx%u.sinaimg.cn",
};

/* Popular hosts that are not social platforms. */
static const char *const other_hosts[] = {
	"www.google.com", "fonts.gstatic.com", "fonts.googleapis.com", "www.gstatic.com",
	"lh3.googleusercontent.com", "www.bbc.co.uk", "login.microsoftonline.com",
	"outlook.office365.com", "github.com", "objects.githubusercontent.com",
	"en.wikipedia.org", "upload.wikimedia.org", "www.amazon.co.uk",
	"d%u.cloudfront.net", "a%u.e.akamai.net", "cdn.jsdelivr.net", "classroom.google.com",
	"teams.microsoft.com", "zoom.us", "www.gov.uk", "update.googleapis.com",
	"ocsp.digicert.com", "clients4.google.com", "safebrowsing.googleapis.com",
};

static const char *const tlds[] = {
	"com", "com", "com", "net", "org", "de", "fr", "co.uk", "ru", "info", "io", "nl",
};

static char *pool;
static size_t pool_used, pool_size;

static const char *keep(const char *s)
{
	size_t n = strlen(s) + 1;

	if (pool_used + n > pool_size) {
		fprintf(stderr, "catalog_bench: query pool full\n");
		exit(1);
	}
	char *p = pool + pool_used;
	memcpy(p, s, n);
	pool_used += n;
	return p;
}

/* A pattern with at most one %u, filled with a small random number. */
static const char *expand(const char *pattern)
{
	char raw[HOSTNAME_MAX + 1], norm[HOSTNAME_MAX + 1];
	const char *hole = strstr(pattern, "%u");

	if (hole)
		snprintf(raw, sizeof(raw), "%.*s%u%s", (int)(hole - pattern), pattern,
			 (unsigned)(rnd() % 40 + 1), hole + 2);
	else
		snprintf(raw, sizeof(raw), "%s", pattern);
	if (hostname_normalise(raw, strlen(raw), norm) == HOST_INVALID) {
		fprintf(stderr, "catalog_bench: bad pattern %s\n", pattern);
		exit(1);
	}
	return keep(norm);
}

/* The listed domains, to ask about names under them. */
static char **read_list(const char *path, size_t *n)
{
	char line[512];
	size_t cap = 1 << 20, count = 0;
	char **v = malloc(cap * sizeof(*v));
	FILE *f = fopen(path, "r");

	if (!f || !v) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");
		s[strcspn(s, " \t\r\n#")] = '\0';
		if (!*s)
			continue;
		if (count == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				exit(1);
		}
		v[count++] = strdup(s);
	}
	fclose(f);
	*n = count;
	return v;
}

static char **list;
static size_t n_list;

enum class { PLATFORM, LISTED, POPULAR, RANDOM };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *make_name(enum class c)
{
	static const char *const prefix[] = {"", "www.", "m.", "cdn.", "img.static."};
	char name[HOSTNAME_MAX + 1];

	switch (c) {
	case PLATFORM:
		return expand(platform_hosts[rnd() % COUNT(platform_hosts)]);
	case LISTED:
		snprintf(name, sizeof(name), "%s%s", prefix[rnd() % COUNT(prefix)],
			 list[rnd() % n_list]);
		return keep(name);
	case POPULAR:
		return expand(other_hosts[rnd() % COUNT(other_hosts)]);
	case RANDOM:
	default:
		/* '-' never occurs in the generated list, so these are not listed */
		snprintf(name, sizeof(name), "%ssite-%llu.%s", rnd() % 2 ? "www." : "",
			 (unsigned long long)(rnd() % 100000000), tlds[rnd() % COUNT(tlds)]);
		return keep(name);
	}
}

/* A class by percentages {platform, listed, popular} (random: the rest). */
static enum class pick(const unsigned pct[3])
{
	unsigned r = (unsigned)(rnd() % 100);

	if (r < pct[0])
		return PLATFORM;
	if (r < pct[0] + pct[1])
		return LISTED;
	if (r < pct[0] + pct[1] + pct[2])
		return POPULAR;
	return RANDOM;
}

static void run(const char *label, const struct catalog *cat, const char **queries, size_t n,
		size_t distinct, unsigned long long lookups)
{
	size_t hits = 0;

	for (size_t i = 0; i < n; i++) /* warm up, and count the hits of the mix */
		hits += catalog_lookup(cat, queries[i]) != NULL;
	double t0 = now(), c0 = cpu();
	unsigned long long done = 0;
	size_t sum = 0;
	while (done < lookups)
		for (size_t i = 0; i < n && done < lookups; i++, done++)
			sum += catalog_lookup(cat, queries[i]) != NULL;
	double t1 = now(), c1 = cpu();
	double rate = (double)done / (c1 - c0);
	printf("%-8s  %zu distinct names, %.1f%% hits: %llu lookups in %.2f s CPU: "
	       "%.2f M lookups/s, %.1f ns each (wall clock: %.2f M/s) [%zu]\n",
	       label, distinct, 100.0 * (double)hits / (double)n, done, c1 - c0, rate / 1e6,
	       1e9 / rate, (double)done / (t1 - t0) / 1e6, sum);
}

int main(int argc, char **argv)
{
	struct conf_errors errs = {0};
	unsigned long long lookups = 50000000ULL;
	struct catalog *cat = NULL;
	double best_wall = 1e9, best_cpu = 1e9;
	size_t shipped = 0, n_platforms = 0;
	long rss_delta = 0;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s PLATFORMS_LIST DOMAIN_LIST [LOOKUPS]\n", argv[0]);
		return 2;
	}
	if (argc == 4)
		lookups = strtoull(argv[3], NULL, 10);

	for (int round = 0; round < 3; round++) {
		catalog_destroy(cat);
		cat = catalog_create();
		double t0 = now();
		if (catalog_load_platforms(cat, argv[1], &errs) < 0)
			fatal_errors(argv[1], &errs);
		double t1 = now();
		if (round == 0) {
			shipped = catalog_size(cat);
			n_platforms = catalog_platforms(cat, NULL, 0);
			printf("shipped   %zu platforms, %zu domains, loaded in %.2f ms\n", n_platforms,
			       shipped, (t1 - t0) * 1e3);
		}
		long rss0 = rss_kib();
		double t2 = now(), c2 = cpu();
		if (catalog_load_list(cat, argv[2], "bench_list", "social", &errs) < 0)
			fatal_errors(argv[2], &errs);
		double t3 = now(), c3 = cpu();
		rss_delta = rss_kib() - rss0;
		if (t3 - t2 < best_wall)
			best_wall = t3 - t2;
		if (c3 - c2 < best_cpu)
			best_cpu = c3 - c2;
	}
	size_t listed = catalog_size(cat) - shipped;
	printf("list      %zu domains loaded in %.3f s CPU, %.3f s wall (best of 3; "
	       "%.2f M domains/s), +%.0f MiB RSS\n", listed, best_cpu, best_wall,
	       (double)listed / best_cpu / 1e6, (double)rss_delta / 1024.0);

	list = read_list(argv[2], &n_list);
	pool_size = (size_t)QUERIES * 96;
	pool = malloc(pool_size);
	const char **queries = malloc(QUERIES * sizeof(*queries));
	if (!pool || !queries || n_list == 0)
		return 1;

	/* gateway: Zipf-distributed requests over a population of names */
	enum { POPULATION = 50000 };
	static const unsigned gateway_pct[3] = {35, 10, 25};
	const char **population = malloc(POPULATION * sizeof(*population));
	double *cdf = malloc(POPULATION * sizeof(*cdf));
	if (!population || !cdf)
		return 1;
	double total = 0;
	for (size_t k = 0; k < POPULATION; k++) {
		population[k] = make_name(pick(gateway_pct));
		total += 1.0 / (double)(k + 1);
		cdf[k] = total;
	}
	for (size_t i = 0; i < QUERIES; i++) {
		double u = (double)(rnd() >> 11) / 9007199254740992.0 * total;
		size_t lo = 0, hi = POPULATION - 1;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* a copy in sequence: the proxy has the name in the buffer it just
		 * parsed, so reading it should not be what is measured */
		queries[i] = keep(population[lo]);
	}
	run("gateway", cat, queries, QUERIES, POPULATION, lookups);

	/* uniform: every name different, the caches of little use */
	static const unsigned uniform_pct[3] = {30, 20, 20};
	for (size_t i = 0; i < QUERIES; i++)
		queries[i] = make_name(pick(uniform_pct));
	run("uniform", cat, queries, QUERIES, QUERIES, lookups);

	for (size_t i = 0; i < n_list; i++)
		free(list[i]);
	free(list);
	free(population);
	free(cdf);
	catalog_destroy(cat);
	free(pool);
	free(queries);
	conf_errors_free(&errs);
	return 0;
}
