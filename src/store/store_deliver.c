/*
 * store_deliver: recipient resolution and group-committed delivery.
 *
 * Durability argument. A batch of deliveries is made durable in this order:
 *
 *   1. Every small body (a spool still in memory) is appended with pwrite to
 *      the current segment file msg/<id>; every large body (a spool that
 *      spilled to tmp/) is fsync'd and renamed to msg/<id> as a segment of
 *      its own.
 *   2. ONE fdatasync of the current segment, and one fsync of msg/ when a
 *      file was created or renamed into it (so the name survives a crash).
 *   3. ONE SQLite transaction inserts the bodies and mail rows and bumps the
 *      folder and address counters; COMMIT returns once the WAL is fsync'd
 *      (synchronous=FULL).
 *
 * A submitted message (d->outbound) adds its queue entry, its recipients
 * and its send_log row to the same transaction in step 3: its local copies
 * and its remote recipients become durable together, after the one sync.
 *
 * Only after 3 does any delivery of the batch count as done (and SMTP say
 * 250). A crash before 2 completes loses bytes nobody references; a crash
 * between 2 and 3 leaves durable bytes that nobody references either: both
 * are harmless garbage (reclaimed by compaction, store_compact.c). A row can never
 * point at bytes that are not on disk, because the rows are committed after
 * the data sync. That is two or three syncs per batch, whatever its size:
 * group commit.
 *
 * On open, the next append offset is the segment file's actual size, not a
 * number from the database: bytes from a batch that crashed before its
 * commit are skipped, never overwritten under a reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "store/store_mail.h"
#include "store/store_private.h"
#include "store/store_queue.h"

void store_segment_path(struct store *s, int64_t seg_id, char *path, size_t size)
{
	snprintf(path, size, "%s/%lld", s->msg_dir, (long long)seg_id);
}

void store_segments_unlink(struct store *s, const int64_t *ids, size_t n)
{
	char path[4096];

	for (size_t i = 0; i < n; i++) {
		store_segment_path(s, ids[i], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("store event=segment-unlink-failed segment=%lld error=\"%s\"", (long long)ids[i],
				 strerror(errno));
	}
}

static int fsync_dir(struct store *s, const char *dir, const char **errstr_r)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return store_errf(s, errstr_r, "cannot open %s: %s", dir, strerror(errno));
	rc = fsync(fd);
	close(fd);
	s->data_syncs++;
	if (rc < 0)
		return store_errf(s, errstr_r, "cannot sync %s: %s", dir, strerror(errno));
	return 0;
}

/* A new segment row, committed on its own so its id is never handed out twice. */
static int segment_allocate(struct store *s, bool sealed, int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO segments (sealed, created_at) VALUES (?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, sealed ? 1 : 0);
	sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int segment_seal(struct store *s, int64_t id, const char **errstr_r)
{
	static const char sql[] = "UPDATE segments SET sealed = 1 WHERE id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return store_step_done(s, st, errstr_r);
}

static void segment_close(struct store *s)
{
	if (s->seg_fd >= 0)
		close(s->seg_fd); /* drops the flock too */
	s->seg_fd = -1;
	s->seg_id = 0;
	s->seg_off = 0;
}

/*
 * Opens segment id for appending. The exclusive flock keeps a second writer
 * (another hermod on the same data_dir) from appending to it at the same
 * time: 0 on success, 1 if someone else holds it, -1 on error.
 */
static int segment_attach(struct store *s, int64_t id, bool *created_r, const char **errstr_r)
{
	char path[4096];
	struct stat stt;
	int fd;

	store_segment_path(s, id, path, sizeof(path));
	*created_r = access(path, F_OK) < 0;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return store_errf(s, errstr_r, "cannot open message segment %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 1;
	}
	if (fstat(fd, &stt) < 0) {
		close(fd);
		return store_errf(s, errstr_r, "cannot stat message segment %s: %s", path, strerror(errno));
	}
	s->seg_fd = fd;
	s->seg_id = id;
	s->seg_off = (uint64_t)stt.st_size;
	return 0;
}

/* Makes sure a segment with room is open; *created_r when its file is new. */
static int segment_ensure(struct store *s, bool *created_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id FROM segments WHERE sealed = 0 ORDER BY id DESC LIMIT 1";
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	if (s->seg_fd >= 0)
		return 0;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL || (rc = store_step_id(s, st, &id, errstr_r)) < 0)
		return -1;
	/* rc: 1 = there is an open segment; attached below unless locked */
	if (rc == 1 && (rc = segment_attach(s, id, created_r, errstr_r)) < 0)
		return -1;
	if (rc == 0 && s->seg_fd >= 0) {
		if (s->seg_off < s->seg_max)
			return 0;
		/* full: seal it and start another */
		if (segment_seal(s, s->seg_id, errstr_r) < 0)
			return -1;
		segment_close(s);
	}
	if (segment_allocate(s, false, &id, errstr_r) < 0)
		return -1;
	rc = segment_attach(s, id, created_r, errstr_r);
	if (rc > 0)
		return store_errf(s, errstr_r, "new message segment %lld is locked by another process", (long long)id);
	return rc;
}

