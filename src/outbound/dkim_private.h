/*
 * dkim_private: the canonicalisation steps of RFC 6376 3.4, exposed for the
 * unit tests (the RFC 3.4.5 vectors) and for the signer itself.
 */
#ifndef HERMOD_OUTBOUND_DKIM_PRIVATE_H
#define HERMOD_OUTBOUND_DKIM_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/types.h>

#include "outbound/dkim.h"

/* A signing key; shared by dkim.c (keys) and dkim_sign.c (the signer). */
struct dkim_key {
	EVP_PKEY *pkey;
	enum dkim_algorithm alg;
	atomic_uint refs; /* dkim_key_ref / dkim_key_destroy, from any thread */
};

/* Base64 without line breaks (xmalloc'd, NUL-terminated). */
char *dkim_b64_encode(const unsigned char *p, size_t len);

typedef void dkim_sink_fn(void *ctx, const void *data, size_t len);

/* Streaming body canonicaliser (RFC 6376 3.4.3 / 3.4.4). */
struct dkim_body_canon {
	enum dkim_canon mode;
	dkim_sink_fn *sink;
	void *ctx;
	uint64_t crlf_pending; /* line ends held back: trailing empty lines are dropped */
	bool cr_pending;       /* a CR that may be the start of CRLF */
	bool wsp_pending;      /* relaxed: whitespace that becomes one SP if the line goes on */
	bool any;              /* some text has been emitted */
	char out[4096];        /* staging, so the sink sees large writes */
	size_t out_len;
};

void dkim_body_canon_init(struct dkim_body_canon *c, enum dkim_canon mode, dkim_sink_fn *sink, void *ctx);
void dkim_body_canon_feed(struct dkim_body_canon *c, const void *data, size_t len);
void dkim_body_canon_finish(struct dkim_body_canon *c);

/*
 * Appends one canonicalised header field (name, colon, value, continuation
 * lines; `field` includes its final CRLF or LF) to out, with its CRLF.
 */
void dkim_header_canon(enum dkim_canon mode, struct slice field, struct buf *out);

/*
 * Splits a header block into fields: calls fn for each (including its
 * line end and continuation lines). -1 with *errstr_r for a line that is
 * neither a field nor a continuation, or data after the empty line.
 */
typedef void dkim_field_fn(void *ctx, struct slice name, struct slice field);
int dkim_header_split(struct slice header, dkim_field_fn *fn, void *ctx, const char **errstr_r);

#endif
