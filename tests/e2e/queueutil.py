"""Peers for the outbound queue's end-to-end tests (tests/e2e/test_queue.py).

Everything here is a real server on loopback, started and stopped by PID:

  * ScriptedSMTP: a small SMTP server (socketserver, one thread per
    connection) whose replies follow a script, so a test can make the remote
    answer 4xx then 250, 5xx for one recipient, or never answer at all. It
    keeps every message it accepted (envelope and bytes).
  * SmtpSink: Postfix's /usr/sbin/smtp-sink, dumping each transaction to a
    file.
  * Nsd: Debian's nsd, authoritative for test zones on a high port, for the
    MX path (dns { forward 127.0.0.1@PORT }).
  * submit(): authenticated submission to hermod with smtplib.
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

from hermodtest import PASSWORD, free_port, insecure_tls

SMTP_SINK = "/usr/sbin/smtp-sink"
NSD = "/usr/sbin/nsd"


# ---------------------------------------------------------------- scripted SMTP server

class Script:
    """What the scripted server answers. Each decision is a function of the
    transaction number (1 for the first MAIL FROM the server saw, over all its
    connections: the client may reuse a connection) and, for RCPT, the
    address; it returns a full reply line ("250 2.1.5 Ok") or None for the default.

        banner:  None, or "silent" to accept the connection and never answer
        rcpt:    fn(txn_no, address) -> reply or None (250)
        data_end: fn(txn_no) -> reply or None (250)
        close_after_data: hang up (without a word) after answering the final dot,
                  as a server whose idle timeout is shorter than the client's
    """

    def __init__(self, banner=None, rcpt=None, data_end=None, close_after_data=False):
        self.banner = banner
        self.rcpt = rcpt
        self.data_end = data_end
        self.close_after_data = close_after_data


class Message:
    def __init__(self, mail_from, rcpts, data, conn_no, params):
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.data = data
        self.conn_no = conn_no
        self.mail_params = params

    def header(self, name):
        m = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[ \t]*(.*?)\r?$", self.data)
        return m.group(1).decode(errors="replace") if m else None


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        srv = self.server.owner
        with srv.lock:
            srv.connections += 1
            conn_no = srv.connections
            srv.concurrent += 1
            srv.max_concurrent = max(srv.max_concurrent, srv.concurrent)
        try:
            self._session(srv, conn_no)
        finally:
            with srv.lock:
                srv.concurrent -= 1

    def _session(self, srv, conn_no):
        script = srv.script
        if script.banner == "silent":
            # accept and say nothing: the client must time out and move on
            while not srv.stopping.wait(0.1):
                pass
            return
        self.reply("220 remote.test ESMTP scripted")
        mail_from, params, rcpts, txn_no = None, "", [], 0
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode(errors="replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-remote.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250-SMTPUTF8\r\n250 SIZE 100000000\r\n")
                self.wfile.flush()
            elif verb == "MAIL":
                m = re.match(r"(?i)MAIL FROM:<([^>]*)>(.*)", cmd)
                mail_from, params, rcpts = m.group(1), m.group(2).strip(), []
                with srv.lock:
                    srv.transactions += 1
                    txn_no = srv.transactions
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                addr = re.match(r"(?i)RCPT TO:<([^>]*)>", cmd).group(1)
                r = script.rcpt(txn_no, addr) if script.rcpt else None
                r = r or "250 2.1.5 Ok"
                if r.startswith("2"):
                    rcpts.append(addr)
                with srv.lock:
                    srv.rcpt_log.append((txn_no, addr, r))
                self.reply(r)
            elif verb == "DATA":
                if not rcpts:
                    self.reply("554 5.5.1 Error: no valid recipients")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = self._read_data()
                if data is None:
                    return
                r = script.data_end(txn_no) if script.data_end else None
                r = r or "250 2.0.0 Ok: queued"
                if r.startswith("2"):
                    with srv.lock:
                        srv.messages.append(Message(mail_from, rcpts, data, conn_no, params))
                self.reply(r)
                if script.close_after_data:
                    return
            elif verb == "RSET":
                mail_from, rcpts = None, []
                with srv.lock:
                    srv.rsets += 1
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                with srv.lock:
                    srv.quits += 1
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")

    def _read_data(self):
        lines = []
        while True:
            line = self.rfile.readline(1 << 20)
            if not line:
                return None
            if line == b".\r\n":
                return b"".join(lines)
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line)


class ConnTracker:
    """How many of something happen at once (a script hook counts its transactions)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.concurrent = 0
        self.max_concurrent = 0

    def enter(self):
        with self.lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)

    def leave(self):
        with self.lock:
            self.concurrent -= 1


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class ScriptedSMTP:
    """A scripted SMTP server on host:port (a thread; stop() closes it)."""

    def __init__(self, script=None, host="127.0.0.1", port=None):
        self.host = host
        self.port = port or free_port()
        self.script = script or Script()
        self.lock = threading.Lock()
        self.connections = 0
        self.concurrent = 0
        self.max_concurrent = 0
        self.transactions = 0  # MAIL FROMs received
        self.rsets = 0  # RSETs received (connection reuse)
        self.quits = 0  # connections that ended with QUIT
        self.messages = []
        self.rcpt_log = []
        self.stopping = threading.Event()
        self.server = None
        self.thread = None

    def start(self):
        self.stopping.clear()
        self.server = _TCPServer((self.host, self.port), _Handler)
        self.server.owner = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.stopping.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def delivered_to(self, addr):
        with self.lock:
            return [m for m in self.messages if addr in m.rcpts]

    def wait_messages(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"remote got {len(self.messages)} messages, expected {n} within {timeout}s")


