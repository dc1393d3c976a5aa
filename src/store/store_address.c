/*
 * store_address: addresses of every kind, alias targets, access and folders.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"
#include "store/store_manage.h"
#include "store/store_private.h"

static const char *const kind_names[] = { "mailbox", "catchall", "noreply", "alias" };

/* The folders every address starts with (RFC 6154 SPECIAL-USE). */
static const struct {
	const char *name;
	const char *special_use;
} default_folders[] = {
	{ "INBOX", "" },  { "Sent", "\\Sent" }, { "Drafts", "\\Drafts" },
	{ "Trash", "\\Trash" }, { "Junk", "\\Junk" }, { "Archive", "\\Archive" },
};

static enum address_kind kind_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (name != NULL && strcmp(name, kind_names[i]) == 0)
			return (enum address_kind)i;
	}
	return ADDRESS_MAILBOX;
}

int store_address_find(struct store *s, const char *local, const char *domain, int64_t *id_r,
		       const char **errstr_r)
{
	static const char sql[] = "SELECT a.id FROM addresses a JOIN domains d ON d.id = a.domain_id"
				  " WHERE d.name = ? AND a.local = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, local, -1, SQLITE_STATIC);
	return store_step_id(s, st, id_r, errstr_r);
}

/* 1 with *id_r, else -1 with "address a@b does not exist". */
static int address_need(struct store *s, const char *local, const char *domain, int64_t *id_r,
			const char **errstr_r)
{
	int rc = store_address_find(s, local, domain, id_r, errstr_r);

	if (rc == 0)
		return store_errf(s, errstr_r, "address %s@%s does not exist", local, domain);
	return rc;
}

/*
 * UIDVALIDITY must change whenever a folder name is reused with new UIDs
 * (RFC 3501 2.3.1.1). A value above every one handed out so far (remembered
 * in uidvalidity_last, since the folder that had it may be deleted by now),
 * and at least the current time, is never reused even if the clock steps back.
 * Called inside the caller's transaction.
 */
