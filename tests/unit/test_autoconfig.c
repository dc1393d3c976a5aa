/*
 * Unit tests for autoconfig: which servers are advertised and in which
 * order, the documents' contents, the stable UUIDs, escaping, bounded
 * output, and the autodiscover request reader (good and hostile bodies).
 * The e2e test (tests/e2e/test_autoconfig.py) parses the served documents
 * with real XML and plist parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "autoconfig/autoconfig.h"

static void listen_add(struct config *cfg, enum listen_service svc, enum tls_mode tls, const char *host,
		       uint16_t port)
{
	struct listen_cfg *l = &cfg->listen[cfg->listen_count++];

	l->service = svc;
	l->tls = tls;
	snprintf(l->host, sizeof(l->host), "%s", host);
	l->port = port;
}

/* The dev instance's listeners, in a shuffled order, with an IPv6 duplicate. */
static void dev_config(struct config *cfg, bool tls)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hostname = "mx.example.test";
	cfg->tls_certificate = tls ? "/tls/cert.pem" : NULL;
	listen_add(cfg, LISTEN_SMTP, TLS_MODE_STARTTLS, "127.0.0.1", 2525);
	listen_add(cfg, LISTEN_SUBMISSION, TLS_MODE_STARTTLS, "127.0.0.1", 2587);
	listen_add(cfg, LISTEN_IMAP, TLS_MODE_STARTTLS, "127.0.0.1", 2143);
	listen_add(cfg, LISTEN_IMAPS, TLS_MODE_IMPLICIT, "127.0.0.1", 2993);
	listen_add(cfg, LISTEN_IMAPS, TLS_MODE_IMPLICIT, "::1", 2993);
	listen_add(cfg, LISTEN_POP3, TLS_MODE_STARTTLS, "127.0.0.1", 2110);
	listen_add(cfg, LISTEN_POP3S, TLS_MODE_IMPLICIT, "127.0.0.1", 2995);
	listen_add(cfg, LISTEN_SUBMISSIONS, TLS_MODE_IMPLICIT, "127.0.0.1", 2465);
	listen_add(cfg, LISTEN_HTTP, TLS_MODE_NONE, "127.0.0.1", 8080);
}

static void test_servers(void **state)
{
	static const struct autoconfig_server want[] = {
		{ AUTOCONFIG_IMAP, 2993, TLS_MODE_IMPLICIT }, { AUTOCONFIG_IMAP, 2143, TLS_MODE_STARTTLS },
		{ AUTOCONFIG_POP3, 2995, TLS_MODE_IMPLICIT }, { AUTOCONFIG_POP3, 2110, TLS_MODE_STARTTLS },
		{ AUTOCONFIG_SMTP, 2465, TLS_MODE_IMPLICIT }, { AUTOCONFIG_SMTP, 2587, TLS_MODE_STARTTLS },
	};
	struct config cfg;
	struct autoconfig ac;

	dev_config(&cfg, true);
	autoconfig_from_config(&cfg, &ac);
	assert_string_equal(ac.hostname, "mx.example.test");
	assert_int_equal(ac.nservers, 6); /* no MX, no http, one 2993 */
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(ac.servers[i].proto, want[i].proto);
		assert_int_equal(ac.servers[i].port, want[i].port);
		assert_int_equal(ac.servers[i].tls, want[i].tls);
	}
	assert_int_equal(autoconfig_preferred(&ac, AUTOCONFIG_SMTP)->port, 2465);

	/* without a certificate: implicit TLS cannot work, the rest has no security */
	dev_config(&cfg, false);
	autoconfig_from_config(&cfg, &ac);
	assert_int_equal(ac.nservers, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(ac.servers[i].tls, TLS_MODE_NONE);
	assert_int_equal(autoconfig_preferred(&ac, AUTOCONFIG_IMAP)->port, 2143);
}

static struct autoconfig dev_autoconfig(void)
{
	struct config cfg;
	struct autoconfig ac;

	dev_config(&cfg, true);
	autoconfig_from_config(&cfg, &ac);
	return ac;
}

