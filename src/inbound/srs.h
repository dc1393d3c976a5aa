/*
 * srs: the Sender Rewriting Scheme for mail an alias forwards to another
 * server.
 *
 * A forwarded copy keeps its original envelope sender only at the price of
 * failing SPF (RFC 7208 section 1.2.3: the receiver sees our IP sending for
 * the sender's domain). So the copy leaves with a sender at the alias's own
 * domain, which encodes the original one and a keyed hash:
 *
 *     SRS0=HHHHH=TT=orig.domain=orig.local@alias.domain
 *
 * HHHHH is the first 25 bits of HMAC-SHA256(key, lower("TT=domain=local")) in
 * base32, TT the day of the rewriting (days since the epoch, modulo 1024) in
 * base32, as libsrs2 counts them. A notice that comes back to that address
 * is accepted only with a valid hash and a timestamp at most
 * SRS_MAX_AGE_DAYS old, and goes on to the original sender: without the
 * hash, anyone could use our domain as a relay to any address.
 *
 * Hash and timestamp are compared case-insensitively: some servers change
 * the case of the local part they bounce to.
 *
 * These functions are pure (the key is the caller's: store_inbound_secret).
 */
#ifndef HERMOD_INBOUND_SRS_H
#define HERMOD_INBOUND_SRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRS_KEY_BYTES 32
#define SRS_MAX_AGE_DAYS 21 /* libsrs2's default */
#define SRS_HASH_CHARS 5
#define SRS_LOCAL_MAX 64 /* RFC 5321 4.5.3.1.1: a longer one would not come back to us */

enum srs_status {
	SRS_VALID,     /* *orig_r holds the original sender */
	SRS_NOT_SRS,   /* the local part does not start with SRS0= */
	SRS_MALFORMED, /* SRS0= but not the form we write */
	SRS_BAD_HASH,  /* not made with our key (or altered) */
	SRS_EXPIRED,   /* older than SRS_MAX_AGE_DAYS (or from the future) */
};

/* Whether a local part is in SRS0 form (it may still be invalid). */
bool srs_is_srs(const char *local);

/*
 * Rewrites sender (local@domain) for a copy forwarded by an alias of
 * alias_domain, at unix time now, into out. 0, or -1 when sender is not a
 * plain local@domain (null, quoted local part) or the rewritten local part
 * would be longer than SRS_LOCAL_MAX: the caller then uses another sender.
 */
int srs_forward(const unsigned char key[SRS_KEY_BYTES], const char *sender, const char *alias_domain, int64_t now,
		char *out, size_t out_size);

/*
 * Checks the local part of an address at one of our domains and, when it
 * is a valid SRS0 address of ours, writes the original sender into orig_r.
 */
enum srs_status srs_reverse(const unsigned char key[SRS_KEY_BYTES], const char *local, int64_t now, char *orig_r,
			    size_t orig_size);

/* "valid", "not-srs", "malformed", "bad-hash", "expired" (for logs). */
const char *srs_status_name(enum srs_status status);

#endif
