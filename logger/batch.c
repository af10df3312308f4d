/*
 * batch: what the writer holds between transactions, and the SQL that
 * writes it.
 *
 * Event rows are packed (numbers plus their strings in a per-block arena,
 * no URI: events keep the host only) into blocks of BLOCK_ROWS, so a
 * database that refuses writes for a while (locked by another process, or
 * full) costs a few hundred bytes per held record instead of a queue slot,
 * and the held rows go out afterwards a few blocks per transaction. Usage
 * minutes and daily totals are aggregates keyed by their primary key, so
 * they stay small however many records feed them, and are upserted.
 *
 * Writer thread only. Nothing here is freed or forgotten until the
 * transaction that writes it has committed.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"
#include "log.h"
#include "safetext.h"

#define BLOCK_ROWS 512
/* sessions: the same person from the same address within this is one */
#define SESSION_GAP_MS (10 * 60 * 1000)
#define NO_STR UINT32_MAX

enum { S_USER, S_GRP, S_CLIENT, S_METHOD, S_HOST, S_SNI, S_PLATFORM, S_CATEGORY, S_N };

struct event_row {
	int64_t ts_ms;
	int64_t day;
	uint64_t up, down;
	uint32_t dur;
	int32_t status;
	uint16_t port;
	uint8_t kind, source, arrival;
	uint64_t count;                       /* records the row stands for (events.count) */
	uint8_t verdict, reason;              /* enum verdict, enum reason: named when bound */
	const char *close;                    /* static string of the proxy */
	uint32_t str[S_N];                    /* offsets into the block's arena */
};

struct block {
	struct block *next;
	struct event_row rows[BLOCK_ROWS];
	unsigned n;
	unsigned refusal_rows;  /* rows of counted refusals among them */
	char *arena;
	size_t alen, acap;
	uint64_t records;      /* records taken while this block was the last one */
};

/* An open-addressing map over rows whose first keylen bytes are the key. */
struct rowmap {
	char *rows;
	size_t n, cap, size, keylen;
	uint32_t *idx;         /* index + 1; 0 empty */
	size_t icap;
};

struct presence_row {
	struct presence_item p;
	int64_t day;
};

struct binding_row {
	struct store_binding x;
	int64_t day;
};

struct batch {
	struct block *head, *tail;
	size_t block_bytes;
	uint64_t event_rows;
	uint64_t committed_refusals;   /* refusal rows of the last commit */
	struct rowmap usage, other, sessions;
	struct presence_row *pres;
	size_t n_pres, cap_pres;
	struct binding_row *binds;
	size_t n_binds, cap_binds;
};

/* ---- rowmap ---- */

static void rowmap_init(struct rowmap *m, size_t size, size_t keylen)
{
	memset(m, 0, sizeof(*m));
	m->size = size;
	m->keylen = keylen;
}

static void rowmap_clear(struct rowmap *m)
{
	m->n = 0;
	if (m->idx)
		memset(m->idx, 0, m->icap * sizeof(*m->idx));
}

static void rowmap_free(struct rowmap *m)
{
	free(m->rows);
	free(m->idx);
	memset(m, 0, sizeof(*m));
}

static uint32_t *rowmap_slot(struct rowmap *m, uint32_t *idx, size_t icap, const void *key)
{
	size_t i = fnv64_bytes(FNV64_OFFSET, key, m->keylen) & (icap - 1);
	while (idx[i] && memcmp(m->rows + (idx[i] - 1) * m->size, key, m->keylen) != 0)
		i = (i + 1) & (icap - 1);
	return &idx[i];
}

/* The row for key (created zeroed with the key), or NULL out of memory. */
static void *rowmap_get(struct rowmap *m, const void *key)
{
	if ((m->n + 1) * 2 > m->icap) {
		size_t icap = m->icap ? m->icap * 2 : 256;
		uint32_t *idx = calloc(icap, sizeof(*idx));
		if (!idx)
			return NULL;
		for (size_t i = 0; i < m->n; i++)
			*rowmap_slot(m, idx, icap, m->rows + i * m->size) = (uint32_t)(i + 1);
		free(m->idx);
		m->idx = idx;
		m->icap = icap;
	}
	uint32_t *slot = rowmap_slot(m, m->idx, m->icap, key);
	if (*slot)
		return m->rows + (*slot - 1) * m->size;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 128;
		char *rows = realloc(m->rows, cap * m->size);
		if (!rows)
			return NULL;
		m->rows = rows;
		m->cap = cap;
	}
	char *row = m->rows + m->n * m->size;
	memset(row, 0, m->size);
	memcpy(row, key, m->keylen);
	*slot = (uint32_t)(++m->n);
	return row;
}

