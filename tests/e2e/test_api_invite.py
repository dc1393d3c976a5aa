"""Invitations and sharing links over the HTTP API and the command line, as the seed tells them:

- create an address for another (existing) user: the invitation arrives in that user's INBOX
  (read over IMAP with imaplib), and only that user, logged in, accepts it;
- invite an existing member onto an existing address (the "Invite" button);
- invite an external person: the link creates their account, which then logs in;
- a sharing link is used once, then refused (410); a revoked one and an expired one are refused;
- a member without the "access" right on an address cannot invite or share it;
- the same from the command line: `hermod invite`, `hermod link create|list|revoke`.

Every call is a real request to the running daemon (apiutil); nothing is mocked.
"""
import email
import email.policy
import imaplib
import re
import sqlite3
import threading
import time

import pytest

import apiutil
from apiutil import ACCOUNT_PASSWORD
from hermodtest import PASSWORD

ORG = "default"  # the organisation of the template's domains
TOKEN_RE = re.compile(r"/api/v1/(invitations|links)/([A-Za-z0-9_-]{43})")


def setup_people(hermod):
    """olga owns the organisation; bob@hosted.test (whose mailbox is bob@hosted.test) and
    carol are plain members. Returns olga's logged-in client."""
    apiutil.add_account(hermod, "olga", org=ORG, role="owner")
    apiutil.add_account(hermod, "bob@hosted.test", org=ORG, role="member")
    apiutil.add_account(hermod, "carol", org=ORG, role="member")
    return apiutil.logged_in(hermod, "olga")


def imap_messages(hermod, address, password=PASSWORD):
    """Every message of address's INBOX, parsed, read over IMAP."""
    with imaplib.IMAP4("127.0.0.1", hermod.imap_port) as m:
        m.login(address, password)
        m.select("INBOX", readonly=True)
        typ, data = m.uid("SEARCH", None, "ALL")
        assert typ == "OK"
        out = []
        for uid in data[0].split():
            typ, parts = m.uid("FETCH", uid, "(BODY.PEEK[])")
            assert typ == "OK"
            out.append(email.message_from_bytes(parts[0][1], policy=email.policy.default))
        return out


def wait_invitation(hermod, address, subject, timeout=10):
    """The invitation message with that subject in address's INBOX (delivered after the call returns)."""
    deadline = time.time() + timeout
    while True:
        for msg in imap_messages(hermod, address):
            if msg["Subject"] == subject:
                return msg
        assert time.time() < deadline, f"no message '{subject}' in {address}'s INBOX"
        time.sleep(0.2)


