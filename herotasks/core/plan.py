"""Deciding what a deploy does: observed state in, an ordered list of steps out.

:func:`plan_deploy` is a pure function (no I/O), like invocations' ``_converge``:
``deploy.plan``, dry runs and the real deploy all print or execute the very
same :class:`Plan`, so what the user reads is what runs.

The three strategies (``--strategy``) share step names so reports compare like
with like:

* ``herotasks``: build the slug on a scratch app outside any window; open a
  window (preboot off, workers stopped, maintenance on) only when migrations are
  pending, and then keep only promote, migrate and the restart inside it;
  otherwise promote with preboot and no window at all.
* ``conditional``: push straight to the app (Heroku builds there), with the
  window and stopped workers only when migrations are pending.
* ``naive``: maintenance on, push, migrate, restart, maintenance off, always.
  This is what paratrooper and hyperoslo's heroku-deploy do; it does not wait
  for dynos either, as they do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from herotasks.core.config import Settings

#: Dyno sizes on which Heroku's preboot does nothing (preboot needs Standard
#: or Performance dynos); lower-cased for comparison.
NO_PREBOOT_SIZES = frozenset({"free", "hobby", "eco", "basic"})


@dataclass(frozen=True)
class Process:
    """One formation entry, as recorded before workers stop."""

    type: str
    quantity: int
    size: str


@dataclass(frozen=True)
class Pending:
    """Whether migrations are pending, and why we think so."""

    pending: bool
    reason: str
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class State:
    """What herotasks observed before deciding anything.

    :param deployed_commit: source commit of the app's current release, or
        None when unknown (first deploy, or a release herotasks cannot trace).
    :param release_phase: the new commit's Procfile declares ``release:``.
    :param preboot: preboot is enabled now.
    :param preboot_allowed: preboot would have an effect (web runs on dynos
        that support it).
    :param assets_rebuild: the asset command will run (None: the app has no
        asset step).
    :param maintenance: maintenance mode is on now (left as found afterwards).
    """

    app: str
    stage: str | None
    new_commit: str
    deployed_commit: str | None
    pending: Pending
    release_phase: bool = False
    preboot: bool = False
    preboot_allowed: bool = False
    formation: tuple[Process, ...] = ()
    maintenance: bool = False
    assets_rebuild: bool | None = None
    assets_reason: str = ""
    current_release: str | None = None
    current_version: int | None = None

    @property
    def workers(self) -> tuple[Process, ...]:
        """The non-web processes that are running and would stop in a window."""
        return tuple(p for p in self.formation if p.type != "web" and p.quantity > 0)


@dataclass(frozen=True)
class Step:
    """One named, timed unit of a deploy.

    :param name: the step's name; also the hook name and the report's name.
    :param description: what it does, with this deploy's particulars.
    :param in_window: runs while the site is in maintenance (counted in the
        window the user pays for).
    :param changes: changes state on Heroku or in git refs, so the journal
        records it (with ``undo``) before it runs.
    :param undo: how the journal's recovery undoes it; empty when nothing to undo.
    """

    name: str
    description: str
    in_window: bool = False
    changes: bool = True
    undo: str = ""


@dataclass(frozen=True)
class Plan:
    """The ordered steps of one deploy, and the facts they were derived from."""

    state: State
    strategy: str
    steps: tuple[Step, ...]
    window: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

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
    strategy = settings.strategy
    migrate = settings.migrate_command is not None
    # A pending migration opens the window even when the release phase runs it:
    # promotion then migrates, and old code must not serve meanwhile.
    needs_window = migrate and state.pending.pending
    if strategy == "naive":
        needs_window = True
    notes: list[str] = []
    steps: list[Step] = [
        Step("check", "auth, app, ref, clean tree, Procfile", changes=False),
        Step("lock.acquire", f"take the deploy lock of {state.app}",
             undo="release the lock"),
    ]
    # Only herotasks compiles assets locally: naive and conditional push the
    # source as the tools they stand for do, and Heroku's build compiles the
    # assets (inside the window when there is one: that is what they cost).
    if settings.assets_command is not None and strategy == "herotasks":
        steps.append(Step(
            "assets.precompile",
            ("compile assets in a temporary worktree" if state.assets_rebuild
             else "reuse the last compiled assets") + ", make the deploy commit",
            undo="nothing (refs under refs/herotasks only)",
        ))

    if strategy == "herotasks":
        steps += [
            Step("scratch.create", "scratch app with the target's stack and "
                 "buildpacks, formation at zero", undo="destroy the scratch app"),
            Step("slug.build", "push the deploy commit to the scratch app, "
                 "record the slug", undo="nothing (the scratch app goes)"),
        ]
    window_steps, before, after = _window_steps(state, settings, needs_window, notes)
    steps += before + window_steps + after
    if strategy == "herotasks":
        steps.append(Step("scratch.destroy", "destroy the scratch app and "
                          "leftovers of earlier runs", undo="nothing"))
    steps.append(Step("lock.release", "release the deploy lock", undo="nothing"))
    return Plan(state=state, strategy=strategy, steps=tuple(steps),
                window=needs_window, notes=tuple(notes))


def replan_after_build(plan: Plan, settings: Settings, release_phase: bool) -> Plan:
    """Re-decide once the built slug says whether it has a release phase.

    The Procfile at the commit usually tells us before the build; the slug's
    ``process_types`` are the platform's final word. Steps up to the build
    are identical in both plans, so the engine just continues with the new
    plan's remaining steps.
    """
    if release_phase == plan.state.release_phase:
        return plan
    return plan_deploy(replace(plan.state, release_phase=release_phase), settings)


# -- internals ----------------------------------------------------------------


def _window_steps(
    state: State, settings: Settings, window: bool, notes: list[str]
) -> tuple[list[Step], list[Step], list[Step]]:
    """The promote/migrate core, and what wraps it: (inside, before, after)."""
    strategy = settings.strategy
    run_migrate = (settings.migrate_command is not None and window
                   and not state.release_phase)
    if state.release_phase and window:
        notes.append("the release phase runs the migration during promotion; "
                     "herotasks does not migrate a second time")
    promote = _promote_step(state, settings, in_window=window)
    inside = [promote]
    if run_migrate:
        inside.append(Step("db.migrate", f"one-off dyno: {settings.migrate_command}",
                           in_window=window,
                           undo="roll back to the previous release"))
        # Dynos booted by promotion ran before the schema changed; restart them
        # so nothing serves with stale schema caches.
        inside.append(Step("dynos.restart", "restart the new release's dynos",
                           in_window=window, undo="nothing (a restart is harmless)"))
    if strategy == "herotasks":
        # naive/conditional copy the prior tools, which do not wait either;
        # the benchmark's load generator then shows what that costs.
        inside.append(Step("dynos.wait", "wait until the new release's dynos "
                           "are up", in_window=window, changes=False))
    before: list[Step] = []
    after: list[Step] = []
    if window:
        if strategy != "naive" and state.preboot:
            before.append(Step("preboot.off", "turn preboot off (old and new "
                               "code must not overlap a migration)",
                               undo="turn preboot back on"))
        if strategy != "naive" and state.workers:
            before.append(Step("workers.stop", "scale " + ", ".join(
                f"{p.type}={p.quantity}" for p in state.workers) + " to zero",
                undo="scale them back exactly"))
        if state.maintenance:
            notes.append("maintenance is already on; it stays on afterwards")
        else:
            before.append(Step("maintenance.on", "maintenance mode on",
                               undo="maintenance mode off"))
            after.append(Step("maintenance.off", "maintenance mode off",
                              undo="nothing"))
        if strategy != "naive" and state.workers:
            after.append(Step("workers.restore", "put back the recorded formation",
                              undo="nothing"))
        if strategy != "naive" and state.preboot:
            after.append(Step("preboot.restore", "turn preboot back on",
                              undo="nothing"))
    elif strategy == "herotasks":
        if state.preboot_allowed and not state.preboot:
            before.append(Step("preboot.on", "turn preboot on for a "
                               "zero-downtime switch", undo="turn preboot off"))
            after.append(Step("preboot.restore", "turn preboot back off",
                              undo="nothing"))
        elif not state.preboot_allowed and not state.preboot:
            notes.append("no preboot (web dynos do not support it): the switch "
                         "restarts web dynos")
    return inside, before, after


def _promote_step(state: State, settings: Settings, in_window: bool) -> Step:
    if settings.strategy in ("naive", "conditional"):
        return Step("app.push", f"git push the commit to {state.app} "
                    "(Heroku builds and releases there)", in_window=in_window,
                    undo="roll back to the previous release")
    how = ("pipeline promotion" if settings.promote_method == "pipeline"
           else "releasing the slug id")
    extra = ", release phase runs" if state.release_phase else ""
    return Step("slug.promote", f"{how} on {state.app}, wait for the release"
                + extra, in_window=in_window,
                undo="roll back to the previous release")


def _window_text(plan: Plan) -> str:
    if not plan.window:
        st = plan.state
        if plan.strategy == "herotasks" and (st.preboot or st.preboot_allowed):
            return "none (promote with preboot)"
        return "none"
    inside = [s.name for s in plan.steps if s.in_window]
    return "maintenance around " + ", ".join(inside)


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "(unknown)"


def formation_from_api(items: Iterable[dict]) -> tuple[Process, ...]:
    """Formation list as the API returns it -> :class:`Process` tuples."""
    out = []
    for item in items:
        size = item.get("size") or (item.get("dyno_size") or {}).get("name") or ""
        out.append(Process(str(item["type"]), int(item.get("quantity") or 0),
                           str(size)))
    return tuple(sorted(out, key=lambda p: p.type))


def preboot_allowed(formation: Iterable[Process]) -> bool:
    """Preboot helps only with web dynos on Standard/Performance sizes."""
    web = [p for p in formation if p.type == "web"]
    return bool(web) and all(p.size.lower() not in NO_PREBOOT_SIZES and p.size
                             for p in web)
