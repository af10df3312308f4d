/*
 * breaktime-sensor: passive monitoring of what bypasses the proxy.
 *
 *   breaktime-sensor -c FILE (-i IFACE | -r FILE) [--json] [-v]
 *
 * Opens the capture first (live capture needs root or CAP_NET_RAW), then
 * drops to [proxy] user when started as root, then opens the store: the
 * database is never touched with more privilege than the proxy has. A live
 * capture's BPF filter passes only what the sensor parses, so the kernel
 * drops everything else before it is copied to us.
 *
 * Single-threaded; the store's writer thread is the only other one. SIGINT
 * and SIGTERM stop the loop; every open flow is then recorded and the
 * store drained.
 */
#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "build_config.h"
#include "conf.h"
#include "decode.h"
#include "log.h"
#include "privdrop.h"
#include "policy.h"
#include "pcapfile.h"
#include "sensor.h"
#include "store.h"
#include "tz.h"

/* stdio buffer of a capture file read with -r */
#define FILE_BUF_SIZE (1 << 20)
/* stdout's buffer for --json with -r (flushed when full and at exit) */
#define JSON_BUF_SIZE (256 << 10)

/* what sensor.c parses, the VPN ports of flags.c, and IP fragments (the
 * later ones carry no ports; ipfrag.c puts the datagrams together) */
#define SENSOR_FILTER "udp port 53 or udp port 443 or tcp port 53 or tcp port 80 or tcp port 443" \
	" or udp port 1194 or tcp port 1194 or udp port 51820 or udp port 500 or udp port 4500" \
	" or udp port 1701 or tcp port 1723 or udp port 41641" \
	" or (ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"

static volatile sig_atomic_t stop;
static pcap_t *capture;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (capture)
		pcap_breakloop(capture);   /* wakes a poll(2) waiting for packets */
}

static void usage(FILE *f)
{
	fprintf(f, "usage: breaktime-sensor -c FILE (-i IFACE | -r FILE) [--json] [-v]\n"
		   "  -c, --config FILE     breaktime.conf (default %s/breaktime/breaktime.conf)\n"
		   "  -i, --interface IFACE capture live on IFACE (root or CAP_NET_RAW)\n"
		   "  -r, --read FILE       read a pcap or pcapng capture file\n"
		   "      --json            print each name seen as a JSON line; write nothing to the store\n"
		   "      --max-flows N     flow table limit (default %d)\n"
		   "  -v, --verbose         log each record\n"
		   "  -V, --version\n", SYSCONFDIR, SENSOR_DEFAULT_MAX_FLOWS);
}

static pcap_t *open_live(const char *iface)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_create(iface, err);
	if (!p)
		fatal("%s: %s", iface, err);
	pcap_set_snaplen(p, 65535);
	pcap_set_promisc(p, 1);
	pcap_set_timeout(p, 250);
	pcap_set_immediate_mode(p, 1);
	pcap_set_buffer_size(p, 8 << 20);
	int rc = pcap_activate(p);
	if (rc < 0)
		fatal("%s: %s", iface, pcap_geterr(p));
	if (rc > 0)
		log_warn("%s: %s", iface, pcap_geterr(p));
	/* VLAN-tagged frames need the filter repeated after "vlan" where the link
	 * type has tags; elsewhere that form does not compile */
	struct bpf_program prog;
	if (pcap_compile(p, &prog, "(" SENSOR_FILTER ") or (vlan and (" SENSOR_FILTER "))", 1,
			 PCAP_NETMASK_UNKNOWN) < 0 &&
	    pcap_compile(p, &prog, SENSOR_FILTER, 1, PCAP_NETMASK_UNKNOWN) < 0)
		fatal("%s: filter: %s", iface, pcap_geterr(p));
	if (pcap_setfilter(p, &prog) < 0)
		fatal("%s: filter: %s", iface, pcap_geterr(p));
	pcap_freecode(&prog);
	return p;
}

struct run {
	struct sensor *s;
	int linktype;
};

static int64_t now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct run *r = (struct run *)user;
	sensor_frame(r->s, r->linktype, (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec, data,
		     h->caplen);
}

/*
 * Classic pcap files (version 2.4 in this machine's byte order, the format
 * tcpdump and dumpcap -P write) are read here in large blocks and handed to
 * the sensor in place: libpcap's two fread(3)s and a copy per record were
 * ~460 instructions per packet, a quarter of the sensor's work. Any record
 * that is not plain (longer than the snapshot length or 256 KiB, or cut
 * short by the end of the file) hands the file back to libpcap at that
 * record, which then reads, trims or reports it exactly as before;
 * pcapng and other byte orders never come here.
 */
#define FAST_BUF (4 << 20)
/* frames between looks at the store's queue */
#define FILE_BATCH 512

