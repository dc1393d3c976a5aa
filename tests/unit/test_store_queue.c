/*
 * test_store_queue: the outbound queue, send log, send-as permission and
 * DKIM keys (store_queue.h), and submissions through store_deliver_batch and
 * store_async_submit, against a real temporary data directory.
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
#include <event2/event.h>

#include "lib/xalloc.h"
#include "outbound/dkim.h"
#include "store/store.h"
#include "store/store_async.h"
#include "store/store_mail.h"
#include "store/store_private.h"
#include "store/store_queue.h"

#define T0 1700000000

struct fixture {
	char *dir;
	struct store *s;
	int64_t alice, bob; /* mailboxes of example.org */
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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static char *make_tmpdir(void)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char *tmpl = xasprintf("%s/squeue-XXXXXX", base != NULL ? base : "/tmp");

	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static void populate(struct fixture *f)
{
	OK(store_domain_add(f->s, "example.org", NULL, PLAN_STARTER, NULL, E));
	OK(store_address_add(f->s, "alice", "example.org", ADDRESS_MAILBOX, "$argon2id$x", &f->alice, E));
	OK(store_address_add(f->s, "bob", "example.org", ADDRESS_MAILBOX, "$argon2id$x", &f->bob, E));
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
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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

static struct spool *spool_of(const char *dir, const char *text)
{
	struct spool *sp = spool_new(dir);
	const char *err;

	assert_int_equal(spool_write(sp, text, strlen(text), &err), 0);
	return sp;
}

/* A body big enough to spill: it becomes a sealed segment of its own. */
static struct spool *big_spool(const char *dir)
{
	struct spool *sp = spool_new(dir);
	char *chunk = xmalloc(100000);
	const char *err;

	for (int i = 0; i < 100000; i++)
		chunk[i] = (char)('a' + i % 26);
	assert_int_equal(spool_write(sp, chunk, 100000, &err), 0);
	free(chunk);
	return sp;
}

static const struct store_outbound_rcpt two_remote[] = {
	{ "carol@remote.test", STORE_NOTIFY_FAILURE | STORE_NOTIFY_DELAY, "rfc822;carol@remote.test" },
	{ "dave@other.test", 0, NULL },
};

static struct store_outbound outbound(int64_t sender, const struct store_outbound_rcpt *rcpts, size_t n,
				      unsigned log_count)
{
	return (struct store_outbound){ .envelope_from = "alice@example.org", .sender_address_id = sender,
					.sender_address = "alice@example.org",
					.envid = "ENV-1", .ret = STORE_RET_HDRS,
					.prefix = "DKIM-Signature: v=1; a=rsa-sha256; b=xyz\r\n", .rcpts = rcpts,
					.rcpt_count = n, .send_log_count = log_count };
}

/* One submission on its own batch; fails the test if it does not succeed. */
static void submit(struct store *s, struct spool *sp, const int64_t *ids, size_t n, const struct store_outbound *out,
		   int64_t date)
{
	struct store_delivery d = { .body = sp, .address_ids = ids, .address_count = n, .outbound = out,
				    .internal_date = date };
	struct store_delivery *dp = &d;
	const char *err = NULL;

	if (store_deliver_batch(s, &dp, 1, &err) < 0 || d.result < 0)
		fail_msg("submit: %s / %s", err ? err : "", d.error);
	spool_free(sp);
}

struct entries {
	size_t n;
	struct store_queue_entry v[8];
};

static void entry_cb(const struct store_queue_entry *e, void *arg)
{
	struct entries *l = arg;

	if (l->n < 8)
		l->v[l->n] = *e;
	l->n++;
}

static struct entries *due(struct store *s, int64_t now, size_t max)
{
	static struct entries l;

	memset(&l, 0, sizeof(l));
	OK(store_queue_due(s, now, max, entry_cb, &l, E));
	return &l;
}

struct rcpts {
	size_t n;
	struct store_queue_rcpt v[8];
};

static void rcpt_cb(const struct store_queue_rcpt *r, void *arg)
{
	struct rcpts *l = arg;

	if (l->n < 8)
		l->v[l->n] = *r;
	l->n++;
}

static void rcpts_of(struct store *s, int64_t id, struct rcpts *l)
{
	memset(l, 0, sizeof(*l));
	OK(store_queue_recipients(s, id, rcpt_cb, l, E));
}

/* The only entry in the queue. */
static int64_t only_entry(struct store *s)
{
	assert_int_equal(q1(s, "SELECT count(*) FROM queue_messages"), 1);
	return q1(s, "SELECT id FROM queue_messages");
}

static int64_t body_refcount(struct store *s, int64_t body_id)
{
	char *sql = xasprintf("SELECT refcount FROM bodies WHERE id = %lld", (long long)body_id);
	int64_t v = q1(s, sql);

	free(sql);
	return v;
}

static int64_t inbox_of(struct store *s, int64_t addr)
{
	struct store_folder fo;
	const char *err = NULL;

	assert_int_equal(store_folder_get(s, addr, "INBOX", &fo, &err), 1);
	return fo.id;
}

static int64_t inbox_count(struct store *s, int64_t addr)
{
	char *sql = xasprintf("SELECT count(*) FROM mail WHERE folder_id = %lld", (long long)inbox_of(s, addr));
	int64_t v = q1(s, sql);

	free(sql);
	return v;
}

/* ---- schema ---- */

static void test_migration_from_v2(void **state)
{
	char *dir = make_tmpdir();
	struct fixture f = { .dir = dir };
	struct store_outbound out = outbound(1, two_remote, 2, 2);
	struct store_queue_entry e;
	const char *err = NULL;
	uint64_t n;
	int64_t oldest;

	(void)state;
	if (store_open_at_version(dir, 2, &f.s, &err) < 0)
		fail_msg("open v2: %s", err);
	assert_int_equal(store_schema_version(f.s), 2);
	assert_int_equal(q1(f.s, "SELECT count(*) FROM pragma_table_info('queue_messages') WHERE name = 'prefix'"), 0);
	/* rows as version 2 wrote them: a domain, an address, a send_log row */
	populate(&f);
	OK(store_exec(f.s, "INSERT INTO send_log (address_id, sent_at, recipients) VALUES (1, 1699999000, 3)", E));
	store_close(f.s);

	if (store_open(dir, &f.s, &err) < 0)
		fail_msg("upgrade: %s", err);
	assert_int_equal(store_schema_version(f.s), store_schema_latest());
	assert_int_equal(q1(f.s, "SELECT count(*) FROM pragma_table_info('queue_messages')"
				 " WHERE name IN ('prefix', 'envid', 'ret', 'address_id', 'delay_notified', 'held')"), 6);
	assert_int_equal(q1(f.s, "SELECT count(*) FROM pragma_table_info('queue_recipients') WHERE name IN"
				 " ('dsn_orcpt', 'dsn_notify', 'status', 'last_reply', 'remote_mta', 'last_attempt')"), 6);
	assert_int_equal(q1(f.s, "SELECT count(*) FROM sqlite_master WHERE name IN"
				 " ('queue_messages_due', 'send_log_address')"), 2);
	/* the old rows still count, and a submission works on the upgraded store */
	OK(store_send_count(f.s, f.alice, T0 - 86400, &n, &oldest, E));
	assert_int_equal(n, 3);
	submit(f.s, spool_of(dir, "Subject: upgraded\r\n\r\nhi\r\n"), NULL, 0, &out, T0);
	assert_int_equal(store_queue_get(f.s, only_entry(f.s), &e, &err), 1);
	assert_string_equal(e.prefix, out.prefix);
	OK(store_send_count(f.s, f.alice, T0 - 86400, &n, &oldest, E));
	assert_int_equal(n, 5);
	assert_int_equal(oldest, 1699999000);
	store_close(f.s);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* ---- submissions ---- */

static void test_submit_local_and_remote_one_commit(void **state)
{
	struct fixture *f = *state;
	struct store_outbound out = outbound(f->alice, two_remote, 2, 4);
	const int64_t locals[] = { f->bob, f->alice, f->bob }; /* a duplicate gets no second copy */
	struct store_delivery d[2], *dp[2] = { &d[0], &d[1] };
	struct store_queue_entry e;
	struct rcpts r;
	uint64_t syncs, commits, n;
	int64_t oldest, id;
	const char *err = NULL;

	/* an earlier inbound delivery opened the segment: what follows costs exactly one sync */
	submit(f->s, spool_of(f->dir, "warm-up\r\n"), &f->bob, 1, NULL, T0 - 10);
	syncs = f->s->data_syncs;
	commits = f->s->batch_commits;
	d[0] = (struct store_delivery){ .body = spool_of(f->dir, "Subject: out\r\n\r\nto four\r\n"),
					.address_ids = locals, .address_count = 3, .outbound = &out,
					.internal_date = T0 };
	d[1] = (struct store_delivery){ .body = spool_of(f->dir, "inbound\r\n"), .address_ids = &f->alice,
					.address_count = 1, .internal_date = T0 };
	OK(store_deliver_batch(f->s, dp, 2, E));
	assert_int_equal(d[0].result, 0);
	assert_int_equal(d[1].result, 0);
	spool_free(d[0].body);
	spool_free(d[1].body);
	assert_int_equal(f->s->data_syncs - syncs, 1);
	assert_int_equal(f->s->batch_commits - commits, 1);

	/* local copies */
	assert_int_equal(inbox_count(f->s, f->bob), 2);
	assert_int_equal(inbox_count(f->s, f->alice), 2);
	/* the queue entry and its body: bob, alice and the entry hold it */
	id = only_entry(f->s);
	assert_int_equal(store_queue_get(f->s, id, &e, &err), 1);
	assert_int_equal(body_refcount(f->s, e.body_id), 3);
	assert_int_equal(e.size, strlen("Subject: out\r\n\r\nto four\r\n"));
	assert_string_equal(e.envelope_from, "alice@example.org");
	assert_int_equal(e.sender_address_id, f->alice);
	assert_string_equal(e.envid, "ENV-1");
	assert_int_equal(e.ret, STORE_RET_HDRS);
	assert_string_equal(e.prefix, "DKIM-Signature: v=1; a=rsa-sha256; b=xyz\r\n");
	assert_int_equal(e.created_at, T0);
	assert_int_equal(e.next_attempt, T0);
	assert_int_equal(e.attempts, 0);
	assert_false(e.delay_notified);
	assert_false(e.held);
	assert_int_equal(e.pending, 2);
	rcpts_of(f->s, id, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].address, "carol@remote.test");
	assert_string_equal(r.v[0].orcpt, "rfc822;carol@remote.test");
	assert_int_equal(r.v[0].notify, STORE_NOTIFY_FAILURE | STORE_NOTIFY_DELAY);
	assert_int_equal(r.v[0].status, STORE_QRCPT_PENDING);
	assert_string_equal(r.v[0].last_reply, "");
	assert_string_equal(r.v[0].remote_mta, "");
	assert_int_equal(r.v[0].last_attempt, 0);
	assert_string_equal(r.v[1].address, "dave@other.test");
	assert_string_equal(r.v[1].orcpt, "");
	assert_int_equal(r.v[1].notify, 0);
	/* every recipient counted, at the internal date */
	OK(store_send_count(f->s, f->alice, T0 - 86400, &n, &oldest, E));
	assert_int_equal(n, 4);
	assert_int_equal(oldest, T0);
	OK(store_send_count(f->s, f->bob, T0 - 86400, &n, &oldest, E));
	assert_int_equal(n, 0);
	assert_int_equal(oldest, 0);
}

static void test_submit_remote_only_and_refusals(void **state)
{
	struct fixture *f = *state;
	struct store_outbound ok = outbound(f->alice, two_remote, 2, 2);
	struct store_outbound none = outbound(f->alice, NULL, 0, 0);
	struct store_outbound long_envid = outbound(f->alice, two_remote, 2, 2);
	struct store_outbound gone_sender = outbound(424242, two_remote, 2, 2);
	struct store_outbound notice = { .envelope_from = "", .rcpts = two_remote, .rcpt_count = 1 };
	char envid[STORE_QUEUE_ENVID_MAX + 2];
	struct store_delivery d[6], *dp[6];
	struct store_queue_entry e;
	const char *err = NULL;

	memset(envid, 'x', sizeof(envid) - 1);
	envid[sizeof(envid) - 1] = '\0';
	long_envid.envid = envid;
	d[0] = (struct store_delivery){ .outbound = &ok };
	d[1] = (struct store_delivery){ .outbound = &none };
	d[2] = (struct store_delivery){ .outbound = &long_envid };
	d[3] = (struct store_delivery){ .outbound = &gone_sender };
	d[4] = (struct store_delivery){ .outbound = NULL };
	d[5] = (struct store_delivery){ .outbound = &notice };
	for (int i = 0; i < 6; i++) {
		d[i].body = spool_of(f->dir, "Subject: remote\r\n\r\nonly\r\n");
		d[i].internal_date = T0 + i;
		dp[i] = &d[i];
	}
	OK(store_deliver_batch(f->s, dp, 6, E));
	assert_int_equal(d[0].result, 0);
	assert_int_equal(d[1].result, -1);
	assert_non_null(strstr(d[1].error, "needs at least one recipient"));
	assert_int_equal(d[2].result, -1);
	assert_non_null(strstr(d[2].error, "ENVID is too long"));
	assert_int_equal(d[3].result, -1);
	assert_non_null(strstr(d[3].error, "sending address (id 424242) no longer exists"));
	assert_int_equal(d[4].result, -1);
	assert_non_null(strstr(d[4].error, "at least one receiving address"));
	assert_int_equal(d[5].result, 0); /* a notice: null sender, nothing counted */
	for (int i = 0; i < 6; i++)
		spool_free(d[i].body);

	/* the failed ones left nothing behind: two entries, two bodies, no mail */
	assert_int_equal(q1(f->s, "SELECT count(*) FROM queue_messages"), 2);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM queue_recipients"), 3);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 2);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies WHERE refcount = 1"), 2);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM mail"), 0);
	assert_int_equal(q1(f->s, "SELECT coalesce(sum(recipients), 0) FROM send_log"), 2);
	assert_int_equal(store_queue_get(f->s, q1(f->s, "SELECT max(id) FROM queue_messages"), &e, &err), 1);
	assert_string_equal(e.envelope_from, "");
	assert_int_equal(e.sender_address_id, 0);
	assert_string_equal(e.envid, "");
	assert_int_equal(e.ret, STORE_RET_UNSET);
	assert_string_equal(e.prefix, "");
}

