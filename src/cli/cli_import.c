/*
 * cli_import: `hermod address import FILE [--dry-run] [--skip-invalid]`,
 * the command-line face of address.import (src/manage/manage_import.c,
 * whose header documents the CSV columns). FILE "-" reads standard input.
 *
 * Prints one line per invalid row ("line 7: bob@x.test: duplicate: ...")
 * and a summary. Exit status 0 when every row was valid (and, without
 * --dry-run, imported), 1 otherwise: with the default all-or-nothing import
 * that means nothing was created.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

#define CLI_IMPORT_MAX_BYTES (32u * 1024 * 1024) /* the operation's own limit */

/* The whole file into b (bounded). 0 or -1 (error printed). */
static int read_file(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (f == NULL)
		return cli_error("cannot open %s: %s", path, strerror(errno));
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(b, chunk, n) < 0)
			rc = cli_error("%s is larger than %u MiB: split it into several imports", path,
				       CLI_IMPORT_MAX_BYTES >> 20);
	if (rc == 0 && ferror(f))
		rc = cli_error("cannot read %s: %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	return rc < 0 ? -1 : 0;
}

static void print_report(json_t *r, const char *path)
{
	json_t *errors = json_object_get(r, "errors"), *e;
	int64_t nerr = cli_json_int(r, "error_count");
	size_t i;

	json_array_foreach(errors, i, e)
		fprintf(stderr, "line %lld: %s: %s: %s\n", (long long)cli_json_int(e, "line"), cli_json_str(e, "address"),
			cli_json_str(e, "code"), cli_json_str(e, "reason"));
	if ((size_t)nerr > json_array_size(errors))
		fprintf(stderr, "... and %lld more invalid rows\n", (long long)(nerr - (int64_t)json_array_size(errors)));
	if (json_is_true(json_object_get(r, "dry_run")))
		printf("%s: %lld rows, %lld valid, %lld invalid (dry run: nothing was created)\n", path,
		       (long long)cli_json_int(r, "rows"), (long long)cli_json_int(r, "valid"), (long long)nerr);
	else
		printf("%s: %lld rows, %lld imported, %lld invalid%s\n", path, (long long)cli_json_int(r, "rows"),
		       (long long)cli_json_int(r, "imported"), (long long)nerr,
		       nerr > 0 && !json_is_true(json_object_get(r, "skip_invalid"))
			       ? " (all or nothing: nothing was created; fix the rows, or use --skip-invalid)"
			       : "");
}

int cli_address_import(struct cli *c, const struct cli_args *a)
{
	const char *path = a->pos[0];
	json_t *params, *result = NULL, *csv;
	struct buf b;
	int rc;

	buf_init(&b, CLI_IMPORT_MAX_BYTES);
	if (read_file(path, &b) < 0) {
		buf_free(&b);
		return CLI_ERROR;
	}
	csv = json_stringn(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	if (csv == NULL)
		return cli_error("%s is not UTF-8 text: save it as \"CSV UTF-8\"", path);
	params = json_pack("{s:o, s:b, s:b}", "csv", csv, "dry_run", cli_opt_flag(a, "dry-run"), "skip_invalid",
			   cli_opt_flag(a, "skip-invalid"));
	rc = cli_call(c, "address.import", params, &result);
	json_decref(params);
	if (rc != CLI_OK)
		return rc;
	print_report(result, path);
	rc = cli_json_int(result, "error_count") > 0 ? CLI_ERROR : CLI_OK;
	json_decref(result);
	return rc;
}
