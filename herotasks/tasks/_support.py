"""What every task module shares: settings, the API client, the error
boundary, and running one engine step by hand. No tasks live here.

The boundary is where herotasks' errors become invoke's ``Exit``: one line on
stderr, a non-zero exit, no traceback (twine's ``__main__``, paratrooper's
``abort``). Everything below it raises :class:`herotasks.errors.HerotasksError`.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any, Callable, TypeVar

from invoke.exceptions import Exit

from herotasks.adapters.heroku_api import make_api
from herotasks.core import journal as journal_mod
from herotasks.core.config import Settings
from herotasks.core.engine import ACTIONS, Engine, Run
from herotasks.core.observe import app_info
from herotasks.core.plan import Step
from herotasks.core.report import Report, StepRecord
from herotasks.errors import HerotasksError

F = TypeVar("F", bound=Callable[..., Any])

#: ``--stage``'s help text, shared by every task that takes it.
STAGE_HELP = "stage name from herotasks.stages (default: herotasks.stage)"


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
    """Resolved settings: CLI arguments over ``c.config`` (see core.config)."""
    return Settings.resolve(c.config, stage=stage, strategy=strategy,
                            require_stage=require_stage)


def api(c: Any, s: Settings) -> Any:
    """The API client for ``s``; a dry-run one under ``--dry``."""
    return make_api(s.api_url, cabundle=s.api_cabundle, retries=s.api_retries,
                    dry_run=is_dry(c))


def out(text: str) -> None:
    """Progress output, flushed (CI logs must show it as it happens)."""
    print(text, flush=True)


def by_hand(c: Any, s: Settings, client: Any, name: str, *,
            facts: dict[str, Any] | None = None,
            close: tuple[str, ...] = ()) -> Run:
    """Run the engine's own action for step ``name`` outside a deploy.

    Same code, hooks and journal as in ``deploy.<stage>`` (so ``deploy.recover``
    can put hand-run changes back), but no unwinding on failure: a person
    running steps by hand decides what to undo.

    :param facts: facts the step needs that a deploy would have recorded.
    :param close: steps this one closes when it succeeds (e.g. the promotion,
        which by hand is deliberate and never to be rolled back by recover).
    """
    app = s.require_app()
    journal = journal_mod.open_or_start(s.statedir, app, stage=s.stage)
    if facts:
        journal.remember(**facts)
    report = Report(app=app, stage=s.stage, strategy="by hand", commit_from=None,
                    commit_to=journal.facts.get("source"), started_at=time.time())
    run = Run(c, client, s, journal, report, out, time.time, app_info(client, app))
    engine = Engine(c, client, s, out=out)
    step = Step(name, "")
    record = StepRecord(name, time.time())
    engine.run_hooks(run, "before", step)
    try:
        ACTIONS[name](run, step)
    except HerotasksError as exc:
        if journal.last(name) is not None:
            journal.failed(name, str(exc))
        raise
    engine.run_hooks(run, "after", step)
    record.finished_at, record.ok = time.time(), True
    for other in close:
        journal.close(other)
    if not list(journal.open_entries()) and name in CLOSING:
        journal.finish()
    out(f"{name}: done in {record.duration:.2f}s")
    return run


#: Hand-run steps after which an empty journal is finished with.
CLOSING = ("maintenance.off", "workers.restore", "scratch.destroy", "lock.release",
           "slug.promote")


def hand_journal(s: Settings) -> journal_mod.Journal | None:
    """The journal hand-run steps share, if one exists."""
    return journal_mod.load(s.statedir, s.require_app())


def warn(text: str) -> None:
    """A warning line on stderr."""
    print(f"warning: {text}", file=sys.stderr, flush=True)
