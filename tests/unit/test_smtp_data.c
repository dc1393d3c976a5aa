/*
 * Unit tests for smtp/smtp_data: the DATA / BDAT streaming filter.
 *
 * Every case is fed whole, split in two at every position, split in three
 * at every pair of positions, and byte by byte; all must give the same
 * output, consumption and flags, since the network may cut anywhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp/smtp_data.h"

struct data_case {
	const char *name;
	enum smtp_data_mode mode;
	const char *in;
	size_t in_len;
	const char *out;
	size_t out_len;
	size_t consumed;
	bool ended;
	bool smuggling;
	uint64_t bare_lf;
};

#define S(lit) lit, sizeof(lit) - 1
#define DOT SMTP_DATA_DOT
#define BDAT SMTP_DATA_BDAT

/* consumed: what smtp_data_feed should take; the rest is the next command */
static const struct data_case cases[] = {
	/* the end of data, and only CRLF.CRLF */
	{ "simple", DOT, S("Hello\r\n.\r\n"), S("Hello\r\n"), 10, true, false, 0 },
	{ "empty message", DOT, S(".\r\n"), S(""), 3, true, false, 0 },
	{ "one empty line", DOT, S("\r\n.\r\n"), S("\r\n"), 5, true, false, 0 },
	{ "two empty lines", DOT, S("\r\n\r\n.\r\n"), S("\r\n\r\n"), 7, true, false, 0 },
	{ "stops after end", DOT, S("a\r\n.\r\nMAIL FROM:<x>\r\n"), S("a\r\n"), 6, true, false, 0 },
	{ "second end not consumed", DOT, S("x\r\n.\r\n.\r\n"), S("x\r\n"), 6, true, false, 0 },
	{ "quit after empty", DOT, S(".\r\nQUIT\r\n"), S(""), 3, true, false, 0 },
	/* dot-unstuffing (RFC 5321 4.5.2) */
	{ "stuffed dot line", DOT, S("a\r\n..\r\n.\r\n"), S("a\r\n.\r\n"), 10, true, false, 0 },
	{ "stuffed text", DOT, S("..x\r\n.\r\n"), S(".x\r\n"), 8, true, false, 0 },
	{ "three dots", DOT, S("a\r\n...\r\n.\r\n"), S("a\r\n..\r\n"), 11, true, false, 0 },
	{ "unstuffed dot text", DOT, S(".x\r\n.\r\n"), S("x\r\n"), 7, true, false, 0 },
	{ "dot space", DOT, S(". \r\n.\r\n"), S(" \r\n"), 7, true, false, 0 },
	{ "dot mid line", DOT, S("a.b\r\na.\r\n.\r\n"), S("a.b\r\na.\r\n"), 12, true, false, 0 },
	{ "stuffed after bare LF", DOT, S("a\n..b\r\n.\r\n"), S("a\r\n.b\r\n"), 10, true, false, 1 },
	{ "no unstuffing after bare CR", DOT, S("a\r..b\r\n.\r\n"), S("a\r..b\r\n"), 10, true, false, 0 },
	{ "dot after bare CR is text", DOT, S("a\r.b\r\n.\r\n"), S("a\r.b\r\n"), 9, true, false, 0 },
	/* bare LF and CR in text */
	{ "bare LF normalised", DOT, S("a\nb\r\n.\r\n"), S("a\r\nb\r\n"), 8, true, false, 1 },
	{ "bare LFs", DOT, S("a\n\nb\n\r\n.\r\n"), S("a\r\n\r\nb\r\n\r\n"), 10, true, false, 3 },
	{ "bare CR kept", DOT, S("a\rb\r\n.\r\n"), S("a\rb\r\n"), 8, true, false, 0 },
	{ "CR CR LF", DOT, S("a\r\r\n.\r\n"), S("a\r\r\n"), 7, true, false, 0 },
	{ "NUL and 8-bit", DOT, S("a\0b \xc3\xa9\r\n.\r\n"), S("a\0b \xc3\xa9\r\n"), 11, true, false, 0 },
	/* SMTP smuggling: a lone dot with a non-CRLF delimiter on either side */
	{ "CRLF . LF", DOT, S("a\r\n.\nMAIL FROM:<e>\r\n.\r\n"), S("a\r\n.\r\nMAIL FROM:<e>\r\n"), 23, true, true, 1 },
	{ "LF . LF", DOT, S("a\n.\nb\r\n.\r\n"), S("a\r\n.\r\nb\r\n"), 10, true, true, 2 },
	{ "LF . CRLF", DOT, S("a\n.\r\nb\r\n.\r\n"), S("a\r\n.\r\nb\r\n"), 11, true, true, 1 },
	{ "CR . CR", DOT, S("a\r.\rb\r\n.\r\n"), S("a\r.\rb\r\n"), 10, true, true, 0 },
	{ "CR . LF", DOT, S("a\r.\nb\r\n.\r\n"), S("a\r.\r\nb\r\n"), 10, true, true, 1 },
	{ "LF . CR", DOT, S("a\n.\rb\r\n.\r\n"), S("a\r\n.\rb\r\n"), 10, true, true, 1 },
	{ "CRLF . CR", DOT, S("a\r\n.\rb\r\n.\r\n"), S("a\r\n.\rb\r\n"), 11, true, true, 0 },
	{ "CR . CRLF", DOT, S("a\r.\r\nb\r\n.\r\n"), S("a\r.\r\nb\r\n"), 11, true, true, 0 },
	{ "start . LF", DOT, S(".\nx\r\n.\r\n"), S(".\r\nx\r\n"), 8, true, true, 1 },
	{ "CRLF . CR CR LF", DOT, S("a\r\n.\r\r\n.\r\n"), S("a\r\n.\r\r\n"), 10, true, true, 0 },
	{ "LF . LF unterminated", DOT, S("\n.\n"), S("\r\n.\r\n"), 3, false, true, 2 },
	{ "smuggled message", DOT,
	  S("Subject: a\r\n\r\nhi\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n"),
	  S("Subject: a\r\n\r\nhi\r\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nevil\r\n"), 69, true, true, 2 },
	/* unfinished input: what is held is not output yet */
	{ "no end", DOT, S("abc"), S("abc"), 3, false, false, 0 },
	{ "held CR", DOT, S("abc\r"), S("abc"), 4, false, false, 0 },
	{ "held dot", DOT, S("abc\r\n."), S("abc\r\n"), 6, false, false, 0 },
	{ "held dot CR", DOT, S("abc\r\n.\r"), S("abc\r\n"), 7, false, false, 0 },
	{ "empty input", DOT, S(""), S(""), 0, false, false, 0 },
	/* BDAT: no dot handling, bare LF normalised, trailing CR flushed by finish */
	{ "bdat plain", BDAT, S("a\r\nb"), S("a\r\nb"), 4, false, false, 0 },
	{ "bdat bare LF", BDAT, S("a\nb\n"), S("a\r\nb\r\n"), 4, false, false, 2 },
	{ "bdat lone LF", BDAT, S("\n"), S("\r\n"), 1, false, false, 1 },
	{ "bdat trailing CR", BDAT, S("a\r"), S("a\r"), 2, false, false, 0 },
	{ "bdat dots untouched", BDAT, S("\r.\r\n.\r\n..x\r\n"), S("\r.\r\n.\r\n..x\r\n"), 12, false, false, 0 },
	{ "bdat dot LF", BDAT, S("..x\n.\n"), S("..x\r\n.\r\n"), 6, false, false, 2 },
	{ "bdat CR CR LF", BDAT, S("a\r\r\nb"), S("a\r\r\nb"), 5, false, false, 0 },
	{ "bdat CR then text", BDAT, S("a\rb\rc"), S("a\rb\rc"), 5, false, false, 0 },
	{ "bdat empty", BDAT, S(""), S(""), 0, false, false, 0 },
};

