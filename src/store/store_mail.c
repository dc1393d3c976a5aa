/*
 * store_mail: messages in folders: listing, APPEND, STORE, EXPUNGE, COPY and
 * MOVE, with the mod-sequence rules of RFC 7162 (CONDSTORE / QRESYNC).
 *
 * Mod-sequences: each write transaction on a folder takes the folder's
 * HIGHESTMODSEQ + 1 once, and every message it changes carries that value;
 * expunged UIDs are recorded in `expunged` with it, so that "what changed
 * since N" is answered by mail(folder_id, modseq) and expunged(folder_id,
 * modseq). A write that changes nothing takes no mod-sequence.
 *
 * Bodies are shared between copies (bodies.refcount, one per mail row); the
 * last reference gone, the body row goes and, once a sealed segment holds
 * no body, its file too, after the commit.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"
#include "store/store_mail.h"
#include "store/store_private.h"

#define FLAGS_MASK (STORE_FLAG_SEEN | STORE_FLAG_ANSWERED | STORE_FLAG_FLAGGED | STORE_FLAG_DELETED | STORE_FLAG_DRAFT)

/* ---- small shared helpers ---- */

void store_ids_push(struct store_ids *l, int64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = id;
}

void store_note_folder_changed(struct store *s, int64_t folder_id)
{
	for (size_t i = 0; i < s->nchanged; i++) {
		if (s->changed[i] == folder_id)
			return;
	}
	if (s->nchanged == s->changed_cap) {
		s->changed_cap = s->changed_cap ? s->changed_cap * 2 : 8;
		s->changed = xrealloc(s->changed, s->changed_cap * sizeof(*s->changed));
	}
	s->changed[s->nchanged++] = folder_id;
}

int64_t *store_changed_take(struct store *s, size_t *n_r)
{
	int64_t *ids = s->changed;

	*n_r = s->nchanged;
	s->changed = NULL;
	s->nchanged = s->changed_cap = 0;
	return ids;
}

static sqlite3_stmt *stmt_bind(struct store *s, const char *sql, const char **errstr_r, int n, va_list ap)
{
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	for (int i = 0; st != NULL && i < n; i++)
		sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	return st;
}

int store_run(struct store *s, const char *sql, const char **errstr_r, int n, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, n);
	st = stmt_bind(s, sql, errstr_r, n, ap);
	va_end(ap);
	return st == NULL ? -1 : store_step_done(s, st, errstr_r);
}

int store_run_id(struct store *s, const char *sql, int64_t *id_r, const char **errstr_r, int n, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, n);
	st = stmt_bind(s, sql, errstr_r, n, ap);
	va_end(ap);
	return st == NULL ? -1 : store_step_id(s, st, id_r, errstr_r);
}

int store_usage_add(struct store *s, int64_t address_id, int64_t messages, int64_t bytes, const char **errstr_r)
{
	static const char sql[] = "UPDATE addresses SET message_count = max(message_count + ?2, 0),"
				  " used_bytes = max(used_bytes + ?3, 0) WHERE id = ?1";

	return store_run(s, sql, errstr_r, 3, address_id, messages, bytes);
}

/* One reference fewer; 1 when the body went with it, with its segment. */
static int body_unref(struct store *s, int64_t body_id, int64_t *segment_r, const char **errstr_r)
{
	static const char sql_dec[] = "UPDATE bodies SET refcount = refcount - 1 WHERE id = ? RETURNING refcount, segment";
	/* a queue entry holds a reference of its own (migration 3); the check stays as a guard */
	static const char sql_del[] = "DELETE FROM bodies WHERE id = ?1 AND refcount <= 0"
				      " AND NOT EXISTS (SELECT 1 FROM queue_messages WHERE body_id = ?1)";
	sqlite3_stmt *st = store_stmt(s, sql_dec, errstr_r);
	int64_t refs;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		refs = sqlite3_column_int64(st, 0);
		*segment_r = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
	if (refs > 0)
		return 0;
	if (store_run(s, sql_del, errstr_r, 1, body_id) < 0)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

int store_bodies_release(struct store *s, const int64_t *body_ids, size_t n, struct store_ids *dead_segments,
			 const char **errstr_r)
{
	/* the unsealed segment is the writer's current one: never removed */
	/* a retired one goes after its grace period (store_compact.c) */
	static const char sql_seg[] = "DELETE FROM segments WHERE id = ?1 AND sealed = 1 AND retired_at IS NULL"
				      " AND NOT EXISTS (SELECT 1 FROM bodies WHERE segment = ?1)";
	int64_t segment = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if ((rc = body_unref(s, body_ids[i], &segment, errstr_r)) < 0)
			return -1;
		if (rc == 0)
			continue;
		if (store_run(s, sql_seg, errstr_r, 1, segment) < 0)
			return -1;
		if (sqlite3_changes(s->db) > 0)
			store_ids_push(dead_segments, segment);
	}
	return 0;
}

