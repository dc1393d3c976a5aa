/*
 * Tests for src/dns against a real authoritative DNS server: Debian's nsd,
 * started by this test on 127.0.0.1 and a free high port with zone files in a
 * temporary directory, stopped by its PID at the end. The resolver forwards
 * every query to it. If nsd cannot run, the whole suite fails and says why
 * (no skipping: the DNS path is part of what must be proven).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
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

#include "dns/dns.h"

#define NSD_PATH "/usr/sbin/nsd"

static char tmpdir[PATH_MAX];
static pid_t nsd_pid = -1;
static unsigned nsd_port;
static char forward[64];

static const char zone[] =
	"$ORIGIN example.test.\n"
	"$TTL 300\n"
	"@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
	"@ IN NS ns.example.test.\n"
	"ns IN A 127.0.0.1\n"
	"; two hosts at preference 10, one at 20; listed worst first on purpose\n"
	"@ IN MX 20 mx3.example.test.\n"
	"@ IN MX 10 mx1.example.test.\n"
	"@ IN MX 10 MX2.example.test.\n"
	"mx1 IN A 127.0.0.11\n"
	"mx2 IN A 127.0.0.12\n"
	"mx2 IN AAAA 2001:db8::12\n"
	"mx3 IN AAAA 2001:db8::13\n"
	"; no MX: the domain is its own mail host\n"
	"nomx IN A 127.0.0.20\n"
	"nomx IN AAAA 2001:db8::20\n"
	"; RFC 7505 null MX\n"
	"null IN MX 0 .\n"
	"; an MX whose only host does not exist\n"
	"ghostmx IN MX 10 ghost.example.test.\n"
	"; no MX and no address either\n"
	"bare IN TXT \"nothing here\"\n"
	"; an MX host that is an alias\n"
	"cnamemx IN MX 5 alias.example.test.\n"
	"alias IN CNAME mx1.example.test.\n"
	"; the same host twice, and a null MX among real ones (ignored)\n"
	"dup IN MX 10 mx1.example.test.\n"
	"dup IN MX 30 mx1.example.test.\n"
	"dup IN MX 0 .\n"
	"many IN A 127.0.1.1\n"
	"many IN A 127.0.1.2\n"
	"many IN A 127.0.1.3\n";

/* ---- nsd ---- */

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* A port free for both UDP and TCP on 127.0.0.1 at the time of asking. */
static unsigned free_port(void)
{
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sin);
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		unsigned port = 0;
		if (bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    getsockname(u, (struct sockaddr *)&sin, &len) == 0 &&
		    bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			port = ntohs(sin.sin_port);
		close(u);
		close(t);
		if (port >= 1024)
			return port;
	}
	return 0;
}

static int write_nsd_conf(void)
{
	char conf[PATH_MAX * 8];

	snprintf(conf, sizeof(conf),
		 "server:\n"
		 "  ip-address: 127.0.0.1\n"
		 "  port: %u\n"
		 "  username: \"\"\n"
		 "  chroot: \"\"\n"
		 "  zonesdir: \"%s\"\n"
		 "  pidfile: \"%s/nsd.pid\"\n"
		 "  xfrdfile: \"%s/xfrd.state\"\n"
		 "  zonelistfile: \"%s/zone.list\"\n"
		 "  database: \"\"\n"
		 "  logfile: \"%s/nsd.log\"\n"
		 "  server-count: 1\n"
		 "  verbosity: 1\n"
		 "remote-control:\n"
		 "  control-enable: no\n"
		 "zone:\n"
		 "  name: example.test\n"
		 "  zonefile: example.test.zone\n",
		 nsd_port, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
	if (write_file(tmpdir, "example.test.zone", zone) < 0 || write_file(tmpdir, "nsd.conf", conf) < 0)
		return -1;
	return 0;
}

/* One raw UDP query for example.test SOA: true once nsd answers. */
static bool nsd_answers(void)
{
	static const unsigned char q[] = { 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p',
					   'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 6, 0, 1 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	unsigned char resp[512];
	struct pollfd pfd;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok = false;

	sin.sin_port = htons((uint16_t)nsd_port);
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&sin, sizeof(sin)) == (ssize_t)sizeof(q) &&
	    poll(&pfd, 1, 200) == 1)
		ok = recv(fd, resp, sizeof(resp), 0) >= 12 && resp[0] == 0x12 && resp[1] == 0x34;
	close(fd);
	return ok;
}

