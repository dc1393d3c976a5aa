/*
 * mime_serialize: the cache form of a parsed tree (store_body_meta_*), so
 * that a second FETCH BODYSTRUCTURE does not reparse the message.
 *
 * Layout: a version byte, then varints (LEB128) and strings (varint length
 * + 1, 0 for NULL) in tree order: message header, root envelope, parts
 * depth first. Deserialising checks every length and count against the
 * blob and the parser's own limits, so a damaged or foreign blob yields NULL
 * (the caller reparses) and never a crash or a giant allocation.
 */
#include "mime/mime_private.h"

#include <string.h>

#define CACHE_VERSION 1
/* A parsed tree nests at most two frames per level (a message part and its message). */
#define TREE_DEPTH_MAX (2 * (MIME_DEPTH_MAX + 2))

static void put_varint(struct buf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			b[n] |= 0x80;
		n++;
	} while (v != 0);
	(void)buf_append(out, b, n);
}

static void put_str(struct buf *out, const char *s)
{
	if (s == NULL) {
		put_varint(out, 0);
		return;
	}
	size_t len = strlen(s);
	put_varint(out, (uint64_t)len + 1);
	(void)buf_append(out, s, len);
}

static void put_params(struct buf *out, const struct mime_param *p)
{
	size_t n = 0;

	for (const struct mime_param *q = p; q != NULL; q = q->next)
		n++;
	put_varint(out, n);
	for (; p != NULL; p = p->next) {
		put_str(out, p->name);
		put_str(out, p->value);
	}
}

static void put_addresses(struct buf *out, const struct mime_address *a)
{
	size_t n = 0;

	for (const struct mime_address *q = a; q != NULL; q = q->next)
		n++;
	put_varint(out, n);
	for (; a != NULL; a = a->next) {
		put_varint(out, (a->group_start ? 1u : 0u) | (a->group_end ? 2u : 0u));
		put_str(out, a->name);
		put_str(out, a->adl);
		put_str(out, a->mailbox);
		put_str(out, a->host);
	}
}

static void put_envelope(struct buf *out, const struct mime_envelope *e)
{
	put_str(out, e->date);
	put_str(out, e->subject);
	put_str(out, e->in_reply_to);
	put_str(out, e->message_id);
	put_addresses(out, e->from);
	put_addresses(out, e->sender);
	put_addresses(out, e->reply_to);
	put_addresses(out, e->to);
	put_addresses(out, e->cc);
	put_addresses(out, e->bcc);
}

static void put_part(struct buf *out, const struct mime_part *p)
{
	size_t n = 0;

	put_varint(out, p->header_offset);
	put_varint(out, p->header_size);
	put_varint(out, p->body_offset);
	put_varint(out, p->body_size);
	put_varint(out, p->body_lines);
	put_str(out, p->type);
	put_str(out, p->subtype);
	put_params(out, p->params);
	put_str(out, p->id);
	put_str(out, p->description);
	put_str(out, p->encoding);
	put_str(out, p->disposition);
	put_params(out, p->disposition_params);
	put_str(out, p->language);
	put_str(out, p->location);
	put_str(out, p->md5);
	put_varint(out, p->envelope != NULL);
	if (p->envelope != NULL)
		put_envelope(out, p->envelope);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		n++;
	put_varint(out, n);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		put_part(out, c);
}

void mime_message_serialize(const struct mime_message *m, struct buf *out)
{
	unsigned char v = CACHE_VERSION;

	(void)buf_append(out, &v, 1);
	put_varint(out, m->part_count);
	put_varint(out, m->limits_hit);
	put_envelope(out, &m->envelope);
	put_part(out, m->root);
}

/* ---- reading ------------------------------------------------------------------------------------- */

struct reader {
	const unsigned char *p, *end;
	struct mime_arena *a;
	uint32_t parts;
	bool bad;
};

static uint64_t get_varint(struct reader *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		unsigned char b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return v;
	}
	r->bad = true;
	return 0;
}

static const char *get_str(struct reader *r)
{
	uint64_t len = get_varint(r);

	if (r->bad || len == 0)
		return NULL;
	len--;
	if (len > (uint64_t)(r->end - r->p) || memchr(r->p, '\0', (size_t)len) != NULL) {
		r->bad = true;
		return NULL;
	}
	const char *s = mime_arena_strndup(r->a, (const char *)r->p, (size_t)len);
	r->p += len;
	return s;
}

