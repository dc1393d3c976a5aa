/*
 * cmd_message: commands that add, copy and remove messages: APPEND with
 * MULTIAPPEND (RFC 3502) and UIDPLUS's APPENDUID (RFC 4315), CHECK, CLOSE,
 * UNSELECT (RFC 3691), EXPUNGE, UID EXPUNGE, COPY and MOVE (RFC 6851) with
 * COPYUID.
 *
 * Every change runs on the store's writer thread and is durable before the
 * tagged OK (store_mail.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store_manage.h"

static void copy_err(char *out, size_t size, const char *err)
{
	snprintf(out, size, "%s", err ? err : "store error");
}

/* A UID set in the order given, runs compressed where both lists are consecutive (COPYUID). */
static void uid_sets(const uint32_t *a, const uint32_t *b, size_t n, struct buf *sa, struct buf *sb)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && a[j + 1] == a[j] + 1 && b[j + 1] == b[j] + 1)
			j++;
		const char *sep = sa->len ? "," : "";
		if (j > i) {
			buf_appendf(sa, "%s%u:%u", sep, a[i], a[j]);
			buf_appendf(sb, "%s%u:%u", sep, b[i], b[j]);
		} else {
			buf_appendf(sa, "%s%u", sep, a[i]);
			buf_appendf(sb, "%s%u", sep, b[i]);
		}
		i = j + 1;
	}
}

/* ---- APPEND ------------------------------------------------------------------------------- */

/* One message: what the store takes, and room for its keywords. */
struct append_msg {
	struct store_append_msg m;
	char keywords[STORE_KEYWORDS_MAX];
};

struct append_ctx {
	int64_t address_id;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	char name[STORE_FOLDER_NAME_MAX + 1];
	struct append_msg *msgs;
	struct store_append_msg *batch;
	size_t n;
	uint32_t uidvalidity;
	int rc;
	bool missing;
	char err[256];
};

static void append_ctx_free(void *arg)
{
	struct append_ctx *c = arg;

	for (size_t i = 0; i < c->n; i++)
		if (c->msgs[i].m.body != NULL)
			spool_free(c->msgs[i].m.body);
	free(c->msgs);
	free(c->batch);
	free(c);
}

static void append_work(struct store *st, void *arg)
{
	struct append_ctx *c = arg;
	struct store_folder_status fs;
	const char *err = NULL;

	int found = store_folder_lookup(st, c->address_id, c->name, &fs, &err); /* no counts: a pass over the folder on the writer */
	if (found != 1) {
		c->rc = -1;
		c->missing = found == 0;
		copy_err(c->err, sizeof(c->err), err);
		return;
	}
	c->uidvalidity = fs.uidvalidity;
	/* RFC 3502 6.3.11: a MULTIAPPEND stores every message or none, in one transaction. */
	c->batch = xcalloc(c->n + 1, sizeof(*c->batch));
	for (size_t i = 0; i < c->n; i++) {
		c->batch[i] = c->msgs[i].m;
		c->batch[i].keywords = c->msgs[i].keywords;
		c->msgs[i].m.body = NULL; /* consumed on success and failure alike */
	}
	c->rc = store_mail_append_many(st, fs.folder_id, c->batch, c->n, c->plans, &err);
	if (c->rc < 0)
		copy_err(c->err, sizeof(c->err), err);
}

static enum imap_cmd_result append_done(struct imap_cmd *cmd)
{
	struct append_ctx *c = cmd->ctx;

	if (c->rc < 0) {
		if (c->missing)
			return imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist: %s", c->name);
		return imap_cmd_no(cmd, "%s %s", strstr(c->err, "quota") ? "[OVERQUOTA]" : "[SERVERBUG]", c->err);
	}
	/* RFC 4315 3: the uid-set of every message appended, in order (ranges where consecutive). */
	uint32_t *uids = xmalloc((c->n + 1) * sizeof(*uids));
	struct buf set, unused;
	buf_init(&set, 0);
	buf_init(&unused, 0);
	for (size_t i = 0; i < c->n; i++)
		uids[i] = c->batch[i].uid;
	uid_sets(uids, uids, c->n, &set, &unused);
	imap_cmd_ok(cmd, "[APPENDUID %u %s] APPEND completed", c->uidvalidity, set.data);
	buf_free(&set);
	buf_free(&unused);
	free(uids);
	return IMAP_CMD_DONE;
}

