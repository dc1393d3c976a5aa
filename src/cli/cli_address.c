/*
 * cli_address: addresses of every kind (`hermod address add|list|passwd|
 * quota|remove`). An address password is its own argon2id hash, separate
 * from the password of any account that has access to the address.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "auth/password.h"

static const char *const kind_names[] = {
	[ADDRESS_MAILBOX] = "mailbox",
	[ADDRESS_CATCHALL] = "catchall",
	[ADDRESS_NOREPLY] = "noreply",
	[ADDRESS_ALIAS] = "alias",
};

static const char *kind_name(enum address_kind kind)
{
	return (size_t)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "?";
}

static int parse_kind(const char *text, enum address_kind *kind_r)
{
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(text, kind_names[i]) == 0) {
			*kind_r = (enum address_kind)i;
			return 0;
		}
	}
	return -1;
}

/* Mailboxes and no-reply addresses send mail, so they log in; the others do not. */
static bool kind_has_password(enum address_kind kind)
{
	return kind == ADDRESS_MAILBOX || kind == ADDRESS_NOREPLY;
}

struct addr {
	char local[MAIL_LOCAL_MAX + 1];
	char domain[MAIL_DOMAIN_MAX + 1];
	char text[MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2];
};

/* Parses text into a and opens the store. 0 or -1 (error printed). */
static int addr_open(struct cli *c, const char *text, struct addr *a)
{
	if (cli_parse_address(text, a->local, a->domain) < 0 || cli_open_store(c) < 0)
		return -1;
	snprintf(a->text, sizeof(a->text), "%s@%s", a->local, a->domain);
	return 0;
}

/* 1 found (addr_r filled), 0 not (error printed), -1 failure (printed). */
static int addr_lookup(struct cli *c, const struct addr *a, struct store_address *addr_r)
{
	const char *errstr = NULL;
	int r = store_address_get(c->store, a->local, a->domain, addr_r, &errstr);

	if (r < 0)
		cli_error("%s", errstr);
	else if (r == 0)
		cli_error("no address %s", a->text);
	return r;
}

/* The checks that need no store: kind, password and target rules. */
static int add_check_usage(const struct cli_args *a, enum address_kind *kind_r)
{
	const char *kind_text = cli_opt_value(a, "kind");
	bool has_targets = cli_opt_value(a, "target") != NULL;

	*kind_r = ADDRESS_MAILBOX;
	if (kind_text != NULL && parse_kind(kind_text, kind_r) < 0)
		return cli_usage_error("kind '%s' is not one of mailbox, catchall, noreply, alias", kind_text);
	if (!kind_has_password(*kind_r) && cli_opt_flag(a, "password-stdin"))
		return cli_usage_error("a %s address has no password", kind_name(*kind_r));
	if (*kind_r == ADDRESS_ALIAS && !has_targets)
		return cli_usage_error("an alias needs at least one --target ADDR");
	if (*kind_r != ADDRESS_ALIAS && has_targets)
		return cli_usage_error("--target is only for --kind alias");
	return CLI_OK;
}

/* Validates every --target before anything is written. */
static int check_targets(const struct cli_args *a)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1];

	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i].name, "target") == 0 && cli_parse_address(a->opt[i].value, local, domain) < 0)
			return -1;
	return 0;
}

static int add_extras(struct cli *c, const struct cli_args *a, const struct addr *ad, uint64_t quota)
{
	const char *errstr = NULL;
	struct addr t;

	for (size_t i = 0; i < a->nopt; i++) {
		if (strcmp(a->opt[i].name, "target") != 0)
			continue;
		if (cli_parse_address(a->opt[i].value, t.local, t.domain) < 0)
			return -1;
		snprintf(t.text, sizeof(t.text), "%s@%s", t.local, t.domain);
		if (store_alias_add_target(c->store, ad->local, ad->domain, t.text, &errstr) < 0)
			return cli_error("%s", errstr), -1;
		printf("%s forwards to %s\n", ad->text, t.text);
	}
	if (quota != 0 && store_address_set_quota(c->store, ad->local, ad->domain, (int64_t)quota, &errstr) < 0)
		return cli_error("%s", errstr), -1;
	return 0;
}

/* Undo a half-made address (a target or the quota was refused). */
static void add_rollback(struct cli *c, const struct addr *ad)
{
	int64_t messages, bytes;
	const char *errstr = NULL;

	if (store_address_remove(c->store, ad->local, ad->domain, &messages, &bytes, &errstr) < 0)
		cli_error("could not undo adding %s: %s", ad->text, errstr);
}

