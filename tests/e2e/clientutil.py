"""Helpers for the real-client IMAP tests (test_imap_clients.py).

A "peer" is the IMAP server under test, seen the way a client sees it: host,
ports, a user with a password, and a way to deliver mail to that user.

  * HermodPeer wraps the e2e `hermod` fixture (the real daemon; delivery over SMTP).
  * DovecotPeer is a private Debian Dovecot (own base_dir, passwd-file users,
    maildir under a temporary directory; delivery over LMTP). It exists so the
    tests themselves can be checked against a reference server:
        HERMOD_E2E_PEER=dovecot pytest tests/e2e/test_imap_clients.py
    ("a client that works with Dovecot must work with hermod").

Nothing is mocked: every helper drives a real client program or a real socket.
"""
import imaplib
import os
import pty
import pwd
import re
import select
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import hermodtest
from hermodtest import PASSWORD, free_port

USER = "alice@hosted.test"
USER2 = "bob@hosted.test"


def insecure_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Peer:
    """What every peer offers: imap_port, imaps_port, pop3_port, user, password, deliver()."""
    host = "127.0.0.1"
    user = USER
    password = PASSWORD
    name = "?"

    def imap(self, timeout=10, user=None):
        """A logged-in imaplib session (plain TCP, loopback)."""
        c = imaplib.IMAP4(self.host, self.imap_port, timeout=timeout)
        c.login(user or self.user, self.password)
        return c

    def imaps(self, timeout=10, user=None):
        c = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=insecure_tls(), timeout=timeout)
        c.login(user or self.user, self.password)
        return c


class HermodPeer(Peer):
    name = "hermod"

    def __init__(self, inst):
        self.inst = inst
        self.imap_port = inst.imap_port
        self.imaps_port = inst.imaps_port
        self.pop3_port = inst.pop3_port

    def deliver(self, data, to=USER):
        with smtplib.SMTP(self.host, self.inst.port, timeout=10) as s:
            s.sendmail("sender@remote.test", [to], data)


DOVECOT_CONF = """\
base_dir = {base}
state_dir = {top}/state
instance_name = hermod-e2e-{tag}
protocols = imap pop3 lmtp
listen = 127.0.0.1
log_path = {top}/dovecot.log
ssl = yes
ssl_cert = <{top}/cert.pem
ssl_key = <{top}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {top}/passwd
}}
userdb {{
  driver = passwd-file
  args = {top}/passwd
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
"""


