"""Deploy: the whole low-downtime flow, its plan, status, rollback and recovery.

``inv deploy --stage NAME`` (``to`` is the default task) deploys to any
configured stage, and every stage configured in the project's invoke.yaml
gets a task of its own: ``inv deploy.production``. Config: the whole
herotasks subtree.

Why stage tasks are added rather than declared: invoke builds its task parser
from the collection *before* a task sees the config, so tasks cannot appear
from config on their own. The ``herotasks`` console script adds one per stage
of the loaded config; for ``inv``, ``from herotasks.tasks import ns`` adds the
stages of the invoke.yaml beside the project's tasks.py (found as invoke
finds it), and :func:`add_stages` adds any others (a stage named only in a
``-f`` file or an env var).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from invoke import Collection, Config, Task, task

from herotasks.core import strategies
from herotasks.core.config import DEFAULTS, merged_tree
from herotasks.errors import ConfigError, HerotasksError
from herotasks.tasks._support import (
    STAGE_HELP,
    api,
    boundary,
    is_dry,
    out,
    settings,
    warn,
)

DEPLOY_HELP = {
    "ref": "branch, tag or commit to deploy (default: HEAD)",
    "strategy": strategies.listed(DEFAULTS["herotasks"]["strategy"]),
    "allow_dirty": "deploy although tracked files have uncommitted changes",
    "force_unlock": "take the deploy lock even if another deploy holds it",
    "json": "also write the report as JSON to this path (for CI)",
}


def _deploy(c, stage, ref=None, strategy=None, allow_dirty=False,
            force_unlock=False, json=None):
    from herotasks.core import deploy as ops
    from herotasks.core.engine import DeployFailed
    from herotasks.core.report import check_writable, write_json, write_step_summary

    if json:  # refused now, not after a deploy that then "fails" writing it
        check_writable(json)
    s = settings(c, stage, strategy=strategy)
    client = api(c, s)
    try:
        _, report = ops.deploy(c, client, s, ref=ref or "HEAD",
                               allow_dirty=allow_dirty, force_unlock=force_unlock,
                               dry_run=is_dry(c), out=out)
    except DeployFailed as failed:
        if json:
            out(f"report: {write_json(failed.report, json)}")
        out(failed.report.summary())
        write_step_summary(failed.report)  # a CI job's page, when it has one
        raise
    if json:
        out(f"report: {write_json(report, json)}")
    out(report.summary())
    write_step_summary(report)
    return report


def stage_task(name: str) -> Task:
    """A ``deploy.<name>`` task for one stage."""

    def body(c, ref=None, strategy=None, allow_dirty=False, force_unlock=False,
             json=None):
        return _deploy(c, name, ref, strategy, allow_dirty, force_unlock, json)

    body.__name__ = body.__qualname__ = name.replace("-", "_")
    body.__doc__ = (f"Deploy to the {name} stage (herotasks.stages.{name}.app).\n\n"
                    "Builds on a scratch app outside any window; opens a "
                    "maintenance window only when migrations are pending.")
    return task(boundary(body), name=name, help=DEPLOY_HELP)


@task(default=True, help={"stage": STAGE_HELP, **DEPLOY_HELP})
@boundary
def to(c, stage=None, ref=None, strategy=None, allow_dirty=False,
       force_unlock=False, json=None):
    """Deploy to any configured stage (--stage NAME)."""
    return _deploy(c, stage, ref, strategy, allow_dirty, force_unlock, json)


@task(help={"stage": STAGE_HELP, "ref": DEPLOY_HELP["ref"],
            "strategy": DEPLOY_HELP["strategy"],
            "allow_dirty": DEPLOY_HELP["allow_dirty"]})
@boundary
def plan(c, stage=None, ref=None, strategy=None, allow_dirty=False):
    """Show what a deploy would do and why; changes nothing."""
    from herotasks.core import deploy as ops

    s = settings(c, stage, strategy=strategy)
    result = ops.make_plan(c, api(c, s), s, ref=ref or "HEAD",
                           allow_dirty=allow_dirty)
    out(result.describe())
    return result


@task(help={"stage": "one stage (default: every configured stage)"})
@boundary
def status(c, stage=None):
    """Show each stage's release, commit, maintenance, formation, preboot, lock.

    Also says whether HEAD has migrations pending against what is deployed.
    """
    from herotasks.core import deploy as ops

    names = [stage] if stage else sorted(merged_tree(c.config)["stages"])
    if not names:
        raise ConfigError("no stages configured",
                          "add herotasks.stages.production.app to invoke.yaml")
    for name in names:
        s = settings(c, name)
        out(ops.status(c, api(c, s), s, name).describe())


@task(help={"stage": STAGE_HELP,
            "to": "release to go back to, e.g. v7 (default: the previous one)"})
@boundary
def rollback(c, stage=None, to=None):
    """Roll the stage back to an earlier release (warns about migrations between).

    The database is not rolled back; the warning says when that matters, and
    a contract migration between (one that drops what the older code uses)
    refuses the rollback: deploy a fix forward instead.
    """
    from herotasks.core import deploy as ops

    s = settings(c, stage)
    client = api(c, s)
    chosen = ops.plan_rollback(c, client, s, to)
    out(f"rollback: {chosen.app} v{chosen.current['version']} -> "
        f"v{chosen.target['version']}")
    if chosen.warning:
        warn(chosen.warning)
    if is_dry(c):
        return
    release = ops.rollback(c, client, s, chosen, out=out)
    out(f"rollback: now on v{release.get('version')}")


@task(help={"stage": STAGE_HELP,
            "keep_code": "put back maintenance, workers and preboot and release "
                         "the lock, but leave the releases as they are",
            "force": "recover even though the deploy may still be running (its "
                     "lock is held on another machine, whose processes cannot "
                     "be checked from here)"})
@boundary
def recover(c, stage=None, keep_code=False, force=False):
    """Finish or undo an interrupted deploy from its journal.

    The journal is this machine's, or else the copy kept with the deploy lock
    on Heroku, so any machine with the token can recover. Refuses while that
    deploy (or another holding the lock) still runs: wait for it, or pass
    --force once you know it is gone.
    """
    from herotasks.core import deploy as ops
    from herotasks.core import lock
    from herotasks.core import recover as core_recover

    s = settings(c, stage)
    if is_dry(c):
        client = api(c, s)
        j = ops.find_journal(client, s, s.require_app())
        if j is not None and not force:
            core_recover.check_gone(j, lock.held_by(client, s.app))
        if j is None:
            out(core_recover.decide(None, None).describe())
        else:
            out(core_recover.look(j, client)[1].describe())
        return
    plan, report = ops.recover_deploy(c, api(c, s), s, out=out,
                                      keep_code=keep_code, force=force)
    if report is not None:
        out(report.summary())
        if not report.ok:  # an undo failed: CI must not read success
            raise HerotasksError(report.error or "the recovery left changes open")
    if plan.mode != core_recover.NOTHING:
        out(core_recover.last_line(plan, report, app=s.app, stage=s.stage))


def add_stages(collection: Collection, names: Iterable[str]) -> list[str]:
    """Give each stage in ``names`` its own ``deploy.<name>`` task.

    ``collection`` is the root (with a ``deploy`` sub-collection) or the
    deploy collection itself. Names that clash with an existing task are
    left to ``deploy.to``.

    :returns: the names added.
    """
    target = collection.collections.get("deploy", collection)
    added = []
    for name in names:
        if name in target.tasks or name.replace("_", "-") in target.tasks:
            continue
        target.add_task(stage_task(name))
        added.append(name)
    return added


def configured_stages(config: Any) -> list[str]:
    """The stage names in a loaded invoke config (for :func:`add_stages`)."""
    return sorted(merged_tree(config)["stages"])


def project_stages(start: Path | None = None) -> list[str]:
    """The stages of the project's invoke config, for ``inv`` users.

    The project is found as invoke finds it: the nearest folder from
    ``start`` (the working directory) upwards that holds ``tasks.py``; its
    ``invoke.yaml`` (or .yml, .json, .py) is the project config. A broken
    config adds no task: the deploy tasks then report it in one line.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "tasks.py").is_file():
            config = Config(project_location=str(folder))
            try:
                config.load_project()
                return configured_stages(config)
            except Exception:  # noqa: BLE001 - reported when a task runs
                return []
    return []


ns = Collection(to, plan, status, rollback, recover)
ns.configure(DEFAULTS)
