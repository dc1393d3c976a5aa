/*
 * submit_headers: the header fixes a submission server owes the message
 * (RFC 6409 8): add Date and Message-ID when missing, remove Bcc, and find
 * the From addresses for the "may this login send as this address" check.
 *
 * It is a streaming filter over the start of the message: feed it bytes as
 * they arrive (any split); it keeps only the header block (bounded by
 * SUBMIT_HEADER_MAX) and stops consuming at the empty line that ends it.
 * What follows is body, which the caller passes on untouched.
 *
 * Output: the fixed header block, ending with the empty line, with the
 * added fields at its end (RFC 5322 does not order fields; Postfix's
 * cleanup appends too). Every line end of the block is written as CRLF.
 *
 * The header ends at the empty line, or at the first line that is neither
 * a header field ("name:") nor a continuation; that line and what follows
 * is body, and an empty line is put in front of it.
 */
#ifndef HERMOD_OUTBOUND_SUBMIT_HEADERS_H
#define HERMOD_OUTBOUND_SUBMIT_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/slice.h"

#define SUBMIT_HEADER_MAX (256 * 1024) /* the header block; same bound as MIME_HEADER_MAX */
#define SUBMIT_FROM_MAX 64             /* From addresses kept; more is an error */
#define SUBMIT_DATE_SIZE 40            /* "Mon, 01 Jan 2024 08:00:00 +0000" + NUL, with room */
#define SUBMIT_MSGID_SIZE 320          /* "<" 32 hex "@" hostname (<= 253) ">" + NUL */

struct submit_headers_result {
	bool had_date, had_message_id;
	unsigned bcc_removed;  /* Bcc and Resent-Bcc fields dropped */
	struct buf header;     /* the fixed header block, ending with the empty line */
	struct buf body_start; /* body bytes consumed with the header (see above); usually empty */
	char **from;           /* addr-specs of the From fields, in order (xstrdup'd) */
	size_t from_count;
	unsigned from_fields;  /* how many From fields there were (RFC 5322: exactly one) */
};

struct submit_headers;

/* hostname: the right side of generated Message-IDs; now: the Date to add. */
struct submit_headers *submit_headers_new(const char *hostname, time_t now);
void submit_headers_free(struct submit_headers *h);

/*
 * Feeds message bytes. Returns how many were consumed: all of them while
 * the header lasts; fewer once the empty line has been read (the rest is
 * body). *done_r is set when the header block is complete.
 */
size_t submit_headers_feed(struct submit_headers *h, const void *data, size_t len, bool *done_r);
/* The message ended inside the header (a message with no body): completes it. */
void submit_headers_end(struct submit_headers *h);

/*
 * After done (or end): NULL and the result, borrowed until free; or NULL
 * result and *errstr_r when the header was over SUBMIT_HEADER_MAX or
 * had more than SUBMIT_FROM_MAX From addresses (refuse the message).
 */
const struct submit_headers_result *submit_headers_result(const struct submit_headers *h, const char **errstr_r);

/*
 * From addresses of one From field value (unfolded or not): angle-addr or
 * bare addr-spec, comma separated; comments and display names skipped.
 * Limitations: a group ("name: a@b, c@d;") gives its members, no more; no
 * obsolete syntax beyond source routes (dropped); quoted local parts are
 * returned as written. Adds xstrdup'd strings to *v / *count, at most max
 * in all; -1 when there would be more.
 */
int submit_headers_parse_from(struct slice value, char ***v, size_t *count, size_t max);

/* RFC 5322 3.3 date in UTC: "Mon, 01 Jan 2024 08:00:00 +0000" (no locale). */
void submit_headers_date(time_t t, char out[SUBMIT_DATE_SIZE]);
/* A new random Message-ID "<32 hex digits@hostname>" (RFC 5322 3.6.4). */
void submit_headers_message_id(const char *hostname, char out[SUBMIT_MSGID_SIZE]);

#endif
