/*
 * conf: loading breaktime.conf with inih, dispatching each key to its
 * section's handler, collecting every error with its file:line, and the
 * refcounted lifetime of the result.
 *
 * Runs before the event loops start or on the reload path of the main
 * thread; never on a worker's loop (it reads files).
 */
#include "conf_internal.h"
#include "policy_internal.h"

#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void conf_errors_add(struct conf_errors *e, const char *file, unsigned line,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (line)
		n = snprintf(msg, sizeof(msg), "%s:%u: ", file, line);
	else
		n = snprintf(msg, sizeof(msg), "%s: ", file);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		char **m = realloc(e->msgs, cap * sizeof(*m));
		if (!m)
			return;
		e->msgs = m;
		e->cap = cap;
	}
	char *dup = strdup(msg);
	if (dup)
		e->msgs[e->n++] = dup;
}

void conf_errors_print(const struct conf_errors *e, void *stream)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf((FILE *)stream, "%s\n", e->msgs[i]);
}

void conf_errors_free(struct conf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	memset(e, 0, sizeof(*e));
}

void conf_error(struct conf_loader *ld, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_errors_add(ld->errs, ld->file, ld->line, "%s", msg);
}

void conf_error_at(struct conf_loader *ld, unsigned line, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_errors_add(ld->errs, ld->file, line, "%s", msg);
}

/* ---- value parsers ---- */

int conf_parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	unsigned long r = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (r > (max - (unsigned long)(*s - '0')) / 10)
			return -1;
		r = r * 10 + (unsigned long)(*s - '0');
	}
	*v = r;
	return 0;
}

int conf_parse_duration_ms(const char *s, unsigned *ms)
{
	unsigned long v = 0;
	const char *p = s;
	unsigned long mult;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 100000000UL)
			return -1;
	}
	if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "s") == 0 || *p == '\0')
		mult = 1000;
	else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
		mult = 60000;
	else if (strcmp(p, "h") == 0)
		mult = 3600000UL;
	else if (strcmp(p, "d") == 0)
		mult = 86400000UL;
	else
		return -1;
	unsigned long long r = (unsigned long long)v * mult;
	if (r > 0xffffffffULL)
		return -1;
	*ms = (unsigned)r;
	return 0;
}

int conf_parse_size(const char *s, size_t *bytes)
{
	unsigned long long v = 0;
	const char *p = s;
	unsigned long long mult;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > (1ULL << 40))
			return -1;
	}
	if (*p == '\0' || strcmp(p, "B") == 0)
		mult = 1;
	else if (strcasecmp(p, "k") == 0 || strcasecmp(p, "KiB") == 0 || strcasecmp(p, "KB") == 0)
		mult = 1024;
	else if (strcasecmp(p, "m") == 0 || strcasecmp(p, "MiB") == 0 || strcasecmp(p, "MB") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(p, "g") == 0 || strcasecmp(p, "GiB") == 0 || strcasecmp(p, "GB") == 0)
		mult = 1024ULL * 1024 * 1024;
	else
		return -1;
	*bytes = (size_t)(v * mult);
	return 0;
}

int conf_parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = {"yes", "true", "on", "1", NULL};
	static const char *const no[] = {"no", "false", "off", "0", NULL};
	for (int i = 0; yes[i]; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *b = true, 0;
	for (int i = 0; no[i]; i++)
		if (strcasecmp(s, no[i]) == 0)
			return *b = false, 0;
	return -1;
}

size_t conf_split_list(char *s, char **items, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(s, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save)) {
		if (n < max)
			items[n] = tok;
		n++;
	}
	return n;
}

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned prev = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cur = row[j];
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned best = prev + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

const char *conf_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	unsigned bestd = 3; /* at most two edits */

	for (size_t i = 0; candidates[i]; i++) {
		unsigned d = edit_distance(word, candidates[i]);
		if (d < bestd) {
			bestd = d;
			best = candidates[i];
		}
	}
	return best;
}

/* ---- dispatch ---- */

static const char *const known_sections[] = {"proxy", "store", "web", "sensor", "site", "schedule",
					     "presence", "group", "auth", "catalog", NULL};

/* [sensor]: read by breaktime-sensor only */
static const char *const conf_sensor_keys[] = {"session_window", NULL};

static int conf_sensor_key(struct conf_loader *ld, const char *key, const char *value)
{
	if (strcmp(key, "session_window") != 0)
		return 0;
	unsigned ms;
	if (conf_parse_duration_ms(value, &ms) < 0 || ms > 86400000u)
		conf_error(ld, "session_window: `%s` is not a duration up to 1d (like 10m; 0: off)", value);
	else
		ld->conf->sensor.session_window_s = ms / 1000;
	return 1;
}

