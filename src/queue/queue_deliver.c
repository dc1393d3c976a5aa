/*
 * queue_deliver: one attempt of a claimed entry.
 *
 * 1. A READ call loads the message (the entry's prefix, i.e. its
 *    DKIM-Signature, then the stored body) into memory and looks up whether
 *    the sender is one of our addresses (where notices go). A copy an alias
 *    forwarded has an SRS0 sender at the alias's domain (inbound): its
 *    notices go to the original sender once the address verifies (hash and
 *    age, srs.h), and nowhere when it does not.
 *
 *    Why memory rather than streaming: smtp_client pulls the body through a
 *    synchronous read callback on the loop, and reading a segment file there
 *    would block the loop on disk I/O (STYLE.md 3); a READ call per chunk
 *    cannot answer a synchronous callback. The bound: an entry is loaded
 *    only when it is claimed, at most `concurrency` entries are claimed, and
 *    the message is refused beyond queue_body_limit (the largest configured
 *    message size plus slack for the headers submission adds), so the queue
 *    holds at most concurrency x that many bytes of bodies (20 x 50 MiB by
 *    default; typical mail is far smaller). One loaded body serves every
 *    domain's connection of the entry.
 *
 * 2. The pending recipients are grouped by domain: one job (one connection)
 *    per domain carries all of that domain's recipients. Jobs wait for a
 *    connection slot (concurrency, per_domain), then route (transport
 *    override by A/AAAA, else MX) and hand smtp_client every address of
 *    every host in order, with an idle connection to one of them if the
 *    queue holds one (queue_conn.c); a clean session comes back to it.
 *
 * 3. Each recipient's reply becomes its outcome; when the last job ends,
 *    queue_bounce_finish sends the notices and records the attempt.
 */
#include "queue/queue_private.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "inbound/srs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "smtp/smtp_parse.h"
#include "store/store_inbound.h"
#include "store/store_mail.h"

/* NOTIFY bits go from the store to the client unchanged. */
_Static_assert((int)STORE_NOTIFY_NEVER == (int)SMTP_NOTIFY_NEVER &&
		       (int)STORE_NOTIFY_SUCCESS == (int)SMTP_NOTIFY_SUCCESS &&
		       (int)STORE_NOTIFY_FAILURE == (int)SMTP_NOTIFY_FAILURE &&
		       (int)STORE_NOTIFY_DELAY == (int)SMTP_NOTIFY_DELAY,
	       "store_queue.h and smtp_parse.h disagree on NOTIFY bits");

#define QUEUE_TARGETS_MAX 20 /* addresses tried per connection (Postfix: 5 addresses, 2 sessions) */

/* ---- 1. loading ----------------------------------------------------------------------- */

struct load {
	struct queue_entry *qe;    /* touched on the loop only, and only when not cancelled */
	int64_t body_id;
	uint64_t size, limit;
	char *prefix;
	char *from;
	struct plan_cfg plans[CONFIG_PLAN_COUNT];
	/* results */
	char *msg;
	size_t len;
	unsigned flags;            /* what the body needs (8BITMIME, SMTPUTF8 for UTF-8 headers) */
	bool too_big;
	int64_t sender_id;
	bool sender_hosted;
	char notice_to[sizeof(((struct store_queue_entry *)0)->envelope_from)]; /* "" : from */
	const char *srs_refused;
	int rc;
	char err[256];
};

static void load_free(struct load *ld)
{
	free(ld->prefix);
	free(ld->from);
	free(ld->msg);
	free(ld);
}

static int load_body(struct store *s, struct load *ld, const char **err_r)
{
	size_t plen = strlen(ld->prefix), got;

	if (ld->size + plen > ld->limit) {
		ld->too_big = true;
		return 0;
	}
	ld->msg = xmalloc(plen + (size_t)ld->size + 1);
	memcpy(ld->msg, ld->prefix, plen);
	ld->len = plen;
	while (ld->len < plen + ld->size) {
		if (store_body_pread(s, ld->body_id, ld->len - plen, ld->msg + ld->len, plen + ld->size - ld->len, &got,
				     err_r) < 0)
			return -1;
		if (got == 0)
			break;
		ld->len += got;
	}
	return 0;
}

