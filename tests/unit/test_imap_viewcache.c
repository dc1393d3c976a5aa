/*
 * test_imap_viewcache: folder snapshots shared between IMAP sessions
 * (imap_viewcache.c) and the copy on write of a view that shares one
 * (imap_view.c). Snapshot loading runs against a real temporary store: a
 * snapshot caught up from an older one must equal a fresh listing, whatever
 * was delivered, flagged or expunged in between.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

#include "imap/imap_private.h"
#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_mail.h"

#define OK(call)                                                                    \
	do {                                                                        \
		const char *err_ = NULL;                                            \
		if ((call) < 0)                                                     \
			fail_msg("%s failed: %s", #call, err_ != NULL ? err_ : "?"); \
	} while (0)
#define E (&err_)

/* ---- pure: merging and the cache -------------------------------------------------------- */

static struct imap_snapshot *snap_of(int64_t folder, uint64_t hms, const uint32_t *uids, size_t n)
{
	struct imap_snapshot *s = imap_snapshot_new(folder, 7, hms);

	for (size_t i = 0; i < n; i++)
		imap_snapshot_append(s, uids[i], 0, uids[i]); /* modseq = uid */
	return s;
}

static void test_catch_up_merge(void **state)
{
	static const uint32_t base_uids[] = { 1, 2, 3, 5, 8 };
	static const uint32_t expunged[] = { 2, 4, 8 }; /* 4 was never in base */
	static const struct imap_snapshot_change changes[] = {
		{ 3, STORE_FLAG_SEEN, 10 },                 /* newer: replaces */
		{ 5, STORE_FLAG_FLAGGED, 4 },               /* older than base's (5): base wins */
		{ 6, 0, 11 },                               /* missing from base: inserted in order */
		{ 9, STORE_FLAG_DRAFT | IMAP_VIEW_KEYWORDS, 12 }, /* new mail */
	};
	struct imap_snapshot *base = snap_of(1, 8, base_uids, 5);
	struct imap_snapshot *s = imap_snapshot_catch_up(base, 12, expunged, 3, changes, 4);
	static const uint32_t want_uids[] = { 1, 3, 5, 6, 9 };
	static const uint8_t want_flags[] = { 0, STORE_FLAG_SEEN, 0, 0, STORE_FLAG_DRAFT | IMAP_VIEW_KEYWORDS };
	static const uint64_t want_modseqs[] = { 1, 10, 5, 11, 12 };

	assert_int_equal(s->count, 5);
	assert_int_equal(s->highestmodseq, 12);
	assert_int_equal(s->folder_id, 1);
	assert_int_equal(s->uidvalidity, 7);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(s->uids[i], want_uids[i]);
		assert_int_equal(s->flags[i], want_flags[i]);
		assert_int_equal(s->modseqs[i], want_modseqs[i]);
	}
	assert_int_equal(base->count, 5); /* untouched */
	assert_int_equal(base->uids[1], 2);
	imap_snapshot_unref(&s);
	assert_null(s);
	/* nothing changed, everything expunged, an empty base */
	s = imap_snapshot_catch_up(base, 9, NULL, 0, NULL, 0);
	assert_int_equal(s->count, 5);
	imap_snapshot_unref(&s);
	s = imap_snapshot_catch_up(base, 9, base_uids, 5, NULL, 0);
	assert_int_equal(s->count, 0);
	struct imap_snapshot *empty = imap_snapshot_new(1, 7, 0);
	imap_snapshot_unref(&base);
	base = imap_snapshot_catch_up(empty, 3, NULL, 0, changes, 4);
	assert_int_equal(base->count, 4);
	assert_int_equal(base->uids[3], 9);
	imap_snapshot_unref(&s);
	imap_snapshot_unref(&empty);
	imap_snapshot_unref(&base);
}

