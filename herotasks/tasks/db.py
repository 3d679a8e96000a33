"""Database: are migrations pending, and run them in a one-off dyno
(config: herotasks.migrations).
"""

from __future__ import annotations

from invoke import Collection, task

from herotasks.core.config import DEFAULTS
from herotasks.errors import ConfigError
from herotasks.tasks._support import (
    STAGE_HELP,
    Hand,
    api,
    boundary,
    out,
    settings,
    step_task,
)


@task(help={"stage": STAGE_HELP, "ref": "commit to compare (default: HEAD)"})
@boundary
def pending(c, stage=None, ref=None):
    """Say whether the diff from the deployed commit touches the migration paths."""
    from herotasks.core.observe import app_info, check_repo, deployed_commit, pending_for

    s = settings(c, stage)
    source = check_repo(c, ref or "HEAD", allow_dirty=True)
    client = api(c, s)
    app_info(client, s.require_app())
    found, _, _ = deployed_commit(c, client, s.app)
    result = pending_for(c, s, found, source)
    out(f"{s.app}: migrations {'pending' if result.pending else 'none'} "
        f"({result.reason})")
    for name in result.files:
        out(f"  {name}")
    return result.pending


def _has_command(hand: Hand) -> None:
    if hand.settings.migrate_command is None:
        raise ConfigError("no migrate command configured "
                          "(herotasks.migrations.command is false)",
                          "set it, or pick preset rails, django or alembic")


def _has_scratch(hand: Hand) -> dict:
    from herotasks.core import scratch

    _has_command(hand)
    name = scratch.scratch_name(hand.settings.scratch_prefix, hand.app)
    hand.api.app(name)  # one line when it is missing: run slug.build first
    return {"scratch_app": name}


migrate = step_task("db.migrate", "Run the migrate command in a one-off dyno; its "
                    "exit code decides.", prepare=_has_command)
premigrate = step_task("db.premigrate", "Run the new slug's migrations from the "
                       "scratch app with the app's config, while the old code "
                       "serves (online migrations only).", prepare=_has_scratch)

ns = Collection(pending, migrate, premigrate)
ns.configure(DEFAULTS)
