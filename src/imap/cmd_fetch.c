/*
 * cmd_fetch: FETCH and UID FETCH (RFC 3501 6.4.5, RFC 9051 6.4.5, RFC 3516
 * BINARY, RFC 7162 CHANGEDSINCE / VANISHED).
 *
 * The messages are fetched in batches so that FETCH 1:* on a huge mailbox
 * never holds the whole response: each batch is rendered on a store READ
 * thread into a buffer (at most FETCH_BATCH messages or about
 * IMAP_OUTPUT_CHUNK bytes), written, and the next batch starts only once
 * the output has drained (IMAP_CMD_AGAIN). A non-PEEK body fetch first sets
 * \Seen on the batch in a WRITE call (durable before the data is sent).
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch.h"
#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define FETCH_BATCH 500
/*
 * Items that need no message data (UID, FLAGS, MODSEQ, INTERNALDATE,
 * RFC822.SIZE) cost well under a microsecond per message to render, so
 * such a FETCH takes ten times as many messages per store round trip.
 */
#define FETCH_BATCH_METADATA 5000

struct fetch_ctx {
	struct imap_fetch_spec spec;
	struct imap_seqset set;  /* as given (VANISHED reports only UIDs in it) */
	int64_t folder_id;
	uint32_t *seqs, *uids; /* the messages, ascending */
	size_t count, pos;     /* pos: the first not yet rendered */
	size_t end;            /* the batch: [pos, end) */
	bool set_seen;         /* \Seen must be stored (writable mailbox, non-PEEK item) */
	bool condstore;
	bool vanished_done;
	struct store_flag_change *changes; /* the batch's \Seen changes */
	struct buf out;
	uint32_t *vanished;    /* VANISHED (EARLIER) UIDs */
	size_t vanished_count, vanished_cap;
	const char *err;
	bool unknown_cte;
	/* READ work: the batch's walk */
	size_t walk;
	struct store *store;
	struct imap_fetch_flagtab *flagtab; /* answering from the view with imap_fetch_render_meta */
	struct imap_uid_range *recent;      /* the session's \Recent runs, for the store thread */
	size_t recent_count;
};

static void fetch_ctx_free(void *arg)
{
	struct fetch_ctx *c = arg;

	imap_fetch_spec_free(&c->spec);
	imap_seqset_free(&c->set);
	free(c->seqs);
	free(c->uids);
	free(c->changes);
	free(c->vanished);
	free(c->flagtab);
	free(c->recent);
	buf_free(&c->out);
	free(c);
}

static enum imap_cmd_result fetch_next(struct imap_cmd *cmd);

/* ---- store thread ------------------------------------------------------------------------ */

static void seen_work(struct store *s, void *arg)
{
	struct fetch_ctx *c = arg;
	size_t n = c->end - c->pos;

	for (size_t i = 0; i < n; i++) {
		memset(&c->changes[i], 0, sizeof(c->changes[i]));
		c->changes[i].uid = c->uids[c->pos + i];
	}
	(void)store_mail_set_flags(s, c->folder_id, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "", 0, c->changes, n, &c->err);
}

static bool seen_changed(const struct fetch_ctx *c, size_t i)
{
	return c->set_seen && c->changes[i - c->pos].changed;
}

/* One message of the batch, in UID order (store_mail_list callback). */
static int render_one(const struct store_mail *m, void *arg)
{
	struct fetch_ctx *c = arg;

	while (c->walk < c->end && c->uids[c->walk] < m->uid)
		c->walk++; /* expunged meanwhile, or unchanged since CHANGEDSINCE: no response (RFC 2180 4.1.2) */
	if (c->walk >= c->end)
		return 1;
	if (c->uids[c->walk] != m->uid)
		return 0;
	struct imap_fetch_msg msg = { .seq = c->seqs[c->walk], .mail = m, .flags_changed = seen_changed(c, c->walk),
				      .modseq = c->condstore,
				      .recent = imap_uid_ranges_contain(c->recent, c->recent_count, m->uid) };
	struct imap_msg_data d;
	imap_msg_data_init(&d);
	int rc = imap_fetch_render(c->store, &c->spec, &msg, &d, &c->out, &c->err);
	imap_msg_data_free(&d);
	if (rc < 0) {
		c->unknown_cte = c->err == imap_fetch_unknown_cte;
		return 1;
	}
	c->walk++;
	return 0;
}

static void vanished_add(uint32_t uid, void *arg)
{
	struct fetch_ctx *c = arg;

	if (c->vanished_count == c->vanished_cap) {
		c->vanished_cap = c->vanished_cap ? c->vanished_cap * 2 : 64;
		c->vanished = xrealloc(c->vanished, c->vanished_cap * sizeof(uint32_t));
	}
	c->vanished[c->vanished_count++] = uid;
}

