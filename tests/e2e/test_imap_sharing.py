"""IMAP SELECT from the daemon's shared folder snapshots (src/imap/imap_viewcache.c)
against the real daemon: a SELECT after another session's (or a closed session's)
SELECT reuses its snapshot, and still shows every durable change made since, while
a session that is already selected sees other sessions' changes only at its own
safe points (NOOP), with the usual EXPUNGE/EXISTS/FETCH responses."""
import re

import pytest

import hermodtest
from imaputil import RawIMAP

USER = "alice@hosted.test"


def msg(i):
    return (f"From: a@remote.test\r\nTo: {USER}\r\nSubject: m{i}\r\n\r\nbody {i}\r\n").encode()


@pytest.fixture
def inst(hermod_factory):
    """A daemon that logs at debug level, so the test can tell how each SELECT was answered."""
    i = hermod_factory()
    with open(i.conf) as f:
        text = f.read()
    with open(i.conf, "w") as f:
        f.write(text.replace("log_level info", "log_level debug"))
    i.start()
    return i


def session(inst, mailbox="INBOX", verb="SELECT"):
    r = RawIMAP(inst.imap_port)
    lines = r.cmd("l", f"LOGIN {USER} {hermodtest.PASSWORD}")
    assert lines[-1].startswith("l OK"), lines
    lines = r.cmd("s", f"{verb} {mailbox}")
    assert lines[-1].startswith("s OK"), lines
    return r, lines


def exists(lines):
    return [int(m.group(1)) for m in (re.match(r"\* (\d+) EXISTS$", ln) for ln in lines) if m]


def state(r):
    """{uid: sorted flags} of the selected mailbox, from FETCH 1:* (UID FLAGS), without
    \\Recent (which session holds it is test_imap_rfc.py's subject, not the snapshots')."""
    lines = r.cmd("f", "FETCH 1:* (UID FLAGS)")
    assert lines[-1].startswith("f OK"), lines
    out = {}
    for ln in lines[:-1]:
        m = re.match(r"\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)$", ln)
        assert m, ln
        out[int(m.group(1))] = sorted(f for f in m.group(2).split() if f != "\\Recent")
    return out


def select_views(inst, offset):
    """How each SELECT since offset got its messages: cached, caught-up or listed."""
    return re.findall(r"event=select folder=\d+ messages=\d+ view=([a-z-]+)", inst.log(offset))


def test_new_session_after_changes_sees_them(inst):
    for i in range(6):
        inst.deliver(USER, msg(i))
    a, lines = session(inst)
    assert exists(lines) == [6]
    assert state(a) == {u: [] for u in range(1, 7)}
    a.cmd("x", "LOGOUT")
    mark = len(inst.log())

    # the same state again: the snapshot is reused as it is
    b, lines = session(inst)
    assert exists(lines) == [6]
    assert state(b) == {u: [] for u in range(1, 7)}
    # changes by b (each durable at its tagged OK), then b closes the folder
    assert b.cmd("t", "STORE 2 +FLAGS (\\Flagged $Work)")[-1].startswith("t OK")
    assert b.cmd("u", "STORE 3 +FLAGS (\\Deleted)")[-1].startswith("u OK")
    assert b.cmd("e", "EXPUNGE")[-1].startswith("e OK")
    b.cmd("c", "CLOSE")
    b.cmd("x", "LOGOUT")
    inst.deliver(USER, msg(6))
    inst.deliver(USER, msg(7))

    # a new session must see all of it at once, not the snapshot of before
    c, lines = session(inst)
    assert exists(lines) == [7]
    want = {1: [], 2: ["$Work", "\\Flagged"], 4: [], 5: [], 6: [], 7: [], 8: []}
    assert state(c) == want
    # EXAMINE of the same folder too (read-only, same snapshot)
    d, lines = session(inst, verb="EXAMINE")
    assert exists(lines) == [7]
    assert state(d) == want
    assert select_views(inst, mark) == ["cached", "caught-up", "cached"]


