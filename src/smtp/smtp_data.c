/*
 * smtp_data: the DATA / BDAT content filter (see smtp_data.h).
 *
 * A byte-level state machine, so that input split at any byte boundary
 * gives the same output as input fed at once, and memory stays constant
 * whatever the line lengths. Nothing is ever buffered across feeds except
 * what the state encodes: a held CR and, in DATA mode, a dot at line start
 * (and its CR) until we know whether they end the message.
 *
 * The line-start states remember what delimited the previous line, because
 * RFC 5321 4.1.1.4 ends data only at <CRLF>.<CRLF>, and the 2023 "SMTP
 * smuggling" attacks rely on servers that also accept a lone dot delimited
 * by a bare <LF> or <CR> on either side. Such a dot line is passed through
 * as text (so the smuggled "second message" is just text in the first) and
 * sets f->smuggling, so that the session can refuse the whole message.
 *
 * Bare CR is kept as it is (it is not a line end for us); bare LF becomes
 * CRLF. A dot at the start of a line after a bare LF is unstuffed like one
 * after CRLF, since the output line starts there too; after a bare CR it is
 * plain text.
 */
#include "smtp/smtp_data.h"

#include <string.h>

enum data_state {
	ST_TEXT,	/* inside a line */
	ST_CR,		/* a CR held: is it CRLF or bare? */
	ST_START_CRLF,	/* at line start after CRLF (or at the start of data) */
	ST_START_LF,	/* at line start after a bare LF (already output as CRLF) */
	ST_DOT_CRLF,	/* "." held at line start after CRLF */
	ST_DOT_LF,	/* "." held at line start after a bare LF */
	ST_DOT_CR,	/* "." held after a bare CR (already output) */
	ST_DOTCR_CRLF,	/* ".\r" held after CRLF: end of data if LF follows */
	ST_DOTCR_LF,	/* ".\r" held after a bare LF */
	ST_DOTCR_CR,	/* ".\r" held after a bare CR */
};

/* Output is gathered here and handed out in runs; constant size. */
#define OUT_CHUNK 4096

struct out_ctx {
	struct smtp_data_filter *f;
	smtp_data_out_cb cb;
	void *arg;
	size_t len;
	char buf[OUT_CHUNK];
};

static void out_flush(struct out_ctx *o)
{
	if (o->len == 0)
		return;
	o->f->out_bytes += o->len;
	o->cb(o->buf, o->len, o->arg);
	o->len = 0;
}

static void out_bytes(struct out_ctx *o, const char *p, size_t n)
{
	if (n > sizeof(o->buf) / 2) {
		/* A long run goes out directly, without the copy. */
		out_flush(o);
		o->f->out_bytes += n;
		o->cb(p, n, o->arg);
		return;
	}
	if (o->len + n > sizeof(o->buf))
		out_flush(o);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void out_crlf(struct out_ctx *o)
{
	out_bytes(o, "\r\n", 2);
}

void smtp_data_init(struct smtp_data_filter *f, enum smtp_data_mode mode)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	/* RFC 5321 4.1.1.4: the DATA reply counts as the CRLF before a first ".". */
	f->state = mode == SMTP_DATA_DOT ? ST_START_CRLF : ST_TEXT;
}

/* Bare LF: normalised, and from here a new line starts. */
static int bare_lf(struct smtp_data_filter *f, struct out_ctx *o)
{
	f->bare_lf++;
	out_crlf(o);
	return f->mode == SMTP_DATA_DOT ? ST_START_LF : ST_TEXT;
}

/*
 * Inside a line: copies the run of ordinary bytes at once. Returns how many
 * bytes were consumed; the state may change on CR or LF.
 */
static size_t step_text(struct smtp_data_filter *f, struct out_ctx *o, const char *p, size_t len)
{
	size_t n = 0;

	while (n < len && p[n] != '\r' && p[n] != '\n')
		n++;
	if (n > 0) {
		out_bytes(o, p, n);
		return n;
	}
	if (p[0] == '\r')
		f->state = ST_CR;
	else
		f->state = bare_lf(f, o);
	return 1;
}

