/*
 * smtp_client: the outbound SMTP state machine (RFC 5321 client side).
 *
 * One struct smtp_client per job. States follow the conversation; each
 * complete reply goes to the handler of the state that expects it. With
 * PIPELINING, MAIL, every RCPT and DATA leave in one write and their replies
 * are consumed in order (RFC 2920 section 3.1). The body is pumped from the
 * reader while the output buffer stays under a watermark.
 *
 * Attempt vs transaction: before MAIL FROM is sent, a failure ends only the
 * attempt on this address (the next one is tried); after it, the outcome is
 * the job's. Nothing of the body has been read before DATA's 354, so an
 * attempt can always be repeated elsewhere.
 *
 * Reuse: a job given an idle session starts in SC_RSET on it instead of
 * connecting. The RSET is sent alone, not pipelined with MAIL: a session
 * the server has meanwhile closed must fail before the transaction starts,
 * so that the job simply goes on with a fresh connection. A session is kept
 * only after a 2xx to the final dot with nothing more buffered: any error,
 * a 421, a refused message or a reply out of turn ends it.
 */
#include "smtp/smtp_client.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "net/conn.h"
#include "net/net_private.h"
#include "smtp/smtp_parse.h"

#define BODY_CHUNK 16384
#define BODY_WATERMARK (64 * 1024) /* output buffered before waiting for DRAINED */
#define LABEL_MAX (256 + NET_IP_MAX + 16)

enum sc_state {
	SC_START,
	SC_CONNECTING,
	SC_BANNER,
	SC_EHLO,
	SC_HELO,
	SC_STARTTLS,
	SC_TLS_HANDSHAKE,
	SC_RSET,      /* a reused session: RSET before the transaction */
	SC_MAIL,
	SC_RCPT,
	SC_DATA,
	SC_BODY,
	SC_DOT,
	SC_EMPTY_DOT, /* DATA accepted with no recipient accepted: a lone dot (RFC 2920 3.1) */
};

static const char *const state_names[] = {
	[SC_START] = "start",     [SC_CONNECTING] = "connect", [SC_BANNER] = "banner",
	[SC_EHLO] = "EHLO",       [SC_HELO] = "HELO",          [SC_STARTTLS] = "STARTTLS",
	[SC_TLS_HANDSHAKE] = "TLS handshake", [SC_RSET] = "RSET", [SC_MAIL] = "MAIL FROM", [SC_RCPT] = "RCPT TO",
	[SC_DATA] = "DATA",       [SC_BODY] = "message body",  [SC_DOT] = "end of data",
	[SC_EMPTY_DOT] = "end of data",
};

struct stored_reply {
	bool set;
	enum smtp_client_status status;
	unsigned code;
	char enhanced[SMTP_ENHANCED_MAX];
	char text[SMTP_CLIENT_TEXT_MAX];
	bool remote;
};

struct target {
	struct sockaddr_storage sa;
	socklen_t len;
	char *host;
	char label[LABEL_MAX]; /* "host[ip]:port" */
};

struct rcpt {
	char *addr;
	unsigned notify;   /* SMTP_NOTIFY_* bits, 0: not given */
	char *orcpt;       /* decoded, or NULL */
	bool accepted;
	struct stored_reply r;
};

/* The reply being read, line by line. */
struct reading {
	unsigned code;
	unsigned nlines;
	char enhanced[SMTP_ENHANCED_MAX];
	char text[SMTP_CLIENT_TEXT_MAX];
	size_t textlen;
	bool complete; /* handed to a handler; the next line starts a new reply */
};

struct smtp_client {
	struct event_base *base;
	smtp_client_cb cb;
	void *arg;
	char id[20];

	struct target *targets;
	size_t ntargets, cur;
	char *helo;
	SSL_CTX *tls_ctx;
	char *from;
	char *envid;       /* RFC 3461, decoded, or NULL */
	int dsn_ret;       /* 0, 1 FULL, 2 HDRS */
	struct rcpt *rcpts;
	size_t nrcpts;
	smtp_client_read_fn read;
	void *read_arg;
	uint64_t size;
	unsigned flags;
	struct smtp_client_timeouts to;

	struct conn *conn;
	struct event *defer;
	enum sc_state state;
	struct reading rd;

	/* per attempt */
	unsigned exts;
	uint64_t size_max;
	bool tls, tls_verified, no_tls; /* no_tls: the handshake failed here once, go plain */
	char tls_desc[128];

	/* per transaction */
	bool pipelining;
	size_t rcpt_replies, rcpts_sent, naccepted;
	bool line_start, pending_cr;

	/* connection reuse */
	bool keep;                       /* job.keep */
	struct smtp_client_idle *reuse;  /* job.reuse until start_cb takes it */
	bool reusing;                    /* RSET on a reused session is under way */
	bool reused;                     /* this transaction runs on a reused session */
	unsigned uses;                   /* transactions the session carried before this one */

	struct stored_reply attempt_err; /* why the last address failed */
	bool any_temp_attempt;
	struct stored_reply final;
};

/* An idle session between transactions (connection reuse). */
struct smtp_client_idle {
	struct conn *conn;
	struct target target;
	char *helo;
	SSL_CTX *tls_ctx;
	unsigned exts;
	uint64_t size_max;
	bool tls, tls_verified, no_tls;
	char tls_desc[128];
	unsigned uses;
	smtp_client_idle_cb gone;
	void *gone_arg;
};

static void try_target(struct smtp_client *sc);
static void on_event(struct conn *c, enum conn_event ev, void *arg);
static void idle_release(struct smtp_client_idle *idle);
static void idle_event(struct conn *c, enum conn_event ev, void *arg);

/* ---- replies and results ---- */

