/*
 * libFuzzer target: the RFC 4180 reader. With small limits (so the fuzzer
 * reaches them) every record must respect them, every field must be
 * NUL-terminated and free of NULs, line numbers must only grow, and an
 * input read without error must read again to the same records once
 * written back in canonical form (every field quoted, CRLF).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) ((cond) ? (void)0 : abort())

static const struct csv_limits limits = { .field_max = 64, .fields_max = 8, .record_max = 256 };

/* Reads everything; appends the canonical form to out. 1 read fully, 0 error. */
static int read_all(const char *p, size_t len, struct buf *out, size_t *records_r)
{
	struct csv_reader r;
	struct csv_record rec;
	const char *err;
	size_t last_line = 0, total;
	int rc;

	*records_r = 0;
	csv_reader_init(&r, p, len, &limits);
	while ((rc = csv_read(&r, &rec, &err)) == 1) {
		CHECK(rec.line > last_line);
		CHECK(rec.nfields >= 1 && rec.nfields <= limits.fields_max);
		last_line = rec.line;
		total = 0;
		for (size_t i = 0; i < rec.nfields; i++) {
			const struct slice *f = &rec.fields[i];

			CHECK(f->len <= limits.field_max);
			CHECK(f->p[f->len] == '\0' && memchr(f->p, '\0', f->len) == NULL);
			total += f->len + 1;
			buf_append(out, i > 0 ? ",\"" : "\"", i > 0 ? 2 : 1);
			for (size_t j = 0; j < f->len; j++)
				buf_append(out, f->p[j] == '"' ? "\"\"" : &f->p[j], f->p[j] == '"' ? 2 : 1);
			buf_append(out, "\"", 1);
		}
		buf_append(out, "\r\n", 2);
		CHECK(total <= limits.record_max);
		(*records_r)++;
	}
	CHECK(rc == 0 || (rc == -1 && strncmp(err, "line ", 5) == 0));
	csv_reader_free(&r);
	return rc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf once, twice;
	size_t n1, n2;

	buf_init(&once, 0);
	buf_init(&twice, 0);
	if (read_all((const char *)data, size, &once, &n1)) {
		/* a byte order mark in front would be skipped: the canonical form has none */
		CHECK(read_all(once.data != NULL ? once.data : "", once.len, &twice, &n2));
		CHECK(n1 == n2 && once.len == twice.len && (once.len == 0 || memcmp(once.data, twice.data, once.len) == 0));
	}
	buf_free(&once);
	buf_free(&twice);
	return 0;
}
