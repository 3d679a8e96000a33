"""Log sessions: ``heroku logs`` and ``heroku logs --tail``.

``POST /apps/{app}/log-sessions`` answers a ``logplex_url``; the CLI reads it
as a server-sent event stream (``src/lib/run/log-displayer.ts``: each
message's data is one or more log lines). Like Logplex the URL itself is the
credential (unguessable, valid for a few minutes, no Authorization header)
and the stream is the app's recent lines (``lines``, default 100, at most
1500) merged across its dynos and router in time order, filtered by
``dyno`` (``web.1``, or a type: ``web``) and ``source`` (``app`` or
``heroku``), then, with ``tail``, every new line as it is written.

The lines come from the files the runtime writes,
``ROOT/logs/apps/<app>/<dyno>.log`` and ``router.log``, which already carry
Heroku's format (``2024-...+00:00 app[web.1]: ...``).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from . import fir
from .platform import Platform, invalid, new_id, now

DEFAULT_LINES = 100
MAX_LINES = 1500
#: A logplex_url must be opened this soon after it was made.
SESSION_TTL = 300.0
#: A tail ends after this long (Logplex's sessions end too; the CLI reconnects).
TAIL_LIMIT = 3600.0
HEARTBEAT = 10.0
LINE = re.compile(r"^(\S+) (app|heroku)\[([\w.-]+)\]: ")


class LogSessions:
    def __init__(self, platform: Platform, logs_dir: Path):
        self.platform = platform
        self.logs_dir = logs_dir
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[float, dict]] = {}

    def create(self, app: dict, body: dict) -> dict:
        lines = body.get("lines")
        if lines is None:
            lines = DEFAULT_LINES
        if isinstance(lines, bool) or not isinstance(lines, int) or \
                not 0 <= lines <= MAX_LINES:
            raise invalid(f"lines: must be 0 to {MAX_LINES}")
        source = body.get("source")
        if source not in (None, "", "app", "heroku"):
            raise invalid("source: app or heroku")
        session_id = new_id()
        params = {"app": app["name"], "lines": lines, "tail": bool(body.get("tail")),
                  "dyno": body.get("dyno_name") or body.get("dyno") or body.get("type"),
                  "source": source or None}
        params = fir.log_params(app, params)  # Fir: no history, always a tail
        with self._lock:
            cutoff = time.monotonic() - SESSION_TTL
            self._sessions = {k: v for k, v in self._sessions.items() if v[0] > cutoff}
            self._sessions[session_id] = (time.monotonic(), params)
        ts = now()
        return {"id": session_id, "created_at": ts, "updated_at": ts,
                "logplex_url": f"{self.platform.api_url}/_sandbox/streams/logs/"
                               f"{session_id}"}

    def take(self, session_id: str) -> dict | None:
        """The session's parameters, once (a URL is good for one stream)."""
        with self._lock:
            made, params = self._sessions.pop(session_id, (0.0, None))
        if params is None or time.monotonic() - made > SESSION_TTL:
            return None
        return params

    # -- reading -------------------------------------------------------------------
    def _files(self, params: dict) -> list[Path]:
        folder = self.logs_dir / params["app"]
        if not folder.is_dir():
            return []
        return sorted(folder.glob("*.log"))

    def _wanted(self, line: str, params: dict) -> bool:
        m = LINE.match(line)
        if m is None:
            return False
        source, dyno = m[2], m[3]
        if params["source"] and source != params["source"]:
            return False
        want = params["dyno"]
        return not want or dyno == want or fir.dyno_type_of(dyno) == want

    def stream(self, params: dict, out: BinaryIO) -> None:
        """Write the stream (SSE); returns when done or the client is gone."""
        offsets: dict[Path, int] = {}
        recent: list[str] = []
        for path in self._files(params):
            data = path.read_bytes()
            offsets[path] = len(data)
            recent += [ln for ln in data.decode("utf-8", "replace").splitlines()
                       if self._wanted(ln, params)]
        recent.sort(key=lambda ln: ln.split(" ", 1)[0])
        counter = [0]
        if params["lines"]:
            self._send(out, recent[-params["lines"]:], counter)
        if not params["tail"]:
            return
        deadline = time.monotonic() + TAIL_LIMIT
        beat = time.monotonic() + HEARTBEAT
        partial: dict[Path, str] = {}
        while time.monotonic() < deadline:
            fresh: list[str] = []
            for path in self._files(params):
                size = path.stat().st_size
                start = offsets.get(path, 0)
                if size <= start:
                    continue
                with open(path, "rb") as f:
                    f.seek(start)
                    chunk = f.read(size - start)
                offsets[path] = size
                text = partial.pop(path, "") + chunk.decode("utf-8", "replace")
                lines = text.split("\n")
                if lines[-1]:
                    partial[path] = lines[-1]
                fresh += [ln for ln in lines[:-1] if self._wanted(ln, params)]
            if fresh:
                fresh.sort(key=lambda ln: ln.split(" ", 1)[0])
                self._send(out, fresh, counter)
                beat = time.monotonic() + HEARTBEAT
            elif time.monotonic() > beat:
                out.write(b": keep-alive\n\n")
                out.flush()
                beat = time.monotonic() + HEARTBEAT
            time.sleep(0.2)

    @staticmethod
    def _send(out: Any, lines: list[str], counter: list[int]) -> None:
        for line in lines:
            counter[0] += 1
            out.write(f"id: {counter[0]}\ndata: {line}\n\n".encode())
        out.flush()
