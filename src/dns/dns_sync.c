/*
 * dns_sync: blocking, time-bounded lookups on libunbound (see dns_sync.h).
 *
 * Why not ub_resolve: it has no deadline, and a forwarder that never
 * answers keeps it retrying far longer than a person at a terminal or an
 * HTTP client waits. So each lookup is started with ub_resolve_async on a
 * context in threaded mode, and the caller poll()s unbound's descriptor
 * until the answer or the deadline; at the deadline it is cancelled.
 */
#include "dns/dns_sync.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#include "lib/xalloc.h"

#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3

struct dns_sync {
	struct ub_ctx *ub;
	unsigned timeout_s;
	/*
	 * A lookup timed out: the upstream is not answering, and asking again
	 * would make a check of N records take N timeouts. Later lookups fail
	 * at once.
	 */
	bool timed_out;
};

/* The same upstream choice as dns.c's ub_configure (which is private to it). */
static int configure(struct ub_ctx *ub, const struct dns_cfg *cfg, const char **errstr_r)
{
	if (ub_ctx_async(ub, 1) != 0)
		return *errstr_r = "cannot start the DNS resolver thread (libunbound)", -1;
	/* a forwarder on 127.0.0.1 (tests), or a local caching resolver in resolv.conf */
	if (ub_ctx_set_option(ub, "do-not-query-localhost:", "no") != 0)
		return *errstr_r = "cannot configure the DNS resolver (libunbound)", -1;
	if (cfg->forward != NULL && cfg->forward[0] != '\0') {
		if (ub_ctx_set_fwd(ub, cfg->forward) != 0)
			return *errstr_r = "the DNS forward address of the configuration is not usable", -1;
		/* unbound answers ".test" (RFC 6761) itself; a chosen forwarder is asked instead */
		if (ub_ctx_zone_add(ub, "test.", "transparent") != 0)
			return *errstr_r = "cannot configure the DNS resolver (libunbound)", -1;
	} else if (ub_ctx_resolvconf(ub, NULL) != 0) {
		return *errstr_r = "cannot read the nameservers of /etc/resolv.conf", -1;
	}
	return 0;
}

struct dns_sync *dns_sync_new(const struct dns_cfg *cfg, const char **errstr_r)
{
	struct ub_ctx *ub = ub_ctx_create();
	struct dns_sync *d;

	if (ub == NULL)
		return *errstr_r = "cannot create the DNS resolver (libunbound)", NULL;
	if (configure(ub, cfg, errstr_r) < 0) {
		ub_ctx_delete(ub);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->ub = ub;
	d->timeout_s = cfg->timeout_s != 0 ? cfg->timeout_s : DNS_TIMEOUT_DEFAULT_S;
	return d;
}

void dns_sync_free(struct dns_sync *d)
{
	if (d == NULL)
		return;
	ub_ctx_delete(d->ub);
	free(d);
}

void dns_sync_answer_clear(struct dns_sync_answer *ans)
{
	for (size_t i = 0; i < ans->n; i++)
		free(ans->records[i]);
	memset(ans, 0, sizeof(*ans));
}

/* ---- waiting ---- */

struct wait {
	bool done;
	int err;
	struct ub_result *res;
};

static void wait_cb(void *arg, int err, struct ub_result *res)
{
	struct wait *w = arg;

	w->done = true;
	w->err = err;
	w->res = res;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 with w filled, or -1 on timeout (the query cancelled). */
static int wait_answer(struct dns_sync *d, int id, struct wait *w)
{
	int64_t deadline = now_ms() + (int64_t)d->timeout_s * 1000;
	struct pollfd pfd = { .fd = ub_fd(d->ub), .events = POLLIN };

	while (!w->done) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			ub_cancel(d->ub, id);
			return -1;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return ub_cancel(d->ub, id), -1;
		ub_process(d->ub);
	}
	return 0;
}

/* ---- reading records ---- */

static bool wire_name(const unsigned char *p, size_t len, char *out, size_t outsize)
{
	size_t i = 0, o = 0;

	for (;;) {
		size_t n;

		if (i >= len)
			return false;
		if ((n = p[i++]) == 0)
			break;
		if (n > 63 || i + n > len || o + n + 2 > outsize)
			return false; /* also compression pointers (0xc0) */
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < n; k++)
			out[o++] = (char)tolower(p[i + k]);
		i += n;
	}
	out[o] = '\0';
	return true;
}

