/*
 * pop3_session: the life of one POP3 connection (RFC 1939 section 3).
 *
 * AUTHORIZATION -> TRANSACTION -> UPDATE, through pop3_set_state, the one
 * transition function. Around them: SASL (inside AUTH), TLS (STLS
 * handshake) and LOGIN (the password check, the maildrop lock and the
 * snapshot, all asynchronous). While an asynchronous step is pending the
 * session stops reading, so pipelined commands (RFC 2449 PIPELINING) wait
 * in the input buffer and are answered in order.
 *
 * The maildrop is a snapshot of the INBOX taken at login: numbers, sizes
 * and UIDL values stay fixed for the session whatever IMAP does meanwhile.
 * DELE only marks; the marked messages are expunged, durably, when QUIT
 * enters UPDATE, and the +OK comes after that. A session that ends any
 * other way deletes nothing.
 *
 * RETR and TOP stream: one chunk at a time is read on a store reader
 * thread, filtered (pop3_msg.h) into the output, and the next is read only
 * when the client has taken most of the output. Memory per session stays
 * bounded whatever the message size. A read fills its buffer or reaches
 * the end of the body on the reader thread, so a message smaller than a
 * chunk costs one round trip to the thread, not two.
 *
 * Read-ahead: clients fetch in order (RETR 1, RETR 2, ...), one at a time,
 * and a round trip to a reader thread per message cost more than the
 * client's own round trip. So once a RETR/TOP has been sent, the small
 * messages after it (up to POP3_PREFETCH_MAX bytes altogether, see
 * pop3_private.h) are read into s->prefetch in one store call while the
 * client reads the answer; their RETR/TOP are then answered from memory at
 * once, or, if the read is still in flight, when it lands. The read-ahead
 * is not s->job: other commands go on meanwhile. Once its last message has
 * been sent the next one is started. Asking for a message outside it, QUIT
 * and the end of the session drop it (an in-flight one is cancelled: its
 * closure is freed when the thread is done). The session never holds more
 * than one. The messages' contents never change, so a copy read ahead is
 * as good as one read later.
 *
 * DIAGNOSTICS: every failure a client causes gets an -ERR that names it,
 * and at worst the end of its own session; nothing here exits the process.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "pop3/pop3_private.h"
#include "pop3/pop3_server.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "store/store_manage.h"

static const char *const state_names[] = {
	[POP3_STATE_AUTHORIZATION] = "authorization", [POP3_STATE_SASL] = "sasl",
	[POP3_STATE_TLS] = "tls",		      [POP3_STATE_LOGIN] = "login",
	[POP3_STATE_TRANSACTION] = "transaction",     [POP3_STATE_UPDATE] = "update",
};

#define S(x) (1u << POP3_STATE_##x)
/* Legal moves, per current state. */
static const unsigned transitions[POP3_STATE_COUNT] = {
	[POP3_STATE_AUTHORIZATION] = S(SASL) | S(TLS) | S(LOGIN),
	[POP3_STATE_SASL] = S(AUTHORIZATION) | S(LOGIN) | S(SASL),
	[POP3_STATE_TLS] = S(AUTHORIZATION),
	[POP3_STATE_LOGIN] = S(AUTHORIZATION) | S(TRANSACTION),
	[POP3_STATE_TRANSACTION] = S(UPDATE),
	[POP3_STATE_UPDATE] = 0,
};
#undef S

static void session_free(struct pop3_session *s);

void pop3_set_state(struct pop3_session *s, enum pop3_state state)
{
	ASSERT(transitions[s->state] & (1u << state));
	log_debug("pop3 session=%s state=%s->%s", s->id, state_names[s->state], state_names[state]);
	s->state = state;
}

void pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_vreply(s->conn, fmt, ap);
	va_end(ap);
}

enum pop3_flow pop3_close(struct pop3_session *s, const char *fmt, ...)
{
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		conn_vreply(s->conn, fmt, ap);
		va_end(ap);
	}
	session_free(s);
	return POP3_FLOW_CLOSED;
}

enum pop3_flow pop3_count_error(struct pop3_session *s)
{
	if (++s->errors < s->cfg->max_errors)
		return POP3_FLOW_CONTINUE;
	log_info("pop3 session=%s event=disconnect reason=too-many-errors errors=%u", s->id, s->errors);
	return pop3_close(s, "-ERR Too many errors, closing the connection");
}

