/*
 * manage_inbound: the settings behind the delivery-time behaviour of an
 * address: its auto-reply (RFC 3834: on/off, dates, subject, text, period)
 * and an alias's targets with the confirmation of external ones.
 *
 * An external target (a domain not hosted here) receives forwarded mail only
 * after it followed the link sent to it: otherwise anyone could point an
 * alias at a stranger and make us a source of unwanted mail. The link holds
 * 32 random bytes (libsodium), base64url; only their SHA-256 is stored, and
 * it works once, within 30 days of being issued (alias_targets.created_at is
 * the issue time while a target waits). Setting the targets again sends a
 * fresh link to every external target still unconfirmed. Local targets need no confirmation: they are in the same
 * organisation's care, and their mail is never held back.
 *
 * A catchall never auto-replies (the seed: "no automatic reply will be sent
 * to the people sending a message to an address which does not exist"), and
 * a no-reply address receives nothing to answer: both are refused here so
 * the rule is visible, and the delivery path holds to it as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "mail/mail_address.h"
#include "manage/manage_inbound.h"
#include "manage/manage_ops.h"
#include "store/store_inbound.h"

#define TOKEN_BYTES 32
#define ADDRESS_TEXT_MAX MANAGE_ADDRESS_TEXT_MAX
#define PERIOD_MAX_S (365 * 86400)
#define CONFIRM_DAYS 30 /* like invitations and sharing links: a confirmation link lasts 30 days */

/* ---- shared ---- */

static json_t *time_json(int64_t t)
{
	char text[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0)
		return json_null();
	gmtime_r(&tt, &tm);
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(text);
}

/* "2026-07-01", "2026-07-01T08:00Z", "2026-07-01T08:00:00Z" (UTC), or unix seconds. */
static int parse_time(const char *text, int64_t *t_r)
{
	struct tm tm = { 0 };
	const char *end;

	if ((end = strptime(text, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	if (*end == 'T') {
		const char *rest = strptime(end + 1, "%H:%M", &tm);
		if (rest == NULL)
			return -1;
		if (*rest == ':' && (rest = strptime(rest + 1, "%S", &tm)) == NULL)
			return -1;
		if (*rest != 'Z' || rest[1] != '\0')
			return -1;
	} else if (*end != '\0') {
		return -1;
	}
	*t_r = (int64_t)timegm(&tm);
	return 0;
}

/*
 * A date parameter: absent leaves *t_r as it is (the stored value), null or
 * "" clears it (0), else a date as parse_time reads it or unix seconds.
 */
static int param_time(json_t *params, const char *field, int64_t *t_r, struct manage_error *err)
{
	json_t *v = json_object_get(params, field);

	if (v == NULL)
		return 0;
	if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
		*t_r = 0;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*t_r = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && parse_time(json_string_value(v), t_r) == 0)
		return 0;
	return manage_fail_field(err, field, "%s must be a date like 2026-07-01 or 2026-07-01T08:00:00Z (UTC)", field);
}

/* No control characters (a subject is one header line; a body may have line breaks). */
static bool text_ok(const char *s, bool multiline)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 32 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || c == 127)
			return false;
	}
	return true;
}

static int need_kind(const struct store_address *a, const char *address, struct manage_error *err)
{
	if (a->kind == ADDRESS_CATCHALL)
		return manage_fail(err, MANAGE_INVALID, "catchall_no_autoreply",
				   "%s is a catchall: it receives for addresses that do not exist and never "
				   "auto-replies", address);
	if (a->kind == ADDRESS_NOREPLY)
		return manage_fail(err, MANAGE_INVALID, "noreply_no_autoreply",
				   "%s is a no-reply address: it receives nothing to auto-reply to", address);
	return 0;
}

/* ---- autoreply.get / autoreply.set ---- */

static json_t *autoreply_json(struct manage_ctx *ctx, const char *address, const struct store_autoreply *ar)
{
	int64_t period = ar->period_s > 0 ? ar->period_s : (int64_t)ctx->cfg->autoreply_period_s;
	bool active = ar->enabled && (ar->starts_at == 0 || ctx->now >= ar->starts_at) &&
		      (ar->ends_at == 0 || ctx->now < ar->ends_at);

	return json_pack("{s:s, s:b, s:b, s:s, s:s, s:o, s:o, s:I, s:b}", "address", address, "enabled", ar->enabled,
			 "active", active, "subject", ar->subject, "body", ar->body, "starts_at",
			 time_json(ar->starts_at), "ends_at", time_json(ar->ends_at), "period_s", (json_int_t)period,
			 "period_default", ar->period_s == 0);
}

