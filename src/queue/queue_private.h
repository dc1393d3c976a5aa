/*
 * queue_private: what the queue's files share, and the pure scheduling
 * decisions (queue_sched.c) that the unit tests call directly.
 */
#ifndef HERMOD_QUEUE_QUEUE_PRIVATE_H
#define HERMOD_QUEUE_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "dns/dns.h"
#include "outbound/dsn.h"
#include "queue/queue.h"
#include "smtp/smtp_client.h"
#include "store/store.h"
#include "store/store_queue.h"

/* Slack over the largest configured message size for the headers submission adds. */
#define QUEUE_BODY_SLACK (64 * 1024)
#define QUEUE_DUE_FACTOR 2 /* entries asked for per free connection (skipping saturated domains) */
#define QUEUE_CONN_IDLE_S 3       /* an idle outbound connection is QUIT after this long (Postfix: 2 s) */
#define QUEUE_CONN_REUSE_MAX 100  /* transactions on one connection, then a fresh one */
#define QUEUE_RECORD_BATCH 256    /* attempts recorded by one WRITE (one commit) */

/* ---- pure decisions (queue_sched.c) ----------------------------------------------- */

/*
 * When the next attempt is due after attempt number `attempts` (1 for the
 * first) ended at now: the schedule's delay for that attempt (the last one
 * repeating), but never after the moment the delay notice is owed (so it is
 * sent on time) nor after the end of the lifetime (so the final attempt and
 * the failure notice happen then).
 */
int64_t queue_next_attempt(const struct config *cfg, int64_t created_at, unsigned attempts, bool delay_notified,
			   int64_t now);
/* The entry has been in the queue for max_lifetime or longer. */
bool queue_expired(const struct config *cfg, int64_t created_at, int64_t now);
/*
 * A delay notice is owed now: none was sent, delay warnings are on and come
 * before the lifetime ends, the warning time has passed, and recipients are
 * still pending.
 */
bool queue_delay_due(const struct config *cfg, int64_t created_at, bool delay_notified, size_t still_pending,
		     int64_t now);
/*
 * Does a recipient's NOTIFY (enum store_notify bits; 0 when not given) ask
 * for a notice of this kind? Not given: failures and delays (RFC 3461 4.1),
 * never successes. NEVER: nothing.
 */
bool queue_notify_wants(unsigned notify, enum dsn_action action);
/*
 * Groups recipients by domain (case-insensitive): group_r[i] gets the group
 * of addrs[i], numbered in order of first appearance. Returns the number of
 * groups. An address without '@' is a group of its own (it fails routing).
 */
size_t queue_group_by_domain(const char *const *addrs, size_t n, size_t *group_r);
/* The domain part of an address ("" without '@'). */
const char *queue_domain_of(const char *address);
/*
 * SMTP client flags for a message: SMTPUTF8 when the envelope has non-ASCII
 * addresses or the header holds UTF-8 (RFC 6531/6532: a server without
 * SMTPUTF8 cannot take it); 8BIT when any byte has the high bit set.
 */
unsigned queue_message_flags(const char *from, const char *const *rcpts, size_t nrcpts, const char *msg,
			     size_t len);
/* "550 5.1.1 text" from a reply (truncated to size). */
void queue_format_reply(const struct smtp_client_reply *r, char *out, size_t size);
/* An RFC 3463 status for a reply: its enhanced code, else class.0.0 from the basic code. */
void queue_reply_status(const struct smtp_client_reply *r, char *out, size_t size);

/* ---- the runner (queue.c, queue_deliver.c, queue_bounce.c) -------------------------- */

struct queue_entry;

/* A pending recipient of an entry being attempted, and the attempt's outcome for it. */
struct queue_rcpt {
	int64_t id;
	char *address;
	char *orcpt;               /* NULL when none */
	unsigned notify;
	char *last_reply;          /* from the store: the previous attempt's reply, or NULL */
	/* this attempt */
	enum store_qrcpt_status status;
	char dsn_status[16];       /* "5.1.1" */
	char *reply;               /* "550 5.1.1 ..." or our own text */
	char *remote_mta;          /* the server that answered, or NULL */
	bool dsn_passed;           /* delivered to a DSN server: success reports are its business */
	bool failed_now;           /* became FAILED in this attempt */
};

/* A notice being submitted (the closure of its store request). */
struct queue_notice {
	struct queue_entry *qe;
	struct store_req *req;     /* NULL once its callback ran */
};

/* One connection: the recipients of one domain of one entry. */
struct queue_job {
	struct queue_entry *qe;
	char *domain;
	size_t *rcpt_idx;          /* into qe->rcpts */
	size_t nrcpts;
	bool active;               /* holds a connection slot */
	struct dns_req *dns;
	struct smtp_client *sc;
	size_t read_off;           /* body reader position */
	struct queue_job *wait_next;
};

