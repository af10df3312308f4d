/*
 * conf_web: the [web] section — where `breaktime web` listens, its
 * certificate and key (HTTPS only), how long a session lasts and how many
 * failed logins an address may make in a minute, how many connections it
 * keeps open (in all, and from one client) and how long one may stay
 * silent. Defaults live here and in doc/breaktime.conf.5. The files are
 * not read here: `breaktime web` refuses to start without them, the other
 * programs never need them.
 */
#include "conf_internal.h"

#include <stdlib.h>
#include <string.h>

const char *const conf_web_keys[] = {
	"listen", "certificate", "private_key", "session_timeout", "login_attempts", "max_connections",
	"max_connections_per_client", "idle_timeout", NULL,
};

void conf_web_defaults(struct conf *c)
{
	struct conf_web *w = &c->web;

	sockaddr_parse("127.0.0.1:8443", &w->listen);
	w->session_timeout_ms = 8 * 3600 * 1000;
	w->login_attempts = 5;
	w->max_connections = 64;
	w->max_connections_per_client = 16;
	w->idle_timeout_ms = 30 * 1000;
}

static void set_path(char **out, const char *value)
{
	free(*out);
	*out = value && *value ? strdup(value) : NULL;
}

int conf_web_key(struct conf_loader *ld, const char *key, const char *value)
{
	struct conf_web *w = &ld->conf->web;
	unsigned long v;

	if (strcmp(key, "listen") == 0) {
		struct sockaddr_any sa;
		if (sockaddr_parse(value, &sa) < 0)
			conf_error(ld, "listen: `%s` is not ADDRESS:PORT (IPv6 in brackets: [::1]:8443)",
				   value);
		else
			w->listen = sa;
	} else if (strcmp(key, "certificate") == 0) {
		set_path(&w->certificate, value);
	} else if (strcmp(key, "private_key") == 0) {
		set_path(&w->private_key, value);
	} else if (strcmp(key, "session_timeout") == 0) {
		unsigned ms;
		if (conf_parse_duration_ms(value, &ms) < 0 || ms < 1000 || ms > 7 * 86400000u)
			conf_error(ld, "session_timeout: `%s` is not a duration from 1s to 7d (like 8h)",
				   value);
		else
			w->session_timeout_ms = ms;
	} else if (strcmp(key, "login_attempts") == 0) {
		if (conf_parse_uint(value, 1000, &v) < 0 || v == 0)
			conf_error(ld, "login_attempts: `%s` is not a number from 1 to 1000", value);
		else
			w->login_attempts = (unsigned)v;
	} else if (strcmp(key, "max_connections") == 0) {
		if (conf_parse_uint(value, 10000, &v) < 0 || v == 0)
			conf_error(ld, "max_connections: `%s` is not a number from 1 to 10000", value);
		else
			w->max_connections = (unsigned)v;
	} else if (strcmp(key, "max_connections_per_client") == 0) {
		if (conf_parse_uint(value, 10000, &v) < 0 || v == 0)
			conf_error(ld, "max_connections_per_client: `%s` is not a number from 1 to 10000",
				   value);
		else
			w->max_connections_per_client = (unsigned)v;
	} else if (strcmp(key, "idle_timeout") == 0) {
		unsigned ms;
		if (conf_parse_duration_ms(value, &ms) < 0 || ms < 1000 || ms > 3600000u)
			conf_error(ld, "idle_timeout: `%s` is not a duration from 1s to 1h (like 30s)",
				   value);
		else
			w->idle_timeout_ms = ms;
	} else {
		return 0;
	}
	return 1;
}

void conf_web_finish(struct conf_loader *ld)
{
	struct conf_web *w = &ld->conf->web;

	if (!w->certificate != !w->private_key)
		conf_error_at(ld, ld->web_line, "[web] needs both certificate and private_key");
}

void conf_web_free(struct conf *c)
{
	free(c->web.certificate);
	free(c->web.private_key);
}
