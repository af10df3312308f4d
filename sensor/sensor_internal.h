/*
 * sensor_internal: the sensor's state, shared by sensor.c and bypass.c only.
 */
#ifndef BREAKTIME_SENSOR_INTERNAL_H
#define BREAKTIME_SENSOR_INTERNAL_H

#include "devmap.h"
#include "dns.h"
#include "dnstcp.h"
#include "flow.h"
#include "ipfrag.h"
#include "sensor.h"
#include "sessions.h"
#include "signins.h"

struct proxy_addr {
	int family;
	uint8_t addr[16];
	uint16_t port;
	bool any;                    /* a wildcard listen address: match the port */
};

struct sensor {
	struct conf *conf;
	const struct policy *policy;
	const struct catalog *catalog;
	struct sensor_options o;
	struct flow_table *flows;
	struct dns_map *dns;
	struct sensor_stats st;
	struct proxy_addr *proxy;
	size_t n_proxy;
	int64_t last_expire_us;
	int64_t last_detected_us;    /* presence: last student traffic reported */
	uint8_t *scratch;            /* one decrypted QUIC packet */
	struct dnstcp *dnstcp;       /* DNS over TCP streams */
	int64_t now_us;              /* the packet being handled (dnstcp's callback) */
	struct devmap *devices;      /* [auth] devices (common/devmap.c) */
	struct sessions *sessions;   /* the proxy's recent sessions, or NULL (off) */
	struct signins *signins;     /* intercept mode's bindings, or NULL (no store) */
	struct ipfrag *frags;        /* IP fragments being reassembled */
	bool finishing;              /* sensor_finish(): records may wait for the store */
};

#define SENSOR_SCRATCH 65536

/* bypass.c */
int bypass_init(struct sensor *s);
bool bypass_is_proxy(const struct sensor *s, const struct flow_key *k);
/* The flow's bytes up to end_us become a progress record (usage minutes). */
void bypass_progress(struct sensor *s, struct flow *f, int64_t end_us);
/* The flow table's close callback: the final progress and the event. */
void bypass_on_close(void *ctx, struct flow *f, const char *why);
/* Who the flow's client is at ts: the device map's user, else the person
 * its address, or its MAC address (f->mac), is bound to by a sign-in in
 * intercept mode, else the user the proxy authenticated from the address
 * within [sensor] session_window, else none (the address); and the user's
 * group. */
void bypass_identify(struct sensor *s, struct flow *f, int64_t ts_us);
/* Whether traffic from this client (of group g, may be NULL) marks students
 * present: [presence] detect_subnets and detect_groups. */
bool bypass_detects(const struct sensor *s, const struct flow_key *k, const struct group *g);
/* Traffic at ts from a client that bypass_detects(): a detection, at most
 * one per half detect_idle. */
void bypass_presence(struct sensor *s, const struct flow_key *k, const struct group *g,
		     int64_t ts_us);
void flow_key_sockaddr(const struct flow_key *k, bool client, struct sockaddr_any *out);

#endif