/* One message: [flag-list] [date-time] message-literal. Returns the next index or 0 on error. */
static size_t append_one(struct imap_cmd *cmd, size_t i, struct append_ctx *c, const char **err_r)
{
	const struct imap_arg *a = cmd->parsed.args;
	size_t n = cmd->parsed.arg_count;
	struct append_msg *m = &c->msgs[c->n];

	memset(m, 0, sizeof(*m));
	m->m.internal_date = (int64_t)time(NULL);
	if (i < n && a[i].type == IMAP_ARG_LIST && imap_arg_flags(&a[i++], &m->m.flags, m->keywords, err_r) < 0)
		return 0;
	if (i < n && a[i].type == IMAP_ARG_STRING) {
		if (imap_parse_datetime(a[i].str, &m->m.internal_date) < 0) {
			*err_r = "Invalid date-time (e.g. \"17-Jul-1996 02:44:25 -0700\")";
			return 0;
		}
		i++;
	}
	if (i >= n || a[i].type != IMAP_ARG_SPOOL || a[i].len >= cmd->spool_count || cmd->spools[a[i].len] == NULL) {
		*err_r = "Syntax: APPEND mailbox [(flags)] [date-time] {size}";
		return 0;
	}
	m->m.body = cmd->spools[a[i].len];
	cmd->spools[a[i].len] = NULL;
	c->n++;
	return i + 1;
}

enum imap_cmd_result imap_cmd_append(struct imap_cmd *cmd)
{
	struct append_ctx *c = xcalloc(1, sizeof(*c));
	const char *err = NULL;

	cmd->ctx = c;
	cmd->ctx_free = append_ctx_free;
	c->address_id = cmd->session->address_id;
	memcpy(c->plans, cmd->session->cfg->plans, sizeof(c->plans));
	c->msgs = xcalloc(cmd->spool_count + 1, sizeof(*c->msgs));
	if (cmd->parsed.arg_count < 2)
		return imap_cmd_bad(cmd, "Syntax: APPEND mailbox [(flags)] [date-time] {size}");
	if (imap_arg_mailbox(cmd->session, &cmd->parsed.args[0], c->name, &err) < 0)
		return imap_cmd_bad(cmd, "%s", err);
	for (size_t i = 1; i < cmd->parsed.arg_count;) {
		if (c->n == cmd->spool_count) {
			return imap_cmd_bad(cmd, "Syntax: APPEND mailbox [(flags)] [date-time] {size}");
		}
		i = append_one(cmd, i, c, &err);
		if (i == 0)
			return imap_cmd_bad(cmd, "%s", err);
	}
	return imap_cmd_store_call(cmd, STORE_CALL_WRITE, append_work, append_done);
}

/* ---- CHECK, CLOSE, UNSELECT ------------------------------------------------------------------- */

enum imap_cmd_result imap_cmd_check(struct imap_cmd *cmd)
{
	cmd->session->view->dirty = true; /* RFC 3501 6.4.1: a checkpoint; report what changed */
	return imap_cmd_ok(cmd, "CHECK completed");
}

struct expunge_ctx {
	int64_t folder_id;
	uint32_t *uids; /* NULL: every \Deleted message */
	size_t n;
	uint32_t *removed;
	size_t n_removed, cap_removed;
	int rc;
	char err[256];
};

static void expunge_ctx_free(void *arg)
{
	struct expunge_ctx *c = arg;

	free(c->uids);
	free(c->removed);
	free(c);
}

static struct expunge_ctx *expunge_ctx_new(struct imap_cmd *cmd)
{
	struct expunge_ctx *c = xcalloc(1, sizeof(*c));

	cmd->ctx = c;
	cmd->ctx_free = expunge_ctx_free;
	c->folder_id = cmd->session->view->folder_id;
	return c;
}

/*
 * What an EXPUNGE or CLOSE deleted goes into the address's action history.
 * After the tagged reply and on a reader connection (synchronous=NORMAL):
 * the record needs no fsync of its own, so the writer, shared with every
 * delivery, does not pay a second commit for each EXPUNGE. Best effort.
 */
struct deletion_note {
	int64_t address_id;
	char *address, *detail, *ip;
};

static void deletion_note_work(struct store *st, void *arg)
{
	struct deletion_note *d = arg;
	const char *err = NULL;

	if (store_history_add(st, d->address_id, (int64_t)time(NULL), d->address, "delete", d->detail, d->ip,
			      &err) < 0)
		log_warn("imap event=history-failed address=%s error=\"%s\"", d->address, err ? err : "unknown");
}

static void deletion_note_done(void *arg, bool cancelled)
{
	struct deletion_note *d = arg;

	(void)cancelled;
	free(d->address);
	free(d->detail);
	free(d->ip);
	free(d);
}

