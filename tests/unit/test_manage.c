/*
 * test_manage: the core operations of the service layer (organisations,
 * members, accounts, domains, addresses, access, history) through
 * manage_call, on a real store in a temporary directory, with every refusal
 * of the permission rules: a member cannot read another member's address,
 * cannot create addresses, cannot see another organisation at all; a
 * read-only actor cannot write; a wrong account password does not delete.
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
#include "manage/manage_ops.h"
#include "store/store.h"
#include "store/store_manage.h"

#define PW_OLGA "olga-account-pw"
#define PW_MIA "mia-account-pw1"
#define PW_ADDR "an-address-pw-1"

#define OK(call)                                                                    \
	do {                                                                        \
		const char *err_ = NULL;                                            \
		if ((call) < 0)                                                     \
			fail_msg("%s failed: %s", #call, err_ != NULL ? err_ : "?"); \
	} while (0)
#define E (&err_)

static void account(struct manage_fixture *f, const char *login, const char *password)
{
	char hash[PASSWORD_HASH_MAX], why[128];

	if (password != NULL)
		assert_int_equal(password_hash(password, hash, why, sizeof(why)), 0);
	OK(store_account_add(f->s, login, password != NULL ? hash : "$argon2id$x", NULL, E));
}

/*
 * acme (example.test, starter): olga owner, adam admin, mia and max members.
 * globex (globex.test): gus owner. Addresses: mia@ (mia: read,send),
 * max@ (max: read,send,history), shared@ (mia: access,read), gx@globex.test.
 */
