"""The official CLI's everyday commands against the sandbox: ``apps``,
``logs`` (and ``--tail``, through log sessions), ``ps:restart``,
``ps:wait`` and ``releases:output``. Each test checks the effect (in the
API or in what the app really did), not only the exit code.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import uuid

import pytest
import requests

pytestmark = [pytest.mark.cli, pytest.mark.e2e]


def web_get(url: str, sandbox) -> requests.Response:
    return requests.get(url, verify=sandbox.ca_bundle, timeout=30,
                        proxies={"http": None, "https": None})


@pytest.fixture(scope="module")
def app(api, heroku, git_env, sandbox, tools, tmp_path_factory):
    """A pushed app (web dyno up), with a release phase that says its mark."""
    name = tools.unique("cli-day")
    mark = uuid.uuid4().hex[:12]
    files = dict(tools.WEB_APP)
    files["Procfile"] += f"release: echo release-phase-{mark}\n"
    repo = tools.make_repo(tmp_path_factory.mktemp("day") / "app", git_env, files)
    heroku.ok("apps:create", name, cwd=repo)
    tools.git(repo, git_env, "push", "heroku", "main", timeout=180)
    web_url = api.get(f"/apps/{name}")["web_url"]
    tools.wait_until(lambda: web_get(web_url, sandbox).status_code == 200, 60, 0.3,
                     "the web dyno to answer")
    yield {"name": name, "mark": mark, "web_url": web_url}
    api.request("DELETE", f"/apps/{name}")


def test_apps_lists_the_users_apps(app, heroku):
    listed = heroku.ok("apps").stdout
    assert app["name"] in listed.split()


def test_logs_merges_the_dynos_and_the_routers_lines(app, heroku, sandbox):
    path = f"/logs-{uuid.uuid4().hex[:8]}"
    web_get(app["web_url"] + path.lstrip("/"), sandbox)

    everything = heroku.ok("logs", "-a", app["name"], "-n", "1500").stdout
    assert "heroku[web.1]: State changed from starting to up" in everything
    assert f'path="{path}"' in everything          # the router's line
    assert f"GET {path} HTTP/1.1" in everything    # the app's own line
    stamps = [line.split(" ", 1)[0] for line in everything.splitlines() if line]
    assert stamps == sorted(stamps)

    router = heroku.ok("logs", "-a", app["name"], "-d", "router", "-n", "50").stdout
    assert f'path="{path}"' in router and "app[web.1]" not in router
    only_app = heroku.ok("logs", "-a", app["name"], "--source", "app").stdout
    assert f"GET {path} HTTP/1.1" in only_app and "heroku[" not in only_app
    assert len(heroku.ok("logs", "-a", app["name"], "-n", "2").stdout.splitlines()) == 2


def test_logs_tail_follows_new_lines(app, heroku, sandbox, tools):
    cli = subprocess.Popen(
        [str(tools.HEROKU_BIN), "logs", "--tail", "-a", app["name"], "-n", "1"],
        env=heroku.env, cwd=heroku.cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in cli.stdout],
                     daemon=True).start()
    seen: list[str] = []
    path = f"/tail-{uuid.uuid4().hex[:8]}"
    try:
        seen.append(lines.get(timeout=60))  # the stream is open
        web_get(app["web_url"] + path.lstrip("/"), sandbox)

        def arrived():
            while not lines.empty():
                seen.append(lines.get())
            return any(f'path="{path}"' in ln for ln in seen)
        tools.wait_until(arrived, 60, 0.2, "the router's line in the tail")
        assert cli.poll() is None  # still following
    finally:
        cli.terminate()
        cli.wait(30)


def test_ps_restart_replaces_the_dynos_and_ps_wait_sees_them_up(app, api, heroku, tools):
    before = {d["name"]: d["id"] for d in api.get(f"/apps/{app['name']}/dynos")}
    assert "web.1" in before

    heroku.ok("ps:restart", "-a", app["name"])
    tools.wait_until(lambda: all(d["id"] != before.get(d["name"]) for d in
                                 api.get(f"/apps/{app['name']}/dynos")) and
                     api.get(f"/apps/{app['name']}/dynos"), 60, 0.3, "new dynos")
    heroku.ok("ps:wait", "-a", app["name"], timeout=120)

    latest = max(r["version"] for r in api.get(f"/apps/{app['name']}/releases"))
    dynos = [d for d in api.get(f"/apps/{app['name']}/dynos") if d["type"] == "web"]
    assert dynos and all(d["state"] == "up" and d["release"]["version"] == latest
                         for d in dynos)


def test_ps_wait_waits_for_a_new_release(app, api, heroku):
    heroku.ok("config:set", f"WAITED={uuid.uuid4().hex[:6]}", "-a", app["name"])
    latest = max(r["version"] for r in api.get(f"/apps/{app['name']}/releases"))

    heroku.ok("ps:wait", "-a", app["name"], timeout=120)

    dynos = [d for d in api.get(f"/apps/{app['name']}/dynos") if d["type"] == "web"]
    assert dynos and all(d["state"] == "up" and d["release"]["version"] >= latest
                         for d in dynos)


def test_releases_output_prints_the_release_phase(app, heroku):
    out = heroku.ok("releases:output", "-a", app["name"]).stdout
    assert f"release-phase-{app['mark']}" in out
