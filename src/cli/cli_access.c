/*
 * cli_access: which accounts may use which addresses, and how (`hermod
 * access grant|revoke|list`), through the access.* operations.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manage/manage.h"

/* Rights as the command line shows them: the seven settings rights as one word when all are there. */
static void format_perms(unsigned perms, char *out, size_t size)
{
	static const unsigned order[] = { PERM_READ, PERM_SEND, PERM_SETTINGS, PERM_MANAGE_ACCESS, PERM_DEVICES,
					  PERM_AUTOREPLY, PERM_SIGNATURES, PERM_REDIRECTIONS, PERM_ALIASES,
					  PERM_FILTERS, PERM_FOLDERS, PERM_SENDERS, PERM_HISTORY, PERM_RESTORE };
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && len < size; i++) {
		if ((perms & order[i]) != order[i])
			continue;
		const char *name = order[i] == PERM_SETTINGS ? "settings" : manage_perm_name(order[i]);
		len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "", name);
		perms &= ~order[i];
	}
}

/* The rights of a result ("rights": [names]) as a bit set. */
static unsigned result_perms(json_t *res)
{
	struct manage_error err;
	unsigned perms = 0;

	if (manage_perms_parse(json_object_get(res, "rights"), "rights", &perms, &err) < 0)
		return 0;
	return perms;
}

int cli_access_grant(struct cli *c, const struct cli_args *a)
{
	const char *perms_text = cli_opt_value(a, "perms");
	struct manage_error err;
	json_t *params, *res;
	unsigned perms;
	char shown[200];
	int status;

	params = json_pack("{s:s, s:s, s:s}", "login", a->pos[0], "address", a->pos[1], "perms",
			   perms_text != NULL ? perms_text : "read,send");
	if (params == NULL)
		return cli_error("the arguments must be valid UTF-8");
	/* an unknown right is a usage error, before anything is looked up */
	if (manage_perms_parse(json_object_get(params, "perms"), "perms", &perms, &err) < 0) {
		json_decref(params);
		return cli_usage_error("%s", err.message);
	}
	status = cli_call(c, "access.grant", params, &res);
	if (status == CLI_OK) {
		format_perms(result_perms(res), shown, sizeof(shown));
		printf("account %s may now use %s: %s\n", cli_json_str(res, "login"), cli_json_str(res, "address"), shown);
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_access_revoke(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s, s:s}", "login", a->pos[0], "address", a->pos[1]), *res;
	int status = cli_call(c, "access.revoke", params, &res);

	if (status == CLI_OK)
		printf("account %s no longer has access to %s\n", cli_json_str(res, "revoked"), cli_json_str(res, "address"));
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_access_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res, *g;
	char shown[200];
	size_t i;
	int status = cli_call(c, "access.list", params, &res);

	if (status == CLI_OK) {
		printf("login\trights\n");
		json_array_foreach(json_object_get(res, "access"), i, g) {
			format_perms(result_perms(g), shown, sizeof(shown));
			printf("%s\t%s\n", cli_json_str(g, "login"), shown);
		}
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_history(struct cli *c, const struct cli_args *a)
{
	const char *limit_text = cli_opt_value(a, "limit");
	long long limit = limit_text != NULL ? atoll(limit_text) : 50;
	json_t *params, *res, *e;
	size_t i;
	int status;

	if (limit < 1 || limit > 1000)
		return cli_usage_error("--limit takes a number from 1 to 1000");
	params = json_pack("{s:s, s:I}", "address", a->pos[0], "limit", (json_int_t)limit);
	status = cli_call(c, "history.list", params, &res);
	if (status == CLI_OK) {
		printf("at\tactor\taction\tdetail\tip\n");
		json_array_foreach(json_object_get(res, "entries"), i, e)
			printf("%s\t%s\t%s\t%s\t%s\n", cli_json_str(e, "at"), cli_json_str(e, "actor"),
			       cli_json_str(e, "action"), cli_json_str(e, "detail"), cli_json_str(e, "ip"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}
