/*
 * smtp_session: the life of one SMTP connection.
 *
 * A session is a state machine (enum smtp_state, one transition function)
 * fed by its connection's input. Command lines go to smtp_cmd.c; message
 * text (DATA, BDAT) is streamed through the smtp_data filter into a spool
 * with bounded memory, then handed to the store. Some steps are
 * asynchronous (a recipient lookup, a login, a permission check, making a
 * message durable): while one is pending the session stops reading, so
 * pipelined commands wait in the input buffer and are answered in order.
 *
 * What differs between the MX port and submission is the policy
 * (struct smtp_policy), chosen per listener when the client connects.
 *
 * DIAGNOSTICS: every failure a client causes gets a reply that names it,
 * and at worst the end of its own session; nothing here exits the process.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "smtp/smtp_private.h"
#include "smtp/smtp_server.h"
#include "store/store.h"

static const char *const state_names[] = {
	[SMTP_STATE_HELO] = "helo",	  [SMTP_STATE_READY] = "ready",
	[SMTP_STATE_MAIL] = "mail",	  [SMTP_STATE_RCPT] = "rcpt",
	[SMTP_STATE_DATA] = "data",	  [SMTP_STATE_BDAT_CHUNK] = "bdat-chunk",
	[SMTP_STATE_BDAT] = "bdat",	  [SMTP_STATE_TLS] = "tls",
	[SMTP_STATE_COMMIT] = "commit",	  [SMTP_STATE_SASL] = "sasl",
};

/* Message text handed to the policy per call: bounds what submission holds during a check. */
#define SMTP_FEED_MAX (64 * 1024)

static void session_free(struct smtp_session *s);
static void on_conn_event(struct conn *c, enum conn_event ev, void *arg);

bool smtp_busy(const struct smtp_session *s)
{
	return s->pending != NULL || s->auth_req != NULL;
}

void smtp_set_state(struct smtp_session *s, enum smtp_state state)
{
	log_debug("smtp session=%s state=%s->%s", s->id, state_names[s->state], state_names[state]);
	s->state = state;
}

void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_vreply(s->conn, fmt, ap);
	va_end(ap);
}

enum smtp_flow smtp_close(struct smtp_session *s, const char *fmt, ...)
{
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		conn_vreply(s->conn, fmt, ap);
		va_end(ap);
	}
	session_free(s);
	return SMTP_FLOW_CLOSED;
}

enum smtp_flow smtp_count_error(struct smtp_session *s)
{
	if (++s->errors < s->cfg->max_errors)
		return SMTP_FLOW_CONTINUE;
	log_info("smtp session=%s event=disconnect reason=too-many-errors errors=%u", s->id, s->errors);
	return smtp_close(s, "421 4.7.0 %s Error: too many errors", s->cfg->hostname);
}

void smtp_transaction_reset(struct smtp_session *s)
{
	if (s->pending != NULL) {
		/* a check for a message being refused: its answer no longer matters */
		store_req_cancel(s->pending);
		s->pending = NULL;
	}
	s->policy->reset(s);
	memset(&s->from, 0, sizeof(s->from));
	memset(&s->mail_params, 0, sizeof(s->mail_params));
	s->rcpt_accepted = 0;
	s->rcpt_refused = 0;
	s->rcpt_count = 0;
	s->first_rcpt[0] = '\0';
	s->message_id[0] = '\0';
	if (s->spool != NULL) {
		spool_free(s->spool);
		s->spool = NULL;
	}
	s->body_bytes = 0;
	s->too_big = false;
	s->spool_failed = false;
	s->bdat_remaining = 0;
	s->bdat_last = false;
	s->bdat_refusal = NULL;
}

/* Reading stops while a step is pending or the client is not reading our replies. */
void smtp_update_reading(struct smtp_session *s)
{
	if (smtp_busy(s) || s->output_blocked || s->state == SMTP_STATE_TLS)
		conn_pause_read(s->conn);
	else
		conn_resume_read(s->conn);
}

