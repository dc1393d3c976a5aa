/*
 * cli_folder: `hermod folder list ADDR`, the folders of an address with
 * their counters and IMAP state.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>

static void print_folder(const struct store_folder *f, void *arg)
{
	(void)arg;
	printf("%s\t%" PRIu32 "\t%" PRId64 "\t%" PRIu32 "\t%" PRIu32 "\t%s\n", f->name, f->messages, f->bytes,
	       f->uidvalidity, f->uidnext, f->special_use[0] != '\0' ? f->special_use : "-");
}

int cli_folder_list(struct cli *c, const struct cli_args *a)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1];
	struct store_address addr;
	const char *errstr = NULL;

	if (cli_parse_address(a->pos[0], local, domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	int found = store_address_get(c->store, local, domain, &addr, &errstr);
	if (found != 1)
		return found < 0 ? cli_error("%s", errstr) : cli_error("no address %s@%s", local, domain);
	printf("name\tmessages\tbytes\tuidvalidity\tuidnext\tspecial-use\n");
	if (store_folder_list(c->store, addr.id, print_folder, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	return CLI_OK;
}
