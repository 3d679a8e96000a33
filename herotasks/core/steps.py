"""The step catalogue: every step a deploy can contain, one record each.

A record says everything about a step that does not depend on one deploy:
its action, whether it is journaled and how its change is undone, which
earlier changes it closes, which window it opens or closes, whether it runs
inside the maintenance window when a deploy takes one, whether it belongs to
putting the new code live (past the last such step there is no rollback),
and the description ``deploy.plan`` prints. The planner places steps, the
engine runs them, hooks are validated against them, the hand-run tasks are
made from them, and recovery reads them: adding a step is one record here plus
its place in :func:`herotasks.core.plan.plan_deploy`.

Undo kinds (:data:`UNDOS`) are the other half: the journal stores an undo's
kind and data before the change; recovery and the engine's unwinding look
the kind up here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from herotasks.core import actions as act
from herotasks.core.classify import gap
from herotasks.core.config import Settings
from herotasks.core.health import precheck_asks
from herotasks.core.run import Run
from herotasks.core.state import State
from herotasks.core.strategies import STRATEGIES
from herotasks.errors import ConfigError

Describe = Callable[[State, Settings], str]


@dataclass(frozen=True)
class Step:
    """One step as a plan places it: the catalogue's name, this deploy's
    description, and whether this deploy runs it inside its window."""

    name: str
    description: str = ""
    in_window: bool = False

    @property
    def spec(self) -> "StepSpec":
        """The catalogue record."""
        return STEPS[self.name]


@dataclass(frozen=True)
class StepSpec:
    """One step of the catalogue.

    :param describe: what the step does, with the deploy's particulars (the
        line ``deploy.plan`` prints, and a hand-run task's ``--dry`` line).
    :param action: does the work; returns facts for the journal.
    :param undone_by: the undo policy in words (``"nothing"`` when there is
        nothing to put back, and why).
    :param journaled: the journal records the step *before* it runs, so a
        crash inside it is seen by ``deploy.recover``.
    :param undo: the undo kind (:data:`UNDOS`) recorded with it, if any.
    :param undo_data: what that undo needs, read before the change.
    :param closes: earlier steps whose change this one puts back or makes
        permanent (their journal entries close when it succeeds).
    :param kept_with_lock: the journal is kept with the lock before it
        (``publishes``); False for a change that cannot outlive this process
        (a dyno held through our connection dies with it) and whose undo is
        also done by an earlier, published one (the scratch app's).
    :param closes_quietly: earlier steps whose entries close when this one
        succeeds with no copy kept with the lock first: their undo is
        harmless to repeat (stopping a dyno that is gone), so a copy that
        still shows them open costs nothing, and the window no request.
    :param opens_window: report window opened just before the action (or,
        with ``opens_after``, once it has returned).
    :param opens_after: the window opens when the action is done, not when
        it starts: scaling workers to zero is asked at once, but they are
        down only once the action has seen the last one exit.
    :param closes_window: report window closed just after it.
    :param in_window: inside the maintenance window when the deploy has one.
    :param goes_live: part of putting the new code live; once the last such
        step of a plan is done, the promotion is past the point of no return.
    :param promotes: puts a new release on the app (rolled back on failure).
    :param replans: the plan is decided again after it (the built slug is the
        platform's last word on whether there is a release phase).
    :param final_by_hand: run by hand, its change is deliberate and is never
        rolled back by recovery (a promotion a person asked for).
    :param settle: the step's change request got no answer: find out whether
        it took effect (its facts), did not (None), or cannot be told yet
        (raises :class:`~herotasks.errors.OutcomeUnknown`). A ``goes_live``
        step without one stops the deploy as it is when its outcome is
        unknown: nothing is undone under a release or migration that may be
        running.
    :param cleanup: once the new release is live for good, failing here is a
        named leftover, not a failed deploy.
    :param retried: after a successful migration, a failure here is tried
        again before the deploy gives up (not for a check: it already waited).
    """

    name: str
    describe: Describe
    action: act.Action
    undone_by: str
    journaled: bool = True
    undo: str | None = None
    undo_data: act.UndoData | None = None
    closes: tuple[str, ...] = ()
    closes_quietly: tuple[str, ...] = ()
    kept_with_lock: bool = True
    opens_window: str | None = None
    opens_after: bool = False
    closes_window: str | None = None
    in_window: bool = False
    goes_live: bool = False
    promotes: bool = False
    replans: bool = False
    final_by_hand: bool = False
    settle: act.Action | None = None
    cleanup: bool = False
    retried: bool = True

    def begin_undo(self, run: Run) -> dict | None:
        """The journal's undo entry for this step in ``run`` (None: none)."""
        if self.undo is None:
            return None
        return {"action": self.undo, **(self.undo_data(run) if self.undo_data else {})}

    def planned(self, state: State, settings: Settings, *, window: bool) -> Step:
        """This step as a plan places it (in the window if the deploy has one)."""
        return Step(self.name, self.describe(state, settings),
                    in_window=window and self.in_window)

    @property
    def publishes(self) -> bool:
        """The journal is kept with the lock before this step changes
        anything (a change to put back, or one that puts another back), so
        recovery from any machine sees it."""
        return ((self.undo is not None or bool(self.closes)) and not self.cleanup
                and self.kept_with_lock)

    @property
    def ends_hand_sequence(self) -> bool:
        """Run by hand, an empty journal is finished with after it."""
        return bool(self.closes) or self.final_by_hand


@dataclass(frozen=True)
class UndoSpec:
    """One undo kind, as the journal names it.

    :param step: the name the undo runs under in the report.
    :param held: what stays in place when the rollback failed (the app then
        runs code whose migration failed, so the window must stay).
    :param guards: when this undo fails, every ``held`` change is kept.
    """

    kind: str
    step: str
    apply: Callable[[Run, dict], str]
    held: str | None = None
    closes_window: str | None = None
    guards: bool = False


def _fixed(text: str) -> Describe:
    return lambda state, settings: text


def _promote_text(state: State, settings: Settings) -> str:
    how = ("pipeline promotion" if settings.promote_method == "pipeline"
           else "releasing the slug id")
    extra = ", release phase runs" if state.release_phase else ""
    return f"{how} on {state.app}, wait for the release{extra}"


def _workers_text(state: State, settings: Settings) -> str:
    return ("scale " + (", ".join(f"{p.type}={p.quantity}" for p in state.workers)
                        or "no worker") + " to zero, wait until their dynos "
            f"have exited (at most {settings.timeouts.stop:g}s)")


def _health_text(state: State, settings: Settings) -> str:
    h = settings.health
    text = f"watch the new release's dynos for {h.watch:g}s"
    if h.path:
        text += f", GET {h.path} must answer {h.status} within {h.timeout:g}s"
    return text + "; roll back if not"


def _precheck_text(state: State, settings: Settings) -> str:
    h = settings.health
    rules = STRATEGIES[settings.strategy]
    # as the plan places it: asked after the online migrations, or with
    # nothing to migrate; else only booted (core.health.precheck_asks)
    pending = settings.migrate_command is not None and state.pending.pending
    premigrated = (pending and state.online and rules.migrates_online
                   and not rules.always_window and not state.release_phase)
    text = ("one-off dyno of the new slug (scratch app, the app's config): boot "
            f"the web process, it must bind $PORT within {settings.timeouts.boot:g}s")
    if precheck_asks(pending=pending, premigrated=premigrated):
        text += (f", GET {h.path} must answer {h.status}" if h.path
                 else ", GET / must answer below 500") + f" within {h.timeout:g}s"
        if h.smoke:
            text += f", then `{h.smoke}`"
    else:
        text += " (the schema is migrated after the release: boot only)"
    if state.release_phase:
        # a one-off runs the current release, which a failed one never is
        text = ("if the release phase succeeded on the scratch app (else not run): "
                + text)
    return text + "; stop before the release if not"


def _migrate_text(state: State, settings: Settings) -> str:
    rules = STRATEGIES[settings.strategy]
    if rules.scratch_build and not state.release_phase:  # as the plan places it
        return (f"tell the held dyno (db.prestart) to go: {settings.migrate_command}")
    return f"one-off dyno: {settings.migrate_command}"


ROLLBACK = "roll back to the previous release"

STEPS: dict[str, StepSpec] = {s.name: s for s in (
    StepSpec("lock.acquire", lambda st, _: f"take the deploy lock of {st.app}",
             act.lock_acquire, "release the lock", undo="lock.release",
             undo_data=act.lock_undo),
    StepSpec("assets.precompile",
             lambda st, _: ("compile assets in a temporary worktree"
                            if st.assets_rebuild else "reuse the last compiled "
                            "assets") + ", make the deploy commit",
             act.assets_precompile, "nothing (refs under refs/herotasks only)",
             journaled=False),
    StepSpec("scratch.create", _fixed("scratch app with the target's stack and "
                                      "buildpacks, formation at zero"),
             act.scratch_create, "destroy the scratch app", undo="scratch.destroy"),
    StepSpec("slug.build", _fixed("push the deploy commit to the scratch app, "
                                  "record the slug"),
             act.slug_build, "nothing (the scratch app goes)", journaled=False,
             replans=True),
    StepSpec("health.precheck", _precheck_text, act.health_precheck,
             "nothing (a one-off dyno on the scratch app; nothing is released "
             "until it passes)", journaled=False, retried=False),
    StepSpec("db.prestart",
             lambda _, s: "one-off dyno of the new slug (scratch app, the app's "
             f"config): boot it for `{s.migrate_command}` (within "
             f"{s.timeouts.boot:g}s), then hold it until the window is open; "
             "it migrates only when told to (herotasks gone: it exits)",
             act.db_prestart, "stop the dyno (it has not migrated)",
             undo="dyno.stop", undo_data=act.prestart_undo, retried=False,
             kept_with_lock=False),
    StepSpec("preboot.off", _fixed("turn preboot off (old and new code must not "
                                   "overlap a migration)"),
             act.set_preboot(False), "turn preboot back on", undo="preboot",
             undo_data=act.preboot_undo(False)),
    StepSpec("preboot.on", _fixed("turn preboot on for a zero-downtime switch"),
             act.set_preboot(True), "turn preboot off", undo="preboot",
             undo_data=act.preboot_undo(True)),
    StepSpec("workers.stop", _workers_text, act.workers_stop,
             "scale them back exactly", undo="formation",
             undo_data=act.workers_undo, opens_window="workers_down",
             opens_after=True),
    StepSpec("maintenance.on", _fixed("maintenance mode on"), act.maintenance_on,
             "maintenance mode off", undo="maintenance",
             undo_data=act.maintenance_undo, opens_window="maintenance"),
    StepSpec("db.premigrate",
             lambda _, s: f"one-off dyno of the new slug (scratch app, the app's "
             f"config): {s.migrate_command}, while the old code serves",
             act.db_premigrate, "nothing (online migrations are backward "
             "compatible: the old code runs on the new schema)",
             settle=act.cannot_tell),
    StepSpec("db.expand",
             lambda st, _: "one-off dyno (scratch app, the app's config): psql on "
             "DATABASE_URL makes " + ", ".join(st.gap) + " nullable (ALTER TABLE "
             "... ALTER COLUMN ... DROP NOT NULL; lock_timeout "
             f"{gap.LOCK_TIMEOUT}), while the old code serves: the contract drops "
             "them after the release",
             act.db_expand, "nothing (kept, harmless: the old code writes the "
             "columns as before, and the contract drops them; NOT NULL could be "
             "put back only while no NULL was written)"),
    StepSpec("slug.promote", _promote_text, act.slug_promote, ROLLBACK,
             undo="rollback", undo_data=act.promote_undo, in_window=True,
             goes_live=True, promotes=True, final_by_hand=True,
             settle=act.settle_promote),
    StepSpec("app.push", lambda st, _: f"git push the commit to {st.app} "
             "(Heroku builds and releases there)", act.app_push, ROLLBACK,
             undo="rollback", undo_data=act.promote_undo, in_window=True,
             goes_live=True, promotes=True),
    StepSpec("db.migrate", _migrate_text, act.db_migrate,
             ROLLBACK + " (the promotion's undo)", in_window=True, goes_live=True,
             closes_quietly=("db.prestart",)),
    StepSpec("dynos.restart", _fixed("restart the new release's dynos, unless the "
                                     "migration's dyno saw none connect to the "
                                     "database before it ended"),
             act.dynos_restart, "nothing (a restart is harmless)", in_window=True,
             goes_live=True),
    StepSpec("dynos.wait", _fixed("wait until the new release's dynos are up"),
             act.dynos_wait, "nothing (reads only)", journaled=False,
             in_window=True, goes_live=True),
    StepSpec("maintenance.off", _fixed("maintenance mode off"), act.maintenance_off,
             "nothing (it is the undo)", closes=("maintenance.on",),
             closes_window="maintenance"),
    StepSpec("workers.restore", _fixed("put back the recorded formation"),
             act.workers_restore, "nothing (it is the undo)",
             closes=("workers.stop",), closes_window="workers_down"),
    StepSpec("preboot.restore",
             lambda st, _: "turn preboot back " + ("on" if st.preboot else "off"),
             act.preboot_restore, "nothing (it is the undo)",
             closes=("preboot.off", "preboot.on")),
    StepSpec("health.check", _health_text, act.health_check,
             "nothing (reads only); failing rolls back when no window-class "
             "migration lies between", journaled=False, goes_live=True,
             retried=False),
    StepSpec("db.postmigrate",
             lambda st, s: "once preboot's switch is done and no dyno of "
             f"v{st.current_version} is left: one-off dyno of the new release: "
             f"{s.migrate_command} (contract: "
             + ", ".join(v.path for v in st.contract) + "), workers running",
             act.db_postmigrate, "nothing (a contract is not undone: what it "
             "dropped is gone, and rolling back to a release that used it is "
             "refused)", settle=act.cannot_tell),
    StepSpec("scratch.destroy", _fixed("destroy the scratch app and leftovers of "
                                       "earlier runs"),
             act.scratch_destroy, "nothing (it is the undo)",
             closes=("scratch.create",), cleanup=True),
    StepSpec("lock.release", _fixed("release the deploy lock"), act.lock_release,
             "nothing (it is the undo)", closes=("lock.acquire",), cleanup=True),
)}

UNDOS: dict[str, UndoSpec] = {u.kind: u for u in (
    UndoSpec("rollback", "slug.rollback", act.undo_rollback, guards=True),
    UndoSpec("maintenance", "maintenance.off", act.undo_maintenance,
             held="maintenance stays ON", closes_window="maintenance"),
    UndoSpec("formation", "workers.restore", act.undo_formation,
             held="workers stay stopped", closes_window="workers_down"),
    UndoSpec("preboot", "preboot.restore", act.undo_preboot),
    UndoSpec("dyno.stop", "db.prestart.stop", act.undo_dyno_stop),
    UndoSpec("scratch.destroy", "scratch.destroy", act.undo_scratch),
    UndoSpec("lock.release", "lock.release", act.undo_lock,
             held="the deploy lock stays held"),
)}

#: Every step name, in catalogue order.
STEP_NAMES: tuple[str, ...] = tuple(STEPS)
#: The check: the observation (core.observe) that the plan is made from, so
#: not a step of the plan. It changes nothing, is journaled nowhere and has
#: no undo; the report times it, and hooks may run around it.
CHECK = "check"
#: Where hooks may attach: the check, then every step.
HOOK_POINTS: tuple[str, ...] = (CHECK, *STEP_NAMES)
#: The steps that put a new release on the app.
PROMOTE_STEPS: tuple[str, ...] = tuple(n for n, s in STEPS.items() if s.promotes)


def check_hooks(settings: Settings) -> Settings:
    """``settings`` once each hook names a step of this catalogue.

    Where settings meet the catalogue (the tasks' settings, the tests'), so
    that the settings module needs no catalogue (which needs the actions,
    which need the settings).

    :raises ConfigError: one line naming the unknown step and the known ones.
    """
    for when, hooks in (("before", settings.hooks_before), ("after", settings.hooks_after)):
        for step in hooks:
            if step not in HOOK_POINTS:
                raise ConfigError(f"herotasks.hooks.{when} names unknown step {step!r}",
                                  f"steps are: {', '.join(HOOK_POINTS)}")
    return settings
