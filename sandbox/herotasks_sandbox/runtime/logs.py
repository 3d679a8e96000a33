"""Dyno log files, in Heroku's line format.

Each dyno writes ``2024-...+00:00 heroku[web.1]: State changed from starting
to up`` (the dyno manager's events) and ``... app[web.1]: <output>`` (what
its process prints) to ``ROOT/logs/apps/<app>/<dyno>.log``; the router
writes ``router.log`` beside them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .dyno import Dyno


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class DynoLogs:
    """Where each app's dyno and router lines go, and the writing of them."""

    def __init__(self, root: Path):
        self.dir = Path(root) / "logs" / "apps"

    def path(self, app: dict, dyno_name: str) -> Path:
        """Where a dyno's lines go (``router`` for the router's)."""
        return self.dir / app["name"] / f"{dyno_name}.log"

    def event(self, d: Dyno, message: str) -> None:
        """A dyno manager line (``heroku[web.1]: ...``)."""
        self.write(d, "heroku", [message])

    def write(self, d: Dyno, source: str, lines: list[str]) -> None:
        folder = self.dir / d.app_name
        folder.mkdir(parents=True, exist_ok=True)
        ts = _stamp()
        text = "".join(f"{ts} {source}[{d.name}]: {line}\n" for line in lines)
        with open(folder / f"{d.name}.log", "a") as f:
            f.write(text)
