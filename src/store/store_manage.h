/*
 * store_manage: what the Manager's service layer (src/manage) asks of the
 * store beyond store.h: roles, rights, the action history. Same conventions
 * as store.h (0/-1, lookups 1/0/-1, *errstr_r names the cause).
 */
#ifndef HERMOD_STORE_STORE_MANAGE_H
#define HERMOD_STORE_STORE_MANAGE_H

#include <stdint.h>

#include "store/store.h"

/* The role of account_id in org_id: 1 (role_r set), 0 not a member. */
int store_member_role(struct store *s, int64_t org_id, int64_t account_id, enum org_role *role_r,
		      const char **errstr_r);
/* The rights account_id was granted on address_id: 1 (perms_r set), 0 none. */
int store_access_perms(struct store *s, int64_t account_id, int64_t address_id, unsigned *perms_r,
		       const char **errstr_r);
/* The organisation owning address_id's domain: 1 (org_id_r set), 0 no such address. */
int store_address_org(struct store *s, int64_t address_id, int64_t *org_id_r, const char **errstr_r);
/* Appends one entry to an address's action history. */
int store_history_add(struct store *s, int64_t address_id, int64_t at, const char *actor, const char *action,
		      const char *detail, const char *ip, const char **errstr_r);

#endif
