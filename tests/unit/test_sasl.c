/* Unit tests for auth/sasl: strict decoding of SASL PLAIN and LOGIN messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "lib/xalloc.h"

/* base64 of len raw bytes (padded, RFC 4648), as a client would send it. */
static char *b64(const void *raw, size_t len)
{
	size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = xmalloc(size);
	sodium_bin2base64(out, size, raw, len, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

static int plain_raw(const void *raw, size_t len, char *user, char *pass, const char **err)
{
	char *enc = b64(raw, len);
	int rc = auth_sasl_plain(slice_cstr(enc), user, pass, err);
	free(enc);
	return rc;
}

static void test_plain_ok(void **state)
{
	char user[AUTH_SASL_FIELD_MAX], pass[AUTH_SASL_FIELD_MAX];
	const char *err = NULL;

	(void)state;
	/* RFC 4616 example shape, empty authzid. */
	assert_int_equal(plain_raw("\0tim\0tanstaaftanstaaf", 21, user, pass, &err), 0);
	assert_string_equal(user, "tim");
	assert_string_equal(pass, "tanstaaftanstaaf");
	/* authzid equal to the user (case-insensitively) is the same identity. */
	assert_int_equal(plain_raw("Alice@X.test\0alice@x.test\0pw with spaces", 40, user, pass, &err), 0);
	assert_string_equal(user, "alice@x.test");
	assert_string_equal(pass, "pw with spaces");
	/* The literal from RFC 4616 section 4: "\0tim\0tanstaaftanstaaf". */
	assert_int_equal(auth_sasl_plain(slice_cstr("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), user, pass, &err), 0);
	assert_string_equal(user, "tim");
	/* UTF-8 passwords pass through untouched. */
	assert_int_equal(plain_raw("\0u@d.test\0p\xc3\xa4ssw\xc3\xb6rd", 20, user, pass, &err), 0);
	assert_string_equal(pass, "p\xc3\xa4ssw\xc3\xb6rd");
}

static void test_plain_structure(void **state)
{
	static const struct {
		const char *raw;
		size_t len;
	} bad[] = {
		{ "", 0 },                       /* nothing */
		{ "tim", 3 },                    /* no NUL */
		{ "\0tim", 4 },                  /* one NUL */
		{ "\0tim\0", 5 },                /* empty password */
		{ "\0\0secret", 8 },             /* empty user */
		{ "\0\0", 2 },                   /* both empty */
		{ "\0tim\0sec\0ret", 12 },       /* third NUL inside the password */
		{ "bob\0tim\0secret", 14 },      /* proxy authzid */
		{ "tim2\0tim\0secret", 15 },     /* authzid differs */
	};
	char user[AUTH_SASL_FIELD_MAX], pass[AUTH_SASL_FIELD_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;
		int rc = plain_raw(bad[i].raw, bad[i].len, user, pass, &err);
		if (rc != -1)
			fail_msg("case %zu accepted", i);
		assert_non_null(err);
		/* Nothing half-decoded is left behind for the caller to misuse. */
		assert_string_equal(user, "");
		assert_string_equal(pass, "");
	}
}

static void test_plain_base64_strict(void **state)
{
	static const char *const bad[] = {
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm=",   /* extra padding */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF",     /* truncated */
		"AHRpbQB0YW5zdG FhZnRhbnN0YWFm",   /* space inside */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r",  /* CR */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\n",  /* LF */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF*",    /* outside the alphabet */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF_",    /* URL-safe alphabet */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm====", /* padding run */
		"=",                                /* the "empty response" marker is the caller's business */
		"*",                                /* the cancel marker likewise */
		"AGEAYmN=",                         /* non-zero trailing bits (canonical is AGEAYmM=) */
		"AHRpbQB0YW5z=GFhZnRhbnN0YWFm",    /* padding in the middle */
	};
	char user[AUTH_SASL_FIELD_MAX], pass[AUTH_SASL_FIELD_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;
		if (auth_sasl_plain(slice_cstr(bad[i]), user, pass, &err) != -1)
			fail_msg("case %zu (%s) accepted", i, bad[i]);
		assert_non_null(err);
	}
}

static void test_plain_lengths(void **state)
{
	char user[AUTH_SASL_FIELD_MAX], pass[AUTH_SASL_FIELD_MAX];
	char raw[3 * AUTH_SASL_FIELD_MAX + 16];
	const char *err;
	size_t n;

	(void)state;
	/* User of 1023 bytes and password of 1023 bytes: the largest that fit. */
	raw[0] = '\0';
	memset(raw + 1, 'u', AUTH_SASL_FIELD_MAX - 1);
	raw[AUTH_SASL_FIELD_MAX] = '\0';
	memset(raw + AUTH_SASL_FIELD_MAX + 1, 'p', AUTH_SASL_FIELD_MAX - 1);
	n = 2 * AUTH_SASL_FIELD_MAX;
	assert_int_equal(plain_raw(raw, n, user, pass, &err), 0);
	assert_int_equal(strlen(user), AUTH_SASL_FIELD_MAX - 1);
	assert_int_equal(strlen(pass), AUTH_SASL_FIELD_MAX - 1);
	/* One more byte of password does not fit. */
	raw[n] = 'p';
	assert_int_equal(plain_raw(raw, n + 1, user, pass, &err), -1);
	/* One more byte of user does not fit either. */
	memmove(raw + 2, raw + 1, n);
	raw[1] = 'u';
	assert_int_equal(plain_raw(raw, n + 1, user, pass, &err), -1);
	/* A message far too long is refused before decoding. */
	char *huge = xmalloc(100001);
	memset(huge, 'A', 100000);
	huge[100000] = '\0';
	assert_int_equal(auth_sasl_plain(slice_cstr(huge), user, pass, &err), -1);
	free(huge);
}

static int login_raw(const char *raw, size_t len, char *field, const char **err)
{
	char *enc = b64(raw, len);
	int rc = auth_sasl_login_field(slice_cstr(enc), field, err);
	free(enc);
	return rc;
}

static void test_login_field(void **state)
{
	char field[AUTH_SASL_FIELD_MAX], raw[AUTH_SASL_FIELD_MAX + 1];
	const char *err = NULL;

	(void)state;
	assert_int_equal(auth_sasl_login_field(slice_cstr("dGVzdA=="), field, &err), 0);
	assert_string_equal(field, "test");
	assert_int_equal(auth_sasl_login_field(slice_cstr("YWxpY2VAaG9zdGVkLnRlc3Q="), field, &err), 0);
	assert_string_equal(field, "alice@hosted.test");
	assert_int_equal(login_raw("a", 1, field, &err), 0);
	assert_string_equal(field, "a");
	/* Strictness, as for PLAIN. */
	assert_int_equal(auth_sasl_login_field(slice_cstr("dGVzdA"), field, &err), -1);
	assert_int_equal(auth_sasl_login_field(slice_cstr("dGVzdA="), field, &err), -1);
	assert_int_equal(auth_sasl_login_field(slice_cstr("dGVz dA=="), field, &err), -1);
	assert_int_equal(auth_sasl_login_field(slice_cstr("dGVzdB=="), field, &err), -1);
	assert_int_equal(auth_sasl_login_field(slice_cstr(""), field, &err), -1);
	assert_non_null(strstr(err, "empty"));
	/* A NUL inside a field would truncate it silently. */
	assert_int_equal(login_raw("ab\0cd", 5, field, &err), -1);
	assert_non_null(strstr(err, "NUL"));
	/* 1023 bytes fit, 1024 do not. */
	memset(raw, 'x', sizeof(raw));
	assert_int_equal(login_raw(raw, AUTH_SASL_FIELD_MAX - 1, field, &err), 0);
	assert_int_equal(strlen(field), AUTH_SASL_FIELD_MAX - 1);
	assert_int_equal(login_raw(raw, AUTH_SASL_FIELD_MAX, field, &err), -1);
	assert_string_equal(field, "");
}

/* Every 1..3 byte string round-trips (all padding shapes, all byte values at the edges). */
static void test_login_roundtrip_bytes(void **state)
{
	char field[AUTH_SASL_FIELD_MAX];
	const char *err;

	(void)state;
	for (unsigned a = 1; a < 256; a++) {
		char raw[3] = { (char)a, (char)(256 - a), (char)((a * 7) % 255 + 1) };
		for (size_t len = 1; len <= 3; len++) {
			assert_int_equal(login_raw(raw, len, field, &err), 0);
			assert_int_equal(strlen(field), len);
			assert_memory_equal(field, raw, len);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_ok),
		cmocka_unit_test(test_plain_structure),
		cmocka_unit_test(test_plain_base64_strict),
		cmocka_unit_test(test_plain_lengths),
		cmocka_unit_test(test_login_field),
		cmocka_unit_test(test_login_roundtrip_bytes),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
