/*
 * dkim_sign: the streaming signer (RFC 6376 5). The header fields to sign
 * are chosen and canonicalised when the signer starts; the body only ever
 * passes through the canonicaliser into SHA-256.
 */
#include "outbound/dkim_private.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "lib/log.h"
#include "lib/xalloc.h"

struct dkim_signer {
	const struct dkim_key *key;
	char *domain, *selector;
	enum dkim_canon header_canon, body_canon;
	time_t timestamp;
	struct buf hashed;  /* the chosen header fields, canonicalised, in h= order */
	struct buf h_names; /* the h= value */
	EVP_MD_CTX *body_md;
	struct dkim_body_canon canon;
	bool done;
};

/* RFC 6376 5.4.1 recommends these; List-* (RFC 2369, RFC 8058) are added as they are found. */
static const char *const signed_names[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to", "references",
	"mime-version", "content-type", "content-transfer-encoding",
};

struct field {
	struct slice name, text;
};

struct fields {
	struct field *v;
	size_t count, cap;
};

static void collect_field(void *ctx, struct slice name, struct slice text)
{
	struct fields *fs = ctx;

	if (fs->count == fs->cap) {
		fs->cap = fs->cap ? fs->cap * 2 : 32;
		fs->v = xrealloc(fs->v, fs->cap * sizeof(*fs->v));
	}
	fs->v[fs->count].name = name;
	fs->v[fs->count].text = text;
	fs->count++;
}

static void add_h_name(struct dkim_signer *s, const char *name, size_t len)
{
	if (s->h_names.len > 0)
		buf_append(&s->h_names, ":", 1);
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)name[i]);
		buf_append(&s->h_names, &c, 1);
	}
}

/*
 * RFC 6376 5.4.2: the verifier takes the instances of a name listed n
 * times from the bottom up, so they are hashed in that order. Listing a
 * name once more than it occurs (over-signing) hashes nothing for the
 * extra entry but makes any added instance break the signature.
 */
static size_t sign_name(struct dkim_signer *s, const struct fields *fs, const char *name, size_t len, bool oversign)
{
	size_t n = 0;

	for (size_t i = fs->count; i-- > 0;) {
		if (fs->v[i].name.len != len || strncasecmp(fs->v[i].name.p, name, len) != 0)
			continue;
		dkim_header_canon(s->header_canon, fs->v[i].text, &s->hashed);
		add_h_name(s, name, len);
		n++;
	}
	if (oversign)
		add_h_name(s, name, len);
	return n;
}

/* h= is a ';'-separated tag list, so a List-* name is taken only if it is letters, digits and '-' */
static bool list_name_ok(struct slice name)
{
	if (name.len <= 5 || strncasecmp(name.p, "list-", 5) != 0)
		return false;
	for (size_t i = 0; i < name.len; i++)
		if (!isalnum((unsigned char)name.p[i]) && name.p[i] != '-')
			return false;
	return true;
}

static void sign_list_fields(struct dkim_signer *s, const struct fields *fs)
{
	for (size_t i = 0; i < fs->count; i++) {
		bool seen = false;
		if (!list_name_ok(fs->v[i].name))
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = fs->v[j].name.len == fs->v[i].name.len &&
			       strncasecmp(fs->v[j].name.p, fs->v[i].name.p, fs->v[i].name.len) == 0;
		if (!seen)
			sign_name(s, fs, fs->v[i].name.p, fs->v[i].name.len, false);
	}
}

static int choose_fields(struct dkim_signer *s, struct slice header, const char **errstr_r)
{
	struct fields fs = { NULL, 0, 0 };
	size_t from = 0;

	if (dkim_header_split(header, collect_field, &fs, errstr_r) < 0) {
		free(fs.v);
		return -1;
	}
	for (size_t i = 0; i < sizeof(signed_names) / sizeof(signed_names[0]); i++) {
		bool is_from = i == 0;
		size_t n = sign_name(s, &fs, signed_names[i], strlen(signed_names[i]), is_from);
		if (is_from)
			from = n;
	}
	sign_list_fields(s, &fs);
	free(fs.v);
	if (from == 0) {
		*errstr_r = "the message has no From header field, which a DKIM signature must cover";
		return -1;
	}
	return 0;
}

