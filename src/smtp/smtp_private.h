/*
 * smtp_private: what smtp_session.c (lifecycle, input, timers, message
 * bodies) and smtp_cmd.c (the command table and its handlers) share.
 */
#ifndef HERMOD_SMTP_SMTP_PRIVATE_H
#define HERMOD_SMTP_SMTP_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
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
};

struct smtp_server {
	struct event_base *base;
	struct server *srv;
	struct store_async *store;
	const struct config *cfg;
	bool shutting_down;
	struct smtp_session *sessions; /* doubly linked */
	size_t session_count;
};

struct smtp_session {
	struct smtp_session *prev, *next;
	struct smtp_server *server;
	const struct config *cfg; /* the snapshot this session started with */
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
};

/* Outcome of handling input: whether the session still exists afterwards. */
enum smtp_flow { SMTP_FLOW_CONTINUE, SMTP_FLOW_CLOSED };

/* smtp_session.c */
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

/* smtp_cmd.c */
enum smtp_flow smtp_cmd_dispatch(struct smtp_session *s, const struct conn_line *line);
/* A BDAT chunk has been read completely. */
enum smtp_flow smtp_cmd_bdat_chunk_done(struct smtp_session *s);

#endif
