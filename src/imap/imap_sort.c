/*
 * imap_sort: SORT and THREAD (RFC 5256). See imap_sort.h.
 */
#include "imap/imap_sort.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_fetch.h"
#include "imap/imap_search.h"
#include "lib/xalloc.h"
#include "mime/mime.h"
#include "store/store_mail.h"

#define SORT_REFS_MAX 256 /* References kept per message (the last ones: the parent is the last) */

/* ---- base subject (RFC 5256 2.1) -------------------------------------------------------- */

static int ascii_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 32 : c;
}

/* i;ascii-casemap comparison (RFC 4790 9.2) of two NUL-terminated strings. */
static int casemap_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = ascii_upper((unsigned char)*a), cb = ascii_upper((unsigned char)*b);
		if (ca != cb || ca == 0)
			return ca - cb;
	}
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP: length of the match at p, or 0. */
static size_t match_blob(const char *s, size_t p, size_t end)
{
	size_t i = p;

	if (i >= end || s[i] != '[')
		return 0;
	for (i++; i < end && s[i] != ']'; i++)
		if (s[i] == '[')
			return 0;
	if (i >= end)
		return 0;
	for (i++; i < end && is_wsp(s[i]); i++)
		;
	return i - p;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static size_t match_refwd(const char *s, size_t p, size_t end)
{
	size_t i = p;

	if (end - i >= 2 && strncasecmp(s + i, "re", 2) == 0)
		i += 2;
	else if (end - i >= 3 && strncasecmp(s + i, "fwd", 3) == 0)
		i += 3;
	else if (end - i >= 2 && strncasecmp(s + i, "fw", 2) == 0)
		i += 2;
	else
		return 0;
	while (i < end && is_wsp(s[i]))
		i++;
	i += match_blob(s, i, end);
	if (i >= end || s[i] != ':')
		return 0;
	return i + 1 - p;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP */
static size_t match_leader(const char *s, size_t p, size_t end, bool *refwd_r)
{
	size_t i = p, n;

	*refwd_r = false;
	if (p < end && is_wsp(s[p]))
		return 1;
	while ((n = match_blob(s, i, end)) > 0)
		i += n;
	n = match_refwd(s, i, end);
	if (n == 0)
		return 0;
	*refwd_r = true;
	return i + n - p;
}

/* Step 1: tabs and line breaks become spaces; runs of spaces become one. */
static void normalise_space(struct slice in, struct buf *out)
{
	bool space = false;

	for (size_t i = 0; i < in.len; i++) {
		char c = in.p[i];
		if (c == '\t' || c == '\r' || c == '\n' || c == ' ') {
			space = true;
			continue;
		}
		if (space && out->len > 0)
			buf_append(out, " ", 1);
		space = false;
		buf_append(out, &c, 1);
	}
	if (space)
		buf_append(out, " ", 1);
}

/* Steps 3 to 5: leaders and blobs, repeated until nothing matches. */
static void strip_leaders(const char *s, size_t *start, size_t end, bool *reply)
{
	bool changed = true;

	while (changed) {
		size_t n;
		bool refwd;
		changed = false;
		while (*start < end && (n = match_leader(s, *start, end, &refwd)) > 0) {
			*start += n;
			*reply |= refwd;
			changed = true;
		}
		n = match_blob(s, *start, end);
		if (n > 0 && *start + n < end) {
			*start += n;
			changed = true;
		}
	}
}

void imap_base_subject(struct slice subject, struct buf *out, bool *reply_r)
{
	struct buf dec, norm;
	size_t start = 0, end;
	bool reply = false;

	buf_init(&dec, 0);
	buf_init(&norm, 0);
	mime_decode_words(subject, &dec);
	normalise_space(slice_make(dec.data ? dec.data : "", dec.len), &norm);
	const char *s = norm.data ? norm.data : "";
	end = norm.len;
	for (;;) {
		/* Step 2: trailers "(fwd)" and white space. */
		for (;;) {
			if (end > start && is_wsp(s[end - 1])) {
				end--;
			} else if (end - start >= 5 && strncasecmp(s + end - 5, "(fwd)", 5) == 0) {
				end -= 5;
				reply = true;
			} else {
				break;
			}
		}
		strip_leaders(s, &start, end, &reply);
		/* Step 6: a "[fwd: ...]" wrapper, then again from step 2. */
		if (end - start >= 6 && strncasecmp(s + start, "[fwd:", 5) == 0 && s[end - 1] == ']') {
			start += 5;
			end--;
			reply = true;
			continue;
		}
		break;
	}
	buf_append(out, s + start, end - start);
	if (reply_r != NULL)
		*reply_r = reply;
	buf_free(&dec);
	buf_free(&norm);
}

/* ---- RFC 5322 dates ---------------------------------------------------------------------- */

static const char *skip_cfws(const char *p)
{
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			break;
	}
	return p;
}

static const char *read_num(const char *p, int maxdigits, int *v_r, int *digits_r)
{
	int v = 0, n = 0;

	while (n < maxdigits && *p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	*v_r = v;
	*digits_r = n;
	return p;
}

static int parse_month(const char *p)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";

	for (int i = 0; i < 12; i++)
		if (strncasecmp(p, months + i * 3, 3) == 0)
			return i;
	return -1;
}

/* RFC 5322 4.3 obsolete zones; unknown ones are -0000 (UTC). */
static int parse_zone(const char *p, int *off_r)
{
	static const struct { const char *name; int hours; } zones[] = {
		{ "UT", 0 }, { "GMT", 0 }, { "Z", 0 }, { "EST", -5 }, { "EDT", -4 }, { "CST", -6 },
		{ "CDT", -5 }, { "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	};
	int v, n;

	*off_r = 0;
	if (*p == '+' || *p == '-') {
		read_num(p + 1, 4, &v, &n);
		if (n != 4 || v % 100 >= 60)
			return -1;
		*off_r = (v / 100 * 3600 + v % 100 * 60) * (*p == '-' ? -1 : 1);
		return 0;
	}
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		size_t l = strlen(zones[i].name);
		if (strncasecmp(p, zones[i].name, l) == 0) {
			*off_r = zones[i].hours * 3600;
			return 0;
		}
	}
	return 0;
}

static int parse_time_of_day(const char **pp, struct tm *tm)
{
	const char *p = *pp;
	int v, n;

	p = read_num(p, 2, &v, &n);
	if (n == 0 || *p != ':' || v > 23)
		return -1;
	tm->tm_hour = v;
	p = read_num(skip_cfws(p + 1), 2, &v, &n);
	if (n == 0 || v > 59)
		return -1;
	tm->tm_min = v;
	if (*p == ':') {
		p = read_num(p + 1, 2, &v, &n);
		if (n == 0 || v > 60)
			return -1;
		tm->tm_sec = v;
	}
	*pp = p;
	return 0;
}

int imap_rfc5322_date(const char *s, int64_t *time_r, int *tz_offset_r)
{
	struct tm tm;
	const char *p = skip_cfws(s);
	int v, n, off;

	memset(&tm, 0, sizeof(tm));
	if (*p >= 'A' && strchr(p, ',') != NULL) /* day-of-week "," */
		p = skip_cfws(strchr(p, ',') + 1);
	p = read_num(p, 2, &v, &n);
	if (n == 0 || v < 1 || v > 31)
		return -1;
	tm.tm_mday = v;
	p = skip_cfws(p);
	if ((tm.tm_mon = parse_month(p)) < 0)
		return -1;
	p = read_num(skip_cfws(p + 3), 4, &v, &n);
	if (n < 2)
		return -1;
	if (n == 2) /* RFC 5322 4.3 */
		v += v < 50 ? 2000 : 1900;
	else if (n == 3)
		v += 1900;
	tm.tm_year = v - 1900;
	p = skip_cfws(p);
	if (parse_time_of_day(&p, &tm) < 0)
		return -1;
	if (parse_zone(skip_cfws(p), &off) < 0)
		return -1;
	*time_r = (int64_t)timegm(&tm) - off;
	if (tz_offset_r != NULL)
		*tz_offset_r = off;
	return 0;
}

/* ---- per-message data --------------------------------------------------------------------- */

static const struct mime_address *first_address(const struct mime_address *a)
{
	for (; a != NULL; a = a->next)
		if (!a->group_start && !a->group_end && a->mailbox != NULL)
			return a;
	return NULL;
}

static char *addr_mailbox(const struct mime_address *list)
{
	const struct mime_address *a = first_address(list);

	return xstrdup(a != NULL ? a->mailbox : "");
}

/* RFC 5957 2: the decoded display name, else the addr-spec. */
static char *addr_display(const struct mime_address *list)
{
	const struct mime_address *a = first_address(list);
	struct buf b;

	if (a == NULL)
		return xstrdup("");
	buf_init(&b, 0);
	if (a->name != NULL && a->name[0] != '\0')
		mime_decode_words(slice_cstr(a->name), &b);
	if (b.len == 0)
		buf_appendf(&b, "%s@%s", a->mailbox, a->host != NULL ? a->host : "");
	char *r = xstrdup(b.data);
	buf_free(&b);
	return r;
}

/* Appends every <msg-id> of value (without brackets) to refs, keeping the last SORT_REFS_MAX. */
static void parse_msgids(const char *v, char ***refs, size_t *count)
{
	while ((v = strchr(v, '<')) != NULL) {
		const char *e = strchr(v + 1, '>');
		if (e == NULL)
			break;
		if (e > v + 1 && memchr(v + 1, '<', (size_t)(e - v - 1)) == NULL) {
			if (*count == SORT_REFS_MAX) {
				free((*refs)[0]);
				memmove(*refs, *refs + 1, (SORT_REFS_MAX - 1) * sizeof(char *));
				(*count)--;
			}
			*refs = xrealloc(*refs, (*count + 1) * sizeof(char *));
			(*refs)[(*count)++] = xstrndup(v + 1, (size_t)(e - v - 1));
		}
		v = e + 1;
	}
}

static void fill_references(struct imap_sort_msg *msg, const struct mime_message *m, struct slice message)
{
	struct buf b;
	const struct mime_part *root = m->root;

	buf_init(&b, 0);
	if (root != NULL && root->header_offset + root->header_size <= message.len) {
		struct slice hdr = slice_make(message.p + root->header_offset, root->header_size);
		if (mime_header_value(hdr, "References", &b) == 1)
			parse_msgids(b.data, &msg->references, &msg->ref_count);
	}
	/* RFC 5256 REFERENCES 1.A: In-Reply-To when there is no valid References. */
	if (msg->ref_count == 0 && m->envelope.in_reply_to != NULL) {
		char **irt = NULL;
		size_t n = 0;
		parse_msgids(m->envelope.in_reply_to, &irt, &n);
		if (n > 0) {
			msg->references = xmalloc(sizeof(char *));
			msg->references[0] = irt[0];
			msg->ref_count = 1;
			for (size_t i = 1; i < n; i++)
				free(irt[i]);
		}
		free(irt);
	}
	buf_free(&b);
}

void imap_sort_msg_fill(struct imap_sort_msg *msg, const struct mime_message *m, struct slice message)
{
	const struct mime_envelope *env = &m->envelope;
	struct buf b;
	char **ids = NULL;
	size_t n = 0;

	buf_init(&b, 0);
	imap_base_subject(slice_cstr(env->subject != NULL ? env->subject : ""), &b, &msg->reply);
	msg->subject = xstrdup(b.data != NULL ? b.data : "");
	buf_free(&b);
	msg->from = addr_mailbox(env->from);
	msg->to = addr_mailbox(env->to);
	msg->cc = addr_mailbox(env->cc);
	msg->display_from = addr_display(env->from);
	msg->display_to = addr_display(env->to);
	msg->date = msg->arrival;
	if (env->date != NULL) {
		int64_t t;
		if (imap_rfc5322_date(env->date, &t, NULL) == 0)
			msg->date = t;
	}
	if (env->message_id != NULL)
		parse_msgids(env->message_id, &ids, &n);
	msg->message_id = n > 0 ? ids[0] : NULL;
	for (size_t i = 1; i < n; i++)
		free(ids[i]);
	free(ids);
	fill_references(msg, m, message);
}

void imap_sort_msg_clear(struct imap_sort_msg *msg)
{
	free(msg->subject);
	free(msg->from);
	free(msg->to);
	free(msg->cc);
	free(msg->display_from);
	free(msg->display_to);
	free(msg->message_id);
	for (size_t i = 0; i < msg->ref_count; i++)
		free(msg->references[i]);
	free(msg->references);
	msg->subject = msg->from = msg->to = msg->cc = msg->display_from = msg->display_to = NULL;
	msg->message_id = NULL;
	msg->references = NULL;
	msg->ref_count = 0;
}

/* ---- SORT ---------------------------------------------------------------------------------- */

int imap_sort_parse(const struct imap_arg *list, struct imap_sort_program *prog_r, const char **err_r)
{
	static const struct { const char *name; enum imap_sort_key key; } keys[] = {
		{ "ARRIVAL", IMAP_SORT_ARRIVAL }, { "CC", IMAP_SORT_CC }, { "DATE", IMAP_SORT_DATE },
		{ "FROM", IMAP_SORT_FROM }, { "SIZE", IMAP_SORT_SIZE }, { "SUBJECT", IMAP_SORT_SUBJECT },
		{ "TO", IMAP_SORT_TO }, { "DISPLAYFROM", IMAP_SORT_DISPLAYFROM }, { "DISPLAYTO", IMAP_SORT_DISPLAYTO },
	};
	bool reverse = false;

	prog_r->count = 0;
	if (list == NULL || list->type != IMAP_ARG_LIST || list->count == 0) {
		*err_r = "sort criteria must be a non-empty parenthesised list";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		size_t k;
		if (a->type != IMAP_ARG_ATOM) {
			*err_r = "sort criteria must be atoms";
			return -1;
		}
		if (strcasecmp(a->str, "REVERSE") == 0) {
			reverse = true;
			continue;
		}
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (strcasecmp(a->str, keys[k].name) == 0)
				break;
		if (k == sizeof(keys) / sizeof(keys[0])) {
			*err_r = "unknown sort criterion";
			return -1;
		}
		if (prog_r->count == IMAP_SORT_CRITERIA_MAX) {
			*err_r = "too many sort criteria";
			return -1;
		}
		prog_r->crit[prog_r->count].key = keys[k].key;
		prog_r->crit[prog_r->count++].reverse = reverse;
		reverse = false;
	}
	if (reverse || prog_r->count == 0) {
		*err_r = "REVERSE must be followed by a sort criterion";
		return -1;
	}
	return 0;
}

static int cmp_num(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_key(enum imap_sort_key key, const struct imap_sort_msg *a, const struct imap_sort_msg *b)
{
	switch (key) {
	case IMAP_SORT_ARRIVAL:
		return cmp_num(a->arrival, b->arrival);
	case IMAP_SORT_DATE:
		return cmp_num(a->date, b->date);
	case IMAP_SORT_SIZE:
		return cmp_u64(a->size, b->size);
	case IMAP_SORT_CC:
		return casemap_cmp(a->cc, b->cc);
	case IMAP_SORT_FROM:
		return casemap_cmp(a->from, b->from);
	case IMAP_SORT_TO:
		return casemap_cmp(a->to, b->to);
	case IMAP_SORT_SUBJECT:
		return casemap_cmp(a->subject, b->subject);
	case IMAP_SORT_DISPLAYFROM:
		return casemap_cmp(a->display_from, b->display_from);
	case IMAP_SORT_DISPLAYTO:
		return casemap_cmp(a->display_to, b->display_to);
	}
	return 0;
}

struct sort_ctx {
	const struct imap_sort_program *prog;
	const struct imap_sort_msg *msgs;
};

static int sort_cmp(const void *x, const void *y, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct imap_sort_msg *a = &c->msgs[*(const size_t *)x], *b = &c->msgs[*(const size_t *)y];

	for (size_t i = 0; i < c->prog->count; i++) {
		int r = cmp_key(c->prog->crit[i].key, a, b);
		if (r != 0)
			return c->prog->crit[i].reverse ? -r : r;
	}
	return cmp_u64(a->seq, b->seq);
}

void imap_sort_run(const struct imap_sort_program *prog, const struct imap_sort_msg *msgs, size_t *order,
		   size_t count)
{
	struct sort_ctx c = { prog, msgs };

	qsort_r(order, count, sizeof(*order), sort_cmp, &c);
}

/* ---- THREAD ---------------------------------------------------------------------------------- */

int imap_thread_parse(const char *name, enum imap_thread_algo *algo_r)
{
	if (strcasecmp(name, "ORDEREDSUBJECT") == 0)
		*algo_r = IMAP_THREAD_ORDEREDSUBJECT;
	else if (strcasecmp(name, "REFERENCES") == 0)
		*algo_r = IMAP_THREAD_REFERENCES;
	else
		return -1;
	return 0;
}

#define NONE SIZE_MAX

/* A thread container (jwz's): a message, or a dummy (msg == NONE) standing for a missing one. */
struct tnode {
	size_t msg;
	size_t parent, child, next; /* first child, next sibling */
	const char *id;
};

struct thread {
	const struct imap_sort_msg *msgs;
	struct tnode *n;
	size_t count, cap;
	size_t *table; /* message-id hash: node indexes, NONE when empty */
	size_t table_size;
	bool use_uid;
};

static size_t node_new(struct thread *t, size_t msg, const char *id)
{
	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->n = xrealloc(t->n, t->cap * sizeof(*t->n));
	}
	t->n[t->count] = (struct tnode){ msg, NONE, NONE, NONE, id };
	return t->count++;
}

static size_t hash_str(const char *s)
{
	size_t h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/* The container of a message-id, created (as a dummy) if new. */
static size_t node_for_id(struct thread *t, const char *id)
{
	size_t i = hash_str(id) & (t->table_size - 1);

	while (t->table[i] != NONE) {
		if (strcmp(t->n[t->table[i]].id, id) == 0)
			return t->table[i];
		i = (i + 1) & (t->table_size - 1);
	}
	t->table[i] = node_new(t, NONE, id);
	return t->table[i];
}

static bool is_ancestor(const struct thread *t, size_t anc, size_t n)
{
	for (; n != NONE; n = t->n[n].parent)
		if (n == anc)
			return true;
	return false;
}

static void unlink_node(struct thread *t, size_t c)
{
	size_t p = t->n[c].parent, *pp;

	if (p == NONE)
		return;
	for (pp = &t->n[p].child; *pp != c; pp = &t->n[*pp].next)
		;
	*pp = t->n[c].next;
	t->n[c].next = NONE;
	t->n[c].parent = NONE;
}

static void link_node(struct thread *t, size_t p, size_t c)
{
	size_t *pp;

	for (pp = &t->n[p].child; *pp != NONE; pp = &t->n[*pp].next)
		;
	*pp = c;
	t->n[c].parent = p;
	t->n[c].next = NONE;
}

/* RFC 5256 REFERENCES step 1: containers and parent/child links. */
static void thread_link(struct thread *t, size_t mi)
{
	const struct imap_sort_msg *m = &t->msgs[mi];
	size_t self = NONE, prev = NONE;

	if (m->message_id != NULL) {
		self = node_for_id(t, m->message_id);
		if (t->n[self].msg != NONE) /* duplicate Message-ID: a unique one */
			self = NONE;
	}
	if (self == NONE)
		self = node_new(t, mi, NULL);
	t->n[self].msg = mi;
	for (size_t r = 0; r < m->ref_count; r++) {
		size_t c = node_for_id(t, m->references[r]);
		if (prev != NONE && c != prev && t->n[c].parent == NONE && !is_ancestor(t, c, prev))
			link_node(t, prev, c);
		prev = c;
	}
	/* 1.B: the last reference is the parent; an earlier link is replaced. */
	if (prev != NONE && prev != self && !is_ancestor(t, self, prev)) {
		unlink_node(t, self);
		link_node(t, prev, self);
	}
}

/* Date and sequence of a node, a dummy taking its first child's (children already sorted). */
static const struct imap_sort_msg *node_msg(const struct thread *t, size_t n)
{
	while (t->n[n].msg == NONE && t->n[n].child != NONE)
		n = t->n[n].child;
	return t->n[n].msg == NONE ? NULL : &t->msgs[t->n[n].msg];
}

static int node_date_cmp(const struct thread *t, size_t a, size_t b)
{
	const struct imap_sort_msg *ma = node_msg(t, a), *mb = node_msg(t, b);

	if (ma == NULL || mb == NULL)
		return (ma == NULL) - (mb == NULL);
	int r = cmp_num(ma->date, mb->date);
	return r != 0 ? r : cmp_u64(ma->seq, mb->seq);
}

static int sibling_cmp(const void *x, const void *y, void *arg)
{
	return node_date_cmp(arg, *(const size_t *)x, *(const size_t *)y);
}

/* Sorts the sibling list starting at *first by sent date (insertion via an array). */
static void sort_siblings(struct thread *t, size_t *first)
{
	size_t n = 0, c, *arr;

	for (c = *first; c != NONE; c = t->n[c].next)
		n++;
	if (n < 2)
		return;
	arr = xmalloc(n * sizeof(*arr));
	n = 0;
	for (c = *first; c != NONE; c = t->n[c].next)
		arr[n++] = c;
	qsort_r(arr, n, sizeof(*arr), sibling_cmp, t);
	*first = arr[0];
	for (size_t i = 0; i + 1 < n; i++)
		t->n[arr[i]].next = arr[i + 1];
	t->n[arr[n - 1]].next = NONE;
	free(arr);
}

/* Step 6 (and 4): children before parents, so a dummy's first child is its earliest. */
static void sort_tree(struct thread *t, size_t *first)
{
	for (size_t c = *first; c != NONE; c = t->n[c].next)
		sort_tree(t, &t->n[c].child);
	sort_siblings(t, first);
}

/*
 * Step 3: prunes the sibling list at *first. Dummies without children go;
 * dummies with children are replaced by them, except at the top level when
 * there is more than one child.
 */
static void prune(struct thread *t, size_t *first, size_t parent, bool top)
{
	size_t *pp = first;

	while (*pp != NONE) {
		size_t c = *pp;
		prune(t, &t->n[c].child, c, false);
		if (t->n[c].msg != NONE) {
			pp = &t->n[c].next;
			continue;
		}
		size_t kids = t->n[c].child, nkids = 0, last = NONE;
		for (size_t k = kids; k != NONE; k = t->n[k].next, nkids++)
			last = k;
		if (nkids == 0) {
			*pp = t->n[c].next;
		} else if (!top || nkids == 1) {
			for (size_t k = kids; k != NONE; k = t->n[k].next)
				t->n[k].parent = parent;
			t->n[last].next = t->n[c].next;
			*pp = kids;
			pp = &t->n[last].next;
		} else {
			pp = &t->n[c].next;
		}
	}
}

static const char *node_subject(const struct thread *t, size_t n, bool *reply_r)
{
	const struct imap_sort_msg *m = t->n[n].msg != NONE ? &t->msgs[t->n[n].msg] : node_msg(t, n);

	*reply_r = m != NULL && m->reply;
	return m != NULL ? m->subject : "";
}

static size_t subj_find(struct thread *t, size_t *tab, size_t size, const char *s)
{
	size_t h = 5381;
	bool reply;

	for (const char *p = s; *p != '\0'; p++)
		h = h * 33 + (size_t)ascii_upper((unsigned char)*p);
	for (h &= size - 1; tab[h] != NONE; h = (h + 1) & (size - 1))
		if (casemap_cmp(node_subject(t, tab[h], &reply), s) == 0)
			return h;
	return h;
}

/* Step 5 C: the table keeps a dummy over a message, and a non-reply over a reply. */
static void subject_table_fill(struct thread *t, size_t root_first, size_t *tab, size_t size)
{
	for (size_t c = root_first; c != NONE; c = t->n[c].next) {
		bool reply, old_reply;
		const char *s = node_subject(t, c, &reply);
		if (s[0] == '\0')
			continue;
		size_t h = subj_find(t, tab, size, s);
		if (tab[h] == NONE) {
			tab[h] = c;
			continue;
		}
		size_t old = tab[h];
		node_subject(t, old, &old_reply);
		if ((t->n[c].msg == NONE && t->n[old].msg != NONE) ||
		    (old_reply && !reply && t->n[old].msg != NONE && t->n[c].msg != NONE))
			tab[h] = c;
	}
}

/* Removes c from the root list whose head is *root_first. */
static void root_remove(struct thread *t, size_t *root_first, size_t c)
{
	size_t *pp;

	for (pp = root_first; *pp != c; pp = &t->n[*pp].next)
		;
	*pp = t->n[c].next;
	t->n[c].next = NONE;
	t->n[c].parent = NONE;
}

/* Step 5 D for one top-level node c whose subject table entry is *slot. */
static void subject_merge(struct thread *t, size_t *root_first, size_t c, size_t *slot)
{
	size_t old = *slot;
	bool reply, old_reply;

	node_subject(t, c, &reply);
	node_subject(t, old, &old_reply);
	root_remove(t, root_first, c);
	if (t->n[c].msg == NONE && t->n[old].msg == NONE) {
		size_t k;
		while ((k = t->n[c].child) != NONE) {
			unlink_node(t, k);
			link_node(t, old, k);
		}
	} else if (t->n[old].msg == NONE) {
		link_node(t, old, c);
	} else if (t->n[c].msg == NONE) {
		/* c is a dummy holding messages of this subject: it takes old's place. */
		size_t *pp;
		for (pp = root_first; *pp != old; pp = &t->n[*pp].next)
			;
		t->n[c].next = t->n[old].next;
		*pp = c;
		t->n[old].next = NONE;
		link_node(t, c, old);
		*slot = c;
	} else if (reply && !old_reply) {
		link_node(t, old, c);
	} else {
		size_t d = node_new(t, NONE, NULL), *pp;
		for (pp = root_first; *pp != old; pp = &t->n[*pp].next)
			;
		t->n[d].next = t->n[old].next;
		*pp = d;
		t->n[old].next = NONE;
		link_node(t, d, old);
		link_node(t, d, c);
		*slot = d;
	}
}

/* Step 5: messages at the top level with the same base subject are gathered. */
static void group_subjects(struct thread *t, size_t *root_first)
{
	size_t n = 0, size = 16, *tab;

	for (size_t c = *root_first; c != NONE; c = t->n[c].next)
		n++;
	while (size < n * 2)
		size *= 2;
	tab = xmalloc(size * sizeof(*tab));
	for (size_t i = 0; i < size; i++)
		tab[i] = NONE;
	subject_table_fill(t, *root_first, tab, size);
	for (size_t c = *root_first, next; c != NONE; c = next) {
		bool reply;
		next = t->n[c].next;
		const char *s = node_subject(t, c, &reply);
		if (s[0] == '\0')
			continue;
		size_t h = subj_find(t, tab, size, s);
		if (tab[h] == NONE || tab[h] == c)
			continue;
		subject_merge(t, root_first, c, &tab[h]);
	}
	free(tab);
}

/* Renders one thread member and its descendants (RFC 5256 thread-members / thread-nested). */
static void render(const struct thread *t, size_t n, struct buf *out)
{
	bool first = true;

	for (;;) {
		if (t->n[n].msg != NONE) {
			const struct imap_sort_msg *m = &t->msgs[t->n[n].msg];
			buf_appendf(out, "%s%u", first ? "" : " ", t->use_uid ? m->uid : m->seq);
			first = false;
		}
		size_t k = t->n[n].child;
		if (k == NONE)
			return;
		if (t->n[k].next == NONE) { /* one child: the chain goes on at this level */
			n = k;
			continue;
		}
		if (!first)
			buf_append(out, " ", 1);
		for (; k != NONE; k = t->n[k].next) {
			buf_append(out, "(", 1);
			render(t, k, out);
			buf_append(out, ")", 1);
		}
		return;
	}
}

static void thread_references(struct thread *t, size_t count, size_t *root_first)
{
	size_t refs = 0, *pp;

	for (size_t i = 0; i < count; i++)
		refs += t->msgs[i].ref_count + 1;
	t->table_size = 16;
	while (t->table_size < refs * 2)
		t->table_size *= 2;
	t->table = xmalloc(t->table_size * sizeof(*t->table));
	for (size_t i = 0; i < t->table_size; i++)
		t->table[i] = NONE;
	for (size_t i = 0; i < count; i++)
		thread_link(t, i);
	/* Step 2: every parentless container goes under the root. */
	*root_first = NONE;
	pp = root_first;
	for (size_t i = 0; i < t->count; i++) {
		if (t->n[i].parent == NONE) {
			*pp = i;
			pp = &t->n[i].next;
		}
	}
	*pp = NONE;
	prune(t, root_first, NONE, true);
	sort_tree(t, root_first); /* step 4 */
	group_subjects(t, root_first);
	sort_tree(t, root_first); /* step 6 */
	free(t->table);
}

static int orderedsubject_cmp(const void *x, const void *y, void *arg)
{
	const struct imap_sort_msg *msgs = arg, *a = &msgs[*(const size_t *)x], *b = &msgs[*(const size_t *)y];
	int r = casemap_cmp(a->subject, b->subject);

	if (r == 0)
		r = cmp_num(a->date, b->date);
	return r != 0 ? r : cmp_u64(a->seq, b->seq);
}

/*
 * ORDEREDSUBJECT: by base subject, then sent date; each subject is a thread
 * whose first message is the parent of all the others; threads ordered by
 * the date of their first message.
 */
static void thread_orderedsubject(struct thread *t, size_t count, size_t *root_first)
{
	size_t *order = xmalloc((count ? count : 1) * sizeof(*order)), root = NONE;

	*root_first = NONE;
	for (size_t i = 0; i < count; i++)
		order[i] = i;
	qsort_r(order, count, sizeof(*order), orderedsubject_cmp, (void *)t->msgs);
	for (size_t i = 0; i < count; i++) {
		size_t n = node_new(t, order[i], NULL);
		if (root != NONE && casemap_cmp(t->msgs[t->n[root].msg].subject, t->msgs[order[i]].subject) == 0) {
			link_node(t, root, n);
			continue;
		}
		if (root == NONE)
			*root_first = n;
		else
			t->n[root].next = n;
		root = n;
	}
	sort_siblings(t, root_first);
	free(order);
}

void imap_thread_run(enum imap_thread_algo algo, const struct imap_sort_msg *msgs, size_t count, bool use_uid,
		     struct buf *out)
{
	struct thread t = { .msgs = msgs, .use_uid = use_uid };
	size_t root_first;

	if (algo == IMAP_THREAD_REFERENCES)
		thread_references(&t, count, &root_first);
	else
		thread_orderedsubject(&t, count, &root_first);
	for (size_t c = root_first; c != NONE; c = t.n[c].next) {
		buf_append(out, "(", 1);
		render(&t, c, out);
		buf_append(out, ")", 1);
	}
	free(t.n);
}

/* ---- on a store thread ------------------------------------------------------------------------ */

int imap_sort_collect(struct store *s, const struct imap_search_result *res, bool references,
		      struct imap_sort_msg **msgs_r, const char **errstr_r)
{
	struct imap_sort_msg *msgs = xcalloc(res->count ? res->count : 1, sizeof(*msgs));

	for (size_t i = 0; i < res->count; i++) {
		const struct imap_search_hit *h = &res->hits[i];
		struct store_mail m = { .uid = h->uid, .size = h->size, .internal_date = h->internal_date,
					.body_id = h->body_id };
		struct imap_msg_data d;
		msgs[i].seq = h->seq;
		msgs[i].uid = h->uid;
		msgs[i].size = h->size;
		msgs[i].arrival = h->internal_date;
		imap_msg_data_init(&d);
		if (imap_msg_data_load(s, &m, references, true, &d, errstr_r) < 0) {
			imap_msg_data_free(&d);
			for (size_t k = 0; k < i; k++)
				imap_sort_msg_clear(&msgs[k]);
			free(msgs);
			return -1;
		}
		imap_sort_msg_fill(&msgs[i], d.mime, slice_make(d.message.data ? d.message.data : "", d.message.len));
		imap_msg_data_free(&d);
	}
	*msgs_r = msgs;
	return 0;
}
