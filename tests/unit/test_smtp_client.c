/*
 * Tests for src/smtp/smtp_client (and the client side of src/net/conn).
 *
 * The client runs on a real libevent loop in the test's main thread. The
 * remote is a tiny scripted SMTP server in a second thread on 127.0.0.1:0
 * with blocking sockets: it sends and expects lines in the order a script
 * says, so a client that waits where it should pipeline (or pipelines where
 * it must not) is caught. One test talks to Postfix's smtp-sink for interop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/conn.h"
#include "net/net_private.h"
#include "net/tls.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply_parse.h"

static char tmpdir[PATH_MAX];
static char cert_path[PATH_MAX + 32], key_path[PATH_MAX + 32];

/* ---- the scripted server ---- */

#define LOG_MAX (256 * 1024)

struct script_server {
	int lfd;
	unsigned port;
	const char *const *steps;
	pthread_t thread;
	int fd;
	SSL *ssl;
	SSL_CTX *ctx;
	char inbuf[16384];
	size_t inlen;
	char log[LOG_MAX]; /* every line received, "\n"-separated */
	size_t loglen;
	char body[LOG_MAX]; /* raw DATA bytes up to and including the final dot line */
	size_t bodylen;
	char sni[256];
	int connections;
	char failure[512];
};

static void srv_fail(struct script_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void srv_fail(struct script_server *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failure[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
	va_end(ap);
}

static void srv_send(struct script_server *s, const char *p, size_t n)
{
	/* Errors are ignored: a client may rightly hang up on a misbehaving script. */
	if (s->ssl != NULL) {
		if (SSL_write(s->ssl, p, (int)n) <= 0)
			ERR_clear_error();
	} else if (send(s->fd, p, n, MSG_NOSIGNAL) < 0) {
		return;
	}
}

/* Reads more input within ms; returns bytes read, 0 on EOF or timeout, -1 on error. */
static ssize_t srv_fill(struct script_server *s, int ms)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	ssize_t n;

	if (s->inlen == sizeof(s->inbuf))
		return -1;
	if ((s->ssl == NULL || SSL_pending(s->ssl) == 0) && poll(&pfd, 1, ms) != 1)
		return 0;
	if (s->ssl != NULL)
		n = SSL_read(s->ssl, s->inbuf + s->inlen, (int)(sizeof(s->inbuf) - s->inlen));
	else
		n = recv(s->fd, s->inbuf + s->inlen, sizeof(s->inbuf) - s->inlen, 0);
	if (n <= 0)
		return n == 0 || s->ssl != NULL ? 0 : -1;
	s->inlen += (size_t)n;
	return n;
}

/* One line without CRLF into out; false on EOF/timeout (5 s). */
static bool srv_line(struct script_server *s, char *out, size_t outlen, int ms)
{
	for (;;) {
		char *lf = memchr(s->inbuf, '\n', s->inlen);
		if (lf != NULL) {
			size_t n = (size_t)(lf - s->inbuf) + 1, m = n - 1;
			if (m > 0 && s->inbuf[m - 1] == '\r')
				m--;
			if (m >= outlen)
				m = outlen - 1;
			memcpy(out, s->inbuf, m);
			out[m] = '\0';
			memmove(s->inbuf, s->inbuf + n, s->inlen - n);
			s->inlen -= n;
			if (s->loglen + m + 2 < LOG_MAX) {
				memcpy(s->log + s->loglen, out, m);
				s->loglen += m;
				s->log[s->loglen++] = '\n';
				s->log[s->loglen] = '\0';
			}
			return true;
		}
		if (srv_fill(s, ms) <= 0)
			return false;
	}
}

/* DATA: raw bytes until the "\r\n.\r\n" end (or a lone ".\r\n" first line). */
static void srv_body(struct script_server *s)
{
	for (;;) {
		for (size_t i = 0; i < s->inlen; i++) {
			if (s->bodylen + 1 >= LOG_MAX) {
				srv_fail(s, "body too big");
				return;
			}
			s->body[s->bodylen++] = s->inbuf[i];
			s->body[s->bodylen] = '\0';
			bool end = (s->bodylen == 3 && memcmp(s->body, ".\r\n", 3) == 0) ||
				   (s->bodylen >= 5 && memcmp(s->body + s->bodylen - 5, "\r\n.\r\n", 5) == 0);
			if (end) {
				memmove(s->inbuf, s->inbuf + i + 1, s->inlen - i - 1);
				s->inlen -= i + 1;
				return;
			}
		}
		s->inlen = 0;
		if (srv_fill(s, 5000) <= 0) {
			srv_fail(s, "connection ended inside DATA");
			return;
		}
	}
}

static void srv_close(struct script_server *s)
{
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->inlen = 0;
}

static bool srv_accept(struct script_server *s)
{
	struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };

	srv_close(s);
	if (poll(&pfd, 1, 10000) != 1) {
		srv_fail(s, "no connection came");
		return false;
	}
	s->fd = accept(s->lfd, NULL, NULL);
	s->connections++;
	return s->fd >= 0;
}

static bool srv_tls(struct script_server *s)
{
	const char *name;

	s->ssl = SSL_new(s->ctx);
	SSL_set_fd(s->ssl, s->fd);
	if (SSL_accept(s->ssl) != 1) {
		srv_fail(s, "TLS handshake failed");
		ERR_clear_error();
		return false;
	}
	name = SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
	snprintf(s->sni, sizeof(s->sni), "%s", name != NULL ? name : "");
	return true;
}

/* "NOMORE": the client must send nothing now (it waits for our reply). */
static void srv_nomore(struct script_server *s)
{
	if (s->inlen > 0 || srv_fill(s, 300) > 0)
		srv_fail(s, "client sent \"%.*s\" before our reply (pipelining without PIPELINING)", (int)s->inlen,
			 s->inbuf);
}