void smtp_arm_command_timer(struct smtp_session *s, unsigned seconds)
{
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };

	if (seconds == 0)
		evtimer_del(s->command_timer);
	else
		evtimer_add(s->command_timer, &tv);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	log_info("smtp session=%s event=disconnect reason=timeout state=%s", s->id, state_names[s->state]);
	smtp_close(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
}

/* ---- message text ------------------------------------------------------------ */

static void format_date(char *buf, size_t size, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

void smtp_spool_put(struct smtp_session *s, const char *p, size_t len)
{
	const char *err;

	if (s->spool == NULL || s->spool_failed)
		return;
	if (spool_write(s->spool, p, len, &err) < 0) {
		log_error("smtp session=%s event=spool-error error=\"%s\"", s->id, err);
		s->spool_failed = true;
	}
}

/*
 * RFC 5321 4.4: the trace header. "with" follows RFC 3848 (ESMTP, ESMTPS
 * when TLS is active, ESMTPA / ESMTPSA after AUTH); "for" names the
 * recipient only when there is one, so that a message stored once for
 * several mailboxes does not reveal the others. Like Postfix with
 * smtpd_sasl_authenticated_header=no, nothing says who logged in.
 * Return-Path is the final delivery's (RFC 5321 4.4): it is written only
 * when every recipient is local, since a message relayed on must not
 * carry one.
 */
static void write_trace_headers(struct smtp_session *s)
{
	char date[64], hdr[2048], tls_part[160] = "", for_part[SMTP_PATH_MAX + 16] = "";
	char return_path[SMTP_PATH_MAX + 32] = "";
	const char *tls = conn_tls_description(s->conn);
	int n;

	if (tls != NULL)
		snprintf(tls_part, sizeof(tls_part), "\r\n\t(%s)", tls);
	if (s->rcpt_accepted == 1)
		snprintf(for_part, sizeof(for_part), "\r\n\tfor <%s>", s->first_rcpt);
	if (s->sub.remote_count == 0 && !inbound_txn_relays(&s->inbound))
		snprintf(return_path, sizeof(return_path), "Return-Path: <%s>\r\n",
			 s->from.null_path ? "" : s->from.address);
	format_date(date, sizeof(date), time(NULL));
	n = snprintf(hdr, sizeof(hdr),
		     "%s"
		     "Received: from %s ([%s])\r\n"
		     "\tby %s (hermod) with %s%s%s id %s%s%s;\r\n"
		     "\t%s\r\n",
		     return_path, s->helo[0] ? s->helo : "unknown", conn_peer_ip(s->conn), s->cfg->hostname,
		     s->esmtp ? "ESMTP" : "SMTP", tls ? "S" : "", s->authenticated ? "A" : "", s->message_id,
		     tls_part, for_part, date);
	if (n > 0 && (size_t)n < sizeof(hdr))
		smtp_spool_put(s, hdr, (size_t)n);
}

static void new_message_id(struct smtp_session *s)
{
	unsigned char raw[6];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(s->message_id, sizeof(s->message_id), raw, sizeof(raw));
}

void smtp_message_begin(struct smtp_session *s, enum smtp_data_mode mode)
{
	new_message_id(s);
	s->spool = spool_new(s->cfg->data_dir);
	s->body_bytes = 0;
	s->too_big = false;
	s->spool_failed = false;
	smtp_data_init(&s->filter, mode);
	write_trace_headers(s);
}

/* The filter's output: message text, counted against the size limit as it arrives. */
static void on_text(const char *p, size_t len, void *arg)
{
	struct smtp_session *s = arg;

	if (s->too_big)
		return;
	s->body_bytes += len;
	if (s->body_bytes > s->policy->size_limit(s)) {
		/* Keep reading to the end of the message, but store nothing more. */
		s->too_big = true;
		spool_free(s->spool);
		s->spool = NULL;
		return;
	}
	s->policy->text(s, p, len);
}

void smtp_resume(struct smtp_session *s)
{
	if (s->closing) {
		smtp_close(s, "421 4.3.2 %s Service shutting down, try again later", s->cfg->hostname);
		return;
	}
	smtp_update_reading(s);
	smtp_process_input(s);
}

void smtp_committed(struct smtp_session *s, int result, const char *errstr, const char *what)
{
	if (result == 0) {
		smtp_reply(s, "250 2.0.0 Ok: %s as %s", what, s->message_id);
		s->messages++;
	} else {
		log_error("smtp session=%s event=store-failed id=%s error=\"%s\"", s->id, s->message_id,
			  errstr ? errstr : "unknown");
		smtp_reply(s, "451 4.3.0 Message not stored: a local storage error occurred, try again later");
	}
	smtp_transaction_reset(s);
	smtp_set_state(s, SMTP_STATE_READY);
	if (!s->closing)
		smtp_arm_command_timer(s, s->cfg->command_timeout_s);
	smtp_resume(s);
}

void smtp_message_refused(struct smtp_session *s, const char *reason, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("smtp session=%s event=refused id=%s reason=%s", s->id, s->message_id, reason);
	smtp_reply(s, "%s", line);
	smtp_transaction_reset(s);
	smtp_set_state(s, SMTP_STATE_READY);
	smtp_arm_command_timer(s, s->cfg->command_timeout_s);
}

enum smtp_flow smtp_message_end(struct smtp_session *s)
{
	smtp_data_finish(&s->filter, on_text, s);
	if (s->filter.smuggling)
		smtp_message_refused(s, "smuggling", "550 5.5.2 Message refused: bare <LF> or <CR> around a lone "
						      "\".\" line (SMTP smuggling)");
	else if (s->too_big)
		smtp_message_refused(s, "too-big", "552 5.3.4 Message too big: the limit is %llu bytes",
				     (unsigned long long)s->policy->size_limit(s));
	else if (s->spool_failed)
		smtp_message_refused(s, "spool-error", "451 4.3.0 Message not stored: a local storage error "
							"occurred, try again later");
	else {
		smtp_set_state(s, SMTP_STATE_COMMIT);
		evtimer_del(s->command_timer);
		return s->policy->commit(s);
	}
	return SMTP_FLOW_CONTINUE;
}

/* Feeds buffered input to the DATA filter. Returns false when more input is needed. */
static bool read_data(struct smtp_session *s, enum smtp_flow *flow)
{
	struct evbuffer *in = conn_input(s->conn);
	struct evbuffer_iovec v;

	/* The end arrived while the policy was checking the header (submission). */
	if (s->filter.ended) {
		*flow = smtp_message_end(s);
		return true;
	}
	while (evbuffer_get_length(in) > 0 && !smtp_busy(s)) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t len = v.iov_len < SMTP_FEED_MAX ? v.iov_len : SMTP_FEED_MAX;
		size_t used = smtp_data_feed(&s->filter, v.iov_base, len, on_text, s);
		evbuffer_drain(in, used);
		if (s->filter.ended) {
			if (smtp_busy(s))
				return false; /* ended during the check: finished when it answers */
			*flow = smtp_message_end(s);
			return true;
		}
	}
	smtp_arm_command_timer(s, s->cfg->data_timeout_s);
	return false;
}

