/*
 * cmd_mailbox: mailboxes of the logged-in address. SELECT/EXAMINE (with
 * CONDSTORE and QRESYNC parameters, RFC 7162), CREATE, DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 5258 LIST-EXTENDED, RFC 5819
 * LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3348 CHILDREN), LSUB, NAMESPACE
 * (RFC 2342) and STATUS (RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ, RFC 7889
 * APPENDLIMIT).
 *
 * Every folder lookup is scoped by the session's address_id in the store,
 * so another address's folders can be neither seen nor opened. Names are
 * UTF-8 here; imap_arg_mailbox and imap_write_mailbox convert at the wire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* The response code for a store refusal, from its words (store.h: errors a user understands). */
static const char *error_code(const char *err)
{
	if (err == NULL)
		return "[SERVERBUG]";
	if (strstr(err, "already exists") != NULL)
		return "[ALREADYEXISTS]";
	if (strstr(err, "no such") != NULL || strstr(err, "not found") != NULL || strstr(err, "does not exist") != NULL)
		return "[NONEXISTENT]";
	if (strstr(err, "quota") != NULL)
		return "[OVERQUOTA]";
	if (strstr(err, "children") != NULL || strstr(err, "INBOX") != NULL)
		return "[CANNOT]";
	return "[CANNOT]";
}

static void copy_err(char *out, size_t size, const char *err)
{
	snprintf(out, size, "%s", err ? err : "store error");
}

/* store_folder_status as 0 / -1, "no such mailbox" when it does not exist. */
static int folder_status(struct store *st, int64_t address_id, const char *name, struct store_folder_status *fs,
			 bool counts, char *err_r, size_t size)
{
	const char *err = NULL;
	int rc = counts ? store_folder_status(st, address_id, name, fs, &err)
			: store_folder_lookup(st, address_id, name, fs, &err);

	if (rc == 1)
		return 0;
	if (rc == 0)
		snprintf(err_r, size, "no such mailbox: %.200s", name);
	else
		copy_err(err_r, size, err);
	return -1;
}

/* RFC 3501 2.3.2: how many messages the next session to SELECT the folder sees \Recent. */
static int folder_recent(struct store *st, struct store_folder_status *fs, char *err_r, size_t size)
{
	const char *err = NULL;
	uint32_t first;

	if (store_folder_recent(st, fs->folder_id, &first, &fs->recent, &err) == 0)
		return 0;
	copy_err(err_r, size, err);
	return -1;
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE ---------------------------------------------------- */

enum folder_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUBSCRIBE, OP_UNSUBSCRIBE };

struct folder_ctx {
	enum folder_op op;
	int64_t address_id;
	char name[STORE_FOLDER_NAME_MAX + 1];
	char to[STORE_FOLDER_NAME_MAX + 1];
	int rc;
	char err[256];
};

static void folder_work(struct store *st, void *arg)
{
	struct folder_ctx *c = arg;
	const char *err = NULL;
	int64_t id;

	switch (c->op) {
	case OP_CREATE:
		c->rc = store_folder_create(st, c->address_id, c->name, &id, &err);
		break;
	case OP_DELETE:
		c->rc = store_folder_delete(st, c->address_id, c->name, &err);
		break;
	case OP_RENAME:
		c->rc = store_folder_rename(st, c->address_id, c->name, c->to, &err);
		break;
	case OP_SUBSCRIBE:
	case OP_UNSUBSCRIBE:
		c->rc = store_folder_subscribe(st, c->address_id, c->name, c->op == OP_SUBSCRIBE, &err);
		break;
	}
	if (c->rc < 0)
		copy_err(c->err, sizeof(c->err), err);
}

static enum imap_cmd_result folder_done(struct imap_cmd *cmd)
{
	struct folder_ctx *c = cmd->ctx;
	static const char *const names[] = { "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE" };

	if (c->rc < 0)
		return imap_cmd_no(cmd, "%s %s", error_code(c->err), c->err);
	return imap_cmd_ok(cmd, "%s completed", names[c->op]);
}

static enum imap_cmd_result folder_op(struct imap_cmd *cmd, enum folder_op op, size_t nargs)
{
	struct folder_ctx *c = xcalloc(1, sizeof(*c));
	const char *err;

	cmd->ctx = c;
	cmd->ctx_free = free;
	c->op = op;
	c->address_id = cmd->session->address_id;
	if (cmd->parsed.arg_count != nargs)
		return imap_cmd_bad(cmd, "Wrong number of arguments");
	if (imap_arg_mailbox(cmd->session, &cmd->parsed.args[0], c->name, &err) < 0 ||
	    (nargs == 2 && imap_arg_mailbox(cmd->session, &cmd->parsed.args[1], c->to, &err) < 0))
		return imap_cmd_bad(cmd, "%s", err);
	if (op == OP_CREATE && strcmp(c->name, "INBOX") == 0)
		return imap_cmd_no(cmd, "[ALREADYEXISTS] INBOX always exists");
	if (op == OP_DELETE && strcmp(c->name, "INBOX") == 0)
		return imap_cmd_no(cmd, "[CANNOT] INBOX cannot be deleted");
	return imap_cmd_store_call(cmd, STORE_CALL_WRITE, folder_work, folder_done);
}

