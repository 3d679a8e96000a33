"""The engine end to end on a fake Heroku and a real git repository.

Git, the asset compile (in a worktree) and the journal are real; Heroku is
the in-memory fake, ``git push`` is replaced by the fake's build, and the
one-off dyno's rendezvous by a function returning an exit code.
"""

from __future__ import annotations

import json

import pytest

from herotasks.adapters import rendezvous
from herotasks.core import deploy as ops
from herotasks.core import journal as jn
from herotasks.core import lock, scratch, slug
from herotasks.core.config import Settings
from herotasks.core.engine import DeployFailed
from herotasks.core.migrations import release_description
from herotasks.core.steps import STEPS
from herotasks.errors import ApiError, ConfigError, LockHeld
from tests.support.fakeheroku import FakeSession

APP = "tally-prod"


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the engine may catch it."""


@pytest.fixture
def settings(tmp_path):
    def make(**tree):
        base = {
            "preset": "rails",
            "stages": {"production": {"app": APP}},
            "assets": {"command": "mkdir -p public/assets && "
                                  "cp app/assets/app.css public/assets/"},
            "statedir": str(tmp_path / "state"),
            # the fake's dynos never crash; the precheck has its own tests
            "health": {"watch": 0, "precheck": False},
            # the fake has no preboot switch to wait for (TestPrebootSwitch has)
            "timeouts": {"preboot": 0},
        }
        base.update(tree)
        return Settings.resolve({"herotasks": base}, stage="production")
    return make


@pytest.fixture
def world(repo, heroku, monkeypatch):
    """Target app on v1 running the repo's first commit; push and attach faked."""
    heroku.add_app(APP, preboot=True,
                   formation={"web": (2, "standard-1x"), "worker": (3, "standard-2x")},
                   buildpacks=("heroku/ruby",))
    heroku.config[APP] = {"DATABASE_URL": "postgres://secret", "RAILS_ENV": "production"}
    first = repo.git("rev-parse", "HEAD")
    heroku.add_release(APP, commit=first, description=release_description(first))
    state = {"process_types": {"web": "bin/web", "worker": "bin/worker"},
             "exit": 0, "migrations_run": 0, "pushes": [], "kept": []}

    def fake_push(c, api, url, sha, *, what):
        name = url.rsplit("/", 1)[-1].removesuffix(".git")
        state["pushes"].append((name, sha))
        heroku.receive_push(name, sha, state["process_types"])
        return "remote: done"

    def fake_attach(url, out, **kw):
        state["migrations_run"] += 1
        state["mutations_before_migrating"] = heroku.mutations()
        out("== migrating ==\n")
        code = state["exit"]
        if isinstance(code, BaseException):
            raise code
        return code

    def fake_keep(c, api, app, sha):
        state["kept"].append((app["name"], sha))

    monkeypatch.setattr(slug, "push", fake_push)
    monkeypatch.setattr(slug, "keep_deploy_commit", fake_keep)
    monkeypatch.setattr(rendezvous, "attach", fake_attach)
    monkeypatch.setattr(rendezvous, "Session", FakeSession)
    return state


def run(c, heroku, s, **kw):
    lines = []
    plan, report = ops.deploy(c, heroku, s, out=lines.append, **kw)
    return plan, report, lines


@pytest.fixture
def c():
    from invoke import Context
    return Context()


def migration_commit(repo):
    return repo.commit({"db/migrate/002_add.rb": "add\n"}, "add a migration")


