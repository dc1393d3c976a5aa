"""End-to-end tests of the IMAP message-data commands (FETCH, STORE, SEARCH,
SORT, THREAD) with imaplib against the real daemon, on messages delivered
over SMTP."""
import re

import imaputil

MULTIPART = (
    "From: Alice <alice@remote.test>\r\n"
    "To: alice@hosted.test\r\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= parts\r\n"
    "Date: Mon, 3 Feb 2020 10:00:00 +0000\r\n"
    "Message-ID: <m1@remote.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=XX\r\n"
    "\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "K=C3=B6ln needle text\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AGEAYg==\r\n"
    "--XX--\r\n"
)


def simple(subject, date, msgid, refs=None, frm="bob@remote.test", body="plain body"):
    extra = f"References: {refs}\r\nIn-Reply-To: {refs.split()[-1]}\r\n" if refs else ""
    return (f"From: {frm}\r\nTo: alice@hosted.test\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: {msgid}\r\n{extra}\r\n{body}\r\n")


def setup_box(inst, msgs):
    for m in msgs:
        inst.deliver("alice@hosted.test", m)
    c = imaputil.login(inst)
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) >= len(msgs)
    return c


def fetch_raw(c, seq, items, uid=False):
    typ, data = (c.uid("FETCH", seq, items) if uid else c.fetch(seq, items))
    assert typ == "OK", data
    return data


def test_fetch_items(hermod):
    c = setup_box(hermod, [MULTIPART])
    data = fetch_raw(c, "1", "(FLAGS INTERNALDATE RFC822.SIZE UID ENVELOPE BODYSTRUCTURE BODY)")
    line = data[0].decode() if isinstance(data[0], bytes) else data[0][0].decode()
    assert "FLAGS (" in line and "INTERNALDATE \"" in line and "RFC822.SIZE " in line
    assert "ENVELOPE (\"Mon, 3 Feb 2020 10:00:00 +0000\"" in line
    assert "\"MIXED\" (\"BOUNDARY\" \"XX\")" in line
    # header fields, MIME of a part, part bodies
    data = fetch_raw(c, "1", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] BODY.PEEK[1.MIME] BODY.PEEK[1])")
    blobs = [d[1] for d in data if isinstance(d, tuple)]
    assert blobs[0] == b"Message-ID: <m1@remote.test>\r\n\r\n"
    assert blobs[1].startswith(b"Content-Type: text/plain; charset=utf-8\r\n")
    assert blobs[2] == b"K=C3=B6ln needle text"
    # RFC822.HEADER / RFC822.TEXT
    data = fetch_raw(c, "1", "(RFC822.HEADER)")
    assert data[0][1].startswith(b"Return-Path:") and data[0][1].endswith(b"\r\n\r\n")


def test_partial_and_binary(hermod):
    c = setup_box(hermod, [MULTIPART])
    data = fetch_raw(c, "1", "(BODY.PEEK[1]<2.6>)")
    assert b"BODY[1]<2>" in data[0][0] and data[0][1] == b"C3=B6l"
    data = fetch_raw(c, "1", "(BINARY.PEEK[1] BINARY.SIZE[2])")
    assert data[0][1] == "Köln needle text".encode()
    assert b"BINARY.SIZE[2] 4" in b"".join(d if isinstance(d, bytes) else d[0] for d in data)
    # literal8 for NULs
    raw = imaputil.RawIMAP(hermod.imap_port)
    raw.cmd("a", "LOGIN alice@hosted.test " + imaputil.hermodtest.PASSWORD)
    raw.cmd("b", "SELECT INBOX")
    raw.send("c FETCH 1 (BINARY.PEEK[2])\r\n")
    first = raw.line()
    assert first.endswith("~{4}")
    rest = raw.until_tagged("c")
    assert rest[-1].startswith("c OK")
    raw.close()


