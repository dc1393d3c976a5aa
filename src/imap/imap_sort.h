/*
 * imap_sort: SORT and THREAD (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO).
 *
 * Pure functions over per-message header data that the caller extracts
 * once per message (imap_sort_msg_fill): base subject (RFC 5256 2.1), the
 * first From/To/Cc mailbox, the sent date, Message-ID and References. The
 * caller owns the array; SORT returns a permutation, THREAD a rendered
 * thread list. Strings compare with i;ascii-casemap (RFC 4790 9.2).
 */
#ifndef HERMOD_IMAP_IMAP_SORT_H
#define HERMOD_IMAP_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "lib/buf.h"
#include "lib/slice.h"

struct mime_message;

/*
 * RFC 5256 2.1 base subject of a subject (RFC 2047 words already decoded
 * or not: they are decoded here). Appends the base subject to out; sets
 * *reply_r when a "Re:"/"Fwd:" leader, "(fwd)" trailer or "[fwd: ...]"
 * wrapper was removed (THREAD=REFERENCES step 5 needs it).
 */
void imap_base_subject(struct slice subject, struct buf *out, bool *reply_r);

/*
 * Parses an RFC 5322 date-time ("Tue, 1 Jul 2003 10:52:37 +0200", obsolete
 * zones and two-digit years accepted). Returns 0 with the UTC time and the
 * zone offset in seconds, or -1 when it is not a date.
 */
int imap_rfc5322_date(const char *s, int64_t *time_r, int *tz_offset_r);

enum imap_sort_key {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,
	IMAP_SORT_DISPLAYTO,
};

#define IMAP_SORT_CRITERIA_MAX 16

struct imap_sort_program {
	struct {
		enum imap_sort_key key;
		bool reverse;
	} crit[IMAP_SORT_CRITERIA_MAX];
	size_t count;
};

/* Parses the sort criteria list "(REVERSE DATE SUBJECT)". 0, or -1 with a static reason. */
int imap_sort_parse(const struct imap_arg *list, struct imap_sort_program *prog_r, const char **err_r);

/* What SORT and THREAD know about one message. Strings are owned (free with imap_sort_msg_clear). */
struct imap_sort_msg {
	uint32_t seq, uid;
	uint64_t size;
	int64_t arrival;     /* INTERNALDATE */
	int64_t date;        /* sent date (UTC); the INTERNALDATE when Date: is missing or bad (RFC 5256 SORT DATE) */
	char *subject;       /* base subject */
	bool reply;          /* base subject extraction removed a reply/forward marker */
	char *from, *to, *cc;             /* addr-mailbox of the first address, "" if none */
	char *display_from, *display_to;  /* RFC 5957: display name, else addr-spec */
	char *message_id;    /* without <>, or NULL */
	char **references;   /* References (or In-Reply-To), without <>, oldest first */
	size_t ref_count;
};

/*
 * Fills msg's header data from a parsed message (the stored bytes give the
 * References header). seq, uid, size and arrival must be set by the caller.
 */
void imap_sort_msg_fill(struct imap_sort_msg *msg, const struct mime_message *m, struct slice message);
void imap_sort_msg_clear(struct imap_sort_msg *msg);

/* Sorts order[0..count) (indexes into msgs) by prog; ties keep sequence order (RFC 5256 3). */
void imap_sort_run(const struct imap_sort_program *prog, const struct imap_sort_msg *msgs, size_t *order,
		   size_t count);

enum imap_thread_algo { IMAP_THREAD_ORDEREDSUBJECT, IMAP_THREAD_REFERENCES };

/* Parses the algorithm name; 0 or -1. */
int imap_thread_parse(const char *name, enum imap_thread_algo *algo_r);

/*
 * Threads msgs and appends the thread list ("(1 2)(3 (4)(5))") to out,
 * numbering messages by uid (use_uid) or seq. RFC 5256 3, every step.
 */
void imap_thread_run(enum imap_thread_algo algo, const struct imap_sort_msg *msgs, size_t count, bool use_uid,
		     struct buf *out);

/*
 * On a store READ thread: the SORT/THREAD data of each search hit, in hit
 * order (the MIME tree from the body cache; the stored bytes too when
 * references is set, for THREAD=REFERENCES). *msgs_r is malloc'd; free
 * each with imap_sort_msg_clear, then the array. 0, or -1 with *errstr_r.
 */
struct store;
struct imap_search_result;
int imap_sort_collect(struct store *s, const struct imap_search_result *res, bool references,
		      struct imap_sort_msg **msgs_r, const char **errstr_r);

#endif
