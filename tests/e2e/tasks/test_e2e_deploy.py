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
from tests.support.projects import PLAIN, Project, assert_clean, steps, window

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

    def test_release_phase_app_migrates_once_inside_the_window(self, tally):
        procfile = (tally.root / "Procfile").read_text() + "release: bin/migrate\n"
        tally.commit({"Procfile": procfile})
        tally.deploy()
        tally.add_migration()
        _, report = tally.deploy()
        assert report["ok"] and "db.migrate" not in steps(report)
        assert window(report) == ["slug.promote", "dynos.wait"]
        assert tally.applied() == sorted(set(tally.applied()))  # nothing twice
        assert len(tally.applied()) == 2

    def test_failed_migration_rolls_back(self, tally):
        tally.deploy()
        before = tally.current()
        tally.api.patch(f"/apps/{tally.app}/config-vars", {"FAIL_MIGRATION": "1"})
        tally.add_migration()
        done, report = tally.deploy(check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        # stderr also carries git's `remote:` build lines; the error is the last
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("herotasks: db.migrate failed") and "rolled back" in last
        assert not report["ok"] and report["error"]
        current = tally.current()
        assert current["slug"]["id"] == before["slug"]["id"]
        assert_clean(tally.state())

    def test_concurrent_deploy_is_refused_then_force_unlocked(self, tally, sandbox):
        from herotasks.adapters.heroku_api import make_api

        client = make_api(sandbox.url, sandbox.api_key, cabundle=sandbox.ca_bundle)
        lock.acquire(client, lock.Holder(tally.app, "ci@other-runner", 4242,
                                         "production", "", 0.0, "other"))
        done, _ = tally.deploy(check=False)
        assert done.returncode == 1
        assert "ci@other-runner (pid 4242" in done.stderr
        assert tally.applied() == []
        _, report = tally.deploy("--force-unlock")
        assert report["ok"] and not tally.state()["lock"]

    def test_bad_inputs_are_one_line(self, tally):
        # only configured stages get a deploy.<stage> task; any name works
        # with --stage, and an unconfigured one is one line
        done = tally.inv("deploy", "--stage", "staging", check=False)
        assert done.returncode == 1
        assert done.stderr.strip() == ("herotasks: unknown stage 'staging' — "
                                       "configured stages: production")
        (tally.root / "index.html").write_text("dirty\n")
        done = tally.inv("deploy.production", check=False)
        assert done.returncode == 1 and "uncommitted changes" in done.stderr
        done = tally.inv("deploy.production", "--allow-dirty", "--ref", "nope",
                         check=False)
        assert "unknown git ref 'nope'" in done.stderr
        env = dict(tally.env, HEROKU_API_KEY="HRKU-not-a-token")
        done = subprocess.run([sys.executable, "-m", "invoke", "deploy.plan",
                               "--stage", "production", "--allow-dirty"],
                              cwd=tally.root, env=env, capture_output=True, text=True)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
        assert "HRKU-not-a-token" not in done.stderr + done.stdout


# Kill between steps inside the window, then recover. Before the promotion
# (or inside it) recovery undoes; after it, recovery finishes the deploy.
KILLS = [("after", "maintenance.on", "undo"), ("before", "slug.promote", "undo"),
         ("after", "slug.promote", "finish"), ("before", "db.migrate", "finish"),
         ("after", "db.migrate", "finish"), ("after", "dynos.restart", "finish"),
         ("after", "dynos.wait", "finish")]


@pytest.mark.parametrize("when,step,mode", KILLS)
def test_kill_in_the_window_then_recover(tally, when, step, mode):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="2:Standard-1X")
    before = tally.current()
    kill = tally.hook_file(when, step, "kill -9 $PPID")
    tally.add_migration()
    done, _ = tally.deploy(check=False, runtime=kill)
    assert done.returncode != 0
    assert tally.state()["maintenance"] is True
    done = tally.inv("deploy.recover", "--stage", "production")
    assert f"recover: {mode}" in done.stdout
    state = tally.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"), ("worker", 2, "Standard-1X")]
    if mode == "finish":
        assert len(tally.applied()) == 2
        assert tally.current()["id"] != before["id"]
    else:
        assert tally.current()["slug"]["id"] == before["slug"]["id"]


def test_steps_by_hand_reach_the_same_end_state(sandbox, api, tools, git_env,
                                                tmp_path):
    results = []
    for how in ("hand", "deploy"):
        app = tools.unique("tally")
        api.create_app(app)
        proj = Project(tmp_path / how, app, PLAIN, dict(git_env), api, tools)
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
    # both run third-party code (npm or gem packages, the user's scripts);
    # on Rails, whose asset command is a script the test can extend
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
