"""Helpers for hermod's end-to-end tests: a real daemon on loopback, its CLI,
mailbox export as parsed messages, and a raw SMTP client that can misbehave.

Nothing here mocks the daemon: every helper drives the real `hermod` binary
($HERMOD_BIN, default build/hermod) over sockets or its command line.
"""
import email
import email.policy
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERMOD_BIN = os.path.abspath(os.environ.get("HERMOD_BIN") or os.path.join(REPO, "build", "hermod"))
HOSTNAME = "mx.test.local"
PASSWORD = "s3cret-Pass-e2e"

# What an instance holds before each test (built once per session, copied per test).
DOMAINS = {
    "hosted.test": ["alice", "bob", "dave"],   # mailboxes, no catchall
    "catch.test": ["carol"],                  # mailbox + a catchall
}
NOREPLY = "no-reply@hosted.test"
CATCHALL = "catchall@catch.test"

# Limits every test instance gets unless a test overrides them: short, so that a
# test that leaves a session open does not slow teardown down.
DEFAULT_LIMITS = {
    "shutdown_grace": "3s",
}

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


_ports_given = set()


def free_port(host="127.0.0.1"):
    """A port free now and never handed out before in this test run: the kernel may
    give the same ephemeral port to two bind(0) calls made one after the other."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def ipv6_loopback_works():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class HermodError(Exception):
    pass


class Instance:
    """One hermod instance in its own directory (config, data, tls, log)."""

    def __init__(self, root, limits=None, extra_config="", ipv6=None, env=None):
        self.root = root
        self.conf = os.path.join(root, "hermod.conf")
        self.log_path = os.path.join(root, "serve.log")
        self.limits = dict(DEFAULT_LIMITS)
        self.limits.update(limits or {})
        self.extra_config = extra_config
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.ipv6 = ipv6_loopback_works() if ipv6 is None else ipv6
        self.port = free_port()
        self.port6 = free_port("::1") if self.ipv6 else None
        # IMAP/POP3 listeners (issue 3); the daemon skips a service it does not implement yet
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.pop3_port = free_port()
        self.pop3s_port = free_port()
        self.dns_sink_port = free_port()
        # submission listeners (issue 4): STARTTLS and implicit TLS
        self.submission_port = free_port()
        self.submissions_port = free_port()
        # the Manager's HTTP API (issue 5): plain and TLS
        self.http_port = free_port()
        self.https_port = free_port()
        self.proc = None
        self.logf = None
        self.expected_exit = False
        self.runs = 0

    # ------------------------------------------------------------ config and CLI
    def config_text(self):
        lines = [
            f"hostname {HOSTNAME}",
            "data_dir data",
            "log_level info",
            "tls { certificate tls/cert.pem; key tls/key.pem }",
            f"listen smtp 127.0.0.1:{self.port}",
        ]
        if self.ipv6:
            lines.append(f"listen smtp [::1]:{self.port6}")
        lines += [
            f"listen imap 127.0.0.1:{self.imap_port}",
            f"listen imaps 127.0.0.1:{self.imaps_port}",
            f"listen pop3 127.0.0.1:{self.pop3_port}",
            f"listen pop3s 127.0.0.1:{self.pop3s_port}",
            f"listen submission 127.0.0.1:{self.submission_port}",
            f"listen submissions 127.0.0.1:{self.submissions_port}",
            f"listen http 127.0.0.1:{self.http_port}",
            f"listen https 127.0.0.1:{self.https_port}",
            "plaintext_auth loopback",
        ]
        if self.limits:
            body = "; ".join(f"{k} {v}" for k, v in self.limits.items())
            lines.append(f"limits {{ {body} }}")
        lines.append("plan pro { quota 10G; message_size 50M; recipients 1000; daily_messages 1000000 }")
        if not (self.extra_config and "dns {" in self.extra_config):
            # Tests never query real DNS: by default the resolver forwards to a loopback
            # port where nothing answers (a test that needs DNS runs its own nsd).
            lines.append(f"dns {{ forward 127.0.0.1@{self.dns_sink_port}; timeout 2s }}")
        if self.extra_config:
            lines.append(self.extra_config)
        return "\n".join(lines) + "\n"

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())

    def cli(self, *args, input=None, check=True, timeout=60):
        r = subprocess.run([HERMOD_BIN, "-c", self.conf, *args], input=input,
                           capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise HermodError(f"hermod {' '.join(args)} exited {r.returncode}: "
                              f"{r.stderr.decode(errors='replace').strip()}")
        return r

    def domain_add(self, name, plan="pro"):
        self.cli("domain", "add", name, "--plan", plan)

    def address_add(self, addr, kind="mailbox", password=PASSWORD, targets=(), quota=None):
        args = ["address", "add", addr, "--kind", kind]
        for t in targets:
            args += ["--target", t]
        if quota is not None:
            args += ["--quota", quota]
        stdin = None
        if kind in ("mailbox", "noreply"):
            args.append("--password-stdin")
            stdin = (password + "\n").encode()
        self.cli(*args, input=stdin)

    def folders(self, addr):
        """{folder name: (messages, bytes)} from `hermod folder list`."""
        out = self.cli("folder", "list", addr).stdout.decode()
        res = {}
        for line in out.splitlines():
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1].isdigit():
                res[cols[0]] = (int(cols[1]), int(cols[2]))
        return res

    def count(self, addr, folder="INBOX"):
        return self.folders(addr).get(folder, (0, 0))[0]

    def export_raw(self, addr, folder="INBOX"):
        args = ["export", addr] + ([folder] if folder else [])
        return self.cli(*args).stdout

    def fetch(self, addr, folder="INBOX"):
        """The folder's messages, parsed (each has .raw: the stored bytes)."""
        return [parse_message(raw) for raw in split_mboxrd(self.export_raw(addr, folder))]

    def disk_context(self, needle, before=64, after=64):
        """Bytes around `needle` in the message files under data_dir/msg (b'' if absent):
        proves what is on disk, independent of how export formats it."""
        top = os.path.join(self.root, "data", "msg")
        for d, _, files in os.walk(top):
            for name in files:
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
                i = data.find(needle)
                if i >= 0:
                    return data[max(0, i - before):i + len(needle) + after]
        return b""

    # ------------------------------------------------------------ daemon
    def start(self, timeout=30):
        self.logf = open(self.log_path, "ab")
        self.logf.write(f"=== e2e: serve run {self.runs + 1}\n".encode())
        self.logf.flush()
        start_off = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen([HERMOD_BIN, "-c", self.conf, "serve"], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        self.runs += 1
        self.expected_exit = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "event=ready" in self.log(start_off):
                return
            if self.proc.poll() is not None:
                raise HermodError(f"hermod serve exited {self.proc.returncode} before ready:\n"
                                  + self.log(start_off)[-3000:])
            time.sleep(0.02)
        raise HermodError("hermod serve not ready in time:\n" + self.log(start_off)[-3000:])

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
            self.expected_exit = True
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the daemon; returns its exit status (None if it was not running)."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise HermodError(f"hermod did not exit {timeout}s after signal {sig}")
        rc = self.proc.returncode
        if self.logf:
            self.logf.close()
            self.logf = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log(self, offset=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_report(self):
        text = self.log()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 4000]
        return None

    def wait_log(self, pattern, timeout=10, offset=0):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            m = rx.search(self.log(offset))
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"log never matched {pattern!r}; tail:\n{self.log()[-2000:]}")

    # ------------------------------------------------------------ clients
    def smtp(self, timeout=10, host="127.0.0.1"):
        import smtplib
        port = self.port6 if ":" in host else self.port
        return smtplib.SMTP(host, port, timeout=timeout)

    def raw(self, timeout=10, host="127.0.0.1", source=None, banner=True):
        port = self.port6 if ":" in host else self.port
        return RawSMTP(host, port, timeout=timeout, source=source, banner=banner)

    def imap(self, timeout=10):
        """imaplib over plain TCP (plaintext_auth loopback lets LOGIN through)."""
        import imaplib
        return imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=timeout)

    def imaps(self, timeout=10):
        """imaplib over implicit TLS (the test certificate is self-signed: not verified)."""
        import imaplib
        return imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=insecure_tls(),
                                 timeout=timeout)

    def pop3(self, timeout=10):
        import poplib
        return poplib.POP3("127.0.0.1", self.pop3_port, timeout=timeout)

    def pop3s(self, timeout=10):
        import poplib
        return poplib.POP3_SSL("127.0.0.1", self.pop3s_port, context=insecure_tls(),
                               timeout=timeout)

    def submission(self, timeout=10):
        """smtplib to the submission port (STARTTLS offered; call .starttls() yourself)."""
        import smtplib
        return smtplib.SMTP("127.0.0.1", self.submission_port, timeout=timeout)

    def submissions(self, timeout=10):
        """smtplib over implicit TLS to the submissions port (certificate not verified)."""
        import smtplib
        return smtplib.SMTP_SSL("127.0.0.1", self.submissions_port, context=insecure_tls(),
                                timeout=timeout)

    def raw_submission(self, timeout=10):
        return RawSMTP("127.0.0.1", self.submission_port, timeout=timeout)

    def deliver(self, to, data, sender="sender@remote.test"):
        """One message over SMTP (durable when this returns)."""
        with self.smtp() as s:
            s.sendmail(sender, [to] if isinstance(to, str) else list(to), data)


