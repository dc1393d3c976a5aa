/*
 * store_queue: the outbound queue, the send log, send-as permissions and
 * DKIM keys (store_queue.h).
 *
 * A queue entry holds one reference on its body, as a mail row does: the
 * body outlives mailbox copies of the same submission that are expunged
 * before the remote delivery, and the entry's end (every recipient
 * delivered or failed, or `hermod queue remove`) releases it through the
 * same path as EXPUNGE (store_bodies_release), segment files included.
 *
 * Recipient status in the table: 'pending' (never tried), 'deferred'
 * (tried, to be retried; both are STORE_QRCPT_PENDING), 'delivered',
 * 'failed'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/xalloc.h"
#include "store/store_manage.h"
#include "store/store_private.h"
#include "store/store_queue.h"

#define ADDRESS_MAX 320 /* the size of the address fields of the structs */
#define ORCPT_MAX 330
/* send_log rows older than this go when the address sends again: well past the 24 h window */
#define SEND_LOG_KEEP_S (8 * 24 * 3600)
/*
 * Sends of one address within one aligned period of this length share a
 * send_log row (a bucket), so the rolling count reads at most
 * 24 h / SEND_LOG_BUCKET_S + 1 rows per address whatever it sends (144 +
 * 1, ~50 us), not one row per message (1,440 rows for the pro plan's
 * daily limit sent evenly, ~0.5 ms, at MAIL and at every RCPT).
 */
#define SEND_LOG_BUCKET_S 600

static const char *const ret_names[] = { "", "full", "hdrs" };
static const char *const status_names[] = { "deferred", "delivered", "failed" };

static enum store_ret ret_parse(const char *t)
{
	if (strcmp(t, "full") == 0)
		return STORE_RET_FULL;
	return strcmp(t, "hdrs") == 0 ? STORE_RET_HDRS : STORE_RET_UNSET;
}

static enum store_qrcpt_status status_parse(const char *t)
{
	if (strcmp(t, "delivered") == 0)
		return STORE_QRCPT_DELIVERED;
	return strcmp(t, "failed") == 0 ? STORE_QRCPT_FAILED : STORE_QRCPT_PENDING;
}

static void bind_text(sqlite3_stmt *st, int col, const char *t)
{
	sqlite3_bind_text(st, col, t != NULL ? t : "", -1, SQLITE_STATIC);
}

static int not_found(struct store *s, int64_t id, const char **errstr_r)
{
	return store_errf(s, errstr_r, "queue entry %lld does not exist", (long long)id);
}

/* ---- writing an entry (inside store_deliver_batch's transaction) ---- */

static int text_check(struct store *s, const char *what, const char *t, size_t max, const char **errstr_r)
{
	if (t != NULL && strlen(t) > max)
		return store_errf(s, errstr_r, "the %s is too long (at most %zu bytes)", what, max);
	return 0;
}

