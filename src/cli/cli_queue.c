/*
 * cli_queue: the outbound queue (`hermod queue list|show|retry|hold|release|remove`).
 *
 * What `show` prints is what the delivery status notices carry: per
 * recipient the status, the last reply, the remote MTA and when it was
 * tried, plus the envelope and DSN parameters of the entry.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "store/store_queue.h"

/* A queue entry id: a positive decimal number. CLI_OK or CLI_USAGE (printed). */
static int parse_id(const char *text, int64_t *id_r)
{
	int64_t id = 0;
	const char *p = text;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (id > (INT64_MAX - 9) / 10)
			break;
		id = id * 10 + (*p - '0');
	}
	if (p == text || *p != '\0' || id == 0)
		return cli_usage_error("queue entry id '%s' is not a positive number", text);
	*id_r = id;
	return CLI_OK;
}

/* Text from the store or a remote server, made safe for a tab-separated terminal line. */
static void print_safe(const char *t)
{
	for (const unsigned char *p = (const unsigned char *)t; *p != '\0'; p++)
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
}

static const char *sender_text(const struct store_queue_entry *e)
{
	return e->envelope_from[0] != '\0' ? e->envelope_from : "<>";
}

static const char *status_text(enum store_qrcpt_status st)
{
	switch (st) {
	case STORE_QRCPT_DELIVERED: return "delivered";
	case STORE_QRCPT_FAILED: return "failed";
	default: return "pending";
	}
}

static const char *ret_text(enum store_ret ret)
{
	return ret == STORE_RET_FULL ? "full" : ret == STORE_RET_HDRS ? "headers" : "-";
}

/* RFC 3461 NOTIFY as given: "never", a comma list, or "-" (not given: failure and delay). */
static void notify_text(unsigned notify, char *out, size_t size)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ STORE_NOTIFY_NEVER, "never" }, { STORE_NOTIFY_SUCCESS, "success" },
		{ STORE_NOTIFY_FAILURE, "failure" }, { STORE_NOTIFY_DELAY, "delay" },
	};
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((notify & names[i].bit) == 0)
			continue;
		int n = snprintf(out + len, size - len, "%s%s", len > 0 ? "," : "", names[i].name);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	if (len == 0)
		snprintf(out, size, "-");
}

static void count_rcpt(const struct store_queue_rcpt *r, void *arg)
{
	(void)r;
	(*(unsigned *)arg)++;
}

struct list_ctx {
	struct store *store;
	int failed;
	char err[512];
};

static void print_entry(const struct store_queue_entry *e, void *arg)
{
	struct list_ctx *l = arg;
	char created[32], next[32];
	const char *errstr = NULL;
	unsigned total = 0;

	if (l->failed)
		return;
	if (store_queue_recipients(l->store, e->id, count_rcpt, &total, &errstr) < 0) {
		snprintf(l->err, sizeof(l->err), "%s", errstr);
		l->failed = 1;
		return;
	}
	cli_format_time(e->created_at, created, sizeof(created));
	cli_format_time(e->next_attempt, next, sizeof(next));
	printf("%" PRId64 "\t%s\t%u\t%s\t", e->id, created, e->attempts, next);
	print_safe(sender_text(e));
	printf("\t%u/%u\t%s\n", e->pending, total, e->held ? "yes" : "no");
}

int cli_queue_list(struct cli *c, const struct cli_args *a)
{
	struct list_ctx l = { 0 };
	const char *errstr = NULL;

	(void)a;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	l.store = c->store;
	printf("id\tcreated\tattempts\tnext attempt\tsender\tpending/total\theld\n");
	if (store_queue_list(c->store, print_entry, &l, &errstr) < 0)
		return cli_error("%s", errstr);
	if (l.failed)
		return cli_error("%s", l.err);
	return CLI_OK;
}

static void print_rcpt(const struct store_queue_rcpt *r, void *arg)
{
	char when[32], notify[64];

	(void)arg;
	if (r->last_attempt != 0)
		cli_format_time(r->last_attempt, when, sizeof(when));
	else
		snprintf(when, sizeof(when), "-");
	notify_text(r->notify, notify, sizeof(notify));
	print_safe(r->address);
	printf("\t%s\t%s\t", status_text(r->status), when);
	print_safe(r->remote_mta[0] != '\0' ? r->remote_mta : "-");
	putchar('\t');
	print_safe(r->last_reply[0] != '\0' ? r->last_reply : "-");
	printf("\t%s\t", notify);
	print_safe(r->orcpt[0] != '\0' ? r->orcpt : "-");
	putchar('\n');
}

