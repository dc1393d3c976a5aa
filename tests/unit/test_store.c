/*
 * test_store: the SQLite store against a real temporary data directory.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_async.h"
#include "store/store_manage.h"
#include "store/store_private.h"

#include <event2/event.h>
#include <time.h>

struct fixture {
	char *dir;
	struct store *s;
};

static const struct plan_cfg test_plans[CONFIG_PLAN_COUNT] = {
	{ "free", 1000000, 10000000, 10, 500 },
	{ "starter", 10000000, 50000000, 100, 500 },
	{ "pro", 0, 50000000, 100, 1440 },
};

static char *make_tmpdir(void)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char *tmpl = xasprintf("%s/store-XXXXXX", base != NULL ? base : "/tmp");

	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *err = NULL;

	f->dir = make_tmpdir();
	if (store_open(f->dir, &f->s, &err) < 0)
		fail_msg("store_open: %s", err);
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

#define OK(call)                                                        \
	do {                                                            \
		const char *err_ = NULL;                                \
		if ((call) < 0)                                         \
			fail_msg("%s failed: %s", #call, err_ ? err_ : "?"); \
	} while (0)
/* the macro's err_ is what each call writes via &err_ */
#define E (&err_)

static void check_error(int rc, const char *err, const char *text)
{
	assert_int_equal(rc, -1);
	assert_non_null(err);
	if (strstr(err, text) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, text);
}
/* the call runs before err is read (argument order is unspecified) */
#define expect_error(call, err, text)          \
	do {                                   \
		int rc_ = (call);              \
		check_error(rc_, err, text);   \
	} while (0)

static int64_t count_rows(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int64_t add_domain_address(struct store *s, const char *local, const char *domain, enum address_kind kind)
{
	int64_t id;
	const char *err = NULL;

	if (store_domain_get(s, domain, &(struct store_domain){ 0 }, &err) == 0 &&
	    store_domain_add(s, domain, NULL, PLAN_STARTER, NULL, &err) < 0)
		fail_msg("domain add: %s", err);
	if (store_address_add(s, local, domain, kind, kind == ADDRESS_MAILBOX ? "$argon2id$fake" : NULL, &id, &err) < 0)
		fail_msg("address add: %s", err);
	return id;
}

/* ---- schema ---- */

static void test_schema_reopen(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;

	assert_int_equal(store_schema_version(f->s), store_schema_latest());
	OK(store_org_add(f->s, "acme", NULL, E));
	store_close(f->s);
	if (store_open(f->dir, &f->s, &err) < 0)
		fail_msg("reopen: %s", err);
	assert_int_equal(store_schema_version(f->s), store_schema_latest());
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM orgs"), 1);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM schema_version"), 1);
	/* every table of the domain model is there */
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
					  " ('orgs','accounts','memberships','mail_services','domains','addresses',"
					  "'alias_targets','access','invitations','sharing_links','folders','bodies',"
					  "'segments','mail','expunged','queue_messages','queue_recipients','send_log',"
					  "'autoreply','autoreply_log')"),
			 20);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
	assert_int_equal(count_rows(f->s, "PRAGMA foreign_keys"), 1);
}

static void test_open_refuses_newer_schema(void **state)
{
	struct fixture *f = *state;
	struct store *s2;
	const char *err = NULL;

	assert_int_equal(sqlite3_exec(f->s->db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL), SQLITE_OK);
	expect_error(store_open(f->dir, &s2, &err), err, "schema version 99, newer than this hermod");
}

/* ---- directory ---- */

static void count_cb(const void *x, void *arg)
{
	(*(int *)arg)++;
}

