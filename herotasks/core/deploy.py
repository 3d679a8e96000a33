"""The deploy operations as plain functions: what ``deploy.*`` tasks call.

Each takes an invoke context (for local commands only), an API client and
resolved :class:`~herotasks.core.config.Settings`, and returns data; the tasks
only parse arguments, build those three and print. A Python caller, ``inv``
and ``fab`` therefore run the very same sequence (twine's ``main`` vs
``upload`` split).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from herotasks.core import classify, generations, lock, migrations, recover
from herotasks.core import journal as journal_mod
from herotasks.core.actions import Action
from herotasks.core.assets import commit_message, show_file
from herotasks.core.config import Settings
from herotasks.core.dynos import preboot
from herotasks.core.engine import DeployFailed, Engine, run_hooks
from herotasks.core.observe import (
    RECENT_RELEASES,
    app_info,
    baseline,
    check_repo,
    deployed_commit,
    observe,
    pending_for,
)
from herotasks.core.plan import Plan, plan_deploy
from herotasks.core.report import Report, StepRecord
from herotasks.core.slug import rollback as rollback_release
from herotasks.core.state import formation_from_api
from herotasks.core.steps import CHECK
from herotasks.errors import HerotasksError, hint_command, recover_hint


def make_plan(c: Any, api: Any, settings: Settings, *, ref: str = "HEAD",
              allow_dirty: bool = False) -> Plan:
    """Observe and plan, changing nothing (``deploy.plan``)."""
    observed = observe(c, api, settings, ref=ref, allow_dirty=allow_dirty)
    return plan_deploy(observed.state, settings)


def deploy(c: Any, api: Any, settings: Settings, *, ref: str = "HEAD",
           allow_dirty: bool = False, force_unlock: bool = False,
           dry_run: bool = False, out: Callable[[str], Any] = print,
           clock: Callable[[], float] = time.time,
           actions: dict[str, Action] | None = None) -> tuple[Plan, Report]:
    """Deploy ``ref`` to the stage's app; the plan and the report.

    With ``dry_run`` the plan is printed and nothing changes (the API client
    must be a dry-run one too; only GETs and read-only git run).

    :raises DeployFailed: a step failed (``.report`` holds the report).
    """
    started = clock()
    sent = getattr(api, "requests", None)  # a client that counts its requests

    def counted(report: Report) -> Report:
        if sent is not None:
            report.requests = api.requests - sent
        return report

    # the check step: observation, which reads only, with the user's hooks
    # around it (not in a dry run, which runs no step)
    hooks = dict(out=out, app=settings.app, stage=settings.stage)
    if not dry_run:
        run_hooks(c, settings, "before", CHECK, **hooks)
    observed = observe(c, api, settings, ref=ref, allow_dirty=allow_dirty)
    if not dry_run:
        run_hooks(c, settings, "after", CHECK, commit=observed.source, **hooks)
    plan = plan_deploy(observed.state, settings)
    checked = (started, clock())
    out(plan.describe())
    if dry_run:
        report = Report.from_facts(observed.state.app, settings.stage,
                                   settings.strategy, observed.facts(), started)
        report.finished_at, report.ok, report.dry_run = checked[1], True, True
        report.steps = [StepRecord(CHECK, *checked, ok=True)] + [
            StepRecord(s.name, checked[1], checked[1], ok=True, skipped=True,
                       in_window=s.in_window) for s in plan.steps]
        return plan, counted(report)
    set_aside_stale(api, settings, observed.state.app, out)
    journal = journal_mod.start(settings.statedir, observed.state.app,
                                stage=settings.stage, strategy=settings.strategy,
                                clock=clock)
    engine = Engine(c, api, settings, out=out, clock=clock, actions=actions)
    try:
        report = engine.deploy(observed, plan, journal, checked=checked,
                               force_unlock=force_unlock)
    except DeployFailed as failed:
        counted(failed.report)
        raise
    return plan, counted(report)


def recover_deploy(c: Any, api: Any, settings: Settings, *,
                   out: Callable[[str], Any] = print,
                   clock: Callable[[], float] = time.time,
                   actions: dict[str, Action] | None = None,
                   keep_code: bool = False, force: bool = False,
                   ) -> tuple[recover.RecoverPlan, Report | None]:
    """Finish or undo the stage's interrupted deploy (``deploy.recover``).

    The journal is the one of the deploy the lock names (:func:`locate`):
    this machine's, or else the copy kept with the deploy lock on Heroku (a
    CI runner that died takes its files with it). A journal here of another
    deploy is reported and set aside, never acted on.

    :param keep_code: put back maintenance, workers and preboot, and release
        the lock, leaving releases as they are (the way out when there is
        nothing to roll back to, or the code now live is to stay).
    :param force: even though it may still run (:func:`recover.check_gone`).
    """
    name = settings.require_app()
    found = locate(api, settings, name)
    if found.stale is not None:
        where = journal_mod.set_aside(found.stale)
        out(f"recover: {found.stale_line()}; set aside as {where}, not acted on")
    journal = found.journal
    if found.from_lock and journal is not None:
        # the lock's copy is checked before it is adopted: a refusal leaves
        # nothing behind, not even a local journal
        if not force:
            recover.check_gone(journal, found.holder)
        out(f"recover: using {found.where}"
            + (f" (held by {found.holder.describe()})" if found.holder else ""))
        journal = journal_mod.adopt(settings.statedir, journal.to_dict(),
                                    where=found.where)
    if journal is not None:
        journal.clock = clock
    engine = Engine(c, api, settings, out=out, clock=clock, actions=actions)
    return recover.recover(engine, journal, api, out=out, keep_code=keep_code,
                           force=force)


@dataclass
class Found:
    """Which journal is the truth for an app, and why (:func:`locate`)."""

    journal: journal_mod.Journal | None
    holder: lock.Holder | None = None
    from_lock: bool = False
    where: str = ""
    #: this machine's journal of another deploy (set aside, never acted on)
    stale: journal_mod.Journal | None = None
    why: str | None = None

    def stale_line(self) -> str:
        """One phrase on the stale journal (for recover and status)."""
        j = self.stale
        assert j is not None
        return (f"the journal on this machine ({j.path}) is of deploy "
                f"{j.deploy_id[:12]} started {recover.utc(j.started_at)}, and "
                f"{self.why}")


def locate(api: Any, settings: Settings, name: str) -> Found:
    """The journal that is the truth for ``name`` (one read of the lock).

    The lock's holder decides (:func:`recover.stale`): this machine's journal
    when it is of the deploy holding the lock (or never took it: steps run by
    hand), else the copy kept with the lock, which is acted on only for the
    app it was written for.

    :raises HerotasksError: the lock's copy is damaged or names another app.
    """
    holder, data = lock.published(api, name)
    local = journal_mod.load(settings.statedir, name)
    found = Found(None, holder)
    if local is not None:
        why = recover.stale(local, holder)
        if why is None:
            found.journal = local
            return found
        found.stale, found.why = local, why
    if data is None:
        return found
    where = f"the journal kept with the deploy lock of {name}"
    copy = journal_mod.from_dict(data, where=where)
    if copy.app != name:
        raise HerotasksError(
            f"{where} ({lock.lock_app_name(name)}) was written for {copy.app}, not "
            f"{name}; nothing was changed",
            f"recover {copy.app} with its own stage, or check {name} by hand "
            "(deploy.status)")
    found.journal, found.from_lock, found.where = copy, True, where
    return found


def set_aside_stale(api: Any, settings: Settings, name: str,
                    out: Callable[[str], Any] = print) -> None:
    """Before a deploy starts its journal: this machine's journal of a deploy
    that no longer holds the lock (:func:`recover.stale`) is set aside rather
    than reported as unfinished (one read of the lock, only when there is a
    journal with open changes)."""
    local = journal_mod.load(settings.statedir, name)
    if local is None or not local.has_open():
        return
    holder, _ = lock.published(api, name)
    why = recover.stale(local, holder)
    if why is not None:
        found = Found(None, holder, stale=local, why=why)
        where = journal_mod.set_aside(local)
        out(f"deploy: {found.stale_line()}; set aside as {where}, not acted on")


def find_journal(api: Any, settings: Settings, name: str
                 ) -> journal_mod.Journal | None:
    """The app's journal that is the truth (:func:`locate`), read only."""
    return locate(api, settings, name).journal


