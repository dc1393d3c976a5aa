"""A small client for hermod's HTTP JSON API (/api/v1), on http.client, for the e2e tests.

    import apiutil
    api = apiutil.Api(hermod)                       # http://127.0.0.1:<hermod.http_port>
    apiutil.add_account(hermod, "ann", org="acme", role="owner")
    api.login("ann", apiutil.ACCOUNT_PASSWORD)      # cookie + CSRF token from now on
    r = api.get("/api/v1/me")                       # -> Response; r.status, r.json, r.header("...")
    r = api.post("/api/v1/addresses", {"address": "x@hosted.test", ...})
    api.expect(201, "POST", "/api/v1/addresses", {...})   # asserts the status, returns .json
    tok = api.create_token("script", "read")        # the secret, shown once
    bearer = apiutil.Api(hermod, token=tok)         # Authorization: Bearer ...

Errors are {"error": {"code", "message", "field"}}; Response.error_code gives the code.
Nothing is mocked: every call is a real HTTP request to the running daemon.
"""
import http.client
import json
import ssl
import urllib.parse

ACCOUNT_PASSWORD = "Acc0unt-Pass-e2e"
SESSION_COOKIE = "hermod_session"


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value) as received
        self.body = body                # bytes

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def error(self):
        """The error object of an error answer ({} when the body is not one)."""
        try:
            return self.json.get("error") or {}
        except (ValueError, AttributeError):
            return {}

    @property
    def error_code(self):
        return self.error.get("code")

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


class Api:
    """One client: remembers the session cookie and CSRF token after login(), or uses a token."""

    def __init__(self, inst=None, port=None, host="127.0.0.1", tls=False, token=None, timeout=15):
        if port is None:
            port = inst.https_port if tls else inst.http_port
        self.host = host
        self.port = port
        self.tls = tls
        self.token = token
        self.timeout = timeout
        self.cookie = None          # value of hermod_session
        self.csrf = None
        self.account = None
        self.last_set_cookie = None  # the raw Set-Cookie header of the last login

    # ------------------------------------------------------------ transport
    def connection(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, query=None, csrf=True, auth=True):
        """body: dict/list (sent as JSON), str or bytes (sent as is). Returns a Response."""
        hdrs = {}
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body
        if query:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        if auth and self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        if auth and self.cookie:
            hdrs["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
            if csrf and self.csrf and method not in ("GET", "HEAD"):
                hdrs["X-CSRF-Token"] = self.csrf
        hdrs.update(headers or {})
        conn = self.connection()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body={} if body is None else body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body={} if body is None else body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body=body, **kw)

    def expect(self, status, method, path, body=None, **kw):
        """Sends, asserts the status (with the body in the message), returns the decoded JSON (or None)."""
        r = self.request(method, path, body=body, **kw)
        assert r.status == status, f"{method} {path}: expected {status}, got {r.status}: {r.body[:500]!r}"
        return r.json if r.body else None

    # ------------------------------------------------------------ authentication
    def login(self, login, password, expect=201):
        """POST /api/v1/session; keeps the cookie and the CSRF token. Returns the Response."""
        r = self.request("POST", "/api/v1/session", {"login": login, "password": password}, auth=False)
        if expect is not None:
            assert r.status == expect, f"login {login}: expected {expect}, got {r.status}: {r.body!r}"
        if r.status in (200, 201):
            self.last_set_cookie = r.header("Set-Cookie")
            self.cookie = parse_set_cookie(self.last_set_cookie)["value"]
            self.csrf = r.json["csrf_token"]
            self.account = r.json.get("account")
        return r

    def logout(self):
        r = self.request("DELETE", "/api/v1/session")
        self.cookie = self.csrf = None
        return r

    def create_token(self, name="test", scope="write"):
        """POST /api/v1/tokens; returns the secret (shown once)."""
        j = self.expect(201, "POST", "/api/v1/tokens", {"name": name, "scope": scope})
        return j["token"]


def parse_set_cookie(header):
    """'hermod_session=abc; HttpOnly; Path=/' -> {'name', 'value', 'attrs': {lower name: value or True}}."""
    assert header, "no Set-Cookie header"
    parts = [p.strip() for p in header.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return {"name": name, "value": value, "attrs": attrs}


def add_account(inst, login, password=ACCOUNT_PASSWORD, org=None, role=None):
    """Creates an account with the CLI (and its membership when org is given)."""
    args = ["account", "add", login, "--password-stdin"]
    if org:
        args += ["--org", org]
        if role:
            args += ["--role", role]
    inst.cli(*args, input=(password + "\n").encode())


def add_org(inst, name):
    inst.cli("org", "add", name)


def logged_in(inst, login, password=ACCOUNT_PASSWORD, tls=False):
    """An Api logged in as login (the account must exist)."""
    api = Api(inst, tls=tls)
    api.login(login, password)
    return api
