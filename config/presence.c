/*
 * presence: effective "students present" from override, timetable and
 * detection; which clients count as students for detection.
 *
 * Pure functions over an immutable policy: safe on any thread.
 */
#include "presence.h"

#include "policy_internal.h"

bool presence_detects(const struct policy *p, const struct group *g, const struct sockaddr *client)
{
	if (g)
		for (size_t i = 0; i < p->n_detect_groups; i++)
			if (p->detect_groups[i] == g)
				return true;
	if (client)
		for (size_t i = 0; i < p->n_detect_subnets; i++)
			if (cidr_match(&p->detect_subnets[i], client))
				return true;
	return false;
}

const char *presence_source_name(enum presence_source s)
{
	switch (s) {
	case PRESENCE_FROM_OVERRIDE:
		return "override";
	case PRESENCE_FROM_TIMETABLE:
		return "timetable";
	case PRESENCE_FROM_DETECTION:
		return "detection";
	default:
		return "none";
	}
}
