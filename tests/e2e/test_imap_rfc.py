"""IMAP conformance details against the real daemon: MULTIAPPEND's all or
nothing (RFC 3502), \\Recent (RFC 3501 2.3.2), QRESYNC's SELECT parameters
(RFC 7162 3.2.5.1) and SEARCHRES (RFC 5182)."""
import re

import pytest

import hermodtest
from imaputil import RawIMAP

USER = "alice@hosted.test"


@pytest.fixture
def debug_inst(hermod_factory):
    """A daemon that logs at debug level (how each SELECT got its snapshot)."""
    i = hermod_factory()
    with open(i.conf) as f:
        text = f.read()
    with open(i.conf, "w") as f:
        f.write(text.replace("log_level info", "log_level debug"))
    i.start()
    return i


def msg(subject, pad=0):
    return (f"From: a@remote.test\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\n"
            + "x" * pad + "\r\n").encode()


def raw_login(inst):
    r = RawIMAP(inst.imap_port)
    lines = r.cmd("l", f"LOGIN {USER} {hermodtest.PASSWORD}")
    assert lines[-1].startswith("l OK"), lines
    return r


def multiappend(r, tag, folder, bodies):
    """MULTIAPPEND with non-synchronising literals (LITERAL+); returns the lines."""
    data = f"{tag} APPEND {folder}".encode()
    for b in bodies:
        data += f" (\\Seen) {{{len(b)}+}}\r\n".encode() + b
    r.send(data + b"\r\n")
    return r.until_tagged(tag)


def test_multiappend_is_all_or_nothing(hermod):
    # 600-byte messages against a 1,500-byte quota: the first two would fit, the third not.
    hermod.cli("address", "quota", USER, "1500")
    r = raw_login(hermod)
    lines = multiappend(r, "a", "INBOX", [msg("one", 520), msg("two", 520), msg("three", 520)])
    assert lines[-1].startswith("a NO [OVERQUOTA]"), lines
    assert hermod.count(USER, "INBOX") == 0
    lines = r.cmd("s", "STATUS INBOX (MESSAGES UIDNEXT)")
    assert "MESSAGES 0 UIDNEXT 1)" in lines[0], lines
    # the same two fit; then a small one with one that passes the quota: neither
    lines = multiappend(r, "b", "INBOX", [msg("one", 520), msg("two", 520)])
    m = re.search(r"APPENDUID (\d+) (\S+)\]", lines[-1])
    assert lines[-1].startswith("b OK") and m and m.group(2) == "1:2", lines
    lines = multiappend(r, "c", "INBOX", [msg("small"), msg("big", 600)])
    assert lines[-1].startswith("c NO [OVERQUOTA]"), lines
    assert hermod.count(USER, "INBOX") == 2
    r.close()


def test_multiappend_appenduid_covers_every_message(hermod):
    r = raw_login(hermod)
    lines = multiappend(r, "a", "Archive", [msg("m%d" % i) for i in range(5)])
    m = re.search(r"APPENDUID (\d+) (\S+)\]", lines[-1])
    assert lines[-1].startswith("a OK") and m and m.group(2) == "1:5", lines
    lines = r.cmd("s", "SELECT Archive")
    assert "* 5 EXISTS" in lines, lines
    lines = r.cmd("f", "UID FETCH 1:* (FLAGS)")
    assert sum(1 for ln in lines if "\\Seen" in ln) == 5, lines
    r.close()


def deliver(inst, n, start=0):
    for i in range(start, start + n):
        inst.deliver(USER, msg("recent %d" % i).decode())