/* ---- folders as the message functions need them ---- */

struct folder_row {
	int64_t id;
	int64_t address_id;
	uint32_t uidvalidity;
	int64_t uidnext;
	int64_t highestmodseq;
};

static int folder_row_get(struct store *s, int64_t folder_id, struct folder_row *f, const char **errstr_r)
{
	static const char sql[] = "SELECT address_id, uidvalidity, uidnext, highestmodseq FROM folders WHERE id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		f->id = folder_id;
		f->address_id = sqlite3_column_int64(st, 0);
		f->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		f->uidnext = sqlite3_column_int64(st, 2);
		f->highestmodseq = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return store_errf(s, errstr_r, "the folder no longer exists");
	return rc == SQLITE_ROW ? 0 : store_dberr(s, errstr_r, "database error");
}

static int folder_advance(struct store *s, int64_t folder_id, int64_t uidnext, int64_t modseq, const char **errstr_r)
{
	static const char sql[] = "UPDATE folders SET uidnext = max(uidnext, ?2), highestmodseq = max(highestmodseq, ?3)"
				  " WHERE id = ?1";

	return store_run(s, sql, errstr_r, 3, folder_id, uidnext, modseq);
}

/* UIDs are 32-bit (RFC 3501 2.3.1.1); a folder that ran out needs a new UIDVALIDITY. */
static int uids_available(struct store *s, const struct folder_row *f, size_t n, const char **errstr_r)
{
	if ((uint64_t)f->uidnext + n > UINT32_MAX)
		return store_errf(s, errstr_r, "the folder has run out of message UIDs");
	return 0;
}

static int quota_check(struct store *s, int64_t address_id, uint64_t add, const struct plan_cfg *plans,
		       const char **errstr_r)
{
	uint64_t used = 0, limit = 0;
	uint32_t messages;

	if (store_quota_get(s, address_id, plans, &used, &limit, &messages, errstr_r) < 0)
		return -1;
	if (limit > 0 && (used > limit || add > limit - used))
		return store_errf(s, errstr_r, "quota exceeded: %llu of %llu bytes used, %llu more needed",
				  (unsigned long long)used, (unsigned long long)limit, (unsigned long long)add);
	return 0;
}

/* ---- keywords: a space-separated set, compared case-insensitively (RFC 3501 2.3.2) ---- */

/* The next word of *p (advanced past it), or NULL at the end. */
static const char *kw_next(const char **p, size_t *len_r)
{
	const char *w = *p;

	while (*w == ' ')
		w++;
	if (*w == '\0')
		return NULL;
	*len_r = strcspn(w, " ");
	*p = w + *len_r;
	return w;
}

static bool kw_contains(const char *list, const char *w, size_t len)
{
	const char *p = list, *k;
	size_t n;

	while ((k = kw_next(&p, &n)) != NULL) {
		if (n == len && strncasecmp(k, w, n) == 0)
			return true;
	}
	return false;
}

/* Adds w to the set in out (len bytes so far); -1 if it would not fit. */
static int kw_add(char out[STORE_KEYWORDS_MAX], size_t *len, const char *w, size_t wlen)
{
	if (kw_contains(out, w, wlen))
		return 0;
	if (*len + (*len > 0) + wlen >= STORE_KEYWORDS_MAX)
		return -1;
	if (*len > 0)
		out[(*len)++] = ' ';
	memcpy(out + *len, w, wlen);
	*len += wlen;
	out[*len] = '\0';
	return 0;
}

/* out = each word of list (that is / is not in filter, when filter is given). */
static int kw_add_all(char out[STORE_KEYWORDS_MAX], size_t *len, const char *list, const char *filter, bool keep)
{
	const char *p = list, *w;
	size_t n;

	while ((w = kw_next(&p, &n)) != NULL) {
		if (filter != NULL && kw_contains(filter, w, n) != keep)
			continue;
		if (kw_add(out, len, w, n) < 0)
			return -1;
	}
	return 0;
}

