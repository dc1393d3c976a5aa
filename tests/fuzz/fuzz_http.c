/*
 * libFuzzer target: what src/http parses itself (evhttp parses the request
 * line and headers): the route lookup with its percent-decoded path
 * parameters, the query string, and the Cookie header. The input is split
 * at the first two NUL bytes into path, query and cookie header.
 * Invariants: a found route matches its own pattern again; every decoded
 * string is NUL-free; nothing leaks or reads out of bounds (ASan).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_private.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) ((cond) ? (void)0 : abort())

static const unsigned methods[] = { HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_PATCH };

static void fuzz_route(const char *path)
{
	const struct http_route *route;
	unsigned allowed;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (http_router_find(methods[i], path, &route, &allowed) != 1)
			continue;
		json_t *params = json_object();
		/* the route found must match its own pattern, and its parameters are clean strings */
		CHECK(http_route_match(route->pattern, path, params) >= 0);
		const char *key;
		json_t *v;
		json_object_foreach(params, key, v) {
			CHECK(json_is_string(v));
			CHECK(strlen(json_string_value(v)) == json_string_length(v));
		}
		json_decref(params);
	}
}

static void fuzz_query(const char *query)
{
	json_t *params = json_object();

	(void)http_query_parse(query, params);
	json_decref(params);
}

static void fuzz_cookie(const char *header)
{
	char *v = http_cookie_value(header, "hermod_session");

	if (v != NULL)
		CHECK(strchr(v, ';') == NULL);
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 3);
	const char *path, *query, *cookie;

	memcpy(text, data, size);
	text[size] = text[size + 1] = text[size + 2] = '\0';
	path = text;
	query = path + strlen(path) + 1;
	cookie = query <= text + size ? query + strlen(query) + 1 : text + size + 2;
	if (query > text + size)
		query = text + size + 1;
	if (cookie > text + size + 2)
		cookie = text + size + 2;
	fuzz_route(path);
	fuzz_query(query);
	fuzz_cookie(cookie);
	char *decoded = http_percent_decode(path, strlen(path));
	if (decoded != NULL)
		CHECK(strlen(decoded) <= strlen(path));
	free(decoded);
	free(text);
	return 0;
}