/* ---- the batch ---- */

struct batch *batch_create(void)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	rowmap_init(&b->usage, sizeof(struct usage_row), sizeof(struct usage_row_key));
	rowmap_init(&b->other, sizeof(struct other_row), sizeof(struct other_row_key));
	rowmap_init(&b->sessions, sizeof(struct session_row), sizeof(struct session_row_key));
	return b;
}

static void block_free(struct block *k)
{
	free(k->arena);
	free(k);
}

void batch_destroy(struct batch *b)
{
	if (!b)
		return;
	while (b->head) {
		struct block *k = b->head;
		b->head = k->next;
		block_free(k);
	}
	rowmap_free(&b->usage);
	rowmap_free(&b->other);
	rowmap_free(&b->sessions);
	free(b->pres);
	free(b->binds);
	free(b);
}

static struct block *tail_block(struct batch *b, bool need_row)
{
	if (b->tail && (!need_row || b->tail->n < BLOCK_ROWS))
		return b->tail;
	struct block *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	if (b->tail)
		b->tail->next = k;
	else
		b->head = k;
	b->tail = k;
	b->block_bytes += sizeof(*k);
	return k;
}

void batch_count_record(struct batch *b)
{
	struct block *k = tail_block(b, false);
	if (k)
		k->records++;
	/* out of memory: the record is not counted as held; its rows, if any,
	 * were dropped with a warning where they failed */
}

void batch_count_records(struct batch *b, uint64_t count)
{
	struct block *k = tail_block(b, false);
	if (k)
		k->records += count;
}

uint64_t batch_records(const struct batch *b)
{
	uint64_t n = 0;
	for (const struct block *k = b->head; k; k = k->next)
		n += k->records;
	return n;
}

uint64_t batch_event_rows(const struct batch *b)
{
	return b->event_rows;
}

size_t batch_bytes(const struct batch *b)
{
	return b->block_bytes + b->usage.cap * b->usage.size + b->other.cap * b->other.size +
	       b->sessions.cap * b->sessions.size + b->cap_pres * sizeof(*b->pres) +
	       b->cap_binds * sizeof(*b->binds);
}

bool batch_empty(const struct batch *b)
{
	return !b->head && b->usage.n == 0 && b->other.n == 0 && b->sessions.n == 0 &&
	       b->n_pres == 0 && b->n_binds == 0;
}

static uint32_t arena_add(struct batch *b, struct block *k, const char *s)
{
	if (!s || !*s)
		return NO_STR;
	size_t len = strlen(s) + 1;
	if (k->alen + len > k->acap) {
		size_t cap = k->acap ? k->acap * 2 : 16384;
		while (cap < k->alen + len)
			cap *= 2;
		char *a = realloc(k->arena, cap);
		if (!a)
			return NO_STR;
		b->block_bytes += cap - k->acap;
		k->arena = a;
		k->acap = cap;
	}
	memcpy(k->arena + k->alen, s, len);
	uint32_t off = (uint32_t)k->alen;
	k->alen += len;
	return off;
}

static struct event_row *add_event(struct batch *b, const struct store *s, const struct record *r,
				   const char *user, const char *client)
{
	struct block *k = tail_block(b, true);
	int minute;

	if (!k) {
		log_warn("store: out of memory: an event row is lost");
		return NULL;
	}
	struct event_row *e = &k->rows[k->n++];
	e->count = 1;
	e->ts_ms = r->start_us / 1000;
	store_local(s, store_sec(e->ts_ms), &e->day, &minute);
	e->up = r->bytes_up;
	e->down = r->bytes_down;
	e->dur = r->duration_ms;
	e->status = r->status;
	e->port = r->port;
	e->kind = (uint8_t)r->kind;
	e->source = (uint8_t)r->source;
	e->arrival = (uint8_t)r->arrival;
	e->verdict = (uint8_t)r->verdict;
	e->reason = (uint8_t)r->reason;
	e->close = r->close_reason;
	/* each text field keeps only what its grammar allows (safetext.h):
	 * whatever the producer copied, no control byte reaches the store */
	char t[HOSTNAME_MAX + 1];
	e->str[S_USER] = arena_add(b, k, safetext_name(user, t, sizeof(t)));
	e->str[S_GRP] = arena_add(b, k, safetext_name(r->group, t, sizeof(t)));
	e->str[S_CLIENT] = arena_add(b, k, safetext_name(client, t, sizeof(t)));
	e->str[S_METHOD] = arena_add(b, k, safetext_token(r->method, t, sizeof(t)));
	e->str[S_HOST] = arena_add(b, k, safetext_host(r->host, t, sizeof(t)));
	e->str[S_SNI] = arena_add(b, k, safetext_host(r->sni, t, sizeof(t)));
	e->str[S_PLATFORM] = arena_add(b, k, safetext_name(r->platform, t, sizeof(t)));
	e->str[S_CATEGORY] = arena_add(b, k, safetext_name(r->category, t, sizeof(t)));
	b->event_rows++;
	return e;
}

