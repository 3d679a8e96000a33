"""Build the slug on the scratch app; put it on the stage's app.

Build: ``git push`` of the deploy commit to the scratch app's ``git_url``
(token through :func:`herotasks.adapters.git.push_env` only), Heroku-style
``remote:`` output streamed as it comes, then the slug id read from the
scratch app's newest build for that commit.

Promote, two ways:

* ``slug`` (default, no pipeline needed): ``POST /apps/{app}/releases`` with
  the slug id and a description naming the source commit
  (:func:`herotasks.core.migrations.release_description`), which is how later
  deploys know what runs there;
* ``pipeline``: couple the scratch app into the target's pipeline one stage
  upstream and promote it.

Either way we then wait for the release to leave ``pending`` (a release phase
runs then) and fail with Heroku's own words if it failed.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from herotasks.adapters import git
from herotasks.core import generations, poll
from herotasks.core.migrations import release_description
from herotasks.core.scratch import zero_formation
from herotasks.errors import (
    ApiError,
    CommandError,
    ConfigError,
    GitError,
    HerotasksError,
    hint_command,
)

#: Heroku slug ids are uuids.
SLUG_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SLUG_HINT = ("pass --slug the id slug.build printed, or leave --slug out to "
              "release the slug it recorded")


def check_slug_id(value: str) -> str:
    """``--slug`` as given, if it can be a slug id at all (checked before any
    request, so a typo is named as one rather than as a missing app)."""
    slug_id = str(value).strip().lower()
    if not SLUG_ID.fullmatch(slug_id):
        raise ConfigError(f"--slug {value!r} is not a slug id (a uuid)", _SLUG_HINT)
    return slug_id


def slug_commit(api: Any, slug_id: str, *apps: str) -> str:
    """The commit of slug ``slug_id``, looked up on each of ``apps`` in turn.

    :raises ConfigError: none of them has it (Heroku's 404 alone would name
        whichever app was asked, e.g. a scratch app long destroyed).
    """
    for app in apps:
        try:
            return api.slug(app, slug_id).get("commit") or ""
        except ApiError as exc:
            if exc.status != 404:
                raise
    raise ConfigError(f"no slug {slug_id} on {' or '.join(apps)}", _SLUG_HINT)


#: Where the scratch app is coupled, given the target's pipeline stage.
UPSTREAM = {"production": "staging", "staging": "development"}


def log_tail(text: str | None, lines: int = 15) -> str:
    """The last lines of a log, for an error message's detail."""
    rows = [r.rstrip() for r in (text or "").splitlines() if r.strip()]
    return "\n".join(rows[-lines:])


def push(c: Any, api: Any, url: str, sha: str, *, what: str) -> str:
    """Push ``sha`` to a Heroku git URL, streaming the build; the output.

    :raises CommandError: the push (that is, the build) failed; the message
        ends with the build log's tail.
    """
    # The API client hands out git's credential env (its token and the CA
    # bundle it was made with), so the token never passes through herotasks'
    # own code, a URL or a process argument.
    env = api.git_env()
    try:
        return git.push(c, url, sha, env=env)
    except GitError as exc:
        tail = log_tail(exc.output)
        raise CommandError(
            f"build of {sha[:10]} on {what} failed",
            "see the build log above" + (f"; its end:\n{tail}" if tail else ""),
            output=exc.output,
        ) from None


def build(c: Any, api: Any, scratch: dict, sha: str, *, timeout: float,
          sleep: Callable[[float], Any] = time.sleep) -> dict:
    """Build ``sha`` on the scratch app; the slug (with ``process_types``).

    :raises CommandError: the build failed.
    """
    name = scratch["name"]
    url = scratch.get("git_url") or api.app(name)["git_url"]
    push(c, api, url, sha, what=f"the scratch app {name}")
    # the push returns when Heroku's build is done: usually one look
    found = _finished_build(api, name, sha, timeout, sleep)
    built = _artifact(api, name, found) if found.get("status") == "succeeded" else None
    if not built:
        raise CommandError(
            f"build {found.get('id', '?')} of {sha[:10]} on {name} "
            f"ended {found.get('status')}",
            "see the build log above",
        )
    _zero_web(api, name, built)
    return built


