/*
 * test_manage_invite: invitations and sharing links through manage_call,
 * on a real store in a temporary directory: the member flow (message in
 * the outbox, accepted by that member only), the external flow (a new
 * account), sharing links used once, revoked and expired, and every refusal
 * of the permission rules.
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

#define OK(call)                                                                    \
	do {                                                                        \
		const char *err_ = NULL;                                            \
		if ((call) < 0)                                                     \
			fail_msg("%s failed: %s", #call, err_ != NULL ? err_ : "?"); \
	} while (0)
#define E (&err_)

static int64_t account(struct manage_fixture *f, const char *login, const char *email)
{
	struct store_account a;
	const char *err = NULL;

	OK(store_account_add(f->s, login, "$argon2id$x", NULL, E));
	assert_int_equal(store_account_get(f->s, login, &a, &err), 1);
	if (email != NULL)
		OK(store_manage_account_set_email(f->s, a.id, email, E));
	return a.id;
}

/*
 * acme owns example.test: alice is its owner; bob (email bob@example.test,
 * a mailbox), carol (no email) and dave are members; sales@ and
 * bob@example.test are mailboxes. dave has "access,read" on sales@;
 * erin belongs to no organisation.
 */
static void populate(struct manage_fixture *f)
{
	OK(store_org_add(f->s, "acme", NULL, E));
	OK(store_domain_add(f->s, "example.test", "acme", PLAN_STARTER, NULL, E));
	account(f, "alice", "alice@elsewhere.test");
	account(f, "bob", "bob@example.test");
	account(f, "carol", NULL);
	account(f, "dave", "dave@example.test");
	account(f, "erin", "erin@example.test");
	OK(store_member_set(f->s, "acme", "alice", ROLE_OWNER, E));
	OK(store_member_set(f->s, "acme", "bob", ROLE_MEMBER, E));
	OK(store_member_set(f->s, "acme", "carol", ROLE_MEMBER, E));
	OK(store_member_set(f->s, "acme", "dave", ROLE_MEMBER, E));
	OK(store_address_add(f->s, "sales", "example.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	OK(store_address_add(f->s, "bob", "example.test", ADDRESS_MAILBOX, "$argon2id$x", NULL, E));
	OK(store_access_grant(f->s, "dave", "sales", "example.test", PERM_MANAGE_ACCESS | PERM_READ, E));
}

static int setup(void **state)
{
	struct manage_fixture *f = mf_new("minvite", "hostname mail.example.test\ndata_dir data\nlisten http 127.0.0.1:8080\n");

	populate(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	mf_free(*state);
	return 0;
}

static unsigned perms_of(struct manage_fixture *f, const char *login, const char *address)
{
	struct store_account a;
	struct store_address addr;
	const char *err = NULL;
	char local[65];
	const char *at = strchr(address, '@');
	unsigned perms = 0;

	memcpy(local, address, (size_t)(at - address));
	local[at - address] = '\0';
	assert_int_equal(store_account_get(f->s, login, &a, &err), 1);
	assert_int_equal(store_address_get(f->s, local, at + 1, &addr, &err), 1);
	assert_true(store_access_perms(f->s, a.id, addr.id, &perms, &err) >= 0);
	return perms;
}

struct history_find {
	const char *action, *actor;
	bool found;
};

static void history_cb(const struct store_history_entry *e, void *arg)
{
	struct history_find *h = arg;

	if (strcmp(e->action, h->action) == 0 && strcmp(e->actor, h->actor) == 0)
		h->found = true;
}

/* Whether sales@example.test's history has action by actor. */
static bool history_has(struct manage_fixture *f, const char *action, const char *actor)
{
	struct history_find h = { action, actor, false };
	struct store_address addr;
	const char *err = NULL;

	assert_int_equal(store_address_get(f->s, "sales", "example.test", &addr, &err), 1);
	assert_int_equal(store_manage_history(f->s, addr.id, 0, 100, history_cb, &h, &err), 0);
	return h.found;
}

/* The token of the link in a message: the 43 characters after ".../invitations/". */
static void token_in(const char *text, char token[44])
{
	const char *p = strstr(text, "/api/v1/invitations/");

	assert_non_null(p);
	p += strlen("/api/v1/invitations/");
	assert_true(strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43);
	memcpy(token, p, 43);
	token[43] = '\0';
}

/* ---- the member flow ---- */

static void test_member_invitation_message(void **state)
{
	struct manage_fixture *f = *state;
	const struct manage_message *m;

	mf_ok(f, mf_call(f, "alice", "invitation.create",
			  "{\"address\": \"sales@example.test\", \"member\": \"bob\", \"perms\": [\"read\", \"send\"]}"));
	assert_string_equal(mf_str(f->result, "kind"), "member");
	assert_string_equal(mf_str(f->result, "sent_to"), "bob@example.test");
	assert_string_equal(mf_str(f->result, "status"), "pending");
	assert_null(json_object_get(f->result, "token")); /* it reaches bob only by mail */
	m = f->ctx.outbox;
	assert_non_null(m);
	assert_null(m->next);
	assert_string_equal(m->envelope_from, "");
	assert_int_equal(m->rcpt_count, 1);
	assert_string_equal(m->rcpts[0], "bob@example.test");
	assert_non_null(strstr(m->data, "From: hermod <postmaster@mail.example.test>\r\n"));
	assert_non_null(strstr(m->data, "To: <bob@example.test>\r\n"));
	assert_non_null(strstr(m->data, "Subject: Invitation to use sales@example.test\r\n"));
	assert_int_equal(strncmp(m->data, "Date: ", 6), 0);
	assert_non_null(strstr(m->data, "Message-ID: <"));
	assert_non_null(strstr(m->data, "Content-Type: text/plain; charset=utf-8\r\n"));
	assert_non_null(strstr(m->data, "\r\n\r\nHello bob,"));
	assert_non_null(strstr(m->data, "with these rights: read, send."));
	assert_non_null(strstr(m->data, "http://mail.example.test:8080/api/v1/invitations/"));
	for (size_t i = 0; i < m->len; i++) /* CRLF only */
		if (m->data[i] == '\n')
			assert_true(i > 0 && m->data[i - 1] == '\r');
}

static void test_member_accepts(void **state)
{
	struct manage_fixture *f = *state;
	char token[44];

	mf_ok(f, mf_call(f, "alice", "invitation.create",
			  "{\"address\": \"sales@example.test\", \"member\": \"bob\", \"perms\": \"read,send\"}"));
	token_in(f->ctx.outbox->data, token);
	/* anyone holding the link sees what it offers */
	mf_ok(f, mf_call(f, "", "invitation.get", "{\"token\": \"%s\"}", token));
	assert_string_equal(mf_str(f->result, "address"), "sales@example.test");
	assert_string_equal(mf_str(f->result, "member"), "bob");
	/* only bob accepts it */
	mf_refused_text(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\"}", token), MANAGE_UNAUTHORIZED,
		   "log in as bob");
	mf_refused_text(f, mf_call(f, "carol", "invitation.accept", "{\"token\": \"%s\"}", token), MANAGE_FORBIDDEN,
		   "for the account bob");
	assert_int_equal(perms_of(f, "bob", "sales@example.test"), 0);
	mf_ok(f, mf_call(f, "bob", "invitation.accept", "{\"token\": \"%s\"}", token));
	assert_string_equal(mf_str(f->result, "account"), "bob");
	assert_int_equal(perms_of(f, "bob", "sales@example.test"), PERM_READ | PERM_SEND);
	mf_refused_text(f, mf_call(f, "bob", "invitation.accept", "{\"token\": \"%s\"}", token), MANAGE_GONE,
		   "this invitation was already used");
	mf_refused_text(f, mf_call(f, "", "invitation.get", "{\"token\": \"%s\"}", token), MANAGE_GONE, "already used");
	assert_true(history_has(f, "invitation.accept", "bob"));
}

static void test_member_refusals(void **state)
{
	struct manage_fixture *f = *state;

	mf_refused_text(f, mf_call(f, "alice", "invitation.create", "{\"address\": \"sales@example.test\", \"member\": \"erin\"}"),
		   MANAGE_NOT_FOUND, "erin is not a member of the organisation");
	mf_refused_text(f, mf_call(f, "alice", "invitation.create", "{\"address\": \"sales@example.test\", \"member\": \"carol\"}"),
		   MANAGE_INVALID, "account carol has no email address");
	/* an email with a line break never reaches a header field */
	assert_int_equal(store_manage_account_set_email(f->s, 3, "c@example.test\r\nBcc: x@evil.test", NULL), 0);
	mf_refused_text(f, mf_call(f, "alice", "invitation.create", "{\"address\": \"sales@example.test\", \"member\": \"carol\"}"),
		   MANAGE_INVALID, "email cannot receive the invitation");
	mf_refused_text(f, mf_call(f, NULL, "invitation.create", "{\"address\": \"sales@example.test\", \"member\": \"alice\"}"),
		   MANAGE_CONFLICT, "alice is an owner of the organisation");
	mf_refused_text(f, mf_call(f, "alice", "invitation.create",
			   "{\"address\": \"sales@example.test\", \"member\": \"bob\", \"email\": \"x@y.test\"}"),
		   MANAGE_INVALID, "not both");
	mf_refused_text(f, mf_call(f, "alice", "invitation.create", "{\"address\": \"sales@example.test\"}"), MANAGE_INVALID,
		   "not neither");
	assert_null(f->ctx.outbox);
}

/* ---- the external flow ---- */

static void test_external_creates_account(void **state)
{
	struct manage_fixture *f = *state;
	struct store_account a;
	const char *err = NULL;
	enum org_role role;
	char token[44];

	mf_ok(f, mf_call(f, "alice", "invitation.create",
			  "{\"address\": \"sales@example.test\", \"email\": \"Pat@Partner.test\", \"perms\": [\"read\"]}"));
	assert_string_equal(mf_str(f->result, "kind"), "external");
	assert_string_equal(mf_str(f->result, "sent_to"), "pat@partner.test");
	snprintf(token, sizeof(token), "%s", mf_str(f->result, "token"));
	assert_int_equal(strlen(token), 43);
	assert_non_null(strstr(mf_str(f->result, "url"), token));
	assert_string_equal(f->ctx.outbox->rcpts[0], "pat@partner.test");
	assert_non_null(strstr(f->ctx.outbox->data, token));
	assert_non_null(strstr(f->ctx.outbox->data, "with a login of your choice"));

	mf_refused_text(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\", \"login\": \"bob\", \"password\": \"long enough pw\"}",
			   token), MANAGE_CONFLICT, "account bob already exists");
	mf_refused_text(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\", \"login\": \"pat\", \"password\": \"short\"}",
			   token), MANAGE_INVALID, "");
	assert_string_equal(f->err.field, "password");
	mf_refused_text(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\", \"login\": \"p a t\", \"password\": \"long enough pw\"}",
			   token), MANAGE_INVALID, "");
	assert_string_equal(f->err.field, "login");
	mf_ok(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\", \"login\": \"pat\", \"password\": \"long enough pw\"}",
			  token));
	assert_true(json_is_true(json_object_get(f->result, "created")));
	assert_int_equal(store_account_get(f->s, "pat", &a, &err), 1);
	assert_int_equal(store_member_role(f->s, 1, a.id, &role, &err), 1);
	assert_int_equal(role, ROLE_MEMBER);
	assert_int_equal(perms_of(f, "pat", "sales@example.test"), PERM_READ);
	mf_refused_text(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\", \"login\": \"pat2\", \"password\": \"long enough pw\"}",
			   token), MANAGE_GONE, "already used");
}

