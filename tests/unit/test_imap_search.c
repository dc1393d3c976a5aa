/* Unit tests for imap/imap_search: parsing (every key, errors, limits), evaluation, folding, FTS words. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_search.h"
#include "lib/xalloc.h"
#include "mime/mime.h"
#include "store/store_mail.h"

/* Parses "criteria" as the arguments of a SEARCH command. */
static int parse(const char *criteria, struct imap_search_program *prog, const char **err)
{
	char text[8192];
	struct imap_command cmd;
	int rc;

	snprintf(text, sizeof(text), "t SEARCH %s", criteria);
	if (imap_parse_command(text, strlen(text), &cmd, err) < 0)
		fail_msg("command parse of \"%s\" failed: %s", criteria, *err);
	rc = imap_search_parse(cmd.args, cmd.arg_count, prog, err);
	imap_command_free(&cmd);
	return rc;
}

static void parse_fails(const char *criteria, const char *want_err)
{
	struct imap_search_program prog;
	const char *err = NULL;

	if (parse(criteria, &prog, &err) == 0)
		fail_msg("\"%s\" parsed but should not", criteria);
	if (want_err != NULL && strcmp(err, want_err) != 0)
		fail_msg("\"%s\": error \"%s\", want \"%s\"", criteria, err, want_err);
	imap_search_free(&prog);
}

static void test_parse_errors(void **state)
{
	parse_fails("", "missing search criteria");
	parse_fails("FOO", "unknown search key");
	parse_fails("FROM", "search key needs a string argument");
	parse_fails("LARGER abc", "search key needs a number");
	parse_fails("LARGER 99999999999999999999999", "search key needs a number");
	parse_fails("SINCE 31-Foo-2020", "search key needs a date like 1-Feb-1994");
	parse_fails("OR SEEN", "missing search key");
	parse_fails("NOT", "missing search key");
	parse_fails("()", "empty parenthesised search key");
	parse_fails("HEADER", NULL);
	parse_fails("HEADER \"\" x", "HEADER needs a header field name");
	parse_fails("KEYWORD \"a b\"", "KEYWORD needs a flag keyword");
	parse_fails("UID", "UID needs a sequence set");
	parse_fails("UID 1:x", NULL);
	parse_fails("\"SEEN\"", "search key expected, not a string");
	parse_fails("RETURN (BOGUS) ALL", "unknown RETURN option");
	parse_fails("RETURN ALL", "RETURN needs a list of options");
	parse_fails("CHARSET", "CHARSET needs a charset name");
	parse_fails("MODSEQ \"/flags/\\\\draft\" bogus 5", "MODSEQ entry type must be priv, shared or all");
}

static void test_badcharset(void **state)
{
	struct imap_search_program prog;
	const char *err;

	assert_int_equal(parse("CHARSET ISO-8859-1 TEXT x", &prog, &err), -1);
	assert_true(prog.badcharset);
	imap_search_free(&prog);
	assert_int_equal(parse("CHARSET utf-8 TEXT x", &prog, &err), 0);
	assert_false(prog.badcharset);
	imap_search_free(&prog);
	assert_int_equal(parse("CHARSET US-ASCII ALL", &prog, &err), 0);
	imap_search_free(&prog);
}

static void test_depth_limit(void **state)
{
	char q[4096] = "";
	struct imap_search_program prog;
	const char *err;

	for (int i = 0; i < 40; i++)
		strcat(q, "NOT ");
	strcat(q, "SEEN");
	assert_int_equal(parse(q, &prog, &err), -1);
	assert_string_equal(err, "search keys nested too deeply");
	imap_search_free(&prog);
	q[0] = '\0';
	for (int i = 0; i < 30; i++)
		strcat(q, "NOT ");
	strcat(q, "SEEN");
	assert_int_equal(parse(q, &prog, &err), 0);
	imap_search_free(&prog);
	/* too many keys in one flat list */
	char *big = xmalloc(1100 * 5 + 1);
	big[0] = '\0';
	for (int i = 0; i < 1100; i++)
		strcat(big, "SEEN ");
	assert_int_equal(parse(big, &prog, &err), -1);
	assert_string_equal(err, "too many search keys");
	imap_search_free(&prog);
	free(big);
}