static bool busy(const struct pop3_session *s)
{
	return s->job != NULL || s->prefetch_wait || s->auth_pending != NULL || s->state == POP3_STATE_TLS;
}

void pop3_update_reading(struct pop3_session *s)
{
	if (busy(s) || s->output_blocked)
		conn_pause_read(s->conn);
	else
		conn_resume_read(s->conn);
}

/* Before login the command timeout; once logged in the (longer) idle timeout; none while we work. */
static void arm_timer(struct pop3_session *s)
{
	unsigned seconds = s->state == POP3_STATE_TRANSACTION ? s->cfg->idle_timeout_s : s->cfg->command_timeout_s;
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };

	if (s->auth_pending != NULL || s->state == POP3_STATE_UPDATE || s->state == POP3_STATE_LOGIN)
		evtimer_del(s->timer);
	else
		evtimer_add(s->timer, &tv);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;

	log_info("pop3 session=%s event=disconnect reason=timeout state=%s", s->id, state_names[s->state]);
	pop3_close(s, "-ERR Disconnected for inactivity");
}

bool pop3_auth_allowed(const struct pop3_session *s)
{
	const char *ip = conn_peer_ip(s->conn);

	if (conn_is_tls(s->conn) || s->cfg->plaintext_auth == PLAINTEXT_AUTH_ALWAYS)
		return true;
	return s->cfg->plaintext_auth == PLAINTEXT_AUTH_LOOPBACK &&
	       (strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0 || strcmp(ip, "::ffff:127.0.0.1") == 0);
}

/* Counted once per change, not per STAT/LIST: pipelining clients send STAT often. */
static void count_live(struct pop3_session *s)
{
	s->live_count = 0;
	s->live_bytes = 0;
	for (size_t i = 0; i < s->count; i++) {
		if (!s->msgs[i].deleted) {
			s->live_count++;
			s->live_bytes += s->msgs[i].size;
		}
	}
}

void pop3_maildrop_stat(const struct pop3_session *s, size_t *count_r, uint64_t *bytes_r)
{
	*count_r = s->live_count;
	*bytes_r = s->live_bytes;
}

/* ---- store calls ------------------------------------------------------------------ */

enum job_kind { JOB_SNAPSHOT, JOB_READ, JOB_PREFETCH, JOB_EXPUNGE };

/* One message of a read-ahead: its bytes land in buf[off, off + len). */
struct ahead {
	size_t index;
	int64_t body_id;
	size_t off, cap; /* its room in buf: size + 1 */
	size_t len;
	bool eof;
};

/* The closure of one store call: it outlives the session if the session goes first. */
struct pop3_job {
	struct pop3_session *s; /* not to be touched once cancelled */
	enum job_kind kind;
	struct store_req *req;
	/* in */
	int64_t address_id, folder_id, body_id;
	uint64_t offset;
	size_t buf_size; /* JOB_READ, JOB_PREFETCH */
	struct ahead *ahead; /* JOB_PREFETCH: the messages, in order */
	size_t ahead_count;
	size_t ahead_next; /* the first not sent yet (loop thread) */
	uint32_t *uids;
	size_t uid_count;
	struct pop3_history *history; /* JOB_EXPUNGE: who deleted, for the address's history */
	/* out */
	int rc; /* -1 error, 0 not found (snapshot), 1 ok */
	char err[256];
	uint32_t uidvalidity;
	struct pop3_message *msgs;
	size_t count, cap;
	size_t nread;
	bool eof; /* the read reached the end of the body */
	unsigned expunged;
	char *buf; /* buf_size bytes */
};

/* Copied from the session: the job runs on a store thread. */
struct pop3_history {
	int64_t address_id;
	char address[320];
	char ip[64];
};

static void job_free(struct pop3_job *j)
{
	free(j->history);
	free(j->uids);
	free(j->msgs);
	free(j->buf);
	free(j->ahead);
	free(j);
}

/* The address's action history: what a POP3 client deleted (best effort, after the commit). */
static void record_deletion(struct store *st, const struct pop3_job *j)
{
	const char *err = NULL;
	char detail[64];

	snprintf(detail, sizeof(detail), "pop3: %zu message%s", j->uid_count, j->uid_count == 1 ? "" : "s");
	if (store_history_add(st, j->history->address_id, (int64_t)time(NULL), j->history->address, "delete", detail,
			      j->history->ip, &err) < 0)
		log_warn("pop3 event=history-failed address=%s error=\"%s\"", j->history->address,
			 err ? err : "unknown");
}

