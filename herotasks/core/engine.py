"""Execute a :class:`~herotasks.core.plan.Plan`, one named step at a time.

Each step has the same shape (paratrooper's ``callback(:name) { ... }``),
and :meth:`Engine.run_step` is the one place that gives it: ``before``
hooks, the journal entry with its undo (written *before* anything changes),
the window it opens, the action, the changes it closes, the journal's
``done`` with the action's facts, the window it closes, ``after`` hooks, and
a timed :class:`~herotasks.core.report.StepRecord`. What a step does and how
it is undone is the step catalogue's (:mod:`herotasks.core.steps`); a
deploy, a recovery and a step run by hand all go through ``run_step``. The maintenance
window is measured from the moment the change is requested, the workers-down
one from the moment the last worker dyno is gone (``opens_after``), until
the one undoing it has returned.

On failure the engine unwinds the journal's open entries newest first
(envato's ``rollback_*``, but from the journal, so ``deploy.recover`` can do
the same after a crash):

* a promotion that happened is rolled back to the previous release;
* then maintenance goes off, workers and preboot are restored, the scratch
  app goes, the lock is released;
* except when the rollback itself failed: then maintenance stays on, workers
  stay stopped and the lock stays held (the app runs code whose migration
  failed), and the message says so and points at ``deploy.recover``.

Every cross-step fact (deploy commit, slug id, recorded formation, preboot
as found, previous release) lives in ``journal.facts``, which is what lets
:meth:`Engine.resume` finish a deploy another process started.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from herotasks.adapters.shell import run_local
from herotasks.core import lock
from herotasks.core.actions import Action
from herotasks.core.config import Settings
from herotasks.core.journal import STARTED, Journal
from herotasks.core.observe import Observed
from herotasks.core.plan import Plan, replan
from herotasks.core.report import Report, StepRecord
from herotasks.core.run import Run, Tools
from herotasks.core.steps import CHECK, PROMOTE_STEPS, STEPS, UNDOS, Step
from herotasks.errors import (
    Aborted,
    DeployFailed,
    HerotasksError,
    HookFailed,
    OutcomeUnknown,
    recover_hint,
)

#: Why a deploy that fails after its migration keeps the new release.
MIGRATED = ("the new code runs on the migrated schema (rolling back would put "
            "old code on it)")




def run_hooks(c: Any, settings: Settings, when: str, step: str, *,
              out: Callable[[str], Any], app: str, stage: str | None,
              commit: str | None = None, release: int | None = None) -> None:
    """Run the user's ``when`` hooks of ``step`` (local shell commands, told
    the step, app, stage, commit and release in ``HEROTASKS_*``).

    :raises HookFailed: a hook exited non-zero (the step fails).
    """
    hooks = settings.hooks_before if when == "before" else settings.hooks_after
    env = {"HEROTASKS_STEP": step, "HEROTASKS_APP": app,
           "HEROTASKS_STAGE": stage or "", "HEROTASKS_COMMIT": commit or "",
           "HEROTASKS_RELEASE": str(release or "")}
    for command in hooks.get(step, ()):
        out(f"hook {when} {step}: {command}")
        result = run_local(c, command, env=env, warn=True, untrusted=True)
        if not result.ok:
            raise HookFailed(f"hook {when} {step} exited {result.exited}: {command}",
                             when=when)


#: Tries of a step that fails after the migration succeeded (the first
#: included), and the pause before each retry, in seconds.
RETRIES_AFTER_MIGRATION = 3
RETRY_PAUSE = 2.0


class Engine:
    """Runs plans. ``actions`` can be replaced per step name (tests do)."""

    def __init__(self, c: Any, api: Any, settings: Settings, *,
                 out: Callable[[str], Any] = print,
                 clock: Callable[[], float] = time.time,
                 actions: dict[str, Action] | None = None) -> None:
        self.tools = Tools(c, api, settings, out, clock)
        self.actions = {**{n: s.action for n, s in STEPS.items()},
                        **(actions or {})}

    @property
    def clock(self) -> Callable[[], float]:
        return self.tools.clock

    def run_for(self, journal: Journal, report: Report, app: dict, *,
                force_unlock: bool = False) -> Run:
        """A :class:`Run` of this engine's tools for one journal."""
        return Run(**vars(self.tools), journal=journal, report=report, app=app,
                   force_unlock=force_unlock)

    # -- entry points ----------------------------------------------------------

    def deploy(self, observed: Observed, plan: Plan, journal: Journal, *,
               checked: tuple[float, float] | None = None,
               force_unlock: bool = False) -> Report:
        """Run ``plan`` from the top; the report (also on failure, in
        :attr:`DeployFailed.report`).

        :param checked: start and end of the ``check`` step (observation ran
            before the plan existed).
        """
        journal.remember(plan=_plan_json(plan), **observed.facts().changes())
        report = Report.for_journal(journal, started=(checked or (self.clock(),))[0],
                                    strategy=self.tools.settings.strategy)
        if checked:
            report.steps.append(StepRecord(CHECK, checked[0], checked[1], ok=True))
        run = self.run_for(journal, report, observed.app, force_unlock=force_unlock)
        return self._execute(run, list(plan.steps), plan)

    def resume(self, journal: Journal, *, force_unlock: bool = False) -> Report:
        """Finish the planned steps a crashed run did not complete.

        A step that started but never finished runs again: every step that
        can be past the point of no return is safe to repeat (migrations
        apply what is left, scaling and maintenance set absolute values).
        """
        planned = [Step(s["name"], in_window=bool(s.get("in_window")))
                   for s in journal.planned()]
        todo = [s for s in planned if not journal.is_complete(s.name)]
        report = Report.for_journal(journal, started=self.clock(),
                                    strategy=self.tools.settings.strategy)
        run = self.run_for(journal, report, self.tools.api.app(journal.app),
                           force_unlock=force_unlock)
        self._reopen_windows(run)
        return self._execute(run, todo, None)

    def unwind(self, journal: Journal, error: str = "interrupted", *,
               keep: tuple[str, ...] = ()) -> Report:
        """Put back everything ``journal`` has open (``deploy.recover`` when
        the deploy never got past its point of no return).

        :param keep: undo kinds not to apply: their changes stay as they are
            (``("rollback",)``: the code now live stays).
        """
        report = Report.for_journal(journal, started=self.clock(),
                                    strategy=self.tools.settings.strategy)
        run = self.run_for(journal, report, {"name": journal.app})
        self._reopen_windows(run)
        for entry in list(journal.open_entries()):
            if entry.undo.get("action") in keep:
                journal.close(entry.step)
        line = self._unwind(run, error)
        report.finished_at, report.ok = self.clock(), not journal.has_open()
        report.error = None if report.ok else line
        return report

    # -- one step ----------------------------------------------------------------

    def run_step(self, run: Run, step: Step) -> StepRecord:
        """Run one step in the catalogue's shape; its timed record.

        :raises HerotasksError: the step (or one of its hooks) failed; the
            journal says so. Nothing is unwound here: that is the caller's
            choice (a deploy unwinds, a person running steps by hand decides).
        """
        spec, journal = STEPS[step.name], run.journal
        record = StepRecord(step.name, self.clock(), in_window=step.in_window)
        run.report.steps.append(record)
        try:
            self.run_hooks(run, "before", step)
            if spec.journaled:
                journal.begin(step.name, spec.begin_undo(run))
            locked = bool(run.facts.lock_app)
            # Kept with the lock before the change, so recovery from any
            # machine sees it; but once a copy shows a closing step begun
            # (maintenance.off, say), the closing steps after it need none:
            # recovery from that copy redoes them, setting absolute values
            # (a request each fewer: Heroku's rate limit).
            if spec.publishes and locked and not (spec.closes and run.closing_copied):
                self._publish(run)
                run.closing_copied = run.closing_copied or bool(spec.closes)
            if spec.opens_window and not spec.opens_after:
                run.report.open_window(spec.opens_window, self.clock())
            facts = self.actions[step.name](run, step) or {}
            if spec.opens_window and spec.opens_after:
                run.report.open_window(spec.opens_window, self.clock())
            for other in spec.closes:
                journal.close(other)
            journal.done(step.name, **facts)
            # (the step that takes the lock writes the first copy with the
            # holder: core.lock.acquire)
            if spec.closes_window:
                run.report.close_window(spec.closes_window, self.clock())
            self.run_hooks(run, "after", step)
        except (Exception, KeyboardInterrupt) as exc:
            record.finished_at = self.clock()
            error = exc if isinstance(exc, HerotasksError) else (
                Aborted("interrupted") if isinstance(exc, KeyboardInterrupt)
                else HerotasksError(f"{type(exc).__name__}: {exc}"))
            # an unknown outcome stays "started": recovery must look, not
            # assume; a step refused before it changed anything leaves
            # nothing open (a later deploy must not find it unfinished)
            if journal.last(step.name) is not None and not isinstance(
                    error, OutcomeUnknown):
                if error.unchanged and journal.status(step.name) == STARTED:
                    journal.close(step.name)
                else:
                    journal.failed(step.name, str(error))
            raise error from None
        record.finished_at, record.ok = self.clock(), True
        return record

    def _publish(self, run: Run) -> None:
        """Keep the journal with the deploy lock on Heroku (see core.lock)."""
        lock.publish(run.api, run.name, run.journal.to_dict())

    def run_hooks(self, run: Run, when: str, step: Step) -> None:
        """User hooks (shell commands, local); a failing hook fails the step."""
        run_hooks(run.c, run.settings, when, step.name, out=run.out, app=run.name,
                  stage=run.journal.stage, commit=run.facts.source,
                  release=run.facts.release_version)

    # -- the loop -----------------------------------------------------------------

    def _execute(self, run: Run, steps: list[Step], plan: Plan | None) -> Report:
        report = run.report
        # past the point of no return (the new release stays): a resumed run
        # whose live steps are all done starts there
        live = (not any(s.spec.goes_live for s in steps)
                and any(run.journal.is_complete(n) for n in PROMOTE_STEPS))
        i = 0
        while i < len(steps):
            step = steps[i]
            try:
                self.run_step(run, step)
            except HerotasksError as error:
                self._recover_step(run, step, error, live=live)
            spec = step.spec
            if spec.goes_live and not any(s.spec.goes_live for s in steps[i + 1:]):
                # the new release is live and complete: no rollback from here on
                for name in PROMOTE_STEPS:
                    run.journal.close(name)
                live = True
            if spec.replans and plan is not None:
                new = replan(plan, run.settings, run.facts)
                if new is not plan:
                    run.out(f"plan: decided again after {step.name}: "
                            + "; ".join(new.notes or ("the build changed it",)))
                    done = {s.name for s in steps[: i + 1]}
                    steps = steps[: i + 1] + [s for s in new.steps
                                              if s.name not in done]
                    run.journal.remember(plan=_plan_json(new))
                    plan = new
            i += 1
        report.finished_at, report.ok = self.clock(), True
        if not run.journal.has_open():
            run.journal.finish()
        return report

    def _recover_step(self, run: Run, step: Step, error: HerotasksError, *,
                      live: bool) -> None:
        """After ``step`` failed: carry on when that is right, else fail.

        In order: a lost answer is settled first (the change may have been
        made); past the point of no return a failed cleanup, and past it or
        the migration a failed ``after`` hook (its step did its work), is a
        named leftover; after a successful migration the step is tried again
        and the new release is kept whatever happens; anything else unwinds.
        """
        spec, journal = step.spec, run.journal
        if isinstance(error, OutcomeUnknown):
            facts = self._settle(run, step, error)
            if facts is not None:
                journal.done(step.name, **facts)
                run.report.steps[-1].ok = True
                try:
                    self.run_hooks(run, "after", step)
                except HerotasksError as hook_error:
                    self._recover_step(run, step, hook_error, live=live)
                return
        after_hook = isinstance(error, HookFailed) and error.when == "after"
        if (live and spec.cleanup) or (after_hook and (live or _migrated(run))):
            fix = (f"; run `{recover_hint(journal.stage)}` to clear it"
                   if spec.cleanup else "")
            run.report.warnings.append(f"{step.name} failed after the deploy went "
                                       f"live: {error}{fix}")
            run.out(f"warning: {run.report.warnings[-1]}")
            return
        if _migrated(run):
            for _ in range(RETRIES_AFTER_MIGRATION - 1 if spec.retried else 0):
                run.out(f"{step.name} failed after the migration ({error}); "
                        f"trying again in {RETRY_PAUSE:g}s")
                time.sleep(RETRY_PAUSE)
                try:
                    self.run_step(run, step)
                    return
                except HerotasksError as again:
                    error = again
            self._fail_forward(run, step, error)
        # The release before is expired: Heroku refuses the rollback. Keep the
        # new code live and put the rest back, unless a window migration it
        # needs never ran: then the undo says so and the window stays open.
        gone = (None if run.facts.pending and not run.facts.online
                else _no_way_back(run))
        if gone:
            self._fail_forward(run, step, error, why=gone)
        self._fail(run, step, error)

    def _settle(self, run: Run, step: Step, error: OutcomeUnknown) -> dict | None:
        """Whether a step whose answer was lost took effect (its facts), did
        not (None); stops the deploy, undoing nothing, when nobody can tell."""
        spec = step.spec
        if spec.settle is None and not spec.goes_live:
            return None  # its undo is right either way (absolute values)
        if spec.settle is not None:
            try:
                return spec.settle(run, step)
            except OutcomeUnknown as still:
                error = still
        run.out(f"UNKNOWN {step.name}: {error}")
        run.report.finished_at = self.clock()
        line = (f"{step.name}: outcome unknown ({error.message}); nothing was "
                "undone, as a release or migration may still be running; run `"
                + recover_hint(run.journal.stage)
                + "` to look again and finish or undo it")
        run.report.error = line
        raise DeployFailed(line, run.report) from None

    def _fail_forward(self, run: Run, step: Step, error: HerotasksError,
                      why: str = MIGRATED) -> None:
        """The migration succeeded (or the release before is expired) and
        ``step`` still fails: keep the new release (old code must not run on
        the new schema; an expired release cannot be rolled back to), put the
        rest back, and say what is live and what to check."""
        run.out(f"FAILED {step.name}: {error}")
        for name in PROMOTE_STEPS:
            run.journal.close(name)
        outcome = self._unwind(run, str(error))
        run.report.finished_at = self.clock()
        version = run.facts.release_version
        line = f"{step.name} failed: {error}; kept v{version}: {why}"
        if outcome:
            line += f"; {outcome}"
        line += f"; check `heroku ps -a {run.name}` and the app's logs"
        run.report.error = line
        raise DeployFailed(line, run.report) from None

    def _fail(self, run: Run, step: Step, error: HerotasksError) -> None:
        """Unwind after ``step`` failed, then raise one line saying it all."""
        run.out(f"FAILED {step.name}: {error}")
        outcome = self._unwind(run, str(error))
        run.report.finished_at = self.clock()
        line = f"{step.name} failed: {error}"
        if outcome:
            line += f"; {outcome}"
        run.report.error = line
        raise DeployFailed(line, run.report) from None

    def _unwind(self, run: Run, error: str) -> str:
        """Apply open undos newest first; a summary of what was done/kept."""
        done: list[str] = []
        kept: list[str] = []
        guard_failed = False
        for entry in list(run.journal.open_entries()):
            undo = UNDOS[entry.undo.get("action")]
            if guard_failed and undo.held:
                kept.append(undo.held)
                continue
            record = StepRecord(undo.step, self.clock())
            run.report.steps.append(record)
            try:
                said = undo.apply(run, entry.undo)
            except (Exception, KeyboardInterrupt) as exc:
                record.finished_at = self.clock()
                if undo.guards:
                    guard_failed = True
                    kept.append(f"ROLLBACK FAILED ({exc})")
                else:
                    kept.append(f"could not undo {entry.step} ({exc})")
                continue
            if undo.closes_window:
                run.report.close_window(undo.closes_window, self.clock())
            record.finished_at, record.ok = self.clock(), True
            run.journal.close(entry.step)
            if said:
                done.append(said)
        parts = []
        if done:
            parts.append(", ".join(done))
        if kept:
            line = (", ".join(kept) + "; run `"
                    + recover_hint(run.journal.stage)
                    + "` once the app is fixed")
            if guard_failed:
                line += (", or `" + recover_hint(run.journal.stage, "--keep-code")
                         + "` to reopen it on the code now live")
            parts.append(line)
        if not run.journal.has_open():
            run.journal.finish()
        return "; ".join(parts)

    def _reopen_windows(self, run: Run) -> None:
        """A resumed run continues windows an earlier process opened."""
        for name, spec in STEPS.items():
            if spec.opens_window and run.journal.has_changed(name):
                run.report.open_window(spec.opens_window, run.journal.last(name).at)