/* ---- bodies: shared by the mailbox copies and the queue entry ---- */

static void deliver_big_with_remote(struct fixture *f, int64_t *entry_r, int64_t *body_r)
{
	struct store_outbound out = outbound(f->alice, two_remote, 1, 2);
	struct store_queue_entry e;
	const char *err = NULL;

	submit(f->s, spool_of(f->dir, "small, keeps the open segment\r\n"), &f->alice, 1, NULL, T0 - 1);
	submit(f->s, big_spool(f->dir), &f->bob, 1, &out, T0);
	*entry_r = only_entry(f->s);
	assert_int_equal(store_queue_get(f->s, *entry_r, &e, &err), 1);
	*body_r = e.body_id;
	assert_int_equal(e.size, 100000);
	assert_int_equal(body_refcount(f->s, *body_r), 2);
	assert_int_equal(count_segment_files(f->dir), 2);
}

static void delivered(struct store *s, int64_t entry)
{
	struct rcpts r;
	struct store_queue_result res;

	rcpts_of(s, entry, &r);
	assert_int_equal(r.n, 1);
	res = (struct store_queue_result){ r.v[0].id, STORE_QRCPT_DELIVERED, "250 2.0.0 Ok: queued as X",
					   "mx.remote.test" };
	OK(store_queue_record(s, entry, &res, 1, T0 + 5, T0 + 5, false, E));
}

