/*
 * store_manage: roles, rights and the action history for src/manage.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"
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

int store_set_sync_normal(struct store *s, const char **errstr_r)
{
	return store_exec(s, "PRAGMA synchronous=NORMAL", errstr_r);
}

int store_address_rehash(struct store *s, int64_t address_id, const char *old_hash, const char *new_hash,
			 const char **errstr_r)
{
	static const char sql[] = "UPDATE addresses SET password_hash = ? WHERE id = ? AND password_hash = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, new_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, address_id);
	sqlite3_bind_text(st, 3, old_hash, -1, SQLITE_STATIC);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
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

/* ---- the core operations ---- */

int store_manage_begin(struct store *s, const char **errstr_r)
{
	return store_begin(s, errstr_r);
}

int store_manage_commit(struct store *s, const char **errstr_r)
{
	return store_commit(s, errstr_r);
}

void store_manage_rollback(struct store *s)
{
	store_rollback(s);
}

static enum org_role role_parse(const char *role)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (role != NULL && strcmp(role, role_names[i]) == 0)
			return (enum org_role)i;
	return ROLE_MEMBER;
}

/* Ends a SELECT loop: 0 when it ran to completion, else the store's error. */
static int rows_done(struct store *s, sqlite3_stmt *st, int rc, const char **errstr_r)
{
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_manage_orgs_of(struct store *s, int64_t account_id,
			 void (*cb)(const struct store_org *org, enum org_role role, void *arg), void *arg,
			 const char **errstr_r)
{
	static const char sql[] = "SELECT o.id, o.name, o.created_at, m.role FROM memberships m"
				  " JOIN orgs o ON o.id = m.org_id WHERE m.account_id = ? ORDER BY o.name";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_org org;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		org.id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, org.name, sizeof(org.name));
		org.created_at = sqlite3_column_int64(st, 2);
		cb(&org, role_parse((const char *)sqlite3_column_text(st, 3)), arg);
	}
	return rows_done(s, st, rc, errstr_r);
}

int store_manage_members(struct store *s, int64_t org_id,
			 void (*cb)(const struct store_account *acct, enum org_role role, void *arg), void *arg,
			 const char **errstr_r)
{
	static const char sql[] = "SELECT a.id, a.login, a.display_name, a.created_at, m.role FROM memberships m"
				  " JOIN accounts a ON a.id = m.account_id WHERE m.org_id = ? ORDER BY a.login";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_account acct;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		acct.id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, acct.login, sizeof(acct.login));
		store_col_copy(st, 2, acct.display_name, sizeof(acct.display_name));
		acct.created_at = sqlite3_column_int64(st, 3);
		cb(&acct, role_parse((const char *)sqlite3_column_text(st, 4)), arg);
	}
	return rows_done(s, st, rc, errstr_r);
}

int store_manage_owner_count(struct store *s, int64_t org_id, int64_t *count_r, const char **errstr_r)
{
	static const char sql[] = "SELECT count(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'";

	*count_r = 0;
	return store_run_id(s, sql, count_r, errstr_r, 1, org_id) < 0 ? -1 : 0;
}

int store_manage_account_email(struct store *s, int64_t account_id, char *email_r, size_t size,
			       const char **errstr_r)
{
	static const char sql[] = "SELECT email FROM accounts WHERE id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	email_r[0] = '\0';
	sqlite3_bind_int64(st, 1, account_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_col_copy(st, 0, email_r, size);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "cannot read an account");
}

int store_manage_account_set_email(struct store *s, int64_t account_id, const char *email, const char **errstr_r)
{
	static const char sql[] = "UPDATE accounts SET email = ? WHERE id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, account_id);
	return store_step_done(s, st, errstr_r);
}

int store_manage_services(struct store *s, int64_t org_id, void (*cb)(const struct store_service *svc, void *arg),
			  void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT ms.id, ms.plan, ms.created_at,"
				  " (SELECT count(*) FROM domains d WHERE d.service_id = ms.id)"
				  " FROM mail_services ms WHERE ms.org_id = ? ORDER BY ms.id";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_service svc;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, org_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		svc.id = sqlite3_column_int64(st, 0);
		svc.plan = PLAN_FREE;
		store_plan_parse((const char *)sqlite3_column_text(st, 1), &svc.plan);
		svc.created_at = sqlite3_column_int64(st, 2);
		svc.domains = sqlite3_column_int64(st, 3);
		cb(&svc, arg);
	}
	return rows_done(s, st, rc, errstr_r);
}

