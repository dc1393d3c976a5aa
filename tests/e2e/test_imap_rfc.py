"""IMAP conformance details against the real daemon: MULTIAPPEND's all or
nothing (RFC 3502), \\Recent (RFC 3501 2.3.2), QRESYNC's SELECT parameters
(RFC 7162 3.2.5.1) and SEARCHRES (RFC 5182)."""
import re

import hermodtest
from imaputil import RawIMAP

USER = "alice@hosted.test"


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
