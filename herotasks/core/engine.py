"""Execute a :class:`~herotasks.core.plan.Plan`, one named step at a time.

Each step has the same shape (paratrooper's ``callback(:name) { ... }``):
``before`` hooks, the journal entry with its undo (written *before* anything
changes), the action, the journal's ``done``, ``after`` hooks, and a timed
:class:`~herotasks.core.report.StepRecord`. The maintenance and workers-down
windows are measured from the moment the change is requested until the one
undoing it has returned.

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
from dataclasses import dataclass
from typing import Any, Callable

from herotasks.adapters.shell import run_local
from herotasks.core import assets, dynos, lock, scratch, slug
from herotasks.core.config import Settings
from herotasks.core.journal import CLOSED, DONE, Journal
from herotasks.core.observe import Observed
from herotasks.core.plan import Plan, Step, replan_after_build
from herotasks.core.report import Report, StepRecord
from herotasks.errors import Aborted, HerotasksError

#: Steps that put new code on the app; after the last of them completes the
#: promotion can no longer be undone by a rollback.
CORE = ("slug.promote", "app.push", "db.migrate", "dynos.restart", "dynos.wait")
PROMOTE_STEPS = ("slug.promote", "app.push")


class DeployFailed(HerotasksError):
    """A deploy failed; the message says what was put back and what was not.

    :param report: the run's report, for ``--json`` even on failure.
    """

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Run:
    """Everything the actions of one deploy share."""

    c: Any
    api: Any
    settings: Settings
    journal: Journal
    report: Report
    out: Callable[[str], Any]
    clock: Callable[[], float]
    app: dict
    force_unlock: bool = False

    @property
    def facts(self) -> dict[str, Any]:
        return self.journal.facts

    @property
    def name(self) -> str:
        return self.journal.app


Action = Callable[[Run, Step], None]


class Engine:
    """Runs plans. ``actions`` can be replaced per step name (tests do)."""

    def __init__(self, c: Any, api: Any, settings: Settings, *,
                 out: Callable[[str], Any] = print,
                 clock: Callable[[], float] = time.time,
                 actions: dict[str, Action] | None = None) -> None:
        self.c = c
        self.api = api
        self.settings = settings
        self.out = out
        self.clock = clock
        self.actions = {**ACTIONS, **(actions or {})}

    # -- entry points ----------------------------------------------------------

    def deploy(self, observed: Observed, plan: Plan, journal: Journal, *,
               checked: tuple[float, float] | None = None,
               force_unlock: bool = False) -> Report:
        """Run ``plan`` from the top; the report (also on failure, in
        :attr:`DeployFailed.report`).

        :param checked: start and end of the ``check`` step (observation ran
            before the plan existed).
        """
        state = observed.state
        journal.remember(
            plan=[{"name": s.name, "in_window": s.in_window} for s in plan.steps],
            source=observed.source,
            deployed=state.deployed_commit,
            previous_release=state.current_release,
            previous_version=state.current_version,
            maintenance_was=state.maintenance,
            preboot_was=state.preboot,
            assets_rebuild=observed.assets.rebuild,
            assets_reuse=observed.assets.reuse_from,
            pending=state.pending.pending,
            pending_reason=state.pending.reason,
        )
        report = self._report(journal, started=(checked or (self.clock(),))[0])
        if checked:
            report.steps.append(StepRecord("check", checked[0], checked[1], ok=True))
        run = Run(self.c, self.api, self.settings, journal, report, self.out,
                  self.clock, observed.app, force_unlock=force_unlock)
        steps = [s for s in plan.steps if s.name != "check"]
        return self._execute(run, steps, plan)

    def resume(self, journal: Journal, *, force_unlock: bool = False) -> Report:
        """Finish the planned steps a crashed run did not complete.

        A step that started but never finished runs again: every step that
        can be past the point of no return is safe to repeat (migrations
        apply what is left, scaling and maintenance set absolute values).
        """
        planned = [Step(s["name"], "", in_window=bool(s.get("in_window")))
                   for s in journal.facts.get("plan", [])]
        todo = [s for s in planned if s.name != "check"
                and journal.status(s.name) not in (DONE, CLOSED)]
        report = self._report(journal, started=self.clock())
        run = Run(self.c, self.api, self.settings, journal, report, self.out,
                  self.clock, self.api.app(journal.app), force_unlock=force_unlock)
        self._reopen_windows(run)
        return self._execute(run, todo, None)

    def unwind(self, journal: Journal, error: str = "interrupted") -> Report:
        """Put back everything ``journal`` has open (``deploy.recover`` when
        the deploy never got past its point of no return)."""
        report = self._report(journal, started=self.clock())
        run = Run(self.c, self.api, self.settings, journal, report, self.out,
                  self.clock, {"name": journal.app})
        self._reopen_windows(run)
        line = self._unwind(run, error)
        report.finished_at, report.ok = self.clock(), not self._left_open(run)
        report.error = None if report.ok else line
        return report

    # -- the loop -----------------------------------------------------------------

    def _execute(self, run: Run, steps: list[Step], plan: Plan | None) -> Report:
        report = run.report
        i = 0
        while i < len(steps):
            step = steps[i]
            record = StepRecord(step.name, self.clock(), in_window=step.in_window)
            report.steps.append(record)
            try:
                self.run_hooks(run, "before", step)
                self.actions[step.name](run, step)
                self.run_hooks(run, "after", step)
            except (Exception, KeyboardInterrupt) as exc:
                record.finished_at = self.clock()
                error = exc if isinstance(exc, HerotasksError) else (
                    Aborted("interrupted") if isinstance(exc, KeyboardInterrupt)
                    else HerotasksError(f"{type(exc).__name__}: {exc}"))
                if run.journal.last(step.name) is not None:
                    run.journal.failed(step.name, str(error))
                self._fail(run, step, error)
            record.finished_at, record.ok = self.clock(), True
            if step.name in CORE and not any(s.name in CORE for s in steps[i + 1:]):
                # the new release is live and complete: no rollback from here on
                for name in PROMOTE_STEPS:
                    run.journal.close(name)
            if step.name == "slug.build" and plan is not None:
                new = replan_after_build(plan, self.settings,
                                         bool(run.facts.get("release_phase")))
                if new is not plan:
                    self.out("slug: it has a release phase; herotasks will not "
                             "migrate a second time")
                    done = {s.name for s in steps[: i + 1]}
                    steps = steps[: i + 1] + [s for s in new.steps
                                              if s.name not in done
                                              and s.name != "check"]
                    run.journal.remember(plan=[{"name": s.name,
                                                "in_window": s.in_window}
                                               for s in new.steps])
                    plan = new
            i += 1
        report.finished_at, report.ok = self.clock(), True
        if not list(run.journal.open_entries()):
            run.journal.finish()
        return report

    def _fail(self, run: Run, step: Step, error: HerotasksError) -> None:
        """Unwind after ``step`` failed, then raise one line saying it all."""
        self.out(f"FAILED {step.name}: {error}")
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
        rollback_failed = False
        for entry in list(run.journal.open_entries()):
            action = entry.undo.get("action")
            if rollback_failed and action in ("maintenance", "formation",
                                              "lock.release"):
                kept.append(KEPT[action])
                continue
            record = StepRecord(UNDO_NAMES.get(action, f"undo {entry.step}"),
                                self.clock())
            run.report.steps.append(record)
            try:
                said = UNDOS[action](run, entry.undo)
            except (Exception, KeyboardInterrupt) as exc:
                record.finished_at = self.clock()
                if action == "rollback":
                    rollback_failed = True
                    kept.append(f"ROLLBACK FAILED ({exc})")
                else:
                    kept.append(f"could not undo {entry.step} ({exc})")
                continue
            record.finished_at, record.ok = self.clock(), True
            run.journal.close(entry.step)
            if said:
                done.append(said)
        parts = []
        if done:
            parts.append(", ".join(done))
        if kept:
            stage = f" --stage {run.journal.stage}" if run.journal.stage else ""
            parts.append(", ".join(kept)
                         + f"; run `inv deploy.recover{stage}` once the app is fixed")
        if not list(run.journal.open_entries()):
            run.journal.finish()
        return "; ".join(parts)

    def _left_open(self, run: Run) -> bool:
        return bool(list(run.journal.open_entries()))

    # -- helpers --------------------------------------------------------------

    def _report(self, journal: Journal, started: float) -> Report:
        f = journal.facts
        return Report(app=journal.app, stage=journal.stage,
                      strategy=journal.strategy or self.settings.strategy,
                      commit_from=f.get("deployed"), commit_to=f.get("source"),
                      pending=f.get("pending"),
                      pending_reason=f.get("pending_reason", ""),
                      started_at=started,
                      release_id=f.get("release_id"),
                      release_version=f.get("release_version"))

    def _reopen_windows(self, run: Run) -> None:
        """A resumed run continues windows an earlier process opened."""
        j = run.journal
        if j.status("maintenance.on") in ("started", "done", "failed"):
            run.report.open_window("maintenance", j.last("maintenance.on").at)
        if j.status("workers.stop") in ("started", "done", "failed"):
            run.report.open_window("workers_down", j.last("workers.stop").at)

    def run_hooks(self, run: Run, when: str, step: Step) -> None:
        """User hooks (shell commands, local); a failing hook fails the step."""
        hooks = (self.settings.hooks_before if when == "before"
                 else self.settings.hooks_after)
        env = {"HEROTASKS_STEP": step.name, "HEROTASKS_APP": run.name,
               "HEROTASKS_STAGE": run.journal.stage or "",
               "HEROTASKS_COMMIT": run.facts.get("source") or "",
               "HEROTASKS_RELEASE": str(run.facts.get("release_version") or "")}
        for command in hooks.get(step.name, ()):
            self.out(f"hook {when} {step.name}: {command}")
            result = run_local(run.c, command, env=env, warn=True)
            if not result.ok:
                raise HerotasksError(f"hook {when} {step.name} exited "
                                     f"{result.exited}: {command}")


# -- actions: one per step name --------------------------------------------------


def _lock_acquire(run: Run, step: Step) -> None:
    j = run.journal
    j.begin(step.name, {"action": "lock.release", "deploy_id": j.deploy_id})
    holder = lock.Holder.me(run.name, stage=j.stage, commit=run.facts.get("source"),
                            deploy_id=j.deploy_id)
    name = lock.acquire(run.api, holder, force=run.force_unlock)
    j.done(step.name, lock_app=name)


def _assets_precompile(run: Run, step: Step) -> None:
    source = run.facts["source"]
    commit = assets.precompile(run.c, run.settings, source, out=run.out)
    run.journal.done(step.name, deploy_commit=commit)


def _scratch_create(run: Run, step: Step) -> None:
    run.journal.begin(step.name, {"action": "scratch.destroy"})
    app = scratch.create(run.api, run.app, run.settings, out=run.out)
    run.journal.done(step.name, scratch_app=app.get("name"))


def _slug_build(run: Run, step: Step) -> None:
    name = run.facts.get("scratch_app") or scratch.scratch_name(
        run.settings.scratch_prefix, run.name)
    commit = run.facts.get("deploy_commit") or run.facts["source"]
    info = run.api.app(name)
    built = slug.build(run.c, run.api, info, commit,
                       timeout=run.settings.timeouts.build)
    run.journal.done(step.name, slug_id=built["id"],
                     release_phase=slug.has_release_phase(built))
    run.out(f"slug: {built['id']} built from {commit[:10]}")


def _preboot(enabled: bool) -> Action:
    def action(run: Run, step: Step) -> None:
        run.journal.begin(step.name, {"action": "preboot", "enabled": not enabled})
        dynos.set_preboot(run.api, run.name, enabled)
        run.journal.done(step.name)
    return action


def _workers_stop(run: Run, step: Step) -> None:
    recorded = dynos.workers(run.api, run.name)  # fresh: minutes passed since check
    run.journal.begin(step.name, {"action": "formation",
                                  "processes": dynos.to_json(recorded)})
    run.report.open_window("workers_down", run.clock())
    dynos.stop_workers(run.api, run.name, recorded)
    run.journal.done(step.name, workers=dynos.to_json(recorded))


def _maintenance_on(run: Run, step: Step) -> None:
    run.journal.begin(step.name, {"action": "maintenance", "on": False})
    run.report.open_window("maintenance", run.clock())
    dynos.maintenance(run.api, run.name, True)
    run.journal.done(step.name)


def _promote_undo(run: Run) -> dict[str, Any]:
    return {"action": "rollback", "release": run.facts.get("previous_release"),
            "version": run.facts.get("previous_version")}


def _slug_promote(run: Run, step: Step) -> None:
    run.journal.begin(step.name, _promote_undo(run))
    scratch_info = None
    if run.settings.promote_method == "pipeline":
        scratch_info = run.api.app(run.facts["scratch_app"])
    release = slug.promote(run.api, run.app, scratch_info, run.facts["slug_id"],
                           run.facts["source"], method=run.settings.promote_method,
                           timeout=run.settings.timeouts.release, out=run.out)
    _released(run, step, release)


def _app_push(run: Run, step: Step) -> None:
    run.journal.begin(step.name, _promote_undo(run))
    commit = run.facts.get("deploy_commit") or run.facts["source"]
    url = run.app.get("git_url") or run.api.app(run.name)["git_url"]
    known = {b.get("id") for b in run.api.builds(run.name)}
    slug.push(run.c, run.api, url, commit, what=run.name)
    # the push's own release, which fails here when its release phase failed
    release = slug.pushed_release(run.api, run.name, commit, known)
    release = slug.wait(run.api, run.name, release,
                        timeout=run.settings.timeouts.release, out=run.out)
    _released(run, step, release)


def _released(run: Run, step: Step, release: dict) -> None:
    run.report.release_id = release.get("id")
    run.report.release_version = release.get("version")
    run.journal.done(step.name, release_id=release.get("id"),
                     release_version=release.get("version"))
    run.out(f"release: v{release.get('version')} on {run.name}")


def _db_migrate(run: Run, step: Step) -> None:
    command = run.settings.migrate_command
    if not command:
        return
    run.journal.begin(step.name)  # no undo of its own: the promotion's rollback
    dynos.migrate(run.api, run.name, command, cabundle=run.settings.api_cabundle,
                  timeout=run.settings.timeouts.migrate, out=run.out)
    run.journal.done(step.name)


def _dynos_restart(run: Run, step: Step) -> None:
    run.journal.begin(step.name)
    run.facts["replaced_dynos"] = dynos.restart(run.api, run.name)
    run.journal.done(step.name)


def _dynos_wait(run: Run, step: Step) -> None:
    dynos.wait_up(run.api, run.name, run.facts.get("release_version"),
                  timeout=run.settings.timeouts.boot, poll=0.25,
                  replaced=run.facts.get("replaced_dynos", ()))
    run.journal.done(step.name)


def _maintenance_off(run: Run, step: Step) -> None:
    run.journal.begin(step.name)
    dynos.maintenance(run.api, run.name, bool(run.facts.get("maintenance_was")))
    run.report.close_window("maintenance", run.clock())
    run.journal.close("maintenance.on")
    run.journal.done(step.name)


def _workers_restore(run: Run, step: Step) -> None:
    run.journal.begin(step.name)
    recorded = dynos.from_json(run.facts.get("workers") or [])
    dynos.restore_workers(run.api, run.name, recorded)
    run.report.close_window("workers_down", run.clock())
    run.journal.close("workers.stop")
    run.journal.done(step.name)


def _preboot_restore(run: Run, step: Step) -> None:
    run.journal.begin(step.name)
    dynos.set_preboot(run.api, run.name, bool(run.facts.get("preboot_was")))
    run.journal.close("preboot.off")
    run.journal.close("preboot.on")
    run.journal.done(step.name)


def _scratch_destroy(run: Run, step: Step) -> None:
    run.journal.begin(step.name)
    scratch.destroy(run.api, run.name, run.settings, out=run.out)
    run.journal.close("scratch.create")
    run.journal.done(step.name)


def _lock_release(run: Run, step: Step) -> None:
    run.journal.begin(step.name)
    lock.release(run.api, run.name, run.journal.deploy_id)
    run.journal.close("lock.acquire")
    run.journal.done(step.name)


def _check(run: Run, step: Step) -> None:
    """Observation runs before the plan exists; nothing to do here."""


ACTIONS: dict[str, Action] = {
    "check": _check,
    "lock.acquire": _lock_acquire,
    "assets.precompile": _assets_precompile,
    "scratch.create": _scratch_create,
    "slug.build": _slug_build,
    "preboot.off": _preboot(False),
    "preboot.on": _preboot(True),
    "workers.stop": _workers_stop,
    "maintenance.on": _maintenance_on,
    "slug.promote": _slug_promote,
    "app.push": _app_push,
    "db.migrate": _db_migrate,
    "dynos.restart": _dynos_restart,
    "dynos.wait": _dynos_wait,
    "maintenance.off": _maintenance_off,
    "workers.restore": _workers_restore,
    "preboot.restore": _preboot_restore,
    "scratch.destroy": _scratch_destroy,
    "lock.release": _lock_release,
}


# -- undos: one per journal undo action ------------------------------------------


def _undo_rollback(run: Run, undo: dict) -> str:
    """Roll back to the release that ran before, unless it still runs."""
    previous = undo.get("release")
    current = run.api.current_release(run.name) or {}
    if previous and current.get("id") == previous:
        return ""  # the promotion never took effect
    if not previous:
        raise HerotasksError("no earlier release to roll back to (first deploy)")
    release = slug.rollback(run.api, run.name, previous,
                            timeout=run.settings.timeouts.release, out=run.out)
    # the report's release is the one the app runs when the run ends
    run.report.release_id = release.get("id")
    run.report.release_version = release.get("version")
    try:
        dynos.wait_up(run.api, run.name, release.get("version"),
                      timeout=run.settings.timeouts.boot)
    except HerotasksError as exc:  # the rollback stands; say so and go on
        run.out(f"warning: after the rollback, {exc}")
    return f"rolled back to v{undo.get('version')} (as v{release.get('version')})"


def _undo_maintenance(run: Run, undo: dict) -> str:
    was = bool(run.facts.get("maintenance_was", undo.get("on", False)))
    dynos.maintenance(run.api, run.name, was)
    run.report.close_window("maintenance", run.clock())
    return "maintenance off" if not was else "maintenance left on as found"


def _undo_formation(run: Run, undo: dict) -> str:
    recorded = dynos.from_json(undo.get("processes") or [])
    dynos.restore_workers(run.api, run.name, recorded)
    run.report.close_window("workers_down", run.clock())
    return "workers restored" if recorded else ""


def _undo_preboot(run: Run, undo: dict) -> str:
    dynos.set_preboot(run.api, run.name, bool(undo.get("enabled")))
    return "preboot restored"


def _undo_scratch(run: Run, undo: dict) -> str:
    scratch.destroy(run.api, run.name, run.settings, out=run.out)
    return ""


def _undo_lock(run: Run, undo: dict) -> str:
    lock.release(run.api, run.name, undo.get("deploy_id"))
    return ""


UNDOS: dict[str, Callable[[Run, dict], str]] = {
    "rollback": _undo_rollback,
    "maintenance": _undo_maintenance,
    "formation": _undo_formation,
    "preboot": _undo_preboot,
    "scratch.destroy": _undo_scratch,
    "lock.release": _undo_lock,
}
UNDO_NAMES = {
    "rollback": "slug.rollback",
    "maintenance": "maintenance.off",
    "formation": "workers.restore",
    "preboot": "preboot.restore",
    "scratch.destroy": "scratch.destroy",
    "lock.release": "lock.release",
}
KEPT = {
    "maintenance": "maintenance stays ON",
    "formation": "workers stay stopped",
    "lock.release": "the deploy lock stays held",
}