/* Reads the bytes of the current BDAT chunk. Returns false when more input is needed. */
static bool read_chunk(struct smtp_session *s, enum smtp_flow *flow)
{
	struct evbuffer *in = conn_input(s->conn);
	struct evbuffer_iovec v;

	while (s->bdat_remaining > 0 && evbuffer_get_length(in) > 0 && !smtp_busy(s)) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t len = v.iov_len < SMTP_FEED_MAX ? v.iov_len : SMTP_FEED_MAX;
		if (len > s->bdat_remaining)
			len = (size_t)s->bdat_remaining;
		if (s->bdat_refusal == NULL)
			smtp_data_feed(&s->filter, v.iov_base, len, on_text, s);
		evbuffer_drain(in, len);
		s->bdat_remaining -= len;
	}
	if (s->bdat_remaining > 0 || smtp_busy(s)) {
		smtp_arm_command_timer(s, s->cfg->data_timeout_s);
		return false;
	}
	*flow = smtp_cmd_bdat_chunk_done(s);
	return true;
}

static bool output_backlogged(struct smtp_session *s)
{
	if (conn_output_pending(s->conn) <= SMTP_OUTPUT_BACKLOG_MAX)
		return false;
	s->output_blocked = true;
	conn_want_drained(s->conn);
	smtp_update_reading(s);
	return true;
}