def body_text(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def token_of(text, kind="invitations"):
    m = TOKEN_RE.search(text)
    assert m and m.group(1) == kind, f"no {kind} link in: {text!r}"
    return m.group(2)


def check_invitation_message(msg, to, address):
    assert msg["To"].addresses[0].addr_spec == to
    assert msg["From"].addresses[0].addr_spec.startswith("postmaster@")
    assert msg["Date"] and msg["Message-ID"]
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert f"use the email address {address}" in body_text(msg)


# ---------------------------------------------------------------- for another (existing) user

def test_create_for_existing_user_invitation_arrives_in_inbox(hermod):
    olga = setup_people(hermod)
    j = olga.expect(201, "POST", "/api/v1/addresses", {
        "address": "sales@hosted.test", "kind": "mailbox", "password": "Sales-Pass-123",
        "for": "member", "member": "bob@hosted.test", "perms": ["read", "send"]})
    inv = j["invitation"]
    assert inv["kind"] == "member" and inv["sent_to"] == "bob@hosted.test"
    assert "token" not in inv  # it reaches bob by mail only

    msg = wait_invitation(hermod, "bob@hosted.test", "Invitation to use sales@hosted.test")
    check_invitation_message(msg, "bob@hosted.test", "sales@hosted.test")
    token = token_of(body_text(msg))

    bob = apiutil.logged_in(hermod, "bob@hosted.test")
    assert bob.get("/api/v1/addresses/sales@hosted.test").status == 404  # not his yet
    anon = apiutil.Api(hermod)
    r = anon.post(f"/api/v1/invitations/{token}/accept", {})
    assert r.status == 401, r
    carol = apiutil.logged_in(hermod, "carol")
    r = carol.post(f"/api/v1/invitations/{token}/accept", {})
    assert r.status == 403 and r.error_code == "invitation_for_another_account", r
    j = bob.expect(200, "POST", f"/api/v1/invitations/{token}/accept", {})
    assert j["account"] == "bob@hosted.test" and j["address"] == "sales@hosted.test"
    assert sorted(j["perms"]) == ["read", "send"]
    assert bob.get("/api/v1/addresses/sales@hosted.test").status == 200
    r = bob.post(f"/api/v1/invitations/{token}/accept", {})
    assert r.status == 410 and "already used" in r.error["message"], r


def test_invite_member_onto_existing_address(hermod):
    olga = setup_people(hermod)
    inv = olga.expect(201, "POST", "/api/v1/invitations",
                      {"address": "dave@hosted.test", "member": "bob@hosted.test", "perms": "read"})
    msg = wait_invitation(hermod, "bob@hosted.test", "Invitation to use dave@hosted.test")
    token = token_of(body_text(msg))
    # what it offers, to whoever holds the link
    offer = apiutil.Api(hermod).expect(200, "GET", f"/api/v1/invitations/{token}")
    assert offer["address"] == "dave@hosted.test" and offer["perms"] == ["read"]
    listed = olga.expect(200, "GET", "/api/v1/invitations", query={"address": "dave@hosted.test"})
    assert [i["id"] for i in listed["invitations"]] == [inv["id"]]
    # revoked before use: refused
    olga.expect(200, "DELETE", f"/api/v1/invitations/{inv['id']}")
    bob = apiutil.logged_in(hermod, "bob@hosted.test")
    r = bob.post(f"/api/v1/invitations/{token}/accept", {})
    assert r.status == 410 and r.error_code == "token_revoked", r


def test_member_unknown_or_outside_refused(hermod):
    olga = setup_people(hermod)
    apiutil.add_account(hermod, "stranger")
    r = olga.post("/api/v1/invitations", {"address": "dave@hosted.test", "member": "stranger"})
    assert r.status == 404 and r.error_code == "member_not_found", r
    r = olga.post("/api/v1/invitations", {"address": "dave@hosted.test"})
    assert r.status == 400, r


# ---------------------------------------------------------------- external person

def test_external_invitation_creates_an_account_that_logs_in(hermod):
    olga = setup_people(hermod)
    inv = olga.expect(201, "POST", "/api/v1/invitations",
                      {"address": "dave@hosted.test", "email": "pat@partner.test", "perms": ["read"]})
    assert inv["kind"] == "external" and inv["sent_to"] == "pat@partner.test"
    token = token_of(inv["url"])
    assert inv["token"] == token

    anon = apiutil.Api(hermod)
    offer = anon.expect(200, "GET", f"/api/v1/invitations/{token}")
    assert offer["email"] == "pat@partner.test" and offer["login"] is None
    r = anon.post(f"/api/v1/invitations/{token}/accept", {"login": "olga", "password": "Pat-Pass-12345"})
    assert r.status == 409 and r.error_code == "account_exists", r
    r = anon.post(f"/api/v1/invitations/{token}/accept", {"login": "pat", "password": "short"})
    assert r.status == 400 and r.error["field"] == "password", r
    j = anon.expect(200, "POST", f"/api/v1/invitations/{token}/accept",
                    {"login": "pat", "password": "Pat-Pass-12345"})
    assert j["created"] is True and j["account"] == "pat"

    pat = apiutil.logged_in(hermod, "pat", "Pat-Pass-12345")
    assert pat.get("/api/v1/addresses/dave@hosted.test").status == 200
    assert pat.get("/api/v1/addresses/alice@hosted.test").status == 404
    r = anon.post(f"/api/v1/invitations/{token}/accept", {"login": "pat2", "password": "Pat-Pass-12345"})
    assert r.status == 410, r


def test_create_for_external_person(hermod):
    """The seed's second case: the inviter chooses that the account is created with the new address."""
    olga = setup_people(hermod)
    j = olga.expect(201, "POST", "/api/v1/addresses", {
        "address": "help@hosted.test", "kind": "mailbox", "password": "Help-Pass-123",
        "for": "external", "email": "pat@partner.test", "account_login": "address"})
    inv = j["invitation"]
    assert inv["kind"] == "external" and inv["login"] == "help@hosted.test"
    anon = apiutil.Api(hermod)
    j = anon.expect(200, "POST", f"/api/v1/invitations/{inv['token']}/accept", {"password": "Pat-Pass-12345"})
    assert j["account"] == "help@hosted.test"
    pat = apiutil.logged_in(hermod, "help@hosted.test", "Pat-Pass-12345")
    assert pat.get("/api/v1/addresses/help@hosted.test").status == 200
    # the account password is not the address's: IMAP takes only the address password
    with pytest.raises(imaplib.IMAP4.error):
        imap_messages(hermod, "help@hosted.test", "Pat-Pass-12345")
    imap_messages(hermod, "help@hosted.test", "Help-Pass-123")


def test_external_login_must_be_the_address_when_the_inviter_says_so(hermod):
    olga = setup_people(hermod)
    inv = olga.expect(201, "POST", "/api/v1/invitations",
                      {"address": "dave@hosted.test", "email": "pat@partner.test", "account_login": "address"})
    anon = apiutil.Api(hermod)
    r = anon.post(f"/api/v1/invitations/{inv['token']}/accept", {"login": "pat", "password": "Pat-Pass-12345"})
    assert r.status == 400 and r.error["field"] == "login", r
    anon.expect(200, "POST", f"/api/v1/invitations/{inv['token']}/accept", {"password": "Pat-Pass-12345"})
    apiutil.logged_in(hermod, "dave@hosted.test", "Pat-Pass-12345")


# ---------------------------------------------------------------- sharing links

def test_sharing_link_used_once_then_refused(hermod):
    olga = setup_people(hermod)
    apiutil.add_account(hermod, "erin")
    link = olga.expect(201, "POST", "/api/v1/addresses/dave@hosted.test/links", {"perms": ["read"]})
    token = token_of(link["url"], "links")
    carol = apiutil.logged_in(hermod, "carol")
    assert carol.get("/api/v1/addresses/dave@hosted.test").status == 404
    j = carol.expect(200, "POST", f"/api/v1/links/{token}/redeem", {})
    assert j["address"] == "dave@hosted.test" and j["perms"] == ["read"]
    assert carol.get("/api/v1/addresses/dave@hosted.test").status == 200
    erin = apiutil.logged_in(hermod, "erin")
    r = erin.post(f"/api/v1/links/{token}/redeem", {})
    assert r.status == 410 and r.error["message"] == "this sharing link was already used", r
    assert erin.get("/api/v1/addresses/dave@hosted.test").status == 404
    links = olga.expect(200, "GET", "/api/v1/addresses/dave@hosted.test/links")["links"]
    assert [(l["status"], l["used_by"]) for l in links] == [("used", "carol")]
    assert all("token" not in l for l in links)
    # anonymous callers cannot redeem
    assert apiutil.Api(hermod).post(f"/api/v1/links/{token}/redeem", {}).status == 401


def test_sharing_link_raced_by_many_works_once(hermod):
    """Eight accounts redeem one link at the same moment (on the API's worker threads): one wins."""
    olga = setup_people(hermod)
    link = olga.expect(201, "POST", "/api/v1/addresses/dave@hosted.test/links", {"perms": ["read"]})
    clients = []
    for i in range(8):
        apiutil.add_account(hermod, f"racer{i}", org=ORG, role="member")
        clients.append(apiutil.logged_in(hermod, f"racer{i}"))
    barrier = threading.Barrier(len(clients))
    statuses = [None] * len(clients)

    def redeem(i):
        barrier.wait()
        statuses[i] = clients[i].post(f"/api/v1/links/{link['token']}/redeem", {}).status

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [410] * (len(clients) - 1), statuses
    winners = [c for c in clients if c.get("/api/v1/addresses/dave@hosted.test").status == 200]
    assert len(winners) == 1


def test_revoked_link_refused(hermod):
    olga = setup_people(hermod)
    link = olga.expect(201, "POST", "/api/v1/addresses/dave@hosted.test/links", {})
    olga.expect(200, "DELETE", f"/api/v1/links/{link['id']}")
    carol = apiutil.logged_in(hermod, "carol")
    r = carol.post(f"/api/v1/links/{link['token']}/redeem", {})
    assert r.status == 410 and r.error_code == "token_revoked", r
    assert carol.get("/api/v1/addresses/dave@hosted.test").status == 404


def test_expired_link_refused(hermod):
    olga = setup_people(hermod)
    link = olga.expect(201, "POST", "/api/v1/addresses/dave@hosted.test/links", {"days": 1})
    # a day and a bit later: moved in the database, not by waiting
    db = sqlite3.connect(f"{hermod.root}/data/hermod.db", timeout=10)
    with db:
        db.execute("UPDATE sharing_links SET expires_at = ? WHERE id = ?", (int(time.time()) - 60, link["id"]))
    db.close()
    carol = apiutil.logged_in(hermod, "carol")
    r = carol.post(f"/api/v1/links/{link['token']}/redeem", {})
    assert r.status == 410 and r.error_code == "token_expired" and "expired on" in r.error["message"], r


def test_unknown_token_not_found(hermod):
    setup_people(hermod)
    carol = apiutil.logged_in(hermod, "carol")
    assert carol.post("/api/v1/links/" + "A" * 43 + "/redeem", {}).status == 404
    assert apiutil.Api(hermod).get("/api/v1/invitations/" + "B" * 43).status == 404


# ---------------------------------------------------------------- who may

def test_member_without_access_right_refused(hermod):
    olga = setup_people(hermod)
    hermod.cli("access", "grant", "carol", "dave@hosted.test", "--perms", "read,send")
    carol = apiutil.logged_in(hermod, "carol")
    r = carol.post("/api/v1/addresses/dave@hosted.test/links", {})
    assert r.status == 403 and r.error_code == "permission_denied" and "'access'" in r.error["message"], r
    r = carol.post("/api/v1/invitations", {"address": "dave@hosted.test", "email": "x@partner.test"})
    assert r.status == 403, r
    assert carol.get("/api/v1/addresses/dave@hosted.test/links").status == 403
    # no right at all: the address does not exist for her
    r = carol.post("/api/v1/addresses/alice@hosted.test/links", {})
    assert r.status == 404, r
    # with "access" she shares, but never more than she has
    hermod.cli("access", "grant", "carol", "dave@hosted.test", "--perms", "read,access")
    r = carol.post("/api/v1/addresses/dave@hosted.test/links", {"perms": ["read", "send"]})
    assert r.status == 403 and "'send'" in r.error["message"], r
    j = carol.expect(201, "POST", "/api/v1/addresses/dave@hosted.test/links", {})
    assert j["perms"] == ["read"]
    # and she cannot revoke olga's links on other addresses
    other = olga.expect(201, "POST", "/api/v1/addresses/alice@hosted.test/links", {})
    assert carol.delete(f"/api/v1/links/{other['id']}").status == 404


# ---------------------------------------------------------------- the command line

def test_cli_invite_member_and_links(hermod):
    setup_people(hermod)
    r = hermod.cli("invite", "dave@hosted.test", "--member", "bob@hosted.test", "--perms", "read")
    assert "sent to bob@hosted.test" in r.stdout.decode()
    msg = wait_invitation(hermod, "bob@hosted.test", "Invitation to use dave@hosted.test")
    token = token_of(body_text(msg))
    bob = apiutil.logged_in(hermod, "bob@hosted.test")
    bob.expect(200, "POST", f"/api/v1/invitations/{token}/accept", {})

    out = hermod.cli("link", "create", "dave@hosted.test", "--perms", "read", "--days", "3").stdout.decode()
    token = token_of(out, "links")
    link_id = re.search(r"sharing link (\d+)", out).group(1)
    listed = hermod.cli("link", "list", "dave@hosted.test").stdout.decode()
    assert f"{link_id}\tpending\tread\t" in listed
    hermod.cli("link", "revoke", link_id)
    carol = apiutil.logged_in(hermod, "carol")
    assert carol.post(f"/api/v1/links/{token}/redeem", {}).status == 410
    r = hermod.cli("link", "revoke", link_id, check=False)
    assert r.returncode == 1 and b"was revoked" in r.stderr

    r = hermod.cli("invite", "dave@hosted.test", "--email", "pat@partner.test")
    assert TOKEN_RE.search(r.stdout.decode())
    r = hermod.cli("invite", "dave@hosted.test", check=False)
    assert r.returncode == 1 and b"either member" in r.stderr
