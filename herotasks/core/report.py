"""The deploy report: a summary table for people, and ``--json PATH`` for CI.

The JSON shape is a contract (docs/architecture.md, "Deploy report"); the
benchmark reads it. Times are epoch seconds; a window that never opened is
``null``; one that opened and never closed (maintenance left on because a
rollback failed) has ``finished_at``/``duration`` null.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from herotasks.core.facts import Facts
from herotasks.errors import ConfigError

WINDOWS = ("maintenance", "workers_down")


@dataclass
class StepRecord:
    """Timing and outcome of one executed (or skipped) step."""

    name: str
    started_at: float
    finished_at: float | None = None
    ok: bool = False
    skipped: bool = False
    in_window: bool = False
    note: str = ""

    @property
    def duration(self) -> float | None:
        """Seconds, or None while running."""
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "ok": self.ok,
            "skipped": self.skipped,
            "in_window": self.in_window,
        }


@dataclass
class Window:
    """A span the users paid for (maintenance on, or workers at zero)."""

    started_at: float
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        duration = (None if self.finished_at is None
                    else self.finished_at - self.started_at)
        return {"started_at": self.started_at, "finished_at": self.finished_at,
                "duration": duration}


@dataclass
class Report:
    """Everything ``deploy.<stage>`` prints and writes."""

    app: str
    stage: str | None
    strategy: str
    commit_from: str | None
    commit_to: str | None
    pending: bool | None = None
    pending_reason: str = ""
    started_at: float = 0.0
    finished_at: float | None = None
    ok: bool = False
    error: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    windows: dict[str, Window] = field(default_factory=dict)
    release_id: str | None = None
    release_version: int | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    #: Platform API requests the run sent (None: not counted). Each costs a
    #: token of the account's rate limit (4500, ~75 a minute back).
    requests: int | None = None
    #: With preboot: when Heroku moves traffic to the new web dynos (epoch
    #: seconds; the new release is "up" well before, unroutable).
    preboot_switch_at: float | None = None
    #: A recovery's outcome in a word or two (``undone``, ``finished``, ``kept
    #: the code``), said instead of "ok": an undo is no deploy that went live.
    verdict: str | None = None
    #: The check before the release (``health.precheck``): ``ok``, ``asked``
    #: (its answers judged, not only its boot), ``found`` (what it said),
    #: ``started_at``/``finished_at``; None when it did not run.
    precheck: dict[str, Any] | None = None

    @classmethod
    def from_facts(cls, app: str, stage: str | None, strategy: str,
                   facts: "Facts", started: float) -> "Report":
        """A report for a run over ``facts`` (the journal's, or observed ones
        for a dry run): the one way a report starts."""
        return cls(app=app, stage=stage, strategy=strategy,
                   commit_from=facts.deployed, commit_to=facts.source,
                   pending=facts.pending,
                   pending_reason=facts.pending_reason or "",
                   started_at=started, release_id=facts.release_id,
                   release_version=facts.release_version,
                   warnings=list(facts.warnings),
                   preboot_switch_at=facts.preboot_switch_at)

    @classmethod
    def for_journal(cls, journal: Any, *, started: float,
                    strategy: str) -> "Report":
        """A report for a run over ``journal`` (deploy, recovery, by hand)."""
        return cls.from_facts(journal.app, journal.stage,
                              journal.strategy or strategy, journal.facts, started)

    def open_window(self, name: str, at: float) -> None:
        """Mark the start of a window (first opening wins)."""
        self.windows.setdefault(name, Window(at))

    def close_window(self, name: str, at: float) -> None:
        """Mark the end of a window that is open."""
        window = self.windows.get(name)
        if window is not None and window.finished_at is None:
            window.finished_at = at

    @property
    def duration(self) -> float | None:
        """Seconds the whole run took."""
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object."""
        return {
            "app": self.app,
            "stage": self.stage,
            "strategy": self.strategy,
            "ok": self.ok,
            "error": self.error,
            "commit": {"from": self.commit_from, "to": self.commit_to},
            "migrations": {"pending": self.pending, "reason": self.pending_reason},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "steps": [s.to_json() for s in self.steps],
            "windows": {name: (self.windows[name].to_json()
                               if name in self.windows else None)
                        for name in WINDOWS},
            "release": ({"id": self.release_id, "version": self.release_version}
                        if self.release_id else None),
            "warnings": list(self.warnings),
            "requests": self.requests,
            "traffic": self.traffic(),
            "precheck": (None if self.precheck is None else {
                **self.precheck, "duration": self.precheck["finished_at"]
                - self.precheck["started_at"]}),
        }

    def traffic(self) -> dict[str, Any] | None:
        """When the new code takes traffic, with preboot (None without:
        then it serves once its dynos are up, or maintenance is off)."""
        if self.preboot_switch_at is None or not self.release_id:
            return None
        end = self.finished_at if self.finished_at is not None else self.started_at
        return {"preboot": True, "at": self.preboot_switch_at,
                "done": end >= self.preboot_switch_at}

    def summary(self) -> str:
        """The table printed at the end of a deploy."""
        old, new = (self.commit_from or "(unknown)")[:10], (self.commit_to or "?")[:10]
        outcome = ("FAILED" if not self.ok else self.verdict or "ok")
        if self.ok and self.warnings:
            outcome += (f", with {len(self.warnings)} warning"
                        + ("s" if len(self.warnings) > 1 else ""))
        where = (f"{self.app}" + (f" ({self.stage})" if self.stage else "")
                 + f" [{self.strategy}] ")
        if self.verdict is None:
            head = (f"{'DRY RUN ' if self.dry_run else ''}deploy of {where}"
                    f"{old} -> {new}: {outcome}")
        else:  # a recovery: which deploy, and what became of it
            head = f"recovery of {where}the deploy of {new} (over {old}): {outcome}"
        lines = [head, f"  {'step':20s} {'seconds':>9s}  "]
        for step in self.steps:
            if step.skipped:
                took = "skipped"
            elif step.duration is None:
                took = "-"
            else:
                took = f"{step.duration:.2f}"
            flags = ("window " if step.in_window else "") + (
                "" if step.ok or step.skipped else "FAILED")
            lines.append(f"  {step.name:20s} {took:>9s}  {flags}{step.note}".rstrip())
        for name in WINDOWS:
            label = name.replace("_", " ")
            window = self.windows.get(name)
            if window is None:
                lines.append(f"  {label} window: none")
            elif window.finished_at is None:
                lines.append(f"  {label} window: STILL OPEN")
            else:
                lines.append(f"  {label} window: "
                             f"{window.finished_at - window.started_at:.2f}s")
        if self.precheck is not None:
            p = self.precheck
            what = "answers" if p["asked"] else "boot only"
            last = (p["found"] or ["no word from its dyno"])[-1].removeprefix(
                "FAILED: ")
            said = ("not run" if p.get("ran") is False
                    else "ok" if p["ok"] else "FAILED")
            lines.append(f"  precheck: {said} ({what}, "
                         f"{p['finished_at'] - p['started_at']:.2f}s): {last}")
        if self.release_id:
            lines.append(f"  release: v{self.release_version} ({self.release_id})")
        traffic = self.traffic()
        if traffic and traffic["done"]:
            lines.append("  traffic: the new code took it at the preboot switch, "
                         f"{traffic['at'] - self.started_at:.2f}s into the run")
        elif traffic:
            left = max(traffic["at"] - (self.finished_at or self.started_at), 0.0)
            lines.append("  traffic: the old code still serves; preboot moves it to "
                         f"the new code within {math.ceil(left / 60)} min "
                         f"({left:.0f}s)")
        if self.duration is not None:
            lines.append(f"  total: {self.duration:.2f}s")
        if self.requests is not None:
            lines.append(f"  API requests: {self.requests}")
        if self.error:
            lines.append(f"  error: {self.error}")
        # last, so a CI log's final lines say what needs a look
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def markdown(report: Report) -> str:
    """The summary as Markdown for a CI job's page (GitHub Actions'
    ``GITHUB_STEP_SUMMARY``): the steps' table, then the run's timeline as a
    Mermaid Gantt chart (GitHub renders ``mermaid`` blocks), then what the
    plain summary says after its table."""
    rep = report
    status = ("FAILED" if not rep.ok else "ok" if not rep.warnings
              else f"ok, with {len(rep.warnings)} warning(s)")
    lines = [f"### herotasks: deploy of `{rep.app}`"
             + (f" ({rep.stage})" if rep.stage else "") + f": {status}", "",
             f"Strategy `{rep.strategy}`, "
             f"`{(rep.commit_from or '(unknown)')[:10]}` → `{(rep.commit_to or '?')[:10]}`"
             + (f", release v{rep.release_version}" if rep.release_id else "")
             + (f", {rep.duration:.2f} s" if rep.duration is not None else "")
             + (f", {rep.requests} API requests" if rep.requests is not None else ""),
             "", "| step | starts at (s) | seconds | |", "|---|---:|---:|---|"]
    for step in rep.steps:
        at = f"{step.started_at - rep.started_at:.2f}"
        took = ("skipped" if step.skipped else "-" if step.duration is None
                else f"{step.duration:.2f}")
        flags = " ".join(f for f in (
            "window" if step.in_window else "",
            "" if step.ok or step.skipped else "**FAILED**", step.note) if f)
        lines.append(f"| `{step.name}` | {at} | {took} | {flags} |")
    lines.append("")
    for name in WINDOWS:
        window = rep.windows.get(name)
        label = name.replace("_", " ")
        lines.append(f"- {label} window: " + (
            "none" if window is None else "**still open**"
            if window.finished_at is None
            else f"{window.finished_at - window.started_at:.2f} s"))
    if rep.error:
        lines.append(f"- **error**: {rep.error}")
    lines += [f"- warning: {w}" for w in rep.warnings]
    timed = [st for st in rep.steps if not st.skipped and st.duration is not None]
    if timed:
        # dateFormat x: milliseconds since the epoch; each step one bar
        lines += ["", "```mermaid", "gantt", "    title timeline of the run",
                  "    dateFormat x", "    axisFormat %M:%S"]
        section = None
        for st in timed:
            now = "window" if st.in_window else "outside any window"
            if now != section:
                lines.append(f"    section {now}")
                section = now
            tag = "crit, " if not st.ok else ""
            start = int(st.started_at * 1000)
            end = max(int((st.finished_at or st.started_at) * 1000), start + 1)
            lines.append(f"    {st.name} : {tag}{start}, {end}")
        lines.append("```")
    return "\n".join(lines) + "\n"


