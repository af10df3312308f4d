/*
 * sensor: the per-frame path. DESIGN:
 *
 *   frame -> decode -> which side is the client (the one not on port 53,
 *   80 or 443) -> presence detection -> skip the proxy's own traffic ->
 *     DNS (UDP or TCP 53): a query prints its name; an answer maps its
 *       addresses to the question's name (dns_map), so later flows to
 *       them are named even when they carry no name themselves;
 *     TCP 80/443, UDP 443: the flow table. Until the flow has a name, the
 *       client's bytes are reassembled (bounded) and tried as a TLS
 *       ClientHello, an HTTP request head, or QUIC Initial CRYPTO data.
 *
 * Output happens once per name: a DNS query, or a flow's first name. Every
 * bound is a constant: the flow table's size, FLOW_STREAM_MAX per flow, the
 * DNS map's size, and at most SENSOR_MAX_TRIES client packets looked at
 * per flow before it gives up.
 */
#include "sensor_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "catalog.h"
#include "conf.h"
#include "decode.h"
#include "flags.h"
#include "policy.h"
#include "quic.h"
#include "sni.h"

/* Client packets with payload looked at before a flow gives up on a name. */
#define SENSOR_MAX_TRIES 32
/* A TCP connection lingers this long after a FIN for its last segments. */
#define SENSOR_FIN_IDLE_US (10 * 1000000LL)

static dnstcp_msg_fn sensor_dns_tcp;

struct sensor *sensor_create(struct conf *conf, const struct sensor_options *o)
{
	struct sensor *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->conf = conf_ref(conf);
	s->policy = conf->policy;
	s->catalog = policy_catalog(conf->policy);
	s->o = *o;
	if (!s->o.max_flows)
		s->o.max_flows = SENSOR_DEFAULT_MAX_FLOWS;
	if (!s->o.tcp_idle_s)
		s->o.tcp_idle_s = 300;
	if (!s->o.udp_idle_s)
		s->o.udp_idle_s = 60;
	s->flows = flow_table_create(s->o.max_flows, bypass_on_close, s);
	s->dns = dns_map_create(s->o.dns_entries);
	s->scratch = malloc(SENSOR_SCRATCH);
	s->dnstcp = dnstcp_create(sensor_dns_tcp, s);
	s->frags = ipfrag_create();
	s->devices = devmap_load(policy_auth(s->policy)->devices);
	s->sessions = o->store ? sessions_create(conf->store.database, conf->sensor.session_window_s)
			       : NULL;
	s->signins = o->store ? signins_create(conf->store.database) : NULL;
	if (!s->flows || !s->dns || !s->scratch || !s->dnstcp || !s->frags || !s->devices ||
	    (o->store && !s->signins) || bypass_init(s) < 0) {
		sensor_destroy(s);
		return NULL;
	}
	return s;
}

void sensor_finish(struct sensor *s)
{
	s->finishing = true;
	flow_close_all(s->flows, "exit");
}

void sensor_destroy(struct sensor *s)
{
	if (!s)
		return;
	if (s->flows)
		sensor_finish(s);
	flow_table_destroy(s->flows);
	dns_map_destroy(s->dns);
	dnstcp_destroy(s->dnstcp);
	ipfrag_destroy(s->frags);
	free(s->scratch);
	free(s->proxy);
	devmap_free(s->devices);
	sessions_destroy(s->sessions);
	signins_destroy(s->signins);
	conf_unref(s->conf);
	free(s);
}

void sensor_get_stats(const struct sensor *s, struct sensor_stats *out)
{
	*out = s->st;
	out->evicted = flow_evicted(s->flows);
	struct ipfrag_stats fs;
	ipfrag_get_stats(s->frags, &fs);
	out->reassembled = fs.reassembled;
}

/* ---- output ---- */

static void json_string(FILE *f, const char *str)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void addr_text(int family, const uint8_t *a, char *out, size_t len)
{
	if (!inet_ntop(family, a, out, (socklen_t)len))
		snprintf(out, len, "?");
}