void batch_add_event(struct batch *b, const struct store *s, const struct record *r,
		     const char *user, const char *client)
{
	add_event(b, s, r, user, client);
}

void batch_add_refusals(struct batch *b, const struct store *s, const struct record *r,
			const char *user, const char *client, uint64_t count)
{
	struct event_row *e = add_event(b, s, r, user, client);
	if (e) {
		e->count = count;
		b->tail->refusal_rows++;
	}
}

uint64_t batch_committed_aggregates(const struct batch *b)
{
	return b->committed_refusals;
}

struct usage_row *batch_usage_row(struct batch *b, const struct usage_row_key *k)
{
	struct usage_row *row = rowmap_get(&b->usage, k);
	if (!row)
		log_warn("store: out of memory: a usage minute is lost");
	return row;
}

struct other_row *batch_other_row(struct batch *b, const struct other_row_key *k)
{
	struct other_row *row = rowmap_get(&b->other, k);
	if (!row)
		log_warn("store: out of memory: a daily total is lost");
	return row;
}

struct session_row *batch_session_row(struct batch *b, const struct session_row_key *k)
{
	struct session_row *row = rowmap_get(&b->sessions, k);
	if (!row)
		log_warn("store: out of memory: a proxy session is lost");
	return row;
}

void batch_add_presence(struct batch *b, const struct presence_item *p, int64_t day)
{
	if (b->n_pres == b->cap_pres) {
		size_t cap = b->cap_pres ? b->cap_pres * 2 : 16;
		struct presence_row *a = realloc(b->pres, cap * sizeof(*a));
		if (!a) {
			log_warn("store: out of memory: a presence change is lost");
			return;
		}
		b->pres = a;
		b->cap_pres = cap;
	}
	b->pres[b->n_pres].p = *p;
	b->pres[b->n_pres].day = day;
	b->n_pres++;
}

void batch_add_binding(struct batch *b, const struct store_binding *x, int64_t day)
{
	if (b->n_binds == b->cap_binds) {
		size_t cap = b->cap_binds ? b->cap_binds * 2 : 16;
		struct binding_row *a = realloc(b->binds, cap * sizeof(*a));
		if (!a) {
			log_warn("store: out of memory: a binding of %s is lost", x->user);
			return;
		}
		b->binds = a;
		b->cap_binds = cap;
	}
	b->binds[b->n_binds].x = *x;
	b->binds[b->n_binds].day = day;
	b->n_binds++;
}

/* ---- SQL ---- */

