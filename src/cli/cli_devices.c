/*
 * cli_devices: an address's app passwords (`hermod app-password
 * list|add|revoke`), through the app_password.* operations. `add` prints
 * the generated password once; nothing can show it again.
 */
#include "cli/cli.h"

#include <stdio.h>

#include "manage/manage.h"

/* "2024-05-01T12:00:00Z", or "never" for a JSON null. */
static const char *time_text(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "never";
}

/* Tab-separated: name, created, last used. */
int cli_app_password_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res, *pw;
	int status = cli_call(c, "app_password.list", params, &res);
	size_t i;

	if (status == CLI_OK) {
		json_array_foreach(json_object_get(res, "app_passwords"), i, pw)
			printf("%s\t%s\t%s\n", cli_json_str(pw, "name"), time_text(json_object_get(pw, "created")),
			       time_text(json_object_get(pw, "last_used")));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_app_password_add(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s, s:s}", "address", a->pos[0], "name", a->pos[1]), *res;
	int status = cli_call(c, "app_password.create", params, &res);

	if (status == CLI_OK) {
		fprintf(stderr, "app password '%s' for %s (shown only now; use it instead of the address password):\n",
			cli_json_str(res, "name"), cli_json_str(res, "address"));
		printf("%s\n", cli_json_str(res, "password"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_app_password_revoke(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s, s:s}", "address", a->pos[0], "name", a->pos[1]), *res;
	int status = cli_call(c, "app_password.revoke", params, &res);

	if (status == CLI_OK)
		printf("app password '%s' of %s revoked\n", cli_json_str(res, "revoked"), cli_json_str(res, "address"));
	json_decref(params);
	json_decref(res);
	return status;
}
