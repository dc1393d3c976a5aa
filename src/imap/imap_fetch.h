/*
 * imap_fetch: FETCH data items (RFC 3501 6.4.5 / 7.4.2, RFC 9051, RFC 3516
 * BINARY, RFC 7162 CHANGEDSINCE/VANISHED/MODSEQ): parsed into a spec, then
 * rendered one message at a time into a "* n FETCH (...)" line.
 *
 * Rendering runs on a store thread (it takes a struct store *) and reads
 * what it needs synchronously: nothing for FLAGS/UID/sizes; the cached MIME
 * tree for ENVELOPE and BODYSTRUCTURE (parsing and caching it on first use);
 * the stored bytes for body sections. Each call renders one message, so the
 * caller controls how much output exists at a time (FETCH 1:* streams in
 * batches).
 *
 * Implicit \Seen (RFC 3501 6.4.5): a spec with set_seen asks the caller to
 * STORE +FLAGS \Seen on the messages first (when the mailbox is writable)
 * and to render them with flags_changed, which adds FLAGS to the response.
 */
#ifndef HERMOD_IMAP_IMAP_FETCH_H
#define HERMOD_IMAP_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "lib/buf.h"
#include "lib/slice.h"

struct store;
struct store_mail;
struct mime_message;

enum imap_fetch_kind {
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822,        /* BODY[] that answers as RFC822 */
	IMAP_FETCH_RFC822_HEADER, /* BODY.PEEK[HEADER] */
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_RFC822_TEXT,   /* BODY[TEXT] */
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY,          /* non-extensible BODYSTRUCTURE */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID,
	IMAP_FETCH_MODSEQ,
	IMAP_FETCH_SECTION,       /* BODY[...] / BODY.PEEK[...] */
	IMAP_FETCH_BINARY,        /* BINARY[...] / BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
};

enum imap_section_text {
	IMAP_SECTION_ALL,         /* BODY[] or BODY[1.2] */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
};

#define IMAP_FETCH_PART_MAX 128  /* "1.2.3..." */
#define IMAP_FETCH_ITEMS_MAX 256
#define IMAP_FETCH_FIELDS_MAX 256

struct imap_fetch_item {
	enum imap_fetch_kind kind;
	bool peek;
	char part[IMAP_FETCH_PART_MAX]; /* "" for the whole message */
	enum imap_section_text text;
	char **fields;            /* HEADER.FIELDS[.NOT]: upper case */
	size_t field_count;
	bool partial;
	uint64_t offset, length;  /* <offset.length> */
	char *name;               /* as the response names it: "BODY[HEADER.FIELDS (FROM)]<0>" */
};

struct imap_fetch_spec {
	struct imap_fetch_item *items;
	size_t count;
	bool set_seen;        /* a non-PEEK body item: \Seen is set implicitly */
	bool need_mime;       /* ENVELOPE, BODY(STRUCTURE), sections below the top, BINARY */
	bool need_message;    /* any body data */
	bool need_keywords;   /* FLAGS */
	uint64_t changedsince; /* CHANGEDSINCE modifier, 0 if none */
	bool vanished;        /* VANISHED modifier (UID FETCH with QRESYNC) */
};

/*
 * Parses the items after the sequence set: a macro (ALL, FAST, FULL), one
 * item or a list of items, then optionally a list of modifiers. uid: this
 * is UID FETCH (UID is always returned). 0, or -1 with a static reason for
 * a BAD. Free with imap_fetch_spec_free (also after a failure).
 */
int imap_fetch_parse(const struct imap_arg *args, size_t count, bool uid, struct imap_fetch_spec *spec_r,
		     const char **err_r);
void imap_fetch_spec_free(struct imap_fetch_spec *spec);

/*
 * A message's bytes and parsed MIME tree, loaded on a store thread. The
 * MIME tree comes from the body's cache (store_body_meta_get), else from
 * parsing the stored bytes, after which it is cached (store_body_meta_put;
 * a failure to cache is only logged).
 */
struct imap_msg_data {
	struct buf message;         /* the stored bytes, when loaded */
	bool have_message;
	struct mime_message *mime;  /* or NULL */
};

void imap_msg_data_init(struct imap_msg_data *d);
int imap_msg_data_load(struct store *s, const struct store_mail *mail, bool need_message, bool need_mime,
		       struct imap_msg_data *d, const char **errstr_r);
void imap_msg_data_free(struct imap_msg_data *d);

struct imap_fetch_msg {
	uint32_t seq;
	const struct store_mail *mail;
	bool recent;          /* \Recent for this session */
	bool flags_changed;   /* \Seen was just set: FLAGS is sent even if not asked for */
	bool modseq;          /* CONDSTORE enabled: FLAGS responses carry MODSEQ (RFC 7162 3.1.4) */
};

/* errstr of imap_fetch_render for BINARY on an unknown Content-Transfer-Encoding (NO [UNKNOWN-CTE]). */
extern const char imap_fetch_unknown_cte[];

/*
 * Appends "* seq FETCH (...)\r\n" for one message to out. Loads the
 * message's data through s as needed (d may carry what is already loaded;
 * it is filled in and stays the caller's). Returns 0, or -1 with *errstr_r
 * (imap_fetch_unknown_cte for BINARY on an unknown encoding).
 */
int imap_fetch_render(struct store *s, const struct imap_fetch_spec *spec, const struct imap_fetch_msg *msg,
		      struct imap_msg_data *d, struct buf *out, const char **errstr_r);

/* Appends "\Answered \Seen kw ..." (no parentheses); \Recent when recent. */
void imap_fetch_format_flags(uint32_t flags, const char *keywords, bool recent, struct buf *out);

/*
 * The fast path for FETCH (UID FLAGS MODSEQ) of many messages answered
 * without the store (from a session's view): the 32 combinations of the
 * system flags are formatted once, and each line is assembled with a few
 * copies. The bytes are exactly imap_fetch_render's for a message without
 * keywords, \Recent or implicit \Seen.
 */
#define IMAP_FETCH_META_ITEMS_MAX 8
struct imap_fetch_flagtab {
	char text[32][48]; /* "\Answered \Flagged \Deleted \Seen \Draft" is 40 bytes */
	uint8_t len[32];
};
void imap_fetch_flagtab_init(struct imap_fetch_flagtab *t);
/* Whether spec holds only UID, FLAGS and MODSEQ, at most IMAP_FETCH_META_ITEMS_MAX of them. */
bool imap_fetch_meta_only(const struct imap_fetch_spec *spec);
/* Appends "* seq FETCH (...)\r\n" for a spec where imap_fetch_meta_only holds; flags: STORE_FLAG_* only. */
void imap_fetch_render_meta(const struct imap_fetch_spec *spec, const struct imap_fetch_flagtab *t, uint32_t seq,
			    uint32_t uid, uint32_t flags, uint64_t modseq, struct buf *out);

#endif
