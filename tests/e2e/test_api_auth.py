"""The HTTP API's authentication: account logins (never an address password), throttling,
the session cookie's flags, CSRF, logout, and API tokens with scopes and revocation.

Everything goes over real HTTP to a running daemon (apiutil on http.client, and curl)."""
import os
import subprocess
import time

import pytest

import apiutil
from apiutil import Api, ACCOUNT_PASSWORD
from hermodtest import PASSWORD

FAST_FAILURES = {"auth_failure_delay": "0s", "auth_max_failures": "3", "auth_lockout": "10m"}


@pytest.fixture
def ann(hermod):
    """An owner account "ann" of the default organisation (the test domains' organisation)."""
    apiutil.add_account(hermod, "ann", org="default", role="owner")
    return hermod


# ------------------------------------------------------------------ logging in

def test_login_returns_csrf_token_and_sets_session_cookie(ann):
    api = Api(ann)
    r = api.login("ann", ACCOUNT_PASSWORD)
    assert r.status == 201
    body = r.json
    assert body["account"]["login"] == "ann"
    assert isinstance(body["account"]["id"], int)
    assert len(body["csrf_token"]) >= 32
    assert body["expires_at"] > time.time()
    cookie = apiutil.parse_set_cookie(r.header("Set-Cookie"))
    assert cookie["name"] == "hermod_session"
    assert len(cookie["value"]) == 43  # 32 random bytes, base64url
    # the session works: an authenticated GET
    assert api.expect(200, "GET", "/api/v1/tokens") == {"tokens": []}


def test_cookie_flags_on_plain_http(ann):
    r = Api(ann).login("ann", ACCOUNT_PASSWORD)
    attrs = apiutil.parse_set_cookie(r.header("Set-Cookie"))["attrs"]
    assert attrs.get("httponly") is True
    assert attrs.get("samesite") == "Strict"
    assert attrs.get("path") == "/"
    assert "secure" not in attrs, "Secure on plain http would make the browser drop the cookie"


def test_cookie_is_secure_over_https(ann):
    api = Api(ann, tls=True)
    r = api.login("ann", ACCOUNT_PASSWORD)
    attrs = apiutil.parse_set_cookie(r.header("Set-Cookie"))["attrs"]
    assert attrs.get("secure") is True
    assert attrs.get("httponly") is True
    assert attrs.get("samesite") == "Strict"
    assert api.expect(200, "GET", "/api/v1/tokens") == {"tokens": []}


@pytest.mark.hermod(limits=FAST_FAILURES)
def test_wrong_password_refused(ann):
    r = Api(ann).login("ann", "not-the-password", expect=401)
    assert r.error_code == "invalid_credentials"
    assert r.header("Set-Cookie") is None
    r = Api(ann).login("nobody", "whatever", expect=401)
    assert r.error_code == "invalid_credentials"  # same answer: no account enumeration


@pytest.mark.hermod(limits=FAST_FAILURES)
def test_address_password_never_opens_the_api(ann):
    # alice@hosted.test has the address password PASSWORD; it is not an account
    r = Api(ann).login("alice@hosted.test", PASSWORD, expect=401)
    assert r.error_code == "invalid_credentials"
    # an account whose login is an address: only the account password opens the API
    apiutil.add_account(ann, "bob@hosted.test", password="Account-Of-Bob-1")
    Api(ann).login("bob@hosted.test", PASSWORD, expect=401)
    Api(ann).login("bob@hosted.test", "Account-Of-Bob-1", expect=201)


@pytest.mark.hermod(limits=FAST_FAILURES)
def test_login_throttled_after_failures_with_clear_message(ann):
    for _ in range(3):
        Api(ann).login("ann", "wrong", expect=401)
    r = Api(ann).login("ann", "wrong", expect=429)
    assert r.error_code == "too_many_failures"
    assert "Too many failed logins" in r.error["message"]
    assert "try again in" in r.error["message"]
    assert r.header("Retry-After") is not None
    # while locked out even the right password is refused without being checked
    r = Api(ann).login("ann", ACCOUNT_PASSWORD, expect=429)
    assert r.error_code == "too_many_failures"
    ann.wait_log(r"auth event=lockout")


