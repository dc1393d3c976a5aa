/*
 * http_server: evhttp on the daemon's loop, its limits, and the trip of a
 * request to a worker and back (see http.h and http_private.h).
 *
 * Limits: evhttp bounds the header section and the body (413 before the
 * body is read when Content-Length says too much) and times idle
 * connections out. Connections are counted here: libevent 2.1's evhttp has
 * no connection limit and no hook when a connection ends, so every
 * bufferevent evhttp asks us for (evhttp_set_bevcb) is kept with an extra
 * reference; a sweep once a second releases those evhttp has freed (their
 * callbacks are cleared by bufferevent_free). At the global limit the
 * listeners pause and the kernel's backlog holds new clients; the per-IP
 * limit is checked at a connection's first request (evhttp does not tell
 * the peer earlier) and answered 503.
 *
 * A client that goes away while its request runs: the connection's close
 * callback detaches the job, which still completes (an operation that was
 * started is not undone, and its outbox is still sent) but answers no one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "http/http_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_queue.h"

#define HTTP_LOGIN_BODY_MAX 4096

struct http_conn {
	struct http_conn *next;
	struct bufferevent *bev; /* one reference of ours */
	bool closed;             /* evhttp's close callback ran */
	bool hooked;             /* the close callback is set (first request seen) */
	char ip[64];
	struct http_job *pending; /* jobs of this connection not answered yet */
};

struct http_front {
	struct http_server *hs;
	struct evhttp *eh;
	bool tls;
	struct evhttp_bound_socket *bound[CONFIG_LISTEN_MAX];
	size_t nbound;
};

struct http_submit {
	struct http_submit *next, *prev;
	struct http_server *hs;
	struct http_job *job; /* answered once its last message is durable */
	struct store_req *req;
	bool remote;
};

struct http_server {
	struct event_base *base;
	struct server *srv;
	struct store_async *store;
	struct auth_service *auth;
	const struct config *cfg;
	void (*queue_kick)(void *arg);
	void *queue_arg;
	struct http_front fronts[2]; /* plain, TLS */
	struct http_workers *workers;
	struct http_conn *conns;
	unsigned conn_count;
	bool paused;
	struct event *sweep;
	struct http_job *live;       /* every job not finished */
	size_t jobs;
	struct http_submit *submits; /* outbox deliveries in flight */
	bool shutting_down;
};

/* ---- answers ---------------------------------------------------------------------------- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

static void send_answer(struct http_job *job)
{
	struct http_call *call = &job->call;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(job->req);
	struct evbuffer *body = evbuffer_new();

	if (call->content_type[0] != '\0')
		evhttp_add_header(oh, "Content-Type", call->content_type);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	for (const struct http_header *h = call->headers_out; h != NULL; h = h->next)
		evhttp_add_header(oh, h->name, h->value);
	if (job->close)
		evhttp_add_header(oh, "Connection", "close");
	evbuffer_add(body, call->out.data, call->out.len);
	evhttp_send_reply(job->req, call->status, reason_phrase(call->status), body);
	evbuffer_free(body);
	job->req = NULL;
}

/* ---- jobs ----------------------------------------------------------------------------------- */

static void conn_unpend(struct http_job *job)
{
	if (job->conn == NULL)
		return;
	for (struct http_job **pp = &job->conn->pending; *pp != NULL; pp = &(*pp)->conn_next) {
		if (*pp == job) {
			*pp = job->conn_next;
			break;
		}
	}
	job->conn = NULL;
}

static void outmsg_free(struct http_outmsg *o)
{
	if (o->body != NULL)
		spool_free(o->body);
	for (size_t i = 0; i < o->remote_count; i++)
		free(o->remote[i]);
	free(o->remote);
	free(o->address_ids);
	free(o->envelope_from);
	free(o);
}

