"""Tasks drive the core with the right settings and API, on inv, Python and fab."""

from __future__ import annotations

import json

import pytest
from invoke import Config, Context
from invoke.config import copy_dict, merge_dicts
from invoke.exceptions import Exit

from herotasks.adapters import heroku_api, rendezvous
from herotasks.core import deploy as core_deploy
from herotasks.core import journal as jn
from herotasks.core import scratch as core_scratch
from herotasks.core import slug as core_slug
from herotasks.core.config import DEFAULTS
from herotasks.core.migrations import release_description
from herotasks.tasks import assets, db, deploy, maintenance, scratch, slug, workers
from tests.support.fakeheroku import FakeSession

APP = "tally-prod"
#: what `inv deploy.production` runs when the project configures that stage
production = deploy.stage_task("production")


def ctx(tmp_path, dry=False, **tree) -> Context:
    herotasks = {
        "preset": "rails",
        "stages": {"production": {"app": APP}},
        "assets": {"command": "mkdir -p public/assets && "
                              "cp app/assets/app.css public/assets/"},
        "statedir": str(tmp_path / "state"),
        "health": {"watch": 0, "precheck": False},  # the fake runs no web process
        # the fake has no preboot switch to wait for (Heroku's ~3 min)
        "timeouts": {"preboot": 0},
        **tree,
    }
    # As `inv` would see it: the collection's declared defaults under the
    # user's invoke.yaml (both land in one tree here).
    config = Config(overrides={"run": {"dry": dry}})
    config.load_collection(DEFAULTS)
    config["herotasks"] = merge_dicts(copy_dict(DEFAULTS["herotasks"]), herotasks)
    return Context(config=config)


@pytest.fixture
def world(repo, heroku, monkeypatch):
    """The target app on v1, the fake API behind make_api, push/attach faked."""
    heroku.add_app(APP, preboot=True,
                   formation={"web": (2, "standard-1x"), "worker": (3, "standard-2x")})
    first = repo.git("rev-parse", "HEAD")
    heroku.add_release(APP, commit=first, description=release_description(first))
    seen = {"make_api": [], "migrations": 0}

    def fake_make_api(url=None, token=None, cabundle=None, retries=4, dry_run=False):
        seen["make_api"].append({"url": url, "cabundle": cabundle, "retries": retries,
                                 "dry_run": dry_run})
        return heroku

    def fake_push(c, api, url, sha, *, what):
        name = url.rsplit("/", 1)[-1].removesuffix(".git")
        heroku.receive_push(name, sha, {"web": "bin/web", "worker": "bin/worker"})

    def fake_attach(url, out, **kw):
        seen["migrations"] += 1
        return 0

    monkeypatch.setattr(heroku_api, "make_api", fake_make_api)
    monkeypatch.setattr(core_slug, "push", fake_push)
    monkeypatch.setattr(rendezvous, "attach", fake_attach)
    monkeypatch.setattr(rendezvous, "Session", FakeSession)
    return seen


def end_state(heroku):
    """What a user can observe on Heroku after a deploy."""
    current = heroku.current_release(APP)
    return {
        "maintenance": heroku.apps_[APP]["maintenance"],
        "preboot": heroku.features[APP]["preboot"],
        "formation": heroku.formation(APP),
        "slug_commit_parent_source": current["description"],
        "apps": sorted(heroku.apps_),
    }


class TestSettingsReachTheCore:
    def test_cli_strategy_beats_config(self, tmp_path, repo, heroku, world,
                                       monkeypatch):
        got = {}

        def fake_deploy(c, api, s, **kw):
            got["strategy"] = s.strategy
            raise SystemExit  # stop here; only the settings matter

        monkeypatch.setattr(core_deploy, "deploy", fake_deploy)
        with pytest.raises(SystemExit):
            production(ctx(tmp_path, strategy="naive"), strategy="conditional")
        assert got["strategy"] == "conditional"
        with pytest.raises(SystemExit):
            production(ctx(tmp_path, strategy="naive"))
        assert got["strategy"] == "naive"

    def test_api_settings_come_from_config(self, tmp_path, repo, heroku, world):
        c = ctx(tmp_path, api={"url": "https://127.0.0.1:1", "cabundle": "/ca.pem",
                               "retries": 2})
        deploy.plan(c, stage="production")
        assert world["make_api"][-1] == {"url": "https://127.0.0.1:1",
                                         "cabundle": "/ca.pem", "retries": 2,
                                         "dry_run": False}

    def test_dry_run_reaches_http(self, tmp_path, repo, heroku, world, capsys):
        repo.commit({"db/migrate/002.rb": "x"})
        production(ctx(tmp_path, dry=True))
        assert world["make_api"][-1]["dry_run"] is True
        assert heroku.calls == []
        out = capsys.readouterr().out
        assert "Deploy plan for tally-prod" in out and "DRY RUN" in out


