/*
 * dkim_canon: RFC 6376 3.4 canonicalisation (simple and relaxed, header and
 * body) and the header block splitter the signer uses.
 */
#include "outbound/dkim_private.h"

#include <string.h>

#include "lib/log.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- body ---------------------------------------------------------------------- */

void dkim_body_canon_init(struct dkim_body_canon *c, enum dkim_canon mode, dkim_sink_fn *sink, void *ctx)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
	c->sink = sink;
	c->ctx = ctx;
}

static void canon_flush(struct dkim_body_canon *c)
{
	if (c->out_len > 0)
		c->sink(c->ctx, c->out, c->out_len);
	c->out_len = 0;
}

static void canon_put(struct dkim_body_canon *c, char ch)
{
	if (c->out_len == sizeof(c->out))
		canon_flush(c);
	c->out[c->out_len++] = ch;
}

/*
 * Line ends are held back and only written when text follows, because both
 * canonicalisations drop the empty lines at the end of the body (3.4.3,
 * 3.4.4) and we cannot know which lines are at the end until it comes.
 */
static void canon_text(struct dkim_body_canon *c, char ch)
{
	for (; c->crlf_pending > 0; c->crlf_pending--) {
		canon_put(c, '\r');
		canon_put(c, '\n');
	}
	if (c->wsp_pending) {
		canon_put(c, ' ');
		c->wsp_pending = false;
	}
	canon_put(c, ch);
	c->any = true;
}

static void canon_line_end(struct dkim_body_canon *c)
{
	c->wsp_pending = false; /* relaxed: whitespace at the end of a line is ignored */
	c->crlf_pending++;
}

static void canon_byte(struct dkim_body_canon *c, char ch)
{
	if (c->cr_pending) {
		c->cr_pending = false;
		if (ch == '\n') {
			canon_line_end(c);
			return;
		}
		canon_text(c, '\r'); /* a bare CR is text */
	}
	if (ch == '\r')
		c->cr_pending = true;
	else if (ch == '\n')
		canon_line_end(c); /* bare LF: sent as CRLF by our SMTP client */
	else if (c->mode == DKIM_CANON_RELAXED && is_wsp(ch))
		c->wsp_pending = true; /* a run of WSP becomes one SP, if text follows */
	else
		canon_text(c, ch);
}

void dkim_body_canon_feed(struct dkim_body_canon *c, const void *data, size_t len)
{
	const char *p = data;

	for (size_t i = 0; i < len; i++)
		canon_byte(c, p[i]);
}

/*
 * The body ends with exactly one CRLF if it has any text. Simple: an empty
 * body is one CRLF (3.4.3). Relaxed: an empty body is empty (3.4.4, as
 * amended by erratum 3871).
 */
void dkim_body_canon_finish(struct dkim_body_canon *c)
{
	if (c->cr_pending) {
		c->cr_pending = false;
		canon_text(c, '\r');
	}
	if (c->any || c->mode == DKIM_CANON_SIMPLE) {
		canon_put(c, '\r');
		canon_put(c, '\n');
	}
	canon_flush(c);
}

/* ---- headers ------------------------------------------------------------------- */

/* simple (3.4.1): unchanged, except that every line end is written as CRLF */
static void header_simple(struct slice f, struct buf *out)
{
	for (size_t i = 0; i < f.len; i++) {
		if (f.p[i] == '\n' && (i == 0 || f.p[i - 1] != '\r'))
			buf_append(out, "\r", 1);
		buf_append(out, &f.p[i], 1);
	}
	if (f.len == 0 || f.p[f.len - 1] != '\n')
		buf_append(out, "\r\n", 2);
}

/*
 * relaxed (3.4.2): lower-case name, no WSP around the colon, continuation
 * lines unfolded, runs of WSP reduced to one SP, no WSP at the end.
 */
static void header_relaxed(struct slice f, struct buf *out)
{
	const char *colon = memchr(f.p, ':', f.len);
	size_t name_len, i;
	bool wsp = false, started = false;

	ASSERT(colon != NULL);
	name_len = (size_t)(colon - f.p);
	while (name_len > 0 && is_wsp(f.p[name_len - 1]))
		name_len--;
	for (i = 0; i < name_len; i++) {
		char ch = f.p[i];
		ch = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		buf_append(out, &ch, 1);
	}
	buf_append(out, ":", 1);
	for (i = (size_t)(colon - f.p) + 1; i < f.len; i++) {
		char ch = f.p[i];
		if (ch == '\r' || ch == '\n')
			continue;
		if (is_wsp(ch)) {
			wsp = true;
			continue;
		}
		if (wsp && started)
			buf_append(out, " ", 1);
		wsp = false;
		started = true;
		buf_append(out, &ch, 1);
	}
	buf_append(out, "\r\n", 2);
}

void dkim_header_canon(enum dkim_canon mode, struct slice field, struct buf *out)
{
	if (mode == DKIM_CANON_SIMPLE)
		header_simple(field, out);
	else
		header_relaxed(field, out);
}

/* ---- splitting ------------------------------------------------------------------ */

/* RFC 5322 2.2: a field name is printable US-ASCII except the colon (WSP before it is obsolete syntax) */
static int field_name(struct slice line, struct slice *name_r)
{
	const char *colon = memchr(line.p, ':', line.len);
	size_t n;

	if (colon == NULL)
		return -1;
	n = (size_t)(colon - line.p);
	while (n > 0 && is_wsp(line.p[n - 1]))
		n--;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (line.p[i] < 33 || line.p[i] > 126)
			return -1;
	*name_r = slice_make(line.p, n);
	return 0;
}

static size_t line_length(const char *p, size_t left)
{
	const char *lf = memchr(p, '\n', left);
	return lf != NULL ? (size_t)(lf - p) + 1 : left;
}

static bool line_is_empty(const char *p, size_t len)
{
	return (len == 1 && p[0] == '\n') || (len == 2 && p[0] == '\r' && p[1] == '\n');
}

int dkim_header_split(struct slice header, dkim_field_fn *fn, void *ctx, const char **errstr_r)
{
	size_t pos = 0, start = 0;
	struct slice name = { NULL, 0 };

	while (pos < header.len) {
		size_t n = line_length(header.p + pos, header.len - pos);
		if (line_is_empty(header.p + pos, n)) {
			if (pos + n != header.len) {
				*errstr_r = "the header block has data after the empty line that ends it";
				return -1;
			}
			break;
		}
		if (is_wsp(header.p[pos])) {
			if (name.p == NULL) {
				*errstr_r = "the header block starts with a continuation line";
				return -1;
			}
		} else {
			if (name.p != NULL)
				fn(ctx, name, slice_make(header.p + start, pos - start));
			if (field_name(slice_make(header.p + pos, n), &name) < 0) {
				*errstr_r = "a header line is not a header field (no name and colon)";
				return -1;
			}
			start = pos;
		}
		pos += n;
	}
	if (name.p != NULL)
		fn(ctx, name, slice_make(header.p + start, pos - start));
	return 0;
}
