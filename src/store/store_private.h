/*
 * store_private: what the SQLite backend's files share, and what the unit
 * tests and store_async may reach that the rest of hermod may not.
 */
#ifndef HERMOD_STORE_STORE_PRIVATE_H
#define HERMOD_STORE_STORE_PRIVATE_H

#include <sqlite3.h>
#include <stdarg.h>

#include "store/store.h"

/* Small bodies share segments; a segment is sealed once it grows past this. */
#define STORE_SEGMENT_MAX_BYTES (64u * 1024 * 1024)
/* A spool keeps a body in memory up to this size, then spills to a file. */
#define SPOOL_MEMORY_MAX_BYTES (64u * 1024)
#define STORE_STMT_CACHE 512 /* > the number of distinct SQL strings (about 200 today) */

/*
 * Segment compaction (store_compact.c). A sealed segment whose live bytes
 * (the sum of its bodies' lengths) are below live_pct percent of its file
 * size has its bodies copied, a few at a time, to the current segment; the
 * copies are fdatasync'd before the rows point at them. The emptied file is
 * unlinked grace_s seconds after the last body left it (readers may still
 * open the old location they looked up just before the move). Defaults
 * here; HERMOD_COMPACT_LIVE_PCT, HERMOD_COMPACT_GRACE_S and
 * HERMOD_COMPACT_SCAN_S override them (tests; HERMOD_SEGMENT_MAX_BYTES
 * likewise makes segments small).
 */
#define STORE_COMPACT_LIVE_PCT 50
#define STORE_COMPACT_GRACE_S 300
#define STORE_COMPACT_SCAN_S 60       /* at most one look for candidates per minute */
#define STORE_COMPACT_STEP_BYTES (256u * 1024) /* copied per step: ~1 ms plus one fdatasync */
#define STORE_COMPACT_STEP_BODIES 64
#define STORE_COMPACT_SCAN_SEGMENTS 16 /* segments examined per step while looking */

struct store_compact {
	bool configured;       /* the fields below were set (from the environment, or by a test) */
	int live_pct;
	int64_t grace_s;
	int64_t scan_s;
	int64_t segment;       /* being compacted, 0: none */
	uint64_t size_before;  /* its file size when it was chosen */
	uint64_t seg_moved;    /* bytes moved out of it so far */
	int64_t cursor;        /* the last segment id examined in this round */
	int64_t scanned_at;    /* time() a round ended; the next starts scan_s later */
	int64_t skip;          /* a segment whose copy failed: not chosen again this round */
	bool stop_after_copy;  /* tests: a step ends between the sync and the commit, like a crash */
	/* counters, for tests and logs */
	uint64_t segments_compacted;
	uint64_t segments_unlinked;
	uint64_t bodies_moved;
	uint64_t bytes_moved;
	uint64_t bytes_reclaimed;
};

struct store_stmt_slot {
	const char *sql; /* identity: the address of a static string */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	char *data_dir;
	char *msg_dir;
	char *tmp_dir;
	char err[512];
	int txn_depth; /* store_begin nesting: above 1, a savepoint */

	struct store_stmt_slot stmts[STORE_STMT_CACHE];

	/* the segment small bodies are appended to (writer only) */
	int64_t seg_id;     /* 0: none open yet */
	int seg_fd;
	uint64_t seg_off;   /* next append offset */
	uint64_t seg_max;   /* STORE_SEGMENT_MAX_BYTES; tests lower it */

	/* counters, for tests and logs */
	uint64_t batch_commits;   /* store_deliver_batch transactions committed */
	uint64_t data_syncs;      /* fdatasync/fsync calls made by deliveries */
	uint64_t bodies_written;

	/* folders changed by the calls since the last store_changed_take() */
	int64_t *changed;
	size_t nchanged, changed_cap;

	/* the segment store_body_pread read last (readers reuse the fd) */
	int rd_fd;
	int64_t rd_seg;

