/*
 * cli_domain: hosted domains (`hermod domain add|list|plan|dns|dkim|remove`).
 *
 * Every domain gets a DKIM key when it is added: RSA-2048 (Gmail and others
 * do not verify Ed25519 signatures yet) under the selector "hermod". The
 * key lives in the store; `domain dns` prints the public half as the TXT
 * record to publish.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "outbound/dkim.h"
#include "store/store_queue.h"

#define DKIM_SELECTOR "hermod"
#define DKIM_SELECTOR_MAX 64
/* RFC 1035 3.3: a TXT record is a list of character-strings of at most 255 bytes */
#define TXT_STRING_MAX 255

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

/* A new RSA-2048 key for domain, stored under DKIM_SELECTOR. 0 or -1 (error printed). */
static int dkim_create(struct cli *c, const char *domain)
{
	struct dkim_keypair kp = { 0 };
	const char *errstr = NULL;
	int rc = -1;

	if (dkim_keygen(DKIM_ALG_RSA_SHA256, DKIM_RSA_BITS, &kp, &errstr) < 0)
		cli_error("cannot create a DKIM key for %s: %s", domain, errstr);
	else if (store_domain_dkim_set(c->store, domain, DKIM_SELECTOR, kp.private_pem, &errstr) < 0)
		cli_error("cannot store the DKIM key of %s: %s", domain, errstr);
	else
		rc = 0;
	dkim_keypair_clear(&kp);
	return rc;
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
	if (dkim_create(c, domain) < 0) {
		fprintf(stderr, "hermod: the domain was added without a DKIM key: run `hermod domain dkim %s`\n",
			domain);
		return CLI_ERROR;
	}
	printf("created its DKIM key (RSA-%d, selector %s)\n", DKIM_RSA_BITS, DKIM_SELECTOR);
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
}

/* text as TXT character-strings of at most TXT_STRING_MAX bytes (its bytes need no escaping). */
static void print_txt_strings(const char *text, size_t len)
{
	for (size_t off = 0; off < len; off += TXT_STRING_MAX) {
		size_t n = len - off < TXT_STRING_MAX ? len - off : TXT_STRING_MAX;

		printf("%s\"%.*s\"", off > 0 ? " " : "", (int)n, text + off);
	}
}

/* The record text "v=DKIM1; k=rsa; p=..." for a stored private key. 0 or -1 (error printed). */
static int dkim_record(const char *domain, const char *pem, struct buf *rec)
{
	struct dkim_key *key = NULL;
	struct buf pub;
	const char *errstr = NULL;
	int rc = -1;

	buf_init(&pub, 0);
	if (dkim_key_load_pem(slice_cstr(pem), &key, &errstr) < 0)
		cli_error("the stored DKIM key of %s is unusable: %s", domain, errstr);
	else if (dkim_key_public_b64(key, &pub, &errstr) < 0 || buf_append(&pub, "", 1) < 0)
		cli_error("cannot derive the DKIM public key of %s: %s", domain, errstr != NULL ? errstr : "?");
	else if (dkim_dns_record(dkim_key_algorithm(key), pub.data, rec) < 0)
		cli_error("cannot format the DKIM record of %s", domain);
	else
		rc = 0;
	dkim_key_destroy(&key);
	buf_free(&pub);
	return rc;
}

/* The DKIM TXT record (absolute name), or a note saying how to create the key. 0 or -1. */
static int print_dkim(struct cli *c, const char *domain)
{
	char selector[DKIM_SELECTOR_MAX];
	char *pem = NULL;
	const char *errstr = NULL;
	struct buf rec;
	int r = store_domain_dkim_get(c->store, domain, selector, sizeof(selector), &pem, &errstr);

	if (r < 0) {
		cli_error("%s", errstr);
		return -1;
	}
	if (r == 0) {
		printf("; DKIM: %s has no key yet: create one with `hermod domain dkim %s`\n", domain, domain);
		return 0;
	}
	buf_init(&rec, 0);
	r = dkim_record(domain, pem, &rec);
	free(pem);
	if (r == 0) {
		printf("; DKIM: the public key receivers use to verify hermod's signatures (selector %s)\n", selector);
		printf("%s._domainkey.%s.\t3600\tIN\tTXT\t", selector, domain);
		print_txt_strings(rec.data, rec.len);
		putchar('\n');
	}
	buf_free(&rec);
	return r;
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
	return print_dkim(c, domain) < 0 ? CLI_ERROR : CLI_OK;
}

int cli_domain_dkim(struct cli *c, const struct cli_args *a)
{
	char domain[MAIL_DOMAIN_MAX + 1], selector[DKIM_SELECTOR_MAX];
	struct store_domain dom;
	char *pem = NULL;
	const char *errstr = NULL;
	bool rotate = cli_opt_flag(a, "rotate");
	int r;

	if (parse_domain(a->pos[0], domain) < 0 || cli_open_store(c) < 0)
		return CLI_ERROR;
	if (domain_lookup(c, domain, &dom) != 1)
		return CLI_ERROR;
	if ((r = store_domain_dkim_get(c->store, domain, selector, sizeof(selector), &pem, &errstr)) < 0)
		return cli_error("%s", errstr);
	free(pem);
	if (r == 1 && !rotate) {
		printf("domain %s already has a DKIM key (selector %s); --rotate replaces it\n", domain, selector);
		return CLI_OK;
	}
	if (dkim_create(c, domain) < 0)
		return CLI_ERROR;
	if (r == 1)
		printf("replaced the DKIM key of %s (RSA-%d, selector %s): publish the new record now; until it is\n"
		       "in DNS, receivers cannot verify mail signed with the new key\n",
		       domain, DKIM_RSA_BITS, DKIM_SELECTOR);
	else
		printf("created the DKIM key of %s (RSA-%d, selector %s)\n", domain, DKIM_RSA_BITS, DKIM_SELECTOR);
	printf("publish its DNS record: hermod domain dns %s\n", domain);
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
