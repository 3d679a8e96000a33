"""Worker job failures, read from dyno log files.

The tally worker prints one line per failed job attempt, starting with
`JOB FAILED` and carrying `at=<epoch seconds>` (examples/tally, worker.py).
Anything in front of the marker (a timestamp or dyno name a log writer adds)
is ignored, so the sandbox's per-dyno logs can be passed as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

MARKER = "JOB FAILED"
_AT = re.compile(r"JOB FAILED\b.*?\bat=(\d+(?:\.\d+)?)")


class JobFailure(NamedTuple):
    at: float | None  # None if the line carried no time
    path: str
    line: str


def job_failures(
    paths: Iterable[str | Path], since: float | None = None
) -> list[JobFailure]:
    """Every `JOB FAILED` line in `paths`, oldest first.

    `since` drops failures stamped earlier (say, those of a previous deploy in
    the same logs); a line without a time is kept, since it cannot be placed.
    """
    found = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if MARKER not in line:
                    continue
                stamp = _AT.search(line)
                at = float(stamp.group(1)) if stamp else None
                if since is None or at is None or at >= since:
                    found.append(JobFailure(at, str(path), line.rstrip("\n")))
    return sorted(found, key=lambda f: (f.at is None, f.at or 0.0))
