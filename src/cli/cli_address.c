/*
 * cli_address: addresses of every kind (`hermod address add|list|show|
 * passwd|quota|remove`), through the address.* operations. An address
 * password is its own argon2id hash, separate from the password of any
 * account that has access to the address.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = { "mailbox", "catchall", "noreply", "alias" };
#define KIND_COUNT (sizeof(kind_names) / sizeof(kind_names[0]))

/* Mailboxes and no-reply addresses log in to send; a catchall may, to be read; an alias never. */
static bool kind_has_password(const char *kind)
{
	return strcmp(kind, "mailbox") == 0 || strcmp(kind, "noreply") == 0 || strcmp(kind, "catchall") == 0;
}

static bool kind_needs_password(const char *kind)
{
	return strcmp(kind, "mailbox") == 0 || strcmp(kind, "noreply") == 0;
}

/* The checks that need no store: kind, password and target rules. */
static int add_check_usage(const struct cli_args *a, const char **kind_r)
{
	const char *kind = cli_opt_value(a, "kind");
	bool has_targets = cli_opt_value(a, "target") != NULL;
	size_t i;

	*kind_r = kind != NULL ? kind : "mailbox";
	for (i = 0; i < KIND_COUNT && strcmp(*kind_r, kind_names[i]) != 0; i++)
		;
	if (i == KIND_COUNT)
		return cli_usage_error("kind '%s' is not one of mailbox, catchall, noreply, alias", *kind_r);
	if (!kind_has_password(*kind_r) && cli_opt_flag(a, "password-stdin"))
		return cli_usage_error("a %s address has no password", *kind_r);
	if (strcmp(*kind_r, "alias") == 0 && !has_targets)
		return cli_usage_error("an alias needs at least one --target ADDR");
	if (strcmp(*kind_r, "alias") != 0 && has_targets)
		return cli_usage_error("--target is only for --kind alias");
	return CLI_OK;
}

/* {address, kind, for: shared, targets, quota, dry_run: true}; NULL when an argument is not UTF-8. */
static json_t *add_params(const struct cli_args *a, const char *kind, uint64_t quota)
{
	json_t *targets = json_array(), *params;

	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i].name, "target") == 0)
			json_array_append_new(targets, json_string(a->opt[i].value));
	params = json_pack("{s:s, s:s, s:s, s:I, s:b}", "address", a->pos[0], "kind", kind, "for", "shared", "quota",
			   (json_int_t)quota, "dry_run", 1);
	if (params != NULL && json_array_size(targets) > 0)
		json_object_set(params, "targets", targets);
	json_decref(targets);
	return params;
}

