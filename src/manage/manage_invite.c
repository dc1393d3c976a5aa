/*
 * manage_invite: invitations and sharing links, and the "for another user"
 * creation flows of the seed.
 *
 * - For an existing member of the organisation, an invitation is a message
 *   to their account's email, delivered by hermod itself (the outbox); they
 *   accept it logged in, and get the rights it offers.
 * - For an external person, an invitation is a link (returned once, and
 *   mailed to the email given) with which they create their account, with
 *   the login the inviter chose (the email, or the address itself) or one of
 *   their own, and become a member of the organisation with those rights.
 * - A sharing link gives its rights to the first logged-in account that
 *   redeems it; then it is spent.
 *
 * Who may: whoever has the "access" right on the address (owners and admins
 * have every right). Nobody hands out a right they do not have themselves.
 *
 * Tokens: 32 bytes from libsodium's random source, shown once as base64url
 * without padding (43 characters); only their SHA-256 is stored, so a copy
 * of the database opens nothing.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "outbound/submit_headers.h"
#include "store/store_invite.h"
#include "store/store_manage.h"

#define INVITE_TOKEN_BYTES 32
#define INVITE_TOKEN_CHARS 43 /* base64url of 32 bytes, no padding */
#define INVITE_DAYS_DEFAULT 30
#define INVITE_DAYS_MAX 365
#define INVITE_URL_MAX 640
#define INVITE_MESSAGE_MAX (16 * 1024)
/* What an invitation or link offers when the caller names no rights: all but handing on access. */
#define INVITE_PERMS_DEFAULT (PERM_ALL & ~(unsigned)PERM_MANAGE_ACCESS)

enum invite_state { INVITE_PENDING, INVITE_USED, INVITE_REVOKED, INVITE_EXPIRED };

static const char *const state_names[] = { "pending", "used", "revoked", "expired" };

static enum invite_state state_of(int64_t used_at, int64_t revoked_at, int64_t expires_at, time_t now)
{
	if (used_at != 0)
		return INVITE_USED;
	if (revoked_at != 0)
		return INVITE_REVOKED;
	return expires_at <= (int64_t)now ? INVITE_EXPIRED : INVITE_PENDING;
}

/* ---- tokens ---- */

struct invite_token {
	char text[INVITE_TOKEN_CHARS + 1];
	uint8_t hash[STORE_TOKEN_HASH_BYTES];
};

