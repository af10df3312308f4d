/*
 * bump: block pages over HTTPS (see bump.h).
 *
 *   CONNECT decided block/warn ──> 200, read the ClientHello (sni_timeout)
 *   intercepted ClientHello decided block/warn ──┐
 *                                                v
 *   bump_hello(name): leaf from the cache, else a job for the mint thread
 *   (the conn waits in CS_BUMP; the job's event brings the leaf back to the
 *   conn's loop) ──> TLS accepted by a filter bufferevent over the client
 *   (the ClientHello already read is its first input) ──> CS_HEAD: every
 *   request gets the block page, the warn interstitial, or the Continue
 *   link's answer, decided again for the name.
 *
 * What is never done: terminating a flow that is allowed (bump_wanted()
 * asks the decision first), minting for a name the CA's own name
 * constraints do not permit, writing a key or leaf anywhere, relaying a
 * terminated connection to an origin (once a flow is allowed, e.g. after
 * Continue, the answer is a redirect with Connection: close, so the
 * browser opens a fresh tunnel that is relayed untouched).
 *
 * Threads: the bumper's leaf cache is behind its mutex; the mint thread
 * takes jobs from a bounded queue; a job's event is activated from the
 * mint thread and runs on the conn's loop, where a closed conn has already
 * cleared job->c. Everything else runs on the conn's loop thread.
 */
#include "bump.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "acks.h"
#include "blockca.h"
#include "conn.h"
#include "enforce.h"
#include "fnv.h"
#include "log.h"
#include "lru.h"
#include "request.h"
#include "strutil.h"

/* The leaf cache: this many names; a leaf is reused for half its validity. */
#define LEAF_CACHE_MAX 2048
#define LEAF_BUCKETS 4096
#define LEAF_REUSE_S (BLOCKCA_LEAF_VALID_S / 2)
/* Mint jobs waiting at most: past it a flood of new names is refused, not queued. */
#define MINT_QUEUE_MAX 256

struct leaf {
	struct lru_node lru;
	struct leaf *hnext;
	X509 *x;
	time_t reuse_until;
	char name[HOSTNAME_MAX + 1];
};

struct bumper {
	struct blockca *ca;
	SSL_CTX *ctx;                   /* the pages' TLS: ALPN http/1.1, per-SSL leaf */
	pthread_mutex_t lock;           /* the cache below */
	struct leaf *bucket[LEAF_BUCKETS];
	struct lru lru;
	unsigned n;
};

/* A conn's bump state, allocated only for terminated flows. */
struct bump {
	char name[HOSTNAME_MAX + 1];    /* the server name the leaf is for */
	uint16_t port;
	bool handshaking;               /* the filter exists; the handshake runs */
	struct mint_job *job;           /* waiting for the mint thread */
	struct bufferevent *under;      /* the socket's, below the TLS filter (c->client) */
	struct evbuffer_cb_entry *drained; /* on under's output: see under_drained() */
};

struct mint_job {
	struct mint_job *next;          /* the queue, then the worker's done list */
	struct mint_job *lprev, *lnext; /* every live job (freed at shutdown if never run) */
	struct bump_wake *wake;         /* the conn's worker: where the answer goes */
	struct conn *c;                 /* NULL once the conn closed (its loop thread writes it) */
	struct generation *gen;         /* keeps the bumper */
	X509 *leaf;                     /* the mint thread's answer; NULL: could not */
	char name[HOSTNAME_MAX + 1];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	struct mint_job *head, *tail;   /* queued */
	unsigned queued;
	struct mint_job *live;          /* every job not yet freed */
} mint = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/*
 * A worker's wake-up for minted leaves: the mint thread appends the job to
 * `done` and writes a byte to the pipe; the worker's loop reads it and
 * runs the jobs (the loops are not libevent-thread-safe, so no cross-thread
 * event_active). Made on the worker's thread at its first mint.
 */
struct bump_wake {
	int pipe[2];
	struct event *ev;
	pthread_mutex_t lock;
	struct mint_job *done;
};

/* ---- the bumper: CA, TLS context, leaf cache ---- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h1[] = "http/1.1";
	(void)ssl;
	(void)arg;
	/* only HTTP/1.1: the pages are written as HTTP/1.1 responses */
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == 8 && memcmp(in + i + 1, h1, 8) == 0) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

