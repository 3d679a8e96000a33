"""The official heroku CLI (npm, 11.10.0) against the sandbox.

The CLI runs exactly as a user runs it after ``source ROOT/env``: nothing but
the env file and a temporary HOME (see ``conftest.clean_env``). Every test
checks the effect in the sandbox's state through the API, not only the
CLI's exit code. Interactive prompts: the CLI asks for confirmation
(``apps:destroy``), a stage (``pipelines:create``/``add``) or a choice among
same-named pipelines unless given ``--confirm``/``--stage``/a unique name.
With stdin closed, ``apps:destroy`` exits 0 having done nothing, and a list
prompt dies of SIGINT. Piping an answer is unreliable: oclif may read piped
stdin as the command's missing positional argument (``apps:destroy -a X``
with "not-it" on stdin once asked for app ``not-it``), so these tests never
answer prompts, they pass the flags.
"""

from __future__ import annotations

import json
import re

import pytest
import requests

pytestmark = [pytest.mark.cli, pytest.mark.e2e]

WEB = "python3 -m http.server $PORT --bind 127.0.0.1"
WORKER = "python3 -c \"import time; time.sleep(3600)\""


def web_get(url: str, sandbox, timeout: float = 30) -> requests.Response:
    return requests.get(url, verify=sandbox.ca_bundle, timeout=timeout,
                        proxies={"http": None, "https": None})


def current_release(api, app: str) -> dict:
    return [r for r in api.get(f"/apps/{app}/releases") if r["current"]][-1]


@pytest.fixture(scope="module")
def pushed(api, heroku, git_env, sandbox, tools, tmp_path_factory):
    """An app made by ``heroku apps:create`` inside a repository, then
    ``git push heroku main``: what the rest of this module works on."""
    name = tools.unique("cli-push")
    repo = tools.make_repo(tmp_path_factory.mktemp("push") / "app", git_env, tools.WEB_APP)
    created = heroku.ok("apps:create", name, cwd=repo)
    push = tools.git(repo, git_env, "push", "heroku", "main", timeout=180, check=False)
    yield {"name": name, "repo": repo, "create": created, "push": push}
    api.request("DELETE", f"/apps/{name}")


# -- apps ------------------------------------------------------------------------------
def test_apps_create_info_destroy(api, heroku, tools):
    name = tools.unique("cli-app")
    heroku.ok("apps:create", name)
    app = api.get(f"/apps/{name}")
    assert app["name"] == name

    info = heroku.ok("apps:info", "-a", name)
    assert name in info.stdout and app["git_url"] in info.stdout
    as_json = json.loads(heroku.ok("apps:info", "-a", name, "--json").stdout)
    assert as_json["app"]["id"] == app["id"]

    heroku.ok("apps:destroy", "-a", name, "--confirm", name)
    assert api.request("GET", f"/apps/{name}").status_code == 404


def test_apps_destroy_asks_first(api, heroku, tools):
    name = api.create_app(tools.unique("cli-ask"))["name"]
    refused = heroku("apps:destroy", "-a", name, "--confirm", "some-other-app")
    assert refused.returncode != 0 and "did not match" in refused.stderr
    # With stdin closed the prompt never gets an answer: node runs out of work
    # and the CLI exits 0 having done nothing (so scripts must pass --confirm).
    heroku("apps:destroy", "-a", name, timeout=60)
    assert api.get(f"/apps/{name}")["name"] == name
    heroku.ok("apps:destroy", name, "--confirm", name)
    assert api.request("GET", f"/apps/{name}").status_code == 404


def test_apps_info_of_an_unknown_app_fails_clearly(heroku):
    done = heroku("apps:info", "-a", "no-such-app-cli")
    assert done.returncode != 0
    assert "Couldn't find that app" in done.stderr
    assert "Error ID: not_found" in done.stderr


# -- git push, dynos, the router -------------------------------------------------------
def test_git_push_builds_and_the_web_dyno_answers(pushed, api, sandbox, tools, git_env):
    name, repo, push = pushed["name"], pushed["repo"], pushed["push"]
    app = api.get(f"/apps/{name}")
    remote = tools.git(repo, git_env, "remote", "get-url", "heroku").stdout.strip()
    assert remote == app["git_url"]
    assert sandbox.api_key not in remote
    assert push.returncode == 0, push.stderr
    assert "remote:" in push.stderr

    sha = tools.git(repo, git_env, "rev-parse", "HEAD").stdout.strip()
    release = current_release(api, name)
    slug = api.get(f"/apps/{name}/slugs/{release['slug']['id']}")
    assert slug["commit"] == sha
    assert set(slug["process_types"]) == {"web", "worker"}
    formation = {f["type"]: f["quantity"] for f in api.get(f"/apps/{name}/formation")}
    assert formation == {"web": 1, "worker": 0}

    app = api.get(f"/apps/{name}")
    assert app["web_url"]
    page = tools.wait_until(
        lambda: (r := web_get(app["web_url"], sandbox)).status_code == 200 and r,
        60, 0.3, "the web dyno to answer on web_url")
    assert "hello from the sandbox" in page.text


