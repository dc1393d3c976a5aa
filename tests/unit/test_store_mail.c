/*
 * test_store_mail: folders, messages, flags, expunge, copy/move, append,
 * bodies, FTS and quota (store_mail.h), and store_async_call/watch, against
 * a real temporary data directory.
 */
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_async.h"
#include "store/store_mail.h"
#include "store/store_private.h"

struct fixture {
	char *dir;
	struct store *s;
	int64_t addr;  /* alice@example.org */
	int64_t inbox;
};

static const struct plan_cfg plans[CONFIG_PLAN_COUNT] = {
	{ "free", 1000000, 10000000, 10, 500 },
	{ "starter", 10000000, 50000000, 100, 500 },
	{ "pro", 0, 50000000, 100, 1440 },
};

#define E (&err_)
#define OK(call)                                                                    \
	do {                                                                        \
		const char *err_ = NULL;                                            \
		if ((call) < 0)                                                     \
			fail_msg("%s failed: %s", #call, err_ != NULL ? err_ : "?"); \
	} while (0)
/* call must fail with an error containing text */
#define REFUSED(call, text)                                                                 \
	do {                                                                                \
		const char *err_ = NULL;                                                    \
		if ((call) >= 0)                                                            \
			fail_msg("%s succeeded, expected \"%s\"", #call, text);             \
		if (err_ == NULL || strstr(err_, text) == NULL)                             \
			fail_msg("%s: error \"%s\", expected \"%s\"", #call, err_ ? err_ : "(none)", text); \
	} while (0)

static char *make_tmpdir(void)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char *tmpl = xasprintf("%s/smail-XXXXXX", base != NULL ? base : "/tmp");

	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static int64_t folder_id(struct store *s, int64_t addr, const char *name)
{
	struct store_folder f;
	const char *err = NULL;

	if (store_folder_get(s, addr, name, &f, &err) != 1)
		fail_msg("folder %s: %s", name, err != NULL ? err : "not found");
	return f.id;
}

static void populate(struct fixture *f)
{
	OK(store_domain_add(f->s, "example.org", NULL, PLAN_FREE, NULL, E));
	OK(store_address_add(f->s, "alice", "example.org", ADDRESS_MAILBOX, "$argon2id$x", &f->addr, E));
	f->inbox = folder_id(f->s, f->addr, "INBOX");
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *err = NULL;

	f->dir = make_tmpdir();
	if (store_open(f->dir, &f->s, &err) < 0)
		fail_msg("store_open: %s", err);
	populate(f);
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

static int64_t q1(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(s->db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t qf(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t qf(struct store *s, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return q1(s, sql);
}

static struct spool *spool_of(const char *dir, const char *text, size_t len)
{
	struct spool *sp = spool_new(dir);
	const char *err = NULL;

	if (spool_write(sp, text, len, &err) < 0)
		fail_msg("spool_write: %s", err);
	return sp;
}

/* Delivers text to the INBOX of addr, like SMTP does. */
static void deliver(struct fixture *f, int64_t addr, const char *text)
{
	struct store_delivery d = { 0 }, *dp = &d;

	d.body = spool_of(f->dir, text, strlen(text));
	d.address_ids = &addr;
	d.address_count = 1;
	d.internal_date = 1700000000;
	OK(store_deliver_batch(f->s, &dp, 1, E));
	assert_int_equal(d.result, 0);
	spool_free(d.body);
}

static uint32_t append(struct fixture *f, int64_t folder, const char *text, uint32_t flags, const char *kw)
{
	uint32_t uid = 0;

	OK(store_mail_append(f->s, folder, spool_of(f->dir, text, strlen(text)), flags, kw, 1600000000, plans, &uid, E));
	return uid;
}

/* ---- listing ---- */

struct mail_list {
	struct store_mail *v;
	size_t n;
	size_t stop_after; /* 0: never */
};

static int list_cb(const struct store_mail *m, void *arg)
{
	struct mail_list *l = arg;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = *m;
	return l->stop_after != 0 && l->n >= l->stop_after ? 1 : 0;
}

static struct mail_list list(struct store *s, int64_t folder, uint32_t uid_min, uint64_t since)
{
	struct mail_list l = { 0 };

	OK(store_mail_list(s, folder, uid_min, since, list_cb, &l, E));
	return l;
}

struct uids {
	uint32_t v[64];
	size_t n;
};

static void uid_cb(uint32_t uid, void *arg)
{
	struct uids *u = arg;

	assert_true(u->n < 64);
	u->v[u->n++] = uid;
}

static void body_cb(int64_t body_id, void *arg)
{
	uid_cb((uint32_t)body_id, arg);
}

static struct store_folder_status status(struct store *s, int64_t addr, const char *name)
{
	struct store_folder_status st;
	const char *err = NULL;

	if (store_folder_status(s, addr, name, &st, &err) != 1)
		fail_msg("status %s: %s", name, err ? err : "not found");
	return st;
}

static uint64_t hms(struct store *s, int64_t addr, const char *name)
{
	return status(s, addr, name).highestmodseq;
}

/* ---- schema ---- */

static void test_migration_from_v1(void **state)
{
	char *dir = make_tmpdir();
	struct fixture f = { .dir = dir };
	const char *err = NULL;
	struct mail_list l;
	struct uids u = { 0 };

	if (store_open_at_version(dir, 1, &f.s, &err) < 0)
		fail_msg("open v1: %s", err);
	assert_int_equal(store_schema_version(f.s), 1);
	assert_int_equal(q1(f.s, "SELECT count(*) FROM sqlite_master WHERE name IN ('body_meta', 'body_fts')"), 0);
	/* rows as version 1 wrote them */
	OK(store_exec(f.s, "INSERT INTO orgs (name, created_at) VALUES ('default', 0);"
			   "INSERT INTO domains (name, org_id, created_at) VALUES ('example.org', 1, 0);"
			   "INSERT INTO addresses (domain_id, local, kind, password_hash, created_at)"
			   " VALUES (1, 'alice', 'mailbox', 'h', 0);"
			   "INSERT INTO folders (address_id, name, uidvalidity) VALUES (1, 'INBOX', 4000000000),"
			   " (1, 'Sent', 4000000000)", E));
	f.addr = 1;
	f.inbox = folder_id(f.s, f.addr, "INBOX");
	deliver(&f, f.addr, "Subject: old\r\n\r\nwritten by version one\r\n");
	store_close(f.s);

	/* an upgraded hermod opens it */
	if (store_open(dir, &f.s, &err) < 0)
		fail_msg("upgrade: %s", err);
	assert_int_equal(store_schema_version(f.s), store_schema_latest());
	assert_int_equal(q1(f.s, "SELECT count(*) FROM sqlite_master WHERE name IN ('body_meta', 'body_fts',"
				 " 'mail_folder_modseq', 'expunged_folder_modseq', 'bodies_fts_delete')"), 5);
	assert_int_equal(q1(f.s, "SELECT fts_indexed FROM bodies"), 0);
	l = list(f.s, f.inbox, 0, 0);
	assert_int_equal(l.n, 1);
	OK(store_fts_unindexed(f.s, f.inbox, body_cb, &u, E));
	assert_int_equal(u.n, 1);
	OK(store_fts_index(f.s, l.v[0].body_id, "written by version one", 22, E));
	u.n = 0;
	OK(store_fts_candidates(f.s, f.inbox, "version", uid_cb, &u, E));
	assert_int_equal(u.n, 1);
	/* and the new functions work on the old data */
	assert_int_equal(append(&f, f.inbox, "new\r\n", 0, NULL), 2);
	OK(store_folder_create(f.s, f.addr, "New", NULL, E));
	assert_int_equal(status(f.s, f.addr, "New").uidvalidity, 4000000001u);
	free(l.v);
	store_close(f.s);
	testutil_rmtree(dir);
	free(dir);
}

/* ---- logins and quota ---- */

static void test_login_get(void **state)
{
	struct fixture *f = *state;
	struct store_login l;
	const char *err = NULL;

	assert_int_equal(store_login_get(f->s, "Alice@EXAMPLE.org", &l, &err), 1);
	assert_int_equal(l.address_id, f->addr);
	assert_string_equal(l.address, "alice@example.org");
	assert_int_equal(l.kind, ADDRESS_MAILBOX);
	assert_int_equal(l.plan, PLAN_FREE);
	assert_string_equal(l.password_hash, "$argon2id$x");
	OK(store_address_add(f->s, "any", "example.org", ADDRESS_CATCHALL, NULL, NULL, E));
	assert_int_equal(store_login_get(f->s, "any@example.org", &l, &err), 1);
	assert_int_equal(l.kind, ADDRESS_CATCHALL);
	assert_string_equal(l.password_hash, "");
	/* client input that is no address is simply not found */
	const char *bad[] = { "bob@example.org", "alice@example.com", "alice", "@example.org", "alice@", "", "a@b@" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_login_get(f->s, bad[i], &l, &err), 0);
}

static void test_quota_get(void **state)
{
	struct fixture *f = *state;
	uint64_t used, limit;
	uint32_t n;

	deliver(f, f->addr, "12345678\r\n");
	OK(store_quota_get(f->s, f->addr, plans, &used, &limit, &n, E));
	assert_int_equal(used, 10);
	assert_int_equal(limit, 1000000);
	assert_int_equal(n, 1);
	OK(store_address_set_quota(f->s, "alice", "example.org", 5000, E));
	OK(store_quota_get(f->s, f->addr, plans, &used, &limit, &n, E));
	assert_int_equal(limit, 5000);
	REFUSED(store_quota_get(f->s, 9999, plans, &used, &limit, &n, E), "does not exist");
}

/* ---- folders ---- */

static void test_folder_create(void **state)
{
	struct fixture *f = *state;
	struct store_folder_status st;
	int64_t id = 0, id2 = 0;
	const char *err = NULL;
	char longname[300];

	OK(store_folder_create(f->s, f->addr, "Lists/hermod/dev", &id, E));
	assert_true(id > 0);
	assert_int_equal(folder_id(f->s, f->addr, "Lists/hermod/dev"), id);
	folder_id(f->s, f->addr, "Lists"); /* parents made as needed */
	folder_id(f->s, f->addr, "Lists/hermod");
	REFUSED(store_folder_create(f->s, f->addr, "Lists/hermod", NULL, E), "already exists");
	REFUSED(store_folder_create(f->s, f->addr, "inbox", NULL, E), "INBOX already exists");
	OK(store_folder_create(f->s, f->addr, "inbox/Sub", &id2, E));
	assert_int_equal(folder_id(f->s, f->addr, "INBOX/Sub"), id2); /* INBOX's level is case-insensitive */
	REFUSED(store_folder_create(f->s, f->addr, "", NULL, E), "cannot be empty");
	REFUSED(store_folder_create(f->s, f->addr, "/a", NULL, E), "empty level");
	REFUSED(store_folder_create(f->s, f->addr, "a/", NULL, E), "empty level");
	REFUSED(store_folder_create(f->s, f->addr, "a//b", NULL, E), "empty level");
	REFUSED(store_folder_create(f->s, f->addr, "a\tb", NULL, E), "control characters");
	REFUSED(store_folder_create(f->s, f->addr, "caf\xc3", NULL, E), "not valid UTF-8");
	REFUSED(store_folder_create(f->s, f->addr, "\xed\xa0\x80", NULL, E), "not valid UTF-8");
	memset(longname, 'x', 256);
	longname[256] = '\0';
	REFUSED(store_folder_create(f->s, f->addr, longname, NULL, E), "too long");
	REFUSED(store_folder_create(f->s, 9999, "x", NULL, E), "does not exist");
	OK(store_folder_create(f->s, f->addr, "Caf\xc3\xa9 & 100%_", NULL, E));
	/* a new folder is empty with its own UIDVALIDITY */
	assert_int_equal(store_folder_status(f->s, f->addr, "Caf\xc3\xa9 & 100%_", &st, &err), 1);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 1);
	assert_true(st.uidvalidity > status(f->s, f->addr, "INBOX").uidvalidity);
	assert_int_equal(store_folder_status(f->s, f->addr, "nope", &st, &err), 0);
}

static void test_folder_delete(void **state)
{
	struct fixture *f = *state;
	struct store_folder_status st;
	int64_t id;
	uint32_t v1;
	const char *err = NULL;

	OK(store_folder_create(f->s, f->addr, "Old/Child", NULL, E));
	id = folder_id(f->s, f->addr, "Old/Child");
	v1 = status(f->s, f->addr, "Old/Child").uidvalidity;
	append(f, id, "one\r\n", 0, NULL);
	append(f, id, "two\r\n", 0, NULL);
	assert_int_equal(qf(f->s, "SELECT message_count FROM addresses WHERE id = %lld", (long long)f->addr), 2);
	REFUSED(store_folder_delete(f->s, f->addr, "INBOX", E), "INBOX cannot be deleted");
	REFUSED(store_folder_delete(f->s, f->addr, "inbox", E), "INBOX cannot be deleted");
	REFUSED(store_folder_delete(f->s, f->addr, "Old", E), "has subfolders");
	REFUSED(store_folder_delete(f->s, f->addr, "Nope", E), "does not exist");
	OK(store_folder_delete(f->s, f->addr, "Old/Child", E));
	assert_int_equal(store_folder_status(f->s, f->addr, "Old/Child", &st, &err), 0);
	/* its mail, bodies and usage went with it */
	assert_int_equal(qf(f->s, "SELECT count(*) FROM mail WHERE folder_id = %lld", (long long)id), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 0);
	assert_int_equal(qf(f->s, "SELECT message_count + used_bytes FROM addresses WHERE id = %lld", (long long)f->addr), 0);
	OK(store_folder_delete(f->s, f->addr, "Old", E));
	/* the name comes back with a new UIDVALIDITY (RFC 3501 2.3.1.1) */
	OK(store_folder_create(f->s, f->addr, "Old/Child", NULL, E));
	assert_true(status(f->s, f->addr, "Old/Child").uidvalidity > v1);
}

static void test_folder_rename(void **state)
{
	struct fixture *f = *state;
	struct store_folder_status st;
	struct uids u = { 0 };
	struct mail_list l;
	int64_t a, ab, renamed;
	const char *err = NULL;
	uint32_t inbox_next;

	OK(store_folder_create(f->s, f->addr, "A/b", NULL, E));
	a = folder_id(f->s, f->addr, "A");
	ab = folder_id(f->s, f->addr, "A/b");
	OK(store_folder_create(f->s, f->addr, "A-sibling", NULL, E));
	OK(store_folder_rename(f->s, f->addr, "A", "X/Y", E));
	assert_int_equal(folder_id(f->s, f->addr, "X/Y"), a);
	assert_int_equal(folder_id(f->s, f->addr, "X/Y/b"), ab);
	folder_id(f->s, f->addr, "X");
	folder_id(f->s, f->addr, "A-sibling"); /* a prefix, not a child: untouched */
	assert_int_equal(store_folder_status(f->s, f->addr, "A", &st, &err), 0);
	REFUSED(store_folder_rename(f->s, f->addr, "X/Y", "X/Y/b/c", E), "into itself");
	REFUSED(store_folder_rename(f->s, f->addr, "X/Y", "Sent", E), "already exists");
	REFUSED(store_folder_rename(f->s, f->addr, "Nope", "Z", E), "does not exist");
	REFUSED(store_folder_rename(f->s, f->addr, "X/Y", "bad//name", E), "empty level");

	/* RFC 3501 6.3.5: INBOX's messages move, INBOX stays, empty; its children stay */
	deliver(f, f->addr, "first\r\n");
	deliver(f, f->addr, "second\r\n");
	OK(store_folder_create(f->s, f->addr, "INBOX/kept", NULL, E));
	inbox_next = status(f->s, f->addr, "INBOX").uidnext;
	uint64_t before = hms(f->s, f->addr, "INBOX");
	OK(store_folder_rename(f->s, f->addr, "inbox", "Old mail", E));
	renamed = folder_id(f->s, f->addr, "Old mail");
	st = status(f->s, f->addr, "INBOX");
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, inbox_next);
	assert_int_equal(st.highestmodseq, before + 1);
	folder_id(f->s, f->addr, "INBOX/kept");
	l = list(f->s, renamed, 0, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].uid, 1);
	assert_int_equal(l.v[1].uid, 2);
	assert_true(status(f->s, f->addr, "Old mail").uidnext >= inbox_next);
	OK(store_mail_expunged_since(f->s, f->inbox, before, uid_cb, &u, E));
	assert_int_equal(u.n, 2);
	free(l.v);
	/* new mail still lands in INBOX, with UIDs after the old ones */
	deliver(f, f->addr, "third\r\n");
	l = list(f->s, f->inbox, 0, 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].uid, inbox_next);
	free(l.v);
}

struct folder_names {
	char names[32][256];
	bool subscribed[32];
	size_t n;
};

static void names_cb(const struct store_folder *fo, bool subscribed, void *arg)
{
	struct folder_names *fn = arg;

	assert_true(fn->n < 32);
	snprintf(fn->names[fn->n], sizeof(fn->names[0]), "%s", fo->name);
	fn->subscribed[fn->n++] = subscribed;
}

static void test_subscribe_list_status(void **state)
{
	struct fixture *f = *state;
	struct folder_names fn = { 0 };
	struct store_folder_status st;
	struct store_flag_change ch[2] = { { .uid = 1 }, { .uid = 2 } };

	OK(store_folder_create(f->s, f->addr, "Zeta", NULL, E));
	OK(store_folder_subscribe(f->s, f->addr, "Junk", false, E));
	OK(store_folder_subscribe(f->s, f->addr, "Zeta", true, E));
	REFUSED(store_folder_subscribe(f->s, f->addr, "Nope", true, E), "does not exist");
	OK(store_folder_list_all(f->s, f->addr, names_cb, &fn, E));
	const char *want[] = { "Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash", "Zeta" };
	assert_int_equal(fn.n, 7);
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(fn.names[i], want[i]);
		assert_int_equal(fn.subscribed[i], strcmp(want[i], "Junk") != 0);
	}
	deliver(f, f->addr, "a\r\n");
	deliver(f, f->addr, "bb\r\n");
	deliver(f, f->addr, "ccc\r\n");
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN | STORE_FLAG_DELETED, NULL, 0, ch, 1, E));
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, ch + 1, 1, E));
	st = status(f->s, f->addr, "inbox");
	assert_int_equal(st.folder_id, f->inbox);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.deleted, 2);
	assert_int_equal(st.size, 3 + 4 + 5);
	assert_int_equal(st.uidnext, 4);
}

