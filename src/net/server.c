/*
 * server: listeners, connection limits and the current TLS context.
 *
 * Limits are counted here, at accept time, before any protocol state exists:
 * an over-limit client costs one accept, one short write and one close.
 */
#include "net/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "net/net_private.h"
#include "net/tls.h"

#define SERVER_LISTEN_BACKLOG 511
#define SERVER_IP_BUCKETS 1024
/* After EMFILE/ENFILE, stop accepting this long instead of spinning on accept. */
#define SERVER_ACCEPT_PAUSE_S 1

struct ip_slot {
	struct ip_slot *next;
	unsigned count;
	char ip[NET_IP_MAX];
};

struct listener {
	struct server *srv;
	struct evconnlistener *l;
	size_t index; /* into srv->listen */
	unsigned port;
};

struct server {
	struct event_base *base;
	SSL_CTX *tls; /* one reference owned here; each SSL holds its own */
	unsigned max_connections;
	unsigned max_connections_per_ip;

	struct listen_cfg listen[CONFIG_LISTEN_MAX];
	size_t listen_count;
	struct listener listeners[CONFIG_LISTEN_MAX];
	struct event *accept_pause;

	struct server_handler handlers[LISTEN_SERVICE_COUNT];
	bool has_handler[LISTEN_SERVICE_COUNT];

	unsigned conn_count;
	struct ip_slot *ips[SERVER_IP_BUCKETS];
};

static char errbuf[512];

/* ---- per-IP counts ---- */

static size_t ip_hash(const char *ip)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *ip != '\0'; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % SERVER_IP_BUCKETS;
}

static struct ip_slot **ip_find(struct server *srv, const char *ip)
{
	struct ip_slot **pp = &srv->ips[ip_hash(ip)];

	while (*pp != NULL && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	return pp;
}

static unsigned ip_count(struct server *srv, const char *ip)
{
	struct ip_slot *s = *ip_find(srv, ip);
	return s != NULL ? s->count : 0;
}

static void ip_inc(struct server *srv, const char *ip)
{
	struct ip_slot **pp = ip_find(srv, ip);

	if (*pp == NULL) {
		*pp = xcalloc(1, sizeof(**pp));
		snprintf((*pp)->ip, sizeof((*pp)->ip), "%s", ip);
	}
	(*pp)->count++;
}

static void ip_dec(struct server *srv, const char *ip)
{
	struct ip_slot **pp = ip_find(srv, ip);
	struct ip_slot *s = *pp;

	ASSERT(s != NULL && s->count > 0);
	if (--s->count == 0) {
		*pp = s->next;
		free(s);
	}
}

/* ---- accepting ---- */

static void refuse(struct server *srv, int fd, const struct listen_cfg *lc, enum server_refusal why,
		   unsigned limit, const char *ip)
{
	const struct server_handler *h = &srv->handlers[lc->service];

	log_info("server event=refused service=%s ip=%s reason=%s limit=%u", config_service_name(lc->service), ip,
		 why == SERVER_REFUSE_PER_IP ? "too-many-connections-from-ip" : "too-many-connections", limit);
	/* A plaintext refusal line means nothing to a client that expects a TLS handshake. */
	if (lc->tls != TLS_MODE_IMPLICIT && h->refuse != NULL)
		h->refuse(fd, why, limit, ip, h->arg);
	close(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct listener *li = arg;
	struct server *srv = li->srv;
	const struct listen_cfg *lc = &srv->listen[li->index];
	const struct server_handler *h = &srv->handlers[lc->service];
	char ip[NET_IP_MAX];
	struct conn *c;

	net_peer_ip(sa, (socklen_t)salen, ip, sizeof(ip));
	if (srv->conn_count >= srv->max_connections) {
		refuse(srv, fd, lc, SERVER_REFUSE_TOTAL, srv->max_connections, ip);
		return;
	}
	if (ip_count(srv, ip) >= srv->max_connections_per_ip) {
		refuse(srv, fd, lc, SERVER_REFUSE_PER_IP, srv->max_connections_per_ip, ip);
		return;
	}
	srv->conn_count++;
	ip_inc(srv, ip);
	c = conn_new(srv->base, fd, sa, (socklen_t)salen, lc->tls == TLS_MODE_IMPLICIT ? srv->tls : NULL, NULL, NULL);
	h->accept(srv, c, lc, h->arg);
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	for (size_t i = 0; i < srv->listen_count; i++) {
		if (srv->listeners[i].l != NULL)
			evconnlistener_enable(srv->listeners[i].l);
	}
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct listener *li = arg;
	struct server *srv = li->srv;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { .tv_sec = SERVER_ACCEPT_PAUSE_S, .tv_usec = 0 };

	log_warn("server event=accept-error port=%u error=\"%s\"", li->port, strerror(err));
	/* Out of descriptors: accept would fail again at once and spin the loop. */
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		for (size_t i = 0; i < srv->listen_count; i++) {
			if (srv->listeners[i].l != NULL)
				evconnlistener_disable(srv->listeners[i].l);
		}
		evtimer_add(srv->accept_pause, &tv);
	}
}

/* ---- binding ---- */

static int make_sockaddr(const struct listen_cfg *lc, struct sockaddr_storage *ss, socklen_t *len_r)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, lc->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(lc->port);
		*len_r = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, lc->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(lc->port);
		*len_r = sizeof(*s6);
		return 0;
	}
	return -1;
}

