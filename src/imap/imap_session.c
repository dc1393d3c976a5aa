/*
 * imap_session: the life of one IMAP connection.
 *
 * Input is assembled into one complete command before anything runs: its
 * lines (each bounded by command_line_max) and the literals between them
 * (bounded by literal_max, the whole command by IMAP_COMMAND_MAX). APPEND
 * message literals are streamed to a spool, bounded by max_message_size,
 * and appear in the text as a marker (imap_parser.h). The parsed command
 * then runs through the table (imap_cmd.c) under the contract documented in
 * imap_private.h; while it runs, input is not read, so pipelined commands
 * are answered in order and a slow store never lets input pile up.
 *
 * Per-connection memory between commands is this struct, the conn, and a
 * view when a mailbox is selected: the command buffer and its literals are
 * freed when the command ends.
 *
 * DIAGNOSTICS: everything a client causes gets a tagged or untagged BAD/NO
 * naming the cause, and at worst the end of its own session.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "imap/imap_private.h"
#include "imap/imap_server.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store.h"

struct imap_input {
	struct buf text;          /* the command so far */
	char tag[IMAP_TAG_MAX + 1];
	uint64_t literal_left;    /* bytes of the literal being read */
	bool in_literal;
	bool to_spool;            /* the literal is an APPEND message */
	bool spool_failed;
	struct spool **spools;
	size_t spool_count;
};

struct imap_async {
	struct store_req *req;
	struct imap_session *session; /* NULL once cancelled */
	void *ctx;
	void (*ctx_free)(void *ctx);
	void (*done)(struct imap_session *s, void *ctx);
	store_work_fn work;
};

static void session_free(struct imap_session *s);
static void process_input(struct imap_session *s);
static void run_step(struct imap_cmd *cmd);

static const char *state_name(enum imap_state st)
{
	switch (st) {
	case IMAP_STATE_NOT_AUTHENTICATED:
		return "not-authenticated";
	case IMAP_STATE_AUTHENTICATED:
		return "authenticated";
	case IMAP_STATE_SELECTED:
		return "selected";
	case IMAP_STATE_LOGOUT:
		return "logout";
	}
	return "?";
}

/* RFC 3501 3: the legal moves of the state diagram. */
void imap_set_state(struct imap_session *s, enum imap_state state)
{
	bool legal = state == IMAP_STATE_LOGOUT || state == s->state ||
		     (s->state == IMAP_STATE_NOT_AUTHENTICATED && state == IMAP_STATE_AUTHENTICATED) ||
		     (s->state == IMAP_STATE_AUTHENTICATED && state == IMAP_STATE_SELECTED) ||
		     (s->state == IMAP_STATE_SELECTED && state == IMAP_STATE_AUTHENTICATED);
	ASSERT(legal);
	log_debug("imap session=%s state=%s->%s", s->id, state_name(s->state), state_name(state));
	s->state = state;
}

bool imap_count_error(struct imap_session *s)
{
	return ++s->errors >= s->cfg->max_errors;
}

static bool is_loopback(const char *ip)
{
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0;
}

bool imap_login_allowed(const struct imap_session *s)
{
	if (conn_is_tls(s->conn))
		return true;
	switch ((enum plaintext_auth)s->cfg->plaintext_auth) {
	case PLAINTEXT_AUTH_ALWAYS:
		return true;
	case PLAINTEXT_AUTH_LOOPBACK:
		return is_loopback(conn_peer_ip(s->conn));
	case PLAINTEXT_AUTH_NEVER:
		break;
	}
	return false;
}

/* ---- tagged replies --------------------------------------------------------------- */

