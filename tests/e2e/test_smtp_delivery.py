"""Inbound delivery: where accepted mail goes, what is added to it, and what is refused."""
import smtplib
import subprocess

import pytest

from hermodtest import CATCHALL, HOSTNAME, NOREPLY, body_of, headers_of, lf, message, raw_deliver

ALICE = "alice@hosted.test"
BOB = "bob@hosted.test"
DAVE = "dave@hosted.test"
CAROL = "carol@catch.test"


def tricky_body():
    lines = [
        "First line.",
        ".a line starting with a dot (dot-stuffed on the wire)",
        "..two dots",
        ".",  # not alone: followed by more text
        "From the start of a line (mbox quoting must round-trip)",
        ">From already quoted",
        "trailing spaces   ",
        "\ttab-indented",
        "",
        "after an empty line",
        "x" * 998,
    ]
    return "\r\n".join(lines) + "\r\n"


def test_delivery_to_inbox_with_trace_headers_and_exact_body(hermod):
    body = tricky_body()
    msg = message(subject="exact", body=body, to=ALICE)
    with hermod.smtp() as s:
        s.ehlo("client.test")
        refused = s.sendmail("sender@remote.test", [ALICE], msg)
        assert refused == {}
    assert hermod.folders(ALICE)["INBOX"][0] == 1
    [m] = hermod.fetch(ALICE)
    raw = m.raw
    # stored with CRLF line endings (on disk; export may write mbox's LF)
    around = hermod.disk_context(b"after an empty line", before=40, after=4)
    assert around, "message text not found under data/msg"
    assert b"\r\n\r\nafter an empty line\r\n" in around, around
    assert b"\n" not in around.replace(b"\r\n", b""), around
    # Return-Path and Received prepended, in that order, before the client's headers
    hdr_lines = headers_of(raw).split(b"\n")
    assert hdr_lines[0] == b"Return-Path: <sender@remote.test>", hdr_lines[:3]
    assert hdr_lines[1].startswith(b"Received: "), hdr_lines[:3]
    received = m["Received"]
    assert HOSTNAME in received and "client.test" in received, received
    assert "127.0.0.1" in received, received
    assert ";" in received, f"Received has no date: {received}"
    # the original header block follows unchanged
    assert lf(msg.split(b"\r\n\r\n", 1)[0]) in headers_of(raw)
    assert m["Subject"] == "exact"
    assert body_of(raw) == lf(body.encode())


def test_8bit_body_stored_byte_exact(hermod):
    body = ("Grüße aus Köln — naïve café\r\n".encode("utf-8")
            + b"latin-1 bytes: \xe9\xe8\xff\r\n"
            + bytes(range(0x80, 0x100)) + b"\r\n")
    msg = message(subject="8bit", extra_headers=["Content-Type: text/plain; charset=utf-8",
                                                 "Content-Transfer-Encoding: 8bit"]) \
        .replace(b"hello\r\n", b"") + body
    with hermod.raw() as r:
        r.ehlo()
        rep = raw_deliver(r, [ALICE], msg, mail_params="BODY=8BITMIME")
        assert rep.code == 250, rep
    [m] = hermod.fetch(ALICE)
    assert body_of(m.raw) == lf(body)


def test_smtputf8_sender_recipient_and_headers(hermod):
    sender = "jörg@exämple.test"
    subject = "Übermorgen: 東京で会いましょう"
    msg = (f"From: Jörg <{sender}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
           f"Message-ID: <utf8@e2e.test>\r\n\r\nHéllo ünïcode 👋\r\n").encode("utf-8")
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, f"MAIL FROM:<{sender}> SMTPUTF8 BODY=8BITMIME".encode("utf-8"))
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.send(msg + b".\r\n")
        assert r.reply().code == 250
    [m] = hermod.fetch(ALICE)
    assert headers_of(m.raw).startswith(f"Return-Path: <{sender}>\n".encode("utf-8"))
    assert f"Subject: {subject}\n".encode("utf-8") in headers_of(m.raw)
    assert body_of(m.raw) == "Héllo ünïcode 👋\n".encode("utf-8")


