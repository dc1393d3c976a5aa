/*
 * dns: MX and address lookups on libunbound, driven by the libevent loop.
 *
 * A request owns up to 1 + 2 * DNS_MX_HOSTS_MAX unbound queries: the MX
 * query, then A and AAAA for every host it names. Each query's unbound
 * `mydata` points into the request's own query table, so cancelling is
 * ub_cancel on the pending ones (unbound then never calls back for them)
 * and a free. One timer per request bounds the whole lookup; it also
 * delivers results that need no query (a malformed name, a numeric host),
 * so a callback never runs inside dns_mx or dns_addresses.
 */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define DNS_TYPE_A 1
#define DNS_TYPE_MX 15
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3
#define DNS_NAME_MAX 253 /* presentation form, without the trailing dot */
#define DNS_QUERIES_MAX (1 + 2 * DNS_MX_HOSTS_MAX)
#define DNS_ERROR_MAX 512
#define DNS_HOST_ERROR_MAX 200

enum query_kind { Q_MX, Q_A, Q_AAAA };

/* How one A or AAAA lookup of a host ended. */
enum addr_state { ADDR_PENDING, ADDR_FOUND, ADDR_NODATA, ADDR_NXDOMAIN, ADDR_TEMP, ADDR_SKIPPED };

struct dns_query {
	struct dns_req *req;
	enum query_kind kind;
	size_t host;
	int id;
	bool pending;
};

struct host_acc {
	char name[DNS_NAME_MAX + 1];
	unsigned preference;
	enum addr_state state4, state6;
	struct dns_addr v4[DNS_ADDRS_PER_FAMILY_MAX], v6[DNS_ADDRS_PER_FAMILY_MAX];
	size_t n4, n6;
	char temp_reason[DNS_HOST_ERROR_MAX]; /* why a lookup failed temporarily */
	struct dns_addr merged[2 * DNS_ADDRS_PER_FAMILY_MAX];
	char error[DNS_HOST_ERROR_MAX];
};

struct dns_req {
	struct dns *d;
	struct dns_req *prev, *next;
	dns_cb cb;
	void *arg;
	bool want_mx;
	char domain[DNS_NAME_MAX + 1];

	struct dns_query q[DNS_QUERIES_MAX];
	size_t nq, npending;
	struct host_acc hosts[DNS_MX_HOSTS_MAX];
	size_t nhosts;
	bool implicit_mx;

	/* Set when the outcome is decided before any address lookup. */
	bool decided;
	enum dns_status status;
	char error[DNS_ERROR_MAX];

	struct event *timer;
};

struct dns {
	struct event_base *base;
	struct ub_ctx *ub;
	struct event *ev;
	unsigned timeout_s;
	bool no_ipv6, prefer_ipv6;
	struct dns_req *reqs;
	size_t nreqs;
};

static char dns_errbuf[256];

/* ---- the context ---- */

static void ub_readable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;
	int err = ub_process(d->ub);

	if (err != 0)
		log_warn("dns event=process-failed error=\"%s\"", ub_strerror(err));
}

static const char *ub_error(const char *what, int err)
{
	snprintf(dns_errbuf, sizeof(dns_errbuf), "%s: %s", what, ub_strerror(err));
	return dns_errbuf;
}

/*
 * Upstream choice. do-not-query-localhost must be off both for a forwarder
 * on 127.0.0.1 (tests) and for a resolv.conf that names a local caching
 * resolver (127.0.0.53), which is the common case on servers.
 */
