/*
 * http_worker: the HTTP server's worker threads, and what a job does there.
 *
 * Operations hash passwords and run SQL, so they never run on the loop.
 * Each thread owns a struct store (its own SQLite connection, like the
 * command line: SQLite serialises writers, segment files are locked per
 * writer). Finished jobs go to a done list and one byte on a pipe wakes the
 * loop, which writes the answers (the pattern of src/auth).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store.h"

#define HTTP_WORKERS_MAX 8
/* Query values this long or longer stay strings (int64 has at most 19 digits). */
#define HTTP_QUERY_INT_DIGITS_MAX 18

struct http_workers {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct http_job *queue_head, *queue_tail; /* under mu */
	struct http_job *done_head, *done_tail;   /* under mu */
	bool stopping;                            /* under mu */
	pthread_t threads[HTTP_WORKERS_MAX];
	struct store *stores[HTTP_WORKERS_MAX];
	unsigned nthreads;
	int wake_r, wake_w;
	struct event *wake_ev;
	void (*done)(struct http_job *job, void *arg);
	void *done_arg;
};

struct worker_arg {
	struct http_workers *w;
	struct store *store;
};

/* ---- parameters ---------------------------------------------------------------- */

/*
 * A query value as JSON: the operations take numbers and booleans
 * (?limit=50, ?dry_run=true) as JSON would give them; everything else is a
 * string. Path parameters are always strings.
 */
static json_t *query_value(const char *v)
{
	size_t n = strlen(v), digits = strspn(v + (v[0] == '-'), "0123456789");

	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		return json_boolean(v[0] == 't');
	if (digits > 0 && digits <= HTTP_QUERY_INT_DIGITS_MAX && digits + (v[0] == '-') == n)
		return json_integer(strtoll(v, NULL, 10));
	return json_string(v);
}

int http_query_parse(const char *query, json_t *params)
{
	const char *p = query;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, "&"), klen = strcspn(p, "=&");
		char *pair = xstrndup(p, len);
		for (char *c = pair; *c; c++)
			if (*c == '+')
				*c = ' ';
		char *key = http_percent_decode(pair, klen < len ? klen : len);
		char *val = klen < len ? http_percent_decode(pair + klen + 1, len - klen - 1) : xstrdup("");
		free(pair);
		json_t *jv = val != NULL ? query_value(val) : NULL;
		if (key == NULL || jv == NULL) {
			free(key);
			free(val);
			json_decref(jv);
			return -1;
		}
		if (key[0] != '\0')
			json_object_set_new(params, key, jv);
		else
			json_decref(jv);
		free(key);
		free(val);
		p += len;
		p += *p == '&';
	}
	return 0;
}

/* The query into params; -1 with the answer filled. */
static int parse_query(struct http_call *call, const char *query, json_t *params)
{
	if (http_query_parse(query, params) == 0)
		return 0;
	http_call_fail(call, 400, "invalid_query", "the query string is not valid percent-encoded UTF-8", NULL);
	return -1;
}

