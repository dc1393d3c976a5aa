/*
 * cmd_thread: THREAD and UID THREAD (RFC 5256 3, ORDEREDSUBJECT and
 * REFERENCES). One READ call: the search, each hit's header data (the
 * stored header too for REFERENCES), the threading; the thread list is
 * written as one "* THREAD" line.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_private.h"
#include "imap/imap_search.h"
#include "imap/imap_sort.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct thread_ctx {
	enum imap_thread_algo algo;
	struct imap_search_program prog;
	bool uid;
	int64_t folder_id;
	struct imap_search_scope scope;
	struct imap_search_result res;
	struct buf out;
	const char *err;
	bool failed;
};

static void thread_ctx_free(void *arg)
{
	struct thread_ctx *c = arg;

	imap_search_free(&c->prog);
	imap_search_result_free(&c->res);
	buf_free(&c->out);
	imap_search_scope_free(&c->scope);
	free(c);
}

static void thread_work(struct store *s, void *arg)
{
	struct thread_ctx *c = arg;
	struct imap_sort_msg *msgs;

	if (imap_search_run(s, c->folder_id, &c->prog, &c->scope, &c->res, &c->err) < 0 ||
	    imap_sort_collect(s, &c->res, c->algo == IMAP_THREAD_REFERENCES, &msgs, &c->err) < 0) {
		c->failed = true;
		return;
	}
	buf_append(&c->out, "* THREAD ", 9);
	imap_thread_run(c->algo, msgs, c->res.count, c->uid, &c->out);
	buf_append(&c->out, "\r\n", 2);
	for (size_t i = 0; i < c->res.count; i++)
		imap_sort_msg_clear(&msgs[i]);
	free(msgs);
}

static enum imap_cmd_result thread_done(struct imap_cmd *cmd)
{
	struct thread_ctx *c = cmd->ctx;

	if (c->failed)
		return imap_cmd_no(cmd, "THREAD failed: %s", c->err);
	imap_write(cmd->session, c->out.data, c->out.len);
	return imap_cmd_ok(cmd, "THREAD completed");
}

enum imap_cmd_result imap_cmd_thread(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_command *p = &cmd->parsed;
	struct thread_ctx *c;
	const char *err, *charset;

	if (p->arg_count < 3 || p->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "THREAD needs an algorithm, a charset and search criteria");
	c = xcalloc(1, sizeof(*c));
	buf_init(&c->out, 0);
	if (imap_thread_parse(p->args[0].str, &c->algo) < 0) {
		thread_ctx_free(c);
		return imap_cmd_bad(cmd, "unknown threading algorithm (ORDEREDSUBJECT or REFERENCES)");
	}
	charset = imap_arg_astring(&p->args[1]);
	if (charset == NULL || (strcasecmp(charset, "UTF-8") != 0 && strcasecmp(charset, "US-ASCII") != 0)) {
		thread_ctx_free(c);
		return imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] only UTF-8 and US-ASCII are supported");
	}
	if (imap_search_parse_criteria(p->args + 2, p->arg_count - 2, &c->prog, &err) < 0) {
		thread_ctx_free(c);
		return imap_cmd_bad(cmd, "%s", err);
	}
	c->uid = p->uid;
	c->folder_id = s->view->folder_id;
	imap_view_search_scope(s, &c->scope);
	cmd->ctx = c;
	cmd->ctx_free = thread_ctx_free;
	return imap_cmd_store_call(cmd, STORE_CALL_READ, thread_work, thread_done);
}
