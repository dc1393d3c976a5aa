/*
 * cli: the verb table, the generic option parser and the helpers every
 * handler shares.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

struct cli_cmd {
	const char *verb;
	const char *subverb; /* NULL: the verb alone */
	size_t min_args, max_args;
	const char *options; /* space-separated names; "name=" takes a value */
	cli_handler *run;
	const char *usage;   /* after "hermod " */
};

static const struct cli_cmd cli_cmds[] = {
	{ "init", NULL, 0, 0, "hostname= domain=", cli_init, "init [--hostname NAME] [--domain DOMAIN]" },
	{ "serve", NULL, 0, 0, "", cli_serve, "serve" },
	{ "config", "check", 0, 0, "", cli_config_check, "config check" },
	{ "config", "dump", 0, 0, "", cli_config_dump, "config dump" },
	{ "org", "add", 1, 1, "", cli_org_add, "org add NAME" },
	{ "org", "remove", 1, 1, "", cli_org_remove, "org remove NAME" },
	{ "org", "list", 0, 0, "", cli_org_list, "org list" },
	{ "member", "list", 1, 1, "", cli_member_list, "member list ORG" },
	{ "member", "set", 3, 3, "", cli_member_set, "member set ORG LOGIN owner|admin|member" },
	{ "member", "remove", 2, 2, "", cli_member_remove, "member remove ORG LOGIN" },
	{ "service", "list", 1, 1, "", cli_service_list, "service list ORG             (mail services and their plans)" },
	{ "account", "add", 1, 1, "password-stdin org= role=", cli_account_add,
	  "account add LOGIN [--password-stdin] [--org ORG [--role owner|admin|member]]" },
	{ "account", "passwd", 1, 1, "password-stdin", cli_account_passwd, "account passwd LOGIN [--password-stdin]" },
	{ "account", "list", 0, 0, "", cli_account_list, "account list" },
	{ "account", "remove", 1, 1, "yes", cli_account_remove, "account remove LOGIN --yes" },
	{ "domain", "add", 1, 1, "plan= org=", cli_domain_add, "domain add NAME [--plan free|starter|pro] [--org ORG]" },
	{ "domain", "list", 0, 0, "", cli_domain_list, "domain list" },
	{ "domain", "plan", 2, 2, "", cli_domain_plan, "domain plan NAME free|starter|pro" },
	{ "domain", "dns", 1, 1, "", cli_domain_dns, "domain dns NAME" },
	{ "domain", "dkim", 1, 1, "rotate", cli_domain_dkim, "domain dkim NAME [--rotate]   (creates the DKIM key, or replaces it)" },
	{ "domain", "link", 1, 1, "plan=", cli_domain_link,
	  "domain link NAME [--plan free|starter|pro]   (to its organisation's mail service)" },
	{ "domain", "unlink", 1, 1, "", cli_domain_unlink, "domain unlink NAME            (a domain without addresses)" },
	{ "domain", "remove", 1, 1, "yes", cli_domain_remove, "domain remove NAME --yes" },
	{ "address", "add", 1, 1, "kind= password-stdin target= quota=", cli_address_add,
	  "address add ADDR [--kind mailbox|catchall|noreply|alias] [--password-stdin] [--target ADDR]... "
	  "[--quota SIZE]" },
	{ "address", "list", 0, 1, "", cli_address_list, "address list [DOMAIN]" },
	{ "address", "show", 1, 1, "", cli_address_show, "address show ADDR             (kind, quota, usage)" },
	{ "address", "passwd", 1, 1, "password-stdin", cli_address_passwd, "address passwd ADDR [--password-stdin]" },
	{ "address", "quota", 2, 2, "", cli_address_quota, "address quota ADDR SIZE       (0: the plan's quota)" },
	{ "address", "remove", 1, 1, "yes", cli_address_remove, "address remove ADDR --yes" },
	{ "access", "grant", 2, 2, "perms=", cli_access_grant,
	  "access grant LOGIN ADDR [--perms read,send,settings,access,devices,history,restore,...|all]"
	  "   (default: read,send)" },
	{ "access", "revoke", 2, 2, "", cli_access_revoke, "access revoke LOGIN ADDR" },
	{ "access", "list", 1, 1, "", cli_access_list, "access list ADDR" },
	{ "history", NULL, 1, 1, "limit=", cli_history, "history ADDR [--limit N]      (the address's action history, newest first)" },
	{ "folder", "list", 1, 1, "", cli_folder_list, "folder list ADDR" },
	{ "export", NULL, 1, 2, "", cli_export, "export ADDR [FOLDER]          (mboxrd on stdout; default INBOX)" },
	{ "queue", "list", 0, 0, "", cli_queue_list, "queue list" },
	{ "queue", "show", 1, 1, "", cli_queue_show, "queue show ID" },
	{ "queue", "retry", 0, 1, "all", cli_queue_retry, "queue retry ID|--all" },
	{ "queue", "hold", 1, 1, "", cli_queue_hold, "queue hold ID" },
	{ "queue", "release", 1, 1, "", cli_queue_release, "queue release ID" },
	{ "queue", "remove", 1, 1, "yes", cli_queue_remove, "queue remove ID --yes        (no notice is sent)" },
	{ "domain", "check", 1, 1, "", cli_domain_check, "domain check NAME             (MX, SPF, DKIM, DMARC in the DNS)" },
	{ "address", "import", 1, 1, "dry-run skip-invalid", cli_address_import,
	  "address import FILE [--dry-run] [--skip-invalid]   (CSV: address,password,kind,forward_to,quota)" },
	/* invite: cli_invite.c */
	{ "invite", NULL, 1, 1, "member= email= perms= days= login= role=", cli_invite,
	  "invite ADDR --member LOGIN | --email EMAIL [--perms read,send,...] [--days N] [--login choice|email|address]"
	  " [--role member|admin|owner]" },
	{ "link", "create", 1, 1, "perms= days=", cli_link_create, "link create ADDR [--perms read,...] [--days N]   (one use)" },
	{ "link", "list", 1, 1, "", cli_link_list, "link list ADDR" },
	{ "link", "revoke", 1, 1, "", cli_link_revoke, "link revoke ID" },
	/* inbound: cli_inbound.c */
	{ "autoreply", "set", 1, 1, "body-file= subject= from= until= period=", cli_autoreply_set,
	  "autoreply set ADDR --body-file FILE|- [--subject S] [--from DATE] [--until DATE] [--period 4d]" },
	{ "autoreply", "off", 1, 1, "", cli_autoreply_off, "autoreply off ADDR" },
	{ "autoreply", "show", 1, 1, "", cli_autoreply_show, "autoreply show ADDR" },
	{ "alias", "targets", 1, CLI_POS_MAX, "target=", cli_alias_targets,
	  "alias targets ADDR [TARGET... | --target TARGET...]   (at most 10; none: list them)" },
	{ "alias", "confirm", 1, 1, "", cli_alias_confirm, "alias confirm [--] TOKEN      (an external target agrees; -- before a token starting with -)" },
	{ "app-password", "list", 1, 1, "", cli_app_password_list, "app-password list ADDR" },
	{ "app-password", "add", 2, 2, "", cli_app_password_add, "app-password add ADDR NAME   (generated, shown once; at most 20)" },
	{ "app-password", "revoke", 2, 2, "", cli_app_password_revoke, "app-password revoke ADDR NAME" },
};
#define CLI_CMD_COUNT (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static void usage_all(FILE *out)
{
	fprintf(out, "usage: hermod [-c FILE] COMMAND ...\n"
		     "  -c, --config FILE   configuration (default: $HERMOD_CONFIG, else ./var/hermod.conf)\n"
		     "commands:\n");
	for (size_t i = 0; i < CLI_CMD_COUNT; i++)
		fprintf(out, "  hermod %s\n", cli_cmds[i].usage);
	fprintf(out, "  hermod help\n"
		     "Passwords are read from the terminal (twice), or as one line of standard input with "
		     "--password-stdin.\n"
		     "Sizes take K, M or G suffixes (powers of 1024).\n");
}

