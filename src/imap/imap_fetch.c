/*
 * imap_fetch: FETCH items, parsing and rendering. See imap_fetch.h.
 */
#include "imap/imap_fetch.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mime/mime.h"
#include "store/store_mail.h"

const char imap_fetch_unknown_cte[] = "unknown Content-Transfer-Encoding";

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define READ_CHUNK (64 * 1024)

/* ---- parsing ------------------------------------------------------------------------------ */

static struct imap_fetch_item *item_add(struct imap_fetch_spec *spec, enum imap_fetch_kind kind)
{
	struct imap_fetch_item *it;

	spec->items = xrealloc(spec->items, (spec->count + 1) * sizeof(*spec->items));
	it = &spec->items[spec->count++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	return it;
}

static bool has_kind(const struct imap_fetch_spec *spec, enum imap_fetch_kind kind)
{
	for (size_t i = 0; i < spec->count; i++)
		if (spec->items[i].kind == kind)
			return true;
	return false;
}

static bool field_char_ok(char c)
{
	/* header field name characters (RFC 5322 ftext) that are also atom characters */
	return c > 0x20 && c < 0x7f && c != ':' && c != '(' && c != ')' && c != '{' && c != '"' && c != '\\' &&
	       c != '%' && c != '*' && c != '[' && c != ']';
}

/* "(FROM "To" X-Y)" at p (after HEADER.FIELDS[.NOT] and a space). Returns the end or NULL. */
static const char *parse_field_list(const char *p, const char *end, struct imap_fetch_item *it)
{
	if (p >= end || *p != '(')
		return NULL;
	p++;
	for (;;) {
		char name[256];
		size_t n = 0;
		bool quoted = p < end && *p == '"';
		if (quoted)
			p++;
		while (p < end && n < sizeof(name) - 1 && field_char_ok(*p))
			name[n++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p), p++;
		if (quoted && (p >= end || *p++ != '"'))
			return NULL;
		if (n == 0 || it->field_count == IMAP_FETCH_FIELDS_MAX)
			return NULL;
		name[n] = '\0';
		it->fields = xrealloc(it->fields, (it->field_count + 1) * sizeof(char *));
		it->fields[it->field_count++] = xstrdup(name);
		if (p < end && *p == ' ') {
			p++;
			continue;
		}
		if (p < end && *p == ')')
			return p + 1;
		return NULL;
	}
}

/* section-part = nz-number *("." nz-number); leaves p after it (and after a "." before text). */
static const char *parse_part(const char *p, const char *end, struct imap_fetch_item *it)
{
	size_t n = 0;

	while (p < end && *p >= '1' && *p <= '9') {
		size_t digits = 0;
		while (p < end && *p >= '0' && *p <= '9' && n < sizeof(it->part) - 2) {
			it->part[n++] = *p++;
			if (++digits > 9)
				return NULL;
		}
		if (p < end && *p >= '0' && *p <= '9')
			return NULL;
		if (p < end && *p == '.') {
			p++;
			if (p < end && *p >= '1' && *p <= '9')
				it->part[n++] = '.';
		}
	}
	it->part[n] = '\0';
	if (p < end && *p == '0')
		return NULL;
	return p;
}

static const char *parse_section_text(const char *p, const char *end, struct imap_fetch_item *it)
{
	static const struct { const char *name; enum imap_section_text text; } texts[] = {
		{ "HEADER.FIELDS.NOT ", IMAP_SECTION_HEADER_FIELDS_NOT },
		{ "HEADER.FIELDS ", IMAP_SECTION_HEADER_FIELDS },
		{ "HEADER", IMAP_SECTION_HEADER }, { "TEXT", IMAP_SECTION_TEXT }, { "MIME", IMAP_SECTION_MIME },
	};

	if (p == end)
		return p;
	for (size_t i = 0; i < COUNT(texts); i++) {
		size_t l = strlen(texts[i].name);
		if ((size_t)(end - p) >= l && strncasecmp(p, texts[i].name, l) == 0) {
			it->text = texts[i].text;
			p += l;
			if (texts[i].text == IMAP_SECTION_HEADER_FIELDS || texts[i].text == IMAP_SECTION_HEADER_FIELDS_NOT)
				return parse_field_list(p, end, it);
			return p;
		}
	}
	return NULL;
}

/* "<o.n>" after the section; p points at "<". */
static const char *parse_partial(const char *p, const char *end, struct imap_fetch_item *it)
{
	uint64_t v[2] = { 0, 0 };

	p++;
	for (int k = 0; k < 2; k++) {
		const char *start = p;
		while (p < end && *p >= '0' && *p <= '9') {
			if (v[k] > (UINT64_MAX - 9) / 10)
				return NULL;
			v[k] = v[k] * 10 + (uint64_t)(*p++ - '0');
		}
		if (p == start || p >= end || *p++ != (k == 0 ? '.' : '>'))
			return NULL;
	}
	if (v[1] == 0) /* nz-number */
		return NULL;
	it->partial = true;
	it->offset = v[0];
	it->length = v[1];
	return p;
}

static void section_name(struct imap_fetch_item *it, const char *prefix, struct buf *b)
{
	static const char *const names[] = { "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME" };

	buf_appendf(b, "%s[%s", prefix, it->part);
	if (it->text != IMAP_SECTION_ALL)
		buf_appendf(b, "%s%s", it->part[0] != '\0' ? "." : "", names[it->text]);
	if (it->field_count > 0) {
		buf_append(b, " (", 2);
		for (size_t i = 0; i < it->field_count; i++)
			buf_appendf(b, "%s%s", i > 0 ? " " : "", it->fields[i]);
		buf_append(b, ")", 1);
	}
	buf_append(b, "]", 1);
	if (it->partial) /* RFC 3501 7.4.2: only the origin octet is echoed */
		buf_appendf(b, "<%llu>", (unsigned long long)it->offset);
}

/* BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...], BINARY.SIZE[...]: s points at "[". */
static int parse_section(const char *s, size_t len, struct imap_fetch_item *it, const char **err_r)
{
	const char *p = s + 1, *end = s + len, *close = memchr(s, ']', len);
	bool binary = it->kind != IMAP_FETCH_SECTION;

	*err_r = "invalid section in FETCH";
	if (close == NULL)
		return -1;
	p = parse_part(p, close, it);
	if (p == NULL)
		return -1;
	if (!binary)
		p = parse_section_text(p, close, it);
	if (p != close)
		return -1;
	if (it->text == IMAP_SECTION_MIME && it->part[0] == '\0')
		return -1; /* RFC 3501: MIME needs a part number */
	p = close + 1;
	if (p < end && *p == '<' && it->kind != IMAP_FETCH_BINARY_SIZE)
		p = parse_partial(p, end, it);
	if (p != end)
		return -1;
	struct buf b;
	buf_init(&b, 0);
	section_name(it, it->kind == IMAP_FETCH_SECTION ? "BODY" : it->kind == IMAP_FETCH_BINARY ? "BINARY" : "BINARY.SIZE",
		     &b);
	it->name = b.data;
	return 0;
}

static const struct {
	const char *name;
	enum imap_fetch_kind kind;
} simple_items[] = {
	{ "FLAGS", IMAP_FETCH_FLAGS }, { "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822", IMAP_FETCH_RFC822 }, { "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE }, { "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT },
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE }, { "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE }, { "UID", IMAP_FETCH_UID }, { "MODSEQ", IMAP_FETCH_MODSEQ },
};

static const struct {
	const char *prefix;
	enum imap_fetch_kind kind;
	bool peek;
} section_items[] = {
	{ "BODY.PEEK[", IMAP_FETCH_SECTION, true }, { "BODY[", IMAP_FETCH_SECTION, false },
	{ "BINARY.PEEK[", IMAP_FETCH_BINARY, true }, { "BINARY.SIZE[", IMAP_FETCH_BINARY_SIZE, true },
	{ "BINARY[", IMAP_FETCH_BINARY, false },
};

static int parse_item(const struct imap_arg *a, struct imap_fetch_spec *spec, const char **err_r)
{
	if (a->type != IMAP_ARG_ATOM) {
		*err_r = "FETCH items must be atoms";
		return -1;
	}
	if (spec->count == IMAP_FETCH_ITEMS_MAX) {
		*err_r = "too many FETCH items";
		return -1;
	}
	for (size_t i = 0; i < COUNT(simple_items); i++) {
		if (strcasecmp(a->str, simple_items[i].name) == 0) {
			item_add(spec, simple_items[i].kind);
			return 0;
		}
	}
	for (size_t i = 0; i < COUNT(section_items); i++) {
		size_t l = strlen(section_items[i].prefix);
		if (a->len >= l && strncasecmp(a->str, section_items[i].prefix, l) == 0) {
			struct imap_fetch_item *it = item_add(spec, section_items[i].kind);
			it->peek = section_items[i].peek;
			return parse_section(a->str + l - 1, a->len - l + 1, it, err_r);
		}
	}
	*err_r = "unknown FETCH item";
	return -1;
}

static int parse_macro(const char *name, struct imap_fetch_spec *spec)
{
	static const enum imap_fetch_kind fast[] = { IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE };
	size_t extra;

	if (strcasecmp(name, "FAST") == 0)
		extra = 0;
	else if (strcasecmp(name, "ALL") == 0)
		extra = 1;
	else if (strcasecmp(name, "FULL") == 0)
		extra = 2;
	else
		return -1;
	for (size_t i = 0; i < COUNT(fast); i++)
		item_add(spec, fast[i]);
	if (extra >= 1)
		item_add(spec, IMAP_FETCH_ENVELOPE);
	if (extra >= 2)
		item_add(spec, IMAP_FETCH_BODY);
	return 0;
}

/* (CHANGEDSINCE n) and VANISHED (RFC 7162 3.1.4, 3.2.6). */
static int parse_modifiers(const struct imap_arg *m, bool uid, struct imap_fetch_spec *spec, const char **err_r)
{
	*err_r = "invalid FETCH modifiers";
	if (m->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < m->count; i++) {
		const struct imap_arg *a = &m->list[i];
		if (a->type != IMAP_ARG_ATOM)
			return -1;
		if (strcasecmp(a->str, "VANISHED") == 0) {
			spec->vanished = true;
		} else if (strcasecmp(a->str, "CHANGEDSINCE") == 0 && i + 1 < m->count &&
			   m->list[i + 1].type == IMAP_ARG_ATOM) {
			const char *v = m->list[++i].str;
			char *e;
			if (*v < '0' || *v > '9' || strlen(v) > 19)
				return -1;
			spec->changedsince = strtoull(v, &e, 10);
			if (*e != '\0' || spec->changedsince == 0)
				return -1;
		} else {
			return -1;
		}
	}
	if (spec->vanished && (!uid || spec->changedsince == 0)) {
		*err_r = "VANISHED needs UID FETCH with CHANGEDSINCE";
		return -1;
	}
	return 0;
}

static void spec_needs(struct imap_fetch_spec *spec)
{
	for (size_t i = 0; i < spec->count; i++) {
		const struct imap_fetch_item *it = &spec->items[i];
		switch (it->kind) {
		case IMAP_FETCH_FLAGS:
			spec->need_keywords = true;
			break;
		case IMAP_FETCH_ENVELOPE:
		case IMAP_FETCH_BODY:
		case IMAP_FETCH_BODYSTRUCTURE:
			spec->need_mime = true;
			break;
		case IMAP_FETCH_RFC822:
		case IMAP_FETCH_RFC822_TEXT:
			spec->set_seen = true;
			/* fall through */
		case IMAP_FETCH_RFC822_HEADER:
			spec->need_mime = spec->need_message = true;
			break;
		case IMAP_FETCH_SECTION:
		case IMAP_FETCH_BINARY:
		case IMAP_FETCH_BINARY_SIZE:
			spec->need_mime = spec->need_message = true;
			spec->set_seen |= !it->peek;
			break;
		default:
			break;
		}
	}
}

int imap_fetch_parse(const struct imap_arg *args, size_t count, bool uid, struct imap_fetch_spec *spec_r,
		     const char **err_r)
{
	memset(spec_r, 0, sizeof(*spec_r));
	if (count == 0 || count > 2) {
		*err_r = count == 0 ? "missing FETCH items" : "too many FETCH arguments";
		return -1;
	}
	if (uid) /* RFC 3501 6.4.8: UID FETCH always returns UID; first, as Dovecot does */
		item_add(spec_r, IMAP_FETCH_UID);
	if (args[0].type == IMAP_ARG_ATOM && parse_macro(args[0].str, spec_r) == 0) {
		/* a macro */
	} else if (args[0].type == IMAP_ARG_LIST) {
		if (args[0].count == 0) {
			*err_r = "empty FETCH item list";
			return -1;
		}
		for (size_t i = 0; i < args[0].count; i++)
			if (parse_item(&args[0].list[i], spec_r, err_r) < 0)
				return -1;
	} else if (parse_item(&args[0], spec_r, err_r) < 0) {
		return -1;
	}
	if (count == 2 && parse_modifiers(&args[1], uid, spec_r, err_r) < 0)
		return -1;
	/* RFC 7162 3.1.4.1: CHANGEDSINCE implies MODSEQ. */
	if (spec_r->changedsince > 0 && !has_kind(spec_r, IMAP_FETCH_MODSEQ))
		item_add(spec_r, IMAP_FETCH_MODSEQ);
	spec_needs(spec_r);
	return 0;
}

void imap_fetch_spec_free(struct imap_fetch_spec *spec)
{
	for (size_t i = 0; i < spec->count; i++) {
		for (size_t f = 0; f < spec->items[i].field_count; f++)
			free(spec->items[i].fields[f]);
		free(spec->items[i].fields);
		free(spec->items[i].name);
	}
	free(spec->items);
	spec->items = NULL;
	spec->count = 0;
}

/* ---- message data --------------------------------------------------------------------------------- */

void imap_msg_data_init(struct imap_msg_data *d)
{
	buf_init(&d->message, 0);
	d->have_message = false;
	d->mime = NULL;
}

void imap_msg_data_free(struct imap_msg_data *d)
{
	buf_free(&d->message);
	d->have_message = false;
	if (d->mime != NULL)
		mime_message_free(d->mime);
	d->mime = NULL;
}

/* Streams the body through the MIME parser, keeping the bytes when keep is set. */
static int read_message(struct store *s, const struct store_mail *mail, bool keep, struct imap_msg_data *d,
			struct mime_parser *parser, const char **errstr_r)
{
	char *chunk = xmalloc(READ_CHUNK);
	uint64_t off = 0;
	int rc = 0;

