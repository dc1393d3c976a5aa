/*
 * queue: the runner's life cycle and its scheduler.
 *
 * A timer fires every scan_interval (or at once after queue_kick or when a
 * connection slot frees up). If a slot is free, a READ call lists the due
 * entries (store_queue_due) with their pending recipients; back on the loop
 * the scheduler claims entries while slots remain, skipping entries already
 * claimed and entries whose every recipient domain is at its per_domain
 * limit (they stay in the store for a later scan rather than occupying
 * memory). A claimed entry stays in q->entries until its attempt is
 * recorded, so it is never attempted twice at once.
 *
 * Memory: a claimed entry holds its whole message (see queue_deliver.c)
 * until its notices are built, and at most `concurrency` entries are being
 * attempted, so the queue holds at most concurrency x (largest message size
 * + QUEUE_BODY_SLACK) of bodies. Entries whose attempt is over wait for
 * their record (group-committed, queue_bounce.c) without their body; at
 * most QUEUE_RECORD_BATCH more than `concurrency` are claimed in all, so a
 * slow store holds the queue back instead of letting results pile up.
 */
#include "queue/queue_private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xalloc.h"

/* ---- domains' connection counts ---------------------------------------------------- */

struct queue_domain_count *queue_domain(struct queue *q, const char *domain, bool create)
{
	struct queue_domain_count *dc;

	for (dc = q->domains; dc != NULL; dc = dc->next) {
		if (strcasecmp(dc->domain, domain) == 0)
			return dc;
	}
	if (!create)
		return NULL;
	dc = xcalloc(1, sizeof(*dc));
	dc->domain = xstrdup(domain);
	dc->next = q->domains;
	q->domains = dc;
	return dc;
}

uint64_t queue_body_limit(const struct config *cfg)
{
	uint64_t max = cfg->max_message_size;

	for (size_t i = 0; i < CONFIG_PLAN_COUNT; i++) {
		if (cfg->plans[i].message_size > max)
			max = cfg->plans[i].message_size;
	}
	return max + QUEUE_BODY_SLACK + STORE_QUEUE_PREFIX_MAX;
}

/* ---- entries ------------------------------------------------------------------------ */

void queue_entry_unlink(struct queue_entry *qe)
{
	struct queue *q = qe->q;

	if (qe->prev != NULL)
		qe->prev->next = qe->next;
	else if (q->entries == qe)
		q->entries = qe->next;
	if (qe->next != NULL)
		qe->next->prev = qe->prev;
	qe->prev = qe->next = NULL;
	q->nentries--;
}

void queue_entry_free(struct queue_entry *qe)
{
	for (size_t i = 0; i < qe->nrcpts; i++) {
		struct queue_rcpt *r = &qe->rcpts[i];
		free(r->address);
		free(r->orcpt);
		free(r->last_reply);
		free(r->reply);
		free(r->remote_mta);
	}
	for (size_t i = 0; i < qe->njobs; i++) {
		free(qe->jobs[i].domain);
		free(qe->jobs[i].rcpt_idx);
	}
	free(qe->jobs);
	free(qe->rcpts);
	free(qe->msg);
	free(qe->notices);
	free(qe);
}

/* ---- the scan ----------------------------------------------------------------------- */

struct scan_entry {
	struct store_queue_entry e;
	struct queue_rcpt *rcpts;
	size_t nrcpts, cap;
};

struct scan {
	struct queue *q;
	int64_t now;
	size_t max;
	int64_t *skip;             /* entries already claimed */
	size_t nskip;
	struct scan_entry *entries;
	size_t n;
	int rc;
	char err[256];
};

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		for (size_t j = 0; j < sc->entries[i].nrcpts; j++) {
			free(sc->entries[i].rcpts[j].address);
			free(sc->entries[i].rcpts[j].orcpt);
			free(sc->entries[i].rcpts[j].last_reply);
		}
		free(sc->entries[i].rcpts);
	}
	free(sc->entries);
	free(sc->skip);
	free(sc);
}