def test_seen_implicit(hermod):
    c = setup_box(hermod, [MULTIPART])
    data = fetch_raw(c, "1", "(BODY.PEEK[TEXT])")
    assert b"\\Seen" not in data[0][0]
    data = fetch_raw(c, "1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    data = fetch_raw(c, "1", "(BODY[1])")
    joined = b"".join(d if isinstance(d, bytes) else d[0] for d in data)
    assert b"\\Seen" in joined  # FLAGS added to the response
    data = fetch_raw(c, "1", "(FLAGS)")
    assert b"\\Seen" in data[0]


def test_store_variants(hermod):
    c = setup_box(hermod, [simple("a", "1 Jan 2020 00:00 +0000", "<s1@x>"),
                           simple("b", "2 Jan 2020 00:00 +0000", "<s2@x>")])
    typ, data = c.store("1:2", "+FLAGS", "(\\Flagged work)")
    assert typ == "OK" and len(data) == 2 and b"\\Flagged" in data[0] and b"work" in data[0]
    typ, data = c.store("1", "-FLAGS.SILENT", "(\\Flagged)")
    assert typ == "OK" and data == [None]
    typ, data = c.store("2", "FLAGS", "(\\Deleted)")
    assert b"\\Flagged" not in data[0] and b"\\Deleted" in data[0]
    # CONDSTORE: MODSEQ in responses, UNCHANGEDSINCE failing -> MODIFIED
    raw = imaputil.RawIMAP(hermod.imap_port)
    raw.cmd("a", "LOGIN alice@hosted.test " + imaputil.hermodtest.PASSWORD)
    raw.cmd("b", "SELECT INBOX")
    lines = raw.cmd("c", "FETCH 1 (MODSEQ)")
    modseq = int(re.search(r"MODSEQ \((\d+)\)", lines[0]).group(1))
    lines = raw.cmd("d", f"STORE 1 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Answered)")
    assert "MODSEQ" in lines[0] and lines[-1].startswith("d OK")
    lines = raw.cmd("e", f"STORE 1 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Draft)")
    assert lines[-1].startswith("e OK [MODIFIED 1]")
    lines = raw.cmd("f", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})")
    assert any("UID" in ln and "MODSEQ" in ln for ln in lines[:-1])
    raw.close()


def test_store_on_more_messages_than_one_batch(hermod):
    # STORE goes to the store in batches of 512; 1,100 messages span three of them,
    # and every message must get its flag and its untagged FETCH, in order.
    n = 1100
    c = setup_box(hermod, [simple("m%d" % i, "1 Jan 2020 00:00 +0000", "<b%d@x>" % i) for i in range(n)])
    typ, data = c.store("1:*", "+FLAGS", "(\\Seen work)")
    assert typ == "OK", data
    seqs = [int(d.split(b" ", 1)[0]) for d in data if d]
    assert seqs == list(range(1, n + 1))
    typ, data = c.search(None, "SEEN", "KEYWORD", "work")
    assert typ == "OK" and len(data[0].split()) == n


def test_fetch_flags_from_the_view_and_keywords(hermod):
    # FETCH (UID FLAGS MODSEQ) is answered from the session's view unless a message has
    # keywords (the view does not hold their text): both must give the same answers.
    c = setup_box(hermod, [simple("k%d" % i, "1 Jan 2020 00:00 +0000", "<k%d@x>" % i) for i in range(3)])
    # the first session to select the new messages has them \Recent (RFC 3501 2.3.2)
    typ, data = c.fetch("1:*", "(UID FLAGS)")
    assert typ == "OK" and [d.decode() for d in data] == [
        "1 (UID 1 FLAGS (\\Recent))", "2 (UID 2 FLAGS (\\Recent))", "3 (UID 3 FLAGS (\\Recent))"], data
    c.store("2", "+FLAGS", "($Label1 \\Flagged)")
    c.store("3", "+FLAGS", "(\\Seen)")
    typ, data = c.fetch("1:*", "(FLAGS UID)")
    got = [d.decode() for d in data]
    assert got[0] == "1 (FLAGS (\\Recent) UID 1)", got
    assert "$Label1" in got[1] and "\\Flagged" in got[1], got
    assert got[2] == "3 (FLAGS (\\Seen \\Recent) UID 3)", got
    # a new session builds its view from the store: the keyword is still reported
    c2 = imaputil.login(hermod)
    c2.select("INBOX")
    typ, data = c2.fetch("2", "(FLAGS)")
    assert b"$Label1" in data[0], data
    typ, data = c2.fetch("1,3", "(FLAGS)")
    assert [d.decode() for d in data] == ["1 (FLAGS ())", "3 (FLAGS (\\Seen))"], data


