/*
 * Unit tests for outbound/dsn: golden notices (tests/unit/golden/dsn_*.txt;
 * HERMOD_UPDATE_GOLDEN=1 rewrites them), the structure every notice must
 * have (CRLF only, lines <= 998, boundaries, RFC 3464 fields), hostile
 * remote text, non-ASCII addresses and subjects, and a parse by Python's
 * email package as an independent reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lib/buf.h"
#include "outbound/dsn.h"
#include "outbound/dsn_private.h"

#define ARRIVAL 1704096000 /* Mon, 01 Jan 2024 08:00:00 +0000 */
#define HOUR 3600
#define DAY 86400

static const char original[] = "Return-Path: <alice@example.com>\r\n"
			       "From: Alice <alice@example.com>\r\n"
			       "To: bob@example.net, carol@example.org\r\n"
			       "Subject: Quarterly report\r\n"
			       " (final)\r\n"
			       "Date: Mon, 01 Jan 2024 07:59:00 +0000\r\n"
			       "Message-ID: <orig@example.com>\r\n"
			       "\r\n"
			       "Hello Bob,\r\n"
			       "the report is attached.\r\n";

static struct dsn_report base_report(const struct dsn_recipient *rcpts, size_t n)
{
	struct dsn_report r = {
		.reporting_mta = "mail.example.com",
		.sender = "alice@example.com",
		.arrival = ARRIVAL,
		.now = ARRIVAL + 4 * HOUR,
		.delay_s = 4 * HOUR,
		.lifetime_s = 3 * DAY,
		.rcpts = rcpts,
		.rcpt_count = n,
		.original = { original, sizeof(original) - 1 },
		.message_id = "<notice-1@mail.example.com>",
		.boundary = "=_hermod_test_boundary",
	};
	return r;
}

/* ---- structure ----------------------------------------------------------------------------- */

