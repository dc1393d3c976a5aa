/*
 * store_async: the store's threads, and the way back to the event loop.
 *
 * Threads: N readers, each with its own struct store (its own SQLite
 * connection: WAL lets them read while the writer commits), sharing one
 * lookup queue; ONE writer with its own struct store. The writer sleeps until
 * a delivery is queued, then takes everything queued (up to
 * STORE_ASYNC_BATCH_MAX requests or STORE_ASYNC_BATCH_BYTES of bodies) and
 * makes it durable with one store_deliver_batch: while it syncs, new
 * deliveries pile up and form the next batch. Under load, batches grow by
 * themselves; idle, a lone delivery is committed at once (no timer, so no
 * added latency).
 *
 * Any other store work comes through store_async_call: READ work joins the
 * lookups on the readers, WRITE work queues for the writer, which runs one
 * WRITE between delivery batches (deliveries arriving meanwhile form the
 * next batch). The folders a WRITE or a batch reported with
 * store_note_folder_changed travel back with its completion, and the loop
 * tells their watchers before the caller's done runs.
 *
 * Watchers live in a hash table keyed by folder id (10,000 idle IMAP
 * sessions may each watch one), chained per bucket. While callbacks run,
 * unwatch only marks a watcher dead; the dead are unlinked and freed once
 * the notification is over, so a callback may unwatch itself or any other.
 *
 * Completions go onto a mutex-protected list; the first one onto an empty
 * list writes a byte to a pipe whose read end is an event in the loop, and
 * the loop-side handler runs every callback (skipping cancelled requests) and
 * frees the requests. A request is only ever touched by one side at a time:
 * the loop until it is queued, a store thread until it is completed, then the
 * loop again; `cancelled` is read and written on the loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store_async.h"
#include "store/store_mail.h"
#include "store/store_private.h"
#include "store/store_queue.h"

#define STORE_ASYNC_BATCH_MAX 256
#define STORE_ASYNC_BATCH_BYTES (64u * 1024 * 1024)
#define STORE_ASYNC_READERS_MAX 16

#define WATCH_BUCKETS_MIN 64

enum req_kind {
	REQ_RCPT,
	REQ_DELIVER,
	REQ_CALL,   /* store_async_call */
	REQ_NOTIFY, /* internal: the folders a delivery batch changed */
};

struct store_req {
	enum req_kind kind;
	bool cancelled;
	void *arg;
	store_rcpt_cb rcpt_cb;
	store_deliver_cb deliver_cb;
	int rc;
	char err[256];

	/* lookups */
	char *local;
	char *domain;
	uint64_t incoming_size;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	struct store_rcpt rcpt;

	/* deliveries */
	struct store_delivery d;
	int64_t *ids;
	struct store_outbound *out; /* submissions: a deep copy, see outbound_copy */

	/* calls */
	store_work_fn work;
	store_done_fn done;

	/* folders changed by the work, to announce on the loop */
	int64_t *changed;
	size_t nchanged;

	struct store_req *next;
};

struct req_queue {
	struct store_req *head;
	struct store_req **tail;
};

struct store_watch {
	struct store_async *sa;
	int64_t folder_id;
	store_watch_cb cb;
	void *arg;
	bool dead;                     /* unwatched during a notification */
	struct store_watch *prev, *next; /* its bucket's chain */
	struct store_watch *dead_next;
};

/* Loop thread only. */
struct watch_table {
	struct store_watch **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	unsigned notifying; /* > 0 while callbacks run: no unlinking, no resizing */
	struct store_watch *dead;
};

struct store_async {
	struct event_base *base;
	struct store *writer;
	struct store *readers[STORE_ASYNC_READERS_MAX];
	unsigned nreaders;
	pthread_t writer_thread;
	bool writer_started;
	pthread_t reader_threads[STORE_ASYNC_READERS_MAX];

	pthread_mutex_t mu; /* the two work queues, stopping, stats */
	pthread_cond_t lookup_cond;
	pthread_cond_t deliver_cond;
	struct req_queue lookups;    /* rcpt lookups and READ calls */
	struct req_queue deliveries;
	struct req_queue writes;     /* WRITE calls */
	bool stopping;
	struct store_async_stats stats;

