/*
 * srs: SRS0 rewriting and reversal (see srs.h for the format and why).
 */
#include "inbound/srs.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#define SRS_TIME_SLOTS 1024 /* the timestamp is the day modulo this (two base32 digits) */
#define SRS_HASH_INPUT_MAX 512

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

bool srs_is_srs(const char *local)
{
	return local != NULL && strncasecmp(local, "SRS0=", 5) == 0;
}

static int base32_value(char c)
{
	const char *p = c != '\0' ? strchr(base32, toupper((unsigned char)c)) : NULL;

	return p != NULL ? (int)(p - base32) : -1;
}

static unsigned srs_day(int64_t now)
{
	return (unsigned)((now / 86400) % SRS_TIME_SLOTS);
}

/* The first SRS_HASH_CHARS base32 digits of the keyed hash of "TT=domain=local", lower-cased. */
static int srs_hash(const unsigned char key[SRS_KEY_BYTES], const char *tt, const char *domain, size_t domain_len,
		    const char *local, char out[SRS_HASH_CHARS + 1])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char input[SRS_HASH_INPUT_MAX];
	int n = snprintf(input, sizeof(input), "%.2s=%.*s=%s", tt, (int)domain_len, domain, local);
	uint64_t bits = 0;

	if (n < 0 || (size_t)n >= sizeof(input))
		return -1;
	for (int i = 0; i < n; i++)
		input[i] = (char)tolower((unsigned char)input[i]);
	crypto_auth_hmacsha256(mac, (const unsigned char *)input, (unsigned long long)n, key);
	for (int i = 0; i < 4; i++)
		bits = bits << 8 | mac[i];
	for (int i = 0; i < SRS_HASH_CHARS; i++)
		out[i] = base32[(bits >> (27 - 5 * i)) & 31];
	out[SRS_HASH_CHARS] = '\0';
	sodium_memzero(input, sizeof(input));
	return 0;
}

/* RFC 5322 atext plus '.': what a local part may hold unquoted. */
static bool plain_local(const char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 32 || c >= 127 || strchr("\"(),:;<>@[\\]", c) != NULL)
			return false;
	}
	return true;
}

int srs_forward(const unsigned char key[SRS_KEY_BYTES], const char *sender, const char *alias_domain, int64_t now,
		char *out, size_t out_size)
{
	const char *at = sender != NULL ? strrchr(sender, '@') : NULL;
	char local[SRS_LOCAL_MAX + 1], tt[3], hash[SRS_HASH_CHARS + 1];
	unsigned day = srs_day(now);
	size_t llen, used;
	int n;

	/* a '=' in the domain would make the rewritten address ambiguous to read back */
	if (at == NULL || at[1] == '\0' || strchr(at + 1, '=') != NULL)
		return -1;
	llen = (size_t)(at - sender);
	if (llen > SRS_LOCAL_MAX || !plain_local(sender, llen))
		return -1;
	memcpy(local, sender, llen);
	local[llen] = '\0';
	tt[0] = base32[(day >> 5) & 31];
	tt[1] = base32[day & 31];
	tt[2] = '\0';
	if (srs_hash(key, tt, at + 1, strlen(at + 1), local, hash) < 0)
		return -1;
	n = snprintf(out, out_size, "SRS0=%s=%s=%s=%s", hash, tt, at + 1, local);
	if (n < 0 || (size_t)n > SRS_LOCAL_MAX || (size_t)n >= out_size)
		return -1;
	used = (size_t)n;
	n = snprintf(out + used, out_size - used, "@%s", alias_domain);
	return n < 0 || (size_t)n >= out_size - used ? -1 : 0;
}

/* Days between the timestamp and today, modulo the slots (a future one counts as very old). */
static bool srs_fresh(const char *tt, int64_t now)
{
	int hi = base32_value(tt[0]), lo = base32_value(tt[1]);
	unsigned then, today = srs_day(now);

	if (hi < 0 || lo < 0)
		return false;
	then = (unsigned)(hi << 5 | lo);
	return (today + SRS_TIME_SLOTS - then) % SRS_TIME_SLOTS <= SRS_MAX_AGE_DAYS;
}

enum srs_status srs_reverse(const unsigned char key[SRS_KEY_BYTES], const char *local, int64_t now, char *orig_r,
			    size_t orig_size)
{
	char expect[SRS_HASH_CHARS + 1], got[SRS_HASH_CHARS + 1];
	const char *hash, *tt, *domain, *olocal;
	size_t domain_len;
	int n;

	if (!srs_is_srs(local))
		return SRS_NOT_SRS;
	hash = local + 5;
	tt = hash + SRS_HASH_CHARS + 1;
	if (strlen(hash) < SRS_HASH_CHARS + 4 || hash[SRS_HASH_CHARS] != '=' || tt[2] != '=')
		return SRS_MALFORMED;
	domain = tt + 3;
	olocal = strchr(domain, '=');
	if (olocal == NULL || olocal == domain || olocal[1] == '\0')
		return SRS_MALFORMED;
	domain_len = (size_t)(olocal - domain);
	olocal++;
	if (srs_hash(key, tt, domain, domain_len, olocal, expect) < 0)
		return SRS_MALFORMED;
	for (int i = 0; i < SRS_HASH_CHARS; i++)
		got[i] = (char)toupper((unsigned char)hash[i]);
	got[SRS_HASH_CHARS] = '\0';
	if (sodium_memcmp(expect, got, SRS_HASH_CHARS) != 0)
		return SRS_BAD_HASH;
	if (!srs_fresh(tt, now))
		return SRS_EXPIRED;
	n = snprintf(orig_r, orig_size, "%s@%.*s", olocal, (int)domain_len, domain);
	return n < 0 || (size_t)n >= orig_size ? SRS_MALFORMED : SRS_VALID;
}

const char *srs_status_name(enum srs_status status)
{
	static const char *const names[] = {
		[SRS_VALID] = "valid",       [SRS_NOT_SRS] = "not-srs", [SRS_MALFORMED] = "malformed",
		[SRS_BAD_HASH] = "bad-hash", [SRS_EXPIRED] = "expired",
	};

	return (unsigned)status < sizeof(names) / sizeof(names[0]) ? names[status] : "?";
}
