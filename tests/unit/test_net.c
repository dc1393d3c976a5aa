/*
 * Unit tests for src/net: conn and server on a real libevent loop and real
 * loopback sockets. TLS clients run in a thread with blocking OpenSSL I/O
 * while the test's main thread runs the server loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "config/config_private.h"
#include "net/conn.h"
#include "net/net_private.h"
#include "net/server.h"

#define MAX_RECS 256

static char tmpdir[PATH_MAX];

/* ---- what the server side saw ---- */

struct harness {
	struct event_base *base;
	struct server *srv;
	struct config *cfg;
	struct conn *conns[16];
	int nconns, nopen;
	char recs[MAX_RECS][300];
	int nrecs;
	size_t line_max;
	bool free_on_data;
	bool greet;
	int refused;
};

static struct harness H;

static void rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec(const char *fmt, ...)
{
	va_list ap;

	if (H.nrecs == MAX_RECS)
		return;
	va_start(ap, fmt);
	vsnprintf(H.recs[H.nrecs++], sizeof(H.recs[0]), fmt, ap);
	va_end(ap);
}

static int find_rec(const char *s)
{
	for (int i = 0; i < H.nrecs; i++) {
		if (strcmp(H.recs[i], s) == 0)
			return i;
	}
	return -1;
}

static void drop_conn(struct conn *c, bool close_gracefully)
{
	for (int i = 0; i < H.nconns; i++) {
		if (H.conns[i] == c)
			H.conns[i] = NULL;
	}
	if (H.srv != NULL)
		server_conn_done(H.srv, c);
	H.nopen--;
	if (close_gracefully)
		conn_close(c);
	else
		conn_free(c);
}

/* Returns false when the conn must not be read any more. */
static bool on_line(struct conn *c, const struct conn_line *line)
{
	rec("LINE %s%s", line->p, line->bare_lf ? " [LF]" : "");
	if (strcmp(line->p, "STARTTLS") == 0) {
		conn_printf(c, "220 go\r\n");
		assert_int_equal(conn_starttls(c, server_tls_ctx(H.srv)), 0);
		return false;
	}
	if (strcmp(line->p, "PAUSE") == 0) {
		conn_pause_read(c); /* like a protocol waiting for the store */
		return false;
	}
	if (strcmp(line->p, "QUIT") == 0) {
		conn_printf(c, "bye\r\n");
		drop_conn(c, true);
		return false;
	}
	conn_printf(c, "ok %s\r\n", line->p);
	return true;
}

static void test_cb(struct conn *c, enum conn_event ev, void *arg)
{
	static const char *const names[] = { "DATA", "DRAINED", "TLS_READY", "TIMEOUT", "EOF", "ERROR" };
	struct conn_line line;

	if (ev != CONN_EV_DATA)
		rec("EV %s", names[ev]);
	switch (ev) {
	case CONN_EV_DATA:
		if (H.free_on_data) {
			rec("EV DATA");
			drop_conn(c, false);
			return;
		}
		for (;;) {
			switch (conn_readline(c, H.line_max, &line)) {
			case CONN_READ_NEED_MORE:
				return;
			case CONN_READ_TOO_LONG:
				rec("TOO_LONG");
				continue;
			case CONN_READ_LINE:
				if (!on_line(c, &line))
					return;
				continue;
			}
		}
	case CONN_EV_TLS_READY:
		rec("TLS %s", conn_tls_server_name(c) ? conn_tls_server_name(c) : "-");
		rec("DESC %.12s", conn_tls_description(c));
		return;
	case CONN_EV_DRAINED:
		return;
	default:
		drop_conn(c, false);
		return;
	}
}

static void handler_accept(struct server *srv, struct conn *c, const struct listen_cfg *lc, void *arg)
{
	H.conns[H.nconns++] = c;
	H.nopen++;
	conn_set_cb(c, test_cb, NULL);
	rec("ACCEPT %s tls=%d", conn_peer_ip(c), conn_is_tls(c));
	if (H.greet)
		conn_printf(c, "hello\r\n");
}

static void handler_refuse(int fd, enum server_refusal why, unsigned limit, const char *ip, void *arg)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "421 %s %s %u\r\n", why == SERVER_REFUSE_PER_IP ? "per-ip" : "total",
			 ip, limit);

	H.refused++;
	assert_true(write(fd, line, (size_t)n) == n);
}

