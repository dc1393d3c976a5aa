"""The knowledge base's Manager pages, followed step by step on one running instance, through
the HTTP API as the console would call it, and checked with real mail clients (imaplib,
smtplib). The detailed rules of each step have their own test files (test_api_*.py,
test_import.py, test_autoreply.py); this one proves the steps work together, in the order a
customer takes them.
"""
import imaplib
import re
import smtplib

import pytest

import apiutil
from apiutil import ACCOUNT_PASSWORD
from hermodtest import PASSWORD

BOX_PASSWORD = "Box-Pass-12345"
TOKEN_RE = re.compile(r"/api/v1/invitations/([A-Za-z0-9_-]{43})")


def imap_login_ok(inst, address, password):
    try:
        with imaplib.IMAP4("127.0.0.1", inst.imap_port) as m:
            m.login(address, password)
            return True
    except imaplib.IMAP4.error:
        return False


def inbox_bodies(inst, address, password):
    with imaplib.IMAP4("127.0.0.1", inst.imap_port) as m:
        m.login(address, password)
        m.select("INBOX", readonly=True)
        typ, data = m.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, parts = m.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(parts[0][1].decode("utf-8", "replace"))
        return out


@pytest.fixture
def owner(hermod):
    """ann owns the organisation holding hosted.test and catch.test; ben is a member whose
    account email is his own mailbox bob@hosted.test."""
    apiutil.add_account(hermod, "ann", org="default", role="owner")
    apiutil.add_account(hermod, "ben", org="default", role="member")
    hermod.cli("account", "add", "bob@hosted.test", "--password-stdin", "--org", "default",
               input=(ACCOUNT_PASSWORD + "\n").encode())
    return apiutil.logged_in(hermod, "ann")


def test_account_and_address_passwords_are_separate(hermod, owner):
    # "Create an email address for me": the address has its own password
    owner.expect(201, "POST", "/api/v1/addresses",
                 {"address": "ann@hosted.test", "password": BOX_PASSWORD, "for": "me"})
    assert imap_login_ok(hermod, "ann@hosted.test", BOX_PASSWORD)
    assert not imap_login_ok(hermod, "ann@hosted.test", ACCOUNT_PASSWORD)
    # the address password does not open the Manager
    apiutil.Api(hermod).login("ann", BOX_PASSWORD, expect=401)
    # changing the account password leaves the address password as it was
    owner.expect(200, "PUT", "/api/v1/me/password",
                 {"current_password": ACCOUNT_PASSWORD, "new_password": "Ann-New-Account-1"})
    assert imap_login_ok(hermod, "ann@hosted.test", BOX_PASSWORD)
    # and changing the address password leaves the account's
    owner.expect(200, "PUT", "/api/v1/addresses/ann@hosted.test/password", {"password": "Box-Pass-67890"})
    assert imap_login_ok(hermod, "ann@hosted.test", "Box-Pass-67890")
    apiutil.Api(hermod).login("ann", "Ann-New-Account-1")


def test_for_another_user_invitation_then_sharing_link(hermod, owner):
    # "for another user" who is already a member: the invitation is a message in their INBOX
    owner.expect(201, "POST", "/api/v1/addresses", {
        "address": "sales@hosted.test", "password": BOX_PASSWORD, "for": "member",
        "member": "bob@hosted.test", "perms": ["read", "send"]})
    # the 201 came after the invitation was durable: it is in the INBOX already
    assert any("sales@hosted.test" in b for b in inbox_bodies(hermod, "bob@hosted.test", PASSWORD))
    body = next(b for b in inbox_bodies(hermod, "bob@hosted.test", PASSWORD) if "sales@hosted.test" in b)
    token = TOKEN_RE.search(body).group(1)
    bob = apiutil.logged_in(hermod, "bob@hosted.test")
    bob.expect(200, "POST", f"/api/v1/invitations/{token}/accept", {})
    assert sorted(bob.expect(200, "GET", "/api/v1/addresses/sales@hosted.test")["rights"]) == ["read", "send"]
    # "Generate a sharing link": it works once
    link = owner.expect(201, "POST", "/api/v1/addresses/sales@hosted.test/links", {"perms": ["read"]})
    ben = apiutil.logged_in(hermod, "ben")
    ben.expect(200, "POST", f"/api/v1/links/{link['token']}/redeem", {})
    assert ben.get("/api/v1/addresses/sales@hosted.test").status == 200
    apiutil.add_account(hermod, "cleo", org="default", role="member")
    cleo = apiutil.logged_in(hermod, "cleo")
    r = cleo.post(f"/api/v1/links/{link['token']}/redeem", {})
    assert r.status == 410, r
    assert cleo.get("/api/v1/addresses/sales@hosted.test").status == 404


