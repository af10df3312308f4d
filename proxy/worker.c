/*
 * worker: one thread, one event_base. Each worker has its own listening
 * sockets on every configured address (SO_REUSEPORT, bound by main.c before
 * privileges were dropped), its own resolver and its own pool of idle
 * origin connections, so workers share nothing on the request path.
 *
 * Accept applies the limits in order: max_connections (accept pauses at
 * the limit, and for a second on EMFILE/ENFILE, instead of spinning), the
 * client address ACL (403 and a log line), max_connections_per_client (429).
 *
 * A connection is accepted in one generation (proxy.h): the limits above,
 * the TLS context of an HTTPS-proxy connection and everything the conn
 * reads later come from the same one.
 *
 * The main thread talks to a worker only through its command pipe
 * (worker_post_stop, worker_post: 'P' pause accepting, 'H' take a reloaded
 * generation for the resolver); the neighbour thread through it too ('N':
 * it answered, see intercept.c). Everything else here runs on the worker's
 * thread, which never reads a file: hosts files come parsed in the
 * generation.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bump.h"
#include "clock.h"
#include "identity.h"
#include "intercept.h"
#include "log.h"

/* at most one "refused" line per this many seconds (with a count of the rest) */
#define REFUSED_LOG_INTERVAL 10

struct worker {
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evdns_base *dns;
	struct generation *dns_gen;     /* the resolver's: hosts table and dns_timeout */
	struct upstream_pool *pool;
	struct identity_cache *identity;
	struct evconnlistener **listeners;
	size_t n_listeners;
	struct event *cmd_ev;
	int cmd_pipe[2];
	struct event *resume_timer;
	struct event *grace_timer;
	struct event *minute_timer;     /* tunnel progress records, on the minute */
	struct conn *conns;
	unsigned n_conns;
	struct bump_wake *bump_wake;    /* bump.c: minted leaves come back through it */
	struct conn *social;            /* open tunnels to social platforms */
	unsigned n_social;
	struct conn *neigh;             /* intercepted conns waiting for the neighbour table */
	unsigned grace_ms;
	bool paused;
	bool stopping;
};

struct bump_wake **worker_bump_wake(struct worker *w)
{
	return &w->bump_wake;
}

struct event_base *worker_base(struct worker *w)
{
	return w->base;
}

struct evdns_base *worker_dns(struct worker *w)
{
	return w->dns;
}

struct upstream_pool *worker_pool(struct worker *w)
{
	return w->pool;
}

struct identity_cache *worker_identity(struct worker *w)
{
	return w->identity;
}

const struct hosts *worker_hosts(struct worker *w)
{
	return w->dns_gen ? w->dns_gen->hosts : NULL;
}

bool worker_stopping(struct worker *w)
{
	return w->stopping;
}

static void pause_accept(struct worker *w, unsigned ms)
{
	struct timeval tv = clock_timeval(ms);

	if (!w->paused) {
		for (size_t i = 0; i < w->n_listeners; i++)
			evconnlistener_disable(w->listeners[i]);
		w->paused = true;
	}
	evtimer_add(w->resume_timer, &tv);
}

static void resume_accept(struct worker *w)
{
	if (!w->paused || w->stopping)
		return;
	for (size_t i = 0; i < w->n_listeners; i++)
		evconnlistener_enable(w->listeners[i]);
	w->paused = false;
	evtimer_del(w->resume_timer);
}

static void worker_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct conf *conf = server_conf_get();
	unsigned max = conf->proxy.max_connections;
	conf_unref(conf);
	(void)fd;
	(void)what;

	if (__atomic_load_n(&server.connections, __ATOMIC_RELAXED) < max)
		resume_accept(w);
	else
		pause_accept(w, 200);
}

static bool client_allowed(const struct conf *conf, const struct sockaddr *sa)
{
	for (size_t i = 0; i < conf->proxy.n_allow_clients; i++)
		if (cidr_match(&conf->proxy.allow_clients[i], sa))
			return true;
	return false;
}

