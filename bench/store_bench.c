/*
 * store_bench: how many records per second the store's writer sustains —
 * producer threads submitting as the proxy's workers do, the writer thread
 * batching them into a real SQLite file (WAL, synchronous=NORMAL).
 *
 * Producers back off (sleep 0.2 ms) when the queue is nine-tenths full, so
 * the figure is the writer's sustained rate, not the rate at which a full
 * queue drops. The clock runs from the first submit to store_close()
 * returning, i.e. until every record is committed.
 *
 *   store_bench [-n RECORDS] [-t THREADS] [-m social|mixed|other|hosts]
 *               [-b BATCH] [-q QUEUE] [-d DIR] [-a] (also write access.log)
 *
 * Run through bench/store.sh.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "store.h"

static const char *const platforms[] = {"facebook", "instagram", "tiktok", "youtube", "x"};
static const char *const phosts[] = {"www.facebook.com", "www.instagram.com", "www.tiktok.com",
				     "www.youtube.com", "x.com"};
static const char *const others[] = {"www.bbc.co.uk", "en.wikipedia.org", "github.com",
				     "docs.python.org", "www.gov.uk", "mail.example.org"};

struct producer {
	struct store *s;
	unsigned id;
	unsigned long n;
	const char *mode;
	uint64_t queue_len;
	unsigned long yields;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make(struct record *r, unsigned long i, unsigned id, const char *mode)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL ^ id;
	unsigned pick = (unsigned)(x % 100);
	bool social = strcmp(mode, "social") == 0 ||
		      (strcmp(mode, "other") != 0 && strcmp(mode, "hosts") != 0 && pick < 70) ||
		      (strcmp(mode, "hosts") == 0 && pick < 30);
	unsigned p = (unsigned)(x >> 8) % 5;

	memset(r, 0, sizeof(*r));
	r->kind = RECORD_REQUEST;
	r->source = RECORD_SOURCE_PROXY;
	r->start_us = now_us();
	r->duration_ms = (uint32_t)(x >> 16) % 500;
	struct sockaddr_in *sin = (struct sockaddr_in *)&r->client.u.sa;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a000000u | ((unsigned)(x >> 24) % 200 + 1));
	r->client.len = sizeof(*sin);
	snprintf(r->user, sizeof(r->user), "user%03u", (unsigned)(x >> 24) % 200);
	snprintf(r->group, sizeof(r->group), "staff");
	r->status = 200;
	r->bytes_up = 600 + (x >> 32) % 2000;
	r->bytes_down = 1000 + (x >> 40) % 50000;
	r->close_reason = "done";
	r->verdict = VERDICT_ALLOW;
	snprintf(r->content_type, sizeof(r->content_type), "text/html");
	if (social) {
		snprintf(r->platform, sizeof(r->platform), "%s", platforms[p]);
		snprintf(r->category, sizeof(r->category), "social");
		snprintf(r->host, sizeof(r->host), "%s", phosts[p]);
		r->reason = REASON_ALLOWED;
		if (pick % 10 < 3) { /* a tunnel's minute */
			r->kind = RECORD_TUNNEL_PROGRESS;
			r->duration_ms = 60000;
			r->start_us -= 60000000;
		} else if (pick % 10 == 3) {
			r->kind = RECORD_TUNNEL;
		}
	} else {
		snprintf(r->host, sizeof(r->host), "%s", others[(x >> 8) % 6]);
		r->reason = REASON_NOT_SOCIAL;
	}
	if (r->kind == RECORD_REQUEST) {
		snprintf(r->method, sizeof(r->method), "GET");
		r->port = 80;
		snprintf(r->uri, sizeof(r->uri), "http://%.200s/page/%lu", r->host, i);
	} else {
		snprintf(r->method, sizeof(r->method), "CONNECT");
		r->port = 443;
		snprintf(r->sni, sizeof(r->sni), "%s", r->host);
	}
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct record r;
	struct store_stats st;

	for (unsigned long i = 0; i < p->n; i++) {
		if ((i & 63) == 0) {
			for (;;) {
				store_stats(p->s, &st);
				if (st.queued < p->queue_len * 9 / 10)
					break;
				/* sleep, not sched_yield(): a spinning producer takes
				 * CPU from the writer it is waiting for */
				p->yields++;
				struct timespec ts = {0, 200000};
				nanosleep(&ts, NULL);
			}
		}
		make(&r, i, p->id, p->mode);
		store_submit(p->s, &r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long n = 1000000;
	unsigned threads = 2;
	const char *mode = "mixed";
	const char *dir = NULL;
	struct store_options o = {0};
	bool access = false;
	int opt;

	while ((opt = getopt(argc, argv, "n:t:m:b:q:d:a")) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 't': threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': mode = optarg; break;
		case 'b': o.batch_records = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q': o.queue_len = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 'a': access = true; break;
		default:
			fprintf(stderr, "usage: store_bench [-n N] [-t THREADS] [-m social|mixed|other|hosts]"
					" [-b BATCH] [-q QUEUE] [-d DIR] [-a]\n");
			return 2;
		}
	}
	if (threads == 0)
		threads = 1;
	char tmp[] = "/tmp/store-bench-XXXXXX";
	if (!dir) {
		dir = mkdtemp(tmp);
		if (!dir) {
			perror("mkdtemp");
			return 1;
		}
	}
	char db[512], alog[512];
	snprintf(db, sizeof(db), "%s/bench.db", dir);
	snprintf(alog, sizeof(alog), "%s/access.log", dir);
	unlink(db);
	unlink(alog);

	struct conf c;
	memset(&c, 0, sizeof(c));
	c.store.database = db;
	c.store.retention_days = 180;
	c.store.active_bytes = 2048;
	/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): getopt sets optarg for "m:" */
	c.store.log_other = strcmp(mode, "hosts") == 0 ? LOG_OTHER_HOSTS : LOG_OTHER_COUNTS;
	c.store.access_log = access ? alog : NULL;
	o.no_purge_timer = true;
	log_set_level(LOG_WARNING);
	struct store *s = store_open_opts(&c, &o);
	if (!s)
		return 1;
	struct store_stats st;
	store_stats(s, &st);

	pthread_t *th = calloc(threads, sizeof(*th));
	struct producer *p = calloc(threads, sizeof(*p));
	double t0 = mono();
	for (unsigned i = 0; i < threads; i++) {
		p[i] = (struct producer){s, i, n / threads + (i < n % threads), mode, st.queue_capacity, 0};
		pthread_create(&th[i], NULL, produce, &p[i]);
	}
	unsigned long yields = 0;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		yields += p[i].yields;
	}
	double t_submit = mono() - t0;
	if (store_flush(s, 600000) < 0)
		fprintf(stderr, "store_bench: flush timed out\n");
	double t = mono() - t0;
	store_stats(s, &st);
	store_close(s);

	struct stat sb;
	stat(db, &sb);
	printf("mode=%s records=%lu threads=%u batch=%u queue=%llu access_log=%s\n", mode, n, threads,
	       o.batch_records ? o.batch_records : STORE_DEFAULT_BATCH_RECORDS,
	       (unsigned long long)st.queue_capacity, access ? "yes" : "no");
	printf("submitted in %.2f s, all committed in %.2f s: %.0f records/s "
	       "(dropped %llu, producer sleeps %lu, transactions %llu, db %.1f MB)\n",
	       t_submit, t, (double)n / t, (unsigned long long)st.dropped, yields,
	       (unsigned long long)st.transactions, (double)sb.st_size / 1e6);
	/* the machine may be shared: what one core of writer time buys */
	printf("writer thread CPU %.2f s: %.0f records per writer CPU second\n",
	       (double)st.writer_cpu_ms / 1000.0,
	       st.writer_cpu_ms ? (double)n * 1000.0 / (double)st.writer_cpu_ms : 0.0);
	free(th);
	free(p);
	if (dir == tmp) {
		char path[600];
		const char *suffix[] = {"", "-wal", "-shm"};
		for (int i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
			unlink(path);
		}
		unlink(alog);
		rmdir(dir);
	}
	return st.dropped ? 1 : 0;
}