/* Is addr (local part `local`) ours? Then notices go to its INBOX (or nowhere, for a no-reply address). */
static int sender_route(struct store *s, struct load *ld, const char *local, const char *domain, const char **err_r)
{
	struct store_rcpt r;

	if (store_rcpt_resolve(s, local, domain, 0, ld->plans, &r, err_r) < 0)
		return -1;
	ld->sender_hosted = r.status != RCPT_NOT_HOSTED;
	/* a notice is small and must not be lost to a full mailbox */
	ld->sender_id = r.status == RCPT_OK || r.status == RCPT_OVER_QUOTA ? r.address_id : 0;
	return 0;
}

/*
 * Our SRS sender (no address of that name exists): the original sender, if
 * the hash and the age verify, becomes where notices go; otherwise the
 * notice goes nowhere (srs_refused). Without the check, a forged entry
 * sender would make us a relay of notices to any address.
 */
static int srs_sender(struct store *s, struct load *ld, const char *local, const char **err_r)
{
	unsigned char key[SRS_KEY_BYTES];
	enum srs_status st = SRS_BAD_HASH; /* without a key, we never rewrote anything */
	const char *at;
	char *orig_local;
	int rc = store_inbound_secret(s, "srs", key, sizeof(key), false, err_r);

	if (rc < 0)
		return -1;
	if (rc > 0)
		st = srs_reverse(key, local, (int64_t)time(NULL), ld->notice_to, sizeof(ld->notice_to));
	sodium_memzero(key, sizeof(key));
	if (st != SRS_VALID || (at = strrchr(ld->notice_to, '@')) == NULL) {
		ld->srs_refused = srs_status_name(st);
		ld->notice_to[0] = '\0';
		ld->sender_id = 0;
		return 0;
	}
	orig_local = xstrndup(ld->notice_to, (size_t)(at - ld->notice_to));
	rc = sender_route(s, ld, orig_local, at + 1, err_r);
	free(orig_local);
	return rc;
}

static int load_sender(struct store *s, struct load *ld, const char **err_r)
{
	struct store_address addr;
	const char *at = strrchr(ld->from, '@');
	char *local;
	int rc;

	if (ld->from[0] == '\0' || at == NULL)
		return 0;
	local = xstrndup(ld->from, (size_t)(at - ld->from));
	rc = sender_route(s, ld, local, at + 1, err_r);
	if (rc == 0 && ld->sender_hosted && srs_is_srs(local) &&
	    (rc = store_address_get(s, local, at + 1, &addr, err_r)) == 0)
		rc = srs_sender(s, ld, local, err_r);
	free(local);
	return rc < 0 ? -1 : 0;
}

static void load_work(struct store *s, void *arg)
{
	struct load *ld = arg;
	const char *err = NULL;

	ld->rc = load_body(s, ld, &err);
	/* scanning up to 50 MiB for 8-bit bytes is work for this thread, not the loop */
	if (ld->rc == 0 && ld->msg != NULL)
		ld->flags = queue_message_flags(ld->from, NULL, 0, ld->msg, ld->len);
	if (ld->rc == 0)
		ld->rc = load_sender(s, ld, &err);
	if (ld->rc < 0)
		snprintf(ld->err, sizeof(ld->err), "%s", err != NULL ? err : "store failure");
}

/* Every recipient of the entry gets the same outcome (the attempt could not start). */
static void all_rcpts(struct queue_entry *qe, enum store_qrcpt_status st, const char *status, const char *reply)
{
	for (size_t i = 0; i < qe->nrcpts; i++) {
		struct queue_rcpt *r = &qe->rcpts[i];
		r->status = st;
		r->failed_now = st == STORE_QRCPT_FAILED;
		snprintf(r->dsn_status, sizeof(r->dsn_status), "%s", status);
		free(r->reply);
		r->reply = xstrdup(reply);
	}
}

static void jobs_create(struct queue_entry *qe);

static void load_done(void *arg, bool cancelled)
{
	struct load *ld = arg;
	struct queue_entry *qe = ld->qe;
	char text[STORE_QUEUE_REPLY_MAX];

	if (cancelled) {
		load_free(ld);
		return;
	}
	qe->req = NULL;
	qe->q->jobs--; /* the loading slot; the jobs take their own */
	qe->msg = ld->msg;
	qe->msg_len = ld->len;
	qe->flags = ld->flags;
	ld->msg = NULL;
	qe->sender_id = ld->sender_id;
	qe->sender_hosted = ld->sender_hosted;
	snprintf(qe->notice_to, sizeof(qe->notice_to), "%s", ld->notice_to);
	qe->srs_refused = ld->srs_refused;
	if (ld->rc < 0) {
		log_error("queue event=load-failed id=%lld error=\"%s\"", (long long)qe->e.id, ld->err);
		snprintf(text, sizeof(text), "451 4.3.0 the message could not be read from the store: %s", ld->err);
		all_rcpts(qe, STORE_QRCPT_PENDING, "4.3.0", text);
		queue_bounce_finish(qe);
	} else if (ld->too_big) {
		snprintf(text, sizeof(text), "552 5.3.4 message too big: the sending limit is %llu bytes",
			 (unsigned long long)queue_body_limit(qe->cfg));
		all_rcpts(qe, STORE_QRCPT_FAILED, "5.3.4", text);
		queue_bounce_finish(qe);
	} else {
		jobs_create(qe);
	}
	load_free(ld);
	queue_deliver_pump(qe->q);
}

