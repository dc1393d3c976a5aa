/*
 * manage: the operation table, errors, parameters, permissions, history and
 * outbox shared by every part of the service layer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "manage/manage_ops.h"
#include "store/store_manage.h"

/* Every part's table; a part adds its line here when it lands. */
static const struct manage_op *const op_tables[] = {
	manage_org_ops, manage_account_ops, manage_domain_ops, manage_address_ops, manage_access_ops,
	manage_history_ops, /* core */
	manage_invite_ops,
	manage_check_ops, manage_import_ops, /* check, import */
	manage_inbound_ops, /* inbound */
	manage_devices_ops, /* app passwords */
	NULL,
};

void manage_ctx_init(struct manage_ctx *ctx, struct store *store, const struct config *cfg,
		     const struct manage_actor *actor)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->store = store;
	ctx->cfg = cfg;
	ctx->actor = *actor;
	ctx->now = time(NULL);
}

void manage_ctx_clear(struct manage_ctx *ctx)
{
	struct manage_message *m, *next;

	for (m = ctx->outbox; m != NULL; m = next) {
		next = m->next;
		for (size_t i = 0; i < m->rcpt_count; i++)
			free(m->rcpts[i]);
		free(m->rcpts);
		free(m->envelope_from);
		free(m->data);
		free(m);
	}
	ctx->outbox = NULL;
}

const struct manage_op *manage_op_find(const char *name)
{
	for (size_t t = 0; op_tables[t] != NULL; t++)
		for (const struct manage_op *op = op_tables[t]; op->name != NULL; op++)
			if (strcmp(op->name, name) == 0)
				return op;
	return NULL;
}

void manage_op_foreach(void (*fn)(const struct manage_op *op, void *arg), void *arg)
{
	for (size_t t = 0; op_tables[t] != NULL; t++)
		for (const struct manage_op *op = op_tables[t]; op->name != NULL; op++)
			fn(op, arg);
}

int manage_call(struct manage_ctx *ctx, const char *name, json_t *params, json_t **result_r,
		struct manage_error *err)
{
	const struct manage_op *op = manage_op_find(name);

	memset(err, 0, sizeof(*err));
	*result_r = NULL;
	if (op == NULL)
		return manage_fail(err, MANAGE_NOT_FOUND, "unknown_operation", "there is no operation %s", name);
	if (!op->anonymous && !ctx->actor.system && ctx->actor.account_id == 0)
		return manage_fail(err, MANAGE_UNAUTHORIZED, "login_required", "log in first: %s needs an account",
				   name);
	if (op->writes && ctx->actor.read_only)
		return manage_fail(err, MANAGE_FORBIDDEN, "read_only_token",
				   "this API token is read-only and %s changes something", name);
	if (params == NULL || !json_is_object(params))
		return manage_fail(err, MANAGE_INVALID, "invalid_parameters", "the parameters must be a JSON object");
	if (op->fn(ctx, params, result_r, err) < 0) {
		ASSERT(err->status != MANAGE_OK);
		ASSERT(*result_r == NULL);
		return -1;
	}
	ASSERT(*result_r != NULL);
	return 0;
}

static int fail_va(struct manage_error *err, enum manage_status status, const char *code, const char *fmt,
		   va_list ap) __attribute__((format(printf, 4, 0)));
static int fail_va(struct manage_error *err, enum manage_status status, const char *code, const char *fmt,
		   va_list ap)
{
	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	return -1;
}

int manage_fail(struct manage_error *err, enum manage_status status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_va(err, status, code, fmt, ap);
	va_end(ap);
	return -1;
}

int manage_fail_field(struct manage_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_va(err, MANAGE_INVALID, "invalid_parameter", fmt, ap);
	va_end(ap);
	snprintf(err->field, sizeof(err->field), "%s", field);
	return -1;
}

int manage_fail_store(struct manage_error *err, const char *errstr)
{
	return manage_fail(err, MANAGE_INTERNAL, "store_error", "%s", errstr != NULL ? errstr : "store failure");
}

int manage_status_http(enum manage_status status)
{
	static const int http[] = {
		[MANAGE_OK] = 200,        [MANAGE_INVALID] = 400,   [MANAGE_UNAUTHORIZED] = 401,
		[MANAGE_FORBIDDEN] = 403, [MANAGE_NOT_FOUND] = 404, [MANAGE_CONFLICT] = 409,
		[MANAGE_GONE] = 410,      [MANAGE_TOO_MANY] = 429,  [MANAGE_INTERNAL] = 500,
	};

	return (unsigned)status < sizeof(http) / sizeof(http[0]) ? http[status] : 500;
}

/* ---- parameters ---- */

int manage_param_str(json_t *params, const char *field, bool required, size_t max, const char **value_r,
		     struct manage_error *err)
{
	json_t *v = json_object_get(params, field);

	*value_r = NULL;
	if (v == NULL || json_is_null(v))
		return required ? manage_fail_field(err, field, "%s is required", field) : 0;
	if (!json_is_string(v))
		return manage_fail_field(err, field, "%s must be a string", field);
	if (json_string_length(v) > max)
		return manage_fail_field(err, field, "%s is longer than %zu bytes", field, max);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return manage_fail_field(err, field, "%s contains a NUL character", field);
	*value_r = json_string_value(v);
	return 0;
}

