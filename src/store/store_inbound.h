/*
 * store_inbound: what the delivery-time behaviour of addresses keeps in the
 * store: auto-reply settings and whom they answered when (RFC 3834's
 * once-per-period log), alias targets with their confirmation state, and
 * installation secrets (the SRS key).
 *
 * Conventions of store.h: 0 / -1, lookups 1 / 0 / -1, *errstr_r in words.
 * Functions that change several rows open their own transaction, which
 * nests inside a caller's (store_begin makes it a savepoint).
 */
#ifndef HERMOD_STORE_STORE_INBOUND_H
#define HERMOD_STORE_STORE_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_AUTOREPLY_SUBJECT_MAX 200
#define STORE_AUTOREPLY_BODY_MAX (16 * 1024)
#define STORE_ALIAS_TARGETS_MAX 10 /* the issue: a redirection has at most 10 targets */
#define STORE_TOKEN_HASH_BYTES 32  /* SHA-256 of a confirmation token */

/* ---- secrets ----------------------------------------------------------------------- */

/*
 * The installation secret called name, len bytes, into value. When it does
 * not exist yet and create is true, len random bytes (libsodium) are stored
 * first; two processes creating it at once agree on one (the first insert
 * wins). The insert is made durable (synchronous=FULL) even on a reader
 * connection: a lost key would invalidate everything signed with it.
 * 1 (value filled), 0 (absent and not created), -1.
 */
int store_inbound_secret(struct store *s, const char *name, unsigned char *value, size_t len, bool create,
			 const char **errstr_r);

/* ---- auto-reply --------------------------------------------------------------------- */

struct store_autoreply {
	bool enabled;
	char subject[STORE_AUTOREPLY_SUBJECT_MAX + 1]; /* "" : "Auto: <original subject>" */
	char body[STORE_AUTOREPLY_BODY_MAX + 1];
	int64_t starts_at; /* unix seconds; 0: no start date */
	int64_t ends_at;   /* 0: no end date */
	int64_t period_s;  /* 0: the configured autoreply_period */
};

/* The address's settings: 1, 0 (never set: off), -1. */
int store_inbound_autoreply_get(struct store *s, int64_t address_id, struct store_autoreply *ar_r,
				const char **errstr_r);
/* Replaces the settings (text bounded by the struct). */
int store_inbound_autoreply_set(struct store *s, int64_t address_id, const struct store_autoreply *ar,
				const char **errstr_r);
/* Only the switch and the dates (cheap, for every recipient lookup): 1, 0 (none), -1. */
int store_inbound_autoreply_window(struct store *s, int64_t address_id, bool *enabled_r, int64_t *starts_r,
				   int64_t *ends_r, const char **errstr_r);
/* When address_id last answered sender (case-insensitive): 1 with *at_r, 0 never, -1. */
int store_inbound_autoreply_last(struct store *s, int64_t address_id, const char *sender, int64_t *at_r,
				 const char **errstr_r);
/* Records an answer to sender at `at` (replacing the previous time). */
int store_inbound_autoreply_log(struct store *s, int64_t address_id, const char *sender, int64_t at,
				const char **errstr_r);

/* ---- alias targets ---------------------------------------------------------------------- */

struct store_alias_target {
	char target[320];  /* local@domain, as configured */
	bool confirmed;    /* an external target followed its link (local ones need not) */
	bool has_token;    /* a confirmation is outstanding */
	int64_t created_at; /* when added; awaiting confirmation: when the outstanding link was issued */
};

/* Every target of the alias, in the order they were added. */
int store_inbound_targets(struct store *s, int64_t alias_id,
			  void (*cb)(const struct store_alias_target *t, void *arg), void *arg, const char **errstr_r);

/* One target of a new list (store_inbound_targets_set). */
struct store_alias_target_new {
	const char *target;
	bool keep;                       /* already a target: left exactly as it is */
	bool confirmed;
	const unsigned char *token_hash; /* STORE_TOKEN_HASH_BYTES, or NULL; a new token on a
					    target that stays resets its created_at to now */
};

/*
 * Replaces the alias's targets with the n given (at most
 * STORE_ALIAS_TARGETS_MAX), in one transaction. created_at is kept for a
 * target that stays (keep), now for a new one or one given a new token.
 */
int store_inbound_targets_set(struct store *s, int64_t alias_id, const struct store_alias_target_new *t, size_t n,
			      int64_t now, const char **errstr_r);

/*
 * Confirms the target whose outstanding token hashes to token_hash (the
 * token is forgotten: it works once), unless the token was issued (the
 * target's created_at) before issued_since: then nothing changes and
 * *expired_r is true. 1 with the alias's id, the target's address and
 * *expired_r, 0 no such token (never issued, used, replaced by a newer one,
 * or the target was removed), -1.
 */
int store_inbound_target_confirm(struct store *s, const unsigned char token_hash[STORE_TOKEN_HASH_BYTES],
				 int64_t issued_since, int64_t *alias_id_r, char *target_r, size_t target_size,
				 bool *expired_r, const char **errstr_r);

/* The address local@domain of an address id: 1, 0 (no such id), -1. */
int store_inbound_address_name(struct store *s, int64_t address_id, char *out, size_t size, const char **errstr_r);

#endif
