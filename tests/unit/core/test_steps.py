"""The step catalogue and the strategy records: one structure the planner, the
engine, hooks, hand-run tasks and recovery all read, so they cannot disagree."""

from __future__ import annotations

import inspect
import itertools
from dataclasses import replace
from types import SimpleNamespace

import pytest

from herotasks.core import plan as plan_mod
from herotasks.core import strategies
from herotasks.core.classify import Finding, Verdict
from herotasks.core.config import Settings
from herotasks.core.plan import plan_deploy
from herotasks.core.report import WINDOWS
from herotasks.core.state import Pending, Process, State
from herotasks.core.steps import STEP_NAMES, STEPS, UNDOS, check_hooks
from herotasks.core.strategies import STRATEGIES, Strategy
from herotasks.errors import ConfigError

STAGES = {"production": {"app": "tally-prod"}}


def settings(**tree) -> Settings:
    return Settings.resolve({"herotasks": {"stages": STAGES, "preset": "rails",
                                           **tree}}, stage="production")


def states():
    """Every combination of the facts the planner branches on."""
    online = (Verdict("db/migrate/002_add.rb", "online", "create_table"),)
    window = (Verdict("db/migrate/002_drop.rb", "window", "rename_column"),)
    contract = (Verdict("db/migrate/002_drop.rb", "after", "drop_table"),)
    # a dropped column that may be NOT NULL: db.expand before the release
    gap = (Verdict("db/migrate/002_drop.rb", "after", "remove_column", "", (
        Finding(3, "remove_column", "after", "", "votes.label"),)),)
    for pending, preboot, allowed, maint, workers, phase, rebuild, verdicts in (
            itertools.product((True, False), (True, False), (True, False),
                              (True, False), (True, False), (True, False),
                              (True, False, None),
                              ((), online, window, contract, gap))):
        formation = (Process("web", 1, "standard-1x"),) + (
            (Process("worker", 2, "standard-1x"),) if workers else ())
        yield State(app="tally-prod", stage="production", new_commit="b" * 40,
                    deployed_commit="a" * 40, pending=Pending(pending, "x"),
                    preboot=preboot, preboot_allowed=allowed, maintenance=maint,
                    formation=formation, release_phase=phase,
                    assets_rebuild=rebuild, migrations=verdicts if pending else (),
                    database_url=True)


def every_plan():
    for strategy, method, migrate in itertools.product(
            STRATEGIES, ("slug", "pipeline"), (None, False)):
        tree = {"strategy": strategy, "promote": {"method": method}}
        if migrate is False:
            tree["migrations"] = {"command": False}
        s = settings(**tree)
        for st in states():
            yield plan_deploy(st, s), s


def test_every_step_a_plan_can_contain_is_complete():
    seen = set()
    for plan, _ in every_plan():
        for step in plan.steps:
            spec = STEPS[step.name]
            seen.add(step.name)
            assert callable(spec.action), step.name
            assert spec.undone_by, f"{step.name} has no undo policy"
            assert spec.undo is None or spec.undo in UNDOS, step.name
            assert step.description.strip(), f"{step.name} has no description"
            assert step.in_window <= spec.in_window, step.name
    # and the catalogue holds nothing a plan never uses
    assert seen == set(STEPS)


def test_what_a_step_closes_or_opens_exists():
    for spec in STEPS.values():
        assert set(spec.closes) <= set(STEPS), spec.name
        for window in (spec.opens_window, spec.closes_window):
            assert window is None or window in WINDOWS, spec.name
    opened = {s.opens_window for s in STEPS.values() if s.opens_window}
    # every window a step opens, a step and an undo can close
    assert opened <= {s.closes_window for s in STEPS.values()}
    assert opened <= {u.closes_window for u in UNDOS.values()}
    for spec in STEPS.values():
        if spec.opens_window:
            undo = UNDOS[spec.undo]
            assert undo.closes_window == spec.opens_window, spec.name


def test_a_plan_closes_every_window_it_opens():
    for plan, _ in every_plan():
        names = plan.names()
        for i, name in enumerate(names):
            window = STEPS[name].opens_window
            if window:
                assert any(STEPS[n].closes_window == window for n in names[i:]), (
                    plan.strategy, names)


