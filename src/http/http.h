/*
 * http: the Manager's HTTP server (the JSON API under /api/v1, and the few
 * plain endpoints beside it: device autoconfiguration, the settings page).
 *
 * It runs on the daemon's event loop with libevent's evhttp, bounded
 * (header and body sizes, timeouts, connection limits), plain for
 * `listen http` and TLS with the daemon's certificates for `listen https`.
 *
 * The layer is thin. A request is matched against the route table; a route
 * names either a service-layer operation (src/manage: the path parameters,
 * the query and the JSON body are merged into its params object, the result
 * is the JSON answer) or a raw handler for what is not JSON (XML, a page, a
 * profile). Either way the work runs on one of the HTTP worker threads,
 * each with its own struct store, never on the loop; the loop only parses,
 * routes and writes answers.
 *
 * Adding routes: a part that has raw handlers keeps them in its own file
 * (src/http/http_<part>.c) as a table ending with { 0 }, declares it below
 * next to http_api_routes, and adds one line to route_tables[] in
 * http_router.c once its file compiles. Operation routes all live in
 * http_api_routes (http_router.c).
 */
#ifndef HERMOD_HTTP_HTTP_H
#define HERMOD_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "auth/auth.h"
#include "config/config.h"
#include "lib/buf.h"
#include "manage/manage.h"
#include "net/server.h"
#include "store/store_async.h"

/* ---- the server (daemon.c) ----------------------------------------------------- */

struct http_server;

/*
 * Creates the server for every `listen http` / `listen https` line of cfg
 * (nothing is bound yet). srv gives the TLS context for https; store is
 * where outbox messages are delivered; auth checks account passwords
 * (with its throttling); queue_kick(queue_arg) is called after remote mail
 * was queued. Starts the worker threads (each opens its own store under
 * cfg->data_dir). NULL with *errstr_r on failure.
 */
struct http_server *http_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg,
				    void (*queue_kick)(void *arg), void *queue_arg, const char **errstr_r);
/* Binds the listeners (after server_listen). -1 with *errstr_r (start-up error). */
int http_server_listen(struct http_server *hs, const char **errstr_r);
/* Requests from now on use cfg (limits, auth settings); running ones keep theirs. */
void http_server_set_config(struct http_server *hs, const struct config *cfg);
/* Stops accepting; requests in progress still get their answers. */
void http_server_shutdown(struct http_server *hs);
/* Requests accepted and not answered yet (the shutdown wait). */
size_t http_server_request_count(const struct http_server *hs);
/* Stops the workers (running operations finish first) and frees everything. */
void http_server_free(struct http_server *hs);

/* ---- routes ---------------------------------------------------------------------- */

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_POST = 1 << 1,
	HTTP_PUT = 1 << 2,
	HTTP_DELETE = 1 << 3,
	HTTP_PATCH = 1 << 4,
};

/* One request on a worker thread; see below. */
struct http_call;
struct http_header;
typedef void http_raw_fn(struct http_call *call);

enum http_route_flags {
	/*
	 * The body is not JSON: it is passed as a string parameter named
	 * body_param (the CSV of an import). Its media type is not checked.
	 */
	HTTP_ROUTE_BODY_TEXT = 1 << 0,
	/*
	 * No CSRF check even when authenticated by cookie (only for routes
	 * that change nothing a forged request could abuse).
	 */
	HTTP_ROUTE_NO_CSRF = 1 << 1,
	/* Left out of the OpenAPI document (pages, device profiles). */
	HTTP_ROUTE_UNDOCUMENTED = 1 << 2,
};

struct http_route {
	unsigned method;          /* one enum http_method */
	/*
	 * "/api/v1/addresses/{address}": literal segments, and {name}
	 * segments matching one non-empty segment, percent-decoded, passed as
	 * the string parameter name. When two patterns match, the one with
	 * more literal segments wins (/addresses/import over /addresses/{address}).
	 */
	const char *pattern;
	const char *op;           /* a manage operation... */
	http_raw_fn *raw;         /* ...or a raw handler (exactly one of the two) */
	int status;               /* success status of an op route: 0 means 200; 201 for creations */
	unsigned flags;           /* enum http_route_flags */
	const char *body_param;   /* HTTP_ROUTE_BODY_TEXT: the parameter that receives the body */
	const char *summary;      /* raw routes: one line for the OpenAPI document (ops have theirs) */
	const char *content_type; /* raw routes: what they answer, for the document ("application/xml") */
};

/* The API's operation routes (http_router.c); other parts' raw route tables go here too. */
extern const struct http_route http_api_routes[];
/* Device autoconfiguration and the settings page (http_autoconfig.c). */
extern const struct http_route http_autoconfig_routes[];

/* ---- a request on a worker thread (raw handlers) ------------------------------ */

/*
 * Everything a raw handler may read is copied out of evhttp before the call
 * goes to the worker; the handler answers by filling the response with the
 * functions below (the default is an empty 204). A handler that answers
 * nothing a test can check is a bug: every handler answers.
 */
struct http_call {
	/* the request */
	unsigned method;           /* enum http_method */
	const char *path;          /* the path as sent (percent-encoded), without the query */
	json_t *params;            /* path parameters + query (+ the JSON body for op routes) */
	const char *body;          /* raw body, NUL-terminated (may contain NULs); "" when none */
	size_t body_len;
	const char *host;          /* Host header without the port, lower case; "" when absent */
	const char *peer_ip;
	bool tls;                  /* arrived over https */
	const struct config *cfg;
	struct store *store;       /* the worker's own connection */
	/*
	 * ctx.actor is the caller (account_id 0 when anonymous). Operations a
	 * raw handler runs go through manage_call(&call->ctx, ...); the outbox
	 * is sent after the handler returned, when its status is below 400.
	 */
	struct manage_ctx ctx;

	/* the response (use the functions) */
	int status;
	char content_type[128];
	struct buf out;
	struct http_header *headers_out;
	struct http_header *headers_in;
};

/* A request header's value ("" when absent). Names are case-insensitive. */
const char *http_call_header(const struct http_call *call, const char *name);
/* A string parameter (path or query), NULL when absent or not a string. */
const char *http_call_param(const struct http_call *call, const char *name);
/* Sets the status, the Content-Type and the body (copied). */
void http_call_reply(struct http_call *call, int status, const char *content_type, const void *data, size_t len);
/* Answers JSON (takes the reference). */
void http_call_json(struct http_call *call, int status, json_t *value);
/* Answers {"error":{"code","message","field"}} with manage_status_http(err->status). */
void http_call_error(struct http_call *call, const struct manage_error *err);
/* Adds a response header (copied); one with CR or LF in it is dropped and logged. */
void http_call_add_header(struct http_call *call, const char *name, const char *value);

/* ---- helpers shared with the tests -------------------------------------------- */

/*
 * Matches path (as sent: each segment is percent-decoded on its own, so an
 * encoded "/" stays inside its segment) against pattern; on a match adds the
 * {name} segments to params (when params is not NULL) and returns the
 * number of literal segments (>= 0); -1 when it does not match.
 */
int http_route_match(const char *pattern, const char *path, json_t *params);

#endif
