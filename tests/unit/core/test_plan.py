"""plan_deploy: the observed state decides the steps and the window."""

from __future__ import annotations

import pytest

from herotasks.core.classify import Verdict
from herotasks.core.config import Settings
from herotasks.core.facts import Facts
from herotasks.core.plan import plan_deploy, replan
from herotasks.core.state import (
    Pending,
    Process,
    State,
    formation_from_api,
    preboot_allowed,
)

STAGES = {"production": {"app": "tally-prod"}}


def settings(**tree) -> Settings:
    return Settings.resolve({"herotasks": {"stages": STAGES, "preset": "rails",
                                           **tree}}, stage="production")


def state(**kw) -> State:
    base = dict(
        app="tally-prod", stage="production", new_commit="b" * 40,
        deployed_commit="a" * 40,
        pending=Pending(True, "db/migrate changed: 1 file"),
        preboot=True, preboot_allowed=True,
        formation=(Process("web", 2, "standard-1x"), Process("worker", 3, "standard-2x"),
                   Process("clock", 0, "standard-1x")),
        assets_rebuild=True, assets_reason="no earlier compiled commit",
    )
    base.update(kw)
    return State(**base)


class TestHerotasksStrategy:
    def test_migration_opens_a_window_around_promote_migrate_restart(self):
        plan = plan_deploy(state(), settings())
        assert plan.window
        assert plan.names() == [
            "lock.acquire", "assets.precompile", "scratch.create",
            "slug.build", "health.precheck", "preboot.off", "workers.stop",
            "maintenance.on", "slug.promote", "db.migrate", "dynos.restart",
            "dynos.wait", "maintenance.off", "workers.restore", "preboot.restore",
            "health.check", "scratch.destroy", "lock.release",
        ]
        inside = [s.name for s in plan.steps if s.in_window]
        assert inside == ["slug.promote", "db.migrate", "dynos.restart", "dynos.wait"]

    def test_only_running_workers_stop(self):
        plan = plan_deploy(state(), settings())
        assert "worker=3" in plan.step("workers.stop").description
        assert "clock" not in plan.step("workers.stop").description

    def test_no_migration_means_no_window_and_preboot(self):
        plan = plan_deploy(state(pending=Pending(False, "no changes"), preboot=False),
                           settings())
        assert not plan.window
        assert not any(s.in_window for s in plan.steps)
        names = plan.names()
        assert "maintenance.on" not in names and "workers.stop" not in names
        assert names.index("preboot.on") < names.index("slug.promote")
        assert names.index("preboot.restore") > names.index("dynos.wait")
        assert "db.migrate" not in names

    def test_preboot_already_on_is_left_alone_without_window(self):
        plan = plan_deploy(state(pending=Pending(False, "x")), settings())
        assert not {"preboot.on", "preboot.off", "preboot.restore"} & set(plan.names())

    def test_preboot_not_allowed_is_noted(self):
        plan = plan_deploy(state(pending=Pending(False, "x"), preboot=False,
                                 preboot_allowed=False), settings())
        assert "preboot.on" not in plan.names()
        assert any("no preboot" in n for n in plan.notes)

    def test_release_phase_does_not_migrate_twice(self):
        plan = plan_deploy(state(release_phase=True), settings())
        assert plan.window
        assert "db.migrate" not in plan.names()
        # the window is open before promotion, which runs the release phase
        names = plan.names()
        assert names.index("maintenance.on") < names.index("slug.promote")
        assert plan.step("slug.promote").in_window
        assert any("release phase" in n for n in plan.notes)

    def test_unknown_deployed_commit_is_pending(self):
        # observe turns unknown into pending; the planner then opens the window
        plan = plan_deploy(state(deployed_commit=None,
                                 pending=Pending(True, "deployed commit unknown")),
                           settings())
        assert plan.window and "db.migrate" in plan.names()

    def test_maintenance_already_on_stays_on(self):
        plan = plan_deploy(state(maintenance=True), settings())
        assert "maintenance.on" not in plan.names()
        assert "maintenance.off" not in plan.names()

    def test_no_asset_step(self):
        s = settings(assets={"command": False})
        plan = plan_deploy(state(assets_rebuild=None), s)
        assert "assets.precompile" not in plan.names()

    def test_no_migrate_command_never_opens_window(self):
        s = settings(migrations={"command": False})
        plan = plan_deploy(state(), s)
        assert not plan.window and "db.migrate" not in plan.names()

    def test_pipeline_method_is_described(self):
        plan = plan_deploy(state(), settings(promote={"method": "pipeline"}))
        assert "pipeline promotion" in plan.step("slug.promote").description

    def test_every_changing_step_says_how_to_undo(self):
        for step in plan_deploy(state(), settings()).steps:
            if step.spec.journaled:
                assert step.spec.undone_by, step.name


