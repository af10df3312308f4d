/*
 * identity: proxy authentication (Basic) against htpasswd or a Squid
 * basic-auth helper, the device map, a result cache per worker, and
 * failure limits per client address in one table that all workers share.
 *
 * DESIGN. The loop thread never hashes a password. identity_check()
 * answers from the worker's cache when it can; otherwise it queues a job
 * for the verifier threads, which run crypt(3) against the htpasswd hash
 * or ask their own helper child process (one line out, one line back, as
 * Squid's basic_ncsa_auth, basic_ldap_auth and basic_pam_auth speak it),
 * then hand the answer back to each waiting connection's worker through its
 * pipe. The worker caches the answer under SHA-256(user NUL password) and
 * re-runs the waiting request. A waiter whose connection closed meanwhile
 * is simply freed.
 *
 * Guessing. Per client address: at most FAIL_MAX failures in FAIL_WINDOW,
 * a guess charged when it is queued (given back when it verifies), so
 * guesses sent at once cannot all be in flight before the first failure is
 * counted; at most AUTH_INFLIGHT_MAX verifications queued or running, more
 * are answered 429 at once (not held: a connection waiting for nothing
 * would still be a connection); the same credentials from the same address
 * while one is pending join it (a browser's parallel connections). The
 * verifiers serve the addresses round robin, so a burst from one address
 * cannot starve another's sign-in.
 *
 * User names follow common/username.h: `Alice` signs in as alice, is cached,
 * asked about and recorded as alice.
 *
 * Threads: identity_db is immutable and refcounted (any thread); the cache
 * belongs to one worker; the address table and the job queue share one
 * mutex and a condition variable. Credentials live only in jobs, which are
 * wiped.
 */
#include "identity.h"

#include <assert.h>
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
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "authhelper.h"
#include "conn.h"
#include "devmap.h"
#include "failwindow.h"
#include "fnv.h"
#include "htpasswd.h"
#include "log.h"
#include "policy.h"
#include "strutil.h"
#include "username.h"

#define CACHE_SLOTS 1024        /* per worker, direct-mapped by the credentials' hash */
#define CACHE_TTL_OK 300        /* seconds a right password is answered from the cache */
#define CACHE_TTL_FAIL 30       /* seconds a wrong one is (and still counts as a failure) */
#define FAIL_WINDOW 60          /* seconds: the failure window (common/failwindow.h) */
#define FAIL_MAX 10             /* failed sign-ins per address per FAIL_WINDOW */
#define AUTH_INFLIGHT_MAX 2     /* verifications queued or running per address */
#define JOB_WAITERS_MAX 64      /* connections sharing one verification */
#define ADDR_SLOTS 1024         /* addresses with failures or verifications pending */
#define ADDR_PROBE 8            /* slots an address may take, from its hash on */
#define VERIFIERS 2

/* ---- the database ---- */

