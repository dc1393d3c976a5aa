/*
 * testutil: scratch directories, files and configurations for the unit tests.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lib/xalloc.h"
#include "testutil.h"

char *testutil_tmpdir(const char *prefix)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char *dir = xasprintf("%s/%s-XXXXXX", base != NULL ? base : "/tmp", prefix);

	if (mkdtemp(dir) == NULL)
		fail_msg("cannot create a scratch directory %s", dir);
	return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void testutil_rmtree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void testutil_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		fail_msg("cannot write %s", path);
	fputs(text, f);
	if (fclose(f) != 0)
		fail_msg("cannot write %s", path);
}

struct config *testutil_config(const char *dir, const char *text)
{
	char *path = xasprintf("%s/hermod.conf", dir);
	struct config *cfg = NULL;
	const char *err = NULL;

	testutil_write_file(path, text);
	if (config_load(path, &cfg, &err) < 0)
		fail_msg("config %s: %s", path, err != NULL ? err : "?");
	free(path);
	return cfg;
}
