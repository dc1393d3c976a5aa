/*
 * mime_header: header blocks (RFC 5322 2.2), the Content-* fields of RFC
 * 2045/2183/3066/2557/1864 and the envelope fields IMAP reports.
 *
 * Everything here runs on a complete header block that the streaming parser
 * has already bounded to MIME_HEADER_MAX, so it may walk the block freely.
 * Malformed fields fall back to the RFC 2045 defaults instead of failing.
 */
#include "mime/mime_private.h"

#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

bool mime_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

void mime_header_iter_init(struct mime_header_iter *it, struct slice hdr)
{
	it->p = hdr.p;
	it->end = hdr.p + hdr.len;
}

/* End of the line starting at p: just past its LF, or end. */
static const char *line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	return lf != NULL ? lf + 1 : end;
}

static bool line_is_blank(const char *p, const char *e)
{
	return (e - p == 1 && p[0] == '\n') || (e - p == 2 && p[0] == '\r' && p[1] == '\n');
}

bool mime_header_iter_next(struct mime_header_iter *it, struct slice *name_r, struct slice *value_r,
		struct slice *line_r)
{
	while (it->p < it->end) {
		const char *start = it->p, *e = line_end(start, it->end), *colon, *vend;

		if (line_is_blank(start, e)) {
			it->p = it->end;
			return false;
		}
		/* the field goes on while the next line starts with WSP (a fold) */
		while (e < it->end && mime_is_wsp(*e))
			e = line_end(e, it->end);
		it->p = e;
		colon = memchr(start, ':', (size_t)(line_end(start, e) - start));
		if (colon == NULL || colon == start)
			continue; /* not a field: no place for it in RFC 5322 */
		name_r->p = start;
		name_r->len = (size_t)(colon - start);
		while (name_r->len > 0 && mime_is_wsp(start[name_r->len - 1]))
			name_r->len--; /* obsolete "Name :" (RFC 5322 4.5) */
		vend = e;
		if (vend > colon + 1 && vend[-1] == '\n')
			vend--;
		if (vend > colon + 1 && vend[-1] == '\r')
			vend--;
		*value_r = slice_make(colon + 1, (size_t)(vend - colon - 1));
		*line_r = slice_make(start, (size_t)(e - start));
		if (name_r->len > 0)
			return true;
	}
	return false;
}

void mime_unfold(struct slice raw, struct buf *out)
{
	const char *p = raw.p, *end = raw.p + raw.len;
	size_t start = out->len;

	while (p < end && (mime_is_wsp(*p) || *p == '\r' || *p == '\n'))
		p++;
	while (p < end) {
		const char *q = p;

		while (q < end && *q != '\r' && *q != '\n')
			q++;
		(void)buf_append(out, p, (size_t)(q - p));
		while (q < end && (*q == '\r' || *q == '\n'))
			q++;
		p = q;
	}
	while (out->len > start && mime_is_wsp(out->data[out->len - 1]))
		out->len--;
	if (out->data != NULL)
		out->data[out->len] = '\0';
}

const char *mime_skip_cfws(const char *p, const char *end)
{
	for (;;) {
		while (p < end && (mime_is_wsp(*p) || *p == '\r' || *p == '\n'))
			p++;
		if (p >= end || *p != '(')
			return p;
		int depth = 0;
		/* RFC 5322 3.2.2: comments nest and may hold quoted-pairs */
		while (p < end) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
			p++;
		}
	}
}

/* ---- Content-* ----------------------------------------------------------------------------- */

/* RFC 2045 tspecials */
static bool is_tspecial(char c)
{
	switch (c) {
	case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
	case '\\': case '"': case '/': case '[': case ']': case '?': case '=':
		return true;
	default:
		return false;
	}
}

static bool is_token_char(char c)
{
	return (unsigned char)c > ' ' && c != 0x7f && !is_tspecial(c);
}

/* An RFC 2045 token at *pp (after CFWS), lower-cased into the arena, or NULL. */
static char *read_token_lower(struct mime_arena *a, const char **pp, const char *end)
{
	const char *p = mime_skip_cfws(*pp, end), *s = p;

	while (p < end && is_token_char(*p))
		p++;
	*pp = p;
	return p > s ? mime_arena_strndup_lower(a, s, (size_t)(p - s)) : NULL;
}