/* A count of items of at least min_bytes each: no more than the blob can hold. */
static uint64_t get_count(struct reader *r, size_t min_bytes)
{
	uint64_t n = get_varint(r);

	if (!r->bad && n > (uint64_t)(r->end - r->p) / min_bytes)
		r->bad = true;
	return r->bad ? 0 : n;
}

static struct mime_param *get_params(struct reader *r)
{
	uint64_t n = get_count(r, 2);
	struct mime_param *head = NULL, **tail = &head;

	for (uint64_t i = 0; i < n && !r->bad; i++) {
		struct mime_param *p = mime_arena_alloc(r->a, sizeof(*p));
		p->name = get_str(r);
		p->value = get_str(r);
		if (p->name == NULL || p->value == NULL)
			r->bad = true;
		*tail = p;
		tail = &p->next;
	}
	return head;
}

static struct mime_address *get_addresses(struct reader *r)
{
	uint64_t n = get_count(r, 5);
	struct mime_address *head = NULL, **tail = &head;

	for (uint64_t i = 0; i < n && !r->bad; i++) {
		struct mime_address *a = mime_arena_alloc(r->a, sizeof(*a));
		uint64_t flags = get_varint(r);
		a->group_start = (flags & 1) != 0;
		a->group_end = (flags & 2) != 0;
		a->name = get_str(r);
		a->adl = get_str(r);
		a->mailbox = get_str(r);
		a->host = get_str(r);
		*tail = a;
		tail = &a->next;
	}
	return head;
}

static void get_envelope(struct reader *r, struct mime_envelope *e)
{
	e->date = get_str(r);
	e->subject = get_str(r);
	e->in_reply_to = get_str(r);
	e->message_id = get_str(r);
	e->from = get_addresses(r);
	e->sender = get_addresses(r);
	e->reply_to = get_addresses(r);
	e->to = get_addresses(r);
	e->cc = get_addresses(r);
	e->bcc = get_addresses(r);
}

static struct mime_part *get_part(struct reader *r, struct mime_part *parent, int depth);

static void get_fields(struct reader *r, struct mime_part *p)
{
	p->header_offset = get_varint(r);
	p->header_size = get_varint(r);
	p->body_offset = get_varint(r);
	p->body_size = get_varint(r);
	uint64_t lines = get_varint(r);
	p->body_lines = (uint32_t)lines;
	p->type = get_str(r);
	p->subtype = get_str(r);
	p->params = get_params(r);
	p->id = get_str(r);
	p->description = get_str(r);
	p->encoding = get_str(r);
	p->disposition = get_str(r);
	p->disposition_params = get_params(r);
	p->language = get_str(r);
	p->location = get_str(r);
	p->md5 = get_str(r);
	if (lines > UINT32_MAX || p->type == NULL || p->subtype == NULL || p->encoding == NULL)
		r->bad = true;
}

static struct mime_part *get_part(struct reader *r, struct mime_part *parent, int depth)
{
	struct mime_part *p = mime_arena_alloc(r->a, sizeof(*p));

	if (depth > TREE_DEPTH_MAX || ++r->parts > MIME_PARTS_MAX) {
		r->bad = true;
		return p;
	}
	p->parent = parent;
	get_fields(r, p);
	if (get_varint(r) != 0) {
		p->envelope = mime_arena_alloc(r->a, sizeof(*p->envelope));
		get_envelope(r, p->envelope);
	}
	uint64_t n = get_count(r, 20);
	struct mime_part **tail = &p->children;
	for (uint64_t i = 0; i < n && !r->bad; i++) {
		*tail = get_part(r, p, depth + 1);
		tail = &(*tail)->next;
	}
	return p;
}

struct mime_message *mime_message_deserialize(const void *blob, size_t len)
{
	struct reader r = { blob, (const unsigned char *)blob + len, NULL, 0, false };

	if (len < 1 || r.p[0] != CACHE_VERSION)
		return NULL;
	r.p++;
	r.a = mime_arena_new();
	struct mime_message *m = mime_arena_alloc(r.a, sizeof(*m));
	m->arena = r.a;
	uint64_t count = get_varint(&r);
	m->limits_hit = get_varint(&r) != 0;
	get_envelope(&r, &m->envelope);
	m->root = get_part(&r, NULL, 0);
	m->part_count = (uint32_t)count;
	if (r.bad || r.p != r.end || count != r.parts) {
		mime_arena_free(r.a);
		return NULL;
	}
	return m;
}
