"""Faults on demand, for reliability tests.

A rule makes the next ``count`` requests whose method and path match answer
a chosen status (with a Heroku error body), answer after a delay, or drop
the connection. By default the rule answers *instead of* Heroku: the request
never takes effect. With ``after`` the request is handled first and the rule
then replaces (or delays) the answer: the case where the client cannot know
whether its change was made. Rules are set through the admin interface
(``/_sandbox/admin/faults``, see ``admin.py``) and live in memory: a
restart of the sandbox clears them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field


@dataclass
class Fault:
    method: str = "*"           # HTTP method or "*"
    path: str = ".*"            # regular expression, matched against the path
    count: int = 1              # how many matching requests it applies to
    status: int | None = None   # answer this status instead of handling
    error_id: str | None = None
    message: str | None = None
    delay: float = 0.0          # seconds to wait before answering
    drop: bool = False          # close the connection without an answer
    retry_after: int | None = None  # seconds, sent as Retry-After with status
    after: bool = False         # handle the request first, then apply the rule
    hits: int = 0
    _regex: re.Pattern = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP status")
        if self.retry_after is not None and (
                isinstance(self.retry_after, bool)
                or not isinstance(self.retry_after, int) or self.retry_after < 0):
            raise ValueError("retry_after must be a whole number of seconds >= 0")
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())
                and bool(self._regex.search(path)))

    def public(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


class Faults:
    def __init__(self):
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, **spec) -> Fault:
        known = {k for k in Fault.__dataclass_fields__ if not k.startswith("_")} - {"hits"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = Fault(**spec)
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict]:
        with self._lock:
            return [f.public() for f in self._rules]

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching this request, used up by one."""
        with self._lock:
            for fault in self._rules:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.hits >= fault.count:
                        self._rules.remove(fault)
                    return fault
        return None