struct sink {
	struct buf b;
	size_t calls;
};

static void sink_cb(const char *p, size_t len, void *arg)
{
	struct sink *s = arg;

	assert_true(len > 0); /* never called for nothing */
	assert_int_equal(buf_append(&s->b, p, len), 0);
	s->calls++;
}

struct result {
	struct buf out;
	size_t consumed;
	bool ended, smuggling;
	uint64_t bare_lf, out_bytes;
};

/* Feeds in[0..len) cut at cuts[0..ncuts) (ascending), then finishes. */
static void run_split(enum smtp_data_mode mode, const char *in, size_t len, const size_t *cuts, size_t ncuts,
		      struct result *r)
{
	struct smtp_data_filter f;
	struct sink s = { { 0 }, 0 };
	size_t start = 0, k;

	buf_init(&s.b, 0);
	smtp_data_init(&f, mode);
	r->consumed = 0;
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len, n;

		n = smtp_data_feed(&f, in + start, end - start, sink_cb, &s);
		assert_true(n <= end - start);
		r->consumed += n;
		if (n < end - start) {
			/* only the end of data stops consumption, and then for good */
			assert_true(f.ended);
			assert_int_equal(smtp_data_feed(&f, in + start + n, end - start - n, sink_cb, &s), 0);
			break;
		}
		start = end;
	}
	smtp_data_finish(&f, sink_cb, &s);
	r->out = s.b;
	r->ended = f.ended;
	r->smuggling = f.smuggling;
	r->bare_lf = f.bare_lf;
	r->out_bytes = f.out_bytes;
}