static void job_error(struct pop3_job *j, const char *errstr)
{
	j->rc = -1;
	snprintf(j->err, sizeof(j->err), "%s", errstr ? errstr : "unknown error");
}

static int snapshot_add(const struct store_mail *m, void *arg)
{
	struct pop3_job *j = arg;

	if (j->count == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 64;
		j->msgs = xrealloc(j->msgs, j->cap * sizeof(*j->msgs));
	}
	j->msgs[j->count++] = (struct pop3_message){ .uid = m->uid, .size = m->size, .body_id = m->body_id };
	return 0;
}

/* Store threads from here to job_done: only the job, never the session. */

/* Fills buf, or reads to the end of the body (then eof): a short message is one trip to the thread. */
static int read_body(struct store *st, int64_t body_id, uint64_t offset, char *buf, size_t size, size_t *len_r,
		     bool *eof_r, const char **err)
{
	size_t n;

	*len_r = 0;
	*eof_r = false;
	while (*len_r < size) {
		if (store_body_pread(st, body_id, offset + *len_r, buf + *len_r, size - *len_r, &n, err) < 0)
			return -1;
		if (n == 0) {
			*eof_r = true;
			break;
		}
		*len_r += n;
	}
	return 1;
}

/* A read-ahead keeps the messages read before a failure; it fails only if the first one does. */
static int read_ahead(struct store *st, struct pop3_job *j, const char **err)
{
	for (size_t k = 0; k < j->ahead_count; k++) {
		struct ahead *a = &j->ahead[k];
		if (read_body(st, a->body_id, 0, j->buf + a->off, a->cap, &a->len, &a->eof, err) < 0) {
			j->ahead_count = k;
			return k > 0 ? 1 : -1;
		}
	}
	return 1;
}

static void job_work(struct store *st, void *arg)
{
	struct pop3_job *j = arg;
	struct store_folder_status fs;
	const char *err = NULL;

	switch (j->kind) {
	case JOB_SNAPSHOT:
		j->rc = store_folder_status(st, j->address_id, "INBOX", &fs, &err);
		if (j->rc == 1) {
			j->folder_id = fs.folder_id;
			j->uidvalidity = fs.uidvalidity;
			if (store_mail_list(st, fs.folder_id, 1, 0, snapshot_add, j, &err) < 0)
				j->rc = -1;
		}
		break;
	case JOB_READ:
		j->rc = read_body(st, j->body_id, j->offset, j->buf, j->buf_size, &j->nread, &j->eof, &err);
		break;
	case JOB_PREFETCH:
		j->rc = read_ahead(st, j, &err);
		break;
	case JOB_EXPUNGE:
		j->rc = store_mail_expunge(st, j->folder_id, j->uids, j->uid_count, NULL, NULL, &err) < 0 ? -1 : 1;
		if (j->rc == 1)
			record_deletion(st, j);
		break;
	}
	if (j->rc < 0)
		job_error(j, err);
}

static void snapshot_done(struct pop3_session *s, struct pop3_job *j);
static void read_done(struct pop3_session *s, struct pop3_job *j);
static void prefetch_done(struct pop3_session *s, struct pop3_job *j);
static void expunge_done(struct pop3_session *s, struct pop3_job *j);

static void job_done(void *arg, bool cancelled)
{
	struct pop3_job *j = arg;
	struct pop3_session *s = j->s;

	if (cancelled) {
		job_free(j);
		return;
	}
	j->req = NULL; /* invalid once done has run */
	if (j->kind == JOB_PREFETCH) {
		prefetch_done(s, j); /* never s->job */
		return;
	}
	s->job = NULL;
	switch (j->kind) {
	case JOB_SNAPSHOT:
		snapshot_done(s, j);
		break;
	case JOB_READ:
		read_done(s, j);
		break;
	case JOB_PREFETCH:
		break;
	case JOB_EXPUNGE:
		expunge_done(s, j);
		break;
	}
}

static struct pop3_job *job_new(struct pop3_session *s, enum job_kind kind)
{
	struct pop3_job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->kind = kind;
	return j;
}

static void job_start(struct pop3_session *s, struct pop3_job *j, enum store_call_kind kind)
{
	ASSERT(s->job == NULL);
	s->job = j;
	evtimer_del(s->timer);
	j->req = store_async_call(s->server->store, kind, job_work, job_done, j);
	pop3_update_reading(s);
}

