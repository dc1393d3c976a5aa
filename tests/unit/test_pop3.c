/*
 * Unit tests for pop3/pop3_msg: the RETR/TOP output filter (byte-stuffing,
 * line ends, TOP line counting, split at every position), argument parsing,
 * the read-ahead choice and LIST/UIDL listing lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "pop3/pop3_msg.h"

struct out {
	char *p;
	size_t len, cap;
};

static void collect(const char *p, size_t len, void *arg)
{
	struct out *o = arg;

	assert_true(len > 0);
	if (o->len + len + 1 > o->cap) {
		o->cap = (o->len + len + 1) * 2;
		o->p = xrealloc(o->p, o->cap);
	}
	memcpy(o->p + o->len, p, len);
	o->len += len;
	o->p[o->len] = '\0';
}

/* Feeds in pieces cut at the given positions (ascending, sorted); returns the output. */
static struct out run_split(const char *in, size_t len, bool top, uint64_t lines, const size_t *cuts, size_t ncuts)
{
	struct pop3_msg_filter f;
	struct out o = { xcalloc(1, 1), 0, 1 };
	size_t start = 0;

	pop3_msg_filter_init(&f, top, lines);
	for (size_t k = 0; k <= ncuts && !f.done; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		size_t used = pop3_msg_filter_feed(&f, in + start, end - start, collect, &o);
		assert_true(used <= end - start);
		if (used < end - start)
			assert_true(f.done);
		start = end;
	}
	pop3_msg_filter_finish(&f, collect, &o);
	return o;
}

static struct out run(const char *in, bool top, uint64_t lines)
{
	return run_split(in, strlen(in), top, lines, NULL, 0);
}

/* The output is the same however the input is cut: every single cut, every pair of cuts, and byte by byte. */
static void check_splits(const char *in, bool top, uint64_t lines, const char *expect)
{
	size_t len = strlen(in);
	struct out whole = run(in, top, lines);

	if (strcmp(whole.p, expect) != 0)
		fail_msg("in=%s\ngot=%s\nwant=%s", in, whole.p, expect);
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			size_t cuts[2] = { a, b };
			struct out o = run_split(in, len, top, lines, cuts, 2);
			if (strcmp(o.p, expect) != 0)
				fail_msg("cut at %zu,%zu: got %s want %s", a, b, o.p, expect);
			free(o.p);
		}
	}
	size_t *every = xmalloc((len + 1) * sizeof(*every));
	for (size_t i = 0; i < len; i++)
		every[i] = i + 1;
	struct out o = run_split(in, len, top, lines, every, len);
	assert_string_equal(o.p, expect);
	free(o.p);
	free(every);
	free(whole.p);
}

