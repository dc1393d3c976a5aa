/* Unit tests for imap/imap_fetch: item parsing, and golden FETCH lines for a multipart message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch.h"
#include "mime/mime.h"
#include "store/store_mail.h"

static int parse(const char *args, bool uid, struct imap_fetch_spec *spec, const char **err)
{
	char text[4096];
	struct imap_command cmd;
	int rc;

	snprintf(text, sizeof(text), "t FETCH 1 %s", args);
	if (imap_parse_command(text, strlen(text), &cmd, err) < 0)
		fail_msg("command parse of \"%s\" failed: %s", args, *err);
	rc = imap_fetch_parse(cmd.args + 1, cmd.arg_count - 1, uid, spec, err);
	imap_command_free(&cmd);
	return rc;
}

static void parse_fails(const char *args, bool uid)
{
	struct imap_fetch_spec spec;
	const char *err;

	if (parse(args, uid, &spec, &err) == 0)
		fail_msg("FETCH %s parsed but should not", args);
	imap_fetch_spec_free(&spec);
}

static void test_parse_macros(void **state)
{
	struct imap_fetch_spec spec;
	const char *err;

	assert_int_equal(parse("FAST", false, &spec, &err), 0);
	assert_int_equal(spec.count, 3);
	assert_false(spec.need_mime);
	imap_fetch_spec_free(&spec);
	assert_int_equal(parse("all", false, &spec, &err), 0);
	assert_int_equal(spec.count, 4);
	assert_int_equal(spec.items[3].kind, IMAP_FETCH_ENVELOPE);
	assert_true(spec.need_mime);
	assert_false(spec.need_message);
	imap_fetch_spec_free(&spec);
	assert_int_equal(parse("FULL", true, &spec, &err), 0);
	assert_int_equal(spec.count, 6); /* UID first for UID FETCH */
	assert_int_equal(spec.items[0].kind, IMAP_FETCH_UID);
	assert_int_equal(spec.items[5].kind, IMAP_FETCH_BODY);
	imap_fetch_spec_free(&spec);
	parse_fails("(ALL)", false); /* macros are not items */
}