static void populate(struct manage_fixture *f)
{
	OK(store_org_add(f->s, "acme", NULL, E));
	OK(store_org_add(f->s, "globex", NULL, E));
	OK(store_domain_add(f->s, "example.test", "acme", PLAN_STARTER, NULL, E));
	OK(store_domain_add(f->s, "globex.test", "globex", PLAN_PRO, NULL, E));
	account(f, "olga", PW_OLGA);
	account(f, "adam", NULL);
	account(f, "mia", PW_MIA);
	account(f, "max", NULL);
	account(f, "gus", NULL);
	OK(store_member_set(f->s, "acme", "olga", ROLE_OWNER, E));
	OK(store_member_set(f->s, "acme", "adam", ROLE_ADMIN, E));
	OK(store_member_set(f->s, "acme", "mia", ROLE_MEMBER, E));
	OK(store_member_set(f->s, "acme", "max", ROLE_MEMBER, E));
	OK(store_member_set(f->s, "globex", "gus", ROLE_OWNER, E));
	OK(store_address_add(f->s, "mia", "example.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	OK(store_address_add(f->s, "max", "example.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	OK(store_address_add(f->s, "shared", "example.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	OK(store_address_add(f->s, "gx", "globex.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	OK(store_access_grant(f->s, "mia", "mia", "example.test", PERM_READ | PERM_SEND, E));
	OK(store_access_grant(f->s, "max", "max", "example.test", PERM_READ | PERM_SEND | PERM_HISTORY, E));
	OK(store_access_grant(f->s, "mia", "shared", "example.test", PERM_MANAGE_ACCESS | PERM_READ, E));
}

static int setup(void **state)
{
	struct manage_fixture *f = mf_new("mcore", "hostname mail.example.test\ndata_dir data\n");

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

/* The "address" members of the result's array `key`, comma-joined. */
static const char *names(json_t *o, const char *key, const char *member)
{
	static char out[4096];
	size_t len = 0, i;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(json_object_get(o, key), i, v)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", len ? "," : "", mf_str(v, member));
	return out;
}

static bool address_exists(struct manage_fixture *f, const char *local, const char *domain)
{
	struct store_address a;
	const char *err = NULL;

	return store_address_get(f->s, local, domain, &a, &err) == 1;
}

static unsigned perms_of(struct manage_fixture *f, const char *login, const char *local, const char *domain)
{
	struct store_account acct;
	struct store_address addr;
	const char *err = NULL;
	unsigned perms = 0;

	assert_int_equal(store_account_get(f->s, login, &acct, &err), 1);
	assert_int_equal(store_address_get(f->s, local, domain, &addr, &err), 1);
	assert_true(store_access_perms(f->s, acct.id, addr.id, &perms, &err) >= 0);
	return perms;
}

static char *hash_of_address(struct manage_fixture *f, const char *local, const char *domain)
{
	static char hash[PASSWORD_HASH_MAX];
	const char *err = NULL;

	assert_int_equal(store_address_password_hash(f->s, local, domain, hash, sizeof(hash), &err), 1);
	return hash;
}

static char *hash_of_account(struct manage_fixture *f, const char *login)
{
	static char hash[PASSWORD_HASH_MAX];
	const char *err = NULL;

	assert_int_equal(store_account_password_hash(f->s, login, hash, sizeof(hash), &err), 1);
	return hash;
}

/* ---- accounts ---- */

static void test_account_me(void **state)
{
	struct manage_fixture *f = *state;

	OKC(f, "mia", "account.me", "{}");
	assert_string_equal(mf_str(f->result, "login"), "mia");
	assert_string_equal(names(f->result, "organisations", "name"), "acme");
	assert_string_equal(names(f->result, "organisations", "role"), "member");
	assert_string_equal(names(f->result, "addresses", "address"), "mia@example.test,shared@example.test");
	OKC(f, NULL, "account.me", "{}");
	assert_true(json_is_true(json_object_get(f->result, "system")));
}

static void test_account_password(void **state)
{
	struct manage_fixture *f = *state;
	char before[PASSWORD_HASH_MAX];

	OKC(f, "olga", "address.create", "{\"address\": \"o@example.test\", \"for\": \"me\", \"password\": \"%s\"}",
	    PW_ADDR);
	snprintf(before, sizeof(before), "%s", hash_of_address(f, "o", "example.test"));
	ERR(f, MANAGE_FORBIDDEN, "wrong_password", "olga", "account.password",
	    "{\"current_password\": \"nope-nope\", \"new_password\": \"brand-new-pw\"}");
	assert_true(password_verify(hash_of_account(f, "olga"), PW_OLGA));
	ERR(f, MANAGE_FORBIDDEN, "own_account_only", "olga", "account.password",
	    "{\"login\": \"mia\", \"current_password\": \"%s\", \"new_password\": \"brand-new-pw\"}", PW_OLGA);
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "account.password",
	    "{\"current_password\": \"%s\", \"new_password\": \"short\"}", PW_OLGA);
	OKC(f, "olga", "account.password", "{\"current_password\": \"%s\", \"new_password\": \"brand-new-pw\"}",
	    PW_OLGA);
	assert_true(password_verify(hash_of_account(f, "olga"), "brand-new-pw"));
	/* the address password never follows the account's, nor the other way round */
	assert_string_equal(hash_of_address(f, "o", "example.test"), before);
	assert_true(password_verify(before, PW_ADDR));
	OKC(f, "olga", "address.password", "{\"address\": \"o@example.test\", \"password\": \"another-addr-pw\"}");
	assert_true(password_verify(hash_of_account(f, "olga"), "brand-new-pw"));
	assert_true(password_verify(hash_of_address(f, "o", "example.test"), "another-addr-pw"));
	/* the operator sets any account's password without the current one */
	OKC(f, NULL, "account.password", "{\"login\": \"mia\", \"new_password\": \"reset-by-op1\"}");
	assert_true(password_verify(hash_of_account(f, "mia"), "reset-by-op1"));
}

static void test_account_create(void **state)
{
	struct manage_fixture *f = *state;

	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "account.create",
	    "{\"login\": \"new1\", \"password\": \"%s\", \"org\": \"acme\"}", PW_ADDR);
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "gus", "account.create",
	    "{\"login\": \"new1\", \"password\": \"%s\", \"org\": \"acme\"}", PW_ADDR);
	ERR(f, MANAGE_INVALID, "invalid_parameter", "adam", "account.create",
	    "{\"login\": \"new1\", \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_FORBIDDEN, "role_required", "adam", "account.create",
	    "{\"login\": \"new1\", \"password\": \"%s\", \"org\": \"acme\", \"role\": \"owner\"}", PW_ADDR);
	ERR(f, MANAGE_CONFLICT, "account_exists", "adam", "account.create",
	    "{\"login\": \"MIA\", \"password\": \"%s\", \"org\": \"acme\"}", PW_ADDR);
	ERR(f, MANAGE_INVALID, "invalid_parameter", "adam", "account.create",
	    "{\"login\": \"bad login\", \"password\": \"%s\", \"org\": \"acme\"}", PW_ADDR);
	OKC(f, "adam", "account.create", "{\"login\": \"new1\", \"org\": \"acme\", \"dry_run\": true}");
}

static void test_account_create_ok(void **state)
{
	struct manage_fixture *f = *state;
	enum org_role role;
	struct store_account a;
	struct store_org org;
	const char *err = NULL;

	OKC(f, "adam", "account.create",
	    "{\"login\": \"new1\", \"password\": \"%s\", \"org\": \"acme\", \"email\": \"n@x.test\"}", PW_ADDR);
	assert_string_equal(mf_str(f->result, "role"), "member");
	assert_int_equal(store_account_get(f->s, "new1", &a, &err), 1);
	assert_int_equal(store_org_get(f->s, "acme", &org, &err), 1);
	assert_int_equal(store_member_role(f->s, org.id, a.id, &role, &err), 1);
	assert_int_equal(role, ROLE_MEMBER);
	assert_true(password_verify(hash_of_account(f, "new1"), PW_ADDR));
	/* listing and removing every account is the operator's */
	ERR(f, MANAGE_FORBIDDEN, "operator_only", "olga", "account.list", "{}");
	ERR(f, MANAGE_FORBIDDEN, "operator_only", "olga", "account.remove", "{\"login\": \"new1\"}");
	OKC(f, NULL, "account.list", "{}");
	assert_string_equal(names(f->result, "accounts", "login"), "adam,gus,max,mia,new1,olga");
	OKC(f, NULL, "account.remove", "{\"login\": \"new1\"}");
	ERR(f, MANAGE_NOT_FOUND, "account_not_found", NULL, "account.remove", "{\"login\": \"new1\"}");
}

/* ---- organisations and members ---- */

static void test_org_visibility(void **state)
{
	struct manage_fixture *f = *state;

	OKC(f, "mia", "org.list", "{}");
	assert_string_equal(names(f->result, "organisations", "name"), "acme");
	OKC(f, NULL, "org.list", "{}");
	assert_string_equal(names(f->result, "organisations", "name"), "acme,globex");
	/* another organisation does not exist for a stranger, whatever it asks */
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "mia", "org.get", "{\"org\": \"globex\"}");
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "mia", "member.list", "{\"org\": \"globex\"}");
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "mia", "service.list", "{\"org\": \"globex\"}");
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "mia", "org.remove", "{\"org\": \"globex\"}");
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "mia", "org.get", "{\"org\": \"nosuch\"}");
	OKC(f, "mia", "org.get", "{\"org\": \"acme\"}");
	assert_string_equal(mf_str(f->result, "role"), "member");
	assert_string_equal(names(f->result, "domains", "name"), "example.test");
	OKC(f, "mia", "service.list", "{\"org\": \"acme\"}");
	assert_string_equal(names(f->result, "services", "plan"), "starter");
}

