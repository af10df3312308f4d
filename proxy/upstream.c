/*
 * upstream: reaching origins — resolution (the hosts files from the
 * worker's generation, parsed off the loop, else evdns asynchronously), the
 * destination check (never the proxy itself,
 * never loopback or link-local unless allow_loopback_upstream), connecting
 * with connect_timeout over every resolved address in turn, and a small
 * per-worker pool of idle keep-alive connections per origin with an idle
 * timeout.
 *
 * Results always reach the connection from the event loop, never from
 * inside upstream_open(), so the caller's state is consistent when its
 * callback runs. A request whose connection closed is detached
 * (upstream_cancel) and cleans itself up when its DNS answer arrives.
 *
 * Runs on the worker's loop thread only: no blocking calls (IP literals are
 * parsed with AI_NUMERICHOST, which never touches the network).
 */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fnv.h"
#include "hosts.h"
#include "log.h"
#include "strutil.h"

/* addresses tried for a name of the hosts files (the rest are ignored) */
#define HOSTS_ADDRS_MAX 16

struct upstream_req {
	struct conn *c;                 /* NULL once cancelled */
	struct worker *w;
	char host[HOSTNAME_MAX + 1];
	uint16_t port;
	struct evutil_addrinfo *ai;
	struct evutil_addrinfo *cur;
	bool ai_hosts;                  /* ai is from hosts_addrinfo(), not libevent's */
	struct bufferevent *bev;
	struct event *deliver;
	bool dns_pending;
	bool reused;
	bool timed_out;
	int status;
	int last_errno;
	const char *why;
	char why_buf[320];
};

/* ---- the pool ---- */

#define POOL_BUCKETS 1024

struct pooled {
	struct pooled *next;
	struct upstream_pool *pool;
	struct bufferevent *bev;
	unsigned bucket;
	uint16_t port;
	char host[HOSTNAME_MAX + 1];
};

struct upstream_pool {
	struct worker *w;
	size_t size;
	struct pooled *buckets[POOL_BUCKETS];
};

static unsigned pool_hash(const char *host, uint16_t port)
{
	return fnv32_str(FNV32_OFFSET ^ port, host) % POOL_BUCKETS;
}

struct upstream_pool *upstream_pool_create(struct worker *w)
{
	struct upstream_pool *p = calloc(1, sizeof(*p));
	if (p)
		p->w = w;
	return p;
}

static void pool_unlink(struct pooled *e)
{
	struct pooled **pp = &e->pool->buckets[e->bucket];
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
	e->pool->size--;
}

void upstream_pool_destroy(struct upstream_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < POOL_BUCKETS; i++) {
		struct pooled *e = p->buckets[i];
		while (e) {
			struct pooled *next = e->next;
			bufferevent_free(e->bev);
			free(e);
			e = next;
		}
	}
	free(p);
}

size_t upstream_pool_size(const struct upstream_pool *p)
{
	return p ? p->size : 0;
}

static void pool_on_read(struct bufferevent *bev, void *arg)
{
	struct pooled *e = arg;
	(void)bev;
	/* an idle origin connection must not talk: it is of no further use */
	pool_unlink(e);
	bufferevent_free(e->bev);
	free(e);
}

static void pool_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pooled *e = arg;
	(void)bev;
	(void)what;
	pool_unlink(e);
	bufferevent_free(e->bev);
	free(e);
}

void upstream_release(struct worker *w, const char *host, uint16_t port, struct bufferevent *bev)
{
	struct upstream_pool *p = worker_pool(w);
	struct conf *conf = server_conf_get();
	unsigned max = conf->proxy.pool_per_origin;
	unsigned idle_ms = conf->proxy.pool_idle_timeout_ms;
	conf_unref(conf);

	if (!p || max == 0 || worker_stopping(w)) {
		bufferevent_free(bev);
		return;
	}
	unsigned b = pool_hash(host, port);
	unsigned same = 0;
	for (struct pooled *e = p->buckets[b]; e; e = e->next)
		if (e->port == port && strcmp(e->host, host) == 0)
			same++;
	if (same >= max) {
		bufferevent_free(bev);
		return;
	}
	struct pooled *e = calloc(1, sizeof(*e));
	if (!e) {
		bufferevent_free(bev);
		return;
	}
	e->pool = p;
	e->bev = bev;
	e->bucket = b;
	e->port = port;
	str_copy(e->host, sizeof(e->host), host);
	e->next = p->buckets[b];
	p->buckets[b] = e;
	p->size++;
	struct timeval tv = clock_timeval(idle_ms);
	bufferevent_setcb(bev, pool_on_read, NULL, pool_on_event, e);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_setwatermark(bev, EV_READ | EV_WRITE, 0, 0);
	bufferevent_enable(bev, EV_READ);
}

