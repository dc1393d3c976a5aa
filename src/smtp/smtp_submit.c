/*
 * smtp_submit: the submission policy (RFC 6409) of the SMTP engine, for
 * the `listen submission` (STARTTLS) and `listen submissions` (implicit
 * TLS) ports. The session state machine and the command table are the MX
 * port's (smtp_session.c, smtp_cmd.c); this file decides what differs:
 *
 *   - AUTH PLAIN and LOGIN (RFC 4954) through the auth service, offered
 *     only over TLS unless plaintext_auth allows it; MAIL needs AUTH.
 *   - The sender: MAIL FROM and every From: address must be ones the
 *     authenticated address may send as (store_may_send_as).
 *   - The plan of the authenticated address: recipients per message,
 *     recipients per rolling 24 hours, message size.
 *   - Recipients in hosted domains are resolved as on the MX port, through
 *     inbound (an alias gives its local targets and its confirmed remote
 *     ones; the sender is ours, so no SRS) and delivered to their INBOX;
 *     all others are queued for the queue runner with their DSN parameters
 *     (RFC 3461), in the same transaction.
 *   - The header section goes through submit_headers (Date, Message-ID
 *     added, Bcc removed) and the message is DKIM-signed with the From
 *     domain's key; the signature is the queue entry's prefix.
 *
 * The header section is held (bounded by SUBMIT_HEADER_MAX) until it is
 * complete; then one store READ call checks its From addresses and fetches
 * the DKIM key while the session stops reading (body bytes that arrived
 * with the header's end are held, at most one feed of SMTP_FEED_MAX).
 * Refusals found then are sent when the message has ended, as RFC 5321
 * requires: no reply is allowed in the middle of DATA.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "outbound/dkim.h"
#include "outbound/dsn.h"
#include "outbound/submit_headers.h"
#include "smtp/smtp_private.h"
#include "store/store_queue.h"

/* base64 of "Username:" and "Password:" (the LOGIN mechanism's challenges). */
#define SASL_LOGIN_USER_PROMPT "334 VXNlcm5hbWU6"
#define SASL_LOGIN_PASS_PROMPT "334 UGFzc3dvcmQ6"
/* The rolling window of the daily sending limit. */
#define SEND_WINDOW_S (24 * 60 * 60)
#define DKIM_CACHE_DOMAINS 256 /* parsed signing keys kept (a few KiB each) */
/* Body bytes held during the header check: one feed, plus what came with the header. */
#define HELD_MAX (2 * 64 * 1024 + SUBMIT_HEADER_MAX)

static const char auth_required[] = "530 5.7.0 Authentication required";

static enum smtp_flow refuse(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	return smtp_count_error(s);
}

static void wipe(struct slice sl)
{
	sodium_memzero((char *)sl.p, sl.len); /* points into the connection's line buffer, which is ours */
}

static const struct plan_cfg *session_plan(const struct smtp_session *s)
{
	ASSERT(s->authenticated);
	return &s->cfg->plans[s->identity.plan];
}

/* RFC 4954 4 / STYLE: passwords cross only encrypted or loopback connections, as configured. */
static bool auth_allowed(const struct smtp_session *s)
{
	const char *ip = conn_peer_ip(s->conn);

	if (conn_is_tls(s->conn) || s->cfg->plaintext_auth == PLAINTEXT_AUTH_ALWAYS)
		return true;
	return s->cfg->plaintext_auth == PLAINTEXT_AUTH_LOOPBACK &&
	       (strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0 || strcmp(ip, "::ffff:127.0.0.1") == 0);
}

static bool in_transaction(const struct smtp_session *s)
{
	return s->state == SMTP_STATE_MAIL || s->state == SMTP_STATE_RCPT || s->state == SMTP_STATE_BDAT;
}

/* ---- EHLO and limits ------------------------------------------------------------------ */

static void submit_ehlo_keywords(struct smtp_session *s)
{
	smtp_reply(s, "250-DSN");
	if (!s->authenticated && auth_allowed(s)) {
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
		/* The pre-RFC 2554 form that old clients (printers, Outlook Express) look for, as Postfix's broken_sasl_auth_clients. */
		smtp_reply(s, "250-AUTH=PLAIN LOGIN");
	}
	if (s->authenticated)
		smtp_reply(s, "250-LIMITS RCPTMAX=%u", session_plan(s)->recipients); /* RFC 9422 */
}

/* The plan's size once authenticated; before, the largest any plan allows (the client learns more after AUTH). */
static uint64_t submit_size_limit(const struct smtp_session *s)
{
	uint64_t max = 0;

	if (s->authenticated)
		return session_plan(s)->message_size;
	for (size_t i = 0; i < CONFIG_PLAN_COUNT; i++)
		if (s->cfg->plans[i].message_size > max)
			max = s->cfg->plans[i].message_size;
	return max;
}

static void format_resume(char out[16], uint64_t count, int64_t oldest)
{
	time_t when = (time_t)((oldest > 0 && count > 0 ? oldest : (int64_t)time(NULL)) + SEND_WINDOW_S);
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(out, 16, "%H:%M", &tm);
}

/* The rolling 24-hour limit: each recipient counts as one message. */
static bool daily_limit_reached(struct smtp_session *s, uint64_t count, int64_t oldest)
{
	const struct plan_cfg *plan = session_plan(s);
	char resume[16];

	if (count + s->rcpt_accepted < plan->daily_messages)
		return false;
	format_resume(resume, count, oldest);
	log_info("smtp session=%s event=daily-limit address=%s sent=%llu limit=%u", s->id, s->identity.address,
		 (unsigned long long)count, plan->daily_messages);
	smtp_reply(s, "550 5.7.1 Daily sending limit of %u messages reached; sending resumes at %s UTC",
		   plan->daily_messages, resume);
	return true;
}