def _zero_web(api: Any, name: str, built: dict) -> None:
    """Scale the scratch app's web back to zero after a build: a release
    whose web process type is new to the app starts one web dyno on its own
    (Dev Center, "How Heroku Works": "if you deploy an application for the
    first time, Heroku will run 1 web dyno automatically"), and nothing
    else. The scratch app's formation was zero before the build
    (:func:`herotasks.core.scratch.create`), so one write of the web type
    does it, where a look at the formation first took one more request of
    the deploy's rate-limit budget. An artifact that does not say its
    process types gets the look.

    A release whose release phase failed never became current, so no
    formation was made from it: Heroku answers the write 404 ("Couldn't
    find that process type"), and nothing runs there to stop."""
    types = built.get("process_types")
    if not isinstance(types, dict):
        zero_formation(api, name)
    elif "web" in types:
        try:
            api.update_formation(name, [{"type": "web", "quantity": 0}])
        except ApiError as exc:
            if exc.status != 404:
                raise


def _artifact(api: Any, name: str, build: dict) -> dict | None:
    """What a finished build made, as a slug reads: its slug (Cedar), or the
    OCI image its release names (Fir: ``build.slug`` is null, "only
    applicable for Cedar-generation apps")."""
    if (build.get("slug") or {}).get("id"):
        return api.slug(name, build["slug"]["id"])
    release_id = (build.get("release") or {}).get("id")
    if not release_id:
        return None
    return generations.artifact(api, name, api.release(name, release_id))


def pushed_release(api: Any, name: str, sha: str, known: set[str]) -> dict:
    """The release the build of a ``git push`` of ``sha`` made on ``name``.

    Not the app's current release: when only the release phase fails, the
    push still succeeds (the build is done, the commit is on the remote) and
    the old release stays current, so "current after the push" would report
    the old release as the new one. The build of ``sha`` names the release
    it made; ``known`` are the build ids from before the push, so an earlier
    build of the same commit is not mistaken for this one.

    A push that builds nothing (the repository already had ``sha``: a
    re-run deploy) is fine when the current release runs ``sha``.

    :raises HerotasksError: the push built nothing and the app runs other
        code (it was rolled back since ``sha`` was pushed).
    """
    builds = [b for b in api.builds(name) if b.get("id") not in known
              and (b.get("source_blob") or {}).get("version") in (None, sha)]
    release_id = ((builds[0].get("release") or {}).get("id") if builds else None)
    if release_id:
        return api.release(name, release_id)
    current = api.current_release(name) or {}
    if (generations.artifact(api, name, current) or {}).get("commit") == sha:
        return current
    raise HerotasksError(
        f"the push of {sha[:10]} to {name} made no release: its git repository "
        "already had that commit, so Heroku built nothing",
        "roll forward with a new commit, or use --strategy herotasks, which "
        "releases the slug whatever the app's repository holds",
    )


def scratch_release(api: Any, name: str, slug_id: str, *,
                    timeout: float) -> dict | None:
    """The newest release of ``slug_id`` on ``name`` once its release phase
    has ended (None: there is none)."""
    mine = [r for r in api.releases(name, limit=10)
            if generations.artifact_id(r) == slug_id]
    release = max(mine, key=lambda r: r.get("version") or 0) if mine else None
    if release and release.get("status") == "pending":
        release = api.wait_release(name, release["id"], timeout)
    return release


