/*
 * inbound: alias fan-out, SRS notices and auto-replies on the delivery path
 * (see inbound.h).
 *
 * DIAGNOSTICS: a recipient lookup that fails answers the session with an
 * error (451); an auto-reply that cannot be made is logged and dropped: the
 * message it answers is already delivered, and an auto-reply is never worth
 * a second copy of anything.
 */
#include "inbound/inbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "inbound/autoreply.h"
#include "inbound/srs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "outbound/submit_headers.h"
#include "store/store_queue.h"

struct inbound_job;

struct inbound {
	struct store_async *sa;
	void (*on_queued)(void *arg);
	void *on_queued_arg;
	struct inbound_job *jobs; /* auto-replies in flight, doubly linked */
};

struct inbound *inbound_new(struct store_async *sa)
{
	struct inbound *ib = xcalloc(1, sizeof(*ib));

	ib->sa = sa;
	return ib;
}

void inbound_set_queued_hook(struct inbound *ib, void (*hook)(void *arg), void *arg)
{
	ib->on_queued = hook;
	ib->on_queued_arg = arg;
}

/* ---- recipients ------------------------------------------------------------------------ */

struct rcpt_query {
	inbound_rcpt_cb cb;
	void *arg;
	const char *local, *domain, *sender; /* owned by the async query (rcpt_done frees them) */
	uint64_t size;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	int64_t now;
	int rc;
	const char *err;    /* the store's text, valid until done runs */
	char errbuf[256];
	struct inbound_rcpt r;
};

/* Is the address's auto-reply on now? Then it is remembered as a candidate. */
static int autoreply_candidate(struct store *s, struct rcpt_query *q, int64_t id, const char *address)
{
	bool enabled;
	int64_t starts, ends;
	int rc = store_inbound_autoreply_window(s, id, &enabled, &starts, &ends, &q->err);

	if (rc > 0 && autoreply_active(enabled, starts, ends, q->now)) {
		q->r.autoreply_id = id;
		snprintf(q->r.autoreply_address, sizeof(q->r.autoreply_address), "%s", address);
	}
	return rc < 0 ? -1 : 0;
}

static void push_local(struct inbound_rcpt *r, int64_t id)
{
	for (size_t i = 0; i < r->local_count; i++)
		if (r->local_ids[i] == id)
			return;
	r->local_ids[r->local_count++] = id;
}

struct target_list {
	struct store_alias_target t[STORE_ALIAS_TARGETS_MAX];
	size_t n;
	size_t dropped;
};

static void collect_target(const struct store_alias_target *t, void *arg)
{
	struct target_list *l = arg;

	if (l->n < STORE_ALIAS_TARGETS_MAX)
		l->t[l->n++] = *t;
	else
		l->dropped++;
}

/*
 * One target of an alias: a hosted one receives directly (no chains: an
 * alias target gives what store_rcpt_resolve makes of it, its first local
 * mailbox), a remote one once confirmed. 1 when it waits for confirmation.
 */
static int alias_target(struct store *s, struct rcpt_query *q, const struct store_alias_target *t)
{
	const char *at = strrchr(t->target, '@');
	struct store_rcpt tr;
	char local[65];

	if (at == NULL || at == t->target || (size_t)(at - t->target) >= sizeof(local))
		return 0;
	memcpy(local, t->target, (size_t)(at - t->target));
	local[at - t->target] = '\0';
	if (store_rcpt_resolve(s, local, at + 1, q->size, q->plans, &tr, &q->err) < 0)
		return -1;
	if (tr.status == RCPT_NOT_HOSTED) {
		if (!t->confirmed)
			return 1;
		snprintf(q->r.remote[q->r.remote_count++], sizeof(q->r.remote[0]), "%s", t->target);
	} else if (tr.status == RCPT_OK) {
		push_local(&q->r, tr.address_id);
	} else if (tr.status == RCPT_OVER_QUOTA) {
		/* deferred as a whole rather than lost for one target: the sender retries */
		q->r.rcpt = tr;
	} else {
		log_info("inbound event=alias-target-skipped target=%s status=%d", t->target, (int)tr.status);
	}
	return 0;
}