@dataclass(frozen=True)
class Status:
    """One stage as ``deploy.status`` shows it."""

    stage: str
    app: str
    release: dict | None
    deployed: migrations.Deployed
    maintenance: bool
    preboot: bool
    formation: tuple
    pending: Any
    lock_holder: Any
    journal_open: tuple[str, ...]
    #: why that deploy may still be running (recover would refuse), or None
    running: str | None = None
    #: this machine's journal of another deploy (recover sets it aside)
    stale: str | None = None

    def describe(self) -> str:
        r = self.release or {}
        lines = [
            f"{self.stage}: {self.app}",
            f"  release:     v{r.get('version', '-')} {r.get('status', '')}"
            f" ({r.get('description', 'no release yet')})",
            f"  deployed:    {(self.deployed.commit or '(unknown)')[:10]}"
            f" (from {self.deployed.how})",
            f"  maintenance: {'ON' if self.maintenance else 'off'}",
            f"  preboot:     {'on' if self.preboot else 'off'}",
            "  formation:   " + (", ".join(f"{p.type}={p.quantity}:{p.size}"
                                           for p in self.formation) or "none"),
            f"  HEAD:        migrations {'pending' if self.pending.pending else 'none'}"
            f" ({self.pending.reason})",
            "  lock:        " + (self.lock_holder.describe() if self.lock_holder
                                 else "free"),
        ]
        if self.journal_open and self.running:
            lines.append("  IN PROGRESS: " + ", ".join(self.journal_open)
                         + f" ({self.running})")
        elif self.journal_open:
            lines.append("  UNFINISHED deploy: " + ", ".join(self.journal_open)
                         + f" (run `{recover_hint(self.stage)}`)")
        if self.stale:
            lines.append(f"  stale journal: {self.stale}; not acted on (the next "
                         "deploy or recover sets it aside)")
        return "\n".join(lines)