/* ---- login ------------------------------------------------------------------------ */

static bool locked_elsewhere(const struct pop3_session *s, int64_t address_id)
{
	for (const struct pop3_session *o = s->server->sessions; o != NULL; o = o->next)
		if (o != s && o->locked && o->address_id == address_id)
			return true;
	return false;
}

/* Continues after an asynchronous step: input waiting in the buffer is handled now. */
static void resume(struct pop3_session *s)
{
	if (s->closing && !busy(s)) {
		pop3_close(s, "-ERR [SYS/TEMP] Server shutting down, try again later");
		return;
	}
	arm_timer(s);
	pop3_update_reading(s);
	pop3_process_input(s);
}

static void login_refused(struct pop3_session *s, const char *code, const char *message, bool count)
{
	pop3_reply(s, "-ERR %s %s", code, message);
	pop3_set_state(s, POP3_STATE_AUTHORIZATION);
	if (count && pop3_count_error(s) == POP3_FLOW_CLOSED)
		return;
	resume(s);
}

static void on_auth(enum auth_result result, const struct auth_identity *id, const char *message, void *arg)
{
	struct pop3_session *s = arg;

	s->auth_pending = NULL;
	switch (result) {
	case AUTH_OK:
		break;
	case AUTH_FAILED:
	case AUTH_THROTTLED:
		login_refused(s, "[AUTH]", message, true);
		return;
	case AUTH_TEMPFAIL:
		login_refused(s, "[SYS/TEMP]", message, false);
		return;
	}
	if (locked_elsewhere(s, id->address_id)) {
		log_info("pop3 session=%s event=login-refused address=%s reason=in-use", s->id, id->address);
		login_refused(s, "[IN-USE]", "Mailbox is locked by another POP3 session", false);
		return;
	}
	/* RFC 1939 8: the lock is exclusive from here until the session ends. */
	s->locked = true;
	s->address_id = id->address_id;
	snprintf(s->address, sizeof(s->address), "%s", id->address);
	struct pop3_job *j = job_new(s, JOB_SNAPSHOT);
	j->address_id = id->address_id;
	job_start(s, j, STORE_CALL_READ);
}

static void snapshot_done(struct pop3_session *s, struct pop3_job *j)
{
	size_t n;
	uint64_t bytes;

	if (j->rc != 1) {
		log_error("pop3 session=%s event=maildrop-failed address=%s error=\"%s\"", s->id, s->address,
			  j->rc == 0 ? "the address has no INBOX" : j->err);
		s->locked = false;
		job_free(j);
		login_refused(s, "[SYS/TEMP]", "Cannot open the maildrop, try again later", false);
		return;
	}
	s->folder_id = j->folder_id;
	s->uidvalidity = j->uidvalidity;
	s->msgs = j->msgs;
	s->count = j->count;
	j->msgs = NULL;
	count_live(s);
	job_free(j);
	pop3_set_state(s, POP3_STATE_TRANSACTION);
	pop3_maildrop_stat(s, &n, &bytes);
	log_info("pop3 session=%s event=login address=%s messages=%zu size=%llu", s->id, s->address, n,
		 (unsigned long long)bytes);
	pop3_reply(s, "+OK Logged in, maildrop has %zu messages (%llu octets)", n, (unsigned long long)bytes);
	resume(s);
}

void pop3_login(struct pop3_session *s, const char *user, const char *password)
{
	pop3_set_state(s, POP3_STATE_LOGIN);
	s->have_user = false;
	s->auth_pending = auth_login(s->server->auth, "pop3", conn_peer_ip(s->conn), user, password, on_auth, s);
	arm_timer(s);
	pop3_update_reading(s);
}

/* ---- output batching ------------------------------------------------------------- */

/*
 * The filter emits a line's bytes and its CRLF separately; a conn_write per
 * piece went through the bufferevent (lock, callbacks) twice per line.
 * Pieces are gathered here and written a few KiB at a time.
 */
struct out_batch {
	struct conn *conn;
	size_t len;
	char buf[16384];
};

static void batch_flush(struct out_batch *b)
{
	if (b->len > 0)
		conn_write(b->conn, b->buf, b->len);
	b->len = 0;
}

