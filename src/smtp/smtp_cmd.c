/*
 * smtp_cmd: the SMTP command table and its handlers (RFC 5321 4.1, RFC 1870
 * SIZE, RFC 3030 CHUNKING, RFC 3207 STARTTLS, RFC 2920 PIPELINING).
 *
 * Each row names a verb and its handler. A handler checks sequence and
 * syntax first (a specific 5xx reply and an error counted), then asks the
 * session's policy. The MX policy is here: mail for hosted domains only,
 * never relayed; the submission policy is in smtp_submit.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "smtp/smtp_private.h"
#include "store/store.h"

struct smtp_cmd_def {
	enum smtp_verb verb;
	enum smtp_flow (*run)(struct smtp_session *s, struct slice args);
};

/* Replies with a sequence or syntax error and counts it. */
static enum smtp_flow refuse(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	return smtp_count_error(s);
}

static bool in_transaction(const struct smtp_session *s)
{
	return s->state == SMTP_STATE_MAIL || s->state == SMTP_STATE_RCPT || s->state == SMTP_STATE_BDAT;
}

/* ---- session commands ---------------------------------------------------------- */

static enum smtp_flow greet(struct smtp_session *s, struct slice args, bool esmtp)
{
	char domain[SMTP_DOMAIN_MAX + 1];
	const char *reply;

	if (smtp_parse_helo(args, domain, sizeof(domain), &reply) < 0)
		return refuse(s, reply);
	/* RFC 5321 4.1.4: EHLO/HELO mid-transaction resets it, like RSET. */
	smtp_transaction_reset(s);
	memcpy(s->helo, domain, sizeof(s->helo));
	s->esmtp = esmtp;
	smtp_set_state(s, SMTP_STATE_READY);
	if (!esmtp) {
		smtp_reply(s, "250 %s", s->cfg->hostname);
		return SMTP_FLOW_CONTINUE;
	}
	smtp_reply(s, "250-%s Hello %s [%s]", s->cfg->hostname, domain, conn_peer_ip(s->conn));
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)s->policy->size_limit(s));
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	s->policy->ehlo_keywords(s);
	if (!conn_is_tls(s->conn) && server_tls_ctx(s->server->srv) != NULL)
		smtp_reply(s, "250-STARTTLS");
	smtp_reply(s, "250 CHUNKING");
	return SMTP_FLOW_CONTINUE;
}

static enum smtp_flow cmd_ehlo(struct smtp_session *s, struct slice args)
{
	return greet(s, args, true);
}

static enum smtp_flow cmd_helo(struct smtp_session *s, struct slice args)
{
	return greet(s, args, false);
}

static enum smtp_flow cmd_rset(struct smtp_session *s, struct slice args)
{
	if (args.len != 0)
		return refuse(s, "501 5.5.4 Syntax: RSET");
	smtp_transaction_reset(s);
	if (s->state != SMTP_STATE_HELO)
		smtp_set_state(s, SMTP_STATE_READY);
	smtp_reply(s, "250 2.0.0 Ok");
	return SMTP_FLOW_CONTINUE;
}

static enum smtp_flow cmd_noop(struct smtp_session *s, struct slice args)
{
	smtp_reply(s, "250 2.0.0 Ok");
	return SMTP_FLOW_CONTINUE;
}

static enum smtp_flow cmd_quit(struct smtp_session *s, struct slice args)
{
	log_info("smtp session=%s event=disconnect reason=quit messages=%u", s->id, s->messages);
	return smtp_close(s, "221 2.0.0 Bye");
}

static enum smtp_flow cmd_vrfy(struct smtp_session *s, struct slice args)
{
	/* RFC 5321 3.5.3: 252 neither confirms nor denies (no address harvesting). */
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
	return SMTP_FLOW_CONTINUE;
}

static enum smtp_flow cmd_expn(struct smtp_session *s, struct slice args)
{
	return refuse(s, "502 5.5.1 Error: EXPN is not supported");
}

static enum smtp_flow cmd_help(struct smtp_session *s, struct slice args)
{
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS (RFC 5321)");
	return SMTP_FLOW_CONTINUE;
}

