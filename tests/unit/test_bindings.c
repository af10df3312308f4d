/*
 * Unit tests: intercept mode's bindings (proxy/bindings.c) with the real
 * neighbour thread (proxy/neigh.c) against the kernel, in a network
 * namespace of each test's own (root only), and a real store: a sign-in is
 * recorded with the device's MAC address once the neighbour table has
 * answered (and without one for an address that has none); the device at
 * another address is the same person by its MAC address, recorded; an
 * address another device took over is not (the binding ends, recorded),
 * while the device keeps its person elsewhere; an explicit session gives
 * way to a sign-in. And many sign-ins at once, each recorded: the
 * neighbour thread may answer before the signing-in thread runs again.
 */
/* the store tests' helpers; not every one is used here */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_store_util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "bindings.h"
#include "neigh.h"
#include "netaddr.h"

static void sh(const char *cmd)
{
	int rc = system(cmd);
	ck_assert_msg(rc == 0, "%s: exit %d", cmd, rc);
}

/* As test_neigh.c: v0 (10.77.0.1/24, fd00:77::1/64) with static entries. */
static bool netns(void)
{
	if (geteuid() != 0) {
		printf("test_bindings: skipped: network namespaces need root\n");
		return false;
	}
	if (system("ip -V >/dev/null 2>&1") != 0) {
		printf("test_bindings: skipped: ip(8) (iproute2) is not installed\n");
		return false;
	}
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	sh("ip link set lo up");
	sh("ip link add v0 type veth peer name v1");
	sh("ip addr add 10.77.0.1/24 dev v0 && ip addr add 10.77.1.1/24 dev v0");
	sh("ip -6 addr add fd00:77::1/64 dev v0 nodad");
	sh("ip link set v0 up && ip link set v1 up");
	/* the phone at two IPv4 addresses and an IPv6 one; another device */
	sh("ip neigh add 10.77.0.2 lladdr 02:00:00:77:00:aa dev v0 nud permanent");
	sh("ip neigh add 10.77.0.3 lladdr 02:00:00:77:00:aa dev v0 nud permanent");
	sh("ip -6 neigh add fd00:77::2 lladdr 02:00:00:77:00:aa dev v0 nud permanent");
	sh("ip neigh add 10.77.0.4 lladdr 02:00:00:77:00:cc dev v0 nud permanent");
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
		sin6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		a.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.u.sa;
		sin->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, text, &sin->sin_addr), 1);
		a.len = sizeof(*sin);
	}
	return a;
}

/* Who text is, once the neighbour table's answer is in (as an intercepted
 * connection waits for it), or "" for nobody. */
static const char *who(const char *text, char user[64])
{
	struct sockaddr_any a = addr(text);
	int64_t now = time(NULL);
	for (int i = 0; i < 500 && bindings_wants_mac(&a.u.sa, now); i++)
		sleep_ms(10);
	ck_assert(!bindings_wants_mac(&a.u.sa, now));
	if (!bindings_identify(&a.u.sa, now, user, NULL))
		user[0] = '\0';
	return user;
}

/* The store has n rows where cond, within 5 s. */
static void rows(struct tstore *t, struct store *s, const char *cond, int64_t n)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM bindings WHERE %s", cond);
	int64_t got = -1;
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(store_flush(s, 5000), 0);
		got = count(t, sql);
		if (got == n)
			return;
		sleep_ms(100);
	}
	ck_abort_msg("%s: %lld rows, not %lld", cond, (long long)got, (long long)n);
}

static struct store *start(struct tstore *t)
{
	tstore_init(t, LOG_OTHER_COUNTS);
	struct store_options o = {.no_purge_timer = true};
	struct store *s = store_open_opts(&t->conf, &o);
	ck_assert_ptr_nonnull(s);
	bindings_open(s);
	struct neigh_hooks h = {.answer = bindings_on_neigh};
	ck_assert_int_eq(neigh_start(&h, 300), 0);
	return s;
}

static void stop(struct tstore *t, struct store *s)
{
	neigh_stop();
	bindings_close();
	store_close(s);
	tstore_finish(t);
}