struct bumper *bumper_load(const struct conf *c, bool *ok)
{
	char err[256];

	*ok = true;
	if (!c->proxy.block_ca)
		return NULL;
	*ok = false;
	struct bumper *b = calloc(1, sizeof(*b));
	if (!b) {
		log_err("out of memory loading block_ca");
		return NULL;
	}
	if (blockca_key_owner_ok(c->proxy.block_ca_key, c->proxy.user, err, sizeof(err)) < 0) {
		log_err("block_ca_key %s: %s", c->proxy.block_ca_key, err);
		free(b);
		return NULL;
	}
	b->ca = blockca_load(c->proxy.block_ca, c->proxy.block_ca_key, time(NULL), err, sizeof(err));
	if (!b->ca) {
		log_err("block_ca %s: %s", c->proxy.block_ca, err);
		free(b);
		return NULL;
	}
	b->ctx = SSL_CTX_new(TLS_server_method());
	if (!b->ctx) {
		log_err("block_ca: no TLS context");
		blockca_free(b->ca);
		free(b);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(b->ctx, TLS1_2_VERSION);
	SSL_CTX_set_alpn_select_cb(b->ctx, alpn_select, NULL);
	/* one resumption ticket, not OpenSSL's two: a page needs no more */
	SSL_CTX_set_num_tickets(b->ctx, 1);
	pthread_mutex_init(&b->lock, NULL);
	char fp[96];
	blockca_fingerprint(b->ca, fp);
	log_info("block pages over HTTPS: block_ca %s (SHA-256 %s)", c->proxy.block_ca, fp);
	*ok = true;
	return b;
}

void bumper_free(struct bumper *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < LEAF_BUCKETS; i++)
		for (struct leaf *l = b->bucket[i], *next; l; l = next) {
			next = l->hnext;
			X509_free(l->x);
			free(l);
		}
	pthread_mutex_destroy(&b->lock);
	SSL_CTX_free(b->ctx);
	blockca_free(b->ca);
	free(b);
}

static unsigned leaf_bucket(const char *name)
{
	return fnv32_bytes(FNV32_OFFSET, name, strlen(name)) & (LEAF_BUCKETS - 1);
}

/* A reference to the cached leaf for name, or NULL. Any thread. */
static X509 *cache_get(struct bumper *b, const char *name, time_t now)
{
	X509 *x = NULL;

	pthread_mutex_lock(&b->lock);
	for (struct leaf *l = b->bucket[leaf_bucket(name)]; l; l = l->hnext)
		if (strcmp(l->name, name) == 0) {
			if (now < l->reuse_until && X509_up_ref(l->x) == 1) {
				x = l->x;
				lru_touch(&b->lru, &l->lru);
			}
			break;
		}
	pthread_mutex_unlock(&b->lock);
	return x;
}

static void cache_unlink(struct bumper *b, struct leaf *l)
{
	struct leaf **p = &b->bucket[leaf_bucket(l->name)];
	while (*p != l)
		p = &(*p)->hnext;
	*p = l->hnext;
	lru_remove(&b->lru, &l->lru);
	b->n--;
	X509_free(l->x);
	free(l);
}

/* Keep x (the caller's reference stays the caller's) as name's leaf. */
static void cache_put(struct bumper *b, const char *name, X509 *x, time_t now)
{
	struct leaf *nl = calloc(1, sizeof(*nl));
	if (!nl || X509_up_ref(x) != 1) {
		free(nl);
		return;
	}
	str_copy(nl->name, sizeof(nl->name), name);
	nl->x = x;
	nl->reuse_until = now + LEAF_REUSE_S;
	pthread_mutex_lock(&b->lock);
	unsigned h = leaf_bucket(nl->name);
	bool replaced = false;
	for (struct leaf *l = b->bucket[h]; l; l = l->hnext)
		if (strcmp(l->name, nl->name) == 0) {
			cache_unlink(b, l); /* expired, or minted twice at once: the newer wins */
			replaced = true;
			break;
		}
	struct lru_node *oldest = lru_oldest(&b->lru);
	if (!replaced && b->n >= LEAF_CACHE_MAX && oldest)
		cache_unlink(b, LRU_ENTRY(oldest, struct leaf, lru));
	nl->hnext = b->bucket[h];
	b->bucket[h] = nl;
	lru_append(&b->lru, &nl->lru);
	b->n++;
	pthread_mutex_unlock(&b->lock);
}