static void test_parse_sections(void **state)
{
	struct imap_fetch_spec spec;
	const char *err;

	assert_int_equal(parse("(BODY.PEEK[HEADER.FIELDS (From \"To\" x-y)]<0.100> BODY[1.2.MIME] BINARY[2]<5.10> "
			       "BINARY.SIZE[1] BODY[] RFC822.HEADER)", false, &spec, &err), 0);
	assert_int_equal(spec.count, 6);
	assert_true(spec.items[0].peek);
	assert_int_equal(spec.items[0].text, IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(spec.items[0].field_count, 3);
	assert_string_equal(spec.items[0].fields[2], "X-Y");
	assert_true(spec.items[0].partial);
	assert_int_equal(spec.items[0].length, 100);
	assert_string_equal(spec.items[0].name, "BODY[HEADER.FIELDS (FROM TO X-Y)]<0>");
	assert_string_equal(spec.items[1].part, "1.2");
	assert_int_equal(spec.items[1].text, IMAP_SECTION_MIME);
	assert_string_equal(spec.items[1].name, "BODY[1.2.MIME]");
	assert_string_equal(spec.items[2].name, "BINARY[2]<5>");
	assert_string_equal(spec.items[3].name, "BINARY.SIZE[1]");
	assert_string_equal(spec.items[4].name, "BODY[]");
	assert_true(spec.set_seen);
	assert_true(spec.need_message);
	imap_fetch_spec_free(&spec);

	assert_int_equal(parse("(BODY.PEEK[TEXT] BINARY.PEEK[1])", false, &spec, &err), 0);
	assert_false(spec.set_seen);
	imap_fetch_spec_free(&spec);
	assert_int_equal(parse("RFC822.TEXT", false, &spec, &err), 0);
	assert_true(spec.set_seen);
	imap_fetch_spec_free(&spec);
}

static void test_parse_errors(void **state)
{
	parse_fails("BOGUS", false);
	parse_fails("()", false);
	parse_fails("BODY[MIME]", false);          /* MIME needs a part */
	parse_fails("BODY[0]", false);
	parse_fails("BODY[1.0]", false);
	parse_fails("BODY[HEADER.FIELDS]", false);
	parse_fails("BODY[HEADER.FIELDS ()]", false);
	parse_fails("BODY[]<1>", false);
	parse_fails("BODY[]<1.0>", false);
	parse_fails("BODY[]<x.1>", false);
	parse_fails("BODY[]junk", false);
	parse_fails("BINARY[HEADER]", false);
	parse_fails("BODY[1234567890]", false);
	parse_fails("(FLAGS \"UID\")", false);
	parse_fails("FLAGS (CHANGEDSINCE)", false);
	parse_fails("FLAGS (CHANGEDSINCE 0)", false);
	parse_fails("FLAGS (VANISHED)", true);     /* without CHANGEDSINCE */
	parse_fails("FLAGS (CHANGEDSINCE 5 VANISHED)", false); /* not UID FETCH */
	parse_fails("FLAGS (FOO 1)", false);
}

static void test_parse_modifiers(void **state)
{
	struct imap_fetch_spec spec;
	const char *err;

	assert_int_equal(parse("(FLAGS) (CHANGEDSINCE 12345 VANISHED)", true, &spec, &err), 0);
	assert_int_equal(spec.changedsince, 12345);
	assert_true(spec.vanished);
	/* CHANGEDSINCE implies MODSEQ */
	assert_int_equal(spec.items[spec.count - 1].kind, IMAP_FETCH_MODSEQ);
	imap_fetch_spec_free(&spec);
}

static const char message[] =
	"From: Alice <alice@example.org>\r\n"
	"Subject: parts\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=XX\r\n"
	"\r\n"
	"preamble\r\n"
	"--XX\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"hello world\r\n"
	"--XX\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AGEAYg==\r\n"
	"--XX\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"\r\n"
	"inner body\r\n"
	"--XX\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Transfer-Encoding: x-uuencode\r\n"
	"\r\n"
	"begin\r\n"
	"--XX--\r\n";

static struct store_mail mail = {
	.uid = 7, .flags = STORE_FLAG_SEEN | STORE_FLAG_ANSWERED, .keywords = "$Forwarded",
	.internal_date = 1057049557, .size = sizeof(message) - 1, .modseq = 99, .body_id = 1,
};

/* Renders args for message 3 with the data already loaded (no store needed). */
static int render(const char *args, bool flags_changed, char **out_r, const char **err)
{
	struct imap_fetch_spec spec;
	struct imap_msg_data d;
	struct mime_parser *p = mime_parser_new();
	struct imap_fetch_msg msg = { .seq = 3, .mail = &mail, .flags_changed = flags_changed, .modseq = true };
	struct buf out;
	int rc;

	if (parse(args, false, &spec, err) < 0)
		fail_msg("FETCH %s: %s", args, *err);
	imap_msg_data_init(&d);
	buf_append(&d.message, message, sizeof(message) - 1);
	d.have_message = true;
	mime_parser_feed(p, message, sizeof(message) - 1);
	d.mime = mime_parser_finish(p);
	buf_init(&out, 0);
	rc = imap_fetch_render(NULL, &spec, &msg, &d, &out, err);
	imap_msg_data_free(&d);
	imap_fetch_spec_free(&spec);
	*out_r = out.data != NULL ? out.data : strdup("");
	return rc;
}

static void golden(const char *args, const char *want)
{
	char *got;
	const char *err;

	if (render(args, false, &got, &err) < 0)
		fail_msg("FETCH %s failed: %s", args, err);
	if (strcmp(got, want) != 0)
		fail_msg("FETCH %s:\n got: %s\nwant: %s", args, got, want);
	free(got);
}

static void test_render_simple(void **state)
{
	char size[64];

	golden("(FLAGS UID)", "* 3 FETCH (FLAGS (\\Answered \\Seen $Forwarded) UID 7)\r\n");
	golden("INTERNALDATE", "* 3 FETCH (INTERNALDATE \"01-Jul-2003 08:52:37 +0000\")\r\n");
	snprintf(size, sizeof(size), "* 3 FETCH (RFC822.SIZE %zu MODSEQ (99))\r\n", sizeof(message) - 1);
	golden("(RFC822.SIZE MODSEQ)", size);
	golden("BODY[HEADER.FIELDS (SUBJECT)]",
	       "* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: parts\r\n\r\n)\r\n");
	golden("BODY[HEADER.FIELDS.NOT (FROM MIME-VERSION CONTENT-TYPE)]",
	       "* 3 FETCH (BODY[HEADER.FIELDS.NOT (FROM MIME-VERSION CONTENT-TYPE)] {18}\r\nSubject: parts\r\n\r\n)\r\n");
}

static void test_render_sections(void **state)
{
	golden("BODY.PEEK[1]", "* 3 FETCH (BODY[1] {11}\r\nhello world)\r\n");
	golden("BODY.PEEK[1]<6.100>", "* 3 FETCH (BODY[1]<6> {5}\r\nworld)\r\n");
	golden("BODY.PEEK[1]<2.3>", "* 3 FETCH (BODY[1]<2> {3}\r\nllo)\r\n");
	golden("BODY.PEEK[1]<50.3>", "* 3 FETCH (BODY[1]<50> {0}\r\n)\r\n");
	golden("BODY.PEEK[1.MIME]", "* 3 FETCH (BODY[1.MIME] {43}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n)\r\n");
	golden("BODY.PEEK[3.HEADER]", "* 3 FETCH (BODY[3.HEADER] {18}\r\nSubject: inner\r\n\r\n)\r\n");
	golden("BODY.PEEK[3.TEXT]", "* 3 FETCH (BODY[3.TEXT] {10}\r\ninner body)\r\n");
	golden("BODY.PEEK[1.TEXT]", "* 3 FETCH (BODY[1.TEXT] {0}\r\n)\r\n"); /* not a message/rfc822 */
	golden("BODY.PEEK[9]", "* 3 FETCH (BODY[9] NIL)\r\n");
	golden("BODY.PEEK[]<0.5>", "* 3 FETCH (BODY[]<0> {5}\r\nFrom:)\r\n");
	golden("BODY.PEEK[TEXT]<0.8>", "* 3 FETCH (BODY[TEXT]<0> {8}\r\npreamble)\r\n");
}

static void test_render_binary(void **state)
{
	/* base64 "AGEAYg==" is NUL a NUL b: a literal8 */
	static const char want[] = "* 3 FETCH (BINARY[2] ~{4}\r\n\0a\0b)\r\n";
	char *bin;
	const char *e;
	assert_int_equal(render("BINARY.PEEK[2]", false, &bin, &e), 0);
	assert_memory_equal(bin, want, sizeof(want)); /* with the final NUL of both */
	free(bin);
	golden("BINARY.SIZE[2]", "* 3 FETCH (BINARY.SIZE[2] 4)\r\n");
	golden("BINARY.PEEK[1]", "* 3 FETCH (BINARY[1] {11}\r\nhello world)\r\n");
	golden("BINARY.PEEK[2]<1.1>", "* 3 FETCH (BINARY[2]<1> {1}\r\na)\r\n");

	char *got;
	const char *err;
	assert_int_equal(render("BINARY.PEEK[4]", false, &got, &err), -1);
	assert_ptr_equal(err, imap_fetch_unknown_cte);
	assert_string_equal(got, "");
	free(got);
}

static void test_render_structure(void **state)
{
	char *got;
	const char *err;

	assert_int_equal(render("(ENVELOPE BODYSTRUCTURE BODY)", false, &got, &err), 0);
	assert_non_null(strstr(got, "ENVELOPE (NIL \"parts\" ((\"Alice\" NIL \"alice\" \"example.org\"))"));
	assert_non_null(strstr(got, "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\")"));
	assert_non_null(strstr(got, "\"MIXED\" (\"BOUNDARY\" \"XX\")"));
	assert_non_null(strstr(got, " BODY ((\"TEXT\" \"PLAIN\""));
	free(got);
}

static void test_render_implicit_seen(void **state)
{
	char *got;
	const char *err;

	/* \Seen was just set: FLAGS (and MODSEQ under CONDSTORE) are added */
	assert_int_equal(render("BODY[1]", true, &got, &err), 0);
	assert_string_equal(got, "* 3 FETCH (BODY[1] {11}\r\nhello world FLAGS (\\Answered \\Seen $Forwarded) MODSEQ (99))\r\n");
	free(got);
	assert_int_equal(render("(FLAGS BODY[1])", true, &got, &err), 0);
	assert_null(strstr(got + 20, "FLAGS")); /* not twice */
	free(got);
}

static void test_format_flags(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	imap_fetch_format_flags(0, "", false, &b);
	assert_int_equal(b.len, 0);
	imap_fetch_format_flags(STORE_FLAG_DRAFT | STORE_FLAG_DELETED | STORE_FLAG_FLAGGED, "a b", true, &b);
	assert_string_equal(b.data, "\\Flagged \\Deleted \\Draft \\Recent a b");
	buf_free(&b);
}

/* The fast path answers byte for byte as imap_fetch_render, for every flag combination and item list. */
static void test_render_meta_matches(void **state)
{
	static const char *const lists[] = {
		"(UID FLAGS)", "(FLAGS UID)", "FLAGS", "UID", "(UID FLAGS MODSEQ)", "(MODSEQ FLAGS)",
		"(FLAGS FLAGS UID MODSEQ UID FLAGS MODSEQ UID)",
	};
	static const uint32_t seqs[] = { 1, 9, 10, 4294967295u };
	struct imap_fetch_flagtab tab;
	const char *err;

	imap_fetch_flagtab_init(&tab);
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		struct imap_fetch_spec spec;
		assert_int_equal(parse(lists[l], false, &spec, &err), 0);
		assert_true(imap_fetch_meta_only(&spec));
		for (uint32_t f = 0; f < 32; f++) {
			struct store_mail m = { .uid = seqs[f % 4] - 1 + f, .flags = f, .modseq = (uint64_t)f << 40 };
			struct imap_fetch_msg msg = { .seq = seqs[f % 4], .mail = &m, .modseq = true };
			struct imap_msg_data d;
			struct buf want, got;
			imap_msg_data_init(&d);
			buf_init(&want, 0);
			buf_init(&got, 0);
			assert_int_equal(imap_fetch_render(NULL, &spec, &msg, &d, &want, &err), 0);
			imap_fetch_render_meta(&spec, &tab, msg.seq, m.uid, f, m.modseq, &got);
			assert_string_equal(got.data, want.data);
			imap_msg_data_free(&d);
			buf_free(&want);
			buf_free(&got);
		}
		imap_fetch_spec_free(&spec);
	}
	struct imap_fetch_spec spec;
	assert_int_equal(parse("(UID FLAGS RFC822.SIZE)", false, &spec, &err), 0);
	assert_false(imap_fetch_meta_only(&spec));
	imap_fetch_spec_free(&spec);
	assert_int_equal(parse("(UID UID UID UID UID UID UID UID UID)", false, &spec, &err), 0);
	assert_false(imap_fetch_meta_only(&spec)); /* more items than the line was sized for */
	imap_fetch_spec_free(&spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_macros),	  cmocka_unit_test(test_parse_sections),
		cmocka_unit_test(test_parse_errors),	  cmocka_unit_test(test_parse_modifiers),
		cmocka_unit_test(test_render_simple),	  cmocka_unit_test(test_render_sections),
		cmocka_unit_test(test_render_binary),	  cmocka_unit_test(test_render_structure),
		cmocka_unit_test(test_render_implicit_seen), cmocka_unit_test(test_format_flags),
		cmocka_unit_test(test_render_meta_matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
