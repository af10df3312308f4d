/*
 * writer: the bounded queue every worker submits to, and the one thread
 * that owns the sqlite3 handle.
 *
 * DESIGN. The queue is a ring of fixed-size slots (a record is plain data)
 * under one mutex: a producer copies its record into the next slot and
 * returns; if the ring is full it counts the record as dropped and returns
 * — it never waits. The writer takes up to CHUNK slots at a time, reads them
 * in place with the mutex released (producers only ever write the slots
 * between tail and head + cap), and turns each record into what the store
 * keeps (batch.c, usage.c, accesslog.c). It commits one transaction when
 * batch_records records are held or batch_ms after the first of them,
 * whichever comes first. Producers wake a sleeping writer only when it has
 * something to do: the first record of a batch, or enough for a full one.
 *
 * When a transaction fails — another process holds the write lock past
 * busy_timeout, the database or the disk is full, an I/O error — it is
 * rolled back and everything stays held; the writer retries with back-off
 * (100 ms doubling to 5 s), logs the first failure, every 30 s while it
 * lasts and the recovery, and counts each attempt. Meanwhile it keeps
 * emptying the ring into its held batch (packed rows, much smaller than
 * slots) up to hold_bytes, so the queue holds for long outages; past that
 * the ring fills and new records are dropped, counted and logged.
 *
 * Refusals that carry no identity never enter the ring: store_submit()
 * counts them into refusals.c's table and wakes the writer for a new key;
 * the writer takes the rows that are due (a new key at once, the rest of a
 * minute when it is over, everything when flushing or stopping) as it
 * takes ring slots, each row held as the `count` records it stands for.
 *
 * store_close() sets `stopping`: the writer takes everything left, commits,
 * and exits; if the database still refuses writes after close_timeout_ms
 * it gives up, logs and counts what it held as lost.
 *
 * Threads: writer_submit(), writer_wake(), writer_flush() and
 * writer_queued() on any thread; everything else on the writer thread.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define CHUNK 256
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define FAIL_LOG_EVERY_MS 30000
#define DROP_LOG_EVERY_MS 10000

struct writer {
	struct store *s;
	pthread_t thread;
	bool started;

	/* the queue: under lock */
	pthread_mutex_t lock;
	pthread_cond_t wake;          /* the writer sleeps here */
	pthread_cond_t flushed;       /* writer_flush() waits here */
	struct item *slots;
	uint64_t cap;
	uint64_t head, tail;          /* taken, submitted; tail - head queued */
	uint64_t queued;              /* atomic copy of tail - head, for stats */
	uint64_t wake_at;             /* sleeping: signal when this many are queued (0: don't) */
	uint64_t done;                /* items before this are committed */
	uint64_t refusals_done;       /* counted refusals committed (refusals_added() terms) */
	unsigned flush_waiters;
	bool stopping;

	/* writer thread only */
	struct batch *batch;
	uint64_t held;                /* records taken, not committed */
	int64_t first_ms;             /* when the first held record was taken (mono) */
	int64_t retry_at;             /* failing: next attempt (mono) */
	unsigned backoff_ms;
	bool failing;
	int64_t fail_since, fail_logged;
	unsigned fail_attempts;
	int64_t stop_deadline;
	int64_t retention_retry_at;
	uint64_t drops_logged;
	int64_t drop_logged_at;
	struct refusal_rows taken;    /* what refusals_take() handed over */
	uint64_t refusals_taken;      /* counted refusals taken into the batch */
};

struct writer *writer_create(struct store *s, unsigned queue_len)
{
	struct writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->s = s;
	w->cap = queue_len ? queue_len : STORE_DEFAULT_QUEUE_LEN;
	/* calloc: slots are only touched (made resident) when the queue fills */
	w->slots = calloc(w->cap, sizeof(*w->slots));
	w->batch = batch_create();
	if (!w->slots || !w->batch) {
		free(w->slots);
		batch_destroy(w->batch);
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->flushed, &ca);
	pthread_condattr_destroy(&ca);
	return w;
}

void writer_destroy(struct writer *w)
{
	if (!w)
		return;
	if (w->started)
		writer_stop(w);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->flushed);
	batch_destroy(w->batch);
	free(w->taken.v);
	free(w->slots);
	free(w);
}

