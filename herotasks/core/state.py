"""What herotasks observed before deciding anything: the input of the planner.

:mod:`herotasks.core.observe` fills a :class:`State` (read-only calls only);
:mod:`herotasks.core.plan` turns it into steps without any I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

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
        that support it, in the Common Runtime).
    :param space: the Private Space the app runs in (None: the Common
        Runtime). Heroku has no preboot there: deploys roll instead.
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
    #: each pending migration file's verdict (herotasks.core.classify)
    migrations: tuple[Any, ...] = ()
    space: str | None = None
    #: why the current release is no way back if this deploy fails (it is
    #: expired, or will be once this deploy releases); None: it is one
    fallback: str | None = None
    #: the app's stack nears its end of life (herotasks.core.stacks)
    stack_warning: str | None = None
    #: the app's config has a PostgreSQL ``DATABASE_URL`` (what ``db.expand``
    #: reaches the database through); None: not looked at (no dropped column
    #: needed it). Only this answer is kept, never the URL.
    database_url: bool | None = None

    @property
    def online(self) -> bool:
        """The pending migrations are all backward compatible: the old code
        keeps working on the new schema, so they can run while it serves.
        Unknown files (a deployed commit we cannot diff) are never online."""
        return (self.pending.pending and bool(self.migrations)
                and not any(v.kind in ("window", "after") for v in self.migrations))

    @property
    def contract(self) -> tuple[Any, ...]:
        """The pending files that only remove what the new code no longer
        uses (``after``), when no file needs the window."""
        if not self.pending.pending or any(v.kind == "window" for v in self.migrations):
            return ()
        return tuple(v for v in self.migrations if v.kind == "after")

    @property
    def gap(self) -> tuple[str, ...]:
        """The columns the contract drops that are not proven safe for the
        new code's INSERTs (they may be NOT NULL without a default): what
        ``db.expand`` makes nullable before the release, when the plan has it."""
        return tuple(f.drops_column for v in self.contract for f in v.findings
                     if f.drops_column)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What about the app as found deserves a line in the report: a
        deploy onto it can succeed while the app still serves nothing."""
        found = []
        if self.maintenance:
            found.append("the app was already in maintenance mode, and stays so "
                         f"(`heroku maintenance:off -a {self.app}` when it should "
                         "serve)")
        if self.fallback:
            found.append(self.fallback)
        if self.stack_warning:
            found.append(self.stack_warning)
        web = [p for p in self.formation if p.type == "web"]
        if web and not any(p.quantity for p in web):
            found.append("web is scaled to 0, so the app serves no request "
                         f"(`heroku ps:scale web=1 -a {self.app}`)")
        return tuple(found)

    @property
    def workers(self) -> tuple[Process, ...]:
        """The non-web processes that are running and would stop in a window."""
        return tuple(p for p in self.formation if p.type != "web" and p.quantity > 0)


def formation_from_api(items: Iterable[dict]) -> tuple[Process, ...]:
    """Formation list as the API returns it -> :class:`Process` tuples."""
    out = []
    for item in items:
        size = item.get("size") or (item.get("dyno_size") or {}).get("name") or ""
        out.append(Process(str(item["type"]), int(item.get("quantity") or 0),
                           str(size)))
    return tuple(sorted(out, key=lambda p: p.type))


def preboot_allowed(formation: Iterable[Process], space: str | None = None) -> bool:
    """Preboot helps only with web dynos on Standard/Performance sizes, and
    exists only in the Common Runtime: an app in a Private Space (``space``)
    deploys rolling instead (Dev Center, *Preboot*: "only available on the
    Common Runtime"; *Rolling Deploys*)."""
    if space:
        return False
    web = [p for p in formation if p.type == "web"]
    return bool(web) and all(p.size.lower() not in NO_PREBOOT_SIZES and p.size
                             for p in web)
