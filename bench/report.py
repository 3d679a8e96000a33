"""Reading a herotasks deploy report (`deploy.<stage> --json PATH`).

The format is a contract (docs/architecture.md, "Deploy report"); this
module checks the parts the benchmark draws and counts, so a report from an
older or broken run fails with one clear line instead of a KeyError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

REQUIRED = (
    "app", "stage", "strategy", "ok", "started_at", "finished_at", "steps", "windows"
)
STEP_REQUIRED = ("name", "started_at", "finished_at", "ok", "skipped")


class ReportError(ValueError):
    pass


def check_report(report: Mapping, source: str = "deploy report") -> Mapping:
    """Return `report` if it has what the benchmark reads, else raise ReportError."""
    missing = [key for key in REQUIRED if key not in report]
    if missing:
        raise ReportError(
            f"{source} lacks {', '.join(missing)}; is it a herotasks deploy report?"
        )
    for n, step in enumerate(report["steps"]):
        lacking = [key for key in STEP_REQUIRED if key not in step]
        if lacking:
            raise ReportError(f"{source}: step {n} lacks {', '.join(lacking)}")
    return report


def load_report(path: str | Path) -> Mapping:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read deploy report {path}: {exc}") from None
    if not isinstance(report, dict):
        raise ReportError(f"{path} is not a herotasks deploy report (no JSON object)")
    return check_report(report, str(path))


def window(report: Mapping, name: str) -> tuple[float, float] | None:
    """(start, end) of the window `name` ("maintenance", "workers_down").

    None if it did not happen. A window still open when the deploy ended (a
    failed deploy that left maintenance on) ends with the deploy here.
    """
    found = report["windows"].get(name)
    if not found:
        return None
    return found["started_at"], found.get("finished_at") or report["finished_at"]
