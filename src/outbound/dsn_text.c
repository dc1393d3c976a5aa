/*
 * dsn_text: the human-readable part of a notice. The wording follows the
 * provider's delay notice ("message still undelivered after 4 hours, will
 * keep trying until message is 3 days old") with the durations taken from
 * the configuration, and says plainly what the sender should do.
 */
#include "outbound/dsn_private.h"

#include <stdio.h>
#include <string.h>

#include "lib/xalloc.h"
#include "outbound/submit_headers.h"

/* One wrapped paragraph followed by an empty line. */
static void para(struct buf *out, const char *text)
{
	dsn_fold(out, 0, text, DSN_WIDTH - 2, "");
	buf_append(out, "\r\n\r\n", 4);
}

static size_t count(const struct dsn_report *r, enum dsn_action a)
{
	size_t n = 0;

	for (size_t i = 0; i < r->rcpt_count; i++)
		n += r->rcpts[i].action == a;
	return n;
}

/* "a@x", "a@x and b@y", "a@x, b@y and 3 others" */
static void recipient_list(const struct dsn_report *r, enum dsn_action a, struct buf *out)
{
	size_t total = count(r, a), shown = 0;

	for (size_t i = 0; i < r->rcpt_count && shown < 2; i++) {
		if (r->rcpts[i].action != a)
			continue;
		if (shown > 0)
			buf_append(out, total == 2 ? " and " : ", ", total == 2 ? 5 : 2);
		buf_appendf(out, "%s", r->rcpts[i].address);
		shown++;
	}
	if (total > 2)
		buf_appendf(out, " and %zu other%s", total - 2, total - 2 == 1 ? "" : "s");
}

/* "<bob@example.net>: reason" with the reason wrapped under it. */
static void recipient_reason(const struct dsn_report *r, const struct dsn_recipient *rc, struct buf *out)
{
	char life[64];
	struct buf why, diag;

	buf_init(&why, 0);
	buf_init(&diag, 0);
	if (rc->diagnostic != NULL)
		dsn_sanitize(rc->diagnostic, &diag);
	dsn_format_duration(r->lifetime_s, life, sizeof(life));
	if (rc->action == DSN_ACTION_DELIVERED)
		buf_appendf(&why, "Delivered%s%s.", rc->remote_mta ? " to " : "", rc->remote_mta ? rc->remote_mta : "");
	else if (rc->action == DSN_ACTION_FAILED && rc->status[0] == '4')
		buf_appendf(&why, "It could not be delivered within %s, the longest we keep trying.", life);
	else if (rc->action == DSN_ACTION_FAILED)
		buf_appendf(&why, "The recipient's mail server%s%s refused it.", rc->remote_mta ? " " : "",
			    rc->remote_mta ? rc->remote_mta : "");
	else
		buf_appendf(&why, "Not delivered yet.");
	if (diag.len > 0)
		buf_appendf(&why, " %s: %s", rc->action == DSN_ACTION_FAILED && rc->status[0] == '5'
						     ? "It said" : "The last error was", diag.data);
	buf_appendf(out, "<%s>:\r\n    ", rc->address);
	dsn_fold(out, 4, why.data, DSN_WIDTH - 2, "    ");
	buf_append(out, "\r\n\r\n", 4);
	buf_free(&why);
	buf_free(&diag);
}

static void reasons(const struct dsn_report *r, enum dsn_action a, struct buf *out)
{
	for (size_t i = 0; i < r->rcpt_count; i++)
		if (r->rcpts[i].action == a)
			recipient_reason(r, &r->rcpts[i], out);
}

static void failed_text(const struct dsn_report *r, bool full, struct buf *out)
{
	struct buf t;

	buf_init(&t, 0);
	buf_append(&t, "Your message to ", 16);
	recipient_list(r, DSN_ACTION_FAILED, &t);
	buf_appendf(&t, " could not be delivered, and we have stopped trying. %s is attached below.",
		    full ? "Your message" : "The header of your message");
	para(out, t.data);
	reasons(r, DSN_ACTION_FAILED, out);
	buf_free(&t);
}

static void delayed_text(const struct dsn_report *r, bool warning_only, struct buf *out)
{
	char delay[64], life[64], until[SUBMIT_DATE_SIZE];
	struct buf t;

	dsn_format_duration(r->delay_s, delay, sizeof(delay));
	dsn_format_duration(r->lifetime_s, life, sizeof(life));
	submit_headers_date(r->arrival + (time_t)r->lifetime_s, until);
	if (warning_only)
		para(out, "This is a warning only. You do not need to send your message again.");
	buf_init(&t, 0);
	buf_append(&t, "Your message to ", 16);
	recipient_list(r, DSN_ACTION_DELAYED, &t);
	buf_appendf(&t, " is still undelivered after %s. We will keep trying until the message is %s old "
			 "(until %s). If it still cannot be delivered by then, you will get a final notice.",
		    delay, life, until);
	para(out, t.data);
	buf_reset(&t);
	buf_appendf(&t, "Deferred - Delayed - Warning: message still undelivered after %s, "
			 "will keep trying until message is %s old.", delay, life);
	para(out, t.data);
	reasons(r, DSN_ACTION_DELAYED, out);
	buf_free(&t);
}

void dsn_human_text(const struct dsn_report *r, bool full, struct buf *out)
{
	struct buf t;

	buf_init(&t, 0);
	buf_appendf(&t, "This is the mail system at host %s.", r->reporting_mta);
	para(out, t.data);
	buf_free(&t);
	if (count(r, DSN_ACTION_FAILED) > 0)
		failed_text(r, full, out);
	if (count(r, DSN_ACTION_DELAYED) > 0)
		delayed_text(r, count(r, DSN_ACTION_FAILED) == 0, out);
	if (count(r, DSN_ACTION_DELIVERED) > 0) {
		para(out, "Your message was delivered to the following recipients:");
		reasons(r, DSN_ACTION_DELIVERED, out);
	}
	para(out, "This notice was sent automatically; replies to it are not read.");
	out->len -= 2; /* one empty line at the end is enough */
	out->data[out->len] = '\0';
}