static void test_refcount_queue_finishes_first(void **state)
{
	struct fixture *f = *state;
	int64_t entry, body;
	uint32_t uid = 1;
	size_t got = 0;
	char buf[16];
	const char *err = NULL;

	deliver_big_with_remote(f, &entry, &body);
	delivered(f->s, entry);
	/* the entry went; bob's copy keeps the body and its segment */
	assert_int_equal(q1(f->s, "SELECT count(*) FROM queue_messages"), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM queue_recipients"), 0);
	assert_int_equal(body_refcount(f->s, body), 1);
	assert_int_equal(count_segment_files(f->dir), 2);
	OK(store_body_pread(f->s, body, 0, buf, 3, &got, E));
	assert_int_equal(got, 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(store_queue_get(f->s, entry, &(struct store_queue_entry){ 0 }, &err), 0);
	/* bob expunges it: body and sealed segment go */
	OK(store_mail_expunge(f->s, inbox_of(f->s, f->bob), &uid, 1, NULL, NULL, E));
	assert_int_equal(body_refcount(f->s, body), -1);
	assert_int_equal(count_segment_files(f->dir), 1);
}

static void test_refcount_mailbox_expunged_first(void **state)
{
	struct fixture *f = *state;
	int64_t entry, body;
	uint32_t uid = 1;
	size_t got = 0;
	char buf[16];

	deliver_big_with_remote(f, &entry, &body);
	OK(store_mail_expunge(f->s, inbox_of(f->s, f->bob), &uid, 1, NULL, NULL, E));
	/* the queue still needs it */
	assert_int_equal(body_refcount(f->s, body), 1);
	assert_int_equal(count_segment_files(f->dir), 2);
	OK(store_body_pread(f->s, body, 99997, buf, sizeof(buf), &got, E));
	assert_int_equal(got, 3);
	delivered(f->s, entry);
	assert_int_equal(body_refcount(f->s, body), -1);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 1); /* the small one */
	assert_int_equal(count_segment_files(f->dir), 1);
}

static void test_address_removal_keeps_queued_body(void **state)
{
	struct fixture *f = *state;
	int64_t entry, body, messages = 0, bytes = 0;
	struct store_queue_entry e;
	const char *err = NULL;

	deliver_big_with_remote(f, &entry, &body);
	OK(store_address_remove(f->s, "bob", "example.org", &messages, &bytes, E));
	assert_int_equal(messages, 1);
	assert_int_equal(body_refcount(f->s, body), 1);
	/* the sender goes too: the entry stays, without a sender id */
	OK(store_address_remove(f->s, "alice", "example.org", &messages, &bytes, E));
	assert_int_equal(store_queue_get(f->s, entry, &e, &err), 1);
	assert_int_equal(e.sender_address_id, 0);
	assert_int_equal(count_segment_files(f->dir), 2);
	assert_int_equal(store_queue_remove(f->s, entry, &err), 1);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 0);
	assert_int_equal(count_segment_files(f->dir), 1);
}

