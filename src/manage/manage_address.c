/*
 * manage_address: addresses of every kind — listing, the seed's creation
 * flows, reading, deleting, password and quota.
 *
 * Creation ("Create an email address" in the seed) is for an organisation's
 * owners and admins: "for": "me" links the new address to the creator with
 * every right (and needs an address password, distinct from the account's);
 * "shared" (for multiple users) has a password and accounts get access by
 * grants; "member" and "external" (for another user) hand over to the
 * invitation code (manage_invite_for_address). Deleting needs the actor's
 * ACCOUNT password and an explicit confirmation, as in the seed, and says
 * how much mail went with it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>

#include "lib/log.h"
#include "manage/manage_core.h"
#include "manage/manage_inbound.h"
#include "manage/manage_ops.h"
#include "store/store_manage.h"

#define TARGETS_MAX 10 /* the issue: a redirection has at most 10 targets */
#define ADDR_TEXT_MAX (MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2)

enum addr_for { FOR_ME, FOR_SHARED, FOR_MEMBER, FOR_EXTERNAL };
static const char *const for_names[] = { "me", "shared", "member", "external" };

/*
 * Mailboxes and no-reply addresses send mail, so they log in and need a
 * password. A catchall may have one: the seed reads a catchall's mail by
 * logging in to it (IMAP/POP3 only: it never sends). An alias has none.
 */
static bool kind_has_password(enum address_kind kind)
{
	return kind == ADDRESS_MAILBOX || kind == ADDRESS_NOREPLY || kind == ADDRESS_CATCHALL;
}

static bool kind_needs_password(enum address_kind kind)
{
	return kind == ADDRESS_MAILBOX || kind == ADDRESS_NOREPLY;
}

/* ---- address.list ---- */

struct list_page {
	json_t *addresses;
	char last[sizeof(((struct store_address *)0)->local) + sizeof(((struct store_address *)0)->domain) + 1];
	size_t n;
};

static void list_row(const struct store_address *a, unsigned perms, void *arg)
{
	struct list_page *p = arg;

	json_array_append_new(p->addresses, manage_address_json(a, perms));
	snprintf(p->last, sizeof(p->last), "%s@%s", a->local, a->domain);
	p->n++;
}

/* The cursor is the last address of the previous page ("local@domain"). */
static int list_cursor(json_t *params, struct store_address_page *q, char local[MAIL_LOCAL_MAX + 1],
		       char domain[MAIL_DOMAIN_MAX + 1], struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	const char *after;

	if (manage_param_str(params, "after", false, ADDR_TEXT_MAX, &after, err) < 0)
		return -1;
	if (after == NULL || after[0] == '\0')
		return 0;
	if (manage_param_address(params, "after", text, local, domain, err) < 0)
		return -1;
	q->after_domain = domain;
	q->after_local = local;
	return 0;
}

/* The domain filter: a domain the actor may see (all its addresses, or those granted). */
static int list_domain(struct manage_ctx *ctx, json_t *params, struct store_address_page *q,
		       struct manage_error *err)
{
	char domain[MAIL_DOMAIN_MAX + 1];
	struct store_domain dom;

	if (json_object_get(params, "domain") == NULL || json_is_null(json_object_get(params, "domain")))
		return 0;
	if (manage_param_domain(params, "domain", domain, err) < 0 ||
	    manage_find_domain(ctx, domain, ROLE_MEMBER, &dom, err) < 0)
		return -1;
	q->domain_id = dom.id;
	if (q->after_domain != NULL && strcasecmp(q->after_domain, dom.name) != 0)
		return manage_fail_field(err, "after", "the cursor %s@%s is not in domain %s", q->after_local,
					 q->after_domain, dom.name);
	return 0;
}

/*
 * address.list {domain?, limit?, after?} -> {addresses: [...], next: cursor
 * or null}. A page is index-backed (store_manage_address_page): as fast at
 * the 100,000th address as at the first.
 */