/* ---- the mint thread ---- */

static void job_free(struct mint_job *j)
{
	pthread_mutex_lock(&mint.lock);
	if (j->lprev)
		j->lprev->lnext = j->lnext;
	else
		mint.live = j->lnext;
	if (j->lnext)
		j->lnext->lprev = j->lprev;
	pthread_mutex_unlock(&mint.lock);
	X509_free(j->leaf);
	gen_unref(j->gen);
	free(j);
}

static void *mint_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mint.lock);
	for (;;) {
		while (!mint.head && !mint.stop)
			pthread_cond_wait(&mint.cond, &mint.lock);
		if (mint.stop)
			break;
		struct mint_job *j = mint.head;
		mint.head = j->next;
		if (!mint.head)
			mint.tail = NULL;
		mint.queued--;
		pthread_mutex_unlock(&mint.lock);

		struct bumper *b = j->gen->bumper;
		time_t now = time(NULL);
		/* another conn may have asked for the same name meanwhile */
		j->leaf = cache_get(b, j->name, now);
		if (!j->leaf) {
			j->leaf = blockca_mint(b->ca, j->name, now);
			if (j->leaf) {
				cache_put(b, j->name, j->leaf, now);
				__atomic_add_fetch(&server.bump_minted, 1, __ATOMIC_RELAXED);
			} else {
				log_warn("block_ca: could not mint a certificate for %s", j->name);
			}
		}
		struct bump_wake *wk = j->wake;
		pthread_mutex_lock(&wk->lock);
		bool first = !wk->done;
		j->next = wk->done;
		wk->done = j;
		pthread_mutex_unlock(&wk->lock);
		if (first) {
			ssize_t n = write(wk->pipe[1], "m", 1);
			(void)n; /* full: a wake-up is pending anyway */
		}

		pthread_mutex_lock(&mint.lock);
	}
	pthread_mutex_unlock(&mint.lock);
	return NULL;
}

void bump_shutdown(void)
{
	pthread_mutex_lock(&mint.lock);
	bool started = mint.started;
	mint.stop = true;
	pthread_cond_signal(&mint.cond);
	pthread_mutex_unlock(&mint.lock);
	if (started)
		pthread_join(mint.thread, NULL);
	/* jobs whose answer never ran (the loops stopped first); their
	 * conns, still open, forget them */
	for (;;) {
		pthread_mutex_lock(&mint.lock);
		struct mint_job *j = mint.live;
		pthread_mutex_unlock(&mint.lock);
		if (!j)
			break;
		if (j->c)
			j->c->bump->job = NULL;
		job_free(j);
	}
	mint.head = mint.tail = NULL;
	mint.queued = 0;
}

/* ---- a terminated connection ---- */

static void handshake(struct conn *c, X509 *leaf);

static void bump_fail(struct conn *c, const char *reason)
{
	__atomic_add_fetch(&server.bump_failed, 1, __ATOMIC_RELAXED);
	conn_close(c, reason);
}

static void mint_done(struct mint_job *j)
{
	struct conn *c = j->c;
	X509 *leaf = j->leaf;

	j->leaf = NULL;
	job_free(j);
	if (!c) {
		X509_free(leaf);
		return;
	}
	c->bump->job = NULL;
	if (!leaf) {
		bump_fail(c, "tls-mint-failed");
		return;
	}
	handshake(c, leaf);
}

static void wake_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct bump_wake *wk = arg;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&wk->lock);
	struct mint_job *j = wk->done;
	wk->done = NULL;
	pthread_mutex_unlock(&wk->lock);
	while (j) {
		struct mint_job *next = j->next;
		mint_done(j);
		j = next;
	}
}

/* The worker's wake-up, made at its first mint (its loop thread). */
static struct bump_wake *wake_get(struct worker *w)
{
	struct bump_wake **slot = worker_bump_wake(w);
	struct bump_wake *wk = *slot;