static void token_new(struct invite_token *t)
{
	uint8_t raw[INVITE_TOKEN_BYTES];

	if (sodium_init() < 0)
		panic("libsodium cannot be initialised");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(t->text, sizeof(t->text), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(t->hash, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
}

/* The hash of a token as typed: -1 (INVALID... as NOT_FOUND) when it cannot be one of ours. */
static int token_parse(json_t *params, const char *what, uint8_t hash[STORE_TOKEN_HASH_BYTES],
		       struct manage_error *err)
{
	uint8_t raw[INVITE_TOKEN_BYTES];
	const char *text, *end;
	size_t len;

	if (manage_param_str(params, "token", true, 256, &text, err) < 0)
		return -1;
	if (strlen(text) != INVITE_TOKEN_CHARS ||
	    sodium_base642bin(raw, sizeof(raw), text, INVITE_TOKEN_CHARS, NULL, &len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    len != sizeof(raw) || *end != '\0')
		return manage_fail(err, MANAGE_NOT_FOUND, "token_not_found", "there is no such %s", what);
	crypto_hash_sha256(hash, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

static void token_url(const struct config *cfg, const char *kind, const char *token, char *out, size_t size)
{
	char base[INVITE_URL_MAX - 128];

	manage_public_url(cfg, base, sizeof(base));
	snprintf(out, size, "%s/api/v1/%s/%s", base, kind, token);
}

/* ---- rights ---- */

/*
 * The rights to hand out: those named in params "perms" (each one the actor
 * must hold), or by default INVITE_PERMS_DEFAULT within the actor's own.
 */
static int offered_perms(struct manage_ctx *ctx, int64_t address_id, json_t *params, unsigned *perms_r,
			 struct manage_error *err)
{
	json_t *v = json_object_get(params, "perms");
	unsigned mine, want;

	if (manage_address_perms(ctx, address_id, &mine, err) < 0)
		return -1;
	if (v == NULL || json_is_null(v)) {
		*perms_r = mine & INVITE_PERMS_DEFAULT;
		if (*perms_r == 0)
			*perms_r = mine;
		return 0;
	}
	if (manage_perms_parse(v, "perms", &want, err) < 0)
		return -1;
	if ((want & ~mine) != 0)
		return manage_fail(err, MANAGE_FORBIDDEN, "permission_denied",
				   "you cannot hand out the right '%s': you do not have it yourself",
				   manage_perm_name(want & ~mine));
	*perms_r = want;
	return 0;
}

static int expiry_param(struct manage_ctx *ctx, json_t *params, int64_t *expires_r, struct manage_error *err)
{
	int64_t days;

	if (manage_param_int(params, "days", INVITE_DAYS_DEFAULT, 1, INVITE_DAYS_MAX, &days, err) < 0)
		return -1;
	*expires_r = (int64_t)ctx->now + days * 86400;
	return 0;
}

/* "read, send, devices" for people. */
static void perms_text(unsigned perms, char *out, size_t size)
{
	json_t *a = manage_perms_json(perms), *v;
	size_t i, off = 0;

	out[0] = '\0';
	json_array_foreach(a, i, v) {
		int n = snprintf(out + off, size - off, "%s%s", i > 0 ? ", " : "", json_string_value(v));
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
	json_decref(a);
}

static void history_text_actor(struct manage_ctx *ctx, int64_t address_id, const char *actor, const char *action,
			       const char *detail)
{
	const char *errstr = NULL;

	if (store_history_add(ctx->store, address_id, (int64_t)ctx->now, actor, action, detail, ctx->actor.ip,
			      &errstr) < 0)
		log_warn("manage event=history-failed address_id=%lld action=%s error=\"%s\"",
			 (long long)address_id, action, errstr);
}

/* ---- the invitation message ---- */

static void time_text(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

static const char *inviter_name(const struct manage_ctx *ctx)
{
	return ctx->actor.system || ctx->actor.login[0] == '\0' ? "The administrator" : ctx->actor.login;
}

/* What to do with the link, for the invited person. */
static void message_howto(struct buf *b, const struct store_invitation *inv, const char *url)
{
	if (inv->account_id != 0) {
		buf_appendf(b, "To accept, log in as %s and open this link:\r\n\r\n  %s\r\n\r\n", inv->account_login,
			    url);
		buf_appendf(b, "(Through the API: POST %s/accept with your session.)\r\n\r\n", url);
		return;
	}
	if (inv->login[0] != '\0')
		buf_appendf(b, "To accept, create your account, with the login %s, at this link:\r\n\r\n  %s\r\n\r\n",
			    inv->login, url);
	else
		buf_appendf(b, "To accept, create your account, with a login of your choice (this email address,"
			       "\r\nfor example), at this link:\r\n\r\n  %s\r\n\r\n", url);
	buf_appendf(b, "(Through the API: POST {\"login\": ..., \"password\": ...} to %s/accept.)\r\n\r\n", url);
}

/*
 * An RFC 5322 message (CRLF, text/plain UTF-8) from the postmaster of our
 * host name to `to`, queued in the outbox from the null sender: it is an
 * automatic message, and a bounce of it must not loop (RFC 5321 4.5.5).
 */
static void invitation_send(struct manage_ctx *ctx, const struct store_invitation *inv, const char *url,
			    const char *to)
{
	char date[SUBMIT_DATE_SIZE], msgid[SUBMIT_MSGID_SIZE], until[32], rights[512];
	struct buf b;

	submit_headers_date(ctx->now, date);
	submit_headers_message_id(ctx->cfg->hostname, msgid);
	time_text(inv->expires_at, until);
	perms_text(inv->perms, rights, sizeof(rights));
	buf_init(&b, INVITE_MESSAGE_MAX);
	buf_appendf(&b, "Date: %s\r\nFrom: hermod <postmaster@%s>\r\nTo: <%s>\r\n", date, ctx->cfg->hostname, to);
	buf_appendf(&b, "Subject: Invitation to use %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n", inv->address,
		    msgid);
	buf_appendf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
			"Auto-Submitted: auto-generated\r\n\r\n");
	buf_appendf(&b, "Hello%s%s,\r\n\r\n%s invites you to use the email address %s\r\nwith these rights: %s.\r\n\r\n",
		    inv->account_id != 0 ? " " : "", inv->account_login, inviter_name(ctx), inv->address, rights);
	message_howto(&b, inv, url);
	buf_appendf(&b, "The invitation is valid until %s. If you did not expect it,\r\nyou can ignore this message.\r\n",
		    until);
	manage_outbox_add(ctx, "", &to, 1, b.data, b.len);
	buf_free(&b);
}

/* ---- JSON shapes ---- */

static json_t *time_or_null(int64_t t)
{
	return t != 0 ? manage_time_json(t) : json_null();
}

static json_t *invitation_json(const struct manage_ctx *ctx, const struct store_invitation *inv)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(inv->id));
	json_object_set_new(o, "address", json_string(inv->address));
	json_object_set_new(o, "kind", json_string(inv->account_id != 0 ? "member" : "external"));
	json_object_set_new(o, "member", inv->account_id != 0 ? json_string(inv->account_login) : json_null());
	json_object_set_new(o, "email", json_string(inv->email));
	json_object_set_new(o, "perms", manage_perms_json(inv->perms));
	json_object_set_new(o, "role", json_string(manage_role_name(inv->role)));
	json_object_set_new(o, "login", inv->login[0] != '\0' ? json_string(inv->login) : json_null());
	json_object_set_new(o, "invited_by", inv->invited_by_login[0] != '\0' ? json_string(inv->invited_by_login)
									       : json_null());
	json_object_set_new(o, "status", json_string(state_names[state_of(inv->used_at, inv->revoked_at,
									   inv->expires_at, ctx->now)]));
	json_object_set_new(o, "created", manage_time_json(inv->created_at));
	json_object_set_new(o, "expires", manage_time_json(inv->expires_at));
	json_object_set_new(o, "used", time_or_null(inv->used_at));
	json_object_set_new(o, "revoked", time_or_null(inv->revoked_at));
	return o;
}

static json_t *link_json(const struct manage_ctx *ctx, const struct store_link *l)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(l->id));
	json_object_set_new(o, "address", json_string(l->address));
	json_object_set_new(o, "perms", manage_perms_json(l->perms));
	json_object_set_new(o, "created_by", l->created_by_login[0] != '\0' ? json_string(l->created_by_login)
									      : json_null());
	json_object_set_new(o, "status",
			    json_string(state_names[state_of(l->used_at, l->revoked_at, l->expires_at, ctx->now)]));
	json_object_set_new(o, "created", manage_time_json(l->created_at));
	json_object_set_new(o, "expires", manage_time_json(l->expires_at));
	json_object_set_new(o, "used", time_or_null(l->used_at));
	json_object_set_new(o, "used_by", l->used_by_login[0] != '\0' ? json_string(l->used_by_login) : json_null());
	json_object_set_new(o, "revoked", time_or_null(l->revoked_at));
	return o;
}

/* GONE for a token that can no longer be used, in words: "this sharing link was already used". */
static int fail_spent(struct manage_error *err, const char *what, enum invite_state state, int64_t expires_at)
{
	char until[32];

	switch (state) {
	case INVITE_USED:
		return manage_fail(err, MANAGE_GONE, "token_used", "this %s was already used", what);
	case INVITE_REVOKED:
		return manage_fail(err, MANAGE_GONE, "token_revoked", "this %s was revoked", what);
	case INVITE_EXPIRED:
		time_text(expires_at, until);
		return manage_fail(err, MANAGE_GONE, "token_expired", "this %s expired on %s", what, until);
	case INVITE_PENDING:
		break;
	}
	return 0;
}

/* ---- parameters and lookups ---- */

/* A positive id, as a JSON integer or as the decimal text of a path parameter. */
static int id_param(json_t *params, const char *field, int64_t *id_r, struct manage_error *err)
{
	json_t *v = json_object_get(params, field);
	const char *text;
	char *end;

	if (v == NULL || json_is_null(v))
		return manage_fail_field(err, field, "%s is required", field);
	if (json_is_integer(v)) {
		*id_r = json_integer_value(v);
	} else if (json_is_string(v)) {
		text = json_string_value(v);
		*id_r = (text[0] >= '0' && text[0] <= '9') ? strtoll(text, &end, 10) : 0;
		if (text[0] < '0' || text[0] > '9' || *end != '\0')
			*id_r = 0;
	} else {
		*id_r = 0;
	}
	if (*id_r <= 0)
		return manage_fail_field(err, field, "%s must be a positive integer", field);
	return 0;
}

/*
 * The actor needs `perm` on address_id for the thing called what (id):
 * NOT_FOUND when they have no right at all on the address (its invitations
 * and links are as invisible as it is), FORBIDDEN when the right is missing.
 */
static int need_perm_on(struct manage_ctx *ctx, int64_t address_id, unsigned perm, const char *what, int64_t id,
			struct manage_error *err)
{
	unsigned perms;

	if (manage_address_perms(ctx, address_id, &perms, err) < 0)
		return -1;
	if (perms == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "not_found", "there is no %s %lld", what, (long long)id);
	if ((perms & perm) != perm)
		return manage_fail(err, MANAGE_FORBIDDEN, "permission_denied", "you lack the right '%s' on %s",
				   manage_perm_name(perm), what);
	return 0;
}

/* ---- creating invitations ---- */

/* An existing member of the address's organisation: their account's email receives it. */
static int invite_member(struct manage_ctx *ctx, struct store_invitation *inv, const char *login,
			 struct manage_error *err)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], why[256];
	struct store_invite_member m;
	const char *errstr = NULL;
	int rc = store_invite_member_get(ctx->store, inv->org_id, login, &m, &errstr);

	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "member_not_found",
				   "%s is not a member of the organisation of %s; invite them by email instead", login,
				   inv->address);
	if (m.role != ROLE_MEMBER)
		return manage_fail(err, MANAGE_CONFLICT, "already_has_access",
				   "%s is %s of the organisation and already has every right on %s", m.login,
				   m.role == ROLE_OWNER ? "an owner" : "an admin", inv->address);
	if (m.email[0] == '\0' && strchr(m.login, '@') != NULL)
		snprintf(m.email, sizeof(m.email), "%s", m.login);
	if (m.email[0] == '\0')
		return manage_fail(err, MANAGE_INVALID, "member_without_email",
				   "account %s has no email address to send the invitation to; set one first", m.login);
	/* it goes into the To: field: nothing but an address (no line breaks) */
	if (mail_address_parse(m.email, local, domain, why, sizeof(why)) < 0)
		return manage_fail(err, MANAGE_INVALID, "member_without_email",
				   "account %s's email cannot receive the invitation: %s", m.login, why);
	inv->account_id = m.account_id;
	snprintf(inv->account_login, sizeof(inv->account_login), "%s", m.login);
	snprintf(inv->email, sizeof(inv->email), "%s", m.email);
	return 0;
}

