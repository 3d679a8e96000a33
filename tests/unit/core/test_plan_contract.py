"""Contract migrations (``after``, issue 16): the plan runs them once the new
release is live and the old one gone, with no window, unless something makes
the gap unsafe, and then it takes the window and says why."""

from __future__ import annotations

import pytest

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


def _rename(preset: str, path: str, text: str) -> str:
    from herotasks.core.classify import classify

    verdict = classify(preset, path, text)
    assert verdict.kind == "window"
    extra = {} if preset != "custom" else {
        "assets": {"command": False},
        "migrations": {"command": "./migrate", "paths": ["db/m"]}}
    return plan_deploy(state(verdict), settings(preset=preset, **extra)).describe()


def test_a_rename_prints_its_no_window_recipe_naming_the_files():
    text = _rename("django", "tally/migrations/0004_rename.py",
                   "from django.db import migrations\n\n\n"
                   "class Migration(migrations.Migration):\n"
                   "    operations = [migrations.RenameField(model_name='counter', "
                   "old_name='label', new_name='title')]\n")
    assert "no window for this rename, over five deploys" in text
    for part in ("1. add the new column, nullable: tally/migrations/0004_add_<new>.py",
                 "2. the code writes both the old and the new column",
                 "3. backfill the new from the old in batches: "
                 "tally/migrations/0005_backfill_<new>.py",
                 "4. the code reads the new column only",
                 "5. drop the old: tally/migrations/0006_remove_<old>.py (after"):
        assert part in text, part


def test_a_type_change_prints_the_rails_recipe_with_a_post_deploy_drop():
    text = _rename("rails", "db/migrate/20261204101200_widen.rb",
                   "class Widen < ActiveRecord::Migration[7.1]\n  def change\n"
                   "    change_column :counters, :n, :bigint\n  end\nend\n")
    assert "no window for this type change" in text
    assert "1. add a column of the new type, nullable: db/migrate/<timestamp>_add_<new>.rb" in text
    assert "5. drop the old: db/post_migrate/<timestamp>_remove_<old>.rb" in text


def test_a_table_rename_and_other_window_files_print_no_column_recipe():
    text = _rename("custom", "db/m/5.sql", "ALTER TABLE votes RENAME TO ballots;")
    assert "1. add the new table: db/m/<next>_add_<new>.sql" in text
    assert "no window for this" not in _rename("custom", "db/m/5.sql",
                                               "CREATE INDEX i ON t (a);")


def test_a_dropped_column_that_may_be_not_null_is_expanded_before_the_release():
    """Issue 16, item 2: the expand part first (the column made nullable,
    online, before the release), then the release, then the contract; no
    window, and the plan says so."""
    plan = plan_deploy(state(after("db/migrate/2_x.rb", "counters.label"),
                             database_url=True), settings())
    assert not plan.window
    names = plan.names()
    assert "db.migrate" not in names and "maintenance.on" not in names
    assert (names.index("slug.build") < names.index("health.precheck")
            < names.index("db.expand") < names.index("slug.promote")
            < names.index("db.postmigrate"))
    step = plan.step("db.expand")
    assert not step.in_window
    assert "counters.label nullable" in step.description
    assert "DROP NOT NULL" in step.description
    text = plan.describe()
    assert "window:      none (dropped columns made nullable before the release" in text
    assert any(n.startswith("expand before the release: counters.label made "
                            "nullable") for n in plan.notes)
    assert not any(n.startswith("window: ") for n in plan.notes)


def test_no_expand_when_nothing_is_left_unproven():
    plan = plan_deploy(state(DROP_TABLE, database_url=True), settings())
    assert not plan.window and "db.expand" not in plan.names()


@pytest.mark.parametrize("verdict, why", [
    # Django read statically: a model and a field, no table to write SQL for
    (Verdict("tally/migrations/0003_x.py", "after", "contract", "Django",
             (Finding(3, "RemoveField", "after", "", "counter.label", db_names=False),)),
     "named by its model and field"),
    (after("db/migrate/2_x.rb", "?.label"), "not known from the file"),
])
def test_a_column_herotasks_cannot_name_takes_the_window_and_says_why(verdict, why):
    plan = plan_deploy(state(verdict, database_url=True), settings())
    assert plan.window and "db.expand" not in plan.names()
    note, = (n for n in plan.notes if n.startswith("window: "))
    assert why in note and "cannot make it nullable before the release" in note


def test_without_a_postgres_database_url_the_gap_takes_the_window():
    plan = plan_deploy(state(after("db/migrate/2_x.rb", "counters.label"),
                             database_url=False), settings())
    assert plan.window and "db.expand" not in plan.names()
    assert any("no PostgreSQL DATABASE_URL" in n for n in plan.notes)


def test_one_drop_that_cannot_be_expanded_takes_the_window_for_all():
    mixed = Verdict("db/migrate/2_x.rb", "after", "contract", "Rails", (
        Finding(3, "remove_column", "after", "", "counters.label"),
        Finding(4, "remove_column", "after", "", "?.note")))
    plan = plan_deploy(state(mixed, database_url=True), settings())
    assert plan.window and "db.expand" not in plan.names()
    assert not any("counters.label" in n for n in plan.notes)


def test_a_release_phase_with_a_gap_takes_the_window_with_no_expand():
    plan = plan_deploy(state(after("db/migrate/2_x.rb", "counters.label"),
                             database_url=True, release_phase=True), settings())
    assert plan.window and "db.expand" not in plan.names()
    assert any("Procfile's release: line" in n for n in plan.notes)
