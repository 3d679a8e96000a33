"""deploy.recover's decision: finish, undo, wait or nothing, from the journal
and what Heroku runs now."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from herotasks.core import journal as jn
from herotasks.core import lock
from herotasks.core.recover import (
    StillRunning,
    check_gone,
    decide,
    missing_migration,
    recover,
    stale,
)
from herotasks.errors import HerotasksError

PLAN = ["check", "lock.acquire", "scratch.create", "slug.build", "maintenance.on",
        "slug.promote", "db.migrate", "dynos.wait", "maintenance.off",
        "scratch.destroy", "lock.release"]


def journal(tmp_path, upto: str, status: str = "done"):
    """A deploy journal whose steps ran up to ``upto`` (ending in ``status``)."""
    j = jn.start(tmp_path, "app", stage="production", strategy="herotasks")
    j.remember(plan=[{"name": n, "in_window": False} for n in PLAN],
               previous_release="r1", slug_id="s2")
    undo = {"lock.acquire": {"action": "lock.release"},
            "scratch.create": {"action": "scratch.destroy"},
            "maintenance.on": {"action": "maintenance", "on": False},
            "slug.promote": {"action": "rollback", "release": "r1"}}
    for name in PLAN[1:PLAN.index(upto) + 1]:
        j.begin(name, undo.get(name))
        if name != upto or status == "done":
            j.done(name)
    return j


OLD = {"id": "r1", "version": 1, "slug": {"id": "s1"}, "status": "succeeded"}
NEW = {"id": "r2", "version": 2, "slug": {"id": "s2"}, "status": "succeeded"}


def test_no_journal(tmp_path):
    assert decide(None, OLD).mode == "nothing"


def test_before_the_promotion_everything_is_undone(tmp_path):
    plan = decide(journal(tmp_path, "maintenance.on"), OLD, OLD)
    assert plan.mode == "undo"
    assert plan.steps == ("maintenance.on", "scratch.create", "lock.acquire")


def test_promotion_cut_off_and_not_live_is_undone(tmp_path):
    plan = decide(journal(tmp_path, "slug.promote", "started"), OLD, OLD)
    assert plan.mode == "undo" and "never went live" in plan.reason


def test_promotion_cut_off_but_live_is_adopted_and_finished(tmp_path):
    plan = decide(journal(tmp_path, "slug.promote", "started"), NEW, NEW)
    assert plan.mode == "finish" and plan.adopt == "slug.promote"
    assert plan.steps[0] == "db.migrate" and "slug.promote" not in plan.steps


def test_release_still_pending_means_wait(tmp_path):
    pending = dict(NEW, status="pending")
    plan = decide(journal(tmp_path, "slug.promote", "started"), OLD, pending)
    assert plan.mode == "wait" and "still pending" in plan.reason


def test_killed_during_migrate_finishes_from_the_migration(tmp_path):
    plan = decide(journal(tmp_path, "db.migrate", "started"), NEW, NEW)
    assert plan.mode == "finish"
    assert plan.steps == ("db.migrate", "dynos.wait", "maintenance.off",
                          "scratch.destroy", "lock.release")


def test_only_the_tail_missing(tmp_path):
    j = journal(tmp_path, "maintenance.off")
    plan = decide(j, NEW, NEW)
    assert plan.mode == "finish" and plan.steps == ("scratch.destroy", "lock.release")


def test_stopped_before_changing_anything(tmp_path):
    j = jn.start(tmp_path, "app", stage=None, strategy="herotasks")
    j.remember(plan=[{"name": n} for n in PLAN])
    assert decide(j, OLD, OLD).mode == "nothing"


def test_hand_run_changes_are_undone(tmp_path):
    j = jn.open_or_start(tmp_path, "app", stage="production")
    j.begin("workers.stop", {"action": "formation", "processes": []})
    j.done("workers.stop")
    plan = decide(j, OLD, OLD)
    assert plan.mode == "undo" and plan.steps == ("workers.stop",)


# -- recovery refuses while the deploy may still run ---------------------------------

def holder(who: str, pid: int = 77) -> lock.Holder:
    return lock.Holder("app", who, pid, "production", "", time.time() - 300, "d1")


def test_a_live_journal_process_here_is_refused(tmp_path):
    j = journal(tmp_path, "db.migrate", "started")
    j.facts.update(pid=4321, host="box", pid_started="99")
    seen = []

    def running(pid, started):
        seen.append((pid, started))
        return "python -m invoke deploy.production"

    with pytest.raises(StillRunning) as err:
        check_gone(j, None, here="box", running=running)
    assert seen == [(4321, "99")]
    line = str(err.value)
    assert "still running: pid 4321 on box" in line
    assert "command: python -m invoke deploy.production" in line
    assert "\n" not in line and "wait for it to finish" in line


def test_a_dead_journal_process_and_a_dead_local_holder_let_recovery_go(tmp_path):
    j = journal(tmp_path, "db.migrate", "started")
    j.facts.update(pid=4321, host="box")
    check_gone(j, holder("ci@box"), here="box", running=lambda pid, started: None)


def test_another_machine_cannot_be_checked_so_it_is_refused(tmp_path):
    j = journal(tmp_path, "db.migrate", "started")
    j.facts.update(pid=4321, host="box")
    with pytest.raises(StillRunning, match="ci@runner-7 .pid 77.*5 min.*--force"):
        check_gone(j, holder("ci@runner-7"), here="box",
                   running=lambda pid, started: None)
    j.facts.update(host="runner-7")  # a journal written elsewhere
    with pytest.raises(StillRunning, match="started on runner-7 .*--force"):
        check_gone(j, None, here="box", running=lambda pid, started: "x")


# -- a build or release still in flight: wait, then decide ---------------------------

PUSH_PLAN = ["check", "lock.acquire", "maintenance.on", "app.push", "db.migrate",
             "maintenance.off", "lock.release"]


def push_journal(tmp_path, status="started"):
    """A naive deploy cut off inside ``app.push``."""
    j = jn.start(tmp_path, "app", stage="production", strategy="naive")
    j.remember(plan=[{"name": n, "in_window": False} for n in PUSH_PLAN],
               previous_release="r1")
    j.begin("lock.acquire", {"action": "lock.release"})
    j.done("lock.acquire")
    j.begin("maintenance.on", {"action": "maintenance", "on": False})
    j.done("maintenance.on")
    j.begin("app.push", {"action": "rollback", "release": "r1"})
    if status == "failed":
        j.failed("app.push", "interrupted")
    return j


BUILDING = [{"id": "b2", "status": "pending"}, {"id": "b1", "status": "succeeded"}]


@pytest.mark.parametrize("status", ["started", "failed"])
def test_a_pending_build_means_wait_not_undo(tmp_path, status):
    j = push_journal(tmp_path, status)
    plan = decide(j, OLD, OLD, BUILDING)
    assert plan.mode == "wait" and "build b2 is still pending" in plan.reason
    # once it is over, the decision is made on what it did
    assert decide(j, OLD, OLD,
                  [dict(BUILDING[0], status="failed")]).mode == "undo"


class Heroku:
    """What recover reads: the build is pending for ``pending`` looks, then
    its release is live."""

    def __init__(self, pending: int):
        self.pending, self.looks = pending, 0

    def held_by(self, app):
        return None

    def current_release(self, app):  # the first of each look's three GETs
        self.looks += 1
        return self._current()

    def _current(self):
        return OLD if self.looks <= self.pending else NEW

    def releases(self, app, limit=None):
        return [self._current()]

    def builds(self, app):
        return [dict(BUILDING[0], status="pending" if self.looks <= self.pending
                     else "succeeded")]

    def config_vars(self, app):  # the lock app: none
        from herotasks.errors import ApiError
        raise ApiError("no lock", status=404)


def engine(build=30, release=30, resumed=None):
    timeouts = SimpleNamespace(build=build, release=release)
    return SimpleNamespace(tools=SimpleNamespace(settings=SimpleNamespace(
        timeouts=timeouts)), resume=lambda j: resumed.append(j) or SimpleNamespace(),
        unwind=lambda j, why: pytest.fail("undone while the build was pending"))


def test_recover_waits_for_the_build_then_finishes(tmp_path):
    api, resumed, lines, slept = Heroku(pending=3), [], [], []
    j = push_journal(tmp_path)
    plan, _ = recover(engine(resumed=resumed), j, api, out=lines.append,
                      sleep=slept.append)
    assert plan.mode == "finish" and plan.adopt == "app.push"
    assert resumed == [j] and j.status("app.push") == "done"
    assert len(slept) == 3 and all(s >= 1 for s in slept)  # polite polling
    assert sum("waiting" in line for line in lines) == 1
    # the recovering process now holds the journal: a second recover sees it
    assert j.facts.pid == os.getpid()
    with pytest.raises(StillRunning, match=f"pid {os.getpid()}"):
        check_gone(j, None, running=lambda pid, started: "inv deploy.recover")


def test_still_pending_at_the_deadline_changes_nothing(tmp_path):
    api = Heroku(pending=10**6)
    j = push_journal(tmp_path)
    with pytest.raises(HerotasksError, match="still pending.*nothing was changed"):
        recover(engine(build=0, release=0), j, api, out=lambda _: None,
                sleep=lambda s: None)
    assert j.status("app.push") == "started" and j.has_open()


# -- which journal is the truth: the lock holder's deploy id decides (issue 20) --

def held_by(deploy_id: str) -> lock.Holder:
    return lock.Holder("app", "ci@runner", 12, "production", "", 0.0, deploy_id)


def test_a_journal_is_the_truth_while_the_lock_names_its_deploy(tmp_path):
    j = journal(tmp_path, "maintenance.on")
    assert stale(j, held_by(j.deploy_id)) is None


def test_a_journal_is_stale_once_another_deploy_holds_the_lock(tmp_path):
    j = journal(tmp_path, "maintenance.on")
    why = stale(j, held_by("other-deploy"))
    assert why and "other-deploy" in why


def test_a_journal_that_held_the_lock_is_stale_once_the_lock_is_free(tmp_path):
    assert "released" in stale(journal(tmp_path, "maintenance.on"), None)


def test_a_journal_whose_lock_request_is_unsettled_stays_the_truth(tmp_path):
    # the lock's create may have been lost: only the journal knows
    assert stale(journal(tmp_path, "lock.acquire", "started"), None) is None


def test_a_journal_that_never_took_the_lock_stays_the_truth(tmp_path):
    j = jn.start(tmp_path, "app", stage="production", strategy="by hand")
    j.begin("workers.stop", {"action": "formation", "formation": []})
    j.done("workers.stop")
    assert stale(j, None) is None and stale(j, held_by("a-deploy")) is None
    # nor one that released it already (its later undos failed)
    k = journal(tmp_path / "other", "maintenance.on")
    k.close("lock.acquire")
    assert stale(k, None) is None


def test_the_kept_code_lacks_the_migration_when_it_never_ran(tmp_path):
    assert missing_migration(journal(tmp_path / "1", "slug.promote")) is not None
    assert missing_migration(journal(tmp_path / "2", "db.migrate")) is None
    assert missing_migration(journal(tmp_path / "3", "maintenance.on")) is None


def test_killed_between_the_release_and_the_contract_finishes_the_contract(tmp_path):
    """Issue 16: the new release is live and the old one gone; the contract
    (db.postmigrate) is what is left, and recovery runs it, never a rollback."""
    plan = ["check", "lock.acquire", "scratch.create", "slug.build", "slug.promote",
            "dynos.wait", "health.check", "db.postmigrate", "scratch.destroy",
            "lock.release"]
    for upto, status in (("health.check", "done"), ("db.postmigrate", "started")):
        j = jn.start(tmp_path / upto, "app", stage="production", strategy="herotasks")
        j.remember(plan=[{"name": n, "in_window": False} for n in plan],
                   previous_release="r1", slug_id="s2")
        undo = {"lock.acquire": {"action": "lock.release"},
                "scratch.create": {"action": "scratch.destroy"},
                "slug.promote": {"action": "rollback", "release": "r1"}}
        for name in plan[1:plan.index(upto) + 1]:
            j.begin(name, undo.get(name))
            if name != upto or status == "done":
                j.done(name)
        if upto == "db.postmigrate":  # the engine closes the promotion once live
            j.close("slug.promote")
        decided = decide(j, NEW, NEW)
        assert decided.mode == "finish", upto
        assert decided.steps == ("db.postmigrate", "scratch.destroy", "lock.release")


def test_killed_mid_rollback_with_preboot_off_finishes_the_rollback(tmp_path):
    # the check failed, the rollback turned preboot off for its release and
    # was cut off before it released: the new release is still current, but
    # the deploy is not "live and to finish": the rollback and preboot are due
    j = journal(tmp_path, "maintenance.off")
    j.begin("slug.rollback", {"action": "preboot", "enabled": True})
    plan = decide(j, NEW, NEW)
    assert plan.mode == "undo" and "rollback" in plan.reason
    assert plan.steps[0] == "slug.rollback" and "slug.promote" in plan.steps
