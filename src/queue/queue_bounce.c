/*
 * queue_bounce: the end of an attempt. Decides the entry's fate (expired?
 * delay notice owed? next attempt when?), sends the notices the recipients'
 * NOTIFY allows, then records the attempt in one WRITE call.
 *
 * Notices (RFC 3464, built by dsn_build) come from the null sender, so a
 * notice never causes a notice (RFC 5321 4.5.5): an entry whose sender is
 * "" gets none, whatever happens to it. A notice goes to the sender's INBOX
 * when the sender is one of our addresses (no network, no queue), else into
 * the queue for the sender's server. A notice for a no-reply address, or for
 * an address of a hosted domain that no longer exists, is dropped and logged.
 * A copy an alias forwarded left with our SRS sender: its notices go to the
 * original sender behind it (queue_deliver.c verified it), or nowhere.
 *
 * Order: the notices are made durable first, then the attempt is recorded.
 * A crash in between repeats the attempt (and its notices) after the
 * restart; the other order could lose a notice. (At shutdown, an attempt
 * whose notices are still queued to the writer is recorded after them in
 * the writer's order, see queue_bounce_shutdown.)
 */
#include "queue/queue_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static const char *const action_names[] = { "failure", "delay", "success" };

/* Who the notices are for: the sender, or the original sender behind our SRS sender. */
static const char *notice_to(const struct queue_entry *qe)
{
	return qe->notice_to[0] != '\0' ? qe->notice_to : qe->e.envelope_from;
}

int queue_bounce_build(const struct queue_entry *qe, const struct dsn_recipient *rcpts, size_t n, int64_t now,
		       struct buf *out, const char **errstr_r)
{
	struct dsn_report rep = {
		.reporting_mta = qe->cfg->hostname,
		.sender = notice_to(qe),
		.envelope_id = qe->e.envid[0] != '\0' ? qe->e.envid : NULL,
		.arrival = (time_t)qe->e.created_at,
		.now = (time_t)now,
		.delay_s = qe->cfg->queue_delay_warning_s,
		.lifetime_s = qe->cfg->queue_max_lifetime_s,
		.rcpts = rcpts,
		.rcpt_count = n,
		.original = slice_make(qe->msg != NULL ? qe->msg : "", qe->msg_len),
		.return_full = qe->e.ret == STORE_RET_FULL,
	};

	return dsn_build(&rep, out, errstr_r);
}

/* ---- recording ----------------------------------------------------------------------------- */

/*
 * A record WRITE: the attempts of several entries (store_queue_record_many),
 * one commit for all. The store stays ahead of the network this way: each
 * attempt's own WRITE (one sync each, alternating with delivery batches on
 * the writer) fell behind under load, and the backlog was lost at a
 * shutdown that did not wait for it.
 */
struct record {
	struct queue *q;             /* touched only when not cancelled */
	struct queue_entry **qes;    /* the entries, in attempt order (none at shutdown) */
	struct store_queue_attempt *a;
	size_t n;
	int rc;
	char err[256];
};

static void record_work(struct store *s, void *arg)
{
	struct record *rec = arg;
	const char *err = NULL;

	rec->rc = store_queue_record_many(s, rec->a, rec->n, &err);
	if (rec->rc < 0)
		snprintf(rec->err, sizeof(rec->err), "%s", err != NULL ? err : "store failure");
}

static void record_free(struct record *rec)
{
	for (size_t i = 0; i < rec->n; i++) {
		struct store_queue_result *res = (struct store_queue_result *)rec->a[i].results;
		for (size_t j = 0; j < rec->a[i].count; j++) {
			free((char *)res[j].reply);
			free((char *)res[j].remote_mta);
		}
		free(res);
	}
	free(rec->a);
	free(rec->qes);
	free(rec);
}