static void batch_emit(const char *p, size_t len, void *arg)
{
	struct out_batch *b = arg;

	if (len > sizeof(b->buf) - b->len) {
		batch_flush(b);
		if (len > sizeof(b->buf)) {
			conn_write(b->conn, p, len);
			return;
		}
	}
	memcpy(b->buf + b->len, p, len);
	b->len += len;
}

/* ---- RETR / TOP ----------------------------------------------------------------- */

static void stream_next(struct pop3_session *s)
{
	struct pop3_job *j = job_new(s, JOB_READ);

	j->body_id = s->msgs[s->stream_index].body_id;
	j->offset = s->stream_offset;
	j->buf_size = POP3_CHUNK_SIZE;
	j->buf = xmalloc(j->buf_size);
	job_start(s, j, STORE_CALL_READ);
}

static void prefetch_drop(struct pop3_session *s)
{
	struct pop3_job *j = s->prefetch;

	if (j == NULL)
		return;
	ASSERT(!s->prefetch_wait);
	s->prefetch = NULL;
	if (j->req != NULL)
		store_req_cancel(j->req); /* the thread may be filling j->buf: its done frees j */
	else
		job_free(j);
}

void pop3_mark_deleted(struct pop3_session *s, size_t index)
{
	ASSERT(index < s->count && !s->msgs[index].deleted);
	s->msgs[index].deleted = true;
	s->live_count--;
	s->live_bytes -= s->msgs[index].size;
}

void pop3_unmark_all(struct pop3_session *s)
{
	for (size_t i = 0; i < s->count; i++)
		s->msgs[i].deleted = false;
	count_live(s);
}

/* Reads ahead the messages after index, if any are worth it (see the top of the file). */
static void prefetch_start(struct pop3_session *s, size_t index)
{
	size_t picked[POP3_PREFETCH_MSGS], n, off = 0;
	struct pop3_job *j;

	if (s->prefetch != NULL || s->closing || s->server->shutting_down || s->state != POP3_STATE_TRANSACTION)
		return;
	n = pop3_prefetch_pick(s->msgs, s->count, index, POP3_PREFETCH_MAX, POP3_PREFETCH_MSGS, picked);
	if (n == 0)
		return;
	j = job_new(s, JOB_PREFETCH);
	j->ahead = xcalloc(n, sizeof(*j->ahead));
	j->ahead_count = n;
	for (size_t k = 0; k < n; k++) {
		struct ahead *a = &j->ahead[k];
		a->index = picked[k];
		a->body_id = s->msgs[picked[k]].body_id;
		a->off = off;
		/* One byte more than the size: the read then finds the end in the same trip. */
		a->cap = (size_t)s->msgs[picked[k]].size + 1;
		off += a->cap;
	}
	ASSERT(off <= POP3_PREFETCH_MAX);
	j->buf_size = off;
	j->buf = xmalloc(off);
	s->prefetch = j;
	j->req = store_async_call(s->server->store, STORE_CALL_READ, job_work, job_done, j);
}

/* Sends len bytes of the message being sent; ends the answer at the end of it. */
static void stream_feed(struct pop3_session *s, const char *p, size_t len, bool eof)
{
	struct out_batch b;

	b.conn = s->conn;
	b.len = 0;
	if (!s->stream_started) {
		/* The status line goes out in the same write as the start of the message. */
		int n = s->filter.top ? snprintf(b.buf, sizeof(b.buf), "+OK Top of message follows\r\n")
				      : snprintf(b.buf, sizeof(b.buf), "+OK %llu octets\r\n",
						 (unsigned long long)s->msgs[s->stream_index].size);
		ASSERT(n > 0 && (size_t)n < sizeof(b.buf));
		b.len = (size_t)n;
		s->stream_started = true;
	}
	pop3_msg_filter_feed(&s->filter, p, len, batch_emit, &b);
	s->stream_offset += len;
	if (eof || s->filter.done) {
		pop3_msg_filter_finish(&s->filter, batch_emit, &b);
		s->streaming = false;
	}
	batch_flush(&b);
}

/* The read-ahead's entry for message index (not sent yet), or NULL. */
static struct ahead *prefetch_find(struct pop3_job *pf, size_t index)
{
	for (size_t k = pf->ahead_next; k < pf->ahead_count; k++)
		if (pf->ahead[k].index == index)
			return &pf->ahead[k];
	return NULL;
}

