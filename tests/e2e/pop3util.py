"""POP3 helpers for hermod's end-to-end tests: an instance with pop3/pop3s
listeners, delivery over SMTP, and a byte-level POP3 client for hostile tests.

The shared fixtures (conftest.py, hermodtest.py) are used as they are; the POP3
listen lines and settings go in through the instance's extra_config."""
import smtplib
import socket
import ssl
import time

import hermodtest
from hermodtest import HOSTNAME, PASSWORD

ALICE = "alice@hosted.test"
BOB = "bob@hosted.test"


def pop3_instance(factory, limits=None, plaintext_auth="loopback", name="inst", start=True):
    """An instance (from the conftest factory, which listens on pop3 and pop3s at
    .pop3_port and .pop3s_port with plaintext_auth loopback), optionally with
    another plaintext_auth setting."""
    inst = factory(name=name, limits=limits or {})
    if plaintext_auth != "loopback":
        text = inst.config_text()
        assert "plaintext_auth loopback" in text
        with open(inst.conf, "w") as f:
            f.write(text.replace("plaintext_auth loopback", f"plaintext_auth {plaintext_auth}"))
    if start:
        inst.start()
    return inst


def deliver(inst, to=ALICE, subject="test", body="hello\r\n", **kw):
    """Delivers one message over SMTP; returns the bytes sent."""
    data = hermodtest.message(subject=subject, body=body, to=to, **kw)
    with inst.smtp() as s:
        s.sendmail("sender@remote.test", [to], data)
    return data


def insecure_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def uidvalidity(inst, addr=ALICE, folder="INBOX"):
    out = inst.cli("folder", "list", addr).stdout.decode()
    for line in out.splitlines():
        cols = line.split("\t")
        if cols[0] == folder:
            return int(cols[3])
    raise AssertionError(f"no folder {folder} in {out!r}")


class Closed(Exception):
    pass


class RawPOP3:
    """Sends exactly what it is given; reads CRLF lines."""

    def __init__(self, port, host="127.0.0.1", tls=False, timeout=10, greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            self.sock = insecure_ctx().wrap_socket(self.sock, server_hostname=HOSTNAME)
        self.timeout = timeout
        self.buf = b""
        self.greeting = self.line() if greeting else None

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        if not chunk:
            raise Closed("connection closed; unread %r" % self.buf[:200])
        self.buf += chunk

    def line(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no line; have %r" % self.buf[:200])
            self._fill(left)
        i = self.buf.index(b"\r\n")
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out.decode("utf-8", errors="replace")

    def cmd(self, line, timeout=None):
        self.send(line + "\r\n")
        return self.line(timeout)

    def ok(self, line, timeout=None):
        r = self.cmd(line, timeout)
        assert r.startswith("+OK"), f"{line!r} -> {r!r}"
        return r

    def multiline(self):
        """Lines of a multi-line answer up to the lone dot, unstuffed, as bytes."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                self._fill(self.timeout)
            i = self.buf.index(b"\r\n")
            l, self.buf = self.buf[:i], self.buf[i + 2:]
            if l == b".":
                return lines
            lines.append(l[1:] if l.startswith(b".") else l)

    def login(self, user=ALICE, password=PASSWORD):
        self.ok(f"USER {user}")
        return self.ok(f"PASS {password}")

    def starttls(self):
        self.sock = insecure_ctx().wrap_socket(self.sock, server_hostname=HOSTNAME)

    def pending(self, wait=0.3):
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                self._fill(end - time.monotonic())
            except (socket.timeout, TimeoutError, Closed):
                break
        data, self.buf = self.buf, b""
        return data

    def wait_closed(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server did not close; got {self.buf[:300]!r}")
            try:
                self._fill(left)
            except Closed:
                data, self.buf = self.buf, b""
                return data
            except (socket.timeout, TimeoutError):
                continue

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
