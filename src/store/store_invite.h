/*
 * store_invite: invitations and sharing links (src/manage/manage_invite.c).
 *
 * An invitation offers rights on an address to one person: an existing
 * member of the organisation (account_id set; they accept while logged in)
 * or an external person (account_id 0; accepting creates their account).
 * A sharing link offers rights on an address to whoever redeems it first.
 * Both are found by the SHA-256 of their token (the token itself is never
 * stored), expire, can be revoked, and are used at most once: the use and
 * its effect (account, membership, access) are one transaction, so two
 * concurrent uses cannot both succeed.
 *
 * Same conventions as store.h (0/-1, lookups 1/0/-1, *errstr_r).
 */
#ifndef HERMOD_STORE_STORE_INVITE_H
#define HERMOD_STORE_STORE_INVITE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_TOKEN_HASH_BYTES 32 /* crypto_hash_sha256_BYTES */

struct store_invitation {
	int64_t id;
	int64_t org_id;
	int64_t address_id;
	char address[324];        /* local@domain (64 + 1 + 255, NUL) */
	char email[320];          /* where the invitation was sent */
	unsigned perms;           /* PERM_* offered */
	enum org_role role;       /* external person: the membership they get */
	char login[324];          /* external: the login their account must take; "" their choice */
	int64_t account_id;       /* the invited member; 0: an external person */
	char account_login[320];
	int64_t invited_by;       /* 0: the operator, or an account since removed */
	char invited_by_login[320];
	int64_t created_at, expires_at;
	int64_t used_at, revoked_at; /* 0: not (yet) */
};

struct store_link {
	int64_t id;
	int64_t address_id;
	char address[324];
	unsigned perms;
	int64_t created_by;       /* 0: the operator, or a removed account */
	char created_by_login[320];
	int64_t created_at, expires_at;
	int64_t used_at, revoked_at; /* 0: not (yet) */
	int64_t used_by;
	char used_by_login[320];
};

/* A member of an organisation, as an invitation needs them. */
struct store_invite_member {
	int64_t account_id;
	char login[320];
	char email[320];          /* accounts.email; "" when none was set */
	enum org_role role;
};

/* The account login of org_id's member: 1 (m_r set), 0 not a member. */
int store_invite_member_get(struct store *s, int64_t org_id, const char *login, struct store_invite_member *m_r,
			    const char **errstr_r);

/* ---- invitations ---- */

/*
 * Adds an invitation (inv's id, address, logins and used/revoked fields are
 * ignored; inv->login "" for the invitee's choice). *id_r: its id.
 */
int store_invitation_add(struct store *s, const struct store_invitation *inv,
			 const uint8_t hash[STORE_TOKEN_HASH_BYTES], int64_t *id_r, const char **errstr_r);
/* By token hash, or by id: 1 (inv_r filled), 0 none. */
int store_invitation_find(struct store *s, const uint8_t hash[STORE_TOKEN_HASH_BYTES],
			  struct store_invitation *inv_r, const char **errstr_r);
int store_invitation_get(struct store *s, int64_t id, struct store_invitation *inv_r, const char **errstr_r);
/*
 * Invitations newest first: of address_id (0: of every address), or (when
 * account_id is not 0) those to that member.
 */
int store_invitation_list(struct store *s, int64_t address_id, int64_t account_id,
			  void (*cb)(const struct store_invitation *inv, void *arg), void *arg, const char **errstr_r);
/* Revokes an unused invitation at `now`: 1 done, 0 it was already used or revoked. */
int store_invitation_revoke(struct store *s, int64_t id, int64_t now, const char **errstr_r);

/*
 * Uses invitation id at `now`, in one transaction: when new_login is not
 * NULL creates that account (password_hash, email = the invitation's);
 * otherwise account_id (the invited member, or an existing account taking
 * up an external invitation) is the one. An external invitation makes the
 * account a member of the organisation with its role. Then adds the
 * invitation's rights to the account's rights on the address.
 * Returns 1 with *account_id_r, 0 when the invitation is no longer usable
 * (used, revoked or expired meanwhile; nothing changed), -1 (e.g. "account
 * x already exists").
 */
int store_invitation_accept(struct store *s, int64_t id, int64_t now, int64_t account_id, const char *new_login,
			    const char *password_hash, int64_t *account_id_r, const char **errstr_r);

/* ---- sharing links ---- */

/* Adds a link (only address_id, perms, created_by, created_at, expires_at are read). */
int store_link_add(struct store *s, const struct store_link *link, const uint8_t hash[STORE_TOKEN_HASH_BYTES],
		   int64_t *id_r, const char **errstr_r);
int store_link_find(struct store *s, const uint8_t hash[STORE_TOKEN_HASH_BYTES], struct store_link *link_r,
		    const char **errstr_r);
int store_link_get(struct store *s, int64_t id, struct store_link *link_r, const char **errstr_r);
/* The links of address_id, newest first. */
int store_link_list(struct store *s, int64_t address_id, void (*cb)(const struct store_link *link, void *arg),
		    void *arg, const char **errstr_r);
/* 1 revoked, 0 it was already used or revoked. */
int store_link_revoke(struct store *s, int64_t id, int64_t now, const char **errstr_r);
/*
 * Uses link id for account_id at `now` and adds its rights to the
 * account's rights on the address, in one transaction. 1 done, 0 no longer
 * usable (used, revoked, expired; nothing changed).
 */
int store_link_redeem(struct store *s, int64_t id, int64_t account_id, int64_t now, const char **errstr_r);

#endif