int writer_db_prepare(struct writer_db *w)
{
	static const struct {
		size_t off;
		const char *sql;
	} stmts[] = {
		{offsetof(struct writer_db, begin), "BEGIN IMMEDIATE"},
		{offsetof(struct writer_db, commit), "COMMIT"},
		{offsetof(struct writer_db, rollback), "ROLLBACK"},
		{offsetof(struct writer_db, ins_event),
		 "INSERT INTO events (ts_ms, day, kind, source, user, grp, client, method, host, port,"
		 " sni, platform, category, verdict, reason, status, bytes_up, bytes_down, duration_ms,"
		 " close, count, arrival) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
		 " ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"},
		{offsetof(struct writer_db, up_usage),
		 "INSERT INTO usage_minutes (day, minute, user, platform, purpose, source, grp, active,"
		 " requests, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
		 " ON CONFLICT (day, user, platform, minute, purpose, source) DO UPDATE SET"
		 " grp = coalesce(excluded.grp, grp),"
		 " active = max(active, excluded.active, bytes + excluded.bytes >= ?11),"
		 " requests = requests + excluded.requests,"
		 " bytes = bytes + excluded.bytes"},
		{offsetof(struct writer_db, up_other),
		 "INSERT INTO other_daily (day, user, source, grp, requests, tunnels, bytes_up,"
		 " bytes_down) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		 " ON CONFLICT (day, user, source) DO UPDATE SET"
		 " grp = coalesce(excluded.grp, grp),"
		 " requests = requests + excluded.requests,"
		 " tunnels = tunnels + excluded.tunnels,"
		 " bytes_up = bytes_up + excluded.bytes_up,"
		 " bytes_down = bytes_down + excluded.bytes_down"},
		{offsetof(struct writer_db, ins_presence),
		 "INSERT INTO presence (ts_ms, day, state, expires_ms, cause, source)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
		/* a session goes on when the same person was seen from the same
		 * address within SESSION_GAP_MS; otherwise a new row begins */
		{offsetof(struct writer_db, up_session),
		 "UPDATE sessions SET first_ms = min(first_ms, ?3), last_ms = max(last_ms, ?4),"
		 " day = CASE WHEN ?4 > last_ms THEN ?5 ELSE day END"
		 " WHERE id = (SELECT id FROM sessions WHERE client = ?1 AND user = ?2"
		 " AND last_ms >= ?3 - ?6 AND first_ms <= ?4 + ?6 ORDER BY last_ms DESC LIMIT 1)"},
		{offsetof(struct writer_db, ins_session),
		 "INSERT INTO sessions (client, user, first_ms, last_ms, day)"
		 " VALUES (?1, ?2, ?3, ?4, ?5)"},
		/* a newer binding of an address ends the ones still in force */
		{offsetof(struct writer_db, end_binding),
		 "UPDATE bindings SET until_ms = ?2"
		 " WHERE client = ?1 AND until_ms > ?2 AND since_ms <= ?2"},
		{offsetof(struct writer_db, ins_binding),
		 "INSERT INTO bindings (day, client, mac, user, since_ms, until_ms, how)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
	};
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)((char *)w + stmts[i].off);
		if (sqlite3_prepare_v3(w->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				       NULL) != SQLITE_OK) {
			log_err("store: cannot prepare `%s`: %s", stmts[i].sql, sqlite3_errmsg(w->db));
			writer_db_finish(w);
			return -1;
		}
	}
	return 0;
}

void writer_db_finish(struct writer_db *w)
{
	sqlite3_stmt **all[] = {&w->begin, &w->commit, &w->rollback, &w->ins_event,
				&w->up_usage, &w->up_other, &w->ins_presence, &w->up_session,
				&w->ins_session, &w->end_binding, &w->ins_binding};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

static const char *const kind_names[] = {"request", "tunnel", "tunnel-progress", "blocked"};
static const char *const source_names[] = {"proxy", "sensor"};
static const char *const arrival_names[] = {NULL, "proxy", "https-proxy", "intercept"};

static const char *source_name(unsigned s)
{
	return s < 2 ? source_names[s] : "?";
}

/* Step a statement once and reset it; SQLITE_OK or the error. */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st); /* every parameter is bound again (NULL too) before the next step */
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

struct daycache {
	int64_t day;
	char text[TZ_DAY_TEXT];
};

static const char *day_text(struct daycache *c, int64_t day)
{
	if (c->day != day || !c->text[0]) {
		tz_day_text(day, c->text, sizeof(c->text));
		c->day = day;
	}
	return c->text;
}

static void bind_str(sqlite3_stmt *st, int i, const struct block *k, uint32_t off)
{
	if (off == NO_STR)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, k->arena + off, -1, SQLITE_STATIC);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* A user name, group or cause of an aggregate row (safetext_name: no control
 * bytes); opt: NULL when empty (else "", for the NOT NULL key columns). */
