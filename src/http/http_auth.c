/*
 * http_auth: who is calling (a session cookie or an API token), the CSRF
 * check, and the session and token endpoints. Runs on the worker threads.
 *
 * Secrets: a session or API token is 32 bytes from libsodium's random
 * source, given to the client once as base64url; the store keeps only its
 * SHA-256, so the database opens nothing. The CSRF token is not a
 * credential (it is readable by the page), only proof that a request came
 * from a page that could read the login's answer: a forged cross-site
 * request carries the cookie but cannot know it (and SameSite=Strict
 * already keeps the cookie off cross-site requests in current browsers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "http/http_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define HTTP_CSRF_BYTES 24
#define HTTP_B64_MAX 64 /* base64url of 32 bytes is 43 characters */

/* ---- tokens -------------------------------------------------------------------------- */

static void b64url(const unsigned char *bin, size_t len, char *out, size_t out_size)
{
	ASSERT(out_size >= sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
	sodium_bin2base64(out, out_size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The stored form of a token as the client sent it: -1 when it is not 32 bytes of base64url. */
static int token_hash(const char *token, unsigned char hash[STORE_WEB_HASH_BYTES])
{
	unsigned char bin[HTTP_TOKEN_BYTES];
	size_t len = 0;

	if (strlen(token) > HTTP_B64_MAX ||
	    sodium_base642bin(bin, sizeof(bin), token, strlen(token), NULL, &len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    len != sizeof(bin))
		return -1;
	crypto_hash_sha256(hash, bin, sizeof(bin));
	sodium_memzero(bin, sizeof(bin));
	return 0;
}

/* A new secret: its base64url text for the client, its hash for the store. */
static void token_new(char text[HTTP_B64_MAX], unsigned char hash[STORE_WEB_HASH_BYTES])
{
	unsigned char bin[HTTP_TOKEN_BYTES];

	randombytes_buf(bin, sizeof(bin));
	b64url(bin, sizeof(bin), text, HTTP_B64_MAX);
	crypto_hash_sha256(hash, bin, sizeof(bin));
	sodium_memzero(bin, sizeof(bin));
}

char *http_cookie_value(const char *header, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = header;

	/* RFC 6265 section 5.4: "name=value" pairs separated by "; " */
	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t;");
		size_t len = strcspn(p, ";");
		if (len > nlen + 1 && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
			const char *v = p + nlen + 1;
			size_t vlen = len - nlen - 1;
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			return xstrndup(v, vlen);
		}
		p += len;
	}
	return NULL;
}

/* ---- identifying the caller ------------------------------------------------------------ */

static void actor_set(struct http_call *call, const struct store_web_cred *cred, bool session)
{
	struct manage_actor *a = &call->ctx.actor;

	a->session_id = session ? cred->id : 0;
	a->account_id = cred->account_id;
	snprintf(a->login, sizeof(a->login), "%s", cred->login);
	a->read_only = cred->read_only;
}

static int identify_bearer(struct http_job *job)
{
	struct http_call *call = &job->call;
	unsigned char hash[STORE_WEB_HASH_BYTES];
	struct store_web_cred cred;
	const char *errstr = NULL;
	int rc = token_hash(job->bearer, hash) < 0 ? 0
		 : store_api_token_get(call->store, hash, call->ctx.now, &cred, &errstr);

	if (rc < 0) {
		http_call_fail(call, 500, "store_error", errstr, NULL);
		return -1;
	}
	if (rc == 0) {
		http_call_fail(call, 401, "invalid_token", "this API token is not valid: unknown or revoked", NULL);
		return -1;
	}
	actor_set(call, &cred, false);
	return 0;
}

/* Constant time: the comparison must not tell an attacker how much of a guess was right. */
static bool csrf_ok(const char *sent, const char *expected)
{
	size_t n = strlen(expected);

	return n > 0 && strlen(sent) == n && sodium_memcmp(sent, expected, n) == 0;
}

static int identify_cookie(struct http_job *job)
{
	struct http_call *call = &job->call;
	unsigned char hash[STORE_WEB_HASH_BYTES];
	struct store_web_cred cred;
	const char *errstr = NULL;
	int rc = token_hash(job->cookie, hash) < 0 ? 0
		 : store_web_session_get(call->store, hash, call->ctx.now, &cred, &errstr);

	if (rc < 0) {
		http_call_fail(call, 500, "store_error", errstr, NULL);
		return -1;
	}
	if (rc == 0)
		return 0; /* an expired or unknown session: the caller is anonymous */
	if (call->method != HTTP_GET && !(job->route->flags & HTTP_ROUTE_NO_CSRF) &&
	    !csrf_ok(http_call_header(call, "X-CSRF-Token"), cred.csrf)) {
		http_call_fail(call, 403, "csrf_failed",
			       "this request changes something and needs the X-CSRF-Token header with the csrf_token"
			       " the login returned",
			       NULL);
		return -1;
	}
	actor_set(call, &cred, true);
	return 0;
}

int http_auth_identify(struct http_job *job)
{
	if (job->bearer != NULL)
		return identify_bearer(job);
	if (job->cookie != NULL)
		return identify_cookie(job);
	return 0;
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void set_cookie(struct http_call *call, const char *value, long max_age)
{
	char header[256];

	/* HttpOnly: scripts never see it; SameSite=Strict: never sent on cross-site requests */
	snprintf(header, sizeof(header), "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s",
		 HTTP_SESSION_COOKIE, value, max_age, call->tls ? "; Secure" : "");
	http_call_add_header(call, "Set-Cookie", header);
}

void http_auth_session_create(struct http_job *job)
{
	struct http_call *call = &job->call;
	unsigned char hash[STORE_WEB_HASH_BYTES], csrf_bin[HTTP_CSRF_BYTES];
	char token[HTTP_B64_MAX], csrf[HTTP_B64_MAX];
	const char *errstr = NULL;
	int64_t expires = (int64_t)call->ctx.now + HTTP_SESSION_LIFETIME_S;

	token_new(token, hash);
	randombytes_buf(csrf_bin, sizeof(csrf_bin));
	b64url(csrf_bin, sizeof(csrf_bin), csrf, sizeof(csrf));
	if (store_web_sessions_expire(call->store, call->ctx.now, &errstr) < 0)
		log_warn("http event=session-expiry-failed error=\"%s\"", errstr);
	if (store_web_session_add(call->store, hash, job->login_account_id, csrf, call->ctx.now, expires,
				  call->peer_ip, &errstr) < 0) {
		http_call_fail(call, 500, "store_error", errstr, NULL);
		return;
	}
	set_cookie(call, token, HTTP_SESSION_LIFETIME_S);
	sodium_memzero(token, sizeof(token));
	log_info("http event=session-created login=%s ip=%s", job->login, call->peer_ip);
	http_call_json(call, 201,
		       json_pack("{s:s, s:{s:I, s:s}, s:I}", "csrf_token", csrf, "account", "id",
				 (json_int_t)job->login_account_id, "login", job->login, "expires_at",
				 (json_int_t)expires));
}

void http_session_login(struct http_call *call)
{
	/* never reached: the loop checks the password first (http_server.c), then creates the session */
	http_call_fail(call, 500, "internal", "login reached the wrong path", NULL);
}

void http_session_logout(struct http_call *call)
{
	struct http_job *job = HTTP_JOB_OF(call);
	unsigned char hash[STORE_WEB_HASH_BYTES];
	const char *errstr = NULL;

	if (job->cookie == NULL || call->ctx.actor.account_id == 0) {
		http_call_fail(call, 401, "login_required", "there is no session to end: not logged in", NULL);
		return;
	}
	if (token_hash(job->cookie, hash) == 0 && store_web_session_remove(call->store, hash, &errstr) < 0) {
		http_call_fail(call, 500, "store_error", errstr, NULL);
		return;
	}
	set_cookie(call, "", 0);
	log_info("http event=session-ended login=%s ip=%s", call->ctx.actor.login, call->peer_ip);
	http_call_reply(call, 204, NULL, NULL, 0);
}

/* ---- API tokens ----------------------------------------------------------------------------- */

/* The account behind the call, able to change things: 0, or -1 with the answer filled. */
static int need_account(struct http_call *call, bool writes)
{
	if (call->ctx.actor.account_id == 0) {
		http_call_fail(call, 401, "login_required", "log in first: API tokens belong to an account", NULL);
		return -1;
	}
	if (writes && call->ctx.actor.read_only) {
		http_call_fail(call, 403, "read_only_token", "this API token is read-only and this changes something",
			       NULL);
		return -1;
	}
	return 0;
}

static int token_scope(struct http_call *call, bool *read_only_r)
{
	struct manage_error err;
	const char *scope = NULL;

	if (manage_param_str(call->params, "scope", false, 16, &scope, &err) < 0) {
		http_call_error(call, &err);
		return -1;
	}
	if (scope != NULL && strcmp(scope, "read") != 0 && strcmp(scope, "write") != 0) {
		http_call_fail(call, 400, "invalid_parameter", "scope must be \"read\" or \"write\"", "scope");
		return -1;
	}
	*read_only_r = scope == NULL || strcmp(scope, "read") == 0;
	return 0;
}

void http_tokens_create(struct http_call *call)
{
	unsigned char hash[STORE_WEB_HASH_BYTES];
	char token[HTTP_B64_MAX];
	struct manage_error err;
	const char *name = NULL, *errstr = NULL;
	bool read_only;
	int64_t id;

	if (need_account(call, true) < 0)
		return;
	if (manage_param_str(call->params, "name", true, STORE_WEB_TOKEN_NAME_MAX, &name, &err) < 0) {
		http_call_error(call, &err);
		return;
	}
	if (name[0] == '\0') {
		http_call_fail(call, 400, "invalid_parameter", "name must not be empty", "name");
		return;
	}
	if (token_scope(call, &read_only) < 0)
		return;
	token_new(token, hash);
	if (store_api_token_add(call->store, hash, call->ctx.actor.account_id, name, read_only, call->ctx.now, &id,
				&errstr) < 0) {
		http_call_fail(call, 500, "store_error", errstr, NULL);
		return;
	}
	log_info("http event=token-created login=%s id=%lld scope=%s", call->ctx.actor.login, (long long)id,
		 read_only ? "read" : "write");
	http_call_json(call, 201,
		       json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)id, "name", name, "scope",
				 read_only ? "read" : "write", "token", token, "created_at", (json_int_t)call->ctx.now));
	sodium_memzero(token, sizeof(token));
}

static void token_json(const struct store_api_token *t, void *arg)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)t->id, "name", t->name, "scope",
			      t->read_only ? "read" : "write", "created_at", (json_int_t)t->created_at);

	json_object_set_new(o, "last_used_at", t->last_used_at ? json_integer(t->last_used_at) : json_null());
	json_array_append_new(arg, o);
}