/* ---- flags and modseq ---- */

static void test_modseq_progression(void **state)
{
	struct fixture *f = *state;
	struct store_flag_change ch[3] = { { .uid = 1 }, { .uid = 2 }, { .uid = 3 } };
	struct mail_list l;
	uint64_t m0, m1;

	deliver(f, f->addr, "one\r\n");
	deliver(f, f->addr, "two\r\n");
	deliver(f, f->addr, "three\r\n");
	l = list(f->s, f->inbox, 0, 0);
	assert_int_equal(l.n, 3);
	assert_true(l.v[0].modseq < l.v[1].modseq && l.v[1].modseq < l.v[2].modseq);
	m0 = hms(f->s, f->addr, "INBOX");
	assert_int_equal(m0, l.v[2].modseq);
	free(l.v);

	/* one STORE: one new modseq shared by every changed message */
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, ch, 2, E));
	m1 = hms(f->s, f->addr, "INBOX");
	assert_int_equal(m1, m0 + 1);
	assert_true(ch[0].changed && ch[1].changed);
	assert_int_equal(ch[0].modseq, m1);
	assert_int_equal(ch[1].modseq, m1);
	assert_int_equal(ch[0].flags, STORE_FLAG_SEEN);
	/* CHANGEDSINCE: only what that STORE touched */
	l = list(f->s, f->inbox, 0, m0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].uid, 1);
	assert_int_equal(l.v[1].uid, 2);
	free(l.v);
	l = list(f->s, f->inbox, 2, m0);
	assert_int_equal(l.n, 1);
	free(l.v);
	/* a STORE that changes nothing takes no modseq */
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, ch, 2, E));
	assert_false(ch[0].changed);
	assert_int_equal(ch[0].modseq, m1);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m1);
	/* SET and REMOVE */
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_SET, STORE_FLAG_FLAGGED | STORE_FLAG_DRAFT, NULL, 0, ch, 3, E));
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m1 + 1);
	assert_int_equal(ch[2].flags, STORE_FLAG_FLAGGED | STORE_FLAG_DRAFT);
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_REMOVE, STORE_FLAG_DRAFT, NULL, 0, ch, 3, E));
	assert_int_equal(ch[1].flags, STORE_FLAG_FLAGGED);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m1 + 2);
	/* stop from the callback */
	struct mail_list stop = { .stop_after = 2 };
	OK(store_mail_list(f->s, f->inbox, 0, 0, list_cb, &stop, E));
	assert_int_equal(stop.n, 2);
	free(stop.v);
	/* a missing folder */
	REFUSED(store_mail_set_flags(f->s, 9999, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, ch, 1, E), "no longer exists");
}