/* ---- AUTH (RFC 4954) -------------------------------------------------------------------- */

static void on_auth(enum auth_result result, const struct auth_identity *id, const char *message, void *arg)
{
	struct smtp_session *s = arg;

	s->auth_req = NULL;
	smtp_set_state(s, SMTP_STATE_READY);
	switch (result) {
	case AUTH_OK:
		if (id->kind == ADDRESS_CATCHALL) {
			/* a catchall receives only (it logs in to IMAP/POP3 to be read) */
			log_info("smtp session=%s event=auth-refused address=%s reason=catchall", s->id, id->address);
			smtp_reply(s, "535 5.7.1 %s is a catchall address: it receives mail but cannot send", id->address);
			break;
		}
		s->authenticated = true;
		s->identity = *id;
		log_info("smtp session=%s event=auth-ok address=%s plan=%s", s->id, id->address,
			 config_plan_name(id->plan));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_FAILED:
		log_info("smtp session=%s event=auth-failed ip=%s", s->id, conn_peer_ip(s->conn));
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
		if (smtp_count_error(s) == SMTP_FLOW_CLOSED)
			return;
		break;
	case AUTH_THROTTLED:
	case AUTH_TEMPFAIL:
		log_info("smtp session=%s event=auth-refused ip=%s reason=%s", s->id, conn_peer_ip(s->conn),
			 result == AUTH_THROTTLED ? "throttled" : "tempfail");
		smtp_reply(s, "454 4.7.0 %s", message ? message : "Temporary authentication failure, try again later");
		break;
	}
	smtp_resume(s);
}

static void login(struct smtp_session *s, const char *user, const char *pass)
{
	smtp_set_state(s, SMTP_STATE_SASL); /* nothing is read until the answer */
	s->auth_req = auth_login(s->server->auth, "submission", conn_peer_ip(s->conn), user, pass, on_auth, s);
	smtp_update_reading(s);
}

static enum smtp_flow sasl_error(struct smtp_session *s, const char *err)
{
	char reply[256];

	smtp_set_state(s, SMTP_STATE_READY);
	snprintf(reply, sizeof(reply), "501 5.5.2 Cannot decode response: %s", err);
	return refuse(s, reply);
}

static enum smtp_flow sasl_plain(struct smtp_session *s, struct slice b64)
{
	char user[AUTH_SASL_FIELD_MAX], pass[AUTH_SASL_FIELD_MAX];
	const char *err;

	if (auth_sasl_plain(b64, user, pass, &err) < 0)
		return sasl_error(s, err);
	login(s, user, pass);
	sodium_memzero(user, sizeof(user));
	sodium_memzero(pass, sizeof(pass));
	return SMTP_FLOW_CONTINUE;
}

/* A LOGIN field: the user name (then ask for the password) or the password (then log in). */
static enum smtp_flow sasl_login_field(struct smtp_session *s, struct slice b64, bool is_user)
{
	char field[AUTH_SASL_FIELD_MAX];
	const char *err;

	if (auth_sasl_login_field(b64, field, &err) < 0)
		return sasl_error(s, err);
	if (is_user) {
		snprintf(s->sasl_user, sizeof(s->sasl_user), "%s", field);
		smtp_set_state(s, SMTP_STATE_SASL);
		s->sasl_step = SMTP_SASL_LOGIN_PASS;
		smtp_reply(s, SASL_LOGIN_PASS_PROMPT);
		return SMTP_FLOW_CONTINUE;
	}
	login(s, s->sasl_user, field);
	sodium_memzero(field, sizeof(field));
	sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
	return SMTP_FLOW_CONTINUE;
}

enum smtp_flow smtp_submit_sasl_response(struct smtp_session *s, const struct conn_line *line)
{
	struct slice resp = slice_make(line->p, line->len);
	enum smtp_flow flow;

	if (line->len == 1 && line->p[0] == '*') {
		/* RFC 4954 4: the client cancels the exchange. */
		smtp_set_state(s, SMTP_STATE_READY);
		sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
		smtp_reply(s, "501 5.7.0 Authentication aborted");
		return SMTP_FLOW_CONTINUE;
	}
	if (s->sasl_step == SMTP_SASL_PLAIN)
		flow = sasl_plain(s, resp);
	else
		flow = sasl_login_field(s, resp, s->sasl_step == SMTP_SASL_LOGIN_USER);
	if (flow == SMTP_FLOW_CONTINUE)
		wipe(resp);
	return flow;
}

static void next_word(struct slice in, struct slice *word_r, struct slice *rest_r)
{
	size_t i = 0;

	while (i < in.len && in.p[i] != ' ')
		i++;
	*word_r = slice_make(in.p, i);
	while (i < in.len && in.p[i] == ' ')
		i++;
	*rest_r = slice_make(in.p + i, in.len - i);
}

static enum smtp_flow submit_auth(struct smtp_session *s, struct slice args)
{
	struct slice mech, initial;

