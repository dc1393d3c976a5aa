/* Unit tests for imap/imap_parser: commands, literals, seqsets, dates, modified UTF-7. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"

static struct imap_command parse_ok(const char *text, size_t len)
{
	struct imap_command cmd;
	const char *err = NULL;

	if (len == 0)
		len = strlen(text);
	if (imap_parse_command(text, len, &cmd, &err) < 0)
		fail_msg("parse of \"%s\" failed: %s", text, err);
	return cmd;
}

static void test_simple_commands(void **state)
{
	struct imap_command cmd = parse_ok("a1 noop", 0);
	assert_string_equal(cmd.tag, "a1");
	assert_string_equal(cmd.name, "NOOP");
	assert_int_equal(cmd.arg_count, 0);
	imap_command_free(&cmd);

	cmd = parse_ok("x LOGIN alice@hosted.test \"pa ss\\\"w\\\\d\"", 0);
	assert_string_equal(cmd.name, "LOGIN");
	assert_int_equal(cmd.arg_count, 2);
	assert_int_equal(cmd.args[0].type, IMAP_ARG_ATOM);
	assert_string_equal(cmd.args[0].str, "alice@hosted.test");
	assert_int_equal(cmd.args[1].type, IMAP_ARG_STRING);
	assert_string_equal(cmd.args[1].str, "pa ss\"w\\d");
	imap_command_free(&cmd);

	cmd = parse_ok("t uid fetch 1:* (FLAGS UID)", 0);
	assert_string_equal(cmd.name, "UID FETCH");
	assert_true(cmd.uid);
	assert_int_equal(cmd.arg_count, 2);
	assert_int_equal(cmd.args[1].type, IMAP_ARG_LIST);
	assert_int_equal(cmd.args[1].count, 2);
	assert_string_equal(cmd.args[1].list[1].str, "UID");
	imap_command_free(&cmd);

	/* NIL, empty list, trailing space tolerated. */
	cmd = parse_ok("t LIST \"\" NIL () ", 0);
	assert_int_equal(cmd.arg_count, 3);
	assert_int_equal(cmd.args[0].type, IMAP_ARG_STRING);
	assert_int_equal(cmd.args[0].len, 0);
	assert_int_equal(cmd.args[1].type, IMAP_ARG_NIL);
	assert_int_equal(cmd.args[2].type, IMAP_ARG_LIST);
	assert_int_equal(cmd.args[2].count, 0);
	imap_command_free(&cmd);
}

static void test_brackets_in_atoms(void **state)
{
	struct imap_command cmd =
		parse_ok("f FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO \"X\")]<0.100> BODY[1.2.MIME] FLAGS)", 0);
	assert_int_equal(cmd.args[1].count, 3);
	assert_string_equal(cmd.args[1].list[0].str, "BODY.PEEK[HEADER.FIELDS (FROM TO \"X\")]<0.100>");
	assert_string_equal(cmd.args[1].list[1].str, "BODY[1.2.MIME]");
	imap_command_free(&cmd);

	cmd = parse_ok("s STORE 1 +FLAGS (\\Seen \\Deleted $Junk)", 0);
	assert_string_equal(cmd.args[2].list[0].str, "\\Seen");
	assert_string_equal(cmd.args[2].list[2].str, "$Junk");
	imap_command_free(&cmd);

	cmd = parse_ok("l LIST \"\" *", 0);
	assert_string_equal(cmd.args[1].str, "*");
	imap_command_free(&cmd);
}

static void test_literals(void **state)
{
	static const char text[] = "a LOGIN {5}\r\nalice {3+}\r\nx\"y";
	struct imap_command cmd = parse_ok(text, sizeof(text) - 1);
	assert_int_equal(cmd.arg_count, 2);
	assert_true(cmd.args[0].literal);
	assert_string_equal(cmd.args[0].str, "alice");
	assert_string_equal(cmd.args[1].str, "x\"y");
	imap_command_free(&cmd);

	static const char bin[] = "a X ~{3}\r\na\0b";
	cmd = parse_ok(bin, sizeof(bin) - 1);
	assert_true(cmd.args[0].literal8);
	assert_int_equal(cmd.args[0].len, 3);
	assert_memory_equal(cmd.args[0].str, "a\0b", 3);
	imap_command_free(&cmd);

	static const char spool[] = "a APPEND INBOX (\\Seen) \0" "0\0 \0" "1\0";
	cmd = parse_ok(spool, sizeof(spool) - 1);
	assert_int_equal(cmd.arg_count, 4);
	assert_int_equal(cmd.args[2].type, IMAP_ARG_SPOOL);
	assert_int_equal(cmd.args[2].len, 0);
	assert_int_equal(cmd.args[3].type, IMAP_ARG_SPOOL);
	assert_int_equal(cmd.args[3].len, 1);
	imap_command_free(&cmd);
}

struct bad_case {
	const char *text;
	size_t len;
	const char *err_part;
	const char *tag; /* expected tag even on failure */
};

