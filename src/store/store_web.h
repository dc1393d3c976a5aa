/*
 * store_web: the HTTP API's credentials: browser sessions (web_sessions)
 * and API tokens (api_tokens), both stored only as the SHA-256 of their
 * secret, so that a copy of the database opens nothing. Same conventions as
 * store.h (0/-1, lookups 1/0/-1, *errstr_r names the cause).
 */
#ifndef HERMOD_STORE_STORE_WEB_H
#define HERMOD_STORE_STORE_WEB_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_WEB_HASH_BYTES 32 /* crypto_hash_sha256_BYTES */
#define STORE_WEB_CSRF_MAX 64
#define STORE_WEB_TOKEN_NAME_MAX 100

/* Who a valid session or token belongs to. */
struct store_web_cred {
	int64_t id;          /* the session's or the token's row */
	int64_t account_id;
	char login[320];
	char csrf[STORE_WEB_CSRF_MAX + 1]; /* sessions only */
	bool read_only;      /* tokens with scope "read" */
};

struct store_api_token {
	int64_t id;
	char name[STORE_WEB_TOKEN_NAME_MAX + 1];
	bool read_only;
	int64_t created_at;
	int64_t last_used_at; /* 0: never */
};

int store_web_session_add(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t account_id,
			  const char *csrf, int64_t now, int64_t expires_at, const char *ip, const char **errstr_r);
/* The session with this hash, not expired at now: 1 (cred_r set), 0, -1. */
int store_web_session_get(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t now,
			  struct store_web_cred *cred_r, const char **errstr_r);
/* Removes the session (logout); removing an unknown one is not an error. */
int store_web_session_remove(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES],
			     const char **errstr_r);
/* Ends every session of account_id except keep_id (0: all of them). */
int store_web_sessions_end(struct store *s, int64_t account_id, int64_t keep_id, const char **errstr_r);
/* Drops sessions expired before now. */
int store_web_sessions_expire(struct store *s, int64_t now, const char **errstr_r);

int store_api_token_add(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t account_id,
			const char *name, bool read_only, int64_t now, int64_t *id_r, const char **errstr_r);
/*
 * The token with this hash, not revoked: 1 (cred_r set; last use recorded
 * when the previous one is older than a minute), 0, -1.
 */
int store_api_token_get(struct store *s, const unsigned char hash[STORE_WEB_HASH_BYTES], int64_t now,
			struct store_web_cred *cred_r, const char **errstr_r);
/* account_id's tokens that are not revoked, oldest first. */
int store_api_token_list(struct store *s, int64_t account_id,
			 void (*cb)(const struct store_api_token *t, void *arg), void *arg, const char **errstr_r);
/* Revokes token id of account_id: 1 done, 0 no such (live) token of theirs, -1. */
int store_api_token_revoke(struct store *s, int64_t account_id, int64_t id, int64_t now, const char **errstr_r);

#endif
