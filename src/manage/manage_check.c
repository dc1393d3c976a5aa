/*
 * manage_check: `domain.check`, whether a domain's DNS says what hermod
 * needs: MX to our host name, an SPF policy that lets us send, the DKIM
 * public key of the domain's stored key, and a DMARC policy. Each record
 * comes out present, missing, wrong (with what was found) or error (the DNS
 * did not answer), always with the record to set, in zone-file syntax as
 * `hermod domain dns` prints it. The results are kept in domain_checks,
 * which domain.dns shows.
 *
 * SPF is a practical check, not an RFC 7208 evaluation: the mechanisms
 * that can name us (mx, a, ip4, ip6, include, redirect) are followed with
 * RFC 7208's budget of 10 lookups; exists, ptr and macros are not expanded
 * (they never count as authorising us).
 *
 * The lookups run before the transaction that saves the results, so the
 * store's write lock is never held while waiting for the DNS.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns_sync.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "outbound/dkim.h"
#include "store/store_check.h"
#include "store/store_queue.h"

#define SPF_LOOKUP_MAX 10 /* RFC 7208 4.6.4 */
#define SPF_DEPTH_MAX 5
#define TXT_STRING_MAX 255 /* RFC 1035 3.3 */
#define CHECK_TTL "3600"

enum check_status { CHECK_PRESENT, CHECK_MISSING, CHECK_WRONG, CHECK_ERROR };
static const char *const status_names[] = { "present", "missing", "wrong", "error" };

struct check {
	const char *record; /* mx, spf, dkim, dmarc */
	enum check_status status;
	struct buf found;    /* what the DNS has, one record per line */
	struct buf expected; /* the record to set, zone-file syntax */
	char message[512];
};

struct checker {
	struct dns_sync *dns;
	const char *domain;
	const char *host;   /* ours, lower case */
	struct dns_sync_answer our_a, our_aaaa;
	bool mx_ours;       /* the domain's MX names our host */
	int lookups;        /* SPF lookups made */
};

static void check_init(struct check *c, const char *record)
{
	memset(c, 0, sizeof(*c));
	c->record = record;
	buf_init(&c->found, 0);
	buf_init(&c->expected, 0);
}

static void check_clear(struct check *c)
{
	buf_free(&c->found);
	buf_free(&c->expected);
}

