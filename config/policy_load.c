/*
 * policy_load: the policy sections of breaktime.conf — [site], [schedule],
 * [presence], [group NAME], [auth], [catalog] — read key by key while inih
 * walks the file, then validated and built into one immutable struct policy.
 *
 * DESIGN: keys are checked as they arrive when they stand alone (a date, a
 * duration, a subnet), and kept with their line when they refer to
 * something that may come later in the file (window names in `social`,
 * platform names, group names); policy_load_finish() resolves those, so
 * every error still names the line it is about. Any error anywhere leaves
 * conf->policy unset and conf_load() returns nothing: nothing is half
 * applied.
 *
 * Defaults (also in doc/breaktime.conf.5): the six groups of DESIGN.md
 * always exist — staff, volunteers, comms, admin with the policy's staff
 * rule `!students & (breaks | non_directed)` (comms also organisational for
 * every platform), students and guests with `never` — and a [group NAME]
 * section changes or adds to them; a group the file adds has `never` until
 * it says otherwise. Unidentified and unlisted users are in `guests`.
 *
 * Runs at configuration load only: reads files, allocates.
 */
#include "policy_internal.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_config.h"
#include "catalog.h"
#include "username.h"

#define STAFF_RULE "!students & (breaks | non_directed)"
#define DEFAULT_DETECT_IDLE (10 * 60)
#define MAX_USER_NAME 256
/* the variable index a built-in rule uses for a window the file does not define: never open */
#define VAR_MISSING_WINDOW 62

const char *const policy_sections[] = {"site", "schedule", "presence", "group", "auth", "catalog", NULL};

static const char *const site_keys[] = {"timezone", "closed", NULL};
static const char *const presence_keys[] = {"timetable", "detect_subnets", "detect_groups",
					    "detect_idle", NULL};
static const char *const group_keys[] = {"members", "social", "allowance", "break_allowance",
					 "over_allowance", "sanctioned", "organisational",
					 "platforms", NULL};
static const char *const auth_keys[] = {"default_group", "required", "htpasswd", "helper",
					"devices", "sign_in_expiry", NULL};
static const char *const catalog_keys[] = {"platforms", "lists", "platform", "category",
					   "categories", NULL};

static const struct {
	const char *name;
	const char *social;
	bool organisational;
} builtin_groups[] = {
	{"staff", STAFF_RULE, false},
	{"volunteers", STAFF_RULE, false},
	{"comms", STAFF_RULE, true},
	{"admin", STAFF_RULE, false},
	{"students", "never", false},
	{"guests", "never", false},
};

/* ---- loader state ---- */

struct item {
	char *s;
	unsigned line;
	char *origin;                 /* "file:PATH line N" for members read from a file */
};

struct items {
	struct item *v;
	size_t n, cap;
};

struct raw_group {
	char *name;
	unsigned line;
	unsigned social_line, allowance_line, break_allowance_line, over_line, org_line;
	char *social;
	unsigned allowance, break_allowance;
	enum over_allowance over;
	bool organisational;
	struct items members, sanctioned, platforms;
};

struct section_seen {
	char *name;
	unsigned line;
	bool keyed;
};

struct ploader {
	struct schedule sched;
	char *timezone;
	unsigned timezone_line, closed_line;
	char *timetable;
	unsigned timetable_line, detect_idle_line, detect_groups_line;
	unsigned detect_idle;
	struct cidr *subnets;
	size_t n_subnets;
	struct items detect_groups;
	bool detect_groups_set;
	char *default_group, *htpasswd, *helper, *devices;
	unsigned default_group_line, required_line, htpasswd_line, helper_line, devices_line;
	unsigned sign_in_expiry_line;
	unsigned sign_in_expiry_s;   /* 0: the end of the site-local day */
	bool required;
	char *platforms, *list_platform, *list_category;
	unsigned platforms_line, list_platform_line, list_category_line, categories_line;
	struct items lists, categories;
	struct raw_group *groups;
	size_t n_groups;
	struct section_seen *seen;
	size_t n_seen;
};

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++) {
		free(it->v[i].s);
		free(it->v[i].origin);
	}
	free(it->v);
	memset(it, 0, sizeof(*it));
}

static int items_add(struct items *it, const char *s, unsigned line, const char *origin)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 8;
		struct item *v = realloc(it->v, cap * sizeof(*v));
		if (!v)
			return -1;
		it->v = v;
		it->cap = cap;
	}
	it->v[it->n].s = strdup(s);
	it->v[it->n].line = line;
	it->v[it->n].origin = origin ? strdup(origin) : NULL;
	if (!it->v[it->n].s)
		return -1;
	it->n++;
	return 0;
}

static struct ploader *state(struct conf_loader *ld)
{
	if (!ld->policy_state) {
		struct ploader *pl = calloc(1, sizeof(*pl));
		if (!pl)
			return NULL;
		schedule_init(&pl->sched);
		pl->detect_idle = DEFAULT_DETECT_IDLE;
		ld->policy_state = pl;
	}
	return ld->policy_state;
}

/* ---- small value parsers ---- */

static void set_string(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
}

/* Scalar keys take one value: a second (or an indented continuation) is an error. */
static bool once(struct conf_loader *ld, unsigned *seen, const char *key)
{
	if (*seen) {
		conf_error(ld, "`%s` is given more than once (first on line %u): it takes one value",
			   key, *seen);
		return false;
	}
	*seen = ld->line;
	return true;
}

