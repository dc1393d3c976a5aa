/*
 * imap_viewcache: folder snapshots shared between the sessions of the
 * daemon, so that a SELECT of a big folder that was selected recently
 * costs a folder lookup instead of a listing of every message.
 *
 * A snapshot is immutable once built (on a store reader thread) and
 * reference-counted on the loop thread. It is labelled with the folder's
 * HIGHESTMODSEQ read *before* its messages were listed: every change up to
 * that mod-sequence is in it, and some later ones may be (a delivery that
 * committed between the two statements). Catching up from the label is
 * therefore idempotent, exactly like a session's own sync (imap_view.c).
 *
 * The cache is never trusted on its own: SELECT always looks the folder up
 * in the store (same round trip) and compares the folder's id, UIDVALIDITY
 * and HIGHESTMODSEQ with the snapshot's. Every durable change to a folder
 * takes a new mod-sequence (store_mail.h), so a snapshot whose label equals
 * the store's HIGHESTMODSEQ is exact, and an older one is brought up to date
 * from the store's changes and expunges since its label. A durable write is
 * thus never hidden by the cache, whether or not its watch notification has
 * reached the loop yet, and no notification has to keep the cache in step.
 * A session's view shares the snapshot until it changes (copy on write, in
 * imap_view.c), so it still sees other sessions' changes only at its own
 * safe points.
 *
 * Entries are looked up by address and folder name (the name is only a
 * hint: the store lookup decides), kept in least-recently-used order,
 * bounded by IMAP_VIEWCACHE_BYTES and IMAP_VIEWCACHE_ENTRIES, and dropped
 * after IMAP_VIEWCACHE_IDLE_S without a SELECT.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* ---- snapshots ------------------------------------------------------------------------- */

struct imap_snapshot *imap_snapshot_new(int64_t folder_id, uint32_t uidvalidity, uint64_t highestmodseq)
{
	struct imap_snapshot *s = xcalloc(1, sizeof(*s));

	s->refs = 1;
	s->folder_id = folder_id;
	s->uidvalidity = uidvalidity;
	s->highestmodseq = highestmodseq;
	return s;
}

static void snapshot_reserve(struct imap_snapshot *s, uint32_t want)
{
	if (want <= s->cap)
		return;
	uint32_t cap = s->cap ? s->cap : 64;
	while (cap < want)
		cap *= 2;
	s->uids = xrealloc(s->uids, cap * sizeof(*s->uids));
	s->flags = xrealloc(s->flags, cap * sizeof(*s->flags));
	s->modseqs = xrealloc(s->modseqs, cap * sizeof(*s->modseqs));
	s->cap = cap;
}

/* After a listing: give back what the doubling reserved (a snapshot may be kept for long). */
static void snapshot_trim(struct imap_snapshot *s)
{
	if (s->count == s->cap)
		return;
	if (s->count == 0) {
		free(s->uids);
		free(s->flags);
		free(s->modseqs);
		s->uids = NULL;
		s->flags = NULL;
		s->modseqs = NULL;
	} else {
		s->uids = xrealloc(s->uids, s->count * sizeof(*s->uids));
		s->flags = xrealloc(s->flags, s->count * sizeof(*s->flags));
		s->modseqs = xrealloc(s->modseqs, s->count * sizeof(*s->modseqs));
	}
	s->cap = s->count;
}

void imap_snapshot_append(struct imap_snapshot *s, uint32_t uid, uint8_t flags, uint64_t modseq)
{
	ASSERT(s->count == 0 || uid > s->uids[s->count - 1]);
	snapshot_reserve(s, s->count + 1);
	s->uids[s->count] = uid;
	s->flags[s->count] = flags;
	s->modseqs[s->count] = modseq;
	s->count++;
}

struct imap_snapshot *imap_snapshot_ref(struct imap_snapshot *s)
{
	s->refs++;
	return s;
}

void imap_snapshot_unref(struct imap_snapshot **sp)
{
	struct imap_snapshot *s = *sp;

	*sp = NULL;
	if (s == NULL || --s->refs > 0)
		return;
	free(s->uids);
	free(s->flags);
	free(s->modseqs);
	free(s->keywords);
	free(s);
}

size_t imap_snapshot_bytes(const struct imap_snapshot *s)
{
	return sizeof(*s) + (size_t)s->cap * (sizeof(*s->uids) + sizeof(*s->flags) + sizeof(*s->modseqs)) +
	       (s->keywords != NULL ? strlen(s->keywords) + 1 : 0);
}

/* Appends base's message i, or change ch instead when ch is about the same UID and newer. */
static void merge_one(struct imap_snapshot *out, const struct imap_snapshot *base, uint32_t i,
		      const struct imap_snapshot_change *ch)
{
	if (ch != NULL && (base == NULL || ch->modseq > base->modseqs[i]))
		imap_snapshot_append(out, ch->uid, ch->flags, ch->modseq);
	else
		imap_snapshot_append(out, base->uids[i], base->flags[i], base->modseqs[i]);
}

