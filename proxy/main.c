/*
 * main: the breaktimed process — options, configuration, binding the
 * listeners (before privileges are dropped), starting the workers, then
 * the main thread's own small event loop for signals:
 *   SIGTERM/SIGINT  stop accepting; in-flight requests finish within
 *                   shutdown_grace; then exit 0
 *   SIGHUP          reload the configuration: a bad file is refused with
 *                   file:line and the old one keeps serving; log files reopen;
 *                   keys only a restart applies are named in the log
 *   SIGUSR1         reopen log files (logrotate)
 * fatal() is used only here and only before the loops start.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "build_config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "acks.h"
#include "bindings.h"
#include "bump.h"
#include "identity.h"
#include "log.h"
#include "neigh.h"
#include "privdrop.h"
#include "policy.h"
#include "presence.h"
#include "storeq.h"
#include "tz.h"

#include "proxy.h"

static const char *conf_path = SYSCONFDIR "/breaktime/breaktime.conf";
static struct event_base *main_base;

/* The configuration the process started with: the listeners, workers,
 * resolvers' servers, privileges and the store (with its time zone, kept
 * alive by this reference) follow it until a restart, whatever reloads say. */
static struct conf *start_conf;

static void notify(const char *state)
{
#if HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/* libevent's own messages (evdns: "nameserver failed") go through our log, with priorities. */
static void on_libevent_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG: log_debug("libevent: %s", msg); break;
	case EVENT_LOG_MSG: log_info("libevent: %s", msg); break;
	case EVENT_LOG_WARN: log_warn("libevent: %s", msg); break;
	default: log_err("libevent: %s", msg); break;
	}
}

/*
 * "Students present" as the store records it: the newest change by hand
 * (`breaktime presence`, the web UI: other processes) and the newest
 * detection (this proxy's own, or breaktime-sensor's from traffic that never
 * passes the proxy). The main thread reads both every POLL_PRESENCE_S with
 * its own read-only connection (WAL: never blocks the writer) and hands them
 * to the workers as atomics.
 */
#define POLL_PRESENCE_S 2
static struct sqlite3 *presence_db;
static struct event *presence_timer;

static void poll_presence(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = {POLL_PRESENCE_S, 0};
	struct store_presence sp;
	static int last_o = -1;
	static int64_t last_until = -1;
	static time_t last_detected;
	(void)fd;
	(void)what;
	(void)arg;

	if (!presence_db) /* the store's own file, even after a reload named another */
		presence_db = store_db_open(start_conf->store.database, false, 100);
	if (presence_db && store_presence_latest(presence_db, time(NULL), &sp) == 0) {
		if ((int)sp.ps.override != last_o || (int64_t)sp.ps.override_until != last_until) {
			if (sp.state[0])
				log_notice("presence override: %s%s", sp.state,
					   sp.ps.override_until ? " (with an expiry)" : "");
			last_o = (int)sp.ps.override;
			last_until = (int64_t)sp.ps.override_until;
		}
		if (sp.ps.last_detected != last_detected) {
			log_debug("students detected at %lld: %s", (long long)sp.ps.last_detected,
				  sp.detected_cause);
			last_detected = sp.ps.last_detected;
		}
		enforce_presence_override((int)sp.ps.override, (int64_t)sp.ps.override_until);
		enforce_presence_detected((int64_t)sp.ps.last_detected);
	}
	evtimer_add(presence_timer, &tv);
}

static void restore_one_ack(void *ctx, const char *person, const char *platform)
{
	enforce_warn_restore(person, platform, *(const int64_t *)ctx);
}

/* The warn interstitial is once a day: restore today's "continue" choices after a restart. */
static void restore_warn_acks(const struct conf *c)
{
	int64_t day = tz_local_day(policy_tz(c->policy), time(NULL), NULL);
	struct sqlite3 *db = store_db_open(c->store.database, false, 1000);
	int n = db ? store_warn_acks_today(db, day, restore_one_ack, &day) : 0;

	if (n > 0)
		log_info("restored %d warn acknowledgements of today", n);
	store_db_close(db);
}

/* Intercept mode's bindings in force, from the store: a restart signs nobody out. */
#define RESTORE_BINDINGS_MAX (64 * 1024)

static void restore_one_binding(void *ctx, const struct store_binding_row *row)
{
	unsigned *n = ctx;
	if (bindings_restore(row))
		(*n)++;
}

static void restore_bindings(const struct conf *c)
{
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	unsigned n = 0;
	struct sqlite3 *db = store_db_open(c->store.database, false, 1000);

	if (db && store_bindings_read(db, now_ms, now_ms, RESTORE_BINDINGS_MAX, restore_one_binding, &n) < 0)
		log_warn("cannot read the bindings of intercepted devices from the store: their people "
			 "sign in again");
	if (n > 0)
		log_info("restored %u bindings of intercepted devices", n);
	store_db_close(db);
}

