/*
 * inbound: what happens to a message for one of our addresses besides being
 * stored in a mailbox, for the MX side of the SMTP session.
 *
 *   - An alias delivers to every target: local ones into their INBOX in the
 *     same store transaction as the rest of the message, remote ones (only
 *     once they confirmed through their link) as a queue entry in that same
 *     transaction, with an SRS sender at the alias's domain so that SPF
 *     still passes at the next hop (srs.h). An alias whose only targets
 *     still wait for confirmation answers 450: the sender's server keeps
 *     the mail and tries again, so nothing is lost meanwhile.
 *   - A notice sent back to one of those SRS senders is checked (hash, age)
 *     and queued on to the original sender; only the null sender may use
 *     that path (it exists for notices, and must not become a relay).
 *   - After the message is durable (the 250 is on its way), each address
 *     named in RCPT whose auto-reply is on gets its RFC 3834 reply
 *     considered (autoreply.h), off the session: a WRITE call checks the
 *     period log and builds the reply, then it is delivered locally or
 *     queued like any submission, from the null sender.
 *
 * Everything runs on the event loop; the store work on the store's threads.
 */
#ifndef HERMOD_INBOUND_INBOUND_H
#define HERMOD_INBOUND_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/buf.h"
#include "store/store_async.h"
#include "store/store_inbound.h"

/* local@domain: 64 + 1 + 255 octets (RFC 5321 4.5.3.1) and a NUL, with room to spare */
#define INBOUND_ADDRESS_SIZE 322

struct inbound;

/* sa must outlive it. */
struct inbound *inbound_new(struct store_async *sa);
/* Called (on the loop) after something was put in the outbound queue. */
void inbound_set_queued_hook(struct inbound *ib, void (*hook)(void *arg), void *arg);
/* Auto-replies still being prepared are dropped (logged); call before store_async_free. */
void inbound_free(struct inbound *ib);

enum inbound_rcpt_kind {
	INBOUND_PLAIN, /* a mailbox (or the catchall): rcpt.address_id */
	INBOUND_ALIAS, /* local_ids and remote */
	INBOUND_SRS,   /* a notice for remote[0], the sender we rewrote */
};

struct inbound_rcpt {
	struct store_rcpt rcpt;     /* status (and quota) as store_rcpt_resolve gives them */
	enum inbound_rcpt_kind kind;
	bool awaiting_confirmation; /* an alias whose only targets have not confirmed yet: 450 */
	int64_t autoreply_id;       /* the named address, if its auto-reply is on now; 0 otherwise */
	char autoreply_address[INBOUND_ADDRESS_SIZE];
	size_t local_count;
	int64_t local_ids[STORE_ALIAS_TARGETS_MAX];
	size_t remote_count;
	char remote[STORE_ALIAS_TARGETS_MAX][INBOUND_ADDRESS_SIZE];
	char forward_from[INBOUND_ADDRESS_SIZE]; /* envelope sender of the remote copies ("" : the null sender) */
};

typedef void (*inbound_rcpt_cb)(const struct inbound_rcpt *r, const char *errstr, void *arg);

/*
 * Resolves one recipient of a message from sender ("" for the null
 * sender) on a store reader: store_rcpt_resolve, plus alias expansion, SRS
 * reversal and whether an auto-reply is on. cb gets r, or NULL and errstr.
 * Cancel with store_req_cancel (cb is then not called).
 */
struct store_req *inbound_rcpt_resolve(struct inbound *ib, const char *local, const char *domain,
				       uint64_t incoming_size, const struct plan_cfg plans[CONFIG_PLAN_COUNT],
				       const char *sender, inbound_rcpt_cb cb, void *arg);

/*
 * The same resolution, synchronously, for code already on a store thread
 * (the submission policy's READ call, which also counts sends). sender
 * "" (the null sender, or a submission's: its copies need no SRS) leaves
 * forward_from empty. 0 with *r filled, or -1 with *errstr_r.
 */
int inbound_rcpt_resolve_store(struct store *s, const char *local, const char *domain, uint64_t incoming_size,
			       const struct plan_cfg plans[CONFIG_PLAN_COUNT], const char *sender, int64_t now,
			       struct inbound_rcpt *r, const char **errstr_r);

/* What one message collects from its recipients and its text (zeroed: empty). */
struct inbound_txn {
	char **remote;          /* forwarded copies, distinct */
	size_t remote_count, remote_cap;
	char forward_from[INBOUND_ADDRESS_SIZE];
	int64_t *autoreply_ids; /* addresses to consider for an auto-reply, distinct */
	char **autoreply_addresses;
	size_t autoreply_count, autoreply_cap;
	struct buf header;      /* the header section, kept while someone may auto-reply */
	bool header_done, header_truncated;
};

/* An accepted recipient's remote copies and auto-reply candidate. */
void inbound_txn_add(struct inbound_txn *t, const struct inbound_rcpt *r);
/*
 * Only the recipient's auto-reply candidate: submission, whose remote copies
 * are queued by its own policy (an internal message to a colleague away on
 * holiday gets the reply a message from outside would).
 */
void inbound_txn_add_autoreply(struct inbound_txn *t, const struct inbound_rcpt *r);
/* Message text (after our trace headers): the header is kept when an auto-reply may follow. */
void inbound_txn_text(struct inbound_txn *t, const char *p, size_t len);
/* Does the message go to other servers too? */
bool inbound_txn_relays(const struct inbound_txn *t);
/*
 * Makes the message durable: INBOX of each address, and the remote copies
 * queued, in one store transaction (store_async_submit). body passes to
 * the store. cb as store_async_deliver's.
 */
struct store_req *inbound_txn_commit(struct inbound *ib, struct inbound_txn *t, struct spool *body,
				     const int64_t *address_ids, size_t address_count, int64_t internal_date,
				     store_deliver_cb cb, void *arg);
/*
 * The message is durable: kick the queue for the remote copies, and start
 * the auto-replies (cfg must stay valid until they are done: the daemon
 * keeps every snapshot). sender "" is the null sender.
 */
void inbound_txn_delivered(struct inbound *ib, struct inbound_txn *t, const struct config *cfg, const char *sender,
			   const char *session_id);
void inbound_txn_reset(struct inbound_txn *t);

#endif
