/*
 * Unit tests for inbound/autoreply: every "never" rule of RFC 3834 and the
 * issue, one case each, the header parser (folding, case, comments, LF-only
 * input), the date window and the once-per-period rule, and the reply
 * message (fields, threading, encodings) read back by Python's email package.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inbound/autoreply.h"

#define NOW ((int64_t)1767225600) /* Thu, 01 Jan 2026 00:00:00 +0000 */
#define DAY 86400

static const char plain_header[] = "From: Bob <bob@remote.test>\r\n"
				   "To: alice@hosted.test\r\n"
				   "Subject: Lunch\r\n"
				   " on Friday?\r\n"
				   "Message-ID: <m1@remote.test>\r\n"
				   "References: <m0@remote.test>\r\n"
				   "\r\n"
				   "List-Id: not a header, the body\r\n";

static void parse(const char *hdr, struct autoreply_headers *h)
{
	memset(h, 0, sizeof(*h));
	autoreply_headers_parse(hdr, strlen(hdr), h);
}

static enum autoreply_verdict decide_hdr(const char *hdr)
{
	struct autoreply_headers h;
	struct autoreply_facts f = { .sender = "bob@remote.test", .address = "alice@hosted.test", .headers = &h };

	parse(hdr, &h);
	return autoreply_decide(&f);
}

static void test_parse(void **state)
{
	struct autoreply_headers h;

	parse(plain_header, &h);
	assert_false(h.auto_submitted || h.list || h.bulk || h.truncated);
	assert_string_equal(h.subject, "Lunch on Friday?");
	assert_string_equal(h.message_id, "<m1@remote.test>");
	assert_string_equal(h.references, "<m0@remote.test>");
	/* LF-only input, lower-case names, a malformed Message-ID is dropped */
	parse("subject:  hi\nmessage-id: not-an-id\n\n", &h);
	assert_string_equal(h.subject, "hi");
	assert_string_equal(h.message_id, "");
	/* a line without a colon does not stop the parse */
	parse("garbage line\r\nSubject: x\r\n\r\n", &h);
	assert_string_equal(h.subject, "x");
	/* an over-long subject is cut at a character boundary */
	{
		char hdr[2048];
		size_t n = (size_t)snprintf(hdr, sizeof(hdr), "Subject: ");
		for (int i = 0; i < 300; i++)
			n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "\xc3\xa9");
		snprintf(hdr + n, sizeof(hdr) - n, "\r\n\r\n");
		parse(hdr, &h);
		assert_true(strlen(h.subject) < AUTOREPLY_SUBJECT_MAX);
		assert_int_equal(strlen(h.subject) % 2, 0);
	}
}

static void test_send(void **state)
{
	assert_int_equal(decide_hdr(plain_header), AUTOREPLY_SEND);
	assert_int_equal(decide_hdr("Auto-Submitted: no\r\n\r\n"), AUTOREPLY_SEND);
	assert_int_equal(decide_hdr("Auto-Submitted: No (a person wrote this)\r\n\r\n"), AUTOREPLY_SEND);
	assert_int_equal(decide_hdr("Precedence: first-class\r\n\r\n"), AUTOREPLY_SEND);
	assert_int_equal(decide_hdr(""), AUTOREPLY_SEND);
}

static void test_never_null_sender(void **state)
{
	struct autoreply_headers h;
	struct autoreply_facts f = { .sender = "", .address = "alice@hosted.test", .headers = &h };

	parse(plain_header, &h);
	assert_int_equal(autoreply_decide(&f), AUTOREPLY_NULL_SENDER);
	f.sender = NULL;
	assert_int_equal(autoreply_decide(&f), AUTOREPLY_NULL_SENDER);
}

static void test_never_auto_submitted(void **state)
{
	assert_int_equal(decide_hdr("Auto-Submitted: auto-replied\r\n\r\n"), AUTOREPLY_AUTO_SUBMITTED);
	assert_int_equal(decide_hdr("auto-submitted: Auto-Generated\r\n\r\n"), AUTOREPLY_AUTO_SUBMITTED);
	assert_int_equal(decide_hdr("Auto-Submitted:\r\n auto-notified; owner-email=\"x@y\"\r\n\r\n"),
			 AUTOREPLY_AUTO_SUBMITTED);
	/* present but empty is not "no" */
	assert_int_equal(decide_hdr("Auto-Submitted: \r\n\r\n"), AUTOREPLY_AUTO_SUBMITTED);
}

static void test_never_list(void **state)
{
	assert_int_equal(decide_hdr("List-Id: <dev.lists.example>\r\n\r\n"), AUTOREPLY_LIST);
	assert_int_equal(decide_hdr("list-unsubscribe: <mailto:x@y>\r\n\r\n"), AUTOREPLY_LIST);
	assert_int_equal(decide_hdr("List-Post: NO\r\n\r\n"), AUTOREPLY_LIST);
	/* "List:" alone and fields in the body are not List-* fields */
	assert_int_equal(decide_hdr("List: x\r\n\r\n"), AUTOREPLY_SEND);
}

static void test_never_bulk(void **state)
{
	assert_int_equal(decide_hdr("Precedence: bulk\r\n\r\n"), AUTOREPLY_BULK);
	assert_int_equal(decide_hdr("Precedence: LIST\r\n\r\n"), AUTOREPLY_BULK);
	assert_int_equal(decide_hdr("Precedence: junk (spam)\r\n\r\n"), AUTOREPLY_BULK);
}