static enum smtp_client_status status_of(unsigned code)
{
	if (code >= 200 && code < 400)
		return SMTP_CLIENT_DELIVERED;
	return code >= 500 ? SMTP_CLIENT_PERMFAIL : SMTP_CLIENT_TEMPFAIL;
}

static void store_remote(struct stored_reply *dst, const struct reading *rd)
{
	dst->set = true;
	dst->status = status_of(rd->code);
	dst->code = rd->code;
	dst->remote = true;
	memcpy(dst->enhanced, rd->enhanced, sizeof(dst->enhanced));
	memcpy(dst->text, rd->text, sizeof(dst->text));
}

/* Our own verdict ("451 4.4.1 connect to ...: refused"), not the server's. */
static void store_local(struct stored_reply *dst, unsigned code, const char *enhanced, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void store_local(struct stored_reply *dst, unsigned code, const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	dst->set = true;
	dst->status = status_of(code);
	dst->code = code;
	dst->remote = false;
	snprintf(dst->enhanced, sizeof(dst->enhanced), "%s", enhanced);
	va_start(ap, fmt);
	vsnprintf(dst->text, sizeof(dst->text), fmt, ap);
	va_end(ap);
}

static struct smtp_client_reply public_reply(const struct stored_reply *r)
{
	return (struct smtp_client_reply){ r->status, r->code, {0}, r->text, r->remote };
}

static const char *label(const struct smtp_client *sc)
{
	return sc->targets[sc->cur < sc->ntargets ? sc->cur : sc->ntargets - 1].label;
}

/* ---- lifecycle ---- */

static void sc_free(struct smtp_client *sc)
{
	smtp_client_idle_free(sc->reuse); /* cancelled before start_cb took it */
	conn_free(sc->conn);
	event_free(sc->defer);
	for (size_t i = 0; i < sc->ntargets; i++)
		free(sc->targets[i].host);
	for (size_t i = 0; i < sc->nrcpts; i++) {
		free(sc->rcpts[i].addr);
		free(sc->rcpts[i].orcpt);
	}
	free(sc->targets);
	free(sc->rcpts);
	free(sc->helo);
	free(sc->from);
	free(sc->envid);
	free(sc);
}

void smtp_client_cancel(struct smtp_client *sc)
{
	if (sc == NULL)
		return;
	log_info("smtp-client id=%s event=cancelled state=%s", sc->id, state_names[sc->state]);
	sc_free(sc);
}

static enum smtp_client_status overall_status(const struct smtp_client *sc)
{
	bool temp = false;

	for (size_t i = 0; i < sc->nrcpts; i++) {
		if (sc->rcpts[i].r.status == SMTP_CLIENT_DELIVERED)
			return SMTP_CLIENT_DELIVERED;
		temp = temp || sc->rcpts[i].r.status == SMTP_CLIENT_TEMPFAIL;
	}
	return temp ? SMTP_CLIENT_TEMPFAIL : SMTP_CLIENT_PERMFAIL;
}

/*
 * Worth keeping for the next transaction: the server took the message (2xx
 * to the final dot, so it is in its initial state again, RFC 5321 4.1.1.4)
 * and sent nothing more. Anything else (an error, a 421, a refusal, a reply
 * out of turn) ends the session.
 */
static bool keepable(const struct smtp_client *sc, const struct stored_reply *fallback)
{
	return sc->keep && sc->conn != NULL && sc->state == SC_DOT && fallback->remote && fallback->code / 100 == 2 &&
	       evbuffer_get_length(conn_input(sc->conn)) == 0;
}

/* Hands the session over as idle: it keeps what EHLO (and STARTTLS) established. */
static struct smtp_client_idle *idle_new(struct smtp_client *sc)
{
	struct smtp_client_idle *idle = xcalloc(1, sizeof(*idle));
	const struct target *t = &sc->targets[sc->cur];

	idle->conn = sc->conn;
	sc->conn = NULL;
	idle->target = *t;
	idle->target.host = t->host != NULL ? xstrdup(t->host) : NULL;
	idle->helo = xstrdup(sc->helo);
	idle->tls_ctx = sc->tls_ctx;
	idle->exts = sc->exts;
	idle->size_max = sc->size_max;
	idle->tls = sc->tls;
	idle->tls_verified = sc->tls_verified;
	idle->no_tls = sc->no_tls;
	memcpy(idle->tls_desc, sc->tls_desc, sizeof(idle->tls_desc));
	idle->uses = sc->uses + 1;
	/* until the owner watches it: no timer; an event closes it (see idle_event) */
	conn_set_timeout(idle->conn, 0);
	conn_set_cb(idle->conn, idle_event, idle);
	return idle;
}

/*
 * The job is decided: every recipient without a result gets `fallback`.
 * Keep the session (job.keep) or politely QUIT if a connection is up
 * (conn_close flushes it and lingers on its own), call back, free.
 */
static void finish(struct smtp_client *sc, const struct stored_reply *fallback)
{
	struct smtp_client_reply *out = xcalloc(sc->nrcpts, sizeof(*out));
	struct smtp_client_result r = { 0 };

	for (size_t i = 0; i < sc->nrcpts; i++) {
		/* accepted recipients share the outcome; refused ones keep their reply */
		if (!sc->rcpts[i].r.set || sc->rcpts[i].accepted)
			sc->rcpts[i].r = *fallback;
		out[i] = public_reply(&sc->rcpts[i].r);
		memcpy(out[i].enhanced, sc->rcpts[i].r.enhanced, sizeof(out[i].enhanced));
	}
	if (keepable(sc, fallback)) {
		r.idle = idle_new(sc);
	} else if (sc->conn != NULL) {
		conn_printf(sc->conn, "QUIT\r\n");
		conn_close(sc->conn);
		sc->conn = NULL;
	}
	r.status = overall_status(sc);
	r.reply = public_reply(fallback);
	memcpy(r.reply.enhanced, fallback->enhanced, sizeof(r.reply.enhanced));
	r.rcpts = out;
	r.nrcpts = sc->nrcpts;
	r.host = label(sc);
	r.tls = sc->tls;
	r.tls_description = sc->tls ? sc->tls_desc : NULL;
	r.tls_verified = sc->tls_verified;
	r.extensions = sc->exts;
	r.reused = sc->reused;
	log_info("smtp-client id=%s event=result status=%s host=%s tls=%s reused=%s kept=%s code=%u text=\"%.200s\"",
		 sc->id,
		 r.status == SMTP_CLIENT_DELIVERED ? "delivered"
		 : r.status == SMTP_CLIENT_TEMPFAIL ? "deferred"
						    : "bounced",
		 r.host, sc->tls ? "yes" : "no", sc->reused ? "yes" : "no", r.idle != NULL ? "yes" : "no",
		 fallback->code, fallback->text);
	sc->cb(&r, sc->arg);
	free(out);
	sc_free(sc);
}

/* The transaction failed as a whole with our own verdict (timeout, lost connection). */
static void fail_session(struct smtp_client *sc, unsigned code, const char *enhanced, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail_session(struct smtp_client *sc, unsigned code, const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	sc->final.set = true;
	sc->final.status = status_of(code);
	sc->final.code = code;
	sc->final.remote = false;
	snprintf(sc->final.enhanced, sizeof(sc->final.enhanced), "%s", enhanced);
	va_start(ap, fmt);
	vsnprintf(sc->final.text, sizeof(sc->final.text), fmt, ap);
	va_end(ap);
	finish(sc, &sc->final);
}

/* ---- attempts ---- */

static void reset_attempt(struct smtp_client *sc)
{
	sc->exts = 0;
	sc->size_max = 0;
	sc->tls = false;
	sc->tls_verified = false;
	sc->tls_desc[0] = '\0';
	memset(&sc->rd, 0, sizeof(sc->rd));
}

/*
 * This address did not work out before any transaction began: remember
 * why and move on (RFC 5321 5.1: try the next address / MX).
 */
static void attempt_failed(struct smtp_client *sc, bool retry_same)
{
	log_info("smtp-client id=%s event=attempt-failed host=%s state=%s code=%u text=\"%.200s\"", sc->id,
		 label(sc), state_names[sc->state], sc->attempt_err.code, sc->attempt_err.text);
	sc->any_temp_attempt = sc->any_temp_attempt || sc->attempt_err.status != SMTP_CLIENT_PERMFAIL;
	conn_free(sc->conn);
	sc->conn = NULL;
	reset_attempt(sc);
	if (!retry_same) {
		sc->cur++;
		sc->no_tls = false;
	}
	try_target(sc);
}

static void attempt_failed_remote(struct smtp_client *sc)
{
	store_remote(&sc->attempt_err, &sc->rd);
	attempt_failed(sc, false);
}

static void on_connected(struct conn *c, const char *error, void *arg)
{
	struct smtp_client *sc = arg;

	if (c == NULL) {
		sc->conn = NULL;
		store_local(&sc->attempt_err, 451, "4.4.1", "connect to %s: %s", label(sc), error);
		attempt_failed(sc, false);
		return;
	}
	log_debug("smtp-client id=%s event=connected host=%s", sc->id, label(sc));
	conn_set_cb(c, on_event, sc);
	conn_set_timeout(c, sc->to.banner_s);
	sc->state = SC_BANNER;
}

static void try_target(struct smtp_client *sc)
{
	struct target *t;

	if (sc->cur >= sc->ntargets) {
		/* Every address failed: temporary unless each refused us permanently. */
		sc->cur = sc->ntargets - 1;
		if (sc->any_temp_attempt && sc->attempt_err.status == SMTP_CLIENT_PERMFAIL)
			sc->attempt_err.status = SMTP_CLIENT_TEMPFAIL;
		finish(sc, &sc->attempt_err);
		return;
	}
	t = &sc->targets[sc->cur];
	sc->state = SC_CONNECTING;
	log_info("smtp-client id=%s event=connect host=%s%s", sc->id, t->label, sc->no_tls ? " tls=off" : "");
	sc->conn = conn_connect(sc->base, (const struct sockaddr *)&t->sa, t->len, sc->to.connect_s, on_connected, sc);
}

/*
 * The reused session is gone or unwilling (closed while idle, RSET refused,
 * a timeout): drop it and start afresh from the first address, as if there
 * had been none. Nothing of the transaction was sent on it.
 */
static void reuse_failed(struct smtp_client *sc, const char *why)
{
	log_info("smtp-client id=%s event=reuse-failed host=%s reason=\"%s\"", sc->id, label(sc), why);
	conn_free(sc->conn);
	sc->conn = NULL;
	reset_attempt(sc);
	sc->no_tls = false;
	sc->reusing = sc->reused = false;
	sc->uses = 0;
	sc->cur = 0;
	try_target(sc);
}

static void send_cmd(struct smtp_client *sc, enum sc_state next, unsigned timeout_s, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Takes over the idle session handed to the job and asks for RSET. */
static void reuse_begin(struct smtp_client *sc)
{
	struct smtp_client_idle *idle = sc->reuse;

	sc->reuse = NULL;
	sc->conn = idle->conn;
	idle->conn = NULL;
	sc->exts = idle->exts;
	sc->size_max = idle->size_max;
	sc->tls = idle->tls;
	sc->tls_verified = idle->tls_verified;
	sc->no_tls = idle->no_tls;
	memcpy(sc->tls_desc, idle->tls_desc, sizeof(sc->tls_desc));
	sc->uses = idle->uses;
	idle_release(idle);
	sc->reusing = sc->reused = true;
	conn_set_cb(sc->conn, on_event, sc);
	log_info("smtp-client id=%s event=reuse host=%s transactions=%u", sc->id, label(sc), sc->uses);
	send_cmd(sc, SC_RSET, sc->to.helo_s, "RSET\r\n");
}

/* ---- sending ---- */

static void send_cmd(struct smtp_client *sc, enum sc_state next, unsigned timeout_s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ASSERT(n > 0 && (size_t)n < sizeof(line)); /* addresses were bounded in smtp_client_send */
	conn_write(sc->conn, line, (size_t)n);
	if (next != sc->state)
		conn_set_timeout(sc->conn, timeout_s);
	sc->state = next;
}

static void send_ehlo(struct smtp_client *sc)
{
	send_cmd(sc, SC_EHLO, sc->to.helo_s, "EHLO %s\r\n", sc->helo);
}

/* RFC 3461 4: xtext, "+HH" for '+', '=' and anything outside printable ASCII. */
static void xtext_append(char *out, size_t size, size_t *n, const char *in)
{
	for (; *in != '\0' && *n + 4 < size; in++) {
		unsigned char c = (unsigned char)*in;
		if (c < 33 || c > 126 || c == '+' || c == '=')
			*n += (size_t)snprintf(out + *n, size - *n, "+%02X", c);
		else
			out[(*n)++] = (char)c;
	}
	out[*n] = '\0';
}

static void write_mail(struct smtp_client *sc)
{
	char params[512] = "";
	size_t n = 0;

	if (sc->exts & SMTP_EXT_SIZE)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%llu", (unsigned long long)sc->size);
	if ((sc->flags & SMTP_CLIENT_8BIT) && (sc->exts & SMTP_EXT_8BITMIME))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
	if ((sc->flags & SMTP_CLIENT_SMTPUTF8) && (sc->exts & SMTP_EXT_SMTPUTF8))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	if ((sc->exts & SMTP_EXT_DSN) && sc->dsn_ret != 0)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " RET=%s", sc->dsn_ret == 1 ? "FULL" : "HDRS");
	if ((sc->exts & SMTP_EXT_DSN) && sc->envid != NULL) {
		n += (size_t)snprintf(params + n, sizeof(params) - n, " ENVID=");
		xtext_append(params, sizeof(params), &n, sc->envid);
	}
	send_cmd(sc, SC_MAIL, sc->to.mail_s, "MAIL FROM:<%s>%s\r\n", sc->from, params);
}

/* " NOTIFY=... ORCPT=..." for a DSN-capable server. */
static void rcpt_dsn_params(const struct smtp_client *sc, const struct rcpt *r, char *out, size_t size)
{
	static const struct { unsigned bit; const char *name; } kinds[] = {
		{ SMTP_NOTIFY_SUCCESS, "SUCCESS" }, { SMTP_NOTIFY_FAILURE, "FAILURE" }, { SMTP_NOTIFY_DELAY, "DELAY" },
	};
	size_t n = 0;

	out[0] = '\0';
	if (!(sc->exts & SMTP_EXT_DSN))
		return;
	if (r->notify & SMTP_NOTIFY_NEVER) {
		n += (size_t)snprintf(out + n, size - n, " NOTIFY=NEVER");
	} else if (r->notify != 0) {
		const char *sep = " NOTIFY=";
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			if (r->notify & kinds[i].bit) {
				n += (size_t)snprintf(out + n, size - n, "%s%s", sep, kinds[i].name);
				sep = ",";
			}
		}
	}
	if (r->orcpt != NULL && strchr(r->orcpt, ';') != NULL && n + 8 < size) {
		size_t type_len = (size_t)(strchr(r->orcpt, ';') - r->orcpt);
		n += (size_t)snprintf(out + n, size - n, " ORCPT=%.*s;", (int)type_len, r->orcpt);
		xtext_append(out, size, &n, r->orcpt + type_len + 1);
	}
}

static void write_rcpt(struct smtp_client *sc)
{
	const struct rcpt *r = &sc->rcpts[sc->rcpts_sent];
	char params[600];

	rcpt_dsn_params(sc, r, params, sizeof(params));
	send_cmd(sc, sc->pipelining ? SC_MAIL : SC_RCPT, sc->to.rcpt_s, "RCPT TO:<%s>%s\r\n", r->addr, params);
	sc->rcpts_sent++;
}

/*
 * RFC 2920 3.1: MAIL, the RCPTs and DATA may go as one group, DATA last.
 * Without PIPELINING each waits for the previous reply.
 */
static void begin_transaction(struct smtp_client *sc)
{
	sc->pipelining = (sc->exts & SMTP_EXT_PIPELINING) != 0;
	sc->rcpt_replies = sc->rcpts_sent = sc->naccepted = 0;
	write_mail(sc);
	if (!sc->pipelining)
		return;
	while (sc->rcpts_sent < sc->nrcpts)
		write_rcpt(sc);
	send_cmd(sc, SC_MAIL, sc->to.mail_s, "DATA\r\n");
	/* The longest wait of the group bounds it. */
	conn_set_timeout(sc->conn, sc->to.mail_s > sc->to.rcpt_s ? sc->to.mail_s : sc->to.rcpt_s);
}

/*
 * What the server said in EHLO against what the message needs, then MAIL.
 * Returns false when the job is over (sc is gone).
 */
static bool checks_then_transaction(struct smtp_client *sc)
{
	if ((sc->flags & SMTP_CLIENT_SMTPUTF8) && !(sc->exts & SMTP_EXT_SMTPUTF8)) {
		/* RFC 6531 3.2: no downgrade; the message cannot go to this server. */
		store_local(&sc->final, 553, "5.6.7",
			    "the message needs SMTPUTF8 (UTF-8 addresses or headers) but %s does not support it",
			    label(sc));
		finish(sc, &sc->final);
		return false;
	}
	if ((sc->exts & SMTP_EXT_SIZE) && sc->size_max > 0 && sc->size > sc->size_max) {
		/* RFC 1870 6: the server told us; do not send what it cannot take. */
		store_local(&sc->final, 552, "5.3.4", "message size %llu exceeds the limit of %llu bytes of %s",
			    (unsigned long long)sc->size, (unsigned long long)sc->size_max, label(sc));
		finish(sc, &sc->final);
		return false;
	}
	begin_transaction(sc);
	return true;
}

/* After EHLO/HELO: STARTTLS first when we can, then the checks, then MAIL. */
static bool after_greeting(struct smtp_client *sc)
{
	if (sc->tls_ctx != NULL && !sc->tls && !sc->no_tls && (sc->exts & SMTP_EXT_STARTTLS)) {
		send_cmd(sc, SC_STARTTLS, sc->to.helo_s, "STARTTLS\r\n");
		return true;
	}
	return checks_then_transaction(sc);
}

/* ---- the body ---- */

/*
 * Dot-stuffing (RFC 5321 4.5.2) with every line ending made CRLF: a bare LF
 * or bare CR becomes CRLF, so that no receiver can see an end of data we
 * did not mean (SMTP smuggling). Returns the bytes written to out (which
 * holds 2 * n + 2).
 */
static size_t stuff(struct smtp_client *sc, const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = in[i];
		if (sc->pending_cr) {
			sc->pending_cr = false;
			out[o++] = '\r';
			out[o++] = '\n';
			sc->line_start = true;
			if (ch == '\n')
				continue;
		}
		if (ch == '\r') {
			sc->pending_cr = true;
			continue;
		}
		if (ch == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			sc->line_start = true;
			continue;
		}
		if (sc->line_start && ch == '.')
			out[o++] = '.';
		out[o++] = (char)ch;
		sc->line_start = false;
	}
	return o;
}