static int ub_configure(struct ub_ctx *ub, const struct dns_cfg *cfg, const char **errstr_r)
{
	int err;

	if ((err = ub_ctx_async(ub, 1)) != 0) {
		*errstr_r = ub_error("cannot start the DNS resolver thread", err);
		return -1;
	}
	if ((err = ub_ctx_set_option(ub, "do-not-query-localhost:", "no")) != 0) {
		*errstr_r = ub_error("cannot configure the DNS resolver", err);
		return -1;
	}
	if (cfg->forward != NULL && cfg->forward[0] != '\0') {
		if ((err = ub_ctx_set_fwd(ub, cfg->forward)) != 0) {
			snprintf(dns_errbuf, sizeof(dns_errbuf), "DNS forward address \"%.64s\" is not usable: %s",
				 cfg->forward, ub_strerror(err));
			*errstr_r = dns_errbuf;
			return -1;
		}
		/*
		 * unbound answers the RFC 6761 ".test" names NXDOMAIN itself. With an
		 * explicit forwarder (a test DNS server, a lab resolver) they are
		 * asked like any other name, so test domains can have MX records.
		 */
		if ((err = ub_ctx_zone_add(ub, "test.", "transparent")) != 0) {
			*errstr_r = ub_error("cannot configure the DNS resolver", err);
			return -1;
		}
	} else if ((err = ub_ctx_resolvconf(ub, NULL)) != 0) {
		*errstr_r = ub_error("cannot read the nameservers of /etc/resolv.conf", err);
		return -1;
	}
	return 0;
}

struct dns *dns_new(struct event_base *base, const struct dns_cfg *cfg, const char **errstr_r)
{
	struct ub_ctx *ub = ub_ctx_create();
	struct dns *d;

	if (ub == NULL) {
		*errstr_r = "cannot create the DNS resolver (libunbound)";
		return NULL;
	}
	if (ub_configure(ub, cfg, errstr_r) < 0) {
		ub_ctx_delete(ub);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->base = base;
	d->ub = ub;
	d->timeout_s = cfg->timeout_s != 0 ? cfg->timeout_s : DNS_TIMEOUT_DEFAULT_S;
	d->no_ipv6 = cfg->no_ipv6;
	d->prefer_ipv6 = cfg->prefer_ipv6;
	d->ev = event_new(base, ub_fd(ub), EV_READ | EV_PERSIST, ub_readable_cb, d);
	if (d->ev == NULL)
		panic("dns: cannot create an event (out of memory)");
	event_add(d->ev, NULL);
	return d;
}

static void req_free(struct dns_req *req);

void dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	while (d->reqs != NULL)
		dns_req_cancel(d->reqs);
	event_free(d->ev);
	ub_ctx_delete(d->ub);
	free(d);
}

size_t dns_pending_count(const struct dns *d)
{
	return d->nreqs;
}

/* ---- names ---- */

static bool name_char_ok(unsigned char ch)
{
	/* LDH plus '_' (seen in real MX targets); U-labels must arrive as A-labels. */
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/*
 * Copies name lower-cased without a trailing dot into out (DNS_NAME_MAX + 1
 * bytes). Returns false for anything that is not a plausible host name:
 * empty, too long, an empty or over-63-octet label, or other characters.
 * XXX: internationalised domains need IDNA2008 (libidn2) conversion first.
 */
static bool name_normalize(const char *name, char *out)
{
	size_t len = strlen(name), label = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!name_char_ok(ch) || ++label > 63) {
			return false;
		}
		out[i] = (char)ch;
	}
	out[len] = '\0';
	return label > 0;
}

/*
 * Decodes an uncompressed wire-format name (unbound hands out rdata with
 * names expanded) into presentation form. Returns the number of bytes
 * consumed, or 0 when malformed. The root name gives "".
 */