/* d= and s= are DNS names; anything else could break the tag list or the TXT lookup */
static bool dns_name_ok(const char *name)
{
	size_t len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > 253 || name[0] == '.' || name[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("-._", name[i]) == NULL)
			return false;
	return true;
}

static void body_sink(void *ctx, const void *data, size_t len)
{
	struct dkim_signer *s = ctx;

	if (EVP_DigestUpdate(s->body_md, data, len) != 1)
		panic("dkim: SHA-256 update failed");
}

struct dkim_signer *dkim_signer_new(const struct dkim_key *key, const struct dkim_params *params,
				    struct slice header, const char **errstr_r)
{
	struct dkim_signer *s;

	if (!dns_name_ok(params->domain) || !dns_name_ok(params->selector)) {
		*errstr_r = "the DKIM domain or selector is not a DNS name";
		return NULL;
	}
	if (header.len > DKIM_HEADER_MAX) {
		*errstr_r = "the header block is too large to sign";
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->key = key;
	s->domain = xstrdup(params->domain);
	s->selector = xstrdup(params->selector);
	s->header_canon = params->header_canon;
	s->body_canon = params->body_canon;
	s->timestamp = params->timestamp;
	buf_init(&s->hashed, 0);
	buf_init(&s->h_names, 0);
	s->body_md = EVP_MD_CTX_new();
	if (s->body_md == NULL || EVP_DigestInit_ex(s->body_md, EVP_sha256(), NULL) != 1)
		panic("dkim: cannot start SHA-256");
	dkim_body_canon_init(&s->canon, s->body_canon, body_sink, s);
	if (choose_fields(s, header, errstr_r) < 0) {
		dkim_signer_free(s);
		return NULL;
	}
	return s;
}

void dkim_signer_body(struct dkim_signer *s, const void *data, size_t len)
{
	ASSERT(!s->done);
	dkim_body_canon_feed(&s->canon, data, len);
}

void dkim_signer_free(struct dkim_signer *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->body_md);
	buf_free(&s->hashed);
	buf_free(&s->h_names);
	free(s->domain);
	free(s->selector);
	free(s);
}

/* ---- the DKIM-Signature field ------------------------------------------------------ */

struct fold {
	struct buf *b;
	size_t col; /* a TAB counts as 8 columns */
};

/* Appends a token, folding before it (CRLF TAB) when it would pass the width. */
static void fold_put(struct fold *f, const char *tok, size_t len, bool space)
{
	size_t need = len + (space ? 1 : 0);

	if (f->col + need > DKIM_LINE_WIDTH && f->col > 8) {
		buf_append(f->b, "\r\n\t", 3);
		f->col = 8;
	} else if (space) {
		buf_append(f->b, " ", 1);
		f->col++;
	}
	buf_append(f->b, tok, len);
	f->col += len;
}

/* "name=value;" as one token */
static void fold_tag(struct fold *f, const char *name, const char *value)
{
	char tok[600];
	int n = snprintf(tok, sizeof(tok), "%s=%s;", name, value);

	ASSERT(n > 0 && (size_t)n < sizeof(tok));
	fold_put(f, tok, (size_t)n, true);
}

/* h= may fold after any colon (RFC 6376 3.5: FWS around the names) */
static void fold_h_tag(struct fold *f, const struct buf *names)
{
	const char *p = names->data, *end = names->data + names->len;
	bool first = true;

	while (p < end) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		size_t n = colon != NULL ? (size_t)(colon - p) + 1 : (size_t)(end - p);
		char tok[300];
		int len = snprintf(tok, sizeof(tok), "%s%.*s%s", first ? "h=" : "", (int)n, p,
				   colon != NULL ? "" : ";");
		ASSERT(len > 0 && (size_t)len < sizeof(tok));
		fold_put(f, tok, (size_t)len, first);
		first = false;
		p += n;
	}
}

/* b= may hold FWS anywhere, so the signature fills each line to the width */
static void fold_b_value(struct fold *f, const char *b64)
{
	size_t left = strlen(b64);

	while (left > 0) {
		size_t room = f->col < DKIM_LINE_WIDTH ? DKIM_LINE_WIDTH - f->col : 0;
		if (room < 4) {
			buf_append(f->b, "\r\n\t", 3);
			f->col = 8;
			continue;
		}
		size_t n = left < room ? left : room;
		buf_append(f->b, b64, n);
		f->col += n;
		b64 += n;
		left -= n;
	}
}

