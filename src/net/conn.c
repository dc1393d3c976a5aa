/*
 * conn: one client connection over a libevent bufferevent.
 *
 * Ownership: the current bufferevent always owns the socket
 * (BEV_OPT_CLOSE_ON_FREE) and, for TLS, the SSL object. STARTTLS detaches
 * the plain bufferevent from the socket (bufferevent_setfd -1) before it is
 * freed and an OpenSSL socket bufferevent takes the same socket over.
 *
 * Client connections (conn_connect) start as a connecting socket
 * bufferevent; the TCP handshake is bounded by the write timeout, and its end
 * goes to the connect callback, not to the event callback. A client STARTTLS
 * is the same switch as the server's, in the connecting TLS state.
 *
 * No deferred callbacks (BEV_OPT_DEFER_CALLBACKS) are used: bufferevent_free
 * clears the callbacks at once, so nothing fires after conn_free. The one
 * event of our own (`kick`, for DRAINED and resumed input) is freed with it.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "net/net_private.h"

/*
 * Read high watermark: the longest command line allowed by config
 * (command_line_max <= 64 KiB) plus room for pipelined input behind it. A
 * client that sends faster than we consume stalls in its own TCP window.
 */
#define CONN_INPUT_HIGH_WATERMARK (128 * 1024)
/* conn_close: how long unsent output may take to drain. */
#define CONN_CLOSE_FLUSH_S 10
/* After the output is flushed: how long to read-and-discard before closing. */
#define CONN_CLOSE_LINGER_S 2

enum conn_closing { CLOSING_NO, CLOSING_FLUSH, CLOSING_LINGER };

struct conn {
	struct event_base *base;
	struct bufferevent *bev;
	conn_event_cb cb;
	void *arg;

	char peer_ip[NET_IP_MAX];
	unsigned timeout_s;
	bool paused;
	bool want_drained;
	bool kick_data;     /* kick should deliver DATA (input resumed) */
	bool skipping;      /* after TOO_LONG: discard up to the next LF */
	enum conn_closing closing;

	SSL *starttls_ssl;  /* created by conn_starttls, handshake after the flush */
	bool tls;
	bool tls_handshaking;
	bool starttls_handshake; /* the handshake in progress came from conn_starttls */
	char tls_desc[128];
	char *server_name;

	bool client;             /* made by conn_connect: TLS handshakes connect, not accept */
	bool connecting;         /* TCP handshake in progress; connect_cb pending */
	bool connect_failed;     /* failed before the loop ran: kick reports it */
	conn_connected_cb connect_cb;
	void *connect_arg;
	unsigned connect_timeout_s;
	bool tls_verified;
	char verify_reason[128];
	char error[160];         /* conn_error() */

	char *line;         /* conn_readline's result buffer */
	size_t line_cap;

	struct conn *closing_prev, *closing_next; /* on closing_list while flushing or lingering */

	struct event *kick;        /* deferred DRAINED / DATA, never re-entrant */
	struct event *close_timer; /* bounds conn_close */
};

/*
 * Conns that conn_close left flushing or lingering. The protocol has
 * forgotten them, so conn_reap_closing frees them at exit. Loop thread only.
 */
static struct conn *closing_list;

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

void net_peer_ip(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

	snprintf(out, outlen, "unknown");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*s4)) {
		inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)outlen);
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(*s6)) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outlen);
	}
}

static void emit(struct conn *c, enum conn_event ev)
{
	if (c->cb != NULL)
		c->cb(c, ev, c->arg);
}

