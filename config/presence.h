/*
 * presence: whether "students are present", which staff rules depend on.
 *
 * Effective presence at a moment t =
 *     the manual override, if one is set and has not expired at t,
 *     else  the timetable window ([presence] timetable, default `students`)
 *           OR detection (student traffic seen within detect_idle of t).
 *
 * struct presence_state is the live input that changes while the proxy
 * runs (the override set by `breaktime presence`, the last time student
 * traffic was seen); the proxy or sensor owns it and passes a snapshot to
 * policy_decide(). The functions here are pure.
 */
#ifndef BREAKTIME_PRESENCE_H
#define BREAKTIME_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

enum presence_override {
	PRESENCE_AUTO = 0,       /* no override: timetable OR detected */
	PRESENCE_ON,             /* students present, whatever the timetable says */
	PRESENCE_OFF,            /* no students present (detection ignored too) */
};

struct presence_state {
	enum presence_override override;
	time_t override_until;   /* the override expires here; 0: until changed */
	time_t last_detected;    /* last student traffic seen; 0: never */
};

struct policy;
struct group;

/* The source that decided presence, for explanations. */
enum presence_source {
	PRESENCE_FROM_NONE,      /* nobody present: no override, timetable closed, nothing detected */
	PRESENCE_FROM_OVERRIDE,
	PRESENCE_FROM_TIMETABLE,
	PRESENCE_FROM_DETECTION,
};

/*
 * Effective presence at t. `timetable` is whether the timetable window is
 * open at t (schedule_state_at() and policy_timetable_open() tell). ps may be
 * NULL (no override, nothing detected). detect_idle in seconds.
 */
static inline bool presence_at(const struct presence_state *ps, time_t t, bool timetable,
			       unsigned detect_idle, enum presence_source *source)
{
	enum presence_source src = PRESENCE_FROM_NONE;
	bool present = false;

	if (ps && ps->override != PRESENCE_AUTO && (ps->override_until == 0 || t < ps->override_until)) {
		present = ps->override == PRESENCE_ON;
		src = PRESENCE_FROM_OVERRIDE;
	} else if (timetable) {
		present = true;
		src = PRESENCE_FROM_TIMETABLE;
	} else if (ps && ps->last_detected && t < ps->last_detected + (time_t)detect_idle) {
		present = true;
		src = PRESENCE_FROM_DETECTION;
	}
	if (source)
		*source = src;
	return present;
}

/*
 * Does traffic from this client (group and/or address, either may be NULL)
 * count as students being present? [presence] detect_groups and
 * detect_subnets.
 */
bool presence_detects(const struct policy *p, const struct group *g, const struct sockaddr *client);

const char *presence_source_name(enum presence_source s);

#endif