/* A short refusal written straight to a new socket; the kernel buffer takes it. */
/* Refused at accept: an HTTP answer (status, text) to a client that speaks
 * HTTP first; none (status 0) to one that speaks TLS first, for which HTTP
 * text would be garbage: it sees the connection closed. */
static void refuse(evutil_socket_t fd, int status, const char *text)
{
	char buf[512];
	int n = status ? snprintf(buf, sizeof(buf),
				  "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
				  "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				  status, pages_reason(status), strlen(text), text) : 0;
	if (n > 0) {
		ssize_t w = send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
	}
	/* discard what the client already sent, so close() does not reset the answer away */
	char sink[4096];
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	shutdown(fd, SHUT_WR);
	evutil_closesocket(fd);
}

enum listener_kind { LISTENER_PLAIN, LISTENER_TLS, LISTENER_INTERCEPT };

static void accept_one(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int len,
		       enum listener_kind kind);

static void worker_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			     int len, void *arg)
{
	(void)l;
	accept_one(arg, fd, sa, len, LISTENER_PLAIN);
}

static void worker_on_accept_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
				 int len, void *arg)
{
	(void)l;
	accept_one(arg, fd, sa, len, LISTENER_TLS);
}

static void worker_on_accept_intercept(struct evconnlistener *l, evutil_socket_t fd,
				       struct sockaddr *sa, int len, void *arg)
{
	(void)l;
	accept_one(arg, fd, sa, len, LISTENER_INTERCEPT);
}

static void accept_one(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int len,
		       enum listener_kind kind)
{
	struct generation *gen = server_gen_get();
	const struct conf *conf = gen->conf;
	char peer[64];
	struct sockaddr_any dst;
	bool tls = kind == LISTENER_TLS;

	unsigned n = __atomic_add_fetch(&server.connections, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&server.accepted, 1, __ATOMIC_RELAXED);
	if (n >= conf->proxy.max_connections) {
		/* at the limit every worker stops accepting: new clients wait in the
		 * listen queue instead of being accepted and dropped. A connection a
		 * worker accepted in the meantime is served (at most one per worker
		 * over the limit). */
		if (n == conf->proxy.max_connections)
			log_warn("max_connections (%u) reached: accept paused", conf->proxy.max_connections);
		for (unsigned i = 0; i < server.n_workers; i++) {
			if (server.workers[i] == w)
				pause_accept(w, 200);
			else
				worker_post(server.workers[i], 'P');
		}
	}
	/* a flood of refused connections must not become a flood of log lines */
	static struct log_limit not_allowed_log = {REFUSED_LOG_INTERVAL, 0, 0};
	static struct log_limit per_client_log = {REFUSED_LOG_INTERVAL, 0, 0};
	uint64_t left_out;
	bool allowed = client_allowed(conf, sa);
	if (!allowed && log_limit_pass(&not_allowed_log, &left_out))
		log_notice("refused %s: not in allow_clients (%" PRIu64 " more refusals not logged "
			   "in the last %d s)", sockaddr_ntop(sa, peer, sizeof(peer)), left_out,
			   REFUSED_LOG_INTERVAL);
	if (kind == LISTENER_INTERCEPT &&
	    (intercept_original_dst(fd, &dst) < 0 || server_is_local_host(&dst.u.sa))) {
		/* straight to the intercept port, or redirected to this host itself:
		 * nothing to intercept (and never the proxy's own ports) */
		static struct log_limit self_log = {REFUSED_LOG_INTERVAL, 0, 0};
		if (log_limit_pass(&self_log, &left_out))
			log_notice("refused %s: intercepted connection to this host itself (%" PRIu64
				   " more not logged in the last %d s)", sockaddr_ntop(sa, peer, sizeof(peer)),
				   left_out, REFUSED_LOG_INTERVAL);
		__atomic_sub_fetch(&server.connections, 1, __ATOMIC_RELAXED);
		evutil_closesocket(fd);
		goto out;
	}
	/* does the client speak TLS first (the HTTPS listener, intercepted TLS)? */
	bool tls_first = tls || (kind == LISTENER_INTERCEPT && intercept_port_is_tls(sockaddr_port(&dst.u.sa)));
	if (!server_client_acquire(sa, conf->proxy.max_connections_per_client)) {
		if (log_limit_pass(&per_client_log, &left_out))
			log_notice("refused %s: max_connections_per_client (%u) reached (%" PRIu64
				   " more refusals not logged in the last %d s)",
				   sockaddr_ntop(sa, peer, sizeof(peer)),
				   conf->proxy.max_connections_per_client, left_out, REFUSED_LOG_INTERVAL);
		__atomic_sub_fetch(&server.connections, 1, __ATOMIC_RELAXED);
		refuse(fd, tls_first ? 0 : 429, "Too many connections from your address.\n");
		goto out;
	}
	evutil_make_socket_nonblocking(fd);
	SSL *ssl = NULL;
	if (tls && !(gen->ssl_ctx && (ssl = SSL_new(gen->ssl_ctx)))) {
		server_client_release(sa);
		__atomic_sub_fetch(&server.connections, 1, __ATOMIC_RELAXED);
		evutil_closesocket(fd);
		goto out;
	}
	struct conn *c = conn_create(w, gen, fd, sa, (socklen_t)len, ssl);
	if (!c) {
		server_client_release(sa);
		__atomic_sub_fetch(&server.connections, 1, __ATOMIC_RELAXED);
		goto out;
	}
	c->counted = 1;
	if (kind == LISTENER_INTERCEPT)
		conn_intercept(c, &dst);
	/* a refused client still gets a clear 403 for its request (and a record),
	 * within a short deadline, and is let go */
	if (!allowed)
		conn_refuse(c);
out:
	gen_unref(gen);
}