class TestWithMigration:
    def test_window_holds_only_promote_migrate_restart_wait(self, c, repo, heroku,
                                                            world, settings):
        new = migration_commit(repo)
        plan, report, _ = run(c, heroku, settings())
        assert report.ok and plan.window
        inside = [s.name for s in report.steps if s.in_window]
        assert inside == ["slug.promote", "db.migrate", "dynos.restart", "dynos.wait"]
        m = heroku.mutations()
        # the migration's dyno starts on the scratch app (the new slug) before
        # preboot off, workers stop, maintenance on; then the release; and
        # only then is it told to go
        assert m.index("create_dyno") < m.index("set_maintenance")
        assert m.index("set_maintenance") < m.index("create_release")
        migration = [c for c in heroku.calls if c[0] == "create_dyno"][-1]
        assert migration[1] == scratch.scratch_name("ht-scratch", APP)
        assert "herotasks: ready to migrate" in migration[2]
        assert world["migrations_run"] == 1
        assert "create_release" in world["mutations_before_migrating"]
        assert FakeSession.opened[-1].sent == b"go\n\x04"
        assert FakeSession.opened[-1].closed
        # the target's config reached that dyno as its env only
        assert heroku.dyno_envs[-1]["DATABASE_URL"] == "postgres://secret"
        # the previous state is back, exactly
        assert heroku.apps_[APP]["maintenance"] is False
        assert heroku.features[APP]["preboot"] is True
        assert heroku.formation_[APP]["worker"] == {"type": "worker", "quantity": 3,
                                                    "size": "standard-2x"}
        # scratch app and lock are gone, journal removed
        assert scratch.scratch_name("ht-scratch", APP) not in heroku.apps_
        assert lock.lock_app_name(APP) not in heroku.apps_
        assert jn.load(settings().statedir, APP) is None
        # the new release says which source it runs
        current = heroku.current_release(APP)
        assert new in current["description"]
        assert report.release_version == current["version"]

    def test_windows_are_measured(self, c, repo, heroku, world, settings):
        migration_commit(repo)
        _, report, _ = run(c, heroku, settings())
        data = report.to_json()
        m, w = data["windows"]["maintenance"], data["windows"]["workers_down"]
        assert m["started_at"] <= m["finished_at"]
        assert w["started_at"] <= m["started_at"] and w["finished_at"] >= m["finished_at"]
        assert data["migrations"]["reason"] == "db/migrate changed: 1 file"

    def test_scratch_app_gets_stack_buildpacks_and_only_allowlisted_vars(
            self, c, repo, heroku, world, settings, monkeypatch):
        migration_commit(repo)
        seen = {}
        real_build = slug.build

        def spy_build(c_, api, info, sha, **kw):
            name = info["name"]
            seen.update(config=dict(heroku.config[name]),
                        buildpacks=list(heroku.buildpacks_[name]),
                        stack=heroku.apps_[name]["stack"]["name"])
            return real_build(c_, api, info, sha, **kw)

        monkeypatch.setattr(slug, "build", spy_build)
        run(c, heroku, settings(scratch={"allowlist": ["RAILS_ENV"]}))
        assert seen["config"] == {"RAILS_ENV": "production",
                                  "HEROTASKS_SCRATCH_FOR": APP}
        assert seen["buildpacks"] == ["heroku/ruby"]
        assert seen["stack"] == "heroku-24"

    def test_django_scratch_app_skips_the_buildpacks_collectstatic(
            self, c, repo, heroku, world, settings, monkeypatch):
        # herotasks committed the compiled assets; Heroku's Python buildpack
        # would run collectstatic again unless DISABLE_COLLECTSTATIC is set.
        migration_commit(repo)
        seen = {}
        real_build = slug.build

        def spy_build(c_, api, info, sha, **kw):
            seen.update(heroku.config[info["name"]])
            return real_build(c_, api, info, sha, **kw)

        monkeypatch.setattr(slug, "build", spy_build)
        run(c, heroku, settings(preset="django", migrations={"paths": ["db/migrate"]},
                                assets={"command": "mkdir -p public/assets && "
                                        "cp app/assets/app.css public/assets/",
                                        "output": "public/assets"}))
        assert seen["DISABLE_COLLECTSTATIC"] == "1"
        assert heroku.config[APP].get("DISABLE_COLLECTSTATIC") is None

    def test_deploys_the_compiled_assets_commit(self, c, repo, heroku, world, settings):
        new = migration_commit(repo)
        run(c, heroku, settings())
        (_, pushed), = world["pushes"]
        assert pushed != new
        assert repo.git("rev-parse", f"{pushed}^") == new
        assert "public/assets/app.css" in repo.git("ls-tree", "-r", "--name-only", pushed)
        assert repo.git("status", "--porcelain") == ""