static int sign_rsa(EVP_PKEY *pkey, const unsigned char *digest, unsigned char *sig, size_t *len)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pkey, NULL);
	int ok;

	/* RSASSA-PKCS1-v1_5 over the SHA-256 digest (RFC 6376 3.3.1) */
	ok = pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_sign(pctx, sig, len, digest, 32) == 1;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -1;
}

static int sign_ed25519(EVP_PKEY *pkey, const unsigned char *digest, unsigned char *sig, size_t *len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	/* RFC 8463 3: PureEdDSA over the SHA-256 digest of the header data, not over the data */
	ok = md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1 &&
	     EVP_DigestSign(md, sig, len, digest, 32) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* SHA-256 of the chosen fields and the signature field itself (b= empty, no final CRLF, 3.7) */
static int header_signature(struct dkim_signer *s, const struct buf *sig_field, char **b64_r)
{
	unsigned char digest[32], sig[1024];
	size_t sig_len = sizeof(sig);
	struct buf canon;
	int rc;

	buf_init(&canon, 0);
	buf_append(&canon, s->hashed.data, s->hashed.len);
	dkim_header_canon(s->header_canon, slice_make(sig_field->data, sig_field->len), &canon);
	canon.len -= 2;
	EVP_Digest(canon.data, canon.len, digest, NULL, EVP_sha256(), NULL);
	buf_free(&canon);
	if (EVP_PKEY_get_size(s->key->pkey) > (int)sizeof(sig))
		return -1;
	if (s->key->alg == DKIM_ALG_RSA_SHA256)
		rc = sign_rsa(s->key->pkey, digest, sig, &sig_len);
	else
		rc = sign_ed25519(s->key->pkey, digest, sig, &sig_len);
	if (rc == 0)
		*b64_r = dkim_b64_encode(sig, sig_len);
	return rc;
}

static void signature_tags(struct dkim_signer *s, struct fold *f, const char *bh)
{
	char t[32];

	buf_append(f->b, "DKIM-Signature:", 15);
	f->col = 15;
	fold_tag(f, "v", "1");
	fold_tag(f, "a", s->key->alg == DKIM_ALG_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256");
	fold_tag(f, "c", s->header_canon == DKIM_CANON_RELAXED
				     ? (s->body_canon == DKIM_CANON_RELAXED ? "relaxed/relaxed" : "relaxed/simple")
				     : (s->body_canon == DKIM_CANON_RELAXED ? "simple/relaxed" : "simple/simple"));
	fold_tag(f, "d", s->domain);
	fold_tag(f, "s", s->selector);
	if (s->timestamp > 0) {
		snprintf(t, sizeof(t), "%lld", (long long)s->timestamp);
		fold_tag(f, "t", t);
	}
	fold_h_tag(f, &s->h_names);
	fold_tag(f, "bh", bh);
	fold_put(f, "b=", 2, true);
}

int dkim_signer_finish(struct dkim_signer *s, struct buf *out, const char **errstr_r)
{
	unsigned char bh_raw[32];
	char *bh, *b = NULL;
	struct buf field;
	struct fold f = { &field, 0 };
	int rc;

	ASSERT(!s->done);
	s->done = true;
	dkim_body_canon_finish(&s->canon);
	if (EVP_DigestFinal_ex(s->body_md, bh_raw, NULL) != 1)
		panic("dkim: SHA-256 final failed");
	bh = dkim_b64_encode(bh_raw, sizeof(bh_raw));
	buf_init(&field, 0);
	signature_tags(s, &f, bh);
	free(bh);
	if (header_signature(s, &field, &b) < 0) {
		buf_free(&field);
		*errstr_r = "OpenSSL could not sign the message with the DKIM key";
		return -1;
	}
	fold_b_value(&f, b);
	free(b);
	buf_append(&field, "\r\n", 2);
	rc = buf_append(out, field.data, field.len);
	buf_free(&field);
	if (rc < 0)
		*errstr_r = "the DKIM-Signature field does not fit in the output buffer";
	return rc;
}
