"""A private Debian Postfix on loopback, as the "rest of the internet" for hermod's
sending tests (issue 4, Proof 1) and for bench/submission-relay.

PrivatePostfix runs its own instance from its own configuration directory
(`postfix -c DIR start` / `postfix -c DIR stop`, never a signal by name):

  * queue_directory, data_directory, the log and the mail under one temporary
    directory in /tmp (short: unix socket paths must stay under ~100 bytes);
  * smtpd on 127.0.0.1:<port> only (inet_interfaces = 127.0.0.1, IPv4 only),
    offering STARTTLS with a throw-away self-signed certificate;
  * it is the final destination of `remote.test`: virtual(8) delivers into one
    maildir per user (user, other and jöran @remote.test), owned by `nobody`;
    unknown users of remote.test are refused at RCPT time (550 5.1.1);
  * mail for hermod's domains goes to hermod's MX port through a transport map
    (`hosted.test smtp:[127.0.0.1]:PORT`), with opportunistic STARTTLS;
  * it never touches real DNS: smtp_dns_support_level = disabled, native host
    lookup only (every next hop is a bracketed literal address), no reverse
    lookups of SMTP clients (smtpd_peername_lookup = no);
  * retries are compressed (1 s backoff) so that a hermod restart in a test
    does not leave mail waiting for Postfix's default 5-minute queue run.

The `postfix` fixture at the bottom gives a test one instance (not started, so
the test can learn hermod's port first); import it into a test module.
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from hermodtest import free_port

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SENDMAIL = "/usr/sbin/sendmail"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"

REMOTE_DOMAIN = "remote.test"
REMOTE_USERS = ("user", "other", "jöran")   # jöran: an SMTPUTF8 (RFC 6531) mailbox

MASTER_CF = """\
# private instance: nothing chrooted, SMTP on a loopback high port only
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {top}/q
data_directory = {top}/data
syslog_name = postfix-hermod-e2e
maillog_file_prefixes = {top}
maillog_file = {top}/postfix.log
myhostname = mx.{domain}
mydomain = {domain}
myorigin = {domain}
mydestination =
relay_domains =
local_transport = error:local delivery is disabled in this test instance
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
# hermod must add Date and Message-ID itself: Postfix adds none to mail from SMTP clients
local_header_rewrite_clients =
always_add_missing_headers = no
biff = no
# the final destination of {domain}: one maildir per user
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {top}/vmail
virtual_mailbox_maps = inline:{{ {mailboxes} }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_transport = virtual
# hermod's domains: straight to hermod's MX port, never DNS
transport_maps = inline:{{ {transports} }}
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtpd_tls_security_level = may
smtpd_tls_cert_file = {top}/tls/cert.pem
smtpd_tls_key_file = {top}/tls/key.pem
smtpd_tls_loglevel = 1
# tests restart hermod: retry within seconds, not minutes
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
{extra}
"""


class PostfixError(Exception):
    pass


class PrivatePostfix:
    """One private Postfix instance (see the module comment). Not started on creation."""

    def __init__(self, hermod_domains=("hosted.test", "catch.test"), hermod_port=None,
                 domain=REMOTE_DOMAIN, users=REMOTE_USERS, extra_main="", tls=True):
        # /tmp, not pytest's tmp_path: short socket paths, and `nobody` must reach the maildirs
        self.top = tempfile.mkdtemp(prefix="hpf", dir="/tmp")
        os.chmod(self.top, 0o755)
        self.confdir = os.path.join(self.top, "etc")
        self.port = free_port()
        self.domain = domain
        self.users = tuple(users)
        self.hermod_domains = tuple(hermod_domains)
        self.hermod_port = hermod_port
        self.extra_main = extra_main
        self.tls = tls
        self.master_pid = None
        self.log_path = os.path.join(self.top, "postfix.log")

    # ------------------------------------------------------------ configuration
    def address(self, user):
        return f"{user}@{self.domain}"

    def maildir(self, user):
        return os.path.join(self.top, "vmail", self.domain, user)

    def write_config(self):
        if self.hermod_port is None:
            raise PostfixError("set hermod_port before starting Postfix")
        nobody = pwd.getpwnam("nobody")
        os.makedirs(self.confdir, exist_ok=True)
        os.makedirs(os.path.join(self.top, "q"), mode=0o755, exist_ok=True)
        vmail = os.path.join(self.top, "vmail", self.domain)
        os.makedirs(vmail, exist_ok=True)
        for d in (os.path.join(self.top, "vmail"), vmail):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        mailboxes = ", ".join(f"{self.address(u)}={self.domain}/{u}/" for u in self.users)
        transports = ", ".join(f"{d}=smtp:[127.0.0.1]:{self.hermod_port}"
                               for d in self.hermod_domains)
        extra = self.extra_main
        if not self.tls:
            extra += "\nsmtpd_tls_security_level = none\nsmtp_tls_security_level = none\n"
        self._make_cert()
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(top=self.top, domain=self.domain, mailboxes=mailboxes,
                                   transports=transports, uid=nobody.pw_uid,
                                   gid=nobody.pw_gid, extra=extra))
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))

    def _make_cert(self):
        tls = os.path.join(self.top, "tls")
        if os.path.exists(os.path.join(tls, "cert.pem")):
            return
        os.makedirs(tls, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", f"/CN=mx.{self.domain}", "-keyout", os.path.join(tls, "key.pem"),
                        "-out", os.path.join(tls, "cert.pem")],
                       check=True, capture_output=True, timeout=60)
        os.chmod(os.path.join(tls, "key.pem"), 0o600)

    # ------------------------------------------------------------ lifecycle
    def _postfix(self, *args, check=True):
        # Postfix prints fatal errors only to a terminal: run it under script(1) to see them
        cmd = " ".join([POSTFIX, "-c", self.confdir] + list(args))
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise PostfixError(f"postfix {' '.join(args)} failed ({r.returncode}): "
                               f"{r.stdout.strip()} {r.stderr.strip()}\nlog:\n{self.log()[-2000:]}")
        return r

    def start(self):
        self.write_config()
        self._postfix("check")
        self._postfix("start")
        self.master_pid = _wait_pidfile(os.path.join(self.top, "q", "pid", "master.pid"))
        _wait_port(self.port)
        return self

    def running(self):
        return self.master_pid is not None and os.path.exists(f"/proc/{self.master_pid}")

    def stop(self):
        """Stops this instance with its own stop command; waits for its master to go."""
        if self.master_pid is None:
            return
        self._postfix("stop", check=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and os.path.exists(f"/proc/{self.master_pid}"):
            time.sleep(0.05)
        self.master_pid = None

    def cleanup(self):
        self.stop()
        if os.environ.get("HERMOD_E2E_KEEP"):
            return
        shutil.rmtree(self.top, ignore_errors=True)

    # ------------------------------------------------------------ mail in and out
    def sendmail(self, sender, rcpts, data):
        """Posts a message through this instance's sendmail(1) (pickup -> cleanup -> qmgr)."""
        r = subprocess.run([SENDMAIL, "-C", self.confdir, "-i", "-f", sender, "--", *rcpts],
                           input=data, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise PostfixError(f"sendmail exited {r.returncode}: {r.stderr.decode(errors='replace')}")

    def flush(self):
        """Asks the queue manager to retry deferred mail now (postqueue -f)."""
        subprocess.run([POSTQUEUE, "-c", self.confdir, "-f"], capture_output=True, timeout=30)

    def queue(self):
        """`postqueue -j` output: one JSON object per queued message."""
        import json
        r = subprocess.run([POSTQUEUE, "-c", self.confdir, "-j"], capture_output=True,
                           text=True, timeout=30)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def messages(self, user):
        """Raw bytes of every message in user's maildir (new and cur), oldest first."""
        out = []
        base = self.maildir(user)
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for name in names:
                p = os.path.join(d, name)
                out.append((os.stat(p).st_mtime_ns, name, p))
        res = []
        for _, _, p in sorted(out):
            with open(p, "rb") as f:
                res.append(f.read())
        return res

    def count(self, user):
        return len(self.messages(user))

    def wait_messages(self, user, n, timeout=30):
        """Waits until user's maildir holds at least n messages; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.messages(user)
            if len(msgs) >= n:
                return msgs
            time.sleep(0.1)
        raise AssertionError(f"{self.address(user)} has {len(self.messages(user))} of {n} "
                             f"messages after {timeout}s; Postfix log tail:\n{self.log()[-3000:]}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            time.sleep(0.1)
        raise AssertionError(f"Postfix log never showed {needle!r}; tail:\n{self.log()[-3000:]}")


def _wait_pidfile(path, timeout=20):
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
    raise PostfixError(f"Postfix wrote no pid file {path}")


def _wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise PostfixError(f"nothing listening on 127.0.0.1:{port}")


def postfix_available():
    return os.path.exists(POSTFIX) and os.path.exists(SENDMAIL) and os.geteuid() == 0


@pytest.fixture
def postfix():
    """A PrivatePostfix, not yet started (set .hermod_port, then .start()); always stopped."""
    if not postfix_available():
        pytest.skip("needs Debian's postfix and root (scripts/install-deps --bench)")
    pf = PrivatePostfix()
    yield pf
    pf.cleanup()