/*
 * An external person: the email to write to, the login their account must
 * take ("account_login": "choice", the default, "email" or "address") and
 * the role they get in the organisation (at most the inviter's own).
 */
static int invite_external(struct manage_ctx *ctx, struct store_invitation *inv, const char *email, json_t *params,
			   struct manage_error *err)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], why[256];
	const char *rule, *role;

	if (mail_address_parse(email, local, domain, why, sizeof(why)) < 0)
		return manage_fail_field(err, "email", "%s", why);
	snprintf(inv->email, sizeof(inv->email), "%s@%s", local, domain);
	if (manage_param_str(params, "account_login", false, 16, &rule, err) < 0 ||
	    manage_param_str(params, "role", false, 16, &role, err) < 0)
		return -1;
	if (rule == NULL || strcmp(rule, "choice") == 0)
		inv->login[0] = '\0';
	else if (strcmp(rule, "email") == 0)
		snprintf(inv->login, sizeof(inv->login), "%s", inv->email);
	else if (strcmp(rule, "address") == 0)
		snprintf(inv->login, sizeof(inv->login), "%s", inv->address);
	else
		return manage_fail_field(err, "account_login", "account_login must be choice, email or address");
	inv->role = ROLE_MEMBER;
	if (role != NULL && manage_role_parse(role, &inv->role) < 0)
		return manage_fail_field(err, "role", "role must be owner, admin or member");
	/* an admin may bring in an admin, only an owner an owner */
	return inv->role == ROLE_MEMBER ? 0 : manage_need_org(ctx, inv->org_id, inv->role, err);
}