/* The sender of the copies that leave: SRS at the alias's domain, or the alias itself. */
static int forward_sender(struct store *s, struct rcpt_query *q, const char *alias_domain, const char *alias)
{
	unsigned char key[SRS_KEY_BYTES];
	int rc;

	if (q->sender[0] == '\0')
		return 0; /* a notice stays from the null sender */
	if ((rc = store_inbound_secret(s, "srs", key, sizeof(key), true, &q->err)) < 0)
		return -1;
	if (srs_forward(key, q->sender, alias_domain, q->now, q->r.forward_from, sizeof(q->r.forward_from)) < 0) {
		/* not rewritable (too long, quoted): notices then reach the alias's targets */
		log_info("inbound event=srs-not-possible sender=<%s> alias=%s", q->sender, alias);
		snprintf(q->r.forward_from, sizeof(q->r.forward_from), "%s", alias);
	}
	sodium_memzero(key, sizeof(key));
	return 0;
}

static int alias_expand(struct store *s, struct rcpt_query *q, const struct store_address *alias)
{
	struct target_list l = { .n = 0 };
	char name[INBOUND_ADDRESS_SIZE];
	size_t waiting = 0;
	int rc;

	snprintf(name, sizeof(name), "%s@%s", alias->local, alias->domain);
	q->r.kind = INBOUND_ALIAS;
	q->r.rcpt.status = RCPT_OK;
	q->r.rcpt.address_id = 0;
	q->r.rcpt.via_catchall = false;
	if (store_inbound_targets(s, alias->id, collect_target, &l, &q->err) < 0)
		return -1;
	if (l.dropped > 0)
		log_warn("inbound event=alias-targets-ignored alias=%s count=%zu", name, l.dropped);
	for (size_t i = 0; i < l.n && q->r.rcpt.status == RCPT_OK; i++) {
		if ((rc = alias_target(s, q, &l.t[i])) < 0)
			return -1;
		waiting += (size_t)rc;
	}
	if (q->r.rcpt.status != RCPT_OK)
		return 0;
	if (q->r.local_count == 0 && q->r.remote_count == 0) {
		q->r.rcpt.status = RCPT_NO_SUCH_USER;
		q->r.awaiting_confirmation = waiting > 0;
		return 0;
	}
	if (q->r.remote_count > 0 && forward_sender(s, q, alias->domain, name) < 0)
		return -1;
	return autoreply_candidate(s, q, alias->id, name);
}

/* A notice to one of our SRS senders: 1 when valid (and queued on to the original sender). */
static int srs_notice(struct store *s, struct rcpt_query *q)
{
	unsigned char key[SRS_KEY_BYTES];
	enum srs_status st;
	char orig[320];
	int rc = store_inbound_secret(s, "srs", key, sizeof(key), false, &q->err);

	if (rc <= 0)
		return rc; /* no key: we never rewrote anything */
	st = srs_reverse(key, q->local, q->now, orig, sizeof(orig));
	sodium_memzero(key, sizeof(key));
	if (st != SRS_VALID) {
		log_info("inbound event=srs-refused local=%s reason=%s", q->local, srs_status_name(st));
		return 0;
	}
	memset(&q->r, 0, sizeof(q->r));
	q->r.kind = INBOUND_SRS;
	q->r.rcpt.status = RCPT_OK;
	q->r.remote_count = 1;
	snprintf(q->r.remote[0], sizeof(q->r.remote[0]), "%s", orig);
	return 1;
}

static int resolve(struct store *s, struct rcpt_query *q)
{
	struct store_address addr;
	int rc;

	if (store_rcpt_resolve(s, q->local, q->domain, q->size, q->plans, &q->r.rcpt, &q->err) < 0)
		return -1;
	if (q->r.rcpt.status == RCPT_NOT_HOSTED)
		return 0;
	if ((rc = store_address_get(s, q->local, q->domain, &addr, &q->err)) < 0)
		return -1;
	if (rc == 1 && addr.kind == ADDRESS_ALIAS)
		return alias_expand(s, q, &addr);
	if (rc == 0 && srs_is_srs(q->local) && (rc = srs_notice(s, q)) != 0)
		return rc < 0 ? -1 : 0;
	/* a catchall never auto-replies, even when named (the seed's rule, and RFC 3834 2's spirit) */
	if (q->r.rcpt.status == RCPT_OK && !q->r.rcpt.via_catchall && !(rc == 1 && addr.kind == ADDRESS_CATCHALL))
		return autoreply_candidate(s, q, q->r.rcpt.address_id, q->r.rcpt.mailbox);
	return 0;
}

