/*
 * policy_internal: the policy model's structures, shared by its loader
 * (policy_load.c), decide() (policy.c) and presence.c. Only config/
 * includes this; everyone else uses the accessors in policy.h.
 */
#ifndef BREAKTIME_POLICY_INTERNAL_H
#define BREAKTIME_POLICY_INTERNAL_H

#include "conf_internal.h"
#include "expr.h"
#include "netaddr.h"
#include "policy.h"

/*
 * What G's rule is during one stretch of a weekday, precomputed at load
 * from the schedule and the `social` expression, so decide() evaluates
 * nothing but a table lookup:
 */
#define SEG_RULE_NO_STUDENTS 1u  /* the rule holds when no students are present */
#define SEG_RULE_STUDENTS    2u  /* the rule holds when students are present */
#define SEG_TIMETABLE        4u  /* the presence timetable window is open */

struct group_day {
	size_t n;
	uint16_t *start;              /* minute each stretch starts; start[0] == 0 */
	uint8_t *bits;                /* SEG_* for each stretch */
};

struct group {
	char *name;
	unsigned line;                /* [group NAME] line; 0 for a built-in default */
	bool defined;                 /* appeared in the file */
	char *social_text;
	unsigned social_line;
	struct expr social;
	bool never;                   /* the rule is constant false */
	unsigned allowance;           /* minutes a day, POLICY_UNLIMITED */
	unsigned allowance_line;
	unsigned break_allowance;     /* minutes a period, POLICY_UNLIMITED */
	enum over_allowance over;
	const char **sanctioned;      /* interned catalog platform names */
	size_t n_sanctioned;
	bool organisational;
	const char **org_platforms;   /* interned; n == 0 with organisational: every platform */
	size_t n_org_platforms;
	size_t n_members;
	struct group_day week[7];
	/* the same with SEG_TIMETABLE dropped where it cannot change the verdict
	 * (the rule is the same with or without students, nothing is
	 * sanctioned): fewer steps for until's walk */
	struct group_day scan[7];
	uint8_t closed_bits;          /* SEG_* on a closed date */
};

struct member {
	const char *name;             /* points into names[] storage */
	const struct group *group;
};

struct policy {
	struct schedule schedule;
	int timetable;                /* window index, -1: none */
	unsigned detect_idle;         /* seconds */
	struct cidr *detect_subnets;
	size_t n_detect_subnets;
	const struct group **detect_groups;
	size_t n_detect_groups;

	struct group *groups;
	size_t n_groups;
	const struct group *default_group;

	/* user -> group: open addressing, case-insensitive, power-of-two size */
	struct member *members;
	size_t members_mask;
	char **member_names;
	size_t n_member_names;

	struct policy_auth auth;
	char *auth_strings[4];        /* storage behind auth */

	struct catalog *catalog;
	char *platforms_path;
	const char **categories;      /* interned; n == 0: every category */
	size_t n_categories;
};

/* ---- the loader, called from conf.c ---- */

/* Section names the policy model owns ("group NAME" counts as "group"). */
extern const char *const policy_sections[];
bool policy_owns_section(const char *section);
/* A section header seen at line (any section: unknown keyless ones are reported at finish). */
void policy_load_section(struct conf_loader *ld, const char *section, unsigned line);
/* A key was seen in that section (so it is not reported again as keyless). */
void policy_load_section_keyed(struct conf_loader *ld, const char *section);
/* A key in one of those sections; reports its own errors. */
void policy_load_key(struct conf_loader *ld, const char *section, const char *key, const char *value);
/* After the whole file: validate, build conf->policy. Errors go to ld->errs. */
void policy_load_finish(struct conf_loader *ld);
/* Free whatever the loader holds (always called, after finish or on failure). */
void policy_load_cleanup(struct conf_loader *ld);

void policy_destroy(struct policy *p);

/* Case-insensitive FNV-1a of a user name (for the member table). */
uint64_t policy_name_hash(const char *s);

#endif
