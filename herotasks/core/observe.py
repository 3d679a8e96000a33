"""Look before deciding: everything the planner needs, read without changing
anything (GETs and read-only git), with every bad-input check on the way.

This is the ``check`` step. It fails on the first problem with one line: a
scratch allow-list that would leak the database, not a git repository,
unknown ref, shallow clone, dirty tree (unless allowed), no Procfile, bad
token, unknown app, a Fir-generation app, an app on a stack Heroku no
longer builds, pipeline promotion for an app in no pipeline, an app with the
scratch name that is not ours. Nothing has changed at that point.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from invoke.exceptions import CommandTimedOut

from herotasks.adapters import git
from herotasks.adapters.shell import run_local
from herotasks.core import assets, classify, dynos, generations, migrations, scratch, stacks
from herotasks.core.classify import emitted, gap
from herotasks.core.config import PRESETS, Settings
from herotasks.core.facts import Facts
from herotasks.core.slug import fetch_deploy_commit
from herotasks.core.state import Pending, State, formation_from_api, preboot_allowed
from herotasks.core.strategies import STRATEGIES
from herotasks.errors import ApiError, ConfigError, GitError

RECENT_RELEASES = 50
#: Heroku's release retention (Dev Center changelog 3395, *Releases*
#: "Release Retention Policy", since 1 October 2025): a release's slug is
#: destroyed once the release is over 30 days old and outside its app's
#: latest 20 releases; the release is then ``expired``, no rollback target.
RETENTION_DAYS = 30
RETENTION_RELEASES = 20


@dataclass(frozen=True)
class Observed:
    """The planner's :class:`State` plus the raw facts the steps need."""

    state: State
    app: dict
    source: str
    assets: assets.AssetsDecision
    #: the email of the account the token is (``GET /account``)
    account: str | None = None
    #: an app had the scratch name during the check (None: not looked)
    scratch_exists: bool | None = None

    def facts(self) -> Facts:
        """What a deploy's journal (and a dry run's report) start from."""
        state = self.state
        return Facts(source=self.source, deployed=state.deployed_commit,
                     previous_release=state.current_release,
                     previous_version=state.current_version,
                     maintenance_was=state.maintenance, preboot_was=state.preboot,
                     assets=dict(vars(self.assets)), pending=state.pending.pending,
                     pending_reason=state.pending.reason, online=state.online,
                     warnings=list(state.warnings), account=self.account,
                     expand=list(state.gap), scratch_exists=self.scratch_exists)


def parse_procfile(text: str) -> dict[str, str]:
    """Process types of a Procfile (``name: command`` lines)."""
    types: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        if name.strip():
            types[name.strip()] = command.strip()
    return types


def check_repo(c: Any, ref: str, *, allow_dirty: bool) -> str:
    """The local checks, in the order a user fixes them; the source sha."""
    git.toplevel(c)
    if git.is_shallow(c):
        raise GitError("this is a shallow clone: herotasks needs the history to "
                       "diff against the deployed commit",
                       "run `git fetch --unshallow` (in CI: fetch-depth: 0)")
    if not allow_dirty and git.is_dirty(c):
        raise GitError("tracked files have uncommitted changes",
                       "commit or stash them, or pass --allow-dirty "
                       "(the deploy ships the commit, not the working tree)")
    return git.rev_parse(c, ref)


def release_phase_of(c: Any, source: str) -> bool:
    """Whether the Procfile at ``source`` declares ``release:``.

    :raises ConfigError: no Procfile at that commit.
    """
    text = assets.show_file(c, source, "Procfile")
    if text is None:
        raise ConfigError(f"commit {source[:10]} has no Procfile",
                          "Heroku needs one at the repository root "
                          "(e.g. `web: gunicorn app.wsgi`)")
    return "release" in parse_procfile(text)


def app_info(api: Any, name: str) -> dict:
    """The app, with the two common failures made into one clear line."""
    try:
        return api.app(name)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise ConfigError(
                f"unknown app {name!r} ({exc.message})",
                "check the stage's app name in herotasks.stages and that this "
                "account can access it",
            ) from None
        raise