static bool kw_subset(const char *a, const char *b)
{
	const char *p = a, *w;
	size_t n;

	while ((w = kw_next(&p, &n)) != NULL) {
		if (!kw_contains(b, w, n))
			return false;
	}
	return true;
}

/* The keywords after op; cur is kept as it is when the set does not change. */
static int kw_apply(enum store_flag_op op, const char *cur, const char *given, char out[STORE_KEYWORDS_MAX])
{
	size_t len = 0;
	int rc;

	out[0] = '\0';
	if (op == STORE_FLAGS_SET)
		rc = kw_add_all(out, &len, given, NULL, true);
	else if (op == STORE_FLAGS_ADD)
		rc = kw_add_all(out, &len, cur, NULL, true) < 0 ? -1 : kw_add_all(out, &len, given, NULL, true);
	else
		rc = kw_add_all(out, &len, cur, given, false);
	if (rc == 0 && kw_subset(out, cur) && kw_subset(cur, out))
		snprintf(out, STORE_KEYWORDS_MAX, "%s", cur);
	return rc;
}

/* Client keywords, normalised to a set (duplicates dropped). */
static int kw_normalise(struct store *s, const char *given, char out[STORE_KEYWORDS_MAX], const char **errstr_r)
{
	size_t len = 0;

	out[0] = '\0';
	if (given == NULL)
		return 0;
	for (const unsigned char *c = (const unsigned char *)given; *c != '\0'; c++) {
		if ((*c < 0x20 && *c != ' ') || *c == 0x7f)
			return store_errf(s, errstr_r, "a keyword cannot contain control characters");
	}
	if (kw_add_all(out, &len, given, NULL, true) < 0)
		return store_errf(s, errstr_r, "too many keywords (at most %d bytes)", STORE_KEYWORDS_MAX - 1);
	return 0;
}

/* ---- listing ---- */

static void mail_row(sqlite3_stmt *st, struct store_mail *m)
{
	m->uid = (uint32_t)sqlite3_column_int64(st, 0);
	m->flags = (uint32_t)sqlite3_column_int64(st, 1);
	store_col_copy(st, 2, m->keywords, sizeof(m->keywords));
	m->internal_date = sqlite3_column_int64(st, 3);
	m->size = (uint64_t)sqlite3_column_int64(st, 4);
	m->modseq = (uint64_t)sqlite3_column_int64(st, 5);
	m->body_id = sqlite3_column_int64(st, 6);
}