static size_t name_from_wire(const unsigned char *p, size_t len, char *out, size_t outsize)
{
	size_t i = 0, o = 0;

	for (;;) {
		size_t n;
		if (i >= len)
			return 0;
		n = p[i++];
		if (n == 0)
			break;
		if (n > 63 || i + n > len || o + n + 2 > outsize)
			return 0; /* also rejects compression pointers (0xc0) */
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return i;
}

/* ---- finishing ---- */

static void req_unlink(struct dns_req *req)
{
	struct dns *d = req->d;

	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		d->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	d->nreqs--;
}

static void req_free(struct dns_req *req)
{
	event_free(req->timer);
	free(req);
}

static void cancel_queries(struct dns_req *req, bool mark_timeout)
{
	for (size_t i = 0; i < req->nq; i++) {
		struct dns_query *q = &req->q[i];
		if (!q->pending)
			continue;
		ub_cancel(req->d->ub, q->id);
		q->pending = false;
		req->npending--;
		if (!mark_timeout)
			continue;
		if (q->kind == Q_MX) {
			req->decided = true;
			req->status = DNS_TEMPFAIL;
			snprintf(req->error, sizeof(req->error), "DNS lookup of the MX records of %s timed out after %u s",
				 req->domain, req->d->timeout_s);
			continue;
		}
		struct host_acc *h = &req->hosts[q->host];
		*(q->kind == Q_A ? &h->state4 : &h->state6) = ADDR_TEMP;
		snprintf(h->temp_reason, sizeof(h->temp_reason), "DNS lookup timed out after %u s", req->d->timeout_s);
	}
}

/* Fills h->merged / h->error from the two lookups; returns the address count. */
static size_t host_finish(const struct dns *d, struct host_acc *h)
{
	const struct dns_addr *first = d->prefer_ipv6 ? h->v6 : h->v4;
	const struct dns_addr *second = d->prefer_ipv6 ? h->v4 : h->v6;
	size_t nfirst = d->prefer_ipv6 ? h->n6 : h->n4;
	size_t nsecond = d->prefer_ipv6 ? h->n4 : h->n6;

	memcpy(h->merged, first, nfirst * sizeof(*first));
	memcpy(h->merged + nfirst, second, nsecond * sizeof(*second));
	if (nfirst + nsecond > 0)
		return nfirst + nsecond;
	if (h->state4 == ADDR_TEMP || h->state6 == ADDR_TEMP)
		snprintf(h->error, sizeof(h->error), "%s: temporary failure looking up its address: %s", h->name,
			 h->temp_reason);
	else if (h->state4 == ADDR_NXDOMAIN || h->state6 == ADDR_NXDOMAIN)
		snprintf(h->error, sizeof(h->error), "%s: host name does not exist (NXDOMAIN)", h->name);
	else
		snprintf(h->error, sizeof(h->error), "%s: host has no address record (A%s)", h->name,
			 d->no_ipv6 ? "" : " or AAAA");
	return 0;
}

static bool host_is_temp(const struct host_acc *h)
{
	return h->state4 == ADDR_TEMP || h->state6 == ADDR_TEMP;
}

/* The overall outcome once every host's lookups are over (RFC 5321 5.1). */
static void decide(struct dns_req *req, size_t total_addrs)
{
	const struct host_acc *h0 = &req->hosts[0];
	bool temp = false;

	if (req->decided)
		return;
	req->decided = true;
	req->status = DNS_OK;
	if (total_addrs > 0)
		return;
	for (size_t i = 0; i < req->nhosts; i++)
		temp = temp || host_is_temp(&req->hosts[i]);
	req->status = temp ? DNS_TEMPFAIL : DNS_PERMFAIL;
	if (!req->want_mx)
		snprintf(req->error, sizeof(req->error), "%s", h0->error);
	else if (req->implicit_mx && !temp)
		snprintf(req->error, sizeof(req->error),
			 "domain %s has no MX record and no address record to deliver mail to", req->domain);
	else
		snprintf(req->error, sizeof(req->error), "no mail host of domain %s has a usable address (%s)",
			 req->domain, h0->error);
}

static void req_finish(struct dns_req *req)
{
	struct dns_host out[DNS_MX_HOSTS_MAX];
	struct dns_result r = { 0 };
	size_t total = 0;

	for (size_t i = 0; i < req->nhosts; i++) {
		struct host_acc *h = &req->hosts[i];
		size_t n = host_finish(req->d, h);
		out[i] = (struct dns_host){ h->name, h->preference, h->merged, n, n == 0 ? h->error : NULL };
		total += n;
	}
	decide(req, total);
	r.status = req->status;
	r.error = req->status == DNS_OK ? NULL : req->error;
	r.implicit_mx = req->implicit_mx;
	r.hosts = req->status == DNS_OK || req->nhosts > 0 ? out : NULL;
	r.nhosts = req->nhosts;
	req_unlink(req);
	log_debug("dns event=answer name=%s status=%d hosts=%zu addresses=%zu", req->domain, (int)r.status,
		  r.nhosts, total);
	req->cb(&r, req->arg);
	req_free(req);
}

/* Timeout, or a result decided without (more) queries. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *req = arg;

	cancel_queries(req, true);
	req_finish(req);
}

static void query_done(struct dns_req *req)
{
	if (req->npending == 0)
		req_finish(req);
}

/* ---- address lookups ---- */

static void ub_cb(void *mydata, int err, struct ub_result *res);

static int query_start(struct dns_req *req, enum query_kind kind, size_t host, const char *name)
{
	static const int types[] = { [Q_MX] = DNS_TYPE_MX, [Q_A] = DNS_TYPE_A, [Q_AAAA] = DNS_TYPE_AAAA };
	struct dns_query *q;
	int err;

	ASSERT(req->nq < DNS_QUERIES_MAX);
	q = &req->q[req->nq++];
	*q = (struct dns_query){ .req = req, .kind = kind, .host = host, .pending = true };
	err = ub_resolve_async(req->d->ub, name, types[kind], DNS_CLASS_IN, q, ub_cb, &q->id);
	if (err != 0) {
		q->pending = false;
		return err;
	}
	req->npending++;
	return 0;
}

static void host_lookup(struct dns_req *req, size_t i)
{
	struct host_acc *h = &req->hosts[i];
	int err;

	h->state4 = ADDR_PENDING;
	h->state6 = req->d->no_ipv6 ? ADDR_SKIPPED : ADDR_PENDING;
	if ((err = query_start(req, Q_A, i, h->name)) != 0) {
		h->state4 = ADDR_TEMP;
		snprintf(h->temp_reason, sizeof(h->temp_reason), "%s", ub_strerror(err));
	}
	if (!req->d->no_ipv6 && (err = query_start(req, Q_AAAA, i, h->name)) != 0) {
		h->state6 = ADDR_TEMP;
		snprintf(h->temp_reason, sizeof(h->temp_reason), "%s", ub_strerror(err));
	}
}

static const char *rcode_name(int rcode)
{
	switch (rcode) {
	case 1: return "FORMERR";
	case 2: return "SERVFAIL";
	case 3: return "NXDOMAIN";
	case 4: return "NOTIMP";
	case 5: return "REFUSED";
	default: return "error";
	}
}

static void addr_result(struct dns_query *q, int err, const struct ub_result *res)
{
	struct host_acc *h = &q->req->hosts[q->host];
	bool v6 = q->kind == Q_AAAA;
	enum addr_state *st = v6 ? &h->state6 : &h->state4;

	if (err != 0 || (res->rcode != 0 && res->rcode != DNS_RCODE_NXDOMAIN)) {
		*st = ADDR_TEMP;
		snprintf(h->temp_reason, sizeof(h->temp_reason), "%s",
			 err != 0 ? ub_strerror(err) : rcode_name(res->rcode));
		return;
	}
	if (res->nxdomain) {
		*st = ADDR_NXDOMAIN;
		return;
	}
	*st = res->havedata ? ADDR_FOUND : ADDR_NODATA;
	for (size_t i = 0; res->havedata && res->data[i] != NULL; i++) {
		size_t *n = v6 ? &h->n6 : &h->n4;
		struct dns_addr *a = v6 ? &h->v6[*n] : &h->v4[*n];
		if (*n == DNS_ADDRS_PER_FAMILY_MAX)
			break;
		memset(a, 0, sizeof(*a));
		if (!v6 && res->len[i] == 4) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, res->data[i], 4);
			a->len = sizeof(*s4);
		} else if (v6 && res->len[i] == 16) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, res->data[i], 16);
			a->len = sizeof(*s6);
		} else {
			continue; /* malformed rdata */
		}
		(*n)++;
	}
}

