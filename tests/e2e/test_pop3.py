"""POP3 end to end: Python's poplib (plain, STLS, POP3S), curl (pop3, pop3s),
fetchmail, and hostile clients against a real hermod daemon on loopback.

RFC 1939 (USER/PASS, STAT, LIST, RETR, DELE, NOOP, RSET, QUIT, TOP, UIDL),
RFC 2449 CAPA and response codes, RFC 2595 STLS, RFC 5034 AUTH PLAIN/LOGIN.
"""
import base64
import os
import poplib
import shutil
import socket
import subprocess
import threading
import time

import pytest

from hermodtest import PASSWORD, lf
from pop3util import (ALICE, BOB, RawPOP3, deliver, insecure_ctx, pop3_instance,
                      uidvalidity)


@pytest.fixture
def pop(hermod_factory):
    return pop3_instance(hermod_factory)


def poplib_login(inst, tls=None):
    """poplib client logged in as alice: tls None (plain), 'stls' or 'implicit'."""
    if tls == "implicit":
        p = poplib.POP3_SSL("127.0.0.1", inst.pop3s_port, context=insecure_ctx(), timeout=10)
    else:
        p = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=10)
        if tls == "stls":
            p.stls(insecure_ctx())
    p.user(ALICE)
    p.pass_(PASSWORD)
    return p


def crlf(data):
    """Export gives LF line ends; the store (and so POP3) has CRLF."""
    return lf(data).replace(b"\n", b"\r\n")


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


# ---------------------------------------------------------------- the protocol

def test_greeting_and_capa(pop):
    with RawPOP3(pop.pop3_port) as c:
        assert c.greeting.startswith("+OK mx.test.local POP3 server ready")
        assert c.cmd("CAPA").startswith("+OK")
        caps = [l.decode() for l in c.multiline()]
    for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL PLAIN LOGIN",
                "STLS", "IMPLEMENTATION hermod"):
        assert cap in caps, caps
    # On POP3S there is nothing to upgrade.
    with RawPOP3(pop.pop3s_port, tls=True) as c:
        c.ok("CAPA")
        caps = [l.decode() for l in c.multiline()]
        assert "STLS" not in caps and "USER" in caps


@pytest.mark.parametrize("tls", [None, "stls", "implicit"])
def test_poplib_session(pop, tls):
    sent = [deliver(pop, subject=f"msg {i}", body=f"body {i}\r\n.starts with a dot\r\n..two\r\n")
            for i in range(3)]
    stored = [crlf(m.raw) for m in pop.fetch(ALICE)]
    p = poplib_login(pop, tls)
    count, size = p.stat()
    assert count == 3
    assert size == sum(len(m) for m in stored)
    resp, listing, _ = p.list()
    assert resp.startswith(b"+OK 3 messages")
    assert [int(l.split()[1]) for l in listing] == [len(m) for m in stored]
    for i in range(3):
        resp, lines, octets = p.retr(i + 1)
        assert resp == f"+OK {len(stored[i])} octets".encode()
        got = b"\r\n".join(lines) + b"\r\n"
        assert got == stored[i]              # byte for byte, dot-stuffing undone by poplib
        assert b"\r\n.starts with a dot\r\n..two\r\n" in got
        assert sent[i].split(b"\r\n\r\n", 1)[1] in got
    assert p.list(2) == f"+OK 2 {len(stored[1])}".encode()
    assert p.noop().startswith(b"+OK")
    assert p.dele(2) == b"+OK Message 2 deleted"
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto, match="already deleted"):
        p.retr(2)
    with pytest.raises(poplib.error_proto, match="already deleted"):
        p.dele(2)
    assert [l.split()[0] for l in p.list()[1]] == [b"1", b"3"]
    assert p.rset().startswith(b"+OK")
    assert p.stat()[0] == 3
    assert p.quit().startswith(b"+OK")
    assert pop.count(ALICE) == 3


