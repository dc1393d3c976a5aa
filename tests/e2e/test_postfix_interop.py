"""hermod against a real remote MTA (issue 4, Proof 1).

A private Debian Postfix (tests/e2e/postfixutil.py) on loopback is the remote
domain remote.test: hermod reaches it through `transport remote.test
127.0.0.1:PORT`, and Postfix sends mail for hermod's domains to hermod's MX
port through its own transport map. Nothing is mocked and nothing touches real
DNS.

  * Submission (RFC 6409 + AUTH) with Python's smtplib (STARTTLS, implicit TLS,
    plaintext on loopback) and with swaks (--auth over STARTTLS and over
    implicit TLS): the message reaches Postfix's maildir for user@remote.test,
    DKIM-signed for hosted.test (verified with python3-dkim against the TXT
    record `hermod domain dns` prints), Bcc gone, Date and Message-ID added by
    hermod (Postfix is told not to add them), body bytes intact.
  * Postfix -> hermod: over SMTP (relayed from Postfix's smtpd) and from
    Postfix's sendmail(1) into hermod's mailboxes, catchall included.
  * A message with one local and one remote recipient lands in both places,
    exactly once each.
  * A remote 550 (unknown user at Postfix) gives the sender a failure notice;
    hermod's own 550 comes back to the remote sender as Postfix's bounce.
  * The remote down at submission time, then up: delivered once, no notice.
  * Postfix's recipient limit (452 4.5.3 after 2 RCPTs): the rest is sent again,
    each recipient once. An SMTPUTF8 recipient (jöran@remote.test) arrives.
  * DSN (RFC 3461 section 5.2): NOTIFY/ORCPT/ENVID/RET are passed to Postfix, which
    offers DSN, and the "delivered" report comes from Postfix, not hermod.
"""
import email
import email.policy
import re
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

import hermodtest
from hermodtest import PASSWORD, free_port, lf
from postfixutil import postfix  # noqa: F401  (pytest fixture)

try:
    import dkim
except ImportError:  # python3-dkim (scripts/install-deps)
    dkim = None

SENDER = "alice@hosted.test"
LOCAL = "bob@hosted.test"
REMOTE = "user@remote.test"
REMOTE2 = "other@remote.test"
SWAKS = shutil.which("swaks")


def insecure_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------- set-up

def start_pair(hermod_factory, pf, extra_config="", start_postfix=True):
    """hermod (remote.test -> Postfix) and Postfix (hosted.test -> hermod), both started
    (Postfix only configured when start_postfix is false)."""
    conf = f"transport remote.test 127.0.0.1:{pf.port}"
    if extra_config:
        conf += "\n" + extra_config
    inst = hermod_factory(extra_config=conf)
    # the shared fixture gives submission ports once it knows them; until then, add our own
    if not getattr(inst, "submission_port", None):
        inst.submission_port = free_port()
        inst.submissions_port = free_port()
        inst.extra_config += (f"\nlisten submission 127.0.0.1:{inst.submission_port}"
                              f"\nlisten submissions 127.0.0.1:{inst.submissions_port}")
        inst.write_config()
    pf.hermod_port = inst.port
    if start_postfix:
        pf.start()
    inst.start()
    return inst


def submit(inst, rcpts, data, mode="starttls", user=SENDER, sender=None, password=PASSWORD):
    """One authenticated submission; mode: starttls | tls | plain (loopback)."""
    if mode == "tls":
        s = smtplib.SMTP_SSL("127.0.0.1", inst.submissions_port, context=insecure_tls(), timeout=20)
    else:
        s = smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=20)
    with s:
        s.ehlo("client.test")
        if mode == "starttls":
            s.starttls(context=insecure_tls())
            s.ehlo("client.test")
        s.login(user, password)
        refused = s.sendmail(sender or user, rcpts, data)
    assert refused == {}, refused