	for (;;) {
		size_t n;
		if (store_body_pread(s, mail->body_id, off, chunk, READ_CHUNK, &n, errstr_r) < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (parser != NULL)
			mime_parser_feed(parser, chunk, n);
		if (keep)
			buf_append(&d->message, chunk, n);
		off += n;
	}
	free(chunk);
	if (rc == 0 && keep)
		d->have_message = true;
	return rc;
}

static void cache_mime(struct store *s, const struct store_mail *mail, const struct mime_message *m)
{
	struct buf blob;
	const char *err;

	buf_init(&blob, 0);
	mime_message_serialize(m, &blob);
	if (store_body_meta_put(s, mail->body_id, blob.data, blob.len, &err) < 0)
		log_debug("imap event=mime_cache_failed body=%lld error=\"%s\"", (long long)mail->body_id, err);
	buf_free(&blob);
}

static bool mime_from_cache(struct store *s, const struct store_mail *mail, struct imap_msg_data *d)
{
	struct buf blob;
	const char *err;

	buf_init(&blob, 0);
	if (store_body_meta_get(s, mail->body_id, &blob, &err) == 1)
		d->mime = mime_message_deserialize(blob.data, blob.len);
	buf_free(&blob);
	return d->mime != NULL;
}

int imap_msg_data_load(struct store *s, const struct store_mail *mail, bool need_message, bool need_mime,
		       struct imap_msg_data *d, const char **errstr_r)
{
	struct mime_parser *parser = NULL;

