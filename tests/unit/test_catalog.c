/*
 * Unit tests: the platform catalog (config/catalog.c) — suffix matching on
 * label boundaries, lookalikes, normalisation, most specific wins, IP
 * literals, both list formats and their errors, the platform-file format,
 * registrable domains, and the shipped config/platforms.list.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "hostname.h"

#ifndef BT_SOURCE_ROOT
#error "BT_SOURCE_ROOT must name the source tree (tests/meson.build defines it)"
#endif
#define PLATFORMS_LIST BT_SOURCE_ROOT "/config/platforms.list"

/* Normalise raw as the proxy does, then look it up. NULL for invalid names. */
static const struct catalog_entry *classify(const struct catalog *cat, const char *raw)
{
	char norm[HOSTNAME_MAX + 1];

	if (hostname_normalise(raw, strlen(raw), norm) == HOST_INVALID)
		return NULL;
	return catalog_lookup(cat, norm);
}

/* A temporary file holding text; the caller unlinks it. */
static char *write_tmp(const char *text)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path;

	ck_assert_int_gt(asprintf(&path, "%s/bt-catalog-XXXXXX", dir), 0);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static void assert_errors(const struct conf_errors *e, const char *path, const unsigned *lines,
			  size_t n)
{
	ck_assert_msg(e->n == n, "%zu errors, want %zu (first: %s)", e->n, n,
		      e->n ? e->msgs[0] : "-");
	for (size_t i = 0; i < n; i++) {
		char prefix[512];
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path, lines[i]);
		ck_assert_msg(strncmp(e->msgs[i], prefix, strlen(prefix)) == 0,
			      "error %zu is '%s', want it to start with '%s'", i, e->msgs[i], prefix);
	}
}

/* ---- matching ---- */

static struct catalog *fixture(void)
{
	static const struct {
		const char *domain, *platform, *category;
	} adds[] = {
		{"facebook.com", "facebook", "social"},
		{"fbcdn.net", "facebook", "social"},
		{"edge-mqtt.facebook.com", "messenger", "messaging"},
		{"t.co", "x", "social"},
		{"youtube.com", "youtube", "video"},
		{"googlevideo.com", "youtube", "video"},
		{"example.co.uk", "example", "social"},
		{"a.b.c.deep.example", "deep", "social"},
		{"deep.example", "shallow", "social"},
	};
	struct catalog *cat = catalog_create();

	ck_assert_ptr_nonnull(cat);
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++)
		ck_assert_int_eq(catalog_add(cat, adds[i].domain, adds[i].platform, adds[i].category), 0);
	ck_assert_uint_eq(catalog_size(cat), sizeof(adds) / sizeof(adds[0]));
	return cat;
}

static const struct {
	const char *host;     /* as a client might send it */
	const char *platform; /* NULL: not listed */
	const char *domain;   /* the suffix that matched */
} match_cases[] = {
	/* suffix on label boundaries */
	{"facebook.com", "facebook", "facebook.com"},
	{"www.facebook.com", "facebook", "facebook.com"},
	{"a.b.c.www.facebook.com", "facebook", "facebook.com"},
	{"scontent-lhr8-1.xx.fbcdn.net", "facebook", "fbcdn.net"},
	{"t.co", "x", "t.co"},
	{"www.example.co.uk", "example", "example.co.uk"},
	/* normalisation: case, trailing dot, port */
	{"WWW.FaceBook.COM", "facebook", "facebook.com"},
	{"www.facebook.com.", "facebook", "facebook.com"},
	{"www.facebook.com:443", "facebook", "facebook.com"},
	{"M.FACEBOOK.COM.:8080", "facebook", "facebook.com"},
	/* lookalikes */
	{"notfacebook.com", NULL, NULL},
	{"xfacebook.com", NULL, NULL},
	{"acebook.com", NULL, NULL},
	{"facebook.com.evil.net", NULL, NULL},
	{"www.facebook.com.example.net", NULL, NULL},
	{"facebook.co", NULL, NULL},
	{"facebook.comx", NULL, NULL},
	{"facebook", NULL, NULL},
	{"com", NULL, NULL},
	{"fbcdn.net.evil.com", NULL, NULL},
	{"at.co", NULL, NULL},
	{"t.com", NULL, NULL},
	{"t.co.uk", NULL, NULL},
	{"co.uk", NULL, NULL},
	{"other.co.uk", NULL, NULL},
	/* the most specific suffix wins */
	{"edge-mqtt.facebook.com", "messenger", "edge-mqtt.facebook.com"},
	{"x.edge-mqtt.facebook.com", "messenger", "edge-mqtt.facebook.com"},
	{"dge-mqtt.facebook.com", "facebook", "facebook.com"},
	{"xedge-mqtt.facebook.com", "facebook", "facebook.com"},
	{"z.a.b.c.deep.example", "deep", "a.b.c.deep.example"},
	{"a.b.c.deep.example", "deep", "a.b.c.deep.example"},
	{"b.c.deep.example", "shallow", "deep.example"},
	{"c.deep.example", "shallow", "deep.example"},
	{"deep.example", "shallow", "deep.example"},
	{"eep.example", NULL, NULL},
	/* IP literals never match */
	{"157.240.1.35", NULL, NULL},
	{"157.240.1.35:443", NULL, NULL},
	{"[2a03:2880:f003:c07:face:b00c::2]:443", NULL, NULL},
	{"2a03:2880::1", NULL, NULL},
	/* invalid names */
	{"face book.com", NULL, NULL},
	{"", NULL, NULL},
	{".facebook.com", NULL, NULL},
};