static const struct bad_case bad_cases[] = {
	{ "", 0, "missing tag", "" },
	{ "a", 0, "missing command", "" },
	{ "a ", 0, "command", "a" },
	{ "a+b NOOP", 0, "tag", "" },
	{ "a LOGIN \"unterminated", 0, "unterminated quoted string", "a" },
	{ "a LOGIN \"bad\\escape\"", 0, "escaped", "a" },
	{ "a LOGIN {10}\r\nshort", 0, "shorter than announced", "a" },
	{ "a LOGIN {x}\r\nshort", 0, "literal", "a" },
	{ "a X (a b", 0, "missing )", "a" },
	{ "a X a b)", 0, "unexpected", "a" },
	{ "a X a\"b", 0, "unexpected character", "a" },
	{ "a FETCH 1 BODY[TEXT", 0, "missing ]", "a" },
	{ "a X \0" "7", 5, "NUL", "a" },
	{ "a X (a  b)", 0, "", "a" },
	{ "a UID", 0, "UID needs a command", "a" },
	{ "a X {3}\r\na\0b", 12, "NUL in a literal", "a" },
};

static void test_bad_commands(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct imap_command cmd;
		const char *err = NULL;
		size_t len = c->len ? c->len : strlen(c->text);
		if (imap_parse_command(c->text, len, &cmd, &err) == 0)
			fail_msg("case %zu (%s) parsed but should not", i, c->text);
		assert_non_null(err);
		if (strstr(err, c->err_part) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, c->err_part);
		assert_string_equal(cmd.tag, c->tag);
		imap_command_free(&cmd);
	}
}

static void test_nesting_limit(void **state)
{
	char text[256];
	struct imap_command cmd;
	const char *err = NULL;
	int n = snprintf(text, sizeof(text), "a X ");

	for (int i = 0; i < 32; i++)
		text[n++] = '(';
	for (int i = 0; i < 32; i++)
		text[n++] = ')';
	assert_int_equal(imap_parse_command(text, (size_t)n, &cmd, &err), 0);
	imap_command_free(&cmd);

	n = snprintf(text, sizeof(text), "a X ");
	for (int i = 0; i < 33; i++)
		text[n++] = '(';
	for (int i = 0; i < 33; i++)
		text[n++] = ')';
	assert_int_equal(imap_parse_command(text, (size_t)n, &cmd, &err), -1);
	assert_non_null(strstr(err, "nesting deeper than 32"));

	/* 100,000 opening parentheses: refused, not a stack overflow. */
	size_t big = 100000;
	char *deep = malloc(big + 4);
	memcpy(deep, "a X ", 4);
	memset(deep + 4, '(', big);
	assert_int_equal(imap_parse_command(deep, big + 4, &cmd, &err), -1);
	free(deep);

	/* Too many arguments. */
	size_t many = 5000;
	char *wide = malloc(4 + many * 2);
	memcpy(wide, "a X ", 4);
	for (size_t i = 0; i < many; i++)
		memcpy(wide + 4 + 2 * i, "1 ", 2);
	assert_int_equal(imap_parse_command(wide, 4 + many * 2 - 1, &cmd, &err), -1);
	assert_non_null(strstr(err, "too many arguments"));
	free(wide);
}

static void test_line_literal(void **state)
{
	uint64_t n;
	bool nonsync, binary;

	assert_int_equal(imap_line_literal(slice_cstr("a LOGIN {5}"), &n, &nonsync, &binary), 1);
	assert_true(n == 5 && !nonsync && !binary);
	assert_int_equal(imap_line_literal(slice_cstr("a APPEND x {123+}"), &n, &nonsync, &binary), 1);
	assert_true(n == 123 && nonsync && !binary);
	assert_int_equal(imap_line_literal(slice_cstr("a X ~{7}"), &n, &nonsync, &binary), 1);
	assert_true(n == 7 && binary);
	assert_int_equal(imap_line_literal(slice_cstr("a APPEND x {10000000000}"), &n, &nonsync, &binary), 1);
	assert_true(n == 10000000000ULL);
	assert_int_equal(imap_line_literal(slice_cstr("a NOOP"), &n, &nonsync, &binary), 0);
	assert_int_equal(imap_line_literal(slice_cstr("a X foo}"), &n, &nonsync, &binary), 0);
	assert_int_equal(imap_line_literal(slice_cstr("a X {}"), &n, &nonsync, &binary), -1);
	assert_int_equal(imap_line_literal(slice_cstr("a X {99999999999999999999999}"), &n, &nonsync, &binary),
			 -1);
	assert_int_equal(imap_line_literal(slice_cstr("a X {1a}"), &n, &nonsync, &binary), -1);
}

