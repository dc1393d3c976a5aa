/*
 * cli_config: `hermod serve`, `hermod config check` and `hermod config dump`.
 */
#include "cli/cli.h"

#include <stdio.h>

#include "daemon/daemon.h"

int cli_serve(struct cli *c, const struct cli_args *a)
{
	(void)a;
	return daemon_serve(c->config_path);
}

int cli_config_check(struct cli *c, const struct cli_args *a)
{
	(void)a;
	if (cli_open_config(c) < 0)
		return CLI_ERROR;
	printf("configuration %s is valid\n", c->config_path);
	return CLI_OK;
}

int cli_config_dump(struct cli *c, const struct cli_args *a)
{
	(void)a;
	if (cli_open_config(c) < 0)
		return CLI_ERROR;
	config_dump(c->cfg, stdout);
	return CLI_OK;
}