static void test_external_login_rule(void **state)
{
	struct manage_fixture *f = *state;
	struct store_account a;
	const char *err = NULL;
	char token[44];

	mf_ok(f, mf_call(f, "alice", "invitation.create",
			  "{\"address\": \"sales@example.test\", \"email\": \"pat@partner.test\", \"account_login\": \"address\"}"));
	snprintf(token, sizeof(token), "%s", mf_str(f->result, "token"));
	assert_string_equal(mf_str(f->result, "login"), "sales@example.test");
	mf_refused_text(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\", \"login\": \"pat\", \"password\": \"long enough pw\"}",
			   token), MANAGE_INVALID, "with the login sales@example.test");
	mf_ok(f, mf_call(f, "", "invitation.accept", "{\"token\": \"%s\", \"password\": \"long enough pw\"}", token));
	assert_string_equal(mf_str(f->result, "account"), "sales@example.test");
	assert_int_equal(store_account_get(f->s, "sales@example.test", &a, &err), 1);
	/* the default rights: every one but handing on access */
	assert_int_equal(perms_of(f, "sales@example.test", "sales@example.test"), PERM_ALL & ~PERM_MANAGE_ACCESS);

	/* an existing account takes up an external invitation logged in */
	mf_ok(f, mf_call(f, "alice", "invitation.create", "{\"address\": \"bob@example.test\", \"email\": \"e@x.test\"}"));
	snprintf(token, sizeof(token), "%s", mf_str(f->result, "token"));
	mf_ok(f, mf_call(f, "erin", "invitation.accept", "{\"token\": \"%s\"}", token));
	assert_true(json_is_false(json_object_get(f->result, "created")));
	assert_int_not_equal(perms_of(f, "erin", "bob@example.test"), 0);
}

