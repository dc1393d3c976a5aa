/*
 * manage_ops: the operation tables of the service layer's parts, listed
 * once in manage.c. Each ends with { 0 }.
 */
#ifndef HERMOD_MANAGE_MANAGE_OPS_H
#define HERMOD_MANAGE_MANAGE_OPS_H

#include "manage/manage.h"

/* core: organisations, members and mail services (manage_org.c) */
extern const struct manage_op manage_org_ops[];
/* core: accounts (manage_account.c) */
extern const struct manage_op manage_account_ops[];
/* core: domains (manage_domain.c) */
extern const struct manage_op manage_domain_ops[];
/* core: addresses (manage_address.c) */
extern const struct manage_op manage_address_ops[];
/* core: access grants (manage_access.c) */
extern const struct manage_op manage_access_ops[];
/* core: the action history (manage_history.c) */
extern const struct manage_op manage_history_ops[];
/* invite: invitations and sharing links (manage_invite.c) */
extern const struct manage_op manage_invite_ops[];
/* check: domain.check (manage_check.c) */
extern const struct manage_op manage_check_ops[];
/* import: address.import (manage_import.c) */
extern const struct manage_op manage_import_ops[];
/* inbound: auto-reply and alias targets (manage_inbound.c; manage_inbound.h for the shared step) */
extern const struct manage_op manage_inbound_ops[];
/* devices: app passwords (manage_devices.c) */
extern const struct manage_op manage_devices_ops[];

/*
 * Provided by manage_invite.c, called by address.create (manage_address.c)
 * for "for": "member" or "external", inside address.create's transaction,
 * after the address addr was created (without rights for anyone yet). It
 * reads its own parameters (member, email, perms, ...), records the
 * invitation, queues its message in ctx->outbox and adds what the caller
 * shows to result (e.g. "invitation": {...}). 0, or -1 with err: the whole
 * creation is then rolled back.
 */
int manage_invite_for_address(struct manage_ctx *ctx, const struct store_address *addr, json_t *params,
			      json_t *result, struct manage_error *err);

#endif