static const struct server_handler handler = { handler_accept, handler_refuse, NULL };

/* ---- loop and sockets ---- */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void run_until(bool (*pred)(void *), void *arg, int ms)
{
	double deadline = now_ms() + ms;

	while ((pred == NULL || !pred(arg)) && now_ms() < deadline) {
		struct timeval tv = { 0, 5000 };
		event_base_loopexit(H.base, &tv);
		event_base_dispatch(H.base);
	}
}

static void run_for(int ms)
{
	run_until(NULL, NULL, ms);
}

static bool have_recs(void *arg)
{
	return H.nrecs >= *(int *)arg;
}

static void wait_recs(int n)
{
	run_until(have_recs, &n, 3000);
}

static int tcp_connect(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* A conn on one end of a fresh loopback TCP connection; returns the client end. */
static int conn_pair(struct conn **c_r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd, sfd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	cfd = tcp_connect(ntohs(sa.sin_port));
	len = sizeof(sa);
	sfd = accept(lfd, (struct sockaddr *)&sa, &len);
	assert_true(sfd >= 0);
	close(lfd);
	*c_r = conn_new(H.base, sfd, (struct sockaddr *)&sa, len, NULL, test_cb, NULL);
	H.conns[H.nconns++] = *c_r;
	H.nopen++;
	return cfd;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads what is available without blocking; returns bytes read, 0 on EOF, -1 if none yet. */
static ssize_t read_some(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : n;
}

/* Reads until `want` appears or EOF, running the loop in between. */
static bool read_until(int fd, const char *want, char *buf, size_t cap)
{
	size_t n = 0;
	double deadline = now_ms() + 3000;

	buf[0] = '\0';
	while (now_ms() < deadline) {
		ssize_t r = read_some(fd, buf + n, cap - 1 - n);
		if (r == 0)
			return false;
		if (r > 0) {
			n += (size_t)r;
			buf[n] = '\0';
			if (strstr(buf, want) != NULL)
				return true;
		}
		run_for(5);
	}
	return false;
}

/* ---- certificates ---- */

static void make_cert(const char *cn, const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	assert_non_null(key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	f = fopen(cert_path, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key_path, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char c1[PATH_MAX + 32], k1[PATH_MAX + 32], c2[PATH_MAX + 32], k2[PATH_MAX + 32];

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_net.XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(c1, sizeof(c1), "%s/cert.pem", tmpdir);
	snprintf(k1, sizeof(k1), "%s/key.pem", tmpdir);
	snprintf(c2, sizeof(c2), "%s/other.pem", tmpdir);
	snprintf(k2, sizeof(k2), "%s/other.key", tmpdir);
	make_cert("default.test", c1, k1);
	make_cert("other.test", c2, k2);
	return 0;
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	H.base = event_base_new();
	H.line_max = 64;
	return H.base == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < H.nconns; i++) {
		if (H.conns[i] != NULL) {
			if (H.srv != NULL)
				server_conn_done(H.srv, H.conns[i]);
			conn_free(H.conns[i]);
		}
	}
	run_for(20); /* let libevent finish deferred frees */
	server_free(H.srv);
	conn_reap_closing();
	config_free(H.cfg);
	event_base_free(H.base);
	return 0;
}

static void start_server(const char *conf)
{
	const char *err = NULL;

	if (config_parse_text("net.conf", tmpdir, conf, strlen(conf), &H.cfg, &err) < 0)
		fail_msg("config: %s", err);
	H.srv = server_new(H.base, H.cfg, &err);
	if (H.srv == NULL)
		fail_msg("server_new: %s", err);
	for (int s = 0; s < LISTEN_SERVICE_COUNT; s++)
		server_set_handler(H.srv, (enum listen_service)s, &handler);
	if (server_listen(H.srv, &err) < 0)
		fail_msg("server_listen: %s", err);
}

/* ---- conn_readline ---- */

static void test_lines_split_across_reads(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);

	send_str(fd, "HEL");
	run_for(30);
	assert_int_equal(H.nrecs, 0);
	send_str(fd, "LO\r");
	run_for(30);
	assert_int_equal(H.nrecs, 0);
	send_str(fd, "\nSECOND\nTHIRD\r\n\r\n");
	wait_recs(4);
	assert_int_equal(H.nrecs, 4);
	assert_string_equal(H.recs[0], "LINE HELLO");
	assert_string_equal(H.recs[1], "LINE SECOND [LF]");
	assert_string_equal(H.recs[2], "LINE THIRD");
	assert_string_equal(H.recs[3], "LINE ");
	shutdown(fd, SHUT_WR);
	wait_recs(5);
	assert_string_equal(H.recs[4], "EV EOF");
}

static void test_line_too_long(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);

	H.line_max = 16; /* terminator included */
	send_str(fd, "12345678901234\r\n"); /* exactly 16: fits */
	send_str(fd, "123456789012345\r\n"); /* 17: too long */
	send_str(fd, "NEXT\r\n");
	wait_recs(3);
	assert_string_equal(H.recs[0], "LINE 12345678901234");
	assert_string_equal(H.recs[1], "TOO_LONG");
	assert_string_equal(H.recs[2], "LINE NEXT");

	/* a long line arriving in pieces: reported once, skipped to its LF */
	send_str(fd, "aaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	wait_recs(4);
	assert_string_equal(H.recs[3], "TOO_LONG");
	send_str(fd, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	run_for(30);
	assert_int_equal(H.nrecs, 4);
	send_str(fd, "cccc\r\nAFTER\r\n");
	wait_recs(5);
	assert_int_equal(H.nrecs, 5);
	assert_string_equal(H.recs[4], "LINE AFTER");
	close(fd);
}

static void test_input_is_bounded(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);
	static char big[1 << 20];
	ssize_t sent = 0;

	/* The protocol stops reading: the conn must not buffer all a client sends. */
	conn_pause_read(c);
	memset(big, 'x', sizeof(big));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 200; i++) {
		ssize_t n = send(fd, big, sizeof(big), MSG_DONTWAIT);
		if (n > 0)
			sent += n;
		run_for(2);
	}
	assert_true(evbuffer_get_length(conn_input(c)) <= 128 * 1024 + 16384);
	assert_true(sent > 0);
	close(fd);
}

static void test_pause_resume(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);

	conn_pause_read(c);
	send_str(fd, "ONE\r\nTWO\r\n");
	run_for(50);
	assert_int_equal(H.nrecs, 0);
	conn_resume_read(c);
	wait_recs(2);
	assert_string_equal(H.recs[0], "LINE ONE");
	assert_string_equal(H.recs[1], "LINE TWO");

	/* Lines already buffered when the protocol pauses come after resume, with no new input. */
	send_str(fd, "PAUSE\r\nTHREE\r\nFOUR\r\n");
	wait_recs(3);
	run_for(50);
	assert_int_equal(H.nrecs, 3);
	assert_string_equal(H.recs[2], "LINE PAUSE");
	conn_resume_read(c);
	conn_resume_read(c); /* idempotent */
	wait_recs(5);
	assert_string_equal(H.recs[3], "LINE THREE");
	assert_string_equal(H.recs[4], "LINE FOUR");
	run_for(30);
	assert_int_equal(H.nrecs, 5);
	close(fd);
}

