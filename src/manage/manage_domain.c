/*
 * manage_domain: hosted domains, their plan, their link to a mail service,
 * their DKIM key and the DNS records they need.
 *
 * Every domain gets a DKIM key when it is added: RSA-2048 (Gmail and others
 * do not verify Ed25519 signatures yet) under the selector "hermod". A
 * domain linked to a mail service hosts addresses under that service's
 * plan; an unlinked domain stays with its organisation but hosts none
 * (link it again to create addresses).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "outbound/dkim.h"
#include "store/store_manage.h"
#include "store/store_queue.h"

#define DKIM_SELECTOR "hermod"
#define DKIM_SELECTOR_MAX 64
#define DNS_TTL 3600

struct domain_list {
	struct manage_ctx *ctx;
	json_t *domains;
	json_t *orgs; /* the actor's organisations (name -> true), NULL for the system */
};

static void org_name_row(const struct store_org *org, enum org_role role, void *arg)
{
	(void)role;
	json_object_set_new(arg, org->name, json_true());
}

static void domain_row(const struct store_domain *d, void *arg)
{
	struct domain_list *l = arg;

	if (l->orgs == NULL || json_object_get(l->orgs, d->org_name) != NULL)
		json_array_append_new(l->domains, manage_domain_json(d));
}

/* domain.list {} -> {domains: [...]}: the domains of the caller's organisations. */
static int op_domain_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct domain_list l = { ctx, json_array(), NULL };
	const char *errstr = NULL;
	int rc = 0;

	(void)params;
	if (!ctx->actor.system) {
		l.orgs = json_object();
		rc = store_manage_orgs_of(ctx->store, ctx->actor.account_id, org_name_row, l.orgs, &errstr);
	}
	if (rc == 0)
		rc = store_domain_list(ctx->store, domain_row, &l, &errstr);
	json_decref(l.orgs);
	if (rc < 0) {
		json_decref(l.domains);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:o}", "domains", l.domains);
	return 0;
}

static int param_plan(json_t *params, const char *field, enum plan dflt, enum plan *plan_r, struct manage_error *err)
{
	const char *text;

	*plan_r = dflt;
	if (manage_param_str(params, field, false, 16, &text, err) < 0)
		return -1;
	if (text != NULL && config_plan_parse(text, plan_r) < 0)
		return manage_fail_field(err, field, "plan '%s' is not one of free, starter, pro", text);
	return 0;
}

/* Where a new domain goes: the named organisation (owner/admin), or the operator's default one. */
static int add_target_org(struct manage_ctx *ctx, const char *org, struct manage_error *err)
{
	struct store_org o;

	if (org == NULL)
		return ctx->actor.system ? 0 : manage_fail_field(err, "org", "org is required");
	return manage_find_org(ctx, org, ROLE_ADMIN, &o, NULL, err);
}

static int domain_insert(struct manage_ctx *ctx, const char *domain, const char *org, enum plan plan,
			 const struct dkim_keypair *kp, struct manage_error *err)
{
	struct store_domain dom;
	const char *errstr = NULL;
	int rc = store_domain_get(ctx->store, domain, &dom, &errstr);

	if (rc != 0)
		return rc < 0 ? manage_fail_store(err, errstr)
			      : manage_fail(err, MANAGE_CONFLICT, "domain_exists", "domain %s already exists", domain);
	if (add_target_org(ctx, org, err) < 0)
		return -1;
	if (store_domain_add(ctx->store, domain, org, plan, NULL, &errstr) < 0 ||
	    store_domain_dkim_set(ctx->store, domain, DKIM_SELECTOR, kp->private_pem, &errstr) < 0)
		return manage_fail_store(err, errstr);
	return 0;
}

/*
 * domain.add {domain, org?, plan?} -> {domain..., dkim: {selector, bits}}.
 * The DKIM key is made before the transaction (RSA key generation takes a
 * while) and stored with the domain in it.
 */