	pthread_mutex_t done_mu;
	struct req_queue done;
	int notify_r, notify_w;
	struct event *notify_ev;

	struct watch_table watches;

	store_idle_fn idle_fn;  /* writer's background work, or NULL */
	void *idle_arg;
	bool idle_pending;      /* idle work may have something to do (under mu) */
	bool idle_wake_set;     /* idle_wake is compaction's next deadline (CLOCK_MONOTONIC) */
	struct timespec idle_wake;
	struct timespec last_work; /* CLOCK_MONOTONIC: when the writer last took real work */
};

/* The writer runs idle work only after this long without deliveries or WRITE calls. */
#define STORE_ASYNC_IDLE_QUIET_MS 250

static void timespec_add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static bool timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Each reader thread gets its own store through this. */
struct reader_arg {
	struct store_async *sa;
	struct store *s;
};

static void queue_init(struct req_queue *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void queue_push(struct req_queue *q, struct store_req *req)
{
	req->next = NULL;
	*q->tail = req;
	q->tail = &req->next;
}

static struct store_req *queue_pop(struct req_queue *q)
{
	struct store_req *req = q->head;

	if (req != NULL && (q->head = req->next) == NULL)
		q->tail = &q->head;
	return req;
}

/* ---- watchers (loop thread) ---- */

static size_t watch_bucket(const struct watch_table *t, int64_t folder_id)
{
	uint64_t h = (uint64_t)folder_id * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h ^ (h >> 29)) & (t->nbuckets - 1);
}

static void watch_link(struct watch_table *t, struct store_watch *w)
{
	struct store_watch **head = &t->buckets[watch_bucket(t, w->folder_id)];

	w->prev = NULL;
	w->next = *head;
	if (*head != NULL)
		(*head)->prev = w;
	*head = w;
}

static void watch_unlink(struct watch_table *t, struct store_watch *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		t->buckets[watch_bucket(t, w->folder_id)] = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	t->count--;
}

/* Doubles the table when chains grow past two on average. */
static void watch_grow(struct watch_table *t)
{
	struct store_watch **old = t->buckets;
	size_t nold = t->nbuckets;

	if (t->notifying > 0 || (old != NULL && t->count < 2 * nold))
		return;
	t->nbuckets = old != NULL ? nold * 2 : WATCH_BUCKETS_MIN;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	for (size_t i = 0; i < nold; i++) {
		for (struct store_watch *w = old[i], *next; w != NULL; w = next) {
			next = w->next;
			watch_link(t, w);
		}
	}
	free(old);
}

static void watch_sweep(struct watch_table *t)
{
	struct store_watch *w;

	while ((w = t->dead) != NULL) {
		t->dead = w->dead_next;
		watch_unlink(t, w);
		free(w);
	}
}

static void watchers_notify(struct store_async *sa, const int64_t *folders, size_t n)
{
	struct watch_table *t = &sa->watches;

	if (t->count == 0)
		return;
	t->notifying++;
	for (size_t i = 0; i < n; i++) {
		/* dead watchers stay linked until the sweep: w->next stays valid */
		for (struct store_watch *w = t->buckets[watch_bucket(t, folders[i])]; w != NULL; w = w->next) {
			if (!w->dead && w->folder_id == folders[i])
				w->cb(folders[i], w->arg);
		}
	}
	if (--t->notifying == 0)
		watch_sweep(t);
}

static void watch_table_free(struct watch_table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct store_watch *w = t->buckets[i], *next; w != NULL; w = next) {
			next = w->next;
			free(w);
		}
	}
	free(t->buckets);
}

struct store_watch *store_async_watch(struct store_async *sa, int64_t folder_id, store_watch_cb cb, void *arg)
{
	struct store_watch *w = xcalloc(1, sizeof(*w));

