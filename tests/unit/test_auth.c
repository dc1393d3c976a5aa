/*
 * Unit tests for auth/auth: logins against a real store (SQLite in a temp
 * dir under $HERMOD_TEST_TMP) with real argon2id hashes, on a real libevent
 * loop: right and wrong passwords, address kinds, per-IP and per-address
 * throttling with its lockout message, the failure delay, cancel, and the
 * upgrade of a weaker (imported) hash at first login.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <sodium.h>

#include "auth/auth.h"
#include "auth/password.h"
#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_mail.h"

#define PW "alice-password-1"
#define PW_NR "noreply-password-1"

static char *g_dir;
static int64_t g_alice_id;

struct outcome {
	bool called;
	enum auth_result result;
	struct auth_identity id;
	char message[512];
	struct timespec at;
};

struct fix {
	struct event_base *base;
	struct auth_service *as;
	struct config cfg;
};

static void add_address(struct store *s, const char *local, enum address_kind kind, const char *password,
			int64_t *id_r)
{
	char hash[PASSWORD_HASH_MAX], err[128];
	const char *errstr = NULL;

	if (password != NULL && password_hash(password, hash, err, sizeof(err)) < 0)
		fail_msg("hash: %s", err);
	if (store_address_add(s, local, "x.test", kind, password ? hash : NULL, id_r, &errstr) < 0)
		fail_msg("address add %s: %s", local, errstr);
}

static int group_setup(void **state)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	const char *err = NULL;
	struct store *s;
	int64_t id;

	if (password_init() < 0)
		return -1;
	g_dir = xasprintf("%s/auth-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	if (store_open(g_dir, &s, &err) < 0)
		fail_msg("store_open: %s", err);
	if (store_domain_add(s, "x.test", NULL, PLAN_PRO, NULL, &err) < 0)
		fail_msg("domain add: %s", err);
	add_address(s, "alice", ADDRESS_MAILBOX, PW, &g_alice_id);
	add_address(s, "bob", ADDRESS_MAILBOX, PW, &id);
	add_address(s, "no-reply", ADDRESS_NOREPLY, PW_NR, &id);
	add_address(s, "catchall", ADDRESS_CATCHALL, NULL, &id);
	add_address(s, "list", ADDRESS_ALIAS, NULL, &id);
	store_close(s);
	return 0;
}

static int group_teardown(void **state)
{
	testutil_rmtree(g_dir);
	free(g_dir);
	return 0;
}

static struct fix *fix_new(unsigned max_failures, unsigned delay_s)
{
	struct fix *f = xcalloc(1, sizeof(*f));
	const char *err = NULL;

	f->base = event_base_new();
	f->as = auth_service_new(f->base, g_dir, 2, &err);
	if (f->as == NULL)
		fail_msg("auth_service_new: %s", err);
	f->cfg.auth_max_failures = max_failures;
	f->cfg.auth_lockout_s = 600;
	f->cfg.auth_failure_delay_s = delay_s;
	auth_service_set_config(f->as, &f->cfg);
	return f;
}

static void fix_free(struct fix *f)
{
	auth_service_free(f->as);
	event_base_free(f->base);
	free(f);
}

static void on_result(enum auth_result result, const struct auth_identity *id, const char *message, void *arg)
{
	struct outcome *o = arg;

	assert_false(o->called); /* exactly once */
	o->called = true;
	o->result = result;
	if (result == AUTH_OK) {
		assert_non_null(id);
		o->id = *id;
	} else {
		assert_null(id);
	}
	snprintf(o->message, sizeof(o->message), "%s", message);
	clock_gettime(CLOCK_MONOTONIC, &o->at);
}

static double since(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) + (double)(t1->tv_nsec - t0->tv_nsec) / 1e9;
}

/* Runs the loop until o is answered (or 30 s pass). */
static void wait_for(struct fix *f, struct outcome *o)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!o->called) {
		event_base_loop(f->base, EVLOOP_ONCE);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (since(&t0, &now) > 30)
			fail_msg("no answer within 30 s");
	}
}

