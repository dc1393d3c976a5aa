/*
 * autoconfig_formats: the four documents (see autoconfig.h). Each writer
 * ORs the results of its appends: a bounded buffer that fills up makes the
 * whole document fail, never a truncated document that parses.
 */
#include <stdbool.h>
#include <string.h>

#include "autoconfig/autoconfig_private.h"

static const char *const proto_name[] = { "imap", "pop3", "smtp" };

/* ---- Thunderbird: clientConfig 1.1 ---- */

static const char *thunderbird_socket(enum tls_mode tls)
{
	return tls == TLS_MODE_IMPLICIT ? "SSL" : tls == TLS_MODE_STARTTLS ? "STARTTLS" : "plain";
}

static int thunderbird_server(const struct autoconfig *ac, const struct autoconfig_server *s, struct buf *out)
{
	const char *el = s->proto == AUTOCONFIG_SMTP ? "outgoingServer" : "incomingServer";
	int rc = 0;

	rc |= buf_appendf(out, "    <%s type=\"%s\">\n      <hostname>", el, proto_name[s->proto]);
	rc |= autoconfig_escape(out, ac->hostname);
	rc |= buf_appendf(out,
			  "</hostname>\n      <port>%u</port>\n      <socketType>%s</socketType>\n"
			  "      <username>%%EMAILADDRESS%%</username>\n"
			  "      <authentication>password-cleartext</authentication>\n    </%s>\n",
			  (unsigned)s->port, thunderbird_socket(s->tls), el);
	return rc;
}

int autoconfig_thunderbird(const struct autoconfig *ac, const char *domain, struct buf *out)
{
	int rc = 0;

	rc |= buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n"
				  "  <emailProvider id=\"");
	rc |= autoconfig_escape(out, domain);
	rc |= buf_append_str(out, "\">\n    <domain>");
	rc |= autoconfig_escape(out, domain);
	rc |= buf_append_str(out, "</domain>\n    <displayName>");
	rc |= autoconfig_escape(out, domain);
	rc |= buf_append_str(out, " mail</displayName>\n    <displayShortName>");
	rc |= autoconfig_escape(out, domain);
	rc |= buf_append_str(out, "</displayShortName>\n");
	/* incoming servers first: the format lists them before outgoing ones */
	for (size_t i = 0; i < ac->nservers; i++)
		rc |= thunderbird_server(ac, &ac->servers[i], out);
	rc |= buf_append_str(out, "  </emailProvider>\n</clientConfig>\n");
	return rc;
}

/* ---- Outlook: POX autodiscover response ---- */

static int outlook_protocol(const struct autoconfig *ac, const struct autoconfig_server *s, const char *address,
			    struct buf *out)
{
	static const char *const type[] = { "IMAP", "POP3", "SMTP" };
	/* Encryption overrides SSL: "SSL" is implicit TLS, "TLS" is STARTTLS */
	const char *enc = s->tls == TLS_MODE_IMPLICIT ? "SSL" : s->tls == TLS_MODE_STARTTLS ? "TLS" : "None";
	int rc = 0;

	rc |= buf_appendf(out, "      <Protocol>\n        <Type>%s</Type>\n        <Server>", type[s->proto]);
	rc |= autoconfig_escape(out, ac->hostname);
	rc |= buf_appendf(out, "</Server>\n        <Port>%u</Port>\n        <DomainRequired>off</DomainRequired>\n"
			       "        <LoginName>",
			  (unsigned)s->port);
	rc |= autoconfig_escape(out, address);
	rc |= buf_appendf(out, "</LoginName>\n        <SPA>off</SPA>\n        <SSL>%s</SSL>\n"
			       "        <Encryption>%s</Encryption>\n        <AuthRequired>on</AuthRequired>\n",
			  s->tls == TLS_MODE_NONE ? "off" : "on", enc);
	if (s->proto == AUTOCONFIG_SMTP)
		rc |= buf_append_str(out, "        <UsePOPAuth>on</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>\n");
	rc |= buf_append_str(out, "      </Protocol>\n");
	return rc;
}