class TestWithoutMigration:
    def test_no_window_and_preboot(self, c, repo, heroku, world, settings):
        heroku.features[APP]["preboot"] = False
        repo.commit({"app/models/user.rb": "class User; end\n"})
        plan, report, _ = run(c, heroku, settings())
        assert report.ok and not plan.window
        assert "set_maintenance" not in heroku.mutations()
        assert not any(s.in_window for s in report.steps)
        assert report.to_json()["windows"] == {"maintenance": None, "workers_down": None}
        preboot_calls = [x for x in heroku.calls if x[0] == "set_feature"]
        assert [x[3] for x in preboot_calls] == [True, False]
        assert world["migrations_run"] == 0

    def test_preboot_goes_off_only_after_herokus_switch(self, c, repo, heroku, world,
                                                        settings, monkeypatch):
        """Heroku moves traffic ~3 min after a preboot release: preboot is not
        turned off before then, and the report says when traffic moved."""
        heroku.features[APP]["preboot"] = False
        repo.commit({"app/models/user.rb": "class User; end\n"})
        now = [1000.0]
        order = []
        monkeypatch.setattr("herotasks.core.actions.time.sleep",
                            lambda s: (order.append(("sleep", s)),
                                       now.__setitem__(0, now[0] + s)))
        original = heroku.set_feature

        def set_feature(app, name, enabled):
            order.append(("preboot", enabled, now[0]))
            return original(app, name, enabled)

        monkeypatch.setattr(heroku, "set_feature", set_feature)
        plan, report, lines = run(c, heroku, settings(timeouts={"preboot": 180}),
                                  clock=lambda: now[0])
        assert report.ok
        switch_at = report.to_json()["traffic"]["at"]
        promoted = next(s for s in report.steps if s.name == "slug.promote")
        assert switch_at == promoted.finished_at + 180
        off = [o for o in order if o[0] == "preboot" and o[1] is False]
        assert off and off[0][2] >= switch_at, order
        assert report.to_json()["traffic"]["done"] is True
        assert any("preboot: Heroku moves traffic to v2 in ~" in x for x in lines)

    def test_the_scratch_apps_first_web_dyno_is_stopped_with_one_request(
            self, c, repo, heroku, world, settings, monkeypatch):
        """A first release starts web=1 on the new scratch app; herotasks puts
        it back to zero with one write, no look at the formation first (the
        rate limit: every request of a deploy counts)."""
        looked = []
        original = heroku.formation
        monkeypatch.setattr(heroku, "formation",
                            lambda app: looked.append(app) or original(app))
        repo.commit({"README": "1\n"})
        _, report, _ = run(c, heroku, settings())
        assert report.ok
        name = scratch.scratch_name("ht-scratch", APP)
        assert name not in looked
        assert [x for x in heroku.calls if x[:2] == ("update_formation", name)] == [
            ("update_formation", name, [{"type": "web", "quantity": 0}])]

    def test_second_deploy_reuses_assets(self, c, repo, heroku, world, settings):
        repo.commit({"README": "1\n"})
        run(c, heroku, settings())
        repo.commit({"README": "2\n"})
        plan, _, lines = run(c, heroku, settings())
        assert "reused" in plan.describe()
        assert any("assets: reusing" in line for line in lines)


class TestPrecheck:
    """The check before the release: the new slug's web process in a one-off
    dyno on the scratch app (its dyno and output faked here; the sandbox's
    real ones in tests/tasks/test_e2e_health.py)."""

    @pytest.fixture
    def answers(self, world, monkeypatch):
        """The precheck's dyno says these lines and exits with ``code``."""
        said = {"lines": ["bound $PORT in 40 ms", "GET / answered 200 in 45 ms",
                          "ok in 50 ms"], "code": 0, "commands": []}

        def fake_attach(url, out, **kw):
            said["commands"].append(url)
            out("".join(f"precheck: {x}\n" for x in said["lines"]))
            return said["code"]

        monkeypatch.setattr(rendezvous, "attach", fake_attach)
        return said

    def test_a_failing_check_stops_before_the_release(self, c, repo, heroku, world,
                                                      settings, answers):
        answers["lines"] = ["bound $PORT in 40 ms",
                            "FAILED: GET / answered 500, not below 500, for 60s "
                            "(60040 ms)"]
        answers["code"] = 1
        repo.commit({"app/models/user.rb": "class User; end\n"})
        before = heroku.current_release(APP)["id"]
        with pytest.raises(DeployFailed) as failed:
            run(c, heroku, settings(health={"watch": 0}))
        report = failed.value.report
        assert "health.precheck failed" in report.error
        assert "GET / answered 500" in report.error and "nothing was released" \
            in report.error
        # nothing released on the target, nothing left behind
        assert heroku.current_release(APP)["id"] == before
        assert "create_release" not in [x[0] for x in heroku.calls
                                        if x[1:2] == (APP,)]
        assert not [a for a in heroku.apps() if a["name"].startswith("ht-scratch")]
        pre = report.to_json()["precheck"]
        assert pre["ok"] is False and pre["asked"] is True
        assert pre["found"][-1].startswith("FAILED: GET / answered 500")

    def test_it_runs_on_the_scratch_app_with_the_targets_config_as_env_only(
            self, c, repo, heroku, world, settings, answers):
        repo.commit({"app/models/user.rb": "class User; end\n"})
        _, report, _ = run(c, heroku, settings(health={"enabled": False, "path": "/up"}))
        assert report.ok
        dyno, = [x for x in heroku.calls if x[0] == "create_dyno"]
        assert dyno[1].startswith("ht-scratch") and "HT_PATH=/up" in dyno[2]
        assert "HT_WEB=bin/web" in dyno[2]
        assert heroku.dyno_envs[0]["DATABASE_URL"] == "postgres://secret"
        assert not [x for x in heroku.calls if x[0] == "update_config_vars"
                    and "DATABASE_URL" in (x[2] if len(x) > 2 else {})]
        pre = report.to_json()["precheck"]
        assert pre["ok"] and pre["found"][-1] == "ok in 50 ms"
        assert "precheck: ok (answers" in report.summary()

    def test_before_a_window_migration_it_only_boots(self, c, repo, heroku, world,
                                                     settings, answers):
        migration_commit(repo)
        _, report, _ = run(c, heroku, settings(health={"enabled": False, "path": "/up"}))
        assert report.ok
        first = next(x for x in heroku.calls if x[0] == "create_dyno")
        assert "HT_PATH=''" in first[2]
        assert report.to_json()["precheck"]["asked"] is False
        names = [s.name for s in report.steps]
        assert names.index("health.precheck") < names.index("maintenance.on")