static int op_autoreply_get(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_autoreply *ar = calloc(1, sizeof(*ar));
	struct store_address a;
	const char *address, *errstr = NULL;
	int rc = -1;

	if (ar == NULL)
		return manage_fail(err, MANAGE_INTERNAL, "out_of_memory", "out of memory");
	if (manage_param_str(params, "address", true, ADDRESS_TEXT_MAX, &address, err) == 0 &&
	    manage_need_address(ctx, address, PERM_AUTOREPLY, &a, err) == 0) {
		if (store_inbound_autoreply_get(ctx->store, a.id, ar, &errstr) < 0) {
			manage_fail_store(err, errstr);
		} else {
			*result_r = autoreply_json(ctx, address, ar);
			rc = 0;
		}
	}
	free(ar);
	return rc;
}

/* Parameters given replace the stored ones; those absent keep them. */
static int autoreply_params(json_t *params, bool exists, struct store_autoreply *ar, struct manage_error *err)
{
	const char *subject, *body;
	int64_t period = ar->period_s;

	/* setting a text for the first time means turning it on, unless told otherwise */
	if (manage_param_bool(params, "enabled", exists ? ar->enabled : true, &ar->enabled, err) < 0 ||
	    manage_param_str(params, "subject", false, STORE_AUTOREPLY_SUBJECT_MAX, &subject, err) < 0 ||
	    manage_param_str(params, "body", false, STORE_AUTOREPLY_BODY_MAX, &body, err) < 0 ||
	    param_time(params, "starts_at", &ar->starts_at, err) < 0 || param_time(params, "ends_at", &ar->ends_at, err) < 0 ||
	    manage_param_int(params, "period_s", period, 0, PERIOD_MAX_S, &period, err) < 0)
		return -1;
	if (subject != NULL && !text_ok(subject, false))
		return manage_fail_field(err, "subject", "the subject must be one line without control characters");
	if (body != NULL && !text_ok(body, true))
		return manage_fail_field(err, "body", "the text must not contain control characters");
	if (subject != NULL)
		snprintf(ar->subject, sizeof(ar->subject), "%s", subject);
	if (body != NULL)
		snprintf(ar->body, sizeof(ar->body), "%s", body);
	ar->period_s = period;
	if (ar->enabled && ar->body[0] == '\0')
		return manage_fail_field(err, "body", "an auto-reply needs a text (body)");
	if (ar->starts_at != 0 && ar->ends_at != 0 && ar->ends_at <= ar->starts_at)
		return manage_fail_field(err, "ends_at", "the end date must come after the start date");
	return 0;
}

static int autoreply_set(struct manage_ctx *ctx, json_t *params, struct store_autoreply *ar, json_t **result_r,
			 struct manage_error *err)
{
	struct store_address a;
	const char *address, *errstr = NULL;
	int exists;

