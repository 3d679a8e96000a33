"""``deploy.recover``: finish or undo an interrupted deploy, from its journal.

The decision is a pure function of the journal and what Heroku says now:

* nothing open: nothing to do (the journal is just removed);
* the new release never went live (promotion not started, failed, or started
  but Heroku still runs the previous release): **undo** every open change,
  newest first (maintenance off, workers and preboot back, scratch app and
  lock gone);
* the new release went live: **finish** the planned steps that did not
  complete, re-running the one that was cut off (a migration applies what is
  left; scaling and maintenance set absolute values). If that migration fails,
  the engine rolls back exactly as in a deploy;
* a release is still pending on Heroku (its release phase runs): **wait** and
  ask to be run again, since undoing now could race the release going live.

Steps run by hand (``workers.stop`` then a crash) have no plan to finish, so
their open changes are undone.
"""

from __future__ import annotations

from herotasks.errors import hint_command

from dataclasses import dataclass
from typing import Any

from herotasks.core.engine import Engine
from herotasks.core.steps import PROMOTE_STEPS
from herotasks.core.journal import FAILED, STARTED, Journal
from herotasks.core.report import Report

NOTHING, UNDO, FINISH, WAIT, KEEP_CODE = ("nothing", "undo", "finish", "wait",
                                         "keep-code")


@dataclass(frozen=True)
class RecoverPlan:
    """What recovery will do, and why (printed before it acts)."""

    mode: str
    reason: str
    steps: tuple[str, ...] = ()
    adopt: str | None = None  # promote step that went live though never marked done

    def describe(self) -> str:
        """One or two lines for the terminal."""
        text = f"recover: {self.mode} ({self.reason})"
        if self.steps:
            text += "\n  steps: " + ", ".join(self.steps)
        return text


def decide(journal: Journal | None, current: dict | None,
           newest: dict | None = None) -> RecoverPlan:
    """Decide how to recover.

    :param journal: the app's journal (None when there is none).
    :param current: the release Heroku runs now.
    :param newest: the newest release (may be pending, unlike ``current``).
    """
    if journal is None:
        return RecoverPlan(NOTHING, "nothing to recover: no unfinished deploy "
                           "recorded here or with the deploy lock")
    open_steps = tuple(e.step for e in journal.open_entries())
    planned = [s["name"] for s in journal.facts.get("plan", [])]
    if not planned:
        if not open_steps:
            return RecoverPlan(NOTHING, "nothing was left changed")
        return RecoverPlan(UNDO, "steps run by hand left changes", open_steps)
    promote = next((n for n in planned if n in PROMOTE_STEPS), None)
    status = journal.status(promote) if promote else None
    remaining = tuple(n for n in planned if n != "check"
                      and not journal.is_complete(n))
    if status == STARTED:
        if newest and newest.get("status") == "pending" and (
                newest.get("id") != journal.facts.get("previous_release")):
            return RecoverPlan(WAIT, f"release v{newest.get('version')} is still "
                               "pending on Heroku; run `" + hint_command("deploy.recover")
                               + "` again when "
                               "it has finished")
        if _went_live(journal, current):
            return RecoverPlan(FINISH, "the new release went live; completing "
                               "the deploy",
                               tuple(n for n in remaining if n != promote),
                               adopt=promote)
        status = FAILED
    if status in (None, FAILED):
        if not open_steps:
            return RecoverPlan(NOTHING, "the deploy stopped before changing anything")
        return RecoverPlan(UNDO, "the new release never went live", open_steps)
    if not remaining:
        return RecoverPlan(NOTHING, "every planned step completed")
    return RecoverPlan(FINISH, "the new release is live; completing the deploy",
                       remaining)


def _went_live(journal: Journal, current: dict | None) -> bool:
    """Whether Heroku runs the release the interrupted promotion made."""
    if not current:
        return False
    facts = journal.facts
    slug_id = facts.get("slug_id")
    if slug_id and (current.get("slug") or {}).get("id") == slug_id:
        return True
    # app.push has no slug id of ours: any release other than the one that
    # ran before the deploy is the push's
    return (not slug_id and current.get("id") is not None
            and current.get("id") != facts.get("previous_release"))


def recover(engine: Engine, journal: Journal | None, api: Any, *,
            out: Any = print, keep_code: bool = False,
            ) -> tuple[RecoverPlan, Report | None]:
    """Decide and act; the plan and the report of what ran (None if nothing).

    :param keep_code: undo every open change but the promotion (see
        :func:`herotasks.core.deploy.recover_deploy`).
    """
    if journal is None:
        plan = decide(None, None)
        out(plan.describe())
        return plan, None
    if keep_code:
        open_steps = tuple(e.step for e in journal.open_entries())
        plan = RecoverPlan(KEEP_CODE, "putting back everything but the code now "
                           "live", open_steps)
        out(plan.describe())
        return plan, engine.unwind(journal, "recovering, keeping the code",
                                   keep=("rollback",))
    current = api.current_release(journal.app)
    recent = api.releases(journal.app, limit=1)
    plan = decide(journal, current, recent[0] if recent else None)
    out(plan.describe())
    if plan.mode == FINISH:
        if plan.adopt and current:
            journal.done(plan.adopt, release_id=current.get("id"),
                         release_version=current.get("version"))
        return plan, engine.resume(journal)
    if plan.mode == UNDO:
        return plan, engine.unwind(journal, "recovering an interrupted deploy")
    if plan.mode == NOTHING:
        journal.finish()
    return plan, None