static void worker_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int err = EVUTIL_SOCKET_ERROR();
	(void)l;

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		log_warn("accept: %s: pausing for a second", strerror(err));
		pause_accept(w, 1000);
	} else {
		log_warn("accept: %s", strerror(err));
	}
}

void worker_conn_opened(struct worker *w, struct conn *c)
{
	c->next = w->conns;
	c->prev = NULL;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
}

void worker_conn_closed(struct worker *w, struct conn *c)
{
	worker_social_remove(w, c);
	worker_neigh_remove(w, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	if (c->counted) {
		server_client_release(&c->peer.u.sa);
		__atomic_sub_fetch(&server.connections, 1, __ATOMIC_RELAXED);
	}
	if (w->paused && !w->stopping)
		worker_on_resume(-1, 0, w);
	if (w->stopping && w->n_conns == 0)
		event_base_loopexit(w->base, NULL);
}

static void minute_timer_arm(struct worker *w)
{
	struct timeval now;
	gettimeofday(&now, NULL);
	long usec = 60000000L - (long)(now.tv_sec % 60) * 1000000L - (long)now.tv_usec;
	if (usec < 1000)
		usec = 1000;
	struct timeval tv = {usec / 1000000, usec % 1000000};
	evtimer_add(w->minute_timer, &tv);
}

void worker_social_add(struct worker *w, struct conn *c)
{
	if (c->in_social)
		return;
	c->in_social = 1;
	c->sprev = NULL;
	c->snext = w->social;
	if (w->social)
		w->social->sprev = c;
	w->social = c;
	w->n_social++;
}

void worker_social_remove(struct worker *w, struct conn *c)
{
	if (!c->in_social)
		return;
	if (c->sprev)
		c->sprev->snext = c->snext;
	else
		w->social = c->snext;
	if (c->snext)
		c->snext->sprev = c->sprev;
	c->in_social = 0;
	w->n_social--;
}

void worker_neigh_add(struct worker *w, struct conn *c)
{
	if (c->in_neigh)
		return;
	c->in_neigh = 1;
	c->nprev = NULL;
	c->nnext = w->neigh;
	if (w->neigh)
		w->neigh->nprev = c;
	w->neigh = c;
}

void worker_neigh_remove(struct worker *w, struct conn *c)
{
	if (!c->in_neigh)
		return;
	if (c->nprev)
		c->nprev->nnext = c->nnext;
	else
		w->neigh = c->nnext;
	if (c->nnext)
		c->nnext->nprev = c->nprev;
	c->in_neigh = 0;
}

/* The neighbour thread answered (command 'N'): the conns it answered for go on. */
static void worker_neigh_answered(struct worker *w)
{
	struct conn *c = w->neigh;
	while (c) {
		struct conn *next = c->nnext;
		intercept_neigh_check(c);
		c = next;
	}
}

/*
 * On every wall-clock minute (schedule windows start and end on minutes):
 * each open tunnel to a social platform reports its bytes (usage is counted
 * while it is open, not only at close) and is decided again; those no longer
 * allowed are closed. Only social tunnels are visited, so the cost follows
 * social use, not the number of connections.
 */
static void worker_on_minute(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	struct conn *c = w->social;
	while (c) {
		struct conn *next = c->snext;
		conn_tunnel_progress(c);
		conn_enforce_tick(c);
		c = next;
	}
	if (!w->stopping)
		minute_timer_arm(w);
}

static void worker_on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;

	if (w->n_conns)
		log_notice("worker %u: shutdown_grace over, closing %u connections", w->id, w->n_conns);
	while (w->conns)
		conn_close(w->conns, "shutdown-grace");
	event_base_loopexit(w->base, NULL);
}