static void body_end(struct smtp_client *sc)
{
	if (sc->pending_cr || !sc->line_start)
		conn_write(sc->conn, "\r\n", 2);
	conn_write(sc->conn, ".\r\n", 3);
	sc->state = SC_DOT;
	conn_set_timeout(sc->conn, sc->to.dot_s);
	conn_resume_read(sc->conn);
}

/* Writes body until the output holds a watermark's worth; DRAINED resumes. */
static void body_pump(struct smtp_client *sc)
{
	unsigned char in[BODY_CHUNK];
	char out[2 * BODY_CHUNK + 2];

	while (conn_output_pending(sc->conn) < BODY_WATERMARK) {
		size_t got = 0;
		if (sc->read(sc->read_arg, in, sizeof(in), &got) < 0) {
			/* No final dot: the server must not accept a truncated message. */
			fail_session(sc, 451, "4.3.0", "cannot read the message to send it to %s", label(sc));
			return;
		}
		if (got == 0) {
			body_end(sc);
			return;
		}
		ASSERT(got <= sizeof(in));
		conn_write(sc->conn, out, stuff(sc, in, got, out));
	}
	conn_want_drained(sc->conn);
}

static void body_start(struct smtp_client *sc)
{
	sc->state = SC_BODY;
	sc->line_start = true;
	sc->pending_cr = false;
	/*
	 * Only writes matter now: reading paused keeps the idle timer off the
	 * input, so block_s bounds each write's progress (RFC 5321 4.5.3.2.5).
	 */
	conn_pause_read(sc->conn);
	conn_set_timeout(sc->conn, sc->to.block_s);
	body_pump(sc);
}