static void check_set(struct check *c, enum check_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void check_set(struct check *c, enum check_status st, const char *fmt, ...)
{
	va_list ap;

	c->status = st;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
}

static void found_add(struct check *c, const char *text)
{
	if (c->found.len > 0)
		buf_append(&c->found, "\n", 1);
	buf_append_str(&c->found, text);
}

/* A TXT value in zone-file syntax: quoted strings of at most 255 bytes (no escaping needed: our own text). */
static void txt_expected(struct buf *b, const char *name, const char *value)
{
	size_t len = strlen(value);

	buf_appendf(b, "%s. " CHECK_TTL " IN TXT ", name);
	for (size_t off = 0; off < len || off == 0; off += TXT_STRING_MAX) {
		size_t n = len - off < TXT_STRING_MAX ? len - off : TXT_STRING_MAX;

		buf_appendf(b, "%s\"%.*s\"", off > 0 ? " " : "", (int)n, value + off);
		if (len == 0)
			break;
	}
}

/* ---- MX ---- */

static void check_mx(struct checker *k, struct check *c)
{
	struct dns_sync_answer a;

	buf_appendf(&c->expected, "%s. " CHECK_TTL " IN MX 10 %s.", k->domain, k->host);
	dns_sync_lookup(k->dns, k->domain, DNS_SYNC_MX, &a);
	for (size_t i = 0; i < a.n; i++) {
		found_add(c, a.records[i]);
		if (strcasecmp(a.mx_host[i], k->host) == 0)
			k->mx_ours = true;
	}
	if (a.status == DNS_SYNC_FAIL)
		check_set(c, CHECK_ERROR, "%s", a.error);
	else if (a.status == DNS_SYNC_NXDOMAIN)
		check_set(c, CHECK_MISSING, "domain %s does not exist in the DNS", k->domain);
	else if (a.status == DNS_SYNC_NODATA)
		check_set(c, CHECK_MISSING, "%s has no MX record: mail for it is not sent to %s", k->domain, k->host);
	else if (!k->mx_ours)
		check_set(c, CHECK_WRONG, "the MX records of %s do not name %s: mail for it goes elsewhere",
			  k->domain, k->host);
	else
		check_set(c, CHECK_PRESENT, "mail for %s is delivered to %s", k->domain, k->host);
	dns_sync_answer_clear(&a);
}

/* ---- SPF ---- */

static bool is_spf(const char *txt)
{
	return strncasecmp(txt, "v=spf1", 6) == 0 && (txt[6] == ' ' || txt[6] == '\0');
}

/* Does the network text ("192.0.2.0/24", "2001:db8::1") contain one of our addresses? */
static bool net_has_us(const struct checker *k, const char *net, int af)
{
	unsigned char want[16], ours[16];
	const struct dns_sync_answer *a = af == AF_INET ? &k->our_a : &k->our_aaaa;
	size_t alen = af == AF_INET ? 4 : 16;
	char addr[64];
	const char *slash = strchr(net, '/');
	size_t len = slash != NULL ? (size_t)(slash - net) : strlen(net);
	long bits = slash != NULL ? strtol(slash + 1, NULL, 10) : (long)alen * 8;

	if (len >= sizeof(addr) || bits < 0 || bits > (long)alen * 8)
		return false;
	memcpy(addr, net, len);
	addr[len] = '\0';
	if (inet_pton(af, addr, want) != 1)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		long b = bits;
		size_t j = 0;

		if (inet_pton(af, a->records[i], ours) != 1)
			continue;
		for (; b >= 8; b -= 8, j++)
			if (want[j] != ours[j])
				break;
		if (b >= 8)
			continue;
		if (b == 0 || ((want[j] ^ ours[j]) & (0xff << (8 - b)) & 0xff) == 0)
			return true;
	}
	return false;
}

static bool lookup_budget(struct checker *k)
{
	return k->lookups++ < SPF_LOOKUP_MAX;
}

/* mx[:domain]: do its MX hosts include ours? */
static bool mx_names_us(struct checker *k, const char *target)
{
	struct dns_sync_answer a;
	bool yes = false;

	if (strcasecmp(target, k->domain) == 0)
		return k->mx_ours;
	if (!lookup_budget(k))
		return false;
	dns_sync_lookup(k->dns, target, DNS_SYNC_MX, &a);
	for (size_t i = 0; i < a.n; i++)
		yes |= strcasecmp(a.mx_host[i], k->host) == 0;
	dns_sync_answer_clear(&a);
	return yes;
}

/* a[:domain]: is it our host, or does it share one of our addresses? */
static bool a_names_us(struct checker *k, const char *target)
{
	struct dns_sync_answer a;
	bool yes = false;

	if (strcasecmp(target, k->host) == 0)
		return true;
	if (!lookup_budget(k))
		return false;
	for (int t = 0; t < 2 && !yes; t++) {
		int af = t == 0 ? AF_INET : AF_INET6;

		dns_sync_lookup(k->dns, target, t == 0 ? DNS_SYNC_A : DNS_SYNC_AAAA, &a);
		for (size_t i = 0; i < a.n && !yes; i++)
			yes = net_has_us(k, a.records[i], af);
		dns_sync_answer_clear(&a);
	}
	return yes;
}

static int spf_authorises(struct checker *k, const char *domain, const char *record, int depth, bool *plus_all_r);