static void test_return_options(void **state)
{
	struct imap_search_program prog;
	const char *err;

	assert_int_equal(parse("RETURN (MIN MAX COUNT) ALL", &prog, &err), 0);
	assert_true(prog.esearch);
	assert_int_equal(prog.return_opts, IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_COUNT);
	imap_search_free(&prog);
	assert_int_equal(parse("RETURN () CHARSET UTF-8 SEEN", &prog, &err), 0);
	assert_int_equal(prog.return_opts, IMAP_SEARCH_RETURN_ALL);
	imap_search_free(&prog);
	assert_int_equal(parse("RETURN (SAVE ALL) $", &prog, &err), 0);
	assert_true(prog.uses_saved);
	assert_int_equal(prog.return_opts, IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_ALL);
	imap_search_free(&prog);
	assert_int_equal(parse("ALL", &prog, &err), 0);
	assert_false(prog.esearch);
	assert_false(prog.needs_message);
	imap_search_free(&prog);
}

/* ---- evaluation ------------------------------------------------------------------------ */

static const char sample[] =
	"Return-Path: <a@x.test>\r\n"
	"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>\r\n"
	"To: Bob <bob@example.com>,\r\n carol@example.com\r\n"
	"Cc: dave@example.net\r\n"
	"Subject: Quarterly report\r\n"
	"Date: Mon, 3 Feb 2020 23:30:00 -0500\r\n"
	"X-Tag: alpha\r\n"
	"X-Tag: beta\r\n"
	"Message-ID: <r1@example.org>\r\n"
	"\r\n"
	"The numbers for ÉTÉ are in.\r\n"
	"Ünïcödé text and a needle.\r\n";

struct loader {
	struct mime_message *m;
	int calls;
	bool fail;
};

static int load(void *arg, const struct mime_message **mime_r, struct slice *message_r)
{
	struct loader *l = arg;

	l->calls++;
	if (l->fail)
		return -1;
	if (l->m == NULL) {
		struct mime_parser *p = mime_parser_new();
		mime_parser_feed(p, sample, sizeof(sample) - 1);
		l->m = mime_parser_finish(p);
	}
	*mime_r = l->m;
	*message_r = slice_make(sample, sizeof(sample) - 1);
	return 0;
}

static struct store_mail mail = {
	.uid = 42, .flags = STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, .keywords = "$Label1 Work",
	.internal_date = 1580774400 + 3600, /* 4-Feb-2020 01:00 UTC */
	.size = 500, .modseq = 17, .body_id = 1,
};

static struct loader the_loader;
static const uint32_t saved[] = { 3, 42, 99 };

static int eval_full(const char *criteria, bool recent, const uint32_t *saved_uids, size_t saved_count)
{
	struct imap_search_program prog;
	const char *err;
	struct imap_search_msg msg = {
		.seq = 7, .mail = &mail, .recent = recent, .max_seq = 10, .max_uid = 50,
		.saved_uids = saved_uids, .saved_count = saved_count, .load = load, .load_arg = &the_loader,
	};
	int r;

	if (parse(criteria, &prog, &err) < 0)
		fail_msg("\"%s\" did not parse: %s", criteria, err);
	r = imap_search_eval(&prog, &msg);
	imap_search_free(&prog);
	return r;
}

static void expect(const char *criteria, int want)
{
	int r = eval_full(criteria, false, saved, 3);

	if (r != want)
		fail_msg("SEARCH %s: got %d, want %d", criteria, r, want);
}

static void test_flag_keys(void **state)
{
	expect("ALL", 1);
	expect("SEEN", 1);
	expect("UNSEEN", 0);
	expect("FLAGGED", 1);
	expect("UNFLAGGED", 0);
	expect("ANSWERED", 0);
	expect("UNANSWERED", 1);
	expect("DELETED", 0);
	expect("UNDELETED", 1);
	expect("DRAFT", 0);
	expect("UNDRAFT", 1);
	expect("KEYWORD work", 1);
	expect("KEYWORD $label1", 1);
	expect("KEYWORD Play", 0);
	expect("UNKEYWORD Play", 1);
	expect("UNKEYWORD Work", 0);
	expect("RECENT", 0);
	expect("OLD", 1);
	expect("NEW", 0);
	assert_int_equal(eval_full("RECENT", true, NULL, 0), 1);
	assert_int_equal(eval_full("NEW", true, NULL, 0), 0); /* recent but seen */
	assert_int_equal(eval_full("OLD", true, NULL, 0), 0);
	assert_int_equal(the_loader.calls, 0); /* no key needed the message */
}