enum imap_cmd_result imap_cmd_create(struct imap_cmd *cmd)
{
	return folder_op(cmd, OP_CREATE, 1);
}

enum imap_cmd_result imap_cmd_delete(struct imap_cmd *cmd)
{
	return folder_op(cmd, OP_DELETE, 1);
}

enum imap_cmd_result imap_cmd_rename(struct imap_cmd *cmd)
{
	return folder_op(cmd, OP_RENAME, 2);
}

enum imap_cmd_result imap_cmd_subscribe(struct imap_cmd *cmd)
{
	bool sub = strcmp(cmd->parsed.name, "SUBSCRIBE") == 0;
	return folder_op(cmd, sub ? OP_SUBSCRIBE : OP_UNSUBSCRIBE, 1);
}

enum imap_cmd_result imap_cmd_namespace(struct imap_cmd *cmd)
{
	/* RFC 2342: one personal namespace, no prefix, "/" as the separator. */
	imap_untagged(cmd->session, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	return imap_cmd_ok(cmd, "NAMESPACE completed");
}

/* ---- STATUS ------------------------------------------------------------------------------- */

enum status_item {
	ST_MESSAGES = 1 << 0,
	ST_RECENT = 1 << 1,
	ST_UIDNEXT = 1 << 2,
	ST_UIDVALIDITY = 1 << 3,
	ST_UNSEEN = 1 << 4,
	ST_DELETED = 1 << 5,
	ST_SIZE = 1 << 6,
	ST_HIGHESTMODSEQ = 1 << 7,
	ST_APPENDLIMIT = 1 << 8,
};

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{ "MESSAGES", ST_MESSAGES }, { "RECENT", ST_RECENT },	   { "UIDNEXT", ST_UIDNEXT },
	{ "UIDVALIDITY", ST_UIDVALIDITY }, { "UNSEEN", ST_UNSEEN }, { "DELETED", ST_DELETED },
	{ "SIZE", ST_SIZE },	     { "HIGHESTMODSEQ", ST_HIGHESTMODSEQ }, { "APPENDLIMIT", ST_APPENDLIMIT },
};

static int parse_status_items(const struct imap_arg *a, unsigned *items_r)
{
	*items_r = 0;
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return -1;
	for (size_t i = 0; i < a->count; i++) {
		size_t k;
		for (k = 0; k < sizeof(status_items) / sizeof(status_items[0]); k++)
			if (imap_arg_atom_is(&a->list[i], status_items[k].name))
				break;
		if (k == sizeof(status_items) / sizeof(status_items[0]))
			return -1;
		*items_r |= status_items[k].bit;
	}
	return 0;
}

static void write_status(struct imap_session *s, const char *name, unsigned items,
			 const struct store_folder_status *st)
{
	const uint64_t values[] = { st->messages, st->recent, st->uidnext, st->uidvalidity, st->unseen, st->deleted,
				    st->size, st->highestmodseq, s->cfg->max_message_size };
	bool first = true;

	imap_printf(s, "* STATUS ");
	imap_write_mailbox(s, name);
	imap_printf(s, " (");
	for (size_t k = 0; k < sizeof(status_items) / sizeof(status_items[0]); k++) {
		if (!(items & status_items[k].bit))
			continue;
		imap_printf(s, "%s%s %llu", first ? "" : " ", status_items[k].name, (unsigned long long)values[k]);
		first = false;
	}
	imap_printf(s, ")\r\n");
	if (items & ST_HIGHESTMODSEQ)
		s->enabled |= IMAP_ENABLED_CONDSTORE; /* RFC 7162 3.1: a CONDSTORE enabling command */
}

struct status_ctx {
	int64_t address_id;
	char name[STORE_FOLDER_NAME_MAX + 1];
	unsigned items;
	struct store_folder_status st;
	int rc;
	char err[256];
};

static void status_work(struct store *st, void *arg)
{
	struct status_ctx *c = arg;

	c->rc = folder_status(st, c->address_id, c->name, &c->st, true, c->err, sizeof(c->err));
	if (c->rc == 0 && (c->items & ST_RECENT))
		c->rc = folder_recent(st, &c->st, c->err, sizeof(c->err));
}