static void test_cache_lru_and_budget(void **state)
{
	static const uint32_t uids[] = { 1, 2, 3 };
	struct imap_snapshot *a = snap_of(1, 5, uids, 3), *b = snap_of(2, 5, uids, 3), *c = snap_of(3, 5, uids, 3);
	size_t one = imap_snapshot_bytes(a) + 100, entries, bytes; /* an entry, with its name and bookkeeping */
	/* room for two entries, not three */
	struct imap_viewcache *vc = imap_viewcache_new(NULL, 2 * one);
	struct imap_snapshot *got;

	imap_viewcache_put(vc, 10, "INBOX", a);
	imap_viewcache_put(vc, 10, "Sent", b);
	got = imap_viewcache_get(vc, 10, "INBOX"); /* a is now the most recently used */
	assert_ptr_equal(got, a);
	assert_int_equal(a->refs, 3); /* ours, the cache's, got */
	imap_snapshot_unref(&got);
	imap_viewcache_put(vc, 10, "Drafts", c); /* evicts b, the least recently used */
	assert_null(imap_viewcache_get(vc, 10, "Sent"));
	assert_int_equal(b->refs, 1); /* still ours after eviction */
	imap_viewcache_stats(vc, &entries, &bytes);
	assert_int_equal(entries, 2);
	assert_true(bytes <= 2 * one);
	/* names are per address */
	assert_null(imap_viewcache_get(vc, 11, "INBOX"));
	/* a snapshot bigger than the whole budget is not kept */
	struct imap_viewcache *tiny = imap_viewcache_new(NULL, 16);
	imap_viewcache_put(tiny, 10, "INBOX", a);
	assert_null(imap_viewcache_get(tiny, 10, "INBOX"));
	imap_viewcache_free(tiny);
	imap_viewcache_free(vc);
	assert_int_equal(a->refs, 1);
	assert_int_equal(c->refs, 1);
	imap_snapshot_unref(&a);
	imap_snapshot_unref(&b);
	imap_snapshot_unref(&c);
}

static void test_cache_keeps_the_newest(void **state)
{
	static const uint32_t uids[] = { 1, 2 };
	struct imap_snapshot *old = snap_of(1, 5, uids, 2), *newer = snap_of(1, 9, uids, 2);
	struct imap_snapshot *other = snap_of(2, 1, uids, 1);
	struct imap_viewcache *vc = imap_viewcache_new(NULL, 1 << 20);
	struct imap_snapshot *got;

	imap_viewcache_put(vc, 10, "INBOX", newer);
	imap_viewcache_put(vc, 10, "INBOX", old); /* a slower SELECT finishing late: ignored */
	got = imap_viewcache_get(vc, 10, "INBOX");
	assert_ptr_equal(got, newer);
	imap_snapshot_unref(&got);
	/* the folder renamed: its one entry moves to the new name */
	imap_viewcache_put(vc, 10, "Old", newer);
	assert_null(imap_viewcache_get(vc, 10, "INBOX"));
	/* another folder under the name (deleted and recreated): replaces it */
	imap_viewcache_put(vc, 10, "Old", other);
	got = imap_viewcache_get(vc, 10, "Old");
	assert_ptr_equal(got, other);
	imap_snapshot_unref(&got);
	/* a new UIDVALIDITY of the same folder id replaces even a higher modseq */
	struct imap_snapshot *revalid = imap_snapshot_new(2, 8, 0);
	imap_viewcache_put(vc, 10, "Old", revalid);
	got = imap_viewcache_get(vc, 10, "Old");
	assert_ptr_equal(got, revalid);
	imap_snapshot_unref(&got);
	imap_viewcache_free(vc);
	imap_snapshot_unref(&old);
	imap_snapshot_unref(&newer);
	imap_snapshot_unref(&other);
	imap_snapshot_unref(&revalid);
}

/* A view on a shared snapshot copies it at its first change: the snapshot and other views never see it. */
static void test_view_copy_on_write(void **state)
{
	static const uint32_t uids[] = { 4, 5, 6 };
	struct imap_snapshot *s = snap_of(1, 6, uids, 3);
	struct imap_view *v1 = imap_view_new_shared(s, "INBOX", false);
	struct imap_view *v2 = imap_view_new_shared(s, "INBOX", true);

	assert_int_equal(s->refs, 3);
	assert_ptr_equal(v1->uids, s->uids);
	assert_int_equal(v1->count, 3);
	assert_int_equal(v1->uidnext, 7);
	assert_int_equal(imap_view_seq(v1, 5), 2);
	imap_view_set_flags(v1, 2, STORE_FLAG_SEEN, 20);
	assert_null(v1->shared);
	assert_int_equal(s->refs, 2);
	assert_int_equal(v1->flags[1], STORE_FLAG_SEEN);
	assert_int_equal(v1->modseqs[1], 20);
	assert_int_equal(s->flags[1], 0);
	assert_int_equal(v2->flags[1], 0);
	assert_int_equal(s->modseqs[1], 5);
	imap_view_append(v2, 9, STORE_FLAG_DRAFT, 21);
	assert_int_equal(v2->count, 4);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->refs, 1);
	imap_view_free(v1);
	imap_view_free(v2);
	/* freeing a view that still shares drops only its reference */
	struct imap_view *v3 = imap_view_new_shared(s, "INBOX", false);
	imap_view_free(v3);
	assert_int_equal(s->refs, 1);
	imap_snapshot_unref(&s);
}

/* ---- against a real store --------------------------------------------------------------- */

struct fixture {
	char *dir;
	struct store *s;
	int64_t addr;
	int64_t inbox;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *base = getenv("HERMOD_TEST_TMP");
	const char *err = NULL;
	struct store_folder_status fs;

