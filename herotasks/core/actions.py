"""What each step does, and how each journaled change is undone.

One function per step (``action(run, step) -> facts``) and one per undo kind
(``undo(run, undo_data) -> what was done``). They do the work and nothing
else: the journal entry before the change, the ``done`` with the returned
facts, windows, hooks and timing are the engine's, driven by the step
catalogue (:mod:`herotasks.core.steps`), so a deploy, a recovery and a step
run by hand behave the same.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Iterator
from urllib.parse import urlsplit

from herotasks.core import assets, dynos, generations, health, lock, poll, scratch, slug
from herotasks.core import journal as journal_mod
from herotasks.core.classify import gap
from herotasks.core.config import hold_command
from herotasks.core.run import Run
from herotasks.core.strategies import STRATEGIES
from herotasks.errors import ApiError, CommandError, HerotasksError, OutcomeUnknown

if TYPE_CHECKING:
    from herotasks.core.steps import Step

StepFacts = dict[str, Any] | None
Action = Callable[[Run, "Step"], StepFacts]
UndoData = Callable[[Run], dict[str, Any]]


# -- undo data, recorded before a step changes anything -------------------------


def lock_undo(run: Run) -> dict[str, Any]:
    return {"deploy_id": run.journal.deploy_id}


def preboot_undo(enabled: bool) -> UndoData:
    return lambda run: {"enabled": not enabled}


def workers_undo(run: Run) -> dict[str, Any]:
    # read fresh: minutes may have passed since the check
    return {"processes": dynos.to_json(dynos.workers(run.api, run.name))}


def maintenance_undo(run: Run) -> dict[str, Any]:
    return {"on": False}


def prestart_undo(run: Run) -> dict[str, Any]:
    return {"app": _scratch_app(run)}


def promote_undo(run: Run) -> dict[str, Any]:
    return {"release": run.facts.previous_release,
            "version": run.facts.previous_version}


# -- actions --------------------------------------------------------------------


def lock_acquire(run: Run, step: Step) -> StepFacts:
    j = run.journal
    holder = lock.Holder.me(run.name, stage=j.stage, commit=run.facts.source,
                            deploy_id=j.deploy_id)
    team = (run.app.get("team") or {}).get("name")
    # a personal target's helper apps are shared with its owner and
    # collaborators, so another of them can read the lock and recover
    share = lock.share_with(run.api, run.app, me=run.facts.account)
    # the holder and the journal's first copy go in one write
    return {"lock_app": lock.acquire(run.api, holder, force=run.force_unlock,
                                     team=team, share_to=share,
                                     journal=run.journal.to_dict()),
            "share_with": share}


def assets_precompile(run: Run, step: Step) -> StepFacts:
    # the decision observed before planning, so the plan and the act agree
    known = run.facts.assets
    decision = assets.AssetsDecision(**known) if known else None
    commit = assets.precompile(run.c, run.settings, run.facts.source,
                               decision=decision, out=run.out)
    return {"deploy_commit": commit}


def scratch_create(run: Run, step: Step) -> StepFacts:
    # the new app's id is journaled before its marker is set (core.scratch)
    app = scratch.create(run.api, run.app, run.settings, out=run.out,
                         known_id=run.facts.scratch_app_id,
                         created=lambda a: run.journal.remember(scratch_app_id=a["id"]),
                         share_to=run.facts.share_with or (),
                         # seen absent by the check: on the first try only
                         absent=(run.facts.scratch_exists is False
                                 and not run.facts.scratch_app_id
                                 and sum(e.step == step.name
                                         for e in run.journal.entries) == 1))
    return {"scratch_app": app.get("name"), "scratch_git_url": app.get("git_url")}


def slug_build(run: Run, step: Step) -> StepFacts:
    name = _scratch_app(run)
    commit = run.facts.deploy_commit or run.facts.source
    # the scratch app's git URL as scratch.create saw it (a request fewer)
    url = run.facts.scratch_git_url
    built = slug.build(run.c, run.api, {"name": name, "git_url": url} if url
                       else run.api.app(name), commit,
                       timeout=run.settings.timeouts.build)
    run.out(f"slug: {built['id']} built from {commit[:10]}")
    facts = {"slug_id": built["id"], "release_phase": slug.has_release_phase(built),
             # what health.precheck boots (a request fewer there)
             "web_command": (built.get("process_types") or {}).get("web") or ""}
    if run.settings.promote_method == "pipeline":
        # what the promotion will promote, checked before any window opens
        facts["scratch_release"] = slug.promotable_release(
            run.api, name, built["id"], timeout=run.settings.timeouts.release)["id"]
        # the promoted release will not name the source: keep the deploy
        # commit where a fresh clone can fetch it
        slug.keep_deploy_commit(run.c, run.api, run.app, commit)
    return facts


def set_preboot(enabled: bool) -> Action:
    def action(run: Run, step: Step) -> StepFacts:
        dynos.set_preboot(run.api, run.name, enabled)
        return None
    return action


def workers_stop(run: Run, step: Step) -> StepFacts:
    recorded = run.journal.last(step.name).undo["processes"]
    dynos.stop_workers(run.api, run.name, dynos.from_json(recorded))
    if recorded:
        # the scale is answered at once; the workers run on until they exit
        dynos.wait_stopped(run.api, run.name, timeout=run.settings.timeouts.stop)
    return {"workers": recorded}


def maintenance_on(run: Run, step: Step) -> StepFacts:
    dynos.maintenance(run.api, run.name, True)
    return None


def slug_promote(run: Run, step: Step) -> StepFacts:
    method = run.settings.promote_method
    scratch_info = (run.api.app(run.facts.scratch_app) if method == "pipeline"
                    else None)
    release = slug.promote(run.api, run.app, scratch_info, run.facts.slug_id,
                           run.facts.source, method=method,
                           timeout=run.settings.timeouts.release, out=run.out,
                           source_release=run.facts.scratch_release)
    return _released(run, release)


def app_push(run: Run, step: Step) -> StepFacts:
    commit = run.facts.deploy_commit or run.facts.source
    url = run.app.get("git_url") or run.api.app(run.name)["git_url"]
    known = {b.get("id") for b in run.api.builds(run.name)}
    slug.push(run.c, run.api, url, commit, what=run.name)
    # the push's own release, which fails here when its release phase failed
    release = slug.pushed_release(run.api, run.name, commit, known)
    release = slug.wait(run.api, run.name, release,
                        timeout=run.settings.timeouts.release, out=run.out)
    return _released(run, release)


def _released(run: Run, release: dict) -> StepFacts:
    run.report.release_id = release.get("id")
    run.report.release_version = release.get("version")
    run.out(f"release: v{release.get('version')} on {run.name}")
    facts: dict[str, Any] = {"release_id": release.get("id"),
                             "release_version": release.get("version")}
    if _preboot_release(run):
        # the new web dynos boot unroutable; Heroku moves traffic later
        switch_at = run.clock() + run.settings.timeouts.preboot
        run.report.preboot_switch_at = facts["preboot_switch_at"] = switch_at
    return facts


def _preboot_release(run: Run) -> bool:
    """Preboot is on for this release: turned on by this deploy, or found on
    and not turned off for a window."""
    j = run.journal
    if j.has_changed("preboot.on") or j.is_complete("preboot.on"):
        return True
    return bool(run.facts.preboot_was) and not (
        j.has_changed("preboot.off") or j.is_complete("preboot.off"))


def _one_off(run: Run, command: str) -> str:
    """``command`` as a one-off dyno of the target's generation takes it (Fir:
    through ``launcher``, or the buildpacks' environment is missing). The
    scratch app is in the target's space, so of its generation too."""
    return generations.of(run.app).one_off(command)


