/*
 * cli_org: organisations (`hermod org add|remove|list`).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cli_org_add(struct cli *c, const struct cli_args *a)
{
	const char *errstr = NULL;
	const char *name = a->pos[0];

	if (cli_check_name("organisation", name, sizeof(((struct store_org *)0)->name) - 1) != 0)
		return CLI_ERROR;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_org_add(c->store, name, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("added organisation %s\n", name);
	return CLI_OK;
}

int cli_org_remove(struct cli *c, const struct cli_args *a)
{
	const char *errstr = NULL;

	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_org_remove(c->store, a->pos[0], &errstr) < 0)
		return cli_error("%s", errstr);
	printf("removed organisation %s\n", a->pos[0]);
	return CLI_OK;
}

static void print_org(const struct store_org *org, void *arg)
{
	char created[32];

	(void)arg;
	cli_format_time(org->created_at, created, sizeof(created));
	printf("%s\t%s\n", org->name, created);
}

int cli_org_list(struct cli *c, const struct cli_args *a)
{
	const char *errstr = NULL;

	(void)a;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	printf("name\tcreated\n");
	if (store_org_list(c->store, print_org, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	return CLI_OK;
}
