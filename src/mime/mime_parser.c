/*
 * mime_parser: the streaming MIME parser (RFC 5322, RFC 2045/2046).
 *
 * The parser never holds a body. It keeps one header block (at most
 * MIME_HEADER_MAX), the boundaries of the open multiparts (at most one per
 * nesting level) and at most PREFIX_MAX bytes of the current body line —
 * enough to tell whether that line is a boundary line. Everything else is
 * counted (offsets, line feeds) and forgotten, so memory depends on the
 * limits and on the header bytes kept in the tree, never on body size.
 *
 * Boundary lines (RFC 2046 5.1.1): "--" boundary ["--"] *(SP / HTAB) CRLF.
 * They are matched exactly, innermost multipart first, so that nested
 * boundaries which are prefixes of each other ("=_a" and "=_ab") are told
 * apart; an outer boundary also closes every inner part still open (a
 * missing close delimiter). The line break before a boundary line belongs to
 * the boundary, not to the part before it. Line breaks are LF or CRLF; a
 * lone CR is an ordinary byte. Line counts are the number of LFs in a body,
 * which is what IMAP and Dovecot report.
 *
 * Past a limit (depth, part count, header size) the rest is body text of the
 * current part and limits_hit is set; malformed input is never an error.
 */
#include "mime/mime_private.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

/* ---- arena ----------------------------------------------------------------------------------- */

#define ARENA_CHUNK 8192

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	alignas(max_align_t) char data[];
};

struct mime_arena {
	struct arena_chunk *head;
};

struct mime_arena *mime_arena_new(void)
{
	return xcalloc(1, sizeof(struct mime_arena));
}