static bool srv_step(struct script_server *s, const char *step)
{
	char line[8192];

	if (strncmp(step, "> ", 2) == 0) {
		char out[8192];
		int n = snprintf(out, sizeof(out), "%s\r\n", step + 2);
		srv_send(s, out, (size_t)n);
	} else if (strncmp(step, "< ", 2) == 0 || strncmp(step, "<~", 2) == 0) {
		const char *want = step + 2;
		if (!srv_line(s, line, sizeof(line), 5000)) {
			srv_fail(s, "expected \"%s\", got end of input", want);
			return false;
		}
		if (step[1] == '~' ? strncmp(line, want, strlen(want)) != 0 : strcmp(line, want) != 0) {
			srv_fail(s, "expected \"%s\", got \"%s\"", want, line);
			return false;
		}
	} else if (strcmp(step, "BODY") == 0) {
		srv_body(s);
	} else if (strcmp(step, "TLS") == 0) {
		return srv_tls(s);
	} else if (strcmp(step, "ACCEPT") == 0) {
		return srv_accept(s);
	} else if (strcmp(step, "CLOSE") == 0) {
		srv_close(s);
	} else if (strcmp(step, "NOMORE") == 0) {
		srv_nomore(s);
	} else if (strncmp(step, "SLEEP ", 6) == 0) {
		usleep((useconds_t)atoi(step + 6) * 1000);
	} else if (strncmp(step, "RAW ", 4) == 0) {
		srv_send(s, step + 4, strlen(step + 4));
	} else {
		srv_fail(s, "bad script step \"%s\"", step);
		return false;
	}
	return true;
}

static void *srv_main(void *arg)
{
	struct script_server *s = arg;
	char line[8192];

	if (!srv_accept(s))
		return NULL;
	for (size_t i = 0; s->steps[i] != NULL; i++) {
		if (!srv_step(s, s->steps[i]))
			break;
	}
	/* Whatever else comes (QUIT), until the client closes. */
	while (s->fd >= 0 && srv_line(s, line, sizeof(line), 3000))
		;
	srv_close(s);
	return NULL;
}

static struct script_server *srv_start(const char *const *steps)
{
	struct script_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	const int one = 1;

	s->fd = -1;
	s->steps = steps;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate_chain_file(s->ctx, cert_path), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(s->ctx, key_path, SSL_FILETYPE_PEM), 1);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	return s;
}

/* Joins the server; fails the test with the server's complaint if any. */
static void srv_finish(struct script_server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	if (s->failure[0] != '\0') {
		print_error("server log:\n%s\n", s->log);
		fail_msg("scripted server: %s", s->failure);
	}
}

/* ---- the client side ---- */

struct outcome {
	bool called;
	enum smtp_client_status status;
	unsigned code;
	char enhanced[SMTP_ENHANCED_MAX];
	char text[SMTP_CLIENT_TEXT_MAX];
	bool remote;
	size_t nrcpts;
	struct {
		enum smtp_client_status status;
		unsigned code;
		char enhanced[SMTP_ENHANCED_MAX];
		char text[SMTP_CLIENT_TEXT_MAX];
		bool remote;
	} rcpt[8];
	char host[512];
	bool tls, tls_verified;
	char tls_desc[128];
	unsigned exts;
	bool reused;
	struct smtp_client_idle *idle; /* the test owns it */
};

struct body {
	const char *p;
	size_t len, off, chunk;
	bool fail;
};

static struct event_base *base;
static SSL_CTX *client_ctx;

static int body_read(void *arg, void *buf, size_t len, size_t *got)
{
	struct body *b = arg;
	size_t n = b->len - b->off;

	if (b->fail && b->off > 0)
		return -1;
	if (n > len)
		n = len;
	if (b->chunk > 0 && n > b->chunk)
		n = b->chunk; /* small reads exercise the stuffing state across chunks */
	memcpy(buf, b->p + b->off, n);
	b->off += n;
	*got = n;
	return 0;
}

static void on_result(const struct smtp_client_result *r, void *arg)
{
	struct outcome *o = arg;

	o->called = true;
	o->status = r->status;
	o->code = r->reply.code;
	snprintf(o->enhanced, sizeof(o->enhanced), "%s", r->reply.enhanced);
	snprintf(o->text, sizeof(o->text), "%s", r->reply.text);
	o->remote = r->reply.remote;
	o->nrcpts = r->nrcpts;
	for (size_t i = 0; i < r->nrcpts && i < 8; i++) {
		o->rcpt[i].status = r->rcpts[i].status;
		o->rcpt[i].code = r->rcpts[i].code;
		snprintf(o->rcpt[i].enhanced, sizeof(o->rcpt[i].enhanced), "%s", r->rcpts[i].enhanced);
		snprintf(o->rcpt[i].text, sizeof(o->rcpt[i].text), "%s", r->rcpts[i].text);
		o->rcpt[i].remote = r->rcpts[i].remote;
	}
	snprintf(o->host, sizeof(o->host), "%s", r->host);
	o->tls = r->tls;
	o->tls_verified = r->tls_verified;
	snprintf(o->tls_desc, sizeof(o->tls_desc), "%s", r->tls_description != NULL ? r->tls_description : "");
	o->exts = r->extensions;
	o->reused = r->reused;
	o->idle = r->idle;
}

static void break_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