int store_manage_domain_link(struct store *s, int64_t domain_id, int64_t service_id, const char **errstr_r)
{
	static const char sql_check[] = "SELECT count(*) FROM mail_services ms JOIN domains d ON d.org_id = ms.org_id"
					" WHERE ms.id = ?1 AND d.id = ?2";
	static const char sql_link[] = "UPDATE domains SET service_id = nullif(?1, 0) WHERE id = ?2";
	int64_t n = 0;

	if (service_id != 0) {
		if (store_run_id(s, sql_check, &n, errstr_r, 2, service_id, domain_id) < 0)
			return -1;
		if (n == 0)
			return store_errf(s, errstr_r, "mail service %lld does not belong to the domain's organisation",
					  (long long)service_id);
	}
	return store_run(s, sql_link, errstr_r, 2, service_id, domain_id);
}

int store_manage_domain_checks(struct store *s, int64_t domain_id,
			       void (*cb)(const struct store_domain_check *c, void *arg), void *arg,
			       const char **errstr_r)
{
	static const char sql[] = "SELECT record, status, found, expected, checked_at FROM domain_checks"
				  " WHERE domain_id = ? ORDER BY record";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_domain_check c;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, domain_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_col_copy(st, 0, c.record, sizeof(c.record));
		store_col_copy(st, 1, c.status, sizeof(c.status));
		store_col_copy(st, 2, c.found, sizeof(c.found));
		store_col_copy(st, 3, c.expected, sizeof(c.expected));
		c.checked_at = sqlite3_column_int64(st, 4);
		cb(&c, arg);
	}
	return rows_done(s, st, rc, errstr_r);
}

/* ---- address listings ---- */

/* The columns address_row reads, then the grant's perms. */
#define PAGE_COLUMNS                                                                                      \
	"SELECT a.id, a.local, d.name, a.domain_id, a.kind, a.password_hash IS NOT NULL, a.quota_bytes, " \
	"a.used_bytes, a.message_count, a.created_at"
/* The organisations in which ?3 is an owner or admin. */
#define ADMIN_ORGS "(SELECT org_id FROM memberships WHERE account_id = ?3 AND role IN ('owner', 'admin'))"

static const char *const kind_names[] = { "mailbox", "catchall", "noreply", "alias" };

static void address_row(sqlite3_stmt *st, struct store_address *a)
{
	const char *kind = (const char *)sqlite3_column_text(st, 4);

	a->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, a->local, sizeof(a->local));
	store_col_copy(st, 2, a->domain, sizeof(a->domain));
	a->domain_id = sqlite3_column_int64(st, 3);
	a->kind = ADDRESS_MAILBOX;
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (kind != NULL && strcmp(kind, kind_names[i]) == 0)
			a->kind = (enum address_kind)i;
	a->has_password = sqlite3_column_int(st, 5) != 0;
	a->quota_bytes = sqlite3_column_int64(st, 6);
	a->used_bytes = sqlite3_column_int64(st, 7);
	a->message_count = sqlite3_column_int64(st, 8);
	a->created_at = sqlite3_column_int64(st, 9);
}

struct page_rows {
	struct store_address *v;
	unsigned *perms;
	size_t n, cap;
};

/* Runs st (bound), appending its rows (perms from column 10, or PERM_ALL) to rows, at most rows->cap. */
static int page_collect(struct store *s, sqlite3_stmt *st, bool with_perms, struct page_rows *rows,
			const char **errstr_r)
{
	int rc;

	while (rows->n < rows->cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		address_row(st, &rows->v[rows->n]);
		rows->perms[rows->n] = with_perms ? (unsigned)sqlite3_column_int64(st, 10) : (unsigned)PERM_ALL;
		rows->n++;
	}
	if (rows->n == rows->cap)
		rc = SQLITE_DONE;
	return rows_done(s, st, rc, errstr_r);
}