/* "30m", "1h", "90m", "none": minutes, or POLICY_UNLIMITED */
static int parse_minutes(const char *v, unsigned *out)
{
	unsigned ms;
	size_t n = strlen(v);

	if (strcasecmp(v, "none") == 0 || strcasecmp(v, "unlimited") == 0) {
		*out = POLICY_UNLIMITED;
		return 0;
	}
	if (n == 0 || (v[n - 1] >= '0' && v[n - 1] <= '9'))
		return -1; /* a bare number: minutes or seconds? say the unit */
	if (conf_parse_duration_ms(v, &ms) < 0 || ms % 60000 != 0)
		return -1;
	*out = ms / 60000;
	return 0;
}

static bool valid_group_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n > 0 && n <= 64;
}

static bool valid_window_name(const char *s)
{
	size_t n = 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n <= 63;
}

static bool valid_user_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= ' ' || s[n] == 0x7f || s[n] == ',')
			return false;
	return n > 0 && n <= MAX_USER_NAME;
}

/* Split a list value into items (comma and/or white space), each added with the current line. */
static void add_list(struct conf_loader *ld, struct items *it, const char *value)
{
	char *copy = strdup(value), *save = NULL;
	if (!copy)
		return;
	for (char *tok = strtok_r(copy, ", \t\r\n", &save); tok; tok = strtok_r(NULL, ", \t\r\n", &save))
		if (items_add(it, tok, ld->line, NULL) < 0)
			conf_error(ld, "out of memory");
	free(copy);
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

/* ---- [site] ---- */

static void site_key(struct conf_loader *ld, struct ploader *pl, const char *key, const char *value)
{
	char err[256];

	if (strcmp(key, "timezone") == 0) {
		if (!once(ld, &pl->timezone_line, key))
			return;
		if (!*value)
			conf_error(ld, "timezone: give an IANA name like Europe/London");
		set_string(&pl->timezone, value);
	} else if (strcmp(key, "closed") == 0) {
		if (!pl->closed_line)
			pl->closed_line = ld->line;
		if (schedule_closed_parse(&pl->sched, value, err, sizeof(err)) < 0)
			conf_error(ld, "closed: %s", err);
	} else {
		unknown_key(ld, "site", key, site_keys);
	}
}

/* ---- [schedule] ---- */

static void schedule_key(struct conf_loader *ld, struct ploader *pl, const char *key, const char *value)
{
	char err[256];

	if (!valid_window_name(key)) {
		conf_error(ld, "`%s` is not a window name: use letters, digits and _ (like non_directed)", key);
		return;
	}
	if (strcmp(key, "always") == 0 || strcmp(key, "never") == 0) {
		conf_error(ld, "`%s` cannot be a window name: it means %s in `social` rules", key,
			   strcmp(key, "always") == 0 ? "true" : "false");
		return;
	}
	int w = schedule_window_add(&pl->sched, key, ld->line);
	if (w < 0) {
		conf_error(ld, "too many windows (at most %d)", SCHEDULE_MAX_WINDOWS);
		return;
	}
	if (schedule_window_parse(&pl->sched, w, value, err, sizeof(err)) < 0)
		conf_error(ld, "%s: %s", key, err);
}

/* ---- [presence] ---- */

static void presence_key(struct conf_loader *ld, struct ploader *pl, const char *key, const char *value)
{
	if (strcmp(key, "timetable") == 0) {
		if (!once(ld, &pl->timetable_line, key))
			return;
		set_string(&pl->timetable, value);
	} else if (strcmp(key, "detect_idle") == 0) {
		unsigned ms;
		if (!once(ld, &pl->detect_idle_line, key))
			return;
		if (conf_parse_duration_ms(value, &ms) < 0 || ms > 86400000U)
			conf_error(ld, "detect_idle: `%s` is not a duration up to a day (like 10m)", value);
		else
			pl->detect_idle = ms / 1000;
	} else if (strcmp(key, "detect_subnets") == 0) {
		char *copy = strdup(value), *save = NULL;
		for (char *tok = copy ? strtok_r(copy, ", \t\r\n", &save) : NULL; tok;
		     tok = strtok_r(NULL, ", \t\r\n", &save)) {
			struct cidr c;
			if (cidr_parse(tok, &c) < 0) {
				conf_error(ld, "detect_subnets: `%s` is not an address or ADDRESS/BITS", tok);
				continue;
			}
			struct cidr *v = realloc(pl->subnets, (pl->n_subnets + 1) * sizeof(*v));
			if (!v)
				break;
			v[pl->n_subnets++] = c;
			pl->subnets = v;
		}
		free(copy);
	} else if (strcmp(key, "detect_groups") == 0) {
		if (!pl->detect_groups_line)
			pl->detect_groups_line = ld->line;
		pl->detect_groups_set = true;
		add_list(ld, &pl->detect_groups, value);
	} else {
		unknown_key(ld, "presence", key, presence_keys);
	}
}

/* ---- [auth] ---- */

static void auth_key(struct conf_loader *ld, struct ploader *pl, const char *key, const char *value)
{
	if (strcmp(key, "default_group") == 0) {
		if (once(ld, &pl->default_group_line, key))
			set_string(&pl->default_group, value);
	} else if (strcmp(key, "required") == 0) {
		if (once(ld, &pl->required_line, key) && conf_parse_bool(value, &pl->required) < 0)
			conf_error(ld, "required: `%s` is not yes or no", value);
	} else if (strcmp(key, "htpasswd") == 0) {
		if (once(ld, &pl->htpasswd_line, key))
			set_string(&pl->htpasswd, value);
	} else if (strcmp(key, "helper") == 0) {
		if (once(ld, &pl->helper_line, key))
			set_string(&pl->helper, value);
	} else if (strcmp(key, "devices") == 0) {
		if (once(ld, &pl->devices_line, key))
			set_string(&pl->devices, value);
	} else if (strcmp(key, "sign_in_expiry") == 0) {
		unsigned ms;
		if (!once(ld, &pl->sign_in_expiry_line, key))
			return;
		if (strcmp(value, "end-of-day") == 0)
			pl->sign_in_expiry_s = 0;
		else if (conf_parse_duration_ms(value, &ms) < 0 || ms < 1000)
			conf_error(ld, "sign_in_expiry: `%s` is not end-of-day or a duration of at least 1s "
				   "(30m, 8h)", value);
		else
			pl->sign_in_expiry_s = ms / 1000;
	} else {
		unknown_key(ld, "auth", key, auth_keys);
	}
}

/* ---- [catalog] ---- */

static bool valid_catalog_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
			return false;
	return n > 0 && n <= 32;
}

