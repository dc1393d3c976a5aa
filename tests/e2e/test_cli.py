"""End-to-end tests of the `hermod` command line: every verb, every refusal.

Each test runs the real binary ($HERMOD_BIN, default build/hermod) against
its own instance made with `hermod -c TMP/hermod.conf init`. Password hashes
are checked by reading the store's SQLite file and verifying them with the
system's libsodium through ctypes, so "the account and address passwords are
separate" is proven on the stored secrets, not inferred from messages.
"""
import ctypes
import ctypes.util
import os
import pty
import re
import select
import sqlite3
import stat
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("HERMOD_BIN") or os.path.join(REPO, "build", "hermod"))

PW = "s3cret-Pass"
PW2 = "another-Pass-2"


def _decode(b):
    return b.decode("utf-8", errors="surrogateescape")


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = _decode(proc.stdout)
        self.err = _decode(proc.stderr)
        self.raw = proc.stdout

    def __repr__(self):
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


class Cli:
    """One instance directory and a way to run `hermod -c its-config ...`."""

    def __init__(self, root):
        self.root = str(root)
        self.conf = os.path.join(self.root, "hermod.conf")

    def run(self, *args, input=None, env=None, conf=True):
        argv = [BIN] + (["-c", self.conf] if conf else []) + list(args)
        if isinstance(input, str):
            input = input.encode()
        full_env = dict(os.environ)
        full_env.pop("HERMOD_CONFIG", None)
        full_env.update(env or {})
        # stdin is never the test runner's terminal: tests give input or /dev/null
        p = subprocess.run(argv, input=input if input is not None else b"",
                           capture_output=True, timeout=120, env=full_env,
                           cwd=os.path.dirname(self.root))
        return Result(p)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.code == 0, r
        return r

    def fails(self, *args, code=1, **kw):
        r = self.run(*args, **kw)
        assert r.code == code, r
        assert r.err.startswith("hermod: "), r
        return r

    def rows(self, *args):
        """A list verb's output: (header, rows as lists of columns)."""
        lines = self.ok(*args).out.splitlines()
        return lines[0].split("\t"), [l.split("\t") for l in lines[1:]]

    # ---- stored secrets --------------------------------------------------
    def db(self):
        data = os.path.join(self.root, "data")
        for dirpath, _, files in os.walk(data):
            for f in files:
                path = os.path.join(dirpath, f)
                with open(path, "rb") as fh:
                    if fh.read(16) == b"SQLite format 3\x00":
                        return path
        raise AssertionError(f"no SQLite database under {data}")

    def hashes(self):
        """{table: [argon2 strings]} for every table holding password hashes."""
        con = sqlite3.connect(f"file:{self.db()}?mode=ro", uri=True)
        try:
            found = {}
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for t in tables:
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')]
                for c in cols:
                    for (v,) in con.execute(f'SELECT "{c}" FROM "{t}"'):
                        if isinstance(v, str) and v.startswith("$argon2"):
                            found.setdefault(t, []).append(v)
            return found
        finally:
            con.close()

    def hashes_of(self, word):
        return [h for t, hs in self.hashes().items() if word in t for h in hs]


_sodium = None


def verify(hash_, password):
    """crypto_pwhash_str_verify from the system's libsodium."""
    global _sodium
    if _sodium is None:
        _sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        assert _sodium.sodium_init() >= 0
        _sodium.crypto_pwhash_str_verify.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong]
    pw = password.encode()
    return _sodium.crypto_pwhash_str_verify(hash_.encode(), pw, len(pw)) == 0


@pytest.fixture
def cli(tmp_path):
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"HERMOD_BIN {BIN} is not an executable: build it first")
    c = Cli(tmp_path / "inst")
    r = c.run("init")
    assert r.code == 0, r
    return c


@pytest.fixture
def dom(cli):
    """An instance with example.org hosted."""
    cli.ok("domain", "add", "example.org")
    return cli


def add_mailbox(cli, addr, password=PW, *extra):
    return cli.ok("address", "add", addr, "--password-stdin", *extra, input=password + "\n")


# ====================================================================== usage

