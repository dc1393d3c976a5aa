/*
 * manage_inbound: the auto-reply and alias-target operations
 * (manage_inbound_ops, listed in manage.c through manage_ops.h), and the
 * one step other operations share: giving an alias its targets, with the
 * confirmation link sent to each new external one.
 */
#ifndef HERMOD_MANAGE_MANAGE_INBOUND_H
#define HERMOD_MANAGE_MANAGE_INBOUND_H

#include <stddef.h>

#include "mail/mail_address.h"
#include "manage/manage.h"

/* "local@domain" and its NUL */
#define MANAGE_ADDRESS_TEXT_MAX (MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2)

/*
 * Replaces alias's targets with targets[0..n) (validated addresses, at most
 * 10, distinct): a local target must exist and receive mail; a target that
 * was already there keeps its state; each new external target gets a
 * confirmation message with a one-time link (queued in ctx->outbox) and is
 * appended to `sent`. 0, or -1 with err. Use inside the caller's transaction
 * when there is one (the store call nests).
 */
int manage_alias_targets_apply(struct manage_ctx *ctx, const struct store_address *alias,
			       const char (*targets)[MANAGE_ADDRESS_TEXT_MAX], size_t n, json_t *sent,
			       struct manage_error *err);

#endif