static void catalog_key(struct conf_loader *ld, struct ploader *pl, const char *key, const char *value)
{
	if (strcmp(key, "platforms") == 0) {
		if (!once(ld, &pl->platforms_line, key))
			return;
		if (!*value)
			conf_error(ld, "platforms: give the path of the platform list");
		set_string(&pl->platforms, value);
	} else if (strcmp(key, "lists") == 0) {
		add_list(ld, &pl->lists, value);
	} else if (strcmp(key, "platform") == 0 || strcmp(key, "category") == 0) {
		bool plat = key[1] == 'l';
		if (!once(ld, plat ? &pl->list_platform_line : &pl->list_category_line, key))
			return;
		if (!valid_catalog_name(value))
			conf_error(ld, "%s: `%s` is not a name of 1-32 a-z, 0-9, _ and -", key, value);
		set_string(plat ? &pl->list_platform : &pl->list_category, value);
	} else if (strcmp(key, "categories") == 0) {
		if (!pl->categories_line)
			pl->categories_line = ld->line;
		add_list(ld, &pl->categories, value);
	} else {
		unknown_key(ld, "catalog", key, catalog_keys);
	}
}

/* ---- [group NAME] ---- */

static struct raw_group *raw_group(struct ploader *pl, const char *section, const char *name,
				   unsigned line)
{
	/* the group is where its [group NAME] header is */
	for (size_t i = 0; i < pl->n_seen; i++)
		if (strcmp(pl->seen[i].name, section) == 0)
			line = pl->seen[i].line;
	for (size_t i = 0; i < pl->n_groups; i++)
		if (strcmp(pl->groups[i].name, name) == 0)
			return &pl->groups[i];
	struct raw_group *g = realloc(pl->groups, (pl->n_groups + 1) * sizeof(*g));
	if (!g)
		return NULL;
	pl->groups = g;
	g = &pl->groups[pl->n_groups];
	memset(g, 0, sizeof(*g));
	g->name = strdup(name);
	if (!g->name)
		return NULL;
	g->line = line;
	g->allowance = g->break_allowance = POLICY_UNLIMITED;
	pl->n_groups++;
	return g;
}

static void members_from_file(struct conf_loader *ld, struct raw_group *g, const char *path)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	unsigned n = 0;
	struct stat st;

	if (ld->flags & CONF_NO_FILES)
		return;
	if (!(fp = fopen(path, "re"))) {
		conf_error(ld, "members: cannot read `file:%s`: %s", path, strerror(errno));
		return;
	}
	if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
		/* a FIFO or a device would hang or never end */
		conf_error(ld, "members: `file:%s` is not a regular file", path);
		fclose(fp);
		return;
	}
	while (getline(&line, &cap, fp) >= 0) {
		char *s = line, *e;
		n++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '#' || *s == '\0' || *s == '\n' || *s == '\r')
			continue;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		char origin[600];
		snprintf(origin, sizeof(origin), "%s:%u", path, n);
		if (!valid_user_name(s)) {
			conf_error(ld, "members: %s: `%s` is not a user name (no spaces, commas or control characters)",
				   origin, s);
			continue;
		}
		if (items_add(&g->members, s, ld->line, origin) < 0) {
			conf_error(ld, "out of memory");
			break;
		}
	}
	if (ferror(fp))
		conf_error(ld, "members: error reading `file:%s`", path);
	free(line);
	fclose(fp);
}