/* ---- scheduling ---- */

static void test_due_ordering(void **state)
{
	struct fixture *f = *state;
	struct store_outbound out = outbound(f->alice, two_remote, 1, 0);
	int64_t ids[4], when = -1;
	struct entries *l;

	OK(store_queue_next_due(f->s, &when, E));
	assert_int_equal(when, 0);
	/* arrival order: 300, 100, 200, 100 */
	const int64_t dates[4] = { T0 + 300, T0 + 100, T0 + 200, T0 + 100 };
	for (int i = 0; i < 4; i++) {
		submit(f->s, spool_of(f->dir, "m\r\n"), NULL, 0, &out, dates[i]);
		ids[i] = q1(f->s, "SELECT max(id) FROM queue_messages");
	}
	l = due(f->s, T0 + 99, 10);
	assert_int_equal(l->n, 0);
	l = due(f->s, T0 + 200, 10);
	assert_int_equal(l->n, 3);
	assert_int_equal(l->v[0].id, ids[1]);
	assert_int_equal(l->v[1].id, ids[3]);
	assert_int_equal(l->v[2].id, ids[2]);
	l = due(f->s, T0 + 1000, 2);
	assert_int_equal(l->n, 2);
	assert_int_equal(l->v[0].id, ids[1]);
	assert_int_equal(l->v[0].pending, 1);
	OK(store_queue_next_due(f->s, &when, E));
	assert_int_equal(when, T0 + 100);
	/* held ones are neither due nor next */
	OK(store_queue_hold(f->s, ids[1], true, E));
	OK(store_queue_hold(f->s, ids[3], true, E));
	OK(store_queue_next_due(f->s, &when, E));
	assert_int_equal(when, T0 + 200);
	l = due(f->s, T0 + 1000, 10);
	assert_int_equal(l->n, 2);
	assert_int_equal(l->v[0].id, ids[2]);
	assert_int_equal(l->v[1].id, ids[0]);
}

static void test_list_newest_first(void **state)
{
	struct fixture *f = *state;
	struct store_outbound out = outbound(f->alice, two_remote, 2, 0);
	struct entries l = { 0 };

	OK(store_queue_list(f->s, entry_cb, &l, E));
	assert_int_equal(l.n, 0);
	submit(f->s, spool_of(f->dir, "old\r\n"), NULL, 0, &out, T0);
	submit(f->s, spool_of(f->dir, "new\r\n"), NULL, 0, &out, T0 + 60);
	OK(store_queue_hold(f->s, q1(f->s, "SELECT min(id) FROM queue_messages"), true, E));
	OK(store_queue_list(f->s, entry_cb, &l, E));
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].created_at, T0 + 60);
	assert_false(l.v[0].held);
	assert_int_equal(l.v[1].created_at, T0);
	assert_true(l.v[1].held);
	assert_int_equal(l.v[1].pending, 2);
}

/* ---- attempts ---- */

static void test_record_attempts(void **state)
{
	struct fixture *f = *state;
	struct store_outbound out = outbound(f->alice, two_remote, 2, 0);
	struct store_queue_result res[2];
	struct store_queue_entry e;
	struct rcpts r;
	char long_reply[700];
	int64_t id;
	const char *err = NULL;

	submit(f->s, spool_of(f->dir, "try me\r\n"), NULL, 0, &out, T0);
	id = only_entry(f->s);
	rcpts_of(f->s, id, &r);
	/* a reply longer than the field, ending in 2-byte UTF-8 sequences across the cut */
	memcpy(long_reply, "451 4.3.0 ", 10);
	for (size_t i = 10; i + 2 < sizeof(long_reply); i += 2)
		memcpy(long_reply + i, "\xc3\xa9", 2);
	long_reply[sizeof(long_reply) - 2] = '\0';
	res[0] = (struct store_queue_result){ r.v[0].id, STORE_QRCPT_DELIVERED, "250 2.0.0 Ok", "mx1.remote.test" };
	res[1] = (struct store_queue_result){ r.v[1].id, STORE_QRCPT_PENDING, long_reply, NULL };
	OK(store_queue_record(f->s, id, res, 2, T0 + 10, T0 + 610, false, E));
	assert_int_equal(store_queue_get(f->s, id, &e, &err), 1);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(e.next_attempt, T0 + 610);
	assert_int_equal(e.pending, 1);
	assert_false(e.delay_notified);
	assert_int_equal(q1(f->s, "SELECT first_attempt FROM queue_messages"), T0 + 10);
	rcpts_of(f->s, id, &r);
	assert_int_equal(r.v[0].status, STORE_QRCPT_DELIVERED);
	assert_string_equal(r.v[0].last_reply, "250 2.0.0 Ok");
	assert_string_equal(r.v[0].remote_mta, "mx1.remote.test");
	assert_int_equal(r.v[0].last_attempt, T0 + 10);
	assert_int_equal(r.v[1].status, STORE_QRCPT_PENDING);
	assert_int_equal(strlen(r.v[1].last_reply), STORE_QUEUE_REPLY_MAX - 2); /* not mid-sequence */
	assert_memory_equal(r.v[1].last_reply, long_reply, STORE_QUEUE_REPLY_MAX - 2);
	assert_string_equal(r.v[1].remote_mta, "");
	assert_int_equal(due(f->s, T0 + 609, 10)->n, 0);
	assert_int_equal(due(f->s, T0 + 610, 10)->n, 1);

	/* a recipient of another entry: refused, and nothing of the attempt stays */
	res[0] = (struct store_queue_result){ 9999, STORE_QRCPT_FAILED, "550 no", NULL };
	REFUSED(store_queue_record(f->s, id, res, 2, T0 + 20, T0 + 900, true, E), "recipient 9999 is not one of");
	assert_int_equal(store_queue_get(f->s, id, &e, &err), 1);
	assert_int_equal(e.attempts, 1);
	assert_false(e.delay_notified);
	REFUSED(store_queue_record(f->s, 4242, res, 1, T0, T0, false, E), "queue entry 4242 does not exist");

	/* the delay notice, once sent, stays noted */
	res[0] = (struct store_queue_result){ r.v[1].id, STORE_QRCPT_PENDING, "421 4.4.2 timeout", "mx2.other.test" };
	OK(store_queue_record(f->s, id, res, 1, T0 + 620, T0 + 1200, true, E));
	OK(store_queue_record(f->s, id, res, 1, T0 + 1200, T0 + 2400, false, E));
	assert_int_equal(store_queue_get(f->s, id, &e, &err), 1);
	assert_true(e.delay_notified);
	assert_int_equal(e.attempts, 3);
	assert_int_equal(q1(f->s, "SELECT first_attempt FROM queue_messages"), T0 + 10);
	/* the last one fails: the entry is done and its body released */
	res[0] = (struct store_queue_result){ r.v[1].id, STORE_QRCPT_FAILED, "550 5.1.1 no such user", "mx2.other.test" };
	OK(store_queue_record(f->s, id, res, 1, T0 + 2400, T0 + 3600, true, E));
	assert_int_equal(store_queue_get(f->s, id, &e, &err), 0);
	assert_non_null(strstr(err, "queue entry"));
	assert_int_equal(q1(f->s, "SELECT count(*) FROM queue_recipients"), 0);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 0);
}