/* RFC 2045 5.1; an invalid field means the default (5.2), parameters and all. */
static void parse_content_type(struct mime_arena *a, struct mime_part *part, struct slice v)
{
	const char *p = v.p, *end = v.p + v.len;
	char *type = read_token_lower(a, &p, end), *subtype;

	p = mime_skip_cfws(p, end);
	if (type == NULL || p >= end || *p != '/')
		return;
	p++;
	subtype = read_token_lower(a, &p, end);
	if (subtype == NULL)
		return;
	part->type = type;
	part->subtype = subtype;
	part->params = mime_params_parse(a, slice_make(p, (size_t)(end - p)));
}

static void parse_disposition(struct mime_arena *a, struct mime_part *part, struct slice v)
{
	const char *p = v.p, *end = v.p + v.len;

	part->disposition = read_token_lower(a, &p, end);
	if (part->disposition != NULL)
		part->disposition_params = mime_params_parse(a, slice_make(p, (size_t)(end - p)));
}

static const char *unfolded(struct mime_arena *a, struct slice v, struct buf *tmp)
{
	buf_reset(tmp);
	mime_unfold(v, tmp);
	return mime_arena_strndup(a, tmp->data != NULL ? tmp->data : "", tmp->len);
}

static void set_once(const char **field, const char *value)
{
	if (*field == NULL)
		*field = value;
}

/* One Content-* field; the first occurrence of each wins. */
static void apply_content_field(struct mime_arena *a, struct mime_part *part, struct slice name, struct slice v,
		struct buf *tmp, bool *seen_type)
{
	if (slice_eq_nocase(name, "content-type")) {
		if (!*seen_type)
			parse_content_type(a, part, v);
		*seen_type = true;
	} else if (slice_eq_nocase(name, "content-transfer-encoding")) {
		const char *p = v.p;
		if (part->encoding == NULL)
			part->encoding = read_token_lower(a, &p, v.p + v.len);
	} else if (slice_eq_nocase(name, "content-id")) {
		set_once(&part->id, unfolded(a, v, tmp));
	} else if (slice_eq_nocase(name, "content-description")) {
		set_once(&part->description, unfolded(a, v, tmp));
	} else if (slice_eq_nocase(name, "content-disposition")) {
		if (part->disposition == NULL)
			parse_disposition(a, part, v);
	} else if (slice_eq_nocase(name, "content-language")) {
		set_once(&part->language, unfolded(a, v, tmp));
	} else if (slice_eq_nocase(name, "content-location")) {
		set_once(&part->location, unfolded(a, v, tmp));
	} else if (slice_eq_nocase(name, "content-md5")) {
		set_once(&part->md5, unfolded(a, v, tmp));
	}
}

/* The envelope's address list for a field name, and its bit in a "seen" mask. */
static struct mime_address **address_field(struct mime_envelope *env, struct slice name, uint32_t *bit_r)
{
	static const char *const names[] = { "from", "sender", "reply-to", "to", "cc", "bcc" };
	struct mime_address **fields[] = { &env->from, &env->sender, &env->reply_to, &env->to, &env->cc,
		&env->bcc };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (slice_eq_nocase(name, names[i])) {
			*bit_r = 1u << i;
			return fields[i];
		}
	}
	return NULL;
}

static const char **string_field(struct mime_envelope *env, struct slice name)
{
	if (slice_eq_nocase(name, "date"))
		return &env->date;
	if (slice_eq_nocase(name, "subject"))
		return &env->subject;
	if (slice_eq_nocase(name, "in-reply-to"))
		return &env->in_reply_to;
	if (slice_eq_nocase(name, "message-id"))
		return &env->message_id;
	return NULL;
}

/* RFC 3501 7.4.2: the first of each field; address lists parsed. */
static void apply_envelope_field(struct mime_arena *a, struct mime_envelope *env, struct slice name,
		struct slice v, struct buf *tmp, uint32_t *addr_seen)
{
	uint32_t bit = 0;
	struct mime_address **al = address_field(env, name, &bit);
	const char **s;