/* The SPF record of domain (include:, redirect=): 1 it authorises us, 0 not. */
static int spf_of(struct checker *k, const char *domain, int depth, bool *plus_all_r)
{
	struct dns_sync_answer a;
	int rc = 0;

	if (depth > SPF_DEPTH_MAX || !lookup_budget(k))
		return 0;
	dns_sync_lookup(k->dns, domain, DNS_SYNC_TXT, &a);
	for (size_t i = 0; i < a.n; i++)
		if (is_spf(a.records[i])) {
			rc = spf_authorises(k, domain, a.records[i], depth, plus_all_r);
			break;
		}
	dns_sync_answer_clear(&a);
	return rc;
}

/* One mechanism (qualifier removed): does it match us? */
static bool spf_term_matches(struct checker *k, const char *domain, const char *term, int depth, bool *plus_all_r)
{
	char target[300];
	const char *arg = strchr(term, ':');
	size_t n;

	if (strcasecmp(term, "all") == 0)
		return true;
	/* a/mx may carry a /cidr: only the name matters here */
	n = arg != NULL ? strcspn(arg + 1, "/") : 0;
	snprintf(target, sizeof(target), "%.*s", (int)n, arg != NULL ? arg + 1 : "");
	if (arg == NULL || target[0] == '\0')
		snprintf(target, sizeof(target), "%s", domain);
	if (strchr(target, '%') != NULL) /* macros are not expanded */
		return false;
	if (strncasecmp(term, "mx", 2) == 0 && (term[2] == '\0' || term[2] == ':' || term[2] == '/'))
		return mx_names_us(k, target);
	if (strncasecmp(term, "a", 1) == 0 && (term[1] == '\0' || term[1] == ':' || term[1] == '/'))
		return a_names_us(k, target);
	if (strncasecmp(term, "ip4:", 4) == 0)
		return net_has_us(k, term + 4, AF_INET);
	if (strncasecmp(term, "ip6:", 4) == 0)
		return net_has_us(k, term + 4, AF_INET6);
	if (strncasecmp(term, "include:", 8) == 0)
		return spf_of(k, term + 8, depth + 1, plus_all_r) == 1;
	return false; /* exists, ptr, unknown */
}

/*
 * Walks record's terms in order (RFC 7208 4.6.2: the first match decides):
 * 1 when a "+" (or unqualified) mechanism matches us first. *plus_all_r is
 * set when that mechanism was "all" (anyone may send).
 */
static int spf_authorises(struct checker *k, const char *domain, const char *record, int depth, bool *plus_all_r)
{
	char *copy = xstrdup(record), *save = NULL, *redirect = NULL;
	int rc = -1;

	for (char *t = strtok_r(copy + 6, " ", &save); t != NULL && rc < 0; t = strtok_r(NULL, " ", &save)) {
		char q = strchr("+-~?", t[0]) != NULL ? *t++ : '+';

		if (strncasecmp(t, "redirect=", 9) == 0) {
			redirect = t + 9;
			continue;
		}
		if (strchr(t, '=') != NULL) /* other modifiers (exp=) */
			continue;
		if (spf_term_matches(k, domain, t, depth, plus_all_r)) {
			rc = q == '+';
			if (rc == 1 && strcasecmp(t, "all") == 0 && depth == 0)
				*plus_all_r = true;
		}
	}
	if (rc < 0)
		rc = redirect != NULL ? spf_of(k, redirect, depth + 1, plus_all_r) : 0;
	free(copy);
	return rc;
}

