/*
 * store: the durable state of hermod, behind one interface.
 *
 * Nothing outside src/store speaks SQL. The SQLite backend (store_sqlite.c)
 * keeps metadata in a WAL-mode database and message bodies in append-only
 * segment files under <data_dir>/msg; a PostgreSQL backend comes later behind
 * the same functions.
 *
 * These functions are synchronous and are called either by the command line
 * tool or from the store's own threads (store_async.h); never from the event
 * loop. A struct store is used by one thread at a time.
 *
 * Conventions: int functions return 0 on success and -1 on failure; lookups
 * return 1 (found), 0 (not found) or -1. On failure *errstr_r names the cause
 * in words fit for a user ("domain example.org already exists"); it points
 * into the struct store and stays valid until the next call on it.
 */
#ifndef HERMOD_STORE_STORE_H
#define HERMOD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

struct store;
struct spool;

/* ---- opening ------------------------------------------------------------ */

/* Opens (creating and migrating when needed) the store under data_dir. */
int store_open(const char *data_dir, struct store **store_r, const char **errstr_r);
void store_close(struct store *s);
/* Current schema version (after migrations). */
int store_schema_version(struct store *s);

/* ---- the domain model ------------------------------------------------------ */

enum address_kind {
	ADDRESS_MAILBOX,  /* ordinary: receives into its folders, may send */
	ADDRESS_CATCHALL, /* receives for every non-existent local part of its domain */
	ADDRESS_NOREPLY,  /* may send; mail to it is refused */
	ADDRESS_ALIAS,    /* redirects to its targets (alias_targets) */
};

enum org_role { ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER };

/*
 * Per-account, per-address rights (bit mask), one per right the seed names,
 * each granted separately. Bit 2 is retired (version 1's catch-all
 * "settings"; migration 6 turned it into the seven settings rights).
 */
enum access_perm {
	PERM_READ = 1 << 0,          /* read mail (webmail, export) */
	PERM_SEND = 1 << 1,          /* send as the address */
	PERM_MANAGE_ACCESS = 1 << 3, /* grant/revoke access, invitations, sharing links */
	PERM_DEVICES = 1 << 4,       /* address password and app passwords */
	PERM_AUTOREPLY = 1 << 5,
	PERM_SIGNATURES = 1 << 6,
	PERM_REDIRECTIONS = 1 << 7,
	PERM_ALIASES = 1 << 8,
	PERM_FILTERS = 1 << 9,       /* filters and rules */
	PERM_FOLDERS = 1 << 10,
	PERM_SENDERS = 1 << 11,      /* blocked and approved senders */
	PERM_HISTORY = 1 << 12,      /* view the action history */
	PERM_RESTORE = 1 << 13,      /* restore deleted mail */
	/* the seven settings rights, what version 1 called "settings" */
	PERM_SETTINGS = PERM_AUTOREPLY | PERM_SIGNATURES | PERM_REDIRECTIONS | PERM_ALIASES | PERM_FILTERS |
			PERM_FOLDERS | PERM_SENDERS,
	PERM_ALL = 0x3ffb,
};
struct store_org {
	int64_t id;
	char name[128];
	int64_t created_at;
};

struct store_account {
	int64_t id;
	char login[320];
	char display_name[128];
	int64_t created_at;
};

struct store_domain {
	int64_t id;
	char name[256];
	int64_t org_id;
	char org_name[128];
	int64_t service_id;  /* 0: not linked to a mail service */
	enum plan plan;      /* of its mail service */
	int64_t created_at;
};

struct store_address {
	int64_t id;
	char local[65];
	char domain[256];
	int64_t domain_id;
	enum address_kind kind;
	bool has_password;
	int64_t quota_bytes;  /* 0: the plan's quota */
	int64_t used_bytes;
	int64_t message_count;
	int64_t created_at;
};

struct store_folder {
	int64_t id;
	char name[256];
	char special_use[16]; /* "\\Sent" etc., or "" */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	int64_t bytes;
};

int store_org_add(struct store *s, const char *name, int64_t *id_r, const char **errstr_r);
int store_org_get(struct store *s, const char *name, struct store_org *org_r, const char **errstr_r);
int store_org_list(struct store *s, void (*cb)(const struct store_org *org, void *arg), void *arg,
		   const char **errstr_r);
