"""The sandbox's Platform API as clients meet it: versions, auth, errors,
headers, paging, faults on demand, and heroku3 as a second client.

Error ids and statuses are Heroku's (Dev Center, Platform API Reference, "Errors"):
401 ``unauthorized``, 404 ``not_found``, 422 ``invalid_params``.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests

from herotasks_sandbox.testing import wait_until

pytestmark = pytest.mark.e2e


def error_of(r: requests.Response) -> dict:
    """A Heroku error body: ``{"id", "message"}``, both non-empty strings."""
    body = r.json()
    assert isinstance(body.get("id"), str) and body["id"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


# -- versions and auth -----------------------------------------------------------------
@pytest.mark.parametrize("variant", ["3", "3.sdk", "3.filters", "3.pipelines",
                                     "3.cedar-acm"])
def test_accept_variants_of_version_3(api, app, variant):
    r = api.request("GET", f"/apps/{app['name']}",
                    accept=f"application/vnd.heroku+json; version={variant}")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == app["id"]


def test_an_unknown_api_version_is_refused_with_an_error_body(api, app):
    r = api.request("GET", f"/apps/{app['name']}",
                    accept="application/vnd.heroku+json; version=2")
    assert 400 <= r.status_code < 500
    error_of(r)


def test_basic_auth_with_the_token_as_password(api, sandbox):
    for user in ("", "heroku"):      # heroku3 sends ":key"; git sends "user:key"
        cred = base64.b64encode(f"{user}:{sandbox.api_key}".encode()).decode()
        r = api.request("GET", "/account", token=None,
                        headers={"Authorization": f"Basic {cred}"})
        assert r.status_code == 200, r.text
        assert r.json()["email"]


@pytest.mark.parametrize("authorization", [
    None, "Bearer wrong-token", "Bearer ", "Basic " + base64.b64encode(b":wrong").decode(),
    "Basic !!not-base64!!", "Token whatever",
], ids=["missing", "wrong-bearer", "empty-bearer", "wrong-basic", "garbled-basic",
        "unknown-scheme"])
def test_a_bad_or_missing_token_is_401_unauthorized(api, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = api.request("GET", "/apps", token=None, headers=headers)
    assert r.status_code == 401
    assert error_of(r)["id"] == "unauthorized"


def test_the_admin_token_is_not_an_api_token(api, sandbox):
    r = api.request("GET", "/account", token=sandbox.admin_token)
    assert r.status_code == 401
    assert error_of(r)["id"] == "unauthorized"


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("method,path", [
    ("GET", "/apps/{missing}"), ("PATCH", "/apps/{missing}"), ("DELETE", "/apps/{missing}"),
    ("GET", "/apps/{missing}/config-vars"), ("GET", "/apps/{missing}/releases"),
    ("GET", "/apps/{missing}/formation"), ("POST", "/apps/{missing}/dynos"),
])
def test_an_unknown_app_is_404_not_found(api, method, path):
    body = {"command": "true"} if method == "POST" else (
        {"maintenance": True} if method == "PATCH" else None)
    r = api.request(method, path.format(missing="no-such-app-" + uuid.uuid4().hex[:8]),
                    json=body)
    assert r.status_code == 404, r.text
    assert error_of(r)["id"] == "not_found"


def test_unknown_release_slug_and_endpoint_are_404(api, app):
    for path in (f"/apps/{app['name']}/releases/{uuid.uuid4()}",
                 f"/apps/{app['name']}/slugs/{uuid.uuid4()}",
                 "/no/such/endpoint"):
        r = api.request("GET", path)
        assert r.status_code == 404, (path, r.text)
        assert error_of(r)["id"] == "not_found"


def test_a_taken_name_is_422_and_changes_nothing(api, app):
    r = api.request("POST", "/apps", json={"name": app["name"]})
    assert r.status_code == 422, r.text
    assert "taken" in error_of(r)["message"].lower()
    assert [a["id"] for a in api.get("/apps") if a["name"] == app["name"]] == [app["id"]]


@pytest.mark.parametrize("name", ["Upper-Case", "1starts-with-digit", "ends-with-",
                                  "under_score", "a" * 31, "x"])
def test_an_invalid_app_name_is_422(api, name):
    r = api.request("POST", "/apps", json={"name": name})
    assert r.status_code == 422, r.text
    error_of(r)
    assert not [a for a in api.get("/apps") if a["name"] == name]


@pytest.mark.parametrize("method,path,body,field", [
    ("PATCH", "/apps/{app}", {"maintenance": "yes"}, "maintenance"),
    ("POST", "/apps", {"name": 5}, "name"),
    ("PATCH", "/apps/{app}/features/preboot", {"enabled": "sure"}, "enabled"),
    ("POST", "/apps/{app}/dynos", {"attach": False}, "command"),
    ("POST", "/apps/{app}/slugs", {"commit": "abc"}, "process_types"),
    ("POST", "/apps/{app}/releases", {"slug": 42}, "slug"),
    ("POST", "/apps/{app}/builds", {"source_blob": "nope"}, "source_blob"),
    ("POST", "/pipelines", {}, "name"),
], ids=lambda v: v if isinstance(v, str) and not v.startswith("/") else None)
def test_an_invalid_body_is_422_invalid_params_naming_the_field(api, app, method, path,
                                                                body, field):
    r = api.request(method, path.format(app=app["name"]), json=body)
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["id"] == "invalid_params"
    assert field in err["message"], err


def test_the_clis_formation_body_is_accepted_but_nonsense_quantities_are_not(api, app):
    api.deploy_slug(app["name"], {"Procfile": "web: sleep 600\nworker: sleep 600\n"},
                    {"web": "sleep 600", "worker": "sleep 600"})
    path = f"/apps/{app['name']}/formation"
    r = api.request("PATCH", path, json={"updates": [{"type": "worker",
                                                      "quantity": "lots"}]})
    assert r.status_code == 422, r.text
    assert "quantity" in error_of(r)["message"]
    r = api.request("PATCH", path, json={"updates": [{"type": "worker", "quantity": -1}]})
    assert r.status_code == 422, r.text
    # What `heroku ps:scale web=0 worker+2:Standard-2X` sends (shared notes §3).
    out = api.patch(path, {"updates": [
        {"quantity": "0", "type": "web"},
        {"quantity": "+2", "size": "Standard-2X", "type": "worker"}]})
    got = {f["type"]: (f["quantity"], f["size"]) for f in out}
    assert got == {"web": (0, "Standard-1X"), "worker": (2, "Standard-2X")}
    api.patch(path, {"updates": [{"type": "worker", "quantity": 0}]})


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2",
                                 b'{"maintenance": tru'], ids=["brace", "binary",
                                                               "array", "truncated"])
def test_malformed_json_is_400_and_harms_nothing(api, app, raw):
    name = app["name"]
    api.patch(f"/apps/{name}/config-vars", {"KEEP": "me"})
    for method, path in (("PATCH", f"/apps/{name}"), ("PATCH", f"/apps/{name}/config-vars"),
                         ("POST", "/apps")):
        r = api.request(method, path, data=raw,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (method, path, r.status_code, r.text)
        error_of(r)
    # The very next requests work, and the state is as it was.
    assert api.get(f"/apps/{name}/config-vars") == {"KEEP": "me"}
    assert api.get(f"/apps/{name}")["maintenance"] is False


def _raw(sandbox, data: bytes, tls: bool = True) -> bytes:
    """Send ``data`` as is on a fresh connection; what came back (or b"")."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    u = urlsplit(sandbox.url)
    out = b""
    with socket.create_connection((u.hostname, u.port), timeout=10) as raw:
        sock = ssl.create_default_context(cafile=sandbox.ca_bundle).wrap_socket(
            raw, server_hostname=u.hostname) if tls else raw
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                out += chunk
        except (OSError, ssl.SSLError):
            pass
    return out


