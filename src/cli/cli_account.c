/*
 * cli_account: accounts, the people who log in to the web console and hold
 * access to addresses (`hermod account add|passwd|list|remove`), through
 * the account.* operations. The account password is its own argon2id hash,
 * separate from any address password.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static bool role_valid(const char *text)
{
	return strcmp(text, "owner") == 0 || strcmp(text, "admin") == 0 || strcmp(text, "member") == 0;
}

int cli_account_add(struct cli *c, const struct cli_args *a)
{
	const char *login = a->pos[0], *org = cli_opt_value(a, "org"), *role = cli_opt_value(a, "role");
	json_t *params, *res = NULL;
	int status;

	if (role != NULL && org == NULL)
		return cli_usage_error("--role needs --org");
	if (role != NULL && !role_valid(role))
		return cli_usage_error("role '%s' is not one of owner, admin, member", role);
	params = json_pack("{s:s, s:s?, s:s?, s:b}", "login", login, "org", org, "role", role, "dry_run", 1);
	/* refuse what would fail before asking for a password nobody will use */
	status = cli_call(c, "account.create", params, &res);
	json_decref(res);
	if (status == CLI_OK) {
		json_object_del(params, "dry_run");
		status = cli_call_password(c, "account.create", params, "password", login, a, &res);
	}
	if (status == CLI_OK) {
		printf("added account %s\n", cli_json_str(res, "login"));
		if (org != NULL)
			printf("account %s is %s of organisation %s\n", cli_json_str(res, "login"),
			       cli_json_str(res, "role"), cli_json_str(res, "organisation"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_account_passwd(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s, s:b}", "login", a->pos[0], "dry_run", 1), *res = NULL;
	int status = cli_call(c, "account.password", params, &res);

	json_decref(res);
	if (status == CLI_OK) {
		json_object_del(params, "dry_run");
		status = cli_call_password(c, "account.password", params, "new_password", a->pos[0], a, &res);
	}
	if (status == CLI_OK)
		printf("changed the password of account %s\n", cli_json_str(res, "login"));
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_account_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_object(), *res, *acct;
	int status = cli_call(c, "account.list", params, &res);
	size_t i;

	(void)a;
	if (status == CLI_OK) {
		printf("login\tname\tcreated\n");
		json_array_foreach(json_object_get(res, "accounts"), i, acct)
			printf("%s\t%s\t%s\n", cli_json_str(acct, "login"), cli_json_str(acct, "name"),
			       cli_json_str(acct, "created"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_account_remove(struct cli *c, const struct cli_args *a)
{
	json_t *params, *res;
	int status;

	if (!cli_opt_flag(a, "yes"))
		return cli_usage_error("removing account %s needs --yes", a->pos[0]);
	params = json_pack("{s:s}", "login", a->pos[0]);
	status = cli_call(c, "account.remove", params, &res);
	if (status == CLI_OK)
		printf("removed account %s\n", cli_json_str(res, "removed"));
	json_decref(params);
	json_decref(res);
	return status;
}
