/*
 * queue: the outbound queue runner. Delivers what submission put in the
 * store's queue (store_queue.h) to other servers, retries with backoff, and
 * tells senders what happened with RFC 3464 notices.
 *
 * It runs in the event loop and never blocks it: the store is reached only
 * through store_async (READ calls to find due entries and load bodies, WRITE
 * calls to record attempts), DNS through src/dns, SMTP through smtp_client.
 *
 * Every scan_interval (and at once after queue_kick) the scheduler asks the
 * store for due entries and claims as many as the limits allow: at most
 * `concurrency` outbound connections, at most `per_domain` to one recipient
 * domain. A claimed entry's pending recipients are grouped by domain; one
 * connection per domain carries all of that domain's recipients, to the
 * transport override's host or to the domain's MX hosts in order. The
 * results are recorded per recipient in one WRITE call: 2xx delivered, 5xx
 * failed at once, 4xx and unreachable servers pending until the next attempt
 * of the retry schedule. Notices (failure, delay, success per NOTIFY) are
 * submitted through the store from the null sender before the attempt is
 * recorded, so a crash in between repeats a notice rather than losing it.
 *
 * Delivery is at-least-once (RFC 5321 4.1.1.4 / 6.1): an entry is removed
 * only once its results are durable, so a crash or a shutdown during an
 * attempt leaves its recipients pending and they are tried again; a server
 * that had already accepted the message may then get it twice.
 */
#ifndef HERMOD_QUEUE_QUEUE_H
#define HERMOD_QUEUE_QUEUE_H

#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "dns/dns.h"
#include "store/store_async.h"

struct queue;

/*
 * Starts the runner on base: the first scan happens from the loop shortly
 * after. dns, tls (NULL: never STARTTLS) and store must outlive the queue;
 * cfg must outlive it or be replaced with queue_set_config first.
 */
struct queue *queue_new(struct event_base *base, struct store_async *store, struct dns *dns, SSL_CTX *tls,
			const struct config *cfg);
/* Attempts started from now on use cfg (reload); running ones keep theirs. */
void queue_set_config(struct queue *q, const struct config *cfg);
/*
 * New mail is in the queue (called after a submission committed): scan at
 * once instead of waiting for the next scan_interval. Cheap; safe to call
 * often (scans are coalesced).
 */
void queue_kick(struct queue *q);
/* Stops claiming entries; attempts already running go on until queue_free. */
void queue_shutdown(struct queue *q);
/* Attempts running now, for logs and tests. */
size_t queue_active_count(const struct queue *q);
/*
 * Abandons every running attempt (connections dropped before the final
 * dot where possible) and frees. Abandoned recipients stay pending in the
 * store and are retried after the restart. Call before store_async_free.
 */
void queue_free(struct queue *q);

#endif
