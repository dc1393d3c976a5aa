/*
 * dns_sync: blocking DNS lookups for threads that may wait (the command
 * line, the HTTP worker threads running `domain.check`), never for the
 * event loop (that is dns.h).
 *
 * The same libunbound and the same upstream choice as dns.h: the
 * configuration's `dns { forward ... }` when set (with RFC 6761 ".test"
 * names asked like any other), else /etc/resolv.conf. Every lookup is
 * bounded by the configured timeout (libunbound's own retries could take
 * minutes against a dead server): it runs asynchronously on unbound's
 * thread while the caller waits on its descriptor until the deadline. After
 * one timeout, the resolver answers every later lookup DNS_SYNC_FAIL at once
 * (the upstream is not answering: a check of N records takes one timeout,
 * not N).
 * DNSSEC is not validated.
 */
#ifndef HERMOD_DNS_DNS_SYNC_H
#define HERMOD_DNS_DNS_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

#define DNS_SYNC_RECORDS_MAX 32  /* records kept from one answer */
#define DNS_SYNC_TEXT_MAX 4096   /* bytes of one TXT record (its strings joined) */

enum dns_sync_status {
	DNS_SYNC_OK,       /* records of the type exist (n >= 1) */
	DNS_SYNC_NODATA,   /* the name exists without records of the type */
	DNS_SYNC_NXDOMAIN, /* the name does not exist */
	DNS_SYNC_FAIL,     /* SERVFAIL, refused, timeout, resolver error: nothing is known */
};

struct dns_sync;

struct dns_sync_answer {
	enum dns_sync_status status;
	char error[256];  /* DNS_SYNC_FAIL: why, naming the name and type */
	size_t n;
	/*
	 * TXT: each record's character-strings joined (RFC 7208 3.3, RFC 6376
	 * 3.6.2.2), NUL-terminated, bytes outside printable ASCII as '?'; MX: "<preference> <host>" with the host in
	 * lower case without its trailing dot; A/AAAA: the address as text.
	 * Records whose data is malformed are skipped.
	 */
	char *records[DNS_SYNC_RECORDS_MAX];
	uint16_t mx_preference[DNS_SYNC_RECORDS_MAX]; /* MX only */
	char *mx_host[DNS_SYNC_RECORDS_MAX];          /* MX only: points into records[i] */
};

enum dns_sync_type { DNS_SYNC_TXT = 16, DNS_SYNC_MX = 15, DNS_SYNC_A = 1, DNS_SYNC_AAAA = 28 };

/* A resolver for cfg (forward, timeout). NULL with *errstr_r (static) when unbound refuses it. */
struct dns_sync *dns_sync_new(const struct dns_cfg *cfg, const char **errstr_r);
void dns_sync_free(struct dns_sync *d);

/*
 * Looks name up (no trailing dot needed) and fills ans (always: status
 * tells what happened; free it with dns_sync_answer_clear). Returns 0,
 * or -1 when ans->status is DNS_SYNC_FAIL.
 */
int dns_sync_lookup(struct dns_sync *d, const char *name, enum dns_sync_type type, struct dns_sync_answer *ans);
void dns_sync_answer_clear(struct dns_sync_answer *ans);

#endif