#: How long a promotion whose answer was lost is looked for among the releases.
SETTLE_SECONDS = 30.0


def settle_promote(run: Run, step: Step) -> StepFacts:
    """The promotion's answer was lost: did Heroku make the release?

    A release carrying our slug, newer than the one that ran before, is
    ours: wait for it as the promotion would have. Its facts if it went
    live; None if it failed (nothing of ours is live); and if no such
    release shows up in :data:`SETTLE_SECONDS`, nobody can tell yet.

    :raises OutcomeUnknown: no release of ours found (yet).
    """
    slug_id = run.facts.slug_id
    after = run.facts.previous_version or 0
    deadline = run.clock() + min(SETTLE_SECONDS, run.settings.timeouts.release)
    while True:
        mine = [r for r in run.api.releases(run.name, limit=10)
                if generations.artifact_id(r) == slug_id
                and (r.get("version") or 0) > after]
        if mine:
            release = max(mine, key=lambda r: r.get("version") or 0)
            try:
                release = slug.wait(run.api, run.name, release,
                                    timeout=run.settings.timeouts.release, out=run.out)
            except CommandError:
                return None  # it failed on Heroku: the old release still runs
            run.out(f"{step.name}: the answer was lost, but Heroku made "
                    f"v{release.get('version')} with our slug")
            return _released(run, release)
        if run.clock() > deadline:
            raise OutcomeUnknown(f"no release with slug {slug_id} appeared on "
                                 f"{run.name} in {SETTLE_SECONDS:g}s",
                                 method="POST", path=f"/apps/{run.name}/releases")
        time.sleep(2.0)