/* Runs the loop for about ms milliseconds. */
static void spin(struct fix *f, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

static enum auth_result login(struct fix *f, const char *ip, const char *addr, const char *pw, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	auth_login(f->as, "imap", ip, addr, pw, on_result, o);
	/* Never answered inside auth_login: the caller must be able to store the handle first. */
	assert_false(o->called);
	wait_for(f, o);
	return o->result;
}

static void test_right_and_wrong(void **state)
{
	struct fix *f = fix_new(100, 0);
	struct outcome o;

	(void)state;
	assert_int_equal(login(f, "192.0.2.1", "alice@x.test", PW, &o), AUTH_OK);
	assert_string_equal(o.id.address, "alice@x.test");
	assert_int_equal(o.id.address_id, g_alice_id);
	assert_int_equal(o.id.plan, PLAN_PRO);
	/* Addresses are case-insensitive; passwords are not. */
	assert_int_equal(login(f, "192.0.2.1", "ALICE@X.Test", PW, &o), AUTH_OK);
	assert_string_equal(o.id.address, "alice@x.test");
	assert_int_equal(login(f, "192.0.2.1", "alice@x.test", "ALICE-PASSWORD-1", &o), AUTH_FAILED);
	assert_string_equal(o.message, "Authentication failed");
	assert_int_equal(login(f, "192.0.2.1", "alice@x.test", "", &o), AUTH_FAILED);
	/* An unknown address gets the very same answer (no user enumeration). */
	assert_int_equal(login(f, "192.0.2.1", "nobody@x.test", PW, &o), AUTH_FAILED);
	assert_string_equal(o.message, "Authentication failed");
	assert_int_equal(login(f, "192.0.2.1", "alice@elsewhere.test", PW, &o), AUTH_FAILED);
	assert_int_equal(login(f, "192.0.2.1", "not an address\r\n", PW, &o), AUTH_FAILED);
	fix_free(f);
}

static void test_kinds(void **state)
{
	struct fix *f = fix_new(100, 0);
	struct outcome o;

	(void)state;
	/* A no-reply address sends mail, so it logs in (submission, later). */
	assert_int_equal(login(f, "192.0.2.1", "no-reply@x.test", PW_NR, &o), AUTH_OK);
	/* Catchall and alias have no password and no mailbox of their own. */
	assert_int_equal(login(f, "192.0.2.1", "catchall@x.test", "", &o), AUTH_FAILED);
	assert_int_equal(login(f, "192.0.2.1", "catchall@x.test", PW, &o), AUTH_FAILED);
	assert_int_equal(login(f, "192.0.2.1", "list@x.test", PW, &o), AUTH_FAILED);
	assert_string_equal(o.message, "Authentication failed");
	fix_free(f);
}

static void test_lockout_per_ip(void **state)
{
	struct fix *f = fix_new(3, 0);
	struct outcome o;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, "192.0.2.7", i == 1 ? "bob@x.test" : "alice@x.test", "wrong", &o),
				 AUTH_FAILED);
	/* Locked out: even the right password is refused, with how long to wait. */
	assert_int_equal(login(f, "192.0.2.7", "bob@x.test", PW, &o), AUTH_THROTTLED);
	assert_non_null(strstr(o.message, "Too many failed logins from 192.0.2.7"));
	assert_non_null(strstr(o.message, "try again in 10 minutes"));
	assert_null(strstr(o.message, PW));
	/* Another IP, and an address that did not reach the limit, are unaffected. */
	assert_int_equal(login(f, "192.0.2.8", "bob@x.test", PW, &o), AUTH_OK);
	fix_free(f);
}

static void test_lockout_per_address(void **state)
{
	struct fix *f = fix_new(3, 0);
	struct outcome o;
	char ip[32];

	(void)state;
	/* A distributed guesser: one try per IP, all on alice. */
	for (int i = 0; i < 3; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		assert_int_equal(login(f, ip, "alice@x.test", "guess", &o), AUTH_FAILED);
	}
	assert_int_equal(login(f, "198.51.100.50", "Alice@x.test", PW, &o), AUTH_THROTTLED);
	assert_non_null(strstr(o.message, "Too many failed logins for alice@x.test"));
	assert_non_null(strstr(o.message, "try again in"));
	/* bob is not locked, nor is that IP. */
	assert_int_equal(login(f, "198.51.100.50", "bob@x.test", PW, &o), AUTH_OK);
	fix_free(f);
}

/* A success clears the address's count: three failures spread around successes do not lock. */
static void test_success_resets_address(void **state)
{
	struct fix *f = fix_new(3, 0);
	struct outcome o;

	(void)state;
	for (int round = 0; round < 3; round++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "203.0.113.%d", round * 2 + 1);
		assert_int_equal(login(f, ip, "alice@x.test", "typo", &o), AUTH_FAILED);
		snprintf(ip, sizeof(ip), "203.0.113.%d", round * 2 + 2);
		assert_int_equal(login(f, ip, "alice@x.test", PW, &o), AUTH_OK);
	}
	fix_free(f);
}