/* ---- MX ---- */

struct mx_entry {
	unsigned pref;
	uint32_t rnd;
	char name[DNS_NAME_MAX + 1];
};

/* By preference, then by a random key: equal preferences are shuffled (RFC 5321 5.1). */
static int mx_cmp(const void *a, const void *b)
{
	const struct mx_entry *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->rnd < y->rnd ? -1 : x->rnd > y->rnd ? 1 : 0;
}

/* Parses the MX rdata into entries; returns the count, sets *null_r for "." targets. */
static size_t mx_parse(const struct ub_result *res, struct mx_entry *e, size_t max, size_t *null_r,
		       size_t *bad_r)
{
	size_t n = 0;

	for (size_t i = 0; res->data[i] != NULL && n < max; i++) {
		const unsigned char *p = (const unsigned char *)res->data[i];
		size_t len = res->len[i] > 0 ? (size_t)res->len[i] : 0;
		char raw[DNS_NAME_MAX + 2];
		if (len < 3 || name_from_wire(p + 2, len - 2, raw, sizeof(raw)) == 0) {
			(*bad_r)++;
			continue;
		}
		if (raw[0] == '\0') {
			(*null_r)++; /* RFC 7505 null MX */
			continue;
		}
		if (!name_normalize(raw, e[n].name)) {
			(*bad_r)++;
			continue;
		}
		e[n].pref = (unsigned)((p[0] << 8) | p[1]);
		e[n].rnd = arc4random();
		n++;
	}
	return n;
}