	if (wk)
		return wk;
	wk = calloc(1, sizeof(*wk));
	if (!wk)
		return NULL;
	if (pipe2(wk->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(wk);
		return NULL;
	}
	wk->ev = event_new(worker_base(w), wk->pipe[0], EV_READ | EV_PERSIST, wake_on_read, wk);
	if (!wk->ev || event_add(wk->ev, NULL) < 0) {
		if (wk->ev)
			event_free(wk->ev);
		close(wk->pipe[0]);
		close(wk->pipe[1]);
		free(wk);
		return NULL;
	}
	pthread_mutex_init(&wk->lock, NULL);
	*slot = wk;
	return wk;
}

void bump_wake_free(struct bump_wake *wk)
{
	if (!wk)
		return;
	event_free(wk->ev);
	close(wk->pipe[0]);
	close(wk->pipe[1]);
	pthread_mutex_destroy(&wk->lock);
	free(wk); /* its done jobs are bump_shutdown()'s */
}

/* Queue a mint for the conn's name; false when the queue is full. */
static bool mint_submit(struct conn *c)
{
	struct bump_wake *wk = wake_get(c->w);
	struct mint_job *j = wk ? calloc(1, sizeof(*j)) : NULL;
	if (!j)
		return false;
	j->wake = wk;
	j->c = c;
	j->gen = gen_ref(c->gen);
	str_copy(j->name, sizeof(j->name), c->bump->name);
	pthread_mutex_lock(&mint.lock);
	if (!mint.started && !mint.stop) {
		mint.started = pthread_create(&mint.thread, NULL, mint_main, NULL) == 0;
		if (!mint.started)
			log_err("block_ca: cannot start the mint thread");
	}
	bool ok = mint.started && !mint.stop && mint.queued < MINT_QUEUE_MAX;
	if (ok) {
		j->lnext = mint.live;
		if (mint.live)
			mint.live->lprev = j;
		mint.live = j;
		if (mint.tail)
			mint.tail->next = j;
		else
			mint.head = j;
		mint.tail = j;
		mint.queued++;
		pthread_cond_signal(&mint.cond);
	}
	pthread_mutex_unlock(&mint.lock);
	if (!ok) {
		gen_unref(j->gen);
		free(j);
		return false;
	}
	c->bump->job = j;
	return true;
}

bool bump_wanted(struct conn *c, const char *name)
{
	const struct bumper *b = c->gen->bumper;

	char norm[HOSTNAME_MAX + 1];

	if (!b || !name || !*name || hostname_normalise(name, strlen(name), norm) != HOST_NAME)
		return false;
	if (c->decision.verdict != VERDICT_BLOCK &&
	    !(c->decision.verdict == VERDICT_WARN && !enforce_warn_acked(c, c->decision.platform)))
		return false;
	return blockca_permits(b->ca, name);
}

static bool bump_alloc(struct conn *c, const char *name)
{
	if (!c->bump && !(c->bump = calloc(1, sizeof(*c->bump))))
		return false;
	str_copy(c->bump->name, sizeof(c->bump->name), name);
	c->bump->port = c->port ? c->port : 443;
	return true;
}

void bump_connect(struct conn *c, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	evbuffer_drain(in, head_len);
	if (!bump_alloc(c, c->host)) {
		conn_close(c, "out-of-memory");
		return;
	}
	bufferevent_write(c->client, ok, sizeof(ok) - 1);
	c->bytes_down += sizeof(ok) - 1;
	c->state = CS_BUMP;
	bufferevent_setwatermark(c->client, EV_READ, 0, SNI_MAX_HELLO);
	bufferevent_enable(c->client, EV_READ);
	conn_timer_start(c, c->conf->proxy.sni_timeout_ms);
	if (evbuffer_get_length(in) > 0)
		bump_on_read(c);
}

void bump_on_read(struct conn *c)
{
	struct sni_info info;
	enum sni_result r;

	if (c->bump->handshaking || c->bump->job)
		return; /* the filter reads; or the hello waits for its leaf */
	if (!tunnel_read_hello(bufferevent_get_input(c->client), &info, &r))
		return;
	if (r != SNI_FOUND) {
		/* no name to mint for but the CONNECT's own */
		bump_hello(c, c->bump->name);
		return;
	}
	memcpy(c->sni, info.name, sizeof(c->sni));
	if (strcmp(info.name, c->bump->name) != 0) {
		/* the page is for the name the browser checks: the SNI, which
		 * must be permitted and decided on its own as well */
		struct decision_hook d;
		enforce_decide(c, c->host, c->sni, &d);
		c->decision = d;
		if (!bump_wanted(c, c->sni)) {
			conn_close(c, c->decision.verdict == VERDICT_BLOCK ? "blocked-sni" : "sni-mismatch");
			return;
		}
	}
	bump_hello(c, info.name);
}

void bump_on_timer(struct conn *c)
{
	bump_fail(c, c->bump && c->bump->handshaking ? "tls-handshake-timeout" :
		     c->bump && c->bump->job ? "tls-mint-timeout" : "no-client-hello");
}

void bump_hello(struct conn *c, const char *name)
{
	if (!bump_alloc(c, name)) {
		conn_close(c, "out-of-memory");
		return;
	}
	c->state = CS_BUMP;
	/* the hello stays in the input for the TLS filter; read nothing more meanwhile */
	bufferevent_disable(c->client, EV_READ);
	evtimer_del(c->timer);
	conn_timer_start(c, c->conf->proxy.header_timeout_ms);
	X509 *leaf = cache_get(c->gen->bumper, c->bump->name, time(NULL));
	if (leaf) {
		handshake(c, leaf);
		return;
	}
	if (!mint_submit(c))
		bump_fail(c, "tls-mint-busy");
}

static void bump_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->bump->handshaking = false;
		__atomic_add_fetch(&server.bump_handshakes, 1, __ATOMIC_RELAXED);
		evtimer_del(c->timer);
		conn_client_attach(c);
		return;
	}
	unsigned long e = bufferevent_get_openssl_error(c->client);
	char msg[128] = "";
	if (e)
		ERR_error_string_n(e, msg, sizeof(msg));
	log_debug("block page TLS for %s: handshake failed%s%s", c->bump->name, e ? ": " : "", msg);
	bump_fail(c, "tls-handshake-failed");
}