class TestDeployTask:
    def test_json_report_on_success(self, tmp_path, repo, heroku, world):
        repo.commit({"db/migrate/002.rb": "x"})
        path = tmp_path / "out" / "deploy.json"
        production(ctx(tmp_path), json=str(path))
        data = json.loads(path.read_text())
        assert data["ok"] and data["windows"]["maintenance"]["duration"] >= 0
        assert world["migrations"] == 1

    def test_json_report_and_one_line_exit_on_failure(self, tmp_path, repo, heroku,
                                                      world, monkeypatch):
        repo.commit({"db/migrate/002.rb": "x"})
        monkeypatch.setattr(rendezvous, "attach", lambda url, out, **kw: 2)
        path = tmp_path / "deploy.json"
        with pytest.raises(Exit) as err:
            production(ctx(tmp_path), json=str(path))
        assert err.value.code == 1
        assert "db.migrate failed" in err.value.message
        assert "\n" not in err.value.message
        data = json.loads(path.read_text())
        assert data["ok"] is False and "exited 2" in data["error"]

    def test_dirty_tree_refused_unless_allowed(self, tmp_path, repo, heroku, world):
        (repo.path / "Procfile").write_text("web: changed\n")
        with pytest.raises(Exit, match="uncommitted changes"):
            production(ctx(tmp_path))
        assert heroku.calls == []
        production(ctx(tmp_path), allow_dirty=True)
        assert heroku.current_release(APP)["version"] == 2

    def test_check_hooks_run_around_the_check(self, tmp_path, repo, heroku, world):
        log = tmp_path / "hooks.log"
        hooks = {"before": {"check": f"echo before $HEROTASKS_APP >> {log}"},
                 "after": {"check": f"echo after $HEROTASKS_COMMIT >> {log}",
                           "lock.acquire": f"echo locked >> {log}"}}
        production(ctx(tmp_path, hooks=hooks))
        head = repo.git("rev-parse", "HEAD")
        assert log.read_text().split("\n")[:3] == [f"before {APP}", f"after {head}",
                                                    "locked"]

    def test_a_failing_check_hook_stops_before_anything_changes(self, tmp_path, repo,
                                                                heroku, world):
        hooks = {"before": {"check": "exit 4"}}
        with pytest.raises(Exit, match="hook before check exited 4"):
            production(ctx(tmp_path, hooks=hooks))
        assert heroku.calls == []
        assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*.json"))

    def test_unknown_ref(self, tmp_path, repo, heroku, world):
        with pytest.raises(Exit, match="unknown git ref 'nope'"):
            production(ctx(tmp_path), ref="nope")

    def test_unknown_app(self, tmp_path, repo, heroku, world):
        c = ctx(tmp_path, stages={"production": {"app": "nope"}})
        with pytest.raises(Exit, match="unknown app 'nope'"):
            production(c)

    def test_missing_procfile(self, tmp_path, repo, heroku, world):
        repo.git("rm", "-q", "Procfile")
        repo.commit(msg="no procfile")
        with pytest.raises(Exit, match="has no Procfile"):
            production(ctx(tmp_path))

    def test_not_a_git_repository(self, tmp_path, heroku, world, monkeypatch):
        plain = tmp_path / "plain"
        plain.mkdir()
        monkeypatch.chdir(plain)
        monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
        with pytest.raises(Exit, match="not a git repository"):
            production(ctx(tmp_path))

    def test_shallow_clone(self, tmp_path, repo, heroku, world, monkeypatch):
        repo.commit({"README": "2"})
        clone = tmp_path / "shallow"
        repo.git("clone", "-q", "--depth", "1", f"file://{repo.path}", str(clone))
        monkeypatch.chdir(clone)
        with pytest.raises(Exit, match="shallow clone"):
            production(ctx(tmp_path))


class TestRollbackAndStatus:
    def test_rollback_warns_when_migrations_lie_between(self, tmp_path, repo,
                                                        heroku, world, capsys):
        repo.commit({"db/migrate/002.rb": "x"})
        production(ctx(tmp_path))
        capsys.readouterr()
        deploy.rollback(ctx(tmp_path), stage="production")
        captured = capsys.readouterr()
        assert "migrations lie between v1 and v2" in captured.err
        assert heroku.current_release(APP)["description"] == "Rollback to v1"

    def test_rollback_past_a_contract_migration_is_refused(self, tmp_path, repo,
                                                           heroku, world, capsys):
        """Issue 16: v1's code uses what the contract in v2 drops."""
        repo.commit({"db/migrate/002_drop_votes.rb": (
            "class DropVotes < ActiveRecord::Migration[7.1]\n"
            "  def change\n    drop_table :votes\n  end\nend\n")})
        production(ctx(tmp_path))
        capsys.readouterr()
        with pytest.raises(Exit, match="refusing to roll back to v1: its code uses "
                           "what db/migrate/002_drop_votes.rb"):
            deploy.rollback(ctx(tmp_path), stage="production")
        assert heroku.current_release(APP)["version"] == 2

    def test_rollback_without_migrations_is_quiet(self, tmp_path, repo, heroku,
                                                  world, capsys):
        repo.commit({"README": "x"})
        production(ctx(tmp_path))
        capsys.readouterr()
        deploy.rollback(ctx(tmp_path), stage="production")
        assert "warning" not in capsys.readouterr().err

    def test_status_shows_the_stage(self, tmp_path, repo, heroku, world, capsys):
        repo.commit({"db/migrate/002.rb": "x"})
        deploy.status(ctx(tmp_path))
        out = capsys.readouterr().out
        assert "production: tally-prod" in out
        assert "migrations pending (db/migrate changed: 1 file)" in out
        assert "worker=3:standard-2x" in out and "lock:        free" in out

    def test_db_pending(self, tmp_path, repo, heroku, world, capsys):
        repo.commit({"app/x.rb": "x"})
        assert db.pending(ctx(tmp_path), stage="production") is False
        repo.commit({"db/migrate/002.rb": "x"})
        assert db.pending(ctx(tmp_path), stage="production") is True
        assert "db/migrate/002.rb" in capsys.readouterr().out