static void unknown_key(struct conf_loader *ld, const char *section, const char *key,
			const char *const *keys)
{
	const char *s = conf_suggest(key, keys);
	if (s)
		conf_error(ld, "unknown key `%s` in [%s]: did you mean `%s`?", key, section, s);
	else
		conf_error(ld, "unknown key `%s` in [%s]", key, section);
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct conf_loader *ld = user;

	policy_load_section_keyed(ld, section);
	if (strcmp(section, "proxy") == 0) {
		if (!ld->proxy_line)
			ld->proxy_line = ld->line;
		if (!conf_proxy_key(ld, key, value))
			unknown_key(ld, section, key, conf_proxy_keys);
	} else if (strcmp(section, "store") == 0) {
		if (!ld->store_line)
			ld->store_line = ld->line;
		if (!conf_store_key(ld, key, value))
			unknown_key(ld, section, key, conf_store_keys);
	} else if (strcmp(section, "web") == 0) {
		if (!ld->web_line)
			ld->web_line = ld->line;
		if (!conf_web_key(ld, key, value))
			unknown_key(ld, section, key, conf_web_keys);
	} else if (strcmp(section, "sensor") == 0) {
		if (!conf_sensor_key(ld, key, value))
			unknown_key(ld, section, key, conf_sensor_keys);
	} else if (policy_owns_section(section)) {
		policy_load_key(ld, section, key, value);
	} else if (section[0] == '\0') {
		conf_error(ld, "`%s` is outside any [section]", key);
	} else {
		/* "[grop staff]": suggest for the first word, keep the rest */
		char first[64];
		const char *sp = strpbrk(section, " \t");
		size_t n = sp ? (size_t)(sp - section) : strlen(section);
		snprintf(first, sizeof(first), "%.*s", (int)(n < sizeof(first) ? n : sizeof(first) - 1), section);
		const char *s = conf_suggest(first, known_sections);
		if (s && sp && strcmp(s, "group") == 0)
			conf_error(ld, "unknown section [%s]: did you mean [group%s]?", section, sp);
		else if (s && !sp && strcmp(s, "group") != 0)
			conf_error(ld, "unknown section [%s]: did you mean [%s]?", section, s);
		else
			conf_error(ld, "unknown section [%s]", section);
	}
	return 1; /* keep going: report every error at once */
}

/* inih reader that counts lines, so handlers know where they are. */
struct line_reader {
	struct conf_loader *ld;
	FILE *fp;             /* either a file ... */
	const char *str;      /* ... or a string */
	unsigned newlines;
	bool pending;         /* previous chunk ended a line */
	bool partial;         /* previous chunk did not end its line */
};

static char *read_line(char *buf, int size, void *stream)
{
	struct line_reader *r = stream;
	char *res;

	if (r->fp) {
		res = fgets(buf, size, r->fp);
	} else {
		if (!r->str || !*r->str)
			return NULL;
		int i = 0;
		while (i < size - 1 && r->str[i]) {
			buf[i] = r->str[i];
			if (r->str[i++] == '\n')
				break;
		}
		buf[i] = '\0';
		r->str += i;
		res = buf;
	}
	if (!res)
		return NULL;
	if (r->pending) {
		r->newlines++;
		r->pending = false;
	}
	size_t len = strlen(buf);
	bool starts_line = !r->partial;
	if (len > 0 && buf[len - 1] == '\n')
		r->pending = true;
	r->partial = !(len > 0 && buf[len - 1] == '\n');
	r->ld->line = r->newlines + 1;
	/* section headers, for sections that have no keys: "[name]" at column 0 */
	if (starts_line && buf[0] == '[') {
		const char *end = strchr(buf, ']');
		if (end) {
			/* as inih names it: what is between the brackets */
			char name[256];
			const char *b = buf + 1;
			size_t n = (size_t)(end - b);
			if (n < sizeof(name)) {
				memcpy(name, b, n);
				name[n] = '\0';
				policy_load_section(r->ld, name, r->ld->line);
			}
		}
	}
	return res;
}

static int load_common(struct line_reader *rd, const char *name, struct conf_loader *ld)
{
	/* Debian's libinih exposes its options at run time: long lines (member
	 * lists) must not be cut at 200 bytes. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 1 << 20;
	ini_allow_multiline = true;

	int rc = ini_parse_stream(read_line, rd, on_key, ld);
	if (rc < 0) {
		conf_errors_add(ld->errs, name, 0, "cannot read the file");
		return -1;
	}
	if (rc > 0)
		conf_errors_add(ld->errs, name, (unsigned)rc,
				"syntax error (expected `key = value` or `[section]`)");
	return 0;
}

static struct conf *conf_new(const char *name)
{
	struct conf *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->refs = 1;
	c->path = strdup(name);
	conf_proxy_defaults(c);
	conf_web_defaults(c);
	c->sensor.session_window_s = 600;
	return c;
}

static struct conf *finish(struct conf_loader *ld)
{
	conf_proxy_finish(ld);
	conf_web_finish(ld);
	policy_load_finish(ld);
	policy_load_cleanup(ld);
	if (ld->errs->n) {
		conf_unref(ld->conf);
		return NULL;
	}
	return ld->conf;
}

struct conf *conf_load(const char *path, struct conf_errors *errs)
{
	struct conf_loader ld = {.errs = errs, .file = path};
	FILE *fp = fopen(path, "r");

	if (!fp) {
		conf_errors_add(errs, path, 0, "cannot open: %m");
		return NULL;
	}
	ld.conf = conf_new(path);
	if (!ld.conf) {
		fclose(fp);
		conf_errors_add(errs, path, 0, "out of memory");
		return NULL;
	}
	struct line_reader rd = {.ld = &ld, .fp = fp};
	load_common(&rd, path, &ld);
	fclose(fp);
	return finish(&ld);
}

struct conf *conf_load_string(const char *text, const char *name, struct conf_errors *errs)
{
	return conf_load_string_flags(text, name, 0, errs);
}

struct conf *conf_load_string_flags(const char *text, const char *name, unsigned flags,
				    struct conf_errors *errs)
{
	struct conf_loader ld = {.errs = errs, .file = name, .flags = flags};

	ld.conf = conf_new(name);
	if (!ld.conf) {
		conf_errors_add(errs, name, 0, "out of memory");
		return NULL;
	}
	struct line_reader rd = {.ld = &ld, .str = text};
	load_common(&rd, name, &ld);
	return finish(&ld);
}

struct conf *conf_ref(struct conf *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void conf_unref(struct conf *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	conf_proxy_free(c);
	conf_web_free(c);
	policy_destroy(c->policy);
	conf_errors_free(&c->warnings);
	free(c->path);
	free(c);
}
