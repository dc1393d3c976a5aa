/*
 * manage_core: what the core operations (organisations, accounts, domains,
 * addresses, access, history: manage_{org,account,domain,address,access,
 * history}.c) share beyond manage.h: transactions, lookups that apply the
 * visibility rules, parameter parsers and JSON shapes. Other parts of the
 * service layer may use it too.
 */
#ifndef HERMOD_MANAGE_MANAGE_CORE_H
#define HERMOD_MANAGE_MANAGE_CORE_H

#include "auth/password.h"
#include "mail/mail_address.h"
#include "manage/manage.h"

/* Default and largest page of a listing. */
#define MANAGE_PAGE_DEFAULT 100
#define MANAGE_PAGE_MAX 1000

/* One store transaction around an operation's writes (store_manage_begin). */
int manage_txn_begin(struct manage_ctx *ctx, struct manage_error *err);
/*
 * Ends it: commits when rc is 0 (a failed commit turns into an INTERNAL
 * error), rolls back otherwise; on failure *result_r is released and set to
 * NULL. Returns 0 or -1, for `return manage_txn_end(...)`.
 */
int manage_txn_end(struct manage_ctx *ctx, int rc, json_t **result_r, struct manage_error *err);

/* A required domain name parameter, validated and lower-cased. */
int manage_param_domain(json_t *params, const char *field, char domain_r[MAIL_DOMAIN_MAX + 1],
			struct manage_error *err);
/* A required address parameter, validated; local_r/domain_r may be NULL. */
int manage_param_address(json_t *params, const char *field, char text_r[MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2],
			 char local_r[MAIL_LOCAL_MAX + 1], char domain_r[MAIL_DOMAIN_MAX + 1],
			 struct manage_error *err);
/* A login (visible ASCII, no spaces, at most 319 bytes). */
int manage_check_login(const char *login, const char *field, struct manage_error *err);
/* A display name (organisation): 1..max bytes, no control characters. */
int manage_check_name(const char *what, const char *name, const char *field, size_t max, struct manage_error *err);

/*
 * An organisation by name that the actor may act on with at least role
 * `min`: NOT_FOUND when it does not exist or the actor is not a member,
 * FORBIDDEN below `min`. role_r (may be NULL) gets the actor's role.
 */
int manage_find_org(struct manage_ctx *ctx, const char *name, enum org_role min, struct store_org *org_r,
		    enum org_role *role_r, struct manage_error *err);
/* The same for a domain (its organisation decides). */
int manage_find_domain(struct manage_ctx *ctx, const char *name, enum org_role min, struct store_domain *dom_r,
		       struct manage_error *err);
/* An account by login: NOT_FOUND when there is none. */
int manage_find_account(struct manage_ctx *ctx, const char *login, struct store_account *acct_r,
			struct manage_error *err);

/* Hashes a new password parameter (hash before manage_txn_begin). */
int manage_hash_param(json_t *params, const char *field, char hash_r[PASSWORD_HASH_MAX], struct manage_error *err);
/*
 * Checks the actor's own account password (parameter `field`): FORBIDDEN
 * "wrong_password" on a mismatch. The system actor (the command line) has
 * none and passes: it confirms with --yes instead.
 */
int manage_check_account_password(struct manage_ctx *ctx, json_t *params, const char *field,
				  struct manage_error *err);

/* Who acts, for log lines: the account's login, or "operator". */
const char *manage_actor_name(const struct manage_ctx *ctx);

const char *manage_kind_name(enum address_kind kind);
int manage_kind_parse(const char *name, enum address_kind *kind_r);
const char *manage_role_name(enum org_role role);
int manage_role_parse(const char *name, enum org_role *role_r);
/* "2024-05-01T12:00:00Z" (RFC 3339, UTC). */
json_t *manage_time_json(int64_t t);
/* {address, kind, quota, used, messages, has_password, created, rights} */
json_t *manage_address_json(const struct store_address *a, unsigned perms);
/* {name, organisation, plan (null when unlinked), linked, created} */
json_t *manage_domain_json(const struct store_domain *d);

#endif
