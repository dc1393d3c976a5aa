"""Resources and refusals over the HTTP API (the service layer's rules, seen by a real HTTP
client): an owner manages, a member sees only what was granted, another organisation is
invisible; address deletion needs the account password; the account password and an
address password are separate things."""
import imaplib

import pytest

import apiutil
from apiutil import Api, ACCOUNT_PASSWORD
from hermodtest import PASSWORD


@pytest.fixture
def people(hermod):
    """owner ann (default org: hosted.test, catch.test), member ben, and zoe, owner of org "other"."""
    apiutil.add_account(hermod, "ann", org="default", role="owner")
    apiutil.add_account(hermod, "ben", org="default", role="member")
    apiutil.add_org(hermod, "other")
    apiutil.add_account(hermod, "zoe", org="other", role="owner")
    hermod.cli("domain", "add", "other.test", "--org", "other")
    return hermod


def imap_login_ok(inst, address, password):
    with imaplib.IMAP4("127.0.0.1", inst.imap_port) as m:
        try:
            m.login(address, password)
            return True
        except imaplib.IMAP4.error:
            return False


def test_owner_sees_and_member_does_not(people):
    ann = apiutil.logged_in(people, "ann")
    ben = apiutil.logged_in(people, "ben")
    ann.expect(200, "GET", "/api/v1/addresses/alice@hosted.test")
    r = ben.get("/api/v1/addresses/alice@hosted.test")
    assert r.status == 404 and r.error_code == "address_not_found", r
    listed = ben.expect(200, "GET", "/api/v1/addresses")["addresses"]
    assert listed == []


def test_member_cannot_create_addresses(people):
    ben = apiutil.logged_in(people, "ben")
    r = ben.post("/api/v1/addresses", {"address": "new@hosted.test", "password": "New-Pass-12345"})
    assert r.status in (403, 404), r
    assert r.status != 201
    ann = apiutil.logged_in(people, "ann")
    r = ann.get("/api/v1/addresses/new@hosted.test")
    assert r.status == 404


def test_other_organisation_is_invisible(people):
    zoe = apiutil.logged_in(people, "zoe")
    ann = apiutil.logged_in(people, "ann")
    r = zoe.get("/api/v1/orgs/default")
    assert r.status == 404 and r.error_code == "organisation_not_found", r
    r = zoe.get("/api/v1/addresses/alice@hosted.test")
    assert r.status == 404, r
    r = zoe.get("/api/v1/domains/hosted.test")
    assert r.status == 404, r
    names = [d["name"] if isinstance(d, dict) else d for d in zoe.expect(200, "GET", "/api/v1/domains")["domains"]]
    assert names == ["other.test"]
    names = [d["name"] if isinstance(d, dict) else d for d in ann.expect(200, "GET", "/api/v1/domains")["domains"]]
    assert "other.test" not in names and "hosted.test" in names


def test_granted_right_opens_exactly_that(people):
    ann = apiutil.logged_in(people, "ann")
    ben = apiutil.logged_in(people, "ben")
    ann.expect(200, "PUT", "/api/v1/addresses/dave@hosted.test/access/ben", {"perms": ["read"]})
    got = ben.expect(200, "GET", "/api/v1/addresses/dave@hosted.test")
    assert "read" in str(got)
    r = ben.get("/api/v1/addresses/dave@hosted.test/history")
    assert r.status == 403 and r.error_code == "permission_denied", r
    assert "history" in r.error["message"]
    r = ben.get("/api/v1/addresses/dave@hosted.test/access")
    assert r.status == 403, r
    ann.expect(200, "DELETE", "/api/v1/addresses/dave@hosted.test/access/ben")
    r = ben.get("/api/v1/addresses/dave@hosted.test")
    assert r.status == 404, r


def test_create_for_me_then_imap_with_address_password_only(people):
    ann = apiutil.logged_in(people, "ann")
    j = ann.expect(201, "POST", "/api/v1/addresses",
                   {"address": "ann.box@hosted.test", "password": "Box-Pass-12345", "for": "me"})
    assert j["address"] == "ann.box@hosted.test"
    assert imap_login_ok(people, "ann.box@hosted.test", "Box-Pass-12345")
    assert not imap_login_ok(people, "ann.box@hosted.test", ACCOUNT_PASSWORD)
    # the account password changes; the address password does not
    ann.expect(200, "PUT", "/api/v1/me/password",
               {"current_password": ACCOUNT_PASSWORD, "new_password": "New-Account-Pass-1"})
    assert imap_login_ok(people, "ann.box@hosted.test", "Box-Pass-12345")
    Api(people).login("ann", ACCOUNT_PASSWORD, expect=401)
    Api(people).login("ann", "New-Account-Pass-1")


def test_password_change_ends_the_other_sessions(people):
    here = apiutil.logged_in(people, "ann")
    elsewhere = apiutil.logged_in(people, "ann")
    token = Api(people, token=here.create_token("script", scope="read"))
    here.expect(200, "PUT", "/api/v1/me/password",
                {"current_password": ACCOUNT_PASSWORD, "new_password": "New-Account-Pass-2"})
    here.expect(200, "GET", "/api/v1/me")            # the session that changed it stays
    r = elsewhere.get("/api/v1/me")                  # whoever knew the old password is out
    assert r.status == 401, r
    token.expect(200, "GET", "/api/v1/me")           # tokens are revoked one by one
    # the operator resetting a password ends every session of the account
    people.cli("account", "passwd", "ann", "--password-stdin", input=b"Operator-Reset-1\n")
    r = here.get("/api/v1/me")
    assert r.status == 401, r


def test_delete_address_needs_account_password_and_confirmation(people):
    people.deliver("bob@hosted.test", b"Subject: x\r\n\r\nhello\r\n")
    ann = apiutil.logged_in(people, "ann")
    r = ann.delete("/api/v1/addresses/bob@hosted.test", {"password": ACCOUNT_PASSWORD})
    assert r.status == 400 and r.error["field"] == "confirm", r
    r = ann.delete("/api/v1/addresses/bob@hosted.test", {"password": PASSWORD, "confirm": True})
    assert r.status in (401, 403), r   # the address's password is not the account's
    ann.expect(200, "GET", "/api/v1/addresses/bob@hosted.test")
    j = ann.expect(200, "DELETE", "/api/v1/addresses/bob@hosted.test",
                   {"password": ACCOUNT_PASSWORD, "confirm": True})
    assert j["messages"] == 1 and j["bytes"] > 0
    assert ann.get("/api/v1/addresses/bob@hosted.test").status == 404


def test_read_only_token_refused_by_operations(people):
    ann = apiutil.logged_in(people, "ann")
    ro = Api(people, token=ann.create_token("ro", "read"))
    ro.expect(200, "GET", "/api/v1/addresses/alice@hosted.test")
    r = ro.put("/api/v1/addresses/alice@hosted.test/quota", {"quota": 1000})
    assert r.status == 403 and r.error_code == "read_only_token", r


def test_anonymous_refused_by_operations(people):
    r = Api(people).get("/api/v1/me")
    assert r.status == 401 and r.error_code == "login_required", r
    r = Api(people).post("/api/v1/orgs", {"name": "x"})
    assert r.status == 401, r


def test_me_describes_the_account(people):
    ann = apiutil.logged_in(people, "ann")
    me = ann.expect(200, "GET", "/api/v1/me")
    assert me["login"] == "ann"