static void render_work(struct store *s, void *arg)
{
	struct fetch_ctx *c = arg;

	c->store = s;
	c->err = NULL;
	buf_reset(&c->out);
	if (c->spec.vanished && !c->vanished_done &&
	    store_mail_expunged_since(s, c->folder_id, c->spec.changedsince, vanished_add, c, &c->err) < 0)
		return;
	c->walk = c->pos;
	if (c->pos < c->count && store_mail_list(s, c->folder_id, c->uids[c->pos], c->spec.changedsince, render_one, c, &c->err) < 0)
		return;
	c->store = NULL;
}

/* ---- loop thread -------------------------------------------------------------------------- */

/* RFC 7162 3.2.6: VANISHED (EARLIER) for the UIDs of the set expunged since CHANGEDSINCE. */
static void write_vanished(struct imap_session *s, struct fetch_ctx *c)
{
	struct buf b;
	size_t n = 0;
	const struct imap_view *v = s->view;
	uint32_t star = v->count ? imap_view_uid(v, v->count) : 0;

	buf_init(&b, 0);
	for (size_t i = 0; i < c->vanished_count; i++) {
		uint32_t u = c->vanished[i];
		if (!imap_seqset_contains(&c->set, u, star))
			continue;
		buf_appendf(&b, "%s%u", n++ ? "," : "", u);
	}
	if (n > 0)
		imap_untagged(s, "VANISHED (EARLIER) %s", b.data);
	buf_free(&b);
}

static enum imap_cmd_result render_done(struct imap_cmd *cmd)
{
	struct fetch_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;

	if (c->err != NULL && c->out.len == 0 && c->walk == c->pos) {
		if (c->unknown_cte)
			return imap_cmd_no(cmd, "[UNKNOWN-CTE] cannot decode the part: %s", c->err);
		log_warn("imap session=%s event=fetch_failed error=\"%s\"", s->id, c->err);
		return imap_cmd_no(cmd, "FETCH failed: %s", c->err);
	}
	if (c->spec.vanished && !c->vanished_done) {
		c->vanished_done = true;
		write_vanished(s, c);
	}
	if (c->out.len > 0)
		imap_write(s, c->out.data, c->out.len);
	if (c->err != NULL) {
		if (c->unknown_cte)
			return imap_cmd_no(cmd, "[UNKNOWN-CTE] cannot decode the part: %s", c->err);
		return imap_cmd_no(cmd, "FETCH failed: %s", c->err);
	}
	for (size_t i = c->pos; c->set_seen && i < c->end; i++) {
		const struct store_flag_change *ch = &c->changes[i - c->pos];
		if (ch->changed)
			imap_view_set_flags(s->view, c->seqs[i], ch->flags | (ch->keywords[0] ? IMAP_VIEW_KEYWORDS : 0),
					    ch->modseq);
	}
	c->pos = c->end;
	if (c->pos >= c->count)
		return imap_cmd_ok(cmd, "FETCH completed");
	cmd->run = fetch_next;
	if (imap_cmd_output_full(cmd))
		return IMAP_CMD_AGAIN;
	return fetch_next(cmd);
}

static enum imap_cmd_result seen_done(struct imap_cmd *cmd)
{
	struct fetch_ctx *c = cmd->ctx;

	if (c->err != NULL)
		return imap_cmd_no(cmd, "FETCH failed: cannot set \\Seen: %s", c->err);
	return imap_cmd_store_call(cmd, STORE_CALL_READ, render_work, render_done);
}

/* Starts the next batch. */
static enum imap_cmd_result fetch_next(struct imap_cmd *cmd)
{
	struct fetch_ctx *c = cmd->ctx;

	size_t batch = c->spec.need_message || c->spec.need_mime ? FETCH_BATCH : FETCH_BATCH_METADATA;

	if (c->set_seen)
		batch = FETCH_BATCH; /* c->changes holds one batch */
	c->end = c->pos + batch < c->count ? c->pos + batch : c->count;
	c->err = NULL;
	if (c->set_seen)
		return imap_cmd_store_call(cmd, STORE_CALL_WRITE, seen_work, seen_done);
	return imap_cmd_store_call(cmd, STORE_CALL_READ, render_work, render_done);
}

/* ---- answering from the view ----------------------------------------------------------- */

/*
 * FETCH (UID FLAGS MODSEQ) - what a client asks to resynchronise - needs
 * nothing the view does not hold, unless a message has keywords (the view
 * keeps only the fact, IMAP_VIEW_KEYWORDS). Such a FETCH is answered on the
 * loop from the view, without a store round trip, rendered by the same
 * imap_fetch_render as the store path.
 */
static bool view_answers(const struct imap_session *s, const struct fetch_ctx *c)
{
	const struct imap_view *v = s->view;

	if (c->spec.vanished || c->spec.changedsince > 0 || c->set_seen)
		return false;
	for (size_t i = 0; i < c->spec.count; i++) {
		enum imap_fetch_kind k = c->spec.items[i].kind;
		if (k != IMAP_FETCH_UID && k != IMAP_FETCH_FLAGS && k != IMAP_FETCH_MODSEQ)
			return false;
	}
	for (size_t i = 0; i < c->count; i++)
		if (v->flags[c->seqs[i] - 1] & IMAP_VIEW_KEYWORDS)
			return false;
	return true;
}