static void test_org_create_remove(void **state)
{
	struct manage_fixture *f = *state;

	OKC(f, "mia", "org.create", "{\"name\": \"mia's club\"}");
	assert_string_equal(mf_str(f->result, "role"), "owner");
	OKC(f, "mia", "org.list", "{}");
	assert_string_equal(names(f->result, "organisations", "name"), "acme,mia's club");
	ERR(f, MANAGE_CONFLICT, "organisation_exists", "max", "org.create", "{\"name\": \"ACME\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "max", "org.create", "{\"name\": \"a\\u0001b\"}");
	ERR(f, MANAGE_FORBIDDEN, "role_required", "adam", "org.remove", "{\"org\": \"acme\"}");
	ERR(f, MANAGE_CONFLICT, "organisation_not_empty", "olga", "org.remove", "{\"org\": \"acme\"}");
	OKC(f, "mia", "org.remove", "{\"org\": \"mia's club\"}");
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "mia", "org.get", "{\"org\": \"mia's club\"}");
}

static void test_members(void **state)
{
	struct manage_fixture *f = *state;

	OKC(f, "max", "member.list", "{\"org\": \"acme\"}");
	assert_string_equal(names(f->result, "members", "login"), "adam,max,mia,olga");
	assert_string_equal(names(f->result, "members", "role"), "admin,member,member,owner");
	/* members do not manage members */
	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "member.set",
	    "{\"org\": \"acme\", \"login\": \"max\", \"role\": \"admin\"}");
	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "member.remove", "{\"org\": \"acme\", \"login\": \"max\"}");
	/* admins manage members, but not owners */
	OKC(f, "adam", "member.set", "{\"org\": \"acme\", \"login\": \"max\", \"role\": \"admin\"}");
	ERR(f, MANAGE_FORBIDDEN, "role_required", "adam", "member.set",
	    "{\"org\": \"acme\", \"login\": \"max\", \"role\": \"owner\"}");
	ERR(f, MANAGE_FORBIDDEN, "role_required", "adam", "member.remove", "{\"org\": \"acme\", \"login\": \"olga\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "adam", "member.set",
	    "{\"org\": \"acme\", \"login\": \"max\", \"role\": \"king\"}");
	ERR(f, MANAGE_NOT_FOUND, "account_not_found", "adam", "member.set",
	    "{\"org\": \"acme\", \"login\": \"nobody\", \"role\": \"member\"}");
	/* an admin adds an existing account from elsewhere */
	OKC(f, "adam", "member.set", "{\"org\": \"acme\", \"login\": \"gus\", \"role\": \"member\"}");
	OKC(f, "adam", "member.remove", "{\"org\": \"acme\", \"login\": \"gus\"}");
	ERR(f, MANAGE_NOT_FOUND, "member_not_found", "adam", "member.remove", "{\"org\": \"acme\", \"login\": \"gus\"}");
	/* the last owner stays */
	ERR(f, MANAGE_CONFLICT, "last_owner", "olga", "member.set",
	    "{\"org\": \"acme\", \"login\": \"olga\", \"role\": \"admin\"}");
	ERR(f, MANAGE_CONFLICT, "last_owner", "olga", "member.remove", "{\"org\": \"acme\", \"login\": \"olga\"}");
	ERR(f, MANAGE_CONFLICT, "last_owner", NULL, "member.remove", "{\"org\": \"globex\", \"login\": \"gus\"}");
	OKC(f, "olga", "member.set", "{\"org\": \"acme\", \"login\": \"adam\", \"role\": \"owner\"}");
	OKC(f, "adam", "member.set", "{\"org\": \"acme\", \"login\": \"olga\", \"role\": \"member\"}");
	/* anyone may leave */
	OKC(f, "mia", "member.remove", "{\"org\": \"acme\", \"login\": \"mia\"}");
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "mia", "org.get", "{\"org\": \"acme\"}");
}