static void test_number_keys(void **state)
{
	expect("LARGER 499", 1);
	expect("LARGER 500", 0);
	expect("SMALLER 501", 1);
	expect("SMALLER 500", 0);
	expect("7", 1);
	expect("1:6", 0);
	expect("5:*", 1);
	expect("*", 0);
	expect("1,7,9", 1);
	expect("UID 42", 1);
	expect("UID 1:41,43:*", 0);
	expect("UID *:43", 0); /* "*" is 50: 43:50 */
	expect("UID *:40", 1);
	expect("$", 1);
	assert_int_equal(eval_full("$", false, NULL, 0), 0);
	expect("MODSEQ 17", 1);
	expect("MODSEQ 18", 0);
	expect("MODSEQ \"/flags/\\\\seen\" all 10", 1);
}

static void test_date_keys(void **state)
{
	/* internal date 4-Feb-2020 01:00 UTC */
	expect("ON 4-Feb-2020", 1);
	expect("ON 3-Feb-2020", 0);
	expect("BEFORE 4-Feb-2020", 0);
	expect("BEFORE 5-Feb-2020", 1);
	expect("SINCE 4-Feb-2020", 1);
	expect("SINCE 5-Feb-2020", 0);
	/* Date: Mon, 3 Feb 2020 23:30 -0500: the sent date is the 3rd, whatever the zone */
	expect("SENTON 3-Feb-2020", 1);
	expect("SENTON 4-Feb-2020", 0);
	expect("SENTBEFORE 3-Feb-2020", 0);
	expect("SENTBEFORE 4-Feb-2020", 1);
	expect("SENTSINCE 3-Feb-2020", 1);
	expect("SENTSINCE \"4-Feb-2020\"", 0);
}

static void test_header_keys(void **state)
{
	expect("FROM jm@example", 1);
	expect("FROM \"müller\"", 1);      /* RFC 2047 decoded, case folded */
	expect("FROM \"MÜLLER\"", 1);
	expect("FROM bob", 0);
	expect("TO bob@EXAMPLE.com", 1);
	expect("TO carol", 1);         /* continuation line */
	expect("CC dave", 1);
	expect("BCC dave", 0);
	expect("SUBJECT \"quarterly REPORT\"", 1);
	expect("SUBJECT weekly", 0);
	expect("HEADER X-Tag beta", 1); /* every occurrence of the field */
	expect("HEADER x-tag gamma", 0);
	expect("HEADER X-Tag \"\"", 1); /* present */
	expect("HEADER X-Missing \"\"", 0);
	expect("HEADER Message-ID r1@", 1);
}

static void test_text_keys(void **state)
{
	expect("BODY needle", 1);
	expect("BODY NEEDLE", 1);
	expect("BODY \"été\"", 1);          /* Latin folding both ways */
	expect("BODY \"ünïcödé\"", 1);
	expect("BODY quarterly", 0);    /* header text is not body text */
	expect("TEXT quarterly", 1);
	expect("TEXT Subject", 1);
	expect("TEXT haystack", 0);
	expect("BODY \"\"", 1);
}

static void test_operators(void **state)
{
	expect("SEEN FLAGGED", 1);
	expect("SEEN DRAFT", 0);
	expect("OR DRAFT SEEN", 1);
	expect("OR DRAFT DELETED", 0);
	expect("NOT DRAFT", 1);
	expect("NOT NOT SEEN", 1);
	expect("(SEEN (FLAGGED LARGER 10))", 1);
	expect("OR (DRAFT) (NOT (DELETED))", 1);
	expect("NOT (SEEN DRAFT)", 1);
	expect("OR FROM nobody BODY needle", 1);
}

static void test_loader_failure(void **state)
{
	struct imap_search_program prog;
	const char *err;
	struct loader l = { .fail = true };
	struct imap_search_msg msg = { .seq = 1, .mail = &mail, .max_seq = 1, .max_uid = 42,
				       .load = load, .load_arg = &l };

	assert_int_equal(parse("FROM x", &prog, &err), 0);
	assert_int_equal(imap_search_eval(&prog, &msg), -1);
	imap_search_free(&prog);
	/* an OR that is decided without the message does not need it */
	assert_int_equal(parse("OR SEEN FROM x", &prog, &err), 0);
	assert_int_equal(imap_search_eval(&prog, &msg), 1);
	imap_search_free(&prog);
	assert_int_equal(l.calls, 1);
}

