/*
 * libFuzzer target: the MIME parser and everything IMAP derives from it.
 * The input is fed whole, split at two data-derived points, and (when
 * short) byte by byte: every way must give the same tree. The tree must be
 * consistent with the input (offsets inside it, headers before bodies,
 * children inside their parent's body), BODYSTRUCTURE/BODY/ENVELOPE must
 * render, the cache form must round-trip to the same tree, and sections,
 * header filters and search text must run. Violations abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) ((cond) ? (void)0 : abort())

static struct mime_message *parse(const uint8_t *d, size_t len, const size_t *cuts, size_t ncuts)
{
	struct mime_parser *p = mime_parser_new();
	size_t start = 0;

	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		mime_parser_feed(p, d + start, end - start);
		start = end;
	}
	return mime_parser_finish(p);
}

static void check_part(const struct mime_part *p, size_t len, uint32_t *count, int depth)
{
	CHECK(depth <= 2 * (MIME_DEPTH_MAX + 2));
	CHECK(p->header_offset + p->header_size == p->body_offset);
	CHECK(p->body_offset + p->body_size <= len);
	CHECK(p->body_lines <= p->body_size);
	CHECK(p->type != NULL && p->subtype != NULL && p->encoding != NULL);
	(*count)++;
	uint64_t prev_end = p->body_offset;
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		CHECK(c->parent == p);
		CHECK(c->header_offset >= prev_end);
		CHECK(c->body_offset + c->body_size <= p->body_offset + p->body_size);
		prev_end = c->body_offset + c->body_size;
		check_part(c, len, count, depth + 1);
	}
}

static void dump_part(const struct mime_part *p, struct buf *out)
{
	(void)buf_appendf(out, "[%llu %llu %llu %llu %u %s/%s %s ", (unsigned long long)p->header_offset,
			(unsigned long long)p->header_size, (unsigned long long)p->body_offset,
			(unsigned long long)p->body_size, p->body_lines, p->type, p->subtype, p->encoding);
	if (p->envelope != NULL)
		mime_imap_envelope(p->envelope, out);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		dump_part(c, out);
	(void)buf_append(out, "]", 1);
}

static void dump(const struct mime_message *m, struct buf *out)
{
	(void)buf_appendf(out, "%u %d ", m->part_count, m->limits_hit);
	dump_part(m->root, out);
	mime_imap_bodystructure(m, true, out);
	mime_imap_bodystructure(m, false, out);
	mime_imap_envelope(&m->envelope, out);
}

static void same_tree(const struct mime_message *a, const struct mime_message *b)
{
	struct buf x, y;

	buf_init(&x, 0);
	buf_init(&y, 0);
	dump(a, &x);
	dump(b, &y);
	CHECK(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
	buf_free(&x);
	buf_free(&y);
}

static void exercise(const struct mime_message *m, const uint8_t *d, size_t len)
{
	static const char *const specs[] = { "", "1", "2", "1.1", "1.2", "2.1", "2.2.1", "3.1.1" };
	static const char *const names[] = { "subject", "content-type" };
	struct buf out;
	const struct mime_part *part;

	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		if (mime_section_part(m, specs[i], &part) == 0) {
			CHECK(part->body_offset + part->body_size <= len);
			mime_header_filter(slice_make((const char *)d + part->header_offset, (size_t)part->header_size),
					names, 2, i % 2 == 0, &out);
		}
	}
	buf_reset(&out);
	mime_search_text(m, slice_make((const char *)d, len), true, true, &out);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t count = 0;
	struct mime_message *whole = parse(data, size, NULL, 0);

	check_part(whole->root, size, &count, 0);
	CHECK(count == whole->part_count);
	CHECK(whole->root->header_offset == 0);
	CHECK(whole->root->body_offset + whole->root->body_size == size);

	if (size > 0) {
		size_t cuts[2] = { data[0] % (size + 1), 0 };
		cuts[1] = cuts[0] + (size > 1 ? data[size - 1] : 0) % (size - cuts[0] + 1);
		struct mime_message *split = parse(data, size, cuts, 2);
		same_tree(whole, split);
		mime_message_free(split);
	}
	if (size <= 512) {
		struct mime_parser *p = mime_parser_new();
		for (size_t i = 0; i < size; i++)
			mime_parser_feed(p, data + i, 1);
		struct mime_message *bytes = mime_parser_finish(p);
		same_tree(whole, bytes);
		mime_message_free(bytes);
	}

	struct buf blob;
	buf_init(&blob, 0);
	mime_message_serialize(whole, &blob);
	struct mime_message *back = mime_message_deserialize(blob.data, blob.len);
	CHECK(back != NULL);
	same_tree(whole, back);
	mime_message_free(back);
	/* a damaged blob is refused or read as some tree, never a crash */
	if (blob.len > 1) {
		blob.data[1 + data[0 % (size ? size : 1)] % (blob.len - 1)] ^= 0x5a;
		mime_message_free(mime_message_deserialize(blob.data, blob.len));
	}
	buf_free(&blob);

	exercise(whole, data, size);
	mime_message_free(whole);
	return 0;
}
