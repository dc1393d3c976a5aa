/*
 * Unit tests for the queue's decisions (src/queue/queue_sched.c): the retry
 * schedule, expiry, when a delay notice is owed, NOTIFY, grouping by domain,
 * the SMTP flags a message needs, reply texts; and the notices the queue
 * builds, parsed back. The delivery itself is tested end to end against
 * real servers (tests/e2e/test_queue.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config/config_private.h"
#include "lib/buf.h"
#include "queue/queue_private.h"

static struct config *cfg_from(const char *text)
{
	struct config *cfg = NULL;
	const char *err = NULL;

	if (config_parse_text("test.conf", "/tmp", text, strlen(text), &cfg, &err) < 0)
		fail_msg("config: %s", err);
	return cfg;
}

static void test_retry_schedule(void **state)
{
	struct config *cfg = cfg_from("queue { retry 1m 5m 1h; delay_warning 0; max_lifetime 3d }\n");
	const int64_t t0 = 1000000;

	/* attempt n waits the n-th delay; the last repeats */
	assert_int_equal(queue_next_attempt(cfg, t0, 1, false, t0), t0 + 60);
	assert_int_equal(queue_next_attempt(cfg, t0, 2, false, t0 + 60), t0 + 60 + 300);
	assert_int_equal(queue_next_attempt(cfg, t0, 3, false, t0 + 400), t0 + 400 + 3600);
	assert_int_equal(queue_next_attempt(cfg, t0, 4, false, t0 + 5000), t0 + 5000 + 3600);
	assert_int_equal(queue_next_attempt(cfg, t0, 40, false, t0 + 9000), t0 + 9000 + 3600);
	/* attempts 0 (never tried) is treated as the first */
	assert_int_equal(queue_next_attempt(cfg, t0, 0, false, t0), t0 + 60);
	/* never beyond the end of the lifetime: the last attempt happens then */
	assert_int_equal(queue_next_attempt(cfg, t0, 9, false, t0 + 3 * 86400 - 100), t0 + 3 * 86400);
	/* past the end (a late scan): due at once */
	assert_int_equal(queue_next_attempt(cfg, t0, 9, false, t0 + 3 * 86400 + 5), t0 + 3 * 86400 + 5);
	config_free(cfg);
}

static void test_retry_wakes_for_delay_notice(void **state)
{
	struct config *cfg = cfg_from("queue { retry 5m 10m 30m 1h 2h 4h; delay_warning 4h; max_lifetime 3d }\n");
	const int64_t t0 = 5000;

	/* after the 5th attempt (at 1h45m) the schedule says +2h; the notice is owed at 4h */
	assert_int_equal(queue_next_attempt(cfg, t0, 5, false, t0 + 6300), t0 + 6300 + 7200);
	assert_int_equal(queue_next_attempt(cfg, t0, 6, false, t0 + 13500), t0 + 4 * 3600);
	/* once notified, the schedule alone */
	assert_int_equal(queue_next_attempt(cfg, t0, 6, true, t0 + 13500), t0 + 13500 + 4 * 3600);
	/* after the warning time the warning does not pull the next attempt earlier */
	assert_int_equal(queue_next_attempt(cfg, t0, 7, false, t0 + 5 * 3600), t0 + 9 * 3600);
	config_free(cfg);
}

static void test_expiry_and_delay(void **state)
{
	struct config *cfg = cfg_from("queue { delay_warning 3s; max_lifetime 8s }\n");

	assert_false(queue_expired(cfg, 100, 107));
	assert_true(queue_expired(cfg, 100, 108));
	assert_true(queue_expired(cfg, 100, 500));

	assert_false(queue_delay_due(cfg, 100, false, 1, 102));
	assert_true(queue_delay_due(cfg, 100, false, 1, 103));
	assert_false(queue_delay_due(cfg, 100, true, 1, 103));  /* only one delay notice */
	assert_false(queue_delay_due(cfg, 100, false, 0, 103)); /* nothing pending */
	config_free(cfg);

	/* delay_warning 0: never; a warning at or after the lifetime: never */
	cfg = cfg_from("queue { delay_warning 0; max_lifetime 8s }\n");
	assert_false(queue_delay_due(cfg, 100, false, 1, 1000));
	config_free(cfg);
	cfg = cfg_from("queue { delay_warning 8s; max_lifetime 8s }\n");
	assert_false(queue_delay_due(cfg, 100, false, 1, 1000));
	config_free(cfg);
}

