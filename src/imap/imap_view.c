/*
 * imap_view: the selected mailbox as one session sees it, and how it
 * catches up with the store.
 *
 * The view changes only at safe points. A sync asks the store for every
 * change since the view's highestmodseq (RFC 7162 does the same for a
 * reconnecting client): expunged UIDs, and messages whose modseq is newer
 * (flag changes and new mail). It then reports them in the order RFC 3501
 * 7.4.1 and 5.2 require: EXPUNGE (highest sequence number first, so every
 * number is valid when sent) or VANISHED with QRESYNC, then EXISTS, then
 * FETCH (FLAGS) for changed messages.
 *
 * A view made by SELECT starts on a shared, immutable snapshot of the
 * folder (imap_viewcache.c) and copies the arrays at its first change
 * (view_own), so one session's changes never show in another's view or in
 * the snapshot the next SELECT starts from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct imap_view *imap_view_new(int64_t folder_id, const char *name, bool readonly)
{
	struct imap_view *v = xcalloc(1, sizeof(*v));

	v->folder_id = folder_id;
	v->name = xstrdup(name);
	v->readonly = readonly;
	return v;
}

struct imap_view *imap_view_new_shared(struct imap_snapshot *snap, const char *name, bool readonly)
{
	struct imap_view *v = imap_view_new(snap->folder_id, name, readonly);

	v->shared = imap_snapshot_ref(snap);
	v->uids = snap->uids;
	v->flags = snap->flags;
	v->modseqs = snap->modseqs;
	v->count = snap->count;
	v->uidvalidity = snap->uidvalidity;
	v->highestmodseq = snap->highestmodseq;
	v->uidnext = v->count ? v->uids[v->count - 1] + 1 : 1;
	return v;
}

void imap_view_free(struct imap_view *v)
{
	free(v->name);
	free(v->recent);
	free(v->keywords);
	free(v->saved);
	if (v->shared != NULL) {
		imap_snapshot_unref(&v->shared);
	} else {
		free(v->uids);
		free(v->flags);
		free(v->modseqs);
	}
	free(v);
}

/* Before any change: a view still on a shared snapshot gets its own copy of the arrays. */
static void view_own(struct imap_view *v)
{
	if (v->shared == NULL)
		return;
	uint32_t cap = v->count + 64;
	uint32_t *uids = xmalloc(cap * sizeof(*uids));
	uint8_t *flags = xmalloc(cap * sizeof(*flags));
	uint64_t *modseqs = xmalloc(cap * sizeof(*modseqs));

	if (v->count > 0) {
		memcpy(uids, v->uids, v->count * sizeof(*uids));
		memcpy(flags, v->flags, v->count * sizeof(*flags));
		memcpy(modseqs, v->modseqs, v->count * sizeof(*modseqs));
	}
	v->uids = uids;
	v->flags = flags;
	v->modseqs = modseqs;
	v->cap = cap;
	imap_snapshot_unref(&v->shared);
}

void imap_view_append(struct imap_view *v, uint32_t uid, uint32_t flags, uint64_t modseq)
{
	view_own(v);
	if (v->count == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->uids = xrealloc(v->uids, v->cap * sizeof(*v->uids));
		v->flags = xrealloc(v->flags, v->cap * sizeof(*v->flags));
		v->modseqs = xrealloc(v->modseqs, v->cap * sizeof(*v->modseqs));
	}
	v->uids[v->count] = uid;
	v->flags[v->count] = (uint8_t)flags;
	v->modseqs[v->count] = modseq;
	v->count++;
	if (uid >= v->uidnext)
		v->uidnext = uid + 1;
}

uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	uint32_t lo = 0, hi = v->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->count && v->uids[lo] == uid ? lo + 1 : 0;
}