def write_step_summary(report: Report,
                       environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append :func:`markdown` to ``$GITHUB_STEP_SUMMARY`` when a GitHub
    Actions job set it (the job's page shows the file); None otherwise.
    A summary that cannot be written is not the deploy's failure."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown(report) + "\n")
    except OSError:
        return None
    return Path(target)


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Refuse, before a deploy starts, a ``--json`` path it could not write.

    A refused run changes nothing: the target must not be a directory, and
    its nearest existing ancestor must be a directory in which a file can
    really be made (write_json creates what is missing). Permission bits are
    not enough: root passes every access(2) check, and /proc or a read-only
    mount refuse what the bits allow, so a file is made there and removed.

    :raises ConfigError: one line naming the path and why.
    """
    target = Path(os.path.expanduser(str(path)))
    hint = "pass --json a file path in a folder you can write"
    if target.is_dir():
        raise ConfigError(f"--json {path} is a directory", hint)
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"--json {path} cannot be written (permission denied)",
                          hint)
    parent = target.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"--json {path} cannot be written: {parent} is not a "
                          "directory", hint)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--json {path} cannot be written: {parent} is not "
                          "writable", hint)
    try:
        fd, probe = tempfile.mkstemp(prefix=".herotasks-report-", dir=parent)
    except OSError as exc:
        raise ConfigError(f"--json {path} cannot be written: {parent}: "
                          f"{exc.strerror or exc}", hint) from None
    os.close(fd)
    os.unlink(probe)
    return target


def write_json(report: Report, path: str | os.PathLike[str]) -> Path:
    """Write the report atomically (a CI job may read it while we write)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=target.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(report.to_json(), fh, indent=2)
        fh.write("\n")
    os.replace(tmp, target)
    return target
