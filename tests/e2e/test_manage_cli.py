"""The command line's new verbs on top of the service layer (src/manage):
members, mail services, linking domains, access lists, address details,
the action history, and listing past one page of addresses.

Each test runs the real binary ($HERMOD_BIN, default build/hermod) against
a fresh instance, like test_cli.py (whose helpers and fixtures it uses).
"""
import sqlite3

from test_cli import PW, Cli, cli, dom, verify  # noqa: F401  (fixtures)


def add_account(c, login, *extra):
    return c.ok("account", "add", login, "--password-stdin", *extra, input=PW + "\n")


def test_members(cli):
    cli.ok("org", "add", "acme")
    add_account(cli, "olga", "--org", "acme", "--role", "owner")
    add_account(cli, "mia", "--org", "acme")
    hdr, rows = cli.rows("member", "list", "acme")
    assert hdr == ["login", "role", "name"]
    assert [r[:2] for r in rows] == [["mia", "member"], ["olga", "owner"]]
    r = cli.ok("member", "set", "acme", "mia", "admin")
    assert r.out == "account mia is admin of organisation acme\n"
    r = cli.fails("member", "remove", "acme", "olga")
    assert "last owner" in r.err
    r = cli.fails("member", "set", "acme", "olga", "king")
    assert "king" in r.err
    cli.ok("member", "remove", "acme", "mia")
    assert [r[0] for r in cli.rows("member", "list", "acme")[1]] == ["olga"]
    r = cli.fails("member", "list", "nosuch")
    assert r.err == "hermod: no organisation nosuch\n"
    assert cli.run("member", "set", "acme", "mia").code == 2


def test_services_and_domain_link(cli):
    cli.ok("org", "add", "acme")
    cli.ok("domain", "add", "ex.org", "--org", "acme", "--plan", "pro")
    hdr, rows = cli.rows("service", "list", "acme")
    assert hdr == ["id", "plan", "domains", "created"]
    assert [r[1:3] for r in rows] == [["pro", "1"]]
    r = cli.ok("domain", "unlink", "ex.org")
    assert "no longer linked" in r.out
    assert cli.rows("domain", "list")[1][0][:3] == ["ex.org", "-", "acme"]
    # an unlinked domain hosts no addresses
    r = cli.fails("address", "add", "x@ex.org", "--password-stdin", input=PW + "\n")
    assert "not linked to a mail service" in r.err
    r = cli.ok("domain", "link", "ex.org", "--plan", "starter")
    assert "plan starter" in r.out
    assert cli.rows("domain", "list")[1][0][:3] == ["ex.org", "starter", "acme"]
    cli.ok("address", "add", "x@ex.org", "--password-stdin", input=PW + "\n")
    r = cli.fails("domain", "unlink", "ex.org")
    assert "still has addresses" in r.err
    assert cli.run("domain", "link", "ex.org", "--plan", "gold").code == 2


def test_access_list_history_and_show(dom):
    add_account(dom, "alice")
    dom.ok("address", "add", "box@example.org", "--password-stdin", input=PW + "\n")
    dom.ok("access", "grant", "alice", "box@example.org", "--perms", "read,history,autoreply")
    hdr, rows = dom.rows("access", "list", "box@example.org")
    assert hdr == ["login", "rights"]
    assert rows == [["alice", "read,autoreply,history"]]
    dom.ok("address", "quota", "box@example.org", "10M")
    hdr, rows = dom.rows("history", "box@example.org")
    assert hdr == ["at", "actor", "action", "detail", "ip"]
    assert [r[2] for r in rows] == ["address.quota", "access.grant", "address.create"]
    assert all(r[1] == "operator (cli)" for r in rows)
    assert "10485760" in rows[0][3]
    assert len(dom.rows("history", "box@example.org", "--limit", "1")[1]) == 1
    assert dom.run("history", "box@example.org", "--limit", "0").code == 2
    r = dom.ok("address", "show", "box@example.org")
    fields = dict(line.split("\t", 1) for line in r.out.splitlines())
    assert fields["kind"] == "mailbox" and fields["plan"] == "starter"
    assert fields["quota"] == "10485760" and fields["effective_quota"] == "10485760"
    assert fields["messages"] == "0" and fields["password"] == "yes"
    r = dom.fails("address", "show", "nobody@example.org")
    assert "does not exist" in r.err
    dom.ok("access", "revoke", "alice", "box@example.org")
    assert dom.rows("access", "list", "box@example.org")[1] == []


def test_address_list_goes_past_a_page(dom):
    """2,500 addresses: the CLI walks address.list's pages (1,000 each) in order, each once."""
    con = sqlite3.connect(dom.db())
    try:
        (dom_id,) = con.execute("SELECT id FROM domains WHERE name = 'example.org'").fetchone()
        con.executemany("INSERT INTO addresses (domain_id, local, kind, created_at) VALUES (?, ?, 'alias', 0)",
                        [(dom_id, f"u{i:05d}") for i in range(2500)])
        con.commit()
    finally:
        con.close()
    rows = dom.rows("address", "list")[1]
    assert [r[0] for r in rows] == [f"u{i:05d}@example.org" for i in range(2500)]
    assert len(dom.rows("address", "list", "example.org")[1]) == 2500


def test_account_and_address_passwords_stay_apart_through_the_operations(dom):
    add_account(dom, "alice")
    dom.ok("address", "add", "alice@example.org", "--password-stdin", input="address-Pass-1\n")
    dom.ok("account", "passwd", "alice", "--password-stdin", input="account-Pass-2\n")
    [acct] = dom.hashes_of("account")
    [addr] = dom.hashes_of("address")
    assert verify(acct, "account-Pass-2") and not verify(acct, "address-Pass-1")
    assert verify(addr, "address-Pass-1") and not verify(addr, "account-Pass-2")
    r = dom.fails("account", "passwd", "nobody", "--password-stdin", input="whatever-Pass\n")
    assert "nobody" in r.err