static enum imap_cmd_result fetch_from_view(struct imap_cmd *cmd)
{
	struct fetch_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;
	const struct imap_view *v = s->view;
	static const struct store_mail none; /* no keywords, no body */
	struct store_mail m = none;
	struct imap_msg_data d;

	imap_msg_data_init(&d);
	buf_reset(&c->out);
	if (c->flagtab == NULL && imap_fetch_meta_only(&c->spec)) {
		c->flagtab = xmalloc(sizeof(*c->flagtab));
		imap_fetch_flagtab_init(c->flagtab);
	}
	for (; c->pos < c->count && c->out.len < IMAP_OUTPUT_CHUNK; c->pos++) {
		uint32_t seq = c->seqs[c->pos];
		bool recent = imap_view_recent(s, v->uids[seq - 1]);
		if (c->flagtab != NULL && !recent) { /* the table has no \Recent */
			imap_fetch_render_meta(&c->spec, c->flagtab, seq, v->uids[seq - 1],
					       v->flags[seq - 1] & ~IMAP_VIEW_KEYWORDS, v->modseqs[seq - 1], &c->out);
			continue;
		}
		struct imap_fetch_msg msg = { .seq = seq, .mail = &m, .modseq = c->condstore, .recent = recent };
		m.uid = v->uids[seq - 1];
		m.flags = v->flags[seq - 1] & ~IMAP_VIEW_KEYWORDS;
		m.modseq = v->modseqs[seq - 1];
		if (imap_fetch_render(NULL, &c->spec, &msg, &d, &c->out, &c->err) < 0)
			break; /* cannot happen for these items; answered below */
	}
	imap_msg_data_free(&d);
	if (c->out.len > 0)
		imap_write(s, c->out.data, c->out.len);
	if (c->err != NULL)
		return imap_cmd_no(cmd, "FETCH failed: %s", c->err);
	if (c->pos >= c->count)
		return imap_cmd_ok(cmd, "FETCH completed");
	cmd->run = fetch_from_view;
	return IMAP_CMD_AGAIN; /* the rest once the client has read this */
}

static enum imap_cmd_result fetch_start(struct imap_cmd *cmd, struct fetch_ctx *c)
{
	struct imap_session *s = cmd->session;

	if (c->count == 0 && !c->spec.vanished)
		return imap_cmd_ok(cmd, "FETCH completed");
	c->folder_id = s->view->folder_id;
	c->set_seen = c->spec.set_seen && !s->view->readonly;
	c->condstore = (s->enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) != 0;
	if (view_answers(s, c)) {
		cmd->ctx = c;
		cmd->ctx_free = fetch_ctx_free;
		return fetch_from_view(cmd);
	}
	c->uids = xmalloc((c->count ? c->count : 1) * sizeof(uint32_t));
	for (size_t i = 0; i < c->count; i++)
		c->uids[i] = imap_view_uid(s->view, c->seqs[i]);
	if (!(s->enabled & IMAP_ENABLED_IMAP4REV2) && s->view->recent_count > 0) {
		c->recent_count = s->view->recent_count;
		c->recent = xmalloc(c->recent_count * sizeof(*c->recent));
		memcpy(c->recent, s->view->recent, c->recent_count * sizeof(*c->recent));
	}
	if (c->set_seen)
		c->changes = xcalloc(FETCH_BATCH, sizeof(*c->changes));
	cmd->ctx = c;
	cmd->ctx_free = fetch_ctx_free;
	return fetch_next(cmd);
}

enum imap_cmd_result imap_cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_command *p = &cmd->parsed;
	struct fetch_ctx *c;
	const char *err;

	if (p->arg_count < 2 || p->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "FETCH needs a sequence set and data items");
	c = xcalloc(1, sizeof(*c));
	buf_init(&c->out, 0);
	if (imap_parse_seqset(p->args[0].str, p->args[0].len, &c->set, &err) < 0 ||
	    imap_fetch_parse(p->args + 1, p->arg_count - 1, p->uid, &c->spec, &err) < 0 ||
	    imap_view_resolve(s->view, &c->set, p->uid, &c->seqs, &c->count, &err) < 0) {
		fetch_ctx_free(c);
		return imap_cmd_bad(cmd, "%s", err);
	}
	if (c->spec.vanished && !(s->enabled & IMAP_ENABLED_QRESYNC)) {
		fetch_ctx_free(c);
		return imap_cmd_bad(cmd, "VANISHED needs ENABLE QRESYNC first");
	}
	/* RFC 7162 3.1: CHANGEDSINCE enables CONDSTORE for the session. */
	if (c->spec.changedsince > 0)
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	enum imap_cmd_result r = fetch_start(cmd, c);
	if (cmd->ctx != c)
		fetch_ctx_free(c);
	return r;
}