void queue_deliver_start(struct queue_entry *qe)
{
	struct load *ld = xcalloc(1, sizeof(*ld));

	ld->qe = qe;
	ld->body_id = qe->e.body_id;
	ld->size = qe->e.size;
	ld->limit = queue_body_limit(qe->cfg);
	ld->prefix = xstrdup(qe->e.prefix);
	ld->from = xstrdup(qe->e.envelope_from);
	memcpy(ld->plans, qe->cfg->plans, sizeof(ld->plans));
	qe->req = store_async_call(qe->q->store, STORE_CALL_READ, load_work, load_done, ld);
}

/* ---- 2. jobs ------------------------------------------------------------------------------ */

static void jobs_create(struct queue_entry *qe)
{
	struct queue *q = qe->q;
	const char **addrs = xcalloc(qe->nrcpts, sizeof(*addrs));
	size_t *group = xcalloc(qe->nrcpts, sizeof(*group));

	for (size_t i = 0; i < qe->nrcpts; i++)
		addrs[i] = qe->rcpts[i].address;
	qe->flags |= queue_message_flags("", addrs, qe->nrcpts, "", 0); /* non-ASCII recipients */
	qe->njobs = queue_group_by_domain(addrs, qe->nrcpts, group);
	qe->jobs = xcalloc(qe->njobs, sizeof(*qe->jobs));
	qe->jobs_left = qe->njobs;
	for (size_t i = 0; i < qe->nrcpts; i++) {
		struct queue_job *j = &qe->jobs[group[i]];
		if (j->domain == NULL) {
			j->qe = qe;
			j->domain = xstrdup(queue_domain_of(addrs[i]));
			j->rcpt_idx = xcalloc(qe->nrcpts, sizeof(*j->rcpt_idx));
		}
		j->rcpt_idx[j->nrcpts++] = i;
	}
	for (size_t g = 0; g < qe->njobs; g++) {
		struct queue_job *j = &qe->jobs[g];
		q->jobs++;
		queue_domain(q, j->domain, true)->jobs++;
		if (q->wait_tail != NULL)
			q->wait_tail->wait_next = j;
		else
			q->wait_head = j;
		q->wait_tail = j;
	}
	free(addrs);
	free(group);
}

static void job_end(struct queue_job *j)
{
	struct queue_entry *qe = j->qe;
	struct queue *q = qe->q;
	struct queue_domain_count *dc = queue_domain(q, j->domain, false), **pp;

	ASSERT(j->active && dc != NULL);
	j->active = false;
	q->active--;
	q->jobs--;
	dc->active--;
	if (--dc->jobs == 0) {
		for (pp = &q->domains; *pp != dc; pp = &(*pp)->next)
			;
		*pp = dc->next;
		free(dc->domain);
		free(dc);
	}
	if (--qe->jobs_left == 0)
		queue_bounce_finish(qe);
	queue_deliver_pump(q);
	queue_schedule_scan(q); /* a slot is free */
}

/* One recipient's outcome from a reply. */
static void rcpt_outcome(struct queue_entry *qe, struct queue_rcpt *r, const struct smtp_client_reply *rep,
			 const char *host)
{
	static const char *const events[] = { "delivered", "deferred", "bounced" };
	char text[STORE_QUEUE_REPLY_MAX];

	r->status = rep->status == SMTP_CLIENT_DELIVERED ? STORE_QRCPT_DELIVERED
		    : rep->status == SMTP_CLIENT_PERMFAIL ? STORE_QRCPT_FAILED
							  : STORE_QRCPT_PENDING;
	r->failed_now = r->status == STORE_QRCPT_FAILED;
	queue_format_reply(rep, text, sizeof(text));
	queue_reply_status(rep, r->dsn_status, sizeof(r->dsn_status));
	free(r->reply);
	free(r->remote_mta);
	r->reply = xstrdup(text);
	/* Remote-MTA is a host name (RFC 3464 2.3.5): "mx.example.net[192.0.2.1]:25" -> "mx.example.net" */
	r->remote_mta = rep->remote && host != NULL ? xstrndup(host, strcspn(host, "[")) : NULL;
	log_info("queue event=%s id=%lld rcpt=%s relay=%s status=%s reply=\"%s\"", events[rep->status],
		 (long long)qe->e.id, r->address, host != NULL ? host : "none", r->dsn_status, text);
}