static void job_free(struct http_job *job)
{
	struct http_server *hs = job->hs;

	conn_unpend(job);
	if (job->live_prev != NULL)
		job->live_prev->live_next = job->live_next;
	else
		hs->live = job->live_next;
	if (job->live_next != NULL)
		job->live_next->live_prev = job->live_prev;
	hs->jobs--;
	while (job->outbox != NULL) {
		struct http_outmsg *o = job->outbox;
		job->outbox = o->next;
		outmsg_free(o);
	}
	http_call_clear(&job->call);
	free((char *)job->call.path);
	free((char *)job->call.body);
	free((char *)job->call.host);
	free((char *)job->call.peer_ip);
	free(job->query);
	if (job->cookie != NULL)
		sodium_memzero(job->cookie, strlen(job->cookie));
	free(job->cookie);
	if (job->bearer != NULL)
		sodium_memzero(job->bearer, strlen(job->bearer));
	free(job->bearer);
	free(job);
}

/* Answers the job if its client is still there, and frees it. */
static void job_finish(struct http_job *job)
{
	conn_unpend(job);
	if (job->req != NULL) {
		if (job->outbox_failed)
			http_call_fail(&job->call, 500, "message_not_sent",
				       "the change was made, but the message it sends (an invitation or a confirmation"
				       " link) could not be stored; the server log says why",
				       NULL);
		send_answer(job);
	}
	job_free(job);
}

/* ---- the outbox: messages an operation wants sent ------------------------------------ */

static void submitted(int result, const char *errstr, void *arg)
{
	struct http_submit *sub = arg;
	struct http_server *hs = sub->hs;

	if (result < 0) {
		log_error("http event=outbox-failed error=\"%s\"", errstr != NULL ? errstr : "unknown");
		sub->job->outbox_failed = true;
	} else if (sub->remote && hs->queue_kick != NULL) {
		hs->queue_kick(hs->queue_arg);
	}
	/* the answer comes after the message is durable, as every acknowledgement does */
	if (--sub->job->outbox_pending == 0)
		job_finish(sub->job);
	if (sub->prev != NULL)
		sub->prev->next = sub->next;
	else
		hs->submits = sub->next;
	if (sub->next != NULL)
		sub->next->prev = sub->prev;
	free(sub);
}

/* Hosted recipients delivered and remote ones queued in one durable batch (store_async_submit). */
static void outbox_send(struct http_server *hs, struct http_job *job, struct http_outmsg *o)
{
	struct http_submit *sub = xcalloc(1, sizeof(*sub));
	struct store_outbound_rcpt *rcpts = xcalloc(o->remote_count + 1, sizeof(*rcpts));
	struct store_outbound out = { .envelope_from = o->envelope_from, .rcpts = rcpts,
				      .rcpt_count = o->remote_count };

	for (size_t i = 0; i < o->remote_count; i++)
		rcpts[i].address = o->remote[i];
	sub->hs = hs;
	sub->job = job;
	job->outbox_pending++;
	sub->remote = o->remote_count > 0;
	sub->next = hs->submits;
	if (hs->submits != NULL)
		hs->submits->prev = sub;
	hs->submits = sub;
	if (o->remote_count > 0)
		sub->req = store_async_submit(hs->store, o->body, o->address_ids, o->address_count, &out,
					      (int64_t)time(NULL), submitted, sub);
	else
		sub->req = store_async_deliver(hs->store, o->body, o->address_ids, o->address_count,
					       (int64_t)time(NULL), submitted, sub);
	o->body = NULL; /* the store's now */
	free(rcpts);
	log_info("http event=outbox-sent local=%zu remote=%zu", o->address_count, o->remote_count);
}

/*
 * A job is finished (on the loop). Its outbox goes to the store first; the
 * answer follows when every message is durable (submitted), or at once
 * when there is none.
 */
static void job_done(struct http_job *job, void *arg)
{
	struct http_server *hs = arg;

	for (struct http_outmsg *o = job->outbox; o != NULL; o = o->next)
		if (o->address_count + o->remote_count > 0)
			outbox_send(hs, job, o);
	if (job->outbox_pending == 0)
		job_finish(job);
}

/* Answers at once from the loop (routing errors, limits, login failures). */
static void job_fail_now(struct http_job *job, int status, const char *code, const char *message)
{
	http_call_fail(&job->call, status, code, message, NULL);
	job_done(job, job->hs);
}

/* ---- logins: the password is checked by the auth service (its threads, its throttling) ---- */