class TestReleasePhase:
    def test_release_phase_migrates_inside_the_window_once(self, c, repo, heroku,
                                                           world, settings):
        world["process_types"]["release"] = "bin/rails db:migrate"
        repo.commit({"Procfile": "web: bin/web\nworker: bin/worker\n"
                                 "release: bin/rails db:migrate\n",
                     "db/migrate/002.rb": "x\n"})
        plan, report, _ = run(c, heroku, settings())
        assert report.ok and "db.migrate" not in plan.names()
        assert world["migrations_run"] == 0
        m = heroku.mutations()
        assert m.index("set_maintenance") < m.index("create_release")

    def test_slug_decides_when_procfile_did_not_say(self, c, repo, heroku, world,
                                                    settings):
        # the buildpack added a release process the Procfile does not have
        world["process_types"]["release"] = "bin/release"
        migration_commit(repo)
        _, report, lines = run(c, heroku, settings())
        assert report.ok and world["migrations_run"] == 0
        assert "db.migrate" not in [s.name for s in report.steps]
        assert any("release phase" in line for line in lines)


class TestFailedMigration:
    def test_rolls_back_restores_and_fails(self, c, repo, heroku, world, settings):
        migration_commit(repo)
        world["exit"] = 1
        with pytest.raises(DeployFailed) as err:
            run(c, heroku, settings())
        line = str(err.value)
        assert "db.migrate failed" in line and "exited 1" in line
        assert "rolled back to v1" in line and "maintenance off" in line
        assert "\n" not in line
        current = heroku.current_release(APP)
        assert current["description"] == "Rollback to v1"
        assert heroku.apps_[APP]["maintenance"] is False
        assert heroku.formation_[APP]["worker"]["quantity"] == 3
        assert heroku.features[APP]["preboot"] is True
        assert lock.lock_app_name(APP) not in heroku.apps_
        assert jn.load(settings().statedir, APP) is None
        report = err.value.report
        assert not report.ok and report.error == line
        assert report.release_version == current["version"]  # what runs now
        assert report.to_json()["windows"]["maintenance"]["finished_at"] is not None

    def test_failed_rollback_keeps_maintenance_on_and_says_so(self, c, repo, heroku,
                                                              world, settings):
        migration_commit(repo)
        world["exit"] = 1
        heroku.fail["rollback"] = ApiError("Rollback is not possible", status=422)
        with pytest.raises(DeployFailed) as err:
            run(c, heroku, settings())
        line = str(err.value)
        assert "ROLLBACK FAILED" in line and "maintenance stays ON" in line
        assert "deploy.recover --stage production" in line
        assert heroku.apps_[APP]["maintenance"] is True
        assert heroku.formation_[APP]["worker"]["quantity"] == 0
        assert lock.lock_app_name(APP) in heroku.apps_
        j = jn.load(settings().statedir, APP)
        assert {e.step for e in j.open_entries()} >= {"maintenance.on", "slug.promote"}
        assert err.value.report.to_json()["windows"]["maintenance"]["finished_at"] is None

    def test_an_expired_fallback_is_never_asked_for_and_the_window_stays(
            self, c, repo, heroku, world, settings):
        """Heroku's release retention deleted v1's slug: a rollback to it is
        refused, so herotasks does not ask; the migration the new code needs
        failed, so maintenance stays on and the line says the ways out."""
        migration_commit(repo)
        world["exit"] = 1
        heroku.releases_[APP][0]["status"] = "expired"
        with pytest.raises(DeployFailed) as err:
            run(c, heroku, settings())
        line = str(err.value)
        assert "ROLLBACK FAILED" in line and "v1 is expired" in line
        assert "--keep-code" in line and "fix forward" in line
        assert not [call for call in heroku.calls if call[0] == "rollback"]
        assert heroku.apps_[APP]["maintenance"] is True

    def test_failed_build_changes_nothing_on_the_app(self, c, repo, heroku, world,
                                                     settings, monkeypatch):
        migration_commit(repo)

        def failing_push(*a, **kw):
            from herotasks.errors import CommandError
            raise CommandError("build of abc on the scratch app failed",
                               "see the build log above; its end:\nremote: boom")

        monkeypatch.setattr(slug, "push", failing_push)
        with pytest.raises(DeployFailed, match="slug.build failed"):
            run(c, heroku, settings())
        touched = {call[1] for call in heroku.calls}
        assert APP not in touched  # only the lock and scratch apps were touched
        assert scratch.scratch_name("ht-scratch", APP) not in heroku.apps_


