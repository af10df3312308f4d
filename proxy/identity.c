/*
 * identity: proxy authentication (Basic) against htpasswd or a Squid
 * basic-auth helper, the device map, a per-worker result cache and
 * per-address failure limits.
 *
 * DESIGN. The loop thread never hashes a password. identity_check()
 * answers from the worker's cache when it can; otherwise it queues a job
 * for the verifier threads, which run crypt(3) against the htpasswd hash
 * or ask their own helper child process (one line out, one line back, as
 * Squid's basic_ncsa_auth, basic_ldap_auth and basic_pam_auth speak it),
 * then hand the job back to the worker through its pipe. The worker caches
 * the answer under SHA-256(user NUL password) and re-runs the waiting
 * request. A job whose connection closed meanwhile is simply freed.
 *
 * Threads: identity_db is immutable and refcounted (any thread); the cache
 * and failure table belong to one worker; the job queue is a mutex and a
 * condition variable. Credentials live only in jobs, which are wiped.
 */
#include "identity.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "authhelper.h"
#include "conn.h"
#include "devmap.h"
#include "htpasswd.h"
#include "log.h"
#include "policy.h"
#include "strutil.h"

#define CACHE_SLOTS 1024
#define CACHE_TTL_OK 300
#define CACHE_TTL_FAIL 30
#define FAIL_SLOTS 256
#define FAIL_WINDOW 60
#define FAIL_MAX 10
#define VERIFIERS 2

/* ---- the database ---- */

struct identity_db {
	int refs;
	bool required;
	struct htpasswd *users;   /* common/htpasswd.c; NULL: none */
	struct devmap *devices;   /* common/devmap.c; NULL: none */
	char *helper;           /* command line, NULL when none */
};

struct identity_db *identity_db_load(const struct conf *c, bool *ok)
{
	struct identity_db *db = calloc(1, sizeof(*db));
	const struct policy_auth *a = c->policy ? policy_auth(c->policy) : NULL;

	*ok = true;
	if (!db) {
		*ok = false;
		return NULL;
	}
	db->refs = 1;
	if (a) {
		db->required = a->required;
		if (a->htpasswd && !(db->users = htpasswd_load(a->htpasswd)))
			*ok = false;
		if (a->devices && !(db->devices = devmap_load(a->devices)))
			*ok = false;
		if (a->helper)
			db->helper = strdup(a->helper);
		if (db->required && !a->htpasswd && !a->helper) {
			log_err("[auth] required = yes needs htpasswd or helper");
			*ok = false;
		}
	}
	if (!*ok) {
		identity_db_unref(db);
		return NULL;
	}
	return db;
}

struct identity_db *identity_db_ref(struct identity_db *db)
{
	if (db)
		__atomic_add_fetch(&db->refs, 1, __ATOMIC_RELAXED);
	return db;
}

void identity_db_unref(struct identity_db *db)
{
	if (!db || __atomic_sub_fetch(&db->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	htpasswd_free(db->users);
	devmap_free(db->devices);
	free(db->helper);
	free(db);
}

bool identity_required(const struct identity_db *db)
{
	return db && db->required;
}

const char *identity_device_user(const struct identity_db *db, const struct sockaddr *sa)
{
	return db ? devmap_user(db->devices, sa) : NULL;
}

/* ---- jobs and verifier threads ---- */

struct job {
	struct job *next;
	struct identity_cache *ic;
	struct conn *c;             /* NULL once the connection closed */
	uint8_t key[32];
	char user[64];
	char pass[256];
	char hash[256];             /* htpasswd hash, or "" to ask the helper */
	char helper[512];
	bool ok;
};

struct cache_entry {
	uint8_t key[32];
	char user[64];
	time_t expires;
	bool ok;
	bool used;
};

struct fail_entry {
	uint8_t addr[16];
	time_t window;
	unsigned count;
};

struct identity_cache {
	struct worker *w;
	int pipe[2];
	struct event *ev;
	pthread_mutex_t lock;
	struct job *done;           /* finished jobs, for this worker */
	struct cache_entry cache[CACHE_SLOTS];
};

/* Failed sign-ins per address, for all workers together (a client's
 * connections land on different workers). Touched only on failures and on
 * checks of requests that carry credentials. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fail_entry fails[FAIL_SLOTS];

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static struct job *queue_head, *queue_tail;
static bool queue_stop;
static pthread_t verifiers[VERIFIERS];
static int n_verifiers;

/* One helper child per verifier thread (common/authhelper.c), started on
 * first use. One that gives no answer in HELPER_TIMEOUT_MS is stopped, so a
 * hung helper cannot hold a verifier (and the htpasswd checks queued
 * behind it) for ever. */
#define HELPER_TIMEOUT_MS 5000

static bool ask_helper(struct authhelper **h, const char *cmd, const char *user, const char *pass)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (*h && strcmp(authhelper_cmd(*h), cmd) != 0) {
			authhelper_stop(*h);
			*h = NULL;
		}
		if (!*h && !(*h = authhelper_start(cmd))) {
			log_err("auth helper %s could not be started", cmd);
			return false;
		}
		int r = authhelper_ask(*h, user, pass, HELPER_TIMEOUT_MS);
		if (r != AUTHHELPER_ERROR)
			return r == AUTHHELPER_OK;
		log_warn("auth helper %s gave no usable answer in %d ms: restarting it", cmd,
			 HELPER_TIMEOUT_MS);
		authhelper_stop(*h);
		*h = NULL;
	}
	return false;
}

