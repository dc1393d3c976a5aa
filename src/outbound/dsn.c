/*
 * dsn: RFC 3464 delivery status notifications. See dsn.h for the contract;
 * the human-readable text is in dsn_text.c.
 */
#include "outbound/dsn_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "outbound/submit_headers.h"

/* ---- small text helpers ---------------------------------------------------------------- */

bool dsn_has_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/* Control characters in an address or host name would let it forge header lines. */
static bool text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/*
 * Remote text to one line of printable ASCII: line ends and controls become
 * spaces (a multi-line reply reads as one), other bytes '?', runs of
 * spaces one space, at most DSN_DIAGNOSTIC_MAX characters.
 */
void dsn_sanitize(const char *in, struct buf *out)
{
	size_t start = out->len;

	for (; *in != '\0' && out->len - start < DSN_DIAGNOSTIC_MAX; in++) {
		unsigned char c = (unsigned char)*in;
		char ch = c < 0x20 || c == 0x7f ? ' ' : c >= 0x80 ? '?' : (char)c;
		if (ch == ' ' && (out->len == start || out->data[out->len - 1] == ' '))
			continue;
		buf_append(out, &ch, 1);
	}
	if (*in != '\0')
		buf_append(out, "...", 3);
	while (out->len > start && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
}

/*
 * Appends the words of text to out at column col: the first right there,
 * the others after a space, or on a new line (CRLF + cont) when they would
 * pass width. A word too long for any line is cut, so that no line passes
 * DSN_LINE_MAX. Returns the column reached.
 */
size_t dsn_fold(struct buf *out, size_t col, const char *text, size_t width, const char *cont)
{
	const size_t indent = strlen(cont), cut = DSN_LINE_MAX - 100;
	bool first = true;

	while (*text == ' ')
		text++;
	while (*text != '\0') {
		size_t n = strcspn(text, " ");
		if (n > cut)
			n = cut;
		if (!first && col + 1 + n > width) {
			buf_appendf(out, "\r\n%s", cont);
			col = indent;
		} else if (!first) {
			buf_append(out, " ", 1);
			col++;
		}
		buf_append(out, text, n);
		col += n;
		text += n;
		while (*text == ' ')
			text++;
		first = false;
	}
	return col;
}

/* The largest unit that fits, and the next one if it adds anything: "1 day 12 hours". */
void dsn_format_duration(uint64_t seconds, char *out, size_t size)
{
	static const uint64_t unit_s[] = { 86400, 3600, 60, 1 };
	static const char *const unit_name[] = { "day", "hour", "minute", "second" };
	size_t i = 0, len;
	uint64_t big, small;

	while (i < 3 && seconds < unit_s[i])
		i++;
	big = seconds / unit_s[i];
	snprintf(out, size, "%llu %s%s", (unsigned long long)big, unit_name[i], big == 1 ? "" : "s");
	if (i == 3 || (small = (seconds % unit_s[i]) / unit_s[i + 1]) == 0)
		return;
	len = strlen(out);
	if (len < size)
		snprintf(out + len, size - len, " %llu %s%s", (unsigned long long)small, unit_name[i + 1],
			 small == 1 ? "" : "s");
}

/* ---- the original message -------------------------------------------------------------- */

static size_t line_len(const char *p, size_t left)
{
	const char *lf = memchr(p, '\n', left);
	return lf != NULL ? (size_t)(lf - p) + 1 : left;
}

/* The original's header fields, without the empty line that ends them. */
static struct slice original_header(struct slice msg)
{
	size_t pos = 0;

	while (pos < msg.len) {
		size_t n = line_len(msg.p + pos, msg.len - pos);
		if (msg.p[pos] == '\n' || (n == 2 && msg.p[pos] == '\r' && msg.p[pos + 1] == '\n'))
			break;
		pos += n;
	}
	return slice_make(msg.p, pos);
}

static bool has_long_line(struct slice s)
{
	for (size_t pos = 0; pos < s.len;) {
		size_t n = line_len(s.p + pos, s.len - pos);
		if (n > DSN_LINE_MAX + 2)
			return true;
		pos += n;
	}
	return false;
}

/* Copies s with CRLF line ends; lines over DSN_LINE_MAX are cut (only used when allowed). */
static void copy_crlf(struct buf *out, struct slice s)
{
	for (size_t pos = 0; pos < s.len;) {
		size_t n = line_len(s.p + pos, s.len - pos), text = n;
		if (text > 0 && s.p[pos + text - 1] == '\n')
			text--;
		if (text > 0 && s.p[pos + text - 1] == '\r')
			text--;
		buf_append(out, s.p + pos, text > DSN_LINE_MAX ? DSN_LINE_MAX : text);
		buf_append(out, "\r\n", 2);
		pos += n;
	}
}

/* The 200-byte cut may have split a UTF-8 character: drop what is left of it. */
static void drop_cut_utf8(struct buf *out)
{
	size_t i = out->len, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)out->data[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || (lead = (unsigned char)out->data[i - 1]) < 0xc0)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (out->len - (i - 1) < need)
		out->len = i - 1;
}