/* ---- sharing links ---- */

static void test_link_used_once(void **state)
{
	struct manage_fixture *f = *state;
	char token[44];
	json_t *links;

	mf_ok(f, mf_call(f, "alice", "sharing.create", "{\"address\": \"sales@example.test\", \"perms\": [\"read\"]}"));
	snprintf(token, sizeof(token), "%s", mf_str(f->result, "token"));
	assert_non_null(strstr(mf_str(f->result, "url"), "http://mail.example.test:8080/api/v1/links/"));
	mf_refused_text(f, mf_call(f, NULL, "sharing.redeem", "{\"token\": \"%s\"}", token), MANAGE_INVALID, "log in");
	mf_ok(f, mf_call(f, "carol", "sharing.redeem", "{\"token\": \"%s\"}", token));
	assert_int_equal(perms_of(f, "carol", "sales@example.test"), PERM_READ);
	mf_refused_text(f, mf_call(f, "bob", "sharing.redeem", "{\"token\": \"%s\"}", token), MANAGE_GONE,
		   "this sharing link was already used");
	assert_int_equal(perms_of(f, "bob", "sales@example.test"), 0);
	mf_ok(f, mf_call(f, "alice", "sharing.list", "{\"address\": \"sales@example.test\"}"));
	links = json_object_get(f->result, "links");
	assert_int_equal(json_array_size(links), 1);
	assert_string_equal(mf_str(json_array_get(links, 0), "status"), "used");
	assert_string_equal(mf_str(json_array_get(links, 0), "used_by"), "carol");
	assert_null(json_object_get(json_array_get(links, 0), "token"));
	assert_true(history_has(f, "sharing.create", "alice"));
	assert_true(history_has(f, "sharing.redeem", "carol"));
	/* a configured public_url is the base of links instead of the listener */
	f->cfg->public_url = xstrdup("https://console.example.test");
	mf_ok(f, mf_call(f, "alice", "sharing.create", "{\"address\": \"sales@example.test\"}"));
	assert_non_null(strstr(mf_str(f->result, "url"), "https://console.example.test/api/v1/links/"));
}