def submission_message(subject, to=REMOTE, bcc=None, body=None, date=False, msgid=False,
                       extra=()):
    hdrs = [f"From: Alice <{SENDER}>", f"To: <{to}>", f"Subject: {subject}"]
    if bcc:
        hdrs.append(f"Bcc: <{bcc}>")
    if date:
        hdrs.append("Date: Thu, 26 Nov 2026 03:00:00 +0000")
    if msgid:
        hdrs.append(f"Message-ID: <{subject.replace(' ', '.')}@client.test>")
    hdrs += list(extra)
    if body is None:
        body = (f"Hello from {subject}.\r\n"
                ".a line that starts with a dot (dot-stuffing both ways)\r\n"
                "From the start of a line, mbox would quote this\r\n"
                "..two dots\r\n"
                "last line\r\n")
    return ("\r\n".join(hdrs) + "\r\n\r\n").encode() + (body.encode() if isinstance(body, str) else body)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def body_lf(raw):
    n = lf(raw)
    i = n.find(b"\n\n")
    return n[i + 2:]


# ---------------------------------------------------------------- DKIM

def dkim_txt_records(inst, domain):
    """{'selector._domainkey.domain': 'v=DKIM1; ...'} from `hermod domain dns DOMAIN`
    (zone-file lines; a TXT value may be split into several quoted strings and
    across lines inside parentheses)."""
    text = inst.cli("domain", "dns", domain).stdout.decode()
    records = {}
    lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith(";")]
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "_domainkey" not in line.split()[0]:
            continue
        name = line.split()[0]
        if "(" in line and ")" not in line:
            while i < len(lines) and ")" not in line:
                line += " " + lines[i]
                i += 1
        value = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', line))
        if not name.endswith("."):
            name = f"{name}.{domain}"
        records[name.rstrip(".").lower()] = value
    return records


def dkim_verify(raw, records):
    def dnsfunc(name, timeout=5):
        key = name.decode().rstrip(".").lower() if isinstance(name, bytes) else name.rstrip(".").lower()
        v = records.get(key)
        return v.encode() if v is not None else None
    crlf = lf(raw).replace(b"\n", b"\r\n")
    return dkim.verify(crlf, dnsfunc=dnsfunc)


def check_submitted(inst, raw, subject, bcc=None, records=None):
    """What every submitted message must look like at the remote end."""
    m = parse(raw)
    assert m.get("Subject") == subject
    assert m.get("Bcc") is None, "Bcc must be removed before sending"
    if bcc:
        trace = ("received", "delivered-to", "x-original-to", "return-path")
        shown = "\n".join(f"{k}: {v}" for k, v in m.items() if k.lower() not in trace)
        assert bcc not in shown, "the Bcc address must not appear in the headers sent"
    assert m.get("Date"), "hermod must add a Date header"
    mid = m.get("Message-ID")
    assert mid and re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid.strip()), f"bad Message-ID {mid!r}"
    assert "mx.remote.test" not in mid, "the Message-ID came from Postfix, not hermod"
    assert (m.get("Return-Path") or "").strip() == f"<{SENDER}>"
    sig = m.get("DKIM-Signature")
    assert sig, "no DKIM-Signature header"
    tags = dict(t.strip().split("=", 1) for t in re.sub(r"\s+", "", sig).split(";") if "=" in t)
    assert tags.get("d") == "hosted.test", sig
    assert tags.get("a") == "rsa-sha256", sig
    if dkim is not None:
        records = records if records is not None else dkim_txt_records(inst, "hosted.test")
        assert any(k.endswith("._domainkey.hosted.test") for k in records), \
            f"`hermod domain dns hosted.test` prints no DKIM record: {records}"
        assert dkim_verify(raw, records), "DKIM signature does not verify"
        # and the check has teeth: a changed body must fail
        tampered = raw.replace(b"last line", b"LAST line", 1)
        assert tampered != raw and not dkim_verify(tampered, records)
    return m


# ---------------------------------------------------------------- hermod -> Postfix

@pytest.mark.parametrize("mode", ["starttls", "tls", "plain"])
def test_submission_reaches_postfix_signed(hermod_factory, postfix, mode):
    inst = start_pair(hermod_factory, postfix)
    subject = f"submitted over {mode}"
    data = submission_message(subject, bcc=REMOTE2)
    submit(inst, [REMOTE, REMOTE2], data, mode=mode)
    for user in ("user", "other"):
        msgs = postfix.wait_messages(user, 1)
        assert len(msgs) == 1, f"{user}@remote.test got {len(msgs)} messages"
        m = check_submitted(inst, msgs[0], subject, bcc=REMOTE2)
        assert body_lf(msgs[0]) == body_lf(data), "body changed in transit"
        assert "Alice" in m.get("From") and SENDER in m.get("From")


