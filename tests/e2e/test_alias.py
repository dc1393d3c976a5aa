"""Aliases (redirections) end to end: the real daemon, smtplib and raw SMTP on its
MX port, a scripted SMTP server on loopback as "the rest of the internet"
(transport lines send remote.test and elsewhere.test to it), the command line
for the settings, and mailboxes read back with `hermod export`.

  * an alias fans out to 2 local targets and 1 remote one; the remote one
    gets nothing until it followed its confirmation link, the local ones get
    everything meanwhile;
  * once confirmed, the remote copy leaves with an SRS0 envelope sender at the
    alias's domain, and a notice sent back to that address is queued on to the
    original sender (null sender only; forged or altered addresses refused);
  * an alias whose only target has not confirmed answers 450 (the sender's
    server keeps the mail);
  * at most 10 targets; local targets must exist; a catchall cannot send;
  * mail submitted by one of our users to an alias reaches every local target and
    the confirmed remote ones (with the user's own sender: no SRS);
  * a forwarded copy that bounces: the notice goes to the original sender behind
    the SRS sender (queued if remote, into the INBOX if hosted); an SRS sender
    that no longer verifies gets no notice.
"""
import os
import re
import smtplib
import sqlite3
import time

import pytest

from hermodtest import CATCHALL, PASSWORD, insecure_tls, message, raw_deliver
from queueutil import Script, ScriptedSMTP, submit, wait_for

ALIAS = "team@hosted.test"
SENDER = "orig@elsewhere.test"
REMOTE = "user@remote.test"


@pytest.fixture
def remote():
    srv = ScriptedSMTP().start()
    yield srv
    srv.stop()


@pytest.fixture
def inst(hermod_factory, remote):
    i = hermod_factory(extra_config=f"transport remote.test 127.0.0.1:{remote.port}\n"
                                    f"transport elsewhere.test 127.0.0.1:{remote.port}\n"
                                    "queue { scan_interval 1s }")
    i.start()
    return i


def make_alias(inst, alias=ALIAS, first="alice@hosted.test"):
    inst.cli("address", "add", alias, "--kind", "alias", "--target", first)


def set_targets(inst, alias, *targets, check=True):
    # the command line takes 7 targets as arguments; the rest go as --target
    args = list(targets[:7]) + [x for t in targets[7:] for x in ("--target", t)]
    return inst.cli("alias", "targets", alias, *args, check=check)


def confirmation_token(remote, target):
    """The token of the confirmation message the scripted server received for target."""
    msgs = wait_for(lambda: [m for m in remote.messages if target in m.rcpts
                             and b"Confirm forwarding" in m.data], 20, f"the confirmation for {target}")
    m = msgs[-1]
    assert m.mail_from == ""          # from the null sender
    assert m.header("Auto-Submitted") == "auto-generated"
    return re.search(rb"hermod alias confirm -- (\S+)", m.data).group(1).decode()


def forwarded(remote, rcpt=REMOTE):
    return [m for m in remote.messages if rcpt in m.rcpts and b"Confirm forwarding" not in m.data]


def test_fan_out_confirmation_then_srs(inst, remote):
    make_alias(inst)
    out = set_targets(inst, ALIAS, "alice@hosted.test", "bob@hosted.test", REMOTE)
    assert b"a confirmation link was sent to user@remote.test" in out.stderr
    listing = inst.cli("alias", "targets", ALIAS).stdout.decode()
    assert "bob@hosted.test\tlocal\tactive" in listing
    assert "user@remote.test\texternal\tawaiting_confirmation" in listing
    token = confirmation_token(remote, REMOTE)

    # before confirmation: both local targets get the message, the remote one nothing
    inst.deliver(ALIAS, message(subject="before", to=ALIAS), sender=SENDER)
    assert inst.count("alice@hosted.test") == 1 and inst.count("bob@hosted.test") == 1
    inst.wait_log(r"event=stored .*forwarded=0")
    assert forwarded(remote) == []

    r = inst.cli("alias", "confirm", "--", token)
    assert r.stdout.decode().strip() == f"{ALIAS} now forwards to {REMOTE}"
    again = inst.cli("alias", "confirm", "--", token, check=False)
    assert again.returncode == 1 and b"not valid" in again.stderr
    assert "user@remote.test\texternal\tactive" in inst.cli("alias", "targets", ALIAS).stdout.decode()

    # after: three copies; the remote one with an SRS sender at the alias's domain
    inst.deliver(ALIAS, message(subject="after", to=ALIAS), sender=SENDER)
    assert inst.count("alice@hosted.test") == 2 and inst.count("bob@hosted.test") == 2
    m = wait_for(lambda: forwarded(remote), 20, "the forwarded copy")[0]
    assert re.fullmatch(r"SRS0=[A-Z2-7]{5}=[A-Z2-7]{2}=elsewhere\.test=orig@hosted\.test", m.mail_from), m.mail_from
    assert m.header("Subject") == "after"
    assert m.header("Return-Path") is None  # a relayed copy carries none
    srs = m.mail_from

    # a notice sent back to the SRS address goes on to the original sender, from <>
    with inst.raw() as c:
        c.ehlo()
        reply = raw_deliver(c, [srs.lower()], message(subject="Undelivered Mail", to=srs), sender="")
        assert reply.code == 250, reply
    back = wait_for(lambda: [x for x in remote.messages if SENDER in x.rcpts], 20, "the notice passed back")
    assert back[0].mail_from == "" and back[0].header("Subject") == "Undelivered Mail"


