/*
 * smtp_client: sends one message to one destination over SMTP (RFC 5321,
 * client side), for the outbound queue.
 *
 * A job names the addresses to try in order (one host's addresses, or all
 * the MX hosts' addresses from src/dns), the envelope and a body reader.
 * The client connects, reads the banner, says EHLO (HELO when EHLO is
 * refused with 5xx), upgrades with STARTTLS when offered and a TLS context
 * is given (opportunistic: certificates are not enforced, and a failed
 * handshake is retried once in plaintext on the same address), then sends
 * MAIL FROM (SIZE=, BODY=8BITMIME, SMTPUTF8 when offered), every RCPT and
 * DATA (one pipelined group with PIPELINING, RFC 2920), streams the body
 * dot-stuffed with CRLF line ends, and QUIT.
 *
 * Connection reuse (RFC 5321 3.3: a session may carry several
 * transactions): with job.keep, a session whose transaction ended cleanly
 * (the server answered the final dot with 2xx) is handed back in the result
 * as an idle session instead of being QUIT; a later job passes it as
 * job.reuse and the client starts with RSET (RFC 5321 4.1.1.5) to know the
 * server is still there and in its initial state before MAIL FROM. A reused
 * session that fails before MAIL FROM (closed, timed out, RSET refused) is
 * dropped and the job goes on as if it had none: nothing of the message
 * was sent.
 *
 * The next address is tried when a connection fails or times out, or the
 * server refuses the session (4xx/5xx banner, 4xx to EHLO/HELO, the
 * connection lost before MAIL FROM): up to that point nothing of the
 * message was read. From MAIL FROM on, the outcome is final for this job.
 * When every address failed, the job fails temporarily, unless every
 * address refused the session with a 5xx (then permanently).
 *
 * Timeouts are those of RFC 5321 section 4.5.3.2 unless the job gives its
 * own. Every reply is bounded: lines of at most SMTP_CLIENT_LINE_MAX bytes,
 * at most SMTP_CLIENT_REPLY_LINES_MAX lines; beyond that the server is
 * broken and the attempt fails temporarily.
 */
#ifndef HERMOD_SMTP_SMTP_CLIENT_H
#define HERMOD_SMTP_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "smtp/smtp_reply_parse.h"

#define SMTP_CLIENT_LINE_MAX 4096       /* one reply line, CRLF included */
#define SMTP_CLIENT_REPLY_LINES_MAX 100 /* lines in one reply */
#define SMTP_CLIENT_TEXT_MAX 1024       /* reply text kept for results (joined lines) */

/*
 * The body: fills buf with up to len bytes and sets *got (0 at the end of
 * the message); returns 0, or -1 when the message cannot be read (the
 * transaction is then abandoned without the final dot, so the server never
 * accepts a truncated message). The bytes are the message as stored (CRLF
 * or LF line ends); the client dot-stuffs and writes CRLF itself.
 */
typedef int (*smtp_client_read_fn)(void *arg, void *buf, size_t len, size_t *got);

struct smtp_client_target {
	const struct sockaddr *sa; /* with the port to connect to */
	socklen_t sa_len;
	const char *host;          /* host name for SNI and texts (the MX name), or NULL */
};

/* RFC 5321 4.5.3.2, in seconds; 0 takes the RFC's value (shown). */
struct smtp_client_timeouts {
	unsigned connect_s; /* TCP handshake: 30 (not in the RFC; Postfix's smtp_connect_timeout) */
	unsigned banner_s;  /* initial 220: 300 */
	unsigned helo_s;    /* EHLO/HELO/STARTTLS replies and the TLS handshake: 300 */
	unsigned mail_s;    /* MAIL FROM: 300 */
	unsigned rcpt_s;    /* each RCPT TO: 300 */
	unsigned data_s;    /* DATA initiation: 120 */
	unsigned block_s;   /* each data block written: 180 */
	unsigned dot_s;     /* reply to the final dot: 600 */
};

enum smtp_client_flags {
	SMTP_CLIENT_8BIT = 1 << 0,     /* the body has 8-bit bytes: BODY=8BITMIME when offered */
	SMTP_CLIENT_SMTPUTF8 = 1 << 1, /* UTF-8 in the envelope or headers: needs SMTPUTF8 (RFC 6531) */
};