static void test_orgs_accounts(void **state)
{
	struct fixture *f = *state;
	struct store_account acct;
	struct store_org org;
	char hash[128];
	const char *err = NULL;
	int n = 0;

	OK(store_org_add(f->s, "Acme", NULL, E));
	expect_error(store_org_add(f->s, "acme", NULL, &err), err, "organisation acme already exists");
	assert_int_equal(store_org_get(f->s, "ACME", &org, &err), 1);
	assert_string_equal(org.name, "Acme");
	assert_int_equal(store_org_get(f->s, "nope", &org, &err), 0);

	OK(store_account_add(f->s, "Alice@Elsewhere.test", "$argon2id$h1", NULL, E));
	expect_error(store_account_add(f->s, "alice@elsewhere.test", "x", NULL, &err), err, "already exists");
	assert_int_equal(store_account_get(f->s, "alice@elsewhere.test", &acct, &err), 1);
	assert_string_equal(acct.login, "Alice@Elsewhere.test");
	OK(store_account_set_password(f->s, "alice@elsewhere.test", "$argon2id$h2", E));
	assert_int_equal(store_account_password_hash(f->s, "alice@elsewhere.test", hash, sizeof(hash), &err), 1);
	assert_string_equal(hash, "$argon2id$h2");
	expect_error(store_account_set_password(f->s, "bob@x.test", "h", &err), err, "account bob@x.test does not exist");
	OK(store_account_list(f->s, (void (*)(const struct store_account *, void *))count_cb, &n, E));
	assert_int_equal(n, 1);

	OK(store_member_set(f->s, "acme", "alice@elsewhere.test", ROLE_ADMIN, E));
	OK(store_member_set(f->s, "acme", "alice@elsewhere.test", ROLE_OWNER, E)); /* upsert */
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM memberships WHERE role = 'owner'"), 1);
	expect_error(store_member_set(f->s, "nope", "alice@elsewhere.test", ROLE_ADMIN, &err), err,
		     "organisation nope does not exist");
	OK(store_member_remove(f->s, "acme", "alice@elsewhere.test", E));
	expect_error(store_member_remove(f->s, "acme", "alice@elsewhere.test", &err), err, "is not a member");

	OK(store_domain_add(f->s, "example.org", "acme", PLAN_PRO, NULL, E));
	expect_error(store_org_remove(f->s, "acme", &err), err, "organisation acme still has 1 domain; remove them first");
	OK(store_domain_remove(f->s, "example.org", E));
	OK(store_org_remove(f->s, "acme", E));
	OK(store_account_remove(f->s, "alice@elsewhere.test", E));
	expect_error(store_account_remove(f->s, "alice@elsewhere.test", &err), err, "does not exist");
}

static void test_domains(void **state)
{
	struct fixture *f = *state;
	struct store_domain d;
	const char *err = NULL;
	int n = 0;

	OK(store_domain_add(f->s, "example.org", NULL, PLAN_STARTER, NULL, E));
	expect_error(store_domain_add(f->s, "EXAMPLE.org", NULL, PLAN_FREE, NULL, &err), err,
		     "domain EXAMPLE.org already exists");
	expect_error(store_domain_add(f->s, "x.org", "ghost", PLAN_FREE, NULL, &err), err,
		     "organisation ghost does not exist");
	assert_int_equal(store_domain_get(f->s, "Example.ORG", &d, &err), 1);
	assert_string_equal(d.name, "example.org");
	assert_string_equal(d.org_name, "default");
	assert_int_equal(d.plan, PLAN_STARTER);
	assert_true(d.service_id > 0);
	OK(store_domain_set_plan(f->s, "example.org", PLAN_PRO, E));
	assert_int_equal(store_domain_get(f->s, "example.org", &d, &err), 1);
	assert_int_equal(d.plan, PLAN_PRO);
	expect_error(store_domain_set_plan(f->s, "nope.org", PLAN_PRO, &err), err, "domain nope.org does not exist");
	OK(store_domain_add(f->s, "example.net", NULL, PLAN_PRO, NULL, E));
	/* same org, same plan: one mail service */
	assert_int_equal(count_rows(f->s, "SELECT count(DISTINCT service_id) FROM domains"), 1);
	OK(store_domain_list(f->s, (void (*)(const struct store_domain *, void *))count_cb, &n, E));
	assert_int_equal(n, 2);

	OK(store_address_add(f->s, "a", "example.org", ADDRESS_MAILBOX, "h", NULL, E));
	OK(store_address_add(f->s, "b", "example.org", ADDRESS_MAILBOX, "h", NULL, E));
	OK(store_address_add(f->s, "c", "example.org", ADDRESS_CATCHALL, NULL, NULL, E));
	expect_error(store_domain_remove(f->s, "example.org", &err), err,
		     "domain example.org still has 3 addresses; remove them first");
	expect_error(store_domain_remove(f->s, "nope.org", &err), err, "domain nope.org does not exist");
	OK(store_domain_remove(f->s, "example.net", E));
	assert_int_equal(store_domain_get(f->s, "example.net", &d, &err), 0);
}

struct folder_seen {
	int n;
	char names[8][256];
	char uses[8][16];
};

static void folder_cb(const struct store_folder *fo, void *arg)
{
	struct folder_seen *fs = arg;

	assert_true(fo->uidvalidity > 0);
	assert_int_equal(fo->uidnext, 1);
	snprintf(fs->names[fs->n], sizeof(fs->names[0]), "%s", fo->name);
	snprintf(fs->uses[fs->n++], sizeof(fs->uses[0]), "%s", fo->special_use);
}