static void emit_name(struct sensor *s, int64_t ts_us, const struct flow_key *k,
		      const char *protocol, const char *name, const struct catalog_entry *e, bool ech,
		      enum reason flag)
{
	s->st.names++;
	FILE *f = s->o.json;
	if (!f)
		return;
	char client[INET6_ADDRSTRLEN], server[INET6_ADDRSTRLEN], when[32];
	addr_text(k->family, k->client, client, sizeof(client));
	addr_text(k->family, k->server, server, sizeof(server));
	time_t sec = (time_t)(ts_us / 1000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "{\"time\":\"%s.%06dZ\",\"client\":\"%s\",\"server\":\"%s\",\"protocol\":\"%s\","
		"\"name\":", when, (int)(ts_us % 1000000), client, server, protocol);
	json_string(f, name);
	fputs(",\"platform\":", f);
	if (e)
		json_string(f, e->platform);
	else
		fputs("null", f);
	fprintf(f, ",\"ech\":%s,\"flag\":", ech ? "true" : "false");
	if (flag != REASON_NONE)
		json_string(f, verdict_reason_name(flag));
	else
		fputs("null", f);
	fputs("}\n", f);
	/* no fflush here: main.c buffers a file's output fully and flushes a
	 * live capture's at each wake-up */
}

/* ---- DNS ---- */

static void sensor_dns(struct sensor *s, const struct flow_key *k, bool from_client,
		       const uint8_t *msg, size_t len, int64_t ts_us)
{
	struct dns_message m;
	if (dns_parse(msg, len, &m) < 0 || !m.qname[0])
		return;
	if (!m.response && from_client) {
		s->st.dns_queries++;
		emit_name(s, ts_us, k, "dns", m.qname, catalog_lookup(s->catalog, m.qname), false,
			  flags_doh_name(m.qname) ? FLAG_DOH : REASON_NONE);
	} else if (m.response && !from_client) {
		for (size_t i = 0; i < m.n_addrs; i++) {
			s->st.dns_answers++;
			dns_map_add(s->dns, m.family[i], m.addr[i], m.qname, m.ttl[i],
				    (time_t)(ts_us / 1000000));
		}
	}
}

static void sensor_dns_tcp(void *ctx, const struct flow_key *k, bool from_client,
			   const uint8_t *msg, size_t len)
{
	struct sensor *s = ctx;
	sensor_dns(s, k, from_client, msg, len, s->now_us);
}

/* ---- names in a flow ---- */

static void flow_named(struct sensor *s, struct flow *f, const char *protocol, const char *name,
		       bool ech, int64_t ts_us)
{
	f->done = true;
	flow_stream_end(s->flows, f);
	if (!name)
		return;   /* a complete hello without a name: keep what DNS said, if anything */
	const struct catalog_entry *e = catalog_lookup(s->catalog, name);
	if (flags_doh_name(name))
		f->flag = FLAG_DOH;
	emit_name(s, ts_us, &f->key, protocol, name, e, ech, f->flag);
	/* With Encrypted Client Hello the outer name is the provider's, not the
	 * site's: a listed name learnt from DNS for this address says more. */
	if (ech && !e && f->entry) {
		f->ech = true;
		return;
	}
	f->protocol = protocol;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->ech = ech;
	f->entry = e;
}

static bool is_token_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* 1: Host found (out), 0: need more, -1: not an HTTP request head with a Host. */
static int http_host(const uint8_t *b, size_t n, bool full, char *out)
{
	size_t i = 0;
	while (i < n && i < 24 && is_token_char(b[i]))
		i++;
	if (i == n)
		return full ? -1 : 0;
	if (i == 0 || b[i] != ' ')
		return -1;
	/* each line after the request line, until the empty line */
	size_t line = 0;
	while (line < n && b[line] != '\n')
		line++;
	while (line < n) {
		size_t start = line + 1, end = start;
		while (end < n && b[end] != '\n')
			end++;
		if (end == n)
			break;   /* the line is not complete yet */
		size_t e = end;
		if (e > start && b[e - 1] == '\r')
			e--;
		if (e == start)
			return -1;   /* end of the head: no Host */
		if (e - start > 5 && strncasecmp((const char *)b + start, "host:", 5) == 0) {
			size_t v = start + 5;
			while (v < e && (b[v] == ' ' || b[v] == '\t'))
				v++;
			size_t ve = e;
			while (ve > v && (b[ve - 1] == ' ' || b[ve - 1] == '\t'))
				ve--;
			return hostname_normalise((const char *)b + v, ve - v, out) == HOST_NAME ? 1 : -1;
		}
		line = end;
	}
	return full ? -1 : 0;
}

