/*
 * neigh: which link-layer (MAC) address a client address has, as the
 * gateway's kernel sees it in its neighbour table (ARP for IPv4, neighbour
 * discovery for IPv6). Intercept mode binds a device to a person by it
 * (bindings.c): its other addresses (a DHCP renewal, IPv6 privacy
 * addresses) are the same device.
 *
 * DESIGN. The question is two rtnetlink requests on a plain NETLINK_ROUTE
 * socket (no library: two fixed requests and a flat answer): RTM_GETROUTE
 * for the interface the host is reached on (no neighbour when the route
 * goes through a gateway or is local), then RTM_GETNEIGH for the host's
 * entry on that interface (kernels before 4.20 cannot answer one entry:
 * their table of that family is dumped and searched instead). The kernel
 * answers at once, but may hold a request behind its routing lock (rtnl)
 * while someone else changes interfaces or routes, so the event loops never
 * ask: they read a cache (neigh_get), and one thread here asks the kernel
 * the questions they queue.
 *
 * The cache: NEIGH_SLOTS addresses, open addressing over NEIGH_PROBE slots
 * from the address's hash; when they are all taken, the least recently used
 * one that is not being asked goes. An answer is given for the TTL, then
 * still given while it is asked again (stale while revalidating: only a
 * client never seen waits). The queue: NEIGH_QUEUE questions; when full,
 * neigh_get() says NEIGH_UNKNOWN and its caller goes on without.
 *
 * Threads: neigh_get() on any thread, a mutex held for a lookup and a copy;
 * the thread alone does I/O, and calls the hooks without the mutex.
 */
#include "neigh.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fnv.h"
#include "log.h"
#include "netaddr.h"

#define NEIGH_SLOTS 4096
#define NEIGH_PROBE 16
#define NEIGH_QUEUE 256
#define NL_BUF 32768       /* the largest netlink message the kernel sends a dump in */

/* the entry states that carry a usable link-layer address (NUD_VALID but
 * NOARP, whose address is made up) */
#define NEIGH_USABLE (NUD_PERMANENT | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)

/* ---- netlink ---- */

int neigh_socket(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct timeval tv = {NEIGH_ANSWER_MS / 1000, (NEIGH_ANSWER_MS % 1000) * 1000};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* A request: the header, the family's message and room for one address. */
struct nlreq {
	struct nlmsghdr nh;
	union {
		struct rtmsg rt;
		struct ndmsg nd;
	} u;
	char attrs[64];
};

static void add_attr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(r->nh.nlmsg_len);
	struct rtattr rta = {.rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type};
	char *p = (char *)r + off;
	memcpy(p, &rta, sizeof(rta));
	memcpy(p + RTA_LENGTH(0), data, len);
	r->nh.nlmsg_len = (uint32_t)(off + RTA_ALIGN(rta.rta_len));
}

/* What a question collects from the answers. */
struct answer {
	int family;
	const uint8_t *addr;         /* the host (4 or 16 bytes) */
	int ifindex;                 /* route: found; neighbour: wanted */
	bool routed;                 /* the route goes through a gateway, or is not unicast */
	bool found;
	uint8_t mac[6];
};

typedef int nl_msg_fn(struct nlmsghdr *nh, struct answer *a);

/*
 * Send req and read its answers, each message of type `want` to fn (which
 * returns 1 when it has what it wanted). 0 when done (NLMSG_DONE, an
 * acknowledgement, an answer taken), -1 with errno (an NLMSG_ERROR's, or
 * ETIMEDOUT: nothing within NEIGH_ANSWER_MS).
 */