	if (al != NULL) {
		if ((*addr_seen & bit) == 0) {
			*addr_seen |= bit;
			buf_reset(tmp);
			mime_unfold(v, tmp);
			*al = mime_address_list_parse(a, slice_make(tmp->data != NULL ? tmp->data : "", tmp->len));
		}
		return;
	}
	s = string_field(env, name);
	if (s != NULL)
		set_once(s, unfolded(a, v, tmp));
}

void mime_header_apply(struct mime_arena *a, struct mime_part *part, struct slice hdr, bool digest_child,
		struct mime_envelope *env)
{
	struct mime_header_iter it;
	struct slice name, value, line;
	struct buf tmp;
	bool seen_type = false;
	uint32_t addr_seen = 0;

	buf_init(&tmp, 0);
	mime_header_iter_init(&it, hdr);
	while (mime_header_iter_next(&it, &name, &value, &line)) {
		if (name.len > 8 && strncasecmp(name.p, "content-", 8) == 0)
			apply_content_field(a, part, name, value, &tmp, &seen_type);
		else if (env != NULL)
			apply_envelope_field(a, env, name, value, &tmp, &addr_seen);
	}
	buf_free(&tmp);
	if (part->type == NULL) {
		/* RFC 2046 5.1.5: in a digest the default is a message */
		part->type = digest_child ? "message" : "text";
		part->subtype = digest_child ? "rfc822" : "plain";
	}
	if (part->encoding == NULL)
		part->encoding = "7bit";
}

/* ---- header filter / value lookup (mime.h) --------------------------------------------------- */

static bool name_in(struct slice name, const char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (slice_eq_nocase(name, names[i]))
			return true;
	return false;
}

void mime_header_filter(struct slice hdr, const char *const *names, size_t count, bool not, struct buf *out)
{
	struct mime_header_iter it;
	struct slice name, value, line;

	mime_header_iter_init(&it, hdr);
	while (mime_header_iter_next(&it, &name, &value, &line)) {
		if (name_in(name, names, count) != not) {
			(void)buf_append(out, line.p, line.len);
			/* a last field cut off without its line break still ends a line */
			if (line.len == 0 || line.p[line.len - 1] != '\n')
				(void)buf_append(out, "\r\n", 2);
		}
	}
	(void)buf_append(out, "\r\n", 2);
}

int mime_header_value(struct slice hdr, const char *name, struct buf *out)
{
	struct mime_header_iter it;
	struct slice n, value, line;

	mime_header_iter_init(&it, hdr);
	while (mime_header_iter_next(&it, &n, &value, &line)) {
		if (slice_eq_nocase(n, name)) {
			mime_unfold(value, out);
			return 1;
		}
	}
	return 0;
}

/* ---- RFC 5322 3.4 address lists (with the obsolete forms of 4.4) ------------------------------- */

enum addr_tok { T_END, T_WORD, T_QUOTED, T_DOMLIT, T_SPECIAL };

struct addr_lex {
	const char *p, *end;
	bool spaced;          /* white space or a comment came before the token */
	struct slice comment; /* the last comment skipped, for a bare addr-spec's name */
};

static bool is_atext(char c)
{
	if ((unsigned char)c >= 0x80)
		return true;
	if (c <= ' ' || c == 0x7f)
		return false;
	switch (c) { /* RFC 5322 specials */
	case '(': case ')': case '<': case '>': case '[': case ']': case ':': case ';':
	case '@': case '\\': case ',': case '.': case '"':
		return false;
	default:
		return true;
	}
}

static void lex_skip_cfws(struct addr_lex *l)
{
	const char *start = l->p;

	for (;;) {
		while (l->p < l->end && (mime_is_wsp(*l->p) || *l->p == '\r' || *l->p == '\n'))
			l->p++;
		if (l->p >= l->end || *l->p != '(')
			break;
		const char *c = l->p;
		l->p = mime_skip_cfws(l->p, l->end);
		/* comment text without its outer parentheses */
		const char *ce = l->p;
		while (ce > c && (mime_is_wsp(ce[-1]) || ce[-1] == '\r' || ce[-1] == '\n'))
			ce--;
		if (ce > c + 1 && ce[-1] == ')')
			ce--;
		l->comment = slice_make(c + 1, ce > c + 1 ? (size_t)(ce - c - 1) : 0);
	}
	l->spaced = l->p > start;
}

/* The next token; raw is its text (a quoted string without its quotes). */
static enum addr_tok lex_next(struct addr_lex *l, struct slice *raw)
{
	const char *s;

