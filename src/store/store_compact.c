/*
 * store_compact: giving back the space of deleted mail.
 *
 * Segments are append-only and an expunge only drops rows: a segment's file
 * goes once its last body has gone, so a segment that is mostly dead keeps
 * its dead bytes for ever. Compaction copies the live bodies of a sealed
 * segment whose live bytes are below live_pct of its file into the writer's
 * current segment, moves their rows, and unlinks the emptied file after a
 * grace period. It runs as the writer thread's idle work (store_async.c),
 * one short step at a time, after deliveries have been quiet.
 *
 * Durability, per step (the argument of a delivery, store_deliver.c):
 *   1. the step's bodies (at most STORE_COMPACT_STEP_BYTES, and at least
 *      one) are read from the old file and appended to the current segment;
 *   2. ONE fdatasync of that segment (and of msg/ when a file was created);
 *   3. ONE transaction points the rows at the copies, only rows still at
 *      their old place (a body expunged meanwhile is left alone), and sets
 *      the old segment's retired_at; COMMIT (synchronous=FULL).
 * A crash before 3 leaves every row pointing at the intact old file and the
 * copies as unreferenced bytes at the end of a segment, as after a crashed
 * delivery; after 3 the rows point at bytes that were synced before.
 *
 * Readers. A reader (IMAP FETCH, POP3 RETR, the queue, on reader threads,
 * HTTP workers or the CLI process) looks a body's location up, then opens
 * the file: it may look up the old location just before the commit of 3
 * and open it just after. So the old file stays grace_s (5 minutes) after
 * the latest move out of it (retired_at). The expunge paths never remove a
 * retired segment (migration 10); compaction does, when it is empty and its
 * grace is over: the file, a sync of msg/, then the row, so a crash between
 * them leaves a row whose unlink is simply done again. We keep time rather
 * than track readers because the readers are other threads and processes
 * sharing nothing but the database; the window to cover, a lookup to an
 * open(), is microseconds, and a reader that has the file open (the fd
 * cache of store_body_pread) keeps reading it after the unlink anyway.
 * XXX retired_at is wall-clock time: a clock stepped forward by more than
 * the grace period shortens it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store_private.h"

#define COMPACT_REAP_MAX 16 /* retired segments unlinked per step */

/* An integer setting from the environment, in [min, max]; def when unset or invalid. */
static int64_t env_setting(const char *name, int64_t def, int64_t min, int64_t max)
{
	const char *v = getenv(name);
	char *end;
	long long n;

	if (v == NULL || *v == '\0')
		return def;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max) {
		log_warn("store event=compact-setting-ignored name=%s value=\"%.32s\" reason=\"not a number from %lld to %lld\"",
			 name, v, (long long)min, (long long)max);
		return def;
	}
	return n;
}

uint64_t store_segment_max_bytes(void)
{
	return (uint64_t)env_setting("HERMOD_SEGMENT_MAX_BYTES", STORE_SEGMENT_MAX_BYTES, 4096,
				     (int64_t)STORE_SEGMENT_MAX_BYTES * 16);
}

static void compact_configure(struct store_compact *c)
{
	if (c->configured)
		return;
	c->live_pct = (int)env_setting("HERMOD_COMPACT_LIVE_PCT", STORE_COMPACT_LIVE_PCT, 0, 100);
	c->grace_s = env_setting("HERMOD_COMPACT_GRACE_S", STORE_COMPACT_GRACE_S, 0, 7 * 86400);
	c->scan_s = env_setting("HERMOD_COMPACT_SCAN_S", STORE_COMPACT_SCAN_S, 0, 7 * 86400);
	c->configured = true;
}