class TestByHand:
    def run_by_hand(self, c):
        assets.precompile(c)
        scratch.create(c, stage="production")
        slug.build(c, stage="production")
        workers.stop(c, stage="production")
        maintenance.on(c, stage="production")
        slug.promote(c, stage="production")
        db.migrate(c, stage="production")
        maintenance.off(c, stage="production")
        workers.restore(c, stage="production")
        scratch.destroy(c, stage="production")

    def test_same_end_state_as_deploy_production(self, tmp_path, repo, heroku,
                                                 world, monkeypatch):
        from tests.support.fakeheroku import FakeHeroku

        repo.commit({"db/migrate/002.rb": "x"})
        self.run_by_hand(ctx(tmp_path / "a"))
        by_hand = end_state(heroku)
        assert jn.load(tmp_path / "a" / "state", APP) is None

        other = FakeHeroku()
        other.add_app(APP, preboot=True, formation={"web": (2, "standard-1x"),
                                                    "worker": (3, "standard-2x")})
        first = repo.git("rev-list", "--max-parents=0", "HEAD")
        other.add_release(APP, commit=first, description=release_description(first))
        monkeypatch.setattr(heroku_api, "make_api", lambda *a, **kw: other)
        monkeypatch.setattr(core_slug, "push", lambda c, api, url, sha, **kw:
                            other.receive_push(url.rsplit("/", 1)[-1][:-4], sha))
        production(ctx(tmp_path / "b"))
        assert end_state(other) == by_hand
        assert world["migrations"] == 2  # once by hand, once by deploy

    def test_recover_puts_back_what_hand_run_steps_changed(self, tmp_path, repo,
                                                           heroku, world):
        c = ctx(tmp_path)
        workers.stop(c, stage="production")
        maintenance.on(c, stage="production")
        scratch.create(c, stage="production")
        assert heroku.formation_[APP]["worker"]["quantity"] == 0
        deploy.recover(c, stage="production")
        assert heroku.apps_[APP]["maintenance"] is False
        assert heroku.formation_[APP]["worker"] == {"type": "worker", "quantity": 3,
                                                    "size": "standard-2x"}
        assert core_scratch.scratch_name("ht-scratch", APP) not in heroku.apps_

    def test_workers_stop_twice_keeps_the_first_record(self, tmp_path, repo, heroku,
                                                       world):
        c = ctx(tmp_path)
        workers.stop(c, stage="production")
        with pytest.raises(Exit, match="already stopped .*worker=3"):
            workers.stop(c, stage="production")
        workers.restore(c, stage="production")
        assert heroku.formation_[APP]["worker"]["quantity"] == 3

    def test_restore_without_record(self, tmp_path, repo, heroku, world):
        with pytest.raises(Exit, match="no recorded formation"):
            workers.restore(ctx(tmp_path), stage="production")

    def test_slug_build_needs_precompile_and_scratch(self, tmp_path, repo, heroku,
                                                     world):
        c = ctx(tmp_path)
        with pytest.raises(Exit, match="run `inv assets.precompile` first"):
            slug.build(c, stage="production")
        assets.precompile(c)
        with pytest.raises(Exit, match="run `inv scratch.create --stage production`"):
            slug.build(c, stage="production")

    def test_promote_needs_a_slug(self, tmp_path, repo, heroku, world):
        with pytest.raises(Exit, match="no slug recorded"):
            slug.promote(ctx(tmp_path), stage="production")

    def test_deploy_refused_while_hand_run_changes_are_open(self, tmp_path, repo,
                                                            heroku, world):
        c = ctx(tmp_path)
        maintenance.on(c, stage="production")
        with pytest.raises(Exit, match="deploy.recover"):
            production(c)


def test_under_fabric_local_commands_stay_local(tmp_path, repo, monkeypatch):
    """`fab -H host assets.precompile` gets a Connection: run() is remote."""
    from fabric import Connection

    cxn = Connection("remote.invalid", config=ctx(tmp_path).config)

    def remote(*a, **kw):
        raise AssertionError(f"ran on the remote host: {a}")

    monkeypatch.setattr(cxn, "run", remote)
    monkeypatch.setattr(cxn, "sudo", remote)
    assets.precompile(cxn)
    assert repo.git("rev-parse", "--verify", "refs/herotasks/assets/latest")