	if (need_mime && d->mime == NULL && mime_from_cache(s, mail, d))
		need_mime = false;
	if (need_mime && d->mime == NULL)
		parser = mime_parser_new();
	if (d->have_message && parser != NULL) {
		mime_parser_feed(parser, d->message.data, d->message.len);
	} else if ((need_message && !d->have_message) || parser != NULL) {
		buf_reset(&d->message);
		if (read_message(s, mail, need_message, d, parser, errstr_r) < 0) {
			if (parser != NULL)
				mime_message_free(mime_parser_finish(parser));
			return -1;
		}
	}
	if (parser != NULL) {
		d->mime = mime_parser_finish(parser);
		cache_mime(s, mail, d->mime);
	}
	return 0;
}

/* ---- rendering -------------------------------------------------------------------------------------- */

void imap_fetch_format_flags(uint32_t flags, const char *keywords, bool recent, struct buf *out)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ STORE_FLAG_ANSWERED, "\\Answered" }, { STORE_FLAG_FLAGGED, "\\Flagged" },
		{ STORE_FLAG_DELETED, "\\Deleted" }, { STORE_FLAG_SEEN, "\\Seen" }, { STORE_FLAG_DRAFT, "\\Draft" },
	};
	size_t start = out->len;

	for (size_t i = 0; i < COUNT(names); i++) {
		if (flags & names[i].bit) {
			if (out->len > start)
				buf_append(out, " ", 1);
			buf_append_str(out, names[i].name);
		}
	}
	if (recent)
		buf_append_str(out, out->len > start ? " \\Recent" : "\\Recent");
	if (keywords != NULL && keywords[0] != '\0') {
		if (out->len > start)
			buf_append(out, " ", 1);
		buf_append_str(out, keywords);
	}
}

