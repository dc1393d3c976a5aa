/*
 * store_devices: app passwords (see store_devices.h).
 */
#include <string.h>

#include <sodium.h>

#include "store/store_devices.h"
#include "store/store_private.h"

static const char app_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
#define APP_ALPHABET_LEN (sizeof(app_alphabet) - 1)

static void digest_of(const char norm[STORE_APP_PASSWORD_CHARS], char hash_r[STORE_APP_PASSWORD_HASH_MAX])
{
	unsigned char sum[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(sum, (const unsigned char *)norm, STORE_APP_PASSWORD_CHARS);
	memcpy(hash_r, "sha256$", 7);
	sodium_bin2hex(hash_r + 7, STORE_APP_PASSWORD_HASH_MAX - 7, sum, sizeof(sum));
}

void store_app_password_generate(char text_r[STORE_APP_PASSWORD_TEXT_MAX], char hash_r[STORE_APP_PASSWORD_HASH_MAX])
{
	char norm[STORE_APP_PASSWORD_CHARS];
	size_t n = 0;

	for (size_t i = 0; i < STORE_APP_PASSWORD_CHARS; i++) {
		/* randombytes_uniform: no modulo bias */
		norm[i] = app_alphabet[randombytes_uniform(APP_ALPHABET_LEN)];
		if (i > 0 && i % 4 == 0)
			text_r[n++] = '-';
		text_r[n++] = norm[i];
	}
	text_r[n] = '\0';
	digest_of(norm, hash_r);
	sodium_memzero(norm, sizeof(norm));
}

int store_app_password_digest(const char *typed, char hash_r[STORE_APP_PASSWORD_HASH_MAX])
{
	char norm[STORE_APP_PASSWORD_CHARS];
	size_t n = 0;
	int rc = 0;

	for (const char *p = typed; *p != '\0' && rc == 0; p++) {
		char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
		if (c == '-' || c == ' ')
			continue;
		if (n == STORE_APP_PASSWORD_CHARS || memchr(app_alphabet, c, APP_ALPHABET_LEN) == NULL)
			rc = -1;
		else
			norm[n++] = c;
	}
	if (rc == 0 && n == STORE_APP_PASSWORD_CHARS)
		digest_of(norm, hash_r);
	sodium_memzero(norm, sizeof(norm));
	return rc == 0 && n == STORE_APP_PASSWORD_CHARS ? 0 : -1;
}

int store_app_password_count(struct store *s, int64_t address_id, int64_t *n_r, const char **errstr_r)
{
	int rc = store_run_id(s, "SELECT count(*) FROM app_passwords WHERE address_id = ?1", n_r, errstr_r, 1,
			      address_id);

	return rc < 0 ? -1 : 0;
}

int store_app_password_add(struct store *s, int64_t address_id, const char *name, const char *hash, int64_t now,
			   const char **errstr_r)
{
	static const char sql[] = "INSERT INTO app_passwords (address_id, name, password_hash, created_at)"
				  " VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	return store_step_done(s, st, errstr_r);
}

/* Reads (id, name, created_at, last_used_at). */
static void pw_row(sqlite3_stmt *st, struct store_app_password *pw)
{
	memset(pw, 0, sizeof(*pw));
	pw->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, pw->name, sizeof(pw->name));
	pw->created_at = sqlite3_column_int64(st, 2);
	pw->last_used_at = sqlite3_column_int64(st, 3); /* NULL reads as 0 */
}

/* Steps a prepared one-row lookup: 1 (pw_r set when not NULL), 0, -1. */
static int pw_lookup(struct store *s, sqlite3_stmt *st, struct store_app_password *pw_r, const char **errstr_r)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW && pw_r != NULL)
		pw_row(st, pw_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read an app password");
}

int store_app_password_get(struct store *s, int64_t address_id, const char *name, struct store_app_password *pw_r,
			   const char **errstr_r)
{
	static const char sql[] = "SELECT id, name, created_at, last_used_at FROM app_passwords"
				  " WHERE address_id = ? AND name = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return pw_lookup(s, st, pw_r, errstr_r);
}

int store_app_password_find(struct store *s, int64_t address_id, const char *hash, struct store_app_password *pw_r,
			    const char **errstr_r)
{
	static const char sql[] = "SELECT id, name, created_at, last_used_at FROM app_passwords"
				  " WHERE address_id = ? AND password_hash = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	return pw_lookup(s, st, pw_r, errstr_r);
}

int store_app_password_list(struct store *s, int64_t address_id,
			    void (*cb)(const struct store_app_password *pw, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT id, name, created_at, last_used_at FROM app_passwords"
				  " WHERE address_id = ? ORDER BY name";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_app_password pw;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		pw_row(st, &pw);
		cb(&pw, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot list app passwords");
}

int store_app_password_revoke(struct store *s, int64_t address_id, const char *name, const char **errstr_r)
{
	static const char sql[] = "DELETE FROM app_passwords WHERE address_id = ? AND name = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

int store_app_password_touch(struct store *s, int64_t id, int64_t now, const char **errstr_r)
{
	return store_run(s, "UPDATE app_passwords SET last_used_at = ?2 WHERE id = ?1", errstr_r, 2, id, now);
}