/*
 * Several attempts in one transaction: each stands alone (one for an entry
 * removed meanwhile fails without undoing the others), finished entries
 * are released, and the bodies they held go with them.
 */
static void test_record_many(void **state)
{
	struct fixture *f = *state;
	struct store_outbound out = outbound(f->alice, two_remote, 2, 0);
	struct store_queue_result r1[2], r2[1], gone[1];
	struct store_queue_attempt a[3];
	struct store_queue_entry e;
	struct rcpts ra, rb;
	int64_t ida, idb;
	const char *err = NULL;

	submit(f->s, spool_of(f->dir, "first\r\n"), NULL, 0, &out, T0);
	ida = only_entry(f->s);
	submit(f->s, spool_of(f->dir, "second\r\n"), NULL, 0, &out, T0 + 1);
	idb = q1(f->s, "SELECT max(id) FROM queue_messages");
	rcpts_of(f->s, ida, &ra);
	rcpts_of(f->s, idb, &rb);
	r1[0] = (struct store_queue_result){ ra.v[0].id, STORE_QRCPT_DELIVERED, "250 ok", "mx.remote.test" };
	r1[1] = (struct store_queue_result){ ra.v[1].id, STORE_QRCPT_FAILED, "550 no", "mx.other.test" };
	r2[0] = (struct store_queue_result){ rb.v[0].id, STORE_QRCPT_DELIVERED, "250 ok", "mx.remote.test" };
	gone[0] = (struct store_queue_result){ 77, STORE_QRCPT_DELIVERED, "250 ok", NULL };
	memset(a, 0, sizeof(a));
	a[0] = (struct store_queue_attempt){ .id = ida, .results = r1, .count = 2, .now = T0 + 5, .next_attempt = T0 + 60 };
	a[1] = (struct store_queue_attempt){ .id = 4242, .results = gone, .count = 1, .now = T0 + 5, .next_attempt = T0 + 60 };
	a[2] = (struct store_queue_attempt){ .id = idb, .results = r2, .count = 1, .now = T0 + 5, .next_attempt = T0 + 60 };
	OK(store_queue_record_many(f->s, a, 3, E));
	assert_int_equal(a[0].rc, 0);
	assert_int_equal(a[1].rc, -1);
	assert_non_null(strstr(a[1].err, "queue entry 4242 does not exist"));
	assert_int_equal(a[2].rc, 0);
	/* a: both recipients done, released with its body; b: one still pending */
	assert_int_equal(store_queue_get(f->s, ida, &e, &err), 0);
	assert_int_equal(store_queue_get(f->s, idb, &e, &err), 1);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(e.pending, 1);
	assert_int_equal(e.next_attempt, T0 + 60);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM bodies"), 1);
	/* nothing at all: fine */
	OK(store_queue_record_many(f->s, a, 0, E));
}

static void test_hold_retry_remove(void **state)
{
	struct fixture *f = *state;
	struct store_outbound out = outbound(f->alice, two_remote, 2, 0);
	struct store_queue_entry e;
	struct rcpts r;
	int64_t id, now = (int64_t)time(NULL), when;
	const char *err = NULL;

	submit(f->s, spool_of(f->dir, "held\r\n"), &f->bob, 1, &out, now + 3600);
	id = only_entry(f->s);
	assert_int_equal(due(f->s, now, 10)->n, 0);
	/* retry makes it due now, and never later than it was */
	OK(store_queue_retry(f->s, id, E));
	assert_int_equal(store_queue_get(f->s, id, &e, &err), 1);
	assert_true(e.next_attempt <= (int64_t)time(NULL) && e.next_attempt >= now);
	assert_int_equal(due(f->s, (int64_t)time(NULL), 10)->n, 1);

	OK(store_queue_hold(f->s, id, true, E));
	assert_int_equal(due(f->s, now + 100000, 10)->n, 0);
	OK(store_queue_next_due(f->s, &when, E));
	assert_int_equal(when, 0);
	OK(store_queue_hold(f->s, id, false, E)); /* release */
	assert_int_equal(due(f->s, now + 100000, 10)->n, 1);
	OK(store_queue_hold(f->s, id, true, E));
	OK(store_queue_retry(f->s, id, E)); /* retry releases too */
	assert_int_equal(store_queue_get(f->s, id, &e, &err), 1);
	assert_false(e.held);

	REFUSED(store_queue_hold(f->s, 999, true, E), "queue entry 999 does not exist");
	REFUSED(store_queue_retry(f->s, 999, E), "queue entry 999 does not exist");
	REFUSED(store_queue_recipients(f->s, 999, rcpt_cb, &r, E), "queue entry 999 does not exist");
	assert_int_equal(store_queue_get(f->s, 999, &e, &err), 0);
	assert_string_equal(err, "queue entry 999 does not exist");

	/* remove: no notice, the body keeps bob's reference only */
	assert_int_equal(store_queue_remove(f->s, id, &err), 1);
	assert_int_equal(q1(f->s, "SELECT count(*) FROM queue_recipients"), 0);
	assert_int_equal(q1(f->s, "SELECT refcount FROM bodies"), 1);
	assert_int_equal(store_queue_remove(f->s, id, &err), 0);
	assert_int_equal(inbox_count(f->s, f->bob), 1);
}

