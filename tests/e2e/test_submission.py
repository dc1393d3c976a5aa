"""Submission (RFC 6409) on the submission (STARTTLS) and submissions (implicit TLS)
ports: AUTH (RFC 4954), sender authorisation, the plan's limits, the header fixes,
local delivery, queueing with DSN parameters and a DKIM signature that verifies.

Clients: smtplib (STARTTLS + LOGIN, SMTP_SSL), swaks (AUTH LOGIN / PLAIN over
STARTTLS and implicit TLS, as a printer would), and a raw client for the exact
replies. Everything runs against a real daemon on loopback.
"""
import base64
import calendar
import re
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from hermodtest import CATCHALL, HOSTNAME, NOREPLY, PASSWORD, RawSMTP, body_of, dot_stuff, headers_of, lf, message

ALICE = "alice@hosted.test"
BOB = "bob@hosted.test"
DAVE = "dave@hosted.test"
CAROL = "carol@catch.test"

needs_swaks = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")


def login(inst, user=ALICE, password=PASSWORD):
    s = inst.submission()
    s.starttls(context=_tls())
    s.login(user, password)
    return s


def _tls():
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def plain_b64(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def raw_login(inst, user=ALICE, password=PASSWORD):
    """A raw client on the submission port, greeted and logged in (plaintext: loopback allows it)."""
    r = inst.raw_submission()
    r.ehlo()
    r.expect(235, f"AUTH PLAIN {plain_b64(user, password)}")
    return r


def send_raw(r, sender, rcpts, data, mail_params=""):
    """MAIL, every RCPT (their replies returned), DATA if one was accepted; (rcpt replies, final reply)."""
    r.expect(250, f"MAIL FROM:<{sender}>{(' ' + mail_params) if mail_params else ''}")
    replies = [r.cmd(f"RCPT TO:<{rc}>") for rc in rcpts]
    if not any(x.code == 250 for x in replies):
        return replies, None
    r.expect(354, "DATA")
    r.send(dot_stuff(data) + b".\r\n")
    return replies, r.reply()


def set_plan(inst, domain, plan):
    inst.cli("domain", "plan", domain, plan)


def queue_cli_available(inst):
    return inst.cli("queue", "list", check=False).returncode == 0


def with_plaintext_auth(inst, value):
    text = inst.config_text().replace("plaintext_auth loopback", f"plaintext_auth {value}")
    with open(inst.conf, "w") as f:
        f.write(text)


# ------------------------------------------------------------------ EHLO and AUTH

def test_ehlo_offers_auth_dsn_and_starttls_then_limits_after_auth(hermod):
    with hermod.raw_submission() as r:
        ehlo = r.ehlo().text.splitlines()
        assert "DSN" in ehlo and "STARTTLS" in ehlo and "CHUNKING" in ehlo
        assert "AUTH PLAIN LOGIN" in ehlo            # plaintext_auth loopback
        assert not any(l.startswith("LIMITS") for l in ehlo)
        r.expect(235, f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}")
        ehlo = r.ehlo().text.splitlines()
        # hosted.test is on "pro" with recipients 1000 in the test configuration
        assert "LIMITS RCPTMAX=1000" in ehlo
        assert not any(l.startswith("AUTH") for l in ehlo)   # already authenticated
        assert "SIZE 52428800" in ehlo


def test_mx_port_still_refuses_auth_and_has_no_dsn(hermod):
    with hermod.raw() as r:
        ehlo = r.ehlo().text.splitlines()
        assert "DSN" not in ehlo and not any(l.startswith("AUTH") for l in ehlo)
        rep = r.cmd(f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}")
        assert rep.code == 503 and "submission port" in rep.text


def test_mail_before_auth_refused(hermod):
    with hermod.raw_submission() as r:
        r.ehlo()
        rep = r.cmd(f"MAIL FROM:<{ALICE}>")
        assert rep.lines == ["530 5.7.0 Authentication required"]


def test_wrong_password_refused(hermod):
    with hermod.raw_submission() as r:
        r.ehlo()
        rep = r.cmd(f"AUTH PLAIN {plain_b64(ALICE, 'not-the-password')}", timeout=30)
        assert rep.lines == ["535 5.7.8 Authentication credentials invalid"]
        assert r.cmd(f"MAIL FROM:<{ALICE}>").code == 530
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        login(hermod, password="wrong")
    assert e.value.smtp_code == 535


def test_auth_login_exchange_cancel_and_unknown_mechanism(hermod):
    with hermod.raw_submission() as r:
        r.ehlo()
        assert r.cmd("AUTH CRAM-MD5").lines[0].startswith("504 5.5.4 ")
        assert r.cmd("AUTH LOGIN").lines == ["334 VXNlcm5hbWU6"]          # "Username:"
        assert r.cmd(base64.b64encode(ALICE.encode()).decode()).lines == ["334 UGFzc3dvcmQ6"]
        assert r.cmd("*").code == 501                                     # RFC 4954 4: cancelled
        assert r.cmd("AUTH PLAIN").lines == ["334 "]
        assert r.cmd("!!!not base64").code == 501
        # LOGIN with the user name as initial response, as some devices do
        assert r.cmd("AUTH LOGIN " + base64.b64encode(ALICE.encode()).decode()).code == 334
        assert r.cmd(base64.b64encode(PASSWORD.encode()).decode()).lines == \
            ["235 2.7.0 Authentication successful"]
        assert r.cmd("AUTH PLAIN " + plain_b64(ALICE, PASSWORD)).code == 503   # once per session


def test_auth_before_ehlo_refused(hermod):
    with hermod.raw_submission() as r:
        assert r.cmd(f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}").code == 503


@pytest.mark.hermod(limits={"auth_max_failures": "2", "auth_failure_delay": "0s"})
def test_throttled_login_gets_454_with_the_services_message(hermod):
    with hermod.raw_submission() as r:
        r.ehlo()
        for _ in range(2):
            assert r.cmd(f"AUTH PLAIN {plain_b64(ALICE, 'bad')}", timeout=30).code == 535
        rep = r.cmd(f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}", timeout=30)
        assert rep.code == 454 and rep.lines[0].startswith("454 4.7.0 "), rep
        assert "try again" in rep.text.lower()


def test_plaintext_auth_never_refuses_then_allows_after_starttls(hermod_factory):
    inst = hermod_factory()
    with_plaintext_auth(inst, "never")
    inst.start()
    with RawSMTP("127.0.0.1", inst.submission_port) as r:
        ehlo = r.ehlo().text.splitlines()
        assert not any(l.startswith("AUTH") for l in ehlo)
        rep = r.cmd(f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}")
        assert rep.lines == ["538 5.7.11 Encryption required for requested authentication mechanism"]
        r.expect(220, "STARTTLS")
        r.starttls()
        ehlo = r.ehlo().text.splitlines()
        assert "AUTH PLAIN LOGIN" in ehlo
        r.expect(235, f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}")
    s = login(inst)
    s.sendmail(ALICE, [BOB], message(subject="after starttls", sender=ALICE, to=BOB))
    s.quit()
    assert inst.count(BOB) == 1


# ------------------------------------------------------------------ clients

def test_smtplib_starttls_login_delivers_locally(hermod):
    s = login(hermod)
    s.sendmail(ALICE, [BOB], message(subject="hello bob", sender=ALICE, to=BOB))
    s.quit()
    [m] = hermod.fetch(BOB)
    assert m["Subject"] == "hello bob"
    received = m.get_all("Received")[0]
    # RFC 3848: ESMTPSA; like Postfix (smtpd_sasl_authenticated_header=no): nothing about the login
    assert "with ESMTPSA" in received
    assert "alice" not in received.lower()
    assert m["Return-Path"] == f"<{ALICE}>"   # every recipient local: final delivery


def test_notify_success_for_local_recipients(hermod):
    # RFC 3461: we are the final delivery MTA for hosted recipients, so a recipient that
    # asked NOTIFY=SUCCESS gets the sender a "delivered" notice; the others get none
    s = login(hermod)
    s.sendmail(ALICE, [BOB, DAVE], message(subject="tell me", sender=ALICE, to=BOB),
               rcpt_options=[])  # no NOTIFY: no notice
    s.ehlo()
    s.mail(ALICE, ["ENVID=env-42"])
    assert s.rcpt(BOB, ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@hosted.test"])[0] == 250
    assert s.rcpt(DAVE, ["NOTIFY=FAILURE"])[0] == 250
    assert s.data(message(subject="did it arrive", sender=ALICE, to=BOB))[0] == 250
    s.quit()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reports = [m for m in hermod.fetch(ALICE) if m.get_content_type() == "multipart/report"]
        if reports:
            break
        time.sleep(0.1)
    assert len(reports) == 1, [m["Subject"] for m in hermod.fetch(ALICE)]
    [n] = reports
    assert n["Return-Path"] == "<>"
    assert n["Subject"] == "Successful Mail Delivery Report"
    text = n.as_string()
    assert re.search(r"(?im)^Action: delivered", text)
    assert re.search(r"(?im)^Status: 2\.0\.0", text)
    assert re.search(r"(?im)^Final-Recipient: rfc822; ?bob@hosted\.test", text)
    assert re.search(r"(?im)^Original-Envelope-Id: env-42", text)
    assert "dave@hosted.test" not in text.split("Subject: did it arrive")[0]  # dave asked only FAILURE
    assert "Subject: did it arrive" in text  # the original header comes back
    assert [m["Subject"] for m in hermod.fetch(BOB)] == ["tell me", "did it arrive"]


def test_smtp_ssl_implicit_tls(hermod):
    with hermod.submissions() as s:
        ehlo = s.ehlo()[1].decode()
        assert "AUTH PLAIN LOGIN" in ehlo and "STARTTLS" not in ehlo
        s.login(ALICE, PASSWORD)
        s.sendmail(ALICE, [BOB, DAVE], message(subject="over 465", sender=ALICE, to=BOB))
    for a in (BOB, DAVE):
        [m] = hermod.fetch(a)
        assert m["Subject"] == "over 465"


def swaks(inst, *args, auth="LOGIN", to=BOB, sender=ALICE, port=None, tls="-tls", server="127.0.0.1"):
    cmd = ["swaks", "--server", server, "--port", str(port or inst.submission_port), "--to", to,
           "--from", sender, "--auth", auth, "--auth-user", ALICE, "--auth-password", PASSWORD,
           "--timeout", "30", tls, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@needs_swaks
@pytest.mark.parametrize("auth", ["LOGIN", "PLAIN"])
def test_swaks_starttls(hermod, auth):
    r = swaks(hermod, "--header", f"Subject: swaks {auth} starttls", auth=auth)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout and "250 2.0.0 Ok: queued as" in r.stdout
    [m] = hermod.fetch(BOB)
    assert m["Subject"] == f"swaks {auth} starttls"


@needs_swaks
@pytest.mark.parametrize("auth", ["LOGIN", "PLAIN"])
def test_swaks_implicit_tls(hermod, auth):
    r = swaks(hermod, "--header", f"Subject: swaks {auth} tlsc", auth=auth, port=hermod.submissions_port,
              tls="--tlsc")
    assert r.returncode == 0, r.stdout + r.stderr
    [m] = hermod.fetch(BOB)
    assert m["Subject"] == f"swaks {auth} tlsc"


@needs_swaks
def test_printer_style_client(hermod):
    """A scanner: reaches the server by name, AUTH LOGIN without initial response, no client
    certificate, HELO-ish name, a message with no Date or Message-ID and an attachment."""
    body = ("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
            "Content-Type: text/plain\r\n\r\nScanned document\r\n--b1\r\n"
            "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(b"%PDF-1.4 " * 200).decode().replace("\n", "\r\n") + "--b1--\r\n")
    data = f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: Scan from MFP-4300\r\n" + body
    cmd = ["swaks", "--server", "localhost", "--port", str(hermod.submissions_port), "--to", BOB,
           "--from", ALICE, "--auth", "LOGIN", "--auth-user", ALICE, "--auth-password", PASSWORD,
           "--tlsc", "--ehlo", "NPI3A1B2C", "--data", "-"]
    r = subprocess.run(cmd, input=data, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    [m] = hermod.fetch(BOB)
    assert m["Subject"] == "Scan from MFP-4300"
    assert m["Date"] and m["Message-ID"].endswith(f"@{HOSTNAME}>")
    assert b"Scanned document" in m.raw


def test_noreply_address_can_send(hermod):
    s = login(hermod, user=NOREPLY)
    s.sendmail(NOREPLY, [BOB], message(subject="from no-reply", sender=NOREPLY, to=BOB))
    s.quit()
    [m] = hermod.fetch(BOB)
    assert m["Subject"] == "from no-reply"


def test_bdat_submission(hermod):
    msg = message(subject="chunked submission", sender=ALICE, to=BOB, body="x" * 100000 + "\r\n")
    with raw_login(hermod) as r:
        r.expect(250, f"MAIL FROM:<{ALICE}>")
        r.expect(250, f"RCPT TO:<{BOB}>")
        cuts = [0, 10, 60, 300, len(msg)]          # the header's end lands inside a chunk
        for a, b in zip(cuts, cuts[1:]):
            last = b == len(msg)
            r.send(f"BDAT {b - a}{' LAST' if last else ''}\r\n".encode() + msg[a:b])
            rep = r.reply()
            assert rep.code == 250, rep
        assert rep.lines[-1].startswith("250 2.0.0 Ok: queued as ")
    [m] = hermod.fetch(BOB)
    assert m["Subject"] == "chunked submission" and m.raw.count(b"x" * 1000) >= 100


# ------------------------------------------------------------------ sender authorisation

def test_mail_from_another_address_refused(hermod):
    with raw_login(hermod) as r:
        rep = r.cmd(f"MAIL FROM:<{BOB}>")
        assert rep.lines == [f"550 5.7.1 Sender address rejected: {ALICE} is not allowed to send as {BOB}"]
        rep = r.cmd("MAIL FROM:<someone@elsewhere.test>")
        assert rep.code == 550 and "not allowed to send as someone@elsewhere.test" in rep.text
        r.expect(250, f"MAIL FROM:<{ALICE}> AUTH=<{ALICE}>")     # AUTH= accepted (RFC 4954 5)


def test_send_permission_granted(hermod):
    hermod.cli("account", "add", "office", "--password-stdin", input=b"office-password-1\n")
    hermod.cli("access", "grant", "office", ALICE, "--perms", "send")
    hermod.cli("access", "grant", "office", BOB, "--perms", "send")
    s = login(hermod)
    s.sendmail(BOB, [DAVE], message(subject="as bob", sender=BOB, to=DAVE))
    s.quit()
    [m] = hermod.fetch(DAVE)
    assert m["Subject"] == "as bob"
    # both histories say alice sent it as bob: who sent as a shared address is on record
    for addr in (ALICE, BOB):
        history = hermod.cli("history", addr).stdout.decode()
        assert f"{ALICE}\tsend\t1 recipient, Message-ID" in history and f", as {BOB}\t127.0.0.1" in history, history
    # dave was not granted: alice still may not send as dave
    with raw_login(hermod) as r:
        assert r.cmd(f"MAIL FROM:<{DAVE}>").code == 550


def test_from_header_mismatch_refused(hermod):
    with raw_login(hermod) as r:
        _, rep = send_raw(r, ALICE, [DAVE], message(subject="forged", sender=BOB, to=DAVE))
        assert rep.lines == [f"550 5.7.1 From address rejected: {ALICE} is not allowed to send as {BOB}"]
        # two From fields
        data = message(subject="two froms", sender=ALICE, to=DAVE, extra_headers=[f"From: <{ALICE}>"])
        _, rep = send_raw(r, ALICE, [DAVE], data)
        assert rep.code == 550 and "more than one From" in rep.text, rep
        # no From at all
        data = b"To: <dave@hosted.test>\r\nSubject: anonymous\r\n\r\nhi\r\n"
        _, rep = send_raw(r, ALICE, [DAVE], data)
        assert rep.code == 550 and "no From" in rep.text, rep
        # the session goes on: a good message after the refusals
        _, rep = send_raw(r, ALICE, [DAVE], message(subject="fine", sender=ALICE, to=DAVE))
        assert rep.code == 250, rep
    assert [m["Subject"] for m in hermod.fetch(DAVE)] == ["fine"]


# ------------------------------------------------------------------ plan limits

def test_101_recipients_on_starter(hermod):
    set_plan(hermod, "hosted.test", "starter")
    rcpts = [CAROL] + [f"user{i}@catch.test" for i in range(100)]      # 101, all local (catchall)
    with raw_login(hermod) as r:
        assert "LIMITS RCPTMAX=100" in r.ehlo().text.splitlines()
        replies, final = send_raw(r, ALICE, rcpts, message(subject="to 100", sender=ALICE, to=CAROL))
    assert all(x.code == 250 for x in replies[:100])
    assert replies[100].lines == ["452 4.5.3 Too many recipients: the starter plan allows 100 per message"]
    assert final.code == 250, final
    assert [m["Subject"] for m in hermod.fetch(CAROL)] == ["to 100"]
    assert [m["Subject"] for m in hermod.fetch(CATCHALL)] == ["to 100"]


def test_11_recipients_on_free(hermod):
    set_plan(hermod, "hosted.test", "free")
    rcpts = [f"r{i}@catch.test" for i in range(11)]
    with raw_login(hermod) as r:
        assert "LIMITS RCPTMAX=10" in r.ehlo().text.splitlines()
        replies, final = send_raw(r, ALICE, rcpts, message(subject="to 10", sender=ALICE, to=CAROL))
    assert [x.code for x in replies] == [250] * 10 + [452]
    assert "the free plan allows 10 per message" in replies[10].text
    assert final.code == 250
    assert hermod.count(CATCHALL) == 1


@pytest.mark.hermod(extra_config="plan starter { daily_messages 5 }")
def test_daily_limit_crossed_with_resume_time(hermod):
    set_plan(hermod, "hosted.test", "starter")
    with raw_login(hermod) as r:
        replies, final = send_raw(r, ALICE, [BOB, DAVE, CAROL], message(subject="one", sender=ALICE, to=BOB))
        assert [x.code for x in replies] == [250, 250, 250] and final.code == 250
        t0 = time.time()
        replies, final = send_raw(r, ALICE, [BOB, DAVE, CAROL], message(subject="two", sender=ALICE, to=BOB))
        assert [x.code for x in replies] == [250, 250, 550], replies
        m = re.fullmatch(r"550 5\.7\.1 Daily sending limit of 5 messages reached; "
                         r"sending resumes at (\d\d):(\d\d) UTC", replies[2].lines[0])
        assert m, replies[2]
        # resume = the oldest in the window (the first message, just now) + 24 h
        expect = time.gmtime(t0 + 86400)
        shown = int(m.group(1)) * 60 + int(m.group(2))
        want = expect.tm_hour * 60 + expect.tm_min
        assert min(abs(shown - want), 1440 - abs(shown - want)) <= 2
        assert final.code == 250                           # the accepted two still go
        rep = r.cmd(f"MAIL FROM:<{ALICE}>")                # the next message: refused at MAIL
        assert rep.code == 550 and "Daily sending limit of 5 messages reached" in rep.text
    assert hermod.count(BOB) == 2 and hermod.count(CAROL) == 1


@pytest.mark.hermod(extra_config="plan free { message_size 64K }")
def test_oversize_declared_and_actual(hermod):
    set_plan(hermod, "hosted.test", "free")
    with raw_login(hermod) as r:
        assert "SIZE 65536" in r.ehlo().text.splitlines()
        rep = r.cmd(f"MAIL FROM:<{ALICE}> SIZE=100000")
        assert rep.lines == ["552 5.3.4 Message size exceeds the limit of 65536 bytes"]
        _, rep = send_raw(r, ALICE, [BOB], message(subject="big", sender=ALICE, to=BOB, body="y" * 70000))
        assert rep.lines == ["552 5.3.4 Message too big: the limit is 65536 bytes"]
        _, rep = send_raw(r, ALICE, [BOB], message(subject="small", sender=ALICE, to=BOB, body="y" * 6000))
        assert rep.code == 250
    assert [m["Subject"] for m in hermod.fetch(BOB)] == ["small"]


# ------------------------------------------------------------------ the message

def test_bcc_removed_date_and_message_id_added(hermod):
    data = (f"From: Alice <{ALICE}>\r\nTo: <{BOB}>\r\nBcc: <{DAVE}>\r\nSubject: fixed up\r\n\r\n"
            "body\r\n").encode()
    with raw_login(hermod) as r:
        _, rep = send_raw(r, ALICE, [BOB, DAVE], data)
        assert rep.code == 250
    for a in (BOB, DAVE):
        [m] = hermod.fetch(a)
        assert m["Bcc"] is None and b"dave@hosted.test" not in headers_of(m.raw).split(b"\nTo:")[1]
        assert re.fullmatch(r"<[0-9a-f]{32}@" + re.escape(HOSTNAME) + ">", m["Message-ID"])
        assert calendar.timegm(time.strptime(m["Date"], "%a, %d %b %Y %H:%M:%S +0000")) > time.time() - 300
    # the client's own Date and Message-ID are kept
    with raw_login(hermod) as r:
        _, rep = send_raw(r, ALICE, [BOB], message(subject="own ids", sender=ALICE, to=BOB, msgid="mine"))
    m = hermod.fetch(BOB)[-1]
    assert m["Message-ID"] == "<mine@e2e.test>" and m.get_all("Date") == ["Thu, 26 Nov 2026 03:00:00 +0000"]


def test_local_unknown_and_noreply_recipients_refused_like_mx(hermod):
    with raw_login(hermod) as r:
        r.expect(250, f"MAIL FROM:<{ALICE}>")
        assert r.cmd("RCPT TO:<nobody@hosted.test>").lines == \
            ["550 5.1.1 <nobody@hosted.test>: Recipient address rejected: no such user here"]
        assert r.cmd(f"RCPT TO:<{NOREPLY}>").code == 550


# ------------------------------------------------------------------ remote recipients: queue, DSN, DKIM

class Sink:
    """A minimal SMTP server on loopback that keeps what it receives (the remote MTA)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.messages = []   # (mail from, [rcpts], data bytes)
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                self.session(c)
            except OSError:
                pass
            finally:
                c.close()

    def session(self, c):
        f = c.makefile("rb")
        c.sendall(b"220 sink.test ESMTP\r\n")
        frm, rcpts = None, []
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                c.sendall(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif cmd.startswith(b"MAIL"):
                frm, rcpts = line.strip()[10:].decode(), []
                c.sendall(b"250 ok\r\n")
            elif cmd.startswith(b"RCPT"):
                rcpts.append(line.strip()[8:].decode())
                c.sendall(b"250 ok\r\n")
            elif cmd == b"DATA":
                c.sendall(b"354 go\r\n")
                data = b""
                while True:
                    l = f.readline()
                    if l in (b".\r\n", b""):
                        break
                    data += l[1:] if l.startswith(b"..") else l
                self.messages.append((frm, rcpts, data))
                c.sendall(b"250 queued\r\n")
            elif cmd == b"QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"250 ok\r\n")

    def wait(self, n=1, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    def close(self):
        self.stopped = True
        self.sock.close()


def dkim_txt(inst, domain):
    out = inst.cli("domain", "dns", domain).stdout.decode()
    for line in out.splitlines():
        if "._domainkey." in line and "TXT" in line:
            return "".join(re.findall(r'"([^"]*)"', line))
    raise AssertionError(f"no DKIM record in:\n{out}")


def test_remote_recipient_dkim_signed_and_verifiable(hermod_factory):
    sink = Sink()
    try:
        inst = hermod_factory(extra_config=f"transport remote.test 127.0.0.1:{sink.port}")
        inst.start()
        data = message(subject="to the world", sender=ALICE, to="friend@remote.test",
                       extra_headers=[f"Bcc: <{BOB}>"])
        s = login(inst)
        s.sendmail(ALICE, ["friend@remote.test", BOB], data)
        s.quit()
        [(frm, rcpts, raw)] = sink.wait(1)
        assert frm.strip("<>").split(">")[0] == ALICE and rcpts[0].startswith("<friend@remote.test>")
        head = headers_of(raw)
        assert head.startswith(b"DKIM-Signature:"), head[:200]
        assert b"Return-Path" not in head and b"\nBcc:" not in head
        assert b"with ESMTPSA" in head
        # the local copy went straight to bob's INBOX
        [m] = inst.fetch(BOB)
        assert m["Subject"] == "to the world"
        import dkim
        record = dkim_txt(inst, "hosted.test").encode()
        ok = dkim.verify(raw, dnsfunc=lambda name, timeout=5: record
                         if name == b"hermod._domainkey.hosted.test." else None)
        assert ok, "DKIM signature did not verify"
    finally:
        sink.close()


def test_dsn_parameters_stored_with_the_queue_entry(hermod_factory):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))        # bound, never listening: connection refused, entry stays queued
    try:
        inst = hermod_factory(extra_config=f"transport remote.test 127.0.0.1:{dead.getsockname()[1]}")
        inst.start()
        if not queue_cli_available(inst):
            pytest.skip("`hermod queue` is not available in this build")
        with raw_login(inst) as r:
            assert "DSN" in r.ehlo().text.splitlines()
            r.expect(250, f"MAIL FROM:<{ALICE}> RET=HDRS ENVID=env+2D42")
            r.expect(250, "RCPT TO:<far@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;far+40remote.test")
            r.expect(250, "RCPT TO:<near@remote.test> NOTIFY=NEVER")
            r.expect(354, "DATA")
            r.send(dot_stuff(message(subject="dsn", sender=ALICE, to="far@remote.test")) + b".\r\n")
            assert r.reply().lines[0].startswith("250 2.0.0 Ok: queued as ")
        listing = inst.cli("queue", "list").stdout.decode().splitlines()
        qid = listing[1].split("\t")[0]
        show = inst.cli("queue", "show", qid).stdout.decode()
        assert "envid:\tenv-42" in show, show
        assert re.search(r"^ret:\t(hdrs|headers)$", show, re.M | re.I), show
        assert re.search(r"^dkim-signed:\tyes$", show, re.M), show
        far = [l for l in show.splitlines() if l.startswith("far@remote.test")][0]
        assert "success" in far.lower() and "failure" in far.lower() and "rfc822;far@remote.test" in far
        near = [l for l in show.splitlines() if l.startswith("near@remote.test")][0]
        assert "never" in near.lower()
    finally:
        dead.close()


# ------------------------------------------------------------------ hostile and edge cases

def test_pipelined_auth_and_transaction_answered_in_order(hermod):
    data = message(subject="pipelined", sender=ALICE, to=BOB)
    with hermod.raw_submission() as r:
        r.send(("EHLO c.test\r\n" f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}\r\n" f"MAIL FROM:<{ALICE}>\r\n"
                f"RCPT TO:<{BOB}>\r\n" "DATA\r\n").encode())
        assert [r.reply(timeout=30).code for _ in range(5)] == [250, 235, 250, 250, 354]
        r.send(dot_stuff(data) + b".\r\nQUIT\r\n")
        assert r.reply().code == 250 and r.reply().code == 221
    assert hermod.count(BOB) == 1


def test_large_message_in_one_write_is_stored_exactly(hermod):
    # the header ends inside the first feed; the rest arrives while the From check runs
    body = b"".join(b"line %07d of a big message\r\n" % i for i in range(120000))   # ~3.4 MB
    data = message(subject="big one", sender=ALICE, to=BOB, body=body)
    with raw_login(hermod) as r:
        r.expect(250, f"MAIL FROM:<{ALICE}>")
        r.expect(250, f"RCPT TO:<{BOB}>")
        r.expect(354, "DATA")
        r.send(dot_stuff(data) + b".\r\n")
        assert r.reply(timeout=60).code == 250
    [m] = hermod.fetch(BOB)
    assert body_of(m.raw) == lf(body)


def test_oversized_header_section_refused_and_session_goes_on(hermod):
    filler = "".join(f"X-Filler-{i}: {'f' * 200}\r\n" for i in range(1500))        # > 256 KiB
    data = (f"From: <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: huge header\r\n" + filler + "\r\nbody\r\n").encode()
    with raw_login(hermod) as r:
        _, rep = send_raw(r, ALICE, [BOB], data)
        assert rep.code == 552 and "header is too large" in rep.text, rep
        _, rep = send_raw(r, ALICE, [BOB], message(subject="after", sender=ALICE, to=BOB))
        assert rep.code == 250
    assert [m["Subject"] for m in hermod.fetch(BOB)] == ["after"]


def test_overlong_sasl_line_ends_the_exchange(hermod):
    with hermod.raw_submission() as r:
        r.ehlo()
        assert r.cmd("AUTH PLAIN").code == 334
        rep = r.cmd("A" * 10000)
        assert rep.code == 500 and "line too long" in rep.text
        assert r.cmd(f"AUTH PLAIN {plain_b64(ALICE, PASSWORD)}").code == 235


def test_sigterm_during_submission_data_refuses_and_stores_nothing(hermod):
    import signal
    r = raw_login(hermod)
    r.expect(250, f"MAIL FROM:<{ALICE}>")
    r.expect(250, f"RCPT TO:<{BOB}>")
    r.expect(354, "DATA")
    r.send(f"From: <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: cut\r\n\r\npartial body\r\n".encode())
    time.sleep(0.3)
    hermod.send_signal(signal.SIGTERM)
    assert b"421 4.3.2" in r.wait_closed(timeout=15)
    r.close()
    hermod.proc.wait(timeout=15)
    assert hermod.count(BOB) == 0


def test_catchall_is_never_a_permitted_sender(hermod):
    # an account that may use alice and holds every right on the catchall still cannot
    # send as the catchall, by MAIL FROM or by From: (it receives only); bob, granted the
    # same way, shows the grant itself works
    hermod.cli("account", "add", "office", "--password-stdin", input=b"office-password-1\n")
    hermod.cli("access", "grant", "office", ALICE, "--perms", "send")
    hermod.cli("access", "grant", "office", CATCHALL, "--perms", "all")
    hermod.cli("access", "grant", "office", BOB, "--perms", "send")
    with raw_login(hermod) as r:
        rep = r.cmd(f"MAIL FROM:<{CATCHALL}>")
        assert rep.lines == [f"550 5.7.1 Sender address rejected: {ALICE} is not allowed to send as {CATCHALL}"]
        _, rep = send_raw(r, ALICE, [DAVE], message(subject="as catchall", sender=CATCHALL, to=DAVE))
        assert rep.lines == [f"550 5.7.1 From address rejected: {ALICE} is not allowed to send as {CATCHALL}"]
        _, rep = send_raw(r, BOB, [DAVE], message(subject="as bob", sender=BOB, to=DAVE))
        assert rep.code == 250, rep
    assert [m["Subject"] for m in hermod.fetch(DAVE)] == ["as bob"]


def test_send_is_in_the_action_history(hermod):
    import apiutil
    with raw_login(hermod) as r:
        data = message(subject="history", sender=ALICE, to=DAVE, msgid="hist-1")
        _, rep = send_raw(r, ALICE, [DAVE, BOB, "someone@remote.test"], data)
        assert rep.code == 250, rep
        # without a Message-ID of its own, the one submission added is recorded
        data = f"From: <{ALICE}>\r\nTo: <{DAVE}>\r\nSubject: second\r\n\r\nhi\r\n".encode()
        _, rep = send_raw(r, ALICE, [DAVE], data)
        assert rep.code == 250, rep
    [added] = [m["Message-ID"] for m in hermod.fetch(DAVE) if m["Subject"] == "second"]
    # refused messages are not sends
    with raw_login(hermod) as r:
        _, rep = send_raw(r, ALICE, [DAVE], message(subject="forged", sender=BOB, to=DAVE))
        assert rep.code == 550
    out = hermod.cli("history", ALICE).stdout.decode().splitlines()
    assert out[0] == "at\tactor\taction\tdetail\tip"
    sends = [line.split("\t") for line in out[1:] if line.split("\t")[2] == "send"]
    assert [(s[1], s[3], s[4]) for s in sends] == [
        (ALICE, f"1 recipient, Message-ID {added}", "127.0.0.1"),
        (ALICE, "3 recipients, Message-ID <hist-1@e2e.test>", "127.0.0.1"),
    ], out
    assert hermod.cli("history", DAVE).stdout.decode().count("\tsend\t") == 0
    # the API shows the same entries to an account with the history right
    apiutil.add_account(hermod, "auditor")
    hermod.cli("access", "grant", "auditor", ALICE, "--perms", "history")
    api = apiutil.logged_in(hermod, "auditor")
    entries = api.expect(200, "GET", f"/api/v1/addresses/{ALICE}/history")["entries"]
    got = [(e["action"], e["detail"], e["ip"]) for e in entries if e["action"] == "send"]
    assert got == [("send", f"1 recipient, Message-ID {added}", "127.0.0.1"),
                   ("send", "3 recipients, Message-ID <hist-1@e2e.test>", "127.0.0.1")]
