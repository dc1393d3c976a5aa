"""`hermod domain check` (the domain.check operation) against Debian's nsd.

nsd serves, on a high loopback port, one zone per situation: a domain whose
MX, SPF, DKIM and DMARC records are all right, one with none of them, one
with each of them wrong, and a few SPF shapes (ip4 network, include, +all).
hermod's resolver forwards to it (`dns { forward 127.0.0.1@PORT }`). The
DKIM record of the good domain is the one `hermod domain dns` prints for the
key `domain add` created, so the comparison is against the real stored key.
The results must also be in the store (domain_checks), which domain.dns
reads back.
"""
import os
import re
import sqlite3
import time

import pytest

from hermodtest import HOSTNAME, free_port
from queueutil import NSD, Nsd, have_tools

pytestmark = pytest.mark.skipif(not have_tools(NSD), reason="nsd is not installed (scripts/install-deps)")

SOA = ("$ORIGIN {z}.\n$TTL 60\n"
       "@ IN SOA ns.{z}. hostmaster.{z}. 1 3600 600 86400 60\n"
       "@ IN NS ns.{z}.\n"
       "ns IN A 127.0.0.1\n")
OTHER_KEY = ("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwLR6mZ1n3bH6sFQq2w0y0dQmUq1kdsPZ2oQm1C1C9m4B8Vx2JrJb"
             "Q0Z5Xq6m8nA0Yl2J6wQIDAQAB")


def zone(name, body=""):
    return SOA.format(z=name) + body


def txt(value):
    """A TXT value as zone-file character-strings of at most 255 bytes."""
    return " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))


def dkim_value(inst, domain):
    """The DKIM record text `hermod domain dns` prints for the domain's stored key."""
    out = inst.cli("domain", "dns", domain).stdout.decode()
    line = next(l for l in out.splitlines() if "._domainkey." in l and "TXT" in l)
    return "".join(re.findall(r'"([^"]*)"', line))