/* The invitation's part of the answer: what it is, where it went, and the link when it is the inviter's to pass on. */
static json_t *created_json(struct manage_ctx *ctx, const struct store_invitation *inv,
			    const struct invite_token *t, const char *url)
{
	json_t *o = invitation_json(ctx, inv);

	json_object_set_new(o, "sent_to", json_string(inv->email));
	if (inv->account_id == 0) {
		json_object_set_new(o, "token", json_string(t->text));
		json_object_set_new(o, "url", json_string(url));
	}
	return o;
}

/* Creates, stores and sends an invitation to member_login or (NULL) email for addr. */
static int invite_create(struct manage_ctx *ctx, const struct store_address *addr, const char *member_login,
			 const char *email, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_invitation inv = { .address_id = addr->id, .created_at = ctx->now, .role = ROLE_MEMBER };
	char url[INVITE_URL_MAX], rights[512];
	const char *errstr = NULL;
	struct invite_token t;
	int rc;

	snprintf(inv.address, sizeof(inv.address), "%s@%s", addr->local, addr->domain);
	if ((rc = store_address_org(ctx->store, addr->id, &inv.org_id, &errstr)) <= 0)
		return rc < 0 ? manage_fail_store(err, errstr)
			      : manage_fail(err, MANAGE_NOT_FOUND, "address_not_found", "address %s does not exist",
					    inv.address);
	if (offered_perms(ctx, addr->id, params, &inv.perms, err) < 0 || expiry_param(ctx, params, &inv.expires_at, err) < 0)
		return -1;
	if (member_login != NULL ? invite_member(ctx, &inv, member_login, err) < 0
				 : invite_external(ctx, &inv, email, params, err) < 0)
		return -1;
	inv.invited_by = ctx->actor.account_id;
	snprintf(inv.invited_by_login, sizeof(inv.invited_by_login), "%s", ctx->actor.login);
	token_new(&t);
	if (store_invitation_add(ctx->store, &inv, t.hash, &inv.id, &errstr) < 0)
		return manage_fail_store(err, errstr);
	token_url(ctx->cfg, "invitations", t.text, url, sizeof(url));
	invitation_send(ctx, &inv, url, inv.email);
	perms_text(inv.perms, rights, sizeof(rights));
	manage_history(ctx, addr->id, "invitation.create", "invitation %lld to %s %s (%s)", (long long)inv.id,
		       member_login != NULL ? "member" : "external person",
		       member_login != NULL ? inv.account_login : inv.email, rights);
	*result_r = created_json(ctx, &inv, &t, url);
	sodium_memzero(&t, sizeof(t));
	return 0;
}

