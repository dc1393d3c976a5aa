/*
 * daemon: `hermod serve`.
 *
 * One process, one libevent loop on the main thread; the store runs its own
 * reader and writer threads behind store_async. Globals are limited to what
 * a signal handler must reach: here libevent's signal events carry the
 * daemon context, so there are none.
 *
 * Shutdown (SIGTERM, SIGINT): stop accepting, let every session finish or
 * refuse its transaction (smtp_server_shutdown), wait up to shutdown_grace
 * for them, then drain the store's queue so every message that was
 * acknowledged, or is about to be, is on disk before exit.
 *
 * Reload (SIGHUP): parse and validate the file completely, then swap. New
 * sessions use the new snapshot; running ones keep the snapshot they began
 * with, so old snapshots live until exit (reloads are rare and small).
 * Listener changes need a restart and are reported as such.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>

#include "auth/auth.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "dns/dns.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "net/server.h"
#include "net/tls.h"
#include "queue/queue.h"
#include "imap/imap_search.h"
#include "imap/imap_server.h"
#include "pop3/pop3_server.h"
#include "smtp/smtp_server.h"
#include "store/store_async.h"

#define DAEMON_STORE_READERS 2
#define DAEMON_AUTH_THREADS 2
#define DAEMON_CONFIG_SNAPSHOTS_MAX 64

struct daemon {
	const char *config_path;
	struct event_base *base;
	struct config *snapshots[DAEMON_CONFIG_SNAPSHOTS_MAX];
	size_t snapshot_count;
	const struct config *cfg; /* the current snapshot */
	struct store_async *store;
	struct server *server;
	struct smtp_server *smtp;
	struct auth_service *auth; /* shared by IMAP, POP3 and submission */
	struct pop3_server *pop3;
	struct imap_server *imap;
	struct http_server *http; /* the Manager's API */
	struct dns *dns;           /* the outbound queue's resolver */
	SSL_CTX *tls_client;       /* STARTTLS to other servers; NULL: plaintext only */
	struct queue *queue;
	struct imap_indexer indexer; /* the store writer's background full-text indexing */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *shutdown_timer;
	struct timespec shutdown_started;
	bool shutting_down;
};

static bool same_listeners(const struct config *a, const struct config *b)
{
	return a->listen_count == b->listen_count &&
	       memcmp(a->listen, b->listen, a->listen_count * sizeof(a->listen[0])) == 0;
}

static void reload(struct daemon *d)
{
	struct config *next;
	const char *err;

	if (d->snapshot_count == DAEMON_CONFIG_SNAPSHOTS_MAX) {
		log_error("hermod event=reload-failed error=\"too many reloads since start; restart hermod\"");
		return;
	}
	if (config_load(d->config_path, &next, &err) < 0) {
		log_error("hermod event=reload-failed error=\"%s\" (keeping the running configuration)", err);
		return;
	}
	if (server_reload(d->server, next, &err) < 0) {
		log_error("hermod event=reload-failed error=\"%s\" (keeping the running configuration)", err);
		config_free(next);
		return;
	}
	if (!same_listeners(d->cfg, next))
		log_warn("hermod event=reload note=\"listen lines changed: restart hermod to apply them\"");
	d->snapshots[d->snapshot_count++] = next;
	d->cfg = next;
	log_set_level((enum log_level)next->log_level);
	smtp_server_set_config(d->smtp, next);
	auth_service_set_config(d->auth, next);
	pop3_server_set_config(d->pop3, next);
	imap_server_set_config(d->imap, next);
	http_server_set_config(d->http, next);
	queue_set_config(d->queue, next); /* dns { } changes need a restart (the resolver is built once) */
	log_info("hermod event=reloaded config=%s", d->config_path);
}

