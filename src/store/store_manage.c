/*
 * store_manage: roles, rights and the action history for src/manage.
 */
#include <string.h>

#include "store/store_manage.h"
#include "store/store_private.h"

static const char *const role_names[] = { "owner", "admin", "member" };

int store_member_role(struct store *s, int64_t org_id, int64_t account_id, enum org_role *role_r,
		      const char **errstr_r)
{
	static const char sql[] = "SELECT role FROM memberships WHERE org_id = ? AND account_id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	sqlite3_bind_int64(st, 2, account_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *role = (const char *)sqlite3_column_text(st, 0);
		*role_r = ROLE_MEMBER;
		for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
			if (role != NULL && strcmp(role, role_names[i]) == 0)
				*role_r = (enum org_role)i;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read a membership");
}

int store_access_perms(struct store *s, int64_t account_id, int64_t address_id, unsigned *perms_r,
		       const char **errstr_r)
{
	static const char sql[] = "SELECT perms FROM access WHERE account_id = ? AND address_id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int64_t perms = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, address_id);
	rc = store_step_id(s, st, &perms, errstr_r);
	*perms_r = rc == 1 ? (unsigned)perms : 0;
	return rc;
}

int store_address_org(struct store *s, int64_t address_id, int64_t *org_id_r, const char **errstr_r)
{
	static const char sql[] = "SELECT d.org_id FROM addresses a JOIN domains d ON d.id = a.domain_id"
				  " WHERE a.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	return store_step_id(s, st, org_id_r, errstr_r);
}

int store_history_add(struct store *s, int64_t address_id, int64_t at, const char *actor, const char *action,
		      const char *detail, const char *ip, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO history (address_id, at, actor, action, detail, ip)"
				  " VALUES (?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail != NULL ? detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ip != NULL ? ip : "", -1, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}