/* Exactly one of "member" (a login) and "email". */
static int invitee_params(json_t *params, const char **member_r, const char **email_r, struct manage_error *err)
{
	if (manage_param_str(params, "member", false, 319, member_r, err) < 0 ||
	    manage_param_str(params, "email", false, 319, email_r, err) < 0)
		return -1;
	if ((*member_r == NULL) == (*email_r == NULL))
		return manage_fail_field(err, *member_r == NULL ? "member" : "email",
					 "give either member (the login of a member of the organisation) or email"
					 " (an external person), not %s", *member_r == NULL ? "neither" : "both");
	return 0;
}

int manage_invite_for_address(struct manage_ctx *ctx, const struct store_address *addr, json_t *params,
			      json_t *result, struct manage_error *err)
{
	const char *who, *member = NULL, *email = NULL;
	json_t *inv;

	if (manage_param_str(params, "for", true, 16, &who, err) < 0)
		return -1;
	if (strcmp(who, "member") == 0 &&
	    manage_param_str(params, "member", true, 319, &member, err) < 0)
		return -1;
	if (strcmp(who, "external") == 0 && manage_param_str(params, "email", true, 319, &email, err) < 0)
		return -1;
	if (member == NULL && email == NULL)
		return manage_fail_field(err, "for", "for must be member or external to invite someone");
	if (invite_create(ctx, addr, member, email, params, &inv, err) < 0)
		return -1;
	json_object_set_new(result, "invitation", inv);
	return 0;
}

/* ---- invitation operations ---- */

static int op_invitation_create(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	const char *address, *member, *email;
	struct store_address addr;

	if (manage_param_str(params, "address", true, 320, &address, err) < 0 ||
	    invitee_params(params, &member, &email, err) < 0 ||
	    manage_need_address(ctx, address, PERM_MANAGE_ACCESS, &addr, err) < 0)
		return -1;
	return invite_create(ctx, &addr, member, email, params, result_r, err);
}

static void list_invitation_cb(const struct store_invitation *inv, void *arg)
{
	void **a = arg;

	json_array_append_new(a[1], invitation_json(a[0], inv));
}

/*
 * With "address": its invitations (for those with the access right).
 * Without: the invitations to the actor (every one for the operator).
 */
static int op_invitation_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	int64_t address_id = 0, account_id = ctx->actor.system ? 0 : ctx->actor.account_id;
	struct store_address addr;
	const char *address, *errstr = NULL;
	json_t *list = json_array();
	void *arg[2] = { ctx, list };

	if (manage_param_str(params, "address", false, 320, &address, err) < 0 ||
	    (address != NULL && manage_need_address(ctx, address, PERM_MANAGE_ACCESS, &addr, err) < 0)) {
		json_decref(list);
		return -1;
	}
	if (address != NULL) {
		address_id = addr.id;
		account_id = 0;
	}
	if (store_invitation_list(ctx->store, address_id, account_id, list_invitation_cb, arg, &errstr) < 0) {
		json_decref(list);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:o}", "invitations", list);
	return 0;
}