static void test_link_revoked_and_expired(void **state)
{
	struct manage_fixture *f = *state;
	char token[44];
	json_int_t id;

	mf_ok(f, mf_call(f, "alice", "sharing.create", "{\"address\": \"sales@example.test\"}"));
	snprintf(token, sizeof(token), "%s", mf_str(f->result, "token"));
	id = json_integer_value(json_object_get(f->result, "id"));
	mf_refused_text(f, mf_call(f, "bob", "sharing.revoke", "{\"id\": \"%lld\"}", (long long)id), MANAGE_NOT_FOUND,
		   "no sharing link");
	mf_ok(f, mf_call(f, "alice", "sharing.revoke", "{\"id\": \"%lld\"}", (long long)id));
	mf_refused_text(f, mf_call(f, "bob", "sharing.redeem", "{\"token\": \"%s\"}", token), MANAGE_GONE, "was revoked");
	mf_refused_text(f, mf_call(f, "alice", "sharing.revoke", "{\"id\": %lld}", (long long)id), MANAGE_GONE, "was revoked");

	mf_ok(f, mf_call(f, "alice", "sharing.create", "{\"address\": \"sales@example.test\", \"days\": 2}"));
	snprintf(token, sizeof(token), "%s", mf_str(f->result, "token"));
	mf_refused_text(f, mf_call_at(f, time(NULL) + 2 * 86400 + 5, "bob", "sharing.redeem", "{\"token\": \"%s\"}", token),
		   MANAGE_GONE, "this sharing link expired on");
	mf_ok(f, mf_call_at(f, time(NULL) + 86400, "bob", "sharing.redeem", "{\"token\": \"%s\"}", token));

	mf_refused_text(f, mf_call(f, "bob", "sharing.redeem", "{\"token\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
		   MANAGE_NOT_FOUND, "no such sharing link");
	mf_refused_text(f, mf_call(f, "bob", "sharing.redeem", "{\"token\": \"not-a-token\"}"), MANAGE_NOT_FOUND, "no such");
	mf_refused_text(f, mf_call(f, "alice", "sharing.create", "{\"address\": \"sales@example.test\", \"days\": 0}"),
		   MANAGE_INVALID, "days must be between 1 and 365");
}

/* ---- who may ---- */

static void test_permissions(void **state)
{
	struct manage_fixture *f = *state;

	/* no right at all on the address: it does not exist for them */
	mf_refused_text(f, mf_call(f, "bob", "sharing.create", "{\"address\": \"sales@example.test\"}"), MANAGE_NOT_FOUND,
		   "does not exist");
	mf_refused_text(f, mf_call(f, "erin", "invitation.create", "{\"address\": \"sales@example.test\", \"member\": \"bob\"}"),
		   MANAGE_NOT_FOUND, "does not exist");
	/* a right, but not "access" */
	assert_int_equal(store_access_grant(f->s, "bob", "sales", "example.test", PERM_READ | PERM_SEND, NULL), 0);
	mf_refused_text(f, mf_call(f, "bob", "sharing.create", "{\"address\": \"sales@example.test\"}"), MANAGE_FORBIDDEN,
		   "you lack the right 'access'");
	mf_refused_text(f, mf_call(f, "bob", "invitation.create", "{\"address\": \"sales@example.test\", \"email\": \"a@b.test\"}"),
		   MANAGE_FORBIDDEN, "you lack the right 'access'");
	mf_refused_text(f, mf_call(f, "bob", "sharing.list", "{\"address\": \"sales@example.test\"}"), MANAGE_FORBIDDEN,
		   "'access'");
	/* dave has access and read: he hands out read, never send */
	mf_refused_text(f, mf_call(f, "dave", "sharing.create", "{\"address\": \"sales@example.test\", \"perms\": [\"read\", \"send\"]}"),
		   MANAGE_FORBIDDEN, "you cannot hand out the right 'send'");
	mf_ok(f, mf_call(f, "dave", "sharing.create", "{\"address\": \"sales@example.test\"}"));
	assert_int_equal(json_array_size(json_object_get(f->result, "perms")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(f->result, "perms"), 0)), "read");
	/* a member invites only as a member: no admins */
	mf_refused_text(f, mf_call(f, "dave", "invitation.create",
			   "{\"address\": \"sales@example.test\", \"email\": \"a@b.test\", \"role\": \"admin\"}"),
		   MANAGE_FORBIDDEN, "only an owner or an admin");
	/* an anonymous caller reaches only get and accept */
	mf_refused_text(f, mf_call(f, "", "sharing.create", "{\"address\": \"sales@example.test\"}"), MANAGE_UNAUTHORIZED, "log in");
}