static enum imap_cmd_result status_done(struct imap_cmd *cmd)
{
	struct status_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_cmd_no(cmd, "%s %s", error_code(c->err), c->err);
	write_status(cmd->session, c->name, c->items, &c->st);
	return imap_cmd_ok(cmd, "STATUS completed");
}

enum imap_cmd_result imap_cmd_status(struct imap_cmd *cmd)
{
	struct status_ctx *c = xcalloc(1, sizeof(*c));
	const char *err;

	cmd->ctx = c;
	cmd->ctx_free = free;
	c->address_id = cmd->session->address_id;
	if (cmd->parsed.arg_count != 2 || parse_status_items(&cmd->parsed.args[1], &c->items) < 0)
		return imap_cmd_bad(cmd, "Syntax: STATUS mailbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN ...)");
	if (imap_arg_mailbox(cmd->session, &cmd->parsed.args[0], c->name, &err) < 0)
		return imap_cmd_bad(cmd, "%s", err);
	return imap_cmd_store_call(cmd, STORE_CALL_READ, status_work, status_done);
}

/* ---- SELECT / EXAMINE ------------------------------------------------------------------------- */

struct select_ctx {
	int64_t address_id;
	char name[STORE_FOLDER_NAME_MAX + 1];
	bool readonly, condstore, qresync;
	uint32_t qr_uidvalidity;
	uint64_t qr_modseq;
	struct store_folder_status st;
	struct imap_snapshot *base;  /* the cache's snapshot for this name, or NULL (read by the store thread) */
	struct imap_snapshot *snap;  /* built on the store thread; NULL when base is exact */
	enum imap_snapshot_how how;
	uint32_t *vanished;
	size_t n_vanished, cap_vanished;
	struct imap_seqset qr_known;     /* QRESYNC known-uids (count 0: not given) */
	struct imap_seqset qr_seqs, qr_uids; /* QRESYNC seq-match-data (count 0: not given) */
	char keywords[STORE_KEYWORDS_MAX];   /* the folder's, for FLAGS */
	uint32_t *kw_uids;           /* QRESYNC: changed messages with keywords, ascending UID... */
	char **kw_texts;             /* ... and their keywords */
	size_t n_kw, cap_kw;
	uint32_t recent_first;       /* the folder's \Recent boundary as read */
	uint32_t take_upto;          /* read-write: take [recent_first, take_upto) */
	int rc;
	char err[256];
};

static void select_ctx_free(void *arg)
{
	struct select_ctx *c = arg;

	/* on the loop thread: a cancelled call's ctx is freed from its completion */
	imap_snapshot_unref(&c->base);
	imap_snapshot_unref(&c->snap);
	free(c->vanished);
	imap_seqset_free(&c->qr_known);
	imap_seqset_free(&c->qr_seqs);
	imap_seqset_free(&c->qr_uids);
	for (size_t i = 0; i < c->n_kw; i++)
		free(c->kw_texts[i]);
	free(c->kw_uids);
	free(c->kw_texts);
	free(c);
}

static void on_vanished(uint32_t uid, void *arg)
{
	struct select_ctx *c = arg;

	if (c->n_vanished == c->cap_vanished) {
		c->cap_vanished = c->cap_vanished ? c->cap_vanished * 2 : 16;
		c->vanished = xrealloc(c->vanished, c->cap_vanished * sizeof(*c->vanished));
	}
	c->vanished[c->n_vanished++] = uid;
}

/* store_mail_list callback: the keywords of a message changed since the client's modseq. */
static int on_changed_keywords(const struct store_mail *m, void *arg)
{
	struct select_ctx *c = arg;

	if (m->keywords[0] == '\0')
		return 0;
	if (c->n_kw == c->cap_kw) {
		c->cap_kw = c->cap_kw ? c->cap_kw * 2 : 16;
		c->kw_uids = xrealloc(c->kw_uids, c->cap_kw * sizeof(*c->kw_uids));
		c->kw_texts = xrealloc(c->kw_texts, c->cap_kw * sizeof(*c->kw_texts));
	}
	c->kw_uids[c->n_kw] = m->uid;
	c->kw_texts[c->n_kw++] = xstrdup(m->keywords);
	return 0;
}

/* Whether a message of snap newer than since has keywords. */
static bool keywords_since(const struct imap_snapshot *snap, uint64_t since)
{
	for (uint32_t i = 0; i < snap->count; i++)
		if ((snap->flags[i] & IMAP_VIEW_KEYWORDS) && snap->modseqs[i] > since)
			return true;
	return false;
}

/*
 * The folder's keyword set for FLAGS. A snapshot from the cache carries
 * it; one caught up from it keeps it unless a change since brought
 * keywords (a keyword whose last message went stays listed: harmless,
 * RFC 3501 7.2.6 lists flags the mailbox may hold). Otherwise it is read
 * (a pass over the folder's index), and only when some message has any.
 */