static enum smtp_flow cmd_auth(struct smtp_session *s, struct slice args)
{
	return s->policy->auth(s, args);
}

static enum smtp_flow cmd_starttls(struct smtp_session *s, struct slice args)
{
	SSL_CTX *ctx = server_tls_ctx(s->server->srv);

	if (args.len != 0)
		return refuse(s, "501 5.5.4 Syntax: STARTTLS");
	if (conn_is_tls(s->conn))
		return refuse(s, "503 5.5.1 Error: TLS is already active");
	if (ctx == NULL)
		return refuse(s, "454 4.7.0 TLS not available: no certificate is configured");
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	smtp_set_state(s, SMTP_STATE_TLS);
	smtp_update_reading(s);
	/* conn_starttls discards whatever the client pipelined after STARTTLS. */
	if (conn_starttls(s->conn, ctx) < 0) {
		log_warn("smtp session=%s event=starttls-failed", s->id);
		return smtp_close(s, NULL);
	}
	return SMTP_FLOW_CONTINUE;
}

/* ---- the mail transaction --------------------------------------------------------- */

static enum smtp_flow cmd_mail(struct smtp_session *s, struct slice args)
{
	const char *reply;

	uint64_t limit = s->policy->size_limit(s);

	if (s->state == SMTP_STATE_HELO)
		return refuse(s, "503 5.5.1 Error: send HELO/EHLO first");
	if (in_transaction(s))
		return refuse(s, "503 5.5.1 Error: nested MAIL command");
	if ((reply = s->policy->mail_refusal(s)) != NULL)
		return refuse(s, reply);
	if (smtp_parse_mail(args, &s->from, &s->mail_params, &reply) < 0) {
		smtp_transaction_reset(s);
		return refuse(s, reply);
	}
	if (s->mail_params.body == SMTP_BODY_BINARYMIME) {
		smtp_transaction_reset(s);
		return refuse(s, "555 5.5.4 BODY=BINARYMIME is not supported here");
	}
	if (s->mail_params.has_size && s->mail_params.size > limit) {
		smtp_reply(s, "552 5.3.4 Message size exceeds the limit of %llu bytes", (unsigned long long)limit);
		smtp_transaction_reset(s);
		return SMTP_FLOW_CONTINUE;
	}
	return s->policy->mail(s);
}

void smtp_cmd_rcpt_accepted(struct smtp_session *s)
{
	if (s->rcpt_accepted++ == 0)
		snprintf(s->first_rcpt, sizeof(s->first_rcpt), "%s", s->rcpt_asked.address);
	smtp_set_state(s, SMTP_STATE_RCPT);
}

/* One copy per mailbox, however many of its addresses (or the catchall, or aliases) were named. */
static void remember_mailbox(struct smtp_session *s, int64_t address_id)
{
	for (size_t i = 0; i < s->rcpt_count; i++)
		if (s->rcpt_ids[i] == address_id)
			return;
	if (s->rcpt_count == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap ? s->rcpt_cap * 2 : 8;
		s->rcpt_ids = xrealloc(s->rcpt_ids, s->rcpt_cap * sizeof(*s->rcpt_ids));
	}
	s->rcpt_ids[s->rcpt_count++] = address_id;
}

static void remember_rcpt(struct smtp_session *s, const struct store_rcpt *r)
{
	smtp_cmd_rcpt_accepted(s);
	remember_mailbox(s, r->address_id);
}

