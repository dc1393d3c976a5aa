/*
 * mime_rfc2231: Content-Type / Content-Disposition parameter lists (RFC 2045
 * 5.1) with RFC 2231 continuations and extended values.
 *
 * Real mail is sloppy here: unquoted values holding tspecials ("boundary=
 * =_a/b?"), parameters without '=', stray text between them. We take what a
 * reader would take: a value runs to the next ';' or white space, and a
 * parameter without a value is dropped (as Dovecot does).
 * Continuations are sorted instead of searched so that a hostile header of
 * 256 KiB with thousands of "name*N" parts costs n log n, not n^2.
 */
#include "mime/mime_private.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

#define SECTION_MAX 999 /* "name*1000" and up are ignored: no real value has that many pieces */

struct raw_param {
	struct slice name; /* without the "*N" / "*" suffix */
	char *value;       /* unquoted */
	size_t value_len;
	int section;       /* -1: not a continuation */
	bool extended;     /* "*" suffix: charset'lang'%XX (first piece) or %XX */
	size_t index;      /* order of appearance */
};

/* Reads a quoted string or token value at p; the unquoted text goes to out. */
static const char *read_value(const char *p, const char *end, struct buf *out)
{
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (*p != '\r' && *p != '\n')
				(void)buf_append(out, p, 1);
		}
		return p < end ? p + 1 : p;
	}
	const char *s = p;
	while (p < end && *p != ';' && !mime_is_wsp(*p) && *p != '\r' && *p != '\n')
		p++;
	(void)buf_append(out, s, (size_t)(p - s));
	return p;
}

/* Splits "name*3*" into base name, section and extended flag. */
static void split_name(struct raw_param *rp, const char *s, size_t len)
{
	rp->section = -1;
	rp->extended = false;
	if (len > 1 && s[len - 1] == '*') {
		rp->extended = true;
		len--;
	}
	const char *star = memchr(s, '*', len);
	if (star != NULL && star + 1 < s + len) {
		int n = 0;
		const char *d = star + 1;
		while (d < s + len && *d >= '0' && *d <= '9' && n <= SECTION_MAX)
			n = n * 10 + (*d++ - '0');
		if (d == s + len && n <= SECTION_MAX && !(d - star > 2 && star[1] == '0')) {
			rp->section = n;
			len = (size_t)(star - s);
		}
	}
	rp->name = slice_make(s, len);
}

struct raw_list {
	struct raw_param *v;
	size_t n, cap;
};

static void raw_add(struct raw_list *l, const struct raw_param *rp)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = *rp;
}

static const char *read_one(struct mime_arena *a, const char *p, const char *end, struct raw_list *l,
		struct buf *tmp)
{
	struct raw_param rp;
	const char *s;

	p = mime_skip_cfws(p, end);
	s = p;
	while (p < end && *p != '=' && *p != ';' && !mime_is_wsp(*p) && *p != '\r' && *p != '\n' && *p != '(')
		p++;
	if (p == s)
		return p < end && *p != ';' ? p + 1 : p;
	split_name(&rp, s, (size_t)(p - s));
	p = mime_skip_cfws(p, end);
	if (p >= end || *p != '=')
		return p; /* a parameter without a value */
	p = mime_skip_cfws(p + 1, end);
	buf_reset(tmp);
	p = read_value(p, end, tmp);
	rp.value_len = tmp->len;
	rp.value = mime_arena_strndup(a, tmp->data != NULL ? tmp->data : "", tmp->len);
	rp.index = l->n;
	raw_add(l, &rp);
	return p;
}

static int name_cmp(struct slice x, struct slice y)
{
	size_t n = x.len < y.len ? x.len : y.len;
	int c = strncasecmp(x.p, y.p, n);

	return c != 0 ? c : (x.len > y.len) - (x.len < y.len);
}

/* Groups a name's continuations together in section order; plain ones (-1) first. */
static int raw_cmp(const void *x, const void *y)
{
	const struct raw_param *a = x, *b = y;
	int c = name_cmp(a->name, b->name);

	if (c != 0)
		return c;
	if ((a->section < 0) != (b->section < 0))
		return a->section < 0 ? -1 : 1;
	if (a->section != b->section)
		return a->section < b->section ? -1 : 1;
	if (a->section < 0 && a->extended != b->extended)
		return a->extended ? 1 : -1;
	return (a->index > b->index) - (a->index < b->index);
}

struct joined {
	struct mime_param *param;
	size_t index;
};

static int joined_cmp(const void *x, const void *y)
{
	const struct joined *a = x, *b = y;

	return (a->index > b->index) - (a->index < b->index);
}

