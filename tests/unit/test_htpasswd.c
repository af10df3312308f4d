/*
 * Unit tests: common/htpasswd and the one rule for user names
 * (common/username.h). Names are found in any case, stored in lower case,
 * and a file naming one user twice (in any case) is refused with both
 * lines named: an `Admin` line must not be a second `admin`. Files only in
 * a temporary directory; SHA-crypt hashes (fast) made with
 * `openssl passwd -5 -salt ...`.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "htpasswd.h"
#include "username.h"

#define ALICE_HASH "$5$saltsalt$Xv19JFJmLDnyTZ2BEB0bvb59x.U0wVhDlGL8Nrb5Ub2" /* Alice-pw */
#define BOB_HASH "$5$pepper12$bbgEvmVZo.5VrFgfb5Cnek0eUSvnNq1EUUEp0PLBpaC"   /* Bob-pw */

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* htpasswd_load() with stderr (the log) caught in log[size]. */
static struct htpasswd *load_logged(const char *path, char *log, size_t size)
{
	char lpath[160];
	snprintf(lpath, sizeof(lpath), "%s/log", dir);
	int fd = open(lpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	int saved = dup(2);
	dup2(fd, 2);
	struct htpasswd *h = htpasswd_load(path);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, log, size - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	close(fd);
	return h;
}

START_TEST(names_in_any_case)
{
	const char *p = write_file("users", "# staff\nAlice:" ALICE_HASH "\nbob:" BOB_HASH "\n");
	struct htpasswd *h = htpasswd_load(p);
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(htpasswd_count(h), 2);
	static const char *const alices[] = {"alice", "Alice", "ALICE", "aLiCe"};
	for (size_t i = 0; i < sizeof(alices) / sizeof(alices[0]); i++) {
		ck_assert_ptr_nonnull(htpasswd_hash(h, alices[i]));
		ck_assert_str_eq(htpasswd_hash(h, alices[i]), ALICE_HASH);
		ck_assert(htpasswd_check(h, alices[i], "Alice-pw"));
		ck_assert(!htpasswd_check(h, alices[i], "alice-pw")); /* passwords keep their case */
	}
	ck_assert_str_eq(htpasswd_hash(h, "BOB"), BOB_HASH);
	ck_assert(htpasswd_check(h, "Bob", "Bob-pw"));
	ck_assert_ptr_null(htpasswd_hash(h, "alic"));
	ck_assert_ptr_null(htpasswd_hash(h, "alicee"));
	ck_assert_ptr_null(htpasswd_hash(h, "carol"));
	ck_assert(!htpasswd_check(h, "carol", "Alice-pw"));
	htpasswd_free(h);
}
END_TEST

/* one user twice, in any case: refused, both lines named */
static const struct {
	const char *text;
	const char *error;
} dups[] = {
	{"admin:" ALICE_HASH "\nbob:" BOB_HASH "\nAdmin:" BOB_HASH "\n",
	 ":3: user admin is already on line 1"},
	{"ADMIN:" ALICE_HASH "\nadmin:" BOB_HASH "\n", ":2: user admin is already on line 1"},
	{"bob:" BOB_HASH "\nbob:" BOB_HASH "\n", ":2: user bob is already on line 1"},
	{"# x\n\nzed:" BOB_HASH "\nAl:" ALICE_HASH "\nZED:" ALICE_HASH "\n",
	 ":5: user zed is already on line 3"},
};

START_TEST(one_user_twice_is_refused)
{
	char log[2048];
	const char *p = write_file("dups", dups[_i].text);
	ck_assert_ptr_null(load_logged(p, log, sizeof(log)));
	ck_assert_msg(strstr(log, p) && strstr(log, dups[_i].error), "log: %s", log);
}
END_TEST

START_TEST(username_rule)
{
	ck_assert(username_equal("Alice", "aLICE"));
	ck_assert(!username_equal("alice", "alice "));
	ck_assert(!username_equal("alic", "alice"));
	ck_assert_int_lt(username_cmp("Adam", "bob"), 0);  /* A-Z sort as a-z */
	/* folded, not raw: '_' (0x5f) sorts after 'A' (0x41) but before 'a' */
	ck_assert_int_lt(username_cmp("_x", "Ab"), 0);
	/* bytes outside A-Z stay as they are (no locale): UTF-8 is not folded */
	ck_assert(!username_equal("\xc3\x89lise", "\xc3\xa9lise"));
	char s[] = "Mary-Ann.O'Neil@SCHOOL";
	ck_assert_str_eq(username_canon(s), "mary-ann.o'neil@school");
	char d[6];
	ck_assert_uint_eq(username_copy(d, sizeof(d), "ABCDEFG"), 5);
	ck_assert_str_eq(d, "abcde");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("htpasswd");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, names_in_any_case);
	tcase_add_loop_test(tc, one_user_twice_is_refused, 0, sizeof(dups) / sizeof(dups[0]));
	tcase_add_test(tc, username_rule);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bt-htpasswd-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return failed ? 1 : 0;
}
