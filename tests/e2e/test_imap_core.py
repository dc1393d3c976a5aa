"""IMAP protocol core against the real daemon: login, capabilities, mailboxes,
APPEND, COPY/MOVE, EXPUNGE, IDLE, concurrent sessions and hostile input."""
import imaplib
import re
import ssl
import threading
import time

import pytest

import hermodtest
from imaputil import RawIMAP, login

MSG = b"From: a@remote.test\r\nTo: alice@hosted.test\r\nSubject: hi\r\n\r\nhello\r\n"


def ok(resp):
    typ, data = resp
    assert typ == "OK", data
    return data


def test_greeting_capability_and_login(hermod):
    c = hermod.imap()
    assert b"IMAP4rev1" in c.welcome
    caps = ok(c.capability())[0].decode()
    assert "AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps and "STARTTLS" in caps
    ok(c.login("alice@hosted.test", hermodtest.PASSWORD))
    caps = ok(c.capability())[0].decode()
    for cap in ("IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "QUOTA", "LIST-STATUS", "SPECIAL-USE", "CONDSTORE"):
        assert cap in caps.split(), cap
    ok(c.noop())
    c.logout()


def test_wrong_password_and_commands_before_auth(hermod):
    c = hermod.imap()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login("alice@hosted.test", "wrong")
    r = RawIMAP(hermod.imap_port)
    for cmd in ("SELECT INBOX", "LIST \"\" *", "CREATE x", "STATUS INBOX (MESSAGES)"):
        lines = r.cmd("t1", cmd)
        assert lines[-1].startswith("t1 BAD") and "Log in first" in lines[-1], lines
    r.close()


def test_authenticate_plain_sasl_ir(hermod):
    import base64
    r = RawIMAP(hermod.imap_port)
    tok = base64.b64encode(b"\0alice@hosted.test\0" + hermodtest.PASSWORD.encode()).decode()
    lines = r.cmd("a", "AUTHENTICATE PLAIN " + tok)
    assert lines[-1].startswith("a OK"), lines
    r.close()
    c = hermod.imap()
    c.authenticate("PLAIN", lambda _: b"\0bob@hosted.test\0" + hermodtest.PASSWORD.encode())
    ok(c.select("INBOX"))


def test_select_examine_and_special_use(hermod):
    c = login(hermod)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"0"]
    assert c.untagged_responses.get("UIDVALIDITY")
    typ, data = c.list()
    names = [d.decode() for d in data]
    for name, attr in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk")):
        assert any(n.endswith(' "' + name + '"') or n.endswith(" " + name) for n in names), names
        assert any(attr in n for n in names), (attr, names)
    typ, data = c.select("Sent", readonly=True)
    assert typ == "OK"
    typ, data = c.select("Nope")
    assert typ == "NO"


def test_create_rename_delete_subscribe_status(hermod):
    c = login(hermod)
    ok(c.create("Projects/2024"))
    ok(c.create("Entwürfe".encode("utf-7").decode().replace("+", "&")))  # any valid mUTF-7 name
    typ, data = c.list('""', "Projects*")
    text = b" ".join(data).decode()
    assert "Projects/2024" in text and "\\HasChildren" in text
    ok(c.rename("Projects/2024", "Projects/2025"))
    ok(c.subscribe("Projects/2025"))
    typ, data = c.lsub('""', "*")
    assert any(b"Projects/2025" in d for d in data), data
    typ, data = c.create("Projects/2025")
    assert typ == "NO"
    ok(c.delete("Projects/2025"))
    typ, data = c.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ APPENDLIMIT)")
    assert typ == "OK" and b"SIZE 0" in data[0] and b"APPENDLIMIT" in data[0], data


def test_mutf7_names_round_trip(hermod):
    c = login(hermod)
    ok(c.create("&AOk-t&AOk-"))  # "été"
    typ, data = c.list('""', "*t&AOk-")
    assert any(b'&AOk-t&AOk-' in d for d in data), data
    out = hermod.cli("folder", "list", "alice@hosted.test").stdout
    assert "été" in (out.decode() if isinstance(out, bytes) else out)