static void test_addresses(void **state)
{
	struct fixture *f = *state;
	struct folder_seen fs = { 0 };
	struct store_address a;
	struct store_folder fo;
	char hash[128];
	const char *err = NULL;
	int64_t id;
	int n = 0;

	expect_error(store_address_add(f->s, "alice", "example.org", ADDRESS_MAILBOX, "h", NULL, &err), err,
		     "domain example.org is not hosted here");
	id = add_domain_address(f->s, "alice", "example.org", ADDRESS_MAILBOX);
	expect_error(store_address_add(f->s, "ALICE", "example.org", ADDRESS_MAILBOX, "h", NULL, &err), err,
		     "address ALICE@example.org already exists");
	OK(store_folder_list(f->s, id, folder_cb, &fs, E));
	assert_int_equal(fs.n, 6);
	assert_string_equal(fs.names[0], "INBOX");
	assert_string_equal(fs.uses[0], "");
	assert_string_equal(fs.names[1], "Sent");
	assert_string_equal(fs.uses[1], "\\Sent");
	assert_string_equal(fs.uses[5], "\\Archive");
	assert_int_equal(store_folder_get(f->s, id, "inbox", &fo, &err), 1);
	assert_string_equal(fo.name, "INBOX");
	assert_int_equal(store_folder_get(f->s, id, "sent", &fo, &err), 0);

	OK(store_address_add(f->s, "catchall", "example.org", ADDRESS_CATCHALL, NULL, NULL, E));
	expect_error(store_address_add(f->s, "other", "example.org", ADDRESS_CATCHALL, NULL, NULL, &err), err,
		     "domain example.org already has a catchall address (catchall@example.org)");
	assert_int_equal(store_address_get(f->s, "Alice", "EXAMPLE.ORG", &a, &err), 1);
	assert_int_equal(a.id, id);
	assert_int_equal(a.kind, ADDRESS_MAILBOX);
	assert_true(a.has_password);
	assert_int_equal(store_address_password_hash(f->s, "alice", "example.org", hash, sizeof(hash), &err), 1);
	assert_string_equal(hash, "$argon2id$fake");
	assert_int_equal(store_address_password_hash(f->s, "catchall", "example.org", hash, sizeof(hash), &err), 0);
	OK(store_address_set_password(f->s, "alice", "example.org", "$new", E));
	/* a rehash replaces only the hash it verified (a password changed meanwhile stays) */
	assert_int_equal(store_address_rehash(f->s, id, "$argon2id$fake", "$stale", &err), 0);
	assert_int_equal(store_address_rehash(f->s, id, "$new", "$rehashed", &err), 1);
	assert_int_equal(store_address_password_hash(f->s, "alice", "example.org", hash, sizeof(hash), &err), 1);
	assert_string_equal(hash, "$rehashed");
	OK(store_address_set_password(f->s, "alice", "example.org", "$new", E));
	OK(store_address_set_quota(f->s, "alice", "example.org", 5000, E));
	assert_int_equal(store_address_get(f->s, "alice", "example.org", &a, &err), 1);
	assert_int_equal(a.quota_bytes, 5000);
	expect_error(store_address_set_quota(f->s, "bob", "example.org", 1, &err), err,
		     "address bob@example.org does not exist");
	OK(store_address_list(f->s, "example.org", (void (*)(const struct store_address *, void *))count_cb, &n, E));
	assert_int_equal(n, 2);
	expect_error(store_alias_add_target(f->s, "alice", "example.org", "x@y.test", &err), err, "is not an alias");

	OK(store_account_add(f->s, "boss@example.org", "h", NULL, E));
	OK(store_access_grant(f->s, "boss@example.org", "alice", "example.org", PERM_READ | PERM_SEND, E));
	OK(store_access_grant(f->s, "boss@example.org", "alice", "example.org", PERM_ALL, E));
	assert_int_equal(count_rows(f->s, "SELECT perms FROM access"), PERM_ALL);
	expect_error(store_access_grant(f->s, "boss@example.org", "alice", "example.org", 0x4, &err), err,
		     "invalid permission");
	OK(store_access_revoke(f->s, "boss@example.org", "alice", "example.org", E));
	expect_error(store_access_revoke(f->s, "boss@example.org", "alice", "example.org", &err), err, "has no access");
}

/* ---- recipients ---- */

static enum rcpt_status resolve(struct store *s, const char *local, const char *domain, uint64_t size,
				struct store_rcpt *r)
{
	const char *err = NULL;

	if (store_rcpt_resolve(s, local, domain, size, test_plans, r, &err) < 0)
		fail_msg("resolve: %s", err);
	return r->status;
}