	w->sa = sa;
	w->folder_id = folder_id;
	w->cb = cb;
	w->arg = arg;
	watch_grow(&sa->watches);
	watch_link(&sa->watches, w);
	sa->watches.count++;
	return w;
}

void store_async_unwatch(struct store_watch *w)
{
	struct watch_table *t;

	if (w == NULL || w->dead)
		return;
	t = &w->sa->watches;
	if (t->notifying > 0) {
		w->dead = true;
		w->dead_next = t->dead;
		t->dead = w;
		return;
	}
	watch_unlink(t, w);
	free(w);
}

/* ---- the loop side ---- */

/* Frees an outbound_copy. */
static void outbound_free(struct store_outbound *out)
{
	if (out == NULL)
		return;
	for (size_t i = 0; i < out->rcpt_count; i++) {
		free((char *)out->rcpts[i].address);
		free((char *)out->rcpts[i].orcpt);
	}
	free((struct store_outbound_rcpt *)out->rcpts);
	free((char *)out->envelope_from);
	free((char *)out->envid);
	free((char *)out->prefix);
	free(out);
}

static void req_free(struct store_req *req)
{
	outbound_free(req->out);
	spool_free(req->d.body);
	free(req->changed);
	free(req->ids);
	free(req->local);
	free(req->domain);
	free(req);
}

static void req_run_callback(struct store_async *sa, struct store_req *req)
{
	/* watchers first: the change is durable, and done may rely on them */
	watchers_notify(sa, req->changed, req->nchanged);
	if (req->kind == REQ_CALL)
		req->done(req->arg, req->cancelled); /* even cancelled: the closure is freed there */
	if (req->cancelled || req->kind == REQ_CALL || req->kind == REQ_NOTIFY)
		return;
	if (req->kind == REQ_RCPT)
		req->rcpt_cb(req->rc == 0 ? &req->rcpt : NULL, req->rc == 0 ? NULL : req->err, req->arg);
	else
		req->deliver_cb(req->rc, req->rc == 0 ? NULL : req->err, req->arg);
}

static void completions_run(struct store_async *sa)
{
	struct store_req *list, *next;

	pthread_mutex_lock(&sa->done_mu);
	list = sa->done.head;
	queue_init(&sa->done);
	pthread_mutex_unlock(&sa->done_mu);
	for (; list != NULL; list = next) {
		next = list->next;
		req_run_callback(sa, list);
		req_free(list);
	}
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	completions_run(arg);
}

/* ---- the threads' side ---- */

static void complete(struct store_async *sa, struct store_req *req)
{
	bool was_empty;

	pthread_mutex_lock(&sa->done_mu);
	was_empty = sa->done.head == NULL;
	queue_push(&sa->done, req);
	pthread_mutex_unlock(&sa->done_mu);
	/* One byte per empty->non-empty transition; the handler takes all. A
	 * full pipe (EAGAIN) already guarantees a wake-up. */
	if (was_empty && write(sa->notify_w, "", 1) < 0 && errno != EAGAIN)
		log_error("store event=notify-failed error=\"%s\"", strerror(errno));
}

/* A call's work, and the folders it reported. */
static void call_run(struct store *s, struct store_req *req)
{
	req->work(s, req->arg);
	req->changed = store_changed_take(s, &req->nchanged);
}

static void lookup_run(struct store *s, struct store_req *req)
{
	const char *err = NULL;

	if (req->kind == REQ_CALL) {
		call_run(s, req);
		return;
	}
	req->rc = store_rcpt_resolve(s, req->local, req->domain, req->incoming_size, req->plans, &req->rcpt, &err);
	if (req->rc < 0)
		snprintf(req->err, sizeof(req->err), "%s", err != NULL ? err : "store failure");
}

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct store_async *sa = ra->sa;
	struct store_req *req;

	pthread_mutex_lock(&sa->mu);
	for (;;) {
		while (sa->lookups.head == NULL && !sa->stopping)
			pthread_cond_wait(&sa->lookup_cond, &sa->mu);
		if ((req = queue_pop(&sa->lookups)) == NULL)
			break; /* stopping, and nothing left: drained */
		pthread_mutex_unlock(&sa->mu);
		lookup_run(ra->s, req);
		complete(sa, req);
		pthread_mutex_lock(&sa->mu);
	}
	pthread_mutex_unlock(&sa->mu);
	free(ra);
	return NULL;
}