/*
 * The addresses of the domains the account administers (all of them for
 * account 0): first the rest of the cursor's domain, then the domains named
 * after it. Two statements rather than one OR so that each is a plain range
 * on an index: the domains by name, each domain's addresses by
 * (domain_id, local).
 */
static int page_admin(struct store *s, const struct store_address_page *q, struct page_rows *rows,
		      const char **errstr_r)
{
	/* domain_id = (subquery): one index range, where d.name = ?1 may make SQLite sort the whole domain */
	static const char sql_rest[] = PAGE_COLUMNS " FROM addresses a JOIN domains d ON d.id = a.domain_id"
				       " WHERE a.domain_id = (SELECT id FROM domains WHERE name = ?1) AND a.local > ?2"
				       " AND (?3 = 0 OR d.org_id IN " ADMIN_ORGS ") ORDER BY a.local LIMIT ?4";
	static const char sql_next[] = PAGE_COLUMNS " FROM domains d JOIN addresses a ON a.domain_id = d.id"
				       " WHERE d.name > ?1 AND (?2 = 0 OR d.id = ?2)"
				       " AND (?3 = 0 OR d.org_id IN " ADMIN_ORGS ") ORDER BY d.name, a.local LIMIT ?4";
	sqlite3_stmt *st;

	if (q->after_domain != NULL) {
		if ((st = store_stmt(s, sql_rest, errstr_r)) == NULL)
			return -1;
		sqlite3_bind_text(st, 1, q->after_domain, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, q->after_local != NULL ? q->after_local : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, q->account_id);
		sqlite3_bind_int64(st, 4, (int64_t)rows->cap);
		/* with a domain filter, the cursor's domain is that domain or none */
		if (page_collect(s, st, false, rows, errstr_r) < 0)
			return -1;
		if (q->domain_id != 0 || rows->n == rows->cap)
			return 0;
	}
	if ((st = store_stmt(s, sql_next, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, q->after_domain != NULL ? q->after_domain : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, q->domain_id);
	sqlite3_bind_int64(st, 3, q->account_id);
	sqlite3_bind_int64(st, 4, (int64_t)(rows->cap - rows->n));
	return page_collect(s, st, false, rows, errstr_r);
}

/* The addresses granted to the account outside the organisations it administers (few: a sort is fine). */
static int page_granted(struct store *s, const struct store_address_page *q, struct page_rows *rows,
			const char **errstr_r)
{
	static const char sql[] = PAGE_COLUMNS ", x.perms FROM access x JOIN addresses a ON a.id = x.address_id"
				  " JOIN domains d ON d.id = a.domain_id WHERE x.account_id = ?3"
				  " AND (?5 = 0 OR d.id = ?5) AND d.org_id NOT IN " ADMIN_ORGS
				  " AND (d.name, a.local) > (?1, ?2) ORDER BY d.name, a.local LIMIT ?4";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, q->after_domain != NULL ? q->after_domain : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->after_local != NULL ? q->after_local : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, q->account_id);
	sqlite3_bind_int64(st, 4, (int64_t)rows->cap);
	sqlite3_bind_int64(st, 5, q->domain_id);
	return page_collect(s, st, true, rows, errstr_r);
}

/* The order of the listings: NOCASE on both (ASCII case folding, as SQLite's). */
static int page_cmp(const struct store_address *a, const struct store_address *b)
{
	int c = strcasecmp(a->domain, b->domain);

	return c != 0 ? c : strcasecmp(a->local, b->local);
}

static void page_rows_init(struct page_rows *r, size_t cap)
{
	r->v = xcalloc(cap, sizeof(*r->v));
	r->perms = xcalloc(cap, sizeof(*r->perms));
	r->n = 0;
	r->cap = cap;
}

static void page_rows_free(struct page_rows *r)
{
	free(r->v);
	free(r->perms);
}

int store_manage_address_page(struct store *s, const struct store_address_page *q,
			      void (*cb)(const struct store_address *addr, unsigned perms, void *arg), void *arg,
			      const char **errstr_r)
{
	struct page_rows admin, granted;
	size_t i = 0, j = 0, n = 0;
	int rc;

	if (q->limit == 0)
		return 0;
	page_rows_init(&admin, q->limit);
	page_rows_init(&granted, q->account_id != 0 ? q->limit : 1);
	rc = page_admin(s, q, &admin, errstr_r);
	if (rc == 0 && q->account_id != 0)
		rc = page_granted(s, q, &granted, errstr_r);
	/* merge the two ordered lists (disjoint: granted excludes administered organisations) */
	for (; rc == 0 && n < q->limit && (i < admin.n || j < granted.n); n++) {
		if (j == granted.n || (i < admin.n && page_cmp(&admin.v[i], &granted.v[j]) < 0)) {
			cb(&admin.v[i], admin.perms[i], arg);
			i++;
		} else {
			cb(&granted.v[j], granted.perms[j], arg);
			j++;
		}
	}
	page_rows_free(&admin);
	page_rows_free(&granted);
	return rc;
}

int store_manage_granted(struct store *s, int64_t account_id,
			 void (*cb)(const struct store_address *addr, unsigned perms, void *arg), void *arg,
			 const char **errstr_r)
{
	static const char sql[] = PAGE_COLUMNS ", x.perms FROM access x JOIN addresses a ON a.id = x.address_id"
				  " JOIN domains d ON d.id = a.domain_id WHERE x.account_id = ? ORDER BY d.name, a.local";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_address a;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		address_row(st, &a);
		cb(&a, (unsigned)sqlite3_column_int64(st, 10), arg);
	}
	return rows_done(s, st, rc, errstr_r);
}