static size_t occurrences(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* CRLF only, no line over 998, the header ends, three parts, the closing delimiter last. */
static void check_structure(const struct buf *m, const char *boundary)
{
	char delim[128], close[128];
	size_t line = 0;

	for (size_t i = 0; i < m->len; i++) {
		if (m->data[i] == '\n')
			assert_true(i > 0 && m->data[i - 1] == '\r');
		if (m->data[i] == '\r')
			assert_true(i + 1 < m->len && m->data[i + 1] == '\n');
		line = m->data[i] == '\n' ? 0 : line + 1;
		if (line > DSN_LINE_MAX + 1)
			fail_msg("line over 998 octets at offset %zu", i);
	}
	assert_non_null(strstr(m->data, "\r\n\r\n"));
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", boundary);
	snprintf(close, sizeof(close), "\r\n--%s--\r\n", boundary);
	assert_int_equal(occurrences(m->data, delim), 3);
	assert_int_equal(occurrences(m->data, close), 1);
	assert_string_equal(m->data + m->len - strlen(close), close);
	assert_non_null(strstr(m->data, "From: Mail Delivery System <MAILER-DAEMON@mail.example.com>\r\n"));
	assert_non_null(strstr(m->data, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(m->data, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(m->data, "\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"));
	assert_non_null(strstr(m->data, "\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; "
					 "mail.example.com\r\n"));
	assert_non_null(strstr(m->data, "\r\nArrival-Date: Mon, 01 Jan 2024 08:00:00 +0000\r\n"));
}

/* The text with line breaks (and the indentation after them) made single spaces. */
static char *flat(const struct buf *m)
{
	char *out = malloc(m->len + 1);
	size_t n = 0;

	for (size_t i = 0; i < m->len; i++) {
		if (m->data[i] == '\r' && m->data[i + 1] == '\n') {
			i++;
			while (i + 1 < m->len && m->data[i + 1] == ' ')
				i++;
			out[n++] = ' ';
		} else {
			out[n++] = m->data[i];
		}
	}
	out[n] = '\0';
	return out;
}

static void assert_text(const struct buf *m, const char *text)
{
	char *f = flat(m);
	if (strstr(f, text) == NULL) {
		free(f);
		fail_msg("text not found: %s\nin:\n%s", text, m->data);
	}
	free(f);
}

static void build_ok(const struct dsn_report *r, struct buf *out)
{
	const char *err = NULL;

	buf_init(out, 0);
	if (dsn_build(r, out, &err) < 0)
		fail_msg("dsn_build: %s", err);
	{
		const char *b = strstr(out->data, "boundary=\"");
		char boundary[100];
		assert_non_null(b);
		b += 10;
		snprintf(boundary, sizeof(boundary), "%.*s", (int)strcspn(b, "\""), b);
		if (r->boundary != NULL)
			assert_string_equal(boundary, r->boundary);
		check_structure(out, boundary);
	}
}

/* ---- golden files and Python ---------------------------------------------------------------- */

static void golden(const char *name, const struct buf *m)
{
	const char *src = getenv("HERMOD_TEST_SRC");
	char path[PATH_MAX];
	FILE *f;
	char *want;
	long len;

	snprintf(path, sizeof(path), "%s/golden/%s", src != NULL ? src : "tests/unit", name);
	if (getenv("HERMOD_UPDATE_GOLDEN") != NULL) {
		f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(m->data, 1, m->len, f);
		fclose(f);
		return;
	}
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (HERMOD_TEST_SRC unset?)", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	want = malloc((size_t)len + 1);
	assert_int_equal(fread(want, 1, (size_t)len, f), (size_t)len);
	want[len] = '\0';
	fclose(f);
	if ((size_t)len != m->len || memcmp(want, m->data, m->len) != 0)
		fail_msg("%s differs from the golden file:\n%s", name, m->data);
	free(want);
}

/* Python's email package must see multipart/report with our three parts and per-recipient blocks. */
static const char parse_py[] =
	"import sys, email, email.policy\n"
	"m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)\n"
	"assert not m.defects, m.defects\n"
	"assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
	"assert m.get_param('report-type') == 'delivery-status'\n"
	"parts = m.get_payload()\n"
	"assert [p.get_content_type() for p in parts][:2] == ['text/plain', 'message/delivery-status']\n"
	"assert parts[2].get_content_type() in ('text/rfc822-headers', 'message/rfc822')\n"
	"blocks = parts[1].get_payload()\n"
	"assert blocks[0]['Reporting-MTA'] == 'dns; mail.example.com', blocks[0]['Reporting-MTA']\n"
	"assert len(blocks) - 1 == int(sys.argv[2]), len(blocks)\n"
	"for b in blocks[1:]:\n"
	"    assert b['Final-Recipient'] and b['Action'] and b['Status'], b.keys()\n"
	"print(m['Subject'])\n";

static void python_parse(const struct buf *m, int rcpts)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char dir[PATH_MAX], path[PATH_MAX + 16], script[PATH_MAX + 16], cmd[3 * PATH_MAX];
	FILE *f;
	int status;

	snprintf(dir, sizeof(dir), "%s/test_dsn.XXXXXX", base != NULL ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsn.eml", dir);
	snprintf(script, sizeof(script), "%s/parse.py", dir);
	f = fopen(path, "wb");
	fwrite(m->data, 1, m->len, f);
	fclose(f);
	f = fopen(script, "wb");
	fwrite(parse_py, 1, sizeof(parse_py) - 1, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %d >/dev/null", script, path, rcpts);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- cases ------------------------------------------------------------------------------------ */

static void test_delay_notice(void **state)
{
	struct dsn_recipient rc[] = { {
		.address = "bob@example.net",
		.action = DSN_ACTION_DELAYED,
		.status = "4.4.1",
		.remote_mta = "mx.example.net",
		.diagnostic = "connect to mx.example.net[192.0.2.1]:25: Connection refused",
		.last_attempt = ARRIVAL + 4 * HOUR - 60,
	} };
	struct dsn_report r = base_report(rc, 1);
	struct buf m;

	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "\r\nSubject: Delivery delayed: Quarterly report (final)\r\n"));
	assert_non_null(strstr(m.data, "\r\nTo: <alice@example.com>\r\n"));
	assert_text(&m, "Your message to bob@example.net is still undelivered after 4 hours. We will keep trying "
			"until the message is 3 days old (until Thu, 04 Jan 2024 08:00:00 +0000).");
	assert_text(&m, "Deferred - Delayed - Warning: message still undelivered after 4 hours, will keep trying "
			"until message is 3 days old.");
	assert_non_null(strstr(m.data, "\r\nAction: delayed\r\nStatus: 4.4.1\r\n"));
	assert_non_null(strstr(m.data, "\r\nWill-Retry-Until: Thu, 04 Jan 2024 08:00:00 +0000\r\n"));
	assert_non_null(strstr(m.data, "\r\nContent-Type: text/rfc822-headers\r\n\r\nReturn-Path:"));
	assert_null(strstr(m.data, "Hello Bob")); /* headers only */
	golden("dsn_delay.txt", &m);
	python_parse(&m, 1);
	buf_free(&m);
}

static void test_failure_notice_full(void **state)
{
	struct dsn_recipient rc[] = {
		{ .address = "bob@example.net", .original = "rfc822;Bob@Example.NET", .action = DSN_ACTION_FAILED,
		  .status = "5.1.1", .remote_mta = "mx.example.net",
		  .diagnostic = "550-5.1.1 <bob@example.net>: Recipient address rejected:\r\n"
				"550 5.1.1 User unknown in virtual mailbox table",
		  .last_attempt = ARRIVAL + 60 },
		{ .address = "carol@example.org", .action = DSN_ACTION_FAILED, .status = "4.4.7",
		  .diagnostic = "connect to mx.example.org[198.51.100.7]:25: Connection timed out",
		  .last_attempt = ARRIVAL + 3 * DAY - 600 },
	};
	struct dsn_report r = base_report(rc, 2);
	struct buf m;

	r.return_full = true;
	r.envelope_id = "QQ314159";
	r.now = ARRIVAL + 3 * DAY;
	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "\r\nSubject: Undelivered Mail Returned to Sender\r\n"));
	assert_non_null(strstr(m.data, "\r\nOriginal-Envelope-Id: QQ314159\r\n"));
	assert_non_null(strstr(m.data, "\r\nOriginal-Recipient: rfc822;Bob@Example.NET\r\n"
				       "Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
				       "Remote-MTA: dns; mx.example.net\r\n"));
	assert_non_null(strstr(m.data, "Diagnostic-Code: smtp; 550-5.1.1 <bob@example.net>: Recipient address"));
	assert_text(&m, "It could not be delivered within 3 days, the longest we keep trying.");
	assert_non_null(strstr(m.data, "\r\nContent-Type: message/rfc822\r\n\r\nReturn-Path:"));
	assert_non_null(strstr(m.data, "Hello Bob,\r\nthe report is attached.\r\n\r\n--=_hermod_test_boundary--"));
	assert_null(strstr(m.data, "Will-Retry-Until"));
	golden("dsn_failure_full.txt", &m);
	python_parse(&m, 2);
	buf_free(&m);
}

static void test_mixed_and_delivered(void **state)
{
	struct dsn_recipient rc[] = {
		{ .address = "a@example.net", .action = DSN_ACTION_DELIVERED, .status = "2.0.0",
		  .remote_mta = "mx.example.net", .diagnostic = "250 2.0.0 Ok: queued as 1234" },
		{ .address = "b@example.net", .action = DSN_ACTION_DELAYED, .status = "4.2.0", .diagnostic = "450 busy" },
		{ .address = "c@example.net", .action = DSN_ACTION_DELAYED, .status = "4.2.0", .diagnostic = "450 busy" },
		{ .address = "d@example.net", .action = DSN_ACTION_DELAYED, .status = "4.2.0" },
	};
	struct dsn_report r = base_report(rc, 4);
	struct buf m;

	r.delay_s = 90 * 60;
	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "Subject: Delivery delayed:"));
	assert_text(&m, "b@example.net, c@example.net and 1 other is still undelivered after 1 hour 30 minutes.");
	assert_non_null(strstr(m.data, "\r\nAction: delivered\r\nStatus: 2.0.0\r\n"));
	assert_int_equal(occurrences(m.data, "Will-Retry-Until:"), 3);
	python_parse(&m, 4);
	buf_free(&m);
	/* only delivered */
	r.rcpt_count = 1;
	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "\r\nSubject: Successful Mail Delivery Report\r\n"));
	buf_free(&m);
}

