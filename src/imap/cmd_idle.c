/*
 * cmd_idle: IDLE (RFC 2177). The session reports changes to the selected
 * mailbox as the store announces them (store_async_watch fires right after
 * a delivery or another session's change is durable), until the client
 * sends DONE.
 */
#include <string.h>
#include <strings.h>

#include "imap/imap_private.h"

static enum imap_cmd_result idle_line(struct imap_cmd *cmd)
{
	cmd->session->idling = false;
	if (cmd->line.len == 4 && strncasecmp(cmd->line.data, "DONE", 4) == 0)
		return imap_cmd_ok(cmd, "IDLE terminated");
	return imap_cmd_bad(cmd, "Expected DONE to end IDLE");
}

enum imap_cmd_result imap_cmd_idle(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;

	if (cmd->parsed.arg_count != 0)
		return imap_cmd_bad(cmd, "Syntax: IDLE");
	enum imap_cmd_result r = imap_cmd_want_line(cmd, "idling", idle_line);
	s->idling = true;
	/* Anything that changed since the last response is reported now. */
	imap_session_sync_idle(s);
	return r;
}