static void test_retr_table(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", ".\r\n" },
		{ "a\r\n", "a\r\n.\r\n" },
		{ "a", "a\r\n.\r\n" },                           /* unterminated last line */
		{ "a\nb\n", "a\r\nb\r\n.\r\n" },                 /* bare LF becomes CRLF */
		{ ".\r\n", "..\r\n.\r\n" },                      /* a lone dot is stuffed */
		{ "x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n" },  /* would end the response early */
		{ "..x\r\n", "...x\r\n.\r\n" },
		{ "a.b\r\n.c", "a.b\r\n..c\r\n.\r\n" },          /* only at line start */
		{ "a\rb\r\n", "a\rb\r\n.\r\n" },                 /* bare CR is data */
		{ "a\r", "a\r\n.\r\n" },                         /* trailing CR ends the line */
		{ "\r.\r\n", "\r.\r\n.\r\n" },                   /* after a bare CR the dot is not at a line start */
		{ "\r\n\r\n", "\r\n\r\n.\r\n" },
		{ "\n.\n", "\r\n..\r\n.\r\n" },
		{ "a\r\r\n", "a\r\r\n.\r\n" },
		{ "H: v\r\n\r\nbody\r\n.\r\n..\r\n", "H: v\r\n\r\nbody\r\n..\r\n...\r\n.\r\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_splits(cases[i].in, false, 0, cases[i].out);
}

static const char msg[] = "From: a@b\r\nSubject: s\r\n\r\nline1\r\n.line2\r\nline3\nline4";

static void test_top_table(void **state)
{
	(void)state;
	check_splits(msg, true, 0, "From: a@b\r\nSubject: s\r\n\r\n.\r\n");
	check_splits(msg, true, 1, "From: a@b\r\nSubject: s\r\n\r\nline1\r\n.\r\n");
	check_splits(msg, true, 2, "From: a@b\r\nSubject: s\r\n\r\nline1\r\n..line2\r\n.\r\n");
	check_splits(msg, true, 3, "From: a@b\r\nSubject: s\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n");
	/* More lines than the body has: the whole message, terminated. */
	check_splits(msg, true, 4, "From: a@b\r\nSubject: s\r\n\r\nline1\r\n..line2\r\nline3\r\nline4\r\n.\r\n");
	check_splits(msg, true, UINT64_MAX,
		     "From: a@b\r\nSubject: s\r\n\r\nline1\r\n..line2\r\nline3\r\nline4\r\n.\r\n");
	/* No body at all, and a header without its blank line. */
	check_splits("A: b\r\n", true, 0, "A: b\r\n.\r\n");
	check_splits("A: b", true, 5, "A: b\r\n.\r\n");
	/* Empty lines in the body count as lines. */
	check_splits("A: b\n\n\n\nx\n", true, 2, "A: b\r\n\r\n\r\n\r\n.\r\n");
	/* A message that starts with its blank line (no header). */
	check_splits("\r\nbody\r\n", true, 0, "\r\n.\r\n");
	check_splits("\r\nbody\r\n", true, 1, "\r\nbody\r\n.\r\n");
	/* A dot line in the header is stuffed too. */
	check_splits(".A: b\r\n\r\nx", true, 0, "..A: b\r\n\r\n.\r\n");
}

/* TOP stops consuming once done: the caller can stop reading the body. */
static void test_top_stops_consuming(void **state)
{
	struct pop3_msg_filter f;
	struct out o = { xcalloc(1, 1), 0, 1 };
	const char in[] = "H: 1\r\n\r\nb1\r\nb2\r\nb3\r\n";

	(void)state;
	pop3_msg_filter_init(&f, true, 1);
	size_t used = pop3_msg_filter_feed(&f, in, strlen(in), collect, &o);
	assert_true(f.done);
	assert_int_equal(used, strlen("H: 1\r\n\r\nb1\r\n"));
	assert_int_equal(pop3_msg_filter_feed(&f, in + used, strlen(in) - used, collect, &o), 0);
	pop3_msg_filter_finish(&f, collect, &o);
	assert_string_equal(o.p, "H: 1\r\n\r\nb1\r\n.\r\n");
	free(o.p);
}

/* A long message in big chunks: constant output per input, one CRLF per line. */
static void test_large(void **state)
{
	size_t n = 200000;
	char *in = xmalloc(n * 4 + 1);
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		memcpy(in + len, i % 2 ? ".a\n" : "bb\r\n", i % 2 ? 3 : 4);
		len += i % 2 ? 3 : 4;
	}
	in[len] = '\0';
	size_t cuts[3] = { 1, len / 2, len - 1 };
	struct out o = run_split(in, len, false, 0, cuts, 3);
	/* bb\r\n (4) and ..a\r\n (5) per pair, then the terminator. */
	assert_int_equal(o.len, n / 2 * 9 + 3);
	assert_memory_equal(o.p + o.len - 8, "..a\r\n.\r\n", 8);
	free(o.p);
	free(in);
}