static double elapsed_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Polled during shutdown: ends the loop once sessions are gone or the grace period is over. */
static void on_shutdown_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	size_t left = smtp_server_session_count(d->smtp) + pop3_server_session_count(d->pop3) +
		      imap_server_session_count(d->imap) + http_server_request_count(d->http);

	/* Sessions gone and their last replies (the 421s) written. */
	if ((left == 0 && conn_flushing_count() == 0) || elapsed_since(&d->shutdown_started) >= d->cfg->shutdown_grace_s) {
		if (left > 0)
			log_warn("hermod event=shutdown note=\"grace period over, closing %zu sessions\"", left);
		event_base_loopbreak(d->base);
		return;
	}
	struct timeval tv = { 0, 100 * 1000 };
	evtimer_add(d->shutdown_timer, &tv);
}

static void begin_shutdown(struct daemon *d, int signo)
{
	if (d->shutting_down)
		return;
	d->shutting_down = true;
	log_info("hermod event=shutdown signal=%s sessions=%zu", signo == SIGTERM ? "TERM" : "INT",
		 smtp_server_session_count(d->smtp));
	server_stop_listening(d->server);
	smtp_server_shutdown(d->smtp);
	pop3_server_shutdown(d->pop3);
	imap_server_shutdown(d->imap);
	http_server_shutdown(d->http);
	queue_shutdown(d->queue);
	clock_gettime(CLOCK_MONOTONIC, &d->shutdown_started);
	d->shutdown_timer = evtimer_new(d->base, on_shutdown_tick, d);
	on_shutdown_tick(-1, 0, d);
}

static void on_signal(evutil_socket_t signo, short what, void *arg)
{
	struct daemon *d = arg;

	if (signo == SIGHUP)
		reload(d);
	else
		begin_shutdown(d, (int)signo);
}

/*
 * Spool files left in <data_dir>/tmp by a run that crashed held messages that
 * were never acknowledged (a 250 comes only after the body is in msg/), so
 * they are removed at start.
 */
