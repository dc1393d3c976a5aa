/*
 * conn: one client connection, plain or TLS, on a libevent bufferevent.
 *
 * Protocols see only this API and one callback with a few events. Reads are
 * bounded here, in the primitive: conn_readline never returns or buffers
 * more than its caller's maximum, and the input buffer has a high watermark.
 */
#ifndef HERMOD_NET_CONN_H
#define HERMOD_NET_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

struct conn;

enum conn_event {
	CONN_EV_DATA,      /* new input is buffered */
	CONN_EV_DRAINED,   /* all output written (only after conn_want_drained) */
	CONN_EV_TLS_READY, /* STARTTLS handshake done; input buffer is empty */
	CONN_EV_TIMEOUT,   /* no input for the timeout set */
	CONN_EV_EOF,       /* peer closed */
	CONN_EV_ERROR,     /* socket or TLS error; the conn is unusable */
};

typedef void (*conn_event_cb)(struct conn *c, enum conn_event ev, void *arg);

enum conn_read {
	CONN_READ_LINE,      /* a whole line */
	CONN_READ_NEED_MORE, /* no full line buffered yet */
	CONN_READ_TOO_LONG,  /* line exceeded max: dropped; the rest up to LF is skipped */
};

struct conn_line {
	char *p;     /* NUL-terminated, without its line ending; valid until the next read */
	size_t len;
	bool bare_lf; /* ended with LF not preceded by CR */
};

/*
 * Wraps an accepted socket. When tls_ctx is not NULL the connection is
 * implicit TLS (the handshake runs before any CONN_EV_DATA). Takes ownership
 * of fd. Never returns NULL.
 */
struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer, socklen_t peer_len,
		      SSL_CTX *tls_ctx, conn_event_cb cb, void *arg);

/* Replaces the event callback (the server creates the conn before the protocol session). */
void conn_set_cb(struct conn *c, conn_event_cb cb, void *arg);

/* Frees immediately: closes the socket, drops unsent output. No more callbacks. */
void conn_free(struct conn *c);
/* Flushes pending output, then frees; no more callbacks after this call. */
void conn_close(struct conn *c);
/* Closed conns still writing their last output (a shutdown waits for them). */
size_t conn_flushing_count(void);

/*
 * Takes one line from the input. max bounds the whole line including its
 * CRLF/LF (RFC 5321 counts the CRLF in its 512 octets) and may be at most
 * 128 KiB (the input high watermark). After TOO_LONG the rest of that line,
 * up to its LF, is discarded as it arrives.
 */
enum conn_read conn_readline(struct conn *c, size_t max, struct conn_line *line_r);
/* The raw input buffer, for streamed bodies (DATA, BDAT, literals). */
struct evbuffer *conn_input(struct conn *c);

int conn_write(struct conn *c, const void *p, size_t len);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Writes one protocol reply line: fmt formatted, cut at CONN_REPLY_MAX bytes
 * (so text echoed from a client can never make a reply unbounded or split
 * it), then CRLF. The SMTP and POP3 sessions reply through this.
 */
#define CONN_REPLY_MAX 1021
int conn_vreply(struct conn *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
size_t conn_output_pending(const struct conn *c);
/* Ask for one CONN_EV_DRAINED once the output buffer is empty. */
void conn_want_drained(struct conn *c);

/*
 * Starts a server-side TLS handshake on a plain connection after the
 * protocol's "go ahead" reply has been queued: flushes that reply, discards
 * every byte of buffered plaintext input (a pipelined injection), then
 * handshakes. CONN_EV_TLS_READY or CONN_EV_ERROR follows.
 */
int conn_starttls(struct conn *c, SSL_CTX *tls_ctx);

/* ---- client side (outbound SMTP) ---- */

/*
 * Called once when a conn_connect attempt ends. On success c is the
 * connection (install the event callback with conn_set_cb) and error is
 * NULL. On failure c is NULL (the conn module has freed it) and error says
 * why in words ("Connection refused", "timed out after 30 s"); it is valid
 * during the call only.
 */
typedef void (*conn_connected_cb)(struct conn *c, const char *error, void *arg);

/*
 * Connects to sa (copied; it carries the port) without blocking. done runs
 * later from the loop, never inside this call; timeout_s (0: none) bounds
 * the TCP handshake. conn_free on the returned handle before done has run
 * cancels the attempt (done is then never called). Never returns NULL.
 * (A callback of its own rather than a new conn_event: the protocol
 * servers switch over conn_event exhaustively.)
 */
struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t sa_len, unsigned timeout_s,
			  conn_connected_cb done, void *arg);

/*
 * Client-side STARTTLS (RFC 3207) once the server's "220" is read: discards
 * any input buffered after that reply (a response injected before the
 * handshake, as a server's STARTTLS discards commands), then handshakes,
 * sending servername as SNI when it is not NULL. CONN_EV_TLS_READY or
 * CONN_EV_ERROR follows.
 *
 * Opportunistic TLS (RFC 7435): the server certificate is checked against
 * tls_ctx's trust store and servername, but a failed check does not abort
 * the handshake, since for unauthenticated encryption any certificate beats
 * plaintext. The outcome is recorded; see conn_tls_verified.
 */
int conn_starttls_client(struct conn *c, SSL_CTX *tls_ctx, const char *servername);
/*
 * After a client handshake: true when the server certificate chain was
 * trusted and matched the server name. Otherwise *reason_r (when not NULL)
 * says why, in OpenSSL's words ("self-signed certificate").
 */
bool conn_tls_verified(const struct conn *c, const char **reason_r);
/* Why the last CONN_EV_ERROR / TLS failure happened, in words; NULL if unknown. */
const char *conn_error(const struct conn *c);

/* Idle timeout for reads, in seconds (0 disables). */
void conn_set_timeout(struct conn *c, unsigned seconds);
/* Stop / restart delivering input while an asynchronous step is pending. */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);

const char *conn_peer_ip(const struct conn *c); /* numeric, no brackets */
bool conn_is_tls(const struct conn *c);
/* e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"; NULL on a plain connection. */
const char *conn_tls_description(const struct conn *c);
/* Server name the client asked for (SNI), or NULL. */
const char *conn_tls_server_name(const struct conn *c);

#endif