static int select_folder_keywords(struct store *st, struct select_ctx *c, const char **err_r)
{
	const struct imap_snapshot *base = c->base;
	const char *known = NULL;

	if (c->how == IMAP_SNAPSHOT_CACHED || (c->how == IMAP_SNAPSHOT_CAUGHT_UP &&
					       !keywords_since(c->snap, base->highestmodseq)))
		known = base->keywords != NULL ? base->keywords : "";
	if (known != NULL)
		snprintf(c->keywords, sizeof(c->keywords), "%s", known);
	else if (keywords_since(c->snap, 0) && store_folder_keywords(st, c->st.folder_id, c->keywords, err_r) < 0)
		return -1;
	if (c->snap != NULL && c->keywords[0] != '\0')
		c->snap->keywords = xstrdup(c->keywords); /* not published yet: still ours to set */
	return 0;
}

/* The keyword texts SELECT needs: the folder's set, and for QRESYNC the changed messages' own. */
static int select_keywords(struct store *st, struct select_ctx *c, const struct imap_snapshot *snap,
			   const char **err_r)
{
	if (select_folder_keywords(st, c, err_r) < 0)
		return -1;
	if (c->qresync && c->qr_uidvalidity == c->st.uidvalidity && keywords_since(snap, c->qr_modseq))
		return store_mail_list(st, c->st.folder_id, 1, c->qr_modseq, on_changed_keywords, c, err_r);
	return 0;
}

static void select_work(struct store *st, void *arg)
{
	struct select_ctx *c = arg;
	const char *err = NULL;

	/* the counts come from the snapshot, not from a second pass over the folder */
	c->rc = folder_status(st, c->address_id, c->name, &c->st, false, c->err, sizeof(c->err));
	if (c->rc < 0)
		return;
	/* after the lookup: the snapshot holds every change up to the HIGHESTMODSEQ just read */
	c->rc = imap_snapshot_load(st, c->base, &c->st, &c->snap, &c->how, &err);
	if (c->rc == 0)
		c->rc = store_folder_recent(st, c->st.folder_id, &c->recent_first, NULL, &err);
	if (c->rc == 0)
		c->rc = select_keywords(st, c, c->snap != NULL ? c->snap : c->base, &err);
	if (c->rc == 0 && c->qresync && c->qr_uidvalidity == c->st.uidvalidity)
		c->rc = store_mail_expunged_since(st, c->st.folder_id, c->qr_modseq, on_vanished, c, &err);
	if (c->rc < 0)
		copy_err(c->err, sizeof(c->err), err);
}

/*
 * RFC 7162 3.2.5.1: the UIDs expunged since the client's modseq, as one
 * VANISHED (EARLIER) with ranges, reduced to what the client can still
 * hold: UIDs in its known-uids, and above the last UID its seq-match-data
 * shows unchanged (3.2.5.2: no expunge it has not seen lies below that).
 */
static void write_vanished_earlier(struct imap_session *s, struct select_ctx *c)
{
	uint32_t floor = 0;
	struct buf b;
	size_t n = 0;

	if (c->qr_seqs.count > 0)
		floor = imap_view_qresync_match(s->view, &c->qr_seqs, &c->qr_uids);
	buf_init(&b, 0);
	for (size_t i = 0; i < c->n_vanished;) {
		size_t j = i;
		uint32_t u = c->vanished[i];
		if (u <= floor || (c->qr_known.count > 0 && !imap_seqset_contains(&c->qr_known, u, IMAP_SEQ_STAR))) {
			i++;
			continue;
		}
		while (j + 1 < c->n_vanished && c->vanished[j + 1] == c->vanished[j] + 1 &&
		       (c->qr_known.count == 0 || imap_seqset_contains(&c->qr_known, c->vanished[j + 1], IMAP_SEQ_STAR)))
			j++;
		if (j > i)
			buf_appendf(&b, "%s%u:%u", n++ ? "," : "", u, c->vanished[j]);
		else
			buf_appendf(&b, "%s%u", n++ ? "," : "", u);
		i = j + 1;
	}
	if (n > 0)
		imap_untagged(s, "VANISHED (EARLIER) %s", b.data);
	buf_free(&b);
}