static void scan_entry_cb(const struct store_queue_entry *e, void *arg)
{
	struct scan *sc = arg;

	for (size_t i = 0; i < sc->nskip; i++) {
		if (sc->skip[i] == e->id)
			return;
	}
	sc->entries = xrealloc(sc->entries, (sc->n + 1) * sizeof(*sc->entries));
	memset(&sc->entries[sc->n], 0, sizeof(sc->entries[sc->n]));
	sc->entries[sc->n++].e = *e;
}

static void scan_rcpt_cb(const struct store_queue_rcpt *r, void *arg)
{
	struct scan_entry *se = arg;
	struct queue_rcpt *qr;

	if (r->status != STORE_QRCPT_PENDING)
		return;
	if (se->nrcpts == se->cap) {
		se->cap = se->cap == 0 ? 8 : se->cap * 2;
		se->rcpts = xrealloc(se->rcpts, se->cap * sizeof(*se->rcpts));
	}
	qr = &se->rcpts[se->nrcpts++];
	memset(qr, 0, sizeof(*qr));
	qr->id = r->id;
	qr->address = xstrdup(r->address);
	qr->orcpt = r->orcpt[0] != '\0' ? xstrdup(r->orcpt) : NULL;
	qr->notify = r->notify;
	qr->last_reply = r->last_reply[0] != '\0' ? xstrdup(r->last_reply) : NULL;
	qr->status = STORE_QRCPT_PENDING;
}

/* Reader thread: the due entries (minus those claimed) and their pending recipients. */
static void scan_work(struct store *s, void *arg)
{
	struct scan *sc = arg;
	const char *err = NULL;

	sc->rc = store_queue_due(s, sc->now, sc->max + sc->nskip, scan_entry_cb, sc, &err);
	for (size_t i = 0; sc->rc == 0 && i < sc->n; i++)
		sc->rc = store_queue_recipients(s, sc->entries[i].e.id, scan_rcpt_cb, &sc->entries[i], &err);
	if (sc->rc < 0)
		snprintf(sc->err, sizeof(sc->err), "%s", err != NULL ? err : "store failure");
}

/* Could any of the entry's domains take another connection? */
static bool entry_has_room(struct queue *q, const struct scan_entry *se)
{
	for (size_t i = 0; i < se->nrcpts; i++) {
		struct queue_domain_count *dc = queue_domain(q, queue_domain_of(se->rcpts[i].address), false);
		if (dc == NULL || dc->jobs < q->cfg->queue_per_domain)
			return true;
	}
	return false;
}

static void claim(struct queue *q, struct scan_entry *se)
{
	struct queue_entry *qe = xcalloc(1, sizeof(*qe));

	qe->q = q;
	qe->cfg = q->cfg;
	qe->e = se->e;
	qe->rcpts = se->rcpts;
	qe->nrcpts = se->nrcpts;
	se->rcpts = NULL;
	se->nrcpts = 0;
	qe->next = q->entries;
	if (q->entries != NULL)
		q->entries->prev = qe;
	q->entries = qe;
	q->nentries++;
	q->jobs++; /* the body load holds a slot until the jobs take over */
	queue_deliver_start(qe);
}

static void scan_done(void *arg, bool cancelled)
{
	struct scan *sc = arg;
	struct queue *q = sc->q;

	if (cancelled) {
		scan_free(sc);
		return;
	}
	q->scan_req = NULL;
	q->scanning = false;
	if (sc->rc < 0)
		log_error("queue event=scan-failed error=\"%s\"", sc->err);
	for (size_t i = 0; i < sc->n && !q->shutting_down && q->jobs < q->cfg->queue_concurrency; i++) {
		if (sc->entries[i].nrcpts > 0 && entry_has_room(q, &sc->entries[i]))
			claim(q, &sc->entries[i]);
	}
	scan_free(sc);
	if (q->rescan)
		queue_schedule_scan(q);
}