def test_search_keys(hermod):
    c = setup_box(hermod, [MULTIPART,
                           simple("Re: hello", "5 Feb 2020 10:00 +0000", "<h2@x>", body="second body"),
                           simple("hello", "4 Feb 2020 10:00 +0000", "<h1@x>", frm="carol@remote.test")])
    c.store("2", "+FLAGS", "(\\Seen)")

    def search(*crit):
        typ, data = c.search(None, *crit)
        assert typ == "OK", data
        return data[0].split()

    assert search("ALL") == [b"1", b"2", b"3"]
    assert search("SEEN") == [b"2"]
    assert search("UNSEEN") == [b"1", b"3"]
    assert search("FROM", "carol") == [b"3"]
    assert search("SUBJECT", "hello") == [b"2", b"3"]
    assert search("BODY", "needle") == [b"1"]
    assert search("TEXT", "second") == [b"2"]
    assert search("OR", "FROM", "carol", "SEEN") == [b"2", b"3"]
    assert search("NOT", "SEEN", "SMALLER", "100000") == [b"1", b"3"]
    assert search("SENTSINCE", "4-Feb-2020") == [b"2", b"3"]
    assert search("HEADER", "Message-ID", "h1@") == [b"3"]
    typ, data = c.uid("SEARCH", "BODY", "body")
    assert typ == "OK" and len(data[0].split()) == 2
    # CHARSET UTF-8 with non-ASCII: RFC 2047 subject and QP body, case folded
    c.literal = "grüsse".encode()  # not in the subject: Grüße
    typ, data = c.search("UTF-8", "SUBJECT")
    assert data[0] == b""
    c.literal = "KÖLN".encode()
    typ, data = c.search("UTF-8", "BODY")
    assert data[0].split() == [b"1"]
    typ, data = c.search("ISO-8859-1", "ALL") if False else ("NO", None)
    raw = imaputil.RawIMAP(hermod.imap_port)
    raw.cmd("a", "LOGIN alice@hosted.test " + imaputil.hermodtest.PASSWORD)
    raw.cmd("b", "SELECT INBOX")
    assert raw.cmd("c", "SEARCH CHARSET KOI8-R ALL")[-1].startswith("c NO [BADCHARSET")
    assert raw.cmd("d", "SEARCH FOO")[-1].startswith("d BAD")
    lines = raw.cmd("e", "SEARCH RETURN (MIN MAX COUNT ALL) ALL")
    assert lines[0] == '* ESEARCH (TAG "e") MIN 1 MAX 3 COUNT 3 ALL 1:3'
    lines = raw.cmd("f", "UID SEARCH RETURN (COUNT) SEEN")
    assert lines[0] == '* ESEARCH (TAG "f") UID COUNT 1'
    raw.close()


def test_sort_and_thread(hermod):
    c = setup_box(hermod, [
        simple("topic", "1 Mar 2020 10:00 +0000", "<t1@x>", frm="zed@remote.test"),
        simple("Re: topic", "3 Mar 2020 10:00 +0000", "<t2@x>", refs="<t1@x>", frm="amy@remote.test"),
        simple("other", "2 Mar 2020 10:00 +0000", "<o1@x>", frm="bob@remote.test"),
        simple("Re: topic", "4 Mar 2020 10:00 +0000", "<t3@x>", refs="<t1@x> <t2@x>"),
    ])
    typ, data = c.sort("(DATE)", "UTF-8", "ALL")
    assert data[0].split() == [b"1", b"3", b"2", b"4"]
    typ, data = c.sort("(REVERSE DATE)", "UTF-8", "ALL")
    assert data[0].split() == [b"4", b"2", b"3", b"1"]
    typ, data = c.sort("(SUBJECT FROM)", "UTF-8", "ALL")
    assert data[0].split() == [b"3", b"2", b"4", b"1"]
    typ, data = c.thread("REFERENCES", "UTF-8", "ALL")
    assert data[0] == b"(1 2 4)(3)"
    typ, data = c.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert data[0] == b"(1 (2)(4))(3)"


def test_many_parts_and_deep_nesting(hermod):
    parts = "".join("--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(10000))
    big = ("From: a@remote.test\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=B\r\n\r\n" + parts + "--B--\r\n")
    deep = "From: a@remote.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    for i in range(200):
        deep += f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
    deep += "Content-Type: text/plain\r\n\r\nbottom\r\n"
    c = setup_box(hermod, [big, deep])
    typ, data = c.fetch("1:2", "(BODYSTRUCTURE)")
    assert typ == "OK"
    typ, data = c.fetch("1", "(BODY.PEEK[4999])")
    assert typ == "OK"
    typ, data = c.fetch("2", "(BODY.PEEK[1.1.1.1] BODY.PEEK[TEXT]<0.10>)")
    assert typ == "OK"
    # Past MIME_DEPTH_MAX the rest is body text of the deepest multipart, which
    # mime_search_text does not search: the search must answer, not crash.
    typ, data = c.search(None, "BODY", "bottom")
    assert typ == "OK"