def test_ps_scale_and_ps(pushed, api, heroku, tools):
    name = pushed["name"]
    heroku.ok("ps:scale", "web=1", "worker=2", "-a", name)
    formation = {f["type"]: f["quantity"] for f in api.get(f"/apps/{name}/formation")}
    assert formation == {"web": 1, "worker": 2}
    tools.wait_until(
        lambda: {d["name"] for d in api.get(f"/apps/{name}/dynos")
                 if d["state"] == "up"} >= {"web.1", "worker.1", "worker.2"},
        60, 0.3, "web.1, worker.1 and worker.2 up")

    ps = heroku.ok("ps", "-a", name).stdout
    for dyno in ("web.1", "worker.1", "worker.2"):
        assert re.search(rf"^{re.escape(dyno)}: up\b", ps, re.M), ps

    heroku.ok("ps:scale", "worker=0", "-a", name)
    assert {f["type"]: f["quantity"] for f in api.get(f"/apps/{name}/formation")
            }["worker"] == 0
    tools.wait_until(lambda: not [d for d in api.get(f"/apps/{name}/dynos")
                                  if d["type"] == "worker"], 60, 0.3, "workers gone")


def test_maintenance_on_off(pushed, api, heroku, sandbox, tools):
    name = pushed["name"]
    web_url = api.get(f"/apps/{name}")["web_url"]
    assert heroku.ok("maintenance", "-a", name).stdout.strip() == "off"

    heroku.ok("maintenance:on", "-a", name)
    assert api.get(f"/apps/{name}")["maintenance"] is True
    assert heroku.ok("maintenance", "-a", name).stdout.strip() == "on"
    r = web_get(web_url, sandbox)
    assert r.status_code == 503 and r.headers.get("X-Herotasks-Sandbox") == "maintenance"

    heroku.ok("maintenance:off", "-a", name)
    assert api.get(f"/apps/{name}")["maintenance"] is False
    tools.wait_until(lambda: web_get(web_url, sandbox).status_code == 200, 60, 0.3,
                     "the app to answer again")


def test_features_preboot(pushed, api, heroku):
    name = pushed["name"]
    heroku.ok("features:enable", "preboot", "-a", name)
    assert api.get(f"/apps/{name}/features/preboot")["enabled"] is True
    heroku.ok("features:disable", "preboot", "-a", name)
    assert api.get(f"/apps/{name}/features/preboot")["enabled"] is False


