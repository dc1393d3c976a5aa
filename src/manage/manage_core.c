/*
 * manage_core: transactions, visibility-checked lookups, parameter parsers
 * and JSON shapes shared by the core operations.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "manage/manage_core.h"
#include "store/store_manage.h"

int manage_txn_begin(struct manage_ctx *ctx, struct manage_error *err)
{
	const char *errstr = NULL;

	if (store_manage_begin(ctx->store, &errstr) < 0)
		return manage_fail_store(err, errstr);
	return 0;
}

int manage_txn_end(struct manage_ctx *ctx, int rc, json_t **result_r, struct manage_error *err)
{
	const char *errstr = NULL;

	if (rc == 0 && store_manage_commit(ctx->store, &errstr) < 0)
		rc = manage_fail_store(err, errstr);
	else if (rc != 0)
		store_manage_rollback(ctx->store);
	if (rc != 0) {
		json_decref(*result_r);
		*result_r = NULL;
		return -1;
	}
	return 0;
}

int manage_param_domain(json_t *params, const char *field, char domain_r[MAIL_DOMAIN_MAX + 1],
			struct manage_error *err)
{
	const char *text;
	char why[256];

	if (manage_param_str(params, field, true, 1024, &text, err) < 0)
		return -1;
	if (mail_domain_parse(text, domain_r, why, sizeof(why)) < 0)
		return manage_fail_field(err, field, "%s", why);
	return 0;
}

int manage_param_address(json_t *params, const char *field, char text_r[MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2],
			 char local_r[MAIL_LOCAL_MAX + 1], char domain_r[MAIL_DOMAIN_MAX + 1],
			 struct manage_error *err)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], why[256];
	const char *text;

	if (manage_param_str(params, field, true, 1024, &text, err) < 0)
		return -1;
	if (mail_address_parse(text, local, domain, why, sizeof(why)) < 0)
		return manage_fail_field(err, field, "%s", why);
	snprintf(text_r, MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2, "%s@%s", local, domain);
	if (local_r != NULL)
		memcpy(local_r, local, sizeof(local));
	if (domain_r != NULL)
		memcpy(domain_r, domain, sizeof(domain));
	return 0;
}

int manage_check_login(const char *login, const char *field, struct manage_error *err)
{
	size_t len = strlen(login), max = sizeof(((struct store_account *)0)->login) - 1;

	if (len == 0 || len > max)
		return manage_fail_field(err, field, "login must have 1 to %zu characters", max);
	/* Logins are typed at login prompts: visible ASCII only, no spaces. */
	for (const unsigned char *p = (const unsigned char *)login; *p != '\0'; p++) {
		if (*p >= 0x80)
			return manage_fail_field(err, field, "login '%s' is not valid: accented characters are not allowed",
						 login);
		if (*p <= 0x20 || *p == 0x7f)
			return manage_fail_field(err, field,
						 "login '%s' is not valid: spaces and control characters are not allowed",
						 login);
	}
	return 0;
}

int manage_check_name(const char *what, const char *name, const char *field, size_t max, struct manage_error *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > max)
		return manage_fail_field(err, field, "%s name must have 1 to %zu bytes", what, max);
	/* Names are printed in tab-separated lists: no control characters. */
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return manage_fail_field(err, field, "%s name '%s' is not valid: control characters are not allowed",
						 what, name);
	return 0;
}

/* Applies the role rule to a found organisation (NOT_FOUND for strangers). */
static int org_need(struct manage_ctx *ctx, int64_t org_id, const char *what, const char *name,
		    enum org_role min, enum org_role *role_r, struct manage_error *err)
{
	enum org_role role = ROLE_OWNER;
	int rc = manage_org_role(ctx, org_id, &role, err);

	if (rc < 0)
		return -1;
	/* the same answer as for a name that does not exist: nothing leaks */
	if (rc == 0 && strcmp(what, "domain") == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "domain_not_found", "domain %s is not hosted here", name);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "organisation_not_found", "no organisation %s", name);
	if (role_r != NULL)
		*role_r = role;
	return manage_need_org(ctx, org_id, min, err);
}

int manage_find_org(struct manage_ctx *ctx, const char *name, enum org_role min, struct store_org *org_r,
		    enum org_role *role_r, struct manage_error *err)
{
	const char *errstr = NULL;
	int rc = store_org_get(ctx->store, name, org_r, &errstr);

	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "organisation_not_found", "no organisation %s", name);
	return org_need(ctx, org_r->id, "organisation", name, min, role_r, err);
}