static bool content_type_is_json(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* The body as the params object (JSON routes) or as one string parameter. -1 with the answer filled. */
static int body_params(struct http_job *job, json_t **params_r)
{
	struct http_call *call = &job->call;
	json_error_t jerr;
	char msg[256];

	if (job->route->flags & HTTP_ROUTE_BODY_TEXT) {
		json_t *text = json_stringn(call->body, call->body_len);
		if (text == NULL) {
			http_call_fail(call, 400, "invalid_body", "the body is not UTF-8 text", NULL);
			return -1;
		}
		*params_r = json_object();
		json_object_set_new(*params_r, job->route->body_param, text);
		return 0;
	}
	if (call->body_len == 0) {
		*params_r = json_object();
		return 0;
	}
	if (!content_type_is_json(http_call_header(call, "Content-Type"))) {
		http_call_fail(call, 415, "unsupported_media_type",
			       "the body must be JSON, sent with Content-Type: application/json", NULL);
		return -1;
	}
	*params_r = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (*params_r == NULL) {
		snprintf(msg, sizeof(msg), "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
			 jerr.column);
		http_call_fail(call, 400, "invalid_json", msg, NULL);
		return -1;
	}
	if (!json_is_object(*params_r)) {
		json_decref(*params_r);
		*params_r = NULL;
		http_call_fail(call, 400, "invalid_json", "the body must be a JSON object", NULL);
		return -1;
	}
	return 0;
}

/* Body, then query, then path: the path names the resource and cannot be overridden. */
static int build_params(struct http_job *job, const char *query)
{
	struct http_call *call = &job->call;
	json_t *params = NULL, *q = json_object(), *path = json_object();
	int rc = -1;

	if (parse_query(call, query, q) == 0 && body_params(job, &params) == 0) {
		http_route_match(job->route->pattern, call->path, path);
		json_object_update(params, q);
		json_object_update(params, path);
		call->params = params;
		rc = 0;
	}
	json_decref(q);
	json_decref(path);
	return rc;
}

/* ---- running a job ---------------------------------------------------------------- */

static void run_op(struct http_job *job)
{
	struct http_call *call = &job->call;
	struct manage_error err;
	json_t *result = NULL;

	if (manage_call(&call->ctx, job->route->op, call->params, &result, &err) < 0) {
		if (err.status == MANAGE_INTERNAL)
			log_error("http event=op-failed op=%s error=\"%s\"", job->route->op, err.message);
		http_call_error(call, &err);
		return;
	}
	http_call_json(call, job->route->status ? job->route->status : 200, result);
}

/* One outbox message: its body spooled, its recipients split into hosted ones and the rest. */
static struct http_outmsg *outmsg_prepare(struct store *s, const struct config *cfg,
					  const struct manage_message *m)
{
	struct http_outmsg *o = xcalloc(1, sizeof(*o));
	const char *errstr = NULL;

	o->body = spool_new(cfg->data_dir);
	o->envelope_from = xstrdup(m->envelope_from);
	o->address_ids = xcalloc(m->rcpt_count + 1, sizeof(*o->address_ids));
	o->remote = xcalloc(m->rcpt_count + 1, sizeof(*o->remote));
	if (spool_write(o->body, m->data, m->len, &errstr) < 0)
		log_error("http event=outbox-spool-failed error=\"%s\"", errstr);
	for (size_t i = 0; i < m->rcpt_count; i++) {
		const char *rcpt = m->rcpts[i], *at = strrchr(rcpt, '@');
		struct store_rcpt r;
		char local[65];
		if (at == NULL || at == rcpt || (size_t)(at - rcpt) >= sizeof(local))
			continue;
		memcpy(local, rcpt, (size_t)(at - rcpt));
		local[at - rcpt] = '\0';
		if (store_rcpt_resolve(s, local, at + 1, m->len, cfg->plans, &r, &errstr) < 0) {
			log_error("http event=outbox-rcpt-failed rcpt=%s error=\"%s\"", rcpt, errstr);
		} else if (r.status == RCPT_OK) {
			o->address_ids[o->address_count++] = r.address_id;
		} else if (r.status == RCPT_NOT_HOSTED) {
			o->remote[o->remote_count++] = xstrdup(rcpt);
		} else {
			log_warn("http event=outbox-rcpt-refused rcpt=%s status=%d", rcpt, (int)r.status);
		}
	}
	return o;
}

static void outbox_prepare(struct http_job *job, struct store *s)
{
	struct http_outmsg **tail = &job->outbox;

	for (const struct manage_message *m = job->call.ctx.outbox; m != NULL; m = m->next) {
		*tail = outmsg_prepare(s, job->call.cfg, m);
		tail = &(*tail)->next;
	}
}

static void job_run(struct store *s, struct http_job *job)
{
	struct http_call *call = &job->call;
	struct manage_actor anonymous = { .channel = "api" };

	snprintf(anonymous.ip, sizeof(anonymous.ip), "%s", call->peer_ip);
	call->store = s;
	manage_ctx_init(&call->ctx, s, call->cfg, &anonymous);
	if (job->kind == HTTP_JOB_LOGIN) {
		http_auth_session_create(job);
		return;
	}
	if (http_auth_identify(job) < 0 || build_params(job, job->query) < 0)
		return;
	if (job->route->op != NULL)
		run_op(job);
	else
		job->route->raw(call);
	if (call->status < 400 && call->ctx.outbox != NULL)
		outbox_prepare(job, s);
}

/* ---- the threads --------------------------------------------------------------------- */

static void wake_loop(struct http_workers *w)
{
	char b = 1;

	/* A full pipe already means a wake-up is pending. */
	while (write(w->wake_w, &b, 1) < 0 && errno == EINTR)
		;
}

static void push_done(struct http_workers *w, struct http_job *job)
{
	job->next = NULL;
	if (w->done_tail != NULL)
		w->done_tail->next = job;
	else
		w->done_head = job;
	w->done_tail = job;
}

static void *worker_main(void *p)
{
	struct worker_arg wa = *(struct worker_arg *)p;
	struct http_workers *w = wa.w;

	free(p);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->queue_head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->mu);
		if (w->stopping)
			break;
		struct http_job *job = w->queue_head;
		w->queue_head = job->next;
		if (w->queue_head == NULL)
			w->queue_tail = NULL;
		pthread_mutex_unlock(&w->mu);

		job_run(wa.store, job);

		pthread_mutex_lock(&w->mu);
		push_done(w, job);
		wake_loop(w);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct http_workers *w = arg;
	struct http_job *job, *next;
	char drain[64];

	while (read(w->wake_r, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&w->mu);
	job = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; job != NULL; job = next) {
		next = job->next;
		w->done(job, w->done_arg);
	}
}

