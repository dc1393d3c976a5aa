/*
 * dkim: DomainKeys Identified Mail signing (RFC 6376) on OpenSSL 3.
 *
 * Algorithms: rsa-sha256 (the default: RSA-2048, since Gmail and others do
 * not verify Ed25519 yet) and ed25519-sha256 (RFC 8463). Canonicalisation
 * relaxed/relaxed by default, simple/simple supported.
 *
 * The signer is streaming: it takes the header block once, then the body in
 * chunks split anywhere, and never holds the body. It signs the header
 * fields of a fixed list (From, To, Cc, Subject, Date, Message-ID,
 * Reply-To, In-Reply-To, References, MIME-Version, Content-Type,
 * Content-Transfer-Encoding and every List-*) that are present, every
 * instance of each, and From once more than it occurs ("over-signing",
 * RFC 6376 8.15) so that a second From cannot be added without breaking
 * the signature.
 *
 * Line ends: the message is expected with CRLF line ends, as stored and as
 * sent. A bare LF in the body is canonicalised as a CRLF (what the SMTP
 * client will put on the wire); a bare CR is ordinary text.
 *
 * Not done: the l= body length tag (deliberately: it lets anyone append to a
 * signed message), i=, x= expiry, verification (we only sign).
 */
#ifndef HERMOD_OUTBOUND_DKIM_H
#define HERMOD_OUTBOUND_DKIM_H

#include <stddef.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/slice.h"

#define DKIM_RSA_BITS 2048          /* default RSA modulus; RFC 8301 asks at least 1024 */
#define DKIM_HEADER_MAX (1024 * 1024) /* largest header block the signer accepts */
#define DKIM_LINE_WIDTH 78          /* where the DKIM-Signature header is folded */

enum dkim_algorithm {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
};

enum dkim_canon {
	DKIM_CANON_RELAXED,
	DKIM_CANON_SIMPLE,
};

/* A private signing key (an OpenSSL EVP_PKEY inside). */
struct dkim_key;

/* A freshly generated key: both strings are owned; clear with dkim_keypair_clear. */
struct dkim_keypair {
	enum dkim_algorithm alg;
	char *private_pem; /* PKCS#8 PEM, to store with the domain */
	char *public_b64;  /* the p= value of the DNS record */
};

/*
 * Generates a key: RSA of rsa_bits (0 means DKIM_RSA_BITS; 1024..4096
 * accepted) or Ed25519 (rsa_bits ignored). 0, or -1 with *errstr_r.
 */
int dkim_keygen(enum dkim_algorithm alg, unsigned rsa_bits, struct dkim_keypair *kp_r, const char **errstr_r);
/* Wipes the private key text and frees both strings. Safe on a zeroed struct. */
void dkim_keypair_clear(struct dkim_keypair *kp);

/*
 * Loads a PEM private key (RSA of at least 1024 bits, or Ed25519); the
 * algorithm follows from the key. 0 and *key_r, or -1 with *errstr_r.
 */
int dkim_key_load_pem(struct slice pem, struct dkim_key **key_r, const char **errstr_r);
/*
 * Keys are reference counted (atomically: a parsed key may be shared by
 * signers on several threads; OpenSSL 3 signs concurrently with one
 * EVP_PKEY). ref returns key with one more reference; destroy drops the
 * caller's reference (freeing the key with the last) and sets *key to NULL
 * (NULL is fine).
 */
struct dkim_key *dkim_key_ref(struct dkim_key *key);
void dkim_key_destroy(struct dkim_key **key);
enum dkim_algorithm dkim_key_algorithm(const struct dkim_key *key);
/* Appends the base64 public key (RSA: DER SubjectPublicKeyInfo; Ed25519: the raw 32 bytes, RFC 8463 4.2). */
int dkim_key_public_b64(const struct dkim_key *key, struct buf *out, const char **errstr_r);

/*
 * A cache of parsed keys by domain, safe to use from several threads.
 * Parsing a PEM key (PEM_read_bio_PrivateKey) costs as much CPU as the
 * RSA-2048 signature itself, so a sending service parses each domain's key
 * once: get hashes the PEM it is given (BLAKE2b) and returns the cached key
 * when the domain's hash matches; otherwise (first use, or the stored key
 * was changed) it parses the PEM and replaces the entry. At most
 * max_domains entries; the least recently used goes first.
 */
struct dkim_key_cache;
struct dkim_key_cache *dkim_key_cache_new(size_t max_domains);
/* Keys handed out stay valid (they hold their own references). */
void dkim_key_cache_free(struct dkim_key_cache *c);
/* 0 and a new reference in *key_r (dkim_key_destroy it), or -1 with *errstr_r as dkim_key_load_pem. */
int dkim_key_cache_get(struct dkim_key_cache *c, const char *domain, struct slice pem, struct dkim_key **key_r,
		       const char **errstr_r);
/* Parses done by get so far (for tests and logs). */
unsigned long dkim_key_cache_parses(struct dkim_key_cache *c);

/* Appends the TXT record text: "v=DKIM1; k=rsa; p=..." (k=ed25519 for Ed25519). */
int dkim_dns_record(enum dkim_algorithm alg, const char *public_b64, struct buf *out);

struct dkim_params {
	const char *domain;   /* d= (the From domain, for DMARC alignment) */
	const char *selector; /* s= */
	enum dkim_canon header_canon;
	enum dkim_canon body_canon;
	time_t timestamp;     /* t=; 0 omits the tag */
};

struct dkim_signer;

/*
 * Starts a signature over the message whose header block is `header` (the
 * header fields, optionally followed by the empty line; nothing after it).
 * The key is borrowed until dkim_signer_finish. Fails with *errstr_r when
 * the header is malformed or over DKIM_HEADER_MAX, has no From field, or
 * the domain or selector is not a plain DNS name.
 */
struct dkim_signer *dkim_signer_new(const struct dkim_key *key, const struct dkim_params *params,
				    struct slice header, const char **errstr_r);
/* Feeds the next bytes of the body (any split, any size). */
void dkim_signer_body(struct dkim_signer *s, const void *data, size_t len);
/*
 * Ends the body and appends the complete "DKIM-Signature: ...\r\n" header
 * field, folded at DKIM_LINE_WIDTH columns, to out; the caller puts it in
 * front of the header block. 0, or -1 with *errstr_r. Either way the signer
 * can only be freed afterwards.
 */
int dkim_signer_finish(struct dkim_signer *s, struct buf *out, const char **errstr_r);
void dkim_signer_free(struct dkim_signer *s);

#endif