/* ---- reply handlers: each returns false when reading must stop ---- */

static bool on_banner(struct smtp_client *sc)
{
	if (sc->rd.code / 100 != 2) {
		/* 4xx and 5xx alike: this server will not talk now; the next may. */
		attempt_failed_remote(sc);
		return false;
	}
	send_ehlo(sc);
	return true;
}

static bool on_ehlo(struct smtp_client *sc)
{
	unsigned cls = sc->rd.code / 100;

	if (cls == 2)
		return after_greeting(sc);
	sc->exts = 0;
	if (cls == 5 && sc->state == SC_EHLO) {
		/* RFC 5321 4.1.4 / 3.2: an old server; say HELO instead. */
		send_cmd(sc, SC_HELO, sc->to.helo_s, "HELO %s\r\n", sc->helo);
		return true;
	}
	attempt_failed_remote(sc);
	return false;
}

static bool on_starttls(struct smtp_client *sc)
{
	const char *host = sc->targets[sc->cur].host;

	if (sc->rd.code != 220) {
		/* Opportunistic: a refused STARTTLS leaves a usable plaintext session. */
		log_info("smtp-client id=%s event=starttls-refused host=%s code=%u", sc->id, label(sc), sc->rd.code);
		sc->no_tls = true;
		return after_greeting(sc);
	}
	sc->state = SC_TLS_HANDSHAKE;
	if (conn_starttls_client(sc->conn, sc->tls_ctx, host) < 0) {
		store_local(&sc->attempt_err, 451, "4.7.0", "cannot start TLS with %s", label(sc));
		attempt_failed(sc, false);
	}
	return false; /* input is discarded until the handshake is done */
}