/*
 * A file is read as fast as the CPU allows, far faster than a network
 * delivers it: when the store's queue is half full, wait for its writer
 * instead of letting store_submit() drop records. (A live capture never
 * waits: the kernel's ring would overflow instead.)
 */
static void file_backpressure(struct store *st)
{
	if (!st)
		return;
	struct store_stats ss;
	store_stats(st, &ss);
	if (ss.queued * 2 >= ss.queue_capacity)
		store_flush(st, 60000);
}

static bool fast_readable(pcap_t *p, int *nano)
{
	FILE *fp = pcap_file(p);
	uint32_t magic;
	if (!fp || pcap_major_version(p) != 2 || pcap_minor_version(p) != 4 ||
	    pread(fileno(fp), &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic))
		return false;
	if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
		return false;   /* pcapng, or the other byte order */
	*nano = magic == 0xa1b23c4d;
	return true;
}

/* 0: the end of the file; 1: hand the rest to libpcap (file positioned); -1: error. */
static int run_fast(pcap_t *p, struct sensor *s, struct store *st, int linktype, int nano)
{
	FILE *fp = pcap_file(p);
	int fd = fileno(fp);
	off_t off = ftello(fp);   /* just past the file header */
	uint32_t snap = (uint32_t)pcap_snapshot(p);
	uint8_t *buf = malloc(FAST_BUF);
	if (!buf || off < 0) {
		free(buf);
		return 1;
	}
	size_t have = 0, pos = 0;
	bool eof = false;
	int rc = 0;
	unsigned batch = 0;
	while (!stop) {
		if (have - pos < PCAPFILE_HDR + PCAPFILE_MAX_CAPLEN && !eof) {
			memmove(buf, buf + pos, have - pos);
			off += (off_t)pos;
			have -= pos;
			pos = 0;
			while (have < FAST_BUF && !eof) {
				ssize_t n = pread(fd, buf + have, FAST_BUF - have, off + (off_t)have);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0) {
					log_err("capture: %s", strerror(errno));
					rc = -1;
					goto out;
				}
				if (n == 0)
					eof = true;
				have += (size_t)n;
			}
		}
		if (pos == have)
			goto out;   /* the end, at a record boundary */
		/* a block holds a whole record unless at the end: 0 is a cut record */
		struct pcapfile_rec r;
		if (pcapfile_record(buf + pos, have - pos, snap, nano, &r) <= 0)
			break;
		sensor_frame(s, linktype, r.ts_us, r.data, r.caplen);
		pos += r.size;
		if (++batch == FILE_BATCH) {
			batch = 0;
			file_backpressure(st);
		}
	}
	if (!stop) {
		/* not a plain record: libpcap takes over at it */
		rc = fseeko(fp, off + (off_t)pos, SEEK_SET) == 0 ? 1 : -1;
		if (rc < 0)
			log_err("capture: %s", strerror(errno));
	}
out:
	free(buf);
	return rc;
}

static int run_file(pcap_t *p, struct sensor *s, struct store *st, int linktype)
{
	struct run r = {s, linktype};
	int nano;
	if (fast_readable(p, &nano)) {
		int rc = run_fast(p, s, st, linktype, nano);
		if (rc <= 0)
			return rc < 0;
	}
	while (!stop) {
		file_backpressure(st);
		int n = pcap_dispatch(p, FILE_BATCH, on_packet, (u_char *)&r);
		if (n == 0 || n == PCAP_ERROR_BREAK)
			return 0;   /* end of the file, or a signal */
		if (n < 0) {
			log_err("capture: %s", pcap_geterr(p));
			return 1;
		}
	}
	return 0;
}

/*
 * Live: poll(2) with a timeout of our own, then read what is there without
 * blocking. libpcap's read timeout is not a wake-up on Linux (TPACKET_V3
 * waits for a block), and idle flows must end, and be recorded, even when
 * nothing else arrives. --json lines are flushed at each wake-up (one
 * write(2) for what the batch found), so a person watching sees them
 * promptly.
 */
