/*
 * Unit tests for outbound/dkim: canonicalisation against RFC 6376 3.4.5's
 * example, fed at every split; the signature field's shape; key handling;
 * and every signature checked by an independent verifier, Debian's
 * python3-dkim (dkimpy), with a dnsfunc that returns our TXT record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lib/buf.h"
#include "outbound/dkim.h"
#include "outbound/dkim_private.h"

#define S(lit) lit, sizeof(lit) - 1

static char tmpdir[PATH_MAX];
static struct dkim_keypair rsa_kp, ed_kp;
static struct dkim_key *rsa_key, *ed_key;

/* dkimpy, with DNS answered from a file: exit 0 when the signature verifies */
static const char verify_py[] =
	"import sys, dkim\n"
	"msg = open(sys.argv[1], 'rb').read()\n"
	"txt = open(sys.argv[2], 'rb').read()\n"
	"def dnsfunc(name, timeout=5):\n"
	"    if name.rstrip(b'.') != b'sel._domainkey.example.com':\n"
	"        sys.stderr.write('unexpected DNS name %r\\n' % name)\n"
	"        return None\n"
	"    return txt\n"
	"try:\n"
	"    ok = dkim.verify(msg, dnsfunc=dnsfunc)\n"
	"except Exception as e:\n"
	"    sys.stderr.write('dkimpy: %s\\n' % e)\n"
	"    ok = False\n"
	"sys.exit(0 if ok else 1)\n";

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	const char *err = NULL;
	char path[PATH_MAX + 32];

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_dkim.XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/verify.py", tmpdir);
	write_file(path, verify_py, sizeof(verify_py) - 1);
	if (dkim_keygen(DKIM_ALG_RSA_SHA256, 0, &rsa_kp, &err) < 0 ||
	    dkim_keygen(DKIM_ALG_ED25519_SHA256, 0, &ed_kp, &err) < 0 ||
	    dkim_key_load_pem(slice_cstr(rsa_kp.private_pem), &rsa_key, &err) < 0 ||
	    dkim_key_load_pem(slice_cstr(ed_kp.private_pem), &ed_key, &err) < 0) {
		fprintf(stderr, "key setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	dkim_key_destroy(&rsa_key);
	dkim_key_destroy(&ed_key);
	dkim_keypair_clear(&rsa_kp);
	dkim_keypair_clear(&ed_kp);
	return 0;
}

/* ---- canonicalisation ------------------------------------------------------------- */

static void sink_buf(void *ctx, const void *data, size_t len)
{
	assert_int_equal(buf_append(ctx, data, len), 0);
}

static void canon_body_split(enum dkim_canon mode, const char *in, size_t len, size_t cut, struct buf *out)
{
	struct dkim_body_canon c;

	buf_reset(out);
	dkim_body_canon_init(&c, mode, sink_buf, out);
	dkim_body_canon_feed(&c, in, cut);
	dkim_body_canon_feed(&c, in + cut, len - cut);
	dkim_body_canon_finish(&c);
}

/* Every split in two and byte by byte must give `want`. */
static void check_body(enum dkim_canon mode, const char *in, size_t len, const char *want, size_t want_len)
{
	struct buf out;
	struct dkim_body_canon c;

	buf_init(&out, 0);
	for (size_t cut = 0; cut <= len; cut++) {
		canon_body_split(mode, in, len, cut, &out);
		assert_int_equal(out.len, want_len);
		assert_memory_equal(out.data == NULL ? "" : out.data, want, want_len);
	}
	buf_reset(&out);
	dkim_body_canon_init(&c, mode, sink_buf, &out);
	for (size_t i = 0; i < len; i++)
		dkim_body_canon_feed(&c, in + i, 1);
	dkim_body_canon_finish(&c);
	assert_int_equal(out.len, want_len);
	buf_free(&out);
}

/* RFC 6376 3.4.5, the example message */
static const char rfc_header_a[] = "A: X\r\n";
static const char rfc_header_b[] = "B : Y\t\r\n\tZ  \r\n";
static const char rfc_body[] = " C \r\nD \t E\r\n\r\n\r\n";

static void test_rfc_example_relaxed(void **state)
{
	struct buf out;

	buf_init(&out, 0);
	dkim_header_canon(DKIM_CANON_RELAXED, slice_cstr(rfc_header_a), &out);
	dkim_header_canon(DKIM_CANON_RELAXED, slice_cstr(rfc_header_b), &out);
	assert_string_equal(out.data, "a:X\r\nb:Y Z\r\n");
	buf_free(&out);
	check_body(DKIM_CANON_RELAXED, S(rfc_body), S(" C\r\nD E\r\n"));
}

static void test_rfc_example_simple(void **state)
{
	struct buf out;

	buf_init(&out, 0);
	dkim_header_canon(DKIM_CANON_SIMPLE, slice_cstr(rfc_header_a), &out);
	dkim_header_canon(DKIM_CANON_SIMPLE, slice_cstr(rfc_header_b), &out);
	assert_string_equal(out.data, "A: X\r\nB : Y\t\r\n\tZ  \r\n");
	buf_free(&out);
	check_body(DKIM_CANON_SIMPLE, S(rfc_body), S(" C \r\nD \t E\r\n"));
}

static void test_body_edges(void **state)
{
	/* empty body: relaxed empty (erratum 3871), simple one CRLF (3.4.3) */
	check_body(DKIM_CANON_RELAXED, S(""), S(""));
	check_body(DKIM_CANON_SIMPLE, S(""), S("\r\n"));
	check_body(DKIM_CANON_RELAXED, S("\r\n\r\n  \r\n"), S(""));
	check_body(DKIM_CANON_SIMPLE, S("\r\n\r\n"), S("\r\n"));
	/* whitespace-only lines are kept by simple */
	check_body(DKIM_CANON_SIMPLE, S("\r\n  \r\n\r\n"), S("\r\n  \r\n"));
	/* no final line end: one is added */
	check_body(DKIM_CANON_RELAXED, S("a  b \t"), S("a b\r\n"));
	check_body(DKIM_CANON_SIMPLE, S("a  b"), S("a  b\r\n"));
	/* empty and blank lines inside the body stay */
	check_body(DKIM_CANON_RELAXED, S("a\r\n\r\n \t \r\nb\r\n"), S("a\r\n\r\n\r\nb\r\n"));
	/* leading whitespace becomes one SP in relaxed */
	check_body(DKIM_CANON_RELAXED, S("\t\tx\r\n"), S(" x\r\n"));
	/* bare LF is a line end; bare CR is text */
	check_body(DKIM_CANON_RELAXED, S("a\nb\n\n"), S("a\r\nb\r\n"));
	check_body(DKIM_CANON_SIMPLE, S("a\rb\r\n"), S("a\rb\r\n"));
	check_body(DKIM_CANON_SIMPLE, S("a\r"), S("a\r\r\n"));
	check_body(DKIM_CANON_RELAXED, S("a \r \r\n"), S("a \r\r\n"));
}

static void test_header_canon_edges(void **state)
{
	struct buf out;

	buf_init(&out, 0);
	/* colons inside the value keep their spacing; no final line end gets one */
	dkim_header_canon(DKIM_CANON_RELAXED, slice_cstr("Subject:  Re: a  :  b"), &out);
	assert_string_equal(out.data, "subject:Re: a : b\r\n");
	buf_reset(&out);
	dkim_header_canon(DKIM_CANON_SIMPLE, slice_cstr("X: a\n\tb\n"), &out);
	assert_string_equal(out.data, "X: a\r\n\tb\r\n");
	buf_reset(&out);
	dkim_header_canon(DKIM_CANON_RELAXED, slice_cstr("Empty:\r\n"), &out);
	assert_string_equal(out.data, "empty:\r\n");
	buf_free(&out);
}

static void count_field(void *ctx, struct slice name, struct slice field)
{
	(*(int *)ctx)++;
}

static void test_header_split(void **state)
{
	const char *err = NULL;
	int n = 0;

	assert_int_equal(dkim_header_split(slice_cstr("A: 1\r\nB: 2\r\n\tmore\r\n\r\n"), count_field, &n, &err), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(dkim_header_split(slice_cstr("A: 1\nB: 2"), count_field, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(dkim_header_split(slice_cstr(" cont\r\nA: 1\r\n"), count_field, &n, &err), -1);
	assert_non_null(strstr(err, "continuation"));
	assert_int_equal(dkim_header_split(slice_cstr("A: 1\r\nnot a field\r\n"), count_field, &n, &err), -1);
	assert_non_null(strstr(err, "colon"));
	assert_int_equal(dkim_header_split(slice_cstr("A: 1\r\n\r\nbody\r\n"), count_field, &n, &err), -1);
	assert_non_null(strstr(err, "after the empty line"));
	assert_int_equal(dkim_header_split(slice_cstr(": x\r\n"), count_field, &n, &err), -1);
}

/* ---- signing, checked by dkimpy ------------------------------------------------------- */

static const char msg_header[] =
	"From: Alice Example <alice@example.com>\r\n"
	"To: bob@example.net,\r\n"
	"  carol@example.org\r\n"
	"Subject:   Hello   world\t\r\n"
	"Date: Mon, 01 Jan 2024 08:00:00 +0000\r\n"
	"Message-ID: <1@example.com>\r\n"
	"X-Mailer: not signed\r\n"
	"List-Unsubscribe: <mailto:unsub@example.com>\r\n"
	"List-Id: <list.example.com>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Received: by relay; not signed either\r\n"
	"\r\n";

static const char msg_body[] =
	"Hi Bob,  \r\n"
	"\r\n"
	"\ttabs and   spaces\r\n"
	".leading dot\r\n"
	"\r\n"
	"\r\n";

/* Signs header + body (body fed in chunks of `chunk` bytes, 0 = whole); appends the field to sig. */
static void sign(struct dkim_key *key, enum dkim_canon canon, const char *header, const char *body,
		 size_t body_len, size_t chunk, struct buf *sig)
{
	struct dkim_params p = { "example.com", "sel", canon, canon, 1704096000 };
	const char *err = NULL;
	struct dkim_signer *s = dkim_signer_new(key, &p, slice_cstr(header), &err);

	assert_non_null(s);
	if (chunk == 0)
		chunk = body_len ? body_len : 1;
	for (size_t off = 0; off < body_len; off += chunk)
		dkim_signer_body(s, body + off, off + chunk > body_len ? body_len - off : chunk);
	assert_int_equal(dkim_signer_finish(s, sig, &err), 0);
	dkim_signer_free(s);
}

/* Writes sig + header + body and the key's TXT record, runs dkimpy; its exit status. */
static int dkimpy(const struct dkim_keypair *kp, const struct buf *sig, const char *header, const char *body,
		  size_t body_len)
{
	char msg_path[PATH_MAX + 32], txt_path[PATH_MAX + 32], cmd[3 * PATH_MAX + 128];
	struct buf msg, txt;
	int status;

	buf_init(&msg, 0);
	buf_append(&msg, sig->data, sig->len);
	buf_append(&msg, header, strlen(header));
	buf_append(&msg, body, body_len);
	buf_init(&txt, 0);
	dkim_dns_record(kp->alg, kp->public_b64, &txt);
	snprintf(msg_path, sizeof(msg_path), "%s/msg.eml", tmpdir);
	snprintf(txt_path, sizeof(txt_path), "%s/txt", tmpdir);
	write_file(msg_path, msg.data, msg.len);
	write_file(txt_path, txt.data, txt.len);
	buf_free(&msg);
	buf_free(&txt);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/verify.py %s %s", tmpdir, msg_path, txt_path);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Every line at most 78 columns (TAB = 8), continuation lines start with TAB, CRLF ends. */
static void check_folding(const struct buf *sig)
{
	const char *p = sig->data, *end = sig->data + sig->len;
	int lines = 0;

	assert_true(sig->len > 2 && memcmp(end - 2, "\r\n", 2) == 0);
	assert_memory_equal(p, "DKIM-Signature: v=1; ", 21);
	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		size_t col = 0;
		assert_non_null(eol);
		if (lines++ > 0)
			assert_int_equal(p[0], '\t');
		for (const char *q = p; q < eol; q++) {
			assert_true(*q != '\n' && *q != '\r');
			col += *q == '\t' ? 8 : 1;
		}
		assert_true(col <= DKIM_LINE_WIDTH);
		p = eol + 2;
	}
	assert_true(lines >= 3);
}

/* The h= list with folding whitespace removed. */
static void h_tag(const struct buf *sig, char *out, size_t size)
{
	const char *p = strstr(sig->data, " h=");
	size_t n = 0;

	assert_non_null(p);
	for (p += 3; *p != ';' && n + 1 < size; p++)
		if (*p != '\r' && *p != '\n' && *p != '\t' && *p != ' ')
			out[n++] = *p;
	out[n] = '\0';
}

static void test_sign_verify_rsa_relaxed(void **state)
{
	struct buf sig;
	char h[512];

	buf_init(&sig, 0);
	sign(rsa_key, DKIM_CANON_RELAXED, msg_header, S(msg_body), 0, &sig);
	check_folding(&sig);
	assert_non_null(strstr(sig.data, " a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;"));
	assert_non_null(strstr(sig.data, "t=1704096000;"));
	if (getenv("TEST_DKIM_SHOW") != NULL)
		fprintf(stderr, "%s", sig.data);
	h_tag(&sig, h, sizeof(h));
	assert_string_equal(h, "from:from:to:subject:date:message-id:mime-version:content-type:"
			       "list-unsubscribe:list-id");
	assert_int_equal(dkimpy(&rsa_kp, &sig, msg_header, S(msg_body)), 0);
	buf_free(&sig);
}

static void test_sign_verify_simple_and_ed25519(void **state)
{
	struct buf sig;

	buf_init(&sig, 0);
	sign(rsa_key, DKIM_CANON_SIMPLE, msg_header, S(msg_body), 7, &sig);
	check_folding(&sig);
	assert_non_null(strstr(sig.data, " c=simple/simple;"));
	assert_int_equal(dkimpy(&rsa_kp, &sig, msg_header, S(msg_body)), 0);
	buf_reset(&sig);
	sign(ed_key, DKIM_CANON_RELAXED, msg_header, S(msg_body), 1, &sig);
	assert_non_null(strstr(sig.data, " a=ed25519-sha256;"));
	assert_int_equal(dkimpy(&ed_kp, &sig, msg_header, S(msg_body)), 0);
	buf_reset(&sig);
	sign(ed_key, DKIM_CANON_SIMPLE, msg_header, S(msg_body), 3, &sig);
	assert_int_equal(dkimpy(&ed_kp, &sig, msg_header, S(msg_body)), 0);
	buf_free(&sig);
}

/* The verifier is not vacuous: a changed body, a changed header, the wrong key all fail. */
static void test_tampering_fails(void **state)
{
	static const char body2[] = "Hi Bob,  \r\n\r\n\ttabs and   spaces\r\n.leading dot!\r\n";
	struct buf sig;
	char *hdr2;

	buf_init(&sig, 0);
	sign(rsa_key, DKIM_CANON_RELAXED, msg_header, S(msg_body), 0, &sig);
	assert_int_equal(dkimpy(&rsa_kp, &sig, msg_header, S(body2)), 1);
	hdr2 = strdup(msg_header);
	memcpy(strstr(hdr2, "Hello"), "Jello", 5);
	assert_int_equal(dkimpy(&rsa_kp, &sig, hdr2, S(msg_body)), 1);
	free(hdr2);
	assert_int_equal(dkimpy(&ed_kp, &sig, msg_header, S(msg_body)), 1);
	/* relaxed tolerates what relaxed canonicalises away: trailing WSP, more empty lines */
	assert_int_equal(dkimpy(&rsa_kp, &sig, msg_header, S("Hi Bob,\r\n\r\n tabs and spaces \r\n.leading dot\r\n")), 0);
	buf_free(&sig);
}

/* The same signature field whatever the chunking (both algorithms are deterministic). */
static void test_chunking_invariant(void **state)
{
	struct buf whole, part;

	buf_init(&whole, 0);
	buf_init(&part, 0);
	sign(rsa_key, DKIM_CANON_RELAXED, msg_header, S(msg_body), 0, &whole);
	for (size_t chunk = 1; chunk < sizeof(msg_body); chunk++) {
		buf_reset(&part);
		sign(rsa_key, DKIM_CANON_RELAXED, msg_header, S(msg_body), chunk, &part);
		assert_string_equal(part.data, whole.data);
	}
	buf_free(&whole);
	buf_free(&part);
}

/* A large body in odd chunks: hashed as it streams, verified by dkimpy. */
static void test_large_body(void **state)
{
	size_t len = 4 * 1024 * 1024;
	char *body = malloc(len);
	struct buf sig;

	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (i % 73 == 72) ? '\n' : (i % 73 == 71) ? '\r' : (char)('a' + (i % 23)) ;
	for (size_t i = 5; i < len; i += 997)
		body[i] = ' ';
	buf_init(&sig, 0);
	sign(rsa_key, DKIM_CANON_RELAXED, msg_header, body, len, 65521, &sig);
	assert_int_equal(dkimpy(&rsa_kp, &sig, msg_header, body, len), 0);
	buf_free(&sig);
	free(body);
}

static void test_oversign_and_repeats(void **state)
{
	static const char hdr[] =
		"Received: x\r\nTo: a@example.net\r\nFrom: <alice@example.com>\r\nTo: b@example.net\r\n"
		"Cc: c@example.net\r\n\r\n";
	static const char extra_from[] = "From: <mallory@example.com>\r\n";
	struct buf sig, forged;
	char h[256];

	buf_init(&sig, 0);
	sign(rsa_key, DKIM_CANON_RELAXED, hdr, S("x\r\n"), 0, &sig);
	h_tag(&sig, h, sizeof(h));
	assert_string_equal(h, "from:from:to:to:cc");
	assert_int_equal(dkimpy(&rsa_kp, &sig, hdr, S("x\r\n")), 0);
	/* a second From (above or below) breaks it */
	buf_init(&forged, 0);
	buf_append(&forged, sig.data, sig.len);
	buf_append(&forged, extra_from, strlen(extra_from));
	assert_int_equal(dkimpy(&rsa_kp, &forged, hdr, S("x\r\n")), 1);
	buf_free(&forged);
	buf_free(&sig);
}

static void test_signer_errors(void **state)
{
	struct dkim_params p = { "example.com", "sel", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, 0 };
	const char *err = NULL;

	assert_null(dkim_signer_new(rsa_key, &p, slice_cstr("To: x@example.net\r\n\r\n"), &err));
	assert_non_null(strstr(err, "no From"));
	p.selector = "a;b";
	assert_null(dkim_signer_new(rsa_key, &p, slice_cstr("From: x@example.com\r\n"), &err));
	assert_non_null(strstr(err, "selector"));
	p.selector = "sel";
	p.domain = "";
	assert_null(dkim_signer_new(rsa_key, &p, slice_cstr("From: x@example.com\r\n"), &err));
	p.domain = "example.com";
	assert_null(dkim_signer_new(rsa_key, &p, slice_cstr("From: x@example.com\r\nbad line\r\n"), &err));
	assert_non_null(strstr(err, "not a header field"));
}

/* ---- keys ------------------------------------------------------------------------------ */

static void test_keys(void **state)
{
	struct buf pub, rec;
	const char *err = NULL;
	struct dkim_key *k = NULL;

	assert_non_null(strstr(rsa_kp.private_pem, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(dkim_key_algorithm(rsa_key), DKIM_ALG_RSA_SHA256);
	assert_int_equal(dkim_key_algorithm(ed_key), DKIM_ALG_ED25519_SHA256);
	/* the public key derived from the stored PEM is the one keygen gave */
	buf_init(&pub, 0);
	assert_int_equal(dkim_key_public_b64(rsa_key, &pub, &err), 0);
	assert_string_equal(pub.data, rsa_kp.public_b64);
	assert_int_equal(strlen(rsa_kp.public_b64), 392); /* 294-byte SPKI of RSA-2048 */
	buf_reset(&pub);
	assert_int_equal(dkim_key_public_b64(ed_key, &pub, &err), 0);
	assert_string_equal(pub.data, ed_kp.public_b64);
	assert_int_equal(strlen(ed_kp.public_b64), 44); /* RFC 8463: the raw 32 bytes */
	buf_free(&pub);
	buf_init(&rec, 0);
	dkim_dns_record(DKIM_ALG_RSA_SHA256, "QUJD", &rec);
	assert_string_equal(rec.data, "v=DKIM1; k=rsa; p=QUJD");
	buf_reset(&rec);
	dkim_dns_record(DKIM_ALG_ED25519_SHA256, "QUJD", &rec);
	assert_string_equal(rec.data, "v=DKIM1; k=ed25519; p=QUJD");
	buf_free(&rec);
	assert_int_equal(dkim_key_load_pem(slice_cstr("not a key"), &k, &err), -1);
	assert_non_null(strstr(err, "PEM"));
	assert_null(k);
}

static void test_keygen_bounds_and_weak_key(void **state)
{
	struct dkim_keypair kp;
	const char *err = NULL;
	struct dkim_key *k = NULL;
	EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	assert_int_equal(dkim_keygen(DKIM_ALG_RSA_SHA256, 512, &kp, &err), -1);
	assert_non_null(strstr(err, "1024 to 4096"));
	dkim_keypair_clear(&kp);
	/* RFC 8301: keys under 1024 bits are refused */
	assert_non_null(weak);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, weak, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(bio, &data);
	assert_int_equal(dkim_key_load_pem(slice_make(data, (size_t)len), &k, &err), -1);
	assert_non_null(strstr(err, "at least 1024"));
	BIO_free(bio);
	EVP_PKEY_free(weak);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example_relaxed),
		cmocka_unit_test(test_rfc_example_simple),
		cmocka_unit_test(test_body_edges),
		cmocka_unit_test(test_header_canon_edges),
		cmocka_unit_test(test_header_split),
		cmocka_unit_test(test_sign_verify_rsa_relaxed),
		cmocka_unit_test(test_sign_verify_simple_and_ed25519),
		cmocka_unit_test(test_tampering_fails),
		cmocka_unit_test(test_chunking_invariant),
		cmocka_unit_test(test_large_body),
		cmocka_unit_test(test_oversign_and_repeats),
		cmocka_unit_test(test_signer_errors),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_keygen_bounds_and_weak_key),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