static void check_spf(struct checker *k, struct check *c)
{
	struct dns_sync_answer a;
	const char *spf = NULL;
	size_t nspf = 0;
	bool plus_all = false;

	txt_expected(&c->expected, k->domain, "v=spf1 mx -all");
	dns_sync_lookup(k->dns, k->domain, DNS_SYNC_TXT, &a);
	for (size_t i = 0; i < a.n; i++)
		if (is_spf(a.records[i])) {
			found_add(c, a.records[i]);
			spf = a.records[i];
			nspf++;
		}
	if (a.status == DNS_SYNC_FAIL)
		check_set(c, CHECK_ERROR, "%s", a.error);
	else if (nspf == 0)
		check_set(c, CHECK_MISSING, "%s publishes no SPF record: receivers cannot tell that %s may send for it",
			  k->domain, k->host);
	else if (nspf > 1)
		check_set(c, CHECK_WRONG, "%s publishes %zu SPF records; there must be exactly one (RFC 7208 4.5)",
			  k->domain, nspf);
	else if (spf_authorises(k, k->domain, spf, 0, &plus_all) != 1)
		check_set(c, CHECK_WRONG, "the SPF record of %s does not authorise %s (add \"mx\" with the MX record, or "
			  "\"a:%s\")", k->domain, k->host, k->host);
	else if (plus_all)
		check_set(c, CHECK_WRONG, "the SPF record of %s ends in \"+all\": it authorises every host on the "
			  "Internet", k->domain);
	else
		check_set(c, CHECK_PRESENT, "the SPF record of %s authorises %s", k->domain, k->host);
	dns_sync_answer_clear(&a);
}

/* ---- DKIM ---- */

/* The value of tag (e.g. "p") in a tag=value list (RFC 6376 3.2), whitespace removed; NULL if absent. */
static char *tag_value(const char *rec, const char *tag)
{
	size_t tlen = strlen(tag);

	for (const char *p = rec; p != NULL && *p != '\0'; p = strchr(p, ';') != NULL ? strchr(p, ';') + 1 : NULL) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, tag, tlen) != 0)
			continue;
		const char *v = p + tlen;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=')
			continue;
		size_t n = strcspn(++v, ";");
		char *out = xmalloc(n + 1);
		size_t o = 0;
		for (size_t i = 0; i < n; i++)
			if (!isspace((unsigned char)v[i]))
				out[o++] = v[i];
		out[o] = '\0';
		return out;
	}
	return NULL;
}

/* Our record text and public key for the stored key. 1, 0 (no key), -1 (message set). */
static int dkim_ours(struct manage_ctx *ctx, const char *domain, char *selector, size_t sel_size, struct buf *rec,
		     struct buf *pub, struct check *c)
{
	struct dkim_key *key = NULL;
	const char *errstr = NULL;
	char *pem = NULL;
	int r = store_domain_dkim_get(ctx->store, domain, selector, sel_size, &pem, &errstr);

	if (r <= 0) {
		if (r < 0)
			check_set(c, CHECK_ERROR, "%s", errstr);
		return r;
	}
	r = -1;
	if (dkim_key_load_pem(slice_cstr(pem), &key, &errstr) < 0)
		check_set(c, CHECK_ERROR, "the stored DKIM key of %s is unusable: %s", domain, errstr);
	else if (dkim_key_public_b64(key, pub, &errstr) < 0 || buf_append(pub, "", 1) < 0)
		check_set(c, CHECK_ERROR, "cannot derive the DKIM public key of %s", domain);
	else if (dkim_dns_record(dkim_key_algorithm(key), pub->data, rec) < 0)
		check_set(c, CHECK_ERROR, "cannot format the DKIM record of %s", domain);
	else
		r = 1;
	dkim_key_destroy(&key);
	sodium_memzero(pem, strlen(pem)); /* the private key */
	free(pem);
	return r;
}

static void dkim_compare(struct checker *k, struct check *c, const struct dns_sync_answer *a, const char *pub,
			 const char *name)
{
	bool ours = false, revoked = false;

	for (size_t i = 0; i < a->n; i++) {
		char *p = tag_value(a->records[i], "p");

		found_add(c, a->records[i]);
		ours |= p != NULL && strcmp(p, pub) == 0;
		revoked |= p != NULL && p[0] == '\0';
		free(p);
	}
	if (ours)
		check_set(c, CHECK_PRESENT, "%s publishes the public key of the DKIM key hermod signs with", name);
	else if (revoked)
		check_set(c, CHECK_WRONG, "%s publishes an empty key (p=): the key is revoked", name);
	else
		check_set(c, CHECK_WRONG, "%s publishes a different public key than the DKIM key hermod signs with "
			  "(was the key rotated?)", name);
	(void)k;
}

