"""Bulk creation of addresses from a CSV file: `hermod address import` and
POST /api/v1/addresses/import (the address.import operation).

The seed's "create several email addresses at once using a CSV file", with
the issue's rules: RFC 4180, documented columns (address, password, kind,
forward_to, quota), all or nothing by default, every invalid row named with
its line number and the reason, a dry run that changes nothing.
"""
import ctypes
import ctypes.util
import os

import pytest

import apiutil
from hermodtest import PASSWORD


def run_import(inst, text, *flags):
    path = os.path.join(inst.root, "import.csv")
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    r = inst.cli("address", "import", path, *flags, check=False, timeout=300)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def addresses(inst, domain):
    out = inst.cli("address", "list", domain).stdout.decode()
    return {line.split("\t")[0] for line in out.splitlines()[1:] if "@" in line}


def error_lines(err):
    """{line number: (address, code)} from the report on stderr."""
    res = {}
    for line in err.splitlines():
        if line.startswith("line "):
            num, addr, code, _ = line[5:].split(": ", 3)
            res[int(num)] = (addr, code)
    return res


def argon2id(password):
    """An argon2id hash made by libsodium itself (as `doveadm pw -s ARGON2ID` would)."""
    lib = ctypes.CDLL(ctypes.util.find_library("sodium"))
    assert lib.sodium_init() >= 0
    out = ctypes.create_string_buffer(128)
    pw = password.encode()
    # crypto_pwhash_OPSLIMIT_INTERACTIVE = 2, MEMLIMIT_INTERACTIVE = 64 MiB
    assert lib.crypto_pwhash_str(out, pw, ctypes.c_ulonglong(len(pw)), ctypes.c_ulonglong(2),
                                 ctypes.c_size_t(64 << 20)) == 0
    return out.value.decode()


GOOD_ROWS = (
    "address,password,kind,forward_to,quota\r\n"
    f"ann@hosted.test,{PASSWORD},mailbox,,1G\r\n"
    f"Ben@Hosted.test,{PASSWORD},,,\r\n"
    "team@hosted.test,,alias,ann@hosted.test; ben@hosted.test,\r\n"
    f"\"noreply-bills@hosted.test\",\"{PASSWORD}\",noreply,,\r\n"
)


def test_three_bad_rows_are_named_by_line_and_nothing_is_created(hermod_factory):
    inst = hermod_factory()
    text = (
        "address,password,kind,forward_to,quota\n"      # 1
        f"one@hosted.test,{PASSWORD},mailbox,,\n"         # 2 good
        "\"two\n@hosted.test\",x,mailbox,,\n"             # 3-4: a line break inside a quoted (bad) address
        f"three@hosted.test,{PASSWORD},,,\n"              # 5 good
        f"alice@hosted.test,{PASSWORD},mailbox,,\n"       # 6 exists already (the template's)
        "\n"                                               # 7 empty: skipped
        f"four@nothosted.test,{PASSWORD},mailbox,,\n"     # 8 domain not hosted
        f"five@hosted.test,{PASSWORD},mailbox,,\n"        # 9 good
    )
    rc, out, err = run_import(inst, text)
    assert rc == 1
    assert sorted(error_lines(err)) == [3, 6, 8], err
    assert error_lines(err)[6] == ("alice@hosted.test", "address_exists")
    assert error_lines(err)[8][1] == "unhosted_domain"
    assert "nothing was created" in out
    # all or nothing: not even the good rows
    assert not {"one@hosted.test", "three@hosted.test", "five@hosted.test"} & addresses(inst, "hosted.test")


def test_every_kind_of_bad_row(hermod_factory):
    inst = hermod_factory()
    text = (
        "address,password,kind,forward_to,quota\n"
        f"a@hosted.test,{PASSWORD},robot,,\n"                     # 2 unknown kind
        "b@hosted.test,short,mailbox,,\n"                          # 3 weak password
        "c@hosted.test,,mailbox,,\n"                               # 4 mailbox without password
        f"d@hosted.test,{PASSWORD},catchall,,\n"                  # 5 catchall with password
        f"e@hosted.test,{PASSWORD},mailbox,x@y.test,\n"           # 6 targets on a mailbox
        "f@hosted.test,,alias,,\n"                                 # 7 alias without targets
        f"g@hosted.test,{PASSWORD},mailbox,,12 parsecs\n"         # 8 bad quota
        f"g@hosted.test,{PASSWORD},mailbox,,\n"                   # 9 duplicate of 8
        "h@hosted.test,{ARGON2ID}$argon2i$nope,mailbox,,\n"        # 10 bad pre-hash
        f"i@hosted.test,{PASSWORD},mailbox\n"                     # 11 field count
        "j@hosted.test,,alias,j@hosted.test,\n"                    # 12 forwards to itself
        "k@hosted.test,,alias," + ";".join(f"t{i}@x.test" for i in range(11)) + ",\n"  # 13 > 10 targets
        f"jöhn@hosted.test,{PASSWORD},mailbox,,\n"                # 14 accented character
    )
    rc, out, err = run_import(inst, text)
    got = error_lines(err)
    assert {n: code for n, (_, code) in got.items()} == {
        2: "unknown_kind", 3: "weak_password", 4: "password_required", 5: "password_not_allowed",
        6: "targets_not_allowed", 7: "targets_required", 8: "bad_quota", 9: "duplicate",
        10: "bad_password_hash", 11: "field_count", 12: "bad_target", 13: "too_many_targets",
        14: "bad_address"}, err
    assert "is already on line 8" in err
    assert rc == 1