void http_tokens_list(struct http_call *call)
{
	json_t *list;
	const char *errstr = NULL;

	if (need_account(call, false) < 0)
		return;
	list = json_array();
	if (store_api_token_list(call->store, call->ctx.actor.account_id, token_json, list, &errstr) < 0) {
		json_decref(list);
		http_call_fail(call, 500, "store_error", errstr, NULL);
		return;
	}
	http_call_json(call, 200, json_pack("{s:o}", "tokens", list));
}

void http_tokens_revoke(struct http_call *call)
{
	const char *id_text = http_call_param(call, "id"), *errstr = NULL;
	char *end = NULL;
	long long id = id_text != NULL ? strtoll(id_text, &end, 10) : 0;
	int rc;

	if (need_account(call, true) < 0)
		return;
	if (end == NULL || *end != '\0' || id <= 0) {
		http_call_fail(call, 400, "invalid_parameter", "the token id must be a positive number", "id");
		return;
	}
	rc = store_api_token_revoke(call->store, call->ctx.actor.account_id, id, call->ctx.now, &errstr);
	if (rc < 0) {
		http_call_fail(call, 500, "store_error", errstr, NULL);
		return;
	}
	if (rc == 0) {
		http_call_fail(call, 404, "token_not_found", "you have no API token with this id", "id");
		return;
	}
	log_info("http event=token-revoked login=%s id=%lld", call->ctx.actor.login, id);
	http_call_reply(call, 204, NULL, NULL, 0);
}