/* Takes the next batch off the queue (caller holds mu). */
static size_t batch_take(struct store_async *sa, struct store_req **batch)
{
	uint64_t bytes = 0;
	size_t n = 0;

	while (n < STORE_ASYNC_BATCH_MAX && sa->deliveries.head != NULL &&
	       (n == 0 || bytes + spool_size(sa->deliveries.head->d.body) <= STORE_ASYNC_BATCH_BYTES)) {
		batch[n] = queue_pop(&sa->deliveries);
		bytes += spool_size(batch[n]->d.body);
		n++;
	}
	return n;
}

static void batch_run(struct store_async *sa, struct store_req **batch, size_t n)
{
	struct store_delivery *d[STORE_ASYNC_BATCH_MAX];
	const char *err = NULL;

	for (size_t i = 0; i < n; i++)
		d[i] = &batch[i]->d;
	struct store_req *note;

	if (store_deliver_batch(sa->writer, d, n, &err) < 0)
		log_error("store event=batch-failed deliveries=%zu error=\"%s\"", n, err);
	/* the INBOXes the batch filled, announced first (IDLE wakes up sooner) */
	note = xcalloc(1, sizeof(*note));
	note->kind = REQ_NOTIFY;
	note->changed = store_changed_take(sa->writer, &note->nchanged);
	if (note->nchanged > 0)
		complete(sa, note);
	else
		req_free(note);
	for (size_t i = 0; i < n; i++) {
		batch[i]->rc = batch[i]->d.result;
		snprintf(batch[i]->err, sizeof(batch[i]->err), "%s", batch[i]->d.error);
		/* done with the body: unlink its spool file here, not on the loop */
		spool_free(batch[i]->d.body);
		batch[i]->d.body = NULL;
		complete(sa, batch[i]);
	}
}

/*
 * The writer's background work, one step: the caller's (the full-text
 * indexer) first, then segment compaction (store_compact.c). 0 when neither
 * had anything to do; *wait_s_r is then when compaction may have (-1: not
 * by itself).
 */
static size_t idle_run(struct store_async *sa, int64_t *wait_s_r)
{
	const char *err = NULL;
	size_t done = 0;

	*wait_s_r = -1;
	if (sa->idle_fn != NULL && (done = sa->idle_fn(sa->writer, sa->idle_arg)) > 0)
		return done;
	if (store_compact_step(sa->writer, STORE_COMPACT_STEP_BYTES, &done, &err) < 0) {
		log_warn("store event=compact-failed error=\"%s\"", err);
		done = 0;
	}
	if (done == 0)
		*wait_s_r = store_compact_wait_s(sa->writer);
	return done;
}

/* Nothing to do until work arrives, or until compaction's next deadline (under mu). */
static void idle_wait(struct store_async *sa)
{
	if (!sa->idle_wake_set) {
		pthread_cond_wait(&sa->deliver_cond, &sa->mu);
		return;
	}
	if (pthread_cond_timedwait(&sa->deliver_cond, &sa->mu, &sa->idle_wake) == ETIMEDOUT) {
		sa->idle_wake_set = false;
		sa->idle_pending = true;
	}
}