/* ---- domains ---- */

static void test_domain_visibility(void **state)
{
	struct manage_fixture *f = *state;

	OKC(f, "mia", "domain.list", "{}");
	assert_string_equal(names(f->result, "domains", "name"), "example.test");
	OKC(f, "gus", "domain.list", "{}");
	assert_string_equal(names(f->result, "domains", "name"), "globex.test");
	OKC(f, NULL, "domain.list", "{}");
	assert_string_equal(names(f->result, "domains", "name"), "example.test,globex.test");
	ERR(f, MANAGE_NOT_FOUND, "domain_not_found", "mia", "domain.get", "{\"domain\": \"globex.test\"}");
	ERR(f, MANAGE_NOT_FOUND, "domain_not_found", "mia", "domain.dns", "{\"domain\": \"globex.test\"}");
	ERR(f, MANAGE_NOT_FOUND, "domain_not_found", "mia", "domain.remove", "{\"domain\": \"globex.test\"}");
	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "domain.plan",
	    "{\"domain\": \"example.test\", \"plan\": \"pro\"}");
	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "domain.add", "{\"domain\": \"new.test\", \"org\": \"acme\"}");
	ERR(f, MANAGE_NOT_FOUND, "organisation_not_found", "gus", "domain.add",
	    "{\"domain\": \"new.test\", \"org\": \"acme\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "adam", "domain.add", "{\"domain\": \"bad..name\", \"org\": \"acme\"}");
	ERR(f, MANAGE_CONFLICT, "domain_exists", "adam", "domain.add",
	    "{\"domain\": \"GLOBEX.test\", \"org\": \"acme\"}");
	OKC(f, "mia", "domain.get", "{\"domain\": \"example.test\"}");
	assert_string_equal(mf_str(f->result, "plan"), "starter");
}

static void test_domain_lifecycle(void **state)
{
	struct manage_fixture *f = *state;
	json_t *r;
	size_t i;
	bool mx = false, dkim = false;

	OKC(f, "adam", "domain.add", "{\"domain\": \"New.Test\", \"org\": \"acme\", \"plan\": \"free\"}");
	assert_string_equal(mf_str(f->result, "name"), "new.test");
	assert_string_equal(mf_str(f->result, "plan"), "free");
	OKC(f, "mia", "domain.dns", "{\"domain\": \"new.test\"}");
	assert_true(json_is_true(json_object_get(f->result, "dkim")));
	json_array_foreach(json_object_get(f->result, "records"), i, r) {
		if (strcmp(mf_str(r, "type"), "MX") == 0) {
			mx = true;
			assert_string_equal(mf_str(r, "value"), "10 mail.example.test.");
			assert_string_equal(mf_str(r, "status"), "unchecked");
		}
		if (strcmp(mf_str(r, "name"), "hermod._domainkey") == 0) {
			dkim = true;
			assert_non_null(strstr(mf_str(r, "value"), "v=DKIM1; k=rsa; p="));
		}
	}
	assert_true(mx && dkim);
	OKC(f, "adam", "domain.plan", "{\"domain\": \"new.test\", \"plan\": \"pro\"}");
	assert_string_equal(mf_str(f->result, "plan"), "pro");
	/* unlinked: the domain stays, hosts nothing until linked again */
	OKC(f, "adam", "domain.unlink", "{\"domain\": \"new.test\"}");
	assert_true(json_is_null(json_object_get(f->result, "plan")));
	ERR(f, MANAGE_CONFLICT, "domain_unlinked", "olga", "address.create",
	    "{\"address\": \"a@new.test\", \"for\": \"me\", \"password\": \"%s\"}", PW_ADDR);
	OKC(f, "adam", "domain.link", "{\"domain\": \"new.test\", \"plan\": \"starter\"}");
	assert_string_equal(mf_str(f->result, "plan"), "starter");
	ERR(f, MANAGE_CONFLICT, "domain_not_empty", "adam", "domain.unlink", "{\"domain\": \"example.test\"}");
	ERR(f, MANAGE_CONFLICT, "domain_not_empty", "adam", "domain.remove", "{\"domain\": \"example.test\"}");
	ERR(f, MANAGE_CONFLICT, "dkim_exists", "adam", "domain.dkim", "{\"domain\": \"new.test\"}");
	OKC(f, "adam", "domain.remove", "{\"domain\": \"new.test\"}");
	ERR(f, MANAGE_NOT_FOUND, "domain_not_found", "adam", "domain.get", "{\"domain\": \"new.test\"}");
}