static void test_list_and_revoke_invitations(void **state)
{
	struct manage_fixture *f = *state;
	char token[44];
	json_int_t id;

	mf_ok(f, mf_call(f, "alice", "invitation.create", "{\"address\": \"sales@example.test\", \"member\": \"bob\"}"));
	id = json_integer_value(json_object_get(f->result, "id"));
	token_in(f->ctx.outbox->data, token);
	mf_ok(f, mf_call(f, "alice", "invitation.create", "{\"address\": \"sales@example.test\", \"member\": \"dave\"}"));
	/* bob sees his own, alice every one of the address */
	mf_ok(f, mf_call(f, "bob", "invitation.list", "{}"));
	assert_int_equal(json_array_size(json_object_get(f->result, "invitations")), 1);
	assert_string_equal(mf_str(json_array_get(json_object_get(f->result, "invitations"), 0), "member"), "bob");
	mf_ok(f, mf_call(f, "alice", "invitation.list", "{\"address\": \"sales@example.test\"}"));
	assert_int_equal(json_array_size(json_object_get(f->result, "invitations")), 2);
	mf_refused_text(f, mf_call(f, "carol", "invitation.revoke", "{\"id\": %lld}", (long long)id), MANAGE_NOT_FOUND,
		   "no invitation");
	mf_ok(f, mf_call(f, "alice", "invitation.revoke", "{\"id\": %lld}", (long long)id));
	assert_string_equal(mf_str(f->result, "status"), "revoked");
	mf_refused_text(f, mf_call(f, "bob", "invitation.accept", "{\"token\": \"%s\"}", token), MANAGE_GONE,
		   "this invitation was revoked");
	mf_refused_text(f, mf_call(f, "bob", "invitation.accept", "{\"token\": \"%s\"}", token), MANAGE_GONE, "revoked");
	assert_int_equal(perms_of(f, "bob", "sales@example.test"), 0);
	assert_true(history_has(f, "invitation.create", "alice"));
	assert_true(history_has(f, "invitation.revoke", "alice"));
}

/* address.create's hook for "for": "member" */
static void test_for_address_hook(void **state)
{
	struct manage_fixture *f = *state;
	struct manage_actor actor = { .system = true, .channel = "cli" };
	struct store_address addr;
	struct manage_error err = { 0 };
	const char *e = NULL;
	json_t *params = json_pack("{s:s, s:s}", "for", "member", "member", "bob"), *result = json_object();

	assert_int_equal(store_address_get(f->s, "sales", "example.test", &addr, &e), 1);
	manage_ctx_clear(&f->ctx);
	manage_ctx_init(&f->ctx, f->s, f->cfg, &actor);
	assert_int_equal(manage_invite_for_address(&f->ctx, &addr, params, result, &err), 0);
	assert_string_equal(mf_str(json_object_get(result, "invitation"), "member"), "bob");
	assert_non_null(f->ctx.outbox);
	json_object_set_new(params, "for", json_string("external"));
	assert_int_equal(manage_invite_for_address(&f->ctx, &addr, params, result, &err), -1);
	assert_string_equal(err.field, "email");
	json_decref(params);
	json_decref(result);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_member_invitation_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_accepts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_creates_account, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_login_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_used_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_revoked_and_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_revoke_invitations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_for_address_hook, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