static void worker_stop(struct worker *w)
{
	struct timeval tv = clock_timeval(w->grace_ms);

	if (w->stopping)
		return;
	w->stopping = true;
	for (size_t i = 0; i < w->n_listeners; i++)
		evconnlistener_free(w->listeners[i]);
	w->n_listeners = 0;
	evtimer_del(w->resume_timer);
	evtimer_del(w->minute_timer);
	upstream_pool_destroy(w->pool);
	w->pool = NULL;
	struct conn *c = w->conns;
	while (c) {
		struct conn *next = c->next;
		conn_close_if_idle(c);
		c = next;
	}
	if (w->n_conns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	w->grace_timer = evtimer_new(w->base, worker_on_grace, w);
	evtimer_add(w->grace_timer, &tv);
}

/*
 * The worker's resolver. evdns answers from its own hosts table only for
 * localhost; every other name of the hosts files (the system's when the
 * servers come from resolv.conf, as libevent does, then hosts_file) is
 * answered by upstream.c from the generation's parsed table (hosts.h)
 * before evdns is asked, so a reload reads no file on this loop.
 * dns_servers need a restart.
 */
static int setup_dns(struct worker *w, const struct conf *conf)
{
	const struct conf_proxy *p = &conf->proxy;

	if (p->n_dns_servers) {
		w->dns = evdns_base_new(w->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!w->dns)
			return -1;
		for (size_t i = 0; i < p->n_dns_servers; i++)
			if (evdns_base_nameserver_ip_add(w->dns, p->dns_servers[i]) != 0)
				log_warn("dns_servers: cannot use %s", p->dns_servers[i]);
	} else {
		w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
					EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!w->dns)
			return -1;
	}
	/* resolv.conf brought /etc/hosts along: the generation has it instead */
	evdns_base_clear_host_addresses(w->dns);
	evdns_base_load_hosts(w->dns, NULL); /* NULL: localhost only, no file */
	evdns_base_set_option(w->dns, "attempts:", "2");
	evdns_base_set_option(w->dns, "randomize-case:", "0");
	return 0;
}

/*
 * Take gen for the resolver ('H' after a reload, and at start): lookups
 * from now on answer from its hosts table and wait its dns_timeout; those
 * in flight keep going. Takes the caller's reference.
 */
static void dns_apply(struct worker *w, struct generation *gen)
{
	char opt[32];
	unsigned secs = (gen->conf->proxy.dns_timeout_ms + 999) / 1000;

	snprintf(opt, sizeof(opt), "%u", secs ? secs : 1);
	evdns_base_set_option(w->dns, "timeout:", opt);
	gen_unref(w->dns_gen);
	w->dns_gen = gen;
}