/* A string as a literal ({n} or ~{n} when binary data holds NULs), or "" for nothing. */
static void append_literal(struct buf *out, const char *p, size_t len, bool binary)
{
	bool nul = binary && memchr(p, '\0', len) != NULL;

	buf_appendf(out, "%s{%zu}\r\n", nul ? "~" : "", len);
	buf_append(out, p, len);
}

/* Applies <offset.length> (RFC 3501 6.4.5: past the end gives an empty string). */
static struct slice apply_partial(const struct imap_fetch_item *it, struct slice data)
{
	if (!it->partial)
		return data;
	if (it->offset >= data.len)
		return slice_make(data.p, 0);
	size_t len = data.len - (size_t)it->offset;
	if (it->length < len)
		len = (size_t)it->length;
	return slice_make(data.p + it->offset, len);
}

static struct slice msg_range(const struct imap_msg_data *d, uint64_t off, uint64_t size)
{
	if (off > d->message.len)
		return slice_make("", 0);
	if (size > d->message.len - off)
		size = d->message.len - off;
	return slice_make(d->message.data + off, (size_t)size);
}

/*
 * The bytes a section names (RFC 3501 6.4.5). Returns 0 with *data_r (may
 * point into tmp), or -1 when there is no such part.
 */
static int section_data(const struct imap_fetch_item *it, const struct imap_msg_data *d, struct buf *tmp,
			struct slice *data_r)
{
	const struct mime_part *part, *msg;
	const char **names;