static void test_rcpt(void **state)
{
	struct fixture *f = *state;
	struct store_rcpt r;
	int64_t alice, catchall, bob;

	alice = add_domain_address(f->s, "alice", "example.org", ADDRESS_MAILBOX);
	add_domain_address(f->s, "no-reply", "example.org", ADDRESS_NOREPLY);
	add_domain_address(f->s, "bob", "nocatch.org", ADDRESS_MAILBOX);
	bob = add_domain_address(f->s, "bob", "example.org", ADDRESS_MAILBOX);

	assert_int_equal(resolve(f->s, "ALICE", "Example.Org", 0, &r), RCPT_OK);
	assert_int_equal(r.address_id, alice);
	assert_string_equal(r.mailbox, "alice@example.org");
	assert_false(r.via_catchall);
	assert_int_equal(r.plan, PLAN_STARTER);
	assert_int_equal(r.quota_bytes, 10000000);
	assert_int_equal(resolve(f->s, "nobody", "example.org", 0, &r), RCPT_NO_SUCH_USER);
	assert_int_equal(resolve(f->s, "no-reply", "example.org", 0, &r), RCPT_NOREPLY);
	assert_int_equal(resolve(f->s, "alice", "elsewhere.test", 0, &r), RCPT_NOT_HOSTED);
	assert_int_equal(resolve(f->s, "nobody", "nocatch.org", 0, &r), RCPT_NO_SUCH_USER);

	catchall = add_domain_address(f->s, "catchall", "example.org", ADDRESS_CATCHALL);
	assert_int_equal(resolve(f->s, "nobody", "example.org", 0, &r), RCPT_OK);
	assert_int_equal(r.address_id, catchall);
	assert_true(r.via_catchall);
	assert_string_equal(r.mailbox, "catchall@example.org");
	assert_int_equal(resolve(f->s, "catchall", "example.org", 0, &r), RCPT_OK);
	assert_false(r.via_catchall);
	/* a no-reply stays refused even with a catchall */
	assert_int_equal(resolve(f->s, "no-reply", "example.org", 0, &r), RCPT_NOREPLY);

	/* quota: override beats the plan; SIZE counts; full refuses even SIZE 0 */
	OK(store_address_set_quota(f->s, "alice", "example.org", 1000, E));
	assert_int_equal(resolve(f->s, "alice", "example.org", 1000, &r), RCPT_OK);
	assert_int_equal(resolve(f->s, "alice", "example.org", 1001, &r), RCPT_OVER_QUOTA);
	assert_int_equal(r.quota_bytes, 1000);
	assert_int_equal(sqlite3_exec(f->s->db, "UPDATE addresses SET used_bytes = 1000 WHERE local = 'alice'", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(resolve(f->s, "alice", "example.org", 0, &r), RCPT_OVER_QUOTA);
	assert_int_equal(r.used_bytes, 1000);
	OK(store_address_set_quota(f->s, "alice", "example.org", 0, E)); /* back to the plan's 10 MB */
	assert_int_equal(resolve(f->s, "alice", "example.org", 0, &r), RCPT_OK);
	assert_int_equal(resolve(f->s, "alice", "example.org", 10000000, &r), RCPT_OVER_QUOTA);
	/* pro has no quota (0: unlimited) */
	OK(store_domain_set_plan(f->s, "example.org", PLAN_PRO, E));
	assert_int_equal(resolve(f->s, "alice", "example.org", UINT64_MAX / 2, &r), RCPT_OK);

	/* alias: nothing without a target; a local target receives */
	add_domain_address(f->s, "sales", "example.org", ADDRESS_ALIAS);
	assert_int_equal(resolve(f->s, "sales", "example.org", 0, &r), RCPT_NO_SUCH_USER);
	OK(store_alias_add_target(f->s, "sales", "example.org", "remote@elsewhere.test", E));
	assert_int_equal(resolve(f->s, "sales", "example.org", 0, &r), RCPT_NO_SUCH_USER);
	OK(store_alias_add_target(f->s, "sales", "example.org", "Bob@Example.org", E));
	assert_int_equal(resolve(f->s, "sales", "example.org", 0, &r), RCPT_OK);
	assert_int_equal(r.address_id, bob);
	assert_string_equal(r.mailbox, "bob@example.org");
}

/* ---- delivery ---- */

static struct spool *spool_of(const char *dir, const char *text)
{
	struct spool *sp = spool_new(dir);
	const char *err;

	assert_int_equal(spool_write(sp, text, strlen(text), &err), 0);
	return sp;
}

struct read_buf {
	char data[256 * 1024];
	size_t len;
};

static int read_cb(const void *p, size_t len, void *arg)
{
	struct read_buf *rb = arg;

	assert_true(rb->len + len <= sizeof(rb->data));
	memcpy(rb->data + rb->len, p, len);
	rb->len += len;
	return 0;
}

struct msg_seen {
	int n;
	struct store_message m[16];
};

static void msg_cb(const struct store_message *m, void *arg)
{
	struct msg_seen *ms = arg;

	if (ms->n < 16)
		ms->m[ms->n] = *m;
	ms->n++;
}

static void inbox_messages(struct store *s, int64_t address_id, struct msg_seen *ms)
{
	struct store_folder fo;
	const char *err = NULL;

	memset(ms, 0, sizeof(*ms));
	assert_int_equal(store_folder_get(s, address_id, "INBOX", &fo, &err), 1);
	OK(store_message_list(s, fo.id, msg_cb, ms, E));
}

static void deliver_one(struct store *s, struct spool *sp, const int64_t *ids, size_t n)
{
	struct store_delivery d = { .body = sp, .address_ids = ids, .address_count = n, .internal_date = 1700000000 };
	struct store_delivery *dp = &d;
	const char *err = NULL;

	if (store_deliver_batch(s, &dp, 1, &err) < 0 || d.result < 0)
		fail_msg("deliver: %s / %s", err ? err : "", d.error);
}

static void test_deliver_shared_body(void **state)
{
	struct fixture *f = *state;
	const char *text = "Return-Path: <bob@remote.test>\r\nSubject: hi\r\n\r\nhello\r\n";
	int64_t ids[4];
	struct msg_seen ms;
	struct read_buf *rb = xcalloc(1, sizeof(*rb));
	struct store_address a;
	struct spool *sp;
	const char *err = NULL;

	ids[0] = add_domain_address(f->s, "a", "example.org", ADDRESS_MAILBOX);
	ids[1] = add_domain_address(f->s, "b", "example.org", ADDRESS_MAILBOX);
	ids[2] = add_domain_address(f->s, "c", "example.org", ADDRESS_MAILBOX);
	ids[3] = ids[1]; /* a duplicate gets one copy */
	sp = spool_of(f->dir, "Return-Path: <x@y.test>\r\n\r\nfirst\r\n");
	deliver_one(f->s, sp, &ids[0], 1);
	spool_free(sp);
	sp = spool_of(f->dir, text);
	deliver_one(f->s, sp, ids, 4);
	spool_free(sp);

	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM bodies"), 2);
	assert_int_equal(count_rows(f->s, "SELECT refcount FROM bodies ORDER BY id DESC LIMIT 1"), 3);
	for (int i = 0; i < 3; i++) {
		inbox_messages(f->s, ids[i], &ms);
		assert_int_equal(ms.n, i == 0 ? 2 : 1);
		assert_int_equal(ms.m[ms.n - 1].uid, i == 0 ? 2 : 1);
		assert_int_equal(ms.m[ms.n - 1].size, strlen(text));
		assert_int_equal(ms.m[ms.n - 1].internal_date, 1700000000);
		rb->len = 0;
		OK(store_message_read(f->s, ms.m[ms.n - 1].mail_id, read_cb, rb, E));
		assert_int_equal(rb->len, strlen(text));
		assert_memory_equal(rb->data, text, rb->len);
	}
	assert_int_equal(store_address_get(f->s, "b", "example.org", &a, &err), 1);
	assert_int_equal(a.used_bytes, strlen(text));
	assert_int_equal(a.message_count, 1);
	inbox_messages(f->s, ids[0], &ms);
	assert_true(ms.m[1].modseq > ms.m[0].modseq);
	free(rb);
}

static void test_deliver_batch_group_commit(void **state)
{
	struct fixture *f = *state;
	enum { N = 200 };
	struct store_delivery *d = xcalloc(N, sizeof(*d)), *dp[N];
	int64_t ids[2];
	uint64_t commits = f->s->batch_commits, syncs;
	struct msg_seen ms;
	const char *err = NULL;

	ids[0] = add_domain_address(f->s, "a", "example.org", ADDRESS_MAILBOX);
	ids[1] = add_domain_address(f->s, "b", "example.org", ADDRESS_MAILBOX);
	for (int i = 0; i < N; i++) {
		char text[64];

		snprintf(text, sizeof(text), "Subject: %d\r\n\r\nbody\r\n", i);
		d[i] = (struct store_delivery){ .body = spool_of(f->dir, text), .address_ids = ids,
						 .address_count = 2, .internal_date = 1 };
		dp[i] = &d[i];
	}
	/* one address gone between RCPT and delivery: only its delivery fails */
	d[7].address_ids = (const int64_t[]){ 999999 };
	d[7].address_count = 1;
	d[9].address_count = 0; /* and one with no address at all */
	syncs = f->s->data_syncs;
	OK(store_deliver_batch(f->s, dp, N, E));
	assert_int_equal(f->s->batch_commits, commits + 1);
	/* one fdatasync of the segment + at most one directory fsync */
	assert_true(f->s->data_syncs - syncs <= 2);
	for (int i = 0; i < N; i++) {
		assert_int_equal(d[i].result, i == 7 || i == 9 ? -1 : 0);
		spool_free(d[i].body);
	}
	assert_non_null(strstr(d[7].error, "no longer exists"));
	inbox_messages(f->s, ids[1], &ms);
	assert_non_null(strstr(d[9].error, "at least one receiving address"));
	assert_int_equal(ms.n, N - 2);
	assert_int_equal(ms.m[15].uid, 16);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM bodies"), N - 2);
	free(d);
	(void)err;
}

static int count_segment_files(const char *dir)
{
	char *msg = xasprintf("%s/msg", dir);
	DIR *dp = opendir(msg);
	struct dirent *de;
	int n = 0;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		n += de->d_name[0] != '.';
	closedir(dp);
	free(msg);
	return n;
}

static void test_big_body_rename_and_remove(void **state)
{
	struct fixture *f = *state;
	struct read_buf *rb = xcalloc(1, sizeof(*rb));
	struct spool *sp = spool_new(f->dir);
	char *chunk = xmalloc(100000);
	int64_t ids[2], messages = 0, bytes = 0;
	struct msg_seen ms;
	const char *err = NULL;

	ids[0] = add_domain_address(f->s, "a", "example.org", ADDRESS_MAILBOX);
	ids[1] = add_domain_address(f->s, "b", "example.org", ADDRESS_MAILBOX);
	for (int i = 0; i < 100000; i++)
		chunk[i] = (char)('a' + i % 26);
	OK(spool_write(sp, chunk, 100000, E));
	assert_true(spool_fd(sp) >= 0); /* spilled */
	deliver_one(f->s, sp, ids, 2);
	spool_free(sp); /* must not unlink: the store took the file */
	assert_int_equal(count_segment_files(f->dir), 1);
	sp = spool_of(f->dir, "small\r\n");
	deliver_one(f->s, sp, ids, 1);
	spool_free(sp);
	assert_int_equal(count_segment_files(f->dir), 2);

	inbox_messages(f->s, ids[1], &ms);
	OK(store_message_read(f->s, ms.m[0].mail_id, read_cb, rb, E));
	assert_int_equal(rb->len, 100000);
	assert_memory_equal(rb->data, chunk, 100000);

	OK(store_address_remove(f->s, "a", "example.org", &messages, &bytes, E));
	assert_int_equal(messages, 2);
	assert_int_equal(bytes, 100000 + 7);
	/* b still references the big body */
	assert_int_equal(count_segment_files(f->dir), 2);
	assert_int_equal(count_rows(f->s, "SELECT refcount FROM bodies WHERE length = 100000"), 1);
	OK(store_address_remove(f->s, "b", "example.org", &messages, &bytes, E));
	assert_int_equal(messages, 1);
	/* the big body's sealed segment went; the open small one stays */
	assert_int_equal(count_segment_files(f->dir), 1);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM bodies"), 0);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM folders"), 0);
	expect_error(store_address_remove(f->s, "b", "example.org", NULL, NULL, &err), err,
		     "address b@example.org does not exist");
	free(chunk);
	free(rb);
}