def test_smtplib_sendmail_utf8(hermod):
    msg = message(subject="smtplib utf8", body="Ünïcödé body\r\n", to=ALICE)
    with hermod.smtp() as s:
        s.ehlo()
        assert s.has_extn("smtputf8")
        s.sendmail("søren@remote.test", [ALICE], msg, mail_options=["SMTPUTF8"])
    [m] = hermod.fetch(ALICE)
    assert headers_of(m.raw).startswith("Return-Path: <søren@remote.test>\n".encode("utf-8"))


def test_several_local_recipients_each_get_one_copy(hermod):
    msg = message(subject="to three", body="shared\r\n", to=ALICE)
    with hermod.smtp() as s:
        refused = s.sendmail("sender@remote.test", [ALICE, BOB, CAROL], msg)
        assert refused == {}
    for addr in (ALICE, BOB, CAROL):
        msgs = hermod.fetch(addr)
        assert len(msgs) == 1, (addr, len(msgs))
        assert msgs[0]["Subject"] == "to three"
        assert body_of(msgs[0].raw) == b"shared\n"
    assert hermod.count(DAVE) == 0


def test_same_recipient_twice_is_delivered_once(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.cmd(f"RCPT TO:<{ALICE}>")  # 250 (duplicate ignored) or a refusal
        r.expect(354, "DATA")
        r.expect(250, b"Subject: dup\r\n\r\nx\r\n.")
    assert hermod.count(ALICE) == 1


def test_recipient_case_insensitive_domain(hermod):
    with hermod.smtp() as s:
        s.sendmail("s@remote.test", ["alice@HOSTED.Test"], message(subject="case"))
    assert hermod.count(ALICE) == 1


def test_catchall_receives_unknown_local_parts(hermod):
    with hermod.smtp() as s:
        assert s.sendmail("s@remote.test", ["whoever@catch.test"],
                          message(subject="to catchall 1", to="whoever@catch.test")) == {}
        assert s.sendmail("s@remote.test", ["other.name@catch.test"],
                          message(subject="to catchall 2", to="other.name@catch.test")) == {}
        # an existing address on the same domain still gets its own mail
        s.sendmail("s@remote.test", [CAROL], message(subject="to carol", to=CAROL))
    got = hermod.fetch(CATCHALL)
    assert sorted(m["Subject"] for m in got) == ["to catchall 1", "to catchall 2"]
    assert [m["Subject"] for m in hermod.fetch(CAROL)] == ["to carol"]
    # a domain without a catchall still refuses unknown local parts (see test_unknown_user_550)


def test_unknown_user_550_names_address(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.expect(550, "RCPT TO:<nobody@hosted.test>")
        assert rep.lines[-1] == ("550 5.1.1 <nobody@hosted.test>: Recipient address rejected: "
                                 "no such user here"), rep
        # the transaction goes on with a good recipient
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.expect(250, b"Subject: after 550\r\n\r\nx\r\n.")
    assert hermod.count(ALICE) == 1


def test_unknown_user_with_smtplib(hermod):
    with hermod.smtp() as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            s.sendmail("s@remote.test", ["ghost@hosted.test"], message())
        code, text = ei.value.recipients["ghost@hosted.test"]
        assert code == 550 and b"5.1.1" in text and b"ghost@hosted.test" in text


def test_noreply_refused_does_not_receive_mail(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.expect(550, f"RCPT TO:<{NOREPLY}>")
        assert rep.lines[-1].startswith(f"550 5.7.1 <{NOREPLY}>"), rep
        assert "does not receive mail" in rep.text, rep
    assert hermod.count(NOREPLY) == 0


@pytest.mark.parametrize("sender", ["s@remote.test", ""])
def test_relay_refused(hermod, sender):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, f"MAIL FROM:<{sender}>")
        rep = r.expect(554, "RCPT TO:<victim@other.test>")
        assert rep.lines[-1] == ("554 5.7.1 <victim@other.test>: Relay access denied: other.test "
                                 "is not a domain hosted here"), rep
        # no valid recipient: DATA is refused (503, or 554 "no valid recipients" as Postfix says)
        rep = r.cmd("DATA")
        assert rep.code in (503, 554) and rep.lines[-1][4:].startswith("5.5.1"), rep
        r.expect(250, "NOOP")


def test_relay_refused_for_subdomain_of_hosted(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        assert r.cmd("RCPT TO:<x@sub.hosted.test>").code == 554
        assert r.cmd("RCPT TO:<x@hosted.test.evil.test>").code == 554


@pytest.mark.parametrize("rcpt", [
    "<@hosted.test:victim@other.test>",          # RFC 5321 source route (route is ignored)
    "<@hosted.test,@catch.test:victim@other.test>",
    "<victim%other.test@hosted.test>",           # percent hack
    "<victim!other.test@hosted.test>",           # bang path
    "<\"victim@other.test\"@hosted.test>",        # quoted local part holding an address
    "<victim@other.test@hosted.test>",
])
def test_not_an_open_relay_with_routing_tricks(hermod, rcpt):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<>")
        rep = r.cmd(f"RCPT TO:{rcpt}")
        assert rep.code in (501, 550, 553, 554), rep
        if rep.code == 554:
            assert "5.7.1" in rep.lines[-1] and "other.test" in rep.text, rep
    # nothing queued anywhere, nothing delivered to the hosted mailboxes
    for addr in (ALICE, BOB, DAVE, CAROL, CATCHALL):
        assert hermod.count(addr) == 0


def test_mailbox_full_452(hermod):
    with hermod.smtp() as s:
        s.sendmail("s@remote.test", [ALICE], message(subject="fills", body="y" * 3000 + "\r\n"))
    hermod.cli("address", "quota", ALICE, "1K")
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.cmd(f"RCPT TO:<{ALICE}>")
        assert rep.code == 452, rep
        assert rep.lines[-1] == f"452 4.2.2 <{ALICE}>: Mailbox full: quota of 1024 bytes reached", rep
        # the other recipient still gets the message
        r.expect(250, f"RCPT TO:<{BOB}>")
        r.expect(354, "DATA")
        r.expect(250, b"Subject: over quota\r\n\r\nx\r\n.")
    assert hermod.count(ALICE) == 1
    assert hermod.count(BOB) == 1


def test_swaks_happy_path(hermod):
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{hermod.port}", "--to", ALICE,
                        "--from", "bob@remote.test", "--header", "Subject: via swaks",
                        "--body", "swaks body"], capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + r.stderr.decode(errors="replace")
    assert "250 2.0.0 Ok: stored as" in out
    [m] = hermod.fetch(ALICE)
    assert m["Subject"] == "via swaks"
    assert headers_of(m.raw).startswith(b"Return-Path: <bob@remote.test>\nReceived: ")
    assert body_of(m.raw).strip() == b"swaks body"


def test_swaks_pipelining_and_unknown_recipient(hermod):
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{hermod.port}", "--pipeline",
                        "--to", f"{ALICE},nobody@hosted.test,{BOB}", "--from", "s@remote.test"],
                       capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    # swaks exits non-zero when a recipient is refused, but the others get the message
    assert "550 5.1.1 <nobody@hosted.test>" in out, out
    assert "250 2.0.0 Ok: stored as" in out, out
    assert hermod.count(ALICE) == 1 and hermod.count(BOB) == 1


def test_swaks_relay_refused(hermod):
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{hermod.port}", "--to", "x@other.test",
                        "--from", "s@remote.test"], capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert r.returncode != 0
    assert "554 5.7.1 <x@other.test>: Relay access denied" in out, out


def test_ipv6_listener_delivers(hermod):
    if not hermod.ipv6:
        pytest.fail("IPv6 loopback is not available on this machine")
    with hermod.smtp(host="::1") as s:
        code, _ = s.ehlo("v6.client.test")
        assert code == 250
        s.sendmail("s@remote.test", [ALICE], message(subject="over v6"))
    [m] = hermod.fetch(ALICE)
    assert "::1" in m["Received"], m["Received"]


def test_several_messages_in_one_session_are_distinct(hermod):
    with hermod.smtp() as s:
        for i in range(5):
            s.sendmail("s@remote.test", [ALICE], message(subject=f"n{i}", body=f"body {i}\r\n"))
    msgs = hermod.fetch(ALICE)
    assert sorted(m["Subject"] for m in msgs) == [f"n{i}" for i in range(5)]
    for m in msgs:
        assert body_of(m.raw) == f"body {m['Subject'][1:]}\n".encode()


def test_mail_survives_restart(hermod):
    with hermod.smtp() as s:
        s.sendmail("s@remote.test", [ALICE], message(subject="durable"))
    assert hermod.stop() == 0
    hermod.start()
    [m] = hermod.fetch(ALICE)
    assert m["Subject"] == "durable"
