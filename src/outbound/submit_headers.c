/*
 * submit_headers: Date, Message-ID and Bcc fixes for submitted mail, and
 * the From addresses. See submit_headers.h for the contract.
 */
#include "outbound/submit_headers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/xalloc.h"

struct submit_headers {
	char *hostname;
	time_t now;
	struct buf line;  /* the line being read */
	struct buf field; /* the field being read, with its continuation lines */
	size_t total;     /* header bytes read, against SUBMIT_HEADER_MAX */
	bool done;
	const char *error;
	struct submit_headers_result r;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- dates and ids --------------------------------------------------------------- */

void submit_headers_date(time_t t, char out[SUBMIT_DATE_SIZE])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	/* by hand rather than strftime: %a and %b follow the locale */
	gmtime_r(&t, &tm);
	snprintf(out, SUBMIT_DATE_SIZE, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void submit_headers_message_id(const char *hostname, char out[SUBMIT_MSGID_SIZE])
{
	unsigned char raw[16];
	char hex[33];
	int n;

	/* 128 random bits: unique without coordination between processes or restarts */
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	n = snprintf(out, SUBMIT_MSGID_SIZE, "<%s@%s>", hex, hostname);
	ASSERT(n > 0 && n < SUBMIT_MSGID_SIZE);
}

/* ---- From addresses ---------------------------------------------------------------- */

struct addr_scan {
	struct buf item, angle; /* the item without comments; the text inside <> */
	bool in_angle, seen_angle;
	char ***v;
	size_t *count, max;
	int rc;
};

static void addr_push(struct addr_scan *a, const char *p, size_t len)
{
	if (len == 0 || memchr(p, '@', len) == NULL)
		return; /* an empty group, "undisclosed-recipients:;", a bare display name */
	if (*a->count >= a->max) {
		a->rc = -1;
		return;
	}
	*a->v = xrealloc(*a->v, (*a->count + 1) * sizeof(**a->v));
	(*a->v)[(*a->count)++] = xstrndup(p, len);
}

/* End of one comma-separated item: the angle-addr if there was one, else the addr-spec without CFWS. */
static void addr_item_end(struct addr_scan *a)
{
	if (a->seen_angle) {
		const char *p = a->angle.data ? a->angle.data : "";
		size_t len = a->angle.len;
		const char *colon = len > 0 && p[0] == '@' ? memchr(p, ':', len) : NULL;
		if (colon != NULL) { /* obsolete source route "@a,@b:" (RFC 5322 4.4) */
			len -= (size_t)(colon + 1 - p);
			p = colon + 1;
		}
		addr_push(a, p, len);
	} else {
		struct buf spec;
		bool quote = false;
		buf_init(&spec, 0);
		for (size_t i = 0; i < a->item.len; i++) {
			char c = a->item.data[i];
			if (c == '\\' && quote && i + 1 < a->item.len) {
				buf_append(&spec, &a->item.data[i++], 2);
				continue;
			}
			quote ^= c == '"';
			if (quote || !is_wsp(c))
				buf_append(&spec, &c, 1);
		}
		addr_push(a, spec.data, spec.len);
		buf_free(&spec);
	}
	buf_reset(&a->item);
	buf_reset(&a->angle);
	a->seen_angle = a->in_angle = false;
}

static void addr_put(struct addr_scan *a, char c)
{
	if (c == '\r' || c == '\n')
		return;
	buf_append(a->in_angle ? &a->angle : &a->item, &c, 1);
}

/* One character outside quotes and comments. */
static void addr_special(struct addr_scan *a, char c)
{
	if (c == '<' && !a->in_angle) {
		a->in_angle = a->seen_angle = true;
		buf_reset(&a->angle);
	} else if (c == '>' && a->in_angle) {
		a->in_angle = false;
	} else if ((c == ',' || c == ';') && !a->in_angle) {
		addr_item_end(a);
	} else if (c == ':' && !a->in_angle) {
		buf_reset(&a->item); /* a group name: its members follow */
	} else if (!(a->in_angle && is_wsp(c))) {
		addr_put(a, c);
	}
}

int submit_headers_parse_from(struct slice value, char ***v, size_t *count, size_t max)
{
	struct addr_scan a = { .v = v, .count = count, .max = max };
	int comment = 0;
	bool quote = false;

	buf_init(&a.item, 0);
	buf_init(&a.angle, 0);
	for (size_t i = 0; i < value.len && a.rc == 0; i++) {
		char c = value.p[i];
		if ((quote || comment > 0) && c == '\\' && i + 1 < value.len) {
			if (quote) {
				addr_put(&a, c);
				addr_put(&a, value.p[i + 1]);
			}
			i++;
		} else if (comment > 0) {
			comment += c == '(' ? 1 : c == ')' ? -1 : 0;
		} else if (quote) {
			addr_put(&a, c);
			quote = c != '"';
		} else if (c == '(') {
			comment = 1;
		} else if (c == '"') {
			addr_put(&a, c);
			quote = true;
		} else {
			addr_special(&a, c);
		}
	}
	if (a.rc == 0)
		addr_item_end(&a);
	buf_free(&a.item);
	buf_free(&a.angle);
	return a.rc;
}

/* ---- the header filter --------------------------------------------------------------- */

struct submit_headers *submit_headers_new(const char *hostname, time_t now)
{
	struct submit_headers *h = xcalloc(1, sizeof(*h));

	ASSERT(hostname != NULL && hostname[0] != '\0');
	h->hostname = xstrdup(hostname);
	h->now = now;
	buf_init(&h->line, 0);
	buf_init(&h->field, 0);
	buf_init(&h->r.header, 0);
	buf_init(&h->r.body_start, 0);
	return h;
}

void submit_headers_free(struct submit_headers *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->r.from_count; i++)
		free(h->r.from[i]);
	free(h->r.from);
	buf_free(&h->r.header);
	buf_free(&h->r.body_start);
	buf_free(&h->line);
	buf_free(&h->field);
	free(h->hostname);
	free(h);
}

/* Appends text with every line end written as CRLF, and a final CRLF if it lacks one. */
static void append_crlf(struct buf *out, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			buf_append(out, "\r", 1);
		buf_append(out, &p[i], 1);
	}
	if (len == 0 || p[len - 1] != '\n')
		buf_append(out, "\r\n", 2);
}