/* ---- addresses ---- */

static void test_address_list_visibility(void **state)
{
	struct manage_fixture *f = *state;

	OKC(f, "olga", "address.list", "{}");
	assert_string_equal(names(f->result, "addresses", "address"),
			    "max@example.test,mia@example.test,shared@example.test");
	/* a member sees what it was granted, and nothing of the others' */
	OKC(f, "mia", "address.list", "{}");
	assert_string_equal(names(f->result, "addresses", "address"), "mia@example.test,shared@example.test");
	OKC(f, "mia", "address.list", "{\"domain\": \"example.test\"}");
	assert_string_equal(names(f->result, "addresses", "address"), "mia@example.test,shared@example.test");
	OKC(f, "gus", "address.list", "{}");
	assert_string_equal(names(f->result, "addresses", "address"), "gx@globex.test");
	ERR(f, MANAGE_NOT_FOUND, "domain_not_found", "gus", "address.list", "{\"domain\": \"example.test\"}");
	OKC(f, NULL, "address.list", "{}");
	assert_string_equal(names(f->result, "addresses", "address"),
			    "max@example.test,mia@example.test,shared@example.test,gx@globex.test");
	ERR(f, MANAGE_INVALID, "invalid_parameter", NULL, "address.list", "{\"limit\": 0}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", NULL, "address.list", "{\"after\": \"not an address\"}");
}