	if (it->part[0] == '\0' && it->text == IMAP_SECTION_ALL) {
		*data_r = slice_make(d->message.data ? d->message.data : "", d->message.len);
		return 0;
	}
	if (mime_section_part(d->mime, it->part, &part) < 0)
		return -1;
	/* HEADER/TEXT of a part address the message it encapsulates (message/rfc822). */
	msg = part;
	if (it->part[0] != '\0' && it->text != IMAP_SECTION_ALL && it->text != IMAP_SECTION_MIME) {
		if (strcmp(part->type, "message") != 0 || part->children == NULL) {
			*data_r = slice_make("", 0);
			return 0;
		}
		msg = part->children;
	}
	switch (it->text) {
	case IMAP_SECTION_ALL:
	case IMAP_SECTION_TEXT:
		*data_r = msg_range(d, msg->body_offset, msg->body_size);
		return 0;
	case IMAP_SECTION_HEADER:
	case IMAP_SECTION_MIME:
		*data_r = msg_range(d, msg->header_offset, msg->header_size);
		return 0;
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		names = (const char **)it->fields;
		mime_header_filter(msg_range(d, msg->header_offset, msg->header_size), names, it->field_count,
				   it->text == IMAP_SECTION_HEADER_FIELDS_NOT, tmp);
		*data_r = slice_make(tmp->data ? tmp->data : "", tmp->len);
		return 0;
	}
	return -1;
}

static bool cte_known(const char *enc)
{
	static const char *const known[] = { "7bit", "8bit", "binary", "base64", "quoted-printable" };

	for (size_t i = 0; i < COUNT(known); i++)
		if (strcasecmp(enc, known[i]) == 0)
			return true;
	return false;
}

/* BINARY[part]: the part's body with its transfer encoding undone (RFC 3516). */
static int binary_data(const struct imap_fetch_item *it, const struct imap_msg_data *d, struct buf *tmp,
		       struct slice *data_r, const char **errstr_r)
{
	const struct mime_part *part;