/* The attempt of qe as the store takes it; delivered_only: just the delivered recipients. */
static void attempt_build(const struct queue_entry *qe, bool delivered_only, struct store_queue_attempt *a)
{
	struct store_queue_result *res = xcalloc(qe->nrcpts > 0 ? qe->nrcpts : 1, sizeof(*res));
	size_t n = 0;

	memset(a, 0, sizeof(*a));
	a->id = qe->e.id;
	a->now = qe->fin_now;
	a->next_attempt = qe->fin_next;
	a->delay_notified = qe->fin_delay_notified;
	for (size_t i = 0; i < qe->nrcpts; i++) {
		const struct queue_rcpt *r = &qe->rcpts[i];
		if (delivered_only && r->status != STORE_QRCPT_DELIVERED)
			continue;
		res[n].rcpt_id = r->id;
		res[n].status = r->status;
		res[n].reply = xstrdup(r->reply != NULL ? r->reply : "");
		res[n].remote_mta = r->remote_mta != NULL ? xstrdup(r->remote_mta) : NULL;
		n++;
	}
	a->results = res;
	a->count = n;
}

static void record_pump(struct queue *q);

static void record_done(void *arg, bool cancelled)
{
	struct record *rec = arg;
	struct queue *q = rec->q;
	bool kick = false;

	if (cancelled) {
		record_free(rec);
		return;
	}
	q->rec_req = NULL;
	if (rec->rc < 0)
		log_error("queue event=record-failed entries=%zu error=\"%s\" (the attempts will be repeated)", rec->n,
			  rec->err);
	for (size_t i = 0; i < rec->n; i++) {
		struct queue_entry *qe = rec->qes[i];
		if (rec->rc == 0 && rec->a[i].rc < 0)
			log_error("queue event=record-failed id=%lld error=\"%s\" (the attempt will be repeated)",
				  (long long)qe->e.id, rec->a[i].err);
		kick |= qe->remote_notice;
		queue_entry_unlink(qe);
		queue_entry_free(qe);
	}
	record_free(rec);
	record_pump(q);
	if (kick)
		queue_kick(q);
	else
		queue_schedule_scan(q); /* fewer entries held: the scan may claim again */
}

/* One WRITE for the attempts waiting, unless one is running (its end starts the next). */
static void record_pump(struct queue *q)
{
	struct record *rec;

	if (q->rec_req != NULL || q->rec_head == NULL)
		return;
	rec = xcalloc(1, sizeof(*rec));
	rec->q = q;
	rec->qes = xcalloc(QUEUE_RECORD_BATCH, sizeof(*rec->qes));
	rec->a = xcalloc(QUEUE_RECORD_BATCH, sizeof(*rec->a));
	while (q->rec_head != NULL && rec->n < QUEUE_RECORD_BATCH) {
		struct queue_entry *qe = q->rec_head;
		q->rec_head = qe->rec_next;
		qe->rec_next = NULL;
		qe->rec = QUEUE_REC_WRITING;
		rec->qes[rec->n] = qe;
		attempt_build(qe, false, &rec->a[rec->n]);
		rec->n++;
	}
	if (q->rec_head == NULL)
		q->rec_tail = NULL;
	q->rec_req = store_async_call(q->store, STORE_CALL_WRITE, record_work, record_done, rec);
}

static void record(struct queue_entry *qe)
{
	struct queue *q = qe->q;
	size_t pending = 0;

	for (size_t i = 0; i < qe->nrcpts; i++)
		pending += qe->rcpts[i].status == STORE_QRCPT_PENDING;
	if (pending > 0)
		log_info("queue event=deferred-entry id=%lld pending=%zu next_attempt_in=%llds", (long long)qe->e.id,
			 pending, (long long)(qe->fin_next - qe->fin_now));
	/* the notices are built: the body is no longer needed while the record waits */
	free(qe->msg);
	qe->msg = NULL;
	qe->msg_len = 0;
	qe->rec = QUEUE_REC_WAITING;
	if (q->rec_tail != NULL)
		q->rec_tail->rec_next = qe;
	else
		q->rec_head = qe;
	q->rec_tail = qe;
	record_pump(q);
}

/* Does this entry hold an outcome the store must not lose (a delivered recipient)? */
static bool has_delivered(const struct queue_entry *qe)
{
	for (size_t i = 0; i < qe->nrcpts; i++) {
		if (qe->rcpts[i].status == STORE_QRCPT_DELIVERED)
			return true;
	}
	return false;
}