/* TXT: the character-strings joined. NULL when malformed or too long. */
static char *txt_record(const unsigned char *p, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t i = 0, o = 0;

	while (i < len) {
		size_t n = p[i++];

		if (i + n > len || o + n > DNS_SYNC_TEXT_MAX) {
			free(out);
			return NULL;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	if (strlen(out) != o) { /* a NUL inside: cannot be compared as text */
		free(out);
		return NULL;
	}
	/*
	 * Anyone's DNS data ends up on terminals and in JSON: control
	 * characters and bytes outside ASCII become '?' (SPF, DKIM and DMARC
	 * records are ASCII, so nothing they say is lost).
	 */
	for (size_t k = 0; k < o; k++)
		if ((unsigned char)out[k] < 0x20 || (unsigned char)out[k] > 0x7e)
			out[k] = '?';
	return out;
}

static void add_record(struct dns_sync_answer *ans, enum dns_sync_type type, const unsigned char *p, size_t len)
{
	char text[300];
	char *rec = NULL;

	if (ans->n == DNS_SYNC_RECORDS_MAX)
		return;
	if (type == DNS_SYNC_TXT) {
		rec = txt_record(p, len);
	} else if (type == DNS_SYNC_MX && len >= 3 && wire_name(p + 2, len - 2, text, sizeof(text))) {
		ans->mx_preference[ans->n] = (uint16_t)(p[0] << 8 | p[1]);
		rec = xasprintf("%u %s", (unsigned)ans->mx_preference[ans->n], text);
		ans->mx_host[ans->n] = strchr(rec, ' ') + 1;
	} else if ((type == DNS_SYNC_A && len == 4) || (type == DNS_SYNC_AAAA && len == 16)) {
		if (inet_ntop(type == DNS_SYNC_A ? AF_INET : AF_INET6, p, text, sizeof(text)) != NULL)
			rec = xstrdup(text);
	}
	if (rec != NULL)
		ans->records[ans->n++] = rec;
}

static const char *type_name(enum dns_sync_type type)
{
	return type == DNS_SYNC_TXT ? "TXT" : type == DNS_SYNC_MX ? "MX" : type == DNS_SYNC_A ? "A" : "AAAA";
}

static int fail(struct dns_sync_answer *ans, const char *name, enum dns_sync_type type, const char *why)
{
	ans->status = DNS_SYNC_FAIL;
	snprintf(ans->error, sizeof(ans->error), "the DNS lookup of the %s records of %s failed: %s",
		 type_name(type), name, why);
	return -1;
}

int dns_sync_lookup(struct dns_sync *d, const char *name, enum dns_sync_type type, struct dns_sync_answer *ans)
{
	struct wait w = { 0 };
	int id = 0, err, rc;

	memset(ans, 0, sizeof(*ans));
	if (d->timed_out)
		return fail(ans, name, type, "not asked: an earlier lookup got no answer in time");
	if ((err = ub_resolve_async(d->ub, name, (int)type, DNS_CLASS_IN, &w, wait_cb, &id)) != 0)
		return fail(ans, name, type, ub_strerror(err));
	if (wait_answer(d, id, &w) < 0) {
		d->timed_out = true;
		return fail(ans, name, type, "no answer in time (timeout)");
	}
	if (w.err != 0)
		return fail(ans, name, type, ub_strerror(w.err));
	if (w.res->nxdomain || w.res->rcode == DNS_RCODE_NXDOMAIN) {
		ans->status = DNS_SYNC_NXDOMAIN;
		rc = 0;
	} else if (w.res->rcode != 0) {
		char why[64];

		snprintf(why, sizeof(why), "the server answered with error code %d", w.res->rcode);
		rc = fail(ans, name, type, why);
	} else {
		for (size_t i = 0; w.res->havedata && w.res->data[i] != NULL; i++)
			add_record(ans, type, (const unsigned char *)w.res->data[i], (size_t)w.res->len[i]);
		ans->status = ans->n > 0 ? DNS_SYNC_OK : DNS_SYNC_NODATA;
		rc = 0;
	}
	ub_resolve_free(w.res);
	return rc;
}