/* The unfolded Subject of the original, controls made spaces, at most 200 bytes (whole UTF-8 characters). */
static void original_subject(struct slice hdr, struct buf *out)
{
	bool in = false;

	for (size_t pos = 0; pos < hdr.len;) {
		size_t n = line_len(hdr.p + pos, hdr.len - pos);
		const char *p = hdr.p + pos;
		if (p[0] != ' ' && p[0] != '\t') {
			if (in)
				break;
			in = n >= 8 && strncasecmp(p, "subject:", 8) == 0;
			if (in)
				p += 8, n -= 8;
		}
		for (size_t i = 0; in && i < n && out->len < 200; i++) {
			char c = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? ' ' : p[i];
			if (c != ' ' || (out->len > 0 && out->data[out->len - 1] != ' '))
				buf_append(out, &c, 1);
		}
		pos += (size_t)(p - (hdr.p + pos)) + n;
	}
	drop_cut_utf8(out);
	while (out->len > 0 && out->data[out->len - 1] == ' ')
		out->len--;
	if (out->data != NULL)
		out->data[out->len] = '\0';
}

/* ---- header ------------------------------------------------------------------------------ */

/* RFC 2047 "B" encoded words of at most 45 bytes of whole UTF-8 characters each (75 columns). */
static void encoded_words(struct buf *out, const char *s, size_t len)
{
	char b64[64];

	for (size_t pos = 0; pos < len;) {
		size_t n = len - pos > 45 ? 45 : len - pos;
		while (n > 1 && pos + n < len && ((unsigned char)s[pos + n] & 0xc0) == 0x80)
			n--;
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)s + pos, n,
				  sodium_base64_VARIANT_ORIGINAL);
		buf_appendf(out, "%s=?utf-8?B?%s?=", pos == 0 ? "" : "\r\n ", b64);
		pos += n;
	}
}

static void subject_field(const struct dsn_report *r, const char *prefix, bool with_original, struct buf *out)
{
	struct buf subj;

	buf_init(&subj, 0);
	if (with_original)
		original_subject(original_header(r->original), &subj);
	if (subj.len == 0) {
		buf_appendf(out, "Subject: %s\r\n", prefix);
	} else if (!dsn_has_8bit(subj.data, subj.len)) {
		buf_appendf(out, "Subject: %s: ", prefix);
		dsn_fold(out, strlen("Subject: : ") + strlen(prefix), subj.data, DSN_WIDTH, " ");
		buf_append(out, "\r\n", 2);
	} else {
		buf_appendf(out, "Subject: %s:\r\n ", prefix);
		encoded_words(out, subj.data, subj.len);
		buf_append(out, "\r\n", 2);
	}
	buf_free(&subj);
}

static void message_header(const struct dsn_report *r, const char *boundary, bool eightbit, struct buf *out)
{
	char date[SUBMIT_DATE_SIZE], id[SUBMIT_MSGID_SIZE];
	bool failed = false, delayed = false;

	for (size_t i = 0; i < r->rcpt_count; i++) {
		failed |= r->rcpts[i].action == DSN_ACTION_FAILED;
		delayed |= r->rcpts[i].action == DSN_ACTION_DELAYED;
	}
	submit_headers_date(r->now, date);
	if (r->message_id == NULL)
		submit_headers_message_id(r->reporting_mta, id);
	buf_appendf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", r->reporting_mta);
	buf_appendf(out, "To: <%s>\r\n", r->sender);
	if (failed)
		subject_field(r, "Undelivered Mail Returned to Sender", false, out);
	else if (delayed)
		subject_field(r, "Delivery delayed", true, out);
	else
		subject_field(r, "Successful Mail Delivery Report", false, out);
	buf_appendf(out, "Date: %s\r\n", date);
	buf_appendf(out, "Message-ID: %s\r\n", r->message_id != NULL ? r->message_id : id);
	/* RFC 3834 5: a notice is an automatic response; well-behaved responders do not answer it */
	buf_appendf(out, "Auto-Submitted: auto-replied\r\n");
	buf_appendf(out, "MIME-Version: 1.0\r\n");
	buf_appendf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
			 "\tboundary=\"%s\"\r\n", boundary);
	buf_appendf(out, "Content-Transfer-Encoding: %s\r\n\r\n", eightbit ? "8bit" : "7bit");
}