static void test_failure_delay(void **state)
{
	struct fix *f = fix_new(100, 1);
	struct outcome o;
	struct timespec t0;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(login(f, "192.0.2.9", "alice@x.test", "nope", &o), AUTH_FAILED);
	assert_true(since(&t0, &o.at) >= 1.0);
	/* The second failure waits longer (the delay grows with the count). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(login(f, "192.0.2.9", "alice@x.test", "nope", &o), AUTH_FAILED);
	assert_true(since(&t0, &o.at) >= 2.0);
	fix_free(f);
}

static void test_cancel(void **state)
{
	struct fix *f = fix_new(2, 0);
	struct outcome o1, o2, o;

	(void)state;
	memset(&o1, 0, sizeof(o1));
	memset(&o2, 0, sizeof(o2));
	/* Cancelled right away: never answered, but the failures still count. */
	auth_req_cancel(auth_login(f->as, "imap", "192.0.2.20", "alice@x.test", "bad1", on_result, &o1));
	auth_req_cancel(auth_login(f->as, "imap", "192.0.2.20", "alice@x.test", "bad2", on_result, &o2));
	spin(f, 1500);
	assert_false(o1.called);
	assert_false(o2.called);
	assert_int_equal(login(f, "192.0.2.20", "bob@x.test", PW, &o), AUTH_THROTTLED);
	fix_free(f);
}

/* Cancel while the failure waits out its delay, and free the service with requests in flight. */
static void test_cancel_delayed_and_free(void **state)
{
	struct fix *f = fix_new(100, 5);
	struct outcome o1, o2;
	struct auth_req *r;

	(void)state;
	memset(&o1, 0, sizeof(o1));
	memset(&o2, 0, sizeof(o2));
	r = auth_login(f->as, "imap", "192.0.2.30", "alice@x.test", "bad", on_result, &o1);
	spin(f, 1500); /* the check is done; the answer waits 5 s */
	assert_false(o1.called);
	auth_req_cancel(r);
	auth_login(f->as, "imap", "192.0.2.31", "alice@x.test", PW, on_result, &o2);
	fix_free(f); /* no callback, no leak (LeakSanitizer) */
	assert_false(o1.called);
	assert_false(o2.called);
}

/* The stored hash of address, read from a fresh connection. */
static void stored_hash(const char *address, char hash_r[PASSWORD_HASH_MAX])
{
	struct store_login l;
	const char *err = NULL;
	struct store *s;

	if (store_open(g_dir, &s, &err) < 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_login_get(s, address, &l, &err), 1);
	snprintf(hash_r, PASSWORD_HASH_MAX, "%s", l.password_hash);
	store_close(s);
}

/* An {ARGON2ID} hash imported with a lower cost is replaced at the current cost by the first login. */
static void test_weak_hash_upgraded_at_login(void **state)
{
	char weak[PASSWORD_HASH_MAX], after[PASSWORD_HASH_MAX];
	const char *err = NULL;
	struct outcome o;
	struct store *s;
	struct fix *f;
	int64_t id;

	(void)state;
	assert_int_equal(crypto_pwhash_str(weak, PW, strlen(PW), crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN),
			 0);
	assert_true(password_needs_rehash(weak));
	if (store_open(g_dir, &s, &err) < 0)
		fail_msg("store_open: %s", err);
	if (store_address_add(s, "imported", "x.test", ADDRESS_MAILBOX, weak, &id, &err) < 0)
		fail_msg("address add: %s", err);
	store_close(s);
	f = fix_new(100, 0);
	/* a wrong password changes nothing */
	assert_int_equal(login(f, "192.0.2.9", "imported@x.test", "not-the-password", &o), AUTH_FAILED);
	stored_hash("imported@x.test", after);
	assert_string_equal(after, weak);
	assert_int_equal(login(f, "192.0.2.9", "imported@x.test", PW, &o), AUTH_OK);
	stored_hash("imported@x.test", after);
	assert_string_not_equal(after, weak);
	assert_false(password_needs_rehash(after));
	assert_true(password_verify(after, PW));
	/* and the upgraded hash logs in (and stays as it is: nothing more to upgrade) */
	assert_int_equal(login(f, "192.0.2.9", "imported@x.test", PW, &o), AUTH_OK);
	stored_hash("imported@x.test", weak);
	assert_string_equal(weak, after);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_right_and_wrong),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_lockout_per_ip),
		cmocka_unit_test(test_lockout_per_address),
		cmocka_unit_test(test_success_resets_address),
		cmocka_unit_test(test_failure_delay),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_delayed_and_free),
		cmocka_unit_test(test_weak_hash_upgraded_at_login),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
