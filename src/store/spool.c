/*
 * spool: one incoming message body, in memory while small, then in a file.
 *
 * spool_write runs on the event loop for every chunk a client sends, so the
 * common case (a few KiB of mail) is a memcpy. Past SPOOL_MEMORY_MAX_BYTES
 * the body moves to a mkstemp file under <data_dir>/tmp and the memory turns
 * into a write buffer for it, so the file sees 64 KiB writes, not one per
 * chunk. The file has a name (not O_TMPFILE) because the store renames a big
 * body straight into msg/ instead of copying it; spool_free unlinks it unless
 * the store took it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "store/store_private.h"

struct spool {
	char *tmp_dir;
	char *buf;      /* the body (in memory) or the file's write buffer */
	size_t len;
	size_t cap;
	int fd;         /* -1 while in memory */
	char *path;
	bool consumed;  /* the store renamed the file into msg/ */
	uint64_t size;
	char err[160];
};

struct spool *spool_new(const char *data_dir)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));

	sp->tmp_dir = xasprintf("%s/tmp", data_dir);
	sp->fd = -1;
	return sp;
}

static int spool_fail(struct spool *sp, const char **errstr_r, const char *what)
{
	snprintf(sp->err, sizeof(sp->err), "cannot %s the message spool: %s", what, strerror(errno));
	if (errstr_r != NULL)
		*errstr_r = sp->err;
	return -1;
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len > 0) {
		ssize_t n = write(fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int spool_flush(struct spool *sp, const char **errstr_r)
{
	if (sp->fd < 0 || sp->len == 0)
		return 0;
	if (write_all(sp->fd, sp->buf, sp->len) < 0)
		return spool_fail(sp, errstr_r, "write");
	sp->len = 0;
	return 0;
}

static int spool_spill(struct spool *sp, const char **errstr_r)
{
	char *path = xasprintf("%s/spool.XXXXXX", sp->tmp_dir);
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd < 0) {
		free(path);
		return spool_fail(sp, errstr_r, "create");
	}
	sp->fd = fd;
	sp->path = path;
	if (sp->cap < SPOOL_MEMORY_MAX_BYTES) {
		sp->cap = SPOOL_MEMORY_MAX_BYTES;
		sp->buf = xrealloc(sp->buf, sp->cap);
	}
	return spool_flush(sp, errstr_r);
}

/* In memory: grow geometrically up to the threshold. */
static void spool_grow(struct spool *sp, size_t need)
{
	size_t cap = sp->cap ? sp->cap : 4096;

	while (cap < need)
		cap *= 2;
	if (cap > SPOOL_MEMORY_MAX_BYTES)
		cap = SPOOL_MEMORY_MAX_BYTES;
	sp->buf = xrealloc(sp->buf, cap);
	sp->cap = cap;
}

int spool_write(struct spool *sp, const void *p, size_t len, const char **errstr_r)
{
	if (len == 0)
		return 0;
	if (sp->fd < 0 && sp->len + len > SPOOL_MEMORY_MAX_BYTES && spool_spill(sp, errstr_r) < 0)
		return -1;
	if (sp->fd >= 0 && sp->len + len > sp->cap) {
		if (spool_flush(sp, errstr_r) < 0)
			return -1;
		if (len >= sp->cap) {
			if (write_all(sp->fd, p, len) < 0)
				return spool_fail(sp, errstr_r, "write");
			sp->size += len;
			return 0;
		}
	}
	if (sp->len + len > sp->cap)
		spool_grow(sp, sp->len + len);
	memcpy(sp->buf + sp->len, p, len);
	sp->len += len;
	sp->size += len;
	return 0;
}

uint64_t spool_size(const struct spool *sp)
{
	return sp->size;
}

const void *spool_memory(const struct spool *sp, size_t *len_r)
{
	if (sp->fd >= 0)
		return NULL;
	*len_r = sp->len;
	return sp->buf != NULL ? sp->buf : "";
}

int spool_fd(const struct spool *sp)
{
	return sp->fd;
}

const char *spool_path(const struct spool *sp)
{
	return sp->path;
}

void spool_mark_consumed(struct spool *sp)
{
	sp->consumed = true;
}

void spool_mark_unconsumed(struct spool *sp)
{
	sp->consumed = false;
}

void spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	if (sp->path != NULL && !sp->consumed)
		unlink(sp->path);
	free(sp->path);
	free(sp->buf);
	free(sp->tmp_dir);
	free(sp);
}