def status(c: Any, api: Any, settings: Settings, stage: str) -> Status:
    """The state of one stage (read-only)."""
    name = settings.stages[stage]
    head = check_repo(c, "HEAD", allow_dirty=True)
    app = app_info(api, name)
    found, current, _ = deployed_commit(c, api, name)
    truth = locate(api, settings, name)
    journal, holder = truth.journal, truth.holder
    running = None
    if journal is not None and journal.has_open():
        try:
            recover.check_gone(journal, holder)
        except recover.StillRunning as exc:
            running = exc.message.removesuffix("; nothing was changed")
    return Status(
        stage=stage, app=name, release=current, deployed=found,
        maintenance=bool(app.get("maintenance")), preboot=preboot(api, name),
        formation=formation_from_api(api.formation(name)),
        pending=pending_for(c, settings, baseline(settings, name, found), head),
        lock_holder=holder,
        journal_open=tuple(e.step for e in journal.open_entries()) if journal else (),
        running=running,
        stale=truth.stale_line() if truth.stale is not None else None,
    )


@dataclass(frozen=True)
class RollbackPlan:
    """Which release a rollback goes back to, and what it warns about."""

    app: str
    current: dict
    target: dict
    warning: str | None


def plan_rollback(c: Any, api: Any, settings: Settings,
                  to: str | None = None) -> RollbackPlan:
    """Choose the release to go back to and check the migrations between.

    :param to: a version (``7`` or ``v7``) or release id; default: the
        release before the current one that can be rolled back to.
    """
    name = settings.require_app()
    app_info(api, name)
    releases = api.releases(name, limit=RECENT_RELEASES)
    current = next((r for r in releases if r.get("current")), None) or (
        api.current_release(name))
    if not current:
        raise HerotasksError(f"{name} has no release to roll back from")
    older = [r for r in releases if r.get("version", 0) < current["version"]]
    eligible = [r for r in older if r.get("status") == "succeeded"
                and generations.artifact_id(r)
                and r.get("eligible_for_rollback", True)]
    if to:
        target = api.release(name, to.lstrip("v"))
        if target.get("status") == "expired":
            instead = (f"roll back to v{eligible[0]['version']}, the newest one that "
                       "can be (`--to v" + str(eligible[0]["version"]) + "`)"
                       if eligible else "nothing older can be rolled back to")
            raise HerotasksError(
                f"v{target['version']} of {name} is expired: Heroku's release "
                "retention deleted its slug, so it cannot be rolled back to",
                f"{instead}; or deploy its commit again")
    elif eligible:
        target = eligible[0]  # newest first
    elif any(r.get("status") == "expired" for r in older):
        raise HerotasksError(
            f"every earlier release of {name} this account can see is expired "
            "(Heroku's release retention deleted their slugs)",
            "deploy the commit to go back to (`" + hint_command("deploy --ref SHA")
            + "`)")
    else:
        raise HerotasksError(f"{name} has no earlier release to roll back to")
    return RollbackPlan(name, current, target,
                        _migration_warning(c, api, settings, name, current, target,
                                           releases))