START_TEST(test_match)
{
	struct catalog *cat = fixture();
	const char *host = match_cases[_i].host;
	const struct catalog_entry *e = classify(cat, host);

	if (!match_cases[_i].platform) {
		ck_assert_msg(e == NULL, "%s: matched %s (%s), want no match", host,
			      e ? e->platform : "", e ? e->domain : "");
	} else {
		ck_assert_msg(e != NULL, "%s: no match, want %s", host, match_cases[_i].platform);
		ck_assert_str_eq(e->platform, match_cases[_i].platform);
		ck_assert_str_eq(e->domain, match_cases[_i].domain);
	}
	catalog_destroy(cat);
}
END_TEST

START_TEST(test_lookup_contract)
{
	struct catalog *cat = fixture();
	char host[HOSTNAME_MAX + 2];

	/* lookup takes normalised names only: the caller normalises */
	ck_assert_ptr_null(catalog_lookup(cat, "WWW.FACEBOOK.COM"));
	ck_assert_ptr_null(catalog_lookup(cat, NULL));
	ck_assert_ptr_null(catalog_lookup(NULL, "facebook.com"));
	/* the longest names work, one label at a time */
	memset(host, 0, sizeof(host));
	while (strlen(host) + 2 + strlen("facebook.com") <= HOSTNAME_MAX)
		strcat(host, "a.");
	strcat(host, "facebook.com");
	ck_assert_str_eq(catalog_lookup(cat, host)->platform, "facebook");
	memset(host, 'a', HOSTNAME_MAX + 1);
	host[HOSTNAME_MAX + 1] = '\0';
	ck_assert_ptr_null(catalog_lookup(cat, host));
	/* platforms and categories are interned: compare by pointer */
	const struct catalog_entry *a = catalog_lookup(cat, "www.facebook.com");
	const struct catalog_entry *b = catalog_lookup(cat, "x.fbcdn.net");
	ck_assert_ptr_eq(a->platform, b->platform);
	ck_assert_ptr_eq(a->platform, catalog_platform(cat, "facebook"));
	ck_assert_ptr_eq(a->category, catalog_category(cat, "social"));
	ck_assert_ptr_null(catalog_platform(cat, "myspace"));
	const char *names[16];
	ck_assert_uint_eq(catalog_platforms(cat, names, 16), 7);
	ck_assert_str_eq(names[0], "facebook");
	ck_assert_str_eq(names[1], "messenger");
	ck_assert_uint_eq(catalog_categories(cat, names, 1), 3);
	ck_assert_str_eq(names[0], "social");
	catalog_destroy(cat);

	cat = catalog_create();
	ck_assert_ptr_null(catalog_lookup(cat, "facebook.com"));
	ck_assert_uint_eq(catalog_size(cat), 0);
	catalog_destroy(cat);
	catalog_destroy(NULL);
}
END_TEST