	if (manage_param_str(params, "address", true, ADDRESS_TEXT_MAX, &address, err) < 0 ||
	    manage_need_address(ctx, address, PERM_AUTOREPLY, &a, err) < 0 || need_kind(&a, address, err) < 0)
		return -1;
	if ((exists = store_inbound_autoreply_get(ctx->store, a.id, ar, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (autoreply_params(params, exists == 1, ar, err) < 0)
		return -1;
	if (store_inbound_autoreply_set(ctx->store, a.id, ar, &errstr) < 0)
		return manage_fail_store(err, errstr);
	manage_history(ctx, a.id, "autoreply.set", "%s", ar->enabled ? "on" : "off");
	*result_r = autoreply_json(ctx, address, ar);
	return 0;
}

static int op_autoreply_set(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_autoreply *ar = calloc(1, sizeof(*ar));
	int rc;

	if (ar == NULL)
		return manage_fail(err, MANAGE_INTERNAL, "out_of_memory", "out of memory");
	rc = autoreply_set(ctx, params, ar, result_r, err);
	free(ar);
	return rc;
}

/* ---- alias.targets.get / alias.targets.set ---- */

/* An alias the actor may configure: the right "redirections" or "aliases" will do. */
static int need_alias(struct manage_ctx *ctx, json_t *params, const char **address_r, struct store_address *a,
		      struct manage_error *err)
{
	if (manage_param_str(params, "address", true, ADDRESS_TEXT_MAX, address_r, err) < 0)
		return -1;
	if (manage_need_address(ctx, *address_r, PERM_REDIRECTIONS, a, err) < 0) {
		if (err->status != MANAGE_FORBIDDEN)
			return -1;
		memset(err, 0, sizeof(*err));
		if (manage_need_address(ctx, *address_r, PERM_ALIASES, a, err) < 0)
			return -1;
	}
	if (a->kind != ADDRESS_ALIAS)
		return manage_fail(err, MANAGE_INVALID, "not_an_alias",
				   "%s is not an alias; only an alias redirects to targets", *address_r);
	return 0;
}

struct targets_json {
	struct manage_ctx *ctx;
	json_t *array;
	int rc;
	const char *errstr;
};

/* Hosted here? 1, 0 or -1. */
static int domain_hosted(struct store *s, const char *address, const char **errstr_r)
{
	const char *at = strrchr(address, '@');
	struct store_domain d;

	return at != NULL ? store_domain_get(s, at + 1, &d, errstr_r) : 0;
}

static void target_json(const struct store_alias_target *t, void *arg)
{
	struct targets_json *tj = arg;
	int local = domain_hosted(tj->ctx->store, t->target, &tj->errstr);

	if (local < 0)
		tj->rc = -1;
	json_array_append_new(tj->array,
			      json_pack("{s:s, s:s, s:b, s:s, s:o}", "address", t->target, "kind",
					local == 1 ? "local" : "external", "confirmed", local == 1 || t->confirmed,
					"status", local == 1 || t->confirmed ? "active" : "awaiting_confirmation",
					"added", time_json(t->created_at)));
}

static int targets_result(struct manage_ctx *ctx, const char *address, const struct store_address *a,
			  json_t **result_r, struct manage_error *err)
{
	struct targets_json tj = { .ctx = ctx, .array = json_array() };
	const char *errstr = NULL;

	if (store_inbound_targets(ctx->store, a->id, target_json, &tj, &errstr) < 0 || tj.rc < 0) {
		json_decref(tj.array);
		return manage_fail_store(err, errstr != NULL ? errstr : tj.errstr);
	}
	*result_r = json_pack("{s:s, s:o}", "address", address, "targets", tj.array);
	return 0;
}

static int op_targets_get(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_address a;
	const char *address;

	if (need_alias(ctx, params, &address, &a, err) < 0)
		return -1;
	return targets_result(ctx, address, &a, result_r, err);
}

/* The targets parameter: 1 to 10 distinct addresses, none the alias itself. */
static int param_targets(json_t *params, const char *alias, char (*targets)[ADDRESS_TEXT_MAX], size_t *n_r,
			 struct manage_error *err)
{
	json_t *v = json_object_get(params, "targets"), *t;
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], why[128];
	size_t i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return manage_fail_field(err, "targets", "targets must be a list of 1 to %d addresses",
					 STORE_ALIAS_TARGETS_MAX);
	if (json_array_size(v) > STORE_ALIAS_TARGETS_MAX)
		return manage_fail_field(err, "targets", "a redirection has at most %d targets",
					 STORE_ALIAS_TARGETS_MAX);
	*n_r = 0;
	json_array_foreach(v, i, t) {
		if (!json_is_string(t))
			return manage_fail_field(err, "targets", "targets must be a list of addresses");
		if (mail_address_parse(json_string_value(t), local, domain, why, sizeof(why)) < 0)
			return manage_fail_field(err, "targets", "%s: %s", json_string_value(t), why);
		snprintf(targets[*n_r], ADDRESS_TEXT_MAX, "%s@%s", local, domain);
		if (strcasecmp(targets[*n_r], alias) == 0)
			return manage_fail_field(err, "targets", "an alias cannot redirect to itself");
		for (size_t k = 0; k < *n_r; k++)
			if (strcasecmp(targets[k], targets[*n_r]) == 0)
				return manage_fail_field(err, "targets", "%s is listed twice", targets[k]);
		(*n_r)++;
	}
	return 0;
}

struct old_targets {
	struct store_alias_target t[64];
	size_t n;
};

static void old_target(const struct store_alias_target *t, void *arg)
{
	struct old_targets *o = arg;

	if (o->n < sizeof(o->t) / sizeof(o->t[0]))
		o->t[o->n++] = *t;
}

static const struct store_alias_target *was_target(const struct old_targets *o, const char *target)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcasecmp(o->t[i].target, target) == 0)
			return &o->t[i];
	return NULL;
}

