"""IMAP helpers for the e2e tests: a logged-in imaplib client and a raw IMAP
connection that can misbehave on purpose (hostile literals, pipelining)."""
import socket
import time

import hermodtest


def login(inst, user="alice@hosted.test", password=hermodtest.PASSWORD):
    c = inst.imap()
    c.login(user, password)
    return c


class RawIMAP:
    """A plain socket speaking IMAP line by line."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self, timeout=10):
        deadline = time.time() + timeout
        while b"\r\n" not in self.buf:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def until_tagged(self, tag, timeout=10):
        """Lines up to and including the one tagged `tag`."""
        lines = []
        while True:
            ln = self.line(timeout)
            lines.append(ln)
            if ln.startswith(tag + " "):
                return lines

    def cmd(self, tag, text, timeout=10):
        self.send(f"{tag} {text}\r\n")
        return self.until_tagged(tag, timeout)

    def closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()
