/*
 * test_spool: message spools in memory, spilled to a file, and taken over
 * by the store (the rename path).
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_private.h"

static int setup(void **state)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char *dir = xasprintf("%s/spool-XXXXXX", base != NULL ? base : "/tmp");
	char *tmp;

	assert_non_null(mkdtemp(dir));
	tmp = xasprintf("%s/tmp", dir);
	assert_int_equal(mkdir(tmp, 0700), 0);
	free(tmp);
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	testutil_rmtree(*state);
	free(*state);
	return 0;
}

static int count_tmp_files(const char *dir)
{
	char *tmp = xasprintf("%s/tmp", dir);
	DIR *dp = opendir(tmp);
	struct dirent *de;
	int n = 0;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		n += de->d_name[0] != '.';
	closedir(dp);
	free(tmp);
	return n;
}

static void test_memory(void **state)
{
	struct spool *sp = spool_new(*state);
	const char *err = NULL;
	const char *mem;
	size_t len = 99;

	mem = spool_memory(sp, &len);
	assert_non_null(mem);
	assert_int_equal(len, 0);
	assert_int_equal(spool_size(sp), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(spool_write(sp, "0123456789", 10, &err), 0);
	assert_int_equal(spool_write(sp, "x", 0, &err), 0);
	assert_int_equal(spool_size(sp), 10000);
	assert_int_equal(spool_fd(sp), -1);
	assert_null(spool_path(sp));
	mem = spool_memory(sp, &len);
	assert_int_equal(len, 10000);
	assert_memory_equal(mem + 9990, "0123456789", 10);
	assert_int_equal(count_tmp_files(*state), 0);
	spool_free(sp);
	spool_free(NULL);
}

/* Exactly the threshold stays in memory; one byte more spills. */
static void test_threshold(void **state)
{
	struct spool *sp = spool_new(*state);
	char *buf = xcalloc(1, SPOOL_MEMORY_MAX_BYTES);
	const char *err = NULL;

	assert_int_equal(spool_write(sp, buf, SPOOL_MEMORY_MAX_BYTES, &err), 0);
	assert_int_equal(spool_fd(sp), -1);
	assert_int_equal(spool_write(sp, "z", 1, &err), 0);
	assert_true(spool_fd(sp) >= 0);
	assert_null(spool_memory(sp, &(size_t){ 0 }));
	assert_int_equal(spool_size(sp), SPOOL_MEMORY_MAX_BYTES + 1);
	spool_free(sp);
	free(buf);
}

static void test_spill_content_and_unlink(void **state)
{
	struct spool *sp = spool_new(*state);
	enum { TOTAL = 1000003 };
	unsigned char *expect = xmalloc(TOTAL), *got = xmalloc(TOTAL);
	const char *err = NULL;
	size_t off = 0, step = 1;
	char *path;

	for (size_t i = 0; i < TOTAL; i++)
		expect[i] = (unsigned char)(i * 7 + i / 251);
	/* chunk sizes from 1 byte to well over the buffer, as a network would */
	while (off < TOTAL) {
		size_t n = step < TOTAL - off ? step : TOTAL - off;

		assert_int_equal(spool_write(sp, expect + off, n, &err), 0);
		off += n;
		step = step * 3 + 1;
		if (step > 200000)
			step = 1;
	}
	assert_int_equal(spool_size(sp), TOTAL);
	assert_int_equal(spool_flush(sp, &err), 0);
	assert_int_equal(pread(spool_fd(sp), got, TOTAL, 0), TOTAL);
	assert_memory_equal(got, expect, TOTAL);
	path = xstrdup(spool_path(sp));
	assert_non_null(strstr(path, "/tmp/spool."));
	assert_int_equal(count_tmp_files(*state), 1);
	spool_free(sp);
	/* not taken by the store: the file goes with the spool */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_tmp_files(*state), 0);
	free(path);
	free(expect);
	free(got);
}

/* The store renames a spilled body into msg/; spool_free must leave it. */
static void test_consumed_file_survives(void **state)
{
	struct spool *sp = spool_new(*state);
	char *big = xcalloc(1, 200000);
	char *dest = xasprintf("%s/taken", (char *)*state);
	const char *err = NULL;
	struct stat st;

	assert_int_equal(spool_write(sp, big, 200000, &err), 0);
	assert_int_equal(spool_flush(sp, &err), 0);
	assert_int_equal(rename(spool_path(sp), dest), 0);
	spool_mark_consumed(sp);
	spool_free(sp);
	assert_int_equal(stat(dest, &st), 0);
	assert_int_equal(st.st_size, 200000);
	free(dest);
	free(big);
}

static void test_spill_failure_is_reported(void **state)
{
	char *nodir = xasprintf("%s/absent", (char *)*state);
	struct spool *sp = spool_new(nodir);
	char *big = xcalloc(1, SPOOL_MEMORY_MAX_BYTES + 1);
	const char *err = NULL;

	assert_int_equal(spool_write(sp, big, SPOOL_MEMORY_MAX_BYTES + 1, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot create the message spool"));
	spool_free(sp);
	free(big);
	free(nodir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spill_content_and_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consumed_file_survives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spill_failure_is_reported, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
