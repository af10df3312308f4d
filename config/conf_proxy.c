/*
 * conf_proxy: the [proxy] and [store] sections — listeners, client ACL,
 * CONNECT ports, timeouts, limits, upstream DNS; the store's file and
 * what it keeps. Defaults live here and in doc/breaktime.conf.5.
 */
#include "conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const conf_proxy_keys[] = {
	"listen", "workers", "allow_clients", "connect_ports",
	"header_timeout", "idle_timeout", "upstream_timeout", "connect_timeout",
	"tunnel_idle_timeout", "sni_timeout", "pool_idle_timeout", "shutdown_grace",
	"dns_timeout", "max_connections", "max_connections_per_client", "pool_per_origin",
	"max_header_size", "max_uri_size", "tunnel_buffer", "allow_loopback_upstream",
	"dns_servers", "hosts_file", "visible_hostname", "user", "tls_listen",
	"tls_certificate", "tls_key", "block_ca", "block_ca_key", "metrics_allow", "block_page", "intercept_listen",
	"intercept_no_sni", NULL,
};

const char *const conf_store_keys[] = {
	"database", "retention", "access_log", "log_other", "active_bytes", "queue", "batch",
	"batch_interval", "hold", "max_size", NULL,
};

static const char *const default_allow[] = {
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"fc00::/7", "fe80::/10", NULL,
};

void conf_proxy_defaults(struct conf *c)
{
	struct conf_proxy *p = &c->proxy;

	p->workers = 0; /* 0: one per core, decided at start */
	p->header_timeout_ms = 30000;
	p->idle_timeout_ms = 60000;
	p->upstream_timeout_ms = 60000;
	p->connect_timeout_ms = 10000;
	p->tunnel_idle_timeout_ms = 600000;
	p->sni_timeout_ms = 3000;
	p->pool_idle_timeout_ms = 15000;
	p->shutdown_grace_ms = 10000;
	p->dns_timeout_ms = 2000;
	p->max_connections = 10000;
	p->max_connections_per_client = 256;
	p->pool_per_origin = 128;
	p->max_header_bytes = 64 * 1024;
	p->max_uri_bytes = 8 * 1024;
	p->tunnel_buffer_bytes = 256 * 1024;
	p->allow_loopback_upstream = false;
	c->store.retention_days = 180;
	c->store.log_other = LOG_OTHER_COUNTS;
	c->store.active_bytes = 2048;
}

static char *dup_or_null(const char *v)
{
	return (v && *v) ? strdup(v) : NULL;
}

static void set_listen(struct conf_loader *ld, const char *value, struct sockaddr_any **out,
		       size_t *nout)
{
	char *copy = strdup(value);
	char *items[64];
	size_t n = conf_split_list(copy, items, 64);

	if (n == 0 || n > 64) {
		conf_error(ld, "listen: give 1 to 64 addresses like 127.0.0.1:3128, [::1]:3128");
		free(copy);
		return;
	}
	struct sockaddr_any *l = calloc(n, sizeof(*l));
	for (size_t i = 0; i < n; i++) {
		if (sockaddr_parse(items[i], &l[i]) < 0) {
			conf_error(ld, "listen: `%s` is not ADDRESS:PORT (IPv6 in brackets: [::1]:3128)", items[i]);
			free(l);
			free(copy);
			return;
		}
	}
	free(*out);
	*out = l;
	*nout = n;
	free(copy);
}

static void set_cidrs(struct conf_loader *ld, const char *key, const char *value,
		      struct cidr **out, size_t *nout)
{
	char *copy = strdup(value);
	char *items[1024];
	size_t n = conf_split_list(copy, items, 1024);

	if (n > 1024) {
		conf_error(ld, "%s: at most 1024 entries", key);
		free(copy);
		return;
	}
	struct cidr *c = calloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		if (cidr_parse(items[i], &c[i]) < 0) {
			conf_error(ld, "%s: `%s` is not an address or ADDRESS/BITS", key, items[i]);
			free(c);
			free(copy);
			return;
		}
	}
	free(*out);
	*out = c;
	*nout = n;
	free(copy);
}

static void set_ports(struct conf_loader *ld, const char *value)
{
	struct conf_proxy *p = &ld->conf->proxy;
	char *copy = strdup(value);
	char *items[256];
	size_t n = conf_split_list(copy, items, 256);
	unsigned long v;

	if (n > 256) {
		conf_error(ld, "connect_ports: at most 256 ports");
		free(copy);
		return;
	}
	uint16_t *ports = calloc(n ? n : 1, sizeof(*ports));
	for (size_t i = 0; i < n; i++) {
		if (conf_parse_uint(items[i], 65535, &v) < 0 || v == 0) {
			conf_error(ld, "connect_ports: `%s` is not a port number", items[i]);
			free(ports);
			free(copy);
			return;
		}
		ports[i] = (uint16_t)v;
	}
	free(p->connect_ports);
	p->connect_ports = ports;
	p->n_connect_ports = n;
	free(copy);
}