static int op_domain_add(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char domain[MAIL_DOMAIN_MAX + 1];
	struct dkim_keypair kp = { 0 };
	struct store_domain dom;
	const char *org, *errstr = NULL;
	enum plan plan;
	int rc;

	if (manage_param_domain(params, "domain", domain, err) < 0 ||
	    manage_param_str(params, "org", false, 1024, &org, err) < 0 ||
	    param_plan(params, "plan", PLAN_STARTER, &plan, err) < 0 || add_target_org(ctx, org, err) < 0)
		return -1;
	if (dkim_keygen(DKIM_ALG_RSA_SHA256, DKIM_RSA_BITS, &kp, &errstr) < 0)
		return manage_fail(err, MANAGE_INTERNAL, "dkim_failed", "cannot create a DKIM key for %s: %s", domain,
				   errstr);
	rc = manage_txn_begin(ctx, err);
	if (rc == 0) {
		rc = domain_insert(ctx, domain, org, plan, &kp, err);
		if (rc == 0 && store_domain_get(ctx->store, domain, &dom, &errstr) != 1)
			rc = manage_fail_store(err, errstr != NULL ? errstr : "the new domain vanished");
		if (rc == 0) {
			*result_r = manage_domain_json(&dom);
			json_object_set_new(*result_r, "dkim", json_pack("{s:s, s:i}", "selector", DKIM_SELECTOR,
									 "bits", DKIM_RSA_BITS));
		}
		rc = manage_txn_end(ctx, rc, result_r, err);
	}
	dkim_keypair_clear(&kp);
	if (rc == 0)
		log_info("manage event=domain-added domain=%s org=\"%s\" by=\"%s\"", domain, dom.org_name,
			 manage_actor_name(ctx));
	return rc;
}

/* The domain parameter, looked up for an actor with at least role min. */
static int domain_param(struct manage_ctx *ctx, json_t *params, enum org_role min, struct store_domain *dom,
			struct manage_error *err)
{
	char domain[MAIL_DOMAIN_MAX + 1];

	if (manage_param_domain(params, "domain", domain, err) < 0)
		return -1;
	return manage_find_domain(ctx, domain, min, dom, err);
}

/* domain.get {domain} -> {name, organisation, plan, linked, created, dkim_selector} */
static int op_domain_get(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_domain dom;
	char selector[DKIM_SELECTOR_MAX];
	char *pem = NULL;
	const char *errstr = NULL;
	int rc;

	if (domain_param(ctx, params, ROLE_MEMBER, &dom, err) < 0)
		return -1;
	rc = store_domain_dkim_get(ctx->store, dom.name, selector, sizeof(selector), &pem, &errstr);
	free(pem);
	if (rc < 0)
		return manage_fail_store(err, errstr);
	*result_r = manage_domain_json(&dom);
	json_object_set_new(*result_r, "dkim_selector", rc == 1 ? json_string(selector) : json_null());
	return 0;
}

static int domain_remove(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_domain dom;
	const char *errstr = NULL;

	if (domain_param(ctx, params, ROLE_ADMIN, &dom, err) < 0)
		return -1;
	if (store_domain_remove(ctx->store, dom.name, &errstr) < 0)
		return manage_fail(err, MANAGE_CONFLICT, "domain_not_empty", "%s", errstr);
	log_info("manage event=domain-removed domain=%s by=\"%s\"", dom.name, manage_actor_name(ctx));
	*result_r = json_pack("{s:s}", "removed", dom.name);
	return 0;
}

