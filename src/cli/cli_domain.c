/*
 * cli_domain: hosted domains (`hermod domain add|list|plan|dns|remove`).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* Validates and lower-cases a domain name. 0 or -1 (error printed). */
static int parse_domain(const char *text, char domain_r[MAIL_DOMAIN_MAX + 1])
{
	char err[512];

	if (mail_domain_parse(text, domain_r, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return -1;
	}
	return 0;
}

static int parse_plan(const char *text, enum plan *plan_r)
{
	if (config_plan_parse(text, plan_r) < 0)
		return cli_usage_error("plan '%s' is not one of free, starter, pro", text);
	return CLI_OK;
}

/* 1 hosted (dom_r filled), 0 not (error printed), -1 failure (printed). */
static int domain_lookup(struct cli *c, const char *domain, struct store_domain *dom_r)
{
	const char *errstr = NULL;
	int r = store_domain_get(c->store, domain, dom_r, &errstr);

	if (r < 0)
		cli_error("%s", errstr);
	else if (r == 0)
		cli_error("domain %s is not hosted here", domain);
	return r;
}

int cli_domain_add(struct cli *c, const struct cli_args *a)
{
	char domain[MAIL_DOMAIN_MAX + 1];
	const char *plan_name = cli_opt_value(a, "plan"), *org = cli_opt_value(a, "org"), *errstr = NULL;
	enum plan plan = PLAN_STARTER;

	if (plan_name != NULL && parse_plan(plan_name, &plan) != CLI_OK)
		return CLI_USAGE;
	if (parse_domain(a->pos[0], domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_domain_add(c->store, domain, org, plan, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("added domain %s (plan %s, organisation %s)\n", domain, config_plan_name(plan),
	       org != NULL ? org : "default");
	printf("publish its DNS records: hermod domain dns %s\n", domain);
	return CLI_OK;
}

static void print_domain(const struct store_domain *dom, void *arg)
{
	char created[32];

	(void)arg;
	cli_format_time(dom->created_at, created, sizeof(created));
	printf("%s\t%s\t%s\t%s\n", dom->name, dom->service_id != 0 ? config_plan_name(dom->plan) : "-",
	       dom->org_name, created);
}

int cli_domain_list(struct cli *c, const struct cli_args *a)
{
	const char *errstr = NULL;

	(void)a;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	printf("domain\tplan\torganisation\tcreated\n");
	if (store_domain_list(c->store, print_domain, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	return CLI_OK;
}

int cli_domain_plan(struct cli *c, const struct cli_args *a)
{
	char domain[MAIL_DOMAIN_MAX + 1];
	const char *errstr = NULL;
	enum plan plan;

	if (parse_plan(a->pos[1], &plan) != CLI_OK)
		return CLI_USAGE;
	if (parse_domain(a->pos[0], domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_domain_set_plan(c->store, domain, plan, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("domain %s is now on plan %s\n", domain, config_plan_name(plan));
	return CLI_OK;
}

/*
 * The records a hosted domain needs, in zone-file syntax relative to the
 * domain's own zone. Client autoconfiguration follows RFC 6186 (SRV for
 * IMAP, POP3 and submission, with implicit TLS per RFC 8314) plus the
 * Thunderbird "autoconfig" and Outlook "autodiscover" host names.
 */
static void print_dns(const char *d, const char *host)
{
	printf("; DNS records for %s, served by %s\n", d, host);
	printf("$ORIGIN %s.\n", d);
	printf("; mail for %s is delivered to %s\n", d, host);
	printf("@\t\t\t3600\tIN\tMX\t10 %s.\n", host);
	printf("; SPF: only the domain's MX hosts may send mail as %s\n", d);
	printf("@\t\t\t3600\tIN\tTXT\t\"v=spf1 mx -all\"\n");
	printf("; DMARC: quarantine mail that fails SPF/DKIM alignment; reports to postmaster\n");
	printf("_dmarc\t\t\t3600\tIN\tTXT\t\"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"\n", d);
	printf("; Thunderbird-style client autoconfiguration\n");
	printf("autoconfig\t\t3600\tIN\tCNAME\t%s.\n", host);
	printf("; Outlook-style client autodiscovery\n");
	printf("autodiscover\t\t3600\tIN\tCNAME\t%s.\n", host);
	printf("; RFC 6186 / RFC 8314: IMAP over TLS on port 993\n");
	printf("_imaps._tcp\t\t3600\tIN\tSRV\t0 1 993 %s.\n", host);
	printf("; RFC 6186 / RFC 8314: message submission over TLS on port 465\n");
	printf("_submissions._tcp\t3600\tIN\tSRV\t0 1 465 %s.\n", host);
	printf("; RFC 6186 / RFC 8314: POP3 over TLS on port 995\n");
	printf("_pop3s._tcp\t\t3600\tIN\tSRV\t0 1 995 %s.\n", host);
	printf("; DKIM: the selector's TXT record will be printed here once hermod signs outgoing mail\n");
}

int cli_domain_dns(struct cli *c, const struct cli_args *a)
{
	char domain[MAIL_DOMAIN_MAX + 1];
	struct store_domain dom;

	if (parse_domain(a->pos[0], domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	if (domain_lookup(c, domain, &dom) != 1)
		return CLI_ERROR;
	print_dns(domain, c->cfg->hostname);
	return CLI_OK;
}

int cli_domain_remove(struct cli *c, const struct cli_args *a)
{
	char domain[MAIL_DOMAIN_MAX + 1];
	const char *errstr = NULL;

	if (!cli_opt_flag(a, "yes"))
		return cli_usage_error("removing domain %s needs --yes", a->pos[0]);
	if (parse_domain(a->pos[0], domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_domain_remove(c->store, domain, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("removed domain %s\n", domain);
	return CLI_OK;
}
