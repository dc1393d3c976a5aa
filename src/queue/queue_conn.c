/*
 * queue_conn: outbound connections kept open between transactions.
 *
 * Opening a connection costs a TCP handshake, the banner, EHLO and often a
 * TLS handshake, on both ends; a queue sending many messages to one
 * destination pays that once per connection instead of once per message.
 * When a transaction ends cleanly smtp_client hands the session back; it
 * waits here, idle, for the next job whose route (after the transport
 * override or MX resolution) includes its address and port, which starts
 * with RSET on it (RFC 5321 4.1.1.5).
 *
 * Limits: an idle connection lives QUEUE_CONN_IDLE_S seconds (then QUIT),
 * carries at most QUEUE_CONN_REUSE_MAX transactions, and ends on any error
 * or anything the server says unasked (a 421 on its own timeout). At most
 * per_domain idle connections per destination and `concurrency` in all,
 * so together with the busy ones (a job takes an idle connection before
 * it opens one) no destination sees more connections than the limits
 * allow. At shutdown and on reload every idle connection is QUIT.
 */
#include "queue/queue_private.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"

static void idle_unlink(struct queue_idle *qi)
{
	struct queue *q = qi->q;

	if (qi->prev != NULL)
		qi->prev->next = qi->next;
	else
		q->idle = qi->next;
	if (qi->next != NULL)
		qi->next->prev = qi->prev;
	else
		q->idle_tail = qi->prev;
	q->nidle--;
}

/* The server closed it or it timed out: smtp_client frees the session after this. */
static void idle_gone(struct smtp_client_idle *sc, void *arg)
{
	struct queue_idle *qi = arg;

	idle_unlink(qi);
	free(qi);
}

/* QUITs an idle connection now. */
static void idle_drop(struct queue_idle *qi)
{
	idle_unlink(qi);
	smtp_client_idle_free(qi->sc);
	free(qi);
}

static size_t idle_count_to(const struct queue *q, const char *label)
{
	size_t n = 0;

	for (const struct queue_idle *qi = q->idle; qi != NULL; qi = qi->next)
		n += strcmp(smtp_client_idle_label(qi->sc), label) == 0;
	return n;
}

void queue_conn_park(struct queue *q, struct smtp_client_idle *sc)
{
	struct queue_idle *qi;

	if (q->shutting_down || smtp_client_idle_uses(sc) >= QUEUE_CONN_REUSE_MAX ||
	    idle_count_to(q, smtp_client_idle_label(sc)) >= q->cfg->queue_per_domain) {
		smtp_client_idle_free(sc);
		return;
	}
	while (q->nidle > 0 && q->nidle >= q->cfg->queue_concurrency)
		idle_drop(q->idle_tail);
	qi = xcalloc(1, sizeof(*qi));
	qi->q = q;
	qi->sc = sc;
	qi->next = q->idle;
	if (q->idle != NULL)
		q->idle->prev = qi;
	else
		q->idle_tail = qi;
	q->idle = qi;
	q->nidle++;
	if (!smtp_client_idle_watch(sc, QUEUE_CONN_IDLE_S, idle_gone, qi))
		idle_drop(qi);
}

struct smtp_client_idle *queue_conn_take(struct queue *q, const struct smtp_client_target *targets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (struct queue_idle *qi = q->idle; qi != NULL; qi = qi->next) {
			struct smtp_client_idle *sc = qi->sc;
			if (!smtp_client_idle_matches(sc, &targets[i]))
				continue;
			idle_unlink(qi);
			free(qi);
			return sc;
		}
	}
	return NULL;
}

void queue_conn_drop_all(struct queue *q)
{
	size_t n = q->nidle;

	while (q->idle != NULL)
		idle_drop(q->idle);
	if (n > 0)
		log_info("queue event=connections-closed idle=%zu", n);
}
