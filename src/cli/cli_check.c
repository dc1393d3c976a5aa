/*
 * cli_check: `hermod domain check DOMAIN`, the command-line face of the
 * domain.check operation (src/manage/manage_check.c): one block per record
 * with its status, what the DNS has and the record to set.
 *
 * Exit status: 0 when every record is present, 1 when one needs attention
 * (so that scripts and monitoring can use it), 1 on errors too.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "manage/manage.h"

/* Runs op as the operator (every right), answer in *result_r. CLI_OK or CLI_ERROR (printed). */
static int run_op(struct cli *c, const char *op, json_t *params, json_t **result_r)
{
	struct manage_actor actor = { .system = true, .channel = "cli" };
	struct manage_error err;
	struct manage_ctx ctx;
	int rc;

	manage_ctx_init(&ctx, c->store, c->cfg, &actor);
	rc = manage_call(&ctx, op, params, result_r, &err);
	manage_ctx_clear(&ctx); /* domain.check sends nothing */
	if (rc < 0)
		return cli_error("%s", err.message);
	return CLI_OK;
}

/* Prints a multi-line string value with each line after the first indented. */
static void print_lines(const char *label, const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		size_t n = strcspn(p, "\n");

		printf("        %-7s %.*s\n", p == text ? label : "", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

static void print_record(json_t *r)
{
	const char *status = json_string_value(json_object_get(r, "status"));
	json_t *found = json_object_get(r, "found"), *v;
	size_t i;

	printf("%-7s %-8s %s\n", json_string_value(json_object_get(r, "record")), status,
	       json_string_value(json_object_get(r, "message")));
	json_array_foreach(found, i, v)
		print_lines(i == 0 ? "found:" : "", json_string_value(v));
	if (strcmp(status, "present") != 0 && json_string_length(json_object_get(r, "expected")) > 0)
		print_lines("set:", json_string_value(json_object_get(r, "expected")));
}

int cli_domain_check(struct cli *c, const struct cli_args *a)
{
	json_t *params, *result = NULL, *records, *r;
	size_t i, bad = 0;
	int rc;

	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	params = json_pack("{s:s}", "domain", a->pos[0]);
	rc = run_op(c, "domain.check", params, &result);
	json_decref(params);
	if (rc != CLI_OK)
		return rc;
	records = json_object_get(result, "records");
	printf("DNS check of %s (hermod's host name: %s)\n", json_string_value(json_object_get(result, "domain")),
	       c->cfg->hostname);
	json_array_foreach(records, i, r) {
		print_record(r);
		bad += strcmp(json_string_value(json_object_get(r, "status")), "present") != 0;
	}
	if (bad > 0)
		rc = cli_error("%zu of %zu DNS records of %s need attention", bad, json_array_size(records),
			       json_string_value(json_object_get(result, "domain")));
	json_decref(result);
	return rc;
}
