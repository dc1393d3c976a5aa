/*
 * autoreply: RFC 3834 decisions and the reply message (see autoreply.h).
 */
#include "inbound/autoreply.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "outbound/submit_headers.h"

#define AUTOREPLY_LINE_MAX 998 /* RFC 5322 2.1.1: longer lines need an encoding */

/* ---- the original header ------------------------------------------------------------ */

/* The unfolded value of one field into out (CR and LF dropped, leading blanks trimmed). */
static void field_value(const char *p, size_t len, char *out, size_t size)
{
	size_t o = 0;
	bool cut = false;

	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			continue;
		if (o + 1 >= size) {
			cut = true;
			break;
		}
		out[o++] = p[i] == '\t' ? ' ' : p[i];
	}
	/* a cut must not leave half a UTF-8 character */
	if (cut) {
		while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
			o--;
		if (o > 0 && ((unsigned char)out[o - 1] & 0x80) != 0)
			o--;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* The first word of a value, lower-cased: "no" in "No (a comment)". */
static void first_token(const char *value, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = value; *p != '\0' && o + 1 < size; p++) {
		if (*p == ' ' || *p == ';' || *p == '(' || *p == ',')
			break;
		out[o++] = (char)tolower((unsigned char)*p);
	}
	out[o] = '\0';
}

static void references_keep(const char *value, char *out, size_t size)
{
	size_t len = strlen(value);

	/* too long: keep the newest ids (at the end), from an id's start */
	if (len >= size) {
		const char *p = value + len - (size - 1);
		const char *lt = strchr(p, '<');
		value = lt != NULL ? lt : p;
	}
	snprintf(out, size, "%s", value);
}

static void header_field(const char *name, size_t name_len, const char *val, size_t val_len,
			 struct autoreply_headers *h)
{
	char value[AUTOREPLY_REFS_MAX], token[16];

	field_value(val, val_len, value, sizeof(value));
	if (name_len > 5 && strncasecmp(name, "List-", 5) == 0) {
		h->list = true;
	} else if (name_len == 14 && strncasecmp(name, "Auto-Submitted", 14) == 0) {
		first_token(value, token, sizeof(token));
		h->auto_submitted |= strcmp(token, "no") != 0;
	} else if (name_len == 10 && strncasecmp(name, "Precedence", 10) == 0) {
		first_token(value, token, sizeof(token));
		h->bulk |= strcmp(token, "bulk") == 0 || strcmp(token, "list") == 0 || strcmp(token, "junk") == 0;
	} else if (name_len == 7 && strncasecmp(name, "Subject", 7) == 0) {
		field_value(val, val_len, h->subject, sizeof(h->subject));
	} else if (name_len == 10 && strncasecmp(name, "Message-ID", 10) == 0) {
		size_t n = strlen(value);
		if (n > 2 && n < sizeof(h->message_id) && value[0] == '<' && value[n - 1] == '>' &&
		    strpbrk(value + 1, "<> ") == value + n - 1)
			memcpy(h->message_id, value, n + 1);
	} else if (name_len == 10 && strncasecmp(name, "References", 10) == 0) {
		references_keep(value, h->references, sizeof(h->references));
	}
}

/* Length of the line at p (through its LF, or to the end). */
static size_t line_len(const char *p, size_t left)
{
	const char *lf = memchr(p, '\n', left);

	return lf != NULL ? (size_t)(lf - p) + 1 : left;
}

static bool blank_line(const char *p, size_t n)
{
	return (n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n');
}

void autoreply_headers_parse(const char *hdr, size_t len, struct autoreply_headers *h)
{
	size_t pos = 0;
	bool truncated = h->truncated;

	memset(h, 0, sizeof(*h));
	h->truncated = truncated;
	while (pos < len) {
		size_t n = line_len(hdr + pos, len - pos), end = pos + n, colon;
		if (blank_line(hdr + pos, n))
			break;
		/* the field goes on while the next line starts with a blank (RFC 5322 2.2.3) */
		while (end < len && (hdr[end] == ' ' || hdr[end] == '\t'))
			end += line_len(hdr + end, len - end);
		for (colon = pos; colon < end && hdr[colon] != ':' && hdr[colon] != '\n'; colon++)
			;
		if (colon < end && hdr[colon] == ':' && colon > pos)
			header_field(hdr + pos, colon - pos, hdr + colon + 1, end - colon - 1, h);
		pos = end;
	}
}

/* ---- decisions ------------------------------------------------------------------------------ */

/* RFC 3834 2: addresses that belong to programs, not people. */
static bool robot_sender(const char *sender)
{
	static const char *const names[] = { "mailer-daemon", "postmaster", "listserv", "majordomo", "no-reply",
					     "noreply", "donotreply", "do-not-reply" };
	const char *at = strrchr(sender, '@');
	size_t n = at != NULL ? (size_t)(at - sender) : strlen(sender);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp(sender, names[i], n) == 0)
			return true;
	if (n >= 6 && strncasecmp(sender, "owner-", 6) == 0)
		return true;
	return n >= 8 && strncasecmp(sender + n - 8, "-request", 8) == 0;
}

enum autoreply_verdict autoreply_decide(const struct autoreply_facts *f)
{
	const struct autoreply_headers *h = f->headers;

