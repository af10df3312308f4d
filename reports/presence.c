/*
 * presence: `breaktime presence on | off | auto [--until HH:MM] [--by NAME]`
 * records a change of "students present" in the store, where the running
 * breaktimed picks it up within seconds, and where the presence report
 * finds who changed it and when. Without arguments it shows the state.
 *
 * A short-lived command: it writes one row through the store's API
 * (logger/storeq.h) on its own connection (WAL: the daemon's writer is not
 * disturbed beyond the busy timeout).
 */
#include "cli.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "policy.h"
#include "presence.h"
#include "report.h"
#include "safetext.h"
#include "storeq.h"
#include "tz.h"

static int show(sqlite3 *db, const struct conf *c)
{
	const struct policy *p = c->policy;
	time_t now = time(NULL);
	struct store_presence sp;
	char when[32];

	if (store_presence_latest(db, now, &sp) < 0) {
		fprintf(stderr, "breaktime: %s: %s\n", c->store.database, sqlite3_errmsg(db));
		return 1;
	}
	if (sp.state[0]) {
		tz_local_text(policy_tz(p), sp.changed_ms / 1000, true, when, sizeof(when));
		/* the cause is stored text (a --by, a web login): shown, never obeyed */
		printf("last change: %s at %s by ", sp.state, when);
		safetext_fputs(sp.cause, stdout);
		putchar('\n');
	} else {
		printf("last change: none (the timetable and detection decide)\n");
	}
	struct presence_state ps = sp.ps;
	if (!p)
		return 0;
	enum presence_source src;
	bool present = policy_students_present(p, &ps, now, &src);
	printf("students present now: %s (%s)\n", present ? "yes" : "no", presence_source_name(src));
	if (ps.override != PRESENCE_AUTO && ps.override_until > now) {
		tz_local_text(policy_tz(p), ps.override_until, true, when, sizeof(when));
		printf("the override ends: %s\n", when);
	}
	return 0;
}

int cmd_presence(const char *path, int argc, char **argv)
{
	const char *state = NULL, *until_s = NULL, *by = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
			until_s = argv[++i];
		else if (strcmp(argv[i], "--by") == 0 && i + 1 < argc)
			by = argv[++i];
		else if (!state && (strcmp(argv[i], "on") == 0 || strcmp(argv[i], "off") == 0 ||
				    strcmp(argv[i], "auto") == 0))
			state = argv[i];
		else {
			fprintf(stderr, "breaktime: presence: unexpected `%s`\n"
				"usage: breaktime presence [on | off | auto] [--until HH:MM] [--by NAME]\n",
				argv[i]);
			return 2;
		}
	}
	if (by) {
		/* a name, not a terminal sequence: nothing a report would have to escape */
		char clean[128];
		if (!*by || strcmp(safetext_name(by, clean, sizeof(clean)), by) != 0) {
			fprintf(stderr, "breaktime: presence: --by takes a name of printable "
				"characters (at most %zu bytes)\n", sizeof(clean) - 1);
			return 2;
		}
	}
	if (until_s && (!state || strcmp(state, "auto") == 0)) {
		fprintf(stderr, "breaktime: presence: --until goes with on or off\n");
		return 2;
	}
	struct conf *c = cli_load(path);
	if (!c)
		return 1;
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(c->store.database, &db, state ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
				 NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "breaktime: %s: %s (breaktimed creates the store when it starts)\n",
			c->store.database, sqlite3_errmsg(db));
		sqlite3_close(db);
		conf_unref(c);
		return 1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (!state) {
		int r = show(db, c);
		sqlite3_close(db);
		conf_unref(c);
		return r;
	}
	time_t now = time(NULL);
	int64_t until = 0;
	if (until_s && !(until = presence_parse_until(c->policy, until_s, now))) {
		fprintf(stderr, "breaktime: presence: --until `%s` is not a time HH:MM\n", until_s);
		sqlite3_close(db);
		conf_unref(c);
		return 2;
	}
	char cause[160], whoclean[128];
	const char *who = by ? by : getenv("SUDO_USER") ? getenv("SUDO_USER") : getenv("USER");
	who = safetext_name(who, whoclean, sizeof(whoclean));
	snprintf(cause, sizeof(cause), "%s (breaktime presence)", *who ? who : "unknown");
	rc = store_presence_add(db, c->policy, state, until, cause, "cli");
	if (rc != SQLITE_OK) {
		fprintf(stderr, "breaktime: presence: cannot record the change in %s: %s\n",
			c->store.database, sqlite3_errmsg(db));
		sqlite3_close(db);
		conf_unref(c);
		return 1;
	}
	char when[32] = "";
	if (until)
		tz_local_text(policy_tz(c->policy), until, true, when, sizeof(when));
	printf("students present: %s%s%s, recorded for %s; breaktimed applies it within a few seconds\n",
	       strcmp(state, "auto") == 0 ? "automatic (timetable and detection)" :
	       strcmp(state, "on") == 0 ? "on" : "off",
	       until ? " until " : "", when, *who ? who : "unknown");
	sqlite3_close(db);
	conf_unref(c);
	return 0;
}
