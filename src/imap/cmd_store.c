/*
 * cmd_store: STORE and UID STORE (RFC 3501 6.4.6, RFC 7162 3.1.3
 * UNCHANGEDSINCE / MODIFIED).
 *
 * All the messages change in one WRITE call (one transaction, one new
 * mod-sequence), durable before any response. Untagged FETCH responses
 * then report the new flags (not with .SILENT), with UID for UID STORE and
 * MODSEQ once CONDSTORE is enabled; with .SILENT and CONDSTORE the changed
 * messages still get "FETCH (MODSEQ (n))" (RFC 7162 3.1.3). Messages that
 * failed UNCHANGEDSINCE are listed in the tagged OK's [MODIFIED ...].
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch.h"
#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct store_ctx {
	int64_t folder_id;
	enum store_flag_op op;
	uint32_t flags;
	char keywords[STORE_KEYWORDS_MAX];
	uint64_t unchangedsince;
	bool has_unchangedsince;
	bool silent;
	uint32_t *seqs;
	size_t count;
	/*
	 * The messages go to the store in batches: a change record carries its
	 * keyword list (STORE_KEYWORDS_MAX bytes), so "STORE 1:*" on a large
	 * mailbox in one piece would cost a client-chosen amount of memory.
	 */
	size_t next;                       /* first message of the current batch */
	size_t batch;                      /* messages in the current batch */
	struct store_flag_change *changes; /* STORE_BATCH_MAX records */
	struct buf modified;               /* MODIFIED set, over all batches */
	size_t nmod;
	const char *err;
	bool failed;
};

#define STORE_BATCH_MAX 512

static void store_ctx_free(void *arg)
{
	struct store_ctx *c = arg;

	free(c->seqs);
	free(c->changes);
	buf_free(&c->modified);
	free(c);
}

static void store_work(struct store *s, void *arg)
{
	struct store_ctx *c = arg;

	c->failed = store_mail_set_flags(s, c->folder_id, c->op, c->flags, c->keywords, c->unchangedsince, c->changes,
					 c->batch, &c->err) < 0;
}

static void write_fetch(struct imap_session *s, struct store_ctx *c, size_t i, bool uid, bool condstore)
{
	const struct store_flag_change *ch = &c->changes[i];
	struct buf b;

	buf_init(&b, 0);
	buf_appendf(&b, "* %u FETCH (", c->seqs[c->next + i]);
	if (uid)
		buf_appendf(&b, "UID %u ", ch->uid);
	if (!c->silent) {
		buf_append(&b, "FLAGS (", 7);
		imap_fetch_format_flags(ch->flags, ch->keywords, imap_view_recent(s, ch->uid), &b);
		buf_append(&b, ")", 1);
	}
	if (condstore)
		buf_appendf(&b, "%sMODSEQ (%llu)", c->silent ? "" : " ", (unsigned long long)ch->modseq);
	buf_append(&b, ")\r\n", 3);
	imap_write(s, b.data, b.len);
	buf_free(&b);
}

static void store_next_batch(struct imap_session *s, struct store_ctx *c)
{
	c->batch = c->count - c->next < STORE_BATCH_MAX ? c->count - c->next : STORE_BATCH_MAX;
	memset(c->changes, 0, c->batch * sizeof(*c->changes));
	for (size_t k = 0; k < c->batch; k++)
		c->changes[k].uid = imap_view_uid(s->view, c->seqs[c->next + k]);
}

static enum imap_cmd_result store_done(struct imap_cmd *cmd)
{
	struct store_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;
	bool condstore = (s->enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) != 0;

	if (c->failed)
		return imap_cmd_no(cmd, "STORE failed: %s", c->err);
	/* RFC 3501 7.2.6: a keyword this STORE set is announced in FLAGS before a FETCH shows it */
	for (size_t i = 0; c->op != STORE_FLAGS_REMOVE && c->keywords[0] != '\0' && i < c->batch; i++)
		if (c->changes[i].changed) {
			imap_view_note_keywords(s, c->keywords);
			break;
		}
	for (size_t i = 0; i < c->batch; i++) {
		const struct store_flag_change *ch = &c->changes[i];
		uint32_t seq = c->seqs[c->next + i];
		if (ch->missing)
			continue; /* expunged by another session meanwhile */
		if (ch->refused) {
			buf_appendf(&c->modified, "%s%u", c->nmod++ ? "," : "", cmd->parsed.uid ? ch->uid : seq);
			continue;
		}
		if (ch->changed)
			imap_view_set_flags(s->view, seq, ch->flags | (ch->keywords[0] ? IMAP_VIEW_KEYWORDS : 0), ch->modseq);
		if (!c->silent || (condstore && ch->changed))
			write_fetch(s, c, i, cmd->parsed.uid, condstore);
	}
	c->next += c->batch;
	if (c->next < c->count) {
		store_next_batch(s, c);
		return imap_cmd_store_call(cmd, STORE_CALL_WRITE, store_work, store_done);
	}
	if (c->nmod > 0)
		return imap_cmd_ok(cmd, "[MODIFIED %s] Conditional STORE failed", c->modified.data);
	return imap_cmd_ok(cmd, "STORE completed");
}