size_t queue_bounce_shutdown(struct queue *q)
{
	struct record *rec = xcalloc(1, sizeof(*rec));
	int64_t now = (int64_t)time(NULL);
	size_t partial = 0, complete = 0;

	rec->q = q;
	rec->a = xcalloc(q->nentries > 0 ? q->nentries : 1, sizeof(*rec->a));
	for (struct queue_entry *qe = q->entries; qe != NULL; qe = qe->next) {
		if (qe->rec == QUEUE_REC_WRITING) {
			complete++; /* in the writer's queue already: it runs before the store stops */
			continue;
		}
		if (qe->rec == QUEUE_REC_WAITING || (qe->jobs_left == 0 && qe->notices_left > 0)) {
			/* complete; its notices, if any, were queued to the writer before this */
			attempt_build(qe, false, &rec->a[rec->n++]);
			complete++;
		} else if (qe->njobs > 0 && has_delivered(qe)) {
			/* some domains done, others cut off: keep the deliveries, retry the rest at once */
			qe->fin_now = qe->fin_next = now;
			qe->fin_delay_notified = qe->e.delay_notified;
			attempt_build(qe, true, &rec->a[rec->n++]);
			partial++;
		}
	}
	if (rec->n == 0) {
		record_free(rec);
		return complete;
	}
	log_info("queue event=shutdown-record attempts=%zu partial=%zu", rec->n, partial);
	/* nobody waits for the answer: cancelled at once, the work still runs (store_async.h) */
	store_req_cancel(store_async_call(q->store, STORE_CALL_WRITE, record_work, record_done, rec));
	return complete;
}

/* ---- notices --------------------------------------------------------------------------------- */

static void notice_done(int result, const char *errstr, void *arg)
{
	struct queue_notice *qn = arg;
	struct queue_entry *qe = qn->qe;

	qn->req = NULL;
	if (result < 0)
		log_error("queue event=notice-failed id=%lld sender=%s error=\"%s\"", (long long)qe->e.id,
			  notice_to(qe), errstr != NULL ? errstr : "store failure");
	if (--qe->notices_left == 0)
		record(qe);
}

/* Hands one built notice to the store: the sender's INBOX, or the queue. */
static void notice_submit(struct queue_entry *qe, const struct buf *msg, enum dsn_action action)
{
	static const char return_path[] = "Return-Path: <>\r\n";
	struct spool *sp = spool_new(qe->cfg->data_dir);
	struct queue_notice *qn = &qe->notices[qe->notice_count];
	const char *err = NULL;
	bool local = qe->sender_id != 0;
	struct store_outbound_rcpt to = { notice_to(qe), STORE_NOTIFY_NEVER, NULL };
	struct store_outbound out = { .envelope_from = "", .rcpts = &to, .rcpt_count = 1, .ret = STORE_RET_UNSET };

	/* a final delivery adds Return-Path (RFC 5321 4.4); a remote server adds its own */
	if ((local && spool_write(sp, return_path, sizeof(return_path) - 1, &err) < 0) ||
	    spool_write(sp, msg->data, msg->len, &err) < 0) {
		log_error("queue event=notice-failed id=%lld error=\"%s\"", (long long)qe->e.id, err);
		spool_free(sp);
		return;
	}
	qe->notice_count++;
	qe->notices_left++;
	qe->remote_notice |= !local;
	qn->qe = qe;
	qn->req = store_async_submit(qe->q->store, sp, local ? &qe->sender_id : NULL, local ? 1 : 0,
				     local ? NULL : &out, qe->fin_now, notice_done, qn);
	log_info("queue event=notice kind=%s id=%lld to=%s via=%s", action_names[action], (long long)qe->e.id,
		 notice_to(qe), local ? "inbox" : "queue");
}

static bool notice_matches(const struct queue_rcpt *r, enum dsn_action action)
{
	switch (action) {
	case DSN_ACTION_FAILED:
		return r->failed_now;
	case DSN_ACTION_DELAYED:
		return r->status == STORE_QRCPT_PENDING;
	case DSN_ACTION_DELIVERED:
		return r->status == STORE_QRCPT_DELIVERED && !r->dsn_passed;
	}
	return false;
}

