/*
 * imap_private: what the files of src/imap share. imap_session.c (life of a
 * connection, reading commands and literals, the state machine, safe-point
 * syncs), imap_cmd.c (the command table), imap_view.c (the selected
 * mailbox), imap_reply.c (output helpers) and the cmd_*.c command families.
 *
 * ---- The command contract (after Dovecot's command_func_t) ----------------
 *
 * A command is one struct imap_cmd, alive from its parsed text to its
 * tagged reply. The session runs one command at a time and reads no further
 * input while it runs (pipelined commands wait in the input buffer and are
 * answered in order). cmd->run starts as the table's handler; a handler
 * returns one of:
 *
 *   IMAP_CMD_DONE   finished. The tagged reply was set with imap_cmd_ok /
 *                   imap_cmd_no / imap_cmd_bad (which return IMAP_CMD_DONE,
 *                   so `return imap_cmd_ok(cmd, "FETCH completed");`). The
 *                   session writes it after the safe-point sync (untagged
 *                   EXPUNGE/EXISTS/FETCH from other sessions' changes come
 *                   before it), unless the row has IMAP_CMDF_NO_EXPUNGE.
 *   IMAP_CMD_AGAIN  output is piling up (conn_output_pending() above
 *                   IMAP_OUTPUT_CHUNK): call cmd->run again once it has
 *                   drained. The handler keeps its position in cmd->ctx and
 *                   may point cmd->run at a continuation function first.
 *                   imap_cmd_output_full(cmd) tells when to stop writing.
 *   IMAP_CMD_WAIT   a store call (imap_cmd_store_call) or an auth check is
 *                   in flight; the session calls the step given there when
 *                   it completes. Nothing may touch the session meanwhile.
 *   IMAP_CMD_LINE   imap_cmd_want_line() sent a continuation request ("+");
 *                   the client's next line is put in cmd->line and the given
 *                   step runs (AUTHENTICATE, IDLE's DONE).
 *
 * cmd->ctx is the handler's own state (with cmd->ctx_free to release it);
 * it is also the argument of the work run on a store thread, so the work
 * finds its inputs there and leaves its results there. The work never
 * touches the session, the view or cmd: if the session goes away while a
 * call is in flight the call is cancelled, the ctx is released by ctx_free
 * once the store is done with it, and no step runs.
 *
 * Sequence numbers never change under a running command: other sessions'
 * expunges only mark the view dirty; they are applied at the safe point
 * after a command (never after FETCH, STORE, SEARCH, SORT, THREAD in their
 * sequence-number forms: RFC 3501 7.4.1), on NOOP/CHECK and during IDLE. A
 * FETCH/STORE on a message another session expunged meanwhile must cope
 * with it being missing from the store (skip it; RFC 2180 4.1).
 */
#ifndef HERMOD_IMAP_IMAP_PRIVATE_H
#define HERMOD_IMAP_IMAP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "config/config.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "lib/buf.h"
#include "net/conn.h"
#include "net/server.h"
#include "store/store_async.h"
#include "store/store_mail.h"

/* A whole command with its literals (not APPEND messages, which go to a spool). */
#define IMAP_COMMAND_MAX (1024 * 1024)
/* Handlers that write a lot stop at this much pending output and return IMAP_CMD_AGAIN. */
#define IMAP_OUTPUT_CHUNK (256 * 1024)
/* Messages in one MULTIAPPEND. */
#define IMAP_APPEND_MESSAGES_MAX 1000

enum imap_state {
	IMAP_STATE_NOT_AUTHENTICATED = 1 << 0,
	IMAP_STATE_AUTHENTICATED = 1 << 1,
	IMAP_STATE_SELECTED = 1 << 2,
	IMAP_STATE_LOGOUT = 1 << 3,
};
#define IMAP_STATES_AUTH (IMAP_STATE_AUTHENTICATED | IMAP_STATE_SELECTED)
#define IMAP_STATES_ANY (IMAP_STATE_NOT_AUTHENTICATED | IMAP_STATES_AUTH)

/* ENABLEd extensions (RFC 5161), and CONDSTORE enabled implicitly (RFC 7162 3.1). */
enum imap_enabled {
	IMAP_ENABLED_IMAP4REV2 = 1 << 0,
	IMAP_ENABLED_CONDSTORE = 1 << 1,
	IMAP_ENABLED_QRESYNC = 1 << 2,
	IMAP_ENABLED_UTF8 = 1 << 3, /* UTF8=ACCEPT (RFC 6855), implied by IMAP4rev2 */
};