int store_next_uidvalidity(struct store *s, uint32_t *v_r, const char **errstr_r)
{
	static const char sql[] = "SELECT max(coalesce((SELECT max(uidvalidity) FROM folders), 0),"
				  " coalesce((SELECT max(value) FROM uidvalidity_last), 0)) + 1";
	static const char sql_set[] = "UPDATE uidvalidity_last SET value = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int64_t next = 0, now = (int64_t)time(NULL);

	if (st == NULL || store_step_id(s, st, &next, errstr_r) < 0)
		return -1;
	if (next < now)
		next = now;
	if (next > UINT32_MAX)
		return store_errf(s, errstr_r, "UIDVALIDITY values are exhausted");
	if ((st = store_stmt(s, sql_set, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, next);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*v_r = (uint32_t)next;
	return 0;
}

static int folders_create(struct store *s, int64_t address_id, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO folders (address_id, name, special_use, uidvalidity) VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st;
	uint32_t uidvalidity = 0;

	if (store_next_uidvalidity(s, &uidvalidity, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(default_folders) / sizeof(default_folders[0]); i++) {
		if ((st = store_stmt(s, sql, errstr_r)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, address_id);
		sqlite3_bind_text(st, 2, default_folders[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, default_folders[i].special_use, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, uidvalidity);
		if (store_step_done(s, st, errstr_r) < 0)
			return -1;
	}
	return 0;
}


static int address_insert(struct store *s, const char *local, const char *domain, enum address_kind kind,
			  const char *password_hash, int64_t *id_r, const char **errstr_r)
{
	static const char sql_dom[] = "SELECT id FROM domains WHERE name = ?";
	static const char sql[] = "INSERT INTO addresses (domain_id, local, kind, password_hash, created_at)"
				  " VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql_dom, errstr_r);
	char other[65];
	int64_t domain_id;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	if ((rc = store_step_id(s, st, &domain_id, errstr_r)) <= 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "domain %s is not hosted here; add it first", domain);
	if ((rc = store_address_find(s, local, domain, NULL, errstr_r)) != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "address %s@%s already exists", local, domain);
	if (kind == ADDRESS_CATCHALL && (rc = store_manage_catchall(s, domain_id, other, sizeof(other), errstr_r)) != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "domain %s already has a catchall address (%s@%s)",
						domain, other, domain);
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, domain_id);
	sqlite3_bind_text(st, 2, local, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind_names[kind], -1, SQLITE_STATIC);
	if (password_hash != NULL)
		sqlite3_bind_text(st, 4, password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return folders_create(s, *id_r, errstr_r);
}

int store_address_add(struct store *s, const char *local, const char *domain, enum address_kind kind,
		      const char *password_hash, int64_t *id_r, const char **errstr_r)
{
	int64_t id = 0;

	if ((unsigned)kind > ADDRESS_ALIAS)
		return store_errf(s, errstr_r, "unknown address kind %d", (int)kind);
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (address_insert(s, local, domain, kind, password_hash, &id, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	if (store_commit(s, errstr_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = id;
	return 0;
}

#define ADDRESS_COLUMNS                                                                                 \
	"SELECT a.id, a.local, d.name, a.domain_id, a.kind, a.password_hash IS NOT NULL, a.quota_bytes, " \
	"a.used_bytes, a.message_count, a.created_at FROM addresses a JOIN domains d ON d.id = a.domain_id "

static void address_row(sqlite3_stmt *st, struct store_address *a)
{
	a->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, a->local, sizeof(a->local));
	store_col_copy(st, 2, a->domain, sizeof(a->domain));
	a->domain_id = sqlite3_column_int64(st, 3);
	a->kind = kind_parse((const char *)sqlite3_column_text(st, 4));
	a->has_password = sqlite3_column_int(st, 5) != 0;
	a->quota_bytes = sqlite3_column_int64(st, 6);
	a->used_bytes = sqlite3_column_int64(st, 7);
	a->message_count = sqlite3_column_int64(st, 8);
	a->created_at = sqlite3_column_int64(st, 9);
}

int store_address_get(struct store *s, const char *local, const char *domain, struct store_address *addr_r,
		      const char **errstr_r)
{
	static const char sql[] = ADDRESS_COLUMNS "WHERE d.name = ? AND a.local = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, local, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		address_row(st, addr_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_address_list(struct store *s, const char *domain,
		       void (*cb)(const struct store_address *addr, void *arg), void *arg, const char **errstr_r)
{
	static const char sql_all[] = ADDRESS_COLUMNS "ORDER BY d.name, a.local";
	static const char sql_dom[] = ADDRESS_COLUMNS "WHERE d.name = ? ORDER BY a.local";
	sqlite3_stmt *st = store_stmt(s, domain != NULL ? sql_dom : sql_all, errstr_r);
	struct store_address a;
	int rc;

	if (st == NULL)
		return -1;
	if (domain != NULL)
		sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		address_row(st, &a);
		cb(&a, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_address_password_hash(struct store *s, const char *local, const char *domain, char *hash_r,
				size_t hash_size, const char **errstr_r)
{
	static const char sql[] = "SELECT a.password_hash FROM addresses a JOIN domains d ON d.id = a.domain_id"
				  " WHERE d.name = ? AND a.local = ? AND a.password_hash IS NOT NULL";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, local, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_col_copy(st, 0, hash_r, hash_size);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_address_set_password(struct store *s, const char *local, const char *domain,
			       const char *password_hash, const char **errstr_r)
{
	static const char sql[] = "UPDATE addresses SET password_hash = ? WHERE id = ?";
	sqlite3_stmt *st;
	int64_t id = 0;

	if (address_need(s, local, domain, &id, errstr_r) < 0 || (st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	if (password_hash != NULL)
		sqlite3_bind_text(st, 1, password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	return store_step_done(s, st, errstr_r);
}

int store_address_set_quota(struct store *s, const char *local, const char *domain, int64_t quota_bytes,
			    const char **errstr_r)
{
	static const char sql[] = "UPDATE addresses SET quota_bytes = ? WHERE id = ?";
	sqlite3_stmt *st;
	int64_t id = 0;

	if (quota_bytes < 0)
		return store_errf(s, errstr_r, "a quota cannot be negative");
	if (address_need(s, local, domain, &id, errstr_r) < 0 || (st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, quota_bytes);
	sqlite3_bind_int64(st, 2, id);
	return store_step_done(s, st, errstr_r);
}

int store_alias_add_target(struct store *s, const char *local, const char *domain, const char *target,
			   const char **errstr_r)
{
	static const char sql_kind[] = "SELECT kind = 'alias' FROM addresses WHERE id = ?";
	static const char sql[] = "INSERT OR IGNORE INTO alias_targets (address_id, target) VALUES (?, ?)";
	sqlite3_stmt *st;
	int64_t id, is_alias = 0;

	if (address_need(s, local, domain, &id, errstr_r) < 0 || (st = store_stmt(s, sql_kind, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (store_step_id(s, st, &is_alias, errstr_r) < 0)
		return -1;
	if (!is_alias)
		return store_errf(s, errstr_r, "address %s@%s is not an alias; only aliases have targets", local,
				  domain);
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}

/* ---- access ---- */

static int account_need(struct store *s, const char *login, int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id FROM accounts WHERE login = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	if ((rc = store_step_id(s, st, id_r, errstr_r)) == 0)
		return store_errf(s, errstr_r, "account %s does not exist", login);
	return rc;
}

int store_access_grant(struct store *s, const char *login, const char *local, const char *domain,
		       unsigned perms, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO access (account_id, address_id, perms) VALUES (?, ?, ?)"
				  " ON CONFLICT (account_id, address_id) DO UPDATE SET perms = excluded.perms";
	sqlite3_stmt *st;
	int64_t account_id, address_id;

	if (perms == 0 || (perms & ~(unsigned)PERM_ALL) != 0)
		return store_errf(s, errstr_r, "invalid permission set 0x%x", perms);
	if (account_need(s, login, &account_id, errstr_r) < 0 ||
	    address_need(s, local, domain, &address_id, errstr_r) < 0 || (st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, address_id);
	sqlite3_bind_int(st, 3, (int)perms);
	return store_step_done(s, st, errstr_r);
}

int store_access_revoke(struct store *s, const char *login, const char *local, const char *domain,
			const char **errstr_r)
{
	static const char sql[] = "DELETE FROM access WHERE account_id = ? AND address_id = ?";
	sqlite3_stmt *st;
	int64_t account_id, address_id;

	if (account_need(s, login, &account_id, errstr_r) < 0 ||
	    address_need(s, local, domain, &address_id, errstr_r) < 0 || (st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, address_id);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return store_errf(s, errstr_r, "account %s has no access to %s@%s", login, local, domain);
	return 0;
}

/* ---- folders ---- */

#define FOLDER_COLUMNS                                                                               \
	"SELECT f.id, f.name, f.special_use, f.uidvalidity, f.uidnext, f.highestmodseq, "          \
	"(SELECT count(*) FROM mail m WHERE m.folder_id = f.id), "                                 \
	"(SELECT coalesce(sum(m.size), 0) FROM mail m WHERE m.folder_id = f.id) FROM folders f "

static void folder_row(sqlite3_stmt *st, struct store_folder *f)
{
	f->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, f->name, sizeof(f->name));
	store_col_copy(st, 2, f->special_use, sizeof(f->special_use));
	f->uidvalidity = (uint32_t)sqlite3_column_int64(st, 3);
	f->uidnext = (uint32_t)sqlite3_column_int64(st, 4);
	f->highestmodseq = (uint64_t)sqlite3_column_int64(st, 5);
	f->messages = (uint32_t)sqlite3_column_int64(st, 6);
	f->bytes = sqlite3_column_int64(st, 7);
}

int store_folder_list(struct store *s, int64_t address_id,
		      void (*cb)(const struct store_folder *f, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = FOLDER_COLUMNS "WHERE f.address_id = ? ORDER BY f.id";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_folder f;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		folder_row(st, &f);
		cb(&f, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_folder_get(struct store *s, int64_t address_id, const char *name, struct store_folder *f_r,
		     const char **errstr_r)
{
	/* RFC 3501 5.1: INBOX is case-insensitive, every other name is exact */
	static const char sql[] = FOLDER_COLUMNS "WHERE f.address_id = ? AND"
				  " (f.name = ? OR (f.name = 'INBOX' AND upper(?) = 'INBOX'))";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		folder_row(st, f_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* ---- removal ---- */

/*
 * Removing an address drops its references to its bodies (bodies_unref, before
 * the mail rows go); then a body nobody references is
 * deleted, and a sealed segment left with no body is deleted too (its id goes
 * to *dead_r for unlinking after the commit). The unsealed segment the writer
 * appends to is never removed here.
 * XXX partially dead segments keep their dead bytes until compaction exists.
 */
static int bodies_unref(struct store *s, int64_t address_id, const char **errstr_r)
{
	static const char sql_dec[] =
		"UPDATE bodies SET refcount = refcount - (SELECT count(*) FROM mail m JOIN folders f"
		" ON f.id = m.folder_id WHERE m.body_id = bodies.id AND f.address_id = ?1)"
		" WHERE id IN (SELECT m.body_id FROM mail m JOIN folders f ON f.id = m.folder_id"
		" WHERE f.address_id = ?1)";
	sqlite3_stmt *st = store_stmt(s, sql_dec, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	return store_step_done(s, st, errstr_r);
}

/* After the mail rows are gone: deletes unreferenced bodies and dead segments. */
static int bodies_reap(struct store *s, int64_t **dead_r, size_t *ndead_r, const char **errstr_r)
{
	static const char sql_segs[] =
		"SELECT DISTINCT b.segment FROM bodies b JOIN segments g ON g.id = b.segment"
		" WHERE b.refcount = 0 AND g.sealed = 1";
	static const char sql_del[] = "DELETE FROM bodies WHERE refcount = 0"
				      " AND id NOT IN (SELECT body_id FROM queue_messages)";
	static const char sql_dead[] = "DELETE FROM segments WHERE id = ? AND sealed = 1 AND retired_at IS NULL"
				       " AND NOT EXISTS (SELECT 1 FROM bodies WHERE segment = ?1)";
	sqlite3_stmt *st = store_stmt(s, sql_segs, errstr_r);
	int64_t *segs = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*dead_r = NULL;
	*ndead_r = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap)
			segs = xrealloc(segs, (cap = cap ? cap * 2 : 8) * sizeof(*segs));
		segs[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || (st = store_stmt(s, sql_del, errstr_r)) == NULL ||
	    store_step_done(s, st, errstr_r) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if ((st = store_stmt(s, sql_dead, errstr_r)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, segs[i]);
		if (store_step_done(s, st, errstr_r) < 0)
			goto fail;
		if (sqlite3_changes(s->db) > 0)
			segs[(*ndead_r)++] = segs[i];
	}
	*dead_r = segs;
	return 0;
fail:
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		store_dberr(s, errstr_r, "database error");
	free(segs);
	*ndead_r = 0;
	return -1;
}

static int address_delete(struct store *s, int64_t id, int64_t *messages_r, int64_t *bytes_r,
			  int64_t **dead_r, size_t *ndead_r, const char **errstr_r)
{
	static const char sql_usage[] = "SELECT count(*), coalesce(sum(m.size), 0) FROM mail m"
					" JOIN folders f ON f.id = m.folder_id WHERE f.address_id = ?";
	static const char sql_del[] = "DELETE FROM addresses WHERE id = ?";
	sqlite3_stmt *st = store_stmt(s, sql_usage, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_dberr(s, errstr_r, "database error");
	}
	*messages_r = sqlite3_column_int64(st, 0);
	*bytes_r = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (bodies_unref(s, id, errstr_r) < 0)
		return -1;
	/* folders, mail, expunged, access, aliases' targets... cascade */
	if ((st = store_stmt(s, sql_del, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	return bodies_reap(s, dead_r, ndead_r, errstr_r);
}

int store_address_remove(struct store *s, const char *local, const char *domain, int64_t *messages_r,
			 int64_t *bytes_r, const char **errstr_r)
{
	int64_t id, messages = 0, bytes = 0, *dead = NULL;
	size_t ndead = 0;

	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (address_need(s, local, domain, &id, errstr_r) < 0 ||
	    address_delete(s, id, &messages, &bytes, &dead, &ndead, errstr_r) < 0) {
		store_rollback(s);
		free(dead);
		return -1;
	}
	if (store_commit(s, errstr_r) < 0) {
		free(dead);
		return -1;
	}
	/* After the commit: a crash before the unlink only leaks the file. */
	store_segments_unlink(s, dead, ndead);
	free(dead);
	if (messages_r != NULL)
		*messages_r = messages;
	if (bytes_r != NULL)
		*bytes_r = bytes;
	return 0;
}
