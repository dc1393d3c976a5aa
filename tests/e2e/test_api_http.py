"""The HTTP layer of the API: routing (404, 405 with Allow), bounds (413), bodies (malformed JSON,
media types), parameters, the error format, connection limits, shutdown, and the OpenAPI document
checked against real answers (jsonschema, from Debian's python3-jsonschema)."""
import copy
import json
import socket
import ssl
import subprocess
import time

import pytest

import apiutil
from apiutil import Api, ACCOUNT_PASSWORD


@pytest.fixture
def ann(hermod):
    apiutil.add_account(hermod, "ann", org="default", role="owner")
    return hermod


def assert_error(r, status, code):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r.headers
    e = r.json["error"]
    assert e["code"] == code, r
    assert isinstance(e["message"], str) and e["message"]
    assert "field" in e
    return e


# ------------------------------------------------------------------ routing

def test_unknown_route_is_404_json(hermod):
    e = assert_error(Api(hermod).get("/api/v1/nothing-here"), 404, "not_found")
    assert "/api/v1/nothing-here" in e["message"]
    assert_error(Api(hermod).get("/"), 404, "not_found")
    assert_error(Api(hermod).get("/api/v1/addresses/a@b.test/nothing"), 404, "not_found")


def test_wrong_method_is_405_with_allow(hermod):
    r = Api(hermod).request("PATCH", "/api/v1/tokens", body={})
    e = assert_error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "GET, POST"
    assert "GET, POST" in e["message"]
    r = Api(hermod).request("PUT", "/api/v1/session", body={})
    assert_error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "POST, DELETE"
    r = Api(hermod).request("OPTIONS", "/api/v1/tokens")
    assert_error(r, 405, "method_not_allowed")


def test_route_without_its_operation_answers_unknown_operation_or_runs(ann):
    """Every route of the table reaches manage_call: an op that has not landed says so."""
    api = apiutil.logged_in(ann, "ann")
    r = api.get("/api/v1/me")
    if r.status == 404:
        assert r.error_code == "unknown_operation"
    else:
        assert r.status == 200 and r.header("Content-Type") == "application/json"


def test_literal_segment_beats_parameter(ann):
    """POST /api/v1/addresses/import is the import, not an address called "import"."""
    api = apiutil.logged_in(ann, "ann")
    r = api.request("POST", "/api/v1/addresses/import", "address,password\n", headers={"Content-Type": "text/csv"})
    # the import op (or unknown_operation until it lands), never 405 from /addresses/{address}
    assert r.status != 405
    if r.status == 404:
        assert r.error_code == "unknown_operation"
        assert "address.import" in r.error["message"]


def test_bad_percent_encoding_in_path_is_404(hermod):
    assert_error(Api(hermod).get("/api/v1/addresses/a%zz"), 404, "not_found")
    assert_error(Api(hermod).get("/api/v1/addresses/a%00b"), 404, "not_found")


# ------------------------------------------------------------------ bodies and bounds

def test_malformed_json_is_400_with_position(ann):
    api = apiutil.logged_in(ann, "ann")
    r = api.request("POST", "/api/v1/tokens", '{"name": "x", ', headers={"Content-Type": "application/json"})
    e = assert_error(r, 400, "invalid_json")
    assert e["message"].startswith("the body is not valid JSON:")
    assert "line 1" in e["message"] and "column" in e["message"]
    r = api.request("POST", "/api/v1/tokens", '[1, 2]', headers={"Content-Type": "application/json"})
    e = assert_error(r, 400, "invalid_json")
    assert e["message"] == "the body must be a JSON object"
    r = api.request("POST", "/api/v1/tokens", '{"name": "a", "name": "b"}',
                    headers={"Content-Type": "application/json"})
    e = assert_error(r, 400, "invalid_json")
    assert "duplicate" in e["message"]