static const char *changed_keywords(const struct select_ctx *c, uint32_t uid)
{
	size_t lo = 0, hi = c->n_kw;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->kw_uids[mid] == uid)
			return c->kw_texts[mid];
		if (c->kw_uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* RFC 7162 3.2.5.1: what changed since the client's modseq, as VANISHED (EARLIER) and FETCH. */
static void write_qresync(struct imap_session *s, struct select_ctx *c)
{
	struct imap_view *v = s->view;

	if (c->qr_uidvalidity != v->uidvalidity)
		return;
	write_vanished_earlier(s, c);
	for (uint32_t i = 0; i < v->count; i++) {
		if (v->modseqs[i] <= c->qr_modseq)
			continue;
		imap_printf(s, "* %u FETCH (UID %u FLAGS (", i + 1, v->uids[i]);
		imap_write_flags(s, v->flags[i], changed_keywords(c, v->uids[i]), imap_view_recent(s, v->uids[i]));
		imap_printf(s, ") MODSEQ (%llu))\r\n", (unsigned long long)v->modseqs[i]);
	}
}

static void write_select_responses(struct imap_session *s, struct select_ctx *c)
{
	struct imap_view *v = s->view;
	uint32_t unseen = 0;

	if (c->keywords[0] != '\0')
		v->keywords = xstrdup(c->keywords);
	imap_view_write_flag_lists(s);
	imap_untagged(s, "%u EXISTS", v->count);
	if (!(s->enabled & IMAP_ENABLED_IMAP4REV2)) {
		imap_untagged(s, "%u RECENT", imap_view_recent_count(s));
		for (uint32_t i = 0; i < v->count && unseen == 0; i++)
			if (!(v->flags[i] & STORE_FLAG_SEEN))
				unseen = i + 1;
		if (unseen)
			imap_untagged(s, "OK [UNSEEN %u] First unseen", unseen);
	}
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", v->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", v->uidnext);
	imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)v->highestmodseq);
	if (s->enabled & IMAP_ENABLED_IMAP4REV2) {
		imap_printf(s, "* LIST () \"/\" "); /* RFC 9051 6.3.2 */
		imap_write_mailbox(s, v->name);
		imap_printf(s, "\r\n");
	}
	if (c->qresync)
		write_qresync(s, c);
}

static enum imap_cmd_result select_finish(struct imap_cmd *cmd)
{
	struct select_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;
	struct imap_view *v = s->view;

	if (c->rc < 0) /* the take failed: the messages stay \Recent for the next session */
		log_warn("imap session=%s event=take-recent-failed error=\"%s\"", s->id, c->err);
	else if (c->take_upto > 0)
		imap_view_add_recent(v, c->recent_first, c->take_upto);
	write_select_responses(s, c);
	return imap_cmd_ok(cmd, "[%s] %s completed", v->readonly ? "READ-ONLY" : "READ-WRITE",
			   v->readonly ? "EXAMINE" : "SELECT");
}

/* On a reader (store_folder_take_recent needs no fsync): a read-write SELECT takes its view's \Recent. */
static void take_recent_work(struct store *st, void *arg)
{
	struct select_ctx *c = arg;
	const char *err = NULL;

	c->rc = store_folder_take_recent(st, c->st.folder_id, c->take_upto, &c->recent_first, &err);
	if (c->rc < 0)
		copy_err(c->err, sizeof(c->err), err);
}

/*
 * RFC 3501 2.3.2: \Recent belongs to the first session that selects the
 * folder after the message arrived; EXAMINE sees it without taking it.
 * IMAP4rev2 has no \Recent (RFC 9051), so such a session takes nothing.
 */
static enum imap_cmd_result select_recent(struct imap_cmd *cmd, struct imap_view *v)
{
	struct select_ctx *c = cmd->ctx;
	uint32_t upto = v->count ? v->uids[v->count - 1] + 1 : 1;

	if (cmd->session->enabled & IMAP_ENABLED_IMAP4REV2)
		return select_finish(cmd);
	if (v->readonly) {
		imap_view_add_recent(v, c->recent_first, UINT32_MAX);
		return select_finish(cmd);
	}
	v->recent_checked = upto;
	if (c->recent_first >= upto)
		return select_finish(cmd);
	c->take_upto = upto;
	return imap_cmd_store_call(cmd, STORE_CALL_READ, take_recent_work, select_finish); /* no fsync needed */
}

static enum imap_cmd_result select_done(struct imap_cmd *cmd)
{
	struct select_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;

	if (c->rc < 0)
		return imap_cmd_no(cmd, "%s %s", error_code(c->err), c->err);
	struct imap_snapshot *snap = c->snap != NULL ? c->snap : c->base;
	if (c->how != IMAP_SNAPSHOT_CACHED)
		imap_viewcache_put(s->server->viewcache, s->address_id, c->name, snap);
	struct imap_view *v = imap_view_new_shared(snap, c->name, c->readonly);
	log_debug("imap session=%s event=select folder=%lld messages=%u view=%s", s->id, (long long)c->st.folder_id,
		  v->count, imap_snapshot_how_name(c->how));
	v->uidvalidity = c->st.uidvalidity;
	if (c->st.uidnext > v->uidnext)
		v->uidnext = c->st.uidnext;
	v->highestmodseq = c->st.highestmodseq;
	/* A change committed between the listing and the watch is caught by the first sync. */
	v->dirty = true;
	imap_session_select(s, v);
	return select_recent(cmd, v);
}

