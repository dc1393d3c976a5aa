/*
 * smtp_reply_parse: pure parsers for what an SMTP server answers (RFC 5321
 * section 4.2), for the outbound client: reply lines, enhanced status codes
 * (RFC 3463, RFC 2034) and EHLO keywords. No allocation, no I/O.
 */
#ifndef HERMOD_SMTP_SMTP_REPLY_PARSE_H
#define HERMOD_SMTP_SMTP_REPLY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/slice.h"

#define SMTP_ENHANCED_MAX 16 /* "5.123.456" plus NUL, with room */

struct smtp_reply_line {
	unsigned code;     /* 200..559 */
	bool last;         /* "250 text" or "250" ends the reply; "250-text" does not */
	struct slice text; /* after the separator; borrowed from the line */
};

/*
 * One reply line without its CRLF. The code must be three digits, the first
 * 2-5 and the second 0-5 (RFC 5321 4.2.1), followed by SP, "-" or nothing.
 * Returns 0, or -1 when the line is not a reply line (a protocol error).
 */
int smtp_reply_parse_line(const char *line, size_t len, struct smtp_reply_line *r);

/*
 * An enhanced status code at the start of *text ("5.1.1 User unknown"):
 * class 2, 4 or 5 equal to the reply code's first digit, subject and detail
 * of 1-3 digits, then a space or the end. On success copies it to status_r,
 * moves *text past it and its spaces, and returns true; otherwise leaves
 * *text alone and returns false.
 */
bool smtp_reply_parse_enhanced(unsigned code, struct slice *text, char status_r[SMTP_ENHANCED_MAX]);

enum smtp_ext {
	SMTP_EXT_PIPELINING = 1 << 0,          /* RFC 2920 */
	SMTP_EXT_SIZE = 1 << 1,                /* RFC 1870 */
	SMTP_EXT_8BITMIME = 1 << 2,            /* RFC 6152 */
	SMTP_EXT_SMTPUTF8 = 1 << 3,            /* RFC 6531 */
	SMTP_EXT_STARTTLS = 1 << 4,            /* RFC 3207 */
	SMTP_EXT_CHUNKING = 1 << 5,            /* RFC 3030 */
	SMTP_EXT_ENHANCEDSTATUSCODES = 1 << 6, /* RFC 2034 */
	SMTP_EXT_DSN = 1 << 7,                 /* RFC 3461 */
};

/*
 * One line of an EHLO reply after the first (the first is the greeting):
 * sets the keyword's bit in *exts. "SIZE n" stores n in *size_max_r (0 when
 * no number, i.e. no fixed limit; a number past 2^64-1 saturates). Keywords
 * are case-insensitive; unknown ones are ignored.
 */
void smtp_reply_parse_ehlo_line(struct slice text, unsigned *exts, uint64_t *size_max_r);

#endif
