/*
 * auth: the login service (see auth.h).
 *
 * Threads: a request is queued to a small pool; each worker owns a struct
 * store (its own SQLite connection) for store_login_get and runs argon2id
 * there. Finished requests go to a done list and one byte on a pipe wakes
 * the loop, which answers them. Throttling state is touched only on the
 * loop thread, so it needs no lock.
 *
 * Why a cancelled request still runs: the client that sent a wrong password
 * and hung up must still have its failure counted, or hanging up would be a
 * way around the delay and the lockout.
 *
 * Secrets: the password is copied into sodium_malloc'd memory (guard pages,
 * mlock'd when the limit allows, zeroed by sodium_free) and freed as soon
 * as the worker has verified it. Log lines name the address and the IP,
 * never the password.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/auth.h"
#include "auth/password.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store.h"
#include "store/store_devices.h"
#include "store/store_mail.h"
#include "store/store_manage.h"

#define AUTH_THREADS_MAX 16
#define AUTH_THROTTLE_BUCKETS 4096
/* Bounds the memory an attacker can make us spend on counters (random IPs or addresses). */
#define AUTH_THROTTLE_ENTRIES_MAX 100000
/* The delay grows with the failure count up to this many times auth_failure_delay. */
#define AUTH_DELAY_FACTOR_MAX 4

enum req_stage { REQ_QUEUED, REQ_DONE, REQ_DELAYED };

struct auth_req {
	struct auth_req *next;       /* in the work queue or the done list */
	struct auth_req *live_prev, *live_next; /* every request the service still holds */
	struct auth_service *as;
	enum req_stage stage;
	bool cancelled;
	bool check; /* false: refused by the throttle, nothing to verify */
	bool account; /* an account login (address holds the login) */
	char peer_ip[64];
	const char *protocol; /* static text, for the history; NULL for account logins */
	char address[320];
	char *password; /* sodium_malloc'd; NULL once wiped */
	auth_cb cb;
	void *arg;
	struct event *timer; /* answers a failure after its delay */
	/* results, written by the worker */
	enum auth_result result;
	const char *reason; /* for the log: why it failed */
	struct auth_identity id;
	char app_name[STORE_APP_PASSWORD_NAME_MAX + 1]; /* the app password that matched, or "" */
	char message[512];
};

struct throttle_entry {
	struct throttle_entry *next;
	char *key;          /* "ip <addr>" or "user <address>" */
	unsigned failures;  /* within the current window */
	time_t window_start;
	time_t locked_until;
};

struct auth_service {
	struct event_base *base;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct auth_req *queue_head, *queue_tail; /* under mu */
	struct auth_req *done_head, *done_tail;   /* under mu */
	bool stopping;                            /* under mu */
	pthread_t threads[AUTH_THREADS_MAX];
	struct store *stores[AUTH_THREADS_MAX];
	unsigned nthreads;
	int wake_r, wake_w;
	struct event *wake_ev;
	struct auth_req *live; /* loop thread only from here down */
	unsigned max_failures, lockout_s, delay_s;
	struct throttle_entry *buckets[AUTH_THROTTLE_BUCKETS];
	size_t entries;
};

struct worker_arg {
	struct auth_service *as;
	struct store *store;
};

/* ---- secrets ------------------------------------------------------------------ */

static char *secret_dup(const char *p)
{
	size_t len = strnlen(p, PASSWORD_MAX_LENGTH + 1);
	char *copy = sodium_malloc(len + 1);

	if (copy == NULL) {
		log_error("auth event=out-of-memory");
		abort();
	}
	memcpy(copy, p, len);
	copy[len] = '\0';
	return copy;
}

static void secret_free(char **p)
{
	if (*p != NULL)
		sodium_free(*p); /* zeroes the memory before unmapping it */
	*p = NULL;
}

/* ---- the worker threads ---------------------------------------------------------- */

/*
 * An unknown address costs the same argon2id work as a known one, so that
 * response times do not tell an attacker which addresses exist.
 */