static void login_checked(enum auth_result result, const struct auth_identity *id, const char *message, void *arg)
{
	struct http_job *job = arg;

	job->auth = NULL;
	switch (result) {
	case AUTH_OK:
		job->kind = HTTP_JOB_LOGIN;
		job->login_account_id = id->account_id;
		snprintf(job->login, sizeof(job->login), "%s", id->login);
		http_workers_submit(job->hs->workers, job);
		return;
	case AUTH_FAILED:
		job_fail_now(job, 401, "invalid_credentials", "wrong login or password");
		return;
	case AUTH_THROTTLED:
		http_header_add(&job->call.headers_out, "Retry-After", 11, "60", 2);
		job_fail_now(job, 429, "too_many_failures", message);
		return;
	case AUTH_TEMPFAIL:
		job_fail_now(job, 503, "temporary_failure", message);
		return;
	}
}

/* POST /api/v1/session: {login, password} parsed here (small), checked off the loop. */
static void login_start(struct http_job *job)
{
	struct http_call *call = &job->call;
	struct manage_error err;
	const char *login = NULL, *password = NULL;
	json_error_t jerr;
	json_t *body;

	if (call->body_len > HTTP_LOGIN_BODY_MAX) {
		job_fail_now(job, 413, "body_too_large", "a login is a few bytes of JSON");
		return;
	}
	body = json_loadb(call->body, call->body_len, 0, &jerr);
	if (body == NULL || !json_is_object(body)) {
		json_decref(body);
		job_fail_now(job, 400, "invalid_json", "the body must be a JSON object {\"login\": ..., \"password\": ...}");
		return;
	}
	if (manage_param_str(body, "login", true, 319, &login, &err) < 0 ||
	    manage_param_str(body, "password", true, 1024, &password, &err) < 0) {
		http_call_error(call, &err);
		json_decref(body);
		job_done(job, job->hs);
		return;
	}
	job->auth = auth_login_account(job->hs->auth, call->peer_ip, login, password, login_checked, job);
	json_decref(body); /* jansson frees the password's copy; auth keeps its own, wiped after use */
}

/* ---- connections ------------------------------------------------------------------------- */

static void listeners_enable(struct http_server *hs, bool on)
{
	for (size_t f = 0; f < 2; f++)
		for (size_t i = 0; i < hs->fronts[f].nbound; i++) {
			struct evconnlistener *l = evhttp_bound_socket_get_listener(hs->fronts[f].bound[i]);
			if (on)
				evconnlistener_enable(l);
			else
				evconnlistener_disable(l);
		}
	hs->paused = !on;
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
	struct http_front *front = arg;
	struct http_server *hs = front->hs;
	struct http_conn *c = xcalloc(1, sizeof(*c));
	SSL_CTX *ctx = front->tls ? server_tls_ctx(hs->srv) : NULL;
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;

	if (ssl != NULL)
		c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	else
		c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (front->tls && ssl == NULL)
		log_error("http event=tls-unavailable note=\"cannot create a TLS session; the client will fail\"");
	bufferevent_incref(c->bev);
	c->next = hs->conns;
	hs->conns = c;
	if (++hs->conn_count >= hs->cfg->max_connections && !hs->paused) {
		log_warn("http event=connection-limit limit=%u note=\"not accepting until a connection ends\"",
			 hs->cfg->max_connections);
		listeners_enable(hs, false);
	}
	return c->bev;
}

static bool conn_gone(const struct http_conn *c)
{
	bufferevent_data_cb readcb = NULL;

	if (c->closed)
		return true;
	bufferevent_getcb(c->bev, &readcb, NULL, NULL, NULL);
	return readcb == NULL; /* bufferevent_free cleared it: evhttp let go */
}

