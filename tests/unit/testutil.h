/*
 * testutil: what the unit tests share. A scratch directory under
 * HERMOD_TEST_TMP (meson points it at the build directory), its removal,
 * writing a small file, loading a configuration. Failures end the running
 * test through cmocka; include <cmocka.h> (with its prerequisites) first.
 */
#ifndef HERMOD_TESTS_TESTUTIL_H
#define HERMOD_TESTS_TESTUTIL_H

#include "config/config.h"

/* A new empty directory "<HERMOD_TEST_TMP or /tmp>/<prefix>-XXXXXX"; free() it. */
char *testutil_tmpdir(const char *prefix);
/* Removes dir and everything below it. */
void testutil_rmtree(const char *dir);
/* Writes text to path (created or truncated). */
void testutil_write_file(const char *path, const char *text);
/* Writes text to <dir>/hermod.conf and loads it; config_free() the result. */
struct config *testutil_config(const char *dir, const char *text);

#endif
