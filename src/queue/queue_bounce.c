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
 *
 * Order: the notices are made durable first, then the attempt is recorded.
 * A crash in between repeats the attempt (and its notices) after the
 * restart; the other order could lose a notice.
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

int queue_bounce_build(const struct queue_entry *qe, const struct dsn_recipient *rcpts, size_t n, int64_t now,
		       struct buf *out, const char **errstr_r)
{
	struct dsn_report rep = {
		.reporting_mta = qe->cfg->hostname,
		.sender = qe->e.envelope_from,
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

struct record {
	struct queue_entry *qe;    /* touched only when not cancelled */
	int64_t id, now, next;
	bool delay_notified;
	struct store_queue_result *results;
	size_t n;
	int rc;
	char err[256];
};

static void record_work(struct store *s, void *arg)
{
	struct record *rec = arg;
	const char *err = NULL;

	rec->rc = store_queue_record(s, rec->id, rec->results, rec->n, rec->now, rec->next, rec->delay_notified, &err);
	if (rec->rc < 0)
		snprintf(rec->err, sizeof(rec->err), "%s", err != NULL ? err : "store failure");
}

static void record_free(struct record *rec)
{
	for (size_t i = 0; i < rec->n; i++) {
		free((char *)rec->results[i].reply);
		free((char *)rec->results[i].remote_mta);
	}
	free(rec->results);
	free(rec);
}

static void record_done(void *arg, bool cancelled)
{
	struct record *rec = arg;
	struct queue_entry *qe = rec->qe;
	struct queue *q;

	if (cancelled) {
		record_free(rec);
		return;
	}
	q = qe->q;
	qe->req = NULL;
	if (rec->rc < 0)
		log_error("queue event=record-failed id=%lld error=\"%s\" (the attempt will be repeated)",
			  (long long)rec->id, rec->err);
	if (qe->remote_notice)
		queue_kick(q);
	queue_entry_unlink(qe);
	queue_entry_free(qe);
	record_free(rec);
}

static void record(struct queue_entry *qe)
{
	struct record *rec = xcalloc(1, sizeof(*rec));
	size_t pending = 0;

	rec->qe = qe;
	rec->id = qe->e.id;
	rec->now = qe->fin_now;
	rec->next = qe->fin_next;
	rec->delay_notified = qe->fin_delay_notified;
	rec->n = qe->nrcpts;
	rec->results = xcalloc(qe->nrcpts, sizeof(*rec->results));
	for (size_t i = 0; i < qe->nrcpts; i++) {
		const struct queue_rcpt *r = &qe->rcpts[i];
		rec->results[i].rcpt_id = r->id;
		rec->results[i].status = r->status;
		rec->results[i].reply = xstrdup(r->reply != NULL ? r->reply : "");
		rec->results[i].remote_mta = r->remote_mta != NULL ? xstrdup(r->remote_mta) : NULL;
		pending += r->status == STORE_QRCPT_PENDING;
	}
	if (pending > 0)
		log_info("queue event=deferred-entry id=%lld pending=%zu next_attempt_in=%llds", (long long)qe->e.id,
			 pending, (long long)(rec->next - rec->now));
	qe->req = store_async_call(qe->q->store, STORE_CALL_WRITE, record_work, record_done, rec);
}

/* ---- notices --------------------------------------------------------------------------------- */

static void notice_done(int result, const char *errstr, void *arg)
{
	struct queue_notice *qn = arg;
	struct queue_entry *qe = qn->qe;

	qn->req = NULL;
	if (result < 0)
		log_error("queue event=notice-failed id=%lld sender=%s error=\"%s\"", (long long)qe->e.id,
			  qe->e.envelope_from, errstr != NULL ? errstr : "store failure");
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
	struct store_outbound_rcpt to = { qe->e.envelope_from, STORE_NOTIFY_NEVER, NULL };
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
		 qe->e.envelope_from, local ? "inbox" : "queue");
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
	if (qe->e.envelope_from[0] != '\0' && (qe->sender_id != 0 || !qe->sender_hosted)) {
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
