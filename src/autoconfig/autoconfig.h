/*
 * autoconfig: what a mail client needs to set itself up, in the formats the
 * clients ask for. Pure generators: they read the configuration (host name,
 * the client-facing listeners and their TLS modes) and an address, and
 * write a document; deciding whether a domain is hosted is the caller's
 * business (src/http/http_autoconfig.c).
 *
 *   Thunderbird  autoconfig clientConfig 1.1 (the "config-v1.1.xml" that
 *                Thunderbird fetches from autoconfig.<domain> and
 *                /.well-known/autoconfig/)
 *   Outlook      the POX autodiscover response (schema 2006 / outlook
 *                responseschema 2006a) to a POST of the request schema
 *   Apple        a .mobileconfig configuration profile with one
 *                com.apple.mail.managed payload (unsigned)
 *   settings     a plain HTML page with the IMAP, POP3 and SMTP host name,
 *                ports, security and user name, for people and printers
 *
 * Every listener is advertised, implicit TLS before STARTTLS (RFC 8314
 * section 3 recommends implicit TLS to clients). The MX listener (smtp) is
 * not for clients and is never advertised. The user name is always the
 * whole address: an address logs in with its own password (never an
 * account's).
 */
#ifndef HERMOD_AUTOCONFIG_AUTOCONFIG_H
#define HERMOD_AUTOCONFIG_AUTOCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/buf.h"

#define AUTOCONFIG_SERVERS_MAX 16
#define AUTOCONFIG_REQUEST_MAX_BYTES 16384 /* an autodiscover request is ~400 bytes */
#define AUTOCONFIG_MOBILECONFIG_TYPE "application/x-apple-aspen-config"

enum autoconfig_proto { AUTOCONFIG_IMAP, AUTOCONFIG_POP3, AUTOCONFIG_SMTP };

struct autoconfig_server {
	enum autoconfig_proto proto;
	uint16_t port;
	enum tls_mode tls; /* TLS_MODE_NONE only when no certificate is configured */
};

struct autoconfig {
	char hostname[256];
	/* by protocol (IMAP, POP3, SMTP), then implicit TLS, STARTTLS, none */
	struct autoconfig_server servers[AUTOCONFIG_SERVERS_MAX];
	size_t nservers;
};

/*
 * The client-facing listeners of cfg (imap, imaps, pop3, pop3s,
 * submission, submissions), one per protocol and port. Without a TLS
 * certificate the implicit-TLS listeners cannot work and are left out, and
 * the others are advertised without security.
 */
void autoconfig_from_config(const struct config *cfg, struct autoconfig *ac);

/* The most preferred server of proto, or NULL when there is none. */
const struct autoconfig_server *autoconfig_preferred(const struct autoconfig *ac, enum autoconfig_proto proto);

/*
 * The generators append one document to out and return 0, or -1 when out's
 * maximum was reached. domain and address must already be validated
 * (mail_address.h); they are escaped all the same.
 */
int autoconfig_thunderbird(const struct autoconfig *ac, const char *domain, struct buf *out);
int autoconfig_outlook(const struct autoconfig *ac, const char *address, struct buf *out);
int autoconfig_mobileconfig(const struct autoconfig *ac, const char *address, struct buf *out);
/* address NULL: a page for the whole domain ("your email address" as user name). */
int autoconfig_settings_page(const struct autoconfig *ac, const char *domain, const char *address,
			     struct buf *out);

/*
 * The EMailAddress of an Outlook autodiscover request body (at most
 * AUTOCONFIG_REQUEST_MAX_BYTES). Refuses DTDs and entity declarations
 * (no entity is ever expanded), CDATA, and an address with markup
 * characters. 0 with addr_r (NUL-terminated, trimmed), or -1 with
 * *errstr_r (static text).
 */
int autoconfig_outlook_request(const char *body, size_t len, char *addr_r, size_t addr_size,
			       const char **errstr_r);

/*
 * The stable UUID of a profile part: the same host name, address and part
 * name always give the same UUID, so installing a profile again replaces
 * the old one instead of adding a second account. uuid_r gets
 * "XXXXXXXX-XXXX-8XXX-YXXX-XXXXXXXXXXXX" (RFC 9562 version 8, upper case).
 */
void autoconfig_uuid(const char *hostname, const char *address, const char *part, char uuid_r[37]);

#endif