/* ---- sending limits and permissions ---- */

static void test_send_count_window(void **state)
{
	struct fixture *f = *state;
	struct store_outbound a3 = outbound(f->alice, two_remote, 2, 3);
	struct store_outbound a2 = outbound(f->alice, two_remote, 1, 2);
	struct store_outbound b1 = outbound(f->bob, two_remote, 1, 1);
	uint64_t n;
	int64_t oldest;

	submit(f->s, spool_of(f->dir, "1\r\n"), &f->bob, 1, &a3, T0 + 1000);
	submit(f->s, spool_of(f->dir, "2\r\n"), NULL, 0, &b1, T0 + 1500);
	submit(f->s, spool_of(f->dir, "3\r\n"), NULL, 0, &a2, T0 + 2000);
	OK(store_send_count(f->s, f->alice, T0 + 999, &n, &oldest, E));
	assert_int_equal(n, 5);
	assert_int_equal(oldest, T0 + 1000);
	/* a row sent exactly at `since` has left the window */
	OK(store_send_count(f->s, f->alice, T0 + 1000, &n, &oldest, E));
	assert_int_equal(n, 2);
	assert_int_equal(oldest, T0 + 2000);
	OK(store_send_count(f->s, f->alice, T0 + 5000, &n, &oldest, E));
	assert_int_equal(n, 0);
	assert_int_equal(oldest, 0);
	OK(store_send_count(f->s, f->bob, T0, &n, &oldest, E));
	assert_int_equal(n, 1);
	assert_int_equal(oldest, T0 + 1500);
	/* the counters survive a reopen (a restart) */
	store_close(f->s);
	OK(store_open(f->dir, &f->s, E));
	OK(store_send_count(f->s, f->alice, T0, &n, &oldest, E));
	assert_int_equal(n, 5);
	/* rows far older than any window are dropped when the address sends again */
	submit(f->s, spool_of(f->dir, "4\r\n"), NULL, 0, &a2, T0 + 30 * 86400);
	OK(store_send_count(f->s, f->alice, 0, &n, &oldest, E));
	assert_int_equal(n, 2);
	assert_int_equal(oldest, T0 + 30 * 86400);
	OK(store_send_count(f->s, f->bob, 0, &n, &oldest, E));
	assert_int_equal(n, 1);
}