static int sync_msg_dir(struct store *s, const char **errstr_r)
{
	int fd = open(s->msg_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return store_errf(s, errstr_r, "cannot open %s: %s", s->msg_dir, strerror(errno));
	rc = fsync(fd);
	close(fd);
	if (rc < 0)
		return store_errf(s, errstr_r, "cannot sync %s: %s", s->msg_dir, strerror(errno));
	return 0;
}

/* Collects the first column of every row of st (reset afterwards). */
static int collect_ids(struct store *s, sqlite3_stmt *st, struct store_ids *ids, const char **errstr_r)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_ids_push(ids, sqlite3_column_int64(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* ---- retired segments: unlinked after their grace period ---- */

static int reap_rows(struct store *s, const struct store_ids *ids, const char **errstr_r)
{
	static const char sql[] = "DELETE FROM segments WHERE id = ?1 AND retired_at IS NOT NULL"
				  " AND NOT EXISTS (SELECT 1 FROM bodies WHERE segment = ?1)";

	if (store_begin(s, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < ids->n; i++) {
		if (store_run(s, sql, errstr_r, 1, ids->v[i]) < 0) {
			store_rollback(s);
			return -1;
		}
	}
	return store_commit(s, errstr_r);
}

/* Unlinks the empty retired segments whose grace is over; *done_r += how many. */
static int compact_reap(struct store *s, size_t *done_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id FROM segments WHERE retired_at IS NOT NULL AND retired_at <= ?"
				  " AND NOT EXISTS (SELECT 1 FROM bodies WHERE segment = segments.id)"
				  " ORDER BY id LIMIT ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_ids ids = { 0 }, gone = { 0 };
	char path[4096];
	int rc = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL) - s->compact.grace_s);
	sqlite3_bind_int64(st, 2, COMPACT_REAP_MAX);
	if (collect_ids(s, st, &ids, errstr_r) < 0)
		goto out;
	for (size_t i = 0; i < ids.n; i++) {
		store_segment_path(s, ids.v[i], path, sizeof(path));
		if (unlink(path) == 0 || errno == ENOENT)
			store_ids_push(&gone, ids.v[i]);
		else
			log_warn("store event=segment-unlink-failed segment=%lld error=\"%s\"", (long long)ids.v[i],
				 strerror(errno));
	}
	/* the names are gone for good before the rows that let us retry */
	rc = gone.n == 0 ? 0 : sync_msg_dir(s, errstr_r) < 0 ? -1 : reap_rows(s, &gone, errstr_r);
	if (rc == 0) {
		for (size_t i = 0; i < gone.n; i++)
			log_info("store event=segment-unlinked segment=%lld reason=compacted", (long long)gone.v[i]);
		s->compact.segments_unlinked += gone.n;
		*done_r += gone.n;
	}
out:
	free(ids.v);
	free(gone.v);
	return rc;
}

/* ---- choosing a segment ---- */

/* A segment whose compaction was under way (a crash, an error): 1, 0 or -1. */
static int find_resumable(struct store *s, int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id FROM segments WHERE retired_at IS NOT NULL AND id != ?"
				  " AND EXISTS (SELECT 1 FROM bodies WHERE segment = segments.id) ORDER BY id LIMIT 1";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, s->compact.skip);
	return store_step_id(s, st, id_r, errstr_r);
}

static uint64_t segment_file_size(struct store *s, int64_t id)
{
	char path[4096];
	struct stat stt;

	store_segment_path(s, id, path, sizeof(path));
	return stat(path, &stt) == 0 && stt.st_size > 0 ? (uint64_t)stt.st_size : 0;
}

/* Whether segment id is worth compacting; its file size in *size_r. 1, 0 or -1. */
static int worth_it(struct store *s, int64_t id, uint64_t *size_r, const char **errstr_r)
{
	static const char sql[] = "SELECT coalesce(sum(length), 0) FROM bodies WHERE segment = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int64_t live = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (store_step_id(s, st, &live, errstr_r) < 0)
		return -1;
	/* 0: gone meanwhile (its last body expunged), nothing to do */
	if ((*size_r = segment_file_size(s, id)) == 0)
		return 0;
	/* live / size < pct / 100, in integers (sizes are far below 2^56) */
	return (uint64_t)live * 100 < (uint64_t)s->compact.live_pct * *size_r;
}

static void compact_start(struct store *s, int64_t id, uint64_t size)
{
	s->compact.segment = id;
	s->compact.size_before = size;
	s->compact.seg_moved = 0;
	log_info("store event=compact-start segment=%lld bytes_before=%llu", (long long)id, (unsigned long long)size);
}

/*
 * Looks at the next few sealed segments of this round (in id order, from
 * the cursor); a round ends at the last one and the next starts scan_s
 * later. *done_r += segments examined, unless the round ended with them.
 */
static int compact_find(struct store *s, size_t *done_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id FROM segments WHERE sealed = 1 AND retired_at IS NULL AND id > ?"
				  " ORDER BY id LIMIT ?";
	sqlite3_stmt *st;
	struct store_ids ids = { 0 };
	uint64_t size = 0;
	int64_t id = 0;
	int rc;

	if ((rc = find_resumable(s, &id, errstr_r)) != 0) {
		if (rc > 0)
			compact_start(s, id, segment_file_size(s, id));
		return rc < 0 ? -1 : 0;
	}
	if ((int64_t)time(NULL) < s->compact.scanned_at + s->compact.scan_s)
		return 0;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, s->compact.cursor);
	sqlite3_bind_int64(st, 2, STORE_COMPACT_SCAN_SEGMENTS);
	if (collect_ids(s, st, &ids, errstr_r) < 0) {
		free(ids.v);
		return -1;
	}
	rc = 0;
	for (size_t i = 0; i < ids.n && s->compact.segment == 0 && rc >= 0; i++) {
		s->compact.cursor = ids.v[i];
		if ((rc = worth_it(s, ids.v[i], &size, errstr_r)) > 0 && ids.v[i] != s->compact.skip)
			compact_start(s, ids.v[i], size);
	}
	if (rc >= 0 && s->compact.segment == 0 && ids.n < STORE_COMPACT_SCAN_SEGMENTS) {
		/* the round is over, and found nothing in its last stretch: "nothing to do" */
		s->compact.cursor = 0;
		s->compact.scanned_at = (int64_t)time(NULL);
		s->compact.skip = 0;
	} else {
		*done_r += ids.n;
	}
	free(ids.v);
	return rc < 0 ? -1 : 0;
}