static int pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
	const char *c = p;

	while (len > 0) {
		ssize_t n = pwrite(fd, c, len, (off_t)off);

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

/* Seals a full segment after syncing what this batch wrote to it. */
static int segment_roll(struct store *s, struct store_batch_sync *bs, const char **errstr_r)
{
	if (bs->segment_dirty) {
		s->data_syncs++;
		if (fdatasync(s->seg_fd) < 0)
			return store_errf(s, errstr_r, "cannot sync the message store: %s", strerror(errno));
		bs->segment_dirty = false;
	}
	if (segment_seal(s, s->seg_id, errstr_r) < 0)
		return -1;
	segment_close(s);
	return 0;
}

int store_body_append(struct store *s, const void *p, size_t len, struct store_batch_sync *bs,
		      struct store_body_loc *loc, const char **errstr_r)
{
	bool created = false;

	if (s->seg_fd >= 0 && s->seg_off > 0 && s->seg_off + len > s->seg_max && segment_roll(s, bs, errstr_r) < 0)
		return -1;
	if (segment_ensure(s, &created, errstr_r) < 0)
		return -1;
	bs->dir_dirty |= created;
	if (pwrite_all(s->seg_fd, p, len, s->seg_off) < 0)
		return store_errf(s, errstr_r, "cannot write to the message store: %s",
				  errno != 0 ? strerror(errno) : "short write");
	bs->segment_dirty = true;
	loc->segment = s->seg_id;
	loc->offset = s->seg_off;
	loc->length = len;
	s->seg_off += len;
	return 0;
}

/* A spilled spool: its file becomes a sealed segment of its own. */
static int body_adopt(struct store *s, struct spool *sp, struct store_batch_sync *bs, struct store_body_loc *loc,
		      const char **errstr_r)
{
	char path[4096];
	int64_t id;

	s->data_syncs++;
	if (fsync(spool_fd(sp)) < 0)
		return store_errf(s, errstr_r, "cannot sync the message: %s", strerror(errno));
	if (segment_allocate(s, true, &id, errstr_r) < 0)
		return -1;
	store_segment_path(s, id, path, sizeof(path));
	if (rename(spool_path(sp), path) < 0)
		return store_errf(s, errstr_r, "cannot move the message into the store: %s", strerror(errno));
	spool_mark_consumed(sp);
	bs->dir_dirty = true;
	loc->segment = id;
	loc->offset = 0;
	loc->length = spool_size(sp);
	loc->renamed = true;
	return 0;
}

static int body_store(struct store *s, struct spool *sp, struct store_batch_sync *bs, struct store_body_loc *loc,
		      const char **errstr_r)
{
	const void *mem;
	size_t len;

	memset(loc, 0, sizeof(*loc));
	if (spool_flush(sp, errstr_r) < 0)
		return -1;
	if ((mem = spool_memory(sp, &len)) != NULL || spool_fd(sp) < 0)
		return store_body_append(s, mem != NULL ? mem : "", mem != NULL ? len : 0, bs, loc, errstr_r);
	return body_adopt(s, sp, bs, loc, errstr_r);
}

/* Gives a renamed spool file back to its spool (its batch did not commit). */
static void body_unadopt(struct store *s, struct spool *sp, const struct store_body_loc *loc)
{
	char path[4096];

	if (!loc->renamed)
		return;
	store_segment_path(s, loc->segment, path, sizeof(path));
	if (rename(path, spool_path(sp)) == 0)
		spool_mark_unconsumed(sp);
}

static void delivery_fail(struct store_delivery *d, const char *why)
{
	d->result = -1;
	snprintf(d->error, sizeof(d->error), "%s", why);
}

/* ---- the transaction ---- */

static bool seen_before(const int64_t *ids, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (ids[j] == ids[i])
			return true;
	}
	return false;
}