def test_each_plan_has_one_promotion_first_of_its_live_steps():
    for plan, _ in every_plan():
        promotes = [i for i, s in enumerate(plan.steps) if s.spec.promotes]
        assert len(promotes) == 1
        live = [i for i, s in enumerate(plan.steps) if s.spec.goes_live]
        assert live[0] == promotes[0], plan.names()
        # nothing that needs the window comes after the point of no return
        assert not any(s.in_window for s in plan.steps[live[-1] + 1:])


def test_hooks_are_checked_against_the_catalogue():
    for name in STEP_NAMES:
        s = check_hooks(settings(hooks={"before": {name: "true"}}))
        assert s.hooks_before[name] == ("true",)
    with pytest.raises(ConfigError, match="unknown step 'db.migrat'") as err:
        check_hooks(settings(hooks={"after": {"db.migrat": "true"}}))
    assert "\n" not in str(err.value)


def test_the_tasks_check_hooks_against_the_catalogue():
    from invoke import Config

    from herotasks.tasks._support import settings as task_settings

    config = Config(overrides={"herotasks": {"stages": STAGES, "preset": "rails",
                                             "hooks": {"before": {"slug.bild": "true"}}}})
    with pytest.raises(ConfigError, match="unknown step 'slug.bild'"):
        task_settings(SimpleNamespace(config=config), "production")


def test_the_planner_compares_no_strategy_names():
    source = inspect.getsource(plan_mod)
    for name in STRATEGIES:
        assert f'"{name}"' not in source and f"'{name}'" not in source


def test_a_new_strategy_is_one_record(monkeypatch):
    push_preboot = Strategy("push-preboot", "push, preboot, wait",
                            precompiles=False, scratch_build=False,
                            always_window=False, stops_workers=False,
                            preboot_off_in_window=False,
                            preboot_without_window=True, waits_for_dynos=True)
    monkeypatch.setitem(strategies.STRATEGIES, push_preboot.name, push_preboot)
    s = settings(strategy="push-preboot")
    st = next(iter(states()))
    st = replace(st, pending=Pending(False, "none"), preboot=False,
                 preboot_allowed=True)
    plan = plan_deploy(st, s)
    assert plan.names() == ["lock.acquire", "preboot.on", "app.push",
                            "dynos.wait", "preboot.restore", "lock.release"]
    assert plan.describe().count("app.push") == 1


def test_the_window_looks_at_the_dynos_briskly_but_within_the_budget():
    from itertools import accumulate, islice

    from herotasks.core.actions import window_pauses

    # no boot known: from 0.25 s, doubling; a 300 s boot costs no more looks
    # than the 13 outside the window (the deploy's 60 requests hold)
    first = list(islice(window_pauses(None), 12))
    assert first[:3] == [0.25, 0.5, 1.0]
    assert sum(1 for t in accumulate(first) if t < 300) + 1 <= 13
    # a known boot (the held migration dyno's): the first look waits most of
    # it, then brisk looks around its end, then doubling
    assert list(islice(window_pauses(10.0), 7)) == [6.0, 0.25, 0.25, 0.25, 0.25,
                                                     0.5, 1.0]
    assert next(window_pauses(0.1)) == 0.25  # a quick boot: brisk at once
    # dynos booting since the promotion (no restart after the migration):
    # only what is left of the boot is waited out before looking
    assert next(window_pauses(10.0, booting_for=5.0)) == 3.0
    assert next(window_pauses(1.5, booting_for=1.4)) == 0.25
    # still within the budget at a 300 s boot: a few looks more than without
    known = list(islice(window_pauses(10.0), 30))
    assert sum(1 for t in accumulate(known) if t < 300) + 1 <= 17


def test_the_held_migration_dyno_is_not_kept_with_the_lock_and_closes_quietly():
    spec = STEPS["db.prestart"]
    # it dies with this process (its connection), and the scratch app's undo,
    # kept with the lock, takes it too: no request spent on a copy
    assert spec.undo == "dyno.stop" and not spec.publishes
    assert spec.name in STEPS["db.migrate"].closes_quietly