/* First index whose uid >= uid. */
static uint32_t lower_bound(const struct imap_view *v, uint32_t uid)
{
	uint32_t lo = 0, hi = v->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void imap_view_set_saved(struct imap_view *v, uint32_t *uids, size_t count)
{
	free(v->saved);
	v->saved = uids;
	v->saved_count = count;
}

/* "$": the saved UIDs still in the view (expunged ones drop out, RFC 5182 2.1). */
static void resolve_saved(const struct imap_view *v, uint32_t **seqs_r, size_t *count_r)
{
	uint32_t *seqs = xmalloc((v->saved_count ? v->saved_count : 1) * sizeof(*seqs));
	size_t n = 0;

	for (size_t i = 0; i < v->saved_count; i++) {
		uint32_t seq = imap_view_seq(v, v->saved[i]);
		if (seq != 0)
			seqs[n++] = seq;
	}
	*seqs_r = seqs;
	*count_r = n;
}

int imap_view_resolve(const struct imap_view *v, const struct imap_seqset *set, bool uid, uint32_t **seqs_r,
		      size_t *count_r, const char **err_r)
{
	if (set->saved) {
		resolve_saved(v, seqs_r, count_r);
		return 0;
	}

	uint32_t *seqs = NULL;
	size_t n = 0, cap = 0;
	uint32_t star = uid ? (v->count ? v->uids[v->count - 1] : 0) : v->count;
	bool ascending = true; /* the usual case (1:*, 5:9,12): no sort needed */

	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo = set->ranges[i].lo == IMAP_SEQ_STAR ? star : set->ranges[i].lo;
		uint32_t hi = set->ranges[i].hi == IMAP_SEQ_STAR ? star : set->ranges[i].hi;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		uint32_t from, to; /* 0-based, [from, to) */
		if (uid) {
			/* RFC 3501 6.4.8: "n:*" with n past the last UID still covers the last message. */
			if (set->ranges[i].hi == IMAP_SEQ_STAR && v->count > 0 && lo > star)
				lo = hi = star;
			from = lower_bound(v, lo);
			to = hi == UINT32_MAX ? v->count : lower_bound(v, hi + 1);
		} else {
			if (lo == 0 || hi > v->count) {
				free(seqs);
				*err_r = "Invalid message sequence number";
				return -1;
			}
			from = lo - 1;
			to = hi;
		}
		if (from < to && n > 0 && seqs[n - 1] >= from + 1)
			ascending = false;
		if (from < to && n + (to - from) > cap) {
			cap = n + (to - from) > 2 * cap ? n + (to - from) : 2 * cap;
			seqs = xrealloc(seqs, cap * sizeof(*seqs));
		}
		for (uint32_t k = from; k < to; k++)
			seqs[n++] = k + 1;
	}
	if (n > 1 && !ascending) {
		qsort(seqs, n, sizeof(*seqs), cmp_u32);
		size_t w = 1;
		for (size_t r = 1; r < n; r++)
			if (seqs[r] != seqs[w - 1])
				seqs[w++] = seqs[r];
		n = w;
	}
	*seqs_r = seqs;
	*count_r = n;
	return 0;
}

void imap_view_set_flags(struct imap_view *v, uint32_t seq, uint32_t flags, uint64_t modseq)
{
	ASSERT(seq >= 1 && seq <= v->count);
	view_own(v);
	v->flags[seq - 1] = (uint8_t)flags;
	if (modseq > v->modseqs[seq - 1])
		v->modseqs[seq - 1] = modseq;
}

static void remove_index(struct imap_view *v, uint32_t i)
{
	size_t rest = v->count - i - 1;

	view_own(v);
	memmove(v->uids + i, v->uids + i + 1, rest * sizeof(*v->uids));
	memmove(v->flags + i, v->flags + i + 1, rest * sizeof(*v->flags));
	memmove(v->modseqs + i, v->modseqs + i + 1, rest * sizeof(*v->modseqs));
	v->count--;
}

void imap_view_expunge_uid(struct imap_session *s, uint32_t uid)
{
	struct imap_view *v = s->view;
	uint32_t seq = imap_view_seq(v, uid);

	if (seq == 0)
		return;
	remove_index(v, seq - 1);
	if (s->enabled & IMAP_ENABLED_QRESYNC)
		imap_untagged(s, "VANISHED %u", uid);
	else
		imap_untagged(s, "%u EXPUNGE", seq);
}