	if (f->sender == NULL || f->sender[0] == '\0')
		return AUTOREPLY_NULL_SENDER;
	if (f->via_catchall)
		return AUTOREPLY_CATCHALL;
	if (strcasecmp(f->sender, f->address) == 0)
		return AUTOREPLY_SELF;
	if (robot_sender(f->sender))
		return AUTOREPLY_ROBOT;
	if (h == NULL || h->truncated)
		return AUTOREPLY_HEADER_UNKNOWN;
	if (h->auto_submitted)
		return AUTOREPLY_AUTO_SUBMITTED;
	if (h->list)
		return AUTOREPLY_LIST;
	if (h->bulk)
		return AUTOREPLY_BULK;
	return AUTOREPLY_SEND;
}

const char *autoreply_verdict_name(enum autoreply_verdict v)
{
	static const char *const names[] = {
		[AUTOREPLY_SEND] = "send",
		[AUTOREPLY_NULL_SENDER] = "null-sender",
		[AUTOREPLY_CATCHALL] = "catchall",
		[AUTOREPLY_SELF] = "self",
		[AUTOREPLY_ROBOT] = "robot-sender",
		[AUTOREPLY_HEADER_UNKNOWN] = "header-too-long",
		[AUTOREPLY_AUTO_SUBMITTED] = "auto-submitted",
		[AUTOREPLY_LIST] = "list",
		[AUTOREPLY_BULK] = "bulk",
	};

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

bool autoreply_active(bool enabled, int64_t starts_at, int64_t ends_at, int64_t now)
{
	return enabled && (starts_at == 0 || now >= starts_at) && (ends_at == 0 || now < ends_at);
}

bool autoreply_period_over(int64_t last_replied, int64_t now, int64_t period_s)
{
	return last_replied == 0 || now - last_replied >= period_s;
}

/* ---- the reply ----------------------------------------------------------------------------- */

static bool is_7bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

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

static void subject_field(const struct autoreply_reply *r, struct buf *out)
{
	char subject[AUTOREPLY_SUBJECT_MAX + 16];

	if (r->subject != NULL && r->subject[0] != '\0')
		field_value(r->subject, strlen(r->subject), subject, sizeof(subject));
	else if (r->original != NULL && r->original->subject[0] != '\0')
		snprintf(subject, sizeof(subject), "Auto: %s", r->original->subject);
	else
		snprintf(subject, sizeof(subject), "Auto: (no subject)");
	buf_append_str(out, "Subject: ");
	/* an original already in encoded words is ASCII and is kept as it came */
	if (is_7bit(subject))
		buf_append_str(out, subject);
	else
		encoded_words(out, subject, strlen(subject));
	buf_append_str(out, "\r\n");
}

/* The body with CRLF line ends; *plain_r tells whether it may go as 7bit. */
static void body_crlf(const char *body, struct buf *text, bool *plain_r)
{
	size_t line = 0;

	*plain_r = true;
	for (const char *p = body != NULL ? body : ""; *p != '\0'; p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n') {
			buf_append(text, "\r\n", 2);
			line = 0;
			continue;
		}
		if ((unsigned char)*p >= 0x80 || ++line > AUTOREPLY_LINE_MAX)
			*plain_r = false;
		buf_append(text, p, 1);
	}
	if (text->len < 2 || memcmp(text->data + text->len - 2, "\r\n", 2) != 0)
		buf_append(text, "\r\n", 2);
}

static void body_base64(const struct buf *text, struct buf *out)
{
	char b64[128];

	/* 57 bytes per line: 76 columns of base64 (RFC 2045 6.8) */
	for (size_t pos = 0; pos < text->len; pos += 57) {
		size_t n = text->len - pos > 57 ? 57 : text->len - pos;
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)text->data + pos, n,
				  sodium_base64_VARIANT_ORIGINAL);
		buf_appendf(out, "%s\r\n", b64);
	}
}

void autoreply_build(const struct autoreply_reply *r, struct buf *out)
{
	char date[SUBMIT_DATE_SIZE];
	struct buf text;
	bool plain;

	submit_headers_date((time_t)r->date, date);
	buf_appendf(out, "From: <%s>\r\nTo: <%s>\r\n", r->from, r->to);
	subject_field(r, out);
	buf_appendf(out, "Date: %s\r\nMessage-ID: %s\r\n", date, r->message_id);
	if (r->original != NULL && r->original->message_id[0] != '\0') {
		buf_appendf(out, "In-Reply-To: %s\r\n", r->original->message_id);
		if (r->original->references[0] != '\0')
			buf_appendf(out, "References: %s\r\n %s\r\n", r->original->references,
				    r->original->message_id);
		else
			buf_appendf(out, "References: %s\r\n", r->original->message_id);
	}
	/* RFC 3834 5; the Microsoft field keeps Exchange's own responders from answering us */
	buf_append_str(out, "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n"
			    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
	buf_init(&text, 0);
	body_crlf(r->body, &text, &plain);
	if (plain) {
		buf_append_str(out, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		buf_append(out, text.data, text.len);
	} else {
		buf_append_str(out, "Content-Transfer-Encoding: base64\r\n\r\n");
		body_base64(&text, out);
	}
	buf_free(&text);
}