def test_top(pop):
    body = "line one\r\n.dot line\r\nline three\r\nline four\r\n"
    deliver(pop, subject="top test", body=body)
    raw = crlf(pop.fetch(ALICE)[0].raw)
    header = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    p = poplib_login(pop)
    _, lines, _ = p.top(1, 0)
    assert lines == header + [b""]
    _, lines, _ = p.top(1, 2)
    assert lines == header + [b"", b"line one", b".dot line"]
    _, lines, _ = p.top(1, 100)
    assert lines == header + [b"", b"line one", b".dot line", b"line three", b"line four"]
    with pytest.raises(poplib.error_proto, match="No such message"):
        p.top(2, 1)
    with pytest.raises(poplib.error_proto, match="Invalid number of lines"):
        p._shortcmd("TOP 1 -1")
    p.quit()


def test_uidl_stable_and_shared_with_imap_identity(pop):
    for i in range(3):
        deliver(pop, subject=f"u{i}")
    v = uidvalidity(pop)
    p = poplib_login(pop)
    _, lines, _ = p.uidl()
    assert lines == [f"{i} {v}.{i}".encode() for i in (1, 2, 3)]
    assert p.uidl(2) == f"+OK 2 {v}.2".encode()
    p.dele(1)
    p.quit()
    deliver(pop, subject="u3")
    p = poplib_login(pop)
    _, lines, _ = p.uidl()
    # Renumbered messages keep their unique ids; the new one gets a fresh id.
    assert lines == [f"1 {v}.2".encode(), f"2 {v}.3".encode(), f"3 {v}.4".encode()]
    p.quit()


def test_auth_plain_and_login(pop):
    deliver(pop)
    with RawPOP3(pop.pop3_port) as c:
        assert c.cmd("AUTH") == "+OK Supported mechanisms follow"
        assert c.multiline() == [b"PLAIN", b"LOGIN"]
        # PLAIN with an initial response (RFC 5034 4).
        assert c.cmd("AUTH PLAIN " + b64(f"\0{ALICE}\0{PASSWORD}")).startswith("+OK Logged in, maildrop has 1")
        c.ok("QUIT")
    with RawPOP3(pop.pop3_port) as c:
        assert c.cmd("AUTH PLAIN") == "+ "
        c.ok(b64(f"{ALICE}\0{ALICE}\0{PASSWORD}"))
        c.ok("STAT")
    with RawPOP3(pop.pop3_port) as c:
        assert c.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
        assert c.cmd(b64(ALICE)) == "+ UGFzc3dvcmQ6"
        c.ok(b64(PASSWORD))
    with RawPOP3(pop.pop3_port) as c:
        assert c.cmd("AUTH LOGIN " + b64(ALICE)) == "+ UGFzc3dvcmQ6"
        c.ok(b64(PASSWORD))
    with RawPOP3(pop.pop3_port) as c:
        # Cancel, malformed, proxy authzid and unknown mechanism: refused, the session goes on.
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd("*") == "-ERR Authentication cancelled"
        assert c.cmd("AUTH PLAIN not-base64!").startswith("-ERR [AUTH] malformed PLAIN message")
        assert "proxy" in c.cmd("AUTH PLAIN " + b64(f"{BOB}\0{ALICE}\0{PASSWORD}"))
        assert c.cmd("AUTH CRAM-MD5").startswith("-ERR Unsupported authentication mechanism")
        c.ok("AUTH PLAIN " + b64(f"\0{ALICE}\0{PASSWORD}"))


def test_commands_in_the_wrong_state(hermod_factory):
    pop = pop3_instance(hermod_factory, limits={"max_errors": "50"})
    with RawPOP3(pop.pop3_port) as c:
        assert c.cmd("STAT") == "-ERR Log in first (USER and PASS, or AUTH)"
        assert c.cmd("RETR 1").startswith("-ERR Log in first")
        assert c.cmd("PASS x") == "-ERR Send USER first"
        assert c.cmd("XYZZY") == "-ERR Unknown command: XYZZY"
        c.login()
        assert c.cmd("USER bob@hosted.test") == "-ERR Not valid after login"
        assert c.cmd("STLS") == "-ERR Not valid after login"
        assert c.cmd("RETR") == "-ERR Syntax: RETR <message number>"
        assert c.cmd("RETR 0").startswith("-ERR No such message")
        assert c.cmd("RETR 1x") == "-ERR Invalid message number"
        assert c.cmd("LIST 1 2") == "-ERR Too many arguments"
        assert c.cmd("STAT 1") == "-ERR Syntax: STAT"