/* ---- \Recent (RFC 3501 2.3.2) ---------------------------------------------------------- */

void imap_view_add_recent(struct imap_view *v, uint32_t lo, uint32_t hi)
{
	if (lo >= hi)
		return;
	if (v->recent_count > 0) {
		struct imap_uid_range *last = &v->recent[v->recent_count - 1];
		ASSERT(lo >= last->lo);
		if (lo <= last->hi) {
			if (hi > last->hi)
				last->hi = hi;
			return;
		}
	}
	v->recent = xrealloc(v->recent, (v->recent_count + 1) * sizeof(*v->recent));
	v->recent[v->recent_count++] = (struct imap_uid_range){ lo, hi };
}

bool imap_view_recent(const struct imap_session *s, uint32_t uid)
{
	const struct imap_view *v = s->view;

	if (v == NULL || (s->enabled & IMAP_ENABLED_IMAP4REV2))
		return false;
	return imap_uid_ranges_contain(v->recent, v->recent_count, uid);
}

uint32_t imap_view_recent_count(const struct imap_session *s)
{
	const struct imap_view *v = s->view;
	uint32_t n = 0;

	if (s->enabled & IMAP_ENABLED_IMAP4REV2)
		return 0;
	for (size_t i = 0; i < v->recent_count; i++) {
		uint32_t hi = v->recent[i].hi;
		n += (hi == UINT32_MAX ? v->count : lower_bound(v, hi)) - lower_bound(v, v->recent[i].lo);
	}
	return n;
}

void imap_view_search_scope(const struct imap_session *s, struct imap_search_scope *sc_r)
{
	const struct imap_view *v = s->view;

	memset(sc_r, 0, sizeof(*sc_r));
	sc_r->view_count = v->count;
	sc_r->view_uids = xmalloc((v->count ? v->count : 1) * sizeof(uint32_t));
	if (v->count > 0)
		memcpy(sc_r->view_uids, v->uids, v->count * sizeof(uint32_t));
	if (v->saved_count > 0) {
		sc_r->saved_count = v->saved_count;
		sc_r->saved = xmalloc(v->saved_count * sizeof(uint32_t));
		memcpy(sc_r->saved, v->saved, v->saved_count * sizeof(uint32_t));
	}
	if (!(s->enabled & IMAP_ENABLED_IMAP4REV2) && v->recent_count > 0) {
		sc_r->recent_count = v->recent_count;
		sc_r->recent = xmalloc(v->recent_count * sizeof(*sc_r->recent));
		memcpy(sc_r->recent, v->recent, v->recent_count * sizeof(*sc_r->recent));
	}
}

/* ---- keywords in FLAGS (RFC 3501 7.2.6) ---------------------------------------------------- */

static bool kw_known(const char *set, const char *w, size_t n)
{
	for (const char *p = set; p != NULL && *p != '\0';) {
		size_t m = strcspn(p, " ");
		if (m == n && strncasecmp(p, w, n) == 0)
			return true;
		p += m;
		p += *p == ' ';
	}
	return false;
}

void imap_view_write_flag_lists(struct imap_session *s)
{
	const struct imap_view *v = s->view;
	const char *kw = v->keywords != NULL ? v->keywords : "";
	const char *sep = kw[0] != '\0' ? " " : "";

	imap_untagged(s, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s)", sep, kw);
	if (v->readonly)
		imap_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		imap_untagged(s, "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s \\*)] Flags permitted",
			      sep, kw);
}

void imap_view_note_keywords(struct imap_session *s, const char *keywords)
{
	struct imap_view *v = s->view;
	struct buf b;
	bool added = false;

	buf_init(&b, STORE_KEYWORDS_MAX - 1); /* the bound store_folder_keywords keeps too */
	if (v->keywords != NULL)
		buf_append_str(&b, v->keywords);
	for (const char *p = keywords; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, " ");
		if (n > 0 && !kw_known(b.data, p, n) && b.len + 1 + n < STORE_KEYWORDS_MAX) {
			if (b.len > 0)
				buf_append(&b, " ", 1);
			buf_append(&b, p, n);
			added = true;
		}
		p += n;
		p += *p == ' ';
	}
	if (added) {
		free(v->keywords);
		v->keywords = xstrdup(b.data);
		imap_view_write_flag_lists(s);
	}
	buf_free(&b);
}

