/*
 * mime_imap: BODY, BODYSTRUCTURE and ENVELOPE (RFC 3501 7.4.2, RFC 9051
 * 7.5.2) from a parsed tree.
 *
 * Output choices, all within the RFCs' grammar:
 * - type, subtype, parameter names, encoding and disposition type are
 *   written in upper case, as in the RFCs' examples ("TEXT" "PLAIN"
 *   ("CHARSET" "US-ASCII") ...); values are written as the message has them.
 *   (Dovecot writes them as the message spells them; IMAP compares them
 *   case-insensitively, so clients see no difference.)
 * - a text part without a charset gets ("CHARSET" "US-ASCII"), the RFC 2045
 *   default, as Dovecot does.
 * - strings are quoted (with \" and \\ escaped) unless they hold CR, LF,
 *   NUL or 8-bit bytes, which IMAP4rev1's quoted strings cannot carry; then
 *   they are literals {n}.
 * - a multipart with no parts (no boundary, or a limit) gets one empty
 *   text/plain part, and a message/rfc822 that holds no parsed message (an
 *   encoded one, or a limit) an empty envelope and body — as Dovecot does —
 *   because the grammar has no way to say "none".
 * - an address without a local part or domain gets Dovecot's
 *   MISSING_MAILBOX / MISSING_DOMAIN, because a NIL host means a group.
 */
#include "mime/mime_private.h"

#include <string.h>

static void put(struct buf *out, const char *s)
{
	(void)buf_append(out, s, strlen(s));
}

