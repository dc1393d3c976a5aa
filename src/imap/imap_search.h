/*
 * imap_search: SEARCH criteria (RFC 3501 6.4.4, RFC 9051 6.4.4, RFC 7162
 * MODSEQ, RFC 5182 "$", RFC 4731 / RFC 9051 RETURN options) parsed into a
 * program and evaluated against one message at a time.
 *
 * Parsing is pure (arguments in, program out; nesting bounded by
 * IMAP_SEARCH_DEPTH_MAX). Evaluation needs the message's flags, size and
 * dates (struct store_mail) and, only for header and text keys, its parsed
 * MIME tree and bytes, which the caller supplies lazily through a loader so
 * that flag-only searches never read a body.
 *
 * String keys match as RFC 9051 asks: a case-insensitive substring of the
 * decoded (RFC 2047, transfer encoding, charset → UTF-8) text. Case folding
 * covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (a subset of
 * i;unicode-casemap).
 *
 * Full-text index: BODY strings of three characters or more that
 * every match must contain (imap_search_fts_words) let the caller narrow
 * the candidates with store_fts_candidates first. The index only narrows:
 * each candidate is still evaluated here.
 */
#ifndef HERMOD_IMAP_IMAP_SEARCH_H
#define HERMOD_IMAP_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "lib/buf.h"
#include "lib/slice.h"

struct store_mail;
struct mime_message;

#define IMAP_SEARCH_DEPTH_MAX 32  /* nested NOT / OR / ( ) */
#define IMAP_SEARCH_KEYS_MAX 1024 /* keys in one program */

/* RFC 4731 / RFC 9051 6.4.4 RETURN options. */
enum {
	IMAP_SEARCH_RETURN_MIN = 1 << 0,
	IMAP_SEARCH_RETURN_MAX = 1 << 1,
	IMAP_SEARCH_RETURN_ALL = 1 << 2,
	IMAP_SEARCH_RETURN_COUNT = 1 << 3,
	IMAP_SEARCH_RETURN_SAVE = 1 << 4,
};

struct imap_search_node;

struct imap_search_program {
	struct imap_search_node *root;
	bool esearch;          /* RETURN was given: answer with ESEARCH (RFC 4731) */
	unsigned return_opts;  /* IMAP_SEARCH_RETURN_*; RETURN () means ALL */
	bool has_modseq;       /* a MODSEQ key: responses carry (MODSEQ n) (RFC 7162 3.1.5) */
	bool uses_saved;       /* "$" appears (RFC 5182) */
	bool needs_message;    /* header or text keys: the loader will be called */
	bool badcharset;       /* failure reason was an unsupported CHARSET: NO [BADCHARSET (UTF-8 US-ASCII)] */
};

/*
 * Parses SEARCH arguments: [RETURN (...)] [CHARSET name] criteria...
 * Returns 0, or -1 with *err_r a static reason (BAD; NO [BADCHARSET] when
 * prog_r->badcharset is set). Free the program with imap_search_free even
 * after a failure.
 */
int imap_search_parse(const struct imap_arg *args, size_t count, struct imap_search_program *prog_r,
		      const char **err_r);
void imap_search_free(struct imap_search_program *prog);

/*
 * Parses bare search criteria (the SEARCH key list of SORT and THREAD,
 * after their charset). Same contract as imap_search_parse.
 */
int imap_search_parse_criteria(const struct imap_arg *args, size_t count, struct imap_search_program *prog_r,
			       const char **err_r);

/*
 * The message being evaluated. The loader is called at most once, on the
 * first header or text key; it returns 0 with the parsed tree and the
 * stored bytes (borrowed until the evaluation ends), or -1.
 */
struct imap_search_msg {
	uint32_t seq;
	const struct store_mail *mail;
	bool recent;
	uint32_t max_seq, max_uid;   /* what "*" stands for */
	const uint32_t *saved_uids;  /* "$": sorted UIDs, or NULL */
	size_t saved_count;
	int (*load)(void *arg, const struct mime_message **mime_r, struct slice *message_r);
	void *load_arg;
};