def promotable_release(api: Any, name: str, slug_id: str, *,
                       timeout: float) -> dict:
    """The scratch app's release of the built slug, once it succeeded: what a
    pipeline promotion must promote.

    Heroku runs the release phase on the scratch app too (every build makes a
    release) and promotes a release's slug; when the scratch release failed
    (its release command needs production data, which the scratch app never
    gets), the app's current release is an older slug or none, so promoting
    it would put the wrong code live. Checked after the build, before any
    window opens.

    :raises CommandError: no succeeded release of ``slug_id`` on ``name``.
    """
    release = scratch_release(api, name, slug_id, timeout=timeout)
    if release and release.get("status") == "succeeded":
        return release
    what = (f"v{release.get('version')} {release.get('status')}" if release
            else "no release of it")
    raise CommandError(
        f"the release phase failed on the scratch app {name} ({what}): a "
        f"pipeline promotion would not promote slug {slug_id}",
        "use herotasks.promote.method: slug (the target runs the release "
        "phase with its own config), or make the release command succeed "
        "without production data",
    )


#: Where a deploy commit is kept on the target's own git: a branch Heroku does
#: not build (only main and master are), named after the commit.
KEEP_BRANCH = "herotasks/deploys/{sha}"


def keep_deploy_commit(c: Any, api: Any, app: dict, sha: str) -> None:
    """Push deploy commit ``sha`` to a non-deploy branch of ``app``'s git.

    A pipeline promotion's release carries Heroku's description and a git
    build leaves the slug's ``commit_description`` empty, so the slug's
    commit (the deploy commit, made on the deploying machine) is all a fresh
    clone gets: kept there, any machine with the token can fetch it and read
    its ``Herotasks-Source`` trailer (:func:`fetch_deploy_commit`).

    :raises CommandError: the push failed.
    """
    url = app.get("git_url") or api.app(app["name"])["git_url"]
    try:
        git.push(c, url, sha, branch=KEEP_BRANCH.format(sha=sha), force=True,
                 env=api.git_env(), hide=True)
    except GitError as exc:
        raise CommandError(
            f"cannot keep deploy commit {sha[:10]} on {app['name']}'s git: "
            f"{exc.message}",
            "check the token's access to the app's git, then retry",
            output=exc.output) from None


def fetch_deploy_commit(c: Any, api: Any, name: str, sha: str) -> bool:
    """Fetch the deploy commit ``sha`` kept on ``name``'s git, if it is there."""
    try:
        url = api.app(name).get("git_url")
    except ApiError:
        return False
    return bool(url) and git.fetch_ref(
        c, url, "refs/heads/" + KEEP_BRANCH.format(sha=sha),
        f"refs/herotasks/deploys/{sha}", env=api.git_env())


def has_release_phase(slug: dict) -> bool:
    """The slug declares a ``release`` process type."""
    return "release" in (slug.get("process_types") or {})


def promote(api: Any, app: dict, scratch: dict | None, slug_id: str,
            source: str | None,
            *, method: str, timeout: float, out: Callable[[str], Any] = print,
            sleep: Callable[[float], Any] = time.sleep,
            source_release: str | None = None) -> dict:
    """Release ``slug_id`` on ``app`` and wait; the finished release.

    :param source_release: with ``pipeline``, the scratch release to promote
        (:func:`promotable_release`); looked up when not given.
    :raises CommandError: the release failed (its release phase, usually), or
        a promotion released another slug than ``slug_id``.
    """
    name = app["name"]
    if method == "pipeline":
        if scratch is None:
            raise ConfigError("pipeline promotion needs the scratch app",
                              f"run `{hint_command('scratch.create')}` and "
                              f"`{hint_command('slug.build')}` first")
        source_release = source_release or promotable_release(
            api, scratch["name"], slug_id, timeout=timeout)["id"]
        release = _promote_pipeline(api, app, scratch, source_release, timeout,
                                    sleep)
        got = generations.artifact_id(release) if release else None
        if release and got != slug_id:
            raise CommandError(
                f"the promotion released slug {got} on {name}, not the built "
                f"slug {slug_id}", f"see heroku releases -a {name}")
    else:
        release = api.create_release(
            name, slug_id, description=release_description(source) if source else None)
    if not release:
        raise HerotasksError(f"Heroku created no release on {name}")
    return wait(api, name, release, timeout=timeout, out=out)