/* The name of a field line ("Name:" or obsolete "Name :"), or a zero slice. */
static struct slice field_name(const char *p, size_t len)
{
	const char *colon = memchr(p, ':', len);
	size_t n;

	if (colon == NULL)
		return slice_make(NULL, 0);
	n = (size_t)(colon - p);
	while (n > 0 && is_wsp(p[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 33 || p[i] > 126)
			return slice_make(NULL, 0);
	return slice_make(p, n);
}

static void from_field(struct submit_headers *h, struct slice field)
{
	const char *colon = memchr(field.p, ':', field.len);
	struct slice value = slice_make(colon + 1, field.len - (size_t)(colon + 1 - field.p));

	h->r.from_fields++;
	if (submit_headers_parse_from(value, &h->r.from, &h->r.from_count, SUBMIT_FROM_MAX) < 0 && h->error == NULL)
		h->error = "the From header field names too many addresses";
}

/* The field read so far is complete: keep it, note it, or drop it (Bcc). */
static void flush_field(struct submit_headers *h)
{
	struct slice f = slice_make(h->field.data, h->field.len);
	struct slice name;

	if (f.len == 0)
		return;
	name = field_name(f.p, f.len);
	/* RFC 5322 3.6.3: Bcc recipients must not see each other; RFC 6409 8 lets the server remove it */
	if (slice_eq_nocase(name, "bcc") || slice_eq_nocase(name, "resent-bcc")) {
		h->r.bcc_removed++;
	} else {
		if (slice_eq_nocase(name, "date"))
			h->r.had_date = true;
		else if (slice_eq_nocase(name, "message-id"))
			h->r.had_message_id = true;
		else if (slice_eq_nocase(name, "from"))
			from_field(h, f);
		append_crlf(&h->r.header, f.p, f.len);
	}
	buf_reset(&h->field);
}

/* RFC 6409 8.2 and 8.3: the submission server adds what the client left out */
static void finish_header(struct submit_headers *h)
{
	char date[SUBMIT_DATE_SIZE], id[SUBMIT_MSGID_SIZE];

	flush_field(h);
	if (!h->r.had_date) {
		submit_headers_date(h->now, date);
		buf_appendf(&h->r.header, "Date: %s\r\n", date);
	}
	if (!h->r.had_message_id) {
		submit_headers_message_id(h->hostname, id);
		buf_appendf(&h->r.header, "Message-ID: %s\r\n", id);
	}
	buf_append(&h->r.header, "\r\n", 2);
	h->done = true;
}

static void line_complete(struct submit_headers *h)
{
	const char *p = h->line.data;
	size_t len = h->line.len;

	if ((len == 1 && p[0] == '\n') || (len == 2 && p[0] == '\r' && p[1] == '\n')) {
		finish_header(h);
	} else if (is_wsp(p[0]) && h->field.len > 0) {
		buf_append(&h->field, p, len);
	} else if (!is_wsp(p[0]) && field_name(p, len).p != NULL) {
		flush_field(h);
		buf_append(&h->field, p, len);
	} else {
		/* not a header line: the body starts here, without the empty line */
		finish_header(h);
		buf_append(&h->r.body_start, p, len);
	}
	buf_reset(&h->line);
}

size_t submit_headers_feed(struct submit_headers *h, const void *data, size_t len, bool *done_r)
{
	const char *p = data;
	size_t i = 0;

	while (i < len && !h->done) {
		const char *lf = memchr(p + i, '\n', len - i);
		size_t n = lf != NULL ? (size_t)(lf - (p + i)) + 1 : len - i;
		h->total += n;
		if (h->total > SUBMIT_HEADER_MAX) {
			h->error = "the message header is too large";
			h->done = true;
			break;
		}
		buf_append(&h->line, p + i, n);
		i += n;
		if (lf != NULL)
			line_complete(h);
	}
	*done_r = h->done;
	return i;
}

void submit_headers_end(struct submit_headers *h)
{
	if (h->done)
		return;
	if (h->line.len > 0)
		line_complete(h); /* the last line had no line end */
	if (!h->done)
		finish_header(h);
}

const struct submit_headers_result *submit_headers_result(const struct submit_headers *h, const char **errstr_r)
{
	ASSERT(h->done);
	if (h->error != NULL) {
		*errstr_r = h->error;
		return NULL;
	}
	return &h->r;
}
