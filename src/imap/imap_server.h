/*
 * imap_server: the IMAP protocol server (RFC 3501 IMAP4rev1, RFC 9051
 * IMAP4rev2) on the network core.
 *
 * One imap_server serves every `listen imap` (STARTTLS) and `listen imaps`
 * (implicit TLS) socket. It owns its sessions; each session is a state
 * machine in imap_session.c with a command table in imap_cmd.c.
 */
#ifndef HERMOD_IMAP_IMAP_SERVER_H
#define HERMOD_IMAP_IMAP_SERVER_H

#include <stddef.h>

#include "auth/auth.h"
#include "config/config.h"
#include "net/server.h"
#include "store/store_async.h"

struct imap_server;

/*
 * Registers itself as the LISTEN_IMAP and LISTEN_IMAPS handler of srv. cfg
 * must outlive every session started with it; store and auth must outlive
 * the server.
 */
struct imap_server *imap_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg);
/* Sessions started from now on use cfg (reload); running ones keep theirs. */
void imap_server_set_config(struct imap_server *is, const struct config *cfg);
/*
 * Begins a graceful shutdown: idle sessions get "* BYE Server shutting
 * down" and close; a session with a command in flight finishes it (its
 * tagged reply is written, so an acknowledged APPEND is durable) and then
 * gets the BYE.
 */
void imap_server_shutdown(struct imap_server *is);
size_t imap_server_session_count(const struct imap_server *is);
/* Frees every remaining session at once (cancelling store and auth requests). */
void imap_server_free(struct imap_server *is);

#endif
