/*
 * test_store_compact: segment compaction on a real store in a temporary
 * data directory: live bodies move byte-identical, the disk usage drops,
 * the old file outlives the move by the grace period, and a crash between
 * the copy and the commit (a child process that stops there and exits)
 * loses nothing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "store/store_private.h"

#define NMSG 60

struct fixture {
	char *dir;
	struct store *s;
	int64_t address_id;
	int64_t folder_id;
	char *text[NMSG + 1]; /* by UID; NULL once expunged */
};

#define OK(call)                                                                    \
	do {                                                                        \
		const char *err_ = NULL;                                            \
		if ((call) < 0)                                                     \
			fail_msg("%s failed: %s", #call, err_ ? err_ : "?");        \
	} while (0)
#define E (&err_)

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

/* Bytes of every file in msg/. */
static uint64_t disk_usage(const char *dir)
{
	char *msg = xasprintf("%s/msg", dir);
	DIR *dp = opendir(msg);
	struct dirent *de;
	uint64_t total = 0;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL) {
		char *p = xasprintf("%s/%s", msg, de->d_name);
		struct stat st;

		if (de->d_name[0] != '.' && stat(p, &st) == 0)
			total += (uint64_t)st.st_size;
		free(p);
	}
	closedir(dp);
	free(msg);
	return total;
}