def test_pipelining(pop):
    for i in range(2):
        deliver(pop, subject=f"p{i}")
    with RawPOP3(pop.pop3_port) as c:
        c.send(f"USER {ALICE}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 1\r\nUIDL 2\r\nNOOP\r\n")
        assert c.line().startswith("+OK")
        assert c.line().startswith("+OK Logged in")
        assert c.line().startswith("+OK 2 ")
        assert c.line().startswith("+OK 2 messages")
        assert len(c.multiline()) == 2
        assert c.line().endswith("octets")
        assert b"Subject: p0" in b"\r\n".join(c.multiline())
        assert c.line().startswith("+OK 2 ")
        assert c.line() == "+OK"


def test_large_message_streamed(pop):
    # 6 MiB of 1 KiB lines, some starting with dots: streamed in chunks, byte-exact.
    line = "." + "x" * 1021 + "\r\n"
    body = "".join(line if i % 7 == 0 else line[1:] + "y" for i in range(6 * 1024))
    deliver(pop, subject="big", body=body)
    raw = crlf(pop.fetch(ALICE)[0].raw)
    p = poplib_login(pop)
    resp, lines, octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == raw
    p.quit()


def test_read_ahead_out_of_order_and_large_between_small(pop):
    # After a RETR the following small messages are read ahead; RETR in any order, TOP,
    # and a large message among small ones must all answer the stored bytes exactly.
    subjects = [f"r{i}" for i in range(6)]
    for i, sub in enumerate(subjects):
        deliver(pop, subject=sub, body=("L" * 1000 + "\r\n") * 300 if i == 3 else f"small {i}\r\n")
    stored = [crlf(m.raw) for m in pop.fetch(ALICE)]
    p = poplib_login(pop)
    for n in (1, 2, 6, 5, 4, 3, 2, 1):
        resp, lines, octets = p.retr(n)
        assert b"\r\n".join(lines) + b"\r\n" == stored[n - 1], n
    resp, lines, octets = p.top(2, 0)
    assert b"Subject: r1" in b"\r\n".join(lines)
    p.quit()


def test_dele_and_rset_of_read_ahead_messages(pop):
    for i in range(4):
        deliver(pop, subject=f"a{i}")
    p = poplib_login(pop)
    p.retr(1)                 # 2..4 are now read ahead
    p.dele(2)
    with pytest.raises(poplib.error_proto, match="deleted"):
        p.retr(2)
    assert p.stat()[0] == 3
    p.rset()
    assert p.stat()[0] == 4
    assert b"Subject: a1" in b"\r\n".join(p.retr(2)[1])
    p.dele(3)
    assert p.quit().startswith(b"+OK")
    assert [m["Subject"] for m in pop.fetch(ALICE)] == ["a0", "a1", "a3"]


def test_pipelined_retrs_then_dele_and_quit(pop):
    n = 40
    for i in range(n):
        deliver(pop, subject=f"q{i}")
    with RawPOP3(pop.pop3_port) as c:
        cmds = [f"USER {ALICE}", f"PASS {PASSWORD}"] + [f"RETR {i}" for i in range(1, n + 1)]
        cmds += [f"DELE {i}" for i in range(1, n + 1)] + ["QUIT"]
        c.send("".join(x + "\r\n" for x in cmds))
        assert c.line().startswith("+OK") and c.line().startswith("+OK Logged in")
        for i in range(n):
            assert c.line().endswith("octets")
            assert f"Subject: q{i}".encode() in b"\r\n".join(c.multiline())
        for i in range(n):
            assert c.line().startswith("+OK")
        assert c.line().startswith("+OK Logging out, 40 messages deleted")
    assert pop.fetch(ALICE) == []


# ---------------------------------------------------------------- deletion semantics

def test_quit_after_dele_deletes_durably(pop):
    for i in range(3):
        deliver(pop, subject=f"d{i}")
    p = poplib_login(pop)
    p.dele(1)
    p.dele(3)
    assert p.quit() == b"+OK Logging out, 2 messages deleted"
    pop.stop()
    pop.start()
    msgs = pop.fetch(ALICE)
    assert [m["Subject"] for m in msgs] == ["d1"]
    p = poplib_login(pop)
    assert p.stat()[0] == 1
    p.quit()
    # the address's action history says who deleted what, from where
    history = pop.cli("history", ALICE).stdout.decode()
    assert "delete" in history and "pop3: 2 messages" in history and "127.0.0.1" in history, history
    assert "login" in history, history


