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
from typing import Any

from herotasks.core.classify import gap, recipe
from herotasks.core.config import Settings
from herotasks.core.facts import Facts
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
        for verdict in st.migrations:
            lines += _verdict_lines(verdict)
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
        lines += [f"  warning: {w}" for w in st.warnings]
        return "\n".join(lines)


#: statements shown per file; the rest are counted
_SHOWN = 12


def _verdict_lines(verdict: Any) -> list[str]:
    """A file's verdict, how it was read, and its statements, the one that
    decided marked ``>``."""
    lines = [f"    {verdict.kind:7s} {verdict.path} ({verdict.reason})"]
    read = getattr(verdict, "read", "")
    findings = getattr(verdict, "findings", ())
    if read:
        lines.append(f"            read: {read}")
    decided = getattr(verdict, "decided_by", None)
    for finding in findings[:_SHOWN]:
        mark = ">" if finding is decided else " "
        where = f"line {finding.line}" if finding.line else ""
        why = f" ({finding.why})" if finding.why else ""
        lines.append(f"          {mark} {where:10s} {finding.kind:7s} "
                     f"{finding.what}{why}")
    if len(findings) > _SHOWN:
        lines.append(f"            ... {len(findings) - _SHOWN} more")
        if decided is not None and decided not in findings[:_SHOWN]:
            lines.append(f"          > line {decided.line:<5d} {decided.kind:7s} "
                         f"{decided.what} ({decided.why})")
    if getattr(verdict, "kind", "") == "window":
        lines += recipe.lines(verdict)
    return lines


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
    # contract: files that only remove what the new code no longer uses run
    # once the old release is gone, unless something makes that unsafe
    contract = migrate and rules.migrates_after and bool(state.contract)
    blockers = contract_blockers(state, settings) if contract else []
    after = contract and not blockers
    # the gap between release and contract made safe first: the dropped
    # columns that may be NOT NULL made nullable while the old code serves
    expand = after and bool(state.gap)
    window = rules.always_window or (migrate and state.pending.pending
                                     and not online and not after)
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
    postmigrate = after and not window
    # The window's migration, started (and the app booted in it) before the
    # window, from the scratch app, which has the new code: the target runs
    # the old until the promotion, inside the window.
    prestart = run_migrate and build
    notes: list[str] = [f"window: {why}" for why in blockers]
    if expand and not window:
        notes.append("expand before the release: " + ", ".join(state.gap)
                     + " made nullable (ALTER TABLE ... ALTER COLUMN ... DROP NOT "
                     "NULL: a brief lock, no table rewrite) while the old code "
                     "serves, so the new code's INSERTs, which leave them out, work "
                     "until the contract drops them; kept if the deploy fails "
                     "(harmless: the old code writes them as before)")
    if postmigrate:
        notes.append("contract migrations run after the release, once no dyno of "
                      f"v{state.current_version} is left: rolling back past them "
                      "is refused afterwards (the old code used what they drop)")
    if precheck and state.release_phase:
        # Heroku runs one-offs on the current release, and a release whose
        # release phase failed never becomes it (actions._scratch_runs_other_code)
        notes.append("the check before the release runs only if the release phase "
                     "succeeds on the scratch app (which has no database): a one-off "
                     "dyno runs the app's current release, and a failed release "
                     "never becomes it; otherwise it is not run, and the watch "
                     "after the release still is")
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
        ("lock.acquire", True),
        ("assets.precompile", rules.precompiles
         and settings.assets_command is not None),
        ("scratch.create", build),
        ("slug.build", build),
        ("health.precheck", precheck and not premigrate),
        ("db.prestart", prestart),
        ("preboot.off", preboot_off),
        ("preboot.on", preboot_on),
        ("workers.stop", stop_workers),
        ("maintenance.on", maintenance),
        ("db.premigrate", premigrate),
        ("health.precheck", precheck and premigrate),
        ("db.expand", expand and not window),
        (rules.promote_step, True),
        ("db.migrate", run_migrate),
        # Dynos booted by promotion ran before the schema changed; restart them
        # so nothing serves with stale schema caches. The action skips it when
        # the migration's dyno counted none of them connected (issue 18).
        ("dynos.restart", run_migrate),
        ("dynos.wait", rules.waits_for_dynos),
        ("maintenance.off", maintenance),
        ("workers.restore", stop_workers),
        ("preboot.restore", preboot_off or preboot_on),
        ("health.check", rules.checks_health and settings.health.enabled),
        ("db.postmigrate", postmigrate),
        ("scratch.destroy", build),
        ("lock.release", True),
    ]
    steps = tuple(STEPS[name].planned(state, settings, window=window)
                  for name, present in flow if present)
    return Plan(state=state, strategy=settings.strategy, steps=steps,
                window=window, notes=tuple(notes))


