/*
 * server: the listeners and the connection limits shared by every protocol.
 *
 * A protocol registers a handler per service; the server accepts, applies the
 * global and per-IP connection limits (refusing with the protocol's own
 * refusal line), wraps the socket in a conn and hands it over.
 */
#ifndef HERMOD_NET_SERVER_H
#define HERMOD_NET_SERVER_H

#include <event2/event.h>

#include "config/config.h"
#include "net/conn.h"

struct server;

enum server_refusal {
	SERVER_REFUSE_TOTAL,  /* max_connections reached */
	SERVER_REFUSE_PER_IP, /* max_connections_per_ip reached for this peer */
};

struct server_handler {
	/* Takes over the connection. Must eventually conn_free/conn_close it and
	 * call server_conn_done() exactly once. */
	void (*accept)(struct server *srv, struct conn *c, const struct listen_cfg *lc, void *arg);
	/*
	 * Writes the protocol's refusal line for an over-limit client (e.g.
	 * SMTP "421 4.7.0 ..."); the server then closes the socket. The write
	 * must not block (the socket is non-blocking; a short write is fine).
	 */
	void (*refuse)(int fd, enum server_refusal why, unsigned limit, const char *peer_ip, void *arg);
	void *arg;
};

/* Creates the TLS context(s) from cfg; returns NULL and *errstr_r on failure. */
struct server *server_new(struct event_base *base, const struct config *cfg, const char **errstr_r);
void server_free(struct server *srv);

void server_set_handler(struct server *srv, enum listen_service service, const struct server_handler *h);

/*
 * Binds every "listen" of cfg whose service has a handler; fails (start-up
 * error) if one cannot be bound. Services without a handler are logged and skipped.
 */
int server_listen(struct server *srv, const char **errstr_r);
/* Stops accepting (shutdown); existing connections are untouched. */
void server_stop_listening(struct server *srv);
/* The port actually bound for the n-th listen line (tests use port 0). */
unsigned server_bound_port(const struct server *srv, size_t n);

/* Swap in a new configuration snapshot (limits, TLS certificates). */
int server_reload(struct server *srv, const struct config *cfg, const char **errstr_r);

/* TLS context for STARTTLS (SNI-aware); NULL when TLS is not configured. */
SSL_CTX *server_tls_ctx(struct server *srv);

/* Must be called once per accepted connection when it ends. */
void server_conn_done(struct server *srv, struct conn *c);
unsigned server_conn_count(const struct server *srv);

#endif