/* Pages of 7 over 40 addresses in two domains (plus a grant elsewhere) cover each exactly once, in order. */
static void test_address_list_pages(void **state)
{
	struct manage_fixture *f = *state;
	char local[16], all[8192] = "", after[400] = "";
	size_t len = 0, pages = 0;

	for (int i = 0; i < 20; i++) {
		snprintf(local, sizeof(local), "u%02d", i);
		OK(store_address_add(f->s, local, "example.test", ADDRESS_NOREPLY, "$argon2id$x", NULL, E));
		OK(store_address_add(f->s, local, "globex.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	}
	/* adam administers acme and was granted one globex address: both kinds merge */
	OK(store_access_grant(f->s, "adam", "u05", "globex.test", PERM_READ, E));
	for (;;) {
		if (after[0] != '\0')
			OKC(f, "adam", "address.list", "{\"limit\": 7, \"after\": \"%s\"}", after);
		else
			OKC(f, "adam", "address.list", "{\"limit\": 7}");
		pages++;
		len += (size_t)snprintf(all + len, sizeof(all) - len, "%s%s", len ? "," : "",
					names(f->result, "addresses", "address"));
		json_t *next = json_object_get(f->result, "next");
		if (json_is_null(next))
			break;
		snprintf(after, sizeof(after), "%s", json_string_value(next));
		assert_true(pages < 10);
	}
	assert_int_equal(pages, 4); /* 24 addresses: 7 + 7 + 7 + 3 */
	assert_non_null(strstr(all, "max@example.test,mia@example.test,shared@example.test,u00@example.test,"));
	assert_non_null(strstr(all, "u19@example.test,u05@globex.test"));
	assert_null(strstr(all, "u04@globex.test"));
	/* as the operator, with a domain filter */
	OKC(f, NULL, "address.list", "{\"domain\": \"globex.test\", \"limit\": 20, \"after\": \"u09@globex.test\"}");
	assert_int_equal(json_array_size(json_object_get(f->result, "addresses")), 10);
	assert_string_equal(mf_str(json_array_get(json_object_get(f->result, "addresses"), 0), "address"),
			    "u10@globex.test");
	ERR(f, MANAGE_INVALID, "invalid_parameter", NULL, "address.list",
	    "{\"domain\": \"globex.test\", \"after\": \"u09@example.test\"}");
}

static void test_address_create_refusals(void **state)
{
	struct manage_fixture *f = *state;

	/* a member cannot create addresses; a stranger does not see the domain */
	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "address.create",
	    "{\"address\": \"n@example.test\", \"for\": \"me\", \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_NOT_FOUND, "domain_not_found", "gus", "address.create",
	    "{\"address\": \"n@example.test\", \"for\": \"me\", \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_CONFLICT, "address_exists", "olga", "address.create",
	    "{\"address\": \"MIA@example.test\", \"for\": \"me\", \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"for\": \"me\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"kind\": \"alias\", \"targets\": [\"mia@example.test\"],"
	    " \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"kind\": \"alias\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"kind\": \"alias\", \"targets\": [\"a@x.test\", \"b@x.test\","
	    " \"c@x.test\", \"d@x.test\", \"e@x.test\", \"f@x.test\", \"g@x.test\", \"h@x.test\", \"i@x.test\","
	    " \"j@x.test\", \"k@x.test\"]}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"kind\": \"alias\", \"targets\": [\"bad target@x.test\"]}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"kind\": \"robot\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", NULL, "address.create",
	    "{\"address\": \"n@example.test\", \"for\": \"me\", \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"for\": \"me\", \"password\": \"short\"}");
	/* dry_run checks everything but the password and writes nothing */
	OKC(f, "olga", "address.create", "{\"address\": \"n@example.test\", \"for\": \"me\", \"dry_run\": true}");
	assert_true(json_is_true(json_object_get(f->result, "needs_password")));
	assert_false(address_exists(f, "n", "example.test"));
	/* the invitation refused: the address it was for is not left behind */
	ERR(f, MANAGE_NOT_FOUND, "member_not_found", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"for\": \"member\", \"member\": \"gus\"}");
	assert_false(address_exists(f, "n", "example.test"));
}

static void test_address_create_flows(void **state)
{
	struct manage_fixture *f = *state;

	/* for me: linked to the creator with every right, its own password */
	OKC(f, "adam", "address.create", "{\"address\": \"Adam@Example.test\", \"for\": \"me\", \"password\": \"%s\","
	    " \"quota\": 1000000}", PW_ADDR);
	assert_string_equal(mf_str(f->result, "address"), "adam@example.test");
	assert_int_equal(perms_of(f, "adam", "adam", "example.test"), PERM_ALL);
	assert_true(password_verify(hash_of_address(f, "adam", "example.test"), PW_ADDR));
	OKC(f, "adam", "address.get", "{\"address\": \"adam@example.test\"}");
	assert_int_equal(json_integer_value(json_object_get(f->result, "quota")), 1000000);
	/* shared: a password, and nobody's until granted */
	OKC(f, "olga", "address.create", "{\"address\": \"team@example.test\", \"for\": \"shared\", \"password\": \"%s\"}",
	    PW_ADDR);
	assert_int_equal(perms_of(f, "olga", "team", "example.test"), 0);
	/* generic addresses */
	OKC(f, "olga", "address.create", "{\"address\": \"catchall@example.test\", \"kind\": \"catchall\", \"for\": \"shared\"}");
	ERR(f, MANAGE_CONFLICT, "catchall_exists", "olga", "address.create",
	    "{\"address\": \"any@example.test\", \"kind\": \"catchall\", \"for\": \"shared\"}");
	OKC(f, "olga", "address.create",
	    "{\"address\": \"no-reply@example.test\", \"kind\": \"noreply\", \"for\": \"shared\", \"password\": \"%s\"}",
	    PW_ADDR);
	OKC(f, "olga", "address.create",
	    "{\"address\": \"fw@example.test\", \"kind\": \"alias\", \"targets\": [\"mia@example.test\", \"x@Y.test\"]}");
	assert_int_equal(json_array_size(json_object_get(f->result, "targets")), 2);
	/* the external target got its confirmation link, the local one needs none */
	assert_int_equal(json_array_size(json_object_get(f->result, "confirmations_sent")), 1);
	assert_non_null(f->ctx.outbox);
	assert_int_equal(f->ctx.outbox->rcpt_count, 1);
	assert_string_equal(f->ctx.outbox->rcpts[0], "x@y.test");
	/* the creation is in the history */
	OKC(f, "adam", "history.list", "{\"address\": \"adam@example.test\"}");
	assert_string_equal(names(f->result, "entries", "action"), "address.create");
	assert_string_equal(names(f->result, "entries", "actor"), "adam");
	assert_string_equal(names(f->result, "entries", "ip"), "192.0.2.7");
}

static void test_address_get(void **state)
{
	struct manage_fixture *f = *state;
	json_t *rights;

	/* a member cannot read another member's address: it does not exist for them */
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "mia", "address.get", "{\"address\": \"max@example.test\"}");
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "mia", "address.get", "{\"address\": \"gx@globex.test\"}");
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "gus", "address.get", "{\"address\": \"mia@example.test\"}");
	OKC(f, "mia", "address.get", "{\"address\": \"shared@example.test\"}");
	rights = json_object_get(f->result, "rights");
	assert_int_equal(json_array_size(rights), 2);
	assert_string_equal(json_string_value(json_array_get(rights, 0)), "read");
	assert_string_equal(json_string_value(json_array_get(rights, 1)), "access");
	assert_string_equal(mf_str(f->result, "kind"), "mailbox");
	assert_int_equal(json_integer_value(json_object_get(f->result, "effective_quota")),
			 (json_int_t)f->cfg->plans[PLAN_STARTER].quota_bytes);
	assert_int_equal(json_integer_value(json_object_get(f->result, "messages")), 0);
	OKC(f, "olga", "address.get", "{\"address\": \"max@example.test\"}");
	assert_int_equal(json_array_size(json_object_get(f->result, "rights")), 13);
}

