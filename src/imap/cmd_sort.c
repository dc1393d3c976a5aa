/*
 * cmd_sort: SORT and UID SORT (RFC 5256 3), ESORT return options (RFC 5267
 * 3.2: MIN, MAX, COUNT, ALL in sort order), DISPLAYFROM/DISPLAYTO (RFC 5957).
 *
 * One READ call: the search (imap_search_run), then each hit's header data
 * (imap_sort_collect, from the MIME cache), then the sort.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_private.h"
#include "imap/imap_search.h"
#include "imap/imap_sort.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct sort_ctx {
	struct imap_sort_program sort;
	struct imap_search_program prog;
	bool esort;
	unsigned return_opts;
	int64_t folder_id;
	struct imap_search_scope scope;
	struct imap_search_result res;
	size_t *order;
	const char *err;
	bool failed;
};

static void sort_ctx_free(void *arg)
{
	struct sort_ctx *c = arg;

	imap_search_free(&c->prog);
	imap_search_result_free(&c->res);
	imap_search_scope_free(&c->scope);
	free(c->order);
	free(c);
}

static void sort_work(struct store *s, void *arg)
{
	struct sort_ctx *c = arg;
	struct imap_sort_msg *msgs;

	if (imap_search_run(s, c->folder_id, &c->prog, &c->scope, &c->res, &c->err) < 0 ||
	    imap_sort_collect(s, &c->res, false, &msgs, &c->err) < 0) {
		c->failed = true;
		return;
	}
	c->order = xmalloc((c->res.count ? c->res.count : 1) * sizeof(size_t));
	for (size_t i = 0; i < c->res.count; i++)
		c->order[i] = i;
	imap_sort_run(&c->sort, msgs, c->order, c->res.count);
	for (size_t i = 0; i < c->res.count; i++)
		imap_sort_msg_clear(&msgs[i]);
	free(msgs);
}

static void write_esort(struct imap_cmd *cmd, struct sort_ctx *c, struct buf *b)
{
	bool uid = cmd->parsed.uid;
	size_t n = c->res.count;

	buf_appendf(b, "* ESEARCH (TAG \"%s\")%s", cmd->parsed.tag, uid ? " UID" : "");
	if ((c->return_opts & IMAP_SEARCH_RETURN_MIN) && n > 0) {
		const struct imap_search_hit *h = &c->res.hits[c->order[0]];
		buf_appendf(b, " MIN %u", uid ? h->uid : h->seq);
	}
	if ((c->return_opts & IMAP_SEARCH_RETURN_MAX) && n > 0) {
		const struct imap_search_hit *h = &c->res.hits[c->order[n - 1]];
		buf_appendf(b, " MAX %u", uid ? h->uid : h->seq);
	}
	if (c->return_opts & IMAP_SEARCH_RETURN_COUNT)
		buf_appendf(b, " COUNT %zu", n);
	if ((c->return_opts & IMAP_SEARCH_RETURN_ALL) && n > 0) {
		buf_append(b, " ALL ", 5);
		for (size_t i = 0; i < n; i++) {
			const struct imap_search_hit *h = &c->res.hits[c->order[i]];
			buf_appendf(b, "%s%u", i ? "," : "", uid ? h->uid : h->seq);
		}
	}
	buf_append(b, "\r\n", 2);
}

static enum imap_cmd_result sort_done(struct imap_cmd *cmd)
{
	struct sort_ctx *c = cmd->ctx;
	struct buf b;

	if (c->failed)
		return imap_cmd_no(cmd, "SORT failed: %s", c->err);
	buf_init(&b, 0);
	if (c->esort) {
		write_esort(cmd, c, &b);
	} else {
		buf_append(&b, "* SORT", 6);
		for (size_t i = 0; i < c->res.count; i++) {
			const struct imap_search_hit *h = &c->res.hits[c->order[i]];
			buf_appendf(&b, " %u", cmd->parsed.uid ? h->uid : h->seq);
		}
		if (c->prog.has_modseq && c->res.count > 0)
			buf_appendf(&b, " (MODSEQ %llu)", (unsigned long long)c->res.highest_modseq);
		buf_append(&b, "\r\n", 2);
	}
	imap_write(cmd->session, b.data, b.len);
	buf_free(&b);
	return imap_cmd_ok(cmd, "SORT completed");
}

static int parse_return(const struct imap_arg *a, struct sort_ctx *c)
{
	static const struct { const char *name; unsigned bit; } opts[] = {
		{ "MIN", IMAP_SEARCH_RETURN_MIN }, { "MAX", IMAP_SEARCH_RETURN_MAX },
		{ "ALL", IMAP_SEARCH_RETURN_ALL }, { "COUNT", IMAP_SEARCH_RETURN_COUNT },
	};

	if (a->type != IMAP_ARG_LIST)
		return -1;
	c->esort = true;
	for (size_t i = 0; i < a->count; i++) {
		size_t k;
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (imap_arg_atom_is(&a->list[i], opts[k].name))
				break;
		if (k == sizeof(opts) / sizeof(opts[0]))
			return -1;
		c->return_opts |= opts[k].bit;
	}
	if (c->return_opts == 0)
		c->return_opts = IMAP_SEARCH_RETURN_ALL;
	return 0;
}

static enum imap_cmd_result sort_refuse(struct imap_cmd *cmd, struct sort_ctx *c, const char *err, bool no)
{
	sort_ctx_free(c);
	if (no)
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] %s", err);
	return imap_cmd_bad(cmd, "%s", err);
}

enum imap_cmd_result imap_cmd_sort(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_command *p = &cmd->parsed;
	struct sort_ctx *c = xcalloc(1, sizeof(*c));
	const char *err, *charset;
	size_t i = 0;

	if (p->arg_count >= 2 && imap_arg_atom_is(&p->args[0], "RETURN")) {
		if (parse_return(&p->args[1], c) < 0)
			return sort_refuse(cmd, c, "invalid SORT RETURN options", false);
		i = 2;
	}
	if (p->arg_count < i + 3)
		return sort_refuse(cmd, c, "SORT needs sort criteria, a charset and search criteria", false);
	if (imap_sort_parse(&p->args[i], &c->sort, &err) < 0)
		return sort_refuse(cmd, c, err, false);
	if ((charset = imap_arg_astring(&p->args[i + 1])) == NULL)
		return sort_refuse(cmd, c, "SORT needs a charset", false);
	if (strcasecmp(charset, "UTF-8") != 0 && strcasecmp(charset, "US-ASCII") != 0)
		return sort_refuse(cmd, c, "only UTF-8 and US-ASCII are supported", true);
	if (imap_search_parse_criteria(p->args + i + 2, p->arg_count - i - 2, &c->prog, &err) < 0)
		return sort_refuse(cmd, c, err, false);
	c->folder_id = s->view->folder_id;
	imap_view_search_scope(s, &c->scope);
	cmd->ctx = c;
	cmd->ctx_free = sort_ctx_free;
	return imap_cmd_store_call(cmd, STORE_CALL_READ, sort_work, sort_done);
}