class DovecotPeer(Peer):
    """A private Dovecot on loopback; stop() stops only it (doveadm -c FILE stop)."""
    name = "dovecot"

    def __init__(self):
        # /tmp/hdtXXXX: traversable by the mail user (nobody), short socket paths
        self.top = tempfile.mkdtemp(prefix="hdt", dir="/tmp")
        os.chmod(self.top, 0o755)
        self.base = os.path.join(self.top, "run")
        self.conf = os.path.join(self.top, "dovecot.conf")
        self.imap_port, self.imaps_port, self.pop3_port = free_port(), free_port(), free_port()
        self.pid = None

    def start(self):
        top = self.top
        nobody = pwd.getpwnam("nobody")
        os.makedirs(os.path.join(top, "state"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", f"{top}/key.pem", "-out", f"{top}/cert.pem"],
                       check=True, capture_output=True)
        with open(os.path.join(top, "passwd"), "w") as f:
            for u in ("alice", "bob"):
                home = os.path.join(top, "home", u)
                os.makedirs(home)
                os.chown(home, nobody.pw_uid, nobody.pw_gid)
                f.write(f"{u}@hosted.test:{{PLAIN}}{PASSWORD}:{nobody.pw_uid}:{nobody.pw_gid}::{home}::\n")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(base=self.base, top=top, tag=os.path.basename(top),
                                        imap=self.imap_port, imaps=self.imaps_port, pop3=self.pop3_port))
        subprocess.run(["dovecot", "-c", self.conf], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with open(os.path.join(self.base, "master.pid")) as f:
                    self.pid = int(f.read().split()[0])
                socket.create_connection((self.host, self.imap_port), timeout=1).close()
                return
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        raise RuntimeError("private dovecot did not start; log:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.top, "dovecot.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def deliver(self, data, to=USER):
        with smtplib.LMTP(os.path.join(self.base, "lmtp"), timeout=10) as s:
            s.sendmail("sender@remote.test", [to], data)

    def stop(self):
        if self.pid:
            subprocess.run(["doveadm", "-c", self.conf, "stop"], capture_output=True)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and os.path.exists(f"/proc/{self.pid}"):
                time.sleep(0.05)
        shutil.rmtree(self.top, ignore_errors=True)


# ---------------------------------------------------------------- imaplib extras

def uids(c, criteria="ALL"):
    typ, data = c.uid("SEARCH", None, criteria)
    assert typ == "OK", (typ, data)
    return [int(x) for x in data[0].split()]


def subjects(c):
    """{uid: Subject} of the selected mailbox."""
    typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", (typ, data)
    out = {}
    for item in data:
        if isinstance(item, tuple):
            m = re.search(rb"UID (\d+)", item[0])
            s = re.search(rb"Subject:\s*(.*?)\r?\n", item[1], re.I)
            if m:
                out[int(m.group(1))] = s.group(1).decode() if s else ""
    return out


def flags_by_uid(c):
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
    assert typ == "OK", (typ, data)
    out = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not line:
            continue
        m = re.search(rb"UID (\d+)", line)
        f = re.search(rb"FLAGS \(([^)]*)\)", line)
        if m and f:
            out[int(m.group(1))] = set(f.group(1).decode().split())
    return out


def drain_untagged(c):
    """Untagged responses imaplib collected so far, as {TYPE: [data...]} (and clears them)."""
    got = {k: list(v) for k, v in c.untagged_responses.items()}
    c.untagged_responses.clear()
    return got


class Idle:
    """RFC 2177 IDLE on an imaplib session (Python 3.11's imaplib has no IDLE).

    Reads the socket directly while idling: imaplib is not used between
    start() and done()."""

    def __init__(self, c):
        self.c = c
        self.tag = c._new_tag()
        self.buf = b""
        self.lines = []

    def start(self, timeout=5):
        self.c.send(self.tag + b" IDLE\r\n")
        line = self.readline(timeout)
        assert line.startswith(b"+"), f"IDLE not continued: {line!r}"

    def readline(self, timeout):
        sock = self.c.sock
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line within {timeout}s (have {self.buf!r})")
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                pass
            else:
                r, _, _ = select.select([sock], [], [], left)
                if not r:
                    continue
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection during IDLE")
            self.buf += chunk
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        self.lines.append(line)
        return line

    def wait_for(self, pattern, timeout):
        """Reads untagged lines until one matches `pattern` (bytes regex); returns it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"nothing matched {pattern!r} within {timeout}s; got {self.lines!r}")
            line = self.readline(left)
            if rx.search(line):
                return line

    def done(self, timeout=5):
        self.c.send(b"DONE\r\n")
        while True:
            line = self.readline(timeout)
            if line.startswith(self.tag + b" "):
                assert line.split()[1] == b"OK", f"IDLE ended with {line!r}"
                return self.lines


# ---------------------------------------------------------------- curl

def curl(*args, user=USER, password=PASSWORD, input=None, timeout=30):
    cmd = ["curl", "-sS", "--max-time", str(timeout), "-u", f"{user}:{password}", *args]
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout + 5)


# ---------------------------------------------------------------- mbsync

MBSYNC_RC = """\
IMAPAccount far
Host {host}
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN
Timeout 20

IMAPStore far-store
Account far

MaildirStore near-store
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :far-store:
Near :near-store:
Patterns INBOX
Create Both
Expunge Both
Sync All
SyncState *
"""


class Mbsync:
    def __init__(self, peer, top):
        self.local = os.path.join(top, "maildir")
        os.makedirs(self.local)
        self.rc = os.path.join(top, "mbsyncrc")
        with open(self.rc, "w") as f:
            f.write(MBSYNC_RC.format(host=peer.host, port=peer.imap_port, user=peer.user,
                                     password=peer.password, local=self.local))
        os.chmod(self.rc, 0o600)
        self.inbox = os.path.join(self.local, "INBOX")

    def run(self, timeout=60):
        r = subprocess.run(["mbsync", "-c", self.rc, "-V", "sync"], capture_output=True, timeout=timeout)
        assert r.returncode == 0, ("mbsync failed:\n" + r.stdout.decode(errors="replace")[-4000:]
                                   + r.stderr.decode(errors="replace")[-4000:])
        return r

    def files(self):
        """{path: maildir info flags} of INBOX (new/ and cur/)."""
        out = {}
        for sub in ("new", "cur"):
            d = os.path.join(self.inbox, sub)
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                info = name.split(":2,", 1)[1] if ":2," in name else ""
                out[os.path.join(d, name)] = info
        return out

    def by_subject(self):
        out = {}
        for path, info in self.files().items():
            with open(path, "rb") as f:
                m = re.search(rb"^Subject:\s*(.*?)\r?$", f.read(), re.M | re.I)
            out[m.group(1).decode() if m else ""] = (path, info)
        return out

    def add_local(self, data):
        name = f"{int(time.time())}.{os.getpid()}_{time.monotonic_ns()}.e2e"
        tmp = os.path.join(self.inbox, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        dst = os.path.join(self.inbox, "new", name)
        os.rename(tmp, dst)
        return dst


# ---------------------------------------------------------------- a program in a pty

class PtyProgram:
    """Runs argv in a pseudo-terminal (as a person would); collects what it draws."""

    def __init__(self, argv, env=None, rows=40, cols=132):
        import fcntl
        import struct
        import termios
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execvpe(argv[0], argv, env or os.environ)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen = b""
        self.status = None

    def read_until(self, needle, timeout=20):
        deadline = time.monotonic() + timeout
        while needle not in self.screen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{needle!r} never appeared on screen; screen so far:\n"
                                   + strip_ansi(self.screen)[-3000:])
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise EOFError("program exited; screen:\n" + strip_ansi(self.screen)[-3000:])
                self.screen += chunk
        return self.screen

    def send(self, data):
        os.write(self.fd, data)

    def poll(self, wait=0.1):
        """Reads whatever the program drew within `wait` seconds."""
        r, _, _ = select.select([self.fd], [], [], wait)
        if r:
            try:
                self.screen += os.read(self.fd, 65536)
            except OSError:
                pass

    def wait(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    self.screen += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return os.waitstatus_to_exitcode(status)
        return None

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass


_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def strip_ansi(data):
    return _ANSI.sub(b"", data).decode(errors="replace")


def message(subject, body="hello\r\n", to=USER):
    return hermodtest.message(subject=subject, body=body, to=to)