def cannot_tell(run: Run, step: Step) -> StepFacts:
    """A one-off dyno whose start was not answered may be migrating right
    now, and nothing tells how it ends: never undo under it."""
    raise OutcomeUnknown(f"a one-off dyno of {step.name} may be running",
                         method="POST", path="/dynos")


def db_premigrate(run: Run, step: Step) -> StepFacts:
    """Online migrations: the new slug runs them on the scratch app (it has
    the new code; the target still runs the old) with the target's config
    as the one-off's environment: sent to the API only, never set as the
    scratch app's config, so its release phase never sees the database."""
    scratch_app = _scratch_app(run)
    dynos.migrate(run.api, scratch_app, _one_off(run, run.settings.migrate_command),
                  cabundle=run.settings.api_cabundle,
                  timeout=run.settings.timeouts.migrate, out=run.out,
                  env=run.target_config())
    journal_mod.migrated(run.settings.statedir, run.name)
    return None


def db_expand(run: Run, step: Step) -> StepFacts:
    """The expand part of a contract, before the release: the columns the
    contract will drop that may be NOT NULL are made nullable
    (:func:`herotasks.core.classify.gap.expand_sql`, derived from the
    classifier's findings), so the new code's INSERTs, which leave them out,
    work in the gap. Run as ``db.premigrate`` runs: a one-off dyno on the
    scratch app with the target's config as that dyno's env only. Nothing to
    undo: the old code writes the columns as before, and a lost answer
    leaves either schema, both fine for it."""
    columns = list(run.facts.expand)
    if not columns:
        return None
    scratch_app = _scratch_app(run)
    code, dyno = dynos.run_attached(run.api, scratch_app,
                                    _one_off(run, gap.expand_command(columns)),
                                    cabundle=run.settings.api_cabundle,
                                    timeout=run.settings.timeouts.migrate, out=run.out,
                                    env=run.target_config())
    if code != 0:
        raise HerotasksError(
            f"could not make {', '.join(columns)} nullable before the release "
            f"(psql exited {code} in {dyno.get('name', 'a one-off dyno')}); "
            "nothing was released",
            "see its output above (a lock not had within "
            f"{gap.LOCK_TIMEOUT}: a long transaction holds the table; try again), "
            "or make the columns nullable in an earlier deploy")
    return {"expanded": columns}