static void show_nsd_log(void)
{
	char path[PATH_MAX + 16], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/nsd.log", tmpdir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "nsd.log: %s", line);
	fclose(f);
}

static pid_t nsd_spawn(void)
{
	char conf[PATH_MAX + 16];
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/nsd.conf", tmpdir);
	pid = fork();
	if (pid == 0) {
		/* -d: stay in the foreground, so the PID we hold is nsd's own. */
		execl(NSD_PATH, "nsd", "-d", "-c", conf, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", NSD_PATH, strerror(errno));
		_exit(127);
	}
	return pid;
}

static int nsd_start(void)
{
	int status;

	if (access(NSD_PATH, X_OK) != 0) {
		fprintf(stderr, "test_dns: FAILED: %s is not installed (Debian package nsd; run scripts/install-deps)\n",
			NSD_PATH);
		return -1;
	}
	if ((nsd_port = free_port()) == 0 || write_nsd_conf() < 0) {
		fprintf(stderr, "test_dns: FAILED: cannot prepare nsd's port or files in %s: %s\n", tmpdir,
			strerror(errno));
		return -1;
	}
	if ((nsd_pid = nsd_spawn()) < 0)
		return -1;
	for (int i = 0; i < 100; i++) {
		if (nsd_answers())
			return 0;
		if (waitpid(nsd_pid, &status, WNOHANG) == nsd_pid) {
			fprintf(stderr, "test_dns: FAILED: nsd exited (status %d) before answering on 127.0.0.1:%u\n",
				WIFEXITED(status) ? WEXITSTATUS(status) : -1, nsd_port);
			nsd_pid = -1;
			show_nsd_log();
			return -1;
		}
	}
	fprintf(stderr, "test_dns: FAILED: nsd did not answer on 127.0.0.1:%u within 20 s\n", nsd_port);
	show_nsd_log();
	return -1;
}

static void nsd_stop(void)
{
	int status;

	if (nsd_pid <= 0)
		return;
	kill(nsd_pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(nsd_pid, &status, WNOHANG) == nsd_pid) {
			nsd_pid = -1;
			return;
		}
		usleep(50 * 1000);
	}
	kill(nsd_pid, SIGKILL);
	waitpid(nsd_pid, &status, 0);
	nsd_pid = -1;
}

static int group_setup(void **state)
{
	const char *base = getenv("HERMOD_TEST_TMP");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_dns.XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "test_dns: FAILED: cannot create %s: %s\n", tmpdir, strerror(errno));
		return -1;
	}
	if (nsd_start() < 0) {
		nsd_stop();
		return -1;
	}
	snprintf(forward, sizeof(forward), "127.0.0.1@%u", nsd_port);
	return 0;
}

static int group_teardown(void **state)
{
	nsd_stop();
	return 0;
}

/* ---- harness ---- */

#define ANSWER_HOSTS_MAX DNS_MX_HOSTS_MAX

struct answer {
	bool called;
	int ncalls;
	enum dns_status status;
	char error[512];
	bool implicit_mx;
	size_t nhosts;
	char host[ANSWER_HOSTS_MAX][256];
	unsigned pref[ANSWER_HOSTS_MAX];
	char host_error[ANSWER_HOSTS_MAX][256];
	size_t naddrs[ANSWER_HOSTS_MAX];
	char addr[ANSWER_HOSTS_MAX][16][64];
};

struct fixture {
	struct event_base *base;
	struct dns *dns;
};

static struct fixture F;

static void addr_text(const struct dns_addr *a, char *out, size_t outlen)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

	if (a->sa.ss_family == AF_INET)
		inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)outlen);
	else
		inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outlen);
}