static enum imap_cmd_result __attribute__((format(printf, 3, 0)))
set_tagged(struct imap_cmd *cmd, const char *status, const char *fmt, va_list ap)
{
	char text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	free(cmd->tagged);
	cmd->tagged = xasprintf("%s %s %s\r\n", cmd->parsed.tag[0] ? cmd->parsed.tag : "*", status, text);
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_tagged(cmd, "OK", fmt, ap);
	va_end(ap);
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_tagged(cmd, "NO", fmt, ap);
	va_end(ap);
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_tagged(cmd, "BAD", fmt, ap);
	va_end(ap);
	cmd->session->errors++;
	return IMAP_CMD_DONE;
}

bool imap_cmd_output_full(const struct imap_cmd *cmd)
{
	return conn_output_pending(cmd->session->conn) > IMAP_OUTPUT_CHUNK;
}

/* ---- asynchronous steps ------------------------------------------------------------ */

/* On a store thread: the work sees only its ctx. */
static void async_work(struct store *st, void *arg)
{
	struct imap_async *a = arg;
	a->work(st, a->ctx);
}

static void async_done(void *arg, bool cancelled)
{
	struct imap_async *a = arg;

	if (cancelled || a->session == NULL) {
		if (a->ctx_free != NULL && a->ctx != NULL)
			a->ctx_free(a->ctx);
		free(a);
		return;
	}
	struct imap_session *s = a->session;
	void *ctx = a->ctx;
	void (*done)(struct imap_session *, void *) = a->done;
	free(a);
	done(s, ctx);
}

struct imap_async *imap_async_start(struct imap_session *s, enum store_call_kind kind, store_work_fn work,
				    void *ctx, void (*ctx_free)(void *ctx),
				    void (*done)(struct imap_session *s, void *ctx))
{
	struct imap_async *a = xcalloc(1, sizeof(*a));

	a->session = s;
	a->ctx = ctx;
	a->ctx_free = ctx_free;
	a->done = done;
	a->work = work;
	a->req = store_async_call(s->server->store, kind, async_work, async_done, a);
	return a;
}

void imap_async_cancel(struct imap_async *a)
{
	a->session = NULL;
	store_req_cancel(a->req);
}

static void cmd_async_done(struct imap_session *s, void *ctx)
{
	struct imap_cmd *cmd = s->cmd;

	ASSERT(cmd != NULL && cmd->ctx == ctx);
	cmd->async = NULL;
	run_step(cmd);
	if (!s->dead && s->cmd == NULL)
		process_input(s);
}

enum imap_cmd_result imap_cmd_store_call(struct imap_cmd *cmd, enum store_call_kind kind, store_work_fn work,
					 imap_cmd_fn then)
{
	ASSERT(cmd->ctx != NULL && cmd->async == NULL);
	cmd->run = then;
	cmd->async = imap_async_start(cmd->session, kind, work, cmd->ctx, cmd->ctx_free, cmd_async_done);
	return IMAP_CMD_WAIT;
}

enum imap_cmd_result imap_cmd_want_line(struct imap_cmd *cmd, const char *prompt, imap_cmd_fn then)
{
	imap_printf(cmd->session, "+ %s\r\n", prompt);
	cmd->run = then;
	buf_free(&cmd->line);
	return IMAP_CMD_LINE;
}

void imap_cmd_resume(struct imap_cmd *cmd, imap_cmd_fn then)
{
	struct imap_session *s = cmd->session;

	cmd->run = then;
	run_step(cmd);
	if (s->cmd == NULL)
		process_input(s);
}

/* ---- the end of a command ------------------------------------------------------------ */

static void input_free(struct imap_input *in)
{
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->spool_count; i++)
		if (in->spools[i] != NULL)
			spool_free(in->spools[i]);
	free(in->spools);
	buf_free(&in->text);
	free(in);
}