static void flow_try_stream(struct sensor *s, struct flow *f, int64_t ts_us)
{
	const uint8_t *b = f->stream.buf;
	size_t n = f->stream.contiguous;
	bool full = n >= f->stream.cap;
	if (n == 0)
		return;
	struct sni_info info;
	char host[HOSTNAME_MAX + 1];
	switch (sni_parse(b, n, &info)) {
	case SNI_FOUND:
		flow_named(s, f, "tls", info.name, info.ech, ts_us);
		return;
	case SNI_ABSENT:
	case SNI_INVALID:
		flow_named(s, f, "tls", NULL, false, ts_us);
		return;
	case SNI_NEED_MORE:
		if (full)
			flow_named(s, f, "tls", NULL, false, ts_us);
		return;
	case SNI_NOT_TLS:
		break;
	}
	switch (http_host(b, n, full, host)) {
	case 1:
		flow_named(s, f, "http", host, false, ts_us);
		break;
	case -1:
		flow_named(s, f, "http", NULL, false, ts_us);
		break;
	}
}

static void sensor_tcp_client(struct sensor *s, struct flow *f, const struct packet *p,
			      int64_t ts_us)
{
	if ((p->tcp_flags & TCP_SYN) && !f->tcp_base_set) {
		f->tcp_base = p->seq + 1;
		f->tcp_base_set = true;
	}
	if (f->done || p->payload_len == 0)
		return;
	/* data in a SYN (TCP Fast Open: curl --tcp-fastopen puts the whole
	 * ClientHello there) starts after the SYN's own sequence number */
	uint32_t seq = p->seq + ((p->tcp_flags & TCP_SYN) ? 1 : 0);
	if (!f->tcp_base_set) {
		f->tcp_base = seq;
		f->tcp_base_set = true;
	}
	uint32_t off = seq - f->tcp_base;
	if (off < FLOW_STREAM_MAX) {
		if (flow_stream_add(s->flows, f, off, p->payload, p->payload_len) < 0) {
			flow_named(s, f, "tls", NULL, false, ts_us);
			return;
		}
	}
	flow_try_stream(s, f, ts_us);
	if (!f->done && f->packets >= SENSOR_MAX_TRIES)
		flow_named(s, f, "tls", NULL, false, ts_us);
}

struct quic_ctx {
	struct sensor *s;
	struct flow *f;
	bool failed;
};

static void quic_on_crypto(void *ctx, uint64_t offset, const uint8_t *data, size_t len)
{
	struct quic_ctx *q = ctx;
	if (flow_stream_add(q->s->flows, q->f, offset, data, len) < 0)
		q->failed = true;
}

static void sensor_quic_client(struct sensor *s, struct flow *f, const struct packet *p,
			       int64_t ts_us)
{
	if (f->done)
		return;
	const uint8_t *d = p->payload;
	size_t len = p->payload_len, pos = 0;
	bool any = false;
	while (pos < len && len - pos <= SENSOR_SCRATCH) {
		const uint8_t *pkt = d + pos;
		size_t plen = len - pos;
		if (!quic_looks_initial(pkt, plen))
			break;
		if (!f->quic_keys_set) {
			/* the first Initial's DCID keys the connection's Initials */
			uint32_t version = (uint32_t)pkt[1] << 24 | (uint32_t)pkt[2] << 16 |
					   (uint32_t)pkt[3] << 8 | pkt[4];
			size_t dl = pkt[5];
			if (dl > QUIC_MAX_CID || plen < 6 + dl ||
			    quic_initial_keys(version, pkt + 6, dl, &f->quic_keys) < 0)
				break;
			f->quic_keys_set = true;
		}
		struct quic_initial qi;
		enum quic_result r = quic_initial_open(pkt, plen, &f->quic_keys, &qi, s->scratch);
		if (r == QUIC_OK) {
			s->st.quic_initials++;
			any = true;
			struct quic_ctx q = {s, f, false};
			if (quic_frames(s->scratch, qi.payload_len, quic_on_crypto, &q) < 0)
				s->st.quic_failed++;
			if (q.failed) {
				flow_named(s, f, "quic", NULL, false, ts_us);
				return;
			}
		} else if (r == QUIC_BAD &&
			   quic_initial_open(pkt, plen, NULL, &qi, s->scratch) == QUIC_OK) {
			/* after a Retry the client's Initials use keys from the new DCID */
			quic_initial_keys(qi.version, qi.dcid, qi.dcid_len, &f->quic_keys);
			s->st.quic_initials++;
			any = true;
			struct quic_ctx q = {s, f, false};
			if (quic_frames(s->scratch, qi.payload_len, quic_on_crypto, &q) < 0 || q.failed)
				s->st.quic_failed++;
		} else if (r == QUIC_BAD) {
			s->st.quic_failed++;
		}
		if (qi.packet_len == 0)
			break;
		pos += qi.packet_len;
	}
	if (any && f->stream.contiguous > 0) {
		struct sni_info info;
		switch (sni_parse_handshake(f->stream.buf, f->stream.contiguous, &info)) {
		case SNI_FOUND:
			flow_named(s, f, "quic", info.name, info.ech, ts_us);
			return;
		case SNI_NEED_MORE:
			if (f->stream.contiguous < f->stream.cap)
				break;
			/* fall through */
		default:
			flow_named(s, f, "quic", NULL, false, ts_us);
			return;
		}
	}
	if (!f->done && f->packets >= SENSOR_MAX_TRIES)
		flow_named(s, f, "quic", NULL, false, ts_us);
}

