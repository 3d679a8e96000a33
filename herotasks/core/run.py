"""What the steps of one run share: the collaborators, once.

:class:`Tools` are the collaborators every run of an engine has (the invoke
context for local commands, the API client, the settings, output and clock);
a :class:`Run` adds what belongs to one run (its journal, report and the app
as observed). Actions and undos take a ``Run`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from herotasks.core.config import Settings
from herotasks.core.facts import Facts
from herotasks.core.journal import Journal
from herotasks.core.report import Report


@dataclass
class Tools:
    """The collaborators of an engine (and so of each of its runs)."""

    c: Any
    api: Any
    settings: Settings
    out: Callable[[str], Any]
    clock: Callable[[], float]


@dataclass
class Run(Tools):
    """One deploy, recovery or hand-run step."""

    journal: Journal
    report: Report
    app: dict
    force_unlock: bool = False
    #: the copy of the journal kept with the lock already shows a closing
    #: step begun (see Engine.run_step): later closing steps need none
    closing_copied: bool = False
    #: the migration's dyno started before the window (db.prestart), held in
    #: this process: only this run can tell it to go (core.dynos.Held)
    held: Any = None
    #: seconds the held dyno took to boot the app (db.prestart), if it did
    boot_seconds: float | None = None
    #: the target's config vars as read once this run (memory only: they
    #: hold secrets), sent as a one-off dyno's env
    _config: dict[str, str] | None = None

    def target_config(self) -> dict[str, str]:
        """The target's config vars, read at most once per run (a request
        each fewer for the precheck and the migration dynos)."""
        if self._config is None:
            self._config = dict(self.api.config_vars(self.name) or {})
        return dict(self._config)

    @property
    def facts(self) -> Facts:
        return self.journal.facts

    @property
    def name(self) -> str:
        return self.journal.app