static void test_thunderbird(void **state)
{
	struct autoconfig ac = dev_autoconfig();
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(autoconfig_thunderbird(&ac, "example.test", &b), 0);
	assert_non_null(strstr(b.data, "<clientConfig version=\"1.1\">"));
	assert_non_null(strstr(b.data, "<emailProvider id=\"example.test\">"));
	assert_non_null(strstr(b.data, "<incomingServer type=\"imap\">\n      <hostname>mx.example.test</hostname>\n"
				       "      <port>2993</port>\n      <socketType>SSL</socketType>\n"
				       "      <username>%EMAILADDRESS%</username>\n"
				       "      <authentication>password-cleartext</authentication>"));
	assert_non_null(strstr(b.data, "<port>2110</port>\n      <socketType>STARTTLS</socketType>"));
	assert_non_null(strstr(b.data, "<outgoingServer type=\"smtp\">\n      <hostname>mx.example.test</hostname>\n"
				       "      <port>2465</port>\n      <socketType>SSL</socketType>"));
	assert_null(strstr(b.data, "2525")); /* the MX port is not for clients */
	assert_null(strstr(b.data, "8080"));
	buf_free(&b);
}

static void test_outlook_and_escaping(void **state)
{
	struct autoconfig ac = dev_autoconfig();
	struct buf b;

	buf_init(&b, 0);
	/* ' is valid in a local part; it must not end up raw in markup */
	assert_int_equal(autoconfig_outlook(&ac, "o'brien@example.test", &b), 0);
	assert_non_null(strstr(b.data, "<LoginName>o&#39;brien@example.test</LoginName>"));
	assert_null(strstr(b.data, "o'brien"));
	assert_non_null(strstr(b.data, "<Type>IMAP</Type>\n        <Server>mx.example.test</Server>\n"
				       "        <Port>2993</Port>"));
	assert_non_null(strstr(b.data, "<Type>SMTP</Type>\n        <Server>mx.example.test</Server>\n"
				       "        <Port>2465</Port>"));
	assert_non_null(strstr(b.data, "<Encryption>SSL</Encryption>"));
	/* one Protocol per Type: the preferred one */
	assert_null(strstr(b.data, "<Port>2143</Port>"));
	buf_free(&b);

	buf_init(&b, 0);
	assert_int_equal(autoconfig_settings_page(&ac, "example.test", "<script>@example.test", &b), 0);
	assert_null(strstr(b.data, "<script>"));
	assert_non_null(strstr(b.data, "&lt;script&gt;@example.test"));
	assert_non_null(strstr(b.data, "<td>2587</td><td>STARTTLS</td>"));
	buf_free(&b);
}

static void test_mobileconfig_uuid(void **state)
{
	struct autoconfig ac = dev_autoconfig();
	char u1[37], u2[37], u3[37], u4[37];
	struct buf b;

	autoconfig_uuid("mx.example.test", "a@example.test", "mail", u1);
	autoconfig_uuid("mx.example.test", "a@example.test", "mail", u2);
	autoconfig_uuid("mx.example.test", "a@example.test", "profile", u3);
	autoconfig_uuid("mx.example.test", "b@example.test", "mail", u4);
	assert_string_equal(u1, u2);
	assert_string_not_equal(u1, u3);
	assert_string_not_equal(u1, u4);
	assert_int_equal(strlen(u1), 36);
	assert_int_equal(u1[14], '8');                  /* version 8 */
	assert_non_null(strchr("89AB", u1[19]));         /* variant 10 */

	buf_init(&b, 0);
	assert_int_equal(autoconfig_mobileconfig(&ac, "a@example.test", &b), 0);
	assert_non_null(strstr(b.data, "<string>com.apple.mail.managed</string>"));
	assert_non_null(strstr(b.data, u1));
	assert_non_null(strstr(b.data, u3));
	assert_non_null(strstr(b.data, "<string>test.example.mx.mail."));
	assert_non_null(strstr(b.data, "<key>IncomingMailServerPortNumber</key>\n\t\t\t<integer>2993</integer>"));
	assert_non_null(strstr(b.data, "<key>OutgoingMailServerPortNumber</key>\n\t\t\t<integer>2465</integer>"));
	buf_free(&b);
}

