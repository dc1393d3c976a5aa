/*
 * store_read: listing and reading messages, and mbox export.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "store/store_private.h"

#define STORE_READ_CHUNK (64 * 1024)

int store_message_list(struct store *s, int64_t folder_id,
		       void (*cb)(const struct store_message *m, void *arg), void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT id, uid, flags, internal_date, size, modseq FROM mail"
				  " WHERE folder_id = ? ORDER BY uid";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	struct store_message m;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		m.mail_id = sqlite3_column_int64(st, 0);
		m.uid = (uint32_t)sqlite3_column_int64(st, 1);
		m.flags = (uint32_t)sqlite3_column_int64(st, 2);
		m.internal_date = sqlite3_column_int64(st, 3);
		m.size = (uint64_t)sqlite3_column_int64(st, 4);
		m.modseq = (uint64_t)sqlite3_column_int64(st, 5);
		cb(&m, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

static int body_locate(struct store *s, int64_t mail_id, int64_t *seg_r, int64_t *off_r, int64_t *len_r,
		       const char **errstr_r)
{
	static const char sql[] = "SELECT b.segment, b.offset, b.length FROM mail m JOIN bodies b ON b.id = m.body_id"
				  " WHERE m.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mail_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*seg_r = sqlite3_column_int64(st, 0);
		*off_r = sqlite3_column_int64(st, 1);
		*len_r = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return store_errf(s, errstr_r, "message %lld does not exist", (long long)mail_id);
	return rc == SQLITE_ROW ? 0 : store_dberr(s, errstr_r, "database error");
}

static int stream_range(struct store *s, int fd, uint64_t off, uint64_t len,
			int (*cb)(const void *p, size_t len, void *arg), void *arg, const char **errstr_r)
{
	char buf[STORE_READ_CHUNK];

	while (len > 0) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return store_errf(s, errstr_r, "cannot read a message: %s", strerror(errno));
		if (n == 0)
			return store_errf(s, errstr_r, "a message is truncated in the message store");
		if (cb(buf, (size_t)n, arg) < 0)
			return store_errf(s, errstr_r, "reading the message was interrupted");
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int store_message_read(struct store *s, int64_t mail_id, int (*cb)(const void *p, size_t len, void *arg),
		       void *arg, const char **errstr_r)
{
	int64_t seg = 0, off = 0, len = 0;
	char path[4096];
	int fd, rc;

	if (body_locate(s, mail_id, &seg, &off, &len, errstr_r) < 0)
		return -1;
	store_segment_path(s, seg, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return store_errf(s, errstr_r, "cannot open message segment %s: %s", path, strerror(errno));
	rc = stream_range(s, fd, (uint64_t)off, (uint64_t)len, cb, arg, errstr_r);
	close(fd);
	return rc;
}

/* ---- mboxrd export (RFC 4155, the "mboxrd" quoting of qmail/mutt) ---- */

/*
 * Converts a stream of CRLF text into mboxrd body lines: CRLF becomes LF, and
 * every line matching ^>*From  gets one more '>'. Works byte by byte across
 * chunk boundaries, so a long line never needs to be held in memory.
 */
struct mboxrd {
	FILE *out;
	bool in_prefix;   /* at a line start, still matching >*From  */
	size_t gts;       /* '>' seen in the prefix */
	size_t from;      /* chars of "From " matched */
	bool cr;          /* a CR is pending */
	bool at_bol;      /* last byte written was LF (or nothing yet) */
	char sender[320];
};

static void mboxrd_put(struct mboxrd *m, int c)
{
	putc(c, m->out);
	m->at_bol = c == '\n';
	if (c == '\n') {
		m->in_prefix = true;
		m->gts = 0;
		m->from = 0;
	}
}

/* The prefix did not turn out to be ">*From ": write it back as it was. */
static void mboxrd_flush_prefix(struct mboxrd *m)
{
	for (size_t i = 0; i < m->gts; i++)
		putc('>', m->out);
	fwrite("From ", 1, m->from, m->out);
	if (m->gts + m->from > 0)
		m->at_bol = false;
	m->in_prefix = false;
}

static void mboxrd_plain(struct mboxrd *m, int c)
{
	if (m->cr) {
		m->cr = false;
		if (c == '\n') {
			mboxrd_put(m, '\n');
			return;
		}
		mboxrd_put(m, '\r');
	}
	if (c == '\r')
		m->cr = true;
	else
		mboxrd_put(m, c);
}