/* A non-extended piece after an extended one must not be %-decoded later. */
static void append_escaped(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%' || c >= 0x80 || c < 0x20) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			(void)buf_append(b, e, 3);
		} else {
			(void)buf_append(b, &s[i], 1);
		}
	}
}

/* Joins v[i..] pieces 0,1,2... of one name; returns how many raw entries it used. */
static size_t join_sections(struct mime_arena *a, const struct raw_param *v, size_t n, struct joined *out)
{
	struct buf b;
	size_t k = 0;
	bool extended = v[0].extended;
	struct mime_param *mp = mime_arena_alloc(a, sizeof(*mp));

	buf_init(&b, 0);
	for (int want = 0; k < n && name_cmp(v[k].name, v[0].name) == 0 && v[k].section >= 0; k++) {
		if (v[k].section != want)
			continue; /* a duplicate or a piece after a gap */
		want++;
		if (extended && !v[k].extended)
			append_escaped(&b, v[k].value, v[k].value_len);
		else
			(void)buf_append(&b, v[k].value, v[k].value_len);
	}
	if (v[0].section == 0) {
		char *name = mime_arena_strndup_lower(a, v[0].name.p, v[0].name.len + (extended ? 1 : 0));
		if (extended)
			name[v[0].name.len] = '*';
		mp->name = name;
		mp->value = mime_arena_strndup(a, b.data != NULL ? b.data : "", b.len);
		out->param = mp;
		out->index = v[0].index;
	}
	buf_free(&b);
	return k;
}

static void assemble(struct mime_arena *a, struct raw_list *l, struct joined *out, size_t *nout)
{
	size_t i = 0;

	while (i < l->n) {
		const struct raw_param *rp = &l->v[i];
		if (rp->section >= 0) {
			out[*nout].param = NULL;
			i += join_sections(a, rp, l->n - i, &out[*nout]);
			if (out[*nout].param != NULL)
				(*nout)++;
			continue;
		}
		struct mime_param *mp = mime_arena_alloc(a, sizeof(*mp));
		char *name = mime_arena_strndup_lower(a, rp->name.p, rp->name.len + (rp->extended ? 1 : 0));
		mp->name = name;
		mp->value = rp->value;
		out[*nout].param = mp;
		out[*nout].index = rp->index;
		(*nout)++;
		/* the first of duplicate plain parameters wins */
		for (i++; i < l->n && l->v[i].section < 0 && l->v[i].extended == rp->extended &&
				name_cmp(l->v[i].name, rp->name) == 0; i++)
			;
	}
}

struct mime_param *mime_params_parse(struct mime_arena *a, struct slice s)
{
	const char *p = s.p, *end = s.p + s.len;
	struct raw_list l = { NULL, 0, 0 };
	struct buf tmp;
	struct mime_param *head = NULL, **tail = &head;

	buf_init(&tmp, 0);
	while (p < end) {
		p = mime_skip_cfws(p, end);
		if (p < end && *p == ';')
			p++;
		else if (p < end)
			p = read_one(a, p, end, &l, &tmp);
	}
	buf_free(&tmp);
	if (l.n == 0)
		return NULL;
	/* "name" and "name*" are different parameters: sort on the name as written with its '*' */
	qsort(l.v, l.n, sizeof(*l.v), raw_cmp);
	struct joined *j = xcalloc(l.n, sizeof(*j));
	size_t nj = 0;
	assemble(a, &l, j, &nj);
	qsort(j, nj, sizeof(*j), joined_cmp);
	for (size_t i = 0; i < nj; i++) {
		*tail = j[i].param;
		tail = &j[i].param->next;
	}
	free(j);
	free(l.v);
	return head;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void mime_rfc2231_decode(struct slice value, struct buf *out)
{
	const char *q1 = memchr(value.p, '\'', value.len), *q2 = NULL;
	struct buf raw;

	if (q1 != NULL)
		q2 = memchr(q1 + 1, '\'', (size_t)(value.p + value.len - q1 - 1));
	if (q2 == NULL) {
		(void)buf_append(out, value.p, value.len);
		return;
	}
	buf_init(&raw, 0);
	for (const char *p = q2 + 1; p < value.p + value.len; p++) {
		if (*p == '%' && p + 2 < value.p + value.len && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			char c = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			(void)buf_append(&raw, &c, 1);
			p += 2;
		} else {
			(void)buf_append(&raw, p, 1);
		}
	}
	char *charset = xstrndup(value.p, (size_t)(q1 - value.p));
	if (mime_charset_to_utf8(charset[0] != '\0' ? charset : "us-ascii",
			slice_make(raw.data != NULL ? raw.data : "", raw.len), out) < 0)
		(void)buf_append(out, raw.data != NULL ? raw.data : "", raw.len);
	free(charset);
	buf_free(&raw);
}
