/*
 * manage_account: accounts, the identities that log in to the Manager.
 *
 * An account password and an address password are two different secrets
 * (the seed's "Difference between identifiers"): changing one never
 * changes the other, and neither opens what the other opens.
 */
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "store/store_manage.h"
#include "store/store_web.h"

#define EMAIL_MAX 320

static void me_org_row(const struct store_org *org, enum org_role role, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s}", "name", org->name, "role", manage_role_name(role)));
}

static void me_address_row(const struct store_address *addr, unsigned perms, void *arg)
{
	json_array_append_new(arg, manage_address_json(addr, perms));
}

/* The account's own facts; -1 with err. */
static int me_account(struct manage_ctx *ctx, struct store_account *acct, char *email, size_t size,
		      struct manage_error *err)
{
	const char *errstr = NULL;

	if (manage_find_account(ctx, ctx->actor.login, acct, err) < 0)
		return -1;
	if (store_manage_account_email(ctx->store, acct->id, email, size, &errstr) < 0)
		return manage_fail_store(err, errstr);
	return 0;
}

/*
 * account.me {} -> {login, name, email, created, organisations: [{name,
 * role}], addresses: [address with the rights granted]}. Owners and admins
 * reach every address of their organisations through address.list.
 */
static int op_account_me(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_account acct;
	char email[EMAIL_MAX + 1];
	json_t *orgs, *addrs;
	const char *errstr = NULL;

	(void)params;
	if (ctx->actor.system) {
		*result_r = json_pack("{s:b, s:s}", "system", 1, "channel",
				      ctx->actor.channel != NULL ? ctx->actor.channel : "cli");
		return 0;
	}
	if (me_account(ctx, &acct, email, sizeof(email), err) < 0)
		return -1;
	orgs = json_array();
	addrs = json_array();
	if (store_manage_orgs_of(ctx->store, acct.id, me_org_row, orgs, &errstr) < 0 ||
	    store_manage_granted(ctx->store, acct.id, me_address_row, addrs, &errstr) < 0) {
		json_decref(orgs);
		json_decref(addrs);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "login", acct.login, "name", acct.display_name,
			      "email", email, "created", manage_time_json(acct.created_at), "organisations", orgs,
			      "addresses", addrs);
	return 0;
}

/* Whose password account.password changes: the caller's, or (the operator only) `login`'s. */
static int password_target(struct manage_ctx *ctx, json_t *params, const char **login_r, struct manage_error *err)
{
	const char *login;

	if (manage_param_str(params, "login", false, 1024, &login, err) < 0)
		return -1;
	if (ctx->actor.system) {
		if (login == NULL)
			return manage_fail_field(err, "login", "login is required");
		*login_r = login;
		return 0;
	}
	if (login != NULL && strcasecmp(login, ctx->actor.login) != 0)
		return manage_fail(err, MANAGE_FORBIDDEN, "own_account_only",
				   "an account changes its own password only");
	*login_r = ctx->actor.login;
	return 0;
}

/*
 * account.password {current_password, new_password} -> {login}. The system
 * actor gives {login, new_password} instead. Address passwords stay as
 * they are.
 */
static int op_account_password(struct manage_ctx *ctx, json_t *params, json_t **result_r,
			       struct manage_error *err)
{
	struct store_account acct;
	char hash[PASSWORD_HASH_MAX];
	const char *login = NULL, *errstr = NULL;

	bool dry_run;

	if (password_target(ctx, params, &login, err) < 0 || manage_find_account(ctx, login, &acct, err) < 0 ||
	    manage_param_bool(params, "dry_run", false, &dry_run, err) < 0)
		return -1;
	if (dry_run) {
		*result_r = json_pack("{s:s, s:b}", "login", acct.login, "dry_run", 1);
		return 0;
	}
	/* both argon2 runs before the write lock */
	if (manage_check_account_password(ctx, params, "current_password", err) < 0 ||
	    manage_hash_param(params, "new_password", hash, err) < 0)
		return -1;
	/*
	 * A new password ends the account's other browser sessions: whoever
	 * knew the old one is logged out (the session making the change
	 * stays; API tokens are revoked one by one, they are not passwords).
	 */
	if (store_account_set_password(ctx->store, acct.login, hash, &errstr) < 0 ||
	    store_web_sessions_end(ctx->store, acct.id, ctx->actor.session_id, &errstr) < 0)
		return manage_fail_store(err, errstr);
	log_info("manage event=account-password login=%s by=\"%s\" channel=%s", acct.login, manage_actor_name(ctx),
		 ctx->actor.channel != NULL ? ctx->actor.channel : "");
	*result_r = json_pack("{s:s}", "login", acct.login);
	return 0;
}

struct account_new {
	const char *login;
	const char *email;
	const char *org;       /* NULL: none */
	enum org_role role;
};

/*
 * Who may create accounts: the operator, and an organisation's owners and
 * admins for their organisation (owners only make owners).
 */
static int create_allowed(struct manage_ctx *ctx, const struct account_new *n, struct manage_error *err)
{
	struct store_org org;
	enum org_role role;

	if (n->org == NULL)
		return ctx->actor.system ? 0
					 : manage_fail_field(err, "org",
							     "org is required: an account is created into one of your "
							     "organisations");
	if (manage_find_org(ctx, n->org, ROLE_ADMIN, &org, &role, err) < 0)
		return -1;
	if (n->role == ROLE_OWNER && role != ROLE_OWNER)
		return manage_fail(err, MANAGE_FORBIDDEN, "role_required",
				   "only an owner of organisation %s makes owners", org.name);
	return 0;
}