struct imap_viewcache;

struct imap_server {
	struct event_base *base;
	struct server *srv;
	struct store_async *store;
	struct imap_viewcache *viewcache; /* folder snapshots shared by SELECTs (imap_viewcache.c) */
	struct auth_service *auth;
	const struct config *cfg;
	bool shutting_down;
	struct imap_session *sessions; /* doubly linked */
	size_t session_count;
	struct imap_session *dead;     /* ended sessions waiting for the reaper */
	struct event *reaper;
};

/*
 * A view flag next to the STORE_FLAG_* bits: the message has keywords. The
 * view keeps no keyword text (memory per message stays small), but knowing
 * that there is none lets FETCH (UID FLAGS MODSEQ) answer from the view.
 */
#define IMAP_VIEW_KEYWORDS 0x80

/*
 * A folder's messages as a view needs them (UID order), immutable once
 * built, shared by reference between the cache and the sessions' views
 * (imap_viewcache.c). refs is touched on the loop thread only; a store
 * thread may read a snapshot the loop holds a reference to for it.
 */
struct imap_snapshot {
	unsigned refs;
	int64_t folder_id;
	uint32_t uidvalidity;
	uint64_t highestmodseq;  /* every change up to this one is in it; later ones may be */
	uint32_t count, cap;
	uint32_t *uids;
	uint8_t *flags;          /* STORE_FLAG_*, and IMAP_VIEW_KEYWORDS */
	uint64_t *modseqs;
	/*
	 * The folder's keywords for SELECT's FLAGS (store_folder_keywords), or
	 * NULL when no message has any; set by the SELECT that built the
	 * snapshot, before it is published (cmd_mailbox.c), so that a SELECT
	 * from the cache does not read them again.
	 */
	char *keywords;
};

/*
 * The selected mailbox as this session sees it: arrays indexed by sequence
 * number - 1, in UID order. 13 bytes per message; keywords are fetched from
 * the store when needed. Changed only at safe points (imap_view_sync) and
 * by this session's own STORE/EXPUNGE (imap_view_set_flags, imap_view_expunge_seq).
 * Right after SELECT the arrays are a shared snapshot's (shared != NULL,
 * cap 0); the first change copies them (imap_view.c), so nothing this
 * session does is seen by another and the reverse.
 */
struct imap_view {
	int64_t folder_id;
	char *name;              /* UTF-8 */
	bool readonly;           /* EXAMINE */
	uint32_t uidvalidity;
	uint32_t uidnext;        /* as last announced */
	uint64_t highestmodseq;  /* every change up to this one is in the view */
	uint32_t count, cap;
	uint32_t *uids;
	uint8_t *flags;          /* STORE_FLAG_*, and IMAP_VIEW_KEYWORDS */
	uint64_t *modseqs;
	struct store_watch *watch;
	bool dirty;              /* the store reported a change not yet synced */
	struct imap_snapshot *shared; /* the arrays belong to this snapshot (copy on write) */
	/*
	 * \Recent in this session (RFC 3501 2.3.2): the UIDs it took from the
	 * folder's boundary (store_folder_take_recent) at a read-write SELECT
	 * and at syncs that brought new mail; with EXAMINE, every UID at or
	 * above the boundary as it was (seen, not taken). Ascending runs.
	 */
	struct imap_uid_range *recent;
	size_t recent_count;
	uint32_t recent_checked;  /* read-write: UIDs below this were offered to the take */
	char *keywords;           /* announced in FLAGS / PERMANENTFLAGS (RFC 3501 7.2.6), or NULL */
	/* SEARCHRES "$" (RFC 5182): UIDs, ascending; empty after SELECT (a new view) */
	uint32_t *saved;
	size_t saved_count;
};

struct imap_cmd;
typedef enum imap_cmd_result (*imap_cmd_fn)(struct imap_cmd *cmd);

enum imap_cmd_result { IMAP_CMD_DONE, IMAP_CMD_AGAIN, IMAP_CMD_WAIT, IMAP_CMD_LINE };

