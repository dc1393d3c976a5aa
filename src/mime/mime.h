/*
 * mime: our streaming MIME parser (RFC 5322, RFC 2045-2049) and what IMAP
 * derives from it: BODYSTRUCTURE, ENVELOPE, sections, decoded text.
 *
 * Why our own parser and not GMime: it streams a message of any size in
 * bounded memory without building the bodies; it keeps the byte-exact
 * offsets IMAP needs (BODY[1.2.MIME], partial fetches); it enforces hard
 * limits (nesting depth, part count, header size) and treats whatever
 * breaks them as plain body text instead of failing; and it brings no GLib
 * into the attack surface. Postfix, Dovecot and OpenSMTPD chose the same.
 *
 * Offsets are relative to the start of the message as stored (CRLF line
 * endings). The tree lives in one arena owned by the struct mime_message.
 */
#ifndef HERMOD_MIME_MIME_H
#define HERMOD_MIME_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/slice.h"

#define MIME_DEPTH_MAX 50          /* nested multiparts / message/rfc822 */
#define MIME_PARTS_MAX 5000        /* beyond it, the rest is the last part's body */
#define MIME_HEADER_MAX (256 * 1024) /* one header block; beyond it, the rest is body */
#define MIME_BOUNDARY_MAX 70       /* RFC 2046 5.1.1 */

struct mime_param {
	const char *name;  /* lower case */
	const char *value; /* RFC 2231 continuations joined; charset decoding left to the caller */
	struct mime_param *next;
};

struct mime_address {
	const char *name;    /* display name, raw (may hold RFC 2047 words), or NULL */
	const char *adl;     /* source route, or NULL */
	const char *mailbox; /* local part, or NULL */
	const char *host;    /* domain, or NULL */
	bool group_start;    /* an RFC 5322 group: mailbox holds the group name, host NULL */
	bool group_end;
	struct mime_address *next;
};

struct mime_envelope {
	const char *date, *subject, *in_reply_to, *message_id; /* raw, unfolded; NULL if absent */
	struct mime_address *from, *sender, *reply_to, *to, *cc, *bcc;
};

struct mime_part {
	struct mime_part *parent;
	struct mime_part *children; /* multipart: the parts; message/rfc822: the one embedded message */
	struct mime_part *next;     /* sibling */

	uint64_t header_offset;
	uint64_t header_size;  /* including the blank line that ends the header */
	uint64_t body_offset;
	uint64_t body_size;
	uint32_t body_lines;

	const char *type, *subtype;  /* lower case; "text"/"plain" when absent */
	struct mime_param *params;   /* Content-Type parameters */
	const char *id, *description, *encoding; /* encoding: lower case, "7bit" when absent */
	const char *disposition;     /* lower case, or NULL */
	struct mime_param *disposition_params;
	const char *language, *location, *md5;

	struct mime_envelope *envelope; /* message/rfc822 parts: the embedded message's */
};

struct mime_message {
	struct mime_part *root;        /* the message itself (its header is the message header) */
	struct mime_envelope envelope; /* of the root */
	uint32_t part_count;
	bool limits_hit;               /* depth, part count or header size was exceeded */
	void *arena;                   /* private */
};

struct mime_parser;

/* ---- parsing ---------------------------------------------------------------------------- */

struct mime_parser *mime_parser_new(void);
/* Feeds the next bytes of the message (any split). Never fails: malformed MIME is body text. */
void mime_parser_feed(struct mime_parser *p, const void *data, size_t len);
/* Ends the input and returns the tree (the parser is freed). */
struct mime_message *mime_parser_finish(struct mime_parser *p);
void mime_message_free(struct mime_message *m);

/* The cache form (store_body_meta_*): a compact serialisation of the whole tree. */
void mime_message_serialize(const struct mime_message *m, struct buf *out);
/* NULL if blob is not a serialisation from this version (then reparse). */
struct mime_message *mime_message_deserialize(const void *blob, size_t len);

/* ---- IMAP views --------------------------------------------------------------------------- */

/* RFC 3501 7.4.2 / RFC 9051 7.5.2: BODY (extended=false) or BODYSTRUCTURE (true), appended to out. */
void mime_imap_bodystructure(const struct mime_message *m, bool extended, struct buf *out);
/* RFC 3501 7.4.2 ENVELOPE, appended to out. */
void mime_imap_envelope(const struct mime_envelope *env, struct buf *out);

/*
 * Finds the part named by an IMAP section part specifier ("", "1", "1.2.3").
 * "" is the whole message. For a message/rfc822 part, "N" is that part and
 * its HEADER/TEXT refer to the embedded message (RFC 3501 6.4.5). Returns 0,
 * or -1 when there is no such part.
 */
int mime_section_part(const struct mime_message *m, const char *spec, const struct mime_part **part_r);

/* ---- headers ----------------------------------------------------------------------------------- */

/*
 * Appends to out the header lines of hdr (a header block as stored) whose
 * names are (not = false) or are not (not = true) in names, case-insensitive,
 * followed by the blank line: BODY[HEADER.FIELDS (...)] / .NOT.
 */
void mime_header_filter(struct slice hdr, const char *const *names, size_t count, bool not, struct buf *out);
/* The unfolded value of the first header called name, or 0 if absent. */
int mime_header_value(struct slice hdr, const char *name, struct buf *out);

/* ---- decoding ---------------------------------------------------------------------------------- */

/* RFC 2047 encoded words in a header value → UTF-8 (unknown charsets left as they are). */
void mime_decode_words(struct slice value, struct buf *out);
/* Content-Transfer-Encoding decoding (base64, quoted-printable; others copied). */
int mime_decode_transfer(const char *encoding, struct slice in, struct buf *out);
/* Converts text in charset to UTF-8 (iconv); invalid sequences become U+FFFD. */
int mime_charset_to_utf8(const char *charset, struct slice in, struct buf *out);

/*
 * The searchable text of a message as UTF-8: decoded header values, then the
 * decoded text of every text/ part (others skipped). body is the whole
 * stored message. Used for SEARCH TEXT/BODY and the full-text index.
 * header_only / body_only select SEARCH HEADER-ish vs BODY-ish text.
 */
void mime_search_text(const struct mime_message *m, struct slice message, bool headers, bool bodies, struct buf *out);

#endif