static int op_address_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1];
	struct store_address_page q = { 0 };
	struct list_page p = { 0 };
	const char *errstr = NULL;
	int64_t limit;

	if (manage_param_int(params, "limit", MANAGE_PAGE_DEFAULT, 1, MANAGE_PAGE_MAX, &limit, err) < 0 ||
	    list_cursor(params, &q, local, domain, err) < 0 || list_domain(ctx, params, &q, err) < 0)
		return -1;
	q.account_id = ctx->actor.system ? 0 : ctx->actor.account_id;
	q.limit = (size_t)limit;
	p.addresses = json_array();
	if (store_manage_address_page(ctx->store, &q, list_row, &p, &errstr) < 0) {
		json_decref(p.addresses);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:o, s:o}", "addresses", p.addresses, "next",
			      p.n == q.limit ? json_string(p.last) : json_null());
	return 0;
}

/* ---- address.create ---- */

struct addr_new {
	char text[ADDR_TEXT_MAX];
	char local[MAIL_LOCAL_MAX + 1];
	char domain[MAIL_DOMAIN_MAX + 1];
	enum address_kind kind;
	enum addr_for who;
	char targets[TARGETS_MAX][MANAGE_ADDRESS_TEXT_MAX];
	size_t ntargets;
	int64_t quota;         /* 0: the plan's */
	bool password;         /* one is given (and must be hashed) */
	bool dry_run;
};

static int param_enum(json_t *params, const char *field, const char *const *names, size_t n, int dflt, int *value_r,
		      const char *choices, struct manage_error *err)
{
	const char *text;

	*value_r = dflt;
	if (manage_param_str(params, field, false, 32, &text, err) < 0)
		return -1;
	if (text == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(text, names[i]) == 0) {
			*value_r = (int)i;
			return 0;
		}
	}
	return manage_fail_field(err, field, "%s '%s' is not one of %s", field, text, choices);
}

static int param_targets(json_t *params, struct addr_new *n, struct manage_error *err)
{
	json_t *targets = json_object_get(params, "targets"), *t;
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], why[256];
	size_t i;

	if (targets == NULL || json_is_null(targets))
		return 0;
	if (!json_is_array(targets))
		return manage_fail_field(err, "targets", "targets must be an array of addresses");
	if (json_array_size(targets) > TARGETS_MAX)
		return manage_fail_field(err, "targets", "a redirection has at most %d targets", TARGETS_MAX);
	json_array_foreach(targets, i, t) {
		if (!json_is_string(t))
			return manage_fail_field(err, "targets", "targets must be an array of addresses");
		if (mail_address_parse(json_string_value(t), local, domain, why, sizeof(why)) < 0)
			return manage_fail_field(err, "targets", "%s", why);
		snprintf(n->targets[n->ntargets++], ADDR_TEXT_MAX, "%s@%s", local, domain);
	}
	return 0;
}

/* The rules that need no store: kind, who, password and targets. */
static int create_rules(struct manage_ctx *ctx, json_t *params, struct addr_new *n, struct manage_error *err)
{
	bool needs_password = kind_needs_password(n->kind) && (n->who == FOR_ME || n->who == FOR_SHARED);

	if (n->who == FOR_ME && ctx->actor.system)
		return manage_fail_field(err, "for", "for \"me\" needs an account; the operator creates \"shared\" addresses");
	if (!kind_has_password(n->kind) && n->password)
		return manage_fail_field(err, "password", "a %s address has no password", manage_kind_name(n->kind));
	if (needs_password && !n->password && !n->dry_run)
		return manage_fail_field(err, "password", "a %s address needs a password", manage_kind_name(n->kind));
	if (n->kind == ADDRESS_ALIAS && n->ntargets == 0)
		return manage_fail_field(err, "targets", "an alias needs at least one target");
	if (n->kind != ADDRESS_ALIAS && n->ntargets > 0)
		return manage_fail_field(err, "targets", "targets are only for an alias");
	(void)params;
	return 0;
}