/* A held CR meets its next byte. Returns 1 if c was consumed, 0 to re-run it. */
static int step_cr(struct smtp_data_filter *f, struct out_ctx *o, char c)
{
	if (c == '\n') {
		out_crlf(o);
		f->state = f->mode == SMTP_DATA_DOT ? ST_START_CRLF : ST_TEXT;
		return 1;
	}
	/* The CR was bare: it goes out as it is. */
	out_bytes(o, "\r", 1);
	if (c == '\r')
		return 1; /* stays in ST_CR, holding the new CR */
	if (c == '.' && f->mode == SMTP_DATA_DOT) {
		f->state = ST_DOT_CR;
		return 1;
	}
	f->state = ST_TEXT;
	return 0;
}

/* A lone dot line with a bare CR or LF on either side: text, never the end. */
static void smuggled_dot(struct smtp_data_filter *f, struct out_ctx *o)
{
	f->smuggling = true;
	out_bytes(o, ".", 1);
}

/* A held "." at line start (or after a bare CR) meets its next byte. */
static int step_dot(struct smtp_data_filter *f, struct out_ctx *o, char c)
{
	int st = f->state;

	if (c == '\r') {
		f->state = st == ST_DOT_CRLF ? ST_DOTCR_CRLF : st == ST_DOT_LF ? ST_DOTCR_LF : ST_DOTCR_CR;
		return 1;
	}
	if (c == '\n') {
		/* <CRLF>.<LF>, <LF>.<LF>, <CR>.<LF> */
		smuggled_dot(f, o);
		f->state = bare_lf(f, o);
		return 1;
	}
	if (st == ST_DOT_CR) {
		/* Not at a line start: the dot is text. */
		out_bytes(o, ".", 1);
		f->state = ST_TEXT;
		return 0;
	}
	/*
	 * RFC 5321 4.5.2: a line-initial dot followed by more text is removed
	 * ("..x" was stuffed by the client for ".x"; ".x" lost its dot).
	 */
	f->state = ST_TEXT;
	if (c != '.')
		return 0;
	out_bytes(o, ".", 1);
	return 1;
}

/* A held ".\r" meets its next byte. Returns 1 if c was consumed, 0 to re-run it. */
static int step_dotcr(struct smtp_data_filter *f, struct out_ctx *o, char c)
{
	if (c == '\n' && f->state == ST_DOTCR_CRLF) {
		f->ended = true;
		return 1;
	}
	/* <LF>.<CRLF>, <CR>.<CRLF>, or a dot closed by a bare CR */
	smuggled_dot(f, o);
	if (c == '\n') {
		out_crlf(o);
		f->state = ST_START_CRLF;
		return 1;
	}
	f->state = ST_CR;
	return 0;
}

/* One step at p[0]; returns bytes consumed (0: state changed, run again). */
static size_t step(struct smtp_data_filter *f, struct out_ctx *o, const char *p, size_t len)
{
	switch (f->state) {
	case ST_TEXT:
		return step_text(f, o, p, len);
	case ST_CR:
		return (size_t)step_cr(f, o, p[0]);
	case ST_START_CRLF:
	case ST_START_LF:
		if (p[0] == '.') {
			f->state = f->state == ST_START_CRLF ? ST_DOT_CRLF : ST_DOT_LF;
			return 1;
		}
		f->state = ST_TEXT;
		return 0;
	case ST_DOT_CRLF:
	case ST_DOT_LF:
	case ST_DOT_CR:
		return (size_t)step_dot(f, o, p[0]);
	default:
		return (size_t)step_dotcr(f, o, p[0]);
	}
}

size_t smtp_data_feed(struct smtp_data_filter *f, const char *p, size_t len, smtp_data_out_cb out, void *arg)
{
	struct out_ctx o;
	size_t i = 0, n;

	if (f->ended)
		return 0;
	o.f = f, o.cb = out, o.arg = arg, o.len = 0;
	while (i < len) {
		n = step(f, &o, p + i, len - i);
		i += n;
		if (f->ended)
			break; /* right after the final LF: the rest is the next command */
	}
	out_flush(&o);
	return i;
}

void smtp_data_finish(struct smtp_data_filter *f, smtp_data_out_cb out, void *arg)
{
	if (f->mode != SMTP_DATA_BDAT || f->state != ST_CR)
		return;
	/* A CR that ended the last chunk had no LF after it: bare, kept as it is. */
	f->out_bytes += 1;
	out("\r", 1, arg);
	f->state = ST_TEXT;
}