/* domain.remove {domain} -> {removed} (owner/admin; no addresses left) */
static int op_domain_remove(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	int rc;

	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = domain_remove(ctx, params, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

/* Re-reads the domain after a change and makes it the result. */
static int domain_result(struct manage_ctx *ctx, const char *name, json_t **result_r, struct manage_error *err)
{
	struct store_domain dom;
	const char *errstr = NULL;
	int rc = store_domain_get(ctx->store, name, &dom, &errstr);

	if (rc != 1)
		return manage_fail_store(err, rc < 0 ? errstr : "the domain vanished");
	*result_r = manage_domain_json(&dom);
	return 0;
}

/* Links (to the organisation's service with `plan`, created when missing) or unlinks. */
static int domain_relink(struct manage_ctx *ctx, json_t *params, bool link, json_t **result_r,
			 struct manage_error *err)
{
	struct store_domain dom;
	const char *errstr = NULL;
	enum plan plan;
	int64_t service;

	if (domain_param(ctx, params, ROLE_ADMIN, &dom, err) < 0 ||
	    param_plan(params, "plan", dom.service_id != 0 ? dom.plan : PLAN_STARTER, &plan, err) < 0 ||
	    manage_param_int(params, "service", 0, 0, INT64_MAX, &service, err) < 0)
		return -1;
	if (link && service != 0 && store_manage_domain_link(ctx->store, dom.id, service, &errstr) < 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "service_not_found", "%s", errstr);
	if (link && service == 0 && store_domain_set_plan(ctx->store, dom.name, plan, &errstr) < 0)
		return manage_fail_store(err, errstr);
	if (!link && store_manage_domain_link(ctx->store, dom.id, 0, &errstr) < 0)
		return manage_fail_store(err, errstr);
	log_info("manage event=domain-%s domain=%s by=\"%s\"", link ? "linked" : "unlinked", dom.name,
		 manage_actor_name(ctx));
	return domain_result(ctx, dom.name, result_r, err);
}

static void count_row(const struct store_address *addr, unsigned perms, void *arg)
{
	(void)addr;
	(void)perms;
	(*(int *)arg)++;
}

/* An unlinked domain hosts no addresses (they would have no plan). */
static int unlink_allowed(struct manage_ctx *ctx, json_t *params, struct manage_error *err)
{
	struct store_domain dom;
	struct store_address_page q = { 0 };
	int n = 0;
	const char *errstr = NULL;

	if (domain_param(ctx, params, ROLE_ADMIN, &dom, err) < 0)
		return -1;
	q.domain_id = dom.id;
	q.limit = 1;
	if (store_manage_address_page(ctx->store, &q, count_row, &n, &errstr) < 0)
		return manage_fail_store(err, errstr);
	if (n > 0)
		return manage_fail(err, MANAGE_CONFLICT, "domain_not_empty",
				   "domain %s still has addresses; remove them before unlinking it", dom.name);
	return 0;
}

static int op_domain_plan(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	const char *plan;
	int rc;

	if (manage_param_str(params, "plan", true, 16, &plan, err) < 0 || manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = domain_relink(ctx, params, true, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

static int op_domain_link(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	int rc;

	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = domain_relink(ctx, params, true, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

static int op_domain_unlink(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	int rc;

	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = unlink_allowed(ctx, params, err);
	if (rc == 0)
		rc = domain_relink(ctx, params, false, result_r, err);
	return manage_txn_end(ctx, rc, result_r, err);
}

/* ---- DNS records ---- */

static void record_add(json_t *records, const char *domain, const char *name, const char *type, const char *value,
		       const char *check, const char *comment)
{
	char fqdn[MAIL_DOMAIN_MAX + 80];

	if (strcmp(name, "@") == 0)
		snprintf(fqdn, sizeof(fqdn), "%s", domain);
	else
		snprintf(fqdn, sizeof(fqdn), "%s.%s", name, domain);
	json_array_append_new(records, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s?, s:s}", "name", name, "fqdn", fqdn,
						 "ttl", DNS_TTL, "type", type, "value", value, "check", check,
						 "comment", comment));
}

/*
 * The records a hosted domain needs. Client autoconfiguration follows RFC
 * 6186 (SRV for IMAP, POP3 and submission, with implicit TLS per RFC 8314)
 * plus the Thunderbird "autoconfig" and Outlook "autodiscover" host names.
 */
static void dns_base_records(json_t *records, const char *d, const char *host)
{
	char v[MAIL_DOMAIN_MAX + 128];

	snprintf(v, sizeof(v), "10 %s.", host);
	record_add(records, d, "@", "MX", v, "mx", "mail for the domain is delivered to this server");
	record_add(records, d, "@", "TXT", "v=spf1 mx -all", "spf", "SPF: only the domain's MX hosts may send mail as it");
	snprintf(v, sizeof(v), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", d);
	record_add(records, d, "_dmarc", "TXT", v, "dmarc",
		   "DMARC: quarantine mail that fails SPF/DKIM alignment; reports to postmaster");
	snprintf(v, sizeof(v), "%s.", host);
	record_add(records, d, "autoconfig", "CNAME", v, NULL, "Thunderbird-style client autoconfiguration");
	record_add(records, d, "autodiscover", "CNAME", v, NULL, "Outlook-style client autodiscovery");
	snprintf(v, sizeof(v), "0 1 993 %s.", host);
	record_add(records, d, "_imaps._tcp", "SRV", v, NULL, "RFC 6186 / RFC 8314: IMAP over TLS on port 993");
	snprintf(v, sizeof(v), "0 1 465 %s.", host);
	record_add(records, d, "_submissions._tcp", "SRV", v, NULL,
		   "RFC 6186 / RFC 8314: message submission over TLS on port 465");
	snprintf(v, sizeof(v), "0 1 995 %s.", host);
	record_add(records, d, "_pop3s._tcp", "SRV", v, NULL, "RFC 6186 / RFC 8314: POP3 over TLS on port 995");
}

/* The record text "v=DKIM1; k=rsa; p=..." for a stored private key (NUL-terminated in rec). */
static int dkim_record(const char *domain, const char *pem, struct buf *rec, struct manage_error *err)
{
	struct dkim_key *key = NULL;
	struct buf pub;
	const char *errstr = NULL;
	int rc = -1;

	buf_init(&pub, 0);
	if (dkim_key_load_pem(slice_cstr(pem), &key, &errstr) < 0)
		manage_fail(err, MANAGE_INTERNAL, "dkim_unusable", "the stored DKIM key of %s is unusable: %s", domain,
			    errstr);
	else if (dkim_key_public_b64(key, &pub, &errstr) < 0 || buf_append(&pub, "", 1) < 0)
		manage_fail(err, MANAGE_INTERNAL, "dkim_unusable", "cannot derive the DKIM public key of %s: %s",
			    domain, errstr != NULL ? errstr : "?");
	else if (dkim_dns_record(dkim_key_algorithm(key), pub.data, rec) < 0 || buf_append(rec, "", 1) < 0)
		manage_fail(err, MANAGE_INTERNAL, "dkim_unusable", "cannot format the DKIM record of %s", domain);
	else
		rc = 0;
	dkim_key_destroy(&key);
	buf_free(&pub);
	return rc;
}

/* The DKIM TXT record; *has_key_r false when the domain has no key yet. */
static int dns_dkim_record(struct manage_ctx *ctx, json_t *records, const char *domain, bool *has_key_r,
			   struct manage_error *err)
{
	char selector[DKIM_SELECTOR_MAX], name[DKIM_SELECTOR_MAX + 16];
	char *pem = NULL;
	const char *errstr = NULL;
	struct buf rec;
	int rc = store_domain_dkim_get(ctx->store, domain, selector, sizeof(selector), &pem, &errstr);

	*has_key_r = rc == 1;
	if (rc <= 0)
		return rc < 0 ? manage_fail_store(err, errstr) : 0;
	buf_init(&rec, 0);
	rc = dkim_record(domain, pem, &rec, err);
	free(pem);
	if (rc == 0) {
		snprintf(name, sizeof(name), "%s._domainkey", selector);
		record_add(records, domain, name, "TXT", rec.data, "dkim",
			   "DKIM: the public key receivers use to verify hermod's signatures");
	}
	buf_free(&rec);
	return rc;
}

static void check_row(const struct store_domain_check *c, void *arg)
{
	json_object_set_new(arg, c->record, json_pack("{s:s, s:s, s:s, s:o}", "status", c->status, "found", c->found,
						      "expected", c->expected, "checked",
						      manage_time_json(c->checked_at)));
}

/* Each record with a check gets the last result of that check ("unchecked" when none). */
static void dns_attach_checks(json_t *records, json_t *checks)
{
	size_t i;
	json_t *r;

	json_array_foreach(records, i, r) {
		const char *check = json_string_value(json_object_get(r, "check"));
		json_t *c = check != NULL ? json_object_get(checks, check) : NULL;

		json_object_set_new(r, "status", json_string(c != NULL ? json_string_value(json_object_get(c, "status"))
									: check != NULL ? "unchecked"
											: "not checked"));
	}
}

/*
 * domain.dns {domain} -> {domain, host, records: [{name, fqdn, ttl, type,
 * value, check, comment, status}], dkim (false: no key yet), checks:
 * {mx|spf|dkim|dmarc: {status, found, expected, checked}}}
 */
static int op_domain_dns(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_domain dom;
	json_t *records, *checks;
	const char *errstr = NULL;
	bool has_key;

	if (domain_param(ctx, params, ROLE_MEMBER, &dom, err) < 0)
		return -1;
	records = json_array();
	checks = json_object();
	dns_base_records(records, dom.name, ctx->cfg->hostname);
	if (dns_dkim_record(ctx, records, dom.name, &has_key, err) < 0 ||
	    store_manage_domain_checks(ctx->store, dom.id, check_row, checks, &errstr) < 0) {
		json_decref(records);
		json_decref(checks);
		return errstr != NULL ? manage_fail_store(err, errstr) : -1;
	}
	dns_attach_checks(records, checks);
	*result_r = json_pack("{s:s, s:s, s:o, s:b, s:o}", "domain", dom.name, "host", ctx->cfg->hostname, "records",
			      records, "dkim", has_key, "checks", checks);
	return 0;
}

/* ---- DKIM key ---- */

static int dkim_store(struct manage_ctx *ctx, const char *domain, bool rotate, const struct dkim_keypair *kp,
		      bool *replaced_r, struct manage_error *err)
{
	char selector[DKIM_SELECTOR_MAX];
	char *pem = NULL;
	const char *errstr = NULL;
	int rc = store_domain_dkim_get(ctx->store, domain, selector, sizeof(selector), &pem, &errstr);

	free(pem);
	if (rc < 0)
		return manage_fail_store(err, errstr);
	*replaced_r = rc == 1;
	if (rc == 1 && !rotate)
		return manage_fail(err, MANAGE_CONFLICT, "dkim_exists",
				   "domain %s already has a DKIM key (selector %s); rotate replaces it", domain, selector);
	if (store_domain_dkim_set(ctx->store, domain, DKIM_SELECTOR, kp->private_pem, &errstr) < 0)
		return manage_fail_store(err, errstr);
	return 0;
}

/* domain.dkim {domain, rotate?} -> {domain, selector, bits, replaced} (owner/admin) */
static int op_domain_dkim(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_domain dom;
	struct dkim_keypair kp = { 0 };
	const char *errstr = NULL;
	bool rotate, replaced = false;
	int rc;

	if (domain_param(ctx, params, ROLE_ADMIN, &dom, err) < 0 ||
	    manage_param_bool(params, "rotate", false, &rotate, err) < 0)
		return -1;
	if (dkim_keygen(DKIM_ALG_RSA_SHA256, DKIM_RSA_BITS, &kp, &errstr) < 0)
		return manage_fail(err, MANAGE_INTERNAL, "dkim_failed", "cannot create a DKIM key for %s: %s",
				   dom.name, errstr);
	rc = manage_txn_begin(ctx, err);
	if (rc == 0) {
		rc = dkim_store(ctx, dom.name, rotate, &kp, &replaced, err);
		if (rc == 0)
			*result_r = json_pack("{s:s, s:s, s:i, s:b}", "domain", dom.name, "selector", DKIM_SELECTOR,
					      "bits", DKIM_RSA_BITS, "replaced", replaced);
		rc = manage_txn_end(ctx, rc, result_r, err);
	}
	dkim_keypair_clear(&kp);
	return rc;
}

const struct manage_op manage_domain_ops[] = {
	{ "domain.list", op_domain_list, false, false, "The domains of the caller's organisations" },
	{ "domain.add", op_domain_add, true, false,
	  "Add a domain {domain, org, plan free|starter|pro} with its DKIM key (owner/admin of org)" },
	{ "domain.get", op_domain_get, false, false, "A domain {domain}: organisation, plan, link, DKIM selector" },
	{ "domain.remove", op_domain_remove, true, false, "Remove a domain {domain} without addresses (owner/admin)" },
	{ "domain.plan", op_domain_plan, true, false, "Change a domain's plan {domain, plan} (owner/admin)" },
	{ "domain.link", op_domain_link, true, false,
	  "Link a domain to a mail service {domain, service (id) or plan} (owner/admin)" },
	{ "domain.unlink", op_domain_unlink, true, false,
	  "Unlink a domain without addresses from its mail service {domain} (owner/admin)" },
	{ "domain.dns", op_domain_dns, false, false,
	  "The DNS records a domain {domain} needs, with the last check of each" },
	{ "domain.dkim", op_domain_dkim, true, false, "Create a domain's DKIM key, or replace it {domain, rotate}" },
	{ NULL, NULL, false, false, NULL },
};