static void mboxrd_byte(struct mboxrd *m, int c)
{
	if (m->in_prefix) {
		if (m->from == 0 && c == '>') {
			m->gts++;
			return;
		}
		if (c == "From "[m->from]) {
			if (++m->from < 5)
				return;
			putc('>', m->out); /* the quoting itself */
			mboxrd_flush_prefix(m);
			return;
		}
		mboxrd_flush_prefix(m);
	}
	mboxrd_plain(m, c);
}

static int mboxrd_chunk(const void *p, size_t len, void *arg)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		mboxrd_byte(arg, c[i]);
	return ferror(((struct mboxrd *)arg)->out) ? -1 : 0;
}

/* The envelope sender from the Return-Path we prepend at delivery. */
static int sender_chunk(const void *p, size_t len, void *arg)
{
	struct mboxrd *m = arg;
	const char *c = p, *lt, *gt;
	size_t n = len < 1024 ? len : 1024;

	if (n < 13 || strncasecmp(c, "Return-Path:", 12) != 0)
		return -1;
	if ((lt = memchr(c, '<', n)) == NULL || (gt = memchr(lt, '>', n - (size_t)(lt - c))) == NULL)
		return -1;
	if (gt - lt - 1 > 0 && (size_t)(gt - lt - 1) < sizeof(m->sender))
		snprintf(m->sender, sizeof(m->sender), "%.*s", (int)(gt - lt - 1), lt + 1);
	return -1; /* the first chunk is enough */
}

static int export_one(struct store *s, int64_t mail_id, int64_t internal_date, FILE *out, const char **errstr_r)
{
	struct mboxrd m = { .out = out, .in_prefix = true, .at_bol = true };
	time_t t = (time_t)internal_date;
	char date[64];
	struct tm tm;

	snprintf(m.sender, sizeof(m.sender), "MAILER-DAEMON");
	(void)store_message_read(s, mail_id, sender_chunk, &m, errstr_r);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	fprintf(out, "From %s %s\n", m.sender, date);
	if (store_message_read(s, mail_id, mboxrd_chunk, &m, errstr_r) < 0)
		return -1;
	mboxrd_flush_prefix(&m);
	if (m.cr) {
		putc('\r', out);
		m.at_bol = false;
	}
	if (!m.at_bol)
		putc('\n', out);
	putc('\n', out); /* the blank line that ends each message */
	return ferror(out) ? store_errf(s, errstr_r, "cannot write the mbox: %s", strerror(errno)) : 0;
}

struct export_ids {
	int64_t *ids;
	int64_t *dates;
	size_t n, cap;
};

static void export_collect(const struct store_message *msg, void *arg)
{
	struct export_ids *e = arg;

	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		e->ids = xrealloc(e->ids, e->cap * sizeof(*e->ids));
		e->dates = xrealloc(e->dates, e->cap * sizeof(*e->dates));
	}
	e->ids[e->n] = msg->mail_id;
	e->dates[e->n++] = msg->internal_date;
}

int store_export_mbox(struct store *s, const char *local, const char *domain, const char *folder, FILE *out,
		      const char **errstr_r)
{
	struct export_ids e = { 0 };
	struct store_folder f;
	int64_t address_id;
	int rc;

	if ((rc = store_address_find(s, local, domain, &address_id, errstr_r)) <= 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "address %s@%s does not exist", local, domain);
	if ((rc = store_folder_get(s, address_id, folder, &f, errstr_r)) <= 0)
		return rc < 0 ? -1 : store_errf(s, errstr_r, "folder %s of %s@%s does not exist", folder, local, domain);
	/* Collect first: reading while the list statement is active would
	 * hold its read snapshot across every body read. */
	if (store_message_list(s, f.id, export_collect, &e, errstr_r) < 0)
		rc = -1;
	for (size_t i = 0; rc >= 0 && i < e.n; i++)
		rc = export_one(s, e.ids[i], e.dates[i], out, errstr_r);
	free(e.ids);
	free(e.dates);
	if (rc >= 0 && fflush(out) != 0)
		return store_errf(s, errstr_r, "cannot write the mbox: %s", strerror(errno));
	return rc < 0 ? -1 : 0;
}