def test_srs_address_refuses_what_is_not_a_notice(inst, remote):
    make_alias(inst)
    set_targets(inst, ALIAS, REMOTE)
    inst.cli("alias", "confirm", "--", confirmation_token(remote, REMOTE))
    inst.deliver(ALIAS, message(subject="x", to=ALIAS), sender=SENDER)
    srs = wait_for(lambda: forwarded(remote), 20, "the forwarded copy")[0].mail_from
    local = srs.split("@")[0]
    with inst.raw() as c:
        c.ehlo()
        c.expect(250, "MAIL FROM:<spammer@elsewhere.test>")
        r = c.cmd(f"RCPT TO:<{srs}>")
        assert r.code == 550 and "5.7.1" in r.text and "notifications" in r.text, r
        c.expect(250, "RSET")
        c.expect(250, "MAIL FROM:<>")
        # the destination changed: the hash no longer matches, and the address does not exist
        forged = local[:14] + "victim.test=anyone@hosted.test"
        r = c.cmd(f"RCPT TO:<{forged}>")
        assert r.code == 550 and "5.1.1" in r.text, r
        # one hash character changed
        h = local[5]
        altered = local[:5] + ("B" if h == "A" else "A") + local[6:] + "@hosted.test"
        assert c.cmd(f"RCPT TO:<{altered}>").code == 550
    inst.wait_log(r"event=srs-refused .*reason=bad-hash")


def test_only_unconfirmed_targets_answer_450(inst, remote):
    make_alias(inst, "solo@hosted.test", "alice@hosted.test")
    set_targets(inst, "solo@hosted.test", "someone@remote.test")
    with inst.raw() as c:
        c.ehlo()
        c.expect(250, f"MAIL FROM:<{SENDER}>")
        r = c.cmd("RCPT TO:<solo@hosted.test>")
        assert r.code == 450 and "4.2.1" in r.text and "confirm" in r.text, r
    token = confirmation_token(remote, "someone@remote.test")
    inst.cli("alias", "confirm", "--", token)
    inst.deliver("solo@hosted.test", message(subject="now", to="solo@hosted.test"), sender=SENDER)
    wait_for(lambda: forwarded(remote, "someone@remote.test"), 20, "the copy after confirmation")


def test_target_rules(inst):
    make_alias(inst)
    eleven = [f"t{i}@remote.test" for i in range(11)]
    r = set_targets(inst, ALIAS, *eleven, check=False)
    assert r.returncode == 1 and b"at most 10 targets" in r.stderr
    r = set_targets(inst, ALIAS, "nobody@hosted.test", check=False)
    assert r.returncode == 1 and b"nobody@hosted.test does not exist" in r.stderr
    r = set_targets(inst, ALIAS, ALIAS, check=False)
    assert r.returncode == 1 and b"itself" in r.stderr
    r = set_targets(inst, ALIAS, "no-reply@hosted.test", check=False)
    assert r.returncode == 1 and b"no-reply" in r.stderr
    r = set_targets(inst, "alice@hosted.test", "bob@hosted.test", check=False)
    assert r.returncode == 1 and b"not an alias" in r.stderr
    # ten is fine; replacing keeps a confirmed target confirmed and drops the others
    ten = [f"t{i}@remote.test" for i in range(9)] + ["bob@hosted.test"]
    set_targets(inst, ALIAS, *ten)
    listing = inst.cli("alias", "targets", ALIAS).stdout.decode().splitlines()
    assert len(listing) == 10
    set_targets(inst, ALIAS, "bob@hosted.test")
    assert inst.cli("alias", "targets", ALIAS).stdout.decode() == "bob@hosted.test\tlocal\tactive\n"


def test_alias_local_targets_each_get_one_copy(inst):
    make_alias(inst)
    set_targets(inst, ALIAS, "alice@hosted.test", "bob@hosted.test", "carol@catch.test")
    # naming the alias and one of its targets: still one copy per mailbox
    inst.deliver([ALIAS, "bob@hosted.test"], message(subject="once", to=ALIAS), sender=SENDER)
    assert [inst.count(a) for a in ("alice@hosted.test", "bob@hosted.test", "carol@catch.test")] == [1, 1, 1]


def test_catchall_cannot_send(inst):
    for port in (inst.submission_port,):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("client.test")
            s.starttls(context=insecure_tls())
            s.ehlo("client.test")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s.login(CATCHALL, PASSWORD)
            with pytest.raises(smtplib.SMTPSenderRefused):
                s.sendmail(CATCHALL, ["user@remote.test"], message(sender=CATCHALL))


