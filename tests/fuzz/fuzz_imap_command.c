/*
 * libFuzzer target for the IMAP command parser: imap_parse_command on
 * arbitrary bytes, then the value parsers on every atom and string it
 * produced (seqsets, dates, modified UTF-7 both ways), and the literal
 * announcement check on each line. Invariants: no crash, no leak, and a
 * mUTF-7 name that decodes re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_values(const struct imap_arg *args, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];
		if (a->type == IMAP_ARG_LIST) {
			check_values(a->list, a->count);
			continue;
		}
		if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING)
			continue;
		struct imap_seqset set;
		const char *err;
		if (imap_parse_seqset(a->str, a->len, &set, &err) == 0) {
			(void)imap_seqset_contains(&set, 7, 100);
			imap_seqset_free(&set);
		}
		int64_t t;
		(void)imap_parse_date(a->str, &t);
		(void)imap_parse_datetime(a->str, &t);
		char utf8[1024], back[1024];
		if (imap_mutf7_to_utf8(a->str, a->len, utf8, sizeof(utf8)) == 0) {
			if (imap_utf8_to_mutf7(utf8, strlen(utf8), back, sizeof(back)) == 0 &&
			    (strlen(back) != a->len || memcmp(back, a->str, a->len) != 0))
				abort(); /* mUTF-7 has one canonical form: decode + encode is identity */
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_command cmd;
	const char *err;
	uint64_t n;
	bool nonsync, binary;

	(void)imap_line_literal(slice_make((const char *)data, size), &n, &nonsync, &binary);
	if (imap_parse_command((const char *)data, size, &cmd, &err) == 0) {
		check_values(cmd.args, cmd.arg_count);
		imap_command_free(&cmd);
	}
	return 0;
}
