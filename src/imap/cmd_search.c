/*
 * cmd_search: SEARCH and UID SEARCH (RFC 3501 6.4.4, RFC 9051 6.4.4),
 * ESEARCH return options (RFC 4731), MODSEQ (RFC 7162 3.1.5).
 *
 * Full-text indexing runs in the background (imap_search_index_step, the
 * store writer's idle work), so neither delivery nor SEARCH waits for it.
 * A body not indexed yet is a candidate anyway: the index only narrows,
 * and the RFC substring match decides every result.
 *
 * SEARCHRES (RFC 5182): RETURN (SAVE) keeps the result's UIDs in the view
 * (imap_view_set_saved), and "$" names them in any sequence set (UIDs
 * whether or not after UID) until the next SAVE or the next SELECT.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_private.h"
#include "imap/imap_search.h"
#include "lib/log.h"
#include "lib/xalloc.h"


struct search_ctx {
	struct imap_search_program prog;
	int64_t folder_id;
	struct imap_search_scope scope;
	struct imap_search_result res;
	const char *err;
	bool failed;
};

static void search_ctx_free(void *arg)
{
	struct search_ctx *c = arg;

	imap_search_free(&c->prog);
	imap_search_result_free(&c->res);
	imap_search_scope_free(&c->scope);
	free(c);
}

static void search_work(struct store *s, void *arg)
{
	struct search_ctx *c = arg;

	c->failed = imap_search_run(s, c->folder_id, &c->prog, &c->scope, &c->res, &c->err) < 0;
}

/* Appends numbers as a sequence set with ranges ("1:3,7"): ESEARCH ALL. */
static void append_set(struct buf *b, const uint32_t *nums, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && nums[j + 1] == nums[j] + 1)
			j++;
		if (j > i)
			buf_appendf(b, "%s%u:%u", i ? "," : "", nums[i], nums[j]);
		else
			buf_appendf(b, "%s%u", i ? "," : "", nums[i]);
		i = j + 1;
	}
}

static uint32_t hit_num(const struct imap_search_hit *h, bool uid)
{
	return uid ? h->uid : h->seq;
}

static void write_esearch(struct imap_cmd *cmd, unsigned opts, const uint32_t *nums, size_t n, uint64_t modseq,
			  bool with_modseq)
{
	struct buf b;

	buf_init(&b, 0);
	buf_append(&b, "* ESEARCH (TAG \"", 16);
	buf_append(&b, cmd->parsed.tag, strlen(cmd->parsed.tag));
	buf_append(&b, "\")", 2);
	if (cmd->parsed.uid)
		buf_append(&b, " UID", 4);
	if ((opts & IMAP_SEARCH_RETURN_MIN) && n > 0)
		buf_appendf(&b, " MIN %u", nums[0]);
	if ((opts & IMAP_SEARCH_RETURN_MAX) && n > 0)
		buf_appendf(&b, " MAX %u", nums[n - 1]);
	if (opts & IMAP_SEARCH_RETURN_COUNT)
		buf_appendf(&b, " COUNT %zu", n);
	if ((opts & IMAP_SEARCH_RETURN_ALL) && n > 0) {
		buf_append(&b, " ALL ", 5);
		append_set(&b, nums, n);
	}
	if (with_modseq && n > 0)
		buf_appendf(&b, " MODSEQ %llu", (unsigned long long)modseq);
	buf_append(&b, "\r\n", 2);
	imap_write(cmd->session, b.data, b.len);
	buf_free(&b);
}

static enum imap_cmd_result search_done(struct imap_cmd *cmd)
{
	struct search_ctx *c = cmd->ctx;
	struct imap_session *s = cmd->session;
	bool uid = cmd->parsed.uid;
	uint32_t *nums;

	unsigned opts = c->prog.return_opts;
	if (opts & IMAP_SEARCH_RETURN_SAVE) {
		/* RFC 5182 2.4: a failed SEARCH ... RETURN (SAVE) leaves "$" empty */
		uint32_t *saved = NULL;
		size_t n_saved = 0;
		if (!c->failed)
			imap_search_saved(opts, &c->res, &saved, &n_saved);
		imap_view_set_saved(s->view, saved, n_saved);
	}
	if (c->failed) {
		log_warn("imap session=%s event=search_failed error=\"%s\"", s->id, c->err);
		return imap_cmd_no(cmd, "SEARCH failed: %s", c->err);
	}
	nums = xmalloc((c->res.count ? c->res.count : 1) * sizeof(*nums));
	for (size_t i = 0; i < c->res.count; i++)
		nums[i] = hit_num(&c->res.hits[i], uid);
	if (opts == IMAP_SEARCH_RETURN_SAVE) {
		/* RFC 5182 2.4: SAVE alone is answered by the tagged OK only */
	} else if (c->prog.esearch || (s->enabled & IMAP_ENABLED_IMAP4REV2)) {
		/* IMAP4rev2 (RFC 9051 7.3.4) answers every SEARCH with ESEARCH. */
		write_esearch(cmd, c->prog.esearch ? opts : IMAP_SEARCH_RETURN_ALL, nums, c->res.count,
			      c->res.highest_modseq, c->prog.has_modseq);
	} else {
		struct buf b;
		buf_init(&b, 0);
		buf_append(&b, "* SEARCH", 8);
		for (size_t i = 0; i < c->res.count; i++)
			buf_appendf(&b, " %u", nums[i]);
		if (c->prog.has_modseq && c->res.count > 0)
			buf_appendf(&b, " (MODSEQ %llu)", (unsigned long long)c->res.highest_modseq);
		buf_append(&b, "\r\n", 2);
		imap_write(s, b.data, b.len);
		buf_free(&b);
	}
	free(nums);
	return imap_cmd_ok(cmd, "SEARCH completed");
}

static enum imap_cmd_result search_indexed(struct imap_cmd *cmd)
{
	return imap_cmd_store_call(cmd, STORE_CALL_READ, search_work, search_done);
}

/* Shared by SEARCH, SORT and THREAD: the view's UIDs and the folder for the store thread. */
static struct search_ctx *search_ctx_new(struct imap_session *s)
{
	struct search_ctx *c = xcalloc(1, sizeof(*c));
	const struct imap_view *v = s->view;

	c->folder_id = v->folder_id;
	imap_view_search_scope(s, &c->scope);
	return c;
}

static enum imap_cmd_result parse_failed(struct imap_cmd *cmd, struct search_ctx *c, const char *err)
{
	bool badcharset = c->prog.badcharset;

	search_ctx_free(c);
	if (badcharset)
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] %s", err);
	return imap_cmd_bad(cmd, "%s", err);
}

enum imap_cmd_result imap_cmd_search(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct search_ctx *c = search_ctx_new(s);
	const char *err;

	if (imap_search_parse(cmd->parsed.args, cmd->parsed.arg_count, &c->prog, &err) < 0)
		return parse_failed(cmd, c, err);
	if (c->prog.has_modseq) /* RFC 7162 3.1: MODSEQ enables CONDSTORE */
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	cmd->ctx = c;
	cmd->ctx_free = search_ctx_free;
	return search_indexed(cmd);
}