struct imap_snapshot *imap_snapshot_catch_up(const struct imap_snapshot *base, uint64_t highestmodseq,
					     const uint32_t *expunged, size_t n_expunged,
					     const struct imap_snapshot_change *changes, size_t n_changes)
{
	struct imap_snapshot *out = imap_snapshot_new(base->folder_id, base->uidvalidity, highestmodseq);
	uint32_t i = 0;
	size_t j = 0, e = 0;

	snapshot_reserve(out, base->count + (uint32_t)n_changes);
	/* a merge of two lists in UID order; an expunged UID is never reused, so it wins */
	while (i < base->count || j < n_changes) {
		uint32_t bu = i < base->count ? base->uids[i] : UINT32_MAX;
		uint32_t cu = j < n_changes ? changes[j].uid : UINT32_MAX;
		uint32_t uid = bu < cu ? bu : cu;
		while (e < n_expunged && expunged[e] < uid)
			e++;
		bool gone = e < n_expunged && expunged[e] == uid;
		if (!gone && uid == bu)
			merge_one(out, base, i, uid == cu ? &changes[j] : NULL);
		else if (!gone)
			merge_one(out, NULL, 0, &changes[j]);
		i += uid == bu;
		j += uid == cu;
	}
	return out;
}

/* ---- building on a store reader thread ----------------------------------------------------- */

struct catch_up {
	uint32_t *expunged;
	size_t n_expunged, cap_expunged;
	struct imap_snapshot_change *changes;
	size_t n_changes, cap_changes;
};

static void on_view_row(uint32_t uid, uint32_t flags, uint64_t modseq, bool has_keywords, void *arg)
{
	imap_snapshot_append(arg, uid, (uint8_t)(flags | (has_keywords ? IMAP_VIEW_KEYWORDS : 0)), modseq);
}

static void on_expunged(uint32_t uid, void *arg)
{
	struct catch_up *cu = arg;

	if (cu->n_expunged == cu->cap_expunged) {
		cu->cap_expunged = cu->cap_expunged ? cu->cap_expunged * 2 : 64;
		cu->expunged = xrealloc(cu->expunged, cu->cap_expunged * sizeof(*cu->expunged));
	}
	cu->expunged[cu->n_expunged++] = uid;
}

static int on_changed(const struct store_mail *m, void *arg)
{
	struct catch_up *cu = arg;

	if (cu->n_changes == cu->cap_changes) {
		cu->cap_changes = cu->cap_changes ? cu->cap_changes * 2 : 64;
		cu->changes = xrealloc(cu->changes, cu->cap_changes * sizeof(*cu->changes));
	}
	cu->changes[cu->n_changes++] = (struct imap_snapshot_change){
		.uid = m->uid,
		.flags = (uint8_t)(m->flags | (m->keywords[0] ? IMAP_VIEW_KEYWORDS : 0)),
		.modseq = m->modseq,
	};
	return 0;
}

/* base brought up to fs's HIGHESTMODSEQ from what changed since its own (both lists come in UID order). */
static struct imap_snapshot *load_catch_up(struct store *st, const struct imap_snapshot *base,
					   const struct store_folder_status *fs, const char **err_r)
{
	struct catch_up cu = { 0 };
	struct imap_snapshot *snap = NULL;

	if (store_mail_expunged_since(st, fs->folder_id, base->highestmodseq, on_expunged, &cu, err_r) == 0 &&
	    store_mail_list(st, fs->folder_id, 1, base->highestmodseq, on_changed, &cu, err_r) == 0)
		snap = imap_snapshot_catch_up(base, fs->highestmodseq, cu.expunged, cu.n_expunged, cu.changes,
					      cu.n_changes);
	free(cu.expunged);
	free(cu.changes);
	return snap;
}

int imap_snapshot_load(struct store *st, const struct imap_snapshot *base, const struct store_folder_status *fs,
		       struct imap_snapshot **snap_r, enum imap_snapshot_how *how_r, const char **err_r)
{
	*snap_r = NULL;
	if (base != NULL && base->folder_id == fs->folder_id && base->uidvalidity == fs->uidvalidity &&
	    base->highestmodseq <= fs->highestmodseq) {
		if (base->highestmodseq == fs->highestmodseq) {
			*how_r = IMAP_SNAPSHOT_CACHED;
			return 0;
		}
		*how_r = IMAP_SNAPSHOT_CAUGHT_UP;
		*snap_r = load_catch_up(st, base, fs, err_r);
		return *snap_r != NULL ? 0 : -1;
	}
	*how_r = IMAP_SNAPSHOT_LISTED;
	struct imap_snapshot *snap = imap_snapshot_new(fs->folder_id, fs->uidvalidity, fs->highestmodseq);
	if (store_mail_list_view(st, fs->folder_id, on_view_row, snap, err_r) < 0) {
		imap_snapshot_unref(&snap);
		return -1;
	}
	snapshot_trim(snap);
	*snap_r = snap;
	return 0;
}

const char *imap_snapshot_how_name(enum imap_snapshot_how how)
{
	switch (how) {
	case IMAP_SNAPSHOT_CACHED:
		return "cached";
	case IMAP_SNAPSHOT_CAUGHT_UP:
		return "caught-up";
	case IMAP_SNAPSHOT_LISTED:
		break;
	}
	return "listed";
}

