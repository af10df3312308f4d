/*
 * Unit tests: the neighbour table as breaktimed reads it (proxy/neigh.c),
 * against the real kernel in a network namespace of each test's own
 * (unshare(CLONE_NEWNET), so root only): a veth pair with static entries
 * (ip neigh add ... lladdr ... nud permanent) for IPv4, IPv6 and an IPv6
 * link-local address; an address on the link with no entry, one behind a
 * router (whose own entry must not be taken for it), this host's own and
 * loopback, one with no route at all. Then the cache and its thread: a
 * question answered once and then from the cache, an answer past its TTL
 * still given while it is asked again, a changed entry seen afterwards,
 * nothing after neigh_stop().
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "neigh.h"
#include "netaddr.h"

static const uint8_t MAC2[6] = {0x02, 0x00, 0x00, 0x77, 0x00, 0x02};
static const uint8_t MAC3[6] = {0x02, 0x00, 0x00, 0x77, 0x00, 0x03};
static const uint8_t MAC9[6] = {0x02, 0x00, 0x00, 0x77, 0x00, 0x99};

static void sh(const char *cmd)
{
	int rc = system(cmd);
	ck_assert_msg(rc == 0, "%s: exit %d", cmd, rc);
}

/*
 * A namespace of this test's own with v0 (10.77.0.1/24, fd00:77::1/64)
 * and its peer v1, and static neighbour entries on v0. false (and one line
 * on why) when it cannot be made: not root, no ip(8).
 */
static bool netns(void)
{
	if (geteuid() != 0) {
		printf("test_neigh: skipped: network namespaces need root\n");
		return false;
	}
	if (system("ip -V >/dev/null 2>&1") != 0) {
		printf("test_neigh: skipped: ip(8) (iproute2) is not installed\n");
		return false;
	}
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	sh("ip link set lo up");
	sh("ip link add v0 type veth peer name v1");
	sh("ip addr add 10.77.0.1/24 dev v0");
	sh("ip -6 addr add fd00:77::1/64 dev v0 nodad");
	sh("ip link set v0 up && ip link set v1 up");
	sh("ip neigh add 10.77.0.2 lladdr 02:00:00:77:00:02 dev v0 nud permanent");
	sh("ip neigh add 10.77.0.3 lladdr 02:00:00:77:00:03 dev v0 nud permanent");
	sh("ip -6 neigh add fd00:77::2 lladdr 02:00:00:77:00:02 dev v0 nud permanent");
	sh("ip -6 neigh add fe80::2 lladdr 02:00:00:77:00:03 dev v0 nud permanent");
	/* a router on the link, and a network behind it */
	sh("ip neigh add 10.77.0.254 lladdr 02:00:00:77:00:fe dev v0 nud permanent");
	sh("ip route add 10.88.0.0/16 via 10.77.0.254");
	return true;
}

static struct sockaddr_any addr(const char *text)
{
	struct sockaddr_any a;
	memset(&a, 0, sizeof(a));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.u.sa;
		char host[64];
		snprintf(host, sizeof(host), "%s", text);
		char *pct = strchr(host, '%');
		if (pct) {
			*pct = '\0';
			sin6->sin6_scope_id = if_nametoindex(pct + 1);
			ck_assert_uint_ne(sin6->sin6_scope_id, 0);
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(443);
		ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6->sin6_addr), 1);
		a.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.u.sa;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(443);
		ck_assert_int_eq(inet_pton(AF_INET, text, &sin->sin_addr), 1);
		a.len = sizeof(*sin);
	}
	return a;
}

/* neigh_query() for text: its result, and the MAC address when 1. */
static int query(int fd, const char *text, uint8_t mac[6])
{
	struct sockaddr_any a = addr(text);
	memset(mac, 0xee, 6);
	return neigh_query(fd, &a.u.sa, mac);
}

START_TEST(test_query)
{
	if (!netns())
		return;
	int fd = neigh_socket();
	ck_assert_int_ge(fd, 0);
	uint8_t mac[6];
	ck_assert_int_eq(query(fd, "10.77.0.2", mac), 1);
	ck_assert_mem_eq(mac, MAC2, 6);
	/* an IPv4 client on a dual-stack socket */
	ck_assert_int_eq(query(fd, "::ffff:10.77.0.3", mac), 1);
	ck_assert_mem_eq(mac, MAC3, 6);
	ck_assert_int_eq(query(fd, "fd00:77::2", mac), 1);
	ck_assert_mem_eq(mac, MAC2, 6);
	ck_assert_int_eq(query(fd, "fe80::2%v0", mac), 1);
	ck_assert_mem_eq(mac, MAC3, 6);
	/* on the link, but the kernel has no entry for it */
	ck_assert_int_eq(query(fd, "10.77.0.9", mac), 0);
	ck_assert_int_eq(query(fd, "fd00:77::9", mac), 0);
	/* behind the router: never the router's own MAC address */
	ck_assert_int_eq(query(fd, "10.88.1.1", mac), 0);
	/* this host itself, loopback, no route at all */
	ck_assert_int_eq(query(fd, "10.77.0.1", mac), 0);
	ck_assert_int_eq(query(fd, "127.0.0.1", mac), 0);
	ck_assert_int_eq(query(fd, "::1", mac), 0);
	ck_assert_int_eq(query(fd, "192.0.2.1", mac), 0);
	ck_assert_int_eq(query(fd, "2001:db8::1", mac), 0);
	/* an entry that changed: the new address */
	sh("ip neigh replace 10.77.0.2 lladdr 02:00:00:77:00:99 dev v0 nud permanent");
	ck_assert_int_eq(query(fd, "10.77.0.2", mac), 1);
	ck_assert_mem_eq(mac, MAC9, 6);
	/* and one that went */
	sh("ip neigh del 10.77.0.3 dev v0");
	ck_assert_int_eq(query(fd, "10.77.0.3", mac), 0);
	/* not an IP address */
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	ck_assert_int_eq(neigh_query(fd, (struct sockaddr *)&un, mac), -1);
	ck_assert_int_eq(errno, EAFNOSUPPORT);
	close(fd);
}
END_TEST