/*
 * The filter's output empties as soon as SSL_write has put the records into
 * the socket's output below it: a closing conn (CS_CLOSING) waits for that
 * one too (bump_flushed), and is told here, on the next loop turn, when
 * the socket has taken the last byte.
 */
static void under_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	if (info->n_deleted && evbuffer_get_length(buf) == 0 && c->state == CS_CLOSING)
		bufferevent_trigger(c->client, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void count_page_bytes(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	(void)buf;
	c->bytes_down += info->n_added;
}

bool bump_flushed(const struct conn *c)
{
	return !c->bump || !c->bump->under || evbuffer_get_length(bufferevent_get_output(c->bump->under)) == 0;
}

static void handshake(struct conn *c, X509 *leaf)
{
	struct bumper *b = c->gen->bumper;
	SSL *ssl = SSL_new(b->ctx);

	/* the leaf alone: devices have the CA (a trust anchor is never sent;
	 * with the catalog's constraints it is kilobytes per handshake) */
	if (!ssl || SSL_use_certificate(ssl, leaf) != 1 ||
	    SSL_use_PrivateKey(ssl, blockca_leaf_key(b->ca)) != 1) {
		X509_free(leaf);
		SSL_free(ssl);
		ERR_clear_error();
		bump_fail(c, "tls-setup-failed");
		return;
	}
	X509_free(leaf);
	struct bufferevent *under = c->client;
	bufferevent_setwatermark(under, EV_READ, 0, 0);
	struct bufferevent *f = bufferevent_openssl_filter_new(worker_base(c->w), under, ssl,
							       BUFFEREVENT_SSL_ACCEPTING,
							       BEV_OPT_CLOSE_ON_FREE);
	if (!f) {
		SSL_free(ssl);
		bump_fail(c, "tls-setup-failed");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	c->client = f;
	c->bump->under = under;
	c->bump->drained = evbuffer_add_cb(bufferevent_get_output(under), under_drained, c);
	/* the pages' bytes, counted as they are written: TLS takes them out of
	 * this buffer at once, so conn_answer() cannot measure them there */
	evbuffer_add_cb(bufferevent_get_output(f), count_page_bytes, c);
	c->bump->handshaking = true;
	bufferevent_setcb(f, NULL, NULL, bump_on_event, c);
	bufferevent_enable(f, EV_READ | EV_WRITE);
	/* the ClientHello already waits in the socket's input: start on it */
	bufferevent_enable(under, EV_READ);
	bufferevent_trigger(under, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
}

void bump_conn_free(struct conn *c)
{
	if (!c->bump)
		return;
	if (c->bump->job)
		c->bump->job->c = NULL; /* its event frees it on this loop */
	if (c->bump->drained)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bump->under), c->bump->drained);
	free(c->bump);
	c->bump = NULL;
}

/* ---- the pages on a terminated connection ---- */

static void uri_for(struct conn *c, const struct http_request *req)
{
	char port[8] = "";
	size_t n = 0;

	if (c->bump->port != 443)
		snprintf(port, sizeof(port), ":%u", c->bump->port);
	c->uri[0] = '\0';
	str_append(c->uri, sizeof(c->uri), &n, "https://", 8);
	str_append(c->uri, sizeof(c->uri), &n, c->bump->name, strlen(c->bump->name));
	str_append(c->uri, sizeof(c->uri), &n, port, strlen(port));
	str_append(c->uri, sizeof(c->uri), &n, req->path, req->path_len);
}

void bump_request(struct conn *c, const struct http_request *req, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct evbuffer *out = bufferevent_get_output(c->client);

	str_copy(c->host, sizeof(c->host), c->bump->name);
	c->host_kind = HOST_NAME;
	c->port = c->bump->port;
	str_copy(c->sni, sizeof(c->sni), c->bump->name);
	uri_for(c, req);
	/* a body is never read here: answer, then close */
	bool keep = req->keep_alive && req->body == HTTP_BODY_NONE && !worker_stopping(c->w);
	const char *q = memchr(req->path, '?', req->path_len);
	size_t plen = q ? (size_t)(q - req->path) : req->path_len;
	size_t before = evbuffer_get_length(out);

	if (plen == sizeof(BUMP_CONTINUE_PATH) - 1 && memcmp(req->path, BUMP_CONTINUE_PATH, plen) == 0) {
		/* the interstitial's Continue: acknowledged, then back to the site on a
		 * fresh connection (this one closes), which is relayed untouched */
		char query[1024];
		size_t qlen = q ? req->path_len - plen - 1 : 0;
		if (qlen >= sizeof(query))
			qlen = 0;
		if (qlen)
			memcpy(query, q + 1, qlen);
		query[qlen] = '\0';
		evbuffer_drain(in, head_len);
		c->status = enforce_continue(c, out, qlen ? query : NULL, qlen, false);
		__atomic_add_fetch(&server.bump_continues, 1, __ATOMIC_RELAXED);
		conn_answer(c, before, RECORD_REQUEST, "continue-tls", false);
		return;
	}
	enforce_decide(c, c->host, NULL, &c->decision);
	if (c->decision.verdict == VERDICT_WARN && !enforce_warn_acked(c, c->decision.platform)) {
		evbuffer_drain(in, head_len);
		c->status = 403;
		enforce_warn_page(c, out, false, keep);
		__atomic_add_fetch(&server.bump_pages[VERDICT_WARN], 1, __ATOMIC_RELAXED);
		conn_answer(c, before, RECORD_BLOCKED, "warned-page-tls", keep);
		return;
	}
	if (c->decision.verdict == VERDICT_BLOCK) {
		evbuffer_drain(in, head_len);
		__atomic_add_fetch(&server.bump_pages[VERDICT_BLOCK], 1, __ATOMIC_RELAXED);
		request_blocked_reply(c, keep, "blocked-page-tls");
		return;
	}
	/*
	 * Allowed now (a break began, the warning was acknowledged): this
	 * connection is terminated and must not carry the person's traffic.
	 * The same URL again, on a new connection, goes through a tunnel.
	 */
	char loc[300];
	evbuffer_drain(in, head_len);
	/* c->uri is visible ASCII (a normalised name and a parsed path) */
	snprintf(loc, sizeof(loc), "Location: %s\r\n", c->uri);
	c->status = 307;
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		conn_close(c, "out-of-memory");
		return;
	}
	evbuffer_add_printf(b, "<!doctype html><title>Allowed now</title><p>Allowed now: "
			    "<a href=\"/\">open the page again</a>.</p>\n");
	pages_send_html(out, 307, b, loc, false, req->is_head);
	evbuffer_free(b);
	conn_answer(c, before, RECORD_REQUEST, "tls-page-allowed", false);
}