static int nl_ask(int fd, struct nlreq *req, uint16_t want, nl_msg_fn *fn, struct answer *a)
{
	static uint32_t seqs;
	uint32_t seq = __atomic_add_fetch(&seqs, 1, __ATOMIC_RELAXED);
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n;

	req->nh.nlmsg_seq = seq;
	do
		n = sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)req->nh.nlmsg_len)
		return -1;
	bool dump = (req->nh.nlmsg_flags & NLM_F_DUMP) != 0;
	for (;;) {
		union {
			struct nlmsghdr nh;
			char b[NL_BUF];
		} buf;
		struct iovec iov = {&buf, sizeof(buf)};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		do
			n = recvmsg(fd, &msg, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				errno = ETIMEDOUT;
			return -1;
		}
		if (msg.msg_flags & MSG_TRUNC) {
			errno = EMSGSIZE;
			return -1;
		}
		size_t left = (size_t)n;
		for (struct nlmsghdr *nh = &buf.nh; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_seq != seq)
				continue; /* the late answer of a question that timed out */
			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);
				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) || e->error == 0)
					return 0;
				errno = -e->error;
				return -1;
			}
			if (nh->nlmsg_type == want && fn(nh, a) == 1 && !dump)
				return 0;
		}
	}
}

static int on_route(struct nlmsghdr *nh, struct answer *a)
{
	struct rtmsg *rt = NLMSG_DATA(nh);
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
		return 0;
	/* local (this host itself), broadcast, unreachable...: no neighbour */
	a->routed = rt->rtm_type != RTN_UNICAST;
	size_t len = RTM_PAYLOAD(nh);
	for (struct rtattr *rta = RTM_RTA(rt); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == RTA_OIF && RTA_PAYLOAD(rta) >= sizeof(int))
			memcpy(&a->ifindex, RTA_DATA(rta), sizeof(int));
		else if (rta->rta_type == RTA_GATEWAY || rta->rta_type == RTA_VIA)
			a->routed = true; /* behind a router: its MAC is the router's */
	}
	return 1;
}

static int on_neigh(struct nlmsghdr *nh, struct answer *a)
{
	struct ndmsg *nd = NLMSG_DATA(nh);
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)) || nd->ndm_family != a->family ||
	    nd->ndm_ifindex != a->ifindex)
		return 0;
	size_t alen = a->family == AF_INET ? 4 : 16, len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd));
	const uint8_t *lladdr = NULL;
	bool ours = false;
	for (struct rtattr *rta = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == alen)
			ours = memcmp(RTA_DATA(rta), a->addr, alen) == 0;
		else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6)
			lladdr = RTA_DATA(rta);
	}
	if (!ours)
		return 0;
	/* a usable Ethernet address: not incomplete or failed, not all zeros,
	 * not a group address */
	static const uint8_t zero[6];
	if (lladdr && (nd->ndm_state & NEIGH_USABLE) && memcmp(lladdr, zero, 6) != 0 && !(lladdr[0] & 1)) {
		memcpy(a->mac, lladdr, 6);
		a->found = true;
	}
	return 1;
}

int neigh_query(int fd, const struct sockaddr *sa, uint8_t mac[6])
{
	uint8_t key[16];
	struct answer a;
	struct nlreq req;

	memset(&a, 0, sizeof(a));
	a.family = sockaddr_host_key(sa, key);
	a.addr = key;
	if (!a.family) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	size_t alen = a.family == AF_INET ? 4 : 16;
	uint32_t scope = a.family == AF_INET6 && sa->sa_family == AF_INET6
				 ? ((const struct sockaddr_in6 *)sa)->sin6_scope_id : 0;
	if (scope) {
		a.ifindex = (int)scope; /* link-local: its interface is its scope */
	} else {
		memset(&req, 0, sizeof(req));
		req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.u.rt));
		req.nh.nlmsg_type = RTM_GETROUTE;
		req.nh.nlmsg_flags = NLM_F_REQUEST;
		req.u.rt.rtm_family = (unsigned char)a.family;
		req.u.rt.rtm_dst_len = (unsigned char)(alen * 8);
		add_attr(&req, RTA_DST, key, alen);
		if (nl_ask(fd, &req, RTM_NEWROUTE, on_route, &a) < 0) {
			if (errno == ENETUNREACH || errno == EHOSTUNREACH)
				return 0; /* no route: no neighbour */
			return -1;
		}
		if (a.routed || a.ifindex <= 0)
			return 0;
	}
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.u.nd));
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.u.nd.ndm_family = (unsigned char)a.family;
	req.u.nd.ndm_ifindex = a.ifindex;
	add_attr(&req, NDA_DST, key, alen);
	if (nl_ask(fd, &req, RTM_NEWNEIGH, on_neigh, &a) < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != EOPNOTSUPP && errno != EINVAL)
			return -1;
		/* a kernel that cannot answer one entry (before 4.20): the family's table */
		memset(&req, 0, sizeof(req));
		req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.u.nd));
		req.nh.nlmsg_type = RTM_GETNEIGH;
		req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req.u.nd.ndm_family = (unsigned char)a.family;
		if (nl_ask(fd, &req, RTM_NEWNEIGH, on_neigh, &a) < 0)
			return -1;
	}
	if (!a.found)
		return 0;
	memcpy(mac, a.mac, 6);
	return 1;
}