/* ---- the frame ---- */

static bool service_port(uint8_t proto, uint16_t port)
{
	if (proto == IPPROTO_UDP)
		return port == 53 || port == 443 || flags_vpn_port(proto, port);
	return port == 53 || port == 80 || port == 443 || flags_vpn_port(proto, port);
}

static int64_t minute_of(int64_t us)
{
	return us - ((us % 60000000) + 60000000) % 60000000;
}

void sensor_tick(struct sensor *s, int64_t now_us)
{
	if (now_us - s->last_expire_us < 1000000 && now_us >= s->last_expire_us)
		return;
	s->last_expire_us = now_us;
	sessions_tick(s->sessions, now_us);
	signins_tick(s->signins, now_us);
	flow_expire(s->flows, now_us, (int64_t)s->o.tcp_idle_s * 1000000,
		    (int64_t)s->o.udp_idle_s * 1000000, SENSOR_FIN_IDLE_US);
}

/* Both ports the same service port (IKE: 500 to 500): the side that sent
 * first is the client, so a reply belongs to the flow the request made. */
static bool reverse_seen(struct sensor *s, const struct packet *p)
{
	struct flow_key r;
	size_t alen = p->family == AF_INET ? 4 : 16;
	memset(&r, 0, sizeof(r));
	r.family = (uint8_t)p->family;
	r.proto = p->proto;
	memcpy(r.client, p->dst, alen);
	memcpy(r.server, p->src, alen);
	r.cport = p->dport;
	r.sport = p->sport;
	return flow_find(s->flows, &r) != NULL;
}

static bool decoded(struct sensor *s, enum decode_result r)
{
	switch (r) {
	case DECODE_OK:
		s->st.decoded++;
		return true;
	case DECODE_TRUNCATED:
		s->st.truncated++;
		return false;
	case DECODE_FRAGMENT:
		s->st.fragments++;
		return false;
	case DECODE_MALFORMED:
		s->st.malformed++;
		return false;
	default:
		s->st.unsupported++;
		return false;
	}
}