def test_help_lists_every_verb(cli):
    r = cli.ok("help")
    for verb in ("init", "serve", "config check", "org add", "account add", "account passwd",
                 "domain add", "domain dns", "domain remove", "address add", "address list",
                 "address passwd", "address quota", "address remove", "access grant",
                 "access revoke", "folder list", "export"):
        assert f"hermod {verb}" in r.out, verb


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["domain"],
    ["domain", "frobnicate"],
    ["domain", "add"],                       # missing NAME
    ["domain", "add", "a.org", "b.org"],     # one too many
    ["domain", "add", "a.org", "--colour", "red"],
    ["domain", "add", "a.org", "--plan"],    # option without its value
    ["domain", "list", "--yes=1"],
    ["account", "add", "bob", "--role", "admin"],   # --role without --org
    ["domain", "add", "a.org", "--plan", "gold"],
    ["address", "add", "x@example.org", "--kind", "robot"],
    ["address", "add", "x@example.org", "--kind", "alias", "--target", "y@example.org", "--password-stdin"],
    ["address", "add", "x@example.org", "--kind", "alias"],   # alias without --target
    ["address", "add", "x@example.org", "--target", "y@example.org"],
    ["access", "grant", "bob", "x@example.org", "--perms", "read,fly"],
])
def test_usage_errors_exit_2(cli, args):
    r = cli.run(*args)
    assert r.code == 2, r
    assert "usage" in r.err, r
    assert r.out == "", r


def test_config_option_anywhere(cli):
    # -c after the verb, --config FILE and --config=FILE all work
    assert cli.run("domain", "list", "-c", cli.conf, conf=False).code == 0
    assert cli.run("--config", cli.conf, "domain", "list", conf=False).code == 0
    assert cli.run("domain", "list", f"--config={cli.conf}", conf=False).code == 0
    # HERMOD_CONFIG is the default when -c is absent
    r = cli.run("domain", "list", conf=False, env={"HERMOD_CONFIG": cli.conf})
    assert r.code == 0, r
    assert r.out.startswith("domain\t")


def test_missing_config_is_an_error(tmp_path):
    c = Cli(tmp_path)
    r = c.fails("domain", "list")
    assert "no configuration file" in r.err and "hermod init" in r.err


def test_config_check_and_dump(cli):
    r = cli.ok("config", "check")
    assert "valid" in r.out
    r = cli.ok("config", "dump")
    assert "hostname" in r.out and "localhost" in r.out
    assert "2525" in r.out
    with open(cli.conf, "a") as f:
        f.write("frobnicate yes\n")
    r = cli.fails("config", "check")
    assert "frobnicate" in r.err


# ====================================================================== init

def test_init_creates_instance(tmp_path):
    c = Cli(tmp_path / "new")   # parent directory does not exist yet
    r = c.ok("init", "--hostname", "mail.example.test", "--domain", "Example.Test")
    assert "created configuration" in r.out
    assert "self-signed certificate" in r.out
    assert "added domain example.test (plan starter)" in r.out

    conf = open(c.conf).read()
    assert re.search(r"^hostname\s+mail\.example\.test$", conf, re.M)
    assert re.search(r"^data_dir\s+data$", conf, re.M)
    assert re.search(r"^log_level\s+info$", conf, re.M)
    assert "tls { certificate tls/cert.pem; key tls/key.pem }" in conf
    assert re.search(r"^listen smtp 127\.0\.0\.1:2525$", conf, re.M)
    assert re.search(r"^# limits \{", conf, re.M) and re.search(r"^# plan ", conf, re.M)

    data = os.path.join(c.root, "data")
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    key = os.path.join(c.root, "tls", "key.pem")
    cert = os.path.join(c.root, "tls", "cert.pem")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600

    text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "prime256v1" in text or "P-256" in text
    assert "DNS:mail.example.test" in text and "DNS:localhost" in text
    assert "IP Address:127.0.0.1" in text
    assert "CN = mail.example.test" in text
    # ten years (give or take leap days)
    end = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout
    year = int(end.strip().split()[-2])
    assert year >= time.gmtime().tm_year + 9
    # the key matches the certificate
    pub_cert = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                              capture_output=True, check=True).stdout
    pub_key = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"],
                             capture_output=True, check=True).stdout
    assert pub_cert == pub_key

    hdr, rows = c.rows("domain", "list")
    assert [r[:2] for r in rows] == [["example.test", "starter"]]