/* ---- the cache ---- */

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seen_cond = PTHREAD_COND_INITIALIZER;
static unsigned answers, drains;
static char last_answer[128];

static void on_answer(const struct sockaddr *sa, const uint8_t *mac)
{
	char host[64];
	pthread_mutex_lock(&seen_lock);
	answers++;
	if (mac)
		snprintf(last_answer, sizeof(last_answer), "%s %02x:%02x:%02x:%02x:%02x:%02x",
			 sockaddr_ntop(sa, host, sizeof(host)), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	else
		snprintf(last_answer, sizeof(last_answer), "%s none", sockaddr_ntop(sa, host, sizeof(host)));
	pthread_cond_broadcast(&seen_cond);
	pthread_mutex_unlock(&seen_lock);
}

static void on_drained(void)
{
	pthread_mutex_lock(&seen_lock);
	drains++;
	pthread_cond_broadcast(&seen_cond);
	pthread_mutex_unlock(&seen_lock);
}

/* Wait (at most 5 s) for the thread's n-th answer and the drain after it. */
static void wait_answers(unsigned n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&seen_lock);
	while (answers < n || drains == 0) {
		if (pthread_cond_timedwait(&seen_cond, &seen_lock, &until) != 0)
			break;
	}
	unsigned got = answers;
	pthread_mutex_unlock(&seen_lock);
	ck_assert_uint_ge(got, n);
}

static enum neigh_answer get(const char *text, uint8_t mac[6])
{
	struct sockaddr_any a = addr(text);
	memset(mac, 0xee, 6);
	return neigh_get(&a.u.sa, mac);
}

START_TEST(test_cache)
{
	if (!netns())
		return;
	uint8_t mac[6];
	/* not started: nothing to be had */
	ck_assert_int_eq(get("10.77.0.2", mac), NEIGH_UNKNOWN);
	struct neigh_hooks h = {on_answer, on_drained};
	ck_assert_int_eq(neigh_start(&h, 300), 0);
	ck_assert_int_eq(get("10.77.0.2", mac), NEIGH_WAIT);
	ck_assert_int_eq(get("::ffff:10.77.0.2", mac), NEIGH_WAIT); /* asked once */
	ck_assert_int_eq(get("10.77.0.9", mac), NEIGH_WAIT);
	wait_answers(2);
	ck_assert_int_eq(get("10.77.0.2", mac), NEIGH_MAC);
	ck_assert_mem_eq(mac, MAC2, 6);
	ck_assert_int_eq(get("::ffff:10.77.0.2", mac), NEIGH_MAC);
	ck_assert_int_eq(get("10.77.0.9", mac), NEIGH_NONE);
	pthread_mutex_lock(&seen_lock);
	ck_assert_uint_eq(answers, 2);
	pthread_mutex_unlock(&seen_lock);
	/* the entry changes: the cached answer holds for its TTL ... */
	sh("ip neigh replace 10.77.0.2 lladdr 02:00:00:77:00:99 dev v0 nud permanent");
	ck_assert_int_eq(get("10.77.0.2", mac), NEIGH_MAC);
	ck_assert_mem_eq(mac, MAC2, 6);
	pthread_mutex_lock(&seen_lock);
	ck_assert_uint_eq(answers, 2);
	pthread_mutex_unlock(&seen_lock);
	/* ... is still given after it, while it is asked again ... */
	usleep(350 * 1000);
	ck_assert_int_eq(get("10.77.0.2", mac), NEIGH_MAC);
	ck_assert_mem_eq(mac, MAC2, 6);
	wait_answers(3);
	pthread_mutex_lock(&seen_lock);
	ck_assert_str_eq(last_answer, "10.77.0.2 02:00:00:77:00:99");
	pthread_mutex_unlock(&seen_lock);
	/* ... and then the new one */
	ck_assert_int_eq(get("10.77.0.2", mac), NEIGH_MAC);
	ck_assert_mem_eq(mac, MAC9, 6);
	neigh_stop();
	ck_assert_int_eq(get("10.77.0.2", mac), NEIGH_UNKNOWN);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("neigh");
	TCase *tc = tcase_create("kernel");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_cache);
	suite_add_tcase(s, tc);
	return check_run(s);
}
