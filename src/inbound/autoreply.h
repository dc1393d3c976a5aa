/*
 * autoreply: the decisions and the message of an RFC 3834 auto-reply
 * ("vacation" notice), as pure functions.
 *
 * After a message was delivered to an address whose auto-reply is on, the
 * delivery path (inbound.c) asks autoreply_decide whether this message may
 * be answered at all, checks the once-per-period log, and sends what
 * autoreply_build writes. The rules (RFC 3834 section 2 and the issue):
 * never to the null sender (a notice), never when Auto-Submitted is present
 * and not "no" (an automatic message: answering could loop), never to list
 * or bulk mail (List-* fields of RFC 2369/2919, Precedence: bulk, list or
 * junk), never to the address itself, never to robots (MAILER-DAEMON,
 * owner-*, *-request, no-reply), never for mail that reached the address
 * only through a catchall, and at most once per sender per period.
 */
#ifndef HERMOD_INBOUND_AUTOREPLY_H
#define HERMOD_INBOUND_AUTOREPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define AUTOREPLY_SUBJECT_MAX 256   /* of the original, kept for "Auto: <subject>" */
#define AUTOREPLY_MSGID_MAX 256
#define AUTOREPLY_REFS_MAX 1024     /* References kept: the newest ids that fit */
#define AUTOREPLY_HEADER_MAX (64 * 1024) /* header bytes examined; a longer header is not answered */

/* What the original message's header says (autoreply_headers_parse). */
struct autoreply_headers {
	bool auto_submitted; /* Auto-Submitted present with a value other than "no" */
	bool list;           /* a List-* field */
	bool bulk;           /* Precedence: bulk, list or junk */
	bool truncated;      /* longer than AUTOREPLY_HEADER_MAX: not known, so not answered */
	char subject[AUTOREPLY_SUBJECT_MAX];       /* unfolded, "" if none */
	char message_id[AUTOREPLY_MSGID_MAX];      /* "<...>", "" if none or malformed */
	char references[AUTOREPLY_REFS_MAX];       /* as received (unfolded), "" if none */
};

/*
 * Parses a header section (CRLF or LF line ends; stops at the empty line or
 * the end of hdr). truncated is the caller's: set it when the section did
 * not fit in what it kept.
 */
void autoreply_headers_parse(const char *hdr, size_t len, struct autoreply_headers *h);

enum autoreply_verdict {
	AUTOREPLY_SEND,
	AUTOREPLY_NULL_SENDER,
	AUTOREPLY_CATCHALL,
	AUTOREPLY_SELF,
	AUTOREPLY_ROBOT,
	AUTOREPLY_HEADER_UNKNOWN,
	AUTOREPLY_AUTO_SUBMITTED,
	AUTOREPLY_LIST,
	AUTOREPLY_BULK,
};

struct autoreply_facts {
	const char *sender;   /* the envelope sender; "" for the null sender */
	const char *address;  /* the address whose auto-reply it would be (local@domain) */
	bool via_catchall;    /* the message reached it only as the domain's catchall */
	const struct autoreply_headers *headers;
};

/* May this message be answered? AUTOREPLY_SEND or the rule that forbids it. */
enum autoreply_verdict autoreply_decide(const struct autoreply_facts *f);
/* "send", "null-sender", "catchall", ... (for logs). */
const char *autoreply_verdict_name(enum autoreply_verdict v);

/*
 * Is an auto-reply on at now? enabled, and inside [starts_at, ends_at)
 * (0: no bound).
 */
bool autoreply_active(bool enabled, int64_t starts_at, int64_t ends_at, int64_t now);
/* Has the period since the last reply to this sender (0: never) passed? */
bool autoreply_period_over(int64_t last_replied, int64_t now, int64_t period_s);

/* The reply (RFC 3834 section 3). */
struct autoreply_reply {
	const char *from;       /* the address that auto-replies */
	const char *to;         /* the original envelope sender */
	const char *subject;    /* configured; "" or NULL: "Auto: <original subject>" */
	const char *body;       /* the configured text (UTF-8, LF or CRLF) */
	const struct autoreply_headers *original;
	int64_t date;           /* unix seconds */
	const char *message_id; /* "<...@host>" */
};

/*
 * Writes the whole message with CRLF line ends: From, To, Subject (RFC 2047
 * when not ASCII), Date, Message-ID, In-Reply-To and References (RFC 5322
 * 3.6.4), Auto-Submitted: auto-replied (RFC 3834 5), MIME text/plain
 * (7bit, or base64 when the text is not 7-bit or has long lines).
 */
void autoreply_build(const struct autoreply_reply *r, struct buf *out);

#endif