/* The neighbour thread answered: waiting intercepted connections go on. */
static void on_neigh_drained(void)
{
	for (unsigned i = 0; i < server.n_workers; i++)
		worker_post(server.workers[i], 'N');
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: breaktimed [-c FILE] [-t] [-v] [-d]\n"
		"  -c FILE  configuration (default %s)\n"
		"  -t       check the configuration and exit (0 good, 1 bad)\n"
		"  -v       log one line per completed request or tunnel\n"
		"  -d       debug logging (one line per closed connection, with its reason)\n"
		"  -V       print the version\n",
		SYSCONFDIR "/breaktime/breaktime.conf");
}

static struct conf *load_or_report(const char *path)
{
	struct conf_errors errs = {0};
	struct conf *c = conf_load(path, &errs);
	for (size_t i = 0; i < errs.n; i++)
		log_err("%s", errs.msgs[i]);
	conf_errors_free(&errs);
	return c;
}

/* transparent: an intercept listener, which TPROXY can hand connections to
 * any address (needs CAP_NET_ADMIN; without it only NAT REDIRECT works) */
static int bind_one(struct sockaddr_any *sa, bool transparent)
{
	int fd = socket(sa->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	char text[64];

	if (fd < 0)
		return -1;
	if (transparent &&
	    (sa->u.sa.sa_family == AF_INET6 ?
	     setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) :
	     setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) < 0)
		log_warn("intercept_listen %s: IP_TRANSPARENT: %s: TPROXY cannot reach it, NAT REDIRECT can",
			 sockaddr_ntop_port(&sa->u.sa, text, sizeof(text)), strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (sa->u.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &sa->u.sa, sa->len) < 0 || listen(fd, 1024) < 0) {
		log_err("cannot listen on %s: %s",
			sockaddr_ntop_port(&sa->u.sa, text, sizeof(text)), strerror(errno));
		close(fd);
		return -1;
	}
	if (sockaddr_port(&sa->u.sa) == 0) {
		/* port 0: the kernel chose; every worker's socket uses the same port */
		sa->len = sizeof(sa->u.ss);
		getsockname(fd, &sa->u.sa, &sa->len);
	}
	return fd;
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_strs(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!same_str(a[i], b[i]))
			return false;
	return true;
}

static bool same_addrs(const struct sockaddr_any *a, size_t na, const struct sockaddr_any *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!sockaddr_equal(&a[i].u.sa, &b[i].u.sa))
			return false;
	return true;
}

static const char *zone_name(const struct conf *c)
{
	const struct tz *tz = c->policy ? policy_tz(c->policy) : NULL;
	return tz ? tz_name(tz) : "";
}

static void restart_needed(const char *key)
{
	log_warn("reload: %s changed; takes effect at the next restart", key);
}

/*
 * What a reload cannot apply: the keys read only at start — binding (listen,
 * tls_listen, intercept_listen, workers), the resolvers' servers, the user privileges are
 * dropped to, and everything the store was opened with. One line for each
 * that differs from what the process started with (so a change already
 * named by an earlier reload is named again until the restart). The time
 * zone is half and half: schedules and decisions follow the new one, the
 * store's local days and minutes (usage, allowances) the old one.
 */
static void log_restart_keys(const struct conf *run, const struct conf *c)
{
	const struct conf_proxy *rp = &run->proxy, *p = &c->proxy;
	const struct conf_store *rs = &run->store, *s = &c->store;

	if (!same_addrs(rp->listen, rp->n_listen, p->listen, p->n_listen))
		restart_needed("[proxy] listen");
	if (!same_addrs(rp->tls_listen, rp->n_tls_listen, p->tls_listen, p->n_tls_listen))
		restart_needed("[proxy] tls_listen");
	if (!same_addrs(rp->intercept_listen, rp->n_intercept_listen, p->intercept_listen,
			p->n_intercept_listen))
		restart_needed("[proxy] intercept_listen");
	if (rp->workers != p->workers)
		restart_needed("[proxy] workers");
	if (!same_strs(rp->dns_servers, rp->n_dns_servers, p->dns_servers, p->n_dns_servers))
		restart_needed("[proxy] dns_servers");
	if (!same_str(rp->user, p->user))
		restart_needed("[proxy] user");
	if (!same_str(rs->database, s->database))
		restart_needed("[store] database");
	if (rs->retention_days != s->retention_days)
		restart_needed("[store] retention");
	if (!same_str(rs->access_log, s->access_log))
		restart_needed("[store] access_log");
	if (rs->log_other != s->log_other)
		restart_needed("[store] log_other");
	if (rs->active_bytes != s->active_bytes)
		restart_needed("[store] active_bytes");
	if (rs->queue != s->queue)
		restart_needed("[store] queue");
	if (rs->batch != s->batch)
		restart_needed("[store] batch");
	if (rs->batch_interval_ms != s->batch_interval_ms)
		restart_needed("[store] batch_interval");
	if (rs->hold != s->hold)
		restart_needed("[store] hold");
	if (rs->max_size != s->max_size)
		restart_needed("[store] max_size");
	if (!same_str(zone_name(run), zone_name(c)))
		log_warn("reload: [site] timezone changed; schedules use %s now, the store counts "
			 "days and minutes (usage, allowances) in %s until the next restart",
			 zone_name(c), zone_name(run));
}

