"""CHUNKING (RFC 3030), PIPELINING (RFC 2920), SIZE (RFC 1870) and STARTTLS (RFC 3207)."""
import smtplib
import ssl
import subprocess

import pytest

from hermodtest import HOSTNAME, body_of, dot_stuff, lf, message

ALICE = "alice@hosted.test"
BOB = "bob@hosted.test"


def start_tx(r, rcpts=(ALICE,)):
    r.ehlo()
    r.expect(250, "MAIL FROM:<s@remote.test>")
    for rc in rcpts:
        r.expect(250, f"RCPT TO:<{rc}>")


def bdat(r, chunk, last=False):
    r.send(f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk)
    return r.reply()


# ------------------------------------------------------------------ CHUNKING

def test_bdat_several_chunks(hermod):
    msg = message(subject="chunked", body="line one\r\n.\r\nline after a lone dot\r\n" + "z" * 5000 + "\r\n")
    # split at awkward places: inside the header, between CR and LF, right after the lone dot
    cut1 = msg.index(b"\r\n") + 1
    cut2 = msg.index(b".\r\n") + 1
    chunks = [msg[:7], msg[7:cut1], msg[cut1:cut2], msg[cut2:-3000], msg[-3000:]]
    with hermod.raw() as r:
        start_tx(r)
        total = 0
        for c in chunks[:-1]:
            rep = bdat(r, c)
            total += len(c)
            # RFC 3030 leaves the text free; ours names the octets received: this
            # chunk's, or the running total. Anything else is a wrong count.
            assert rep.lines[-1] in (f"250 2.0.0 {len(c)} octets received",
                                     f"250 2.0.0 {total} octets received"), rep
        rep = bdat(r, chunks[-1], last=True)
        assert rep.lines[-1].startswith("250 2.0.0 Ok: stored as "), rep
    [m] = hermod.fetch(ALICE)
    assert m["Subject"] == "chunked"
    # BDAT has no dot-stuffing and no terminator: the lone "." line is content
    assert body_of(m.raw) == lf(msg.split(b"\r\n\r\n", 1)[1])


def test_bdat_zero_last_ends_message(hermod):
    msg = message(subject="zero last")
    with hermod.raw() as r:
        start_tx(r, (ALICE, BOB))
        assert bdat(r, msg).code == 250
        rep = bdat(r, b"", last=True)
        assert rep.lines[-1].startswith("250 2.0.0 Ok: stored as "), rep
    for a in (ALICE, BOB):
        [m] = hermod.fetch(a)
        assert m["Subject"] == "zero last"


def test_bdat_binary_content_and_bare_lf_preserved(hermod):
    # BDAT carries octets: bare LF / CR, NUL and "\r\n.\r\n" are all just content
    body = b"a\nb\rc\r\n.\r\nafter\x00nul\r\n"
    msg = message(subject="binary").replace(b"hello\r\n", b"") + body
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        rep = bdat(r, msg, last=True)
        assert rep.code == 250, rep
    [m] = hermod.fetch(ALICE)
    assert b"after" in m.raw and m["Subject"] == "binary"
    assert hermod.count(ALICE) == 1


def test_data_after_bdat_refused(hermod):
    with hermod.raw() as r:
        start_tx(r)
        assert bdat(r, b"Subject: mix\r\n\r\n").code == 250
        rep = r.cmd("DATA")
        assert rep.code == 503, rep
        assert rep.lines[-1].startswith("503 5.5.1"), rep
        # the BDAT transaction is still intact and can be finished
        rep = bdat(r, b"body\r\n", last=True)
        assert rep.code == 250, rep
    [m] = hermod.fetch(ALICE)
    assert body_of(m.raw) == b"body\n"


def test_bdat_after_data_transaction_is_fresh(hermod):
    with hermod.raw() as r:
        start_tx(r)
        r.expect(354, "DATA")
        r.expect(250, b"Subject: by data\r\n\r\none\r\n.")
        # a new transaction may use BDAT
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        assert bdat(r, b"Subject: by bdat\r\n\r\ntwo\r\n", last=True).code == 250
    assert sorted(m["Subject"] for m in hermod.fetch(ALICE)) == ["by bdat", "by data"]


@pytest.mark.parametrize("line", ["BDAT", "BDAT x", "BDAT -1", "BDAT 5 FIRST", "BDAT 99999999999999999999999"])
def test_bdat_bad_arguments(hermod, line):
    with hermod.raw() as r:
        start_tx(r)
        rep = r.cmd(line)
        assert rep.code in (501, 552, 555), rep
        r.expect(250, "NOOP")


