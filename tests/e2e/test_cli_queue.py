"""End-to-end tests of the queue and DKIM verbs of the `hermod` command line.

Queue entries are only created by submission (the store's unit tests,
tests/unit/test_store_queue.c, cover entries in every state); here the
verbs run against a real instance: an empty queue, refusals, and the DKIM
key that `domain add` creates, checked with OpenSSL from its DNS record.
"""
import base64
import os
import re
import sqlite3
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("HERMOD_BIN") or os.path.join(REPO, "build", "hermod"))


class Cli:
    def __init__(self, root):
        self.root = str(root)
        self.conf = os.path.join(self.root, "hermod.conf")

    def run(self, *args):
        env = dict(os.environ)
        env.pop("HERMOD_CONFIG", None)
        p = subprocess.run([BIN, "-c", self.conf] + list(args), input=b"", capture_output=True,
                           timeout=120, env=env, cwd=os.path.dirname(self.root))
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def ok(self, *args):
        code, out, err = self.run(*args)
        assert code == 0, (args, code, out, err)
        return out

    def fails(self, *args, code=1):
        got, out, err = self.run(*args)
        assert got == code, (args, got, out, err)
        assert err.startswith("hermod: "), err
        return err

    def db(self):
        return sqlite3.connect(os.path.join(self.root, "data", "hermod.db"))


@pytest.fixture
def cli(tmp_path):
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"HERMOD_BIN {BIN} is not an executable: build it first")
    c = Cli(tmp_path / "inst")
    c.ok("init")
    c.ok("domain", "add", "example.org")
    return c


TXT_RE = re.compile(r'^(\S+)\s+(\d+)\s+IN\s+TXT\s+((?:"[^"]*"\s*)+)$', re.M)


def dkim_record(cli, domain="example.org"):
    """(name, the strings of the TXT record) of the domain's DKIM record."""
    out = cli.ok("domain", "dns", domain)
    recs = [(m.group(1), re.findall(r'"([^"]*)"', m.group(3))) for m in TXT_RE.finditer(out)]
    dkim = [r for r in recs if "._domainkey." in r[0]]
    assert len(dkim) == 1, out
    return dkim[0]


def public_key_of(strings):
    text = "".join(strings)
    tags = dict(t.strip().split("=", 1) for t in text.split(";") if t.strip())
    assert tags["v"] == "DKIM1" and tags["k"] == "rsa", text
    return base64.b64decode(tags["p"], validate=True)


def openssl_rsa_bits(der, tmp_path):
    path = tmp_path / "pub.der"
    path.write_bytes(der)
    p = subprocess.run(["openssl", "rsa", "-pubin", "-inform", "DER", "-in", str(path), "-noout", "-text"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    m = re.search(r"Public-Key: \((\d+) bit\)", p.stdout)
    assert m, p.stdout
    return int(m.group(1))


# ====================================================================== DKIM

def test_domain_add_creates_dkim_key_and_dns_prints_it(cli, tmp_path):
    name, strings = dkim_record(cli)
    assert name == "hermod._domainkey.example.org."
    # zone files take character-strings of at most 255 bytes; a 2048-bit key needs two
    assert len(strings) >= 2
    assert all(1 <= len(s.encode()) <= 255 for s in strings)
    assert strings[0].startswith("v=DKIM1; k=rsa; p=")
    der = public_key_of(strings)
    assert openssl_rsa_bits(der, tmp_path) == 2048
    # it is the public half of the stored private key
    sel, pem = cli.db().execute("SELECT dkim_selector, dkim_private_key FROM domains"
                                " WHERE name = 'example.org'").fetchone()
    assert sel == "hermod"
    keyfile = tmp_path / "key.pem"
    keyfile.write_text(pem)
    p = subprocess.run(["openssl", "pkey", "-in", str(keyfile), "-pubout", "-outform", "DER"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == der
    # the note promising a record later is gone
    out = cli.ok("domain", "dns", "example.org")
    assert "will be printed here" not in out


def test_domain_dkim_creates_missing_key_and_rotates(cli, tmp_path):
    # a domain from before DKIM keys existed
    with cli.db() as db:
        db.execute("UPDATE domains SET dkim_selector = NULL, dkim_private_key = NULL")
    out = cli.ok("domain", "dns", "example.org")
    assert "hermod domain dkim example.org" in out
    assert "_domainkey" not in out

    out = cli.ok("domain", "dkim", "example.org")
    assert "created the DKIM key of example.org" in out
    first = public_key_of(dkim_record(cli)[1])
    assert openssl_rsa_bits(first, tmp_path) == 2048

    # again without --rotate: nothing changes
    out = cli.ok("domain", "dkim", "example.org")
    assert "already has a DKIM key" in out and "--rotate" in out
    assert public_key_of(dkim_record(cli)[1]) == first

    out = cli.ok("domain", "dkim", "example.org", "--rotate")
    assert "replaced the DKIM key" in out
    name, strings = dkim_record(cli)
    assert name == "hermod._domainkey.example.org."
    second = public_key_of(strings)
    assert second != first
    assert openssl_rsa_bits(second, tmp_path) == 2048

    err = cli.fails("domain", "dkim", "nosuch.org")
    assert "nosuch.org is not hosted" in err
    cli.fails("domain", "dkim", "example.org", "--force", code=2)


def test_help_lists_queue_and_dkim_verbs(cli):
    out = cli.ok("help")
    for verb in ("queue list", "queue show", "queue retry", "queue hold", "queue release",
                 "queue remove", "domain dkim"):
        assert f"hermod {verb}" in out, verb


# ====================================================================== queue

def test_queue_list_empty(cli):
    out = cli.ok("queue", "list")
    lines = out.splitlines()
    assert lines == ["id\tcreated\tattempts\tnext attempt\tsender\tpending/total\theld"]
    out = cli.ok("queue", "retry", "--all")
    assert "0 queue entries are due now" in out


@pytest.mark.parametrize("verb", [["show", "999"], ["retry", "999"], ["hold", "999"], ["release", "999"],
                                  ["remove", "999", "--yes"]])
def test_queue_missing_entry(cli, verb):
    err = cli.fails("queue", *verb)
    assert "queue entry 999 does not exist" in err


@pytest.mark.parametrize("args", [
    ["queue"],
    ["queue", "show"],
    ["queue", "show", "abc"],
    ["queue", "show", "0"],
    ["queue", "show", "-1"],
    ["queue", "show", "99999999999999999999"],
    ["queue", "retry"],
    ["queue", "retry", "5", "--all"],
    ["queue", "remove", "5"],          # without --yes
    ["queue", "hold", "5", "6"],
    ["queue", "list", "extra"],
])
def test_queue_usage_errors(cli, args):
    code, out, err = cli.run(*args)
    assert code == 2, (code, out, err)
    assert "usage" in err
    assert out == ""
