"""Scratch app: where the slug is built (config: herotasks.scratch).

Named after its target, so it is reused; it gets the target's stack and
buildpacks, only allow-listed config vars, and a formation of zero.
"""

from __future__ import annotations

from invoke import Collection

from herotasks.core.config import DEFAULTS
from herotasks.tasks._support import step_task

create = step_task("scratch.create", "Create (or reuse) the stage's scratch app.")
destroy = step_task("scratch.destroy", "Destroy the stage's scratch app and "
                    "leftovers of crashed deploys.")

ns = Collection(create, destroy)
ns.configure(DEFAULTS)