def _no_way_back(run: Run) -> str | None:
    """Why the new code, now live, cannot be rolled back: the release before
    it is expired (Heroku's release retention deleted its slug, so Heroku
    refuses the rollback); None when it can, or nothing went live."""
    previous = run.facts.previous_release
    if not previous or not any(run.journal.is_complete(n) for n in PROMOTE_STEPS):
        return None
    try:
        release = run.api.release(run.name, previous) or {}
    except HerotasksError:
        return None  # the rollback will say what is wrong
    if release.get("status") != "expired":
        return None
    return (f"v{release.get('version')}, the release before it, is expired "
            "(Heroku's release retention deleted its slug), so there is no rolling "
            "back to it: fix forward, deploy a fixed commit")


def _migrated(run: Run) -> bool:
    """The migration of this deploy succeeded (by a step, or by the release
    phase of a promotion that completed)."""
    j = run.journal
    if j.is_complete("db.migrate"):
        return True
    return bool(run.facts.release_phase and run.facts.pending
                and not run.facts.online
                and any(j.is_complete(name) for name in PROMOTE_STEPS))


def _plan_json(plan: Plan) -> list[dict[str, Any]]:
    """The plan as the journal keeps it (what :meth:`Engine.resume` reads)."""
    return [{"name": s.name, "in_window": s.in_window} for s in plan.steps]
