"""Real IMAP clients against the daemon: curl (imap://, imaps://), mbsync (isync)
syncing both ways with a local Maildir, neomutt in a pseudo-terminal, and two
concurrent imaplib sessions (RFC 3501 5.2/7.4.1, RFC 2177 IDLE).

Each test gets its own daemon (the `hermod` fixture: free loopback ports,
plaintext_auth loopback). `HERMOD_E2E_PEER=dovecot` runs the same tests against
a private Debian Dovecot instead, to check the tests against a reference server.
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import clientutil
from clientutil import USER, Idle, Mbsync, PtyProgram, message, strip_ansi, subjects, uids


def _need(program):
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed: run scripts/install-deps")


@pytest.fixture
def peer(request):
    if os.environ.get("HERMOD_E2E_PEER") == "dovecot":
        p = clientutil.DovecotPeer()
        p.start()
        yield p
        p.stop()
    else:
        yield clientutil.HermodPeer(request.getfixturevalue("hermod"))


def _select(c, mailbox="INBOX"):
    typ, data = c.select(mailbox)
    assert typ == "OK", (typ, data)
    return int(data[0])


# ---------------------------------------------------------------- curl

def test_curl_imap_lists_mailboxes(peer):
    _need("curl")
    r = clientutil.curl(f"imap://127.0.0.1:{peer.imap_port}/")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    lines = [l for l in out.splitlines() if l.startswith("* LIST")]
    assert lines, f"no LIST lines in curl's output: {out!r}"
    assert any(re.search(r'\sINBOX$|\s"INBOX"$', l) for l in lines), out


def test_curl_imap_fetch_by_uid_and_search(peer):
    _need("curl")
    peer.deliver(message("curl first", "first body\r\n"))
    peer.deliver(message("curl second", "second body line\r\n"))
    c = peer.imap()
    _select(c)
    second = [u for u, s in subjects(c).items() if s == "curl second"]
    c.logout()
    assert len(second) == 1
    url = f"imap://127.0.0.1:{peer.imap_port}/INBOX/;UID={second[0]}"
    r = clientutil.curl(url)
    assert r.returncode == 0, r.stderr
    assert b"Subject: curl second" in r.stdout
    assert b"second body line" in r.stdout
    assert b"curl first" not in r.stdout
    # curl sends SEARCH for a query part: the answer is the message's sequence number
    r = clientutil.curl(f"imap://127.0.0.1:{peer.imap_port}/INBOX?SUBJECT%20second")
    assert r.returncode == 0, r.stderr
    assert re.search(rb"^\* SEARCH 2\s*$", r.stdout, re.M), r.stdout


def test_curl_imap_append_upload(peer, tmp_path):
    _need("curl")
    body = "uploaded with curl -T\r\n" + "".join(f"line {i}\r\n" for i in range(200))
    path = tmp_path / "up.eml"
    path.write_bytes(message("curl upload", body))
    r = clientutil.curl("-T", str(path), f"imap://127.0.0.1:{peer.imap_port}/INBOX")
    assert r.returncode == 0, r.stderr
    c = peer.imap()
    _select(c)
    found = [u for u, s in subjects(c).items() if s == "curl upload"]
    assert len(found) == 1, subjects(c)
    typ, data = c.uid("FETCH", str(found[0]), "(BODY.PEEK[] RFC822.SIZE)")
    assert typ == "OK"
    assert data[0][1] == path.read_bytes(), "APPENDed message not stored byte for byte"
    c.logout()


def test_curl_imaps_list_append_fetch(peer, tmp_path):
    _need("curl")
    base = f"imaps://127.0.0.1:{peer.imaps_port}"
    r = clientutil.curl("--insecure", base + "/")
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout
    path = tmp_path / "tls.eml"
    path.write_bytes(message("over imaps", "sent over implicit TLS\r\n"))
    r = clientutil.curl("--insecure", "-T", str(path), base + "/INBOX")
    assert r.returncode == 0, r.stderr
    c = peer.imaps()
    _select(c)
    uid = [u for u, s in subjects(c).items() if s == "over imaps"]
    c.logout()
    assert len(uid) == 1
    r = clientutil.curl("--insecure", f"{base}/INBOX/;UID={uid[0]}")
    assert r.returncode == 0, r.stderr
    assert b"sent over implicit TLS" in r.stdout


def test_curl_imap_wrong_password_fails(peer):
    _need("curl")
    r = clientutil.curl(f"imap://127.0.0.1:{peer.imap_port}/", password="wrong-password", timeout=30)
    assert r.returncode == 67, (r.returncode, r.stderr)  # CURLE_LOGIN_DENIED


# ---------------------------------------------------------------- mbsync

def _server_subjects(peer):
    c = peer.imap()
    _select(c)
    s = subjects(c)
    c.logout()
    return s


def test_mbsync_two_way_sync(peer, tmp_path):
    _need("mbsync")
    for i in range(3):
        peer.deliver(message(f"server msg {i}", f"server body {i}\r\n"))
    m = Mbsync(peer, str(tmp_path))
    m.run()
    local = m.by_subject()
    assert {f"server msg {i}" for i in range(3)} <= set(local), local
    with open(local["server msg 1"][0], "rb") as f:
        assert b"server body 1" in f.read()

    m.add_local(message("made locally", "written into the local Maildir\r\n"))
    m.run()
    server = _server_subjects(peer)
    assert sorted(server.values()) == sorted(["made locally"] + [f"server msg {i}" for i in range(3)])
    peer.deliver(message("later on server"))
    m.run()
    m.run()  # idempotent: a second pass changes nothing and duplicates nothing
    assert sorted(m.by_subject()) == sorted(["made locally", "later on server"]
                                            + [f"server msg {i}" for i in range(3)])
    assert len(_server_subjects(peer)) == 5


def test_mbsync_flags_propagate(peer, tmp_path):
    _need("mbsync")
    for s in ("flag on server", "flag locally"):
        peer.deliver(message(s))
    m = Mbsync(peer, str(tmp_path))
    m.run()
    c = peer.imap()
    _select(c)
    by_subj = {s: u for u, s in subjects(c).items()}
    typ, _ = c.uid("STORE", str(by_subj["flag on server"]), "+FLAGS", r"(\Flagged)")
    assert typ == "OK"
    c.logout()
    # locally: mark "flag locally" as seen and replied (maildir info S, R)
    path, info = m.by_subject()["flag locally"]
    base = os.path.basename(path).split(":2,")[0]
    os.rename(path, os.path.join(m.inbox, "cur", base + ":2," + "".join(sorted(set(info) | {"R", "S"}))))
    m.run()
    assert "F" in m.by_subject()["flag on server"][1]
    c = peer.imap()
    _select(c)
    fl = clientutil.flags_by_uid(c)
    c.logout()
    assert {r"\Seen", r"\Answered"} <= fl[by_subj["flag locally"]], fl
    assert r"\Flagged" in fl[by_subj["flag on server"]]
    assert r"\Seen" not in fl[by_subj["flag on server"]]


def test_mbsync_deletions_propagate_with_expunge_both(peer, tmp_path):
    _need("mbsync")
    for s in ("keep me", "delete on server", "delete locally"):
        peer.deliver(message(s))
    m = Mbsync(peer, str(tmp_path))
    m.run()
    assert len(m.files()) == 3
    c = peer.imap()
    _select(c)
    by_subj = {s: u for u, s in subjects(c).items()}
    c.uid("STORE", str(by_subj["delete on server"]), "+FLAGS", r"(\Deleted)")
    typ, _ = c.expunge()
    assert typ == "OK"
    c.logout()
    os.unlink(m.by_subject()["delete locally"][0])
    m.run()
    assert sorted(m.by_subject()) == ["keep me"]
    assert sorted(_server_subjects(peer).values()) == ["keep me"]


# ---------------------------------------------------------------- neomutt

NEOMUTT_RC = """\
set folder="imap://{user}@127.0.0.1:{port}/"
set spoolfile="+INBOX"
set imap_user="{login}"
set imap_pass="{password}"
set ssl_starttls=no
set ssl_force_tls=no
set imap_check_subscribed=no
set mail_check_stats=no
set header_cache=""
set message_cachedir=""
set move=no
set confirmappend=no
set quit=yes
set sort=date
set timeout=5
set pager_stop=yes
set pager_index_lines=0
set wait_key=no
"""


def test_neomutt_reads_inbox_in_a_terminal(peer, tmp_path):
    _need("neomutt")
    peer.deliver(message("neomutt alpha", "alpha body text\r\n"))
    peer.deliver(message("neomutt beta", "the beta message body\r\n"))
    rc = tmp_path / "muttrc"
    rc.write_text(NEOMUTT_RC.format(user=USER.replace("@", "%40"), port=peer.imap_port,
                                    login=USER, password=peer.password))
    env = dict(os.environ, TERM="xterm", HOME=str(tmp_path), LANG="C.UTF-8", LC_ALL="C.UTF-8")
    p = PtyProgram(["neomutt", "-n", "-F", str(rc)], env=env)
    try:
        p.read_until(b"neomutt beta", timeout=30)
        p.read_until(b"neomutt alpha", timeout=5)
        screen = strip_ansi(p.screen)
        assert "INBOX" in screen or "Inbox" in screen or "+INBOX" in screen, screen[-2000:]
        # open the message under the cursor in the pager, then back to the index and quit
        p.send(b"\r")
        deadline = time.monotonic() + 15
        opened = None
        while opened is None:
            for subj, text in (("neomutt alpha", b"alpha body text"), ("neomutt beta", b"the beta message body")):
                if text in p.screen:
                    opened = subj
            if opened is None:
                assert time.monotonic() < deadline, strip_ansi(p.screen)[-2000:]
                p.poll()
        p.send(b"q")
        time.sleep(0.3)
        p.send(b"q")
        rc_ = p.wait(timeout=15)
        assert rc_ == 0, f"neomutt exited with {rc_}; screen:\n{strip_ansi(p.screen)[-2000:]}"
    finally:
        p.kill()
    # reading it in neomutt set \Seen on the server
    c = peer.imap()
    _select(c)
    by_subj = {s: u for u, s in subjects(c).items()}
    fl = clientutil.flags_by_uid(c)
    c.logout()
    other = "neomutt alpha" if opened == "neomutt beta" else "neomutt beta"
    assert r"\Seen" in fl[by_subj[opened]], fl
    assert r"\Seen" not in fl[by_subj[other]], fl


# ---------------------------------------------------------------- two sessions

def _two_sessions(peer, n):
    for i in range(n):
        peer.deliver(message(f"shared {i}"))
    a, b = peer.imap(), peer.imap()
    assert _select(a) == n
    assert _select(b) == n
    clientutil.drain_untagged(a)
    clientutil.drain_untagged(b)
    return a, b


def test_flag_change_seen_by_other_session_after_noop(peer):
    a, b = _two_sessions(peer, 2)
    typ, _ = a.store("2", "+FLAGS", r"(\Flagged)")
    assert typ == "OK"
    typ, _ = b.noop()
    assert typ == "OK"
    got = clientutil.drain_untagged(b)
    fetches = [f for f in got.get("FETCH", []) if f]
    assert any(re.match(rb"2 \(.*FLAGS \([^)]*\\Flagged", f) for f in fetches), got
    assert not any(f.startswith(b"1 ") for f in fetches), f"message 1 did not change: {got}"
    a.logout()
    b.logout()


def test_expunge_seen_by_other_session_after_noop(peer):
    a, b = _two_sessions(peer, 3)
    a.store("2", "+FLAGS", r"(\Deleted)")
    typ, data = a.expunge()
    assert typ == "OK" and data == [b"2"], data
    typ, _ = b.noop()
    got = clientutil.drain_untagged(b)
    assert got.get("EXPUNGE") == [b"2"], got
    # b's view is renumbered: 2 messages, UIDs of the first and third
    typ, data = b.search(None, "ALL")
    assert data[0].split() == [b"1", b"2"]
    a.logout()
    b.logout()


def test_new_delivery_seen_by_noop(peer):
    a, b = _two_sessions(peer, 1)
    peer.deliver(message("arrives later"))
    typ, _ = b.noop()
    got = clientutil.drain_untagged(b)
    assert got.get("EXISTS") == [b"2"], got
    assert subjects(b)[max(uids(b))] == "arrives later"
    a.logout()
    b.logout()


def test_idle_reports_smtp_delivery_within_a_second(peer):
    a, b = _two_sessions(peer, 1)
    idle = Idle(b)
    idle.start()
    peer.deliver(message("during idle"))  # returns once the message is durable
    t0 = time.monotonic()
    idle.wait_for(rb"^\* 2 EXISTS", timeout=3)
    took = time.monotonic() - t0
    idle.done()
    assert took < 1.0, f"IDLE reported the delivery after {took:.2f}s (must be within 1s)"
    assert subjects(b)[max(uids(b))] == "during idle"
    a.logout()
    b.logout()


def test_idle_reports_other_sessions_flags_and_expunge(peer):
    a, b = _two_sessions(peer, 3)
    idle = Idle(b)
    idle.start()
    a.store("1", "+FLAGS", r"(\Seen)")
    idle.wait_for(rb"^\* 1 FETCH \(.*\\Seen", timeout=2)
    a.store("3", "+FLAGS", r"(\Deleted)")
    a.expunge()
    idle.wait_for(rb"^\* 3 EXPUNGE", timeout=2)
    idle.done()
    typ, data = b.search(None, "ALL")
    assert data[0].split() == [b"1", b"2"]
    a.logout()
    b.logout()


def test_append_in_one_session_seen_as_exists_in_other(peer, tmp_path):
    a, b = _two_sessions(peer, 1)
    typ, data = a.append("INBOX", None, None, message("appended by a"))
    assert typ == "OK", data
    b.noop()
    got = clientutil.drain_untagged(b)
    assert got.get("EXISTS") == [b"2"], got
    typ, data = b.fetch("2", "(FLAGS)")
    assert typ == "OK"
    a.logout()
    b.logout()


# ---------------------------------------------------------------- imapflow (npm)

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def _imapflow_ready():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed (imapflow test is optional)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "imapflow")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           capture_output=True, timeout=180)
        if r.returncode != 0:
            pytest.skip("npm ci failed (registry unreachable?): "
                        + r.stderr.decode(errors="replace")[-300:])


def test_imapflow_list_fetch_flags_append_download(peer):
    _imapflow_ready()
    peer.deliver(message("for imapflow one"))
    peer.deliver(message("for imapflow two"))
    r = subprocess.run(["node", os.path.join(NODE_DIR, "imapflow_check.js"), str(peer.imap_port),
                        peer.user, peer.password], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    out = json.loads(r.stdout)
    assert any(m["path"] == "INBOX" for m in out["mailboxes"]), out["mailboxes"]
    assert out["exists"] == 2
    assert [m["subject"] for m in out["messages"]] == ["for imapflow one", "for imapflow two"]
    assert all(m["type"] == "text/plain" for m in out["messages"]), out["messages"]
    assert out["appendUid"] and out["appendUid"] > max(m["uid"] for m in out["messages"])
    assert "hello from imapflow" in out["downloaded"]
    assert out["searchFlagged"] == [out["messages"][0]["uid"]]