/* Answers the RETR/TOP started from its read-ahead entry a, now. */
static void prefetch_serve(struct pop3_session *s, struct ahead *a)
{
	struct pop3_job *pf = s->prefetch;

	ASSERT(pf != NULL && pf->req == NULL);
	pf->ahead_next = (size_t)(a - pf->ahead) + 1; /* skipped ones are not coming back in order */
	/* If the body was longer than its size said, pop3_process_input streams the rest. */
	stream_feed(s, pf->buf + a->off, a->len, a->eof);
	if (pf->ahead_next == pf->ahead_count) {
		s->prefetch = NULL;
		job_free(pf);
	}
	if (!s->streaming)
		prefetch_start(s, s->stream_index);
}

void pop3_stream_start(struct pop3_session *s, size_t index, bool top, uint64_t lines)
{
	struct ahead *a = s->prefetch != NULL ? prefetch_find(s->prefetch, index) : NULL;

	s->streaming = true;
	s->stream_started = false;
	s->stream_index = index;
	s->stream_offset = 0;
	pop3_msg_filter_init(&s->filter, top, lines);
	if (a == NULL) {
		prefetch_drop(s); /* not read in order: one read-ahead at most, so this one goes */
		stream_next(s);
	} else if (s->prefetch->req != NULL) {
		/* Still in flight: wait for it rather than read the same bytes twice. */
		s->prefetch_wait = true;
		evtimer_del(s->timer);
		pop3_update_reading(s);
	} else {
		prefetch_serve(s, a);
	}
}

static void read_done(struct pop3_session *s, struct pop3_job *j)
{
	if (j->rc < 0) {
		log_error("pop3 session=%s event=read-failed uid=%u error=\"%s\"", s->id,
			  s->msgs[s->stream_index].uid, j->err);
		job_free(j);
		s->streaming = false;
		if (s->stream_started) {
			/* Half a message was sent: only closing tells the client it is incomplete. */
			pop3_close(s, NULL);
			return;
		}
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot read message %zu, try again later", s->stream_index + 1);
		resume(s);
		return;
	}
	stream_feed(s, j->buf, j->nread, j->eof);
	job_free(j);
	if (!s->streaming)
		prefetch_start(s, s->stream_index);
	resume(s); /* the timer restarts with each chunk the client takes: a slow reader is not idle */
}

static void prefetch_done(struct pop3_session *s, struct pop3_job *j)
{
	struct ahead *a;

	ASSERT(s->prefetch == j);
	if (j->rc < 0) {
		/* Nothing is lost: the RETR, if it comes, reads again and reports a lasting failure. */
		log_debug("pop3 session=%s event=prefetch-failed error=\"%s\"", s->id, j->err);
		s->prefetch = NULL;
		job_free(j);
	}
	if (!s->prefetch_wait)
		return; /* kept until its RETR/TOP comes */
	s->prefetch_wait = false;
	a = s->prefetch != NULL ? prefetch_find(j, s->stream_index) : NULL;
	if (a == NULL) {
		/* It failed before reaching the message asked for: read it the ordinary way. */
		prefetch_drop(s);
		stream_next(s);
		return;
	}
	prefetch_serve(s, a);
	resume(s);
}

/* ---- LIST / UIDL without argument ---------------------------------------------------------- */

void pop3_listing_start(struct pop3_session *s, enum pop3_listing kind)
{
	size_t n;
	uint64_t bytes;

	pop3_maildrop_stat(s, &n, &bytes);
	if (kind == POP3_LISTING_LIST)
		pop3_reply(s, "+OK %zu messages (%llu octets)", n, (unsigned long long)bytes);
	else
		pop3_reply(s, "+OK Unique-ID listing follows");
	s->listing = kind;
	s->listing_next = 0;
}

/* Writes the next few lines; large maildrops go out as the client reads them. */
static void listing_step(struct pop3_session *s)
{
	size_t end = s->listing_next + POP3_LISTING_STEP;
	struct out_batch b;

	_Static_assert(POP3_LISTING_STEP * POP3_LISTING_LINE_MAX + 3 <= sizeof(b.buf), "a listing step fits a batch");
	b.conn = s->conn;
	b.len = 0;
	for (; s->listing_next < s->count && s->listing_next < end; s->listing_next++) {
		const struct pop3_message *m = &s->msgs[s->listing_next];
		if (m->deleted)
			continue;
		b.len += pop3_listing_line(b.buf + b.len, s->listing_next + 1, m, s->listing == POP3_LISTING_UIDL,
					   s->uidvalidity);
	}
	if (s->listing_next == s->count) {
		memcpy(b.buf + b.len, ".\r\n", 3);
		b.len += 3;
		s->listing = POP3_LISTING_NONE;
	}
	batch_flush(&b);
}

