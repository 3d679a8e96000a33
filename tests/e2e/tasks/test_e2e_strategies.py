"""``--strategy naive`` and ``--strategy conditional`` end to end on the sandbox.

Both push the deploy commit straight to the app's git repository (Heroku
builds and releases there) instead of building on a scratch app. naive
always takes the maintenance window around push and migrate; conditional
takes it only when migrations are pending, and then also stops the workers
(and preboot) for its length. The benchmark compares the three strategies
from these same reports, so what they say about windows must be true: a
hook photographs the app through the API from inside the window.
"""

from __future__ import annotations

import pytest

from tests.support.e2e import encloses, probe_config, remote_refs, shots, step
from tests.support.projects import Project, assert_clean, new_project, steps, window

pytestmark = pytest.mark.e2e

NAIVE = ["check", "lock.acquire", "maintenance.on",
         "app.push", "db.migrate", "dynos.restart", "maintenance.off",
         "lock.release"]
CORE = ["app.push", "db.migrate", "dynos.restart"]


@pytest.fixture(params=["rails", "django"])
def proj(request, sandbox, api, tools, git_env, tmp_path):
    yield from new_project(request.param, api, tools, git_env, tmp_path)


def assert_pushed(proj: Project, report: dict, source: str) -> None:
    """The app's own repository holds ``source`` (naive and conditional push
    the source, as the tools they stand for do, and Heroku's build compiles
    the assets), and the release the report names is the one built from it."""
    head = remote_refs(proj)["refs/heads/main"]
    assert head == source
    current = proj.current()
    assert report["release"] == {"id": current["id"], "version": current["version"]}
    slug = proj.api.get(f"/apps/{proj.app}/slugs/{current['slug']['id']}")
    assert slug["commit"] == head
    assert report["commit"]["to"] == source


def assert_window_holds(report: dict, names: list[str]) -> None:
    """The maintenance window exists and spans exactly the steps ``names``."""
    assert window(report) == names
    w = report["windows"]["maintenance"]
    assert w is not None and w["duration"] > 0
    assert all(encloses(w, step(report, n)) for n in names)
    for outside in ("lock.acquire", "lock.release"):
        s = step(report, outside)
        assert s["finished_at"] <= w["started_at"] or s["started_at"] >= w["finished_at"]


def test_naive_always_takes_the_window_and_never_stops_workers(proj):
    inside = [("before", "app.push"), ("after", "dynos.restart")]
    config, out = probe_config(proj, *inside)

    source = proj.git("rev-parse", "HEAD")
    _, report = proj.deploy("--strategy", "naive", runtime=config)
    assert report["ok"] and report["strategy"] == "naive"
    assert steps(report) == NAIVE and report["error"] is None
    assert_window_holds(report, CORE)
    assert report["windows"]["workers_down"] is None
    assert_pushed(proj, report, source)
    assert len(proj.applied()) == 1
    assert_clean(proj.state())

    # no migration pending, and still the window (that is what naive costs);
    # the second push is not a fast-forward of the first deploy commit
    proj.scale(web="1:Standard-1X", worker="2:Standard-1X")
    source = proj.commit({"index.html": "v2\n"})
    _, report = proj.deploy("--strategy", "naive", runtime=config)
    assert report["ok"] and not report["migrations"]["pending"]
    assert steps(report) == NAIVE
    assert_window_holds(report, CORE)
    assert report["windows"]["workers_down"] is None
    assert_pushed(proj, report, source)
    seen = shots(out)
    for point in inside:  # maintenance on, workers left running
        assert seen[point]["maintenance"] is True, seen[point]
        assert seen[point]["formation"]["worker"] == 2, seen[point]
    state = proj.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"), ("worker", 2, "Standard-1X")]

    proj.add_migration()
    _, report = proj.deploy("--strategy", "naive")
    assert report["ok"] and report["migrations"]["pending"]
    assert steps(report) == NAIVE and len(proj.applied()) == 2