/* RFC 7162 3.2.5.1: [known-uids] [(known-sequence-set known-uid-set)] after uidvalidity and modseq. */
static int qresync_optional(const struct imap_arg *q, struct select_ctx *c)
{
	const char *err;
	size_t k = 2;

	if (k < q->count && q->list[k].type == IMAP_ARG_ATOM) {
		if (imap_parse_seqset(q->list[k].str, q->list[k].len, &c->qr_known, &err) < 0 || c->qr_known.saved)
			return -1;
		k++;
	}
	if (k < q->count) {
		const struct imap_arg *m = &q->list[k++];
		if (m->type != IMAP_ARG_LIST || m->count != 2 || m->list[0].type != IMAP_ARG_ATOM ||
		    m->list[1].type != IMAP_ARG_ATOM ||
		    imap_parse_seqset(m->list[0].str, m->list[0].len, &c->qr_seqs, &err) < 0 ||
		    imap_parse_seqset(m->list[1].str, m->list[1].len, &c->qr_uids, &err) < 0 || c->qr_seqs.saved ||
		    c->qr_uids.saved)
			return -1;
	}
	return k == q->count ? 0 : -1;
}

/* (CONDSTORE) or (QRESYNC (uidvalidity modseq [known-uids [seq-match]])) */
static int select_params(struct imap_session *s, const struct imap_arg *a, struct select_ctx *c)
{
	uint64_t n;

	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *p = &a->list[i];
		if (imap_arg_atom_is(p, "CONDSTORE")) {
			c->condstore = true;
			continue;
		}
		if (!imap_arg_atom_is(p, "QRESYNC") || i + 1 >= a->count || !(s->enabled & IMAP_ENABLED_QRESYNC) ||
		    c->qresync)
			return -1;
		const struct imap_arg *q = &a->list[++i];
		if (q->type != IMAP_ARG_LIST || q->count < 2 || imap_arg_number(&q->list[0], &n, true) < 0 ||
		    n > UINT32_MAX)
			return -1;
		c->qr_uidvalidity = (uint32_t)n;
		if (imap_arg_number(&q->list[1], &c->qr_modseq, false) < 0 || qresync_optional(q, c) < 0)
			return -1;
		c->qresync = true;
	}
	return 0;
}

enum imap_cmd_result imap_cmd_select(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct select_ctx *c = xcalloc(1, sizeof(*c));
	const char *err;

	cmd->ctx = c;
	cmd->ctx_free = select_ctx_free;
	c->address_id = s->address_id;
	c->readonly = strcmp(cmd->parsed.name, "EXAMINE") == 0;
	if (cmd->parsed.arg_count < 1 || cmd->parsed.arg_count > 2 ||
	    (cmd->parsed.arg_count == 2 && select_params(s, &cmd->parsed.args[1], c) < 0))
		return imap_cmd_bad(cmd, "Syntax: %s mailbox [(CONDSTORE) | (QRESYNC (uidvalidity modseq [known-uids]"
				    " [(sequences uids)]))]",
				    cmd->parsed.name);
	if (imap_arg_mailbox(s, &cmd->parsed.args[0], c->name, &err) < 0)
		return imap_cmd_bad(cmd, "%s", err);
	if (c->condstore)
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	/* RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected; RFC 7162 3.2.11: [CLOSED]. */
	if (s->view != NULL) {
		imap_session_unselect(s);
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	c->base = imap_viewcache_get(s->server->viewcache, s->address_id, c->name);
	return imap_cmd_store_call(cmd, STORE_CALL_READ, select_work, select_done);
}

/* ---- LIST / LSUB ------------------------------------------------------------------------------- */

enum list_sel { SEL_SUBSCRIBED = 1 << 0, SEL_SPECIAL_USE = 1 << 1, SEL_RECURSIVEMATCH = 1 << 2 };
enum list_ret { RET_SUBSCRIBED = 1 << 0, RET_CHILDREN = 1 << 1, RET_SPECIAL_USE = 1 << 2, RET_STATUS = 1 << 3 };

struct list_entry {
	char *name;
	char special_use[16];
	bool subscribed, children, matched;
	struct store_folder_status st;
	bool have_status;
};

#define LIST_PATTERNS_MAX 16

struct list_ctx {
	int64_t address_id;
	bool lsub;
	unsigned sel, ret, status_items;
	char *patterns[LIST_PATTERNS_MAX];
	size_t n_patterns;
	struct list_entry *entries;
	size_t n, cap;
	int rc;
	char err[256];
};

static void list_ctx_free(void *arg)
{
	struct list_ctx *c = arg;

	for (size_t i = 0; i < c->n; i++)
		free(c->entries[i].name);
	for (size_t i = 0; i < c->n_patterns; i++)
		free(c->patterns[i]);
	free(c->entries);
	free(c);
}

/*
 * RFC 3501 6.3.8: "*" matches anything, "%" anything but the hierarchy
 * delimiter. Dynamic programming over (pattern, name) positions with one
 * row per pattern character: O(pattern x name) whatever the wildcards, so a
 * hostile pattern full of "*" cannot make matching exponential.
 */
static bool pattern_match(const char *pat, const char *name)
{
	size_t n = strlen(name);
	bool row[STORE_FOLDER_NAME_MAX + 2], next[STORE_FOLDER_NAME_MAX + 2];

	if (n > STORE_FOLDER_NAME_MAX)
		return false;
	/* row[j]: the pattern so far matches the first j bytes of name. */
	memset(row, 0, sizeof(row));
	row[0] = true;
	for (; *pat != '\0'; pat++) {
		memset(next, 0, sizeof(next));
		if (*pat == '*' || *pat == '%') {
			bool reach = false;
			for (size_t j = 0; j <= n; j++) {
				reach = reach || row[j];
				next[j] = reach;
				if (*pat == '%' && j < n && name[j] == '/')
					reach = false; /* % never crosses the delimiter */
			}
		} else {
			for (size_t j = 0; j < n; j++)
				next[j + 1] = row[j] && name[j] == *pat;
		}
		memcpy(row, next, sizeof(row));
	}
	return row[n];
}

static bool list_match(const struct list_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n_patterns; i++) {
		const char *p = c->patterns[i];
		/* INBOX is case-insensitive in patterns too. */
		if (strncasecmp(p, "INBOX", 5) == 0 && strncmp(name, "INBOX", 5) == 0) {
			char tmp[STORE_FOLDER_NAME_MAX * 2 + 8];
			snprintf(tmp, sizeof(tmp), "INBOX%s", p + 5);
			if (pattern_match(tmp, name))
				return true;
		}
		if (pattern_match(p, name))
			return true;
	}
	return false;
}

