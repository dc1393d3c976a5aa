/*
 * cli_access: which accounts may use which addresses, and how
 * (`hermod access grant|revoke`).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned perm;
} perm_names[] = {
	{ "read", PERM_READ },
	{ "send", PERM_SEND },
	{ "settings", PERM_SETTINGS },
	{ "access", PERM_MANAGE_ACCESS },
	{ "devices", PERM_DEVICES },
	{ "all", PERM_ALL },
};
#define PERM_NAME_COUNT (sizeof(perm_names) / sizeof(perm_names[0]))

/* "read,send" → PERM_READ | PERM_SEND. CLI_OK or CLI_USAGE (printed). */
static int parse_perms(const char *text, unsigned *perms_r)
{
	const char *p = text;

	*perms_r = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		size_t i;
		for (i = 0; i < PERM_NAME_COUNT; i++)
			if (strlen(perm_names[i].name) == n && memcmp(perm_names[i].name, p, n) == 0)
				break;
		if (i == PERM_NAME_COUNT)
			return cli_usage_error("permission '%.*s' is not one of read, send, settings, access, devices, all",
					       (int)n, p);
		*perms_r |= perm_names[i].perm;
		p += n;
		p += *p == ',';
	}
	return *perms_r != 0 ? CLI_OK : cli_usage_error("--perms needs at least one permission");
}

static void format_perms(unsigned perms, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	/* the last row is "all": list the single permissions only */
	for (size_t i = 0; i + 1 < PERM_NAME_COUNT && len < size; i++)
		if (perms & perm_names[i].perm)
			len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "", perm_names[i].name);
}

int cli_access_grant(struct cli *c, const struct cli_args *a)
{
	const char *login = a->pos[0], *perms_text = cli_opt_value(a, "perms"), *errstr = NULL;
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], shown[80];
	unsigned perms = PERM_READ | PERM_SEND;

	if (perms_text != NULL) {
		int status = parse_perms(perms_text, &perms);
		if (status != CLI_OK)
			return status;
	}
	if (cli_parse_address(a->pos[1], local, domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_access_grant(c->store, login, local, domain, perms, &errstr) < 0)
		return cli_error("%s", errstr);
	format_perms(perms, shown, sizeof(shown));
	printf("account %s may now use %s@%s: %s\n", login, local, domain, shown);
	return CLI_OK;
}

int cli_access_revoke(struct cli *c, const struct cli_args *a)
{
	const char *login = a->pos[0], *errstr = NULL;
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1];

	if (cli_parse_address(a->pos[1], local, domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_access_revoke(c->store, login, local, domain, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("account %s no longer has access to %s@%s\n", login, local, domain);
	return CLI_OK;
}