/* Refuses while the organisation still has domains. */
int store_org_remove(struct store *s, const char *name, const char **errstr_r);

/* password_hash: an argon2id string from auth/password.h, never a password. */
int store_account_add(struct store *s, const char *login, const char *password_hash, int64_t *id_r,
		      const char **errstr_r);
int store_account_get(struct store *s, const char *login, struct store_account *acct_r, const char **errstr_r);
/* Copies the stored hash into hash_r (size hash_size); lookup semantics. */
int store_account_password_hash(struct store *s, const char *login, char *hash_r, size_t hash_size,
				const char **errstr_r);
int store_account_set_password(struct store *s, const char *login, const char *password_hash,
			       const char **errstr_r);
int store_account_list(struct store *s, void (*cb)(const struct store_account *acct, void *arg), void *arg,
		       const char **errstr_r);
int store_account_remove(struct store *s, const char *login, const char **errstr_r);

int store_member_set(struct store *s, const char *org, const char *login, enum org_role role,
		     const char **errstr_r);
int store_member_remove(struct store *s, const char *org, const char *login, const char **errstr_r);

/*
 * Adds a hosted domain. org NULL means the installation's default
 * organisation (created on first use, named "default"). The domain is linked
 * to that organisation's mail service with the given plan (created when the
 * organisation has none with that plan).
 */
int store_domain_add(struct store *s, const char *name, const char *org, enum plan plan, int64_t *id_r,
		     const char **errstr_r);
int store_domain_get(struct store *s, const char *name, struct store_domain *dom_r, const char **errstr_r);
int store_domain_list(struct store *s, void (*cb)(const struct store_domain *dom, void *arg), void *arg,
		      const char **errstr_r);
int store_domain_set_plan(struct store *s, const char *name, enum plan plan, const char **errstr_r);
/* Refuses while the domain still has addresses. */
int store_domain_remove(struct store *s, const char *name, const char **errstr_r);

/*
 * Adds local@domain (already validated by mail_address.h). password_hash may
 * be NULL (catchall, alias). Creates INBOX, Sent, Drafts, Trash, Junk and
 * Archive with their SPECIAL-USE. Refuses a second catchall on a domain.
 */
int store_address_add(struct store *s, const char *local, const char *domain, enum address_kind kind,
		      const char *password_hash, int64_t *id_r, const char **errstr_r);
int store_address_get(struct store *s, const char *local, const char *domain, struct store_address *addr_r,
		      const char **errstr_r);
/* domain NULL lists every address. */
int store_address_list(struct store *s, const char *domain,
		       void (*cb)(const struct store_address *addr, void *arg), void *arg, const char **errstr_r);
int store_address_password_hash(struct store *s, const char *local, const char *domain, char *hash_r,
				size_t hash_size, const char **errstr_r);
int store_address_set_password(struct store *s, const char *local, const char *domain,
			       const char *password_hash, const char **errstr_r);
/* Sets a per-address quota override (0: back to the plan's). */
int store_address_set_quota(struct store *s, const char *local, const char *domain, int64_t quota_bytes,
			    const char **errstr_r);
/* Removes the address, its folders and its mail; reports what went. */
int store_address_remove(struct store *s, const char *local, const char *domain, int64_t *messages_r,
			 int64_t *bytes_r, const char **errstr_r);
int store_alias_add_target(struct store *s, const char *local, const char *domain, const char *target,
			   const char **errstr_r);

int store_access_grant(struct store *s, const char *login, const char *local, const char *domain,
		       unsigned perms, const char **errstr_r);
int store_access_revoke(struct store *s, const char *login, const char *local, const char *domain,
			const char **errstr_r);

int store_folder_list(struct store *s, int64_t address_id,
		      void (*cb)(const struct store_folder *f, void *arg), void *arg, const char **errstr_r);
int store_folder_get(struct store *s, int64_t address_id, const char *name, struct store_folder *f_r,
		     const char **errstr_r);

/* ---- inbound: recipients and delivery ------------------------------------- */