static bool segment_file_exists(const char *dir, int64_t seg)
{
	char *p = xasprintf("%s/msg/%lld", dir, (long long)seg);
	bool ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

static void open_store(struct fixture *f)
{
	const char *err = NULL;

	if (store_open(f->dir, &f->s, &err) < 0)
		fail_msg("store_open: %s", err);
	f->s->seg_max = 5000; /* a few bodies per segment */
	f->s->compact.configured = true;
	f->s->compact.live_pct = 50;
	f->s->compact.grace_s = 3600;
	f->s->compact.scan_s = 0;
}

/* Bodies of varied lengths and contents, so a misplaced byte shows. */
static char *make_text(int i)
{
	size_t len = 200 + (size_t)(i * 37 % 900);
	char *t = xmalloc(len + 1);
	int n = snprintf(t, len + 1, "Return-Path: <s%d@remote.test>\r\nSubject: message %d\r\n\r\n", i, i);

	for (size_t j = (size_t)n; j < len; j++)
		t[j] = (j % 64 == 63) ? '\n' : (char)('a' + (j * 7 + (size_t)i) % 26);
	t[len] = '\0';
	return t;
}

static void deliver(struct fixture *f, const char *text)
{
	struct spool *sp = spool_new(f->dir);
	struct store_delivery d = { .body = sp, .address_ids = &f->address_id, .address_count = 1,
				    .internal_date = 1700000000 };
	struct store_delivery *dp = &d;
	const char *err = NULL;

	assert_int_equal(spool_write(sp, text, strlen(text), &err), 0);
	if (store_deliver_batch(f->s, &dp, 1, &err) < 0 || d.result < 0)
		fail_msg("deliver: %s / %s", err ? err : "", d.error);
	spool_free(sp);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct store_folder fo;
	const char *err = NULL;

	f->dir = testutil_tmpdir("compact");
	open_store(f);
	OK(store_domain_add(f->s, "example.org", NULL, PLAN_PRO, NULL, E));
	OK(store_address_add(f->s, "a", "example.org", ADDRESS_MAILBOX, "$argon2id$fake", &f->address_id, E));
	assert_int_equal(store_folder_get(f->s, f->address_id, "INBOX", &fo, &err), 1);
	f->folder_id = fo.id;
	for (int uid = 1; uid <= NMSG; uid++) {
		f->text[uid] = make_text(uid);
		deliver(f, f->text[uid]);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	testutil_rmtree(f->dir);
	for (int i = 0; i <= NMSG; i++)
		free(f->text[i]);
	free(f->dir);
	free(f);
	return 0;
}

/* Expunges every UID but every keep-th one. */
static void expunge_most(struct fixture *f, int keep)
{
	uint32_t uids[NMSG];
	size_t n = 0;

	for (int uid = 1; uid <= NMSG; uid++) {
		if (uid % keep != 0) {
			uids[n++] = (uint32_t)uid;
			free(f->text[uid]);
			f->text[uid] = NULL;
		}
	}
	OK(store_mail_expunge(f->s, f->folder_id, uids, n, NULL, NULL, E));
}

struct collect {
	int64_t mail_id[NMSG];
	uint32_t uid[NMSG];
	int n;
};

static void collect_one(const struct store_message *m, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < NMSG);
	c->mail_id[c->n] = m->mail_id;
	c->uid[c->n++] = m->uid;
}

struct read_buf {
	char data[4096];
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

/* Both readers' paths: store_message_read (CLI export) and store_body_pread in chunks (FETCH, RETR). */
static void check_one(struct fixture *f, int64_t mail_id, uint32_t uid)
{
	const char *want = f->text[uid];
	struct read_buf rb = { .len = 0 };
	char sql[128];
	size_t n;
	int64_t body;
	const char *err = NULL;

	assert_non_null(want);
	if (store_message_read(f->s, mail_id, read_cb, &rb, &err) < 0)
		fail_msg("read uid %u: %s", uid, err);
	assert_int_equal(rb.len, strlen(want));
	assert_memory_equal(rb.data, want, rb.len);
	snprintf(sql, sizeof(sql), "SELECT body_id FROM mail WHERE id = %lld", (long long)mail_id);
	body = count_rows(f->s, sql);
	for (rb.len = 0;; rb.len += n) {
		if (store_body_pread(f->s, body, rb.len, rb.data + rb.len, 100, &n, &err) < 0)
			fail_msg("pread uid %u: %s", uid, err);
		if (n == 0)
			break;
	}
	assert_int_equal(rb.len, strlen(want));
	assert_memory_equal(rb.data, want, rb.len);
}

/* Every message left reads back byte-identical; returns how many. */
static int check_all(struct fixture *f)
{
	struct collect c = { .n = 0 };
	int expect = 0;

	OK(store_message_list(f->s, f->folder_id, collect_one, &c, E));
	for (int i = 0; i < c.n; i++)
		check_one(f, c.mail_id[i], c.uid[i]);
	for (int uid = 1; uid <= NMSG; uid++)
		expect += f->text[uid] != NULL;
	assert_int_equal(c.n, expect);
	return c.n;
}

/* Steps until compaction has nothing left to do now. */
static int compact_all(struct store *s)
{
	size_t done;
	int steps = 0;

	do {
		OK(store_compact_step(s, 2000, &done, E));
		assert_true(++steps < 10000);
	} while (done > 0);
	return steps;
}

static void test_compact_moves_bodies(void **state)
{
	struct fixture *f = *state;
	int64_t sealed = count_rows(f->s, "SELECT count(*) FROM segments WHERE sealed = 1");
	int64_t old_seg, old_off;
	uint64_t before, after;
	char *path, buf[2048];
	int fd;

	assert_true(sealed >= 5);
	expunge_most(f, 4);
	/* a reader that looked up a body just before it moves */
	old_seg = count_rows(f->s, "SELECT b.segment FROM mail m JOIN bodies b ON b.id = m.body_id ORDER BY m.uid LIMIT 1");
	old_off = count_rows(f->s, "SELECT b.offset FROM mail m JOIN bodies b ON b.id = m.body_id ORDER BY m.uid LIMIT 1");
	before = disk_usage(f->dir);
	assert_true(compact_all(f->s) > 1);
	assert_true(f->s->compact.segments_compacted >= (uint64_t)sealed - 1);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM bodies b JOIN segments g ON g.id = b.segment"
					  " WHERE g.retired_at IS NOT NULL"), 0);
	assert_true(count_rows(f->s, "SELECT segment FROM bodies WHERE id = 0 + (SELECT b.id FROM mail m JOIN bodies b"
				     " ON b.id = m.body_id ORDER BY m.uid LIMIT 1)") != old_seg);
	assert_int_equal(check_all(f), NMSG / 4);

	/* within the grace period the old file is still there, intact */
	assert_true(segment_file_exists(f->dir, old_seg));
	path = xasprintf("%s/msg/%lld", f->dir, (long long)old_seg);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(pread(fd, buf, strlen(f->text[4]), old_off), (ssize_t)strlen(f->text[4]));
	assert_memory_equal(buf, f->text[4], strlen(f->text[4]));
	close(fd);

	/* after it, the retired files go and the space with them */
	OK(sqlite3_exec(f->s->db, "UPDATE segments SET retired_at = retired_at - 3600 WHERE retired_at IS NOT NULL",
			NULL, NULL, NULL) == SQLITE_OK ? 0 : -1);
	compact_all(f->s);
	assert_false(segment_file_exists(f->dir, old_seg));
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM segments WHERE retired_at IS NOT NULL"), 0);
	after = disk_usage(f->dir);
	assert_true(after * 2 < before);
	assert_true(f->s->compact.segments_unlinked >= (uint64_t)sealed - 1);
	assert_int_equal(check_all(f), NMSG / 4);
	free(path);

	/* and the same after a reopen */
	store_close(f->s);
	open_store(f);
	assert_int_equal(check_all(f), NMSG / 4);
}

