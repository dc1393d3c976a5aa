/*
 * Unit tests for store/store_inbound on a real SQLite store in a temporary
 * directory: secrets made once and shared by connections, auto-reply
 * settings and the once-per-period log, alias targets replaced (kept ones
 * untouched, removed ones gone, at most 10) and confirmed once by token,
 * within 30 days of the token's issue; a new token restarts the 30 days.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_inbound.h"
#include "store/store_private.h" /* s->db: move a token's issue time back */

#define T0 1767225600

struct fixture {
	char *dir;
	struct store *s;
	int64_t alias, alice;
};

#define OK(call)                                                                    \
	do {                                                                        \
		const char *err_ = NULL;                                            \
		if ((call) < 0)                                                     \
			fail_msg("%s failed: %s", #call, err_ != NULL ? err_ : "?"); \
	} while (0)
#define E (&err_)

static int setup(void **state)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *err = NULL;

	f->dir = xasprintf("%s/sinbound-XXXXXX", base != NULL ? base : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(sodium_init() >= 0, 1);
	if (store_open(f->dir, &f->s, &err) < 0)
		fail_msg("store_open: %s", err);
	OK(store_domain_add(f->s, "example.org", NULL, PLAN_PRO, NULL, E));
	OK(store_address_add(f->s, "alice", "example.org", ADDRESS_MAILBOX, "x", &f->alice, E));
	OK(store_address_add(f->s, "team", "example.org", ADDRESS_ALIAS, NULL, &f->alias, E));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	testutil_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void test_secret(void **state)
{
	struct fixture *f = *state;
	unsigned char a[32], b[32], zero[32] = { 0 };
	struct store *other;
	const char *err = NULL;

	assert_int_equal(store_inbound_secret(f->s, "srs", a, sizeof(a), false, &err), 0);
	assert_int_equal(store_inbound_secret(f->s, "srs", a, sizeof(a), true, &err), 1);
	assert_memory_not_equal(a, zero, sizeof(a));
	/* another connection (another thread or process) sees the same one, and never makes a second */
	assert_int_equal(store_open(f->dir, &other, &err), 0);
	assert_int_equal(store_inbound_secret(other, "srs", b, sizeof(b), true, &err), 1);
	assert_memory_equal(a, b, sizeof(a));
	store_close(other);
	/* a different length is an error, not a silent truncation */
	assert_int_equal(store_inbound_secret(f->s, "srs", b, 16, false, &err), -1);
	assert_non_null(strstr(err, "wrong length"));
}

static void test_autoreply(void **state)
{
	struct fixture *f = *state;
	struct store_autoreply *ar = xcalloc(1, sizeof(*ar)), *got = xcalloc(1, sizeof(*got));
	bool enabled;
	int64_t starts, ends, at;
	const char *err = NULL;

	assert_int_equal(store_inbound_autoreply_get(f->s, f->alice, got, &err), 0);
	assert_int_equal(store_inbound_autoreply_window(f->s, f->alice, &enabled, &starts, &ends, &err), 0);
	ar->enabled = true;
	snprintf(ar->subject, sizeof(ar->subject), "Away");
	snprintf(ar->body, sizeof(ar->body), "Back on Monday\n");
	ar->ends_at = T0 + 86400;
	OK(store_inbound_autoreply_set(f->s, f->alice, ar, E));
	assert_int_equal(store_inbound_autoreply_get(f->s, f->alice, got, &err), 1);
	assert_true(got->enabled);
	assert_string_equal(got->subject, "Away");
	assert_string_equal(got->body, "Back on Monday\n");
	assert_int_equal(got->starts_at, 0);
	assert_int_equal(got->ends_at, T0 + 86400);
	assert_int_equal(got->period_s, 0);
	assert_int_equal(store_inbound_autoreply_window(f->s, f->alice, &enabled, &starts, &ends, &err), 1);
	assert_true(enabled);
	assert_int_equal(ends, T0 + 86400);
	/* the log: case-insensitive per sender, replaced on each answer */
	assert_int_equal(store_inbound_autoreply_last(f->s, f->alice, "bob@x.test", &at, &err), 0);
	OK(store_inbound_autoreply_log(f->s, f->alice, "bob@x.test", T0, E));
	assert_int_equal(store_inbound_autoreply_last(f->s, f->alice, "BOB@X.TEST", &at, &err), 1);
	assert_int_equal(at, T0);
	OK(store_inbound_autoreply_log(f->s, f->alice, "Bob@x.test", T0 + 5, E));
	assert_int_equal(store_inbound_autoreply_last(f->s, f->alice, "bob@x.test", &at, &err), 1);
	assert_int_equal(at, T0 + 5);
	free(ar);
	free(got);
}

struct listing {
	struct store_alias_target t[16];
	size_t n;
};

static void collect(const struct store_alias_target *t, void *arg)
{
	struct listing *l = arg;

	l->t[l->n++] = *t;
}

static void list(struct fixture *f, struct listing *l)
{
	const char *err = NULL;

	memset(l, 0, sizeof(*l));
	assert_int_equal(store_inbound_targets(f->s, f->alias, collect, l, &err), 0);
}

static void test_targets(void **state)
{
	struct fixture *f = *state;
	unsigned char h1[32], h2[32];
	char target[320];
	int64_t alias_id;
	bool expired = true;
	struct listing l;
	const char *err = NULL;

	crypto_hash_sha256(h1, (const unsigned char *)"token-one", 9);
	crypto_hash_sha256(h2, (const unsigned char *)"token-two", 9);
	struct store_alias_target_new first[] = {
		{ .target = "alice@example.org" },
		{ .target = "ext@remote.test", .token_hash = h1 },
	};
	OK(store_inbound_targets_set(f->s, f->alias, first, 2, T0, E));
	list(f, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.t[1].target, "ext@remote.test");
	assert_false(l.t[1].confirmed);
	assert_true(l.t[1].has_token);
	/* confirmed once; the token then works no more */
	assert_int_equal(store_inbound_target_confirm(f->s, h1, 0, &alias_id, target, sizeof(target), &expired, &err), 1);
	assert_int_equal(alias_id, f->alias);
	assert_string_equal(target, "ext@remote.test");
	assert_false(expired);
	assert_int_equal(store_inbound_target_confirm(f->s, h1, 0, &alias_id, target, sizeof(target), &expired, &err), 0);
	/* replaced: the kept one stays confirmed with its date, alice goes, a new one waits */
	struct store_alias_target_new second[] = {
		{ .target = "EXT@remote.test", .keep = true },
		{ .target = "new@remote.test", .token_hash = h2 },
	};
	OK(store_inbound_targets_set(f->s, f->alias, second, 2, T0 + 100, E));
	list(f, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.t[0].target, "ext@remote.test");
	assert_true(l.t[0].confirmed);
	assert_int_equal(l.t[0].created_at, T0);
	assert_string_equal(l.t[1].target, "new@remote.test");
	assert_int_equal(l.t[1].created_at, T0 + 100);
	/* removing a target voids its outstanding token */
	OK(store_inbound_targets_set(f->s, f->alias, second, 1, T0 + 200, E));
	assert_int_equal(store_inbound_target_confirm(f->s, h2, 0, &alias_id, target, sizeof(target), &expired, &err), 0);
	/* at most 10 */
	struct store_alias_target_new many[11];
	for (int i = 0; i < 11; i++)
		many[i] = (struct store_alias_target_new){ .target = "x@y.test" };
	assert_int_equal(store_inbound_targets_set(f->s, f->alias, many, 11, T0, &err), -1);
	assert_non_null(strstr(err, "at most 10"));
	assert_int_equal(store_inbound_address_name(f->s, f->alias, target, sizeof(target), &err), 1);
	assert_string_equal(target, "team@example.org");
	assert_int_equal(store_inbound_address_name(f->s, 999999, target, sizeof(target), &err), 0);
}

#define DAY 86400
#define VALID_SINCE(now) ((now) - 30 * DAY)

static void age_tokens(struct fixture *f, int64_t seconds)
{
	char *sql = xasprintf("UPDATE alias_targets SET created_at = created_at - %lld WHERE token_hash IS NOT NULL",
			      (long long)seconds);

	assert_int_equal(sqlite3_exec(f->s->db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
}

/* A token issued 31 days ago is expired and changes nothing; a new token for the target works again. */
static void test_target_token_expiry(void **state)
{
	struct fixture *f = *state;
	unsigned char h1[32], h2[32];
	char target[320];
	int64_t alias_id = 0;
	bool expired = false;
	struct listing l;
	const char *err = NULL;

	crypto_hash_sha256(h1, (const unsigned char *)"token-one", 9);
	crypto_hash_sha256(h2, (const unsigned char *)"token-two", 9);
	struct store_alias_target_new first[] = { { .target = "ext@remote.test", .token_hash = h1 } };
	OK(store_inbound_targets_set(f->s, f->alias, first, 1, T0, E));
	age_tokens(f, 31 * DAY);
	assert_int_equal(store_inbound_target_confirm(f->s, h1, VALID_SINCE(T0), &alias_id, target, sizeof(target),
						      &expired, &err), 1);
	assert_true(expired);
	assert_int_equal(alias_id, f->alias);
	assert_string_equal(target, "ext@remote.test");
	list(f, &l);
	assert_int_equal(l.n, 1);
	assert_false(l.t[0].confirmed);
	assert_true(l.t[0].has_token);
	/* the same target given a new token (not kept): its issue time is now again, the old token is void */
	struct store_alias_target_new again[] = { { .target = "ext@remote.test", .token_hash = h2 } };
	OK(store_inbound_targets_set(f->s, f->alias, again, 1, T0 + 40 * DAY, E));
	list(f, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.t[0].created_at, T0 + 40 * DAY);
	assert_int_equal(store_inbound_target_confirm(f->s, h1, VALID_SINCE(T0 + 40 * DAY), &alias_id, target,
						      sizeof(target), &expired, &err), 0);
	/* 29 days later it is still valid */
	age_tokens(f, 29 * DAY);
	assert_int_equal(store_inbound_target_confirm(f->s, h2, VALID_SINCE(T0 + 40 * DAY), &alias_id, target,
						      sizeof(target), &expired, &err), 1);
	assert_false(expired);
	list(f, &l);
	assert_true(l.t[0].confirmed);
	assert_false(l.t[0].has_token);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_autoreply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_token_expiry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
