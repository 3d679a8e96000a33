"""Workers: stop every non-web process type, and put back exactly what ran.

The formation (quantity and size per type) is recorded in the journal under
herotasks.statedir before anything scales, so a restore, even after a crash,
brings back what was there.
"""

from __future__ import annotations

from invoke import Collection, task

from herotasks.core import dynos
from herotasks.core.config import DEFAULTS
from herotasks.errors import HerotasksError
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


@task(help={"stage": STAGE_HELP})
@boundary
def stop(c, stage=None):
    """Record the formation, then scale every non-web process type to zero."""
    s = settings(c, stage)
    journal = hand_journal(s)
    if journal and journal.status("workers.stop") in ("started", "done", "failed"):
        recorded = ", ".join(f"{p['type']}={p['quantity']}"
                             for p in journal.facts.get("workers") or [])
        raise HerotasksError(f"workers of {s.app} are already stopped "
                             f"(recorded: {recorded or 'none'})",
                             "run workers.restore first")
    client = api(c, s)
    if is_dry(c):
        running = dynos.workers(client, s.require_app())
        out("workers: would stop " + (", ".join(f"{p.type}={p.quantity}"
                                                 for p in running) or "nothing"))
        return
    by_hand(c, s, client, "workers.stop")


@task(help={"stage": STAGE_HELP})
@boundary
def restore(c, stage=None):
    """Scale the stopped process types back to the recorded quantities and sizes."""
    s = settings(c, stage)
    journal = hand_journal(s)
    if journal is None or journal.status("workers.stop") not in ("started", "done",
                                                                 "failed"):
        raise HerotasksError(f"no recorded formation for {s.app}",
                             "workers.stop records one; nothing to restore")
    if is_dry(c):
        out(f"workers: would restore {journal.facts.get('workers')}")
        return
    if "workers" not in journal.facts:  # stop crashed before recording its result
        journal.facts["workers"] = journal.last("workers.stop").undo.get("processes")
    by_hand(c, s, api(c, s), "workers.restore")


ns = Collection(stop, restore)
ns.configure(DEFAULTS)
