"""Slug: build it on the scratch app, promote it to the stage's app
(config: herotasks.promote, herotasks.timeouts).
"""

from __future__ import annotations

from invoke import Collection, task

from herotasks.adapters import git
from herotasks.core import assets as core_assets
from herotasks.core import scratch as core_scratch
from herotasks.core import slug as core_slug
from herotasks.core.config import DEFAULTS
from herotasks.core.migrations import source_from_text
from herotasks.errors import ApiError, ConfigError
from herotasks.tasks._support import (
    STAGE_HELP,
    api,
    boundary,
    by_hand,
    hand_journal,
    is_dry,
    out,
    settings,
)


@task(help={"stage": STAGE_HELP, "ref": "commit to build (default: HEAD)"})
@boundary
def build(c, stage=None, ref=None):
    """Push the deploy commit to the scratch app, stream the build, record the slug."""
    s = settings(c, stage)
    git.toplevel(c)
    source = git.rev_parse(c, ref or "HEAD")
    commit = core_assets.deploy_commit_for(c, s, source)
    if commit is None:
        raise ConfigError(f"no deploy commit for {source[:10]}",
                          "run assets.precompile first")
    client = api(c, s)
    name = core_scratch.scratch_name(s.scratch_prefix, s.require_app())
    if is_dry(c):
        out(f"slug: would push {commit[:10]} to {name}")
        return
    _require_scratch(client, name, s.stage)
    run = by_hand(c, s, client, "slug.build",
                  facts={"source": source, "deploy_commit": commit,
                         "scratch_app": name})
    out(f"slug: {run.facts['slug_id']}"
        + (" (has a release phase)" if run.facts.get("release_phase") else ""))


@task(help={"stage": STAGE_HELP,
            "slug": "slug id to release (default: the one slug.build recorded)"})
@boundary
def promote(c, stage=None, slug=None):
    """Release the built slug on the stage's app and wait for the release."""
    s = settings(c, stage)
    client = api(c, s)
    journal = hand_journal(s)
    facts = dict(journal.facts) if journal else {}
    slug_id = core_slug.check_slug_id(slug) if slug else facts.get("slug_id")
    if not slug_id:
        raise ConfigError("no slug recorded for this stage",
                          "run slug.build first, or pass --slug ID")
    source = facts.get("source")
    if slug and not source:
        commit = core_slug.slug_commit(
            client, slug_id, core_scratch.scratch_name(s.scratch_prefix, s.app), s.app)
        source = source_from_text(core_assets.commit_message(c, commit)) or commit
    if is_dry(c):
        out(f"slug: would release {slug_id} on {s.app}")
        return
    current = client.current_release(s.require_app()) or {}
    by_hand(c, s, client, "slug.promote",
            facts={"slug_id": slug_id, "source": source,
                   "previous_release": current.get("id"),
                   "previous_version": current.get("version")},
            close=("slug.promote",))


def _require_scratch(client, name, stage):
    try:
        client.app(name)
    except ApiError as exc:
        if exc.status == 404:
            raise ConfigError(f"no scratch app {name}",
                              f"run scratch.create --stage {stage} first") from None
        raise


ns = Collection(build, promote)
ns.configure(DEFAULTS)