#: Seconds the precheck's dyno lives beyond the boot and the HTTP wait
#: (``health.smoke`` runs in them).
PRECHECK_SLACK = 300


def health_precheck(run: Run, step: Step) -> StepFacts:
    """Boot the new slug's web process in a one-off dyno on the scratch app,
    with the target's config as that dyno's environment only (as
    ``db.premigrate``: never stored on the scratch app), and ask it on its
    own ``$PORT`` from inside the dyno (:mod:`herotasks.core.health`). A
    failure stops the deploy before anything is released."""
    scratch_app = _scratch_app(run)
    h, boot = run.settings.health, run.settings.timeouts.boot
    started = run.clock()
    if run.facts.web_command is not None:  # "" when the slug has none
        web = run.facts.web_command
    else:  # a journal that slug.build wrote before it recorded the command
        kind = generations.of(run.app).artifact  # a slug, or a Fir app's image
        built = generations.artifact(run.api, scratch_app,
                                     {kind: {"id": run.facts.slug_id}})
        web = ((built or {}).get("process_types") or {}).get("web")
    if not web:
        run.report.precheck = {"ok": True, "asked": False, "started_at": started,
                               "finished_at": run.clock(),
                               "found": ["no web process type: nothing to boot"]}
        run.out("precheck: the slug has no web process type; nothing to boot")
        return None
    if run.facts.release_phase:
        why = _scratch_runs_other_code(run, scratch_app)
        if why:
            run.report.precheck = {"ok": True, "asked": False, "ran": False,
                                   "started_at": started, "finished_at": run.clock(),
                                   "found": [f"not run: {why}"]}
            run.out(f"precheck: not run: {why}; the watch after the release "
                    "still runs")
            return None
    asks = health.precheck_asks(
        pending=bool(run.settings.migrate_command and run.facts.pending),
        premigrated=run.journal.is_complete("db.premigrate"))
    if not asks:
        run.out("precheck: the migration comes after the release (a window or "
                "the release phase): only the boot is checked")
    host = urlsplit(run.app.get("web_url") or "").hostname or f"{run.name}.herokuapp.com"
    said: list[str] = []

    def out(text: str) -> None:
        said.append(text)
        run.out(text.rstrip("\n"))

    code, _ = dynos.run_attached(
        run.api, scratch_app,
        _one_off(run, health.precheck_command(web, h, boot=boot, host=host, asks=asks)),
        cabundle=run.settings.api_cabundle, out=out,
        timeout=boot + (h.timeout if asks else 0) + PRECHECK_SLACK,
        env=run.target_config())
    found = health.precheck_found("".join(said))
    run.report.precheck = {"ok": code == 0, "asked": asks, "found": found,
                           "started_at": started, "finished_at": run.clock()}
    if code != 0:
        why = next((f[len("FAILED: "):] for f in found if f.startswith("FAILED: ")),
                   f"its dyno exited {code}")
        raise HerotasksError(
            f"the new slug failed its check before the release: {why}; "
            "nothing was released",
            "see its output above; fix the app (or set herotasks.health."
            "precheck: false to skip the check)")
    return None


