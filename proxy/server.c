/*
 * server: the little that all workers share — the current generation (one
 * reload's configuration, identity database, TLS context and hosts table,
 * swapped in one step under a mutex and refcounted, so a connection keeps
 * the generation it was accepted in, whole), the proxy's own addresses (to
 * refuse proxying to itself), and per-client connection counts.
 *
 * Any thread may call these; each takes a short mutex at most once.
 * server_gen_load() and server_gen_set() are the main thread's: it is the
 * only writer of struct server.
 */
#include "proxy.h"

#include <errno.h>
#include <ifaddrs.h>
#include <openssl/err.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bump.h"
#include "fnv.h"
#include "hosts.h"
#include "identity.h"
#include "log.h"

struct server server;

/* guards server.gen: a reader takes a reference under it, the writer swaps under it */
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;

struct generation *gen_ref(struct generation *g)
{
	if (g)
		__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
	return g;
}

void gen_unref(struct generation *g)
{
	if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	hosts_destroy(g->hosts);
	bumper_free(g->bumper);
	SSL_CTX_free(g->ssl_ctx);
	identity_db_unref(g->idb);
	conf_unref(g->conf);
	free(g);
}

struct generation *server_gen_get(void)
{
	pthread_mutex_lock(&gen_lock);
	struct generation *g = gen_ref(server.gen);
	pthread_mutex_unlock(&gen_lock);
	return g;
}

void server_gen_set(struct generation *g)
{
	struct generation *old = server.gen; /* the only writer may read it unlocked */

	if (g)
		g->number = old ? old->number + 1 : 1;
	pthread_mutex_lock(&gen_lock);
	server.gen = g;
	pthread_mutex_unlock(&gen_lock);
	gen_unref(old);
}

struct conf *server_conf_get(void)
{
	pthread_mutex_lock(&gen_lock);
	struct conf *c = server.gen ? conf_ref(server.gen->conf) : NULL;
	pthread_mutex_unlock(&gen_lock);
	return c;
}

struct identity_db *server_identity_get(void)
{
	pthread_mutex_lock(&gen_lock);
	struct identity_db *db = server.gen ? identity_db_ref(server.gen->idb) : NULL;
	pthread_mutex_unlock(&gen_lock);
	return db;
}

/* The system hosts file (when the resolver is the system's) and hosts_file. */
static struct hosts *hosts_load(const struct conf *c)
{
	struct hosts *h = hosts_create();

	if (!h)
		return NULL;
	if (server.system_resolver)
		(void)hosts_add_file(h, "/etc/hosts"); /* missing: localhost is evdns's own */
	if (c->proxy.hosts_file && hosts_add_file(h, c->proxy.hosts_file) < 0)
		log_warn("hosts_file %s could not be read: %s", c->proxy.hosts_file, strerror(errno));
	hosts_finish(h);
	return h;
}

struct generation *server_gen_load(struct conf *c, const struct generation *prev)
{
	bool tls_ok, id_ok, bump_ok;
	SSL_CTX *ctx = server_ssl_load(c, &tls_ok);
	struct identity_db *idb = identity_db_load(c, &id_ok);
	struct bumper *bumper = bumper_load(c, &bump_ok);
	struct generation *g = NULL;

	if (!tls_ok || !id_ok || !bump_ok)
		goto fail;
	if (!ctx && prev && prev->ssl_ctx && server.n_tls_listen) {
		/* tls_listen went from the file, but its listeners stay until a
		 * restart: they keep the certificate they have */
		SSL_CTX_up_ref(prev->ssl_ctx);
		ctx = prev->ssl_ctx;
	}
	g = calloc(1, sizeof(*g));
	if (!g || !(g->hosts = hosts_load(c))) {
		log_err("out of memory loading the configuration");
		goto fail;
	}
	g->refs = 1;
	g->conf = c;
	g->idb = idb;
	g->ssl_ctx = ctx;
	g->bumper = bumper;
	return g;
fail:
	free(g);
	bumper_free(bumper);
	SSL_CTX_free(ctx);
	identity_db_unref(idb);
	conf_unref(c);
	return NULL;
}

static void log_ssl_errors(const char *what, const char *path)
{
	unsigned long e;
	char buf[256];
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_err("%s %s: %s", what, path, buf);
	}
}