static void test_segment_roll_and_reopen(void **state)
{
	struct fixture *f = *state;
	int64_t id = add_domain_address(f->s, "a", "example.org", ADDRESS_MAILBOX);
	char text[1000];
	int64_t messages, bytes;
	struct msg_seen ms;
	const char *err = NULL;

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	f->s->seg_max = 2500; /* three 999-byte bodies do not fit in one */
	for (int i = 0; i < 5; i++) {
		struct spool *sp = spool_of(f->dir, text);

		deliver_one(f->s, sp, &id, 1);
		spool_free(sp);
	}
	assert_int_equal(count_segment_files(f->dir), 3);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM segments WHERE sealed = 1"), 2);
	/* reopen: appends continue at the open segment's real size */
	store_close(f->s);
	if (store_open(f->dir, &f->s, &err) < 0)
		fail_msg("reopen: %s", err);
	{
		struct spool *sp = spool_of(f->dir, "after reopen\r\n");

		deliver_one(f->s, sp, &id, 1);
		spool_free(sp);
	}
	assert_int_equal(count_rows(f->s, "SELECT offset FROM bodies ORDER BY id DESC LIMIT 1"), 999);
	inbox_messages(f->s, id, &ms);
	assert_int_equal(ms.n, 6);
	OK(store_address_remove(f->s, "a", "example.org", &messages, &bytes, E));
	assert_int_equal(messages, 6);
	assert_int_equal(bytes, 5 * 999 + 14);
	assert_int_equal(count_segment_files(f->dir), 1); /* the two sealed ones went */
}

