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