	f->dir = xasprintf("%s/vcache-XXXXXX", base != NULL ? base : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	if (store_open(f->dir, &f->s, &err) < 0)
		fail_msg("store_open: %s", err);
	OK(store_domain_add(f->s, "example.org", NULL, PLAN_FREE, NULL, E));
	OK(store_address_add(f->s, "alice", "example.org", ADDRESS_MAILBOX, "$argon2id$x", &f->addr, E));
	assert_int_equal(store_folder_lookup(f->s, f->addr, "INBOX", &fs, &err), 1);
	f->inbox = fs.folder_id;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	testutil_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void deliver(struct fixture *f)
{
	static const char text[] = "Subject: x\r\n\r\nbody\r\n";
	struct store_delivery d = { 0 }, *dp = &d;
	const char *err = NULL;

	d.body = spool_new(f->dir);
	if (spool_write(d.body, text, sizeof(text) - 1, &err) < 0)
		fail_msg("spool_write: %s", err);
	d.address_ids = &f->addr;
	d.address_count = 1;
	d.internal_date = 1700000000;
	OK(store_deliver_batch(f->s, &dp, 1, E));
	assert_int_equal(d.result, 0);
	spool_free(d.body);
}

static struct store_folder_status lookup(struct fixture *f, const char *name)
{
	struct store_folder_status fs;
	const char *err = NULL;

	if (store_folder_lookup(f->s, f->addr, name, &fs, &err) != 1)
		fail_msg("lookup %s: %s", name, err ? err : "not found");
	return fs;
}

static struct imap_snapshot *load(struct fixture *f, const struct imap_snapshot *base, enum imap_snapshot_how want)
{
	struct store_folder_status fs = lookup(f, "INBOX");
	struct imap_snapshot *snap;
	enum imap_snapshot_how how;

	OK(imap_snapshot_load(f->s, base, &fs, &snap, &how, E));
	assert_int_equal(how, want);
	if (how == IMAP_SNAPSHOT_CACHED) {
		assert_null(snap);
		return NULL;
	}
	assert_int_equal(snap->highestmodseq, fs.highestmodseq);
	return snap;
}

static void assert_same(const struct imap_snapshot *a, const struct imap_snapshot *b)
{
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->highestmodseq, b->highestmodseq);
	assert_int_equal(a->uidvalidity, b->uidvalidity);
	for (uint32_t i = 0; i < a->count; i++) {
		assert_int_equal(a->uids[i], b->uids[i]);
		assert_int_equal(a->flags[i], b->flags[i]);
		assert_int_equal(a->modseqs[i], b->modseqs[i]);
	}
}

static void set_flags(struct fixture *f, uint32_t uid, enum store_flag_op op, uint32_t flags, const char *kw)
{
	struct store_flag_change ch = { .uid = uid };

	OK(store_mail_set_flags(f->s, f->inbox, op, flags, kw, 0, &ch, 1, E));
}

static void test_load_listed_cached_caught_up(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 5; i++)
		deliver(f);
	struct imap_snapshot *s1 = load(f, NULL, IMAP_SNAPSHOT_LISTED);
	assert_int_equal(s1->count, 5);
	assert_int_equal(s1->cap, 5); /* no room left over from the doubling: it may be kept long */
	assert_null(load(f, s1, IMAP_SNAPSHOT_CACHED)); /* nothing changed: the snapshot is exact */
	/* a flag change with a keyword, an expunge and two deliveries */
	set_flags(f, 2, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "Work");
	uint32_t gone = 3;
	OK(store_mail_expunge(f->s, f->inbox, &gone, 1, NULL, NULL, E));
	deliver(f);
	deliver(f);
	struct imap_snapshot *s2 = load(f, s1, IMAP_SNAPSHOT_CAUGHT_UP);
	struct imap_snapshot *fresh = load(f, NULL, IMAP_SNAPSHOT_LISTED);
	assert_same(s2, fresh);
	assert_int_equal(s2->count, 6);
	assert_int_equal(s2->flags[1], STORE_FLAG_SEEN | IMAP_VIEW_KEYWORDS);
	assert_int_equal(s1->count, 5); /* the old snapshot is unchanged */
	/* another folder's snapshot, or one from another UIDVALIDITY, is not used */
	struct imap_snapshot *alien = imap_snapshot_new(f->inbox + 1000, s1->uidvalidity, 1);
	imap_snapshot_unref(&fresh);
	fresh = load(f, alien, IMAP_SNAPSHOT_LISTED);
	imap_snapshot_unref(&fresh);
	struct imap_snapshot *revalid = imap_snapshot_new(f->inbox, s1->uidvalidity + 1, 1);
	fresh = load(f, revalid, IMAP_SNAPSHOT_LISTED);
	assert_same(s2, fresh);
	imap_snapshot_unref(&alien);
	imap_snapshot_unref(&revalid);
	imap_snapshot_unref(&fresh);
	imap_snapshot_unref(&s1);
	imap_snapshot_unref(&s2);
}

