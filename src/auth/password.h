/*
 * password: argon2id hashing of account and address passwords (libsodium).
 *
 * Hashing costs tens of milliseconds and memory on purpose: call it from the
 * command line or from a worker thread, never on the event loop.
 */
#ifndef HERMOD_AUTH_PASSWORD_H
#define HERMOD_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */
#define PASSWORD_MIN_LENGTH 8
#define PASSWORD_MAX_LENGTH 1024

/* Must be called once before any other function here (sodium_init). */
int password_init(void);

/* Hashes password into hash_r. -1 on a weak or over-long password, with err. */
int password_hash(const char *password, char hash_r[PASSWORD_HASH_MAX], char *err, size_t err_size);
/* Constant-time verification; false on any mismatch or malformed hash. */
bool password_verify(const char *hash, const char *password);
/* True when hash used weaker parameters than the current ones (rehash on login). */
bool password_needs_rehash(const char *hash);

#endif