def check_pipeline(api: Any, settings: Settings, name: str) -> None:
    """Pipeline promotion needs the target in a pipeline: say so during the
    check, not once the slug is built and maintenance is on.

    :raises ConfigError: the target is in no pipeline.
    """
    if (not STRATEGIES[settings.strategy].scratch_build
            or settings.promote_method != "pipeline"):
        return  # strategies that push to the app promote nothing
    if not api.pipeline_coupling(name):
        raise ConfigError(f"{name} is in no pipeline",
                          "couple it to one, or use herotasks.promote.method: slug")


def check_scratch(api: Any, settings: Settings, name: str) -> bool | None:
    """An app already holding the scratch name must be ours: say so during
    the check, before the lock or anything else is touched.

    :returns: whether an app has the scratch name (None: no scratch build).
    :raises ConfigError: it is somebody else's (see :mod:`herotasks.core.scratch`).
    """
    if not STRATEGIES[settings.strategy].scratch_build:
        return None
    from herotasks.core import journal as journal_mod

    unfinished = journal_mod.load(settings.statedir, name)
    known = unfinished.facts.scratch_app_id if unfinished else None
    return scratch.check_name(api, name, settings, known) is not None


def check_generation(app: dict, settings: Settings) -> None:
    """What herotasks cannot do on the app's generation, refused in the check,
    before the lock or anything else (the records: :mod:`core.generations`).

    :raises ConfigError: a generation herotasks has no record of, or a Fir
        target with ``promote.method: slug`` (an OCI image goes to another
        app only through a pipeline promotion, as far as Heroku documents).
    """
    name = app.get("name") or "?"
    generation = ((app.get("generation") or {}).get("name") or "cedar")
    if not generations.known(app):
        raise ConfigError(
            f"{name} is a {generation.title()}-generation app, which herotasks does "
            f"not know (it deploys {' and '.join(g.title() for g in generations.GENERATIONS)} "
            "apps)", f"deploy it with `git push` to its git URL (heroku git:remote -a {name})")
    if not STRATEGIES[settings.strategy].scratch_build:
        return  # a git push to the app builds and releases on any generation
    why = generations.of(app).check_promote(name, settings.promote_method)
    if why:
        raise ConfigError(why, "set herotasks.promote.method: pipeline and couple "
                          f"{name} to a pipeline (the scratch app joins it upstream)")


def check_shield(app: dict, settings: Settings, release_phase: bool) -> None:
    """A Shield Private Space attaches one-off dynos over SSH (an https
    ``attach_url``), not the rendezvous protocol herotasks speaks: say so in
    the check, not once the window is open and the migration cannot start.

    :raises ConfigError: migrations would run in a one-off dyno there.
    """
    space = app.get("space") or {}
    if not space.get("shield") or settings.migrate_command is None or release_phase:
        return
    raise ConfigError(
        f"{app.get('name')} runs in the Shield Private Space {space.get('name')}, "
        "where one-off dynos attach over SSH, which herotasks does not speak",
        "migrate in the release phase (a `release:` line in the Procfile), "
        "which herotasks then relies on")


def deployed_commit(c: Any, api: Any,
                    name: str) -> tuple[migrations.Deployed, dict | None, str | None]:
    """The source commit running on ``name``, its current release, and why
    that release is no way back (:func:`fallback_warning`)."""
    # one read of the newest releases holds the current one, almost always
    releases = api.releases(name, limit=RECENT_RELEASES)
    current = next((r for r in releases if r.get("current")), None)
    if current is None and releases:
        current = api.current_release(name)  # older than them all, or no flag
    if current is None:
        releases = []
    slug = None  # the current release's slug, or its OCI image (Fir)
    if generations.artifact_id(current):
        try:
            slug = generations.artifact(api, name, current)
        except ApiError as exc:
            if exc.status != 404:
                raise
    commit = (slug or {}).get("commit")
    if commit and not git.has_commit(c, commit):
        # a deploy commit made on another machine (a pipeline promotion
        # names no source): kept on the app's git by slug.build
        fetch_deploy_commit(c, api, name, commit)
    found = migrations.deployed_source(
        current, releases, slug, lambda sha: assets.commit_message(c, sha))
    return found, current, fallback_warning(current, releases,
                                            getattr(api, "server_time", None))