static void rcpt_work(struct store *s, void *arg)
{
	struct rcpt_query *q = arg;

	q->rc = resolve(s, q);
	if (q->rc < 0) {
		/* the store's text lives in s; copy it before another call reuses s */
		snprintf(q->errbuf, sizeof(q->errbuf), "%s", q->err != NULL ? q->err : "store failure");
		q->err = q->errbuf;
	}
}

static void rcpt_done(void *arg, bool cancelled)
{
	struct rcpt_query *q = arg;

	if (!cancelled)
		q->cb(q->rc < 0 ? NULL : &q->r, q->rc < 0 ? q->err : NULL, q->arg);
	free((char *)q->local);
	free((char *)q->domain);
	free((char *)q->sender);
	free(q);
}

int inbound_rcpt_resolve_store(struct store *s, const char *local, const char *domain, uint64_t incoming_size,
			       const struct plan_cfg plans[CONFIG_PLAN_COUNT], const char *sender, int64_t now,
			       struct inbound_rcpt *r, const char **errstr_r)
{
	struct rcpt_query q = { .local = local, .domain = domain, .sender = sender, .size = incoming_size,
				.now = now };

	memcpy(q.plans, plans, sizeof(q.plans));
	if (resolve(s, &q) < 0) {
		*errstr_r = q.err != NULL ? q.err : "store failure";
		return -1;
	}
	*r = q.r;
	return 0;
}

struct store_req *inbound_rcpt_resolve(struct inbound *ib, const char *local, const char *domain,
				       uint64_t incoming_size, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
				       const char *sender, inbound_rcpt_cb cb, void *arg)
{
	struct rcpt_query *q = xcalloc(1, sizeof(*q));

	q->cb = cb;
	q->arg = arg;
	q->local = xstrdup(local);
	q->domain = xstrdup(domain);
	q->sender = xstrdup(sender != NULL ? sender : "");
	q->size = incoming_size;
	memcpy(q->plans, plans, sizeof(q->plans));
	q->now = (int64_t)time(NULL);
	return store_async_call(ib->sa, STORE_CALL_READ, rcpt_work, rcpt_done, q);
}

/* ---- the transaction ------------------------------------------------------------------------ */

static void add_remote(struct inbound_txn *t, const char *address)
{
	for (size_t i = 0; i < t->remote_count; i++)
		if (strcasecmp(t->remote[i], address) == 0)
			return;
	if (t->remote_count == t->remote_cap) {
		t->remote_cap = t->remote_cap ? t->remote_cap * 2 : 8;
		t->remote = xrealloc(t->remote, t->remote_cap * sizeof(*t->remote));
	}
	t->remote[t->remote_count++] = xstrdup(address);
}

static void add_autoreply(struct inbound_txn *t, int64_t id, const char *address)
{
	for (size_t i = 0; i < t->autoreply_count; i++)
		if (t->autoreply_ids[i] == id)
			return;
	if (t->autoreply_count == t->autoreply_cap) {
		t->autoreply_cap = t->autoreply_cap ? t->autoreply_cap * 2 : 4;
		t->autoreply_ids = xrealloc(t->autoreply_ids, t->autoreply_cap * sizeof(*t->autoreply_ids));
		t->autoreply_addresses =
			xrealloc(t->autoreply_addresses, t->autoreply_cap * sizeof(*t->autoreply_addresses));
	}
	t->autoreply_ids[t->autoreply_count] = id;
	t->autoreply_addresses[t->autoreply_count++] = xstrdup(address);
}

