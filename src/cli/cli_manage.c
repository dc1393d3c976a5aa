/*
 * cli_manage: the command line's door into the service layer (src/manage).
 *
 * The administration verbs build an operation's parameters from their
 * arguments, call it as the system actor on channel "cli" and print the
 * answer; the rules (validation, refusals, messages) are the operations'.
 * What an operation queued to send (an invitation) is delivered through the
 * store after it succeeded: local recipients into their INBOX, remote ones
 * into the queue, which the daemon sends.
 */
#include "cli/cli.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "manage/manage.h"
#include "store/store_queue.h"

/* Splits local@domain (for store lookups) into the two buffers. -1 if it is not an address. */
static int split_address(const char *text, char *local, size_t lsize, char *domain, size_t dsize)
{
	const char *at = strrchr(text, '@');

	if (at == NULL || (size_t)(at - text) >= lsize || strlen(at + 1) >= dsize)
		return -1;
	memcpy(local, text, (size_t)(at - text));
	local[at - text] = '\0';
	memcpy(domain, at + 1, strlen(at + 1) + 1);
	return 0;
}

/* Sorts one message's recipients into hosted mailboxes and remote addresses. */
static int outbox_rcpts(struct cli *c, const struct manage_message *m, int64_t *ids, size_t *nids,
			struct store_outbound_rcpt *remote, size_t *nremote)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1];
	const char *errstr = NULL;
	struct store_rcpt r;

	*nids = *nremote = 0;
	for (size_t i = 0; i < m->rcpt_count; i++) {
		if (split_address(m->rcpts[i], local, sizeof(local), domain, sizeof(domain)) < 0)
			continue;
		if (store_rcpt_resolve(c->store, local, domain, m->len, c->cfg->plans, &r, &errstr) < 0)
			return cli_error("cannot send to %s: %s", m->rcpts[i], errstr);
		if (r.status == RCPT_OK)
			ids[(*nids)++] = r.address_id;
		else if (r.status == RCPT_NOT_HOSTED)
			remote[(*nremote)++] = (struct store_outbound_rcpt){ .address = m->rcpts[i] };
		else
			fprintf(stderr, "hermod: %s does not receive mail; its message was not sent\n", m->rcpts[i]);
	}
	return CLI_OK;
}

static int outbox_send_one(struct cli *c, const struct manage_message *m)
{
	int64_t *ids = xcalloc(m->rcpt_count + 1, sizeof(*ids));
	struct store_outbound_rcpt *remote = xcalloc(m->rcpt_count + 1, sizeof(*remote));
	struct store_outbound out = { .envelope_from = m->envelope_from };
	struct store_delivery d = { 0 }, *dp = &d;
	struct spool *sp = spool_new(c->cfg->data_dir);
	const char *errstr = NULL;
	size_t nids, nremote;
	int status = outbox_rcpts(c, m, ids, &nids, remote, &nremote);

	out.rcpts = remote;
	out.rcpt_count = nremote;
	d.body = sp;
	d.address_ids = ids;
	d.address_count = nids;
	d.outbound = nremote > 0 ? &out : NULL;
	d.internal_date = (int64_t)time(NULL);
	if (status == CLI_OK && (nids > 0 || nremote > 0)) {
		if (spool_write(sp, m->data, m->len, &errstr) < 0 || store_deliver_batch(c->store, &dp, 1, &errstr) < 0)
			status = cli_error("cannot send a message: %s", errstr);
		else if (d.result < 0)
			status = cli_error("cannot send a message: %s", d.error);
	}
	spool_free(sp);
	free(ids);
	free(remote);
	return status;
}

/* Sends what the operation queued; the operation itself already succeeded. */
static int outbox_send(struct cli *c, const struct manage_ctx *ctx)
{
	int status = CLI_OK;

	for (const struct manage_message *m = ctx->outbox; m != NULL; m = m->next)
		if (outbox_send_one(c, m) != CLI_OK)
			status = CLI_ERROR;
	return status;
}

int cli_call(struct cli *c, const char *op, json_t *params, json_t **result_r)
{
	struct manage_actor actor = { .system = true, .channel = "cli" };
	struct manage_error err;
	struct manage_ctx ctx;
	int status = CLI_OK;

	*result_r = NULL;
	if (params == NULL) /* jansson refuses strings that are not UTF-8 */
		return cli_error("the arguments must be valid UTF-8");
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	manage_ctx_init(&ctx, c->store, c->cfg, &actor);
	if (manage_call(&ctx, op, params, result_r, &err) < 0)
		status = cli_error("%s", err.message);
	else
		status = outbox_send(c, &ctx);
	manage_ctx_clear(&ctx);
	return status;
}

int cli_call_password(struct cli *c, const char *op, json_t *params, const char *field, const char *whose,
		      const struct cli_args *a, json_t **result_r)
{
	char pw[CLI_PASSWORD_BUF];
	int status;

	*result_r = NULL;
	if (cli_password_read(a, whose, pw) < 0)
		return CLI_ERROR;
	json_object_set_new(params, field, json_string(pw));
	sodium_memzero(pw, sizeof(pw));
	status = cli_call(c, op, params, result_r);
	/* jansson frees without wiping: wipe our copy of the password first */
	json_t *v = json_object_get(params, field);
	if (v != NULL)
		sodium_memzero((char *)(uintptr_t)json_string_value(v), json_string_length(v));
	json_object_del(params, field);
	return status;
}

const char *cli_json_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

int64_t cli_json_int(json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}