static struct bufferevent *pool_take(struct worker *w, const char *host, uint16_t port)
{
	struct upstream_pool *p = worker_pool(w);
	if (!p || p->size == 0)
		return NULL;
	unsigned b = pool_hash(host, port);
	for (struct pooled *e = p->buckets[b]; e; e = e->next) {
		if (e->port != port || strcmp(e->host, host) != 0)
			continue;
		struct bufferevent *bev = e->bev;
		pool_unlink(e);
		free(e);
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		bufferevent_set_timeouts(bev, NULL, NULL);
		return bev;
	}
	return NULL;
}

/* ---- resolve and connect ---- */

/* One address of the hosts table as an addrinfo node (node and address in one block). */
struct hosts_ai {
	struct evutil_addrinfo ai;
	struct sockaddr_storage ss;
};

static void hosts_addrinfo_free(struct evutil_addrinfo *ai)
{
	while (ai) {
		struct evutil_addrinfo *next = ai->ai_next;
		free(ai); /* the first member of its struct hosts_ai */
		ai = next;
	}
}

/* The hosts table's addresses of host as an addrinfo list: NULL when the
 * name is not in it (*found false) or out of memory (*found true). */
static struct evutil_addrinfo *hosts_addrinfo(struct worker *w, const char *host, uint16_t port,
					      bool *found)
{
	struct sockaddr_any addrs[HOSTS_ADDRS_MAX];
	size_t n = hosts_lookup(worker_hosts(w), host, port, addrs, HOSTS_ADDRS_MAX);
	struct evutil_addrinfo *head = NULL, **tail = &head;

	*found = n > 0;
	for (size_t i = 0; i < n && i < HOSTS_ADDRS_MAX; i++) {
		struct hosts_ai *h = calloc(1, sizeof(*h));
		if (!h) {
			hosts_addrinfo_free(head);
			return NULL;
		}
		memcpy(&h->ss, &addrs[i].u.ss, addrs[i].len);
		h->ai.ai_family = addrs[i].u.sa.sa_family;
		h->ai.ai_socktype = SOCK_STREAM;
		h->ai.ai_protocol = IPPROTO_TCP;
		h->ai.ai_addr = (struct sockaddr *)&h->ss;
		h->ai.ai_addrlen = addrs[i].len;
		*tail = &h->ai;
		tail = &h->ai.ai_next;
	}
	return head;
}

static void req_free(struct upstream_req *r)
{
	if (r->bev)
		bufferevent_free(r->bev);
	if (r->ai && r->ai_hosts)
		hosts_addrinfo_free(r->ai);
	else if (r->ai)
		evutil_freeaddrinfo(r->ai);
	if (r->deliver)
		event_free(r->deliver);
	free(r);
}

static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_req *r = arg;
	struct conn *c = r->c;
	struct bufferevent *bev = r->bev;
	(void)fd;
	(void)what;

	r->bev = NULL;
	if (!c) {
		if (bev)
			bufferevent_free(bev);
		req_free(r);
		return;
	}
	int status = r->status;
	bool reused = r->reused;
	char why[320];
	why[0] = '\0';
	if (status)
		str_copy(why, sizeof(why), r->why ? r->why : "");
	req_free(r);
	conn_upstream_ready(c, bev, reused, status, why);
}

static void deliver(struct upstream_req *r, int status, const char *why)
{
	r->status = status;
	if (why && why != r->why_buf)
		str_copy(r->why_buf, sizeof(r->why_buf), why);
	else if (!why)
		r->why_buf[0] = '\0';
	r->why = r->why_buf;
	if (!r->deliver)
		r->deliver = event_new(worker_base(r->w), -1, 0, on_deliver, r);
	event_active(r->deliver, EV_TIMEOUT, 1);
}

static bool destination_allowed(const struct conf *conf, const struct sockaddr *sa)
{
	if (server_is_self(sa))
		return false;
	if (sockaddr_is_unspecified(sa))
		return false;
	if (!conf->proxy.allow_loopback_upstream && sockaddr_is_local_scope(sa))
		return false;
	return true;
}

static void try_next(struct upstream_req *r);

static void on_connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct upstream_req *r = arg;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		bufferevent_set_timeouts(bev, NULL, NULL);
		if (!r->c) {
			req_free(r);
			return;
		}
		deliver(r, 0, NULL);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		r->timed_out = true;
	else
		r->last_errno = EVUTIL_SOCKET_ERROR();
	bufferevent_free(bev);
	r->bev = NULL;
	if (!r->c) {
		req_free(r);
		return;
	}
	r->cur = r->cur->ai_next;
	try_next(r);
}

