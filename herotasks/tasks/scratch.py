"""Scratch app: where the slug is built (config: herotasks.scratch).

Named after its target, so it is reused; it gets the target's stack and
buildpacks, only allow-listed config vars, and a formation of zero.
"""

from __future__ import annotations

from invoke import Collection, task

from herotasks.core.config import DEFAULTS
from herotasks.core import scratch as core_scratch
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
def create(c, stage=None):
    """Create (or reuse) the stage's scratch app."""
    s = settings(c, stage)
    name = core_scratch.scratch_name(s.scratch_prefix, s.require_app())
    if is_dry(c):
        out(f"scratch: would create or reuse {name}")
        return
    by_hand(c, s, api(c, s), "scratch.create")


@task(help={"stage": STAGE_HELP})
@boundary
def destroy(c, stage=None):
    """Destroy the stage's scratch app and leftovers of crashed deploys."""
    s = settings(c, stage)
    if is_dry(c):
        out(f"scratch: would destroy "
            f"{core_scratch.scratch_name(s.scratch_prefix, s.require_app())}")
        return
    by_hand(c, s, api(c, s), "scratch.destroy", close=("scratch.create",))


ns = Collection(create, destroy)
ns.configure(DEFAULTS)