static int create_params(struct manage_ctx *ctx, json_t *params, struct addr_new *n, struct manage_error *err)
{
	static const char *const kinds[] = { "mailbox", "catchall", "noreply", "alias" };
	json_t *pw = json_object_get(params, "password");
	int kind, who;

	memset(n, 0, sizeof(*n));
	if (manage_param_address(params, "address", n->text, n->local, n->domain, err) < 0 ||
	    param_enum(params, "kind", kinds, 4, ADDRESS_MAILBOX, &kind, "mailbox, catchall, noreply, alias", err) < 0 ||
	    param_enum(params, "for", for_names, 4, ctx->actor.system ? FOR_SHARED : FOR_ME, &who,
		       "me, shared, member, external", err) < 0 ||
	    param_targets(params, n, err) < 0 ||
	    manage_param_int(params, "quota", 0, 0, INT64_MAX, &n->quota, err) < 0 ||
	    manage_param_bool(params, "dry_run", false, &n->dry_run, err) < 0)
		return -1;
	n->kind = (enum address_kind)kind;
	n->who = (enum addr_for)who;
	n->password = pw != NULL && !json_is_null(pw);
	return create_rules(ctx, params, n, err);
}

/* Who may create it, and whether it can exist: checked before hashing, and again in the transaction. */
static int create_allowed(struct manage_ctx *ctx, const struct addr_new *n, struct store_domain *dom,
			  struct manage_error *err)
{
	struct store_address existing;
	char other[MAIL_LOCAL_MAX + 1];
	const char *errstr = NULL;
	int rc;

	if (manage_find_domain(ctx, n->domain, ROLE_ADMIN, dom, err) < 0)
		return -1;
	if (dom->service_id == 0)
		return manage_fail(err, MANAGE_CONFLICT, "domain_unlinked",
				   "domain %s is not linked to a mail service: link it first", dom->name);
	if ((rc = store_address_get(ctx->store, n->local, n->domain, &existing, &errstr)) != 0)
		return rc < 0 ? manage_fail_store(err, errstr)
			      : manage_fail(err, MANAGE_CONFLICT, "address_exists", "address %s already exists", n->text);
	if (n->kind == ADDRESS_CATCHALL &&
	    (rc = store_manage_catchall(ctx->store, dom->id, other, sizeof(other), &errstr)) != 0)
		return rc < 0 ? manage_fail_store(err, errstr)
			      : manage_fail(err, MANAGE_CONFLICT, "catchall_exists",
					    "domain %s already has a catchall address (%s@%s)", dom->name, other,
					    dom->name);
	return 0;
}

/* Targets, quota, the creator's rights; then the invitation for another user. */
static int create_extras(struct manage_ctx *ctx, json_t *params, const struct addr_new *n,
			 const struct store_address *addr, json_t *result, struct manage_error *err)
{
	const char *errstr = NULL;

	if (n->ntargets > 0) {
		/* the same step as alias.targets.set: external targets get their confirmation link */
		json_t *sent = json_array();
		int rc = manage_alias_targets_apply(ctx, addr, n->targets, n->ntargets, sent, err);

		json_object_set_new(result, "confirmations_sent", sent);
		if (rc < 0)
			return -1;
	}
	if (n->quota != 0 && store_address_set_quota(ctx->store, n->local, n->domain, n->quota, &errstr) < 0)
		return manage_fail_store(err, errstr);
	if (n->who == FOR_ME &&
	    store_manage_access_set(ctx->store, ctx->actor.account_id, addr->id, PERM_ALL, NULL, &errstr) < 0)
		return manage_fail_store(err, errstr);
	if (n->who == FOR_MEMBER || n->who == FOR_EXTERNAL)
		return manage_invite_for_address(ctx, addr, params, result, err);
	return 0;
}

static int create_in_txn(struct manage_ctx *ctx, json_t *params, const struct addr_new *n, const char *hash,
			 json_t **result_r, struct manage_error *err)
{
	struct store_domain dom;
	struct store_address addr;
	const char *errstr = NULL;
	json_t *targets;

	if (create_allowed(ctx, n, &dom, err) < 0)
		return -1;
	if (store_address_add(ctx->store, n->local, n->domain, n->kind, hash, NULL, &errstr) < 0 ||
	    store_address_get(ctx->store, n->local, n->domain, &addr, &errstr) != 1)
		return manage_fail_store(err, errstr != NULL ? errstr : "the new address vanished");
	addr.quota_bytes = n->quota;
	*result_r = manage_address_json(&addr, n->who == FOR_ME || ctx->actor.system ? PERM_ALL : 0);
	targets = json_array();
	for (size_t i = 0; i < n->ntargets; i++)
		json_array_append_new(targets, json_string(n->targets[i]));
	json_object_set_new(*result_r, "targets", targets);
	json_object_set_new(*result_r, "for", json_string(for_names[n->who]));
	if (create_extras(ctx, params, n, &addr, *result_r, err) < 0)
		return -1;
	manage_history(ctx, addr.id, "address.create", "created %s (%s, for %s)", n->text, manage_kind_name(n->kind),
		       for_names[n->who]);
	return 0;
}

