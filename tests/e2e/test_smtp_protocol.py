"""Inbound SMTP command surface (RFC 5321): greeting, EHLO keywords, simple
commands, reply codes and command sequencing."""
import re

import pytest

from hermodtest import HOSTNAME

EXPECTED_KEYWORDS = {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                     "CHUNKING", "STARTTLS"}


def ehlo_keywords(reply):
    return [line[4:].split()[0].upper() for line in reply.lines[1:]]


def test_banner(hermod):
    with hermod.raw() as r:
        assert r.banner.code == 220
        assert r.banner.lines[-1] == f"220 {HOSTNAME} ESMTP hermod"


@pytest.mark.hermod(limits={"max_message_size": "7M"})
def test_ehlo_advertises_exactly_the_extensions(hermod):
    with hermod.raw() as r:
        rep = r.ehlo("client.test")
        assert rep.lines[0].startswith(f"250-{HOSTNAME}") or rep.lines[0].startswith(f"250 {HOSTNAME}")
        kws = ehlo_keywords(rep)
        assert sorted(kws) == sorted(EXPECTED_KEYWORDS), rep
        assert len(kws) == len(set(kws)), f"duplicate keyword: {rep}"
        size = [l for l in rep.lines if l[4:].upper().startswith("SIZE")][0]
        assert size[4:].split() == ["SIZE", str(7 * 1024 * 1024)], size


def test_helo_then_transaction(hermod):
    with hermod.raw() as r:
        rep = r.expect(250, "HELO client.test")
        assert HOSTNAME in rep.lines[0]
        assert len(rep.lines) == 1, f"HELO must not list extensions: {rep}"
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, "RCPT TO:<alice@hosted.test>")
        r.expect(354, "DATA")
        rep = r.cmd(b"Subject: helo\r\n\r\nvia HELO\r\n.")
        assert rep.code == 250 and rep.lines[-1].startswith("250 2.0.0 Ok: stored as "), rep
    assert hermod.count("alice@hosted.test") == 1


def test_ehlo_replies_are_enhanced(hermod):
    with hermod.raw() as r:
        r.ehlo()
        assert r.expect(250, "MAIL FROM:<s@remote.test>").lines[-1] == "250 2.1.0 Ok"
        assert r.expect(250, "RCPT TO:<alice@hosted.test>").lines[-1] == "250 2.1.5 Ok"


def test_rset_noop_quit(hermod):
    with hermod.raw() as r:
        r.ehlo()
        assert r.expect(250, "NOOP").lines[-1].startswith("250 2.0.0")
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, "RCPT TO:<alice@hosted.test>")
        assert r.expect(250, "RSET").lines[-1].startswith("250 2.0.0")
        # RSET dropped the transaction: DATA now is out of sequence
        rep = r.expect(503, "DATA")
        assert rep.lines[-1].startswith("503 5.5.1"), rep
        # and a new MAIL is not "nested"
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.expect(221, "QUIT")
        assert rep.lines[-1].startswith("221 2.0.0"), rep
        assert r.wait_closed(5) == b""
    assert hermod.count("alice@hosted.test") == 0


def test_noop_with_argument_and_lowercase_commands(hermod):
    with hermod.raw() as r:
        r.expect(250, "ehlo client.test")
        r.expect(250, "noop whatever")
        r.expect(250, "mail from:<s@remote.test>")
        r.expect(250, "rcpt to:<alice@hosted.test>")
        r.expect(250, "rset")


def test_vrfy_is_refused_politely(hermod):
    with hermod.raw() as r:
        r.ehlo()
        for target in ("alice@hosted.test", "nobody@hosted.test", "alice"):
            rep = r.expect(252, f"VRFY {target}")
            assert rep.lines[-1] == ("252 2.5.2 Cannot VRFY user, but will accept message "
                                     "and attempt delivery"), rep