/* ---- the cache (loop thread) ------------------------------------------------------------- */

struct cache_entry {
	struct cache_entry *prev, *next; /* most recently used first */
	int64_t address_id;
	char *name;
	struct imap_snapshot *snap;
	size_t bytes;
	time_t used;                     /* CLOCK_MONOTONIC seconds */
};

struct imap_viewcache {
	struct event *timer;
	size_t budget, bytes, count;
	struct cache_entry *head, *tail;
};

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void entry_unlink(struct imap_viewcache *vc, struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		vc->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		vc->tail = e->prev;
	e->prev = e->next = NULL;
}

static void entry_push_front(struct imap_viewcache *vc, struct cache_entry *e)
{
	e->next = vc->head;
	if (vc->head != NULL)
		vc->head->prev = e;
	vc->head = e;
	if (vc->tail == NULL)
		vc->tail = e;
}

static void entry_drop(struct imap_viewcache *vc, struct cache_entry *e)
{
	entry_unlink(vc, e);
	vc->bytes -= e->bytes;
	vc->count--;
	imap_snapshot_unref(&e->snap);
	free(e->name);
	free(e);
}

static void arm_timer(struct imap_viewcache *vc)
{
	if (vc->tail == NULL || vc->timer == NULL)
		return;
	time_t left = vc->tail->used + IMAP_VIEWCACHE_IDLE_S - now_s();
	struct timeval tv = { .tv_sec = left > 0 ? left + 1 : 1 };
	evtimer_add(vc->timer, &tv);
}

/* The least recently used entries go first: they are at the tail. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct imap_viewcache *vc = arg;
	time_t now = now_s();

	while (vc->tail != NULL && now - vc->tail->used >= IMAP_VIEWCACHE_IDLE_S)
		entry_drop(vc, vc->tail);
	arm_timer(vc);
}

struct imap_viewcache *imap_viewcache_new(struct event_base *base, size_t budget)
{
	struct imap_viewcache *vc = xcalloc(1, sizeof(*vc));

	vc->budget = budget;
	if (base != NULL)
		vc->timer = evtimer_new(base, on_timer, vc);
	return vc;
}

void imap_viewcache_free(struct imap_viewcache *vc)
{
	if (vc == NULL)
		return;
	while (vc->head != NULL)
		entry_drop(vc, vc->head);
	if (vc->timer != NULL)
		event_free(vc->timer);
	free(vc);
}

static struct cache_entry *find_name(struct imap_viewcache *vc, int64_t address_id, const char *name)
{
	for (struct cache_entry *e = vc->head; e != NULL; e = e->next)
		if (e->address_id == address_id && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static struct cache_entry *find_folder(struct imap_viewcache *vc, int64_t folder_id)
{
	for (struct cache_entry *e = vc->head; e != NULL; e = e->next)
		if (e->snap->folder_id == folder_id)
			return e;
	return NULL;
}

struct imap_snapshot *imap_viewcache_get(struct imap_viewcache *vc, int64_t address_id, const char *name)
{
	struct cache_entry *e = find_name(vc, address_id, name);

	if (e == NULL)
		return NULL;
	entry_unlink(vc, e);
	entry_push_front(vc, e);
	e->used = now_s();
	return imap_snapshot_ref(e->snap);
}

/* Whether the cache already holds something at least as new for snap's folder. */
static bool have_newer(struct imap_viewcache *vc, const struct imap_snapshot *snap)
{
	struct cache_entry *e = find_folder(vc, snap->folder_id);

	return e != NULL && e->snap->uidvalidity == snap->uidvalidity &&
	       e->snap->highestmodseq > snap->highestmodseq;
}

void imap_viewcache_put(struct imap_viewcache *vc, int64_t address_id, const char *name,
			struct imap_snapshot *snap)
{
	struct cache_entry *e;
	size_t bytes = imap_snapshot_bytes(snap) + strlen(name) + 1 + sizeof(*e);

	if (bytes > vc->budget || have_newer(vc, snap))
		return;
	/* one entry per folder and per name: a rename or a recreated folder replaces the old one */
	while ((e = find_folder(vc, snap->folder_id)) != NULL)
		entry_drop(vc, e);
	while ((e = find_name(vc, address_id, name)) != NULL)
		entry_drop(vc, e);
	e = xcalloc(1, sizeof(*e));
	e->address_id = address_id;
	e->name = xstrdup(name);
	e->snap = imap_snapshot_ref(snap);
	e->bytes = bytes;
	e->used = now_s();
	entry_push_front(vc, e);
	vc->bytes += bytes;
	vc->count++;
	while (vc->bytes > vc->budget || vc->count > IMAP_VIEWCACHE_ENTRIES)
		entry_drop(vc, vc->tail);
	if (vc->timer != NULL && !evtimer_pending(vc->timer, NULL))
		arm_timer(vc);
}

void imap_viewcache_stats(const struct imap_viewcache *vc, size_t *entries_r, size_t *bytes_r)
{
	*entries_r = vc->count;
	*bytes_r = vc->bytes;
}