@pytest.mark.hermod(limits=FAST_FAILURES)
def test_malformed_login_bodies(ann):
    api = Api(ann)
    r = api.request("POST", "/api/v1/session", "{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.error_code == "invalid_json"
    r = api.request("POST", "/api/v1/session", {"login": "ann"})
    assert r.status == 400 and r.error["field"] == "password"
    r = api.request("POST", "/api/v1/session", {"login": 5, "password": "x"})
    assert r.status == 400 and r.error["field"] == "login"


def test_logout_ends_the_session(ann):
    api = apiutil.logged_in(ann, "ann")
    old_cookie, old_csrf = api.cookie, api.csrf
    r = api.logout()
    assert r.status == 204
    cleared = apiutil.parse_set_cookie(r.header("Set-Cookie"))
    assert cleared["value"] == "" and cleared["attrs"].get("max-age") == "0"
    stale = Api(ann)
    stale.cookie, stale.csrf = old_cookie, old_csrf
    r = stale.get("/api/v1/tokens")
    assert r.status == 401 and r.error_code == "login_required"


# ------------------------------------------------------------------ CSRF

def test_csrf_token_required_for_changes_by_cookie(ann):
    api = apiutil.logged_in(ann, "ann")
    r = api.post("/api/v1/tokens", {"name": "t", "scope": "read"}, csrf=False)
    assert r.status == 403 and r.error_code == "csrf_failed"
    assert "X-CSRF-Token" in r.error["message"]
    r = api.post("/api/v1/tokens", {"name": "t", "scope": "read"}, headers={"X-CSRF-Token": "x" * 32})
    assert r.status == 403 and r.error_code == "csrf_failed"
    # another session's CSRF token does not fit this session
    other = apiutil.logged_in(ann, "ann")
    r = api.post("/api/v1/tokens", {"name": "t", "scope": "read"}, headers={"X-CSRF-Token": other.csrf})
    assert r.status == 403 and r.error_code == "csrf_failed"
    # nothing was created by the refused requests
    assert api.expect(200, "GET", "/api/v1/tokens") == {"tokens": []}
    # reads need no CSRF token; the right token lets the change through
    api.expect(201, "POST", "/api/v1/tokens", {"name": "t", "scope": "read"})
    r = api.delete("/api/v1/session", csrf=False)
    assert r.status == 403 and r.error_code == "csrf_failed"


def test_bearer_tokens_need_no_csrf(ann):
    api = apiutil.logged_in(ann, "ann")
    tok = api.create_token("script", "write")
    bearer = Api(ann, token=tok)
    bearer.expect(201, "POST", "/api/v1/tokens", {"name": "second", "scope": "read"})


# ------------------------------------------------------------------ API tokens

def test_token_is_shown_once_and_listed_without_secret(ann):
    api = apiutil.logged_in(ann, "ann")
    j = api.expect(201, "POST", "/api/v1/tokens", {"name": "backup script", "scope": "read"})
    assert j["name"] == "backup script" and j["scope"] == "read" and len(j["token"]) == 43
    tokens = api.expect(200, "GET", "/api/v1/tokens")["tokens"]
    assert [t["name"] for t in tokens] == ["backup script"]
    assert "token" not in tokens[0]
    assert tokens[0]["last_used_at"] is None
    Api(ann, token=j["token"]).expect(200, "GET", "/api/v1/tokens")
    tokens = api.expect(200, "GET", "/api/v1/tokens")["tokens"]
    assert tokens[0]["last_used_at"] is not None


def test_read_token_cannot_change_anything(ann):
    api = apiutil.logged_in(ann, "ann")
    ro = Api(ann, token=api.create_token("ro", "read"))
    assert ro.get("/api/v1/tokens").status == 200
    r = ro.post("/api/v1/tokens", {"name": "escalate", "scope": "write"})
    assert r.status == 403 and r.error_code == "read_only_token"
    tid = ro.expect(200, "GET", "/api/v1/tokens")["tokens"][0]["id"]
    r = ro.delete(f"/api/v1/tokens/{tid}")
    assert r.status == 403 and r.error_code == "read_only_token"


def test_token_scope_validated(ann):
    api = apiutil.logged_in(ann, "ann")
    r = api.post("/api/v1/tokens", {"name": "x", "scope": "admin"})
    assert r.status == 400 and r.error["field"] == "scope"
    r = api.post("/api/v1/tokens", {"scope": "read"})
    assert r.status == 400 and r.error["field"] == "name"
    # no scope given: the least privilege
    assert api.expect(201, "POST", "/api/v1/tokens", {"name": "default"})["scope"] == "read"


def test_token_revocation(ann):
    api = apiutil.logged_in(ann, "ann")
    j = api.expect(201, "POST", "/api/v1/tokens", {"name": "temp", "scope": "write"})
    bearer = Api(ann, token=j["token"])
    bearer.expect(200, "GET", "/api/v1/tokens")
    assert api.delete(f"/api/v1/tokens/{j['id']}").status == 204
    r = bearer.get("/api/v1/tokens")
    assert r.status == 401 and r.error_code == "invalid_token"
    # gone from the list; revoking again is a 404
    assert api.expect(200, "GET", "/api/v1/tokens") == {"tokens": []}
    r = api.delete(f"/api/v1/tokens/{j['id']}")
    assert r.status == 404 and r.error_code == "token_not_found"


def test_tokens_are_per_account(ann):
    apiutil.add_account(ann, "ben", org="default", role="member")
    a = apiutil.logged_in(ann, "ann")
    b = apiutil.logged_in(ann, "ben")
    j = a.expect(201, "POST", "/api/v1/tokens", {"name": "ann's", "scope": "read"})
    assert b.expect(200, "GET", "/api/v1/tokens") == {"tokens": []}
    r = b.delete(f"/api/v1/tokens/{j['id']}")
    assert r.status == 404
    assert len(a.expect(200, "GET", "/api/v1/tokens")["tokens"]) == 1


def test_bad_bearer_token(ann):
    for tok in ["x", "A" * 43, "A" * 500]:
        r = Api(ann, token=tok).get("/api/v1/tokens")
        assert r.status == 401 and r.error_code == "invalid_token"


def test_no_credentials(ann):
    r = Api(ann).get("/api/v1/tokens")
    assert r.status == 401 and r.error_code == "login_required"
    r = Api(ann).post("/api/v1/tokens", {"name": "x"})
    assert r.status == 401


def test_only_hashes_are_stored(ann):
    """The database holds SHA-256 of the secrets, never the cookie or the token itself."""
    api = apiutil.logged_in(ann, "ann")
    tok = api.create_token("secret-check", "read")
    db = os.path.join(ann.root, "data")
    blob = b""
    for d, _, files in os.walk(db):
        for name in files:
            if "hermod" in name or name.endswith((".db", ".db-wal", "-wal")):
                with open(os.path.join(d, name), "rb") as f:
                    blob += f.read()
    assert blob, "no database file found"
    assert api.cookie.encode() not in blob
    assert tok.encode() not in blob


# ------------------------------------------------------------------ curl

def test_curl_cookie_jar_login_and_csrf(ann, tmp_path):
    jar = str(tmp_path / "jar")
    base = f"http://127.0.0.1:{ann.http_port}"

    def curl(*args):
        r = subprocess.run(["curl", "-s", "-S", "-b", jar, "-c", jar, "-w", "\n%{http_code}", *args],
                           capture_output=True, timeout=30)
        out = r.stdout.decode()
        body, _, code = out.rpartition("\n")
        return int(code), body

    code, body = curl("-H", "Content-Type: application/json",
                      "-d", '{"login": "ann", "password": "%s"}' % ACCOUNT_PASSWORD, base + "/api/v1/session")
    assert code == 201, body
    import json
    csrf = json.loads(body)["csrf_token"]
    with open(jar) as f:
        jar_text = f.read()
    assert "#HttpOnly_127.0.0.1" in jar_text and "hermod_session" in jar_text
    code, body = curl(base + "/api/v1/tokens")
    assert code == 200 and json.loads(body) == {"tokens": []}
    code, body = curl("-H", "Content-Type: application/json", "-d", '{"name": "curl"}', base + "/api/v1/tokens")
    assert code == 403 and json.loads(body)["error"]["code"] == "csrf_failed"
    code, body = curl("-H", "Content-Type: application/json", "-H", "X-CSRF-Token: " + csrf,
                      "-d", '{"name": "curl"}', base + "/api/v1/tokens")
    assert code == 201, body


def test_curl_https_secure_cookie(ann):
    r = subprocess.run(["curl", "-s", "-k", "-i", "-H", "Content-Type: application/json",
                        "-d", '{"login": "ann", "password": "%s"}' % ACCOUNT_PASSWORD,
                        f"https://127.0.0.1:{ann.https_port}/api/v1/session"],
                       capture_output=True, timeout=30)
    head = r.stdout.decode(errors="replace").split("\r\n\r\n")[0]
    assert head.startswith("HTTP/1.1 201")
    cookie = [l for l in head.split("\r\n") if l.lower().startswith("set-cookie:")][0]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
