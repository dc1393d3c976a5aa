/*
 * manage_fixture: a scratch instance and manage_call for the service-layer suites.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/password.h"
#include "lib/xalloc.h"
#include "manage_fixture.h"
#include "testutil.h"

struct manage_fixture *mf_new(const char *prefix, const char *config_text)
{
	struct manage_fixture *f = xcalloc(1, sizeof(*f));
	const char *err = NULL;

	f->dir = testutil_tmpdir(prefix);
	f->cfg = testutil_config(f->dir, config_text);
	assert_int_equal(password_init(), 0);
	if (store_open(f->cfg->data_dir, &f->s, &err) < 0)
		fail_msg("store_open: %s", err);
	return f;
}

void mf_free(struct manage_fixture *f)
{
	json_decref(f->result);
	manage_ctx_clear(&f->ctx);
	store_close(f->s);
	config_free(f->cfg);
	testutil_rmtree(f->dir);
	free(f->dir);
	free(f);
}

static void actor_of(struct manage_fixture *f, const char *login, struct manage_actor *actor)
{
	struct store_account a;
	const char *err = NULL;

	memset(actor, 0, sizeof(*actor));
	actor->channel = "api";
	actor->read_only = f->read_only;
	snprintf(actor->ip, sizeof(actor->ip), "192.0.2.7");
	if (login == NULL) {
		actor->system = true;
		actor->channel = "cli";
		actor->ip[0] = '\0';
	} else if (login[0] != '\0') {
		assert_int_equal(store_account_get(f->s, login, &a, &err), 1);
		actor->account_id = a.id;
		snprintf(actor->login, sizeof(actor->login), "%s", a.login);
	}
}

static int vcall(struct manage_fixture *f, time_t now, const char *login, const char *op, const char *fmt,
		 va_list ap) __attribute__((format(printf, 5, 0)));
static int vcall(struct manage_fixture *f, time_t now, const char *login, const char *op, const char *fmt,
		 va_list ap)
{
	struct manage_actor actor;
	json_error_t jerr;
	json_t *params;
	char text[4096];
	int rc;

	if (vsnprintf(text, sizeof(text), fmt, ap) >= (int)sizeof(text))
		fail_msg("parameters of %s longer than %zu bytes", op, sizeof(text));
	actor_of(f, login, &actor);
	params = json_loads(text, 0, &jerr);
	if (params == NULL)
		fail_msg("bad JSON in test: %s: %s", text, jerr.text);
	json_decref(f->result);
	f->result = NULL;
	manage_ctx_clear(&f->ctx);
	manage_ctx_init(&f->ctx, f->s, f->cfg, &actor);
	if (now != 0)
		f->ctx.now = now;
	rc = manage_call(&f->ctx, op, params, &f->result, &f->err);
	json_decref(params);
	return rc;
}

int mf_call(struct manage_fixture *f, const char *login, const char *op, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vcall(f, 0, login, op, fmt, ap);
	va_end(ap);
	return rc;
}

int mf_call_at(struct manage_fixture *f, time_t now, const char *login, const char *op, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vcall(f, now, login, op, fmt, ap);
	va_end(ap);
	return rc;
}

void mf_ok(struct manage_fixture *f, int rc)
{
	if (rc < 0)
		fail_msg("refused: %d %s: %s", manage_status_http(f->err.status), f->err.code, f->err.message);
}

void mf_refused_code(struct manage_fixture *f, int rc, enum manage_status status, const char *code)
{
	if (rc == 0)
		fail_msg("accepted, expected %d %s", manage_status_http(status), code);
	if (f->err.status != status || strcmp(f->err.code, code) != 0)
		fail_msg("%d %s \"%s\", expected %d %s", manage_status_http(f->err.status), f->err.code,
			 f->err.message, manage_status_http(status), code);
}

void mf_refused_text(struct manage_fixture *f, int rc, enum manage_status status, const char *text)
{
	if (rc == 0)
		fail_msg("accepted, expected %d \"%s\"", manage_status_http(status), text);
	if (f->err.status != status || strstr(f->err.message, text) == NULL)
		fail_msg("%d %s \"%s\", expected %d \"%s\"", manage_status_http(f->err.status), f->err.code,
			 f->err.message, manage_status_http(status), text);
}

const char *mf_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("no string %s in the result", key);
	return json_string_value(v);
}