def _scratch_runs_other_code(run: Run, scratch_app: str) -> str | None:
    """Why a one-off dyno on the scratch app would not run the new slug
    (None: it would).

    Heroku runs the release phase for the build's release on the scratch app
    too, and "App dynos don't boot for a new release until the release phase
    finishes successfully"; if it fails "the new release is not deployed,
    leaving the current release unaffected" (Dev Center, *Release Phase*).
    A one-off dyno runs the app's current release (``POST /apps/{app}/dynos``
    takes no release: the schema's dyno Create), so only a scratch release
    that succeeded puts the new slug in the precheck's dyno. The scratch app
    never gets the target's database (:data:`herotasks.core.scratch.NEVER_COPY`),
    so a release phase that migrates fails there: then nothing can boot the
    new slug before the release, and the check is not run rather than run
    on other code.
    """
    known = run.facts.scratch_release  # the pipeline method found it
    if known:
        return None
    release = slug.scratch_release(run.api, scratch_app, run.facts.slug_id,
                                   timeout=run.settings.timeouts.release)
    if release is None:
        return f"the scratch app {scratch_app} has no release of the new slug"
    if release.get("status") != "succeeded":
        return (f"the release phase of the new slug failed on the scratch app "
                f"(v{release.get('version')} {release.get('status')}: it has no "
                "database there), so no dyno there runs the new slug")
    current = run.api.current_release(scratch_app) or {}
    if generations.artifact_id(current) != run.facts.slug_id:
        return (f"the scratch app {scratch_app} runs v{current.get('version')}, "
                "not the new slug")
    return None


def _scratch_app(run: Run) -> str:
    """The scratch app: as scratch.create recorded it, else by its name rule."""
    return run.facts.scratch_app or scratch.scratch_name(
        run.settings.scratch_prefix, run.name)


def db_prestart(run: Run, step: Step) -> StepFacts:
    """The window's migration, started before the window: a one-off dyno of
    the new slug on the scratch app (the new code must migrate; the target
    still runs the old), with the target's config as that dyno's
    environment only (as ``db.premigrate``), boots the app and waits on its
    input. ``db.migrate`` tells it to go once the window is open; if this
    process dies first, its input ends and it exits without migrating."""
    app, t = _scratch_app(run), run.settings.timeouts
    started = time.monotonic()

    def hold(command: str) -> dynos.Held:
        return dynos.hold(
            run.api, app, run.settings.migrate_command, _one_off(run, command),
            cabundle=run.settings.api_cabundle, boot_timeout=t.boot, out=run.out,
            # its whole life: the boot, the steps up to the window, the migration
            timeout=min(t.boot + t.stop + t.release + t.migrate, dynos.MOST_TTL),
            env=run.target_config(),
            started=lambda dyno: run.journal.remember(held_dyno=dyno.get("id")))

    command = hold_command(run.settings)
    plain = hold_command(run.settings, generic=True)
    try:
        run.held = hold(command)
    except CommandError as exc:
        if command == plain:
            raise
        # the preset's pre-boot could not boot this app its way (a manage.py
        # that is not Django's, say): hold the migrate command itself, so
        # only its own start-up is left in the window, as without a preset
        run.out(f"db.prestart: the {run.settings.preset} pre-boot exited before it "
                f"was ready ({exc.message}); holding `{run.settings.migrate_command}` "
                "itself instead")
        run.held = hold(plain)
    # how long a dyno of this slug takes to boot the app: when the window's
    # restart is first worth a look (dynos_wait)
    run.boot_seconds = time.monotonic() - started
    run.out(f"db.prestart: {run.held.dyno.get('name', 'the dyno')} on {app} is "
            f"booted ({run.boot_seconds:.1f}s) and waits for the window")
    return {"held_dyno": run.held.dyno.get("id")}


def db_migrate(run: Run, step: Step) -> StepFacts:
    held, run.held = run.held, None
    if held is not None:
        # the dyno booted before the window: only the migration runs in it;
        # a preset's hold then counts who connected meanwhile (dynos_restart)
        count = held.migrate(timeout=run.settings.timeouts.migrate, out=run.out)
        journal_mod.migrated(run.settings.statedir, run.name)
        return None if count is None else {"connections_since_go": count}
    # no dyno held by this process (naive, conditional; a resumed deploy,
    # whose prestarted dyno exited with the process that held it): the
    # promoted release migrates in a one-off dyno of its own
    dynos.migrate(run.api, run.name, _one_off(run, run.settings.migrate_command),
                  cabundle=run.settings.api_cabundle,
                  timeout=run.settings.timeouts.migrate, out=run.out)
    # code kept without its migration (recover --keep-code) has it now
    journal_mod.migrated(run.settings.statedir, run.name)
    return None