def test_list_extended_and_status_return(hermod):
    r = RawIMAP(hermod.imap_port)
    r.cmd("a", f"LOGIN alice@hosted.test {hermodtest.PASSWORD}")
    lines = r.cmd("b", 'LIST (SPECIAL-USE) "" "*" RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UIDNEXT))')
    assert lines[-1].startswith("b OK"), lines
    assert not any('"INBOX"' in l or l.endswith(" INBOX") for l in lines if l.startswith("* LIST")), lines
    assert any("\\Sent" in l for l in lines)
    assert any(l.startswith("* STATUS") and "MESSAGES 0" in l for l in lines), lines
    lines = r.cmd("c", 'LIST "" ""')
    assert lines[0] == '* LIST (\\Noselect) "/" ""', lines
    lines = r.cmd("d", "NAMESPACE")
    assert lines[0] == '* NAMESPACE (("" "/")) NIL NIL'
    lines = r.cmd("e", "GETQUOTAROOT INBOX")
    assert any(l.startswith("* QUOTA \"\" (STORAGE") for l in lines) and lines[-1].startswith("e OK"), lines


def test_append_multiappend_copy_move_expunge(hermod):
    c = login(hermod)
    typ, data = c.append("INBOX", r"(\Seen)", None, MSG)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    ok(c.select("INBOX"))
    r = RawIMAP(hermod.imap_port)
    r.cmd("a", f"LOGIN alice@hosted.test {hermodtest.PASSWORD}")
    r.send(f"b APPEND INBOX (\\Flagged) {{{len(MSG)}}}\r\n")
    assert r.line().startswith("+")
    r.send(MSG + f" {{{len(MSG)}+}}\r\n".encode() + MSG + b"\r\n")
    lines = r.until_tagged("b")
    m = re.search(r"APPENDUID (\d+) (\S+)\]", lines[-1])
    assert lines[-1].startswith("b OK") and m and m.group(2) == "2:3", lines
    typ, data = c.noop()
    assert c.untagged_responses.get("EXISTS") or True
    typ, data = c.select("INBOX")
    assert data == [b"3"]
    r.cmd("s", "SELECT INBOX")
    lines = r.cmd("c", "UID COPY 1:2 Archive")
    assert re.match(r"c OK \[COPYUID \d+ 1:2 1:2\]", lines[-1]), lines
    lines = r.cmd("m", "UID MOVE 3 Trash")
    assert re.match(r"\* OK \[COPYUID \d+ 3 1\]", lines[0]), lines
    assert "* 3 EXPUNGE" in lines and lines[-1].startswith("m OK"), lines
    assert hermod.count("alice@hosted.test", "Trash") == 1
    assert hermod.count("alice@hosted.test", "Archive") == 2
    lines = r.cmd("n", "COPY 1 Nonexistent")
    assert lines[-1].startswith("n NO [TRYCREATE]"), lines


def test_expunge_and_uid_expunge(hermod):
    c = login(hermod)
    for _ in range(3):
        ok(c.append("INBOX", r"(\Deleted)", None, MSG))
    ok(c.append("INBOX", None, None, MSG))
    ok(c.select("INBOX"))
    typ, data = c._simple_command("UID", "EXPUNGE", "1")
    assert typ == "OK"
    assert c.untagged_responses.get("EXPUNGE") == [b"1"], c.untagged_responses
    typ, data = c.expunge()
    assert typ == "OK" and data[-2:] == [b"2", b"1"], data  # imaplib keeps the UID EXPUNGE one too
    assert hermod.count("alice@hosted.test") == 1
    # the address's action history: the login, and what each expunge deleted, from where
    deadline = time.time() + 5
    while True:
        history = hermod.cli("history", "alice@hosted.test").stdout.decode()
        if "imap: 2 messages from INBOX" in history or time.time() > deadline:
            break
        time.sleep(0.1)
    assert "imap: 1 message from INBOX" in history and "imap: 2 messages from INBOX" in history, history
    assert "127.0.0.1" in history and "login" in history, history


def test_idle_receives_delivery_within_a_second(hermod):
    r = RawIMAP(hermod.imap_port)
    r.cmd("a", f"LOGIN alice@hosted.test {hermodtest.PASSWORD}")
    r.cmd("b", "SELECT INBOX")
    r.send("c IDLE\r\n")
    assert r.line().startswith("+ ")
    t0 = time.time()
    hermod.deliver("alice@hosted.test", MSG)
    line = r.line(timeout=5)
    assert line == "* 1 EXISTS", line
    assert time.time() - t0 < 1.5
    r.send("DONE\r\n")
    assert r.until_tagged("c")[-1].startswith("c OK")


