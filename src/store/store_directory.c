/*
 * store_directory: organisations, accounts, memberships and domains.
 *
 * Names (org names, logins, domain names) are compared case-insensitively:
 * the columns are COLLATE NOCASE, so lookups and UNIQUE agree. We check for
 * duplicates before inserting to give a message that names the thing; the
 * UNIQUE constraint still guards the race with a concurrent CLI.
 */
#include <string.h>
#include <time.h>

#include "store/store_private.h"

static const char *const plan_names[CONFIG_PLAN_COUNT] = { "free", "starter", "pro" };
static const char *const role_names[] = { "owner", "admin", "member" };

const char *store_plan_name(enum plan plan)
{
	return (unsigned)plan < CONFIG_PLAN_COUNT ? plan_names[plan] : "free";
}

int store_plan_parse(const char *name, enum plan *plan_r)
{
	for (int i = 0; i < CONFIG_PLAN_COUNT; i++) {
		if (name != NULL && strcmp(name, plan_names[i]) == 0) {
			*plan_r = (enum plan)i;
			return 0;
		}
	}
	*plan_r = PLAN_FREE;
	return -1;
}

static int lookup_by_name(struct store *s, const char *sql, const char *name, int64_t *id_r,
			  const char **errstr_r)
{
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return store_step_id(s, st, id_r, errstr_r);
}

static const char sql_org_id[] = "SELECT id FROM orgs WHERE name = ?";
static const char sql_account_id[] = "SELECT id FROM accounts WHERE login = ?";
static const char sql_domain_id[] = "SELECT id FROM domains WHERE name = ?";

/* 1 with *id_r, or -1 with "organisation X does not exist" (or a db error). */
static int need(struct store *s, const char *sql, const char *what, const char *name, int64_t *id_r,
		const char **errstr_r)
{
	int rc = lookup_by_name(s, sql, name, id_r, errstr_r);

	if (rc == 0)
		return store_errf(s, errstr_r, "%s %s does not exist", what, name);
	return rc;
}

/* ---- organisations ---- */