def test_existing_date_and_message_id_are_kept(hermod_factory, postfix):
    inst = start_pair(hermod_factory, postfix)
    data = submission_message("keeps headers", date=True, msgid=True)
    submit(inst, [REMOTE], data)
    raw = postfix.wait_messages("user", 1)[0]
    m = parse(raw)
    assert m.get("Message-ID") == "<keeps.headers@client.test>"
    assert m.get("Date") == "Thu, 26 Nov 2026 03:00:00 +0000"
    assert len(m.get_all("Message-ID")) == 1 and len(m.get_all("Date")) == 1
    check_submitted(inst, raw, "keeps headers")


def test_8bit_and_large_message_intact(hermod_factory, postfix):
    inst = start_pair(hermod_factory, postfix)
    line = "Grüße aus hermod, ünïcødé 8-bit text; " * 2 + "\r\n"
    body = (line * 30000) + ".\r\n..\r\nlast line\r\n"   # ~2.4 MB, lone dots inside
    data = submission_message("big 8bit", body=body,
                              extra=["MIME-Version: 1.0",
                                     "Content-Type: text/plain; charset=utf-8",
                                     "Content-Transfer-Encoding: 8bit"])
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=60) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure_tls())
        s.ehlo("client.test")
        s.login(SENDER, PASSWORD)
        assert s.sendmail(SENDER, [REMOTE], data, mail_options=["BODY=8BITMIME"]) == {}
    raw = postfix.wait_messages("user", 1, timeout=60)[0]
    assert body_lf(raw) == body_lf(data), "8-bit body changed in transit"
    check_submitted(inst, raw, "big 8bit")


def test_hermod_uses_starttls_to_postfix(hermod_factory, postfix):
    """Opportunistic STARTTLS: Postfix offers it, so hermod's client must use it."""
    inst = start_pair(hermod_factory, postfix)
    submit(inst, [REMOTE], submission_message("tls to remote"))
    postfix.wait_messages("user", 1)
    log = postfix.log()
    assert re.search(r"smtpd\[\d+\]: \S+ TLS connection established from", log), \
        "hermod did not use STARTTLS towards Postfix; Postfix log:\n" + log[-2000:]
    # and Postfix's own Received header records the TLS session
    received = parse(postfix.messages("user")[0]).get_all("Received")[0]
    assert "with ESMTPS" in received or "with ESMTPSA" in received, received


def test_messages_share_a_tls_connection_to_postfix(hermod_factory, postfix):
    """Connection reuse with a real MTA: several messages, fewer connections (and TLS
    handshakes), RSET between transactions, each message delivered exactly once."""
    inst = start_pair(hermod_factory, postfix)
    before = len(re.findall(r"smtpd\[\d+\]: connect from", postfix.log()))
    n = 6
    for i in range(n):
        submit(inst, [REMOTE], submission_message(f"reused {i}"))
    msgs = postfix.wait_messages("user", n)
    time.sleep(1.0)
    subjects = sorted(parse(m).get("Subject") for m in postfix.messages("user"))
    assert subjects == sorted(f"reused {i}" for i in range(n))  # each exactly once
    log = postfix.log()
    connects = len(re.findall(r"smtpd\[\d+\]: connect from", log)) - before
    assert 1 <= connects < n, f"{connects} connections for {n} messages"
    assert len(re.findall(r"TLS connection established from", log)) < n
    assert re.search(r"smtp-client id=\S+ event=reuse host=", inst.log())
    for raw in msgs:
        check_submitted(inst, raw, parse(raw).get("Subject"))


@pytest.mark.skipif(SWAKS is None, reason="swaks is not installed")
@pytest.mark.parametrize("how,auth", [("--tls", "LOGIN"), ("--tls", "PLAIN"),
                                      ("--tls-on-connect", "PLAIN"), ("--tls-on-connect", "LOGIN")])
