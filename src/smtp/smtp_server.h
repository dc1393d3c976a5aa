/*
 * smtp_server: the SMTP protocol server (RFC 5321) on the network core.
 *
 * One smtp_server serves every `listen smtp` socket (the MX role: mail for
 * hosted domains only, never relayed). It owns its sessions; each session
 * is a state machine in smtp_session.c.
 */
#ifndef HERMOD_SMTP_SMTP_SERVER_H
#define HERMOD_SMTP_SMTP_SERVER_H

#include <stddef.h>

#include "config/config.h"
#include "net/server.h"
#include "store/store_async.h"

struct smtp_server;

/* Registers itself as the LISTEN_SMTP handler of srv. cfg must outlive every session started with it. */
struct smtp_server *smtp_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    const struct config *cfg);
/* Sessions started from now on use cfg (reload); running ones keep theirs. */
void smtp_server_set_config(struct smtp_server *ss, const struct config *cfg);
/*
 * Begins a graceful shutdown: idle sessions get "421 4.3.2 ... shutting
 * down" and close; a session waiting for its message to become durable
 * gets its 250 first; a session in the middle of DATA is refused (421,
 * nothing acknowledged, the client will retry).
 */
void smtp_server_shutdown(struct smtp_server *ss);
size_t smtp_server_session_count(const struct smtp_server *ss);
/* Frees every remaining session at once (cancelling store requests). */
void smtp_server_free(struct smtp_server *ss);

#endif