static void on_list_folder(const struct store_folder *f, bool subscribed, void *arg)
{
	struct list_ctx *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->entries = xrealloc(c->entries, c->cap * sizeof(*c->entries));
	}
	struct list_entry *e = &c->entries[c->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(f->name);
	snprintf(e->special_use, sizeof(e->special_use), "%s", f->special_use);
	e->subscribed = subscribed;
}

static void list_work(struct store *st, void *arg)
{
	struct list_ctx *c = arg;
	const char *err = NULL;
	uint32_t first;

	c->rc = store_folder_list_all(st, c->address_id, on_list_folder, c, &err);
	if (c->rc < 0) {
		copy_err(c->err, sizeof(c->err), err);
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct list_entry *e = &c->entries[i];
		size_t len = strlen(e->name);
		for (size_t k = 0; k < c->n && !e->children; k++)
			e->children = strncmp(c->entries[k].name, e->name, len) == 0 && c->entries[k].name[len] == '/';
		e->matched = list_match(c, e->name);
		if (e->matched && (c->sel & SEL_SUBSCRIBED || c->lsub) && !e->subscribed)
			e->matched = false;
		if (e->matched && (c->sel & SEL_SPECIAL_USE) && e->special_use[0] == '\0')
			e->matched = false;
		if (e->matched && (c->ret & RET_STATUS))
			e->have_status = store_folder_status(st, c->address_id, e->name, &e->st, &err) == 1 &&
					 (!(c->status_items & ST_RECENT) ||
					  store_folder_recent(st, e->st.folder_id, &first, &e->st.recent, &err) == 0);
	}
}

static void write_list_entry(struct imap_session *s, const struct list_ctx *c, const struct list_entry *e)
{
	imap_printf(s, "* %s (%s", c->lsub ? "LSUB" : "LIST", e->children ? "\\HasChildren" : "\\HasNoChildren");
	if ((c->ret & RET_SUBSCRIBED || c->sel & SEL_SUBSCRIBED) && e->subscribed && !c->lsub)
		imap_printf(s, " \\Subscribed");
	if (e->special_use[0] && !c->lsub)
		imap_printf(s, " %s", e->special_use);
	imap_printf(s, ") \"/\" ");
	imap_write_mailbox(s, e->name);
	imap_printf(s, "\r\n");
	if (e->have_status)
		write_status(s, e->name, c->status_items, &e->st);
}

