/* Unit tests for auth/password: argon2id hashing, verification, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include "auth/password.h"

static int setup(void **state)
{
	(void)state;
	return password_init();
}

static void test_hash_and_verify(void **state)
{
	char hash[PASSWORD_HASH_MAX], err[128] = "";

	(void)state;
	assert_int_equal(password_hash("correct horse", hash, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_memory_equal(hash, "$argon2id$", 10);
	assert_true(password_verify(hash, "correct horse"));
	assert_false(password_verify(hash, "correct horsE"));
	assert_false(password_verify(hash, "correct horse "));
	assert_false(password_verify(hash, ""));
	assert_false(password_needs_rehash(hash));
}

static void test_salted(void **state)
{
	char a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX], err[128];

	(void)state;
	assert_int_equal(password_hash("same password", a, err, sizeof(err)), 0);
	assert_int_equal(password_hash("same password", b, err, sizeof(err)), 0);
	assert_string_not_equal(a, b);
	assert_true(password_verify(a, "same password"));
	assert_true(password_verify(b, "same password"));
}

struct length_case {
	const char *name;
	const char *password;
	const char *error; /* NULL: accepted */
};

static const struct length_case length_cases[] = {
	{ "empty", "", "password is too short: at least 8 characters" },
	{ "seven ascii", "abcdefg", "password is too short: at least 8 characters" },
	{ "eight ascii", "abcdefgh", NULL },
	/* 7 characters but 14 bytes: counted as characters */
	{ "seven accented", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	  "password is too short: at least 8 characters" },
	{ "eight accented", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL },
	{ "spaces count", "a b c d ", NULL },
};

static void test_length_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(length_cases) / sizeof(length_cases[0]); i++) {
		const struct length_case *c = &length_cases[i];
		char hash[PASSWORD_HASH_MAX], err[128] = "";
		int r = password_hash(c->password, hash, err, sizeof(err));

		print_message("case: %s\n", c->name);
		if (c->error == NULL) {
			assert_int_equal(r, 0);
			assert_true(password_verify(hash, c->password));
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(err, c->error);
		}
	}
}

static void test_too_long(void **state)
{
	char pw[PASSWORD_MAX_LENGTH + 2], hash[PASSWORD_HASH_MAX], err[128] = "";

	(void)state;
	memset(pw, 'x', PASSWORD_MAX_LENGTH + 1);
	pw[PASSWORD_MAX_LENGTH + 1] = '\0';
	assert_int_equal(password_hash(pw, hash, err, sizeof(err)), -1);
	assert_string_equal(err, "password is too long: at most 1024 bytes");

	/* exactly the maximum is accepted */
	pw[PASSWORD_MAX_LENGTH] = '\0';
	assert_int_equal(password_hash(pw, hash, err, sizeof(err)), 0);
	assert_true(password_verify(hash, pw));
	/* a longer candidate never verifies, even with the right prefix */
	pw[PASSWORD_MAX_LENGTH] = 'x';
	assert_false(password_verify(hash, pw));
}

static void test_malformed_hashes(void **state)
{
	char unterminated[PASSWORD_HASH_MAX];

	(void)state;
	assert_false(password_verify("", "abcdefgh"));
	assert_false(password_verify("not a hash", "abcdefgh"));
	assert_false(password_verify("$argon2id$v=19$m=65536,t=2,p=1$", "abcdefgh"));
	assert_false(password_verify(NULL, "abcdefgh"));
	memset(unterminated, 'a', sizeof(unterminated));
	assert_false(password_verify(unterminated, "abcdefgh"));
	assert_true(password_needs_rehash(unterminated));
	assert_true(password_needs_rehash("not a hash"));
}

/* A hash made with weaker parameters still verifies, and asks for a rehash. */
static void test_needs_rehash_weaker(void **state)
{
	char weak[crypto_pwhash_STRBYTES];
	const char *pw = "old password";

	(void)state;
	assert_int_equal(crypto_pwhash_str(weak, pw, strlen(pw), crypto_pwhash_OPSLIMIT_MIN,
					   crypto_pwhash_MEMLIMIT_MIN),
			 0);
	assert_true(password_verify(weak, pw));
	assert_true(password_needs_rehash(weak));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_and_verify),
		cmocka_unit_test(test_salted),
		cmocka_unit_test(test_length_table),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_malformed_hashes),
		cmocka_unit_test(test_needs_rehash_weaker),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
