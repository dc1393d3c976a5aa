/*
 * Unit tests for outbound/submit_headers: Date/Message-ID added only when
 * missing, Bcc removed with its continuation lines, the body left alone,
 * From addresses found; every message fed whole, split at every position
 * and byte by byte, which must all give the same result.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "outbound/submit_headers.h"

#define NOW 1704096000 /* Mon, 01 Jan 2024 08:00:00 +0000 */

struct run {
	struct buf header, body; /* header block; body_start + the bytes not consumed */
	bool had_date, had_message_id;
	unsigned bcc_removed, from_fields;
	char from[512];          /* the From addresses joined with ' ' */
	const char *error;
};

static void run_free(struct run *r)
{
	buf_free(&r->header);
	buf_free(&r->body);
}

/* Feeds msg in pieces cut at cut1 and cut2 (or byte by byte when bytewise). */
static void run(const char *msg, size_t len, size_t cut1, size_t cut2, bool bytewise, struct run *r)
{
	struct submit_headers *h = submit_headers_new("mail.example.com", NOW);
	const struct submit_headers_result *res;
	size_t pos = 0;
	bool done = false;

	memset(r, 0, sizeof(*r));
	buf_init(&r->header, 0);
	buf_init(&r->body, 0);
	while (pos < len && !done) {
		size_t end = bytewise ? pos + 1 : pos < cut1 ? cut1 : pos < cut2 ? cut2 : len;
		size_t n = submit_headers_feed(h, msg + pos, end - pos, &done);
		pos += n;
		if (!done)
			assert_int_equal(pos, end);
	}
	if (!done)
		submit_headers_end(h);
	res = submit_headers_result(h, &r->error);
	if (res != NULL) {
		buf_append(&r->header, res->header.data, res->header.len);
		if (res->body_start.len > 0)
			buf_append(&r->body, res->body_start.data, res->body_start.len);
		r->had_date = res->had_date;
		r->had_message_id = res->had_message_id;
		r->bcc_removed = res->bcc_removed;
		r->from_fields = res->from_fields;
		for (size_t i = 0; i < res->from_count; i++) {
			strcat(r->from, i ? " " : "");
			strcat(r->from, res->from[i]);
		}
	}
	if (pos < len)
		buf_append(&r->body, msg + pos, len - pos);
	submit_headers_free(h);
}

/* Runs every split and checks they agree with the whole-message run; returns that one. */
static void run_all(const char *msg, struct run *whole)
{
	size_t len = strlen(msg);
	struct run r;

	run(msg, len, len, len, false, whole);
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b += (len / 7) + 1) {
			run(msg, len, a, b, false, &r);
			if (whole->error == NULL) {
				assert_string_equal(r.header.data, whole->header.data);
				assert_string_equal(r.body.data ? r.body.data : "", whole->body.data ? whole->body.data : "");
			}
			assert_string_equal(r.from, whole->from);
			run_free(&r);
		}
	}
	run(msg, len, 0, 0, true, &r);
	if (whole->error == NULL)
		assert_string_equal(r.header.data, whole->header.data);
	run_free(&r);
}

static void test_complete_header_unchanged(void **state)
{
	static const char msg[] = "From: Alice <alice@example.com>\r\n"
				  "Date: Sun, 31 Dec 2023 10:00:00 +0100\r\n"
				  "Message-ID: <x@example.com>\r\n"
				  "Subject: hi\r\n"
				  "\r\n"
				  "Bcc: in the body stays\r\n";
	struct run r;

	run_all(msg, &r);
	assert_null(r.error);
	assert_true(r.had_date && r.had_message_id);
	assert_int_equal(r.bcc_removed, 0);
	assert_string_equal(r.header.data, "From: Alice <alice@example.com>\r\n"
					   "Date: Sun, 31 Dec 2023 10:00:00 +0100\r\n"
					   "Message-ID: <x@example.com>\r\n"
					   "Subject: hi\r\n\r\n");
	assert_string_equal(r.body.data, "Bcc: in the body stays\r\n");
	assert_string_equal(r.from, "alice@example.com");
	assert_int_equal(r.from_fields, 1);
	run_free(&r);
}

static void test_adds_date_and_message_id(void **state)
{
	static const char msg[] = "From: bob@example.com\r\nSubject: x\r\n\r\nbody\r\n";
	struct run r;
	const char *id;

	run(msg, strlen(msg), 0, 0, false, &r);
	assert_null(r.error);
	assert_false(r.had_date || r.had_message_id);
	assert_non_null(strstr(r.header.data, "From: bob@example.com\r\nSubject: x\r\n"
					      "Date: Mon, 01 Jan 2024 08:00:00 +0000\r\nMessage-ID: <"));
	id = strstr(r.header.data, "Message-ID: <") + 13;
	for (int i = 0; i < 32; i++)
		assert_true(isxdigit((unsigned char)id[i]));
	assert_string_equal(id + 32, "@mail.example.com>\r\n\r\n");
	assert_string_equal(r.body.data, "body\r\n");
	run_free(&r);
}

static void test_message_ids_differ(void **state)
{
	char a[SUBMIT_MSGID_SIZE], b[SUBMIT_MSGID_SIZE];

	submit_headers_message_id("h.example", a);
	submit_headers_message_id("h.example", b);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 1 + 32 + 1 + 9 + 1);
}