/* ---- QRESYNC seq-match-data (RFC 7162 3.2.5.2) ------------------------------------------- */

struct seq_iter {
	const struct imap_seqset *set;
	size_t i;
	uint64_t next;
};

/* The numbers of a set in the order given; "*" ends it (no client map can use it). */
static bool seq_iter_next(struct seq_iter *it, uint32_t *n_r)
{
	while (it->i < it->set->count) {
		const struct imap_seq_range *r = &it->set->ranges[it->i];
		if (r->hi == IMAP_SEQ_STAR)
			return false;
		if (it->next < r->lo)
			it->next = r->lo;
		if (it->next <= r->hi) {
			*n_r = (uint32_t)it->next++;
			return true;
		}
		it->i++;
		it->next = 0;
	}
	return false;
}

uint32_t imap_view_qresync_match(const struct imap_view *v, const struct imap_seqset *seqs,
				 const struct imap_seqset *uids)
{
	struct seq_iter a = { .set = seqs }, b = { .set = uids };
	uint32_t seq, uid, match = 0;

	/* at most count + 1 pairs: a sequence number past the view ends the walk */
	while (seq_iter_next(&a, &seq) && seq_iter_next(&b, &uid)) {
		if (seq == 0 || seq > v->count || v->uids[seq - 1] != uid || uid <= match)
			break;
		match = uid;
	}
	return match;
}

/* ---- sync ------------------------------------------------------------------------------ */

struct sync_change {
	uint32_t uid, flags;
	uint64_t modseq;
	char *keywords; /* NULL when none */
};

struct sync_ctx {
	int64_t folder_id, address_id;
	char *name;
	uint64_t since;
	uint32_t *expunged;
	size_t n_expunged, cap_expunged;
	struct sync_change *changes;
	size_t n_changes, cap_changes;
	uint64_t highestmodseq;
	uint32_t uidnext;
	uint32_t take_upto, take_first; /* \Recent taken: [take_first, take_upto) */
	int rc;
	bool expunge_ok;
	void (*then)(struct imap_session *s);
};

static void sync_ctx_free(void *arg)
{
	struct sync_ctx *c = arg;

	for (size_t i = 0; i < c->n_changes; i++)
		free(c->changes[i].keywords);
	free(c->changes);
	free(c->expunged);
	free(c->name);
	free(c);
}

static void on_expunged(uint32_t uid, void *arg)
{
	struct sync_ctx *c = arg;

	if (c->n_expunged == c->cap_expunged) {
		c->cap_expunged = c->cap_expunged ? c->cap_expunged * 2 : 16;
		c->expunged = xrealloc(c->expunged, c->cap_expunged * sizeof(*c->expunged));
	}
	c->expunged[c->n_expunged++] = uid;
}

static int on_changed(const struct store_mail *m, void *arg)
{
	struct sync_ctx *c = arg;

	if (c->n_changes == c->cap_changes) {
		c->cap_changes = c->cap_changes ? c->cap_changes * 2 : 16;
		c->changes = xrealloc(c->changes, c->cap_changes * sizeof(*c->changes));
	}
	struct sync_change *ch = &c->changes[c->n_changes++];
	ch->uid = m->uid;
	ch->flags = m->flags;
	ch->modseq = m->modseq;
	ch->keywords = m->keywords[0] ? xstrdup(m->keywords) : NULL;
	if (m->modseq > c->highestmodseq)
		c->highestmodseq = m->modseq;
	return 0;
}

/*
 * On a reader thread. The folder's counters are read first: every change up
 * to its HIGHESTMODSEQ is then listed. store_folder_lookup, not _status: the
 * counts would cost a pass over the whole folder on every sync.
 */