static void test_timeout(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);
	double t0 = now_ms();

	conn_set_timeout(c, 1);
	wait_recs(1);
	assert_string_equal(H.recs[0], "EV TIMEOUT");
	assert_true(now_ms() - t0 >= 900);
	close(fd);
}

static void test_drained(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);
	char buf[64];

	conn_want_drained(c); /* nothing pending: reported from the loop */
	assert_int_equal(H.nrecs, 0);
	wait_recs(1);
	assert_string_equal(H.recs[0], "EV DRAINED");
	conn_printf(c, "x%d\r\n", 1);
	conn_want_drained(c);
	wait_recs(2);
	assert_string_equal(H.recs[1], "EV DRAINED");
	assert_true(read_until(fd, "x1\r\n", buf, sizeof(buf)));
	assert_int_equal(conn_output_pending(c), 0);
	close(fd);
}

static void test_close_flushes(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);
	static char big[1 << 20], in[1 << 16];
	size_t got = 0;
	double deadline = now_ms() + 5000;
	ssize_t r = -1;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(conn_write(c, big, sizeof(big)), 0);
	H.conns[0] = NULL;
	H.nopen--;
	conn_close(c);
	while (now_ms() < deadline) {
		r = read_some(fd, in, sizeof(in));
		if (r == 0)
			break;
		if (r > 0) {
			assert_memory_equal(in, big + got, (size_t)r);
			got += (size_t)r;
		} else {
			run_for(1);
		}
	}
	assert_int_equal(r, 0); /* EOF after everything */
	assert_int_equal(got, sizeof(big));
	assert_int_equal(H.nrecs, 0); /* no callbacks after conn_close */
	close(fd);
}

