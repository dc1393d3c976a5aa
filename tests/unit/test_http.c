/* Unit tests for src/http's pure parts: path matching, percent-decoding, routing, cookies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/http_private.h"

static void test_match_table(void **state)
{
	static const struct {
		const char *pattern, *path;
		int literals;
	} cases[] = {
		{ "/api/v1/me", "/api/v1/me", 3 },
		{ "/api/v1/me", "/api/v1/me/", -1 },
		{ "/api/v1/me", "/api/v1/m", -1 },
		{ "/api/v1/me", "/api/v1/me/password", -1 },
		{ "/api/v1/addresses/{address}", "/api/v1/addresses/a@b.test", 3 },
		{ "/api/v1/addresses/{address}", "/api/v1/addresses/", -1 },   /* empty parameter */
		{ "/api/v1/addresses/{address}", "/api/v1/addresses", -1 },
		{ "/api/v1/addresses/import", "/api/v1/addresses/import", 4 },
		{ "/api/v1/addresses/{address}/access/{login}", "/api/v1/addresses/x@y/access/ann", 4 },
		{ "/api/v1/addresses/{address}", "/api/v1/addresses/a%40b.test", 3 },
		{ "/api/v1/addresses/{address}", "/api/v1/addresses/a%2", -1 },  /* truncated escape */
		{ "/api/v1/addresses/{address}", "/api/v1/addresses/a%zzb", -1 },/* not hex */
		{ "/api/v1/addresses/{address}", "/api/v1/addresses/a%00b", -1 },/* NUL */
		{ "/api/%76%31/me", "/api/v1/me", -1 },                        /* patterns are literal */
		{ "/api/v1/me", "/api/%76%31/me", 3 },                         /* paths are decoded */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = http_route_match(cases[i].pattern, cases[i].path, NULL);
		if (got != cases[i].literals)
			fail_msg("%s against %s: %d, expected %d", cases[i].path, cases[i].pattern, got,
				 cases[i].literals);
	}
}

static void test_match_params_decoded_per_segment(void **state)
{
	json_t *params = json_object();

	(void)state;
	assert_int_equal(http_route_match("/api/v1/addresses/{address}/access/{login}",
					  "/api/v1/addresses/a%40b.test/access/x%2Fy", params), 4);
	assert_string_equal(json_string_value(json_object_get(params, "address")), "a@b.test");
	/* an encoded slash stays inside its segment */
	assert_string_equal(json_string_value(json_object_get(params, "login")), "x/y");
	json_decref(params);
}

static void test_router(void **state)
{
	const struct http_route *r;
	unsigned allowed;

	(void)state;
	assert_int_equal(http_router_find(HTTP_POST, "/api/v1/addresses/import", &r, &allowed), 1);
	assert_string_equal(r->op, "address.import");
	assert_int_equal(http_router_find(HTTP_GET, "/api/v1/addresses/import", &r, &allowed), 1);
	assert_string_equal(r->op, "address.get"); /* GET of an address called "import" */
	assert_int_equal(http_router_find(HTTP_PATCH, "/api/v1/tokens", &r, &allowed), 0);
	assert_int_equal(allowed, HTTP_GET | HTTP_POST);
	assert_int_equal(http_router_find(HTTP_GET, "/api/v1/nothing", &r, &allowed), 0);
	assert_int_equal(allowed, 0);
	assert_int_equal(http_router_find(HTTP_DELETE, "/api/v1/invitations/7", &r, &allowed), 1);
	assert_string_equal(r->op, "invitation.revoke");
	assert_int_equal(http_router_find(HTTP_GET, "/api/v1/invitations/abc", &r, &allowed), 1);
	assert_string_equal(r->op, "invitation.get");
	assert_int_equal(http_router_find(HTTP_POST, "/api/v1/session", &r, &allowed), 1);
	assert_true(r->raw == http_session_login);
}

static void every_route_wellformed(const struct http_route *r, void *arg)
{
	(void)arg;
	if (r->pattern[0] != '/' || (r->op == NULL) == (r->raw == NULL))
		fail_msg("route %s: a path and exactly one of op and raw", r->pattern);
	if ((r->flags & HTTP_ROUTE_BODY_TEXT) && r->body_param == NULL)
		fail_msg("route %s: a text body needs its parameter name", r->pattern);
	(*(size_t *)arg)++;
}

static void test_route_table_wellformed(void **state)
{
	size_t n = 0;

	(void)state;
	http_router_foreach(every_route_wellformed, &n);
	assert_true(n >= 50);
}

struct op_search {
	const char *name;
	bool found;
};

static void route_has_op(const struct http_route *r, void *arg)
{
	struct op_search *s = arg;

	s->found |= r->op != NULL && strcmp(r->op, s->name) == 0;
}

static void op_has_route(const struct manage_op *op, void *arg)
{
	struct op_search s = { op->name, false };

	(void)arg;
	http_router_foreach(route_has_op, &s);
	if (!s.found)
		fail_msg("operation %s has no HTTP route", op->name);
}

/* Every operation of the service layer is reachable over the API. */
static void test_every_op_routed(void **state)
{
	(void)state;
	manage_op_foreach(op_has_route, NULL);
}

static void test_percent_decode(void **state)
{
	char *s;

	(void)state;
	s = http_percent_decode("a%41%7e%7E", 10);
	assert_string_equal(s, "aA~~");
	free(s);
	assert_null(http_percent_decode("%4", 2));
	assert_null(http_percent_decode("%", 1));
	assert_null(http_percent_decode("%g1", 3));
	s = http_percent_decode("", 0);
	assert_string_equal(s, "");
	free(s);
}

static void test_cookie_value(void **state)
{
	char *v;

	(void)state;
	v = http_cookie_value("a=1; hermod_session=abc; b=2", "hermod_session");
	assert_string_equal(v, "abc");
	free(v);
	v = http_cookie_value("hermod_session=xyz", "hermod_session");
	assert_string_equal(v, "xyz");
	free(v);
	/* a prefix of the name is another cookie */
	assert_null(http_cookie_value("xhermod_session=1; hermod_sessionx=2", "hermod_session"));
	assert_null(http_cookie_value("", "hermod_session"));
	assert_null(http_cookie_value(";;;", "hermod_session"));
	v = http_cookie_value("hermod_session=", "hermod_session");
	assert_null(v); /* an empty value is no session */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_match_params_decoded_per_segment),
		cmocka_unit_test(test_router),
		cmocka_unit_test(test_route_table_wellformed),
		cmocka_unit_test(test_every_op_routed),
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_cookie_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