static void test_unchangedsince(void **state)
{
	struct fixture *f = *state;
	struct store_flag_change ch[3] = { { .uid = 1 }, { .uid = 2 }, { .uid = 77 } };
	uint64_t m;

	deliver(f, f->addr, "one\r\n");
	deliver(f, f->addr, "two\r\n");
	/* message 2 changes after the client read modseq m */
	m = hms(f->s, f->addr, "INBOX");
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, NULL, 0, ch + 1, 1, E));
	/* RFC 7162 3.1.3: UNCHANGEDSINCE m: 1 passes, 2 fails (MODIFIED), 77 is gone */
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, m, ch, 3, E));
	assert_true(ch[0].changed);
	assert_false(ch[0].refused);
	assert_int_equal(ch[0].flags, STORE_FLAG_SEEN);
	assert_true(ch[1].refused);
	assert_false(ch[1].changed);
	assert_int_equal(ch[1].flags, STORE_FLAG_FLAGGED); /* untouched */
	assert_int_equal(ch[1].modseq, m + 1);
	assert_true(ch[2].missing);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m + 2);
	/* equal modseq passes (the test is "greater than") */
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_ANSWERED, NULL, m + 1, ch + 1, 1, E));
	assert_true(ch[1].changed);
}

struct view_rows {
	uint32_t uid[8], flags[8];
	uint64_t modseq[8];
	bool kw[8];
	size_t n;
};

static void view_row(uint32_t uid, uint32_t flags, uint64_t modseq, bool has_keywords, void *arg)
{
	struct view_rows *v = arg;

	if (v->n < 8) {
		v->uid[v->n] = uid;
		v->flags[v->n] = flags;
		v->modseq[v->n] = modseq;
		v->kw[v->n] = has_keywords;
	}
	v->n++;
}

/* The SELECT listing (covering index) agrees with the full listing. */
static void test_list_view(void **state)
{
	struct fixture *f = *state;
	struct store_flag_change ch[1] = { { .uid = 2 } };
	struct view_rows v = { 0 };

	for (int i = 0; i < 3; i++)
		deliver(f, f->addr, "view\r\n");
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "Work", 0, ch, 1, E));
	OK(store_mail_list_view(f->s, f->inbox, view_row, &v, E));
	assert_int_equal(v.n, 3);
	struct mail_list l = list(f->s, f->inbox, 0, 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(v.uid[i], l.v[i].uid);
		assert_int_equal(v.flags[i], l.v[i].flags);
		assert_int_equal(v.modseq[i], l.v[i].modseq);
		assert_int_equal(v.kw[i], l.v[i].keywords[0] != '\0');
	}
	assert_true(v.kw[1] && !v.kw[0] && !v.kw[2]);
	assert_int_equal(v.flags[1], STORE_FLAG_SEEN);
	free(l.v);
}

