"""App passwords ("manage devices", issue 5) end to end: created over the HTTP API, used by real
clients (imaplib, poplib, smtplib) instead of the address password, revoked one by one so that a
lost phone is cut off while the address password and the other devices still work; the
"devices" right, the limit of 20, the password shown once and never listed, no plaintext in the
database, the login in the address's history."""
import imaplib
import os
import poplib
import smtplib
import sqlite3
import ssl

import pytest

import apiutil
from hermodtest import CATCHALL, PASSWORD

ALICE = "alice@hosted.test"
BASE = "/api/v1/addresses/" + ALICE + "/app-passwords"
# failures answered at once, and many allowed: this test fails logins on purpose
FAST = pytest.mark.hermod(limits={"auth_failure_delay": "0s", "auth_max_failures": "100"})


def _tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def imap_ok(inst, user, password):
    with imaplib.IMAP4("127.0.0.1", inst.imap_port, timeout=15) as m:
        try:
            m.login(user, password)
        except imaplib.IMAP4.error:
            return False
        typ, _ = m.select("INBOX")
        assert typ == "OK"
        m.logout()
        return True


def pop3_ok(inst, user, password):
    p = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=15)
    try:
        p.user(user)
        p.pass_(password)
        p.stat()
        return True
    except poplib.error_proto:
        return False
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def submission_ok(inst, user, password):
    s = smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=15)
    try:
        s.starttls(context=_tls())
        s.login(user, password)
        return True
    except smtplib.SMTPAuthenticationError:
        return False
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def all_three(inst, user, password):
    return (imap_ok(inst, user, password), pop3_ok(inst, user, password), submission_ok(inst, user, password))


@pytest.fixture
def ann(hermod):
    apiutil.add_account(hermod, "ann", org="default", role="owner")
    return apiutil.logged_in(hermod, "ann")


@FAST
def test_create_use_everywhere_then_revoke(hermod, ann):
    phone = ann.expect(201, "POST", BASE, {"name": "phone"})
    laptop = ann.expect(201, "POST", BASE, {"name": "laptop"})
    assert phone["name"] == "phone" and phone["address"] == ALICE
    secret = phone["password"]
    assert len(secret) == 19 and secret.count("-") == 3
    assert secret != laptop["password"]

    assert all_three(hermod, ALICE, secret) == (True, True, True)
    # typed from the screen: upper case, no dashes
    assert imap_ok(hermod, ALICE, secret.replace("-", "").upper())
    # an app password of alice's opens nothing else
    assert not imap_ok(hermod, "bob@hosted.test", secret)

    listed = ann.expect(200, "GET", BASE)
    names = sorted(p["name"] for p in listed["app_passwords"])
    assert names == ["laptop", "phone"]
    assert all("password" not in p for p in listed["app_passwords"])
    assert secret not in repr(listed) and laptop["password"] not in repr(listed)
    used = {p["name"]: p["last_used"] for p in listed["app_passwords"]}
    assert used["phone"] is not None and used["laptop"] is None

    history = ann.expect(200, "GET", "/api/v1/addresses/" + ALICE + "/history")["entries"]
    details = [e["detail"] for e in history if e["action"] == "login"]
    assert "imap (app password phone)" in details
    assert "pop3 (app password phone)" in details
    assert "submission (app password phone)" in details

    # the lost phone: revoked, refused by all three; the address password and the laptop still work
    gone = ann.expect(200, "DELETE", BASE + "/phone")
    assert gone["revoked"] == "phone"
    assert all_three(hermod, ALICE, secret) == (False, False, False)
    assert all_three(hermod, ALICE, PASSWORD) == (True, True, True)
    assert imap_ok(hermod, ALICE, laptop["password"])
    r = ann.delete(BASE + "/phone")
    assert r.status == 404 and r.error_code == "no_such_app_password", r


def test_devices_right_is_needed(hermod, ann):
    apiutil.add_account(hermod, "ben", org="default", role="member")
    hermod.cli("access", "grant", "ben", ALICE, "--perms", "read,send")
    ben = apiutil.logged_in(hermod, "ben")
    r = ben.post(BASE, {"name": "bens phone"})
    assert r.status == 403 and r.error_code == "permission_denied", r
    assert "devices" in r.error["message"]
    assert ben.get(BASE).status == 403
    hermod.cli("access", "grant", "ben", ALICE, "--perms", "read,send,devices")
    created = ben.expect(201, "POST", BASE, {"name": "bens phone"})
    assert created["password"]
    ben.expect(200, "DELETE", BASE + "/bens%20phone")


def test_twenty_at_most_with_a_clear_message(hermod, ann):
    for i in range(20):
        ann.expect(201, "POST", BASE, {"name": f"device {i}"})
    r = ann.post(BASE, {"name": "one too many"})
    assert r.status == 409 and r.error_code == "too_many_app_passwords", r
    assert "already has 20 app passwords" in r.error["message"] and "revoke one" in r.error["message"]
    r = ann.post(BASE, {"name": "device 3"})
    assert r.status == 409, r
    ann.expect(200, "DELETE", BASE + "/device%203")
    ann.expect(201, "POST", BASE, {"name": "one too many"})


def test_database_holds_no_plaintext(hermod, ann):
    secret = ann.expect(201, "POST", BASE, {"name": "phone"})["password"]
    db = os.path.join(hermod.root, "data", "hermod.db")
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT name, password_hash FROM app_passwords").fetchall()
    finally:
        con.close()
    assert len(rows) == 1 and rows[0][0] == "phone"
    assert rows[0][1].startswith("sha256$") and len(rows[0][1]) == 7 + 64
    for path in (db, db + "-wal"):
        if os.path.exists(path):
            with open(path, "rb") as f:
                raw = f.read()
            assert secret.encode() not in raw and secret.replace("-", "").encode() not in raw


@FAST
def test_catchall_reads_with_an_app_password_but_never_sends(hermod):
    apiutil.add_account(hermod, "ann", org="default", role="owner")
    ann = apiutil.logged_in(hermod, "ann")
    secret = ann.expect(201, "POST", "/api/v1/addresses/" + CATCHALL + "/app-passwords",
                        {"name": "reader"})["password"]
    assert imap_ok(hermod, CATCHALL, secret)
    assert pop3_ok(hermod, CATCHALL, secret)
    assert not submission_ok(hermod, CATCHALL, secret)


@FAST
def test_account_password_never_opens_mail_protocols(hermod, ann):
    assert all_three(hermod, ALICE, apiutil.ACCOUNT_PASSWORD) == (False, False, False)
    assert all_three(hermod, "ann", apiutil.ACCOUNT_PASSWORD) == (False, False, False)
