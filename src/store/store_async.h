/*
 * store_async: the store seen from the event loop.
 *
 * The loop never blocks on SQLite or fsync. Lookups run on a small pool of
 * reader threads (each with its own read connection; WAL lets them proceed
 * while the writer commits). Deliveries go to one writer thread that takes
 * everything queued since its last commit as one batch (group commit):
 * one data sync and one transaction for the lot. Results come back on the
 * loop thread, through a callback, in a later event-loop iteration.
 */
#ifndef HERMOD_STORE_STORE_ASYNC_H
#define HERMOD_STORE_STORE_ASYNC_H

#include <stdbool.h>

#include <event2/event.h>

#include "store/store.h"

struct store_async;
struct store_req;

struct store_async *store_async_new(struct event_base *base, const char *data_dir, unsigned reader_threads,
				    const char **errstr_r);
/* Finishes every queued delivery (and runs its callback), then stops the threads. */
void store_async_free(struct store_async *sa);

/* Counters of the writer thread, for logs, tests and benchmarks. */
struct store_async_stats {
	uint64_t batches;       /* store_deliver_batch calls (one commit each) */
	uint64_t deliveries;    /* requests they carried */
	uint64_t largest_batch;
};
void store_async_stats(struct store_async *sa, struct store_async_stats *stats_r);

/*
 * A cancelled request still completes (a delivery is still made durable:
 * SMTP is at-least-once) but its callback is not called (a store_async_call
 * gets done(arg, true), see below). Call it when the
 * session that asked goes away. The handle is invalid after the callback
 * has run or after cancel.
 */
void store_req_cancel(struct store_req *req);

typedef void (*store_rcpt_cb)(const struct store_rcpt *r, const char *errstr, void *arg);
/* plans is copied. errstr is NULL on success; on failure r is NULL. */
struct store_req *store_async_rcpt_resolve(struct store_async *sa, const char *local, const char *domain,
					   uint64_t incoming_size, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
					   store_rcpt_cb cb, void *arg);

typedef void (*store_deliver_cb)(int result, const char *errstr, void *arg);
/*
 * Queues a delivery of body (ownership passes to the store) to the INBOX of
 * each address. The callback runs after the batch holding it is durable.
 */
struct store_req *store_async_deliver(struct store_async *sa, struct spool *body, const int64_t *address_ids,
				      size_t address_count, int64_t internal_date, store_deliver_cb cb,
				      void *arg);

/*
 * Like store_async_deliver, with remote recipients queued in the same
 * transaction (see store_queue.h). out and everything it points to is
 * copied; address_count may be 0.
 */
struct store_outbound;
struct store_req *store_async_submit(struct store_async *sa, struct spool *body, const int64_t *address_ids,
				     size_t address_count, const struct store_outbound *out, int64_t internal_date,
				     store_deliver_cb cb, void *arg);

/*
 * Work for the writer thread when it has had nothing else to do for a
 * quiet spell of a quarter second (the background full-text indexer). fn does one small step on the writer's
 * store and returns how much it did; 0 means nothing is left, and fn is
 * not called again until a delivery or a WRITE call has run. Deliveries and
 * WRITE calls always go first: a step must be short (tens of
 * milliseconds). Set before any work is queued; fn runs on the writer thread.
 * When fn has nothing to do the writer compacts segments (store_compact.c),
 * and it wakes up by itself for that, so fn may also be called then.
 */
typedef size_t (*store_idle_fn)(struct store *s, void *arg);
void store_async_set_idle_work(struct store_async *sa, store_idle_fn fn, void *arg);

/* ---- any store work, off the loop -------------------------------------------------- */

enum store_call_kind {
	STORE_CALL_READ,  /* runs on a reader thread, concurrently with others */
	STORE_CALL_WRITE, /* runs on the writer thread, serialised with deliveries */
};

/*
 * Runs work(store, arg) on a store thread, then done(arg) on the loop. work
 * keeps its inputs and results in arg (the caller's closure, which must
 * live until done runs or the request is cancelled; after a cancel, done
 * is still called with cancelled = true so the closure can be freed, but
 * the session that asked must not be touched). For a WRITE, every folder
 * the work reported with store_note_folder_changed is announced to its
 * watchers before done runs.
 */
typedef void (*store_work_fn)(struct store *s, void *arg);
typedef void (*store_done_fn)(void *arg, bool cancelled);
struct store_req *store_async_call(struct store_async *sa, enum store_call_kind kind, store_work_fn work,
				   store_done_fn done, void *arg);

/*
 * Folder change notification, in-process (this daemon is the only writer of
 * mailboxes). cb runs on the loop after a delivery or a WRITE call that
 * changed folder_id became durable. The IMAP and POP3 sessions that have a
 * folder selected watch it (IDLE, and untagged EXISTS/EXPUNGE/FETCH for
 * concurrent sessions). Many watchers may watch one folder; each is called
 * once per announcement. A callback may unwatch itself or any other
 * watcher (it is then not called for this announcement if not called yet);
 * one watching during a callback is called from the next announcement on.
 * Loop thread only. store_async_free frees the watchers still registered.
 */
struct store_watch;
typedef void (*store_watch_cb)(int64_t folder_id, void *arg);
struct store_watch *store_async_watch(struct store_async *sa, int64_t folder_id, store_watch_cb cb, void *arg);
void store_async_unwatch(struct store_watch *w);

#endif
