/*
 * store_invite: invitations and sharing links (see store_invite.h).
 *
 * A use is a conditional UPDATE (unused, unrevoked, unexpired) whose change
 * count decides: under the write lock only one caller can see 1, so a token
 * is used once however many requests race for it.
 */
#include <string.h>

#include "store/store_invite.h"
#include "store/store_private.h"

static const char *const role_names[] = { "owner", "admin", "member" };

static enum org_role role_parse(const char *text)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (strcmp(text, role_names[i]) == 0)
			return (enum org_role)i;
	return ROLE_MEMBER;
}

/* ---- transactions ---- */

/*
 * The use of a token and its effect commit together (store_begin nests as a
 * savepoint inside an operation's transaction). rc > 0 keeps the changes;
 * 0 (the token was no longer usable) and -1 undo them.
 */
static int txn_end(struct store *s, int rc, const char **errstr_r)
{
	if (rc > 0)
		return store_commit(s, errstr_r) < 0 ? -1 : rc;
	store_rollback(s);
	return rc;
}

/* ---- members ---- */

int store_invite_member_get(struct store *s, int64_t org_id, const char *login, struct store_invite_member *m_r,
			    const char **errstr_r)
{
	static const char sql[] = "SELECT a.id, a.login, a.email, m.role FROM accounts a"
				  " JOIN memberships m ON m.account_id = a.id AND m.org_id = ? WHERE a.login = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	char role[16];
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	sqlite3_bind_text(st, 2, login, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		m_r->account_id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, m_r->login, sizeof(m_r->login));
		store_col_copy(st, 2, m_r->email, sizeof(m_r->email));
		store_col_copy(st, 3, role, sizeof(role));
		m_r->role = role_parse(role);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read a membership");
}

/* ---- invitations ---- */

#define INVITATION_SELECT                                                                                  \
	"SELECT i.id, i.org_id, coalesce(i.address_id, 0), coalesce(ad.local || '@' || d.name, ''), i.email," \
	" i.perms, i.role, coalesce(i.login, ''), coalesce(i.account_id, 0), coalesce(acc.login, ''),"      \
	" coalesce(i.invited_by, 0), coalesce(inv.login, ''), i.created_at, i.expires_at,"                  \
	" coalesce(i.used_at, 0), coalesce(i.revoked_at, 0) FROM invitations i"                             \
	" LEFT JOIN addresses ad ON ad.id = i.address_id LEFT JOIN domains d ON d.id = ad.domain_id"         \
	" LEFT JOIN accounts acc ON acc.id = i.account_id LEFT JOIN accounts inv ON inv.id = i.invited_by "

static void invitation_row(sqlite3_stmt *st, struct store_invitation *inv)
{
	char role[16];

	memset(inv, 0, sizeof(*inv));
	inv->id = sqlite3_column_int64(st, 0);
	inv->org_id = sqlite3_column_int64(st, 1);
	inv->address_id = sqlite3_column_int64(st, 2);
	store_col_copy(st, 3, inv->address, sizeof(inv->address));
	store_col_copy(st, 4, inv->email, sizeof(inv->email));
	inv->perms = (unsigned)sqlite3_column_int64(st, 5);
	store_col_copy(st, 6, role, sizeof(role));
	inv->role = role_parse(role);
	store_col_copy(st, 7, inv->login, sizeof(inv->login));
	inv->account_id = sqlite3_column_int64(st, 8);
	store_col_copy(st, 9, inv->account_login, sizeof(inv->account_login));
	inv->invited_by = sqlite3_column_int64(st, 10);
	store_col_copy(st, 11, inv->invited_by_login, sizeof(inv->invited_by_login));
	inv->created_at = sqlite3_column_int64(st, 12);
	inv->expires_at = sqlite3_column_int64(st, 13);
	inv->used_at = sqlite3_column_int64(st, 14);
	inv->revoked_at = sqlite3_column_int64(st, 15);
}

static void bind_id_or_null(sqlite3_stmt *st, int col, int64_t id)
{
	if (id != 0)
		sqlite3_bind_int64(st, col, id);
	else
		sqlite3_bind_null(st, col);
}

int store_invitation_add(struct store *s, const struct store_invitation *inv,
			 const uint8_t hash[STORE_TOKEN_HASH_BYTES], int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO invitations (token_hash, org_id, address_id, email, perms,"
				  " invited_by, created_at, expires_at, account_id, role, login)"
				  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, nullif(?, ''))";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	if (inv->perms == 0 || (inv->perms & ~(unsigned)PERM_ALL) != 0)
		return store_errf(s, errstr_r, "invalid permission set 0x%x", inv->perms);
	sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, inv->org_id);
	bind_id_or_null(st, 3, inv->address_id);
	sqlite3_bind_text(st, 4, inv->email, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, inv->perms);
	bind_id_or_null(st, 6, inv->invited_by);
	sqlite3_bind_int64(st, 7, inv->created_at);
	sqlite3_bind_int64(st, 8, inv->expires_at);
	bind_id_or_null(st, 9, inv->account_id);
	sqlite3_bind_text(st, 10, role_names[inv->role], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, inv->login, -1, SQLITE_STATIC);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* One invitation from a statement with its key bound. */
