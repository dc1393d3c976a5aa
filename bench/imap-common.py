"""Shared machinery of the IMAP/POP3 benchmarks (bench/imap-*, bench/pop3-*).

Loaded by each script with importlib (the file name has a dash on purpose: it is
not a program). Provides, each under a temporary directory and on loopback only:

  * Dovecot: a private Debian Dovecot (`dovecot -c FILE`, own base_dir, passwd-file
    users, maildir, ssl = no, limits raised for 10,000 connections); stopped with
    `doveadm -c FILE stop`.
  * Hermod: `hermod init` + one domain + addresses, IMAP and POP3 listeners,
    plaintext_auth loopback; started as a child and stopped by its PID.
  * the same passwords on both sides: one argon2id hash string (libsodium,
    m=8 KiB, t=1) written into Dovecot's passwd-file ({ARGON2ID}) and into
    hermod's address row, so a login costs both servers the same small amount
    and the benchmarks measure the IMAP/POP3 servers, not password hashing (a
    production-cost argon2id verify takes ~58 ms of CPU here, on either side).
  * a deterministic corpus (the same bytes for both servers) and fast loaders:
    Dovecot's maildir files are written directly and indexed with doveadm; hermod
    gets the messages over SMTP (several pipelining sessions).
  * a small literal-aware IMAP client on a raw socket, /proc memory and CPU readers.
"""
import multiprocessing
import os
import pwd
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