SSL_CTX *server_ssl_load(const struct conf *c, bool *ok)
{
	const struct conf_proxy *p = &c->proxy;

	*ok = true;
	if (!p->n_tls_listen)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		*ok = false;
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, p->tls_certificate) != 1) {
		log_ssl_errors("tls_certificate", p->tls_certificate);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, p->tls_key, SSL_FILETYPE_PEM) != 1) {
		log_ssl_errors("tls_key", p->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_err("tls_key %s does not match tls_certificate %s", p->tls_key, p->tls_certificate);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	*ok = false;
	return NULL;
}

void server_collect_local_addrs(void)
{
	struct ifaddrs *ifa = NULL, *i;
	size_t n = 0;

	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			n++;
	free(server.local_addrs);
	server.local_addrs = calloc(n ? n : 1, sizeof(*server.local_addrs));
	server.n_local_addrs = 0;
	for (i = ifa; i && server.local_addrs; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		socklen_t len = i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
				i->ifa_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
		if (!len)
			continue;
		memcpy(&server.local_addrs[server.n_local_addrs].u.ss, i->ifa_addr, len);
		server.local_addrs[server.n_local_addrs++].len = len;
	}
	freeifaddrs(ifa);
}

bool server_is_self(const struct sockaddr *sa)
{
	uint16_t port = sockaddr_port(sa);

	size_t n_plain_tls = server.n_listen + server.n_tls_listen;
	for (size_t i = 0; i < n_plain_tls + server.n_intercept_listen; i++) {
		const struct sockaddr *l = i < server.n_listen ? &server.listen[i].u.sa :
					   i < n_plain_tls ? &server.tls_listen[i - server.n_listen].u.sa :
					   &server.intercept_listen[i - n_plain_tls].u.sa;
		if (sockaddr_port(l) != port)
			continue;
		if (sockaddr_same_host(l, sa))
			return true;
		/* a wildcard listener: any address of this host, and loopback */
		if (sockaddr_is_unspecified(l) && server_is_local_host(sa))
			return true;
	}
	return false;
}

bool server_is_local_host(const struct sockaddr *sa)
{
	struct cidr lo4, lo6;

	if (sockaddr_is_unspecified(sa))
		return true;
	cidr_parse("127.0.0.0/8", &lo4);
	cidr_parse("::1/128", &lo6);
	if (cidr_match(&lo4, sa) || cidr_match(&lo6, sa))
		return true;
	for (size_t j = 0; j < server.n_local_addrs; j++)
		if (sockaddr_same_host(&server.local_addrs[j].u.sa, sa))
			return true;
	return false;
}

/* ---- per-client counts ---- */

#define CLIENT_BUCKETS 4096

struct client_count {
	struct client_count *next;
	uint8_t addr[16];
	unsigned count;
};

static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static struct client_count *clients[CLIENT_BUCKETS];

static unsigned client_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET)
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	return fnv32_bytes(FNV32_OFFSET, key, 16) % CLIENT_BUCKETS;
}

bool server_client_acquire(const struct sockaddr *sa, unsigned max)
{
	uint8_t key[16];
	unsigned b = client_key(sa, key);
	bool ok = true;

	pthread_mutex_lock(&clients_lock);
	struct client_count *e = clients[b];
	while (e && memcmp(e->addr, key, 16) != 0)
		e = e->next;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (e) {
			memcpy(e->addr, key, 16);
			e->next = clients[b];
			clients[b] = e;
		}
	}
	if (!e)
		ok = true; /* out of memory: do not refuse for our own failure */
	else if (e->count >= max)
		ok = false;
	else
		e->count++;
	pthread_mutex_unlock(&clients_lock);
	return ok;
}

void server_client_release(const struct sockaddr *sa)
{
	uint8_t key[16];
	unsigned b = client_key(sa, key);

	pthread_mutex_lock(&clients_lock);
	struct client_count **pp = &clients[b];
	while (*pp && memcmp((*pp)->addr, key, 16) != 0)
		pp = &(*pp)->next;
	if (*pp && --(*pp)->count == 0) {
		struct client_count *dead = *pp;
		*pp = dead->next;
		free(dead);
	}
	pthread_mutex_unlock(&clients_lock);
}