static void test_hostile_diagnostic(void **state)
{
	char big[5001];
	struct dsn_recipient rc[] = { { .address = "bob@example.net", .action = DSN_ACTION_FAILED,
					.status = "5.0.0", .remote_mta = "mx.example.net",
					.diagnostic = "550 no\r\nX-Injected: yes\r\n\r\n\x01\xff\xfe sp  aces" } };
	struct dsn_report r = base_report(rc, 1);
	struct buf m;

	build_ok(&r, &m);
	assert_null(strstr(m.data, "\r\nX-Injected"));
	assert_non_null(strstr(m.data, "Diagnostic-Code: smtp; 550 no X-Injected: yes ?? sp aces\r\n"));
	buf_free(&m);
	/* one 5000-character word: capped, cut, every line still legal */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rc[0].diagnostic = big;
	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "x...\r\n"));
	assert_null(strstr(m.data, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	buf_free(&m);
}

static void test_utf8_recipient_and_subject(void **state)
{
	static const char orig8[] = "From: a@example.com\r\nSubject: R\xc3\xa9sum\xc3\xa9 \xe2\x82\xac 100 "
				    "\xe2\x80\x94 very long subject line that needs more than one encoded word\r\n\r\nx\r\n";
	struct dsn_recipient rc[] = { { .address = "j\xc3\xb6rg+x=y@b\xc3\xbc" "cher.example",
					.action = DSN_ACTION_DELAYED, .status = "4.4.1" } };
	struct dsn_report r = base_report(rc, 1);
	struct buf m;

	r.original = slice_make(orig8, sizeof(orig8) - 1);
	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "Final-Recipient: utf-8; j\\x{F6}rg\\x{2B}x\\x{3D}y@b\\x{FC}cher.example\r\n"));
	assert_non_null(strstr(m.data, "Subject: Delivery delayed:\r\n =?utf-8?B?"));
	assert_non_null(strstr(m.data, "Content-Transfer-Encoding: 8bit\r\n"));
	/* every header line of the notice within 78 columns */
	for (const char *p = m.data, *end = strstr(m.data, "\r\n\r\n"); p < end;) {
		const char *eol = strstr(p, "\r\n");
		assert_true(eol - p <= 78);
		p = eol + 2;
	}
	python_parse(&m, 1);
	buf_free(&m);
}