# ---------------------------------------------------------------- Postfix's smtp-sink

class SmtpSink:
    """/usr/sbin/smtp-sink on 127.0.0.1:port, one dump file per transaction."""

    def __init__(self):
        self.port = free_port()
        # smtp-sink writes as nobody, who cannot enter pytest's private (0700) tmp tree
        self.dir = tempfile.mkdtemp(prefix="hermod-sink-")
        os.chmod(self.dir, 0o777)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [SMTP_SINK, "-u", "nobody", "-d", os.path.join(self.dir, "msg-"), f"127.0.0.1:{self.port}", "100"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"smtp-sink exited {self.proc.returncode}")
                time.sleep(0.05)
        raise AssertionError("smtp-sink did not listen")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def dumps(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_dumps(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = self.dumps()
            if len(d) >= n:
                return d
            time.sleep(0.05)
        raise AssertionError(f"smtp-sink has {len(self.dumps())} transactions, expected {n}")


# ---------------------------------------------------------------- nsd

class Nsd:
    """nsd authoritative for the given zones on 127.0.0.1:port (UDP and TCP)."""

    def __init__(self, root, zones):
        self.dir = os.path.join(root, "nsd")
        os.makedirs(self.dir, exist_ok=True)
        self.port = self._free_udp_tcp_port()
        self.zones = zones  # {name: zone file text}
        self.proc = None

    @staticmethod
    def _free_udp_tcp_port():
        for _ in range(50):
            port = free_port()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
            finally:
                u.close()
        raise AssertionError("no free port for nsd")

    def _write(self):
        conf = [
            "server:",
            "  ip-address: 127.0.0.1",
            f"  port: {self.port}",
            '  username: ""',
            '  chroot: ""',
            f'  zonesdir: "{self.dir}"',
            f'  pidfile: "{self.dir}/nsd.pid"',
            f'  xfrdfile: "{self.dir}/xfrd.state"',
            f'  zonelistfile: "{self.dir}/zone.list"',
            '  database: ""',
            f'  logfile: "{self.dir}/nsd.log"',
            "  server-count: 1",
            "  verbosity: 1",
            "remote-control:",
            "  control-enable: no",
        ]
        for name, text in self.zones.items():
            with open(os.path.join(self.dir, name + ".zone"), "w") as f:
                f.write(text)
            conf += ["zone:", f"  name: {name}", f"  zonefile: {name}.zone"]
        with open(os.path.join(self.dir, "nsd.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")

    def _answers(self, zone):
        # a minimal SOA query over UDP
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        for label in zone.split("."):
            q += bytes([len(label)]) + label.encode()
        q += b"\x00\x00\x06\x00\x01"
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        try:
            s.sendto(q, ("127.0.0.1", self.port))
            data, _ = s.recvfrom(512)
            return data[:2] == b"\x12\x34"
        except OSError:
            return False
        finally:
            s.close()

    def start(self):
        self._write()
        # -d: stay in the foreground, so the PID we hold is nsd's own
        self.proc = subprocess.Popen([NSD, "-d", "-c", os.path.join(self.dir, "nsd.conf")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        zone = next(iter(self.zones))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._answers(zone):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        log = ""
        try:
            with open(os.path.join(self.dir, "nsd.log")) as f:
                log = f.read()[-2000:]
        except OSError:
            pass
        self.stop()
        raise AssertionError(f"nsd did not answer on 127.0.0.1:{self.port}; log:\n{log}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def have_tools(*paths):
    return all(shutil.which(p) or os.access(p, os.X_OK) for p in paths)


# ---------------------------------------------------------------- submission

def submit(inst, rcpts, data, user="alice@hosted.test", sender=None, mail_options=(), rcpt_options=()):
    """One authenticated submission over STARTTLS; returns smtplib's refused dict."""
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=20) as s:
        s.ehlo("printer.test")
        s.starttls(context=insecure_tls())
        s.ehlo("printer.test")
        s.login(user, PASSWORD)
        return s.sendmail(sender or user, rcpts, data, mail_options=list(mail_options),
                          rcpt_options=list(rcpt_options))


def message(subject, body="hello from the queue tests\r\n", sender="alice@hosted.test", to="user@remote.test",
            msgid=None):
    hdrs = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if msgid:
        hdrs.append(f"Message-ID: <{msgid}>")
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode()


def wait_for(pred, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
