/*
 * Unit tests for lib/csv: RFC 4180 reading, good and bad tables.
 *
 * A good case's expected text lists each record as "<line>:" followed by
 * its fields joined with '|', records separated by ' / '; inside a field a
 * line feed is shown as '^' and a carriage return as '~'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/csv.h"

static void render(const char *in, size_t len, const struct csv_limits *lim, struct buf *out, const char **err_r)
{
	struct csv_reader r;
	struct csv_record rec;
	int rc;

	buf_init(out, 0);
	*err_r = NULL;
	csv_reader_init(&r, in, len, lim);
	while ((rc = csv_read(&r, &rec, err_r)) == 1) {
		buf_appendf(out, "%s%zu:", out->len > 0 ? " / " : "", rec.line);
		for (size_t i = 0; i < rec.nfields; i++) {
			if (i > 0)
				buf_append(out, "|", 1);
			/* a field is NUL-terminated right after its bytes */
			assert_int_equal(rec.fields[i].p[rec.fields[i].len], '\0');
			for (size_t j = 0; j < rec.fields[i].len; j++) {
				char c = rec.fields[i].p[j];
				buf_append(out, c == '\n' ? "^" : c == '\r' ? "~" : &c, 1);
			}
		}
	}
	if (rc == 0)
		*err_r = NULL;
	else
		*err_r = strdup(*err_r);
	/* once finished or failed, it stays so */
	assert_int_equal(csv_read(&r, &rec, &(const char *){ NULL }), rc);
	csv_reader_free(&r);
}

static void test_good(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "a", "1:a" },
		{ "a,b,c\r\n", "1:a|b|c" },
		{ "a,b\nc,d\n", "1:a|b / 2:c|d" },
		{ "a,b\r\nc,d", "1:a|b / 2:c|d" },
		{ ",,\n", "1:||" },
		{ "\n\na\n", "1: / 2: / 3:a" },
		{ "\"a,b\",c\n", "1:a,b|c" },
		{ "\"say \"\"hi\"\"\",x\n", "1:say \"hi\"|x" },
		{ "\"\"\n", "1:" },
		{ "\"\",\"\"\n", "1:|" },
		{ "\"two\r\nlines\",x\r\ny,z\r\n", "1:two~^lines|x / 3:y|z" },
		{ "\"a\nb\nc\",d\ne\n", "1:a^b^c|d / 4:e" },
		{ "\xef\xbb\xbf" "address,password\n", "1:address|password" },
		{ " spaced , kept \n", "1: spaced | kept " },
		{ "\"quoted at end\"", "1:quoted at end" },
		{ "caf\xc3\xa9,\xe2\x82\xac\n", "1:caf\xc3\xa9|\xe2\x82\xac" },
		{ "a,\"\"\"\"\n", "1:a|\"" },
	};
	struct buf out;
	const char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		render(cases[i].in, strlen(cases[i].in), NULL, &out, &err);
		if (err != NULL)
			fail_msg("case %zu (%s): unexpected error %s", i, cases[i].in, err);
		if (strcmp(out.data != NULL ? out.data : "", cases[i].out) != 0)
			fail_msg("case %zu: got '%s', expected '%s'", i, out.data != NULL ? out.data : "",
				 cases[i].out);
		buf_free(&out);
	}
}

static void test_bad(void **state)
{
	static const struct {
		const char *in;
		size_t len; /* 0: strlen */
		const char *err;
	} cases[] = {
		{ "ab\"c,d\n", 0, "line 1: a quote (\") inside field 1" },
		{ "a\nb,\"c\"d\n", 0, "line 2: text after the closing quote of field 2 (quoted on line 2)" },
		{ "a\n\"open\nstill\n", 0, "line 2: a quoted field is not closed (the quote opened on line 2)" },
		{ "a\rb\n", 0, "line 1: a carriage return (CR) not followed by a line feed" },
		{ "a,b\r", 0, "line 1: a carriage return (CR) not followed by a line feed" },
		{ "ok\nx\0y\n", 7, "line 2: a NUL byte" },
		{ "\"q\0\"\n", 5, "line 1: a NUL byte" },
	};
	struct buf out;
	const char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].in);

		render(cases[i].in, len, NULL, &out, &err);
		if (err == NULL)
			fail_msg("case %zu: accepted, read '%s'", i, out.data != NULL ? out.data : "");
		if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			fail_msg("case %zu: error '%s', expected '%s...'", i, err, cases[i].err);
		free((void *)err);
		buf_free(&out);
	}
}

static void test_limits(void **state)
{
	const struct csv_limits lim = { .field_max = 4, .fields_max = 3, .record_max = 12 };
	struct buf out;
	const char *err;

	/* exactly at the limits */
	render("abcd,efgh\n1,2,3\n", 16, &lim, &out, &err);
	assert_null(err);
	assert_string_equal(out.data, "1:abcd|efgh / 2:1|2|3");
	buf_free(&out);

	render("ok\nabcde\n", 9, &lim, &out, &err);
	assert_non_null(err);
	assert_string_equal(err, "line 2: field 1 is longer than 4 bytes");
	free((void *)err);
	buf_free(&out);

	render("\"ab\"\"cd\"\n", 9, &lim, &out, &err); /* decoded: ab"cd, 5 bytes */
	assert_non_null(err);
	assert_string_equal(err, "line 1: field 1 is longer than 4 bytes");
	free((void *)err);
	buf_free(&out);

	render("1,2,3,4\n", 8, &lim, &out, &err);
	assert_non_null(err);
	assert_string_equal(err, "line 1: more than 3 fields in one record");
	free((void *)err);
	buf_free(&out);

	/* three fields of 4 bytes + 3 NULs = 15 > 12 */
	render("abcd,efgh,ijkl\n", 15, &lim, &out, &err);
	assert_non_null(err);
	assert_string_equal(err, "line 1: the record is longer than 12 bytes");
	free((void *)err);
	buf_free(&out);
}

/* A big file: line numbers stay right across records with embedded breaks. */
static void test_many_records(void **state)
{
	struct buf in;
	struct csv_reader r;
	struct csv_record rec;
	const char *err;
	size_t n = 0, line = 1;

	buf_init(&in, 0);
	for (int i = 0; i < 10000; i++)
		buf_appendf(&in, i % 3 == 0 ? "u%d@x.test,\"multi\r\nline\"\r\n" : "u%d@x.test,plain\n", i);
	csv_reader_init(&r, in.data, in.len, NULL);
	while (csv_read(&r, &rec, &err) == 1) {
		char want[32];

		snprintf(want, sizeof(want), "u%zu@x.test", n);
		assert_int_equal(rec.line, line);
		assert_string_equal(rec.fields[0].p, want);
		line += n % 3 == 0 ? 2 : 1;
		n++;
	}
	assert_int_equal(n, 10000);
	csv_reader_free(&r);
	buf_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_many_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