int cli_address_add(struct cli *c, const struct cli_args *a)
{
	struct addr ad;
	struct store_address existing;
	struct store_domain dom;
	enum address_kind kind;
	uint64_t quota = 0;
	const char *quota_text = cli_opt_value(a, "quota"), *errstr = NULL;
	char hash[PASSWORD_HASH_MAX];

	int status = add_check_usage(a, &kind);
	if (status != CLI_OK)
		return status;
	if ((quota_text != NULL && cli_parse_size(quota_text, "quota", &quota) < 0) || check_targets(a) < 0 ||
	    addr_open(c, a->pos[0], &ad) < 0)
		return CLI_ERROR;
	/* Refuse what the store would refuse before asking for a password. */
	int found = store_domain_get(c->store, ad.domain, &dom, &errstr);
	if (found != 1)
		return found < 0 ? cli_error("%s", errstr) : cli_error("domain %s is not hosted here", ad.domain);
	found = store_address_get(c->store, ad.local, ad.domain, &existing, &errstr);
	if (found != 0)
		return found < 0 ? cli_error("%s", errstr) : cli_error("address %s already exists", ad.text);
	if (kind_has_password(kind) && cli_password_read_hash(a, ad.text, hash, sizeof(hash)) < 0)
		return CLI_ERROR;
	if (store_address_add(c->store, ad.local, ad.domain, kind, kind_has_password(kind) ? hash : NULL, NULL,
			      &errstr) < 0)
		return cli_error("%s", errstr);
	if (add_extras(c, a, &ad, quota) < 0) {
		add_rollback(c, &ad);
		return CLI_ERROR;
	}
	printf("added %s (%s)\n", ad.text, kind_name(kind));
	return CLI_OK;
}

static void print_address(const struct store_address *addr, void *arg)
{
	char quota[32];

	(void)arg;
	if (addr->quota_bytes == 0)
		snprintf(quota, sizeof(quota), "plan");
	else
		snprintf(quota, sizeof(quota), "%" PRId64, addr->quota_bytes);
	printf("%s@%s\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\n", addr->local, addr->domain, kind_name(addr->kind),
	       addr->has_password ? "yes" : "no", quota, addr->used_bytes, addr->message_count);
}

int cli_address_list(struct cli *c, const struct cli_args *a)
{
	char domain[MAIL_DOMAIN_MAX + 1], err[512];
	const char *errstr = NULL;

	if (a->npos == 1 && mail_domain_parse(a->pos[0], domain, err, sizeof(err)) < 0)
		return cli_error("%s", err);
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	printf("address\tkind\tpassword\tquota\tused\tmessages\n");
	if (store_address_list(c->store, a->npos == 1 ? domain : NULL, print_address, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	return CLI_OK;
}

int cli_address_passwd(struct cli *c, const struct cli_args *a)
{
	struct addr ad;
	struct store_address addr;
	const char *errstr = NULL;
	char hash[PASSWORD_HASH_MAX];

	if (addr_open(c, a->pos[0], &ad) < 0 || addr_lookup(c, &ad, &addr) != 1)
		return CLI_ERROR;
	if (!kind_has_password(addr.kind))
		return cli_error("%s is a %s address: it has no password", ad.text, kind_name(addr.kind));
	if (cli_password_read_hash(a, ad.text, hash, sizeof(hash)) < 0)
		return CLI_ERROR;
	if (store_address_set_password(c->store, ad.local, ad.domain, hash, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("changed the password of %s\n", ad.text);
	return CLI_OK;
}

int cli_address_quota(struct cli *c, const struct cli_args *a)
{
	struct addr ad;
	struct store_address addr;
	uint64_t quota;
	const char *errstr = NULL;

	if (cli_parse_size(a->pos[1], "quota", &quota) < 0 || addr_open(c, a->pos[0], &ad) < 0 ||
	    addr_lookup(c, &ad, &addr) != 1)
		return CLI_ERROR;
	if (store_address_set_quota(c->store, ad.local, ad.domain, (int64_t)quota, &errstr) < 0)
		return cli_error("%s", errstr);
	if (quota == 0)
		printf("%s now has its plan's quota\n", ad.text);
	else
		printf("%s now has a quota of %" PRIu64 " bytes\n", ad.text, quota);
	return CLI_OK;
}

int cli_address_remove(struct cli *c, const struct cli_args *a)
{
	struct addr ad;
	int64_t messages = 0, bytes = 0;
	const char *errstr = NULL;

	if (!cli_opt_flag(a, "yes"))
		return cli_usage_error("removing %s deletes its mail: confirm with --yes", a->pos[0]);
	if (addr_open(c, a->pos[0], &ad) < 0)
		return CLI_ERROR;
	if (store_address_remove(c->store, ad.local, ad.domain, &messages, &bytes, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("removed %s: %" PRId64 " messages, %" PRId64 " bytes\n", ad.text, messages, bytes);
	return CLI_OK;
}