static void remove_stale_spools(const char *data_dir)
{
	char dir[4096], path[4096 + 256];
	struct dirent *de;
	DIR *dh;
	unsigned removed = 0;

	snprintf(dir, sizeof(dir), "%s/tmp", data_dir);
	if ((dh = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dh)) != NULL) {
		if (strncmp(de->d_name, "spool.", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(dh);
	if (removed > 0)
		log_info("hermod event=stale-spools-removed count=%u", removed);
}

static void kick_queue(void *arg)
{
	queue_kick(arg);
}

/* The outbound queue: its resolver, its TLS client context, the runner. */
static int daemon_start_queue(struct daemon *d)
{
	struct dns_cfg dc = { .forward = d->cfg->dns_forward, .timeout_s = d->cfg->dns_timeout_s };
	const char *err;

	d->dns = dns_new(d->base, &dc, &err);
	if (d->dns == NULL) {
		log_error("hermod event=start-failed error=\"dns: %s\"", err);
		return -1;
	}
	d->tls_client = tls_client_ctx_new(&err);
	if (d->tls_client == NULL)
		log_warn("hermod event=tls-client-unavailable error=\"%s\" note=\"outbound mail goes without STARTTLS\"",
			 err);
	d->queue = queue_new(d->base, d->store, d->dns, d->tls_client, d->cfg);
	return 0;
}

static int daemon_start(struct daemon *d)
{
	const char *err;

	remove_stale_spools(d->cfg->data_dir);

	d->store = store_async_new(d->base, d->cfg->data_dir, DAEMON_STORE_READERS, &err);
	if (d->store == NULL) {
		log_error("hermod event=start-failed error=\"store: %s\"", err);
		return -1;
	}
	store_async_set_idle_work(d->store, imap_search_index_step, &d->indexer);
	/* the queue before the protocol servers: submission kicks it */
	if (daemon_start_queue(d) < 0)
		return -1;
	d->server = server_new(d->base, d->cfg, &err);
	if (d->server == NULL) {
		log_error("hermod event=start-failed error=\"%s\"", err);
		return -1;
	}
	d->auth = auth_service_new(d->base, d->cfg->data_dir, DAEMON_AUTH_THREADS, &err);
	if (d->auth == NULL) {
		log_error("hermod event=start-failed error=\"authentication: %s\"", err);
		return -1;
	}
	auth_service_set_config(d->auth, d->cfg);
	d->smtp = smtp_server_new(d->base, d->server, d->store, d->auth, d->cfg); /* MX and submission */
	smtp_server_set_queued_hook(d->smtp, kick_queue, d->queue);
	d->pop3 = pop3_server_new(d->base, d->server, d->store, d->auth, d->cfg);
	d->imap = imap_server_new(d->base, d->server, d->store, d->auth, d->cfg);
	d->http = http_server_new(d->base, d->server, d->store, d->auth, d->cfg, kick_queue, d->queue, &err);
	if (d->http == NULL) {
		log_error("hermod event=start-failed error=\"http: %s\"", err);
		return -1;
	}
	if (server_listen(d->server, &err) < 0 || http_server_listen(d->http, &err) < 0) {
		log_error("hermod event=start-failed error=\"%s\"", err);
		return -1;
	}
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	evsignal_add(d->sig_term, NULL);
	evsignal_add(d->sig_int, NULL);
	evsignal_add(d->sig_hup, NULL);
	return 0;
}

/* Frees in dependency order: sessions (cancelling their requests), then the store (draining it). */
static void daemon_stop(struct daemon *d)
{
	if (d->smtp != NULL)
		smtp_server_free(d->smtp);
	if (d->pop3 != NULL)
		pop3_server_free(d->pop3);
	if (d->imap != NULL)
		imap_server_free(d->imap);
	if (d->http != NULL)
		http_server_free(d->http); /* before auth (its logins) and the queue (its kicks) */
	if (d->auth != NULL)
		auth_service_free(d->auth); /* after the protocol servers: they cancel their logins */
	/*
	 * Deliveries still running are abandoned here: nothing was recorded for
	 * them, so their recipients stay pending and are retried after the
	 * restart (at-least-once; a server that had already taken a message may
	 * get it again). Before the store, whose requests the queue cancels.
	 */
	if (d->queue != NULL)
		queue_free(d->queue);
	if (d->dns != NULL)
		dns_free(d->dns);
	if (d->tls_client != NULL)
		SSL_CTX_free(d->tls_client);
	if (d->store != NULL)
		store_async_free(d->store);
	if (d->server != NULL)
		server_free(d->server);
	if (d->sig_term != NULL) {
		event_free(d->sig_term);
		event_free(d->sig_int);
		event_free(d->sig_hup);
	}
	if (d->shutdown_timer != NULL)
		event_free(d->shutdown_timer);
	event_base_free(d->base);
	for (size_t i = 0; i < d->snapshot_count; i++)
		config_free(d->snapshots[i]);
}

int daemon_serve(const char *config_path)
{
	struct daemon d;
	struct config *cfg;
	const char *err;
	int status = 0;

	memset(&d, 0, sizeof(d));
	d.config_path = config_path;
	if (config_load(config_path, &cfg, &err) < 0) {
		log_error("hermod event=start-failed error=\"%s\"", err);
		return 1;
	}
	d.snapshots[d.snapshot_count++] = cfg;
	d.cfg = cfg;
	log_set_level((enum log_level)cfg->log_level);
	if (sodium_init() < 0 || evthread_use_pthreads() < 0) {
		log_error("hermod event=start-failed error=\"cannot initialise libsodium or libevent threads\"");
		config_free(cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	d.base = event_base_new();
	if (d.base == NULL) {
		log_error("hermod event=start-failed error=\"cannot create the event loop\"");
		config_free(cfg);
		return 1;
	}
	if (daemon_start(&d) == 0) {
		log_info("hermod event=ready pid=%ld config=%s data_dir=%s", (long)getpid(), config_path,
			 cfg->data_dir);
		event_base_dispatch(d.base);
		log_info("hermod event=stopped");
	} else {
		status = 1;
	}
	daemon_stop(&d);
	return status;
}