static void test_full_falls_back_to_headers(void **state)
{
	struct dsn_recipient rc[] = { { .address = "bob@example.net", .action = DSN_ACTION_FAILED, .status = "5.1.1" } };
	struct dsn_report r = base_report(rc, 1);
	size_t len = 3000;
	char *msg = malloc(len + 1);
	struct buf m;

	r.return_full = true;
	r.full_max = 100; /* the original is larger */
	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "Content-Type: text/rfc822-headers"));
	assert_null(strstr(m.data, "Hello Bob"));
	buf_free(&m);
	/* a header line over 998 octets: whole message refused as message/rfc822, the header line cut */
	memcpy(msg, "X-Long: ", 8);
	memset(msg + 8, 'y', len - 8);
	memcpy(msg + len - 9, "\n\nbody\r\n", 8);
	msg[len - 1] = '\0';
	r.original = slice_make(msg, len - 1);
	r.full_max = 0;
	build_ok(&r, &m);
	assert_non_null(strstr(m.data, "Content-Type: text/rfc822-headers"));
	assert_null(strstr(m.data, "body\r\n"));
	buf_free(&m);
	free(msg);
}

static void test_errors(void **state)
{
	struct dsn_recipient rc[] = { { .address = "bob@example.net", .action = DSN_ACTION_FAILED, .status = "5.1.1" } };
	struct dsn_report r = base_report(rc, 1);
	struct buf m;
	const char *err = NULL;

	buf_init(&m, 0);
	r.sender = "";
	assert_int_equal(dsn_build(&r, &m, &err), -1);
	assert_non_null(strstr(err, "null sender"));
	r.sender = "alice@example.com\r\nBcc: x@evil";
	assert_int_equal(dsn_build(&r, &m, &err), -1);
	r.sender = "alice@example.com";
	r.rcpt_count = 0;
	assert_int_equal(dsn_build(&r, &m, &err), -1);
	r.rcpt_count = 1;
	rc[0].status = "5.1";
	assert_int_equal(dsn_build(&r, &m, &err), -1);
	assert_non_null(strstr(err, "status"));
	rc[0].status = "5.1.1";
	rc[0].address = "bob@example.net\nX: y";
	assert_int_equal(dsn_build(&r, &m, &err), -1);
	rc[0].address = "bob@example.net";
	r.boundary = "report"; /* "--report" is not in the original... */
	assert_int_equal(dsn_build(&r, &m, &err), 0);
	buf_reset(&m);
	r.original = slice_cstr("Subject: x\r\n--report\r\n\r\n");
	assert_int_equal(dsn_build(&r, &m, &err), -1); /* ...but here it is */
	assert_non_null(strstr(err, "boundary"));
	buf_free(&m);
}

static void test_random_ids(void **state)
{
	struct dsn_recipient rc[] = { { .address = "bob@example.net", .action = DSN_ACTION_FAILED, .status = "5.1.1" } };
	struct dsn_report r = base_report(rc, 1);
	struct buf a, b;

	r.boundary = NULL;
	r.message_id = NULL;
	build_ok(&r, &a);
	build_ok(&r, &b);
	assert_string_not_equal(a.data, b.data);
	assert_non_null(strstr(a.data, "@mail.example.com>\r\n"));
	python_parse(&a, 1);
	buf_free(&a);
	buf_free(&b);
}

static void test_durations(void **state)
{
	static const struct {
		uint64_t s;
		const char *want;
	} cases[] = {
		{ 0, "0 seconds" }, { 1, "1 second" }, { 45, "45 seconds" }, { 60, "1 minute" },
		{ 90, "1 minute 30 seconds" }, { 4 * HOUR, "4 hours" }, { HOUR + 30 * 60, "1 hour 30 minutes" },
		{ HOUR + 59, "1 hour" }, { 3 * DAY, "3 days" }, { DAY, "1 day" }, { DAY + 12 * HOUR, "1 day 12 hours" },
		{ 5 * DAY + 7 * HOUR + 3, "5 days 7 hours" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dsn_format_duration(cases[i].s, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_notice),
		cmocka_unit_test(test_failure_notice_full),
		cmocka_unit_test(test_mixed_and_delivered),
		cmocka_unit_test(test_hostile_diagnostic),
		cmocka_unit_test(test_utf8_recipient_and_subject),
		cmocka_unit_test(test_full_falls_back_to_headers),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_random_ids),
		cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