static void smtp_done(const struct smtp_client_result *res, void *arg)
{
	struct queue_job *j = arg;
	struct queue_entry *qe = j->qe;

	j->sc = NULL;
	if (res->idle != NULL)
		queue_conn_park(qe->q, res->idle); /* before job_end: the next job may take it */
	for (size_t i = 0; i < j->nrcpts; i++) {
		const struct smtp_client_reply *rep = i < res->nrcpts ? &res->rcpts[i] : &res->reply;
		struct queue_rcpt *r = &qe->rcpts[j->rcpt_idx[i]];
		rcpt_outcome(qe, r, rep, res->host);
		/*
		 * RFC 3461 5.2: a server offering DSN got NOTIFY with the recipient
		 * and reports success itself; without DSN ours says "relayed".
		 */
		r->dsn_passed = r->status == STORE_QRCPT_DELIVERED && (res->extensions & SMTP_EXT_DSN) != 0;
	}
	job_end(j);
}

static int job_read(void *arg, void *buf, size_t len, size_t *got)
{
	struct queue_job *j = arg;
	size_t left = j->qe->msg_len - j->read_off;

	*got = len < left ? len : left;
	memcpy(buf, j->qe->msg + j->read_off, *got);
	j->read_off += *got;
	return 0;
}

/* DNS could not give a destination: every recipient of the job gets the same outcome. */
static void route_failed(struct queue_job *j, const struct dns_result *r)
{
	struct smtp_client_reply rep;
	char text[SMTP_CLIENT_TEXT_MAX];

	memset(&rep, 0, sizeof(rep));
	snprintf(text, sizeof(text), "%s", r->error != NULL ? r->error : "no mail server found");
	rep.text = text;
	if (r->status == DNS_PERMFAIL) {
		rep.status = SMTP_CLIENT_PERMFAIL, rep.code = 550;
		snprintf(rep.enhanced, sizeof(rep.enhanced), "5.4.4"); /* RFC 3463: unable to route */
	} else {
		rep.status = SMTP_CLIENT_TEMPFAIL, rep.code = 451;
		snprintf(rep.enhanced, sizeof(rep.enhanced), "4.4.3"); /* directory server failure */
	}
	for (size_t i = 0; i < j->nrcpts; i++)
		rcpt_outcome(j->qe, &j->qe->rcpts[j->rcpt_idx[i]], &rep, NULL);
	job_end(j);
}

static size_t targets_from(const struct dns_result *r, unsigned port, struct sockaddr_storage *sas,
			   struct smtp_client_target *t)
{
	size_t n = 0;

	for (size_t h = 0; h < r->nhosts; h++) {
		for (size_t a = 0; a < r->hosts[h].naddrs && n < QUEUE_TARGETS_MAX; a++) {
			const struct dns_addr *da = &r->hosts[h].addrs[a];
			memcpy(&sas[n], &da->sa, sizeof(sas[n]));
			if (sas[n].ss_family == AF_INET)
				((struct sockaddr_in *)(void *)&sas[n])->sin_port = htons((uint16_t)port);
			else
				((struct sockaddr_in6 *)(void *)&sas[n])->sin6_port = htons((uint16_t)port);
			t[n].sa = (const struct sockaddr *)&sas[n];
			t[n].sa_len = da->len;
			t[n].host = r->hosts[h].name;
			n++;
		}
	}
	return n;
}

