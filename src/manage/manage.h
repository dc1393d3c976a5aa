/*
 * manage: the Manager's service layer. Every operation on organisations,
 * accounts, domains, addresses, access, invitations, sharing links,
 * auto-reply and imports lives here once, with its validation and its
 * permission rules. The HTTP API (src/http) and the command line (src/cli)
 * both call it and have no rules of their own.
 *
 * An operation has a name ("address.create"), takes its parameters as one
 * JSON object and answers with one JSON value; src/http maps routes onto
 * names (path parameters and the request body merged into the object), the
 * command line builds the object from its arguments and prints the answer.
 * The shapes are what the OpenAPI document (served by src/http) describes.
 *
 * Operations are synchronous: they run on a thread that owns a struct store
 * (the command-line process, or one of src/http's worker threads), never on
 * the event loop, because password hashing and SQL take time.
 */
#ifndef HERMOD_MANAGE_MANAGE_H
#define HERMOD_MANAGE_MANAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "store/store.h"

enum manage_status {
	MANAGE_OK = 0,
	MANAGE_INVALID,      /* 400: a parameter is missing or wrong */
	MANAGE_UNAUTHORIZED, /* 401: no credentials, or wrong ones */
	MANAGE_FORBIDDEN,    /* 403: the actor may not do this */
	MANAGE_NOT_FOUND,    /* 404: no such thing, or not visible to the actor */
	MANAGE_CONFLICT,     /* 409: exists already, or still in use */
	MANAGE_GONE,         /* 410: a token already used, revoked or expired */
	MANAGE_TOO_MANY,     /* 429: throttled */
	MANAGE_INTERNAL,     /* 500: the store failed */
};

struct manage_error {
	enum manage_status status;
	char code[48];      /* stable snake_case for programs: "address_exists" */
	char message[256];  /* the cause, for a person: "address a@b.test already exists" */
	char field[64];     /* the parameter at fault, or "" */
};

/* Who acts. The history records actor and ip with every change. */
struct manage_actor {
	int64_t account_id; /* 0 when system */
	char login[320];    /* the account's login, or "" */
	bool system;        /* the operator on the command line: every right */
	bool read_only;     /* an API token with scope "read": no writes */
	const char *channel;/* "api" or "cli" */
	char ip[64];        /* the client's address, "" on the command line */
	int64_t session_id; /* the browser session making the call, 0 for none */
};

/*
 * A message an operation wants sent (an invitation, a confirmation link):
 * a whole RFC 5322 message with CRLF line endings. The caller sends the
 * outbox after the operation succeeded: the daemon through the store's
 * delivery path and the queue, the command line through the store.
 */
struct manage_message {
	char *envelope_from;         /* "" for the null sender */
	char **rcpts;
	size_t rcpt_count;
	char *data;
	size_t len;
	struct manage_message *next;
};

struct manage_ctx {
	struct store *store;
	const struct config *cfg;
	struct manage_actor actor;
	time_t now;
	struct manage_message *outbox; /* owned; freed by manage_ctx_clear */
};

/* result_r: a new reference (object, array, or json_null()) on success. */
typedef int manage_fn(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err);

struct manage_op {
	const char *name;    /* "address.create" */
	manage_fn *fn;
	bool writes;         /* refused for read-only actors */
	bool anonymous;      /* may run without an account (accepting an invitation) */
	const char *summary; /* one line, for the OpenAPI document and `hermod help` */
};

/*
 * Each part of the service layer exports a table ending with { 0 }
 * (declared in manage_ops.h, listed in manage.c's op_tables).
 */

void manage_ctx_init(struct manage_ctx *ctx, struct store *store, const struct config *cfg,
		     const struct manage_actor *actor);
/* Frees the outbox (sent or not). */
void manage_ctx_clear(struct manage_ctx *ctx);

const struct manage_op *manage_op_find(const char *name);
/* Calls fn for every operation, in table order. */
void manage_op_foreach(void (*fn)(const struct manage_op *op, void *arg), void *arg);