static void burn_equal_time(const char *password)
{
	unsigned char out[32], salt[crypto_pwhash_SALTBYTES] = { 0 };

	if (crypto_pwhash(out, sizeof(out), password, strlen(password), salt, crypto_pwhash_OPSLIMIT_INTERACTIVE,
			  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		log_debug("auth event=dummy-hash-failed");
	sodium_memzero(out, sizeof(out));
}

static void set_result(struct auth_req *r, enum auth_result result, const char *reason)
{
	r->result = result;
	r->reason = reason;
}

/* An account's password (auth_login_account): the accounts table, never an address's hash. */
static void verify_account(struct store *s, struct auth_req *r)
{
	struct store_account acct;
	char hash[256];
	const char *err = NULL;
	int found = store_account_get(s, r->address, &acct, &err);

	if (found == 1)
		found = store_account_password_hash(s, r->address, hash, sizeof(hash), &err);
	if (found < 0) {
		log_error("auth event=lookup-failed login=%s error=\"%s\"", r->address, err ? err : "unknown");
		set_result(r, AUTH_TEMPFAIL, "store-error");
	} else if (found == 0 || hash[0] == '\0') {
		burn_equal_time(r->password);
		set_result(r, AUTH_FAILED, found == 0 ? "no-such-account" : "no-password");
	} else if (!password_verify(hash, r->password)) {
		set_result(r, AUTH_FAILED, "wrong-password");
	} else {
		set_result(r, AUTH_OK, "ok");
		r->id.account_id = acct.id;
		snprintf(r->id.login, sizeof(r->id.login), "%s", acct.login);
	}
	if (found == 1)
		sodium_memzero(hash, sizeof(hash));
}

/*
 * The address's action history gets every login and failed login, with
 * protocol and IP (the seed's "view the action history"). Best effort: the
 * answer to the client never waits on it failing. Failures are bounded by
 * the throttling (auth_max_failures per window), so they cannot flood it.
 */
static void record_login(struct store *s, const struct auth_req *r, int64_t address_id)
{
	char detail[128];
	const char *err = NULL;

	if (r->result == AUTH_OK && r->app_name[0] != '\0')
		snprintf(detail, sizeof(detail), "%s (app password %s)", r->protocol != NULL ? r->protocol : "?",
			 r->app_name);
	else
		snprintf(detail, sizeof(detail), "%s%s%s", r->protocol != NULL ? r->protocol : "?",
			 r->result == AUTH_OK ? "" : ": ", r->result == AUTH_OK ? "" : r->reason);
	if (store_history_add(s, address_id, (int64_t)time(NULL), r->address,
			      r->result == AUTH_OK ? "login" : "login-failed", detail, r->peer_ip, &err) < 0)
		log_warn("auth event=history-failed address=%s error=\"%s\"", r->address, err ? err : "unknown");
}

/*
 * After the address password did not match: one of the address's app
 * passwords? They are full-entropy secrets stored as SHA-256, so this is one
 * indexed lookup, not an argon2 per app password: a failed login costs what
 * it did. 1 (r->app_name set, last use recorded best effort), 0, -1.
 */
static int app_password_matches(struct store *s, struct auth_req *r, const struct store_login *login)
{
	char hash[STORE_APP_PASSWORD_HASH_MAX];
	struct store_app_password pw;
	const char *err = NULL;
	int rc;

	if (login->kind == ADDRESS_ALIAS || store_app_password_digest(r->password, hash) < 0)
		return 0;
	rc = store_app_password_find(s, login->address_id, hash, &pw, &err);
	if (rc < 0)
		log_error("auth event=lookup-failed address=%s error=\"%s\"", r->address, err ? err : "unknown");
	if (rc != 1)
		return rc;
	snprintf(r->app_name, sizeof(r->app_name), "%s", pw.name);
	if (store_app_password_touch(s, pw.id, (int64_t)time(NULL), &err) < 0)
		log_warn("auth event=app-password-touch-failed address=%s error=\"%s\"", r->address, err);
	return 1;
}

/*
 * The address password, else an app password. An address without a
 * password of its own (a catchall) may still have app passwords; it pays
 * the same argon2 work first, so timing does not tell which it is.
 */
static int secret_matches(struct store *s, struct auth_req *r, const struct store_login *login)
{
	if (login->password_hash[0] == '\0')
		burn_equal_time(r->password);
	else if (password_verify(login->password_hash, r->password))
		return 1;
	return app_password_matches(s, r, login);
}

/*
 * The address password matched but its hash used weaker parameters (an
 * imported {ARGON2ID} hash, or one made before the cost was raised): hash it
 * again at the current cost while the password is at hand, so it upgrades
 * at first login. Best effort: the login stands whatever happens here. The
 * stored hash is read again just before the write, so a password changed
 * meanwhile (the argon2 work takes a while) is not overwritten with the old
 * one.
 */
static void rehash_if_weak(struct store *s, const struct auth_req *r, const struct store_login *login)
{
	char fresh[PASSWORD_HASH_MAX], err[128];
	const char *errstr = NULL;
	int rc;

	if (!password_needs_rehash(login->password_hash))
		return;
	if (password_hash(r->password, fresh, err, sizeof(err)) < 0) {
		log_warn("auth event=rehash-skipped address=%s reason=\"%s\"", login->address, err);
		return;
	}
	/* only if the hash is still the one verified: a password changed meanwhile stays */
	rc = store_address_rehash(s, login->address_id, login->password_hash, fresh, &errstr);
	if (rc < 0)
		log_warn("auth event=rehash-failed address=%s error=\"%s\"", login->address,
			 errstr ? errstr : "unknown");
	else if (rc == 0)
		log_info("auth event=rehash-skipped address=%s reason=\"the password changed meanwhile\"",
			 login->address);
	else
		log_info("auth event=rehashed address=%s", login->address);
	sodium_memzero(fresh, sizeof(fresh));
}

static void verify(struct store *s, struct auth_req *r)
{
	if (r->account) {
		verify_account(s, r);
		return;
	}

	struct store_login login;
	const char *err = NULL;
	int found = store_login_get(s, r->address, &login, &err), matched;

	if (found < 0) {
		log_error("auth event=lookup-failed address=%s error=\"%s\"", r->address, err ? err : "unknown");
		set_result(r, AUTH_TEMPFAIL, "store-error");
	} else if (found == 0) {
		burn_equal_time(r->password);
		set_result(r, AUTH_FAILED, "no-such-address");
	} else if ((matched = secret_matches(s, r, &login)) < 0) {
		set_result(r, AUTH_TEMPFAIL, "store-error");
	} else if (matched == 0) {
		set_result(r, AUTH_FAILED, login.password_hash[0] == '\0' ? "no-password" : "wrong-password");
	} else if (login.kind == ADDRESS_ALIAS) {
		/* Checked after the password: the answer must not reveal what kind an address is. */
		set_result(r, AUTH_FAILED, "kind-cannot-log-in");
	} else {
		set_result(r, AUTH_OK, "ok");
		r->id.address_id = login.address_id;
		snprintf(r->id.address, sizeof(r->id.address), "%s", login.address);
		r->id.kind = login.kind;
		r->id.plan = login.plan;
		if (r->app_name[0] == '\0') /* the address password itself matched, not an app password */
			rehash_if_weak(s, r, &login);
	}
	if (found == 1)
		record_login(s, r, login.address_id);
	sodium_memzero(login.password_hash, sizeof(login.password_hash));
}

static void wake_loop(struct auth_service *as)
{
	char b = 1;

	/* A full pipe already means a wake-up is pending. */
	while (write(as->wake_w, &b, 1) < 0 && errno == EINTR)
		;
}

static void *worker_main(void *p)
{
	struct worker_arg wa = *(struct worker_arg *)p;
	struct auth_service *as = wa.as;

	free(p);
	pthread_mutex_lock(&as->mu);
	for (;;) {
		while (as->queue_head == NULL && !as->stopping)
			pthread_cond_wait(&as->cond, &as->mu);
		if (as->stopping)
			break;
		struct auth_req *r = as->queue_head;
		as->queue_head = r->next;
		if (as->queue_head == NULL)
			as->queue_tail = NULL;
		pthread_mutex_unlock(&as->mu);

		verify(wa.store, r);
		secret_free(&r->password);

		pthread_mutex_lock(&as->mu);
		r->next = NULL;
		if (as->done_tail != NULL)
			as->done_tail->next = r;
		else
			as->done_head = r;
		as->done_tail = r;
		wake_loop(as);
	}
	pthread_mutex_unlock(&as->mu);
	return NULL;
}

/* ---- throttling (loop thread) ------------------------------------------------------ */

static size_t key_hash(const char *key)
{
	size_t h = 5381;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = h * 33 + *p;
	return h % AUTH_THROTTLE_BUCKETS;
}

static bool entry_expired(const struct auth_service *as, const struct throttle_entry *e, time_t now)
{
	return now >= e->locked_until && now - e->window_start >= (time_t)as->lockout_s;
}

/* Drops every expired entry (when the table is full). */
static void throttle_sweep(struct auth_service *as, time_t now)
{
	for (size_t b = 0; b < AUTH_THROTTLE_BUCKETS; b++) {
		for (struct throttle_entry **pp = &as->buckets[b]; *pp != NULL;) {
			struct throttle_entry *e = *pp;
			if (!entry_expired(as, e, now)) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			free(e->key);
			free(e);
			as->entries--;
		}
	}
}

static struct throttle_entry *throttle_find(struct auth_service *as, const char *key)
{
	for (struct throttle_entry *e = as->buckets[key_hash(key)]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* The entry for key, created if needed; NULL when the table is full of live entries. */
static struct throttle_entry *throttle_get(struct auth_service *as, const char *key, time_t now)
{
	struct throttle_entry *e = throttle_find(as, key);
	size_t b = key_hash(key);

	if (e != NULL)
		return e;
	if (as->entries >= AUTH_THROTTLE_ENTRIES_MAX)
		throttle_sweep(as, now);
	if (as->entries >= AUTH_THROTTLE_ENTRIES_MAX) {
		log_warn("auth event=throttle-table-full entries=%zu", as->entries);
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->window_start = now;
	e->next = as->buckets[b];
	as->buckets[b] = e;
	as->entries++;
	return e;
}

static void throttle_key(char *buf, size_t size, const char *kind, const char *value)
{
	snprintf(buf, size, "%s %s", kind, value);
}

/* Counts one failure; returns the count in the current window. */
static unsigned throttle_fail(struct auth_service *as, const char *kind, const char *value, time_t now)
{
	char key[400];
	struct throttle_entry *e;

	throttle_key(key, sizeof(key), kind, value);
	if ((e = throttle_get(as, key, now)) == NULL)
		return as->max_failures; /* full of attackers: answer as slowly as we can */
	if (now - e->window_start >= (time_t)as->lockout_s) {
		e->window_start = now;
		e->failures = 0;
	}
	if (++e->failures >= as->max_failures && e->locked_until <= now) {
		e->locked_until = now + (time_t)as->lockout_s;
		log_warn("auth event=lockout %s=%s failures=%u seconds=%u", kind, value, e->failures, as->lockout_s);
	}
	return e->failures;
}

/* Seconds left of a lockout on kind/value, 0 when not locked. */
static time_t throttle_locked(struct auth_service *as, const char *kind, const char *value, time_t now)
{
	char key[400];
	struct throttle_entry *e;

	throttle_key(key, sizeof(key), kind, value);
	e = throttle_find(as, key);
	return e != NULL && e->locked_until > now ? e->locked_until - now : 0;
}

static void throttle_forget(struct auth_service *as, const char *kind, const char *value)
{
	char key[400];
	struct throttle_entry *e;

	throttle_key(key, sizeof(key), kind, value);
	if ((e = throttle_find(as, key)) != NULL && e->locked_until == 0)
		e->failures = 0;
}

static void format_wait(char *buf, size_t size, time_t seconds)
{
	if (seconds < 120)
		snprintf(buf, size, "%lld second%s", (long long)seconds, seconds == 1 ? "" : "s");
	else
		snprintf(buf, size, "%lld minutes", (long long)((seconds + 59) / 60));
}

/* ---- answering (loop thread) -------------------------------------------------------- */

static void req_free(struct auth_req *r)
{
	struct auth_service *as = r->as;

	if (r->live_prev != NULL)
		r->live_prev->live_next = r->live_next;
	else
		as->live = r->live_next;
	if (r->live_next != NULL)
		r->live_next->live_prev = r->live_prev;
	if (r->timer != NULL)
		event_free(r->timer);
	secret_free(&r->password);
	sodium_memzero(r, sizeof(*r));
	free(r);
}

static void answer(struct auth_req *r)
{
	if (!r->cancelled) {
		const char *msg = r->message;
		if (msg[0] == '\0')
			msg = r->result == AUTH_TEMPFAIL ? "Temporary authentication failure, try again later"
							 : "Authentication failed";
		r->cb(r->result, r->result == AUTH_OK ? &r->id : NULL, msg, r->arg);
	}
	req_free(r);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
	answer(arg);
}

/* Answers after seconds (0: in the next loop iteration, never inside auth_login). */
static void answer_later(struct auth_req *r, unsigned seconds)
{
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };

	r->stage = REQ_DELAYED;
	r->timer = evtimer_new(r->as->base, on_delay, r);
	evtimer_add(r->timer, &tv);
}

/* The throttle's and the log's name for what logs in: an address, or an account's login. */
static const char *who_kind(const struct auth_req *r)
{
	return r->account ? "login" : "user";
}

static void log_outcome(const struct auth_req *r)
{
	const char *field = r->account ? "login" : "address";

	if (r->result == AUTH_OK)
		log_info("auth event=login %s=%s ip=%s%s%s%s", field, r->address, r->peer_ip,
			 r->app_name[0] != '\0' ? " app_password=\"" : "", r->app_name, r->app_name[0] != '\0' ? "\"" : "");
	else if (r->result == AUTH_FAILED)
		log_info("auth event=login-failed %s=%s ip=%s reason=%s", field, r->address, r->peer_ip, r->reason);
}

static void finish(struct auth_req *r)
{
	struct auth_service *as = r->as;
	time_t now = time(NULL);

	log_outcome(r);
	if (r->result == AUTH_OK) {
		throttle_forget(as, who_kind(r), r->address);
		answer_later(r, 0);
		return;
	}
	if (r->result != AUTH_FAILED) {
		answer_later(r, 0);
		return;
	}
	unsigned by_ip = throttle_fail(as, "ip", r->peer_ip, now);
	unsigned by_user = throttle_fail(as, who_kind(r), r->address, now);
	unsigned n = by_ip > by_user ? by_ip : by_user;
	if (n > AUTH_DELAY_FACTOR_MAX)
		n = AUTH_DELAY_FACTOR_MAX;
	answer_later(r, as->delay_s * n);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct auth_service *as = arg;
	struct auth_req *r, *next;
	char drain[64];

	while (read(as->wake_r, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&as->mu);
	r = as->done_head;
	as->done_head = as->done_tail = NULL;
	pthread_mutex_unlock(&as->mu);
	for (; r != NULL; r = next) {
		next = r->next;
		r->stage = REQ_DONE;
		finish(r);
	}
}

/* ---- the API ------------------------------------------------------------------------- */

static bool refuse_if_locked(struct auth_service *as, struct auth_req *r)
{
	time_t now = time(NULL), left_ip = throttle_locked(as, "ip", r->peer_ip, now);
	time_t left_user = throttle_locked(as, who_kind(r), r->address, now);
	char wait[32];

	if (left_ip == 0 && left_user == 0)
		return false;
	format_wait(wait, sizeof(wait), left_ip > left_user ? left_ip : left_user);
	if (left_ip >= left_user)
		snprintf(r->message, sizeof(r->message), "Too many failed logins from %s; try again in %s",
			 r->peer_ip, wait);
	else
		snprintf(r->message, sizeof(r->message), "Too many failed logins for %s; try again in %s",
			 r->address, wait);
	r->result = AUTH_THROTTLED;
	log_info("auth event=login-refused %s=%s ip=%s reason=locked-out", r->account ? "login" : "address",
		 r->address, r->peer_ip);
	/* Refusals are delayed too: a locked-out client gains nothing from hammering. */
	answer_later(r, as->delay_s);
	return true;
}

/*
 * Addresses are compared in lower case; an account login is looked up as
 * given. Spaces and controls cannot be in either; replacing them keeps log
 * lines one line.
 */
static void who_copy(char *dst, size_t size, const char *src, bool lower)
{
	size_t i = 0;

	for (; src[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c <= ' ' || c == 0x7f || c == '"')
			dst[i] = '?';
		else
			dst[i] = lower && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : (char)c;
	}
	dst[i] = '\0';
}

static struct auth_req *login_start(struct auth_service *as, const char *protocol, const char *peer_ip,
				    const char *who, const char *password, auth_cb cb, void *arg)
{
	struct auth_req *r = xcalloc(1, sizeof(*r));
	bool account = protocol == NULL;

	r->as = as;
	r->protocol = protocol;
	r->cb = cb;
	r->arg = arg;
	r->account = account;
	snprintf(r->peer_ip, sizeof(r->peer_ip), "%s", peer_ip);
	who_copy(r->address, sizeof(r->address), who, !account);
	r->live_next = as->live;
	if (as->live != NULL)
		as->live->live_prev = r;
	as->live = r;
	if (refuse_if_locked(as, r))
		return r;
	r->password = secret_dup(password);
	r->stage = REQ_QUEUED;
	pthread_mutex_lock(&as->mu);
	if (as->queue_tail != NULL)
		as->queue_tail->next = r;
	else
		as->queue_head = r;
	as->queue_tail = r;
	pthread_cond_signal(&as->cond);
	pthread_mutex_unlock(&as->mu);
	return r;
}

struct auth_req *auth_login(struct auth_service *as, const char *protocol, const char *peer_ip,
			    const char *address, const char *password, auth_cb cb, void *arg)
{
	ASSERT(protocol != NULL);
	return login_start(as, protocol, peer_ip, address, password, cb, arg);
}

struct auth_req *auth_login_account(struct auth_service *as, const char *peer_ip, const char *login,
				    const char *password, auth_cb cb, void *arg)
{
	return login_start(as, NULL, peer_ip, login, password, cb, arg);
}

void auth_req_cancel(struct auth_req *req)
{
	/* A queued or running check completes (its failure still counts), then is freed unanswered. */
	req->cancelled = true;
	if (req->stage == REQ_DELAYED)
		req_free(req);
}

void auth_service_set_config(struct auth_service *as, const struct config *cfg)
{
	as->max_failures = cfg->auth_max_failures ? cfg->auth_max_failures : 1;
	as->lockout_s = cfg->auth_lockout_s;
	as->delay_s = cfg->auth_failure_delay_s;
}

static int open_wake_pipe(struct auth_service *as, const char **errstr_r)
{
	int fds[2];

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		*errstr_r = "cannot create the authentication service's pipe";
		return -1;
	}
	as->wake_r = fds[0];
	as->wake_w = fds[1];
	as->wake_ev = event_new(as->base, as->wake_r, EV_READ | EV_PERSIST, on_wake, as);
	event_add(as->wake_ev, NULL);
	return 0;
}

static int start_workers(struct auth_service *as, unsigned threads, const char *data_dir, const char **errstr_r)
{
	for (unsigned i = 0; i < threads; i++) {
		/* synchronous=NORMAL: this connection writes only the login history,
		 * which needs no fsync of its own (it is durable with the next one) */
		if (store_open(data_dir, &as->stores[i], errstr_r) < 0 ||
		    store_set_sync_normal(as->stores[i], errstr_r) < 0)
			return -1;
		struct worker_arg *wa = xmalloc(sizeof(*wa));
		wa->as = as;
		wa->store = as->stores[i];
		if (pthread_create(&as->threads[i], NULL, worker_main, wa) != 0) {
			free(wa);
			*errstr_r = "cannot start the authentication threads";
			return -1;
		}
		as->nthreads++;
	}
	return 0;
}

struct auth_service *auth_service_new(struct event_base *base, const char *data_dir, unsigned threads,
				      const char **errstr_r)
{
	struct auth_service *as = xcalloc(1, sizeof(*as));

	as->base = base;
	as->wake_r = as->wake_w = -1;
	as->max_failures = 10;
	as->lockout_s = 15 * 60;
	as->delay_s = 2;
	pthread_mutex_init(&as->mu, NULL);
	pthread_cond_init(&as->cond, NULL);
	if (threads == 0)
		threads = 1;
	if (threads > AUTH_THREADS_MAX)
		threads = AUTH_THREADS_MAX;
	if (password_init() < 0) {
		*errstr_r = "cannot initialise libsodium";
		auth_service_free(as);
		return NULL;
	}
	if (open_wake_pipe(as, errstr_r) < 0 || start_workers(as, threads, data_dir, errstr_r) < 0) {
		auth_service_free(as);
		return NULL;
	}
	return as;
}

void auth_service_free(struct auth_service *as)
{
	pthread_mutex_lock(&as->mu);
	as->stopping = true;
	pthread_cond_broadcast(&as->cond);
	pthread_mutex_unlock(&as->mu);
	for (unsigned i = 0; i < as->nthreads; i++)
		pthread_join(as->threads[i], NULL);
	for (unsigned i = 0; i < AUTH_THREADS_MAX; i++)
		if (as->stores[i] != NULL)
			store_close(as->stores[i]);
	/* Whatever is left (queued, done, delayed) is freed unanswered: its sessions are gone. */
	while (as->live != NULL)
		req_free(as->live);
	for (size_t b = 0; b < AUTH_THROTTLE_BUCKETS; b++) {
		while (as->buckets[b] != NULL) {
			struct throttle_entry *e = as->buckets[b];
			as->buckets[b] = e->next;
			free(e->key);
			free(e);
		}
	}
	if (as->wake_ev != NULL)
		event_free(as->wake_ev);
	if (as->wake_r >= 0)
		close(as->wake_r);
	if (as->wake_w >= 0)
		close(as->wake_w);
	pthread_mutex_destroy(&as->mu);
	pthread_cond_destroy(&as->cond);
	free(as);
}
