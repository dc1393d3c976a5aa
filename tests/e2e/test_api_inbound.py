"""Auto-reply and alias targets over the HTTP API (apiutil, real requests), with
the rights that guard them, and the effect checked with real clients: the
auto-reply read over IMAP (imaplib) after a message sent with smtplib, the
confirmation link of an external target followed anonymously.

  GET/PUT /api/v1/addresses/{address}/autoreply   right "autoreply"
  GET/PUT /api/v1/addresses/{address}/targets     right "redirections" or "aliases"
  GET     /api/v1/confirm/{token}                 anonymous, works once, for 30 days
"""
import email
import email.policy
import imaplib
import os
import re
import sqlite3

import pytest

import apiutil
from hermodtest import CATCHALL, PASSWORD, message
from queueutil import ScriptedSMTP, wait_for

ORG = "default"
ALICE = "alice@hosted.test"
BOB = "bob@hosted.test"


@pytest.fixture
def remote():
    srv = ScriptedSMTP().start()
    yield srv
    srv.stop()


@pytest.fixture
def inst(hermod_factory, remote):
    i = hermod_factory(extra_config=f"transport remote.test 127.0.0.1:{remote.port}\n"
                                    "queue { scan_interval 1s }")
    i.start()
    return i


def owner(inst):
    apiutil.add_account(inst, "olga", org=ORG, role="owner")
    return apiutil.logged_in(inst, "olga")


def member(inst, login="mel", perms=None, address=ALICE):
    apiutil.add_account(inst, login, org=ORG, role="member")
    if perms:
        inst.cli("access", "grant", login, address, "--perms", perms)
    return apiutil.logged_in(inst, login)


def imap_inbox(inst, address):
    with imaplib.IMAP4("127.0.0.1", inst.imap_port) as m:
        m.login(address, PASSWORD)
        m.select("INBOX", readonly=True)
        typ, data = m.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, parts = m.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(email.message_from_bytes(parts[0][1], policy=email.policy.default))
        return out


def test_autoreply_over_the_api_then_smtp_and_imap(inst):
    api = owner(inst)
    path = f"/api/v1/addresses/{ALICE}/autoreply"
    j = api.expect(200, "GET", path)
    assert j["enabled"] is False and j["period_s"] == 4 * 86400 and j["period_default"] is True
    j = api.expect(200, "PUT", path, {"subject": "Away", "body": "Back on Monday.\n",
                                      "starts_at": "2020-01-01", "ends_at": "2999-12-31T18:00:00Z"})
    assert j["enabled"] is True and j["active"] is True
    assert j["starts_at"] == "2020-01-01T00:00:00Z" and j["ends_at"] == "2999-12-31T18:00:00Z"
    assert api.expect(200, "GET", path)["subject"] == "Away"
    with inst.smtp() as s:
        s.sendmail(BOB, [ALICE], message(subject="hello", sender=BOB, to=ALICE))
    got = wait_for(lambda: [m for m in imap_inbox(inst, BOB) if m["Auto-Submitted"] == "auto-replied"], 10,
                   "the auto-reply in bob's INBOX over IMAP")
    assert got[0]["Subject"] == "Away" and got[0]["From"].addresses[0].addr_spec == ALICE
    assert got[0].get_content().strip() == "Back on Monday."
    # invalid values name the field
    r = api.put(path, {"ends_at": "someday"})
    assert r.status == 400 and r.error["field"] == "ends_at"
    r = api.put(path, {"period_s": -1})
    assert r.status == 400 and r.error["field"] == "period_s"
    # a catchall never auto-replies
    r = api.put(f"/api/v1/addresses/{CATCHALL}/autoreply", {"body": "x"})
    assert r.status == 400 and r.error_code == "catchall_no_autoreply"


def test_autoreply_rights(inst):
    path = f"/api/v1/addresses/{ALICE}/autoreply"
    stranger = member(inst, "mel")
    assert stranger.get(path).status == 404            # no right at all: not even visible
    reader = member(inst, "rita", "read")
    r = reader.get(path)
    assert r.status == 403 and r.error_code == "permission_denied" and "autoreply" in r.error["message"]
    assert reader.put(path, {"body": "x"}).status == 403
    holder = member(inst, "arne", "autoreply")
    assert holder.expect(200, "PUT", path, {"body": "away"})["enabled"] is True
    assert holder.get(f"/api/v1/addresses/{BOB}/autoreply").status == 404
    # a read-only token reads but does not write
    tok = holder.create_token("ro", "read")
    ro = apiutil.Api(inst, token=tok)
    assert ro.get(path).status == 200
    assert ro.put(path, {"enabled": False}).status == 403


