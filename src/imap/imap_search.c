/*
 * imap_search: SEARCH criteria parsing and evaluation. See imap_search.h.
 */
#include "imap/imap_search.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch.h"
#include "imap/imap_sort.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mime/mime.h"
#include "store/store_mail.h"

enum node_type {
	N_ALL, N_AND, N_OR, N_NOT,
	N_SEQSET, N_UIDSET, N_SAVED,
	N_FLAG, N_UNFLAG, N_KEYWORD, N_UNKEYWORD, N_RECENT,
	N_LARGER, N_SMALLER,
	N_BEFORE, N_ON, N_SINCE, N_SENTBEFORE, N_SENTON, N_SENTSINCE,
	N_HEADER, N_BODY, N_TEXT, N_MODSEQ,
};

struct imap_search_node {
	enum node_type type;
	struct imap_search_node *child, *next; /* AND/OR/NOT operands; siblings */
	uint32_t flag;
	uint64_t num;        /* LARGER, SMALLER, MODSEQ */
	int64_t day;         /* dates: days since the epoch */
	char *name;          /* HEADER field name */
	char *value;         /* folded search string (UTF-8) */
	size_t value_len;
	struct imap_seqset set;
};

struct parser {
	const struct imap_arg *args;
	size_t count, pos;
	size_t keys;
	struct imap_search_program *prog;
	const char *err;
};

/* ---- case folding ------------------------------------------------------------------------- */

static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c == 0x130)
		return 'i';
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
		return c | 1;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
		return (c & 1) ? c + 1 : c;
	if (c == 0x178)
		return 0xFF;
	if (c == 0x17F)
		return 's';
	if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
		return c + 32;
	if (c == 0x3C2)
		return 0x3C3;
	if (c == 0x386)
		return 0x3AC;
	if (c >= 0x388 && c <= 0x38A)
		return c + 37;
	if (c == 0x38C)
		return 0x3CC;
	if (c == 0x38E || c == 0x38F)
		return c + 63;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	return c;
}

/* Decodes one UTF-8 sequence at p; returns its length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp_r)
{
	size_t len;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp_r = p[0];
		return 1;
	}
	if ((p[0] & 0xE0) == 0xC0) {
		len = 2;
		c = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		len = 3;
		c = p[0] & 0x0F;
	} else if ((p[0] & 0xF8) == 0xF0) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3F);
	}
	*cp_r = c;
	return len;
}

static void utf8_encode(uint32_t c, struct buf *out)
{
	unsigned char b[4];
	size_t n;

	if (c < 0x80) {
		b[0] = (unsigned char)c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = (unsigned char)(0xC0 | (c >> 6));
		b[1] = (unsigned char)(0x80 | (c & 0x3F));
		n = 2;
	} else if (c < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (c >> 12));
		b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (c & 0x3F));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xF0 | (c >> 18));
		b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
		b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
		b[3] = (unsigned char)(0x80 | (c & 0x3F));
		n = 4;
	}
	buf_append(out, b, n);
}

void imap_search_fold(struct slice in, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in.p;
	size_t i = 0;

	while (i < in.len) {
		uint32_t c;
		size_t n = utf8_decode(p + i, in.len - i, &c);
		if (n == 0) { /* not UTF-8: the byte as it is */
			buf_append(out, p + i, 1);
			i++;
			continue;
		}
		if (n == 1) {
			char ch = (char)fold_cp(c);
			buf_append(out, &ch, 1);
		} else {
			utf8_encode(fold_cp(c), out);
		}
		i += n;
	}
}

/* needle is already folded. */
static bool folded_contains(struct slice hay, struct slice needle)
{
	struct buf f;
	bool r;

	if (needle.len == 0)
		return true;
	buf_init(&f, 0);
	imap_search_fold(hay, &f);
	r = f.len >= needle.len && memmem(f.data, f.len, needle.p, needle.len) != NULL;
	buf_free(&f);
	return r;
}

