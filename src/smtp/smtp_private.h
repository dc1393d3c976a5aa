/*
 * smtp_private: what smtp_session.c (lifecycle, input, timers, message
 * bodies) and smtp_cmd.c (the command table and its handlers) share.
 */
#ifndef HERMOD_SMTP_SMTP_PRIVATE_H
#define HERMOD_SMTP_SMTP_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "config/config.h"
#include "inbound/inbound.h"
#include "lib/buf.h"
#include "net/conn.h"
#include "net/server.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "store/store_async.h"

/* Replies a pipelining client has not read yet, before we stop reading its input. */
#define SMTP_OUTPUT_BACKLOG_MAX (64 * 1024)

enum smtp_state {
	SMTP_STATE_HELO,       /* connected: EHLO/HELO expected */
	SMTP_STATE_READY,      /* greeted, no transaction */
	SMTP_STATE_MAIL,       /* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,       /* at least one recipient accepted */
	SMTP_STATE_DATA,       /* reading DATA text */
	SMTP_STATE_BDAT_CHUNK, /* reading the bytes of one BDAT chunk */
	SMTP_STATE_BDAT,       /* between BDAT chunks of one transaction */
	SMTP_STATE_TLS,        /* STARTTLS handshake in progress */
	SMTP_STATE_COMMIT,     /* waiting for the store to make the message durable */
	SMTP_STATE_SASL,       /* AUTH: waiting for the client's next SASL response line */
};

/* Outcome of handling input: whether the session still exists afterwards. */
enum smtp_flow { SMTP_FLOW_CONTINUE, SMTP_FLOW_CLOSED };

struct smtp_session;
struct submit_headers; /* outbound/submit_headers.h */
struct dkim_key;       /* outbound/dkim.h */
struct dkim_signer;

/*
 * What differs between the MX port and submission (STYLE 4: one engine,
 * two policies, as Dovecot's lib-smtp server callbacks). The session and
 * the command table run the protocol; at these points they ask the policy.
 */
struct smtp_policy {
	const char *name; /* "mx" or "submission", for logs */
	/* EHLO keywords the policy adds (DSN, AUTH, LIMITS). */
	void (*ehlo_keywords)(struct smtp_session *s);
	/* The message size limit (EHLO SIZE, MAIL SIZE=, the text itself). */
	uint64_t (*size_limit)(const struct smtp_session *s);
	enum smtp_flow (*auth)(struct smtp_session *s, struct slice args);
	/* Before MAIL is parsed: a refusal (530 before AUTH), or NULL. */
	const char *(*mail_refusal)(const struct smtp_session *s);
	/* MAIL parsed and within the size: accept (250) or refuse; may go asynchronous. */
	enum smtp_flow (*mail)(struct smtp_session *s);
	/* RCPT parsed: look the recipient up and answer; may go asynchronous. */
	enum smtp_flow (*rcpt)(struct smtp_session *s, const struct smtp_rcpt_params *params);
	/* Message text after the trace headers, already counted against the size. */
	void (*text)(struct smtp_session *s, const char *p, size_t len);
	/* The message arrived and passed the common checks: make it durable, then 250. */
	enum smtp_flow (*commit)(struct smtp_session *s);
	/* The transaction ends (RSET, EHLO, after the message): free its policy state. */
	void (*reset)(struct smtp_session *s);
};

extern const struct smtp_policy smtp_policy_mx;
extern const struct smtp_policy smtp_policy_submission;

/* A remote recipient of a submitted message (queued, with its DSN parameters). */
struct smtp_remote_rcpt {
	char *address;
	unsigned notify; /* enum smtp_notify bits, 0 if not given */
	char *orcpt;     /* NULL if not given */
};

enum smtp_submit_phase {
	SMTP_SUBMIT_HEADER,   /* collecting the header section */
	SMTP_SUBMIT_CHECKING, /* From addresses and DKIM key being looked up; body bytes held */
	SMTP_SUBMIT_BODY,     /* header accepted and spooled: body streams to spool and signer */
	SMTP_SUBMIT_REFUSED,  /* refused (reason kept): the rest is read and discarded */
};

/* The submission policy's part of one transaction (all zero for MX). */
struct smtp_submit_txn {
	struct smtp_remote_rcpt *remote;
	size_t remote_count, remote_cap;
	enum smtp_submit_phase phase;
	struct submit_headers *headers; /* the header fixer, while the text arrives */
	struct buf held;                /* body bytes that arrived during the check (bounded) */
	bool end_pending;               /* the message ended while the check was running */
	char refusal[512];              /* the reply for SMTP_SUBMIT_REFUSED */
	struct dkim_key *dkim_key;      /* the From domain's key, if it is hosted and has one */
	struct dkim_signer *signer;
	char dkim_domain[SMTP_DOMAIN_MAX + 1];
	char dkim_selector[64];
	struct smtp_remote_rcpt *local_dsn; /* local recipients that asked NOTIFY=SUCCESS (RFC 3461) */
	size_t local_dsn_count, local_dsn_cap;
};

/* The authenticated identity of a submission session (RFC 4954). */
enum smtp_sasl_step { SMTP_SASL_PLAIN, SMTP_SASL_LOGIN_USER, SMTP_SASL_LOGIN_PASS };