static void test_keywords(void **state)
{
	struct fixture *f = *state;
	struct store_flag_change ch[1] = { { .uid = 1 } };
	char big[STORE_KEYWORDS_MAX + 10];
	uint64_t m;

	deliver(f, f->addr, "one\r\n");
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, 0, "$Forwarded Work  work", 0, ch, 1, E));
	assert_string_equal(ch[0].keywords, "$Forwarded Work");
	m = ch[0].modseq;
	/* set semantics, case-insensitive: adding WORK changes nothing */
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, 0, "WORK $forwarded", 0, ch, 1, E));
	assert_false(ch[0].changed);
	assert_string_equal(ch[0].keywords, "$Forwarded Work");
	assert_int_equal(ch[0].modseq, m);
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, 0, "Later", 0, ch, 1, E));
	assert_string_equal(ch[0].keywords, "$Forwarded Work Later");
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_REMOVE, 0, "work nothere", 0, ch, 1, E));
	assert_string_equal(ch[0].keywords, "$Forwarded Later");
	/* SET to the same set in another case is no change */
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_SET, STORE_FLAG_SEEN, "later $FORWARDED", 0, ch, 1, E));
	assert_string_equal(ch[0].keywords, "$Forwarded Later");
	assert_int_equal(ch[0].flags, STORE_FLAG_SEEN);
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_SET, STORE_FLAG_SEEN, "", 0, ch, 1, E));
	assert_string_equal(ch[0].keywords, "");
	/* bounded */
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	REFUSED(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, 0, big, 0, ch, 1, E), "too many keywords");
	memset(big, 'k', 600);
	big[600] = '\0';
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, 0, big, 0, ch, 1, E));
	big[0] = 'j';
	m = hms(f->s, f->addr, "INBOX");
	REFUSED(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, 0, big, 0, ch, 1, E), "too many keywords");
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m); /* rolled back */
	REFUSED(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, 0, "a\x01" "b", 0, ch, 1, E), "control");
}

/* ---- expunge ---- */

static void test_expunge(void **state)
{
	struct fixture *f = *state;
	struct store_flag_change ch[2] = { { .uid = 2 }, { .uid = 4 } };
	struct uids u = { 0 }, v = { 0 };
	struct mail_list l;
	uint64_t m;

	for (int i = 0; i < 5; i++)
		deliver(f, f->addr, "message\r\n");
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, ch, 2, E));
	m = hms(f->s, f->addr, "INBOX");
	OK(store_mail_expunge(f->s, f->inbox, NULL, 0, uid_cb, &u, E));
	assert_int_equal(u.n, 2);
	assert_int_equal(u.v[0], 2);
	assert_int_equal(u.v[1], 4);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m + 1);
	OK(store_mail_expunged_since(f->s, f->inbox, m, uid_cb, &v, E));
	assert_int_equal(v.n, 2);
	v.n = 0;
	OK(store_mail_expunged_since(f->s, f->inbox, m + 1, uid_cb, &v, E));
	assert_int_equal(v.n, 0);
	/* explicit UIDs: unsorted, duplicated, some gone: ascending, each once */
	u.n = 0;
	uint32_t some[] = { 5, 2, 1, 5, 99 };
	OK(store_mail_expunge(f->s, f->inbox, some, 5, uid_cb, &u, E));
	assert_int_equal(u.n, 2);
	assert_int_equal(u.v[0], 1);
	assert_int_equal(u.v[1], 5);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m + 2);
	l = list(f->s, f->inbox, 0, 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].uid, 3);
	free(l.v);
	/* nothing to expunge: no modseq */
	u.n = 0;
	OK(store_mail_expunge(f->s, f->inbox, NULL, 0, uid_cb, &u, E));
	assert_int_equal(u.n, 0);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), m + 2);
	/* usage and bodies follow */
	assert_int_equal(qf(f->s, "SELECT message_count FROM addresses WHERE id = %lld", (long long)f->addr), 1);
	assert_int_equal(qf(f->s, "SELECT used_bytes FROM addresses WHERE id = %lld", (long long)f->addr), 9);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 1);
	REFUSED(store_mail_expunge(f->s, 9999, NULL, 0, NULL, NULL, E), "no longer exists");
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A big body has a segment of its own: expunging its last copy unlinks it. */
static void test_expunge_frees_everything(void **state)
{
	struct fixture *f = *state;
	size_t big = 3 * SPOOL_MEMORY_MAX_BYTES, segs;
	char *text = xmalloc(big + 1), *msgdir = xasprintf("%s/msg", f->dir);
	struct buf b;
	uint32_t uid, dest[1];
	int64_t body, trash = folder_id(f->s, f->addr, "Trash");

	memset(text, 'z', big);
	text[big] = '\0';
	deliver(f, f->addr, "small\r\n");
	segs = count_files(msgdir);
	uid = append(f, f->inbox, text, 0, NULL);
	assert_int_equal(count_files(msgdir), segs + 1);
	body = qf(f->s, "SELECT body_id FROM mail WHERE folder_id = %lld AND uid = %u", (long long)f->inbox, uid);
	OK(store_body_meta_put(f->s, body, "structure", 9, E));
	OK(store_fts_index(f->s, body, "zzzz text", 9, E));
	OK(store_mail_copy(f->s, f->inbox, &uid, 1, trash, false, plans, dest, NULL, E));
	assert_int_equal(qf(f->s, "SELECT refcount FROM bodies WHERE id = %lld", (long long)body), 2);
	OK(store_mail_expunge(f->s, f->inbox, &uid, 1, NULL, NULL, E));
	/* one copy left: all still there */
	assert_int_equal(count_files(msgdir), segs + 1);
	buf_init(&b, 0);
	assert_int_equal(store_body_meta_get(f->s, body, &b, NULL), 1);
	OK(store_mail_expunge(f->s, trash, dest, 1, NULL, NULL, E));
	assert_int_equal(count_files(msgdir), segs);
	assert_int_equal(qf(f->s, "SELECT count(*) FROM bodies WHERE id = %lld", (long long)body), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_meta"), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_fts"), 0);
	buf_free(&b);
	free(text);
	free(msgdir);
}

/* ---- copy and move ---- */

static void test_copy_move(void **state)
{
	struct fixture *f = *state;
	int64_t arch = folder_id(f->s, f->addr, "Archive"), trash = folder_id(f->s, f->addr, "Trash");
	uint32_t uids[] = { 1, 2, 7, 3 }, dest[4], uidv = 0;
	struct store_flag_change ch[1] = { { .uid = 2 } };
	struct mail_list l;
	struct uids u = { 0 };
	uint64_t arch_m, inbox_m;

	for (int i = 0; i < 3; i++)
		deliver(f, f->addr, "copied\r\n");
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, "$Work", 0, ch, 1, E));
	append(f, arch, "already there\r\n", 0, NULL); /* Archive's UIDNEXT is 2 */
	arch_m = hms(f->s, f->addr, "Archive");
	OK(store_mail_copy(f->s, f->inbox, uids, 4, arch, false, plans, dest, &uidv, E));
	/* COPYUID: ascending in the destination; 0 for the missing UID 7 */
	assert_int_equal(uidv, status(f->s, f->addr, "Archive").uidvalidity);
	assert_int_equal(dest[0], 2);
	assert_int_equal(dest[1], 3);
	assert_int_equal(dest[2], 0);
	assert_int_equal(dest[3], 4);
	assert_int_equal(hms(f->s, f->addr, "Archive"), arch_m + 1);
	l = list(f->s, arch, 3, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].flags, STORE_FLAG_FLAGGED);
	assert_string_equal(l.v[0].keywords, "$Work");
	assert_int_equal(l.v[0].modseq, arch_m + 1);
	assert_int_equal(l.v[0].internal_date, 1700000000);
	free(l.v);
	/* shared bodies: one more reference each, no new body */
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 4);
	assert_int_equal(q1(f->s, "SELECT sum(refcount) FROM bodies"), 7);
	assert_int_equal(qf(f->s, "SELECT message_count FROM addresses WHERE id = %lld", (long long)f->addr), 7);

	/* MOVE: gone from the source (expunged, one modseq), references handed over */
	inbox_m = hms(f->s, f->addr, "INBOX");
	uint32_t mv[] = { 1, 3 };
	OK(store_mail_copy(f->s, f->inbox, mv, 2, trash, true, plans, dest, &uidv, E));
	assert_int_equal(dest[0], 1);
	assert_int_equal(dest[1], 2);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), inbox_m + 1);
	OK(store_mail_expunged_since(f->s, f->inbox, inbox_m, uid_cb, &u, E));
	assert_int_equal(u.n, 2);
	assert_int_equal(u.v[0], 1);
	assert_int_equal(u.v[1], 3);
	l = list(f->s, f->inbox, 0, 0);
	assert_int_equal(l.n, 1);
	free(l.v);
	assert_int_equal(q1(f->s, "SELECT sum(refcount) FROM bodies"), 7);
	assert_int_equal(qf(f->s, "SELECT message_count FROM addresses WHERE id = %lld", (long long)f->addr), 7);

	/* MOVE within one folder: new UIDs, one modseq */
	inbox_m = hms(f->s, f->addr, "INBOX");
	uint32_t two = 2;
	OK(store_mail_copy(f->s, f->inbox, &two, 1, f->inbox, true, plans, dest, NULL, E));
	assert_int_equal(dest[0], 4);
	l = list(f->s, f->inbox, 0, 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].uid, 4);
	assert_int_equal(l.v[0].modseq, inbox_m + 1);
	free(l.v);
	assert_int_equal(hms(f->s, f->addr, "INBOX"), inbox_m + 1);

	/* all gone meanwhile: nothing happens */
	arch_m = hms(f->s, f->addr, "Archive");
	OK(store_mail_copy(f->s, f->inbox, uids, 2, arch, false, plans, dest, NULL, E));
	assert_int_equal(dest[0], 0);
	assert_int_equal(hms(f->s, f->addr, "Archive"), arch_m);
	REFUSED(store_mail_copy(f->s, f->inbox, mv, 1, 9999, false, plans, dest, NULL, E), "destination folder");
}