bool imap_search_contains(struct slice haystack, struct slice needle)
{
	struct buf n;
	bool r;

	buf_init(&n, 0);
	imap_search_fold(needle, &n);
	r = folded_contains(haystack, slice_make(n.data ? n.data : "", n.len));
	buf_free(&n);
	return r;
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static struct imap_search_node *node_new(struct parser *p, enum node_type type)
{
	struct imap_search_node *n = xcalloc(1, sizeof(*n));

	n->type = type;
	p->keys++;
	return n;
}

static void node_free(struct imap_search_node *n)
{
	while (n != NULL) {
		struct imap_search_node *next = n->next;
		node_free(n->child);
		free(n->name);
		free(n->value);
		imap_seqset_free(&n->set);
		free(n);
		n = next;
	}
}

static const struct imap_arg *next_arg(struct parser *p)
{
	return p->pos < p->count ? &p->args[p->pos++] : NULL;
}

/* astring: an atom, a quoted string or a literal. */
static const struct imap_arg *arg_string(struct parser *p)
{
	const struct imap_arg *a = next_arg(p);

	if (a == NULL || (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING)) {
		p->err = "search key needs a string argument";
		return NULL;
	}
	return a;
}

static int arg_number(struct parser *p, uint64_t *v_r)
{
	const struct imap_arg *a = next_arg(p);
	uint64_t v = 0;

	if (a == NULL || a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 20) {
		p->err = "search key needs a number";
		return -1;
	}
	for (size_t i = 0; i < a->len; i++) {
		if (a->str[i] < '0' || a->str[i] > '9' || v > (UINT64_MAX - 9) / 10) {
			p->err = "search key needs a number";
			return -1;
		}
		v = v * 10 + (uint64_t)(a->str[i] - '0');
	}
	*v_r = v;
	return 0;
}

static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

static int arg_date(struct parser *p, int64_t *day_r)
{
	const struct imap_arg *a = arg_string(p);
	int64_t t;

	if (a == NULL || imap_parse_date(a->str, &t) < 0) {
		p->err = "search key needs a date like 1-Feb-1994";
		return -1;
	}
	*day_r = day_of(t);
	return 0;
}

static void set_value(struct imap_search_node *n, const struct imap_arg *a)
{
	struct buf f;

	buf_init(&f, 0);
	imap_search_fold(slice_make(a->str, a->len), &f);
	n->value = f.data != NULL ? f.data : xstrdup("");
	n->value_len = f.len;
}

static struct imap_search_node *parse_key(struct parser *p, unsigned depth);

struct flag_key {
	const char *name;
	enum node_type type;
	uint32_t flag;
};

static const struct flag_key flag_keys[] = {
	{ "ALL", N_ALL, 0 },
	{ "ANSWERED", N_FLAG, STORE_FLAG_ANSWERED }, { "UNANSWERED", N_UNFLAG, STORE_FLAG_ANSWERED },
	{ "DELETED", N_FLAG, STORE_FLAG_DELETED }, { "UNDELETED", N_UNFLAG, STORE_FLAG_DELETED },
	{ "DRAFT", N_FLAG, STORE_FLAG_DRAFT }, { "UNDRAFT", N_UNFLAG, STORE_FLAG_DRAFT },
	{ "FLAGGED", N_FLAG, STORE_FLAG_FLAGGED }, { "UNFLAGGED", N_UNFLAG, STORE_FLAG_FLAGGED },
	{ "SEEN", N_FLAG, STORE_FLAG_SEEN }, { "UNSEEN", N_UNFLAG, STORE_FLAG_SEEN },
	{ "RECENT", N_RECENT, 0 },
};

static const struct {
	const char *name;
	const char *header;
} header_keys[] = {
	{ "BCC", "Bcc" }, { "CC", "Cc" }, { "FROM", "From" }, { "SUBJECT", "Subject" }, { "TO", "To" },
};

static const struct {
	const char *name;
	enum node_type type;
} date_keys[] = {
	{ "BEFORE", N_BEFORE }, { "ON", N_ON }, { "SINCE", N_SINCE },
	{ "SENTBEFORE", N_SENTBEFORE }, { "SENTON", N_SENTON }, { "SENTSINCE", N_SENTSINCE },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* NEW is RECENT UNSEEN; OLD is NOT RECENT (RFC 3501 6.4.4). */
static struct imap_search_node *parse_new_old(struct parser *p, bool new)
{
	struct imap_search_node *n = node_new(p, new ? N_AND : N_NOT), *r = node_new(p, N_RECENT);

	n->child = r;
	if (new) {
		r->next = node_new(p, N_UNFLAG);
		r->next->flag = STORE_FLAG_SEEN;
	}
	return n;
}

static struct imap_search_node *parse_simple(struct parser *p, const char *k)
{
	for (size_t i = 0; i < COUNT(flag_keys); i++) {
		if (strcasecmp(k, flag_keys[i].name) == 0) {
			struct imap_search_node *n = node_new(p, flag_keys[i].type);
			n->flag = flag_keys[i].flag;
			return n;
		}
	}
	if (strcasecmp(k, "NEW") == 0 || strcasecmp(k, "OLD") == 0)
		return parse_new_old(p, strcasecmp(k, "NEW") == 0);
	return NULL;
}

static struct imap_search_node *parse_string_key(struct parser *p, const char *k)
{
	const struct imap_arg *a;
	struct imap_search_node *n;

	for (size_t i = 0; i < COUNT(header_keys); i++) {
		if (strcasecmp(k, header_keys[i].name) == 0) {
			if ((a = arg_string(p)) == NULL)
				return NULL;
			n = node_new(p, N_HEADER);
			n->name = xstrdup(header_keys[i].header);
			set_value(n, a);
			p->prog->needs_message = true;
			return n;
		}
	}
	if (strcasecmp(k, "HEADER") == 0) {
		const struct imap_arg *name = arg_string(p);
		if (name == NULL || (a = arg_string(p)) == NULL)
			return NULL;
		if (name->len == 0 || memchr(name->str, ':', name->len) != NULL || strlen(name->str) != name->len) {
			p->err = "HEADER needs a header field name";
			return NULL;
		}
		n = node_new(p, N_HEADER);
		n->name = xstrdup(name->str);
		set_value(n, a);
		p->prog->needs_message = true;
		return n;
	}
	if (strcasecmp(k, "BODY") == 0 || strcasecmp(k, "TEXT") == 0) {
		if ((a = arg_string(p)) == NULL)
			return NULL;
		n = node_new(p, strcasecmp(k, "BODY") == 0 ? N_BODY : N_TEXT);
		set_value(n, a);
		p->prog->needs_message = true;
		return n;
	}
	return NULL;
}

static struct imap_search_node *parse_keyword(struct parser *p, bool un)
{
	const struct imap_arg *a = arg_string(p);
	struct imap_search_node *n;

	if (a == NULL)
		return NULL;
	if (a->len == 0 || a->len >= STORE_KEYWORDS_MAX || strpbrk(a->str, " (){%*\"\\]") != NULL) {
		p->err = "KEYWORD needs a flag keyword";
		return NULL;
	}
	n = node_new(p, un ? N_UNKEYWORD : N_KEYWORD);
	n->value = xstrdup(a->str);
	n->value_len = a->len;
	return n;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 3.1.5). */
static struct imap_search_node *parse_modseq(struct parser *p)
{
	struct imap_search_node *n;
	uint64_t v;

	if (p->pos < p->count && p->args[p->pos].type == IMAP_ARG_STRING) {
		const struct imap_arg *type;
		p->pos++;
		type = next_arg(p);
		if (type == NULL || type->type != IMAP_ARG_ATOM ||
		    (strcasecmp(type->str, "priv") != 0 && strcasecmp(type->str, "shared") != 0 &&
		     strcasecmp(type->str, "all") != 0)) {
			p->err = "MODSEQ entry type must be priv, shared or all";
			return NULL;
		}
	}
	if (arg_number(p, &v) < 0)
		return NULL;
	n = node_new(p, N_MODSEQ);
	n->num = v;
	p->prog->has_modseq = true;
	return n;
}

static struct imap_search_node *parse_set(struct parser *p, const struct imap_arg *a, bool uid)
{
	struct imap_search_node *n;
	const char *err;

	if (a == NULL || a->type != IMAP_ARG_ATOM) {
		p->err = "UID needs a sequence set";
		return NULL;
	}
	if (strcmp(a->str, "$") == 0) {
		n = node_new(p, N_SAVED);
		p->prog->uses_saved = true; /* "$" holds UIDs whether or not after UID */
		return n;
	}
	n = node_new(p, uid ? N_UIDSET : N_SEQSET);
	if (imap_parse_seqset(a->str, a->len, &n->set, &err) < 0) {
		p->err = err;
		node_free(n);
		return NULL;
	}
	return n;
}

static struct imap_search_node *parse_operator(struct parser *p, const char *k, unsigned depth)
{
	struct imap_search_node *n, *a, *b;

	if (strcasecmp(k, "NOT") == 0) {
		if ((a = parse_key(p, depth + 1)) == NULL)
			return NULL;
		n = node_new(p, N_NOT);
		n->child = a;
		return n;
	}
	if ((a = parse_key(p, depth + 1)) == NULL)
		return NULL;
	if ((b = parse_key(p, depth + 1)) == NULL) {
		node_free(a);
		return NULL;
	}
	n = node_new(p, N_OR);
	n->child = a;
	a->next = b;
	return n;
}

static struct imap_search_node *parse_group(struct parser *p, const struct imap_arg *list, unsigned depth)
{
	struct parser sub = { list->list, list->count, 0, p->keys, p->prog, NULL };
	struct imap_search_node *n = NULL, **tail = &n;

	if (list->count == 0) {
		p->err = "empty parenthesised search key";
		return NULL;
	}
	while (sub.pos < sub.count) {
		struct imap_search_node *k = parse_key(&sub, depth + 1);
		if (k == NULL) {
			p->err = sub.err;
			node_free(n);
			return NULL;
		}
		*tail = k;
		tail = &k->next;
	}
	p->keys = sub.keys;
	struct imap_search_node *g = node_new(p, N_AND);
	g->child = n;
	return g;
}

static struct imap_search_node *parse_atom_key(struct parser *p, const struct imap_arg *a, unsigned depth)
{
	const char *k = a->str;
	struct imap_search_node *n;
	uint64_t v;

	if ((n = parse_simple(p, k)) != NULL)
		return n;
	if (strcasecmp(k, "NOT") == 0 || strcasecmp(k, "OR") == 0)
		return parse_operator(p, k, depth);
	for (size_t i = 0; i < COUNT(date_keys); i++) {
		if (strcasecmp(k, date_keys[i].name) == 0) {
			int64_t day;
			if (arg_date(p, &day) < 0)
				return NULL;
			n = node_new(p, date_keys[i].type);
			n->day = day;
			if (date_keys[i].type >= N_SENTBEFORE)
				p->prog->needs_message = true;
			return n;
		}
	}
	if (strcasecmp(k, "LARGER") == 0 || strcasecmp(k, "SMALLER") == 0) {
		if (arg_number(p, &v) < 0)
			return NULL;
		n = node_new(p, strcasecmp(k, "LARGER") == 0 ? N_LARGER : N_SMALLER);
		n->num = v;
		return n;
	}
	if (strcasecmp(k, "KEYWORD") == 0 || strcasecmp(k, "UNKEYWORD") == 0)
		return parse_keyword(p, k[0] == 'U' || k[0] == 'u');
	if (strcasecmp(k, "MODSEQ") == 0)
		return parse_modseq(p);
	if (strcasecmp(k, "UID") == 0)
		return parse_set(p, next_arg(p), true);
	if ((n = parse_string_key(p, k)) != NULL || p->err != NULL)
		return n;
	if ((k[0] >= '0' && k[0] <= '9') || k[0] == '*' || k[0] == '$')
		return parse_set(p, a, false);
	p->err = "unknown search key";
	return NULL;
}

static struct imap_search_node *parse_key(struct parser *p, unsigned depth)
{
	const struct imap_arg *a = next_arg(p);

	if (depth > IMAP_SEARCH_DEPTH_MAX) {
		p->err = "search keys nested too deeply";
		return NULL;
	}
	if (p->keys >= IMAP_SEARCH_KEYS_MAX) {
		p->err = "too many search keys";
		return NULL;
	}
	if (a == NULL) {
		p->err = "missing search key";
		return NULL;
	}
	if (a->type == IMAP_ARG_LIST)
		return parse_group(p, a, depth);
	if (a->type != IMAP_ARG_ATOM) {
		p->err = "search key expected, not a string";
		return NULL;
	}
	return parse_atom_key(p, a, depth);
}

int imap_search_parse_criteria(const struct imap_arg *args, size_t count, struct imap_search_program *prog_r,
			       const char **err_r)
{
	struct parser p = { args, count, 0, 0, prog_r, NULL };
	struct imap_search_node *list = NULL, **tail = &list;

	if (count == 0) {
		*err_r = "missing search criteria";
		return -1;
	}
	while (p.pos < p.count) {
		struct imap_search_node *k = parse_key(&p, 0);
		if (k == NULL) {
			node_free(list);
			*err_r = p.err != NULL ? p.err : "invalid search key";
			return -1;
		}
		*tail = k;
		tail = &k->next;
	}
	prog_r->root = xcalloc(1, sizeof(*prog_r->root));
	prog_r->root->type = N_AND;
	prog_r->root->child = list;
	return 0;
}

static int parse_return(const struct imap_arg *list, struct imap_search_program *prog, const char **err_r)
{
	static const struct { const char *name; unsigned bit; } opts[] = {
		{ "MIN", IMAP_SEARCH_RETURN_MIN }, { "MAX", IMAP_SEARCH_RETURN_MAX },
		{ "ALL", IMAP_SEARCH_RETURN_ALL }, { "COUNT", IMAP_SEARCH_RETURN_COUNT },
		{ "SAVE", IMAP_SEARCH_RETURN_SAVE },
	};

	if (list == NULL || list->type != IMAP_ARG_LIST) {
		*err_r = "RETURN needs a list of options";
		return -1;
	}
	prog->esearch = true;
	for (size_t i = 0; i < list->count; i++) {
		size_t k;
		for (k = 0; k < COUNT(opts); k++)
			if (list->list[i].type == IMAP_ARG_ATOM && strcasecmp(list->list[i].str, opts[k].name) == 0)
				break;
		if (k == COUNT(opts)) {
			*err_r = "unknown RETURN option";
			return -1;
		}
		prog->return_opts |= opts[k].bit;
	}
	/* RFC 4731 3.1: RETURN () is RETURN (ALL). */
	if (prog->return_opts == 0)
		prog->return_opts = IMAP_SEARCH_RETURN_ALL;
	return 0;
}

int imap_search_parse(const struct imap_arg *args, size_t count, struct imap_search_program *prog_r,
		      const char **err_r)
{
	size_t i = 0;

	memset(prog_r, 0, sizeof(*prog_r));
	if (count >= 1 && args[0].type == IMAP_ARG_ATOM && strcasecmp(args[0].str, "RETURN") == 0) {
		if (parse_return(count >= 2 ? &args[1] : NULL, prog_r, err_r) < 0)
			return -1;
		i = 2;
	}
	if (i < count && args[i].type == IMAP_ARG_ATOM && strcasecmp(args[i].str, "CHARSET") == 0) {
		const struct imap_arg *cs = i + 1 < count ? &args[i + 1] : NULL;
		if (cs == NULL || (cs->type != IMAP_ARG_ATOM && cs->type != IMAP_ARG_STRING)) {
			*err_r = "CHARSET needs a charset name";
			return -1;
		}
		if (strcasecmp(cs->str, "UTF-8") != 0 && strcasecmp(cs->str, "US-ASCII") != 0) {
			prog_r->badcharset = true;
			*err_r = "only UTF-8 and US-ASCII are supported";
			return -1;
		}
		i += 2;
	}
	/* No arguments at all: args may be NULL, and NULL + 0 is undefined. */
	return imap_search_parse_criteria(i < count ? args + i : NULL, count - i, prog_r, err_r);
}

void imap_search_free(struct imap_search_program *prog)
{
	node_free(prog->root);
	prog->root = NULL;
}

/* ---- evaluation ------------------------------------------------------------------------------ */

struct eval {
	const struct imap_search_msg *msg;
	int loaded;             /* 0 not yet, 1 loaded, -1 failed */
	const struct mime_message *mime;
	struct slice message;
	struct buf body_text;   /* folded, lazily */
	struct buf all_text;
	bool have_body, have_all;
	int64_t sent_day;
	bool have_sent;
};

static int ev_load(struct eval *e)
{
	if (e->loaded == 0) {
		const struct imap_search_msg *m = e->msg;
		e->loaded = m->load != NULL && m->load(m->load_arg, &e->mime, &e->message) == 0 ? 1 : -1;
	}
	return e->loaded;
}

static struct slice root_header(const struct eval *e)
{
	const struct mime_part *r = e->mime->root;

	if (r == NULL || r->header_offset + r->header_size > e->message.len)
		return slice_make("", 0);
	return slice_make(e->message.p + r->header_offset, r->header_size);
}

static bool name_matches(struct slice line, const char *name, size_t *value_off_r)
{
	size_t n = strlen(name), i = n;

	if (line.len < n || strncasecmp(line.p, name, n) != 0)
		return false;
	while (i < line.len && (line.p[i] == ' ' || line.p[i] == '\t'))
		i++;
	if (i >= line.len || line.p[i] != ':')
		return false;
	*value_off_r = i + 1;
	return true;
}

/* Length of the header field (with its folded continuation lines) starting at p. */
static size_t field_len(struct slice h, size_t p)
{
	size_t i = p;

	for (;;) {
		const char *nl = memchr(h.p + i, '\n', h.len - i);
		if (nl == NULL)
			return h.len - p;
		i = (size_t)(nl - h.p) + 1;
		if (i >= h.len || (h.p[i] != ' ' && h.p[i] != '\t'))
			return i - p;
	}
}

/* Matches every field called name in the header block (RFC 3501 HEADER: substring of the value). */
static bool header_match(struct slice hdr, const char *name, struct slice needle)
{
	for (size_t p = 0; p < hdr.len;) {
		size_t len = field_len(hdr, p), voff;
		struct slice line = slice_make(hdr.p + p, len);
		if (name_matches(line, name, &voff)) {
			struct buf raw, dec;
			bool hit;
			buf_init(&raw, 0);
			buf_init(&dec, 0);
			for (size_t i = voff; i < len; i++) /* unfold (RFC 5322 2.2.3) */
				if (line.p[i] != '\r' && line.p[i] != '\n')
					buf_append(&raw, line.p + i, 1);
			mime_decode_words(slice_make(raw.data ? raw.data : "", raw.len), &dec);
			hit = folded_contains(slice_make(dec.data ? dec.data : "", dec.len), needle);
			buf_free(&raw);
			buf_free(&dec);
			if (hit)
				return true;
		}
		p += len;
	}
	return false;
}

static bool header_present(struct slice hdr, const char *name)
{
	for (size_t p = 0; p < hdr.len;) {
		size_t len = field_len(hdr, p), voff;
		if (name_matches(slice_make(hdr.p + p, len), name, &voff))
			return true;
		p += len;
	}
	return false;
}

static const struct buf *ev_text(struct eval *e, bool with_headers)
{
	struct buf *b = with_headers ? &e->all_text : &e->body_text;
	bool *have = with_headers ? &e->have_all : &e->have_body;

	if (!*have) {
		struct buf raw;
		buf_init(&raw, 0);
		if (with_headers) /* TEXT: the header lines with names, decoded, then the bodies */
			mime_decode_words(root_header(e), &raw);
		mime_search_text(e->mime, e->message, false, true, &raw);
		imap_search_fold(slice_make(raw.data ? raw.data : "", raw.len), b);
		buf_free(&raw);
		*have = true;
	}
	return b;
}

static int64_t ev_sent_day(struct eval *e)
{
	if (!e->have_sent) {
		int64_t t;
		int off;
		e->sent_day = day_of(e->msg->mail->internal_date);
		/* RFC 3501 SENT*: the Date: header's date, disregarding time and zone. */
		if (e->mime->envelope.date != NULL && imap_rfc5322_date(e->mime->envelope.date, &t, &off) == 0)
			e->sent_day = day_of(t + off);
		e->have_sent = true;
	}
	return e->sent_day;
}

static bool has_keyword(const char *list, const char *kw, size_t len)
{
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, " ");
		if (n == len && strncasecmp(p, kw, len) == 0)
			return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

static bool uid_saved(const struct imap_search_msg *m)
{
	size_t lo = 0, hi = m->saved_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->saved_uids[mid] == m->mail->uid)
			return true;
		if (m->saved_uids[mid] < m->mail->uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int eval_node(struct eval *e, const struct imap_search_node *n);

static int eval_message_key(struct eval *e, const struct imap_search_node *n)
{
	struct slice needle = slice_make(n->value != NULL ? n->value : "", n->value_len);

	if (ev_load(e) < 0)
		return -1;
	switch (n->type) {
	case N_HEADER:
		if (n->value_len == 0)
			return header_present(root_header(e), n->name);
		return header_match(root_header(e), n->name, needle);
	case N_BODY:
	case N_TEXT: {
		const struct buf *t = ev_text(e, n->type == N_TEXT);
		return needle.len == 0 || (t->len >= needle.len && memmem(t->data, t->len, needle.p, needle.len) != NULL);
	}
	case N_SENTBEFORE:
		return ev_sent_day(e) < n->day;
	case N_SENTON:
		return ev_sent_day(e) == n->day;
	case N_SENTSINCE:
		return ev_sent_day(e) >= n->day;
	default:
		break;
	}
	panic("imap_search: node type %d is not a message key", (int)n->type);
}

static int eval_children(struct eval *e, const struct imap_search_node *n, bool any)
{
	int seen_error = 0;

	for (const struct imap_search_node *c = n->child; c != NULL; c = c->next) {
		int r = eval_node(e, c);
		if (r < 0)
			seen_error = -1;
		else if (r == (any ? 1 : 0))
			return r;
	}
	return seen_error < 0 ? -1 : (any ? 0 : 1);
}

static int eval_node(struct eval *e, const struct imap_search_node *n)
{
	const struct imap_search_msg *m = e->msg;
	const struct store_mail *mail = m->mail;

	switch (n->type) {
	case N_ALL: return 1;
	case N_AND: return eval_children(e, n, false);
	case N_OR: return eval_children(e, n, true);
	case N_NOT: {
		int r = eval_node(e, n->child);
		return r < 0 ? r : !r;
	}
	case N_SEQSET: return imap_seqset_contains(&n->set, m->seq, m->max_seq);
	case N_UIDSET: return imap_seqset_contains(&n->set, mail->uid, m->max_uid);
	case N_SAVED: return m->saved_uids != NULL && uid_saved(m);
	case N_FLAG: return (mail->flags & n->flag) != 0;
	case N_UNFLAG: return (mail->flags & n->flag) == 0;
	case N_KEYWORD: return has_keyword(mail->keywords, n->value, n->value_len);
	case N_UNKEYWORD: return !has_keyword(mail->keywords, n->value, n->value_len);
	case N_RECENT: return m->recent;
	case N_LARGER: return mail->size > n->num;
	case N_SMALLER: return mail->size < n->num;
	case N_BEFORE: return day_of(mail->internal_date) < n->day;
	case N_ON: return day_of(mail->internal_date) == n->day;
	case N_SINCE: return day_of(mail->internal_date) >= n->day;
	case N_MODSEQ: return mail->modseq >= n->num;
	default: return eval_message_key(e, n);
	}
}

int imap_search_eval(const struct imap_search_program *prog, const struct imap_search_msg *msg)
{
	struct eval e;
	int r;

	memset(&e, 0, sizeof(e));
	e.msg = msg;
	buf_init(&e.body_text, 0);
	buf_init(&e.all_text, 0);
	r = eval_node(&e, prog->root);
	buf_free(&e.body_text);
	buf_free(&e.all_text);
	return r;
}

/* ---- full-text narrowing ------------------------------------------------------------------------- */

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * Only BODY strings: the index holds decoded header values and body text,
 * but TEXT also matches header field names, which the index lacks.
 */
static size_t collect_words(const struct imap_search_node *n, struct buf *out)
{
	size_t count = 0;

	for (; n != NULL; n = n->next) {
		if (n->type == N_AND) {
			count += collect_words(n->child, out);
		} else if (n->type == N_BODY && utf8_chars(n->value, n->value_len) >= 3 &&
			   memchr(n->value, '\0', n->value_len) == NULL) {
			buf_append(out, n->value, n->value_len + 1);
			count++;
		}
	}
	return count;
}

size_t imap_search_fts_words(const struct imap_search_program *prog, struct buf *out)
{
	return prog->root != NULL ? collect_words(prog->root, out) : 0;
}

/* ---- running on a store thread ------------------------------------------------------------------ */

struct uidset {
	uint32_t *uids;
	size_t count, cap;
};

static void uidset_add(uint32_t uid, void *arg)
{
	struct uidset *u = arg;

	if (u->count == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 256;
		u->uids = xrealloc(u->uids, u->cap * sizeof(*u->uids));
	}
	u->uids[u->count++] = uid;
}

static bool uidset_has(const struct uidset *u, uint32_t uid)
{
	size_t lo = 0, hi = u->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (u->uids[mid] == uid)
			return true;
		if (u->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct run_ctx {
	struct store *s;
	const struct imap_search_program *prog;
	const struct imap_search_scope *sc;
	const uint32_t *view_uids;
	size_t view_count;
	struct uidset *cand;        /* NULL: every message is a candidate */
	struct imap_search_result *res;
	size_t cap;
	const struct store_mail *cur;
	struct imap_msg_data data;
	const char *err;
	bool failed;
};

static int run_load(void *arg, const struct mime_message **mime_r, struct slice *message_r)
{
	struct run_ctx *c = arg;

	if (imap_msg_data_load(c->s, c->cur, true, true, &c->data, &c->err) < 0)
		return -1;
	*mime_r = c->data.mime;
	*message_r = slice_make(c->data.message.data ? c->data.message.data : "", c->data.message.len);
	return 0;
}

static uint32_t view_seq(const struct run_ctx *c, uint32_t uid)
{
	const uint32_t *p = bsearch(&uid, c->view_uids, c->view_count, sizeof(uint32_t), cmp_uid);

	return p != NULL ? (uint32_t)(p - c->view_uids) + 1 : 0;
}

static int run_one(const struct store_mail *m, void *arg)
{
	struct run_ctx *c = arg;
	uint32_t seq = view_seq(c, m->uid);
	struct imap_search_msg msg = {
		.seq = seq, .mail = m, .max_seq = (uint32_t)c->view_count,
		.max_uid = c->view_count ? c->view_uids[c->view_count - 1] : 0, .load = run_load, .load_arg = c,
		.recent = imap_uid_ranges_contain(c->sc->recent, c->sc->recent_count, m->uid),
		.saved_uids = c->sc->saved, .saved_count = c->sc->saved_count,
	};
	int r;

	if (seq == 0 || (c->cand != NULL && !uidset_has(c->cand, m->uid)))
		return 0; /* not in this session's view yet, or ruled out by the index */
	c->cur = m;
	r = imap_search_eval(c->prog, &msg);
	imap_msg_data_free(&c->data);
	if (r < 0) {
		c->failed = true;
		return 1;
	}
	if (r == 1) {
		struct imap_search_result *res = c->res;
		if (res->count == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 256;
			res->hits = xrealloc(res->hits, c->cap * sizeof(*res->hits));
		}
		res->hits[res->count++] = (struct imap_search_hit){ m->uid, seq, m->size, m->modseq, m->internal_date,
								    m->body_id };
		if (m->modseq > res->highest_modseq)
			res->highest_modseq = m->modseq;
	}
	return 0;
}

/* Intersects the FTS candidates of every word (each a superset of the matches). */
static int fts_candidates(struct store *s, int64_t folder_id, const struct buf *words, size_t n,
			  struct uidset *cand, const char **errstr_r)
{
	const char *w = words->data;

	for (size_t i = 0; i < n; i++, w += strlen(w) + 1) {
		struct uidset u = { 0 };
		if (store_fts_candidates(s, folder_id, w, uidset_add, &u, errstr_r) < 0) {
			free(u.uids);
			return -1;
		}
		if (u.count > 1)
			qsort(u.uids, u.count, sizeof(uint32_t), cmp_uid);
		if (i == 0) {
			*cand = u;
			continue;
		}
		size_t k = 0;
		for (size_t j = 0; j < cand->count; j++)
			if (uidset_has(&u, cand->uids[j]))
				cand->uids[k++] = cand->uids[j];
		cand->count = k;
		free(u.uids);
	}
	return 0;
}

bool imap_uid_ranges_contain(const struct imap_uid_range *r, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (uid < r[mid].lo)
			hi = mid;
		else if (uid >= r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

void imap_search_scope_free(struct imap_search_scope *sc)
{
	free(sc->view_uids);
	free(sc->recent);
	free(sc->saved);
	memset(sc, 0, sizeof(*sc));
}

int imap_search_run(struct store *s, int64_t folder_id, const struct imap_search_program *prog,
		    const struct imap_search_scope *sc, struct imap_search_result *res_r, const char **errstr_r)
{
	const uint32_t *view_uids = sc->view_uids;
	size_t view_count = sc->view_count;
	struct run_ctx c = { .s = s, .prog = prog, .sc = sc, .view_uids = view_uids, .view_count = view_count,
			     .res = res_r };
	struct uidset cand = { 0 };
	struct buf words;
	size_t n;
	int rc = 0;

	memset(res_r, 0, sizeof(*res_r));
	imap_msg_data_init(&c.data);
	buf_init(&words, 0);
	n = imap_search_fts_words(prog, &words);
	if (n > 0) {
		if (fts_candidates(s, folder_id, &words, n, &cand, errstr_r) < 0)
			rc = -1;
		c.cand = &cand;
	}
	if (rc == 0 && view_count > 0 &&
	    store_mail_list(s, folder_id, view_uids[0], 0, run_one, &c, errstr_r) < 0)
		rc = -1;
	if (rc == 0 && c.failed) {
		*errstr_r = c.err != NULL ? c.err : "a message could not be read";
		rc = -1;
	}
	imap_msg_data_free(&c.data);
	buf_free(&words);
	free(cand.uids);
	if (rc < 0)
		imap_search_result_free(res_r);
	return rc;
}

void imap_search_saved(unsigned return_opts, const struct imap_search_result *res, uint32_t **uids_r,
		       size_t *count_r)
{
	const unsigned every = IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT;
	const unsigned ends = IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX;
	uint32_t *uids = xmalloc((res->count ? res->count : 1) * sizeof(*uids));
	size_t n = 0;

	if ((return_opts & every) || !(return_opts & ends)) {
		for (size_t i = 0; i < res->count; i++)
			uids[n++] = res->hits[i].uid;
	} else if (res->count > 0) {
		if (return_opts & IMAP_SEARCH_RETURN_MIN)
			uids[n++] = res->hits[0].uid;
		if ((return_opts & IMAP_SEARCH_RETURN_MAX) && (n == 0 || res->count > 1))
			uids[n++] = res->hits[res->count - 1].uid;
	}
	*uids_r = uids;
	*count_r = n;
}

void imap_search_result_free(struct imap_search_result *res)
{
	free(res->hits);
	memset(res, 0, sizeof(*res));
}

/* The searchable text of one body, for the full-text index. */
static int body_search_text(struct store *s, int64_t body_id, struct buf *text, void *arg)
{
	struct store_mail m = { .body_id = body_id };
	struct imap_msg_data d;
	const char **errstr_r = arg;
	int rc;

	imap_msg_data_init(&d);
	rc = imap_msg_data_load(s, &m, true, true, &d, errstr_r);
	if (rc == 0)
		mime_search_text(d.mime, slice_make(d.message.data ? d.message.data : "", d.message.len), true, true,
				 text);
	imap_msg_data_free(&d);
	return rc;
}

size_t imap_search_index_step(struct store *s, void *arg)
{
	struct imap_indexer *ix = arg;
	const char *err = NULL;
	size_t seen = 0;

	if (store_fts_index_pending(s, &ix->cursor, IMAP_INDEX_STEP, body_search_text, &err, &seen, &err) < 0) {
		log_warn("imap event=fts-index-failed error=\"%s\"", err ? err : "unknown");
		ix->cursor = 0;
		return 0; /* try again after the next write */
	}
	if (seen == 0) {
		ix->cursor = 0; /* all done; the next round starts from the beginning */
		return 0;
	}
	ix->indexed += seen;
	return seen;
}