/* ---- the cache ---- */

struct entry {
	uint8_t family;            /* 0: free */
	uint8_t addr[16];
	uint8_t mac[6];
	bool answered, has_mac;
	bool asked;                /* queued, or being asked */
	int64_t answered_ms;       /* monotonic */
	int64_t used_ms;           /* monotonic: the least recently used goes first */
};

struct question {
	struct sockaddr_any sa;    /* with an IPv6 link-local address's scope */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct entry table[NEIGH_SLOTS];
static struct question queue[NEIGH_QUEUE];
static unsigned q_head, q_len;
static bool running, stopping;
static pthread_t thread;
static struct neigh_hooks hooks;
static int64_t ttl_ms = NEIGH_TTL_MS;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The entry of (family, addr), or NULL with *victim where it would go (a
 * free slot, else the least recently used one not being asked; NULL when
 * every one is). Under the lock. */
static struct entry *find(int family, const uint8_t addr[16], struct entry **victim)
{
	size_t h = fnv32_bytes(FNV32_OFFSET, addr, 16) ^ (size_t)family;

	*victim = NULL;
	for (size_t i = 0; i < NEIGH_PROBE; i++) {
		struct entry *e = &table[(h + i) % NEIGH_SLOTS];
		if (e->family == family && memcmp(e->addr, addr, 16) == 0)
			return e;
		if (e->family == 0) {
			if (!*victim || (*victim)->family != 0)
				*victim = e;
		} else if (!e->asked && (!*victim || ((*victim)->family != 0 && e->used_ms < (*victim)->used_ms))) {
			*victim = e;
		}
	}
	return NULL;
}

/* Queue a question about sa. Under the lock. */
static bool ask(const struct sockaddr *sa)
{
	if (q_len == NEIGH_QUEUE)
		return false;
	struct question *q = &queue[(q_head + q_len) % NEIGH_QUEUE];
	memset(q, 0, sizeof(*q));
	q->sa.len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	memcpy(&q->sa.u.sa, sa, q->sa.len);
	q_len++;
	pthread_cond_signal(&wake);
	return true;
}

enum neigh_answer neigh_get(const struct sockaddr *sa, uint8_t mac[6])
{
	uint8_t key[16];
	int family = sockaddr_host_key(sa, key);
	enum neigh_answer r = NEIGH_UNKNOWN;
	struct entry *victim;