/* A local target must exist and receive mail. */
static int check_local_target(struct manage_ctx *ctx, const char *target, struct manage_error *err)
{
	const char *at = strrchr(target, '@'), *errstr = NULL;
	char local[MAIL_LOCAL_MAX + 1];
	struct store_address t;
	int rc;

	snprintf(local, sizeof(local), "%.*s", (int)(at - target), target);
	if ((rc = store_address_get(ctx->store, local, at + 1, &t, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail_field(err, "targets", "%s does not exist (its domain is hosted here)", target);
	if (t.kind == ADDRESS_NOREPLY)
		return manage_fail_field(err, "targets", "%s is a no-reply address and receives no mail", target);
	return 0;
}

/* The link and the message that asks an external target to agree. */
static void confirmation_message(struct manage_ctx *ctx, const char *alias, const char *target, const char *token)
{
	char *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);
	const char *rcpts[1] = { target };
	char date[64], base[256];
	time_t now = ctx->now;
	struct tm tm;

	manage_public_url(ctx->cfg, base, sizeof(base));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(f,
		"From: <%s>\r\nTo: <%s>\r\nSubject: Confirm forwarding of mail for %s\r\nDate: %s\r\n"
		"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
		"Mail sent to %s is to be forwarded to you (%s).\r\n\r\n"
		"Nothing is forwarded until you agree. To agree, open this link:\r\n\r\n"
		"  %s/api/v1/confirm/%s\r\n\r\n"
		"Or ask the operator to run:\r\n\r\n  hermod alias confirm -- %s\r\n\r\n"
		"If you did not expect this, ignore this message: you will receive nothing.\r\n",
		alias, target, alias, date, alias, target, base, token, token);
	fclose(f);
	/* from the null sender: a failure to deliver it must not come back to anyone */
	manage_outbox_add(ctx, "", rcpts, 1, msg, len);
	free(msg);
}

/* A new external target: its token (hash stored), and the message with the link. */
static void new_confirmation(struct manage_ctx *ctx, const char *alias, const char *target,
			     unsigned char hash_r[STORE_TOKEN_HASH_BYTES])
{
	unsigned char raw[TOKEN_BYTES];
	char token[sodium_base64_ENCODED_LEN(TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(token, sizeof(token), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(hash_r, (const unsigned char *)token, strlen(token));
	confirmation_message(ctx, alias, target, token);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(token, sizeof(token));
}

int manage_alias_targets_apply(struct manage_ctx *ctx, const struct store_address *alias,
			       const char (*targets)[ADDRESS_TEXT_MAX], size_t n, json_t *sent, struct manage_error *err)
{
	unsigned char hashes[STORE_ALIAS_TARGETS_MAX][STORE_TOKEN_HASH_BYTES];
	struct store_alias_target_new list[STORE_ALIAS_TARGETS_MAX];
	struct old_targets *old = calloc(1, sizeof(*old));
	char name[sizeof(alias->local) + sizeof(alias->domain)];
	const char *errstr = NULL;
	int rc = 0;

	if (old == NULL)
		return manage_fail(err, MANAGE_INTERNAL, "out_of_memory", "out of memory");
	snprintf(name, sizeof(name), "%s@%s", alias->local, alias->domain);
	if (n > STORE_ALIAS_TARGETS_MAX)
		rc = manage_fail_field(err, "targets", "a redirection has at most %d targets", STORE_ALIAS_TARGETS_MAX);
	else if (store_inbound_targets(ctx->store, alias->id, old_target, old, &errstr) < 0)
		rc = manage_fail_store(err, errstr);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int local = domain_hosted(ctx->store, targets[i], &errstr);
		const struct store_alias_target *was = was_target(old, targets[i]);

		/* an external target still unconfirmed gets a fresh link (the old one may have
		   expired or been lost): setting the targets again is how the owner re-sends it */
		list[i] = (struct store_alias_target_new){ .target = targets[i],
							   .keep = was != NULL && (local != 0 || was->confirmed) };
		if (local < 0)
			rc = manage_fail_store(err, errstr);
		else if (local == 1)
			rc = check_local_target(ctx, targets[i], err);
		else if (!list[i].keep) {
			new_confirmation(ctx, name, targets[i], hashes[i]);
			list[i].token_hash = hashes[i];
			json_array_append_new(sent, json_string(targets[i]));
		}
	}
	if (rc == 0 && store_inbound_targets_set(ctx->store, alias->id, list, n, (int64_t)ctx->now, &errstr) < 0)
		rc = manage_fail_store(err, errstr);
	free(old);
	return rc;
}

static int op_targets_set(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char targets[STORE_ALIAS_TARGETS_MAX][ADDRESS_TEXT_MAX];
	struct store_address a;
	const char *address;
	json_t *sent;
	size_t n = 0;

	if (need_alias(ctx, params, &address, &a, err) < 0 || param_targets(params, address, targets, &n, err) < 0)
		return -1;
	sent = json_array();
	if (manage_alias_targets_apply(ctx, &a, (const char(*)[ADDRESS_TEXT_MAX])targets, n, sent, err) < 0 ||
	    targets_result(ctx, address, &a, result_r, err) < 0) {
		json_decref(sent);
		return -1;
	}
	manage_history(ctx, a.id, "alias.targets.set", "%zu target%s, %zu confirmation%s sent", n, n == 1 ? "" : "s",
		       json_array_size(sent), json_array_size(sent) == 1 ? "" : "s");
	json_object_set_new(*result_r, "confirmation_sent", sent);
	return 0;
}

/* ---- alias.confirm ---- */

/* GONE for a link older than its 30 days, saying how the owner sends a new one. */
static int fail_confirmation_expired(struct manage_ctx *ctx, int64_t alias_id, const char *target,
				     struct manage_error *err)
{
	char alias[ADDRESS_TEXT_MAX];
	const char *errstr = NULL;
	int rc = store_inbound_address_name(ctx->store, alias_id, alias, sizeof(alias), &errstr);

	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		snprintf(alias, sizeof(alias), "the alias");
	return manage_fail(err, MANAGE_GONE, "confirmation_expired",
			   "this confirmation link for %s expired (links are valid %d days); the owner of %s can "
			   "send a new one by setting the alias's targets again",
			   target, CONFIRM_DAYS, alias);
}

static int op_alias_confirm(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	unsigned char hash[STORE_TOKEN_HASH_BYTES];
	char target[320], alias[ADDRESS_TEXT_MAX];
	const char *token, *errstr = NULL;
	int64_t alias_id = 0;
	bool expired = false;
	int rc;

	if (manage_param_str(params, "token", true, 128, &token, err) < 0)
		return -1;
	crypto_hash_sha256(hash, (const unsigned char *)token, strlen(token));
	rc = store_inbound_target_confirm(ctx->store, hash, (int64_t)ctx->now - (int64_t)CONFIRM_DAYS * 86400,
					  &alias_id, target, sizeof(target), &expired, &errstr);
	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_GONE, "confirmation_invalid",
				   "this confirmation link is not valid: it was already used, or the redirection "
				   "changed since it was sent");
	if (expired)
		return fail_confirmation_expired(ctx, alias_id, target, err);
	if (store_inbound_address_name(ctx->store, alias_id, alias, sizeof(alias), &errstr) < 0)
		return manage_fail_store(err, errstr);
	manage_history(ctx, alias_id, "alias.confirm", "%s confirmed", target);
	*result_r = json_pack("{s:s, s:s, s:b}", "address", alias, "target", target, "confirmed", 1);
	return 0;
}

const struct manage_op manage_inbound_ops[] = {
	{ "autoreply.get", op_autoreply_get, false, false,
	  "An address's auto-reply {address}: enabled, active now, subject, body, starts_at, ends_at, period_s" },
	{ "autoreply.set", op_autoreply_set, true, false,
	  "Set an address's auto-reply {address, enabled, subject, body, starts_at, ends_at, period_s}; "
	  "absent fields keep their value" },
	{ "alias.targets.get", op_targets_get, false, false, "An alias's targets {address}, each local or external, "
							    "active or awaiting confirmation" },
	{ "alias.targets.set", op_targets_set, true, false,
	  "Replace an alias's targets {address, targets[] (at most 10)}; new external targets, and those still "
	  "unconfirmed, get a confirmation link by mail (valid 30 days)" },
	{ "alias.confirm", op_alias_confirm, true, true,
	  "Confirm an external alias target {token} (the link sent to it; works once, for 30 days)" },
	{ 0 },
};