def test_two_sessions_share_a_snapshot_but_not_their_changes(inst):
    for i in range(4):
        inst.deliver(USER, msg(i))
    a, _ = session(inst)
    b, lines = session(inst)
    d, _ = session(inst)
    assert exists(lines) == [4]
    assert select_views(inst, 0) == ["listed", "cached", "cached"]

    # a changes flags: b takes the change at its NOOP, d (same snapshot) must not see it before its own
    assert a.cmd("t", "STORE 1 +FLAGS (\\Seen)")[-1].startswith("t OK")
    lines = b.cmd("n", "NOOP")
    assert any(re.match(r"\* 1 FETCH \(FLAGS \(\\Seen\)", ln) for ln in lines), lines
    assert state(d) == {1: [], 2: [], 3: [], 4: []}
    lines = d.cmd("n", "NOOP")
    assert any(re.match(r"\* 1 FETCH \(FLAGS \(\\Seen\)", ln) for ln in lines), lines

    # a expunges, and a message arrives; b, in the middle of its own work, does not see it...
    assert a.cmd("m", "UID MOVE 3 Trash")[-1].startswith("m OK")
    inst.deliver(USER, msg(4))
    lines = b.cmd("f", "FETCH 1:* (UID FLAGS)")  # FETCH is not a point where EXPUNGE may be sent
    assert not any("EXPUNGE" in ln for ln in lines), lines
    assert sum(" FETCH (UID " in ln for ln in lines) == 4, lines
    assert "* 3 FETCH (UID 3 FLAGS ())" in lines, lines

    # ... until its next safe point, where it gets the lot in the RFC 3501 order
    lines = b.cmd("n", "NOOP")
    assert lines.index("* 3 EXPUNGE") < lines.index("* 4 EXISTS"), lines
    assert state(b) == {1: ["\\Seen"], 2: [], 4: [], 5: []}
    # b's own change is not shown to a before a's safe point either, and a's view is its own
    assert b.cmd("t", "STORE 2 +FLAGS (\\Answered)")[-1].startswith("t OK")
    assert state(a) == {1: ["\\Seen"], 2: [], 4: []}  # FETCH: no EXISTS/EXPUNGE/FETCH from others yet
    lines = a.cmd("n", "NOOP")
    assert "* 4 EXISTS" in lines, lines
    assert state(a) == {1: ["\\Seen"], 2: ["\\Answered"], 4: [], 5: []}

    # a third session, selecting now, starts from the current state
    c, lines = session(inst)
    assert exists(lines) == [4]
    assert state(c) == {1: ["\\Seen"], 2: ["\\Answered"], 4: [], 5: []}
    assert select_views(inst, 0)[-1] == "caught-up"


def test_snapshot_not_reused_across_folders_or_recreation(inst):
    for i in range(3):
        inst.deliver(USER, msg(i))
    a, _ = session(inst)
    assert a.cmd("c", "COPY 1:2 Work")[-1].startswith("c NO")  # no such folder yet
    assert a.cmd("k", "CREATE Work")[-1].startswith("k OK")
    assert a.cmd("c", "COPY 1:2 Work")[-1].startswith("c OK")
    assert a.cmd("s", "SELECT Work")[-1].startswith("s OK")
    assert state(a) == {1: [], 2: []}
    # the folder deleted and created again under the same name: a new UIDVALIDITY, empty
    assert a.cmd("u", "UNSELECT")[-1].startswith("u OK")
    assert a.cmd("d", "DELETE Work")[-1].startswith("d OK")
    assert a.cmd("k", "CREATE Work")[-1].startswith("k OK")
    b, lines = session(inst, "Work")
    assert exists(lines) == [0]
    assert select_views(inst, 0)[-1] == "listed"
    # a rename keeps the folder: its messages show under the new name
    assert a.cmd("s", "SELECT INBOX")[-1].startswith("s OK")
    assert a.cmd("c", "COPY 3 Work")[-1].startswith("c OK")
    b.cmd("x", "LOGOUT")
    assert a.cmd("r", "RENAME Work Play")[-1].startswith("r OK")
    c, lines = session(inst, "Play")
    assert exists(lines) == [1]
    r = RawIMAP(inst.imap_port)
    r.cmd("l", f"LOGIN {USER} {hermodtest.PASSWORD}")
    assert r.cmd("s", "SELECT Work")[-1].startswith("s NO")