class TestKillAndRecover:
    def test_kill_during_migrate_then_recover_finishes(self, c, repo, heroku, world,
                                                       settings):
        migration_commit(repo)
        world["exit"] = Killed()
        with pytest.raises(Killed):
            run(c, heroku, settings())
        assert heroku.apps_[APP]["maintenance"] is True
        world["exit"] = 0
        lines = []
        rp, report = ops.recover_deploy(c, heroku, settings(), out=lines.append)
        assert rp.mode == "finish" and "db.migrate" in rp.steps
        assert report.ok and world["migrations_run"] == 2
        assert heroku.apps_[APP]["maintenance"] is False
        assert heroku.formation_[APP]["worker"]["quantity"] == 3
        assert heroku.features[APP]["preboot"] is True
        assert lock.lock_app_name(APP) not in heroku.apps_
        assert scratch.scratch_name("ht-scratch", APP) not in heroku.apps_
        assert jn.load(settings().statedir, APP) is None
        # the window is measured from the original maintenance.on
        assert report.to_json()["windows"]["maintenance"]["finished_at"] is not None

    # "after" slug.promote is a live release: finished, not undone (test below)
    @pytest.mark.parametrize("step,call,when", [
        (step, call, when)
        for step, call in [("preboot.off", "set_feature"),
                           ("workers.stop", "update_formation"),
                           ("maintenance.on", "set_maintenance"),
                           ("slug.promote", "create_release")]
        for when in ("during", "after")
        if (step, when) != ("slug.promote", "after")])
    def test_kill_before_the_release_is_live_then_recover_undoes(
            self, c, repo, heroku, world, settings, step, call, when):
        migration_commit(repo)
        actions = {}
        if when == "during":  # the API call never returned: journal says started
            heroku.fail[call] = Killed()
        else:  # the step's change happened, then the process died
            def die(run_, step_):
                STEPS[step].action(run_, step_)
                raise Killed()
            actions = {step: die}
        with pytest.raises(Killed):
            run(c, heroku, settings(), actions=actions)
        heroku.fail.clear()
        rp, report = ops.recover_deploy(c, heroku, settings(), out=lambda _: None)
        assert rp.mode == "undo"
        assert report.ok
        assert heroku.apps_[APP]["maintenance"] is False
        assert heroku.features[APP]["preboot"] is True
        assert heroku.formation_[APP]["worker"] == {"type": "worker", "quantity": 3,
                                                    "size": "standard-2x"}
        assert lock.lock_app_name(APP) not in heroku.apps_
        assert scratch.scratch_name("ht-scratch", APP) not in heroku.apps_
        assert heroku.current_release(APP)["version"] == 1
        assert jn.load(settings().statedir, APP) is None

    def test_kill_after_the_release_went_live_adopts_it(self, c, repo, heroku, world,
                                                        settings, monkeypatch):
        migration_commit(repo)
        real = slug.promote

        def promote_then_die(*a, **kw):
            real(*a, **kw)
            raise Killed()

        monkeypatch.setattr(slug, "promote", promote_then_die)
        with pytest.raises(Killed):
            run(c, heroku, settings())
        monkeypatch.setattr(slug, "promote", real)
        releases_before = len(heroku.releases_[APP])
        rp, report = ops.recover_deploy(c, heroku, settings(), out=lambda _: None)
        assert rp.mode == "finish" and rp.adopt == "slug.promote"
        assert len(heroku.releases_[APP]) == releases_before  # not promoted twice
        assert world["migrations_run"] == 1 and report.ok
        assert heroku.apps_[APP]["maintenance"] is False

    def test_next_deploy_refuses_until_recovered(self, c, repo, heroku, world,
                                                 settings):
        migration_commit(repo)
        world["exit"] = Killed()
        with pytest.raises(Killed):
            run(c, heroku, settings())
        with pytest.raises(Exception, match="deploy.recover"):
            run(c, heroku, settings())

    def test_recover_with_nothing_to_do(self, c, repo, heroku, world, settings):
        rp, report = ops.recover_deploy(c, heroku, settings(), out=lambda _: None)
        assert rp.mode == "nothing" and report is None


