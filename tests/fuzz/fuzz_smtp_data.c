/*
 * libFuzzer target: the DATA / BDAT filter. The input is fed whole and
 * split at two data-derived points (and byte by byte when short); every way
 * must give the same output, consumption and flags, the output must hold no
 * bare LF, and a message that ended cleanly must survive a round trip
 * (dot-stuffed again and re-parsed to itself). Violations abort().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) ((cond) ? (void)0 : abort())

struct out {
	char *p;
	size_t len, cap;
};

static void out_cb(const char *p, size_t len, void *arg)
{
	struct out *o = arg;

	CHECK(len > 0 && o->len + len <= o->cap);
	memcpy(o->p + o->len, p, len);
	o->len += len;
}

struct run {
	struct out out;
	size_t consumed;
	bool ended, smuggling;
	uint64_t bare_lf;
};

/* Feeds in[] cut at cuts[] (ascending), as a session would, then finishes. */
static void run(enum smtp_data_mode mode, const char *in, size_t len, const size_t *cuts, size_t ncuts,
		struct run *r)
{
	struct smtp_data_filter f;
	size_t start = 0, k;

	r->out.cap = 2 * len + 16; /* at most one CR added per byte */
	r->out.p = malloc(r->out.cap);
	CHECK(r->out.p != NULL);
	r->out.len = 0;
	r->consumed = 0;
	smtp_data_init(&f, mode);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len, n;

		n = smtp_data_feed(&f, in + start, end - start, out_cb, &r->out);
		CHECK(n <= end - start);
		r->consumed += n;
		if (n < end - start) {
			CHECK(f.ended && mode == SMTP_DATA_DOT);
			break;
		}
		start = end;
	}
	if (f.ended)
		CHECK(smtp_data_feed(&f, "x", 1, out_cb, &r->out) == 0);
	smtp_data_finish(&f, out_cb, &r->out);
	CHECK(f.out_bytes == r->out.len);
	r->ended = f.ended;
	r->smuggling = f.smuggling;
	r->bare_lf = f.bare_lf;
}

static void check_same(const struct run *a, const struct run *b)
{
	CHECK(a->out.len == b->out.len && memcmp(a->out.p, b->out.p, a->out.len) == 0);
	CHECK(a->consumed == b->consumed && a->ended == b->ended);
	CHECK(a->smuggling == b->smuggling && a->bare_lf == b->bare_lf);
}

static void check_no_bare_lf(const struct out *o)
{
	size_t i;

	for (i = 0; i < o->len; i++)
		if (o->p[i] == '\n')
			CHECK(i > 0 && o->p[i - 1] == '\r');
}

/* RFC 5321 4.5.2 on the output, plus the terminator: re-parses to itself. */
static void check_round_trip(const struct run *r)
{
	char *enc = malloc(2 * r->out.len + 8);
	size_t i, n = 0;
	struct run again;

	CHECK(enc != NULL);
	for (i = 0; i < r->out.len; i++) {
		bool line_start = i == 0 || (i >= 2 && r->out.p[i - 1] == '\n' && r->out.p[i - 2] == '\r');

		if (line_start && r->out.p[i] == '.')
			enc[n++] = '.';
		enc[n++] = r->out.p[i];
	}
	memcpy(enc + n, ".\r\n", 3);
	n += 3;
	run(SMTP_DATA_DOT, enc, n, NULL, 0, &again);
	CHECK(again.ended && !again.smuggling && again.consumed == n && again.bare_lf == 0);
	CHECK(again.out.len == r->out.len && memcmp(again.out.p, r->out.p, r->out.len) == 0);
	free(again.out.p);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum smtp_data_mode mode;
	struct run whole, split;
	size_t cuts[2], len, i;
	const char *in;

	if (size < 3)
		return 0;
	mode = (data[0] & 1) ? SMTP_DATA_BDAT : SMTP_DATA_DOT;
	in = (const char *)data + 3;
	len = size - 3;
	cuts[0] = len > 0 ? data[1] % (len + 1) : 0;
	cuts[1] = len > 0 ? data[2] % (len + 1) : 0;
	if (cuts[0] > cuts[1]) {
		size_t t = cuts[0];
		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	run(mode, in, len, NULL, 0, &whole);
	check_no_bare_lf(&whole.out);
	CHECK(whole.consumed == len || whole.ended);
	run(mode, in, len, cuts, 2, &split);
	check_same(&whole, &split);
	free(split.out.p);
	if (len <= 512) {
		size_t *bytes = malloc((len + 1) * sizeof(*bytes));

		CHECK(bytes != NULL);
		for (i = 0; i + 1 < len; i++)
			bytes[i] = i + 1;
		run(mode, in, len, bytes, len > 0 ? len - 1 : 0, &split);
		check_same(&whole, &split);
		free(split.out.p);
		free(bytes);
	}
	if (mode == SMTP_DATA_DOT && whole.ended && !whole.smuggling)
		check_round_trip(&whole);
	if (mode == SMTP_DATA_BDAT && memchr(in, '\n', len) == NULL)
		CHECK(whole.out.len == len && memcmp(whole.out.p, in, len) == 0);
	free(whole.out.p);
	return 0;
}