void inbound_txn_add(struct inbound_txn *t, const struct inbound_rcpt *r)
{
	/* one envelope sender for every copy: the first alias's (any hosted domain passes SPF) */
	if (r->remote_count > 0 && t->remote_count == 0)
		snprintf(t->forward_from, sizeof(t->forward_from), "%s", r->forward_from);
	for (size_t i = 0; i < r->remote_count; i++)
		add_remote(t, r->remote[i]);
	if (r->autoreply_id != 0)
		add_autoreply(t, r->autoreply_id, r->autoreply_address);
}

void inbound_txn_add_autoreply(struct inbound_txn *t, const struct inbound_rcpt *r)
{
	if (r->autoreply_id != 0)
		add_autoreply(t, r->autoreply_id, r->autoreply_address);
}

bool inbound_txn_relays(const struct inbound_txn *t)
{
	return t->remote_count > 0;
}

void inbound_txn_text(struct inbound_txn *t, const char *p, size_t len)
{
	if (t->autoreply_count == 0 || t->header_done)
		return;
	if (t->header.max == 0)
		buf_init(&t->header, AUTOREPLY_HEADER_MAX);
	if (len > t->header.max - t->header.len)
		len = t->header.max - t->header.len;
	buf_append(&t->header, p, len);
	/* the header ends at the first empty line (either line end: the parser takes both) */
	if (memmem(t->header.data, t->header.len, "\n\r\n", 3) != NULL ||
	    memmem(t->header.data, t->header.len, "\n\n", 2) != NULL ||
	    (t->header.len >= 2 && memcmp(t->header.data, "\r\n", 2) == 0))
		t->header_done = true;
	else if (t->header.len == t->header.max)
		t->header_done = t->header_truncated = true;
}

struct store_req *inbound_txn_commit(struct inbound *ib, struct inbound_txn *t, struct spool *body,
				     const int64_t *address_ids, size_t address_count, int64_t internal_date,
				     store_deliver_cb cb, void *arg)
{
	struct store_outbound_rcpt *rcpts;
	struct store_req *req;

	if (t->remote_count == 0)
		return store_async_deliver(ib->sa, body, address_ids, address_count, internal_date, cb, arg);
	rcpts = xcalloc(t->remote_count, sizeof(*rcpts));
	for (size_t i = 0; i < t->remote_count; i++)
		rcpts[i].address = t->remote[i];
	struct store_outbound out = {
		.envelope_from = t->forward_from,
		.rcpts = rcpts,
		.rcpt_count = t->remote_count,
	};
	req = store_async_submit(ib->sa, body, address_ids, address_count, &out, internal_date, cb, arg);
	free(rcpts);
	return req;
}

void inbound_txn_reset(struct inbound_txn *t)
{
	for (size_t i = 0; i < t->remote_count; i++)
		free(t->remote[i]);
	free(t->remote);
	for (size_t i = 0; i < t->autoreply_count; i++)
		free(t->autoreply_addresses[i]);
	free(t->autoreply_ids);
	free(t->autoreply_addresses);
	buf_free(&t->header);
	memset(t, 0, sizeof(*t));
}

/* ---- auto-replies ------------------------------------------------------------------------------ */

struct inbound_job {
	struct inbound_job *prev, *next;
	struct inbound *ib;       /* NULL once inbound_free let go of it */
	struct store_req *req;
	bool submitting;          /* the reply is with the store as a delivery */
	const struct config *cfg;
	int64_t address_id;
	char address[INBOUND_ADDRESS_SIZE];
	char sender[INBOUND_ADDRESS_SIZE];
	char session[16];
	struct autoreply_headers headers;
	int64_t now;
	/* results of the WRITE call */
	const char *skip;         /* why no reply (for the log), or NULL */
	char err[256];
	struct spool *reply;
	int64_t local_id;         /* the sender is hosted here: its INBOX */
	char msgid[SUBMIT_MSGID_SIZE];
};

static void job_unlink(struct inbound_job *j)
{
	if (j->ib == NULL)
		return;
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		j->ib->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->ib = NULL;
}

