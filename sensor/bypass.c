/*
 * bypass: what the sensor writes to the store — social traffic that went
 * past the proxy (source = sensor, reason "bypass", close_reason "sensor"),
 * counted in usage minutes the way the proxy's tunnels are (progress
 * records on every minute boundary, the event at close), and "students
 * present" detections from [presence] detect_subnets.
 *
 * Traffic to or from the proxy's own listen addresses is the proxy's to
 * record: it is never counted here too.
 */
#include "sensor_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "conf.h"
#include "log.h"
#include "policy.h"
#include "presence.h"
#include "store.h"

void flow_key_sockaddr(const struct flow_key *k, bool client, struct sockaddr_any *out)
{
	memset(out, 0, sizeof(*out));
	const uint8_t *a = client ? k->client : k->server;
	uint16_t port = client ? k->cport : k->sport;
	if (k->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->u.ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a, 4);
		out->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->u.ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a, 16);
		out->len = sizeof(*sin6);
	}
}

int bypass_init(struct sensor *s)
{
	const struct conf_proxy *p = &s->conf->proxy;
	s->proxy = calloc(p->n_listen + p->n_tls_listen + 1, sizeof(*s->proxy));
	if (!s->proxy)
		return -1;
	for (size_t i = 0; i < p->n_listen + p->n_tls_listen; i++) {
		const struct sockaddr *sa = i < p->n_listen ? &p->listen[i].u.sa
							    : &p->tls_listen[i - p->n_listen].u.sa;
		struct proxy_addr *pa = &s->proxy[s->n_proxy];
		if (sa->sa_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
			pa->family = AF_INET;
			memcpy(pa->addr, &sin->sin_addr, 4);
			pa->port = ntohs(sin->sin_port);
		} else if (sa->sa_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
			pa->family = AF_INET6;
			memcpy(pa->addr, &sin6->sin6_addr, 16);
			pa->port = ntohs(sin6->sin6_port);
		} else {
			continue;
		}
		pa->any = sockaddr_is_unspecified(sa);
		s->n_proxy++;
	}
	return 0;
}

bool bypass_is_proxy(const struct sensor *s, const struct flow_key *k)
{
	size_t alen = k->family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < s->n_proxy; i++) {
		const struct proxy_addr *pa = &s->proxy[i];
		if (pa->family != k->family)
			continue;
		if (pa->any) {
			if (k->sport == pa->port)
				return true;
		} else if (memcmp(pa->addr, k->client, alen) == 0 ||
			   memcmp(pa->addr, k->server, alen) == 0) {
			/* clients talking to the proxy, and the proxy's own upstream traffic */
			return true;
		}
	}
	return false;
}

static bool social(const struct sensor *s, const struct flow *f)
{
	return f->entry && policy_is_social(s->policy, f->entry);
}

/* Social flows, and flagged ones (DoH, VPN: their own reason, no platform,
 * never usage minutes) that are not social. */
static bool recording(const struct sensor *s, const struct flow *f)
{
	return s->o.store && !s->o.json && (f->flag != REASON_NONE || social(s, f));
}

static const char *method_of(const struct flow *f)
{
	if (!f->protocol)
		return f->key.proto == IPPROTO_UDP ? "UDP" : "TCP";
	if (strcmp(f->protocol, "tls") == 0)
		return "TLS";
	if (strcmp(f->protocol, "quic") == 0)
		return "QUIC";
	if (strcmp(f->protocol, "http") == 0)
		return "HTTP";
	return f->key.proto == IPPROTO_UDP ? "UDP" : "TCP";
}

static void fill(const struct sensor *s, const struct flow *f, struct record *r)
{
	memset(r, 0, sizeof(*r));
	r->source = RECORD_SOURCE_SENSOR;
	flow_key_sockaddr(&f->key, true, &r->client);
	snprintf(r->method, sizeof(r->method), "%s", method_of(f));
	if (f->name[0]) {
		snprintf(r->host, sizeof(r->host), "%s", f->name);
	} else {
		/* a flagged flow without a name: its server's address */
		struct sockaddr_any sa;
		flow_key_sockaddr(&f->key, false, &sa);
		sockaddr_ntop(&sa.u.sa, r->host, sizeof(r->host));
	}
	r->port = f->key.sport;
	if (f->protocol && (strcmp(f->protocol, "tls") == 0 || strcmp(f->protocol, "quic") == 0))
		snprintf(r->sni, sizeof(r->sni), "%s", f->name);
	/* truncated in the middle of a long name: the URI is informational */
	const char *scheme = f->key.sport == 80 ? "http" : "https";
	if (f->key.sport != 80 && f->key.sport != 443)
		scheme = f->key.proto == IPPROTO_UDP ? "udp" : "tcp";
	int n = snprintf(r->uri, sizeof(r->uri), "%s://", scheme);
	size_t room = sizeof(r->uri) - (size_t)n - 7;
	memcpy(r->uri + n, r->host, strnlen(r->host, room));
	snprintf(r->uri + n + strnlen(r->host, room), 7, ":%u", f->key.sport);
	snprintf(r->user, sizeof(r->user), "%s", f->user);
	if (f->group)
		snprintf(r->group, sizeof(r->group), "%s", policy_group_name(f->group));
	r->close_reason = "sensor";
	if (social(s, f)) {
		r->reason = REASON_BYPASS;
		snprintf(r->platform, sizeof(r->platform), "%s", f->entry->platform);
		snprintf(r->category, sizeof(r->category), "%s", f->entry->category);
	} else {
		/* flagged: no platform, so never social minutes (logger/writer.c
		 * keeps the event whatever log_other says) */
		r->reason = f->flag;
		snprintf(r->category, sizeof(r->category), "%s", verdict_reason_name(f->flag));
	}
}