static int account_new_params(json_t *params, struct account_new *n, struct manage_error *err)
{
	const char *role = NULL;

	memset(n, 0, sizeof(*n));
	n->role = ROLE_MEMBER;
	if (manage_param_str(params, "login", true, 1024, &n->login, err) < 0 ||
	    manage_check_login(n->login, "login", err) < 0 ||
	    manage_param_str(params, "email", false, EMAIL_MAX, &n->email, err) < 0 ||
	    manage_param_str(params, "org", false, 1024, &n->org, err) < 0 ||
	    manage_param_str(params, "role", false, 16, &role, err) < 0)
		return -1;
	if (role != NULL && n->org == NULL)
		return manage_fail_field(err, "role", "role needs org");
	if (role != NULL && manage_role_parse(role, &n->role) < 0)
		return manage_fail_field(err, "role", "role '%s' is not one of owner, admin, member", role);
	return 0;
}

static int account_absent(struct manage_ctx *ctx, const char *login, struct manage_error *err)
{
	struct store_account acct;
	const char *errstr = NULL;
	int rc = store_account_get(ctx->store, login, &acct, &errstr);

	if (rc != 0)
		return rc < 0 ? manage_fail_store(err, errstr)
			      : manage_fail(err, MANAGE_CONFLICT, "account_exists", "account %s already exists", login);
	return 0;
}

static int account_insert(struct manage_ctx *ctx, const struct account_new *n, const char *hash,
			  struct manage_error *err)
{
	const char *errstr = NULL;
	int64_t id;

	if (account_absent(ctx, n->login, err) < 0)
		return -1;
	if (store_account_add(ctx->store, n->login, hash, &id, &errstr) < 0 ||
	    (n->email != NULL && store_manage_account_set_email(ctx->store, id, n->email, &errstr) < 0) ||
	    (n->org != NULL && store_member_set(ctx->store, n->org, n->login, n->role, &errstr) < 0))
		return manage_fail_store(err, errstr);
	return 0;
}

/*
 * account.create {login, password, email?, org?, role?, dry_run?} -> {login,
 * organisation, role}. The checks run before the password is hashed so a
 * refusal is quick; dry_run stops after them (the command line asks for a
 * password only when it would be used).
 */
static int op_account_create(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct account_new n;
	char hash[PASSWORD_HASH_MAX];
	bool dry_run;
	int rc;

	if (account_new_params(params, &n, err) < 0 || manage_param_bool(params, "dry_run", false, &dry_run, err) < 0 ||
	    account_absent(ctx, n.login, err) < 0 || create_allowed(ctx, &n, err) < 0)
		return -1;
	if (dry_run) {
		*result_r = json_pack("{s:s, s:b}", "login", n.login, "dry_run", 1);
		return 0;
	}
	if (manage_hash_param(params, "password", hash, err) < 0 || manage_txn_begin(ctx, err) < 0)
		return -1;
	/* the organisation again, inside the transaction: it may have gone meanwhile */
	rc = create_allowed(ctx, &n, err);
	if (rc == 0)
		rc = account_insert(ctx, &n, hash, err);
	if (rc == 0) {
		*result_r = json_pack("{s:s, s:s?, s:s?}", "login", n.login, "organisation", n.org, "role",
				      n.org != NULL ? manage_role_name(n.role) : NULL);
		log_info("manage event=account-created login=%s by=\"%s\"", n.login, manage_actor_name(ctx));
	}
	return manage_txn_end(ctx, rc, result_r, err);
}

/* The operator only: accounts are people's, an organisation sees its members (member.list). */
static int need_operator(struct manage_ctx *ctx, struct manage_error *err)
{
	if (ctx->actor.system)
		return 0;
	return manage_fail(err, MANAGE_FORBIDDEN, "operator_only",
			   "only the operator (the command line) lists or removes accounts");
}

static void account_row(const struct store_account *acct, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:o}", "login", acct->login, "name", acct->display_name,
					     "created", manage_time_json(acct->created_at)));
}

/* account.list {} -> {accounts: [{login, name, created}]} (the operator) */
static int op_account_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	json_t *list;
	const char *errstr = NULL;

	(void)params;
	if (need_operator(ctx, err) < 0)
		return -1;
	list = json_array();
	if (store_account_list(ctx->store, account_row, list, &errstr) < 0) {
		json_decref(list);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:o}", "accounts", list);
	return 0;
}

/* account.remove {login} -> {removed} (the operator; memberships and grants go with it) */
static int op_account_remove(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_account acct;
	const char *login, *errstr = NULL;
	int rc;

	if (need_operator(ctx, err) < 0 || manage_param_str(params, "login", true, 1024, &login, err) < 0 ||
	    manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = manage_find_account(ctx, login, &acct, err);
	if (rc == 0 && store_account_remove(ctx->store, acct.login, &errstr) < 0)
		rc = manage_fail_store(err, errstr);
	if (rc == 0) {
		*result_r = json_pack("{s:s}", "removed", acct.login);
		log_info("manage event=account-removed login=%s channel=%s", acct.login,
			 ctx->actor.channel != NULL ? ctx->actor.channel : "");
	}
	return manage_txn_end(ctx, rc, result_r, err);
}

const struct manage_op manage_account_ops[] = {
	{ "account.me", op_account_me, false, false,
	  "The caller's account: login, email, organisations with roles, addresses with rights" },
	{ "account.password", op_account_password, true, false,
	  "Change the caller's account password {current_password, new_password}; address passwords stay" },
	{ "account.create", op_account_create, true, false,
	  "Create an account {login, password, email, org, role, dry_run} (owner/admin of org, or the operator)" },
	{ "account.list", op_account_list, false, false, "Every account (the operator)" },
	{ "account.remove", op_account_remove, true, false, "Remove an account {login} (the operator)" },
	{ NULL, NULL, false, false, NULL },
};