/* The usage lines of one verb (every subverb), for a usage error. */
static void usage_verb(const char *verb)
{
	fprintf(stderr, "usage:\n");
	for (size_t i = 0; i < CLI_CMD_COUNT; i++)
		if (strcmp(cli_cmds[i].verb, verb) == 0)
			fprintf(stderr, "  hermod %s\n", cli_cmds[i].usage);
}

static bool verb_known(const char *verb)
{
	for (size_t i = 0; i < CLI_CMD_COUNT; i++)
		if (strcmp(cli_cmds[i].verb, verb) == 0)
			return true;
	return false;
}

/* Finds the row for argv; *consumed_r is how many words named it. */
static const struct cli_cmd *cmd_find(int argc, char **argv, int *consumed_r)
{
	for (size_t i = 0; i < CLI_CMD_COUNT; i++) {
		const struct cli_cmd *cmd = &cli_cmds[i];
		if (strcmp(cmd->verb, argv[0]) != 0)
			continue;
		if (cmd->subverb == NULL) {
			*consumed_r = 1;
			return cmd;
		}
		if (argc > 1 && strcmp(cmd->subverb, argv[1]) == 0) {
			*consumed_r = 2;
			return cmd;
		}
	}
	return NULL;
}

/*
 * Looks name (name_len bytes) up in the row's option list. Returns 1 for a
 * flag, 2 for an option taking a value, 0 if the command has no such option.
 */