	lex_skip_cfws(l);
	if (l->p >= l->end)
		return T_END;
	s = l->p;
	if (*s == '"' || *s == '[') {
		char close = *s == '"' ? '"' : ']';
		for (l->p++; l->p < l->end && *l->p != close; l->p++)
			if (*l->p == '\\' && l->p + 1 < l->end)
				l->p++;
		if (close == '"') {
			*raw = slice_make(s + 1, (size_t)(l->p - s - 1));
		} else {
			*raw = slice_make(s, (size_t)(l->p - s) + (l->p < l->end));
		}
		if (l->p < l->end)
			l->p++;
		return close == '"' ? T_QUOTED : T_DOMLIT;
	}
	if (is_atext(*s)) {
		while (l->p < l->end && is_atext(*l->p))
			l->p++;
		*raw = slice_make(s, (size_t)(l->p - s));
		return T_WORD;
	}
	l->p++;
	*raw = slice_make(s, 1);
	return T_SPECIAL;
}

static char lex_peek(struct addr_lex *l)
{
	struct addr_lex save = *l;
	struct slice raw;
	enum addr_tok t = lex_next(&save, &raw);

	return t == T_END ? '\0' : t == T_SPECIAL ? raw.p[0] : 'w';
}

/* A quoted string's content with its quoted-pairs resolved. */
static void append_unquoted(struct buf *b, struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		(void)buf_append(b, &s.p[i], 1);
	}
}

/*
 * Words and dots up to the next other special: the display name (words
 * joined by one space) and, in case an '@' follows, the local part (no
 * spaces) at once.
 */
static void read_words(struct addr_lex *l, struct buf *phrase, struct buf *local)
{
	for (;;) {
		struct addr_lex save = *l;
		struct slice raw;
		enum addr_tok t = lex_next(l, &raw);

		if (t == T_END || t == T_DOMLIT || (t == T_SPECIAL && raw.p[0] != '.')) {
			*l = save;
			return;
		}
		if (l->spaced && phrase->len > 0 && raw.p[0] != '.')
			(void)buf_append(phrase, " ", 1);
		if (t == T_QUOTED) {
			append_unquoted(phrase, raw);
			append_unquoted(local, raw);
		} else {
			(void)buf_append(phrase, raw.p, raw.len);
			(void)buf_append(local, raw.p, raw.len);
		}
	}
}

/* A domain (dot-atom or domain literal; obs-domain's CFWS between dots). */
static void read_domain(struct addr_lex *l, struct buf *out)
{
	for (;;) {
		struct addr_lex save = *l;
		struct slice raw;
		enum addr_tok t = lex_next(l, &raw);

		if (t == T_WORD || t == T_DOMLIT || (t == T_SPECIAL && raw.p[0] == '.')) {
			(void)buf_append(out, raw.p, raw.len);
			continue;
		}
		*l = save;
		return;
	}
}

struct addr_ctx {
	struct mime_arena *a;
	struct addr_lex l;
	struct mime_address *head, **tail;
	struct buf phrase, local, domain, route;
};

static const char *arena_buf(struct addr_ctx *c, struct buf *b)
{
	return b->len > 0 ? mime_arena_strndup(c->a, b->data, b->len) : NULL;
}

static struct mime_address *add_node(struct addr_ctx *c)
{
	struct mime_address *n = mime_arena_alloc(c->a, sizeof(*n));

	*c->tail = n;
	c->tail = &n->next;
	return n;
}

/* obs-route "@a,@b:" (RFC 5322 4.4), kept as "@a,@b" like Dovecot. */
static void read_route(struct addr_ctx *c)
{
	while (lex_peek(&c->l) == '@' || lex_peek(&c->l) == ',') {
		struct slice raw;
		(void)lex_next(&c->l, &raw);
		if (raw.p[0] == ',' && lex_peek(&c->l) != '@')
			continue;
		(void)buf_append(&c->route, raw.p, raw.len);
		if (raw.p[0] == '@')
			read_domain(&c->l, &c->route);
	}
	if (c->route.len > 0 && lex_peek(&c->l) == ':') {
		struct slice raw;
		(void)lex_next(&c->l, &raw);
	}
}

