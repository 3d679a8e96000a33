"""Database: are migrations pending, and run them in a one-off dyno
(config: herotasks.migrations).
"""

from __future__ import annotations

from invoke import Collection, task

from herotasks.core.config import DEFAULTS
from herotasks.core.observe import app_info, check_repo, deployed_commit, pending_for
from herotasks.tasks._support import (
    STAGE_HELP,
    api,
    boundary,
    by_hand,
    is_dry,
    out,
    settings,
)


@task(help={"stage": STAGE_HELP, "ref": "commit to compare (default: HEAD)"})
@boundary
def pending(c, stage=None, ref=None):
    """Say whether the diff from the deployed commit touches the migration paths."""
    s = settings(c, stage)
    source = check_repo(c, ref or "HEAD", allow_dirty=True)
    client = api(c, s)
    app_info(client, s.require_app())
    found, _ = deployed_commit(c, client, s.app)
    result = pending_for(c, s, found, source)
    out(f"{s.app}: migrations {'pending' if result.pending else 'none'} "
        f"({result.reason})")
    for name in result.files:
        out(f"  {name}")
    return result.pending


@task(help={"stage": STAGE_HELP})
@boundary
def migrate(c, stage=None):
    """Run the migrate command in a one-off dyno; its exit code decides."""
    s = settings(c, stage)
    if is_dry(c):
        out(f"db: would run `{s.migrate_command}` on {s.require_app()}")
        return
    by_hand(c, s, api(c, s), "db.migrate")


ns = Collection(pending, migrate)
ns.configure(DEFAULTS)
