"""What one deploy learns as it goes, typed: the check's observations, the
process that runs it, and what each step produced for the steps after it and
for recovery. The journal stores it (``facts`` in its JSON) and reads it back.

Every fact is a field: code reads ``facts.slug_id``, never a string key, so a
misspelt name is an AttributeError where it is written, not a silent None
where it is read. Steps hand back their facts as keyword changes
(:meth:`Facts.update`), which refuses a name that is not a field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Facts:
    # -- observed by the check (core.observe) ------------------------------------
    #: the commit being deployed, and the one Heroku serves now
    source: str | None = None
    deployed: str | None = None
    previous_release: str | None = None
    previous_version: int | None = None
    maintenance_was: bool | None = None
    preboot_was: bool | None = None
    #: the asset decision (core.assets.AssetsDecision's fields)
    assets: dict[str, Any] | None = None
    pending: bool | None = None
    pending_reason: str | None = None
    #: every pending migration proved online (core.classify)
    online: bool | None = None
    warnings: list[str] = field(default_factory=list)
    #: the email of the account the token is
    account: str | None = None
    #: an app had the scratch name during the check (None: not looked)
    scratch_exists: bool | None = None
    #: the planned steps, as the journal shows them ({"name": ..., ...})
    plan: list[dict[str, Any]] = field(default_factory=list)

    # -- the process writing the journal (adapters.processes.me) -----------------
    pid: int | None = None
    host: str | None = None
    pid_started: float | str | None = None

    # -- what the steps produced ---------------------------------------------------
    lock_app: str | None = None
    #: the collaborators a personal app's helper apps are shared with
    share_with: list[str] | None = None
    #: the commit deployed: ``source`` plus the compiled assets, if any
    deploy_commit: str | None = None
    scratch_app: str | None = None
    scratch_app_id: str | None = None
    scratch_git_url: str | None = None
    slug_id: str | None = None
    release_phase: bool | None = None
    #: the scratch app's release of the slug (what a pipeline promotes)
    scratch_release: str | None = None
    #: the slug's web command (what health.precheck boots)
    web_command: str | None = None
    #: the worker formation as found (workers.stop)
    workers: list[dict[str, Any]] | None = None
    release_id: str | None = None
    release_version: int | None = None
    #: when preboot moves traffic to the new release (clock seconds)
    preboot_switch_at: float | None = None
    #: the migration's dyno db.prestart started and holds until the window
    held_dyno: str | None = None
    #: the other connections to the database opened from just before the
    #: held dyno's ``go`` to the migration's end, as that dyno counted them
    #: (core.dynos.CONNECTIONS); None: not counted (dynos.restart restarts)
    connections_since_go: int | None = None
    #: the dynos dynos.restart replaced
    replaced_dynos: list[str] = field(default_factory=list)
    #: the columns db.expand makes nullable before the release ("table.column",
    #: the dropped columns not proven safe for the gap: core.classify.gap)
    expand: list[str] = field(default_factory=list)
    #: the columns db.expand made nullable (or found so)
    expanded: list[str] | None = None
    #: the release the contract migrations ran on
    contract_version: int | None = None

    #: facts of a newer herotasks this one does not know: kept as written
    #: (a journal is never rewritten with less than it had), never read
    unknown: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls)) - {"unknown"}

    def update(self, **changes: Any) -> None:
        """Set facts; a name that is not a fact is a programming error."""
        wrong = set(changes) - self.names()
        if wrong:
            raise TypeError(f"not a deploy fact: {', '.join(sorted(wrong))}")
        for name, value in changes.items():
            setattr(self, name, value)

    def changes(self) -> dict[str, Any]:
        """The facts set (not at their defaults), for another record's update."""
        blank = Facts()
        return {n: getattr(self, n) for n in sorted(self.names())
                if getattr(self, n) != getattr(blank, n)}

    def to_json(self) -> dict[str, Any]:
        """The journal's form: every fact set, plus the unknown ones kept."""
        data = {k: v for k, v in asdict(self).items()
                if k != "unknown" and v not in (None, [], {})}
        return {**self.unknown, **data}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Facts":
        """From the journal's form; its shape is checked by core.journal."""
        known = cls.names()
        made = cls(**{k: v for k, v in raw.items() if k in known and v is not None})
        made.unknown = {k: v for k, v in raw.items() if k not in known}
        return made
