/*
 * store_folder: folders as IMAP sees them (create, delete, rename,
 * subscribe, status, list), address logins and quotas.
 *
 * Names are UTF-8 with '/' as the hierarchy delimiter. INBOX is
 * case-insensitive (RFC 3501 5.1): a name whose first level is any case of
 * "inbox" is stored and looked up with that level as "INBOX", so that
 * "inbox/Lists" and "INBOX/Lists" are one folder.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "store/store_mail.h"
#include "store/store_private.h"

/* A hostile client must not be able to grow an address's folder table forever. */
#define STORE_FOLDERS_MAX 10000

typedef char folder_name[STORE_FOLDER_NAME_MAX + 1];

/* ---- names ---- */

/* INBOX's first level in its canonical case; false if the name cannot be stored. */
static bool name_canonical(const char *name, folder_name out)
{
	size_t len = strlen(name);

	if (len == 0 || len > STORE_FOLDER_NAME_MAX)
		return false;
	memcpy(out, name, len + 1);
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return true;
}

/* For a name to be created: canonical, and well formed. */
static int name_check(struct store *s, const char *name, folder_name out, const char **errstr_r)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), n;

	if (len == 0)
		return store_errf(s, errstr_r, "a folder name cannot be empty");
	if (len > STORE_FOLDER_NAME_MAX)
		return store_errf(s, errstr_r, "folder name too long (at most %d bytes)", STORE_FOLDER_NAME_MAX);
	if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL)
		return store_errf(s, errstr_r, "folder name \"%s\" has an empty level", name);
	for (size_t i = 0; i < len; i += n) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return store_errf(s, errstr_r, "a folder name cannot contain control characters");
		if ((n = store_utf8_seq_len(p + i, len - i)) == 0)
			return store_errf(s, errstr_r, "folder name is not valid UTF-8");
	}
	name_canonical(name, out);
	return 0;
}

/* ---- lookups ---- */

static int folder_find(struct store *s, int64_t address_id, const char *name, int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id FROM folders WHERE address_id = ? AND name = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return store_step_id(s, st, id_r, errstr_r);
}

/* 0 with *id_r, or -1 with "folder X does not exist". */
static int folder_need(struct store *s, int64_t address_id, const char *name, folder_name canon, int64_t *id_r,
		       const char **errstr_r)
{
	int rc = name_canonical(name, canon) ? folder_find(s, address_id, canon, id_r, errstr_r) : 0;

	if (rc == 0)
		return store_errf(s, errstr_r, "folder %s does not exist", name);
	return rc < 0 ? -1 : 0;
}

static int address_exists(struct store *s, int64_t address_id, const char **errstr_r)
{
	static const char sql_addr[] = "SELECT 1 FROM addresses WHERE id = ?";
	static const char sql_count[] = "SELECT count(*) FROM folders WHERE address_id = ?";
	int64_t folders = 0;
	int rc;

	if ((rc = store_run_id(s, sql_addr, NULL, errstr_r, 1, address_id)) <= 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "address %lld does not exist", (long long)address_id);
	if (store_run_id(s, sql_count, &folders, errstr_r, 1, address_id) < 0)
		return -1;
	if (folders >= STORE_FOLDERS_MAX)
		return store_errf(s, errstr_r, "too many folders (at most %d per address)", STORE_FOLDERS_MAX);
	return 0;
}

/* ---- create ---- */