/* An invitation by id that the actor may see: NOT_FOUND otherwise. */
static int invitation_by_id(struct manage_ctx *ctx, json_t *params, struct store_invitation *inv,
			    struct manage_error *err)
{
	const char *errstr = NULL;
	int64_t id;
	int rc;

	if (id_param(params, "id", &id, err) < 0)
		return -1;
	if ((rc = store_invitation_get(ctx->store, id, inv, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "invitation_not_found", "there is no invitation %lld",
				   (long long)id);
	return 0;
}

/* The inviter side (the access right) revokes; the invited member may decline theirs. */
static int op_invitation_revoke(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_invitation inv;
	const char *errstr = NULL;
	int rc;

	if (invitation_by_id(ctx, params, &inv, err) < 0)
		return -1;
	if ((ctx->actor.system || inv.account_id != ctx->actor.account_id) &&
	    need_perm_on(ctx, inv.address_id, PERM_MANAGE_ACCESS, "invitation", inv.id, err) < 0)
		return -1;
	if ((rc = store_invitation_revoke(ctx->store, inv.id, (int64_t)ctx->now, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return fail_spent(err, "invitation", state_of(inv.used_at, inv.revoked_at, inv.expires_at, ctx->now),
				  inv.expires_at);
	inv.revoked_at = (int64_t)ctx->now;
	manage_history(ctx, inv.address_id, "invitation.revoke", "invitation %lld to %s", (long long)inv.id,
		       inv.account_id != 0 ? inv.account_login : inv.email);
	*result_r = invitation_json(ctx, &inv);
	return 0;
}

/* A usable invitation by its token: NOT_FOUND, or GONE saying why not. */
static int invitation_by_token(struct manage_ctx *ctx, json_t *params, struct store_invitation *inv,
			       struct manage_error *err)
{
	uint8_t hash[STORE_TOKEN_HASH_BYTES];
	const char *errstr = NULL;
	int rc;

	if (token_parse(params, "invitation", hash, err) < 0)
		return -1;
	if ((rc = store_invitation_find(ctx->store, hash, inv, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "invitation_not_found", "there is no such invitation");
	return fail_spent(err, "invitation", state_of(inv->used_at, inv->revoked_at, inv->expires_at, ctx->now),
			  inv->expires_at);
}

/* Anonymous: what the invitation offers, for the page that accepts it. */
static int op_invitation_get(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_invitation inv;
	const char *token;
	char url[INVITE_URL_MAX];

	if (invitation_by_token(ctx, params, &inv, err) < 0)
		return -1;
	manage_param_str(params, "token", true, 256, &token, err);
	token_url(ctx->cfg, "invitations", token, url, sizeof(url));
	*result_r = invitation_json(ctx, &inv);
	json_object_del(*result_r, "id");
	json_object_set_new(*result_r, "accept_url", json_sprintf("%s/accept", url));
	return 0;
}

/* ---- accepting ---- */

struct acceptance {
	int64_t account_id;            /* an existing account takes the invitation */
	char login[320];               /* its login, or the new account's */
	bool create;                   /* a new account with hash */
	char hash[PASSWORD_HASH_MAX];
};

/* An invitation to a member: accepted by that member, logged in (or the operator for them). */
static int accept_as_member(struct manage_ctx *ctx, const struct store_invitation *inv, struct acceptance *a,
			    struct manage_error *err)
{
	if (!ctx->actor.system && ctx->actor.account_id == 0)
		return manage_fail(err, MANAGE_UNAUTHORIZED, "login_required",
				   "log in as %s to accept this invitation", inv->account_login);
	if (!ctx->actor.system && ctx->actor.account_id != inv->account_id)
		return manage_fail(err, MANAGE_FORBIDDEN, "invitation_for_another_account",
				   "this invitation is for the account %s", inv->account_login);
	a->account_id = inv->account_id;
	snprintf(a->login, sizeof(a->login), "%s", inv->account_login);
	return 0;
}

/*
 * An invitation to an external person: a new account {login, password}
 * (login by default the one the inviter chose, else the invited email), or
 * the logged-in account when no password is given.
 */
static int accept_as_external(struct manage_ctx *ctx, json_t *params, const struct store_invitation *inv,
			      struct acceptance *a, struct manage_error *err)
{
	struct store_account acct;
	const char *login, *password, *errstr = NULL;
	const char *required = inv->login[0] != '\0' ? inv->login : NULL;
	int rc;

	if (manage_param_str(params, "login", false, 319, &login, err) < 0 ||
	    manage_param_str(params, "password", false, PASSWORD_MAX_LENGTH, &password, err) < 0)
		return -1;
	if (password == NULL && ctx->actor.account_id != 0) {
		if (required != NULL && strcasecmp(required, ctx->actor.login) != 0)
			return manage_fail(err, MANAGE_FORBIDDEN, "invitation_for_another_account",
					   "this invitation is for an account with the login %s", required);
		a->account_id = ctx->actor.account_id;
		snprintf(a->login, sizeof(a->login), "%s", ctx->actor.login);
		return 0;
	}
	if (login == NULL)
		login = required != NULL ? required : inv->email;
	if (required != NULL && strcasecmp(login, required) != 0)
		return manage_fail_field(err, "login", "this invitation creates an account with the login %s", required);
	if (manage_check_login(login, "login", err) < 0)
		return -1;
	if ((rc = store_account_get(ctx->store, login, &acct, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 1)
		return manage_fail(err, MANAGE_CONFLICT, "account_exists",
				   "account %s already exists: log in with it to accept, or choose another login", login);
	if (manage_hash_param(params, "password", a->hash, err) < 0)
		return -1;
	snprintf(a->login, sizeof(a->login), "%s", login);
	a->create = true;
	return 0;
}

static json_t *accepted_json(const struct store_invitation *inv, const struct acceptance *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "account", json_string(a->login));
	json_object_set_new(o, "created", json_boolean(a->create));
	json_object_set_new(o, "address", json_string(inv->address));
	json_object_set_new(o, "perms", manage_perms_json(inv->perms));
	if (inv->account_id == 0)
		json_object_set_new(o, "role", json_string(manage_role_name(inv->role)));
	return o;
}

static int op_invitation_accept(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct acceptance a = { 0 };
	struct store_invitation inv;
	const char *errstr = NULL;
	char detail[512];
	int rc;

	if (invitation_by_token(ctx, params, &inv, err) < 0)
		return -1;
	if (inv.account_id != 0 ? accept_as_member(ctx, &inv, &a, err) < 0
				: accept_as_external(ctx, params, &inv, &a, err) < 0)
		return -1;
	rc = store_invitation_accept(ctx->store, inv.id, (int64_t)ctx->now, a.account_id, a.create ? a.login : NULL,
				     a.hash, &a.account_id, &errstr);
	sodium_memzero(a.hash, sizeof(a.hash));
	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0) /* another request used it first, or it just expired */
		return manage_fail(err, MANAGE_GONE, "token_used", "this invitation was already used");
	snprintf(detail, sizeof(detail), "invitation %lld accepted by %s%s", (long long)inv.id, a.login,
		 a.create ? " (new account)" : "");
	history_text_actor(ctx, inv.address_id, a.login, "invitation.accept", detail);
	*result_r = accepted_json(&inv, &a);
	return 0;
}

/* ---- sharing links ---- */

static int op_sharing_create(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_link link = { .created_at = ctx->now };
	struct store_address addr;
	const char *address, *errstr = NULL;
	char url[INVITE_URL_MAX], rights[512], until[32];
	struct invite_token t;

	if (manage_param_str(params, "address", true, 320, &address, err) < 0 ||
	    manage_need_address(ctx, address, PERM_MANAGE_ACCESS, &addr, err) < 0 ||
	    offered_perms(ctx, addr.id, params, &link.perms, err) < 0 || expiry_param(ctx, params, &link.expires_at, err) < 0)
		return -1;
	link.address_id = addr.id;
	link.created_by = ctx->actor.account_id;
	snprintf(link.address, sizeof(link.address), "%s@%s", addr.local, addr.domain);
	snprintf(link.created_by_login, sizeof(link.created_by_login), "%s", ctx->actor.login);
	token_new(&t);
	if (store_link_add(ctx->store, &link, t.hash, &link.id, &errstr) < 0)
		return manage_fail_store(err, errstr);
	token_url(ctx->cfg, "links", t.text, url, sizeof(url));
	perms_text(link.perms, rights, sizeof(rights));
	time_text(link.expires_at, until);
	manage_history(ctx, addr.id, "sharing.create", "sharing link %lld (%s), valid until %s", (long long)link.id,
		       rights, until);
	*result_r = link_json(ctx, &link);
	json_object_set_new(*result_r, "token", json_string(t.text));
	json_object_set_new(*result_r, "url", json_string(url));
	json_object_set_new(*result_r, "redeem_url", json_sprintf("%s/redeem", url));
	sodium_memzero(&t, sizeof(t));
	return 0;
}

static void list_link_cb(const struct store_link *link, void *arg)
{
	void **a = arg;

	json_array_append_new(a[1], link_json(a[0], link));
}

static int op_sharing_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_address addr;
	const char *address, *errstr = NULL;
	json_t *list;
	void *arg[2];

	if (manage_param_str(params, "address", true, 320, &address, err) < 0 ||
	    manage_need_address(ctx, address, PERM_MANAGE_ACCESS, &addr, err) < 0)
		return -1;
	list = json_array();
	arg[0] = ctx;
	arg[1] = list;
	if (store_link_list(ctx->store, addr.id, list_link_cb, arg, &errstr) < 0) {
		json_decref(list);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:o}", "links", list);
	return 0;
}

static int op_sharing_revoke(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct store_link link;
	const char *errstr = NULL;
	int64_t id;
	int rc;

	if (id_param(params, "id", &id, err) < 0)
		return -1;
	if ((rc = store_link_get(ctx->store, id, &link, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "link_not_found", "there is no sharing link %lld", (long long)id);
	if (need_perm_on(ctx, link.address_id, PERM_MANAGE_ACCESS, "sharing link", id, err) < 0)
		return -1;
	if ((rc = store_link_revoke(ctx->store, id, (int64_t)ctx->now, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return fail_spent(err, "sharing link", state_of(link.used_at, link.revoked_at, link.expires_at, ctx->now),
				  link.expires_at);
	link.revoked_at = (int64_t)ctx->now;
	manage_history(ctx, link.address_id, "sharing.revoke", "sharing link %lld", (long long)id);
	*result_r = link_json(ctx, &link);
	return 0;
}

/* The logged-in account gains the link's rights on its address; the link is spent. */
static int op_sharing_redeem(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	uint8_t hash[STORE_TOKEN_HASH_BYTES];
	struct store_link link;
	const char *errstr = NULL;
	unsigned perms;
	int rc;

	if (ctx->actor.account_id == 0)
		return manage_fail(err, MANAGE_INVALID, "account_required",
				   "a sharing link gives rights to an account: log in as the account that should get them");
	if (token_parse(params, "sharing link", hash, err) < 0)
		return -1;
	if ((rc = store_link_find(ctx->store, hash, &link, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "link_not_found", "there is no such sharing link");
	if (fail_spent(err, "sharing link", state_of(link.used_at, link.revoked_at, link.expires_at, ctx->now),
		       link.expires_at) < 0)
		return -1;
	if ((rc = store_link_redeem(ctx->store, link.id, ctx->actor.account_id, (int64_t)ctx->now, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return manage_fail(err, MANAGE_GONE, "token_used", "this sharing link was already used");
	manage_history(ctx, link.address_id, "sharing.redeem", "sharing link %lld used by %s", (long long)link.id,
		       ctx->actor.login);
	if (manage_address_perms(ctx, link.address_id, &perms, err) < 0)
		return -1;
	*result_r = json_pack("{s:s, s:o, s:o}", "address", link.address, "perms", manage_perms_json(link.perms),
			      "rights", manage_perms_json(perms));
	return 0;
}

const struct manage_op manage_invite_ops[] = {
	{ "invitation.create", op_invitation_create, true, false,
	  "Invite a member of the organisation, or an external person by email, to use an address" },
	{ "invitation.list", op_invitation_list, false, false,
	  "The invitations of an address (access right), or those to you" },
	{ "invitation.revoke", op_invitation_revoke, true, false, "Revoke (or, invited, decline) an unused invitation" },
	{ "invitation.get", op_invitation_get, false, true, "What an invitation offers, by its token (anonymous)" },
	{ "invitation.accept", op_invitation_accept, true, true,
	  "Accept an invitation: a member logged in, or an external person creating their account {login, password}" },
	{ "sharing.create", op_sharing_create, true, false,
	  "A one-time sharing link giving rights on an address (valid 30 days unless days says otherwise)" },
	{ "sharing.list", op_sharing_list, false, false, "The sharing links of an address" },
	{ "sharing.revoke", op_sharing_revoke, true, false, "Revoke an unused sharing link" },
	{ "sharing.redeem", op_sharing_redeem, true, false,
	  "Use a sharing link: the logged-in account gains its rights (once)" },
	{ 0 },
};
