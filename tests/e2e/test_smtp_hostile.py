"""Hostile clients: oversized lines, SMTP smuggling, bare LF, too many
recipients, slow-loris, error floods and connection floods."""
import os
import socket
import threading
import time

import pytest

from hermodtest import HOSTNAME, Closed, body_of, dot_stuff, lf, message

ALICE = "alice@hosted.test"
BOB = "bob@hosted.test"


def safe_send(r, data):
    """Sends, tolerating the server closing on us mid-way."""
    try:
        r.send(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


# ------------------------------------------------------------------ long lines

def test_command_line_over_limit_500_names_limit_session_survives(hermod):
    with hermod.raw() as r:
        r.ehlo()
        rep = r.cmd("MAIL FROM:<" + "a" * 5000 + "@remote.test>")
        assert rep.lines[-1] == "500 5.5.2 Error: line too long (the limit is 4096 bytes)", rep
        # exactly one reply for the long line, and the session is usable
        assert r.pending(0.3) == b""
        r.expect(250, "NOOP")
        r.expect(250, "MAIL FROM:<s@remote.test>")


@pytest.mark.hermod(limits={"command_line_max": "1024"})
def test_command_line_limit_is_configurable(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "NOOP " + "a" * 900)
        rep = r.cmd("NOOP " + "a" * 1100)
        assert rep.lines[-1] == "500 5.5.2 Error: line too long (the limit is 1024 bytes)", rep
        r.expect(250, "NOOP")


def test_long_but_legal_command_accepted(hermod):
    # RFC 5321's 512 octets plus extension parameters: a 1000-byte MAIL line is fine
    with hermod.raw() as r:
        r.ehlo()
        local = "l" * 64
        r.expect(250, f"MAIL FROM:<{local}@{'d' * 60}.remote.test> BODY=8BITMIME SIZE=1000" + " " * 0)
        r.expect(250, "NOOP " + "x" * 1000)


def test_megabyte_without_newline(hermod):
    r = hermod.raw()
    r.ehlo()
    sent = 0
    chunk = b"A" * 65536
    ok = True
    while sent < 1024 * 1024 and ok:
        ok = safe_send(r, chunk)
        sent += len(chunk)
    # the daemon must answer (line too long) and must not have buffered it all
    data = r.pending(1.0)
    if ok:
        ok = safe_send(r, b"\r\nNOOP\r\n")
        data += r.pending(1.0)
    text = data.decode(errors="replace")
    assert "500 5.5.2 Error: line too long (the limit is 4096 bytes)" in text, text[:500]
    if not r.eof and ok:
        # still alive: it must end with a NOOP reply or a 421 for too many errors
        assert text.rstrip().splitlines()[-1][:3] in ("250", "421"), text[-300:]
    r.close()
    # the daemon is fine
    with hermod.raw() as r2:
        r2.ehlo()
    assert hermod.running()


def test_100k_line_in_message_stored_intact(hermod):
    long_line = ("0123456789abcdef" * 6250)[:100000]
    assert len(long_line) == 100000
    body = "short\r\n" + long_line + "\r\n" + "." + long_line[:5000] + "\r\nend\r\n"
    msg = message(subject="long line", body=body)
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        data = dot_stuff(msg) + b".\r\n"
        # odd-sized writes so CRLFs straddle the daemon's reads
        for i in range(0, len(data), 4093):
            r.send(data[i:i + 4093])
        rep = r.reply()
        assert rep.code == 250, rep
    [m] = hermod.fetch(ALICE)
    stored_body = body_of(m.raw)
    assert stored_body == lf(body.encode()), "long line truncated, split or altered"
    assert long_line.encode() in lf(m.raw).split(b"\n"), "the 100,000-byte line was split"
    around = hermod.disk_context(long_line.encode(), before=16, after=16)
    assert b"short\r\n" + long_line.encode() + b"\r\n." in around, "not one CRLF line on disk"


def test_long_line_with_smtplib(hermod):
    import smtplib  # noqa: F401 (smtplib sends long lines as they are)
    body = "y" * 250000 + "\r\n"
    with hermod.smtp() as s:
        s.sendmail("s@remote.test", [ALICE], message(subject="smtplib long", body=body))
    [m] = hermod.fetch(ALICE)
    assert body_of(m.raw) == lf(body.encode())


def test_cr_lf_split_across_writes_in_data(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        for part in (b"Subject: split\r", b"\n\r\nline1\r", b"\nline2\r\n.", b"\r", b"\n"):
            r.send(part)
            time.sleep(0.05)
        assert r.reply().code == 250
    [m] = hermod.fetch(ALICE)
    assert body_of(m.raw) == b"line1\nline2\n"


# ------------------------------------------------------------------ smuggling

SMUGGLE_SEQUENCES = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\r\n.\r",
                     b"\r.\r\n"]
SMUGGLED = (b"MAIL FROM:<admin@other.test>\r\nRCPT TO:<bob@hosted.test>\r\nDATA\r\n"
            b"From: <admin@hosted.test>\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n.\r\n")


def check_smuggling_outcome(hermod, r, rep):
    assert rep.code in (250, 550), rep
    if rep.code == 550:
        assert rep.lines[-1] == ('550 5.5.2 Message refused: bare <LF> or <CR> around a lone "." '
                                 'line (SMTP smuggling)'), rep
    # no reply for a smuggled MAIL/RCPT/DATA may follow: the next reply is our NOOP's
    r.expect(250, "NOOP")
    assert r.pending(0.2) == b""
    alice = hermod.fetch(ALICE)
    for m in hermod.fetch(BOB):
        raise AssertionError(f"smuggled message stored for bob: {m.raw[:300]!r}")
    if rep.code == 550:
        assert alice == [], "refused message was stored"
    else:
        [m] = alice
        assert m["Subject"] == "carrier"
        assert b"smuggled body" in m.raw, "accepted message lost the smuggled text (truncated)"


@pytest.mark.parametrize("seq", SMUGGLE_SEQUENCES, ids=lambda s: s.decode().replace("\r", "CR").replace("\n", "LF"))
def test_smtp_smuggling_refused_or_neutralised(hermod, seq):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.send(b"Subject: carrier\r\n\r\ncarrier body" + seq + SMUGGLED)
        rep = r.reply()
        check_smuggling_outcome(hermod, r, rep)


@pytest.mark.parametrize("seq", [b"\n.\n", b"\r\n.\n", b"\r.\r"], ids=["LF.LF", "CRLF.LF", "CR.CR"])
def test_smtp_smuggling_split_across_packets(hermod, seq):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        data = b"Subject: carrier\r\n\r\ncarrier body" + seq + SMUGGLED
        i = data.index(seq)
        for cut in (data[:i + 1], data[i + 1:i + 2], data[i + 2:i + 3], data[i + 3:]):
            r.send(cut)
            time.sleep(0.05)
        rep = r.reply()
        check_smuggling_outcome(hermod, r, rep)


def test_smuggling_with_bdat_is_plain_content(hermod):
    # BDAT is length-delimited: a "\n.\n" inside is content, never an end of message
    data = b"Subject: carrier\r\n\r\ncarrier body\n.\n" + SMUGGLED
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.send(f"BDAT {len(data)} LAST\r\n".encode() + data)
        rep = r.reply()
        assert rep.code in (250, 550), rep
        r.expect(250, "NOOP")
    assert hermod.count(BOB) == 0


def test_bare_lf_in_data_is_not_end_of_message(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.send(b"Subject: bare lf\r\n\r\nline with bare lf\nnext\n")
        assert r.pending(0.5) == b"", "a bare LF ended the message"
        r.send(b"\r\n.\r\n")
        assert r.reply().code in (250, 550)
        r.expect(250, "NOOP")
    assert hermod.count(ALICE) <= 1


# ------------------------------------------------------------------ bare LF in commands

def test_bare_lf_in_command(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.send(b"NOOP\n")
        rep = r.reply()
        assert rep.lines[-1] == "500 5.5.2 Error: bare <LF> received in a command", rep
        r.expect(250, "NOOP")


def test_bare_lf_pipelined_commands_not_executed(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.send(b"MAIL FROM:<s@remote.test>\nRCPT TO:<alice@hosted.test>\r\n")
        rep = r.reply()
        assert rep.code == 500 and "bare <LF>" in rep.text, rep
        # the text after the bare LF may be refused as a command of its own, but
        # the MAIL before it must not have taken effect
        more = r.pending(0.3).decode()
        assert "250" not in more, more
        r.expect(503, "DATA")


def test_bare_cr_in_command(hermod):
    with hermod.raw() as r:
        r.ehlo()
        rep = r.cmd(b"NOOP\rRSET")
        assert rep.code in (500, 501), rep
        r.expect(250, "NOOP")


def test_nul_in_command(hermod):
    with hermod.raw() as r:
        r.ehlo()
        rep = r.cmd(b"MAIL FROM:<a\x00b@remote.test>")
        assert rep.code in (500, 501, 553), rep
        r.expect(250, "NOOP")


# ------------------------------------------------------------------ too many recipients

@pytest.mark.hermod(limits={"max_recipients": "3"})
def test_too_many_recipients_452_accepted_ones_delivered(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        for a in (ALICE, BOB, "carol@catch.test"):
            r.expect(250, f"RCPT TO:<{a}>")
        rep = r.cmd("RCPT TO:<dave@hosted.test>")
        assert rep.lines[-1] == "452 4.5.3 Too many recipients: at most 3 per message", rep
        r.expect(354, "DATA")
        r.expect(250, b"Subject: three\r\n\r\nx\r\n.")
    for a in (ALICE, BOB, "carol@catch.test"):
        assert hermod.count(a) == 1, a
    assert hermod.count("dave@hosted.test") == 0


@pytest.mark.hermod(limits={"max_recipients": "3"})
def test_refused_recipients_do_not_count_toward_limit(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(550, "RCPT TO:<nobody@hosted.test>")
        for a in (ALICE, BOB, "dave@hosted.test"):
            r.expect(250, f"RCPT TO:<{a}>")


# ------------------------------------------------------------------ timeouts

@pytest.mark.hermod(limits={"command_timeout": "2s"})
def test_idle_command_timeout_421(hermod):
    with hermod.raw() as r:
        t0 = time.monotonic()
        rest = r.wait_closed(8).decode()
        took = time.monotonic() - t0
        assert rest == f"421 4.4.2 {HOSTNAME} Error: timeout exceeded\r\n", rest
        assert 1.5 <= took <= 4.5, took


@pytest.mark.hermod(limits={"command_timeout": "2s", "session_timeout": "4s"})
def test_trickled_command_line_is_cut(hermod):
    r = hermod.raw()
    r.ehlo()
    t0 = time.monotonic()
    line = b"MAIL FROM:<" + b"s" * 60 + b"@remote.test>\r\n"
    got = b""
    for byte in line:
        if not safe_send(r, bytes([byte])):
            break
        got += r.pending(1.0)
        if r.eof or b"421" in got:
            break
    got += r.wait_closed(6)
    took = time.monotonic() - t0
    r.close()
    assert f"421 4.4.2 {HOSTNAME} Error: timeout exceeded".encode() in got, got
    assert took <= 6.5, f"slow-loris held the session {took:.1f}s"


@pytest.mark.hermod(limits={"command_timeout": "3s", "session_timeout": "3s"})
def test_session_timeout_cuts_busy_but_slow_client(hermod):
    r = hermod.raw()
    r.ehlo()
    t0 = time.monotonic()
    got = b""
    while time.monotonic() - t0 < 8 and not r.eof:
        if not safe_send(r, b"NOOP\r\n"):
            break
        got += r.pending(0.7)
    took = time.monotonic() - t0
    r.close()
    assert f"421 4.4.2 {HOSTNAME} Error: timeout exceeded".encode() in got, got[-300:]
    assert took <= 5.5, took


@pytest.mark.hermod(limits={"data_timeout": "2s"})
def test_data_timeout_421_nothing_stored(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.send(b"Subject: stalled\r\n\r\npartial")
        t0 = time.monotonic()
        rest = r.wait_closed(8).decode()
        assert rest.startswith("421 4.4.2"), rest
        assert time.monotonic() - t0 <= 4.5
    assert hermod.count(ALICE) == 0


# ------------------------------------------------------------------ error floods

@pytest.mark.hermod(limits={"max_errors": "3"})
def test_too_many_errors_421_and_disconnect(hermod):
    with hermod.raw() as r:
        r.ehlo()
        replies = []
        try:
            for _ in range(6):
                r.send(b"XYZZY\r\n")
                replies.append(r.reply())
                if replies[-1].code == 421:
                    break
        except Closed:
            pass
        codes = [x.code for x in replies]
        assert codes[-1] == 421, codes
        assert replies[-1].lines[-1] == f"421 4.7.0 {HOSTNAME} Error: too many errors", replies[-1]
        assert len(codes) <= 4, f"allowed more than max_errors: {codes}"
        r.wait_closed(5)


# ------------------------------------------------------------------ connection limits

@pytest.mark.hermod(limits={"connections_per_ip": "2"})
def test_per_ip_connection_limit(hermod):
    a = hermod.raw()
    b = hermod.raw()
    c = hermod.raw(banner=False)
    rest = c.wait_closed(5).decode()
    assert rest == (f"421 4.7.0 {HOSTNAME} Error: too many connections from 127.0.0.1 (limit 2)\r\n"), rest
    # another client address is not affected
    d = hermod.raw(source="127.0.0.2")
    assert d.banner.code == 220
    # the first two still work
    a.ehlo()
    b.ehlo()
    a.close()
    time.sleep(0.3)
    e = hermod.raw()
    assert e.banner.code == 220
    for x in (b, c, d, e):
        x.close()


@pytest.mark.hermod(limits={"connections": "3"})
def test_global_connection_limit(hermod):
    conns = [hermod.raw(source=f"127.0.0.{i + 2}") for i in range(3)]
    extra = hermod.raw(source="127.0.0.9", banner=False)
    rest = extra.wait_closed(5).decode()
    assert rest == f"421 4.3.2 {HOSTNAME} Error: too many connections (limit 3), try again later\r\n", rest
    conns[0].close()
    time.sleep(0.3)
    ok = hermod.raw(source="127.0.0.9")
    assert ok.banner.code == 220
    for c in conns[1:] + [ok, extra]:
        c.close()


@pytest.mark.hermod(limits={"command_timeout": "20s"})
def test_other_sessions_unaffected_by_hostile_ones(hermod):
    stop = threading.Event()

    def flood():
        # a client sending an endless line without newline, as fast as it can
        try:
            r = hermod.raw()
            while not stop.is_set():
                if not safe_send(r, b"B" * 65536):
                    r = hermod.raw()
        except (OSError, Closed):
            pass

    def stall():
        r = hermod.raw()
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{BOB}>")
        r.expect(354, "DATA")
        r.send(b"Subject: stalled\r\n\r\n")
        stop.wait(15)
        r.close()

    threads = [threading.Thread(target=flood, daemon=True), threading.Thread(target=stall, daemon=True)]
    for t in threads:
        t.start()
    sockets = [socket.create_connection(("127.0.0.1", hermod.port)) for _ in range(20)]  # idle
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        for i in range(10):
            with hermod.smtp(timeout=5) as s:
                s.sendmail("s@remote.test", [ALICE], message(subject=f"during attack {i}"))
        took = time.monotonic() - t0
    finally:
        stop.set()
        for s in sockets:
            s.close()
        for t in threads:
            t.join(10)
    assert hermod.count(ALICE) == 10
    assert took < 5, f"10 deliveries took {took:.1f}s under attack"
    assert hermod.count(BOB) == 0


# ------------------------------------------------------------------ bounded memory

def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


# ASan keeps freed memory in a quarantine (256 MiB by default), which would look like
# growth; a small quarantine keeps the measurement about the daemon's own buffers.
SMALL_QUARANTINE = {"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                            "quarantine_size_mb=1"]))}


@pytest.mark.hermod(env=SMALL_QUARANTINE)
def test_endless_command_line_uses_bounded_memory(hermod):
    flood = 32 * 1024 * 1024
    with hermod.raw() as r:
        r.ehlo()
        before = peak_rss_kib(hermod.pid)
        chunk = b"C" * (1024 * 1024)
        sent = 0
        while sent < flood and safe_send(r, chunk):
            sent += len(chunk)
            r.pending(0)
        r.pending(0.5)
    after = peak_rss_kib(hermod.pid)
    grew = (after - before) * 1024
    assert grew < flood // 4, f"peak RSS grew by {grew >> 20} MiB for {sent >> 20} MiB without a newline"
    with hermod.raw() as r2:
        r2.ehlo()


@pytest.mark.hermod(limits={"max_message_size": "100M", "data_timeout": "30s"}, env=SMALL_QUARANTINE)
def test_large_message_is_streamed_with_bounded_memory(hermod):
    line = b"M" * (1024 * 1024 - 2) + b"\r\n"   # 1 MiB lines, far over RFC 5321's 1000
    count = 40
    with hermod.raw(timeout=60) as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        before = peak_rss_kib(hermod.pid)
        r.send(b"Subject: big stream\r\n\r\n")
        for _ in range(count):
            r.send(line)
        r.send(b".\r\n")
        rep = r.reply(60)
        assert rep.code == 250, rep
    after = peak_rss_kib(hermod.pid)
    grew = (after - before) * 1024
    assert grew < count * len(line) // 4, f"peak RSS grew by {grew >> 20} MiB for a {count} MiB message"
    sizes = hermod.folders(ALICE)["INBOX"]
    assert sizes[0] == 1 and sizes[1] >= count * len(line), sizes


# ------------------------------------------------------------------ odd but survivable input

def test_nul_and_control_bytes_in_message(hermod):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        r.expect(250, f"RCPT TO:<{ALICE}>")
        r.expect(354, "DATA")
        r.send(b"Subject: nul\r\n\r\nbefore\x00after\x01\x7f\xff\r\n.\r\n")
        rep = r.reply()
        assert rep.code in (250, 550, 554), rep
        r.expect(250, "NOOP")
    if rep.code == 250:
        [m] = hermod.fetch(ALICE)
        assert body_of(m.raw) == b"before\x00after\x01\x7f\xff\n"


@pytest.mark.parametrize("addr", ["<" + "a" * 65 + "@hosted.test>", "<alice@" + "d" * 256 + ".test>",
                                  "<" + "a" * 60 + "@" + ("x" * 60 + ".") * 4 + "test>"])
def test_overlong_addresses_refused(hermod, addr):
    with hermod.raw() as r:
        r.ehlo()
        r.expect(250, "MAIL FROM:<s@remote.test>")
        rep = r.cmd(f"RCPT TO:{addr}")
        assert rep.code in (501, 550, 553, 554), rep
        rep = r.cmd(f"MAIL FROM:{addr}")
        assert rep.code in (501, 503, 553), rep


@pytest.mark.parametrize("helo", ["", "x" * 2000, "[127.0.0.1]", "[IPv6:::1]", "bad..name", "ünï.test"])
def test_odd_ehlo_arguments(hermod, helo):
    with hermod.raw() as r:
        rep = r.cmd(f"EHLO {helo}".rstrip().encode("utf-8"))
        assert rep.code in (250, 501), rep
        r.expect(250, "NOOP")


def test_concurrent_deliveries_all_stored_once(hermod):
    errors = []
    per_thread = 5

    def worker(n):
        try:
            with hermod.smtp(timeout=20) as s:
                for i in range(per_thread):
                    s.sendmail("s@remote.test", [ALICE, BOB],
                               message(subject=f"c{n}-{i}", body=f"thread {n} message {i}\r\n"))
        except Exception as e:  # collected and reported below
            errors.append(f"{n}: {e!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    want = sorted(f"c{n}-{i}" for n in range(30) for i in range(per_thread))
    for addr in (ALICE, BOB):
        got = sorted(m["Subject"] for m in hermod.fetch(addr))
        assert got == want, (addr, len(got))