static void sync_work(struct store *st, void *arg)
{
	struct sync_ctx *c = arg;
	struct store_folder_status fs;
	const char *err;

	c->highestmodseq = c->since;
	if (store_folder_lookup(st, c->address_id, c->name, &fs, &err) == 1 && fs.folder_id == c->folder_id) {
		c->highestmodseq = fs.highestmodseq > c->since ? fs.highestmodseq : c->since;
		c->uidnext = fs.uidnext;
	}
	if (store_mail_expunged_since(st, c->folder_id, c->since, on_expunged, c, &err) < 0 ||
	    store_mail_list(st, c->folder_id, 1, c->since, on_changed, c, &err) < 0) {
		log_error("imap event=sync-failed folder=%lld error=\"%s\"", (long long)c->folder_id, err);
		c->rc = -1;
	}
}

static void write_vanished(struct imap_session *s, const uint32_t *uids, size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (j > i)
			buf_appendf(&b, "%s%u:%u", i ? "," : "", uids[i], uids[j]);
		else
			buf_appendf(&b, "%s%u", i ? "," : "", uids[i]);
		i = j + 1;
	}
	imap_printf(s, "* VANISHED %s\r\n", b.data);
	buf_free(&b);
}

/* Removes the expunged UIDs present in the view and reports them. */
static void apply_expunges(struct imap_session *s, struct sync_ctx *c)
{
	struct imap_view *v = s->view;
	uint32_t *gone = xmalloc((c->n_expunged + 1) * sizeof(*gone));
	size_t n = 0;

	if (c->n_expunged > 1)
		qsort(c->expunged, c->n_expunged, sizeof(*c->expunged), cmp_u32);
	for (size_t i = c->n_expunged; i-- > 0;) {
		uint32_t seq = imap_view_seq(v, c->expunged[i]);
		if (seq == 0)
			continue;
		if (!(s->enabled & IMAP_ENABLED_QRESYNC))
			imap_untagged(s, "%u EXPUNGE", seq); /* descending: each number still valid */
		remove_index(v, seq - 1);
		gone[n++] = c->expunged[i];
	}
	if (n > 0 && (s->enabled & IMAP_ENABLED_QRESYNC)) {
		qsort(gone, n, sizeof(*gone), cmp_u32);
		write_vanished(s, gone, n);
	}
	free(gone);
}

static void write_flags_fetch(struct imap_session *s, uint32_t seq, const struct sync_change *ch)
{
	imap_printf(s, "* %u FETCH (", seq);
	if (s->enabled & IMAP_ENABLED_QRESYNC)
		imap_printf(s, "UID %u ", ch->uid);
	imap_printf(s, "FLAGS (");
	imap_write_flags(s, ch->flags, ch->keywords, imap_view_recent(s, ch->uid));
	imap_printf(s, ")");
	if (s->enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC))
		imap_printf(s, " MODSEQ (%llu)", (unsigned long long)ch->modseq);
	imap_printf(s, ")\r\n");
}

/* Applies the changes; true when new messages arrived (EXISTS sent). */
static bool apply_changes(struct imap_session *s, struct sync_ctx *c)
{
	struct imap_view *v = s->view;
	uint32_t old_count = v->count;
	uint32_t last_uid = v->count ? v->uids[v->count - 1] : 0;

	for (size_t i = 0; i < c->n_changes; i++) /* a new keyword is announced before it is shown */
		if (c->changes[i].keywords != NULL)
			imap_view_note_keywords(s, c->changes[i].keywords);
	for (size_t i = 0; i < c->n_changes; i++) {
		const struct sync_change *ch = &c->changes[i];
		if (ch->uid > last_uid) {
			imap_view_append(v, ch->uid, ch->flags | (ch->keywords ? IMAP_VIEW_KEYWORDS : 0), ch->modseq);
			continue;
		}
		uint32_t seq = imap_view_seq(v, ch->uid);
		if (seq == 0 || ch->modseq <= v->modseqs[seq - 1])
			continue; /* expunged, or this session's own change already reported */
		view_own(v);
		v->flags[seq - 1] = (uint8_t)(ch->flags | (ch->keywords ? IMAP_VIEW_KEYWORDS : 0));
		v->modseqs[seq - 1] = ch->modseq;
		write_flags_fetch(s, seq, ch);
	}
	if (v->count == old_count)
		return false;
	imap_untagged(s, "%u EXISTS", v->count);
	return true;
}