static void print_entry_details(const struct store_queue_entry *e)
{
	char created[32], next[32];

	cli_format_time(e->created_at, created, sizeof(created));
	cli_format_time(e->next_attempt, next, sizeof(next));
	printf("queue entry %" PRId64 "\n", e->id);
	printf("sender:\t");
	print_safe(sender_text(e));
	printf("\ncreated:\t%s\nsize:\t%" PRIu64 " bytes\nattempts:\t%u\nnext attempt:\t%s\n", created, e->size,
	       e->attempts, next);
	printf("held:\t%s\ndelay notice sent:\t%s\n", e->held ? "yes" : "no", e->delay_notified ? "yes" : "no");
	printf("envid:\t");
	print_safe(e->envid[0] != '\0' ? e->envid : "-");
	printf("\nret:\t%s\ndkim-signed:\t%s\n", ret_text(e->ret),
	       strncmp(e->prefix, "DKIM-Signature:", 15) == 0 ? "yes" : "no");
	printf("pending recipients:\t%u\n\n", e->pending);
}

int cli_queue_show(struct cli *c, const struct cli_args *a)
{
	struct store_queue_entry *e;
	const char *errstr = NULL;
	int64_t id;
	int rc;

	if (parse_id(a->pos[0], &id) != CLI_OK)
		return CLI_USAGE;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	e = xmalloc(sizeof(*e));
	if ((rc = store_queue_get(c->store, id, e, &errstr)) <= 0) {
		free(e);
		return rc < 0 ? cli_error("%s", errstr) : cli_error("queue entry %" PRId64 " does not exist", id);
	}
	print_entry_details(e);
	free(e);
	printf("recipient\tstatus\tlast attempt\tremote mta\tlast reply\tnotify\torcpt\n");
	if (store_queue_recipients(c->store, id, print_rcpt, NULL, &errstr) < 0)
		return cli_error("%s", errstr);
	return CLI_OK;
}

struct ids {
	int64_t *v;
	size_t n, cap;
};

static void collect_id(const struct store_queue_entry *e, void *arg)
{
	struct ids *l = arg;

	if (l->n == l->cap)
		l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 16) * sizeof(*l->v));
	l->v[l->n++] = e->id;
}

/* Every entry due now (and released). */
static int retry_all(struct cli *c)
{
	struct ids l = { 0 };
	const char *errstr = NULL;
	size_t done = 0;
	int rc = store_queue_list(c->store, collect_id, &l, &errstr);

	/* an entry that finished meanwhile is not an error */
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		if (store_queue_retry(c->store, l.v[i], &errstr) == 0)
			done++;
		else if (store_queue_get(c->store, l.v[i], &(struct store_queue_entry){ 0 }, &errstr) != 0)
			rc = -1;
	}
	free(l.v);
	if (rc < 0)
		return cli_error("%s", errstr);
	printf("%zu queue entr%s due now\n", done, done == 1 ? "y is" : "ies are");
	return CLI_OK;
}

int cli_queue_retry(struct cli *c, const struct cli_args *a)
{
	const char *errstr = NULL;
	bool all = cli_opt_flag(a, "all");
	int64_t id = 0;

	if (all == (a->npos == 1))
		return cli_usage_error("give either a queue entry id or --all");
	if (!all && parse_id(a->pos[0], &id) != CLI_OK)
		return CLI_USAGE;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	if (all)
		return retry_all(c);
	if (store_queue_retry(c->store, id, &errstr) < 0)
		return cli_error("%s", errstr);
	printf("queue entry %" PRId64 " is due now\n", id);
	return CLI_OK;
}

static int hold_set(struct cli *c, const struct cli_args *a, bool held)
{
	const char *errstr = NULL;
	int64_t id;

	if (parse_id(a->pos[0], &id) != CLI_OK)
		return CLI_USAGE;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	if (store_queue_hold(c->store, id, held, &errstr) < 0)
		return cli_error("%s", errstr);
	if (held)
		printf("queue entry %" PRId64 " is held: it is not attempted until `hermod queue release %" PRId64
		       "`\n", id, id);
	else
		printf("queue entry %" PRId64 " is released\n", id);
	return CLI_OK;
}

int cli_queue_hold(struct cli *c, const struct cli_args *a)
{
	return hold_set(c, a, true);
}

int cli_queue_release(struct cli *c, const struct cli_args *a)
{
	return hold_set(c, a, false);
}

int cli_queue_remove(struct cli *c, const struct cli_args *a)
{
	struct store_queue_entry *e;
	const char *errstr = NULL;
	int64_t id;
	unsigned pending;
	int rc;

	if (!cli_opt_flag(a, "yes"))
		return cli_usage_error("removing queue entry %s needs --yes (its recipients get no notice)", a->pos[0]);
	if (parse_id(a->pos[0], &id) != CLI_OK)
		return CLI_USAGE;
	if (cli_open_store(c) < 0)
		return CLI_ERROR;
	e = xmalloc(sizeof(*e));
	rc = store_queue_get(c->store, id, e, &errstr);
	pending = rc > 0 ? e->pending : 0;
	free(e);
	if (rc > 0 && (rc = store_queue_remove(c->store, id, &errstr)) < 0)
		return cli_error("%s", errstr);
	if (rc <= 0)
		return rc < 0 ? cli_error("%s", errstr) : cli_error("queue entry %" PRId64 " does not exist", id);
	printf("removed queue entry %" PRId64 " (%u recipient%s still pending, dropped without notice)\n", id, pending,
	       pending == 1 ? "" : "s");
	return CLI_OK;
}