static void job_free(struct inbound_job *j)
{
	job_unlink(j);
	if (j->reply != NULL)
		spool_free(j->reply);
	free(j);
}

/* Where the reply goes: 1 with local_id (hosted sender), 0 remote, -1 nowhere (skip set). */
static int reply_route(struct store *s, struct inbound_job *j, const char **err_r)
{
	const char *at = strrchr(j->sender, '@');
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	struct store_rcpt r;
	char local[65];

	if (at == NULL || at == j->sender || (size_t)(at - j->sender) >= sizeof(local)) {
		j->skip = "sender-unusable";
		return -1;
	}
	memcpy(local, j->sender, (size_t)(at - j->sender));
	local[at - j->sender] = '\0';
	memcpy(plans, j->cfg->plans, sizeof(plans));
	if (store_rcpt_resolve(s, local, at + 1, 0, plans, &r, err_r) < 0)
		return -1;
	if (r.status == RCPT_NOT_HOSTED)
		return 0;
	if (r.status != RCPT_OK && r.status != RCPT_OVER_QUOTA) {
		j->skip = "sender-cannot-receive";
		return -1;
	}
	j->local_id = r.address_id;
	return 1;
}

static int build_reply(struct inbound_job *j, const struct store_autoreply *ar, const char **err_r)
{
	struct autoreply_reply rr = { .from = j->address, .to = j->sender, .subject = ar->subject,
				      .body = ar->body, .original = &j->headers, .date = j->now,
				      .message_id = j->msgid };
	struct buf msg;
	int rc;

	submit_headers_message_id(j->cfg->hostname, j->msgid);
	buf_init(&msg, 0);
	autoreply_build(&rr, &msg);
	j->reply = spool_new(j->cfg->data_dir);
	rc = spool_write(j->reply, msg.data, msg.len, err_r);
	buf_free(&msg);
	return rc;
}

/* On the writer: the settings, the period, the route; the log entry; the reply. */
static int job_prepare(struct store *s, struct inbound_job *j, const char **err_r)
{
	struct store_autoreply *ar = xmalloc(sizeof(*ar));
	int64_t last = 0, period;
	int rc = store_inbound_autoreply_get(s, j->address_id, ar, err_r);

	if (rc <= 0 || !autoreply_active(ar->enabled, ar->starts_at, ar->ends_at, j->now)) {
		j->skip = rc < 0 ? NULL : "off";
		goto out;
	}
	period = ar->period_s > 0 ? ar->period_s : (int64_t)j->cfg->autoreply_period_s;
	if ((rc = store_inbound_autoreply_last(s, j->address_id, j->sender, &last, err_r)) < 0)
		goto out;
	if (!autoreply_period_over(last, j->now, period)) {
		j->skip = "answered-within-period";
		rc = -1;
		goto out;
	}
	if ((rc = reply_route(s, j, err_r)) < 0 ||
	    (rc = store_inbound_autoreply_log(s, j->address_id, j->sender, j->now, err_r)) < 0)
		goto out;
	rc = build_reply(j, ar, err_r);
out:
	free(ar);
	return rc;
}

static void job_work(struct store *s, void *arg)
{
	struct inbound_job *j = arg;
	const char *err = NULL;

	if (job_prepare(s, j, &err) < 0 && j->skip == NULL)
		snprintf(j->err, sizeof(j->err), "%s", err != NULL ? err : "store failure");
}

static void job_sent(int result, const char *errstr, void *arg)
{
	struct inbound_job *j = arg;
	struct inbound *ib = j->ib;

	if (result == 0)
		log_info("inbound event=autoreply-sent session=%s address=%s to=<%s> id=%s route=%s", j->session,
			 j->address, j->sender, j->msgid, j->local_id != 0 ? "local" : "queue");
	else
		log_warn("inbound event=autoreply-failed session=%s address=%s to=<%s> error=\"%s\"", j->session,
			 j->address, j->sender, errstr != NULL ? errstr : "unknown");
	if (result == 0 && j->local_id == 0 && ib != NULL && ib->on_queued != NULL)
		ib->on_queued(ib->on_queued_arg);
	job_free(j);
}