static void group_key(struct conf_loader *ld, struct ploader *pl, const char *section, const char *name,
		      const char *key, const char *value)
{
	struct raw_group *g = raw_group(pl, section, name, ld->line);
	if (!g) {
		conf_error(ld, "out of memory");
		return;
	}
	if (strcmp(key, "members") == 0) {
		char *copy = strdup(value), *save = NULL;
		for (char *tok = copy ? strtok_r(copy, ", \t\r\n", &save) : NULL; tok;
		     tok = strtok_r(NULL, ", \t\r\n", &save)) {
			if (strncmp(tok, "file:", 5) == 0) {
				if (!tok[5])
					conf_error(ld, "members: `file:` needs a path, like file:/etc/breaktime/staff.txt");
				else
					members_from_file(ld, g, tok + 5);
			} else if (!valid_user_name(tok)) {
				conf_error(ld, "members: `%s` is not a user name", tok);
			} else if (items_add(&g->members, tok, ld->line, NULL) < 0) {
				conf_error(ld, "out of memory");
			}
		}
		free(copy);
	} else if (strcmp(key, "social") == 0) {
		if (once(ld, &g->social_line, key))
			set_string(&g->social, value);
	} else if (strcmp(key, "allowance") == 0 || strcmp(key, "break_allowance") == 0) {
		bool day = key[0] == 'a';
		if (!once(ld, day ? &g->allowance_line : &g->break_allowance_line, key))
			return;
		if (parse_minutes(value, day ? &g->allowance : &g->break_allowance) < 0)
			conf_error(ld, "%s: `%s` is not a whole number of minutes with its unit (like 30m or 1h), or none",
				   key, value);
	} else if (strcmp(key, "over_allowance") == 0) {
		if (!once(ld, &g->over_line, key))
			return;
		if (strcmp(value, "block") == 0)
			g->over = OVER_ALLOWANCE_BLOCK;
		else if (strcmp(value, "warn") == 0)
			g->over = OVER_ALLOWANCE_WARN;
		else if (strcmp(value, "log") == 0)
			g->over = OVER_ALLOWANCE_LOG;
		else
			conf_error(ld, "over_allowance: `%s` is not block, warn or log", value);
	} else if (strcmp(key, "sanctioned") == 0) {
		add_list(ld, &g->sanctioned, value);
	} else if (strcmp(key, "organisational") == 0 || strcmp(key, "organizational") == 0) {
		if (once(ld, &g->org_line, key) && conf_parse_bool(value, &g->organisational) < 0)
			conf_error(ld, "%s: `%s` is not yes or no", key, value);
	} else if (strcmp(key, "platforms") == 0) {
		add_list(ld, &g->platforms, value);
	} else {
		char title[128];
		snprintf(title, sizeof(title), "group %s", name);
		unknown_key(ld, title, key, group_keys);
	}
}

/* ---- dispatch ---- */

/* "group  staff " -> "staff" (NULL when the section is not a group) */
static const char *group_name_of(const char *section)
{
	if (strncmp(section, "group", 5) != 0 || (section[5] != '\0' && section[5] != ' ' && section[5] != '\t'))
		return NULL;
	const char *s = section + 5;
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

bool policy_owns_section(const char *section)
{
	if (group_name_of(section))
		return true;
	for (size_t i = 0; policy_sections[i]; i++)
		if (strcmp(section, policy_sections[i]) == 0 && strcmp(section, "group") != 0)
			return true;
	return false;
}

void policy_load_section(struct conf_loader *ld, const char *section, unsigned line)
{
	struct ploader *pl = state(ld);
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n_seen; i++)
		if (strcmp(pl->seen[i].name, section) == 0)
			return;
	struct section_seen *v = realloc(pl->seen, (pl->n_seen + 1) * sizeof(*v));
	if (!v)
		return;
	pl->seen = v;
	v[pl->n_seen].name = strdup(section);
	v[pl->n_seen].line = line;
	v[pl->n_seen].keyed = false;
	if (v[pl->n_seen].name)
		pl->n_seen++;
}

void policy_load_section_keyed(struct conf_loader *ld, const char *section)
{
	struct ploader *pl = ld->policy_state;
	for (size_t i = 0; pl && i < pl->n_seen; i++)
		if (strcmp(pl->seen[i].name, section) == 0)
			pl->seen[i].keyed = true;
}

void policy_load_key(struct conf_loader *ld, const char *section, const char *key, const char *value)
{
	struct ploader *pl = state(ld);
	const char *gname;

	if (!pl) {
		conf_error(ld, "out of memory");
		return;
	}
	if (strcmp(section, "site") == 0)
		site_key(ld, pl, key, value);
	else if (strcmp(section, "schedule") == 0)
		schedule_key(ld, pl, key, value);
	else if (strcmp(section, "presence") == 0)
		presence_key(ld, pl, key, value);
	else if (strcmp(section, "auth") == 0)
		auth_key(ld, pl, key, value);
	else if (strcmp(section, "catalog") == 0)
		catalog_key(ld, pl, key, value);
	else if ((gname = group_name_of(section))) {
		if (!*gname)
			conf_error(ld, "[group] needs a name: [group NAME], like [group staff]");
		else if (!valid_group_name(gname))
			conf_error(ld, "[group %s]: a group name is letters, digits, _, - and .", gname);
		else
			group_key(ld, pl, section, gname, key, value);
	}
}

/* ---- finishing: resolve, validate, build ---- */

struct finisher {
	struct conf_loader *ld;
	struct ploader *pl;
	struct policy *p;
	bool builtin_rule;            /* compiling a built-in default: unknown windows are never open */
};

static int resolve_window(void *ctx, const char *name)
{
	struct finisher *f = ctx;
	int w = schedule_window_find(&f->p->schedule, name);
	if (w < 0 && f->builtin_rule)
		return VAR_MISSING_WINDOW;
	return w;
}