START_TEST(test_sign_in_and_the_device)
{
	if (!netns())
		return;
	struct tstore t;
	struct store *s = start(&t);
	char user[64];
	int64_t now = time(NULL);
	struct sockaddr_any a;

	/* nobody yet: an unknown address is nobody's, and waits for nothing */
	a = addr("10.77.0.3");
	ck_assert(!bindings_wants_mac(&a.u.sa, now));
	ck_assert_str_eq(who("10.77.0.3", user), "");

	/* alice signs in on her phone at 10.77.0.2 */
	a = addr("10.77.0.2");
	bindings_sign_in(&a.u.sa, "alice", now, now + 3600);
	ck_assert(bindings_identify(&a.u.sa, now, user, NULL)); /* at once, recorded later */
	ck_assert_str_eq(user, "alice");
	rows(&t, s, "client = '10.77.0.2' AND user = 'alice' AND how = 'sign-in' AND mac = '02:00:00:77:00:aa'", 1);
	/* a routed client (no MAC address) and an address with no entry */
	a = addr("10.88.0.7");
	bindings_sign_in(&a.u.sa, "bob", now, now + 3600);
	a = addr("10.77.0.9");
	bindings_sign_in(&a.u.sa, "bob", now, now + 3600);
	rows(&t, s, "user = 'bob' AND how = 'sign-in' AND mac IS NULL", 2);

	/* the phone at its other addresses: alice's by its MAC address, recorded */
	ck_assert_str_eq(who("10.77.0.3", user), "alice");
	ck_assert_str_eq(who("fd00:77::2", user), "alice");
	rows(&t, s, "how = 'mac' AND user = 'alice' AND mac = '02:00:00:77:00:aa' AND until_ms = "
		    "(SELECT until_ms FROM bindings WHERE how = 'sign-in' AND user = 'alice')", 2);
	/* another device is not */
	ck_assert_str_eq(who("10.77.0.4", user), "");

	/* another device takes 10.77.0.3 over: once the cached answer is
	 * asked again (its TTL, 300 ms here), the binding there ends */
	sh("ip neigh replace 10.77.0.3 lladdr 02:00:00:77:00:cc dev v0 nud permanent");
	sleep_ms(350);
	/* past the TTL: the old answer still, while it is asked again; then the new one */
	const char *got = "alice";
	for (int i = 0; i < 100 && strcmp(got, "alice") == 0; i++) {
		got = who("10.77.0.3", user);
		sleep_ms(10);
	}
	ck_assert_str_eq(got, "");
	rows(&t, s, "client = '10.77.0.3' AND how = 'end' AND user = 'alice' AND since_ms = until_ms "
		    "AND mac = '02:00:00:77:00:aa'", 1);
	rows(&t, s, "client = '10.77.0.3' AND how = 'mac' AND until_ms = "
		    "(SELECT since_ms FROM bindings WHERE how = 'end')", 1);
	/* the phone is still alice's where it is, and at a new address */
	ck_assert_str_eq(who("fd00:77::2", user), "alice");
	sh("ip neigh add 10.77.0.5 lladdr 02:00:00:77:00:aa dev v0 nud permanent");
	ck_assert_str_eq(who("10.77.0.5", user), "alice");

	/* an explicit session vouches for an address; a sign-in there wins */
	a = addr("10.77.0.4");
	bindings_note_explicit(&a.u.sa, "carol", now);
	ck_assert_str_eq(who("10.77.0.4", user), "carol");
	bindings_sign_in(&a.u.sa, "dave", now, now + 3600);
	ck_assert_str_eq(who("10.77.0.4", user), "dave");
	bindings_note_explicit(&a.u.sa, "carol", now);
	ck_assert_str_eq(who("10.77.0.4", user), "dave");
	/* and it expires */
	ck_assert(!bindings_identify(&a.u.sa, now + 3600, user, NULL));
	stop(&t, s);
}
END_TEST

/* Many sign-ins at once, from two threads: every one is recorded. The
 * neighbour thread answers a question as soon as it is queued, maybe
 * before the signing-in thread has run again. */
struct burst {
	int first, n;
};

static void *sign_in_burst(void *arg)
{
	const struct burst *b = arg;
	int64_t now = time(NULL);
	for (int i = b->first; i < b->first + b->n; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.77.1.%d", 2 + i);
		struct sockaddr_any a = addr(text);
		bindings_sign_in(&a.u.sa, "erin", now, now + 3600);
		if (i % 8 == 0)
			sched_yield();
	}
	return NULL;
}

START_TEST(test_many_sign_ins_all_recorded)
{
	if (!netns())
		return;
	struct tstore t;
	struct store *s = start(&t);
	pthread_t th[2];
	struct burst b[2] = {{0, 120}, {120, 120}};
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, sign_in_burst, &b[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	/* each answered by the thread (no entry: no MAC address) and recorded,
	 * before the store is closed: none waits for bindings_close() */
	rows(&t, s, "user = 'erin' AND how = 'sign-in' AND mac IS NULL", 240);
	stop(&t, s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bindings");
	TCase *tc = tcase_create("kernel");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sign_in_and_the_device);
	tcase_add_test(tc, test_many_sign_ins_all_recorded);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