/*
 * address.create {address, kind, password, targets, quota, for, member,
 * email, perms, dry_run} -> the address (as address.get) with targets and
 * for. dry_run: every check but the password, nothing written ({dry_run:
 * true}); the command line asks for a password only when it would be used.
 */
static int op_address_create(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct addr_new n;
	struct store_domain dom;
	char hash[PASSWORD_HASH_MAX];
	int rc;

	if (create_params(ctx, params, &n, err) < 0 || create_allowed(ctx, &n, &dom, err) < 0)
		return -1;
	if (n.dry_run) {
		*result_r = json_pack("{s:b, s:s, s:b}", "dry_run", 1, "address", n.text, "needs_password",
				      kind_needs_password(n.kind) && (n.who == FOR_ME || n.who == FOR_SHARED));
		return 0;
	}
	if (n.password && manage_hash_param(params, "password", hash, err) < 0)
		return -1;
	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = create_in_txn(ctx, params, &n, n.password ? hash : NULL, result_r, err);
	if (manage_txn_end(ctx, rc, result_r, err) < 0)
		return -1;
	log_info("manage event=address-created address=%s kind=%s for=%s by=\"%s\" channel=%s", n.text,
		 manage_kind_name(n.kind), for_names[n.who], manage_actor_name(ctx),
		 ctx->actor.channel != NULL ? ctx->actor.channel : "");
	return 0;
}

/* ---- address.get ---- */

/* address.get {address} -> the address with its effective quota and the caller's rights (any right to see it). */
static int op_address_get(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	struct store_domain dom;
	const char *errstr = NULL;
	unsigned perms;
	int64_t quota;

	if (manage_param_address(params, "address", text, NULL, NULL, err) < 0 ||
	    manage_need_address(ctx, text, 0, &addr, err) < 0 ||
	    manage_address_perms(ctx, addr.id, &perms, err) < 0)
		return -1;
	if (store_domain_get(ctx->store, addr.domain, &dom, &errstr) != 1)
		return manage_fail_store(err, errstr != NULL ? errstr : "the address's domain vanished");
	quota = addr.quota_bytes != 0 ? addr.quota_bytes : (int64_t)ctx->cfg->plans[dom.plan].quota_bytes;
	*result_r = manage_address_json(&addr, perms);
	json_object_set_new(*result_r, "plan", json_string(config_plan_name(dom.plan)));
	/* 0: unlimited (a plan without a quota) */
	json_object_set_new(*result_r, "effective_quota", json_integer(quota));
	return 0;
}

/* ---- address.remove ---- */

/* Deleting is the organisation's business (owners and admins), never a grant's. */
static int remove_allowed(struct manage_ctx *ctx, json_t *params, struct store_address *addr, char *text,
			  struct manage_error *err)
{
	struct store_domain dom;
	bool confirm;

	if (manage_param_address(params, "address", text, NULL, NULL, err) < 0 ||
	    manage_need_address(ctx, text, 0, addr, err) < 0)
		return -1;
	if (manage_find_domain(ctx, addr->domain, ROLE_ADMIN, &dom, err) < 0)
		return -1;
	if (manage_param_bool(params, "confirm", false, &confirm, err) < 0)
		return -1;
	if (!confirm)
		return manage_fail_field(err, "confirm",
					 "deleting %s deletes its mail: confirm with \"confirm\": true", text);
	return manage_check_account_password(ctx, params, "password", err);
}

/*
 * address.remove {address, password, confirm: true} -> {address, messages,
 * bytes}. Not inside a manage transaction: the store's removal is its own
 * transaction and unlinks the segment files it emptied only after its
 * commit, which a savepoint's release is not. The history goes with the
 * address; the log keeps the event.
 */
