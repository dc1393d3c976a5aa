/*
 * mime_private: what the files of src/mime share and nobody else uses — the
 * arena the tree lives in, the header block iterator and the header field
 * parsers the streaming parser calls once a header block is complete.
 */
#ifndef HERMOD_MIME_MIME_PRIVATE_H
#define HERMOD_MIME_MIME_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/slice.h"
#include "mime/mime.h"

/* ---- arena (mime_parser.c) ---------------------------------------------------------------- */

struct mime_arena;

struct mime_arena *mime_arena_new(void);
void mime_arena_free(struct mime_arena *a);
/* Zeroed memory that lives as long as the arena; never NULL. */
void *mime_arena_alloc(struct mime_arena *a, size_t n);
/* A NUL-terminated copy of p[0..n) (p may hold NULs; the copy keeps them). */
char *mime_arena_strndup(struct mime_arena *a, const char *p, size_t n);
/* As mime_arena_strndup, lower-cased (ASCII). */
char *mime_arena_strndup_lower(struct mime_arena *a, const char *p, size_t n);

/* ---- header blocks (mime_header.c) ----------------------------------------------------------- */

struct mime_header_iter {
	const char *p, *end;
};

void mime_header_iter_init(struct mime_header_iter *it, struct slice hdr);
/*
 * The next header field of the block: its name (trimmed) and raw value (the
 * bytes after the colon up to the end of the field, folds included, the final
 * line break excluded); line_r is the whole field with its line breaks.
 * Lines without a colon are skipped (RFC 5322 has no place for them). Stops
 * at the blank line. Returns true while there is a field.
 */
bool mime_header_iter_next(struct mime_header_iter *it, struct slice *name_r, struct slice *value_r,
		struct slice *line_r);
/* RFC 5322 2.2.3 unfolding: CR and LF removed, leading/trailing white space trimmed. */
void mime_unfold(struct slice raw, struct buf *out);

/*
 * Fills part's Content-* fields from its header block (defaults for absent
 * ones; digest_child selects the multipart/digest default message/rfc822)
 * and, when env is not NULL, env from the RFC 5322 fields.
 */
void mime_header_apply(struct mime_arena *a, struct mime_part *part, struct slice hdr, bool digest_child,
		struct mime_envelope *env);
/* RFC 5322 3.4 address-list with groups, comments and obsolete routes. */
struct mime_address *mime_address_list_parse(struct mime_arena *a, struct slice value);

/* ---- parameters (mime_rfc2231.c) ----------------------------------------------------------------- */

/*
 * Parses the "; name=value" list of a Content-Type or Content-Disposition
 * value (s starts after the type). RFC 2231 continuations (name*0, name*1*)
 * are joined in order; an extended value keeps its "charset'lang'%XX" form
 * under the name "name*" (as Dovecot reports it), to be decoded by
 * mime_rfc2231_decode.
 */
struct mime_param *mime_params_parse(struct mime_arena *a, struct slice s);
/* RFC 2231 4: "charset'lang'%XX..." → UTF-8. */
void mime_rfc2231_decode(struct slice value, struct buf *out);

/* ---- decoders (mime_decode.c, mime_charset.c) -------------------------------------------------- */

/* RFC 2047 4.1 "B" and 4.2 "Q" encoded text → bytes; -1 if malformed (decoded anyway). */
int mime_decode_b(struct slice in, struct buf *out);
int mime_decode_q(struct slice in, struct buf *out);
/* Appends s as UTF-8, each invalid sequence replaced by U+FFFD. */
void mime_utf8_sanitize(struct slice s, struct buf *out);
/* Whether iconv knows charset (conversion to UTF-8 would work). */
bool mime_charset_known(const char *charset);

/* ---- shared helpers ------------------------------------------------------------------------------ */

/* RFC 5322 CFWS: skips white space, line breaks and (nested (comments)). */
const char *mime_skip_cfws(const char *p, const char *end);
bool mime_is_wsp(char c);

#endif