def db_postmigrate(run: Run, step: Step) -> StepFacts:
    """Contract migrations: once the new release serves alone (preboot's
    switch done, no dyno of the old release left), the one-off dyno of the
    new release runs the migrate command; what is left pending is the
    contract (the planner sent every other case to the window)."""
    _await_preboot_switch(run, "the contract runs after that")
    version = run.facts.release_version
    dynos.wait_old_gone(run.api, run.name, version, timeout=run.settings.timeouts.stop
                        + run.settings.timeouts.boot)
    try:
        dynos.migrate(run.api, run.name, _one_off(run, run.settings.migrate_command),
                      cabundle=run.settings.api_cabundle,
                      timeout=run.settings.timeouts.migrate, out=run.out)
    except OutcomeUnknown:
        raise
    except HerotasksError as exc:
        # the new release stays (it runs without the contract, as it did
        # until now), and the next deploy of this commit finds nothing
        # pending: say how to run what is left
        raise HerotasksError(
            f"contract migrations failed: {exc.message}",
            f"the new release v{version} stays and works without them; once the "
            f"cause is fixed, run `heroku run {run.settings.migrate_command} -a "
            f"{run.name}`") from exc
    return {"contract_version": version}


def dynos_restart(run: Run, step: Step) -> StepFacts:
    """Restart the dynos the promotion booted before the schema changed,
    unless none of them can have read it: the migration's held dyno
    counted no other connection to the database opened since just before
    it migrated (``db.migrate``'s fact). Unknown (no count: another hold,
    a one-off migration, a release phase, a resumed deploy) restarts."""
    count = run.facts.connections_since_go
    if not dynos.restart_needed(count):
        run.out(f"dynos.restart: no dyno of v{run.facts.release_version} opened a "
                "database connection before the migration ended: no restart needed")
        return {"replaced_dynos": []}
    return {"replaced_dynos": list(dynos.restart(run.api, run.name))}


#: Inside the window every second is downtime: the first look comes after
#: this share of the boot left to wait for (the held migration dyno's boot,
#: db.prestart: the same slug booting the same app, less what the dynos have
#: booted already), then a few brisk looks around the boot's expected end,
#: then every 0.25 s doubling to 60 s. A boot seen at once costs a look or
#: two more than outside the window; a 300 s boot a few more looks than there,
#: so the deploy stays within its 60 requests.
WINDOW_FIRST_SHARE = 0.6
WINDOW_POLL = (0.25, dynos.BOOT_POLL_MOST, 2.0)
#: looks at WINDOW_POLL's first pause once the boot's end is near
WINDOW_BRISK_LOOKS = 4


def window_pauses(boot_seconds: float | None,
                  booting_for: float = 0.0) -> Iterator[float]:
    """The pauses of ``dynos.wait`` inside the window.

    :param boot_seconds: how long the app took to boot in the held dyno
        (None: not known).
    :param booting_for: how long the dynos waited for have been booting
        already (the promotion restarted them and the restart after the
        migration was not needed).
    """
    if not boot_seconds:
        yield from poll.pauses(*WINDOW_POLL)
        return
    first = (boot_seconds - booting_for) * WINDOW_FIRST_SHARE
    if first > WINDOW_POLL[0]:
        yield first
    for _ in range(WINDOW_BRISK_LOOKS):
        yield WINDOW_POLL[0]
    yield from poll.pauses(WINDOW_POLL[0] * WINDOW_POLL[2], *WINDOW_POLL[1:])


def _booting_for(run: Run) -> float:
    """Seconds the dynos ``dynos.wait`` waits for have been booting: since
    the promotion (which restarted them) when ``dynos.restart`` did not
    restart them again; 0 when it did, or when that is not known."""
    if dynos.restart_needed(run.facts.connections_since_go):
        return 0.0
    promote = STRATEGIES[run.settings.strategy].promote_step
    ends = [s.finished_at for s in run.report.steps
            if s.name == promote and s.finished_at]
    return max(0.0, run.clock() - ends[-1]) if ends else 0.0


