"""Auto-replies (RFC 3834) end to end: the real daemon, smtplib on its MX port,
the reply read back from the sender's INBOX (a hosted sender) or from a scripted
SMTP server on loopback (a remote sender, through the queue), and the daemon's
log for the replies it decided not to send.

One test per "never" rule of the issue: the null sender, Auto-Submitted other
than "no", list and bulk mail (List-*, Precedence), the address itself, mail
that reached a catchall; then at most once per sender per period, the dates,
and the reply itself (fields, threading, null envelope sender).
"""
import os
import sqlite3
import time

import pytest

from hermodtest import CATCHALL, message, raw_deliver
from queueutil import ScriptedSMTP, wait_for

ALICE = "alice@hosted.test"
BOB = "bob@hosted.test"
TEXT = "I am away until Monday.\nYour message will be read then.\n"


def set_autoreply(inst, addr=ALICE, text=TEXT, *extra):
    path = os.path.join(inst.root, "away.txt")
    with open(path, "w") as f:
        f.write(text)
    return inst.cli("autoreply", "set", addr, "--body-file", path, *extra)


def replies(inst, addr=BOB):
    return [m for m in inst.fetch(addr) if m["Auto-Submitted"] == "auto-replied"]


def send(inst, sender, to=ALICE, subject="Lunch", extra_headers=(), msgid=None):
    with inst.smtp() as s:
        s.sendmail(sender, [to], message(subject=subject, sender=sender or "x@y.test", to=to,
                                         extra_headers=extra_headers, msgid=msgid))


def skipped(inst, reason, offset=0):
    return inst.wait_log(rf"event=autoreply-skipped .*reason={reason}", offset=offset)


def test_reply_to_a_hosted_sender(hermod):
    set_autoreply(hermod)
    send(hermod, BOB, msgid="lunch-1")
    got = wait_for(lambda: replies(hermod), 10, "the auto-reply in bob's INBOX")
    assert len(got) == 1
    r = got[0]
    assert r["From"] == f"<{ALICE}>" and r["To"] == f"<{BOB}>"
    assert r["Subject"] == "Auto: Lunch"
    assert r["In-Reply-To"] == "<lunch-1@e2e.test>"
    assert "<lunch-1@e2e.test>" in r["References"]
    assert r.get_payload().replace("\r\n", "\n") == TEXT
    hermod.wait_log(r"event=autoreply-sent .*address=alice@hosted.test to=<bob@hosted.test> .*route=local")


def test_reply_to_a_colleague_writing_through_submission(hermod):
    """An internal message (bob submits, alice is away) gets the reply a message from outside gets."""
    from hermodtest import PASSWORD
    set_autoreply(hermod)
    with hermod.submission() as s:
        s.login(BOB, PASSWORD)
        s.sendmail(BOB, [ALICE], message(subject="Budget", sender=BOB, to=ALICE, msgid="budget-1"))
    got = wait_for(lambda: replies(hermod), 10, "the auto-reply in bob's INBOX")
    assert len(got) == 1 and got[0]["Subject"] == "Auto: Budget"
    assert got[0]["In-Reply-To"] == "<budget-1@e2e.test>"


def test_reply_to_a_remote_sender_goes_from_the_null_sender(hermod_factory):
    remote = ScriptedSMTP().start()
    try:
        inst = hermod_factory(extra_config=f"transport remote.test 127.0.0.1:{remote.port}\n"
                                           "queue { scan_interval 1s }")
        inst.start()
        set_autoreply(inst, ALICE, TEXT, "--subject", "Out of office")
        send(inst, "sender@remote.test")
        msgs = remote.wait_messages(1, timeout=20)
        m = msgs[0]
        # RFC 3834 3.3: the null return path, so that nothing answers the answer
        assert m.mail_from == ""
        assert m.rcpts == ["sender@remote.test"]
        assert m.header("Subject") == "Out of office"
        assert m.header("Auto-Submitted") == "auto-replied"
        assert m.header("From") == f"<{ALICE}>"
    finally:
        remote.stop()


def test_configured_subject_and_utf8(hermod):
    set_autoreply(hermod, ALICE, "Grüße, ich bin im Urlaub.\n", "--subject", "Abwesend bis Montag — Jörg")
    send(hermod, BOB)
    r = wait_for(lambda: replies(hermod), 10, "the auto-reply")[0]
    from email.header import decode_header, make_header
    assert str(make_header(decode_header(r["Subject"]))) == "Abwesend bis Montag — Jörg"
    assert r.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n") == "Grüße, ich bin im Urlaub.\n"


def test_never_to_the_null_sender(hermod):
    set_autoreply(hermod)
    with hermod.raw() as r:
        r.ehlo()
        assert raw_deliver(r, [ALICE], message(subject="a notice"), sender="").code == 250
    skipped(hermod, "null-sender")
    assert hermod.count(ALICE) == 1


@pytest.mark.parametrize("value", ["auto-generated", "auto-replied", "Auto-Notified (x)"])
def test_never_when_auto_submitted(hermod, value):
    set_autoreply(hermod)
    send(hermod, BOB, extra_headers=[f"Auto-Submitted: {value}"])
    skipped(hermod, "auto-submitted")
    # "no" means a person sent it: that one is answered
    send(hermod, BOB, extra_headers=["Auto-Submitted: no"], subject="by hand")
    wait_for(lambda: replies(hermod), 10, "the reply to Auto-Submitted: no")
    assert len(replies(hermod)) == 1


