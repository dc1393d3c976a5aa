/*
 * dns: asynchronous MX and address lookups for outbound delivery.
 *
 * Built on libunbound in threaded asynchronous mode: unbound resolves on its
 * own thread and signals a pipe (ub_fd) that a libevent event watches; the
 * loop then runs ub_process, which calls our completions. Nothing here ever
 * blocks the event loop.
 *
 * dns_mx answers "which hosts do I try, in which order, at which addresses"
 * for a recipient domain (RFC 5321 section 5.1): MX hosts by preference,
 * equal preferences shuffled, each with its A/AAAA addresses; a domain
 * without MX is its own implicit MX; a null MX (RFC 7505) is a permanent
 * failure. NXDOMAIN is permanent; SERVFAIL, resolver errors and timeouts are
 * temporary. DNSSEC is not validated (no trust anchor is configured).
 *
 * Resolution does not read /etc/hosts: mail routing follows the DNS only
 * (numeric hosts are understood without a query).
 */
#ifndef HERMOD_DNS_DNS_H
#define HERMOD_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>

#define DNS_MX_HOSTS_MAX 10     /* MX hosts kept per domain (Postfix tries 5 addresses) */
#define DNS_ADDRS_PER_FAMILY_MAX 8
#define DNS_TIMEOUT_DEFAULT_S 30

struct dns_cfg {
	/*
	 * "IP" or "IP@PORT" of a recursive resolver (or, in tests, of an
	 * authoritative server) to send every query to; NULL or "" uses the
	 * nameservers of /etc/resolv.conf. Loopback addresses are allowed.
	 */
	const char *forward;
	unsigned timeout_s; /* one whole lookup, addresses included; 0: DNS_TIMEOUT_DEFAULT_S */
	bool no_ipv6;       /* do not ask for AAAA (hosts without IPv6 connectivity) */
	bool prefer_ipv6;   /* list a host's IPv6 addresses before its IPv4 ones */
};

enum dns_status {
	DNS_OK,       /* at least one host with at least one address */
	DNS_TEMPFAIL, /* try again later: SERVFAIL, timeout, resolver error, or no address *yet* */
	DNS_PERMFAIL, /* the domain does not exist, has a null MX, or has no mail host at all */
};

struct dns_addr {
	struct sockaddr_storage sa; /* AF_INET or AF_INET6, port 0 */
	socklen_t len;
};

struct dns_host {
	const char *name;        /* lower case, no trailing dot */
	unsigned preference;     /* MX preference; 0 for an implicit MX or dns_addresses */
	const struct dns_addr *addrs;
	size_t naddrs;
	const char *error;       /* why naddrs is 0 (NULL otherwise) */
};

struct dns_result {
	enum dns_status status;
	const char *error;       /* NULL when DNS_OK: a sentence naming the domain and the cause */
	bool implicit_mx;        /* the domain has no MX: hosts[0] is the domain itself */
	const struct dns_host *hosts; /* in the order to try; includes hosts without addresses */
	size_t nhosts;
};

struct dns;
struct dns_req;

/*
 * The result and everything it points to is valid only during the
 * callback. The request handle is invalid once the callback has started.
 */
typedef void (*dns_cb)(const struct dns_result *r, void *arg);

/*
 * Creates a resolver on base. Returns NULL with *errstr_r (static storage)
 * when libunbound refuses the configuration (a malformed forward address,
 * an unreadable resolv.conf).
 */
struct dns *dns_new(struct event_base *base, const struct dns_cfg *cfg, const char **errstr_r);
/* Cancels every pending request (no callbacks) and frees. Not from inside a callback. */
void dns_free(struct dns *d);

/*
 * The hosts to deliver mail for domain to (see the top of this file). The
 * callback always runs later from the loop, never inside this call; a
 * malformed domain gives DNS_PERMFAIL there. Never returns NULL.
 */
struct dns_req *dns_mx(struct dns *d, const char *domain, dns_cb cb, void *arg);

/*
 * The A/AAAA addresses of host (a transport override's host name, or an
 * IPv4/IPv6 literal, answered without a query), as a result with one host.
 * NXDOMAIN, or a name without any address, is DNS_PERMFAIL.
 */
struct dns_req *dns_addresses(struct dns *d, const char *host, dns_cb cb, void *arg);

/*
 * Like store_req_cancel: the lookup is abandoned and its callback is never
 * called. Call it when whoever asked goes away, before the callback ran.
 */
void dns_req_cancel(struct dns_req *req);

/* Requests not yet answered (tests, shutdown). */
size_t dns_pending_count(const struct dns *d);

#endif