/* ---- moving bodies ---- */

struct compact_move {
	int64_t body_id;
	uint64_t old_offset;
	uint64_t length;
	struct store_body_loc loc; /* the copy */
};

/* The next bodies of the segment, in file order, up to budget bytes (at least one). */
static int moves_collect(struct store *s, size_t budget, struct compact_move **moves_r, size_t *n_r,
			 const char **errstr_r)
{
	static const char sql[] = "SELECT id, offset, length FROM bodies WHERE segment = ? ORDER BY offset LIMIT ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct compact_move *m = xcalloc(STORE_COMPACT_STEP_BODIES, sizeof(*m));
	uint64_t bytes = 0;
	size_t n = 0;
	int rc = SQLITE_DONE;

	*moves_r = m;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, s->compact.segment);
	sqlite3_bind_int64(st, 2, STORE_COMPACT_STEP_BODIES);
	while ((n == 0 || bytes < budget) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		m[n].body_id = sqlite3_column_int64(st, 0);
		m[n].old_offset = (uint64_t)sqlite3_column_int64(st, 1);
		m[n].length = (uint64_t)sqlite3_column_int64(st, 2);
		bytes += m[n++].length;
	}
	sqlite3_reset(st);
	*n_r = n;
	if (n > 0 && bytes >= budget)
		return 0; /* stopped at the budget: rc is a row, not an error */
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