int store_manage_access_list(struct store *s, int64_t address_id,
			     void (*cb)(const struct store_account *acct, unsigned perms, void *arg), void *arg,
			     const char **errstr_r)
{
	static const char sql[] = "SELECT a.id, a.login, a.display_name, a.created_at, x.perms FROM access x"
				  " JOIN accounts a ON a.id = x.account_id WHERE x.address_id = ? ORDER BY a.login";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_account acct;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		acct.id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, acct.login, sizeof(acct.login));
		store_col_copy(st, 2, acct.display_name, sizeof(acct.display_name));
		acct.created_at = sqlite3_column_int64(st, 3);
		cb(&acct, (unsigned)sqlite3_column_int64(st, 4), arg);
	}
	return rows_done(s, st, rc, errstr_r);
}

int store_manage_access_set(struct store *s, int64_t account_id, int64_t address_id, unsigned perms,
			    int *changed_r, const char **errstr_r)
{
	static const char sql_set[] = "INSERT INTO access (account_id, address_id, perms) VALUES (?1, ?2, ?3)"
				      " ON CONFLICT (account_id, address_id) DO UPDATE SET perms = excluded.perms";
	static const char sql_del[] = "DELETE FROM access WHERE account_id = ?1 AND address_id = ?2";

	if ((perms & ~(unsigned)PERM_ALL) != 0)
		return store_errf(s, errstr_r, "invalid permission set 0x%x", perms);
	if (perms != 0 ? store_run(s, sql_set, errstr_r, 3, account_id, address_id, (int64_t)perms) < 0
		       : store_run(s, sql_del, errstr_r, 2, account_id, address_id) < 0)
		return -1;
	if (changed_r != NULL)
		*changed_r = sqlite3_changes(s->db) > 0;
	return 0;
}

int store_manage_history(struct store *s, int64_t address_id, int64_t before_id, size_t limit,
			 void (*cb)(const struct store_history_entry *e, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT id, at, actor, action, detail, ip FROM history"
				  " WHERE address_id = ?1 AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_history_entry e;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_int64(st, 2, before_id);
	sqlite3_bind_int64(st, 3, (int64_t)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e.id = sqlite3_column_int64(st, 0);
		e.at = sqlite3_column_int64(st, 1);
		store_col_copy(st, 2, e.actor, sizeof(e.actor));
		store_col_copy(st, 3, e.action, sizeof(e.action));
		store_col_copy(st, 4, e.detail, sizeof(e.detail));
		store_col_copy(st, 5, e.ip, sizeof(e.ip));
		cb(&e, arg);
	}
	return rows_done(s, st, rc, errstr_r);
}

int store_manage_catchall(struct store *s, int64_t domain_id, char *local_r, size_t size, const char **errstr_r)
{
	static const char sql[] = "SELECT local FROM addresses WHERE domain_id = ? AND kind = 'catchall'";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, domain_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_col_copy(st, 0, local_r, size);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}