void smtp_cmd_rcpt_reply(struct smtp_session *s, const struct store_rcpt *r)
{
	const char *addr = s->rcpt_asked.address;

	switch (r->status) {
	case RCPT_OK:
		remember_rcpt(s, r);
		smtp_reply(s, "250 2.1.5 Ok");
		return;
	case RCPT_NO_SUCH_USER:
		smtp_reply(s, "550 5.1.1 <%s>: Recipient address rejected: no such user here", addr);
		break;
	case RCPT_NOREPLY:
		smtp_reply(s, "550 5.7.1 <%s>: Recipient address rejected: this is a no-reply address, "
			      "it does not receive mail", addr);
		break;
	case RCPT_NOT_HOSTED:
		smtp_reply(s, "554 5.7.1 <%s>: Relay access denied: %s is not a domain hosted here", addr,
			   s->rcpt_asked.domain);
		break;
	case RCPT_OVER_QUOTA:
		smtp_reply(s, "452 4.2.2 <%s>: Mailbox full: quota of %lld bytes reached", addr,
			   (long long)r->quota_bytes);
		break;
	}
	s->rcpt_refused++;
	log_info("smtp session=%s event=rcpt-refused rcpt=<%s> status=%d", s->id, addr, (int)r->status);
}

/* MX: a mailbox, an alias (its local targets and remote copies) or an SRS notice. */
static void accept_inbound(struct smtp_session *s, const struct inbound_rcpt *r)
{
	smtp_cmd_rcpt_accepted(s);
	if (r->kind == INBOUND_PLAIN)
		remember_mailbox(s, r->rcpt.address_id);
	for (size_t i = 0; i < r->local_count; i++)
		remember_mailbox(s, r->local_ids[i]);
	inbound_txn_add(&s->inbound, r);
	smtp_reply(s, "250 2.1.5 Ok");
}

static void on_rcpt_resolved(const struct inbound_rcpt *r, const char *errstr, void *arg)
{
	struct smtp_session *s = arg;
	const char *addr = s->rcpt_asked.address;

	s->pending = NULL;
	if (r == NULL) {
		log_error("smtp session=%s event=lookup-failed error=\"%s\"", s->id, errstr ? errstr : "unknown");
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure, try again later", addr);
	} else if (r->kind == INBOUND_SRS && !s->from.null_path) {
		/* the reverse path exists for notices; anything else would make it a relay */
		smtp_reply(s, "550 5.7.1 <%s>: Recipient address rejected: this address only takes delivery status "
			      "notifications (from the null sender)", addr);
		s->rcpt_refused++;
	} else if (r->awaiting_confirmation) {
		/* temporary: the sender's server keeps the message until a target confirms */
		smtp_reply(s, "450 4.2.1 <%s>: Recipient address rejected: its redirection waits for a target to "
			      "confirm, try again later", addr);
	} else if (r->rcpt.status == RCPT_OK) {
		accept_inbound(s, r);
	} else {
		smtp_cmd_rcpt_reply(s, &r->rcpt);
	}
	smtp_resume(s);
}

static enum smtp_flow cmd_rcpt(struct smtp_session *s, struct slice args)
{
	struct smtp_rcpt_params params;
	const char *reply;

	if (s->state == SMTP_STATE_HELO || s->state == SMTP_STATE_READY)
		return refuse(s, "503 5.5.1 Error: need MAIL command");
	if (s->state == SMTP_STATE_BDAT)
		return refuse(s, "503 5.5.1 Error: RCPT is not allowed after BDAT");
	if (smtp_parse_rcpt(args, s->mail_params.smtputf8, &s->rcpt_asked, &params, &reply) < 0)
		return refuse(s, reply);
	/* RFC 5321 4.5.1: <postmaster> without a domain means ours. */
	if (s->rcpt_asked.domain[0] == '\0')
		snprintf(s->rcpt_asked.domain, sizeof(s->rcpt_asked.domain), "%s", s->cfg->hostname);
	return s->policy->rcpt(s, &params);
}

static const char *data_sequence_error(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_STATE_HELO:
	case SMTP_STATE_READY:
		return "503 5.5.1 Error: need MAIL command";
	case SMTP_STATE_MAIL:
		return s->rcpt_refused ? "554 5.5.1 Error: no valid recipients" : "503 5.5.1 Error: need RCPT command";
	case SMTP_STATE_BDAT:
		return "503 5.5.1 Error: BDAT and DATA cannot be mixed in one transaction";
	default:
		return NULL;
	}
}

static enum smtp_flow cmd_data(struct smtp_session *s, struct slice args)
{
	const char *err = data_sequence_error(s);