static void test_quota_refusals(void **state)
{
	struct fixture *f = *state;
	int64_t arch = folder_id(f->s, f->addr, "Archive");
	uint32_t uid = 1, dest = 9, before;
	char *tmpdir = xasprintf("%s/tmp", f->dir);
	char body[600];

	memset(body, 'q', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	OK(store_address_set_quota(f->s, "alice", "example.org", 1000, E));
	deliver(f, f->addr, body); /* 599 bytes */
	before = status(f->s, f->addr, "Archive").uidnext;
	REFUSED(store_mail_append(f->s, arch, spool_of(f->dir, body, 599), 0, NULL, 1, plans, &uid, E),
		"quota exceeded: 599 of 1000 bytes used, 599 more needed");
	assert_int_equal(status(f->s, f->addr, "Archive").uidnext, before);
	REFUSED(store_mail_copy(f->s, f->inbox, &uid, 1, arch, false, plans, &dest, NULL, E), "quota exceeded");
	assert_int_equal(dest, 0);
	/* a MOVE within the address adds nothing: allowed */
	OK(store_mail_copy(f->s, f->inbox, &uid, 1, arch, true, plans, &dest, NULL, E));
	assert_int_equal(dest, 1);
	/* the plan's quota when there is no override */
	OK(store_address_set_quota(f->s, "alice", "example.org", 0, E));
	struct plan_cfg tiny[CONFIG_PLAN_COUNT];
	memcpy(tiny, plans, sizeof(tiny));
	tiny[PLAN_FREE].quota_bytes = 700;
	REFUSED(store_mail_append(f->s, arch, spool_of(f->dir, body, 200), 0, NULL, 1, tiny, &uid, E), "quota exceeded");
	OK(store_mail_append(f->s, arch, spool_of(f->dir, body, 100), 0, NULL, 1, tiny, &uid, E));
	/* refused spools are consumed too: nothing left in tmp/ */
	assert_int_equal(count_files(tmpdir), 0);
	free(tmpdir);
}

/* MULTIAPPEND (RFC 3502): every message or none. */
static void test_append_many_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t arch = folder_id(f->s, f->addr, "Archive");
	char *tmpdir = xasprintf("%s/tmp", f->dir);
	char body[600];
	struct store_append_msg m[3];

	memset(body, 'q', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	OK(store_address_set_quota(f->s, "alice", "example.org", 1500, E));
	uint32_t before = status(f->s, f->addr, "Archive").uidnext;
	/* each fits alone, the first two together, not all three */
	for (int i = 0; i < 3; i++)
		m[i] = (struct store_append_msg){ .body = spool_of(f->dir, body, 599), .internal_date = 1 };
	REFUSED(store_mail_append_many(f->s, arch, m, 3, plans, E), "quota exceeded");
	assert_null(m[0].body);
	assert_int_equal(status(f->s, f->addr, "Archive").uidnext, before);
	assert_int_equal(status(f->s, f->addr, "Archive").messages, 0);
	/* a bad keyword in the second refuses the first too */
	m[0] = (struct store_append_msg){ .body = spool_of(f->dir, body, 10), .keywords = "ok" };
	m[1] = (struct store_append_msg){ .body = spool_of(f->dir, body, 10), .keywords = "bad\001kw" };
	REFUSED(store_mail_append_many(f->s, arch, m, 2, plans, E), "control characters");
	assert_int_equal(status(f->s, f->addr, "Archive").messages, 0);
	/* two fit: ascending UIDs, flags and keywords each their own */
	m[0] = (struct store_append_msg){ .body = spool_of(f->dir, body, 599), .flags = STORE_FLAG_SEEN };
	m[1] = (struct store_append_msg){ .body = spool_of(f->dir, body, 599), .keywords = "$label1" };
	OK(store_mail_append_many(f->s, arch, m, 2, plans, E));
	assert_int_equal(m[0].uid, before);
	assert_int_equal(m[1].uid, before + 1);
	struct store_folder_status st = status(f->s, f->addr, "Archive");
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(count_files(tmpdir), 0);
	free(tmpdir);
}

/* \Recent: a boundary taken once (RFC 3501 2.3.2). */
static void test_recent_boundary(void **state)
{
	struct fixture *f = *state;
	uint32_t first = 0, count = 9;

	OK(store_folder_recent(f->s, f->inbox, &first, &count, E));
	assert_int_equal(first, 1);
	assert_int_equal(count, 0);
	deliver(f, f->addr, "Subject: a\r\n\r\na\r\n");
	deliver(f, f->addr, "Subject: b\r\n\r\nb\r\n");
	OK(store_folder_recent(f->s, f->inbox, &first, &count, E));
	assert_int_equal(count, 2);
	/* the first session takes 1 and 2 */
	OK(store_folder_take_recent(f->s, f->inbox, first + 2, &first, E));
	assert_int_equal(first, 1);
	OK(store_folder_recent(f->s, f->inbox, &first, &count, E));
	assert_int_equal(first, 3);
	assert_int_equal(count, 0);
	/* a second one finds nothing left below 3: an empty range */
	OK(store_folder_take_recent(f->s, f->inbox, 3, &first, E));
	assert_int_equal(first, 3);
	/* the boundary never moves down */
	OK(store_folder_take_recent(f->s, f->inbox, 2, &first, E));
	OK(store_folder_recent(f->s, f->inbox, &first, &count, E));
	assert_int_equal(first, 3);
	REFUSED(store_folder_recent(f->s, 9999, &first, &count, E), "no longer exists");
}

/* ---- append ---- */

struct collect {
	char data[256 * 1024];
	size_t len;
};

static void read_body(struct store *s, int64_t body, struct collect *c)
{
	size_t n;

	c->len = 0;
	do {
		OK(store_body_pread(s, body, c->len, c->data + c->len, 1000, &n, E));
		c->len += n;
	} while (n > 0 && c->len + 1000 <= sizeof(c->data));
}

static void test_append(void **state)
{
	struct fixture *f = *state;
	int64_t sent = folder_id(f->s, f->addr, "Sent");
	uint64_t syncs = f->s->data_syncs, written = f->s->bodies_written;
	struct collect *c = xmalloc(sizeof(*c));
	size_t big = 2 * SPOOL_MEMORY_MAX_BYTES + 17;
	char *text = xmalloc(big + 1);
	struct mail_list l;
	uint32_t uid;

	uid = append(f, sent, "Subject: sent\r\n\r\nhello\r\n", STORE_FLAG_SEEN | 0x100, "$Sent $sent Done");
	assert_int_equal(uid, 1);
	/* the delivery path: a body write and its data sync before the commit */
	assert_int_equal(f->s->bodies_written, written + 1);
	assert_true(f->s->data_syncs > syncs);
	l = list(f->s, sent, 0, 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].flags, STORE_FLAG_SEEN); /* unknown bits dropped */
	assert_string_equal(l.v[0].keywords, "$Sent Done");
	assert_int_equal(l.v[0].internal_date, 1600000000);
	assert_int_equal(l.v[0].size, 24);
	assert_int_equal(l.v[0].modseq, hms(f->s, f->addr, "Sent"));
	read_body(f->s, l.v[0].body_id, c);
	assert_int_equal(c->len, 24);
	assert_memory_equal(c->data, "Subject: sent\r\n\r\nhello\r\n", 24);
	free(l.v);
	assert_int_equal(status(f->s, f->addr, "Sent").uidnext, 2);
	assert_int_equal(qf(f->s, "SELECT used_bytes FROM addresses WHERE id = %lld", (long long)f->addr), 24);

	/* a body bigger than the spool's memory becomes a segment of its own */
	for (size_t i = 0; i < big; i++)
		text[i] = (char)('a' + i % 26);
	text[big] = '\0';
	uid = append(f, sent, text, 0, NULL);
	assert_int_equal(uid, 2);
	l = list(f->s, sent, 2, 0);
	read_body(f->s, l.v[0].body_id, c);
	assert_int_equal(c->len, big);
	assert_memory_equal(c->data, text, big);
	free(l.v);
	REFUSED(store_mail_append(f->s, 9999, spool_of(f->dir, "x", 1), 0, NULL, 1, plans, &uid, E), "no longer exists");
	free(text);
	free(c);
}