static int option_kind(const char *options, const char *name, size_t name_len)
{
	const char *p = options;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		bool takes_value = n > 0 && p[n - 1] == '=';
		size_t word = takes_value ? n - 1 : n;
		if (word == name_len && memcmp(p, name, name_len) == 0)
			return takes_value ? 2 : 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

static int add_option(struct cli_args *a, const char *name, const char *value)
{
	if (a->nopt == CLI_OPT_MAX)
		return cli_usage_error("too many options");
	a->opt[a->nopt].name = name;
	a->opt[a->nopt].value = value;
	a->nopt++;
	return CLI_OK;
}

/* "--name", "--name=value" or "--name value"; advances *i past what it used. */
static int parse_option(const struct cli_cmd *cmd, int argc, char **argv, int *i, struct cli_args *a)
{
	char *arg = argv[*i] + 2;
	char *eq = strchr(arg, '=');
	size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	int kind = option_kind(cmd->options, arg, len);

	if (kind == 0 || argv[*i][1] != '-')
		return cli_usage_error("unknown option %s", argv[*i]);
	if (kind == 1) {
		if (eq != NULL)
			return cli_usage_error("option --%.*s takes no value", (int)len, arg);
		arg[len] = '\0';
		return add_option(a, arg, NULL);
	}
	if (eq != NULL) {
		*eq = '\0';
		return add_option(a, arg, eq + 1);
	}
	if (*i + 1 >= argc)
		return cli_usage_error("option --%s needs a value", arg);
	(*i)++;
	return add_option(a, arg, argv[*i]);
}

static int parse_args(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a)
{
	bool options_done = false;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		if (!options_done && strcmp(argv[i], "--") == 0) {
			options_done = true;
		} else if (!options_done && argv[i][0] == '-' && argv[i][1] != '\0') {
			int r = parse_option(cmd, argc, argv, &i, a);
			if (r != CLI_OK)
				return r;
		} else {
			if (a->npos == CLI_POS_MAX || a->npos == cmd->max_args)
				return cli_usage_error("unexpected argument '%s'", argv[i]);
			a->pos[a->npos++] = argv[i];
		}
	}
	if (a->npos < cmd->min_args)
		return cli_usage_error("missing argument");
	return CLI_OK;
}

