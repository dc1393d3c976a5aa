/*
 * store_mail: folders and messages as IMAP and POP3 see them.
 *
 * Synchronous functions on a struct store, with the conventions of store.h
 * (0 / -1, lookups 1 / 0 / -1, *errstr_r in words a user understands).
 * From the event loop they run on the store's threads through
 * store_async_call(): see the end of this file.
 *
 * Every change to a folder (delivery, APPEND, STORE, EXPUNGE, COPY, MOVE)
 * takes a new mod-sequence from the folder's HIGHESTMODSEQ (RFC 7162): the
 * changed messages carry it, expunged UIDs are recorded with it in
 * `expunged`. A function that changes folders reports them with
 * store_note_folder_changed(), so that store_async can tell the sessions
 * watching those folders (IDLE, NOOP, concurrent sessions) once the change
 * is durable.
 *
 * Every write is durable (committed, WAL fsync'd; bodies fdatasync'd) when
 * the function returns 0: protocols acknowledge only after that.
 */
#ifndef HERMOD_STORE_STORE_MAIL_H
#define HERMOD_STORE_STORE_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/store.h"

#define STORE_FOLDER_NAME_MAX 255 /* bytes of UTF-8; hierarchy delimiter '/' */
#define STORE_KEYWORDS_MAX 1024   /* bytes of the space-separated keyword list */

/* ---- authentication data ---------------------------------------------------- */

struct store_login {
	int64_t address_id;
	char address[320];        /* local@domain, lower case */
	enum address_kind kind;
	enum plan plan;
	char password_hash[128];  /* "" when the address has no password */
};

/* Looks up an address for login ("local@domain", case-insensitive). */
int store_login_get(struct store *s, const char *address, struct store_login *login_r, const char **errstr_r);

/* ---- folders --------------------------------------------------------------------- */

struct store_folder_status {
	int64_t folder_id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;     /* messages without \Seen */
	uint32_t deleted;    /* messages with \Deleted */
	uint64_t size;       /* total bytes (STATUS SIZE) */
	uint32_t recent;     /* \Recent for the next session: filled by callers of store_folder_recent only */
};

/*
 * Creates name (UTF-8, '/'-separated; parents are created as needed; a first
 * level that is any case of "INBOX" is INBOX). Refuses empty levels, control
 * characters, invalid UTF-8, an existing name, and more than 10,000 folders.
 */
int store_folder_create(struct store *s, int64_t address_id, const char *name, int64_t *folder_id_r,
			const char **errstr_r);
/* Refuses INBOX and folders with children (RFC 3501 6.3.4 \Noselect avoided). */
int store_folder_delete(struct store *s, int64_t address_id, const char *name, const char **errstr_r);
/*
 * Renames name and its children. Renaming INBOX moves all its messages to a
 * new folder and leaves INBOX empty (RFC 3501 6.3.5).
 */
int store_folder_rename(struct store *s, int64_t address_id, const char *from, const char *to,
			const char **errstr_r);
int store_folder_subscribe(struct store *s, int64_t address_id, const char *name, bool subscribed,
			   const char **errstr_r);
/* INBOX is matched case-insensitively; other names exactly. Lookup: 1, 0 (no such folder), -1. */
int store_folder_status(struct store *s, int64_t address_id, const char *name, struct store_folder_status *st_r,
			const char **errstr_r);
/*
 * Like store_folder_status without the counts (messages, unseen, deleted,
 * size stay 0): SELECT needs only the folder's identity and counters, and
 * derives the rest from the messages it lists anyway.
 */
int store_folder_lookup(struct store *s, int64_t address_id, const char *name, struct store_folder_status *st_r,
			const char **errstr_r);
/* Every folder of an address, ordered by name, with its subscription (store_folder.subscribed). */
int store_folder_list_all(struct store *s, int64_t address_id,
			  void (*cb)(const struct store_folder *f, bool subscribed, void *arg), void *arg,
			  const char **errstr_r);

/* ---- \Recent (RFC 3501 2.3.2) ------------------------------------------------------ */

/*
 * A folder's \Recent boundary: *first_r gets the first UID no session has
 * taken yet (messages at or above it are \Recent for the next read-write
 * SELECT), *count_r (may be NULL) how many messages are at or above it.
 */
int store_folder_recent(struct store *s, int64_t folder_id, uint32_t *first_r, uint32_t *count_r,
			const char **errstr_r);