/*
 * Runs the operation called name. Refuses a write for a read-only actor, an
 * operation that needs an account when there is none. 0, or -1 with err
 * filled (never a partial change: operations that write run in one store
 * transaction).
 */
int manage_call(struct manage_ctx *ctx, const char *name, json_t *params, json_t **result_r,
		struct manage_error *err);

/* Fills err and returns -1. */
int manage_fail(struct manage_error *err, enum manage_status status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Like manage_fail with status INVALID and the parameter named in err->field. */
int manage_fail_field(struct manage_error *err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A store failure: INTERNAL with the store's text. */
int manage_fail_store(struct manage_error *err, const char *errstr);
/* The HTTP status of a manage_status (200 for OK). */
int manage_status_http(enum manage_status status);

/* ---- parameters ---------------------------------------------------------- */

/*
 * A required (or optional, *value_r = NULL when absent) string parameter;
 * at most max bytes, no NUL. -1 with an INVALID error naming the field.
 */
int manage_param_str(json_t *params, const char *field, bool required, size_t max, const char **value_r,
		     struct manage_error *err);
int manage_param_bool(json_t *params, const char *field, bool dflt, bool *value_r, struct manage_error *err);
int manage_param_int(json_t *params, const char *field, int64_t dflt, int64_t min, int64_t max, int64_t *value_r,
		     struct manage_error *err);

/* ---- permissions ---------------------------------------------------------- */

/*
 * The rules, in one place:
 * - the system actor (the command line) may do everything;
 * - an organisation's owner and admins have every right on every address of
 *   its domains, and manage its domains and members (only an owner changes
 *   owners or removes the organisation);
 * - a member has, on an address, exactly the rights granted to them (access
 *   table); nothing else of the organisation is theirs to change;
 * - outside one's organisations nothing is visible: NOT_FOUND, not
 *   FORBIDDEN, so that names of other organisations' things do not leak.
 */

/* The actor's role in org_id: 1 (role_r set), 0 not a member, -1 store error. */
int manage_org_role(struct manage_ctx *ctx, int64_t org_id, enum org_role *role_r, struct manage_error *err);
/* 0 when the actor has at least role `min` in org_id (owner < admin < member), -1 with err. */
int manage_need_org(struct manage_ctx *ctx, int64_t org_id, enum org_role min, struct manage_error *err);
/*
 * The actor's rights on an address (PERM_* bits; PERM_ALL for the system,
 * owners and admins). 0 with *perms_r (0: none), -1 store error.
 */
int manage_address_perms(struct manage_ctx *ctx, int64_t address_id, unsigned *perms_r, struct manage_error *err);
/*
 * Looks up an address by "local@domain" for an operation needing `perm`:
 * NOT_FOUND when it does not exist or the actor has no right on it at all,
 * FORBIDDEN naming the missing right otherwise.
 */
int manage_need_address(struct manage_ctx *ctx, const char *address, unsigned perm, struct store_address *addr_r,
			struct manage_error *err);

/* The name of a single right ("read", "autoreply"), and the reverse. */
const char *manage_perm_name(unsigned perm);
/* Parses a JSON array of right names, or a comma-separated string. */
int manage_perms_parse(json_t *value, const char *field, unsigned *perms_r, struct manage_error *err);
/* A new JSON array of the right names in perms. */
json_t *manage_perms_json(unsigned perms);

/* ---- history ----------------------------------------------------------------- */

/* Records an action on an address (best effort: a failure is logged, not returned). */
void manage_history(struct manage_ctx *ctx, int64_t address_id, const char *action, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- links --------------------------------------------------------------------- */

/*
 * The base of links sent in mail ("https://mail.example.org"): the
 * configured public_url, else the https listener (else the http one) at
 * the host name, the port left out when it is the scheme's own.
 */
void manage_public_url(const struct config *cfg, char *out, size_t size);

/* ---- outbox ------------------------------------------------------------------- */

/* Queues a message for the caller to send after success; takes copies. */
void manage_outbox_add(struct manage_ctx *ctx, const char *envelope_from, const char *const *rcpts, size_t n,
		       const char *data, size_t len);

#endif