static void on_answer(const struct dns_result *r, void *arg)
{
	struct answer *a = arg;

	a->called = true;
	a->ncalls++;
	a->status = r->status;
	snprintf(a->error, sizeof(a->error), "%s", r->error != NULL ? r->error : "");
	a->implicit_mx = r->implicit_mx;
	a->nhosts = r->nhosts;
	for (size_t i = 0; i < r->nhosts && i < ANSWER_HOSTS_MAX; i++) {
		const struct dns_host *h = &r->hosts[i];
		snprintf(a->host[i], sizeof(a->host[i]), "%s", h->name);
		a->pref[i] = h->preference;
		snprintf(a->host_error[i], sizeof(a->host_error[i]), "%s", h->error != NULL ? h->error : "");
		a->naddrs[i] = h->naddrs;
		for (size_t j = 0; j < h->naddrs && j < 16; j++) {
			assert_int_equal(h->addrs[j].len, h->addrs[j].sa.ss_family == AF_INET
								  ? sizeof(struct sockaddr_in)
								  : sizeof(struct sockaddr_in6));
			addr_text(&h->addrs[j], a->addr[i][j], sizeof(a->addr[i][j]));
		}
	}
}

static void break_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs the loop until *done or ms have passed. */
static void run_until(bool *done, int ms)
{
	struct timespec t0, t;
	struct timeval tick = { 0, 10 * 1000 };
	struct event *ev = event_new(F.base, -1, EV_PERSIST, break_cb, F.base);

	event_add(ev, &tick);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((done != NULL && *done) ||
		    (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			break;
		event_base_loop(F.base, EVLOOP_ONCE);
	}
	event_free(ev);
}

static struct dns *new_dns(const struct dns_cfg *cfg)
{
	const char *err = NULL;
	struct dns *d = dns_new(F.base, cfg, &err);

	if (d == NULL)
		fail_msg("dns_new: %s", err);
	return d;
}

static int setup(void **state)
{
	struct dns_cfg cfg = { .forward = forward, .timeout_s = 10 };

	F.base = event_base_new();
	F.dns = new_dns(&cfg);
	return 0;
}

static int teardown(void **state)
{
	dns_free(F.dns);
	event_base_free(F.base);
	return 0;
}

static void mx(const char *domain, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	dns_mx(F.dns, domain, on_answer, a);
	assert_false(a->called); /* never inside the call */
	run_until(&a->called, 15000);
	assert_true(a->called);
	assert_int_equal(dns_pending_count(F.dns), 0);
}

static void addresses(const char *host, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	dns_addresses(F.dns, host, on_answer, a);
	assert_false(a->called);
	run_until(&a->called, 15000);
	assert_true(a->called);
}

static bool has_addr(const struct answer *a, size_t host, const char *text)
{
	for (size_t j = 0; j < a->naddrs[host]; j++)
		if (strcmp(a->addr[host][j], text) == 0)
			return true;
	return false;
}

/* ---- tests ---- */

static void test_mx_order_and_addresses(void **state)
{
	struct answer a;

	mx("example.test", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_string_equal(a.error, "");
	assert_false(a.implicit_mx);
	assert_int_equal(a.nhosts, 3);
	/* preference 10 first (mx1, mx2 in some order; names lower-cased), then 20 */
	assert_int_equal(a.pref[0], 10);
	assert_int_equal(a.pref[1], 10);
	assert_int_equal(a.pref[2], 20);
	assert_string_equal(a.host[2], "mx3.example.test");
	for (size_t i = 0; i < 2; i++) {
		if (strcmp(a.host[i], "mx1.example.test") == 0) {
			assert_int_equal(a.naddrs[i], 1);
			assert_string_equal(a.addr[i][0], "127.0.0.11");
		} else {
			assert_string_equal(a.host[i], "mx2.example.test");
			assert_int_equal(a.naddrs[i], 2);
			assert_string_equal(a.addr[i][0], "127.0.0.12"); /* IPv4 first by default */
			assert_string_equal(a.addr[i][1], "2001:db8::12");
		}
	}
	assert_int_equal(a.naddrs[2], 1);
	assert_string_equal(a.addr[2][0], "2001:db8::13");
}

/* Equal preferences are shuffled (RFC 5321 5.1): both orders show up. */
static void test_mx_equal_preferences_shuffled(void **state)
{
	int mx1_first = 0, mx2_first = 0;
	struct answer a;

	for (int i = 0; i < 40; i++) {
		mx("example.test", &a);
		assert_int_equal(a.nhosts, 3);
		assert_string_equal(a.host[2], "mx3.example.test");
		if (strcmp(a.host[0], "mx1.example.test") == 0)
			mx1_first++;
		else
			mx2_first++;
	}
	assert_true(mx1_first > 0);
	assert_true(mx2_first > 0);
}

static void test_prefer_ipv6_and_no_ipv6(void **state)
{
	struct dns_cfg v6 = { .forward = forward, .prefer_ipv6 = true };
	struct dns_cfg v4 = { .forward = forward, .no_ipv6 = true };
	struct answer a;

	dns_free(F.dns);
	F.dns = new_dns(&v6);
	addresses("mx2.example.test", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_int_equal(a.naddrs[0], 2);
	assert_string_equal(a.addr[0][0], "2001:db8::12");
	assert_string_equal(a.addr[0][1], "127.0.0.12");

	dns_free(F.dns);
	F.dns = new_dns(&v4);
	addresses("mx2.example.test", &a);
	assert_int_equal(a.naddrs[0], 1);
	assert_string_equal(a.addr[0][0], "127.0.0.12");
	/* mx3 has only AAAA: with IPv6 off it has no usable address */
	mx("example.test", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_string_equal(a.host[2], "mx3.example.test");
	assert_int_equal(a.naddrs[2], 0);
	assert_string_equal(a.host_error[2], "mx3.example.test: host has no address record (A)");
}

/* No MX: the domain itself, preference 0 (RFC 5321 5.1). */
static void test_implicit_mx(void **state)
{
	struct answer a;

	mx("NoMX.Example.Test.", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_true(a.implicit_mx);
	assert_int_equal(a.nhosts, 1);
	assert_string_equal(a.host[0], "nomx.example.test");
	assert_int_equal(a.pref[0], 0);
	assert_int_equal(a.naddrs[0], 2);
	assert_true(has_addr(&a, 0, "127.0.0.20"));
	assert_true(has_addr(&a, 0, "2001:db8::20"));
}

static void test_null_mx_is_permanent(void **state)
{
	struct answer a;

	mx("null.example.test", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	assert_string_equal(a.error,
			    "domain null.example.test does not accept mail (it publishes a null MX record, RFC 7505)");
	assert_int_equal(a.nhosts, 0);
}

/* A null MX next to real ones is ignored; a host listed twice is tried once. */
static void test_null_among_real_and_duplicates(void **state)
{
	struct answer a;

	mx("dup.example.test", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_int_equal(a.nhosts, 1);
	assert_string_equal(a.host[0], "mx1.example.test");
	assert_int_equal(a.pref[0], 10);
	assert_string_equal(a.addr[0][0], "127.0.0.11");
}

static void test_nxdomain_is_permanent(void **state)
{
	struct answer a;

	mx("nosuch.example.test", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	assert_string_equal(a.error, "domain nosuch.example.test does not exist (DNS: NXDOMAIN)");
	addresses("nosuch.example.test", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	assert_string_equal(a.error, "nosuch.example.test: host name does not exist (NXDOMAIN)");
}

static void test_no_address_anywhere(void **state)
{
	struct answer a;

	mx("bare.example.test", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	assert_true(a.implicit_mx);
	assert_string_equal(a.error,
			    "domain bare.example.test has no MX record and no address record to deliver mail to");
	mx("ghostmx.example.test", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	assert_int_equal(a.nhosts, 1);
	assert_string_equal(a.host_error[0], "ghost.example.test: host name does not exist (NXDOMAIN)");
	assert_string_equal(a.error, "no mail host of domain ghostmx.example.test has a usable address "
				     "(ghost.example.test: host name does not exist (NXDOMAIN))");
}

static void test_cname_mx_host(void **state)
{
	struct answer a;

	mx("cnamemx.example.test", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_string_equal(a.host[0], "alias.example.test");
	assert_int_equal(a.pref[0], 5);
	assert_int_equal(a.naddrs[0], 1);
	assert_string_equal(a.addr[0][0], "127.0.0.11");
}

static void test_addresses(void **state)
{
	struct answer a;

	addresses("many.example.test", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_int_equal(a.nhosts, 1);
	assert_int_equal(a.naddrs[0], 3);
	assert_true(has_addr(&a, 0, "127.0.1.1"));
	assert_true(has_addr(&a, 0, "127.0.1.2"));
	assert_true(has_addr(&a, 0, "127.0.1.3"));
	/* literals need no query */
	addresses("192.0.2.7", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_string_equal(a.addr[0][0], "192.0.2.7");
	addresses("::1", &a);
	assert_int_equal(a.status, DNS_OK);
	assert_string_equal(a.addr[0][0], "::1");
}

static void test_invalid_names(void **state)
{
	struct answer a;

	mx("bad domain.test", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	assert_string_equal(a.error, "\"bad domain.test\" is not a valid domain name");
	mx("a..b", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	mx("", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
	addresses("x\r\ny", &a);
	assert_int_equal(a.status, DNS_PERMFAIL);
}

/* nsd refuses names outside its zones (REFUSED); unbound turns that into SERVFAIL: temporary. */
static void test_servfail_is_temporary(void **state)
{
	struct answer a;

	mx("elsewhere.example.org", &a);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	assert_string_equal(a.error, "DNS lookup of the MX records of elsewhere.example.org failed: the server answered "
				     "SERVFAIL");
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(*(int *)arg)++;
}

/*
 * A server that never answers: the lookup ends as temporary at the
 * configured timeout, and the loop keeps running meanwhile (timers fire).
 */
static void test_timeout_and_loop_not_blocked(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int silent = socket(AF_INET, SOCK_DGRAM, 0), ticks = 0;
	struct timeval tv = { 0, 50 * 1000 };
	char fwd[64];
	struct answer a;
	struct event *tick = event_new(F.base, -1, EV_PERSIST, tick_cb, &ticks);

	assert_int_equal(bind(silent, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(silent, (struct sockaddr *)&sin, &len), 0);
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", ntohs(sin.sin_port));
	struct dns_cfg cfg = { .forward = fwd, .timeout_s = 1 };
	dns_free(F.dns);
	F.dns = new_dns(&cfg);
	event_add(tick, &tv);
	mx("example.test", &a);
	event_free(tick);
	close(silent);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	assert_string_equal(a.error, "DNS lookup of the MX records of example.test timed out after 1 s");
	assert_true(ticks >= 10);
}

/* A cancelled request never calls back, whether in flight or finishing soon. */
static void test_cancel(void **state)
{
	struct answer a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	struct dns_req *r1 = dns_mx(F.dns, "example.test", on_answer, &a1);
	struct dns_req *r2 = dns_addresses(F.dns, "127.0.0.1", on_answer, &a2);

	dns_mx(F.dns, "nomx.example.test", on_answer, &a3);
	assert_int_equal(dns_pending_count(F.dns), 3);
	dns_req_cancel(r1);
	dns_req_cancel(r2);
	assert_int_equal(dns_pending_count(F.dns), 1);
	run_until(&a3.called, 15000);
	run_until(NULL, 300);
	assert_true(a3.called);
	assert_int_equal(a3.ncalls, 1);
	assert_false(a1.called);
	assert_false(a2.called);
	/* free with requests in flight: no callbacks, no leaks */
	dns_mx(F.dns, "example.test", on_answer, &a1);
	dns_mx(F.dns, "many.example.test", on_answer, &a2);
}

static void test_bad_forward_address(void **state)
{
	struct dns_cfg cfg = { .forward = "not-an-address" };
	const char *err = NULL;

	assert_null(dns_new(F.base, &cfg, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "DNS forward address \"not-an-address\" is not usable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mx_order_and_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_equal_preferences_shuffled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefer_ipv6_and_no_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_implicit_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_mx_is_permanent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_among_real_and_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain_is_permanent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_address_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cname_mx_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_is_temporary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_loop_not_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_forward_address, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