static void apply_timeouts(struct conn *c)
{
	struct timeval tv = { .tv_sec = (time_t)c->timeout_s, .tv_usec = 0 };

	/* The same limit bounds a client that stops reading our output. */
	if (c->timeout_s == 0)
		bufferevent_set_timeouts(c->bev, NULL, NULL);
	else
		bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void setup_bev(struct conn *c)
{
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_INPUT_HIGH_WATERMARK);
	apply_timeouts(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* An OpenSSL bufferevent that accepts (server) or starts (client) a handshake on fd. */
static struct bufferevent *tls_bev_new(struct event_base *base, int fd, SSL *ssl, bool client)
{
	struct bufferevent *bev = bufferevent_openssl_socket_new(
		base, fd, ssl, client ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL)
		panic("conn: cannot create a TLS bufferevent (out of memory)");
	/* A peer that closes TCP without close_notify has still just closed. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static SSL *ssl_new(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		panic("conn: SSL_new failed (out of memory)");
	return ssl;
}

static void kick_cb(evutil_socket_t fd, short what, void *arg);

/* conn_close could not flush in time, or the linger is over. */
static void close_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

static struct conn *conn_alloc(struct event_base *base, const struct sockaddr *peer, socklen_t peer_len)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	net_peer_ip(peer, peer_len, c->peer_ip, sizeof(c->peer_ip));
	c->kick = event_new(base, -1, 0, kick_cb, c);
	c->close_timer = evtimer_new(base, close_timeout_cb, c);
	if (c->kick == NULL || c->close_timer == NULL)
		panic("conn: cannot create events (out of memory)");
	return c;
}

/*
 * Every protocol here writes a reply in pieces (untagged data then the
 * tagged line, a message then its terminating dot) and then waits for the
 * client. With Nagle's algorithm the last small piece waits for the peer's
 * delayed ACK: ~40 ms per command. We write whole replies already, so Nagle
 * only adds latency.
 */
static void set_nodelay(int fd)
{
	int one = 1;

	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 && errno != EOPNOTSUPP &&
	    errno != ENOTSOCK)
		log_debug("conn event=nodelay-failed error=\"%s\"", strerror(errno));
}

struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer, socklen_t peer_len,
		      SSL_CTX *tls_ctx, conn_event_cb cb, void *arg)
{
	struct conn *c = conn_alloc(base, peer, peer_len);

	c->cb = cb;
	c->arg = arg;
	evutil_make_socket_nonblocking(fd);
	set_nodelay(fd);
	if (tls_ctx != NULL) {
		c->bev = tls_bev_new(base, fd, ssl_new(tls_ctx), false);
		c->tls = true;
		c->tls_handshaking = true;
	} else {
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL)
			panic("conn: cannot create a bufferevent (out of memory)");
	}
	setup_bev(c);
	return c;
}

static void connect_cb(struct bufferevent *bev, short what, void *arg);

struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t sa_len, unsigned timeout_s,
			  conn_connected_cb done, void *arg)
{
	struct conn *c = conn_alloc(base, sa, sa_len);
	struct timeval tv = { .tv_sec = (time_t)timeout_s, .tv_usec = 0 };

	c->client = true;
	c->connecting = true;
	c->connect_cb = done;
	c->connect_arg = arg;
	c->connect_timeout_s = timeout_s;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		panic("conn: cannot create a bufferevent (out of memory)");
	bufferevent_setcb(c->bev, NULL, NULL, connect_cb, c);
	/* While connecting, the write timeout bounds the TCP handshake. */
	bufferevent_set_timeouts(c->bev, NULL, timeout_s > 0 ? &tv : NULL);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)(uintptr_t)sa, (int)sa_len) < 0) {
		snprintf(c->error, sizeof(c->error), "%s",
			 errno != 0 ? strerror(errno) : "cannot start the connection");
		c->connect_failed = true;
		event_active(c->kick, 0, 0);
	} else {
		set_nodelay(bufferevent_getfd(c->bev));
	}
	return c;
}

void conn_set_cb(struct conn *c, conn_event_cb cb, void *arg)
{
	c->cb = cb;
	c->arg = arg;
}

void conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->closing != CLOSING_NO) {
		if (c->closing_prev != NULL)
			c->closing_prev->closing_next = c->closing_next;
		else if (closing_list == c)
			closing_list = c->closing_next;
		if (c->closing_next != NULL)
			c->closing_next->closing_prev = c->closing_prev;
	}
	event_free(c->kick);
	event_free(c->close_timer);
	/* Clears the callbacks now; the socket closes once libevent is done with it. */
	bufferevent_free(c->bev);
	if (c->starttls_ssl != NULL)
		SSL_free(c->starttls_ssl);
	free(c->server_name);
	free(c->line);
	free(c);
}

/* ---- closing ---- */

static void linger_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn_free(arg);
}

/*
 * Output is flushed. Closing now, with unread client bytes in the kernel,
 * would send a RST that can destroy our last reply (say a 421) in the
 * client's receive buffer before it reads it. So half-close and discard
 * input until the client closes too, for a short while (a lingering close).
 */
static void close_linger(struct conn *c)
{
	struct timeval tv = { .tv_sec = CONN_CLOSE_LINGER_S, .tv_usec = 0 };

	c->closing = CLOSING_LINGER;
	if (c->tls && !c->tls_handshaking) {
		/* close_notify (RFC 8446 6.1) so the client sees a clean end, not a truncation. */
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
		if (ssl != NULL && SSL_shutdown(ssl) < 0)
			ERR_clear_error();
	}
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) < 0) {
		conn_free(c);
		return;
	}
	linger_read_cb(c->bev, c);
	bufferevent_setcb(c->bev, linger_read_cb, NULL, linger_event_cb, c);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	bufferevent_enable(c->bev, EV_READ);
	evtimer_add(c->close_timer, &tv);
}