static void assert_no_bare_lf(const struct buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if (b->data[i] == '\n')
			assert_true(i > 0 && b->data[i - 1] == '\r');
}

static void check_result(const struct data_case *c, struct result *r)
{
	assert_int_equal(r->out.len, c->out_len);
	if (c->out_len > 0)
		assert_memory_equal(r->out.data, c->out, c->out_len);
	assert_int_equal(r->out_bytes, c->out_len);
	assert_int_equal(r->consumed, c->consumed);
	assert_int_equal(r->ended, c->ended);
	assert_int_equal(r->smuggling, c->smuggling);
	assert_int_equal(r->bare_lf, c->bare_lf);
	assert_no_bare_lf(&r->out);
	buf_free(&r->out);
}

static void run_case_all_splits(const struct data_case *c)
{
	struct result r;
	size_t cuts[2], i, j, *bytes;

	run_split(c->mode, c->in, c->in_len, NULL, 0, &r);
	check_result(c, &r);
	for (i = 0; i <= c->in_len; i++) {
		cuts[0] = i;
		run_split(c->mode, c->in, c->in_len, cuts, 1, &r);
		check_result(c, &r);
		for (j = i; j <= c->in_len; j++) {
			cuts[1] = j;
			run_split(c->mode, c->in, c->in_len, cuts, 2, &r);
			check_result(c, &r);
		}
	}
	bytes = calloc(c->in_len + 1, sizeof(*bytes));
	assert_non_null(bytes);
	for (i = 0; i < c->in_len; i++)
		bytes[i] = i + 1;
	run_split(c->mode, c->in, c->in_len, bytes, c->in_len > 0 ? c->in_len - 1 : 0, &r);
	check_result(c, &r);
	free(bytes);
}

static void test_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].name);
		run_case_all_splits(&cases[i]);
	}
}

/*
 * Every string of up to 7 bytes over { CR, LF, '.', 'a' }, in both modes:
 * any two-way split gives the output of whole feeding, and output never
 * holds a bare LF.
 */
static void test_exhaustive_split_invariance(void **state)
{
	static const char alphabet[4] = { '\r', '\n', '.', 'a' };
	char in[7];
	size_t len, cut, total = 0;
	int mode;

	(void)state;
	for (mode = 0; mode < 2; mode++) {
		for (len = 0; len <= sizeof(in); len++) {
			size_t combos = (size_t)1 << (2 * len), n;

			for (n = 0; n < combos; n++) {
				struct result whole, part;
				size_t k;

				for (k = 0; k < len; k++)
					in[k] = alphabet[(n >> (2 * k)) & 3];
				run_split((enum smtp_data_mode)mode, in, len, NULL, 0, &whole);
				assert_no_bare_lf(&whole.out);
				for (cut = 0; cut <= len; cut++) {
					run_split((enum smtp_data_mode)mode, in, len, &cut, 1, &part);
					assert_int_equal(part.out.len, whole.out.len);
					if (whole.out.len > 0)
						assert_memory_equal(part.out.data, whole.out.data, whole.out.len);
					assert_int_equal(part.consumed, whole.consumed);
					assert_int_equal(part.ended, whole.ended);
					assert_int_equal(part.smuggling, whole.smuggling);
					assert_int_equal(part.bare_lf, whole.bare_lf);
					buf_free(&part.out);
					total++;
				}
				buf_free(&whole.out);
			}
		}
	}
	print_message("%zu split feeds compared\n", total);
}

