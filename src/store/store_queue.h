/*
 * store_queue: the outbound queue, the sending counters and the sender
 * permissions, in the store.
 *
 * A message accepted on submission is split into local recipients (their
 * INBOXes, as an inbound delivery) and remote recipients (a queue entry).
 * Both are written by the same store_deliver_batch call, in the same
 * transaction, after the same data sync: the 250 that follows covers both.
 * The body is shared (reference counted) by the mailboxes and the queue
 * entry; it is released when the last recipient of the entry is done.
 *
 * Conventions of store.h: 0 / -1, lookups 1 / 0 / -1, *errstr_r in words.
 */
#ifndef HERMOD_STORE_STORE_QUEUE_H
#define HERMOD_STORE_STORE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_QUEUE_REPLY_MAX 512
#define STORE_QUEUE_ENVID_MAX 100
#define STORE_QUEUE_PREFIX_MAX 4096 /* a DKIM-Signature with an RSA-4096 b= fits */
#define STORE_OUTBOUND_IP_SIZE 64     /* an IPv6 text form with a zone, and a NUL */
#define STORE_OUTBOUND_ADDRESS_SIZE 320 /* local@domain and its NUL */
#define STORE_OUTBOUND_MSGID_SIZE 256 /* a longer Message-ID is cut in the history entry */

/* RFC 3461 NOTIFY bits (the same values as enum smtp_notify). */
enum store_notify {
	STORE_NOTIFY_NEVER = 1 << 0,
	STORE_NOTIFY_SUCCESS = 1 << 1,
	STORE_NOTIFY_FAILURE = 1 << 2,
	STORE_NOTIFY_DELAY = 1 << 3,
};

enum store_ret { STORE_RET_UNSET, STORE_RET_FULL, STORE_RET_HDRS };

struct store_outbound_rcpt {
	const char *address;  /* local@domain as given in RCPT TO */
	unsigned notify;      /* enum store_notify bits; 0: not given (failure and delay notices) */
	const char *orcpt;    /* "rfc822;addr" or NULL */
};

/* The remote part of a submitted message (store_delivery.outbound). */
struct store_outbound {
	const char *envelope_from;      /* "" for the null sender (notices) */
	int64_t sender_address_id;      /* the authenticated address; 0 for notices */
	const char *envid;              /* RFC 3461 ENVID, or NULL */
	enum store_ret ret;
	/*
	 * Header lines sent before the stored body when the message goes out,
	 * or NULL: the DKIM-Signature, which can only be computed once the
	 * whole message has arrived, after the body was already spooled.
	 */
	const char *prefix;
	const struct store_outbound_rcpt *rcpts;
	size_t rcpt_count;
	/*
	 * Recipients to add to send_log for the rolling 24-hour limit: one per
	 * recipient, local and remote alike (the plan counts every recipient),
	 * recorded as one row at the delivery's internal date. 0 for notices.
	 * Needs sender_address_id.
	 */
	unsigned send_log_count;
	/*
	 * The action history entry of a submission, written with the send_log
	 * row (so only when send_log_count > 0) on sender_address_id: its
	 * address (the entry's actor), the client's IP and the message's
	 * Message-ID, "" when unknown or none. Arrays, not pointers:
	 * store_async_submit's copy takes them as they are.
	 */
	char sender_address[STORE_OUTBOUND_ADDRESS_SIZE];
	char client_ip[STORE_OUTBOUND_IP_SIZE];
	char message_id[STORE_OUTBOUND_MSGID_SIZE];
};

/* ---- the queue ------------------------------------------------------------------ */

enum store_qrcpt_status { STORE_QRCPT_PENDING, STORE_QRCPT_DELIVERED, STORE_QRCPT_FAILED };

struct store_queue_entry {
	int64_t id;
	int64_t body_id;
	uint64_t size;
	char envelope_from[320];
	int64_t sender_address_id;
	char envid[STORE_QUEUE_ENVID_MAX + 1];
	enum store_ret ret;
	int64_t created_at;      /* arrival (unix seconds) */
	int64_t next_attempt;
	unsigned attempts;
	bool delay_notified;     /* the delay notice has been sent */
	bool held;               /* `hermod queue hold`: not attempted until released */
	unsigned pending;        /* recipients still pending */
	char prefix[STORE_QUEUE_PREFIX_MAX]; /* store_outbound.prefix, "" if none */
};

struct store_queue_rcpt {
	int64_t id;
	char address[320];
	char orcpt[330];
	unsigned notify;
	enum store_qrcpt_status status;
	char last_reply[STORE_QUEUE_REPLY_MAX]; /* "451 4.4.1 ..." or our own text */
	char remote_mta[256];
	int64_t last_attempt;
};

/*
 * Entries due at `now` (next_attempt <= now, not held, something pending),
 * at most max: the longest overdue first (next_attempt, then arrival order).
 */