static void test_export_mbox(void **state)
{
	struct fixture *f = *state;
	int64_t id = add_domain_address(f->s, "alice", "example.org", ADDRESS_MAILBOX);
	const char *m1 = "Return-Path: <bob@remote.test>\r\nSubject: q\r\n\r\nFrom here\r\n>From there\r\n"
			 ">>From x\r\nFromage\r\n> From no\r\nline\rwith CR\r\nend";
	const char *m2 = "Return-Path: <>\r\n\r\nbye\r\n";
	const char *expect = "From bob@remote.test Tue Nov 14 22:13:20 2023\n"
			     "Return-Path: <bob@remote.test>\nSubject: q\n\n>From here\n>>From there\n"
			     ">>>From x\nFromage\n> From no\nline\rwith CR\nend\n\n"
			     "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n"
			     "Return-Path: <>\n\nbye\n\n";
	char *out = NULL;
	size_t out_len = 0;
	FILE *fp = open_memstream(&out, &out_len);
	struct spool *sp;
	const char *err = NULL;

	sp = spool_of(f->dir, m1);
	deliver_one(f->s, sp, &id, 1);
	spool_free(sp);
	sp = spool_of(f->dir, m2);
	deliver_one(f->s, sp, &id, 1);
	spool_free(sp);
	OK(store_export_mbox(f->s, "alice", "example.org", "INBOX", fp, E));
	fclose(fp);
	assert_string_equal(out, expect);
	free(out);
	fp = open_memstream(&out, &out_len);
	expect_error(store_export_mbox(f->s, "alice", "example.org", "Nope", fp, &err), err,
		     "folder Nope of alice@example.org does not exist");
	expect_error(store_export_mbox(f->s, "zed", "example.org", "INBOX", fp, &err), err, "does not exist");
	fclose(fp);
	free(out);
}