struct smtp_client_job {
	const struct smtp_client_target *targets; /* tried in order; at least one */
	size_t ntargets;
	const char *helo_name;  /* our host name for EHLO/HELO */
	SSL_CTX *tls_ctx;       /* tls_client_ctx_new(); NULL: never STARTTLS */
	const char *from;       /* reverse path without brackets; "" for the null sender */
	const char *const *rcpts;
	size_t nrcpts;          /* at least one */
	smtp_client_read_fn read;
	void *read_arg;
	uint64_t size;          /* message size for SIZE= (RFC 1870) */
	unsigned flags;         /* enum smtp_client_flags */
	const struct smtp_client_timeouts *timeouts; /* NULL: the RFC's */
	/*
	 * RFC 3461, passed on to a server that offers DSN (then the notices
	 * become its business); a server without DSN gets none of them.
	 */
	const char *envid;            /* decoded ENVID, or NULL */
	int dsn_ret;                  /* 0: not given, 1: FULL, 2: HDRS */
	const unsigned *notify;       /* per recipient: SMTP_NOTIFY_* bits, 0 if not given; or NULL */
	const char *const *orcpt;     /* per recipient: decoded "rfc822;addr", or NULL entries; or NULL */
	/* Connection reuse (see the top of this file). */
	bool keep;                    /* hand a clean session back (result.idle) instead of QUIT */
	struct smtp_client_idle *reuse; /* taken over in every case; used when it is one of targets, else QUIT */
};

enum smtp_client_status {
	SMTP_CLIENT_DELIVERED, /* the server took responsibility (250 after the dot) */
	SMTP_CLIENT_TEMPFAIL,  /* try again later */
	SMTP_CLIENT_PERMFAIL,  /* do not retry: bounce */
};

/*
 * A reply, or our own verdict when no reply applies (connection refused,
 * timeout, size over the server's limit): then `remote` is false and code /
 * status are what we would have expected (e.g. 451 4.4.1).
 */
struct smtp_client_reply {
	enum smtp_client_status status;
	unsigned code;                  /* 250, 450, 550 ... */
	char enhanced[SMTP_ENHANCED_MAX]; /* "5.1.1", or "" when the server gave none */
	const char *text;               /* without code and enhanced code; lines joined by " " */
	bool remote;                    /* the server said it */
};

struct smtp_client_result {
	/* DELIVERED when at least one recipient was delivered; otherwise TEMPFAIL if any recipient may be retried. */
	enum smtp_client_status status;
	struct smtp_client_reply reply;           /* the deciding reply (final dot, or the failure) */
	const struct smtp_client_reply *rcpts;    /* one per job recipient, same order */
	size_t nrcpts;
	const char *host;                         /* where the transaction happened (last tried), "name[ip]:port" */
	bool tls;                                 /* STARTTLS was used */
	const char *tls_description;              /* "TLSv1.3 TLS_AES_256_GCM_SHA384" or NULL */
	bool tls_verified;                        /* certificate trusted and matching (recorded, not enforced) */
	unsigned extensions;                      /* enum smtp_ext the server offered */
	bool reused;                              /* the transaction ran on a reused session */
	/*
	 * With job.keep and a clean end: the open session, now the callback's
	 * (keep it with smtp_client_idle_watch, pass it to a job, or
	 * smtp_client_idle_free it); NULL otherwise.
	 */
	struct smtp_client_idle *idle;
};

struct smtp_client;

/* The result and all it points to are valid during the callback only. */
typedef void (*smtp_client_cb)(const struct smtp_client_result *r, void *arg);

/*
 * Starts sending. The job's strings, addresses and arrays are copied; the
 * body reader and its arg must stay usable until the callback. cb runs
 * exactly once from the loop (never inside this call) unless the send is
 * cancelled. Never returns NULL.
 */
struct smtp_client *smtp_client_send(struct event_base *base, const struct smtp_client_job *job, smtp_client_cb cb,
				     void *arg);

/*
 * Abandons the send (the connection is dropped without a final dot, so no
 * message is accepted): cb is never called. The handle is invalid once cb
 * has started.
 */
void smtp_client_cancel(struct smtp_client *sc);

/* ---- idle sessions (connection reuse) ---- */

struct smtp_client_idle;

/*
 * Called once when an idle session ends on its own: the server closed it
 * or said something unasked (a 421 on its own idle timeout), or timeout_s
 * passed (then we QUIT politely). The handle is freed when cb returns.
 */
typedef void (*smtp_client_idle_cb)(struct smtp_client_idle *idle, void *arg);
/*
 * Watches an idle session (see smtp_client_idle_cb); timeout_s > 0. False
 * when it has already ended (between the result and this call): free it.
 */
bool smtp_client_idle_watch(struct smtp_client_idle *idle, unsigned timeout_s, smtp_client_idle_cb cb, void *arg);
/* Is the session connected to t's address and port? */
bool smtp_client_idle_matches(const struct smtp_client_idle *idle, const struct smtp_client_target *t);
/* Transactions the session has carried so far. */
unsigned smtp_client_idle_uses(const struct smtp_client_idle *idle);
/* "host[ip]:port", for logs; valid while the handle is. */
const char *smtp_client_idle_label(const struct smtp_client_idle *idle);
/* QUITs politely (the output is flushed in the background) and frees; NULL is fine. */
void smtp_client_idle_free(struct smtp_client_idle *idle);

#endif