def test_allowlisted_database_url_is_refused_before_any_change(c, repo, heroku,
                                                                world, settings):
    with pytest.raises(Exception, match="never give it production data"):
        run(c, heroku, settings(scratch={"allowlist": ["DATABASE_URL"]}))
    assert heroku.calls == []


class TestLockAndDryRun:
    def test_concurrent_deploy_is_refused_and_changes_nothing(self, c, repo, heroku,
                                                              world, settings):
        migration_commit(repo)
        lock.acquire(heroku, lock.Holder("tally-prod", "ci@other", 7, "production",
                                         "", 0.0, "someone-else"))
        before = list(heroku.calls)
        with pytest.raises(DeployFailed) as err:
            run(c, heroku, settings())
        assert "ci@other" in str(err.value)
        assert heroku.calls == before
        assert lock.held_by(heroku, APP).who == "ci@other"
        assert jn.load(settings().statedir, APP) is None

    def test_force_unlock(self, c, repo, heroku, world, settings):
        lock.acquire(heroku, lock.Holder("tally-prod", "ci@other", 7, "production",
                                         "", 0.0, "someone-else"))
        _, report, _ = run(c, heroku, settings(), force_unlock=True)
        assert report.ok

    def test_lock_error_type(self, heroku):
        lock.acquire(heroku, lock.Holder(APP, "a@b", 1, "", "", 0.0, "x"))
        with pytest.raises(LockHeld):
            lock.acquire(heroku, lock.Holder(APP, "c@d", 2, "", "", 0.0, "y"))

    def test_dry_run_changes_nothing(self, c, repo, heroku, world, settings):
        migration_commit(repo)
        refs_before = repo.git("for-each-ref")
        plan, report, lines = run(c, heroku, settings(), dry_run=True)
        assert heroku.calls == [] and world["pushes"] == []
        assert repo.git("for-each-ref") == refs_before
        assert report.dry_run and all(s.skipped for s in report.steps[1:])
        assert "Deploy plan for tally-prod" in lines[0]
        assert not (settings().statedir / "journal").exists()