void conn_close(struct conn *c)
{
	struct timeval tv = { .tv_sec = CONN_CLOSE_FLUSH_S, .tv_usec = 0 };

	if (c->closing != CLOSING_NO)
		return;
	c->cb = NULL; /* the contract: no callbacks after conn_close */
	c->want_drained = false;
	c->closing = CLOSING_FLUSH;
	c->closing_next = closing_list;
	if (closing_list != NULL)
		closing_list->closing_prev = c;
	closing_list = c;
	event_del(c->kick);
	bufferevent_disable(c->bev, EV_READ);
	if (c->connecting || c->tls_handshaking || c->starttls_ssl != NULL) {
		conn_free(c); /* nothing worth flushing into a half-made TLS session */
		return;
	}
	if (conn_output_pending(c) == 0) {
		close_linger(c);
		return;
	}
	evtimer_add(c->close_timer, &tv);
}

size_t conn_flushing_count(void)
{
	size_t n = 0;

	for (const struct conn *c = closing_list; c != NULL; c = c->closing_next)
		if (c->closing == CLOSING_FLUSH)
			n++;
	return n;
}

void conn_reap_closing(void)
{
	while (closing_list != NULL)
		conn_free(closing_list);
}

/* ---- callbacks ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing != CLOSING_NO)
		return;
	emit(c, CONN_EV_DATA);
}

static void starttls_switch(struct conn *c);

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->closing == CLOSING_FLUSH) {
		evtimer_del(c->close_timer);
		close_linger(c);
	} else if (c->starttls_ssl != NULL) {
		starttls_switch(c);
	} else if (c->want_drained && c->closing == CLOSING_NO) {
		c->want_drained = false;
		emit(c, CONN_EV_DRAINED);
	}
}

static void tls_established(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	const char *name = ssl != NULL ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;

	c->tls_handshaking = false;
	if (ssl != NULL)
		snprintf(c->tls_desc, sizeof(c->tls_desc), "%s %s", SSL_get_version(ssl),
			 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
	if (name != NULL && c->server_name == NULL)
		c->server_name = xstrndup(name, 255);
	if (c->client && ssl != NULL) {
		long v = SSL_get_verify_result(ssl);
		c->tls_verified = v == X509_V_OK && SSL_get0_peer_certificate(ssl) != NULL;
		snprintf(c->verify_reason, sizeof(c->verify_reason), "%s",
			 SSL_get0_peer_certificate(ssl) == NULL ? "no server certificate"
								: X509_verify_cert_error_string(v));
	}
}

static void log_tls_failure(struct conn *c)
{
	unsigned long e = bufferevent_get_openssl_error(c->bev);
	char reason[256] = "connection closed";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	while (bufferevent_get_openssl_error(c->bev) != 0)
		;
	snprintf(c->error, sizeof(c->error), "TLS handshake failed: %s", reason);
	log_info("conn event=tls-failed ip=%s reason=\"%s\"", c->peer_ip, reason);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		bool starttls = c->starttls_handshake;
		c->starttls_handshake = false;
		tls_established(c);
		if (starttls && c->closing == CLOSING_NO)
			emit(c, CONN_EV_TLS_READY);
		return;
	}
	if (c->closing != CLOSING_NO) {
		conn_free(c);
		return;
	}
	if (c->tls_handshaking && !(what & BEV_EVENT_TIMEOUT))
		log_tls_failure(c);
	else if ((what & BEV_EVENT_ERROR) && errno != 0)
		snprintf(c->error, sizeof(c->error), "%s", strerror(errno));
	if (what & BEV_EVENT_TIMEOUT)
		emit(c, CONN_EV_TIMEOUT);
	else if (what & BEV_EVENT_EOF)
		emit(c, CONN_EV_EOF);
	else
		emit(c, CONN_EV_ERROR);
}

/* The connect attempt is over: hand the conn over, or report and free it. */
static void connect_done(struct conn *c, bool ok)
{
	conn_connected_cb done = c->connect_cb;
	void *arg = c->connect_arg;

	c->connecting = false;
	c->connect_cb = NULL;
	if (!ok) {
		char error[sizeof(c->error)];
		memcpy(error, c->error, sizeof(error));
		conn_free(c);
		done(NULL, error, arg);
		return;
	}
	setup_bev(c);
	done(c, NULL, arg);
}