/* A 100 KB line with no newline streams through: output arrives as input does. */
static void test_long_line_streams(void **state)
{
	const size_t len = 100 * 1024;
	char *in = malloc(len);
	struct smtp_data_filter f;
	struct sink s = { { 0 }, 0 };
	size_t i;

	(void)state;
	assert_non_null(in);
	for (i = 0; i < len; i++)
		in[i] = (char)('a' + i % 26);
	buf_init(&s.b, 0);
	smtp_data_init(&f, SMTP_DATA_DOT);
	for (i = 0; i < len; i += 1000) {
		size_t n = len - i < 1000 ? len - i : 1000;

		assert_int_equal(smtp_data_feed(&f, in + i, n, sink_cb, &s), n);
		/* nothing held back: the line is not buffered until its end */
		assert_int_equal(s.b.len, i + n);
	}
	assert_int_equal(smtp_data_feed(&f, "\r\n.\r\n", 5, sink_cb, &s), 5);
	assert_true(f.ended);
	assert_int_equal(s.b.len, len + 2);
	assert_memory_equal(s.b.data, in, len);
	assert_int_equal(f.out_bytes, len + 2);
	/* one feed of 100 KB as well */
	buf_reset(&s.b);
	smtp_data_init(&f, SMTP_DATA_BDAT);
	assert_int_equal(smtp_data_feed(&f, in, len, sink_cb, &s), len);
	assert_int_equal(s.b.len, len);
	assert_memory_equal(s.b.data, in, len);
	buf_free(&s.b);
	free(in);
}

/* A message of many lines, in random cuts, matches whole feeding. */
static void test_random_cuts(void **state)
{
	const char *line = "Line with some text.\r\n..stuffed\r\n\n\r.\r\n";
	char in[8192];
	size_t len = 0, round;
	struct result whole;

	(void)state;
	while (len + strlen(line) < sizeof(in) - 5) {
		memcpy(in + len, line, strlen(line));
		len += strlen(line);
	}
	memcpy(in + len, "\r\n.\r\n", 5);
	len += 5;
	run_split(SMTP_DATA_DOT, in, len, NULL, 0, &whole);
	assert_true(whole.ended);
	assert_true(whole.smuggling);
	srand(12345);
	for (round = 0; round < 200; round++) {
		size_t cuts[16], k;
		struct result part;

		for (k = 0; k < 16; k++)
			cuts[k] = (size_t)rand() % (len + 1);
		/* sort ascending */
		for (k = 1; k < 16; k++)
			for (size_t m = k; m > 0 && cuts[m - 1] > cuts[m]; m--) {
				size_t t = cuts[m];
				cuts[m] = cuts[m - 1];
				cuts[m - 1] = t;
			}
		run_split(SMTP_DATA_DOT, in, len, cuts, 16, &part);
		assert_int_equal(part.out.len, whole.out.len);
		assert_memory_equal(part.out.data, whole.out.data, whole.out.len);
		assert_int_equal(part.consumed, len);
		buf_free(&part.out);
	}
	buf_free(&whole.out);
}

static void test_reinit_and_finish_noop(void **state)
{
	struct smtp_data_filter f;
	struct sink s = { { 0 }, 0 };

	(void)state;
	buf_init(&s.b, 0);
	smtp_data_init(&f, SMTP_DATA_DOT);
	assert_int_equal(smtp_data_feed(&f, "x\r", 2, sink_cb, &s), 2);
	/* DATA mode: finish is a no-op, the CR stays held */
	smtp_data_finish(&f, sink_cb, &s);
	assert_int_equal(s.b.len, 1);
	smtp_data_init(&f, SMTP_DATA_DOT);
	assert_false(f.ended);
	assert_int_equal(f.out_bytes, 0);
	assert_int_equal(smtp_data_feed(&f, ".\r\n", 3, sink_cb, &s), 3);
	assert_true(f.ended);
	buf_free(&s.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_exhaustive_split_invariance),
		cmocka_unit_test(test_long_line_streams),
		cmocka_unit_test(test_random_cuts),
		cmocka_unit_test(test_reinit_and_finish_noop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