/* Suggest among the schedule's windows plus the words of the language. */
static const char *suggest_window(const struct policy *p, const char *name)
{
	const char *cands[SCHEDULE_MAX_WINDOWS + 4];
	size_t n = 0;
	for (size_t i = 0; i < p->schedule.n_windows; i++)
		cands[n++] = p->schedule.windows[i].name;
	cands[n++] = "students";
	cands[n++] = "always";
	cands[n++] = "never";
	cands[n] = NULL;
	return conf_suggest(name, cands);
}

static const char *suggest_group(const struct policy *p, const char *name)
{
	const char **cands = calloc(p->n_groups + 1, sizeof(*cands));
	const char *s = NULL;
	if (!cands)
		return NULL;
	for (size_t i = 0; i < p->n_groups; i++)
		cands[i] = p->groups[i].name;
	s = conf_suggest(name, cands);
	free(cands);
	return s;
}

/* A platform (or category) name from the catalog, with a suggestion when unknown. */
static const char *resolve_catalog_name(struct finisher *f, const struct item *it, const char *key,
					bool category)
{
	const struct catalog *cat = f->p->catalog;
	const char *r = category ? catalog_category(cat, it->s) : catalog_platform(cat, it->s);
	if (r)
		return r;
	size_t n = category ? catalog_categories(cat, NULL, 0) : catalog_platforms(cat, NULL, 0);
	const char **names = calloc(n + 1, sizeof(*names));
	const char *s = NULL;
	if (names) {
		if (category)
			catalog_categories(cat, names, n);
		else
			catalog_platforms(cat, names, n);
		s = conf_suggest(it->s, names);
	}
	if (s)
		conf_error_at(f->ld, it->line, "%s: unknown %s `%s`: did you mean `%s`?", key,
			      category ? "category" : "platform", it->s, s);
	else
		conf_error_at(f->ld, it->line, "%s: `%s` is not a %s in the catalog%s", key, it->s,
			      category ? "category" : "platform",
			      n ? "" : " (the catalog is empty: see [catalog] platforms)");
	free(names);
	return NULL;
}

static bool in_names(const char **v, size_t n, const char *r)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == r)
			return true;
	return false;
}

static const char **resolve_catalog_names(struct finisher *f, const struct items *it, const char *key,
					  bool category, size_t *n)
{
	*n = 0;
	if (!it->n)
		return NULL;
	const char **v = calloc(it->n, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < it->n; i++) {
		const char *r = resolve_catalog_name(f, &it->v[i], key, category);
		if (r && !in_names(v, *n, r))
			v[(*n)++] = r;
	}
	return v;
}

static void finish_timezone(struct finisher *f)
{
	char err[300];
	const char *name = f->pl->timezone && *f->pl->timezone ? f->pl->timezone : "localtime";
	if (f->ld->flags & CONF_NO_FILES) {
		f->p->schedule.tz = tz_from_posix("UTC", "UTC0");
		return;
	}
	f->p->schedule.tz = tz_load(name, err, sizeof(err));
	if (!f->p->schedule.tz)
		conf_error_at(f->ld, f->pl->timezone_line, "timezone: %s", err);
}

/* The platform a list file adds to when [catalog] platform is not given. */
static void list_platform_name(const char *path, char *out, size_t outlen)
{
	char buf[PATH_MAX + 32];
	snprintf(buf, sizeof(buf), "%s", path);
	size_t len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	char *base = strrchr(buf, '/');
	char *name = base ? base + 1 : buf;
	/* UT1 / Shalla: CATEGORY/domains -> CATEGORY */
	if (base && (strcmp(name, "domains") == 0 || strcmp(name, "urls") == 0)) {
		*base = '\0';
		base = strrchr(buf, '/');
		name = base ? base + 1 : buf;
	} else {
		char *dot = strchr(name, '.');
		if (dot && dot != name)
			*dot = '\0';
	}
	size_t k = 0;
	for (const char *s = name; *s && k + 1 < outlen && k < 32; s++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			c = '_';
		out[k++] = c;
	}
	out[k] = '\0';
	if (!k)
		snprintf(out, outlen, "list");
}