def test_run_streams_output_and_succeeds(pushed, heroku):
    name = pushed["name"]
    ok = heroku("run", "--exit-code", "-a", name, "--", "echo", "hello-from-run",
                timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "hello-from-run" in ok.stdout
    # The one-off runs in the app's environment (PORT, like any dyno).
    env = heroku("run", "--exit-code", "-a", name, "--", "sh", "-c", "echo port=$PORT",
                 timeout=120)
    assert env.returncode == 0, env.stderr
    assert re.search(r"port=\d+", env.stdout), env.stdout


def test_run_exit_code_comes_back(pushed, heroku):
    # A bare `exit 7` would end the shell before the CLI's marker echo, on
    # Heroku too; a failing command inside it is what --exit-code is for.
    failing = heroku("run", "--exit-code", "-a", pushed["name"], "--", "sh", "-c",
                     "echo about-to-fail; exit 7", timeout=120)
    assert failing.returncode == 7, (failing.stdout, failing.stderr)
    assert "about-to-fail" in failing.stdout


def test_run_detached(pushed, heroku, api, tools):
    name = pushed["name"]
    done = heroku.ok("run:detached", "-a", name, "--", "sleep", "120", timeout=120)
    m = re.search(r"\b(run\.\d+)\b", done.stdout + done.stderr)
    assert m, done.stdout + done.stderr
    dyno = api.get(f"/apps/{name}/dynos/{m[1]}")
    assert dyno["type"] == "run" and dyno["command"] == "sleep 120"
    assert dyno["state"] in ("starting", "up")
    api.post(f"/apps/{name}/dynos/{m[1]}/actions/stop")


# -- config vars and releases ----------------------------------------------------------
def test_config_set_get_releases_and_rollback(pushed, api, heroku):
    name = pushed["name"]
    before = current_release(api, name)
    heroku.ok("config:set", "GREETING=hello world", "COLOR=blue", "-a", name)
    assert api.get(f"/apps/{name}/config-vars").items() >= {
        "GREETING": "hello world", "COLOR": "blue"}.items()
    after = current_release(api, name)
    assert after["version"] == before["version"] + 1
    assert heroku.ok("config:get", "GREETING", "-a", name).stdout.strip() == "hello world"

    listing = heroku.ok("releases", "-a", name).stdout
    for r in api.get(f"/apps/{name}/releases"):
        assert re.search(rf"^\s*v{r['version']}\s", listing, re.M), listing
    info = json.loads(heroku.ok("releases:info", "-a", name, "--json").stdout)
    assert info["id"] == after["id"]
    text = heroku.ok("releases:info", f"v{before['version']}", "-a", name).stdout
    assert f"v{before['version']}" in text

    # No version: the previous eligible release (the CLI picks it, §3 notes).
    heroku.ok("releases:rollback", "-a", name)
    rolled = current_release(api, name)
    assert rolled["version"] == after["version"] + 1
    assert rolled["slug"]["id"] == before["slug"]["id"]
    assert "GREETING" not in api.get(f"/apps/{name}/config-vars")

    heroku.ok("releases:rollback", f"v{after['version']}", "-a", name)
    assert api.get(f"/apps/{name}/config-vars")["GREETING"] == "hello world"
    assert current_release(api, name)["version"] == rolled["version"] + 1


# -- pipelines -------------------------------------------------------------------------
@pytest.fixture
def two_stages(api, tools):
    """A staging app with a released slug and an empty production app."""
    staging = api.create_app(tools.unique("cli-stg"))
    api.deploy_slug(staging["name"], {"Procfile": f"web: {WEB}\n", "index.html": "v1"},
                    {"web": WEB})
    prod = api.create_app(tools.unique("cli-prd"))
    # Another pipeline exists too, as on any real account.
    decoy = api.post("/pipelines", {"name": tools.unique("decoy")})
    yield staging, prod
    for a in (staging, prod):
        api.request("DELETE", f"/apps/{a['id']}")
    api.request("DELETE", f"/pipelines/{decoy['id']}")


def _cleanup_pipeline(api, name: str) -> None:
    for p in api.get("/pipelines"):
        if p["name"] == name:
            api.request("DELETE", f"/pipelines/{p['id']}")


def test_pipelines_create(api, heroku, tools, two_stages):
    staging, _ = two_stages
    pname = tools.unique("pipe")
    try:
        heroku.ok("pipelines:create", pname, "-a", staging["name"], "--stage", "staging")
        pipeline = [p for p in api.get("/pipelines") if p["name"] == pname]
        assert len(pipeline) == 1
        coupling = api.get(f"/apps/{staging['name']}/pipeline-couplings")
        assert coupling["pipeline"]["id"] == pipeline[0]["id"]
        assert coupling["stage"] == "staging"
    finally:
        _cleanup_pipeline(api, pname)


def test_pipelines_add(api, heroku, tools, two_stages):
    staging, prod = two_stages
    pname = tools.unique("pipe")
    pipeline = api.post("/pipelines", {"name": pname})
    try:
        api.post("/pipeline-couplings", {"app": staging["id"], "pipeline": pipeline["id"],
                                         "stage": "staging"})
        heroku.ok("pipelines:add", pname, "-a", prod["name"], "--stage", "production")
        coupling = api.get(f"/apps/{prod['name']}/pipeline-couplings")
        assert coupling["pipeline"]["id"] == pipeline["id"]
        assert coupling["stage"] == "production"
    finally:
        api.request("DELETE", f"/pipelines/{pipeline['id']}")


def test_pipelines_promote(api, heroku, tools, two_stages):
    staging, prod = two_stages
    pipeline = api.post("/pipelines", {"name": tools.unique("pipe")})
    try:
        for app, stage in ((staging, "staging"), (prod, "production")):
            api.post("/pipeline-couplings", {"app": app["id"], "pipeline": pipeline["id"],
                                             "stage": stage})
        api.patch(f"/apps/{prod['name']}/config-vars", {"ONLY_IN_PROD": "1"})
        source = current_release(api, staging["name"])

        done = heroku.ok("pipelines:promote", "-a", staging["name"], timeout=120)
        assert prod["name"] in done.stdout + done.stderr
        promoted = current_release(api, prod["name"])
        assert promoted["slug"]["id"] == source["slug"]["id"]
        assert promoted["status"] == "succeeded"
        # Promotion copies the slug only: the target keeps its own config.
        assert api.get(f"/apps/{prod['name']}/config-vars") == {"ONLY_IN_PROD": "1"}
    finally:
        api.request("DELETE", f"/pipelines/{pipeline['id']}")


def test_a_one_off_on_an_app_with_no_code_has_only_the_stacks_path(app, heroku):
    """No slug yet: Heroku-24's run image has no `python` (its system Python
    is there at build time only), and nothing of the sandbox's own
    virtualenv (herotasks inside it) may stand in for one."""
    ran = heroku("run", "--exit-code", "-a", app["name"], "--", "sh", "-c",
                 "echo path=$PATH; command -v python || echo no-python", timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "path=/usr/local/bin:/usr/bin:/bin" in ran.stdout, ran.stdout
    assert "no-python" in ran.stdout, ran.stdout