def noop_until(r, tag, pred, tries=20):
    """NOOP until a line satisfies pred (a delivery's notification may lag its 250)."""
    import time
    for i in range(tries):
        lines = r.cmd(f"{tag}{i}", "NOOP")
        if any(pred(ln) for ln in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no matching line after {tries} NOOPs: {lines}")


def search(r, tag, crit):
    lines = r.cmd(tag, "SEARCH " + crit)
    assert lines[-1].startswith(tag + " OK"), lines
    found = [ln for ln in lines if ln.startswith("* SEARCH")]
    return found[0].split()[2:]


def test_recent_belongs_to_the_first_read_write_select(hermod):
    deliver(hermod, 2)
    ex = raw_login(hermod)
    lines = ex.cmd("e", "EXAMINE INBOX")
    assert "* 2 EXISTS" in lines and "* 2 RECENT" in lines, lines
    lines = ex.cmd("f", "FETCH 1:* (FLAGS)")
    assert sum(1 for ln in lines if "\\Recent" in ln) == 2, lines
    assert search(ex, "s", "RECENT") == ["1", "2"]
    # EXAMINE took nothing: the first SELECT gets both
    a = raw_login(hermod)
    lines = a.cmd("s", "SELECT INBOX")
    assert "* 2 RECENT" in lines, lines
    lines = a.cmd("f", "FETCH 1:* (UID FLAGS)")
    assert sum(1 for ln in lines if "\\Recent" in ln) == 2, lines
    assert search(a, "r", "RECENT") == ["1", "2"]
    assert search(a, "n", "NEW") == ["1", "2"]
    assert search(a, "o", "OLD") == []
    a.cmd("st", "STORE 1 +FLAGS (\\Seen)")
    assert search(a, "n2", "NEW") == ["2"]
    # a second session sees them as old, and so does STATUS
    b = raw_login(hermod)
    lines = b.cmd("st", "STATUS INBOX (RECENT MESSAGES)")
    assert "(MESSAGES 2 RECENT 0)" in lines[0], lines
    lines = b.cmd("s", "SELECT INBOX")
    assert "* 0 RECENT" in lines, lines
    lines = b.cmd("f", "FETCH 1:* (FLAGS)")
    assert not any("\\Recent" in ln for ln in lines), lines
    assert search(b, "r", "RECENT") == [] and search(b, "o", "OLD") == ["1", "2"]
    # new mail while both have it selected: the first to be told takes it
    deliver(hermod, 1, start=2)
    lines = noop_until(a, "na", lambda ln: ln == "* 3 EXISTS")
    # RFC 3501 7.3.2: the session's recent count (its two and the new one), after EXISTS
    assert "* 3 RECENT" in lines and lines.index("* 3 RECENT") > lines.index("* 3 EXISTS"), lines
    lines = a.cmd("f2", "FETCH 3 (FLAGS)")
    assert "\\Recent" in lines[0], lines
    lines = noop_until(b, "nb", lambda ln: ln == "* 3 EXISTS")
    assert "* 0 RECENT" in lines, lines
    lines = b.cmd("f2", "FETCH 3 (FLAGS)")
    assert "\\Recent" not in lines[0], lines
    # the examining session sees every message not yet taken when it looked
    lines = noop_until(ex, "ne", lambda ln: ln == "* 3 EXISTS")
    assert "* 3 RECENT" in lines, lines
    lines = ex.cmd("st", "STATUS INBOX (RECENT)")
    assert "(RECENT 0)" in lines[0], lines
    for r in (ex, a, b):
        r.close()


def test_recent_is_not_reported_or_taken_by_imap4rev2(hermod):
    deliver(hermod, 1)
    r2 = raw_login(hermod)
    lines = r2.cmd("e", "ENABLE IMAP4rev2")
    assert "* ENABLED IMAP4rev2" in lines, lines
    lines = r2.cmd("s", "SELECT INBOX")
    assert not any("RECENT" in ln for ln in lines), lines
    lines = r2.cmd("f", "FETCH 1 (FLAGS)")
    assert "\\Recent" not in lines[0], lines
    r1 = raw_login(hermod)
    lines = r1.cmd("s", "SELECT INBOX")
    assert "* 1 RECENT" in lines, lines
    r1.close()
    r2.close()


def untagged_value(lines, key):
    for ln in lines:
        m = re.match(r"\* OK \[" + key + r" (\d+)\]", ln)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no {key} in {lines}")


def qresync_session(inst):
    r = raw_login(inst)
    lines = r.cmd("q", "ENABLE QRESYNC")
    assert lines[-1].startswith("q OK"), lines
    return r


def test_qresync_select_known_uids_and_seq_match_reduce_vanished(hermod):
    r = raw_login(hermod)
    multiappend(r, "a", "Archive", [msg("q%d" % i) for i in range(10)])
    lines = r.cmd("s", "SELECT Archive")
    uv = untagged_value(lines, "UIDVALIDITY")
    # the client's state before: it saw 2:4 go in an earlier session but kept this modseq
    m0 = untagged_value(lines, "HIGHESTMODSEQ")
    assert r.cmd("d", "UID STORE 2:4 +FLAGS.SILENT (\\Deleted)")[-1].startswith("d OK")
    assert r.cmd("e", "EXPUNGE")[-1].startswith("e OK")
    assert r.cmd("d2", "UID STORE 8 +FLAGS.SILENT (\\Deleted)")[-1].startswith("d2 OK")
    assert r.cmd("e2", "EXPUNGE")[-1].startswith("e2 OK")
    r.close()

    q = qresync_session(hermod)
    lines = q.cmd("a", f"SELECT Archive (QRESYNC ({uv} {m0}))")
    assert "* VANISHED (EARLIER) 2:4,8" in lines, lines
    # known-uids: only those the client holds
    lines = q.cmd("b", f"SELECT Archive (QRESYNC ({uv} {m0} 1:3,5:10))")
    assert "* VANISHED (EARLIER) 2:3,8" in lines, lines
    # seq-match-data: its sequence numbers 1-4 were UIDs 1,5,6,7, still so: nothing at or below 7 is news
    lines = q.cmd("c", f"SELECT Archive (QRESYNC ({uv} {m0} 1:10 (1:4 1,5:7)))")
    assert "* VANISHED (EARLIER) 8" in lines, lines
    # a map that no longer holds (its seq 2 was UID 3) reduces nothing
    lines = q.cmd("d", f"SELECT Archive (QRESYNC ({uv} {m0} 1:10 (1:2 1,3)))")
    assert "* VANISHED (EARLIER) 2:4,8" in lines, lines
    # nothing to report: no VANISHED at all
    lines = q.cmd("e", f"SELECT Archive (QRESYNC ({uv} {m0} 9:10))")
    assert not any("VANISHED" in ln for ln in lines), lines
    for bad in ("(1:2)", "(1:2 1 3)", "x", "1:2 (1 1) 5"):
        lines = q.cmd("f", f"SELECT Archive (QRESYNC ({uv} {m0} {bad}))")
        assert lines[-1].startswith("f BAD"), (bad, lines)
    q.close()


def test_select_flags_list_the_folders_keywords(debug_inst):
    hermod = debug_inst
    deliver(hermod, 3)
    a = raw_login(hermod)
    a.cmd("s", "SELECT INBOX")
    assert a.cmd("k", "STORE 1 +FLAGS ($Work)")[-1].startswith("k OK")
    b = raw_login(hermod)
    lines = b.cmd("s", "SELECT INBOX")
    assert "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)" in lines, lines
    assert "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] Flags permitted" \
        in lines, lines
    e = raw_login(hermod)
    lines = e.cmd("x", "EXAMINE INBOX")
    assert "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)" in lines, lines
    assert "* OK [PERMANENTFLAGS ()] Read-only mailbox" in lines, lines
    # that SELECT came from the cached snapshot: the keywords came with it
    views = re.findall(r"event=select folder=\d+ messages=\d+ view=([a-z-]+)", hermod.log())
    assert views[-2:] == ["caught-up", "cached"], views
    # a new keyword set by another session is announced before the FETCH that shows it
    assert a.cmd("k2", "STORE 2 +FLAGS ($Later $work)")[-1].startswith("k2 OK")
    lines = noop_until(b, "n", lambda ln: "$Later" in ln)
    i = lines.index("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work $Later)")
    assert any("FETCH" in ln and "$Later" in ln for ln in lines[i:]), lines
    # and so is one this session sets itself
    lines = b.cmd("k3", "STORE 3 +FLAGS (Third)")
    assert lines[0] == "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work $Later Third)", lines
    # QRESYNC's FETCH of changed messages carries their keywords
    q = qresync_session(hermod)
    lines = q.cmd("s", "SELECT INBOX")
    uv = untagged_value(lines, "UIDVALIDITY")
    lines = q.cmd("r", f"SELECT INBOX (QRESYNC ({uv} 1))")
    fetch2 = [ln for ln in lines if ln.startswith("* 2 FETCH")]
    assert fetch2 and "$Later" in fetch2[0] and "$work" in fetch2[0].lower(), lines
    for r in (a, b, e, q):
        r.close()


def test_searchres_save_and_dollar(hermod):
    r = raw_login(hermod)
    assert "SEARCHRES" in r.cmd("c", "CAPABILITY")[0]
    multiappend(r, "a", "Archive", [msg("s%d" % i) for i in range(6)])
    r.cmd("s", "SELECT Archive")
    # "$" before any SAVE is the empty set, not an error
    lines = r.cmd("f0", "FETCH $ (UID)")
    assert lines == ["f0 OK FETCH completed"], lines
    assert r.cmd("u", "STORE 2,4,5 -FLAGS.SILENT (\\Seen)")[-1].startswith("u OK")
    # SAVE alone: no ESEARCH, only the tagged OK
    lines = r.cmd("v", "SEARCH RETURN (SAVE) UNSEEN")
    assert lines == ["v OK SEARCH completed"], lines
    lines = r.cmd("f", "FETCH $ (UID)")
    assert [ln.split()[1] for ln in lines[:-1]] == ["2", "4", "5"], lines
    # "$" in criteria, and UIDs whichever form the command takes
    lines = r.cmd("w", "SEARCH $ UID 1:4")
    assert lines[0] == "* SEARCH 2 4", lines
    assert r.cmd("m", "UID MOVE $ Trash")[-1].startswith("m OK")
    assert hermod.count(USER, "Trash") == 3
    lines = r.cmd("f2", "FETCH $ (UID)")  # moved away: "$" drops them
    assert lines == ["f2 OK FETCH completed"], lines
    # SAVE with MIN/MAX only keeps those two; with ALL or COUNT every match
    lines = r.cmd("x", "UID SEARCH RETURN (MIN MAX SAVE) ALL")
    assert lines[0] == '* ESEARCH (TAG "x") UID MIN 1 MAX 6', lines
    lines = r.cmd("x2", "UID SEARCH $")
    assert lines[0] == "* SEARCH 1 6", lines
    lines = r.cmd("y", "SEARCH RETURN (COUNT SAVE) ALL")
    assert lines[0] == '* ESEARCH (TAG "y") COUNT 3', lines
    assert r.cmd("st", "STORE $ +FLAGS.SILENT (\\Flagged)")[-1].startswith("st OK")
    lines = r.cmd("y2", "SEARCH FLAGGED")
    assert lines[0] == "* SEARCH 1 2 3", lines
    lines = r.cmd("z", "UID SORT (SUBJECT) UTF-8 $")
    assert lines[0] == "* SORT 1 3 6", lines
    # a new SELECT empties it
    r.cmd("s2", "SELECT Archive")
    lines = r.cmd("f3", "FETCH $ (UID)")
    assert lines == ["f3 OK FETCH completed"], lines
    r.close()


def wait_count(r, n, tries=20):
    """NOOP until the session's view holds n messages (FETCH n is valid)."""
    import time
    for i in range(tries):
        r.cmd(f"w{i}", "NOOP")
        if r.cmd(f"c{i}", f"FETCH {n} (UID)")[-1].startswith(f"c{i} OK"):
            return
        time.sleep(0.1)
    raise AssertionError(f"never saw {n} messages")


def test_recent_in_exactly_one_session_under_concurrent_delivery(hermod):
    sessions = [raw_login(hermod) for _ in range(3)]
    for r in sessions:
        assert r.cmd("s", "SELECT INBOX")[-1].startswith("s OK")
    for i in range(12):
        hermod.deliver(USER, msg("c%d" % i).decode())
        sessions[i % 3].cmd("n%d" % i, "NOOP")  # whoever is told first takes it
    owners = {}
    for k, r in enumerate(sessions):
        wait_count(r, 12)
        lines = r.cmd("f", "UID FETCH 1:* (FLAGS)")
        for ln in lines[:-1]:
            m = re.match(r"\* \d+ FETCH \((?:UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+))\)$", ln)
            assert m, ln
            uid, flags = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            if "\\Recent" in flags:
                owners.setdefault(int(uid), []).append(k)
    assert sorted(owners) == list(range(1, 13)), owners
    assert all(len(v) == 1 for v in owners.values()), owners
    for r in sessions:
        r.close()