/* "<" [route] addr-spec ">" — the '<' already taken. */
static void read_angle_addr(struct addr_ctx *c, struct mime_address *n)
{
	struct slice raw;
	struct buf ignored;

	buf_init(&ignored, 0);
	read_route(c);
	buf_reset(&c->local);
	read_words(&c->l, &ignored, &c->local);
	buf_free(&ignored);
	if (lex_peek(&c->l) == '@') {
		(void)lex_next(&c->l, &raw);
		read_domain(&c->l, &c->domain);
	}
	if (lex_peek(&c->l) == '>')
		(void)lex_next(&c->l, &raw);
	n->adl = arena_buf(c, &c->route);
	n->mailbox = arena_buf(c, &c->local);
	n->host = arena_buf(c, &c->domain);
}

static void reset_bufs(struct addr_ctx *c)
{
	buf_reset(&c->phrase);
	buf_reset(&c->local);
	buf_reset(&c->domain);
	buf_reset(&c->route);
	c->l.comment = slice_make(NULL, 0);
}

/* Skips whatever is left of a broken element, up to the next ',' (or ';' in a group). */
static void skip_to_separator(struct addr_ctx *c, bool in_group)
{
	for (;;) {
		char ch = lex_peek(&c->l);
		struct slice raw;

		if (ch == '\0' || ch == ',' || (in_group && ch == ';'))
			return;
		(void)lex_next(&c->l, &raw);
	}
}

/* One mailbox (name-addr or addr-spec). Returns false at a group's ':' (the phrase is its name). */
static bool read_mailbox(struct addr_ctx *c, bool in_group)
{
	struct slice raw;
	char ch;

	reset_bufs(c);
	read_words(&c->l, &c->phrase, &c->local);
	ch = lex_peek(&c->l);
	if (ch == ':' && !in_group)
		return false;
	struct mime_address *n = add_node(c);
	if (ch == '<') {
		(void)lex_next(&c->l, &raw);
		n->name = arena_buf(c, &c->phrase);
		read_angle_addr(c, n);
	} else {
		if (ch == '@') {
			(void)lex_next(&c->l, &raw);
			read_domain(&c->l, &c->domain);
		}
		lex_skip_cfws(&c->l);
		n->mailbox = arena_buf(c, &c->local);
		n->host = arena_buf(c, &c->domain);
		/* "addr@example.org (Name)": the comment names it, as in Dovecot */
		if (c->l.comment.len > 0)
			n->name = mime_arena_strndup(c->a, c->l.comment.p, c->l.comment.len);
	}
	skip_to_separator(c, in_group);
	return true;
}

/* group = display-name ":" [group-list] ";" — the name already read into c->phrase. */
static void read_group(struct addr_ctx *c)
{
	struct slice raw;
	struct mime_address *start = add_node(c);

	start->group_start = true;
	start->mailbox = c->phrase.len > 0 ? arena_buf(c, &c->phrase) : "";
	(void)lex_next(&c->l, &raw); /* ':' */
	for (;;) {
		char ch = lex_peek(&c->l);

		if (ch == '\0' || ch == ';')
			break;
		if (ch == ',') {
			(void)lex_next(&c->l, &raw);
			continue;
		}
		(void)read_mailbox(c, true);
	}
	if (lex_peek(&c->l) == ';')
		(void)lex_next(&c->l, &raw);
	add_node(c)->group_end = true;
}

struct mime_address *mime_address_list_parse(struct mime_arena *a, struct slice value)
{
	struct addr_ctx c;

	memset(&c, 0, sizeof(c));
	c.a = a;
	c.l.p = value.p;
	c.l.end = value.p + value.len;
	c.tail = &c.head;
	buf_init(&c.phrase, 0);
	buf_init(&c.local, 0);
	buf_init(&c.domain, 0);
	buf_init(&c.route, 0);
	for (;;) {
		char ch = lex_peek(&c.l);
		struct slice raw;

		if (ch == '\0')
			break;
		if (ch == ',' || ch == ';' || ch == '>') {
			(void)lex_next(&c.l, &raw);
			continue;
		}
		if (!read_mailbox(&c, false))
			read_group(&c);
	}
	buf_free(&c.phrase);
	buf_free(&c.local);
	buf_free(&c.domain);
	buf_free(&c.route);
	return c.head;
}