int writer_submit(struct writer *w, enum item_type type, const void *data, size_t len)
{
	pthread_mutex_lock(&w->lock);
	if (w->tail - w->head >= w->cap) {
		pthread_mutex_unlock(&w->lock);
		__atomic_add_fetch(&w->s->n.dropped, 1, __ATOMIC_RELAXED);
		return -1;
	}
	struct item *it = &w->slots[w->tail % w->cap];
	it->type = type;
	memcpy(&it->u, data, len);
	w->tail++;
	uint64_t q = w->tail - w->head;
	__atomic_store_n(&w->queued, q, __ATOMIC_RELAXED);
	if (w->wake_at && q >= w->wake_at) {
		w->wake_at = 0;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void writer_wake(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

uint64_t writer_queued(struct writer *w)
{
	return __atomic_load_n(&w->queued, __ATOMIC_RELAXED);
}

static void abs_deadline(struct timespec *ts, int64_t mono_ms)
{
	ts->tv_sec = mono_ms / 1000;
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

int writer_flush(struct writer *w, unsigned timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	abs_deadline(&ts, store_mono_ms() + timeout_ms);
	uint64_t refusals = refusals_added(w->s->refusals);
	pthread_mutex_lock(&w->lock);
	uint64_t target = w->tail;
	w->flush_waiters++;
	pthread_cond_signal(&w->wake);
	while (w->done < target || w->refusals_done < refusals) {
		if (pthread_cond_timedwait(&w->flushed, &w->lock, &ts) == ETIMEDOUT) {
			rc = w->done < target || w->refusals_done < refusals ? -1 : 0;
			break;
		}
	}
	w->flush_waiters--;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* ---- turning items into rows ---- */

static enum usage_purpose purpose_of(const struct record *r)
{
	if (r->reason == REASON_ORGANISATIONAL)
		return PURPOSE_ORGANISATIONAL;
	if (r->reason == REASON_SANCTIONED)
		return PURPOSE_SANCTIONED;
	return PURPOSE_PERSONAL;
}

static void process_record(struct writer *w, const struct record *r)
{
	struct store *s = w->s;
	char client[64];

	store_user_key(NULL, &r->client.u.sa, client, sizeof(client));
	const char *user = r->user[0] ? r->user : client;
	/* social: a listed platform whose category the rules cover */
	bool social = r->platform[0] && r->reason != REASON_NOT_SOCIAL;
	bool blocked = r->kind == RECORD_BLOCKED || r->verdict == VERDICT_BLOCK;
	/* the sensor's flags (DNS over HTTPS, VPN): kept like blocked attempts */
	bool flagged = r->source == RECORD_SOURCE_SENSOR && (r->reason == REASON_DOH || r->reason == REASON_VPN);
	bool keep_event = social || blocked || flagged || s->log_other == LOG_OTHER_HOSTS;

	if (r->source == RECORD_SOURCE_PROXY && r->user[0] && strcmp(r->user, client) != 0 &&
	    strcmp(client, "-") != 0 && (social || blocked || s->log_other != LOG_OTHER_NONE)) {
		/* an identified person at this address: their session (sessions);
		 * log_other = none keeps nothing of other traffic, not even when */
		struct session_row_key k;
		memset(&k, 0, sizeof(k));
		store_copy(k.client, sizeof(k.client), client);
		store_copy(k.user, sizeof(k.user), r->user);
		struct session_row *row = batch_session_row(w->batch, &k);
		if (row) {
			int64_t first = r->start_us / 1000, last = first + r->duration_ms;
			int minute;
			if (!row->last_ms || first < row->first_ms)
				row->first_ms = first;
			if (!row->last_ms || last > row->last_ms) {
				row->last_ms = last;
				store_local(s, store_sec(last), &row->day, &minute);
			}
		}
	}
	if (r->kind == RECORD_TUNNEL_PROGRESS) {
		/* usage only: the closing RECORD_TUNNEL is the event */
		if (social && !blocked)
			usage_account(s, w->batch, r, user, purpose_of(r));
		return;
	}
	if (keep_event) {
		batch_add_event(w->batch, s, r, user, client);
		if (s->alog) {
			accesslog_write(s->alog, r, client);
			__atomic_add_fetch(&s->n.access_log_lines, 1, __ATOMIC_RELAXED);
		}
	}
	if (!social && !blocked && s->log_other != LOG_OTHER_NONE) {
		struct other_row_key k;
		int minute;
		memset(&k, 0, sizeof(k));
		store_local(s, store_sec(r->start_us / 1000), &k.day, &minute);
		k.source = (uint8_t)r->source;
		store_copy(k.user, sizeof(k.user), user);
		struct other_row *o = batch_other_row(w->batch, &k);
		if (o) {
			if (r->kind == RECORD_TUNNEL)
				o->tunnels++;
			else
				o->requests++;
			o->bytes_up += r->bytes_up;
			o->bytes_down += r->bytes_down;
			if (r->group[0])
				store_copy(o->grp, sizeof(o->grp), r->group);
		}
	}
	if (social && !blocked && r->kind == RECORD_REQUEST)
		usage_account(s, w->batch, r, user, purpose_of(r));
}

static void process_item(struct writer *w, const struct item *it)
{
	int64_t day;
	int minute;

	switch (it->type) {
	case ITEM_RECORD:
		process_record(w, &it->u.rec);
		break;
	case ITEM_PRESENCE:
		store_local(w->s, store_sec(it->u.pres.at_us / 1000), &day, &minute);
		batch_add_presence(w->batch, &it->u.pres, day);
		break;
	case ITEM_BINDING:
		store_local(w->s, store_sec(it->u.bind.since_ms), &day, &minute);
		batch_add_binding(w->batch, &it->u.bind, day);
		break;
	}
	batch_count_record(w->batch);
	w->held++;
}

/* The counted refusals that are due, into the batch: one events row (and
 * one access.log line) each, held as the records they stand for. */
static void take_refusals(struct writer *w, bool all)
{
	struct store *s = w->s;

	refusals_take(s->refusals, store_wall_ms(), all, &w->taken);
	for (size_t i = 0; i < w->taken.n; i++) {
		const struct refusal_row *row = &w->taken.v[i];
		struct record r = row->sample;
		char client[64];
		const char *who = NULL;

		/* the row: from the first refusal's start to the last one's end */
		int64_t span = (row->last_us - row->first_us) / 1000;
		r.start_us = row->first_us;
		r.duration_ms = span < 0 ? 0 : span > UINT32_MAX ? UINT32_MAX : (uint32_t)span;
		r.bytes_up = row->bytes_up;
		r.bytes_down = row->bytes_down;
		if (!row->other)
			who = store_user_key(NULL, &r.client.u.sa, client, sizeof(client));
		batch_add_refusals(w->batch, s, &r, who, who, row->count);
		if (s->alog) {
			accesslog_write(s->alog, &r, who ? who : "-");
			__atomic_add_fetch(&s->n.access_log_lines, 1, __ATOMIC_RELAXED);
		}
		batch_count_records(w->batch, row->count);
		w->held += row->count;
		w->refusals_taken += row->count;
	}
}

/* ---- transactions ---- */

/* Why a transaction failed, for the log: SQLite's words and, for an I/O
 * error, which operation failed (and errno, when SQLite still had it). */
static const char *failure_text(struct writer *w, int rc, char *buf, size_t len)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "the database is locked by another process";
	case SQLITE_FULL:
		return "the database or the disk is full";
	case SQLITE_IOERR: {
		int e = w->s->wdb.sys_errno;
		char what[96];
		if (rc == SQLITE_IOERR_WRITE)
			snprintf(what, sizeof(what), "a write failed: no space, a file size limit or a failing disk");
		else if (rc == SQLITE_IOERR_FSYNC)
			snprintf(what, sizeof(what), "fsync failed");
		else
			snprintf(what, sizeof(what), "extended code %d", rc);
		snprintf(buf, len, "%s (%s%s%s)", sqlite3_errstr(rc), what, e ? ", " : "",
			 e ? strerror(e) : "");
		return buf;
	}
	default:
		return sqlite3_errstr(rc);
	}
}

static void apply_requests(struct writer *w)
{
	struct store *s = w->s;

	int64_t pages = __atomic_exchange_n(&s->max_pages_requested, -1, __ATOMIC_ACQ_REL);
	if (pages >= 0) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64, pages);
		sqlite3_exec(s->wdb.db, sql, NULL, NULL, NULL);
		w->retry_at = 0; /* try again now */
	}
	if (__atomic_exchange_n(&s->reopen_requested, 0, __ATOMIC_ACQ_REL) && s->alog) {
		accesslog_reopen(s->alog);
		log_info("store: reopened the access log");
	}
	if (__atomic_exchange_n(&s->purge_requested, 0, __ATOMIC_ACQ_REL))
		retention_start(&s->ret, s, store_wall_ms());
}

static void try_commit(struct writer *w, int64_t now)
{
	struct store *s = w->s;
	uint64_t committed = 0;

	accesslog_flush(s->alog);
	/* after an outage the held rows go out a few batches per transaction,
	 * so the ring is emptied between them */
	uint64_t max_rows = 4 * (uint64_t)s->opt.batch_records;
	int rc = batch_commit(w->batch, &s->wdb, max_rows, &committed);
	if (rc == SQLITE_OK) {
		w->held -= committed;
		__atomic_add_fetch(&s->n.written, committed, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->n.aggregate_rows, batch_committed_aggregates(w->batch),
				   __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->n.transactions, 1, __ATOMIC_RELAXED);
		struct timespec cpu;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
		__atomic_store_n(&s->n.writer_cpu_ms,
				 (uint64_t)cpu.tv_sec * 1000 + (uint64_t)cpu.tv_nsec / 1000000,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&s->n.held, w->held, __ATOMIC_RELAXED);
		if (w->failing) {
			log_notice("store: writing again after %.1f s and %u failed attempts",
				   (double)(now - w->fail_since) / 1000.0, w->fail_attempts);
			w->failing = false;
			__atomic_store_n(&s->n.failing, 0, __ATOMIC_RELAXED);
		}
		w->backoff_ms = 0;
		w->retry_at = 0;
		w->fail_attempts = 0;
		if (batch_empty(w->batch)) {
			w->first_ms = 0;
			pthread_mutex_lock(&w->lock);
			w->done = w->head;
			w->refusals_done = w->refusals_taken;
			if (w->flush_waiters)
				pthread_cond_broadcast(&w->flushed);
			pthread_mutex_unlock(&w->lock);
		}
		return;
	}

	__atomic_add_fetch(&s->n.retries, 1, __ATOMIC_RELAXED);
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		__atomic_add_fetch(&s->n.busy_errors, 1, __ATOMIC_RELAXED);
	else if ((rc & 0xff) == SQLITE_FULL)
		__atomic_add_fetch(&s->n.full_errors, 1, __ATOMIC_RELAXED);
	w->fail_attempts++;
	char why[160];
	if (!w->failing) {
		w->failing = true;
		w->fail_since = w->fail_logged = now;
		__atomic_store_n(&s->n.failing, 1, __ATOMIC_RELAXED);
		log_warn("store: cannot write to %s: %s; holding %" PRIu64 " records and retrying",
			 s->path, failure_text(w, rc, why, sizeof(why)), w->held);
	} else if (now - w->fail_logged >= FAIL_LOG_EVERY_MS) {
		w->fail_logged = now;
		log_warn("store: still cannot write to %s after %.0f s: %s; holding %" PRIu64
			 " records (%zu KiB), %" PRIu64 " queued, %" PRIu64 " dropped so far",
			 s->path, (double)(now - w->fail_since) / 1000.0,
			 failure_text(w, rc, why, sizeof(why)), w->held,
			 batch_bytes(w->batch) / 1024, writer_queued(w),
			 __atomic_load_n(&s->n.dropped, __ATOMIC_RELAXED));
	}
	w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (w->backoff_ms > BACKOFF_MAX_MS)
		w->backoff_ms = BACKOFF_MAX_MS;
	w->retry_at = now + w->backoff_ms;
}

static void log_drops(struct writer *w, int64_t now, bool final)
{
	uint64_t d = __atomic_load_n(&w->s->n.dropped, __ATOMIC_RELAXED);
	if (d == w->drops_logged)
		return;
	if (!final && w->drop_logged_at && now - w->drop_logged_at < DROP_LOG_EVERY_MS)
		return;
	log_warn("store: the queue was full: %" PRIu64 " records dropped (%" PRIu64 " in all)",
		 d - w->drops_logged, d);
	w->drops_logged = d;
	w->drop_logged_at = now;
}

/* Room to take more records: always when nothing is held (the maps keep
 * their memory between batches). */
static bool has_room(struct writer *w)
{
	return w->held == 0 || batch_bytes(w->batch) < w->s->opt.hold_bytes;
}

static bool commit_due(struct writer *w, int64_t now, bool stopping, bool flushing)
{
	const struct store_options *o = &w->s->opt;
	if (w->held == 0 && batch_empty(w->batch))
		return false;
	if (w->failing && now < w->retry_at)
		return false;
	return stopping || flushing || w->held >= o->batch_records ||
	       now >= w->first_ms + o->batch_ms || !has_room(w);
}

static void retention_tick(struct writer *w, int64_t now)
{
	struct store *s = w->s;
	uint64_t purged = 0;

	if (!retention_running(&s->ret) && now >= s->ret.next_mono_ms)
		retention_start(&s->ret, s, store_wall_ms());
	if (!retention_running(&s->ret) || w->failing || now < w->retention_retry_at)
		return;
	/* not while records pile up */
	if (writer_queued(w) > w->cap / 2)
		return;
	int rc = retention_step(&s->ret, s, s->wdb.db, &purged);
	if (rc != SQLITE_OK) {
		char why[160];
		log_debug("store: retention waits: %s", failure_text(w, rc, why, sizeof(why)));
		w->retention_retry_at = now + 1000;
		return;
	}
	__atomic_add_fetch(&s->n.purged, purged, __ATOMIC_RELAXED);
}

static int64_t next_deadline(struct writer *w, int64_t now)
{
	struct store *s = w->s;
	int64_t d = INT64_MAX;

	if (w->held || !batch_empty(w->batch))
		d = w->failing ? w->retry_at : w->first_ms + s->opt.batch_ms;
	int64_t r = refusals_next_ms(s->refusals);
	if (r != INT64_MAX) {
		/* a wall-clock moment (a minute is over), as a monotonic one */
		int64_t wall = store_wall_ms();
		int64_t t = r <= wall ? now : now + (r - wall);
		if (t < d)
			d = t;
	}
	if (retention_running(&s->ret) && !w->failing)
		d = d < w->retention_retry_at ? d : w->retention_retry_at;
	else if (s->ret.next_mono_ms < d)
		d = s->ret.next_mono_ms;
	if (__atomic_load_n(&s->n.dropped, __ATOMIC_RELAXED) != w->drops_logged) {
		int64_t t = w->drop_logged_at + DROP_LOG_EVERY_MS;
		if (t < d)
			d = t;
	}
	if (w->stopping && w->failing && w->stop_deadline < d)
		d = w->stop_deadline;
	return d < now ? now : d;
}

static void give_up(struct writer *w)
{
	struct store *s = w->s;
	uint64_t lost = w->held + (w->tail - w->head) + refusals_pending(s->refusals);

	log_err("store: giving up after %u ms: %s still refuses writes; %" PRIu64
		" records are lost", s->opt.close_timeout_ms, s->path, lost);
	__atomic_add_fetch(&s->n.lost, lost, __ATOMIC_RELAXED);
	w->held = 0;
	__atomic_store_n(&s->n.held, 0, __ATOMIC_RELAXED);
}

/*
 * Sleep until there is something to do; returns with the lock held. Work
 * is: records to take (there is room to hold them and either nothing is
 * held yet — the batch clock starts — or there are enough for a full
 * batch, or the database is failing and the ring must be emptied), a
 * commit that is due, a request from another thread, a deadline.
 */
static void wait_for_work(struct writer *w, int64_t *now, bool *stopping, bool *flushing)
{
	struct store *s = w->s;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		uint64_t q = w->tail - w->head;
		*stopping = w->stopping;
		*flushing = w->flush_waiters > 0;
		if (*stopping && !w->stop_deadline)
			w->stop_deadline = *now + s->opt.close_timeout_ms;
		bool room = has_room(w);
		bool holding = w->held || !batch_empty(w->batch);
		bool can_commit = holding && !(w->failing && *now < w->retry_at);
		bool refusals = refusals_due(s->refusals, store_wall_ms(), *stopping || *flushing);
		if (__atomic_load_n(&s->reopen_requested, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&s->purge_requested, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&s->max_pages_requested, __ATOMIC_RELAXED) >= 0)
			return;
		if (refusals && room)
			return;
		if (*stopping && !q && !holding && !refusals)
			return;
		if ((*stopping || *flushing) && ((q && room) || can_commit))
			return;
		/* half a queue is reason enough, whatever the batch size: a full
		 * ring drops records */
		uint64_t half = w->cap / 2 > 0 ? w->cap / 2 : 1;
		if (q && room && (!holding || w->failing || q + w->held >= s->opt.batch_records ||
				  q >= half))
			return;
		int64_t d = next_deadline(w, *now);
		if (d <= *now)
			return;
		if (!room)
			w->wake_at = 0;
		else if (w->failing)
			w->wake_at = half;
		else if (!holding)
			w->wake_at = 1;
		else if (w->held < s->opt.batch_records && s->opt.batch_records - w->held < half)
			w->wake_at = s->opt.batch_records - w->held;
		else
			w->wake_at = half;
		if (accesslog_pending(s->alog)) {
			/* idle: what is written reaches the file — never with the
			 * queue's lock held, producers would wait for the disk */
			w->wake_at = 0;
			pthread_mutex_unlock(&w->lock);
			accesslog_flush(s->alog);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		if (d == INT64_MAX) {
			pthread_cond_wait(&w->wake, &w->lock);
		} else {
			struct timespec ts;
			abs_deadline(&ts, d);
			pthread_cond_timedwait(&w->wake, &w->lock, &ts);
		}
		w->wake_at = 0;
		*now = store_mono_ms();
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct store *s = w->s;

	for (;;) {
		apply_requests(w);
		int64_t now = store_mono_ms();
		int64_t day;
		int minute;
		store_local(s, store_sec(store_wall_ms()), &day, &minute);
		usage_today_set_day(s->today, day);

		bool stopping, flushing;
		wait_for_work(w, &now, &stopping, &flushing);
		/* a chunk, and no more than fills the batch: a transaction holds
		 * batch_records records (while failing, the ring is emptied into
		 * the held batch instead) */
		uint64_t head = w->head;
		uint64_t end = has_room(w) ? w->tail : head;
		uint64_t chunk = CHUNK;
		if (!w->failing && w->held < s->opt.batch_records &&
		    s->opt.batch_records - w->held < chunk)
			chunk = s->opt.batch_records - w->held;
		if (end - head > chunk)
			end = head + chunk;
		pthread_mutex_unlock(&w->lock);

		/* the slots [head, end) are ours until head moves */
		if (end > head) {
			if (w->held == 0)
				w->first_ms = now;
			for (uint64_t i = head; i < end; i++)
				process_item(w, &w->slots[i % w->cap]);
			__atomic_store_n(&s->n.held, w->held, __ATOMIC_RELAXED);
			pthread_mutex_lock(&w->lock);
			w->head = end;
			__atomic_store_n(&w->queued, w->tail - w->head, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&w->lock);
		}
		if (has_room(w) && refusals_due(s->refusals, store_wall_ms(), stopping || flushing)) {
			if (w->held == 0)
				w->first_ms = now;
			take_refusals(w, stopping || flushing);
			__atomic_store_n(&s->n.held, w->held, __ATOMIC_RELAXED);
		}

		now = store_mono_ms();
		/* Stopping: take everything queued, then commit. The batch's time
		 * is up: take what has queued since (up to a full batch) and
		 * commit it too, or those records would wait for the next
		 * window and a crash could lose two windows. */
		bool more = writer_queued(w) > 0 && has_room(w) &&
			    (stopping || (!w->failing && w->held > 0 &&
					  w->held < s->opt.batch_records &&
					  now >= w->first_ms + s->opt.batch_ms));
		if (!more && commit_due(w, now, stopping, flushing))
			try_commit(w, now);
		retention_tick(w, now);
		log_drops(w, now, false);

		if (stopping) {
			if (writer_queued(w) == 0 && w->held == 0 && batch_empty(w->batch) &&
			    refusals_pending(s->refusals) == 0)
				break;
			if (w->failing && now >= w->stop_deadline) {
				give_up(w);
				break;
			}
		}
	}
	log_drops(w, store_mono_ms(), true);
	accesslog_flush(s->alog);
	/* no flush waits for ever */
	pthread_mutex_lock(&w->lock);
	w->done = UINT64_MAX;
	w->refusals_done = UINT64_MAX;
	pthread_cond_broadcast(&w->flushed);
	pthread_mutex_unlock(&w->lock);
	writer_db_finish(&s->wdb);
	int rc = sqlite3_close(s->wdb.db);
	if (rc != SQLITE_OK)
		log_warn("store: closing %s: %s", s->path, sqlite3_errstr(rc));
	s->wdb.db = NULL;
	return NULL;
}

int writer_start(struct writer *w, sqlite3 *db)
{
	(void)db; /* already in s->wdb: from now on only the writer touches it */
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		return -1;
	pthread_setname_np(w->thread, "bt-store"); /* in top -H, ps -L */
	w->started = true;
	return 0;
}

void writer_stop(struct writer *w)
{
	if (!w || !w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->started = false;
}
