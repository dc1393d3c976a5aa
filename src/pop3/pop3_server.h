/*
 * pop3_server: the POP3 server (RFC 1939, with CAPA and response codes of
 * RFC 2449/3206, STLS of RFC 2595 and AUTH of RFC 5034) on the network core.
 *
 * One pop3_server serves every `listen pop3` (plain, STLS offered when TLS
 * is configured) and `listen pop3s` (implicit TLS) socket. The maildrop is
 * the INBOX of the address that logs in, with that address's own password.
 * It owns its sessions; each session is a state machine in pop3_session.c,
 * its commands are the table in pop3_cmd.c.
 *
 * UIDL: a message's unique id is "<uidvalidity>.<uid>" of its INBOX entry,
 * the very pair that identifies it to IMAP (RFC 3501 2.3.1.1), so it never
 * changes and is never reused while the folder exists.
 */
#ifndef HERMOD_POP3_POP3_SERVER_H
#define HERMOD_POP3_POP3_SERVER_H

#include <stddef.h>

#include "auth/auth.h"
#include "config/config.h"
#include "net/server.h"
#include "store/store_async.h"

struct pop3_server;

/*
 * Registers itself as the LISTEN_POP3 and LISTEN_POP3S handler of srv.
 * cfg must outlive every session started with it; auth is shared with the
 * other protocols and must outlive the server.
 */
struct pop3_server *pop3_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg);
/* Sessions started from now on use cfg (reload); running ones keep theirs. */
void pop3_server_set_config(struct pop3_server *ps, const struct config *cfg);
/*
 * Begins a graceful shutdown: a session committing its deletions (QUIT)
 * gets its answer first; every other session is told "-ERR [SYS/TEMP]
 * Server shutting down" and closed. No marked message is deleted then:
 * RFC 1939 deletes only at QUIT.
 */
void pop3_server_shutdown(struct pop3_server *ps);
size_t pop3_server_session_count(const struct pop3_server *ps);
/* Frees every remaining session at once (cancelling their requests). */
void pop3_server_free(struct pop3_server *ps);

#endif