@pytest.mark.parametrize("data,status", [
    (b"GARBAGE\r\n\r\n", b"400"),
    (b"GET /account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
     b"Content-Length: abc\r\nConnection: close\r\n\r\n", b"400"),
    (b"PATCH /apps/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n",
     b"400"),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
], ids=["not-http", "bad-content-length", "bad-chunk-size", "huge-request-line"])
def test_garbage_on_the_wire_is_a_4xx_and_harms_nothing(sandbox, api, app, data, status):
    if b"{key}" in data:
        data = data.replace(b"{{}}", b"{}").replace(b"{key}", sandbox.api_key.encode())
    answer = _raw(sandbox, data)
    # (http.server answers a request line without a version HTTP/0.9-style:
    # a page with no status line.)
    assert status in answer[:200] or answer.split(b" ", 2)[1:2] == [status], answer[:300]
    assert api.get(f"/apps/{app['name']}")["id"] == app["id"]


def test_plain_http_and_hangups_harm_nothing(sandbox, api, app):
    _raw(sandbox, b"GET /account HTTP/1.1\r\nHost: x\r\n\r\n", tls=False)
    # A body announced but never sent: the client gives up, the server goes on.
    import socket
    import ssl
    from urllib.parse import urlsplit

    u = urlsplit(sandbox.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as raw:
        with ssl.create_default_context(cafile=sandbox.ca_bundle).wrap_socket(
                raw, server_hostname=u.hostname) as tls:
            tls.sendall(b"PATCH /apps/" + app["name"].encode() + b" HTTP/1.1\r\n"
                        b"Host: x\r\nAuthorization: Bearer " + sandbox.api_key.encode()
                        + b"\r\nContent-Length: 100\r\n\r\n{\"maint")
    assert api.get(f"/apps/{app['name']}")["maintenance"] is False
    assert api.get("/account")["email"]


def test_a_body_of_the_wrong_json_type_is_422_not_a_crash(api, app):
    for body in ([1, 2], "text", 7, None):      # None: the JSON text null
        r = api.request("PATCH", f"/apps/{app['name']}/config-vars",
                        data=json.dumps(body), headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.text)
        assert error_of(r)["id"] == "invalid_params"
    assert api.get(f"/apps/{app['name']}")["id"] == app["id"]


@pytest.mark.parametrize("refusal", ["bad-token", "unknown-path", "wrong-method",
                                     "fault", "bad-accept"])
def test_a_refused_request_with_a_body_leaves_the_connection_usable(api, app, admin,
                                                                     refusal):
    """An answer sent before the body was read must not leave that body on a
    kept-alive connection, where it would be parsed as the next request."""
    path, kw = f"/apps/{app['name']}", {}
    if refusal == "bad-token":
        kw = {"token": "wrong"}
    elif refusal == "unknown-path":
        path += "/no-such-thing"
    elif refusal == "wrong-method":
        path = "/account/rate-limits"
    elif refusal == "fault":
        admin.post("/faults", {"method": "PATCH", "path": f"^{path}$", "status": 503})
    else:
        kw = {"accept": "application/vnd.heroku+json; version=2"}
    r = api.request("PATCH", path, json={"maintenance": True, "pad": "x" * 2000}, **kw)
    assert 400 <= r.status_code < 600
    # The same pooled connection carries on.
    after = api.request("GET", f"/apps/{app['name']}")
    assert after.status_code == 200, after.text[:200]
    assert after.json()["maintenance"] is False


# -- headers ---------------------------------------------------------------------------
def test_request_id_and_rate_limit_headers(api, admin, app):
    # no refill between the two requests, so the second costs exactly one
    # token whatever the machine's speed
    refill = admin.get("/settings")["rate_refill"]
    admin.patch("/settings", {"rate_refill": 0})
    try:
        r1 = api.request("GET", f"/apps/{app['name']}")
        r2 = api.request("GET", f"/apps/{app['name']}")
    finally:
        admin.patch("/settings", {"rate_refill": refill})
    for r in (r1, r2):
        uuid.UUID(r.headers["Request-Id"])
        assert int(r.headers["RateLimit-Remaining"]) >= 0
    assert r1.headers["Request-Id"] != r2.headers["Request-Id"]
    assert int(r2.headers["RateLimit-Remaining"]) == int(r1.headers["RateLimit-Remaining"]) - 1
    mine = str(uuid.uuid4())
    assert api.request("GET", "/account", headers={"Request-Id": mine}
                       ).headers["Request-Id"] == mine
    # Errors carry them too.
    r = api.request("GET", "/apps/no-such-app-xyz")
    assert r.headers["Request-Id"] and "RateLimit-Remaining" in r.headers
    body = api.get("/account/rate-limits")
    assert isinstance(body["remaining"], int) and body["remaining"] > 0


# -- what the CLI asks beyond endpoints.json -------------------------------------------
def test_users_tilde_is_the_account(api):
    """``pipelines:create`` reads the owner from ``GET /users/~`` (account
    "Info By User")."""
    account = api.get("/account")
    assert api.get("/users/~") == account
    assert api.get(f"/users/{account['id']}") == account
    r = api.request("GET", f"/users/{uuid.uuid4()}")
    assert r.status_code == 404 and error_of(r)["id"] == "not_found"


def test_pipelines_filtered_by_name(api, tools):
    """``pipelines:add NAME`` finds its pipeline with ``?eq[name]=NAME``."""
    mine, other = (api.post("/pipelines", {"name": tools.unique("filt")}) for _ in "ab")
    try:
        found = api.get(f"/pipelines?eq[name]={mine['name']}")
        assert [p["id"] for p in found] == [mine["id"]]
        assert api.get("/pipelines?eq[name]=no-such-pipeline") == []
        assert {mine["id"], other["id"]} <= {p["id"] for p in api.get("/pipelines")}
    finally:
        for p in (mine, other):
            api.request("DELETE", f"/pipelines/{p['id']}")


# -- Range paging ----------------------------------------------------------------------
def follow(api, path: str, first_range: str) -> tuple[list[dict], list[int]]:
    """Every item of a list, page after page, as the CLI's http-call does;
    and the status of each page."""
    items, statuses, rng = [], [], first_range
    for _ in range(100):
        r = api.request("GET", path, headers={"Range": rng})
        assert r.status_code in (200, 206), r.text
        items += r.json()
        statuses.append(r.status_code)
        if r.status_code == 200:
            assert "Next-Range" not in r.headers
            return items, statuses
        rng = r.headers["Next-Range"]
    raise AssertionError("paging never ended")


def test_range_paging_gives_every_item_once(api, app):
    name = app["name"]
    for i in range(6):          # each config change is a release
        api.patch(f"/apps/{name}/config-vars", {"N": str(i)})
    everything = api.get(f"/apps/{name}/releases")
    assert [r["version"] for r in everything] == list(range(1, 8))

    items, statuses = follow(api, f"/apps/{name}/releases", "version ..; max=2, order=desc")
    assert [r["version"] for r in items] == list(range(7, 0, -1))
    assert statuses == [206, 206, 206, 200]

    items, statuses = follow(api, f"/apps/{name}/releases", "version ..; max=3")
    assert [r["version"] for r in items] == list(range(1, 8))
    assert statuses == [206, 206, 200]

    # What the CLI sends for `releases:rollback`: one page of ten, newest first.
    r = api.request("GET", f"/apps/{name}/releases",
                    headers={"Range": "version ..; max=10, order=desc"})
    assert r.status_code == 200
    assert [x["version"] for x in r.json()] == list(range(7, 0, -1))

    # Paging by id over apps gives each app once, too.
    all_ids = sorted(a["id"] for a in api.get("/apps"))
    items, _ = follow(api, "/apps", "id ..; max=1")
    assert sorted(a["id"] for a in items) == all_ids


def test_every_range_field_the_schema_declares_is_accepted(api, app, sandbox, tools):
    """The schema's ``ranges`` (app List, build List, filter-apps) are the
    fields a client may page by."""
    from herotasks_sandbox import api as sandbox_api
    from herotasks_sandbox import schema

    source = api.post("/sources")
    requests.put(source["source_blob"]["put_url"], data=tools.tarball(
        {"Procfile": "web: sleep 600\n"}), verify=sandbox.ca_bundle, timeout=30,
        headers={"Content-Type": ""}).raise_for_status()
    build = api.post(f"/apps/{app['name']}/builds",
                     {"source_blob": {"url": source["source_blob"]["get_url"]}})
    team = api.post("/teams", {"name": tools.unique("rteam")})
    paths = {("app", "List"): ("GET", "/apps", None),
             ("team-member", "List"): ("GET", f"/teams/{team['name']}/members", None),
             ("app", "List Owned and Collaborated"): ("GET", "/users/~/apps", None),
             ("build", "List"): ("GET", f"/apps/{app['name']}/builds", None),
             ("filter-apps", "Apps"): ("POST", "/filters/apps",
                                       {"in": {"id": [app["id"]]}})}
    refused = []
    for route in sandbox_api.ROUTES:
        if not route.resource:
            continue
        ranges = schema.link(route.resource, route.title).get("ranges")
        if not ranges:
            continue
        method, path, body = paths[(route.resource, route.title)]
        for field in ranges:
            r = api.request(method, path, headers={"Range": f"{field} ..; max=1000"},
                            json=body)
            if r.status_code != 200 or not r.json():
                refused.append(f"{method} {path} Range: {field}: {r.status_code} {r.text}")
    assert not refused, "\n".join(refused)
    assert build["id"] in [b["id"] for b in api.get(f"/apps/{app['name']}/builds")]


@pytest.mark.parametrize("header", ["bogus", "version ..; max=0", "version ..; max=x",
                                    "version ..; order=sideways", "nosuchfield ..; max=2"])
def test_a_bad_range_is_an_error_body_not_a_crash(api, app, header):
    r = api.request("GET", f"/apps/{app['name']}/releases", headers={"Range": header})
    assert 400 <= r.status_code < 500, (header, r.status_code, r.text)
    error_of(r)
    assert api.request("GET", f"/apps/{app['name']}/releases").status_code == 200


# -- faults on demand ------------------------------------------------------------------
@pytest.fixture
def faults(admin):
    admin.delete("/faults")
    yield admin
    admin.delete("/faults")


def test_a_status_fault_answers_the_next_n_matching_requests(api, app, faults):
    path = f"/apps/{app['name']}"
    rule = faults.post("/faults", {"method": "GET", "path": f"^{path}$", "count": 2,
                                   "status": 503})
    assert rule["count"] == 2 and rule["status"] == 503
    assert len(faults.get("/faults")) == 1
    # Another method or path is not affected.
    assert api.request("GET", f"{path}/config-vars").status_code == 200
    assert api.request("PATCH", path, json={"maintenance": False}).status_code == 200
    for _ in range(2):
        r = api.request("GET", path)
        assert r.status_code == 503
        error_of(r)
    assert api.request("GET", path).status_code == 200
    assert faults.get("/faults") == []


def test_a_fault_with_an_error_id(api, app, faults):
    faults.post("/faults", {"path": f"^/apps/{app['name']}/formation$", "status": 429,
                            "error_id": "rate_limit", "message": "Slow down."})
    r = api.request("GET", f"/apps/{app['name']}/formation")
    assert r.status_code == 429
    assert error_of(r) == {"id": "rate_limit", "message": "Slow down."}


def test_a_delay_fault_answers_late(api, app, faults):
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "GET", "path": f"^{path}$", "delay": 5})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.request("GET", path, timeout=0.5)
    assert api.request("GET", path).status_code == 200