int autoconfig_outlook(const struct autoconfig *ac, const char *address, struct buf *out)
{
	int rc = 0;

	rc |= buf_append_str(out,
			     "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
			     "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n"
			     "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n"
			     "    <User>\n      <DisplayName>");
	rc |= autoconfig_escape(out, address);
	rc |= buf_append_str(out, "</DisplayName>\n    </User>\n    <Account>\n      <AccountType>email</AccountType>\n"
				  "      <Action>settings</Action>\n");
	/* Outlook takes the first Protocol of each Type: one each, the preferred one */
	for (int p = AUTOCONFIG_IMAP; p <= AUTOCONFIG_SMTP; p++) {
		const struct autoconfig_server *s = autoconfig_preferred(ac, (enum autoconfig_proto)p);

		if (s != NULL)
			rc |= outlook_protocol(ac, s, address, out);
	}
	rc |= buf_append_str(out, "    </Account>\n  </Response>\n</Autodiscover>\n");
	return rc;
}

/* ---- Apple: .mobileconfig ---- */

static int plist_string(struct buf *out, const char *key, const char *value)
{
	int rc = buf_appendf(out, "\t\t\t<key>%s</key>\n\t\t\t<string>", key);

	rc |= autoconfig_escape(out, value);
	rc |= buf_append_str(out, "</string>\n");
	return rc;
}

static int plist_server(struct buf *out, const char *side, const struct autoconfig *ac,
			const struct autoconfig_server *s, const char *address)
{
	int rc = 0;

	rc |= buf_appendf(out, "\t\t\t<key>%sMailServerAuthentication</key>\n\t\t\t<string>EmailAuthPassword</string>\n",
			  side);
	rc |= buf_appendf(out, "\t\t\t<key>%sMailServerHostName</key>\n\t\t\t<string>", side);
	rc |= autoconfig_escape(out, ac->hostname);
	rc |= buf_appendf(out, "</string>\n\t\t\t<key>%sMailServerPortNumber</key>\n\t\t\t<integer>%u</integer>\n",
			  side, (unsigned)s->port);
	/* UseSSL covers both: the device negotiates STARTTLS on a port that offers it */
	rc |= buf_appendf(out, "\t\t\t<key>%sMailServerUseSSL</key>\n\t\t\t<%s/>\n", side,
			  s->tls != TLS_MODE_NONE ? "true" : "false");
	rc |= buf_appendf(out, "\t\t\t<key>%sMailServerUsername</key>\n\t\t\t<string>", side);
	rc |= autoconfig_escape(out, address);
	rc |= buf_append_str(out, "</string>\n");
	return rc;
}

static int mobileconfig_mail(const struct autoconfig *ac, const char *address, struct buf *out)
{
	const struct autoconfig_server *in = autoconfig_preferred(ac, AUTOCONFIG_IMAP);
	const struct autoconfig_server *smtp = autoconfig_preferred(ac, AUTOCONFIG_SMTP);
	bool imap = in != NULL;
	char uuid[37];
	int rc = 0;

	if (in == NULL)
		in = autoconfig_preferred(ac, AUTOCONFIG_POP3);
	autoconfig_uuid(ac->hostname, address, "mail", uuid);
	rc |= buf_append_str(out, "\t\t<dict>\n");
	rc |= plist_string(out, "EmailAccountDescription", address);
	rc |= plist_string(out, "EmailAccountName", address);
	rc |= plist_string(out, "EmailAccountType", imap ? "EmailTypeIMAP" : "EmailTypePOP");
	rc |= plist_string(out, "EmailAddress", address);
	if (in != NULL)
		rc |= plist_server(out, "Incoming", ac, in, address);
	if (smtp != NULL)
		rc |= plist_server(out, "Outgoing", ac, smtp, address);
	rc |= buf_append_str(out, "\t\t\t<key>OutgoingPasswordSameAsIncomingPassword</key>\n\t\t\t<true/>\n");
	rc |= plist_string(out, "PayloadDescription", "Configures the email account");
	rc |= plist_string(out, "PayloadDisplayName", address);
	rc |= buf_appendf(out, "\t\t\t<key>PayloadIdentifier</key>\n\t\t\t<string>com.apple.mail.managed.%s</string>\n",
			  uuid);
	rc |= plist_string(out, "PayloadType", "com.apple.mail.managed");
	rc |= plist_string(out, "PayloadUUID", uuid);
	rc |= buf_append_str(out, "\t\t\t<key>PayloadVersion</key>\n\t\t\t<integer>1</integer>\n"
				  "\t\t\t<key>PreventAppSheet</key>\n\t\t\t<false/>\n"
				  "\t\t\t<key>PreventMove</key>\n\t\t\t<false/>\n"
				  "\t\t\t<key>SMIMEEnabled</key>\n\t\t\t<false/>\n\t\t</dict>\n");
	return rc;
}