	next_word(args, &mech, &initial);
	if (s->state == SMTP_STATE_HELO || s->authenticated || in_transaction(s)) {
		wipe(initial);
		return refuse(s, s->state == SMTP_STATE_HELO ? "503 5.5.1 Error: send EHLO first"
				 : s->authenticated	      ? "503 5.5.1 Error: already authenticated"
							      : "503 5.5.1 Error: MAIL transaction in progress");
	}
	if (!auth_allowed(s)) {
		wipe(initial);
		return refuse(s, "538 5.7.11 Encryption required for requested authentication mechanism");
	}
	bool plain = slice_eq_nocase(mech, "PLAIN");
	if (!plain && !slice_eq_nocase(mech, "LOGIN")) {
		wipe(initial);
		return refuse(s, "504 5.5.4 Unrecognized authentication type: use PLAIN or LOGIN");
	}
	/* RFC 4954 4: "=" is an initial response of zero length. */
	if (initial.len == 1 && initial.p[0] == '=')
		return sasl_error(s, "empty initial response");
	if (initial.len > 0) {
		enum smtp_flow flow = plain ? sasl_plain(s, initial) : sasl_login_field(s, initial, true);
		if (flow == SMTP_FLOW_CONTINUE)
			wipe(initial);
		return flow;
	}
	smtp_set_state(s, SMTP_STATE_SASL);
	s->sasl_step = plain ? SMTP_SASL_PLAIN : SMTP_SASL_LOGIN_USER;
	smtp_reply(s, "%s", plain ? "334 " : SASL_LOGIN_USER_PROMPT);
	return SMTP_FLOW_CONTINUE;
}

void smtp_submit_forget_auth(struct smtp_session *s)
{
	if (s->auth_req != NULL)
		auth_req_cancel(s->auth_req);
	s->auth_req = NULL;
	s->authenticated = false;
	sodium_memzero(&s->identity, sizeof(s->identity));
	sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
}

/* ---- store calls -------------------------------------------------------------------------- */

enum call_kind { CALL_MAIL, CALL_RCPT, CALL_HEADER };

/* The closure of one store READ call; it outlives the session if the session goes first. */
struct submit_call {
	struct smtp_session *s; /* not to be touched once cancelled */
	enum call_kind kind;
	/* in */
	int64_t address_id;
	int64_t since;
	char from[SMTP_PATH_MAX + 1];                                   /* MAIL: "" for <> */
	char local[SMTP_LOCAL_MAX + 1], domain[SMTP_DOMAIN_MAX + 1];    /* RCPT */
	uint64_t size;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	struct smtp_rcpt_params params;
	char **from_list; /* HEADER: copies of the From addresses (the session may go first) */
	size_t from_count;
	/* out */
	int rc; /* -1 store error */
	char err[256];
	bool may;
	uint64_t count;
	int64_t oldest;
	struct inbound_rcpt rcpt;                                       /* RCPT */
	size_t denied; /* HEADER: index of the first From address not allowed, from_count if none */
	struct dkim_key *key;
	char selector[64];
};

static void call_error(struct submit_call *c, const char *errstr)
{
	c->rc = -1;
	snprintf(c->err, sizeof(c->err), "%s", errstr ? errstr : "unknown error");
}

static void call_free(struct submit_call *c)
{
	for (size_t i = 0; i < c->from_count; i++)
		free(c->from_list[i]);
	free(c->from_list);
	dkim_key_destroy(&c->key);
	free(c);
}

static struct submit_call *call_new(struct smtp_session *s, enum call_kind kind)
{
	struct submit_call *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->kind = kind;
	c->address_id = s->identity.address_id;
	c->since = (int64_t)time(NULL) - SEND_WINDOW_S;
	return c;
}

/*
 * Parsed signing keys, shared by the store's reader threads that run
 * work_header. Process-wide like OpenSSL's own state: the keys are
 * immutable, the cache is bounded and locked, and an entry is checked
 * against the PEM read from the store for each message (dkim.h), so a key
 * changed by `hermod domain` or the console takes effect at once.
 */
static struct dkim_key_cache *dkim_cache;
static pthread_once_t dkim_cache_once = PTHREAD_ONCE_INIT;

static void dkim_cache_init(void)
{
	dkim_cache = dkim_key_cache_new(DKIM_CACHE_DOMAINS);
}

/* The From domain's DKIM key, when it is hosted and has one; a broken key only means no signature. */
static void fetch_dkim_key(struct store *st, struct submit_call *c, const char *domain)
{
	char *pem = NULL;
	const char *err;
	int r = store_domain_dkim_get(st, domain, c->selector, sizeof(c->selector), &pem, &err);

	if (r < 0) {
		call_error(c, err);
	} else if (r > 0) {
		pthread_once(&dkim_cache_once, dkim_cache_init);
		if (dkim_key_cache_get(dkim_cache, domain, slice_make(pem, strlen(pem)), &c->key, &err) < 0)
			log_error("smtp event=dkim-key-unusable domain=%s error=\"%s\"", domain, err);
		sodium_memzero(pem, strlen(pem));
	}
	free(pem);
}

