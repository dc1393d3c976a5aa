/*
 * cmd_auth: commands of any state and of the not-authenticated state:
 * CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161), STARTTLS
 * (RFC 3501 6.2.1), LOGIN and AUTHENTICATE PLAIN/LOGIN with SASL-IR
 * (RFC 4959).
 *
 * Passwords are checked by the auth service off the loop (argon2), which
 * also delays and throttles failures; they are wiped from our buffers as
 * soon as they are handed over and never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

enum imap_cmd_result imap_cmd_capability(struct imap_cmd *cmd)
{
	char caps[1024];

	imap_capability_string(cmd->session, caps, sizeof(caps));
	imap_untagged(cmd->session, "CAPABILITY %s", caps);
	return imap_cmd_ok(cmd, "CAPABILITY completed");
}

/* NOOP and CHECK: the session's safe-point sync reports whatever changed (RFC 3501 6.1.2). */
enum imap_cmd_result imap_cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->session->view != NULL)
		cmd->session->view->dirty = true; /* poll even without a notification */
	return imap_cmd_ok(cmd, "NOOP completed");
}

enum imap_cmd_result imap_cmd_logout(struct imap_cmd *cmd)
{
	imap_untagged(cmd->session, "BYE Logging out");
	cmd->logout = true;
	return imap_cmd_ok(cmd, "LOGOUT completed");
}

enum imap_cmd_result imap_cmd_id(struct imap_cmd *cmd)
{
	/* RFC 2971 3.3: the client's list is only informational. */
	if (cmd->parsed.arg_count != 1 ||
	    (cmd->parsed.args[0].type != IMAP_ARG_NIL && cmd->parsed.args[0].type != IMAP_ARG_LIST))
		return imap_cmd_bad(cmd, "Syntax: ID (\"name\" \"value\" ...) or ID NIL");
	imap_untagged(cmd->session, "ID (\"name\" \"hermod\" \"vendor\" \"hermod\")");
	return imap_cmd_ok(cmd, "ID completed");
}

enum imap_cmd_result imap_cmd_enable(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	char enabled[128] = "";
	size_t n = 0;

	if (cmd->parsed.arg_count == 0)
		return imap_cmd_bad(cmd, "Syntax: ENABLE capability ...");
	for (size_t i = 0; i < cmd->parsed.arg_count; i++) {
		const struct imap_arg *a = &cmd->parsed.args[i];
		unsigned bit = 0;
		if (imap_arg_atom_is(a, "IMAP4REV2"))
			bit = IMAP_ENABLED_IMAP4REV2 | IMAP_ENABLED_UTF8;
		else if (imap_arg_atom_is(a, "CONDSTORE"))
			bit = IMAP_ENABLED_CONDSTORE;
		else if (imap_arg_atom_is(a, "QRESYNC"))
			bit = IMAP_ENABLED_QRESYNC | IMAP_ENABLED_CONDSTORE; /* RFC 7162 3.2.3 */
		else if (imap_arg_atom_is(a, "UTF8=ACCEPT"))
			bit = IMAP_ENABLED_UTF8;
		if (bit == 0 || (s->enabled & bit) == bit)
			continue; /* RFC 5161 3.1: unknown or already enabled ones are not listed */
		s->enabled |= bit;
		int k = snprintf(enabled + n, sizeof(enabled) - n, " %s", a->str);
		if (k > 0 && (size_t)k < sizeof(enabled) - n)
			n += (size_t)k;
	}
	imap_untagged(s, "ENABLED%s", enabled);
	return imap_cmd_ok(cmd, "ENABLE completed");
}

enum imap_cmd_result imap_cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	SSL_CTX *ctx = server_tls_ctx(s->server->srv);

	if (cmd->parsed.arg_count != 0)
		return imap_cmd_bad(cmd, "Syntax: STARTTLS");
	if (conn_is_tls(s->conn))
		return imap_cmd_bad(cmd, "TLS is already active");
	if (ctx == NULL)
		return imap_cmd_no(cmd, "TLS is not available: no certificate is configured");
	/* The tagged OK goes out before the handshake; conn_starttls drops pipelined plaintext. */
	imap_printf(s, "%s OK Begin TLS negotiation now\r\n", cmd->parsed.tag);
	s->tls_pending = true;
	if (conn_starttls(s->conn, ctx) < 0) {
		log_warn("imap session=%s event=starttls-failed", s->id);
		cmd->logout = true;
	}
	return IMAP_CMD_DONE; /* tagged reply already written */
}

/* ---- login ----------------------------------------------------------------------------- */

struct login_ctx {
	char user[AUTH_SASL_FIELD_MAX];
	bool have_user;
};

static void login_ctx_free(void *arg)
{
	sodium_memzero(arg, sizeof(struct login_ctx));
	free(arg);
}

static enum imap_cmd_result step_done(struct imap_cmd *cmd)
{
	return IMAP_CMD_DONE;
}

static void on_auth(enum auth_result result, const struct auth_identity *id, const char *message, void *arg)
{
	struct imap_cmd *cmd = arg;
	struct imap_session *s = cmd->session;
	char caps[1024];

	cmd->auth = NULL;
	switch (result) {
	case AUTH_OK:
		s->address_id = id->address_id;
		s->address = xstrdup(id->address);
		s->plan = id->plan;
		imap_set_state(s, IMAP_STATE_AUTHENTICATED);
		log_info("imap session=%s event=login address=%s ip=%s", s->id, id->address, conn_peer_ip(s->conn));
		imap_capability_string(s, caps, sizeof(caps));
		imap_cmd_ok(cmd, "[CAPABILITY %s] Logged in", caps);
		break;
	case AUTH_FAILED:
		imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] %s", message ? message : "Authentication failed");
		break;
	case AUTH_THROTTLED:
		imap_cmd_no(cmd, "[UNAVAILABLE] %s", message ? message : "Too many failed logins; try again later");
		break;
	case AUTH_TEMPFAIL:
		imap_cmd_no(cmd, "[UNAVAILABLE] %s", message ? message : "Temporary failure; try again later");
		break;
	}
	imap_cmd_resume(cmd, step_done);
}