def test_a_drop_fault_closes_the_connection(api, app, faults):
    path = f"/apps/{app['name']}/releases"
    faults.post("/faults", {"method": "GET", "path": f"^{path}$", "drop": True})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.request("GET", path)
    assert api.request("GET", path).status_code == 200


def test_a_429_fault_looks_like_herokus_rate_limit(api, app, faults):
    path = f"/apps/{app['name']}/dynos"
    faults.post("/faults", {"method": "POST", "path": f"^{path}$", "status": 429,
                            "retry_after": 2})
    r = api.request("POST", path, json={"command": "true"})
    assert r.status_code == 429
    assert error_of(r)["id"] == "rate_limit"
    assert r.headers["Retry-After"] == "2"
    assert r.headers["RateLimit-Remaining"] == "0"
    # It answered in Heroku's place: no dyno was started.
    assert api.get(path) == []


def test_every_fault_answer_carries_ratelimit_remaining(api, app, faults):
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "GET", "path": f"^{path}$", "status": 503})
    r = api.request("GET", path)
    assert r.status_code == 503 and int(r.headers["RateLimit-Remaining"]) > 0


def test_an_after_fault_lets_the_request_take_effect_then_answers_5xx(api, app, faults):
    # The case a client can't tell from a plain 5xx: Heroku did the work and
    # the answer was an error anyway (a router or proxy failing after the app).
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "PATCH", "path": f"^{path}$", "status": 503,
                            "after": True})
    r = api.request("PATCH", path, json={"maintenance": True})
    assert r.status_code == 503
    error_of(r)
    assert api.get(path)["maintenance"] is True