static bool on_rset(struct smtp_client *sc)
{
	if (sc->rd.code / 100 != 2) {
		char why[64];
		snprintf(why, sizeof(why), "RSET answered %u", sc->rd.code);
		reuse_failed(sc, why);
		return false;
	}
	sc->reusing = false;
	return checks_then_transaction(sc);
}

static bool on_mail(struct smtp_client *sc)
{
	if (sc->rd.code / 100 != 2) {
		store_remote(&sc->final, &sc->rd);
		finish(sc, &sc->final);
		return false;
	}
	sc->state = SC_RCPT;
	if (!sc->pipelining)
		write_rcpt(sc);
	else
		conn_set_timeout(sc->conn, sc->to.rcpt_s);
	return true;
}

static bool after_rcpts(struct smtp_client *sc)
{
	if (sc->pipelining) {
		sc->state = SC_DATA; /* DATA is already on its way */
		conn_set_timeout(sc->conn, sc->to.data_s);
		return true;
	}
	if (sc->naccepted == 0) {
		/* Every recipient was refused: their replies are the results. */
		sc->final = sc->rcpts[sc->nrcpts - 1].r;
		finish(sc, &sc->final);
		return false;
	}
	send_cmd(sc, SC_DATA, sc->to.data_s, "DATA\r\n");
	return true;
}