static void cmd_free(struct imap_cmd *cmd)
{
	if (cmd->async != NULL) {
		/* The store still works on ctx: the async releases it when done. */
		imap_async_cancel(cmd->async);
		cmd->ctx = NULL;
	}
	if (cmd->auth != NULL)
		auth_req_cancel(cmd->auth);
	if (cmd->ctx != NULL && cmd->ctx_free != NULL)
		cmd->ctx_free(cmd->ctx);
	for (size_t i = 0; i < cmd->spool_count; i++)
		if (cmd->spools[i] != NULL)
			spool_free(cmd->spools[i]);
	free(cmd->spools);
	buf_free(&cmd->line);
	free(cmd->tagged);
	imap_command_free(&cmd->parsed);
	free(cmd);
}

static bool can_read(const struct imap_session *s)
{
	if (s->dead || s->tls_pending || s->output_blocked || s->syncing)
		return false;
	/* A running command reads only the line it asked for. */
	return s->cmd == NULL || s->cmd->want_line;
}

static void update_reading(struct imap_session *s)
{
	if (s->dead)
		return;
	if (can_read(s))
		conn_resume_read(s->conn);
	else
		conn_pause_read(s->conn);
}

static void set_timeout(struct imap_session *s)
{
	if (s->dead)
		return;
	/* RFC 3501 5.4: an autologout timer of at least 30 minutes once logged in. */
	conn_set_timeout(s->conn, s->state == IMAP_STATE_NOT_AUTHENTICATED ? s->cfg->command_timeout_s
									 : s->cfg->idle_timeout_s);
}

static void close_session(struct imap_session *s, const char *bye)
{
	if (bye != NULL)
		imap_printf(s, "* BYE %s\r\n", bye);
	session_free(s);
}

static void write_tagged_and_end(struct imap_session *s)
{
	struct imap_cmd *cmd = s->cmd;

	if (cmd->tagged != NULL)
		imap_write(s, cmd->tagged, strlen(cmd->tagged));
	bool logout = cmd->logout;
	s->cmd = NULL;
	s->idling = false;
	cmd_free(cmd);
	if (logout) {
		log_info("imap session=%s event=disconnect reason=logout", s->id);
		session_free(s);
		return;
	}
	if (s->closing) {
		close_session(s, "Server shutting down");
		return;
	}
	if (s->errors >= s->cfg->max_errors) {
		log_info("imap session=%s event=disconnect reason=too-many-errors errors=%u", s->id, s->errors);
		close_session(s, "Too many errors");
		return;
	}
	set_timeout(s);
	update_reading(s);
}

static void after_finish_sync(struct imap_session *s)
{
	write_tagged_and_end(s);
}

/* The command is done: sync the view at this safe point (RFC 3501 7.4.1), then reply. */
static void cmd_finish(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	bool no_expunge = (cmd->def != NULL && (cmd->def->flags & IMAP_CMDF_NO_EXPUNGE) && !cmd->parsed.uid);

	if (s->view != NULL && s->view->dirty && !no_expunge && !cmd->logout && cmd->tagged != NULL &&
	    strncmp(cmd->tagged + strlen(cmd->parsed.tag) + 1, "BAD", 3) != 0) {
		imap_view_sync(s, true, after_finish_sync);
		return;
	}
	write_tagged_and_end(s);
}

static void run_step(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;

	switch (cmd->run(cmd)) {
	case IMAP_CMD_DONE:
		cmd_finish(cmd);
		return;
	case IMAP_CMD_AGAIN:
		s->output_blocked = true;
		conn_want_drained(s->conn);
		break;
	case IMAP_CMD_WAIT:
		break;
	case IMAP_CMD_LINE:
		buf_init(&cmd->line, s->cfg->command_line_max);
		cmd->want_line = true;
		break;
	}
	update_reading(s);
}

/* ---- dispatch -------------------------------------------------------------------------- */

