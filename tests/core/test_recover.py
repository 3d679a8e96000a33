"""deploy.recover's decision: finish, undo, wait or nothing, from the journal
and what Heroku runs now."""

from __future__ import annotations

from herotasks.core import journal as jn
from herotasks.core.recover import decide

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