int store_queue_due(struct store *s, int64_t now, size_t max,
		    void (*cb)(const struct store_queue_entry *e, void *arg), void *arg, const char **errstr_r);
/* The earliest next_attempt of any entry not held with something pending; 0 if none. */
int store_queue_next_due(struct store *s, int64_t *when_r, const char **errstr_r);
/* Lookup: 1, or 0 with *errstr_r "queue entry N does not exist" (for callers that report it), or -1. */
int store_queue_get(struct store *s, int64_t id, struct store_queue_entry *e_r, const char **errstr_r);
/* The entry's recipients in RCPT order; -1 "queue entry N does not exist". */
int store_queue_recipients(struct store *s, int64_t id, void (*cb)(const struct store_queue_rcpt *r, void *arg),
			   void *arg, const char **errstr_r);
/* Every entry, newest first (for `hermod queue list`). */
int store_queue_list(struct store *s, void (*cb)(const struct store_queue_entry *e, void *arg), void *arg,
		     const char **errstr_r);

/* The outcome of one attempt for one recipient. */
struct store_queue_result {
	int64_t rcpt_id;
	enum store_qrcpt_status status; /* PENDING: deferred, try again */
	const char *reply;              /* what the remote said, or why we could not reach it */
	const char *remote_mta;         /* NULL if none was reached */
};

/*
 * Records an attempt in one transaction: each recipient's status and reply,
 * attempts + 1, the next attempt time and whether the delay notice has now
 * been sent (once noted it stays noted). An entry with nothing pending left
 * is deleted and its body released. An unknown entry, or a result for a
 * recipient of another entry, fails the whole call and changes nothing.
 */
int store_queue_record(struct store *s, int64_t id, const struct store_queue_result *results, size_t count,
		       int64_t now, int64_t next_attempt, bool delay_notified, const char **errstr_r);

/* One attempt of store_queue_record_many: the arguments of store_queue_record, and its outcome. */
struct store_queue_attempt {
	int64_t id;
	const struct store_queue_result *results;
	size_t count;
	int64_t now, next_attempt;
	bool delay_notified;
	int rc;        /* out: 0, or -1 with err (this attempt changed nothing) */
	char err[256];
};

/*
 * Records n attempts in ONE transaction (one commit and one sync for all:
 * the queue's group commit of its results). Each attempt stands alone (a
 * savepoint): one that fails (an entry removed meanwhile) gets rc -1 and
 * err and changes nothing, the others are recorded. Returns -1 with
 * *errstr_r only when the transaction failed as a whole (nothing recorded).
 */
int store_queue_record_many(struct store *s, struct store_queue_attempt *attempts, size_t n, const char **errstr_r);

/* Administration. hold and retry: -1 "queue entry N does not exist" for an unknown id. */
int store_queue_hold(struct store *s, int64_t id, bool held, const char **errstr_r);
/* Makes the entry due now (and not held). */
int store_queue_retry(struct store *s, int64_t id, const char **errstr_r);
/* Deletes the entry without notice; returns 0 (not found) or 1. */
int store_queue_remove(struct store *s, int64_t id, const char **errstr_r);

/* ---- sending limits and permissions --------------------------------------------- */

/*
 * Recipients sent by address_id after `since` (the rolling window: a send
 * at exactly `since` has left it), and the time of the oldest of them (so
 * the caller can say when sending resumes: oldest + window); 0 and 0 if none.
 * Sends are kept in 10-minute buckets timed by their latest send, so the
 * count may include sends up to 10 minutes older than `since` (strict,
 * never lenient) and "oldest" is when the count next drops. The cost is
 * bounded by the buckets in the window (~145), not the messages sent.
 */
int store_send_count(struct store *s, int64_t address_id, int64_t since, uint64_t *count_r, int64_t *oldest_r,
		     const char **errstr_r);

/*
 * May the authenticated address send as `from` (local@domain)? Yes when it
 * is the address itself, or when an account that has access to the
 * authenticated address holds the send permission on `from` (one person's
 * device sending for a shared or generic address they may use). Never a
 * catchall: it receives only. Lookup: 1 yes, 0 no, -1 error.
 */
int store_may_send_as(struct store *s, int64_t auth_address_id, const char *from, const char **errstr_r);

/* ---- DKIM keys -------------------------------------------------------------------- */

/*
 * The domain's selector and private key (PEM, allocated: the caller frees
 * it); 0 if it has none or is not hosted. set: the selector is a DNS name
 * (letters, digits, '-', dot-separated); -1 "domain X does not exist".
 */
int store_domain_dkim_get(struct store *s, const char *domain, char *selector_r, size_t selector_size,
			  char **private_pem_r, const char **errstr_r);
int store_domain_dkim_set(struct store *s, const char *domain, const char *selector, const char *private_pem,
			  const char **errstr_r);

#endif