void sensor_frame(struct sensor *s, int linktype, int64_t ts_us, const uint8_t *frame,
		  size_t caplen)
{
	struct packet p;
	s->st.frames++;
	sensor_tick(s, ts_us);
	enum decode_result r = decode_frame(linktype, frame, caplen, &p);
	if (r == DECODE_FRAGMENT) {
		/* the datagram, once its last fragment is in: ipfrag.c */
		s->st.fragments++;
		const uint8_t *data;
		size_t len;
		if (ipfrag_add(s->frags, &p, ts_us, &data, &len) != 1)
			return;
		r = decode_reassembled(data, len, &p);
		if (r == DECODE_FRAGMENT)
			r = DECODE_MALFORMED;
	}
	if (!decoded(s, r))
		return;

	struct flow_key k;
	bool from_client;
	memset(&k, 0, sizeof(k));
	k.family = (uint8_t)p.family;
	k.proto = p.proto;
	size_t alen = p.family == AF_INET ? 4 : 16;
	if (service_port(p.proto, p.dport) &&
	    !(p.sport == p.dport && reverse_seen(s, &p))) {
		from_client = true;
		memcpy(k.client, p.src, alen);
		memcpy(k.server, p.dst, alen);
		k.cport = p.sport;
		k.sport = p.dport;
	} else if (service_port(p.proto, p.sport)) {
		from_client = false;
		memcpy(k.client, p.dst, alen);
		memcpy(k.server, p.src, alen);
		k.cport = p.dport;
		k.sport = p.sport;
	} else {
		s->st.unsupported++;
		return;
	}
	if (k.sport == 53) {
		if (bypass_is_proxy(s, &k)) {
			s->st.skipped_proxy++;
			return;
		}
		struct flow tmp;
		tmp.key = k;
		tmp.has_mac = from_client && p.has_src_mac;
		memcpy(tmp.mac, p.src_mac, 6);
		bypass_identify(s, &tmp, ts_us);
		if (bypass_detects(s, &k, tmp.group))
			bypass_presence(s, &k, tmp.group, ts_us);
		if (p.proto == IPPROTO_TCP) {
			/* length-prefixed messages in a byte stream (dnstcp.c) */
			s->now_us = ts_us;
			dnstcp_segment(s->dnstcp, &k, from_client, p.tcp_flags, p.seq, p.payload,
				       p.payload_len);
			return;
		}
		sensor_dns(s, &k, from_client, p.payload, p.payload_len, ts_us);
		return;
	}

	/* the proxy's own traffic never makes a flow, so a flow found is not
	 * the proxy's: the check runs on a miss only, not on every packet */
	struct flow *f = flow_find(s->flows, &k);
	if (!f) {
		if (bypass_is_proxy(s, &k)) {
			s->st.skipped_proxy++;
			return;
		}
		f = flow_create(s->flows, &k, ts_us);
		if (!f)
			return;
		s->st.flows++;
		if (from_client && p.has_src_mac) {
			memcpy(f->mac, p.src_mac, 6);
			f->has_mac = true;
		}
		bypass_identify(s, f, ts_us);
		f->detects = bypass_detects(s, &k, f->group);
		/* named from DNS until (and unless) it names itself */
		const char *dn = dns_map_lookup(s->dns, k.family, k.server, (time_t)(ts_us / 1000000));
		if (dn) {
			f->protocol = "dns";
			snprintf(f->name, sizeof(f->name), "%s", dn);
			f->entry = catalog_lookup(s->catalog, f->name);
		}
		const char *vpn = flags_vpn_port(k.proto, k.sport);
		if (vpn) {
			/* nothing to parse: the port says what it is */
			f->flag = FLAG_VPN;
			f->done = true;
			f->protocol = k.proto == IPPROTO_UDP ? "udp" : "tcp";
			emit_name(s, ts_us, &k, f->protocol, vpn, NULL, false, FLAG_VPN);
		} else if ((dn && flags_doh_name(dn)) ||
			   (k.sport == 443 && flags_doh_addr(k.family, k.server))) {
			f->flag = FLAG_DOH;
		}
	} else if (from_client && p.has_src_mac && !f->has_mac) {
		/* the client's first frame of a flow its server began (the
		 * capture started in the middle): its MAC address */
		memcpy(f->mac, p.src_mac, 6);
		f->has_mac = true;
		if (!f->user[0]) {
			bypass_identify(s, f, ts_us);
			f->detects = bypass_detects(s, &k, f->group);
		}
	}
	if (f->detects)
		bypass_presence(s, &k, f->group, ts_us);
	/* usage minutes: a progress record at each minute boundary; the
	 * client's group may change there (bypass_progress), and with it
	 * whether it marks students present */
	if (minute_of(ts_us) > minute_of(f->prog_start_us)) {
		bypass_progress(s, f, minute_of(ts_us));
		f->detects = bypass_detects(s, &k, f->group);
	}
	flow_touch(s->flows, f, ts_us);
	f->packets += from_client && p.payload_len > 0;
	if (from_client) {
		f->bytes_up += p.ip_len;
		f->prog_up += p.ip_len;
	} else {
		f->bytes_down += p.ip_len;
		f->prog_down += p.ip_len;
	}
	if (from_client && p.proto == IPPROTO_TCP)
		sensor_tcp_client(s, f, &p, ts_us);
	else if (from_client && p.proto == IPPROTO_UDP)
		sensor_quic_client(s, f, &p, ts_us);
	if (p.proto == IPPROTO_TCP) {
		if (p.tcp_flags & TCP_RST)
			flow_close(s->flows, f, "rst");
		else if (p.tcp_flags & TCP_FIN)
			f->fin = true;
	}
}