static const char *bind_error(const struct listen_cfg *lc, const char *what)
{
	bool v6 = strchr(lc->host, ':') != NULL;

	snprintf(errbuf, sizeof(errbuf), "cannot %s %s%s%s:%u for %s: %s", what, v6 ? "[" : "", lc->host,
		 v6 ? "]" : "", lc->port, config_service_name(lc->service), strerror(errno));
	return errbuf;
}

/* A listening socket for lc; -1 and *errstr_r on failure. */
static int bind_socket(const struct listen_cfg *lc, const char **errstr_r)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (make_sockaddr(lc, &ss, &len) < 0) {
		errno = EINVAL;
		*errstr_r = bind_error(lc, "parse");
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*errstr_r = bind_error(lc, "create a socket for");
		return -1;
	}
	/* V6ONLY: [::]:25 and 0.0.0.0:25 may both be listed, and must not collide. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0) {
		*errstr_r = bind_error(lc, "bind");
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int listen_one(struct server *srv, size_t i, const char **errstr_r)
{
	const struct listen_cfg *lc = &srv->listen[i];
	struct listener *li = &srv->listeners[i];
	int fd = bind_socket(lc, errstr_r);

	if (fd < 0)
		return -1;
	li->srv = srv;
	li->index = i;
	li->l = evconnlistener_new(srv->base, on_accept, li, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				   SERVER_LISTEN_BACKLOG, fd);
	if (li->l == NULL) {
		*errstr_r = bind_error(lc, "listen on");
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(li->l, on_accept_error);
	li->port = bound_port(fd);
	log_info("server event=listening service=%s address=%s port=%u tls=%s", config_service_name(lc->service),
		 lc->host, li->port,
		 lc->tls == TLS_MODE_IMPLICIT ? "implicit" : lc->tls == TLS_MODE_STARTTLS && srv->tls ? "starttls" : "no");
	return 0;
}

int server_listen(struct server *srv, const char **errstr_r)
{
	for (size_t i = 0; i < srv->listen_count; i++) {
		const struct listen_cfg *lc = &srv->listen[i];
		if (srv->listeners[i].l != NULL)
			continue;
		/* http and https are src/http's own listeners (evhttp binds them) */
		if (lc->service == LISTEN_HTTP || lc->service == LISTEN_HTTPS)
			continue;
		if (!srv->has_handler[lc->service]) {
			log_info("server event=skipped service=%s address=%s port=%u reason=\"service not implemented\"",
				 config_service_name(lc->service), lc->host, lc->port);
			continue;
		}
		if (listen_one(srv, i, errstr_r) < 0) {
			server_stop_listening(srv);
			return -1;
		}
	}
	return 0;
}