@pytest.mark.parametrize("line", ["XYZZY", "TURN", "EXPN staff", "ETRN hosted.test",
                                  "AUTH PLAIN AGFsaWNlAHgK", "MAILFROM:<a@b>", ""])
def test_unknown_command_500(hermod, line):
    with hermod.raw() as r:
        r.ehlo()
        rep = r.cmd(line)
        assert rep.code in (500, 502, 503), rep
        if line in ("XYZZY", "MAILFROM:<a@b>"):
            assert rep.lines[-1] == "500 5.5.2 Error: command not recognized", rep
        # the session goes on
        r.expect(250, "NOOP")


def test_mail_before_helo_503(hermod):
    with hermod.raw() as r:
        rep = r.expect(503, "MAIL FROM:<s@remote.test>")
        assert rep.lines[-1].startswith("503 5.5.1 Error: send HELO/EHLO first"), rep


def test_rcpt_before_mail_503(hermod):
    with hermod.raw() as r:
        r.ehlo()
        rep = r.expect(503, "RCPT TO:<alice@hosted.test>")
        assert rep.lines[-1].startswith("503 5.5.1 Error: need MAIL command"), rep


def test_data_before_rcpt_503(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(503, "DATA")
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.expect(503, "DATA")
        assert rep.lines[-1].startswith("503 5.5.1 Error: need RCPT command"), rep
        # a rejected recipient does not count (503, or 554 "no valid recipients" as Postfix says)
        r.expect(550, "RCPT TO:<nobody@hosted.test>")
        rep = r.cmd("DATA")
        assert rep.code in (503, 554) and rep.lines[-1][4:].startswith("5.5.1"), rep


def test_nested_mail_503(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.expect(503, "MAIL FROM:<t@remote.test>")
        assert rep.lines[-1].startswith("503 5.5.1 Error: nested MAIL command"), rep


def test_bdat_without_rcpt_503(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.send(b"BDAT 5 LAST\r\nhello")
        rep = r.reply()
        # like DATA in the same state: 503 5.5.1 Error: need RCPT command
        assert rep.lines[-1].startswith("503 5.5.1 Error: need RCPT command"), rep
        # the 5 octets were consumed as data, not parsed as a command
        r.expect(250, "NOOP")


def test_ehlo_resets_transaction(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, "RCPT TO:<alice@hosted.test>")
        r.ehlo()  # RFC 5321 4.1.4: EHLO implies RSET
        r.expect(503, "DATA")
        r.expect(250, "MAIL FROM:<s@remote.test>")


@pytest.mark.parametrize("line", ["MAIL FROM:s@remote.test", "MAIL FROM:<s@remote.test> BOGUS=1",
                                  "MAIL TO:<s@remote.test>", "MAIL FROM:<s@@remote.test>",
                                  "MAIL FROM:<s@remote.test> SIZE=abc"])
def test_bad_mail_syntax_is_5xx_and_session_survives(hermod, line):
    with hermod.raw() as r:
        r.ehlo()
        rep = r.cmd(line)
        assert 500 <= rep.code <= 555, rep
        assert re.match(r"5\.\d\.\d", rep.lines[-1][4:]), f"no enhanced code: {rep}"
        r.expect(250, "MAIL FROM:<s@remote.test>")


def test_null_sender_accepted(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<>")
        r.expect(250, "RCPT TO:<alice@hosted.test>")
        r.expect(354, "DATA")
        r.expect(250, b"Subject: bounce\r\n\r\nnull sender\r\n.")
    [m] = hermod.fetch("alice@hosted.test")
    assert m["Return-Path"].strip() == "<>"


def test_postmaster_without_domain_is_not_relayed(hermod):
    # RFC 5321 4.5.1 requires <postmaster>; we host no such address here, so
    # it is either accepted for local delivery or refused, never relayed.
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.cmd("RCPT TO:<postmaster>")
        assert rep.code in (250, 550, 553, 554), rep