static int run_live(pcap_t *p, struct sensor *s, int linktype, FILE *json)
{
	struct run r = {s, linktype};
	char err[PCAP_ERRBUF_SIZE];
	int fd = pcap_get_selectable_fd(p);
	if (fd < 0 || pcap_setnonblock(p, 1, err) < 0)
		fatal("capture: cannot poll: %s", fd < 0 ? "no selectable descriptor" : err);
	while (!stop) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, 1000);
		if (pr < 0 && errno != EINTR) {
			log_err("capture: poll: %s", strerror(errno));
			return 1;
		}
		int n = pcap_dispatch(p, -1, on_packet, (u_char *)&r);
		if (n == PCAP_ERROR_BREAK)
			break;
		if (n < 0) {
			log_err("capture: %s", pcap_geterr(p));
			return 1;
		}
		sensor_tick(s, now_us());
		if (json)
			fflush(json);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"interface", required_argument, NULL, 'i'},
		{"read", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"max-flows", required_argument, NULL, 'm'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conf_path = SYSCONFDIR "/breaktime/breaktime.conf";
	const char *iface = NULL, *file = NULL;
	bool json = false, verbose = false;
	unsigned long max_flows = 0;
	int c;

	while ((c = getopt_long(argc, argv, "c:i:r:vVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': conf_path = optarg; break;
		case 'i': iface = optarg; break;
		case 'r': file = optarg; break;
		case 'j': json = true; break;
		case 'm':
			if (conf_parse_uint(optarg, 1UL << 24, &max_flows) < 0 || max_flows == 0) {
				fprintf(stderr, "breaktime-sensor: --max-flows: 1 to %lu\n", 1UL << 24);
				return 2;
			}
			break;
		case 'v': verbose = true; break;
		case 'V': printf("breaktime-sensor %s\n", BREAKTIME_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (!iface == !file)) {
		usage(stderr);
		return 2;
	}
	if (verbose)
		log_set_level(LOG_DEBUG);

	struct conf_errors errs = {0};
	struct conf *conf = conf_load(conf_path, &errs);
	if (!conf) {
		conf_errors_print(&errs, stderr);
		conf_errors_free(&errs);
		return 1;
	}
	conf_errors_free(&errs);

	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p;
	char *file_buf = NULL;   /* the capture file's stdio buffer, until pcap_close() */
	if (iface) {
		p = open_live(iface);
	} else {
		/* stdio's default buffer is one page: a read(2) per 4 KiB was a
		 * third of the CPU time on a file of full-sized frames */
		FILE *fp = fopen(file, "rb");
		if (!fp)
			fatal("%s: %s", file, strerror(errno));
		file_buf = malloc(FILE_BUF_SIZE);
		if (file_buf)
			setvbuf(fp, file_buf, _IOFBF, FILE_BUF_SIZE);
		p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, err);
		if (!p)
			fatal("%s: %s", file, err);
	}
	int linktype = pcap_datalink(p);
	if (!decode_linktype_supported(linktype))
		log_warn("link type %s (%d) is not one the sensor decodes: nothing will be seen",
			 pcap_datalink_val_to_name(linktype) ? pcap_datalink_val_to_name(linktype) : "?",
			 linktype);
	drop_privileges(conf->proxy.user);

	/* the store's writer thread must not take SIGINT/SIGTERM: the main
	 * thread's poll(2) would sleep on */
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	struct store *store = NULL;
	if (!json) {
		struct store_options so = {
			.verbose = verbose,
			.utc_offset = policy_tz(conf->policy) ? tz_offset_cb : NULL,
			.zone_ctx = (void *)policy_tz(conf->policy),
		};
		store = store_open_opts(conf, &so);
		if (!store)
			fatal("cannot open the store");
	}
	/* --json of a file: fully buffered (a name per write(2) and fflush was
	 * ~9,500 instructions each); live: flushed by run_live() */
	static char json_buf[JSON_BUF_SIZE];   /* static: stdout outlives main() */
	if (json && file)
		setvbuf(stdout, json_buf, _IOFBF, sizeof(json_buf));
	struct sensor_options so = {
		.max_flows = max_flows,
		.json = json ? stdout : NULL,
		.store = store,
	};
	struct sensor *s = sensor_create(conf, &so);
	if (!s)
		fatal("out of memory");

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	capture = p;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (iface)
		log_info("capturing on %s (link type %s)", iface, pcap_datalink_val_to_name(linktype));

	int rc = 0;
	if (iface)
		rc = run_live(p, s, linktype, json ? stdout : NULL);
	else
		rc = run_file(p, s, store, linktype);

	/* records every open flow; waits for the store's writer (the capture
	 * has stopped, so nothing is lost by waiting) */
	sensor_finish(s);
	struct sensor_stats st;
	sensor_get_stats(s, &st);
	sensor_destroy(s);
	log_info("frames %llu, decoded %llu, truncated %llu, fragments %llu (datagrams %llu), names %llu, "
		 "flows %llu (evicted %llu), records %llu, quic initials %llu (failed %llu)",
		 (unsigned long long)st.frames, (unsigned long long)st.decoded,
		 (unsigned long long)st.truncated, (unsigned long long)st.fragments,
		 (unsigned long long)st.reassembled,
		 (unsigned long long)st.names, (unsigned long long)st.flows,
		 (unsigned long long)st.evicted, (unsigned long long)st.records,
		 (unsigned long long)st.quic_initials, (unsigned long long)st.quic_failed);
	if (iface) {
		struct pcap_stat ps;
		if (pcap_stats(p, &ps) == 0 && ps.ps_drop)
			log_warn("the kernel dropped %u packets", ps.ps_drop);
	}
	pcap_close(p);
	free(file_buf);
	if (json)
		fflush(stdout);
	if (store)
		store_close(store);
	conf_unref(conf);
	return rc;
}