static void *verifier_main(void *arg)
{
	struct authhelper *helper = NULL;
	(void)arg;

	for (;;) {
		pthread_mutex_lock(&queue_lock);
		while (!queue_head && !queue_stop)
			pthread_cond_wait(&queue_cond, &queue_lock);
		if (!queue_head && queue_stop) {
			pthread_mutex_unlock(&queue_lock);
			break;
		}
		struct job *j = queue_head;
		queue_head = j->next;
		if (!queue_head)
			queue_tail = NULL;
		pthread_mutex_unlock(&queue_lock);

		if (j->hash[0]) {
			j->ok = htpasswd_verify(j->hash, j->pass);
		} else if (j->helper[0]) {
			j->ok = ask_helper(&helper, j->helper, j->user, j->pass);
		} else {
			j->ok = false;
		}
		OPENSSL_cleanse(j->pass, sizeof(j->pass));

		struct identity_cache *ic = j->ic;
		pthread_mutex_lock(&ic->lock);
		j->next = ic->done;
		ic->done = j;
		pthread_mutex_unlock(&ic->lock);
		ssize_t n = write(ic->pipe[1], "j", 1);
		(void)n;
	}
	authhelper_stop(helper);
	return NULL;
}

int identity_start(void)
{
	for (int i = 0; i < VERIFIERS; i++) {
		if (pthread_create(&verifiers[i], NULL, verifier_main, NULL) != 0)
			return -1;
		n_verifiers++;
	}
	return 0;
}

void identity_stop(void)
{
	pthread_mutex_lock(&queue_lock);
	queue_stop = true;
	pthread_cond_broadcast(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	for (int i = 0; i < n_verifiers; i++)
		pthread_join(verifiers[i], NULL);
	n_verifiers = 0;
}

/* ---- per worker ---- */

static struct cache_entry *cache_find(struct identity_cache *ic, const uint8_t key[32])
{
	unsigned slot;
	memcpy(&slot, key, sizeof(slot));
	return &ic->cache[slot % CACHE_SLOTS];
}

static void identity_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct identity_cache *ic = arg;
	char buf[64];
	(void)what;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&ic->lock);
	struct job *j = ic->done;
	ic->done = NULL;
	pthread_mutex_unlock(&ic->lock);
	while (j) {
		struct job *next = j->next;
		struct cache_entry *e = cache_find(ic, j->key);
		memcpy(e->key, j->key, 32);
		memcpy(e->user, j->user, sizeof(e->user));
		e->ok = j->ok;
		e->used = true;
		e->expires = time(NULL) + (j->ok ? CACHE_TTL_OK : CACHE_TTL_FAIL);
		struct conn *c = j->c;
		OPENSSL_cleanse(j, sizeof(*j));
		free(j);
		if (c) {
			c->auth_pending = NULL;
			conn_identity_done(c);
		}
		j = next;
	}
}