static void set_strings(struct conf_loader *ld, const char *value, char ***out, size_t *nout)
{
	char *copy = strdup(value);
	char *items[16];
	size_t n = conf_split_list(copy, items, 16);

	if (n > 16) {
		conf_error(ld, "at most 16 entries");
		free(copy);
		return;
	}
	for (size_t i = 0; i < *nout; i++)
		free((*out)[i]);
	free(*out);
	*out = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		(*out)[i] = strdup(items[i]);
	*nout = n;
	free(copy);
}

static void set_duration(struct conf_loader *ld, const char *key, const char *value, unsigned *ms)
{
	if (conf_parse_duration_ms(value, ms) < 0)
		conf_error(ld, "%s: `%s` is not a duration (like 250ms, 30s, 10m, 1h)", key, value);
}

static void set_uint(struct conf_loader *ld, const char *key, const char *value,
		     unsigned long min, unsigned long max, unsigned *out)
{
	unsigned long v;
	if (conf_parse_uint(value, max, &v) < 0 || v < min)
		conf_error(ld, "%s: `%s` is not a number from %lu to %lu", key, value, min, max);
	else
		*out = (unsigned)v;
}

static void set_size(struct conf_loader *ld, const char *key, const char *value,
		     size_t min, size_t max, size_t *out)
{
	size_t v;
	if (conf_parse_size(value, &v) < 0 || v < min || v > max)
		conf_error(ld, "%s: `%s` is not a size from %zu to %zu bytes (like 64k)", key, value, min, max);
	else
		*out = v;
}