/* The profile's identifier: the host name reversed ("local.test.mx"), then the address's UUID. */
static int reversed_host(struct buf *out, const char *host)
{
	size_t len = strlen(host);
	int rc = 0;

	while (len > 0) {
		size_t start = len;

		while (start > 0 && host[start - 1] != '.')
			start--;
		rc |= buf_append(out, host + start, len - start);
		rc |= buf_append(out, ".", 1);
		len = start > 0 ? start - 1 : 0;
	}
	return rc;
}

int autoconfig_mobileconfig(const struct autoconfig *ac, const char *address, struct buf *out)
{
	char uuid[37];
	int rc = 0;

	autoconfig_uuid(ac->hostname, address, "profile", uuid);
	rc |= buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				  "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
				  "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
				  "<plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n\t<array>\n");
	rc |= mobileconfig_mail(ac, address, out);
	rc |= buf_append_str(out, "\t</array>\n\t<key>PayloadDescription</key>\n\t<string>Email settings for ");
	rc |= autoconfig_escape(out, address);
	rc |= buf_append_str(out, "</string>\n\t<key>PayloadDisplayName</key>\n\t<string>Mail: ");
	rc |= autoconfig_escape(out, address);
	rc |= buf_append_str(out, "</string>\n\t<key>PayloadIdentifier</key>\n\t<string>");
	rc |= reversed_host(out, ac->hostname);
	rc |= buf_appendf(out, "mail.%s</string>\n\t<key>PayloadOrganization</key>\n\t<string>", uuid);
	rc |= autoconfig_escape(out, ac->hostname);
	rc |= buf_appendf(out, "</string>\n\t<key>PayloadRemovalDisallowed</key>\n\t<false/>\n"
			       "\t<key>PayloadType</key>\n\t<string>Configuration</string>\n"
			       "\t<key>PayloadUUID</key>\n\t<string>%s</string>\n"
			       "\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n</dict>\n</plist>\n",
			  uuid);
	return rc;
}

/* ---- the plain settings page ---- */

static const char *security_text(enum tls_mode tls)
{
	return tls == TLS_MODE_IMPLICIT ? "SSL/TLS" : tls == TLS_MODE_STARTTLS ? "STARTTLS" : "none";
}

static int page_row(const struct autoconfig *ac, const struct autoconfig_server *s, const char *user,
		    struct buf *out)
{
	static const char *const what[] = { "IMAP (incoming, recommended)", "POP3 (incoming)", "SMTP (outgoing)" };
	int rc = 0;

	rc |= buf_appendf(out, "<tr><td>%s</td><td>", what[s->proto]);
	rc |= autoconfig_escape(out, ac->hostname);
	rc |= buf_appendf(out, "</td><td>%u</td><td>%s</td><td>", (unsigned)s->port, security_text(s->tls));
	rc |= autoconfig_escape(out, user);
	rc |= buf_append_str(out, "</td><td>password</td></tr>\n");
	return rc;
}

int autoconfig_settings_page(const struct autoconfig *ac, const char *domain, const char *address,
			     struct buf *out)
{
	const char *user = address != NULL ? address : "your full email address";
	int rc = 0;

	rc |= buf_append_str(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
				  "<title>Mail settings for ");
	rc |= autoconfig_escape(out, address != NULL ? address : domain);
	rc |= buf_append_str(out, "</title>\n</head>\n<body>\n<h1>Mail settings for ");
	rc |= autoconfig_escape(out, address != NULL ? address : domain);
	rc |= buf_append_str(out, "</h1>\n<p>Use these settings in any mail program, phone, printer or scanner. "
				  "The user name is the whole email address and the password is the address's own "
				  "password. Enter the server as a name, not an IP address.</p>\n"
				  "<table>\n<tr><th>Service</th><th>Server</th><th>Port</th><th>Security</th>"
				  "<th>User name</th><th>Authentication</th></tr>\n");
	for (size_t i = 0; i < ac->nservers; i++)
		rc |= page_row(ac, &ac->servers[i], user, out);
	rc |= buf_append_str(out, "</table>\n<p>Printers and scanners send through SMTP and must have SMTP "
				  "authentication switched on.</p>\n</body>\n</html>\n");
	return rc;
}