static void test_bounded_output(void **state)
{
	struct autoconfig ac = dev_autoconfig();
	struct buf b;

	/* a full buffer fails the whole document */
	buf_init(&b, 200);
	assert_int_equal(autoconfig_thunderbird(&ac, "example.test", &b), -1);
	assert_int_equal(autoconfig_mobileconfig(&ac, "a@example.test", &b), -1);
	buf_free(&b);
}

static void test_outlook_request(void **state)
{
	static const struct {
		const char *body, *addr, *err;
	} cases[] = {
		{ "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"http://schemas.microsoft.com/"
		  "exchange/autodiscover/outlook/requestschema/2006\">\r\n<Request>\r\n"
		  "<EMailAddress>alice@example.test</EMailAddress>\r\n<AcceptableResponseSchema>http://schemas."
		  "microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\r\n"
		  "</Request>\r\n</Autodiscover>",
		  "alice@example.test", NULL },
		{ "<a:Autodiscover xmlns:a=\"x\"><a:Request><!-- <EMailAddress>no@x</EMailAddress> -->"
		  "<a:EMailAddress>\n  Bob@Example.test \n</a:EMailAddress></a:Request></a:Autodiscover>",
		  "Bob@Example.test", NULL },
		{ "<Autodiscover><Request><emailaddress>c@d.test</emailaddress></Request></Autodiscover>", "c@d.test",
		  NULL },
		{ "<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><Autodiscover><Request><EMailAddress>&lol;</EMailAddress>"
		  "</Request></Autodiscover>",
		  NULL, "DOCTYPE" },
		{ "<Autodiscover><Request><EMailAddress><![CDATA[x@y.test]]></EMailAddress></Request></Autodiscover>",
		  NULL, "DOCTYPE or CDATA" },
		{ "<Autodiscover><Request><EMailAddress>a&amp;b@y.test</EMailAddress></Request></Autodiscover>", NULL,
		  "character reference" },
		{ "<Autodiscover><Request><EMailAddress/></Request></Autodiscover>", NULL, "empty" },
		{ "<Autodiscover><Request><EMailAddress>   </EMailAddress></Request></Autodiscover>", NULL, "empty" },
		{ "<Autodiscover><Request><EMailAddress>x@y.test", NULL, "not closed" },
		{ "<Autodiscover><Request></Request></Autodiscover>", NULL, "no EMailAddress" },
		{ "<EMailAddressX>x@y.test</EMailAddressX>", NULL, "no EMailAddress" },
		{ "", NULL, "no EMailAddress" },
		{ "<!-- never closed <EMailAddress>x@y.test</EMailAddress>", NULL, "no EMailAddress" },
	};
	char addr[320];
	const char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = autoconfig_outlook_request(cases[i].body, strlen(cases[i].body), addr, sizeof(addr), &err);

		if (cases[i].addr != NULL) {
			if (rc != 0)
				fail_msg("case %zu: refused: %s", i, err);
			assert_string_equal(addr, cases[i].addr);
		} else {
			if (rc == 0)
				fail_msg("case %zu: accepted '%s'", i, addr);
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].err);
		}
	}
}

static void test_outlook_request_limits(void **state)
{
	size_t big = AUTOCONFIG_REQUEST_MAX_BYTES + 1;
	char *body = malloc(big), addr[16];
	const char *err;
	const char *req = "<EMailAddress>a-rather-long-address@example.test</EMailAddress>";

	memset(body, ' ', big);
	assert_int_equal(autoconfig_outlook_request(body, big, addr, sizeof(addr), &err), -1);
	assert_non_null(strstr(err, "too large"));
	free(body);
	/* an address longer than the caller's buffer is refused, not cut */
	assert_int_equal(autoconfig_outlook_request(req, strlen(req), addr, sizeof(addr), &err), -1);
	assert_non_null(strstr(err, "too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_servers),
		cmocka_unit_test(test_thunderbird),
		cmocka_unit_test(test_outlook_and_escaping),
		cmocka_unit_test(test_mobileconfig_uuid),
		cmocka_unit_test(test_bounded_output),
		cmocka_unit_test(test_outlook_request),
		cmocka_unit_test(test_outlook_request_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