/*
 * Load the file and everything it names into a new generation, then publish
 * it in one step: a connection accepted from then on has the new
 * configuration with the new users, devices, certificate and hosts table,
 * one accepted before keeps its generation whole. Anything unusable and
 * nothing changes.
 */
static void reload(void)
{
	notify("RELOADING=1");
	log_notice("reloading %s", conf_path);
	struct conf *c = load_or_report(conf_path);
	struct generation *cur = server_gen_get();
	struct generation *g = c ? server_gen_load(c, cur) : NULL;
	if (!c) {
		log_err("reload refused: the configuration above has errors; the running one stays");
		__atomic_add_fetch(&server.reload_failures, 1, __ATOMIC_RELAXED);
	} else if (!g) {
		log_err("reload refused: the files named above cannot be used; "
			"the running configuration stays");
		__atomic_add_fetch(&server.reload_failures, 1, __ATOMIC_RELAXED);
	} else {
		log_restart_keys(start_conf, g->conf);
		server_gen_set(g);
		/* each worker's resolver takes the new hosts table on its own loop */
		for (unsigned i = 0; i < server.n_workers; i++)
			worker_post(server.workers[i], 'H');
		__atomic_add_fetch(&server.reloads, 1, __ATOMIC_RELAXED);
		log_notice("configuration reloaded (generation %llu)", (unsigned long long)g->number);
	}
	gen_unref(cur);
	store_reopen(server.store);
	notify("READY=1");
}

static void stop(void)
{
	if (server.stopping)
		return;
	server.stopping = true;
	notify("STOPPING=1");
	struct conf *c = server_conf_get();
	log_notice("stopping: finishing in-flight requests (up to %u ms)", c->proxy.shutdown_grace_ms);
	for (unsigned i = 0; i < server.n_workers; i++)
		worker_post_stop(server.workers[i], c->proxy.shutdown_grace_ms);
	conf_unref(c);
	event_base_loopexit(main_base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		stop();
		break;
	case SIGHUP:
		reload();
		break;
	case SIGUSR1:
		store_reopen(server.store);
		break;
	}
}

