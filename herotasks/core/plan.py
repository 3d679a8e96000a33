"""Deciding what a deploy does: observed state in, an ordered list of steps out.

:func:`plan_deploy` is a pure function (no I/O), like invocations' ``_converge``:
``deploy.plan``, dry runs and the real deploy all print or execute the very
same :class:`Plan`, so what the user reads is what runs.

The flow is fixed, as capistrano's: the same named steps in the same order
for every deploy, each present or not. Which are present is decided from the
observed :class:`~herotasks.core.state.State` and the strategy's flags
(:mod:`herotasks.core.strategies`); what each step does, how it is undone
and how it is described come from the step catalogue
(:mod:`herotasks.core.steps`). The strategies share step names, so reports
compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from herotasks.core.config import Settings
from herotasks.core.state import State
from herotasks.core.steps import STEPS, Step
from herotasks.core.strategies import STRATEGIES, Strategy


@dataclass(frozen=True)
class Plan:
    """The ordered steps of one deploy, and the facts they were derived from."""

    state: State
    strategy: str
    steps: tuple[Step, ...]
    window: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rules(self) -> Strategy:
        """The strategy's record."""
        return STRATEGIES[self.strategy]

    def names(self) -> list[str]:
        """Step names in order (handy for tests and the journal)."""
        return [s.name for s in self.steps]

    def step(self, name: str) -> Step | None:
        """The step called ``name``, if the plan has it."""
        return next((s for s in self.steps if s.name == name), None)

    def describe(self) -> str:
        """Human summary for ``deploy.plan`` and ``--dry``: what and why."""
        st = self.state
        lines = [
            f"Deploy plan for {st.app}"
            + (f" (stage {st.stage})" if st.stage else "")
            + f", strategy {self.strategy}",
            f"  commits:     {_short(st.deployed_commit)} -> {_short(st.new_commit)}",
            f"  migrations:  {'pending' if st.pending.pending else 'none'}"
            f" ({st.pending.reason})",
        ]
        # each file's verdict: what decides between online and the window
        lines += [f"    {v.kind:7s} {v.path} ({v.reason})" for v in st.migrations]
        if st.assets_rebuild is None:
            lines.append("  assets:      no asset step configured")
        else:
            lines.append(
                f"  assets:      {'rebuilt' if st.assets_rebuild else 'reused'}"
                f" ({st.assets_reason})"
            )
        lines.append(f"  release phase: {'yes' if st.release_phase else 'no'}")
        lines.append(f"  window:      {_window_text(self)}")
        workers = ", ".join(f"{p.type}={p.quantity}:{p.size}" for p in st.workers)
        if self.window and self.step("workers.stop"):
            lines.append(f"  workers stop: {workers}")
        elif not self.window:
            lines.append("  workers stop: none")
        lines.append("  steps:")
        for i, step in enumerate(self.steps, 1):
            mark = "*" if step.in_window else " "
            lines.append(f"   {i:2d}.{mark} {step.name:18s} {step.description}")
        if any(s.in_window for s in self.steps):
            lines.append("  (* = inside the maintenance window)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def plan_deploy(state: State, settings: Settings) -> Plan:
    """Decide the deploy's steps from observed state (pure, no I/O).

    :param state: what :mod:`herotasks.core.observe` found.
    :param settings: the resolved settings (strategy, promote method, ...).
    """
    rules = STRATEGIES[settings.strategy]
    migrate = settings.migrate_command is not None
    # A pending migration opens the window even when the release phase runs it:
    # promotion then migrates, and old code must not serve meanwhile.
    online = migrate and rules.migrates_online and state.online
    window = rules.always_window or (migrate and state.pending.pending and not online)
    run_migrate = migrate and window and not state.release_phase
    # online: the new code's migrations run from the scratch app while the old
    # code serves (or in the release phase, before the release goes live)
    premigrate = online and not window and not state.release_phase
    stop_workers = window and rules.stops_workers and bool(state.workers)
    preboot_off = window and rules.preboot_off_in_window and state.preboot
    preboot_on = (not window and rules.preboot_without_window
                  and state.preboot_allowed and not state.preboot)
    maintenance = window and not state.maintenance
    build = rules.scratch_build
    # The check before the release: after the build, or after the online
    # migrations when they run from the scratch app, so the new code is
    # asked on its own schema. Otherwise (a window, or a release phase that
    # migrates) it runs before any window opens, on the schema as it is:
    # then it only boots the web process (core/health.py precheck_mode).
    precheck = build and rules.prechecks and settings.health.precheck
    notes: list[str] = []
    if online and state.release_phase:
        notes.append("the release phase runs the online migrations before the "
                     "release goes live, while the old code serves")
    if state.release_phase and window:
        notes.append("the release phase runs the migration during promotion; "
                     "herotasks does not migrate a second time")
    if window and state.maintenance:
        notes.append("maintenance is already on; it stays on afterwards")
    if (not window and rules.preboot_without_window and not state.preboot_allowed
            and not state.preboot):
        notes.append(f"no preboot ({state.space} is a Private Space: Heroku "
                     "deploys there rolling)" if state.space else
                     "no preboot (web dynos do not support it): the switch "
                     "restarts web dynos")
    # The fixed flow: (step, present in this deploy).
    flow: list[tuple[str, bool]] = [
        ("check", True),
        ("lock.acquire", True),
        ("assets.precompile", rules.precompiles
         and settings.assets_command is not None),
        ("scratch.create", build),
        ("slug.build", build),
        ("health.precheck", precheck and not premigrate),
        ("preboot.off", preboot_off),
        ("preboot.on", preboot_on),
        ("workers.stop", stop_workers),
        ("maintenance.on", maintenance),
        ("db.premigrate", premigrate),
        ("health.precheck", precheck and premigrate),
        (rules.promote_step, True),
        ("db.migrate", run_migrate),
        # Dynos booted by promotion ran before the schema changed; restart them
        # so nothing serves with stale schema caches.
        ("dynos.restart", run_migrate),
        ("dynos.wait", rules.waits_for_dynos),
        ("maintenance.off", maintenance),
        ("workers.restore", stop_workers),
        ("preboot.restore", preboot_off or preboot_on),
        ("health.check", rules.checks_health and settings.health.enabled),
        ("scratch.destroy", build),
        ("lock.release", True),
    ]
    steps = tuple(STEPS[name].planned(state, settings, window=window)
                  for name, present in flow if present)
    return Plan(state=state, strategy=settings.strategy, steps=steps,
                window=window, notes=tuple(notes))


def replan(plan: Plan, settings: Settings, facts: Mapping[str, Any]) -> Plan:
    """Re-decide once a step has learnt what the plan assumed.

    The Procfile at the commit usually tells whether there is a release phase
    before the build; the built slug's ``process_types`` are the platform's
    final word (``facts["release_phase"]``). Steps up to the build are
    identical in both plans, so the engine just continues with the new plan's
    remaining steps.
    """
    release_phase = bool(facts.get("release_phase", plan.state.release_phase))
    if release_phase == plan.state.release_phase:
        return plan
    return plan_deploy(replace(plan.state, release_phase=release_phase), settings)


# -- internals ----------------------------------------------------------------


def _window_text(plan: Plan) -> str:
    if not plan.window:
        st = plan.state
        if plan.step("db.premigrate") or (st.online and st.release_phase):
            return "none (online migrations while the old code serves, then preboot)"
        if plan.rules.preboot_without_window and (st.preboot or st.preboot_allowed):
            return "none (promote with preboot)"
        return "none"
    inside = [s.name for s in plan.steps if s.in_window]
    return "maintenance around " + ", ".join(inside)


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "(unknown)"
