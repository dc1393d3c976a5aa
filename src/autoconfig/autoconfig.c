/*
 * autoconfig: the client-facing servers of the configuration, the stable
 * profile UUIDs, and the safe reading of an Outlook autodiscover request.
 * The documents themselves are in autoconfig_formats.c.
 */
#include "autoconfig/autoconfig.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "autoconfig/autoconfig_private.h"

static bool client_service(enum listen_service svc, enum autoconfig_proto *proto_r)
{
	switch (svc) {
	case LISTEN_IMAP:
	case LISTEN_IMAPS:
		*proto_r = AUTOCONFIG_IMAP;
		return true;
	case LISTEN_POP3:
	case LISTEN_POP3S:
		*proto_r = AUTOCONFIG_POP3;
		return true;
	case LISTEN_SUBMISSION:
	case LISTEN_SUBMISSIONS:
		*proto_r = AUTOCONFIG_SMTP;
		return true;
	default:
		return false; /* smtp (MX, port 25), http, https */
	}
}

/* Sort key: protocol, then implicit TLS, STARTTLS, none (RFC 8314 section 3). */
static int server_rank(const struct autoconfig_server *s)
{
	static const int tls_rank[] = { [TLS_MODE_IMPLICIT] = 0, [TLS_MODE_STARTTLS] = 1, [TLS_MODE_NONE] = 2 };

	return (int)s->proto * 4 + tls_rank[s->tls];
}

static void server_add(struct autoconfig *ac, enum autoconfig_proto proto, uint16_t port, enum tls_mode tls)
{
	size_t i;

	for (i = 0; i < ac->nservers; i++)
		if (ac->servers[i].proto == proto && ac->servers[i].port == port)
			return; /* the same port on IPv4 and IPv6 */
	if (ac->nservers == AUTOCONFIG_SERVERS_MAX)
		return;
	struct autoconfig_server s = { proto, port, tls };
	/* insertion sort: stable, so listeners of one rank keep the file's order */
	for (i = ac->nservers; i > 0 && server_rank(&ac->servers[i - 1]) > server_rank(&s); i--)
		ac->servers[i] = ac->servers[i - 1];
	ac->servers[i] = s;
	ac->nservers++;
}

void autoconfig_from_config(const struct config *cfg, struct autoconfig *ac)
{
	bool have_tls = cfg->tls_certificate != NULL;

	memset(ac, 0, sizeof(*ac));
	snprintf(ac->hostname, sizeof(ac->hostname), "%s", cfg->hostname != NULL ? cfg->hostname : "localhost");
	for (size_t i = 0; i < cfg->listen_count; i++) {
		const struct listen_cfg *l = &cfg->listen[i];
		enum autoconfig_proto proto;
		enum tls_mode tls = l->tls;

		if (!client_service(l->service, &proto))
			continue;
		if (!have_tls && tls == TLS_MODE_IMPLICIT)
			continue;
		if (!have_tls)
			tls = TLS_MODE_NONE;
		server_add(ac, proto, l->port, tls);
	}
}

const struct autoconfig_server *autoconfig_preferred(const struct autoconfig *ac, enum autoconfig_proto proto)
{
	for (size_t i = 0; i < ac->nservers; i++)
		if (ac->servers[i].proto == proto)
			return &ac->servers[i];
	return NULL;
}

void autoconfig_uuid(const char *hostname, const char *address, const char *part, char uuid_r[37])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	size_t o = 0;

	/* NUL separators: ("a", "bc") and ("ab", "c") hash differently */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)"hermod-mobileconfig", 20);
	crypto_hash_sha256_update(&st, (const unsigned char *)hostname, strlen(hostname) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)address, strlen(address) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)part, strlen(part) + 1);
	crypto_hash_sha256_final(&st, h);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x80); /* version 8: custom (RFC 9562 5.8) */
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80); /* variant 10 */
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			uuid_r[o++] = '-';
		uuid_r[o++] = hex[h[i] >> 4];
		uuid_r[o++] = hex[h[i] & 15];
	}
	uuid_r[o] = '\0';
}

/* ---- escaping ---- */

int autoconfig_escape(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		const char *rep = NULL;

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: break;
		}
		if (buf_append(out, rep != NULL ? rep : s, rep != NULL ? strlen(rep) : 1) < 0)
			return -1;
	}
	return 0;
}

/* ---- the autodiscover request ---- */

/*
 * A deliberately small reader, not an XML parser: it walks the tags looking
 * for one element, skips the prolog and comments, and refuses every
 * construct that could make a reader do more than read (DOCTYPE with its
 * entities: "billion laughs", external entities) or hide text from it
 * (CDATA). Bounded: one pass over at most AUTOCONFIG_REQUEST_MAX_BYTES.
 */
static const char *skip_past(const char *p, const char *end, const char *what)
{
	size_t n = strlen(what);

	for (; p + n <= end; p++)
		if (memcmp(p, what, n) == 0)
			return p + n;
	return NULL;
}

/* The local name of the tag at p (after '<'): prefix "a:" dropped. */
static struct slice tag_name(const char *p, const char *end)
{
	const char *start = p, *colon = NULL;

	while (p < end && *p != '>' && *p != '/' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
		if (*p == ':')
			colon = p;
		p++;
	}
	if (colon != NULL)
		start = colon + 1;
	return slice_make(start, (size_t)(p - start));
}

static int copy_text(const char *p, const char *end, char *addr_r, size_t addr_size, const char **errstr_r)
{
	const char *lt = memchr(p, '<', (size_t)(end - p));
	size_t len;

	if (lt == NULL)
		return *errstr_r = "the EMailAddress element is not closed", -1;
	if (end - lt > 1 && lt[1] != '/')
		return *errstr_r = "the EMailAddress element holds markup (DOCTYPE or CDATA, or an element)", -1;
	while (p < lt && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	while (lt > p && (lt[-1] == ' ' || lt[-1] == '\t' || lt[-1] == '\r' || lt[-1] == '\n'))
		lt--;
	len = (size_t)(lt - p);
	if (len == 0)
		return *errstr_r = "the EMailAddress element is empty", -1;
	if (len >= addr_size)
		return *errstr_r = "the EMailAddress is too long", -1;
	if (memchr(p, '&', len) != NULL || memchr(p, '\0', len) != NULL)
		return *errstr_r = "the EMailAddress contains a character reference or a NUL", -1;
	memcpy(addr_r, p, len);
	addr_r[len] = '\0';
	return 0;
}

int autoconfig_outlook_request(const char *body, size_t len, char *addr_r, size_t addr_size,
			       const char **errstr_r)
{
	const char *p = body, *end = body + len;

	if (len > AUTOCONFIG_REQUEST_MAX_BYTES)
		return *errstr_r = "the autodiscover request is too large", -1;
	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && *p == '?') {
			p = skip_past(p, end, "?>");
		} else if (end - p >= 3 && memcmp(p, "!--", 3) == 0) {
			p = skip_past(p + 3, end, "-->");
		} else if (p < end && *p == '!') {
			return *errstr_r = "the autodiscover request contains a DOCTYPE or CDATA section", -1;
		} else if (p < end && *p != '/' && slice_eq_nocase(tag_name(p, end), "EMailAddress")) {
			const char *gt = memchr(p, '>', (size_t)(end - p));

			if (gt == NULL || gt[-1] == '/')
				return *errstr_r = "the EMailAddress element is empty", -1;
			return copy_text(gt + 1, end, addr_r, addr_size, errstr_r);
		}
		if (p == NULL)
			break;
	}
	return *errstr_r = "the autodiscover request has no EMailAddress element", -1;
}