static void run_until(bool *done, int ms)
{
	struct timespec t0, t;
	struct timeval tick = { 0, 10 * 1000 };
	struct event *ev = event_new(base, -1, EV_PERSIST, break_cb, NULL);

	event_add(ev, &tick);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((done != NULL && *done) ||
		    (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(ev);
}

static struct sockaddr_in loopback(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	sin.sin_port = htons((uint16_t)port);
	return sin;
}

/* A port nobody listens on (bound, then closed). */
static unsigned dead_port(void)
{
	struct sockaddr_in sin = loopback(0);
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static const struct smtp_client_timeouts fast = {
	.connect_s = 2, .banner_s = 2, .helo_s = 2, .mail_s = 2, .rcpt_s = 2, .data_s = 2, .block_s = 2, .dot_s = 2,
};

struct send_args {
	const unsigned *ports;
	size_t nports;
	const char *const *rcpts;
	size_t nrcpts;
	struct body *body;
	unsigned flags;
	uint64_t size;
	bool tls;
	const struct smtp_client_timeouts *timeouts;
	const char *from;
	bool keep;
	struct smtp_client_idle *reuse;
};

static void send_job(const struct send_args *a, struct outcome *o)
{
	struct sockaddr_in sins[4];
	struct smtp_client_target targets[4];
	static const char *const one_rcpt[] = { "rcpt@remote.test" };
	struct body empty = { "", 0, 0, 0, false };
	struct body *b = a->body != NULL ? a->body : &empty;
	struct smtp_client_job job = {
		.targets = targets,
		.ntargets = a->nports,
		.helo_name = "client.test",
		.tls_ctx = a->tls ? client_ctx : NULL,
		.from = a->from != NULL ? a->from : "sender@hermod.test",
		.rcpts = a->rcpts != NULL ? a->rcpts : one_rcpt,
		.nrcpts = a->rcpts != NULL ? a->nrcpts : 1,
		.read = body_read,
		.read_arg = b,
		.size = a->size != 0 ? a->size : b->len,
		.flags = a->flags,
		.timeouts = a->timeouts != NULL ? a->timeouts : &fast,
		.keep = a->keep,
		.reuse = a->reuse,
	};

	for (size_t i = 0; i < a->nports; i++) {
		sins[i] = loopback(a->ports[i]);
		targets[i] = (struct smtp_client_target){ (struct sockaddr *)&sins[i], sizeof(sins[i]), "mx.remote.test" };
	}
	memset(o, 0, sizeof(*o));
	smtp_client_send(base, &job, on_result, o);
	assert_false(o->called); /* never inside the call */
	run_until(&o->called, 20000);
	assert_true(o->called);
	run_until(NULL, 100); /* lets the QUIT after the result go out */
}

/* One server, one recipient list, the default body. */
static void send_simple(struct script_server *s, const char *const *rcpts, size_t nrcpts, struct body *b,
			struct outcome *o)
{
	unsigned port = s->port;
	struct send_args a = { .ports = &port, .nports = 1, .rcpts = rcpts, .nrcpts = nrcpts, .body = b };

	send_job(&a, o);
}

/* ---- connection reuse ---- */

#define EHLO_PIPE "> 250-mx.remote.test", "> 250 PIPELINING"
#define TXN_OK "<~MAIL FROM:", "<~RCPT TO:", "< DATA", "> 250 2.1.0 Ok", "> 250 2.1.5 Ok", "> 354 go", "BODY"

/*
 * keep hands back the session after a 2xx to the dot; the next job on it
 * starts with RSET alone (not pipelined with MAIL), and both messages go
 * over one connection.
 */
static void test_reuse_session(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 250 2.0.0 first",
		"< RSET", "NOMORE", "> 250 2.0.0 Ok", TXN_OK, "> 250 2.0.0 second",
		"< QUIT", "> 221 bye", NULL,
	};
	struct body b1 = { "Subject: 1\r\n\r\none\r\n", 19, 0, 0, false };
	struct body b2 = { "Subject: 2\r\n\r\ntwo\r\n", 19, 0, 0, false };
	struct script_server *s = srv_start(steps);
	struct send_args a = { .ports = &s->port, .nports = 1, .body = &b1, .keep = true };
	struct outcome o1, o2;

	send_job(&a, &o1);
	assert_int_equal(o1.status, SMTP_CLIENT_DELIVERED);
	assert_false(o1.reused);
	assert_non_null(o1.idle);
	assert_int_equal(smtp_client_idle_uses(o1.idle), 1);
	assert_non_null(strstr(smtp_client_idle_label(o1.idle), "[127.0.0.1]:"));
	a.body = &b2;
	a.keep = false;
	a.reuse = o1.idle;
	send_job(&a, &o2);
	srv_finish(s);
	assert_int_equal(o2.status, SMTP_CLIENT_DELIVERED);
	assert_string_equal(o2.text, "second");
	assert_true(o2.reused);
	assert_null(o2.idle); /* keep was off: QUIT */
	assert_int_equal(s->connections, 1);
	assert_non_null(strstr(s->body, "two\r\n.\r\n"));
	free(s);
}

/* A session that ended while idle, or whose RSET is refused, is dropped: the job goes on afresh. */
static void test_reuse_dead_session(void **state)
{
	static const char *const closed[] = {
		"> 220 mx", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 250 2.0.0 first", "CLOSE",
		"ACCEPT", "> 220 mx again", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 250 2.0.0 fresh",
		"< QUIT", "> 221 bye", NULL,
	};
	static const char *const refused[] = {
		"> 220 mx", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 250 2.0.0 first",
		"< RSET", "> 421 4.3.2 shutting down", "CLOSE",
		"ACCEPT", "> 220 mx again", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 250 2.0.0 fresh",
		"< QUIT", "> 221 bye", NULL,
	};
	const char *const *scripts[] = { closed, refused };

	for (size_t i = 0; i < 2; i++) {
		struct body b1 = { "x\r\n", 3, 0, 0, false }, b2 = { "y\r\n", 3, 0, 0, false };
		struct script_server *s = srv_start(scripts[i]);
		struct send_args a = { .ports = &s->port, .nports = 1, .body = &b1, .keep = true };
		struct outcome o1, o2;

		send_job(&a, &o1);
		assert_non_null(o1.idle);
		if (i == 0) /* the close reaches the idle session before it is reused */
			run_until(NULL, 300);
		a.body = &b2;
		a.reuse = o1.idle;
		a.keep = false;
		send_job(&a, &o2);
		srv_finish(s);
		assert_int_equal(o2.status, SMTP_CLIENT_DELIVERED);
		assert_string_equal(o2.text, "fresh");
		assert_false(o2.reused);
		assert_int_equal(s->connections, 2);
		assert_null(o2.idle);
		free(s);
	}
}

static void idle_gone_cb(struct smtp_client_idle *idle, void *arg)
{
	*(bool *)arg = true;
}

/*
 * No session is kept after an error or a refused message; a watched idle
 * session QUITs at its timeout; one the server closes reports it.
 */
static void test_reuse_limits(void **state)
{
	static const char *const refused[] = {
		"> 220 mx", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 554 5.7.1 no thanks", "< QUIT", "> 221 bye",
		NULL,
	};
	static const char *const idle_quit[] = {
		"> 220 mx", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 250 ok", "< QUIT", "> 221 bye", NULL,
	};
	static const char *const idle_closed[] = {
		"> 220 mx", "< EHLO client.test", EHLO_PIPE, TXN_OK, "> 250 ok", "SLEEP 200",
		"> 421 4.4.2 idle too long", "CLOSE", NULL,
	};
	struct body b = { "x\r\n", 3, 0, 0, false };
	struct script_server *s = srv_start(refused);
	struct send_args a = { .ports = &s->port, .nports = 1, .body = &b, .keep = true };
	struct outcome o;
	bool gone = false;

	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	assert_null(o.idle);
	free(s);

	b.off = 0;
	s = srv_start(idle_quit);
	a.ports = &s->port;
	send_job(&a, &o);
	assert_non_null(o.idle);
	assert_true(smtp_client_idle_watch(o.idle, 1, idle_gone_cb, &gone));
	run_until(&gone, 3000);
	assert_true(gone); /* timed out: QUIT sent (the script expects it) */
	run_until(NULL, 200);
	srv_finish(s);
	free(s);

	b.off = 0;
	gone = false;
	s = srv_start(idle_closed);
	a.ports = &s->port;
	send_job(&a, &o);
	assert_non_null(o.idle);
	assert_true(smtp_client_idle_watch(o.idle, 30, idle_gone_cb, &gone));
	run_until(&gone, 3000);
	assert_true(gone);
	srv_finish(s);
	free(s);
}

/* ---- fixtures ---- */

static void make_cert(const char *cn)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_sign(x, key, EVP_sha256());
	f = fopen(cert_path, "w");
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key_path, "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

static int group_setup(void **state)
{
	const char *tbase = getenv("HERMOD_TEST_TMP");
	const char *err = NULL;

	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_smtp_client.XXXXXX", tbase != NULL ? tbase : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	make_cert("mx.remote.test");
	client_ctx = tls_client_ctx_new(&err);
	return client_ctx == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	SSL_CTX_free(client_ctx);
	return 0;
}

static int setup(void **state)
{
	base = event_base_new();
	return base == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	run_until(NULL, 50);
	conn_reap_closing();
	event_base_free(base);
	return 0;
}

/* ---- reply parsing ---- */

static void test_reply_parse(void **state)
{
	struct smtp_reply_line rl;
	char enh[SMTP_ENHANCED_MAX];
	struct slice t;
	unsigned exts = 0;
	uint64_t size = 7;

	assert_int_equal(smtp_reply_parse_line("250-mx.test hi", 14, &rl), 0);
	assert_int_equal(rl.code, 250);
	assert_false(rl.last);
	assert_int_equal(rl.text.len, 10);
	assert_int_equal(smtp_reply_parse_line("354", 3, &rl), 0);
	assert_true(rl.last);
	assert_int_equal(smtp_reply_parse_line("250 ", 4, &rl), 0);
	assert_true(rl.last);
	assert_int_equal(smtp_reply_parse_line("25", 2, &rl), -1);
	assert_int_equal(smtp_reply_parse_line("150 x", 5, &rl), -1);
	assert_int_equal(smtp_reply_parse_line("260 x", 5, &rl), -1);
	assert_int_equal(smtp_reply_parse_line("250x", 4, &rl), -1);
	assert_int_equal(smtp_reply_parse_line("hello", 5, &rl), -1);

	t = slice_cstr("5.1.1 User unknown");
	assert_true(smtp_reply_parse_enhanced(550, &t, enh));
	assert_string_equal(enh, "5.1.1");
	assert_int_equal(t.len, 12);
	t = slice_cstr("4.1.1 wrong class");
	assert_false(smtp_reply_parse_enhanced(550, &t, enh));
	t = slice_cstr("2.0.0");
	assert_true(smtp_reply_parse_enhanced(250, &t, enh));
	assert_int_equal(t.len, 0);
	t = slice_cstr("5.1234.1 too many digits");
	assert_false(smtp_reply_parse_enhanced(550, &t, enh));
	t = slice_cstr("5.1.1x no");
	assert_false(smtp_reply_parse_enhanced(550, &t, enh));
	t = slice_cstr("3.0.0 no class 3");
	assert_false(smtp_reply_parse_enhanced(354, &t, enh));

	smtp_reply_parse_ehlo_line(slice_cstr("pipelining"), &exts, &size);
	smtp_reply_parse_ehlo_line(slice_cstr("SIZE 10240000"), &exts, &size);
	smtp_reply_parse_ehlo_line(slice_cstr("STARTTLS"), &exts, &size);
	smtp_reply_parse_ehlo_line(slice_cstr("8BITMIMEX"), &exts, &size);
	smtp_reply_parse_ehlo_line(slice_cstr("AUTH PLAIN LOGIN"), &exts, &size);
	assert_int_equal(exts, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_STARTTLS);
	assert_int_equal(size, 10240000);
	smtp_reply_parse_ehlo_line(slice_cstr("SIZE"), &exts, &size);
	assert_int_equal(size, 0);
	smtp_reply_parse_ehlo_line(slice_cstr("SIZE 99999999999999999999999"), &exts, &size);
	assert_true(size == UINT64_MAX);
}

/* ---- conversations ---- */

#define EHLO_FULL                                                                                            \
	"> 250-mx.remote.test greets client.test", "> 250-PIPELINING", "> 250-SIZE 1000000", "> 250-8BITMIME", \
		"> 250-ENHANCEDSTATUSCODES", "> 250-CHUNKING", "> 250 SMTPUTF8"

/*
 * PIPELINING: MAIL, both RCPTs and DATA arrive before the server answers
 * anything (a client that waited would time out here). Per-recipient
 * results, a multi-line refusal, SIZE= and BODY=8BITMIME.
 */
static void test_pipelined_transaction(void **state)
{
	static const char *const steps[] = {
		"> 220-mx.remote.test ESMTP", "> 220 second banner line",
		"< EHLO client.test", EHLO_FULL,
		"< MAIL FROM:<sender@hermod.test> SIZE=22 BODY=8BITMIME",
		"< RCPT TO:<a@remote.test>", "< RCPT TO:<b@remote.test>", "< RCPT TO:<c@remote.test>", "< DATA",
		"> 250 2.1.0 Ok", "> 250 2.1.5 Ok",
		"> 550-5.1.1 <b@remote.test>: no such user", "> 550 5.1.1 try another",
		"> 451 4.2.0 greylisted", "> 354 go ahead",
		"BODY", "> 250 2.0.0 Ok: queued as ABC", "< QUIT", "> 221 2.0.0 Bye", NULL,
	};
	static const char *const rcpts[] = { "a@remote.test", "b@remote.test", "c@remote.test" };
	struct body b = { "Subject: hi\r\n\r\nhello\r\n", 22, 0, 0, false };
	struct script_server *s = srv_start(steps);
	struct send_args a = { .nports = 1, .rcpts = rcpts, .nrcpts = 3, .body = &b, .flags = SMTP_CLIENT_8BIT };
	struct outcome o;

	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_int_equal(o.code, 250);
	assert_string_equal(o.enhanced, "2.0.0");
	assert_string_equal(o.text, "Ok: queued as ABC");
	assert_true(o.remote);
	assert_int_equal(o.rcpt[0].status, SMTP_CLIENT_DELIVERED);
	assert_string_equal(o.rcpt[0].text, "Ok: queued as ABC");
	assert_int_equal(o.rcpt[1].status, SMTP_CLIENT_PERMFAIL);
	assert_int_equal(o.rcpt[1].code, 550);
	assert_string_equal(o.rcpt[1].enhanced, "5.1.1");
	assert_string_equal(o.rcpt[1].text, "<b@remote.test>: no such user try another");
	assert_int_equal(o.rcpt[2].status, SMTP_CLIENT_TEMPFAIL);
	assert_int_equal(o.rcpt[2].code, 451);
	assert_string_equal(o.rcpt[2].text, "greylisted");
	assert_string_equal(s->body, "Subject: hi\r\n\r\nhello\r\n.\r\n");
	assert_int_equal(o.exts, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
					 SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_CHUNKING | SMTP_EXT_SMTPUTF8);
	assert_false(o.tls);
	assert_non_null(strstr(o.host, "mx.remote.test[127.0.0.1]:"));
	free(s);
}

/* Lines that are or start with a dot are stuffed; bare LF and CR become CRLF. */
static void test_dot_stuffing(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 PIPELINING",
		"<~MAIL FROM:", "<~RCPT TO:", "< DATA", "> 250 ok", "> 250 ok", "> 354 go",
		"BODY", "> 250 ok", NULL,
	};
	static const char msg[] = ".\r\n..two\r\nline\n.\nbare\rcr\r\n.\r\n.end";
	static const char *const expect = "..\r\n...two\r\nline\r\n..\r\nbare\r\ncr\r\n..\r\n..end\r\n.\r\n";
	for (size_t chunk = 1; chunk <= 4; chunk += 3) {
		struct body b = { msg, sizeof(msg) - 1, 0, chunk, false };
		struct script_server *s = srv_start(steps);
		struct outcome o;

		send_simple(s, NULL, 0, &b, &o);
		srv_finish(s);
		assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
		assert_string_equal(s->body, expect);
		free(s);
	}
}

/* A body much bigger than the output watermark streams through DRAINED. */
static void test_large_body(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250 mx", "<~MAIL FROM:", "> 250 ok", "<~RCPT TO:", "> 250 ok",
		"< DATA", "> 354 go", "BODY", "> 250 ok", NULL,
	};
	size_t n = 200 * 1024;
	char *big = malloc(n);
	struct body b = { big, n, 0, 0, false };
	struct script_server *s;
	struct outcome o;

	for (size_t i = 0; i < n; i++)
		big[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	s = srv_start(steps);
	send_simple(s, NULL, 0, &b, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_int_equal(s->bodylen, n + n / 80 + 3); /* every LF became CRLF, then ".\r\n" */
	free(big);
	free(s);
}

/* Without PIPELINING each command waits for its reply; no SIZE= when SIZE is not offered. */
static void test_no_pipelining(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 8BITMIME",
		"< MAIL FROM:<sender@hermod.test>", "NOMORE", "> 250 ok",
		"< RCPT TO:<a@remote.test>", "NOMORE", "> 452 4.5.3 too many recipients",
		"< RCPT TO:<b@remote.test>", "NOMORE", "> 250 ok",
		"< DATA", "NOMORE", "> 354 go", "BODY", "> 250 queued", NULL,
	};
	static const char *const rcpts[] = { "a@remote.test", "b@remote.test" };
	struct body b = { "x\r\n", 3, 0, 0, false };
	struct script_server *s = srv_start(steps);
	struct outcome o;

	send_simple(s, rcpts, 2, &b, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_int_equal(o.rcpt[0].status, SMTP_CLIENT_TEMPFAIL);
	assert_int_equal(o.rcpt[0].code, 452);
	assert_string_equal(o.rcpt[0].enhanced, "4.5.3");
	assert_int_equal(o.rcpt[1].status, SMTP_CLIENT_DELIVERED);
	assert_string_equal(o.rcpt[1].enhanced, "");
	assert_string_equal(o.rcpt[1].text, "queued");
	free(s);
}

/* EHLO refused with 5xx: HELO, and no extensions are used. */
static void test_helo_fallback(void **state)
{
	static const char *const steps[] = {
		"> 220 old.mx", "< EHLO client.test", "> 502 5.5.2 what is EHLO", "< HELO client.test", "> 250 old.mx",
		"< MAIL FROM:<>", "> 250 ok", "< RCPT TO:<rcpt@remote.test>", "> 250 ok", "< DATA", "> 354 go", "BODY",
		"> 250 ok", NULL,
	};
	struct script_server *s = srv_start(steps);
	unsigned port = s->port;
	struct send_args a = { .ports = &port, .nports = 1, .from = "", .flags = SMTP_CLIENT_8BIT };
	struct outcome o;

	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_int_equal(o.exts, 0);
	free(s);
}

static void test_all_recipients_refused(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 PIPELINING", "<~MAIL", "<~RCPT", "<~RCPT",
		"< DATA", "> 250 ok", "> 550 5.1.1 no a", "> 550 5.1.1 no b", "> 554 5.5.1 Error: no valid recipients",
		"< QUIT", "> 221 bye", NULL,
	};
	static const char *const rcpts[] = { "a@remote.test", "b@remote.test" };
	struct script_server *s = srv_start(steps);
	struct outcome o;

	send_simple(s, rcpts, 2, NULL, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	assert_string_equal(o.rcpt[0].text, "no a");
	assert_string_equal(o.rcpt[1].text, "no b");
	assert_int_equal(s->bodylen, 0);
	free(s);
}

/* A server that answers 354 to a pipelined DATA with no valid RCPT gets a lone dot. */
static void test_data_accepted_without_recipients(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 PIPELINING", "<~MAIL", "<~RCPT", "< DATA",
		"> 250 ok", "> 450 4.2.1 later", "> 354 go", "BODY", "> 554 5.5.1 no recipients", NULL,
	};
	struct script_server *s = srv_start(steps);
	struct outcome o;

	send_simple(s, NULL, 0, NULL, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_TEMPFAIL);
	assert_int_equal(o.rcpt[0].code, 450);
	assert_string_equal(s->body, ".\r\n");
	free(s);
}

static void test_mail_refused(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250 mx", "<~MAIL", "> 553 5.7.1 sender rejected", "< QUIT", NULL,
	};
	static const char *const rcpts[] = { "a@remote.test", "b@remote.test" };
	struct script_server *s = srv_start(steps);
	struct outcome o;

	send_simple(s, rcpts, 2, NULL, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(o.rcpt[i].code, 553);
		assert_string_equal(o.rcpt[i].text, "sender rejected");
	}
	free(s);
}