int cli_address_add(struct cli *c, const struct cli_args *a)
{
	const char *kind, *quota_text = cli_opt_value(a, "quota");
	uint64_t quota = 0;
	json_t *params, *res = NULL, *t;
	size_t i;
	int status = add_check_usage(a, &kind);

	if (status != CLI_OK)
		return status;
	if (quota_text != NULL && cli_parse_size(quota_text, "quota", &quota) < 0)
		return CLI_ERROR;
	if ((params = add_params(a, kind, quota)) == NULL)
		return cli_error("the arguments must be valid UTF-8");
	/* refuse what would fail before asking for a password */
	status = cli_call(c, "address.create", params, &res);
	json_decref(res);
	res = NULL;
	json_object_del(params, "dry_run");
	if (status == CLI_OK && (kind_needs_password(kind) || cli_opt_flag(a, "password-stdin")))
		status = cli_call_password(c, "address.create", params, "password", cli_json_str(params, "address"), a,
					   &res);
	else if (status == CLI_OK)
		status = cli_call(c, "address.create", params, &res);
	if (status == CLI_OK) {
		json_array_foreach(json_object_get(res, "targets"), i, t)
			printf("%s forwards to %s\n", cli_json_str(res, "address"), json_string_value(t));
		printf("added %s (%s)\n", cli_json_str(res, "address"), cli_json_str(res, "kind"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

static void print_address(json_t *addr)
{
	char quota[32];

	if (cli_json_int(addr, "quota") == 0)
		snprintf(quota, sizeof(quota), "plan");
	else
		snprintf(quota, sizeof(quota), "%lld", (long long)cli_json_int(addr, "quota"));
	printf("%s\t%s\t%s\t%s\t%lld\t%lld\n", cli_json_str(addr, "address"), cli_json_str(addr, "kind"),
	       json_is_true(json_object_get(addr, "has_password")) ? "yes" : "no", quota,
	       (long long)cli_json_int(addr, "used"), (long long)cli_json_int(addr, "messages"));
}

/* Every page of address.list, in order. */
int cli_address_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s?, s:i}", "domain", a->npos == 1 ? a->pos[0] : NULL, "limit", 1000), *res, *addr;
	int status = CLI_OK;
	size_t i;

	printf("address\tkind\tpassword\tquota\tused\tmessages\n");
	while (status == CLI_OK) {
		status = cli_call(c, "address.list", params, &res);
		if (status != CLI_OK)
			break;
		json_array_foreach(json_object_get(res, "addresses"), i, addr)
			print_address(addr);
		json_t *next = json_object_get(res, "next");
		bool more = json_is_string(next);
		if (more)
			json_object_set(params, "after", next);
		json_decref(res);
		if (!more)
			break;
	}
	json_decref(params);
	return status;
}

int cli_address_show(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res;
	int status = cli_call(c, "address.get", params, &res);
	char *rights;

	if (status == CLI_OK) {
		rights = json_dumps(json_object_get(res, "rights"), JSON_COMPACT);
		printf("address\t%s\nkind\t%s\nplan\t%s\nquota\t%lld\neffective_quota\t%lld\nused\t%lld\n"
		       "messages\t%lld\npassword\t%s\ncreated\t%s\nrights\t%s\n",
		       cli_json_str(res, "address"), cli_json_str(res, "kind"), cli_json_str(res, "plan"),
		       (long long)cli_json_int(res, "quota"), (long long)cli_json_int(res, "effective_quota"),
		       (long long)cli_json_int(res, "used"), (long long)cli_json_int(res, "messages"),
		       json_is_true(json_object_get(res, "has_password")) ? "yes" : "no", cli_json_str(res, "created"),
		       rights != NULL ? rights : "[]");
		free(rights);
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_address_passwd(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res;
	int status = cli_call(c, "address.get", params, &res);

	/* refuse before asking for a password that could not be set */
	if (status == CLI_OK && !kind_has_password(cli_json_str(res, "kind")))
		status = cli_error("%s is a %s address: it has no password", cli_json_str(res, "address"),
				   cli_json_str(res, "kind"));
	json_decref(res);
	res = NULL;
	if (status == CLI_OK)
		status = cli_call_password(c, "address.password", params, "password", a->pos[0], a, &res);
	if (status == CLI_OK)
		printf("changed the password of %s\n", cli_json_str(res, "address"));
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_address_quota(struct cli *c, const struct cli_args *a)
{
	uint64_t quota;
	json_t *params, *res;
	int status;

	if (cli_parse_size(a->pos[1], "quota", &quota) < 0)
		return CLI_ERROR;
	params = json_pack("{s:s, s:I}", "address", a->pos[0], "quota", (json_int_t)quota);
	status = cli_call(c, "address.quota", params, &res);
	if (status == CLI_OK && quota == 0)
		printf("%s now has its plan's quota\n", cli_json_str(res, "address"));
	else if (status == CLI_OK)
		printf("%s now has a quota of %" PRIu64 " bytes\n", cli_json_str(res, "address"), quota);
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_address_remove(struct cli *c, const struct cli_args *a)
{
	json_t *params, *res;
	int status;

	/* --yes is the operator's confirmation; the API asks for the account password as well */
	if (!cli_opt_flag(a, "yes"))
		return cli_usage_error("removing %s deletes its mail: confirm with --yes", a->pos[0]);
	params = json_pack("{s:s, s:b}", "address", a->pos[0], "confirm", 1);
	status = cli_call(c, "address.remove", params, &res);
	if (status == CLI_OK)
		printf("removed %s: %lld messages, %lld bytes\n", cli_json_str(res, "address"),
		       (long long)cli_json_int(res, "messages"), (long long)cli_json_int(res, "bytes"));
	json_decref(params);
	json_decref(res);
	return status;
}
