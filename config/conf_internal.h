/*
 * conf_internal: what the section handlers of the configuration loader
 * share. Only config/ includes this.
 */
#ifndef BREAKTIME_CONF_INTERNAL_H
#define BREAKTIME_CONF_INTERNAL_H

#include "conf.h"

struct conf_loader {
	struct conf *conf;
	struct conf_errors *errs;
	const char *file;
	unsigned line;
	/* line each section was first seen on, for "missing key" errors */
	unsigned proxy_line, store_line, web_line;
	unsigned block_ca_line[2];    /* [proxy] block_ca, block_ca_key */
	void *policy_state;           /* owned by the policy model's loader */
	unsigned flags;               /* CONF_NO_FILES */
};

/* Report an error at the current line. */
void conf_error(struct conf_loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conf_error_at(struct conf_loader *ld, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Section handlers: return 1 when the key was known (valid or not), 0 when unknown. */
int conf_proxy_key(struct conf_loader *ld, const char *key, const char *value);
int conf_store_key(struct conf_loader *ld, const char *key, const char *value);
extern const char *const conf_proxy_keys[];
extern const char *const conf_store_keys[];
/* [web]: conf_web.c */
int conf_web_key(struct conf_loader *ld, const char *key, const char *value);
extern const char *const conf_web_keys[];
void conf_web_defaults(struct conf *c);
void conf_web_finish(struct conf_loader *ld);
void conf_web_free(struct conf *c);

void conf_proxy_defaults(struct conf *c);
void conf_proxy_finish(struct conf_loader *ld);
void conf_proxy_free(struct conf *c);

#endif