static void *writer_main(void *arg)
{
	struct store_async *sa = arg;
	struct store_req *batch[STORE_ASYNC_BATCH_MAX], *call;
	size_t n;

	pthread_mutex_lock(&sa->mu);
	for (;;) {
		while (sa->deliveries.head == NULL && sa->writes.head == NULL && !sa->stopping) {
			if (!sa->idle_pending) {
				idle_wait(sa);
				continue;
			}
			/* Idle work only after a quiet spell: a steady stream of mail has the CPU first. */
			struct timespec now, until = sa->last_work;
			clock_gettime(CLOCK_MONOTONIC, &now);
			timespec_add_ms(&until, STORE_ASYNC_IDLE_QUIET_MS);
			if (timespec_before(&now, &until)) {
				pthread_cond_timedwait(&sa->deliver_cond, &sa->mu, &until);
				continue;
			}
			pthread_mutex_unlock(&sa->mu);
			int64_t wait_s;
			size_t done = idle_run(sa, &wait_s);
			pthread_mutex_lock(&sa->mu);
			if (done == 0) {
				sa->idle_pending = false;
				sa->idle_wake_set = wait_s >= 0;
				clock_gettime(CLOCK_MONOTONIC, &sa->idle_wake);
				timespec_add_ms(&sa->idle_wake, wait_s >= 0 ? (long)wait_s * 1000 : 0);
			}
		}
		sa->idle_pending = true; /* what comes now may give the idle work something to do */
		clock_gettime(CLOCK_MONOTONIC, &sa->last_work);
		/* one batch, then one WRITE: neither starves the other */
		n = batch_take(sa, batch);
		call = queue_pop(&sa->writes);
		if (n == 0 && call == NULL)
			break; /* stopping, and nothing left: drained */
		if (n > 0) {
			sa->stats.batches++;
			sa->stats.deliveries += n;
			if (n > sa->stats.largest_batch)
				sa->stats.largest_batch = n;
		}
		pthread_mutex_unlock(&sa->mu);
		if (n > 0)
			batch_run(sa, batch, n);
		if (call != NULL) {
			call_run(sa->writer, call);
			complete(sa, call);
		}
		pthread_mutex_lock(&sa->mu);
	}
	pthread_mutex_unlock(&sa->mu);
	return NULL;
}

/* ---- setup and teardown ---- */

void store_async_set_idle_work(struct store_async *sa, store_idle_fn fn, void *arg)
{
	pthread_mutex_lock(&sa->mu);
	sa->idle_fn = fn;
	sa->idle_arg = arg;
	sa->idle_pending = true; /* a backlog from before this start */
	pthread_cond_signal(&sa->deliver_cond);
	pthread_mutex_unlock(&sa->mu);
}

static int async_open_stores(struct store_async *sa, const char *data_dir, const char **errstr_r)
{
	/* the writer first: it runs any migration before the readers look */
	if (store_open(data_dir, &sa->writer, errstr_r) < 0)
		return -1;
	for (unsigned i = 0; i < sa->nreaders; i++) {
		if (store_open(data_dir, &sa->readers[i], errstr_r) < 0)
			return -1;
		/*
		 * Readers write only caches (a body's parsed MIME structure) that
		 * nobody is promised and that are recomputed if lost, so their
		 * commits need not wait for an fsync. Every acknowledged change goes
		 * through the writer, whose connection keeps synchronous=FULL.
		 */
		if (store_exec(sa->readers[i], "PRAGMA synchronous=NORMAL", errstr_r) < 0)
			return -1;
	}
	return 0;
}

static int async_start_threads(struct store_async *sa, const char **errstr_r)
{
	static _Thread_local char err[128];
	int rc = pthread_create(&sa->writer_thread, NULL, writer_main, sa);

	sa->writer_started = rc == 0;
	if (rc != 0)
		sa->nreaders = 0;
	for (unsigned i = 0; rc == 0 && i < sa->nreaders; i++) {
		struct reader_arg *ra = xmalloc(sizeof(*ra));

		ra->sa = sa;
		ra->s = sa->readers[i];
		if ((rc = pthread_create(&sa->reader_threads[i], NULL, reader_main, ra)) != 0) {
			free(ra);
			/* the threads already started must be stopped by the caller */
			sa->nreaders = i;
		}
	}
	if (rc != 0) {
		snprintf(err, sizeof(err), "cannot start the store's threads: %s", strerror(rc));
		*errstr_r = err;
		return -1;
	}
	return 0;
}