/* One copy into address_id's INBOX. */
static int mail_insert(struct store *s, int64_t address_id, int64_t body_id, const struct store_delivery *d,
		       uint64_t size, const char **errstr_r)
{
	static const char sql_bump[] = "UPDATE folders SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1"
				       " WHERE address_id = ? AND name = 'INBOX' RETURNING id, uidnext - 1, highestmodseq";
	static const char sql_mail[] = "INSERT INTO mail (folder_id, uid, body_id, internal_date, size, modseq)"
				       " VALUES (?, ?, ?, ?, ?, ?)";
	static const char sql_usage[] = "UPDATE addresses SET used_bytes = used_bytes + ?,"
					" message_count = message_count + 1 WHERE id = ?";
	sqlite3_stmt *st = store_stmt(s, sql_bump, errstr_r);
	int64_t folder_id, uid, modseq;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_errf(s, errstr_r, "the receiving address (id %lld) no longer exists", (long long)address_id);
	}
	folder_id = sqlite3_column_int64(st, 0);
	uid = sqlite3_column_int64(st, 1);
	modseq = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	/* reported after the batch: a rolled-back one only causes a spurious wake-up */
	store_note_folder_changed(s, folder_id);
	if ((st = store_stmt(s, sql_mail, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, body_id);
	sqlite3_bind_int64(st, 4, d->internal_date);
	sqlite3_bind_int64(st, 5, (int64_t)size);
	sqlite3_bind_int64(st, 6, modseq);
	if (store_step_done(s, st, errstr_r) < 0 || (st = store_stmt(s, sql_usage, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)size);
	sqlite3_bind_int64(st, 2, address_id);
	return store_step_done(s, st, errstr_r);
}

/*
 * The body row and its copies. Refcount: one per distinct receiving address,
 * plus one for the queue entry when there are remote recipients.
 */
static int delivery_insert(struct store *s, const struct store_delivery *d, const struct store_body_loc *loc,
			   const char **errstr_r)
{
	bool queued = d->outbound != NULL && d->outbound->rcpt_count > 0;
	int64_t refs = queued ? 1 : 0, body_id;

	for (size_t i = 0; i < d->address_count; i++)
		refs += seen_before(d->address_ids, i) ? 0 : 1;
	if (store_body_insert(s, loc, refs, &body_id, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < d->address_count; i++) {
		if (!seen_before(d->address_ids, i) &&
		    mail_insert(s, d->address_ids[i], body_id, d, loc->length, errstr_r) < 0)
			return -1;
	}
	if (d->outbound != NULL && store_queue_insert(s, d->outbound, body_id, d->internal_date, errstr_r) < 0)
		return -1;
	return 0;
}

/* Refuses a delivery that cannot be stored, before its body is written. */
static int delivery_check(struct store *s, const struct store_delivery *d, const char **errstr_r)
{
	if (d->outbound == NULL) {
		if (d->address_count == 0)
			return store_errf(s, errstr_r, "a delivery needs at least one receiving address");
		return 0;
	}
	if (d->address_count == 0 && d->outbound->rcpt_count == 0)
		return store_errf(s, errstr_r, "a submitted message needs at least one recipient");
	return store_outbound_check(s, d->outbound, errstr_r);
}

/* Inserts every delivery that got its body stored; each in a savepoint so
 * that one failing (its address removed meanwhile) spares the others. */
static int batch_commit(struct store *s, struct store_delivery *const *d, const struct store_body_loc *locs, size_t n,
			const char **errstr_r)
{
	const char *err;

	if (store_begin(s, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (d[i]->result < 0)
			continue;
		if (store_exec(s, "SAVEPOINT delivery", errstr_r) < 0)
			goto fail;
		if (delivery_insert(s, d[i], &locs[i], &err) < 0) {
			delivery_fail(d[i], err);
			if (store_exec(s, "ROLLBACK TO delivery", errstr_r) < 0)
				goto fail;
		}
		if (store_exec(s, "RELEASE delivery", errstr_r) < 0)
			goto fail;
	}
	if (store_commit(s, errstr_r) < 0)
		return -1;
	s->batch_commits++;
	return 0;
fail:
	store_rollback(s);
	return -1;
}

/* Step 2: one data sync of the segment, and of msg/ when a name changed in it. */
int store_batch_sync_finish(struct store *s, struct store_batch_sync *bs, const char **errstr_r)
{
	if (bs->segment_dirty) {
		s->data_syncs++;
		if (fdatasync(s->seg_fd) < 0) {
			/* After a failed fsync the page cache state is unknown
			 * (fsyncgate): never append to this segment again. */
			store_errf(s, errstr_r, "cannot sync the message store: %s", strerror(errno));
			segment_seal(s, s->seg_id, NULL);
			segment_close(s);
			return -1;
		}
	}
	if (bs->dir_dirty && fsync_dir(s, s->msg_dir, errstr_r) < 0)
		return -1;
	return 0;
}

/* Writes every body, then the syncs of step 2. -1: the batch as a whole failed. */
static int batch_write(struct store *s, struct store_delivery *const *d, struct store_body_loc *locs, size_t n,
		       const char **errstr_r)
{
	struct store_batch_sync bs = { false, false };
	const char *err;

	for (size_t i = 0; i < n; i++) {
		d[i]->result = 0;
		d[i]->error[0] = '\0';
		if (delivery_check(s, d[i], &err) < 0)
			delivery_fail(d[i], err);
		else if (body_store(s, d[i]->body, &bs, &locs[i], &err) < 0)
			delivery_fail(d[i], err);
		else
			s->bodies_written++;
	}
	return store_batch_sync_finish(s, &bs, errstr_r);
}

int store_body_write(struct store *s, struct spool *sp, struct store_body_loc *loc, const char **errstr_r)
{
	struct store_batch_sync bs = { false, false };

	if (body_store(s, sp, &bs, loc, errstr_r) < 0)
		return -1;
	s->bodies_written++;
	if (store_batch_sync_finish(s, &bs, errstr_r) < 0) {
		body_unadopt(s, sp, loc);
		return -1;
	}
	return 0;
}

void store_body_unwrite(struct store *s, struct spool *sp, const struct store_body_loc *loc)
{
	body_unadopt(s, sp, loc);
}

int store_body_insert(struct store *s, const struct store_body_loc *loc, int64_t refcount, int64_t *id_r,
		      const char **errstr_r)
{
	static const char sql[] = "INSERT INTO bodies (segment, offset, length, refcount) VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, loc->segment);
	sqlite3_bind_int64(st, 2, (int64_t)loc->offset);
	sqlite3_bind_int64(st, 3, (int64_t)loc->length);
	sqlite3_bind_int64(st, 4, refcount);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_deliver_batch(struct store *s, struct store_delivery *const *d, size_t n, const char **errstr_r)
{
	struct store_body_loc *locs;
	int rc;

	if (n == 0)
		return 0;
	locs = calloc(n, sizeof(*locs));
	if (locs == NULL)
		panic("out of memory for a delivery batch of %zu", n);
	rc = batch_write(s, d, locs, n, errstr_r);
	if (rc == 0)
		rc = batch_commit(s, d, locs, n, errstr_r);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			if (d[i]->result == 0)
				delivery_fail(d[i], *errstr_r);
			body_unadopt(s, d[i]->body, &locs[i]);
		}
	}
	free(locs);
	return rc;
}

/* ---- recipients ---- */

struct rcpt_row {
	int64_t id;
	char kind[16];
	int64_t quota_override;
	int64_t used_bytes;
	char local[65];
};

/* The address local@domain_id, or (catchall) the domain's catchall. */
static int rcpt_lookup(struct store *s, int64_t domain_id, const char *local, bool catchall, struct rcpt_row *row,
		       const char **errstr_r)
{
	static const char sql_local[] = "SELECT id, kind, quota_bytes, used_bytes, local FROM addresses"
					" WHERE domain_id = ? AND local = ?";
	static const char sql_catchall[] = "SELECT id, kind, quota_bytes, used_bytes, local FROM addresses"
					   " WHERE domain_id = ? AND kind = 'catchall'";
	sqlite3_stmt *st = store_stmt(s, catchall ? sql_catchall : sql_local, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, domain_id);
	if (!catchall)
		sqlite3_bind_text(st, 2, local, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row->id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, row->kind, sizeof(row->kind));
		row->quota_override = sqlite3_column_int64(st, 2);
		row->used_bytes = sqlite3_column_int64(st, 3);
		store_col_copy(st, 4, row->local, sizeof(row->local));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* Domain id and plan: 1, 0 (not hosted) or -1. */
static int rcpt_domain(struct store *s, const char *domain, int64_t *id_r, char *name_r, size_t name_size,
		       enum plan *plan_r, const char **errstr_r)
{
	static const char sql[] = "SELECT d.id, d.name, coalesce(ms.plan, 'free') FROM domains d"
				  " LEFT JOIN mail_services ms ON ms.id = d.service_id WHERE d.name = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*id_r = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, name_r, name_size);
		store_plan_parse((const char *)sqlite3_column_text(st, 2), plan_r);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/*
 * An alias delivers to its first target that is a local mailbox (one level,
 * no chains). 1 with *row replaced by the target, 0 if none is local.
 * XXX full alias delivery (several targets, remote ones through the queue,
 * confirmation) comes with the Manager issue.
 */
static int rcpt_alias(struct store *s, struct rcpt_row *row, char *domain_r, size_t domain_size,
		      const char **errstr_r)
{
	static const char sql[] = "SELECT a.id, a.kind, a.quota_bytes, a.used_bytes, a.local, d.name"
				  " FROM alias_targets t"
				  " JOIN domains d ON d.name = substr(t.target, instr(t.target, '@') + 1)"
				  " JOIN addresses a ON a.domain_id = d.id"
				  "  AND a.local = substr(t.target, 1, instr(t.target, '@') - 1)"
				  " WHERE t.address_id = ? AND a.kind IN ('mailbox', 'catchall') ORDER BY t.rowid LIMIT 1";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, row->id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row->id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, row->kind, sizeof(row->kind));
		row->quota_override = sqlite3_column_int64(st, 2);
		row->used_bytes = sqlite3_column_int64(st, 3);
		store_col_copy(st, 4, row->local, sizeof(row->local));
		store_col_copy(st, 5, domain_r, domain_size);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

static void rcpt_quota(struct store_rcpt *r, const struct rcpt_row *row, uint64_t incoming_size,
		       const struct plan_cfg plans[CONFIG_PLAN_COUNT])
{
	uint64_t quota = row->quota_override > 0 ? (uint64_t)row->quota_override : plans[r->plan].quota_bytes;
	uint64_t used = row->used_bytes > 0 ? (uint64_t)row->used_bytes : 0;

	r->quota_bytes = (int64_t)quota;
	r->used_bytes = row->used_bytes;
	/* a quota of 0 means unlimited; a full mailbox refuses even SIZE-less mail */
	if (quota > 0 && (used >= quota || incoming_size > quota - used))
		r->status = RCPT_OVER_QUOTA;
}

int store_rcpt_resolve(struct store *s, const char *local, const char *domain, uint64_t incoming_size,
		       const struct plan_cfg plans[CONFIG_PLAN_COUNT], struct store_rcpt *r,
		       const char **errstr_r)
{
	struct rcpt_row row;
	char dname[254]; /* RFC 1035: 253 octets at most */
	int64_t domain_id = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->status = RCPT_NOT_HOSTED;
	if ((rc = rcpt_domain(s, domain, &domain_id, dname, sizeof(dname), &r->plan, errstr_r)) <= 0)
		return rc;
	r->status = RCPT_NO_SUCH_USER;
	if ((rc = rcpt_lookup(s, domain_id, local, false, &row, errstr_r)) < 0)
		return -1;
	if (rc == 0) {
		if ((rc = rcpt_lookup(s, domain_id, NULL, true, &row, errstr_r)) <= 0)
			return rc;
		r->via_catchall = true;
	}
	if (strcmp(row.kind, "noreply") == 0) {
		r->status = RCPT_NOREPLY;
		return 0;
	}
	if (strcmp(row.kind, "alias") == 0 && (rc = rcpt_alias(s, &row, dname, sizeof(dname), errstr_r)) <= 0)
		return rc;
	r->status = RCPT_OK;
	r->address_id = row.id;
	snprintf(r->mailbox, sizeof(r->mailbox), "%s@%s", row.local, dname);
	rcpt_quota(r, &row, incoming_size, plans);
	return 0;
}