/* At the end (sensor_finish) every open flow closes at once, far more
 * records than the store's queue holds: wait for its writer when the queue
 * is half full, as main.c does while reading a file. Never while capturing
 * (the kernel's ring would overflow instead). */
static void submit(struct sensor *s, const struct record *r)
{
	if (s->finishing) {
		struct store_stats ss;
		store_stats(s->o.store, &ss);
		if (ss.queued * 2 >= ss.queue_capacity)
			store_flush(s->o.store, 60000);
	}
	store_submit(s->o.store, r);
}

void bypass_progress(struct sensor *s, struct flow *f, int64_t end_us)
{
	if (!f->user[0] && (s->sessions || s->signins)) {
		/* the person was not known when the flow began (they signed in
		 * since, or the store had not been read yet): the person from
		 * this minute on, and the flow's event */
		const char *user = signins_user(s->signins, f->key.family, f->key.client,
						f->has_mac ? f->mac : NULL, end_us);
		if (!user)
			user = sessions_user(s->sessions, f->key.family, f->key.client, end_us);
		if (user) {
			snprintf(f->user, sizeof(f->user), "%s", user);
			f->group = policy_group_of(s->policy, user);
		}
	}
	if (recording(s, f) && social(s, f) && (f->prog_up || f->prog_down)) {
		struct record r;
		fill(s, f, &r);
		r.kind = RECORD_TUNNEL_PROGRESS;
		r.start_us = f->prog_start_us;
		r.duration_ms = end_us > f->prog_start_us ? (uint32_t)((end_us - f->prog_start_us) / 1000) : 0;
		r.bytes_up = f->prog_up;
		r.bytes_down = f->prog_down;
		submit(s, &r);
		s->st.records++;
	}
	f->prog_start_us = end_us;
	f->prog_up = f->prog_down = 0;
}

void bypass_on_close(void *ctx, struct flow *f, const char *why)
{
	struct sensor *s = ctx;
	if (!recording(s, f))
		return;
	bypass_progress(s, f, f->last_us);
	struct record r;
	fill(s, f, &r);
	r.kind = RECORD_TUNNEL;
	r.start_us = f->first_us;
	r.duration_ms = (uint32_t)((f->last_us - f->first_us) / 1000);
	r.bytes_up = f->bytes_up;
	r.bytes_down = f->bytes_down;
	r.status = 0;
	submit(s, &r);
	s->st.records++;
	log_debug("%s: %s %s %s (%s)", verdict_reason_name(r.reason), r.method, r.host, r.platform, why);
}

void bypass_identify(struct sensor *s, struct flow *f, int64_t ts_us)
{
	struct sockaddr_any sa;
	flow_key_sockaddr(&f->key, true, &sa);
	const char *user = devmap_user(s->devices, &sa.u.sa);
	if (!user)
		user = signins_user(s->signins, f->key.family, f->key.client, f->has_mac ? f->mac : NULL,
				    ts_us);
	if (!user)
		user = sessions_user(s->sessions, f->key.family, f->key.client, ts_us);
	snprintf(f->user, sizeof(f->user), "%s", user ? user : "");
	f->group = user ? policy_group_of(s->policy, user) : policy_default_group(s->policy);
}

bool bypass_detects(const struct sensor *s, const struct flow_key *k, const struct group *g)
{
	struct sockaddr_any sa;
	flow_key_sockaddr(k, true, &sa);
	return presence_detects(s->policy, g, &sa.u.sa);
}

void bypass_presence(struct sensor *s, const struct flow_key *k, const struct group *g,
		     int64_t ts_us)
{
	/* half of detect_idle, so that a reader of the store never sees a gap */
	int64_t idle_us = (int64_t)policy_detect_idle(s->policy) * 500000;
	if (s->last_detected_us && ts_us - s->last_detected_us < idle_us && ts_us >= s->last_detected_us)
		return;
	struct sockaddr_any sa;
	flow_key_sockaddr(k, true, &sa);
	s->last_detected_us = ts_us;
	s->st.presence++;
	char addr[64], cause[96];
	sockaddr_ntop(&sa.u.sa, addr, sizeof(addr));
	if (g)
		snprintf(cause, sizeof(cause), "%s (%s, sensor)", addr, policy_group_name(g));
	else
		snprintf(cause, sizeof(cause), "%s (sensor)", addr);
	if (s->o.json) {
		log_info("students present: traffic from %s", addr);
		return;
	}
	if (s->o.store)
		store_submit_presence(s->o.store, ts_us, "detected", 0, cause, RECORD_SOURCE_SENSOR);
}
