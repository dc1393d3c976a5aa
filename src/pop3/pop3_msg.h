/*
 * pop3_msg: the pure parts of POP3, apart from the session so that they can
 * be unit-tested and fuzzed: the RETR/TOP output filter and argument
 * parsing.
 *
 * It also holds the maildrop entry (struct pop3_message) and the pure
 * decisions taken on the maildrop: which message to read ahead after a
 * RETR/TOP, and the LIST/UIDL scan-listing lines.
 *
 * The filter turns a stored message, fed in arbitrary chunks, into the
 * multi-line response body of RFC 1939 section 3: every line ends in CRLF
 * (a bare LF becomes CRLF), a line that begins with "." gets another "."
 * (byte-stuffing), and the response ends with ".\r\n". For TOP it stops
 * after the header, the blank line and n lines of body. Memory is constant
 * whatever the line lengths: nothing is buffered beyond one pending CR.
 */
#ifndef HERMOD_POP3_POP3_MSG_H
#define HERMOD_POP3_POP3_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/slice.h"

/* One message of the maildrop snapshot taken at login (RFC 1939 numbers are index + 1). */
struct pop3_message {
	uint32_t uid;
	bool deleted;
	uint64_t size;
	int64_t body_id;
};

typedef void (*pop3_emit_fn)(const char *p, size_t len, void *arg);

struct pop3_msg_filter {
	bool top;            /* TOP: stop after body_lines lines of body */
	uint64_t body_lines; /* body lines still to send (TOP) */
	bool line_start;     /* the next byte begins a line */
	bool cr_pending;     /* the last byte fed was a CR: its LF may come next */
	bool in_body;        /* the blank line after the header has been sent */
	bool done;           /* TOP has sent all it should: feed no more */
};

/* top false: RETR (the whole message). top true: TOP with body_lines lines. */
void pop3_msg_filter_init(struct pop3_msg_filter *f, bool top, uint64_t body_lines);
/*
 * Filters len bytes to emit. Returns how many were consumed: len, or fewer
 * once f->done is set (the rest is not wanted).
 */
size_t pop3_msg_filter_feed(struct pop3_msg_filter *f, const char *p, size_t len, pop3_emit_fn emit, void *arg);
/* The end of the message: ends an unterminated last line, then ".\r\n". */
void pop3_msg_filter_finish(struct pop3_msg_filter *f, pop3_emit_fn emit, void *arg);

/*
 * A decimal argument: digits only, no sign, no leading '+', at most
 * max. Returns 0 or -1 (empty, not a number, too large).
 */
int pop3_parse_number(struct slice s, uint64_t max, uint64_t *n_r);

/*
 * Splits a command line into its keyword (1-4 letters for RFC 1939, up to
 * 10 for extensions) and the rest after one space. -1 when the keyword is
 * missing or too long.
 */
int pop3_split_command(struct slice line, struct slice *verb_r, struct slice *args_r);
/* Splits args at the first space: the first word and the rest (maybe empty). */
void pop3_next_word(struct slice args, struct slice *word_r, struct slice *rest_r);

/*
 * The messages worth reading ahead once message `after` (an index) has
 * been sent: the ones after it not marked deleted, in order, as long as
 * each fits, with one byte more than its size (the read must also see the
 * end of the body), in budget bytes altogether; at most max_msgs. Clients
 * fetch in order; a message that does not fit (a large one is streamed
 * anyway) ends the run. Writes their indexes to indexes_r and returns how
 * many (0: none).
 */
size_t pop3_prefetch_pick(const struct pop3_message *msgs, size_t count, size_t after, uint64_t budget,
			  size_t max_msgs, size_t *indexes_r);

/* Room for any line pop3_listing_line writes (the longest is 44 bytes: 20 + 1 + 10 + 1 + 10 + 2). */
#define POP3_LISTING_LINE_MAX 48
/*
 * One scan-listing line of RFC 1939 5 (LIST: "n size") or 7 (UIDL: "n
 * uidvalidity.uid"), CRLF-terminated, into buf (at least
 * POP3_LISTING_LINE_MAX bytes, not NUL-terminated). Returns its length.
 */
size_t pop3_listing_line(char *buf, size_t number, const struct pop3_message *m, bool uidl, uint32_t uidvalidity);

#endif
