/*
 * pop3_private: what pop3_session.c (lifecycle, input, timers, the store
 * and auth steps) and pop3_cmd.c (the command table and handlers) share.
 */
#ifndef HERMOD_POP3_POP3_PRIVATE_H
#define HERMOD_POP3_POP3_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "config/config.h"
#include "net/conn.h"
#include "net/server.h"
#include "pop3/pop3_msg.h"
#include "store/store_async.h"

/* Output a pipelining client has not read yet, before we stop reading its input. */
#define POP3_OUTPUT_BACKLOG_MAX (64 * 1024)
/* Bytes of a message read from the store per step of RETR/TOP. */
#define POP3_CHUNK_SIZE (64 * 1024)
/*
 * Read-ahead (see pop3_session.c): once a RETR/TOP has been sent, the
 * messages after it not marked deleted are read into the session, in
 * order, as long as they fit in this many bytes altogether (each takes its
 * size + 1; a message of 64 KiB or more is never read ahead), at most
 * POP3_PREFETCH_MSGS of them, so that the RETRs that usually follow are
 * answered at once. One read-ahead per session at a time, freed once its
 * last message has been sent, when a message outside it is asked for, at
 * QUIT, or when the session ends.
 */
#define POP3_PREFETCH_MAX (64 * 1024)
#define POP3_PREFETCH_MSGS 64
/* Scan listing lines (LIST, UIDL) written per step before checking the backlog. */
#define POP3_LISTING_STEP 256

enum pop3_state {
	POP3_STATE_AUTHORIZATION, /* greeted: USER/PASS, AUTH, STLS, CAPA, QUIT */
	POP3_STATE_SASL,          /* inside AUTH: the next line is a SASL response */
	POP3_STATE_TLS,           /* STLS handshake in progress */
	POP3_STATE_LOGIN,         /* password check, lock and maildrop snapshot in progress */
	POP3_STATE_TRANSACTION,   /* logged in, maildrop locked */
	POP3_STATE_UPDATE,        /* QUIT: deleting the marked messages */
	POP3_STATE_COUNT
};

enum pop3_sasl_step { POP3_SASL_PLAIN, POP3_SASL_LOGIN_USER, POP3_SASL_LOGIN_PASS };
enum pop3_listing { POP3_LISTING_NONE, POP3_LISTING_LIST, POP3_LISTING_UIDL };

struct pop3_server {
	struct event_base *base;
	struct server *srv;
	struct store_async *store;
	struct auth_service *auth;
	const struct config *cfg;
	bool shutting_down;
	struct pop3_session *sessions; /* doubly linked */
	size_t session_count;
};

struct pop3_job;

struct pop3_session {
	struct pop3_session *prev, *next;
	struct pop3_server *server;
	const struct config *cfg; /* the snapshot this session started with */
	struct conn *conn;
	char id[13];
	enum pop3_state state;
	unsigned errors;

	struct event *timer;          /* command timeout before login, idle timeout after */
	struct auth_req *auth_pending;
	struct pop3_job *job;         /* a store call in flight */
	struct pop3_job *prefetch;    /* the read-ahead: in flight (its req set) or ready; not s->job */
	bool prefetch_wait;           /* a RETR/TOP waits for the read-ahead in flight */
	bool output_blocked;          /* waiting for the client to read our output */
	bool closing;                 /* shutting down: close once the pending step is answered */

	/* AUTHORIZATION */
	enum pop3_sasl_step sasl_step;
	char user[AUTH_SASL_FIELD_MAX];
	bool have_user;

	/* TRANSACTION: the locked maildrop */
	bool locked;
	int64_t address_id;
	char address[320];
	int64_t folder_id;
	uint32_t uidvalidity;
	struct pop3_message *msgs;
	size_t count;
	size_t live_count;   /* messages not marked deleted (STAT, LIST) */
	uint64_t live_bytes; /* and their total size */

	/* a multi-line answer in progress */
	enum pop3_listing listing;
	size_t listing_next;
	bool streaming;      /* RETR/TOP */
	bool stream_started; /* "+OK" sent */
	size_t stream_index;
	uint64_t stream_offset;
	struct pop3_msg_filter filter;
};

/* Outcome of handling input: whether the session still exists afterwards. */
enum pop3_flow { POP3_FLOW_CONTINUE, POP3_FLOW_CLOSED };

/* pop3_session.c */
void pop3_set_state(struct pop3_session *s, enum pop3_state state);
void pop3_reply(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counts a protocol error; closes when the limit is reached. */
enum pop3_flow pop3_count_error(struct pop3_session *s);
/* Replies (if fmt is not NULL), flushes and frees the session. */
enum pop3_flow pop3_close(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3_update_reading(struct pop3_session *s);
void pop3_process_input(struct pop3_session *s);
/* USER/PASS or AUTH: may a password cross this connection? */
bool pop3_auth_allowed(const struct pop3_session *s);
/* Checks the credentials; the reply comes later (LOGIN state meanwhile). */
void pop3_login(struct pop3_session *s, const char *user, const char *password);
/* RETR (top false) or TOP: streams message index from the store. */
void pop3_stream_start(struct pop3_session *s, size_t index, bool top, uint64_t lines);
void pop3_listing_start(struct pop3_session *s, enum pop3_listing kind);
/* QUIT in TRANSACTION: deletes the marked messages durably, then answers and closes. */
enum pop3_flow pop3_update(struct pop3_session *s);
/* Messages not marked deleted, and their total size. */
void pop3_maildrop_stat(const struct pop3_session *s, size_t *count_r, uint64_t *bytes_r);
/* DELE: marks message index (not yet marked) deleted. */
void pop3_mark_deleted(struct pop3_session *s, size_t index);
/* RSET: unmarks every message. */
void pop3_unmark_all(struct pop3_session *s);

/* pop3_cmd.c */
enum pop3_flow pop3_cmd_dispatch(struct pop3_session *s, const struct conn_line *line);
enum pop3_flow pop3_cmd_sasl_response(struct pop3_session *s, const struct conn_line *line);

#endif
