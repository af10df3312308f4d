/*
 * usage: active minutes — how breaktime estimates time spent on a platform
 * from traffic, and today's table that allowance checks read.
 *
 * The method (DESIGN.md, stored in meta.usage_method and stated by reports):
 * a minute of the site's local day counts as active for (user, platform)
 * when a request to the platform started in it, or traffic to it moved at
 * least active_bytes in it. Tunnels report their bytes minute by minute
 * (RECORD_TUNNEL_PROGRESS); a closing RECORD_TUNNEL only carries totals and
 * is not counted again. Bytes of an interval up to 61 s go to the minute of
 * its middle (a progress interval runs from one minute tick to the next, so
 * its middle is in the minute it measured); longer intervals are spread
 * evenly over the minutes they cover. The bytes of one (user, platform,
 * minute) are summed over connections, so a page spread over several
 * connections counts, while a background tab's heartbeat stays below the
 * threshold. A minute is counted once however many requests it saw.
 *
 * A minute is "personal" when some of its use counted against an
 * allowance: organisational use (comms) and sanctioned use (teaching) do
 * not, and their minutes are kept with their purpose for the reports.
 *
 * Local days and minutes are wall-clock readings in the site's zone: on
 * the day clocks go back, the repeated hour shares its minutes (each counted
 * once), so that day's usage may be under-, never over-estimated.
 *
 * Threads: the writer adds; enforcement reads through store_usage_today()
 * from any worker. A rwlock guards the table; the writer holds it for one
 * record at a time (microseconds), readers for one lookup.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "fnv.h"
#include "log.h"

static const char *const purpose_names[] = {"personal", "organisational", "sanctioned"};

const char *usage_purpose_name(enum usage_purpose p)
{
	return (unsigned)p < 3 ? purpose_names[p] : "personal";
}

int usage_purpose_parse(const char *s)
{
	for (int i = 0; s && i < 3; i++)
		if (strcmp(s, purpose_names[i]) == 0)
			return i;
	return -1;
}

/* ---- today's table ---- */

struct usage_plat {
	char platform[32];
	uint64_t active[USAGE_WORDS];
	uint64_t personal[USAGE_WORDS]; /* some use in the minute counted against an allowance */
	uint32_t *bytes;                /* USAGE_MINUTES, saturating; allocated on first bytes */
	uint64_t day_bytes;
	unsigned day_requests;
};

struct usage_user {
	char user[64];
	struct usage_plat *plats;
	unsigned n, cap;
};

struct usage_today {
	pthread_rwlock_t lock;
	uint64_t active_bytes;
	int64_t day;
	struct usage_user **slots;      /* open addressing, cap a power of two */
	size_t cap, n;
};

struct usage_today *usage_today_create(uint64_t active_bytes)
{
	struct usage_today *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_rwlock_init(&t->lock, NULL);
	t->active_bytes = active_bytes;
	t->day = INT64_MIN;
	return t;
}

static void free_users(struct usage_today *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		struct usage_user *u = t->slots[i];
		if (!u)
			continue;
		for (unsigned j = 0; j < u->n; j++)
			free(u->plats[j].bytes);
		free(u->plats);
		free(u);
	}
	free(t->slots);
	t->slots = NULL;
	t->cap = t->n = 0;
}