static void connect_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		connect_done(c, true);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(c->error, sizeof(c->error), "timed out after %u s", c->connect_timeout_s);
	else
		snprintf(c->error, sizeof(c->error), "%s", errno != 0 ? strerror(errno) : "connection failed");
	connect_done(c, false);
}

/* Deferred DRAINED (requested with nothing pending) or DATA (input resumed). */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->connect_failed) {
		connect_done(c, false);
		return;
	}
	bool drained = c->want_drained && conn_output_pending(c) == 0;
	bool data = c->kick_data && !c->paused && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;

	if (c->closing != CLOSING_NO || c->starttls_ssl != NULL)
		return;
	c->kick_data = false;
	if (drained) {
		c->want_drained = false;
		if (data) {
			c->kick_data = true; /* after this callback, which may free c */
			event_active(c->kick, 0, 0);
		}
		emit(c, CONN_EV_DRAINED);
	} else if (data) {
		emit(c, CONN_EV_DATA);
	}
}

/* ---- reading ---- */

/* Drains up to and including the next LF; returns true if one was found. */
static bool skip_to_lf(struct evbuffer *in)
{
	struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);

	if (lf.pos < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	evbuffer_drain(in, (size_t)lf.pos + 1);
	return true;
}

static void copy_line(struct conn *c, struct evbuffer *in, size_t n, struct conn_line *line_r)
{
	if (c->line_cap < n + 1) {
		c->line = xrealloc(c->line, n + 1);
		c->line_cap = n + 1;
	}
	evbuffer_remove(in, c->line, n);
	/* n >= 1 and line[n-1] is the LF */
	n--;
	line_r->bare_lf = !(n > 0 && c->line[n - 1] == '\r');
	if (!line_r->bare_lf)
		n--;
	c->line[n] = '\0';
	line_r->p = c->line;
	line_r->len = n;
}

/*
 * A line, terminator included, is at most max bytes: the LF is searched
 * only within the first max bytes, so a client cannot make us scan or keep
 * more. Longer lines are reported once and skipped to their LF.
 */
enum conn_read conn_readline(struct conn *c, size_t max, struct conn_line *line_r)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr end, lf;
	size_t avail, lim;

	ASSERT(max >= 2 && max <= CONN_INPUT_HIGH_WATERMARK);
	if (c->skipping) {
		if (!skip_to_lf(in))
			return CONN_READ_NEED_MORE;
		c->skipping = false;
	}
	avail = evbuffer_get_length(in);
	if (avail == 0)
		return CONN_READ_NEED_MORE;
	lim = avail < max ? avail : max;
	if (evbuffer_ptr_set(in, &end, lim, EVBUFFER_PTR_SET) < 0)
		return CONN_READ_NEED_MORE;
	lf = evbuffer_search_range(in, "\n", 1, NULL, &end);
	if (lf.pos >= 0) {
		copy_line(c, in, (size_t)lf.pos + 1, line_r);
		return CONN_READ_LINE;
	}
	if (avail < max)
		return CONN_READ_NEED_MORE;
	evbuffer_drain(in, max);
	c->skipping = !skip_to_lf(in);
	return CONN_READ_TOO_LONG;
}

struct evbuffer *conn_input(struct conn *c)
{
	return bufferevent_get_input(c->bev);
}

/* ---- writing ---- */

int conn_write(struct conn *c, const void *p, size_t len)
{
	if (c->closing != CLOSING_NO)
		return -1;
	return bufferevent_write(c->bev, p, len) == 0 ? 0 : -1;
}

int conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (c->closing != CLOSING_NO)
		return -1;
	va_start(ap, fmt);
	r = evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	return r < 0 ? -1 : 0;
}

int conn_vreply(struct conn *c, const char *fmt, va_list ap)
{
	char line[CONN_REPLY_MAX + 3];
	int n = vsnprintf(line, CONN_REPLY_MAX + 1, fmt, ap);

	if (n < 0)
		return -1;
	if (n > CONN_REPLY_MAX)
		n = CONN_REPLY_MAX;
	memcpy(line + n, "\r\n", 2);
	return conn_write(c, line, (size_t)n + 2);
}