static void test_bcc_removed_with_continuations(void **state)
{
	static const char msg[] = "From: a@example.com\r\n"
				  "bcc: hidden1@example.net,\r\n"
				  "\thidden2@example.net,\r\n"
				  "  hidden3@example.net\r\n"
				  "To: to@example.net\r\n"
				  "BCC :x@example.net\r\n"
				  "Resent-Bcc: y@example.net\r\n"
				  "Date: Mon, 01 Jan 2024 08:00:00 +0000\r\n"
				  "Message-Id: <m@x>\r\n"
				  "Subject: folded\r\n"
				  " subject\r\n"
				  "\r\n"
				  "text\r\n";
	struct run r;

	run_all(msg, &r);
	assert_null(r.error);
	assert_int_equal(r.bcc_removed, 3);
	assert_null(strstr(r.header.data, "hidden"));
	assert_string_equal(r.header.data, "From: a@example.com\r\nTo: to@example.net\r\n"
					   "Date: Mon, 01 Jan 2024 08:00:00 +0000\r\nMessage-Id: <m@x>\r\n"
					   "Subject: folded\r\n subject\r\n\r\n");
	assert_string_equal(r.body.data, "text\r\n");
	run_free(&r);
}

static void test_bare_lf_and_no_body(void **state)
{
	static const char msg[] = "From: a@example.com\nBcc: b@example.com\n\tc@example.com\nDate: x\nMessage-ID: <y>";
	struct run r;

	run_all(msg, &r);
	assert_null(r.error);
	assert_string_equal(r.header.data, "From: a@example.com\r\nDate: x\r\nMessage-ID: <y>\r\n\r\n");
	assert_int_equal(r.body.len, 0);
	run_free(&r);
}

static void test_body_without_empty_line(void **state)
{
	static const char msg[] = "From: a@example.com\r\nDate: x\r\nMessage-ID: <y>\r\nthis is text\r\nmore\r\n";
	struct run r;

	run_all(msg, &r);
	assert_null(r.error);
	assert_string_equal(r.header.data, "From: a@example.com\r\nDate: x\r\nMessage-ID: <y>\r\n\r\n");
	assert_string_equal(r.body.data, "this is text\r\nmore\r\n");
	run_free(&r);
}

static void test_header_too_large(void **state)
{
	size_t len = SUBMIT_HEADER_MAX + 100;
	char *msg = malloc(len + 1);
	struct run r;

	memcpy(msg, "X-Big: ", 7);
	memset(msg + 7, 'a', len - 7);
	msg[len] = '\0';
	run(msg, len, 1000, 200000, false, &r);
	assert_non_null(r.error);
	assert_non_null(strstr(r.error, "too large"));
	run_free(&r);
	free(msg);
}

struct from_case {
	const char *value;
	const char *want; /* addresses joined with ' ' */
	int rc;
};

static const struct from_case from_cases[] = {
	{ "alice@example.com", "alice@example.com", 0 },
	{ " Alice <alice@example.com> ", "alice@example.com", 0 },
	{ "\"Smith, Alice\" <alice@example.com>", "alice@example.com", 0 },
	{ "alice@example.com (Alice, the <boss>)", "alice@example.com", 0 },
	{ "a@example.com, B <b@example.org>", "a@example.com b@example.org", 0 },
	{ "\"a b\"@example.com", "\"a b\"@example.com", 0 },
	{ "Name <\"q\\\"x\"@example.com>", "\"q\\\"x\"@example.com", 0 },
	{ "<@route.example,@r2.example:alice@example.com>", "alice@example.com", 0 },
	{ "Team: a@example.com, b@example.com;", "a@example.com b@example.com", 0 },
	{ "undisclosed-recipients:;", "", 0 },
	{ "Display Only", "", 0 },
	{ "Alice\r\n <alice@example.com>", "alice@example.com", 0 },
	{ "alice @ example.com", "alice@example.com", 0 },
	{ "<a@x>, <b@x>, <c@x>, <d@x>", "a@x b@x c@x", -1 },
};

static void test_parse_from(void **state)
{
	for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		char **v = NULL, joined[256] = "";
		size_t n = 0;
		int rc = submit_headers_parse_from(slice_cstr(from_cases[i].value), &v, &n, 3);
		for (size_t j = 0; j < n; j++) {
			strcat(joined, j ? " " : "");
			strcat(joined, v[j]);
			free(v[j]);
		}
		free(v);
		if (rc != from_cases[i].rc || strcmp(joined, from_cases[i].want) != 0)
			fail_msg("case %zu <%s>: rc %d, got [%s], want [%s]", i, from_cases[i].value, rc, joined,
				 from_cases[i].want);
	}
}

static void test_two_from_fields(void **state)
{
	static const char msg[] = "From: a@example.com\r\nFrom: Evil <b@example.com>\r\nMessage-ID: <1@x>\r\n\r\n";
	struct run r;

	run_all(msg, &r);
	assert_null(r.error);
	assert_int_equal(r.from_fields, 2);
	assert_string_equal(r.from, "a@example.com b@example.com");
	run_free(&r);
}

static void test_date_format(void **state)
{
	char d[SUBMIT_DATE_SIZE];

	submit_headers_date(NOW, d);
	assert_string_equal(d, "Mon, 01 Jan 2024 08:00:00 +0000");
	submit_headers_date(951782400 + 86399, d); /* the leap day of 2000 */
	assert_string_equal(d, "Tue, 29 Feb 2000 23:59:59 +0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_header_unchanged),
		cmocka_unit_test(test_adds_date_and_message_id),
		cmocka_unit_test(test_message_ids_differ),
		cmocka_unit_test(test_bcc_removed_with_continuations),
		cmocka_unit_test(test_bare_lf_and_no_body),
		cmocka_unit_test(test_body_without_empty_line),
		cmocka_unit_test(test_header_too_large),
		cmocka_unit_test(test_parse_from),
		cmocka_unit_test(test_two_from_fields),
		cmocka_unit_test(test_date_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