static void test_numbers(void **state)
{
	uint64_t n;

	(void)state;
	assert_int_equal(pop3_parse_number(slice_cstr("1"), 10, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pop3_parse_number(slice_cstr("10"), 10, &n), 0);
	assert_int_equal(pop3_parse_number(slice_cstr("0"), 10, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pop3_parse_number(slice_cstr("007"), 10, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(pop3_parse_number(slice_cstr("11"), 10, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr(""), 10, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("-1"), 10, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("+1"), 10, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr(" 1"), 10, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("1 "), 10, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("1a"), 10, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("18446744073709551615"), UINT64_MAX, &n), 0);
	assert_true(n == UINT64_MAX);
	assert_int_equal(pop3_parse_number(slice_cstr("18446744073709551616"), UINT64_MAX, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("99999999999999999999"), UINT64_MAX, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("000000000000000000001"), UINT64_MAX, &n), -1);
	assert_int_equal(pop3_parse_number(slice_cstr("5"), 0, &n), -1);
}

static void test_split_command(void **state)
{
	struct slice verb, args, word, rest;

	(void)state;
	assert_int_equal(pop3_split_command(slice_cstr("STAT"), &verb, &args), 0);
	assert_true(slice_eq_nocase(verb, "stat"));
	assert_int_equal(args.len, 0);
	assert_int_equal(pop3_split_command(slice_cstr("pass my secret pw"), &verb, &args), 0);
	assert_true(slice_eq_nocase(verb, "PASS"));
	assert_int_equal(args.len, strlen("my secret pw"));
	assert_memory_equal(args.p, "my secret pw", args.len);
	assert_int_equal(pop3_split_command(slice_cstr(""), &verb, &args), -1);
	assert_int_equal(pop3_split_command(slice_cstr(" STAT"), &verb, &args), -1);
	assert_int_equal(pop3_split_command(slice_cstr("ST4T"), &verb, &args), -1);
	assert_int_equal(pop3_split_command(slice_cstr("ABCDEFGHIJK"), &verb, &args), -1);
	assert_int_equal(pop3_split_command(slice_cstr("ST\x01T"), &verb, &args), -1);
	pop3_next_word(slice_cstr("1 10"), &word, &rest);
	assert_int_equal(word.len, 1);
	assert_int_equal(rest.len, 2);
	pop3_next_word(slice_cstr("1"), &word, &rest);
	assert_int_equal(word.len, 1);
	assert_int_equal(rest.len, 0);
	pop3_next_word(slice_cstr(""), &word, &rest);
	assert_int_equal(word.len, 0);
}

/* The read-ahead after a RETR/TOP: the following messages not deleted, in order, while they fit. */
static void test_prefetch_pick(void **state)
{
	struct pop3_message m[6] = {
		{ .uid = 1, .size = 100 }, { .uid = 2, .size = 200, .deleted = true },
		{ .uid = 3, .size = 299 }, { .uid = 4, .size = 499 },
		{ .uid = 5, .size = 10 },  { .uid = 6, .size = 0 },
	};
	size_t got[8];

	(void)state;
	/* Each takes size + 1 bytes: 300 + 500 + 11 + 1 = 812. 2 (index 1) is deleted: skipped. */
	assert_int_equal(pop3_prefetch_pick(m, 6, 0, 812, 8, got), 4);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[1], 3);
	assert_int_equal(got[2], 4);
	assert_int_equal(got[3], 5);
	/* One byte short: the last (empty) message does not fit. */
	assert_int_equal(pop3_prefetch_pick(m, 6, 0, 811, 8, got), 3);
	/* A message that does not fit ends the run, even if a later one would fit. */
	assert_int_equal(pop3_prefetch_pick(m, 6, 0, 700, 8, got), 1);
	assert_int_equal(got[0], 2);
	assert_int_equal(pop3_prefetch_pick(m, 6, 0, 299, 8, got), 0); /* 299 bytes need 300 */
	assert_int_equal(pop3_prefetch_pick(m, 6, 0, 300, 8, got), 1);
	/* At most max_msgs. */
	assert_int_equal(pop3_prefetch_pick(m, 6, 0, 65536, 2, got), 2);
	assert_int_equal(got[1], 3);
	/* After the last message, or with only deleted ones after: none. */
	assert_int_equal(pop3_prefetch_pick(m, 6, 5, 65536, 8, got), 0);
	m[4].deleted = true;
	m[5].deleted = true;
	assert_int_equal(pop3_prefetch_pick(m, 6, 3, 65536, 8, got), 0);
	assert_int_equal(pop3_prefetch_pick(m, 0, 0, 65536, 8, got), 0);
}

/* Hand-formatted listing lines match what printf would write, at the extremes too. */
static void test_listing_line(void **state)
{
	const struct {
		size_t number;
		uint32_t uid, uidvalidity;
		uint64_t size;
	} cases[] = {
		{ 1, 1, 1, 0 },
		{ 10, 9, 10, 1536 },
		{ 99999, 4294967295u, 4294967295u, 18446744073709551615ull },
		{ (size_t)-1, 100, 1700000000u, 1000000 },
	};
	char got[POP3_LISTING_LINE_MAX], want[128];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct pop3_message m = { .uid = cases[c].uid, .size = cases[c].size };
		size_t n = pop3_listing_line(got, cases[c].number, &m, false, cases[c].uidvalidity);
		int w = snprintf(want, sizeof(want), "%zu %llu\r\n", cases[c].number, (unsigned long long)cases[c].size);

		assert_true(n <= sizeof(got));
		assert_int_equal(n, (size_t)w);
		assert_memory_equal(got, want, n);
		n = pop3_listing_line(got, cases[c].number, &m, true, cases[c].uidvalidity);
		w = snprintf(want, sizeof(want), "%zu %u.%u\r\n", cases[c].number, cases[c].uidvalidity, cases[c].uid);
		assert_true(n <= sizeof(got));
		assert_int_equal(n, (size_t)w);
		assert_memory_equal(got, want, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retr_table),
		cmocka_unit_test(test_top_table),
		cmocka_unit_test(test_top_stops_consuming),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_split_command),
		cmocka_unit_test(test_prefetch_pick),
		cmocka_unit_test(test_listing_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
