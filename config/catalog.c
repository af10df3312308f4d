/*
 * catalog: host name -> platform and category, by domain suffix on label
 * boundaries (the contract is in catalog.h).
 *
 * DESIGN
 * One open-addressing hash table (linear probing, at most 3/4 full) keyed
 * by domain suffixes. Every listed domain has an entry slot, and every
 * proper suffix of a listed domain on a label boundary is at least present
 * as a marker: listing "fbcdn.net" makes "net" present. A slot whose suffix
 * ends some longer listed domain carries the PARENT flag ("net" has it,
 * and so does "facebook.com" once "edge-mqtt.facebook.com" is listed).
 *
 * A lookup hashes the host right to left, one FNV-1a step per byte, and
 * probes at each label boundary, shortest suffix first: "net",
 * "fbcdn.net", "xx.fbcdn.net", ... An entry that matches is remembered
 * (the longest one so far is the most specific). The walk ends at the
 * first suffix that is not present, or that has no PARENT flag: nothing
 * longer can be listed. So a lookup is one pass over the name plus at most
 * one probe per label, and in practice two: "com" (always in cache), then
 * "example.com" (absent, or the answer). It allocates nothing and writes
 * nothing, so any number of threads may look up in a built catalog.
 *
 * A slot is 16 bytes: the full 64-bit hash of its suffix, and a pointer to
 * the entry's record (NULL for a marker) whose low bit is the PARENT flag.
 * A record holds the catalog_entry handed to callers and the domain's bytes
 * right behind it, so confirming a match touches one more cache line. An
 * entry is only reported after its bytes compare equal, so a hash collision
 * can cost a probe but never give a wrong answer. Markers carry no bytes:
 * a colliding marker can only make a walk go one label further. To keep
 * that true, every slot of one hash value has PARENT if any suffix with
 * that hash has children.
 *
 * Big tables and record chunks ask for transparent huge pages: lookups in
 * a list of a million domains are random accesses, and without them most
 * would also miss the TLB.
 *
 * Entries are never all-numeric and never contain ':' (IP literals are
 * refused when added), so an IP literal, every suffix of which is
 * all-numeric or contains ':', can never match: it needs no test of its own.
 *
 * Platform and category names are interned: every entry of one platform
 * points at the same string, so callers may compare pointers.
 *
 * THREADS AND LIFETIME
 * Building (catalog_add and the loaders) happens while a configuration
 * loads, on one thread, before the catalog is shared; it reads files and
 * allocates. It must never run on a catalog that others are reading.
 * Entries stay where they are until catalog_destroy().
 * catalog_registrable() is independent of any catalog and thread-safe.
 */
#include "catalog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "fnv.h"
#include "hostname.h"

#define SLOT_PARENT ((uintptr_t)1)
#define INITIAL_SLOTS 1024
#define HUGE_PAGE (2u * 1024 * 1024)
#define NAME_MAX_LEN 32
#define ERRORS_PER_FILE 20
#define ARENA_CHUNK HUGE_PAGE
#define SPACE " \t\r\n\v\f"

struct record {
	struct catalog_entry pub; /* first: lookups hand out &pub */
	uint32_t len;
	char domain[];            /* pub.domain points here */
};

struct slot {
	uint64_t hash;   /* mixed suffix hash, never 0; 0 marks an empty slot */
	uintptr_t rec;   /* struct record * (NULL for a marker) | SLOT_PARENT */
};

struct chunk {
	struct chunk *next;
	size_t used, size;
	char *data;
};

struct names {
	char **v;
	size_t n, cap;
	const char *last; /* the name interned last: lists intern one name a million times */
};

struct catalog {
	struct slot *slots;
	size_t mask;        /* number of slots - 1 (a power of two - 1) */
	size_t used;        /* occupied slots: entries and markers */
	size_t n_entries;
	struct chunk *arena; /* the records */
	struct names platforms, categories;
};

static inline const struct record *slot_record(const struct slot *sl)
{
	return (const struct record *)(sl->rec & ~SLOT_PARENT); /* NOLINT(performance-no-int-to-ptr): tagged pointer */
}

/* ---- memory ---- */

