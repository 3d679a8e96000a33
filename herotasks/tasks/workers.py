"""Workers: stop every non-web process type, and put back exactly what ran.

The formation (quantity and size per type) is recorded in the journal under
herotasks.statedir before anything scales, so a restore, even after a crash,
brings back what was there.
"""

from __future__ import annotations

from invoke import Collection

from herotasks.core.config import DEFAULTS
from herotasks.errors import HerotasksError, hint_command
from herotasks.tasks._support import Hand, step_task


def _not_stopped(hand: Hand) -> None:
    j = hand.journal
    if j and j.has_changed("workers.stop"):
        recorded = ", ".join(f"{p['type']}={p['quantity']}"
                             for p in j.facts.workers or [])
        raise HerotasksError(f"workers of {hand.app} are already stopped "
                             f"(recorded: {recorded or 'none'})",
                             f"run `{hint_command('workers.restore')}` first")


def _stopped(hand: Hand) -> None:
    if hand.journal is None or not hand.journal.has_changed("workers.stop"):
        raise HerotasksError(f"no recorded formation for {hand.app}",
                             "workers.stop records one; nothing to restore")


stop = step_task("workers.stop", "Record the formation, then scale every non-web "
                 "process type to zero.", prepare=_not_stopped)
restore = step_task("workers.restore", "Scale the stopped process types back to "
                    "the recorded quantities and sizes.", prepare=_stopped)

ns = Collection(stop, restore)
ns.configure(DEFAULTS)
