/*
 * cli_export: `hermod export ADDR [FOLDER]` writes a folder as mboxrd
 * (RFC 4155) on standard output.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_export(struct cli *c, const struct cli_args *a)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1];
	const char *folder = a->npos > 1 ? a->pos[1] : "INBOX", *errstr = NULL;
	struct store_address addr;
	struct store_folder f;

	if (cli_parse_address(a->pos[0], local, domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	int found = store_address_get(c->store, local, domain, &addr, &errstr);
	if (found != 1)
		return found < 0 ? cli_error("%s", errstr) : cli_error("no address %s@%s", local, domain);
	found = store_folder_get(c->store, addr.id, folder, &f, &errstr);
	if (found != 1)
		return found < 0 ? cli_error("%s", errstr)
				 : cli_error("%s@%s has no folder '%s'", local, domain, folder);
	if (store_export_mbox(c->store, local, domain, folder, stdout, &errstr) < 0)
		return cli_error("%s", errstr);
	/* A full disk or a closed pipe must not look like a complete export. */
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_error("cannot write the export: %s", strerror(errno));
	return CLI_OK;
}