/* "FLAGS", "+FLAGS.SILENT", ... */
static int parse_item(const char *item, struct store_ctx *c)
{
	const char *p = item;

	c->op = STORE_FLAGS_SET;
	if (*p == '+' || *p == '-')
		c->op = *p++ == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
	if (strncasecmp(p, "FLAGS", 5) != 0)
		return -1;
	p += 5;
	if (strcasecmp(p, ".SILENT") == 0)
		c->silent = true;
	else if (*p != '\0')
		return -1;
	return 0;
}

/* (UNCHANGEDSINCE n) (RFC 7162 3.1.3). */
static int parse_modifiers(const struct imap_arg *a, struct store_ctx *c)
{
	if (a->type != IMAP_ARG_LIST || a->count != 2 || !imap_arg_atom_is(&a->list[0], "UNCHANGEDSINCE") ||
	    imap_arg_number(&a->list[1], &c->unchangedsince, false) < 0)
		return -1;
	c->has_unchangedsince = true;
	return 0;
}

static enum imap_cmd_result store_unchangedsince_zero(struct imap_cmd *cmd, struct store_ctx *c)
{
	struct buf b;
	enum imap_cmd_result r;

	/* RFC 7162 3.1.3: UNCHANGEDSINCE 0 always fails (every message has a mod-sequence). */
	buf_init(&b, 0);
	for (size_t i = 0; i < c->count; i++)
		buf_appendf(&b, "%s%u", i ? "," : "",
			    cmd->parsed.uid ? imap_view_uid(cmd->session->view, c->seqs[i]) : c->seqs[i]);
	r = imap_cmd_ok(cmd, "[MODIFIED %s] Conditional STORE failed", b.data);
	buf_free(&b);
	return r;
}

enum imap_cmd_result imap_cmd_store(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_command *p = &cmd->parsed;
	struct store_ctx *c;
	struct imap_seqset set;
	const char *err;
	size_t i = 1;

	if (p->arg_count < 3 || p->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "STORE needs a sequence set, a data item and flags");
	c = xcalloc(1, sizeof(*c));
	buf_init(&c->modified, 0);
	if (p->args[1].type == IMAP_ARG_LIST) {
		if (parse_modifiers(&p->args[1], c) < 0) {
			store_ctx_free(c);
			return imap_cmd_bad(cmd, "invalid STORE modifier (only UNCHANGEDSINCE n)");
		}
		i = 2;
	}
	if (p->arg_count < i + 2 || p->args[i].type != IMAP_ARG_ATOM || parse_item(p->args[i].str, c) < 0) {
		store_ctx_free(c);
		return imap_cmd_bad(cmd, "STORE data item must be FLAGS, +FLAGS or -FLAGS (optionally .SILENT)");
	}
	if (p->arg_count == i + 2) {
		if (imap_arg_flags(&p->args[i + 1], &c->flags, c->keywords, &err) < 0) {
			store_ctx_free(c);
			return imap_cmd_bad(cmd, "%s", err);
		}
	} else { /* flags given without parentheses: "+FLAGS \Seen \Deleted" */
		struct imap_arg list = { .type = IMAP_ARG_LIST, .list = &p->args[i + 1], .count = p->arg_count - i - 1 };
		if (imap_arg_flags(&list, &c->flags, c->keywords, &err) < 0) {
			store_ctx_free(c);
			return imap_cmd_bad(cmd, "%s", err);
		}
	}
	if (imap_parse_seqset(p->args[0].str, p->args[0].len, &set, &err) < 0) {
		store_ctx_free(c);
		return imap_cmd_bad(cmd, "%s", err);
	}
	int rc = imap_view_resolve(s->view, &set, p->uid, &c->seqs, &c->count, &err);
	imap_seqset_free(&set);
	if (rc < 0) {
		store_ctx_free(c);
		return imap_cmd_bad(cmd, "%s", err);
	}
	if (c->has_unchangedsince) /* RFC 7162 3.1: enables CONDSTORE */
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	if (c->count == 0) {
		store_ctx_free(c);
		return imap_cmd_ok(cmd, "STORE completed");
	}
	if (c->has_unchangedsince && c->unchangedsince == 0) {
		enum imap_cmd_result r = store_unchangedsince_zero(cmd, c);
		store_ctx_free(c);
		return r;
	}
	c->folder_id = s->view->folder_id;
	c->changes = xcalloc(c->count < STORE_BATCH_MAX ? c->count : STORE_BATCH_MAX, sizeof(*c->changes));
	store_next_batch(s, c);
	cmd->ctx = c;
	cmd->ctx_free = store_ctx_free;
	return imap_cmd_store_call(cmd, STORE_CALL_WRITE, store_work, store_done);
}