def replan(plan: Plan, settings: Settings, facts: Facts) -> Plan:
    """Re-decide once a step has learnt what the plan assumed.

    The Procfile at the commit usually tells whether there is a release phase
    before the build; the built slug's ``process_types`` are the platform's
    final word (``facts.release_phase``). Steps up to the build are
    identical in both plans, so the engine just continues with the new plan's
    remaining steps.
    """
    release_phase = bool(plan.state.release_phase if facts.release_phase is None
                         else facts.release_phase)
    if release_phase == plan.state.release_phase:
        return plan
    return plan_deploy(replace(plan.state, release_phase=release_phase), settings)


def contract_blockers(state: State, settings: Settings) -> list[str]:
    """Why the contract files cannot run after the release with no window
    (empty: they can). Each reason says what the user can change.

    - the migrate command runs every pending migration: any other pending
      file (an online one, or one that follows a contract and may depend on
      it: Django's graph, Rails' order) would run at the contract's time;
    - a release phase runs migrations when the release is made, while the
      old code still serves: the drop would come before the old code is gone;
    - a dropped column may be NOT NULL without a database default: the new
      code's INSERTs leave it out and fail until the contract drops it,
      unless ``db.expand`` makes it nullable before the release (the
      strategy builds on a scratch app, the file names the column's table,
      the app has a PostgreSQL ``DATABASE_URL``).
    """
    why: list[str] = []
    files = [v for v in state.migrations if v.kind != "ignored"]
    contract = [v for v in files if v.kind == "after"]
    others = [v for v in files if v.kind != "after"]
    if others:
        first = contract[0]
        later = [v for v in others if files.index(v) > files.index(first)]
        if later:
            why.append(f"{later[0].path} follows the contract migration "
                       f"{first.path} and may depend on it; "
                       f"`{settings.migrate_command}` runs them together")
        else:
            why.append(f"`{settings.migrate_command}` runs every pending migration: "
                       f"{others[0].path} ({others[0].kind}) must run before the "
                       f"release, {first.path} (after) once the old release is "
                       "gone; deploy them in two deploys (the contract in the "
                       "second) for no window")
    if state.release_phase:
        why.append("the release phase runs the migrations when the release is "
                   "made, while the old code still serves, so the contract would "
                   "drop what it uses; take the migrate command out of the "
                   "Procfile's release: line (herotasks then runs the contract "
                   "after the release) for no window")
    rules = STRATEGIES[settings.strategy]
    for verdict in contract:
        for finding in verdict.findings:
            if not finding.drops_column or verdict.kind != "after":
                continue
            cannot = (gap.why_not_expandable(finding)
                      or _cannot_expand(state, rules))
            if cannot is None:
                continue  # db.expand makes it nullable before the release
            why.append(f"{verdict.path} drops column {finding.drops_column}: if it "
                       "is NOT NULL without a database default, the new code's "
                       "INSERTs fail until it is dropped, and herotasks cannot make "
                       f"it nullable before the release ({cannot}); make it "
                       "nullable first (an online migration in an earlier deploy), "
                       "then mark this file `herotasks: after`")
    return why


def _cannot_expand(state: State, rules: Strategy) -> str | None:
    """Why db.expand cannot run for this deploy (None: it can)."""
    if not (rules.scratch_build and rules.migrates_online):
        return "the strategy runs nothing before the release"
    if state.database_url is False:
        return (f"it runs psql on {gap.DATABASE_VAR}, and the app's config has no "
                f"PostgreSQL {gap.DATABASE_VAR}")
    if state.database_url is None:
        return f"whether the app has a PostgreSQL {gap.DATABASE_VAR} was not looked at"
    return None


# -- internals ----------------------------------------------------------------


def _window_text(plan: Plan) -> str:
    if not plan.window:
        st = plan.state
        if plan.step("db.postmigrate"):
            expand = ("dropped columns made nullable before the release, "
                      if plan.step("db.expand") else "")
            return (f"none ({expand}contract migrations after the release, once "
                    "the old release's dynos are gone)")
        if plan.step("db.premigrate") or (st.online and st.release_phase):
            return "none (online migrations while the old code serves, then preboot)"
        if plan.rules.preboot_without_window and (st.preboot or st.preboot_allowed):
            return "none (promote with preboot)"
        return "none"
    inside = [s.name for s in plan.steps if s.in_window]
    return "maintenance around " + ", ".join(inside)


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "(unknown)"
