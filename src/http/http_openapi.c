/*
 * http_openapi: the OpenAPI 3.0 document of the API, generated from the
 * route table and the operations' summaries, so it cannot drift from the
 * routes actually served. The error schema is exact (every error answer
 * has it); the API's own answers (session, tokens) have exact schemas; an
 * operation's result is described as a JSON value (its shape is the op's
 * own, documented by its summary).
 */
#include <stdio.h>
#include <string.h>

#include "http/http_private.h"
#include "lib/xalloc.h"

/* Query parameters of the operations that take them (the rest take none). */
static const struct {
	const char *op;
	const char *name;
	const char *type; /* "string", "integer", "boolean" */
	const char *description;
} query_params[] = {
	{ "address.list", "domain", "string", "only the addresses of this domain" },
	{ "address.list", "limit", "integer", "at most this many (a page)" },
	{ "address.list", "after", "string", "the page after this address (the last of the previous page)" },
	{ "history.list", "limit", "integer", "at most this many entries" },
	{ "history.list", "before", "integer", "entries older than this time (unix seconds)" },
	{ "address.import", "dry_run", "boolean", "check every row and report, change nothing" },
};

static json_t *ref(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "#/components/schemas/%s", name);
	return json_pack("{s:s}", "$ref", path);
}

static json_t *error_schema(void)
{
	return json_pack("{s:s, s:[s], s:b, s:{s:{s:s, s:[s,s,s], s:b, s:{s:{s:s, s:s}, s:{s:s, s:i}, s:{s:s, s:b}}}}}",
			 "type", "object", "required", "error", "additionalProperties", 0, "properties", "error",
			 "type", "object", "required", "code", "message", "field", "additionalProperties", 0,
			 "properties", "code", "type", "string", "pattern", "^[a-z][a-z0-9_]*$", "message", "type",
			 "string", "minLength", 1, "field", "type", "string", "nullable", 1);
}

static json_t *schemas(void)
{
	json_t *account = json_pack("{s:s, s:[s,s], s:{s:{s:s}, s:{s:s}}}", "type", "object", "required", "id",
				    "login", "properties", "id", "type", "integer", "login", "type", "string");
	json_t *token = json_pack("{s:s, s:[s,s,s,s], s:{s:{s:s}, s:{s:s}, s:{s:s, s:[s,s]}, s:{s:s},"
				  " s:{s:s, s:b}}}",
				  "type", "object", "required", "id", "name", "scope", "created_at", "properties", "id",
				  "type", "integer", "name", "type", "string", "scope", "type", "string", "enum", "read",
				  "write", "created_at", "type", "integer", "last_used_at", "type", "integer", "nullable", 1);
	json_t *created = json_deep_copy(token);

	json_array_append_new(json_object_get(created, "required"), json_string("token"));
	json_object_set_new(json_object_get(created, "properties"), "token",
			    json_pack("{s:s, s:s}", "type", "string", "description", "the secret, shown only here"));
	return json_pack("{s:o, s:{s:s, s:[s,s,s], s:{s:{s:s}, s:o, s:{s:s}}}, s:o, s:o, s:{s:s, s:[s],"
			 " s:{s:{s:s, s:o}}}, s:{s:s}}",
			 "Error", error_schema(), "Session", "type", "object", "required", "csrf_token", "account",
			 "expires_at", "properties", "csrf_token", "type", "string", "account", account, "expires_at",
			 "type", "integer", "Token", token, "TokenCreated", created, "TokenList", "type", "object",
			 "required", "tokens", "properties", "tokens", "type", "array", "items", ref("Token"),
			 "Result", "description", "the operation's result (a JSON object, array or null)");
}

/* The schema of a raw route's success answer, by the handler it runs. */
static const char *raw_schema(const struct http_route *r)
{
	if (r->raw == http_session_login)
		return "Session";
	if (r->raw == http_tokens_create)
		return "TokenCreated";
	if (r->raw == http_tokens_list)
		return "TokenList";
	return NULL;
}