class TestOtherStrategies:
    def test_naive_always_has_a_window_and_migrates(self):
        # the naive: maintenance on, push, migrate, maintenance off
        plan = plan_deploy(state(pending=Pending(False, "x")),
                           settings(strategy="naive"))
        assert plan.window
        # and no local precompile: Heroku's build compiles the assets, inside
        # the window, as it does for the tools naive stands for
        assert plan.names() == [
            "lock.acquire", "maintenance.on",
            "app.push", "db.migrate", "dynos.restart", "maintenance.off",
            "lock.release",
        ]

    def test_naive_with_migration(self):
        plan = plan_deploy(state(), settings(strategy="naive"))
        inside = [s.name for s in plan.steps if s.in_window]
        assert inside == ["app.push", "db.migrate", "dynos.restart"]
        assert "workers.stop" not in plan.names()  # naive does not do that
        assert "scratch.create" not in plan.names()

    def test_conditional_without_migration_has_no_window(self):
        plan = plan_deploy(state(pending=Pending(False, "x")),
                           settings(strategy="conditional"))
        assert not plan.window
        assert "app.push" in plan.names() and "maintenance.on" not in plan.names()
        assert "assets.precompile" not in plan.names()

    def test_conditional_with_migration_stops_workers(self):
        plan = plan_deploy(state(), settings(strategy="conditional"))
        names = plan.names()
        assert names.index("workers.stop") < names.index("maintenance.on")
        assert names.index("workers.restore") > names.index("maintenance.off")


class TestReplan:
    def test_slug_with_release_phase_drops_migrate(self):
        s = settings()
        plan = plan_deploy(state(), s)
        again = replan(plan, s, Facts(release_phase=True))
        assert "db.migrate" not in again.names()
        # everything up to the build is identical, so the engine can continue
        cut = plan.names().index("slug.build") + 1
        assert again.names()[:cut] == plan.names()[:cut]

    def test_same_answer_keeps_the_plan(self):
        s = settings()
        plan = plan_deploy(state(), s)
        assert replan(plan, s, Facts(release_phase=False)) is plan


class TestDescribe:
    def test_says_commits_migrations_assets_window_workers(self):
        text = plan_deploy(state(), settings()).describe()
        assert "aaaaaaaaaa -> bbbbbbbbbb" in text
        assert "pending (db/migrate changed: 1 file)" in text
        assert "rebuilt" in text
        assert "maintenance around slug.promote" in text
        assert "worker=3:standard-2x" in text

    def test_no_window_text(self):
        text = plan_deploy(state(pending=Pending(False, "no changes under db/migrate"),
                                 preboot=False), settings()).describe()
        assert "none (promote with preboot)" in text
        assert "workers stop: none" in text

    def test_unknown_deployed_commit(self):
        text = plan_deploy(state(deployed_commit=None), settings()).describe()
        assert "(unknown) -> bbbbbbbbbb" in text