static void async_stop_threads(struct store_async *sa)
{
	pthread_mutex_lock(&sa->mu);
	sa->stopping = true;
	pthread_cond_broadcast(&sa->lookup_cond);
	pthread_cond_broadcast(&sa->deliver_cond);
	pthread_mutex_unlock(&sa->mu);
	if (sa->writer_started)
		pthread_join(sa->writer_thread, NULL);
	for (unsigned i = 0; i < sa->nreaders; i++)
		pthread_join(sa->reader_threads[i], NULL);
}

static void async_release(struct store_async *sa)
{
	if (sa->notify_ev != NULL)
		event_free(sa->notify_ev);
	if (sa->notify_r >= 0)
		close(sa->notify_r);
	if (sa->notify_w >= 0)
		close(sa->notify_w);
	for (unsigned i = 0; i < STORE_ASYNC_READERS_MAX; i++)
		store_close(sa->readers[i]);
	watch_table_free(&sa->watches);
	store_close(sa->writer);
	pthread_mutex_destroy(&sa->mu);
	pthread_mutex_destroy(&sa->done_mu);
	pthread_cond_destroy(&sa->lookup_cond);
	pthread_cond_destroy(&sa->deliver_cond);
	free(sa);
}

static struct store_async *async_alloc(struct event_base *base, unsigned reader_threads)
{
	struct store_async *sa = xcalloc(1, sizeof(*sa));

	sa->base = base;
	sa->nreaders = reader_threads == 0 ? 1 : reader_threads;
	if (sa->nreaders > STORE_ASYNC_READERS_MAX)
		sa->nreaders = STORE_ASYNC_READERS_MAX;
	pthread_mutex_init(&sa->mu, NULL);
	pthread_mutex_init(&sa->done_mu, NULL);
	pthread_cond_init(&sa->lookup_cond, NULL);
	pthread_condattr_t monotonic;
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC); /* the writer's timed waits */
	pthread_cond_init(&sa->deliver_cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	queue_init(&sa->lookups);
	queue_init(&sa->deliveries);
	queue_init(&sa->writes);
	queue_init(&sa->done);
	sa->notify_r = sa->notify_w = -1;
	return sa;
}

struct store_async *store_async_new(struct event_base *base, const char *data_dir, unsigned reader_threads,
				    const char **errstr_r)
{
	static _Thread_local char err[600];
	struct store_async *sa = async_alloc(base, reader_threads);
	int fds[2];

	if (async_open_stores(sa, data_dir, errstr_r) < 0)
		goto fail;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		snprintf(err, sizeof(err), "cannot create the store's notification pipe: %s", strerror(errno));
		*errstr_r = err;
		goto fail;
	}
	sa->notify_r = fds[0];
	sa->notify_w = fds[1];
	sa->notify_ev = event_new(base, sa->notify_r, EV_READ | EV_PERSIST, on_notify, sa);
	if (sa->notify_ev == NULL || event_add(sa->notify_ev, NULL) < 0) {
		*errstr_r = "cannot register the store's notification event";
		goto fail;
	}
	if (async_start_threads(sa, errstr_r) < 0) {
		async_stop_threads(sa);
		goto fail;
	}
	return sa;
fail:
	/* errstr may point into a store we are about to close */
	if (*errstr_r != err) {
		snprintf(err, sizeof(err), "%s", *errstr_r);
		*errstr_r = err;
	}
	async_release(sa);
	return NULL;
}

void store_async_free(struct store_async *sa)
{
	if (sa == NULL)
		return;
	/* the threads drain their queues before they exit... */
	async_stop_threads(sa);
	/* ...and their completions run here, on the loop thread */
	completions_run(sa);
	log_info("store event=stopped batches=%llu deliveries=%llu largest_batch=%llu",
		 (unsigned long long)sa->stats.batches, (unsigned long long)sa->stats.deliveries,
		 (unsigned long long)sa->stats.largest_batch);
	async_release(sa);
}

void store_async_stats(struct store_async *sa, struct store_async_stats *stats_r)
{
	pthread_mutex_lock(&sa->mu);
	*stats_r = sa->stats;
	pthread_mutex_unlock(&sa->mu);
}

/* ---- requests ---- */