/* The final dot refused: every accepted recipient shares that reply. */
static void test_data_refused(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250 mx", "<~MAIL", "> 250 ok", "<~RCPT", "> 250 ok", "< DATA",
		"> 354 go", "BODY", "> 552 5.3.4 Message too big", NULL,
	};
	struct body b = { "x\r\n", 3, 0, 0, false };
	struct script_server *s = srv_start(steps);
	struct outcome o;

	send_simple(s, NULL, 0, &b, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	assert_int_equal(o.rcpt[0].code, 552);
	assert_string_equal(o.rcpt[0].enhanced, "5.3.4");
	free(s);
}

/* Connection refused, then a 4xx banner: the third address delivers. */
static void test_next_address(void **state)
{
	static const char *const busy[] = { "> 421 4.3.2 busy, try later", NULL };
	static const char *const ok[] = {
		"> 220 mx", "< EHLO client.test", "> 250 mx", "<~MAIL", "> 250 ok", "<~RCPT", "> 250 ok", "< DATA",
		"> 354 go", "BODY", "> 250 ok", NULL,
	};
	struct script_server *s1 = srv_start(busy), *s2 = srv_start(ok);
	unsigned ports[3] = { dead_port(), s1->port, s2->port };
	struct send_args a = { .ports = ports, .nports = 3 };
	struct outcome o;
	char want[64];

	send_job(&a, &o);
	srv_finish(s1);
	srv_finish(s2);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	snprintf(want, sizeof(want), "mx.remote.test[127.0.0.1]:%u", s2->port);
	assert_string_equal(o.host, want);
	free(s1);
	free(s2);
}

