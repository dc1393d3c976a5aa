/*
 * mime_search: the text SEARCH and the full-text index look at — decoded
 * header values (RFC 2047 words) and the bodies of "text" parts with their transfer
 * encoding and charset undone, all as UTF-8. Other parts carry no text a
 * user would search for (RFC 3501 leaves their treatment to the server).
 */
#include "mime/mime_private.h"

#include <string.h>

/* message[off, off + size), clamped to what is there (a tree from a cache may not match). */
static struct slice sub(struct slice message, uint64_t off, uint64_t size)
{
	if (off >= message.len)
		return slice_make(message.p + message.len, 0);
	if (size > message.len - off)
		size = message.len - off;
	return slice_make(message.p + off, (size_t)size);
}

static void header_text(struct slice hdr, struct buf *out)
{
	struct mime_header_iter it;
	struct slice name, value, line;
	struct buf tmp;

	buf_init(&tmp, 0);
	mime_header_iter_init(&it, hdr);
	while (mime_header_iter_next(&it, &name, &value, &line)) {
		buf_reset(&tmp);
		mime_unfold(value, &tmp);
		mime_decode_words(slice_make(tmp.data != NULL ? tmp.data : "", tmp.len), out);
		(void)buf_append(out, "\n", 1);
	}
	buf_free(&tmp);
}

static const char *charset_of(const struct mime_part *part)
{
	for (const struct mime_param *p = part->params; p != NULL; p = p->next)
		if (strcmp(p->name, "charset") == 0)
			return p->value;
	return NULL;
}

static void text_body(const struct mime_part *part, struct slice body, struct buf *out)
{
	struct buf raw;
	const char *cs = charset_of(part);

	buf_init(&raw, 0);
	(void)mime_decode_transfer(part->encoding, body, &raw);
	struct slice r = slice_make(raw.data != NULL ? raw.data : "", raw.len);
	if (mime_charset_to_utf8(cs, r, out) < 0)
		mime_utf8_sanitize(r, out); /* unknown charset: keep what is readable */
	(void)buf_append(out, "\n", 1);
	buf_free(&raw);
}

static void body_text(const struct mime_part *part, struct slice message, struct buf *out)
{
	if (strcmp(part->type, "multipart") == 0) {
		for (const struct mime_part *c = part->children; c != NULL; c = c->next)
			body_text(c, message, out);
	} else if (strcmp(part->type, "message") == 0 && part->children != NULL) {
		/* an attached message's header is body text of the message holding it */
		const struct mime_part *inner = part->children;
		header_text(sub(message, inner->header_offset, inner->header_size), out);
		body_text(inner, message, out);
	} else if (strcmp(part->type, "text") == 0) {
		text_body(part, sub(message, part->body_offset, part->body_size), out);
	}
}

void mime_search_text(const struct mime_message *m, struct slice message, bool headers, bool bodies,
		struct buf *out)
{
	if (headers)
		header_text(sub(message, m->root->header_offset, m->root->header_size), out);
	if (bodies)
		body_text(m->root, message, out);
}