int store_org_add(struct store *s, const char *name, int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO orgs (name, created_at) VALUES (?, ?)";
	sqlite3_stmt *st;
	int rc = lookup_by_name(s, sql_org_id, name, NULL, errstr_r);

	if (rc != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "organisation %s already exists", name);
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_org_get(struct store *s, const char *name, struct store_org *org_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id, name, created_at FROM orgs WHERE name = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		org_r->id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, org_r->name, sizeof(org_r->name));
		org_r->created_at = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_org_list(struct store *s, void (*cb)(const struct store_org *org, void *arg), void *arg,
		   const char **errstr_r)
{
	static const char sql[] = "SELECT id, name, created_at FROM orgs ORDER BY name";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_org org;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		org.id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, org.name, sizeof(org.name));
		org.created_at = sqlite3_column_int64(st, 2);
		cb(&org, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_org_remove(struct store *s, const char *name, const char **errstr_r)
{
	static const char sql_count[] = "SELECT count(*) FROM domains WHERE org_id = ?";
	static const char sql_del[] = "DELETE FROM orgs WHERE id = ?";
	sqlite3_stmt *st;
	int64_t id, n = 0;

	if (need(s, sql_org_id, "organisation", name, &id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql_count, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (store_step_id(s, st, &n, errstr_r) < 0)
		return -1;
	if (n > 0)
		return store_errf(s, errstr_r, "organisation %s still has %lld domain%s; remove them first", name,
				  (long long)n, n == 1 ? "" : "s");
	if ((st = store_stmt(s, sql_del, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return store_step_done(s, st, errstr_r);
}

/* ---- accounts ---- */

int store_account_add(struct store *s, const char *login, const char *password_hash, int64_t *id_r,
		      const char **errstr_r)
{
	static const char sql[] = "INSERT INTO accounts (login, password_hash, created_at) VALUES (?, ?, ?)";
	sqlite3_stmt *st;
	int rc = lookup_by_name(s, sql_account_id, login, NULL, errstr_r);

	if (rc != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "account %s already exists", login);
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static void account_row(sqlite3_stmt *st, struct store_account *a)
{
	a->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, a->login, sizeof(a->login));
	store_col_copy(st, 2, a->display_name, sizeof(a->display_name));
	a->created_at = sqlite3_column_int64(st, 3);
}

int store_account_get(struct store *s, const char *login, struct store_account *acct_r, const char **errstr_r)
{
	static const char sql[] = "SELECT id, login, display_name, created_at FROM accounts WHERE login = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		account_row(st, acct_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_account_password_hash(struct store *s, const char *login, char *hash_r, size_t hash_size,
				const char **errstr_r)
{
	static const char sql[] = "SELECT password_hash FROM accounts WHERE login = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_col_copy(st, 0, hash_r, hash_size);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_account_set_password(struct store *s, const char *login, const char *password_hash,
			       const char **errstr_r)
{
	static const char sql[] = "UPDATE accounts SET password_hash = ? WHERE id = ?";
	sqlite3_stmt *st;
	int64_t id;

	if (need(s, sql_account_id, "account", login, &id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	return store_step_done(s, st, errstr_r);
}

int store_account_list(struct store *s, void (*cb)(const struct store_account *acct, void *arg), void *arg,
		       const char **errstr_r)
{
	static const char sql[] = "SELECT id, login, display_name, created_at FROM accounts ORDER BY login";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_account a;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		account_row(st, &a);
		cb(&a, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_account_remove(struct store *s, const char *login, const char **errstr_r)
{
	static const char sql[] = "DELETE FROM accounts WHERE id = ?";
	sqlite3_stmt *st;
	int64_t id;

	/* memberships and access go with it (ON DELETE CASCADE) */
	if (need(s, sql_account_id, "account", login, &id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return store_step_done(s, st, errstr_r);
}

/* ---- memberships ---- */

int store_member_set(struct store *s, const char *org, const char *login, enum org_role role,
		     const char **errstr_r)
{
	static const char sql[] = "INSERT INTO memberships (org_id, account_id, role) VALUES (?, ?, ?)"
				  " ON CONFLICT (org_id, account_id) DO UPDATE SET role = excluded.role";
	sqlite3_stmt *st;
	int64_t org_id, account_id;

	if ((unsigned)role > ROLE_MEMBER)
		return store_errf(s, errstr_r, "unknown role %d", (int)role);
	if (need(s, sql_org_id, "organisation", org, &org_id, errstr_r) < 0 ||
	    need(s, sql_account_id, "account", login, &account_id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_text(st, 3, role_names[role], -1, SQLITE_STATIC);
	return store_step_done(s, st, errstr_r);
}

int store_member_remove(struct store *s, const char *org, const char *login, const char **errstr_r)
{
	static const char sql[] = "DELETE FROM memberships WHERE org_id = ? AND account_id = ?";
	sqlite3_stmt *st;
	int64_t org_id, account_id;

	if (need(s, sql_org_id, "organisation", org, &org_id, errstr_r) < 0 ||
	    need(s, sql_account_id, "account", login, &account_id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	sqlite3_bind_int64(st, 2, account_id);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return store_errf(s, errstr_r, "account %s is not a member of organisation %s", login, org);
	return 0;
}

/* ---- domains ---- */

/* The organisation by name, or the default one (created on first use). */
static int org_for_domain(struct store *s, const char *org, int64_t *org_id_r, const char **errstr_r)
{
	int rc;

	if (org != NULL)
		return need(s, sql_org_id, "organisation", org, org_id_r, errstr_r);
	rc = lookup_by_name(s, sql_org_id, "default", org_id_r, errstr_r);
	if (rc != 0)
		return rc;
	return store_org_add(s, "default", org_id_r, errstr_r);
}

/* The organisation's mail service with that plan (created when missing). */
static int service_for_plan(struct store *s, int64_t org_id, enum plan plan, int64_t *id_r,
			    const char **errstr_r)
{
	static const char sql_find[] = "SELECT id FROM mail_services WHERE org_id = ? AND plan = ? ORDER BY id";
	static const char sql_add[] = "INSERT INTO mail_services (org_id, plan, created_at) VALUES (?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql_find, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	sqlite3_bind_text(st, 2, store_plan_name(plan), -1, SQLITE_STATIC);
	if ((rc = store_step_id(s, st, id_r, errstr_r)) != 0)
		return rc < 0 ? -1 : 0;
	if ((st = store_stmt(s, sql_add, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	sqlite3_bind_text(st, 2, store_plan_name(plan), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int domain_insert(struct store *s, const char *name, const char *org, enum plan plan, int64_t *id_r,
			 const char **errstr_r)
{
	static const char sql[] = "INSERT INTO domains (name, org_id, service_id, created_at) VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st;
	int64_t org_id, service_id;
	int rc = lookup_by_name(s, sql_domain_id, name, NULL, errstr_r);

	if (rc != 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "domain %s already exists", name);
	if (org_for_domain(s, org, &org_id, errstr_r) < 0 || service_for_plan(s, org_id, plan, &service_id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, org_id);
	sqlite3_bind_int64(st, 3, service_id);
	sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_domain_add(struct store *s, const char *name, const char *org, enum plan plan, int64_t *id_r,
		     const char **errstr_r)
{
	if ((unsigned)plan >= CONFIG_PLAN_COUNT)
		return store_errf(s, errstr_r, "unknown plan %d", (int)plan);
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (domain_insert(s, name, org, plan, id_r, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

#define DOMAIN_COLUMNS                                                                                    \
	"SELECT d.id, d.name, d.org_id, o.name, coalesce(d.service_id, 0), coalesce(ms.plan, 'free'), " \
	"d.created_at FROM domains d JOIN orgs o ON o.id = d.org_id "                                  \
	"LEFT JOIN mail_services ms ON ms.id = d.service_id "

static void domain_row(sqlite3_stmt *st, struct store_domain *d)
{
	d->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, d->name, sizeof(d->name));
	d->org_id = sqlite3_column_int64(st, 2);
	store_col_copy(st, 3, d->org_name, sizeof(d->org_name));
	d->service_id = sqlite3_column_int64(st, 4);
	store_plan_parse((const char *)sqlite3_column_text(st, 5), &d->plan);
	d->created_at = sqlite3_column_int64(st, 6);
}

int store_domain_get(struct store *s, const char *name, struct store_domain *dom_r, const char **errstr_r)
{
	static const char sql[] = DOMAIN_COLUMNS "WHERE d.name = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		domain_row(st, dom_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_domain_list(struct store *s, void (*cb)(const struct store_domain *dom, void *arg), void *arg,
		      const char **errstr_r)
{
	static const char sql[] = DOMAIN_COLUMNS "ORDER BY d.name";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_domain d;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		domain_row(st, &d);
		cb(&d, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* Relinks the domain to its organisation's service with the new plan. */
static int domain_replan(struct store *s, const char *name, enum plan plan, const char **errstr_r)
{
	static const char sql[] = "UPDATE domains SET service_id = ? WHERE id = ?";
	struct store_domain d;
	sqlite3_stmt *st;
	int64_t service_id;
	int rc = store_domain_get(s, name, &d, errstr_r);

	if (rc <= 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "domain %s does not exist", name);
	if (service_for_plan(s, d.org_id, plan, &service_id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, service_id);
	sqlite3_bind_int64(st, 2, d.id);
	return store_step_done(s, st, errstr_r);
}

int store_domain_set_plan(struct store *s, const char *name, enum plan plan, const char **errstr_r)
{
	if ((unsigned)plan >= CONFIG_PLAN_COUNT)
		return store_errf(s, errstr_r, "unknown plan %d", (int)plan);
	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (domain_replan(s, name, plan, errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s, errstr_r);
}

int store_domain_remove(struct store *s, const char *name, const char **errstr_r)
{
	static const char sql_count[] = "SELECT count(*) FROM addresses WHERE domain_id = ?";
	static const char sql_del[] = "DELETE FROM domains WHERE id = ?";
	sqlite3_stmt *st;
	int64_t id, n = 0;

	if (need(s, sql_domain_id, "domain", name, &id, errstr_r) < 0)
		return -1;
	if ((st = store_stmt(s, sql_count, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (store_step_id(s, st, &n, errstr_r) < 0)
		return -1;
	if (n > 0)
		return store_errf(s, errstr_r, "domain %s still has %lld address%s; remove them first", name,
				  (long long)n, n == 1 ? "" : "es");
	if ((st = store_stmt(s, sql_del, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return store_step_done(s, st, errstr_r);
}