static json_t *parameters(const struct http_route *r)
{
	json_t *list = json_array();
	const char *p = r->pattern;

	while ((p = strchr(p, '{')) != NULL) {
		const char *end = strchr(p, '}');
		if (end == NULL)
			break;
		json_array_append_new(list, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1, (size_t)(end - p - 1),
						      "in", "path", "required", 1, "schema", "type", "string"));
		p = end + 1;
	}
	for (size_t i = 0; r->op != NULL && i < sizeof(query_params) / sizeof(query_params[0]); i++)
		if (strcmp(query_params[i].op, r->op) == 0)
			json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s, s:{s:s}}", "name",
							      query_params[i].name, "in", "query", "required", 0,
							      "description", query_params[i].description, "schema",
							      "type", query_params[i].type));
	return list;
}

static json_t *responses(const struct http_route *r)
{
	int status = r->status ? r->status : 200;
	const char *schema = raw_schema(r);
	const char *ct = r->content_type != NULL ? r->content_type : "application/json";
	json_t *ok, *res;
	char code[8];

	if (r->raw == http_session_logout || r->raw == http_tokens_revoke) {
		ok = json_pack("{s:s}", "description", "done (no content)");
		status = 204;
	} else if (r->op != NULL || schema != NULL) {
		ok = json_pack("{s:s, s:{s:{s:o}}}", "description", "success", "content", "application/json",
			       "schema", ref(schema != NULL ? schema : "Result"));
	} else {
		ok = json_pack("{s:s, s:{s:{s:{}}}}", "description", "success", "content", ct, "schema");
	}
	snprintf(code, sizeof(code), "%d", status);
	res = json_pack("{s:o, s:{s:s, s:{s:{s:o}}}}", code, ok, "default", "description",
			"an error: the code is stable, the message names the cause", "content", "application/json",
			"schema", ref("Error"));
	return res;
}

static json_t *operation(const struct http_route *r)
{
	const struct manage_op *op = r->op != NULL ? manage_op_find(r->op) : NULL;
	char id[200];
	json_t *o;

	if (r->op != NULL)
		snprintf(id, sizeof(id), "%s", r->op);
	else
		snprintf(id, sizeof(id), "%s %s", http_method_name(r->method), r->pattern);
	o = json_pack("{s:s, s:s, s:o, s:o}", "operationId", id, "summary",
		      op != NULL ? op->summary : r->summary != NULL ? r->summary : r->op, "parameters", parameters(r),
		      "responses", responses(r));
	if (r->op != NULL && op == NULL)
		json_object_set_new(o, "x-hermod-available", json_false());
	if (r->flags & HTTP_ROUTE_BODY_TEXT)
		json_object_set_new(o, "requestBody",
				    json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content", "text/csv", "schema",
					      "type", "string"));
	else if (r->method != HTTP_GET)
		json_object_set_new(o, "requestBody",
				    json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 0, "content", "application/json",
					      "schema", "type", "object"));
	return o;
}

static void add_route(const struct http_route *r, void *arg)
{
	json_t *paths = arg, *item = json_object_get(paths, r->pattern);
	char method[8];

	if (r->flags & HTTP_ROUTE_UNDOCUMENTED)
		return;
	if (item == NULL) {
		item = json_object();
		json_object_set_new(paths, r->pattern, item);
	}
	snprintf(method, sizeof(method), "%s", http_method_name(r->method));
	for (char *c = method; *c; c++)
		*c = (char)(*c - 'A' + 'a');
	json_object_set_new(item, method, operation(r));
}

json_t *http_openapi_document(const struct config *cfg)
{
	json_t *paths = json_object();

	http_router_foreach(add_route, paths);
	return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:o, s:{s:{s:s, s:s, s:s}, s:{s:s, s:s}}},"
			 " s:[{s:[]}, {s:[]}, {}]}",
			 "openapi", "3.0.3", "info", "title", "hermod Manager API", "version", "1", "description",
			 "Organisations, accounts, domains, addresses, access, invitations and more. Log in with"
			 " POST /api/v1/session (cookie + X-CSRF-Token on changes) or use an API token (Bearer).",
			 "paths", paths, "components", "schemas", schemas(), "securitySchemes", "session", "type",
			 "apiKey", "in", "cookie", "name", HTTP_SESSION_COOKIE, "token", "type", "http", "scheme",
			 "bearer", "security", "session", "token");
}

void http_openapi_serve(struct http_call *call)
{
	http_call_json(call, 200, http_openapi_document(call->cfg));
}
