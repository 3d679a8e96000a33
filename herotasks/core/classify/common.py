"""What every dialect's reader shares: the verdict, the findings a reader
collects (one per statement or operation, so ``deploy.plan`` can show them and
the one that decided), and the marker comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ONLINE, WINDOW, IGNORED = "online", "window", "ignored"


@dataclass(frozen=True)
class Finding:
    """One statement or operation of a file, and what it means."""

    line: int
    what: str  # "ALTER TABLE ADD COLUMN", "AddField(null=True)"
    kind: str  # online | window
    why: str = ""

    def text(self) -> str:
        return (f"{self.what} on line {self.line}"
                + (f" ({self.why})" if self.why else ""))


@dataclass(frozen=True)
class Verdict:
    """One file's verdict, as ``deploy.plan`` shows it."""

    path: str  # the file, as git names it
    kind: str  # "online" | "window" | "ignored" (not a migration)
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


class Findings:
    """A reader's findings in file order; any window one decides."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def ok(self, what: str, line: int = 0) -> None:
        self.items.append(Finding(line, what, ONLINE))

    def bad(self, what: str, line: int, why: str = "") -> None:
        self.items.append(Finding(line, what, WINDOW, why))

    def extend(self, other: "Findings", *, offset: int = 0, prefix: str = "") -> None:
        """Another reader's findings (SQL inside RunSQL/execute), their lines
        moved to where the string starts in this file."""
        for f in other.items:
            self.items.append(Finding(f.line + offset, prefix + f.what, f.kind, f.why))

    @property
    def window(self) -> list[Finding]:
        return [f for f in self.items if f.kind == WINDOW]

    def verdict(self, empty: str) -> tuple[str, str]:
        bad = self.window
        if bad:
            return WINDOW, "; ".join(f.text() for f in bad)
        names: list[str] = []
        for f in self.items:
            if f.what not in names:
                names.append(f.what)
        return ONLINE, ", ".join(names) or empty


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
        if value.lower() not in (ONLINE, WINDOW):
            return WINDOW, (f"unknown marker 'herotasks: {value}' "
                            "(use herotasks: online or herotasks: window)")
    if any(value.lower() == WINDOW for value in values):
        return WINDOW, "marker: herotasks: window"
    return ONLINE, "marker: herotasks: online"