def insecure_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def build_template(root):
    """init + domains + addresses, once; tests get copies (argon2id is slow under ASan)."""
    inst = Instance(root, ipv6=False)
    os.makedirs(root, exist_ok=True)
    inst.write_config()
    inst.cli("init")
    for domain, users in DOMAINS.items():
        inst.domain_add(domain)
        for u in users:
            inst.address_add(f"{u}@{domain}")
    inst.address_add(NOREPLY, kind="noreply")
    inst.address_add(CATCHALL, kind="catchall")
    return root


def instance_from_template(template, root, **kw):
    shutil.copytree(template, root, ignore=shutil.ignore_patterns("serve.log", "hermod.conf"))
    inst = Instance(root, **kw)
    inst.write_config()
    return inst


# ---------------------------------------------------------------- mbox parsing

_FROM_QUOTED = re.compile(rb"^>+From ")


def split_mboxrd(data):
    """Splits mboxrd text into message byte strings, undoing >From quoting.

    Accepts LF or CRLF line ends; each returned message has its original line
    ends, minus the blank separator line the mbox writer adds at the end."""
    msgs = []
    cur = None
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From "):
            if cur is not None:
                msgs.append(cur)
            cur = []
            continue
        if cur is None:
            raise AssertionError(f"mbox does not start with a From line: {data[:200]!r}")
        if _FROM_QUOTED.match(line):
            line = line[1:]
        cur.append(line)
    if cur is not None:
        msgs.append(cur)
    out = []
    for lines in msgs:
        if lines and lines[-1] in (b"\n", b"\r\n"):
            lines = lines[:-1]
        out.append(b"".join(lines))
    return out


