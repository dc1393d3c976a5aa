/*
 * imap_parser: pure parsing of IMAP commands (RFC 3501 section 9, RFC 9051
 * section 9) into a tree of arguments, and of the values inside them
 * (sequence sets, dates, mailbox names).
 *
 * The session assembles one complete command first (its lines and the
 * literals between them, each bounded); the parser then turns that text
 * into arguments. Literals stay in the text as {n}CRLF<n bytes> (or
 * {n+}, ~{n}), so the parser needs no I/O; an APPEND message literal, which
 * is streamed to a spool instead of memory, is left in the text as the
 * marker the session chose and surfaces as IMAP_ARG_SPOOL.
 *
 * Atoms follow RFC 3501 with one extension every server needs: inside an
 * atom, "[" opens a section that runs to the matching "]" and may contain
 * spaces, parentheses and quotes, so BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>
 * is one atom.
 *
 * Limits (nesting depth, argument count) are hard: a command past them is
 * refused with a BAD naming the limit, never a crash or a deep recursion.
 */
#ifndef HERMOD_IMAP_IMAP_PARSER_H
#define HERMOD_IMAP_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/slice.h"

#define IMAP_TAG_MAX 64
#define IMAP_LIST_DEPTH_MAX 32
#define IMAP_ARGS_MAX 4096 /* arguments in one command, all levels together */

enum imap_arg_type {
	IMAP_ARG_ATOM,   /* including NIL's text when not NIL-aware, numbers, flags like \Seen */
	IMAP_ARG_STRING, /* quoted string or literal: unquoted/unescaped bytes */
	IMAP_ARG_NIL,    /* the atom NIL */
	IMAP_ARG_LIST,   /* ( ... ) */
	IMAP_ARG_SPOOL,  /* the APPEND message literal, streamed to a spool by the session */
};

/*
 * The session leaves each APPEND message literal in the command text as
 * IMAP_SPOOL_MARKER, the message's index in decimal, IMAP_SPOOL_MARKER:
 * "\0" "0" "\0". A NUL never reaches the parser from a client outside a
 * literal (the session refuses such lines), so the marker cannot be forged.
 * The argument is IMAP_ARG_SPOOL with len = the index and str = "".
 */
#define IMAP_SPOOL_MARKER '\0'

struct imap_arg {
	enum imap_arg_type type;
	bool literal;       /* STRING came as a literal */
	bool literal8;      /* ~{n} (RFC 3516 BINARY) */
	const char *str;    /* ATOM/STRING: NUL-terminated (may contain NULs only if literal8) */
	size_t len;
	struct imap_arg *list; /* LIST: its elements */
	size_t count;
};

struct imap_command {
	char tag[IMAP_TAG_MAX + 1];
	char name[32];        /* upper-cased; "UID FETCH" etc. for UID commands */
	bool uid;             /* the UID prefix was given */
	struct imap_arg *args;
	size_t arg_count;
	void *arena;          /* private: owns every arg and string */
};

/*
 * Parses one complete command (without its final CRLF). Returns 0, or -1
 * with *err_r a static reason for a BAD reply ("missing tag", "unterminated
 * quoted string", "list nesting deeper than 32"). When the tag itself could
 * be read, cmd_r->tag holds it even on failure (so the BAD is tagged).
 */
int imap_parse_command(const char *text, size_t len, struct imap_command *cmd_r, const char **err_r);
void imap_command_free(struct imap_command *cmd);

/*
 * Looks at the end of one line of a command in progress: if it ends with a
 * literal announcement ({123}, {123+}, ~{123}) returns 1 with the size and
 * kind, 0 if it does not, -1 if the announcement is malformed or its size
 * does not fit 64 bits.
 */
int imap_line_literal(struct slice line, uint64_t *size_r, bool *nonsync_r, bool *binary_r);

/* ---- values ------------------------------------------------------------------------- */

/* "*" in a sequence set: resolved by the caller to the highest number in use. */
#define IMAP_SEQ_STAR UINT32_MAX

struct imap_seq_range {
	uint32_t lo, hi; /* lo <= hi after parsing (a:b with a > b is swapped); may be IMAP_SEQ_STAR */
};

struct imap_seqset {
	struct imap_seq_range *ranges;
	size_t count;
	bool saved;      /* "$" (RFC 5182 SEARCHRES) */
};

/* Parses a sequence set (1,3:5,7:*). Allocates ranges (free with imap_seqset_free). */
int imap_parse_seqset(const char *s, size_t len, struct imap_seqset *set_r, const char **err_r);
void imap_seqset_free(struct imap_seqset *set);
/* True if n is in the set, with "*" standing for star. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star);

/* date: "1-Feb-1994"; date-time: "17-Jul-1996 02:44:25 -0700". Unix time; -1 on error. */
int imap_parse_date(const char *s, int64_t *time_r);
int imap_parse_datetime(const char *s, int64_t *time_r);
/* Formats an INTERNALDATE value (with quotes) into out (at least 29 bytes). */
void imap_format_datetime(int64_t t, char *out, size_t size);

/* Mailbox names: modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8. -1 on invalid input. */
int imap_mutf7_to_utf8(const char *in, size_t len, char *out, size_t size);
int imap_utf8_to_mutf7(const char *in, size_t len, char *out, size_t size);

#endif