/* ---- bodies ---- */

static void test_body_pread_and_meta(void **state)
{
	struct fixture *f = *state;
	struct mail_list l;
	char buf[64];
	size_t n;
	struct buf b, small;
	const char *err = NULL;

	deliver(f, f->addr, "0123456789");
	l = list(f->s, f->inbox, 0, 0);
	OK(store_body_pread(f->s, l.v[0].body_id, 3, buf, 4, &n, E));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "3456", 4);
	OK(store_body_pread(f->s, l.v[0].body_id, 8, buf, 64, &n, E)); /* clamped to the body */
	assert_int_equal(n, 2);
	OK(store_body_pread(f->s, l.v[0].body_id, 10, buf, 64, &n, E));
	assert_int_equal(n, 0);
	OK(store_body_pread(f->s, l.v[0].body_id, 1000, buf, 64, &n, E));
	assert_int_equal(n, 0);
	REFUSED(store_body_pread(f->s, 9999, 0, buf, 64, &n, E), "does not exist");

	buf_init(&b, 0);
	assert_int_equal(store_body_meta_get(f->s, l.v[0].body_id, &b, &err), 0);
	OK(store_body_meta_put(f->s, l.v[0].body_id, "\0\1\2meta", 7, E));
	assert_int_equal(store_body_meta_get(f->s, l.v[0].body_id, &b, &err), 1);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "\0\1\2meta", 7);
	OK(store_body_meta_put(f->s, l.v[0].body_id, "v2", 2, E)); /* replaces */
	buf_reset(&b);
	assert_int_equal(store_body_meta_get(f->s, l.v[0].body_id, &b, &err), 1);
	assert_int_equal(b.len, 2);
	buf_init(&small, 1);
	REFUSED(store_body_meta_get(f->s, l.v[0].body_id, &small, E), "does not fit");
	REFUSED(store_body_meta_put(f->s, 9999, "x", 1, E), "does not exist");
	buf_free(&b);
	buf_free(&small);
	free(l.v);
}

/* ---- full-text index ---- */

static const char *const fts_texts[] = {
	"Quarterly report: revenue grew in Zürich",
	"Lunch on friday? The REPORTER asked",
	"nothing to see here",
	"unrelated \"quoted\" words and a report",
	"Straße und Grüße",
	"ab",
};
#define FTS_N (sizeof(fts_texts) / sizeof(fts_texts[0]))

static bool ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (const char *h = hay; *h != '\0'; h++) {
		if (strncasecmp(h, needle, n) == 0)
			return true;
	}
	return n == 0;
}

static bool has_uid(const struct uids *u, uint32_t uid)
{
	for (size_t i = 0; i < u->n; i++) {
		if (u->v[i] == uid)
			return true;
	}
	return false;
}

static void fts_setup(struct fixture *f, int64_t *bodies)
{
	struct mail_list l;

	for (size_t i = 0; i < FTS_N; i++)
		deliver(f, f->addr, fts_texts[i]);
	l = list(f->s, f->inbox, 0, 0);
	for (size_t i = 0; i < FTS_N; i++) {
		bodies[i] = l.v[i].body_id;
		OK(store_fts_index(f->s, bodies[i], fts_texts[i], strlen(fts_texts[i]), E));
	}
	free(l.v);
}

static struct uids candidates(struct fixture *f, const char *words)
{
	struct uids u = { 0 };

	OK(store_fts_candidates(f->s, f->inbox, words, uid_cb, &u, E));
	return u;
}

static void test_fts_candidates(void **state)
{
	struct fixture *f = *state;
	int64_t bodies[FTS_N];
	struct uids u = { 0 };
	const char *needles[] = { "report", "REPORT", "port", "epo", "revenue grew", "friday", "quoted\"", "\"quoted\"",
				  "ZÜRICH", "straße", "grüße", "ße", "xyz", "nothing to", "Lunch friday", "a" };

	fts_setup(f, bodies);
	OK(store_fts_unindexed(f->s, f->inbox, body_cb, &u, E));
	assert_int_equal(u.n, 0);
	/* the candidates always include every true (ASCII case-insensitive) match */
	for (size_t k = 0; k < sizeof(needles) / sizeof(needles[0]); k++) {
		u = candidates(f, needles[k]);
		for (size_t i = 0; i < FTS_N; i++) {
			bool match = true;
			const char *p = needles[k];
			char word[64];

			/* every word of the needle must be in the text */
			while (*p != '\0') {
				size_t len = strcspn(p, " ");
				snprintf(word, sizeof(word), "%.*s", (int)len, p);
				match &= ci_contains(fts_texts[i], word);
				p += len + (p[len] == ' ');
			}
			if (match && !has_uid(&u, (uint32_t)i + 1))
				fail_msg("\"%s\": message %zu is a match but not a candidate", needles[k], i + 1);
		}
	}
	/* and they narrow */
	u = candidates(f, "report");
	assert_int_equal(u.n, 3); /* 1, 2 (REPORTER), 4 */
	u = candidates(f, "revenue");
	assert_int_equal(u.n, 1);
	assert_int_equal(u.v[0], 1);
	u = candidates(f, "xyz");
	assert_int_equal(u.n, 0);
	u = candidates(f, "ZÜRICH");
	assert_int_equal(u.n, 1);
	/* too short to narrow: everything */
	u = candidates(f, "ab");
	assert_int_equal(u.n, FTS_N);
	u = candidates(f, "");
	assert_int_equal(u.n, FTS_N);
	/* an unindexed body is always a candidate */
	deliver(f, f->addr, "not indexed yet");
	u = candidates(f, "revenue");
	assert_int_equal(u.n, 2);
	assert_int_equal(u.v[1], FTS_N + 1);
	struct uids unidx = { 0 };
	OK(store_fts_unindexed(f->s, f->inbox, body_cb, &unidx, E));
	assert_int_equal(unidx.n, 1);
	/* reindexing replaces */
	OK(store_fts_index(f->s, bodies[0], "other words", 11, E));
	u = candidates(f, "revenue");
	assert_int_equal(u.n, 1);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_fts"), FTS_N);
	REFUSED(store_fts_index(f->s, 9999, "x", 1, E), "does not exist");
	/* a body's index goes with its last message */
	uint32_t one = 2;
	OK(store_mail_expunge(f->s, f->inbox, &one, 1, NULL, NULL, E));
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_fts"), FTS_N - 1);
}

/* The background indexer's text source: the stored text itself, except a "broken" one. */
static int pending_text(struct store *s, int64_t body_id, struct buf *text, void *arg)
{
	char chunk[512];
	size_t n;
	const char *err;

	(*(int *)arg)++;
	if (store_body_pread(s, body_id, 0, chunk, sizeof(chunk), &n, &err) < 0)
		return -1;
	if (n >= 6 && memcmp(chunk, "broken", 6) == 0)
		return -1; /* cannot produce its text: must stay unindexed */
	buf_append(text, chunk, n);
	return 0;
}

static void test_fts_index_pending(void **state)
{
	struct fixture *f = *state;
	int64_t cursor = 0;
	size_t seen;
	int calls = 0;

	for (int i = 0; i < 5; i++)
		deliver(f, f->addr, i == 2 ? "broken text" : "indexed in the background");
	/* two steps of 3: 3 then 2 bodies looked at; then nothing above the cursor */
	OK(store_fts_index_pending(f->s, &cursor, 3, pending_text, &calls, &seen, E));
	assert_int_equal(seen, 3);
	OK(store_fts_index_pending(f->s, &cursor, 3, pending_text, &calls, &seen, E));
	assert_int_equal(seen, 2);
	OK(store_fts_index_pending(f->s, &cursor, 3, pending_text, &calls, &seen, E));
	assert_int_equal(seen, 0);
	assert_int_equal(calls, 5);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_fts"), 4);
	/* the broken one stays unindexed, so it stays a candidate */
	struct uids u = candidates(f, "background");
	assert_int_equal(u.n, 5);
	u = candidates(f, "nowhere");
	assert_int_equal(u.n, 1);
	assert_int_equal(u.v[0], 3);
	/* from the start again: only the broken body is looked at */
	cursor = 0;
	OK(store_fts_index_pending(f->s, &cursor, 10, pending_text, &calls, &seen, E));
	assert_int_equal(seen, 1);
	assert_int_equal(calls, 6);
}

