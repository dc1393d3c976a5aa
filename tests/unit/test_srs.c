/*
 * Unit tests for inbound/srs: the SRS0 form, reversal of what we wrote,
 * case changes on the way back, forged and altered hashes, the 21-day age
 * limit across the 1024-day wrap, and senders that cannot be rewritten.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "inbound/srs.h"

#define DAY 86400
#define NOW ((int64_t)1767225600) /* Thu, 01 Jan 2026 00:00:00 +0000 */

static const unsigned char key[SRS_KEY_BYTES] = "0123456789abcdef0123456789abcdef";
static const unsigned char other_key[SRS_KEY_BYTES] = "fedcba9876543210fedcba9876543210";

/* The local part of an address (up to the last '@'). */
static void local_of(const char *addr, char *out, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t n = at != NULL ? (size_t)(at - addr) : strlen(addr);

	assert_true(n < size);
	memcpy(out, addr, n);
	out[n] = '\0';
}

static void test_form(void **state)
{
	char out[320], local[128];

	assert_int_equal(srs_forward(key, "alice@example.com", "alias.test", NOW, out, sizeof(out)), 0);
	/* SRS0=HHHHH=TT=example.com=alice@alias.test */
	assert_memory_equal(out, "SRS0=", 5);
	assert_int_equal(out[10], '=');
	assert_int_equal(out[13], '=');
	assert_string_equal(out + 14, "example.com=alice@alias.test");
	for (int i = 5; i < 10; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", out[i]));
	local_of(out, local, sizeof(local));
	assert_true(srs_is_srs(local));
	assert_false(srs_is_srs("alice"));
	assert_true(srs_is_srs("srs0=x"));
	/* deterministic for the same day, different on another day */
	{
		char again[320], later[320];
		assert_int_equal(srs_forward(key, "alice@example.com", "alias.test", NOW + 3600, again, sizeof(again)), 0);
		assert_string_equal(out, again);
		assert_int_equal(srs_forward(key, "alice@example.com", "alias.test", NOW + DAY, later, sizeof(later)), 0);
		assert_string_not_equal(out, later);
	}
}

static void test_round_trip(void **state)
{
	static const char *const senders[] = { "alice@example.com", "first.last+tag@sub.example.org",
					       "a=b@example.net", "x@y.z" };
	char out[320], local[128], orig[320];

	for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		assert_int_equal(srs_forward(key, senders[i], "alias.test", NOW, out, sizeof(out)), 0);
		local_of(out, local, sizeof(local));
		assert_int_equal(srs_reverse(key, local, NOW, orig, sizeof(orig)), SRS_VALID);
		assert_string_equal(orig, senders[i]);
	}
}

