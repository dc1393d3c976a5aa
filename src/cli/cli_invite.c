/*
 * cli_invite: invitations and sharing links on the command line (`hermod
 * invite ADDR --member LOGIN | --email EMAIL`, `hermod link create|list|
 * revoke`), through the service layer's invitation.* and sharing.*
 * operations. The invitation message goes out with cli_call's outbox: into
 * a member's INBOX when their email is hosted here, else into the queue.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the options a verb passes on unchanged, as strings. */
static void pass_options(json_t *params, const struct cli_args *a, const char *const *names)
{
	for (; *names != NULL; names++) {
		const char *v = cli_opt_value(a, *names);
		if (v != NULL)
			json_object_set_new(params, *names, json_string(v));
	}
}

/* --days N as an integer parameter; CLI_USAGE when N is not a number. */
static int days_option(json_t *params, const struct cli_args *a)
{
	const char *v = cli_opt_value(a, "days");
	char *end;
	long long n;

	if (v == NULL)
		return CLI_OK;
	n = strtoll(v, &end, 10);
	if (v[0] == '\0' || *end != '\0')
		return cli_usage_error("--days needs a number of days, not '%s'", v);
	json_object_set_new(params, "days", json_integer(n));
	return CLI_OK;
}

static void print_perms(json_t *perms)
{
	json_t *v;
	size_t i;

	json_array_foreach(perms, i, v)
		printf("%s%s", i > 0 ? "," : "", json_string_value(v));
}

int cli_invite(struct cli *c, const struct cli_args *a)
{
	static const char *const passed[] = { "member", "email", "perms", "role", NULL };
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res = NULL;
	const char *login = cli_opt_value(a, "login");
	int status = days_option(params, a);

	pass_options(params, a, passed);
	if (login != NULL)
		json_object_set_new(params, "account_login", json_string(login));
	if (status == CLI_OK)
		status = cli_call(c, "invitation.create", params, &res);
	if (status == CLI_OK) {
		printf("invitation %lld for %s sent to %s (", (long long)cli_json_int(res, "id"),
		       cli_json_str(res, "address"), cli_json_str(res, "sent_to"));
		print_perms(json_object_get(res, "perms"));
		printf("), valid until %s\n", cli_json_str(res, "expires"));
		/* an external person's link is shown once, for the operator to pass on too */
		if (cli_json_str(res, "url")[0] != '\0')
			printf("%s\n", cli_json_str(res, "url"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_link_create(struct cli *c, const struct cli_args *a)
{
	static const char *const passed[] = { "perms", NULL };
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res = NULL;
	int status = days_option(params, a);

	pass_options(params, a, passed);
	if (status == CLI_OK)
		status = cli_call(c, "sharing.create", params, &res);
	if (status == CLI_OK) {
		printf("sharing link %lld for %s (", (long long)cli_json_int(res, "id"), cli_json_str(res, "address"));
		print_perms(json_object_get(res, "perms"));
		printf("), one use, valid until %s\n%s\n", cli_json_str(res, "expires"), cli_json_str(res, "url"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_link_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res = NULL, *l;
	int status = cli_call(c, "sharing.list", params, &res);
	size_t i;

	if (status == CLI_OK) {
		printf("id\tstatus\trights\tcreated\texpires\tused_by\n");
		json_array_foreach(json_object_get(res, "links"), i, l) {
			printf("%lld\t%s\t", (long long)cli_json_int(l, "id"), cli_json_str(l, "status"));
			print_perms(json_object_get(l, "perms"));
			printf("\t%s\t%s\t%s\n", cli_json_str(l, "created"), cli_json_str(l, "expires"),
			       cli_json_str(l, "used_by"));
		}
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_link_revoke(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "id", a->pos[0]), *res = NULL;
	int status = cli_call(c, "sharing.revoke", params, &res);

	if (status == CLI_OK)
		printf("revoked sharing link %lld for %s\n", (long long)cli_json_int(res, "id"),
		       cli_json_str(res, "address"));
	json_decref(params);
	json_decref(res);
	return status;
}
