/*
 * cli_org: organisations, their members and mail services (`hermod org
 * add|remove|list`, `hermod member list|set|remove`, `hermod service list`),
 * through the service layer's org.*, member.* and service.* operations.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cli_org_add(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "name", a->pos[0]), *res;
	int status = cli_call(c, "org.create", params, &res);

	if (status == CLI_OK)
		printf("added organisation %s\n", cli_json_str(res, "name"));
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_org_remove(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "org", a->pos[0]), *res;
	int status = cli_call(c, "org.remove", params, &res);

	if (status == CLI_OK)
		printf("removed organisation %s\n", cli_json_str(res, "removed"));
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_org_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_object(), *res, *org;
	int status = cli_call(c, "org.list", params, &res);
	size_t i;

	(void)a;
	if (status == CLI_OK) {
		printf("name\tcreated\n");
		json_array_foreach(json_object_get(res, "organisations"), i, org)
			printf("%s\t%s\n", cli_json_str(org, "name"), cli_json_str(org, "created"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_member_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "org", a->pos[0]), *res, *m;
	int status = cli_call(c, "member.list", params, &res);
	size_t i;

	if (status == CLI_OK) {
		printf("login\trole\tname\n");
		json_array_foreach(json_object_get(res, "members"), i, m)
			printf("%s\t%s\t%s\n", cli_json_str(m, "login"), cli_json_str(m, "role"), cli_json_str(m, "name"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_member_set(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s, s:s, s:s}", "org", a->pos[0], "login", a->pos[1], "role", a->pos[2]), *res;
	int status = cli_call(c, "member.set", params, &res);

	if (status == CLI_OK)
		printf("account %s is %s of organisation %s\n", cli_json_str(res, "login"), cli_json_str(res, "role"),
		       cli_json_str(res, "organisation"));
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_member_remove(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s, s:s}", "org", a->pos[0], "login", a->pos[1]), *res;
	int status = cli_call(c, "member.remove", params, &res);

	if (status == CLI_OK)
		printf("account %s is no longer a member of organisation %s\n", cli_json_str(res, "removed"),
		       cli_json_str(res, "organisation"));
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_service_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "org", a->pos[0]), *res, *svc;
	int status = cli_call(c, "service.list", params, &res);
	size_t i;

	if (status == CLI_OK) {
		printf("id\tplan\tdomains\tcreated\n");
		json_array_foreach(json_object_get(res, "services"), i, svc)
			printf("%lld\t%s\t%lld\t%s\n", (long long)cli_json_int(svc, "id"), cli_json_str(svc, "plan"),
			       (long long)cli_json_int(svc, "domains"), cli_json_str(svc, "created"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}