static void test_all_addresses_fail(void **state)
{
	static const char *const refuse[] = { "> 554 5.7.1 go away", NULL };
	unsigned ports[2] = { dead_port(), dead_port() };
	struct send_args a = { .ports = ports, .nports = 2 };
	struct script_server *s;
	struct outcome o;
	char want[128];

	send_job(&a, &o);
	assert_int_equal(o.status, SMTP_CLIENT_TEMPFAIL);
	assert_int_equal(o.code, 451);
	assert_string_equal(o.enhanced, "4.4.1");
	assert_false(o.remote);
	snprintf(want, sizeof(want), "connect to mx.remote.test[127.0.0.1]:%u: Connection refused", ports[1]);
	assert_string_equal(o.text, want);
	assert_string_equal(o.rcpt[0].text, want);

	/* The only address refuses the session with 5xx: permanent. */
	s = srv_start(refuse);
	a.ports = &s->port;
	a.nports = 1;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	assert_int_equal(o.code, 554);
	assert_string_equal(o.text, "go away");
	free(s);
}

/*
 * STARTTLS when offered, EHLO again over TLS, SNI sent; the self-signed
 * certificate is recorded as unverified but does not stop delivery.
 */
static void test_starttls(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250-PIPELINING", "> 250 STARTTLS",
		"< STARTTLS", "> 220 2.0.0 Ready to start TLS", "TLS",
		"< EHLO client.test", "> 250-mx", "> 250-PIPELINING", "> 250 SIZE 5000",
		"<~MAIL FROM:<sender@hermod.test> SIZE=", "<~RCPT", "< DATA", "> 250 ok", "> 250 ok", "> 354 go",
		"BODY", "> 250 2.0.0 secret ok", NULL,
	};
	struct body b = { "x\r\n", 3, 0, 0, false };
	struct script_server *s = srv_start(steps);
	unsigned port = s->port;
	struct send_args a = { .ports = &port, .nports = 1, .body = &b, .tls = true };
	struct outcome o;

	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_true(o.tls);
	assert_false(o.tls_verified);
	assert_non_null(strstr(o.tls_desc, "TLSv1."));
	assert_string_equal(s->sni, "mx.remote.test");
	/* extensions are the ones offered after TLS */
	assert_int_equal(o.exts, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE);
	free(s);
}