enum rcpt_status {
	RCPT_OK,          /* deliver to address_id's INBOX */
	RCPT_NO_SUCH_USER,/* hosted domain, no address, no catchall */
	RCPT_NOREPLY,     /* a no-reply address: does not receive */
	RCPT_NOT_HOSTED,  /* not one of our domains */
	RCPT_OVER_QUOTA,  /* mailbox full (used_bytes + incoming > quota) */
};

struct store_rcpt {
	enum rcpt_status status;
	int64_t address_id;     /* the mailbox that receives (the catchall, if used) */
	char mailbox[320];      /* its local@domain */
	bool via_catchall;
	enum plan plan;
	int64_t quota_bytes;    /* effective: the override or the plan's */
	int64_t used_bytes;
};

/*
 * Resolves one envelope recipient (local and domain as received; compared
 * case-insensitively). incoming_size is the SIZE declared at MAIL (0 if
 * none), counted against the quota. plans gives each plan's limits.
 * Returns 0 with r filled (whatever its status), -1 on a store failure.
 */
int store_rcpt_resolve(struct store *s, const char *local, const char *domain, uint64_t incoming_size,
		       const struct plan_cfg plans[CONFIG_PLAN_COUNT], struct store_rcpt *r,
		       const char **errstr_r);

/*
 * A spool collects one message body as it arrives: in memory up to a
 * threshold, then in a temporary file under <data_dir>/tmp. Writes are
 * bounded by the caller (size limits are the protocol's business).
 */
struct spool *spool_new(const char *data_dir);
int spool_write(struct spool *sp, const void *p, size_t len, const char **errstr_r);
uint64_t spool_size(const struct spool *sp);
void spool_free(struct spool *sp);

struct store_outbound; /* store_queue.h */

struct store_delivery {
	struct spool *body;          /* the whole message as stored, headers included; borrowed */
	const int64_t *address_ids;  /* receiving addresses (INBOX of each); a duplicate gets no second copy */
	size_t address_count;
	/*
	 * Remote recipients (submission, notices): queued in the same
	 * transaction, sharing the body. NULL for inbound mail. address_count
	 * may be 0 when outbound is set.
	 */
	const struct store_outbound *outbound;
	int64_t internal_date;       /* unix seconds */
	/* results */
	int result;                  /* 0 or -1 */
	char error[256];             /* why, when result is -1 */
};

/*
 * Delivers a batch: every body is written to the message store, made
 * durable with one data sync for the whole batch, and every folder entry is
 * committed in one transaction. A body is stored once however many
 * addresses receive it (reference counted). Each delivery gets its own
 * result; the function returns -1 only if the batch as a whole failed.
 * When it returns, every delivery with result 0 is on disk (fsync'd).
 */
int store_deliver_batch(struct store *s, struct store_delivery *const *d, size_t n, const char **errstr_r);

/* ---- reading ---------------------------------------------------------------- */

struct store_message {
	int64_t mail_id;
	uint32_t uid;
	uint32_t flags;      /* STORE_FLAG_* */
	int64_t internal_date;
	uint64_t size;
	uint64_t modseq;
};

enum store_flag {
	STORE_FLAG_SEEN = 1 << 0,
	STORE_FLAG_ANSWERED = 1 << 1,
	STORE_FLAG_FLAGGED = 1 << 2,
	STORE_FLAG_DELETED = 1 << 3,
	STORE_FLAG_DRAFT = 1 << 4,
};

/* Every message of a folder in UID order. */
int store_message_list(struct store *s, int64_t folder_id,
		       void (*cb)(const struct store_message *m, void *arg), void *arg, const char **errstr_r);
/* Streams a message's bytes to cb in chunks. */
int store_message_read(struct store *s, int64_t mail_id, int (*cb)(const void *p, size_t len, void *arg),
		       void *arg, const char **errstr_r);

/*
 * Writes a folder as an mboxrd file (RFC 4155: "From " separator lines,
 * ">From " quoting, LF line endings) to out.
 */
int store_export_mbox(struct store *s, const char *local, const char *domain, const char *folder, FILE *out,
		      const char **errstr_r);

#endif