static void test_address_remove(void **state)
{
	struct manage_fixture *f = *state;

	/* rights on an address are not the organisation's: no deleting */
	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "address.remove",
	    "{\"address\": \"shared@example.test\", \"password\": \"%s\", \"confirm\": true}", PW_MIA);
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "gus", "address.remove",
	    "{\"address\": \"shared@example.test\", \"password\": \"x\", \"confirm\": true}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.remove",
	    "{\"address\": \"shared@example.test\", \"password\": \"%s\"}", PW_OLGA);
	ERR(f, MANAGE_INVALID, "invalid_parameter", "olga", "address.remove",
	    "{\"address\": \"shared@example.test\", \"confirm\": true}");
	ERR(f, MANAGE_FORBIDDEN, "wrong_password", "olga", "address.remove",
	    "{\"address\": \"shared@example.test\", \"password\": \"wrong-password\", \"confirm\": true}");
	/* an address password is not the account password */
	ERR(f, MANAGE_FORBIDDEN, "wrong_password", "olga", "address.remove",
	    "{\"address\": \"shared@example.test\", \"password\": \"%s\", \"confirm\": true}", PW_ADDR);
	assert_true(address_exists(f, "shared", "example.test"));
	OKC(f, "olga", "address.remove", "{\"address\": \"shared@example.test\", \"password\": \"%s\", \"confirm\": true}",
	    PW_OLGA);
	assert_int_equal(json_integer_value(json_object_get(f->result, "messages")), 0);
	assert_false(address_exists(f, "shared", "example.test"));
	/* the operator on the command line confirms with --yes, without a password */
	OKC(f, NULL, "address.remove", "{\"address\": \"max@example.test\", \"confirm\": true}");
	assert_false(address_exists(f, "max", "example.test"));
}

static void test_address_password_quota(void **state)
{
	struct manage_fixture *f = *state;

	/* the address password is the "devices" right */
	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "mia", "address.password",
	    "{\"address\": \"mia@example.test\", \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "mia", "address.password",
	    "{\"address\": \"max@example.test\", \"password\": \"%s\"}", PW_ADDR);
	OK(store_access_grant(f->s, "mia", "mia", "example.test", PERM_READ | PERM_DEVICES, E));
	OKC(f, "mia", "address.password", "{\"address\": \"mia@example.test\", \"password\": \"%s\"}", PW_ADDR);
	assert_true(password_verify(hash_of_address(f, "mia", "example.test"), PW_ADDR));
	assert_true(password_verify(hash_of_account(f, "mia"), PW_MIA));
	/* a catchall may get a password (to be read); an alias never has one */
	OKC(f, "olga", "address.create", "{\"address\": \"c@example.test\", \"kind\": \"catchall\", \"for\": \"shared\"}");
	OKC(f, "olga", "address.password", "{\"address\": \"c@example.test\", \"password\": \"%s\"}", PW_ADDR);
	OKC(f, "olga", "address.create",
	    "{\"address\": \"fw@example.test\", \"kind\": \"alias\", \"targets\": [\"mia@example.test\"]}");
	ERR(f, MANAGE_CONFLICT, "no_password", "olga", "address.password",
	    "{\"address\": \"fw@example.test\", \"password\": \"%s\"}", PW_ADDR);
	/* quotas are the organisation's */
	ERR(f, MANAGE_FORBIDDEN, "role_required", "mia", "address.quota",
	    "{\"address\": \"mia@example.test\", \"quota\": 5}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "adam", "address.quota",
	    "{\"address\": \"mia@example.test\", \"quota\": -1}");
	OKC(f, "adam", "address.quota", "{\"address\": \"mia@example.test\", \"quota\": 5000}");
	OKC(f, "mia", "address.get", "{\"address\": \"mia@example.test\"}");
	assert_int_equal(json_integer_value(json_object_get(f->result, "effective_quota")), 5000);
}

/* ---- access and history ---- */