static void sync_finish(struct imap_session *s, struct sync_ctx *c)
{
	void (*then)(struct imap_session *) = c->then;

	sync_ctx_free(c);
	then(s);
}

/* On a reader (see sync_recent): this read-write session takes the new messages' \Recent. */
static void take_work(struct store *st, void *arg)
{
	struct sync_ctx *c = arg;
	const char *err = NULL;

	c->rc = store_folder_take_recent(st, c->folder_id, c->take_upto, &c->take_first, &err);
	if (c->rc < 0)
		log_error("imap event=take-recent-failed folder=%lld error=\"%s\"", (long long)c->folder_id, err);
}

static void take_done(struct imap_session *s, void *arg)
{
	struct sync_ctx *c = arg;

	s->sync = NULL;
	s->syncing = false;
	if (c->rc == 0 && s->view != NULL && s->view->folder_id == c->folder_id) {
		imap_view_add_recent(s->view, c->take_first, c->take_upto);
		s->view->recent_checked = c->take_upto;
		imap_untagged(s, "%u RECENT", imap_view_recent_count(s));
	}
	sync_finish(s, c);
}

/*
 * RFC 3501 7.3.2: RECENT follows EXISTS. New mail in a read-write IMAP4rev1
 * session is first taken (a store call): the first session told of a
 * message is the one that sees it \Recent (2.3.2). Returns true when the
 * take was started (it finishes the sync).
 */
static bool sync_recent(struct imap_session *s, struct sync_ctx *c)
{
	struct imap_view *v = s->view;
	uint32_t upto = v->count ? v->uids[v->count - 1] + 1 : 1;

	if (s->enabled & IMAP_ENABLED_IMAP4REV2)
		return false;
	if (v->readonly || upto <= v->recent_checked) {
		imap_untagged(s, "%u RECENT", imap_view_recent_count(s));
		return false;
	}
	c->take_upto = upto;
	s->syncing = true;
	/* a reader: the take needs no fsync (store_folder_take_recent), a new message in a selected folder
	 * should not cost a second synchronous commit */
	s->sync = imap_async_start(s, STORE_CALL_READ, take_work, c, sync_ctx_free, take_done);
	return true;
}

static void sync_done(struct imap_session *s, void *arg)
{
	struct sync_ctx *c = arg;
	bool grew = false;

	s->sync = NULL;
	s->syncing = false;
	if (c->rc == 0 && s->view != NULL && s->view->folder_id == c->folder_id) {
		if (c->expunge_ok)
			apply_expunges(s, c);
		grew = apply_changes(s, c);
		if (!c->expunge_ok && c->n_expunged > 0)
			s->view->dirty = true; /* the expunges are still to be reported: keep the old modseq */
		else if (c->highestmodseq > s->view->highestmodseq)
			s->view->highestmodseq = c->highestmodseq;
		if (c->uidnext > s->view->uidnext)
			s->view->uidnext = c->uidnext;
	}
	if (grew && sync_recent(s, c))
		return;
	sync_finish(s, c);
}

void imap_view_sync(struct imap_session *s, bool expunge_ok, void (*then)(struct imap_session *s))
{
	struct sync_ctx *c = xcalloc(1, sizeof(*c));

	ASSERT(s->view != NULL && !s->syncing);
	c->folder_id = s->view->folder_id;
	c->address_id = s->address_id;
	c->name = xstrdup(s->view->name);
	c->since = s->view->highestmodseq;
	c->expunge_ok = expunge_ok;
	c->then = then;
	s->view->dirty = false; /* a notification from now on asks for another sync */
	s->syncing = true;
	s->sync = imap_async_start(s, STORE_CALL_READ, sync_work, c, sync_ctx_free, sync_done);
}
