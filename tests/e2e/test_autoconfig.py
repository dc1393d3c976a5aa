"""Device autoconfiguration over HTTP, parsed with real parsers.

Thunderbird's clientConfig (xml.etree), Outlook's POX autodiscover
(xml.etree, with the schema's namespaces), Apple's .mobileconfig (plistlib)
and the plain settings page (html.parser). Every port in them must be one
the running instance really listens on, with the right security, and each
advertised server must really speak its protocol there (a TLS handshake for
implicit TLS, the STARTTLS capability otherwise). Unhosted domains get 404.
"""
import html.parser
import imaplib
import plistlib
import poplib
import smtplib
import socket
import ssl
import uuid
import xml.etree.ElementTree as ET

import pytest

import apiutil
from hermodtest import HOSTNAME, PASSWORD, insecure_tls

TB = "/.well-known/autoconfig/mail/config-v1.1.xml"
REQ_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESP_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUT_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def expected(inst):
    """(protocol, port, security) the instance offers clients, preferred first."""
    return [("imap", inst.imaps_port, "SSL"), ("imap", inst.imap_port, "STARTTLS"),
            ("pop3", inst.pop3s_port, "SSL"), ("pop3", inst.pop3_port, "STARTTLS"),
            ("smtp", inst.submissions_port, "SSL"), ("smtp", inst.submission_port, "STARTTLS")]


def works(inst, proto, port, security):
    """Logs in with the address's password at what the document advertised."""
    user = "alice@hosted.test"
    if proto == "imap":
        m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_tls()) if security == "SSL" \
            else imaplib.IMAP4("127.0.0.1", port)
        if security == "STARTTLS":
            m.starttls(insecure_tls())
        m.login(user, PASSWORD)
        m.logout()
    elif proto == "pop3":
        p = poplib.POP3_SSL("127.0.0.1", port, context=insecure_tls()) if security == "SSL" \
            else poplib.POP3("127.0.0.1", port)
        if security == "STARTTLS":
            p.stls(insecure_tls())
        p.user(user)
        p.pass_(PASSWORD)
        p.quit()
    else:
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=insecure_tls()) if security == "SSL" \
            else smtplib.SMTP("127.0.0.1", port)
        if security == "STARTTLS":
            s.starttls(context=insecure_tls())
        s.login(user, PASSWORD)
        s.quit()


def test_thunderbird_autoconfig(hermod):
    api = apiutil.Api(hermod)
    r = api.get(TB, query={"emailaddress": "alice@hosted.test"})
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/xml")
    root = ET.fromstring(r.body)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    prov = root.find("emailProvider")
    assert prov.get("id") == "hosted.test" and prov.findtext("domain") == "hosted.test"
    servers = []
    for el in prov:
        if el.tag in ("incomingServer", "outgoingServer"):
            assert el.findtext("hostname") == HOSTNAME
            assert el.findtext("username") == "%EMAILADDRESS%"
            assert el.findtext("authentication") == "password-cleartext"
            assert (el.tag == "outgoingServer") == (el.get("type") == "smtp")
            servers.append((el.get("type"), int(el.findtext("port")), el.findtext("socketType")))
    assert servers == expected(hermod)
    for s in servers:
        works(hermod, *s)


def test_thunderbird_at_the_autoconfig_host(hermod):
    api = apiutil.Api(hermod)
    # autoconfig.<domain>/mail/config-v1.1.xml: the domain comes from the Host header
    r = api.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.catch.test"})
    assert r.status == 200, r
    assert ET.fromstring(r.body).find("emailProvider").get("id") == "catch.test"
    r = api.get("/mail/config-v1.1.xml", query={"emailaddress": "carol@catch.test"})
    assert r.status == 200 and b"catch.test" in r.body
    # not hosted: 404, whichever way the domain was named
    assert api.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.elsewhere.test"}).status == 404
    r = api.get(TB, query={"emailaddress": "x@elsewhere.test"})
    assert r.status == 404 and r.error_code == "domain_not_hosted"
    assert api.get(TB, query={"emailaddress": "not an address"}).status == 400


def autodiscover_request(address):
    return (f'<?xml version="1.0" encoding="utf-8"?>\r\n<Autodiscover xmlns="{REQ_NS}">\r\n<Request>\r\n'
            f"<EMailAddress>{address}</EMailAddress>\r\n<AcceptableResponseSchema>{OUT_NS}"
            "</AcceptableResponseSchema>\r\n</Request>\r\n</Autodiscover>\r\n")