def dynos_wait(run: Run, step: Step) -> StepFacts:
    pauses = (window_pauses(run.boot_seconds, _booting_for(run))
              if step.in_window else None)
    dynos.wait_up(run.api, run.name, run.facts.release_version,
                  timeout=run.settings.timeouts.boot,
                  replaced=run.facts.replaced_dynos, pauses=pauses)
    return None


def health_check(run: Run, step: Step) -> StepFacts:
    # with preboot the old dynos serve until Heroku's switch: check the new
    # release once it takes the traffic, not the old one before it
    _await_preboot_switch(run, "the health check runs after that")
    # web_url as it is now, when there is a path to GET (a request less if not)
    app = run.api.app(run.name) if run.settings.health.path else {"name": run.name}
    try:
        health.check(run.api, app, run.settings.health,
                     run.facts.release_version,
                     cabundle=run.settings.api_cabundle, out=run.out)
    except health.CouldNotCheck as exc:  # kept: a warning, not a rollback
        run.report.warnings.append(str(exc))
        run.out(f"warning: {exc}")
    return None


def maintenance_off(run: Run, step: Step) -> StepFacts:
    dynos.maintenance(run.api, run.name, bool(run.facts.maintenance_was))
    return None


def workers_restore(run: Run, step: Step) -> StepFacts:
    recorded = run.facts.workers
    if recorded is None:  # stop crashed before recording its result
        recorded = (run.journal.last("workers.stop").undo or {}).get("processes")
    dynos.restore_workers(run.api, run.name, dynos.from_json(recorded or []))
    return None


def preboot_restore(run: Run, step: Step) -> StepFacts:
    was = bool(run.facts.preboot_was)
    if not was:
        _await_preboot_switch(run)
    dynos.set_preboot(run.api, run.name, was)
    return None


def _await_preboot_switch(run: Run, then: str = "preboot goes off after that") -> None:
    """Turning preboot off while Heroku is still switching traffic to the new
    web dynos is never done: wait for the switch (a known moment after the
    release, ``herotasks.timeouts.preboot``; no API request needed)."""
    switch_at = run.facts.preboot_switch_at
    left = (switch_at or 0) - run.clock()
    if left > 0:
        run.out(f"preboot: Heroku moves traffic to v{run.facts.release_version}"
                f" in ~{left:.0f}s; {then}")
        time.sleep(left)


def scratch_destroy(run: Run, step: Step) -> StepFacts:
    scratch.destroy(run.api, run.name, run.settings, out=run.out,
                    known_id=run.facts.scratch_app_id)
    return None


def lock_release(run: Run, step: Step) -> StepFacts:
    lock.release(run.api, run.name, run.journal.deploy_id)
    return None


# -- undos: one per journal undo kind --------------------------------------------


def undo_rollback(run: Run, undo: dict) -> str:
    """Roll back to the release that ran before, unless it still runs."""
    previous = undo.get("release")
    current = run.api.current_release(run.name) or {}
    if previous and current.get("id") == previous:
        return ""  # the promotion never took effect
    ours, live = run.facts.slug_id, generations.artifact_id(current)
    if ours and live and live != ours:
        # our slug is not live (a rollback already ran, cut off before the
        # journal heard of it): another rollback would only add a release
        return f"v{current.get('version')} already runs the code from before"
    if not previous:
        raise HerotasksError("no earlier release to roll back to (first deploy)")
    target = run.api.release(run.name, previous) or {}
    if target.get("status") == "expired":  # Heroku refuses it: do not ask
        raise HerotasksError(
            f"v{target.get('version')} is expired (Heroku's release retention "
            "deleted its slug): there is no rolling back to it",
            "keep the code now live and fix forward")
    preboot_off = _preboot_off_for_rollback(run)
    try:
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
    finally:
        if preboot_off:
            _preboot_back_after_rollback(run)
    return f"rolled back to v{undo.get('version')} (as v{release.get('version')})"


