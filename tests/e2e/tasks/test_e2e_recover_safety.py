"""Nothing lost when a deploy is slow, late or interrupted (issue 8), end to end.

* someone else's app that happens to carry the scratch app's name is never
  reused, wiped or destroyed;
* ``deploy.recover`` refuses while the deploy it would recover still runs;
* a deploy killed during ``app.push`` leaves no git child running, and
  recovery waits for the build it started before deciding.

Real ``inv`` processes, real git, the session's sandbox, as in
``test_e2e_deploy``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from herotasks.core import lock, scratch
from tests.support.projects import Project, assert_clean, paused_at, start_inv, wait_for

pytestmark = pytest.mark.e2e


def app_names(proj: Project) -> set[str]:
    return {a["name"] for a in proj.api.get("/apps")}


# -- 4. someone else's app with the scratch name -----------------------------------

@pytest.mark.parametrize("theirs", [
    {"PAYMENTS_KEY": "theirs", "RAILS_ENV": "production"},
    {scratch.MARKER: "some-other-app", "RAILS_ENV": "staging"},
], ids=["unmarked", "marked-for-another-app"])
def test_an_app_with_the_scratch_name_that_is_not_ours_is_left_alone(tally, theirs):
    name = scratch.scratch_name("ht-scratch", tally.app)
    tally.api.create_app(name)
    try:
        tally.api.patch(f"/apps/{name}/config-vars", theirs)
        releases = len(tally.api.get(f"/apps/{tally.app}/releases"))

        done, report = tally.deploy(check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert name in lines[0] and "herotasks.scratch.prefix" in lines[0]
        # refused before anything changed: no lock, no journal, no release
        journal = tally.root / ".herotasks" / "journal" / f"{tally.app}.json"
        assert not journal.exists()
        assert lock.lock_app_name(tally.app) not in app_names(tally)
        assert len(tally.api.get(f"/apps/{tally.app}/releases")) == releases
        assert tally.applied() == []

        # scratch.create and scratch.destroy run by hand leave it alone too
        for task in ("scratch.create", "scratch.destroy"):
            done = tally.inv(task, "--stage", "production", check=False)
            assert name in app_names(tally), f"{task} destroyed {name}"
            if task == "scratch.create":
                assert done.returncode == 1 and "Traceback" not in done.stderr
                assert name in done.stderr.strip().splitlines()[-1]
        assert tally.api.get(f"/apps/{name}/config-vars") == theirs
    finally:
        tally.api.request("DELETE", f"/apps/{name}")


# -- 3. recover racing a live deploy -------------------------------------------------

def test_recover_refuses_while_the_deploy_still_runs(tally, tools):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="2:Standard-1X")
    config, reached, go = paused_at(tally, "db.migrate")
    tally.add_migration()
    first = start_inv(tally, "-f", str(config), "deploy.production")
    try:
        wait_for(first, reached, tools)
        journal = tally.root / ".herotasks" / "journal" / f"{tally.app}.json"
        before = (tally.state(), journal.read_bytes(), tally.applied(),
                  tally.current()["id"])
        assert before[0]["maintenance"] is True

        done = tally.inv("deploy.recover", "--stage", "production", check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert f"pid {first.pid}" in lines[0] and "deploy.production" in lines[0]
        assert "still running" in lines[0]

        # deploy.status says who is deploying rather than to recover
        status = tally.inv("deploy.status", "--stage", "production").stdout
        assert f"still running: pid {first.pid}" in status
        assert "deploy.recover" not in status

        # a second deploy is refused, and told to wait rather than to recover
        done = tally.inv("deploy.production", check=False)
        assert done.returncode == 1
        assert "wait for it to finish" in done.stderr.strip().splitlines()[-1]

        assert (tally.state(), journal.read_bytes(), tally.applied(),
                tally.current()["id"]) == before
    finally:
        go.touch()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    assert len(tally.applied()) == 2
    assert_clean(tally.state())


def test_recover_refuses_a_lock_held_on_another_machine_unless_forced(tally, sandbox):
    from herotasks.adapters.heroku_api import make_api

    tally.deploy()
    before = tally.current()
    kill = tally.hook_file("after", "maintenance.on", "kill -9 $PPID")
    tally.add_migration()
    done, _ = tally.deploy(check=False, runtime=kill)
    assert done.returncode != 0 and tally.state()["maintenance"] is True
    # the lock now says another machine's deploy holds it (a CI runner that
    # took over after a --force-unlock, say): its pid cannot be checked here
    client = make_api(sandbox.url, sandbox.api_key, cabundle=sandbox.ca_bundle)
    other = lock.Holder(tally.app, "ci@other-runner", 4242, "production", "",
                        time.time() - 120, "other-deploy")
    client.update_config_vars(lock.lock_app_name(tally.app), other.to_vars())

    done = tally.inv("deploy.recover", "--stage", "production", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "ci@other-runner (pid 4242" in line
    assert "--force" in line
    assert tally.state()["maintenance"] is True  # nothing was undone

    done = tally.inv("deploy.recover", "--stage", "production", "--force")
    assert "recover: undo" in done.stdout
    assert tally.state()["maintenance"] is False
    assert tally.current()["slug"]["id"] == before["slug"]["id"]


# -- 2. killed during app.push ------------------------------------------------------

def running_in(folder: Path) -> list[str]:
    """Command lines of live processes working inside ``folder`` (git and
    its helpers run in the repository); Linux /proc."""
    inside = str(folder.resolve()) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd") + os.sep
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd.startswith(inside):
            found.append(cmd.strip())
    return found


def builds(proj: Project) -> list[dict]:
    return proj.api.get(f"/apps/{proj.app}/builds")


@pytest.mark.parametrize("strategy", ["naive", "conditional"])
def test_killed_during_app_push_nothing_outlives_it_and_recover_waits(
        tally, admin, tools, strategy):
    tally.deploy("--strategy", strategy)
    before = tally.current()
    source = tally.add_migration()
    known = {b["id"] for b in builds(tally)}
    admin.patch("/settings", {"build_delay": 6})
    try:
        deploy = start_inv(tally, "deploy.production", "--strategy", strategy)

        def building() -> bool:
            assert deploy.poll() is None, deploy.communicate()
            return any(b["id"] not in known for b in builds(tally))
        # polled gently: the sandbox keeps Heroku's rate limit for the session
        tools.wait_until(building, 120, 0.5, "the push's build to start")
        os.kill(deploy.pid, signal.SIGKILL)
        deploy.communicate()

        # git and its helpers die with herotasks, while the build still runs
        def push_gone() -> bool:
            left = running_in(tally.root)
            if left:
                assert any(b["status"] == "pending" for b in builds(tally)), (
                    f"the push outlived herotasks until its build ended: {left}")
            return not left
        tools.wait_until(push_gone, 60, 0.25, "the push to die")
    finally:
        admin.patch("/settings", {"build_delay": 0})

    done = tally.inv("deploy.recover", "--stage", "production")
    # whatever recover decided, nothing lands after it: the build is over
    assert all(b["status"] != "pending" for b in builds(tally))
    current = tally.current()
    live = tally.api.get(f"/apps/{tally.app}/slugs/{current['slug']['id']}")["commit"]
    if live == source:  # the build released the new code: the deploy finished
        assert "recover: finish" in done.stdout
        assert len(tally.applied()) == 2
    else:  # undone: the old code, the old schema
        assert "recover: undo" in done.stdout
        assert current["slug"]["id"] == before["slug"]["id"]
        assert len(tally.applied()) == 1
    assert_clean(tally.state())
