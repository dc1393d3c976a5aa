/*
 * manage_org: organisations, their members and their mail services.
 *
 * Who may do what (manage.h has the general rules): anyone with an account
 * creates an organisation and becomes its owner; its members see it, its
 * members and its services; owners and admins manage members, but only an
 * owner makes, unmakes or removes an owner, and an organisation never loses
 * its last owner (nobody could manage it any more); only an owner removes
 * the organisation, once it has no domains.
 */
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "store/store_manage.h"

#define ORG_NAME_MAX (sizeof(((struct store_org *)0)->name) - 1)

static void org_row(const struct store_org *org, enum org_role role, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:o}", "name", org->name, "role", manage_role_name(role),
					     "created", manage_time_json(org->created_at)));
}

static void org_row_system(const struct store_org *org, void *arg)
{
	org_row(org, ROLE_OWNER, arg);
}

/* org.list {} -> {organisations: [{name, role, created}]} */
static int op_org_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	json_t *orgs = json_array();
	const char *errstr = NULL;
	int rc;

	(void)params;
	if (ctx->actor.system)
		rc = store_org_list(ctx->store, org_row_system, orgs, &errstr);
	else
		rc = store_manage_orgs_of(ctx->store, ctx->actor.account_id, org_row, orgs, &errstr);
	if (rc < 0) {
		json_decref(orgs);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:o}", "organisations", orgs);
	return 0;
}

static int org_create(struct manage_ctx *ctx, const char *name, struct manage_error *err)
{
	const char *errstr = NULL;
	struct store_org org;
	int rc = store_org_get(ctx->store, name, &org, &errstr);

	if (rc != 0)
		return rc < 0 ? manage_fail_store(err, errstr)
			      : manage_fail(err, MANAGE_CONFLICT, "organisation_exists",
					    "organisation %s already exists", name);
	if (store_org_add(ctx->store, name, NULL, &errstr) < 0)
		return manage_fail_store(err, errstr);
	/* the creator owns what it created */
	if (!ctx->actor.system && store_member_set(ctx->store, name, ctx->actor.login, ROLE_OWNER, &errstr) < 0)
		return manage_fail_store(err, errstr);
	return 0;
}

/* org.create {name} -> {name, role} */
static int op_org_create(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	const char *name;
	int rc;

	if (manage_param_str(params, "name", true, 1024, &name, err) < 0 ||
	    manage_check_name("organisation", name, "name", ORG_NAME_MAX, err) < 0)
		return -1;
	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = org_create(ctx, name, err);
	if (rc == 0) {
		*result_r = json_pack("{s:s, s:s}", "name", name, "role", "owner");
		log_info("manage event=org-created org=\"%s\" by=\"%s\"", name, manage_actor_name(ctx));
	}
	return manage_txn_end(ctx, rc, result_r, err);
}

struct org_get {
	int64_t org_id;
	json_t *domains;
};

static void org_domain_row(const struct store_domain *d, void *arg)
{
	struct org_get *g = arg;

	if (d->org_id == g->org_id)
		json_array_append_new(g->domains, manage_domain_json(d));
}

/* org.get {org} -> {name, role, created, domains: [...]} */
static int op_org_get(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_org org;
	enum org_role role;
	struct org_get g;
	const char *name, *errstr = NULL;

	if (manage_param_str(params, "org", true, 1024, &name, err) < 0 ||
	    manage_find_org(ctx, name, ROLE_MEMBER, &org, &role, err) < 0)
		return -1;
	g.org_id = org.id;
	g.domains = json_array();
	/* few domains per installation compared with addresses: a filter is fine */
	if (store_domain_list(ctx->store, org_domain_row, &g, &errstr) < 0) {
		json_decref(g.domains);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:s, s:s, s:o, s:o}", "name", org.name, "role", manage_role_name(role), "created",
			      manage_time_json(org.created_at), "domains", g.domains);
	return 0;
}

