/* Unit tests for lib/buf: bounded appends and the printf-free number formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"

static void test_append_uint(void **state)
{
	static const struct { uint64_t v; const char *text; } cases[] = {
		{ 0, "0" }, { 7, "7" }, { 10, "10" }, { 4294967295u, "4294967295" },
		{ UINT64_MAX, "18446744073709551615" },
	};
	struct buf b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 0);
		assert_int_equal(buf_append_uint(&b, cases[i].v), 0);
		assert_string_equal(b.data, cases[i].text);
		buf_free(&b);
	}
}

static void test_bounded(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "1234"), 0);
	assert_int_equal(buf_append_uint(&b, 5678), 0);
	assert_string_equal(b.data, "12345678");
	/* one more byte would pass the maximum: refused, buffer unchanged */
	assert_int_equal(buf_append_uint(&b, 9), -1);
	assert_int_equal(buf_appendf(&b, "%d", 1), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_appendf(&b, "%s-%u", "ab", 42u), 0);
	assert_string_equal(b.data, "ab-42");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_uint),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