int manage_find_domain(struct manage_ctx *ctx, const char *name, enum org_role min, struct store_domain *dom_r,
		       struct manage_error *err)
{
	const char *errstr = NULL;
	int rc = store_domain_get(ctx->store, name, dom_r, &errstr);

	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "domain_not_found", "domain %s is not hosted here", name);
	return org_need(ctx, dom_r->org_id, "domain", name, min, NULL, err);
}

int manage_find_account(struct manage_ctx *ctx, const char *login, struct store_account *acct_r,
			struct manage_error *err)
{
	const char *errstr = NULL;
	int rc = store_account_get(ctx->store, login, acct_r, &errstr);

	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "account_not_found", "account %s does not exist", login);
	return 0;
}

int manage_hash_param(json_t *params, const char *field, char hash_r[PASSWORD_HASH_MAX], struct manage_error *err)
{
	const char *password;
	char why[256];

	/* password_hash names the length limit itself */
	if (manage_param_str(params, field, true, 4 * PASSWORD_MAX_LENGTH, &password, err) < 0)
		return -1;
	if (password_hash(password, hash_r, why, sizeof(why)) < 0)
		return manage_fail_field(err, field, "%s", why);
	return 0;
}

int manage_check_account_password(struct manage_ctx *ctx, json_t *params, const char *field,
				  struct manage_error *err)
{
	char hash[PASSWORD_HASH_MAX];
	const char *password, *errstr = NULL;
	int rc;

	if (ctx->actor.system)
		return 0;
	if (manage_param_str(params, field, true, PASSWORD_MAX_LENGTH, &password, err) < 0)
		return -1;
	rc = store_account_password_hash(ctx->store, ctx->actor.login, hash, sizeof(hash), &errstr);
	if (rc < 0)
		return manage_fail_store(err, errstr);
	/* an account gone since it logged in: the same answer as a wrong password */
	if (rc == 0 || !password_verify(hash, password)) {
		log_info("manage event=wrong-password account=%s channel=%s ip=%s", ctx->actor.login,
			 ctx->actor.channel != NULL ? ctx->actor.channel : "", ctx->actor.ip);
		manage_fail(err, MANAGE_FORBIDDEN, "wrong_password", "the password of account %s is not correct",
			    ctx->actor.login);
		snprintf(err->field, sizeof(err->field), "%s", field);
		return -1;
	}
	return 0;
}

const char *manage_actor_name(const struct manage_ctx *ctx)
{
	return ctx->actor.system ? "operator" : ctx->actor.login;
}

static const char *const kind_names[] = {
	[ADDRESS_MAILBOX] = "mailbox",
	[ADDRESS_CATCHALL] = "catchall",
	[ADDRESS_NOREPLY] = "noreply",
	[ADDRESS_ALIAS] = "alias",
};

const char *manage_kind_name(enum address_kind kind)
{
	return (size_t)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "?";
}

int manage_kind_parse(const char *name, enum address_kind *kind_r)
{
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*kind_r = (enum address_kind)i;
			return 0;
		}
	}
	return -1;
}

static const char *const role_names[] = { [ROLE_OWNER] = "owner", [ROLE_ADMIN] = "admin", [ROLE_MEMBER] = "member" };

const char *manage_role_name(enum org_role role)
{
	return (size_t)role < sizeof(role_names) / sizeof(role_names[0]) ? role_names[role] : "?";
}

int manage_role_parse(const char *name, enum org_role *role_r)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*role_r = (enum org_role)i;
			return 0;
		}
	}
	return -1;
}

json_t *manage_time_json(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char out[32];

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_integer(t);
	return json_string(out);
}

json_t *manage_address_json(const struct store_address *a, unsigned perms)
{
	char text[sizeof(a->local) + sizeof(a->domain) + 1];

	snprintf(text, sizeof(text), "%s@%s", a->local, a->domain);
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:b, s:o, s:o}", "address", text, "kind",
			 manage_kind_name(a->kind), "quota", (json_int_t)a->quota_bytes, "used",
			 (json_int_t)a->used_bytes, "messages", (json_int_t)a->message_count, "has_password",
			 a->has_password, "created", manage_time_json(a->created_at), "rights", manage_perms_json(perms));
}

json_t *manage_domain_json(const struct store_domain *d)
{
	return json_pack("{s:s, s:s, s:o, s:b, s:o}", "name", d->name, "organisation", d->org_name, "plan",
			 d->service_id != 0 ? json_string(config_plan_name(d->plan)) : json_null(), "linked",
			 d->service_id != 0, "created", manage_time_json(d->created_at));
}