class TestHooks:
    def test_before_and_after_run_locally_with_context(self, c, repo, heroku, world,
                                                       settings, tmp_path):
        log = tmp_path / "hooks.log"
        s = settings(hooks={
            "before": {"slug.promote": f"echo before $HEROTASKS_STEP >> {log}"},
            "after": {"slug.promote": f"echo after $HEROTASKS_APP >> {log}"}})
        repo.commit({"README": "x"})
        run(c, heroku, s)
        assert log.read_text() == "before slug.promote\nafter tally-prod\n"

    def test_failing_hook_fails_the_step_and_unwinds(self, c, repo, heroku, world,
                                                     settings):
        migration_commit(repo)
        s = settings(hooks={"after": {"maintenance.on": "exit 3"}})
        with pytest.raises(DeployFailed, match="hook after maintenance.on exited 3"):
            run(c, heroku, s)
        assert heroku.apps_[APP]["maintenance"] is False
        assert heroku.current_release(APP)["version"] == 1

    def test_a_failure_before_the_window_stops_the_held_dyno_unmigrated(
            self, c, repo, heroku, world, settings):
        migration_commit(repo)
        s = settings(hooks={"after": {"maintenance.on": "exit 3"}})
        with pytest.raises(DeployFailed, match="hook after maintenance.on exited 3"):
            run(c, heroku, s)
        held = FakeSession.opened[-1]
        assert held.sent == b"" and held.closed  # never told to go: hung up
        assert world["migrations_run"] == 0
        dyno = heroku.calls.index(next(c for c in heroku.calls if c[0] == "stop_dyno"))
        # the dyno stopped before its app went
        assert heroku.calls[dyno][1] == scratch.scratch_name("ht-scratch", APP)
        assert dyno < heroku.mutations().index("delete_app")
        assert jn.load(s.statedir, APP) is None

    def test_a_preset_pre_boot_that_cannot_boot_falls_back_to_the_plain_hold(
            self, c, repo, heroku, world, settings, monkeypatch):
        migration_commit(repo)
        said = iter([1])  # the rails pre-boot exits 1; the plain hold gets ready

        def until(self, out, line, **kw):
            return next(said, None)

        monkeypatch.setattr(FakeSession, "until", until)
        _, report, lines = run(c, heroku, settings())
        assert report.ok
        holds = [c[2] for c in heroku.calls if c[0] == "create_dyno"]
        assert holds[0].startswith("bin/rails runner ")
        assert holds[1].startswith("bash -c ") and "bin/rails db:migrate" in holds[1]
        assert any("holding `bin/rails db:migrate` itself instead" in x for x in lines)
        assert world["migrations_run"] == 1


class TestRestartAfterTheMigration:
    """dynos.restart restarts only when the held dyno's count of database
    connections opened since `go` is unknown or non-zero (issue 18)."""

    def said(self, world, monkeypatch, text):
        def fake_attach(url, out, **kw):
            world["migrations_run"] += 1
            out("== migrating ==\n")
            if text:
                out(text)
            return 0
        monkeypatch.setattr(rendezvous, "attach", fake_attach)

    def test_none_connected_no_restart(self, c, repo, heroku, world, settings,
                                       monkeypatch):
        migration_commit(repo)
        self.said(world, monkeypatch, "herotasks: connections since go: 0\n")
        plan, report, lines = run(c, heroku, settings())
        assert report.ok and world["migrations_run"] == 1
        assert "restart_dynos" not in heroku.mutations()
        # the step stays in the plan and the report; it says why it did nothing
        assert "dynos.restart" in plan.names()
        assert [s.name for s in report.steps if s.in_window] == [
            "slug.promote", "db.migrate", "dynos.restart", "dynos.wait"]
        assert any("opened a database connection before the migration ended: "
                   "no restart needed" in x for x in lines), lines
        assert "restart" in plan.step("dynos.restart").description
        assert "unless" in plan.step("dynos.restart").description

    @pytest.mark.parametrize("text", ["herotasks: connections since go: 2\n", "",
                                      "herotasks: connections since go: ?\n"])
    def test_some_connected_or_unknown_restarts(self, c, repo, heroku, world,
                                                settings, monkeypatch, text):
        migration_commit(repo)
        self.said(world, monkeypatch, text)
        _, report, lines = run(c, heroku, settings())
        assert report.ok
        assert heroku.mutations().count("restart_dynos") == 1
        assert not any("no restart needed" in x for x in lines)

    def test_a_one_off_migration_not_held_restarts(self, c, repo, heroku, world,
                                                   settings, monkeypatch):
        """naive's migration runs the plain command (no count): restart."""
        repo.commit({"db/migrate/002_add.rb": "add\n"})
        self.said(world, monkeypatch, "")
        _, report, _ = run(c, heroku, settings(strategy="naive"))
        assert report.ok
        assert heroku.mutations().count("restart_dynos") == 1