static void test_reap_closing(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);
	char buf[64];

	/* The client never closes: the conn lingers until reaped (LSan checks the free). */
	conn_printf(c, "bye\r\n");
	H.conns[0] = NULL;
	H.nopen--;
	conn_close(c);
	assert_true(read_until(fd, "bye\r\n", buf, sizeof(buf)));
	conn_reap_closing();
	assert_false(read_until(fd, "never", buf, sizeof(buf))); /* socket closed */
	close(fd);
}

static void test_no_callbacks_after_free(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);

	H.free_on_data = true;
	send_str(fd, "A\r\n");
	wait_recs(1);
	send_str(fd, "B\r\n");
	close(fd);
	run_for(50);
	assert_int_equal(H.nrecs, 1);
	assert_string_equal(H.recs[0], "EV DATA");
}

/* ---- server: listeners and limits ---- */

static void test_per_ip_limit(void **state)
{
	char buf[256];
	int fds[4];

	start_server("limits { connections_per_ip 2 }\nlisten smtp 127.0.0.1:0\n");
	unsigned port = server_bound_port(H.srv, 0);
	assert_true(port > 0);
	fds[0] = tcp_connect(port);
	fds[1] = tcp_connect(port);
	wait_recs(2);
	assert_int_equal(server_conn_count(H.srv), 2);
	fds[2] = tcp_connect(port);
	assert_false(read_until(fds[2], "never", buf, sizeof(buf))); /* refused and closed */
	assert_string_equal(buf, "421 per-ip 127.0.0.1 2\r\n");
	assert_int_equal(server_conn_count(H.srv), 2);
	assert_int_equal(H.refused, 1);

	/* a slot frees up when a connection ends */
	send_str(fds[0], "QUIT\r\n");
	assert_false(read_until(fds[0], "never", buf, sizeof(buf)));
	assert_string_equal(buf, "bye\r\n");
	assert_int_equal(server_conn_count(H.srv), 1);
	fds[3] = tcp_connect(port);
	send_str(fds[3], "PING\r\n");
	assert_true(read_until(fds[3], "ok PING\r\n", buf, sizeof(buf)));
	assert_int_equal(server_conn_count(H.srv), 2);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	run_for(50);
	assert_int_equal(server_conn_count(H.srv), 0);
}

static void test_total_limit_and_reload(void **state)
{
	struct config *next = NULL;
	const char *err = NULL;
	const char *conf2 = "limits { connections 2 }\nlisten smtp 127.0.0.1:0\n";
	char buf[256];
	int a, b, d;

	start_server("limits { connections 1 }\nlisten smtp 127.0.0.1:0\n");
	unsigned port = server_bound_port(H.srv, 0);
	a = tcp_connect(port);
	wait_recs(1);
	b = tcp_connect(port);
	assert_false(read_until(b, "never", buf, sizeof(buf)));
	assert_string_equal(buf, "421 total 127.0.0.1 1\r\n");

	assert_int_equal(config_parse_text("net.conf", tmpdir, conf2, strlen(conf2), &next, &err), 0);
	assert_int_equal(server_reload(H.srv, next, &err), 0);
	config_free(next);
	d = tcp_connect(port);
	send_str(d, "PING\r\n");
	assert_true(read_until(d, "ok PING\r\n", buf, sizeof(buf)));
	assert_int_equal(server_conn_count(H.srv), 2);
	close(a);
	close(b);
	close(d);
}