/* Segments still mostly live are left alone. */
static void test_compact_keeps_mostly_live_segments(void **state)
{
	struct fixture *f = *state;
	uint32_t uids[NMSG];
	uint64_t before;
	size_t n = 0;

	for (int uid = 4; uid <= NMSG; uid += 4) {
		uids[n++] = (uint32_t)uid;
		free(f->text[uid]);
		f->text[uid] = NULL;
	}
	OK(store_mail_expunge(f->s, f->folder_id, uids, n, NULL, NULL, E));
	before = disk_usage(f->dir);
	compact_all(f->s);
	assert_int_equal(f->s->compact.segments_compacted, 0);
	assert_int_equal(f->s->compact.bodies_moved, 0);
	assert_int_equal(disk_usage(f->dir), before);
	assert_int_equal(check_all(f), NMSG - NMSG / 4);
}

/* A retired segment whose last bodies are expunged is not removed by the expunge path before its grace. */
static void test_compact_expunge_after_partial_move(void **state)
{
	struct fixture *f = *state;
	int64_t seg;
	size_t done;
	uint32_t uids[NMSG];
	size_t n = 0;

	expunge_most(f, 3);
	seg = count_rows(f->s, "SELECT min(id) FROM segments WHERE sealed = 1");
	/* one body per step: the first step finds the segment, the second moves one body */
	for (int i = 0; i < 2; i++)
		OK(store_compact_step(f->s, 0, &done, E));
	assert_int_equal(f->s->compact.segment, seg);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM segments WHERE retired_at IS NOT NULL"), 1);
	/* expunge every message still in the segment */
	for (int uid = 1; uid <= NMSG; uid++) {
		char sql[200];

		if (f->text[uid] == NULL)
			continue;
		snprintf(sql, sizeof(sql), "SELECT b.segment = %lld FROM mail m JOIN bodies b ON b.id = m.body_id"
			 " WHERE m.folder_id = %lld AND m.uid = %d", (long long)seg, (long long)f->folder_id, uid);
		if (count_rows(f->s, sql)) {
			uids[n++] = (uint32_t)uid;
			free(f->text[uid]);
			f->text[uid] = NULL;
		}
	}
	assert_true(n > 0);
	OK(store_mail_expunge(f->s, f->folder_id, uids, n, NULL, NULL, E));
	assert_true(segment_file_exists(f->dir, seg)); /* a reader may still open it */
	compact_all(f->s);
	assert_true(segment_file_exists(f->dir, seg));
	check_all(f);
	OK(sqlite3_exec(f->s->db, "UPDATE segments SET retired_at = retired_at - 3600 WHERE retired_at IS NOT NULL",
			NULL, NULL, NULL) == SQLITE_OK ? 0 : -1);
	compact_all(f->s);
	assert_false(segment_file_exists(f->dir, seg));
	check_all(f);
}

/*
 * A crash between the data sync and the commit: a child process runs
 * compaction with stop_after_copy and exits on the spot (no close, no
 * rollback). The parent reopens: every body reads from its old place,
 * nothing is retired, and compaction then completes normally.
 */
