"""The sandbox runtime: dynos are real processes behind a real router.

Each test builds a Platform + Store + SandboxTLS in a temporary root (no HTTP
API server), releases a slug made of a tiny Python web app, and checks what
really runs: processes (pids), HTTP answers through the app's router, and
the per-dyno log files. Every process is stopped at teardown, and a test
that leaves one behind fails.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from herotasks_sandbox import schema, testing
from herotasks_sandbox.platform import Platform, PlatformError, new_id
from herotasks_sandbox.runtime import Runtime
from herotasks_sandbox.runtime.processes import kill_leftover, proc_start
from herotasks_sandbox.store import Store
from herotasks_sandbox.tls import SandboxTLS

# A web app that says which release and dyno answered, and shows its env.
APP_PY = r'''
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = open("VERSION").read().strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/secure" and self.headers["X-Forwarded-Proto"] != "https":
            # What an app that insists on https does (Django's SECURE_SSL_REDIRECT).
            self.send_response(301)
            self.send_header("Location", "https://" + self.headers["Host"] + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/env":
            body = dict(os.environ)
        else:
            body = {"version": VERSION, "dyno": os.environ["DYNO"],
                    "headers": dict(self.headers)}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''

WEB = "python3 app.py"
WORKER = ("python3 -c 'import os, time; print(\"working\", os.environ[\"DYNO\"], flush=True);"
          " time.sleep(600)'")


class FakeBuilder:
    """The one builder call the runtime makes: where a slug's files are."""

    def __init__(self, root: Path):
        self.root = root

    def slug_dir(self, slug_id: str) -> Path:
        return self.root / "slugs" / slug_id

    def app_deleted(self, app: dict) -> None:
        pass  # the platform tells the builder too; nothing to clean here


@pytest.fixture
def sbx(tmp_path, monkeypatch):
    # A secret in the sandbox's own environment must never reach a dyno.
    monkeypatch.setenv("HEROKU_API_KEY", "HRKU-must-not-leak")
    store = Store(tmp_path / "state.sqlite3")
    platform = Platform(tmp_path, store, "https://127.0.0.1:9")
    platform.builder = FakeBuilder(tmp_path)
    tls = SandboxTLS(tmp_path)
    TLS["context"] = ssl.create_default_context(cafile=str(tls.ca_path))
    runtime = Runtime(platform, tls, router_wait=5.0,
                      stop_grace=2.0, boot_timeout=20.0, crash_backoff=(0.2,),
                      preboot_switch=1.0)
    platform.runtime = runtime
    pids: set[int] = set()
    ns = SimpleNamespace(root=tmp_path, store=store, platform=platform,
                         runtime=runtime, pids=pids)
    yield ns
    for doc in store.find("dyno"):
        pids.add(doc["_pid"])
    ns.runtime.shutdown()  # the test may have replaced the runtime
    leftovers = [pid for pid in pids if pid and _alive(pid)]
    for pid in leftovers:
        os.killpg(pid, signal.SIGKILL)
    store.close()
    assert not leftovers, f"processes left running: {leftovers}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent reaps it later).
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# These tests poll the in-process runtime closely, and hangs end sooner.
wait_until = functools.partial(testing.wait_until, timeout=20.0, interval=0.05)


def make_slug(sbx, process_types: dict, version: str = "1",
              files: dict | None = None) -> str:
    slug_id = new_id()
    folder = sbx.root / "slugs" / slug_id
    folder.mkdir(parents=True)
    for name, content in {"app.py": APP_PY, "VERSION": version, **(files or {})}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    sbx.platform.put_slug({"id": slug_id, "process_types": process_types,
                           "commit": version * 40, "size": 1})
    return slug_id


def release(sbx, app: dict, slug_id: str) -> dict:
    """Release ``slug_id`` and wait until the runtime has acted on it."""
    r = sbx.platform.create_release(app, slug_id)
    wait_until(lambda: sbx.store.get("release", r["id"])["status"] != "pending",
               what="the release phase")
    assert sbx.runtime.wait_idle(app["id"], 30)
    return sbx.store.get("release", r["id"])


#: the test sandbox's CA (set by ``sbx``): ``web_url`` is https, as Heroku's
TLS: dict[str, ssl.SSLContext] = {}


def get(url: str, timeout: float = 15.0) -> tuple[int, dict, bytes]:
    context = TLS["context"] if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def dynos(sbx, app, type_: str | None = None) -> list[dict]:
    return [d for d in sbx.store.find("dyno", app_id=app["id"])
            if type_ in (None, d["type"])]


def up(sbx, app, type_: str, n: int) -> list[dict]:
    """Wait for exactly ``n`` dynos of ``type_`` on the current release, up."""
    def check():
        current = sbx.platform.current_release(sbx.platform.app(app["id"]))
        ds = dynos(sbx, app, type_)
        ok = len(ds) == n and all(d["state"] == "up" and
                                  d["release"]["id"] == current["id"] for d in ds)
        return ds if ok else None
    ds = wait_until(check, what=f"{n} {type_} dyno(s) up")
    sbx.pids.update(d["_pid"] for d in ds)
    return ds


def log_lines(sbx, app, dyno_name: str) -> list[str]:
    path = sbx.root / "logs" / "apps" / app["name"] / f"{dyno_name}.log"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def app(sbx):
    return sbx.platform.create_app("rt-" + new_id()[:8])