def test_dropped_connection_deletes_nothing(pop):
    for i in range(2):
        deliver(pop, subject=f"k{i}")
    with RawPOP3(pop.pop3_port) as c:
        c.login()
        c.ok("DELE 1")
        c.ok("DELE 2")
    time.sleep(0.3)
    assert pop.count(ALICE) == 2
    # and the lock went with the session
    p = poplib_login(pop)
    assert p.stat()[0] == 2
    p.quit()


def test_drop_in_the_middle_of_retr(pop):
    # A client that vanishes while a 4 MiB message streams: its read in flight is
    # cancelled, nothing leaks (the sanitizer build checks), the lock is released.
    deliver(pop, subject="big", body="z" * 1000 + "\r\n" * 1 + ("y" * 998 + "\r\n") * 4096)
    for _ in range(3):
        c = RawPOP3(pop.pop3_port)
        c.login()
        c.send("RETR 1\r\n")
        assert c.line().startswith("+OK")
        c.close()
    p = poplib_login(pop)
    assert p.stat()[0] == 1
    p.quit()


def test_second_session_in_use(pop):
    deliver(pop)
    with RawPOP3(pop.pop3_port) as first:
        first.login()
        with RawPOP3(pop.pop3_port) as second:
            second.ok(f"USER {ALICE}")
            assert second.cmd(f"PASS {PASSWORD}") == "-ERR [IN-USE] Mailbox is locked by another POP3 session"
            # still in AUTHORIZATION: another address works
            second.ok(f"USER {BOB}")
            second.ok(f"PASS {PASSWORD}")
        first.ok("QUIT")
    p = poplib_login(pop)
    p.quit()


# ---------------------------------------------------------------- authentication and abuse

@pytest.mark.parametrize("limits", [{"auth_failure_delay": "1s", "auth_max_failures": "3", "auth_lockout": "10m"}])
def test_wrong_password_delayed_then_lockout(hermod_factory, limits):
    inst = pop3_instance(hermod_factory, limits=limits)
    with RawPOP3(inst.pop3_port) as c:
        c.ok(f"USER {ALICE}")
        t0 = time.monotonic()
        assert c.cmd("PASS wrong-password", timeout=20) == "-ERR [AUTH] Authentication failed"
        assert time.monotonic() - t0 >= 1.0
        # an unknown address gets the very same answer
        c.ok("USER nobody@hosted.test")
        assert c.cmd("PASS wrong-password", timeout=20) == "-ERR [AUTH] Authentication failed"
        c.ok(f"USER {BOB}")
        assert c.cmd("PASS wrong-password", timeout=20) == "-ERR [AUTH] Authentication failed"
    with RawPOP3(inst.pop3_port) as c:
        c.ok(f"USER {ALICE}")
        r = c.cmd(f"PASS {PASSWORD}", timeout=20)   # the right password, but locked out
        assert r.startswith("-ERR [AUTH] Too many failed logins from 127.0.0.1; try again in "), r
        assert "minutes" in r
    log = inst.log()
    assert "event=lockout ip=127.0.0.1" in log
    assert "wrong-password" in log and "reason=wrong-password" in log
    assert "PASS wrong-password" not in log and PASSWORD not in log


def test_plaintext_refused_unless_tls(hermod_factory):
    inst = pop3_instance(hermod_factory, plaintext_auth="never")
    refusal = "-ERR [AUTH] Plaintext authentication is disabled; use STLS or the POP3S port"
    with RawPOP3(inst.pop3_port) as c:
        c.ok("CAPA")
        caps = [l.decode() for l in c.multiline()]
        assert "USER" not in caps and "STLS" in caps
        assert c.cmd(f"USER {ALICE}") == refusal
        assert c.cmd("AUTH PLAIN " + b64(f"\0{ALICE}\0{PASSWORD}")) == refusal
        c.ok("STLS")
        c.starttls()
        c.login()
    with RawPOP3(inst.pop3s_port, tls=True) as c:
        c.login()