/* ---- UPDATE --------------------------------------------------------------------------- */

enum pop3_flow pop3_update(struct pop3_session *s)
{
	struct pop3_job *j = job_new(s, JOB_EXPUNGE);

	prefetch_drop(s);
	pop3_set_state(s, POP3_STATE_UPDATE);
	j->folder_id = s->folder_id;
	j->uids = xcalloc(s->count ? s->count : 1, sizeof(*j->uids));
	for (size_t i = 0; i < s->count; i++)
		if (s->msgs[i].deleted)
			j->uids[j->uid_count++] = s->msgs[i].uid;
	if (j->uid_count == 0) {
		job_free(j);
		log_info("pop3 session=%s event=disconnect reason=quit deleted=0", s->id);
		return pop3_close(s, "+OK Logging out, no messages deleted");
	}
	j->history = xcalloc(1, sizeof(*j->history));
	j->history->address_id = s->address_id;
	snprintf(j->history->address, sizeof(j->history->address), "%s", s->address);
	snprintf(j->history->ip, sizeof(j->history->ip), "%s", conn_peer_ip(s->conn));
	/* RFC 1939 6: deleted only now, durably (the store's WRITE commits and syncs), then +OK. */
	job_start(s, j, STORE_CALL_WRITE);
	return POP3_FLOW_CONTINUE;
}

static void expunge_done(struct pop3_session *s, struct pop3_job *j)
{
	size_t n = j->uid_count;

	if (j->rc < 0) {
		log_error("pop3 session=%s event=expunge-failed address=%s error=\"%s\"", s->id, s->address, j->err);
		job_free(j);
		pop3_close(s, "-ERR [SYS/TEMP] Could not delete the marked messages; none were deleted");
		return;
	}
	job_free(j);
	log_info("pop3 session=%s event=disconnect reason=quit address=%s deleted=%zu", s->id, s->address, n);
	pop3_close(s, "+OK Logging out, %zu message%s deleted", n, n == 1 ? "" : "s");
}

/* ---- input ---------------------------------------------------------------------------- */

static bool output_backlogged(struct pop3_session *s)
{
	if (conn_output_pending(s->conn) <= POP3_OUTPUT_BACKLOG_MAX)
		return false;
	s->output_blocked = true;
	conn_want_drained(s->conn);
	pop3_update_reading(s);
	return true;
}

static enum pop3_flow read_line(struct pop3_session *s, bool *need_more)
{
	struct conn_line line;

	switch (conn_readline(s->conn, s->cfg->command_line_max, &line)) {
	case CONN_READ_NEED_MORE:
		*need_more = true;
		return POP3_FLOW_CONTINUE;
	case CONN_READ_TOO_LONG:
		pop3_reply(s, "-ERR Line too long (the limit is %zu bytes)", s->cfg->command_line_max);
		if (s->state == POP3_STATE_SASL)
			pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		return pop3_count_error(s);
	case CONN_READ_LINE:
		break;
	}
	arm_timer(s);
	if (s->state == POP3_STATE_SASL)
		return pop3_cmd_sasl_response(s, &line);
	return pop3_cmd_dispatch(s, &line);
}

void pop3_process_input(struct pop3_session *s)
{
	bool need_more = false;

	while (!need_more && !busy(s) && !s->output_blocked) {
		if (s->streaming) {
			if (!output_backlogged(s))
				stream_next(s);
			return;
		}
		if (s->listing != POP3_LISTING_NONE)
			listing_step(s);
		else if (s->state == POP3_STATE_LOGIN || s->state == POP3_STATE_UPDATE)
			return;
		else if (read_line(s, &need_more) == POP3_FLOW_CLOSED)
			return;
		if (output_backlogged(s))
			return;
	}
}