static void sweep(struct http_server *hs, bool all)
{
	for (struct http_conn **pp = &hs->conns; *pp != NULL;) {
		struct http_conn *c = *pp;
		if (!all && !conn_gone(c)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		for (struct http_job *j = c->pending; j != NULL; j = j->conn_next) {
			j->conn = NULL;
			j->req = NULL;
		}
		bufferevent_decref(c->bev);
		free(c);
		hs->conn_count--;
	}
	if (hs->paused && !hs->shutting_down && hs->conn_count < hs->cfg->max_connections)
		listeners_enable(hs, true);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	sweep(arg, false);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *c = arg;

	c->closed = true;
	/* its requests are freed by evhttp right after this: the jobs must not answer them */
	for (struct http_job *j = c->pending; j != NULL; j = j->conn_next) {
		j->req = NULL;
		j->conn = NULL;
	}
	c->pending = NULL;
}

static struct http_conn *conn_of(struct http_server *hs, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);

	for (struct http_conn *c = hs->conns; c != NULL; c = c->next)
		if (c->bev == bev)
			return c;
	return NULL;
}

static unsigned conns_from(struct http_server *hs, const char *ip)
{
	unsigned n = 0;

	for (struct http_conn *c = hs->conns; c != NULL; c = c->next)
		n += c->hooked && !c->closed && strcmp(c->ip, ip) == 0;
	return n;
}

/* At a connection's first request: its close callback, its peer, the per-IP limit. */
static bool conn_first_request(struct http_server *hs, struct http_conn *c, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(c->ip, sizeof(c->ip), "%s", addr != NULL ? addr : "");
	evhttp_connection_set_closecb(evcon, on_conn_close, c);
	c->hooked = true;
	return conns_from(hs, c->ip) <= hs->cfg->max_connections_per_ip;
}

/* ---- requests ---------------------------------------------------------------------------- */

static unsigned method_of(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return HTTP_GET;
	case EVHTTP_REQ_POST: return HTTP_POST;
	case EVHTTP_REQ_PUT: return HTTP_PUT;
	case EVHTTP_REQ_DELETE: return HTTP_DELETE;
	case EVHTTP_REQ_PATCH: return HTTP_PATCH;
	default: return 0;
	}
}

/* Host without the port, lower case ("[::1]:8080" -> "[::1]"). */
static char *host_of(const char *host)
{
	char *h = xstrdup(host != NULL ? host : "");
	char *colon = h[0] == '[' ? strchr(h, ']') : h;

	if (colon != NULL && (colon = strchr(colon, ':')) != NULL)
		*colon = '\0';
	for (char *p = h; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return h;
}

static void copy_headers(struct http_job *job, struct evhttp_request *req)
{
	struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
	const char *cookie = evhttp_find_header(ih, "Cookie");
	const char *authz = evhttp_find_header(ih, "Authorization");

	for (struct evkeyval *kv = ih->tqh_first; kv != NULL; kv = kv->next.tqe_next)
		http_header_add(&job->call.headers_in, kv->key, strlen(kv->key), kv->value, strlen(kv->value));
	if (cookie != NULL)
		job->cookie = http_cookie_value(cookie, HTTP_SESSION_COOKIE);
	if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0)
		job->bearer = xstrdup(authz + 7 + strspn(authz + 7, " "));
}

static struct http_job *job_new(struct http_server *hs, struct http_front *front, struct http_conn *c,
				struct evhttp_request *req, unsigned method, const char *path, const char *query)
{
	struct http_job *job = xcalloc(1, sizeof(*job));
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body = xmalloc(len + 1);

	evbuffer_remove(in, body, len);
	body[len] = '\0';
	job->hs = hs;
	job->req = req;
	job->conn = c;
	job->conn_next = c->pending;
	c->pending = job;
	job->live_next = hs->live;
	if (hs->live != NULL)
		hs->live->live_prev = job;
	hs->live = job;
	hs->jobs++;
	http_call_init(&job->call);
	job->call.method = method;
	job->call.path = xstrdup(path);
	job->query = query != NULL ? xstrdup(query) : NULL;
	job->call.body = body;
	job->call.body_len = len;
	job->call.host = host_of(evhttp_request_get_host(req));
	job->call.peer_ip = xstrdup(c->ip);
	job->call.tls = front->tls;
	job->call.cfg = hs->cfg;
	copy_headers(job, req);
	return job;
}