void server_stop_listening(struct server *srv)
{
	for (size_t i = 0; i < srv->listen_count; i++) {
		if (srv->listeners[i].l != NULL) {
			evconnlistener_free(srv->listeners[i].l);
			srv->listeners[i].l = NULL;
		}
	}
	event_del(srv->accept_pause);
}

unsigned server_bound_port(const struct server *srv, size_t n)
{
	return n < srv->listen_count ? srv->listeners[n].port : 0;
}

/* ---- life cycle ---- */

static void apply_limits(struct server *srv, const struct config *cfg)
{
	srv->max_connections = cfg->max_connections;
	srv->max_connections_per_ip = cfg->max_connections_per_ip;
}

struct server *server_new(struct event_base *base, const struct config *cfg, const char **errstr_r)
{
	struct server *srv;
	SSL_CTX *tls = tls_server_ctx_new(cfg, errstr_r);

	if (tls == NULL && *errstr_r != NULL)
		return NULL;
	srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	srv->tls = tls;
	apply_limits(srv, cfg);
	memcpy(srv->listen, cfg->listen, sizeof(cfg->listen[0]) * cfg->listen_count);
	srv->listen_count = cfg->listen_count;
	srv->accept_pause = evtimer_new(base, accept_resume, srv);
	if (srv->accept_pause == NULL)
		panic("server: cannot create a timer (out of memory)");
	return srv;
}

void server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	server_stop_listening(srv);
	conn_reap_closing();
	event_free(srv->accept_pause);
	for (size_t i = 0; i < SERVER_IP_BUCKETS; i++) {
		while (srv->ips[i] != NULL) {
			struct ip_slot *s = srv->ips[i];
			srv->ips[i] = s->next;
			free(s);
		}
	}
	SSL_CTX_free(srv->tls);
	free(srv);
}

void server_set_handler(struct server *srv, enum listen_service service, const struct server_handler *h)
{
	ASSERT(service < LISTEN_SERVICE_COUNT && h->accept != NULL);
	srv->handlers[service] = *h;
	srv->has_handler[service] = true;
}

/*
 * Listeners stay as they are (binding may need privileges we no longer
 * have); limits and certificates change for new connections. Live
 * connections keep the SSL_CTX they started with through their SSL's own
 * reference.
 */
int server_reload(struct server *srv, const struct config *cfg, const char **errstr_r)
{
	SSL_CTX *tls = tls_server_ctx_new(cfg, errstr_r);

	if (tls == NULL && *errstr_r != NULL)
		return -1;
	for (size_t i = 0; i < srv->listen_count && tls == NULL; i++) {
		if (srv->listen[i].tls == TLS_MODE_IMPLICIT && srv->listeners[i].l != NULL) {
			snprintf(errbuf, sizeof(errbuf), "cannot remove tls while listening for %s on port %u",
				 config_service_name(srv->listen[i].service), srv->listeners[i].port);
			*errstr_r = errbuf;
			return -1;
		}
	}
	SSL_CTX_free(srv->tls);
	srv->tls = tls;
	apply_limits(srv, cfg);
	log_info("server event=reloaded connections=%u connections_per_ip=%u tls=%s", srv->max_connections,
		 srv->max_connections_per_ip, tls != NULL ? "yes" : "no");
	return 0;
}

SSL_CTX *server_tls_ctx(struct server *srv)
{
	return srv->tls;
}

void server_conn_done(struct server *srv, struct conn *c)
{
	ASSERT(srv->conn_count > 0);
	srv->conn_count--;
	ip_dec(srv, conn_peer_ip(c));
}

unsigned server_conn_count(const struct server *srv)
{
	return srv->conn_count;
}
