/*
 * manage_fixture (mf_): what the service-layer suites share. A scratch
 * instance (configuration and store), operations run through manage_call
 * as an account or the operator, and the checks on their answers.
 * Include <cmocka.h> (with its prerequisites) first.
 */
#ifndef HERMOD_TESTS_MANAGE_FIXTURE_H
#define HERMOD_TESTS_MANAGE_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "config/config.h"
#include "manage/manage.h"
#include "store/store.h"

struct manage_fixture {
	char *dir;
	struct config *cfg;
	struct store *s;
	struct manage_ctx ctx;   /* the last call's, kept for its outbox */
	json_t *result;          /* the last call's answer, or NULL */
	struct manage_error err; /* the last call's refusal */
	bool read_only;          /* the next calls act as a read-only API token */
};

/* A fresh instance under a scratch directory "<prefix>-XXXXXX" with this configuration. */
struct manage_fixture *mf_new(const char *prefix, const char *config_text);
void mf_free(struct manage_fixture *f);

/*
 * Runs op as login (NULL: the operator on the command line; "": nobody,
 * as an anonymous API caller) from 192.0.2.7, with params given as JSON
 * text, printf-style. Returns manage_call's result; the answer, the
 * refusal and the context stay in f. mf_call_at sets the call's clock
 * (0: the real one).
 */
int mf_call(struct manage_fixture *f, const char *login, const char *op, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int mf_call_at(struct manage_fixture *f, time_t now, const char *login, const char *op, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Fails the test unless rc is a success. */
void mf_ok(struct manage_fixture *f, int rc);
/* Fails the test unless rc is a refusal with this status and code. */
void mf_refused_code(struct manage_fixture *f, int rc, enum manage_status status, const char *code);
/* Fails the test unless rc is a refusal with this status whose message contains text. */
void mf_refused_text(struct manage_fixture *f, int rc, enum manage_status status, const char *text);
/* The string member key of o; fails the test when there is none. */
const char *mf_str(json_t *o, const char *key);

#endif