/* 1 if the message matches, 0 if not, -1 if the loader failed. */
int imap_search_eval(const struct imap_search_program *prog, const struct imap_search_msg *msg);

/*
 * Appends to out, NUL-separated, the BODY strings every match must
 * contain (outside NOT and OR) that are at least 3 characters long; returns
 * how many. The caller feeds each to store_fts_candidates and intersects.
 */
size_t imap_search_fts_words(const struct imap_search_program *prog, struct buf *out);

/* Case-insensitive (imap_search.h folding) substring test on UTF-8; exported for tests and SORT. */
bool imap_search_contains(struct slice haystack, struct slice needle);
/* Appends the case-folded form of UTF-8 text to out. */
void imap_search_fold(struct slice in, struct buf *out);

/* ---- running a search on a store thread (for SEARCH, SORT, THREAD) -------------------- */

struct store;

struct imap_search_hit {
	uint32_t uid, seq;
	uint64_t size, modseq;
	int64_t internal_date, body_id;
};

/* UIDs lo <= uid < hi: a run of a session's \Recent messages (RFC 3501 2.3.2). */
struct imap_uid_range {
	uint32_t lo, hi;
};

/* Whether uid is in one of n ranges (ascending, disjoint). Pure. */
bool imap_uid_ranges_contain(const struct imap_uid_range *r, size_t n, uint32_t uid);

/* What a search sees of the session, copied for the store thread (owned: imap_search_scope_free). */
struct imap_search_scope {
	uint32_t *view_uids;             /* ascending; message i has sequence number i + 1 */
	size_t view_count;
	struct imap_uid_range *recent;   /* this session's \Recent messages (RECENT, NEW, OLD) */
	size_t recent_count;
	uint32_t *saved;                 /* SEARCHRES "$" (RFC 5182): sorted UIDs, or NULL */
	size_t saved_count;
};

void imap_search_scope_free(struct imap_search_scope *sc);

struct imap_search_result {
	struct imap_search_hit *hits; /* ascending UID (and sequence) order */
	size_t count;
	uint64_t highest_modseq;      /* of the matches (RFC 7162 3.1.5) */
};

/*
 * Evaluates prog over the messages of the folder that are in the session's
 * view (sc->view_uids), on a READ store thread. BODY/TEXT words narrow the candidates through the
 * full-text index first; the substring match decides. 0, or -1 with
 * *errstr_r.
 */
int imap_search_run(struct store *s, int64_t folder_id, const struct imap_search_program *prog,
		    const struct imap_search_scope *sc, struct imap_search_result *res_r, const char **errstr_r);
void imap_search_result_free(struct imap_search_result *res);
/*
 * RETURN (SAVE) (RFC 5182 2.4): the UIDs "$" is to hold after a search with
 * return_opts: every match, or only the lowest and/or highest when MIN
 * and/or MAX come without ALL and COUNT. *uids_r is malloc'd, ascending.
 */
void imap_search_saved(unsigned return_opts, const struct imap_search_result *res, uint32_t **uids_r,
		       size_t *count_r);

/*
 * The full-text index is kept in step with delivery in the background: the
 * store writer, once it has had nothing else to do for a quiet spell
 * (STORE_ASYNC_IDLE_QUIET_MS), runs this step (store_async_set_idle_work),
 * which indexes up to IMAP_INDEX_STEP bodies not indexed yet. Under a
 * steady stream of mail the index lags and catches up afterwards. Bodies not indexed yet are always search candidates
 * (store_fts_candidates), so a lagging index never changes a result.
 */
#define IMAP_INDEX_STEP 20 /* ~5 ms of writer time: a delivery arriving meanwhile waits no longer */
struct imap_indexer {
	int64_t cursor; /* the last body id looked at (writer thread only) */
	uint64_t indexed;
};
size_t imap_search_index_step(struct store *s, void *arg);

#endif
