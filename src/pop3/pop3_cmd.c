/*
 * pop3_cmd: the POP3 command table and its handlers (RFC 1939, RFC 2449
 * CAPA, RFC 2595 STLS, RFC 5034 AUTH with PLAIN and LOGIN).
 *
 * Each row names a command, the states it is valid in and its handler. A
 * handler checks syntax first (an -ERR that says what is wrong, and an
 * error counted), then acts. Passwords are copied out of the input line
 * and the line is wiped as soon as the login has its own copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "pop3/pop3_private.h"

#define ST_AUTH (1u << POP3_STATE_AUTHORIZATION)
#define ST_TRANS (1u << POP3_STATE_TRANSACTION)

/* base64 of "Username:" and "Password:" (the LOGIN mechanism's challenges). */
#define SASL_LOGIN_USER_PROMPT "+ VXNlcm5hbWU6"
#define SASL_LOGIN_PASS_PROMPT "+ UGFzc3dvcmQ6"

struct pop3_cmd_def {
	const char *name;
	unsigned states;
	enum pop3_flow (*run)(struct pop3_session *s, struct slice args);
};

static enum pop3_flow refuse(struct pop3_session *s, const char *reply)
{
	pop3_reply(s, "%s", reply);
	return pop3_count_error(s);
}

static void wipe(struct slice sl)
{
	sodium_memzero((char *)sl.p, sl.len); /* points into the connection's line buffer, which is ours */
}

static const char plaintext_refusal[] =
	"-ERR [AUTH] Plaintext authentication is disabled; use STLS or the POP3S port";

/* ---- AUTHORIZATION ------------------------------------------------------------------ */