static const struct {
	const char *domain, *platform, *category;
	int rc;
} add_cases[] = {
	{"example.org", "p", "social", 0},
	{"Example.ORG.", "p", "social", 0},
	{".dotted.example", "p", "social", 0},
	{"*.star.example", "p", "social", 0},
	{"exa_mple.com", "p", "social", 0},
	{"xn--caf-dma.example", "p", "social", 0},
	{"9gag.com", "9gag", "social", 0},
	{"", "p", "social", -1},
	{"1.2.3.4", "p", "social", -1},
	{"::1", "p", "social", -1},
	{"[::1]", "p", "social", -1},
	{"com", "p", "social", -1},
	{"localhost", "p", "social", -1},
	{"co.uk", "p", "social", -1},
	{"com.au", "p", "social", -1},
	{"*.com", "p", "social", -1},
	{"bad domain.example", "p", "social", -1},
	{"-bad.example", "p", "social", -1},
	{"caf\xc3\xa9.example", "p", "social", -1},
	{"a..b.example", "p", "social", -1},
	{"ok.example", "Facebook", "social", -1},
	{"ok.example", "p", "Social", -1},
	{"ok.example", "", "social", -1},
	{"ok.example", "p", "", -1},
	{"ok.example", "has space", "social", -1},
	{"ok.example", "abcdefghijklmnopqrstuvwxyz0123456", "social", -1},
	{"ok.example", "abcdefghijklmnopqrstuvwxyz012345", "social", 0},
};

START_TEST(test_add)
{
	struct catalog *cat = catalog_create();
	int rc = catalog_add(cat, add_cases[_i].domain, add_cases[_i].platform,
			     add_cases[_i].category);

	ck_assert_msg(rc == add_cases[_i].rc, "add '%s' (%s/%s): %d, want %d", add_cases[_i].domain,
		      add_cases[_i].platform, add_cases[_i].category, rc, add_cases[_i].rc);
	ck_assert_uint_eq(catalog_size(cat), rc == 0 ? 1 : 0);
	catalog_destroy(cat);
}
END_TEST

START_TEST(test_add_order)
{
	struct catalog *cat = catalog_create();

	/* a later add moves a domain to another platform */
	ck_assert_int_eq(catalog_add(cat, "facebook.com", "facebook", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "FACEBOOK.com", "other", "video"), 0);
	ck_assert_uint_eq(catalog_size(cat), 1);
	ck_assert_str_eq(catalog_lookup(cat, "www.facebook.com")->platform, "other");
	ck_assert_str_eq(catalog_lookup(cat, "www.facebook.com")->category, "video");
	/* a parent added after its child turns the child's marker into an entry */
	ck_assert_int_eq(catalog_add(cat, "a.b.example", "child", "social"), 0);
	ck_assert_ptr_null(catalog_lookup(cat, "b.example"));
	ck_assert_ptr_null(catalog_lookup(cat, "x.b.example"));
	ck_assert_int_eq(catalog_add(cat, "b.example", "parent", "social"), 0);
	ck_assert_str_eq(catalog_lookup(cat, "x.b.example")->platform, "parent");
	ck_assert_str_eq(catalog_lookup(cat, "b.example")->platform, "parent");
	ck_assert_str_eq(catalog_lookup(cat, "a.b.example")->platform, "child");
	ck_assert_str_eq(catalog_lookup(cat, "z.a.b.example")->platform, "child");
	catalog_destroy(cat);
}
END_TEST

START_TEST(test_many)
{
	/* enough domains to grow the table many times over */
	struct catalog *cat = catalog_create();
	char d[128];

	for (unsigned i = 0; i < 100000; i++) {
		snprintf(d, sizeof(d), "%s%u.site%u.%s", i % 3 ? "" : "cdn.", i, i * 7919u,
			 i % 2 ? "com" : "net");
		ck_assert_int_eq(catalog_add(cat, d, i % 5 ? "even" : "odd", "social"), 0);
	}
	ck_assert_uint_eq(catalog_size(cat), 100000);
	for (unsigned i = 0; i < 100000; i += 7) {
		snprintf(d, sizeof(d), "www.%s%u.site%u.%s", i % 3 ? "" : "cdn.", i, i * 7919u,
			 i % 2 ? "com" : "net");
		const struct catalog_entry *e = catalog_lookup(cat, d);
		ck_assert_msg(e != NULL, "%s not found", d);
		ck_assert_str_eq(e->platform, i % 5 ? "even" : "odd");
		snprintf(d, sizeof(d), "%u.site%u.org", i, i * 7919u);
		ck_assert_ptr_null(catalog_lookup(cat, d));
		snprintf(d, sizeof(d), "site%u.%s", i * 7919u, i % 2 ? "com" : "net");
		ck_assert_ptr_null(catalog_lookup(cat, d));
	}
	catalog_destroy(cat);
}
END_TEST

/* catalog_foreach_domain: every listed domain once, markers never, stops early. */
struct visit {
	char seen[64][32];
	unsigned n, stop_after;
};