def test_init_is_idempotent(tmp_path):
    c = Cli(tmp_path / "inst")
    c.ok("init", "--domain", "example.test")
    files = ["hermod.conf", "tls/cert.pem", "tls/key.pem"]
    before = {f: open(os.path.join(c.root, f), "rb").read() for f in files}
    mtimes = {f: os.stat(os.path.join(c.root, f)).st_mtime_ns for f in files}

    r = c.ok("init", "--domain", "example.test")
    assert "nothing changed" in r.out, r
    assert "created" not in r.out and "added" not in r.out
    for f in files:
        assert open(os.path.join(c.root, f), "rb").read() == before[f]
        assert os.stat(os.path.join(c.root, f)).st_mtime_ns == mtimes[f]
    hdr, rows = c.rows("domain", "list")
    assert len(rows) == 1

    # a missing certificate is recreated, and only that
    os.unlink(os.path.join(c.root, "tls", "cert.pem"))
    r = c.ok("init")
    assert "self-signed certificate" in r.out and "nothing changed" not in r.out
    assert open(os.path.join(c.root, "hermod.conf"), "rb").read() == before["hermod.conf"]


def test_init_config_examples_are_valid(cli):
    """The commented limits and plan examples work when uncommented."""
    text = open(cli.conf).read()
    examples = re.findall(r"^# ((?:limits|plan) .*\{.*\})$", text, re.M)
    assert len(examples) == 4, examples
    with open(cli.conf, "a") as f:
        f.write("\n".join(examples) + "\n")
    cli.ok("config", "check")
    dump = cli.ok("config", "dump").out
    assert "1440" in dump


def test_init_existing_config_keeps_hostname(cli):
    r = cli.ok("init", "--hostname", "other.example")
    assert "hostname localhost is kept" in r.out
    assert re.search(r"^hostname\s+localhost$", open(cli.conf).read(), re.M)


@pytest.mark.parametrize("name", ["bad host", "a;b", "x\ny", "-lead", "a..b", ""])
def test_init_refuses_bad_hostname(tmp_path, name):
    c = Cli(tmp_path / "inst")
    r = c.fails("init", "--hostname", name)
    assert "hostname" in r.err
    assert not os.path.exists(c.conf)


def test_init_refuses_bad_domain(tmp_path):
    c = Cli(tmp_path / "inst")
    r = c.fails("init", "--domain", "exa mple.test")
    assert "not valid" in r.err


# ====================================================================== organisations

def test_org_add_list_remove(cli):
    cli.ok("org", "add", "Acme Corp")
    cli.ok("org", "add", "Globex")
    hdr, rows = cli.rows("org", "list")
    assert hdr[0] == "name"
    names = [r[0] for r in rows]
    assert "Acme Corp" in names and "Globex" in names
    r = cli.fails("org", "add", "Acme Corp")
    assert "exists" in r.err
    cli.ok("org", "remove", "Globex")
    hdr, rows = cli.rows("org", "list")
    assert "Globex" not in [r[0] for r in rows]
    cli.fails("org", "remove", "Globex")


def test_org_remove_refused_while_it_has_domains(cli):
    cli.ok("org", "add", "acme")
    cli.ok("domain", "add", "acme.test", "--org", "acme")
    cli.fails("org", "remove", "acme")
    hdr, rows = cli.rows("domain", "list")
    assert ["acme.test", "starter", "acme"] == rows[0][:3]


def test_org_name_with_control_char_refused(cli):
    r = cli.fails("org", "add", "bad\tname")
    assert "control characters" in r.err


# ====================================================================== accounts

def test_account_lifecycle(cli):
    r = cli.ok("account", "add", "alice", "--password-stdin", input=PW + "\n")
    assert "added account alice" in r.out
    hdr, rows = cli.rows("account", "list")
    assert hdr[0] == "login"
    assert [r[0] for r in rows] == ["alice"]

    r = cli.fails("account", "add", "alice", "--password-stdin", input=PW + "\n")
    assert "already exists" in r.err

    [h] = cli.hashes_of("account")
    assert h.startswith("$argon2id$") and verify(h, PW)
    cli.ok("account", "passwd", "alice", "--password-stdin", input=PW2 + "\n")
    [h2] = cli.hashes_of("account")
    assert verify(h2, PW2) and not verify(h2, PW)

    cli.fails("account", "passwd", "nobody", "--password-stdin", input=PW + "\n")
    r = cli.run("account", "remove", "alice")
    assert r.code == 2 and "--yes" in r.err
    assert [r[0] for r in cli.rows("account", "list")[1]] == ["alice"]
    cli.ok("account", "remove", "alice", "--yes")
    assert cli.rows("account", "list")[1] == []
    cli.fails("account", "remove", "alice", "--yes")