def test_swaks_submission(hermod_factory, postfix, how, auth):
    inst = start_pair(hermod_factory, postfix)
    port = inst.submissions_port if how == "--tls-on-connect" else inst.submission_port
    subject = f"swaks {how} {auth}"
    r = subprocess.run([SWAKS, "--server", "127.0.0.1", "--port", str(port), how,
                        "--auth", auth, "--auth-user", SENDER, "--auth-password", PASSWORD,
                        "--from", SENDER, "--to", REMOTE, "--helo", "printer.client.test",
                        "--header", f"Subject: {subject}", "--body", "scan attached\nlast line\n",
                        "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"swaks exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-1000:]}"
    assert re.search(r"<~  235 ", r.stdout), r.stdout[-3000:]
    raw = postfix.wait_messages("user", 1)[0]
    m = parse(raw)
    assert m.get("Subject") == subject
    # swaks writes its own Date and Message-Id: kept as they are
    assert m.get("Message-Id") and m.get("Date")
    assert m.get("DKIM-Signature")
    if dkim is not None:
        assert dkim_verify(raw, dkim_txt_records(inst, "hosted.test"))


# ---------------------------------------------------------------- Postfix -> hermod

def test_postfix_relays_smtp_into_hermod(hermod_factory, postfix):
    inst = start_pair(hermod_factory, postfix)
    data = hermodtest.message(subject="from the outside", sender="someone@elsewhere.test",
                              to="alice@hosted.test",
                              body="relayed by Postfix\r\n.dot line\r\nend\r\n")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=20) as s:
        assert s.sendmail("someone@elsewhere.test", ["alice@hosted.test", "dave@hosted.test"],
                          data) == {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (inst.count("alice@hosted.test") < 1
                                           or inst.count("dave@hosted.test") < 1):
        time.sleep(0.1)
    for addr in ("alice@hosted.test", "dave@hosted.test"):
        msgs = inst.fetch(addr)
        assert len(msgs) == 1, f"{addr}: {len(msgs)} messages; Postfix log:\n{postfix.log()[-2000:]}"
        m = msgs[0]
        assert m.get("Subject") == "from the outside"
        assert (m.get("Return-Path") or "").strip() == "<someone@elsewhere.test>"
        assert "mx.remote.test" in " ".join(m.get_all("Received") or [])
        assert hermodtest.body_of(m.raw) == lf(b"relayed by Postfix\r\n.dot line\r\nend\r\n")
    assert re.search(rf"to=<alice@hosted.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{inst.port}.*status=sent",
                     postfix.log())


def test_postfix_sendmail_into_hermod(hermod_factory, postfix):
    inst = start_pair(hermod_factory, postfix)
    postfix.sendmail("user@remote.test", ["bob@hosted.test", "nobody-in-particular@catch.test"],
                     b"From: user@remote.test\nTo: bob@hosted.test\nSubject: via sendmail\n"
                     b"\nposted with Postfix's sendmail(1)\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (inst.count("bob@hosted.test") < 1
                                           or inst.count(hermodtest.CATCHALL) < 1):
        time.sleep(0.1)
    for addr in ("bob@hosted.test", hermodtest.CATCHALL):
        msgs = inst.fetch(addr)
        assert len(msgs) == 1, f"{addr}: {len(msgs)} messages; Postfix log:\n{postfix.log()[-2000:]}"
        assert msgs[0].get("Subject") == "via sendmail"
        assert hermodtest.body_of(msgs[0].raw) == b"posted with Postfix's sendmail(1)\n"


# ---------------------------------------------------------------- both ways at once

def test_mixed_local_and_remote_exactly_once(hermod_factory, postfix):
    inst = start_pair(hermod_factory, postfix)
    data = submission_message("mixed recipients", to=REMOTE,
                              extra=[f"Cc: <{LOCAL}>"])
    submit(inst, [REMOTE, LOCAL], data)
    remote = postfix.wait_messages("user", 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and inst.count(LOCAL) < 1:
        time.sleep(0.1)
    # give a duplicate every chance to show up
    time.sleep(3)
    remote = postfix.messages("user")
    local = inst.fetch(LOCAL)
    assert len(remote) == 1, f"user@remote.test got {len(remote)} copies"
    assert len(local) == 1, f"{LOCAL} got {len(local)} copies"
    assert inst.count(SENDER) == 0, "the sender got a notice for a message that was delivered"
    rm = check_submitted(inst, remote[0], "mixed recipients")
    assert local[0].get("Subject") == "mixed recipients"
    assert local[0].get("Message-ID") == rm.get("Message-ID"), \
        "local and remote copies must be the same message (same added Message-ID)"
    assert body_lf(local[0].raw) == body_lf(remote[0])
    assert postfix.log().count("to=<user@remote.test>") == 1
    # nothing left in hermod's queue (when the CLI knows the queue)
    r = inst.cli("queue", "list", check=False)
    if r.returncode == 0:
        out = r.stdout.decode()
        assert "user@remote.test" not in out, f"still queued:\n{out}"


def test_remote_550_gives_failure_notice(hermod_factory, postfix):
    """Postfix refuses an unknown user at RCPT: the sender gets one failure notice at once."""
    inst = start_pair(hermod_factory, postfix)
    submit(inst, ["nosuchuser@remote.test", REMOTE], submission_message("half bounces"))
    postfix.wait_messages("user", 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and inst.count(SENDER) < 1:
        time.sleep(0.1)
    time.sleep(1)
    notices = inst.fetch(SENDER)
    assert len(notices) == 1, f"{SENDER} has {len(notices)} notices"
    n = notices[0]
    assert (n.get("Return-Path") or "").strip() == "<>", "notices come from the null sender"
    assert n.get_content_type() == "multipart/report"
    assert n.get_param("report-type") == "delivery-status"
    text = n.raw.decode(errors="replace")
    assert "nosuchuser@remote.test" in text
    assert re.search(r"Status:\s*5\.1\.1", text), text[:3000]
    assert "User unknown" in text or "550" in text, "the remote's answer should be quoted"
    # only the refused recipient is reported; the delivered one is not
    finals = re.findall(r"Final-Recipient:\s*rfc822;\s*(\S+)", text, re.I)
    assert finals == ["nosuchuser@remote.test"], finals
    assert len(postfix.messages("user")) == 1


def test_postfix_down_then_up_delivered_once(hermod_factory, postfix):
    """The remote is down when the message is submitted: hermod keeps it queued and
    delivers it once when Postfix comes up (compressed retry schedule)."""
    inst = start_pair(hermod_factory, postfix, start_postfix=False,
                      extra_config="queue { retry 1s; scan_interval 1s }")
    submit(inst, [REMOTE], submission_message("remote was down"))
    time.sleep(2)
    assert postfix.count("user") == 0
    r = inst.cli("queue", "list", check=False)
    if r.returncode == 0:
        rows = [l.split("\t") for l in r.stdout.decode().splitlines()[1:] if l.strip()]
        assert len(rows) == 1 and SENDER in rows[0], "the message should wait in the queue:\n" + r.stdout.decode()
        shown = inst.cli("queue", "show", rows[0][0]).stdout.decode()
        assert REMOTE in shown, shown
    postfix.start()
    msgs = postfix.wait_messages("user", 1, timeout=30)
    time.sleep(3)   # a duplicate would show up within the next retries
    msgs = postfix.messages("user")
    assert len(msgs) == 1, f"{len(msgs)} copies delivered"
    check_submitted(inst, msgs[0], "remote was down")
    assert inst.count(SENDER) == 0, "no notice for a message delivered before delay_warning"


def test_hermod_refusal_bounced_by_postfix(hermod_factory, postfix):
    """hermod's 550 for an unknown user reaches the remote sender as Postfix's bounce."""
    inst = start_pair(hermod_factory, postfix)
    postfix.sendmail(REMOTE, ["nosuch@hosted.test"],
                     f"From: {REMOTE}\nTo: nosuch@hosted.test\nSubject: to nobody\n\nhello\n".encode())
    bounce = postfix.wait_messages("user", 1)[0]
    text = re.sub(r"\s+", " ", bounce.decode(errors="replace"))   # Postfix folds long lines
    assert "550 5.1.1 <nosuch@hosted.test>: Recipient address rejected: no such user here" in text, text[:3000]
    assert inst.count("alice@hosted.test") == 0


def test_smtputf8_recipient_at_postfix(hermod_factory, postfix):
    """An internationalised address (RFC 6531) at a remote that offers SMTPUTF8."""
    inst = start_pair(hermod_factory, postfix)
    to = "jöran@remote.test"
    data = (f"From: <{SENDER}>\r\nTo: <{to}>\r\nSubject: Grüße an jöran\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nHallo jöran, schöne Grüße.\r\nlast line\r\n").encode()
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=20) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure_tls())
        s.ehlo("client.test")
        s.login(SENDER, PASSWORD)
        assert s.sendmail(SENDER, [to], data, mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    raw = postfix.wait_messages("jöran", 1)[0]
    assert "Grüße an jöran".encode() in raw
    assert body_lf(raw) == body_lf(data)
    assert re.search(r"to=<jöran@remote\.test>, relay=virtual.*status=sent", postfix.log())


def test_dsn_parameters_passed_to_postfix(hermod_factory, postfix):
    """RFC 3461 section 5.2: relaying to a DSN-capable server (Postfix offers DSN),
    hermod passes NOTIFY, ORCPT, ENVID and RET on and issues no report of its own;
    the "delivered" report then comes from Postfix, the final MTA, back through
    hermod's MX into the sender's INBOX — exactly one report."""
    inst = start_pair(hermod_factory, postfix)
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=20) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure_tls())
        s.ehlo("client.test")
        s.login(SENDER, PASSWORD)
        assert s.sendmail(SENDER, [REMOTE], submission_message("dsn through"),
                          mail_options=["RET=HDRS", "ENVID=env-42"],
                          rcpt_options=["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{REMOTE}"]) == {}
    postfix.wait_messages("user", 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and inst.count(SENDER) < 1:
        time.sleep(0.1)
    time.sleep(3)
    reports = inst.fetch(SENDER)
    assert len(reports) == 1, f"{len(reports)} reports: {[r.get('From') for r in reports]}"
    text = reports[0].raw.decode(errors="replace")
    assert re.search(r"Reporting-MTA:\s*dns;\s*mx\.remote\.test", text), \
        "the delivered report should come from Postfix (the final MTA), not hermod — " \
        "hermod did not pass NOTIFY on:\n" + text[:2500]
    assert re.search(r"Original-Envelope-Id:\s*env-42", text), text[:2500]
    assert re.search(r"Original-Recipient:\s*rfc822;\s*user@remote\.test", text), text[:2500]


def test_remote_recipient_limit_452_retried(hermod_factory, postfix):
    """Postfix takes 2 recipients per transaction (smtpd_recipient_limit) and answers
    the third with 452 4.5.3: hermod must send the rest again later (RFC 5321
    4.5.3.1.10) — each recipient gets the message exactly once, and no notice."""
    postfix.extra_main = "smtpd_recipient_limit = 2"
    inst = start_pair(hermod_factory, postfix, extra_config="queue { retry 1s; scan_interval 1s }")
    rcpts = [REMOTE, REMOTE2, "jöran@remote.test"]
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=20) as s:
        s.ehlo("client.test")
        s.starttls(context=insecure_tls())
        s.ehlo("client.test")
        s.login(SENDER, PASSWORD)
        assert s.sendmail(SENDER, rcpts, submission_message("three at two per transaction"),
                          mail_options=["SMTPUTF8"]) == {}
    for user in ("user", "other", "jöran"):
        postfix.wait_messages(user, 1, timeout=30)
    time.sleep(3)
    for user in ("user", "other", "jöran"):
        assert postfix.count(user) == 1, f"{user}: {postfix.count(user)} copies"
    # Postfix does not log the 452 itself; its queue shows the split: 2 + 1 recipients
    nrcpt = sorted(int(n) for n in re.findall(r"from=<alice@hosted\.test>, size=\d+, nrcpt=(\d+)",
                                              postfix.log()))
    assert nrcpt == [1, 2], f"transactions seen by Postfix (recipients each): {nrcpt}"
    assert inst.count(SENDER) == 0, "no notice for a recipient delivered on retry"
