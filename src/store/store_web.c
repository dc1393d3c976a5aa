/*
 * store_web: web sessions and API tokens (see store_web.h).
 */
#include <string.h>

#include "store/store_private.h"
#include "store/store_web.h"

/* A token's last use is written at most this often: a read must not become a write each time. */
#define STORE_WEB_TOUCH_S 60

int store_web_session_add(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t account_id,
			  const char *csrf, int64_t now, int64_t expires_at, const char *ip, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO web_sessions (token_hash, account_id, csrf_token, created_at,"
				  " expires_at, last_seen, ip) VALUES (?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, STORE_WEB_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_text(st, 3, csrf, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, expires_at);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_text(st, 7, ip != NULL ? ip : "", -1, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}

/* Reads (id, account_id, login, csrf) from the current row. */
static void cred_row(sqlite3_stmt *st, struct store_web_cred *cred)
{
	memset(cred, 0, sizeof(*cred));
	cred->id = sqlite3_column_int64(st, 0);
	cred->account_id = sqlite3_column_int64(st, 1);
	store_col_copy(st, 2, cred->login, sizeof(cred->login));
	store_col_copy(st, 3, cred->csrf, sizeof(cred->csrf));
}

int store_web_session_get(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t now,
			  struct store_web_cred *cred_r, const char **errstr_r)
{
	static const char sql[] = "SELECT w.id, w.account_id, a.login, w.csrf_token FROM web_sessions w"
				  " JOIN accounts a ON a.id = w.account_id WHERE w.token_hash = ? AND w.expires_at > ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, STORE_WEB_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cred_row(st, cred_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read a web session");
}

int store_web_session_remove(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES],
			     const char **errstr_r)
{
	static const char sql[] = "DELETE FROM web_sessions WHERE token_hash = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, STORE_WEB_HASH_BYTES, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}

int store_web_sessions_end(struct store *s, int64_t account_id, int64_t keep_id, const char **errstr_r)
{
	return store_run(s, "DELETE FROM web_sessions WHERE account_id = ?1 AND id != ?2", errstr_r, 2, account_id,
			 keep_id);
}

int store_web_sessions_expire(struct store *s, int64_t now, const char **errstr_r)
{
	return store_run(s, "DELETE FROM web_sessions WHERE expires_at <= ?1", errstr_r, 1, now);
}

int store_api_token_add(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t account_id,
			const char *name, bool read_only, int64_t now, int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO api_tokens (token_hash, account_id, name, scope, created_at)"
				  " VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, STORE_WEB_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, read_only ? "read" : "write", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Records the token's use, at most once a minute (best effort: a busy database skips it). */
static void token_touch(struct store *s, int64_t id, int64_t now)
{
	const char *errstr = NULL;

	(void)store_run(s, "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1"
			   " AND (last_used_at IS NULL OR last_used_at < ?3)",
			&errstr, 3, id, now, now - STORE_WEB_TOUCH_S);
}

int store_api_token_get(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t now,
			struct store_web_cred *cred_r, const char **errstr_r)
{
	static const char sql[] = "SELECT t.id, t.account_id, a.login, '', t.scope FROM api_tokens t"
				  " JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = ?"
				  " AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, STORE_WEB_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cred_row(st, cred_r);
		const char *scope = (const char *)sqlite3_column_text(st, 4);
		cred_r->read_only = scope == NULL || strcmp(scope, "write") != 0;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		token_touch(s, cred_r->id, now);
		return 1;
	}
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read an API token");
}

int store_api_token_list(struct store *s, int64_t account_id,
			 void (*cb)(const struct store_api_token *t, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT id, name, scope, created_at, last_used_at FROM api_tokens"
				  " WHERE account_id = ? AND revoked_at IS NULL ORDER BY id";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_api_token t;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *scope = (const char *)sqlite3_column_text(st, 2);
		memset(&t, 0, sizeof(t));
		t.id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, t.name, sizeof(t.name));
		t.read_only = scope == NULL || strcmp(scope, "write") != 0;
		t.created_at = sqlite3_column_int64(st, 3);
		t.last_used_at = sqlite3_column_int64(st, 4);
		cb(&t, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot list API tokens");
}

int store_api_token_revoke(struct store *s, int64_t account_id, int64_t id, int64_t now, const char **errstr_r)
{
	if (store_run(s, "UPDATE api_tokens SET revoked_at = ?3 WHERE id = ?1 AND account_id = ?2"
			 " AND revoked_at IS NULL",
		      errstr_r, 3, id, account_id, now) < 0)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
}