/* No row matched: the whole usage for an unknown verb, the verb's own otherwise. */
static int usage_unknown(const char *verb)
{
	if (!verb_known(verb)) {
		fprintf(stderr, "hermod: unknown command '%s'\n", verb);
		usage_all(stderr);
	} else {
		usage_verb(verb);
	}
	return CLI_USAGE;
}

int cli_run(const char *config_path, int argc, char **argv)
{
	if (argc < 1) {
		usage_all(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		usage_all(stdout);
		return CLI_OK;
	}
	int consumed = 0;
	const struct cli_cmd *cmd = cmd_find(argc, argv, &consumed);
	if (cmd == NULL)
		return usage_unknown(argv[0]);

	struct cli_args args;
	struct cli c = { .config_path = config_path };
	int status = parse_args(cmd, argc - consumed, argv + consumed, &args);
	if (status == CLI_OK)
		status = cmd->run(&c, &args);
	if (status == CLI_USAGE)
		fprintf(stderr, "usage: hermod %s\n", cmd->usage);
	if (c.store != NULL)
		store_close(c.store);
	if (c.cfg != NULL)
		config_free(c.cfg);
	return status;
}

/* ---- helpers ------------------------------------------------------------ */

__attribute__((format(printf, 1, 0))) static void vreport(const char *fmt, va_list ap)
{
	fputs("hermod: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return CLI_ERROR;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return CLI_USAGE;
}

int cli_open_config(struct cli *c)
{
	const char *errstr = NULL;

	if (c->cfg != NULL)
		return 0;
	if (access(c->config_path, F_OK) < 0 && errno == ENOENT) {
		cli_error("no configuration file %s: run `hermod init` or give -c FILE", c->config_path);
		return -1;
	}
	if (config_load(c->config_path, &c->cfg, &errstr) < 0) {
		cli_error("%s", errstr);
		return -1;
	}
	return 0;
}

int cli_open_store(struct cli *c)
{
	const char *errstr = NULL;

	if (c->store != NULL)
		return 0;
	if (cli_open_config(c) < 0)
		return -1;
	if (store_open(c->cfg->data_dir, &c->store, &errstr) < 0) {
		cli_error("cannot open the store in %s: %s", c->cfg->data_dir, errstr);
		c->store = NULL;
		return -1;
	}
	return 0;
}

const char *cli_opt_value(const struct cli_args *a, const char *name)
{
	const char *value = NULL;

	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i].name, name) == 0)
			value = a->opt[i].value;
	return value;
}

bool cli_opt_flag(const struct cli_args *a, const char *name)
{
	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i].name, name) == 0)
			return true;
	return false;
}

static int size_shift(char suffix)
{
	switch (suffix) {
	case '\0': return 0;
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	default: return -1;
	}
}

int cli_parse_size(const char *text, const char *what, uint64_t *size_r)
{
	uint64_t n = 0;
	const char *p = text;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			goto bad;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	int shift = p == text ? -1 : size_shift(*p);
	if (shift < 0 || (*p != '\0' && p[1] != '\0'))
		goto bad;
	/* Keep sizes within int64_t: the store counts bytes as signed. */
	if (n > ((uint64_t)INT64_MAX >> shift))
		goto bad;
	*size_r = n << shift;
	return 0;
bad:
	cli_error("%s '%s' is not valid: give a number of bytes with an optional K, M or G suffix (e.g. 500M)",
		  what, text);
	return -1;
}

int cli_parse_address(const char *text, char local_r[MAIL_LOCAL_MAX + 1], char domain_r[MAIL_DOMAIN_MAX + 1])
{
	char err[512];

	if (mail_address_parse(text, local_r, domain_r, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return -1;
	}
	return 0;
}

void cli_format_time(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%" PRId64, t);
}

int cli_check_name(const char *kind, const char *name, size_t max)
{
	size_t len = strlen(name);

	if (len == 0 || len > max)
		return cli_error("%s name must have 1 to %zu bytes", kind, max);
	/* Names are printed in tab-separated lists: no control characters. */
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return cli_error("%s name '%s' is not valid: control characters are not allowed", kind, name);
	return 0;
}