static void work_header(struct store *st, struct submit_call *c)
{
	const char *err, *at;

	c->denied = c->from_count;
	for (size_t i = 0; i < c->from_count; i++) {
		int r = store_may_send_as(st, c->address_id, c->from_list[i], &err);
		if (r < 0) {
			call_error(c, err);
			return;
		}
		if (r == 0) {
			c->denied = i;
			return;
		}
	}
	/* d= is the (first) From domain: what DMARC aligns with. */
	if (c->from_count > 0 && (at = strrchr(c->from_list[0], '@')) != NULL) {
		snprintf(c->domain, sizeof(c->domain), "%s", at + 1);
		for (char *p = c->domain; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		fetch_dkim_key(st, c, c->domain);
	}
}

static void call_work(struct store *st, void *arg)
{
	struct submit_call *c = arg;
	const char *err;
	int r;

	if (c->kind == CALL_HEADER) {
		work_header(st, c);
		return;
	}
	if (c->kind == CALL_MAIL && c->from[0] != '\0') {
		if ((r = store_may_send_as(st, c->address_id, c->from, &err)) < 0) {
			call_error(c, err);
			return;
		}
		c->may = r == 1;
	}
	if (store_send_count(st, c->address_id, c->since, &c->count, &c->oldest, &err) < 0) {
		call_error(c, err);
		return;
	}
	/* sender "": the copies an alias sends on keep our user's sender, which passes SPF as it is */
	if (c->kind == CALL_RCPT && inbound_rcpt_resolve_store(st, c->local, c->domain, c->size, c->plans, "",
							       (int64_t)time(NULL), &c->rcpt, &err) < 0)
		call_error(c, err);
}

/* ---- MAIL ------------------------------------------------------------------------------------ */

static const char *submit_mail_refusal(const struct smtp_session *s)
{
	return s->authenticated ? NULL : auth_required;
}

static void mail_checked(void *arg, bool cancelled)
{
	struct submit_call *c = arg;
	struct smtp_session *s = c->s;

	if (cancelled) {
		call_free(c);
		return;
	}
	s->pending = NULL;
	if (c->rc < 0) {
		log_error("smtp session=%s event=lookup-failed error=\"%s\"", s->id, c->err);
		smtp_reply(s, "451 4.3.0 Temporary lookup failure, try again later");
		smtp_transaction_reset(s);
	} else if (!s->from.null_path && !c->may) {
		log_info("smtp session=%s event=sender-refused address=%s from=<%s>", s->id, s->identity.address,
			 s->from.address);
		smtp_reply(s, "550 5.7.1 Sender address rejected: %s is not allowed to send as %s",
			   s->identity.address, s->from.address);
		smtp_transaction_reset(s);
	} else if (daily_limit_reached(s, c->count, c->oldest)) {
		smtp_transaction_reset(s);
	} else {
		smtp_set_state(s, SMTP_STATE_MAIL);
		smtp_reply(s, "250 2.1.0 Ok");
	}
	call_free(c);
	smtp_resume(s);
}

/* RFC 6409 6.1: the sender must be one the authenticated address may use; the null sender is allowed. */
static enum smtp_flow submit_mail(struct smtp_session *s)
{
	struct submit_call *c = call_new(s, CALL_MAIL);

	if (!s->from.null_path)
		snprintf(c->from, sizeof(c->from), "%s", s->from.address);
	s->pending = store_async_call(s->server->store, STORE_CALL_READ, call_work, mail_checked, c);
	smtp_update_reading(s);
	return SMTP_FLOW_CONTINUE;
}

/* ---- RCPT ------------------------------------------------------------------------------------ */

/* One more remote recipient for the queue entry (orcpt "" : none). */
static void queue_remote(struct smtp_session *s, const char *address, unsigned notify, const char *orcpt)
{
	struct smtp_submit_txn *t = &s->sub;

	for (size_t i = 0; i < t->remote_count; i++)
		if (strcasecmp(t->remote[i].address, address) == 0)
			return; /* counted, but queued once */
	if (t->remote_count == t->remote_cap) {
		t->remote_cap = t->remote_cap ? t->remote_cap * 2 : 8;
		t->remote = xrealloc(t->remote, t->remote_cap * sizeof(*t->remote));
	}
	t->remote[t->remote_count++] = (struct smtp_remote_rcpt){
		.address = xstrdup(address),
		.notify = notify,
		.orcpt = orcpt[0] ? xstrdup(orcpt) : NULL,
	};
}

static void add_remote(struct smtp_session *s, const struct smtp_rcpt_params *params)
{
	smtp_cmd_rcpt_accepted(s);
	queue_remote(s, s->rcpt_asked.address, params->notify, params->orcpt);
}

/* One copy per mailbox, however many of its addresses (or aliases) were named. */
static void remember_local(struct smtp_session *s, int64_t address_id)
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

/*
 * A local recipient that asked NOTIFY=SUCCESS: a "delivered" notice is
 * owed once the message is in its mailbox (RFC 3461 5.2.2: we are the
 * final delivery MTA). Remote ones are the queue's business.
 */
static void add_local_dsn(struct smtp_session *s, const struct smtp_rcpt_params *params)
{
	struct smtp_submit_txn *t = &s->sub;

	if (!(params->notify & SMTP_NOTIFY_SUCCESS) || (params->notify & SMTP_NOTIFY_NEVER))
		return;
	for (size_t i = 0; i < t->local_dsn_count; i++)
		if (strcasecmp(t->local_dsn[i].address, s->rcpt_asked.address) == 0)
			return;
	if (t->local_dsn_count == t->local_dsn_cap) {
		t->local_dsn_cap = t->local_dsn_cap ? t->local_dsn_cap * 2 : 4;
		t->local_dsn = xrealloc(t->local_dsn, t->local_dsn_cap * sizeof(*t->local_dsn));
	}
	t->local_dsn[t->local_dsn_count++] = (struct smtp_remote_rcpt){
		.address = xstrdup(s->rcpt_asked.address),
		.notify = params->notify,
		.orcpt = params->orcpt[0] ? xstrdup(params->orcpt) : NULL,
	};
}

/*
 * An alias: each local target gets its copy, each confirmed remote one
 * goes into the queue entry (the unconfirmed ones were left out by
 * inbound). ORCPT names the alias when the client gave none, so that a
 * notice says which address the user wrote (RFC 3461 4.2).
 */
static void accept_alias(struct smtp_session *s, const struct inbound_rcpt *r, const struct smtp_rcpt_params *params)
{
	char orcpt[sizeof(params->orcpt)];

	smtp_cmd_rcpt_accepted(s);
	for (size_t i = 0; i < r->local_count; i++)
		remember_local(s, r->local_ids[i]);
	if (params->orcpt[0] != '\0')
		snprintf(orcpt, sizeof(orcpt), "%s", params->orcpt);
	else
		snprintf(orcpt, sizeof(orcpt), "rfc822;%s", s->rcpt_asked.address);
	for (size_t i = 0; i < r->remote_count; i++)
		queue_remote(s, r->remote[i], params->notify, orcpt);
	if (r->local_count > 0)
		add_local_dsn(s, params);
	log_info("smtp session=%s event=alias-expanded rcpt=<%s> local=%zu remote=%zu", s->id, s->rcpt_asked.address,
		 r->local_count, r->remote_count);
	smtp_reply(s, "250 2.1.5 Ok");
}

static void rcpt_checked(void *arg, bool cancelled)
{
	struct submit_call *c = arg;
	struct smtp_session *s = c->s;

	if (cancelled) {
		call_free(c);
		return;
	}
	s->pending = NULL;
	if (c->rc < 0) {
		log_error("smtp session=%s event=lookup-failed error=\"%s\"", s->id, c->err);
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure, try again later", s->rcpt_asked.address);
	} else if (daily_limit_reached(s, c->count, c->oldest)) {
		s->rcpt_refused++;
	} else if (c->rcpt.rcpt.status == RCPT_NOT_HOSTED) {
		/* Not ours: relayed, which is what an authenticated client may ask. */
		add_remote(s, &c->params);
		smtp_reply(s, "250 2.1.5 Ok");
	} else if (c->rcpt.kind == INBOUND_SRS) {
		/* one of our SRS senders: the original sender (our user could write to it anyway) */
		smtp_cmd_rcpt_accepted(s);
		queue_remote(s, c->rcpt.remote[0], c->params.notify, c->params.orcpt);
		smtp_reply(s, "250 2.1.5 Ok");
	} else if (c->rcpt.awaiting_confirmation) {
		smtp_reply(s, "450 4.2.1 <%s>: Recipient address rejected: its redirection waits for a target to "
			      "confirm, try again later", s->rcpt_asked.address);
	} else if (c->rcpt.kind == INBOUND_ALIAS && c->rcpt.rcpt.status == RCPT_OK) {
		accept_alias(s, &c->rcpt, &c->params);
	} else {
		if (c->rcpt.rcpt.status == RCPT_OK) {
			add_local_dsn(s, &c->params);
			inbound_txn_add_autoreply(&s->inbound, &c->rcpt);
		}
		smtp_cmd_rcpt_reply(s, &c->rcpt.rcpt);
	}
	call_free(c);
	smtp_resume(s);
}

static enum smtp_flow submit_rcpt(struct smtp_session *s, const struct smtp_rcpt_params *params)
{
	const struct plan_cfg *plan = session_plan(s);
	struct submit_call *c;

	/* Counted over every accepted RCPT, To, Cc and Bcc alike; the accepted ones still go. */
	if (s->rcpt_accepted >= plan->recipients) {
		log_info("smtp session=%s event=rcpt-limit address=%s limit=%u", s->id, s->identity.address,
			 plan->recipients);
		smtp_reply(s, "452 4.5.3 Too many recipients: the %s plan allows %u per message", plan->name,
			   plan->recipients);
		return SMTP_FLOW_CONTINUE;
	}
	c = call_new(s, CALL_RCPT);
	snprintf(c->local, sizeof(c->local), "%s", s->rcpt_asked.local);
	snprintf(c->domain, sizeof(c->domain), "%s", s->rcpt_asked.domain);
	c->size = s->mail_params.has_size ? s->mail_params.size : 0;
	memcpy(c->plans, s->cfg->plans, sizeof(c->plans));
	c->params = *params;
	s->pending = store_async_call(s->server->store, STORE_CALL_READ, call_work, rcpt_checked, c);
	smtp_update_reading(s);
	return SMTP_FLOW_CONTINUE;
}

/* ---- the message text ------------------------------------------------------------------------ */

static void set_refused(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Refused once the text has ended (RFC 5321 allows no reply inside DATA); nothing more is stored. */
static void set_refused(struct smtp_session *s, const char *fmt, ...)
{
	struct smtp_submit_txn *t = &s->sub;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->refusal, sizeof(t->refusal), fmt, ap);
	va_end(ap);
	t->phase = SMTP_SUBMIT_REFUSED;
	buf_free(&t->held);
	if (s->spool != NULL) {
		spool_free(s->spool);
		s->spool = NULL;
	}
}

static void body_out(struct smtp_session *s, const char *p, size_t len)
{
	if (len == 0)
		return;
	smtp_spool_put(s, p, len);
	if (s->sub.signer != NULL)
		dkim_signer_body(s->sub.signer, p, len);
}

static void submit_finish(struct smtp_session *s);

/* The header passed: spool it, start the signature, and let the body through. */
static void accept_header(struct smtp_session *s, struct submit_call *c)
{
	struct smtp_submit_txn *t = &s->sub;
	const char *err;
	const struct submit_headers_result *r = submit_headers_result(t->headers, &err);

	ASSERT(r != NULL);
	if (c->key != NULL) {
		struct dkim_params params = { .domain = c->domain, .selector = c->selector,
					      .header_canon = DKIM_CANON_RELAXED, .body_canon = DKIM_CANON_RELAXED,
					      .timestamp = time(NULL) };
		t->dkim_key = c->key;
		c->key = NULL;
		t->signer = dkim_signer_new(t->dkim_key, &params, slice_make(r->header.data, r->header.len), &err);
		if (t->signer == NULL)
			log_warn("smtp session=%s event=dkim-not-signed domain=%s error=\"%s\"", s->id, c->domain, err);
		else
			snprintf(t->dkim_domain, sizeof(t->dkim_domain), "%s", c->domain);
	}
	log_info("smtp session=%s event=header id=%s from=%s date-added=%s message-id-added=%s bcc-removed=%u dkim=%s",
		 s->id, s->message_id, r->from[0], r->had_date ? "no" : "yes", r->had_message_id ? "no" : "yes",
		 r->bcc_removed, t->signer != NULL ? "yes" : "no");
	smtp_spool_put(s, r->header.data, r->header.len);
	t->phase = SMTP_SUBMIT_BODY;
	body_out(s, r->body_start.data, r->body_start.len);
	body_out(s, t->held.data, t->held.len);
	buf_free(&t->held);
}

static void header_checked(void *arg, bool cancelled)
{
	struct submit_call *c = arg;
	struct smtp_session *s = c->s;

	if (cancelled) {
		call_free(c);
		return;
	}
	s->pending = NULL;
	if (s->sub.phase == SMTP_SUBMIT_REFUSED) {
		/* refused meanwhile (held text over its bound): that reply stands */
	} else if (c->rc < 0) {
		log_error("smtp session=%s event=lookup-failed error=\"%s\"", s->id, c->err);
		set_refused(s, "451 4.3.0 Message not stored: temporary lookup failure, try again later");
	} else if (c->denied < c->from_count) {
		log_info("smtp session=%s event=from-refused address=%s from=%s", s->id, s->identity.address,
			 c->from_list[c->denied]);
		set_refused(s, "550 5.7.1 From address rejected: %s is not allowed to send as %s", s->identity.address,
			    c->from_list[c->denied]);
	} else {
		accept_header(s, c);
	}
	call_free(c);
	if (s->state != SMTP_STATE_COMMIT) {
		smtp_resume(s); /* more text to read */
		return;
	}
	submit_finish(s);
	if (!smtp_busy(s))
		smtp_resume(s);
}

/* The header section is complete: check what it says, then look its From addresses up. */
static void header_complete(struct smtp_session *s)
{
	struct smtp_submit_txn *t = &s->sub;
	const struct submit_headers_result *r;
	const char *err;
	struct submit_call *c;

	if ((r = submit_headers_result(t->headers, &err)) == NULL) {
		set_refused(s, "552 5.3.4 Message refused: %s", err);
		return;
	}
	if (r->from_fields != 1 || r->from_count == 0) {
		/* RFC 5322 3.6: exactly one From field, naming at least one address. */
		set_refused(s, r->from_fields == 0   ? "550 5.6.0 Message refused: it has no From: header field"
			       : r->from_fields > 1 ? "550 5.7.1 Message refused: more than one From: header field"
						    : "550 5.6.0 Message refused: the From: header field names no address");
		return;
	}
	c = call_new(s, CALL_HEADER);
	c->from_list = xcalloc(r->from_count, sizeof(*c->from_list));
	for (size_t i = 0; i < r->from_count; i++)
		c->from_list[i] = xstrdup(r->from[i]);
	c->from_count = r->from_count;
	t->phase = SMTP_SUBMIT_CHECKING;
	buf_init(&t->held, HELD_MAX);
	s->pending = store_async_call(s->server->store, STORE_CALL_READ, call_work, header_checked, c);
	smtp_update_reading(s);
}

/*
 * DATA / BDAT begins: the header fixer starts here (the trace headers are
 * already in the spool, and are not the client's to fix or sign).
 */
static void submit_text_begin(struct smtp_session *s)
{
	s->sub.headers = submit_headers_new(s->cfg->hostname, time(NULL));
	s->sub.phase = SMTP_SUBMIT_HEADER;
}

static void submit_text(struct smtp_session *s, const char *p, size_t len)
{
	struct smtp_submit_txn *t = &s->sub;
	bool done;

	inbound_txn_text(&s->inbound, p, len); /* the header, when a recipient may auto-reply */
	if (t->phase == SMTP_SUBMIT_HEADER) {
		size_t used = submit_headers_feed(t->headers, p, len, &done);
		if (!done)
			return;
		p += used;
		len -= used;
		header_complete(s);
	}
	switch (t->phase) {
	case SMTP_SUBMIT_HEADER:
		break;
	case SMTP_SUBMIT_CHECKING:
		/* Bounded: the session stops feeding text while the check runs. */
		if (len > 0 && buf_append(&t->held, p, len) < 0)
			set_refused(s, "451 4.3.0 Message not stored: too much text arrived during a check, try again");
		break;
	case SMTP_SUBMIT_BODY:
		body_out(s, p, len);
		break;
	case SMTP_SUBMIT_REFUSED:
		break;
	}
}

/* ---- success notices for local recipients ------------------------------------------------------ */

/* The closure of the WRITE call that delivers a notice; independent of the session. */
struct local_dsn {
	char *sender;
	char *data_dir;
	struct buf msg;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	int64_t now;
	const char *where; /* "inbox", "queue", or NULL: dropped */
	int rc;
	char err[256];
};

/* Writer thread: the sender's INBOX when it is ours, else the queue, as the queue's notices go. */
static void local_dsn_work(struct store *st, void *arg)
{
	struct local_dsn *ld = arg;
	const char *at = strrchr(ld->sender, '@'), *err = NULL;
	char *local = xstrndup(ld->sender, at != NULL ? (size_t)(at - ld->sender) : 0);
	struct store_outbound_rcpt to = { ld->sender, STORE_NOTIFY_NEVER, NULL };
	struct store_outbound out = { .envelope_from = "", .rcpts = &to, .rcpt_count = 1, .ret = STORE_RET_UNSET };
	struct spool *sp = spool_new(ld->data_dir);
	struct store_delivery d = { .body = sp, .internal_date = ld->now }, *dp = &d;
	struct store_rcpt r;

	ld->rc = store_rcpt_resolve(st, local, at != NULL ? at + 1 : "", 0, ld->plans, &r, &err);
	free(local);
	if (ld->rc == 0 && (r.status == RCPT_OK || r.status == RCPT_OVER_QUOTA)) {
		ld->where = "inbox"; /* a final delivery gets Return-Path (RFC 5321 4.4) */
		d.address_ids = &r.address_id;
		d.address_count = 1;
		ld->rc = spool_write(sp, "Return-Path: <>\r\n", 17, &err);
	} else if (ld->rc == 0 && r.status == RCPT_NOT_HOSTED) {
		ld->where = "queue";
		d.outbound = &out;
	}
	if (ld->rc == 0 && ld->where != NULL)
		ld->rc = spool_write(sp, ld->msg.data, ld->msg.len, &err);
	if (ld->rc == 0 && ld->where != NULL)
		ld->rc = store_deliver_batch(st, &dp, 1, &err);
	if (ld->rc == 0 && ld->where != NULL && d.result < 0) {
		ld->rc = -1;
		err = d.error;
	}
	if (ld->rc < 0)
		snprintf(ld->err, sizeof(ld->err), "%s", err != NULL ? err : "store failure");
	spool_free(sp);
}

static void local_dsn_done(void *arg, bool cancelled)
{
	struct local_dsn *ld = arg;

	if (ld->rc < 0)
		log_error("smtp event=notice-failed kind=success to=%s error=\"%s\"", ld->sender, ld->err);
	else if (ld->where == NULL)
		log_warn("smtp event=notice-dropped kind=success to=%s reason=\"the sender cannot receive mail\"",
			 ld->sender);
	else
		log_info("smtp event=notice kind=success to=%s via=%s", ld->sender, ld->where);
	buf_free(&ld->msg);
	free(ld->sender);
	free(ld->data_dir);
	free(ld);
}

/*
 * After the commit: one "delivered" notice (RFC 3464, from the null sender)
 * for the local recipients that asked NOTIFY=SUCCESS, with the message's
 * header (RET only concerns failure notices, RFC 3461 4.3). A notice to a
 * remote sender waits for the queue's next scan.
 */
static void send_local_dsn(struct smtp_session *s)
{
	struct smtp_submit_txn *t = &s->sub;
	const char *err = NULL;
	const struct submit_headers_result *hr = t->headers != NULL ? submit_headers_result(t->headers, &err) : NULL;
	struct dsn_recipient *dr = xcalloc(t->local_dsn_count, sizeof(*dr));
	struct local_dsn *ld = xcalloc(1, sizeof(*ld));

	ld->now = (int64_t)time(NULL);
	for (size_t i = 0; i < t->local_dsn_count; i++)
		dr[i] = (struct dsn_recipient){ .address = t->local_dsn[i].address, .original = t->local_dsn[i].orcpt,
						.action = DSN_ACTION_DELIVERED, .status = "2.0.0",
						.diagnostic = "250 2.0.0 delivered to the mailbox",
						.last_attempt = (time_t)ld->now };
	struct dsn_report rep = {
		.reporting_mta = s->cfg->hostname, .sender = s->from.address,
		.envelope_id = s->mail_params.envid[0] ? s->mail_params.envid : NULL,
		.arrival = (time_t)ld->now, .now = (time_t)ld->now, .rcpts = dr, .rcpt_count = t->local_dsn_count,
		.original = hr != NULL ? slice_make(hr->header.data, hr->header.len) : slice_make("", 0),
	};
	buf_init(&ld->msg, 0);
	if (dsn_build(&rep, &ld->msg, &err) < 0) {
		log_error("smtp session=%s event=notice-failed kind=success error=\"%s\"", s->id, err);
		buf_free(&ld->msg);
		free(ld);
	} else {
		ld->sender = xstrdup(s->from.address);
		ld->data_dir = xstrdup(s->cfg->data_dir);
		memcpy(ld->plans, s->cfg->plans, sizeof(ld->plans));
		store_async_call(s->server->store, STORE_CALL_WRITE, local_dsn_work, local_dsn_done, ld);
	}
	free(dr);
}

/* ---- commit ------------------------------------------------------------------------------------ */

static void submitted(int result, const char *errstr, void *arg)
{
	struct smtp_session *s = arg;

	s->pending = NULL;
	if (result == 0 && s->sub.local_dsn_count > 0 && !s->from.null_path)
		send_local_dsn(s);
	if (result == 0)
		log_info("smtp session=%s event=submitted id=%s address=%s from=<%s> local=%zu remote=%zu "
			 "recipients=%u size=%llu dkim=%s",
			 s->id, s->message_id, s->identity.address, s->from.null_path ? "" : s->from.address,
			 s->rcpt_count, s->sub.remote_count, s->rcpt_accepted, (unsigned long long)s->body_bytes,
			 s->sub.dkim_domain[0] ? s->sub.dkim_domain : "no");
	if (result == 0 && s->sub.remote_count > 0 && s->server->on_queued != NULL)
		s->server->on_queued(s->server->on_queued_arg);
	if (result == 0) /* the 250 follows in this loop iteration; auto-replies only start store work */
		inbound_txn_delivered(s->server->inbound, &s->inbound, s->cfg, s->from.null_path ? "" : s->from.address,
				      s->id);
	smtp_committed(s, result, errstr, "queued");
}

/* The DKIM-Signature for the queue entry's prefix, or "" (unsigned: no key, or signing failed). */
static void finish_signature(struct smtp_session *s, struct buf *prefix)
{
	struct smtp_submit_txn *t = &s->sub;
	const char *err;

	if (t->signer == NULL)
		return;
	if (dkim_signer_finish(t->signer, prefix, &err) < 0 || prefix->len >= STORE_QUEUE_PREFIX_MAX) {
		log_warn("smtp session=%s event=dkim-not-signed domain=%s error=\"%s\"", s->id, t->dkim_domain,
			 prefix->len >= STORE_QUEUE_PREFIX_MAX ? "signature too long" : err);
		buf_reset(prefix);
		t->dkim_domain[0] = '\0';
	}
	dkim_signer_free(t->signer);
	t->signer = NULL;
}

static enum store_ret store_ret_of(enum smtp_ret ret)
{
	return ret == SMTP_RET_FULL ? STORE_RET_FULL : ret == SMTP_RET_HDRS ? STORE_RET_HDRS : STORE_RET_UNSET;
}

/*
 * The Message-ID field's value (unfolded, blanks trimmed, control bytes
 * dropped, cut at size) from the fixed header block, for the action
 * history; "" when there is none. submit_headers added one if the client
 * did not, so only a header refused later lacks it.
 */
static void header_message_id(const struct smtp_submit_txn *t, char *out, size_t size)
{
	const char *err;
	const struct submit_headers_result *r = t->headers != NULL ? submit_headers_result(t->headers, &err) : NULL;
	const char *p = r != NULL ? r->header.data : NULL, *end = p != NULL ? p + r->header.len : NULL;
	size_t n = 0;

	out[0] = '\0';
	for (; p != NULL && p < end; p = memchr(p, '\n', (size_t)(end - p)), p = p != NULL ? p + 1 : NULL) {
		if ((size_t)(end - p) < 11 || strncasecmp(p, "Message-ID:", 11) != 0)
			continue;
		/* the value runs to the first line end not followed by a blank (RFC 5322 2.2.3) */
		for (p += 11; p < end && !(*p == '\n' && (p + 1 == end || (p[1] != ' ' && p[1] != '\t'))); p++)
			if ((unsigned char)*p > ' ' && *p != 0x7f && n + 1 < size)
				out[n++] = *p;
		out[n] = '\0';
		return;
	}
}

/* Local and remote recipients in one store transaction; 250 once it is durable (RFC 6409 / issue 4). */
static void submit_finish(struct smtp_session *s)
{
	struct smtp_submit_txn *t = &s->sub;
	struct store_outbound_rcpt *rcpts;
	struct buf prefix;
	struct spool *body;

	if (t->phase == SMTP_SUBMIT_REFUSED) {
		smtp_message_refused(s, "policy", "%s", t->refusal);
		return;
	}
	ASSERT(t->phase == SMTP_SUBMIT_BODY);
	buf_init(&prefix, 0);
	finish_signature(s, &prefix);
	rcpts = xcalloc(t->remote_count ? t->remote_count : 1, sizeof(*rcpts));
	for (size_t i = 0; i < t->remote_count; i++)
		rcpts[i] = (struct store_outbound_rcpt){ .address = t->remote[i].address,
							 .notify = t->remote[i].notify,
							 .orcpt = t->remote[i].orcpt };
	struct store_outbound out = {
		.envelope_from = s->from.null_path ? "" : s->from.address,
		.sender_address_id = s->identity.address_id,
		.envid = s->mail_params.envid[0] ? s->mail_params.envid : NULL,
		.ret = store_ret_of(s->mail_params.ret),
		.prefix = prefix.len > 0 ? prefix.data : NULL,
		.rcpts = rcpts,
		.rcpt_count = t->remote_count,
		.send_log_count = s->rcpt_accepted,
	};
	snprintf(out.sender_address, sizeof(out.sender_address), "%s", s->identity.address);
	snprintf(out.client_ip, sizeof(out.client_ip), "%s", conn_peer_ip(s->conn));
	header_message_id(t, out.message_id, sizeof(out.message_id));
	body = s->spool;
	s->spool = NULL;
	s->pending = store_async_submit(s->server->store, body, s->rcpt_ids, s->rcpt_count, &out,
					(int64_t)time(NULL), submitted, s);
	free(rcpts);
	buf_free(&prefix);
	smtp_update_reading(s);
}

static enum smtp_flow submit_commit(struct smtp_session *s)
{
	struct smtp_submit_txn *t = &s->sub;

	if (t->headers == NULL)
		submit_text_begin(s); /* an empty message */
	if (t->phase == SMTP_SUBMIT_HEADER) {
		/* The message ended inside its header section (no body). */
		submit_headers_end(t->headers);
		header_complete(s);
		if (smtp_busy(s))
			return SMTP_FLOW_CONTINUE; /* header_checked finishes */
	}
	submit_finish(s);
	return SMTP_FLOW_CONTINUE;
}

/* ---- the transaction ------------------------------------------------------------------------- */

static void submit_reset(struct smtp_session *s)
{
	struct smtp_submit_txn *t = &s->sub;

	for (size_t i = 0; i < t->remote_count; i++) {
		free(t->remote[i].address);
		free(t->remote[i].orcpt);
	}
	free(t->remote);
	for (size_t i = 0; i < t->local_dsn_count; i++) {
		free(t->local_dsn[i].address);
		free(t->local_dsn[i].orcpt);
	}
	free(t->local_dsn);
	submit_headers_free(t->headers);
	buf_free(&t->held);
	if (t->signer != NULL)
		dkim_signer_free(t->signer);
	dkim_key_destroy(&t->dkim_key);
	memset(t, 0, sizeof(*t));
	inbound_txn_reset(&s->inbound);
}

static void submit_text_first(struct smtp_session *s, const char *p, size_t len)
{
	if (s->sub.headers == NULL)
		submit_text_begin(s);
	submit_text(s, p, len);
}

const struct smtp_policy smtp_policy_submission = {
	.name = "submission",
	.ehlo_keywords = submit_ehlo_keywords,
	.size_limit = submit_size_limit,
	.auth = submit_auth,
	.mail_refusal = submit_mail_refusal,
	.mail = submit_mail,
	.rcpt = submit_rcpt,
	.text = submit_text_first,
	.commit = submit_commit,
	.reset = submit_reset,
};
