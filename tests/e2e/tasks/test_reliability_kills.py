"""The reliability matrix, kills: herotasks is killed (kill -9, from a hook)
right after each step of a deploy with a migration, for every strategy and
promote method; ``deploy.recover`` then leads out, and the end state is as
before the deploy or as fully deployed, with code and schema agreeing.

The kills inside the herotasks window are in test_e2e_deploy
(test_kill_in_the_window_then_recover); this covers every other boundary.
herotasks by slug's kills are recovered with the local journal gone (from
the lock's copy, as from another machine), each boundary once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from herotasks.core import journal as jn
from tests.support.reliability import SETUPS, BenchPool, bench_plan, reset

pytestmark = pytest.mark.e2e



def kill_points(setup: tuple[str, str]) -> list[str]:
    """Every step of the bench's plan (from the planner, tests.support.
    reliability.bench_plan); for herotasks
    promoting by slug, the window's own steps are killed in test_e2e_deploy
    (test_kill_in_the_window_then_recover) instead."""
    from herotasks.core.steps import STEPS

    points = []
    for step in bench_plan(setup).steps:
        covered = setup == ("herotasks", "slug") and (
            step.in_window or STEPS[step.name].opens_window == "maintenance")
        if not covered:
            points.append(step.name)
    return points


#: The setup whose kills are recovered from the lock's copy of the journal
#: (test_killed_then_recovered_from_the_lock_copy), not from the local one.
SETUP = ("herotasks", "slug")

# herotasks by slug is killed at each of its steps once, recovered from the
# lock's copy (below), the harder way out: the recovery that follows is the
# same code whichever copy it read, and the local journal's way out is
# killed here at the same steps for the three other setups, and inside the
# window for herotasks by slug in test_e2e_deploy.
CASES = [(setup, step) for setup in SETUPS if setup != SETUP
         for step in kill_points(setup)]


@pytest.fixture(scope="session")
def benches(sandbox, api, tools, git_env, tmp_path_factory):
    """One app per setup and pytest process, made on first use."""
    pool = BenchPool(api, tools, git_env, tmp_path_factory)
    yield pool
    pool.drop_all()


@pytest.fixture
def bench(request, benches):
    """The app of the case's setup (``request.param``), shared by its cases."""
    return benches.get(request.param)


# A setup's cases share its app, so they run in one pytest process; the four
# setups spread over the processes (tests/conftest.py: xdist groups).
@pytest.mark.parametrize("bench,step", [
    pytest.param(setup, step, marks=pytest.mark.xdist_group(f"kills-{'-'.join(setup)}"))
    for setup, step in CASES], indirect=["bench"],
    ids=[f"{'-'.join(setup)}-{step}" for setup, step in CASES])
def test_killed_after_a_step_then_recovered(bench, step):
    before = bench.snapshot()
    bench.deploy_killed_after(step)
    said = bench.recover_until_done()
    try:
        bench.assert_end_state(before, said)
    finally:
        reset(bench, before)


# -- the cuts of issue 20 -------------------------------------------------------------
# herotasks by slug's kills, recovered from another machine (only the
# journal kept with the lock), or with --keep-code (then the migration it
# offers), each ending where every case must.


def window_points(setup: tuple[str, str]) -> list[str]:
    """The steps of the bench's plan that open the maintenance window or run
    in it (for herotasks by slug, what kill_points leaves to test_e2e_deploy)."""
    from herotasks.core.steps import STEPS

    return [s.name for s in bench_plan(setup).steps
            if s.in_window or STEPS[s.name].opens_window == "maintenance"]


WINDOW = window_points(SETUP)
LOCK_COPY = kill_points(SETUP) + WINDOW


def group(name: str) -> pytest.MarkDecorator:
    """Each group has its own bench app and runs in one pytest process; the
    cuts are spread over several so no process runs them all in a row."""
    return pytest.mark.xdist_group(f"kills-issue20-{name}")