static bool quotable(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

/* An IMAP string (quoted or literal), or NIL for NULL. upper: ASCII upper-cased. */
static void put_string(struct buf *out, const char *s, bool upper)
{
	if (s == NULL) {
		put(out, "NIL");
		return;
	}
	if (!quotable(s)) {
		(void)buf_appendf(out, "{%zu}\r\n", strlen(s));
		put(out, s);
		return;
	}
	(void)buf_append(out, "\"", 1);
	for (; *s != '\0'; s++) {
		char c = *s;
		if (c == '"' || c == '\\')
			(void)buf_append(out, "\\", 1);
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		(void)buf_append(out, &c, 1);
	}
	(void)buf_append(out, "\"", 1);
}

static void put_nstring(struct buf *out, const char *s)
{
	put_string(out, s, false);
}

/* ---- ENVELOPE ----------------------------------------------------------------------------------- */

static void put_address(struct buf *out, const struct mime_address *a)
{
	put(out, "(");
	if (a->group_end) {
		put(out, "NIL NIL NIL NIL");
	} else if (a->group_start) {
		put(out, "NIL NIL ");
		put_nstring(out, a->mailbox != NULL ? a->mailbox : "");
		put(out, " NIL");
	} else {
		put_nstring(out, a->name);
		put(out, " ");
		put_nstring(out, a->adl);
		put(out, " ");
		put_nstring(out, a->mailbox != NULL ? a->mailbox : "MISSING_MAILBOX");
		put(out, " ");
		put_nstring(out, a->host != NULL ? a->host : "MISSING_DOMAIN");
	}
	put(out, ")");
}

static void put_address_list(struct buf *out, const struct mime_address *a)
{
	if (a == NULL) {
		put(out, "NIL");
		return;
	}
	put(out, "(");
	for (; a != NULL; a = a->next)
		put_address(out, a);
	put(out, ")");
}

void mime_imap_envelope(const struct mime_envelope *env, struct buf *out)
{
	put(out, "(");
	put_nstring(out, env->date);
	put(out, " ");
	put_nstring(out, env->subject);
	put(out, " ");
	put_address_list(out, env->from);
	put(out, " ");
	/* RFC 3501 7.4.2: the server defaults Sender and Reply-To to From */
	put_address_list(out, env->sender != NULL ? env->sender : env->from);
	put(out, " ");
	put_address_list(out, env->reply_to != NULL ? env->reply_to : env->from);
	put(out, " ");
	put_address_list(out, env->to);
	put(out, " ");
	put_address_list(out, env->cc);
	put(out, " ");
	put_address_list(out, env->bcc);
	put(out, " ");
	put_nstring(out, env->in_reply_to);
	put(out, " ");
	put_nstring(out, env->message_id);
	put(out, ")");
}

/* ---- BODY / BODYSTRUCTURE ------------------------------------------------------------------------- */

static const char empty_text[] = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0";
static const char empty_envelope[] = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

static bool has_param(const struct mime_param *p, const char *name)
{
	for (; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return true;
	return false;
}

static void put_params(struct buf *out, const struct mime_param *p, bool default_charset)
{
	if (p == NULL && !default_charset) {
		put(out, "NIL");
		return;
	}
	put(out, "(");
	for (const struct mime_param *q = p; q != NULL; q = q->next) {
		if (q != p)
			put(out, " ");
		put_string(out, q->name, true);
		put(out, " ");
		put_string(out, q->value, false);
	}
	if (default_charset)
		put(out, p != NULL ? " \"CHARSET\" \"US-ASCII\"" : "\"CHARSET\" \"US-ASCII\"");
	put(out, ")");
}

/* body-fld-lang: one string, or a list for "en, de" (RFC 3282 allows several). */
static void put_language(struct buf *out, const char *lang)
{
	const char *sep = " \t,";
	size_t n = 0;

	if (lang == NULL) {
		put(out, "NIL");
		return;
	}
	for (const char *p = lang; *p != '\0';) {
		p += strspn(p, sep);
		size_t l = strcspn(p, sep);
		n += l > 0;
		p += l;
	}
	if (n == 0) {
		put(out, "NIL");
		return;
	}
	put(out, n > 1 ? "(" : "");
	bool first = true;
	for (const char *p = lang; *p != '\0';) {
		p += strspn(p, sep);
		size_t l = strcspn(p, sep);
		if (l == 0)
			break;
		char tmp[128];
		size_t cl = l < sizeof(tmp) - 1 ? l : sizeof(tmp) - 1;
		memcpy(tmp, p, cl);
		tmp[cl] = '\0';
		put(out, first ? "" : " ");
		first = false;
		put_nstring(out, tmp);
		p += l;
	}
	put(out, n > 1 ? ")" : "");
}

static void put_disposition(struct buf *out, const struct mime_part *part)
{
	if (part->disposition == NULL) {
		put(out, "NIL");
		return;
	}
	put(out, "(");
	put_string(out, part->disposition, true);
	put(out, " ");
	put_params(out, part->disposition_params, false);
	put(out, ")");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc (after the md5 or the params) */
static void put_ext_tail(struct buf *out, const struct mime_part *part)
{
	put(out, " ");
	put_disposition(out, part);
	put(out, " ");
	put_language(out, part->language);
	put(out, " ");
	put_nstring(out, part->location);
}

static void put_part(struct buf *out, const struct mime_part *part, bool ext, int depth);

static void put_multipart(struct buf *out, const struct mime_part *part, bool ext, int depth)
{
	put(out, "(");
	if (part->children == NULL) {
		put(out, empty_text);
		put(out, ext ? " NIL NIL NIL NIL)" : ")");
	}
	for (const struct mime_part *c = part->children; c != NULL; c = c->next)
		put_part(out, c, ext, depth + 1);
	put(out, " ");
	put_string(out, part->subtype, true);
	if (ext) {
		put(out, " ");
		put_params(out, part->params, false);
		put_ext_tail(out, part);
	}
	put(out, ")");
}

static void put_fields(struct buf *out, const struct mime_part *part)
{
	put_string(out, part->type, true);
	put(out, " ");
	put_string(out, part->subtype, true);
	put(out, " ");
	put_params(out, part->params, strcmp(part->type, "text") == 0 && !has_param(part->params, "charset"));
	put(out, " ");
	put_nstring(out, part->id);
	put(out, " ");
	put_nstring(out, part->description);
	put(out, " ");
	put_string(out, part->encoding, true);
	(void)buf_appendf(out, " %llu", (unsigned long long)part->body_size);
}

static void put_message_body(struct buf *out, const struct mime_part *part, bool ext, int depth)
{
	put(out, " ");
	if (part->children != NULL) {
		static const struct mime_envelope none;
		mime_imap_envelope(part->envelope != NULL ? part->envelope : &none, out);
		put(out, " ");
		put_part(out, part->children, ext, depth + 1);
	} else {
		put(out, empty_envelope);
		put(out, " ");
		put(out, empty_text);
		put(out, ext ? " NIL NIL NIL NIL)" : ")");
	}
	(void)buf_appendf(out, " %lu", (unsigned long)part->body_lines);
}

static bool is_message(const struct mime_part *part)
{
	return strcmp(part->type, "message") == 0 &&
	       (strcmp(part->subtype, "rfc822") == 0 || strcmp(part->subtype, "global") == 0);
}

/* The body of a part: a message's own body is its root's structure (RFC 3501 7.4.2). */
static void put_part(struct buf *out, const struct mime_part *part, bool ext, int depth)
{
	if (strcmp(part->type, "multipart") == 0) {
		put_multipart(out, part, ext, depth);
		return;
	}
	put(out, "(");
	put_fields(out, part);
	if (is_message(part))
		put_message_body(out, part, ext, depth);
	else if (strcmp(part->type, "text") == 0)
		(void)buf_appendf(out, " %lu", (unsigned long)part->body_lines);
	if (ext) {
		put(out, " ");
		put_nstring(out, part->md5);
		put_ext_tail(out, part);
	}
	put(out, ")");
}

void mime_imap_bodystructure(const struct mime_message *m, bool extended, struct buf *out)
{
	put_part(out, m->root, extended, 0);
}

/* ---- sections (RFC 3501 6.4.5) -------------------------------------------------------------------- */

static bool is_multipart(const struct mime_part *part)
{
	return strcmp(part->type, "multipart") == 0;
}

/* Part n of the message (or multipart) cur: a child, or cur itself as "1" of a single-part message. */
static const struct mime_part *nth_part(const struct mime_part *cur, unsigned long n)
{
	if (!is_multipart(cur))
		return n == 1 ? cur : NULL;
	for (const struct mime_part *c = cur->children; c != NULL; c = c->next)
		if (--n == 0)
			return c;
	return NULL;
}

int mime_section_part(const struct mime_message *m, const char *spec, const struct mime_part **part_r)
{
	const struct mime_part *cur = m->root;
	const char *p = spec;

	*part_r = cur;
	if (*p == '\0')
		return 0;
	for (bool first = true;; first = false) {
		if (*p < '1' || *p > '9')
			return -1;
		unsigned long n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n > 100000000UL)
				return -1;
			n = n * 10 + (unsigned long)(*p++ - '0');
		}
		/* below a message/rfc822 part, numbering continues inside its message */
		if (!first && is_message(cur) && cur->children != NULL)
			cur = cur->children;
		else if (!first && !is_multipart(cur))
			return -1;
		cur = nth_part(cur, n);
		if (cur == NULL)
			return -1;
		if (*p == '\0')
			break;
		if (*p++ != '.')
			return -1;
	}
	*part_r = cur;
	return 0;
}
