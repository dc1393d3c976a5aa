/*
 * test_manage_devices: app passwords through manage_call on a real store in
 * a temporary directory: generation (shape, shown once, never listed), the
 * "devices" right (a member without it is refused, one with it is not,
 * another organisation sees nothing), the limit of 20 with its message,
 * names, revocation, the stored form (sha256$, no plaintext) and the login
 * lookup the auth service uses (normalised input, revoked ones gone).
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "manage_fixture.h"
#include "testutil.h"

#include "auth/password.h"
#include "config/config.h"
#include "lib/xalloc.h"
#include "manage/manage.h"
#include "store/store.h"
#include "store/store_devices.h"
#include "store/store_manage.h"

#define OK(call)                                                                    \
	do {                                                                        \
		const char *err_ = NULL;                                            \
		if ((call) < 0)                                                     \
			fail_msg("%s failed: %s", #call, err_ != NULL ? err_ : "?"); \
	} while (0)
#define E (&err_)

/*
 * acme (example.test): olga owner; mia member with read,send on mia@,
 * dev member with devices on mia@. globex (globex.test): gus owner.
 */
static void populate(struct manage_fixture *f)
{
	OK(store_org_add(f->s, "acme", NULL, E));
	OK(store_org_add(f->s, "globex", NULL, E));
	OK(store_domain_add(f->s, "example.test", "acme", PLAN_STARTER, NULL, E));
	OK(store_domain_add(f->s, "globex.test", "globex", PLAN_PRO, NULL, E));
	OK(store_account_add(f->s, "olga", "$argon2id$x", NULL, E));
	OK(store_account_add(f->s, "mia", "$argon2id$x", NULL, E));
	OK(store_account_add(f->s, "dev", "$argon2id$x", NULL, E));
	OK(store_account_add(f->s, "gus", "$argon2id$x", NULL, E));
	OK(store_member_set(f->s, "acme", "olga", ROLE_OWNER, E));
	OK(store_member_set(f->s, "acme", "mia", ROLE_MEMBER, E));
	OK(store_member_set(f->s, "acme", "dev", ROLE_MEMBER, E));
	OK(store_member_set(f->s, "globex", "gus", ROLE_OWNER, E));
	OK(store_address_add(f->s, "mia", "example.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	OK(store_address_add(f->s, "list", "example.test", ADDRESS_ALIAS, NULL, NULL, E));
	OK(store_access_grant(f->s, "mia", "mia", "example.test", PERM_READ | PERM_SEND, E));
	OK(store_access_grant(f->s, "dev", "mia", "example.test", PERM_DEVICES, E));
}

static int setup(void **state)
{
	struct manage_fixture *f = mf_new("mdev", "hostname mail.example.test\ndata_dir data\n");

	populate(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	mf_free(*state);
	return 0;
}

#define OKC(f, ...) mf_ok(f, mf_call(f, __VA_ARGS__))
#define ERR(f, status, code, ...) mf_refused_code(f, mf_call(f, __VA_ARGS__), status, code)

static int64_t mia_id(struct manage_fixture *f)
{
	struct store_address a;
	const char *err = NULL;

	assert_int_equal(store_address_get(f->s, "mia", "example.test", &a, &err), 1);
	return a.id;
}

/* Does the store find an app password of mia@ for what a client typed? */
static int login_finds(struct manage_fixture *f, const char *typed, char *name, size_t size)
{
	char hash[STORE_APP_PASSWORD_HASH_MAX];
	struct store_app_password pw;
	const char *err = NULL;
	int rc;

	if (store_app_password_digest(typed, hash) < 0)
		return 0;
	rc = store_app_password_find(f->s, mia_id(f), hash, &pw, &err);
	assert_true(rc >= 0);
	if (rc == 1 && name != NULL)
		snprintf(name, size, "%s", pw.name);
	return rc;
}

static void test_create_shape_and_lookup(void **state)
{
	struct manage_fixture *f = *state;
	char secret[64], typed[64], name[80];

	OKC(f, "olga", "app_password.create", "{\"address\": \"mia@example.test\", \"name\": \"phone\"}");
	assert_string_equal(mf_str(f->result, "name"), "phone");
	snprintf(secret, sizeof(secret), "%s", mf_str(f->result, "password"));
	/* abcd-efgh-ijkl-mnop: 16 of [a-z0-9] */
	assert_int_equal(strlen(secret), 19);
	for (size_t i = 0; i < 19; i++) {
		if (i % 5 == 4)
			assert_int_equal(secret[i], '-');
		else
			assert_true((secret[i] >= 'a' && secret[i] <= 'z') || (secret[i] >= '0' && secret[i] <= '9'));
	}
	assert_int_equal(login_finds(f, secret, name, sizeof(name)), 1);
	assert_string_equal(name, "phone");
	/* typed from a screen: upper case, spaces, no dashes */
	snprintf(typed, sizeof(typed), "%.4s %.4s%.4s %.4s", secret, secret + 5, secret + 10, secret + 15);
	for (char *p = typed; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(login_finds(f, typed, NULL, 0), 1);
	/* one character off, too short, too long: nothing */
	typed[0] = secret[0] == 'a' ? 'b' : 'a';
	memcpy(typed + 1, secret + 1, sizeof(secret) - 1);
	assert_int_equal(login_finds(f, typed, NULL, 0), 0);
	assert_int_equal(login_finds(f, "abcd-efgh", NULL, 0), 0);
	snprintf(typed, sizeof(typed), "%sx", secret);
	assert_int_equal(login_finds(f, typed, NULL, 0), 0);

	/* listed without the password; the history says who created it */
	OKC(f, "olga", "app_password.list", "{\"address\": \"mia@example.test\"}");
	json_t *list = json_object_get(f->result, "app_passwords");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(mf_str(json_array_get(list, 0), "name"), "phone");
	assert_null(json_object_get(json_array_get(list, 0), "password"));
	char *dump = json_dumps(f->result, 0);
	assert_null(strstr(dump, secret));
	free(dump);
	OKC(f, "olga", "history.list", "{\"address\": \"mia@example.test\"}");
	dump = json_dumps(f->result, 0);
	assert_non_null(strstr(dump, "created the app password 'phone'"));
	free(dump);
}

/* The database keeps sha256$<hex> of it, never the text. */
static void test_stored_form(void **state)
{
	struct manage_fixture *f = *state;
	char secret[64], path[512], *cmd;

	OKC(f, NULL, "app_password.create", "{\"address\": \"mia@example.test\", \"name\": \"laptop\"}");
	snprintf(secret, sizeof(secret), "%s", mf_str(f->result, "password"));
	store_close(f->s);
	f->s = NULL;
	snprintf(path, sizeof(path), "%s/hermod.db", f->cfg->data_dir);
	/* the database file and its WAL, searched for the secret with and without dashes */
	cmd = xasprintf("cat '%s' '%s-wal' 2>/dev/null | grep -a -c -e '%s' -e '%.4s%.4s%.4s%.4s' >/dev/null", path,
			path, secret, secret, secret + 5, secret + 10, secret + 15);
	assert_int_not_equal(system(cmd), 0);
	free(cmd);
	cmd = xasprintf("cat '%s' '%s-wal' 2>/dev/null | grep -a -c 'sha256\\$[0-9a-f]\\{64\\}' >/dev/null", path, path);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	const char *err = NULL;
	if (store_open(f->cfg->data_dir, &f->s, &err) < 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(login_finds(f, secret, NULL, 0), 1);
}

static void test_rights(void **state)
{
	struct manage_fixture *f = *state;

	/* mia reads and sends mia@ but has no "devices" right */
	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "mia", "app_password.create",
	    "{\"address\": \"mia@example.test\", \"name\": \"x\"}");
	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "mia", "app_password.list", "{\"address\": \"mia@example.test\"}");
	/* dev has only "devices" */
	OKC(f, "dev", "app_password.create", "{\"address\": \"mia@example.test\", \"name\": \"tablet\"}");
	OKC(f, "dev", "app_password.list", "{\"address\": \"mia@example.test\"}");
	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "mia", "app_password.revoke",
	    "{\"address\": \"mia@example.test\", \"name\": \"tablet\"}");
	/* another organisation does not even see it */
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "gus", "app_password.list", "{\"address\": \"mia@example.test\"}");
	/* an alias does not log in */
	ERR(f, MANAGE_CONFLICT, "no_login", "olga", "app_password.create",
	    "{\"address\": \"list@example.test\", \"name\": \"x\"}");
}

static void test_limit_and_names(void **state)
{
	struct manage_fixture *f = *state;

	for (int i = 1; i <= STORE_APP_PASSWORDS_MAX; i++)
		OKC(f, "olga", "app_password.create", "{\"address\": \"mia@example.test\", \"name\": \"device %d\"}", i);
	ERR(f, MANAGE_CONFLICT, "too_many_app_passwords", "olga", "app_password.create",
	    "{\"address\": \"mia@example.test\", \"name\": \"one more\"}");
	assert_non_null(strstr(f->err.message, "already has 20 app passwords"));
	OKC(f, "olga", "app_password.revoke", "{\"address\": \"mia@example.test\", \"name\": \"device 3\"}");
	ERR(f, MANAGE_CONFLICT, "app_password_exists", "olga", "app_password.create",
	    "{\"address\": \"mia@example.test\", \"name\": \"device 4\"}");
	OKC(f, "olga", "app_password.create", "{\"address\": \"mia@example.test\", \"name\": \"one more\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "app_password.create",
	    "{\"address\": \"mia@example.test\", \"name\": \"\"}");
	assert_string_equal(f->err.field, "name");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "app_password.create",
	    "{\"address\": \"mia@example.test\", \"name\": \"a\\tb\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "app_password.create", "{\"address\": \"mia@example.test\"}");
}

static void test_revoke(void **state)
{
	struct manage_fixture *f = *state;
	char one[64], two[64];

	OKC(f, "olga", "app_password.create", "{\"address\": \"mia@example.test\", \"name\": \"phone\"}");
	snprintf(one, sizeof(one), "%s", mf_str(f->result, "password"));
	OKC(f, "olga", "app_password.create", "{\"address\": \"mia@example.test\", \"name\": \"laptop\"}");
	snprintf(two, sizeof(two), "%s", mf_str(f->result, "password"));
	assert_string_not_equal(one, two);
	OKC(f, "olga", "app_password.revoke", "{\"address\": \"mia@example.test\", \"name\": \"phone\"}");
	assert_string_equal(mf_str(f->result, "revoked"), "phone");
	/* the lost phone is cut off, the laptop is not */
	assert_int_equal(login_finds(f, one, NULL, 0), 0);
	assert_int_equal(login_finds(f, two, NULL, 0), 1);
	ERR(f, MANAGE_NOT_FOUND, "no_such_app_password", "olga", "app_password.revoke",
	    "{\"address\": \"mia@example.test\", \"name\": \"phone\"}");
	OKC(f, "olga", "history.list", "{\"address\": \"mia@example.test\"}");
	char *dump = json_dumps(f->result, 0);
	assert_non_null(strstr(dump, "revoked the app password 'phone'"));
	free(dump);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_shape_and_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stored_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