void usage_today_destroy(struct usage_today *t)
{
	if (!t)
		return;
	free_users(t);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

void usage_today_set_day(struct usage_today *t, int64_t day)
{
	if (t->day == day)
		return;
	pthread_rwlock_wrlock(&t->lock);
	free_users(t);
	t->day = day;
	pthread_rwlock_unlock(&t->lock);
}

int64_t usage_today_day(struct usage_today *t)
{
	return t->day; /* written by the writer (and store_open) only */
}

static struct usage_user **find_slot(struct usage_user **slots, size_t cap, const char *user)
{
	size_t i = fnv64_str(FNV64_OFFSET, user) & (cap - 1);
	while (slots[i] && strcmp(slots[i]->user, user) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static struct usage_user *find_user(struct usage_today *t, const char *user)
{
	if (!t->cap)
		return NULL;
	return *find_slot(t->slots, t->cap, user);
}

static struct usage_user *add_user(struct usage_today *t, const char *user)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct usage_user **slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < t->cap; i++)
			if (t->slots[i])
				*find_slot(slots, cap, t->slots[i]->user) = t->slots[i];
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	struct usage_user **slot = find_slot(t->slots, t->cap, user);
	if (*slot)
		return *slot; /* cppcheck-suppress identicalInnerCondition ; not a condition: the user already has an entry */
	struct usage_user *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	store_copy(u->user, sizeof(u->user), user);
	*slot = u;
	t->n++;
	return u;
}

static struct usage_plat *find_plat(struct usage_user *u, const char *platform)
{
	for (unsigned i = 0; i < u->n; i++)
		if (strcmp(u->plats[i].platform, platform) == 0)
			return &u->plats[i];
	return NULL;
}

static struct usage_plat *add_plat(struct usage_user *u, const char *platform)
{
	struct usage_plat *p = find_plat(u, platform);
	if (p)
		return p;
	if (u->n == u->cap) {
		unsigned cap = u->cap ? u->cap * 2 : 4;
		p = realloc(u->plats, cap * sizeof(*p));
		if (!p)
			return NULL;
		u->plats = p;
		u->cap = cap;
	}
	p = &u->plats[u->n++];
	memset(p, 0, sizeof(*p));
	store_copy(p->platform, sizeof(p->platform), platform);
	return p;
}

bool usage_today_add(struct usage_today *t, const char *user, const char *platform,
		     enum usage_purpose purpose, int minute, uint64_t bytes, unsigned requests,
		     bool active)
{
	bool now_active = false;

	if (minute < 0 || minute >= USAGE_MINUTES)
		return requests > 0 || active;
	pthread_rwlock_wrlock(&t->lock);
	struct usage_user *u = add_user(t, user);
	struct usage_plat *p = u ? add_plat(u, platform) : NULL;
	if (!p) {
		pthread_rwlock_unlock(&t->lock);
		log_warn("store: out of memory for today's usage table");
		return requests > 0 || active;
	}
	uint64_t word = 1ULL << (minute % 64);
	unsigned w = (unsigned)minute / 64;
	if (bytes) {
		if (!p->bytes)
			p->bytes = calloc(USAGE_MINUTES, sizeof(*p->bytes));
		if (p->bytes) {
			uint64_t sum = (uint64_t)p->bytes[minute] + bytes;
			p->bytes[minute] = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
			if (sum >= t->active_bytes)
				active = true;
		} else if (bytes >= t->active_bytes) {
			active = true;
		}
		p->day_bytes += bytes;
	}
	if (requests) {
		active = true;
		p->day_requests += requests;
	}
	if (active)
		p->active[w] |= word;
	if (purpose == PURPOSE_PERSONAL)
		p->personal[w] |= word;
	now_active = (p->active[w] & word) != 0;
	pthread_rwlock_unlock(&t->lock);
	return now_active;
}

static unsigned count_bits(const uint64_t *bits, int from)
{
	unsigned n = 0;
	if (from < 0)
		return 0;
	for (int w = from / 64; w < USAGE_WORDS; w++) {
		uint64_t v = bits[w];
		if (w == from / 64)
			v &= ~0ULL << (from % 64);
		n += (unsigned)__builtin_popcountll(v);
	}
	return n;
}

int usage_today_query(struct usage_today *t, const char *user, const char *platform, int64_t day,
		      int minute_from, struct store_usage *out)
{
	uint64_t personal[USAGE_WORDS] = {0};

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&t->lock);
	if (day != t->day) {
		pthread_rwlock_unlock(&t->lock);
		return -1;
	}
	struct usage_user *u = find_user(t, user);
	for (unsigned i = 0; u && i < u->n; i++) {
		struct usage_plat *p = &u->plats[i];
		if (platform && strcmp(p->platform, platform) != 0)
			continue;
		for (int w = 0; w < USAGE_WORDS; w++)
			personal[w] |= p->active[w] & p->personal[w];
		out->day_bytes += p->day_bytes;
		out->day_requests += p->day_requests;
	}
	pthread_rwlock_unlock(&t->lock);
	out->day_minutes = count_bits(personal, 0);
	out->since_minutes = minute_from >= USAGE_MINUTES ? 0 : count_bits(personal, minute_from);
	return 0;
}