static void note_deletion(struct imap_session *s, const struct expunge_ctx *c)
{
	struct deletion_note *d;

	if (c->rc < 0 || c->n_removed == 0)
		return;
	d = xcalloc(1, sizeof(*d));
	d->address_id = s->address_id;
	d->address = xstrdup(s->address);
	d->detail = xasprintf("imap: %zu message%s from %s", c->n_removed, c->n_removed == 1 ? "" : "s",
			      s->view->name);
	d->ip = xstrdup(conn_peer_ip(s->conn));
	store_async_call(s->server->store, STORE_CALL_READ, deletion_note_work, deletion_note_done, d);
}

static void on_removed(uint32_t uid, void *arg)
{
	struct expunge_ctx *c = arg;

	if (c->n_removed == c->cap_removed) {
		c->cap_removed = c->cap_removed ? c->cap_removed * 2 : 16;
		c->removed = xrealloc(c->removed, c->cap_removed * sizeof(*c->removed));
	}
	c->removed[c->n_removed++] = uid;
}

static void expunge_work(struct store *st, void *arg)
{
	struct expunge_ctx *c = arg;
	const char *err = NULL;

	if (c->uids != NULL && c->n == 0)
		return;
	c->rc = store_mail_expunge(st, c->folder_id, c->uids, c->n, on_removed, c, &err);
	if (c->rc < 0)
		copy_err(c->err, sizeof(c->err), err);
}

static enum imap_cmd_result close_done(struct imap_cmd *cmd)
{
	struct expunge_ctx *c = cmd->ctx;

	/* RFC 3501 6.4.2: CLOSE expunges silently; a failure still closes the mailbox. */
	if (c->rc < 0)
		log_warn("imap session=%s event=close-expunge-failed error=\"%s\"", cmd->session->id, c->err);
	note_deletion(cmd->session, c);
	imap_session_unselect(cmd->session);
	return imap_cmd_ok(cmd, "CLOSE completed");
}

enum imap_cmd_result imap_cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;

	if (cmd->parsed.arg_count != 0)
		return imap_cmd_bad(cmd, "Syntax: %s", cmd->parsed.name);
	if (strcmp(cmd->parsed.name, "UNSELECT") == 0 || s->view->readonly) {
		imap_session_unselect(s);
		return imap_cmd_ok(cmd, "%s completed", cmd->parsed.name);
	}
	expunge_ctx_new(cmd);
	return imap_cmd_store_call(cmd, STORE_CALL_WRITE, expunge_work, close_done);
}

/* ---- EXPUNGE, UID EXPUNGE ---------------------------------------------------------------------- */

static enum imap_cmd_result expunge_done(struct imap_cmd *cmd)
{
	struct expunge_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_cmd_no(cmd, "[SERVERBUG] %s", c->err);
	note_deletion(cmd->session, c);
	for (size_t i = c->n_removed; i-- > 0;)
		imap_view_expunge_uid(cmd->session, c->removed[i]);
	return imap_cmd_ok(cmd, "EXPUNGE completed");
}

/* The UIDs of set that are in the view and marked \Deleted (RFC 4315 2.1). */
static int deleted_uids(struct imap_cmd *cmd, const struct imap_arg *a, struct expunge_ctx *c, const char **err_r)
{
	struct imap_view *v = cmd->session->view;
	struct imap_seqset set;
	uint32_t *seqs;
	size_t n;

	if (a->type != IMAP_ARG_ATOM || imap_parse_seqset(a->str, a->len, &set, err_r) < 0)
		return -1;
	int rc = imap_view_resolve(v, &set, true, &seqs, &n, err_r);
	imap_seqset_free(&set);
	if (rc < 0)
		return -1;
	c->uids = xmalloc((n + 1) * sizeof(*c->uids));
	for (size_t i = 0; i < n; i++)
		if (v->flags[seqs[i] - 1] & STORE_FLAG_DELETED)
			c->uids[c->n++] = v->uids[seqs[i] - 1];
	free(seqs);
	return 0;
}

enum imap_cmd_result imap_cmd_expunge(struct imap_cmd *cmd)
{
	struct expunge_ctx *c = expunge_ctx_new(cmd);
	const char *err;

	if (cmd->parsed.arg_count != (cmd->parsed.uid ? 1u : 0u))
		return imap_cmd_bad(cmd, "Syntax: EXPUNGE, or UID EXPUNGE uid-set");
	if (cmd->parsed.uid && deleted_uids(cmd, &cmd->parsed.args[0], c, &err) < 0)
		return imap_cmd_bad(cmd, "%s", err);
	return imap_cmd_store_call(cmd, STORE_CALL_WRITE, expunge_work, expunge_done);
}