int manage_param_bool(json_t *params, const char *field, bool dflt, bool *value_r, struct manage_error *err)
{
	json_t *v = json_object_get(params, field);

	*value_r = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return manage_fail_field(err, field, "%s must be true or false", field);
	*value_r = json_is_true(v);
	return 0;
}

int manage_param_int(json_t *params, const char *field, int64_t dflt, int64_t min, int64_t max, int64_t *value_r,
		     struct manage_error *err)
{
	json_t *v = json_object_get(params, field);

	*value_r = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return manage_fail_field(err, field, "%s must be an integer", field);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return manage_fail_field(err, field, "%s must be between %lld and %lld", field, (long long)min,
					 (long long)max);
	*value_r = json_integer_value(v);
	return 0;
}

/* ---- permissions ---- */

int manage_org_role(struct manage_ctx *ctx, int64_t org_id, enum org_role *role_r, struct manage_error *err)
{
	const char *errstr = NULL;
	int rc;

	if (ctx->actor.system) {
		*role_r = ROLE_OWNER;
		return 1;
	}
	rc = store_member_role(ctx->store, org_id, ctx->actor.account_id, role_r, &errstr);
	return rc < 0 ? manage_fail_store(err, errstr) : rc;
}

int manage_need_org(struct manage_ctx *ctx, int64_t org_id, enum org_role min, struct manage_error *err)
{
	static const char *const role_text[] = { "an owner", "an owner or an admin", "a member" };
	enum org_role role;
	int rc = manage_org_role(ctx, org_id, &role, err);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "organisation_not_found",
				   "no such organisation among yours");
	/* enum order: owner < admin < member */
	if (role > min)
		return manage_fail(err, MANAGE_FORBIDDEN, "role_required",
				   "only %s of the organisation may do this", role_text[min]);
	return 0;
}

int manage_address_perms(struct manage_ctx *ctx, int64_t address_id, unsigned *perms_r, struct manage_error *err)
{
	const char *errstr = NULL;
	enum org_role role;
	int64_t org_id;
	int rc;

	*perms_r = 0;
	if (ctx->actor.system) {
		*perms_r = PERM_ALL;
		return 0;
	}
	rc = store_address_org(ctx->store, address_id, &org_id, &errstr);
	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 0)
		return 0;
	if ((rc = manage_org_role(ctx, org_id, &role, err)) < 0)
		return -1;
	if (rc == 1 && role != ROLE_MEMBER) {
		*perms_r = PERM_ALL;
		return 0;
	}
	if (store_access_perms(ctx->store, ctx->actor.account_id, address_id, perms_r, &errstr) < 0)
		return manage_fail_store(err, errstr);
	return 0;
}

int manage_need_address(struct manage_ctx *ctx, const char *address, unsigned perm, struct store_address *addr_r,
			struct manage_error *err)
{
	const char *at = address != NULL ? strrchr(address, '@') : NULL;
	const char *errstr = NULL;
	char local[65];
	unsigned perms;
	int rc;

	if (at == NULL || at == address || (size_t)(at - address) >= sizeof(local) || at[1] == '\0')
		return manage_fail_field(err, "address", "'%s' is not an address of the form local@domain",
					 address != NULL ? address : "");
	memcpy(local, address, (size_t)(at - address));
	local[at - address] = '\0';
	rc = store_address_get(ctx->store, local, at + 1, addr_r, &errstr);
	if (rc < 0)
		return manage_fail_store(err, errstr);
	if (rc == 1 && manage_address_perms(ctx, addr_r->id, &perms, err) < 0)
		return -1;
	if (rc == 0 || perms == 0)
		return manage_fail(err, MANAGE_NOT_FOUND, "address_not_found", "address %s does not exist", address);
	if ((perms & perm) != perm)
		return manage_fail(err, MANAGE_FORBIDDEN, "permission_denied",
				   "you lack the right '%s' on %s", manage_perm_name(perm & ~perms), address);
	return 0;
}

static const struct {
	const char *name;
	unsigned perm;
} perm_names[] = {
	{ "read", PERM_READ },
	{ "send", PERM_SEND },
	{ "access", PERM_MANAGE_ACCESS },
	{ "devices", PERM_DEVICES },
	{ "autoreply", PERM_AUTOREPLY },
	{ "signatures", PERM_SIGNATURES },
	{ "redirections", PERM_REDIRECTIONS },
	{ "aliases", PERM_ALIASES },
	{ "filters", PERM_FILTERS },
	{ "folders", PERM_FOLDERS },
	{ "senders", PERM_SENDERS },
	{ "history", PERM_HISTORY },
	{ "restore", PERM_RESTORE },
};
#define PERM_NAME_COUNT (sizeof(perm_names) / sizeof(perm_names[0]))

const char *manage_perm_name(unsigned perm)
{
	/* the lowest bit set names a set of several */
	for (size_t i = 0; i < PERM_NAME_COUNT; i++)
		if (perm & perm_names[i].perm)
			return perm_names[i].name;
	return "?";
}

