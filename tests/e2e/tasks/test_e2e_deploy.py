"""The deploy collection end to end on the sandbox: real git, real dynos, `inv`.

Each test makes a fresh app and a fixture repository (Rails or Django layout,
with stand-in migrate/asset commands so no framework needs installing), then
runs ``inv`` as a user would, with only the sandbox's env file in its
environment. Assertions read the platform through the API.

Kills are made exact with hooks: a hook's shell is a child of ``inv``, so
``kill -9 $PPID`` in a ``before``/``after`` hook kills the deploy precisely
between two steps, as a crash or a cancelled CI job would.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from herotasks.core import lock
from tests.support.projects import Project, assert_clean, steps, window

pytestmark = pytest.mark.e2e


class TestDeploys:
    def test_first_deploy_then_with_and_without_migrations(self, project):
        # first deploy: nothing known about the app, so the window is taken
        _, report = project.deploy()
        assert report["ok"] and report["migrations"]["pending"]
        assert "first deploy" in report["migrations"]["reason"]
        assert len(project.applied()) == 1
        assert_clean(project.state())
        project.scale(web="2:Standard-1X", worker="2:Standard-1X")

        # a migration: the window holds promote, migrate and the restart only
        project.add_migration()
        _, report = project.deploy()
        assert report["ok"] and report["migrations"]["pending"]
        assert window(report) == ["slug.promote", "db.migrate", "dynos.restart",
                                  "dynos.wait"]
        assert report["windows"]["maintenance"]["duration"] > 0
        assert report["windows"]["workers_down"]["duration"] >= \
            report["windows"]["maintenance"]["duration"]
        assert len(project.applied()) == 2
        state = project.state()
        assert_clean(state)
        assert state["formation"] == [("web", 2, "Standard-1X"),
                                      ("worker", 2, "Standard-1X")]
        assert state["preboot"] is False

        # no migration: no window, preboot for the switch, then as found
        source = project.commit({"index.html": "v2\n"})
        _, report = project.deploy()
        assert report["ok"] and not report["migrations"]["pending"]
        assert window(report) == [] and report["windows"]["maintenance"] is None
        assert "preboot.on" in steps(report) and "db.migrate" not in steps(report)
        assert project.state()["preboot"] is False
        assert source in project.current()["description"]
        assert len(project.applied()) == 2

    def test_release_phase_app_migrates_once_inside_the_window(self, rails):
        procfile = (rails.root / "Procfile").read_text() + "release: bin/migrate\n"
        rails.commit({"Procfile": procfile})
        rails.deploy()
        rails.add_migration()
        _, report = rails.deploy()
        assert report["ok"] and "db.migrate" not in steps(report)
        assert window(report) == ["slug.promote", "dynos.wait"]
        assert rails.applied() == sorted(set(rails.applied()))  # nothing twice
        assert len(rails.applied()) == 2

    def test_failed_migration_rolls_back(self, rails):
        rails.deploy()
        before = rails.current()
        rails.api.patch(f"/apps/{rails.app}/config-vars", {"FAIL_MIGRATION": "1"})
        rails.add_migration()
        done, report = rails.deploy(check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        # stderr also carries git's `remote:` build lines; the error is the last
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("herotasks: db.migrate failed") and "rolled back" in last
        assert not report["ok"] and report["error"]
        current = rails.current()
        assert current["slug"]["id"] == before["slug"]["id"]
        assert_clean(rails.state())

    def test_concurrent_deploy_is_refused_then_force_unlocked(self, rails, sandbox):
        from herotasks.adapters.heroku_api import make_api

        client = make_api(sandbox.url, sandbox.api_key, cabundle=sandbox.ca_bundle)
        lock.acquire(client, lock.Holder(rails.app, "ci@other-runner", 4242,
                                         "production", "", 0.0, "other"))
        done, _ = rails.deploy(check=False)
        assert done.returncode == 1
        assert "ci@other-runner (pid 4242" in done.stderr
        assert rails.applied() == []
        _, report = rails.deploy("--force-unlock")
        assert report["ok"] and not rails.state()["lock"]

    def test_bad_inputs_are_one_line(self, rails):
        # only configured stages get a deploy.<stage> task; any name works
        # with --stage, and an unconfigured one is one line
        done = rails.inv("deploy", "--stage", "staging", check=False)
        assert done.returncode == 1
        assert done.stderr.strip() == ("herotasks: unknown stage 'staging' — "
                                       "configured stages: production")
        (rails.root / "index.html").write_text("dirty\n")
        done = rails.inv("deploy.production", check=False)
        assert done.returncode == 1 and "uncommitted changes" in done.stderr
        done = rails.inv("deploy.production", "--allow-dirty", "--ref", "nope",
                         check=False)
        assert "unknown git ref 'nope'" in done.stderr
        env = dict(rails.env, HEROKU_API_KEY="HRKU-not-a-token")
        done = subprocess.run([sys.executable, "-m", "invoke", "deploy.plan",
                               "--stage", "production", "--allow-dirty"],
                              cwd=rails.root, env=env, capture_output=True, text=True)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
        assert "HRKU-not-a-token" not in done.stderr + done.stdout


# Kill between steps inside the window, then recover. Before the promotion
# (or inside it) recovery undoes; after it, recovery finishes the deploy.
KILLS = [("after", "maintenance.on", "undo"), ("before", "slug.promote", "undo"),
         ("after", "slug.promote", "finish"), ("before", "db.migrate", "finish"),
         ("after", "db.migrate", "finish"), ("after", "dynos.restart", "finish"),
         ("after", "dynos.wait", "finish")]


@pytest.mark.parametrize("when,step,mode", KILLS)
def test_kill_in_the_window_then_recover(rails, when, step, mode):
    rails.deploy()
    rails.scale(web="1:Standard-1X", worker="2:Standard-1X")
    before = rails.current()
    kill = rails.hook_file(when, step, "kill -9 $PPID")
    rails.add_migration()
    done, _ = rails.deploy(check=False, runtime=kill)
    assert done.returncode != 0
    assert rails.state()["maintenance"] is True
    done = rails.inv("deploy.recover", "--stage", "production")
    assert f"recover: {mode}" in done.stdout
    state = rails.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"), ("worker", 2, "Standard-1X")]
    if mode == "finish":
        assert len(rails.applied()) == 2
        assert rails.current()["id"] != before["id"]
    else:
        assert rails.current()["slug"]["id"] == before["slug"]["id"]


def test_steps_by_hand_reach_the_same_end_state(sandbox, api, tools, git_env,
                                                tmp_path):
    results = []
    for how in ("hand", "deploy"):
        app = tools.unique("tally")
        api.create_app(app)
        proj = Project(tmp_path / how, app, "rails", dict(git_env), api, tools)
        api.patch(f"/apps/{app}/config-vars", {"DB_FILE": str(proj.db)})
        proj.deploy()
        proj.scale(web="1:Standard-1X", worker="2:Standard-1X")
        source = proj.add_migration()
        if how == "hand":
            for task in ("assets.precompile", "scratch.create", "slug.build",
                         "workers.stop", "maintenance.on", "slug.promote",
                         "db.migrate", "maintenance.off", "workers.restore",
                         "scratch.destroy"):
                args = [task] if task == "assets.precompile" else [
                    task, "--stage", "production"]
                proj.inv(*args)
        else:
            proj.deploy()
        state = proj.state()
        state["applied"] = len(proj.applied())
        state["source_in_release"] = source in proj.current()["description"]
        results.append(state)
        api.request("DELETE", f"/apps/{app}")
    assert results[0] == results[1]
    assert results[0]["applied"] == 2 and results[0]["source_in_release"]


def test_the_token_is_not_in_the_asset_command_or_hook_environment(rails):
    # both run third-party code (npm or gem packages, the user's scripts)
    seen = rails.root.parent / "envs"
    assets = (rails.root / "bin/assets").read_text()
    rails.commit({"bin/assets": assets + f"env >> {seen}/assets\n",
                  "app/assets/app.css": "body { color: red }\n"})
    seen.mkdir()
    hook = rails.hook_file("before", "slug.build", f"env >> {seen}/hook")
    _, report = rails.deploy(runtime=hook)
    assert report["ok"]
    token = rails.env["HEROKU_API_KEY"]
    for name in ("assets", "hook"):
        text = (seen / name).read_text()
        assert "\nPATH=" in "\n" + text  # it ran, with our environment
        assert token not in text, name
        assert "\nHEROKU_API_KEY=" not in "\n" + text, name