void mime_arena_free(struct mime_arena *a)
{
	if (a == NULL)
		return;
	while (a->head != NULL) {
		struct arena_chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
	free(a);
}

void *mime_arena_alloc(struct mime_arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	struct arena_chunk *c = a->head;

	n = (n + align - 1) & ~(align - 1);
	if (c == NULL || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK / 2 ? n : ARENA_CHUNK;
		c = xmalloc(sizeof(*c) + size);
		c->used = 0;
		c->size = size;
		if (n > ARENA_CHUNK / 2 && a->head != NULL) {
			/* a big block goes behind the current chunk, which keeps its free space */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *mime_arena_strndup(struct mime_arena *a, const char *p, size_t n)
{
	char *s = mime_arena_alloc(a, n + 1);

	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

char *mime_arena_strndup_lower(struct mime_arena *a, const char *p, size_t n)
{
	char *s = mime_arena_strndup(a, p, n);

	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	return s;
}

/* ---- parser state ------------------------------------------------------------------------------ */

/* "--" boundary "--" and one more byte: enough to decide on every boundary. */
#define PREFIX_MAX (2 + MIME_BOUNDARY_MAX + 2 + 1)
#define FRAMES_MAX (MIME_DEPTH_MAX + 1)

struct frame {
	struct mime_part *part;
	struct mime_part *last_child;
	struct mime_envelope *env; /* filled from this part's header (root, embedded messages) */
	uint64_t lf_at_body;       /* LFs before the body started */
	bool digest;               /* multipart/digest: children default to message/rfc822 */
	bool digest_child;
};

struct boundary {
	char text[MIME_BOUNDARY_MAX];
	size_t len;
	size_t frame; /* index of the multipart's frame */
};

enum line_state {
	LS_START,  /* at the first byte of a line */
	LS_PREFIX, /* collecting a line that starts with '-' */
	LS_TAIL,   /* a boundary matched; only white space may follow */
	LS_SKIP,   /* not a boundary line: on to the LF */
};

struct mime_parser {
	struct mime_message *msg;
	struct mime_arena *arena;
	uint64_t offset;      /* of the next byte */
	uint64_t lfs;         /* LFs so far */
	bool last_cr;         /* the byte before offset is a CR */
	bool in_header;       /* the top frame's header is being read */
	bool parts_full;      /* MIME_PARTS_MAX reached: boundaries are body text now */
	struct buf hdr;       /* the top frame's header block so far */
	size_t hdr_line;      /* start of the current line in hdr */
	struct frame frames[FRAMES_MAX];
	size_t nframes;
	struct boundary bounds[FRAMES_MAX];
	size_t nbounds;

	enum line_state ls;
	uint64_t line_off;    /* offset of the current body line */
	uint64_t line_lfs;    /* LFs before it */
	unsigned prev_eol;    /* length of the line break before it, if that is in the body; else 0 */
	char pre[PREFIX_MAX];
	size_t pre_len;
	int match;            /* LS_TAIL: the boundary matched */
	bool match_close;
};

static struct frame *top(struct mime_parser *p)
{
	return &p->frames[p->nframes - 1];
}

static struct mime_part *new_part(struct mime_parser *p, struct mime_part *parent)
{
	if (p->msg->part_count >= MIME_PARTS_MAX) {
		p->parts_full = true;
		p->msg->limits_hit = true;
		return NULL;
	}
	struct mime_part *part = mime_arena_alloc(p->arena, sizeof(*part));
	part->parent = parent;
	part->header_offset = p->offset;
	part->body_offset = p->offset;
	p->msg->part_count++;
	return part;
}

/* Pushes part as the new top frame, its header to be read next. */
static void push_frame(struct mime_parser *p, struct mime_part *part, struct mime_envelope *env, bool digest_child)
{
	struct frame *f = &p->frames[p->nframes++];

	memset(f, 0, sizeof(*f));
	f->part = part;
	f->env = env;
	f->digest_child = digest_child;
	p->in_header = true;
	buf_reset(&p->hdr);
	p->hdr_line = 0;
}

struct mime_parser *mime_parser_new(void)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	p->arena = mime_arena_new();
	p->msg = mime_arena_alloc(p->arena, sizeof(*p->msg));
	p->msg->arena = p->arena;
	buf_init(&p->hdr, MIME_HEADER_MAX);
	p->msg->root = new_part(p, NULL);
	push_frame(p, p->msg->root, &p->msg->envelope, false);
	return p;
}

/* ---- opening containers ----------------------------------------------------------------------- */

static const char *param_value(const struct mime_param *params, const char *name)
{
	for (; params != NULL; params = params->next)
		if (strcmp(params->name, name) == 0)
			return params->value;
	return NULL;
}

static bool depth_ok(struct mime_parser *p)
{
	if (p->nframes < FRAMES_MAX)
		return true;
	p->msg->limits_hit = true;
	return false;
}

/* A multipart's children start at its first boundary line; here we only learn the boundary. */
static void open_multipart(struct mime_parser *p, struct frame *f)
{
	const char *b = param_value(f->part->params, "boundary");
	size_t len = b != NULL ? strlen(b) : 0;

	/* without a usable boundary the body is one opaque run of text (RFC 2046 5.1.1) */
	if (len == 0 || len > MIME_BOUNDARY_MAX || p->parts_full || !depth_ok(p))
		return;
	struct boundary *bd = &p->bounds[p->nbounds++];
	memcpy(bd->text, b, len);
	bd->len = len;
	bd->frame = p->nframes - 1;
	f->digest = strcmp(f->part->subtype, "digest") == 0;
}

/* message/rfc822 holds a message only as 7bit/8bit/binary: encoded, its offsets are not ours. */
static void open_message(struct mime_parser *p, struct frame *f)
{
	const char *enc = f->part->encoding;

	if (strcmp(enc, "7bit") != 0 && strcmp(enc, "8bit") != 0 && strcmp(enc, "binary") != 0)
		return;
	if (p->parts_full || !depth_ok(p))
		return;
	struct mime_part *child = new_part(p, f->part);
	if (child == NULL)
		return;
	f->part->children = child;
	f->part->envelope = mime_arena_alloc(p->arena, sizeof(struct mime_envelope));
	push_frame(p, child, f->part->envelope, false);
}

static bool is_message_type(const struct mime_part *part)
{
	return strcmp(part->type, "message") == 0 &&
	       (strcmp(part->subtype, "rfc822") == 0 || strcmp(part->subtype, "global") == 0);
}

/* The top frame's header block is complete and ends at end: fills the part from it. */
static void header_done(struct mime_parser *p, uint64_t end)
{
	struct frame *f = top(p);
	struct mime_part *part = f->part;

	part->header_size = end - part->header_offset;
	part->body_offset = end;
	mime_header_apply(p->arena, part, slice_make(p->hdr.data != NULL ? p->hdr.data : "", p->hdr.len),
			f->digest_child, f->env);
	buf_reset(&p->hdr);
	p->in_header = false;
}

/* The top frame's header ends at p->offset (overflow: cut short by MIME_HEADER_MAX). */
static void end_header(struct mime_parser *p, bool overflow)
{
	struct frame *f = top(p);
	struct mime_part *part = f->part;

	header_done(p, p->offset);
	f->lf_at_body = p->lfs;
	p->ls = overflow ? LS_SKIP : LS_START;
	p->line_off = p->offset;
	p->line_lfs = p->lfs;
	p->prev_eol = 0;
	if (overflow) {
		p->msg->limits_hit = true;
		return;
	}
	if (strcmp(part->type, "multipart") == 0)
		open_multipart(p, f);
	else if (is_message_type(part))
		open_message(p, f);
}

/* ---- closing parts ----------------------------------------------------------------------------- */

/* Closes the top frame at end; lfs_at_end = LFs in [0, end). */
static void close_top(struct mime_parser *p, uint64_t end, uint64_t lfs_at_end)
{
	struct frame *f = top(p);
	struct mime_part *part = f->part;

	if (p->in_header) {
		/* the header never ended: all of it is header, the body is empty */
		header_done(p, end);
		f->lf_at_body = lfs_at_end;
	}
	part->body_size = end - part->body_offset;
	part->body_lines = (uint32_t)(lfs_at_end - f->lf_at_body);
	while (p->nbounds > 0 && p->bounds[p->nbounds - 1].frame >= p->nframes - 1)
		p->nbounds--;
	p->nframes--;
}

static void add_child(struct mime_parser *p, struct frame *f, struct mime_part *child)
{
	(void)p;
	if (f->last_child == NULL)
		f->part->children = child;
	else
		f->last_child->next = child;
	f->last_child = child;
}

/* ---- boundary lines ---------------------------------------------------------------------------- */

static bool all_wsp(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/*
 * The open boundary the line s[0..n) (no LF; possibly only its first
 * PREFIX_MAX bytes) is a delimiter of, innermost first, or -1. Trailing
 * white space is RFC 2046's transport padding; a CR is the line break's.
 */
static int match_boundary(const struct mime_parser *p, const char *s, size_t n, bool *close_r)
{
	if (n < 3 || s[0] != '-' || s[1] != '-' || p->parts_full)
		return -1;
	for (size_t i = p->nbounds; i-- > 0;) {
		const struct boundary *b = &p->bounds[i];
		if (n < 2 + b->len || memcmp(s + 2, b->text, b->len) != 0)
			continue;
		const char *r = s + 2 + b->len;
		size_t rn = n - 2 - b->len;
		bool close = rn >= 2 && r[0] == '-' && r[1] == '-';
		if (close) {
			r += 2;
			rn -= 2;
		}
		if (all_wsp(r, rn)) {
			*close_r = close;
			return (int)i;
		}
	}
	return -1;
}

/* A delimiter would open part MIME_PARTS_MAX + 1: from here on, boundaries are text. */
static bool boundary_allowed(struct mime_parser *p, bool close)
{
	if (close || p->msg->part_count < MIME_PARTS_MAX)
		return true;
	p->parts_full = true;
	p->msg->limits_hit = true;
	return false;
}

/*
 * The current line (p->line_off, p->line_lfs, the line break before it
 * p->prev_eol, its own own_eol) is a delimiter of boundary idx and p->offset
 * is past it. Every part inside that multipart ends where the line break
 * before the delimiter starts; a close delimiter leaves the multipart's
 * epilogue, a separator opens its next part.
 */
static void at_boundary(struct mime_parser *p, int idx, bool close, unsigned own_eol)
{
	uint64_t end = p->line_off - p->prev_eol;
	uint64_t lfs_end = p->line_lfs - (p->prev_eol > 0 ? 1 : 0);
	size_t mframe = p->bounds[idx].frame;

	while (p->nframes - 1 > mframe)
		close_top(p, end, lfs_end);
	struct frame *m = top(p);
	if (close) {
		p->nbounds = (size_t)idx;
		p->ls = LS_START;
		p->line_off = p->offset;
		p->line_lfs = p->lfs;
		p->prev_eol = own_eol;
		return;
	}
	struct mime_part *child = new_part(p, m->part);
	add_child(p, m, child);
	push_frame(p, child, NULL, m->digest);
}

/* ---- feeding ------------------------------------------------------------------------------------ */

static void advance(struct mime_parser *p, const char *d, size_t n)
{
	if (n > 0) {
		p->offset += n;
		p->last_cr = d[n - 1] == '\r';
	}
}

/* A body line ended (its LF consumed, cr: it was CRLF). */
static void body_eol(struct mime_parser *p, bool cr)
{
	p->prev_eol = cr ? 2 : 1;
	p->ls = LS_START;
	p->line_off = p->offset;
	p->line_lfs = p->lfs;
}

/* The LF of a line ends at d + n - 1 (n >= 1): was it a CRLF? */
static bool crlf_at(const struct mime_parser *p, const char *d, size_t lf_index)
{
	return lf_index > 0 ? d[lf_index - 1] == '\r' : p->last_cr;
}

static size_t skip_line(struct mime_parser *p, const char *d, size_t len)
{
	const char *lf = memchr(d, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - d) + 1 : len;
	bool cr = lf != NULL && crlf_at(p, d, n - 1);

	advance(p, d, n);
	if (lf != NULL) {
		p->lfs++;
		body_eol(p, cr);
	}
	return n;
}

static size_t collect_prefix(struct mime_parser *p, const char *d, size_t len)
{
	size_t room = PREFIX_MAX - p->pre_len, scan = len < room ? len : room;
	const char *lf = memchr(d, '\n', scan);
	size_t n = lf != NULL ? (size_t)(lf - d) + 1 : scan;
	size_t keep = lf != NULL ? n - 1 : n;
	bool close = false, cr = lf != NULL && crlf_at(p, d, n - 1);
	int idx;

	memcpy(p->pre + p->pre_len, d, keep);
	p->pre_len += keep;
	advance(p, d, n);
	if (lf != NULL) {
		p->lfs++;
		idx = match_boundary(p, p->pre, p->pre_len, &close);
		if (idx >= 0 && boundary_allowed(p, close))
			at_boundary(p, idx, close, cr ? 2 : 1);
		else
			body_eol(p, cr);
	} else if (p->pre_len == PREFIX_MAX) {
		idx = match_boundary(p, p->pre, p->pre_len, &close);
		p->ls = idx >= 0 ? LS_TAIL : LS_SKIP;
		p->match = idx;
		p->match_close = close;
	}
	return n;
}

/* After a long matched prefix: white space to the LF keeps it a delimiter. */
static size_t tail(struct mime_parser *p, const char *d, size_t len)
{
	size_t i = 0;

	while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r'))
		i++;
	if (i < len && d[i] == '\n') {
		bool cr = crlf_at(p, d, i);
		advance(p, d, i + 1);
		p->lfs++;
		if (boundary_allowed(p, p->match_close))
			at_boundary(p, p->match, p->match_close, cr ? 2 : 1);
		else
			body_eol(p, cr);
		return i + 1;
	}
	advance(p, d, i);
	if (i < len)
		p->ls = LS_SKIP;
	return i;
}

static size_t feed_body(struct mime_parser *p, const char *d, size_t len)
{
	switch (p->ls) {
	case LS_START:
		if (d[0] == '-' && p->nbounds > 0 && !p->parts_full) {
			p->ls = LS_PREFIX;
			p->pre_len = 0;
		} else {
			p->ls = LS_SKIP;
		}
		return 0;
	case LS_PREFIX:
		return collect_prefix(p, d, len);
	case LS_TAIL:
		return tail(p, d, len);
	case LS_SKIP:
		break;
	}
	return skip_line(p, d, len);
}

/*
 * A header line hdr[hdr_line..] (ll bytes without its line break, own_eol
 * the break's length) may be a delimiter: then the part ends with no body.
 * The line's offset and LF count are derived from the header block.
 */
static bool header_boundary(struct mime_parser *p, size_t ll, unsigned own_eol)
{
	const char *line = p->hdr.data + p->hdr_line;
	bool close = false;
	int idx = match_boundary(p, line, ll, &close);

	if (idx < 0 || !boundary_allowed(p, close))
		return false;
	p->line_off = top(p)->part->header_offset + p->hdr_line;
	p->line_lfs = p->lfs - (own_eol > 0 ? 1 : 0);
	p->prev_eol = 0;
	p->hdr.len = p->hdr_line; /* the delimiter is not part of the header */
	at_boundary(p, idx, close, own_eol);
	return true;
}

static size_t feed_header(struct mime_parser *p, const char *d, size_t len)
{
	const char *lf = memchr(d, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - d) + 1 : len;
	size_t room = MIME_HEADER_MAX - p->hdr.len;

	if (n > room) {
		(void)buf_append(&p->hdr, d, room);
		advance(p, d, room);
		end_header(p, true);
		return room;
	}
	(void)buf_append(&p->hdr, d, n);
	advance(p, d, n);
	if (lf == NULL)
		return n;
	p->lfs++;
	const char *line = p->hdr.data + p->hdr_line;
	size_t ll = p->hdr.len - p->hdr_line;
	bool cr = ll >= 2 && line[ll - 2] == '\r';
	if (ll == (cr ? 2u : 1u)) {
		end_header(p, false);
		return n;
	}
	if (!header_boundary(p, ll - (cr ? 2 : 1), cr ? 2 : 1))
		p->hdr_line = p->hdr.len;
	return n;
}

void mime_parser_feed(struct mime_parser *p, const void *data, size_t len)
{
	const char *d = data;

	while (len > 0) {
		size_t n = p->in_header ? feed_header(p, d, len) : feed_body(p, d, len);
		d += n;
		len -= n;
	}
}

/* A last line without a line break may still be a delimiter. */
static void finish_line(struct mime_parser *p)
{
	bool close = false;
	int idx;

	if (p->in_header) {
		size_t ll = p->hdr.len - p->hdr_line;
		if (ll > 0)
			(void)header_boundary(p, ll - (p->hdr.data[p->hdr.len - 1] == '\r' ? 1 : 0), 0);
		return;
	}
	if (p->ls == LS_TAIL) {
		idx = p->match;
		close = p->match_close;
	} else if (p->ls == LS_PREFIX) {
		idx = match_boundary(p, p->pre, p->pre_len, &close);
	} else {
		return;
	}
	if (idx >= 0 && boundary_allowed(p, close))
		at_boundary(p, idx, close, 0);
}

struct mime_message *mime_parser_finish(struct mime_parser *p)
{
	struct mime_message *m = p->msg;

	finish_line(p);
	while (p->nframes > 0)
		close_top(p, p->offset, p->lfs);
	buf_free(&p->hdr);
	free(p);
	return m;
}

void mime_message_free(struct mime_message *m)
{
	if (m != NULL)
		mime_arena_free(m->arena);
}