@pytest.mark.parametrize("bench,step", [
    pytest.param(SETUP, step, marks=group(f"copy{i % 3}")) for i, step in enumerate(LOCK_COPY)],
    indirect=["bench"], ids=LOCK_COPY)
def test_killed_then_recovered_from_the_lock_copy(bench, step):
    before = bench.snapshot()
    bench.deploy_killed_after(step)
    bench.journal().unlink(missing_ok=True)  # another machine: no journal
    said = bench.recover_until_done()
    try:
        bench.assert_end_state(before, said)
    finally:
        reset(bench, before)


@pytest.mark.parametrize("bench,step", [
    pytest.param(SETUP, step, marks=group("keep-code")) for step in WINDOW],
    indirect=["bench"], ids=WINDOW)
def test_killed_then_kept_with_keep_code(bench, step):
    before = bench.snapshot()
    bench.deploy_killed_after(step)
    done = bench.proj.inv("deploy.recover", "--stage", "production", "--keep-code",
                          check=False)
    said = [done.stdout + done.stderr]
    try:
        assert done.returncode == 0, said
        last = done.stdout.strip().splitlines()[-1]
        assert last.startswith("recover: kept"), said
        if "without migration" in last:  # the way out it offers
            bench.proj.inv("db.migrate", "--stage", "production")
        after = bench.snapshot()
        # (a hand-run db.migrate keeps its own journal, with nothing open)
        left = jn.load(bench.journal().parent.parent, bench.proj.app)
        assert left is None or not left.has_open(), said
        for key in ("maintenance", "lock", "scratch"):
            assert after[key] is False, (key, said)
        for key in ("formation", "preboot", "config"):
            assert after[key] == before[key], (key, said)
        assert set(bench.proj.applied()) == bench.live_migrations(), said
    finally:
        reset(bench, before)


# The health check's rollback, cut off: the new release's worker crashes, the
# check rolls back, and herotasks is killed as the rollback release appears
# (before the journal hears of it). Recovery must not call the new release
# live; it ends as before the deploy.
CRASHING = ("web: python3 -m http.server $PORT --bind 127.0.0.1\n"
            "worker: python3 -c \"import time; time.sleep(4); raise SystemExit(1)\"\n")


@pytest.mark.parametrize("bench", [pytest.param(SETUP, marks=group("keep-code"))],
                         indirect=True, ids=["herotasks-slug"])
def test_killed_during_the_health_checks_rollback_then_recovered(bench, tools):
    proj = bench.proj
    # From what is live: a case before this one on the same bench that ended
    # as before its deploy left its migration's commit undeployed, and a
    # release that migrates is (rightly) not rolled back.
    proj.git("reset", "-q", "--hard", bench.live_commit())
    before = bench.snapshot()
    procfile = (proj.root / "Procfile").read_text()
    proj.commit({"Procfile": CRASHING}, "a release whose worker crashes")
    known = {r["id"] for r in proj.api.get(f"/apps/{proj.app}/releases")}
    runtime = proj.root.parent / "health.yaml"  # the setup's own body is empty
    runtime.write_text("herotasks:\n  health: {watch: 10}\n")
    deploy = subprocess.Popen(
        [sys.executable, "-m", "invoke", "-f", str(runtime), "deploy.production"],
        cwd=proj.root, env=proj.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, stdin=subprocess.DEVNULL)
    try:
        def rolling_back() -> bool:  # the promotion's release, then the rollback's
            assert deploy.poll() is None, deploy.communicate()
            new = [r for r in proj.api.get(f"/apps/{proj.app}/releases")
                   if r["id"] not in known]
            return len(new) >= 2
        tools.wait_until(rolling_back, 240, 0.5, "the health check's rollback")
        os.kill(deploy.pid, signal.SIGKILL)
    finally:
        deploy.communicate()
    assert deploy.returncode == -signal.SIGKILL
    said = bench.recover_until_done()
    try:
        assert not any("the new release is live" in s for s in said), said
        bench.assert_end_state(before, said)
    finally:
        reset(bench, before)
        proj.commit({"Procfile": procfile}, "the Procfile back")