static int visit_domain(const struct catalog_entry *e, void *ctx)
{
	struct visit *v = ctx;
	ck_assert_uint_lt(v->n, 64);
	snprintf(v->seen[v->n++], sizeof(v->seen[0]), "%s/%s", e->domain, e->platform);
	return v->stop_after && v->n == v->stop_after ? 42 : 0;
}

static int cmp_seen(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(test_foreach_domain)
{
	struct catalog *cat = catalog_create();
	struct visit v = {0};

	ck_assert_int_eq(catalog_foreach_domain(cat, visit_domain, &v), 0);
	ck_assert_uint_eq(v.n, 0);
	ck_assert_int_eq(catalog_add(cat, "a.b.example", "child", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "*.Facebook.com", "facebook", "social"), 0);
	ck_assert_int_eq(catalog_add(cat, "facebook.com", "other", "video"), 0); /* moved */
	ck_assert_int_eq(catalog_add(cat, "fbcdn.net", "facebook", "social"), 0);
	ck_assert_int_eq(catalog_foreach_domain(cat, visit_domain, &v), 0);
	ck_assert_uint_eq(v.n, 3);
	qsort(v.seen, v.n, sizeof(v.seen[0]), cmp_seen);
	ck_assert_str_eq(v.seen[0], "a.b.example/child");
	ck_assert_str_eq(v.seen[1], "facebook.com/other");
	ck_assert_str_eq(v.seen[2], "fbcdn.net/facebook");
	v = (struct visit){.stop_after = 2};
	ck_assert_int_eq(catalog_foreach_domain(cat, visit_domain, &v), 42);
	ck_assert_uint_eq(v.n, 2);
	ck_assert_int_eq(catalog_foreach_domain(NULL, visit_domain, &v), 0);
	catalog_destroy(cat);
}
END_TEST

/* ---- list files ---- */

START_TEST(test_list_ut1)
{
	char *path = write_tmp("# UT1/Shalla style: one domain per line\n"
			       "\n"
			       "example.com\n"
			       "www.second.example   \n"
			       ".dotted.example\n"
			       "*.star.example\n"
			       "  Upper.Example.NET.\n"
			       "192.0.2.7\n"
			       "2001:db8::1\n"
			       "with-comment.example # a comment after the name\n"
			       "\t\r\n"
			       "crlf.example\r\n"
			       "no-newline-at-end.example");
	struct conf_errors e = {0};
	struct catalog *cat = catalog_create();

	ck_assert_int_eq(catalog_load_list(cat, path, "ut1_social", "social", &e), 0);
	ck_assert_msg(e.n == 0, "%s", e.n ? e.msgs[0] : "");
	ck_assert_uint_eq(catalog_size(cat), 8);
	ck_assert_str_eq(classify(cat, "cdn.example.com")->platform, "ut1_social");
	ck_assert_str_eq(classify(cat, "www.second.example")->platform, "ut1_social");
	ck_assert_ptr_null(classify(cat, "second.example"));
	ck_assert_str_eq(classify(cat, "a.dotted.example")->domain, "dotted.example");
	ck_assert_str_eq(classify(cat, "star.example")->domain, "star.example");
	ck_assert_str_eq(classify(cat, "upper.example.net")->domain, "upper.example.net");
	ck_assert_ptr_nonnull(classify(cat, "with-comment.example"));
	ck_assert_ptr_nonnull(classify(cat, "crlf.example"));
	ck_assert_ptr_nonnull(classify(cat, "no-newline-at-end.example"));
	ck_assert_ptr_null(classify(cat, "192.0.2.7"));
	/* a list overrides what was listed before it */
	ck_assert_int_eq(catalog_add(cat, "override.example", "facebook", "social"), 0);
	unlink(path);
	free(path);
	path = write_tmp("override.example\n");
	ck_assert_int_eq(catalog_load_list(cat, path, "local", "video", &e), 0);
	ck_assert_str_eq(classify(cat, "override.example")->platform, "local");
	ck_assert_str_eq(classify(cat, "override.example")->category, "video");
	catalog_destroy(cat);
	conf_errors_free(&e);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_list_hosts)
{
	char *path = write_tmp("# a hosts file\n"
			       "127.0.0.1\tlocalhost\n"
			       "127.0.1.1\tgateway\n"
			       "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
			       "ff02::1 ip6-allnodes\n"
			       "255.255.255.255 broadcasthost\n"
			       "127.0.0.1 localhost.localdomain localhost4 localhost4.localdomain4\n"
			       "0.0.0.0 0.0.0.0\n"
			       "0.0.0.0 a.example B.Example   # two names\n"
			       "127.0.0.1 blocked.example\n"
			       "fe80::1%lo0 zone.example\n"
			       ":: v6-any.example\n");
	struct conf_errors e = {0};
	struct catalog *cat = catalog_create();

	ck_assert_int_eq(catalog_load_list(cat, path, "blocked", "social", &e), 0);
	ck_assert_msg(e.n == 0, "%s", e.n ? e.msgs[0] : "");
	ck_assert_uint_eq(catalog_size(cat), 5);
	ck_assert_ptr_nonnull(classify(cat, "www.a.example"));
	ck_assert_ptr_nonnull(classify(cat, "b.example"));
	ck_assert_ptr_nonnull(classify(cat, "blocked.example"));
	ck_assert_ptr_nonnull(classify(cat, "zone.example"));
	ck_assert_ptr_nonnull(classify(cat, "v6-any.example"));
	ck_assert_ptr_null(classify(cat, "localhost"));
	ck_assert_ptr_null(classify(cat, "localhost.localdomain"));
	catalog_destroy(cat);
	conf_errors_free(&e);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_list_errors)
{
	char *path = write_tmp("good.example\n"
			       "bad domain.example\n"
			       "||adblock.example^\n"
			       "com\n"
			       "co.uk\n"
			       "0.0.0.0 ok.example bad_name!.example\n"
			       "good2.example\n"
			       "http://url.example/path\n");
	static const unsigned lines[] = {2, 3, 4, 5, 6, 8};
	struct conf_errors e = {0};
	struct catalog *cat = catalog_create();

	ck_assert_int_eq(catalog_load_list(cat, path, "p", "social", &e), -1);
	assert_errors(&e, path, lines, sizeof(lines) / sizeof(lines[0]));
	ck_assert_ptr_nonnull(strstr(e.msgs[0], "expected one domain per line"));
	ck_assert_ptr_nonnull(strstr(e.msgs[2], "single-label"));
	ck_assert_ptr_nonnull(strstr(e.msgs[3], "public suffix"));
	ck_assert_ptr_nonnull(strstr(e.msgs[4], "bad_name!.example"));
	conf_errors_free(&e);
	catalog_destroy(cat);
	unlink(path);
	free(path);

	/* a file full of errors lists the first 20 and counts the rest */
	char text[4096] = "";
	for (int i = 0; i < 30; i++)
		strcat(text, "not a list\n");
	path = write_tmp(text);
	cat = catalog_create();
	ck_assert_int_eq(catalog_load_list(cat, path, "p", "social", &e), -1);
	ck_assert_uint_eq(e.n, 21);
	ck_assert_ptr_nonnull(strstr(e.msgs[20], "10 more errors"));
	conf_errors_free(&e);
	unlink(path);

	/* a missing file; bad names */
	ck_assert_int_eq(catalog_load_list(cat, path, "p", "social", &e), -1);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_ptr_nonnull(strstr(e.msgs[0], path));
	ck_assert_ptr_nonnull(strstr(e.msgs[0], "cannot open"));
	conf_errors_free(&e);
	ck_assert_int_eq(catalog_load_list(cat, path, "Bad Name", "social", &e), -1);
	ck_assert_uint_eq(e.n, 1);
	conf_errors_free(&e);
	ck_assert_int_eq(catalog_load_platforms(cat, path, &e), -1);
	ck_assert_uint_eq(e.n, 1);
	conf_errors_free(&e);
	catalog_destroy(cat);
	free(path);
}
END_TEST

/* ---- the platform-file format ---- */

START_TEST(test_platforms_format)
{
	char *path = write_tmp("# comment\n"
			       "alpha social alpha.example a.alpha-cdn.example\n"
			       "    alpha-media.example   # continuation\n"
			       "\talpha-tab.example\n"
			       "\n"
			       "beta video beta.example\n"
			       "beta embed beta-embed.example\n"
			       "  # a comment inside a block\n"
			       "\n"
			       "  beta2.example\n"
			       "alpha social alpha.example\n"
			       "gamma social\n"
			       "  gamma.example\n");
	struct conf_errors e = {0};
	struct catalog *cat = catalog_create();

	ck_assert_int_eq(catalog_load_platforms(cat, path, &e), 0);
	ck_assert_msg(e.n == 0, "%s", e.n ? e.msgs[0] : "");
	ck_assert_uint_eq(catalog_size(cat), 8);
	ck_assert_str_eq(classify(cat, "x.alpha-media.example")->platform, "alpha");
	ck_assert_str_eq(classify(cat, "alpha-tab.example")->platform, "alpha");
	ck_assert_str_eq(classify(cat, "b.a.alpha-cdn.example")->domain, "a.alpha-cdn.example");
	ck_assert_ptr_null(classify(cat, "alpha-cdn.example"));
	ck_assert_str_eq(classify(cat, "beta.example")->category, "video");
	ck_assert_str_eq(classify(cat, "beta-embed.example")->category, "embed");
	ck_assert_str_eq(classify(cat, "beta2.example")->platform, "beta");
	ck_assert_str_eq(classify(cat, "beta2.example")->category, "embed");
	ck_assert_str_eq(classify(cat, "gamma.example")->platform, "gamma");
	const char *names[8];
	ck_assert_uint_eq(catalog_platforms(cat, names, 8), 3);
	ck_assert_uint_eq(catalog_categories(cat, names, 8), 3);
	catalog_destroy(cat);
	unlink(path);
	free(path);

	path = write_tmp("   orphan.example\n"                     /* 1 */
			 "Bad social x.example\n"                  /* 2 */
			 "   y.example\n"                          /* 3: quiet, the block is bad */
			 "nocat\n"                                 /* 4 */
			 "good social good.example 1.2.3.4 com\n"  /* 5: two errors */
			 "other social good.example\n"             /* 6 */
			 "good social good.example\n"              /* 7: same platform again: fine */
			 "cat BadCat z.example\n"                  /* 8 */
			 "ok social ok.example\n"                  /* 9 */
			 "   co.uk\n");                            /* 10 */
	static const unsigned lines[] = {1, 2, 4, 5, 5, 6, 8, 10};
	cat = catalog_create();
	ck_assert_int_eq(catalog_load_platforms(cat, path, &e), -1);
	assert_errors(&e, path, lines, sizeof(lines) / sizeof(lines[0]));
	ck_assert_ptr_nonnull(strstr(e.msgs[0], "none above"));
	ck_assert_ptr_nonnull(strstr(e.msgs[1], "platform name 'Bad'"));
	ck_assert_ptr_nonnull(strstr(e.msgs[2], "no category"));
	ck_assert_ptr_nonnull(strstr(e.msgs[3], "IP address"));
	ck_assert_ptr_nonnull(strstr(e.msgs[4], "single-label"));
	ck_assert_ptr_nonnull(strstr(e.msgs[5], "listed for platform 'good' already"));
	ck_assert_ptr_nonnull(strstr(e.msgs[6], "category name 'BadCat'"));
	ck_assert_ptr_nonnull(strstr(e.msgs[7], "public suffix"));
	/* the first platform keeps a domain listed twice */
	ck_assert_str_eq(catalog_lookup(cat, "good.example")->platform, "good");
	conf_errors_free(&e);
	catalog_destroy(cat);
	unlink(path);
	free(path);
}
END_TEST

/* ---- the shipped list ---- */

static const struct {
	const char *host, *platform;
} shipped_cases[] = {
	{"www.facebook.com", "facebook"},
	{"m.facebook.com", "facebook"},
	{"scontent-lhr8-1.xx.fbcdn.net", "facebook"},
	{"static.xx.fbcdn.net", "facebook"},
	{"fb.me", "facebook"},
	{"connect.facebook.net", "facebook"},
	{"edge-mqtt.facebook.com", "messenger"},
	{"www.messenger.com", "messenger"},
	{"m.me", "messenger"},
	{"www.instagram.com", "instagram"},
	{"i.instagram.com", "instagram"},
	{"scontent-lhr8-2.cdninstagram.com", "instagram"},
	{"www.threads.net", "threads"},
	{"web.whatsapp.com", "whatsapp"},
	{"mmg.whatsapp.net", "whatsapp"},
	{"wa.me", "whatsapp"},
	{"www.tiktok.com", "tiktok"},
	{"v16-webapp.tiktok.com", "tiktok"},
	{"vm.tiktok.com", "tiktok"},
	{"p16-sign-va.tiktokcdn.com", "tiktok"},
	{"api16-normal-c-useast1a.tiktokv.com", "tiktok"},
	{"x.com", "x"},
	{"twitter.com", "x"},
	{"t.co", "x"},
	{"pbs.twimg.com", "x"},
	{"video.twimg.com", "x"},
	{"platform.twitter.com", "x"},
	{"www.snapchat.com", "snapchat"},
	{"cf-st.sc-cdn.net", "snapchat"},
	{"www.youtube.com", "youtube"},
	{"m.youtube.com", "youtube"},
	{"music.youtube.com", "youtube"},
	{"i.ytimg.com", "youtube"},
	{"rr3---sn-aigl6nze.googlevideo.com", "youtube"},
	{"youtu.be", "youtube"},
	{"www.youtube-nocookie.com", "youtube"},
	{"youtubei.googleapis.com", "youtube"},
	{"yt3.ggpht.com", "youtube"},
	{"www.reddit.com", "reddit"},
	{"i.redd.it", "reddit"},
	{"www.redditstatic.com", "reddit"},
	{"www.linkedin.com", "linkedin"},
	{"media.licdn.com", "linkedin"},
	{"lnkd.in", "linkedin"},
	{"www.pinterest.co.uk", "pinterest"},
	{"i.pinimg.com", "pinterest"},
	{"pin.it", "pinterest"},
	{"64.media.tumblr.com", "tumblr"},
	{"discord.com", "discord"},
	{"cdn.discordapp.com", "discord"},
	{"media.discordapp.net", "discord"},
	{"discord.gg", "discord"},
	{"web.telegram.org", "telegram"},
	{"t.me", "telegram"},
	{"bsky.app", "bluesky"},
	{"cdn.bsky.app", "bluesky"},
	{"mastodon.social", "mastodon"},
	{"files.mastodon.social", "mastodon"},
	{"fosstodon.org", "mastodon"},
	{"www.twitch.tv", "twitch"},
	{"video-weaver.lhr03.hls.ttvnw.net", "twitch"},
	{"static-cdn.jtvnw.net", "twitch"},
	{"vk.com", "vk"},
	{"sun9-1.userapi.com", "vk"},
	{"weibo.com", "weibo"},
	{"wx1.sinaimg.cn", "weibo"},
	{"mobile.bereal.com", "bereal"},
	{"cdn.bereal.network", "bereal"},
	{"www.quora.com", "quora"},
	{"nextdoor.co.uk", "nextdoor"},
	{"live.staticflickr.com", "flickr"},
	{"flic.kr", "flickr"},
	{"kick.com", "kick"},
	{"rumble.com", "rumble"},
	{"player.vimeo.com", "vimeo"},
	{"i.imgur.com", "imgur"},
	{"img-9gag-fun.9cache.com", "9gag"},
	{"api.gotinder.com", "tinder"},
	{"chat.signal.org", "signal"},
	{"www.bilibili.com", "bilibili"},
	{"www.xiaohongshu.com", "xiaohongshu"},
	{"truthsocial.com", "truthsocial"},
	{"www.douyin.com", "douyin"},
	{"www.lemon8-app.com", "lemon8"},
	/* shared infrastructure and lookalikes stay unclassified */
	{"www.google.com", NULL},
	{"mail.google.com", NULL},
	{"fonts.googleapis.com", NULL},
	{"www.gstatic.com", NULL},
	{"lh3.googleusercontent.com", NULL},
	{"lh3.ggpht.com", NULL},
	{"d1234abcd.cloudfront.net", NULL},
	{"a248.e.akamai.net", NULL},
	{"video-edge-c2a7b1.pdx01.abs.hls.live-video.net", NULL},
	{"github.com", NULL},
	{"www.bbc.co.uk", NULL},
	{"reactjs.org", NULL},
	{"news.qq.com", NULL},
	{"notfacebook.com", NULL},
	{"x.company.com", NULL},
	{"www.xbox.com", NULL},
	{"www.dropbox.com", NULL},
	{"t.com", NULL},
	{"facebook.com.example.net", NULL},
	{"157.240.1.35", NULL},
};

static struct catalog *shipped;

static void shipped_setup(void)
{
	struct conf_errors e = {0};

	shipped = catalog_create();
	int rc = catalog_load_platforms(shipped, PLATFORMS_LIST, &e);
	if (rc != 0 || e.n)
		conf_errors_print(&e, stderr);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(e.n, 0);
	conf_errors_free(&e);
}

static void shipped_teardown(void)
{
	catalog_destroy(shipped);
	shipped = NULL;
}

START_TEST(test_shipped_list)
{
	const char *names[256];
	size_t n = catalog_platforms(shipped, names, 256);

	ck_assert_msg(n >= 30, "%zu platforms, want at least 30", n);
	ck_assert_uint_ge(catalog_size(shipped), 300);
	ck_assert_ptr_nonnull(catalog_category(shipped, "social"));
	ck_assert_ptr_nonnull(catalog_category(shipped, "video"));
	ck_assert_ptr_nonnull(catalog_category(shipped, "messaging"));
	ck_assert_str_eq(classify(shipped, "connect.facebook.net")->category, "embed");
	ck_assert_str_eq(classify(shipped, "www.facebook.com")->category, "social");
	ck_assert_str_eq(classify(shipped, "www.youtube.com")->category, "video");
}
END_TEST

START_TEST(test_shipped_hosts)
{
	const char *host = shipped_cases[_i].host;
	const struct catalog_entry *e = classify(shipped, host);

	if (!shipped_cases[_i].platform)
		ck_assert_msg(e == NULL, "%s: classified as %s (%s)", host, e ? e->platform : "",
			      e ? e->domain : "");
	else
		ck_assert_msg(e && strcmp(e->platform, shipped_cases[_i].platform) == 0,
			      "%s: %s, want %s", host, e ? e->platform : "not listed",
			      shipped_cases[_i].platform);
}
END_TEST

static void *lookup_thread(void *arg)
{
	(void)arg;
	for (int round = 0; round < 200; round++)
		for (size_t i = 0; i < sizeof(shipped_cases) / sizeof(shipped_cases[0]); i++) {
			const struct catalog_entry *e = classify(shipped, shipped_cases[i].host);
			if ((e == NULL) != (shipped_cases[i].platform == NULL))
				return (void *)1;
		}
	return NULL;
}

START_TEST(test_shipped_threads)
{
	pthread_t t[4];
	void *res;

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, lookup_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &res), 0);
		ck_assert_ptr_null(res);
	}
}
END_TEST