/* org.remove {org} -> {removed} (owner; the organisation must have no domains left) */
static int op_org_remove(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_org org;
	const char *name, *errstr = NULL;
	int rc = 0;

	if (manage_param_str(params, "org", true, 1024, &name, err) < 0 || manage_txn_begin(ctx, err) < 0)
		return -1;
	if (manage_find_org(ctx, name, ROLE_OWNER, &org, NULL, err) < 0)
		rc = -1;
	else if (store_org_remove(ctx->store, org.name, &errstr) < 0)
		rc = manage_fail(err, MANAGE_CONFLICT, "organisation_not_empty", "%s", errstr);
	if (rc == 0) {
		*result_r = json_pack("{s:s}", "removed", org.name);
		log_info("manage event=org-removed org=\"%s\" by=\"%s\"", org.name, manage_actor_name(ctx));
	}
	return manage_txn_end(ctx, rc, result_r, err);
}

/* ---- members ---- */

static void member_row(const struct store_account *acct, enum org_role role, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:s}", "login", acct->login, "name", acct->display_name,
					     "role", manage_role_name(role)));
}

/* member.list {org} -> {members: [{login, name, role}]} */
static int op_member_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_org org;
	json_t *members;
	const char *name, *errstr = NULL;

	if (manage_param_str(params, "org", true, 1024, &name, err) < 0 ||
	    manage_find_org(ctx, name, ROLE_MEMBER, &org, NULL, err) < 0)
		return -1;
	members = json_array();
	if (store_manage_members(ctx->store, org.id, member_row, members, &errstr) < 0) {
		json_decref(members);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:s, s:o}", "organisation", org.name, "members", members);
	return 0;
}

/* Refuses to leave org without an owner when the account (now `old`) stops being one. */
static int keep_an_owner(struct manage_ctx *ctx, const struct store_org *org, const char *login, struct manage_error *err)
{
	const char *errstr = NULL;
	int64_t owners = 0;

	if (store_manage_owner_count(ctx->store, org->id, &owners, &errstr) < 0)
		return manage_fail_store(err, errstr);
	if (owners <= 1)
		return manage_fail(err, MANAGE_CONFLICT, "last_owner",
				   "%s is the last owner of organisation %s: make another member owner first", login,
				   org->name);
	return 0;
}

/*
 * The rules for changing login's membership from `old` (rc_old 0: none) to
 * `new_role` (or removing it when remove): owners and admins manage members;
 * only an owner touches an owner; the last owner stays.
 */
static int member_change_allowed(struct manage_ctx *ctx, const struct store_org *org, enum org_role actor_role,
				 const char *login, int had, enum org_role old, bool remove, enum org_role new_role,
				 struct manage_error *err)
{
	bool self = !ctx->actor.system && strcasecmp(login, ctx->actor.login) == 0;
	bool touches_owner = (had && old == ROLE_OWNER) || (!remove && new_role == ROLE_OWNER);

	/* a member may leave on its own */
	if (!(remove && self) && actor_role > ROLE_ADMIN)
		return manage_fail(err, MANAGE_FORBIDDEN, "role_required",
				   "only an owner or an admin of organisation %s manages its members", org->name);
	if (touches_owner && actor_role != ROLE_OWNER)
		return manage_fail(err, MANAGE_FORBIDDEN, "role_required",
				   "only an owner of organisation %s makes or changes owners", org->name);
	if (had && old == ROLE_OWNER && (remove || new_role != ROLE_OWNER))
		return keep_an_owner(ctx, org, login, err);
	return 0;
}

/* Looks the organisation, the actor's role, the account and its current role up. */
static int member_lookup(struct manage_ctx *ctx, json_t *params, struct store_org *org, enum org_role *actor_role,
			 struct store_account *acct, int *had_r, enum org_role *old_r, struct manage_error *err)
{
	const char *org_name, *login, *errstr = NULL;

	if (manage_param_str(params, "org", true, 1024, &org_name, err) < 0 ||
	    manage_param_str(params, "login", true, 1024, &login, err) < 0)
		return -1;
	if (manage_find_org(ctx, org_name, ROLE_MEMBER, org, actor_role, err) < 0 ||
	    manage_find_account(ctx, login, acct, err) < 0)
		return -1;
	*had_r = store_member_role(ctx->store, org->id, acct->id, old_r, &errstr);
	return *had_r < 0 ? manage_fail_store(err, errstr) : 0;
}

static int member_set(struct manage_ctx *ctx, json_t *params, enum org_role role, json_t **result_r,
		      struct manage_error *err)
{
	struct store_org org;
	struct store_account acct;
	enum org_role actor_role, old = ROLE_MEMBER;
	const char *errstr = NULL;
	int had;