/*
 * A read-write SELECT (or its session's later sync) takes the messages below
 * upto: moves the boundary up to upto and gives the old one in *first_r, so
 * that the messages in [*first_r, upto) are \Recent in that session and in
 * no other (an empty range when another session took them first). Its own
 * transaction (BEGIN IMMEDIATE) keeps two takes apart on any connection, so
 * a reader (synchronous=NORMAL) may run it: a take lost in a crash only
 * makes its messages \Recent again for the next session.
 */
int store_folder_take_recent(struct store *s, int64_t folder_id, uint32_t upto, uint32_t *first_r,
			     const char **errstr_r);

/*
 * The keywords set on any message of the folder (SELECT's FLAGS and
 * PERMANENTFLAGS, RFC 3501 7.2.6), space-separated, duplicates dropped
 * case-insensitively. At most STORE_KEYWORDS_MAX - 1 bytes: keywords that
 * do not fit are left out (FETCH still reports them on their messages).
 */
int store_folder_keywords(struct store *s, int64_t folder_id, char out[STORE_KEYWORDS_MAX], const char **errstr_r);

/* ---- messages ---------------------------------------------------------------------- */

struct store_mail {
	uint32_t uid;
	uint32_t flags;            /* STORE_FLAG_* (store.h) */
	char keywords[STORE_KEYWORDS_MAX]; /* space-separated, as given */
	int64_t internal_date;
	uint64_t size;
	uint64_t modseq;
	int64_t body_id;
};

/*
 * Messages of a folder in UID order with uid >= uid_min whose modseq is
 * greater than changed_since (0: all). cb returns 0 to go on, 1 to stop.
 */
int store_mail_list(struct store *s, int64_t folder_id, uint32_t uid_min, uint64_t changed_since,
		    int (*cb)(const struct store_mail *m, void *arg), void *arg, const char **errstr_r);
/*
 * What a session's view of a folder needs, message by message in UID
 * order: UID, flags, mod-sequence and whether it has keywords. Reads a
 * covering index only (much cheaper than store_mail_list on big folders).
 */
int store_mail_list_view(struct store *s, int64_t folder_id,
			 void (*cb)(uint32_t uid, uint32_t flags, uint64_t modseq, bool has_keywords, void *arg),
			 void *arg, const char **errstr_r);
/* UIDs expunged with modseq > since (QRESYNC VANISHED, and sessions catching up). */
int store_mail_expunged_since(struct store *s, int64_t folder_id, uint64_t since,
			      void (*cb)(uint32_t uid, void *arg), void *arg, const char **errstr_r);

/*
 * APPEND: stores body (a spool, consumed on success and failure alike) into
 * the folder with flags, keywords and internal date. Refuses with
 * "quota exceeded: ..." when the address's quota would be passed (its
 * override, else its plan's from plans; plans NULL: the override only).
 */
int store_mail_append(struct store *s, int64_t folder_id, struct spool *body, uint32_t flags,
		      const char *keywords, int64_t internal_date, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
		      uint32_t *uid_r, const char **errstr_r);

/* One message of a MULTIAPPEND (RFC 3502). */
struct store_append_msg {
	struct spool *body;       /* consumed (freed, set NULL) on success and failure alike */
	uint32_t flags;
	const char *keywords;     /* space-separated; NULL: none */
	int64_t internal_date;
	uint32_t uid;             /* out: the new UID */
};

/*
 * MULTIAPPEND: stores count messages into the folder in ONE transaction:
 * all of them or, on any refusal ("quota exceeded: ..." for their total,
 * bad keywords, no UIDs left), none (RFC 3502 6.3.11). UIDs are ascending
 * in the order given. plans as for store_mail_append.
 */
int store_mail_append_many(struct store *s, int64_t folder_id, struct store_append_msg *msgs, size_t count,
			   const struct plan_cfg plans[CONFIG_PLAN_COUNT], const char **errstr_r);

enum store_flag_op { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };

struct store_flag_change {
	uint32_t uid;          /* in: the message */
	/* out */
	bool changed;          /* flags actually changed (new modseq) */
	bool refused;          /* UNCHANGEDSINCE failed (RFC 7162 3.1.3: MODIFIED) */
	bool missing;          /* no such UID (expunged meanwhile) */
	uint32_t flags;        /* resulting flags */
	char keywords[STORE_KEYWORDS_MAX];
	uint64_t modseq;       /* resulting modseq */
};

/*
 * STORE: applies op to each uid in one transaction. unchangedsince 0 means
 * no condition (RFC 7162's UNCHANGEDSINCE 0, which every message fails, is
 * the caller's to answer). All changed messages share one new modseq; a
 * message whose flags do not change keeps its modseq. keywords (NULL: none)
 * are a space-separated set compared case-insensitively; a result longer
 * than STORE_KEYWORDS_MAX - 1 bytes refuses the whole call.
 */