def test_conditional_takes_the_window_only_for_migrations(proj):
    # first deploy: the deployed commit is unknown, so migrations may be pending
    _, report = proj.deploy("--strategy", "conditional")
    assert report["ok"] and report["strategy"] == "conditional"
    assert "first deploy" in report["migrations"]["reason"]
    assert steps(report) == NAIVE  # no workers nor preboot yet to touch
    assert_window_holds(report, CORE)
    assert len(proj.applied()) == 1

    proj.scale(web="2:Standard-1X", worker="2:Standard-1X")
    proj.api.patch(f"/apps/{proj.app}/features/preboot", {"enabled": True})
    inside = [("before", "app.push"), ("before", "db.migrate"),
              ("after", "dynos.restart")]
    config, out = probe_config(proj, *inside)

    # a migration: preboot off and workers stopped around the window
    source = proj.add_migration()
    _, report = proj.deploy("--strategy", "conditional", runtime=config)
    assert report["ok"] and report["migrations"]["pending"]
    assert "changed: 1 file" in report["migrations"]["reason"]
    assert steps(report) == [
        "check", "lock.acquire", "preboot.off",
        "workers.stop", "maintenance.on", "app.push", "db.migrate",
        "dynos.restart", "maintenance.off", "workers.restore",
        "preboot.restore", "lock.release"]
    assert_window_holds(report, CORE)
    workers, maint = report["windows"]["workers_down"], report["windows"]["maintenance"]
    assert workers is not None and encloses(workers, maint)
    seen = shots(out)
    for point in inside:
        assert seen[point]["maintenance"] is True, seen[point]
        assert seen[point]["preboot"] is False, seen[point]
        assert seen[point]["formation"]["worker"] == 0, seen[point]
        assert seen[point]["formation"]["web"] == 2, seen[point]
    assert_pushed(proj, report, source)
    assert len(proj.applied()) == 2
    state = proj.state()
    assert_clean(state)
    assert state["preboot"] is True
    assert state["formation"] == [("web", 2, "Standard-1X"), ("worker", 2, "Standard-1X")]

    # no migration: push only, no window of either kind, nothing migrated
    source = proj.commit({"index.html": "v3\n"})
    _, report = proj.deploy("--strategy", "conditional", runtime=config)
    assert report["ok"] and not report["migrations"]["pending"]
    assert steps(report) == ["check", "lock.acquire", "app.push", "lock.release"]
    assert window(report) == []
    assert report["windows"] == {"maintenance": None, "workers_down": None}
    assert ("before", "app.push") in shots(out)
    assert shots(out)[("before", "app.push")]["maintenance"] is False
    assert_pushed(proj, report, source)
    assert len(proj.applied()) == 2
    state = proj.state()
    assert state["preboot"] is True
    assert state["formation"] == [("web", 2, "Standard-1X"), ("worker", 2, "Standard-1X")]


@pytest.mark.parametrize("strategy", ["naive", "conditional"])
def test_failed_release_phase_fails_the_push_deploy(tally, strategy):
    """git push succeeds when only the release phase fails (the build is done,
    the commit is on the remote), so the deploy must look at the release the
    build made, not at whatever release is current."""
    procfile = (tally.root / "Procfile").read_text() + "release: bin/migrate\n"
    tally.commit({"Procfile": procfile})
    _, report = tally.deploy("--strategy", strategy)
    assert report["ok"] and "db.migrate" not in steps(report)
    before = tally.current()
    tally.api.patch(f"/apps/{tally.app}/config-vars", {"FAIL_MIGRATION": "1"})
    kept = tally.current()  # the config change made a release of the same slug
    assert kept["slug"]["id"] == before["slug"]["id"]

    tally.add_migration()
    done, report = tally.deploy("--strategy", strategy, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("herotasks: app.push failed: release v"), last
    assert "failed" in last[len("herotasks: app.push failed"):], last
    assert not report["ok"] and report["error"].startswith("app.push failed")
    # the app still runs the release it ran, and nothing is left open
    assert tally.current()["id"] == kept["id"]
    assert_clean(tally.state())


@pytest.mark.parametrize("strategy", ["naive", "conditional"])
def test_push_deploy_of_the_running_commit_again(tally, strategy):
    """A re-run (a retried CI job): git has nothing new, Heroku builds
    nothing, and the release the app runs is the deploy's release."""
    _, first = tally.deploy("--strategy", strategy)
    _, again = tally.deploy("--strategy", strategy)
    assert again["ok"] and again["release"] == first["release"]
    assert again["migrations"] == {"pending": False,
                                   "reason": "the same commit is deployed"}
    assert tally.current()["id"] == first["release"]["id"]


def test_push_deploy_after_a_rollback_says_nothing_was_built(tally):
    """Pushing a commit the app's repository already has builds nothing, so a
    naive deploy cannot undo a rollback; it must say so, not report the
    rolled-back release as its own."""
    tally.deploy("--strategy", "naive")
    tally.commit({"index.html": "v2\n"})
    _, pushed = tally.deploy("--strategy", "naive")
    tally.inv("deploy.rollback", "--stage", "production")
    rolled = tally.current()
    done, report = tally.deploy("--strategy", "naive", check=False)
    assert done.returncode == 1 and not report["ok"]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("herotasks: app.push failed: the push of "), last
    assert "made no release" in last
    assert tally.current()["id"] == rolled["id"] != pushed["release"]["id"]
    assert_clean(tally.state())
