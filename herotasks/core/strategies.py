"""Deploy strategies as data: one frozen record each, read by the planner.

The planner (:mod:`herotasks.core.plan`) never compares strategy names; it
reads these flags. A new strategy is one more record in :data:`STRATEGIES`.

* ``herotasks``: build the slug on a scratch app outside any window; open a
  window (preboot off, workers stopped, maintenance on) only when migrations
  are pending, and keep only promote, migrate and the restart inside it;
  otherwise promote with preboot and no window at all.
* ``conditional``: push straight to the app (Heroku builds there), with the
  window and stopped workers only when migrations are pending.
* ``naive``: maintenance on, push, migrate, restart, maintenance off, always.
  This is what paratrooper and hyperoslo's heroku-deploy do; it does not wait
  for dynos either, as they do not.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Strategy:
    """How one strategy deploys.

    :param precompiles: compile assets locally into a deploy commit (the others
        push the source and let Heroku's build compile them, inside the window
        when there is one: that is what they cost).
    :param scratch_build: build the slug on a scratch app and promote it
        (``herotasks.promote.method``); otherwise ``git push`` to the app.
    :param always_window: take the maintenance window even without migrations.
    :param stops_workers: scale non-web processes to zero for the window.
    :param preboot_off_in_window: turn preboot off for the window (old and new
        code must not overlap a migration).
    :param preboot_without_window: turn preboot on for a deploy without window.
    :param waits_for_dynos: wait until the new release's dynos are up.
    :param migrates_online: run backward-compatible migrations while the old
        code serves (herotasks.core.classify), with no window.
    :param migrates_after: run contract migrations (``after``: they only
        remove what the new code no longer uses) once the new release is
        live and no dyno of the old one is left, with no window.
    :param checks_health: check the new release after it went live
        (``herotasks.health``) and roll back when that is safe.
    :param prechecks: boot the built slug's web process in a one-off dyno on
        the scratch app and ask it before releasing (``health.precheck``);
        needs ``scratch_build`` (a git push builds and releases in one go).
    """

    name: str
    summary: str
    precompiles: bool
    scratch_build: bool
    always_window: bool
    stops_workers: bool
    preboot_off_in_window: bool
    preboot_without_window: bool
    waits_for_dynos: bool
    checks_health: bool = False
    migrates_online: bool = False
    migrates_after: bool = False
    prechecks: bool = False

    @property
    def promote_step(self) -> str:
        """The step that puts the new code on the app."""
        return "slug.promote" if self.scratch_build else "app.push"


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("herotasks", "scratch-app build, a window only for migrations",
             precompiles=True, scratch_build=True, always_window=False,
             stops_workers=True, preboot_off_in_window=True,
             preboot_without_window=True, waits_for_dynos=True,
             checks_health=True, migrates_online=True, migrates_after=True,
             prechecks=True),
    Strategy("conditional", "git push to the app, a window only for migrations",
             precompiles=False, scratch_build=False, always_window=False,
             stops_workers=True, preboot_off_in_window=True,
             preboot_without_window=False, waits_for_dynos=False),
    Strategy("naive", "maintenance on, push, migrate, restart, maintenance off",
             precompiles=False, scratch_build=False, always_window=True,
             stops_workers=False, preboot_off_in_window=False,
             preboot_without_window=False, waits_for_dynos=False),
)}


def listed(default: str) -> str:
    """The strategies as the docs and ``--help`` list them, the default marked."""
    return " | ".join(f"{name} (default)" if name == default else name for name in STRATEGIES)