/* ---- the asynchronous layer, driven from a libevent loop ---- */

struct async_ctx {
	int rcpt_done;
	enum rcpt_status status;
	int64_t address_id;
	int deliver_done;
	int deliver_failed;
	int cancelled_called;
	/* benchmark: sessions that send their next message on completion */
	struct store_async *sa;
	const char *dir;
	const int64_t *ids;
	int to_send;
	const char *body;
};

static void on_rcpt(const struct store_rcpt *r, const char *errstr, void *arg)
{
	struct async_ctx *c = arg;

	assert_non_null(r);
	assert_null(errstr);
	c->status = r->status;
	c->address_id = r->address_id;
	c->rcpt_done++;
}

static void on_deliver(int result, const char *errstr, void *arg)
{
	struct async_ctx *c = arg;

	if (result < 0)
		c->deliver_failed++;
	assert_true(result == 0 || errstr != NULL);
	c->deliver_done++;
}

static void on_cancelled(const struct store_rcpt *r, const char *errstr, void *arg)
{
	((struct async_ctx *)arg)->cancelled_called++;
}

static void on_cancelled_delivery(int result, const char *errstr, void *arg)
{
	((struct async_ctx *)arg)->cancelled_called++;
}

static void run_until(struct event_base *base, const int *counter, int target)
{
	alarm(120); /* a hang fails the test instead of the whole run */
	while (*counter < target)
		assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
	alarm(0);
}

static struct store_async *async_start(struct fixture *f, struct event_base **base_r)
{
	struct store_async *sa;
	const char *err = NULL;

	*base_r = event_base_new();
	assert_non_null(*base_r);
	if ((sa = store_async_new(*base_r, f->dir, 2, &err)) == NULL)
		fail_msg("store_async_new: %s", err);
	return sa;
}

static void test_async_rcpt_and_deliver(void **state)
{
	struct fixture *f = *state;
	struct async_ctx c = { 0 };
	struct event_base *base;
	struct store_async *sa = async_start(f, &base);
	int64_t id = add_domain_address(f->s, "alice", "example.org", ADDRESS_MAILBOX);
	struct msg_seen ms;

	store_async_rcpt_resolve(sa, "Alice", "example.org", 100, test_plans, on_rcpt, &c);
	/* the callback never runs inside the call: only from the loop */
	assert_int_equal(c.rcpt_done, 0);
	run_until(base, &c.rcpt_done, 1);
	assert_int_equal(c.status, RCPT_OK);
	assert_int_equal(c.address_id, id);
	store_async_rcpt_resolve(sa, "x", "elsewhere.test", 0, test_plans, on_rcpt, &c);
	run_until(base, &c.rcpt_done, 2);
	assert_int_equal(c.status, RCPT_NOT_HOSTED);

	store_async_deliver(sa, spool_of(f->dir, "Subject: async\r\n\r\nhi\r\n"), &id, 1, 1700000000, on_deliver, &c);
	store_async_deliver(sa, spool_of(f->dir, "x\r\n"), (const int64_t[]){ 424242 }, 1, 1, on_deliver, &c);
	run_until(base, &c.deliver_done, 2);
	assert_int_equal(c.deliver_failed, 1);
	/* durable and visible through another connection */
	inbox_messages(f->s, id, &ms);
	assert_int_equal(ms.n, 1);
	store_async_free(sa);
	event_base_free(base);
}

static void test_async_cancel(void **state)
{
	struct fixture *f = *state;
	struct async_ctx c = { 0 };
	struct event_base *base;
	struct store_async *sa = async_start(f, &base);
	int64_t id = add_domain_address(f->s, "alice", "example.org", ADDRESS_MAILBOX);
	struct store_req *r1, *r2;
	struct msg_seen ms;

	r1 = store_async_rcpt_resolve(sa, "alice", "example.org", 0, test_plans, on_cancelled, &c);
	r2 = store_async_deliver(sa, spool_of(f->dir, "cancelled but kept\r\n"), &id, 1, 1, on_cancelled_delivery, &c);
	store_req_cancel(r1);
	store_req_cancel(r2);
	store_async_rcpt_resolve(sa, "alice", "example.org", 0, test_plans, on_rcpt, &c);
	store_async_deliver(sa, spool_of(f->dir, "live\r\n"), &id, 1, 1, on_deliver, &c);
	run_until(base, &c.deliver_done, 1);
	run_until(base, &c.rcpt_done, 1);
	store_async_free(sa);
	event_base_free(base);
	assert_int_equal(c.cancelled_called, 0);
	/* SMTP is at-least-once: the cancelled delivery is stored all the same */
	inbox_messages(f->s, id, &ms);
	assert_int_equal(ms.n, 2);
}