static int invitation_one(struct store *s, sqlite3_stmt *st, struct store_invitation *inv_r, const char **errstr_r)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		invitation_row(st, inv_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read an invitation");
}

int store_invitation_find(struct store *s, const uint8_t hash[STORE_TOKEN_HASH_BYTES],
			  struct store_invitation *inv_r, const char **errstr_r)
{
	static const char sql[] = INVITATION_SELECT "WHERE i.token_hash = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC);
	return invitation_one(s, st, inv_r, errstr_r);
}

int store_invitation_get(struct store *s, int64_t id, struct store_invitation *inv_r, const char **errstr_r)
{
	static const char sql[] = INVITATION_SELECT "WHERE i.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return invitation_one(s, st, inv_r, errstr_r);
}

int store_invitation_list(struct store *s, int64_t address_id, int64_t account_id,
			  void (*cb)(const struct store_invitation *inv, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = INVITATION_SELECT "WHERE (?1 = 0 OR i.address_id = ?1)"
						    " AND (?2 = 0 OR i.account_id = ?2) ORDER BY i.id DESC";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_invitation inv;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_int64(st, 2, account_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		invitation_row(st, &inv);
		cb(&inv, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot list invitations");
}

int store_invitation_revoke(struct store *s, int64_t id, int64_t now, const char **errstr_r)
{
	static const char sql[] = "UPDATE invitations SET revoked_at = ?2"
				  " WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL";

	if (store_run(s, sql, errstr_r, 2, id, now) < 0)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

/* Creates the invited person's account: 0, or -1 ("account x already exists"). */
static int invitation_new_account(struct store *s, int64_t id, int64_t now, const char *login,
				  const char *password_hash, int64_t *account_id_r, const char **errstr_r)
{
	static const char sql_exists[] = "SELECT id FROM accounts WHERE login = ?";
	static const char sql_add[] = "INSERT INTO accounts (login, password_hash, email, created_at)"
				      " SELECT ?1, ?2, email, ?3 FROM invitations WHERE id = ?4";
	sqlite3_stmt *st = store_stmt(s, sql_exists, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	if ((rc = store_step_id(s, st, NULL, errstr_r)) != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "account %s already exists", login);
	if ((st = store_stmt(s, sql_add, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, id);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*account_id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Adds perms (those of the invitation or link row) to the account's rights on its address. */
static int grant_from(struct store *s, const char *sql, int64_t id, int64_t account_id, const char **errstr_r)
{
	return store_run(s, sql, errstr_r, 2, id, account_id);
}

/* An external person joins the organisation with the invitation's role (a member already is one). */
static const char sql_join[] = "INSERT OR IGNORE INTO memberships (org_id, account_id, role)"
			       " SELECT org_id, ?2, role FROM invitations WHERE id = ?1 AND account_id IS NULL";

static const char sql_grant_invitation[] =
	"INSERT INTO access (account_id, address_id, perms) SELECT ?2, address_id, perms FROM invitations"
	" WHERE id = ?1 AND address_id IS NOT NULL"
	" ON CONFLICT (account_id, address_id) DO UPDATE SET perms = perms | excluded.perms";

int store_invitation_accept(struct store *s, int64_t id, int64_t now, int64_t account_id, const char *new_login,
			    const char *password_hash, int64_t *account_id_r, const char **errstr_r)
{
	static const char sql_use[] = "UPDATE invitations SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL"
				      " AND revoked_at IS NULL AND expires_at > ?2";
	int rc;

	if (store_begin(s, errstr_r) < 0)
		return -1;
	rc = store_run(s, sql_use, errstr_r, 2, id, now);
	if (rc == 0)
		rc = sqlite3_changes(s->db) > 0 ? 1 : 0;
	if (rc == 1 && new_login != NULL && invitation_new_account(s, id, now, new_login, password_hash,
								   &account_id, errstr_r) < 0)
		rc = -1;
	if (rc == 1 && (store_run(s, sql_join, errstr_r, 2, id, account_id) < 0 ||
			grant_from(s, sql_grant_invitation, id, account_id, errstr_r) < 0))
		rc = -1;
	if (rc == 1)
		*account_id_r = account_id;
	return txn_end(s, rc, errstr_r);
}

/* ---- sharing links ---- */

#define LINK_SELECT                                                                                       \
	"SELECT l.id, l.address_id, ad.local || '@' || d.name, l.perms, coalesce(l.created_by, 0),"        \
	" coalesce(cr.login, ''), l.created_at, l.expires_at, coalesce(l.used_at, 0),"                     \
	" coalesce(l.revoked_at, 0), coalesce(l.used_by, 0), coalesce(us.login, '') FROM sharing_links l" \
	" JOIN addresses ad ON ad.id = l.address_id JOIN domains d ON d.id = ad.domain_id"                  \
	" LEFT JOIN accounts cr ON cr.id = l.created_by LEFT JOIN accounts us ON us.id = l.used_by "

static void link_row(sqlite3_stmt *st, struct store_link *l)
{
	memset(l, 0, sizeof(*l));
	l->id = sqlite3_column_int64(st, 0);
	l->address_id = sqlite3_column_int64(st, 1);
	store_col_copy(st, 2, l->address, sizeof(l->address));
	l->perms = (unsigned)sqlite3_column_int64(st, 3);
	l->created_by = sqlite3_column_int64(st, 4);
	store_col_copy(st, 5, l->created_by_login, sizeof(l->created_by_login));
	l->created_at = sqlite3_column_int64(st, 6);
	l->expires_at = sqlite3_column_int64(st, 7);
	l->used_at = sqlite3_column_int64(st, 8);
	l->revoked_at = sqlite3_column_int64(st, 9);
	l->used_by = sqlite3_column_int64(st, 10);
	store_col_copy(st, 11, l->used_by_login, sizeof(l->used_by_login));
}

int store_link_add(struct store *s, const struct store_link *link, const uint8_t hash[STORE_TOKEN_HASH_BYTES],
		   int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO sharing_links (token_hash, address_id, perms, created_by,"
				  " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	if (link->perms == 0 || (link->perms & ~(unsigned)PERM_ALL) != 0)
		return store_errf(s, errstr_r, "invalid permission set 0x%x", link->perms);
	sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, link->address_id);
	sqlite3_bind_int64(st, 3, link->perms);
	bind_id_or_null(st, 4, link->created_by);
	sqlite3_bind_int64(st, 5, link->created_at);
	sqlite3_bind_int64(st, 6, link->expires_at);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int link_one(struct store *s, sqlite3_stmt *st, struct store_link *link_r, const char **errstr_r)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		link_row(st, link_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read a sharing link");
}

int store_link_find(struct store *s, const uint8_t hash[STORE_TOKEN_HASH_BYTES], struct store_link *link_r,
		    const char **errstr_r)
{
	static const char sql[] = LINK_SELECT "WHERE l.token_hash = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC);
	return link_one(s, st, link_r, errstr_r);
}

int store_link_get(struct store *s, int64_t id, struct store_link *link_r, const char **errstr_r)
{
	static const char sql[] = LINK_SELECT "WHERE l.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return link_one(s, st, link_r, errstr_r);
}

int store_link_list(struct store *s, int64_t address_id, void (*cb)(const struct store_link *link, void *arg),
		    void *arg, const char **errstr_r)
{
	static const char sql[] = LINK_SELECT "WHERE l.address_id = ? ORDER BY l.id DESC";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_link link;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		link_row(st, &link);
		cb(&link, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot list sharing links");
}

int store_link_revoke(struct store *s, int64_t id, int64_t now, const char **errstr_r)
{
	static const char sql[] = "UPDATE sharing_links SET revoked_at = ?2"
				  " WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL";

	if (store_run(s, sql, errstr_r, 2, id, now) < 0)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

static const char sql_grant_link[] =
	"INSERT INTO access (account_id, address_id, perms) SELECT ?2, address_id, perms FROM sharing_links"
	" WHERE id = ?1 ON CONFLICT (account_id, address_id) DO UPDATE SET perms = perms | excluded.perms";

int store_link_redeem(struct store *s, int64_t id, int64_t account_id, int64_t now, const char **errstr_r)
{
	static const char sql_use[] = "UPDATE sharing_links SET used_at = ?2, used_by = ?3 WHERE id = ?1"
				      " AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2";
	int rc;

	if (store_begin(s, errstr_r) < 0)
		return -1;
	rc = store_run(s, sql_use, errstr_r, 3, id, now, account_id);
	if (rc == 0)
		rc = sqlite3_changes(s->db) > 0 ? 1 : 0;
	if (rc == 1 && grant_from(s, sql_grant_link, id, account_id, errstr_r) < 0)
		rc = -1;
	return txn_end(s, rc, errstr_r);
}