static void scan_start(struct queue *q)
{
	struct scan *sc;
	size_t i = 0;

	if (q->shutting_down || q->jobs >= q->cfg->queue_concurrency)
		return; /* a freed slot schedules the next scan */
	if (q->nentries >= q->cfg->queue_concurrency + QUEUE_RECORD_BATCH)
		return; /* results not yet recorded are bounded; a record's end schedules the next scan */
	if (q->scanning) {
		q->rescan = true;
		return;
	}
	q->scanning = true;
	q->rescan = false;
	sc = xcalloc(1, sizeof(*sc));
	sc->q = q;
	sc->now = (int64_t)time(NULL);
	sc->max = (size_t)(q->cfg->queue_concurrency - q->jobs) * QUEUE_DUE_FACTOR;
	sc->skip = xcalloc(q->nentries + 1, sizeof(*sc->skip));
	for (struct queue_entry *qe = q->entries; qe != NULL; qe = qe->next)
		sc->skip[i++] = qe->e.id;
	sc->nskip = i;
	q->scan_req = store_async_call(q->store, STORE_CALL_READ, scan_work, scan_done, sc);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	struct timeval tv = { (time_t)q->cfg->queue_scan_interval_s, 0 };

	if (q->shutting_down)
		return;
	evtimer_add(q->timer, &tv);
	scan_start(q);
}

/* A scan soon (from the loop, never inside the caller's stack). */
void queue_schedule_scan(struct queue *q)
{
	struct timeval tv = { 0, 0 };

	if (q->shutting_down)
		return;
	if (q->scanning) {
		q->rescan = true;
		return;
	}
	evtimer_add(q->timer, &tv);
}

/* ---- the interface ------------------------------------------------------------------ */

struct queue *queue_new(struct event_base *base, struct store_async *store, struct dns *dns, SSL_CTX *tls,
			const struct config *cfg)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	q->base = base;
	q->store = store;
	q->dns = dns;
	q->tls = tls;
	q->cfg = cfg;
	q->timer = evtimer_new(base, on_timer, q);
	queue_schedule_scan(q);
	log_info("queue event=started concurrency=%u per_domain=%u transports=%zu", cfg->queue_concurrency,
		 cfg->queue_per_domain, cfg->transport_count);
	return q;
}

void queue_set_config(struct queue *q, const struct config *cfg)
{
	q->cfg = cfg;
	queue_conn_drop_all(q); /* opened with the old HELO name and routes */
}

void queue_kick(struct queue *q)
{
	queue_schedule_scan(q);
}

void queue_shutdown(struct queue *q)
{
	q->shutting_down = true;
	evtimer_del(q->timer);
	queue_conn_drop_all(q); /* QUIT while the loop still runs to flush it */
}

size_t queue_active_count(const struct queue *q)
{
	return q->nentries;
}

void queue_free(struct queue *q)
{
	struct queue_domain_count *dc, *dnext;
	size_t abandoned, recorded;

	if (q == NULL)
		return;
	abandoned = q->nentries;
	if (q->scan_req != NULL)
		store_req_cancel(q->scan_req);
	/* what is known is recorded (one WRITE, drained by store_async_free)... */
	recorded = queue_bounce_shutdown(q);
	abandoned -= recorded;
	if (q->rec_req != NULL)
		store_req_cancel(q->rec_req); /* ...like the record WRITE already running */
	/*
	 * At-least-once: the recipients of attempts cut off are still pending
	 * in the store and are tried again after the restart (a server that
	 * already took the message may get it twice).
	 */
	while (q->entries != NULL) {
		struct queue_entry *qe = q->entries;
		queue_deliver_cancel(qe);
		queue_entry_unlink(qe);
		queue_entry_free(qe);
	}
	if (abandoned > 0 || recorded > 0)
		log_info("queue event=stopped abandoned=%zu recorded=%zu note=\"the recipients of abandoned attempts stay "
			 "pending and are retried\"", abandoned, recorded);
	for (dc = q->domains; dc != NULL; dc = dnext) {
		dnext = dc->next;
		free(dc->domain);
		free(dc);
	}
	queue_conn_drop_all(q);
	event_free(q->timer);
	free(q);
}