static int op_address_remove(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	int64_t messages = 0, bytes = 0;
	const char *errstr = NULL;

	if (remove_allowed(ctx, params, &addr, text, err) < 0)
		return -1;
	if (store_address_remove(ctx->store, addr.local, addr.domain, &messages, &bytes, &errstr) < 0)
		return manage_fail_store(err, errstr);
	log_info("manage event=address-removed address=%s messages=%" PRId64 " bytes=%" PRId64 " by=\"%s\" channel=%s",
		 text, messages, bytes, manage_actor_name(ctx), ctx->actor.channel != NULL ? ctx->actor.channel : "");
	*result_r = json_pack("{s:s, s:I, s:I}", "address", text, "messages", (json_int_t)messages, "bytes",
			      (json_int_t)bytes);
	return 0;
}

/* ---- address.password, address.quota ---- */

/* address.password {address, password} -> {address} (the "devices" right). The account password stays. */
static int op_address_password(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX], hash[PASSWORD_HASH_MAX];
	struct store_address addr;
	const char *errstr = NULL;
	int rc;

	if (manage_param_address(params, "address", text, NULL, NULL, err) < 0 ||
	    manage_need_address(ctx, text, PERM_DEVICES, &addr, err) < 0)
		return -1;
	if (!kind_has_password(addr.kind))
		return manage_fail(err, MANAGE_CONFLICT, "no_password",
				   "%s is a %s address: it has no password", text, manage_kind_name(addr.kind));
	if (manage_hash_param(params, "password", hash, err) < 0 || manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = store_address_set_password(ctx->store, addr.local, addr.domain, hash, &errstr);
	if (rc < 0)
		manage_fail_store(err, errstr);
	else
		manage_history(ctx, addr.id, "address.password", "changed the address password");
	if (rc == 0)
		*result_r = json_pack("{s:s}", "address", text);
	return manage_txn_end(ctx, rc, result_r, err);
}

/* address.quota {address, quota (bytes, 0: the plan's)} -> {address, quota} (owner/admin) */
static int op_address_quota(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	struct store_domain dom;
	const char *errstr = NULL;
	int64_t quota;
	int rc;

	if (manage_param_address(params, "address", text, NULL, NULL, err) < 0 ||
	    manage_need_address(ctx, text, 0, &addr, err) < 0 ||
	    manage_find_domain(ctx, addr.domain, ROLE_ADMIN, &dom, err) < 0)
		return -1;
	if (json_object_get(params, "quota") == NULL)
		return manage_fail_field(err, "quota", "quota is required");
	if (manage_param_int(params, "quota", 0, 0, INT64_MAX, &quota, err) < 0 || manage_txn_begin(ctx, err) < 0)
		return -1;
	rc = store_address_set_quota(ctx->store, addr.local, addr.domain, quota, &errstr);
	if (rc < 0)
		manage_fail_store(err, errstr);
	else
		manage_history(ctx, addr.id, "address.quota", "quota set to %" PRId64 " bytes%s", quota,
			       quota == 0 ? " (the plan's)" : "");
	if (rc == 0)
		*result_r = json_pack("{s:s, s:I}", "address", text, "quota", (json_int_t)quota);
	return manage_txn_end(ctx, rc, result_r, err);
}

const struct manage_op manage_address_ops[] = {
	{ "address.list", op_address_list, false, false,
	  "The addresses the caller may see {domain, limit (1-1000, default 100), after (the previous page's next)}" },
	{ "address.create", op_address_create, true, false,
	  "Create an address {address, kind mailbox|catchall|noreply|alias, password, targets, quota, "
	  "for me|shared|member|external, member, email, perms, dry_run} (owner/admin)" },
	{ "address.get", op_address_get, false, false,
	  "An address {address}: kind, quota, usage, message count, the caller's rights" },
	{ "address.remove", op_address_remove, true, false,
	  "Delete an address and its mail {address, password (the caller's account password), confirm: true}" },
	{ "address.password", op_address_password, true, false,
	  "Set an address's password {address, password} (right: devices); account passwords stay" },
	{ "address.quota", op_address_quota, true, false,
	  "Set an address's quota {address, quota (bytes; 0: the plan's)} (owner/admin)" },
	{ NULL, NULL, false, false, NULL },
};