#: The journal entry of preboot turned off for a rollback (its undo turns it
#: back on; :mod:`herotasks.core.recover` reads an open one as a rollback
#: under way).
ROLLBACK_PREBOOT = "slug.rollback"


def _preboot_off_for_rollback(run: Run) -> bool:
    """Turn preboot off for the rollback's release; whether it was on.

    With preboot, Heroku moves traffic to a release's new web dynos only at
    its switch, about 3 minutes after the release, and until then the old
    dynos serve: the release being rolled back (failing under traffic) would
    keep serving its errors all that time. Without preboot Heroku stops the
    existing web dynos and starts the new ones at once (Dev Center,
    *Preboot*: it "changes the standard dyno start behavior for web dynos.
    Instead of stopping the existing set of web dynos before starting the new
    ones..."), a boot's gap instead of minutes of errors; toggling it
    restarts nothing. Journaled before the change, so a cut-off rollback's
    recovery turns preboot back on.
    """
    if not dynos.preboot(run.api, run.name):
        return False
    # a rollback before the switch (dynos.wait saw a crash) waits for it
    # first: preboot is never turned off while Heroku is switching
    _await_preboot_switch(run, "the rollback turns preboot off after that")
    run.journal.begin(ROLLBACK_PREBOOT, {"action": "preboot", "enabled": True})
    dynos.set_preboot(run.api, run.name, False)
    run.out("preboot off for the rollback (its release restarts every web dyno "
            "at once, not at preboot's switch minutes later); on again after it")
    return True


def _preboot_back_after_rollback(run: Run) -> None:
    dynos.set_preboot(run.api, run.name, True)
    run.journal.close(ROLLBACK_PREBOOT)


def undo_maintenance(run: Run, undo: dict) -> str:
    was = bool(undo.get("on", False) if run.facts.maintenance_was is None
               else run.facts.maintenance_was)
    dynos.maintenance(run.api, run.name, was)
    return "maintenance off" if not was else "maintenance left on as found"


def undo_formation(run: Run, undo: dict) -> str:
    recorded = dynos.from_json(undo.get("processes") or [])
    dynos.restore_workers(run.api, run.name, recorded)
    return "workers restored" if recorded else ""


def undo_preboot(run: Run, undo: dict) -> str:
    dynos.set_preboot(run.api, run.name, bool(undo.get("enabled")))
    return "preboot restored"


def undo_dyno_stop(run: Run, undo: dict) -> str:
    """Stop the migration's held dyno. It has not migrated (the window's
    migration closes this entry), and without its ``go`` it exits on its
    own once its input ends; stopping it makes sure. A dyno not known by id
    (the journal kept with the lock is older than its start) is found among
    the scratch app's one-off dynos by its ready line."""
    held, run.held = run.held, None
    if held is not None:
        held.close()
    app = undo.get("app") or _scratch_app(run)
    known = run.facts.held_dyno
    if known:
        ids = [known]
    else:
        try:
            ids = [d["id"] for d in run.api.dynos(app) or ()
                   if d.get("type") == "run" and dynos.READY in (d.get("command") or "")]
        except ApiError as exc:
            if exc.status == 404:
                return ""  # the scratch app is gone, and its dynos with it
            raise
    stopped = [i for i in ids if dynos.stop(run.api, app, i)]
    return "the migration's held dyno stopped" if stopped else ""


def undo_scratch(run: Run, undo: dict) -> str:
    scratch.destroy(run.api, run.name, run.settings, out=run.out,
                    known_id=run.facts.scratch_app_id)
    return ""


def undo_lock(run: Run, undo: dict) -> str:
    lock.release(run.api, run.name, undo.get("deploy_id"))
    return ""