static enum imap_cmd_result start_login(struct imap_cmd *cmd, const char *user, const char *pass)
{
	struct imap_session *s = cmd->session;

	if (user[0] == '\0')
		return imap_cmd_no(cmd, "[AUTHENTICATIONFAILED] Authentication failed");
	cmd->run = step_done;
	cmd->auth = auth_login(s->server->auth, "imap", conn_peer_ip(s->conn), user, pass, on_auth, cmd);
	return IMAP_CMD_WAIT;
}

enum imap_cmd_result imap_cmd_login(struct imap_cmd *cmd)
{
	struct imap_arg *a = cmd->parsed.args;

	if (cmd->parsed.arg_count != 2 || imap_arg_astring(&a[0]) == NULL || imap_arg_astring(&a[1]) == NULL)
		return imap_cmd_bad(cmd, "Syntax: LOGIN user password");
	enum imap_cmd_result r = start_login(cmd, a[0].str, a[1].str);
	sodium_memzero((void *)a[1].str, a[1].len); /* auth_login copied it */
	return r;
}

/* "=" is an empty initial response (RFC 4959); "*" cancels (RFC 3501 6.2.2). */
static struct slice sasl_data(const char *p, size_t len)
{
	if (len == 1 && p[0] == '=')
		return slice_make(p, 0);
	return slice_make(p, len);
}

static enum imap_cmd_result plain_response(struct imap_cmd *cmd, struct slice b64)
{
	char user[AUTH_SASL_FIELD_MAX], pass[AUTH_SASL_FIELD_MAX];
	const char *err;

	if (auth_sasl_plain(b64, user, pass, &err) < 0)
		return imap_cmd_bad(cmd, "%s", err);
	enum imap_cmd_result r = start_login(cmd, user, pass);
	sodium_memzero(pass, sizeof(pass));
	return r;
}

static bool cancelled(struct imap_cmd *cmd)
{
	return cmd->line.len == 1 && cmd->line.data[0] == '*';
}

static enum imap_cmd_result plain_line(struct imap_cmd *cmd)
{
	if (cancelled(cmd))
		return imap_cmd_bad(cmd, "Authentication cancelled");
	enum imap_cmd_result r = plain_response(cmd, slice_make(cmd->line.data, cmd->line.len));
	sodium_memzero(cmd->line.data, cmd->line.len);
	return r;
}

static enum imap_cmd_result login_line(struct imap_cmd *cmd);

/* The user name (then prompts for the password) or the password (then checks both). */
static enum imap_cmd_result login_field(struct imap_cmd *cmd, struct slice b64)
{
	struct login_ctx *lc = cmd->ctx;
	char field[AUTH_SASL_FIELD_MAX];
	const char *err;

	if (auth_sasl_login_field(b64, field, &err) < 0)
		return imap_cmd_bad(cmd, "%s", err);
	if (!lc->have_user) {
		memcpy(lc->user, field, sizeof(lc->user));
		lc->have_user = true;
		sodium_memzero(field, sizeof(field));
		return imap_cmd_want_line(cmd, "UGFzc3dvcmQ6", login_line); /* "Password:" */
	}
	enum imap_cmd_result r = start_login(cmd, lc->user, field);
	sodium_memzero(field, sizeof(field));
	return r;
}

static enum imap_cmd_result login_line(struct imap_cmd *cmd)
{
	if (cancelled(cmd))
		return imap_cmd_bad(cmd, "Authentication cancelled");
	struct buf line = cmd->line; /* login_field may ask for the next line: keep this one to wipe it */
	buf_init(&cmd->line, 0);
	enum imap_cmd_result r = login_field(cmd, slice_make(line.data, line.len));
	if (line.data != NULL)
		sodium_memzero(line.data, line.len);
	buf_free(&line);
	return r;
}

enum imap_cmd_result imap_cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_arg *a = cmd->parsed.args;
	size_t n = cmd->parsed.arg_count;

	if (n < 1 || n > 2 || a[0].type != IMAP_ARG_ATOM || (n == 2 && a[1].type != IMAP_ARG_ATOM))
		return imap_cmd_bad(cmd, "Syntax: AUTHENTICATE mechanism [initial-response]");
	if (imap_arg_atom_is(&a[0], "PLAIN")) {
		if (n == 1)
			return imap_cmd_want_line(cmd, "", plain_line);
		enum imap_cmd_result r = plain_response(cmd, sasl_data(a[1].str, a[1].len));
		sodium_memzero((void *)a[1].str, a[1].len);
		return r;
	}
	if (imap_arg_atom_is(&a[0], "LOGIN")) {
		cmd->ctx = xcalloc(1, sizeof(struct login_ctx));
		cmd->ctx_free = login_ctx_free;
		if (n == 1)
			return imap_cmd_want_line(cmd, "VXNlcm5hbWU6", login_line); /* "Username:" */
		return login_field(cmd, sasl_data(a[1].str, a[1].len));
	}
	return imap_cmd_no(cmd, "Unsupported authentication mechanism (PLAIN and LOGIN are offered)");
}