struct smtp_server {
	struct event_base *base;
	struct server *srv;
	struct store_async *store;
	struct auth_service *auth;
	const struct config *cfg;
	bool shutting_down;
	void (*on_queued)(void *arg); /* a submission put mail in the outbound queue */
	void *on_queued_arg;
	struct smtp_session *sessions; /* doubly linked */
	size_t session_count;
	struct inbound *inbound; /* MX: aliases, SRS notices, auto-replies */
};

struct smtp_session {
	struct smtp_session *prev, *next;
	struct smtp_server *server;
	const struct config *cfg; /* the snapshot this session started with */
	const struct smtp_policy *policy; /* chosen by the listener: MX or submission */
	struct conn *conn;
	char id[13];
	enum smtp_state state;

	bool esmtp;
	char helo[SMTP_DOMAIN_MAX + 1];
	unsigned errors;
	unsigned messages;

	struct event *command_timer; /* no complete command / data within the timeout */
	struct event *session_timer; /* whole-session limit (slow-loris) */
	struct store_req *pending;   /* a recipient lookup or a delivery in flight */
	bool output_blocked;         /* waiting for the client to read our replies */
	bool closing;                /* shutting down: 421 once the pending step is answered */

	/* submission: authentication (RFC 4954) */
	bool authenticated;
	struct auth_identity identity; /* valid when authenticated */
	struct auth_req *auth_req;     /* a login in flight */
	enum smtp_sasl_step sasl_step;
	char sasl_user[AUTH_SASL_FIELD_MAX]; /* LOGIN: the user name, until the password arrives */

	/* the transaction */
	struct smtp_path from;
	struct smtp_mail_params mail_params;
	struct smtp_path rcpt_asked; /* the recipient being looked up */
	unsigned rcpt_accepted;      /* RCPTs answered 250, duplicates included */
	unsigned rcpt_refused;       /* RCPTs refused (5xx) in this transaction */
	int64_t *rcpt_ids;           /* distinct receiving addresses */
	size_t rcpt_count, rcpt_cap;
	char first_rcpt[SMTP_PATH_MAX + 1];
	char message_id[24];
	struct spool *spool;
	struct smtp_data_filter filter;
	uint64_t body_bytes;   /* message text received, before our headers */
	bool too_big;          /* over the size limit: the rest is discarded */
	bool spool_failed;     /* a write to the spool failed */
	uint64_t bdat_remaining;
	uint64_t bdat_chunk_size;
	bool bdat_last;
	const char *bdat_refusal; /* reply for a BDAT chunk read only to be discarded */
	enum smtp_state bdat_refused_state; /* where a refused chunk leaves the session */
	struct smtp_submit_txn sub;
	struct inbound_txn inbound; /* MX: remote copies and auto-reply candidates */
};

/* smtp_session.c */
/* Something asynchronous (store or login) is in flight: no input is read meanwhile. */
bool smtp_busy(const struct smtp_session *s);
void smtp_set_state(struct smtp_session *s, enum smtp_state state);
void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counts a protocol error; closes with 421 when the limit is reached. */
enum smtp_flow smtp_count_error(struct smtp_session *s);
/* Replies (if fmt is not NULL), flushes and frees the session. */
enum smtp_flow smtp_close(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void smtp_transaction_reset(struct smtp_session *s);
void smtp_update_reading(struct smtp_session *s);
void smtp_arm_command_timer(struct smtp_session *s, unsigned seconds);
/* Opens the spool and writes our Return-Path and Received headers to it. */
void smtp_message_begin(struct smtp_session *s, enum smtp_data_mode mode);
/* The message is complete: refuse it or hand it to the store. */
enum smtp_flow smtp_message_end(struct smtp_session *s);
/* The STARTTLS handshake replaces the connection's input: resume afterwards. */
void smtp_process_input(struct smtp_session *s);
/* Appends to the spool (a failed write marks the message as not storable). */
void smtp_spool_put(struct smtp_session *s, const char *p, size_t len);
/* An asynchronous step ended: close if shutting down, else read on (s may be gone afterwards). */
void smtp_resume(struct smtp_session *s);
/* The message was refused at its end: reply, forget it, wait for the next command. */
void smtp_message_refused(struct smtp_session *s, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The store answered a commit: 250 (id in s->message_id) or 451, then the next command. */
void smtp_committed(struct smtp_session *s, int result, const char *errstr, const char *what);

/* smtp_cmd.c */
enum smtp_flow smtp_cmd_dispatch(struct smtp_session *s, const struct conn_line *line);
/* A BDAT chunk has been read completely. */
enum smtp_flow smtp_cmd_bdat_chunk_done(struct smtp_session *s);
/* Replies to a resolved recipient the MX way (250, or 550/554/452 naming the cause). */
void smtp_cmd_rcpt_reply(struct smtp_session *s, const struct store_rcpt *r);
/* Counts one more accepted RCPT (for the "for" of Received and the limits). */
void smtp_cmd_rcpt_accepted(struct smtp_session *s);

/* smtp_submit.c */
/* A SASL response line (state SMTP_STATE_SASL). */
enum smtp_flow smtp_submit_sasl_response(struct smtp_session *s, const struct conn_line *line);
/* The session's authentication is forgotten (STARTTLS, RFC 3207 4.2). */
void smtp_submit_forget_auth(struct smtp_session *s);

#endif