	/* segment compaction (store_compact.c; writer thread only) */
	struct store_compact compact;
};

/* Formats s->err, points *errstr_r at it and returns -1. */
int store_errf(struct store *s, const char **errstr_r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, with SQLite's own message appended ("...: database is locked"). */
int store_dberr(struct store *s, const char **errstr_r, const char *what);

/*
 * A cached prepared statement for sql, which must be a string literal (the
 * cache is keyed by its address). Returned reset with bindings cleared.
 * NULL on a preparation error (a bug or a broken database), with errstr.
 */
sqlite3_stmt *store_stmt(struct store *s, const char *sql, const char **errstr_r);
/* Copies a text column (NULL as ""), truncating to size. */
void store_col_copy(sqlite3_stmt *st, int col, char *dst, size_t size);
/* Steps a statement that returns no row, then resets it. */
int store_step_done(struct store *s, sqlite3_stmt *st, const char **errstr_r);
/* Steps a statement returning one integer, then resets it: 1 found, 0 not, -1. */
int store_step_id(struct store *s, sqlite3_stmt *st, int64_t *id_r, const char **errstr_r);
/* Runs one or more statements without results. */
int store_exec(struct store *s, const char *sql, const char **errstr_r);
int store_begin(struct store *s, const char **errstr_r); /* BEGIN IMMEDIATE; nested: a savepoint */
int store_commit(struct store *s, const char **errstr_r);
void store_rollback(struct store *s);

/*
 * Runs a cached statement (sql a string literal) with n int64_t parameters
 * (?1..?n, passed as int64_t): store_run for one that returns no row,
 * store_run_id for one returning an integer (lookup: 1, 0, -1).
 */
int store_run(struct store *s, const char *sql, const char **errstr_r, int n, ...);
int store_run_id(struct store *s, const char *sql, int64_t *id_r, const char **errstr_r, int n, ...);

/* Length of the UTF-8 sequence at p (RFC 3629: no overlongs, surrogates), 0 if invalid. */
size_t store_utf8_seq_len(const unsigned char *p, size_t left);

/* A growable list of ids. */
struct store_ids {
	int64_t *v;
	size_t n, cap;
};
void store_ids_push(struct store_ids *l, int64_t id);

/*
 * Drops one reference per entry of body_ids (one entry per mail row being
 * removed, inside the caller's transaction). A body left unreferenced is
 * deleted (its meta and index rows go with it), and a sealed segment left
 * without bodies too: its id goes to dead_segments, to be unlinked with
 * store_segments_unlink once the transaction has committed.
 */
int store_bodies_release(struct store *s, const int64_t *body_ids, size_t n, struct store_ids *dead_segments,
			 const char **errstr_r);
/* Adds to an address's usage counters (negative to subtract). */
int store_usage_add(struct store *s, int64_t address_id, int64_t messages, int64_t bytes, const char **errstr_r);

/* Takes the folder ids noted since the last call (deduplicated; caller frees). */
int64_t *store_changed_take(struct store *s, size_t *n_r);

/* Schema (store_schema.c). */
int store_schema_migrate(struct store *s, const char **errstr_r);
/* The version a fully migrated database has (tests compare with it). */
int store_schema_latest(void);
/* Tests: store_open, migrating only up to version (an older hermod's database). */
int store_open_at_version(const char *data_dir, int version, struct store **store_r, const char **errstr_r);

/* Directory helpers shared by the delivery and reading code. */
int store_address_find(struct store *s, const char *local, const char *domain, int64_t *id_r,
		       const char **errstr_r);
const char *store_plan_name(enum plan plan);
int store_plan_parse(const char *name, enum plan *plan_r);

/* Segment paths: <data_dir>/msg/<id>. */
void store_segment_path(struct store *s, int64_t seg_id, char *path, size_t size);
/* Unlinks the given segment files (their rows are already gone). */
void store_segments_unlink(struct store *s, const int64_t *ids, size_t n);
/* A fresh UIDVALIDITY, above every one handed out (store_address.c). */
int store_next_uidvalidity(struct store *s, uint32_t *v_r, const char **errstr_r);

/*
 * One step of segment compaction on the writer's store (store_compact.c):
 * unlinks retired segments whose grace period is over, then copies up to
 * budget bytes (at least one body) of the segment being compacted, syncs
 * them and moves their rows in one transaction; or, when no segment is
 * being compacted, looks at a few segments for one worth it. *done_r is how
 * much it did (0: nothing to do now). -1 on error (the step's transaction
 * is rolled back; the old rows and file are intact).
 */
int store_compact_step(struct store *s, size_t budget, size_t *done_r, const char **errstr_r);
/* Seconds until store_compact_step may have something to do again (a grace
 * period ends, the next round of looking), or -1 for never by itself. */
int64_t store_compact_wait_s(struct store *s);
/* STORE_SEGMENT_MAX_BYTES, or HERMOD_SEGMENT_MAX_BYTES (tests: segments that fill up fast). */
uint64_t store_segment_max_bytes(void);

/* Where one body went in the message store. */
struct store_body_loc {
	int64_t segment;
	uint64_t offset;
	uint64_t length;
	bool renamed; /* the spool's file became the segment */
};

/*
 * The delivery path for one body (store_deliver.c): steps 1 and 2 of its
 * durability argument, i.e. the body is on disk and fdatasync'd when this
 * returns 0. The caller then inserts the bodies row (store_body_insert) in
 * its transaction; if that transaction fails, store_body_unwrite gives a
 * renamed spool file back to its spool.
 */
int store_body_write(struct store *s, struct spool *sp, struct store_body_loc *loc, const char **errstr_r);
void store_body_unwrite(struct store *s, struct spool *sp, const struct store_body_loc *loc);
int store_body_insert(struct store *s, const struct store_body_loc *loc, int64_t refcount, int64_t *id_r,
		      const char **errstr_r);

/*
 * Appending raw bytes as a delivery does (store_deliver.c; compaction's
 * copies): store_body_append writes len bytes to the current segment
 * (rolling to a new one when full) and notes what must be synced in *bs;
 * store_batch_sync_finish does those syncs. Nothing may point at the bytes
 * before it returned 0.
 */
struct store_batch_sync {
	bool segment_dirty;
	bool dir_dirty;
};
int store_body_append(struct store *s, const void *p, size_t len, struct store_batch_sync *bs,
		      struct store_body_loc *loc, const char **errstr_r);
int store_batch_sync_finish(struct store *s, struct store_batch_sync *bs, const char **errstr_r);

/*
 * The outbound part of a delivery (store_queue.c), inside the batch's
 * transaction: store_outbound_check refuses what cannot be stored (before
 * the body is written); store_queue_insert adds the queue entry (when there
 * are remote recipients; the caller counted its body reference) and the
 * send_log row.
 */
struct store_outbound;
int store_outbound_check(struct store *s, const struct store_outbound *out, const char **errstr_r);
int store_queue_insert(struct store *s, const struct store_outbound *out, int64_t body_id, int64_t internal_date,
		       const char **errstr_r);

/* The spool's innards, for the delivery code. */
/* Flushes buffered file data. After it the spool is either in memory or in a file. */
int spool_flush(struct spool *sp, const char **errstr_r);
/* The body when it is in memory, else NULL. */
const void *spool_memory(const struct spool *sp, size_t *len_r);
/* The temporary file (fd and path) when the body spilled, else -1 / NULL. */
int spool_fd(const struct spool *sp);
const char *spool_path(const struct spool *sp);
/* The file was renamed into the message store: spool_free must not unlink it. */
void spool_mark_consumed(struct spool *sp);
/* The rename was undone (the batch failed): the file is the spool's again. */
void spool_mark_unconsumed(struct spool *sp);

#endif