/* Handles one complete command line, or the refusal of an unreadable one. */
static enum smtp_flow read_command(struct smtp_session *s, bool *need_more)
{
	struct conn_line line;

	switch (conn_readline(s->conn, s->cfg->command_line_max, &line)) {
	case CONN_READ_NEED_MORE:
		*need_more = true;
		return SMTP_FLOW_CONTINUE;
	case CONN_READ_TOO_LONG:
		if (s->state == SMTP_STATE_SASL)
			smtp_set_state(s, SMTP_STATE_READY); /* the exchange is over */
		smtp_reply(s, "500 5.5.2 Error: line too long (the limit is %zu bytes)", s->cfg->command_line_max);
		return smtp_count_error(s);
	case CONN_READ_LINE:
		break;
	}
	smtp_arm_command_timer(s, s->cfg->command_timeout_s);
	if (line.bare_lf) {
		/* A bare LF is how SMTP smuggling starts: commands end in CRLF only. */
		if (s->state == SMTP_STATE_SASL) {
			sodium_memzero(line.p, line.len); /* it may hold a password */
			smtp_set_state(s, SMTP_STATE_READY);
		}
		smtp_reply(s, "500 5.5.2 Error: bare <LF> received in a command");
		return smtp_count_error(s);
	}
	if (s->state == SMTP_STATE_SASL)
		return smtp_submit_sasl_response(s, &line);
	return smtp_cmd_dispatch(s, &line);
}

void smtp_process_input(struct smtp_session *s)
{
	enum smtp_flow flow = SMTP_FLOW_CONTINUE;
	bool need_more = false;

	while (!need_more && !smtp_busy(s) && !s->output_blocked) {
		switch (s->state) {
		case SMTP_STATE_TLS:
		case SMTP_STATE_COMMIT:
			return;
		case SMTP_STATE_DATA:
			need_more = !read_data(s, &flow);
			break;
		case SMTP_STATE_BDAT_CHUNK:
			need_more = !read_chunk(s, &flow);
			break;
		default:
			flow = read_command(s, &need_more);
			break;
		}
		if (flow == SMTP_FLOW_CLOSED || output_backlogged(s))
			return;
	}
}