/*
 * Bytes behind the STARTTLS "220" (a response injected in plaintext) are
 * discarded, not read as replies after the handshake (RFC 3207 4.2; the
 * client-side twin of CVE-2011-0411).
 */
static void test_starttls_discards_injected_reply(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 STARTTLS", "< STARTTLS",
		"RAW 220 go\r\n250-injected\r\n250 PIPELINING\r\n", "TLS",
		"< EHLO client.test", "> 250 mx", "< MAIL FROM:<sender@hermod.test>", "> 250 ok", "<~RCPT", "> 250 ok",
		"< DATA", "> 354 go", "BODY", "> 250 ok", NULL,
	};
	struct script_server *s = srv_start(steps);
	unsigned port = s->port;
	struct send_args a = { .ports = &port, .nports = 1, .tls = true };
	struct outcome o;

	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_true(o.tls);
	assert_int_equal(o.exts, 0); /* nothing of the injected EHLO reply survived */
	assert_int_equal(s->connections, 1);
	free(s);
}

/* A refused STARTTLS leaves the plaintext session usable. */
static void test_starttls_refused(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 STARTTLS", "< STARTTLS", "> 454 4.7.0 TLS not available",
		"<~MAIL", "> 250 ok", "<~RCPT", "> 250 ok", "< DATA", "> 354 go", "BODY", "> 250 ok", NULL,
	};
	struct script_server *s = srv_start(steps);
	unsigned port = s->port;
	struct send_args a = { .ports = &port, .nports = 1, .tls = true };
	struct outcome o;

	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_false(o.tls);
	free(s);
}