static void finish_catalog(struct finisher *f)
{
	struct ploader *pl = f->pl;
	struct policy *p = f->p;
	struct conf_loader *ld = f->ld;

	p->catalog = catalog_create();
	if (!p->catalog) {
		conf_error_at(ld, pl->platforms_line, "out of memory");
		return;
	}
	if (ld->flags & CONF_NO_FILES) {
		/* nothing is read: the catalog stays empty */
	} else if (pl->platforms) {
		p->platforms_path = strdup(pl->platforms);
		if (access(pl->platforms, R_OK) < 0)
			conf_error_at(ld, pl->platforms_line, "platforms: cannot read `%s`: %s", pl->platforms,
				      strerror(errno));
		else
			catalog_load_platforms(p->catalog, pl->platforms, ld->errs);
	} else {
		p->platforms_path = strdup(DATADIR "/platforms.list");
		if (access(p->platforms_path, F_OK) == 0)
			catalog_load_platforms(p->catalog, p->platforms_path, ld->errs);
		else
			conf_errors_add(&ld->conf->warnings, ld->file, 0,
					"no platform list: %s is missing and [catalog] platforms is not set, "
					"so no site is treated as social media", p->platforms_path);
	}
	for (size_t i = 0; i < pl->lists.n && !(ld->flags & CONF_NO_FILES); i++) {
		const struct item *it = &pl->lists.v[i];
		glob_t gl;
		int rc = glob(it->s, GLOB_TILDE | GLOB_BRACE, NULL, &gl);
		if (rc == GLOB_NOMATCH) {
			conf_error_at(ld, it->line, "lists: `%s` matches no file", it->s);
			continue;
		}
		if (rc != 0) {
			conf_error_at(ld, it->line, "lists: cannot read `%s`", it->s);
			continue;
		}
		for (size_t j = 0; j < gl.gl_pathc; j++) {
			char path[PATH_MAX + 16], platform[40];
			struct stat st;
			const char *file = gl.gl_pathv[j];
			if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
				/* a UT1/Shalla category folder */
				snprintf(path, sizeof(path), "%s/domains", file);
				file = path;
			}
			if (pl->list_platform)
				snprintf(platform, sizeof(platform), "%s", pl->list_platform);
			else
				list_platform_name(file, platform, sizeof(platform));
			catalog_load_list(p->catalog, file, platform,
					  pl->list_category ? pl->list_category : "social", ld->errs);
		}
		globfree(&gl);
	}
	p->categories = resolve_catalog_names(f, &pl->categories, "categories", true, &p->n_categories);
}

static uint8_t stretch_bits(const struct policy *p, const struct group *g, uint64_t mask)
{
	uint8_t bits = 0;
	if (expr_eval(&g->social, mask, false))
		bits |= SEG_RULE_NO_STUDENTS;
	if (expr_eval(&g->social, mask, true))
		bits |= SEG_RULE_STUDENTS;
	if (p->timetable >= 0 && ((mask >> p->timetable) & 1))
		bits |= SEG_TIMETABLE;
	return bits;
}

static int build_group_days(struct policy *p, struct group *g)
{
	const struct schedule *s = &p->schedule;
	for (unsigned d = 0; d < 7; d++) {
		size_t max = 1;
		for (size_t i = 0; i < s->n_windows; i++)
			max += 2 * s->windows[i].n_iv[d];
		uint16_t *edges = calloc(max, sizeof(*edges));
		struct group_day *gd = &g->week[d];
		gd->start = calloc(max, sizeof(*gd->start));
		gd->bits = calloc(max, sizeof(*gd->bits));
		if (!edges || !gd->start || !gd->bits) {
			free(edges);
			return -1;
		}
		struct group_day *sd = &g->scan[d];
		sd->start = calloc(max, sizeof(*sd->start));
		sd->bits = calloc(max, sizeof(*sd->bits));
		if (!sd->start || !sd->bits) {
			free(edges);
			return -1;
		}
		size_t n = schedule_edges(s, d, edges, max);
		gd->n = sd->n = 0;
		for (size_t i = 0; i < n; i++) {
			uint8_t b = stretch_bits(p, g, schedule_mask(s, d, edges[i]));
			if (!gd->n || gd->bits[gd->n - 1] != b) {
				gd->start[gd->n] = edges[i];
				gd->bits[gd->n] = b;
				gd->n++;
			}
			bool both = (b & SEG_RULE_NO_STUDENTS) && (b & SEG_RULE_STUDENTS);
			bool neither = !(b & (SEG_RULE_NO_STUDENTS | SEG_RULE_STUDENTS));
			if (g->n_sanctioned == 0 && (both || neither))
				b &= (uint8_t)~SEG_TIMETABLE;
			if (!sd->n || sd->bits[sd->n - 1] != b) {
				sd->start[sd->n] = edges[i];
				sd->bits[sd->n] = b;
				sd->n++;
			}
		}
		free(edges);
	}
	g->closed_bits = stretch_bits(p, g, 0);
	return 0;
}

static void finish_group(struct finisher *f, struct group *g, const struct raw_group *rg)
{
	struct conf_loader *ld = f->ld;
	char err[300], bad[64];

	if (rg) {
		g->defined = true;
		g->line = rg->line;
		if (rg->social) {
			free(g->social_text);
			g->social_text = strdup(rg->social);
			g->social_line = rg->social_line;
		}
		if (rg->allowance_line) {
			g->allowance = rg->allowance;
			g->allowance_line = rg->allowance_line;
		}
		if (rg->break_allowance_line)
			g->break_allowance = rg->break_allowance;
		if (rg->over_line)
			g->over = rg->over;
		if (rg->org_line)
			g->organisational = rg->organisational;
		g->sanctioned = resolve_catalog_names(f, &rg->sanctioned, "sanctioned", false, &g->n_sanctioned);
		g->org_platforms = resolve_catalog_names(f, &rg->platforms, "platforms", false, &g->n_org_platforms);
		if (rg->platforms.n && !g->organisational)
			conf_error_at(ld, rg->platforms.v[0].line,
				      "platforms: only an organisational group lists platforms (add `organisational = yes`)");
	}
	f->builtin_rule = g->social_line == 0;
	if (expr_compile(&g->social, g->social_text, resolve_window, f, err, sizeof(err), bad) < 0) {
		const char *s = bad[0] ? suggest_window(f->p, bad) : NULL;
		if (s)
			conf_error_at(ld, g->social_line, "social: %s: did you mean `%s`?", err, s);
		else
			conf_error_at(ld, g->social_line, "social: %s", err);
		return;
	}
	bool value;
	g->never = expr_constant(&g->social, &value) && !value;
	if (g->social_line == 0 && f->p->schedule.n_windows) {
		/* the built-in rule names windows this schedule may not have */
		if ((g->social.uses >> VAR_MISSING_WINDOW) & 1)
			conf_errors_add(&ld->conf->warnings, ld->file, g->line,
					"[group %s] has the default rule `%s`, but [schedule] does not define "
					"all of its windows: the missing ones are never open",
					g->name, g->social_text);
	}
	if (build_group_days(f->p, g) < 0)
		conf_error_at(ld, g->line, "out of memory");
}