/* Random substrings of random texts: candidates include every true match. */
static void test_fts_superset_random(void **state)
{
	struct fixture *f = *state;
	static const char alphabet[] = "abcdeABCDE ";
	char texts[40][80];
	struct mail_list l;
	unsigned seed = 12345;

	for (size_t i = 0; i < 40; i++) {
		for (size_t k = 0; k < 79; k++)
			texts[i][k] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		texts[i][79] = '\0';
		deliver(f, f->addr, texts[i]);
	}
	l = list(f->s, f->inbox, 0, 0);
	for (size_t i = 0; i < 40; i++)
		OK(store_fts_index(f->s, l.v[i].body_id, texts[i], 79, E));
	free(l.v);
	for (int round = 0; round < 300; round++) {
		size_t from = (size_t)rand_r(&seed) % 40, at = (size_t)rand_r(&seed) % 70, len = 3 + (size_t)rand_r(&seed) % 6;
		char needle[16];
		struct uids u = { 0 };

		snprintf(needle, sizeof(needle), "%.*s", (int)len, texts[from] + at);
		if (strchr(needle, ' ') != NULL)
			continue;
		OK(store_fts_candidates(f->s, f->inbox, needle, uid_cb, &u, E));
		for (size_t i = 0; i < 40; i++) {
			if (ci_contains(texts[i], needle) && !has_uid(&u, (uint32_t)i + 1))
				fail_msg("\"%s\" is in message %zu, not a candidate", needle, i + 1);
		}
	}
}

/* ---- address removal frees it all ---- */

static void test_address_remove_frees_all(void **state)
{
	struct fixture *f = *state;
	int64_t bob, arch = folder_id(f->s, f->addr, "Archive");
	struct mail_list l;
	uint32_t uid = 1, dest;
	int64_t msgs = 0, bytes = 0;

	OK(store_address_add(f->s, "bob", "example.org", ADDRESS_MAILBOX, "h", &bob, E));
	deliver(f, f->addr, "for alice\r\n");
	deliver(f, bob, "for bob\r\n");
	OK(store_mail_copy(f->s, f->inbox, &uid, 1, arch, false, plans, &dest, NULL, E));
	l = list(f->s, f->inbox, 0, 0);
	OK(store_body_meta_put(f->s, l.v[0].body_id, "m", 1, E));
	OK(store_fts_index(f->s, l.v[0].body_id, "for alice", 9, E));
	free(l.v);
	OK(store_address_remove(f->s, "alice", "example.org", &msgs, &bytes, E));
	assert_int_equal(msgs, 2);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 1); /* bob's */
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_meta"), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_fts"), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM expunged"), 0);
}

/* ---- store_async_call and watchers ---- */

struct async_fx {
	struct event_base *base;
	struct store_async *sa;
	int64_t inbox;
	char *dir;
	/* call results */
	int reads_done, writes_done, cancelled_done;
	uint32_t messages_seen;
	uint32_t appended_uid;
	int write_rc;
	/* watch bookkeeping */
	int notified[4];
	int order;             /* sequence counter */
	int notified_at, done_at;
	struct store_watch *w[4];
	int pending;
};

struct call_ctx {
	struct async_fx *ax;
	bool write;
};

static int count_cb(const struct store_mail *m, void *arg)
{
	(*(uint32_t *)arg)++;
	return 0;
}

static void read_work(struct store *s, void *arg)
{
	struct call_ctx *c = arg;
	const char *err = NULL;

	c->ax->messages_seen = 0;
	if (store_mail_list(s, c->ax->inbox, 0, 0, count_cb, &c->ax->messages_seen, &err) < 0)
		fail_msg("list: %s", err);
}

static void write_work(struct store *s, void *arg)
{
	struct call_ctx *c = arg;
	const char *err = NULL;
	struct spool *sp = spool_new(c->ax->dir);

	spool_write(sp, "appended\r\n", 10, &err);
	c->ax->write_rc = store_mail_append(s, c->ax->inbox, sp, 0, NULL, 1, plans, &c->ax->appended_uid, &err);
}

static void call_done(void *arg, bool cancelled)
{
	struct call_ctx *c = arg;
	struct async_fx *ax = c->ax;

	if (cancelled)
		ax->cancelled_done++;
	else if (c->write)
		ax->writes_done++, ax->done_at = ++ax->order;
	else
		ax->reads_done++;
	free(c);
	if (--ax->pending == 0)
		event_base_loopbreak(ax->base);
}

static void watch_cb(int64_t folder, void *arg)
{
	int *slot = arg;

	(*slot)++;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs the loop until every call is done (or 10 s passed, which fails). */
static void run_until_done(struct async_fx *ax)
{
	struct timeval tv = { 10, 0 };
	struct event *timeout = evtimer_new(ax->base, on_timeout, ax->base);

	evtimer_add(timeout, &tv);
	if (ax->pending > 0)
		event_base_dispatch(ax->base);
	event_free(timeout);
	assert_int_equal(ax->pending, 0);
}

static struct store_req *call(struct async_fx *ax, bool write)
{
	struct call_ctx *c = xcalloc(1, sizeof(*c));

	c->ax = ax;
	c->write = write;
	ax->pending++;
	return store_async_call(ax->sa, write ? STORE_CALL_WRITE : STORE_CALL_READ, write ? write_work : read_work,
				call_done, c);
}

static void async_open(struct fixture *f, struct async_fx *ax)
{
	const char *err = NULL;

	memset(ax, 0, sizeof(*ax));
	ax->base = event_base_new();
	ax->inbox = f->inbox;
	ax->dir = f->dir;
	if ((ax->sa = store_async_new(ax->base, f->dir, 2, &err)) == NULL)
		fail_msg("store_async_new: %s", err);
}

static void async_close(struct async_fx *ax)
{
	store_async_free(ax->sa);
	event_base_free(ax->base);
}

static void order_watch_cb(int64_t folder, void *arg)
{
	struct async_fx *ax = arg;

	ax->notified[0]++;
	ax->notified_at = ++ax->order;
}

static void deliver_done(int result, const char *errstr, void *arg)
{
	struct async_fx *ax = arg;

	ax->write_rc = result;
	ax->done_at = ++ax->order;
	if (--ax->pending == 0)
		event_base_loopbreak(ax->base);
}

static void test_async_call_and_watch(void **state)
{
	struct fixture *f = *state;
	struct async_fx ax;
	struct store_watch *other;
	int other_hits = 0;

	deliver(f, f->addr, "one\r\n");
	async_open(f, &ax);
	ax.w[0] = store_async_watch(ax.sa, f->inbox, order_watch_cb, &ax);
	other = store_async_watch(ax.sa, folder_id(f->s, f->addr, "Sent"), watch_cb, &other_hits);
	call(&ax, false);
	run_until_done(&ax);
	assert_int_equal(ax.reads_done, 1);
	assert_int_equal(ax.messages_seen, 1);
	assert_int_equal(ax.notified[0], 0); /* a read changes nothing */

	/* a WRITE: the watcher hears of it before done runs */
	call(&ax, true);
	run_until_done(&ax);
	assert_int_equal(ax.write_rc, 0);
	assert_int_equal(ax.appended_uid, 2);
	assert_int_equal(ax.writes_done, 1);
	assert_int_equal(ax.notified[0], 1);
	assert_true(ax.notified_at < ax.done_at);
	assert_int_equal(other_hits, 0);

	/* the read after the write sees it */
	call(&ax, false);
	run_until_done(&ax);
	assert_int_equal(ax.messages_seen, 2);

	/* a delivery through the writer notifies too */
	struct spool *sp = spool_of(f->dir, "delivered\r\n", 11);
	ax.pending++;
	store_async_deliver(ax.sa, sp, &f->addr, 1, 1, deliver_done, &ax);
	run_until_done(&ax);
	assert_int_equal(ax.write_rc, 0);
	assert_int_equal(ax.notified[0], 2);
	assert_true(ax.notified_at < ax.done_at);
	store_async_unwatch(ax.w[0]);
	store_async_unwatch(other);
	async_close(&ax);
}

struct idle_fx {
	int64_t cursor;
	int steps, calls;
};

static size_t idle_step(struct store *s, void *arg)
{
	struct idle_fx *ix = arg;
	size_t seen = 0;
	const char *err;

	ix->steps++;
	if (store_fts_index_pending(s, &ix->cursor, 2, pending_text, &ix->calls, &seen, &err) < 0 || seen == 0) {
		ix->cursor = 0;
		return 0;
	}
	return seen;
}

/* The writer indexes in the background when idle, and again after new deliveries. */
static void test_async_idle_work(void **state)
{
	struct fixture *f = *state;
	struct async_fx ax;
	struct idle_fx ix = { 0 };

	for (int i = 0; i < 5; i++)
		deliver(f, f->addr, "waiting for the indexer\r\n");
	async_open(f, &ax);
	store_async_set_idle_work(ax.sa, idle_step, &ix);
	struct spool *sp = spool_of(f->dir, "one more\r\n", 10);
	ax.pending++;
	store_async_deliver(ax.sa, sp, &f->addr, 1, 1, deliver_done, &ax);
	run_until_done(&ax);
	/* nothing else is queued: the writer indexes everything on its own (bounded wait) */
	for (int i = 0; i < 1000 && q1(f->s, "SELECT count(*) FROM bodies WHERE fts_indexed = 0") > 0; i++)
		usleep(10 * 1000);
	async_close(&ax); /* joins the writer */
	assert_true(ix.steps >= 2);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies WHERE fts_indexed = 0"), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM body_fts"), 6);
}

