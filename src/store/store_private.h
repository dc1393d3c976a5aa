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
#define STORE_STMT_CACHE 128 /* > the number of distinct SQL strings (about 62 today) */

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
int store_begin(struct store *s, const char **errstr_r); /* BEGIN IMMEDIATE */
int store_commit(struct store *s, const char **errstr_r);
void store_rollback(struct store *s);

/* Schema (store_schema.c). */
int store_schema_migrate(struct store *s, const char **errstr_r);

/* Directory helpers shared by the delivery and reading code. */
int store_address_find(struct store *s, const char *local, const char *domain, int64_t *id_r,
		       const char **errstr_r);
const char *store_plan_name(enum plan plan);
int store_plan_parse(const char *name, enum plan *plan_r);

/* Segment paths: <data_dir>/msg/<id>. */
void store_segment_path(struct store *s, int64_t seg_id, char *path, size_t size);
/* Unlinks the given segment files (their rows are already gone). */
void store_segments_unlink(struct store *s, const int64_t *ids, size_t n);

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