static void finish_members(struct finisher *f)
{
	struct policy *p = f->p;
	struct ploader *pl = f->pl;
	size_t total = 0;

	for (size_t i = 0; i < pl->n_groups; i++)
		total += pl->groups[i].members.n;
	if (!total)
		return;
	size_t size = 16;
	while (size < total * 2)
		size *= 2;
	p->members = calloc(size, sizeof(*p->members));
	p->member_names = calloc(total, sizeof(*p->member_names));
	if (!p->members || !p->member_names) {
		conf_error_at(f->ld, 0, "out of memory");
		return;
	}
	p->members_mask = size - 1;
	for (size_t i = 0; i < pl->n_groups; i++) {
		const struct raw_group *rg = &pl->groups[i];
		struct group *g = (struct group *)policy_group_find(p, rg->name);
		for (size_t j = 0; j < rg->members.n; j++) {
			const struct item *it = &rg->members.v[j];
			size_t k = (size_t)policy_name_hash(it->s) & p->members_mask;
			bool dup = false;
			while (p->members[k].name) {
				if (username_equal(p->members[k].name, it->s)) {
					dup = true;
					break;
				}
				k = (k + 1) & p->members_mask;
			}
			if (dup) {
				const struct group *other = p->members[k].group;
				if (other == g)
					continue; /* listed twice in one group: harmless */
				conf_error_at(f->ld, it->line,
					      "members: `%s`%s%s%s is already a member of [group %s]: a user is in one group",
					      it->s, it->origin ? " (" : "", it->origin ? it->origin : "",
					      it->origin ? ")" : "", other->name);
				continue;
			}
			char *name = strdup(it->s);
			if (!name)
				continue;
			p->member_names[p->n_member_names++] = name;
			p->members[k].name = name;
			p->members[k].group = g;
			g->n_members++;
		}
	}
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

void policy_load_finish(struct conf_loader *ld)
{
	struct ploader *pl = state(ld);
	struct policy *p = calloc(1, sizeof(*p));
	struct finisher f = {.ld = ld, .pl = pl, .p = p};

	if (!pl || !p) {
		conf_errors_add(ld->errs, ld->file, 0, "out of memory");
		free(p);
		return;
	}
	/* unknown sections that had no keys (those with keys were reported there) */
	for (size_t i = 0; i < pl->n_seen; i++) {
		const char *name = pl->seen[i].name;
		if (pl->seen[i].keyed || policy_owns_section(name) || strcmp(name, "proxy") == 0 ||
		    strcmp(name, "store") == 0 || strcmp(name, "web") == 0)
			continue;
		conf_error_at(ld, pl->seen[i].line, "unknown section [%s]", name);
	}

	/* a [group NAME] with no keys still defines the group */
	for (size_t i = 0; i < pl->n_seen; i++) {
		const char *gname = group_name_of(pl->seen[i].name);
		if (gname && *gname && valid_group_name(gname) && !raw_group(pl, pl->seen[i].name, gname, pl->seen[i].line))
			conf_error_at(ld, pl->seen[i].line, "out of memory");
	}

	/* the clock */
	p->schedule = pl->sched;
	schedule_init(&pl->sched); /* moved */
	schedule_finish(&p->schedule);
	finish_timezone(&f);
	if (!p->schedule.tz)
		p->schedule.tz = tz_from_posix("UTC", "UTC0"); /* keeps later checks going */

	p->timetable = -1;
	if (pl->timetable && *pl->timetable) {
		p->timetable = schedule_window_find(&p->schedule, pl->timetable);
		if (p->timetable < 0) {
			const char *s = suggest_window(p, pl->timetable);
			if (s && strcmp(s, "students") && strcmp(s, "always") && strcmp(s, "never"))
				conf_error_at(ld, pl->timetable_line,
					      "timetable: no [schedule] window `%s`: did you mean `%s`?", pl->timetable, s);
			else
				conf_error_at(ld, pl->timetable_line, "timetable: no [schedule] window `%s`",
					      pl->timetable);
		}
	} else if (!pl->timetable_line) {
		p->timetable = schedule_window_find(&p->schedule, "students");
	}
	p->detect_idle = pl->detect_idle;
	p->detect_subnets = pl->subnets;
	p->n_detect_subnets = pl->n_subnets;
	pl->subnets = NULL;

	finish_catalog(&f);

	/* groups: the built-in six, then the file's */
	size_t nb = sizeof(builtin_groups) / sizeof(builtin_groups[0]);
	p->groups = calloc(nb + pl->n_groups, sizeof(*p->groups));
	if (!p->groups) {
		conf_errors_add(ld->errs, ld->file, 0, "out of memory");
		policy_destroy(p);
		return;
	}
	for (size_t i = 0; i < nb; i++) {
		struct group *g = &p->groups[p->n_groups++];
		g->name = strdup(builtin_groups[i].name);
		g->social_text = strdup(builtin_groups[i].social);
		g->organisational = builtin_groups[i].organisational;
		g->allowance = g->break_allowance = POLICY_UNLIMITED;
	}
	for (size_t i = 0; i < pl->n_groups; i++) {
		if (policy_group_find(p, pl->groups[i].name))
			continue;
		struct group *g = &p->groups[p->n_groups++];
		g->name = strdup(pl->groups[i].name);
		g->social_text = strdup("never");
		g->allowance = g->break_allowance = POLICY_UNLIMITED;
	}
	for (size_t i = 0; i < p->n_groups; i++) {
		const struct raw_group *rg = NULL;
		for (size_t j = 0; j < pl->n_groups; j++)
			if (strcmp(pl->groups[j].name, p->groups[i].name) == 0)
				rg = &pl->groups[j];
		finish_group(&f, &p->groups[i], rg);
	}
	finish_members(&f);

	/* [auth] */
	const char *dg = pl->default_group && *pl->default_group ? pl->default_group : "guests";
	p->default_group = policy_group_find(p, dg);
	if (!p->default_group) {
		const char *s = suggest_group(p, dg);
		if (s)
			conf_error_at(ld, pl->default_group_line, "default_group: no group `%s`: did you mean `%s`?", dg, s);
		else
			conf_error_at(ld, pl->default_group_line, "default_group: no group `%s` (define it with [group %s])",
				      dg, dg);
		p->default_group = &p->groups[0];
	}
	p->auth_strings[0] = strdup(p->default_group->name);
	p->auth_strings[1] = dup_or_null(pl->htpasswd);
	p->auth_strings[2] = dup_or_null(pl->helper);
	p->auth_strings[3] = dup_or_null(pl->devices);
	p->auth.default_group = p->auth_strings[0];
	p->auth.htpasswd = p->auth_strings[1];
	p->auth.helper = p->auth_strings[2];
	p->auth.devices = p->auth_strings[3];
	p->auth.required = pl->required;
	p->auth.sign_in_expiry_s = pl->sign_in_expiry_s;
	if (pl->required && !pl->htpasswd && !pl->helper)
		conf_error_at(ld, pl->required_line, "required: authentication needs `htpasswd` or `helper` in [auth]");

	/* [presence] detect_groups (default: students) */
	if (!pl->detect_groups_set)
		items_add(&pl->detect_groups, "students", 0, NULL);
	p->detect_groups = calloc(pl->detect_groups.n + 1, sizeof(*p->detect_groups));
	for (size_t i = 0; p->detect_groups && i < pl->detect_groups.n; i++) {
		const struct item *it = &pl->detect_groups.v[i];
		const struct group *g = policy_group_find(p, it->s);
		if (g) {
			p->detect_groups[p->n_detect_groups++] = g;
			continue;
		}
		const char *s = suggest_group(p, it->s);
		if (s)
			conf_error_at(ld, it->line, "detect_groups: no group `%s`: did you mean `%s`?", it->s, s);
		else
			conf_error_at(ld, it->line, "detect_groups: no group `%s`", it->s);
	}

	if (ld->errs->n) {
		policy_destroy(p);
		return;
	}
	ld->conf->policy = p;
}

void policy_load_cleanup(struct conf_loader *ld)
{
	struct ploader *pl = ld->policy_state;
	if (!pl)
		return;
	schedule_destroy_contents(&pl->sched);
	free(pl->timezone);
	free(pl->timetable);
	free(pl->subnets);
	items_free(&pl->detect_groups);
	free(pl->default_group);
	free(pl->htpasswd);
	free(pl->helper);
	free(pl->devices);
	free(pl->platforms);
	free(pl->list_platform);
	free(pl->list_category);
	items_free(&pl->lists);
	items_free(&pl->categories);
	for (size_t i = 0; i < pl->n_groups; i++) {
		struct raw_group *g = &pl->groups[i];
		free(g->name);
		free(g->social);
		items_free(&g->members);
		items_free(&g->sanctioned);
		items_free(&g->platforms);
	}
	free(pl->groups);
	for (size_t i = 0; i < pl->n_seen; i++)
		free(pl->seen[i].name);
	free(pl->seen);
	free(pl);
	ld->policy_state = NULL;
}

void policy_destroy(struct policy *p)
{
	if (!p)
		return;
	schedule_destroy_contents(&p->schedule);
	free(p->detect_subnets);
	free(p->detect_groups);
	for (size_t i = 0; i < p->n_groups; i++) {
		struct group *g = &p->groups[i];
		free(g->name);
		free(g->social_text);
		free(g->sanctioned);
		free(g->org_platforms);
		for (int d = 0; d < 7; d++) {
			free(g->week[d].start);
			free(g->week[d].bits);
			free(g->scan[d].start);
			free(g->scan[d].bits);
		}
	}
	free(p->groups);
	free(p->members);
	for (size_t i = 0; i < p->n_member_names; i++)
		free(p->member_names[i]);
	free(p->member_names);
	for (int i = 0; i < 4; i++)
		free(p->auth_strings[i]);
	catalog_destroy(p->catalog);
	free(p->platforms_path);
	free(p->categories);
	free(p);
}
