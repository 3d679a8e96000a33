"""Deploys that meet a slow, late or failing Heroku, end to end on the sandbox.

Each test injects one fault through the sandbox's admin interface (or a hook
that fails or kills herotasks) and asserts the end state a user would see:
code and schema agree, nothing is left half-done without a journal and a
one-line way out, and the report and exit status tell the truth.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.projects import assert_clean, steps


@pytest.fixture
def fault(admin):
    """fault(**spec): inject one sandbox fault; all are cleared afterwards."""
    def inject(**spec):
        admin.post("/faults", spec)
    yield inject
    admin.delete("/faults")


def journal_of(proj):
    return proj.root / ".herotasks" / "journal" / f"{proj.app}.json"


def last_line(done) -> str:
    return done.stderr.strip().splitlines()[-1]


def migrated_deploy(proj):
    """v1 deployed and scaled; a migration committed; the release before."""
    proj.deploy()
    proj.scale(web="1:Standard-1X", worker="2:Standard-1X")
    before = proj.current()
    proj.add_migration()
    return before


# -- 1. answers that never came: find out before undoing ----------------------


@pytest.mark.parametrize("lost", [{"drop": True}, {"status": 503}],
                         ids=["dropped", "5xx"])
def test_a_lost_release_answer_is_settled_from_the_releases(tally, fault, lost):
    before = migrated_deploy(tally)
    fault(method="POST", path=r"^/apps/[^/]+/releases$", after=True, **lost)
    done, report = tally.deploy(check=False)
    # the release was made: herotasks found it and carried on, migration and all
    assert done.returncode == 0, done.stderr
    assert report["ok"]
    assert len(tally.applied()) == 2
    assert tally.current()["id"] != before["id"]
    assert_clean(tally.state())
    assert not journal_of(tally).exists()


def test_a_migration_dyno_of_unknown_outcome_keeps_the_window(tally, fault):
    migrated_deploy(tally)
    # the target's migration dyno, made in the window after the release: the
    # conditional strategy's (herotasks' own boots on the scratch app before
    # the window, db.prestart: tests/e2e/tasks/test_e2e_prestart.py)
    fault(method="POST", path=rf"^/apps/{tally.app}/dynos$", after=True, drop=True)
    done, report = tally.deploy("--strategy", "conditional", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = last_line(done)
    assert "unknown" in line and "deploy.recover" in line
    # nothing undone underneath a migration that may be running: the window
    # stays, the new release stays, the journal stays
    state = tally.state()
    assert state["maintenance"] is True and state["lock"] is True
    assert journal_of(tally).exists()
    done = tally.inv("deploy.recover", "--stage", "production")
    assert "recover: finish" in done.stdout
    assert_clean(tally.state())
    assert len(tally.applied()) == 2


# -- 5. past a successful migration, never back to the old code ----------------


def test_a_failure_after_the_migration_keeps_the_new_release(tally, fault):
    before = migrated_deploy(tally)
    fault(method="DELETE", path=r"^/apps/[^/]+/dynos$", status=503, count=50)
    done, report = tally.deploy(check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = last_line(done)
    assert line.startswith("herotasks: dynos.restart failed")
    assert "kept v" in line and "migrated" in line
    # the new code stays live on the new schema; the window is closed again
    assert tally.current()["id"] != before["id"]
    assert "slug.rollback" not in steps(report)
    assert len(tally.applied()) == 2
    state = tally.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"),
                                  ("worker", 2, "Standard-1X")]


def test_a_failing_after_hook_of_maintenance_off_is_a_warning(tally):
    migrated_deploy(tally)
    hook = tally.hook_file("after", "maintenance.off", "exit 3")
    done, report = tally.deploy(check=False, runtime=hook)
    assert done.returncode == 0, done.stderr
    assert report["ok"] and any("maintenance.off" in w for w in report["warnings"])
    assert "warning" in done.stdout.strip().splitlines()[-1]
    assert len(tally.applied()) == 2
    assert_clean(tally.state())


def test_a_scratch_app_that_will_not_go_is_a_named_leftover(tally, fault, admin):
    from herotasks.core.scratch import scratch_name

    migrated_deploy(tally)
    # the scratch app goes by its name, or by the id herotasks made it with
    fault(method="DELETE", path=f"^/apps/({scratch_name('ht-scratch', tally.app)}"
          "|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
          status=503, count=50)
    done, report = tally.deploy(check=False)
    assert done.returncode == 0, done.stderr
    assert report["ok"]
    warning = next(w for w in report["warnings"] if "scratch.destroy" in w)
    assert "deploy.recover --stage production" in warning
    assert scratch_name("ht-scratch", tally.app) in warning
    assert tally.state()["scratch"] is True and len(tally.applied()) == 2
    admin.delete("/faults")  # Heroku is back
    tally.inv("deploy.recover", "--stage", "production")
    assert tally.state()["scratch"] is False and not journal_of(tally).exists()


# -- 7. recovery from any machine ------------------------------------------------


def test_recover_on_another_machine_uses_the_journal_kept_with_the_lock(tally):
    before = migrated_deploy(tally)
    kill = tally.hook_file("after", "maintenance.on", "kill -9 $PPID")
    done, _ = tally.deploy(check=False, runtime=kill)
    assert done.returncode != 0 and tally.state()["maintenance"] is True
    shutil.rmtree(tally.root / ".herotasks" / "journal")  # the CI runner is gone

    status = tally.inv("deploy.status", "--stage", "production").stdout
    assert "UNFINISHED deploy" in status and "maintenance.on" in status
    # taking the lock by force must not carry on inside the other's window
    done, _ = tally.deploy("--force-unlock", check=False)
    assert done.returncode == 1 and "deploy.recover" in last_line(done)
    assert tally.state()["maintenance"] is True and len(tally.applied()) == 1

    done = tally.inv("deploy.recover", "--stage", "production")
    assert "recover: undo" in done.stdout
    state = tally.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"),
                                  ("worker", 2, "Standard-1X")]
    assert tally.current()["slug"]["id"] == before["slug"]["id"]


# -- 8. no dead ends --------------------------------------------------------------


def test_a_failed_first_deploy_has_a_way_out(tally):
    tally.api.patch(f"/apps/{tally.app}/config-vars", {"FAIL_MIGRATION": "1"})
    done, _ = tally.deploy(check=False)
    assert done.returncode == 1
    assert "deploy.recover --stage production --keep-code" in last_line(done)
    assert tally.state()["maintenance"] is True
    current = tally.current()
    done = tally.inv("deploy.recover", "--stage", "production", "--keep-code")
    assert "recover: keep-code" in done.stdout
    assert_clean(tally.state())
    assert tally.current()["id"] == current["id"]  # releases untouched
    assert not journal_of(tally).exists()


def test_recover_with_nothing_to_do_says_so(tally):
    done = tally.inv("deploy.recover", "--stage", "production")
    assert "nothing to recover" in done.stdout


def test_a_deploy_onto_an_app_in_maintenance_says_so(tally):
    tally.deploy()
    tally.api.patch(f"/apps/{tally.app}", {"maintenance": True})
    tally.commit({"index.html": "v2\n"})
    done, report = tally.deploy(check=False)
    assert done.returncode == 0 and report["ok"]
    assert any("maintenance" in w for w in report["warnings"])
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("warning:") and "maintenance" in last
    assert json.loads(json.dumps(report))["warnings"]


def test_a_precheck_dyno_of_unknown_outcome_goes_with_the_scratch_app(tally, fault):
    tally.deploy()
    before = tally.current()
    tally.commit({"index.html": "v2\n"})
    # the check's one-off dyno runs on the scratch app: whatever it does,
    # it goes when the unwinding destroys that app; nothing was released
    fault(method="POST", path=r"^/apps/ht-scratch-[^/]+/dynos$", after=True,
          drop=True)
    done, report = tally.deploy(check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "health.precheck failed" in last_line(done)
    assert tally.current()["id"] == before["id"]
    assert_clean(tally.state())
    assert not journal_of(tally).exists()