DOMAIN = "bench.test"
PASSWORD = "bench-Pass-1"
SENDER = "sender@remote.test"
NEEDLE = "quixotically"      # SEARCH BODY word: in the body of 1% of the corpus, nowhere else
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(name, msg):
    print(f"{name}: {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def make_top(prefix):
    top = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(top, 0o755)   # the mail user (nobody) must traverse it
    return top


def drop_caches():
    """Empties the page cache for a cold measurement; False when not allowed."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- password hash

MKHASH_C = r"""
#include <sodium.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	char out[crypto_pwhash_STRBYTES];
	if (argc != 2 || sodium_init() < 0)
		return 2;
	if (crypto_pwhash_str_alg(out, argv[1], strlen(argv[1]), crypto_pwhash_OPSLIMIT_MIN,
				  crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return 1;
	puts(out);
	return 0;
}
"""


def cheap_argon2id(top, password=PASSWORD):
    src = os.path.join(top, "mkhash.c")
    exe = os.path.join(top, "mkhash")
    with open(src, "w") as f:
        f.write(MKHASH_C)
    subprocess.run(["cc", "-O1", src, "-o", exe, "-lsodium"], check=True, capture_output=True)
    return subprocess.run([exe, password], check=True, capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------- corpus

_SYL = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "fa", "go", "hu", "be", "pe", "ri", "ta"]


def _vocab():
    r = random.Random(1)
    words = set()
    while len(words) < 3000:
        words.add("".join(r.choice(_SYL) for _ in range(r.randint(1, 4))))
    return sorted(words)


VOCAB = _vocab()


def has_needle(i):
    return i % 100 == 7


def corpus_message(i, to):
    """Message i of the corpus (CRLF bytes, ~1.5 KiB), deterministic."""
    r = random.Random(i)
    words = VOCAB
    subject = " ".join(r.choice(words) for _ in range(r.randint(3, 7)))
    lines = []
    for _ in range(r.randint(12, 28)):
        lines.append(" ".join(r.choice(words) for _ in range(r.randint(6, 12))))
    if has_needle(i):
        k = r.randrange(len(lines))
        lines[k] = lines[k] + " " + NEEDLE + " " + r.choice(words)
    day = 1 + i % 28
    head = (f"From: Sender {i % 50} <sender{i % 50}@example.org>\r\n"
            f"To: <{to}>\r\n"
            f"Subject: {subject}\r\n"
            f"Date: Mon, {day:02d} Jun 2025 {i % 24:02d}:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <{i}.bench@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    return (head + "\r\n".join(lines) + "\r\n").encode()


# ---------------------------------------------------------------- /proc readers

def smaps_rollup(pid):
    """{'Rss': KiB, 'Pss': KiB, ...} of a process (empty if it is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1].isdigit():
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def proc_children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def proc_tree(root):
    kids = proc_children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def tree_cpu_ticks(root):
    total = 0
    for pid in proc_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total


# ---------------------------------------------------------------- waiting

def wait_pidfile(path, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                pid = int(f.read().split()[0])
            if os.path.exists(f"/proc/{pid}"):
                return pid
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no pid file {path}")


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def wait_gone(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)


# ---------------------------------------------------------------- Dovecot

DOVECOT_CONF = """\
# private benchmark instance (bench/imap-common.py): maildir, default fsync, loopback only
base_dir = {base}
state_dir = {top}/dvstate
instance_name = hermod-ibench-{tag}
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
log_path = {top}/dovecot.log
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_process_limit = 1000
default_client_limit = 15000
default_vsz_limit = 1G
passdb {{
  driver = passwd-file
  args = {top}/passwd
}}
userdb {{
  driver = passwd-file
  args = {top}/passwd
}}
protocol imap {{
  mail_max_userip_connections = 20000
}}
protocol pop3 {{
  mail_max_userip_connections = 20000
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_limit = 1000
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap {{
  process_limit = 20000
}}
service pop3 {{
  process_limit = 1000
}}
service auth {{
  client_limit = 15000
}}
service anvil {{
  client_limit = 15000
}}
"""


class Dovecot:
    name = "dovecot"

    def __init__(self, top, users, pwhash):
        self.top = os.path.join(top, "dovecot")
        os.makedirs(self.top)
        os.chmod(self.top, 0o755)
        self.base = tempfile.mkdtemp(prefix="hib", dir="/tmp")   # short socket paths
        os.chmod(self.base, 0o755)
        self.conf = os.path.join(self.top, "dovecot.conf")
        self.imap_port, self.pop3_port = free_port(), free_port()
        self.users = list(users)
        self.pwhash = pwhash
        self.pid = None
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        os.makedirs(os.path.join(self.top, "dvstate"))
        with open(os.path.join(self.top, "passwd"), "w") as f:
            for u in self.users:
                home = self.home(u)
                os.makedirs(home)
                os.chown(home, self.uid, self.gid)
                f.write(f"{u}:{{ARGON2ID}}{pwhash}:{self.uid}:{self.gid}::{home}::\n")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(base=self.base, top=self.top, tag=os.path.basename(self.base),
                                        imap=self.imap_port, pop3=self.pop3_port))

    def home(self, user):
        return os.path.join(self.top, "home", user)

    def load(self, user, n, msg_fn, index=True):
        """Writes n corpus messages as maildir files (in cur/, no flags) and
        lets doveadm build the index, as if they had been delivered earlier."""
        md = os.path.join(self.home(user), "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        t0 = int(time.time()) - n
        cur = os.path.join(md, "cur")
        for i in range(n):
            data = msg_fn(i).replace(b"\r\n", b"\n")   # maildir files are LF
            name = f"{t0 + i}.M{i}P{os.getpid()}.bench,S={len(data)}:2,"
            with open(os.path.join(cur, name), "wb") as f:
                f.write(data)
        for d, _, files in os.walk(md):
            os.chown(d, self.uid, self.gid)
            for name in files:
                os.chown(os.path.join(d, name), self.uid, self.gid)
        os.chown(self.home(user), self.uid, self.gid)
        if index and self.pid:
            self.doveadm("index", "-u", user, "INBOX")

    def doveadm(self, *args):
        r = subprocess.run(["doveadm", "-c", self.conf, *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def start(self):
        subprocess.run(["dovecot", "-c", self.conf], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        self.pid = wait_pidfile(os.path.join(self.base, "master.pid"))
        wait_port(self.imap_port)
        wait_port(self.pop3_port)

    def stop(self):
        if self.pid:
            subprocess.run(["doveadm", "-c", self.conf, "stop"], stdin=subprocess.DEVNULL,
                           capture_output=True)
            wait_gone(self.pid, 60)
            self.pid = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def cpu(self):
        return tree_cpu_ticks(self.pid)

    def memory(self):
        """Sum of Rss/Pss (KiB) over the whole Dovecot process tree, and the
        number and Pss of its imap processes."""
        tot = {"Rss": 0, "Pss": 0, "imap": 0, "imap_pss": 0, "procs": 0}
        for pid in proc_tree(self.pid):
            m = smaps_rollup(pid)
            tot["Rss"] += m.get("Rss", 0)
            tot["Pss"] += m.get("Pss", 0)
            tot["procs"] += 1
            if proc_comm(pid) == "imap":
                tot["imap"] += 1
                tot["imap_pss"] += m.get("Pss", 0)
        return tot

    def log_tail(self):
        try:
            with open(os.path.join(self.top, "dovecot.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""


# ---------------------------------------------------------------- hermod

HERMOD_CONF = """\
hostname   mx.bench.local
data_dir   {top}/data
log_level  {log_level}
tls {{ certificate {top}/tls/cert.pem; key {top}/tls/key.pem }}
listen smtp 127.0.0.1:{smtp}
listen imap 127.0.0.1:{imap}
listen pop3 127.0.0.1:{pop3}
plaintext_auth loopback
limits {{ connections 30000; connections_per_ip 30000; max_message_size 50M; auth_max_failures 100000 }}
plan pro {{ quota 100G; message_size 50M; recipients 100; daily_messages 10000000 }}
"""


class Hermod:
    name = "hermod"

    def __init__(self, binary, top, users, pwhash, log_level="info"):
        self.bin = os.path.abspath(binary)
        self.top = os.path.join(top, "hermod")
        os.makedirs(self.top)
        self.conf = os.path.join(self.top, "hermod.conf")
        self.smtp_port, self.imap_port, self.pop3_port = free_port(), free_port(), free_port()
        self.users = list(users)
        self.proc = None
        self.logf = None
        with open(self.conf, "w") as f:
            f.write(HERMOD_CONF.format(top=self.top, smtp=self.smtp_port, imap=self.imap_port,
                                       pop3=self.pop3_port, log_level=log_level))
        self.cli("init")
        self.cli("domain", "add", DOMAIN, "--plan", "pro")
        for u in self.users:
            self.cli("address", "add", u, "--password-stdin", stdin=PASSWORD + "\n")
        # the same low-cost argon2id string Dovecot gets (see the module comment)
        db = sqlite3.connect(os.path.join(self.top, "data", "hermod.db"))
        with db:
            n = db.execute("UPDATE addresses SET password_hash = ? WHERE password_hash IS NOT NULL",
                           (pwhash,)).rowcount
        db.close()
        if n != len(self.users):
            raise RuntimeError(f"set the bench password hash on {n} addresses, expected {len(self.users)}")

    def cli(self, *args, stdin=None):
        r = subprocess.run([self.bin, "-c", self.conf, *args], input=stdin,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"hermod {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def start(self, need="imap"):
        path = os.path.join(self.top, "serve.log")
        self.logf = open(path, "ab")
        off = self.logf.tell()
        self.proc = subprocess.Popen([self.bin, "-c", self.conf, "serve"], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            with open(path, "rb") as f:
                f.seek(off)
                text = f.read()
            if b"event=ready" in text:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("hermod serve exited: " + text.decode(errors="replace")[-2000:])
            if time.monotonic() > deadline:
                raise RuntimeError("hermod serve did not become ready")
            time.sleep(0.05)
        self.pid = self.proc.pid
        self.skipped = set(m.decode() for m in re.findall(rb"event=skipped service=(\w+) ", text))
        if need in self.skipped:
            self.stop()
            raise NotImplementedError(f"this hermod build has no {need.upper()} server yet")

    def has_pop3(self):
        return "pop3" not in self.skipped

    def count(self, user, folder="INBOX"):
        for line in self.cli("folder", "list", user).splitlines():
            cols = line.split("\t")
            if cols and cols[0] == folder:
                return int(cols[1])
        return 0

    def load(self, user, n, msg_fn, sessions=6):
        """Delivers n corpus messages over SMTP (durable on return)."""
        smtp_load(self.smtp_port, user, n, msg_fn, sessions)
        got = self.count(user)
        if got < n:
            raise RuntimeError(f"hermod holds {got} of {n} messages for {user}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None

    cleanup = stop

    def cpu(self):
        return tree_cpu_ticks(self.proc.pid)

    def memory(self):
        m = smaps_rollup(self.proc.pid)
        return {"Rss": m.get("Rss", 0), "Pss": m.get("Pss", 0), "procs": 1}

    def log_tail(self):
        try:
            with open(os.path.join(self.top, "serve.log"), "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------- SMTP loader

def _smtp_worker(port, user, idx, msg_fn):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError("SMTP connection closed")
            if line[3:4] != b"-":
                return line

    reply()
    s.sendall(b"EHLO bench.local\r\n")
    reply()
    for i in idx:
        data = msg_fn(i)
        data = re.sub(rb"(^|\r\n)\.", rb"\1..", data)
        # one command per round trip, not PIPELINING: a server that writes each
        # pipelined reply separately without TCP_NODELAY stalls ~40 ms on the
        # client's delayed ACK, and loading is not what is being measured
        for cmd, want in ((f"MAIL FROM:<{SENDER}>", b"250"), (f"RCPT TO:<{user}>", b"250"), ("DATA", b"354")):
            s.sendall(cmd.encode() + b"\r\n")
            line = reply()
            if not line.startswith(want):
                raise RuntimeError(f"SMTP: {line!r}")
        s.sendall(data + b".\r\n")
        line = reply()
        if not line.startswith(b"250"):
            raise RuntimeError(f"SMTP after DATA: {line!r}")
    s.sendall(b"QUIT\r\n")
    s.close()


def smtp_load(port, user, n, msg_fn, sessions):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_smtp_worker, args=(port, user, range(k, n, sessions), msg_fn))
             for k in range(sessions)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("an SMTP load session failed")


# ---------------------------------------------------------------- raw IMAP client

class ImapError(Exception):
    pass


class RawImap:
    """Minimal IMAP client: one command at a time, reads the whole response
    (literal-aware) into bytes. Fast enough not to be the bottleneck."""

    def __init__(self, port, timeout=120):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.pos = 0
        self.n = 0
        self.greeting = self.readline()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ImapError("connection closed; unread: %r" % self.buf[self.pos:self.pos + 200])
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def readline(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i + 2]
                self.pos = i + 2
                return line
            self._fill()

    def readn(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def response(self, tag):
        """Reads until the tagged line; returns (list of untagged chunks, tagged line)."""
        tagb = tag.encode() + b" "
        untagged = []
        while True:
            line = self.readline()
            if line.startswith(tagb):
                return untagged, line
            while line[-3:] == b"}\r\n":
                m = re.search(rb"\{(\d+)\}\r\n$", line)
                if not m:
                    break
                line += self.readn(int(m.group(1)))
                line += self.readline()
            untagged.append(line)

    def cmd(self, text, ok=True):
        self.n += 1
        tag = f"b{self.n}"
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        untagged, tagged = self.response(tag)
        if ok and tagged.split(b" ", 2)[1] != b"OK":
            raise ImapError(f"{text[:60]!r} -> {tagged!r}")
        return untagged, tagged

    def cmd_bulk(self, text):
        """For large responses without literals (FETCH FLAGS UID, SEARCH): reads
        raw chunks until the tagged line; returns (untagged bytes, tagged line).
        Keeps the client far from being the bottleneck."""
        self.n += 1
        tag = f"b{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        chunks = [self.buf[self.pos:]]
        self.buf, self.pos = b"", 0
        needle = b"\r\n" + tag + b" "
        tail = b"\r\n" + chunks[0]
        while True:
            i = tail.find(needle)
            if i >= 0 or tail.startswith(tag + b" "):
                break
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ImapError("connection closed during " + text[:40])
            chunks.append(chunk)
            tail = tail[-(len(needle) + 2):] + chunk
        data = b"".join(chunks)
        i = data.rfind(needle)
        start = i + 2 if i >= 0 else 0
        end = data.find(b"\r\n", start)
        while end < 0:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ImapError("connection closed")
            data += chunk
            end = data.find(b"\r\n", start)
        tagged = data[start:end + 2]
        self.buf, self.pos = data[end + 2:], 0
        if tagged.split(b" ", 2)[1] != b"OK":
            raise ImapError(f"{text[:60]!r} -> {tagged!r}")
        return data[:start], tagged

    def append(self, mailbox, data, flags=""):
        self.n += 1
        tag = f"b{self.n}"
        fl = f" ({flags})" if flags else ""
        self.sock.sendall(f"{tag} APPEND {mailbox}{fl} {{{len(data)}}}\r\n".encode())
        line = self.readline()
        if not line.startswith(b"+"):
            raise ImapError(f"APPEND not continued: {line!r}")
        self.sock.sendall(data + b"\r\n")
        untagged, tagged = self.response(tag)
        if tagged.split(b" ", 2)[1] != b"OK":
            raise ImapError(f"APPEND -> {tagged!r}")
        return tagged

    def login(self, user, password=PASSWORD):
        return self.cmd(f'LOGIN "{user}" "{password}"')

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- reporting

def ratio_line(what, hermod_v, dovecot_v, higher_is_better):
    if not hermod_v or not dovecot_v:
        return f"ratio {what}: n/a"
    r = hermod_v / dovecot_v if higher_is_better else dovecot_v / hermod_v
    return f"ratio {what}: hermod is {r:.2f}x {'better' if r >= 1 else 'worse'} than dovecot"


def sides():
    """Which servers to run: HERMOD_BENCH_ONLY=dovecot|hermod, else both."""
    only = os.environ.get("HERMOD_BENCH_ONLY", "")
    return [s for s in ("dovecot", "hermod") if not only or s == only]


def load_module():
    """For the bench scripts: this file as a module."""
    return sys.modules[__name__]


def check_tools(name):
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    for tool in ("dovecot", "doveadm", "cc"):
        if shutil.which(tool) is None:
            log(name, f"{tool} not found: run scripts/install-deps --bench")
            return False
    return True