def test_stls_discards_pipelined_plaintext(pop):
    with RawPOP3(pop.pop3_port) as c:
        c.send(f"STLS\r\nUSER {ALICE}\r\nPASS {PASSWORD}\r\n")
        assert c.line() == "+OK Begin TLS negotiation"
        assert c.buf == b""
        c.starttls()
        # The injected USER/PASS were dropped: nothing is waiting, and PASS needs a USER.
        assert c.pending(0.5) == b""
        assert c.cmd(f"PASS {PASSWORD}") == "-ERR Send USER first"
        c.login()


def test_overlong_line_and_too_many_errors(hermod_factory):
    inst = pop3_instance(hermod_factory, limits={"max_errors": "3"})
    with RawPOP3(inst.pop3_port) as c:
        c.send("NOOP " + "x" * 100000 + "\r\n")
        assert c.line() == "-ERR Line too long (the limit is 4096 bytes)"
        c.ok("CAPA")
        c.multiline()
        assert c.cmd("BOGUS").startswith("-ERR Unknown command")
        # the third error is answered, then the session ends
        assert c.cmd("BOGUS") == "-ERR Unknown command: BOGUS"
        assert c.line() == "-ERR Too many errors, closing the connection"
        c.wait_closed()


def test_timeout_before_login(hermod_factory):
    inst = pop3_instance(hermod_factory, limits={"command_timeout": "1s"})
    with RawPOP3(inst.pop3_port) as c:
        c.send("CA")   # a trickle without a line end does not reset the timer
        time.sleep(0.5)
        c.send("P")
        assert c.wait_closed(5).endswith(b"-ERR Disconnected for inactivity\r\n")


def test_shutdown_closes_sessions(pop):
    with RawPOP3(pop.pop3_port) as c:
        c.login()
        pop.stop()
        assert b"-ERR [SYS/TEMP] Server shutting down" in c.wait_closed()


# ---------------------------------------------------------------- real clients

def test_curl_pop3_and_pop3s(pop):
    deliver(pop, subject="curl one", body="first body\r\n")
    deliver(pop, subject="curl two", body="second body\r\n")
    creds = f"{ALICE}:{PASSWORD}"
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", creds, f"pop3://127.0.0.1:{pop.pop3_port}/"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert [l.split()[0] for l in r.stdout.splitlines()] == [b"1", b"2"]
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--insecure", "-u", creds,
                        f"pop3s://127.0.0.1:{pop.pop3s_port}/2"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"Subject: curl two" in r.stdout and b"second body" in r.stdout
    # STLS required by curl (--ssl-reqd) on the plain port
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--ssl-reqd", "--insecure", "-u", creds,
                        f"pop3://127.0.0.1:{pop.pop3_port}/1"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"first body" in r.stdout
    # curl's RETR leaves the messages on the server
    assert pop.count(ALICE) == 2


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed (scripts/install-deps)")
@pytest.mark.parametrize("mode", ["stls", "pop3s"])
def test_fetchmail_downloads_and_deletes(pop, tmp_path, mode):
    subjects = [f"fetch {mode} {i}" for i in range(3)]
    for s in subjects:
        deliver(pop, subject=s, body=f"body of {s}\r\n.dot\r\n")
    out = tmp_path / "delivered.mbox"
    rc = tmp_path / "fetchmailrc"
    port = pop.pop3_port if mode == "stls" else pop.pop3s_port
    tls = "sslproto TLS1.2+ no sslcertck" if mode == "stls" else "ssl no sslcertck"
    rc.write_text(
        f'poll 127.0.0.1 protocol POP3 port {port} uidl\n'
        f'  user "{ALICE}" password "{PASSWORD}" is "{os.environ.get("USER", "root")}" here\n'
        f'  {tls} mda "cat >> {out}"\n')
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nodetach", "--idfile", str(tmp_path / "ids"),
                        "--pidfile", str(tmp_path / "pid"), "-v"],
                       capture_output=True, timeout=60, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")[-3000:]
    got = out.read_bytes()
    for s in subjects:
        assert f"Subject: {s}".encode() in got
    assert b"\n.dot\n" in lf(got)
    # "POP3 retrieval deletes unless keep": gone from the server, durably.
    assert pop.count(ALICE) == 0
    assert "deleted=3" in pop.log()