static void answer_plain(struct evhttp_request *req, int status, const char *code, const char *message,
			 const char *allow)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	json_t *e = json_pack("{s:{s:s, s:s, s:n}}", "error", "code", code, "message", message, "field");
	char *text = json_dumps(e, JSON_COMPACT);
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(oh, "Content-Type", "application/json");
	evhttp_add_header(oh, "Cache-Control", "no-store");
	if (allow != NULL)
		evhttp_add_header(oh, "Allow", allow);
	if (status == 503)
		evhttp_add_header(oh, "Connection", "close");
	evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, status, reason_phrase(status), body);
	evbuffer_free(body);
	free(text);
	json_decref(e);
}

/* 404 or 405 (with Allow) when no route takes method + path. */
static bool route_request(struct evhttp_request *req, unsigned method, const char *path,
			  const struct http_route **route_r)
{
	unsigned allowed;
	char allow[64] = "", msg[300];

	if (http_router_find(method, path, route_r, &allowed))
		return true;
	if (allowed == 0) {
		snprintf(msg, sizeof(msg), "there is no resource at %.200s", path);
		answer_plain(req, 404, "not_found", msg, NULL);
		return false;
	}
	for (unsigned m = HTTP_GET; m <= HTTP_PATCH; m <<= 1)
		if (allowed & m)
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
				 http_method_name(m));
	snprintf(msg, sizeof(msg), "%.200s does not take %s; it takes %s", path,
		 method ? http_method_name(method) : "this method", allow);
	answer_plain(req, 405, "method_not_allowed", msg, allow);
	return false;
}

static bool request_acceptable(struct http_server *hs, struct http_conn *c, struct evhttp_request *req)
{
	if (c == NULL) {
		answer_plain(req, 503, "internal", "connection not tracked", NULL);
		return false;
	}
	if (!c->hooked && !conn_first_request(hs, c, req)) {
		log_info("http event=refused ip=%s reason=too-many-connections-from-ip limit=%u", c->ip,
			 hs->cfg->max_connections_per_ip);
		answer_plain(req, 503, "too_many_connections", "too many connections from your address", NULL);
		return false;
	}
	if (hs->shutting_down) {
		answer_plain(req, 503, "shutting_down", "the server is shutting down, try again later", NULL);
		return false;
	}
	return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http_front *front = arg;
	struct http_server *hs = front->hs;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	unsigned method = method_of(evhttp_request_get_command(req));
	struct http_conn *c = conn_of(hs, req);
	const struct http_route *route;

	if (!request_acceptable(hs, c, req))
		return;
	if (path == NULL || path[0] != '/') {
		answer_plain(req, 400, "invalid_path", "the request target must be an absolute path", NULL);
		return;
	}
	if (!route_request(req, method, path, &route))
		return;
	if (!(route->flags & HTTP_ROUTE_BODY_TEXT) &&
	    evbuffer_get_length(evhttp_request_get_input_buffer(req)) > HTTP_JSON_BODY_MAX_BYTES) {
		answer_plain(req, 413, "body_too_large", "the JSON body is larger than 1 MiB", NULL);
		return;
	}
	struct http_job *job = job_new(hs, front, c, req, method, path, evhttp_uri_get_query(uri));
	job->route = route;
	if (route->raw == http_session_login)
		login_start(job);
	else
		http_workers_submit(hs->workers, job);
}

/* ---- the server ----------------------------------------------------------------------------- */

static struct evhttp *front_new(struct http_server *hs, struct http_front *front, bool tls)
{
	struct evhttp *eh = evhttp_new(hs->base);

	front->hs = hs;
	front->tls = tls;
	front->eh = eh;
	evhttp_set_max_headers_size(eh, HTTP_HEADERS_MAX_BYTES);
	evhttp_set_max_body_size(eh, HTTP_BODY_MAX_BYTES);
	evhttp_set_timeout(eh, HTTP_TIMEOUT_S);
	/* any method reaches us, so that an unknown one gets our 405 with Allow, not evhttp's 501 */
	evhttp_set_allowed_methods(eh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					       EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_bevcb(eh, on_new_conn, front);
	evhttp_set_gencb(eh, on_request, front);
	return eh;
}

struct http_server *http_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg,
				    void (*queue_kick)(void *arg), void *queue_arg, const char **errstr_r)
{
	struct http_server *hs = xcalloc(1, sizeof(*hs));
	struct timeval tv = { 1, 0 };

	hs->base = base;
	hs->srv = srv;
	hs->store = store;
	hs->auth = auth;
	hs->cfg = cfg;
	hs->queue_kick = queue_kick;
	hs->queue_arg = queue_arg;
	front_new(hs, &hs->fronts[0], false);
	front_new(hs, &hs->fronts[1], true);
	hs->workers = http_workers_new(base, cfg->data_dir, HTTP_WORKER_THREADS, job_done, hs, errstr_r);
	if (hs->workers == NULL) {
		http_server_free(hs);
		return NULL;
	}
	hs->sweep = event_new(base, -1, EV_PERSIST, on_sweep, hs);
	event_add(hs->sweep, &tv);
	return hs;
}

