"""What every task module shares: settings, the API client, the error
boundary, and the factory of hand-run step tasks. No tasks live here.

The boundary is where herotasks' errors become invoke's ``Exit``: one line on
stderr, a non-zero exit, no traceback (twine's ``__main__``, paratrooper's
``abort``). Everything below it raises :class:`herotasks.errors.HerotasksError`.

Heavy imports (requests and the API client, the engine) happen inside the
functions that need them, so ``herotasks --list`` stays as quick as invoke.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from invoke import Task, task
from invoke.exceptions import Exit

from herotasks.core.config import Settings
from herotasks.errors import HerotasksError

if TYPE_CHECKING:
    from herotasks.core.journal import Journal
    from herotasks.core.run import Run

F = TypeVar("F", bound=Callable[..., Any])

#: ``--stage``'s help text, shared by every task that takes it.
STAGE_HELP = ("stage name from herotasks.stages (default: herotasks.stage, or "
              "the only configured stage)")


def boundary(body: F) -> F:
    """Turn a :class:`HerotasksError` into ``Exit(one line, 1)``.

    ``functools.wraps`` keeps the signature (``__wrapped__``), which is what
    invoke reads to build the task's flags.
    """

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except HerotasksError as exc:
            raise Exit(f"herotasks: {exc}", 1) from None

    return wrapper  # type: ignore[return-value]


def is_dry(c: Any) -> bool:
    """``inv --dry``: invoke's ``run.dry``, which we extend to HTTP."""
    try:
        return bool(c.config.run.dry)
    except AttributeError:
        return False


def settings(c: Any, stage: str | None = None, *, strategy: str | None = None,
             require_stage: bool = True) -> Settings:
    """Resolved settings: CLI arguments over ``c.config`` (see core.config),
    their hooks checked against the step catalogue."""
    from herotasks.core.steps import check_hooks

    return check_hooks(Settings.resolve(c.config, stage=stage, strategy=strategy,
                                        require_stage=require_stage))


def api(c: Any, s: Settings) -> Any:
    """The API client for ``s``; a dry-run one under ``--dry``."""
    from herotasks.adapters.heroku_api import make_api

    return make_api(s.api_url, cabundle=s.api_cabundle, retries=s.api_retries,
                    dry_run=is_dry(c))


def out(text: str) -> None:
    """Progress output, flushed (CI logs must show it as it happens)."""
    print(text, flush=True)


def warn(text: str) -> None:
    """A warning line on stderr."""
    print(f"warning: {text}", file=sys.stderr, flush=True)


# -- hand-run steps ------------------------------------------------------------


@dataclass
class Hand:
    """What a hand-run step's ``prepare`` sees: the resolved settings, the API
    client and the journal the stage's hand-run steps share (None if none)."""

    c: Any
    settings: Settings
    api: Any
    journal: "Journal | None"

    @property
    def app(self) -> str:
        return self.settings.require_app()


Prepare = Callable[..., "dict[str, Any] | None"]


def step_task(name: str, doc: str, *, prepare: Prepare | None = None,
              help: dict[str, str] | None = None) -> Task:
    """The hand-run task for catalogue step ``name``.

    Every such task has one shape: resolve the settings (``--stage``, else the
    default stage), let ``prepare`` check preconditions and supply the facts
    a deploy would have recorded, then either print the ``--dry`` line (the
    step's own plan description) or run the step through the engine's
    :meth:`~herotasks.core.engine.Engine.run_step`: the same hooks, journal
    and action as inside ``deploy.<stage>``, so ``deploy.recover`` can put a
    hand-run change back. Nothing is unwound on failure: a person running
    steps by hand decides what to undo.

    :param prepare: ``prepare(hand, **flags) -> facts``; its keyword
        parameters become the task's flags (after ``--stage``). It may raise
        a :class:`HerotasksError` to refuse; it must only read.
    """
    params = [inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("stage", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default=None)]
    if prepare is not None:
        params += list(inspect.signature(prepare).parameters.values())[1:]

    def body(c: Any, stage: str | None = None, **flags: Any) -> Any:
        s = settings(c, stage)
        from herotasks.core import journal as journal_mod

        hand = Hand(c, s, api(c, s), journal_mod.load(s.statedir, s.require_app()))
        facts = (prepare(hand, **flags) if prepare else None) or {}
        if is_dry(c):
            out(f"{name}: would {describe(hand, name, facts)}")
            return None
        return run_by_hand(hand, name, facts)

    body.__name__ = body.__qualname__ = name.split(".", 1)[1]
    body.__doc__ = doc
    body.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return task(boundary(body), help={"stage": STAGE_HELP, **(help or {})})


def describe(hand: Hand, name: str, facts: dict[str, Any]) -> str:
    """The catalogue's description of ``name`` for this app as it is now."""
    from herotasks.core.state import Pending, State, formation_from_api
    from herotasks.core.steps import STEPS

    state = State(app=hand.app, stage=hand.settings.stage,
                  new_commit=facts.get("source") or "", deployed_commit=None,
                  pending=Pending(False, "by hand"),
                  preboot=bool(facts.get("preboot_was")),
                  formation=formation_from_api(hand.api.formation(hand.app)))
    return f"{STEPS[name].describe(state, hand.settings)} ({hand.app})"


def run_by_hand(hand: Hand, name: str, facts: dict[str, Any]) -> "Run":
    """Run step ``name`` through the engine, outside a deploy."""
    from herotasks.core import journal as journal_mod
    from herotasks.core.engine import Engine
    from herotasks.core.observe import app_info
    from herotasks.core.report import Report
    from herotasks.core.steps import STEPS, Step

    s = hand.settings
    journal = hand.journal or journal_mod.open_or_start(s.statedir, hand.app,
                                                        stage=s.stage)
    if facts:
        journal.remember(**facts)
    engine = Engine(hand.c, hand.api, s, out=out)
    run = engine.run_for(journal, Report.for_journal(journal, started=time.time(),
                                                     strategy="by hand"),
                         app_info(hand.api, hand.app))
    spec = STEPS[name]
    record = engine.run_step(run, Step(name))
    if spec.final_by_hand:
        journal.close(name)
    if spec.ends_hand_sequence and not journal.has_open():
        journal.finish()
    out(f"{name}: done in {record.duration:.2f}s")
    return run