def test_two_sessions_see_each_others_changes(hermod):
    for _ in range(3):
        hermod.deliver("alice@hosted.test", MSG)
    a = RawIMAP(hermod.imap_port)
    b = RawIMAP(hermod.imap_port)
    for r in (a, b):
        r.cmd("l", f"LOGIN alice@hosted.test {hermodtest.PASSWORD}")
        r.cmd("s", "SELECT INBOX")
    # A marks message 2 deleted and expunges it (UID EXPUNGE needs \Deleted, set via a MOVE-free path).
    lines = a.cmd("m", "UID MOVE 2 Trash")
    assert lines[-1].startswith("m OK"), lines
    lines = b.cmd("n", "NOOP")
    assert "* 2 EXPUNGE" in lines, lines
    hermod.deliver("alice@hosted.test", MSG)
    lines = b.cmd("o", "NOOP")
    assert "* 3 EXISTS" in lines, lines
    lines = a.cmd("p", "NOOP")
    assert "* 3 EXISTS" in lines, lines


def test_huge_literal_is_refused(hermod):
    r = RawIMAP(hermod.imap_port)
    r.cmd("a", f"LOGIN alice@hosted.test {hermodtest.PASSWORD}")
    r.send("b APPEND INBOX {10000000000}\r\n")
    line = r.line()
    assert line.startswith("b NO [TOOBIG]"), line
    r.send("c LOGIN {99999999}\r\n")
    assert r.line().startswith("c NO [TOOBIG]")
    lines = r.cmd("d", "NOOP")
    assert lines[-1].startswith("d OK")
    r.send("e LOGIN {99999999+}\r\n")
    assert r.line().startswith("e BAD [TOOBIG]")
    assert r.closed()


def test_overlong_line(hermod):
    r = RawIMAP(hermod.imap_port)
    r.send("a NOOP " + "x" * 200000 + "\r\n")
    line = r.line()
    assert "BAD [TOOBIG]" in line, line
    lines = r.cmd("b", "NOOP")
    assert lines[-1].startswith("b OK")


def test_unterminated_quote_and_deep_nesting(hermod):
    r = RawIMAP(hermod.imap_port)
    lines = r.cmd("a", 'LOGIN "alice')
    assert lines[-1].startswith("a BAD") and "unterminated" in lines[-1]
    lines = r.cmd("b", "ID " + "(" * 100 + ")" * 100)
    assert lines[-1].startswith("b BAD") and "nesting" in lines[-1]


def test_other_address_invisible(hermod):
    c = login(hermod, "bob@hosted.test")
    ok(c.create("BobSecret"))
    a = login(hermod)
    typ, data = a.list('""', "*")
    assert not any(b"BobSecret" in d for d in data)
    typ, data = a.select("BobSecret")
    assert typ == "NO"
    typ, data = a.status("BobSecret", "(MESSAGES)")
    assert typ == "NO"


def test_starttls_discards_pipelined_commands(hermod):
    r = RawIMAP(hermod.imap_port)
    r.send("a STARTTLS\r\nb LOGIN alice@hosted.test " + hermodtest.PASSWORD + "\r\n")
    assert r.line().startswith("a OK")
    ctx = hermodtest.insecure_tls()
    tls = ctx.wrap_socket(r.sock, server_hostname=hermodtest.HOSTNAME)
    tls.sendall(b"c CAPABILITY\r\n")
    data = b""
    while b"c OK" not in data:
        chunk = tls.recv(4096)
        assert chunk
        data += chunk
    assert b"b OK" not in data and b"b NO" not in data, data
    assert b"STARTTLS" not in data.split(b"\r\n")[0]


def test_imaps_and_logindisabled(hermod_factory):
    inst = hermod_factory(extra_config="")
    inst.start()
    c = inst.imaps()
    ok(c.login("alice@hosted.test", hermodtest.PASSWORD))
    c.logout()


def test_list_pattern_full_of_wildcards_is_answered(hermod):
    # A naive backtracking matcher takes exponential time on "*%*%...x" against a long
    # name that does not end in x; the answer must come at once and be correct.
    c = login(hermod)
    name = "a" * 200
    ok(c.create(name))
    pattern = "*%" * 40 + "x"
    r = RawIMAP(hermod.imap_port)
    r.cmd("l", "LOGIN alice@hosted.test " + hermodtest.PASSWORD)
    lines = r.cmd("t", 'LIST "" "%s"' % pattern)
    assert lines[-1].startswith("t OK"), lines
    assert not any(name in line for line in lines[:-1]), lines
    lines = r.cmd("u", 'LIST "" "%s"' % ("*%" * 40 + "a"))
    assert any(name in line for line in lines[:-1]), lines
    r.close()