/* Random changes between loads: every caught-up snapshot equals a fresh listing. */
static void test_caught_up_equals_listing_random(void **state)
{
	struct fixture *f = *state;
	unsigned seed = 12345;
	uint32_t next_uid = 1;

	for (int i = 0; i < 20; i++, next_uid++)
		deliver(f);
	struct imap_snapshot *snap = load(f, NULL, IMAP_SNAPSHOT_LISTED);
	for (int round = 0; round < 40; round++) {
		int ops = rand_r(&seed) % 4;
		for (int k = 0; k < ops; k++) {
			uint32_t uid = 1 + (uint32_t)rand_r(&seed) % next_uid;
			switch (rand_r(&seed) % 4) {
			case 0:
				deliver(f);
				next_uid++;
				break;
			case 1:
				OK(store_mail_expunge(f->s, f->inbox, &uid, 1, NULL, NULL, E));
				break;
			case 2:
				set_flags(f, uid, STORE_FLAGS_SET, (uint32_t)rand_r(&seed) & 0x1f, NULL);
				break;
			default:
				set_flags(f, uid, rand_r(&seed) % 2 ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE, 0, "kw");
				break;
			}
		}
		struct imap_snapshot *fresh = load(f, NULL, IMAP_SNAPSHOT_LISTED);
		bool same = fresh->highestmodseq == snap->highestmodseq;
		struct imap_snapshot *next = load(f, snap, same ? IMAP_SNAPSHOT_CACHED : IMAP_SNAPSHOT_CAUGHT_UP);
		if (next != NULL) {
			assert_same(next, fresh);
			imap_snapshot_unref(&snap);
			snap = next;
		} else {
			assert_same(snap, fresh);
		}
		imap_snapshot_unref(&fresh);
	}
	imap_snapshot_unref(&snap);
}

/* RFC 7162 3.2.5.2: how far the client's sequence-to-UID map still holds. */
static void test_qresync_match(void **state)
{
	static const struct {
		const char *seqs, *uids;
		uint32_t want;
	} cases[] = {
		{ "1:4", "1,5:7", 7 },     /* all four pairs hold */
		{ "1:2", "1,3", 1 },       /* seq 2 was UID 3, now 5: stops there */
		{ "2", "1", 0 },           /* the first pair already differs */
		{ "1,3", "1,6", 6 },       /* pairs need not be consecutive */
		{ "1:6", "1,5:7,9,10", 10 },
		{ "1:7", "1,5:7,9,10,11", 10 }, /* a seq past the view ends the walk */
		{ "1:*", "1:*", 0 },       /* "*" names nothing the client could map */
		{ "1:3", "1,5", 5 },       /* fewer UIDs than sequence numbers */
	};
	struct imap_view *v = imap_view_new(1, "INBOX", false);
	static const uint32_t uids[] = { 1, 5, 6, 7, 9, 10 };

	(void)state;
	for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++)
		imap_view_append(v, uids[i], 0, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_seqset a, b;
		const char *err;
		assert_int_equal(imap_parse_seqset(cases[i].seqs, strlen(cases[i].seqs), &a, &err), 0);
		assert_int_equal(imap_parse_seqset(cases[i].uids, strlen(cases[i].uids), &b, &err), 0);
		uint32_t got = imap_view_qresync_match(v, &a, &b);
		if (got != cases[i].want)
			fail_msg("(%s %s): %u, expected %u", cases[i].seqs, cases[i].uids, got, cases[i].want);
		imap_seqset_free(&a);
		imap_seqset_free(&b);
	}
	/* \Recent runs: adjacent ones merge */
	imap_view_add_recent(v, 5, 7);
	imap_view_add_recent(v, 7, 8);
	imap_view_add_recent(v, 8, 8);
	imap_view_add_recent(v, 10, 11);
	assert_int_equal(v->recent_count, 2);
	assert_int_equal(v->recent[0].lo, 5);
	assert_int_equal(v->recent[0].hi, 8);
	imap_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catch_up_merge),
		cmocka_unit_test(test_cache_lru_and_budget),
		cmocka_unit_test(test_cache_keeps_the_newest),
		cmocka_unit_test(test_view_copy_on_write),
		cmocka_unit_test(test_qresync_match),
		cmocka_unit_test_setup_teardown(test_load_listed_cached_caught_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caught_up_equals_listing_random, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