void store_req_cancel(struct store_req *req)
{
	if (req != NULL)
		req->cancelled = true;
}

struct store_req *store_async_rcpt_resolve(struct store_async *sa, const char *local, const char *domain,
					   uint64_t incoming_size, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
					   store_rcpt_cb cb, void *arg)
{
	struct store_req *req = xcalloc(1, sizeof(*req));

	req->kind = REQ_RCPT;
	req->rcpt_cb = cb;
	req->arg = arg;
	req->local = xstrdup(local);
	req->domain = xstrdup(domain);
	req->incoming_size = incoming_size;
	memcpy(req->plans, plans, sizeof(req->plans));
	pthread_mutex_lock(&sa->mu);
	ASSERT(!sa->stopping);
	queue_push(&sa->lookups, req);
	pthread_cond_signal(&sa->lookup_cond);
	pthread_mutex_unlock(&sa->mu);
	return req;
}

struct store_req *store_async_deliver(struct store_async *sa, struct spool *body, const int64_t *address_ids,
				      size_t address_count, int64_t internal_date, store_deliver_cb cb,
				      void *arg)
{
	return store_async_submit(sa, body, address_ids, address_count, NULL, internal_date, cb, arg);
}

static char *strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* The caller's description and everything it points to, owned by the request (NULL: inbound). */
static struct store_outbound *outbound_copy(const struct store_outbound *src)
{
	struct store_outbound *out;
	struct store_outbound_rcpt *rcpts;

	if (src == NULL)
		return NULL;
	out = xcalloc(1, sizeof(*out));
	rcpts = xcalloc(src->rcpt_count ? src->rcpt_count : 1, sizeof(*rcpts));
	*out = *src;
	out->envelope_from = strdup_or_null(src->envelope_from);
	out->envid = strdup_or_null(src->envid);
	out->prefix = strdup_or_null(src->prefix);
	for (size_t i = 0; i < src->rcpt_count; i++) {
		rcpts[i].address = strdup_or_null(src->rcpts[i].address);
		rcpts[i].notify = src->rcpts[i].notify;
		rcpts[i].orcpt = strdup_or_null(src->rcpts[i].orcpt);
	}
	out->rcpts = rcpts;
	return out;
}

struct store_req *store_async_submit(struct store_async *sa, struct spool *body, const int64_t *address_ids,
				     size_t address_count, const struct store_outbound *out, int64_t internal_date,
				     store_deliver_cb cb, void *arg)
{
	struct store_req *req = xcalloc(1, sizeof(*req));

	req->kind = REQ_DELIVER;
	req->deliver_cb = cb;
	req->arg = arg;
	req->ids = xmalloc((address_count ? address_count : 1) * sizeof(*req->ids));
	if (address_count > 0)
		memcpy(req->ids, address_ids, address_count * sizeof(*req->ids));
	req->out = outbound_copy(out);
	req->d.body = body;
	req->d.address_ids = req->ids;
	req->d.address_count = address_count;
	req->d.outbound = req->out;
	req->d.internal_date = internal_date;
	pthread_mutex_lock(&sa->mu);
	ASSERT(!sa->stopping);
	queue_push(&sa->deliveries, req);
	pthread_cond_signal(&sa->deliver_cond);
	pthread_mutex_unlock(&sa->mu);
	return req;
}

struct store_req *store_async_call(struct store_async *sa, enum store_call_kind kind, store_work_fn work,
				   store_done_fn done, void *arg)
{
	struct store_req *req = xcalloc(1, sizeof(*req));

	req->kind = REQ_CALL;
	req->work = work;
	req->done = done;
	req->arg = arg;
	pthread_mutex_lock(&sa->mu);
	ASSERT(!sa->stopping);
	if (kind == STORE_CALL_READ) {
		queue_push(&sa->lookups, req);
		pthread_cond_signal(&sa->lookup_cond);
	} else {
		queue_push(&sa->writes, req);
		pthread_cond_signal(&sa->deliver_cond);
	}
	pthread_mutex_unlock(&sa->mu);
	return req;
}