def test_dry_run_changes_nothing(hermod_factory):
    inst = hermod_factory()
    before = addresses(inst, "hosted.test")
    rc, out, err = run_import(inst, GOOD_ROWS, "--dry-run")
    assert rc == 0, err
    assert "4 rows, 4 valid, 0 invalid (dry run: nothing was created)" in out
    assert addresses(inst, "hosted.test") == before
    # a dry run reports what only the store can tell too: a second catchall for catch.test
    rc, out, err = run_import(inst, "address,kind\nsecond@catch.test,catchall\n", "--dry-run")
    assert rc == 1 and 2 in error_lines(err) and "catchall" in err
    assert addresses(inst, "catch.test") == {"carol@catch.test", "catchall@catch.test"}


def test_import_creates_every_kind_and_the_passwords_work(hermod_factory):
    inst = hermod_factory()
    hashed = argon2id("Pre-hashed-pass-1")
    # the hash holds commas (m=...,t=...,p=...): RFC 4180 quoting, as a spreadsheet writes it
    text = GOOD_ROWS + f"hashed@hosted.test,\"{{ARGON2ID}}{hashed}\",mailbox,,\r\n"
    rc, out, err = run_import(inst, text)
    assert rc == 0, err
    assert "5 rows, 5 imported, 0 invalid" in out
    assert {"ann@hosted.test", "ben@hosted.test", "team@hosted.test", "noreply-bills@hosted.test",
            "hashed@hosted.test"} <= addresses(inst, "hosted.test")
    show = inst.cli("address", "show", "ann@hosted.test").stdout.decode()
    assert "1073741824" in show or "1G" in show or "1 GiB" in show, show
    inst.start()
    with inst.imap() as m:                       # a plain-text password, hashed by the import
        m.login("ben@hosted.test", PASSWORD)
    with inst.imap() as m:                       # a pre-hashed one, stored as given
        m.login("hashed@hosted.test", "Pre-hashed-pass-1")
    # the alias (defined before its targets' rows are created) delivers to both
    inst.deliver("team@hosted.test", b"Subject: to the team\r\n\r\nhello\r\n")
    assert inst.count("ann@hosted.test") == 1 and inst.count("ben@hosted.test") == 1


def test_skip_invalid_imports_the_rest(hermod_factory):
    inst = hermod_factory()
    text = (f"address,password\nok1@hosted.test,{PASSWORD}\nbad@hosted.test,short\n"
            f"ok2@hosted.test,{PASSWORD}\nsecond@catch.test,\n")
    # line 5: a mailbox needs a password
    rc, out, err = run_import(inst, text, "--skip-invalid")
    assert rc == 1
    assert sorted(error_lines(err)) == [3, 5]
    assert "4 rows, 2 imported, 2 invalid" in out
    assert {"ok1@hosted.test", "ok2@hosted.test"} <= addresses(inst, "hosted.test")
    assert "bad@hosted.test" not in addresses(inst, "hosted.test")


def test_csv_syntax_errors_name_the_line(hermod_factory):
    inst = hermod_factory()
    rc, out, err = run_import(inst, f"address,password\nx@hosted.test,{PASSWORD}\n\"y@hosted.test,open\n")
    assert rc == 1 and "line 3: a quoted field is not closed" in err
    rc, out, err = run_import(inst, "address,passwort\nx@hosted.test,abc\n")
    assert rc == 1 and "unknown column 'passwort'" in err
    rc, out, err = run_import(inst, b"address\n\xe9t\xe9@hosted.test\n")   # Latin-1, not UTF-8
    assert rc == 1 and "UTF-8" in err
    # a long address of two-byte characters: its report is cut on a character boundary, never lost
    rc, out, err = run_import(inst, "address,password\nx" + "é" * 300 + f"@hosted.test,{PASSWORD}\n")
    assert rc == 1 and error_lines(err)[2][1] == "bad_address", err


def test_api_import_with_text_csv_and_permissions(hermod_factory):
    inst = hermod_factory()
    apiutil.add_org(inst, "acme")
    inst.cli("domain", "add", "acme.test", "--org", "acme", "--plan", "pro")
    apiutil.add_account(inst, "owner1", org="acme", role="owner")
    apiutil.add_account(inst, "member1", org="acme", role="member")
    inst.start()
    csv = f"address,password\nx1@acme.test,{PASSWORD}\nx2@hosted.test,{PASSWORD}\n"
    owner = apiutil.logged_in(inst, "owner1")
    # hosted.test belongs to another organisation: to acme's owner it is not hosted at all
    r = owner.post("/api/v1/addresses/import", csv, headers={"Content-Type": "text/csv"},
                   query={"dry_run": "true"})
    assert r.status == 200, r
    assert r.json["ok"] is False and r.json["dry_run"] is True
    assert [(e["line"], e["code"]) for e in r.json["errors"]] == [(3, "unhosted_domain")]
    assert "hosted.test is not hosted here" in r.json["errors"][0]["reason"]
    r = owner.post("/api/v1/addresses/import", f"address,password\nx1@acme.test,{PASSWORD}\n",
                   headers={"Content-Type": "text/csv"})
    assert r.status == 200 and r.json["imported"] == 1, r
    assert "x1@acme.test" in addresses(inst, "acme.test")
    # a member of the organisation may not create its addresses
    member = apiutil.logged_in(inst, "member1")
    r = member.post("/api/v1/addresses/import", f"address,password\nx3@acme.test,{PASSWORD}\n",
                    headers={"Content-Type": "text/csv"})
    assert r.status == 200 and r.json["imported"] == 0
    assert r.json["errors"][0]["code"] == "forbidden_domain"
    # anonymous: refused before anything is read
    r = apiutil.Api(inst).post("/api/v1/addresses/import", "address\nx4@acme.test\n",
                               headers={"Content-Type": "text/csv"})
    assert r.status == 401