	if (err != NULL)
		return refuse(s, err);
	if (args.len != 0)
		return refuse(s, "501 5.5.4 Syntax: DATA (no arguments)");
	smtp_message_begin(s, SMTP_DATA_DOT);
	smtp_set_state(s, SMTP_STATE_DATA);
	smtp_arm_command_timer(s, s->cfg->data_timeout_s);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	return SMTP_FLOW_CONTINUE;
}

/*
 * RFC 3030 2: the chunk's bytes follow the command at once, so they are read
 * even when the command is refused; the refusal is sent once they are gone.
 */
static enum smtp_flow cmd_bdat(struct smtp_session *s, struct slice args)
{
	uint64_t size;
	bool last;
	const char *reply;

	if (smtp_parse_bdat(args, &size, &last, &reply) < 0)
		return refuse(s, reply); /* without a size we cannot know where the chunk ends */
	s->bdat_refusal = NULL;
	s->bdat_refused_state = s->state;
	if (s->state == SMTP_STATE_HELO || s->state == SMTP_STATE_READY)
		s->bdat_refusal = "503 5.5.1 Error: need MAIL command";
	else if (s->state == SMTP_STATE_MAIL)
		s->bdat_refusal = data_sequence_error(s);
	else if (s->state == SMTP_STATE_RCPT)
		smtp_message_begin(s, SMTP_DATA_BDAT);
	s->bdat_remaining = size;
	s->bdat_chunk_size = size;
	s->bdat_last = last;
	s->filter.ended = false;
	smtp_set_state(s, SMTP_STATE_BDAT_CHUNK);
	smtp_arm_command_timer(s, s->cfg->data_timeout_s);
	return SMTP_FLOW_CONTINUE;
}

enum smtp_flow smtp_cmd_bdat_chunk_done(struct smtp_session *s)
{
	if (s->bdat_refusal != NULL) {
		const char *reply = s->bdat_refusal;
		s->bdat_refusal = NULL;
		smtp_set_state(s, s->bdat_refused_state);
		smtp_arm_command_timer(s, s->cfg->command_timeout_s);
		return refuse(s, reply);
	}
	smtp_arm_command_timer(s, s->cfg->command_timeout_s);
	if (s->bdat_last)
		return smtp_message_end(s);
	smtp_set_state(s, SMTP_STATE_BDAT);
	smtp_reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->bdat_chunk_size);
	return SMTP_FLOW_CONTINUE;
}

/* ---- the MX policy ------------------------------------------------------------------ */

static void mx_ehlo_keywords(struct smtp_session *s)
{
}

static uint64_t mx_size_limit(const struct smtp_session *s)
{
	return s->cfg->max_message_size;
}

static enum smtp_flow mx_auth(struct smtp_session *s, struct slice args)
{
	return refuse(s, "503 5.5.1 Error: authentication is not enabled on this port; use the submission port");
}

static const char *mx_mail_refusal(const struct smtp_session *s)
{
	return NULL;
}

static enum smtp_flow mx_mail(struct smtp_session *s)
{
	smtp_set_state(s, SMTP_STATE_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
	return SMTP_FLOW_CONTINUE;
}

static enum smtp_flow mx_rcpt(struct smtp_session *s, const struct smtp_rcpt_params *params)
{
	if (s->rcpt_accepted >= s->cfg->max_recipients) {
		smtp_reply(s, "452 4.5.3 Too many recipients: at most %u per message", s->cfg->max_recipients);
		return SMTP_FLOW_CONTINUE;
	}
	s->pending = inbound_rcpt_resolve(s->server->inbound, s->rcpt_asked.local, s->rcpt_asked.domain,
					  s->mail_params.has_size ? s->mail_params.size : 0, s->cfg->plans,
					  s->from.null_path ? "" : s->from.address, on_rcpt_resolved, s);
	smtp_update_reading(s);
	return SMTP_FLOW_CONTINUE;
}

static void mx_text(struct smtp_session *s, const char *p, size_t len)
{
	smtp_spool_put(s, p, len);
	inbound_txn_text(&s->inbound, p, len);
}

static void mx_delivered(int result, const char *errstr, void *arg)
{
	struct smtp_session *s = arg;

	const char *from = s->from.null_path ? "" : s->from.address;

	s->pending = NULL;
	if (result == 0) {
		log_info("smtp session=%s event=stored id=%s from=<%s> mailboxes=%zu forwarded=%zu size=%llu", s->id,
			 s->message_id, from, s->rcpt_count, s->inbound.remote_count, (unsigned long long)s->body_bytes);
		/* the 250 follows in this same loop iteration; auto-replies only start store work */
		inbound_txn_delivered(s->server->inbound, &s->inbound, s->cfg, from, s->id);
	}
	smtp_committed(s, result, errstr, "stored");
}

static enum smtp_flow mx_commit(struct smtp_session *s)
{
	struct spool *body = s->spool;