static int bind_one(struct http_server *hs, const struct listen_cfg *lc, const char **errstr_r)
{
	static char err[400];
	struct http_front *front = &hs->fronts[lc->service == LISTEN_HTTPS];
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, lc->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(lc->port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, lc->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(lc->port);
		len = sizeof(*sin6);
	} else {
		snprintf(err, sizeof(err), "listen %s: %s is not a numeric address", config_service_name(lc->service),
			 lc->host);
		*errstr_r = err;
		return -1;
	}
	if (front->tls && server_tls_ctx(hs->srv) == NULL) {
		*errstr_r = "listen https needs a certificate: add a tls { certificate ...; key ... } block";
		return -1;
	}
	struct evconnlistener *l = evconnlistener_new_bind(
		hs->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 511,
		(struct sockaddr *)&ss, (int)len);
	if (l == NULL) {
		snprintf(err, sizeof(err), "cannot listen on %s port %u for %s: %s", lc->host, lc->port,
			 config_service_name(lc->service), strerror(errno));
		*errstr_r = err;
		return -1;
	}
	front->bound[front->nbound++] = evhttp_bind_listener(front->eh, l);
	log_info("server event=listening service=%s address=%s port=%u tls=%s", config_service_name(lc->service),
		 lc->host, lc->port, front->tls ? "implicit" : "no");
	return 0;
}

int http_server_listen(struct http_server *hs, const char **errstr_r)
{
	for (size_t i = 0; i < hs->cfg->listen_count; i++) {
		const struct listen_cfg *lc = &hs->cfg->listen[i];
		if (lc->service != LISTEN_HTTP && lc->service != LISTEN_HTTPS)
			continue;
		if (bind_one(hs, lc, errstr_r) < 0)
			return -1;
	}
	return 0;
}

void http_server_set_config(struct http_server *hs, const struct config *cfg)
{
	hs->cfg = cfg;
}

void http_server_shutdown(struct http_server *hs)
{
	hs->shutting_down = true;
	for (size_t f = 0; f < 2; f++) {
		for (size_t i = 0; i < hs->fronts[f].nbound; i++)
			evhttp_del_accept_socket(hs->fronts[f].eh, hs->fronts[f].bound[i]);
		hs->fronts[f].nbound = 0;
	}
}

size_t http_server_request_count(const struct http_server *hs)
{
	return hs->jobs;
}

void http_server_free(struct http_server *hs)
{
	/* logins waiting for the auth service: their callbacks must not run */
	for (struct http_job *j = hs->live, *next; j != NULL; j = next) {
		next = j->live_next;
		if (j->auth != NULL) {
			auth_req_cancel(j->auth);
			job_free(j);
		}
	}
	if (hs->workers != NULL)
		http_workers_free(hs->workers); /* answers what is left */
	while (hs->submits != NULL) {
		struct http_submit *sub = hs->submits;
		hs->submits = sub->next;
		store_req_cancel(sub->req); /* the delivery still completes; nobody is told */
		if (--sub->job->outbox_pending == 0)
			job_free(sub->job); /* evhttp frees its request below */
		free(sub);
	}
	for (size_t f = 0; f < 2; f++)
		if (hs->fronts[f].eh != NULL)
			evhttp_free(hs->fronts[f].eh);
	sweep(hs, true);
	if (hs->sweep != NULL)
		event_free(hs->sweep);
	free(hs);
}