static void try_next(struct upstream_req *r)
{
	struct conf *conf = conn_conf(r->c);
	bool refused_any = false, tried_any = false;
	unsigned ms = conf->proxy.connect_timeout_ms;
	struct timeval tv = clock_timeval(ms);

	for (; r->cur; r->cur = r->cur->ai_next) {
		const struct sockaddr *sa = r->cur->ai_addr;
		if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
			continue;
		if (!destination_allowed(conf, sa)) {
			refused_any = true;
			continue;
		}
		tried_any = true;
		r->bev = bufferevent_socket_new(worker_base(r->w), -1, BEV_OPT_CLOSE_ON_FREE);
		if (!r->bev)
			break;
		bufferevent_setcb(r->bev, NULL, NULL, on_connect_event, r);
		bufferevent_set_timeouts(r->bev, NULL, &tv);
		if (bufferevent_socket_connect(r->bev, sa, (int)r->cur->ai_addrlen) == 0)
			return; /* on_connect_event continues */
		r->last_errno = errno;
		bufferevent_free(r->bev);
		r->bev = NULL;
	}
	if (r->timed_out) {
		deliver(r, 504, "The origin did not accept the connection in time.");
	} else if (refused_any && !tried_any && !r->last_errno) {
		deliver(r, 403, "The destination is not allowed through this proxy "
			"(the proxy itself, loopback or link-local).");
	} else {
		snprintf(r->why_buf, sizeof(r->why_buf), "Could not connect to %.200s port %u: %.60s.",
			 r->host, r->port, r->last_errno ? strerror(r->last_errno) : "no usable address");
		deliver(r, 502, r->why_buf);
	}
}

static void on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct upstream_req *r = arg;

	r->dns_pending = false;
	if (!r->c) {
		if (ai)
			evutil_freeaddrinfo(ai);
		req_free(r);
		return;
	}
	if (err) {
		if (ai)
			evutil_freeaddrinfo(ai);
		snprintf(r->why_buf, sizeof(r->why_buf), "The name %.200s could not be resolved (%.60s).",
			 r->host, evutil_gai_strerror(err));
		deliver(r, 502, r->why_buf);
		return;
	}
	r->ai = r->cur = ai;
	try_next(r);
}

struct upstream_req *upstream_open(struct conn *c, const char *host, enum host_kind kind,
				   uint16_t port, bool may_reuse)
{
	struct upstream_req *r = calloc(1, sizeof(*r));
	struct evutil_addrinfo hints;
	char portstr[8];

	if (!r)
		return NULL; /* the caller answers 503 */
	r->c = c;
	r->w = conn_worker(c);
	str_copy(r->host, sizeof(r->host), host);
	r->port = port;
	if (may_reuse) {
		r->bev = pool_take(r->w, host, port);
		if (r->bev) {
			r->reused = true;
			deliver(r, 0, NULL);
			return r;
		}
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (kind == HOST_IPV4 || kind == HOST_IPV6) {
		hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_NUMERICSERV;
		struct evutil_addrinfo *ai = NULL;
		int err = evutil_getaddrinfo(host, portstr, &hints, &ai);
		if (err || !ai) {
			deliver(r, 400, "The address is not valid.");
			return r;
		}
		r->ai = r->cur = ai;
		try_next(r);
		return r;
	}
	/* a name of the hosts files: answered here, no DNS question asked */
	bool in_hosts;
	struct evutil_addrinfo *ai = hosts_addrinfo(r->w, host, port, &in_hosts);
	if (in_hosts) {
		if (!ai) {
			deliver(r, 503, "The proxy is short of memory: try again.");
			return r;
		}
		r->ai = r->cur = ai;
		r->ai_hosts = true;
		try_next(r);
		return r;
	}
	hints.ai_flags = EVUTIL_AI_NUMERICSERV;
	r->dns_pending = true;
	struct evdns_getaddrinfo_request *q =
		evdns_getaddrinfo(worker_dns(r->w), host, portstr, &hints, on_resolved, r);
	(void)q; /* NULL when answered at once (localhost): on_resolved has run */
	return r;
}

void upstream_cancel(struct upstream_req *r)
{
	if (!r)
		return;
	r->c = NULL;
	if (r->dns_pending)
		return; /* on_resolved frees it */
	/* connecting (the bufferevent goes with it) or waiting to deliver */
	req_free(r);
}