static void route_done(const struct dns_result *r, void *arg)
{
	struct queue_job *j = arg;
	struct queue_entry *qe = j->qe;
	const struct config *cfg = qe->cfg;
	const struct transport_cfg *tc = config_transport_find(cfg, j->domain);
	struct sockaddr_storage sas[QUEUE_TARGETS_MAX];
	struct smtp_client_target targets[QUEUE_TARGETS_MAX];
	const char **rcpts;
	size_t n;

	j->dns = NULL;
	n = r->status == DNS_OK ? targets_from(r, tc != NULL ? tc->port : cfg->queue_mx_port, sas, targets) : 0;
	if (n == 0) {
		route_failed(j, r);
		return;
	}
	struct smtp_client_timeouts to = {
		.connect_s = cfg->queue_connect_timeout_s,
		.banner_s = cfg->queue_command_timeout_s, .helo_s = cfg->queue_command_timeout_s,
		.mail_s = cfg->queue_command_timeout_s, .rcpt_s = cfg->queue_command_timeout_s,
		.data_s = cfg->queue_command_timeout_s,
		.block_s = cfg->queue_data_timeout_s, .dot_s = cfg->queue_data_timeout_s,
	};
	rcpts = xcalloc(j->nrcpts, sizeof(*rcpts));
	const char **orcpts = xcalloc(j->nrcpts, sizeof(*orcpts));
	unsigned *notify = xcalloc(j->nrcpts, sizeof(*notify));
	for (size_t i = 0; i < j->nrcpts; i++) {
		const struct queue_rcpt *qr = &qe->rcpts[j->rcpt_idx[i]];
		rcpts[i] = qr->address;
		orcpts[i] = qr->orcpt;
		notify[i] = qr->notify; /* STORE_NOTIFY_* has SMTP_NOTIFY_*'s values */
	}
	struct smtp_client_job job = {
		.targets = targets, .ntargets = n, .helo_name = cfg->helo_name, .tls_ctx = qe->q->tls,
		.from = qe->e.envelope_from, .rcpts = rcpts, .nrcpts = j->nrcpts, .read = job_read, .read_arg = j,
		.size = qe->msg_len, .flags = qe->flags, .timeouts = &to,
		.envid = qe->e.envid[0] != '\0' ? qe->e.envid : NULL,
		.dsn_ret = qe->e.ret == STORE_RET_FULL ? 1 : qe->e.ret == STORE_RET_HDRS ? 2 : 0,
		.notify = notify, .orcpt = orcpts,
		.keep = true, .reuse = queue_conn_take(qe->q, targets, n),
	};
	j->read_off = 0;
	j->sc = smtp_client_send(qe->q->base, &job, smtp_done, j);
	free(rcpts);
	free(orcpts);
	free(notify);
}

static void job_start(struct queue_job *j)
{
	struct queue *q = j->qe->q;
	const struct transport_cfg *tc = config_transport_find(j->qe->cfg, j->domain);

	j->active = true;
	q->active++;
	queue_domain(q, j->domain, false)->active++;
	log_info("queue event=attempt id=%lld domain=%s rcpts=%zu route=%s%s", (long long)j->qe->e.id, j->domain,
		 j->nrcpts, tc != NULL ? "transport:" : "mx", tc != NULL ? tc->host : "");
	/* the callback always comes later from the loop, never inside these calls */
	if (tc != NULL)
		j->dns = dns_addresses(q->dns, tc->host, route_done, j);
	else
		j->dns = dns_mx(q->dns, j->domain, route_done, j);
}

/* Starts waiting jobs while connection slots allow, in arrival order. */
void queue_deliver_pump(struct queue *q)
{
	struct queue_job **pp = &q->wait_head, *prev = NULL;

	if (q->shutting_down)
		return; /* no new connections; what waits stays pending in the store */
	while (*pp != NULL && q->active < q->cfg->queue_concurrency) {
		struct queue_job *j = *pp;
		struct queue_domain_count *dc = queue_domain(q, j->domain, false);
		if (dc->active >= q->cfg->queue_per_domain) {
			prev = j;
			pp = &j->wait_next;
			continue;
		}
		*pp = j->wait_next;
		if (q->wait_tail == j)
			q->wait_tail = prev;
		j->wait_next = NULL;
		job_start(j);
	}
}

void queue_deliver_cancel(struct queue_entry *qe)
{
	if (qe->req != NULL)
		store_req_cancel(qe->req);
	for (size_t i = 0; i < qe->njobs; i++) {
		if (qe->jobs[i].dns != NULL)
			dns_req_cancel(qe->jobs[i].dns);
		if (qe->jobs[i].sc != NULL)
			smtp_client_cancel(qe->jobs[i].sc);
	}
	for (size_t i = 0; i < qe->notice_count; i++) {
		if (qe->notices[i].req != NULL)
			store_req_cancel(qe->notices[i].req);
	}
}