static void check_dkim(struct manage_ctx *ctx, struct checker *k, struct check *c)
{
	char selector[64], name[MAIL_DOMAIN_MAX + 80];
	struct buf rec, pub;
	struct dns_sync_answer a;
	int r;

	buf_init(&rec, 0);
	buf_init(&pub, 0);
	if ((r = dkim_ours(ctx, k->domain, selector, sizeof(selector), &rec, &pub, c)) <= 0) {
		if (r == 0)
			check_set(c, CHECK_ERROR, "domain %s has no DKIM key yet: create one with "
				  "`hermod domain dkim %s`", k->domain, k->domain);
		goto out;
	}
	snprintf(name, sizeof(name), "%s._domainkey.%s", selector, k->domain);
	txt_expected(&c->expected, name, rec.data);
	dns_sync_lookup(k->dns, name, DNS_SYNC_TXT, &a);
	if (a.status == DNS_SYNC_FAIL)
		check_set(c, CHECK_ERROR, "%s", a.error);
	else if (a.status != DNS_SYNC_OK)
		check_set(c, CHECK_MISSING, "%s has no TXT record: receivers cannot verify hermod's signatures", name);
	else
		dkim_compare(k, c, &a, pub.data, name);
	dns_sync_answer_clear(&a);
out:
	buf_free(&rec);
	buf_free(&pub);
}

/* ---- DMARC ---- */

static bool is_dmarc(const char *txt)
{
	char *v = tag_value(txt, "v");
	bool yes = v != NULL && strncasecmp(txt + strspn(txt, " \t"), "v", 1) == 0 && strcmp(v, "DMARC1") == 0;

	free(v);
	return yes;
}