static void reply_untagged_bad(struct imap_session *s, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_untagged_bad(struct imap_session *s, const char *tag, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	imap_printf(s, "%s BAD %s\r\n", tag[0] ? tag : "*", text);
}

/* Checks state, UID form, privacy and read-only before the handler runs; NULL if allowed. */
static const char *refusal(struct imap_session *s, const struct imap_cmd_def *def, bool uid, bool *bad_r)
{
	*bad_r = true;
	if (uid && !(def->flags & (IMAP_CMDF_UID | IMAP_CMDF_UID_ONLY)))
		return "This command has no UID form";
	if (!uid && (def->flags & IMAP_CMDF_UID_ONLY))
		return "This command needs the UID prefix";
	if (!(def->states & s->state)) {
		if (s->state == IMAP_STATE_NOT_AUTHENTICATED)
			return "Log in first";
		if (def->states == IMAP_STATE_SELECTED)
			return "No mailbox selected";
		return "Command not valid in this state";
	}
	*bad_r = false;
	if ((def->flags & IMAP_CMDF_LOGIN) && !imap_login_allowed(s))
		return "[PRIVACYREQUIRED] Plaintext authentication is disabled: use STARTTLS or the TLS port";
	if ((def->flags & IMAP_CMDF_WRITE) && s->view != NULL && s->view->readonly)
		return "[READ-ONLY] The mailbox is read-only (opened with EXAMINE)";
	return NULL;
}

/* Runs one assembled command. Takes the spools. */
static void dispatch(struct imap_session *s, struct imap_input *in)
{
	struct imap_cmd *cmd = xcalloc(1, sizeof(*cmd));
	const char *err;
	bool bad;

	cmd->session = s;
	cmd->spools = in->spools;
	cmd->spool_count = in->spool_count;
	in->spools = NULL;
	in->spool_count = 0;
	s->cmd = cmd;
	if (imap_parse_command(in->text.data, in->text.len, &cmd->parsed, &err) < 0) {
		imap_cmd_bad(cmd, "Error in IMAP command: %s", err);
		cmd_finish(cmd);
		return;
	}
	const char *name = cmd->parsed.uid ? cmd->parsed.name + 4 : cmd->parsed.name;
	cmd->def = imap_cmd_find(name);
	if (cmd->def == NULL) {
		imap_cmd_bad(cmd, "Unknown command %s", cmd->parsed.name);
		cmd_finish(cmd);
		return;
	}
	err = refusal(s, cmd->def, cmd->parsed.uid, &bad);
	if (err != NULL) {
		if (bad)
			imap_cmd_bad(cmd, "%s", err);
		else
			imap_cmd_no(cmd, "%s", err);
		cmd->def = NULL; /* no safe-point sync for a refused command */
		cmd_finish(cmd);
		return;
	}
	cmd->run = cmd->def->run;
	run_step(cmd);
}

/* ---- reading commands ----------------------------------------------------------------- */

static void take_tag(struct imap_input *in, const char *line, size_t len)
{
	size_t n = 0;

	while (n < len && n < IMAP_TAG_MAX && line[n] != ' ' && (unsigned char)line[n] > 0x20)
		n++;
	memcpy(in->tag, line, n);
	in->tag[n] = '\0';
}

static void abandon_input(struct imap_session *s)
{
	input_free(s->input);
	s->input = NULL;
}

/*
 * Whether a literal announced at the end of the text so far is an APPEND
 * message: the command is APPEND (RFC 3501 6.3.11, RFC 3502 MULTIAPPEND)
 * and the text before the announcement parses as complete arguments after
 * the mailbox name (so "{n}" is not inside a flag list).
 */
static bool is_append_message(struct imap_input *in, size_t announce_at)
{
	struct imap_command c;
	const char *err;
	bool yes = false;

	if (imap_parse_command(in->text.data, announce_at, &c, &err) < 0)
		return false;
	if (strcmp(c.name, "APPEND") == 0 && c.arg_count >= 1)
		yes = true;
	imap_command_free(&c);
	return yes;
}

static bool refuse_literal(struct imap_session *s, bool nonsync, uint64_t n, uint64_t limit, const char *what)
{
	struct imap_input *in = s->input;

	log_info("imap session=%s event=literal-refused size=%llu limit=%llu", s->id, (unsigned long long)n,
		 (unsigned long long)limit);
	if (nonsync) {
		/* RFC 7888 4: the client sends the bytes anyway; we will not read them. */
		imap_printf(s, "%s BAD [TOOBIG] %s of %llu bytes exceeds the limit of %llu bytes\r\n",
			    in->tag[0] ? in->tag : "*", what, (unsigned long long)n, (unsigned long long)limit);
		close_session(s, "Literal too big");
		return false;
	}
	imap_printf(s, "%s NO [TOOBIG] %s of %llu bytes exceeds the limit of %llu bytes\r\n",
		    in->tag[0] ? in->tag : "*", what, (unsigned long long)n, (unsigned long long)limit);
	abandon_input(s);
	return true;
}

/* A line ended in a literal announcement. Returns false when the session closed. */
static bool begin_literal(struct imap_session *s, const char *line, size_t len, uint64_t n, bool nonsync)
{
	struct imap_input *in = s->input;
	size_t announce_at = in->text.len - len + (size_t)(strrchr(line, '{') - line);

	if (announce_at > 0 && in->text.data[announce_at - 1] == '~')
		announce_at--;
	if (is_append_message(in, announce_at)) {
		if (n > s->cfg->max_message_size)
			return refuse_literal(s, nonsync, n, s->cfg->max_message_size, "Message");
		if (in->spool_count >= IMAP_APPEND_MESSAGES_MAX)
			return refuse_literal(s, nonsync, in->spool_count, IMAP_APPEND_MESSAGES_MAX, "MULTIAPPEND");
		in->text.len = announce_at;
		char marker[24];
		int m = snprintf(marker, sizeof(marker), "%c%zu%c", IMAP_SPOOL_MARKER, in->spool_count,
				 IMAP_SPOOL_MARKER);
		if (buf_append(&in->text, marker, (size_t)m) < 0)
			return refuse_literal(s, nonsync, n, IMAP_COMMAND_MAX, "Command");
		in->spools = xrealloc(in->spools, (in->spool_count + 1) * sizeof(*in->spools));
		in->spools[in->spool_count++] = spool_new(s->cfg->data_dir);
		in->to_spool = true;
	} else {
		if (n > s->cfg->literal_max)
			return refuse_literal(s, nonsync, n, s->cfg->literal_max, "Literal");
		if (in->text.len + 2 + n > IMAP_COMMAND_MAX || buf_append(&in->text, "\r\n", 2) < 0)
			return refuse_literal(s, nonsync, in->text.len + n, IMAP_COMMAND_MAX, "Command");
		in->to_spool = false;
	}
	in->in_literal = true;
	in->literal_left = n;
	if (!nonsync)
		imap_printf(s, "+ Ready for literal data\r\n");
	return true;
}

/* Reads the bytes of the current literal. Returns false when more input is needed. */
static bool read_literal(struct imap_session *s)
{
	struct imap_input *in = s->input;
	struct evbuffer *ev = conn_input(s->conn);
	struct evbuffer_iovec v;
	const char *err;

	while (in->literal_left > 0 && evbuffer_get_length(ev) > 0) {
		if (evbuffer_peek(ev, -1, NULL, &v, 1) < 1)
			break;
		size_t len = v.iov_len < in->literal_left ? v.iov_len : (size_t)in->literal_left;
		if (in->to_spool) {
			struct spool *sp = in->spools[in->spool_count - 1];
			if (!in->spool_failed && spool_write(sp, v.iov_base, len, &err) < 0) {
				log_error("imap session=%s event=spool-error error=\"%s\"", s->id, err);
				in->spool_failed = true;
			}
		} else if (buf_append(&in->text, v.iov_base, len) < 0) {
			ASSERT(!"literal was bounded before reading");
		}
		evbuffer_drain(ev, len);
		in->literal_left -= len;
	}
	if (in->literal_left > 0)
		return false;
	in->in_literal = false;
	return true;
}

/* A line the running command asked for (AUTHENTICATE, IDLE). */
static void line_for_command(struct imap_session *s, const struct conn_line *line)
{
	struct imap_cmd *cmd = s->cmd;

	cmd->want_line = false;
	buf_reset(&cmd->line);
	if (buf_append(&cmd->line, line->p, line->len) < 0)
		ASSERT(!"conn_readline bounded the line");
	run_step(cmd);
}

/* One line of a command. Returns false when the session closed. */
static bool command_line(struct imap_session *s, const struct conn_line *line)
{
	uint64_t n;
	bool nonsync, binary;

	if (s->input == NULL) {
		if (line->len == 0)
			return true; /* an empty line between commands: ignore it, as Dovecot does */
		s->input = xcalloc(1, sizeof(*s->input));
		buf_init(&s->input->text, IMAP_COMMAND_MAX);
		take_tag(s->input, line->p, line->len);
	}
	struct imap_input *in = s->input;
	if (memchr(line->p, '\0', line->len) != NULL) {
		reply_untagged_bad(s, in->tag, "NUL byte in a command line");
		abandon_input(s);
		return true;
	}
	if (buf_append(&in->text, line->p, line->len) < 0) {
		reply_untagged_bad(s, in->tag, "[TOOBIG] Command too long (the limit is %d bytes)", IMAP_COMMAND_MAX);
		abandon_input(s);
		return true;
	}
	switch (imap_line_literal(slice_make(line->p, line->len), &n, &nonsync, &binary)) {
	case 1:
		return begin_literal(s, line->p, line->len, n, nonsync);
	case -1:
		reply_untagged_bad(s, in->tag, "Invalid literal announcement");
		abandon_input(s);
		return true;
	default:
		break;
	}
	if (in->spool_failed) {
		imap_printf(s, "%s NO [SERVERBUG] The message could not be spooled; try again later\r\n",
			    in->tag[0] ? in->tag : "*");
		abandon_input(s);
		return true;
	}
	s->input = NULL;
	dispatch(s, in);
	input_free(in);
	return true;
}

/* Returns false when no more can be done now (need input, waiting, or closed). */
static bool read_one(struct imap_session *s, bool *closed)
{
	struct conn_line line;

	if (s->input != NULL && s->input->in_literal)
		return read_literal(s);
	switch (conn_readline(s->conn, s->cfg->command_line_max, &line)) {
	case CONN_READ_NEED_MORE:
		return false;
	case CONN_READ_TOO_LONG:
		reply_untagged_bad(s, s->input ? s->input->tag : "",
				   "[TOOBIG] Command line too long (the limit is %zu bytes)", s->cfg->command_line_max);
		abandon_input(s);
		if (imap_count_error(s)) {
			*closed = true;
			close_session(s, "Too many errors");
			return false;
		}
		return true;
	case CONN_READ_LINE:
		break;
	}
	if (s->cmd != NULL) {
		line_for_command(s, &line);
		return true;
	}
	if (!command_line(s, &line)) {
		*closed = true;
		return false;
	}
	return true;
}

static void process_input(struct imap_session *s)
{
	bool closed = false;

	while (can_read(s)) {
		bool progress = read_one(s, &closed);
		if (closed || s->dead)
			return;
		if (!progress)
			break;
		if (conn_output_pending(s->conn) > IMAP_OUTPUT_CHUNK && s->cmd == NULL) {
			/* The client pipelines without reading our replies: wait for it. */
			s->output_blocked = true;
			conn_want_drained(s->conn);
			break;
		}
	}
	update_reading(s);
}

/* ---- IDLE and watch notifications ------------------------------------------------------ */

static void after_idle_sync(struct imap_session *s)
{
	update_reading(s);
	if (s->idling && s->view != NULL && s->view->dirty)
		imap_session_sync_idle(s);
	else if (s->cmd != NULL)
		process_input(s);
}

void imap_session_sync_idle(struct imap_session *s)
{
	if (s->idling && !s->syncing && s->view != NULL && s->view->dirty)
		imap_view_sync(s, true, after_idle_sync);
}

static void on_watch(int64_t folder_id, void *arg)
{
	struct imap_session *s = arg;

	if (s->view == NULL || s->view->folder_id != folder_id)
		return;
	s->view->dirty = true;
	imap_session_sync_idle(s);
}

void imap_session_select(struct imap_session *s, struct imap_view *v)
{
	if (s->view != NULL)
		imap_session_unselect(s);
	s->view = v;
	v->watch = store_async_watch(s->server->store, v->folder_id, on_watch, s);
	imap_set_state(s, IMAP_STATE_SELECTED);
}

void imap_session_unselect(struct imap_session *s)
{
	if (s->view != NULL) {
		if (s->view->watch != NULL)
			store_async_unwatch(s->view->watch);
		imap_view_free(s->view);
		s->view = NULL;
	}
	if (s->state == IMAP_STATE_SELECTED)
		imap_set_state(s, IMAP_STATE_AUTHENTICATED);
}

/* ---- connection events -------------------------------------------------------------------- */

static void on_conn_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct imap_session *s = arg;

	switch (ev) {
	case CONN_EV_DATA:
		process_input(s);
		break;
	case CONN_EV_DRAINED:
		if (s->output_blocked && s->cmd != NULL) {
			s->output_blocked = false;
			run_step(s->cmd); /* after IMAP_CMD_AGAIN: the handler continues */
			if (s->dead || s->cmd != NULL || s->output_blocked)
				break;
		}
		s->output_blocked = false;
		process_input(s);
		break;
	case CONN_EV_TLS_READY:
		/* RFC 3501 6.2.1: the client must discard what it learned; so do we. */
		log_info("imap session=%s event=starttls tls=\"%s\"", s->id, conn_tls_description(c));
		s->tls_pending = false;
		update_reading(s);
		process_input(s);
		break;
	case CONN_EV_TIMEOUT:
		log_info("imap session=%s event=disconnect reason=timeout state=%s", s->id, state_name(s->state));
		close_session(s, "Disconnected for inactivity");
		break;
	case CONN_EV_EOF:
	case CONN_EV_ERROR:
		log_info("imap session=%s event=disconnect reason=%s state=%s", s->id,
			 ev == CONN_EV_EOF ? "client-closed" : "io-error", state_name(s->state));
		session_free(s);
		break;
	}
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/*
 * Ending a session. The decision to end is often taken deep inside a call
 * chain (LOGOUT's reply, too many errors, a timeout, a failed write) whose
 * callers still hold the session and its command, so session_free makes the
 * session inert at once — no more input, output, timers, store or auth
 * callbacks; out of the server's list — and leaves the memory to the
 * server's reaper, which runs in a later event-loop iteration.
 */
static void session_free(struct imap_session *s)
{
	struct imap_server *is = s->server;
	struct imap_cmd *cmd = s->cmd;

	if (s->dead)
		return;
	s->dead = true;
	if (cmd != NULL && cmd->async != NULL) {
		/* The store still works on ctx: the async releases it when done. */
		imap_async_cancel(cmd->async);
		cmd->async = NULL;
		cmd->ctx = NULL;
	}
	if (cmd != NULL && cmd->auth != NULL) {
		auth_req_cancel(cmd->auth);
		cmd->auth = NULL;
	}
	if (s->sync != NULL) {
		imap_async_cancel(s->sync);
		s->sync = NULL;
	}
	if (s->view != NULL && s->view->watch != NULL) {
		store_async_unwatch(s->view->watch);
		s->view->watch = NULL;
	}
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		is->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	is->session_count--;
	server_conn_done(is->srv, s->conn);
	conn_close(s->conn); /* no more callbacks; writes until the reaper are harmless */
	s->prev = NULL;
	s->next = is->dead;
	is->dead = s;
	event_active(is->reaper, EV_TIMEOUT, 0);
}

static void session_release(struct imap_session *s)
{
	if (s->cmd != NULL)
		cmd_free(s->cmd);
	input_free(s->input);
	imap_session_unselect(s);
	free(s->address);
	free(s);
}

static void reap_sessions(evutil_socket_t fd, short what, void *arg)
{
	struct imap_server *is = arg;

	while (is->dead != NULL) {
		struct imap_session *s = is->dead;
		is->dead = s->next;
		session_release(s);
	}
}

static void on_accept(struct server *srv, struct conn *c, const struct listen_cfg *lc, void *arg)
{
	struct imap_server *is = arg;
	struct imap_session *s = xcalloc(1, sizeof(*s));
	unsigned char raw[6];
	char caps[1024];

	s->server = is;
	s->cfg = is->cfg;
	s->conn = c;
	s->state = IMAP_STATE_NOT_AUTHENTICATED;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(s->id, sizeof(s->id), raw, sizeof(raw));
	s->next = is->sessions;
	if (is->sessions != NULL)
		is->sessions->prev = s;
	is->sessions = s;
	is->session_count++;

	log_info("imap session=%s event=connect ip=%s port=%u tls=%s", s->id, conn_peer_ip(c), lc->port,
		 conn_is_tls(c) ? "yes" : "no");
	conn_set_cb(c, on_conn_event, s);
	set_timeout(s);
	imap_capability_string(s, caps, sizeof(caps));
	imap_printf(s, "* OK [CAPABILITY %s] %s IMAP ready (hermod)\r\n", caps, s->cfg->hostname);
}

static void on_refuse(int fd, enum server_refusal why, unsigned limit, const char *peer_ip, void *arg)
{
	char line[256];
	int n;

	if (why == SERVER_REFUSE_PER_IP)
		n = snprintf(line, sizeof(line), "* BYE [UNAVAILABLE] Too many connections from %s (limit %u)\r\n",
			     peer_ip, limit);
	else
		n = snprintf(line, sizeof(line), "* BYE [UNAVAILABLE] Too many connections (limit %u), try again later\r\n",
			     limit);
	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) < 0)
		log_debug("imap event=refuse-write-failed ip=%s", peer_ip);
}