static void on_conn_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_session *s = arg;

	switch (ev) {
	case CONN_EV_DATA:
		pop3_process_input(s);
		break;
	case CONN_EV_DRAINED:
		s->output_blocked = false;
		arm_timer(s);
		pop3_update_reading(s);
		pop3_process_input(s);
		break;
	case CONN_EV_TLS_READY:
		/* RFC 2595 4: forget what the client said before the handshake. */
		log_info("pop3 session=%s event=starttls tls=\"%s\"", s->id, conn_tls_description(c));
		s->have_user = false;
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		resume(s);
		break;
	case CONN_EV_TIMEOUT:
		on_timeout(-1, 0, s);
		break;
	case CONN_EV_EOF:
	case CONN_EV_ERROR:
		/* RFC 1939 6: no QUIT, no UPDATE: the marks are forgotten. */
		log_info("pop3 session=%s event=disconnect reason=%s state=%s", s->id,
			 ev == CONN_EV_EOF ? "client-closed" : "io-error", state_names[s->state]);
		session_free(s);
		break;
	}
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void session_free(struct pop3_session *s)
{
	struct pop3_server *ps = s->server;

	if (s->auth_pending != NULL)
		auth_req_cancel(s->auth_pending);
	if (s->job != NULL)
		store_req_cancel(s->job->req); /* its done frees the job */
	s->prefetch_wait = false;
	prefetch_drop(s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		ps->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	ps->session_count--;

	event_free(s->timer);
	free(s->msgs);
	server_conn_done(ps->srv, s->conn);
	conn_close(s->conn);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

static void on_accept(struct server *srv, struct conn *c, const struct listen_cfg *lc, void *arg)
{
	struct pop3_server *ps = arg;
	struct pop3_session *s = xcalloc(1, sizeof(*s));
	unsigned char raw[6];

	s->server = ps;
	s->cfg = ps->cfg;
	s->conn = c;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(s->id, sizeof(s->id), raw, sizeof(raw));
	s->timer = evtimer_new(ps->base, on_timeout, s);
	s->next = ps->sessions;
	if (ps->sessions != NULL)
		ps->sessions->prev = s;
	ps->sessions = s;
	ps->session_count++;

	log_info("pop3 session=%s event=connect ip=%s port=%u tls=%s", s->id, conn_peer_ip(c), lc->port,
		 conn_is_tls(c) ? "yes" : "no");
	s->state = POP3_STATE_AUTHORIZATION;
	arm_timer(s);
	conn_set_timeout(c, 0); /* our own timer: a trickling client must not reset it */
	conn_set_cb(c, on_conn_event, s);
	pop3_reply(s, "+OK %s POP3 server ready (hermod)", s->cfg->hostname);
}

static void on_refuse(int fd, enum server_refusal why, unsigned limit, const char *peer_ip, void *arg)
{
	char line[256];
	int n;

	if (why == SERVER_REFUSE_PER_IP)
		n = snprintf(line, sizeof(line), "-ERR [SYS/TEMP] Too many connections from %s (limit %u)\r\n",
			     peer_ip, limit);
	else
		n = snprintf(line, sizeof(line), "-ERR [SYS/TEMP] Too many connections (limit %u), try again later\r\n",
			     limit);
	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) < 0)
		log_debug("pop3 event=refuse-write-failed ip=%s", peer_ip);
}

struct pop3_server *pop3_server_new(struct event_base *base, struct server *srv, struct store_async *store,
				    struct auth_service *auth, const struct config *cfg)
{
	struct pop3_server *ps = xcalloc(1, sizeof(*ps));
	struct server_handler h = { .accept = on_accept, .refuse = on_refuse, .arg = ps };

	ps->base = base;
	ps->srv = srv;
	ps->store = store;
	ps->auth = auth;
	ps->cfg = cfg;
	server_set_handler(srv, LISTEN_POP3, &h);
	server_set_handler(srv, LISTEN_POP3S, &h);
	return ps;
}

void pop3_server_set_config(struct pop3_server *ps, const struct config *cfg)
{
	ps->cfg = cfg;
}

void pop3_server_shutdown(struct pop3_server *ps)
{
	struct pop3_session *s, *next;

	ps->shutting_down = true;
	for (s = ps->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == POP3_STATE_UPDATE) {
			s->closing = true; /* its deletions are being committed: answered first */
			continue;
		}
		log_info("pop3 session=%s event=disconnect reason=shutdown state=%s", s->id, state_names[s->state]);
		pop3_close(s, "-ERR [SYS/TEMP] Server shutting down, try again later");
	}
}

size_t pop3_server_session_count(const struct pop3_server *ps)
{
	return ps->session_count;
}

void pop3_server_free(struct pop3_server *ps)
{
	while (ps->sessions != NULL)
		session_free(ps->sessions);
	free(ps);
}
