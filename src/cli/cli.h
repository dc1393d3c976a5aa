/*
 * cli: the `hermod` administration command line.
 *
 * main.c strips `-c FILE` and calls cli_run() with the verb and its
 * arguments. A table in cli.c maps (verb, subverb) to a handler, the
 * arguments it takes and its usage line; the dispatcher parses options
 * generically so handlers only see validated counts and known options.
 * Handlers live in one file per family (cli_<family>.c).
 *
 * Exit status: 0 success, 1 error (one "hermod: <cause>" line on stderr),
 * 2 usage error (the usage line is printed).
 */
#ifndef HERMOD_CLI_CLI_H
#define HERMOD_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/password.h"
#include "config/config.h"
#include "mail/mail_address.h"
#include "store/store.h"

enum cli_status { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

#define CLI_POS_MAX 8
#define CLI_OPT_MAX 32

struct cli_opt {
	const char *name;  /* without the leading "--" */
	const char *value; /* NULL for a flag */
};

/* One command's arguments after the verb (and subverb). Borrowed from argv. */
struct cli_args {
	const char *pos[CLI_POS_MAX];
	size_t npos;
	struct cli_opt opt[CLI_OPT_MAX];
	size_t nopt;
};

/* What a handler works with; the config and store are opened on demand. */
struct cli {
	const char *config_path;
	struct config *cfg;
	struct store *store;
};

/* Runs argv[0] (the verb) with its arguments. Returns the exit status. */
int cli_run(const char *config_path, int argc, char **argv);

/* ---- helpers shared by the handlers (cli.c) ----------------------------- */

/* Prints "hermod: <message>" on stderr; returns CLI_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "hermod: <message>" on stderr; returns CLI_USAGE (usage follows). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Loads the configuration (once). 0 or -1 (error printed). */
int cli_open_config(struct cli *c);
/* Loads the configuration and opens the store (once). 0 or -1 (error printed). */
int cli_open_store(struct cli *c);

/* Last value of --name, or NULL. */
const char *cli_opt_value(const struct cli_args *a, const char *name);
bool cli_opt_flag(const struct cli_args *a, const char *name);

/* "50M" → 52428800 (K, M, G: powers of 1024). 0 or -1 (error printed, naming what). */
int cli_parse_size(const char *text, const char *what, uint64_t *size_r);
/* Validates an address with mail_address_parse. 0 or -1 (its error printed). */
int cli_parse_address(const char *text, char local_r[MAIL_LOCAL_MAX + 1], char domain_r[MAIL_DOMAIN_MAX + 1]);
/* A display name (organisation): 1..max bytes, no control characters. 0 or CLI_ERROR (printed). */
int cli_check_name(const char *kind, const char *name, size_t max);
/* Formats a unix time as "2024-05-01T12:00:00Z". */
void cli_format_time(int64_t t, char *out, size_t size);

/* ---- passwords (cli_password.c) ------------------------------------------ */

/*
 * Reads a new password (--password-stdin: one line of stdin; otherwise an
 * interactive prompt, twice, echo off) and hashes it into hash_r. Every
 * buffer that held the password is wiped. 0 or -1 (error printed).
 */
int cli_password_read_hash(const struct cli_args *a, const char *whose, char *hash_r, size_t hash_size);

/* Room for the longest password, its CR LF, and one byte to detect excess. */
#define CLI_PASSWORD_BUF (PASSWORD_MAX_LENGTH + 3)
/* The same without hashing: the password in pw_r, which the caller wipes (sodium_memzero). */
int cli_password_read(const struct cli_args *a, const char *whose, char pw_r[CLI_PASSWORD_BUF]);

/* ---- the service layer (cli_manage.c) --------------------------------------- */

/*
 * Runs operation op (manage.h) as the operator (system actor, channel
 * "cli"), then sends what it queued (invitations). CLI_OK with *result_r
 * (the caller releases it), or CLI_ERROR with the operation's message
 * printed.
 */
int cli_call(struct cli *c, const char *op, json_t *params, json_t **result_r);
/* cli_call with params[field] set to a password read as cli_password_read does (wiped after). */
int cli_call_password(struct cli *c, const char *op, json_t *params, const char *field, const char *whose,
		      const struct cli_args *a, json_t **result_r);
/* A member of a result object ("" or 0 when absent). */
const char *cli_json_str(json_t *obj, const char *key);
int64_t cli_json_int(json_t *obj, const char *key);

/* ---- handlers (cli_<family>.c) -------------------------------------------- */

typedef int cli_handler(struct cli *c, const struct cli_args *a);

cli_handler cli_init, cli_serve, cli_config_check, cli_config_dump;
cli_handler cli_org_add, cli_org_remove, cli_org_list;
cli_handler cli_member_list, cli_member_set, cli_member_remove, cli_service_list;
cli_handler cli_account_add, cli_account_passwd, cli_account_list, cli_account_remove;
cli_handler cli_domain_add, cli_domain_list, cli_domain_plan, cli_domain_dns, cli_domain_dkim, cli_domain_remove;
cli_handler cli_domain_link, cli_domain_unlink;
cli_handler cli_address_add, cli_address_list, cli_address_show, cli_address_passwd, cli_address_quota,
	cli_address_remove;
cli_handler cli_access_grant, cli_access_revoke, cli_access_list, cli_history;
cli_handler cli_folder_list, cli_export;
cli_handler cli_domain_check, cli_address_import; /* cli_check.c, cli_import.c */
cli_handler cli_queue_list, cli_queue_show, cli_queue_retry, cli_queue_hold, cli_queue_release, cli_queue_remove;
cli_handler cli_invite, cli_link_create, cli_link_list, cli_link_revoke; /* cli_invite.c */
cli_handler cli_autoreply_set, cli_autoreply_off, cli_autoreply_show, cli_alias_targets, cli_alias_confirm; /* cli_inbound.c */
cli_handler cli_app_password_list, cli_app_password_add, cli_app_password_revoke; /* cli_devices.c */

#endif