class TestOtherStrategiesAndMethods:
    def test_naive_pushes_to_the_app_inside_the_window(self, c, repo, heroku, world,
                                                       settings):
        repo.commit({"README": "x"})
        plan, report, _ = run(c, heroku, settings(strategy="naive"))
        assert report.ok
        assert [name for name, _ in world["pushes"]] == [APP]
        inside = [s.name for s in report.steps if s.in_window]
        assert inside == ["app.push", "db.migrate", "dynos.restart"]
        assert not any(a.startswith("ht-scratch") for a in heroku.apps_)
        assert report.release_version == 2

    def test_pipeline_promotion(self, c, repo, heroku, world, settings):
        heroku.couplings[APP] = {"pipeline": {"id": "p1"}, "stage": "production"}
        repo.commit({"README": "x"})
        _, report, _ = run(c, heroku, settings(promote={"method": "pipeline"}))
        assert report.ok
        couple = next(x for x in heroku.calls if x[0] == "couple")
        assert couple[2] == "staging"
        assert "promote" in heroku.mutations()
        # the deploy commit that was built is kept on the target's git
        assert world["kept"] == [(APP, world["pushes"][-1][1])]

    def test_pipeline_without_pipeline_is_one_line(self, c, repo, heroku, world,
                                                   settings):
        repo.commit({"README": "x"})
        # found by the check, before anything changes (not a DeployFailed)
        with pytest.raises(ConfigError, match="is in no pipeline"):
            run(c, heroku, settings(promote={"method": "pipeline"}))
        assert heroku.current_release(APP)["version"] == 1


def test_a_shield_space_app_is_refused_before_anything_changes(c, repo, heroku, world,
                                                               settings):
    """Shield spaces attach one-off dynos over SSH: a migration could never
    start, so the check stops the deploy, not the open window."""
    heroku.apps_[APP]["space"] = {"id": "s1", "name": "vault", "shield": True}
    migration_commit(repo)
    with pytest.raises(ConfigError, match="Shield Private Space vault"):
        run(c, heroku, settings())
    assert heroku.mutations() == [] and world["migrations_run"] == 0


def test_json_report_of_a_real_run(c, repo, heroku, world, settings, tmp_path):
    from herotasks.core.report import write_json

    migration_commit(repo)
    _, report, _ = run(c, heroku, settings())
    data = json.loads(write_json(report, tmp_path / "r.json").read_text())
    assert data["ok"] and data["strategy"] == "herotasks"
    assert data["commit"]["to"] == repo.git("rev-parse", "HEAD")
    assert [s["name"] for s in data["steps"]][0] == "check"
    assert data["release"]["version"] == 2


REMOVE_NAME = ("class RemoveName < ActiveRecord::Migration[7.1]\n  def change\n"
               "    remove_column :widgets, :name, :string\n  end\nend\n")


class TestExpand:
    """A contract dropping a column that may be NOT NULL: db.expand runs
    before the release from the scratch app (issue 16, item 2)."""

    def test_the_expand_runs_before_the_release_from_the_scratch_app(
            self, c, repo, heroku, world, settings):
        repo.commit({"db/migrate/002_remove_name.rb": REMOVE_NAME}, "drop a column")
        plan, report, _ = run(c, heroku, settings())
        assert report.ok and not plan.window
        names = [s.name for s in report.steps]
        assert (names.index("db.expand") < names.index("slug.promote")
                < names.index("db.postmigrate"))
        dynos = [call for call in heroku.calls if call[0] == "create_dyno"]
        expand = dynos[0]
        assert expand[1] == scratch.scratch_name("ht-scratch", APP)
        assert 'ALTER TABLE "widgets" ALTER COLUMN "name" DROP NOT NULL' in expand[2]
        # the target's config went with that dyno only, never into its command
        assert heroku.dyno_envs[0]["DATABASE_URL"] == "postgres://secret"
        assert "postgres://secret" not in expand[2]
        assert world["migrations_run"] == 2  # the expand, then the contract

    def test_a_lost_answer_to_the_expand_unwinds_and_releases_nothing(
            self, c, repo, heroku, world, settings):
        """Either schema is fine for the old code, so nobody needs to know
        whether it ran: the deploy is put back as any failure before the
        release (no 'outcome unknown' stop)."""
        from herotasks.errors import OutcomeUnknown

        before = heroku.current_release(APP)["id"]
        repo.commit({"db/migrate/002_remove_name.rb": REMOVE_NAME}, "drop a column")

        def lost(app, command):
            if "DROP NOT NULL" in command:
                raise OutcomeUnknown("no answer", method="POST", path="/dynos")

        heroku.fail["create_dyno"] = lost
        with pytest.raises(DeployFailed) as failed:
            run(c, heroku, settings())
        assert "db.expand failed" in str(failed.value)
        assert "outcome unknown" not in str(failed.value)
        assert heroku.current_release(APP)["id"] == before
        assert scratch.scratch_name("ht-scratch", APP) not in heroku.apps_
        assert lock.lock_app_name(APP) not in heroku.apps_
        assert jn.load(settings().statedir, APP) is None
