/*
 * http_private: what the files of src/http share (see http.h).
 *
 * A request goes through three places: the loop (http_server.c: limits,
 * routing, copying the request into a job), a worker thread
 * (http_worker.c: credentials, parameters, the operation or raw handler,
 * the outbox prepared for delivery) and the loop again (the answer is
 * written, the outbox handed to store_async_submit). A job never touches
 * evhttp off the loop, and the loop never touches the store.
 */
#ifndef HERMOD_HTTP_HTTP_PRIVATE_H
#define HERMOD_HTTP_HTTP_PRIVATE_H

#include <stddef.h>

#include <event2/http.h>

#include "http/http.h"
#include "store/store_web.h"

#define HTTP_WORKER_THREADS 2
#define HTTP_HEADERS_MAX_BYTES (16 * 1024)
/* The largest body: a CSV import of some 10,000+ addresses. */
#define HTTP_BODY_MAX_BYTES (8 * 1024 * 1024)
/* JSON bodies of ordinary operations are small; a bigger one is refused (413) before it is parsed. */
#define HTTP_JSON_BODY_MAX_BYTES (1024 * 1024)
#define HTTP_TIMEOUT_S 30
#define HTTP_SESSION_COOKIE "hermod_session"
#define HTTP_SESSION_LIFETIME_S (12 * 3600)
#define HTTP_TOKEN_BYTES 32

struct http_header {
	struct http_header *next;
	char *name;
	char *value;
};

struct http_conn;

enum http_job_kind {
	HTTP_JOB_ROUTE, /* an op or raw route */
	HTTP_JOB_LOGIN, /* the account's password was checked on the loop; create the session */
};

/* Remote and local recipients of one outbox message, resolved on the worker. */
struct http_outmsg {
	struct http_outmsg *next;
	struct spool *body;
	int64_t *address_ids;
	size_t address_count;
	char *envelope_from;
	char **remote;
	size_t remote_count;
};

struct http_job {
	struct http_job *next;         /* in the worker queue or the done list */
	struct http_job *conn_next;    /* in its connection's pending list */
	struct http_server *hs;
	struct http_conn *conn;        /* NULL once the connection went away */
	struct evhttp_request *req;    /* loop only; NULL once the connection went away */
	struct auth_req *auth;         /* a login waiting for its password check */
	enum http_job_kind kind;
	const struct http_route *route;
	struct http_job *live_prev, *live_next; /* every job the server holds */
	char *query;                   /* the raw query string, or NULL */
	/* credentials as sent */
	char *cookie;                  /* the session token, or NULL */
	char *bearer;                  /* the API token, or NULL */
	/* a checked login (HTTP_JOB_LOGIN) */
	int64_t login_account_id;
	char login[320];
	struct http_call call;
	struct http_outmsg *outbox;    /* prepared by the worker, sent by the loop */
	unsigned outbox_pending;       /* outbox messages not durable yet: the answer waits */
	bool outbox_failed;            /* one of them could not be stored */
	bool close;                    /* answer with Connection: close */
};

/* The job a call belongs to (raw handlers of src/http reach their job's credentials). */
#define HTTP_JOB_OF(c) ((struct http_job *)((char *)(c) - offsetof(struct http_job, call)))

/* ---- http_router.c ---- */

/*
 * The route for method + path: the route (1), or 0 with *allowed_r the
 * methods of the routes whose pattern matches (0: no route at all: 404;
 * otherwise 405).
 */
int http_router_find(unsigned method, const char *path, const struct http_route **route_r, unsigned *allowed_r);
/* Calls fn for every route, in table order. */
void http_router_foreach(void (*fn)(const struct http_route *r, void *arg), void *arg);
const char *http_method_name(unsigned method);
/* Percent-decodes [p, p+len) into a new string; NULL when malformed or it holds a NUL. */
char *http_percent_decode(const char *p, size_t len);
/*
 * "a=1&b=x%20y" into params ('+' is a space, as HTML forms send it;
 * integers and true/false typed as JSON). -1 on invalid percent-encoding
 * or UTF-8 (params may hold the pairs before it).
 */
int http_query_parse(const char *query, json_t *params);

/* ---- http_call.c ---- */

void http_call_init(struct http_call *call);
void http_call_clear(struct http_call *call);
/* The JSON error body {"error": {...}} for a status (no manage_error at hand). */
void http_call_fail(struct http_call *call, int status, const char *code, const char *message, const char *field);
/* Adds a header to a list (request or response). */
void http_header_add(struct http_header **list, const char *name, size_t name_len, const char *value,
		     size_t value_len);
void http_headers_free(struct http_header **list);

/* ---- http_worker.c ---- */

struct http_workers;
struct http_workers *http_workers_new(struct event_base *base, const char *data_dir, unsigned threads,
				      void (*done)(struct http_job *job, void *arg), void *arg,
				      const char **errstr_r);
/* Queues a job; done(job) runs on the loop when it is finished. */
void http_workers_submit(struct http_workers *w, struct http_job *job);
/* Stops the threads (a running job finishes); jobs not run yet are given to done() unrun with status 503. */
void http_workers_free(struct http_workers *w);

/* ---- http_auth.c (worker side) ---- */

/*
 * Sets call->ctx.actor from the job's cookie or bearer token, and refuses
 * (fills the response, returns -1) a bad token, or a state-changing request
 * authenticated by cookie without the session's X-CSRF-Token.
 */
int http_auth_identify(struct http_job *job);
/* Creates the web session of a checked login and answers it (201 with the cookie). */
void http_auth_session_create(struct http_job *job);
http_raw_fn http_session_login; /* marker: the route the loop treats as a login */
http_raw_fn http_session_logout;
http_raw_fn http_tokens_create;
http_raw_fn http_tokens_list;
http_raw_fn http_tokens_revoke;
/* The cookie's value from a Cookie header (new string), or NULL. */
char *http_cookie_value(const char *header, const char *name);

/* ---- http_openapi.c ---- */

http_raw_fn http_openapi_serve;
/* The OpenAPI 3.0 document of every documented route (new reference). */
json_t *http_openapi_document(const struct config *cfg);

#endif