/* ---- registrable domains ---- */

static const struct {
	const char *host, *want;
} reg_cases[] = {
	{"www.bbc.co.uk", "bbc.co.uk"},
	{"a.b.example.com", "example.com"},
	{"example.com", "example.com"},
	{"scontent-lhr8-1.xx.fbcdn.net", "fbcdn.net"},
	{"rr3---sn-aigl6nze.googlevideo.com", "googlevideo.com"},
	{"foo.github.io", "foo.github.io"},
	{"co.uk", NULL},
	{"com", NULL},
	{"192.0.2.1", NULL},
	{"2001:db8::1", NULL},
	{"", NULL},
};

START_TEST(test_registrable)
{
	char out[HOSTNAME_MAX + 1];
	const char *r = catalog_registrable(reg_cases[_i].host, out, sizeof(out));

	if (!reg_cases[_i].want) {
		ck_assert_msg(r == NULL, "%s: %s, want none", reg_cases[_i].host, r);
	} else {
		ck_assert_msg(r != NULL, "%s: none, want %s", reg_cases[_i].host, reg_cases[_i].want);
		ck_assert_ptr_eq(r, out);
		ck_assert_str_eq(r, reg_cases[_i].want);
	}
}
END_TEST

START_TEST(test_registrable_small_buffer)
{
	char out[12];

	ck_assert_ptr_null(catalog_registrable("www.example.com", out, 11));
	ck_assert_str_eq(catalog_registrable("www.example.com", out, 12), "example.com");
	ck_assert_ptr_null(catalog_registrable("www.example.com", out, 0));
	ck_assert_ptr_null(catalog_registrable(NULL, out, sizeof(out)));
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
	Suite *s = suite_create("catalog");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_match, 0, N(match_cases));
	tcase_add_test(tc, test_lookup_contract);
	tcase_add_loop_test(tc, test_add, 0, N(add_cases));
	tcase_add_test(tc, test_add_order);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_foreach_domain);
	tcase_add_test(tc, test_list_ut1);
	tcase_add_test(tc, test_list_hosts);
	tcase_add_test(tc, test_list_errors);
	tcase_add_test(tc, test_platforms_format);
	tcase_add_loop_test(tc, test_registrable, 0, N(reg_cases));
	tcase_add_test(tc, test_registrable_small_buffer);
	suite_add_tcase(s, tc);

	TCase *ts = tcase_create("shipped");
	tcase_add_checked_fixture(ts, shipped_setup, shipped_teardown);
	tcase_add_test(ts, test_shipped_list);
	tcase_add_loop_test(ts, test_shipped_hosts, 0, N(shipped_cases));
	tcase_add_test(ts, test_shipped_threads);
	suite_add_tcase(s, ts);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