def rollback(api: Any, app: str, release_id: str, *, timeout: float,
             out: Callable[[str], Any] = print) -> dict:
    """Roll ``app`` back to ``release_id`` and wait for the new release."""
    release = api.rollback(app, release_id)
    if not release:
        raise HerotasksError(f"Heroku created no rollback release on {app}")
    return wait(api, app, release, timeout=timeout, out=out)


def wait(api: Any, app: str, release: dict, *, timeout: float,
         out: Callable[[str], Any] = print) -> dict:
    """Stream a release's output (its release phase) and wait for its end.

    The stream is no Platform API request (it is served from the stream
    URL's host, outside the rate limit) and ends with the release phase,
    so the wait after it is usually one look.
    """
    if release.get("status") in ("succeeded", "failed"):
        done = release  # no release phase: Heroku's answer is the end (no look)
    else:
        if release.get("output_stream_url"):
            api.stream(release["output_stream_url"], out)
        done = api.wait_release(app, release["id"], timeout,
                                pauses=poll.pauses(2.0, 10.0))
    if done.get("status") != "succeeded":
        raise CommandError(
            f"release v{done.get('version')} of {app} {done.get('status')}",
            "its release phase failed; see its output above "
            f"(heroku releases:output {done.get('version')} -a {app})",
        )
    return done


# -- internals ----------------------------------------------------------------


def _finished_build(api: Any, name: str, sha: str, timeout: float,
                    sleep: Callable[[float], Any]) -> dict:
    """The scratch app's newest build of ``sha`` once it is no longer pending."""
    deadline = time.monotonic() + timeout
    for pause in poll.pauses(2.0, 10.0):
        builds = [b for b in api.builds(name)
                  if (b.get("source_blob") or {}).get("version") in (None, sha)]
        if builds and builds[0].get("status") != "pending":
            return builds[0]
        if time.monotonic() > deadline:
            raise HerotasksError(f"the build of {sha[:10]} on {name} did not finish "
                                 f"in {timeout:g}s", "raise herotasks.timeouts.build")
        sleep(pause)


def _promote_pipeline(api: Any, app: dict, scratch: dict, source_release: str,
                      timeout: float,
                      sleep: Callable[[float], Any]) -> dict:
    coupling = api.pipeline_coupling(app["name"])
    if not coupling:
        raise ConfigError(
            f"{app['name']} is in no pipeline",
            "couple it to one, or use herotasks.promote.method: slug",
        )
    pipeline_id = coupling["pipeline"]["id"]
    mine = api.pipeline_coupling(scratch["name"])
    if not mine or mine.get("pipeline", {}).get("id") != pipeline_id:
        stage = UPSTREAM.get(coupling.get("stage", ""), "development")
        api.couple(pipeline_id, scratch["name"], stage)
    scratch_id = scratch.get("id") or api.app(scratch["name"])["id"]
    app_id = app.get("id") or api.app(app["name"])["id"]
    promotion = api.promote(pipeline_id, scratch_id, [app_id],
                            release_id=source_release)
    if not promotion:
        raise HerotasksError("Heroku created no pipeline promotion")
    deadline = time.monotonic() + timeout
    for pause in poll.pauses(2.0, 10.0):
        targets = api.promotion_targets(promotion["id"])
        target = next((t for t in targets
                       if (t.get("app") or {}).get("id") == app_id), None)
        if target and target.get("status") == "failed":
            raise CommandError(f"promotion to {app['name']} failed: "
                               f"{target.get('error_message') or 'no reason given'}")
        if target and (target.get("release") or {}).get("id"):
            return api.release(app["name"], target["release"]["id"])
        if time.monotonic() > deadline:
            raise HerotasksError(f"promotion to {app['name']} did not finish in "
                                 f"{timeout:g}s", "raise herotasks.timeouts.release")
        sleep(pause)