/* ---- message/delivery-status ------------------------------------------------------------- */

/*
 * RFC 6533 3: a non-ASCII address in message/delivery-status is of type
 * "utf-8" written as utf-8-addr-xtext: printable ASCII except "+", "=",
 * "\" stays, everything else is \x{HEX} of its code point.
 */
static void address_field(struct buf *out, const char *name, const char *addr)
{
	const unsigned char *p = (const unsigned char *)addr;

	if (!dsn_has_8bit(addr, strlen(addr)) && strchr(addr, ' ') == NULL) {
		buf_appendf(out, "%s: rfc822; %s\r\n", name, addr);
		return;
	}
	buf_appendf(out, "%s: utf-8; ", name);
	while (*p != '\0') {
		unsigned cp = *p, n = 1;
		if (cp >= 0xc0 && cp < 0xe0 && (p[1] & 0xc0) == 0x80)
			cp = ((cp & 0x1fu) << 6) | (p[1] & 0x3fu), n = 2;
		else if (cp >= 0xe0 && cp < 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80)
			cp = ((cp & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu), n = 3;
		else if (cp >= 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80)
			cp = ((cp & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) | (p[3] & 0x3fu), n = 4;
		else if (cp >= 0x80)
			cp = 0xfffd; /* not UTF-8 */
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\')
			buf_appendf(out, "%c", (char)cp);
		else
			buf_appendf(out, "\\x{%X}", cp);
		p += n;
	}
	buf_append(out, "\r\n", 2);
}

static const char *action_name(enum dsn_action a)
{
	return a == DSN_ACTION_FAILED ? "failed" : a == DSN_ACTION_DELAYED ? "delayed" : "delivered";
}

static void recipient_fields(const struct dsn_report *r, const struct dsn_recipient *rc, struct buf *out)
{
	char date[SUBMIT_DATE_SIZE];
	struct buf text;

	buf_init(&text, 0);
	buf_append(out, "\r\n", 2);
	if (rc->original != NULL) {
		dsn_sanitize(rc->original, &text);
		buf_appendf(out, "Original-Recipient: %s\r\n", text.data);
		buf_reset(&text);
	}
	address_field(out, "Final-Recipient", rc->address);
	buf_appendf(out, "Action: %s\r\nStatus: %s\r\n", action_name(rc->action), rc->status);
	if (rc->remote_mta != NULL)
		buf_appendf(out, "Remote-MTA: dns; %s\r\n", rc->remote_mta);
	if (rc->diagnostic != NULL && rc->diagnostic[0] != '\0') {
		/* RFC 3464 2.3.6: "smtp" only for a server's reply; our own errors (connect, TLS) get an X- type */
		const char *d = rc->diagnostic;
		bool smtp = strspn(d, "0123456789") == 3 && (d[3] == ' ' || d[3] == '-' || d[3] == '\0');
		dsn_sanitize(d, &text);
		buf_appendf(out, "Diagnostic-Code: %s; ", smtp ? "smtp" : "X-hermod");
		dsn_fold(out, smtp ? 23 : 27, text.data, DSN_WIDTH, " ");
		buf_append(out, "\r\n", 2);
	}
	if (rc->last_attempt != 0) {
		submit_headers_date(rc->last_attempt, date);
		buf_appendf(out, "Last-Attempt-Date: %s\r\n", date);
	}
	if (rc->action == DSN_ACTION_DELAYED) {
		submit_headers_date(r->arrival + (time_t)r->lifetime_s, date);
		buf_appendf(out, "Will-Retry-Until: %s\r\n", date);
	}
	buf_free(&text);
}

static void status_part(const struct dsn_report *r, struct buf *out)
{
	char date[SUBMIT_DATE_SIZE];
	struct buf envid;

	buf_appendf(out, "Content-Description: Delivery report\r\n"
			 "Content-Type: message/delivery-status\r\n\r\n");
	buf_appendf(out, "Reporting-MTA: dns; %s\r\n", r->reporting_mta);
	if (r->envelope_id != NULL) {
		buf_init(&envid, 0);
		dsn_sanitize(r->envelope_id, &envid);
		buf_appendf(out, "Original-Envelope-Id: %s\r\n", envid.data != NULL ? envid.data : "");
		buf_free(&envid);
	}
	submit_headers_date(r->arrival, date);
	buf_appendf(out, "Arrival-Date: %s\r\n", date);
	for (size_t i = 0; i < r->rcpt_count; i++)
		recipient_fields(r, &r->rcpts[i], out);
}

/* ---- the whole notice ---------------------------------------------------------------------- */

static bool status_ok(const char *s)
{
	/* RFC 3463: class "." subject "." detail, class 2, 4 or 5 */
	int a, b, c, n = 0;
	return s != NULL && sscanf(s, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 && s[n] == '\0' &&
	       (a == 2 || a == 4 || a == 5);
}

static int check_report(const struct dsn_report *r, const char **errstr_r)
{
	if (r->sender == NULL || r->sender[0] == '\0') {
		*errstr_r = "the message came from the null sender: no notice is sent for it (RFC 5321 4.5.5)";
		return -1;
	}
	if (r->rcpt_count == 0) {
		*errstr_r = "a delivery notice needs at least one recipient";
		return -1;
	}
	if (!text_ok(r->sender) || !text_ok(r->reporting_mta) || strchr(r->reporting_mta, ' ') != NULL) {
		*errstr_r = "the sender or host name of a delivery notice has control characters";
		return -1;
	}
	for (size_t i = 0; i < r->rcpt_count; i++) {
		const struct dsn_recipient *rc = &r->rcpts[i];
		if (rc->address == NULL || !text_ok(rc->address) ||
		    (rc->remote_mta != NULL && (!text_ok(rc->remote_mta) || strchr(rc->remote_mta, ' ') != NULL))) {
			*errstr_r = "a recipient or remote host of a delivery notice is empty or has control characters";
			return -1;
		}
		if (!status_ok(rc->status)) {
			*errstr_r = "a recipient of a delivery notice has no valid status code (RFC 3463)";
			return -1;
		}
	}
	return 0;
}

/* What goes in the third part: the whole original only when asked for, small enough and legal. */
static struct slice returned_part(const struct dsn_report *r, bool *full_r)
{
	size_t max = r->full_max != 0 ? r->full_max : DSN_FULL_MAX_DEFAULT;

	*full_r = r->return_full && r->original.len <= max && !has_long_line(r->original);
	return *full_r ? r->original : original_header(r->original);
}

static bool boundary_free(const char *boundary, struct slice text)
{
	size_t n = strlen(boundary);

	for (const char *p = text.p; p != NULL && (size_t)(text.p + text.len - p) >= n + 2;) {
		p = memmem(p, (size_t)(text.p + text.len - p), "--", 2);
		if (p == NULL)
			break;
		if ((size_t)(text.p + text.len - p) >= n + 2 && memcmp(p + 2, boundary, n) == 0)
			return false;
		p += 1;
	}
	return true;
}

int dsn_build(const struct dsn_report *r, struct buf *out, const char **errstr_r)
{
	char boundary[64];
	unsigned char raw[12];
	struct buf human;
	struct slice orig;
	bool full;

	ASSERT(out->max == 0); /* the notice is built from trusted parts; its size follows full_max */
	if (check_report(r, errstr_r) < 0)
		return -1;
	orig = returned_part(r, &full);
	if (r->boundary != NULL) {
		if (strlen(r->boundary) >= sizeof(boundary) || !boundary_free(r->boundary, orig)) {
			*errstr_r = "the MIME boundary occurs in the returned message";
			return -1;
		}
		snprintf(boundary, sizeof(boundary), "%s", r->boundary);
	} else {
		do { /* 96 random bits; the loop is for the adversary who guesses them */
			randombytes_buf(raw, sizeof(raw));
			memcpy(boundary, "=_hermod_", 9);
			sodium_bin2hex(boundary + 9, sizeof(boundary) - 9, raw, sizeof(raw));
		} while (!boundary_free(boundary, orig));
	}
	buf_init(&human, 0);
	dsn_human_text(r, full, &human);
	message_header(r, boundary, dsn_has_8bit(human.data, human.len) || dsn_has_8bit(orig.p, orig.len), out);
	buf_appendf(out, "This is a MIME-encapsulated message.\r\n\r\n--%s\r\n", boundary);
	buf_appendf(out, "Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Transfer-Encoding: %s\r\n\r\n", dsn_has_8bit(human.data, human.len) ? "8bit" : "7bit");
	buf_append(out, human.data, human.len);
	buf_free(&human);
	buf_appendf(out, "\r\n--%s\r\n", boundary);
	status_part(r, out);
	buf_appendf(out, "\r\n--%s\r\n", boundary);
	buf_appendf(out, "Content-Description: %s\r\nContent-Type: %s\r\n", full ? "Undelivered Message" : "Message Headers",
		    full ? "message/rfc822" : "text/rfc822-headers");
	if (dsn_has_8bit(orig.p, orig.len))
		buf_appendf(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_append(out, "\r\n", 2);
	copy_crlf(out, orig);
	buf_appendf(out, "\r\n--%s--\r\n", boundary);
	return 0;
}
