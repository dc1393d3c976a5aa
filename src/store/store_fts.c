/*
 * store_fts: message bodies by id: reading ranges, the per-body cache of
 * derived data (body_meta), and the full-text index (FTS5, trigram).
 *
 * The index answers "which messages may contain these strings": every
 * string of 3 characters or more is split into its trigrams, and a body is
 * a candidate when it holds all of them. That is a superset of the bodies
 * containing the string (the trigrams of a substring are in the text), so
 * the IMAP layer's exact RFC 3501 substring check on the candidates gives
 * the same answer as a scan of every message. Shorter strings cannot narrow
 * anything and are ignored; bodies not indexed yet are always candidates.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "store/store_mail.h"
#include "store/store_private.h"

/* Enough trigrams to be selective; more only make the query slower. */
#define FTS_TRIGRAMS_MAX 64

size_t store_utf8_seq_len(const unsigned char *p, size_t left)
{
	size_t n = *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 : *p >= 0xe0 && *p <= 0xef ? 3
		 : *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;

	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	/* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && *p == 0xe0 && p[1] < 0xa0) || (n == 3 && *p == 0xed && p[1] >= 0xa0) ||
	    (n == 4 && *p == 0xf0 && p[1] < 0x90) || (n == 4 && *p == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

/* ---- reading bodies ---- */

static int body_locate(struct store *s, int64_t body_id, int64_t *seg_r, uint64_t *off_r, uint64_t *len_r,
		       const char **errstr_r)
{
	static const char sql[] = "SELECT segment, offset, length FROM bodies WHERE id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*seg_r = sqlite3_column_int64(st, 0);
		*off_r = (uint64_t)sqlite3_column_int64(st, 1);
		*len_r = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return store_errf(s, errstr_r, "message body %lld does not exist (expunged?)", (long long)body_id);
	return rc == SQLITE_ROW ? 0 : store_dberr(s, errstr_r, "database error");
}

/*
 * The segment's fd, kept open between calls (a FETCH reads a body in many
 * chunks). A cached file that was unlinked (st_nlink 0) is dropped: its
 * segment id may since have been given to a new file.
 */
static int segment_fd(struct store *s, int64_t seg, const char **errstr_r)
{
	char path[4096];
	struct stat stt;

	if (s->rd_fd >= 0 && s->rd_seg == seg && fstat(s->rd_fd, &stt) == 0 && stt.st_nlink > 0)
		return s->rd_fd;
	if (s->rd_fd >= 0)
		close(s->rd_fd);
	s->rd_seg = 0;
	store_segment_path(s, seg, path, sizeof(path));
	if ((s->rd_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return store_errf(s, errstr_r, "cannot open message segment %s: %s", path, strerror(errno));
	s->rd_seg = seg;
	return s->rd_fd;
}

int store_body_pread(struct store *s, int64_t body_id, uint64_t offset, void *buf, size_t len, size_t *read_r,
		     const char **errstr_r)
{
	uint64_t boff = 0, blen = 0;
	int64_t seg = 0;
	ssize_t n;
	int fd;

	*read_r = 0;
	if (body_locate(s, body_id, &seg, &boff, &blen, errstr_r) < 0)
		return -1;
	if (offset >= blen || len == 0)
		return 0;
	if (len > blen - offset)
		len = (size_t)(blen - offset);
	if ((fd = segment_fd(s, seg, errstr_r)) < 0)
		return -1;
	do
		n = pread(fd, buf, len, (off_t)(boff + offset));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return store_errf(s, errstr_r, "cannot read a message: %s", strerror(errno));
	if (n == 0)
		return store_errf(s, errstr_r, "a message is truncated in the message store");
	*read_r = (size_t)n;
	return 0;
}

/* ---- body_meta ---- */

int store_body_meta_get(struct store *s, int64_t body_id, struct buf *out, const char **errstr_r)
{
	static const char sql[] = "SELECT meta FROM body_meta WHERE body_id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc, fit = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		fit = buf_append(out, blob != NULL ? blob : "", len);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return store_dberr(s, errstr_r, "database error");
	if (fit < 0)
		return store_errf(s, errstr_r, "the cached message structure does not fit its buffer");
	return 1;
}

int store_body_meta_put(struct store *s, int64_t body_id, const void *blob, size_t len, const char **errstr_r)
{
	static const char sql_body[] = "SELECT 1 FROM bodies WHERE id = ?";
	static const char sql[] = "INSERT OR REPLACE INTO body_meta (body_id, meta) VALUES (?, ?)";
	sqlite3_stmt *st;
	int rc;

	if ((rc = store_run_id(s, sql_body, NULL, errstr_r, 1, body_id)) <= 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "message body %lld does not exist", (long long)body_id);
	if (len > INT32_MAX)
		return store_errf(s, errstr_r, "the message structure is too large to cache");
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	sqlite3_bind_blob(st, 2, len > 0 ? blob : "", (int)len, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}

/* ---- the index ---- */

static int fts_index_txn(struct store *s, int64_t body_id, const char *text, size_t len, const char **errstr_r)
{
	static const char sql_mark[] = "UPDATE bodies SET fts_indexed = 1 WHERE id = ?";
	static const char sql_del[] = "DELETE FROM body_fts WHERE rowid = ?";
	static const char sql_ins[] = "INSERT INTO body_fts (rowid, text) VALUES (?, ?)";
	sqlite3_stmt *st;

	if (store_run(s, sql_mark, errstr_r, 1, body_id) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return store_errf(s, errstr_r, "message body %lld does not exist", (long long)body_id);
	/* indexing twice replaces: never two rows for one body */
	if (store_run(s, sql_del, errstr_r, 1, body_id) < 0 || (st = store_stmt(s, sql_ins, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	sqlite3_bind_text(st, 2, len > 0 ? text : "", (int)len, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}

int store_fts_index(struct store *s, int64_t body_id, const char *text, size_t len, const char **errstr_r)
{
	if (len > INT32_MAX)
		return store_errf(s, errstr_r, "the message text is too large to index");
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (fts_index_txn(s, body_id, text, len, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

struct body_ids {
	int64_t *ids;
	size_t count, cap;
};

static void collect_body_id(int64_t body_id, void *arg)
{
	struct body_ids *b = arg;

	if (b->count == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->ids = xrealloc(b->ids, b->cap * sizeof(*b->ids));
	}
	b->ids[b->count++] = body_id;
}

/* Indexes ids[0..n) in one transaction. */
static int fts_index_batch(struct store *s, const int64_t *ids, size_t n,
			   int (*text_cb)(struct store *s, int64_t body_id, struct buf *text, void *arg), void *arg,
			   size_t *indexed_r, const char **errstr_r)
{
	struct buf text;
	int rc = 0;

	if (store_begin(s, errstr_r) < 0)
		return -1;
	buf_init(&text, 0);
	for (size_t i = 0; i < n && rc == 0; i++) {
		buf_reset(&text);
		if (text_cb(s, ids[i], &text, arg) < 0)
			continue; /* stays unindexed, hence a candidate */
		if (text.len > INT32_MAX)
			continue;
		rc = fts_index_txn(s, ids[i], text.data ? text.data : "", text.len, errstr_r);
		if (rc == 0)
			(*indexed_r)++;
	}
	buf_free(&text);
	if (rc < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

int store_fts_index_pending(struct store *s, int64_t *cursor, size_t max,
			    int (*text_cb)(struct store *s, int64_t body_id, struct buf *text, void *arg), void *arg,
			    size_t *seen_r, const char **errstr_r)
{
	/* Only bodies some mailbox holds: a queue-only body is never searched. */
	static const char sql[] = "SELECT b.id FROM bodies b WHERE b.fts_indexed = 0 AND b.id > ?"
				  " AND EXISTS (SELECT 1 FROM mail m WHERE m.body_id = b.id) ORDER BY b.id LIMIT ?";
	struct body_ids b = { 0 };
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	size_t indexed = 0;
	int rc;

	*seen_r = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, *cursor);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		collect_body_id(sqlite3_column_int64(st, 0), &b);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(b.ids);
		return store_dberr(s, errstr_r, "database error");
	}
	rc = b.count > 0 ? fts_index_batch(s, b.ids, b.count, text_cb, arg, &indexed, errstr_r) : 0;
	if (rc == 0 && b.count > 0)
		*cursor = b.ids[b.count - 1];
	*seen_r = b.count;
	free(b.ids);
	return rc;
}

int store_fts_unindexed(struct store *s, int64_t folder_id, void (*cb)(int64_t body_id, void *arg), void *arg,
			const char **errstr_r)
{
	static const char sql[] = "SELECT DISTINCT m.body_id FROM mail m JOIN bodies b ON b.id = m.body_id"
				  " WHERE m.folder_id = ? AND b.fts_indexed = 0 ORDER BY m.body_id";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(sqlite3_column_int64(st, 0), arg);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

static void fts_emit(struct buf *q, const unsigned char *t, size_t len, unsigned *count)
{
	buf_append(q, *count > 0 ? " AND \"" : "\"", *count > 0 ? 6 : 1);
	for (size_t k = 0; k < len; k++)
		buf_append(q, t[k] == '"' ? "\"\"" : (const char *)t + k, t[k] == '"' ? 2 : 1);
	buf_append(q, "\"", 1);
	(*count)++;
}

/* Appends "xyz" (an FTS5 string, quotes doubled) for each trigram of word. */
static void fts_word_trigrams(struct buf *q, const char *w, size_t wlen, unsigned *count)
{
	const unsigned char *p = (const unsigned char *)w;
	size_t b[4], nb = 0, n = 0; /* the last four character boundaries */

	for (size_t i = 0; i < wlen; i += n) {
		if ((n = store_utf8_seq_len(p + i, wlen - i)) == 0)
			return; /* not UTF-8: the tokenizer might cut it otherwise; no narrowing */
	}
	for (size_t i = 0; *count < FTS_TRIGRAMS_MAX; i += n) {
		if (nb == 4) {
			memmove(b, b + 1, 3 * sizeof(b[0]));
			nb = 3;
		}
		b[nb++] = i;
		if (nb == 4)
			fts_emit(q, p + b[0], b[3] - b[0], count);
		if (i == wlen)
			break;
		n = store_utf8_seq_len(p + i, wlen - i);
	}
}

/* The MATCH expression for words; count 0 when nothing can narrow. */
static void fts_query(struct buf *q, const char *words, unsigned *count)
{
	const char *p = words;

	*count = 0;
	for (;;) {
		size_t len;

		p += strspn(p, " \t\r\n");
		if (*p == '\0')
			break;
		len = strcspn(p, " \t\r\n");
		fts_word_trigrams(q, p, len, count);
		p += len;
	}
}

int store_fts_candidates(struct store *s, int64_t folder_id, const char *words, void (*cb)(uint32_t uid, void *arg),
			 void *arg, const char **errstr_r)
{
	static const char sql_all[] = "SELECT uid FROM mail WHERE folder_id = ?1 ORDER BY uid";
	static const char sql_match[] = "SELECT m.uid FROM mail m JOIN bodies b ON b.id = m.body_id"
					" WHERE m.folder_id = ?1 AND (b.fts_indexed = 0 OR m.body_id IN"
					" (SELECT rowid FROM body_fts WHERE body_fts MATCH ?2)) ORDER BY m.uid";
	struct buf q;
	unsigned count;
	sqlite3_stmt *st;
	int rc;

	buf_init(&q, 0);
	fts_query(&q, words != NULL ? words : "", &count);
	if ((st = store_stmt(s, count > 0 ? sql_match : sql_all, errstr_r)) == NULL) {
		buf_free(&q);
		return -1;
	}
	sqlite3_bind_int64(st, 1, folder_id);
	if (count > 0)
		sqlite3_bind_text(st, 2, q.data, (int)q.len, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((uint32_t)sqlite3_column_int64(st, 0), arg);
	sqlite3_reset(st);
	buf_free(&q);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}