	s->spool = NULL;
	s->pending = inbound_txn_commit(s->server->inbound, &s->inbound, body, s->rcpt_ids, s->rcpt_count,
					(int64_t)time(NULL), mx_delivered, s);
	smtp_update_reading(s);
	return SMTP_FLOW_CONTINUE;
}

static void mx_reset(struct smtp_session *s)
{
	inbound_txn_reset(&s->inbound);
}

const struct smtp_policy smtp_policy_mx = {
	.name = "mx",
	.ehlo_keywords = mx_ehlo_keywords,
	.size_limit = mx_size_limit,
	.auth = mx_auth,
	.mail_refusal = mx_mail_refusal,
	.mail = mx_mail,
	.rcpt = mx_rcpt,
	.text = mx_text,
	.commit = mx_commit,
	.reset = mx_reset,
};

/* ---- dispatch ---------------------------------------------------------------------- */

static const struct smtp_cmd_def commands[] = {
	{ SMTP_VERB_EHLO, cmd_ehlo },	  { SMTP_VERB_HELO, cmd_helo }, { SMTP_VERB_MAIL, cmd_mail },
	{ SMTP_VERB_RCPT, cmd_rcpt },	  { SMTP_VERB_DATA, cmd_data }, { SMTP_VERB_BDAT, cmd_bdat },
	{ SMTP_VERB_RSET, cmd_rset },	  { SMTP_VERB_NOOP, cmd_noop }, { SMTP_VERB_QUIT, cmd_quit },
	{ SMTP_VERB_VRFY, cmd_vrfy },	  { SMTP_VERB_EXPN, cmd_expn }, { SMTP_VERB_HELP, cmd_help },
	{ SMTP_VERB_STARTTLS, cmd_starttls }, { SMTP_VERB_AUTH, cmd_auth },
};

/* Between BDAT chunks only these keep the transaction (RFC 3030 2). */
static bool allowed_between_chunks(enum smtp_verb verb)
{
	return verb == SMTP_VERB_BDAT || verb == SMTP_VERB_RSET || verb == SMTP_VERB_NOOP ||
	       verb == SMTP_VERB_QUIT || verb == SMTP_VERB_HELP;
}

enum smtp_flow smtp_cmd_dispatch(struct smtp_session *s, const struct conn_line *line)
{
	struct smtp_command cmd;
	const char *reply;

	if (smtp_parse_command(line->p, line->len, &cmd, &reply) < 0)
		return refuse(s, reply);
	if (cmd.verb == SMTP_VERB_UNKNOWN)
		return refuse(s, "500 5.5.2 Error: command not recognized");
	if (s->state == SMTP_STATE_BDAT && !allowed_between_chunks(cmd.verb)) {
		if (cmd.verb == SMTP_VERB_DATA)
			return refuse(s, "503 5.5.1 Error: BDAT and DATA cannot be mixed in one transaction");
		return refuse(s, "503 5.5.1 Error: only BDAT, RSET, NOOP or QUIT may follow a BDAT chunk");
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == cmd.verb)
			return commands[i].run(s, cmd.args);
	return refuse(s, "502 5.5.1 Error: command not implemented");
}