def test_json_body_needs_json_media_type(ann):
    api = apiutil.logged_in(ann, "ann")
    r = api.request("POST", "/api/v1/tokens", '{"name": "x"}',
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    e = assert_error(r, 415, "unsupported_media_type")
    assert "application/json" in e["message"]
    r = api.request("POST", "/api/v1/tokens", '{"name": "x"}',
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 201


def test_oversized_json_body_is_413(ann):
    api = apiutil.logged_in(ann, "ann")
    big = json.dumps({"name": "x" * (1024 * 1024 + 10)})
    r = api.request("POST", "/api/v1/tokens", big, headers={"Content-Type": "application/json"})
    e = assert_error(r, 413, "body_too_large")
    assert "1 MiB" in e["message"]


def test_body_over_the_hard_limit_is_413_before_it_is_read(hermod):
    """Content-Length above 8 MiB: refused from the header alone (the body is never sent)."""
    s = socket.create_connection(("127.0.0.1", hermod.http_port), timeout=10)
    s.sendall(b"POST /api/v1/addresses/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
              b"Content-Length: 9000000\r\n\r\n")
    data = s.recv(4096)
    s.close()
    assert data.startswith(b"HTTP/1.1 413"), data


def test_huge_header_section_refused(hermod):
    s = socket.create_connection(("127.0.0.1", hermod.http_port), timeout=10)
    s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * 40000 + b"\r\n\r\n")
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    s.close()
    assert not data.startswith(b"HTTP/1.1 200"), data


def test_garbage_request_does_not_hurt(hermod):
    for junk in [b"\x16\x03\x01\x02\x00garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"G" * 20000 + b"\r\n\r\n"]:
        s = socket.create_connection(("127.0.0.1", hermod.http_port), timeout=10)
        s.sendall(junk)
        try:
            s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
    assert Api(hermod).get("/api/v1/openapi.json").status == 200


# ------------------------------------------------------------------ parameters

def test_path_parameter_is_percent_decoded_and_query_typed(ann):
    """A token id in the path arrives decoded: %31%32 is "12" (no such token: 404 token_not_found)."""
    api = apiutil.logged_in(ann, "ann")
    j = api.expect(201, "POST", "/api/v1/tokens", {"name": "p", "scope": "write"})
    encoded = "".join("%%%02X" % ord(c) for c in str(j["id"]))
    assert api.delete(f"/api/v1/tokens/{encoded}").status == 204
    e = assert_error(api.delete("/api/v1/tokens/abc"), 400, "invalid_parameter")
    assert e["field"] == "id"


# ------------------------------------------------------------------ limits and lifecycle

@pytest.mark.hermod(limits={"connections_per_ip": "3", "shutdown_grace": "3s"})
def test_connections_per_ip_limited(hermod):
    held = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", hermod.http_port), timeout=10)
        s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(12) == b"HTTP/1.1 200"
        held.append(s)
    r = Api(hermod).get("/api/v1/openapi.json")
    e = assert_error(r, 503, "too_many_connections")
    for s in held:
        s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if Api(hermod).get("/api/v1/openapi.json").status == 200:
            break
        time.sleep(0.2)
    else:
        pytest.fail("connections were not released after their clients closed")


@pytest.mark.hermod(limits={"connections": "4", "shutdown_grace": "3s"})
def test_global_connection_limit_pauses_accepting(hermod):
    held = [socket.create_connection(("127.0.0.1", hermod.http_port), timeout=10) for _ in range(4)]
    time.sleep(0.3)
    hermod.wait_log(r"http event=connection-limit limit=4")
    # the listener is paused: a new client waits in the backlog, and is served once one leaves
    late = socket.create_connection(("127.0.0.1", hermod.http_port), timeout=10)
    late.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    late.settimeout(0.8)
    with pytest.raises(socket.timeout):
        late.recv(12)
    held.pop().close()
    late.settimeout(10)
    assert late.recv(12) == b"HTTP/1.1 200"
    for s in held + [late]:
        s.close()


def test_idle_keepalive_connection_and_shutdown(hermod):
    s = socket.create_connection(("127.0.0.1", hermod.http_port), timeout=10)
    s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(12) == b"HTTP/1.1 200"
    assert hermod.stop() == 0
    s.close()


def test_https_serves_the_same_api(ann):
    api = Api(ann, tls=True)
    assert api.get("/api/v1/openapi.json").status == 200
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", ann.https_port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
    # plaintext to the TLS port gets no HTTP answer
    s = socket.create_connection(("127.0.0.1", ann.https_port), timeout=5)
    s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data = s.recv(100)
    except (ConnectionResetError, socket.timeout):
        data = b""
    s.close()
    assert not data.startswith(b"HTTP/1.1 200")


def test_answers_carry_safety_headers(hermod):
    r = Api(hermod).get("/api/v1/openapi.json")
    assert r.header("Cache-Control") == "no-store"
    assert r.header("X-Content-Type-Options") == "nosniff"


# ------------------------------------------------------------------ OpenAPI

def openapi_to_jsonschema(node):
    """OpenAPI 3.0 schema -> JSON Schema: nullable becomes a null type; $refs point into the doc."""
    if isinstance(node, dict):
        out = {k: openapi_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") and "type" in node:
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [openapi_to_jsonschema(v) for v in node]
    return node


class Checker:
    def __init__(self, doc):
        import jsonschema
        self.jsonschema = jsonschema
        self.doc = doc
        self.root = openapi_to_jsonschema(copy.deepcopy(doc))

    def validate(self, method, pattern, r):
        op = self.doc["paths"][pattern][method.lower()]
        spec = op["responses"].get(str(r.status)) or op["responses"]["default"]
        if "content" not in spec:
            assert r.body == b"", r
            return
        schema = spec["content"]["application/json"]["schema"]
        schema = dict(openapi_to_jsonschema(schema), components=self.root["components"])
        self.jsonschema.validate(r.json, schema)


def test_openapi_document_describes_every_route(hermod):
    r = Api(hermod).get("/api/v1/openapi.json")
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    doc = r.json
    assert doc["openapi"].startswith("3.0")
    assert doc["info"]["title"]
    paths = doc["paths"]
    expected = {
        ("post", "/api/v1/session"), ("delete", "/api/v1/session"), ("get", "/api/v1/me"),
        ("put", "/api/v1/me/password"), ("post", "/api/v1/tokens"), ("get", "/api/v1/tokens"),
        ("delete", "/api/v1/tokens/{id}"), ("get", "/api/v1/orgs"), ("post", "/api/v1/orgs"),
        ("get", "/api/v1/orgs/{org}"), ("delete", "/api/v1/orgs/{org}"), ("get", "/api/v1/orgs/{org}/members"),
        ("put", "/api/v1/orgs/{org}/members/{login}"), ("delete", "/api/v1/orgs/{org}/members/{login}"),
        ("post", "/api/v1/accounts"), ("get", "/api/v1/orgs/{org}/services"), ("put", "/api/v1/domains/{domain}/plan"),
        ("get", "/api/v1/domains"), ("post", "/api/v1/domains"), ("get", "/api/v1/domains/{domain}"),
        ("delete", "/api/v1/domains/{domain}"), ("post", "/api/v1/domains/{domain}/link"),
        ("post", "/api/v1/domains/{domain}/unlink"), ("get", "/api/v1/domains/{domain}/dns"),
        ("post", "/api/v1/domains/{domain}/check"), ("get", "/api/v1/addresses"), ("post", "/api/v1/addresses"),
        ("get", "/api/v1/addresses/{address}"), ("delete", "/api/v1/addresses/{address}"),
        ("put", "/api/v1/addresses/{address}/password"), ("put", "/api/v1/addresses/{address}/quota"),
        ("get", "/api/v1/addresses/{address}/access"), ("put", "/api/v1/addresses/{address}/access/{login}"),
        ("delete", "/api/v1/addresses/{address}/access/{login}"), ("get", "/api/v1/addresses/{address}/history"),
        ("get", "/api/v1/invitations"), ("post", "/api/v1/invitations"), ("delete", "/api/v1/invitations/{id}"),
        ("get", "/api/v1/invitations/{token}"), ("post", "/api/v1/invitations/{token}/accept"),
        ("get", "/api/v1/addresses/{address}/links"), ("post", "/api/v1/addresses/{address}/links"),
        ("delete", "/api/v1/links/{id}"), ("post", "/api/v1/links/{token}/redeem"),
        ("get", "/api/v1/addresses/{address}/autoreply"), ("put", "/api/v1/addresses/{address}/autoreply"),
        ("get", "/api/v1/addresses/{address}/targets"), ("put", "/api/v1/addresses/{address}/targets"),
        ("get", "/api/v1/confirm/{token}"), ("post", "/api/v1/addresses/import"), ("get", "/api/v1/openapi.json"),
    }
    # the invitation routes share a shape with different parameter names: both documented
    have = {(m, p) for p, item in paths.items() for m in item}
    missing = {e for e in expected if e not in have
               and not (e[1].startswith("/api/v1/invitations/{") and (e[0], e[1]) in have)}
    inv = paths.get("/api/v1/invitations/{id}", {}) | paths.get("/api/v1/invitations/{token}", {})
    missing -= {("delete", "/api/v1/invitations/{id}")} if "delete" in inv else set()
    missing -= {("get", "/api/v1/invitations/{token}")} if "get" in inv else set()
    assert not missing, f"routes missing from the document: {sorted(missing)}"
    ids = set()
    for p, item in paths.items():
        for m, op in item.items():
            assert op["operationId"] not in ids
            ids.add(op["operationId"])
            assert op["summary"]
            assert "default" in op["responses"], (m, p)
            names = {x["name"] for x in op["parameters"] if x["in"] == "path"}
            assert names == set(seg[1:-1] for seg in p.split("/") if seg.startswith("{")), (m, p)
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    q = {x["name"] for x in paths["/api/v1/addresses"]["get"]["parameters"] if x["in"] == "query"}
    assert {"domain", "limit", "after"} <= q


def test_openapi_is_a_valid_openapi_document(hermod):
    """Structural check of the document against the OpenAPI 3.0 rules that matter to clients."""
    doc = Api(hermod).get("/api/v1/openapi.json").json
    import jsonschema
    # every $ref resolves inside the document
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.split("/")[-1] in doc["components"]["schemas"], ref
    # every schema is a valid JSON Schema once nullable is translated
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft7Validator.check_schema(openapi_to_jsonschema(schema))
    for p, item in doc["paths"].items():
        assert p.startswith("/")
        for m, op in item.items():
            assert m in ("get", "post", "put", "delete", "patch")
            for code in op["responses"]:
                assert code == "default" or (code.isdigit() and len(code) == 3)


def test_real_answers_match_the_openapi_document(ann):
    doc = Api(ann).get("/api/v1/openapi.json").json
    check = Checker(doc)
    api = Api(ann)
    r = api.login("ann", ACCOUNT_PASSWORD)
    check.validate("POST", "/api/v1/session", r)
    r = api.post("/api/v1/tokens", {"name": "doc", "scope": "write"})
    check.validate("POST", "/api/v1/tokens", r)
    tid = r.json["id"]
    check.validate("GET", "/api/v1/tokens", api.get("/api/v1/tokens"))
    check.validate("DELETE", "/api/v1/tokens/{id}", api.delete(f"/api/v1/tokens/{tid}"))
    # errors of every kind have the error schema
    check.validate("DELETE", "/api/v1/tokens/{id}", api.delete(f"/api/v1/tokens/{tid}"))       # 404
    check.validate("POST", "/api/v1/tokens", api.post("/api/v1/tokens", {"name": 3}))         # 400
    check.validate("POST", "/api/v1/tokens", api.post("/api/v1/tokens", {}, csrf=False))      # 403
    check.validate("GET", "/api/v1/tokens", Api(ann).get("/api/v1/tokens"))                   # 401
    check.validate("GET", "/api/v1/me", api.get("/api/v1/me"))                                # op or 404
    check.validate("GET", "/api/v1/addresses", api.get("/api/v1/addresses", query={"limit": 5}))
    r = api.request("POST", "/api/v1/tokens", "{", headers={"Content-Type": "application/json"})
    check.validate("POST", "/api/v1/tokens", r)
    check.validate("DELETE", "/api/v1/session", api.logout())
    # and a wrong answer would be caught: the checker is not vacuous
    import jsonschema
    bad = apiutil.Response(400, "x", [("Content-Type", "application/json")], b'{"error": {"code": "X"}}')
    with pytest.raises(jsonschema.ValidationError):
        check.validate("GET", "/api/v1/tokens", bad)


def test_curl_fetches_the_openapi_document(hermod):
    r = subprocess.run(["curl", "-s", "-f", f"http://127.0.0.1:{hermod.http_port}/api/v1/openapi.json"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0
    assert json.loads(r.stdout)["openapi"].startswith("3.0")


# ------------------------------------------------------------------ through real operations

def test_query_parameters_are_typed_and_paginate(ann):
    """?limit=2 arrives as the integer 2 (an op refusing strings would say 'must be an integer')."""
    api = apiutil.logged_in(ann, "ann")
    r = api.get("/api/v1/addresses", query={"domain": "hosted.test", "limit": 2})
    if r.status == 404 and r.error_code == "unknown_operation":
        pytest.skip("address.list has not landed")
    assert r.status == 200, r
    page = r.json
    assert len(page["addresses"]) == 2
    assert page["next"]
    rest = api.expect(200, "GET", "/api/v1/addresses",
                      query={"domain": "hosted.test", "limit": 100, "after": page["next"]})
    seen = [a["address"] if isinstance(a, dict) else a for a in page["addresses"] + rest["addresses"]]
    assert len(seen) == len(set(seen)) and len(seen) >= 4  # alice, bob, dave, no-reply
    e = assert_error(api.get("/api/v1/addresses", query={"limit": "many"}), 400, "invalid_parameter")
    assert e["field"] == "limit"


def test_path_parameter_wins_over_the_body(ann):
    """PUT /addresses/{address}/quota: the address in the path is the one changed, whatever the body says."""
    api = apiutil.logged_in(ann, "ann")
    r = api.put("/api/v1/addresses/bob@hosted.test/quota", {"address": "alice@hosted.test", "quota": 123456})
    if r.status == 404 and r.error_code == "unknown_operation":
        pytest.skip("address.quota has not landed")
    assert r.status == 200, r
    assert r.json["address"] == "bob@hosted.test"


def test_outbox_to_a_remote_person_is_queued(ann):
    """An operation's message to a remote recipient goes through store_async_submit into the queue."""
    api = apiutil.logged_in(ann, "ann")
    r = api.post("/api/v1/invitations", {"address": "dave@hosted.test", "email": "pat@partner.test",
                                          "perms": ["read"]})
    if r.status == 404 and r.error_code == "unknown_operation":
        pytest.skip("invitation.create has not landed")
    assert r.status == 201, r
    ann.wait_log(r"http event=outbox-sent local=0 remote=1")
    deadline = time.monotonic() + 10
    while True:
        rows = [l.split("\t") for l in ann.cli("queue", "list").stdout.decode().splitlines()[1:] if l]
        # attempted at once: the HTTP server kicked the queue (its scan would come much later)
        if rows and int(rows[0][2]) >= 1:
            break
        assert time.monotonic() < deadline, f"queue: {rows}"
        time.sleep(0.2)
    assert len(rows) == 1 and rows[0][4] == "<>"
    assert "pat@partner.test" in ann.cli("queue", "show", rows[0][0]).stdout.decode()