struct identity_db {
	int refs;
	uint64_t serial;        /* one number per load, never reused (the cache key) */
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
	static uint64_t serials;
	db->refs = 1;
	db->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
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

bool identity_verifies(const struct identity_db *db)
{
	return db && (db->users || db->helper);
}

const char *identity_device_user(const struct identity_db *db, const struct sockaddr *sa)
{
	return db ? devmap_user(db->devices, sa) : NULL;
}

/* ---- per-address state, jobs and verifier threads ---- */

/*
 * A waiter is one connection waiting for a verification; a job is one
 * verification (one user name and password from one address), with every
 * connection that sent those same credentials from that address while it
 * was pending (a browser sends its new credentials on all its connections
 * at once: they cost one hash, not six). Both belong to the queue until the
 * verifier hands the waiters back to their workers, then each waiter
 * belongs to its worker, which frees it.
 */
struct waiter {
	struct waiter *next;
	struct identity_cache *ic;
	struct conn *c;             /* NULL once the connection closed: worker thread only */
	uint8_t key[32];
	char user[64];
	bool ok;                    /* written by the verifier before the hand-back */
};

struct addr_slot;

struct job {
	struct addr_slot *slot;
	struct waiter *waiters;
	unsigned n_waiters;
	bool started;
	time_t window;              /* the failure window it was charged to */
	uint8_t key[32];
	char user[64];
	char pass[256];
	char hash[256];             /* htpasswd hash, or "" to ask the helper */
	char helper[512];
};

/*
 * One client address: its failures in the current window and its jobs.
 * Failures are counted when a guess is queued (a guess in flight already
 * counts against the limit: checking the count first and counting after the
 * verification let 250 concurrent guesses through) and given back when it
 * verifies. The verifier threads take jobs one address after another, round
 * robin, so one address's burst delays another's sign-in by at most about
 * one verification per busy address, never by the whole burst.
 */
struct addr_slot {
	uint8_t addr[16];
	struct failwindow fails;    /* failures and guesses in flight (common/failwindow.h) */
	unsigned n_jobs;            /* queued or running, at most AUTH_INFLIGHT_MAX */
	struct job *jobs[AUTH_INFLIGHT_MAX]; /* oldest first */
};

struct cache_entry {
	uint8_t key[32];
	char user[64];
	time_t expires;
	bool ok;
	bool used;
};

struct identity_cache {
	struct worker *w;
	int pipe[2];
	struct event *ev;
	pthread_mutex_t lock;
	struct waiter *done;        /* answered waiters, for this worker */
	const struct conn *rerun;   /* identity_on_wake: the conn whose answer is being replayed */
	struct cache_entry cache[CACHE_SLOTS];
};

/* The address table and the queue, for all workers together (a client's
 * connections land on different workers). Touched only by requests that
 * carry credentials and are not answered from the cache, and by verifiers. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static struct addr_slot slots[ADDR_SLOTS];
static unsigned queued;         /* jobs not started, all addresses */
static unsigned rr_next;        /* the slot the next round-robin scan starts at */
static bool queue_stop;
static unsigned hash_seed;      /* random: where an address's slots are cannot be worked out */
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

static void addr_of(const struct sockaddr *sa, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET)
		memcpy(addr + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

static unsigned slot_hash(const uint8_t addr[16])
{
	return fnv32_bytes(FNV32_OFFSET ^ hash_seed, addr, 16);
}

static bool slot_idle(const struct addr_slot *s, time_t now)
{
	return s->n_jobs == 0 && failwindow_quiet(&s->fails, now, FAIL_WINDOW);
}

/*
 * The address's slot (queue_lock held): its own, or a free one near its
 * hash, or the idle one with the oldest window (its failures are
 * forgotten), or NULL when all ADDR_PROBE candidates have jobs running.
 */
static struct addr_slot *slot_get(const struct sockaddr *sa, time_t now)
{
	uint8_t addr[16];
	struct addr_slot *take = NULL;

	addr_of(sa, addr);
	unsigned h = slot_hash(addr);
	for (unsigned i = 0; i < ADDR_PROBE; i++) {
		struct addr_slot *s = &slots[(h + i) % ADDR_SLOTS];
		if (memcmp(s->addr, addr, 16) == 0 && (s->n_jobs || s->fails.count))
			return s;
		if (slot_idle(s, now) &&
		    (!take || !slot_idle(take, now) || s->fails.start < take->fails.start))
			take = s;
	}
	if (!take)
		return NULL;
	memset(take, 0, sizeof(*take));
	memcpy(take->addr, addr, 16);
	take->fails.start = now;
	return take;
}

/* The oldest unstarted job, one address after another (queue_lock held). */
static struct job *queue_take(void)
{
	for (unsigned n = 0; n < ADDR_SLOTS; n++) {
		struct addr_slot *s = &slots[(rr_next + n) % ADDR_SLOTS];
		for (unsigned i = 0; i < s->n_jobs; i++) {
			if (!s->jobs[i]->started) {
				s->jobs[i]->started = true;
				rr_next = (rr_next + n + 1) % ADDR_SLOTS;
				queued--;
				return s->jobs[i];
			}
		}
	}
	return NULL;
}

/* The job is done: off its address, its guess given back if it was right (queue_lock held). */
static void job_finish(struct job *j, bool ok)
{
	struct addr_slot *s = j->slot;
	unsigned i = 0;
	while (i < s->n_jobs && s->jobs[i] != j)
		i++;
	assert(i < s->n_jobs);
	memmove(&s->jobs[i], &s->jobs[i + 1], (s->n_jobs - i - 1) * sizeof(s->jobs[0]));
	s->n_jobs--;
	if (ok)
		failwindow_refund(&s->fails, j->window);
}

static void *verifier_main(void *arg)
{
	struct authhelper *helper = NULL;
	(void)arg;

	for (;;) {
		pthread_mutex_lock(&queue_lock);
		while (!queued && !queue_stop)
			pthread_cond_wait(&queue_cond, &queue_lock);
		struct job *j = queue_take();
		assert(j || queue_stop); /* queued counts exactly the unstarted jobs */
		pthread_mutex_unlock(&queue_lock);
		if (!j)
			break; /* stopping, and nothing is left */

		bool ok;
		if (j->hash[0])
			ok = htpasswd_verify(j->hash, j->pass);
		else if (j->helper[0])
			ok = ask_helper(&helper, j->helper, j->user, j->pass);
		else
			ok = false;
		OPENSSL_cleanse(j->pass, sizeof(j->pass));
		if (!ok)
			__atomic_add_fetch(&server.auth_failures, 1, __ATOMIC_RELAXED);

		/* after this no connection joins the job: its waiters are final */
		pthread_mutex_lock(&queue_lock);
		job_finish(j, ok);
		pthread_mutex_unlock(&queue_lock);

		struct waiter *wt = j->waiters;
		while (wt) {
			struct waiter *next = wt->next;
			struct identity_cache *ic = wt->ic;
			wt->ok = ok;
			pthread_mutex_lock(&ic->lock);
			wt->next = ic->done;
			ic->done = wt;
			pthread_mutex_unlock(&ic->lock);
			ssize_t n = write(ic->pipe[1], "j", 1);
			(void)n;
			wt = next;
		}
		OPENSSL_cleanse(j, sizeof(*j));
		free(j);
	}
	authhelper_stop(helper);
	return NULL;
}

int identity_start(void)
{
	if (getrandom(&hash_seed, sizeof(hash_seed), 0) != (ssize_t)sizeof(hash_seed))
		hash_seed = (unsigned)time(NULL) ^ (unsigned)getpid();
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

/* ---- per worker: the answer cache and the wake-up pipe ---- */

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
	struct waiter *wt = ic->done;
	ic->done = NULL;
	pthread_mutex_unlock(&ic->lock);
	while (wt) {
		struct waiter *next = wt->next;
		struct cache_entry *e = cache_find(ic, wt->key);
		memcpy(e->key, wt->key, 32);
		memcpy(e->user, wt->user, sizeof(e->user));
		e->ok = wt->ok;
		e->used = true;
		e->expires = time(NULL) + (wt->ok ? CACHE_TTL_OK : CACHE_TTL_FAIL);
		struct conn *c = wt->c;
		OPENSSL_cleanse(wt, sizeof(*wt));
		free(wt);
		if (c) {
			c->auth_pending = NULL;
			/* its request runs again now and meets this answer in the
			 * cache: a failure it was charged for when it was queued */
			ic->rerun = c;
			conn_identity_done(c);
			ic->rerun = NULL;
		}
		wt = next;
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
	/* the verifier threads have stopped: answered waiters need no answer */
	struct waiter *wt = ic->done;
	while (wt) {
		struct waiter *next = wt->next;
		OPENSSL_cleanse(wt, sizeof(*wt));
		free(wt);
		wt = next;
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
	struct waiter *wt = pending;
	(void)c;
	if (wt)
		wt->c = NULL; /* worker thread only; the verifier never reads wt->c */
}

/* ---- from any worker: the shared address table (queue_lock) and the check ---- */

/* Over the failure limit? (the check before the cache: a limited address
 * gets no answer at all, not even a cached right one) */
static bool fail_limited(const struct sockaddr *sa)
{
	uint8_t addr[16];
	time_t now = time(NULL);
	bool limited = false;

	addr_of(sa, addr);
	unsigned h = slot_hash(addr);
	pthread_mutex_lock(&queue_lock);
	for (unsigned i = 0; i < ADDR_PROBE; i++) {
		const struct addr_slot *s = &slots[(h + i) % ADDR_SLOTS];
		if (memcmp(s->addr, addr, 16) == 0 && (s->n_jobs || s->fails.count)) {
			limited = failwindow_limited(&s->fails, now, FAIL_WINDOW, FAIL_MAX);
			break;
		}
	}
	pthread_mutex_unlock(&queue_lock);
	return limited;
}

/* A failure that needed no verification: an unknown user, a cached wrong password. */
static void fail_count(const struct sockaddr *sa)
{
	time_t now = time(NULL);
	pthread_mutex_lock(&queue_lock);
	struct addr_slot *s = slot_get(sa, now);
	if (s) {
		failwindow_count(&s->fails, now, FAIL_WINDOW);
	}
	pthread_mutex_unlock(&queue_lock);
	__atomic_add_fetch(&server.auth_failures, 1, __ATOMIC_RELAXED);
}

/*
 * Queue a verification for wt (its key and user set), or join the pending
 * one for the same credentials from the same address. The guess is charged
 * to the address now. false: the address is at its failure limit, has
 * AUTH_INFLIGHT_MAX verifications pending, or the table is full -- answer
 * 429 and verify nothing.
 */
static bool queue_submit(const struct sockaddr *sa, struct waiter *wt, const char *pass,
			 const char *hash, const char *helper)
{
	time_t now = time(NULL);
	bool queued_ok = false;

	pthread_mutex_lock(&queue_lock);
	struct addr_slot *s = slot_get(sa, now);
	if (!s)
		goto out;
	for (unsigned i = 0; i < s->n_jobs; i++) {
		struct job *j = s->jobs[i];
		if (memcmp(j->key, wt->key, 32) == 0 && j->n_waiters < JOB_WAITERS_MAX) {
			wt->next = j->waiters;
			j->waiters = wt;
			j->n_waiters++;
			queued_ok = true;
			goto out;
		}
	}
	failwindow_roll(&s->fails, now, FAIL_WINDOW);
	if (s->fails.count >= FAIL_MAX || s->n_jobs >= AUTH_INFLIGHT_MAX)
		goto out;
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		goto out;
	j->slot = s;
	j->window = s->fails.start;
	j->waiters = wt;
	j->n_waiters = 1;
	memcpy(j->key, wt->key, 32);
	str_copy(j->user, sizeof(j->user), wt->user);
	str_copy(j->pass, sizeof(j->pass), pass);
	if (hash)
		str_copy(j->hash, sizeof(j->hash), hash);
	else
		str_copy(j->helper, sizeof(j->helper), helper);
	s->jobs[s->n_jobs++] = j;
	s->fails.count++;           /* charged now, refunded when it verifies */
	queued++;
	pthread_cond_signal(&queue_cond);
	queued_ok = true;
out:
	pthread_mutex_unlock(&queue_lock);
	return queued_ok;
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
	/* one person, whatever case they type their name in (username.h): the
	 * canonical name is looked up, cached, asked about and recorded */
	const char *name = username_canon(decoded), *pass = colon + 1;
	if (strlen(pass) >= 256) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return IDENTITY_ERROR;
	}
	/* a request whose verification was admitted gets its answer, even when
	 * its own failure (counted at admission) reached the limit */
	bool rerun = ic->rerun == c;
	if (!rerun && fail_limited(peer)) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return IDENTITY_LIMITED;
	}

	/* a reload with new users starts afresh: the database's serial number is in
	 * the key -- not its address, which a later database may be given again
	 * once this one is freed, bringing back answers of a file long gone */
	unsigned char material[sizeof(decoded) + sizeof(db->serial)];
	size_t mlen = (size_t)n;        /* "name\0pass" */
	memcpy(material, decoded, mlen);
	memcpy(material + mlen, &db->serial, sizeof(db->serial));
	unsigned int klen = 0;
	EVP_Digest(material, mlen + sizeof(db->serial), key, &klen, EVP_sha256(), NULL);
	OPENSSL_cleanse(material, sizeof(material));

	struct cache_entry *e = cache_find(ic, key);
	if (e->used && memcmp(e->key, key, 32) == 0 && e->expires > time(NULL)) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		if (e->ok) {
			memcpy(user, e->user, 64);
			return IDENTITY_OK;
		}
		if (!rerun)
			fail_count(peer);
		return IDENTITY_CHALLENGE;
	}

	const char *u = htpasswd_hash(db->users, name);
	struct waiter *wt = calloc(1, sizeof(*wt));
	if (!wt || (!u && !db->helper)) {
		free(wt);
		OPENSSL_cleanse(decoded, sizeof(decoded));
		fail_count(peer);
		return IDENTITY_CHALLENGE;
	}
	wt->ic = ic;
	wt->c = c;
	memcpy(wt->key, key, 32);
	str_copy(wt->user, sizeof(wt->user), name);
	bool queued_ok = queue_submit(peer, wt, pass, u, db->helper);
	OPENSSL_cleanse(decoded, sizeof(decoded));
	if (!queued_ok) {
		free(wt);
		return IDENTITY_LIMITED;
	}
	c->auth_pending = wt;
	return IDENTITY_PENDING;
}