def rollback(c: Any, api: Any, settings: Settings, plan: RollbackPlan, *,
             out: Callable[[str], Any] = print) -> dict:
    """Roll back as planned; the new release."""
    return rollback_release(api, plan.app, plan.target["id"],
                            timeout=settings.timeouts.release, out=out)


def _migration_warning(c: Any, api: Any, settings: Settings, name: str,
                       current: dict, target: dict, releases: list) -> str | None:
    if settings.migrate_command is None:
        return None
    now = _source_of(c, api, name, current, releases)
    then = _source_of(c, api, name, target, releases)
    if now.commit is None or then.commit is None:
        return ("cannot tell whether migrations lie between "
                f"v{target['version']} and v{current['version']} "
                "(a deployed commit is unknown): the database is not rolled back")
    found = pending_for(c, settings, migrations.Deployed(then.commit, then.how),
                        now.commit)
    if not found.pending:
        return None
    _refuse_past_contract(c, settings, now.commit, found.files, target, current)
    return (f"migrations lie between v{target['version']} and "
            f"v{current['version']} ({found.reason}): rolling back the code does "
            "not roll back the database")


def _refuse_past_contract(c: Any, settings: Settings, commit: str,
                          files: tuple[str, ...], target: dict, current: dict) -> None:
    """A contract migration (``after``) between the two releases dropped what
    the older code uses: rolling back to it would break it, so refuse.

    Read statically (the framework's SQL is not needed: the verdict on a
    removal does not depend on it); a file that cannot be read is no
    contract here, the usual warning stands for it.

    :raises HerotasksError: one line naming the file and what to do instead.
    """
    texts = {f: show_file(c, commit, f) for f in files}
    verdicts = classify.classify_all(settings.preset, texts,
                                     mode=settings.migrations_mode)
    dropped = classify.contract(verdicts)
    if dropped:
        raise HerotasksError(
            f"refusing to roll back to v{target['version']}: its code uses what "
            f"{dropped[0].path} (a contract migration after it, in "
            f"v{current['version']}'s code) drops",
            "deploy a fix forward instead (the database is never rolled back)")


def _source_of(c: Any, api: Any, name: str, release: dict,
               releases: list) -> migrations.Deployed:
    slug = generations.artifact(api, name, release)
    same_or_older = [r for r in releases if r.get("version", 0) <= release["version"]]
    return migrations.deployed_source(release, same_or_older, slug,
                                      lambda sha: commit_message(c, sha))
