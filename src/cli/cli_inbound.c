/*
 * cli_inbound: auto-replies and alias targets on the command line, through
 * the service layer's autoreply.* and alias.* operations:
 *
 *   hermod autoreply set ADDR --body-file FILE [--subject S] [--from DATE] [--until DATE] [--period DURATION]
 *   hermod autoreply off ADDR ; hermod autoreply show ADDR
 *   hermod alias targets ADDR [TARGET...] [--target TARGET]...   (none: list them)
 *   hermod alias confirm TOKEN
 *
 * The confirmation message for a new external target goes out with
 * cli_call's outbox (queued; the daemon sends it).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "store/store_inbound.h"

/* The text of --body-file ("-": standard input), at most the stored maximum. */
static int read_body(const char *path, char **body_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *body;
	size_t n;

	if (f == NULL)
		return cli_error("cannot read %s: %s", path, strerror(errno));
	body = xmalloc(STORE_AUTOREPLY_BODY_MAX + 2);
	n = fread(body, 1, STORE_AUTOREPLY_BODY_MAX + 1, f);
	if (f != stdin)
		fclose(f);
	if (n > STORE_AUTOREPLY_BODY_MAX) {
		free(body);
		return cli_error("%s is longer than %d bytes, the most an auto-reply may say", path,
				 STORE_AUTOREPLY_BODY_MAX);
	}
	body[n] = '\0';
	*body_r = body;
	return CLI_OK;
}

/* "4d", "12h", "30m", "90s" or plain seconds. */
static int parse_period(const char *text, int64_t *s_r)
{
	char *end;
	long long v = strtoll(text, &end, 10);
	int64_t unit = 1;

	if (end == text || v <= 0)
		return -1;
	switch (*end) {
	case 'd': unit = 86400; end++; break;
	case 'h': unit = 3600; end++; break;
	case 'm': unit = 60; end++; break;
	case 's': end++; break;
	default: break;
	}
	if (*end != '\0' || v > 365LL * 86400)
		return -1;
	*s_r = (int64_t)v * unit;
	return 0;
}

static void print_autoreply(json_t *res)
{
	printf("address\t%s\n", cli_json_str(res, "address"));
	printf("enabled\t%s%s\n", json_is_true(json_object_get(res, "enabled")) ? "yes" : "no",
	       json_is_true(json_object_get(res, "active")) ? " (active now)" : "");
	printf("from\t%s\n", json_is_string(json_object_get(res, "starts_at")) ? cli_json_str(res, "starts_at") : "-");
	printf("until\t%s\n", json_is_string(json_object_get(res, "ends_at")) ? cli_json_str(res, "ends_at") : "-");
	printf("period\t%llds%s\n", (long long)cli_json_int(res, "period_s"),
	       json_is_true(json_object_get(res, "period_default")) ? " (the configured default)" : "");
	printf("subject\t%s\n", cli_json_str(res, "subject")[0] ? cli_json_str(res, "subject") : "Auto: <subject>");
	printf("body\n%s\n", cli_json_str(res, "body"));
}

static int autoreply_call(struct cli *c, json_t *params)
{
	json_t *res = NULL;
	int status = cli_call(c, "autoreply.set", params, &res);

	json_decref(params);
	if (status == CLI_OK)
		print_autoreply(res);
	json_decref(res);
	return status;
}

int cli_autoreply_set(struct cli *c, const struct cli_args *a)
{
	const char *file = cli_opt_value(a, "body-file"), *subject = cli_opt_value(a, "subject");
	const char *from = cli_opt_value(a, "from"), *until = cli_opt_value(a, "until");
	const char *period = cli_opt_value(a, "period");
	json_t *params = json_pack("{s:s, s:b}", "address", a->pos[0], "enabled", 1);
	int64_t period_s = 0;
	char *body = NULL;

	if (period != NULL && parse_period(period, &period_s) < 0) {
		json_decref(params);
		return cli_usage_error("--period needs a duration such as 4d, 12h or 90m, not '%s'", period);
	}
	if (file != NULL && read_body(file, &body) != CLI_OK) {
		json_decref(params);
		return CLI_ERROR;
	}
	if (body != NULL)
		json_object_set_new(params, "body", json_string(body));
	if (subject != NULL)
		json_object_set_new(params, "subject", json_string(subject));
	if (from != NULL)
		json_object_set_new(params, "starts_at", json_string(from));
	if (until != NULL)
		json_object_set_new(params, "ends_at", json_string(until));
	if (period != NULL)
		json_object_set_new(params, "period_s", json_integer(period_s));
	free(body);
	return autoreply_call(c, params);
}

int cli_autoreply_off(struct cli *c, const struct cli_args *a)
{
	return autoreply_call(c, json_pack("{s:s, s:b}", "address", a->pos[0], "enabled", 0));
}

int cli_autoreply_show(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *res = NULL;
	int status = cli_call(c, "autoreply.get", params, &res);

	json_decref(params);
	if (status == CLI_OK)
		print_autoreply(res);
	json_decref(res);
	return status;
}

/* Tab-separated: target, local|external, active|awaiting_confirmation. */
static void print_targets(json_t *res)
{
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(res, "targets"), i, t)
		printf("%s\t%s\t%s\n", cli_json_str(t, "address"), cli_json_str(t, "kind"), cli_json_str(t, "status"));
	json_array_foreach(json_object_get(res, "confirmation_sent"), i, t)
		fprintf(stderr, "hermod: a confirmation link was sent to %s; it receives nothing until it agrees\n",
			json_string_value(t));
}

int cli_alias_targets(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "address", a->pos[0]), *targets = json_array(), *res = NULL;
	int status;

	for (size_t i = 1; i < a->npos; i++)
		json_array_append_new(targets, json_string(a->pos[i]));
	for (size_t i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i].name, "target") == 0)
			json_array_append_new(targets, json_string(a->opt[i].value));
	if (json_array_size(targets) > 0)
		json_object_set_new(params, "targets", targets);
	else
		json_decref(targets);
	status = cli_call(c, json_object_get(params, "targets") != NULL ? "alias.targets.set" : "alias.targets.get",
			  params, &res);
	json_decref(params);
	if (status == CLI_OK)
		print_targets(res);
	json_decref(res);
	return status;
}

int cli_alias_confirm(struct cli *c, const struct cli_args *a)
{
	json_t *params = json_pack("{s:s}", "token", a->pos[0]), *res = NULL;
	int status = cli_call(c, "alias.confirm", params, &res);

	json_decref(params);
	if (status == CLI_OK)
		printf("%s now forwards to %s\n", cli_json_str(res, "address"), cli_json_str(res, "target"));
	json_decref(res);
	return status;
}
