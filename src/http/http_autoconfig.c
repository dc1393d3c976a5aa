/*
 * http_autoconfig: the raw routes through which mail clients configure
 * themselves (the documents are src/autoconfig's):
 *
 *   GET  /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=  Thunderbird, at the domain
 *   GET  /mail/config-v1.1.xml?emailaddress=    Thunderbird, at autoconfig.<domain> (Host)
 *   POST /autodiscover/autodiscover.xml          Outlook (POX), the address in the request body
 *   GET  /api/v1/addresses/{address}/mobileconfig  Apple profile (logged in, "devices" right)
 *   GET  /settings?address=  (or ?domain=)       the plain page, for people and printers
 *
 * Only hosted domains get answers: 404 otherwise. Whether the address itself
 * exists is not revealed by the anonymous routes (the documents hold only
 * the server settings and the address the client sent); the profile, which
 * names an address, needs a logged-in account with a right on it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "autoconfig/autoconfig.h"
#include "http/http.h"
#include "mail/mail_address.h"

#define ADDRESS_TEXT_MAX (MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2)

static void fail(struct http_call *call, enum manage_status st, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail(struct http_call *call, enum manage_status st, const char *code, const char *fmt, ...)
{
	struct manage_error err = { .status = st };
	va_list ap;

	snprintf(err.code, sizeof(err.code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	http_call_error(call, &err);
}

/* 1 hosted, 0 not (404 answered), -1 store failure (500 answered). */
static int hosted(struct http_call *call, const char *domain)
{
	struct store_domain dom;
	const char *errstr = NULL;
	int rc = store_domain_get(call->store, domain, &dom, &errstr);

	if (rc < 0)
		fail(call, MANAGE_INTERNAL, "store_error", "%s", errstr);
	else if (rc == 0)
		fail(call, MANAGE_NOT_FOUND, "domain_not_hosted", "domain %s is not hosted here", domain);
	return rc;
}

/* Validates text as an address into addr_r ("local@domain", lower case) and domain_r. 0, or -1 (400 answered). */
static int parse_address(struct http_call *call, const char *text, char addr_r[ADDRESS_TEXT_MAX],
			 char domain_r[MAIL_DOMAIN_MAX + 1])
{
	char local[MAIL_LOCAL_MAX + 1], why[300];

	if (mail_address_parse(text, local, domain_r, why, sizeof(why)) < 0) {
		fail(call, MANAGE_INVALID, "invalid_address", "%s", why);
		return -1;
	}
	snprintf(addr_r, ADDRESS_TEXT_MAX, "%s@%s", local, domain_r);
	return 0;
}

static void reply_buf(struct http_call *call, const char *type, struct buf *b)
{
	http_call_reply(call, 200, type, b->data, b->len);
	buf_free(b);
}

/* ---- Thunderbird ---- */

/*
 * The domain: that of ?emailaddress= when given, else the Host the client
 * asked (autoconfig.<domain> for the second URL, <domain> for .well-known).
 */
static int thunderbird_domain(struct http_call *call, const char *host_prefix, char domain_r[MAIL_DOMAIN_MAX + 1])
{
	const char *email = http_call_param(call, "emailaddress"), *host = call->host;
	char addr[ADDRESS_TEXT_MAX], why[300];
	size_t plen = strlen(host_prefix);

	if (email != NULL)
		return parse_address(call, email, addr, domain_r);
	if (strncmp(host, host_prefix, plen) == 0)
		host += plen;
	if (host[0] == '\0' || mail_domain_parse(host, domain_r, why, sizeof(why)) < 0) {
		fail(call, MANAGE_INVALID, "emailaddress_required",
		     "give the address as ?emailaddress=, or ask at autoconfig.<domain>");
		return -1;
	}
	return 0;
}

static void thunderbird(struct http_call *call, const char *host_prefix)
{
	char domain[MAIL_DOMAIN_MAX + 1];
	struct autoconfig ac;
	struct buf b;

	if (thunderbird_domain(call, host_prefix, domain) < 0 || hosted(call, domain) != 1)
		return;
	autoconfig_from_config(call->cfg, &ac);
	buf_init(&b, 0);
	autoconfig_thunderbird(&ac, domain, &b);
	reply_buf(call, "application/xml; charset=utf-8", &b);
}

static void thunderbird_wellknown(struct http_call *call)
{
	thunderbird(call, "");
}

static void thunderbird_autoconfig_host(struct http_call *call)
{
	thunderbird(call, "autoconfig.");
}

/* ---- Outlook ---- */

