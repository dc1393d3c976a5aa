/*
 * auth: logging in with an address and its own password (IMAP, POP3, and
 * later SMTP submission), off the event loop, with brute-force protection.
 *
 * argon2id verification costs tens of milliseconds and 64 MiB by design, so
 * it runs on the auth service's own small thread pool (each thread with its
 * own struct store for the hash lookup); the result comes back on the loop.
 *
 * Throttling: failures are counted per client IP and per address, in
 * memory. Every failure is answered only after a delay (growing with the
 * count, capped), and after auth_max_failures within auth_lockout the IP,
 * or the address, is refused without even checking the password until the
 * lockout passes; the message says for how long. Passwords never reach a
 * log line.
 */
#ifndef HERMOD_AUTH_AUTH_H
#define HERMOD_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config/config.h"
#include "lib/slice.h"
#include "store/store.h"

struct auth_service;
struct auth_req;

enum auth_result {
	AUTH_OK,
	AUTH_FAILED,    /* wrong address or password (one message for both: no user enumeration) */
	AUTH_THROTTLED, /* too many failures: refused without checking */
	AUTH_TEMPFAIL,  /* store error: try again later */
};

struct auth_identity {
	int64_t address_id;
	char address[320]; /* local@domain, lower case */
	enum address_kind kind; /* a catchall logs in to read, never to send */
	enum plan plan;
	int64_t account_id; /* auth_login_account only (address fields then empty) */
	char login[320];
};

/*
 * message: for the client, e.g. "Too many failed logins from 192.0.2.1;
 * try again in 14 minutes" (AUTH_THROTTLED) or "Authentication failed"
 * (AUTH_FAILED). id is NULL unless AUTH_OK. Both valid during the call only.
 */
typedef void (*auth_cb)(enum auth_result result, const struct auth_identity *id, const char *message, void *arg);

struct auth_service *auth_service_new(struct event_base *base, const char *data_dir, unsigned threads,
				      const char **errstr_r);
void auth_service_free(struct auth_service *as);
/* Swaps in the limits of a new configuration snapshot. */
void auth_service_set_config(struct auth_service *as, const struct config *cfg);

/*
 * Checks address + password. The password is copied and wiped after use.
 * Addresses of kind mailbox, noreply and catchall (one with a password) can
 * log in; protocol ("imap", "pop3", "submission") goes into the address's
 * action history with the outcome and the IP.
 */
struct auth_req *auth_login(struct auth_service *as, const char *protocol, const char *peer_ip,
			    const char *address, const char *password, auth_cb cb, void *arg);
/*
 * Checks an account's login + its account password (the Manager's API):
 * never an address password, and auth_login never takes an account's.
 * Same thread pool, same delays; failures are counted per IP (shared with
 * the mail protocols: one attacker, one budget) and per login.
 */
struct auth_req *auth_login_account(struct auth_service *as, const char *peer_ip, const char *login,
				    const char *password, auth_cb cb, void *arg);
/* The callback will not be called; the check still completes. */
void auth_req_cancel(struct auth_req *req);

/* ---- SASL (RFC 4422) message decoding, pure ------------------------------------- */

#define AUTH_SASL_FIELD_MAX 1024

/*
 * PLAIN (RFC 4616): base64 of authzid NUL authcid NUL passwd. An authzid
 * other than empty or equal to authcid is refused (no proxy logins).
 * Returns 0, or -1 with *err_r a static reason ("malformed PLAIN message").
 */
int auth_sasl_plain(struct slice b64, char user_r[AUTH_SASL_FIELD_MAX], char pass_r[AUTH_SASL_FIELD_MAX],
		    const char **err_r);
/* LOGIN: one base64 field (user name, then password). */
int auth_sasl_login_field(struct slice b64, char field_r[AUTH_SASL_FIELD_MAX], const char **err_r);

#endif