/* ---- COPY, MOVE ------------------------------------------------------------------------------------ */

struct copy_ctx {
	int64_t address_id, folder_id;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	char dest[STORE_FOLDER_NAME_MAX + 1];
	bool move;
	uint32_t *uids, *dest_uids;
	size_t n;
	uint32_t dest_uidvalidity;
	int rc;
	bool missing;
	char err[256];
};

static void copy_ctx_free(void *arg)
{
	struct copy_ctx *c = arg;

	free(c->uids);
	free(c->dest_uids);
	free(c);
}

static void copy_work(struct store *st, void *arg)
{
	struct copy_ctx *c = arg;
	struct store_folder_status fs;
	const char *err = NULL;

	int found = store_folder_lookup(st, c->address_id, c->dest, &fs, &err); /* no counts: see append_work */
	if (found != 1) {
		c->rc = -1;
		c->missing = found == 0;
		copy_err(c->err, sizeof(c->err), err);
		return;
	}
	c->rc = store_mail_copy(st, c->folder_id, c->uids, c->n, fs.folder_id, c->move, c->plans, c->dest_uids,
				&c->dest_uidvalidity, &err);
	if (c->rc < 0)
		copy_err(c->err, sizeof(c->err), err);
}

static enum imap_cmd_result copy_done(struct imap_cmd *cmd)
{
	struct copy_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;
	struct buf src, dst;
	size_t k = 0;

	if (c->rc < 0) {
		if (c->missing)
			return imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist: %s", c->dest);
		return imap_cmd_no(cmd, "%s %s", strstr(c->err, "quota") ? "[OVERQUOTA]" : "[SERVERBUG]", c->err);
	}
	/* Keep the pairs whose source still existed. */
	for (size_t i = 0; i < c->n; i++)
		if (c->dest_uids[i] != 0) {
			c->uids[k] = c->uids[i];
			c->dest_uids[k++] = c->dest_uids[i];
		}
	buf_init(&src, 0);
	buf_init(&dst, 0);
	uid_sets(c->uids, c->dest_uids, k, &src, &dst);
	const char *name = c->move ? "MOVE" : "COPY";
	if (c->move) {
		/* RFC 6851 4.3: COPYUID in an untagged OK before the expunges. */
		if (k > 0)
			imap_untagged(s, "OK [COPYUID %u %s %s] Moved", c->dest_uidvalidity, src.data, dst.data);
		for (size_t i = k; i-- > 0;)
			imap_view_expunge_uid(s, c->uids[i]);
		imap_cmd_ok(cmd, "%s completed", name);
	} else if (k > 0) {
		imap_cmd_ok(cmd, "[COPYUID %u %s %s] %s completed", c->dest_uidvalidity, src.data, dst.data, name);
	} else {
		imap_cmd_ok(cmd, "%s completed (no messages)", name);
	}
	buf_free(&src);
	buf_free(&dst);
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_copy(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct copy_ctx *c = xcalloc(1, sizeof(*c));
	struct imap_seqset set;
	uint32_t *seqs;
	const char *err;

	cmd->ctx = c;
	cmd->ctx_free = copy_ctx_free;
	c->address_id = s->address_id;
	c->folder_id = s->view->folder_id;
	memcpy(c->plans, s->cfg->plans, sizeof(c->plans));
	c->move = strcmp(cmd->parsed.name + (cmd->parsed.uid ? 4 : 0), "MOVE") == 0;
	const struct imap_arg *a = cmd->parsed.args;
	if (cmd->parsed.arg_count != 2 || a[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "Syntax: %s sequence-set mailbox", cmd->parsed.name);
	if (imap_arg_mailbox(s, &a[1], c->dest, &err) < 0 || imap_parse_seqset(a[0].str, a[0].len, &set, &err) < 0)
		return imap_cmd_bad(cmd, "%s", err);
	int rc = imap_view_resolve(s->view, &set, cmd->parsed.uid, &seqs, &c->n, &err);
	imap_seqset_free(&set);
	if (rc < 0)
		return imap_cmd_bad(cmd, "%s", err);
	c->uids = xmalloc((c->n + 1) * sizeof(*c->uids));
	c->dest_uids = xcalloc(c->n + 1, sizeof(*c->dest_uids));
	for (size_t i = 0; i < c->n; i++)
		c->uids[i] = s->view->uids[seqs[i] - 1];
	free(seqs);
	if (c->n == 0)
		return imap_cmd_ok(cmd, "%s completed (no messages)", c->move ? "MOVE" : "COPY");
	return imap_cmd_store_call(cmd, STORE_CALL_WRITE, copy_work, copy_done);
}
