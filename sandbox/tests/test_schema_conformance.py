"""The sandbox against Heroku's own Platform API schema.

Three things are checked: the vendored schema is the official file, byte for
byte; every link herotasks needs (``endpoints.json`` next to this file) has a
route; and a live walk through a real sandbox calls every route in
``api.ROUTES`` (but the sandbox's own admin ones) and validates each
response body against its link's ``targetSchema``. A route added to
``ROUTES`` without being walked here fails the walk, so coverage cannot
silently shrink.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from herotasks_sandbox import api as sandbox_api
from herotasks_sandbox import schema
from herotasks_sandbox.postgres import find_bin_dir
from herotasks_sandbox.testing import as_heroku

OFFICIAL_SHA256 = "f8954a58ad229bf95dcdbb62df1ff5a1414e6a04bdf81422e33e43faca802202"
# Kept in the repository, so every clone (CI included) checks every link.
ENDPOINTS = Path(__file__).with_name("endpoints.json")

# One method + href, two schema links (release Create and Rollback): the
# sandbox serves both from one route and tells them apart by the body.
LINKLESS = {("POST", "/apps/{app}/releases"): (("release", "Create"),
                                                ("release", "Rollback"))}
# The routes that are Heroku's: the table's admin routes are the sandbox's own.
HEROKU_ROUTES = [r for r in sandbox_api.ROUTES if not r.admin]


def route_template(route) -> str:
    """``^/apps/(?P<app>[^/]+)$`` -> ``/apps/{app}``."""
    return re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}", route.regex.pattern)[1:-1]


def sample_path(template: str) -> str:
    """A concrete path for a route or link template: each ``{...}`` -> one segment."""
    return re.sub(r"\{[^}]*\}", "x1", template)


def link_template(link: dict) -> str:
    """An official href, its encoded JSON-pointer segments made readable."""
    return re.sub(r"\{\([^)]*\)\}", "{p}", link["href"])


def links_of(route) -> list[tuple[str, str]]:
    if route.resource:
        return [(route.resource, route.title)]
    return list(LINKLESS.get((route.method, route_template(route)), ()))


# -- the schema itself -----------------------------------------------------------------
def test_vendored_schema_is_the_official_file():
    # the sha256 of Heroku's published schema (see the schema folder's README)
    vendored = schema.SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(vendored).hexdigest() == OFFICIAL_SHA256


def test_every_route_implements_a_link_of_the_schema():
    """Each route names a real link with the same method and a matching href."""
    wrong = []
    for route in HEROKU_ROUTES:
        names = links_of(route)
        if not names:
            wrong.append(f"{route.method} {route_template(route)}: names no schema link")
        for resource, title in names:
            try:
                link = schema.link(resource, title)
            except KeyError:
                wrong.append(f"{route.method} {route_template(route)}: no link "
                             f"{resource} {title!r} in the schema")
                continue
            href = "^" + re.sub(r"\{\([^)]*\)\}", "[^/]+", link["href"]) + "$"
            if link["method"] != route.method or not re.match(
                    href, sample_path(route_template(route))):
                wrong.append(f"{route.method} {route_template(route)} is not "
                             f"{resource} {title!r} "
                             f"({link['method']} {link_template(link)})")
    assert not wrong, "\n".join(wrong)


def test_every_needed_link_has_a_route(tools):
    missing = []
    for link in tools.load_json(ENDPOINTS)["links"]:
        sample = sample_path(link["href"])
        found = [r for r in HEROKU_ROUTES
                 if r.method == link["method"] and r.regex.match(sample)
                 and re.match(link["path_regex"], sample_path(route_template(r)))]
        if not found:
            missing.append(f"{link['method']} {link['href']} ({link['resource']} "
                           f"{link['title']}): no route")
        elif (link["resource"], link["title"]) not in links_of(found[0]):
            missing.append(f"{link['method']} {link['href']}: routed to "
                           f"{links_of(found[0])}, not {link['resource']} {link['title']}")
    assert not missing, "\n".join(missing)


# -- formats the stock Draft 4 checker leaves unchecked --------------------------------
STRICT_FORMATS = jsonschema.FormatChecker(list(
    jsonschema.Draft4Validator.FORMAT_CHECKER.checkers))


@STRICT_FORMATS.checks("uuid", raises=ValueError)
def _uuid(value) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@STRICT_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@STRICT_FORMATS.checks("uri")
def _uri(value) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.path))


class Conformance:
    """Validates every 2xx body against the link its route implements, and
    records which (route, link) pairs the walk exercised."""

    def __init__(self):
        self.covered: set[tuple[str, str, str, str]] = set()
        self.failures: list[str] = []

    @staticmethod
    def required() -> set[tuple[str, str, str, str]]:
        return {(r.method, route_template(r), res, title)
                for r in HEROKU_ROUTES for res, title in links_of(r)} | {
            (r.method, route_template(r), "?", "?")
            for r in HEROKU_ROUTES if not links_of(r)}

    def __call__(self, method, path, request_json, response) -> None:
        route, _ = sandbox_api.match(method, path.partition("?")[0])
        if route is None or not 200 <= response.status_code < 300:
            return
        names = links_of(route)
        if len(names) > 1:        # release Create / Rollback: told by the body
            body = request_json or {}
            names = [("release", "Rollback" if "release" in body and "slug" not in body
                      else "Create")]
        for resource, title in names:
            self.covered.add((method, route_template(route), resource, title))
            v = schema.validator(resource, title, "targetSchema")
            if v is None:
                continue
            problems: list[str] = []
            body = as_heroku(response.json(), problems)
            if problems:
                self.failures.append(f"{method} {path}: " + "; ".join(problems))
            for validator in (v, v.evolve(format_checker=STRICT_FORMATS)):
                errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
                if errors:
                    self.failures.append(
                        f"{method} {path} ({resource} {title!r}): " + "; ".join(
                            f"{_where(e)}: {e.message}" for e in errors[:5]))
                    break


class _Answer:
    """Just enough of a ``requests.Response`` for ``Conformance``."""

    def __init__(self, body, status: int = 200):
        self.status_code, self._body = status, body

    def json(self):
        return self._body


@pytest.mark.parametrize("method,path,body,complaint", [
    ("DELETE", "/apps/a/dynos/web.1", {}, None),
    ("DELETE", "/apps/a/dynos/web.1", {"extra": 1}, "'extra' was unexpected"),
    ("GET", "/apps/a", {"maintenance": "no"}, "is not of type 'boolean'"),
    ("GET", "/apps/a", {"created_at": "yesterday"}, "date-time"),
    ("GET", "/apps/a", {"id": "not-a-uuid"}, "uuid"),
    ("GET", "/apps/a", {"git_url": "https://example.com/a.git"}, "not a loopback git_url"),
    ("GET", "/apps/a", {"git_url": "https://127.0.0.1:5000/a-b.git",
                        "web_url": "http://127.0.0.1:5001/", "name": "a-b"}, None),
])
def test_the_checker_itself_catches_a_wrong_body(method, path, body, complaint):
    conf = Conformance()
    conf(method, path, None, _Answer(body))
    assert conf.covered
    if complaint is None:
        assert conf.failures == []
    else:
        assert any(complaint in f for f in conf.failures), conf.failures
    before = len(conf.failures)
    conf(method, path, None, _Answer({"id": 5}, status=404))   # errors are not checked
    assert len(conf.failures) == before


def _where(error) -> str:
    return "/".join(map(str, error.absolute_path)) or "(body)"


# -- the walk --------------------------------------------------------------------------
def _rendezvous(attach_url: str, ca_bundle: str, timeout: float = 30) -> bytes:
    """Join an attached dyno the way the CLI does; return what it printed."""
    u = urlsplit(attach_url)
    ctx = ssl.create_default_context(cafile=ca_bundle)
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=u.hostname) as tls:
            tls.sendall(u.path.lstrip("/").encode() + (b"?" + u.query.encode()
                                                      if u.query else b"") + b"\r\n")
            out = b""
            while chunk := tls.recv(65536):
                out += chunk
    return out


@pytest.mark.e2e
def test_every_route_answers_what_the_schema_describes(sandbox, tools):
    c = tools.Api(sandbox.url, sandbox.api_key, sandbox.ca_bundle)
    conf = Conformance()
    c.observers.append(conf)
    try:
        _walk(c, sandbox, tools)
    except Exception as exc:
        raise AssertionError(
            f"the walk stopped: {exc}\nschema disagreements before that:\n"
            + "\n".join(conf.failures)) from exc
    assert not conf.failures, "responses that disagree with the schema:\n" + \
        "\n".join(conf.failures)
    unwalked = sorted(Conformance.required() - conf.covered)
    assert not unwalked, "routes the walk did not exercise (add them to _walk):\n" + \
        "\n".join(" ".join(u) for u in unwalked)


def _walk_addons(c, name: str, other: str) -> None:
    """heroku-postgresql: create, share, look up, detach, destroy."""
    if find_bin_dir() is None:
        return  # the add-on routes then go unwalked: the test says which
    c.post(f"/apps/{name}/addons", {"plan": "heroku-postgresql"})
    c.post(f"/apps/{name}/addons", {"plan": {"name": "heroku-postgresql:essential-1"},
                                    "attachment": {"name": "SECOND"}})
    addon = c.get(f"/apps/{name}/addons")[0]
    c.get("/addons")
    c.get(f"/addons/{addon['id']}")
    c.get(f"/apps/{name}/addons/{addon['name']}",
          headers={"Accept-Expansion": "addon_service,plan"})
    c.post("/actions/addons/resolve", {"addon": addon["name"], "app": name})
    c.get(f"/apps/{name}/addon-attachments")
    c.get("/addon-attachments")
    c.get(f"/addons/{addon['id']}/addon-attachments")
    made = c.post("/apps", {"name": other + "-pg"})
    shared = c.post("/addon-attachments", {"addon": addon["id"], "app": made["id"]})
    c.get(f"/addon-attachments/{shared['id']}")
    c.get(f"/apps/{made['name']}/addon-attachments/{shared['name']}")
    c.post("/actions/addon-attachments/resolve",
           {"addon_attachment": shared["name"], "app": made["name"]})
    c.delete(f"/addon-attachments/{shared['id']}")
    c.delete(f"/apps/{made['name']}")
    for a in c.get(f"/apps/{name}/addons"):
        c.delete(f"/apps/{name}/addons/{a['id']}")


def _walk(c, sandbox, tools) -> None:
    """Call every route once or more, in an order that gives each its data."""
    name, target = tools.unique("conf"), tools.unique("conf-prod")

    # account, apps
    c.get("/account")
    c.get("/account/rate-limits")
    c.get("/users/~")
    app = c.post("/apps", {"name": name})
    c.get("/apps")
    c.get(f"/apps/{name}")
    c.patch(f"/apps/{app['id']}", {"maintenance": True})
    c.patch(f"/apps/{name}", {"maintenance": False})
    c.get(f"/apps/{name}/addons")
    _walk_addons(c, name, target)
    c.get("/users/~/apps")
    c.post(f"/apps/{name}/log-sessions", {"lines": 10, "tail": False})
    c.get(f"/apps/{name}/collaborators")

    # teams and team apps
    team = c.post("/teams", {"name": tools.unique("conf-team")})
    c.get("/teams")
    c.get(f"/teams/{team['name']}")
    team_app = c.post("/teams/apps", {"name": tools.unique("conf-tapp"),
                                      "team": team["name"]})
    c.get(f"/teams/{team['name']}/apps")
    c.delete(f"/apps/{team_app['id']}")

    # regions, Private Spaces, a second user: membership and collaborators
    c.get("/regions")
    c.get("/regions/oregon")
    space = c.post("/spaces", {"name": tools.unique("conf-sp"), "team": team["name"],
                               "region": "oregon", "shield": False})
    c.get("/spaces")
    c.get(f"/spaces/{space['name']}")
    space_app = c.post("/teams/apps", {"name": tools.unique("conf-sapp"),
                                       "team": team["name"], "space": space["name"]})
    c.get(f"/apps/{space_app['name']}")
    c.delete(f"/apps/{space_app['id']}")
    c.delete(f"/spaces/{space['id']}")
    admin = tools.Api(sandbox.url + "/_sandbox/admin", sandbox.admin_token,
                      sandbox.ca_bundle)
    other = admin.post("/users", {"email": tools.unique("conf") + "@example.com"})
    c.post(f"/teams/{team['name']}/members", {"email": other["email"], "role": "member"})
    c.put(f"/teams/{team['name']}/members", {"email": other["email"], "role": "admin"})
    c.get(f"/teams/{team['name']}/members")
    c.delete(f"/teams/{team['name']}/members/{other['email']}")
    c.post(f"/apps/{name}/collaborators", {"user": other["email"], "silent": True})
    c.get(f"/apps/{name}/collaborators")
    c.get(f"/apps/{name}/collaborators/{other['email']}")
    c.delete(f"/apps/{name}/collaborators/{other['id']}")

    # features, config vars
    c.get(f"/apps/{name}/features")
    c.get(f"/apps/{name}/features/preboot")
    c.patch(f"/apps/{name}/features/preboot", {"enabled": True})
    c.patch(f"/apps/{name}/features/preboot", {"enabled": False})
    c.patch(f"/apps/{name}/config-vars", {"GREETING": "hello", "UNUSED": "x"})
    c.patch(f"/apps/{name}/config-vars", {"UNUSED": None})
    assert c.get(f"/apps/{name}/config-vars") == {"GREETING": "hello"}

    # sources -> build -> slug -> release (as the heroku-builds plugin does)
    c.post(f"/apps/{name}/sources")
    source = c.post("/sources")
    put = c.session.put(source["source_blob"]["put_url"],
                        data=tools.tarball(tools.WEB_APP), headers={"Content-Type": ""},
                        verify=sandbox.ca_bundle, timeout=30)
    assert put.status_code < 300, put.text
    build = c.post(f"/apps/{name}/builds", {
        "source_blob": {"url": source["source_blob"]["get_url"], "version": "v1"}})
    build = tools.wait_until(
        lambda: (b := c.get(f"/apps/{name}/builds/{build['id']}"))["status"] != "pending"
        and b, 120, 0.3, "the build")
    assert build["status"] == "succeeded", build
    c.get(f"/apps/{name}/builds")
    c.get(f"/apps/{name}/builds", headers={"Range": "id ..; max=1, order=desc"})
    # a Fir app's build makes an OCI image (fir.py), the same source
    fir_space = c.post("/spaces", {"name": tools.unique("conf-fir"), "team": team["name"],
                                   "region": "oregon", "generation": "fir"})
    fir_app = c.post("/teams/apps", {"name": tools.unique("conf-fapp"),
                                     "team": team["name"], "space": fir_space["name"]})
    fir_build = c.post(f"/apps/{fir_app['name']}/builds", {
        "source_blob": {"url": source["source_blob"]["get_url"], "version": "v1"}})
    fir_build = tools.wait_until(
        lambda: (b := c.get(f"/apps/{fir_app['name']}/builds/{fir_build['id']}"))[
            "status"] != "pending" and b, 120, 0.3, "the Fir build")
    assert fir_build["status"] == "succeeded" and fir_build["slug"] is None, fir_build
    fir_release = c.wait_release(fir_app["name"], fir_build["release"]["id"])
    c.get(f"/apps/{fir_app['name']}/oci-images/{fir_release['oci_image']['id']}")
    # dyno sizes: both generations', one by name, a Fir app's own
    c.get("/dyno-sizes")
    c.get("/dyno-sizes/dyno-1c-0.5gb")
    c.get(f"/apps/{fir_app['name']}/available-dyno-sizes")
    c.delete(f"/apps/{fir_app['id']}")
    c.delete(f"/spaces/{fir_space['id']}")
    slug = c.get(f"/apps/{name}/slugs/{build['slug']['id']}")
    assert set(slug["process_types"]) == {"web", "worker"}
    built = c.wait_release(name, build["release"]["id"])
    assert built["status"] == "succeeded"

    # formation (exists once a slug with process types is released)
    c.get(f"/apps/{name}/formation")
    c.get(f"/apps/{name}/formation/web")
    c.patch(f"/apps/{name}/formation", {"updates": [{"type": "worker", "quantity": 1}]})
    c.patch(f"/apps/{name}/formation/worker", {"quantity": 0})

    # dynos: formation dynos, a detached one-off, an attached one-off
    tools.wait_until(lambda: any(d["type"] == "web" for d in c.get(f"/apps/{name}/dynos")),
                     60, 0.2, "a web dyno")
    one_off = c.post(f"/apps/{name}/dynos", {"command": "sleep 30", "attach": False})
    c.get(f"/apps/{name}/dynos")
    c.get(f"/apps/{name}/dynos/{one_off['name']}")
    c.post(f"/apps/{name}/dynos/{one_off['name']}/actions/stop")
    c.delete(f"/apps/{name}/dynos/web.1")
    c.delete(f"/apps/{name}/dynos")
    attached = c.post(f"/apps/{name}/dynos",
                      {"command": "echo conformance", "attach": True})
    assert attached["attach_url"].startswith("rendezvous://127.0.0.1:")
    assert b"conformance" in _rendezvous(attached["attach_url"], sandbox.ca_bundle)

    # a slug made through the API, released; releases; rollback
    released = c.deploy_slug(name, tools.WEB_APP, {"web": "python3 -m http.server $PORT "
                                                         "--bind 127.0.0.1"})
    c.get(f"/apps/{name}/releases")
    c.get(f"/apps/{name}/releases", headers={"Range": "version ..; max=2, order=desc"})
    c.get(f"/apps/{name}/releases/{released['id']}")
    c.get(f"/apps/{name}/releases/{released['version']}/config-vars")
    rollback = c.post(f"/apps/{name}/releases", {"release": built["id"]})
    c.wait_release(name, rollback["id"])

    # buildpacks (after the build, so the build used the default)
    c.get(f"/apps/{name}/buildpack-installations")
    c.put(f"/apps/{name}/buildpack-installations",
          {"updates": [{"buildpack": "heroku/python"}]})

    # pipelines, couplings, promotions, filters
    pipeline = c.post("/pipelines", {"name": tools.unique("conf-pipe")})
    c.get("/pipelines")
    c.get(f"/pipelines/{pipeline['id']}")
    prod = c.post("/apps", {"name": target})
    staging = c.post("/pipeline-couplings",
                     {"app": name, "pipeline": pipeline["id"], "stage": "staging"})
    production = c.post("/pipeline-couplings",
                        {"app": prod["id"], "pipeline": pipeline["id"],
                         "stage": "production"})
    c.get("/pipeline-couplings")
    c.get(f"/pipeline-couplings/{staging['id']}")
    c.get(f"/pipelines/{pipeline['id']}/pipeline-couplings")
    c.get(f"/apps/{name}/pipeline-couplings")
    promotion = c.post("/pipeline-promotions", {
        "pipeline": {"id": pipeline["id"]}, "source": {"app": {"id": app["id"]}},
        "targets": [{"app": {"id": prod["id"]}}]})
    tools.wait_until(
        lambda: all(t["status"] != "pending" for t in c.get(
            f"/pipeline-promotions/{promotion['id']}/promotion-targets")),
        60, 0.3, "the promotion")
    c.get(f"/pipeline-promotions/{promotion['id']}")
    c.post("/filters/apps", {"in": {"id": [app["id"], prod["id"]]}},
           accept="application/vnd.heroku+json; version=3.filters")
    c.delete(f"/pipeline-couplings/{production['id']}")
    c.delete(f"/pipelines/{pipeline['id']}")

    # and away
    c.delete(f"/apps/{target}")
    c.delete(f"/apps/{name}")