static void test_async_drain_on_free(void **state)
{
	struct fixture *f = *state;
	struct async_ctx c = { 0 };
	struct event_base *base;
	struct store_async *sa = async_start(f, &base);
	int64_t id = add_domain_address(f->s, "alice", "example.org", ADDRESS_MAILBOX);
	struct msg_seen ms;
	struct store_folder fo;
	const char *err = NULL;

	for (int i = 0; i < 300; i++)
		store_async_deliver(sa, spool_of(f->dir, "queued\r\n"), &id, 1, 1, on_deliver, &c);
	store_async_rcpt_resolve(sa, "alice", "example.org", 0, test_plans, on_rcpt, &c);
	/* no loop iteration at all: free must finish the work and call back */
	store_async_free(sa);
	assert_int_equal(c.deliver_done, 300);
	assert_int_equal(c.deliver_failed, 0);
	assert_int_equal(c.rcpt_done, 1);
	inbox_messages(f->s, id, &ms);
	assert_int_equal(ms.n, 300);
	assert_int_equal(store_folder_get(f->s, id, "INBOX", &fo, &err), 1);
	assert_int_equal(fo.uidnext, 301);
	event_base_free(base);
}

/* A session: on each completion, sends its next message. */
static void on_bench_deliver(int result, const char *errstr, void *arg)
{
	struct async_ctx *c = arg;

	if (result < 0)
		fail_msg("delivery failed: %s", errstr);
	c->deliver_done++;
	if (c->to_send > 0) {
		c->to_send--;
		store_async_deliver(c->sa, spool_of(c->dir, c->body), &c->ids[c->deliver_done % 20], 1, 1,
				    on_bench_deliver, c);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Group commit through the async layer: 20 concurrent "sessions" each send
 * their next 4 KiB message when the previous one is durable, so at most 20
 * are ever queued; batches must carry many deliveries per commit.
 * HERMOD_BENCH_MESSAGES sets the count (default 4000).
 */
static void test_async_group_commit_bench(void **state)
{
	struct fixture *f = *state;
	const char *env = getenv("HERMOD_BENCH_MESSAGES");
	const char *env_sessions = getenv("HERMOD_BENCH_SESSIONS");
	int total = env != NULL ? atoi(env) : 4000;
	int sessions = env_sessions != NULL ? atoi(env_sessions) : 20;
	struct async_ctx c = { 0 };
	struct store_async_stats st;
	struct event_base *base;
	struct store_async *sa = async_start(f, &base);
	int64_t ids[20];
	char *body = xmalloc(4097);
	double t0, dt;

	if (sessions < 1 || sessions > 20 || total < sessions)
		fail_msg("HERMOD_BENCH_SESSIONS must be 1..20 and at most the message count");

	for (int i = 0; i < 20; i++) {
		char local[16];

		snprintf(local, sizeof(local), "user%d", i);
		ids[i] = add_domain_address(f->s, local, "example.org", ADDRESS_MAILBOX);
	}
	memset(body, 'm', 4096);
	body[4096] = '\0';
	c = (struct async_ctx){ .sa = sa, .dir = f->dir, .ids = ids, .to_send = total - sessions, .body = body };
	t0 = now_s();
	for (int i = 0; i < sessions; i++)
		store_async_deliver(sa, spool_of(f->dir, body), &ids[i], 1, 1, on_bench_deliver, &c);
	run_until(base, &c.deliver_done, total);
	dt = now_s() - t0;
	store_async_stats(sa, &st);
	print_message("store bench: %d x 4 KiB deliveries, %d concurrent: %.3f s, %.0f msg/s, %llu batches "
		      "(%.1f per batch, largest %llu)\n",
		      total, sessions, dt, total / dt, (unsigned long long)st.batches, (double)st.deliveries / (double)st.batches,
		      (unsigned long long)st.largest_batch);
	assert_int_equal(st.deliveries, total);
	/* far fewer commits than messages */
	if (sessions >= 10)
		assert_true(st.batches * 2 < (uint64_t)total);
	store_async_free(sa);
	event_base_free(base);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orgs_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcpt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_shared_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_batch_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_body_rename_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_roll_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_mbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_rcpt_and_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_drain_on_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_group_commit_bench, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
