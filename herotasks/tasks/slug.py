"""Slug: build it on the scratch app, promote it to the stage's app
(config: herotasks.promote, herotasks.timeouts).
"""

from __future__ import annotations

from invoke import Collection

from herotasks.core.config import DEFAULTS
from herotasks.errors import ApiError, ConfigError, hint_command
from herotasks.tasks._support import Hand, step_task


def _for_build(hand: Hand, ref=None) -> dict:
    from herotasks.adapters import git
    from herotasks.core import assets, scratch

    git.toplevel(hand.c)
    source = git.rev_parse(hand.c, ref or "HEAD")
    commit = assets.deploy_commit_for(hand.c, hand.settings, source)
    if commit is None:
        raise ConfigError(f"no deploy commit for {source[:10]}",
                          f"run `{hint_command('assets.precompile')}` first")
    name = scratch.scratch_name(hand.settings.scratch_prefix, hand.app)
    try:
        hand.api.app(name)
    except ApiError as exc:
        if exc.status == 404:
            raise ConfigError(f"no scratch app {name}", "run `" + hint_command(
                f"scratch.create --stage {hand.settings.stage}") + "` first") from None
        raise
    return {"source": source, "deploy_commit": commit, "scratch_app": name}


def _for_promote(hand: Hand, slug=None) -> dict:
    from herotasks.core import assets, generations, scratch
    from herotasks.core import slug as core_slug
    from herotasks.core.facts import Facts
    from herotasks.core.migrations import source_from_text

    facts = hand.journal.facts if hand.journal else Facts()
    slug_id = core_slug.check_slug_id(slug) if slug else facts.slug_id
    # a Fir target takes its build only through a pipeline promotion: said
    # here, before anything is sent (core/generations.py)
    why = generations.of(hand.api.app(hand.app)).check_promote(
        hand.app, hand.settings.promote_method)
    if why:
        raise ConfigError(why, "set herotasks.promote.method: pipeline")
    if not slug_id:
        raise ConfigError("no slug recorded for this stage",
                          f"run `{hint_command('slug.build')}` first, or pass --slug ID")
    source = facts.source
    if slug and not source:
        commit = core_slug.slug_commit(hand.api, slug_id, scratch.scratch_name(
            hand.settings.scratch_prefix, hand.app), hand.app)
        source = source_from_text(assets.commit_message(hand.c, commit)) or commit
    current = hand.api.current_release(hand.app) or {}
    return {"slug_id": slug_id, "source": source,
            "previous_release": current.get("id"),
            "previous_version": current.get("version")}


build = step_task("slug.build", "Push the deploy commit to the scratch app, stream "
                  "the build, record the slug.", prepare=_for_build,
                  help={"ref": "commit to build (default: HEAD)"})
promote = step_task("slug.promote", "Release the built slug on the stage's app and "
                    "wait for the release.", prepare=_for_promote,
                    help={"slug": "slug id to release (default: the one "
                                  "slug.build recorded)"})

ns = Collection(build, promote)
ns.configure(DEFAULTS)
