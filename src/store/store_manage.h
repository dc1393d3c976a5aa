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
/*
 * Commits on this connection without an fsync of their own (WAL
 * synchronous=NORMAL: durable at the next synced commit or checkpoint); for
 * connections that write only what may be lost in a crash (login history).
 */
int store_set_sync_normal(struct store *s, const char **errstr_r);
/*
 * Replaces an address's password hash only if it is still old_hash (a
 * rehash at login must not undo a password changed meanwhile): 1 replaced,
 * 0 the hash had changed (or the address is gone), -1.
 */
int store_address_rehash(struct store *s, int64_t address_id, const char *old_hash, const char *new_hash,
			 const char **errstr_r);
/* Appends one entry to an address's action history. */
int store_history_add(struct store *s, int64_t address_id, int64_t at, const char *actor, const char *action,
		      const char *detail, const char *ip, const char **errstr_r);

/* ---- for the core operations (manage_org/account/domain/address/access/history.c) ---- */

/*
 * One transaction around several store calls: the calls' own transactions
 * nest inside it as savepoints. Hash passwords before beginning (argon2
 * takes long and the write lock blocks every other writer meanwhile).
 */
int store_manage_begin(struct store *s, const char **errstr_r);
int store_manage_commit(struct store *s, const char **errstr_r);
void store_manage_rollback(struct store *s);

/* The organisations account_id belongs to, with its role, by name. */
int store_manage_orgs_of(struct store *s, int64_t account_id,
			 void (*cb)(const struct store_org *org, enum org_role role, void *arg), void *arg,
			 const char **errstr_r);
/* The members of org_id with their roles, by login. */
int store_manage_members(struct store *s, int64_t org_id,
			 void (*cb)(const struct store_account *acct, enum org_role role, void *arg), void *arg,
			 const char **errstr_r);
/* How many owners org_id has. */
int store_manage_owner_count(struct store *s, int64_t org_id, int64_t *count_r, const char **errstr_r);

/* An account's contact address (accounts.email; "" when unset). */
int store_manage_account_email(struct store *s, int64_t account_id, char *email_r, size_t size,
			       const char **errstr_r);
int store_manage_account_set_email(struct store *s, int64_t account_id, const char *email, const char **errstr_r);

struct store_service {
	int64_t id;
	enum plan plan;
	int64_t created_at;
	int64_t domains;    /* how many domains are linked to it */
};
/* The mail services of org_id, by id. */
int store_manage_services(struct store *s, int64_t org_id, void (*cb)(const struct store_service *svc, void *arg),
			  void *arg, const char **errstr_r);
/* Links domain_id to service_id (which must belong to the domain's organisation), or 0 to unlink. */
int store_manage_domain_link(struct store *s, int64_t domain_id, int64_t service_id, const char **errstr_r);

struct store_domain_check {
	char record[8];     /* mx, spf, dkim, dmarc */
	char status[8];     /* present, missing, wrong, error */
	char found[512];
	char expected[512];
	int64_t checked_at;
};
/* The last check of each DNS record of domain_id (domain_checks), by record. */
int store_manage_domain_checks(struct store *s, int64_t domain_id,
			       void (*cb)(const struct store_domain_check *c, void *arg), void *arg,
			       const char **errstr_r);

/*
 * One page of the addresses an account sees, ordered by domain name then
 * local part (case-insensitively), starting after (after_domain,
 * after_local) when set: every address of the domains whose organisation it
 * owns or administers (perms PERM_ALL), plus the addresses it was granted
 * (their perms). account_id 0: every address (the system). domain_id 0:
 * every domain. Each step walks an index, so a page costs the same at the
 * start and at the end of 100,000 addresses.
 */
struct store_address_page {
	int64_t account_id;
	int64_t domain_id;
	const char *after_domain; /* NULL: from the first */
	const char *after_local;
	size_t limit;
};
int store_manage_address_page(struct store *s, const struct store_address_page *q,
			      void (*cb)(const struct store_address *addr, unsigned perms, void *arg), void *arg,
			      const char **errstr_r);
/* The addresses account_id was granted rights on, with them, by address. */
int store_manage_granted(struct store *s, int64_t account_id,
			 void (*cb)(const struct store_address *addr, unsigned perms, void *arg), void *arg,
			 const char **errstr_r);
/* Who was granted rights on address_id, by login. */
int store_manage_access_list(struct store *s, int64_t address_id,
			     void (*cb)(const struct store_account *acct, unsigned perms, void *arg), void *arg,
			     const char **errstr_r);
/* Sets (perms != 0) or removes (perms == 0) the grant of account_id on address_id; 0 when there was none to remove. */
int store_manage_access_set(struct store *s, int64_t account_id, int64_t address_id, unsigned perms,
			    int *changed_r, const char **errstr_r);

struct store_history_entry {
	int64_t id;
	int64_t at;
	char actor[340];
	char action[64];
	char detail[512];
	char ip[64];
};
/* address_id's history, newest first, entries with id < before_id (0: from the newest), at most limit. */
int store_manage_history(struct store *s, int64_t address_id, int64_t before_id, size_t limit,
			 void (*cb)(const struct store_history_entry *e, void *arg), void *arg, const char **errstr_r);

/* The catchall address of domain_id: 1 (its local part in local_r), 0 none. */
int store_manage_catchall(struct store *s, int64_t domain_id, char *local_r, size_t size, const char **errstr_r);

#endif