/*
 * Zeroed blocks. Big ones come straight from mmap: the kernel hands them
 * out zeroed (no memset to pay twice), aligned to 2 MB and marked for huge
 * pages (a hint: fine if refused). Small ones come from calloc.
 */
static void *big_alloc(size_t size)
{
	if (size < HUGE_PAGE)
		return calloc(1, size);
	size_t len = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	char *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	size_t head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
	if (head)
		munmap(p, head);
	munmap(p + head + len, HUGE_PAGE - head);
	p += head;
#ifdef MADV_HUGEPAGE
	madvise(p, len, MADV_HUGEPAGE);
#endif
	return p;
}

static void big_free(void *p, size_t size)
{
	if (!p)
		return;
	if (size < HUGE_PAGE)
		free(p);
	else
		munmap(p, (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
}

/* ---- hashing ---- */

/* FNV's low bits are weak; mix once per probe, and keep 0 for "empty". */
static inline uint64_t slot_hash(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return h ? h : 1;
}

enum probe {
	PROBE_ABSENT,   /* not present: nothing longer is listed either */
	PROBE_LEAF,     /* present, nothing longer is listed */
	PROBE_PARENT,   /* present, and some longer domain ends with it */
};

/*
 * Look the suffix s (len bytes, hashed to m) up; *rec is its record when
 * it is listed for exactly these bytes.
 */
static enum probe probe(const struct catalog *cat, uint64_t m, const char *s, size_t len,
			const struct record **rec)
{
	enum probe found = PROBE_ABSENT;

	*rec = NULL;
	for (size_t i = m & cat->mask;; i = (i + 1) & cat->mask) {
		const struct slot *sl = &cat->slots[i];
		if (sl->hash == 0)
			return found;
		if (sl->hash != m)
			continue;
		found = sl->rec & SLOT_PARENT ? PROBE_PARENT : PROBE_LEAF;
		const struct record *r = slot_record(sl);
		if (r && r->len == len && memcmp(r->domain, s, len) == 0) {
			*rec = r;
			return found;
		}
	}
}

const struct catalog_entry *catalog_lookup(const struct catalog *cat, const char *host)
{
	const struct record *best = NULL, *r;
	uint64_t h = FNV64_OFFSET;
	size_t len;

	if (!cat || !host)
		return NULL;
	len = strnlen(host, HOSTNAME_MAX + 1);
	if (len == 0 || len > HOSTNAME_MAX)
		return NULL;
	for (size_t i = len; i-- > 0;) {
		unsigned char c = (unsigned char)host[i];
		if (c == '.') {
			/* host[i+1 .. len) is a whole suffix */
			enum probe p = probe(cat, slot_hash(h), host + i + 1, len - i - 1, &r);
			if (r)
				best = r;
			if (p != PROBE_PARENT)
				return best ? &best->pub : NULL;
		}
		h = fnv64_byte(h, c);
	}
	probe(cat, slot_hash(h), host, len, &r);
	if (r)
		best = r;
	return best ? &best->pub : NULL;
}

/* ---- building ---- */

static int resize(struct catalog *cat, size_t n)
{
	struct slot *s = big_alloc(n * sizeof(*s));

	if (!s)
		return -1;
	for (size_t i = 0; i <= cat->mask; i++) {
		const struct slot *o = &cat->slots[i];
		if (o->hash == 0)
			continue;
		size_t j = o->hash & (n - 1);
		while (s[j].hash)
			j = (j + 1) & (n - 1);
		s[j] = *o;
	}
	big_free(cat->slots, (cat->mask + 1) * sizeof(*s));
	cat->slots = s;
	cat->mask = n - 1;
	return 0;
}

/* Make room for `more` occupied slots, keeping the table at most 3/4 full. */
static int reserve(struct catalog *cat, size_t more)
{
	size_t n = cat->mask + 1;

	while ((cat->used + more) * 4 > n * 3)
		n *= 2;
	return n == cat->mask + 1 ? 0 : resize(cat, n);
}

/* The suffix hashed to m is a proper suffix of a listed domain. */
static void mark_parent(struct catalog *cat, uint64_t m)
{
	bool found = false;
	size_t i;

	for (i = m & cat->mask; cat->slots[i].hash; i = (i + 1) & cat->mask)
		if (cat->slots[i].hash == m) {
			cat->slots[i].rec |= SLOT_PARENT;
			found = true;
		}
	if (!found) {
		cat->slots[i] = (struct slot){.hash = m, .rec = SLOT_PARENT};
		cat->used++;
	}
}

static struct record *new_record(struct catalog *cat, const char *d, size_t len)
{
	size_t need = (sizeof(struct record) + len + 1 + 7) & ~(size_t)7;
	struct chunk *c = cat->arena;

	if (!c || c->size - c->used < need) {
		/* chunks double from 16 KiB (the shipped list fits in two) to
		 * 2 MiB (one huge page each, for lists of millions) */
		size_t size = c ? (c->size < ARENA_CHUNK ? c->size * 2 : ARENA_CHUNK) : 16384;
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->size = need > size ? need : size;
		c->data = big_alloc(c->size);
		if (!c->data) {
			free(c);
			return NULL;
		}
		c->used = 0;
		c->next = cat->arena;
		cat->arena = c;
	}
	struct record *r = (struct record *)(void *)(c->data + c->used);
	c->used += need;
	r->len = (uint32_t)len;
	memcpy(r->domain, d, len);
	r->domain[len] = '\0';
	r->pub.domain = r->domain;
	return r;
}

/*
 * Add the normalised domain d (len bytes) for platform/category (interned).
 * When it is listed already: with replace, it now belongs to the new
 * platform; without, it is left alone. *prev (if not NULL) is set to the
 * platform it had, or NULL when it is new. 0, or -1 when out of memory.
 */
static int add_normalised(struct catalog *cat, const char *d, size_t len, const char *platform,
			  const char *category, bool replace, const char **prev)
{
	uint64_t h = FNV64_OFFSET;
	size_t labels = 1;

	if (prev)
		*prev = NULL;
	for (size_t i = 0; i < len; i++)
		labels += d[i] == '.';
	if (reserve(cat, labels) < 0)
		return -1;

	for (size_t i = len; i-- > 0;) {
		if (d[i] == '.')
			mark_parent(cat, slot_hash(h));
		h = fnv64_byte(h, (unsigned char)d[i]);
	}

	uint64_t m = slot_hash(h);
	struct slot *marker = NULL, *sl;
	uintptr_t parent = 0;
	for (size_t i = m & cat->mask;; i = (i + 1) & cat->mask) {
		sl = &cat->slots[i];
		if (sl->hash == 0)
			break;
		if (sl->hash != m)
			continue;
		parent |= sl->rec & SLOT_PARENT;
		struct record *r = (struct record *)(sl->rec & ~SLOT_PARENT); /* NOLINT(performance-no-int-to-ptr): tagged pointer */
		if (!r) {
			if (!marker)
				marker = sl;
			continue;
		}
		if (r->len == len && memcmp(r->domain, d, len) == 0) {
			if (prev)
				*prev = r->pub.platform;
			if (replace) {
				r->pub.platform = platform;
				r->pub.category = category;
			}
			return 0;
		}
	}

	struct record *r = new_record(cat, d, len);
	if (!r)
		return -1;
	r->pub.platform = platform;
	r->pub.category = category;
	cat->n_entries++;
	if (marker) {
		/* a marker for these bytes (or, rarely, for colliding ones: their
		 * presence is kept, since the slot still matches) becomes the entry */
		marker->rec = (uintptr_t)r | SLOT_PARENT;
	} else {
		*sl = (struct slot){.hash = m, .rec = (uintptr_t)r | parent};
		cat->used++;
	}
	return 0;
}

/* ---- names ---- */

static bool name_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0 && n <= NAME_MAX_LEN;
}

static const char *intern(struct names *nm, const char *s)
{
	if (nm->last && strcmp(nm->last, s) == 0)
		return nm->last;
	for (size_t i = 0; i < nm->n; i++)
		if (strcmp(nm->v[i], s) == 0)
			return nm->last = nm->v[i];
	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? nm->cap * 2 : 32;
		char **v = realloc(nm->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		nm->v = v;
		nm->cap = cap;
	}
	char *dup = strdup(s);
	if (!dup)
		return NULL;
	nm->v[nm->n++] = dup;
	return nm->last = dup;
}

static const char *find_name(const struct names *nm, const char *s)
{
	for (size_t i = 0; s && i < nm->n; i++)
		if (strcmp(nm->v[i], s) == 0)
			return nm->v[i];
	return NULL;
}

static size_t list_names(const struct names *nm, const char **out, size_t max)
{
	for (size_t i = 0; i < nm->n && i < max; i++)
		out[i] = nm->v[i];
	return nm->n;
}

/* ---- the Public Suffix List ---- */

/*
 * libpsl answers "is this a public suffix?" in about 400 ns: for a list of
 * a million domains, more than all the rest of loading it. So when the
 * distribution's public_suffix_list.dat is there, it is loaded both into
 * libpsl and, once, into a small set of the names that have ICANN rules
 * directly beneath them ("uk" for co.uk, "kawasaki.jp" for *.kawasaki.jp).
 * A domain whose parent is not in that set cannot be an ICANN public suffix
 * (no exact rule and no wildcard can name it), so libpsl is only asked
 * about the rest: names under jp, uk, br, ..., and names with IDN labels
 * (the set is built from the file's UTF-8 rules, not their punycode).
 * Without the file: libpsl's built-in list, asked about every domain.
 * Both are loaded once per process and never freed.
 */
#define PARENT_SET_SIZE 4096 /* a power of two, > 2 x the ~400 parents */

static const psl_ctx_t *psl_ctx_value;
static char **psl_parents;   /* open addressing by FNV-1a; NULL: no set */
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static size_t parent_slot(const char *p)
{
	return fnv64_str(FNV64_OFFSET, p) & (PARENT_SET_SIZE - 1);
}

static bool parents_contain_in(char *const *set, const char *p)
{
	for (size_t i = parent_slot(p); set[i]; i = (i + 1) & (PARENT_SET_SIZE - 1))
		if (strcmp(set[i], p) == 0)
			return true;
	return false;
}

static bool parents_contain(const char *p)
{
	return parents_contain_in(psl_parents, p);
}

static char **load_parents(const char *path)
{
	char **set = calloc(PARENT_SET_SIZE, sizeof(*set));
	FILE *f = fopen(path, "re");
	char line[512];
	bool icann = false;
	size_t n = 0;

	if (!set || !f)
		goto fail;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "===BEGIN ICANN DOMAINS==="))
			icann = true;
		else if (strstr(line, "===END ICANN DOMAINS==="))
			break;
		char *save, *rule = strtok_r(line, SPACE, &save);
		if (!icann || !rule || strncmp(rule, "//", 2) == 0)
			continue;
		if (rule[0] == '!')
			rule++;
		const char *parent = strncmp(rule, "*.", 2) == 0 ? rule + 2 : strchr(rule, '.');
		if (!parent)
			continue; /* a top-level domain: single labels are refused anyway */
		if (*parent == '.')
			parent++;
		if (parents_contain_in(set, parent))
			continue;
		if (++n * 2 > PARENT_SET_SIZE)
			goto fail;
		size_t i = parent_slot(parent);
		while (set[i])
			i = (i + 1) & (PARENT_SET_SIZE - 1);
		if (!(set[i] = strdup(parent)))
			goto fail;
	}
	if (!icann || ferror(f))
		goto fail;
	fclose(f);
	return set;