int conf_proxy_key(struct conf_loader *ld, const char *key, const char *value)
{
	struct conf_proxy *p = &ld->conf->proxy;

	if (strcmp(key, "listen") == 0)
		set_listen(ld, value, &p->listen, &p->n_listen);
	else if (strcmp(key, "tls_listen") == 0)
		set_listen(ld, value, &p->tls_listen, &p->n_tls_listen);
	else if (strcmp(key, "intercept_listen") == 0)
		set_listen(ld, value, &p->intercept_listen, &p->n_intercept_listen);
	else if (strcmp(key, "intercept_no_sni") == 0) {
		if (strcmp(value, "allow") == 0)
			p->intercept_no_sni_block = false;
		else if (strcmp(value, "block") == 0)
			p->intercept_no_sni_block = true;
		else
			conf_error(ld, "intercept_no_sni: `%s` is not allow or block", value);
	}
	else if (strcmp(key, "tls_certificate") == 0) {
		free(p->tls_certificate);
		p->tls_certificate = dup_or_null(value);
	} else if (strcmp(key, "tls_key") == 0) {
		free(p->tls_key);
		p->tls_key = dup_or_null(value);
	} else if (strcmp(key, "block_ca") == 0 || strcmp(key, "block_ca_key") == 0) {
		bool is_key = strcmp(key, "block_ca_key") == 0;
		char **slot = is_key ? &p->block_ca_key : &p->block_ca;
		free(*slot);
		*slot = dup_or_null(value);
		ld->block_ca_line[is_key] = ld->line;
	} else if (strcmp(key, "block_page") == 0 && (ld->flags & CONF_NO_FILES)) {
		/* fuzzing: files are not read */
	} else if (strcmp(key, "block_page") == 0) {
		FILE *f = fopen(value, "r");
		char *buf = f ? calloc(1, 65537) : NULL;
		size_t n = buf ? fread(buf, 1, 65536, f) : 0;
		if (!f || !buf || ferror(f) || !feof(f)) {
			conf_error(ld, "block_page: cannot read `%s` (a readable HTML file up to 64 KiB)", value);
			free(buf);
		} else {
			buf[n] = '\0';
			free(p->block_page);
			p->block_page = buf;
		}
		if (f)
			fclose(f);
	} else if (strcmp(key, "metrics_allow") == 0)
		set_cidrs(ld, key, value, &p->metrics_allow, &p->n_metrics_allow);
	else if (strcmp(key, "workers") == 0)
		set_uint(ld, key, value, 0, 256, &p->workers);
	else if (strcmp(key, "allow_clients") == 0)
		set_cidrs(ld, key, value, &p->allow_clients, &p->n_allow_clients);
	else if (strcmp(key, "connect_ports") == 0)
		set_ports(ld, value);
	else if (strcmp(key, "header_timeout") == 0)
		set_duration(ld, key, value, &p->header_timeout_ms);
	else if (strcmp(key, "idle_timeout") == 0)
		set_duration(ld, key, value, &p->idle_timeout_ms);
	else if (strcmp(key, "upstream_timeout") == 0)
		set_duration(ld, key, value, &p->upstream_timeout_ms);
	else if (strcmp(key, "connect_timeout") == 0)
		set_duration(ld, key, value, &p->connect_timeout_ms);
	else if (strcmp(key, "tunnel_idle_timeout") == 0)
		set_duration(ld, key, value, &p->tunnel_idle_timeout_ms);
	else if (strcmp(key, "sni_timeout") == 0)
		set_duration(ld, key, value, &p->sni_timeout_ms);
	else if (strcmp(key, "pool_idle_timeout") == 0)
		set_duration(ld, key, value, &p->pool_idle_timeout_ms);
	else if (strcmp(key, "shutdown_grace") == 0)
		set_duration(ld, key, value, &p->shutdown_grace_ms);
	else if (strcmp(key, "dns_timeout") == 0)
		set_duration(ld, key, value, &p->dns_timeout_ms);
	else if (strcmp(key, "max_connections") == 0)
		set_uint(ld, key, value, 1, 1000000, &p->max_connections);
	else if (strcmp(key, "max_connections_per_client") == 0)
		set_uint(ld, key, value, 1, 1000000, &p->max_connections_per_client);
	else if (strcmp(key, "pool_per_origin") == 0)
		set_uint(ld, key, value, 0, 1024, &p->pool_per_origin);
	else if (strcmp(key, "max_header_size") == 0)
		set_size(ld, key, value, 1024, 1024 * 1024, &p->max_header_bytes);
	else if (strcmp(key, "max_uri_size") == 0)
		set_size(ld, key, value, 256, 1024 * 1024, &p->max_uri_bytes);
	else if (strcmp(key, "tunnel_buffer") == 0)
		set_size(ld, key, value, 4096, 64 * 1024 * 1024, &p->tunnel_buffer_bytes);
	else if (strcmp(key, "allow_loopback_upstream") == 0) {
		if (conf_parse_bool(value, &p->allow_loopback_upstream) < 0)
			conf_error(ld, "%s: `%s` is not yes or no", key, value);
	} else if (strcmp(key, "dns_servers") == 0) {
		set_strings(ld, value, &p->dns_servers, &p->n_dns_servers);
		for (size_t i = 0; i < p->n_dns_servers; i++) {
			struct sockaddr_any sa;
			struct cidr c;
			if (sockaddr_parse(p->dns_servers[i], &sa) < 0 && cidr_parse(p->dns_servers[i], &c) < 0)
				conf_error(ld, "dns_servers: `%s` is not ADDRESS or ADDRESS:PORT", p->dns_servers[i]);
		}
	} else if (strcmp(key, "hosts_file") == 0) {
		free(p->hosts_file);
		p->hosts_file = dup_or_null(value);
	} else if (strcmp(key, "visible_hostname") == 0) {
		free(p->visible_hostname);
		p->visible_hostname = dup_or_null(value);
		for (const char *s = value; *s; s++)
			if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-')) {
				conf_error(ld, "visible_hostname: `%s` is not a host name", value);
				break;
			}
	} else if (strcmp(key, "user") == 0) {
		free(p->user);
		p->user = dup_or_null(value);
	} else
		return 0;
	return 1;
}