static void test_notify(void **state)
{
	/* not given: failure and delay, no success (RFC 3461 4.1) */
	assert_true(queue_notify_wants(0, DSN_ACTION_FAILED));
	assert_true(queue_notify_wants(0, DSN_ACTION_DELAYED));
	assert_false(queue_notify_wants(0, DSN_ACTION_DELIVERED));
	assert_false(queue_notify_wants(STORE_NOTIFY_NEVER, DSN_ACTION_FAILED));
	assert_false(queue_notify_wants(STORE_NOTIFY_NEVER, DSN_ACTION_DELAYED));
	assert_false(queue_notify_wants(STORE_NOTIFY_NEVER, DSN_ACTION_DELIVERED));
	assert_true(queue_notify_wants(STORE_NOTIFY_FAILURE, DSN_ACTION_FAILED));
	assert_false(queue_notify_wants(STORE_NOTIFY_FAILURE, DSN_ACTION_DELAYED));
	assert_false(queue_notify_wants(STORE_NOTIFY_FAILURE, DSN_ACTION_DELIVERED));
	assert_true(queue_notify_wants(STORE_NOTIFY_DELAY, DSN_ACTION_DELAYED));
	assert_false(queue_notify_wants(STORE_NOTIFY_DELAY, DSN_ACTION_FAILED));
	assert_true(queue_notify_wants(STORE_NOTIFY_SUCCESS, DSN_ACTION_DELIVERED));
	assert_false(queue_notify_wants(STORE_NOTIFY_SUCCESS, DSN_ACTION_FAILED));
	unsigned all = STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE | STORE_NOTIFY_DELAY;
	assert_true(queue_notify_wants(all, DSN_ACTION_FAILED));
	assert_true(queue_notify_wants(all, DSN_ACTION_DELAYED));
	assert_true(queue_notify_wants(all, DSN_ACTION_DELIVERED));
}

static void test_group_by_domain(void **state)
{
	const char *addrs[] = { "a@x.test", "b@y.test", "c@X.TEST", "d@z.test", "e@y.test", "broken", "f@x.test",
				"other" };
	size_t group[8];

	assert_int_equal(queue_group_by_domain(addrs, 8, group), 5);
	assert_int_equal(group[0], 0);
	assert_int_equal(group[1], 1);
	assert_int_equal(group[2], 0); /* case-insensitive */
	assert_int_equal(group[3], 2);
	assert_int_equal(group[4], 1);
	assert_int_equal(group[5], 3); /* no domain: alone */
	assert_int_equal(group[6], 0);
	assert_int_equal(group[7], 4);
	assert_int_equal(queue_group_by_domain(addrs, 0, group), 0);
	assert_string_equal(queue_domain_of("a@b@c.test"), "c.test");
	assert_string_equal(queue_domain_of("nodomain"), "");
}

static void test_message_flags(void **state)
{
	const char *ascii[] = { "bob@example.net" };
	const char *intl[] = { "j\xc3\xb6rg@example.net" };
	const char plain[] = "Subject: hi\r\n\r\nhello\r\n";
	const char body8[] = "Subject: hi\r\n\r\ngr\xc3\xbc\xc3\x9f" "e\r\n";
	const char hdr_utf8[] = "Subject: gr\xc3\xbc\xc3\x9f" "e\r\n\r\nhello\r\n";
	const char hdr_latin1[] = "Subject: gr\xfc\xdf" "e\r\n\r\nhello\r\n";

	assert_int_equal(queue_message_flags("a@x.test", ascii, 1, plain, strlen(plain)), 0);
	assert_int_equal(queue_message_flags("a@x.test", ascii, 1, body8, strlen(body8)), SMTP_CLIENT_8BIT);
	assert_int_equal(queue_message_flags("a@x.test", ascii, 1, hdr_utf8, strlen(hdr_utf8)),
			 SMTP_CLIENT_8BIT | SMTP_CLIENT_SMTPUTF8);
	assert_int_equal(queue_message_flags("a@x.test", ascii, 1, hdr_latin1, strlen(hdr_latin1)), SMTP_CLIENT_8BIT);
	assert_int_equal(queue_message_flags("a@x.test", intl, 1, plain, strlen(plain)), SMTP_CLIENT_SMTPUTF8);
	assert_int_equal(queue_message_flags("", ascii, 1, plain, strlen(plain)), 0);
}