int main(int argc, char **argv)
{
	bool check_only = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:tvdVh")) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 't': check_only = true; break;
		case 'v': server.verbose = true; break;
		case 'd': log_set_level(LOG_DEBUG); break;
		case 'V': printf("breaktimed %s\n", BREAKTIME_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct conf *conf = load_or_report(conf_path);
	if (!conf)
		return 1;
	server.system_resolver = conf->proxy.n_dns_servers == 0;
	struct generation *gen = server_gen_load(conf, NULL);
	if (!gen)
		return 1;
	if (check_only) {
		gen_unref(gen);
		fprintf(stderr, "%s: configuration ok\n", conf_path);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(on_libevent_log);
	start_conf = conf_ref(conf); /* conf: the first generation's, alive while start_conf is */
	server_gen_set(gen);
	if (identity_start() < 0)
		fatal("cannot start the password verifier threads");

	unsigned n_workers = conf->proxy.workers;
	if (n_workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		n_workers = n > 0 ? (unsigned)n : 1;
	}
	size_t n_listen = conf->proxy.n_listen;
	server.listen = calloc(n_listen, sizeof(*server.listen));
	int *fds = calloc(n_listen * n_workers, sizeof(int));
	if (!server.listen || !fds)
		fatal("out of memory");
	memcpy(server.listen, conf->proxy.listen, n_listen * sizeof(*server.listen));
	server.n_listen = n_listen;
	for (size_t l = 0; l < n_listen; l++) {
		for (unsigned w = 0; w < n_workers; w++) {
			int fd = bind_one(&server.listen[l], false);
			if (fd < 0) {
				free(fds);
				return 1;
			}
			fds[w * n_listen + l] = fd;
		}
		char text[64];
		log_info("listening on %s",
			 sockaddr_ntop_port(&server.listen[l].u.sa, text, sizeof(text)));
	}
	size_t n_tls = conf->proxy.n_tls_listen;
	server.tls_listen = calloc(n_tls + 1, sizeof(*server.tls_listen));
	int *tls_fds = calloc(n_tls * n_workers + 1, sizeof(int));
	if (!server.tls_listen || !tls_fds)
		fatal("out of memory");
	if (n_tls)
		memcpy(server.tls_listen, conf->proxy.tls_listen, n_tls * sizeof(*server.tls_listen));
	server.n_tls_listen = n_tls;
	for (size_t l = 0; l < n_tls; l++) {
		for (unsigned w = 0; w < n_workers; w++) {
			int fd = bind_one(&server.tls_listen[l], false);
			if (fd < 0) {
				free(fds);
				free(tls_fds);
				return 1;
			}
			tls_fds[w * n_tls + l] = fd;
		}
		char text[64];
		log_info("listening on %s (HTTPS proxy)",
			 sockaddr_ntop_port(&server.tls_listen[l].u.sa, text, sizeof(text)));
	}
	size_t n_icpt = conf->proxy.n_intercept_listen;
	server.intercept_listen = calloc(n_icpt + 1, sizeof(*server.intercept_listen));
	int *icpt_fds = calloc(n_icpt * n_workers + 1, sizeof(int));
	if (!server.intercept_listen || !icpt_fds)
		fatal("out of memory");
	if (n_icpt)
		memcpy(server.intercept_listen, conf->proxy.intercept_listen,
		       n_icpt * sizeof(*server.intercept_listen));
	server.n_intercept_listen = n_icpt;
	for (size_t l = 0; l < n_icpt; l++) {
		for (unsigned w = 0; w < n_workers; w++) {
			int fd = bind_one(&server.intercept_listen[l], true);
			if (fd < 0) {
				free(fds);
				free(tls_fds);
				free(icpt_fds);
				return 1;
			}
			icpt_fds[w * n_icpt + l] = fd;
		}
		char text[64];
		log_info("listening on %s (intercepted connections)",
			 sockaddr_ntop_port(&server.intercept_listen[l].u.sa, text, sizeof(text)));
	}
	server_collect_local_addrs();

	/* local days and minutes in the site's time zone; the first configuration's
	 * zone stays with the store (a zone change needs a restart) */
	struct store_options so = {
		.verbose = server.verbose,
		.utc_offset = policy_tz(conf->policy) ? tz_offset_cb : NULL,
		.zone_ctx = (void *)policy_tz(conf->policy),
	};
	server.store = store_open_opts(conf, &so);
	if (!server.store)
		fatal("cannot open the store");
	restore_warn_acks(conf);
	bindings_open(server.store);
	restore_bindings(conf);
	drop_privileges(conf->proxy.user);

	main_base = event_base_new();
	if (!main_base)
		fatal("cannot create the main event loop");
	int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	struct event *sigev[4];
	for (int i = 0; i < 4; i++) {
		sigev[i] = evsignal_new(main_base, sigs[i], on_signal, NULL);
		event_add(sigev[i], NULL);
	}

	server.n_workers = n_workers;
	server.workers = calloc(n_workers, sizeof(*server.workers));
	if (!server.workers)
		fatal("out of memory");
	for (unsigned w = 0; w < n_workers; w++) {
		server.workers[w] = worker_create(w, fds + w * n_listen, n_listen,
						  tls_fds + w * n_tls, n_tls,
						  icpt_fds + w * n_icpt, n_icpt);
		if (!server.workers[w])
			fatal("cannot create worker %u", w);
	}
	free(fds);
	free(tls_fds);
	free(icpt_fds);
	for (unsigned w = 0; w < n_workers; w++)
		if (worker_start(server.workers[w]) < 0)
			fatal("cannot start worker %u", w);
	/* MAC addresses of clients (intercept mode's bindings) */
	struct neigh_hooks nh = {.answer = bindings_on_neigh, .drained = on_neigh_drained};
	if (neigh_start(&nh, 0) < 0)
		log_warn("cannot start the neighbour-table thread: devices are bound by address only");

	presence_timer = evtimer_new(main_base, poll_presence, NULL);
	poll_presence(-1, 0, NULL);

	notify("READY=1");
	log_info("ready: %u workers, configuration %s", n_workers, conf_path);

	event_base_dispatch(main_base);

	for (unsigned w = 0; w < n_workers; w++)
		worker_join(server.workers[w]);
	identity_stop();
	bump_shutdown();
	neigh_stop();
	bindings_close();
	for (unsigned w = 0; w < n_workers; w++)
		worker_destroy(server.workers[w]);
	free(server.workers);
	store_close(server.store);
	for (int i = 0; i < 4; i++)
		event_free(sigev[i]);
	event_free(presence_timer);
	store_db_close(presence_db);
	event_base_free(main_base);
	server_gen_set(NULL);
	conf_unref(start_conf);
	free(server.listen);
	free(server.tls_listen);
	free(server.intercept_listen);
	free(server.local_addrs);
	log_info("stopped");
	return 0;
}