def fallback_warning(current: dict | None, releases: list[dict],
                     now: float | None) -> str | None:
    """Why the release a deploy would fall back to (the current one) cannot
    be rolled back to, now or once this deploy makes its release; None when
    it can.

    :param releases: the newest releases (newest first), ``current`` among them.
    :param now: Heroku's clock (epoch seconds; its ``Date`` header), or None
        for this machine's.
    """
    if not current:
        return None
    version = current.get("version")
    head = (f"v{version}, the release this deploy would fall back to, ")
    tail = ("so if the deploy fails once the new code is live there is no "
            "rolling back: the new release is kept, fix forward")
    if current.get("status") == "expired":
        return head + f"is expired (Heroku's release retention deleted its slug): {tail}"
    created = _epoch(current.get("created_at"))
    newer = sum(1 for r in releases if (r.get("version") or 0) > (version or 0))
    if created is None or newer < RETENTION_RELEASES - 1:
        return None
    age = ((time.time() if now is None else now) - created) / 86400
    if age <= RETENTION_DAYS:
        return None
    return (head + f"is {age:.0f} days old with {newer} releases after it: "
            "Heroku's release retention expires it as soon as this deploy "
            f"releases, {tail}")


def _epoch(stamp: Any) -> float | None:
    """An API timestamp (``2026-01-01T12:00:00Z``) as epoch seconds."""
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pending_for(c: Any, settings: Settings, deployed: migrations.Deployed,
                source: str) -> Pending:
    """:func:`herotasks.core.migrations.pending` wired to the local git."""
    return migrations.pending(
        deployed, source, settings.migration_paths,
        has_commit=lambda sha: git.has_commit(c, sha),
        diff_names=lambda a, b, specs: git.diff_names(c, a, b, specs),
        migrate_command=settings.migrate_command,
    )


def migration_verdicts(c: Any, settings: Settings, source: str,
                       pend: Pending) -> tuple[classify.Verdict, ...]:
    """Each pending file's verdict: from the SQL the framework emits where the
    preset can get it offline (before any window), else from reading it."""
    texts = {f: assets.show_file(c, source, f) for f in pend.files}
    found, why = framework_sql(c, settings, source, texts)
    return classify.classify_all(settings.preset, texts, mode=settings.migrations_mode,
                                 emitted=found, unavailable=why)


def framework_sql(c: Any, settings: Settings, commit: str,
                  texts: dict[str, str | None]) -> tuple[dict, str]:
    """The framework's own SQL per file (herotasks.core.classify.emitted),
    and why there is none when there is none. It runs the project's own
    code on this machine, so only when the working tree is the deploy
    commit, unchanged (a migration's SQL depends on the migrations before
    it and on the field classes it imports)."""
    preset = PRESETS[settings.preset]
    if settings.migrations_mode != "auto" or preset.sql_from is None:
        return {}, ""
    paths = [p for p, text in texts.items()
             if text is not None and not preset.ignore.ignores(p, deleted=False)]
    if not paths:
        return {}, ""
    if _head_if_clean(c) != commit:
        return {}, "the working tree is not the deploy commit, unchanged"
    root = git.toplevel(c)

    def run(cmd: str) -> tuple[bool, str]:
        try:
            result = run_local(c, f"cd {shlex.quote(root)} && {cmd}", hide=True,
                               warn=True, readonly=True, timeout=300)
        except CommandTimedOut:
            return False, ""
        return result.ok, result.stdout

    return emitted.SOURCES[preset.sql_from](run, settings.migrate_command,
                                            {p: texts[p] or "" for p in paths})