	if (member_lookup(ctx, params, &org, &actor_role, &acct, &had, &old, err) < 0 ||
	    member_change_allowed(ctx, &org, actor_role, acct.login, had, old, false, role, err) < 0)
		return -1;
	if (store_member_set(ctx->store, org.name, acct.login, role, &errstr) < 0)
		return manage_fail_store(err, errstr);
	log_info("manage event=member-set org=\"%s\" login=%s role=%s by=\"%s\"", org.name, acct.login,
		 manage_role_name(role), manage_actor_name(ctx));
	*result_r = json_pack("{s:s, s:s, s:s}", "organisation", org.name, "login", acct.login, "role",
			      manage_role_name(role));
	return 0;
}

/* member.set {org, login, role owner|admin|member} -> {organisation, login, role} */
static int op_member_set(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	enum org_role role;
	const char *role_name;
	int rc;

	if (manage_param_str(params, "role", true, 16, &role_name, err) < 0)
		return -1;
	if (manage_role_parse(role_name, &role) < 0)
		return manage_fail_field(err, "role", "role '%s' is not one of owner, admin, member", role_name);
	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = member_set(ctx, params, role, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

static int member_remove(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_org org;
	struct store_account acct;
	enum org_role actor_role, old = ROLE_MEMBER;
	const char *errstr = NULL;
	int had;

	if (member_lookup(ctx, params, &org, &actor_role, &acct, &had, &old, err) < 0)
		return -1;
	if (!had)
		return manage_fail(err, MANAGE_NOT_FOUND, "member_not_found",
				   "account %s is not a member of organisation %s", acct.login, org.name);
	if (member_change_allowed(ctx, &org, actor_role, acct.login, had, old, true, ROLE_MEMBER, err) < 0)
		return -1;
	if (store_member_remove(ctx->store, org.name, acct.login, &errstr) < 0)
		return manage_fail_store(err, errstr);
	log_info("manage event=member-removed org=\"%s\" login=%s by=\"%s\"", org.name, acct.login,
		 manage_actor_name(ctx));
	*result_r = json_pack("{s:s, s:s}", "organisation", org.name, "removed", acct.login);
	return 0;
}

/* member.remove {org, login} -> {organisation, removed} */
static int op_member_remove(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	int rc;

	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = member_remove(ctx, params, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

/* ---- mail services ---- */

static void service_row(const struct store_service *svc, void *arg)
{
	json_array_append_new(arg, json_pack("{s:I, s:s, s:I, s:o}", "id", (json_int_t)svc->id, "plan",
					     config_plan_name(svc->plan), "domains", (json_int_t)svc->domains,
					     "created", manage_time_json(svc->created_at)));
}

/* service.list {org} -> {services: [{id, plan, domains, created}]} */
static int op_service_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_org org;
	json_t *services;
	const char *name, *errstr = NULL;

	if (manage_param_str(params, "org", true, 1024, &name, err) < 0 ||
	    manage_find_org(ctx, name, ROLE_MEMBER, &org, NULL, err) < 0)
		return -1;
	services = json_array();
	if (store_manage_services(ctx->store, org.id, service_row, services, &errstr) < 0) {
		json_decref(services);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:s, s:o}", "organisation", org.name, "services", services);
	return 0;
}

const struct manage_op manage_org_ops[] = {
	{ "org.list", op_org_list, false, false, "The organisations the caller belongs to, with its role" },
	{ "org.create", op_org_create, true, false, "Create an organisation {name}; the caller becomes its owner" },
	{ "org.get", op_org_get, false, false, "An organisation {org}: the caller's role and its domains" },
	{ "org.remove", op_org_remove, true, false, "Remove an organisation {org} without domains (owner)" },
	{ "member.list", op_member_list, false, false, "The members of an organisation {org} and their roles" },
	{ "member.set", op_member_set, true, false,
	  "Add a member or change its role {org, login, role owner|admin|member} (owner/admin; owners by owners)" },
	{ "member.remove", op_member_remove, true, false,
	  "Remove a member {org, login} (owner/admin, or oneself; never the last owner)" },
	{ "service.list", op_service_list, false, false, "The mail services of an organisation {org} and their plans" },
	{ NULL, NULL, false, false, NULL },
};