static void test_access(void **state)
{
	struct manage_fixture *f = *state;

	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "max", "access.list", "{\"address\": \"max@example.test\"}");
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "max", "access.list", "{\"address\": \"shared@example.test\"}");
	OKC(f, "mia", "access.list", "{\"address\": \"shared@example.test\"}");
	assert_string_equal(names(f->result, "access", "login"), "mia");
	/* nobody grants what they do not hold */
	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "mia", "access.grant",
	    "{\"address\": \"shared@example.test\", \"login\": \"max\", \"perms\": [\"read\", \"send\"]}");
	ERR(f, MANAGE_CONFLICT, "not_a_member", "mia", "access.grant",
	    "{\"address\": \"shared@example.test\", \"login\": \"gus\", \"perms\": \"read\"}");
	ERR(f, MANAGE_INVALID, "invalid_parameter", "mia", "access.grant",
	    "{\"address\": \"shared@example.test\", \"login\": \"max\", \"perms\": \"read,fly\"}");
	OKC(f, "mia", "access.grant", "{\"address\": \"shared@example.test\", \"login\": \"max\", \"perms\": \"read\"}");
	assert_int_equal(perms_of(f, "max", "shared", "example.test"), PERM_READ);
	/* a grant holding more than the actor has is not the actor's to touch */
	OKC(f, "olga", "access.grant", "{\"address\": \"shared@example.test\", \"login\": \"adam\", \"perms\": \"all\"}");
	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "mia", "access.revoke",
	    "{\"address\": \"shared@example.test\", \"login\": \"adam\"}");
	OKC(f, "mia", "access.revoke", "{\"address\": \"shared@example.test\", \"login\": \"max\"}");
	ERR(f, MANAGE_NOT_FOUND, "access_not_found", "mia", "access.revoke",
	    "{\"address\": \"shared@example.test\", \"login\": \"max\"}");
	ERR(f, MANAGE_NOT_FOUND, "account_not_found", "mia", "access.revoke",
	    "{\"address\": \"shared@example.test\", \"login\": \"nobody\"}");
	assert_int_equal(perms_of(f, "max", "shared", "example.test"), 0);
	OKC(f, "olga", "history.list", "{\"address\": \"shared@example.test\"}");
	assert_string_equal(names(f->result, "entries", "action"), "access.revoke,access.grant,access.grant");
}

static void test_history(void **state)
{
	struct manage_fixture *f = *state;
	int64_t next;

	ERR(f, MANAGE_FORBIDDEN, "permission_denied", "mia", "history.list", "{\"address\": \"mia@example.test\"}");
	ERR(f, MANAGE_NOT_FOUND, "address_not_found", "mia", "history.list", "{\"address\": \"max@example.test\"}");
	for (int i = 1; i <= 5; i++)
		OKC(f, "adam", "address.quota", "{\"address\": \"max@example.test\", \"quota\": %d}", i * 1000);
	OKC(f, "max", "history.list", "{\"address\": \"max@example.test\", \"limit\": 3}");
	assert_int_equal(json_array_size(json_object_get(f->result, "entries")), 3);
	assert_string_equal(names(f->result, "entries", "detail"),
			    "quota set to 5000 bytes,quota set to 4000 bytes,quota set to 3000 bytes");
	next = json_integer_value(json_object_get(f->result, "next"));
	OKC(f, "max", "history.list", "{\"address\": \"max@example.test\", \"limit\": 3, \"before\": %lld}",
	    (long long)next);
	assert_string_equal(names(f->result, "entries", "detail"), "quota set to 2000 bytes,quota set to 1000 bytes");
	assert_true(json_is_null(json_object_get(f->result, "next")));
}

/* ---- read-only actors ---- */

static void test_read_only(void **state)
{
	struct manage_fixture *f = *state;

	f->read_only = true;
	OKC(f, "olga", "address.list", "{}");
	OKC(f, "olga", "account.me", "{}");
	ERR(f, MANAGE_FORBIDDEN, "read_only_token", "olga", "address.create",
	    "{\"address\": \"n@example.test\", \"for\": \"me\", \"password\": \"%s\"}", PW_ADDR);
	ERR(f, MANAGE_FORBIDDEN, "read_only_token", "olga", "address.remove",
	    "{\"address\": \"mia@example.test\", \"password\": \"%s\", \"confirm\": true}", PW_OLGA);
	ERR(f, MANAGE_FORBIDDEN, "read_only_token", "olga", "org.create", "{\"name\": \"x\"}");
	ERR(f, MANAGE_FORBIDDEN, "read_only_token", "olga", "access.grant",
	    "{\"address\": \"mia@example.test\", \"login\": \"max\"}");
	ERR(f, MANAGE_FORBIDDEN, "read_only_token", "olga", "account.password",
	    "{\"current_password\": \"%s\", \"new_password\": \"whatever-pw\"}", PW_OLGA);
	assert_true(address_exists(f, "mia", "example.test"));
	f->read_only = false;
}

/* Every core operation is in the table, with a summary. */
static void test_ops_listed(void **state)
{
	static const char *const ops[] = {
		"account.me", "account.password", "account.create", "account.list", "account.remove", "org.list",
		"org.create", "org.get", "org.remove", "member.list", "member.set", "member.remove", "service.list",
		"domain.list", "domain.add", "domain.get", "domain.remove", "domain.plan", "domain.link",
		"domain.unlink", "domain.dns", "domain.dkim", "address.list", "address.create", "address.get",
		"address.remove", "address.password", "address.quota", "access.list", "access.grant",
		"access.revoke", "history.list",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const struct manage_op *op = manage_op_find(ops[i]);
		if (op == NULL || op->summary == NULL || op->anonymous)
			fail_msg("operation %s missing or anonymous", ops[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_account_me, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_create_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_org_visibility, setup, teardown),
		cmocka_unit_test_setup_teardown(test_org_create_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_visibility, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_list_visibility, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_create_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_create_flows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_password_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test(test_ops_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