fail:
	if (f)
		fclose(f);
	for (size_t i = 0; set && i < PARENT_SET_SIZE; i++)
		free(set[i]);
	free(set);
	return NULL;
}

static void psl_init(void)
{
	const char *dafsa = psl_dist_filename();
	char dat[512] = "";

	/* the .dat beside the distribution's .dafsa, when there is one */
	if (dafsa && *dafsa) {
		size_t n = strlen(dafsa);
		if (n > 6 && strcmp(dafsa + n - 6, ".dafsa") == 0 && n + 1 < sizeof(dat)) {
			memcpy(dat, dafsa, n - 6);
			strcpy(dat + n - 6, ".dat"); /* NOLINT(clang-analyzer-security.insecureAPI.strcpy): n + 1 < sizeof(dat) */
		}
	}
	if (*dat) {
		psl_ctx_t *ctx = psl_load_file(dat);
		if (ctx && (psl_parents = load_parents(dat)) != NULL) {
			psl_ctx_value = ctx;
			return;
		}
		psl_free(ctx);
	}
	psl_ctx_value = psl_builtin();
	if (!psl_ctx_value)
		psl_ctx_value = psl_latest(NULL);
}

static const psl_ctx_t *psl_ctx(void)
{
	pthread_once(&psl_once, psl_init);
	return psl_ctx_value;
}