static void outlook(struct http_call *call)
{
	char raw[ADDRESS_TEXT_MAX], addr[ADDRESS_TEXT_MAX], domain[MAIL_DOMAIN_MAX + 1];
	const char *errstr = NULL;
	struct autoconfig ac;
	struct buf b;

	if (autoconfig_outlook_request(call->body, call->body_len, raw, sizeof(raw), &errstr) < 0) {
		fail(call, MANAGE_INVALID, "invalid_request", "%s", errstr);
		return;
	}
	if (parse_address(call, raw, addr, domain) < 0 || hosted(call, domain) != 1)
		return;
	autoconfig_from_config(call->cfg, &ac);
	buf_init(&b, 0);
	autoconfig_outlook(&ac, addr, &b);
	reply_buf(call, "application/xml; charset=utf-8", &b);
}

/* ---- Apple ---- */

static void mobileconfig(struct http_call *call)
{
	const char *text = http_call_param(call, "address");
	struct manage_error err = { 0 };
	struct store_address a;
	struct autoconfig ac;
	char addr[sizeof(a.local) + sizeof(a.domain) + 1], disposition[sizeof(addr) + 64];
	struct buf b;

	if (!call->ctx.actor.system && call->ctx.actor.account_id == 0) {
		fail(call, MANAGE_UNAUTHORIZED, "login_required", "log in first: a device profile names an address");
		return;
	}
	if (manage_need_address(&call->ctx, text, PERM_DEVICES, &a, &err) < 0) {
		http_call_error(call, &err);
		return;
	}
	snprintf(addr, sizeof(addr), "%s@%s", a.local, a.domain);
	autoconfig_from_config(call->cfg, &ac);
	buf_init(&b, 0);
	autoconfig_mobileconfig(&ac, addr, &b);
	/* the address's characters are a dot-atom's: nothing to quote in the file name */
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.mobileconfig\"", addr);
	http_call_add_header(call, "Content-Disposition", disposition);
	reply_buf(call, AUTOCONFIG_MOBILECONFIG_TYPE, &b);
}

/* ---- the plain page ---- */

static void settings_page(struct http_call *call)
{
	const char *text = http_call_param(call, "address"), *dom_text = http_call_param(call, "domain");
	char addr[ADDRESS_TEXT_MAX], domain[MAIL_DOMAIN_MAX + 1], why[300];
	struct autoconfig ac;
	struct buf b;

	if (text != NULL && text[0] != '\0') {
		if (parse_address(call, text, addr, domain) < 0)
			return;
	} else if (dom_text == NULL || mail_domain_parse(dom_text, domain, why, sizeof(why)) < 0) {
		fail(call, MANAGE_INVALID, "address_required", "give the address as ?address= (or ?domain=)");
		return;
	}
	if (hosted(call, domain) != 1)
		return;
	autoconfig_from_config(call->cfg, &ac);
	buf_init(&b, 0);
	autoconfig_settings_page(&ac, domain, text != NULL && text[0] != '\0' ? addr : NULL, &b);
	reply_buf(call, "text/html; charset=utf-8", &b);
}

/* The autodiscover request is XML, not JSON: BODY_TEXT (outlook() reads call->body itself). */
const struct http_route http_autoconfig_routes[] = {
	{ .method = HTTP_GET, .pattern = "/.well-known/autoconfig/mail/config-v1.1.xml", .raw = thunderbird_wellknown,
	  .flags = HTTP_ROUTE_UNDOCUMENTED, .content_type = "application/xml" },
	{ .method = HTTP_GET, .pattern = "/mail/config-v1.1.xml", .raw = thunderbird_autoconfig_host,
	  .flags = HTTP_ROUTE_UNDOCUMENTED, .content_type = "application/xml" },
	{ .method = HTTP_POST, .pattern = "/autodiscover/autodiscover.xml", .raw = outlook,
	  .flags = HTTP_ROUTE_UNDOCUMENTED | HTTP_ROUTE_NO_CSRF | HTTP_ROUTE_BODY_TEXT, .body_param = "request",
	  .content_type = "application/xml" },
	/* Outlook's own spelling */
	{ .method = HTTP_POST, .pattern = "/Autodiscover/Autodiscover.xml", .raw = outlook,
	  .flags = HTTP_ROUTE_UNDOCUMENTED | HTTP_ROUTE_NO_CSRF | HTTP_ROUTE_BODY_TEXT, .body_param = "request",
	  .content_type = "application/xml" },
	{ .method = HTTP_GET, .pattern = "/api/v1/addresses/{address}/mobileconfig", .raw = mobileconfig,
	  .summary = "An Apple configuration profile (.mobileconfig) that sets the address up on a device",
	  .content_type = AUTOCONFIG_MOBILECONFIG_TYPE },
	{ .method = HTTP_GET, .pattern = "/settings", .raw = settings_page, .flags = HTTP_ROUTE_UNDOCUMENTED,
	  .content_type = "text/html" },
	{ 0 },
};
