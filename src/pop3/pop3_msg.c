/*
 * pop3_msg: the RETR/TOP output filter, argument parsing, the read-ahead
 * choice and listing lines (see pop3_msg.h).
 *
 * The filter scans for line ends and emits runs of bytes between them, so
 * a 50 MB message costs a few calls per chunk, not one per byte.
 */
#include <string.h>

#include "pop3/pop3_msg.h"

void pop3_msg_filter_init(struct pop3_msg_filter *f, bool top, uint64_t body_lines)
{
	memset(f, 0, sizeof(*f));
	f->top = top;
	f->body_lines = body_lines;
	f->line_start = true;
}

/* A line ended (CRLF, LF, or the end of the message). */
static void end_line(struct pop3_msg_filter *f, pop3_emit_fn emit, void *arg)
{
	bool empty = f->line_start;

	emit("\r\n", 2, arg);
	f->line_start = true;
	if (!f->in_body) {
		/* RFC 5322 2.1: the first empty line ends the header. */
		if (empty)
			f->in_body = true;
	} else if (f->top && f->body_lines > 0) {
		f->body_lines--;
	}
	if (f->top && f->in_body && f->body_lines == 0)
		f->done = true;
}

/* Emits content bytes, stuffing a "." that begins a line (RFC 1939 3). */
static void content(struct pop3_msg_filter *f, const char *p, size_t len, pop3_emit_fn emit, void *arg)
{
	if (len == 0)
		return;
	if (f->line_start && p[0] == '.')
		emit(".", 1, arg);
	f->line_start = false;
	emit(p, len, arg);
}

/* Position of the next CR or LF in [p, p+len), or len. */
static size_t next_eol(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == '\r' || p[i] == '\n')
			return i;
	return len;
}

size_t pop3_msg_filter_feed(struct pop3_msg_filter *f, const char *p, size_t len, pop3_emit_fn emit, void *arg)
{
	size_t i = 0;

	while (i < len && !f->done) {
		if (f->cr_pending) {
			f->cr_pending = false;
			if (p[i] == '\n') {
				i++;
				end_line(f, emit, arg);
				continue;
			}
			content(f, "\r", 1, emit, arg); /* a bare CR is data */
		}
		size_t j = i + next_eol(p + i, len - i);
		content(f, p + i, j - i, emit, arg);
		if (j == len)
			return len;
		if (p[j] == '\n') {
			end_line(f, emit, arg); /* a bare LF ends a line too: we send CRLF */
		} else {
			f->cr_pending = true;
		}
		i = j + 1;
	}
	return i;
}

void pop3_msg_filter_finish(struct pop3_msg_filter *f, pop3_emit_fn emit, void *arg)
{
	if (!f->done) {
		if (f->cr_pending) {
			f->cr_pending = false;
			end_line(f, emit, arg);
		} else if (!f->line_start) {
			end_line(f, emit, arg);
		}
	}
	emit(".\r\n", 3, arg);
}

int pop3_parse_number(struct slice s, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;

	if (s.len == 0 || s.len > 20)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return -1;
		if (n > max / 10)
			return -1;
		n *= 10;
		if (d > max - n)
			return -1;
		n += d;
	}
	*n_r = n;
	return 0;
}

void pop3_next_word(struct slice args, struct slice *word_r, struct slice *rest_r)
{
	const char *sp = memchr(args.p, ' ', args.len);

	if (sp == NULL) {
		*word_r = args;
		*rest_r = slice_make(args.p + args.len, 0);
		return;
	}
	*word_r = slice_make(args.p, (size_t)(sp - args.p));
	*rest_r = slice_make(sp + 1, args.len - (size_t)(sp + 1 - args.p));
}

int pop3_split_command(struct slice line, struct slice *verb_r, struct slice *args_r)
{
	pop3_next_word(line, verb_r, args_r);
	if (verb_r->len == 0 || verb_r->len > 10)
		return -1;
	for (size_t i = 0; i < verb_r->len; i++) {
		char c = verb_r->p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return -1;
	}
	return 0;
}

size_t pop3_prefetch_pick(const struct pop3_message *msgs, size_t count, size_t after, uint64_t budget,
			  size_t max_msgs, size_t *indexes_r)
{
	size_t n = 0;

	for (size_t i = after + 1; i < count && n < max_msgs; i++) {
		if (msgs[i].deleted)
			continue;
		if (msgs[i].size >= budget)
			break;
		budget -= msgs[i].size + 1;
		indexes_r[n++] = i;
	}
	return n;
}

/* Decimal digits of v at p (no NUL); returns how many (1-20). */
static size_t put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Formatted by hand: a 100,000-message LIST is 100,000 lines, and printf dominated it. */
size_t pop3_listing_line(char *buf, size_t number, const struct pop3_message *m, bool uidl, uint32_t uidvalidity)
{
	size_t n = put_u64(buf, number);

	buf[n++] = ' ';
	if (uidl) {
		n += put_u64(buf + n, uidvalidity);
		buf[n++] = '.';
		n += put_u64(buf + n, m->uid);
	} else {
		n += put_u64(buf + n, m->size);
	}
	buf[n++] = '\r';
	buf[n++] = '\n';
	return n;
}