/* Is d (normalised, at least two labels) an ICANN public suffix? */
static bool icann_public_suffix(const char *d)
{
	const psl_ctx_t *psl = psl_ctx();

	if (!psl)
		return false;
	if (psl_parents && !strstr(d, "xn--") && !parents_contain(strchr(d, '.') + 1))
		return false;
	return psl_is_public_suffix2(psl, d, PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE) != 0;
}

static bool all_digits_and_dots(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			return false;
	return true;
}

const char *catalog_registrable(const char *host, char *out, size_t outlen)
{
	const psl_ctx_t *psl = psl_ctx();
	const char *r;

	if (!host || !*host || !out || outlen == 0)
		return NULL;
	if (strchr(host, ':') || all_digits_and_dots(host))
		return NULL; /* an IP literal has no registrable domain */
	if (psl) {
		r = psl_registrable_domain(psl, host);
	} else {
		/* no list at all: the last two labels are the best guess */
		const char *last = strrchr(host, '.');
		if (!last)
			return NULL;
		r = last;
		while (r > host && r[-1] != '.')
			r--;
	}
	if (!r)
		return NULL;
	size_t n = strlen(r);
	if (n >= outlen)
		return NULL;
	memcpy(out, r, n + 1);
	return out;
}

/* ---- checking one domain to be listed ---- */