static void test_listen_ipv6_and_stop(void **state)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	if (!have_v6)
		skip();
	start_server("listen smtp [::1]:0\nlisten smtp 127.0.0.1:0\nlisten imap 127.0.0.1:0\n");
	unsigned port6 = server_bound_port(H.srv, 0);
	assert_true(port6 > 0);
	assert_true(server_bound_port(H.srv, 1) > 0);
	assert_int_equal(server_bound_port(H.srv, 99), 0);

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	sa.sin6_port = htons((uint16_t)port6);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	wait_recs(1);
	assert_string_equal(H.recs[0], "ACCEPT ::1 tls=0");
	close(fd);

	server_stop_listening(H.srv);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
}

static void test_bind_failure(void **state)
{
	struct config *cfg = NULL;
	struct server *srv;
	const char *err = NULL;
	char conf[128], want[128];
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	snprintf(conf, sizeof(conf), "listen smtp 127.0.0.1:%u\n", ntohs(sa.sin_port));
	assert_int_equal(config_parse_text("net.conf", tmpdir, conf, strlen(conf), &cfg, &err), 0);
	srv = server_new(H.base, cfg, &err);
	server_set_handler(srv, LISTEN_SMTP, &handler);
	assert_int_equal(server_listen(srv, &err), -1);
	snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%u for smtp: Address already in use", ntohs(sa.sin_port));
	assert_string_equal(err, want);
	server_free(srv);
	config_free(cfg);
	close(lfd);
}

static void test_bad_certificate(void **state)
{
	struct config *cfg = NULL;
	const char *err = NULL;
	const char *conf = "tls { certificate missing.pem; key key.pem }\n";

	assert_int_equal(config_parse_text("net.conf", tmpdir, conf, strlen(conf), &cfg, &err), 0);
	assert_null(server_new(H.base, cfg, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot load the TLS certificate"));
	assert_non_null(strstr(err, "missing.pem"));
	config_free(cfg);

	conf = "tls { certificate cert.pem; key other.key }\n";
	assert_int_equal(config_parse_text("net.conf", tmpdir, conf, strlen(conf), &cfg, &err), 0);
	assert_null(server_new(H.base, cfg, &err));
	assert_non_null(strstr(err, "key"));
	config_free(cfg);
}

/* ---- TLS ---- */

struct tls_client {
	unsigned port;
	bool starttls;
	const char *sni;
	atomic_bool done;
	bool ok;
	char peer_cn[64];
	char got[512];
	char why[1024];
};

static bool client_done(void *arg)
{
	return atomic_load(&((struct tls_client *)arg)->done);
}

static bool plain_read_until(int fd, const char *want, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, 1); /* byte by byte: read nothing past the reply */
		if (r <= 0)
			return false;
		buf[++n] = '\0';
		if (strstr(buf, want) != NULL)
			return true;
	}
	return false;
}

static bool ssl_read_until(SSL *ssl, const char *want, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap - 1) {
		int r = SSL_read(ssl, buf + n, (int)(cap - 1 - n));
		if (r <= 0)
			return false;
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, want) != NULL)
			return true;
	}
	return false;
}

static void tls_client_session(struct tls_client *tc, int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	char buf[256];

	SSL_set_fd(ssl, fd);
	if (tc->sni != NULL)
		SSL_set_tlsext_host_name(ssl, tc->sni);
	if (SSL_connect(ssl) != 1) {
		snprintf(tc->why, sizeof(tc->why), "handshake failed");
	} else {
		X509 *peer = SSL_get1_peer_certificate(ssl);
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, tc->peer_cn,
					  sizeof(tc->peer_cn));
		X509_free(peer);
		if (!tc->starttls && !ssl_read_until(ssl, "hello\r\n", buf, sizeof(buf)))
			snprintf(tc->why, sizeof(tc->why), "no greeting over TLS");
		else if (SSL_write(ssl, "AFTER\r\n", 7) != 7 || !ssl_read_until(ssl, "ok AFTER\r\n", tc->got, sizeof(tc->got)))
			snprintf(tc->why, sizeof(tc->why), "no reply over TLS: '%s'", tc->got);
		else
			tc->ok = true;
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void *tls_client_main(void *arg)
{
	struct tls_client *tc = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tc->port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[256];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(tc->why, sizeof(tc->why), "connect: %s", strerror(errno));
	} else if (tc->starttls && !plain_read_until(fd, "hello\r\n", buf, sizeof(buf))) {
		snprintf(tc->why, sizeof(tc->why), "no greeting");
	} else if (tc->starttls && write(fd, "STARTTLS\r\nINJECTED\r\n", 20) != 20) {
		snprintf(tc->why, sizeof(tc->why), "write failed");
	} else if (tc->starttls && !plain_read_until(fd, "220 go\r\n", buf, sizeof(buf))) {
		snprintf(tc->why, sizeof(tc->why), "no 220 to STARTTLS: '%s'", buf);
	} else {
		tls_client_session(tc, fd);
	}
	close(fd);
	atomic_store(&tc->done, true);
	return NULL;
}