def test_an_after_drop_takes_effect_and_closes_without_an_answer(api, app, faults):
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "PATCH", "path": f"^{path}$", "drop": True,
                            "after": True})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.request("PATCH", path, json={"maintenance": True})
    assert api.get(path)["maintenance"] is True


def test_an_after_delay_takes_effect_before_the_late_answer(api, app, faults):
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "PATCH", "path": f"^{path}$", "delay": 5,
                            "after": True})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.request("PATCH", path, json={"maintenance": True}, timeout=1)
    # The change is made before the answer is held back (poll: the
    # handler's thread may still be on its way to the database).
    wait_until(lambda: api.get(path)["maintenance"] is True, 10, 0.1,
               "maintenance on")


@pytest.fixture
def small_bucket(admin):
    before = admin.get("/settings")
    admin.patch("/settings", {"rate_limit": 3, "rate_refill": 0})
    yield admin
    admin.patch("/settings", before)


def test_the_rate_limit_is_a_token_bucket(api, app, small_bucket):
    # Three tokens, none refilled: the fourth call is refused as Heroku
    # refuses it (429 rate_limit, RateLimit-Remaining: 0) and changes nothing.
    path = f"/apps/{app['name']}"
    seen = [api.request("GET", path) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [int(r.headers["RateLimit-Remaining"]) for r in seen] == [2, 1, 0]
    r = api.request("PATCH", path, json={"maintenance": True})
    assert r.status_code == 429 and error_of(r)["id"] == "rate_limit"
    assert r.headers["RateLimit-Remaining"] == "0"
    # Heroku documents no Retry-After on its own 429; only a fault adds one.
    assert "Retry-After" not in r.headers
    small_bucket.patch("/settings", {"rate_limit": 10})
    assert api.get(path)["maintenance"] is False


def test_the_bucket_refills_at_its_rate(api, app, small_bucket):
    small_bucket.patch("/settings", {"rate_limit": 1, "rate_refill": 600})
    path = f"/apps/{app['name']}"
    api.get(path)
    # Ten tokens a second: a token comes back soon, and the bucket never
    # holds more than its size.
    wait_until(lambda: api.request("GET", path).status_code == 200, 10, 0.2,
               "a refilled token")
    assert int(api.request("GET", path).headers.get("RateLimit-Remaining", 0)) <= 1


def test_admin_needs_the_admin_token(admin, sandbox):
    for token in (None, "wrong", sandbox.api_key):
        for method, path in (("GET", "/faults"), ("POST", "/faults"),
                             ("PATCH", "/settings")):
            r = admin.request(method, path, token=token, json={"status": 500})
            assert r.status_code == 401, (token and token[:4], method, path)
            error_of(r)
    assert admin.get("/faults") == []


def test_admin_and_api_routes_share_a_table_but_not_paths(admin, api):
    # The admin routes sit on the API's route table: an API path under
    # /_sandbox/admin/ is no admin endpoint, an admin path no API one.
    for method, path in (("GET", "/nothing"), ("PUT", "/faults"), ("GET", "/apps"),
                         ("GET", "/account")):
        r = admin.request(method, path)
        assert (r.status_code, error_of(r)["message"]) == (
            404, "Unknown admin endpoint."), (method, path)
    r = api.request("GET", "/_sandbox/admin/faults")
    assert r.status_code == 401
    assert api.request("GET", "/faults").status_code == 404


def test_admin_rejects_bad_fault_and_setting_bodies(admin):
    for body in ({"count": 0}, {"status": 42}, {"path": "("}, {"nonsense": 1},
                 {"retry_after": -1}, {"status": 429, "retry_after": "soon"}):
        r = admin.request("POST", "/faults", json=body)
        assert r.status_code == 422, (body, r.text)
        error_of(r)
    for body in ({"build_delay": -1}, {"boot_delay": "soon"}, {"warp": 1},
                 {"rate_limit": -1}, {"rate_refill": "fast"}, {"stop_grace": -1},
                 {"preboot_switch": "later"}, {"release_visibility": -1},
                 {"boot_timeout": -1}, {"crash_cooloff": "soon"}):
        r = admin.request("PATCH", "/settings", json=body)
        assert r.status_code == 422, (body, r.text)
        error_of(r)
    before = admin.get("/settings")
    assert admin.patch("/settings", {"build_delay": 0.5}) == {**before, "build_delay": 0.5}
    assert admin.patch("/settings", {"stop_grace": 7}) == {
        **before, "build_delay": 0.5, "stop_grace": 7}
    assert admin.patch("/settings", {"preboot_switch": 9}) == {
        **before, "build_delay": 0.5, "stop_grace": 7, "preboot_switch": 9}
    # R10's boot timeout is Heroku's 60 s unless set; the crash cool-off is
    # the session sandbox's scaled one (conftest), both runtime timings.
    assert before["boot_timeout"] == 60.0
    assert admin.patch("/settings", {"boot_timeout": 5, "crash_cooloff": 2}) == {
        **before, "build_delay": 0.5, "stop_grace": 7, "preboot_switch": 9,
        "boot_timeout": 5, "crash_cooloff": 2}
    assert admin.patch("/settings", before) == before
    assert admin.get("/faults") == []


@pytest.fixture
def release_lag(admin):
    before = admin.get("/settings")
    yield admin
    admin.patch("/settings", before)


def test_a_one_off_right_after_a_release_is_409_until_the_runtime_sees_it(
        api, app, release_lag):
    """heroku/cli src/lib/run/dyno.ts `_doStart`: "the runtime API sends back
    a 409 in the event the release isn't found yet ... This usually happens
    when you create an app and immediately try to run a one-off dyno"."""
    path = f"/apps/{app['name']}/dynos"
    release_lag.patch("/settings", {"release_visibility": 60})
    r = api.request("POST", path, json={"command": "true", "attach": False})
    assert r.status_code == 409, r.text
    error = error_of(r)
    assert error["id"] == "conflict" and "v1" in error["message"]
    # a new release starts the lag again; once it is over the dyno starts
    release_lag.patch("/settings", {"release_visibility": 0})
    made = api.post(path, {"command": "true", "attach": False})
    assert made["type"] == "run"


# -- heroku3 ---------------------------------------------------------------------------
def test_heroku3_against_the_sandbox(sandbox, api, app, monkeypatch):
    heroku3 = pytest.importorskip("heroku3")
    monkeypatch.setattr(heroku3.api, "HEROKU_URL", sandbox.url)
    session = requests.Session()
    session.verify = sandbox.ca_bundle
    h = heroku3.from_key(sandbox.api_key, session=session)

    assert h.account().email == api.get("/account")["email"]
    happ = h.app(app["name"])
    assert happ.id == app["id"] and happ.name == app["name"]
    happ.update_config({"FROM_HEROKU3": "yes"})
    assert happ.config().to_dict()["FROM_HEROKU3"] == "yes"
    assert h.ratelimit_remaining() > 0
    assert api.get(f"/apps/{app['name']}/config-vars")["FROM_HEROKU3"] == "yes"
