/*
 * cli_domain: hosted domains (`hermod domain add|list|plan|dns|dkim|link|
 * unlink|remove`), through the domain.* operations. The records `domain
 * dns` prints, and the DKIM key every new domain gets, are the service
 * layer's (manage_domain.c); this file only prints them as a zone file.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* RFC 1035 3.3: a TXT record is a list of character-strings of at most 255 bytes */
#define TXT_STRING_MAX 255

static int parse_plan(const char *text)
{
	enum plan plan;

	if (config_plan_parse(text, &plan) < 0)
		return cli_usage_error("plan '%s' is not one of free, starter, pro", text);
	return CLI_OK;
}

/* Runs op with {domain: NAME} plus extra members; *res_r for the caller. */
static int domain_call(struct cli *c, const char *op, const char *name, json_t *extra, json_t **res_r)
{
	json_t *params = json_pack("{s:s}", "domain", name);
	int status;

	if (params != NULL && extra != NULL)
		json_object_update(params, extra);
	status = cli_call(c, op, params, res_r);
	json_decref(params);
	json_decref(extra);
	return status;
}

int cli_domain_add(struct cli *c, const struct cli_args *a)
{
	const char *plan = cli_opt_value(a, "plan"), *org = cli_opt_value(a, "org");
	json_t *res, *dkim;
	int status;

	if (plan != NULL && parse_plan(plan) != CLI_OK)
		return CLI_USAGE;
	status = domain_call(c, "domain.add", a->pos[0], json_pack("{s:s?, s:s?}", "plan", plan, "org", org), &res);
	if (status == CLI_OK) {
		dkim = json_object_get(res, "dkim");
		printf("added domain %s (plan %s, organisation %s)\n", cli_json_str(res, "name"),
		       cli_json_str(res, "plan"), cli_json_str(res, "organisation"));
		printf("created its DKIM key (RSA-%lld, selector %s)\n", (long long)cli_json_int(dkim, "bits"),
		       cli_json_str(dkim, "selector"));
		printf("publish its DNS records: hermod domain dns %s\n", cli_json_str(res, "name"));
	}
	json_decref(res);
	return status;
}

int cli_domain_list(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_object(), *res, *d;
	int status = cli_call(c, "domain.list", params, &res);
	size_t i;

	(void)a;
	if (status == CLI_OK) {
		printf("domain\tplan\torganisation\tcreated\n");
		json_array_foreach(json_object_get(res, "domains"), i, d)
			printf("%s\t%s\t%s\t%s\n", cli_json_str(d, "name"),
			       json_is_string(json_object_get(d, "plan")) ? cli_json_str(d, "plan") : "-",
			       cli_json_str(d, "organisation"), cli_json_str(d, "created"));
	}
	json_decref(params);
	json_decref(res);
	return status;
}

int cli_domain_plan(struct cli *c, const struct cli_args *a)
{
	json_t *res;
	int status;

	if (parse_plan(a->pos[1]) != CLI_OK)
		return CLI_USAGE;
	status = domain_call(c, "domain.plan", a->pos[0], json_pack("{s:s}", "plan", a->pos[1]), &res);
	if (status == CLI_OK)
		printf("domain %s is now on plan %s\n", cli_json_str(res, "name"), cli_json_str(res, "plan"));
	json_decref(res);
	return status;
}

int cli_domain_link(struct cli *c, const struct cli_args *a)
{
	const char *plan = cli_opt_value(a, "plan");
	json_t *res;
	int status;

	if (plan != NULL && parse_plan(plan) != CLI_OK)
		return CLI_USAGE;
	status = domain_call(c, "domain.link", a->pos[0], json_pack("{s:s?}", "plan", plan), &res);
	if (status == CLI_OK)
		printf("domain %s is linked to the mail service of organisation %s (plan %s)\n",
		       cli_json_str(res, "name"), cli_json_str(res, "organisation"), cli_json_str(res, "plan"));
	json_decref(res);
	return status;
}

int cli_domain_unlink(struct cli *c, const struct cli_args *a)
{
	json_t *res;
	int status = domain_call(c, "domain.unlink", a->pos[0], NULL, &res);

	if (status == CLI_OK)
		printf("domain %s is no longer linked to a mail service; it stays with organisation %s\n",
		       cli_json_str(res, "name"), cli_json_str(res, "organisation"));
	json_decref(res);
	return status;
}