@pytest.mark.parametrize("sizes,allowed", [
    (["standard-1x"], True), (["Performance-M"], True), (["eco"], False),
    (["Basic"], False), ([], False),
])
def test_preboot_allowed(sizes, allowed):
    formation = tuple(Process("web", 1, s) for s in sizes) + (
        Process("worker", 1, "eco"),)
    assert preboot_allowed(formation) is allowed


def test_no_preboot_in_a_private_space_whatever_the_sizes():
    """Preboot is a Common Runtime feature; Private Spaces deploy rolling."""
    web = (Process("web", 2, "Private-M"), Process("web", 1, "standard-1x"))
    assert preboot_allowed(web[1:]) is True
    assert preboot_allowed(web[1:], space="acme-space") is False
    assert preboot_allowed(web[:1], space="acme-space") is False


def test_private_space_app_is_deployed_without_preboot_and_says_why():
    formation = (Process("web", 2, "Private-M"),)
    observed = state(pending=Pending(False, "x"), preboot=False, space="acme-space",
                     formation=formation,
                     preboot_allowed=preboot_allowed(formation, "acme-space"))
    plan = plan_deploy(observed, settings())
    assert "preboot.on" not in plan.names()
    assert any("acme-space is a Private Space" in n for n in plan.notes), plan.notes


def test_space_of_reads_the_apps_space():
    from herotasks.core.observe import space_of

    assert space_of({"space": None}) is None
    assert space_of({"space": {"id": "1", "name": "acme-space"}}) == "acme-space"


def test_formation_from_api_reads_both_size_shapes():
    got = formation_from_api([
        {"type": "worker", "quantity": 2, "dyno_size": {"name": "Standard-2X"}},
        {"type": "web", "quantity": 1, "size": "Standard-1X"},
    ])
    assert got == (Process("web", 1, "Standard-1X"), Process("worker", 2, "Standard-2X"))


class TestOnlineMigrations:
    ONLINE = (Verdict("db/migrate/002_widgets.rb", "online", "create_table"),)

    def test_backward_compatible_migrations_take_no_window(self):
        plan = plan_deploy(state(migrations=self.ONLINE, preboot=False), settings())
        assert not plan.window
        names = plan.names()
        assert names.index("slug.build") < names.index("db.premigrate") \
            < names.index("slug.promote")
        for absent in ("maintenance.on", "workers.stop", "preboot.off", "db.migrate"):
            assert absent not in names
        assert "preboot.on" in names
        text = plan.describe()
        assert "online  db/migrate/002_widgets.rb (create_table)" in text
        assert "online migrations while the old code serves" in text

    def test_one_window_class_file_takes_the_window(self):
        verdicts = self.ONLINE + (Verdict("db/migrate/003_drop.rb", "window",
                                          "remove_column"),)
        plan = plan_deploy(state(migrations=verdicts), settings())
        assert plan.window and "db.premigrate" not in plan.names()
        assert "window  db/migrate/003_drop.rb (remove_column)" in plan.describe()

    def test_each_file_shows_how_it_was_read_and_the_deciding_statement(self):
        from herotasks.core.classify import classify

        sql = ("ALTER TABLE t ADD COLUMN note text;\n"
               "CREATE INDEX t_note ON t (note);\n"
               "ALTER TABLE t ALTER COLUMN n DROP NOT NULL;\n")
        verdict = classify("custom", "db/m/008_note.sql", sql)
        text = plan_deploy(state(migrations=(verdict,)), settings()).describe()
        lines = text.splitlines()
        at = lines.index(next(ln for ln in lines if "db/m/008_note.sql" in ln))
        assert lines[at + 1].strip() == "read: SQL, PostgreSQL's grammar (pglast)"
        assert [ln.split()[:4] for ln in lines[at + 2:at + 5]] == [
            ["line", "1", "online", "ALTER"],
            [">", "line", "2", "window"],
            ["line", "3", "online", "ALTER"],
        ]
        assert "CREATE INDEX (without CONCURRENTLY" in lines[at + 3]

    def test_unknown_files_are_never_online(self):
        plan = plan_deploy(state(migrations=()), settings())
        assert plan.window

    def test_release_phase_migrates_online_itself(self):
        plan = plan_deploy(state(migrations=self.ONLINE, release_phase=True),
                           settings())
        assert not plan.window and "db.premigrate" not in plan.names()

    def test_the_baselines_always_take_the_window_for_migrations(self):
        for strategy in ("conditional", "naive"):
            plan = plan_deploy(state(migrations=self.ONLINE),
                               settings(strategy=strategy))
            assert plan.window, strategy