static void test_case_insensitive(void **state)
{
	char out[320], local[128], orig[320];

	assert_int_equal(srs_forward(key, "Alice@Example.COM", "alias.test", NOW, out, sizeof(out)), 0);
	local_of(out, local, sizeof(local));
	for (char *p = local; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	assert_int_equal(srs_reverse(key, local, NOW, orig, sizeof(orig)), SRS_VALID);
	assert_string_equal(orig, "alice@example.com"); /* what came back, lower-cased by the remote */
	for (char *p = local; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	assert_int_equal(srs_reverse(key, local, NOW, orig, sizeof(orig)), SRS_VALID);
}

static void test_forged(void **state)
{
	char out[320], local[128], orig[320];

	assert_int_equal(srs_forward(key, "alice@example.com", "alias.test", NOW, out, sizeof(out)), 0);
	local_of(out, local, sizeof(local));
	/* another installation's key */
	assert_int_equal(srs_reverse(other_key, local, NOW, orig, sizeof(orig)), SRS_BAD_HASH);
	/* the destination changed: the relay attempt the hash exists to stop */
	{
		char forged[128];
		snprintf(forged, sizeof(forged), "%.14sevil.example=victim", local);
		assert_int_equal(srs_reverse(key, forged, NOW, orig, sizeof(orig)), SRS_BAD_HASH);
	}
	/* one hash character changed */
	local[5] = local[5] == 'A' ? 'B' : 'A';
	assert_int_equal(srs_reverse(key, local, NOW, orig, sizeof(orig)), SRS_BAD_HASH);
	/* a hand-made address */
	assert_int_equal(srs_reverse(key, "SRS0=AAAAA=AA=example.com=alice", NOW, orig, sizeof(orig)), SRS_BAD_HASH);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = { "SRS0=", "SRS0=AAAAA", "SRS0=AAAAA=AA", "SRS0=AAAAA=AA=example.com",
					   "SRS0=AAAAA=AA=example.com=", "SRS0=AAAAA=AA==alice", "SRS0=AAAA=AAA=x=y",
					   "SRS0=AAAAAA=AA=x=y" };
	char orig[320];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum srs_status st = srs_reverse(key, bad[i], NOW, orig, sizeof(orig));
		assert_true(st == SRS_MALFORMED || st == SRS_BAD_HASH);
	}
	assert_int_equal(srs_reverse(key, "alice", NOW, orig, sizeof(orig)), SRS_NOT_SRS);
	assert_int_equal(srs_reverse(key, "SRS1=AAAAA=x==y=z", NOW, orig, sizeof(orig)), SRS_NOT_SRS);
}

static void test_age(void **state)
{
	char out[320], local[128], orig[320];

	assert_int_equal(srs_forward(key, "alice@example.com", "alias.test", NOW, out, sizeof(out)), 0);
	local_of(out, local, sizeof(local));
	assert_int_equal(srs_reverse(key, local, NOW + 21 * DAY, orig, sizeof(orig)), SRS_VALID);
	assert_int_equal(srs_reverse(key, local, NOW + 22 * DAY, orig, sizeof(orig)), SRS_EXPIRED);
	/* from the future (a clock set back, or a forged timestamp with a guessed hash) */
	assert_int_equal(srs_reverse(key, local, NOW - DAY, orig, sizeof(orig)), SRS_EXPIRED);
	/* across the wrap of the 1024-day counter: day 1023 read on day 1029 (mod 1024 = 5) */
	{
		int64_t day1023 = ((NOW / DAY) / 1024 * 1024 + 1023) * DAY;
		assert_int_equal(srs_forward(key, "bob@example.com", "alias.test", day1023, out, sizeof(out)), 0);
		local_of(out, local, sizeof(local));
		assert_int_equal(srs_reverse(key, local, day1023 + 6 * DAY, orig, sizeof(orig)), SRS_VALID);
		assert_string_equal(orig, "bob@example.com");
		assert_int_equal(srs_reverse(key, local, day1023 + 30 * DAY, orig, sizeof(orig)), SRS_EXPIRED);
	}
}

static void test_cannot_rewrite(void **state)
{
	char out[320];
	char long_sender[128];

	assert_int_equal(srs_forward(key, "", "alias.test", NOW, out, sizeof(out)), -1);
	assert_int_equal(srs_forward(key, "no-at-sign", "alias.test", NOW, out, sizeof(out)), -1);
	assert_int_equal(srs_forward(key, "\"quoted local\"@example.com", "alias.test", NOW, out, sizeof(out)), -1);
	assert_int_equal(srs_forward(key, "a@b=c", "alias.test", NOW, out, sizeof(out)), -1);
	/* the rewritten local part would pass 64 octets: a bounce could not come back */
	snprintf(long_sender, sizeof(long_sender), "%s@%s", "a-rather-long-local-part-for-srs", "long-domain.example.org");
	assert_int_equal(srs_forward(key, long_sender, "alias.test", NOW, out, sizeof(out)), -1);
	/* too small an output buffer */
	assert_int_equal(srs_forward(key, "alice@example.com", "alias.test", NOW, out, 20), -1);
	assert_string_equal(srs_status_name(SRS_EXPIRED), "expired");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form),	 cmocka_unit_test(test_round_trip), cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_forged),	 cmocka_unit_test(test_malformed),  cmocka_unit_test(test_age),
		cmocka_unit_test(test_cannot_rewrite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