static void test_never_self_catchall_robot_unknown(void **state)
{
	struct autoreply_headers h;
	struct autoreply_facts f = { .sender = "Alice@Hosted.test", .address = "alice@hosted.test", .headers = &h };

	parse(plain_header, &h);
	assert_int_equal(autoreply_decide(&f), AUTOREPLY_SELF);
	f.sender = "bob@remote.test";
	f.via_catchall = true;
	assert_int_equal(autoreply_decide(&f), AUTOREPLY_CATCHALL);
	f.via_catchall = false;
	static const char *const robots[] = { "MAILER-DAEMON@remote.test", "owner-dev@lists.test",
					      "dev-request@lists.test", "no-reply@shop.test", "noreply@x.test" };
	for (size_t i = 0; i < sizeof(robots) / sizeof(robots[0]); i++) {
		f.sender = robots[i];
		assert_int_equal(autoreply_decide(&f), AUTOREPLY_ROBOT);
	}
	f.sender = "requester@x.test";
	assert_int_equal(autoreply_decide(&f), AUTOREPLY_SEND);
	h.truncated = true;
	assert_int_equal(autoreply_decide(&f), AUTOREPLY_HEADER_UNKNOWN);
	f.headers = NULL;
	assert_int_equal(autoreply_decide(&f), AUTOREPLY_HEADER_UNKNOWN);
	assert_string_equal(autoreply_verdict_name(AUTOREPLY_LIST), "list");
}

static void test_window_and_period(void **state)
{
	assert_true(autoreply_active(true, 0, 0, NOW));
	assert_false(autoreply_active(false, 0, 0, NOW));
	assert_false(autoreply_active(true, NOW + 1, 0, NOW));
	assert_true(autoreply_active(true, NOW, 0, NOW));
	assert_false(autoreply_active(true, 0, NOW, NOW));
	assert_true(autoreply_active(true, NOW - DAY, NOW + DAY, NOW));
	assert_true(autoreply_period_over(0, NOW, 4 * DAY));
	assert_false(autoreply_period_over(NOW - 4 * DAY + 1, NOW, 4 * DAY));
	assert_true(autoreply_period_over(NOW - 4 * DAY, NOW, 4 * DAY));
}

/* Feeds text to python3's email parser and returns what the script prints. */
static char *python_read(const char *text, const char *script)
{
	char path[] = "/tmp/hermod-autoreply-XXXXXX", cmd[512], *out = calloc(1, 4096);
	int fd = mkstemp(path);
	FILE *p;
	size_t n;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c '%s' %s", script, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, 4095, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	unlink(path);
	return out;
}

static void test_build(void **state)
{
	struct autoreply_headers h;
	struct autoreply_reply r = { .from = "alice@hosted.test", .to = "bob@remote.test", .subject = "",
				     .body = "I am away until Monday.\nRegards\n", .original = &h, .date = NOW,
				     .message_id = "<r1@mx.test>" };
	struct buf out;

	parse(plain_header, &h);
	buf_init(&out, 0);
	autoreply_build(&r, &out);
	assert_non_null(strstr(out.data, "\r\nSubject: Auto: Lunch on Friday?\r\n"));
	assert_non_null(strstr(out.data, "\r\nIn-Reply-To: <m1@remote.test>\r\n"));
	assert_non_null(strstr(out.data, "\r\nReferences: <m0@remote.test>\r\n <m1@remote.test>\r\n"));
	assert_non_null(strstr(out.data, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(out.data, "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"));
	assert_non_null(strstr(out.data, "\r\n\r\nI am away until Monday.\r\nRegards\r\n"));
	for (size_t i = 0; i < out.len; i++)
		if (out.data[i] == '\n')
			assert_int_equal(out.data[i - 1], '\r');
	buf_free(&out);
}

static void test_build_utf8(void **state)
{
	static const char script[] =
		"import sys, email, email.policy\n"
		"m = email.message_from_bytes(open(sys.argv[1], \"rb\").read(), policy=email.policy.default)\n"
		"print(m[\"Subject\"]); print(m[\"To\"]); print(m.get_content().strip())\n";
	struct autoreply_reply r = { .from = "alice@hosted.test", .to = "bob@remote.test",
				     .subject = "Abwesenheitsnotiz: Jörg ist im Urlaub \xe2\x80\x94 zurück am 5. Januar, "
						"bitte wenden Sie sich an das Sekretariat",
				     .body = "Grüße\n", .date = NOW, .message_id = "<r2@mx.test>" };
	struct buf out;
	char *py, want[512];

	buf_init(&out, 0);
	autoreply_build(&r, &out);
	assert_null(strstr(out.data, "In-Reply-To"));
	assert_non_null(strstr(out.data, "Content-Transfer-Encoding: base64"));
	for (size_t i = 0; i < out.len; i++)
		assert_true((unsigned char)out.data[i] < 0x80);
	py = python_read(out.data, script);
	snprintf(want, sizeof(want), "%s\nbob@remote.test\nGrüße\n", r.subject);
	assert_string_equal(py, want);
	free(py);
	buf_free(&out);
	/* no subject at all in the original */
	{
		struct autoreply_headers h;
		parse("From: x@y\r\n\r\n", &h);
		r.subject = NULL;
		r.original = &h;
		buf_init(&out, 0);
		autoreply_build(&r, &out);
		assert_non_null(strstr(out.data, "Subject: Auto: (no subject)\r\n"));
		buf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_never_null_sender),
		cmocka_unit_test(test_never_auto_submitted),
		cmocka_unit_test(test_never_list),
		cmocka_unit_test(test_never_bulk),
		cmocka_unit_test(test_never_self_catchall_robot_unknown),
		cmocka_unit_test(test_window_and_period),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