static bool mx_seen(const struct dns_req *req, const char *name)
{
	for (size_t i = 0; i < req->nhosts; i++)
		if (strcmp(req->hosts[i].name, name) == 0)
			return true;
	return false;
}

static void decide_now(struct dns_req *req, enum dns_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void decide_now(struct dns_req *req, enum dns_status st, const char *fmt, ...)
{
	va_list ap;

	req->decided = true;
	req->status = st;
	va_start(ap, fmt);
	vsnprintf(req->error, sizeof(req->error), fmt, ap);
	va_end(ap);
}

static void add_host(struct dns_req *req, const char *name, unsigned pref)
{
	struct host_acc *h = &req->hosts[req->nhosts++];

	snprintf(h->name, sizeof(h->name), "%s", name);
	h->preference = pref;
}

static void mx_answer(struct dns_req *req, const struct ub_result *res)
{
	struct mx_entry e[64];
	size_t nnull = 0, nbad = 0, n = mx_parse(res, e, 64, &nnull, &nbad);

	if (n == 0 && nnull > 0) {
		decide_now(req, DNS_PERMFAIL, "domain %s does not accept mail (it publishes a null MX record, RFC 7505)",
			   req->domain);
		return;
	}
	if (n == 0) {
		decide_now(req, DNS_PERMFAIL, "the MX records of domain %s name no valid host", req->domain);
		return;
	}
	qsort(e, n, sizeof(e[0]), mx_cmp);
	for (size_t i = 0; i < n && req->nhosts < DNS_MX_HOSTS_MAX; i++) {
		if (!mx_seen(req, e[i].name))
			add_host(req, e[i].name, e[i].pref);
	}
	for (size_t i = 0; i < req->nhosts; i++)
		host_lookup(req, i);
}

static void mx_result(struct dns_req *req, int err, const struct ub_result *res)
{
	if (err != 0) {
		decide_now(req, DNS_TEMPFAIL, "DNS lookup of the MX records of %s failed: %s", req->domain,
			   ub_strerror(err));
	} else if (res->nxdomain || res->rcode == DNS_RCODE_NXDOMAIN) {
		decide_now(req, DNS_PERMFAIL, "domain %s does not exist (DNS: NXDOMAIN)", req->domain);
	} else if (res->rcode != 0) {
		decide_now(req, DNS_TEMPFAIL, "DNS lookup of the MX records of %s failed: the server answered %s",
			   req->domain, rcode_name(res->rcode));
	} else if (!res->havedata) {
		/* No MX: the domain itself is the implicit MX, preference 0 (RFC 5321 5.1). */
		req->implicit_mx = true;
		add_host(req, req->domain, 0);
		host_lookup(req, 0);
	} else {
		mx_answer(req, res);
	}
}

static void ub_cb(void *mydata, int err, struct ub_result *res)
{
	struct dns_query *q = mydata;
	struct dns_req *req = q->req;

	q->pending = false;
	req->npending--;
	if (q->kind == Q_MX)
		mx_result(req, err, res);
	else
		addr_result(q, err, res);
	if (res != NULL)
		ub_resolve_free(res);
	query_done(req);
}

/* ---- requests ---- */

static struct dns_req *req_new(struct dns *d, bool want_mx, dns_cb cb, void *arg)
{
	struct dns_req *req = xcalloc(1, sizeof(*req));
	struct timeval tv = { .tv_sec = (time_t)d->timeout_s, .tv_usec = 0 };

	req->d = d;
	req->want_mx = want_mx;
	req->cb = cb;
	req->arg = arg;
	req->timer = evtimer_new(d->base, timer_cb, req);
	if (req->timer == NULL)
		panic("dns: cannot create a timer (out of memory)");
	evtimer_add(req->timer, &tv);
	req->next = d->reqs;
	if (d->reqs != NULL)
		d->reqs->prev = req;
	d->reqs = req;
	d->nreqs++;
	return req;
}

/* Finish from the loop, right away (never inside the caller's call). */
static void req_finish_soon(struct dns_req *req)
{
	struct timeval zero = { 0, 0 };

	evtimer_add(req->timer, &zero);
}

struct dns_req *dns_mx(struct dns *d, const char *domain, dns_cb cb, void *arg)
{
	struct dns_req *req = req_new(d, true, cb, arg);
	int err;

	if (!name_normalize(domain, req->domain)) {
		snprintf(req->domain, sizeof(req->domain), "%.64s", domain);
		decide_now(req, DNS_PERMFAIL, "\"%.64s\" is not a valid domain name", domain);
		req_finish_soon(req);
	} else if ((err = query_start(req, Q_MX, 0, req->domain)) != 0) {
		decide_now(req, DNS_TEMPFAIL, "DNS lookup of the MX records of %s failed: %s", req->domain,
			   ub_strerror(err));
		req_finish_soon(req);
	}
	return req;
}

/* An IPv4 or IPv6 literal becomes the answer without a query. */
static bool numeric_host(struct dns_req *req, const char *host)
{
	struct host_acc *h = &req->hosts[0];
	struct sockaddr_in *s4 = (struct sockaddr_in *)&h->v4[0].sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->v6[0].sa;

	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		h->v4[0].len = sizeof(*s4);
		h->n4 = 1;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		h->v6[0].len = sizeof(*s6);
		h->n6 = 1;
	} else {
		return false;
	}
	snprintf(h->name, sizeof(h->name), "%s", host);
	req->nhosts = 1;
	h->state4 = h->state6 = ADDR_FOUND;
	return true;
}

struct dns_req *dns_addresses(struct dns *d, const char *host, dns_cb cb, void *arg)
{
	struct dns_req *req = req_new(d, false, cb, arg);

	snprintf(req->domain, sizeof(req->domain), "%.253s", host);
	if (strlen(host) <= DNS_NAME_MAX && numeric_host(req, host)) {
		req_finish_soon(req);
	} else if (!name_normalize(host, req->domain)) {
		snprintf(req->domain, sizeof(req->domain), "%.64s", host);
		decide_now(req, DNS_PERMFAIL, "\"%.64s\" is not a valid host name", host);
		req_finish_soon(req);
	} else {
		add_host(req, req->domain, 0);
		host_lookup(req, 0);
		if (req->npending == 0)
			req_finish_soon(req);
	}
	return req;
}

void dns_req_cancel(struct dns_req *req)
{
	if (req == NULL)
		return;
	cancel_queries(req, false);
	req_unlink(req);
	req_free(req);
}