/* One name: a single right, or the groups "settings" and "all". */
static int perm_lookup(const char *name, size_t len, unsigned *perm_r)
{
	if (len == 8 && memcmp(name, "settings", 8) == 0) {
		*perm_r = PERM_SETTINGS;
		return 0;
	}
	if (len == 3 && memcmp(name, "all", 3) == 0) {
		*perm_r = PERM_ALL;
		return 0;
	}
	for (size_t i = 0; i < PERM_NAME_COUNT; i++)
		if (strlen(perm_names[i].name) == len && memcmp(perm_names[i].name, name, len) == 0) {
			*perm_r = perm_names[i].perm;
			return 0;
		}
	return -1;
}

static int perms_add(const char *name, size_t len, const char *field, unsigned *perms_r, struct manage_error *err)
{
	unsigned perm;

	if (perm_lookup(name, len, &perm) < 0)
		return manage_fail_field(err, field,
					 "'%.*s' is not a right: read, send, access, devices, autoreply, signatures,"
					 " redirections, aliases, filters, folders, senders, history, restore,"
					 " settings or all",
					 (int)(len > 40 ? 40 : len), name);
	*perms_r |= perm;
	return 0;
}

int manage_perms_parse(json_t *value, const char *field, unsigned *perms_r, struct manage_error *err)
{
	*perms_r = 0;
	if (json_is_string(value)) {
		const char *p = json_string_value(value);
		while (*p != '\0') {
			size_t n = strcspn(p, ",");
			if (perms_add(p, n, field, perms_r, err) < 0)
				return -1;
			p += n;
			p += *p == ',';
		}
	} else if (json_is_array(value)) {
		size_t i;
		json_t *v;
		json_array_foreach(value, i, v) {
			if (!json_is_string(v))
				return manage_fail_field(err, field, "%s must list rights as strings", field);
			if (perms_add(json_string_value(v), json_string_length(v), field, perms_r, err) < 0)
				return -1;
		}
	} else {
		return manage_fail_field(err, field, "%s must be an array of rights", field);
	}
	if (*perms_r == 0)
		return manage_fail_field(err, field, "%s needs at least one right", field);
	return 0;
}

json_t *manage_perms_json(unsigned perms)
{
	json_t *a = json_array();

	for (size_t i = 0; i < PERM_NAME_COUNT; i++)
		if (perms & perm_names[i].perm)
			json_array_append_new(a, json_string(perm_names[i].name));
	return a;
}

/* ---- history ---- */

void manage_history(struct manage_ctx *ctx, int64_t address_id, const char *action, const char *fmt, ...)
{
	const char *errstr = NULL;
	char detail[512], actor[340];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (ctx->actor.system)
		snprintf(actor, sizeof(actor), "operator (%s)", ctx->actor.channel != NULL ? ctx->actor.channel : "cli");
	else
		snprintf(actor, sizeof(actor), "%s", ctx->actor.login);
	if (store_history_add(ctx->store, address_id, (int64_t)ctx->now, actor, action, detail, ctx->actor.ip,
			      &errstr) < 0)
		log_warn("manage event=history-failed address_id=%lld action=%s error=\"%s\"", (long long)address_id,
			 action, errstr);
}

/* ---- links ---- */

void manage_public_url(const struct config *cfg, char *out, size_t size)
{
	const struct listen_cfg *best = NULL;

	if (cfg->public_url != NULL) {
		snprintf(out, size, "%s", cfg->public_url);
		return;
	}
	for (size_t i = 0; i < cfg->listen_count; i++) {
		const struct listen_cfg *l = &cfg->listen[i];
		if (l->service == LISTEN_HTTPS && (best == NULL || best->service != LISTEN_HTTPS))
			best = l;
		else if (l->service == LISTEN_HTTP && best == NULL)
			best = l;
	}
	if (best == NULL || best->port == 0 || (best->service == LISTEN_HTTPS && best->port == 443) ||
	    (best->service == LISTEN_HTTP && best->port == 80))
		snprintf(out, size, "%s://%s", best != NULL && best->service == LISTEN_HTTP ? "http" : "https",
			 cfg->hostname);
	else
		snprintf(out, size, "%s://%s:%u", best->service == LISTEN_HTTP ? "http" : "https", cfg->hostname,
			 (unsigned)best->port);
}

/* ---- outbox ---- */

void manage_outbox_add(struct manage_ctx *ctx, const char *envelope_from, const char *const *rcpts, size_t n,
		       const char *data, size_t len)
{
	struct manage_message *m = xcalloc(1, sizeof(*m)), **tail = &ctx->outbox;

	m->envelope_from = xstrdup(envelope_from);
	m->rcpts = xcalloc(n, sizeof(*m->rcpts));
	for (size_t i = 0; i < n; i++)
		m->rcpts[i] = xstrdup(rcpts[i]);
	m->rcpt_count = n;
	m->data = xmalloc(len + 1);
	memcpy(m->data, data, len);
	m->data[len] = '\0';
	m->len = len;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = m;
}
