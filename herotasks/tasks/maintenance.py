"""Maintenance mode of the stage's app."""

from __future__ import annotations

from invoke import Collection

from herotasks.core.config import DEFAULTS
from herotasks.tasks._support import Hand, step_task


def _as_found(hand: Hand) -> dict:
    return {"maintenance_was": bool(hand.api.app(hand.app).get("maintenance"))}


on = step_task("maintenance.on", "Turn maintenance mode on (recorded, so "
               "deploy.recover can turn it off).", prepare=_as_found)
off = step_task("maintenance.off", "Turn maintenance mode off (back to how "
                "maintenance.on found it).")

ns = Collection(on, off)
ns.configure(DEFAULTS)