static bool on_rcpt(struct smtp_client *sc)
{
	struct rcpt *r = &sc->rcpts[sc->rcpt_replies++];

	store_remote(&r->r, &sc->rd);
	r->accepted = sc->rd.code / 100 == 2;
	if (r->accepted)
		sc->naccepted++;
	if (sc->rcpt_replies < sc->nrcpts) {
		if (!sc->pipelining)
			write_rcpt(sc);
		return true;
	}
	return after_rcpts(sc);
}

static bool on_data(struct smtp_client *sc)
{
	if (sc->rd.code / 100 == 3 && sc->naccepted == 0) {
		/* Pipelined DATA accepted although no RCPT was: send an empty message's dot. */
		conn_write(sc->conn, ".\r\n", 3);
		sc->state = SC_EMPTY_DOT;
		return true;
	}
	if (sc->rd.code / 100 == 3) {
		body_start(sc);
		return false;
	}
	if (sc->naccepted == 0) {
		sc->final = sc->rcpts[sc->nrcpts - 1].r;
	} else {
		store_remote(&sc->final, &sc->rd);
	}
	finish(sc, &sc->final);
	return false;
}

static bool on_dot(struct smtp_client *sc)
{
	if (sc->state == SC_EMPTY_DOT)
		sc->final = sc->rcpts[sc->nrcpts - 1].r;
	else
		store_remote(&sc->final, &sc->rd);
	/* accepted recipients share the final reply; refused ones keep theirs */
	finish(sc, &sc->final);
	return false;
}

static void protocol_error(struct smtp_client *sc, const char *what);

static bool dispatch(struct smtp_client *sc)
{
	switch (sc->state) {
	case SC_BANNER:
		return on_banner(sc);
	case SC_EHLO:
	case SC_HELO:
		return on_ehlo(sc);
	case SC_STARTTLS:
		return on_starttls(sc);
	case SC_RSET:
		return on_rset(sc);
	case SC_MAIL:
		return on_mail(sc);
	case SC_RCPT:
		return on_rcpt(sc);
	case SC_DATA:
		return on_data(sc);
	case SC_BODY: /* an early reply: the server gave up on the message */
	case SC_DOT:
	case SC_EMPTY_DOT:
		return on_dot(sc);
	default:
		break;
	}
	protocol_error(sc, "sent a reply nobody asked for");
	return false;
}

/* ---- reading replies ---- */

static bool before_transaction(const struct smtp_client *sc)
{
	return sc->state <= SC_RSET;
}

/* The server broke the protocol: bounded-line or syntax violations. */
static void protocol_error(struct smtp_client *sc, const char *what)
{
	if (sc->reusing) {
		reuse_failed(sc, what);
		return;
	}
	if (before_transaction(sc)) {
		store_local(&sc->attempt_err, 451, "4.5.0", "%s %s during %s", label(sc), what,
			    state_names[sc->state]);
		attempt_failed(sc, false);
		return;
	}
	fail_session(sc, 451, "4.5.0", "%s %s during %s", label(sc), what, state_names[sc->state]);
}

static void text_append(struct reading *rd, struct slice text)
{
	size_t room;

	if (rd->textlen > 0 && rd->textlen + 1 < sizeof(rd->text))
		rd->text[rd->textlen++] = ' ';
	room = sizeof(rd->text) - 1 - rd->textlen;
	if (text.len > room)
		text.len = room; /* kept for results only; the rest is dropped */
	memcpy(rd->text + rd->textlen, text.p, text.len);
	rd->textlen += text.len;
	rd->text[rd->textlen] = '\0';
}

/* One line; returns 1 when a reply is complete, 0 for more, -1 on a protocol error. */
static int reply_line(struct smtp_client *sc, const struct conn_line *line)
{
	struct reading *rd = &sc->rd;
	struct smtp_reply_line rl;
	char enh[SMTP_ENHANCED_MAX];

	if (rd->complete)
		memset(rd, 0, sizeof(*rd));
	if (smtp_reply_parse_line(line->p, line->len, &rl) < 0)
		return -1;
	if (rd->nlines > 0 && rl.code != rd->code)
		return -1; /* RFC 5321 4.2.1: every line of a reply has the same code */
	if (++rd->nlines > SMTP_CLIENT_REPLY_LINES_MAX)
		return -1;
	rd->code = rl.code;
	if (smtp_reply_parse_enhanced(rl.code, &rl.text, enh) && rd->enhanced[0] == '\0')
		memcpy(rd->enhanced, enh, sizeof(enh));
	if ((sc->state == SC_EHLO) && rd->nlines > 1)
		smtp_reply_parse_ehlo_line(rl.text, &sc->exts, &sc->size_max);
	else if (rd->nlines == 1 || sc->state != SC_EHLO)
		text_append(rd, rl.text);
	rd->complete = rl.last;
	return rl.last ? 1 : 0;
}