enum imap_cmd_flags {
	IMAP_CMDF_UID = 1 << 0,         /* also valid with the UID prefix */
	IMAP_CMDF_UID_ONLY = 1 << 1,    /* only with the UID prefix (UID EXPUNGE) */
	IMAP_CMDF_NO_EXPUNGE = 1 << 2,  /* no untagged EXPUNGE before its tagged reply (sequence form only) */
	IMAP_CMDF_LOGIN = 1 << 3,       /* sends a password: refused where plaintext auth is disabled */
	IMAP_CMDF_WRITE = 1 << 4,       /* refused on a mailbox opened with EXAMINE */
};

struct imap_cmd_def {
	const char *name;   /* upper case, without "UID " */
	unsigned states;    /* enum imap_state mask */
	unsigned flags;     /* enum imap_cmd_flags */
	imap_cmd_fn run;
};

struct imap_async; /* imap_session.c: a store call in flight */

struct imap_cmd {
	struct imap_session *session;
	const struct imap_cmd_def *def;
	struct imap_command parsed; /* tag, name, uid, args */
	imap_cmd_fn run;            /* the next step */
	void *ctx;                  /* the handler's state; also the store work's argument */
	void (*ctx_free)(void *ctx);
	struct spool **spools;      /* APPEND messages, by IMAP_ARG_SPOOL index; a handler may take one (set NULL) */
	size_t spool_count;
	struct buf line;            /* IMAP_CMD_LINE: the client's line, without CRLF */
	char *tagged;               /* the tagged reply, set by imap_cmd_ok/no/bad */
	bool logout;                /* close the connection after the tagged reply */
	bool want_line;             /* IMAP_CMD_LINE: waiting for the client's line */
	struct imap_async *async;
	struct auth_req *auth;      /* cmd_auth.c: a login being checked */
};

struct imap_input; /* imap_session.c: a command being read (lines, literals, spools) */

struct imap_session {
	struct imap_session *prev, *next;
	struct imap_server *server;
	const struct config *cfg;  /* the snapshot this session started with */
	struct conn *conn;
	char id[13];
	enum imap_state state;
	unsigned errors;
	unsigned enabled;          /* enum imap_enabled */
	bool closing;              /* shutting down: BYE once the command ends */
	bool idling;               /* in IDLE: changes are sent as they happen */
	bool syncing;              /* a view sync is in flight */
	bool output_blocked;       /* IMAP_CMD_AGAIN: waiting for the output to drain */
	bool tls_pending;          /* STARTTLS handshake running */
	bool dead;                 /* ended: inert, memory freed by the reaper */
	/* after login */
	int64_t address_id;
	char *address;             /* local@domain */
	enum plan plan;
	struct imap_view *view;    /* SELECTED only */
	struct imap_cmd *cmd;      /* the command running, or NULL */
	struct imap_input *input;  /* a command being read, or NULL */
	struct imap_async *sync;   /* the view sync in flight */
};

/* ---- imap_session.c ------------------------------------------------------------------ */

/* The one state transition (asserts that the move is legal). */
void imap_set_state(struct imap_session *s, enum imap_state state);
/* Counts a protocol error; true when the limit is reached and the session must close. */
bool imap_count_error(struct imap_session *s);
/* Whether LOGIN/AUTHENTICATE may run on this connection (TLS, or plaintext_auth allows it). */
bool imap_login_allowed(const struct imap_session *s);

/* Sets the tagged reply ("tag OK text") and returns IMAP_CMD_DONE. */
enum imap_cmd_result imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum imap_cmd_result imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum imap_cmd_result imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Runs work(store, cmd->ctx) on a store thread (READ: a reader; WRITE: the
 * writer, durable when it returns), then `then` as the command's next step.
 * Returns IMAP_CMD_WAIT for the handler to return. cmd->ctx must be set.
 */
enum imap_cmd_result imap_cmd_store_call(struct imap_cmd *cmd, enum store_call_kind kind, store_work_fn work,
					 imap_cmd_fn then);
/* Sends "+ prompt" and runs `then` with the client's next line in cmd->line. Returns IMAP_CMD_LINE. */
enum imap_cmd_result imap_cmd_want_line(struct imap_cmd *cmd, const char *prompt, imap_cmd_fn then);
/* From an auth callback (cmd_auth.c): the login finished, run `then` now. */
void imap_cmd_resume(struct imap_cmd *cmd, imap_cmd_fn then);
/* True when a handler writing many responses should return IMAP_CMD_AGAIN. */
bool imap_cmd_output_full(const struct imap_cmd *cmd);