static int pread_full(int fd, void *p, size_t len, uint64_t off)
{
	char *c = p;

	while (len > 0) {
		ssize_t n = pread(fd, c, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Steps 1 and 2: every body copied to the current segment, then synced. */
static int moves_copy(struct store *s, struct compact_move *m, size_t n, const char **errstr_r)
{
	struct store_batch_sync bs = { false, false };
	char path[4096];
	int fd, rc = 0;

	store_segment_path(s, s->compact.segment, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return store_errf(s, errstr_r, "cannot open message segment %s: %s", path, strerror(errno));
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* bodies sharing a segment are small (a spool's memory at most) */
		void *buf = xmalloc(m[i].length > 0 ? (size_t)m[i].length : 1);

		if (pread_full(fd, buf, (size_t)m[i].length, m[i].old_offset) < 0)
			rc = store_errf(s, errstr_r, "cannot read body %lld from message segment %s: %s",
					(long long)m[i].body_id, path, errno != 0 ? strerror(errno) : "truncated");
		else
			rc = store_body_append(s, buf, (size_t)m[i].length, &bs, &m[i].loc, errstr_r);
		free(buf);
	}
	close(fd);
	if (rc < 0)
		return -1;
	return store_batch_sync_finish(s, &bs, errstr_r);
}

/* Step 3: the rows point at the copies; the old segment is retired as of now. */
static int moves_commit(struct store *s, const struct compact_move *m, size_t n, uint64_t *moved_r,
			const char **errstr_r)
{
	static const char sql_body[] = "UPDATE bodies SET segment = ?1, offset = ?2"
				       " WHERE id = ?3 AND segment = ?4 AND offset = ?5";
	static const char sql_seg[] = "UPDATE segments SET retired_at = ?2 WHERE id = ?1";

	*moved_r = 0;
	if (store_begin(s, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (store_run(s, sql_body, errstr_r, 5, m[i].loc.segment, (int64_t)m[i].loc.offset, m[i].body_id,
			      s->compact.segment, (int64_t)m[i].old_offset) < 0)
			goto fail;
		/* 0 changes: expunged since; its copy is garbage like any dead body */
		if (sqlite3_changes(s->db) > 0)
			*moved_r += m[i].length;
	}
	if (store_run(s, sql_seg, errstr_r, 2, s->compact.segment, (int64_t)time(NULL)) < 0)
		goto fail;
	return store_commit(s, errstr_r);
fail:
	store_rollback(s);
	return -1;
}

/* The segment has no body left: it waits for its grace period (compact_reap). */
static int compact_finish(struct store *s, const char **errstr_r)
{
	static const char sql[] = "UPDATE segments SET retired_at = coalesce(retired_at, ?2) WHERE id = ?1";
	struct store_compact *c = &s->compact;
	uint64_t reclaimed = c->size_before > c->seg_moved ? c->size_before - c->seg_moved : 0;

	if (store_run(s, sql, errstr_r, 2, c->segment, (int64_t)time(NULL)) < 0)
		return -1;
	if (sqlite3_changes(s->db) > 0) {
		log_info("store event=segment-compacted segment=%lld bytes_before=%llu bytes_after=%llu"
			 " reclaimed=%llu unlink_after_s=%lld",
			 (long long)c->segment, (unsigned long long)c->size_before, (unsigned long long)c->seg_moved,
			 (unsigned long long)reclaimed, (long long)c->grace_s);
		c->segments_compacted++;
		c->bytes_reclaimed += reclaimed;
	}
	c->segment = 0;
	return 0;
}

/* One batch of bodies out of the segment being compacted; *done_r += bodies moved. */
static int compact_move(struct store *s, size_t budget, size_t *done_r, const char **errstr_r)
{
	struct compact_move *m = NULL;
	uint64_t moved = 0;
	size_t n = 0;
	int rc;

	rc = moves_collect(s, budget, &m, &n, errstr_r);
	if (rc == 0 && n == 0)
		rc = compact_finish(s, errstr_r);
	else if (rc == 0 && (rc = moves_copy(s, m, n, errstr_r)) == 0 && s->compact.stop_after_copy)
		rc = store_errf(s, errstr_r, "compaction stopped between the copy and the commit (test)");
	else if (rc == 0 && (rc = moves_commit(s, m, n, &moved, errstr_r)) == 0) {
		s->compact.seg_moved += moved;
		s->compact.bytes_moved += moved;
		s->compact.bodies_moved += n;
		*done_r += n;
	}
	free(m);
	if (rc < 0) {
		/* the rows still point at the old file; try another segment */
		s->compact.skip = s->compact.segment;
		s->compact.segment = 0;
	}
	return rc;
}

int store_compact_step(struct store *s, size_t budget, size_t *done_r, const char **errstr_r)
{
	*done_r = 0;
	compact_configure(&s->compact);
	if (s->txn_depth > 0)
		return store_errf(s, errstr_r, "compaction cannot run inside a transaction");
	if (compact_reap(s, done_r, errstr_r) < 0)
		return -1;
	if (s->compact.segment == 0 && compact_find(s, done_r, errstr_r) < 0)
		return -1;
	if (s->compact.segment != 0) {
		if (compact_move(s, budget, done_r, errstr_r) < 0)
			return -1;
		*done_r += 1; /* finishing a segment is progress too */
	}
	return 0;
}

int64_t store_compact_wait_s(struct store *s)
{
	static const char sql[] = "SELECT min(retired_at) FROM segments WHERE retired_at IS NOT NULL"
				  " AND NOT EXISTS (SELECT 1 FROM bodies WHERE segment = segments.id)";
	sqlite3_stmt *st = store_stmt(s, sql, NULL);
	int64_t now = (int64_t)time(NULL), wait, retired = 0;

	compact_configure(&s->compact);
	if (s->compact.segment != 0)
		return 0;
	wait = s->compact.scanned_at + s->compact.scan_s - now;
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		retired = sqlite3_column_int64(st, 0) + s->compact.grace_s - now;
		if (retired < wait)
			wait = retired;
	}
	if (st != NULL)
		sqlite3_reset(st);
	return wait < 1 ? 1 : wait; /* at least a second: never a busy loop on an unlink that fails */
}
