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
* a build or a release is still pending on the app while the promotion was
  cut off (a killed ``git push`` leaves its build running on Heroku, and the
  build releases when it ends): **wait**, since undoing now would race the
  new code going live. :func:`recover` polls politely (every few seconds,
  well under Heroku's ~75 requests a minute) until it is settled, then
  decides; still pending after the build and release timeouts, it says so
  in one line and changes nothing.

Steps run by hand (``workers.stop`` then a crash) have no plan to finish, so
their open changes are undone.

Before any of that, recovery makes sure the deploy it recovers is really gone
(:func:`check_gone`): re-running its migration and rolling back underneath a
deploy that still runs is the worst it could do. It refuses while the
journal's process still runs on this machine, or while the deploy lock is
held by a running deploy here or by any deploy on another machine (whose pid
cannot be checked from here: only ``--force`` says it is gone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from herotasks.adapters import processes
from herotasks.core import generations, lock
from herotasks.core import journal as journal_mod
from herotasks.core.actions import ROLLBACK_PREBOOT
from herotasks.core.engine import Engine
from herotasks.core.journal import CLOSED, DONE, FAILED, STARTED, Journal
from herotasks.core.report import Report
from herotasks.core.steps import PROMOTE_STEPS
from herotasks.errors import HerotasksError, StillRunning, hint_command, recover_hint

NOTHING, UNDO, FINISH, WAIT, KEEP_CODE = ("nothing", "undo", "finish", "wait",
                                         "keep-code")
#: Seconds between looks while waiting: three requests a look stays far under
#: Heroku's rate limit (~75 requests a minute sustained).
POLL = 5.0


@dataclass(frozen=True)
class RecoverPlan:
    """What recovery will do, and why (printed before it acts)."""

    mode: str
    reason: str
    steps: tuple[str, ...] = ()
    adopt: str | None = None  # promote step that went live though never marked done
    #: --keep-code: the migration the kept code never got (missing_migration)
    missing: str | None = None

    def describe(self) -> str:
        """One or two lines for the terminal."""
        text = f"recover: {self.mode} ({self.reason})"
        if self.steps:
            text += "\n  steps: " + ", ".join(self.steps)
        return text


def decide(journal: Journal | None, current: dict | None,
           newest: dict | None = None,
           builds: Sequence[dict] = ()) -> RecoverPlan:
    """Decide how to recover.

    :param journal: the app's journal (None when there is none).
    :param current: the release Heroku runs now.
    :param newest: the newest release (may be pending, unlike ``current``).
    :param builds: the app's builds (newest first); a pending one may still
        release the code of a cut-off ``git push``.
    """
    if journal is None:
        return RecoverPlan(NOTHING, "nothing to recover: no unfinished deploy "
                           "recorded here or with the deploy lock")
    open_steps = tuple(e.step for e in journal.open_entries())
    planned = [s["name"] for s in journal.planned()]
    if not planned:
        if not open_steps:
            return RecoverPlan(NOTHING, "nothing was left changed")
        return RecoverPlan(UNDO, "steps run by hand left changes", open_steps)
    promote = next((n for n in planned if n in PROMOTE_STEPS), None)
    status = journal.status(promote) if promote else None
    remaining = tuple(n for n in planned if not journal.is_complete(n))
    if status in (STARTED, FAILED):
        # cut off (or failed on our side): Heroku may still be making it live
        building = next((b for b in builds if b.get("status") == "pending"), None)
        if building is not None:
            return RecoverPlan(WAIT, f"build {building.get('id')} is still pending "
                               f"on {journal.app}, and may release when it ends")
        if newest and newest.get("status") == "pending" and (
                newest.get("id") != journal.facts.previous_release):
            return RecoverPlan(WAIT, f"release v{newest.get('version')} is still "
                               f"pending on {journal.app}")
    if status == STARTED:
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
    if status == DONE and _taken_back(journal, current):
        # a rollback (the health check's, say) took effect and was cut off
        # before the journal heard of it: never "the new release is live"
        return RecoverPlan(UNDO, f"the new release v{journal.facts.release_version}"
                           " is no longer live: a rollback took it back "
                           f"(Heroku runs v{current.get('version')}); putting "
                           "back the rest", open_steps)
    if status == DONE and ROLLBACK_PREBOOT in open_steps:
        # cut off while rolling back (preboot already off for its release):
        # the deploy had failed and the rollback was decided; finish it
        return RecoverPlan(UNDO, f"a rollback of v{journal.facts.release_version}"
                           " was under way (preboot turned off for it); "
                           "finishing it and putting back the rest", open_steps)
    if not remaining:
        return RecoverPlan(NOTHING, "every planned step completed")
    return RecoverPlan(FINISH, "the new release is live; completing the deploy",
                       remaining)


def stale(journal: Journal, holder: lock.Holder | None) -> str | None:
    """Why this machine's ``journal`` is no longer the truth (None: it is).

    The one rule: the deploy lock's holder decides. A journal whose deploy
    took the lock (or tried to) is the truth only while the lock names its
    deploy id. Once the lock is free, or held by another deploy, that deploy
    was finished or undone by someone else (another machine recovered it from
    the lock's copy, or a later deploy took the lock after it), and acting on
    this journal would undo or redo work over a newer state. A journal that
    never took the lock (steps run by hand) or released it already (its
    last undos failed after the lock went) stays the truth.

    :param holder: who holds the lock now (None: nobody, or not written yet).
    """
    took = journal.status("lock.acquire")
    if took is None or took == CLOSED:
        return None
    if holder is not None and holder.deploy_id == journal.deploy_id:
        return None
    if holder is not None:
        return (f"the deploy lock is held by another deploy "
                f"({holder.deploy_id[:12]}, {holder.describe()})")
    if took == DONE:
        return ("the deploy lock it held has been released since: that deploy "
                "was finished or undone elsewhere")
    return None  # its lock request's outcome may be unknown: still the truth


def missing_migration(journal: Journal) -> str | None:
    """What a release kept without its migration lacks, or None.

    The promotion began (its code may be live) and the planned
    ``db.migrate`` never completed: keeping that code keeps it on the old
    schema. A release-phase migration is part of the promotion itself.
    """
    planned = [s.get("name") for s in journal.facts.plan]
    if "db.migrate" not in planned or journal.is_complete("db.migrate"):
        return None
    if not any(journal.status(n) is not None for n in PROMOTE_STEPS):
        return None
    return journal.facts.pending_reason or "migrations pending"


def last_line(plan: RecoverPlan, report: Report | None, *,
              app: str, stage: str | None) -> str:
    """The line that ends a recovery that succeeded: what is true now.

    (A recovery that left a change open fails instead, with the report's
    error as its last line.)
    """
    if report is None:
        return f"recover: {plan.mode}: {plan.reason}"
    new = (report.commit_to or "?")[:10]
    old = (report.commit_from or "the code from before")[:10]
    version = f" v{report.release_version}" if report.release_version else ""
    if plan.mode == UNDO:
        return (f"recover: undone; {app} serves {old} as before the deploy of "
                f"{new}, which never went live")
    if plan.mode == FINISH:
        return f"recover: finished; {app} runs {new}{version}, the deploy completed"
    if plan.missing:
        stage_flag = f" --stage {stage}" if stage else ""
        return (f"recover: kept code without migration ({plan.missing}); {app} runs "
                f"{new} on the old schema: run `"
                + hint_command(f"db.migrate{stage_flag}") + "` to apply it")
    return f"recover: kept the code now live; {app} runs {new}{version}"



def check_gone(journal: Journal, holder: lock.Holder | None, *,
               here: str | None = None,
               running: Callable[[int | None, str | None], str | None]
               = processes.running) -> None:
    """Refuse to recover while the deploy may still be running.

    :param holder: who holds the app's deploy lock now (None: nobody).
    :param here: this machine's name.
    :param running: the live command line of a pid (with its recorded start
        time), None when it is gone (:func:`herotasks.adapters.processes.running`).
    :raises StillRunning: one line naming the holder and what to do.
    """
    here = here or processes.host()
    wait = "wait for it to finish"
    facts = journal.facts
    pid, where = facts.pid, facts.host or here
    when = utc(journal.started_at)
    if pid and where == here:
        cmd = running(pid, facts.pid_started)
        if cmd is not None:
            raise StillRunning(
                f"the deploy of {journal.app} is still running: pid {pid} on "
                f"{where}, started {when}, command: {cmd or 'unknown'}; nothing "
                "was changed",
                f"{wait}; if it hangs, stop it (kill {pid}) and run `"
                + recover_hint(journal.stage) + "` again")
    elif pid:
        raise StillRunning(
            f"the deploy of {journal.app} was started on {where} (pid {pid}, "
            f"started {when}) and cannot be checked from {here}; nothing was "
            "changed",
            f"{wait}; if it is gone, run `"
            + recover_hint(journal.stage, "--force") + "`")
    if holder is None:
        return
    holder_host = holder.who.rpartition("@")[2]
    age = _age(time.time() - holder.since) if holder.since else "unknown time"
    if holder_host == here:
        cmd = running(holder.pid, None)
        if cmd is not None:
            raise StillRunning(
                f"the deploy lock of {journal.app} is held by a running deploy: "
                f"{holder.describe()}, command: {cmd or 'unknown'}; nothing was "
                "changed",
                f"{wait}; if it hangs, stop it (kill {holder.pid}) and run `"
                + recover_hint(journal.stage) + "` again")
        return
    raise StillRunning(
        f"the deploy lock of {journal.app} is held by {holder.describe()}, for "
        f"{age}, on another machine, which may still be deploying; nothing was "
        "changed",
        f"{wait}; if it is gone, run `"
        + recover_hint(journal.stage, "--force") + "`")


def utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{max(seconds, 0):.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _went_live(journal: Journal, current: dict | None) -> bool:
    """Whether Heroku runs the release the interrupted promotion made."""
    if not current:
        return False
    facts = journal.facts
    slug_id = facts.slug_id
    if slug_id and generations.artifact_id(current) == slug_id:
        return True
    # app.push has no slug id of ours: any release other than the one that
    # ran before the deploy is the push's
    return (not slug_id and current.get("id") is not None
            and current.get("id") != facts.previous_release)


def _taken_back(journal: Journal, current: dict | None) -> bool:
    """A promotion done, but Heroku now runs another slug (a rollback)."""
    slug_id = journal.facts.slug_id
    live = generations.artifact_id(current)
    return bool(slug_id and live and live != slug_id)


def look(journal: Journal, api: Any) -> tuple[dict | None, RecoverPlan]:
    """What Heroku says now, and the decision it leads to (three GETs)."""
    current = api.current_release(journal.app)
    recent = api.releases(journal.app, limit=1)
    builds = api.builds(journal.app)
    return current, decide(journal, current, recent[0] if recent else None, builds)


def recover(engine: Engine, journal: Journal | None, api: Any, *,
            out: Any = print, keep_code: bool = False, force: bool = False,
            poll: float = POLL, sleep: Callable[[float], Any] = time.sleep,
            ) -> tuple[RecoverPlan, Report | None]:
    """Decide and act; the plan and the report of what ran (None if nothing).

    :param keep_code: undo every open change but the promotion (see
        :func:`herotasks.core.deploy.recover_deploy`).
    :param force: recover although the deploy may still run (``--force``).
    :param poll: seconds between looks while a build or release is pending.
    :raises StillRunning: it may (see :func:`check_gone`).
    :raises HerotasksError: still pending at the deadline; nothing changed.
    """
    if journal is None:
        plan = decide(None, None)
        out(plan.describe())
        return plan, None
    if not force:
        check_gone(journal, lock.held_by(api, journal.app))
    if keep_code:
        open_steps = tuple(e.step for e in journal.open_entries())
        missing = missing_migration(journal)
        plan = RecoverPlan(KEEP_CODE, "putting back everything but the code now "
                           "live", open_steps, missing=missing)
        out(plan.describe())
        journal.remember(**processes.me())  # a second recover must see us
        report = engine.unwind(journal, "recovering, keeping the code",
                               keep=("rollback",))
        if missing:  # deploy.status and the next deploy keep it pending
            journal_mod.note_unmigrated(
                engine.tools.settings.statedir, journal.app,
                commit=journal.facts.source,
                since=journal.facts.deployed, reason=missing)
        report.verdict = ("kept the code without its migration" if missing
                          else "kept the code")
        return plan, report
    timeouts = engine.tools.settings.timeouts
    # as long as a build and the release it makes may take
    deadline = time.monotonic() + timeouts.build + timeouts.release
    said = None
    while True:
        current, plan = look(journal, api)
        if plan.mode != WAIT:
            break
        if plan.reason != said:
            out(f"recover: waiting ({plan.reason})")
            said = plan.reason
        if time.monotonic() >= deadline:
            raise HerotasksError(
                f"{plan.reason}, still after "
                f"{timeouts.build + timeouts.release:g}s; nothing was changed",
                "run `" + recover_hint(journal.stage) + "` again once "
                f"it has finished (heroku builds -a {journal.app})")
        sleep(poll)
    out(plan.describe())
    if plan.mode in (FINISH, UNDO):
        # this process carries the deploy on now: a second recover must see it
        journal.remember(**processes.me())
    if plan.mode == FINISH:
        if plan.adopt and current:
            journal.done(plan.adopt, release_id=current.get("id"),
                         release_version=current.get("version"))
        report = engine.resume(journal)
        report.verdict = "finished"
        return plan, report
    if plan.mode == UNDO:
        report = engine.unwind(journal, "recovering an interrupted deploy")
        report.verdict = "undone"
        return plan, report
    if plan.mode == NOTHING:
        journal.finish()
    return plan, None