def parse_message(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    msg.raw = raw
    return msg


def lf(data):
    """CRLF -> LF (stored mail is CRLF; compare modulo line-end normalisation)."""
    return data.replace(b"\r\n", b"\n")


def body_of(raw):
    """The body of a stored message (after the first empty line), LF-normalised."""
    norm = lf(raw)
    i = norm.find(b"\n\n")
    return norm[i + 2:] if i >= 0 else b""


def headers_of(raw):
    norm = lf(raw)
    i = norm.find(b"\n\n")
    return norm[:i + 1] if i >= 0 else norm


# ---------------------------------------------------------------- raw SMTP

class Reply:
    def __init__(self, lines):
        self.lines = lines               # list of str, without CRLF
        self.code = int(lines[-1][:3])
        self.text = "\n".join(l[4:] for l in lines)

    def __repr__(self):
        return "Reply(" + " | ".join(self.lines) + ")"

    def __str__(self):
        return "\n".join(self.lines)


class Closed(Exception):
    pass


class RawSMTP:
    """A byte-level SMTP client for hostile tests: sends exactly what it is given."""

    def __init__(self, host, port, timeout=10, source=None, banner=True):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if source:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.host = host
        self.banner = self.reply() if banner else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed("connection closed by server; unread: %r" % self.buf[:200])
        self.buf += chunk

    def line(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no reply line within %.1fs; have %r" % (timeout, self.buf[:200]))
            self._fill(left)
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line.decode("utf-8", errors="replace")

    def reply(self, timeout=None):
        lines = []
        while True:
            l = self.line(timeout)
            if len(l) < 3 or not l[:3].isdigit():
                raise AssertionError(f"malformed reply line {l!r}")
            lines.append(l)
            if len(l) == 3 or l[3] == " ":
                return Reply(lines)

    def cmd(self, line, timeout=None):
        """Sends one command line (CRLF added) and returns its reply."""
        self.send(line.encode() + b"\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply(timeout)

    def expect(self, code, line=None, timeout=None):
        r = self.cmd(line, timeout) if line is not None else self.reply(timeout)
        assert r.code == code, f"expected {code} after {line!r}, got {r}"
        return r

    def ehlo(self, name="client.test"):
        return self.expect(250, f"EHLO {name}")

    def pending(self, wait=0.3):
        """Whatever the server sends within `wait` seconds (b'' if nothing)."""
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                self._fill(left)
            except (socket.timeout, TimeoutError):
                break
            except Closed:
                break
        data, self.buf = self.buf, b""
        return data

    def wait_closed(self, timeout=10):
        """Reads until the server closes; returns what it sent. Fails on timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server did not close within {timeout}s; got {self.buf[:300]!r}")
            try:
                self._fill(left)
            except Closed:
                break
            except (socket.timeout, TimeoutError):
                continue
        data, self.buf = self.buf, b""
        return data

    def starttls(self, server_hostname=HOSTNAME):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def message(subject="test", body="hello\r\n", sender="sender@remote.test", to="alice@hosted.test",
            extra_headers=(), msgid=None):
    """A small RFC 5322 message as CRLF bytes (body is used as given)."""
    hdrs = [f"From: <{sender}>", f"To: <{to}>", f"Subject: {subject}",
            f"Message-ID: <{msgid or subject.replace(' ', '.')}@e2e.test>",
            "Date: Thu, 26 Nov 2026 03:00:00 +0000"]
    hdrs += list(extra_headers)
    head = "\r\n".join(hdrs).encode("utf-8") + b"\r\n\r\n"
    return head + (body.encode("utf-8") if isinstance(body, str) else body)


def dot_stuff(data):
    """RFC 5321 4.5.2 transparency, for raw DATA senders."""
    out = re.sub(rb"(^|\r\n)\.", rb"\1..", data)
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def raw_deliver(r, rcpts, data, sender="sender@remote.test", mail_params=""):
    """One transaction over an already-greeted RawSMTP; returns the final reply."""
    r.expect(250, f"MAIL FROM:<{sender}>{(' ' + mail_params) if mail_params else ''}")
    for rc in rcpts:
        r.expect(250, f"RCPT TO:<{rc}>")
    r.expect(354, "DATA")
    r.send(dot_stuff(data) + b".\r\n")
    return r.reply()