static enum pop3_flow cmd_user(struct pop3_session *s, struct slice args)
{
	if (!pop3_auth_allowed(s))
		return refuse(s, plaintext_refusal);
	if (args.len == 0 || args.len >= sizeof(s->address))
		return refuse(s, "-ERR Syntax: USER <address>");
	memcpy(s->user, args.p, args.len);
	s->user[args.len] = '\0';
	s->have_user = true;
	/* Always +OK: whether the address exists is not told before the password (RFC 1939 13). */
	pop3_reply(s, "+OK Send your password");
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_pass(struct pop3_session *s, struct slice args)
{
	char pass[AUTH_SASL_FIELD_MAX];

	if (!pop3_auth_allowed(s)) {
		wipe(args);
		return refuse(s, plaintext_refusal);
	}
	if (!s->have_user) {
		wipe(args);
		return refuse(s, "-ERR Send USER first");
	}
	if (args.len == 0 || args.len >= sizeof(pass)) {
		wipe(args);
		s->have_user = false;
		return refuse(s, "-ERR Syntax: PASS <password>");
	}
	/* The password is the rest of the line: it may contain spaces. */
	memcpy(pass, args.p, args.len);
	pass[args.len] = '\0';
	wipe(args);
	pop3_login(s, s->user, pass);
	sodium_memzero(pass, sizeof(pass));
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow sasl_plain(struct pop3_session *s, struct slice b64)
{
	char user[AUTH_SASL_FIELD_MAX], pass[AUTH_SASL_FIELD_MAX];
	const char *err;

	if (auth_sasl_plain(b64, user, pass, &err) < 0) {
		char reply[256];
		snprintf(reply, sizeof(reply), "-ERR [AUTH] %s", err);
		if (s->state == POP3_STATE_SASL)
			pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		return refuse(s, reply);
	}
	pop3_login(s, user, pass);
	sodium_memzero(user, sizeof(user));
	sodium_memzero(pass, sizeof(pass));
	return POP3_FLOW_CONTINUE;
}

/* A LOGIN field; on success continues the exchange or logs in. */
static enum pop3_flow sasl_login_field(struct pop3_session *s, struct slice b64)
{
	char field[AUTH_SASL_FIELD_MAX];
	const char *err;

	if (auth_sasl_login_field(b64, field, &err) < 0) {
		char reply[256];
		snprintf(reply, sizeof(reply), "-ERR [AUTH] %s", err);
		if (s->state == POP3_STATE_SASL)
			pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		return refuse(s, reply);
	}
	if (s->state != POP3_STATE_SASL || s->sasl_step == POP3_SASL_LOGIN_USER) {
		snprintf(s->user, sizeof(s->user), "%s", field);
		if (s->state != POP3_STATE_SASL)
			pop3_set_state(s, POP3_STATE_SASL);
		s->sasl_step = POP3_SASL_LOGIN_PASS;
		pop3_reply(s, SASL_LOGIN_PASS_PROMPT);
		return POP3_FLOW_CONTINUE;
	}
	pop3_login(s, s->user, field);
	sodium_memzero(field, sizeof(field));
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_auth(struct pop3_session *s, struct slice args)
{
	struct slice mech, initial;

	if (args.len == 0) {
		/* RFC 1734 style listing, which clients such as fetchmail probe with. */
		pop3_reply(s, "+OK Supported mechanisms follow");
		pop3_reply(s, "PLAIN");
		pop3_reply(s, "LOGIN");
		pop3_reply(s, ".");
		return POP3_FLOW_CONTINUE;
	}
	pop3_next_word(args, &mech, &initial);
	if (!pop3_auth_allowed(s)) {
		wipe(initial);
		return refuse(s, plaintext_refusal);
	}
	bool plain = slice_eq_nocase(mech, "PLAIN");
	if (!plain && !slice_eq_nocase(mech, "LOGIN")) {
		wipe(initial);
		return refuse(s, "-ERR Unsupported authentication mechanism: use PLAIN or LOGIN");
	}
	s->have_user = false;
	/* RFC 5034 4: "=" is an initial response of zero length. */
	if (initial.len == 1 && initial.p[0] == '=')
		initial.len = 0;
	if (initial.len == 0 && initial.p > args.p + mech.len) {
		/* "AUTH PLAIN =" or "AUTH PLAIN ": an empty response is malformed for both mechanisms. */
		return refuse(s, "-ERR [AUTH] Empty initial response");
	}
	if (initial.len > 0) {
		enum pop3_flow flow = plain ? sasl_plain(s, initial) : sasl_login_field(s, initial);
		if (flow == POP3_FLOW_CONTINUE)
			wipe(initial);
		return flow;
	}
	pop3_set_state(s, POP3_STATE_SASL);
	s->sasl_step = plain ? POP3_SASL_PLAIN : POP3_SASL_LOGIN_USER;
	pop3_reply(s, "%s", plain ? "+ " : SASL_LOGIN_USER_PROMPT);
	return POP3_FLOW_CONTINUE;
}

enum pop3_flow pop3_cmd_sasl_response(struct pop3_session *s, const struct conn_line *line)
{
	struct slice resp = slice_make(line->p, line->len);
	enum pop3_flow flow;

	if (line->len == 1 && line->p[0] == '*') {
		/* RFC 5034 4: the client cancels. */
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		return refuse(s, "-ERR Authentication cancelled");
	}
	if (s->sasl_step == POP3_SASL_PLAIN)
		flow = sasl_plain(s, resp);
	else
		flow = sasl_login_field(s, resp);
	if (flow == POP3_FLOW_CONTINUE)
		wipe(resp);
	return flow;
}

static enum pop3_flow cmd_stls(struct pop3_session *s, struct slice args)
{
	SSL_CTX *ctx = server_tls_ctx(s->server->srv);

	if (args.len != 0)
		return refuse(s, "-ERR Syntax: STLS");
	if (conn_is_tls(s->conn))
		return refuse(s, "-ERR TLS is already active");
	if (ctx == NULL)
		return refuse(s, "-ERR TLS is not available: no certificate is configured");
	pop3_reply(s, "+OK Begin TLS negotiation");
	pop3_set_state(s, POP3_STATE_TLS);
	pop3_update_reading(s);
	/* RFC 2595 3.1 / STYLE: conn_starttls discards whatever was pipelined after STLS. */
	if (conn_starttls(s->conn, ctx) < 0) {
		log_warn("pop3 session=%s event=starttls-failed", s->id);
		return pop3_close(s, NULL);
	}
	return POP3_FLOW_CONTINUE;
}

/* ---- both states --------------------------------------------------------------------- */

static enum pop3_flow cmd_capa(struct pop3_session *s, struct slice args)
{
	bool authorization = s->state == POP3_STATE_AUTHORIZATION;

	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	if (authorization && pop3_auth_allowed(s)) {
		pop3_reply(s, "USER");
		pop3_reply(s, "SASL PLAIN LOGIN");
	}
	if (authorization && !conn_is_tls(s->conn) && server_tls_ctx(s->server->srv) != NULL)
		pop3_reply(s, "STLS");
	pop3_reply(s, "IMPLEMENTATION hermod");
	pop3_reply(s, ".");
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_quit(struct pop3_session *s, struct slice args)
{
	if (s->state == POP3_STATE_TRANSACTION)
		return pop3_update(s);
	log_info("pop3 session=%s event=disconnect reason=quit", s->id);
	return pop3_close(s, "+OK Bye");
}

/* ---- TRANSACTION ---------------------------------------------------------------------- */

/* A message-number argument: the index of a message that exists and is not deleted. */
static int message_arg(struct pop3_session *s, struct slice word, size_t *index_r)
{
	uint64_t n;

	if (pop3_parse_number(word, UINT32_MAX, &n) < 0) {
		pop3_reply(s, "-ERR Invalid message number");
		return -1;
	}
	if (n == 0 || n > s->count) {
		pop3_reply(s, "-ERR No such message: the maildrop has %zu", s->count);
		return -1;
	}
	if (s->msgs[n - 1].deleted) {
		pop3_reply(s, "-ERR Message %llu is already deleted", (unsigned long long)n);
		return -1;
	}
	*index_r = (size_t)(n - 1);
	return 0;
}

/* For commands taking one optional/required message number and nothing else. */
static int single_message(struct pop3_session *s, struct slice args, size_t *index_r)
{
	struct slice word, rest;

	pop3_next_word(args, &word, &rest);
	if (rest.len != 0) {
		pop3_reply(s, "-ERR Too many arguments");
		return -1;
	}
	return message_arg(s, word, index_r);
}

static enum pop3_flow cmd_stat(struct pop3_session *s, struct slice args)
{
	size_t n;
	uint64_t bytes;

	if (args.len != 0)
		return refuse(s, "-ERR Syntax: STAT");
	pop3_maildrop_stat(s, &n, &bytes);
	pop3_reply(s, "+OK %zu %llu", n, (unsigned long long)bytes);
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_list(struct pop3_session *s, struct slice args)
{
	size_t i;

	if (args.len == 0) {
		pop3_listing_start(s, POP3_LISTING_LIST);
		return POP3_FLOW_CONTINUE;
	}
	if (single_message(s, args, &i) < 0)
		return pop3_count_error(s);
	pop3_reply(s, "+OK %zu %llu", i + 1, (unsigned long long)s->msgs[i].size);
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_uidl(struct pop3_session *s, struct slice args)
{
	size_t i;

	if (args.len == 0) {
		pop3_listing_start(s, POP3_LISTING_UIDL);
		return POP3_FLOW_CONTINUE;
	}
	if (single_message(s, args, &i) < 0)
		return pop3_count_error(s);
	pop3_reply(s, "+OK %zu %u.%u", i + 1, s->uidvalidity, s->msgs[i].uid);
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_retr(struct pop3_session *s, struct slice args)
{
	size_t i;

	if (args.len == 0)
		return refuse(s, "-ERR Syntax: RETR <message number>");
	if (single_message(s, args, &i) < 0)
		return pop3_count_error(s);
	pop3_stream_start(s, i, false, 0);
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_top(struct pop3_session *s, struct slice args)
{
	struct slice word, rest, lines_word, extra;
	uint64_t lines;
	size_t i;

	pop3_next_word(args, &word, &rest);
	pop3_next_word(rest, &lines_word, &extra);
	if (word.len == 0 || lines_word.len == 0 || extra.len != 0)
		return refuse(s, "-ERR Syntax: TOP <message number> <lines>");
	if (message_arg(s, word, &i) < 0)
		return pop3_count_error(s);
	if (pop3_parse_number(lines_word, UINT64_MAX, &lines) < 0)
		return refuse(s, "-ERR Invalid number of lines");
	pop3_stream_start(s, i, true, lines);
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_dele(struct pop3_session *s, struct slice args)
{
	size_t i;

	if (args.len == 0)
		return refuse(s, "-ERR Syntax: DELE <message number>");
	if (single_message(s, args, &i) < 0)
		return pop3_count_error(s);
	pop3_mark_deleted(s, i);
	pop3_reply(s, "+OK Message %zu deleted", i + 1);
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_noop(struct pop3_session *s, struct slice args)
{
	pop3_reply(s, "+OK");
	return POP3_FLOW_CONTINUE;
}

static enum pop3_flow cmd_rset(struct pop3_session *s, struct slice args)
{
	size_t n;
	uint64_t bytes;

	pop3_unmark_all(s);
	pop3_maildrop_stat(s, &n, &bytes);
	pop3_reply(s, "+OK Maildrop has %zu messages (%llu octets)", n, (unsigned long long)bytes);
	return POP3_FLOW_CONTINUE;
}

/* ---- the table -------------------------------------------------------------------------- */

static const struct pop3_cmd_def commands[] = {
	{ "USER", ST_AUTH, cmd_user },	       { "PASS", ST_AUTH, cmd_pass },
	{ "AUTH", ST_AUTH, cmd_auth },	       { "STLS", ST_AUTH, cmd_stls },
	{ "CAPA", ST_AUTH | ST_TRANS, cmd_capa }, { "QUIT", ST_AUTH | ST_TRANS, cmd_quit },
	{ "STAT", ST_TRANS, cmd_stat },	       { "LIST", ST_TRANS, cmd_list },
	{ "UIDL", ST_TRANS, cmd_uidl },	       { "RETR", ST_TRANS, cmd_retr },
	{ "TOP", ST_TRANS, cmd_top },	       { "DELE", ST_TRANS, cmd_dele },
	{ "NOOP", ST_TRANS, cmd_noop },	       { "RSET", ST_TRANS, cmd_rset },
};

enum pop3_flow pop3_cmd_dispatch(struct pop3_session *s, const struct conn_line *line)
{
	struct slice verb, args;

	if (pop3_split_command(slice_make(line->p, line->len), &verb, &args) < 0)
		return refuse(s, "-ERR Unknown command");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct pop3_cmd_def *c = &commands[i];
		if (!slice_eq_nocase(verb, c->name))
			continue;
		if (c->states & (1u << s->state))
			return c->run(s, args);
		wipe(args); /* a PASS after login still carries a password */
		if (s->state == POP3_STATE_TRANSACTION)
			return refuse(s, "-ERR Not valid after login");
		return refuse(s, "-ERR Log in first (USER and PASS, or AUTH)");
	}
	wipe(args);
	pop3_reply(s, "-ERR Unknown command: %.*s", (int)verb.len, verb.p);
	return pop3_count_error(s);
}