def _head_if_clean(c: Any) -> str | None:
    """HEAD's sha when no tracked file differs from it, else None."""
    return None if git.is_dirty(c) else git.rev_parse(c, "HEAD")


def baseline(settings: Settings, name: str,
             deployed: migrations.Deployed) -> migrations.Deployed:
    """What the pending migrations are counted from: the deployed commit, or,
    when this machine kept that code without its migration (``deploy.recover
    --keep-code``), the commit before it, so they stay pending."""
    from herotasks.core import journal as journal_mod

    note = journal_mod.unmigrated(settings.statedir, name)
    if note is None or not deployed.commit or note.get("commit") != deployed.commit:
        return deployed
    since = note.get("since")
    return migrations.Deployed(since, f"{deployed.how}; kept without its migration "
                               f"since {(since or 'the first deploy')[:10]}")


def space_of(app: dict) -> str | None:
    """The Private Space an app runs in (its name), None in the Common Runtime."""
    space = app.get("space")
    if not space:
        return None
    return str(space.get("name") or space.get("id") if isinstance(space, dict)
               else space)


def observe(c: Any, api: Any, settings: Settings, *, ref: str = "HEAD",
            allow_dirty: bool = False) -> Observed:
    """Gather the deploy's starting point (read-only)."""
    name = settings.require_app()
    scratch.check_allowlist(settings)
    source = check_repo(c, ref, allow_dirty=allow_dirty)
    release_phase = release_phase_of(c, source)
    # a bad token fails here, before anything else is asked
    account = (api.account() or {}).get("email")
    app = app_info(api, name)
    check_generation(app, settings)
    stack_warning = stacks.check(app, getattr(api, "server_time", None))
    if settings.scratch_allowlist and STRATEGIES[settings.strategy].scratch_build:
        # an add-on's var in the allow-list: refused here, before the lock
        scratch.check_allowlist(settings, scratch.addon_vars(api, name))
    check_pipeline(api, settings, name)
    check_shield(app, settings, release_phase)
    scratch_exists = check_scratch(api, settings, name)
    deployed, current, fallback = deployed_commit(c, api, name)
    pend = pending_for(c, settings, baseline(settings, name, deployed), source)
    verdicts = migration_verdicts(c, settings, source, pend) if pend.pending else ()
    if deployed.commit and any(v.column_drops for v in verdicts):
        # the schema as deployed says whether a dropped column is safe for
        # the new code's INSERTs until the contract drops it
        verdicts = gap.resolve(settings.preset, verdicts,
                               lambda path: assets.show_file(c, deployed.commit, path))
    database_url = None
    if any(v.column_drops for v in verdicts):
        # db.expand reaches the database through DATABASE_URL: only whether
        # it is a PostgreSQL URL is kept (one request, only for such a gap)
        url = str((api.config_vars(name) or {}).get(gap.DATABASE_VAR) or "")
        database_url = url.startswith(("postgres://", "postgresql://"))
    formation = formation_from_api(api.formation(name))
    decision = assets.decide(c, settings, source)
    state = State(
        app=name,
        stage=settings.stage,
        new_commit=source,
        deployed_commit=deployed.commit,
        pending=pend,
        release_phase=release_phase,
        preboot=dynos.preboot(api, name),
        preboot_allowed=preboot_allowed(formation, space_of(app)),
        space=space_of(app),
        formation=formation,
        maintenance=bool(app.get("maintenance")),
        assets_rebuild=(None if settings.assets_command is None
                        else decision.rebuild),
        assets_reason=decision.reason,
        current_release=(current or {}).get("id"),
        current_version=(current or {}).get("version"),
        migrations=verdicts,
        fallback=fallback,
        stack_warning=stack_warning,
        database_url=database_url,
    )
    return Observed(state=state, app=app, source=source, assets=decision,
                    account=account, scratch_exists=scratch_exists)