static void read_replies(struct smtp_client *sc)
{
	struct conn_line line;

	for (;;) {
		switch (conn_readline(sc->conn, SMTP_CLIENT_LINE_MAX, &line)) {
		case CONN_READ_NEED_MORE:
			return;
		case CONN_READ_TOO_LONG:
			protocol_error(sc, "sent a reply line longer than 4096 bytes");
			return;
		case CONN_READ_LINE:
			break;
		}
		int r = reply_line(sc, &line);
		if (r < 0) {
			protocol_error(sc, sc->rd.nlines > SMTP_CLIENT_REPLY_LINES_MAX
						   ? "sent a reply of more than 100 lines"
						   : "sent a malformed reply");
			return;
		}
		if (r == 0)
			continue;
		if (!dispatch(sc))
			return;
	}
}

/* ---- connection events ---- */

static void on_tls_ready(struct smtp_client *sc)
{
	const char *reason = NULL;

	sc->tls = true;
	sc->tls_verified = conn_tls_verified(sc->conn, &reason);
	snprintf(sc->tls_desc, sizeof(sc->tls_desc), "%s",
		 conn_tls_description(sc->conn) != NULL ? conn_tls_description(sc->conn) : "TLS");
	log_info("smtp-client id=%s event=starttls host=%s tls=\"%s\" verified=%s%s%s%s", sc->id, label(sc),
		 sc->tls_desc, sc->tls_verified ? "yes" : "no", reason != NULL ? " reason=\"" : "",
		 reason != NULL ? reason : "", reason != NULL ? "\"" : "");
	/* RFC 3207 4.2: forget what the server said before TLS; ask again. */
	sc->exts = 0;
	sc->size_max = 0;
	memset(&sc->rd, 0, sizeof(sc->rd));
	send_ehlo(sc);
}

static void on_lost(struct smtp_client *sc, enum conn_event ev)
{
	const char *err = conn_error(sc->conn);
	bool timeout = ev == CONN_EV_TIMEOUT;
	char why[SMTP_CLIENT_TEXT_MAX - 16];

	if (timeout)
		snprintf(why, sizeof(why), "timeout waiting for %s at %s", state_names[sc->state], label(sc));
	else
		snprintf(why, sizeof(why), "connection %s by %s during %s%s%s",
			 ev == CONN_EV_EOF ? "closed" : "lost", label(sc), state_names[sc->state],
			 err != NULL ? ": " : "", err != NULL ? err : "");
	if (sc->reusing) {
		reuse_failed(sc, why);
		return;
	}
	if (sc->state == SC_TLS_HANDSHAKE && !timeout && !sc->no_tls) {
		/* Opportunistic TLS: a broken handshake is retried once in plaintext. */
		sc->no_tls = true;
		store_local(&sc->attempt_err, 451, "4.7.5", "%s", why);
		attempt_failed(sc, true);
		return;
	}
	if (before_transaction(sc)) {
		store_local(&sc->attempt_err, 451, "4.4.2", "%s", why);
		attempt_failed(sc, false);
		return;
	}
	/* After the dot was sent, delivery may have happened: SMTP is at-least-once. */
	fail_session(sc, 451, "4.4.2", "%s", why);
}

static void on_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtp_client *sc = arg;

	switch (ev) {
	case CONN_EV_DATA:
		read_replies(sc);
		break;
	case CONN_EV_DRAINED:
		if (sc->state == SC_BODY)
			body_pump(sc);
		break;
	case CONN_EV_TLS_READY:
		on_tls_ready(sc);
		break;
	case CONN_EV_TIMEOUT:
	case CONN_EV_EOF:
	case CONN_EV_ERROR:
		on_lost(sc, ev);
		break;
	}
}

/* ---- the job ---- */

/* Envelope strings go into command lines: no control characters, bounded. */
static bool envelope_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool job_ok(const struct smtp_client_job *job)
{
	if (!envelope_ok(job->from, 256) || !envelope_ok(job->helo_name, 255) || job->helo_name[0] == '\0')
		return false;
	for (size_t i = 0; i < job->nrcpts; i++)
		if (!envelope_ok(job->rcpts[i], 256) || job->rcpts[i][0] == '\0')
			return false;
	return true;
}

static void copy_target(struct target *t, const struct smtp_client_target *src)
{
	char ip[NET_IP_MAX];
	unsigned port = 0;

	ASSERT(src->sa_len <= sizeof(t->sa));
	memcpy(&t->sa, src->sa, src->sa_len);
	t->len = src->sa_len;
	t->host = src->host != NULL ? xstrndup(src->host, 255) : NULL;
	net_peer_ip(src->sa, src->sa_len, ip, sizeof(ip));
	if (src->sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)(const void *)src->sa)->sin_port);
	else if (src->sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)(const void *)src->sa)->sin6_port);
	snprintf(t->label, sizeof(t->label), "%s[%s]:%u", t->host != NULL ? t->host : "", ip, port);
}

static void timeouts_init(struct smtp_client_timeouts *to, const struct smtp_client_timeouts *src)
{
	static const struct smtp_client_timeouts rfc = {
		.connect_s = 30, .banner_s = 300, .helo_s = 300, .mail_s = 300,
		.rcpt_s = 300,   .data_s = 120,   .block_s = 180, .dot_s = 600,
	};

	*to = rfc;
	if (src == NULL)
		return;
#define TAKE(f) to->f = src->f != 0 ? src->f : rfc.f
	TAKE(connect_s);
	TAKE(banner_s);
	TAKE(helo_s);
	TAKE(mail_s);
	TAKE(rcpt_s);
	TAKE(data_s);
	TAKE(block_s);
	TAKE(dot_s);
#undef TAKE
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *sc = arg;

	if (sc->final.set) {
		finish(sc, &sc->final);
		return;
	}
	if (sc->reuse != NULL) {
		reuse_begin(sc);
		return;
	}
	try_target(sc);
}