# -- web dynos and the router --------------------------------------------------------------
def test_web_url_answers_https_too_with_herokus_forwarded_headers(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    up(sbx, app, "web", 1)
    https_url = app["web_url"]
    assert https_url.startswith("https://127.0.0.1:")  # as Heroku's: https
    plain_url = https_url.replace("https://", "http://", 1)
    ca = str(sbx.root / "tls" / "ca.pem")
    session = requests.Session()
    session.trust_env = False

    before = int(time.time() * 1000)
    secure = session.get(https_url, verify=ca, timeout=30)
    after = int(time.time() * 1000)
    plain = session.get(plain_url, timeout=30)  # plain http answers too

    assert secure.status_code == 200 and plain.status_code == 200
    port = app["web_url"].rsplit(":", 1)[1].strip("/")
    sent = secure.json()["headers"]
    assert sent["X-Forwarded-Proto"] == "https"
    assert sent["X-Forwarded-Port"] == port
    assert sent["X-Forwarded-For"] == "127.0.0.1"
    assert before <= int(sent["X-Request-Start"]) <= after
    assert plain.json()["headers"]["X-Forwarded-Proto"] == "http"
    # Not the sandbox CA: the handshake fails (the certificate is its own).
    with pytest.raises(requests.exceptions.SSLError):
        session.get(https_url, timeout=30)
    # An app that redirects http to https ends up served over https.
    redirected = session.get(plain_url + "secure", verify=ca, timeout=30)
    assert redirected.status_code == 200
    assert redirected.url == https_url + "secure"
    assert [r.status_code for r in redirected.history] == [301]
    assert redirected.json()["headers"]["X-Forwarded-Proto"] == "https"


def test_web_dyno_is_a_process_behind_the_router(sbx, app):
    assert app["web_url"].startswith("https://127.0.0.1:")
    assert sbx.store.get("app", app["id"])["_router_port"] == int(
        app["web_url"].rsplit(":", 1)[1].strip("/"))
    sbx.platform.update_config_vars(app, {"GREETING": "hello"})
    rel = release(sbx, app, make_slug(sbx, {"web": WEB}))

    status, headers, body = get(app["web_url"])
    assert status == 200
    answer = json.loads(body)
    assert answer["version"] == "1" and answer["dyno"] == "web.1"
    # Heroku's router headers reach the app.
    assert answer["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert answer["headers"]["X-Forwarded-Proto"] == "https"
    assert answer["headers"]["X-Request-Id"]
    assert "Via" in headers

    [web] = up(sbx, app, "web", 1)
    assert _alive(web["_pid"])
    assert web["release"] == {"id": rel["id"], "version": rel["version"]}
    assert web["command"] == WEB and web["size"] == "Standard-1X"
    env = json.loads(get(app["web_url"] + "env")[2])
    assert env["GREETING"] == "hello"
    assert env["PORT"] == str(web["_port"]) and env["DYNO"] == "web.1"
    # the stack's directories only (no .profile.d in this slug): nothing of
    # the sandbox's own virtualenv
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["HOME"] == str(sbx.root / "slugs" / rel["slug"]["id"])
    assert "HEROKU_API_KEY" not in env
    lines = log_lines(sbx, app, "web.1")
    assert any("heroku[web.1]: Starting process with command `python3 app.py`" in x
               for x in lines)
    assert any("heroku[web.1]: State changed from starting to up" in x for x in lines)


def test_runtime_dyno_metadata_feature_adds_heroku_vars(sbx, app):
    sbx.platform.set_feature(app, "runtime-dyno-metadata", True)
    rel = release(sbx, app, make_slug(sbx, {"web": WEB}, version="7"))
    web, = up(sbx, app, "web", 1)
    env = json.loads(get(app["web_url"] + "env")[2])
    assert env["HEROKU_APP_NAME"] == app["name"] and env["HEROKU_APP_ID"] == app["id"]
    assert env["HEROKU_DYNO_ID"] == web["id"]
    assert env["HEROKU_RELEASE_VERSION"] == f"v{rel['version']}"
    assert env["HEROKU_SLUG_COMMIT"] == "7" * 40


def test_dyno_documents_match_the_official_schema(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": WORKER}))
    sbx.platform.scale(app, [{"type": "worker", "quantity": 1}])
    web, = up(sbx, app, "web", 1)
    up(sbx, app, "worker", 1)
    info = schema.validator("dyno", "Info", "targetSchema")
    listed = sbx.runtime.list_dynos(app)
    assert sorted(d["name"] for d in listed) == ["web.1", "worker.1"]
    for d in listed:
        assert not list(info.iter_errors(d)), d
        assert not any(k.startswith("_") for k in d)
    assert set(listed[0]) == set(
        schema.schema()["definitions"]["dyno"]["properties"])
    assert sbx.runtime.dyno(app, "web.1")["id"] == web["id"]
    assert sbx.runtime.dyno(app, web["id"])["name"] == "web.1"
    with pytest.raises(PlatformError) as err:
        sbx.runtime.dyno(app, "web.9")
    assert (err.value.status, err.value.id) == (404, "not_found")


def test_scaling_starts_and_stops_processes(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": WORKER}))
    up(sbx, app, "web", 1)
    assert dynos(sbx, app, "worker") == []  # Heroku: new types start at 0

    sbx.platform.scale(app, [{"type": "web", "quantity": 2},
                             {"type": "worker", "quantity": "+2"}])
    webs = up(sbx, app, "web", 2)
    workers = up(sbx, app, "worker", 2)
    assert len({d["_pid"] for d in webs + workers}) == 4
    assert all(_alive(d["_pid"]) for d in webs + workers)
    # Round robin: both web dynos answer.
    seen = {json.loads(get(app["web_url"])[2])["dyno"] for _ in range(6)}
    assert seen == {"web.1", "web.2"}
    wait_until(lambda: any("app[worker.2]: working worker.2" in x
                           for x in log_lines(sbx, app, "worker.2")),
               what="the worker's output in its log")

    sbx.platform.scale(app, [{"type": "web", "quantity": 1},
                             {"type": "worker", "quantity": 0}])
    [web] = up(sbx, app, "web", 1)
    assert web["name"] == "web.1"  # the highest numbers go first
    wait_until(lambda: not dynos(sbx, app, "worker"), what="workers gone")
    gone = [d["_pid"] for d in webs + workers if d["name"] != "web.1"]
    wait_until(lambda: not any(_alive(p) for p in gone), what="processes gone")
    assert any("State changed from up to down" in x
               for x in log_lines(sbx, app, "worker.1"))


def test_crashed_dyno_is_restarted(sbx, app):
    crash = "python3 -c 'import sys; print(\"boom\", flush=True); sys.exit(3)'"
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": crash}))
    sbx.platform.scale(app, [{"type": "worker", "quantity": 1}])

    def restarted():
        lines = log_lines(sbx, app, "worker.1")
        return sum("Starting process" in x for x in lines) >= 2 and lines
    lines = wait_until(restarted, what="a restart after the crash")
    assert any("Process exited with status 3" in x for x in lines)
    assert any("State changed from up to crashed" in x for x in lines)
    assert any("State changed from crashed to starting" in x for x in lines)
    assert any("app[worker.1]: boom" in x for x in lines)


def test_web_dyno_that_never_listens_is_killed_R10(sbx, app):
    sbx.runtime.boot_timeout = 0.5
    release(sbx, app, make_slug(sbx, {"web": "sleep 600"}))
    lines = wait_until(lambda: [x for x in log_lines(sbx, app, "web.1")
                                if "Error R10 (Boot timeout)" in x],
                       what="R10 in the log")
    assert lines
    wait_until(lambda: any("State changed from starting to crashed" in x
                           for x in log_lines(sbx, app, "web.1")),
               what="the dyno marked crashed")


def test_maintenance_mode_answers_the_maintenance_page(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    assert get(app["web_url"])[0] == 200
    sbx.platform.update_app(app, maintenance=True)
    status, headers, body = get(app["web_url"])
    assert status == 503
    assert headers["X-Herotasks-Sandbox"] == "maintenance"
    assert b"herotasks-sandbox-maintenance" in body
    assert headers["Content-Type"].startswith("text/html")
    sbx.platform.update_app(app, maintenance=False)
    assert get(app["web_url"])[0] == 200


def test_no_web_dyno_answers_503(sbx, app):
    # A fresh app has no web dyno at all: answered at once.
    status, headers, _ = get(app["web_url"])
    assert (status, headers["X-Herotasks-Sandbox"]) == (503, "no-web-dynos")
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    up(sbx, app, "web", 1)
    sbx.platform.scale(app, [{"type": "web", "quantity": 0}])
    wait_until(lambda: not dynos(sbx, app, "web"), what="web stopped")
    status, headers, _ = get(app["web_url"])
    assert (status, headers["X-Herotasks-Sandbox"]) == (503, "no-web-dynos")


def test_request_waits_for_a_booting_web_dyno(sbx, app):
    sbx.platform.set_delay("boot", 1.0)
    sbx.platform.create_release(app, make_slug(sbx, {"web": WEB}))
    # Asked while the dyno is still booting: the router holds the request.
    status, _, body = get(app["web_url"])
    assert status == 200 and json.loads(body)["dyno"] == "web.1"


def test_request_waiting_too_long_gets_503(sbx, app):
    sbx.runtime.router_wait = 0.3
    sbx.runtime.router(app["id"]).wait = 0.3
    sbx.platform.set_delay("boot", 30.0)
    sbx.platform.create_release(app, make_slug(sbx, {"web": WEB}))
    assert sbx.runtime.wait_idle(app["id"], 10)
    status, headers, _ = get(app["web_url"])
    assert (status, headers["X-Herotasks-Sandbox"]) == (503, "no-web-dynos")


def test_a_dyno_that_drops_connections_is_a_dyno_error(sbx, app):
    rude = ("python3 -c 'import os, socket; s = socket.create_server((\"127.0.0.1\", "
            "int(os.environ[\"PORT\"])))\nwhile True: c, _ = s.accept(); "
            "c.recv(65536); c.close()'")
    release(sbx, app, make_slug(sbx, {"web": rude}))
    up(sbx, app, "web", 1)
    status, headers, _ = get(app["web_url"])
    assert (status, headers["X-Herotasks-Sandbox"]) == (503, "dyno-error")


# -- deploys ---------------------------------------------------------------------------------
class Load:
    """Requests in a loop on another thread; records every answer."""

    def __init__(self, url: str):
        self.url = url
        self.results: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            status, _, body = get(self.url, timeout=30)
            version = json.loads(body)["version"] if status == 200 else body[:80]
            self.results.append((status, version))
            time.sleep(0.005)

    def stop(self) -> list[tuple[int, str]]:
        self._stop.set()
        self._thread.join(60)
        return self.results


def test_preboot_deploy_loses_no_request(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": WORKER}, version="1"))
    sbx.platform.scale(app, [{"type": "web", "quantity": 2},
                             {"type": "worker", "quantity": 1}])
    old = up(sbx, app, "web", 2)
    old_worker, = up(sbx, app, "worker", 1)
    sbx.platform.set_feature(app, "preboot", True)
    sbx.platform.set_delay("boot", 0.5)  # a visible overlap
    load = Load(app["web_url"])
    wait_until(lambda: len(load.results) > 5, what="traffic before the deploy")
    rel = release(sbx, app, make_slug(sbx, {"web": WEB, "worker": WORKER}, version="2"))
    new = up(sbx, app, "web", 2)
    wait_until(lambda: load.results[-1:] and load.results[-1][1] == "2",
               what="traffic on the new release")
    n = len(load.results)
    wait_until(lambda: len(load.results) > n + 5, what="traffic after the deploy")
    results = load.stop()

    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:5]
    versions = [v for _, v in results]
    assert versions[0] == "1" and versions[-1] == "2"
    assert {d["id"] for d in old}.isdisjoint(d["id"] for d in new)
    wait_until(lambda: not any(_alive(d["_pid"]) for d in old), what="old web gone")
    # The new web.1 started before the old web.1 went down.
    lines = log_lines(sbx, app, "web.1")
    starts = [i for i, x in enumerate(lines) if "Starting process" in x]
    downs = [i for i, x in enumerate(lines) if "State changed from up to down" in x]
    assert len(starts) == 2 and downs and starts[1] < downs[0]
    # The worker moved to the new release.
    worker, = up(sbx, app, "worker", 1)
    assert worker["release"]["id"] == rel["id"] and worker["id"] != old_worker["id"]
    assert not _alive(old_worker["_pid"])


def test_preboot_switches_late_and_lists_only_the_new_dynos(sbx, app):
    """Heroku's preboot: the new web dynos boot while the old ones serve,
    and only the new ones are listed; traffic moves minutes after the
    release (scaled down here), even though the new ones were up long before."""
    release(sbx, app, make_slug(sbx, {"web": WEB}, version="1"))
    old, = up(sbx, app, "web", 1)
    sbx.platform.set_feature(app, "preboot", True)
    sbx.runtime.preboot_switch = 6.0
    r = sbx.platform.create_release(app, make_slug(sbx, {"web": WEB}, version="2"))

    def listed_up():  # what GET /apps/{app}/dynos shows: the new dyno only
        listed = sbx.runtime.list_dynos(app)
        ok = [d["release"]["id"] for d in listed if d["state"] == "up"] == [r["id"]]
        return listed if ok and len(listed) == 1 else None

    new, = wait_until(listed_up, what="the new web dyno listed, up")
    assert new["id"] != old["id"]
    # up, listed, and still not taking traffic: the old code answers
    assert json.loads(get(app["web_url"])[2])["version"] == "1"
    assert _alive(old["_pid"])
    wait_until(lambda: json.loads(get(app["web_url"])[2])["version"] == "2",
               what="the switch")
    wait_until(lambda: not _alive(old["_pid"]), what="the old web dyno gone")
    assert sbx.runtime.wait_idle(app["id"], 30)
    assert [d["id"] for d in sbx.runtime.list_dynos(app)] == [new["id"]]


def test_deploy_without_preboot_stops_old_web_before_new_starts(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}, version="1"))
    old, = up(sbx, app, "web", 1)
    rel = release(sbx, app, make_slug(sbx, {"web": WEB}, version="2"))
    new, = up(sbx, app, "web", 1)
    assert new["release"]["version"] == rel["version"] and new["id"] != old["id"]
    assert not _alive(old["_pid"])
    assert json.loads(get(app["web_url"])[2])["version"] == "2"
    lines = log_lines(sbx, app, "web.1")
    starts = [i for i, x in enumerate(lines) if "Starting process" in x]
    sigterm = [i for i, x in enumerate(lines) if "Stopping all processes with SIGTERM" in x]
    downs = [i for i, x in enumerate(lines) if "State changed from up to down" in x]
    assert len(starts) == 2 and sigterm and downs
    # down (still listed) as the stop begins, as in Heroku's deploy logs
    assert starts[0] < downs[0] < sigterm[0] < starts[1]


def test_config_change_restarts_dynos_with_the_new_vars(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    old, = up(sbx, app, "web", 1)
    sbx.platform.update_config_vars(app, {"COLOR": "blue"})
    assert sbx.runtime.wait_idle(app["id"], 30)
    new, = up(sbx, app, "web", 1)
    assert new["id"] != old["id"]
    assert json.loads(get(app["web_url"] + "env")[2])["COLOR"] == "blue"


# -- release phase -----------------------------------------------------------------------------
def test_release_phase_success_makes_the_release_current(sbx, app):
    sbx.platform.update_config_vars(app, {"STAGE": "prod"})
    slug = make_slug(sbx, {"web": WEB, "release": "echo migrating $STAGE on $DYNO"})
    rel = release(sbx, app, slug)
    assert rel["status"] == "succeeded" and rel["current"]
    log = sbx.platform.release_log_path(rel["id"]).read_text()
    assert "migrating prod on release." in log
    up(sbx, app, "web", 1)
    assert not dynos(sbx, app, "release")  # the release dyno is gone


def test_release_phase_failure_changes_nothing_else(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}, version="1"))
    before, = up(sbx, app, "web", 1)
    current = sbx.platform.current_release(app)
    bad = make_slug(sbx, {"web": WEB, "release": "echo 'cannot migrate' >&2; exit 3"},
                    version="2")
    rel = release(sbx, app, bad)
    assert rel["status"] == "failed" and not rel["current"]
    assert "cannot migrate" in sbx.platform.release_log_path(rel["id"]).read_text()
    assert sbx.platform.current_release(app)["id"] == current["id"]
    after, = up(sbx, app, "web", 1)
    assert after["id"] == before["id"] and _alive(before["_pid"])
    assert json.loads(get(app["web_url"])[2])["version"] == "1"


# -- one-off dynos, restart, stop -----------------------------------------------------------------
def test_detached_one_off_runs_and_is_gone_after(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    doc = sbx.runtime.create_one_off(app, {"command": "echo one-off $DYNO $EXTRA",
                                           "env": {"EXTRA": "x1"}})
    assert doc["type"] == "run" and doc["name"].startswith("run.")
    assert doc["attach_url"] is None
    assert not list(schema.validator("dyno", "Info", "targetSchema").iter_errors(doc))
    wait_until(lambda: not dynos(sbx, app, "run"), what="the one-off finished")
    lines = log_lines(sbx, app, doc["name"])
    assert any(f"app[{doc['name']}]: one-off {doc['name']} x1" in x for x in lines)
    assert any("Process exited with status 0" in x for x in lines)
    assert any("State changed from up to complete" in x for x in lines)


def test_one_off_naming_a_process_type_runs_its_command(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB, "hello": "echo hello-from-type"}))
    doc = sbx.runtime.create_one_off(app, {"command": "hello"})
    wait_until(lambda: any("hello-from-type" in x
                           for x in log_lines(sbx, app, doc["name"])),
               what="the process type's command output")


def test_one_off_rejects_bad_size_and_ttl(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    for body in ({"command": "true", "size": "Huge-9X"},
                 {"command": "true", "time_to_live": 0}):
        with pytest.raises(PlatformError) as err:
            sbx.runtime.create_one_off(app, body)
        assert err.value.status == 422


def test_restart_and_stop_replace_processes(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": WORKER}))
    sbx.platform.scale(app, [{"type": "worker", "quantity": 1}])
    web, = up(sbx, app, "web", 1)
    worker, = up(sbx, app, "worker", 1)

    sbx.runtime.restart(app, "web.1")
    assert sbx.runtime.wait_idle(app["id"], 30)
    web2, = up(sbx, app, "web", 1)
    assert web2["_pid"] != web["_pid"] and not _alive(web["_pid"])

    sbx.runtime.stop_dyno(app, "worker.1")  # a formation dyno comes back
    assert sbx.runtime.wait_idle(app["id"], 30)
    worker2, = up(sbx, app, "worker", 1)
    assert worker2["_pid"] != worker["_pid"] and not _alive(worker["_pid"])

    sbx.runtime.restart(app, None)
    assert sbx.runtime.wait_idle(app["id"], 30)
    web3, = up(sbx, app, "web", 1)
    worker3, = up(sbx, app, "worker", 1)
    assert web3["_pid"] != web2["_pid"] and worker3["_pid"] != worker2["_pid"]

    with pytest.raises(PlatformError) as err:
        sbx.runtime.stop_dyno(app, "web.7")
    assert err.value.status == 404


def test_stopping_a_detached_one_off_ends_it(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    doc = sbx.runtime.create_one_off(app, {"command": "sleep 600"})
    wait_until(lambda: [d for d in dynos(sbx, app, "run") if d["state"] == "up"],
               what="the one-off up")
    pid = dynos(sbx, app, "run")[0]["_pid"]
    sbx.pids.add(pid)
    sbx.runtime.stop_dyno(app, doc["name"])
    assert sbx.runtime.wait_idle(app["id"], 30)
    assert not dynos(sbx, app, "run") and not _alive(pid)


# -- lifecycle -----------------------------------------------------------------------------------
def test_scaled_down_worker_is_listed_down_until_its_process_exits(sbx, app):
    """Heroku answers a scale to 0 at once, then SIGTERM and a grace period:
    a worker finishing its job is still there, ``down``, until it exits."""
    slow = ("trap 'echo finishing; sleep 1.5; exit 0' TERM; "
            "while :; do sleep 0.1; done")
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": slow}))
    sbx.platform.scale(app, [{"type": "worker", "quantity": 1}])
    worker, = up(sbx, app, "worker", 1)
    sbx.runtime.stop_grace = 10.0
    sbx.platform.scale(app, [{"type": "worker", "quantity": 0}])
    stopping = wait_until(lambda: [d for d in dynos(sbx, app, "worker")
                                   if d["state"] == "down"], what="worker down")
    assert stopping[0]["id"] == worker["id"]
    assert _alive(worker["_pid"])  # still finishing: listed, not gone
    wait_until(lambda: not dynos(sbx, app, "worker"), what="worker gone")
    assert not _alive(worker["_pid"])
    lines = log_lines(sbx, app, "worker.1")
    assert any("State changed from up to down" in x for x in lines)
    assert any("Process exited with status 0" in x for x in lines)
    assert not any("R12" in x for x in lines)  # it exited within the grace


CRASH = "python3 -c 'import sys; print(\"boom\", flush=True); sys.exit(3)'"


def test_crash_restart_policy_restarts_at_once_then_cools_off(sbx, app):
    """Heroku's Common Runtime policy: the first crash restarts the dyno at
    once, the next one waits a cool-off (up to 20 minutes, then 40, 60, 180,
    320), scaled here by the runtime's ``crash_cooloff``; a restart of the
    app starts the count again."""
    sbx.runtime.crash_cooloff = 600.0  # Heroku's 20 min, scaled: never over here
    assert sbx.runtime.timings.crash_backoff == (0.0, 600.0, 1200.0, 1800.0,
                                                 5400.0, 9600.0)
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": CRASH}))
    sbx.platform.scale(app, [{"type": "worker", "quantity": 1}])

    def starts() -> int:
        return sum("Starting process" in x for x in log_lines(sbx, app, "worker.1"))

    def cooling_off():
        [worker] = dynos(sbx, app, "worker") or [None]
        exits = sum("Process exited with status 3" in x
                    for x in log_lines(sbx, app, "worker.1"))
        return worker if worker and worker["state"] == "crashed" and exits == 2 \
            else None
    worker = wait_until(cooling_off, what="the second crash")
    # Restarted once right away, then left crashed for the cool-off.
    assert starts() == 2
    listed = [d for d in sbx.runtime.list_dynos(app) if d["name"] == "worker.1"]
    assert [d["state"] for d in listed] == ["crashed"]
    info = schema.validator("dyno", "Info", "targetSchema")
    assert not list(info.iter_errors(listed[0]))
    lines = log_lines(sbx, app, "worker.1")
    assert sum("State changed from up to crashed" in x for x in lines) == 2
    assert sum("State changed from crashed to starting" in x for x in lines) == 1

    # heroku ps:restart: a new dyno, and the policy's count starts again.
    sbx.runtime.restart(app, "worker")
    wait_until(lambda: starts() >= 3, what="the restarted worker's start")
    wait_until(lambda: starts() >= 4, what="its first crash restarted at once")
    sbx.pids.add(worker["_pid"])


def test_dyno_states_in_the_api_starting_up_crashed_down(sbx, app, tmp_path):
    """``state`` as the schema lists it, through one dyno life each: a web
    dyno ``starting`` until it listens, then ``up``; a crashing one
    ``crashed`` in its cool-off; a stopping one ``down`` until it is gone,
    and one that ignores SIGTERM is killed after the grace with R12."""
    go = tmp_path / "go"
    web = f"while [ ! -e {go} ]; do sleep 0.05; done; exec {WEB}"
    stubborn = "trap '' TERM; while :; do sleep 0.1; done"
    sbx.runtime.crash_cooloff = 600.0
    release(sbx, app, make_slug(sbx, {"web": web, "clock": CRASH, "worker": stubborn}))
    info = schema.validator("dyno", "Info", "targetSchema")

    def state(name: str) -> str | None:
        for d in sbx.runtime.list_dynos(app):
            assert not list(info.iter_errors(d)), d
            if d["name"] == name:
                return d["state"]
        return None

    wait_until(lambda: state("web.1") == "starting", what="web.1 starting")
    go.touch()
    wait_until(lambda: state("web.1") == "up", what="web.1 up")
    assert json.loads(get(app["web_url"])[2])["dyno"] == "web.1"

    sbx.platform.scale(app, [{"type": "clock", "quantity": 1},
                             {"type": "worker", "quantity": 1}])
    wait_until(lambda: state("clock.1") == "crashed" and sum(
        "Process exited" in x for x in log_lines(sbx, app, "clock.1")) == 2,
        what="clock.1 crashed, cooling off")
    worker, = up(sbx, app, "worker", 1)

    sbx.runtime.stop_grace = 1.0
    sbx.platform.scale(app, [{"type": "worker", "quantity": 0}])
    wait_until(lambda: state("worker.1") == "down", what="worker.1 down")
    wait_until(lambda: state("worker.1") is None, what="worker.1 gone")
    assert not _alive(worker["_pid"])
    lines = log_lines(sbx, app, "worker.1")
    order = [next(i for i, x in enumerate(lines) if text in x) for text in (
        "State changed from up to down", "Stopping all processes with SIGTERM",
        "Error R12 (Exit timeout) -> At least one process failed to exit within 1 "
        "seconds of SIGTERM", "Stopping remaining processes with SIGKILL")]
    assert order == sorted(order)


def test_shutdown_stops_every_process_even_stubborn_ones(sbx, app):
    stubborn = "trap '' TERM; sleep 600 & sleep 600 & wait"
    release(sbx, app, make_slug(sbx, {"web": WEB, "worker": stubborn}))
    sbx.platform.scale(app, [{"type": "worker", "quantity": 1}])
    web, = up(sbx, app, "web", 1)
    worker, = up(sbx, app, "worker", 1)
    children = wait_until(lambda: _children(worker["_pid"]), what="worker's children")
    sbx.runtime.stop_grace = 0.5
    sbx.runtime.shutdown()
    for pid in [web["_pid"], worker["_pid"], *children]:
        assert not _alive(pid), pid
    assert sbx.store.find("dyno") == []
    assert any("Error R12 (Exit timeout)" in x for x in log_lines(sbx, app, "worker.1"))


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if int(p) != pid]


def test_app_deletion_stops_its_processes_and_router(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    web, = up(sbx, app, "web", 1)
    sbx.platform.delete_app(app)
    assert not _alive(web["_pid"])
    with pytest.raises(OSError):
        urllib.request.urlopen(app["web_url"], timeout=5)


def test_start_forgets_stale_dynos_and_restores_routers(sbx, app):
    release(sbx, app, make_slug(sbx, {"web": WEB}))
    up(sbx, app, "web", 1)
    port = sbx.store.get("app", app["id"])["_router_port"]
    sbx.runtime.shutdown()
    # What a killed sandbox leaves: a dyno document and its process.
    leftover = subprocess.Popen(["sleep", "600"], start_new_session=True)
    sbx.pids.add(leftover.pid)
    sbx.store.put("dyno", {"id": new_id(), "name": "web.1", "_pid": leftover.pid,
                           "_pstart": proc_start(leftover.pid)}, app_id=app["id"])
    runtime = Runtime(sbx.platform, sbx.runtime.tls, router_wait=5.0, stop_grace=2.0)
    sbx.platform.runtime = sbx.runtime = runtime
    runtime.start()
    assert leftover.wait(10) == -signal.SIGKILL
    assert runtime.router(app["id"]).port == port
    web, = up(sbx, app, "web", 1)
    assert get(app["web_url"])[0] == 200
    assert all(d["id"] == web["id"] for d in dynos(sbx, app))


def test_leftover_check_never_kills_a_reused_pid():
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        kill_leftover({"_pid": proc.pid, "_pstart": "1"})  # another start time
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


# -- isolation: a fresh copy of the slug per run, loopback only ------------------------------------
# A web app that binds where $BIND says (as Heroku apps bind 0.0.0.0 or [::]),
# writes and reads files in its app directory, and fetches URLs.
ISO_PY = r'''
import os, socket, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/write":
            open(q["name"], "w").write(os.environ["DYNO"])
            body = "written"
        elif url.path == "/read":
            body = open(q["name"]).read() if os.path.exists(q["name"]) else "absent"
        elif url.path == "/fetch":
            try:
                body = urllib.request.urlopen(q["url"], timeout=5).read().decode()
            except OSError as exc:
                body = "unreachable: " + type(exc).__name__
        else:
            body = os.environ["DYNO"]
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in os.environ["BIND"] else socket.AF_INET


Server((os.environ["BIND"], int(os.environ["PORT"])), Handler).serve_forever()
'''
ISO_WEB = "python3 iso.py"


@pytest.fixture(params=["namespaces", "fallback"])
def isolation(request, sbx):
    """Both ways the sandbox isolates dynos: namespaces where the machine
    allows them (root here), and the unprivileged fallback (a copy of the
    slug, the loopback sitecustomize and the listening check)."""
    processes = sbx.runtime.processes
    if request.param == "namespaces":
        if not (processes.netns and processes.copies.overlay):
            pytest.skip("this machine allows no network/mount namespaces")
    else:
        processes.netns = False
        processes.copies.overlay = False
    return request.param


def tree_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its mode and content."""
    return {str(p.relative_to(folder)): (p.lstat().st_mode, p.read_bytes()
                                         if p.is_file() else b"")
            for p in sorted(folder.rglob("*"))}


def test_every_run_starts_from_a_fresh_copy_of_the_slug(sbx, app, isolation):
    slug = make_slug(sbx, {"web": ISO_WEB,
                           "release": "echo collected > static.txt && echo release-wrote"},
                     files={"iso.py": ISO_PY})
    sbx.platform.update_config_vars(app, {"BIND": "0.0.0.0"})
    on_disk = sbx.root / "slugs" / slug
    before = tree_state(on_disk)
    rel = release(sbx, app, slug)
    assert "release-wrote" in sbx.platform.release_log_path(rel["id"]).read_text()
    web, = up(sbx, app, "web", 1)
    # What the release phase wrote reached no dyno.
    assert get(app["web_url"] + "read?name=static.txt")[2] == b"absent"
    # A dyno's writes stay in its own copy for as long as it runs...
    assert get(app["web_url"] + "write?name=scratch.sqlite3")[2] == b"written"
    assert get(app["web_url"] + "read?name=scratch.sqlite3")[2] == b"web.1"
    # ... which no one-off sees,
    doc = sbx.runtime.create_one_off(app, {
        "command": "test -e scratch.sqlite3 && echo seen-it || echo not-there; "
                   "echo one-off-wrote > scratch.sqlite3"})
    wait_until(lambda: not dynos(sbx, app, "run"), what="the one-off finished")
    assert any("not-there" in x for x in log_lines(sbx, app, doc["name"]))
    assert get(app["web_url"] + "read?name=scratch.sqlite3")[2] == b"web.1"
    # ... nor the dyno's next run (a restart),
    sbx.runtime.restart(app, None)
    assert sbx.runtime.wait_idle(app["id"], 30)
    restarted, = up(sbx, app, "web", 1)
    assert restarted["id"] != web["id"]
    assert get(app["web_url"] + "read?name=scratch.sqlite3")[2] == b"absent"
    get(app["web_url"] + "write?name=scratch.sqlite3")
    # ... nor a later release of the same slug.
    release(sbx, app, slug)
    up(sbx, app, "web", 1)
    assert get(app["web_url"] + "read?name=scratch.sqlite3")[2] == b"absent"
    # The slug on disk is as the build left it, and the copies of the runs
    # that ended are gone.
    assert tree_state(on_disk) == before
    live = {d["id"] for d in dynos(sbx, app)}
    copies = sbx.root / "dynos"
    assert all(p.name.split(".")[0] in live for p in copies.iterdir())
    sbx.runtime.shutdown()
    assert not list(copies.iterdir())
    assert tree_state(on_disk) == before


def test_every_run_has_a_tmp_of_its_own_gone_when_it_ends(sbx, app, isolation):
    """A Heroku dyno's whole filesystem is its own and ephemeral, temporary
    files too: what a run writes with ``mktemp`` no other run sees, and
    nothing of it stays on the machine (a health precheck's log, say)."""
    release(sbx, app, make_slug(sbx, {}))
    first = sbx.runtime.create_one_off(app, {
        "command": "f=$(mktemp); echo one > $f; echo made=$f"})
    wait_until(lambda: not dynos(sbx, app, "run"), what="the first one-off finished")
    said = "\n".join(log_lines(sbx, app, first["name"]))
    made = Path(re.search(r"made=(/\S+)", said).group(1))
    assert made.parent != Path("/tmp"), said  # not the machine's
    second = sbx.runtime.create_one_off(app, {
        "command": f"test -e {made} && echo seen-made || echo no-made"})
    wait_until(lambda: not dynos(sbx, app, "run"), what="the second one-off finished")
    assert any("no-made" in x for x in log_lines(sbx, app, second["name"]))
    assert not made.exists() and not made.parent.exists()


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def _listening(net: Path) -> dict[str, str]:
    """LISTEN sockets of /proc/.../net/tcp{,6}: inode -> local address (hex)."""
    found = {}
    for table in ("tcp", "tcp6"):
        for line in (net / table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A":
                found[f[9]] = f[1].split(":")[0]
    return found


def _is_loopback(hexaddr: str) -> bool:
    """127.0.0.0/8, ::1 or ::ffff:127.x.y.z, as /proc/net/tcp{,6} writes them."""
    if len(hexaddr) == 8:
        return hexaddr.endswith("7F")
    return hexaddr == "00000000000000000000000001000000" or (
        hexaddr.startswith("0000000000000000FFFF0000") and hexaddr.endswith("7F"))


def _session(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == sid:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize("bind", ["0.0.0.0", "::"])
def test_a_dyno_binding_a_wildcard_address_listens_on_loopback_only(sbx, app, isolation,
                                                                    bind):
    sbx.platform.update_config_vars(app, {"BIND": bind})
    slug = make_slug(sbx, {"web": ISO_WEB, "worker": ISO_WEB}, files={"iso.py": ISO_PY})
    release(sbx, app, slug)
    sbx.platform.scale(app, [{"type": "worker", "quantity": 1}])
    assert sbx.runtime.wait_idle(app["id"], 30)
    web, = up(sbx, app, "web", 1)
    worker, = up(sbx, app, "worker", 1)
    # The app runs unchanged and is reached through its router.
    assert get(app["web_url"])[2] == b"web.1"
    host_net = os.readlink("/proc/self/ns/net")
    wildcard = "00000000" if bind == "0.0.0.0" else "0" * 32
    for d in (web, worker):
        wait_until(lambda sid=d["_pid"]: any(
            _listening(Path(f"/proc/{p}/net")).keys() & _socket_inodes(p)
            for p in _session(sid)), what=f"{d['name']} listening")
        for pid in _session(d["_pid"]):
            mine = _socket_inodes(pid)
            listening = {i: a for i, a in _listening(Path(f"/proc/{pid}/net")).items()
                         if i in mine}
            if os.readlink(f"/proc/{pid}/ns/net") == host_net:
                # The fallback: bound on loopback, not where the app asked.
                assert isolation == "fallback"
                assert all(_is_loopback(a) for a in listening.values()), listening
            else:
                # Its own network namespace: the wildcard it bound, on an
                # interface list with nothing but lo.
                assert isolation == "namespaces"
                assert set(listening.values()) == {wildcard}
                interfaces = [line.split(":")[0].strip() for line in Path(
                    f"/proc/{pid}/net/dev").read_text().splitlines()[2:]]
                assert interfaces == ["lo"]
    # Nothing of any dyno listens beyond loopback in the sandbox's namespace.
    ours = set().union(*(_socket_inodes(p) for d in (web, worker)
                         for p in _session(d["_pid"])))
    wide = {i: a for i, a in _listening(Path("/proc/net")).items()
            if not _is_loopback(a)}
    assert not ours & wide.keys()


def test_fallback_keeps_the_buildpacks_pythonpath_default(sbx, app):
    # heroku/python's .profile.d/python.sh defaults PYTHONPATH to $HOME; the
    # fallback's sitecustomize must not take that default's place.
    from herotasks_sandbox.runtime.isolation import LOOPBACK_SITE
    sbx.runtime.processes.netns = False
    sbx.runtime.processes.copies.overlay = False
    release(sbx, app, make_slug(sbx, {"web": WEB}, files={
        ".profile.d/python.sh": "export PYTHONPATH=${PYTHONPATH:-$HOME}\n"}))
    doc = sbx.runtime.create_one_off(app, {"command": "echo PP=$PYTHONPATH HOME=$HOME"})
    wait_until(lambda: not dynos(sbx, app, "run"), what="the one-off finished")
    line, = [x for x in log_lines(sbx, app, doc["name"]) if f"app[{doc['name']}]: PP=" in x]
    pythonpath, home = line.split("PP=")[1].split(" HOME=")
    assert pythonpath == f"{LOOPBACK_SITE}:{home}"


BIND_PROBE = ("import socket, sys; s = socket.socket(); s.bind(('0.0.0.0', 0)); "
              "print(s.getsockname()[0], getattr(sys.modules.get('sitecustomize'), "
              "'MARK', None))")


@pytest.mark.parametrize("own", [False, True], ids=["none-of-its-own", "the-apps-own"])
def test_the_fallbacks_sitecustomize_runs_clean_and_hands_over(tmp_path, own):
    """The fallback's sitecustomize makes the wildcard bind a loopback one and
    then runs the app's own sitecustomize, when there is one, as the one
    Python knows; it says nothing on the way (a Python without a
    sitecustomize of its own, as Heroku's, said "Error in sitecustomize" at
    every start)."""
    from herotasks_sandbox.runtime.isolation import LOOPBACK_SITE
    if own:
        (tmp_path / "sitecustomize.py").write_text("MARK = 'apps-own'\n")
    done = subprocess.run(
        [sys.executable, "-c", BIND_PROBE], cwd=tmp_path, capture_output=True,
        text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": f"{LOOPBACK_SITE}{os.pathsep}{tmp_path}"})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    host, mark = done.stdout.split()
    assert host == "127.0.0.1"
    assert mark == ("apps-own" if own else "None")


# Run in a network namespace of its own (only lo), so that the dyno which
# does listen on 0.0.0.0 there is reachable from nowhere even so.
FALLBACK_SCENARIO = r'''
import sys, time
from pathlib import Path
from herotasks_sandbox.platform import Platform, new_id
from herotasks_sandbox.runtime import Runtime, isolation
from herotasks_sandbox.store import Store
from herotasks_sandbox.tls import SandboxTLS

isolation._lo_up()
root = Path(sys.argv[1])
store = Store(root / "state.sqlite3")
platform = Platform(root, store, "https://127.0.0.1:9")


class Builder:
    def slug_dir(self, slug_id):
        return root / "slugs" / slug_id


platform.builder = Builder()
runtime = Runtime(platform, SandboxTLS(root), stop_grace=1.0, crash_backoff=(30.0,))
runtime.processes.netns = False
runtime.processes.copies.overlay = False
platform.runtime = runtime
app = platform.create_app("fb-" + new_id()[:8])
platform.update_config_vars(app, {"BIND": "0.0.0.0"})
slug_id = new_id()
(root / "slugs" / slug_id).mkdir(parents=True)
(root / "slugs" / slug_id / "iso.py").write_text(sys.stdin.read())
platform.put_slug({"id": slug_id, "process_types": {"web": "python3 -I iso.py"}})
platform.create_release(app, slug_id)
log = root / "logs" / "apps" / app["name"] / "web.1.log"
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    text = log.read_text() if log.exists() else ""
    if "State changed from up to crashed" in text:
        break
    time.sleep(0.1)
doc, = store.find("dyno")
print("PORT", doc["_port"])
print(log.read_text())
runtime.shutdown()
'''


def test_fallback_stops_a_dyno_that_listens_beyond_loopback_anyway(tmp_path):
    # python -I ignores PYTHONPATH, so the loopback sitecustomize never runs:
    # what a non-Python server would do. The listening check stops it.
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode:
        pytest.skip("this machine allows no network namespace for the test")
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", FALLBACK_SCENARIO, str(tmp_path)],
        input=ISO_PY, capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    port = done.stdout.split()[1]
    lines = done.stdout.splitlines()
    assert any(f"listens on 0.0.0.0:{port}, beyond loopback" in x for x in lines), lines
    assert any("State changed from up to crashed" in x for x in lines)


def test_a_dyno_in_its_namespace_reaches_the_sandbox_services_and_nothing_else(sbx, app):
    if not sbx.runtime.processes.netns:
        pytest.skip("this machine allows no network namespaces")
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    servers = [HTTPServer(("127.0.0.1", 0), Hello) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    api, other = (s.server_address[1] for s in servers)
    try:
        # The API's port is one of the sandbox's own: forwarded in.
        sbx.platform.api_url = f"http://127.0.0.1:{api}"
        sbx.platform.update_config_vars(app, {"BIND": "0.0.0.0"})
        release(sbx, app, make_slug(sbx, {"web": ISO_WEB}, files={"iso.py": ISO_PY}))
        up(sbx, app, "web", 1)
        fetch = app["web_url"] + "fetch?url=http://127.0.0.1:{}/"
        assert get(fetch.format(api))[2] == b"hello"
        # Its own router (every app's router is reachable, as web_urls are).
        assert get(fetch.format(app["web_url"].rsplit(":", 1)[1].strip("/")))[2] \
            == b"web.1"
        # Any other loopback port of the machine is not.
        assert get(fetch.format(other))[2].startswith(b"unreachable")
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


@pytest.mark.parametrize("bind", ["0.0.0.0", "::"])
def test_a_one_off_runs_the_web_command_and_reaches_its_own_port_inside(sbx, app,
                                                                        isolation, bind):
    # As on Heroku, a one-off dyno gets $PORT and may bind it (Dev Center,
    # One-off Dynos: "heroku run web" runs the web process in a one-off
    # dyno; Runtime: "$PORT ... is set for every dyno"): a smoke check boots
    # the web process there and asks it over loopback, inside the dyno.
    sbx.platform.update_config_vars(app, {"BIND": bind})
    release(sbx, app, make_slug(sbx, {"web": ISO_WEB}, files={"iso.py": ISO_PY}))
    probe = ("python3 iso.py & web=$!; for i in $(seq 200); do "
             "out=$(curl -s --max-time 2 http://127.0.0.1:$PORT/) && break; "
             "sleep 0.05; done; echo probe=$out; "
             "hexport=$(printf '%04X' $PORT); "
             "awk -v p=$hexport '$4 == \"0A\" && $2 ~ \":\"p\"$\" {print \"listen=\" $2}' "
             "/proc/net/tcp /proc/net/tcp6; "
             "echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' "
             "| tr '\\n' ,); kill $web")
    doc = sbx.runtime.create_one_off(app, {"command": probe})
    wait_until(lambda: not dynos(sbx, app, "run"), what="the one-off finished")
    said = [x.split(": ", 1)[1] for x in log_lines(sbx, app, doc["name"])
            if f"app[{doc['name']}]" in x]
    # the web process answered on the dyno's own $PORT, inside the dyno
    assert f"probe={doc['name']}" in said, said
    listens = [x.split("=", 1)[1].split(":")[0] for x in said
               if x.startswith("listen=")]
    assert listens, said
    ifaces = next(x for x in said if x.startswith("ifaces=")).split("=")[1]
    if isolation == "fallback":
        # in the sandbox's own namespace: bound on loopback only
        assert all(_is_loopback(a) for a in listens), listens
    else:
        # its own namespace, with nothing but lo: the wildcard reaches no one
        assert ifaces.strip(",") == "lo", ifaces