void http_workers_submit(struct http_workers *w, struct http_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->queue_tail != NULL)
		w->queue_tail->next = job;
	else
		w->queue_head = job;
	w->queue_tail = job;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

static int start_threads(struct http_workers *w, unsigned threads, const char *data_dir, const char **errstr_r)
{
	int fds[2];

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		*errstr_r = "cannot create the HTTP workers' pipe";
		return -1;
	}
	w->wake_r = fds[0];
	w->wake_w = fds[1];
	for (unsigned i = 0; i < threads; i++) {
		if (store_open(data_dir, &w->stores[i], errstr_r) < 0)
			return -1;
		struct worker_arg *wa = xmalloc(sizeof(*wa));
		wa->w = w;
		wa->store = w->stores[i];
		if (pthread_create(&w->threads[i], NULL, worker_main, wa) != 0) {
			free(wa);
			*errstr_r = "cannot start the HTTP worker threads";
			return -1;
		}
		w->nthreads++;
	}
	return 0;
}

struct http_workers *http_workers_new(struct event_base *base, const char *data_dir, unsigned threads,
				      void (*done)(struct http_job *job, void *arg), void *arg,
				      const char **errstr_r)
{
	struct http_workers *w = xcalloc(1, sizeof(*w));

	w->wake_r = w->wake_w = -1;
	w->done = done;
	w->done_arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (threads == 0)
		threads = 1;
	if (threads > HTTP_WORKERS_MAX)
		threads = HTTP_WORKERS_MAX;
	if (start_threads(w, threads, data_dir, errstr_r) < 0) {
		http_workers_free(w);
		return NULL;
	}
	w->wake_ev = event_new(base, w->wake_r, EV_READ | EV_PERSIST, on_wake, w);
	event_add(w->wake_ev, NULL);
	return w;
}

void http_workers_free(struct http_workers *w)
{
	struct http_job *job, *next;

	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	for (unsigned i = 0; i < HTTP_WORKERS_MAX; i++)
		if (w->stores[i] != NULL)
			store_close(w->stores[i]);
	/* Finished jobs first, then the ones never run (answered 503 if their client is still there). */
	on_wake(-1, 0, w);
	for (job = w->queue_head; job != NULL; job = next) {
		next = job->next;
		http_call_fail(&job->call, 503, "shutting_down", "the server is shutting down, try again later", NULL);
		w->done(job, w->done_arg);
	}
	w->queue_head = w->queue_tail = NULL;
	if (w->wake_ev != NULL)
		event_free(w->wake_ev);
	if (w->wake_r >= 0)
		close(w->wake_r);
	if (w->wake_w >= 0)
		close(w->wake_w);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cond);
	free(w);
}
