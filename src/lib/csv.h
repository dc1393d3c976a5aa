/*
 * csv: an RFC 4180 reader for comma-separated values held in memory.
 *
 * What it accepts (RFC 4180 section 2, plus what spreadsheets write):
 *   - records end with CRLF or LF; the last one may end at the end of input;
 *   - fields are separated by ','; a field may be enclosed in double quotes,
 *     and then may hold commas, line breaks and quotes (written "");
 *   - a UTF-8 byte order mark at the very start is skipped (Excel writes one);
 *   - an empty line is a record with one empty field (the caller decides
 *     whether to skip it).
 * What it refuses, naming the line: a quote inside an unquoted field, text
 * after a closing quote, a quoted field never closed, a bare CR outside
 * quotes, a NUL byte, and anything over the limits (field bytes, fields per
 * record, record bytes). A syntax error ends the reading: after one, the
 * position of the following records is not known.
 *
 * Fields are decoded (quotes removed, "" made ") and NUL-terminated, so a
 * field can be used as a C string.
 */
#ifndef HERMOD_LIB_CSV_H
#define HERMOD_LIB_CSV_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/slice.h"

#define CSV_FIELD_MAX_BYTES 4096   /* default: one decoded field */
#define CSV_FIELDS_MAX 64          /* default: fields per record */
#define CSV_RECORD_MAX_BYTES 65536 /* default: one decoded record */

struct csv_limits {
	size_t field_max;  /* bytes of one decoded field */
	size_t fields_max; /* fields in one record */
	size_t record_max; /* bytes of one decoded record (fields and their NULs) */
};

struct csv_reader {
	const char *data;
	size_t len, off;
	size_t line;          /* physical line (1-based) at off */
	struct csv_limits lim;
	struct buf rec;       /* the current record's decoded fields, each NUL-terminated */
	size_t *starts;       /* offset in rec of each field */
	struct slice *fields; /* rebuilt from starts when a record is complete */
	size_t nfields;
	char err[160];
};

struct csv_record {
	size_t line;                /* the physical line the record starts on */
	size_t nfields;             /* at least 1 */
	const struct slice *fields; /* valid until the next csv_read or csv_reader_free */
};

/* Reads data[0..len) (borrowed until csv_reader_free). lim NULL: the defaults above. */
void csv_reader_init(struct csv_reader *r, const char *data, size_t len, const struct csv_limits *lim);
void csv_reader_free(struct csv_reader *r);

/*
 * The next record: 1 (rec filled), 0 at the end of input, -1 on a syntax
 * error or a limit, with *errstr_r ("line 7: a quoted field is not closed";
 * valid until the next call). After -1 every further call returns -1.
 */
int csv_read(struct csv_reader *r, struct csv_record *rec, const char **errstr_r);

#endif
