/*
 * dsn: delivery status notifications (RFC 3464) as complete messages.
 *
 * A notice is multipart/report; report-type=delivery-status (RFC 6522)
 * with three parts: a human-readable text/plain in the spirit of the
 * provider's wording ("your message to X is still undelivered after 4
 * hours; we will keep trying until the message is 3 days old"), the
 * machine-readable message/delivery-status, and the original message's
 * header (text/rfc822-headers) or, for RET=FULL and a message no larger
 * than full_max, the whole original (message/rfc822).
 *
 * It comes From MAILER-DAEMON@<reporting host>, is sent from the null
 * sender by the queue (RFC 5321 4.5.5: so that a notice never causes a
 * notice), and carries Auto-Submitted: auto-replied (RFC 3834).
 *
 * Everything we write has CRLF line ends and lines of at most 998 octets,
 * folded or wrapped near 78 columns where there is whitespace. Header
 * fields and the delivery-status part are US-ASCII: text from the remote
 * server (Diagnostic-Code) is reduced to printable ASCII, a non-ASCII
 * original subject becomes RFC 2047 encoded words, and a non-ASCII
 * (SMTPUTF8) recipient is written as a "utf-8" address (RFC 6533 3). The
 * human-readable part is UTF-8 (8bit when it has non-ASCII addresses). The original is copied with its line
 * ends made CRLF; in the header-only form a line over 998 octets is cut
 * (the report is informational), and a full original with such a line
 * is returned as its header only.
 */
#ifndef HERMOD_OUTBOUND_DSN_H
#define HERMOD_OUTBOUND_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/slice.h"

#define DSN_FULL_MAX_DEFAULT (50 * 1024) /* like Postfix's bounce_size_limit */
#define DSN_DIAGNOSTIC_MAX 1000          /* remote text kept per recipient */
#define DSN_LINE_MAX 998                 /* RFC 5322 2.1.1 */

enum dsn_action {
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
};

struct dsn_recipient {
	const char *address;           /* the recipient (RCPT TO), for Final-Recipient */
	const char *original;          /* ORCPT as given, "rfc822;bob@example.net", or NULL */
	enum dsn_action action;
	const char *status;            /* RFC 3463 code, "4.4.1", "5.1.1" */
	const char *remote_mta;        /* host name of the server that answered, or NULL */
	const char *diagnostic;        /* its reply, "550 5.1.1 <bob@...>: no such user", or NULL */
	time_t last_attempt;           /* 0 when never attempted */
};

struct dsn_report {
	const char *reporting_mta;     /* our host name: Reporting-MTA and MAILER-DAEMON@ */
	const char *sender;            /* the original envelope sender: To of the notice */
	const char *envelope_id;       /* ENVID (RFC 3461), or NULL */
	time_t arrival;                /* when the original was accepted */
	time_t now;                    /* Date of the notice */
	uint64_t delay_s;              /* delayed: how long it has been undelivered, as told (4 hours) */
	uint64_t lifetime_s;           /* how long we keep trying in all (3 days) */
	const struct dsn_recipient *rcpts;
	size_t rcpt_count;
	struct slice original;         /* the original message (or at least its header block) */
	bool return_full;              /* RET=FULL */
	size_t full_max;               /* largest original returned whole; 0 = DSN_FULL_MAX_DEFAULT */
	const char *message_id;        /* Message-ID of the notice "<...>"; NULL = a new random one */
	const char *boundary;          /* MIME boundary; NULL = a new random one (fixed only for tests) */
};

/*
 * Appends the notice (header and body, CRLF line ends, no dot-stuffing) to
 * out, which must be unbounded (max 0). The subject follows the recipients: any failed → "Undelivered Mail
 * Returned to Sender"; else any delayed → "Delivery delayed: <original
 * subject>"; else "Successful Mail Delivery Report". 0, or -1 with *errstr_r
 * for a null sender (no notice is owed), no recipients, a sender or
 * recipient address with control characters, or a given boundary that
 * occurs in the original.
 */
int dsn_build(const struct dsn_report *r, struct buf *out, const char **errstr_r);

/*
 * A duration in words for people: "4 hours", "3 days", "1 hour 30 minutes",
 * "1 day 12 hours" (at most two units, the smaller one rounded down).
 */
void dsn_format_duration(uint64_t seconds, char *out, size_t size);

#endif