/* ---- attributing a record to minutes ---- */

static void add_piece(struct usage_piece *out, size_t *n, size_t max, int64_t day, int minute,
		      uint64_t bytes, unsigned requests)
{
	for (size_t i = *n; i-- > 0;)
		if (out[i].day == day && out[i].minute == minute) {
			out[i].bytes += bytes;
			out[i].requests += requests;
			return;
		}
	if (*n == max) { /* fold what does not fit into the last piece */
		out[max - 1].bytes += bytes;
		out[max - 1].requests += requests;
		return;
	}
	out[*n] = (struct usage_piece){day, minute, bytes, requests};
	(*n)++;
}

size_t usage_split(const struct store *s, const struct record *r, struct usage_piece *out,
		   size_t max)
{
	size_t n = 0;
	int64_t day;
	int minute;
	int64_t start_ms = r->start_us / 1000;
	int64_t dur_ms = r->duration_ms;
	uint64_t bytes = r->bytes_up + r->bytes_down;

	if (max == 0)
		return 0;
	if (r->kind == RECORD_REQUEST) {
		store_local(s, store_sec(start_ms), &day, &minute);
		add_piece(out, &n, max, day, minute, 0, 1);
	}
	if (!bytes)
		return n;
	if (dur_ms <= 61000) {
		store_local(s, store_sec(start_ms + dur_ms / 2), &day, &minute);
		add_piece(out, &n, max, day, minute, bytes, 0);
		return n;
	}
	/* spread evenly over the (UTC) minutes the interval covers */
	int64_t end_ms = start_ms + dur_ms;
	uint64_t left = bytes;
	for (int64_t m0 = start_ms; m0 < end_ms;) {
		int64_t next = (store_sec(m0) / 60 + 1) * 60000;
		if (next > end_ms)
			next = end_ms;
		/* double: bytes * ms may not fit in 64 bits; the last piece takes
		 * the rounding, so the pieces always sum to the record's bytes */
		uint64_t share = next == end_ms ? left
			: (uint64_t)((double)bytes * (double)(next - m0) / (double)dur_ms);
		if (share > left)
			share = left;
		left -= share;
		store_local(s, store_sec(m0), &day, &minute);
		add_piece(out, &n, max, day, minute, share, 0);
		m0 = next;
	}
	return n;
}

void usage_account(struct store *s, struct batch *b, const struct record *r, const char *user,
		   enum usage_purpose purpose)
{
	struct usage_piece *pieces = s->pieces;
	size_t n = usage_split(s, r, pieces, USAGE_MAX_PIECES);
	int64_t today = usage_today_day(s->today);

	for (size_t i = 0; i < n; i++) {
		struct usage_piece *p = &pieces[i];
		bool active;
		if (p->day == today)
			active = usage_today_add(s->today, user, r->platform, purpose, p->minute,
						 p->bytes, p->requests, false);
		else /* a late record of an earlier day: judged on its own here, and on
		      * the minute's summed bytes by the upsert */
			active = p->requests > 0 || (p->bytes > 0 && p->bytes >= s->active_bytes);
		struct usage_row_key k;
		memset(&k, 0, sizeof(k));
		k.day = p->day;
		k.minute = p->minute;
		k.purpose = (uint8_t)purpose;
		k.source = (uint8_t)r->source;
		store_copy(k.user, sizeof(k.user), user);
		store_copy(k.platform, sizeof(k.platform), r->platform);
		struct usage_row *row = batch_usage_row(b, &k);
		if (!row)
			continue; /* logged by batch */
		row->bytes += p->bytes;
		row->requests += p->requests;
		row->active = row->active || active;
		if (r->group[0])
			store_copy(row->grp, sizeof(row->grp), r->group);
	}
}