struct imap_server *imap_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg)
{
	struct imap_server *is = xcalloc(1, sizeof(*is));
	struct server_handler h = { .accept = on_accept, .refuse = on_refuse, .arg = is };

	is->base = base;
	is->srv = srv;
	is->store = store;
	is->auth = auth;
	is->cfg = cfg;
	is->reaper = event_new(base, -1, 0, reap_sessions, is);
	is->viewcache = imap_viewcache_new(base, IMAP_VIEWCACHE_BYTES);
	server_set_handler(srv, LISTEN_IMAP, &h);
	server_set_handler(srv, LISTEN_IMAPS, &h);
	return is;
}

void imap_server_set_config(struct imap_server *is, const struct config *cfg)
{
	is->cfg = cfg;
}

void imap_server_shutdown(struct imap_server *is)
{
	struct imap_session *s, *next;

	is->shutting_down = true;
	for (s = is->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->cmd != NULL && !s->idling && (s->cmd->async != NULL || s->syncing)) {
			s->closing = true; /* answered first, then BYE */
			continue;
		}
		log_info("imap session=%s event=disconnect reason=shutdown state=%s", s->id, state_name(s->state));
		close_session(s, "Server shutting down");
	}
}

size_t imap_server_session_count(const struct imap_server *is)
{
	return is->session_count;
}

void imap_server_free(struct imap_server *is)
{
	while (is->sessions != NULL)
		session_free(is->sessions);
	reap_sessions(-1, 0, is);
	event_free(is->reaper);
	imap_viewcache_free(is->viewcache); /* snapshots still used by pending calls live on in them */
	free(is);
}