/* The notice of one kind for the recipients whose NOTIFY wants it, if any. */
static void notice(struct queue_entry *qe, enum dsn_action action)
{
	struct dsn_recipient *dr = xcalloc(qe->nrcpts, sizeof(*dr));
	const char *err = NULL;
	struct buf msg;
	size_t n = 0;

	for (size_t i = 0; i < qe->nrcpts; i++) {
		const struct queue_rcpt *r = &qe->rcpts[i];
		if (!notice_matches(r, action) || !queue_notify_wants(r->notify, action))
			continue;
		dr[n].address = r->address;
		dr[n].original = r->orcpt;
		dr[n].action = action;
		dr[n].status = r->dsn_status[0] != '\0' ? r->dsn_status : "4.0.0";
		dr[n].remote_mta = r->remote_mta;
		dr[n].diagnostic = r->reply != NULL ? r->reply : r->last_reply;
		dr[n].last_attempt = (time_t)qe->fin_now;
		n++;
	}
	buf_init(&msg, 0);
	if (n > 0 && queue_bounce_build(qe, dr, n, qe->fin_now, &msg, &err) < 0)
		log_error("queue event=notice-failed id=%lld error=\"%s\"", (long long)qe->e.id, err);
	else if (n > 0)
		notice_submit(qe, &msg, action);
	buf_free(&msg);
	free(dr);
}

/* max_lifetime reached: every recipient still pending fails now (RFC 3463 4.4.7). */
static void expire(struct queue_entry *qe)
{
	for (size_t i = 0; i < qe->nrcpts; i++) {
		struct queue_rcpt *r = &qe->rcpts[i];
		char *text;
		if (r->status != STORE_QRCPT_PENDING)
			continue;
		text = xasprintf("4.4.7 message expired: %s", r->reply != NULL ? r->reply : "not delivered");
		free(r->reply);
		r->reply = text;
		r->status = STORE_QRCPT_FAILED;
		r->failed_now = true;
		snprintf(r->dsn_status, sizeof(r->dsn_status), "4.4.7");
		log_info("queue event=expired id=%lld rcpt=%s reply=\"%s\"", (long long)qe->e.id, r->address, text);
	}
}

void queue_bounce_finish(struct queue_entry *qe)
{
	const struct config *cfg = qe->cfg;
	int64_t now = (int64_t)time(NULL);
	size_t pending = 0;
	bool delay;

	for (size_t i = 0; i < qe->nrcpts; i++)
		pending += qe->rcpts[i].status == STORE_QRCPT_PENDING;
	if (pending > 0 && queue_expired(cfg, qe->e.created_at, now)) {
		expire(qe);
		pending = 0;
	}
	delay = queue_delay_due(cfg, qe->e.created_at, qe->e.delay_notified, pending, now);
	qe->fin_now = now;
	qe->fin_delay_notified = qe->e.delay_notified || delay;
	qe->fin_next = queue_next_attempt(cfg, qe->e.created_at, qe->e.attempts + 1, qe->fin_delay_notified, now);
	/* the null sender gets no notice: notices never cause notices (RFC 5321 4.5.5) */
	if (qe->e.envelope_from[0] != '\0' && qe->srs_refused != NULL) {
		log_warn("queue event=notice-dropped id=%lld sender=%s reason=\"the SRS sender does not verify (%s)\"",
			 (long long)qe->e.id, qe->e.envelope_from, qe->srs_refused);
	} else if (qe->e.envelope_from[0] != '\0' && (qe->sender_id != 0 || !qe->sender_hosted)) {
		qe->notices = xcalloc(3, sizeof(*qe->notices));
		notice(qe, DSN_ACTION_FAILED);
		if (delay)
			notice(qe, DSN_ACTION_DELAYED);
		notice(qe, DSN_ACTION_DELIVERED);
	} else if (qe->e.envelope_from[0] != '\0') {
		log_warn("queue event=notice-dropped id=%lld sender=%s reason=\"the sender is a hosted address that "
			 "cannot receive (no-reply or removed)\"", (long long)qe->e.id, qe->e.envelope_from);
	}
	if (qe->notices_left == 0)
		record(qe);
}
