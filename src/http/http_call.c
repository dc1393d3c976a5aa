/*
 * http_call: a request as a worker thread sees it, and its answer.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

void http_call_init(struct http_call *call)
{
	memset(call, 0, sizeof(*call));
	call->status = 204;
	call->path = "";
	call->body = "";
	call->host = "";
	call->peer_ip = "";
	/* an answer is bounded too: a listing that would not fit is a bug in its paging */
	buf_init(&call->out, 64u * 1024 * 1024);
}

void http_call_clear(struct http_call *call)
{
	buf_free(&call->out);
	http_headers_free(&call->headers_out);
	http_headers_free(&call->headers_in);
	if (call->params != NULL)
		json_decref(call->params);
	call->params = NULL;
	manage_ctx_clear(&call->ctx);
}

void http_header_add(struct http_header **list, const char *name, size_t name_len, const char *value,
		     size_t value_len)
{
	struct http_header *h = xcalloc(1, sizeof(*h)), **tail = list;

	h->name = xstrndup(name, name_len);
	h->value = xstrndup(value, value_len);
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = h;
}

void http_headers_free(struct http_header **list)
{
	struct http_header *h, *next;

	for (h = *list; h != NULL; h = next) {
		next = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
	*list = NULL;
}

const char *http_call_header(const struct http_call *call, const char *name)
{
	for (const struct http_header *h = call->headers_in; h != NULL; h = h->next)
		if (strcasecmp(h->name, name) == 0)
			return h->value;
	return "";
}

const char *http_call_param(const struct http_call *call, const char *name)
{
	json_t *v = call->params != NULL ? json_object_get(call->params, name) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

void http_call_reply(struct http_call *call, int status, const char *content_type, const void *data, size_t len)
{
	call->status = status;
	snprintf(call->content_type, sizeof(call->content_type), "%s", content_type != NULL ? content_type : "");
	buf_reset(&call->out);
	if (len > 0 && buf_append(&call->out, data, len) < 0) {
		log_error("http event=answer-too-large path=%s bytes=%zu", call->path, len);
		http_call_fail(call, 500, "answer_too_large", "the answer is too large to send", NULL);
	}
}

static int dump_cb(const char *p, size_t len, void *arg)
{
	return buf_append(arg, p, len);
}

void http_call_json(struct http_call *call, int status, json_t *value)
{
	call->status = status;
	snprintf(call->content_type, sizeof(call->content_type), "application/json");
	buf_reset(&call->out);
	if (json_dump_callback(value, dump_cb, &call->out, JSON_COMPACT | JSON_ENCODE_ANY) < 0) {
		log_error("http event=answer-too-large path=%s", call->path);
		buf_reset(&call->out);
		json_decref(value);
		http_call_fail(call, 500, "answer_too_large", "the answer is too large to send", NULL);
		return;
	}
	json_decref(value);
}

void http_call_fail(struct http_call *call, int status, const char *code, const char *message, const char *field)
{
	json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);

	json_object_set_new(e, "field", field != NULL && field[0] != '\0' ? json_string(field) : json_null());
	http_call_json(call, status, json_pack("{s:o}", "error", e));
}

void http_call_error(struct http_call *call, const struct manage_error *err)
{
	http_call_fail(call, manage_status_http(err->status), err->code[0] ? err->code : "error", err->message,
		       err->field);
}

void http_call_add_header(struct http_call *call, const char *name, const char *value)
{
	/* A CR or LF would split the answer (header injection): dropped, never sent. */
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL) {
		log_error("http event=header-refused name=%.40s path=%s reason=\"CR or LF in a header\"", name,
			  call->path);
		return;
	}
	http_header_add(&call->headers_out, name, strlen(name), value, strlen(value));
}
