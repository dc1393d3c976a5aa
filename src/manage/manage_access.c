/*
 * manage_access: which accounts may use an address, with which rights.
 *
 * Managing access is itself a right ("access"). Nobody hands out more than
 * they hold: a grant may only contain rights the granter has, and a grant
 * holding rights the actor lacks is not the actor's to change or revoke.
 * Outside the system actor, only members of the address's organisation
 * receive grants (others are invited first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "store/store_manage.h"

#define ADDR_TEXT_MAX (MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2)

static void access_row(const struct store_account *acct, unsigned perms, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:o}", "login", acct->login, "name", acct->display_name,
					     "rights", manage_perms_json(perms)));
}

/* access.list {address} -> {address, access: [{login, name, rights}]} (right: access) */
static int op_access_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	const char *errstr = NULL;
	json_t *list;

	if (manage_param_address(params, "address", text, NULL, NULL, err) < 0 ||
	    manage_need_address(ctx, text, PERM_MANAGE_ACCESS, &addr, err) < 0)
		return -1;
	list = json_array();
	if (store_manage_access_list(ctx->store, addr.id, access_row, list, &errstr) < 0) {
		json_decref(list);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:s, s:o}", "address", text, "access", list);
	return 0;
}

struct grant {
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	struct store_account acct;
	unsigned mine;    /* the actor's rights on the address */
	unsigned current; /* the account's grant now (0: none) */
};

/* The address (needs "access"), the account, and both sets of rights. */
static int grant_lookup(struct manage_ctx *ctx, json_t *params, struct grant *g, struct manage_error *err)
{
	const char *login, *errstr = NULL;

	if (manage_param_address(params, "address", g->text, NULL, NULL, err) < 0 ||
	    manage_param_str(params, "login", true, 1024, &login, err) < 0 ||
	    manage_need_address(ctx, g->text, PERM_MANAGE_ACCESS, &g->addr, err) < 0 ||
	    manage_address_perms(ctx, g->addr.id, &g->mine, err) < 0 || manage_find_account(ctx, login, &g->acct, err) < 0)
		return -1;
	if (store_access_perms(ctx->store, g->acct.id, g->addr.id, &g->current, &errstr) < 0)
		return manage_fail_store(err, errstr);
	/* a grant with rights beyond the actor's is someone else's to change */
	if ((g->current & ~g->mine) != 0)
		return manage_fail(err, MANAGE_FORBIDDEN, "permission_denied",
				   "account %s holds the right '%s' on %s, which you lack", g->acct.login,
				   manage_perm_name(g->current & ~g->mine), g->text);
	return 0;
}

/* Only members of the address's organisation receive grants (the operator excepted). */
static int grantee_member(struct manage_ctx *ctx, const struct grant *g, struct manage_error *err)
{
	const char *errstr = NULL;
	enum org_role role;
	int64_t org_id;
	int rc;

	if (ctx->actor.system)
		return 0;
	if (store_address_org(ctx->store, g->addr.id, &org_id, &errstr) < 0 ||
	    (rc = store_member_role(ctx->store, org_id, g->acct.id, &role, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_CONFLICT, "not_a_member",
				   "account %s is not a member of the organisation of %s: invite them instead",
				   g->acct.login, g->text);
	return 0;
}

static int grant_in_txn(struct manage_ctx *ctx, json_t *params, unsigned perms, json_t **result_r,
			struct manage_error *err)
{
	struct grant g;
	const char *errstr = NULL;

	if (grant_lookup(ctx, params, &g, err) < 0 || grantee_member(ctx, &g, err) < 0)
		return -1;
	if ((perms & ~g.mine) != 0)
		return manage_fail(err, MANAGE_FORBIDDEN, "permission_denied",
				   "you cannot grant the right '%s' on %s: you lack it", manage_perm_name(perms & ~g.mine),
				   g.text);
	if (store_manage_access_set(ctx->store, g.acct.id, g.addr.id, perms, NULL, &errstr) < 0)
		return manage_fail_store(err, errstr);
	json_t *rights = manage_perms_json(perms);
	char *shown = json_dumps(rights, JSON_COMPACT);
	manage_history(ctx, g.addr.id, "access.grant", "granted %s to %s", shown != NULL ? shown : "?", g.acct.login);
	free(shown);
	*result_r = json_pack("{s:s, s:s, s:o}", "address", g.text, "login", g.acct.login, "rights", rights);
	return 0;
}

/* access.grant {address, login, perms (names; default read,send)} -> {address, login, rights} */
static int op_access_grant(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	json_t *value = json_object_get(params, "perms");
	unsigned perms = PERM_READ | PERM_SEND;
	int rc;

	if (value != NULL && !json_is_null(value) && manage_perms_parse(value, "perms", &perms, err) < 0)
		return -1;
	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = grant_in_txn(ctx, params, perms, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

static int revoke_in_txn(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct grant g;
	const char *errstr = NULL;
	int changed = 0;

	if (grant_lookup(ctx, params, &g, err) < 0)
		return -1;
	if (store_manage_access_set(ctx->store, g.acct.id, g.addr.id, 0, &changed, &errstr) < 0)
		return manage_fail_store(err, errstr);
	if (!changed)
		return manage_fail(err, MANAGE_NOT_FOUND, "access_not_found", "account %s has no access to %s",
				   g.acct.login, g.text);
	manage_history(ctx, g.addr.id, "access.revoke", "revoked the access of %s", g.acct.login);
	*result_r = json_pack("{s:s, s:s}", "address", g.text, "revoked", g.acct.login);
	return 0;
}

/* access.revoke {address, login} -> {address, revoked} */
static int op_access_revoke(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	int rc;

	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = revoke_in_txn(ctx, params, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

const struct manage_op manage_access_ops[] = {
	{ "access.list", op_access_list, false, false, "Who may use an address {address}, with which rights (right: access)" },
	{ "access.grant", op_access_grant, true, false,
	  "Grant an account rights on an address {address, login, perms} (right: access; only rights you hold)" },
	{ "access.revoke", op_access_revoke, true, false, "Revoke an account's access to an address {address, login}" },
	{ NULL, NULL, false, false, NULL },
};
