/*
 * dkim: keys and the streaming signer. Canonicalisation is in dkim_canon.c.
 */
#include "outbound/dkim_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "lib/log.h"
#include "lib/xalloc.h"

/* ---- keys ------------------------------------------------------------------------ */

char *dkim_b64_encode(const unsigned char *p, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, p, (int)len);
	return out;
}

static int pkey_public_b64(EVP_PKEY *pkey, enum dkim_algorithm alg, char **b64_r)
{
	unsigned char raw[32], *der = NULL;
	size_t raw_len = sizeof(raw);
	int der_len;

	if (alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 4.2: p= is the bare 32-byte key, not a SubjectPublicKeyInfo */
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1)
			return -1;
		*b64_r = dkim_b64_encode(raw, raw_len);
		return 0;
	}
	der_len = i2d_PUBKEY(pkey, &der);
	if (der_len <= 0)
		return -1;
	*b64_r = dkim_b64_encode(der, (size_t)der_len);
	OPENSSL_free(der);
	return 0;
}

/* PKCS#8 PEM through a secure-memory BIO, which is wiped when freed */
static int pkey_private_pem(EVP_PKEY *pkey, char **pem_r)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long len;

	if (bio == NULL)
		return -1;
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		return -1;
	}
	len = BIO_get_mem_data(bio, &data);
	*pem_r = xstrndup(data, (size_t)len);
	BIO_free(bio);
	return 0;
}

int dkim_keygen(enum dkim_algorithm alg, unsigned rsa_bits, struct dkim_keypair *kp_r, const char **errstr_r)
{
	EVP_PKEY *pkey;

	memset(kp_r, 0, sizeof(*kp_r));
	kp_r->alg = alg;
	if (rsa_bits == 0)
		rsa_bits = DKIM_RSA_BITS;
	if (alg == DKIM_ALG_RSA_SHA256 && (rsa_bits < 1024 || rsa_bits > 4096)) {
		*errstr_r = "an RSA DKIM key must have 1024 to 4096 bits";
		return -1;
	}
	if (alg == DKIM_ALG_RSA_SHA256)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		*errstr_r = "OpenSSL could not generate the key";
		return -1;
	}
	if (pkey_private_pem(pkey, &kp_r->private_pem) < 0 ||
	    pkey_public_b64(pkey, alg, &kp_r->public_b64) < 0) {
		EVP_PKEY_free(pkey);
		dkim_keypair_clear(kp_r);
		*errstr_r = "OpenSSL could not encode the new key";
		return -1;
	}
	EVP_PKEY_free(pkey);
	return 0;
}

void dkim_keypair_clear(struct dkim_keypair *kp)
{
	if (kp->private_pem != NULL)
		sodium_memzero(kp->private_pem, strlen(kp->private_pem));
	free(kp->private_pem);
	free(kp->public_b64);
	kp->private_pem = NULL;
	kp->public_b64 = NULL;
}

int dkim_key_load_pem(struct slice pem, struct dkim_key **key_r, const char **errstr_r)
{
	BIO *bio;
	EVP_PKEY *pkey;
	enum dkim_algorithm alg;

	if (pem.len > 64 * 1024 || (bio = BIO_new_mem_buf(pem.p, (int)pem.len)) == NULL) {
		*errstr_r = "the DKIM key is not a PEM private key";
		return -1;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		*errstr_r = "the DKIM key is not a PEM private key";
		return -1;
	}
	if (EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= 1024) {
		alg = DKIM_ALG_RSA_SHA256;
	} else if (EVP_PKEY_is_a(pkey, "ED25519")) {
		alg = DKIM_ALG_ED25519_SHA256;
	} else {
		EVP_PKEY_free(pkey);
		*errstr_r = "the DKIM key must be RSA of at least 1024 bits (RFC 8301) or Ed25519";
		return -1;
	}
	*key_r = xcalloc(1, sizeof(**key_r));
	(*key_r)->pkey = pkey;
	(*key_r)->alg = alg;
	atomic_init(&(*key_r)->refs, 1);
	return 0;
}

struct dkim_key *dkim_key_ref(struct dkim_key *key)
{
	atomic_fetch_add(&key->refs, 1);
	return key;
}

void dkim_key_destroy(struct dkim_key **key)
{
	if (*key == NULL)
		return;
	if (atomic_fetch_sub(&(*key)->refs, 1) == 1) {
		EVP_PKEY_free((*key)->pkey);
		free(*key);
	}
	*key = NULL;
}

enum dkim_algorithm dkim_key_algorithm(const struct dkim_key *key)
{
	return key->alg;
}

int dkim_key_public_b64(const struct dkim_key *key, struct buf *out, const char **errstr_r)
{
	char *b64;
	int rc;

	if (pkey_public_b64(key->pkey, key->alg, &b64) < 0) {
		*errstr_r = "OpenSSL could not encode the public key";
		return -1;
	}
	rc = buf_append(out, b64, strlen(b64));
	free(b64);
	if (rc < 0)
		*errstr_r = "the public key does not fit in the output buffer";
	return rc;
}

int dkim_dns_record(enum dkim_algorithm alg, const char *public_b64, struct buf *out)
{
	return buf_appendf(out, "v=DKIM1; k=%s; p=%s", alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa",
			   public_b64);
}