def test_generic_addresses_catchall_and_noreply(hermod, owner):
    # a catchall may have a password: "you can see the emails by logging in to the catchall"
    owner.expect(201, "POST", "/api/v1/addresses",
                 {"address": "catchall@hosted.test", "kind": "catchall", "for": "shared",
                  "password": BOX_PASSWORD})
    owner.expect(201, "POST", "/api/v1/addresses",
                 {"address": "noreply@hosted.test",
                  "kind": "noreply", "for": "shared", "password": BOX_PASSWORD})
    with smtplib.SMTP("127.0.0.1", hermod.port) as s:
        # a mistyped address lands in the catchall rather than bouncing
        s.sendmail("x@remote.test", ["jonh.smit@hosted.test"], b"Subject: typo\r\n\r\nfor john\r\n")
        # the no-reply address receives nothing
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("x@remote.test", ["noreply@hosted.test"], b"Subject: hi\r\n\r\nhi\r\n")
        code, text = e.value.recipients["noreply@hosted.test"]
        assert code == 550 and b"no-reply" in text
    assert hermod.count("catchall@hosted.test") == 1
    assert any("for john" in b for b in inbox_bodies(hermod, "catchall@hosted.test", BOX_PASSWORD))
    # it receives only: submission refuses it, saying why
    with smtplib.SMTP("127.0.0.1", hermod.submission_port) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("catchall@hosted.test", BOX_PASSWORD)
        assert e.value.smtp_code == 535 and b"catchall address: it receives mail but cannot send" in e.value.smtp_error
    # but it sends (confirmation mails, bills)
    with smtplib.SMTP("127.0.0.1", hermod.submission_port) as s:
        s.login("noreply@hosted.test", BOX_PASSWORD)
        s.sendmail("noreply@hosted.test", ["alice@hosted.test"],
                   b"From: noreply@hosted.test\r\nTo: alice@hosted.test\r\nSubject: your bill\r\n\r\nbill\r\n")
    assert hermod.count("alice@hosted.test") == 1
    # the action history names each login with its protocol and IP, and the failed ones
    assert not imap_login_ok(hermod, "catchall@hosted.test", "not-the-password")
    history = owner.expect(200, "GET", "/api/v1/addresses/catchall@hosted.test/history")["entries"]
    seen = {(h["action"], h["detail"].split(":")[0], h["ip"]) for h in history}
    assert ("login", "imap", "127.0.0.1") in seen, history
    assert ("login", "submission", "127.0.0.1") in seen, history
    assert ("login-failed", "imap", "127.0.0.1") in seen, history


def test_several_addresses_from_csv_then_delete_one(hermod, owner):
    csv = ("address,password,kind,forward_to,quota\n"
           f"one@hosted.test,{BOX_PASSWORD},,,\n"
           "bad address@hosted.test,x,,,\n"            # line 3
           f"two@hosted.test,{BOX_PASSWORD},,,\n"
           f"three@nowhere.test,{BOX_PASSWORD},,,\n"   # line 5: a domain not hosted here
           f"four@hosted.test,{BOX_PASSWORD},robot,,\n")  # line 6: no such kind
    j = owner.expect(200, "POST", "/api/v1/addresses/import", csv, headers={"Content-Type": "text/csv"})
    assert j["ok"] is False
    assert sorted(e["line"] for e in j["errors"]) == [3, 5, 6]
    assert owner.get("/api/v1/addresses/one@hosted.test").status == 404  # all or nothing
    fixed = "\n".join(line for i, line in enumerate(csv.splitlines(), 1) if i not in (3, 5, 6)) + "\n"
    assert owner.expect(200, "POST", "/api/v1/addresses/import", fixed,
                        headers={"Content-Type": "text/csv"})["ok"] is True
    assert imap_login_ok(hermod, "two@hosted.test", BOX_PASSWORD)
    # "Delete the email address": the account password and the tick box
    hermod.deliver("two@hosted.test", b"Subject: keep?\r\n\r\nmail\r\n")
    r = owner.delete("/api/v1/addresses/two@hosted.test", {"password": "wrong-password-1", "confirm": True})
    assert r.status == 403 and r.error_code == "wrong_password", r
    assert owner.get("/api/v1/addresses/two@hosted.test").status == 200
    gone = owner.expect(200, "DELETE", "/api/v1/addresses/two@hosted.test",
                        {"password": ACCOUNT_PASSWORD, "confirm": True})
    assert gone["messages"] == 1 and gone["bytes"] > 0
    assert owner.get("/api/v1/addresses/two@hosted.test").status == 404
    assert not imap_login_ok(hermod, "two@hosted.test", BOX_PASSWORD)