/* One send of n recipients by alice at when, outside any batch (send_log only). */
static void send_at(struct fixture *f, unsigned n, int64_t when)
{
	struct store_outbound out = outbound(f->alice, NULL, 0, n);

	OK(store_queue_insert(f->s, &out, 0, when, E));
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Sends within one 10-minute period share a row whose time is the latest
 * send: the count is strict (a bucket leaves the window with its last send)
 * and "oldest" is exactly when it drops. 1,440 sends over 24 hours (the pro
 * plan's limit, one a minute) read 145 rows, not 1,440.
 */
static void test_send_count_buckets(void **state)
{
	struct fixture *f = *state;
	const int64_t b0 = T0 - T0 % 600; /* a period's start */
	uint64_t n;
	int64_t oldest;
	double t;

	send_at(f, 3, b0 + 100);
	send_at(f, 2, b0 + 400);
	send_at(f, 1, b0 + 600); /* the next period */
	assert_int_equal(q1(f->s, "SELECT count(*) FROM send_log"), 2);
	OK(store_send_count(f->s, f->alice, b0 + 100, &n, &oldest, E));
	assert_int_equal(n, 6); /* the first bucket's sends at +100 count until +400 leaves */
	assert_int_equal(oldest, b0 + 400);
	OK(store_send_count(f->s, f->alice, b0 + 400, &n, &oldest, E));
	assert_int_equal(n, 1);
	assert_int_equal(oldest, b0 + 600);
	/* an earlier internal date (a clock step back) joins the bucket without moving its time back */
	send_at(f, 1, b0 + 650);
	send_at(f, 1, b0 + 620);
	OK(store_send_count(f->s, f->alice, b0 + 400, &n, &oldest, E));
	assert_int_equal(n, 3);
	assert_int_equal(oldest, b0 + 650);

	/* a day of one send a minute: the cost is bounded by the bucket count */
	const int64_t d0 = b0 + 10 * 86400;
	OK(store_begin(f->s, E));
	for (int i = 0; i < 1440; i++)
		send_at(f, 1, d0 + 60 * i);
	OK(store_commit(f->s, E));
	assert_true(q1(f->s, "SELECT count(*) FROM send_log") <= 24 * 6 + 1);
	t = now_s();
	for (int i = 0; i < 1000; i++)
		OK(store_send_count(f->s, f->alice, d0 + 1439 * 60 - 86400, &n, &oldest, E));
	t = (now_s() - t) / 1000 * 1e6;
	assert_int_equal(n, 1440);
	print_message("store_send_count over 1,440 sends in 24 h: %.1f us per call\n", t);
	/* the rolling window: strict by less than one period */
	OK(store_send_count(f->s, f->alice, d0 + 43200, &n, &oldest, E));
	assert_true(n >= 719 && n <= 719 + 10);
	assert_true(oldest > d0 + 43200 && oldest <= d0 + 43200 + 600);
}

static void test_may_send_as(void **state)
{
	struct fixture *f = *state;
	int64_t shared, other;
	const char *err = NULL;

	OK(store_address_add(f->s, "shared", "example.org", ADDRESS_NOREPLY, "$argon2id$x", &shared, E));
	OK(store_domain_add(f->s, "example.net", NULL, PLAN_FREE, NULL, E));
	OK(store_address_add(f->s, "other", "example.net", ADDRESS_MAILBOX, "$argon2id$x", &other, E));
	/* itself, case-insensitively */
	assert_int_equal(store_may_send_as(f->s, f->alice, "alice@example.org", &err), 1);
	assert_int_equal(store_may_send_as(f->s, f->alice, "ALICE@Example.ORG", &err), 1);
	assert_int_equal(store_may_send_as(f->s, f->alice, "bob@example.org", &err), 0);
	assert_int_equal(store_may_send_as(f->s, f->alice, "shared@example.org", &err), 0);
	/* nonsense and strangers */
	assert_int_equal(store_may_send_as(f->s, f->alice, "alice", &err), 0);
	assert_int_equal(store_may_send_as(f->s, f->alice, "@example.org", &err), 0);
	assert_int_equal(store_may_send_as(f->s, f->alice, "alice@", &err), 0);
	assert_int_equal(store_may_send_as(f->s, f->alice, "alice@nowhere.test", &err), 0);
	assert_int_equal(store_may_send_as(f->s, f->alice, "", &err), 0);

	/* carol uses alice's address and may send as shared@ */
	OK(store_account_add(f->s, "carol", "$argon2id$x", NULL, E));
	OK(store_access_grant(f->s, "carol", "alice", "example.org", PERM_READ, E));
	OK(store_access_grant(f->s, "carol", "shared", "example.org", PERM_SEND, E));
	assert_int_equal(store_may_send_as(f->s, f->alice, "Shared@example.org", &err), 1);
	/* ...but bob's devices are not carol's */
	assert_int_equal(store_may_send_as(f->s, f->bob, "shared@example.org", &err), 0);
	/* read access to other@ is not the send permission */
	OK(store_access_grant(f->s, "carol", "other", "example.net", PERM_READ | PERM_SETTINGS, E));
	assert_int_equal(store_may_send_as(f->s, f->alice, "other@example.net", &err), 0);
	/* dave may send as other@ but has nothing to do with alice@ */
	OK(store_account_add(f->s, "dave", "$argon2id$x", NULL, E));
	OK(store_access_grant(f->s, "dave", "other", "example.net", PERM_ALL, E));
	assert_int_equal(store_may_send_as(f->s, f->alice, "other@example.net", &err), 0);
	assert_int_equal(store_may_send_as(f->s, other, "other@example.net", &err), 1);
	/* revoking carol's send permission ends it */
	OK(store_access_revoke(f->s, "carol", "shared", "example.org", E));
	assert_int_equal(store_may_send_as(f->s, f->alice, "shared@example.org", &err), 0);
}

/* ---- DKIM keys ---- */

static const char pem1[] = "-----BEGIN PRIVATE KEY-----\nMIIE...one\n-----END PRIVATE KEY-----\n";
static const char pem2[] = "-----BEGIN PRIVATE KEY-----\nMIIE...two\n-----END PRIVATE KEY-----\n";

static void test_dkim_keys(void **state)
{
	struct fixture *f = *state;
	char sel[64], tiny[4];
	char *pem = (char *)"untouched";
	const char *err = NULL;

	assert_int_equal(store_domain_dkim_get(f->s, "example.org", sel, sizeof(sel), &pem, &err), 0);
	assert_null(pem);
	assert_int_equal(store_domain_dkim_get(f->s, "nowhere.test", sel, sizeof(sel), &pem, &err), 0);
	OK(store_domain_dkim_set(f->s, "example.org", "hermod", pem1, E));
	assert_int_equal(store_domain_dkim_get(f->s, "Example.ORG", sel, sizeof(sel), &pem, &err), 1);
	assert_string_equal(sel, "hermod");
	assert_string_equal(pem, pem1);
	free(pem);
	/* rotation replaces it */
	OK(store_domain_dkim_set(f->s, "example.org", "hermod2024.mail", pem2, E));
	assert_int_equal(store_domain_dkim_get(f->s, "example.org", sel, sizeof(sel), &pem, &err), 1);
	assert_string_equal(sel, "hermod2024.mail");
	assert_string_equal(pem, pem2);
	free(pem);
	assert_int_equal(store_domain_dkim_get(f->s, "example.org", tiny, sizeof(tiny), &pem, &err), -1);
	assert_non_null(strstr(err, "selector"));
	assert_null(pem);

	REFUSED(store_domain_dkim_set(f->s, "nowhere.test", "hermod", pem1, E), "domain nowhere.test does not exist");
	REFUSED(store_domain_dkim_set(f->s, "example.org", "bad selector", pem1, E), "DKIM selector 'bad selector'");
	REFUSED(store_domain_dkim_set(f->s, "example.org", "", pem1, E), "is not valid");
	REFUSED(store_domain_dkim_set(f->s, "example.org", "a..b", pem1, E), "is not valid");
	REFUSED(store_domain_dkim_set(f->s, "example.org", "hermod", "ssh-rsa AAAA", E), "not in PEM form");
	/* the refused ones changed nothing */
	assert_int_equal(store_domain_dkim_get(f->s, "example.org", sel, sizeof(sel), &pem, &err), 1);
	assert_string_equal(sel, "hermod2024.mail");
	free(pem);
}

/* The public key of key, as the DNS record's p= (owned string). */
static char *public_of(struct dkim_key *key)
{
	struct buf b;
	const char *err;
	char *s;

	buf_init(&b, 0);
	assert_int_equal(dkim_key_public_b64(key, &b, &err), 0);
	s = xstrndup(b.data, b.len);
	buf_free(&b);
	return s;
}

/* One message's key: the PEM from the store, through the cache (the submission path). */
static struct dkim_key *cached_key(struct fixture *f, struct dkim_key_cache *c, const char *domain)
{
	struct dkim_key *key = NULL;
	char sel[64], *pem = NULL;
	const char *err = NULL;

	assert_int_equal(store_domain_dkim_get(f->s, domain, sel, sizeof(sel), &pem, &err), 1);
	OK(dkim_key_cache_get(c, domain, slice_make(pem, strlen(pem)), &key, E));
	free(pem);
	return key;
}

/*
 * The per-domain key cache: parsed once, the same key while the stored PEM
 * is unchanged, parsed again after a rotation (keys handed out before stay
 * usable), bounded with the least recently used evicted. Measures the
 * per-message cost of an RSA-2048 key with and without it.
 */
static void test_dkim_key_cache(void **state)
{
	struct fixture *f = *state;
	struct dkim_key_cache *c = dkim_key_cache_new(2);
	struct dkim_keypair k1, k2;
	struct dkim_key *a, *b, *old, *parsed;
	const char *err = NULL;
	char *pub;
	double t_parse, t_cache;

	assert_int_equal(dkim_keygen(DKIM_ALG_RSA_SHA256, 2048, &k1, &err), 0);
	assert_int_equal(dkim_keygen(DKIM_ALG_RSA_SHA256, 2048, &k2, &err), 0);
	OK(store_domain_add(f->s, "two.test", NULL, PLAN_STARTER, NULL, E));
	OK(store_domain_add(f->s, "three.test", NULL, PLAN_STARTER, NULL, E));
	OK(store_domain_dkim_set(f->s, "example.org", "s1", k1.private_pem, E));
	OK(store_domain_dkim_set(f->s, "two.test", "s1", k2.private_pem, E));
	OK(store_domain_dkim_set(f->s, "three.test", "s1", k1.private_pem, E));

	a = cached_key(f, c, "example.org");
	b = cached_key(f, c, "example.org");
	assert_ptr_equal(a, b);
	assert_int_equal(dkim_key_cache_parses(c), 1);
	dkim_key_destroy(&b);
	/* rotation: the stored PEM changed, the next message gets the new key */
	OK(store_domain_dkim_set(f->s, "example.org", "s2", k2.private_pem, E));
	old = a;
	a = cached_key(f, c, "example.org");
	assert_ptr_not_equal(a, old);
	assert_int_equal(dkim_key_cache_parses(c), 2);
	pub = public_of(a);
	assert_string_equal(pub, k2.public_b64);
	free(pub);
	pub = public_of(old); /* still usable by the message that holds it */
	assert_string_equal(pub, k1.public_b64);
	free(pub);
	dkim_key_destroy(&old);
	dkim_key_destroy(&a);
	/* two entries: two.test, then three.test evicts the least recently used (example.org) */
	a = cached_key(f, c, "two.test");
	dkim_key_destroy(&a);
	a = cached_key(f, c, "three.test");
	dkim_key_destroy(&a);
	assert_int_equal(dkim_key_cache_parses(c), 4);
	a = cached_key(f, c, "three.test");
	dkim_key_destroy(&a);
	a = cached_key(f, c, "example.org");
	dkim_key_destroy(&a);
	assert_int_equal(dkim_key_cache_parses(c), 5);

	/* the per-message cost: store read + parse, against store read + cache */
	t_parse = now_s();
	for (int i = 0; i < 200; i++) {
		char sel[64], *pem = NULL;
		assert_int_equal(store_domain_dkim_get(f->s, "two.test", sel, sizeof(sel), &pem, &err), 1);
		OK(dkim_key_load_pem(slice_make(pem, strlen(pem)), &parsed, E));
		dkim_key_destroy(&parsed);
		free(pem);
	}
	t_parse = (now_s() - t_parse) / 200 * 1e6;
	t_cache = now_s();
	for (int i = 0; i < 200; i++) {
		a = cached_key(f, c, "two.test");
		dkim_key_destroy(&a);
	}
	t_cache = (now_s() - t_cache) / 200 * 1e6;
	print_message("DKIM key per message (RSA-2048): parsed %.1f us, cached %.1f us\n", t_parse, t_cache);
	assert_true(t_cache < t_parse);
	dkim_key_cache_free(c);
	dkim_keypair_clear(&k1);
	dkim_keypair_clear(&k2);
}

/* ---- store_async_submit ---- */

struct submit_ctx {
	int done, failed;
};

static void on_submitted(int result, const char *errstr, void *arg)
{
	struct submit_ctx *c = arg;

	c->failed += result < 0;
	assert_true(result == 0 || errstr != NULL);
	c->done++;
}

static void test_async_submit_copies_everything(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	struct store_async *sa;
	struct submit_ctx c = { 0 };
	struct store_queue_entry e;
	struct rcpts r;
	const char *err = NULL;
	int64_t ids[1] = { f->bob };

	assert_non_null(base);
	if ((sa = store_async_new(base, f->dir, 1, &err)) == NULL)
		fail_msg("store_async_new: %s", err);
	{
		/* everything the description points to dies (is scribbled over) before the writer runs */
		char *from = xstrdup("alice@example.org"), *addr = xstrdup("carol@remote.test");
		char *orcpt = xstrdup("rfc822;carol@remote.test"), *envid = xstrdup("E42"), *prefix = xstrdup("X-P: 1\r\n");
		struct store_outbound_rcpt *rc = xcalloc(1, sizeof(*rc));
		struct store_outbound out = { from, f->alice, envid, STORE_RET_FULL, prefix, rc, 1, 2, "alice@example.org", "", "" };

		*rc = (struct store_outbound_rcpt){ addr, STORE_NOTIFY_NEVER, orcpt };
		store_async_submit(sa, spool_of(f->dir, "async submit\r\n"), ids, 1, &out, T0, on_submitted, &c);
		ids[0] = -1;
		memset(from, 'Z', strlen(from));
		memset(addr, 'Z', strlen(addr));
		free(from);
		free(addr);
		free(orcpt);
		free(envid);
		free(prefix);
		free(rc);
	}
	/* remote only, and nothing at all (refused) */
	struct store_outbound none = outbound(f->alice, NULL, 0, 0);
	store_async_submit(sa, spool_of(f->dir, "nothing\r\n"), NULL, 0, &none, T0, on_submitted, &c);
	alarm(60);
	while (c.done < 2)
		assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
	alarm(0);
	store_async_free(sa);
	event_base_free(base);
	assert_int_equal(c.failed, 1);

	assert_int_equal(store_queue_get(f->s, only_entry(f->s), &e, &err), 1);
	assert_string_equal(e.envelope_from, "alice@example.org");
	assert_string_equal(e.envid, "E42");
	assert_string_equal(e.prefix, "X-P: 1\r\n");
	assert_int_equal(e.ret, STORE_RET_FULL);
	rcpts_of(f->s, e.id, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].address, "carol@remote.test");
	assert_string_equal(r.v[0].orcpt, "rfc822;carol@remote.test");
	assert_int_equal(r.v[0].notify, STORE_NOTIFY_NEVER);
	assert_int_equal(inbox_count(f->s, f->bob), 1);
	assert_int_equal(body_refcount(f->s, e.body_id), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migration_from_v2),
		cmocka_unit_test_setup_teardown(test_submit_local_and_remote_one_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_remote_only_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refcount_queue_finishes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refcount_mailbox_expunged_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_removal_keeps_queued_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_ordering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_newest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_retry_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_count_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_count_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dkim_key_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_may_send_as, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dkim_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_submit_copies_everything, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