static void test_reply_texts(void **state)
{
	struct smtp_client_reply r = { SMTP_CLIENT_PERMFAIL, 550, "5.1.1", "no such user", true };
	char text[128], st[16];

	queue_format_reply(&r, text, sizeof(text));
	assert_string_equal(text, "550 5.1.1 no such user");
	queue_reply_status(&r, st, sizeof(st));
	assert_string_equal(st, "5.1.1");

	r = (struct smtp_client_reply){ SMTP_CLIENT_TEMPFAIL, 451, "", "try later", true };
	queue_format_reply(&r, text, sizeof(text));
	assert_string_equal(text, "451 try later");
	queue_reply_status(&r, st, sizeof(st));
	assert_string_equal(st, "4.0.0");

	/* an enhanced code of the wrong class is not believed */
	r = (struct smtp_client_reply){ SMTP_CLIENT_PERMFAIL, 554, "2.0.0", "odd", true };
	queue_reply_status(&r, st, sizeof(st));
	assert_string_equal(st, "5.0.0");
}

/* The text with every run of white space (line folds included) made one space. */
static char *unfolded(const struct buf *b)
{
	char *out = malloc(b->len + 1), *o = out;

	for (size_t i = 0; i < b->len; i++) {
		bool ws = b->data[i] == ' ' || b->data[i] == '\r' || b->data[i] == '\n' || b->data[i] == '\t';
		if (!ws)
			*o++ = b->data[i];
		else if (o > out && o[-1] != ' ')
			*o++ = ' ';
	}
	*o = '\0';
	return out;
}

/* The notices the queue builds, for the three kinds, from a realistic entry. */
static void test_notice_build(void **state)
{
	struct config *cfg = cfg_from("hostname mx.example.org\nqueue { delay_warning 4h; max_lifetime 3d }\n");
	static const char msg[] = "From: alice@example.org\r\nSubject: report\r\n\r\nbody\r\n";
	struct queue_entry qe;
	struct dsn_recipient r = { "bob@remote.test", NULL, DSN_ACTION_DELAYED, "4.4.1", NULL,
				   "451 4.4.1 connection refused", 0 };
	const char *err = NULL;
	struct buf out;
	char *text;

	memset(&qe, 0, sizeof(qe));
	qe.cfg = cfg;
	snprintf(qe.e.envelope_from, sizeof(qe.e.envelope_from), "alice@example.org");
	qe.e.created_at = 1700000000;
	qe.msg = (char *)msg;
	qe.msg_len = strlen(msg);

	buf_init(&out, 0);
	assert_int_equal(queue_bounce_build(&qe, &r, 1, qe.e.created_at + 4 * 3600, &out, &err), 0);
	text = unfolded(&out);
	assert_non_null(strstr(text, "message still undelivered after 4 hours, will keep trying until "
				     "message is 3 days old"));
	free(text);
	assert_non_null(strstr(out.data, "Action: delayed"));
	assert_non_null(strstr(out.data, "Reporting-MTA: dns; mx.example.org"));
	assert_non_null(strstr(out.data, "Subject: report"));
	buf_free(&out);

	r.action = DSN_ACTION_FAILED;
	r.status = "4.4.7";
	buf_init(&out, 0);
	assert_int_equal(queue_bounce_build(&qe, &r, 1, qe.e.created_at + 3 * 86400, &out, &err), 0);
	assert_non_null(strstr(out.data, "Undelivered Mail Returned to Sender"));
	assert_non_null(strstr(out.data, "Status: 4.4.7"));
	buf_free(&out);

	/* the null sender is never owed a notice */
	qe.e.envelope_from[0] = '\0';
	buf_init(&out, 0);
	assert_int_equal(queue_bounce_build(&qe, &r, 1, qe.e.created_at, &out, &err), -1);
	buf_free(&out);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_schedule),
		cmocka_unit_test(test_retry_wakes_for_delay_notice),
		cmocka_unit_test(test_expiry_and_delay),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_group_by_domain),
		cmocka_unit_test(test_message_flags),
		cmocka_unit_test(test_reply_texts),
		cmocka_unit_test(test_notice_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