	if (!family)
		return NEIGH_UNKNOWN;
	int64_t now = mono_ms();
	pthread_mutex_lock(&lock);
	if (!running || stopping)
		goto out;
	struct entry *e = find(family, key, &victim);
	if (e) {
		e->used_ms = now;
		if (!e->answered) {
			r = NEIGH_WAIT;
			goto out;
		}
		r = e->has_mac ? NEIGH_MAC : NEIGH_NONE;
		if (e->has_mac)
			memcpy(mac, e->mac, 6);
		/* old: still the answer, asked again behind it */
		if (now - e->answered_ms >= ttl_ms && !e->asked && ask(sa))
			e->asked = true;
		goto out;
	}
	if (!victim || !ask(sa))
		goto out; /* every slot near it, or the queue, is taken by questions */
	memset(victim, 0, sizeof(*victim));
	victim->family = (uint8_t)family;
	memcpy(victim->addr, key, 16);
	victim->asked = true;
	victim->used_ms = now;
	r = NEIGH_WAIT;
out:
	pthread_mutex_unlock(&lock);
	return r;
}

static void *neigh_main(void *arg)
{
	int fd = -1;
	bool answered = false;
	int64_t last_error_log = INT64_MIN / 2;
	(void)arg;

	pthread_mutex_lock(&lock);
	while (!stopping) {
		if (q_len == 0) {
			if (answered && hooks.drained) {
				answered = false;
				pthread_mutex_unlock(&lock);
				hooks.drained();
				pthread_mutex_lock(&lock);
				continue;
			}
			answered = false;
			pthread_cond_wait(&wake, &lock);
			continue;
		}
		struct question q = queue[q_head];
		q_head = (q_head + 1) % NEIGH_QUEUE;
		q_len--;
		pthread_mutex_unlock(&lock);

		uint8_t mac[6];
		int rc = -1;
		if (fd < 0)
			fd = neigh_socket();
		if (fd >= 0)
			rc = neigh_query(fd, &q.sa.u.sa, mac);
		if (rc < 0) {
			int e = errno;
			int64_t now = mono_ms();
			if (now - last_error_log >= 60000) {
				char text[64];
				log_warn("neighbour table: cannot look up %s: %s (its MAC address is "
					 "taken as unknown)", sockaddr_ntop(&q.sa.u.sa, text, sizeof(text)),
					 strerror(e));
				last_error_log = now;
			}
			if (fd >= 0) {
				close(fd); /* a fresh socket: nothing late in it */
				fd = -1;
			}
		}

		uint8_t key[16];
		int family = sockaddr_host_key(&q.sa.u.sa, key);
		struct entry *victim;
		bool give = rc == 1;
		pthread_mutex_lock(&lock);
		struct entry *e = find(family, key, &victim);
		if (e) {
			e->asked = false;
			if (rc >= 0 || !e->answered) {
				/* a failed question keeps an earlier answer */
				e->has_mac = rc == 1;
				if (rc == 1)
					memcpy(e->mac, mac, 6);
			}
			give = e->has_mac;
			if (give)
				memcpy(mac, e->mac, 6);
			e->answered = true;
			e->answered_ms = mono_ms();
		}
		pthread_mutex_unlock(&lock);
		if (hooks.answer)
			hooks.answer(&q.sa.u.sa, give ? mac : NULL);
		answered = true;
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	if (fd >= 0)
		close(fd);
	return NULL;
}

int neigh_start(const struct neigh_hooks *h, unsigned ttl)
{
	pthread_mutex_lock(&lock);
	if (running) {
		pthread_mutex_unlock(&lock);
		return -1;
	}
	memset(&hooks, 0, sizeof(hooks));
	if (h)
		hooks = *h;
	ttl_ms = ttl ? ttl : NEIGH_TTL_MS;
	stopping = false;
	q_head = q_len = 0;
	memset(table, 0, sizeof(table));
	running = pthread_create(&thread, NULL, neigh_main, NULL) == 0;
	pthread_mutex_unlock(&lock);
	return running ? 0 : -1;
}

void neigh_stop(void)
{
	pthread_mutex_lock(&lock);
	if (!running) {
		pthread_mutex_unlock(&lock);
		return;
	}
	stopping = true;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	running = false;
	q_head = q_len = 0;
	memset(table, 0, sizeof(table));
	pthread_mutex_unlock(&lock);
}
