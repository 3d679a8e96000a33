"""Contract migrations (``after``, issue 16): the plan runs them once the new
release is live and the old one gone, with no window, unless something makes
the gap unsafe, and then it takes the window and says why."""

from __future__ import annotations

from herotasks.core.classify import Finding, Verdict
from herotasks.core.config import Settings
from herotasks.core.plan import plan_deploy
from herotasks.core.state import Pending, Process, State

STAGES = {"production": {"app": "tally-prod"}}


def settings(**tree) -> Settings:
    return Settings.resolve({"herotasks": {"stages": STAGES, "preset": "rails",
                                           **tree}}, stage="production")


def after(path: str, *columns: str) -> Verdict:
    found = tuple(Finding(3, "remove_column", "after", "", c) for c in columns) or (
        Finding(3, "drop_table", "after"),)
    return Verdict(path, "after", "contract", "Rails, read statically", found)


def online(path: str) -> Verdict:
    return Verdict(path, "online", "add_column")


def state(*verdicts: Verdict, **kw) -> State:
    base = dict(
        app="tally-prod", stage="production", new_commit="b" * 40,
        deployed_commit="a" * 40, current_version=7,
        pending=Pending(True, "db/migrate changed"),
        preboot=False, preboot_allowed=True,
        formation=(Process("web", 2, "standard-1x"), Process("worker", 1, "standard-1x")),
        migrations=verdicts,
    )
    base.update(kw)
    return State(**base)


DROP_TABLE = after("db/migrate/2_drop_votes.rb")


def test_a_drop_only_deploy_takes_no_window_and_contracts_after_the_switch():
    plan = plan_deploy(state(DROP_TABLE), settings())
    assert not plan.window
    names = plan.names()
    assert "db.migrate" not in names and "db.premigrate" not in names
    assert "maintenance.on" not in names and "workers.stop" not in names
    # after preboot's switch (preboot.restore waits for it) and the health
    # check, whose rollback must never cross a contract
    assert (names.index("slug.promote") < names.index("preboot.restore")
            < names.index("health.check") < names.index("db.postmigrate")
            < names.index("scratch.destroy"))
    step = plan.step("db.postmigrate")
    assert not step.in_window
    assert "no dyno of v7 is left" in step.description
    assert "db/migrate/2_drop_votes.rb" in step.description
    text = plan.describe()
    assert "window:      none (contract migrations after the release" in text
    assert "rolling back past them is refused" in text


def test_other_strategies_take_the_window():
    for strategy in ("conditional", "naive"):
        plan = plan_deploy(state(DROP_TABLE), settings(strategy=strategy))
        assert plan.window and "db.postmigrate" not in plan.names()


def test_mixed_with_an_online_migration_takes_the_window_and_says_how_to_split():
    plan = plan_deploy(state(online("db/migrate/1_add.rb"), DROP_TABLE), settings())
    assert plan.window and "db.postmigrate" not in plan.names()
    assert any("runs every pending migration" in n and "two deploys" in n
               for n in plan.notes)


def test_a_migration_after_the_contract_takes_the_window():
    plan = plan_deploy(state(DROP_TABLE, online("db/migrate/3_add.rb")), settings())
    assert plan.window
    assert any("db/migrate/3_add.rb follows the contract migration "
               "db/migrate/2_drop_votes.rb" in n for n in plan.notes)


def test_a_release_phase_takes_the_window_and_says_what_to_change():
    plan = plan_deploy(state(DROP_TABLE, release_phase=True), settings())
    assert plan.window
    assert any("Procfile's release: line" in n for n in plan.notes)


def test_a_dropped_column_that_may_be_not_null_takes_the_window():
    plan = plan_deploy(state(after("db/migrate/2_x.rb", "counters.label")), settings())
    assert plan.window
    assert any("drops column counters.label" in n and "NOT NULL" in n
               for n in plan.notes)
    assert "window: " in plan.describe()


def test_a_window_file_wins():
    plan = plan_deploy(state(DROP_TABLE, Verdict("db/migrate/3.rb", "window", "rename")),
                       settings())
    assert plan.window and "db.postmigrate" not in plan.names()
    assert not any(n.startswith("window: ") for n in plan.notes)


def test_the_state_is_not_online_with_a_contract():
    st = state(DROP_TABLE)
    assert not st.online and st.contract == (DROP_TABLE,)