static void test_compact_crash_before_commit(void **state)
{
	struct fixture *f = *state;
	uint64_t grown, before;
	int status;
	pid_t pid;

	expunge_most(f, 4);
	before = disk_usage(f->dir);
	store_close(f->s);
	f->s = NULL;
	if ((pid = fork()) == 0) {
		const char *err = NULL;
		size_t done = 0;
		int rc = 0;

		open_store(f);
		f->s->compact.stop_after_copy = true;
		for (int i = 0; i < 100 && rc == 0; i++)
			rc = store_compact_step(f->s, 1000000, &done, &err);
		_exit(rc < 0 && err != NULL && strstr(err, "between the copy and the commit") != NULL ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	open_store(f);
	grown = disk_usage(f->dir);
	assert_true(grown > before); /* the copies: synced, unreferenced */
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM segments WHERE retired_at IS NOT NULL"), 0);
	assert_int_equal(check_all(f), NMSG / 4);
	/* the real thing now */
	compact_all(f->s);
	assert_int_equal(check_all(f), NMSG / 4);
	OK(sqlite3_exec(f->s->db, "UPDATE segments SET retired_at = retired_at - 3600 WHERE retired_at IS NOT NULL",
			NULL, NULL, NULL) == SQLITE_OK ? 0 : -1);
	compact_all(f->s);
	assert_true(disk_usage(f->dir) < before);
	assert_int_equal(check_all(f), NMSG / 4);
}

/* A crash after the last commit, before the grace is over: the retirement survives the restart. */
static void test_compact_crash_after_commit(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	expunge_most(f, 4);
	store_close(f->s);
	f->s = NULL;
	if ((pid = fork()) == 0) {
		open_store(f);
		_exit(compact_all(f->s) > 1 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	open_store(f);
	assert_true(count_rows(f->s, "SELECT count(*) FROM segments WHERE retired_at IS NOT NULL") > 0);
	assert_int_equal(check_all(f), NMSG / 4);
	compact_all(f->s);
	assert_true(count_rows(f->s, "SELECT count(*) FROM segments WHERE retired_at IS NOT NULL") > 0);
	OK(sqlite3_exec(f->s->db, "UPDATE segments SET retired_at = retired_at - 3600 WHERE retired_at IS NOT NULL",
			NULL, NULL, NULL) == SQLITE_OK ? 0 : -1);
	compact_all(f->s);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM segments WHERE retired_at IS NOT NULL"), 0);
	assert_int_equal(check_all(f), NMSG / 4);
}

/* A reader on its own connection (as the reader threads have) reading every body in a loop. */
struct reader {
	struct fixture *f;
	struct store *s;
	int64_t mail_id[NMSG];
	uint32_t uid[NMSG];
	int n;
	_Atomic int stop, rounds;
	int failures;
	char why[256];
};

static int reader_check(struct reader *r, int i)
{
	const char *want = r->f->text[r->uid[i]], *err = NULL;
	char buf[2048];
	size_t got = 0, n;
	int64_t body = 0;
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(r->s->db, "SELECT body_id FROM mail WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, r->mail_id[i]);
	if (sqlite3_step(st) == SQLITE_ROW)
		body = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	do {
		if (store_body_pread(r->s, body, got, buf + got, 300, &n, &err) < 0) {
			snprintf(r->why, sizeof(r->why), "uid %u: %s", r->uid[i], err);
			return -1;
		}
		got += n;
	} while (n > 0 && got + 300 < sizeof(buf));
	if (got != strlen(want) || memcmp(buf, want, got) != 0) {
		snprintf(r->why, sizeof(r->why), "uid %u: %zu bytes differ", r->uid[i], got);
		return -1;
	}
	return 0;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (!r->stop) {
		for (int i = 0; i < r->n; i++)
			r->failures += reader_check(r, i) < 0;
		r->rounds++;
	}
	return NULL;
}

/* Bodies move and old files go while another connection reads them all the time. */
static void test_compact_under_concurrent_reader(void **state)
{
	struct fixture *f = *state;
	struct reader r = { .f = f };
	struct collect c = { .n = 0 };
	pthread_t th;
	const char *err = NULL;
	int rounds;

	expunge_most(f, 4);
	OK(store_message_list(f->s, f->folder_id, collect_one, &c, E));
	memcpy(r.mail_id, c.mail_id, sizeof(r.mail_id));
	memcpy(r.uid, c.uid, sizeof(r.uid));
	r.n = c.n;
	if (store_open(f->dir, &r.s, &err) < 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	while (r.rounds < 2)
		usleep(1000);
	compact_all(f->s);
	assert_true(f->s->compact.segments_compacted > 0);
	/* "the grace period is over": every lookup the reader makes now is of a new place */
	rounds = r.rounds;
	while (r.rounds < rounds + 2)
		usleep(1000);
	f->s->compact.grace_s = 0;
	compact_all(f->s);
	assert_int_equal(count_rows(f->s, "SELECT count(*) FROM segments WHERE retired_at IS NOT NULL"), 0);
	rounds = r.rounds;
	while (r.rounds < rounds + 2)
		usleep(1000);
	r.stop = 1;
	pthread_join(th, NULL);
	store_close(r.s);
	if (r.failures > 0)
		fail_msg("%d failed reads, last: %s", r.failures, r.why);
	assert_true(f->s->compact.segments_unlinked > 0);
	assert_int_equal(check_all(f), NMSG / 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compact_moves_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_keeps_mostly_live_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_expunge_after_partial_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_crash_before_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_crash_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_under_concurrent_reader, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