static void check_dmarc(struct checker *k, struct check *c)
{
	char name[MAIL_DOMAIN_MAX + 8], value[MAIL_DOMAIN_MAX + 64];
	struct dns_sync_answer a;
	const char *rec = NULL;
	size_t n = 0;
	char *p;

	snprintf(name, sizeof(name), "_dmarc.%s", k->domain);
	snprintf(value, sizeof(value), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", k->domain);
	txt_expected(&c->expected, name, value);
	dns_sync_lookup(k->dns, name, DNS_SYNC_TXT, &a);
	for (size_t i = 0; i < a.n; i++)
		if (is_dmarc(a.records[i])) {
			found_add(c, a.records[i]);
			rec = a.records[i];
			n++;
		}
	p = rec != NULL ? tag_value(rec, "p") : NULL;
	if (a.status == DNS_SYNC_FAIL)
		check_set(c, CHECK_ERROR, "%s", a.error);
	else if (n == 0)
		check_set(c, CHECK_MISSING, "%s has no DMARC record", name);
	else if (n > 1)
		check_set(c, CHECK_WRONG, "%s has %zu DMARC records; with more than one, receivers apply none "
			  "(RFC 7489 6.6.3)", name, n);
	else if (p == NULL || (strcasecmp(p, "none") != 0 && strcasecmp(p, "quarantine") != 0 &&
			       strcasecmp(p, "reject") != 0))
		check_set(c, CHECK_WRONG, "the DMARC record of %s has no valid policy (p=none, quarantine or reject)",
			  k->domain);
	else if (strcasecmp(p, "none") == 0)
		check_set(c, CHECK_PRESENT, "%s has a DMARC record with p=none: reports only, failing mail is not "
			  "quarantined", name);
	else
		check_set(c, CHECK_PRESENT, "%s has a DMARC record (p=%s)", name, p);
	free(p);
	dns_sync_answer_clear(&a);
}

/* ---- the operation ---- */

static json_t *check_json(const struct check *c)
{
	json_t *found = json_array();
	const char *p = c->found.data != NULL ? c->found.data : "";

	while (*p != '\0') {
		size_t n = strcspn(p, "\n");

		json_array_append_new(found, json_stringn(p, n));
		p += n + (p[n] == '\n');
	}
	return json_pack("{s:s, s:s, s:o, s:s, s:s}", "record", c->record, "status", status_names[c->status],
			 "found", found, "expected", c->expected.data != NULL ? c->expected.data : "", "message",
			 c->message);
}

static int checks_save(struct manage_ctx *ctx, int64_t domain_id, const struct check *checks, size_t n,
		       struct manage_error *err)
{
	const char *errstr = NULL;
	json_t *none = NULL;

	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (store_check_save(ctx->store, domain_id, checks[i].record, status_names[checks[i].status],
				     checks[i].found.data != NULL ? checks[i].found.data : "",
				     checks[i].expected.data != NULL ? checks[i].expected.data : "", (int64_t)ctx->now,
				     &errstr) < 0)
			return manage_txn_end(ctx, manage_fail_store(err, errstr), &none, err);
	return manage_txn_end(ctx, 0, &none, err);
}

/* Our host's addresses, for SPF's a, ip4 and ip6 (a failure leaves them empty: only names then match). */
static void checker_init(struct checker *k, struct dns_sync *dns, const char *domain, const char *host)
{
	memset(k, 0, sizeof(*k));
	k->dns = dns;
	k->domain = domain;
	k->host = host;
	dns_sync_lookup(dns, host, DNS_SYNC_A, &k->our_a);
	dns_sync_lookup(dns, host, DNS_SYNC_AAAA, &k->our_aaaa);
}

static void run_checks(struct manage_ctx *ctx, struct checker *k, struct check checks[4])
{
	check_init(&checks[0], "mx");
	check_init(&checks[1], "spf");
	check_init(&checks[2], "dkim");
	check_init(&checks[3], "dmarc");
	check_mx(k, &checks[0]); /* first: SPF's "mx" uses its answer */
	check_spf(k, &checks[1]);
	check_dkim(ctx, k, &checks[2]);
	check_dmarc(k, &checks[3]);
}

static int op_domain_check(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct dns_cfg dc = { .forward = ctx->cfg->dns_forward, .timeout_s = ctx->cfg->dns_timeout_s };
	char domain[MAIL_DOMAIN_MAX + 1], host[256];
	struct store_domain dom;
	struct check checks[4];
	struct checker k;
	struct dns_sync *dns;
	const char *errstr = NULL;
	json_t *records;
	bool ok = true;
	int rc;

	if (manage_param_domain(params, "domain", domain, err) < 0 ||
	    manage_find_domain(ctx, domain, ROLE_ADMIN, &dom, err) < 0)
		return -1;
	if ((dns = dns_sync_new(&dc, &errstr)) == NULL)
		return manage_fail(err, MANAGE_INTERNAL, "dns_unavailable", "%s", errstr);
	snprintf(host, sizeof(host), "%s", ctx->cfg->hostname);
	for (char *p = host; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	checker_init(&k, dns, domain, host);
	run_checks(ctx, &k, checks);
	rc = checks_save(ctx, dom.id, checks, 4, err);
	records = json_array();
	for (size_t i = 0; i < 4; i++) {
		ok &= checks[i].status == CHECK_PRESENT;
		json_array_append_new(records, check_json(&checks[i]));
		check_clear(&checks[i]);
	}
	dns_sync_answer_clear(&k.our_a);
	dns_sync_answer_clear(&k.our_aaaa);
	dns_sync_free(dns);
	if (rc < 0) {
		json_decref(records);
		return -1;
	}
	*result_r = json_pack("{s:s, s:o, s:b, s:o}", "domain", domain, "checked_at", manage_time_json(ctx->now),
			      "ok", ok, "records", records);
	return 0;
}

const struct manage_op manage_check_ops[] = {
	{ "domain.check", op_domain_check, true, false,
	  "Resolves the domain's MX, SPF, DKIM and DMARC records now and reports each as present, missing or wrong,"
	  " with the record to set" },
	{ 0 },
};