def test_account_with_org_and_role(cli):
    cli.ok("org", "add", "acme")
    r = cli.ok("account", "add", "bob", "--org", "acme", "--role", "admin", "--password-stdin",
               input=PW + "\n")
    assert "admin of organisation acme" in r.out
    r = cli.fails("account", "add", "carol", "--org", "nosuch", "--password-stdin", input=PW + "\n")
    assert r.err == "hermod: no organisation nosuch\n"
    assert [r[0] for r in cli.rows("account", "list")[1]] == ["bob"]   # carol was not created


@pytest.mark.parametrize("login,why", [("bad login", "spaces"), ("jöhn", "accented"),
                                       ("a\x01b", "control")])
def test_account_bad_login_refused(cli, login, why):
    r = cli.fails("account", "add", login, "--password-stdin", input=PW + "\n")
    assert why in r.err
    assert cli.hashes() == {}


# ====================================================================== passwords

def test_password_too_short(cli):
    r = cli.fails("account", "add", "alice", "--password-stdin", input="short\n")
    assert r.err == "hermod: password is too short: at least 8 characters\n"
    assert cli.rows("account", "list")[1] == []


def test_password_too_long(cli):
    r = cli.fails("account", "add", "alice", "--password-stdin", input="x" * 1025 + "\n")
    assert "password is too long" in r.err


def test_password_stdin_takes_one_line_and_strips_crlf(cli):
    cli.ok("account", "add", "alice", "--password-stdin", input=PW + "\r\nsecond line\n")
    [h] = cli.hashes_of("account")
    assert verify(h, PW)
    # without a trailing newline too
    cli.ok("account", "add", "bob", "--password-stdin", input=PW2)
    assert any(verify(h, PW2) for h in cli.hashes_of("account"))


def test_password_stdin_empty_refused(cli):
    r = cli.fails("account", "add", "alice", "--password-stdin", input="")
    assert "no password" in r.err
    r = cli.fails("account", "add", "alice", "--password-stdin", input="\n")
    assert "no password" in r.err


def test_password_needs_terminal_without_flag(cli):
    r = cli.fails("account", "add", "alice")   # stdin is a pipe
    assert "not a terminal" in r.err and "--password-stdin" in r.err
    assert cli.rows("account", "list")[1] == []