static void test_seqsets(void **state)
{
	struct imap_seqset set;
	const char *err;

	assert_int_equal(imap_parse_seqset("1,3:5,9:*", 9, &set, &err), 0);
	assert_int_equal(set.count, 3);
	assert_true(imap_seqset_contains(&set, 1, 20));
	assert_false(imap_seqset_contains(&set, 2, 20));
	assert_true(imap_seqset_contains(&set, 4, 20));
	assert_true(imap_seqset_contains(&set, 20, 20));
	assert_false(imap_seqset_contains(&set, 21, 20));
	/* 9:* with * = 3 is 3:9 */
	assert_true(imap_seqset_contains(&set, 7, 3));
	imap_seqset_free(&set);

	assert_int_equal(imap_parse_seqset("7:2", 3, &set, &err), 0);
	assert_int_equal(set.ranges[0].lo, 2);
	assert_int_equal(set.ranges[0].hi, 7);
	imap_seqset_free(&set);

	assert_int_equal(imap_parse_seqset("$", 1, &set, &err), 0);
	assert_true(set.saved);
	imap_seqset_free(&set);

	assert_int_equal(imap_parse_seqset("4294967294", 10, &set, &err), 0);
	imap_seqset_free(&set);

	static const char *const bad[] = { "", "0", "1,", ",1", "1:", "a", "1:0", "4294967296", "1::2", "1 2", "*:" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_parse_seqset(bad[i], strlen(bad[i]), &set, &err) == 0)
			fail_msg("seqset \"%s\" accepted", bad[i]);
		assert_string_equal(err, "invalid sequence set");
	}
}

static void test_dates(void **state)
{
	int64_t t;
	char out[40];

	assert_int_equal(imap_parse_date("1-Feb-1994", &t), 0);
	assert_int_equal(t, 760060800);
	assert_int_equal(imap_parse_date("01-feb-1994", &t), 0);
	assert_int_equal(t, 760060800);
	assert_int_equal(imap_parse_date("29-Feb-2024", &t), 0);
	assert_int_equal(imap_parse_date("29-Feb-2023", &t), -1);
	assert_int_equal(imap_parse_date("32-Jan-2023", &t), -1);
	assert_int_equal(imap_parse_date("1-Foo-2023", &t), -1);
	assert_int_equal(imap_parse_date("1-Feb-94", &t), -1);
	assert_int_equal(imap_parse_date("1-Feb-1994x", &t), -1);

	assert_int_equal(imap_parse_datetime("17-Jul-1996 02:44:25 -0700", &t), 0);
	assert_int_equal(t, 837596665);
	assert_int_equal(imap_parse_datetime(" 7-Jul-1996 02:44:25 +0000", &t), 0);
	assert_int_equal(imap_parse_datetime("17-Jul-1996 24:44:25 -0700", &t), -1);
	assert_int_equal(imap_parse_datetime("17-Jul-1996 02:44:25 0700", &t), -1);
	assert_int_equal(imap_parse_datetime("17-Jul-1996 02:44:25", &t), -1);

	imap_format_datetime(837596665, out, sizeof(out));
	assert_string_equal(out, "\"17-Jul-1996 09:44:25 +0000\"");
	assert_int_equal(strlen(out), 28);
}

struct mutf7_case {
	const char *utf8, *mutf7;
};

static const struct mutf7_case mutf7_cases[] = {
	{ "INBOX", "INBOX" },
	{ "Sent & Received", "Sent &- Received" },
	{ "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail" },
	{ "\xd0\x9e\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5",
	  "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-" },
	{ "", "" },
};

static void test_mutf7(void **state)
{
	char out[256];

	for (size_t i = 0; i < sizeof(mutf7_cases) / sizeof(mutf7_cases[0]); i++) {
		const struct mutf7_case *c = &mutf7_cases[i];
		assert_int_equal(imap_utf8_to_mutf7(c->utf8, strlen(c->utf8), out, sizeof(out)), 0);
		assert_string_equal(out, c->mutf7);
		assert_int_equal(imap_mutf7_to_utf8(c->mutf7, strlen(c->mutf7), out, sizeof(out)), 0);
		assert_string_equal(out, c->utf8);
	}
	static const char *const bad7[] = { "&", "&AGE-" /* 'a' encoded */, "&Jjo", "&2D3-" /* lone surrogate */,
					    "a\x80", "&AP-", "&*-" };
	for (size_t i = 0; i < sizeof(bad7) / sizeof(bad7[0]); i++)
		if (imap_mutf7_to_utf8(bad7[i], strlen(bad7[i]), out, sizeof(out)) == 0)
			fail_msg("mUTF-7 \"%s\" accepted", bad7[i]);
	static const char *const bad8[] = { "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xff" };
	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++)
		assert_int_equal(imap_utf8_to_mutf7(bad8[i], strlen(bad8[i]), out, sizeof(out)), -1);
	/* Output too small: refused, not truncated. */
	assert_int_equal(imap_utf8_to_mutf7("Entw\xc3\xbcrfe", 9, out, 8), -1);
	assert_int_equal(imap_mutf7_to_utf8("INBOX", 5, out, 5), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_commands), cmocka_unit_test(test_brackets_in_atoms),
		cmocka_unit_test(test_literals),	cmocka_unit_test(test_bad_commands),
		cmocka_unit_test(test_nesting_limit),	cmocka_unit_test(test_line_literal),
		cmocka_unit_test(test_seqsets),		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_mutf7),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