struct identity_cache *identity_cache_create(struct worker *w)
{
	struct identity_cache *ic = calloc(1, sizeof(*ic));
	if (!ic)
		return NULL;
	ic->w = w;
	pthread_mutex_init(&ic->lock, NULL);
	if (pipe2(ic->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(ic);
		return NULL;
	}
	ic->ev = event_new(worker_base(w), ic->pipe[0], EV_READ | EV_PERSIST, identity_on_wake, ic);
	event_add(ic->ev, NULL);
	return ic;
}

void identity_cache_destroy(struct identity_cache *ic)
{
	if (!ic)
		return;
	/* the verifier threads have stopped: finished jobs need no answer */
	struct job *j = ic->done;
	while (j) {
		struct job *next = j->next;
		OPENSSL_cleanse(j, sizeof(*j));
		free(j);
		j = next;
	}
	if (ic->ev)
		event_free(ic->ev);
	close(ic->pipe[0]);
	close(ic->pipe[1]);
	pthread_mutex_destroy(&ic->lock);
	OPENSSL_cleanse(ic->cache, sizeof(ic->cache));
	free(ic);
}

void identity_detach(struct conn *c, void *pending)
{
	struct job *j = pending;
	(void)c;
	if (j)
		j->c = NULL; /* worker thread only; the verifier never reads j->c */
}

static struct fail_entry *fail_slot(const struct sockaddr *sa, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET)
		memcpy(addr + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	unsigned h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return &fails[h % FAIL_SLOTS];
}

static bool fail_limited(struct identity_cache *ic, const struct sockaddr *sa)
{
	uint8_t addr[16];
	time_t now = time(NULL);
	(void)ic;
	pthread_mutex_lock(&fail_lock);
	struct fail_entry *f = fail_slot(sa, addr);
	bool limited = memcmp(f->addr, addr, 16) == 0 && now - f->window < FAIL_WINDOW &&
		       f->count >= FAIL_MAX;
	pthread_mutex_unlock(&fail_lock);
	return limited;
}

static void fail_count(struct identity_cache *ic, const struct sockaddr *sa)
{
	uint8_t addr[16];
	time_t now = time(NULL);
	(void)ic;
	pthread_mutex_lock(&fail_lock);
	struct fail_entry *f = fail_slot(sa, addr);
	if (memcmp(f->addr, addr, 16) != 0 || now - f->window >= FAIL_WINDOW) {
		memcpy(f->addr, addr, 16);
		f->window = now;
		f->count = 0;
	}
	f->count++;
	pthread_mutex_unlock(&fail_lock);
	__atomic_add_fetch(&server.auth_failures, 1, __ATOMIC_RELAXED);
}

enum identity_result identity_check(struct worker *w, struct conn *c,
				    const struct identity_db *db,
				    const struct sockaddr *peer, const char *auth,
				    size_t auth_len, char user[64])
{
	struct identity_cache *ic = worker_identity(w);
	char decoded[400];
	uint8_t key[32];

	user[0] = '\0';
	if (!db || !ic)
		return IDENTITY_NONE;
	if (!auth)
		return db->required ? IDENTITY_CHALLENGE : IDENTITY_NONE;
	if (auth_len < 6 || strncasecmp(auth, "basic ", 6) != 0)
		return IDENTITY_CHALLENGE;
	const char *b64 = auth + 6;
	size_t blen = auth_len - 6;
	while (blen && *b64 == ' ') {
		b64++;
		blen--;
	}
	if (blen == 0 || blen > 4 * ((sizeof(decoded) - 2) / 3) || blen % 4)
		return IDENTITY_ERROR;
	int n = EVP_DecodeBlock((unsigned char *)decoded, (const unsigned char *)b64, (int)blen);
	if (n < 0)
		return IDENTITY_ERROR;
	while (n > 0 && blen && b64[blen - 1] == '=') {
		n--;
		blen--;
	}
	decoded[n] = '\0';
	if ((int)strlen(decoded) != n)
		return IDENTITY_ERROR; /* NUL inside */
	char *colon = strchr(decoded, ':');
	if (!colon || colon == decoded || (size_t)(colon - decoded) >= 64) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return IDENTITY_ERROR;
	}
	*colon = '\0';
	const char *name = decoded, *pass = colon + 1;
	if (strlen(pass) >= 256) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return IDENTITY_ERROR;
	}
	if (fail_limited(ic, peer)) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return IDENTITY_LIMITED;
	}

	/* a reload with new users starts afresh: the database's address is in the key */
	unsigned char material[sizeof(decoded) + sizeof(db)];
	size_t mlen = (size_t)n;        /* "name\0pass" */
	memcpy(material, decoded, mlen);
	memcpy(material + mlen, &db, sizeof(db));
	unsigned int klen = 0;
	EVP_Digest(material, mlen + sizeof(db), key, &klen, EVP_sha256(), NULL);
	OPENSSL_cleanse(material, sizeof(material));

	struct cache_entry *e = cache_find(ic, key);
	if (e->used && memcmp(e->key, key, 32) == 0 && e->expires > time(NULL)) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		if (e->ok) {
			memcpy(user, e->user, 64);
			return IDENTITY_OK;
		}
		fail_count(ic, peer);
		return IDENTITY_CHALLENGE;
	}

	const char *u = htpasswd_hash(db->users, name);
	struct job *j = calloc(1, sizeof(*j));
	if (!j || (!u && !db->helper)) {
		free(j);
		OPENSSL_cleanse(decoded, sizeof(decoded));
		fail_count(ic, peer);
		return IDENTITY_CHALLENGE;
	}
	j->ic = ic;
	j->c = c;
	memcpy(j->key, key, 32);
	str_copy(j->user, sizeof(j->user), name);
	str_copy(j->pass, sizeof(j->pass), pass);
	if (u)
		str_copy(j->hash, sizeof(j->hash), u);
	else
		str_copy(j->helper, sizeof(j->helper), db->helper);
	OPENSSL_cleanse(decoded, sizeof(decoded));
	c->auth_pending = j;
	pthread_mutex_lock(&queue_lock);
	if (queue_tail)
		queue_tail->next = j;
	else
		queue_head = j;
	queue_tail = j;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	return IDENTITY_PENDING;
}