static void test_async_cancel(void **state)
{
	struct fixture *f = *state;
	struct async_fx ax;
	struct store_req *r1, *r2;

	async_open(f, &ax);
	r1 = call(&ax, true);
	r2 = call(&ax, false);
	store_req_cancel(r1);
	store_req_cancel(r2);
	run_until_done(&ax);
	/* done still runs (cancelled) so the closures are freed; the write was made */
	assert_int_equal(ax.cancelled_done, 2);
	assert_int_equal(ax.writes_done + ax.reads_done, 0);
	assert_int_equal(ax.write_rc, 0);
	async_close(&ax);
	assert_int_equal(status(f->s, f->addr, "INBOX").messages, 1);
}

/* Watchers that unwatch themselves and each other from inside the callback. */
struct unwatcher {
	struct async_fx *ax;
	int idx;
	int hits;
	struct store_watch **victim; /* unwatched by this one's callback */
};

static void unwatch_cb(int64_t folder, void *arg)
{
	struct unwatcher *u = arg;

	u->hits++;
	store_async_unwatch(u->ax->w[u->idx]);
	store_async_unwatch(*u->victim);
	/* watching from a callback works (called from the next announcement on) */
	if (u->ax->w[3] == NULL)
		u->ax->w[3] = store_async_watch(u->ax->sa, folder, watch_cb, &u->ax->notified[3]);
}

static void test_async_watch_unwatch_in_callback(void **state)
{
	struct fixture *f = *state;
	struct async_fx ax;
	struct unwatcher u[3];

	async_open(f, &ax);
	/* 10,000 watchers on other folders: a notification must reach only the right ones */
	struct store_watch **many = xmalloc(10000 * sizeof(*many));
	int many_hits = 0;
	for (int i = 0; i < 10000; i++)
		many[i] = store_async_watch(ax.sa, 1000000 + i, watch_cb, &many_hits);
	for (int i = 0; i < 3; i++) {
		u[i] = (struct unwatcher){ &ax, i, 0, NULL };
		ax.w[i] = store_async_watch(ax.sa, f->inbox, unwatch_cb, &u[i]);
	}
	/* whichever runs first unwatches the others too */
	u[0].victim = &ax.w[1];
	u[1].victim = &ax.w[2];
	u[2].victim = &ax.w[0];
	call(&ax, true);
	run_until_done(&ax);
	/* in any order, the first one called removes one other: two calls */
	assert_int_equal(u[0].hits + u[1].hits + u[2].hits, 2);
	assert_int_equal(many_hits, 0);
	assert_int_equal(ax.notified[3], 0);
	/* the next change: only the watcher added from the callback hears it */
	call(&ax, true);
	run_until_done(&ax);
	assert_int_equal(ax.notified[3], 1);
	assert_int_equal(u[0].hits + u[1].hits + u[2].hits, 2);
	store_async_unwatch(ax.w[3]);
	for (int i = 0; i < 10000; i += 2)
		store_async_unwatch(many[i]);
	free(many); /* the other half: freed by store_async_free */
	async_close(&ax);
}

/* ---- performance (reported, not asserted) ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int perf_cb(const struct store_mail *m, void *arg)
{
	(*(uint64_t *)arg) += m->uid;
	return 0;
}

static void test_perf_100k(void **state)
{
	struct fixture *f = *state;
	const uint32_t N = 100000, F = 10000;
	struct store_flag_change *ch = xcalloc(F, sizeof(*ch));
	uint64_t sum = 0;
	struct mail_list l;
	double t0, t_list, t_flags, t_changed, t_status, t_expunge;
	uint32_t *ex = xmalloc(F * sizeof(*ex));
	char sql[512];

	deliver(f, f->addr, "Subject: perf\r\n\r\nbody\r\n");
	l = list(f->s, f->inbox, 0, 0);
	/* 100,000 rows sharing one body: listing does not read bodies */
	OK(store_begin(f->s, E));
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < %u)"
		 " INSERT INTO mail (folder_id, uid, body_id, flags, keywords, internal_date, size, modseq)"
		 " SELECT %lld, i, %lld, 0, '', 1700000000, 20, 2 FROM n",
		 N, (long long)f->inbox, (long long)l.v[0].body_id);
	OK(store_exec(f->s, sql, E));
	snprintf(sql, sizeof(sql), "UPDATE bodies SET refcount = %u; UPDATE folders SET uidnext = %u, highestmodseq = 2"
		 " WHERE id = %lld", N, N + 1, (long long)f->inbox);
	OK(store_exec(f->s, sql, E));
	OK(store_commit(f->s, E));
	free(l.v);

	t0 = now_s();
	OK(store_mail_list(f->s, f->inbox, 0, 0, perf_cb, &sum, E));
	t_list = now_s() - t0;
	assert_int_equal(sum, (uint64_t)N * (N + 1) / 2);
	for (uint32_t i = 0; i < F; i++)
		ch[i].uid = 1 + i * 10;
	t0 = now_s();
	OK(store_mail_set_flags(f->s, f->inbox, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "$Done", 0, ch, F, E));
	t_flags = now_s() - t0;
	assert_true(ch[F - 1].changed);
	sum = 0;
	t0 = now_s();
	OK(store_mail_list(f->s, f->inbox, 0, 2, perf_cb, &sum, E));
	t_changed = now_s() - t0;
	t0 = now_s();
	assert_int_equal(status(f->s, f->addr, "INBOX").unseen, N - F);
	t_status = now_s() - t0;
	for (uint32_t i = 0; i < F; i++)
		ex[i] = 2 + i * 10;
	t0 = now_s();
	OK(store_mail_expunge(f->s, f->inbox, ex, F, NULL, NULL, E));
	t_expunge = now_s() - t0;
	printf("store_mail perf: list %u msgs %.1f ms; STORE +FLAGS on %u uids %.1f ms; CHANGEDSINCE list (%u) %.1f ms;"
	       " STATUS %.1f ms; EXPUNGE %u uids %.1f ms\n",
	       N, t_list * 1e3, F, t_flags * 1e3, F, t_changed * 1e3, t_status * 1e3, F, t_expunge * 1e3);
	free(ch);
	free(ex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migration_from_v1),
		cmocka_unit_test_setup_teardown(test_login_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscribe_list_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modseq_progression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchangedsince, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_frees_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_pread_and_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fts_candidates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fts_superset_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fts_index_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_idle_work, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_remove_frees_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_many_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_call_and_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_watch_unwatch_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perf_100k, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