/* A reusable idle session for this job: same address, HELO name and TLS context. */
static void take_reuse(struct smtp_client *sc, const struct smtp_client_job *job)
{
	struct smtp_client_idle *idle = job->reuse;

	if (idle == NULL)
		return;
	if (!sc->final.set && idle->conn != NULL && strcmp(idle->helo, sc->helo) == 0 && idle->tls_ctx == sc->tls_ctx) {
		for (size_t i = 0; i < job->ntargets; i++) {
			if (smtp_client_idle_matches(idle, &job->targets[i])) {
				sc->reuse = idle;
				sc->cur = i;
				return;
			}
		}
	}
	smtp_client_idle_free(idle);
}

struct smtp_client *smtp_client_send(struct event_base *base, const struct smtp_client_job *job, smtp_client_cb cb,
				     void *arg)
{
	static unsigned long seq;
	struct smtp_client *sc = xcalloc(1, sizeof(*sc));

	ASSERT(job->ntargets > 0 && job->nrcpts > 0 && job->read != NULL);
	sc->base = base;
	sc->cb = cb;
	sc->arg = arg;
	snprintf(sc->id, sizeof(sc->id), "%lx", ++seq);
	sc->targets = xcalloc(job->ntargets, sizeof(*sc->targets));
	for (size_t i = 0; i < job->ntargets; i++)
		copy_target(&sc->targets[i], &job->targets[i]);
	sc->ntargets = job->ntargets;
	sc->rcpts = xcalloc(job->nrcpts, sizeof(*sc->rcpts));
	for (size_t i = 0; i < job->nrcpts; i++) {
		sc->rcpts[i].addr = xstrndup(job->rcpts[i], 300);
		sc->rcpts[i].notify = job->notify != NULL ? job->notify[i] : 0;
		if (job->orcpt != NULL && job->orcpt[i] != NULL)
			sc->rcpts[i].orcpt = xstrndup(job->orcpt[i], 300);
	}
	sc->envid = job->envid != NULL ? xstrndup(job->envid, 100) : NULL;
	sc->dsn_ret = job->dsn_ret;
	sc->nrcpts = job->nrcpts;
	sc->helo = xstrndup(job->helo_name, 300);
	sc->from = xstrndup(job->from, 300);
	sc->tls_ctx = job->tls_ctx;
	sc->read = job->read;
	sc->read_arg = job->read_arg;
	sc->size = job->size;
	sc->flags = job->flags;
	timeouts_init(&sc->to, job->timeouts);
	if (!job_ok(job))
		store_local(&sc->final, 501, "5.5.2",
			    "invalid envelope: an address or the HELO name is empty, too long or has control characters");
	sc->keep = job->keep;
	take_reuse(sc, job);
	sc->defer = event_new(base, -1, 0, start_cb, sc);
	if (sc->defer == NULL)
		panic("smtp_client: cannot create an event (out of memory)");
	event_active(sc->defer, 0, 0);
	return sc;
}

/* ---- idle sessions ---- */

static void idle_release(struct smtp_client_idle *idle)
{
	conn_free(idle->conn);
	free(idle->target.host);
	free(idle->helo);
	free(idle);
}

/* While idle, any event ends the session: nothing is owed by either side. */
static void idle_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct smtp_client_idle *idle = arg;
	static const char *const why[] = {
		[CONN_EV_DATA] = "the server spoke unasked", [CONN_EV_DRAINED] = "",
		[CONN_EV_TLS_READY] = "", [CONN_EV_TIMEOUT] = "idle timeout",
		[CONN_EV_EOF] = "closed by the server", [CONN_EV_ERROR] = "connection error",
	};

	if (ev == CONN_EV_DRAINED || ev == CONN_EV_TLS_READY)
		return;
	log_info("smtp-client event=idle-closed host=%s transactions=%u reason=\"%s\"", idle->target.label,
		 idle->uses, why[ev]);
	if (ev == CONN_EV_TIMEOUT) {
		conn_printf(c, "QUIT\r\n");
		conn_close(c);
	} else {
		conn_free(c); /* a 421 or a closed socket: nothing polite left to say */
	}
	idle->conn = NULL;
	if (idle->gone == NULL)
		return; /* not watched yet: the holder finds it closed (watch or reuse) */
	idle->gone(idle, idle->gone_arg);
	idle_release(idle);
}

bool smtp_client_idle_watch(struct smtp_client_idle *idle, unsigned timeout_s, smtp_client_idle_cb cb, void *arg)
{
	ASSERT(timeout_s > 0 && cb != NULL);
	if (idle->conn == NULL)
		return false;
	idle->gone = cb;
	idle->gone_arg = arg;
	conn_set_timeout(idle->conn, timeout_s);
	return true;
}

static bool sa_same(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
		       x->sin6_scope_id == y->sin6_scope_id;
	}
	return false;
}

bool smtp_client_idle_matches(const struct smtp_client_idle *idle, const struct smtp_client_target *t)
{
	return sa_same((const struct sockaddr *)&idle->target.sa, t->sa);
}

unsigned smtp_client_idle_uses(const struct smtp_client_idle *idle)
{
	return idle->uses;
}

const char *smtp_client_idle_label(const struct smtp_client_idle *idle)
{
	return idle->target.label;
}

void smtp_client_idle_free(struct smtp_client_idle *idle)
{
	if (idle == NULL)
		return;
	if (idle->conn != NULL) {
		conn_printf(idle->conn, "QUIT\r\n");
		conn_close(idle->conn);
		idle->conn = NULL;
	}
	idle_release(idle);
}