size_t conn_output_pending(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void conn_want_drained(struct conn *c)
{
	if (c->closing != CLOSING_NO)
		return;
	c->want_drained = true;
	/* write_cb only runs after a write; with nothing pending, tell from the loop. */
	if (conn_output_pending(c) == 0)
		event_active(c->kick, 0, 0);
}

/* ---- STARTTLS ---- */

/*
 * The "go ahead" reply is on the wire. Everything read so far is plaintext
 * the client sent before the handshake, so it is thrown away (RFC 3207
 * section 4.2; CVE-2011-0411). Bytes still in the kernel become
 * handshake input and fail it, which is the right outcome for them too.
 */
static void starttls_switch(struct conn *c)
{
	struct bufferevent *plain = c->bev;
	struct evbuffer *in = bufferevent_get_input(plain);
	size_t discarded = evbuffer_get_length(in);
	int fd = bufferevent_getfd(plain);
	SSL *ssl = c->starttls_ssl;

	if (discarded > 0)
		log_info("conn event=starttls-discard ip=%s bytes=%zu", c->peer_ip, discarded);
	evbuffer_drain(in, discarded);
	/* Detach the socket so that freeing the plain bufferevent leaves it open. */
	bufferevent_setfd(plain, -1);
	bufferevent_free(plain);
	c->starttls_ssl = NULL;
	c->bev = tls_bev_new(c->base, fd, ssl, c->client);
	c->tls = true;
	c->tls_handshaking = true;
	c->starttls_handshake = true;
	c->paused = false;
	c->skipping = false;
	setup_bev(c);
}

static void starttls_begin(struct conn *c, SSL *ssl)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	/* Stop reading plaintext; what is buffered is discarded (again) at the switch. */
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_drain(in, evbuffer_get_length(in));
	c->starttls_ssl = ssl;
	c->want_drained = false;
	event_del(c->kick);
	if (conn_output_pending(c) == 0)
		starttls_switch(c);
}

static bool starttls_allowed(const struct conn *c, SSL_CTX *tls_ctx)
{
	return tls_ctx != NULL && !c->tls && c->starttls_ssl == NULL && c->closing == CLOSING_NO && !c->connecting;
}

int conn_starttls(struct conn *c, SSL_CTX *tls_ctx)
{
	if (!starttls_allowed(c, tls_ctx))
		return -1;
	starttls_begin(c, ssl_new(tls_ctx));
	return 0;
}

int conn_starttls_client(struct conn *c, SSL_CTX *tls_ctx, const char *servername)
{
	struct in6_addr ip6;
	struct in_addr ip4;
	SSL *ssl;

	if (!c->client || !starttls_allowed(c, tls_ctx))
		return -1;
	ssl = ssl_new(tls_ctx);
	/* Recorded, never enforced: see conn_tls_verified. */
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	if (servername != NULL && inet_pton(AF_INET, servername, &ip4) != 1 &&
	    inet_pton(AF_INET6, servername, &ip6) != 1) {
		if (SSL_set_tlsext_host_name(ssl, servername) != 1 || SSL_set1_host(ssl, servername) != 1)
			ERR_clear_error(); /* an odd name: no SNI, and verification will say so */
		free(c->server_name);
		c->server_name = xstrndup(servername, 255);
	}
	snprintf(c->verify_reason, sizeof(c->verify_reason), "no TLS handshake yet");
	starttls_begin(c, ssl);
	return 0;
}

bool conn_tls_verified(const struct conn *c, const char **reason_r)
{
	if (reason_r != NULL)
		*reason_r = c->tls_verified ? NULL : c->verify_reason[0] != '\0' ? c->verify_reason : "not TLS";
	return c->tls_verified;
}

const char *conn_error(const struct conn *c)
{
	return c->error[0] != '\0' ? c->error : NULL;
}

/* ---- flow control ---- */

void conn_set_timeout(struct conn *c, unsigned seconds)
{
	c->timeout_s = seconds;
	if (c->closing == CLOSING_NO)
		apply_timeouts(c);
}

void conn_pause_read(struct conn *c)
{
	c->paused = true;
	if (c->starttls_ssl == NULL && c->closing == CLOSING_NO)
		bufferevent_disable(c->bev, EV_READ);
}

void conn_resume_read(struct conn *c)
{
	bool was_paused = c->paused;

	if (c->starttls_ssl != NULL || c->closing != CLOSING_NO)
		return;
	c->paused = false;
	bufferevent_enable(c->bev, EV_READ);
	/* Lines may have been buffered while paused; no read event will announce them. */
	if (was_paused && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		c->kick_data = true;
		event_active(c->kick, 0, 0);
	}
}

/* ---- accessors ---- */

const char *conn_peer_ip(const struct conn *c)
{
	return c->peer_ip;
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls;
}

const char *conn_tls_description(const struct conn *c)
{
	return c->tls && c->tls_desc[0] != '\0' ? c->tls_desc : NULL;
}

const char *conn_tls_server_name(const struct conn *c)
{
	return c->server_name;
}