static void run_tls_client(struct tls_client *tc)
{
	pthread_t t;

	atomic_init(&tc->done, false);
	assert_int_equal(pthread_create(&t, NULL, tls_client_main, tc), 0);
	run_until(client_done, tc, 10000);
	pthread_join(t, NULL);
	run_for(30);
}

static const char *tls_conf = "tls { certificate cert.pem; key key.pem; sni other.test other.pem other.key }\n"
			      "listen smtp 127.0.0.1:0\nlisten submissions 127.0.0.1:0\n";

static void test_starttls_discards_pipelined_input(void **state)
{
	struct tls_client tc = { .starttls = true, .sni = "mail.example.test" };

	H.greet = true;
	start_server(tls_conf);
	tc.port = server_bound_port(H.srv, 0);
	run_tls_client(&tc);
	if (!tc.ok)
		fail_msg("client: %s", tc.why);
	assert_string_equal(tc.got, "ok AFTER\r\n"); /* nothing about INJECTED */
	assert_string_equal(tc.peer_cn, "default.test");
	assert_true(find_rec("LINE STARTTLS") >= 0);
	assert_int_equal(find_rec("LINE INJECTED"), -1);
	assert_true(find_rec("TLS mail.example.test") > find_rec("LINE STARTTLS"));
	assert_true(find_rec("LINE AFTER") > find_rec("TLS mail.example.test"));
	assert_true(find_rec("DESC TLSv1.3 TLS_") >= 0);
}

static void test_implicit_tls_and_sni(void **state)
{
	struct tls_client tc = { .sni = "other.test" };
	struct tls_client td = { .sni = NULL };

	H.greet = true;
	start_server(tls_conf);
	tc.port = td.port = server_bound_port(H.srv, 1);
	run_tls_client(&tc);
	if (!tc.ok)
		fail_msg("client: %s", tc.why);
	assert_string_equal(tc.peer_cn, "other.test");
	assert_string_equal(tc.got, "ok AFTER\r\n");
	assert_string_equal(H.recs[0], "ACCEPT 127.0.0.1 tls=1");
	assert_true(find_rec("LINE AFTER") >= 0);
	assert_int_equal(find_rec("TLS other.test"), -1); /* TLS_READY is for STARTTLS only */

	run_tls_client(&td);
	if (!td.ok)
		fail_msg("client: %s", td.why);
	assert_string_equal(td.peer_cn, "default.test");
}

static void test_tls_description(void **state)
{
	struct conn *c;
	int fd = conn_pair(&c);

	assert_false(conn_is_tls(c));
	assert_null(conn_tls_description(c));
	assert_null(conn_tls_server_name(c));
	assert_string_equal(conn_peer_ip(c), "127.0.0.1");
	assert_int_equal(conn_starttls(c, NULL), -1);
	close(fd);
}

static void test_plaintext_to_tls_port(void **state)
{
	char buf[256];
	int fd;

	start_server(tls_conf);
	fd = tcp_connect(server_bound_port(H.srv, 1));
	send_str(fd, "EHLO plaintext\r\n");
	assert_false(read_until(fd, "never", buf, sizeof(buf)));
	wait_recs(2);
	assert_string_equal(H.recs[1], "EV ERROR");
	assert_int_equal(H.nopen, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_split_across_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reap_closing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_callbacks_after_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_ip_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_limit_and_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_ipv6_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_description, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_discards_pipelined_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_implicit_tls_and_sni, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plaintext_to_tls_port, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