	if (it->part[0] == '\0') {
		*data_r = slice_make(d->message.data ? d->message.data : "", d->message.len);
		return 0;
	}
	if (mime_section_part(d->mime, it->part, &part) < 0) {
		*data_r = slice_make(NULL, 0);
		return 0;
	}
	struct slice raw = msg_range(d, part->body_offset, part->body_size);
	if (part->children != NULL || strcmp(part->type, "multipart") == 0) {
		*data_r = raw;
		return 0;
	}
	if (!cte_known(part->encoding)) {
		*errstr_r = imap_fetch_unknown_cte;
		return -1;
	}
	mime_decode_transfer(part->encoding, raw, tmp);
	*data_r = slice_make(tmp->data ? tmp->data : "", tmp->len);
	return 0;
}

static int render_body_item(const struct imap_fetch_item *it, const struct imap_msg_data *d, struct buf *out,
			    const char **errstr_r)
{
	struct buf tmp;
	struct slice data;
	int rc = 0;

	buf_init(&tmp, 0);
	if (it->kind == IMAP_FETCH_SECTION) {
		buf_appendf(out, "%s ", it->name);
		if (section_data(it, d, &tmp, &data) < 0)
			buf_append(out, "NIL", 3);
		else
			data = apply_partial(it, data), append_literal(out, data.p, data.len, false);
	} else if ((rc = binary_data(it, d, &tmp, &data, errstr_r)) == 0) {
		buf_appendf(out, "%s ", it->name);
		if (data.p == NULL)
			buf_append(out, "NIL", 3);
		else if (it->kind == IMAP_FETCH_BINARY_SIZE)
			buf_appendf(out, "%zu", data.len);
		else
			data = apply_partial(it, data), append_literal(out, data.p, data.len, true);
	}
	buf_free(&tmp);
	return rc;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: the whole message, its header, its body. */
static void render_rfc822(const struct imap_fetch_item *it, const struct imap_msg_data *d, struct buf *out)
{
	const struct mime_part *root = d->mime->root;
	struct slice data;

	if (it->kind == IMAP_FETCH_RFC822) {
		buf_append(out, "RFC822 ", 7);
		data = msg_range(d, 0, d->message.len);
	} else if (it->kind == IMAP_FETCH_RFC822_HEADER) {
		buf_append(out, "RFC822.HEADER ", 14);
		data = msg_range(d, root->header_offset, root->header_size);
	} else {
		buf_append(out, "RFC822.TEXT ", 12);
		data = msg_range(d, root->body_offset, root->body_size);
	}
	append_literal(out, data.p, data.len, false);
}

static void render_simple(const struct imap_fetch_item *it, const struct imap_fetch_msg *msg,
			  const struct imap_msg_data *d, struct buf *out)
{
	const struct store_mail *m = msg->mail;
	char date[64];

	switch (it->kind) {
	case IMAP_FETCH_FLAGS:
		buf_append(out, "FLAGS (", 7);
		imap_fetch_format_flags(m->flags, m->keywords, msg->recent, out);
		buf_append(out, ")", 1);
		break;
	case IMAP_FETCH_INTERNALDATE:
		imap_format_datetime(m->internal_date, date, sizeof(date));
		buf_appendf(out, "INTERNALDATE %s", date);
		break;
	case IMAP_FETCH_RFC822_SIZE:
		buf_appendf(out, "RFC822.SIZE %llu", (unsigned long long)m->size);
		break;
	case IMAP_FETCH_UID:
		buf_append(out, "UID ", 4);
		buf_append_uint(out, m->uid);
		break;
	case IMAP_FETCH_MODSEQ:
		buf_append(out, "MODSEQ (", 8);
		buf_append_uint(out, m->modseq);
		buf_append(out, ")", 1);
		break;
	case IMAP_FETCH_ENVELOPE:
		buf_append(out, "ENVELOPE ", 9);
		mime_imap_envelope(&d->mime->envelope, out);
		break;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		buf_append(out, it->kind == IMAP_FETCH_BODY ? "BODY " : "BODYSTRUCTURE ",
			   it->kind == IMAP_FETCH_BODY ? 5 : 14);
		mime_imap_bodystructure(d->mime, it->kind == IMAP_FETCH_BODYSTRUCTURE, out);
		break;
	default:
		render_rfc822(it, d, out);
		break;
	}
}

int imap_fetch_render(struct store *s, const struct imap_fetch_spec *spec, const struct imap_fetch_msg *msg,
		      struct imap_msg_data *d, struct buf *out, const char **errstr_r)
{
	size_t start = out->len;
	bool flags_sent = false, modseq_sent = false;

	if ((spec->need_message || spec->need_mime) &&
	    imap_msg_data_load(s, msg->mail, spec->need_message, spec->need_mime, d, errstr_r) < 0)
		return -1;
	buf_append(out, "* ", 2);
	buf_append_uint(out, msg->seq);
	buf_append(out, " FETCH (", 8);
	for (size_t i = 0; i < spec->count; i++) {
		const struct imap_fetch_item *it = &spec->items[i];
		if (i > 0)
			buf_append(out, " ", 1);
		flags_sent |= it->kind == IMAP_FETCH_FLAGS;
		modseq_sent |= it->kind == IMAP_FETCH_MODSEQ;
		if (it->kind == IMAP_FETCH_SECTION || it->kind == IMAP_FETCH_BINARY || it->kind == IMAP_FETCH_BINARY_SIZE) {
			if (render_body_item(it, d, out, errstr_r) < 0) {
				out->len = start;
				out->data[start] = '\0';
				return -1;
			}
		} else {
			render_simple(it, msg, d, out);
		}
	}
	/* RFC 3501 6.4.5: flags changed by an implicit \Seen are reported (with MODSEQ under CONDSTORE). */
	if (msg->flags_changed && !flags_sent) {
		buf_append(out, spec->count > 0 ? " FLAGS (" : "FLAGS (", spec->count > 0 ? 8 : 7);
		imap_fetch_format_flags(msg->mail->flags, msg->mail->keywords, msg->recent, out);
		buf_append(out, ")", 1);
		if (msg->modseq && !modseq_sent)
			buf_appendf(out, " MODSEQ (%llu)", (unsigned long long)msg->mail->modseq);
	}
	buf_append(out, ")\r\n", 3);
	return 0;
}

/* ---- the metadata fast path ------------------------------------------------------------- */

void imap_fetch_flagtab_init(struct imap_fetch_flagtab *t)
{
	struct buf b;

	buf_init(&b, 0);
	for (uint32_t f = 0; f < 32; f++) {
		buf_reset(&b);
		imap_fetch_format_flags(f, NULL, false, &b);
		ASSERT(b.len < sizeof(t->text[f]));
		if (b.len > 0) /* no flags: nothing was ever allocated */
			memcpy(t->text[f], b.data, b.len);
		t->len[f] = (uint8_t)b.len;
	}
	buf_free(&b);
}

bool imap_fetch_meta_only(const struct imap_fetch_spec *spec)
{
	if (spec->count > IMAP_FETCH_META_ITEMS_MAX)
		return false;
	for (size_t i = 0; i < spec->count; i++) {
		enum imap_fetch_kind k = spec->items[i].kind;
		if (k != IMAP_FETCH_UID && k != IMAP_FETCH_FLAGS && k != IMAP_FETCH_MODSEQ)
			return false;
	}
	return true;
}

/* Decimal v at p; returns the end. */
static char *put_uint(char *p, uint64_t v)
{
	char digits[20];
	size_t n = sizeof(digits);

	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(p, digits + n, sizeof(digits) - n);
	return p + (sizeof(digits) - n);
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

void imap_fetch_render_meta(const struct imap_fetch_spec *spec, const struct imap_fetch_flagtab *t, uint32_t seq,
			    uint32_t uid, uint32_t flags, uint64_t modseq, struct buf *out)
{
	/* at most 8 items of at most 9 + 40 bytes, and the frame: see IMAP_FETCH_META_ITEMS_MAX */
	char line[512], *p = line;

	ASSERT(spec->count <= IMAP_FETCH_META_ITEMS_MAX && flags < 32);
	p = put(p, "* ", 2);
	p = put_uint(p, seq);
	p = put(p, " FETCH (", 8);
	for (size_t i = 0; i < spec->count; i++) {
		if (i > 0)
			*p++ = ' ';
		switch (spec->items[i].kind) {
		case IMAP_FETCH_UID:
			p = put_uint(put(p, "UID ", 4), uid);
			break;
		case IMAP_FETCH_FLAGS:
			p = put(put(p, "FLAGS (", 7), t->text[flags], t->len[flags]);
			*p++ = ')';
			break;
		default:
			p = put_uint(put(p, "MODSEQ (", 8), modseq);
			*p++ = ')';
			break;
		}
	}
	p = put(p, ")\r\n", 3);
	buf_append(out, line, (size_t)(p - line));
}