/* A failed handshake is retried once on the same address without STARTTLS. */
static void test_tls_failure_retries_plain(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 STARTTLS", "< STARTTLS", "> 220 go",
		"RAW this is not a TLS server hello\r\n", "SLEEP 100", "CLOSE",
		"ACCEPT", "> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 STARTTLS",
		"<~MAIL", "> 250 ok", "<~RCPT", "> 250 ok", "< DATA", "> 354 go", "BODY", "> 250 ok", NULL,
	};
	struct script_server *s = srv_start(steps);
	unsigned port = s->port;
	struct send_args a = { .ports = &port, .nports = 1, .tls = true };
	struct outcome o;

	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	assert_false(o.tls);
	assert_int_equal(s->connections, 2);
	free(s);
}

/* RFC 6531: a message that needs SMTPUTF8 never goes to a server without it. */
static void test_smtputf8(void **state)
{
	static const char *const without[] = { "> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 8BITMIME",
					       "< QUIT", NULL };
	static const char *const with[] = {
		"> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 SMTPUTF8",
		"< MAIL FROM:<j\xc3\xb8rgen@hermod.test> SMTPUTF8", "> 250 ok", "<~RCPT", "> 250 ok", "< DATA", "> 354 go",
		"BODY", "> 250 ok", NULL,
	};
	struct script_server *s = srv_start(without);
	struct send_args a = { .nports = 1, .flags = SMTP_CLIENT_SMTPUTF8, .from = "j\xc3\xb8rgen@hermod.test" };
	struct outcome o;

	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	assert_int_equal(o.code, 553);
	assert_string_equal(o.enhanced, "5.6.7");
	assert_non_null(strstr(o.text, "needs SMTPUTF8"));
	assert_false(o.remote);
	free(s);

	s = srv_start(with);
	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	free(s);
}

/* RFC 1870: over the announced SIZE, nothing is sent. */
static void test_size_limit(void **state)
{
	static const char *const steps[] = { "> 220 mx", "< EHLO client.test", "> 250-mx", "> 250 SIZE 100",
					     "< QUIT", NULL };
	struct script_server *s = srv_start(steps);
	struct send_args a = { .nports = 1, .size = 5000 };
	struct outcome o;

	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	assert_int_equal(o.code, 552);
	assert_non_null(strstr(o.text, "message size 5000 exceeds the limit of 100 bytes of mx.remote.test"));
	free(s);
}

/* Timeouts (compressed to 1-2 s): a silent banner, then a silent final reply. */
static void test_timeouts(void **state)
{
	static const char *const silent_banner[] = { "SLEEP 2500", NULL };
	static const char *const silent_dot[] = {
		"> 220 mx", "< EHLO client.test", "> 250 mx", "<~MAIL", "> 250 ok", "<~RCPT", "> 250 ok", "< DATA",
		"> 354 go", "BODY", "SLEEP 2500", NULL,
	};
	struct smtp_client_timeouts t = fast;
	struct script_server *s = srv_start(silent_banner);
	struct send_args a = { .nports = 1, .timeouts = &t };
	struct outcome o;

	t.banner_s = 1;
	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_TEMPFAIL);
	assert_non_null(strstr(o.text, "timeout waiting for banner at mx.remote.test"));
	free(s);

	t.dot_s = 1;
	s = srv_start(silent_dot);
	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_TEMPFAIL);
	assert_non_null(strstr(o.text, "timeout waiting for end of data"));
	assert_int_equal(o.rcpt[0].status, SMTP_CLIENT_TEMPFAIL);
	free(s);
}

/* Bounded replies: overlong line, too many lines, garbage, mixed codes. */
static void test_reply_limits(void **state)
{
	static char longline[6000];
	static const char *const too_long[] = { longline, NULL };
	static const char *many[110];
	static const char *const garbage[] = { "> 220 mx", "< EHLO client.test", "> hello there", NULL };
	static const char *const mixed[] = { "> 220 mx", "< EHLO client.test", "> 250-mx", "> 251 PIPELINING", NULL };
	struct send_args a = { .nports = 1 };
	struct script_server *s;
	struct outcome o;

	memcpy(longline, "> 220 ", 6);
	memset(longline + 6, 'x', sizeof(longline) - 7);
	s = srv_start(too_long);
	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_TEMPFAIL);
	assert_non_null(strstr(o.text, "sent a reply line longer than 4096 bytes during banner"));
	free(s);

	many[0] = "> 220 mx";
	many[1] = "< EHLO client.test";
	for (int i = 2; i < 105; i++)
		many[i] = "> 250-X-FILLER";
	many[105] = NULL;
	s = srv_start(many);
	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_non_null(strstr(o.text, "sent a reply of more than 100 lines during EHLO"));
	free(s);

	s = srv_start(garbage);
	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_non_null(strstr(o.text, "sent a malformed reply during EHLO"));
	free(s);

	s = srv_start(mixed);
	a.ports = &s->port;
	send_job(&a, &o);
	srv_finish(s);
	assert_non_null(strstr(o.text, "sent a malformed reply during EHLO"));
	free(s);
}