def test_outlook_autodiscover(hermod):
    api = apiutil.Api(hermod)
    r = api.post("/autodiscover/autodiscover.xml", autodiscover_request("alice@hosted.test"),
                 headers={"Content-Type": "text/xml"})
    assert r.status == 200, r
    root = ET.fromstring(r.body)
    assert root.tag == f"{{{RESP_NS}}}Autodiscover"
    acct = root.find(f"{{{OUT_NS}}}Response/{{{OUT_NS}}}Account")
    assert acct.findtext(f"{{{OUT_NS}}}AccountType") == "email"
    assert acct.findtext(f"{{{OUT_NS}}}Action") == "settings"
    protos = {}
    for p in acct.findall(f"{{{OUT_NS}}}Protocol"):
        t = p.findtext(f"{{{OUT_NS}}}Type")
        assert p.findtext(f"{{{OUT_NS}}}Server") == HOSTNAME
        assert p.findtext(f"{{{OUT_NS}}}LoginName") == "alice@hosted.test"
        assert p.findtext(f"{{{OUT_NS}}}SSL") == "on"
        protos[t] = (int(p.findtext(f"{{{OUT_NS}}}Port")), p.findtext(f"{{{OUT_NS}}}Encryption"))
    assert protos == {"IMAP": (hermod.imaps_port, "SSL"), "POP3": (hermod.pop3s_port, "SSL"),
                      "SMTP": (hermod.submissions_port, "SSL")}
    # Outlook's capitalised path too
    assert api.post("/Autodiscover/Autodiscover.xml", autodiscover_request("bob@hosted.test")).status == 200


def test_outlook_autodiscover_refusals(hermod):
    api = apiutil.Api(hermod)
    assert api.post("/autodiscover/autodiscover.xml", autodiscover_request("x@elsewhere.test")).status == 404
    # entities are never expanded: a DTD is refused outright (billion laughs, XXE)
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            f'<Autodiscover xmlns="{REQ_NS}"><Request><EMailAddress>&lol2;</EMailAddress></Request></Autodiscover>')
    r = api.post("/autodiscover/autodiscover.xml", bomb)
    assert r.status == 400 and "DOCTYPE" in r.error.get("message", "")
    assert api.post("/autodiscover/autodiscover.xml", "<Autodiscover/>").status == 400
    r = api.post("/autodiscover/autodiscover.xml", "<a>" + "x" * 20000 + "</a>")
    assert r.status == 400 and "too large" in r.error.get("message", "")


def test_apple_mobileconfig(hermod):
    apiutil.add_account(hermod, "owner", org="default", role="owner")
    api = apiutil.logged_in(hermod, "owner")
    r = api.get("/api/v1/addresses/alice@hosted.test/mobileconfig")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/x-apple-aspen-config"
    assert "alice@hosted.test.mobileconfig" in r.header("Content-Disposition")
    profile = plistlib.loads(r.body)
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAddress"] == "alice@hosted.test"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["IncomingMailServerHostName"] == HOSTNAME
    assert mail["IncomingMailServerPortNumber"] == hermod.imaps_port
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == "alice@hosted.test"
    assert mail["OutgoingMailServerPortNumber"] == hermod.submissions_port
    assert mail["OutgoingMailServerUsername"] == "alice@hosted.test"
    # UUIDs: valid, distinct, and the same next time (a reinstall replaces the profile)
    ids = {profile["PayloadUUID"], mail["PayloadUUID"]}
    assert len(ids) == 2 and all(uuid.UUID(u) for u in ids)
    again = plistlib.loads(api.get("/api/v1/addresses/alice@hosted.test/mobileconfig").body)
    assert again["PayloadUUID"] == profile["PayloadUUID"]
    assert again["PayloadContent"][0]["PayloadUUID"] == mail["PayloadUUID"]
    other = plistlib.loads(api.get("/api/v1/addresses/bob@hosted.test/mobileconfig").body)
    assert other["PayloadUUID"] != profile["PayloadUUID"]
    # anonymous: refused; an address that does not exist: 404
    assert apiutil.Api(hermod).get("/api/v1/addresses/alice@hosted.test/mobileconfig").status == 401
    assert api.get("/api/v1/addresses/nobody@hosted.test/mobileconfig").status == 404


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cur, self.cell = [], None, None
        self.text = []

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.cur = []
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cur is not None:
            self.cur.append(self.cell)
            self.cell = None
        elif tag == "tr":
            self.rows.append(self.cur)
            self.cur = None

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell += data


def test_settings_page(hermod):
    api = apiutil.Api(hermod)
    r = api.get("/settings", query={"address": "alice@hosted.test"})
    assert r.status == 200 and r.header("Content-Type").startswith("text/html")
    p = _Cells()
    p.feed(r.body.decode())
    rows = p.rows[1:]
    sec = {"SSL": "SSL/TLS", "STARTTLS": "STARTTLS"}
    want = [(proto, str(port), sec[s]) for proto, port, s in expected(hermod)]
    got = [(row[0].split()[0].lower(), row[2], row[3]) for row in rows]
    assert got == want
    assert all(row[1] == HOSTNAME and row[4] == "alice@hosted.test" for row in rows)
    # the domain alone, for a printer's documentation
    r = api.get("/settings", query={"domain": "hosted.test"})
    assert r.status == 200 and b"your full email address" in r.body
    # markup in the query string never reaches an HTML page: refused, as JSON
    r = api.get("/settings", query={"address": "<script>@hosted.test"})
    assert r.status == 400 and r.header("Content-Type").startswith("application/json")
    assert api.get("/settings", query={"address": "a@elsewhere.test"}).status == 404
    assert api.get("/settings").status == 400