@pytest.mark.parametrize("header", ["List-Id: <dev.lists.remote.test>",
                                    "List-Unsubscribe: <mailto:leave@lists.remote.test>"])
def test_never_to_list_mail(hermod, header):
    set_autoreply(hermod)
    send(hermod, BOB, extra_headers=[header])
    skipped(hermod, "list")
    assert replies(hermod) == []


@pytest.mark.parametrize("value", ["bulk", "list", "junk"])
def test_never_to_bulk_mail(hermod, value):
    set_autoreply(hermod)
    send(hermod, BOB, extra_headers=[f"Precedence: {value}"])
    skipped(hermod, "bulk")
    assert replies(hermod) == []


def test_never_to_the_address_itself(hermod):
    set_autoreply(hermod)
    send(hermod, ALICE, to=ALICE)
    skipped(hermod, "self")
    assert hermod.count(ALICE) == 1   # the message, and no reply to it


def test_never_to_robots(hermod):
    set_autoreply(hermod)
    send(hermod, "owner-dev@lists.remote.test")
    skipped(hermod, "robot-sender")


def test_never_for_a_catchall(hermod):
    # the operation refuses it...
    r = hermod.cli("autoreply", "set", CATCHALL, "--body-file", "/dev/null", check=False)
    assert r.returncode == 1 and b"catchall" in r.stderr
    # ...and the delivery path holds to it even if the setting got there some other way
    db = sqlite3.connect(os.path.join(hermod.root, "data", "hermod.db"))
    with db:
        db.execute("INSERT INTO autoreply (address_id, enabled, body, period_s) "
                   "SELECT id, 1, 'away', 0 FROM addresses WHERE kind = 'catchall'")
    db.close()
    send(hermod, BOB, to="nobody@catch.test", subject="to the catchall")
    send(hermod, BOB, to=CATCHALL, subject="to the catchall by name")
    assert hermod.count(CATCHALL) == 2
    time.sleep(1.5)
    assert replies(hermod) == []
    assert "event=autoreply" not in hermod.log()


def test_once_per_sender_per_period(hermod):
    set_autoreply(hermod, ALICE, TEXT, "--period", "3s")
    send(hermod, BOB, subject="first")
    wait_for(lambda: replies(hermod), 10, "the first reply")
    off = len(hermod.log())
    send(hermod, BOB, subject="second")
    skipped(hermod, "answered-within-period", offset=off)
    # another sender is answered meanwhile
    send(hermod, "dave@hosted.test", subject="from dave")
    wait_for(lambda: replies(hermod, "dave@hosted.test"), 10, "dave's reply")
    assert len(replies(hermod)) == 1
    time.sleep(3.2)
    send(hermod, BOB, subject="third")
    wait_for(lambda: len(replies(hermod)) == 2, 10, "a reply after the period")
    assert sorted(r["Subject"] for r in replies(hermod)) == ["Auto: first", "Auto: third"]


def test_default_period_is_the_configured_one(hermod_factory):
    inst = hermod_factory(extra_config="autoreply_period 2s")
    inst.start()
    set_autoreply(inst)
    out = inst.cli("autoreply", "show", ALICE).stdout.decode()
    assert "period\t2s (the configured default)" in out
    send(inst, BOB, subject="one")
    wait_for(lambda: replies(inst), 10, "the first reply")
    send(inst, BOB, subject="two")
    skipped(inst, "answered-within-period")
    time.sleep(2.2)
    send(inst, BOB, subject="three")
    wait_for(lambda: len(replies(inst)) == 2, 10, "the reply after the configured period")


def test_dates_and_off(hermod):
    set_autoreply(hermod, ALICE, TEXT, "--from", "2999-01-01")
    out = hermod.cli("autoreply", "show", ALICE).stdout.decode()
    assert "enabled\tyes\n" in out and "from\t2999-01-01T00:00:00Z" in out
    send(hermod, BOB, subject="too early")
    set_autoreply(hermod, ALICE, TEXT, "--from", "", "--until", "2000-01-01")
    send(hermod, BOB, subject="too late")
    hermod.cli("autoreply", "set", ALICE, "--until", "")
    hermod.cli("autoreply", "off", ALICE)
    send(hermod, BOB, subject="switched off")
    assert "enabled\tno" in hermod.cli("autoreply", "show", ALICE).stdout.decode()
    time.sleep(1.5)
    assert replies(hermod) == []
    # the text survived switching it off; on again, it answers
    r = hermod.cli("autoreply", "set", ALICE)
    assert b"I am away until Monday." in r.stdout
    send(hermod, BOB, subject="back on")
    wait_for(lambda: replies(hermod), 10, "the reply once on again")


def test_invalid_settings(hermod):
    path = os.path.join(hermod.root, "away.txt")
    with open(path, "w") as f:
        f.write(TEXT)

    def fails(*args):
        r = hermod.cli("autoreply", "set", *args, check=False)
        assert r.returncode != 0, r
        return r.stderr.decode()

    assert "needs a text" in fails(ALICE)
    assert "end date must come after" in fails(ALICE, "--body-file", path, "--from", "2030-02-01",
                                               "--until", "2030-01-01")
    assert "must be a date" in fails(ALICE, "--body-file", path, "--from", "tomorrow")
    assert "--period needs a duration" in fails(ALICE, "--body-file", path, "--period", "soon")
    assert "does not exist" in fails("nobody@hosted.test", "--body-file", path)
    assert "no-reply" in fails("no-reply@hosted.test", "--body-file", path)
