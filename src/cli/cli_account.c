/*
 * cli_account: accounts, the people who log in to the web console and hold
 * access to addresses (`hermod account add|passwd|list|remove`). The
 * account password is its own argon2id hash, separate from any address
 * password.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "auth/password.h"

#define CLI_LOGIN_MAX (sizeof(((struct store_account *)0)->login) - 1)

/* Logins are typed at login prompts: visible ASCII only, no spaces. */
static int check_login(const char *login)
{
	size_t len = strlen(login);

	if (len == 0 || len > CLI_LOGIN_MAX)
		return cli_error("login must have 1 to %zu characters", CLI_LOGIN_MAX);
	for (const unsigned char *p = (const unsigned char *)login; *p != '\0'; p++) {
		if (*p >= 0x80)
			return cli_error("login '%s' is not valid: accented characters are not allowed", login);
		if (*p <= 0x20 || *p == 0x7f)
			return cli_error("login '%s' is not valid: spaces and control characters are not allowed",
					 login);
	}
	return 0;
}

static int parse_role(const char *text, enum org_role *role_r)
{
	static const char *const names[] = { "owner", "admin", "member" };
	static const enum org_role roles[] = { ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER };

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(text, names[i]) == 0) {
			*role_r = roles[i];
			return 0;
		}
	}
	return -1;
}

/* 1 exists, 0 not, -1 error (printed). */
static int account_exists(struct cli *c, const char *login)
{
	struct store_account acct;
	const char *errstr = NULL;
	int r = store_account_get(c->store, login, &acct, &errstr);

	if (r < 0)
		cli_error("%s", errstr);
	return r;
}

/* 1 exists, 0 not, -1 error; both 0 and -1 are printed. */
static int org_exists(struct cli *c, const char *name)
{
	struct store_org org;
	const char *errstr = NULL;
	int r = store_org_get(c->store, name, &org, &errstr);

	if (r < 0)
		cli_error("%s", errstr);
	else if (r == 0)
		cli_error("no organisation %s", name);
	return r;
}

static int add_membership(struct cli *c, const char *login, const char *org, const char *role_name)
{
	enum org_role role = ROLE_MEMBER;
	const char *errstr = NULL;

	if (role_name != NULL)
		parse_role(role_name, &role);
	if (store_member_set(c->store, org, login, role, &errstr) < 0)
		return cli_error("account %s was added, but not to organisation %s: %s", login, org, errstr);
	printf("account %s is %s of organisation %s\n", login, role_name != NULL ? role_name : "member", org);
	return CLI_OK;
}

int cli_account_add(struct cli *c, const struct cli_args *a)
{
	const char *login = a->pos[0], *org = cli_opt_value(a, "org"), *role = cli_opt_value(a, "role");
	const char *errstr = NULL;
	enum org_role unused;
	char hash[PASSWORD_HASH_MAX];

	if (role != NULL && org == NULL)
		return cli_usage_error("--role needs --org");
	if (role != NULL && parse_role(role, &unused) < 0)
		return cli_usage_error("role '%s' is not one of owner, admin, member", role);
	if (check_login(login) != 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	/* Refuse what would fail before asking for a password nobody will use. */
	int exists = account_exists(c, login);
	if (exists != 0)
		return exists < 0 ? CLI_ERROR : cli_error("account %s already exists", login);
	if (org != NULL && org_exists(c, org) != 1)
		return CLI_ERROR;
	if (cli_password_read_hash(a, login, hash, sizeof(hash)) < 0)
		return CLI_ERROR;
	if (store_account_add(c->store, login, hash, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("added account %s\n", login);
	return org != NULL ? add_membership(c, login, org, role) : CLI_OK;
}

int cli_account_passwd(struct cli *c, const struct cli_args *a)
{
	const char *login = a->pos[0], *errstr = NULL;
	char hash[PASSWORD_HASH_MAX];

	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	int exists = account_exists(c, login);
	if (exists != 1)
		return exists < 0 ? CLI_ERROR : cli_error("no account %s", login);
	if (cli_password_read_hash(a, login, hash, sizeof(hash)) < 0)
		return CLI_ERROR;
	if (store_account_set_password(c->store, login, hash, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("changed the password of account %s\n", login);
	return CLI_OK;
}

static void print_account(const struct store_account *acct, void *arg)
{
	char created[32];

	(void)arg;
	cli_format_time(acct->created_at, created, sizeof(created));
	printf("%s\t%s\t%s\n", acct->login, acct->display_name, created);
}

int cli_account_list(struct cli *c, const struct cli_args *a)
{
	const char *errstr = NULL;

	(void)a;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	printf("login\tname\tcreated\n");
	if (store_account_list(c->store, print_account, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	return CLI_OK;
}

int cli_account_remove(struct cli *c, const struct cli_args *a)
{
	const char *login = a->pos[0], *errstr = NULL;

	if (!cli_opt_flag(a, "yes"))
		return cli_usage_error("removing account %s needs --yes", login);
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_account_remove(c->store, login, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("removed account %s\n", login);
	return CLI_OK;
}
