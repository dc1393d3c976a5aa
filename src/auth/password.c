/*
 * password: argon2id hashing through libsodium's crypto_pwhash_str.
 *
 * Cost parameters: OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE (2 passes,
 * 64 MiB). Every IMAP, POP3 and SMTP AUTH login verifies a hash, often
 * several at once; the MODERATE (256 MiB, ~0.7 s) and SENSITIVE (1 GiB)
 * levels would let a handful of parallel logins exhaust the memory of a
 * small host and turn authentication into a denial-of-service lever.
 * 64 MiB per guess still makes offline GPU cracking expensive, and libsodium
 * documents INTERACTIVE as the level for online logins. The strings carry
 * their own parameters, so raising them later is a matter of
 * password_needs_rehash() on the next successful login.
 */
#include "auth/password.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "PASSWORD_HASH_MAX must match libsodium");

#define PASSWORD_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PASSWORD_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

int password_init(void)
{
	/* sodium_init returns 1 when already initialised: still fine. */
	return sodium_init() < 0 ? -1 : 0;
}

/*
 * Users think in characters, not bytes: "ééééééé" is 7 characters although
 * it is 14 bytes of UTF-8. Count every byte that does not continue a
 * multi-byte sequence.
 */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static int password_check(const char *password, size_t len, char *err, size_t err_size)
{
	if (len > PASSWORD_MAX_LENGTH) {
		snprintf(err, err_size, "password is too long: at most %d bytes", PASSWORD_MAX_LENGTH);
		return -1;
	}
	if (utf8_chars(password, len) < PASSWORD_MIN_LENGTH) {
		snprintf(err, err_size, "password is too short: at least %d characters", PASSWORD_MIN_LENGTH);
		return -1;
	}
	return 0;
}

int password_hash(const char *password, char hash_r[PASSWORD_HASH_MAX], char *err, size_t err_size)
{
	/* strnlen bounds the scan: anything past the maximum is refused anyway. */
	size_t len = strnlen(password, PASSWORD_MAX_LENGTH + 1);

	if (password_check(password, len, err, err_size) < 0)
		return -1;
	if (crypto_pwhash_str(hash_r, password, len, PASSWORD_OPSLIMIT, PASSWORD_MEMLIMIT) != 0) {
		/* libsodium fails here only when it cannot get the memory. */
		snprintf(err, err_size, "cannot hash the password: out of memory");
		return -1;
	}
	return 0;
}

/* A stored hash must be a NUL-terminated string that fits the buffer. */
static bool hash_well_formed(const char *hash)
{
	return hash != NULL && strnlen(hash, PASSWORD_HASH_MAX) < PASSWORD_HASH_MAX;
}

bool password_verify(const char *hash, const char *password)
{
	if (!hash_well_formed(hash) || password == NULL)
		return false;
	size_t len = strnlen(password, PASSWORD_MAX_LENGTH + 1);
	if (len > PASSWORD_MAX_LENGTH)
		return false;
	/* crypto_pwhash_str_verify compares in constant time. */
	return crypto_pwhash_str_verify(hash, password, len) == 0;
}

bool password_needs_rehash(const char *hash)
{
	if (!hash_well_formed(hash))
		return true;
	/* 1: weaker parameters; -1: not an argon2id string at all. */
	return crypto_pwhash_str_needs_rehash(hash, PASSWORD_OPSLIMIT, PASSWORD_MEMLIMIT) != 0;
}