int store_outbound_check(struct store *s, const struct store_outbound *out, const char **errstr_r)
{
	if (out->envelope_from == NULL || (unsigned)out->ret > STORE_RET_HDRS ||
	    (out->rcpt_count > 0 && out->rcpts == NULL))
		return store_errf(s, errstr_r, "the outbound description is incomplete");
	if (out->send_log_count > 0 && out->sender_address_id <= 0)
		return store_errf(s, errstr_r, "recipients are counted against a sending address, and none was given");
	if (text_check(s, "sender address", out->envelope_from, ADDRESS_MAX - 1, errstr_r) < 0 ||
	    text_check(s, "ENVID", out->envid, STORE_QUEUE_ENVID_MAX, errstr_r) < 0 ||
	    text_check(s, "signature header", out->prefix, STORE_QUEUE_PREFIX_MAX - 1, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < out->rcpt_count; i++) {
		const struct store_outbound_rcpt *r = &out->rcpts[i];

		if (r->address == NULL || r->address[0] == '\0')
			return store_errf(s, errstr_r, "remote recipient %zu has no address", i + 1);
		if (text_check(s, "recipient address", r->address, ADDRESS_MAX - 1, errstr_r) < 0 ||
		    text_check(s, "ORCPT", r->orcpt, ORCPT_MAX - 1, errstr_r) < 0)
			return -1;
	}
	return 0;
}

static int entry_insert(struct store *s, const struct store_outbound *out, int64_t body_id, int64_t when,
			int64_t *id_r, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO queue_messages (body_id, address_id, envelope_from, created_at,"
				  " next_attempt, prefix, envid, ret) VALUES (?1, nullif(?2, 0), ?3, ?4, ?4, ?5, ?6, ?7)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	sqlite3_bind_int64(st, 2, out->sender_address_id);
	bind_text(st, 3, out->envelope_from);
	sqlite3_bind_int64(st, 4, when);
	bind_text(st, 5, out->prefix);
	if (out->envid != NULL)
		sqlite3_bind_text(st, 6, out->envid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, ret_names[out->ret], -1, SQLITE_STATIC);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int rcpts_insert(struct store *s, const struct store_outbound *out, int64_t entry_id, const char **errstr_r)
{
	static const char sql[] = "INSERT INTO queue_recipients (message_id, address, dsn_notify, dsn_orcpt)"
				  " VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st;

	for (size_t i = 0; i < out->rcpt_count; i++) {
		if ((st = store_stmt(s, sql, errstr_r)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, entry_id);
		bind_text(st, 2, out->rcpts[i].address);
		sqlite3_bind_int64(st, 3, out->rcpts[i].notify);
		if (out->rcpts[i].orcpt != NULL)
			sqlite3_bind_text(st, 4, out->rcpts[i].orcpt, -1, SQLITE_STATIC);
		if (store_step_done(s, st, errstr_r) < 0)
			return -1;
	}
	return 0;
}

/*
 * The recipients sent, added to the address's bucket row of this period
 * (or a new one), and the sender's rows past any window dropped.
 *
 * A bucket's sent_at is its LATEST send: the bucket stays in the rolling
 * count until that send has left the window, so the count errs on the
 * strict side by less than SEND_LOG_BUCKET_S for the bucket's earlier
 * sends (the plan's N is never exceeded within any 24 hours), and the
 * refusal's "sending resumes at" (oldest sent_at + window) is exactly when
 * the count drops.
 */
static int send_log_insert(struct store *s, const struct store_outbound *out, int64_t when, const char **errstr_r)
{
	static const char sql_exists[] = "SELECT id FROM addresses WHERE id = ?";
	static const char sql_prune[] = "DELETE FROM send_log WHERE address_id = ? AND sent_at < ?";
	static const char sql_merge[] = "UPDATE send_log SET recipients = recipients + ?3, sent_at = max(sent_at, ?2)"
					" WHERE rowid = (SELECT rowid FROM send_log WHERE address_id = ?1"
					" AND sent_at >= ?4 ORDER BY sent_at DESC LIMIT 1)";
	static const char sql_add[] = "INSERT INTO send_log (address_id, sent_at, recipients) VALUES (?, ?, ?)";
	int64_t bucket = when - (when % SEND_LOG_BUCKET_S + SEND_LOG_BUCKET_S) % SEND_LOG_BUCKET_S;
	int rc;

	if (out->send_log_count == 0)
		return 0;
	/* a words-level error rather than a foreign key violation */
	if ((rc = store_run_id(s, sql_exists, NULL, errstr_r, 1, out->sender_address_id)) <= 0)
		return rc < 0 ? -1
			      : store_errf(s, errstr_r, "the sending address (id %lld) no longer exists",
					   (long long)out->sender_address_id);
	if (store_run(s, sql_prune, errstr_r, 2, out->sender_address_id, when - (int64_t)SEND_LOG_KEEP_S) < 0 ||
	    store_run(s, sql_merge, errstr_r, 4, out->sender_address_id, when, (int64_t)out->send_log_count,
		      bucket) < 0)
		return -1;
	if (sqlite3_changes(s->db) > 0)
		return 0;
	return store_run(s, sql_add, errstr_r, 3, out->sender_address_id, when, (int64_t)out->send_log_count);
}

/*
 * The hosted address the message was sent as, when it is not the
 * authenticated one (send-as, checked at MAIL): 1 with its id, 0, -1. Most
 * messages go out as their sender: no lookup then.
 */
static int sent_as(struct store *s, const struct store_outbound *out, int64_t *id_r, const char **errstr_r)
{
	const char *at = strrchr(out->envelope_from, '@');
	char local[ADDRESS_MAX + 1];
	int rc;

	if (at == NULL || strcasecmp(out->envelope_from, out->sender_address) == 0 ||
	    (size_t)(at - out->envelope_from) >= sizeof(local))
		return 0;
	memcpy(local, out->envelope_from, (size_t)(at - out->envelope_from));
	local[at - out->envelope_from] = '\0';
	rc = store_address_find(s, local, at + 1, id_r, errstr_r);
	return rc == 1 && *id_r != out->sender_address_id ? 1 : rc < 0 ? -1 : 0;
}

/*
 * A submission's entry in the action history of its sender (and of the
 * address it was sent as), in the transaction of the send_log row: an entry
 * exists exactly when the message was accepted. The actor is the
 * authenticated address.
 */
static int send_history(struct store *s, const struct store_outbound *out, int64_t when, const char **errstr_r)
{
	unsigned n = out->send_log_count;
	char detail[STORE_OUTBOUND_MSGID_SIZE + ADDRESS_MAX + 80];
	int64_t as_id = 0;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = sent_as(s, out, &as_id, errstr_r)) < 0)
		return -1;
	snprintf(detail, sizeof(detail), "%u recipient%s%s%s%s%s", n, n == 1 ? "" : "s",
		 out->message_id[0] != '\0' ? ", Message-ID " : "", out->message_id, rc == 1 ? ", as " : "",
		 rc == 1 ? out->envelope_from : "");
	if (store_history_add(s, out->sender_address_id, when, out->sender_address, "send", detail, out->client_ip,
			      errstr_r) < 0)
		return -1;
	/* a shared address's history shows who sent as it */
	return rc == 1 ? store_history_add(s, as_id, when, out->sender_address, "send", detail, out->client_ip,
					   errstr_r)
		       : 0;
}

int store_queue_insert(struct store *s, const struct store_outbound *out, int64_t body_id, int64_t internal_date,
		       const char **errstr_r)
{
	int64_t entry_id;

	if (send_log_insert(s, out, internal_date, errstr_r) < 0 || send_history(s, out, internal_date, errstr_r) < 0)
		return -1;
	if (out->rcpt_count == 0)
		return 0; /* every recipient was local */
	if (entry_insert(s, out, body_id, internal_date, &entry_id, errstr_r) < 0)
		return -1;
	return rcpts_insert(s, out, entry_id, errstr_r);
}

/* ---- reading ---- */

#define PENDING_COUNT \
	"(SELECT count(*) FROM queue_recipients r WHERE r.message_id = q.id AND r.status IN ('pending', 'deferred'))"
#define ENTRY_COLUMNS                                                                                        \
	"SELECT q.id, q.body_id, b.length, q.envelope_from, coalesce(q.address_id, 0), coalesce(q.envid, ''), " \
	"q.ret, q.created_at, q.next_attempt, q.attempts, q.delay_notified, q.held, " PENDING_COUNT ", "        \
	"q.prefix FROM queue_messages q JOIN bodies b ON b.id = q.body_id "

static void entry_row(sqlite3_stmt *st, struct store_queue_entry *e)
{
	char ret[8];

	e->id = sqlite3_column_int64(st, 0);
	e->body_id = sqlite3_column_int64(st, 1);
	e->size = (uint64_t)sqlite3_column_int64(st, 2);
	store_col_copy(st, 3, e->envelope_from, sizeof(e->envelope_from));
	e->sender_address_id = sqlite3_column_int64(st, 4);
	store_col_copy(st, 5, e->envid, sizeof(e->envid));
	store_col_copy(st, 6, ret, sizeof(ret));
	e->ret = ret_parse(ret);
	e->created_at = sqlite3_column_int64(st, 7);
	e->next_attempt = sqlite3_column_int64(st, 8);
	e->attempts = (unsigned)sqlite3_column_int64(st, 9);
	e->delay_notified = sqlite3_column_int64(st, 10) != 0;
	e->held = sqlite3_column_int64(st, 11) != 0;
	e->pending = (unsigned)sqlite3_column_int64(st, 12);
	store_col_copy(st, 13, e->prefix, sizeof(e->prefix));
}

/* Steps st (bound by the caller) and calls cb for each entry. */
static int entries_each(struct store *s, sqlite3_stmt *st, void (*cb)(const struct store_queue_entry *e, void *arg),
			void *arg, const char **errstr_r)
{
	struct store_queue_entry *e = xmalloc(sizeof(*e)); /* 5 KiB: not on a thread's stack */
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		entry_row(st, e);
		cb(e, arg);
	}
	sqlite3_reset(st);
	free(e);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_queue_due(struct store *s, int64_t now, size_t max,
		    void (*cb)(const struct store_queue_entry *e, void *arg), void *arg, const char **errstr_r)
{
	/* the longest overdue first; entries due at the same time in arrival order */
	static const char sql[] = ENTRY_COLUMNS "WHERE q.held = 0 AND q.next_attempt <= ?1 AND " PENDING_COUNT
				  " > 0 ORDER BY q.next_attempt, q.id LIMIT ?2";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	return entries_each(s, st, cb, arg, errstr_r);
}

int store_queue_next_due(struct store *s, int64_t *when_r, const char **errstr_r)
{
	static const char sql[] = "SELECT coalesce(min(q.next_attempt), 0) FROM queue_messages q"
				  " WHERE q.held = 0 AND " PENDING_COUNT " > 0";

	*when_r = 0;
	return store_run_id(s, sql, when_r, errstr_r, 0) < 0 ? -1 : 0;
}

int store_queue_get(struct store *s, int64_t id, struct store_queue_entry *e_r, const char **errstr_r)
{
	static const char sql[] = ENTRY_COLUMNS "WHERE q.id = ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		entry_row(st, e_r);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		not_found(s, id, errstr_r); /* for callers that report it */
		return 0;
	}
	return store_dberr(s, errstr_r, "database error");
}

int store_queue_list(struct store *s, void (*cb)(const struct store_queue_entry *e, void *arg), void *arg,
		     const char **errstr_r)
{
	static const char sql[] = ENTRY_COLUMNS "ORDER BY q.created_at DESC, q.id DESC";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	return st == NULL ? -1 : entries_each(s, st, cb, arg, errstr_r);
}

/* 0 if entry id exists, else -1 with "queue entry N does not exist". */
static int entry_need(struct store *s, int64_t id, const char **errstr_r)
{
	static const char sql[] = "SELECT id FROM queue_messages WHERE id = ?";
	int rc = store_run_id(s, sql, NULL, errstr_r, 1, id);

	if (rc == 0)
		return not_found(s, id, errstr_r);
	return rc < 0 ? -1 : 0;
}

static void rcpt_row(sqlite3_stmt *st, struct store_queue_rcpt *r)
{
	char status[16];

	r->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, r->address, sizeof(r->address));
	store_col_copy(st, 2, r->orcpt, sizeof(r->orcpt));
	r->notify = (unsigned)sqlite3_column_int64(st, 3);
	store_col_copy(st, 4, status, sizeof(status));
	r->status = status_parse(status);
	store_col_copy(st, 5, r->last_reply, sizeof(r->last_reply));
	store_col_copy(st, 6, r->remote_mta, sizeof(r->remote_mta));
	r->last_attempt = sqlite3_column_int64(st, 7);
}

