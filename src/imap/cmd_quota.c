/*
 * cmd_quota: GETQUOTA and GETQUOTAROOT (RFC 9208) with the STORAGE
 * resource: the address's plan quota (or its override), in units of 1024
 * octets. Every mailbox of an address shares one quota root, "".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_private.h"
#include "lib/xalloc.h"

struct quota_ctx {
	int64_t address_id;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	char mailbox[STORE_FOLDER_NAME_MAX + 1]; /* GETQUOTAROOT */
	bool root;
	uint64_t used, limit;
	uint32_t messages;
	int rc;
	char err[256];
};

static void quota_work(struct store *st, void *arg)
{
	struct quota_ctx *c = arg;
	struct store_folder_status fs;
	const char *err = NULL;

	if (c->root && store_folder_status(st, c->address_id, c->mailbox, &fs, &err) != 1) {
		c->rc = -1;
		snprintf(c->err, sizeof(c->err), "%s", err ? err : "no such mailbox");
		return;
	}
	c->rc = store_quota_get(st, c->address_id, c->plans, &c->used, &c->limit, &c->messages, &err);
	if (c->rc < 0)
		snprintf(c->err, sizeof(c->err), "%s", err ? err : "store error");
}

static enum imap_cmd_result quota_done(struct imap_cmd *cmd)
{
	struct quota_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;

	if (c->rc < 0)
		return imap_cmd_no(cmd, "[NONEXISTENT] %s", c->err);
	if (c->root) {
		imap_printf(s, "* QUOTAROOT ");
		imap_write_mailbox(s, c->mailbox);
		imap_printf(s, " \"\"\r\n");
	}
	imap_untagged(s, "QUOTA \"\" (STORAGE %llu %llu)", (unsigned long long)((c->used + 1023) / 1024),
		      (unsigned long long)(c->limit / 1024));
	return imap_cmd_ok(cmd, "%s completed", c->root ? "GETQUOTAROOT" : "GETQUOTA");
}

enum imap_cmd_result imap_cmd_getquota(struct imap_cmd *cmd)
{
	struct quota_ctx *c = xcalloc(1, sizeof(*c));
	const char *err;

	cmd->ctx = c;
	cmd->ctx_free = free;
	c->address_id = cmd->session->address_id;
	memcpy(c->plans, cmd->session->cfg->plans, sizeof(c->plans));
	c->root = strcmp(cmd->parsed.name, "GETQUOTAROOT") == 0;
	if (cmd->parsed.arg_count != 1 || imap_arg_astring(&cmd->parsed.args[0]) == NULL)
		return imap_cmd_bad(cmd, "Syntax: %s %s", cmd->parsed.name, c->root ? "mailbox" : "quota-root");
	if (c->root) {
		if (imap_arg_mailbox(cmd->session, &cmd->parsed.args[0], c->mailbox, &err) < 0)
			return imap_cmd_bad(cmd, "%s", err);
	} else if (cmd->parsed.args[0].len != 0) {
		return imap_cmd_no(cmd, "[NONEXISTENT] No such quota root (the only one is \"\")");
	}
	return imap_cmd_store_call(cmd, STORE_CALL_READ, quota_work, quota_done);
}