def check(inst, domain):
    r = inst.cli("domain", "check", domain, check=False, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def statuses(out):
    """{record: status} from the command's output."""
    res = {}
    for line in out.splitlines():
        m = re.match(r"^(mx|spf|dkim|dmarc)\s+(present|missing|wrong|error)\s", line)
        if m:
            res[m.group(1)] = m.group(2)
    return res


@pytest.fixture
def dns_world(hermod_factory, tmp_path):
    """An instance (not started: the command line is enough) whose resolver asks nsd."""
    nsd = Nsd(str(tmp_path), {})  # its port now, its zones once the domains have keys
    inst = hermod_factory(extra_config=f"dns {{ forward 127.0.0.1@{nsd.port}; timeout 5s }}")
    for d in ("good.test", "missing.test", "wrong.test", "ipnet.test", "incl.test", "open.test", "odd.test"):
        inst.domain_add(d)
    good_dkim = dkim_value(inst, "good.test")
    nsd.zones = {
        # our own host name, so that SPF's a/ip4 mechanisms can be matched against its address
        "test.local": zone("test.local", "mx IN A 127.0.0.1\n"),
        "good.test": zone("good.test",
                          f"@ IN MX 10 {HOSTNAME}.\n"
                          '@ IN TXT "v=spf1 mx -all"\n'
                          '@ IN TXT "google-site-verification=abc"\n'
                          f"hermod._domainkey IN TXT {txt(good_dkim)}\n"
                          '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:postmaster@good.test"\n'),
        "missing.test": zone("missing.test"),
        "wrong.test": zone("wrong.test",
                           "@ IN MX 10 mail.elsewhere.example.\n"
                           '@ IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
                           f'hermod._domainkey IN TXT "v=DKIM1; k=rsa; p={OTHER_KEY}"\n'
                           '_dmarc IN TXT "v=DMARC1; sp=none"\n'),
        "ipnet.test": zone("ipnet.test",
                           f"@ IN MX 10 {HOSTNAME}.\n"
                           '@ IN TXT "v=spf1 -ip4:10.0.0.0/8 ip4:127.0.0.0/8 -all"\n'
                           '_dmarc IN TXT "v=DMARC1; p=none"\n'
                           '_dmarc IN TXT "v=DMARC1; p=reject"\n'),
        "incl.test": zone("incl.test",
                          "@ IN MX 10 mail.elsewhere.example.\n"
                          '@ IN TXT "v=spf1 include:_spf.incl.test ~all"\n'
                          f'_spf IN TXT "v=spf1 a:{HOSTNAME} -all"\n'),
        # DNS text is anyone's: an escape sequence and non-ASCII bytes in a record
        "odd.test": zone("odd.test", '_dmarc IN TXT "v=DMARC1; p=reject; x=\\027[31m\\195\\169"\n'),
        "open.test": zone("open.test",
                          f"@ IN MX 10 {HOSTNAME}.\n"
                          '@ IN TXT "v=spf1 +all"\n'),
    }
    nsd.start()
    inst.nsd = nsd
    inst.good_dkim = good_dkim
    yield inst
    nsd.stop()


def test_all_records_present(dns_world):
    rc, out, err = check(dns_world, "good.test")
    assert statuses(out) == {"mx": "present", "spf": "present", "dkim": "present", "dmarc": "present"}, out
    assert rc == 0, err
    assert f"10 {HOSTNAME}" in out
    # present records need nothing set
    assert "set:" not in out


def test_missing_records_are_named_with_the_record_to_set(dns_world):
    rc, out, err = check(dns_world, "missing.test")
    assert statuses(out) == {"mx": "missing", "spf": "missing", "dkim": "missing", "dmarc": "missing"}, out
    assert rc == 1 and "4 of 4 DNS records of missing.test need attention" in err
    assert f"missing.test. 3600 IN MX 10 {HOSTNAME}." in out
    assert 'missing.test. 3600 IN TXT "v=spf1 mx -all"' in out
    assert '_dmarc.missing.test. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@missing.test"' in out
    # the DKIM record to set is the stored key's, as `domain dns` prints it
    want = dkim_value(dns_world, "missing.test")
    m = re.search(r"hermod\._domainkey\.missing\.test\. 3600 IN TXT (.*)", out)
    assert m and "".join(re.findall(r'"([^"]*)"', m.group(1))) == want


def test_wrong_records_show_what_was_found(dns_world):
    rc, out, err = check(dns_world, "wrong.test")
    assert statuses(out) == {"mx": "wrong", "spf": "wrong", "dkim": "wrong", "dmarc": "wrong"}, out
    assert rc == 1
    assert "10 mail.elsewhere.example" in out               # found MX
    assert "v=spf1 ip4:192.0.2.0/24 -all" in out            # found SPF
    assert f"does not authorise {HOSTNAME}" in out
    assert "different public key" in out
    assert "no valid policy" in out


def test_spf_shapes(dns_world):
    _, out, _ = check(dns_world, "ipnet.test")
    st = statuses(out)
    assert st["mx"] == "present" and st["spf"] == "present", out   # 127.0.0.1 is in 127.0.0.0/8
    assert st["dmarc"] == "wrong" and "2 DMARC records" in out     # RFC 7489: several = none
    _, out, _ = check(dns_world, "incl.test")
    st = statuses(out)
    assert st["mx"] == "wrong" and st["spf"] == "present", out     # include: -> a:our host
    _, out, _ = check(dns_world, "open.test")
    assert statuses(out)["spf"] == "wrong" and "+all" in out, out


def test_dns_text_is_made_safe(dns_world):
    rc, out, err = check(dns_world, "odd.test")
    assert statuses(out)["dmarc"] == "present", out
    assert "x=?[31m??" in out and "\x1b" not in out


def test_results_are_stored(dns_world):
    check(dns_world, "good.test")
    check(dns_world, "wrong.test")
    db = sqlite3.connect(os.path.join(dns_world.root, "data", "hermod.db"))
    try:
        rows = db.execute("SELECT d.name, c.record, c.status, c.found, c.expected FROM domain_checks c"
                          " JOIN domains d ON d.id = c.domain_id ORDER BY d.name, c.record").fetchall()
    finally:
        db.close()
    got = {(r[0], r[1]): r[2] for r in rows}
    assert got == {("good.test", r): "present" for r in ("dkim", "dmarc", "mx", "spf")} | \
        {("wrong.test", r): "wrong" for r in ("dkim", "dmarc", "mx", "spf")}
    found = {(r[0], r[1]): r[3] for r in rows}
    assert found[("wrong.test", "mx")] == "10 mail.elsewhere.example"


def test_unhosted_domain_and_dead_dns(dns_world, hermod_factory):
    rc, out, err = check(dns_world, "nothosted.test")
    assert rc == 1 and "nothosted.test" in err
    # a resolver that never answers: every record is an error, and the check ends after one timeout
    dead = hermod_factory("dead", extra_config=f"dns {{ forward 127.0.0.1@{free_port()}; timeout 2s }}")
    t0 = time.monotonic()
    rc, out, err = check(dead, "hosted.test")
    took = time.monotonic() - t0
    assert statuses(out) == {"mx": "error", "spf": "error", "dkim": "error", "dmarc": "error"}, out
    assert "no answer in time" in out
    assert rc == 1 and took < 8, took


def test_api_check_and_permissions(dns_world):
    import apiutil
    apiutil.add_account(dns_world, "boss", org="default", role="admin")
    apiutil.add_account(dns_world, "staff", org="default", role="member")
    apiutil.add_org(dns_world, "other")
    apiutil.add_account(dns_world, "stranger", org="other", role="owner")
    dns_world.start()
    boss = apiutil.logged_in(dns_world, "boss")
    r = boss.post("/api/v1/domains/good.test/check")
    assert r.status == 200, r
    got = {c["record"]: c for c in r.json["records"]}
    assert r.json["ok"] is True and set(got) == {"mx", "spf", "dkim", "dmarc"}
    assert got["dkim"]["status"] == "present" and got["dkim"]["expected"].startswith("hermod._domainkey.good.test.")
    r = boss.post("/api/v1/domains/wrong.test/check")
    assert r.status == 200 and r.json["ok"] is False
    assert {c["record"]: c["status"] for c in r.json["records"]}["mx"] == "wrong"
    # a member may not run it; another organisation does not even see the domain
    r = apiutil.logged_in(dns_world, "staff").post("/api/v1/domains/good.test/check")
    assert r.status == 403, r
    r = apiutil.logged_in(dns_world, "stranger").post("/api/v1/domains/good.test/check")
    assert r.status == 404, r
    assert apiutil.Api(dns_world).post("/api/v1/domains/good.test/check").status == 401
