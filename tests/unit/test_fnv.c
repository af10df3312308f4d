/* Unit tests: FNV-1a (common/fnv.h) against the published test vectors. */
#include <check.h>
#include <string.h>

#include "check_run.h"
#include "fnv.h"

/* From the FNV reference page's test suite (fnv1a32 / fnv1a64). */
static const struct {
	const char *in;
	size_t len;
	uint32_t h32;
	uint64_t h64;
} vectors[] = {
	{"", 0, 0x811c9dc5u, 0xcbf29ce484222325ULL},
	{"a", 1, 0xe40c292cu, 0xaf63dc4c8601ec8cULL},
	{"foobar", 6, 0xbf9cf968u, 0x85944171f73967e8ULL},
	/* bytes past a NUL count for _bytes, and high bytes are unsigned */
	{"\x00\xff\x10", 3, 0x028f5a10u, 0xd6c4081869e7cf50ULL},
};

START_TEST(test_vectors)
{
	ck_assert_uint_eq(fnv32_bytes(FNV32_OFFSET, vectors[_i].in, vectors[_i].len), vectors[_i].h32);
	ck_assert_uint_eq(fnv64_bytes(FNV64_OFFSET, vectors[_i].in, vectors[_i].len), vectors[_i].h64);
	if (strlen(vectors[_i].in) == vectors[_i].len) {
		ck_assert_uint_eq(fnv32_str(FNV32_OFFSET, vectors[_i].in), vectors[_i].h32);
		ck_assert_uint_eq(fnv64_str(FNV64_OFFSET, vectors[_i].in), vectors[_i].h64);
	}
}
END_TEST

/* Pieces hash like their concatenation: callers feed a key in parts. */
START_TEST(test_pieces)
{
	uint32_t h32 = fnv32_str(fnv32_bytes(FNV32_OFFSET, "foo", 3), "bar");
	ck_assert_uint_eq(h32, 0xbf9cf968u);
	uint64_t h64 = fnv64_byte(fnv64_str(FNV64_OFFSET, "fooba"), 'r');
	ck_assert_uint_eq(h64, 0x85944171f73967e8ULL);
	/* the string forms stop at the NUL */
	ck_assert_uint_eq(fnv32_str(FNV32_OFFSET, "a\0b"), 0xe40c292cu);
	ck_assert_uint_eq(fnv64_str(FNV64_OFFSET, "a\0b"), 0xaf63dc4c8601ec8cULL);
}
END_TEST

/* A seed is a different starting point, and so a different table layout. */
START_TEST(test_seed)
{
	ck_assert_uint_ne(fnv32_str(FNV32_OFFSET ^ 1u, "foobar"), fnv32_str(FNV32_OFFSET, "foobar"));
	ck_assert_uint_ne(fnv64_str(FNV64_OFFSET ^ 1u, "foobar"), fnv64_str(FNV64_OFFSET, "foobar"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fnv");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_vectors, 0, (int)(sizeof(vectors) / sizeof(vectors[0])));
	tcase_add_test(tc, test_pieces);
	tcase_add_test(tc, test_seed);
	suite_add_tcase(s, tc);
	return check_run(s);
}