@pytest.mark.hermod(limits={"max_message_size": "64K"})
def test_bdat_size_limit(hermod):
    limit = 64 * 1024
    with hermod.raw() as r:
        start_tx(r)
        assert bdat(r, b"Subject: big\r\n\r\n" + b"a" * 40000).code == 250
        rep = bdat(r, b"b" * 40000, last=True)
        assert rep.code == 552, rep
        assert rep.lines[-1] == f"552 5.3.4 Message too big: the limit is {limit} bytes", rep
        r.expect(250, "NOOP")
    assert hermod.count(ALICE) == 0


# ------------------------------------------------------------------ PIPELINING

def test_pipelined_transaction_replies_in_order(hermod):
    with hermod.raw() as r:
        r.send(b"EHLO client.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@hosted.test>\r\n"
               b"RCPT TO:<nobody@hosted.test>\r\nRCPT TO:<bob@hosted.test>\r\nRCPT TO:<x@other.test>\r\n"
               b"DATA\r\n")
        codes = [r.reply().code for _ in range(7)]
        assert codes == [250, 250, 250, 550, 250, 554, 354], codes
        r.send(dot_stuff(message(subject="pipelined")) + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        rep = r.reply()
        assert rep.lines[-1].startswith("250 2.0.0 Ok: stored as"), rep
        assert [r.reply().code for _ in range(3)] == [250, 250, 221]
        r.wait_closed(5)
    assert hermod.count(ALICE) == 1 and hermod.count(BOB) == 1


def test_whole_session_in_one_write_with_bdat(hermod):
    body = message(subject="one write")
    blob = (b"EHLO client.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@hosted.test>\r\n"
            + f"BDAT {len(body)} LAST\r\n".encode() + body
            + b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<bob@hosted.test>\r\nBDAT 0 LAST\r\nQUIT\r\n")
    with hermod.raw() as r:
        r.send(blob)
        codes = [r.reply().code for _ in range(8)]
        assert codes == [250, 250, 250, 250, 250, 250, 250, 221], codes
    assert [m["Subject"] for m in hermod.fetch(ALICE)] == ["one write"]
    assert hermod.count(BOB) == 1


def test_many_pipelined_transactions(hermod):
    blob = b"EHLO client.test\r\n"
    for i in range(30):
        msg = message(subject=f"p{i}")
        blob += (b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@hosted.test>\r\n"
                 + f"BDAT {len(msg)} LAST\r\n".encode() + msg)
    blob += b"QUIT\r\n"
    with hermod.raw() as r:
        r.send(blob)
        codes = [r.reply().code for _ in range(1 + 3 * 30 + 1)]
        assert codes == [250] * (1 + 3 * 30) + [221]
    assert sorted(m["Subject"] for m in hermod.fetch(ALICE)) == sorted(f"p{i}" for i in range(30))


# ------------------------------------------------------------------ SIZE

@pytest.mark.hermod(limits={"max_message_size": "64K"})
def test_size_declared_too_big_552_at_mail(hermod):
    limit = 64 * 1024
    with hermod.raw() as r:
        r.ehlo()
        rep = r.expect(552, f"MAIL FROM:<s@remote.test> SIZE={limit + 1}")
        assert rep.lines[-1] == f"552 5.3.4 Message size exceeds the limit of {limit} bytes", rep
        # exactly the limit is fine
        r.expect(250, f"MAIL FROM:<s@remote.test> SIZE={limit}")
    with hermod.smtp() as s:
        with pytest.raises(smtplib.SMTPSenderRefused) as ei:
            s.sendmail("s@remote.test", [ALICE], b"Subject: x\r\n\r\n" + b"a" * (limit + 100))
        assert ei.value.smtp_code == 552


@pytest.mark.hermod(limits={"max_message_size": "64K"})
def test_actual_size_too_big_552_after_data_nothing_stored(hermod):
    limit = 64 * 1024
    big = message(subject="too big", body=("x" * 70 + "\r\n") * 1000)  # ~72 KB
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")  # no SIZE declared
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(250, f"RCPT TO:<{BOB}>")
        r.expect(354, "DATA")
        r.send(dot_stuff(big) + b".\r\n")
        rep = r.reply()
        assert rep.lines[-1] == f"552 5.3.4 Message too big: the limit is {limit} bytes", rep
        # the session continues and a small message is fine
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.expect(250, b"Subject: small\r\n\r\nsmall\r\n.")
    assert [m["Subject"] for m in hermod.fetch(ALICE)] == ["small"]
    assert hermod.count(BOB) == 0


@pytest.mark.hermod(limits={"max_message_size": "64K"})
def test_size_lied_about_still_enforced(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test> SIZE=100")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.send(b"Subject: liar\r\n\r\n" + (b"y" * 1000 + b"\r\n") * 100 + b".\r\n")
        assert r.reply().code == 552
    assert hermod.count(ALICE) == 0


# ------------------------------------------------------------------ STARTTLS

def test_starttls_then_deliver(hermod):
    with hermod.smtp() as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        code, text = s.starttls(context=ctx)
        assert code == 220 and text == b"2.0.0 Ready to start TLS"
        cert = s.sock.getpeercert(binary_form=True)
        assert cert, "no certificate presented"
        s.ehlo("client.test")
        assert not s.has_extn("starttls"), "STARTTLS advertised again inside TLS"
        for kw in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes", "chunking"):
            assert s.has_extn(kw), kw
        s.sendmail("s@remote.test", [ALICE], message(subject="over tls"))
    [m] = hermod.fetch(ALICE)
    assert m["Subject"] == "over tls"


def test_starttls_certificate_names_hostname(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(220, "STARTTLS")
        r.starttls()
        der = r.sock.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName"],
                         input=pem.encode(), capture_output=True).stdout.decode()
    assert HOSTNAME in out, out


def test_starttls_twice_refused(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(220, "STARTTLS")
        r.starttls()
        r.ehlo()
        rep = r.cmd("STARTTLS")
        assert rep.code in (454, 503, 500), rep


def test_starttls_requires_ehlo_state_reset(hermod):
    # RFC 3207 4.2: after TLS the server forgets everything, the client starts with EHLO
    with hermod.raw() as r:
        r.ehlo()
        r.expect(220, "STARTTLS")
        r.starttls()
        r.expect(503, "MAIL FROM:<s@remote.test>")


def test_starttls_with_arguments_refused(hermod):
    with hermod.raw() as r:
        r.ehlo()
        rep = r.cmd("STARTTLS now")
        assert rep.code == 501, rep
        r.expect(250, "NOOP")


@pytest.mark.parametrize("injected,probe,expect_first", [
    (b"RSET\r\n", b"EHLO client.test\r\n", "ehlo"),
    (b"XINJECTED\r\n", b"NOOP\r\n", 250),
    (b"MAIL FROM:<evil@other.test>\r\nRCPT TO:<alice@hosted.test>\r\nDATA\r\n", b"NOOP\r\n", 250),
])
def test_starttls_pipelined_commands_discarded(hermod, injected, probe, expect_first):
    with hermod.raw() as r:
        r.ehlo()
        r.send(b"STARTTLS\r\n" + injected)  # one packet
        rep = r.reply()
        assert rep.code == 220, rep
        # nothing else may arrive in plaintext: the injected commands get no answer
        assert r.buf == b"", f"plaintext after 220: {r.buf!r}"
        r.starttls()
        r.send(probe)
        first = r.reply()
        if expect_first == "ehlo":
            assert len(first.lines) > 1 and first.lines[0].startswith(f"250-{HOSTNAME}"), \
                f"the injected RSET was answered after the handshake: {first}"
        else:
            assert first.code == expect_first, f"an injected command was answered: {first}"
            r.ehlo()
        # and no injected transaction is open
        r.expect(250, "MAIL FROM:<s@remote.test>")
        assert r.pending(0.3) == b""
    assert hermod.count(ALICE) == 0


def test_swaks_starttls(hermod):
    p = subprocess.run(["swaks", "--server", f"127.0.0.1:{hermod.port}", "-tls", "--to", ALICE,
                        "--from", "s@remote.test", "--header", "Subject: swaks tls"],
                       capture_output=True, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "220 2.0.0 Ready to start TLS" in out
    assert [m["Subject"] for m in hermod.fetch(ALICE)] == ["swaks tls"]


def test_whole_transaction_in_one_write_with_data(hermod):
    blob = (b"EHLO client.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@hosted.test>\r\nDATA\r\n"
            + dot_stuff(message(subject="one write data")) + b".\r\nQUIT\r\n")
    with hermod.raw() as r:
        r.send(blob)
        codes = [r.reply().code for _ in range(6)]
        assert codes == [250, 250, 250, 354, 250, 221], codes
    assert [m["Subject"] for m in hermod.fetch(ALICE)] == ["one write data"]


@pytest.mark.hermod(limits={"command_timeout": "2s"})
def test_starttls_then_silence_is_timed_out(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(220, "STARTTLS")
        # never start the handshake
        r.wait_closed(6)


def test_starttls_then_garbage_handshake(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(220, "STARTTLS")
        r.send(b"this is not a TLS ClientHello\r\n" * 10)
        r.wait_closed(5)
    # the daemon is unharmed
    with hermod.smtp() as s:
        s.sendmail("s@remote.test", [ALICE], message(subject="after bad tls"))
    assert hermod.count(ALICE) == 1


def test_starttls_client_vanishes_mid_handshake(hermod):
    import socket as _s
    for _ in range(5):
        r = hermod.raw()
        r.ehlo()
        r.expect(220, "STARTTLS")
        r.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # start of a ClientHello
        r.sock.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        r.close()  # RST
    with hermod.raw() as r:
        r.ehlo()