int store_mail_set_flags(struct store *s, int64_t folder_id, enum store_flag_op op, uint32_t flags,
			 const char *keywords, uint64_t unchangedsince, struct store_flag_change *changes,
			 size_t count, const char **errstr_r);

/*
 * EXPUNGE: removes the given UIDs whatever their flags (UID EXPUNGE's
 * \Deleted filter is the caller's), or with uids NULL every message with
 * \Deleted, and reports each removed UID through cb (may be NULL), in
 * ascending order, once the removal is durable.
 */
int store_mail_expunge(struct store *s, int64_t folder_id, const uint32_t *uids, size_t count,
		       void (*cb)(uint32_t uid, void *arg), void *arg, const char **errstr_r);

/*
 * COPY / MOVE (RFC 6851) of uids (ascending) into dest_folder_id; the body is
 * shared, not copied. dest_uids_r[i] receives the new UID of uids[i] (0 when
 * that uid no longer exists). MOVE expunges the sources in the same
 * transaction. Refuses with "quota exceeded" when the quota would be passed
 * (plans as for store_mail_append; a MOVE within one address adds nothing).
 */
int store_mail_copy(struct store *s, int64_t folder_id, const uint32_t *uids, size_t count,
		    int64_t dest_folder_id, bool move, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
		    uint32_t *dest_uids_r, uint32_t *dest_uidvalidity_r, const char **errstr_r);

/* ---- message bodies ---------------------------------------------------------------- */

/* Reads up to len bytes of a body at offset into buf; *read_r gets the count (0 at the end). */
int store_body_pread(struct store *s, int64_t body_id, uint64_t offset, void *buf, size_t len, size_t *read_r,
		     const char **errstr_r);
/*
 * A per-body cache of derived data (the parsed MIME structure: see
 * mime_message_serialize), so a second FETCH BODYSTRUCTURE does not
 * reparse. get: 1 with the blob appended to out, 0 if none.
 */
int store_body_meta_get(struct store *s, int64_t body_id, struct buf *out, const char **errstr_r);
int store_body_meta_put(struct store *s, int64_t body_id, const void *blob, size_t len, const char **errstr_r);

/* ---- full-text index (SQLite FTS5) --------------------------------------------------- */

/*
 * Indexes a body's searchable text (decoded headers and text parts, UTF-8).
 * Delivery and APPEND leave bodies unindexed; the writer indexes them in
 * the background (store_fts_index_pending, driven by the IMAP layer).
 */
int store_fts_index(struct store *s, int64_t body_id, const char *text, size_t len, const char **errstr_r);
/*
 * The background indexer's step: indexes up to max bodies (of any folder)
 * not indexed yet, with ids above *cursor, in one transaction, and moves
 * *cursor past them. Returns how many were looked at in *seen_r (0: nothing
 * left above the cursor; the caller then resets it to 0 and waits for new
 * mail). A body whose text cannot be produced stays unindexed (a candidate).
 */
int store_fts_index_pending(struct store *s, int64_t *cursor, size_t max,
			    int (*text_cb)(struct store *s, int64_t body_id, struct buf *text, void *arg), void *arg,
			    size_t *seen_r, const char **errstr_r);
/* Body ids of the folder's messages that are not indexed yet. */
int store_fts_unindexed(struct store *s, int64_t folder_id, void (*cb)(int64_t body_id, void *arg), void *arg,
			const char **errstr_r);
/*
 * UIDs of messages whose indexed text may contain every word of `words`
 * (a candidate set: the caller still checks the RFC substring match).
 * Words (space-separated) shorter than 3 characters cannot narrow the set;
 * with none longer, every message is a candidate, and so is every message
 * whose body is not indexed yet.
 */
int store_fts_candidates(struct store *s, int64_t folder_id, const char *words, void (*cb)(uint32_t uid, void *arg),
			 void *arg, const char **errstr_r);

/* ---- quota (RFC 9208) ----------------------------------------------------------------- */

int store_quota_get(struct store *s, int64_t address_id, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
		    uint64_t *used_bytes_r, uint64_t *limit_bytes_r, uint32_t *messages_r, const char **errstr_r);

/* ---- change reporting ------------------------------------------------------------------ */

/* Called by the writing functions above; store_async collects the ids after each call. */
void store_note_folder_changed(struct store *s, int64_t folder_id);

#endif