int store_queue_recipients(struct store *s, int64_t id, void (*cb)(const struct store_queue_rcpt *r, void *arg),
			   void *arg, const char **errstr_r)
{
	static const char sql[] = "SELECT id, address, dsn_orcpt, dsn_notify, status, last_reply, remote_mta,"
				  " last_attempt FROM queue_recipients WHERE message_id = ? ORDER BY id";
	struct store_queue_rcpt r;
	sqlite3_stmt *st;
	int rc;

	if (entry_need(s, id, errstr_r) < 0 || (st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rcpt_row(st, &r);
		cb(&r, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* ---- attempts and administration ---- */

/*
 * Deletes entry id (its recipients cascade) and drops its body reference:
 * 1, 0 (no such entry) or -1. The row goes first, so the body is no longer
 * "needed by the queue" when its last reference is released.
 */
static int entry_release(struct store *s, int64_t id, struct store_ids *dead, const char **errstr_r)
{
	static const char sql[] = "DELETE FROM queue_messages WHERE id = ? RETURNING body_id";
	int64_t body_id;
	int rc = store_run_id(s, sql, &body_id, errstr_r, 1, id);

	if (rc <= 0)
		return rc;
	return store_bodies_release(s, &body_id, 1, dead, errstr_r) < 0 ? -1 : 1;
}

/* A reply of at most STORE_QUEUE_REPLY_MAX - 1 bytes, never cut inside a UTF-8 sequence. */
static void bind_reply(sqlite3_stmt *st, int col, const char *reply)
{
	size_t len = reply != NULL ? strlen(reply) : 0;

	if (len > STORE_QUEUE_REPLY_MAX - 1) {
		len = STORE_QUEUE_REPLY_MAX - 1;
		while (len > 0 && ((unsigned char)reply[len] & 0xc0) == 0x80)
			len--;
	}
	sqlite3_bind_text(st, col, reply != NULL ? reply : "", (int)len, SQLITE_STATIC);
}

static int rcpt_record(struct store *s, int64_t id, const struct store_queue_result *r, int64_t now,
		       const char **errstr_r)
{
	static const char sql[] = "UPDATE queue_recipients SET status = ?, last_reply = ?, remote_mta = ?,"
				  " last_attempt = ? WHERE id = ? AND message_id = ?";
	sqlite3_stmt *st;

	if ((unsigned)r->status > STORE_QRCPT_FAILED)
		return store_errf(s, errstr_r, "unknown recipient status %d", (int)r->status);
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, status_names[r->status], -1, SQLITE_STATIC);
	bind_reply(st, 2, r->reply);
	sqlite3_bind_text(st, 3, r->remote_mta != NULL ? r->remote_mta : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, r->rcpt_id);
	sqlite3_bind_int64(st, 6, id);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return store_errf(s, errstr_r, "recipient %lld is not one of queue entry %lld", (long long)r->rcpt_id,
				  (long long)id);
	return 0;
}

static int record_txn(struct store *s, int64_t id, const struct store_queue_result *results, size_t count,
		      int64_t now, int64_t next_attempt, bool delay_notified, struct store_ids *dead,
		      const char **errstr_r)
{
	static const char sql_entry[] = "UPDATE queue_messages SET attempts = attempts + 1, next_attempt = ?2,"
					" first_attempt = coalesce(first_attempt, ?3),"
					" delay_notified = max(delay_notified, ?4) WHERE id = ?1";
	static const char sql_pending[] = "SELECT count(*) FROM queue_recipients"
					  " WHERE message_id = ? AND status IN ('pending', 'deferred')";
	int64_t pending = 0;

	if (entry_need(s, id, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (rcpt_record(s, id, &results[i], now, errstr_r) < 0)
			return -1;
	}
	if (store_run(s, sql_entry, errstr_r, 4, id, next_attempt, now, (int64_t)(delay_notified ? 1 : 0)) < 0 ||
	    store_run_id(s, sql_pending, &pending, errstr_r, 1, id) < 0)
		return -1;
	if (pending == 0 && entry_release(s, id, dead, errstr_r) < 0)
		return -1;
	return 0;
}

/* Runs a release-style transaction, then unlinks the segments it emptied. */
static int commit_and_unlink(struct store *s, int rc, struct store_ids *dead, const char **errstr_r)
{
	if (rc < 0)
		store_rollback(s);
	else if (store_commit(s, errstr_r) < 0)
		rc = -1;
	/* after the commit: a crash before the unlink only leaks the file */
	if (rc >= 0)
		store_segments_unlink(s, dead->v, dead->n);
	free(dead->v);
	return rc;
}

int store_queue_record(struct store *s, int64_t id, const struct store_queue_result *results, size_t count,
		       int64_t now, int64_t next_attempt, bool delay_notified, const char **errstr_r)
{
	struct store_ids dead = { 0 };
	int rc;

	if (store_begin(s, errstr_r) < 0)
		return -1;
	rc = record_txn(s, id, results, count, now, next_attempt, delay_notified, &dead, errstr_r);
	return commit_and_unlink(s, rc, &dead, errstr_r);
}

/* One attempt of a group, in its own savepoint: it fails alone. */
static void record_one(struct store *s, struct store_queue_attempt *a, struct store_ids *dead)
{
	struct store_ids mine = { 0 };
	const char *err = NULL;

	a->rc = store_begin(s, &err);
	if (a->rc == 0)
		a->rc = record_txn(s, a->id, a->results, a->count, a->now, a->next_attempt, a->delay_notified, &mine,
				   &err);
	if (a->rc == 0)
		a->rc = store_commit(s, &err);
	else if (s->txn_depth > 1)
		store_rollback(s);
	if (a->rc < 0)
		snprintf(a->err, sizeof(a->err), "%s", err != NULL ? err : "store failure");
	for (size_t i = 0; a->rc == 0 && i < mine.n; i++)
		store_ids_push(dead, mine.v[i]); /* segments emptied by what is kept */
	free(mine.v);
}

int store_queue_record_many(struct store *s, struct store_queue_attempt *attempts, size_t n, const char **errstr_r)
{
	struct store_ids dead = { 0 };

	if (store_begin(s, errstr_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		record_one(s, &attempts[i], &dead);
	return commit_and_unlink(s, 0, &dead, errstr_r);
}

int store_queue_remove(struct store *s, int64_t id, const char **errstr_r)
{
	struct store_ids dead = { 0 };
	int rc;

	if (store_begin(s, errstr_r) < 0)
		return -1;
	rc = entry_release(s, id, &dead, errstr_r);
	return commit_and_unlink(s, rc, &dead, errstr_r);
}

int store_queue_hold(struct store *s, int64_t id, bool held, const char **errstr_r)
{
	static const char sql[] = "UPDATE queue_messages SET held = ? WHERE id = ?";

	if (store_run(s, sql, errstr_r, 2, (int64_t)(held ? 1 : 0), id) < 0)
		return -1;
	return sqlite3_changes(s->db) == 0 ? not_found(s, id, errstr_r) : 0;
}

int store_queue_retry(struct store *s, int64_t id, const char **errstr_r)
{
	static const char sql[] = "UPDATE queue_messages SET held = 0, next_attempt = min(next_attempt, ?2)"
				  " WHERE id = ?1";

	if (store_run(s, sql, errstr_r, 2, id, (int64_t)time(NULL)) < 0)
		return -1;
	return sqlite3_changes(s->db) == 0 ? not_found(s, id, errstr_r) : 0;
}

/* ---- sending limits and permissions ---- */

int store_send_count(struct store *s, int64_t address_id, int64_t since, uint64_t *count_r, int64_t *oldest_r,
		     const char **errstr_r)
{
	/* "> since": a row sent exactly at since has just left the window, so
	 * sending resumes at oldest + window, as the refusal says */
	static const char sql[] = "SELECT coalesce(sum(recipients), 0), coalesce(min(sent_at), 0) FROM send_log"
				  " WHERE address_id = ? AND sent_at > ?";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	*count_r = 0;
	*oldest_r = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, address_id);
	sqlite3_bind_int64(st, 2, since);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 0);

		*count_r = n > 0 ? (uint64_t)n : 0;
		*oldest_r = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_dberr(s, errstr_r, "database error");
}

int store_may_send_as(struct store *s, int64_t auth_address_id, const char *from, const char **errstr_r)
{
	/*
	 * local and domain columns are COLLATE NOCASE: both tests are
	 * case-insensitive. A catchall receives only (issue 5): no right on it,
	 * however granted, makes it a sender.
	 */
	static const char sql[] =
		"SELECT EXISTS (SELECT 1 FROM addresses a JOIN domains d ON d.id = a.domain_id"
		"  WHERE a.id = ?1 AND a.local = ?2 AND d.name = ?3 AND a.kind <> 'catchall')"
		" OR EXISTS (SELECT 1 FROM access mine JOIN access other ON other.account_id = mine.account_id"
		"  JOIN addresses a ON a.id = other.address_id JOIN domains d ON d.id = a.domain_id"
		"  WHERE mine.address_id = ?1 AND mine.perms != 0 AND (other.perms & ?4) != 0"
		"  AND a.local = ?2 AND d.name = ?3 AND a.kind <> 'catchall')";
	const char *at = from != NULL ? strrchr(from, '@') : NULL;
	sqlite3_stmt *st;
	int64_t yes = 0;

	if (at == NULL || at == from || at[1] == '\0')
		return 0; /* not local@domain: nobody sends as that */
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, auth_address_id);
	sqlite3_bind_text(st, 2, from, (int)(at - from), SQLITE_STATIC);
	sqlite3_bind_text(st, 3, at + 1, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, PERM_SEND);
	if (store_step_id(s, st, &yes, errstr_r) < 0)
		return -1;
	return yes != 0 ? 1 : 0;
}

/* ---- DKIM keys ---- */

int store_domain_dkim_get(struct store *s, const char *domain, char *selector_r, size_t selector_size,
			  char **private_pem_r, const char **errstr_r)
{
	static const char sql[] = "SELECT dkim_selector, dkim_private_key FROM domains WHERE name = ?"
				  " AND coalesce(dkim_selector, '') != '' AND coalesce(dkim_private_key, '') != ''";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);
	int rc;

	*private_pem_r = NULL;
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((size_t)sqlite3_column_bytes(st, 0) >= selector_size) {
			sqlite3_reset(st);
			return store_errf(s, errstr_r, "the DKIM selector of %s is longer than %zu bytes", domain,
					  selector_size - 1);
		}
		store_col_copy(st, 0, selector_r, selector_size);
		*private_pem_r = xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_dberr(s, errstr_r, "database error");
}

/* A selector is a DNS name under _domainkey (RFC 6376 3.1): labels of letters, digits and '-'. */
static bool selector_valid(const char *sel)
{
	size_t label = 0, len = strlen(sel);

	if (len == 0 || len > 63 || sel[0] == '.' || sel[len - 1] == '.')
		return false;
	for (const char *p = sel; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
		label++;
	}
	return true;
}

int store_domain_dkim_set(struct store *s, const char *domain, const char *selector, const char *private_pem,
			  const char **errstr_r)
{
	static const char sql[] = "UPDATE domains SET dkim_selector = ?, dkim_private_key = ? WHERE name = ?";
	sqlite3_stmt *st;

	if (!selector_valid(selector))
		return store_errf(s, errstr_r, "DKIM selector '%s' is not valid: use letters, digits and '-' (dot-separated)",
				  selector);
	if (strncmp(private_pem, "-----BEGIN ", 11) != 0)
		return store_errf(s, errstr_r, "the DKIM private key is not in PEM form");
	if ((st = store_stmt(s, sql, errstr_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, selector, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, private_pem, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
	if (store_step_done(s, st, errstr_r) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return store_errf(s, errstr_r, "domain %s does not exist", domain);
	return 0;
}