/* A claimed entry, from its body being loaded to its attempt being recorded. */
struct queue_entry {
	struct queue *q;
	const struct config *cfg;  /* the snapshot this attempt started with */
	struct store_queue_entry e;
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	struct queue_job *jobs;
	size_t njobs, jobs_left;
	char *msg;                 /* prefix + body */
	size_t msg_len;
	unsigned flags;            /* enum smtp_client_flags */
	int64_t sender_id;         /* the sender's address (local notices), 0 if not hosted */
	bool sender_hosted;        /* the sender's domain is ours (no remote notice) */
	/* where notices go: the sender, or the original one behind our SRS sender ("": the sender) */
	char notice_to[sizeof(((struct store_queue_entry *)0)->envelope_from)];
	const char *srs_refused;   /* our SRS sender did not verify (srs_status_name): no notice */
	struct store_req *req;     /* the store request this entry waits for, if any */
	struct queue_notice *notices;  /* submitted, waiting to be durable */
	size_t notice_count, notices_left;
	bool remote_notice;        /* a notice went into the queue: kick it */
	int64_t fin_now, fin_next; /* the attempt's end and the next one (queue_bounce_finish) */
	bool fin_delay_notified;
	enum { QUEUE_REC_NONE, QUEUE_REC_WAITING, QUEUE_REC_WRITING } rec; /* where its record is */
	struct queue_entry *rec_next;  /* q->rec_head list while WAITING */
	struct queue_entry *prev, *next;
};

/* An idle outbound connection kept for the next message to its destination (queue_conn.c). */
struct queue_idle {
	struct queue *q;
	struct smtp_client_idle *sc;
	struct queue_idle *prev, *next; /* q->idle: newest first */
};

struct queue_domain_count {
	char *domain;
	unsigned active;           /* connections now */
	unsigned jobs;             /* connections now + waiting */
	struct queue_domain_count *next;
};

struct queue {
	struct event_base *base;
	struct store_async *store;
	struct dns *dns;
	SSL_CTX *tls;
	const struct config *cfg;
	struct event *timer;
	bool scanning, rescan, shutting_down;
	struct store_req *scan_req;
	struct queue_entry *entries;    /* claimed */
	size_t nentries;
	unsigned active;                /* connections now */
	unsigned jobs;                  /* jobs of claimed entries, active or waiting, + entries loading */
	struct queue_job *wait_head, *wait_tail;
	struct queue_domain_count *domains;
	struct queue_idle *idle, *idle_tail; /* idle connections, newest first */
	size_t nidle;
	struct queue_entry *rec_head, *rec_tail; /* finished attempts waiting for the next record WRITE */
	struct store_req *rec_req;               /* the record WRITE in flight, if any */
	uint64_t next_log_id;
};

/* queue.c */
struct queue_domain_count *queue_domain(struct queue *q, const char *domain, bool create);
void queue_entry_unlink(struct queue_entry *qe);
void queue_entry_free(struct queue_entry *qe);
void queue_schedule_scan(struct queue *q);
uint64_t queue_body_limit(const struct config *cfg);

/*
 * queue_conn.c: idle connections between transactions. park takes a
 * session handed back by smtp_client (keeps it for QUEUE_CONN_IDLE_S, or
 * QUITs it when the queue is shutting down, it has carried
 * QUEUE_CONN_REUSE_MAX transactions, or the destination already has
 * per_domain idle ones; the oldest idle one goes when `concurrency` are
 * idle). take returns the newest idle session to the first of targets that
 * has one (the caller owns it), or NULL. drop_all QUITs them all.
 */
void queue_conn_park(struct queue *q, struct smtp_client_idle *sc);
struct smtp_client_idle *queue_conn_take(struct queue *q, const struct smtp_client_target *targets, size_t n);
void queue_conn_drop_all(struct queue *q);

/* queue_deliver.c: loads the body, then runs one job per domain; ends in queue_bounce_finish */
void queue_deliver_start(struct queue_entry *qe);
void queue_deliver_pump(struct queue *q);
void queue_deliver_cancel(struct queue_entry *qe);

/*
 * queue_bounce.c: notices for the attempt, then the attempt recorded; frees
 * qe. Records are group-committed: the attempts that finish while one
 * record WRITE runs go together in the next (store_queue_record_many).
 */
void queue_bounce_finish(struct queue_entry *qe);
/*
 * At shutdown, before the entries are abandoned: one last WRITE records
 * what is known (attempts waiting for their record or their notices, and
 * the recipients already delivered by entries still in flight), so that
 * no delivered recipient is sent again after the restart.
 */
size_t queue_bounce_shutdown(struct queue *q); /* returns the entries whose attempt is recorded in full */
/* The notice for rcpts (with actions) as a complete message in out; -1 when none is owed. */
int queue_bounce_build(const struct queue_entry *qe, const struct dsn_recipient *rcpts, size_t n, int64_t now,
		       struct buf *out, const char **errstr_r);

#endif
