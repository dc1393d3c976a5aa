/*
 * smtp_parse: pure parsers for SMTP command lines (RFC 5321 section 4.1).
 *
 * They take a line without its CRLF, fill caller-owned structs and return 0,
 * or -1 with *reply_r set to the complete reply a server should send
 * ("501 5.1.7 Bad sender address syntax: missing '>'"): a static string, or,
 * when the reply names the cause (an unknown parameter, a path error), one
 * in a per-thread buffer that stays valid until the next smtp_parse call
 * from the same thread. Send it (or copy it) before parsing again.
 * No allocation, no I/O: unit-tested and fuzzed.
 */
#ifndef HERMOD_SMTP_SMTP_PARSE_H
#define HERMOD_SMTP_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/slice.h"

#define SMTP_LOCAL_MAX 64    /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255  /* RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX 256    /* RFC 5321 4.5.3.1.3, including the brackets */
#define SMTP_XTEXT_MAX 100   /* ENVID / ORCPT values (RFC 3461 caps ENVID at 100) */

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

struct smtp_command {
	enum smtp_verb verb;
	struct slice args; /* after the verb (and for MAIL/RCPT after "FROM:"/"TO:"), leading spaces skipped */
};

/*
 * Splits a command line into verb and arguments. Unknown verbs give
 * SMTP_VERB_UNKNOWN and return 0. "MAIL FROM:" and "RCPT TO:" are
 * recognised as wholes (case-insensitive, RFC 5321 allows no space before
 * the colon; we accept one, as Postfix does, for broken clients).
 * Returns -1 (500/501 reply) for NUL bytes or other control characters,
 * and (501) for MAIL / RCPT without "FROM:" / "TO:".
 */
int smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd_r, const char **reply_r);

/* HELO/EHLO argument: a domain or an address literal ([1.2.3.4], [IPv6:...]). */
int smtp_parse_helo(struct slice args, char *domain_r, size_t domain_size, const char **reply_r);

struct smtp_path {
	bool null_path;                  /* MAIL FROM:<> */
	char local[SMTP_LOCAL_MAX + 1];  /* unquoted form; may contain UTF-8 when SMTPUTF8 */
	char domain[SMTP_DOMAIN_MAX + 1];
	char address[SMTP_PATH_MAX + 1]; /* local@domain as received (quoted local part kept quoted) */
};

enum smtp_body_type { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_UNSET, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_mail_params {
	bool has_size;
	uint64_t size;
	enum smtp_body_type body;
	bool smtputf8;
	enum smtp_ret ret;                 /* DSN RET= */
	char envid[SMTP_XTEXT_MAX + 1];    /* DSN ENVID=, xtext-decoded */
	char auth[SMTP_PATH_MAX + 1];      /* AUTH= (RFC 4954), xtext-decoded, "" if absent */
};

enum smtp_notify {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};

struct smtp_rcpt_params {
	unsigned notify;                  /* 0 if absent */
	char orcpt[SMTP_PATH_MAX + 16];   /* ORCPT= as "rfc822;addr", xtext-decoded, "" if absent */
};

/*
 * MAIL FROM:<path> [params]. Source routes ("@a,@b:") are accepted and
 * ignored (RFC 5321 C.). Unknown parameters are refused with 555 5.5.4.
 * Non-ASCII in the path is allowed only with SMTPUTF8 (553 5.6.7 otherwise).
 * A SIZE= value past 2^64-1 saturates to UINT64_MAX (the caller's limit
 * check then refuses it naming the limit).
 */
int smtp_parse_mail(struct slice args, struct smtp_path *path_r, struct smtp_mail_params *params_r,
		    const char **reply_r);
/* RCPT TO:<path> [params]; "<postmaster>" alone is accepted (domain ""). */
int smtp_parse_rcpt(struct slice args, bool smtputf8, struct smtp_path *path_r, struct smtp_rcpt_params *params_r,
		    const char **reply_r);
/* BDAT <size> [LAST] (RFC 3030). A size past 2^64-1 is refused (501). */
int smtp_parse_bdat(struct slice args, uint64_t *size_r, bool *last_r, const char **reply_r);

#endif