static void test_fold(void **state)
{
	assert_true(imap_search_contains(slice_cstr("Grüße aus KÖLN"), slice_cstr("köln")));
	assert_true(imap_search_contains(slice_cstr("ŁÓDŹ"), slice_cstr("łódź")));
	assert_true(imap_search_contains(slice_cstr("ΑΘΗΝΑ"), slice_cstr("αθηνα")));
	assert_true(imap_search_contains(slice_cstr("МОСКВА"), slice_cstr("москва")));
	assert_false(imap_search_contains(slice_cstr("abc"), slice_cstr("abcd")));
	assert_true(imap_search_contains(slice_cstr("\xff\xfe raw"), slice_cstr("RAW")));
}

static void test_fts_words(void **state)
{
	struct imap_search_program prog;
	const char *err;
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(parse("BODY Hello TEXT ab OR BODY x1y BODY x2y NOT TEXT zzz (BODY \"Wörld\")", &prog, &err), 0);
	/* only strings every match must contain, and of at least 3 characters */
	assert_int_equal(imap_search_fts_words(&prog, &b), 2);
	assert_int_equal(b.len, 6 + 7);
	assert_string_equal(b.data, "hello");
	assert_string_equal(b.data + 6, "wörld");
	imap_search_free(&prog);
	buf_free(&b);
}

static int teardown(void **state)
{
	if (the_loader.m != NULL)
		mime_message_free(the_loader.m);
	return 0;
}

/* \Recent runs (RFC 3501 2.3.2): [lo, hi), ascending. */
static void test_uid_ranges(void **state)
{
	static const struct imap_uid_range r[] = { { 3, 5 }, { 9, 10 }, { 20, UINT32_MAX } };
	static const struct {
		uint32_t uid;
		bool in;
	} cases[] = { { 1, false }, { 2, false }, { 3, true }, { 4, true }, { 5, false }, { 8, false },
		      { 9, true }, { 10, false }, { 19, false }, { 20, true }, { 4000000000u, true } };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (imap_uid_ranges_contain(r, 3, cases[i].uid) != cases[i].in)
			fail_msg("uid %u: expected %s", cases[i].uid, cases[i].in ? "in" : "out");
	assert_false(imap_uid_ranges_contain(NULL, 0, 1));
	assert_true(imap_uid_ranges_contain(r, 1, 4));
	assert_false(imap_uid_ranges_contain(r, 1, 9));
}

/* RFC 5182 2.4: what RETURN (SAVE) keeps. */
static void test_saved(void **state)
{
	struct imap_search_hit hits[] = { { .uid = 3 }, { .uid = 7 }, { .uid = 9 } };
	struct imap_search_result res = { .hits = hits, .count = 3 }, one = { .hits = hits, .count = 1 }, none = { 0 };
	const struct {
		unsigned opts;
		const struct imap_search_result *res;
		size_t n;
		uint32_t first, last;
	} cases[] = {
		{ IMAP_SEARCH_RETURN_SAVE, &res, 3, 3, 9 },
		{ IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN, &res, 1, 3, 3 },
		{ IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MAX, &res, 1, 9, 9 },
		{ IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX, &res, 2, 3, 9 },
		{ IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX, &one, 1, 3, 3 },
		{ IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_COUNT, &res, 3, 3, 9 },
		{ IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_ALL, &res, 3, 3, 9 },
		{ IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_MIN, &none, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t *uids;
		size_t n;
		imap_search_saved(cases[i].opts, cases[i].res, &uids, &n);
		if (n != cases[i].n || (n > 0 && (uids[0] != cases[i].first || uids[n - 1] != cases[i].last)))
			fail_msg("case %zu: %zu uids", i, n);
		free(uids);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),  cmocka_unit_test(test_badcharset),
		cmocka_unit_test(test_depth_limit),   cmocka_unit_test(test_return_options),
		cmocka_unit_test(test_flag_keys),     cmocka_unit_test(test_number_keys),
		cmocka_unit_test(test_date_keys),     cmocka_unit_test(test_header_keys),
		cmocka_unit_test(test_text_keys),     cmocka_unit_test(test_operators),
		cmocka_unit_test(test_loader_failure), cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fts_words),     cmocka_unit_test(test_uid_ranges),
		cmocka_unit_test(test_saved),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