static void on_conn_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtp_session *s = arg;

	switch (ev) {
	case CONN_EV_DATA:
		smtp_process_input(s);
		break;
	case CONN_EV_DRAINED:
		s->output_blocked = false;
		smtp_update_reading(s);
		smtp_process_input(s);
		break;
	case CONN_EV_TLS_READY:
		/* RFC 3207 4.2: forget everything learned before the handshake. */
		log_info("smtp session=%s event=starttls tls=\"%s\"", s->id, conn_tls_description(c));
		s->esmtp = false;
		s->helo[0] = '\0';
		smtp_transaction_reset(s);
		smtp_submit_forget_auth(s);
		smtp_set_state(s, SMTP_STATE_HELO);
		smtp_update_reading(s);
		smtp_process_input(s);
		break;
	case CONN_EV_TIMEOUT:
		on_timeout(-1, 0, s);
		break;
	case CONN_EV_EOF:
	case CONN_EV_ERROR:
		log_info("smtp session=%s event=disconnect reason=%s state=%s", s->id,
			 ev == CONN_EV_EOF ? "client-closed" : "io-error", state_names[s->state]);
		session_free(s);
		break;
	}
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void session_free(struct smtp_session *s)
{
	struct smtp_server *ss = s->server;

	if (s->pending != NULL)
		store_req_cancel(s->pending);
	s->pending = NULL;
	smtp_submit_forget_auth(s); /* cancels a login in flight */
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		ss->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	ss->session_count--;

	event_free(s->command_timer);
	event_free(s->session_timer);
	smtp_transaction_reset(s);
	free(s->rcpt_ids);
	server_conn_done(ss->srv, s->conn);
	conn_close(s->conn);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

static void on_accept(struct server *srv, struct conn *c, const struct listen_cfg *lc, void *arg)
{
	struct smtp_server *ss = arg;
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	unsigned char raw[6];
	struct timeval session_tv = { .tv_sec = ss->cfg->session_timeout_s, .tv_usec = 0 };

	s->server = ss;
	s->cfg = ss->cfg;
	s->policy = lc->service == LISTEN_SMTP ? &smtp_policy_mx : &smtp_policy_submission;
	s->conn = c;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(s->id, sizeof(s->id), raw, sizeof(raw));
	s->command_timer = evtimer_new(ss->base, on_timeout, s);
	s->session_timer = evtimer_new(ss->base, on_timeout, s);
	s->next = ss->sessions;
	if (ss->sessions != NULL)
		ss->sessions->prev = s;
	ss->sessions = s;
	ss->session_count++;

	log_info("smtp session=%s event=connect ip=%s port=%u tls=%s policy=%s", s->id, conn_peer_ip(c), lc->port,
		 conn_is_tls(c) ? "yes" : "no", s->policy->name);
	evtimer_add(s->session_timer, &session_tv);
	smtp_arm_command_timer(s, s->cfg->command_timeout_s);
	smtp_set_state(s, SMTP_STATE_HELO);
	conn_set_timeout(c, 0); /* our own timers: a trickling client must not reset them */
	conn_set_cb(c, on_conn_event, s);
	smtp_reply(s, "220 %s ESMTP hermod", s->cfg->hostname);
}

static void on_refuse(int fd, enum server_refusal why, unsigned limit, const char *peer_ip, void *arg)
{
	struct smtp_server *ss = arg;
	char line[512];
	int n;

	if (why == SERVER_REFUSE_PER_IP)
		n = snprintf(line, sizeof(line), "421 4.7.0 %s Error: too many connections from %s (limit %u)\r\n",
			     ss->cfg->hostname, peer_ip, limit);
	else
		n = snprintf(line, sizeof(line),
			     "421 4.3.2 %s Error: too many connections (limit %u), try again later\r\n",
			     ss->cfg->hostname, limit);
	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) < 0)
		log_debug("smtp event=refuse-write-failed ip=%s", peer_ip);
}

struct smtp_server *smtp_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg)
{
	struct smtp_server *ss = xcalloc(1, sizeof(*ss));
	struct server_handler h = { .accept = on_accept, .refuse = on_refuse, .arg = ss };

	ss->base = base;
	ss->srv = srv;
	ss->store = store;
	ss->auth = auth;
	ss->cfg = cfg;
	ss->inbound = inbound_new(store);
	server_set_handler(srv, LISTEN_SMTP, &h);
	server_set_handler(srv, LISTEN_SUBMISSION, &h);
	server_set_handler(srv, LISTEN_SUBMISSIONS, &h);
	return ss;
}

void smtp_server_set_queued_hook(struct smtp_server *ss, void (*hook)(void *arg), void *arg)
{
	ss->on_queued = hook;
	ss->on_queued_arg = arg;
	inbound_set_queued_hook(ss->inbound, hook, arg);
}

void smtp_server_set_config(struct smtp_server *ss, const struct config *cfg)
{
	ss->cfg = cfg;
}

void smtp_server_shutdown(struct smtp_server *ss)
{
	struct smtp_session *s, *next;

	ss->shutting_down = true;
	for (s = ss->sessions; s != NULL; s = next) {
		next = s->next;
		if (smtp_busy(s)) {
			s->closing = true; /* answered first, then closed */
			continue;
		}
		log_info("smtp session=%s event=disconnect reason=shutdown state=%s", s->id, state_names[s->state]);
		smtp_close(s, "421 4.3.2 %s Service shutting down, try again later", s->cfg->hostname);
	}
}

size_t smtp_server_session_count(const struct smtp_server *ss)
{
	return ss->session_count;
}

void smtp_server_free(struct smtp_server *ss)
{
	while (ss->sessions != NULL)
		session_free(ss->sessions);
	inbound_free(ss->inbound);
	free(ss);
}