/* text as TXT character-strings of at most TXT_STRING_MAX bytes (its bytes need no escaping). */
static void print_txt_strings(const char *text, size_t len)
{
	for (size_t off = 0; off < len; off += TXT_STRING_MAX) {
		size_t n = len - off < TXT_STRING_MAX ? len - off : TXT_STRING_MAX;

		printf("%s\"%.*s\"", off > 0 ? " " : "", (int)n, text + off);
	}
}

/* One record in zone-file syntax; names padded with tabs to column 24 (tab stops of 8). */
static void print_record(json_t *r)
{
	const char *name = cli_json_str(r, "name"), *type = cli_json_str(r, "type"), *value = cli_json_str(r, "value");
	bool dkim = strcmp(cli_json_str(r, "check"), "dkim") == 0;
	size_t len = strlen(name), tabs = len < 24 ? (24 - len + 7) / 8 : 1;

	printf("; %s\n", cli_json_str(r, "comment"));
	if (dkim) /* absolute, as receivers look it up */
		printf("%s.\t", cli_json_str(r, "fqdn"));
	else
		printf("%s%.*s", name, (int)tabs, "\t\t\t");
	printf("%lld\tIN\t%s\t", (long long)cli_json_int(r, "ttl"), type);
	if (strcmp(type, "TXT") == 0)
		print_txt_strings(value, strlen(value));
	else
		fputs(value, stdout);
	putchar('\n');
}

int cli_domain_dns(struct cli *c, const struct cli_args *a)
{
	json_t *res, *r;
	const char *d;
	size_t i;
	int status = domain_call(c, "domain.dns", a->pos[0], NULL, &res);

	if (status != CLI_OK)
		return status;
	d = cli_json_str(res, "domain");
	printf("; DNS records for %s, served by %s\n", d, cli_json_str(res, "host"));
	printf("$ORIGIN %s.\n", d);
	json_array_foreach(json_object_get(res, "records"), i, r)
		print_record(r);
	if (!json_is_true(json_object_get(res, "dkim")))
		printf("; DKIM: %s has no key yet: create one with `hermod domain dkim %s`\n", d, d);
	json_decref(res);
	return CLI_OK;
}

int cli_domain_dkim(struct cli *c, const struct cli_args *a)
{
	bool rotate = cli_opt_flag(a, "rotate");
	json_t *res;
	int status = domain_call(c, "domain.get", a->pos[0], NULL, &res);

	if (status != CLI_OK)
		return status;
	if (json_is_string(json_object_get(res, "dkim_selector")) && !rotate) {
		printf("domain %s already has a DKIM key (selector %s); --rotate replaces it\n", cli_json_str(res, "name"),
		       cli_json_str(res, "dkim_selector"));
		json_decref(res);
		return CLI_OK;
	}
	json_decref(res);
	status = domain_call(c, "domain.dkim", a->pos[0], json_pack("{s:b}", "rotate", rotate), &res);
	if (status == CLI_OK && json_is_true(json_object_get(res, "replaced")))
		printf("replaced the DKIM key of %s (RSA-%lld, selector %s): publish the new record now; until it is\n"
		       "in DNS, receivers cannot verify mail signed with the new key\n",
		       cli_json_str(res, "domain"), (long long)cli_json_int(res, "bits"), cli_json_str(res, "selector"));
	else if (status == CLI_OK)
		printf("created the DKIM key of %s (RSA-%lld, selector %s)\n", cli_json_str(res, "domain"),
		       (long long)cli_json_int(res, "bits"), cli_json_str(res, "selector"));
	if (status == CLI_OK)
		printf("publish its DNS record: hermod domain dns %s\n", cli_json_str(res, "domain"));
	json_decref(res);
	return status;
}

int cli_domain_remove(struct cli *c, const struct cli_args *a)
{
	json_t *res;
	int status;

	if (!cli_opt_flag(a, "yes"))
		return cli_usage_error("removing domain %s needs --yes", a->pos[0]);
	status = domain_call(c, "domain.remove", a->pos[0], NULL, &res);
	if (status == CLI_OK)
		printf("removed domain %s\n", cli_json_str(res, "removed"));
	json_decref(res);
	return status;
}
