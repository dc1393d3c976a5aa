/*
 * smtp_data: the DATA / BDAT content filter, a pure streaming state machine.
 *
 * DATA mode (RFC 5321 4.1.1.4, 4.5.2): removes dot-stuffing and finds the
 * end of data, which is only ever <CRLF>.<CRLF>. Bare LF in the text is
 * normalised to CRLF (messages are stored with CRLF line endings). A lone
 * "." delimited by anything other than CRLF on both sides (the "SMTP
 * smuggling" sequences <LF>.<LF>, <LF>.<CRLF>, <CRLF>.<LF>, <CR>.<CR>,
 * <CR>.<LF> ...) never ends the message: it is passed through as text and
 * sets `smuggling`, and the server refuses the message when the real end
 * arrives.
 *
 * BDAT mode (RFC 3030): no dot handling and no end detection (the chunk
 * sizes frame the message); bare LF is still normalised to CRLF, across
 * chunk boundaries.
 *
 * Memory is constant whatever the line lengths: output is produced as input
 * is consumed.
 */
#ifndef HERMOD_SMTP_SMTP_DATA_H
#define HERMOD_SMTP_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtp_data_mode { SMTP_DATA_DOT, SMTP_DATA_BDAT };

struct smtp_data_filter {
	enum smtp_data_mode mode;
	int state;          /* private */
	bool ended;         /* DATA mode: <CRLF>.<CRLF> seen */
	bool smuggling;     /* a lone dot with a non-CRLF delimiter was seen */
	uint64_t bare_lf;   /* bare LFs normalised */
	uint64_t out_bytes; /* bytes produced so far */
};

typedef void (*smtp_data_out_cb)(const char *p, size_t len, void *arg);

void smtp_data_init(struct smtp_data_filter *f, enum smtp_data_mode mode);

/*
 * Consumes up to len bytes of network input, calling out() with the
 * content. Returns how many bytes were consumed: in DATA mode, when the end
 * of data is reached, consumption stops right after its final LF (what
 * follows is the client's next command) and f->ended is set.
 */
size_t smtp_data_feed(struct smtp_data_filter *f, const char *p, size_t len, smtp_data_out_cb out, void *arg);

/*
 * BDAT mode, after the LAST chunk: flushes a held trailing CR, if any.
 * DATA mode: no-op.
 */
void smtp_data_finish(struct smtp_data_filter *f, smtp_data_out_cb out, void *arg);

#endif
