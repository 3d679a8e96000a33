"""The reliability matrix, kills: herotasks is killed (kill -9, from a hook)
right after each step of a deploy with a migration, for every strategy and
promote method; ``deploy.recover`` then leads out, and the end state is as
before the deploy or as fully deployed, with code and schema agreeing.

The kills inside the herotasks window are in test_e2e_deploy
(test_kill_in_the_window_then_recover); this covers every other boundary.
"""

from __future__ import annotations

import pytest

from tests.support.reliability import SETUPS, bench_plan, drop_bench, make_bench, reset

pytestmark = pytest.mark.e2e



def kill_points(setup: tuple[str, str]) -> list[str]:
    """Every step of the bench's plan (from the planner, tests.support.
    reliability.bench_plan) but ``check``, which changes nothing; for herotasks
    promoting by slug, the window's own steps are killed in test_e2e_deploy
    (test_kill_in_the_window_then_recover) instead."""
    from herotasks.core.steps import STEPS

    points = []
    for step in bench_plan(setup).steps:
        covered = setup == ("herotasks", "slug") and (
            step.in_window or STEPS[step.name].opens_window == "maintenance")
        if step.name != "check" and not covered:
            points.append(step.name)
    return points


CASES = [(setup, step) for setup in SETUPS for step in kill_points(setup)]


@pytest.fixture(scope="module")
def bench(request, sandbox, api, tools, git_env, tmp_path_factory):
    """One app per setup (pytest groups the cases by it)."""
    made, pipeline = make_bench(request.param, api, tools, git_env,
                                tmp_path_factory.mktemp("kills"))
    yield made
    drop_bench(made, pipeline, api)


# A setup's cases share its app, so they run in one pytest process; the four
# setups spread over the processes (tests/conftest.py: xdist groups).
@pytest.mark.parametrize("bench,step", [
    pytest.param(setup, step, marks=pytest.mark.xdist_group(f"kills-{'-'.join(setup)}"))
    for setup, step in CASES], indirect=["bench"],
    ids=[f"{'-'.join(setup)}-{step}" for setup, step in CASES])
def test_killed_after_a_step_then_recovered(bench, step):
    before = bench.snapshot()
    bench.proj.add_migration()
    kill = bench.runtime({"after": {step: ["kill -9 $PPID"]}})
    done, _ = bench.proj.deploy(check=False, runtime=kill)
    assert done.returncode != 0, f"the kill after {step} never happened"
    said = bench.recover_until_done()
    try:
        bench.assert_end_state(before, said)
    finally:
        reset(bench, before)
