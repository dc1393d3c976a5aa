/*
 * sasl: decoding of the client's SASL messages for PLAIN (RFC 4616) and
 * LOGIN (draft-murchison-sasl-login), as carried by IMAP AUTHENTICATE and
 * POP3 AUTH (RFC 5034).
 *
 * Strict on purpose: the base64 must be canonical (RFC 4648 alphabet,
 * padding, no whitespace, no stray bits), fields must fit their buffers and
 * must not contain NUL. Everything decoded is wiped from our temporary
 * buffers before returning: it holds a password.
 */
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth/auth.h"

/* authzid NUL authcid NUL passwd, each field shorter than AUTH_SASL_FIELD_MAX. */
#define SASL_PLAIN_MAX (3 * AUTH_SASL_FIELD_MAX)

/*
 * Decodes b64 into out (at most out_size bytes). sodium_base642bin with a
 * NULL b64_end fails on any character outside the alphabet, on missing or
 * misplaced padding and on non-zero trailing bits.
 */
static int decode_b64(struct slice b64, unsigned char *out, size_t out_size, size_t *len_r)
{
	/* Refuse before decoding: a too-long message cannot fit anyway. */
	if (b64.len > (out_size + 2) / 3 * 4)
		return -1;
	if (b64.len == 0) {
		*len_r = 0;
		return 0;
	}
	return sodium_base642bin(out, out_size, b64.p, b64.len, NULL, len_r, NULL, sodium_base64_VARIANT_ORIGINAL);
}

/* Copies a field [p, p+len) to a NUL-terminated buffer; -1 when it does not fit. */
static int copy_field(const unsigned char *p, size_t len, char out[AUTH_SASL_FIELD_MAX])
{
	if (len >= AUTH_SASL_FIELD_MAX)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* Splits the decoded PLAIN message at its two NULs and checks each part. */
static int split_plain(const unsigned char *msg, size_t len, char user_r[AUTH_SASL_FIELD_MAX],
		       char pass_r[AUTH_SASL_FIELD_MAX], const char **err_r)
{
	char authzid[AUTH_SASL_FIELD_MAX];
	const unsigned char *nul1 = memchr(msg, '\0', len);
	const unsigned char *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg)) : NULL;
	int rc = -1;

	*err_r = "malformed PLAIN message: expected authorization identity, user name and password "
		 "separated by NUL";
	if (nul2 == NULL)
		return -1;
	/* A third NUL would end up inside the password. */
	if (memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - msg)) != NULL)
		return -1;
	*err_r = "malformed PLAIN message: a field is too long";
	if (copy_field(msg, (size_t)(nul1 - msg), authzid) < 0 ||
	    copy_field(nul1 + 1, (size_t)(nul2 - nul1 - 1), user_r) < 0 ||
	    copy_field(nul2 + 1, len - (size_t)(nul2 + 1 - msg), pass_r) < 0)
		goto out;
	*err_r = "malformed PLAIN message: empty user name or password";
	if (user_r[0] == '\0' || pass_r[0] == '\0')
		goto out;
	/* RFC 4616 2: an authzid names whom to act as; we do not let anyone act as another. */
	*err_r = "PLAIN authorization identity differs from the user name (proxy logins are not allowed)";
	if (authzid[0] != '\0' && strcasecmp(authzid, user_r) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(authzid, sizeof(authzid));
	if (rc < 0) {
		sodium_memzero(user_r, AUTH_SASL_FIELD_MAX);
		sodium_memzero(pass_r, AUTH_SASL_FIELD_MAX);
	}
	return rc;
}

int auth_sasl_plain(struct slice b64, char user_r[AUTH_SASL_FIELD_MAX], char pass_r[AUTH_SASL_FIELD_MAX],
		    const char **err_r)
{
	unsigned char msg[SASL_PLAIN_MAX];
	size_t len = 0;
	int rc;

	user_r[0] = pass_r[0] = '\0';
	if (decode_b64(b64, msg, sizeof(msg), &len) < 0) {
		*err_r = "malformed PLAIN message: invalid base64 or too long";
		sodium_memzero(msg, sizeof(msg));
		return -1;
	}
	rc = split_plain(msg, len, user_r, pass_r, err_r);
	sodium_memzero(msg, sizeof(msg));
	return rc;
}

int auth_sasl_login_field(struct slice b64, char field_r[AUTH_SASL_FIELD_MAX], const char **err_r)
{
	unsigned char msg[AUTH_SASL_FIELD_MAX];
	size_t len = 0;
	int rc = -1;

	field_r[0] = '\0';
	if (decode_b64(b64, msg, sizeof(msg) - 1, &len) < 0)
		*err_r = "malformed LOGIN response: invalid base64 or too long";
	else if (len == 0)
		*err_r = "malformed LOGIN response: empty";
	else if (memchr(msg, '\0', len) != NULL)
		*err_r = "malformed LOGIN response: contains a NUL byte";
	else
		rc = copy_field(msg, len, field_r);
	sodium_memzero(msg, sizeof(msg));
	return rc;
}
