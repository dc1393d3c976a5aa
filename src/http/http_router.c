/*
 * http_router: the route table of the API and the path matcher (pure).
 *
 * A path is matched segment by segment; each segment is percent-decoded on
 * its own, so "a%2Fb" stays one segment and a parameter never smuggles a
 * "/" into another route. "." and ".." are ordinary literal text here: no
 * route has them and nothing maps a path to a file.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_private.h"
#include "lib/xalloc.h"

#define CREATED 201
#define OP(m, p, name) { .method = (m), .pattern = (p), .op = (name) }
#define OP_CREATED(m, p, name) { .method = (m), .pattern = (p), .op = (name), .status = CREATED }

/* Every operation route of the API (the op owners' names from issue 5). */
const struct http_route http_api_routes[] = {
	{ .method = HTTP_POST, .pattern = "/api/v1/session", .raw = http_session_login, .status = CREATED, .flags = HTTP_ROUTE_NO_CSRF,
	  .summary = "Log in with an account's login and password: sets the session cookie, returns the CSRF token",
	  .content_type = "application/json" },
	{ .method = HTTP_DELETE, .pattern = "/api/v1/session", .raw = http_session_logout, .summary = "Log out (ends the session)",
	  .content_type = "application/json" },
	OP(HTTP_GET, "/api/v1/me", "account.me"),
	OP(HTTP_PUT, "/api/v1/me/password", "account.password"),
	{ .method = HTTP_POST, .pattern = "/api/v1/tokens", .raw = http_tokens_create, .status = CREATED,
	  .summary = "Create an API token {name, scope read|write}; the secret is shown once",
	  .content_type = "application/json" },
	{ .method = HTTP_GET, .pattern = "/api/v1/tokens", .raw = http_tokens_list, .summary = "The caller's API tokens (no secrets)",
	  .content_type = "application/json" },
	{ .method = HTTP_DELETE, .pattern = "/api/v1/tokens/{id}", .raw = http_tokens_revoke, .summary = "Revoke an API token",
	  .content_type = "application/json" },
	OP(HTTP_GET, "/api/v1/orgs", "org.list"),
	OP_CREATED(HTTP_POST, "/api/v1/orgs", "org.create"),
	OP(HTTP_GET, "/api/v1/orgs/{org}", "org.get"),
	OP(HTTP_DELETE, "/api/v1/orgs/{org}", "org.remove"),
	OP(HTTP_GET, "/api/v1/orgs/{org}/members", "member.list"),
	OP(HTTP_PUT, "/api/v1/orgs/{org}/members/{login}", "member.set"),
	OP(HTTP_DELETE, "/api/v1/orgs/{org}/members/{login}", "member.remove"),
	OP(HTTP_GET, "/api/v1/orgs/{org}/services", "service.list"),
	OP(HTTP_GET, "/api/v1/accounts", "account.list"),
	OP_CREATED(HTTP_POST, "/api/v1/accounts", "account.create"),
	OP(HTTP_DELETE, "/api/v1/accounts/{login}", "account.remove"),
	OP(HTTP_GET, "/api/v1/domains", "domain.list"),
	OP_CREATED(HTTP_POST, "/api/v1/domains", "domain.add"),
	OP(HTTP_GET, "/api/v1/domains/{domain}", "domain.get"),
	OP(HTTP_DELETE, "/api/v1/domains/{domain}", "domain.remove"),
	OP(HTTP_PUT, "/api/v1/domains/{domain}/plan", "domain.plan"),
	OP(HTTP_POST, "/api/v1/domains/{domain}/link", "domain.link"),
	OP(HTTP_POST, "/api/v1/domains/{domain}/unlink", "domain.unlink"),
	OP(HTTP_GET, "/api/v1/domains/{domain}/dns", "domain.dns"),
	OP(HTTP_POST, "/api/v1/domains/{domain}/check", "domain.check"),
	OP(HTTP_POST, "/api/v1/domains/{domain}/dkim", "domain.dkim"),
	OP(HTTP_GET, "/api/v1/addresses", "address.list"),
	OP_CREATED(HTTP_POST, "/api/v1/addresses", "address.create"),
	{ HTTP_POST, "/api/v1/addresses/import", .op = "address.import", .flags = HTTP_ROUTE_BODY_TEXT,
	  .body_param = "csv" },
	OP(HTTP_GET, "/api/v1/addresses/{address}", "address.get"),
	OP(HTTP_DELETE, "/api/v1/addresses/{address}", "address.remove"),
	OP(HTTP_PUT, "/api/v1/addresses/{address}/password", "address.password"),
	OP(HTTP_PUT, "/api/v1/addresses/{address}/quota", "address.quota"),
	OP(HTTP_GET, "/api/v1/addresses/{address}/access", "access.list"),
	OP(HTTP_PUT, "/api/v1/addresses/{address}/access/{login}", "access.grant"),
	OP(HTTP_DELETE, "/api/v1/addresses/{address}/access/{login}", "access.revoke"),
	OP(HTTP_GET, "/api/v1/addresses/{address}/history", "history.list"),
	OP(HTTP_GET, "/api/v1/addresses/{address}/links", "sharing.list"),
	OP_CREATED(HTTP_POST, "/api/v1/addresses/{address}/links", "sharing.create"),
	OP(HTTP_GET, "/api/v1/addresses/{address}/autoreply", "autoreply.get"),
	OP(HTTP_PUT, "/api/v1/addresses/{address}/autoreply", "autoreply.set"),
	OP(HTTP_GET, "/api/v1/addresses/{address}/targets", "alias.targets.get"),
	OP(HTTP_PUT, "/api/v1/addresses/{address}/targets", "alias.targets.set"),
	OP(HTTP_GET, "/api/v1/addresses/{address}/app-passwords", "app_password.list"),
	OP_CREATED(HTTP_POST, "/api/v1/addresses/{address}/app-passwords", "app_password.create"),
	OP(HTTP_DELETE, "/api/v1/addresses/{address}/app-passwords/{name}", "app_password.revoke"),
	OP(HTTP_GET, "/api/v1/invitations", "invitation.list"),
	OP_CREATED(HTTP_POST, "/api/v1/invitations", "invitation.create"),
	OP(HTTP_DELETE, "/api/v1/invitations/{id}", "invitation.revoke"),
	OP(HTTP_GET, "/api/v1/invitations/{token}", "invitation.get"),
	OP(HTTP_POST, "/api/v1/invitations/{token}/accept", "invitation.accept"),
	OP(HTTP_DELETE, "/api/v1/links/{id}", "sharing.revoke"),
	OP(HTTP_POST, "/api/v1/links/{token}/redeem", "sharing.redeem"),
	OP(HTTP_GET, "/api/v1/confirm/{token}", "alias.confirm"),
	{ .method = HTTP_GET, .pattern = "/api/v1/openapi.json", .raw = http_openapi_serve, .summary = "This OpenAPI 3.0 document",
	  .content_type = "application/json" },
	{ 0 },
};

