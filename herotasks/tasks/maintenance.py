"""Maintenance mode of the stage's app."""

from __future__ import annotations

from invoke import Collection, task

from herotasks.core.config import DEFAULTS
from herotasks.tasks._support import (
    STAGE_HELP,
    api,
    boundary,
    by_hand,
    is_dry,
    out,
    settings,
)


@task(help={"stage": STAGE_HELP})
@boundary
def on(c, stage=None):
    """Turn maintenance mode on (recorded, so deploy.recover can turn it off)."""
    s = settings(c, stage)
    client = api(c, s)
    if is_dry(c):
        out(f"maintenance: would turn it on for {s.require_app()}")
        return
    was = bool(client.app(s.require_app()).get("maintenance"))
    by_hand(c, s, client, "maintenance.on", facts={"maintenance_was": was})


@task(help={"stage": STAGE_HELP})
@boundary
def off(c, stage=None):
    """Turn maintenance mode off (back to how maintenance.on found it)."""
    s = settings(c, stage)
    if is_dry(c):
        out(f"maintenance: would turn it off for {s.require_app()}")
        return
    by_hand(c, s, api(c, s), "maintenance.off")


ns = Collection(on, off)
ns.configure(DEFAULTS)
