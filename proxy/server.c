/*
 * server: the little that all workers share — the current configuration
 * (swapped on reload under a mutex, refcounted so connections keep the one
 * they started with), the proxy's own addresses (to refuse proxying to
 * itself), and per-client connection counts.
 *
 * Any thread may call these; each takes a short mutex at most once.
 */
#include "proxy.h"

#include <ifaddrs.h>
#include <openssl/err.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "log.h"

struct server server;

static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;

struct conf *server_conf_get(void)
{
	pthread_mutex_lock(&conf_lock);
	struct conf *c = conf_ref(server.conf);
	pthread_mutex_unlock(&conf_lock);
	return c;
}

void server_conf_set(struct conf *c)
{
	pthread_mutex_lock(&conf_lock);
	struct conf *old = server.conf;
	server.conf = c;
	pthread_mutex_unlock(&conf_lock);
	if (old)
		conf_unref(old);
}

struct identity_db *server_identity_get(void)
{
	pthread_mutex_lock(&conf_lock);
	struct identity_db *db = identity_db_ref(server.identity);
	pthread_mutex_unlock(&conf_lock);
	return db;
}

void server_identity_set(struct identity_db *db)
{
	pthread_mutex_lock(&conf_lock);
	struct identity_db *old = server.identity;
	server.identity = db;
	pthread_mutex_unlock(&conf_lock);
	identity_db_unref(old);
}

SSL *server_ssl_new(void)
{
	SSL *ssl = NULL;
	pthread_mutex_lock(&conf_lock);
	if (server.ssl_ctx)
		ssl = SSL_new(server.ssl_ctx);
	pthread_mutex_unlock(&conf_lock);
	return ssl;
}

void server_ssl_set(SSL_CTX *ctx)
{
	pthread_mutex_lock(&conf_lock);
	SSL_CTX *old = server.ssl_ctx;
	server.ssl_ctx = ctx;
	pthread_mutex_unlock(&conf_lock);
	SSL_CTX_free(old);
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
		if (sockaddr_is_unspecified(l)) {
			/* a wildcard listener: any address of this host, and loopback */
			if (sockaddr_is_unspecified(sa))
				return true;
			struct cidr lo4, lo6;
			cidr_parse("127.0.0.0/8", &lo4);
			cidr_parse("::1/128", &lo6);
			if (cidr_match(&lo4, sa) || cidr_match(&lo6, sa))
				return true;
			for (size_t j = 0; j < server.n_local_addrs; j++)
				if (sockaddr_same_host(&server.local_addrs[j].u.sa, sa))
					return true;
		}
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
	unsigned h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % CLIENT_BUCKETS;
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