/* Every part's table; a part with raw routes adds its line here when its file compiles. */
static const struct http_route *const route_tables[] = {
	http_api_routes,
	http_autoconfig_routes,
	NULL,
};

const char *http_method_name(unsigned method)
{
	switch (method) {
	case HTTP_GET: return "GET";
	case HTTP_POST: return "POST";
	case HTTP_PUT: return "PUT";
	case HTTP_DELETE: return "DELETE";
	case HTTP_PATCH: return "PATCH";
	default: return "?";
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *http_percent_decode(const char *p, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(p[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(p[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0') {
			free(out);
			return NULL;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return out;
}

/* The next segment of a path or pattern at *p (after a '/'), its length; advances *p. */
static int next_segment(const char **p, const char **seg_r, size_t *len_r)
{
	if (**p != '/')
		return 0;
	(*p)++;
	*seg_r = *p;
	*len_r = strcspn(*p, "/");
	*p += *len_r;
	return 1;
}

int http_route_match(const char *pattern, const char *path, json_t *params)
{
	const char *pp = pattern, *sp = path, *pseg, *sseg;
	size_t plen, slen;
	int literals = 0;

	while (next_segment(&pp, &pseg, &plen)) {
		if (!next_segment(&sp, &sseg, &slen))
			return -1;
		char *value = http_percent_decode(sseg, slen);
		if (value == NULL)
			return -1;
		if (plen >= 2 && pseg[0] == '{' && pseg[plen - 1] == '}') {
			if (value[0] != '\0' && params != NULL) {
				char name[64];
				size_t nlen = plen - 2 < sizeof(name) - 1 ? plen - 2 : sizeof(name) - 1;
				memcpy(name, pseg + 1, nlen);
				name[nlen] = '\0';
				json_object_set_new(params, name, json_string(value));
			}
			bool empty = value[0] == '\0';
			free(value);
			if (empty)
				return -1;
			continue;
		}
		bool same = strlen(value) == plen && memcmp(value, pseg, plen) == 0;
		free(value);
		if (!same)
			return -1;
		literals++;
	}
	return *sp == '\0' ? literals : -1;
}

int http_router_find(unsigned method, const char *path, const struct http_route **route_r, unsigned *allowed_r)
{
	const struct http_route *best = NULL;
	int best_literals = -1;

	*allowed_r = 0;
	*route_r = NULL;
	for (size_t t = 0; route_tables[t] != NULL; t++) {
		for (const struct http_route *r = route_tables[t]; r->pattern != NULL; r++) {
			int literals = http_route_match(r->pattern, path, NULL);
			if (literals < 0)
				continue;
			*allowed_r |= r->method;
			if (r->method == method && literals > best_literals) {
				best = r;
				best_literals = literals;
			}
		}
	}
	*route_r = best;
	return best != NULL;
}

void http_router_foreach(void (*fn)(const struct http_route *r, void *arg), void *arg)
{
	for (size_t t = 0; route_tables[t] != NULL; t++)
		for (const struct http_route *r = route_tables[t]; r->pattern != NULL; r++)
			fn(r, arg);
}