enum check {
	CHECK_OK,
	CHECK_IP,       /* an IP literal: never matches a name */
	CHECK_INVALID,
};

/*
 * Normalise in (len bytes) into out (HOSTNAME_MAX + 1 bytes). A leading
 * "." or "*." is accepted: suffix matching already covers subdomains.
 * On CHECK_INVALID, *why says what is wrong.
 */
static enum check check_domain(const char *in, size_t len, char *out, size_t *outlen,
			       const char **why)
{
	if (len >= 2 && in[0] == '*' && in[1] == '.') {
		in += 2;
		len -= 2;
	} else if (len >= 1 && in[0] == '.') {
		in++;
		len--;
	}
	switch (hostname_normalise(in, len, out)) {
	case HOST_NAME:
		break;
	case HOST_IPV4:
	case HOST_IPV6:
		*why = "an IP address never matches a host name";
		return CHECK_IP;
	default:
		*why = "not a valid host name";
		return CHECK_INVALID;
	}
	if (!strchr(out, '.')) {
		*why = "a single-label name would match a whole top-level domain";
		return CHECK_INVALID;
	}
	if (icann_public_suffix(out)) {
		*why = "a public suffix would match every site registered under it";
		return CHECK_INVALID;
	}
	*outlen = strlen(out);
	return CHECK_OK;
}

/* ---- public building API ---- */

struct catalog *catalog_create(void)
{
	struct catalog *cat = calloc(1, sizeof(*cat));

