/*
 * manage_devices: an address's app passwords ("manage devices (address
 * password and app passwords)", issue 5). Up to STORE_APP_PASSWORDS_MAX
 * named device passwords per address, each usable instead of the address
 * password for IMAP, POP3 and submission and revocable on its own, so that
 * a lost phone is cut off without changing every other device's password.
 *
 * hermod generates them (never chosen: a full-entropy secret is what lets
 * the store keep a plain SHA-256 and the login skip argon2) and shows each
 * once, in the answer of app_password.create; listing never shows one.
 * Every operation needs the "devices" right on the address.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "store/store_devices.h"

#define ADDR_TEXT_MAX (MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2)

/* The address parameter, looked up for the "devices" right; app passwords are for addresses that log in. */
static int devices_address(struct manage_ctx *ctx, json_t *params, char text[ADDR_TEXT_MAX],
			   struct store_address *addr, struct manage_error *err)
{
	if (manage_param_address(params, "address", text, NULL, NULL, err) < 0 ||
	    manage_need_address(ctx, text, PERM_DEVICES, addr, err) < 0)
		return -1;
	if (addr->kind == ADDRESS_ALIAS)
		return manage_fail(err, MANAGE_CONFLICT, "no_login",
				   "%s is an alias: it does not log in, so it has no app passwords", text);
	return 0;
}

static int devices_name(json_t *params, const char **name_r, struct manage_error *err)
{
	if (manage_param_str(params, "name", true, STORE_APP_PASSWORD_NAME_MAX, name_r, err) < 0)
		return -1;
	return manage_check_name("an app password's", *name_r, "name", STORE_APP_PASSWORD_NAME_MAX, err);
}

/* ---- app_password.list ---- */

static json_t *pw_json(const struct store_app_password *pw)
{
	return json_pack("{s:s, s:o, s:o}", "name", pw->name, "created", manage_time_json(pw->created_at),
			 "last_used", pw->last_used_at != 0 ? manage_time_json(pw->last_used_at) : json_null());
}

static void list_row(const struct store_app_password *pw, void *arg)
{
	json_array_append_new(arg, pw_json(pw));
}

/* app_password.list {address} -> {address, app_passwords: [{name, created, last_used}], max} */
static int op_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	const char *errstr = NULL;
	json_t *list;

	if (devices_address(ctx, params, text, &addr, err) < 0)
		return -1;
	list = json_array();
	if (store_app_password_list(ctx->store, addr.id, list_row, list, &errstr) < 0) {
		json_decref(list);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:s, s:o, s:i}", "address", text, "app_passwords", list, "max",
			      STORE_APP_PASSWORDS_MAX);
	return 0;
}

/* ---- app_password.create ---- */

/* The limit and the name, checked inside the transaction (two creations at once cannot both pass). */
static int create_allowed(struct manage_ctx *ctx, const struct store_address *addr, const char *text,
			  const char *name, struct manage_error *err)
{
	const char *errstr = NULL;
	int64_t n;
	int rc;

	if (store_app_password_count(ctx->store, addr->id, &n, &errstr) < 0)
		return manage_fail_store(err, errstr);
	if (n >= STORE_APP_PASSWORDS_MAX)
		return manage_fail(err, MANAGE_CONFLICT, "too_many_app_passwords",
				   "%s already has %d app passwords, the most an address may have: revoke one first",
				   text, STORE_APP_PASSWORDS_MAX);
	if ((rc = store_app_password_get(ctx->store, addr->id, name, NULL, &errstr)) != 0)
		return rc < 0 ? manage_fail_store(err, errstr)
			      : manage_fail(err, MANAGE_CONFLICT, "app_password_exists",
					    "%s already has an app password called '%s'", text, name);
	return 0;
}

static int create_in_txn(struct manage_ctx *ctx, const struct store_address *addr, const char *text,
			 const char *name, json_t **result_r, struct manage_error *err)
{
	char secret[STORE_APP_PASSWORD_TEXT_MAX], hash[STORE_APP_PASSWORD_HASH_MAX];
	const char *errstr = NULL;

	if (create_allowed(ctx, addr, text, name, err) < 0)
		return -1;
	store_app_password_generate(secret, hash);
	if (store_app_password_add(ctx->store, addr->id, name, hash, (int64_t)ctx->now, &errstr) < 0) {
		sodium_memzero(secret, sizeof(secret));
		return manage_fail_store(err, errstr);
	}
	manage_history(ctx, addr->id, "app_password.create", "created the app password '%s'", name);
	/* shown this once: only its SHA-256 is kept */
	*result_r = json_pack("{s:s, s:s, s:s, s:o}", "address", text, "name", name, "password", secret, "created",
			      manage_time_json(ctx->now));
	sodium_memzero(secret, sizeof(secret));
	return 0;
}

/* app_password.create {address, name} -> {address, name, password (shown once), created} */
static int op_create(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	const char *name;
	int rc;

	if (devices_address(ctx, params, text, &addr, err) < 0 || devices_name(params, &name, err) < 0 ||
	    manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = create_in_txn(ctx, &addr, text, name, result_r, err);
	if (manage_txn_end(ctx, rc, result_r, err) < 0)
		return -1;
	log_info("manage event=app-password-created address=%s name=\"%s\" by=\"%s\" channel=%s", text, name,
		 manage_actor_name(ctx), ctx->actor.channel != NULL ? ctx->actor.channel : "");
	return 0;
}

/* ---- app_password.revoke ---- */

/* app_password.revoke {address, name} -> {address, revoked: name}; its device can no longer log in. */
static int op_revoke(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	const char *name, *errstr = NULL;
	int rc;

	if (devices_address(ctx, params, text, &addr, err) < 0 || devices_name(params, &name, err) < 0 ||
	    manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = store_app_password_revoke(ctx->store, addr.id, name, &errstr);
	if (rc < 0)
		manage_fail_store(err, errstr);
	else if (rc == 0)
		manage_fail(err, MANAGE_NOT_FOUND, "no_such_app_password", "%s has no app password called '%s'", text,
			    name);
	else
		manage_history(ctx, addr.id, "app_password.revoke", "revoked the app password '%s'", name);
	rc = rc == 1 ? 0 : -1;
	if (rc == 0)
		*result_r = json_pack("{s:s, s:s}", "address", text, "revoked", name);
	if (manage_txn_end(ctx, rc, result_r, err) < 0)
		return -1;
	log_info("manage event=app-password-revoked address=%s name=\"%s\" by=\"%s\" channel=%s", text, name,
		 manage_actor_name(ctx), ctx->actor.channel != NULL ? ctx->actor.channel : "");
	return 0;
}

const struct manage_op manage_devices_ops[] = {
	{ "app_password.list", op_list, false, false,
	  "An address's app passwords {address}: names, creation and last use, never the passwords (right: devices)" },
	{ "app_password.create", op_create, true, false,
	  "Create an app password {address, name}: generated, shown once, usable for IMAP, POP3 and submission "
	  "(at most 20; right: devices)" },
	{ "app_password.revoke", op_revoke, true, false,
	  "Revoke an app password {address, name}: its device can no longer log in (right: devices)" },
	{ NULL, NULL, false, false, NULL },
};
