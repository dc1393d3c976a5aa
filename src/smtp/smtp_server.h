/*
 * smtp_server: the SMTP protocol server (RFC 5321) on the network core.
 *
 * One smtp_server serves every `listen smtp` socket (the MX role: mail for
 * hosted domains only, never relayed) and every `listen submission` /
 * `listen submissions` socket (RFC 6409: authenticated clients sending
 * mail, within their plan's limits). It owns its sessions; each session is
 * one state machine (smtp_session.c) with the policy of its listener.
 */
#ifndef HERMOD_SMTP_SMTP_SERVER_H
#define HERMOD_SMTP_SMTP_SERVER_H

#include <stddef.h>

#include "auth/auth.h"
#include "config/config.h"
#include "net/server.h"
#include "store/store_async.h"

struct smtp_server;

/*
 * Registers itself as the LISTEN_SMTP, LISTEN_SUBMISSION and
 * LISTEN_SUBMISSIONS handler of srv. auth checks submission logins and
 * must outlive the server. cfg must outlive every session started with it.
 */
struct smtp_server *smtp_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg);
/*
 * Called after a submission with remote recipients became durable, so the
 * outbound queue can start at once instead of at its next scan. A callback
 * rather than a dependency: the queue already depends on smtp (the client).
 */
void smtp_server_set_queued_hook(struct smtp_server *ss, void (*hook)(void *arg), void *arg);
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
