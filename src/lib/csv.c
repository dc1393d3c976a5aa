/*
 * csv: RFC 4180 reading (see csv.h). One pass over the bytes with four
 * states; every byte of a field goes through field_put, which enforces the
 * limits, so no input can make a record grow past record_max.
 */
#include "lib/csv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

enum csv_state { CSV_FIELD_START, CSV_UNQUOTED, CSV_QUOTED, CSV_AFTER_QUOTE };

void csv_reader_init(struct csv_reader *r, const char *data, size_t len, const struct csv_limits *lim)
{
	static const struct csv_limits dflt = { CSV_FIELD_MAX_BYTES, CSV_FIELDS_MAX, CSV_RECORD_MAX_BYTES };

	memset(r, 0, sizeof(*r));
	r->data = data;
	r->len = len;
	r->line = 1;
	r->lim = lim != NULL ? *lim : dflt;
	if (r->lim.fields_max == 0)
		r->lim.fields_max = 1;
	buf_init(&r->rec, r->lim.record_max);
	r->starts = xcalloc(r->lim.fields_max, sizeof(*r->starts));
	r->fields = xcalloc(r->lim.fields_max, sizeof(*r->fields));
	/* Excel's "CSV UTF-8" starts with a byte order mark; it is not data. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		r->off = 3;
}

void csv_reader_free(struct csv_reader *r)
{
	buf_free(&r->rec);
	free(r->starts);
	free(r->fields);
	r->starts = NULL;
	r->fields = NULL;
}

static int fail(struct csv_reader *r, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct csv_reader *r, size_t line, const char *fmt, ...)
{
	char what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->err, sizeof(r->err), "line %zu: %s", line, what);
	return -1;
}

static int field_begin(struct csv_reader *r)
{
	if (r->nfields == r->lim.fields_max)
		return fail(r, r->line, "more than %zu fields in one record", r->lim.fields_max);
	r->starts[r->nfields++] = r->rec.len;
	return 0;
}

static int field_put(struct csv_reader *r, char c)
{
	size_t start = r->starts[r->nfields - 1];

	if (c == '\0')
		return fail(r, r->line, "a NUL byte (is this a text file?)");
	if (r->rec.len - start >= r->lim.field_max)
		return fail(r, r->line, "field %zu is longer than %zu bytes", r->nfields, r->lim.field_max);
	if (buf_append(&r->rec, &c, 1) < 0)
		return fail(r, r->line, "the record is longer than %zu bytes", r->lim.record_max);
	return 0;
}

static int field_end(struct csv_reader *r)
{
	if (buf_append(&r->rec, "", 1) < 0)
		return fail(r, r->line, "the record is longer than %zu bytes", r->lim.record_max);
	return 0;
}

/*
 * At a line break outside quotes (r->off at '\r' or '\n'): consumes CRLF
 * or LF. A CR not followed by LF is refused: RFC 4180 ends records with
 * CRLF, and old Mac files ending lines with CR alone would otherwise read
 * as a single record.
 */
static int eol(struct csv_reader *r)
{
	if (r->data[r->off] == '\r') {
		if (r->off + 1 >= r->len || r->data[r->off + 1] != '\n')
			return fail(r, r->line, "a carriage return (CR) not followed by a line feed");
		r->off++;
	}
	r->off++;
	r->line++;
	return 0;
}

static void record_fill(struct csv_reader *r, struct csv_record *rec, size_t line)
{
	for (size_t i = 0; i < r->nfields; i++) {
		size_t end = i + 1 < r->nfields ? r->starts[i + 1] - 1 : r->rec.len - 1;

		r->fields[i] = slice_make(r->rec.data + r->starts[i], end - r->starts[i]);
	}
	rec->line = line;
	rec->nfields = r->nfields;
	rec->fields = r->fields;
}

/* One byte in a state: 0 go on, 1 the record ended, -1 error. */
static int step(struct csv_reader *r, enum csv_state *st, size_t qline)
{
	char c = r->data[r->off];

	switch (*st) {
	case CSV_FIELD_START:
	case CSV_UNQUOTED:
		if (c == ',' || c == '\r' || c == '\n') {
			if (field_end(r) < 0)
				return -1;
			if (c != ',')
				return eol(r) < 0 ? -1 : 1;
			r->off++;
			*st = CSV_FIELD_START;
			return field_begin(r);
		}
		if (c == '"' && *st == CSV_FIELD_START) {
			r->off++;
			*st = CSV_QUOTED;
			return 0;
		}
		if (c == '"')
			return fail(r, r->line, "a quote (\") inside field %zu, which does not start with one"
				    " (quote the whole field and double the quote)", r->nfields);
		*st = CSV_UNQUOTED;
		r->off++;
		return field_put(r, c);
	case CSV_QUOTED:
		r->off++;
		if (c == '"') {
			if (r->off < r->len && r->data[r->off] == '"') {
				r->off++;
				return field_put(r, '"');
			}
			*st = CSV_AFTER_QUOTE;
			return 0;
		}
		if (c == '\n')
			r->line++;
		return field_put(r, c);
	case CSV_AFTER_QUOTE:
		if (c == ',' || c == '\r' || c == '\n') {
			*st = CSV_UNQUOTED;
			return step(r, st, qline);
		}
		return fail(r, r->line, "text after the closing quote of field %zu (quoted on line %zu)",
			    r->nfields, qline);
	}
	return fail(r, r->line, "internal state error");
}

int csv_read(struct csv_reader *r, struct csv_record *rec, const char **errstr_r)
{
	enum csv_state st = CSV_FIELD_START;
	size_t line = r->line, qline = r->line;
	int rc;

	*errstr_r = r->err;
	if (r->err[0] != '\0')
		return -1;
	if (r->off >= r->len)
		return 0;
	buf_reset(&r->rec);
	r->nfields = 0;
	if (field_begin(r) < 0)
		return -1;
	while (r->off < r->len) {
		if (st == CSV_FIELD_START)
			qline = r->line;
		if ((rc = step(r, &st, qline)) < 0)
			return -1;
		if (rc == 1) {
			record_fill(r, rec, line);
			return 1;
		}
	}
	if (st == CSV_QUOTED)
		return fail(r, qline, "a quoted field is not closed (the quote opened on line %zu)", qline);
	if (field_end(r) < 0)
		return -1;
	record_fill(r, rec, line);
	return 1;
}