def _run_on_pty(cli, args, answers):
    """Runs hermod with a pseudo-terminal as stdin and answers each prompt.

    An answer is typed only once its prompt is on stderr *and* the terminal's
    echo is off: hermod sets echo off with TCSAFLUSH, which discards anything
    typed earlier, so typing on a timer would be racy."""
    import termios
    master, slave = pty.openpty()
    p = subprocess.Popen([BIN, "-c", cli.conf] + args, stdin=slave, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    err = b""
    echoed = b""
    try:
        for prompt, answer in answers:
            deadline = time.monotonic() + 30
            while prompt.encode() not in err or termios.tcgetattr(slave)[3] & termios.ECHO:
                assert time.monotonic() < deadline, err
                assert p.poll() is None, err
                if select.select([p.stderr], [], [], 0.02)[0]:
                    err += os.read(p.stderr.fileno(), 4096)
            err = err.replace(prompt.encode(), b"<answered>", 1)
            os.write(master, answer.encode() + b"\n")
        out, rest = p.communicate(timeout=60)
        err += rest
        while select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            echoed += chunk
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(slave)
        os.close(master)
    return p.returncode, _decode(out), _decode(err), echoed


def test_password_prompt_twice_without_echo(cli):
    code, out, err, echoed = _run_on_pty(cli, ["account", "add", "alice"],
                                         [("New password for alice: ", PW),
                                          ("Repeat the password for alice: ", PW)])
    assert code == 0, err
    assert "added account alice" in out
    assert PW.encode() not in echoed
    [h] = cli.hashes_of("account")
    assert verify(h, PW)


def test_password_prompt_mismatch(cli):
    code, out, err, _ = _run_on_pty(cli, ["account", "add", "alice"],
                                    [("New password", PW), ("Repeat the password", PW2)])
    assert code == 1
    assert "do not match" in err
    assert cli.rows("account", "list")[1] == []


def test_account_and_address_passwords_are_separate(dom):
    dom.ok("account", "add", "alice", "--password-stdin", input=PW + "\n")
    add_mailbox(dom, "alice@example.org", PW2)
    [acct] = dom.hashes_of("account")
    [addr] = dom.hashes_of("address")
    assert acct != addr
    assert verify(acct, PW) and not verify(acct, PW2)
    assert verify(addr, PW2) and not verify(addr, PW)

    # changing the account password leaves the address password alone
    dom.ok("account", "passwd", "alice", "--password-stdin", input="third-Password\n")
    [acct2] = dom.hashes_of("account")
    assert verify(acct2, "third-Password")
    assert dom.hashes_of("address") == [addr]

    # and the other way round
    dom.ok("address", "passwd", "alice@example.org", "--password-stdin", input="fourth-Password\n")
    [addr2] = dom.hashes_of("address")
    assert verify(addr2, "fourth-Password") and not verify(addr2, PW2)
    assert dom.hashes_of("account") == [acct2]


# ====================================================================== domains

def test_domain_add_list_plan_remove(cli):
    r = cli.ok("domain", "add", "Example.ORG", "--plan", "pro")
    assert "added domain example.org" in r.out
    cli.ok("domain", "add", "example.net")
    hdr, rows = cli.rows("domain", "list")
    assert hdr[:3] == ["domain", "plan", "organisation"]
    got = {r[0]: r[1:3] for r in rows}
    assert got == {"example.org": ["pro", "default"], "example.net": ["starter", "default"]}

    cli.ok("domain", "plan", "example.org", "free")
    got = {r[0]: r[1] for r in cli.rows("domain", "list")[1]}
    assert got["example.org"] == "free"
    assert cli.run("domain", "plan", "example.org", "platinum").code == 2
    cli.fails("domain", "plan", "nosuch.org", "pro")

    r = cli.run("domain", "remove", "example.net")
    assert r.code == 2 and "--yes" in r.err
    assert len(cli.rows("domain", "list")[1]) == 2
    cli.ok("domain", "remove", "example.net", "--yes")
    assert [r[0] for r in cli.rows("domain", "list")[1]] == ["example.org"]


def test_domain_duplicate_refused(dom):
    r = dom.fails("domain", "add", "example.org")
    assert "example.org" in r.err and "exists" in r.err
    r = dom.fails("domain", "add", "EXAMPLE.org")   # case-insensitively the same
    assert "exists" in r.err


@pytest.mark.parametrize("name", ["localhost", "exa mple.org", "-bad.org", "a..b.org", "ex_ample.org"])
def test_domain_invalid_refused(cli, name):
    # "--" ends the options, so "-bad.org" reaches the validator
    r = cli.fails("domain", "add", "--", name)
    assert "not valid" in r.err
    assert cli.rows("domain", "list")[1] == []


def test_domain_remove_refused_while_it_has_addresses(dom):
    add_mailbox(dom, "alice@example.org")
    dom.fails("domain", "remove", "example.org", "--yes")
    assert [r[0] for r in dom.rows("domain", "list")[1]] == ["example.org"]


def test_domain_dns(dom):
    r = dom.ok("domain", "dns", "example.org")
    lines = [l for l in r.out.splitlines() if l and not l.startswith(";") and not l.startswith("$")]
    recs = [l.split() for l in lines]
    # name ttl IN type data...
    by_type = {}
    for rec in recs:
        assert rec[2] == "IN", rec
        by_type.setdefault(rec[3], []).append(rec)
    assert by_type["MX"][0][0] == "@" and by_type["MX"][0][4:] == ["10", "localhost."]
    assert '"v=spf1 mx -all"' in r.out
    assert '_dmarc' in r.out and '"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"' in r.out
    cnames = {rec[0]: rec[4] for rec in by_type["CNAME"]}
    assert cnames == {"autoconfig": "localhost.", "autodiscover": "localhost."}
    srv = {rec[0]: rec[4:] for rec in by_type["SRV"]}
    assert srv == {"_imaps._tcp": ["0", "1", "993", "localhost."],
                   "_submissions._tcp": ["0", "1", "465", "localhost."],
                   "_pop3s._tcp": ["0", "1", "995", "localhost."]}
    # a comment per record, and the DKIM note
    comments = [l for l in r.out.splitlines() if l.startswith(";")]
    assert len(comments) >= len(recs)
    assert "DKIM" in r.out
    assert "$ORIGIN example.org." in r.out

    r = dom.fails("domain", "dns", "nosuch.org")
    assert "not hosted" in r.err


def test_domain_dns_uses_configured_hostname(tmp_path):
    c = Cli(tmp_path / "inst")
    c.ok("init", "--hostname", "mx1.example.net", "--domain", "example.org")
    r = c.ok("domain", "dns", "example.org")
    assert re.search(r"^@\s+\d+\s+IN\s+MX\s+10 mx1\.example\.net\.$", r.out, re.M)
    assert re.search(r"^_imaps\._tcp\s+\d+\s+IN\s+SRV\s+0 1 993 mx1\.example\.net\.$", r.out, re.M)


# ====================================================================== addresses

def test_address_add_each_kind_and_list(dom):
    r = add_mailbox(dom, "alice@example.org")
    assert "added alice@example.org (mailbox)" in r.out
    dom.ok("address", "add", "catchall@example.org", "--kind", "catchall")
    dom.ok("address", "add", "no-reply@example.org", "--kind", "noreply", "--password-stdin",
           input=PW + "\n")
    r = dom.ok("address", "add", "team@example.org", "--kind", "alias",
               "--target", "alice@example.org", "--target", "bob@elsewhere.test")
    assert "team@example.org forwards to alice@example.org" in r.out
    assert "team@example.org forwards to bob@elsewhere.test" in r.out

    hdr, rows = dom.rows("address", "list")
    assert hdr == ["address", "kind", "password", "quota", "used", "messages"]
    got = {r[0]: r[1:3] for r in rows}
    assert got == {
        "alice@example.org": ["mailbox", "yes"],
        "catchall@example.org": ["catchall", "no"],
        "no-reply@example.org": ["noreply", "yes"],
        "team@example.org": ["alias", "no"],
    }
    # catchall and alias have no stored hash; mailbox and noreply have one each
    assert len(dom.hashes_of("address")) == 2


def test_address_list_by_domain(dom):
    dom.ok("domain", "add", "example.net")
    add_mailbox(dom, "alice@example.org")
    add_mailbox(dom, "bob@example.net")
    assert [r[0] for r in dom.rows("address", "list", "example.net")[1]] == ["bob@example.net"]
    assert sorted(r[0] for r in dom.rows("address", "list")[1]) == ["alice@example.org", "bob@example.net"]


def test_address_duplicate_refused(dom):
    add_mailbox(dom, "alice@example.org")
    r = dom.fails("address", "add", "Alice@Example.org", "--password-stdin", input=PW + "\n")
    assert "alice@example.org" in r.err and "exists" in r.err


def test_address_second_catchall_refused(dom):
    dom.ok("address", "add", "catchall@example.org", "--kind", "catchall")
    dom.fails("address", "add", "any@example.org", "--kind", "catchall")


def test_address_domain_not_hosted(dom):
    r = dom.fails("address", "add", "bob@nothosted.test", "--password-stdin", input=PW + "\n")
    assert r.err == "hermod: domain nothosted.test is not hosted here\n"
    # refused before any password is asked for (stdin is not a terminal here)
    r = dom.fails("address", "add", "bob@nothosted.test")
    assert "not hosted" in r.err
    assert dom.rows("address", "list")[1] == []


def test_address_mailbox_needs_password(dom):
    r = dom.fails("address", "add", "alice@example.org")  # no flag, not a terminal
    assert "not a terminal" in r.err
    r = dom.fails("address", "add", "alice@example.org", "--password-stdin", input="short\n")
    assert r.err == "hermod: password is too short: at least 8 characters\n"
    assert dom.rows("address", "list")[1] == []


def test_address_alias_bad_target_refused(dom):
    r = dom.fails("address", "add", "team@example.org", "--kind", "alias", "--target", "bad target@x.org")
    assert "is not valid" in r.err
    assert dom.rows("address", "list")[1] == []


SPECIALS = "special characters ( ) < > @ , ; : \" [ ] | % & \\ are not allowed"


@pytest.mark.parametrize("addr,shown,char,why", [
    ("jöhn@example.org", None, "ö", "accented characters are not allowed"),
    ("fran\u00e7ois@example.org", None, "ç", "accented characters are not allowed"),
    ("john doe@example.org", None, " ", "spaces are not allowed"),
    ("john(doe)@example.org", None, "(", SPECIALS),
    ("100%@example.org", None, "%", SPECIALS),
    ("tom&jerry@example.org", None, "&", SPECIALS),
    ("ctl\x01x@example.org", "ctl\\x01x@example.org", "\\x01", "control characters are not allowed"),
])
def test_address_invalid_names_the_character(dom, addr, shown, char, why):
    r = dom.fails("address", "add", addr, "--password-stdin", input=PW + "\n")
    assert r.err == f"hermod: address '{shown or addr}' is not valid: '{char}' ({why})\n"
    assert dom.rows("address", "list")[1] == []
    # the same validation guards every verb that takes an address
    r = dom.fails("folder", "list", addr)
    assert f"is not valid: '{char}'" in r.err


def test_address_exact_error_for_accented(dom):
    r = dom.fails("address", "add", "jöhn@example.org", "--password-stdin", input=PW + "\n")
    assert r.err == "hermod: address 'jöhn@example.org' is not valid: 'ö' (accented characters are not allowed)\n"


@pytest.mark.parametrize("addr", ["a.b@example.org", "under_score@example.org", "dash-ed@example.org",
                                  "plus+tag@example.org", "x.y_z-w+v@example.org"])
def test_address_valid_specials(dom, addr):
    add_mailbox(dom, addr)
    assert addr in [r[0] for r in dom.rows("address", "list")[1]]


def test_address_quota(dom):
    add_mailbox(dom, "alice@example.org", PW, "--quota", "2G")
    add_mailbox(dom, "bob@example.org", PW, "--quota", "512k")
    add_mailbox(dom, "carol@example.org", PW, "--quota", "123")
    q = {r[0]: r[3] for r in dom.rows("address", "list")[1]}
    assert q == {"alice@example.org": str(2 << 30), "bob@example.org": str(512 << 10),
                 "carol@example.org": "123"}
    dom.ok("address", "quota", "alice@example.org", "10M")
    dom.ok("address", "quota", "bob@example.org", "0")
    q = {r[0]: r[3] for r in dom.rows("address", "list")[1]}
    assert q["alice@example.org"] == str(10 << 20) and q["bob@example.org"] == "plan"
    for bad in ("12X", "M", "-5", "1.5G", "99999999999999999999G", "10MB", ""):
        r = dom.fails("address", "quota", "alice@example.org", "--", bad)
        assert "quota" in r.err and bad in r.err
    r = dom.fails("address", "add", "dave@example.org", "--quota", "lots", "--password-stdin",
                  input=PW + "\n")
    assert "dave@example.org" not in dom.run("address", "list").out
    dom.fails("address", "quota", "nobody@example.org", "1G")


def test_address_passwd(dom):
    add_mailbox(dom, "alice@example.org")
    dom.ok("address", "passwd", "alice@example.org", "--password-stdin", input=PW2 + "\n")
    [h] = dom.hashes_of("address")
    assert verify(h, PW2)
    # a catchall may get a password (to be read over IMAP/POP3); an alias never has one
    dom.ok("address", "add", "catchall@example.org", "--kind", "catchall")
    dom.ok("address", "passwd", "catchall@example.org", "--password-stdin", input=PW + "\n")
    dom.ok("address", "add", "fw@example.org", "--kind", "alias", "--target", "alice@example.org")
    r = dom.fails("address", "passwd", "fw@example.org", "--password-stdin", input=PW + "\n")
    assert "no password" in r.err
    dom.fails("address", "passwd", "nobody@example.org", "--password-stdin", input=PW + "\n")


def test_address_remove(dom):
    add_mailbox(dom, "alice@example.org")
    r = dom.run("address", "remove", "alice@example.org")
    assert r.code == 2 and "--yes" in r.err
    assert "alice@example.org" in dom.ok("address", "list").out
    r = dom.ok("address", "remove", "alice@example.org", "--yes")
    assert r.out == "removed alice@example.org: 0 messages, 0 bytes\n"
    assert dom.rows("address", "list")[1] == []
    dom.fails("address", "remove", "alice@example.org", "--yes")


# ====================================================================== access

def test_access_grant_revoke(dom):
    dom.ok("account", "add", "alice", "--password-stdin", input=PW + "\n")
    add_mailbox(dom, "alice@example.org")
    r = dom.ok("access", "grant", "alice", "alice@example.org")
    assert "read,send" in r.out
    r = dom.ok("access", "grant", "alice", "alice@example.org", "--perms", "read,settings,devices")
    assert "read,settings,devices" in r.out
    r = dom.ok("access", "grant", "alice", "alice@example.org", "--perms", "all")
    assert "read,send,settings,access,devices" in r.out
    dom.fails("access", "grant", "nobody", "alice@example.org")
    dom.fails("access", "grant", "alice", "nobody@example.org")
    r = dom.fails("access", "grant", "alice", "jöhn@example.org")
    assert "'ö'" in r.err
    dom.ok("access", "revoke", "alice", "alice@example.org")


# ====================================================================== folders and export

def test_folder_list(dom):
    add_mailbox(dom, "alice@example.org")
    hdr, rows = dom.rows("folder", "list", "alice@example.org")
    assert hdr == ["name", "messages", "bytes", "uidvalidity", "uidnext", "special-use"]
    got = {r[0]: r for r in rows}
    assert set(got) == {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}
    assert got["Sent"][5] == "\\Sent" and got["Junk"][5] == "\\Junk"
    for r in rows:
        assert r[1] == "0" and r[2] == "0"
        assert int(r[3]) > 0 and int(r[4]) >= 1
    dom.fails("folder", "list", "nobody@example.org")


def test_export_empty_folder(dom):
    add_mailbox(dom, "alice@example.org")
    r = dom.ok("export", "alice@example.org")
    assert r.raw == b""
    r = dom.ok("export", "alice@example.org", "Sent")
    assert r.raw == b""
    r = dom.fails("export", "alice@example.org", "NoSuchFolder")
    assert "NoSuchFolder" in r.err
    dom.fails("export", "nobody@example.org")


# ====================================================================== with mail delivered by the daemon

def test_remove_reports_messages_and_bytes(hermod_factory):
    """Deliver over SMTP, then export and remove: the counts are the stored ones."""
    inst = hermod_factory()
    inst.start()
    s = inst.smtp()
    for i in range(3):
        s.sendmail("bob@remote.test", ["alice@hosted.test"],
                   f"Subject: m{i}\r\n\r\nFrom the start of a line\r\nbody {i}\r\n")
    s.quit()
    inst.stop()
    folders = inst.folders("alice@hosted.test")
    messages, size = folders["INBOX"]
    assert messages == 3 and size > 0
    mbox = inst.export_raw("alice@hosted.test")
    assert len(inst.fetch("alice@hosted.test")) == 3
    assert b"\n>From the start of a line" in mbox   # mboxrd quoting

    r = inst.cli("address", "remove", "alice@hosted.test", check=False)
    assert r.returncode == 2
    r = inst.cli("address", "remove", "alice@hosted.test", "--yes")
    assert r.stdout.decode() == f"removed alice@hosted.test: 3 messages, {size} bytes\n"


# ====================================================================== dev-instance

def test_dev_instance_script(tmp_path):
    script = os.path.join(REPO, "scripts", "dev-instance")
    d = str(tmp_path / "var")
    r = subprocess.run([script, BIN, d], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = re.search(r"postmaster@example\.test password: (\S+)", r.stdout)
    assert m, r.stdout
    assert "address passwd postmaster@example.test" in r.stdout
    c = Cli(d)
    [h] = c.hashes_of("address")
    assert verify(h, m.group(1))
    assert [row[0] for row in c.rows("domain", "list")[1]] == ["example.test"]

    r = subprocess.run([script, BIN, d], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "reusing" in r.stdout
    assert "password" not in r.stdout
    assert c.hashes_of("address") == [h]


def test_password_prompt_interrupted_restores_echo(cli):
    """SIGINT at the echo-off prompt: the terminal gets its echo back, nothing is added."""
    import signal
    import termios
    master, slave = pty.openpty()
    p = subprocess.Popen([BIN, "-c", cli.conf, "account", "add", "alice"], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while termios.tcgetattr(slave)[3] & termios.ECHO:   # wait until echo is off
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.02)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=30)
        assert p.returncode == -signal.SIGINT
        assert termios.tcgetattr(slave)[3] & termios.ECHO
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(slave)
        os.close(master)
    assert cli.rows("account", "list")[1] == []


def test_init_certificate_verifies_over_starttls(hermod_factory):
    """The certificate `init` made is the one the daemon serves, valid for its hostname and 127.0.0.1."""
    import smtplib
    import ssl
    inst = hermod_factory()
    inst.start()
    cafile = os.path.join(inst.root, "tls", "cert.pem")
    for server_name in ("mx.test.local", "localhost", None):   # None: checked against the IP SAN
        ctx = ssl.create_default_context(cafile=cafile)
        s = smtplib.SMTP("127.0.0.1", inst.port, local_hostname="client.test", timeout=10)
        if server_name is not None:
            s._host = server_name
        s.starttls(context=ctx)
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.quit()
    # and verification is real: a name not in the SAN is refused
    s = smtplib.SMTP("127.0.0.1", inst.port, local_hostname="client.test", timeout=10)
    s._host = "wrong.example"
    with pytest.raises(ssl.SSLCertVerificationError):
        s.starttls(context=ssl.create_default_context(cafile=cafile))
    s.close()
    inst.stop()