def test_submission_expands_aliases(inst, remote):
    make_alias(inst)
    set_targets(inst, ALIAS, "alice@hosted.test", "bob@hosted.test", REMOTE, "later@remote.test")
    inst.cli("alias", "confirm", "--", confirmation_token(remote, REMOTE))
    confirmation_token(remote, "later@remote.test")  # sent, never followed
    before = len(remote.messages)
    submit(inst, [ALIAS], message(subject="from dave", sender="dave@hosted.test", to=ALIAS), user="dave@hosted.test")
    # both local targets get their copy, not only the first
    assert inst.count("alice@hosted.test") == 1 and inst.count("bob@hosted.test") == 1
    m = wait_for(lambda: forwarded(remote), 20, "the copy for the confirmed remote target")[0]
    assert m.mail_from == "dave@hosted.test"  # our own user's sender: no SRS needed
    assert m.header("Subject") == "from dave"
    time.sleep(1.5)
    assert forwarded(remote, "later@remote.test") == []  # unconfirmed: skipped
    assert len(remote.messages) == before + 1
    inst.wait_log(r"event=alias-expanded rcpt=<team@hosted.test> local=2 remote=1")
    # an alias whose only target is unconfirmed: 450, as on the MX side
    make_alias(inst, "solo@hosted.test", "alice@hosted.test")
    set_targets(inst, "solo@hosted.test", "someone@remote.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        submit(inst, ["solo@hosted.test"], message(subject="x", sender="dave@hosted.test", to="solo@hosted.test"),
               user="dave@hosted.test")
    assert e.value.recipients["solo@hosted.test"][0] == 450


@pytest.fixture
def bouncing():
    """A remote whose user@remote.test takes the confirmation (first transaction), then
    answers what state["reply"] says for it; everyone else is accepted."""
    state = {"reply": "550 5.1.1 <user@remote.test>: Recipient address rejected: User unknown"}
    srv = ScriptedSMTP(Script(rcpt=lambda n, a: state["reply"] if a == REMOTE and n > 1 else None)).start()
    srv.state = state
    yield srv
    srv.stop()


def start_retrying(hermod_factory, srv):
    i = hermod_factory(extra_config=f"transport remote.test 127.0.0.1:{srv.port}\n"
                                    f"transport elsewhere.test 127.0.0.1:{srv.port}\n"
                                    "queue { retry 1s; scan_interval 1s; delay_warning 1h; max_lifetime 1d }")
    i.start()
    make_alias(i)
    set_targets(i, ALIAS, REMOTE)
    i.cli("alias", "confirm", "--", confirmation_token(srv, REMOTE))
    return i


def test_notice_for_a_forwarded_copy_goes_to_the_original_sender(hermod_factory, bouncing):
    inst = start_retrying(hermod_factory, bouncing)
    # a remote original sender: the failure notice is queued to it, from <>
    inst.deliver(ALIAS, message(subject="bounce remote", to=ALIAS), sender=SENDER)
    back = wait_for(lambda: [m for m in bouncing.messages if SENDER in m.rcpts], 20, "the notice to the sender")
    assert back[0].mail_from == ""
    assert back[0].header("To") == f"<{SENDER}>"
    assert b"User unknown" in back[0].data and b"Subject: bounce remote" in back[0].data
    inst.wait_log(r"queue event=notice kind=failure id=\d+ to=orig@elsewhere.test via=queue")
    # a hosted original sender: the notice lands in its INBOX (not in a catchall, not dropped)
    inst.deliver(ALIAS, message(subject="bounce local", sender="dave@hosted.test", to=ALIAS),
                 sender="dave@hosted.test")
    [n] = wait_for(lambda: inst.fetch("dave@hosted.test"), 20, "the notice in dave's INBOX")
    assert n.get_content_type() == "multipart/report"
    assert "bounce local" in n.as_string()
    inst.wait_log(r"queue event=notice kind=failure id=\d+ to=dave@hosted.test via=inbox")


def test_notice_for_an_srs_sender_that_fails_verification_is_dropped(hermod_factory, bouncing):
    inst = start_retrying(hermod_factory, bouncing)
    bouncing.state["reply"] = "451 4.3.0 try again later"
    inst.deliver(ALIAS, message(subject="deferred", to=ALIAS), sender=SENDER)
    inst.wait_log(r"queue event=deferred")
    # the SRS key changes while the copy waits in the queue: its sender no longer verifies
    db = sqlite3.connect(os.path.join(inst.root, "data", "hermod.db"), timeout=10)
    with db:
        assert db.execute("UPDATE secrets SET value = ? WHERE name = 'srs'", (os.urandom(32),)).rowcount == 1
    db.close()
    bouncing.state["reply"] = "550 5.1.1 <user@remote.test>: Recipient address rejected: User unknown"
    inst.wait_log(r'queue event=notice-dropped id=\d+ sender=SRS0=\S+@hosted.test '
                  r'reason="the SRS sender does not verify \(bad-hash\)"', timeout=20)
    time.sleep(1.5)
    assert [m for m in bouncing.messages if SENDER in m.rcpts] == []
    assert inst.count(CATCHALL) == 0