static enum imap_cmd_result list_done(struct imap_cmd *cmd)
{
	struct list_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_cmd_no(cmd, "[SERVERBUG] %s", c->err);
	for (size_t i = 0; i < c->n; i++)
		if (c->entries[i].matched)
			write_list_entry(cmd->session, c, &c->entries[i]);
	return imap_cmd_ok(cmd, "%s completed", c->lsub ? "LSUB" : "LIST");
}

static int list_selection(const struct imap_arg *a, struct list_ctx *c)
{
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (imap_arg_atom_is(o, "SUBSCRIBED"))
			c->sel |= SEL_SUBSCRIBED;
		else if (imap_arg_atom_is(o, "SPECIAL-USE"))
			c->sel |= SEL_SPECIAL_USE;
		else if (imap_arg_atom_is(o, "RECURSIVEMATCH"))
			c->sel |= SEL_RECURSIVEMATCH;
		else if (!imap_arg_atom_is(o, "REMOTE"))
			return -1;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH alone is an error. */
	return (c->sel & SEL_RECURSIVEMATCH) && !(c->sel & SEL_SUBSCRIBED) ? -1 : 0;
}

static int list_return(const struct imap_arg *a, struct list_ctx *c)
{
	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (imap_arg_atom_is(o, "SUBSCRIBED"))
			c->ret |= RET_SUBSCRIBED;
		else if (imap_arg_atom_is(o, "CHILDREN"))
			c->ret |= RET_CHILDREN;
		else if (imap_arg_atom_is(o, "SPECIAL-USE"))
			c->ret |= RET_SPECIAL_USE;
		else if (imap_arg_atom_is(o, "STATUS") && i + 1 < a->count &&
			 parse_status_items(&a->list[i + 1], &c->status_items) == 0) {
			c->ret |= RET_STATUS;
			i++;
		} else {
			return -1;
		}
	}
	return 0;
}

/* Reference + pattern, decoded from mUTF-7 (wildcards are ASCII and survive). */
static int add_pattern(struct imap_session *s, struct list_ctx *c, const char *ref, const struct imap_arg *p)
{
	char full[STORE_FOLDER_NAME_MAX * 2 + 2], utf8[STORE_FOLDER_NAME_MAX * 2 + 2];
	const char *pat = imap_arg_astring(p);

	if (pat == NULL || c->n_patterns == LIST_PATTERNS_MAX)
		return -1;
	int n = snprintf(full, sizeof(full), "%s%s", pat[0] == '/' ? "" : ref, pat);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -1;
	if (s->enabled & IMAP_ENABLED_UTF8)
		memcpy(utf8, full, (size_t)n + 1);
	else if (imap_mutf7_to_utf8(full, (size_t)n, utf8, sizeof(utf8)) < 0)
		return -1;
	c->patterns[c->n_patterns++] = xstrdup(utf8);
	return 0;
}

static int list_args(struct imap_session *s, struct imap_cmd *cmd, struct list_ctx *c)
{
	const struct imap_arg *a = cmd->parsed.args;
	size_t n = cmd->parsed.arg_count, i = 0;

	if (!c->lsub && n > 0 && a[0].type == IMAP_ARG_LIST && list_selection(&a[i++], c) < 0)
		return -1;
	if (n < i + 2 || imap_arg_astring(&a[i]) == NULL)
		return -1;
	const char *ref = a[i++].str;
	if (a[i].type == IMAP_ARG_LIST && !c->lsub) {
		for (size_t k = 0; k < a[i].count; k++)
			if (add_pattern(s, c, ref, &a[i].list[k]) < 0)
				return -1;
	} else if (add_pattern(s, c, ref, &a[i]) < 0) {
		return -1;
	}
	i++;
	if (i < n && !c->lsub) {
		if (!imap_arg_atom_is(&a[i], "RETURN") || i + 1 >= n || list_return(&a[i + 1], c) < 0)
			return -1;
		i += 2;
	}
	return i == n ? 0 : -1;
}

enum imap_cmd_result imap_cmd_list(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct list_ctx *c = xcalloc(1, sizeof(*c));

	cmd->ctx = c;
	cmd->ctx_free = list_ctx_free;
	c->address_id = s->address_id;
	c->lsub = strcmp(cmd->parsed.name, "LSUB") == 0;
	if (list_args(s, cmd, c) < 0)
		return imap_cmd_bad(cmd, "Syntax: LIST [(options)] reference pattern [RETURN (options)]");
	/* RFC 3501 6.3.8: an empty pattern asks for the delimiter and the root. */
	if (c->n_patterns == 1 && c->patterns[0][0] == '\0') {
		imap_untagged(s, "%s (\\Noselect) \"/\" \"\"", c->lsub ? "LSUB" : "LIST");
		return imap_cmd_ok(cmd, "%s completed", c->lsub ? "LSUB" : "LIST");
	}
	return imap_cmd_store_call(cmd, STORE_CALL_READ, list_work, list_done);
}