static int folder_insert(struct store *s, int64_t address_id, const char *name, int64_t *id_r,
			 const char **errstr_r)
{
	static const char sql[] = "INSERT INTO folders (address_id, name, uidvalidity) VALUES (?, ?, ?)";
	sqlite3_stmt *st;
	uint32_t uidvalidity = 0;

	/* a new UIDVALIDITY even for a name used before (RFC 3501 2.3.1.1) */
	if (store_next_uidvalidity(s, &uidvalidity, errstr_r) < 0 || (st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, uidvalidity);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Creates every missing parent level of name ("a" and "a/b" for "a/b/c"). */
static int parents_ensure(struct store *s, int64_t address_id, const char *name, const char **errstr_r)
{
	folder_name prefix;
	int rc;

	for (const char *slash = strchr(name, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		memcpy(prefix, name, (size_t)(slash - name));
		prefix[slash - name] = '\0';
		if ((rc = folder_find(s, address_id, prefix, NULL, errstr_r)) < 0)
			return -1;
		if (rc == 0 && folder_insert(s, address_id, prefix, NULL, errstr_r) < 0)
			return -1;
	}
	return 0;
}

static int folder_create_txn(struct store *s, int64_t address_id, const char *name, int64_t *folder_id_r,
			     const char **errstr_r)
{
	folder_name canon;
	int rc;

	if (name_check(s, name, canon, errstr_r) < 0 || address_exists(s, address_id, errstr_r) < 0)
		return -1;
	if ((rc = folder_find(s, address_id, canon, NULL, errstr_r)) != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "folder %s already exists", canon);
	if (parents_ensure(s, address_id, canon, errstr_r) < 0)
		return -1;
	return folder_insert(s, address_id, canon, folder_id_r, errstr_r);
}

int store_folder_create(struct store *s, int64_t address_id, const char *name, int64_t *folder_id_r,
			const char **errstr_r)
{
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (folder_create_txn(s, address_id, name, folder_id_r, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

/* ---- delete ---- */

static int has_children(struct store *s, int64_t address_id, const char *name, const char **errstr_r)
{
	/* substr, not LIKE: '%' and '_' are ordinary characters in folder names */
	static const char sql[] = "SELECT 1 FROM folders WHERE address_id = ?1"
				  " AND substr(name, 1, length(?2) + 1) = ?2 || '/' LIMIT 1";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return store_step_id(s, st, NULL, errstr_r);
}

/* Deletes the folder and its mail; its bodies lose a reference each. */
static int folder_drop(struct store *s, int64_t address_id, int64_t folder_id, struct store_ids *dead,
		       const char **errstr_r)
{
	static const char sql_mail[] = "SELECT body_id, size FROM mail WHERE folder_id = ?";
	static const char sql_del[] = "DELETE FROM folders WHERE id = ?"; /* mail, expunged: cascade */
	struct store_ids bodies = { 0 };
	sqlite3_stmt *st = store_stmt(s, sql_mail, errstr_r);
	int64_t bytes = 0;
	int rc = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_ids_push(&bodies, sqlite3_column_int64(st, 0));
		bytes += sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = store_dberr(s, errstr_r, "database error");
	} else if ((st = store_stmt(s, sql_del, errstr_r)) == NULL) {
		rc = -1;
	} else {
		sqlite3_bind_int64(st, 1, folder_id);
		rc = store_step_done(s, st, errstr_r);
	}
	if (rc == 0)
		rc = store_bodies_release(s, bodies.v, bodies.n, dead, errstr_r);
	if (rc == 0)
		rc = store_usage_add(s, address_id, -(int64_t)bodies.n, -bytes, errstr_r);
	free(bodies.v);
	return rc;
}

static int folder_delete_txn(struct store *s, int64_t address_id, const char *name, struct store_ids *dead,
			     const char **errstr_r)
{
	folder_name canon;
	int64_t id;
	int rc;

	if (folder_need(s, address_id, name, canon, &id, errstr_r) < 0)
		return -1;
	if (strcmp(canon, "INBOX") == 0)
		return store_errf(s, errstr_r, "INBOX cannot be deleted");
	if ((rc = has_children(s, address_id, canon, errstr_r)) != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "folder %s has subfolders: delete them first", canon);
	if (folder_drop(s, address_id, id, dead, errstr_r) < 0)
		return -1;
	/* sessions that have it selected learn it is gone */
	store_note_folder_changed(s, id);
	return 0;
}

int store_folder_delete(struct store *s, int64_t address_id, const char *name, const char **errstr_r)
{
	struct store_ids dead = { 0 };

	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (folder_delete_txn(s, address_id, name, &dead, errstr_r) < 0) {
		store_rollback(s);
		free(dead.v);
		return -1;
	}
	if (store_commit(s, errstr_r) < 0) {
		free(dead.v);
		return -1;
	}
	/* after the commit: a crash before the unlink only leaks the file */
	store_segments_unlink(s, dead.v, dead.n);
	free(dead.v);
	return 0;
}

/* ---- rename ---- */

/*
 * RFC 3501 6.3.5: renaming INBOX moves its messages to a new folder and
 * leaves INBOX empty; its subfolders stay where they are. The messages keep
 * their UIDs under the new folder's own UIDVALIDITY; INBOX records them as
 * expunged (QRESYNC clients see them vanish).
 */
static int inbox_rename(struct store *s, int64_t address_id, int64_t inbox_id, const char *to,
			const char **errstr_r)
{
	static const char sql_get[] = "SELECT uidnext, highestmodseq + 1 FROM folders WHERE id = ?";
	static const char sql_exp[] = "INSERT OR REPLACE INTO expunged (folder_id, uid, modseq)"
				      " SELECT folder_id, uid, ?2 FROM mail WHERE folder_id = ?1";
	static const char sql_move[] = "UPDATE mail SET folder_id = ?2 WHERE folder_id = ?1";
	static const char sql_set[] = "UPDATE folders SET uidnext = max(uidnext, ?2), highestmodseq = ?3 WHERE id = ?1";
	sqlite3_stmt *st = store_stmt(s, sql_get, errstr_r);
	int64_t new_id, uidnext, modseq;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, inbox_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_dberr(s, errstr_r, "database error");
	}
	uidnext = sqlite3_column_int64(st, 0);
	modseq = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (parents_ensure(s, address_id, to, errstr_r) < 0 || folder_insert(s, address_id, to, &new_id, errstr_r) < 0 ||
	    store_run(s, sql_exp, errstr_r, 2, inbox_id, modseq) < 0 ||
	    store_run(s, sql_move, errstr_r, 2, inbox_id, new_id) < 0 ||
	    store_run(s, sql_set, errstr_r, 3, new_id, uidnext, modseq) < 0 ||
	    store_run(s, sql_set, errstr_r, 3, inbox_id, uidnext, modseq) < 0)
		return -1;
	store_note_folder_changed(s, inbox_id);
	store_note_folder_changed(s, new_id);
	return 0;
}

/* Renames from and every from/... to to and to/...; the names must fit. */
static int subtree_rename(struct store *s, int64_t address_id, const char *from, const char *to,
			  const char **errstr_r)
{
	static const char sql_fit[] = "SELECT 1 FROM folders WHERE address_id = ?1"
				      " AND substr(name, 1, length(?2) + 1) = ?2 || '/' AND"
				      " length(CAST(name AS BLOB)) - length(CAST(?2 AS BLOB)) + length(CAST(?3 AS BLOB)) > ?4";
	static const char sql_mv[] = "UPDATE folders SET name = ?3 || substr(name, length(?2) + 1) WHERE address_id = ?1"
				     " AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')";
	const char *sqls[] = { sql_fit, sql_mv };
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < 2; i++) {
		if ((st = store_stmt(s, sqls[i], errstr_r)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, address_id);
		sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
		if (i == 0) {
			sqlite3_bind_int(st, 4, STORE_FOLDER_NAME_MAX);
			if ((rc = store_step_id(s, st, NULL, errstr_r)) != 0)
				return rc < 0 ? -1 : store_errf(s, errstr_r, "a subfolder's name would become too long");
		} else if (store_step_done(s, st, errstr_r) < 0) {
			return -1;
		}
	}
	return 0;
}

static int folder_rename_txn(struct store *s, int64_t address_id, const char *from, const char *to,
			     const char **errstr_r)
{
	folder_name cfrom, cto;
	size_t flen;
	int64_t from_id;
	int rc;

	if (folder_need(s, address_id, from, cfrom, &from_id, errstr_r) < 0 || name_check(s, to, cto, errstr_r) < 0)
		return -1;
	if ((rc = folder_find(s, address_id, cto, NULL, errstr_r)) != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "folder %s already exists", cto);
	if (strcmp(cfrom, "INBOX") == 0)
		return inbox_rename(s, address_id, from_id, cto, errstr_r);
	flen = strlen(cfrom);
	if (strncmp(cto, cfrom, flen) == 0 && cto[flen] == '/')
		return store_errf(s, errstr_r, "cannot move folder %s into itself", cfrom);
	if (parents_ensure(s, address_id, cto, errstr_r) < 0 || subtree_rename(s, address_id, cfrom, cto, errstr_r) < 0)
		return -1;
	store_note_folder_changed(s, from_id);
	return 0;
}

int store_folder_rename(struct store *s, int64_t address_id, const char *from, const char *to,
			const char **errstr_r)
{
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (folder_rename_txn(s, address_id, from, to, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

/* ---- subscribe, status, list ---- */

int store_folder_subscribe(struct store *s, int64_t address_id, const char *name, bool subscribed,
			   const char **errstr_r)
{
	static const char sql[] = "UPDATE folders SET subscribed = ? WHERE address_id = ? AND name = ?";
	sqlite3_stmt *st;
	folder_name canon;

	if (!name_canonical(name, canon))
		return store_errf(s, errstr_r, "folder %s does not exist", name);
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, subscribed ? 1 : 0);
	sqlite3_bind_int64(st, 2, address_id);
	sqlite3_bind_text(st, 3, canon, -1, SQLITE_STATIC);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return store_errf(s, errstr_r, "folder %s does not exist", name);
	return 0;
}

int store_folder_status(struct store *s, int64_t address_id, const char *name, struct store_folder_status *st_r,
			const char **errstr_r)
{
	static const char sql[] =
		"SELECT f.id, f.uidvalidity, f.uidnext, f.highestmodseq, count(m.id),"
		" coalesce(sum((m.flags & 1) = 0), 0), coalesce(sum((m.flags & 8) != 0), 0), coalesce(sum(m.size), 0)"
		" FROM folders f LEFT JOIN mail m ON m.folder_id = f.id"
		" WHERE f.address_id = ? AND f.name = ? GROUP BY f.id";
	sqlite3_stmt *st;
	folder_name canon;
	int rc;

	if (!name_canonical(name, canon))
		return 0;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, canon, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		st_r->folder_id = sqlite3_column_int64(st, 0);
		st_r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		st_r->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		st_r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
		st_r->messages = (uint32_t)sqlite3_column_int64(st, 4);
		st_r->unseen = (uint32_t)sqlite3_column_int64(st, 5);
		st_r->deleted = (uint32_t)sqlite3_column_int64(st, 6);
		st_r->size = (uint64_t)sqlite3_column_int64(st, 7);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_folder_lookup(struct store *s, int64_t address_id, const char *name, struct store_folder_status *st_r,
			const char **errstr_r)
{
	static const char sql[] = "SELECT id, uidvalidity, uidnext, highestmodseq FROM folders"
				  " WHERE address_id = ? AND name = ?";
	sqlite3_stmt *st;
	folder_name canon;
	int rc;

	memset(st_r, 0, sizeof(*st_r));
	if (!name_canonical(name, canon))
		return 0;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_text(st, 2, canon, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		st_r->folder_id = sqlite3_column_int64(st, 0);
		st_r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		st_r->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		st_r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_folder_list_all(struct store *s, int64_t address_id,
			  void (*cb)(const struct store_folder *f, bool subscribed, void *arg), void *arg,
			  const char **errstr_r)
{
	static const char sql[] =
		"SELECT f.id, f.name, f.special_use, f.uidvalidity, f.uidnext, f.highestmodseq,"
		" (SELECT count(*) FROM mail m WHERE m.folder_id = f.id),"
		" (SELECT coalesce(sum(m.size), 0) FROM mail m WHERE m.folder_id = f.id), f.subscribed"
		" FROM folders f WHERE f.address_id = ? ORDER BY f.name";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_folder f;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		f.id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, f.name, sizeof(f.name));
		store_col_copy(st, 2, f.special_use, sizeof(f.special_use));
		f.uidvalidity = (uint32_t)sqlite3_column_int64(st, 3);
		f.uidnext = (uint32_t)sqlite3_column_int64(st, 4);
		f.highestmodseq = (uint64_t)sqlite3_column_int64(st, 5);
		f.messages = (uint32_t)sqlite3_column_int64(st, 6);
		f.bytes = sqlite3_column_int64(st, 7);
		cb(&f, sqlite3_column_int(st, 8) != 0, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* ---- logins ---- */

static enum address_kind kind_of(const char *kind)
{
	return strcmp(kind, "catchall") == 0 ? ADDRESS_CATCHALL
	       : strcmp(kind, "noreply") == 0 ? ADDRESS_NOREPLY
	       : strcmp(kind, "alias") == 0   ? ADDRESS_ALIAS
					      : ADDRESS_MAILBOX;
}

static void login_row(sqlite3_stmt *st, struct store_login *l)
{
	char local[65], domain[254], kind[16], plan[16]; /* RFC 5321 4.5.3.1, RFC 1035 */

	l->address_id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, local, sizeof(local));
	store_col_copy(st, 2, domain, sizeof(domain));
	store_col_copy(st, 3, kind, sizeof(kind));
	store_col_copy(st, 4, plan, sizeof(plan));
	store_col_copy(st, 5, l->password_hash, sizeof(l->password_hash));
	snprintf(l->address, sizeof(l->address), "%s@%s", local, domain);
	for (char *c = l->address; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	l->kind = kind_of(kind);
	l->plan = PLAN_FREE;
	store_plan_parse(plan, &l->plan);
}

int store_login_get(struct store *s, const char *address, struct store_login *login_r, const char **errstr_r)
{
	static const char sql[] = "SELECT a.id, a.local, d.name, a.kind, coalesce(ms.plan, 'free'),"
				  " coalesce(a.password_hash, '') FROM addresses a JOIN domains d ON d.id = a.domain_id"
				  " LEFT JOIN mail_services ms ON ms.id = d.service_id WHERE d.name = ? AND a.local = ?";
	const char *at = strrchr(address, '@');
	sqlite3_stmt *st;
	int rc;

	/* client input: anything that cannot be an address is simply not found */
	if (at == NULL || at == address || at[1] == '\0' || strlen(address) >= sizeof(login_r->address))
		return 0;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, at + 1, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, (int)(at - address), SQLITE_STATIC);
	memset(login_r, 0, sizeof(*login_r));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		login_row(st, login_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* ---- quota ---- */

int store_quota_get(struct store *s, int64_t address_id, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
		    uint64_t *used_bytes_r, uint64_t *limit_bytes_r, uint32_t *messages_r, const char **errstr_r)
{
	static const char sql[] = "SELECT a.used_bytes, a.message_count, a.quota_bytes, coalesce(ms.plan, 'free')"
				  " FROM addresses a JOIN domains d ON d.id = a.domain_id"
				  " LEFT JOIN mail_services ms ON ms.id = d.service_id WHERE a.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	enum plan plan = PLAN_FREE;
	int64_t used = 0, count = 0, override = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		used = sqlite3_column_int64(st, 0);
		count = sqlite3_column_int64(st, 1);
		override = sqlite3_column_int64(st, 2);
		store_plan_parse((const char *)sqlite3_column_text(st, 3), &plan);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return store_errf(s, errstr_r, "address %lld does not exist", (long long)address_id);
	if (rc != SQLITE_ROW)
		return store_dberr(s, errstr_r, "database error");
	*used_bytes_r = used > 0 ? (uint64_t)used : 0;
	*limit_bytes_r = override > 0 ? (uint64_t)override : plans != NULL ? plans[plan].quota_bytes : 0;
	*messages_r = count > 0 ? (uint32_t)count : 0;
	return 0;
}