/* RFC 3834 3.3: the reply goes from the null sender, so that nothing answers it in turn. */
static void job_send(struct inbound_job *j)
{
	struct store_outbound_rcpt rcpt = { .address = j->sender };
	struct store_outbound out = { .envelope_from = "", .rcpts = &rcpt, .rcpt_count = 1 };
	struct spool *body = j->reply;

	j->reply = NULL;
	j->submitting = true;
	if (j->local_id != 0)
		j->req = store_async_submit(j->ib->sa, body, &j->local_id, 1, NULL, j->now, job_sent, j);
	else
		j->req = store_async_submit(j->ib->sa, body, NULL, 0, &out, j->now, job_sent, j);
}

static void job_prepared(void *arg, bool cancelled)
{
	struct inbound_job *j = arg;

	if (cancelled || j->ib == NULL) {
		job_free(j);
		return;
	}
	if (j->err[0] != '\0')
		log_warn("inbound event=autoreply-failed session=%s address=%s to=<%s> error=\"%s\"", j->session,
			 j->address, j->sender, j->err);
	else if (j->skip != NULL)
		log_info("inbound event=autoreply-skipped session=%s address=%s to=<%s> reason=%s", j->session,
			 j->address, j->sender, j->skip);
	if (j->reply == NULL) {
		job_free(j);
		return;
	}
	job_send(j);
}

static void job_start(struct inbound *ib, const struct inbound_txn *t, size_t i, const struct autoreply_headers *h,
		      const struct config *cfg, const char *sender, const char *session_id)
{
	struct inbound_job *j = xcalloc(1, sizeof(*j));

	j->ib = ib;
	j->cfg = cfg;
	j->address_id = t->autoreply_ids[i];
	snprintf(j->address, sizeof(j->address), "%s", t->autoreply_addresses[i]);
	snprintf(j->sender, sizeof(j->sender), "%s", sender);
	snprintf(j->session, sizeof(j->session), "%s", session_id);
	j->headers = *h;
	j->now = (int64_t)time(NULL);
	j->next = ib->jobs;
	if (ib->jobs != NULL)
		ib->jobs->prev = j;
	ib->jobs = j;
	j->req = store_async_call(ib->sa, STORE_CALL_WRITE, job_work, job_prepared, j);
}

/* Which candidates the message itself rules out (RFC 3834 2), before any store work. */
static void consider(struct inbound *ib, const struct inbound_txn *t, const struct config *cfg, const char *sender,
		     const char *session_id)
{
	struct autoreply_headers h = { .truncated = t->header_truncated };

	autoreply_headers_parse(t->header.data != NULL ? t->header.data : "", t->header.len, &h);
	for (size_t i = 0; i < t->autoreply_count; i++) {
		struct autoreply_facts f = { .sender = sender, .address = t->autoreply_addresses[i], .headers = &h };
		enum autoreply_verdict v = autoreply_decide(&f);
		if (v != AUTOREPLY_SEND) {
			log_info("inbound event=autoreply-skipped session=%s address=%s to=<%s> reason=%s", session_id,
				 t->autoreply_addresses[i], sender, autoreply_verdict_name(v));
			continue;
		}
		job_start(ib, t, i, &h, cfg, sender, session_id);
	}
}

void inbound_txn_delivered(struct inbound *ib, struct inbound_txn *t, const struct config *cfg, const char *sender,
			   const char *session_id)
{
	if (t->remote_count > 0 && ib->on_queued != NULL)
		ib->on_queued(ib->on_queued_arg);
	if (t->autoreply_count > 0)
		consider(ib, t, cfg, sender, session_id);
}

void inbound_free(struct inbound *ib)
{
	struct inbound_job *j, *next;

	for (j = ib->jobs; j != NULL; j = next) {
		next = j->next;
		log_info("inbound event=autoreply-dropped address=%s to=<%s> reason=shutdown", j->address, j->sender);
		store_req_cancel(j->req);
		/* a cancelled delivery never calls back; a cancelled call still does (and frees) */
		if (j->submitting)
			job_free(j);
		else
			job_unlink(j);
	}
	free(ib);
}