class TestPrecheck:
    """The check before the release (issue 17): where the plan puts it, and
    whether it asks the app or only boots it."""

    ONLINE = TestOnlineMigrations.ONLINE

    def test_without_migrations_it_asks_the_app_before_anything_changes(self):
        plan = plan_deploy(state(pending=Pending(False, "no changes"), preboot=False),
                           settings(health={"path": "/up", "smoke": "bin/smoke"}))
        names = plan.names()
        assert names.index("slug.build") + 1 == names.index("health.precheck")
        assert names.index("health.precheck") < names.index("preboot.on")
        text = plan.step("health.precheck").description
        assert "GET /up must answer 200" in text and "`bin/smoke`" in text
        assert "boot only" not in text

    def test_without_a_path_it_asks_for_below_500(self):
        plan = plan_deploy(state(pending=Pending(False, "no changes")), settings())
        assert "GET / must answer below 500" in plan.step("health.precheck").description

    def test_online_migrations_come_first_then_it_asks(self):
        plan = plan_deploy(state(migrations=self.ONLINE), settings())
        names = plan.names()
        assert names.count("health.precheck") == 1
        assert names.index("db.premigrate") + 1 == names.index("health.precheck")
        assert "boot only" not in plan.step("health.precheck").description

    def test_before_a_migration_it_only_boots_and_before_any_window(self):
        plan = plan_deploy(state(), settings(health={"smoke": "bin/smoke"}))
        names = plan.names()
        assert names.index("slug.build") + 1 == names.index("health.precheck")
        text = plan.step("health.precheck").description
        assert "boot only" in text and "GET" not in text and "smoke" not in text
        assert not plan.step("health.precheck").in_window

    def test_a_release_phase_found_by_the_build_moves_it_after_the_build(self):
        # the release phase migrates at the release: no premigrate, and the
        # check only boots, right after the build (run only if the release
        # phase passed on the scratch app: test_a_release_phase_app_gets_...)
        plan = plan_deploy(state(migrations=self.ONLINE), settings())
        assert "health.precheck" in plan.names()
        new = replan(plan, settings(), Facts(release_phase=True))
        names = new.names()
        assert "db.premigrate" not in names
        assert names.index("slug.build") + 1 == names.index("health.precheck")
        assert "boot only" in new.step("health.precheck").description

    def test_it_is_on_unless_turned_off(self):
        assert "health.precheck" in plan_deploy(state(), settings()).names()
        plan = plan_deploy(state(), settings(health={"precheck": False}))
        assert "health.precheck" not in plan.names()

    @pytest.mark.parametrize("strategy", ["conditional", "naive"])
    def test_the_baselines_have_none(self, strategy):
        # a git push builds and releases in one go: nothing to check before
        plan = plan_deploy(state(), settings(strategy=strategy))
        assert "health.precheck" not in plan.names()


def test_a_release_phase_app_gets_the_check_if_its_release_phase_passes_on_scratch():
    # a one-off runs the scratch app's current release, which the new slug is
    # only when its release phase succeeded there (no database): the step is
    # planned, says so, and is not run otherwise (actions)
    plan = plan_deploy(state(release_phase=True), settings())
    assert "health.precheck" in plan.names()
    assert plan.names().index("health.precheck") < plan.names().index("slug.promote")
    assert "if the release phase succeeded" in plan.step("health.precheck").description
    assert any("runs only if the release phase succeeds" in n for n in plan.notes)