static void bind_name(sqlite3_stmt *st, int i, const char *s, bool opt)
{
	char t[256];
	safetext_name(s, t, sizeof(t));
	if (t[0] || !opt)
		sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static int insert_block(struct writer_db *w, const struct block *k, struct daycache *dc)
{
	sqlite3_stmt *st = w->ins_event;

	for (unsigned i = 0; i < k->n; i++) {
		const struct event_row *e = &k->rows[i];
		sqlite3_bind_int64(st, 1, e->ts_ms);
		sqlite3_bind_text(st, 2, day_text(dc, e->day), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, e->kind < 4 ? kind_names[e->kind] : "?", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, source_name(e->source), -1, SQLITE_STATIC);
		bind_str(st, 5, k, e->str[S_USER]);
		bind_str(st, 6, k, e->str[S_GRP]);
		bind_str(st, 7, k, e->str[S_CLIENT]);
		bind_str(st, 8, k, e->str[S_METHOD]);
		bind_str(st, 9, k, e->str[S_HOST]);
		if (e->port)
			sqlite3_bind_int(st, 10, e->port);
		else
			sqlite3_bind_null(st, 10);
		bind_str(st, 11, k, e->str[S_SNI]);
		bind_str(st, 12, k, e->str[S_PLATFORM]);
		bind_str(st, 13, k, e->str[S_CATEGORY]);
		bind_opt(st, 14, verdict_name((enum verdict)e->verdict));
		bind_opt(st, 15, verdict_reason_name((enum reason)e->reason));
		if (e->status)
			sqlite3_bind_int(st, 16, e->status);
		else
			sqlite3_bind_null(st, 16);
		sqlite3_bind_int64(st, 17, (int64_t)e->up);
		sqlite3_bind_int64(st, 18, (int64_t)e->down);
		sqlite3_bind_int64(st, 19, e->dur);
		bind_opt(st, 20, e->close);
		sqlite3_bind_int64(st, 21, (int64_t)e->count);
		if (e->arrival > RECORD_ARRIVAL_NONE && e->arrival <= RECORD_ARRIVAL_INTERCEPT)
			sqlite3_bind_text(st, 22, arrival_names[e->arrival], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 22);
		int rc = run(st);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int write_aggregates(struct batch *b, struct writer_db *w, struct daycache *dc)
{
	int rc;

	for (size_t i = 0; i < b->usage.n; i++) {
		const struct usage_row *u = (const struct usage_row *)(b->usage.rows + i * b->usage.size);
		sqlite3_stmt *st = w->up_usage;
		sqlite3_bind_text(st, 1, day_text(dc, u->k.day), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, u->k.minute);
		bind_name(st, 3, u->k.user, false);
		sqlite3_bind_text(st, 4, u->k.platform, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, usage_purpose_name(u->k.purpose), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, source_name(u->k.source), -1, SQLITE_STATIC);
		bind_name(st, 7, u->grp, true);
		/* rows of today were judged on today's table; a late row of an
		 * earlier day on what this batch holds, and the upsert adds what
		 * the table already has */
		bool active = u->active || (u->bytes > 0 && u->bytes >= w->active_bytes);
		sqlite3_bind_int(st, 8, active ? 1 : 0);
		sqlite3_bind_int64(st, 9, u->requests);
		sqlite3_bind_int64(st, 10, (int64_t)u->bytes);
		/* 0 would make every row with traffic active, as it should */
		sqlite3_bind_int64(st, 11, (int64_t)(w->active_bytes ? w->active_bytes : 1));
		if ((rc = run(st)) != SQLITE_OK)
			return rc;
	}
	for (size_t i = 0; i < b->other.n; i++) {
		const struct other_row *o = (const struct other_row *)(b->other.rows + i * b->other.size);
		sqlite3_stmt *st = w->up_other;
		sqlite3_bind_text(st, 1, day_text(dc, o->k.day), -1, SQLITE_STATIC);
		bind_name(st, 2, o->k.user, false);
		sqlite3_bind_text(st, 3, source_name(o->k.source), -1, SQLITE_STATIC);
		bind_name(st, 4, o->grp, true);
		sqlite3_bind_int64(st, 5, (int64_t)o->requests);
		sqlite3_bind_int64(st, 6, (int64_t)o->tunnels);
		sqlite3_bind_int64(st, 7, (int64_t)o->bytes_up);
		sqlite3_bind_int64(st, 8, (int64_t)o->bytes_down);
		if ((rc = run(st)) != SQLITE_OK)
			return rc;
	}
	for (size_t i = 0; i < b->sessions.n; i++) {
		const struct session_row *r =
			(const struct session_row *)(b->sessions.rows + i * b->sessions.size);
		sqlite3_stmt *st = w->up_session;
		for (int pass = 0; pass < 2; pass++) {
			sqlite3_bind_text(st, 1, r->k.client, -1, SQLITE_STATIC);
			bind_name(st, 2, r->k.user, false);
			sqlite3_bind_int64(st, 3, r->first_ms);
			sqlite3_bind_int64(st, 4, r->last_ms);
			sqlite3_bind_text(st, 5, day_text(dc, r->day), -1, SQLITE_STATIC);
			if (pass == 0)
				sqlite3_bind_int64(st, 6, SESSION_GAP_MS);
			if ((rc = run(st)) != SQLITE_OK)
				return rc;
			if (pass == 1 || sqlite3_changes(w->db) > 0)
				break;
			st = w->ins_session;
		}
	}
	for (size_t i = 0; i < b->n_pres; i++) {
		const struct presence_row *p = &b->pres[i];
		sqlite3_stmt *st = w->ins_presence;
		sqlite3_bind_int64(st, 1, p->p.at_us / 1000);
		sqlite3_bind_text(st, 2, day_text(dc, p->day), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, p->p.state[0] ? p->p.state : "?", -1, SQLITE_STATIC);
		if (p->p.expires_us)
			sqlite3_bind_int64(st, 4, p->p.expires_us / 1000);
		else
			sqlite3_bind_null(st, 4);
		bind_name(st, 5, p->p.cause, true);
		sqlite3_bind_text(st, 6, source_name(p->p.source), -1, SQLITE_STATIC);
		if ((rc = run(st)) != SQLITE_OK)
			return rc;
	}
	for (size_t i = 0; i < b->n_binds; i++) {
		const struct store_binding *x = &b->binds[i].x;
		char client[64], mac[18];
		store_user_key(NULL, &x->client.u.sa, client, sizeof(client));
		mac_format(x->mac, mac);
		sqlite3_stmt *st = w->end_binding;
		sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, x->since_ms);
		if ((rc = run(st)) != SQLITE_OK)
			return rc;
		st = w->ins_binding;
		sqlite3_bind_text(st, 1, day_text(dc, b->binds[i].day), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, client, -1, SQLITE_STATIC);
		bind_opt(st, 3, x->has_mac ? mac : NULL);
		bind_name(st, 4, x->user, false);
		sqlite3_bind_int64(st, 5, x->since_ms);
		sqlite3_bind_int64(st, 6, x->how == STORE_BINDING_END ? x->since_ms : x->until_ms);
		sqlite3_bind_text(st, 7, store_binding_how_name(x->how), -1, SQLITE_STATIC);
		if ((rc = run(st)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

int batch_commit(struct batch *b, struct writer_db *w, uint64_t max_rows, uint64_t *committed)
{
	struct daycache dc = {0};
	struct block *k, *last = NULL;
	uint64_t rows = 0;
	int rc;

	*committed = 0;
	if ((rc = run(w->begin)) != SQLITE_OK) {
		w->sys_errno = sqlite3_system_errno(w->db);
		return rc;
	}
	for (k = b->head; k; k = k->next) {
		if (rows > 0 && rows + k->n > max_rows)
			break;
		if ((rc = insert_block(w, k, &dc)) != SQLITE_OK)
			goto fail;
		rows += k->n;
		last = k;
	}
	if ((rc = write_aggregates(b, w, &dc)) != SQLITE_OK)
		goto fail;
	if ((rc = run(w->commit)) != SQLITE_OK)
		goto fail;

	/* committed: forget what it wrote */
	uint64_t records = 0;
	b->committed_refusals = 0;
	if (last) {
		struct block *stop = last->next;
		while (b->head != stop) {
			k = b->head;
			b->head = k->next;
			records += k->records;
			b->committed_refusals += k->refusal_rows;
			b->event_rows -= k->n;
			b->block_bytes -= sizeof(*k) + k->acap;
			block_free(k);
		}
		if (!b->head)
			b->tail = NULL;
	}
	rowmap_clear(&b->usage);
	rowmap_clear(&b->other);
	rowmap_clear(&b->sessions);
	b->n_pres = 0;
	b->n_binds = 0;
	*committed = records;
	return SQLITE_OK;

fail:
	w->sys_errno = sqlite3_system_errno(w->db); /* before the rollback replaces it */
	if (!sqlite3_get_autocommit(w->db))
		run(w->rollback);
	return rc;
}