	if (!cat)
		return NULL;
	cat->slots = big_alloc(INITIAL_SLOTS * sizeof(*cat->slots));
	if (!cat->slots) {
		free(cat);
		return NULL;
	}
	cat->mask = INITIAL_SLOTS - 1;
	return cat;
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

void catalog_destroy(struct catalog *cat)
{
	if (!cat)
		return;
	big_free(cat->slots, (cat->mask + 1) * sizeof(*cat->slots));
	for (struct chunk *c = cat->arena, *next; c; c = next) {
		next = c->next;
		big_free(c->data, c->size);
		free(c);
	}
	names_free(&cat->platforms);
	names_free(&cat->categories);
	free(cat);
}

int catalog_add(struct catalog *cat, const char *domain, const char *platform,
		const char *category)
{
	char norm[HOSTNAME_MAX + 1];
	const char *why, *p, *c;
	size_t len;

	if (!cat || !domain || !name_valid(platform) || !name_valid(category))
		return -1;
	if (check_domain(domain, strlen(domain), norm, &len, &why) != CHECK_OK)
		return -1;
	p = intern(&cat->platforms, platform);
	c = intern(&cat->categories, category);
	if (!p || !c)
		return -1;
	return add_normalised(cat, norm, len, p, c, true, NULL);
}

size_t catalog_size(const struct catalog *cat)
{
	return cat ? cat->n_entries : 0;
}

int catalog_foreach_domain(const struct catalog *cat,
			   int (*fn)(const struct catalog_entry *e, void *ctx), void *ctx)
{
	if (!cat || !fn)
		return 0;
	/* every record has exactly one slot; markers have none */
	for (size_t i = 0; i <= cat->mask; i++) {
		const struct record *r = slot_record(&cat->slots[i]);
		int rc = r ? fn(&r->pub, ctx) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

const char *catalog_platform(const struct catalog *cat, const char *name)
{
	return cat ? find_name(&cat->platforms, name) : NULL;
}

const char *catalog_category(const struct catalog *cat, const char *name)
{
	return cat ? find_name(&cat->categories, name) : NULL;
}

size_t catalog_platforms(const struct catalog *cat, const char **names, size_t max)
{
	return cat ? list_names(&cat->platforms, names, max) : 0;
}

size_t catalog_categories(const struct catalog *cat, const char **names, size_t max)
{
	return cat ? list_names(&cat->categories, names, max) : 0;
}

/* ---- loading files ---- */

/* Errors of one file: the first ERRORS_PER_FILE are listed, then a count. */
struct file_errors {
	struct conf_errors *errs;
	const char *path;
	unsigned n;
};

static void file_error(struct file_errors *fe, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void file_error(struct file_errors *fe, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (fe->n++ >= ERRORS_PER_FILE || !fe->errs)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_errors_add(fe->errs, fe->path, line, "%s", msg);
}

static int file_finish(struct file_errors *fe, FILE *f)
{
	if (ferror(f))
		file_error(fe, 0, "read error");
	fclose(f);
	if (fe->n > ERRORS_PER_FILE && fe->errs)
		conf_errors_add(fe->errs, fe->path, 0, "%u more errors not listed",
				fe->n - ERRORS_PER_FILE);
	return fe->n ? -1 : 0;
}

static FILE *file_open(struct file_errors *fe)
{
	FILE *f = fopen(fe->path, "re");

	if (!f)
		file_error(fe, 0, "cannot open: %s", strerror(errno));
	return f;
}

/* Cut a '#' comment off the line. */
static void strip_comment(char *line)
{
	char *hash = strchr(line, '#');

	if (hash)
		*hash = '\0';
}

int catalog_load_platforms(struct catalog *cat, const char *path, struct conf_errors *errs)
{
	struct file_errors fe = {.errs = errs, .path = path};
	const char *platform = NULL, *category = NULL;
	bool skip_block = false; /* the platform line above was bad: say it once */
	char *line = NULL, *save, *tok;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;

	if (!cat)
		return -1;
	if (!(f = file_open(&fe)))
		return -1;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		strip_comment(line);
		bool continuation = line[0] == ' ' || line[0] == '\t';
		if (!(tok = strtok_r(line, SPACE, &save)))
			continue; /* blank, or only a comment: a block goes on after it */
		if (!continuation) {
			const char *ctok = strtok_r(NULL, SPACE, &save);
			platform = category = NULL;
			skip_block = true;
			if (!name_valid(tok)) {
				file_error(&fe, lineno,
					   "platform name '%s': use 1-%d of a-z, 0-9, '_' and '-'",
					   tok, NAME_MAX_LEN);
				continue;
			}
			if (!ctok) {
				file_error(&fe, lineno, "platform '%s' has no category", tok);
				continue;
			}
			if (!name_valid(ctok)) {
				file_error(&fe, lineno,
					   "category name '%s': use 1-%d of a-z, 0-9, '_' and '-'",
					   ctok, NAME_MAX_LEN);
				continue;
			}
			platform = intern(&cat->platforms, tok);
			category = intern(&cat->categories, ctok);
			if (!platform || !category)
				goto oom;
			skip_block = false;
			tok = strtok_r(NULL, SPACE, &save);
		} else if (!platform) {
			if (!skip_block)
				file_error(&fe, lineno,
					   "an indented line continues a platform line, but there is none above");
			skip_block = true;
			continue;
		}
		for (; tok; tok = strtok_r(NULL, SPACE, &save)) {
			char norm[HOSTNAME_MAX + 1];
			const char *why, *prev;
			size_t len;
			if (check_domain(tok, strlen(tok), norm, &len, &why) != CHECK_OK) {
				file_error(&fe, lineno, "'%s': %s", tok, why);
				continue;
			}
			if (add_normalised(cat, norm, len, platform, category, false, &prev) < 0)
				goto oom;
			if (prev && prev != platform)
				file_error(&fe, lineno, "'%s' is listed for platform '%s' already",
					   norm, prev);
		}
	}
	free(line);
	return file_finish(&fe, f);
oom:
	file_error(&fe, lineno, "out of memory");
	free(line);
	file_finish(&fe, f);
	return -1;
}

/* An address in a hosts file: IPv4, or IPv6 with an optional zone. */
static bool is_address(const char *s)
{
	unsigned char buf[16];
	char tmp[64];
	const char *pct = strchr(s, '%');
	size_t n = pct ? (size_t)(pct - s) : strlen(s);

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET, tmp, buf) == 1 || inet_pton(AF_INET6, tmp, buf) == 1;
}

/*
 * The names every hosts file carries for the machine itself ("127.0.0.1
 * localhost", "::1 ip6-localhost ip6-loopback", "255.255.255.255
 * broadcasthost", "127.0.0.1 localhost.localdomain"): skipped, not errors.
 */
static bool hosts_boilerplate(const char *tok)
{
	size_t n = strlen(tok);

	return !memchr(tok, '.', n) || (n >= 9 && strncasecmp(tok, "localhost", 9) == 0);
}

int catalog_load_list(struct catalog *cat, const char *path, const char *platform,
		      const char *category, struct conf_errors *errs)
{
	struct file_errors fe = {.errs = errs, .path = path};
	char *line = NULL, *save, *tok;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;

	if (!cat)
		return -1;
	if (!name_valid(platform) || !name_valid(category)) {
		file_error(&fe, 0, "platform '%s' / category '%s': use 1-%d of a-z, 0-9, '_' and '-'",
			   platform ? platform : "", category ? category : "", NAME_MAX_LEN);
		return -1;
	}
	platform = intern(&cat->platforms, platform);
	category = intern(&cat->categories, category);
	if (!platform || !category)
		return -1;
	if (!(f = file_open(&fe)))
		return -1;
	/* Size the table once for the whole file (a domain and its newline take
	 * about 16 bytes in real lists), rather than growing it a dozen times. */
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && st.st_size > 0)
		(void)reserve(cat, (size_t)st.st_size / 12);
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		strip_comment(line);
		if (!(tok = strtok_r(line, SPACE, &save)))
			continue;
		char *next = strtok_r(NULL, SPACE, &save);
		bool hosts = false;
		if (next) {
			if (!is_address(tok)) {
				file_error(&fe, lineno,
					   "expected one domain per line, or an address and names "
					   "(hosts format), not '%s %s'", tok, next);
				continue;
			}
			hosts = true;
			tok = next;
		}
		for (; tok; tok = hosts ? strtok_r(NULL, SPACE, &save) : NULL) {
			char norm[HOSTNAME_MAX + 1];
			const char *why;
			size_t len;
			if (hosts && hosts_boilerplate(tok))
				continue;
			switch (check_domain(tok, strlen(tok), norm, &len, &why)) {
			case CHECK_OK:
				if (add_normalised(cat, norm, len, platform, category, true, NULL) < 0) {
					file_error(&fe, lineno, "out of memory");
					free(line);
					file_finish(&fe, f);
					return -1;
				}
				break;
			case CHECK_IP:
				break; /* UT1 lists carry bare addresses; they never match a name */
			case CHECK_INVALID:
				file_error(&fe, lineno, "'%s': %s", tok, why);
				break;
			}
		}
	}
	free(line);
	return file_finish(&fe, f);
}