/* A body that cannot be read: the connection drops without the final dot. */
static void test_reader_error(void **state)
{
	static const char *const steps[] = {
		"> 220 mx", "< EHLO client.test", "> 250 mx", "<~MAIL", "> 250 ok", "<~RCPT", "> 250 ok", "< DATA",
		"> 354 go", NULL,
	};
	struct body b = { "abc\r\ndef\r\n", 10, 0, 4, true };
	struct script_server *s = srv_start(steps);
	struct outcome o;

	send_simple(s, NULL, 0, &b, &o);
	srv_finish(s);
	assert_int_equal(o.status, SMTP_CLIENT_TEMPFAIL);
	assert_string_equal(o.enhanced, "4.3.0");
	assert_null(strstr(s->log, "\n.\n")); /* never a lone dot line */
	free(s);
}

static void test_invalid_envelope(void **state)
{
	static const char *const rcpts[] = { "a@remote.test\r\nRSET" };
	unsigned port = dead_port();
	struct send_args a = { .ports = &port, .nports = 1, .rcpts = rcpts, .nrcpts = 1 };
	struct outcome o;

	send_job(&a, &o);
	assert_int_equal(o.status, SMTP_CLIENT_PERMFAIL);
	assert_int_equal(o.code, 501);
}

/* Cancelled while connected and waiting: no callback, nothing leaks. */
static void test_cancel(void **state)
{
	static const char *const steps[] = { "> 220 mx", "< EHLO client.test", "SLEEP 500", NULL };
	struct script_server *s = srv_start(steps);
	struct sockaddr_in sin = loopback(s->port);
	struct smtp_client_target t = { (struct sockaddr *)&sin, sizeof(sin), NULL };
	static const char *const rcpts[] = { "a@remote.test" };
	struct body b = { "", 0, 0, 0, false };
	struct smtp_client_job job = { .targets = &t, .ntargets = 1, .helo_name = "client.test", .from = "",
				       .rcpts = rcpts, .nrcpts = 1, .read = body_read, .read_arg = &b,
				       .timeouts = &fast };
	struct outcome o = { 0 };
	struct smtp_client *sc = smtp_client_send(base, &job, on_result, &o);

	run_until(NULL, 200);
	smtp_client_cancel(sc);
	run_until(NULL, 100);
	assert_false(o.called);
	srv_finish(s);
	free(s);

	/* cancelled while still connecting */
	sc = smtp_client_send(base, &job, on_result, &o);
	smtp_client_cancel(sc);
	run_until(NULL, 50);
	assert_false(o.called);
}

/* ---- interop: Postfix's smtp-sink ---- */

static pid_t sink_start(unsigned port, const char *dumpdir)
{
	char addr[64], tmpl[PATH_MAX + 64];
	pid_t pid;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	snprintf(tmpl, sizeof(tmpl), "%s/msg-", dumpdir);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		execl("/usr/sbin/smtp-sink", "smtp-sink", "-u", "nobody", "-d", tmpl, "-c", addr, "100", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static bool port_open(unsigned port)
{
	struct sockaddr_in sin = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;

	close(fd);
	return ok;
}

static void read_dump(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	out[0] = '\0';
	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[PATH_MAX + 300];
		FILE *f;
		size_t n;
		if (strncmp(e->d_name, "msg-", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(out, 1, outlen - 1, f);
		out[n] = '\0';
		fclose(f);
	}
	if (d != NULL)
		closedir(d);
}

static void test_smtp_sink_interop(void **state)
{
	static const char *const rcpts[] = { "one@sink.test", "two@sink.test", "three@sink.test" };
	static const char msg[] = "From: a@hermod.test\r\nSubject: interop\r\n\r\n.leading dot\r\n.\r\nend\r\n";
	char dumpdir[PATH_MAX + 16], dump[8192];
	struct body b = { msg, sizeof(msg) - 1, 0, 0, false };
	unsigned port = dead_port();
	struct send_args a = { .ports = &port, .nports = 1, .rcpts = rcpts, .nrcpts = 3, .body = &b,
			       .flags = SMTP_CLIENT_8BIT };
	struct outcome o;
	pid_t pid;
	int status;

	if (access("/usr/sbin/smtp-sink", X_OK) != 0)
		fail_msg("/usr/sbin/smtp-sink is missing (Debian package postfix; run scripts/install-deps)");
	snprintf(dumpdir, sizeof(dumpdir), "%s/sink", tmpdir);
	assert_int_equal(mkdir(dumpdir, 0777), 0);
	/* smtp-sink writes as nobody */
	assert_int_equal(chmod(tmpdir, 0755), 0);
	assert_int_equal(chmod(dumpdir, 0777), 0);
	pid = sink_start(port, dumpdir);
	for (int i = 0; i < 100 && !port_open(port); i++)
		usleep(50 * 1000);
	if (!port_open(port)) {
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
		fail_msg("smtp-sink did not listen on 127.0.0.1:%u", port);
	}
	send_job(&a, &o);
	usleep(200 * 1000);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	assert_int_equal(o.status, SMTP_CLIENT_DELIVERED);
	for (int i = 0; i < 3; i++)
		assert_int_equal(o.rcpt[i].status, SMTP_CLIENT_DELIVERED);
	assert_true(o.exts & SMTP_EXT_PIPELINING);
	read_dump(dumpdir, dump, sizeof(dump));
	/* the dump holds the unstuffed message as smtp-sink received it */
	assert_non_null(strstr(dump, "X-Mail-Args: <sender@hermod.test> BODY=8BITMIME\n"));
	assert_non_null(strstr(dump, "X-Rcpt-Args: <three@sink.test>\n"));
	assert_non_null(strstr(dump, "Subject: interop"));
	assert_non_null(strstr(dump, "\n.leading dot"));
	assert_true(strstr(dump, "\n.\n") != NULL || strstr(dump, "\n.\r\n") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test_setup_teardown(test_pipelined_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dot_stuffing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_pipelining, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helo_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_recipients_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_accepted_without_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_addresses_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_discards_injected_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_failure_retries_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtputf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_dead_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_sink_interop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