int store_mail_list(struct store *s, int64_t folder_id, uint32_t uid_min, uint64_t changed_since,
		    int (*cb)(const struct store_mail *m, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT uid, flags, keywords, internal_date, size, modseq, body_id FROM mail"
				  " WHERE folder_id = ?1 AND uid >= ?2 AND modseq > ?3 ORDER BY uid";
	/* CHANGEDSINCE usually asks for a few recent changes: seek them by modseq
	 * and sort, rather than walk the whole folder by UID */
	static const char sql_since[] = "SELECT uid, flags, keywords, internal_date, size, modseq, body_id"
					" FROM mail INDEXED BY mail_folder_modseq"
					" WHERE folder_id = ?1 AND uid >= ?2 AND modseq > ?3 ORDER BY uid";
	sqlite3_stmt *st = store_stmt(s, changed_since > 0 ? sql_since : sql, errstr_r);
	struct store_mail m;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid_min);
	sqlite3_bind_int64(st, 3, (int64_t)changed_since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mail_row(st, &m);
		if (cb(&m, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_mail_list_view(struct store *s, int64_t folder_id,
			 void (*cb)(uint32_t uid, uint32_t flags, uint64_t modseq, bool has_keywords, void *arg),
			 void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT uid, flags, modseq, keywords <> '' FROM mail INDEXED BY mail_view"
				  " WHERE folder_id = ? ORDER BY uid";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((uint32_t)sqlite3_column_int64(st, 0), (uint32_t)sqlite3_column_int64(st, 1),
		   (uint64_t)sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3) != 0, arg);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_mail_expunged_since(struct store *s, int64_t folder_id, uint64_t since,
			      void (*cb)(uint32_t uid, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((uint32_t)sqlite3_column_int64(st, 0), arg);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* ---- \Recent ---- */

int store_folder_recent(struct store *s, int64_t folder_id, uint32_t *first_r, uint32_t *count_r,
			const char **errstr_r)
{
	static const char sql[] = "SELECT f.recent_uid, (SELECT count(*) FROM mail m"
				  " WHERE m.folder_id = f.id AND m.uid >= f.recent_uid) FROM folders f WHERE f.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*first_r = (uint32_t)sqlite3_column_int64(st, 0);
		if (count_r != NULL)
			*count_r = (uint32_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return store_errf(s, errstr_r, "the folder no longer exists");
	return rc == SQLITE_ROW ? 0 : store_dberr(s, errstr_r, "database error");
}

static int take_recent_txn(struct store *s, int64_t folder_id, uint32_t upto, uint32_t *first_r,
			   const char **errstr_r)
{
	static const char sql[] = "UPDATE folders SET recent_uid = ?2 WHERE id = ?1 AND recent_uid < ?2";

	if (store_folder_recent(s, folder_id, first_r, NULL, errstr_r) < 0)
		return -1;
	if (*first_r >= upto)
		return 0;
	return store_run(s, sql, errstr_r, 2, folder_id, (int64_t)upto);
}

int store_folder_take_recent(struct store *s, int64_t folder_id, uint32_t upto, uint32_t *first_r,
			     const char **errstr_r)
{
	/* read and move in one transaction: two sessions never take the same message */
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (take_recent_txn(s, folder_id, upto, first_r, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

/* ---- the folder's keywords ---- */

int store_folder_keywords(struct store *s, int64_t folder_id, char out[STORE_KEYWORDS_MAX], const char **errstr_r)
{
	static const char sql[] = "SELECT DISTINCT keywords FROM mail INDEXED BY mail_view"
				  " WHERE folder_id = ? AND keywords <> ''";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	size_t len = 0;
	int rc;

	out[0] = '\0';
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0), *w;
		size_t n;
		while (p != NULL && (w = kw_next(&p, &n)) != NULL)
			(void)kw_add(out, &len, w, n); /* one that does not fit is left out */
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* ---- APPEND ---- */

struct new_mail {
	int64_t folder_id;
	int64_t uid;
	int64_t body_id;
	uint32_t flags;
	const char *keywords;
	int64_t internal_date;
	int64_t size;
	int64_t modseq;
};

static int mail_insert(struct store *s, const struct new_mail *m, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO mail (folder_id, uid, body_id, flags, keywords, internal_date, size, modseq)"
				  " VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->folder_id);
	sqlite3_bind_int64(st, 2, m->uid);
	sqlite3_bind_int64(st, 3, m->body_id);
	sqlite3_bind_int64(st, 4, m->flags & FLAGS_MASK);
	sqlite3_bind_text(st, 5, m->keywords, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, m->internal_date);
	sqlite3_bind_int64(st, 7, m->size);
	sqlite3_bind_int64(st, 8, m->modseq);
	return store_step_done(s, st, errstr_r);
}

/* Step 3 of the delivery argument: one message's rows, in the caller's transaction. */
static int append_rows(struct store *s, int64_t folder_id, const struct store_body_loc *loc, struct new_mail *m,
		       const struct plan_cfg *plans, const char **errstr_r)
{
	struct folder_row f;

	if (folder_row_get(s, folder_id, &f, errstr_r) < 0 || uids_available(s, &f, 1, errstr_r) < 0 ||
	    quota_check(s, f.address_id, loc->length, plans, errstr_r) < 0 ||
	    store_body_insert(s, loc, 1, &m->body_id, errstr_r) < 0)
		return -1;
	m->folder_id = folder_id;
	m->uid = f.uidnext;
	m->size = (int64_t)loc->length;
	m->modseq = f.highestmodseq + 1;
	if (mail_insert(s, m, errstr_r) < 0 || folder_advance(s, folder_id, m->uid + 1, m->modseq, errstr_r) < 0)
		return -1;
	return store_usage_add(s, f.address_id, 1, m->size, errstr_r);
}

/* Every message's rows in ONE transaction: all are stored or none (RFC 3502). */
static int append_commit(struct store *s, int64_t folder_id, struct store_append_msg *msgs,
			 const struct store_body_loc *locs, char (*kw)[STORE_KEYWORDS_MAX], size_t count,
			 const struct plan_cfg *plans, const char **errstr_r)
{
	if (store_begin(s, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		struct new_mail m = { .flags = msgs[i].flags, .keywords = kw[i],
				      .internal_date = msgs[i].internal_date };
		if (append_rows(s, folder_id, &locs[i], &m, plans, errstr_r) < 0) {
			store_rollback(s);
			return -1;
		}
		msgs[i].uid = (uint32_t)m.uid;
	}
	if (store_commit(s, errstr_r) < 0)
		return -1;
	store_note_folder_changed(s, folder_id);
	return 0;
}

/* The refusals that need no body on disk: bad keywords, no folder, no UIDs left, over quota (all messages). */
static int append_check(struct store *s, int64_t folder_id, const struct store_append_msg *msgs, size_t count,
			const struct plan_cfg *plans, char (*kw)[STORE_KEYWORDS_MAX], const char **errstr_r)
{
	struct folder_row f;
	uint64_t total = 0;

	for (size_t i = 0; i < count; i++) {
		if (kw_normalise(s, msgs[i].keywords, kw[i], errstr_r) < 0)
			return -1;
		total += spool_size(msgs[i].body);
	}
	if (folder_row_get(s, folder_id, &f, errstr_r) < 0 || uids_available(s, &f, count, errstr_r) < 0)
		return -1;
	return quota_check(s, f.address_id, total, plans, errstr_r);
}

int store_mail_append_many(struct store *s, int64_t folder_id, struct store_append_msg *msgs, size_t count,
			   const struct plan_cfg plans[CONFIG_PLAN_COUNT], const char **errstr_r)
{
	struct store_body_loc *locs = xcalloc(count + 1, sizeof(*locs));
	char (*kw)[STORE_KEYWORDS_MAX] = xmalloc((count + 1) * sizeof(*kw));
	size_t written = 0;

	/* the same path as a delivery batch: every body written and fdatasync'd, then one commit */
	int rc = append_check(s, folder_id, msgs, count, plans, kw, errstr_r);
	while (rc == 0 && written < count)
		if ((rc = store_body_write(s, msgs[written].body, &locs[written], errstr_r)) == 0)
			written++;
	if (rc == 0)
		rc = append_commit(s, folder_id, msgs, locs, kw, count, plans, errstr_r);
	for (size_t i = count; i-- > 0;) {
		if (rc < 0 && i < written)
			store_body_unwrite(s, msgs[i].body, &locs[i]);
		spool_free(msgs[i].body);
		msgs[i].body = NULL;
	}
	free(locs);
	free(kw);
	return rc;
}

int store_mail_append(struct store *s, int64_t folder_id, struct spool *body, uint32_t flags,
		      const char *keywords, int64_t internal_date, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
		      uint32_t *uid_r, const char **errstr_r)
{
	struct store_append_msg m = { .body = body, .flags = flags, .keywords = keywords,
				      .internal_date = internal_date };

	int rc = store_mail_append_many(s, folder_id, &m, 1, plans, errstr_r);
	if (rc == 0 && uid_r != NULL)
		*uid_r = m.uid;
	return rc;
}

/* ---- STORE ---- */

struct flag_req {
	int64_t folder_id;
	enum store_flag_op op;
	uint32_t flags;
	const char *keywords; /* normalised */
	uint64_t unchangedsince;
	int64_t modseq;       /* the one this transaction takes */
};

static uint32_t flags_apply(enum store_flag_op op, uint32_t cur, uint32_t flags)
{
	flags &= FLAGS_MASK;
	return op == STORE_FLAGS_SET ? flags : op == STORE_FLAGS_ADD ? (cur | flags) : (cur & ~flags);
}

/* 1 if the message changed, 0 if not (or missing / refused), -1. */
static int flag_one(struct store *s, const struct flag_req *r, struct store_flag_change *c, const char **errstr_r)
{
	static const char sql_get[] = "SELECT flags, keywords, modseq FROM mail WHERE folder_id = ? AND uid = ?";
	static const char sql_set[] = "UPDATE mail SET flags = ?, keywords = ?, modseq = ? WHERE folder_id = ? AND uid = ?";
	sqlite3_stmt *st = store_stmt(s, sql_get, errstr_r);
	char kw[STORE_KEYWORDS_MAX];
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, r->folder_id);
	sqlite3_bind_int64(st, 2, c->uid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c->flags = (uint32_t)sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, c->keywords, sizeof(c->keywords));
		c->modseq = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		c->missing = rc == SQLITE_DONE;
		return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
	}
	/* RFC 7162 3.1.3: changed since the client looked: refuse, report MODIFIED */
	if (r->unchangedsince != 0 && c->modseq > r->unchangedsince) {
		c->refused = true;
		return 0;
	}
	if (kw_apply(r->op, c->keywords, r->keywords, kw) < 0)
		return store_errf(s, errstr_r, "too many keywords on message %u (at most %d bytes)", c->uid,
				  STORE_KEYWORDS_MAX - 1);
	uint32_t flags = flags_apply(r->op, c->flags, r->flags);
	if (flags == c->flags && strcmp(kw, c->keywords) == 0)
		return 0;
	if ((st = store_stmt(s, sql_set, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, flags);
	sqlite3_bind_text(st, 2, kw, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->modseq);
	sqlite3_bind_int64(st, 4, r->folder_id);
	sqlite3_bind_int64(st, 5, c->uid);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	c->flags = flags;
	memcpy(c->keywords, kw, sizeof(kw));
	c->modseq = (uint64_t)r->modseq;
	c->changed = true;
	return 1;
}

static int set_flags_txn(struct store *s, struct flag_req *r, struct store_flag_change *changes, size_t count,
			 const char **errstr_r)
{
	struct folder_row f;
	bool any = false;
	int rc;

	if (folder_row_get(s, r->folder_id, &f, errstr_r) < 0)
		return -1;
	r->modseq = f.highestmodseq + 1;
	for (size_t i = 0; i < count; i++) {
		struct store_flag_change *c = &changes[i];

		c->changed = c->refused = c->missing = false;
		c->flags = 0;
		c->keywords[0] = '\0';
		c->modseq = 0;
		if ((rc = flag_one(s, r, c, errstr_r)) < 0)
			return -1;
		any |= rc > 0;
	}
	if (any) {
		if (folder_advance(s, r->folder_id, 0, r->modseq, errstr_r) < 0)
			return -1;
		store_note_folder_changed(s, r->folder_id);
	}
	return 0;
}

int store_mail_set_flags(struct store *s, int64_t folder_id, enum store_flag_op op, uint32_t flags,
			 const char *keywords, uint64_t unchangedsince, struct store_flag_change *changes,
			 size_t count, const char **errstr_r)
{
	char kw[STORE_KEYWORDS_MAX];
	struct flag_req r = { folder_id, op, flags, kw, unchangedsince, 0 };

	if (kw_normalise(s, keywords, kw, errstr_r) < 0 || store_begin(s, errstr_r) < 0)
		return -1;
	if (set_flags_txn(s, &r, changes, count, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

/* ---- EXPUNGE ---- */

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The UIDs to expunge, ascending and distinct: the given ones or every \Deleted one. */
static int expunge_targets(struct store *s, int64_t folder_id, const uint32_t *uids, size_t count,
			   uint32_t **out_r, size_t *n_r, const char **errstr_r)
{
	static const char sql[] = "SELECT uid FROM mail WHERE folder_id = ? AND (flags & 8) != 0 ORDER BY uid";
	sqlite3_stmt *st;
	uint32_t *out = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (uids != NULL) {
		out = xmalloc((count ? count : 1) * sizeof(*out));
		memcpy(out, uids, count * sizeof(*out));
		qsort(out, count, sizeof(*out), uid_cmp);
		for (size_t i = 0; i < count; i++) {
			if (n == 0 || out[n - 1] != out[i])
				out[n++] = out[i];
		}
		*out_r = out;
		*n_r = n;
		return 0;
	}
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap)
			out = xrealloc(out, (cap = cap ? cap * 2 : 64) * sizeof(*out));
		out[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	*out_r = out;
	*n_r = n;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* Removes one message, recording it in expunged: 1, 0 (no such UID), -1. */
static int mail_remove(struct store *s, int64_t folder_id, uint32_t uid, int64_t modseq, int64_t *body_r,
		       int64_t *size_r, const char **errstr_r)
{
	static const char sql_del[] = "DELETE FROM mail WHERE folder_id = ? AND uid = ? RETURNING body_id, size";
	static const char sql_exp[] = "INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES (?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql_del, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*body_r = sqlite3_column_int64(st, 0);
		*size_r = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
	if (store_run(s, sql_exp, errstr_r, 3, folder_id, (int64_t)uid, modseq) < 0)
		return -1;
	return 1;
}

struct expunge_state {
	uint32_t *uids; /* in: the targets; out: the first n removed */
	size_t n;
	struct store_ids dead;
};

static int expunge_txn(struct store *s, int64_t folder_id, const uint32_t *uids, size_t count,
		       struct expunge_state *x, const char **errstr_r)
{
	struct store_ids bodies = { 0 };
	struct folder_row f;
	size_t targets = 0;
	int64_t body = 0, size = 0, bytes = 0;
	int rc = 0;

	if (folder_row_get(s, folder_id, &f, errstr_r) < 0 ||
	    expunge_targets(s, folder_id, uids, count, &x->uids, &targets, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < targets && rc >= 0; i++) {
		if ((rc = mail_remove(s, folder_id, x->uids[i], f.highestmodseq + 1, &body, &size, errstr_r)) > 0) {
			x->uids[x->n++] = x->uids[i];
			store_ids_push(&bodies, body);
			bytes += size;
		}
	}
	if (rc >= 0 && x->n > 0) {
		rc = folder_advance(s, folder_id, 0, f.highestmodseq + 1, errstr_r);
		if (rc == 0)
			rc = store_bodies_release(s, bodies.v, bodies.n, &x->dead, errstr_r);
		if (rc == 0)
			rc = store_usage_add(s, f.address_id, -(int64_t)x->n, -bytes, errstr_r);
		store_note_folder_changed(s, folder_id);
	}
	free(bodies.v);
	return rc < 0 ? -1 : 0;
}

int store_mail_expunge(struct store *s, int64_t folder_id, const uint32_t *uids, size_t count,
		       void (*cb)(uint32_t uid, void *arg), void *arg, const char **errstr_r)
{
	struct expunge_state x = { 0 };
	int rc = store_begin(s, errstr_r);

	if (rc == 0 && (rc = expunge_txn(s, folder_id, uids, count, &x, errstr_r)) < 0)
		store_rollback(s);
	else if (rc == 0)
		rc = store_commit(s, errstr_r);
	if (rc == 0) {
		/* after the commit: a crash before the unlink only leaks the file */
		store_segments_unlink(s, x.dead.v, x.dead.n);
		for (size_t i = 0; cb != NULL && i < x.n; i++)
			cb(x.uids[i], arg);
	}
	free(x.uids);
	free(x.dead.v);
	return rc;
}

/* ---- COPY and MOVE ---- */

struct copy_src {
	size_t index;      /* into uids[] */
	uint32_t uid;
	int64_t body_id;
	uint32_t flags;
	char *keywords;
	int64_t internal_date;
	int64_t size;
};

struct copy_job {
	struct folder_row src, dest;
	bool move;
	struct copy_src *v;
	size_t n;
	int64_t bytes;
};

static int copy_collect(struct store *s, struct copy_job *j, const uint32_t *uids, size_t count,
			const char **errstr_r)
{
	static const char sql[] = "SELECT body_id, flags, keywords, internal_date, size FROM mail"
				  " WHERE folder_id = ? AND uid = ?";
	sqlite3_stmt *st;
	int rc;

	j->v = xcalloc(count ? count : 1, sizeof(*j->v));
	for (size_t i = 0; i < count; i++) {
		if ((st = store_stmt(s, sql, errstr_r)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, j->src.id);
		sqlite3_bind_int64(st, 2, uids[i]);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct copy_src *c = &j->v[j->n++];

			c->index = i;
			c->uid = uids[i];
			c->body_id = sqlite3_column_int64(st, 0);
			c->flags = (uint32_t)sqlite3_column_int64(st, 1);
			c->keywords = xstrdup((const char *)sqlite3_column_text(st, 2));
			c->internal_date = sqlite3_column_int64(st, 3);
			c->size = sqlite3_column_int64(st, 4);
			j->bytes += c->size;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_dberr(s, errstr_r, "database error");
	}
	return 0;
}

/* The new rows in the destination, UIDs ascending in the order of uids[]. */
static int copy_insert(struct store *s, struct copy_job *j, uint32_t *dest_uids_r, const char **errstr_r)
{
	static const char sql_ref[] = "UPDATE bodies SET refcount = refcount + 1 WHERE id = ?";
	struct new_mail m;

	for (size_t i = 0; i < j->n; i++) {
		const struct copy_src *c = &j->v[i];

		m = (struct new_mail){ j->dest.id, j->dest.uidnext + (int64_t)i, c->body_id, c->flags, c->keywords,
				       c->internal_date, c->size, j->dest.highestmodseq + 1 };
		if (mail_insert(s, &m, errstr_r) < 0)
			return -1;
		/* a MOVE hands its reference over; a COPY adds one */
		if (!j->move && store_run(s, sql_ref, errstr_r, 1, c->body_id) < 0)
			return -1;
		dest_uids_r[c->index] = (uint32_t)m.uid;
	}
	return folder_advance(s, j->dest.id, j->dest.uidnext + (int64_t)j->n, j->dest.highestmodseq + 1, errstr_r);
}

/* RFC 6851: the sources go in the same transaction (no window with both). */
static int move_remove(struct store *s, struct copy_job *j, const char **errstr_r)
{
	/* one folder, one transaction, one new mod-sequence */
	int64_t modseq = j->src.id == j->dest.id ? j->dest.highestmodseq + 1 : j->src.highestmodseq + 1;
	int64_t body, size;

	for (size_t i = 0; i < j->n; i++) {
		if (mail_remove(s, j->src.id, j->v[i].uid, modseq, &body, &size, errstr_r) < 0)
			return -1;
	}
	return folder_advance(s, j->src.id, 0, modseq, errstr_r);
}

static int copy_txn(struct store *s, struct copy_job *j, const uint32_t *uids, size_t count,
		    const struct plan_cfg *plans, uint32_t *dest_uids_r, const char **errstr_r)
{
	bool same_address = j->src.address_id == j->dest.address_id;

	if (copy_collect(s, j, uids, count, errstr_r) < 0)
		return -1;
	if (j->n == 0)
		return 0; /* all gone meanwhile: nothing to do, no mod-sequence taken */
	if (uids_available(s, &j->dest, j->n, errstr_r) < 0)
		return -1;
	if ((!j->move || !same_address) && quota_check(s, j->dest.address_id, (uint64_t)j->bytes, plans, errstr_r) < 0)
		return -1;
	if (copy_insert(s, j, dest_uids_r, errstr_r) < 0 || (j->move && move_remove(s, j, errstr_r) < 0))
		return -1;
	if (!j->move || !same_address) {
		if (store_usage_add(s, j->dest.address_id, (int64_t)j->n, j->bytes, errstr_r) < 0 ||
		    (j->move && store_usage_add(s, j->src.address_id, -(int64_t)j->n, -j->bytes, errstr_r) < 0))
			return -1;
	}
	store_note_folder_changed(s, j->dest.id);
	if (j->move)
		store_note_folder_changed(s, j->src.id);
	return 0;
}

int store_mail_copy(struct store *s, int64_t folder_id, const uint32_t *uids, size_t count,
		    int64_t dest_folder_id, bool move, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
		    uint32_t *dest_uids_r, uint32_t *dest_uidvalidity_r, const char **errstr_r)
{
	struct copy_job j = { .move = move };
	int rc;

	for (size_t i = 0; i < count; i++)
		dest_uids_r[i] = 0;
	if (store_begin(s, errstr_r) < 0)
		return -1;
	rc = folder_row_get(s, folder_id, &j.src, errstr_r);
	if (rc == 0 && (rc = folder_row_get(s, dest_folder_id, &j.dest, errstr_r)) < 0)
		store_errf(s, errstr_r, "the destination folder does not exist");
	if (rc == 0)
		rc = copy_txn(s, &j, uids, count, plans, dest_uids_r, errstr_r);
	if (rc == 0)
		rc = store_commit(s, errstr_r);
	else
		store_rollback(s);
	if (rc < 0) {
		for (size_t i = 0; i < count; i++)
			dest_uids_r[i] = 0;
	} else if (dest_uidvalidity_r != NULL) {
		*dest_uidvalidity_r = j.dest.uidvalidity;
	}
	for (size_t i = 0; i < j.n; i++)
		free(j.v[i].keywords);
	free(j.v);
	return rc;
}