static void worker_on_command(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char cmd[16];
	(void)what;

	ssize_t n = read(fd, cmd, sizeof(cmd));
	for (ssize_t i = 0; i < n; i++) {
		if (cmd[i] == 'S')
			worker_stop(w);
		else if (cmd[i] == 'P' && !w->stopping)
			pause_accept(w, 200);
		else if (cmd[i] == 'N')
			worker_neigh_answered(w);
		else if (cmd[i] == 'H' && !w->stopping) {
			dns_apply(w, server_gen_get());
			/* an idle origin connection may be to an address a name no
			 * longer has: start the pool afresh (connections in use stay) */
			upstream_pool_destroy(w->pool);
			w->pool = upstream_pool_create(w);
		}
	}
}

struct worker *worker_create(unsigned id, const int *fds, size_t n_fds,
			     const int *tls_fds, size_t n_tls_fds,
			     const int *icpt_fds, size_t n_icpt_fds)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct generation *gen = server_gen_get();

	if (!w)
		goto fail;
	w->id = id;
	w->cmd_pipe[0] = w->cmd_pipe[1] = -1;
	struct event_config *cfg = event_config_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!w->base)
		goto fail;
	if (setup_dns(w, gen->conf) < 0)
		goto fail;
	dns_apply(w, gen_ref(gen));
	w->pool = upstream_pool_create(w);
	w->identity = identity_cache_create(w);
	if (!w->identity)
		goto fail;
	if (pipe2(w->cmd_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	w->cmd_ev = event_new(w->base, w->cmd_pipe[0], EV_READ | EV_PERSIST, worker_on_command, w);
	event_add(w->cmd_ev, NULL);
	w->resume_timer = evtimer_new(w->base, worker_on_resume, w);
	w->minute_timer = evtimer_new(w->base, worker_on_minute, w);
	minute_timer_arm(w);
	size_t n_all = n_fds + n_tls_fds + n_icpt_fds;
	w->listeners = calloc(n_all + 1, sizeof(*w->listeners));
	if (!w->listeners)
		goto fail;
	for (size_t i = 0; i < n_all; i++) {
		evconnlistener_cb cb = i < n_fds ? worker_on_accept :
				       i < n_fds + n_tls_fds ? worker_on_accept_tls : worker_on_accept_intercept;
		int lfd = i < n_fds ? fds[i] : i < n_fds + n_tls_fds ? tls_fds[i - n_fds] :
			  icpt_fds[i - n_fds - n_tls_fds];
		w->listeners[i] = evconnlistener_new(w->base, cb, w,
						     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, lfd);
		if (!w->listeners[i])
			goto fail;
		evconnlistener_set_error_cb(w->listeners[i], worker_on_accept_error);
		w->n_listeners++;
	}
	gen_unref(gen);
	return w;
fail:
	gen_unref(gen);
	if (w)
		worker_destroy(w);
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	return NULL;
}

int worker_start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void worker_post(struct worker *w, char cmd)
{
	ssize_t n = write(w->cmd_pipe[1], &cmd, 1);
	(void)n;
}

void worker_post_stop(struct worker *w, unsigned grace_ms)
{
	w->grace_ms = grace_ms;
	ssize_t n = write(w->cmd_pipe[1], "S", 1);
	(void)n;
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void worker_destroy(struct worker *w)
{
	while (w->conns)
		conn_close(w->conns, "shutdown");
	for (size_t i = 0; i < w->n_listeners; i++)
		evconnlistener_free(w->listeners[i]); /* NOLINT(clang-analyzer-core.NullDereference): n_listeners counts its entries */
	free(w->listeners);
	upstream_pool_destroy(w->pool);
	identity_cache_destroy(w->identity);
	bump_wake_free(w->bump_wake);
	if (w->dns)
		evdns_base_free(w->dns, 1);
	gen_unref(w->dns_gen);
	if (w->cmd_ev)
		event_free(w->cmd_ev);
	if (w->resume_timer)
		event_free(w->resume_timer);
	if (w->minute_timer)
		event_free(w->minute_timer);
	if (w->grace_timer)
		event_free(w->grace_timer);
	if (w->base) {
		/* let cancelled resolutions and deferred deliveries clean up */
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		event_base_free(w->base);
	}
	if (w->cmd_pipe[0] >= 0)
		close(w->cmd_pipe[0]);
	if (w->cmd_pipe[1] >= 0)
		close(w->cmd_pipe[1]);
	free(w);
}