/*
 * The machinery under imap_cmd_store_call and the view sync: runs
 * work(store, ctx) on a store thread, then done(s, ctx) on the loop. The
 * caller keeps owning ctx; after imap_async_cancel (the session is going
 * away) the async owns it and releases it with ctx_free once the store has
 * finished with it, and done is not called.
 */
struct imap_async *imap_async_start(struct imap_session *s, enum store_call_kind kind, store_work_fn work,
				    void *ctx, void (*ctx_free)(void *ctx),
				    void (*done)(struct imap_session *s, void *ctx));
void imap_async_cancel(struct imap_async *a);

/* Starts a view sync if the view is dirty and nothing else runs (IDLE, watch callback). */
void imap_session_sync_idle(struct imap_session *s);

/* ---- imap_reply.c: output ------------------------------------------------------------------ */

/* Raw bytes / formatted text, no line ending added. */
void imap_write(struct imap_session *s, const void *p, size_t len);
void imap_printf(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "* " fmt CRLF */
void imap_untagged(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An astring/string: quoted when it can be (no CR, LF, NUL, 8-bit, at most 1 KiB), else a literal. */
void imap_write_string(struct imap_session *s, const char *p, size_t len);
/* A string or NIL (p == NULL). */
void imap_write_nstring(struct imap_session *s, const char *p, size_t len);
/* A mailbox name (UTF-8): modified UTF-7 unless UTF8=ACCEPT/IMAP4rev2 is enabled. */
void imap_write_mailbox(struct imap_session *s, const char *utf8_name);
/* Flags as "\Seen \Flagged kw1 kw2 \Recent" (no parentheses); keywords may be NULL. */
void imap_write_flags(struct imap_session *s, uint32_t flags, const char *keywords, bool recent);

/* ---- argument helpers (imap_reply.c) ------------------------------------------------------ */

/* The atom's or string's text as an astring (RFC 3501 astring); NULL for NIL, lists, spools. */
const char *imap_arg_astring(const struct imap_arg *a);
bool imap_arg_atom_is(const struct imap_arg *a, const char *upper);
/* A client-supplied mailbox name (mUTF-7 unless UTF-8 is enabled) to UTF-8, INBOX case-folded. 0 / -1. */
int imap_arg_mailbox(struct imap_session *s, const struct imap_arg *a, char out[STORE_FOLDER_NAME_MAX + 1],
		     const char **err_r);
/* A flag list or single flag into STORE_FLAG_* bits and a space-separated keyword list. 0 / -1. */
int imap_arg_flags(const struct imap_arg *a, uint32_t *flags_r, char keywords_r[STORE_KEYWORDS_MAX],
		   const char **err_r);
/* Parses a number argument (nz-number when nonzero is true). 0 / -1. */
int imap_arg_number(const struct imap_arg *a, uint64_t *n_r, bool nonzero);

/* ---- imap_view.c: the selected mailbox ------------------------------------------------------ */

struct imap_view *imap_view_new(int64_t folder_id, const char *name, bool readonly);
/* A view whose messages are snap's, shared until the view first changes (takes its own reference). */
struct imap_view *imap_view_new_shared(struct imap_snapshot *snap, const char *name, bool readonly);
void imap_view_free(struct imap_view *v);
void imap_view_append(struct imap_view *v, uint32_t uid, uint32_t flags, uint64_t modseq);
/* 1-based sequence number of uid, or 0 when not in the view. */
uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid);
/* UID at 1-based seq (seq must be valid). */
static inline uint32_t imap_view_uid(const struct imap_view *v, uint32_t seq)
{
	return v->uids[seq - 1];
}
/* RFC 5182: "$" now holds uids (taken: malloc'd, ascending). */
void imap_view_set_saved(struct imap_view *v, uint32_t *uids, size_t count);
/*
 * Resolves a sequence set (uid: a UID set; "$", the saved result, is UIDs in either form) to ascending, distinct sequence
 * numbers of messages in the view ("*" is the last message; UIDs not in the
 * view are skipped, as RFC 3501 6.4.8 asks). *seqs_r is malloc'd (free it),
 * may be NULL when *count_r is 0. A sequence number past the end is an
 * error for the sequence form (-1, "invalid message sequence number").
 */
int imap_view_resolve(const struct imap_view *v, const struct imap_seqset *set, bool uid, uint32_t **seqs_r,
		      size_t *count_r, const char **err_r);
/* This session changed a message's flags (its own STORE): the sync will not resend them. */
void imap_view_set_flags(struct imap_view *v, uint32_t seq, uint32_t flags, uint64_t modseq);
/*
 * Brings the view up to date with the store (changes since its
 * highestmodseq): writes EXPUNGE/VANISHED, EXISTS and FETCH (FLAGS) as
 * needed, then calls then(s). The session reads nothing meanwhile.
 */
void imap_view_sync(struct imap_session *s, bool expunge_ok, void (*then)(struct imap_session *s));
/* This session expunged seq: removes it and writes "* seq EXPUNGE" (or VANISHED with QRESYNC). */
void imap_view_expunge_uid(struct imap_session *s, uint32_t uid);

/* Adds [lo, hi) to the view's \Recent runs (lo at or above every earlier run; merged when adjacent). */
void imap_view_add_recent(struct imap_view *v, uint32_t lo, uint32_t hi);
/* Whether uid is \Recent in this session (never with IMAP4rev2: RFC 9051 removed \Recent). */
bool imap_view_recent(const struct imap_session *s, uint32_t uid);
/* How many of the view's messages are \Recent in this session (the RECENT response). */
uint32_t imap_view_recent_count(const struct imap_session *s);
/*
 * FLAGS and PERMANENTFLAGS with the folder's keywords (and \\* when
 * read-write). note_keywords sends them again when keywords (a message's,
 * space-separated) hold one not announced yet, so that a client learns of
 * a keyword before a FETCH shows it.
 */
void imap_view_write_flag_lists(struct imap_session *s);
void imap_view_note_keywords(struct imap_session *s, const char *keywords);
/*
 * RFC 7162 3.2.5.2: the highest UID up to which the client's sequence to
 * UID map (seq-match-data: pairs from seqs and uids, in order) still holds
 * in the view, so nothing at or below it was expunged unseen. 0 if none.
 */
uint32_t imap_view_qresync_match(const struct imap_view *v, const struct imap_seqset *seqs,
				 const struct imap_seqset *uids);
/* What SEARCH, SORT and THREAD see of the session, copied for the store thread. */
void imap_view_search_scope(const struct imap_session *s, struct imap_search_scope *sc_r);

/* ---- imap_viewcache.c: folder snapshots shared between sessions ------------------------------ */

/* Bounds of the cache: total bytes of its snapshots, entries, seconds an unused entry is kept. */
#define IMAP_VIEWCACHE_BYTES (64u * 1024 * 1024)
#define IMAP_VIEWCACHE_ENTRIES 1024
#define IMAP_VIEWCACHE_IDLE_S 600

/* A new empty snapshot (refs 1), to be filled with imap_snapshot_append in ascending UID order. */
struct imap_snapshot *imap_snapshot_new(int64_t folder_id, uint32_t uidvalidity, uint64_t highestmodseq);
void imap_snapshot_append(struct imap_snapshot *s, uint32_t uid, uint8_t flags, uint64_t modseq);
struct imap_snapshot *imap_snapshot_ref(struct imap_snapshot *s);
/* Drops a reference (frees at the last) and sets *s to NULL; NULL is allowed. */
void imap_snapshot_unref(struct imap_snapshot **s);
/* Memory held by the snapshot. */
size_t imap_snapshot_bytes(const struct imap_snapshot *s);

/* A message that changed (or arrived) since a snapshot's label. */
struct imap_snapshot_change {
	uint32_t uid;
	uint8_t flags; /* STORE_FLAG_*, and IMAP_VIEW_KEYWORDS */
	uint64_t modseq;
};
/*
 * A new snapshot labelled highestmodseq: base without the expunged UIDs,
 * with the changes applied (a change replaces base's message when its
 * modseq is newer; a UID base lacks is inserted in order). Both lists
 * ascending by UID. Pure: runs on a store thread.
 */
struct imap_snapshot *imap_snapshot_catch_up(const struct imap_snapshot *base, uint64_t highestmodseq,
					     const uint32_t *expunged, size_t n_expunged,
					     const struct imap_snapshot_change *changes, size_t n_changes);

enum imap_snapshot_how {
	IMAP_SNAPSHOT_CACHED,    /* base is exact: *snap_r is NULL, use base */
	IMAP_SNAPSHOT_CAUGHT_UP, /* base plus the changes since its label */
	IMAP_SNAPSHOT_LISTED,    /* no usable base: every message listed */
};
/*
 * On a store reader, after fs was looked up: the folder's snapshot at fs's
 * HIGHESTMODSEQ, from base (may be NULL; used only when it is the same
 * folder, same UIDVALIDITY, not newer than fs) or from a full listing.
 * *snap_r is a new snapshot (refs 1) or NULL for IMAP_SNAPSHOT_CACHED. 0 / -1.
 */
int imap_snapshot_load(struct store *st, const struct imap_snapshot *base, const struct store_folder_status *fs,
		       struct imap_snapshot **snap_r, enum imap_snapshot_how *how_r, const char **err_r);
/* "cached", "caught-up", "listed" (for logs). */
const char *imap_snapshot_how_name(enum imap_snapshot_how how);

/*
 * The cache (loop thread). budget bounds the bytes of the snapshots it
 * references; base NULL: no idle expiry (unit tests).
 */
struct imap_viewcache *imap_viewcache_new(struct event_base *base, size_t budget);
void imap_viewcache_free(struct imap_viewcache *vc);
/* The snapshot last published under (address_id, name), with a reference for the caller; NULL if none. */
struct imap_snapshot *imap_viewcache_get(struct imap_viewcache *vc, int64_t address_id, const char *name);
/*
 * Publishes snap (the cache takes its own reference) under (address_id,
 * name), replacing any entry of the same folder or name, unless the cache
 * holds a newer snapshot of the folder. Evicts the least recently used
 * entries beyond the bounds.
 */
void imap_viewcache_put(struct imap_viewcache *vc, int64_t address_id, const char *name,
			struct imap_snapshot *snap);
void imap_viewcache_stats(const struct imap_viewcache *vc, size_t *entries_r, size_t *bytes_r);

/*
 * Selects a folder for the session: watches it, so other sessions' changes
 * mark it dirty. The session owns the view afterwards.
 */
void imap_session_select(struct imap_session *s, struct imap_view *v);
/* Back to AUTHENTICATED (CLOSE, UNSELECT, a failed SELECT). */
void imap_session_unselect(struct imap_session *s);

/* ---- imap_cmd.c ----------------------------------------------------------------------------- */

/* The row for a command name (upper case, without "UID "), or NULL. */
const struct imap_cmd_def *imap_cmd_find(const char *name);
/* The CAPABILITY list for this session's state and connection (no leading "* CAPABILITY "). */
void imap_capability_string(const struct imap_session *s, char *out, size_t size);

/* Handlers (cmd_*.c). */
enum imap_cmd_result imap_cmd_capability(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_noop(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_logout(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_starttls(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_authenticate(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_login(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_enable(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_id(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_select(struct imap_cmd *cmd); /* SELECT and EXAMINE */
enum imap_cmd_result imap_cmd_create(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_delete(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_rename(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_subscribe(struct imap_cmd *cmd); /* SUBSCRIBE and UNSUBSCRIBE */
enum imap_cmd_result imap_cmd_list(struct imap_cmd *cmd);      /* LIST and LSUB */
enum imap_cmd_result imap_cmd_namespace(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_status(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_append(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_check(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_close(struct imap_cmd *cmd); /* CLOSE and UNSELECT */
enum imap_cmd_result imap_cmd_expunge(struct imap_cmd *cmd); /* EXPUNGE and UID EXPUNGE */
enum imap_cmd_result imap_cmd_copy(struct imap_cmd *cmd);    /* COPY and MOVE */
enum imap_cmd_result imap_cmd_idle(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_getquota(struct imap_cmd *cmd); /* GETQUOTA and GETQUOTAROOT */
/* The IMAP message data helper's (cmd_fetch.c, cmd_store.c, cmd_search.c, cmd_sort.c, cmd_thread.c). */
enum imap_cmd_result imap_cmd_fetch(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_store(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_search(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_sort(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_thread(struct imap_cmd *cmd);

#endif