int conf_store_key(struct conf_loader *ld, const char *key, const char *value)
{
	struct conf_store *s = &ld->conf->store;

	if (strcmp(key, "database") == 0) {
		free(s->database);
		s->database = dup_or_null(value);
	} else if (strcmp(key, "retention") == 0) {
		/* days (or weeks): beyond what a millisecond duration can hold */
		char num[16];
		size_t len = strlen(value);
		unsigned long v;
		char unit = len ? value[len - 1] : '\0';
		if (len < 2 || len > sizeof(num) || (unit != 'd' && unit != 'w')) {
			conf_error(ld, "retention: `%s` is not a number of days (like 180d)", value);
		} else {
			memcpy(num, value, len - 1);
			num[len - 1] = '\0';
			if (conf_parse_uint(num, 36500, &v) < 0 || v == 0 || (unit == 'w' && v > 5214))
				conf_error(ld, "retention: `%s` is not a number of days (like 180d)", value);
			else
				s->retention_days = (unsigned)(unit == 'w' ? v * 7 : v);
		}
	} else if (strcmp(key, "access_log") == 0) {
		free(s->access_log);
		s->access_log = dup_or_null(value);
	} else if (strcmp(key, "log_other") == 0) {
		if (strcmp(value, "none") == 0)
			s->log_other = LOG_OTHER_NONE;
		else if (strcmp(value, "counts") == 0)
			s->log_other = LOG_OTHER_COUNTS;
		else if (strcmp(value, "hosts") == 0)
			s->log_other = LOG_OTHER_HOSTS;
		else
			conf_error(ld, "log_other: `%s` is not none, counts or hosts", value);
	} else if (strcmp(key, "active_bytes") == 0) {
		size_t v;
		if (conf_parse_size(value, &v) < 0 || v > 1024 * 1024 * 1024)
			conf_error(ld, "active_bytes: `%s` is not a size (like 2k)", value);
		else
			s->active_bytes = v;
	} else if (strcmp(key, "queue") == 0 || strcmp(key, "batch") == 0) {
		unsigned long v;
		if (conf_parse_uint(value, 1u << 22, &v) < 0 || v < 16)
			conf_error(ld, "%s: `%s` is not a number of records from 16 to 4194304", key,
				   value);
		else if (key[0] == 'q')
			s->queue = (unsigned)v;
		else
			s->batch = (unsigned)v;
	} else if (strcmp(key, "batch_interval") == 0) {
		unsigned ms;
		if (conf_parse_duration_ms(value, &ms) < 0 || ms < 10 || ms > 60000)
			conf_error(ld, "batch_interval: `%s` is not a time from 10ms to 60s", value);
		else
			s->batch_interval_ms = ms;
	} else if (strcmp(key, "hold") == 0) {
		size_t v;
		if (conf_parse_size(value, &v) < 0 || v < 65536 || v > ((size_t)4 << 30))
			conf_error(ld, "hold: `%s` is not a size from 64k to 4G", value);
		else
			s->hold = v;
	} else if (strcmp(key, "max_size") == 0) {
		size_t v;
		if (strcmp(value, "0") == 0 || strcmp(value, "none") == 0)
			s->max_size = 0;
		else if (conf_parse_size(value, &v) < 0 || v < (1u << 20))
			conf_error(ld, "max_size: `%s` is not a size of 1M or more (or none)", value);
		else
			s->max_size = v;
	} else
		return 0;
	return 1;
}

void conf_proxy_finish(struct conf_loader *ld)
{
	struct conf_proxy *p = &ld->conf->proxy;

	if (!p->listen) {
		p->listen = calloc(1, sizeof(*p->listen));
		sockaddr_parse("127.0.0.1:3128", &p->listen[0]);
		p->n_listen = 1;
	}
	if (!p->allow_clients) {
		size_t n = 0;
		while (default_allow[n])
			n++;
		p->allow_clients = calloc(n, sizeof(*p->allow_clients));
		for (size_t i = 0; i < n; i++)
			cidr_parse(default_allow[i], &p->allow_clients[i]);
		p->n_allow_clients = n;
	}
	if (!p->metrics_allow) {
		p->metrics_allow = calloc(2, sizeof(*p->metrics_allow));
		cidr_parse("127.0.0.0/8", &p->metrics_allow[0]);
		cidr_parse("::1/128", &p->metrics_allow[1]);
		p->n_metrics_allow = 2;
	}
	if (p->n_tls_listen && (!p->tls_certificate || !p->tls_key))
		conf_error_at(ld, ld->proxy_line, "tls_listen needs tls_certificate and tls_key");
	if (!p->block_ca != !p->block_ca_key)
		conf_error_at(ld, ld->block_ca_line[!p->block_ca_key ? 0 : 1],
			      "%s without %s: give both (the block-page CA and its key), or neither",
			      p->block_ca ? "block_ca" : "block_ca_key", p->block_ca ? "block_ca_key" : "block_ca");
	if (!p->connect_ports) {
		p->connect_ports = calloc(1, sizeof(*p->connect_ports));
		p->connect_ports[0] = 443;
		p->n_connect_ports = 1;
	}
	if (!p->visible_hostname)
		p->visible_hostname = strdup("breaktime");
	if (!ld->conf->store.database)
		ld->conf->store.database = strdup("/var/lib/breaktime/breaktime.db");
	if (p->pool_idle_timeout_ms == 0)
		p->pool_per_origin = 0;
	if (p->header_timeout_ms == 0)
		conf_error_at(ld, ld->proxy_line, "header_timeout: must be more than 0");
}

void conf_proxy_free(struct conf *c)
{
	struct conf_proxy *p = &c->proxy;

	free(p->listen);
	free(p->allow_clients);
	free(p->connect_ports);
	for (size_t i = 0; i < p->n_dns_servers; i++)
		free(p->dns_servers[i]);
	free(p->dns_servers);
	free(p->hosts_file);
	free(p->visible_hostname);
	free(p->user);
	free(p->tls_listen);
	free(p->intercept_listen);
	free(p->tls_certificate);
	free(p->tls_key);
	free(p->block_ca);
	free(p->block_ca_key);
	free(p->metrics_allow);
	free(p->block_page);
	free(c->store.database);
	free(c->store.access_log);
}
