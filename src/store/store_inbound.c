/*
 * store_inbound: auto-reply settings and log, alias targets and their
 * confirmation, installation secrets (see store_inbound.h).
 */
#include "store/store_inbound.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "lib/xalloc.h"
#include "store/store_private.h"

/* ---- secrets ---- */

static int secret_read(struct store *s, const char *name, unsigned char *value, size_t len, const char **errstr_r)
{
	static const char sql[] = "SELECT value FROM secrets WHERE name = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) != len) {
		sqlite3_reset(st);
		return store_errf(s, errstr_r, "the secret %s in the database has the wrong length", name);
	}
	if (rc == SQLITE_ROW)
		memcpy(value, sqlite3_column_blob(st, 0), len);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

static int secret_insert(struct store *s, const char *name, const unsigned char *value, size_t len,
			 const char **errstr_r)
{
	static const char sql[] = "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, value, (int)len, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}

int store_inbound_secret(struct store *s, const char *name, unsigned char *value, size_t len, bool create,
			 const char **errstr_r)
{
	unsigned char fresh[64];
	int64_t level = 2; /* FULL */
	int rc = secret_read(s, name, value, len, errstr_r);

	if (rc != 0 || !create)
		return rc;
	if (len > sizeof(fresh))
		return store_errf(s, errstr_r, "a secret of %zu bytes is longer than we make", len);
	randombytes_buf(fresh, len);
	/*
	 * Reader connections commit with synchronous=NORMAL; a key lost in a
	 * crash would invalidate what was signed with it, so this one commit
	 * waits for the disk whichever connection makes it.
	 */
	if (store_run_id(s, "PRAGMA synchronous", &level, errstr_r, 0) < 0 ||
	    store_exec(s, "PRAGMA synchronous=FULL", errstr_r) < 0)
		return -1;
	rc = secret_insert(s, name, fresh, len, errstr_r);
	sodium_memzero(fresh, sizeof(fresh));
	if (level < 2 && store_exec(s, "PRAGMA synchronous=NORMAL", errstr_r) < 0)
		return -1;
	if (rc < 0)
		return -1;
	return secret_read(s, name, value, len, errstr_r);
}

/* ---- auto-reply ---- */

int store_inbound_autoreply_get(struct store *s, int64_t address_id, struct store_autoreply *ar_r,
				const char **errstr_r)
{
	static const char sql[] = "SELECT enabled, subject, body, coalesce(starts_at, 0), coalesce(ends_at, 0),"
				  " period_s FROM autoreply WHERE address_id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	memset(ar_r, 0, sizeof(*ar_r));
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ar_r->enabled = sqlite3_column_int(st, 0) != 0;
		store_col_copy(st, 1, ar_r->subject, sizeof(ar_r->subject));
		store_col_copy(st, 2, ar_r->body, sizeof(ar_r->body));
		ar_r->starts_at = sqlite3_column_int64(st, 3);
		ar_r->ends_at = sqlite3_column_int64(st, 4);
		ar_r->period_s = sqlite3_column_int64(st, 5);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_inbound_autoreply_set(struct store *s, int64_t address_id, const struct store_autoreply *ar,
				const char **errstr_r)
{
	static const char sql[] =
		"INSERT INTO autoreply (address_id, enabled, subject, body, starts_at, ends_at, period_s)"
		" VALUES (?1, ?2, ?3, ?4, nullif(?5, 0), nullif(?6, 0), ?7) ON CONFLICT (address_id) DO UPDATE SET"
		" enabled = excluded.enabled, subject = excluded.subject, body = excluded.body,"
		" starts_at = excluded.starts_at, ends_at = excluded.ends_at, period_s = excluded.period_s";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_int(st, 2, ar->enabled ? 1 : 0);
	sqlite3_bind_text(st, 3, ar->subject, (int)strnlen(ar->subject, sizeof(ar->subject)), SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ar->body, (int)strnlen(ar->body, sizeof(ar->body)), SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, ar->starts_at);
	sqlite3_bind_int64(st, 6, ar->ends_at);
	sqlite3_bind_int64(st, 7, ar->period_s);
	return store_step_done(s, st, errstr_r);
}

int store_inbound_autoreply_window(struct store *s, int64_t address_id, bool *enabled_r, int64_t *starts_r,
				   int64_t *ends_r, const char **errstr_r)
{
	static const char sql[] = "SELECT enabled, coalesce(starts_at, 0), coalesce(ends_at, 0) FROM autoreply"
				  " WHERE address_id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	*enabled_r = false;
	*starts_r = *ends_r = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*enabled_r = sqlite3_column_int(st, 0) != 0;
		*starts_r = sqlite3_column_int64(st, 1);
		*ends_r = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_inbound_autoreply_last(struct store *s, int64_t address_id, const char *sender, int64_t *at_r,
				 const char **errstr_r)
{
	static const char sql[] = "SELECT replied_at FROM autoreply_log WHERE address_id = ? AND sender = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	*at_r = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	return store_step_id(s, st, at_r, errstr_r);
}

int store_inbound_autoreply_log(struct store *s, int64_t address_id, const char *sender, int64_t at,
				const char **errstr_r)
{
	static const char sql[] = "INSERT INTO autoreply_log (address_id, sender, replied_at) VALUES (?, ?, ?)"
				  " ON CONFLICT (address_id, sender) DO UPDATE SET replied_at = excluded.replied_at";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, at);
	return store_step_done(s, st, errstr_r);
}

/* ---- alias targets ---- */

int store_inbound_targets(struct store *s, int64_t alias_id,
			  void (*cb)(const struct store_alias_target *t, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT target, confirmed, token_hash IS NOT NULL, created_at FROM alias_targets"
				  " WHERE address_id = ? ORDER BY rowid";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_alias_target t;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, alias_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_col_copy(st, 0, t.target, sizeof(t.target));
		t.confirmed = sqlite3_column_int(st, 1) != 0;
		t.has_token = sqlite3_column_int(st, 2) != 0;
		t.created_at = sqlite3_column_int64(st, 3);
		cb(&t, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

static int target_upsert(struct store *s, int64_t alias_id, const struct store_alias_target_new *t, int64_t now,
			 const char **errstr_r)
{
	/*
	 * A target that stays keeps its place (rowid). One given a new token
	 * (a link sent again) takes now as created_at: for a target awaiting
	 * confirmation, created_at is when its outstanding link was issued,
	 * which is what the link's 30 days count from.
	 */
	static const char sql[] =
		"INSERT INTO alias_targets (address_id, target, confirmed, token_hash, created_at) VALUES (?, ?, ?, ?, ?)"
		" ON CONFLICT (address_id, target) DO UPDATE SET confirmed = excluded.confirmed,"
		" token_hash = excluded.token_hash, created_at = excluded.created_at";
	static const char sql_keep[] =
		"INSERT OR IGNORE INTO alias_targets (address_id, target, confirmed, token_hash, created_at)"
		" VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, t->keep ? sql_keep : sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, alias_id);
	sqlite3_bind_text(st, 2, t->target, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, t->confirmed ? 1 : 0);
	if (t->token_hash != NULL)
		sqlite3_bind_blob(st, 4, t->token_hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, now);
	return store_step_done(s, st, errstr_r);
}

/* The current targets' names (the caller frees each and the array). */
struct target_names {
	char **v;
	size_t n, cap;
};

static void collect_name(const struct store_alias_target *t, void *arg)
{
	struct target_names *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(t->target);
}

static bool in_new_list(const char *target, const struct store_alias_target_new *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(target, t[i].target) == 0)
			return true;
	return false;
}

static int targets_replace(struct store *s, int64_t alias_id, const struct store_alias_target_new *t, size_t n,
			   int64_t now, const char **errstr_r)
{
	static const char sql_del[] = "DELETE FROM alias_targets WHERE address_id = ? AND target = ?";
	struct target_names old = { 0 };
	sqlite3_stmt *st;
	int rc = store_inbound_targets(s, alias_id, collect_name, &old, errstr_r);

	for (size_t i = 0; rc == 0 && i < old.n; i++) {
		if (in_new_list(old.v[i], t, n))
			continue;
		if ((st = store_stmt(s, sql_del, errstr_r)) == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, alias_id);
		sqlite3_bind_text(st, 2, old.v[i], -1, SQLITE_STATIC);
		rc = store_step_done(s, st, errstr_r);
	}
	for (size_t i = 0; i < old.n; i++)
		free(old.v[i]);
	free(old.v);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = target_upsert(s, alias_id, &t[i], now, errstr_r);
	return rc;
}

int store_inbound_targets_set(struct store *s, int64_t alias_id, const struct store_alias_target_new *t, size_t n,
			      int64_t now, const char **errstr_r)
{
	if (n > STORE_ALIAS_TARGETS_MAX)
		return store_errf(s, errstr_r, "an alias has at most %d targets", STORE_ALIAS_TARGETS_MAX);
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (targets_replace(s, alias_id, t, n, now, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

int store_inbound_target_confirm(struct store *s, const unsigned char token_hash[STORE_TOKEN_HASH_BYTES],
				 int64_t issued_since, int64_t *alias_id_r, char *target_r, size_t target_size,
				 bool *expired_r, const char **errstr_r)
{
	static const char sql_find[] = "SELECT address_id, target, created_at FROM alias_targets WHERE token_hash = ?";
	static const char sql_set[] = "UPDATE alias_targets SET confirmed = 1, token_hash = NULL"
				      " WHERE address_id = ? AND target = ?";
	sqlite3_stmt *st = store_stmt(s, sql_find, errstr_r);
	int64_t issued_at = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*alias_id_r = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, target_r, target_size);
		issued_at = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
	/* an expired token is left as it is: only a new link (targets set again) replaces it */
	*expired_r = issued_at < issued_since;
	if (*expired_r)
		return 1;
	if ((st = store_stmt(s, sql_set, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, *alias_id_r);
	sqlite3_bind_text(st, 2, target_r, -1, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r) < 0 ? -1 : 1;
}

int store_inbound_address_name(struct store *s, int64_t address_id, char *out, size_t size, const char **errstr_r)
{
	static const char sql[] = "SELECT a.local || '@' || d.name FROM addresses a JOIN domains d ON d.id = a.domain_id"
				  " WHERE a.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_col_copy(st, 0, out, size);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}
