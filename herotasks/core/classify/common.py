"""What every dialect's reader shares: the verdict, the findings a reader
collects (one per statement or operation, so ``deploy.plan`` can show them and
the one that decided), and the marker comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

ONLINE, WINDOW, IGNORED = "online", "window", "ignored"
#: contract: removes only what the new code no longer uses; runs once the new
#: release is live and no dyno of the old one is left (issue 16)
AFTER = "after"
#: what ``Verdict.column_drops`` marks a dropped column with when it may be
#: NOT NULL without a default: the new code's INSERTs leave it out, so they
#: fail between the release and the contract
GAP_WHY = ("if it is NOT NULL without a database default, the new code's "
           "INSERTs fail until it is dropped")


@dataclass(frozen=True)
class Finding:
    """One statement or operation of a file, and what it means."""

    line: int
    what: str  # "ALTER TABLE ADD COLUMN", "AddField(null=True)"
    kind: str  # online | window | after
    why: str = ""
    #: a column this statement drops ("table.column"; "?" when the table is
    #: not known from the file): the gap between release and contract
    drops_column: str = ""
    #: ``drops_column`` names the database's own table and column (SQL, Rails,
    #: Alembic); False: a model and a field, as Django's operations name them
    #: read statically (``Meta.db_table`` and ``db_column`` are not read), so
    #: no SQL can be written for it (:mod:`.gap`)
    db_names: bool = True

    def text(self) -> str:
        return (f"{self.what} on line {self.line}"
                + (f" ({self.why})" if self.why else ""))


@dataclass(frozen=True)
class Verdict:
    """One file's verdict, as ``deploy.plan`` shows it."""

    path: str  # the file, as git names it
    kind: str  # "online" | "window" | "after" | "ignored" (not a migration)
    reason: str  # short, human: "CreateModel, AddField(null=True)"
    #: how the file was read: "SQL, PostgreSQL's grammar (pglast)",
    #: "Django operations, read statically", "marker", ...
    read: str = ""
    #: every statement or operation found, in file order
    findings: tuple[Finding, ...] = field(default=())

    @property
    def decided_by(self) -> Finding | None:
        """The statement that made the file window (the first one), if any."""
        return next((f for f in self.findings if f.kind == WINDOW), None)

    @property
    def column_drops(self) -> tuple[str, ...]:
        """The columns an ``after`` file drops ("table.column"), each of
        which may hold the new code's INSERTs up until the contract runs."""
        if self.kind != AFTER:
            return ()
        return tuple(f.drops_column for f in self.findings if f.drops_column)


class Findings:
    """A reader's findings in file order; any window one decides."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def ok(self, what: str, line: int = 0) -> None:
        self.items.append(Finding(line, what, ONLINE))

    def bad(self, what: str, line: int, why: str = "") -> None:
        self.items.append(Finding(line, what, WINDOW, why))

    def after(self, what: str, line: int, why: str = "", *, column: str = "",
              db_names: bool = True) -> None:
        """A removal the new code no longer needs: contract, after the release.
        :param column: "table.column" when it drops a column.
        :param db_names: ``column`` is the database's table and column (not a
            model's and field's)."""
        self.items.append(Finding(line, what, AFTER, why, column, db_names))

    def extend(self, other: "Findings", *, offset: int = 0, prefix: str = "") -> None:
        """Another reader's findings (SQL inside RunSQL/execute), their lines
        moved to where the string starts in this file."""
        for f in other.items:
            self.items.append(replace(f, line=f.line + offset, what=prefix + f.what))

    @property
    def window(self) -> list[Finding]:
        return [f for f in self.items if f.kind == WINDOW]

    def verdict(self, empty: str) -> tuple[str, str]:
        bad = self.window
        if bad:
            return WINDOW, "; ".join(f.text() for f in bad)
        drops = [f for f in self.items if f.kind == AFTER]
        adds = [f for f in self.items if f.kind == ONLINE and not _REMOVES.search(f.what)]
        if drops and adds:
            # one file runs at one time: before the release (the drop would
            # break the old code) or after it (the new code would miss the add)
            why = ("adds and removes in one file (split it, the removal in a "
                   f"later migration): {adds[0].text()}; {drops[0].text()}")
            self.items.append(Finding(drops[0].line, "expand and contract", WINDOW, why))
            return WINDOW, why
        if drops:
            return AFTER, "contract: " + "; ".join(f.text() for f in drops)
        names: list[str] = []
        for f in self.items:
            if f.what not in names:
                names.append(f.what)
        return ONLINE, ", ".join(names) or empty


#: online findings that only remove (a concurrent index drop) or do nothing
#: (a no-op, state only): they may run after the release with the contract
_REMOVES = re.compile(r"\bDROP\b|Remove|\bremove_|\bdrop_|noop|no statements|"
                      r"no SQL|state only")

_MARKER_RE = {
    "#": re.compile(r"^\s*#\s*herotasks:\s*(\S*)", re.IGNORECASE | re.MULTILINE),
    "--": re.compile(r"^\s*--\s*herotasks:\s*(\S*)", re.IGNORECASE | re.MULTILINE),
}


def marker(path: str, text: str) -> tuple[str, str] | None:
    """The marker's verdict, or None without one. Of several markers the
    most cautious wins: one ``window`` or unknown value makes the file window."""
    if path.endswith((".py", ".rb")):
        styles = ("#",)
    elif path.endswith(".sql"):
        styles = ("--",)
    else:
        styles = ("#", "--")
    values = [m.group(1) for style in styles for m in _MARKER_RE[style].finditer(text)]
    if not values:
        return None
    for value in values:
        if value.lower() not in (ONLINE, WINDOW, AFTER):
            return WINDOW, (f"unknown marker 'herotasks: {value}' (use herotasks: "
                            "online, herotasks: after or herotasks: window)")
    kinds = {value.lower() for value in values}
    if WINDOW in kinds or kinds == {ONLINE, AFTER}:
        return WINDOW, "marker: herotasks: window" if WINDOW in kinds else (
            "markers say both online and after: window")
    if AFTER in kinds:
        return AFTER, "marker: herotasks: after"
    return ONLINE, "marker: herotasks: online"