def test_targets_confirmation_link_and_rights(inst, remote):
    inst.cli("address", "add", "team@hosted.test", "--kind", "alias", "--target", ALICE)
    path = "/api/v1/addresses/team@hosted.test/targets"
    api = owner(inst)
    j = api.expect(200, "PUT", path, {"targets": [ALICE, BOB, "user@remote.test"]})
    assert j["confirmation_sent"] == ["user@remote.test"]
    status = {t["address"]: t["status"] for t in j["targets"]}
    assert status == {ALICE: "active", BOB: "active", "user@remote.test": "awaiting_confirmation"}
    m = wait_for(lambda: [x for x in remote.messages if "user@remote.test" in x.rcpts], 20, "the link")[0]
    token = re.search(rb"/api/v1/confirm/([A-Za-z0-9_-]{43})", m.data).group(1).decode()
    anon = apiutil.Api(inst)
    j = anon.expect(200, "GET", f"/api/v1/confirm/{token}")
    assert j == {"address": "team@hosted.test", "target": "user@remote.test", "confirmed": True}
    r = anon.get(f"/api/v1/confirm/{token}")
    assert r.status == 410 and r.error_code == "confirmation_invalid"
    assert anon.get("/api/v1/confirm/" + "A" * 43).status == 410
    j = api.expect(200, "GET", path)
    assert all(t["status"] == "active" for t in j["targets"])
    # eleven targets: refused, naming the field
    r = api.put(path, {"targets": [f"t{i}@remote.test" for i in range(11)]})
    assert r.status == 400 and r.error["field"] == "targets" and "at most 10" in r.error["message"]
    # the rights: redirections or aliases, nothing less
    for login, perms, want in (("ria", "read", 403), ("red", "redirections", 200), ("ali", "aliases", 200)):
        c = member(inst, login, perms, "team@hosted.test")
        assert c.get(path).status == want, login
    assert member(inst, "nob").get(path).status == 404


def test_confirmation_link_expires_and_setting_the_targets_again_sends_a_new_one(inst, remote):
    """A link is valid 30 days from when it was issued (the issue time moved back
    31 days in the database here); PUT of the same targets sends a fresh link to
    a target still unconfirmed, and that one works."""
    inst.cli("address", "add", "team@hosted.test", "--kind", "alias", "--target", ALICE)
    path = "/api/v1/addresses/team@hosted.test/targets"
    api = owner(inst)
    anon = apiutil.Api(inst)
    targets = {"targets": [ALICE, "user@remote.test"]}
    assert api.expect(200, "PUT", path, targets)["confirmation_sent"] == ["user@remote.test"]

    def links():
        msgs = [x for x in remote.messages if "user@remote.test" in x.rcpts]
        return [re.search(rb"/api/v1/confirm/([A-Za-z0-9_-]{43})", m.data).group(1).decode() for m in msgs]

    old = wait_for(lambda: links(), 20, "the first link")[0]
    db = sqlite3.connect(os.path.join(inst.root, "data", "hermod.db"), timeout=10)
    with db:
        db.execute("UPDATE alias_targets SET created_at = created_at - 31 * 86400 WHERE token_hash IS NOT NULL")
    db.close()
    r = anon.get(f"/api/v1/confirm/{old}")
    assert r.status == 410 and r.error_code == "confirmation_expired"
    assert "expired" in r.error["message"] and "team@hosted.test" in r.error["message"]
    assert "setting the alias's targets again" in r.error["message"]
    assert api.expect(200, "GET", path)["targets"][1]["status"] == "awaiting_confirmation"
    # the same targets again: a fresh link for the unconfirmed target, none for the local one
    assert api.expect(200, "PUT", path, targets)["confirmation_sent"] == ["user@remote.test"]
    new = wait_for(lambda: links()[1:], 20, "the second link")[0]
    assert new != old
    r = anon.get(f"/api/v1/confirm/{old}")
    assert r.status == 410 and r.error_code == "confirmation_invalid"
    j = anon.expect(200, "GET", f"/api/v1/confirm/{new}")
    assert j == {"address": "team@hosted.test", "target": "user@remote.test", "confirmed": True}
    # once confirmed, setting the targets again sends nothing
    assert api.expect(200, "PUT", path, targets)["confirmation_sent"] == []
